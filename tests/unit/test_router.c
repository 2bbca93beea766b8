/*
 * test_router.c - tag matching: wildcards and match_regex.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "router.h"
#include "sluice/banned.h"

static bool wc(const char *pattern, const char *tag)
{
    return sl_router_wildcard(pattern, sl_str_cstr(tag));
}

static void test_wildcards(void **state)
{
    (void)state;
    assert_true(wc("*", "app.checkout"));
    assert_true(wc("*", ""));
    assert_true(wc("app.*", "app.checkout"));
    assert_true(wc("app.*", "app.web.1"));
    assert_false(wc("app.*", "app"));
    assert_false(wc("app.*", "apps.x"));
    assert_true(wc("app.*.err", "app.web.err"));
    assert_true(wc("app.*.err", "app.a.b.err"));
    assert_false(wc("app.*.err", "app.web.errx"));
    assert_true(wc("*.err", "x.err"));
    assert_true(wc("a*b*c", "aXXbYYc"));
    assert_false(wc("a*b*c", "aXXbYY"));
    assert_true(wc("syslog.auth", "syslog.auth"));
    assert_false(wc("syslog.auth", "syslog.authpriv"));
    assert_true(wc("**", "x"));
    /* Pathological pattern stays fast (iterative matcher). */
    assert_false(wc("*a*a*a*a*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"));
}

static void test_matcher_regex(void **state)
{
    struct sl_matcher m;
    struct sl_err err;

    (void)state;
    assert_int_equal(sl_matcher_init(&m, NULL, "app\\.(web|api)", &err), SL_OK);
    assert_true(sl_matcher_match(&m, sl_str_cstr("app.web")));
    assert_true(sl_matcher_match(&m, sl_str_cstr("app.api")));
    /* Anchored at both ends. */
    assert_false(sl_matcher_match(&m, sl_str_cstr("app.webx")));
    assert_false(sl_matcher_match(&m, sl_str_cstr("xapp.web")));
    sl_matcher_fini(&m);

    assert_int_equal(sl_matcher_init(&m, "audit.*", "app\\..*", &err), SL_OK);
    assert_true(sl_matcher_match(&m, sl_str_cstr("audit.x")));
    assert_true(sl_matcher_match(&m, sl_str_cstr("app.x")));
    assert_false(sl_matcher_match(&m, sl_str_cstr("other")));
    sl_matcher_fini(&m);

    assert_int_equal(sl_matcher_init(&m, NULL, "app(", &err), SL_EINVAL);
    assert_non_null(strstr(err.msg, "match_regex"));
}

static void test_matcher_none(void **state)
{
    struct sl_matcher m;
    struct sl_err err;

    (void)state;
    assert_int_equal(sl_matcher_init(&m, NULL, NULL, &err), SL_OK);
    assert_false(sl_matcher_match(&m, sl_str_cstr("x")));
    sl_matcher_fini(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_wildcards),
        cmocka_unit_test(test_matcher_regex),
        cmocka_unit_test(test_matcher_none),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
