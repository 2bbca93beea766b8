/*
 * test_rule.c - conditions on a record field for filters (sluice/rule.h):
 * splitting entries, compiling accessors, values and patterns (with their
 * error messages), and testing rules against records.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "sluice/arena.h"
#include "sluice/mem.h"
#include "sluice/rule.h"
#include "sluice/banned.h"

static const char *const record =
    "{\"level\":\"warn\",\"code\":503,\"ok\":false,\"none\":null,"
    "\"obj\":{\"a b\":\"x y\"},\"arr\":[1,2]}";

static void split_is(const char *s, const char *word, const char *rest)
{
    struct sl_str w;
    struct sl_str r;

    sl_rule_split(s, &w, &r);
    assert_true(sl_str_eq_cstr(w, word));
    assert_true(sl_str_eq_cstr(r, rest));
    /* <rest> always runs to the end of <s>. */
    assert_ptr_equal(r.ptr + r.len, s + strlen(s));
}

static void test_rule_split(void **state)
{
    (void)state;
    split_is("level ^warn$", "level", "^warn$");
    split_is(" \tlevel \t a  b ", "level", "a  b ");
    split_is("$obj['a b'] x y", "$obj['a b']", "x y");
    split_is("$obj[\"a b\"]\tx", "$obj[\"a b\"]", "x");
    split_is("'unterminated a b", "'unterminated a b", "");
    split_is("lonely", "lonely", "");
    split_is("   ", "", "");
    split_is("", "", "");
}

static void test_rule_accessor(void **state)
{
    struct sl_accessor acc;
    struct sl_err err;

    (void)state;
    /* Only <text>'s bytes are compiled, not the rest of the entry. */
    assert_int_equal(sl_rule_accessor(&acc, sl_str_make("$obj['a b'] rest", 11),
                                      "test", &err),
                     SL_OK);
    assert_int_equal(acc.n, 2);
    assert_true(sl_str_eq_cstr(acc.steps[1].key, "a b"));
    sl_accessor_fini(&acc);
    assert_int_not_equal(
        sl_rule_accessor(&acc, sl_str_cstr("$obj['a"), "test", &err), SL_OK);
    sl_mem_fail_after(0);
    assert_int_equal(sl_rule_accessor(&acc, sl_str_cstr("k"), "test", &err),
                     SL_ENOMEM);
    sl_mem_fail_after(-1);
    assert_string_equal(err.msg, "test: out of memory");
}

static void test_rule_regex(void **state)
{
    pcre2_code *re = NULL;
    struct sl_err err;

    (void)state;
    assert_int_equal(sl_rule_regex(&re, sl_str_cstr("^a+$"), &err, "unused"),
                     SL_OK);
    assert_non_null(re);
    pcre2_code_free(re);
    assert_int_equal(sl_rule_regex(&re, sl_str_cstr("a(b"), &err,
                                   "grep: invalid regex '%s' in '%s'", "a(b",
                                   "regex"),
                     SL_ECONFIG);
    assert_null(re);
    assert_string_equal(err.msg, "grep: invalid regex 'a(b' in 'regex' at "
                                 "offset 3: missing closing parenthesis");
}

static void test_rule_compile_errors(void **state)
{
    const struct sl_rule_src src = { .who = "modify",
                                     .entry = "key_value_matches code (" };
    struct sl_rule r = { 0 };
    struct sl_err err;

    (void)state;
    assert_int_equal(sl_rule_compile(&r, SL_RULE_MATCHES, sl_str_cstr("code"),
                                     sl_str_cstr("("), &src, &err),
                     SL_ECONFIG);
    assert_string_equal(err.msg, "modify: invalid regex in 'key_value_matches "
                                 "code (' at offset 1: missing closing "
                                 "parenthesis");
    sl_rule_fini(&r);
    assert_int_not_equal(sl_rule_compile(&r, SL_RULE_EXISTS,
                                         sl_str_cstr("$a[x"), SL_STR_NULL, &src,
                                         &err),
                         SL_OK);
    sl_rule_fini(&r);
    sl_rule_fini(&r);
    /* The value is copied: OOM there is reported with the plugin name. */
    assert_int_equal(sl_rule_accessor(&r.key, sl_str_cstr("k"), "x", &err),
                     SL_OK);
    sl_mem_fail_after(0);
    assert_int_equal(
        sl_rule_arg(&r, SL_RULE_EQUALS, sl_str_cstr("v"), &src, &err),
        SL_ENOMEM);
    sl_mem_fail_after(-1);
    assert_string_equal(err.msg, "modify: out of memory");
    sl_rule_fini(&r);
    assert_null(r.key.text);
    assert_null(r.value);
    assert_null(r.re);
}

static void test_rule_free_array(void **state)
{
    const struct sl_rule_src src = { .who = "grep", .entry = "a (" };
    struct sl_rule *rules = sl_calloc(3, sizeof(*rules));
    struct sl_err err;

    (void)state;
    assert_non_null(rules);
    assert_int_equal(sl_rule_compile(&rules[0], SL_RULE_MATCHES,
                                     sl_str_cstr("a"), sl_str_cstr("x"), &src,
                                     &err),
                     SL_OK);
    /* A rule that failed half way is freed with the others. */
    assert_int_equal(sl_rule_compile(&rules[1], SL_RULE_MATCHES,
                                     sl_str_cstr("a"), sl_str_cstr("("), &src,
                                     &err),
                     SL_ECONFIG);
    assert_non_null(rules[1].key.text);
    sl_rule_free_array(rules, 2);
    sl_rule_free_array(NULL, 0);
}

/* Compiles "KEY ARG" as <op> and tests it against <record>. */
static bool holds(enum sl_rule_op op, const char *entry)
{
    const struct sl_rule_src src = { .who = "test", .entry = entry };
    struct sl_rule_scratch s;
    struct sl_rule r = { 0 };
    struct sl_arena arena;
    struct sl_json *dom = NULL;
    struct sl_str key;
    struct sl_str arg;
    struct sl_err err;
    bool ok;

    sl_arena_init(&arena, 0, 0);
    assert_int_equal(sl_json_parse(&arena, record, strlen(record), &dom, &err),
                     SL_OK);
    assert_int_equal(sl_rule_scratch_init(&s), SL_OK);
    sl_rule_split(entry, &key, &arg);
    assert_int_equal(sl_rule_compile(&r, op, key, arg, &src, &err), SL_OK);
    assert_int_equal(r.op, op);
    ok = sl_rule_holds(&r, dom, &s);
    sl_rule_fini(&r);
    sl_rule_scratch_fini(&s);
    sl_arena_fini(&arena);
    return ok;
}

static void test_rule_holds(void **state)
{
    (void)state;
    assert_true(holds(SL_RULE_EXISTS, "level"));
    assert_true(holds(SL_RULE_EXISTS, "none"));
    assert_false(holds(SL_RULE_EXISTS, "missing"));
    assert_true(holds(SL_RULE_ABSENT, "missing"));
    assert_false(holds(SL_RULE_ABSENT, "$obj['a b']"));
    assert_true(holds(SL_RULE_EQUALS, "level warn"));
    assert_false(holds(SL_RULE_EQUALS, "level war"));
    assert_true(holds(SL_RULE_EQUALS, "code 503"));
    assert_true(holds(SL_RULE_EQUALS, "ok false"));
    assert_true(holds(SL_RULE_EQUALS, "none null"));
    assert_true(holds(SL_RULE_EQUALS, "$obj['a b'] x y"));
    assert_false(holds(SL_RULE_EQUALS, "missing x"));
    assert_true(holds(SL_RULE_DIFFERS, "level error"));
    assert_false(holds(SL_RULE_DIFFERS, "level warn"));
    /* A missing key is not "different": every value test is false. */
    assert_false(holds(SL_RULE_DIFFERS, "missing x"));
    assert_true(holds(SL_RULE_MATCHES, "level ^w"));
    assert_true(holds(SL_RULE_MATCHES, "code ^5\\d\\d$"));
    assert_false(holds(SL_RULE_MATCHES, "code ^4"));
    assert_false(holds(SL_RULE_MATCHES, "missing .*"));
    /* Objects and arrays match against their serialization. */
    assert_true(holds(SL_RULE_MATCHES, "arr ^\\[1,2\\]$"));
    assert_true(holds(SL_RULE_MATCHES, "$arr[1] ^2$"));
}

static void test_rule_match_and_scratch(void **state)
{
    struct sl_rule_scratch s;
    pcre2_code *re = NULL;
    struct sl_err err;

    (void)state;
    assert_int_equal(sl_rule_scratch_init(&s), SL_OK);
    assert_int_equal(sl_rule_regex(&re, sl_str_cstr("^$"), &err, "x"), SL_OK);
    assert_true(sl_rule_match(&s, re, SL_STR_NULL));
    assert_false(sl_rule_match(&s, re, sl_str_cstr("a")));
    /* Invalid UTF-8 in a subject does not match and does not fail. */
    pcre2_code_free(re);
    assert_int_equal(sl_rule_regex(&re, sl_str_cstr("b"), &err, "x"), SL_OK);
    assert_true(sl_rule_match(&s, re,
                              sl_str_make("\xff"
                                          "b",
                                          2)));
    pcre2_code_free(re);
    sl_rule_scratch_fini(&s);
    sl_rule_scratch_fini(&s); /* a second fini is harmless */
    assert_null(s.md);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rule_split),
        cmocka_unit_test(test_rule_accessor),
        cmocka_unit_test(test_rule_regex),
        cmocka_unit_test(test_rule_compile_errors),
        cmocka_unit_test(test_rule_free_array),
        cmocka_unit_test(test_rule_holds),
        cmocka_unit_test(test_rule_match_and_scratch),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
