/*
 * test_timeutil.c - clocks, RFC 3339 output and sl_time_parse formats
 * (Apache/nginx, RFC 3339 with fractions and offsets, epoch variants).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <locale.h>
#include <string.h>
#include <time.h>

#include "sluice/timeutil.h"
#include "sluice/banned.h"

/* 2026-11-21T06:51:00Z */
#define T0 INT64_C(1795243860)

static int64_t parse_ok(const char *text, const char *fmt)
{
    int64_t ns = -42;
    int rc = sl_time_parse(sl_str_cstr(text), fmt, &ns);

    if (rc != SL_OK) {
        fail_msg("'%s' with '%s' did not parse", text, fmt ? fmt : "(auto)");
    }
    return ns;
}

static void parse_bad(const char *text, const char *fmt)
{
    int64_t ns = 7;

    if (sl_time_parse(sl_str_cstr(text), fmt, &ns) != SL_EPARSE) {
        fail_msg("'%s' with '%s' parsed", text, fmt ? fmt : "(auto)");
    }
    assert_int_equal(ns, 7); /* untouched on failure */
}

static void test_format_rfc3339(void **state)
{
    char out[64];
    int64_t ns = T0 * SL_NS_PER_S + 123456789;

    (void)state;
    assert_int_equal(sl_time_format_rfc3339(ns, 0, out, sizeof(out)), 20);
    assert_string_equal(out, "2026-11-21T06:51:00Z");
    sl_time_format_rfc3339(ns, 3, out, sizeof(out));
    assert_string_equal(out, "2026-11-21T06:51:00.123Z");
    sl_time_format_rfc3339(ns, 6, out, sizeof(out));
    assert_string_equal(out, "2026-11-21T06:51:00.123456Z");
    sl_time_format_rfc3339(ns, 9, out, sizeof(out));
    assert_string_equal(out, "2026-11-21T06:51:00.123456789Z");
    /* Before the epoch: the fraction counts forward from the second. */
    sl_time_format_rfc3339(-1, 9, out, sizeof(out));
    assert_string_equal(out, "1969-12-31T23:59:59.999999999Z");
    sl_time_format_rfc3339(0, 3, out, sizeof(out));
    assert_string_equal(out, "1970-01-01T00:00:00.000Z");
    assert_int_equal(sl_time_format_rfc3339(ns, 9, out, 20), 0);
    assert_int_equal(sl_time_format_rfc3339(ns, 10, out, sizeof(out)), 0);
}

static void test_clocks(void **state)
{
    int64_t a = sl_time_mono_ns(), b = sl_time_mono_ns();

    (void)state;
    assert_true(b >= a);
    /* After 2020-01-01 and before 2100. */
    assert_true(sl_time_now_ns() > INT64_C(1577836800) * SL_NS_PER_S);
    assert_true(sl_time_now_ns() < INT64_C(4102444800) * SL_NS_PER_S);
}

static void test_rfc3339_auto(void **state)
{
    const int64_t s = T0 * SL_NS_PER_S;

    (void)state;
    assert_int_equal(parse_ok("2026-11-21T06:51:00Z", NULL), s);
    assert_int_equal(parse_ok("2026-11-21T06:51:00z", ""), s);
    assert_int_equal(parse_ok("2026-11-21T06:51:00", NULL), s);
    assert_int_equal(parse_ok("2026-11-21 06:51:00", NULL), s);
    assert_int_equal(parse_ok("2026-11-21T06:51:00.123Z", NULL), s + 123000000);
    assert_int_equal(parse_ok("2026-11-21T06:51:00.123456789Z", NULL),
                     s + 123456789);
    assert_int_equal(parse_ok("2026-11-21T06:51:00.1234567891Z", NULL),
                     s + 123456789);
    assert_int_equal(parse_ok("2026-11-21T07:51:00+01:00", NULL), s);
    assert_int_equal(parse_ok("2026-11-21T07:51:00.5+0100", NULL),
                     s + 500000000);
    assert_int_equal(parse_ok("2026-11-21T01:21:00-05:30", NULL), s);
    assert_int_equal(parse_ok("2026-11-21 07:51:00 +0100", NULL), s);
    assert_int_equal(parse_ok("2026-11-21T06:51Z", NULL), s);
    assert_int_equal(parse_ok("2026-11-21", NULL),
                     (T0 - 6 * 3600 - 51 * 60) * SL_NS_PER_S);
    assert_int_equal(parse_ok("2024-02-29T12:00:00Z", NULL),
                     INT64_C(1709208000) * SL_NS_PER_S);
}

static void test_epoch_auto(void **state)
{
    (void)state;
    assert_int_equal(parse_ok("1795243860", NULL), T0 * SL_NS_PER_S);
    assert_int_equal(parse_ok("1795243860.25", NULL),
                     T0 * SL_NS_PER_S + 250000000);
    assert_int_equal(parse_ok("1795243860123", NULL),
                     T0 * SL_NS_PER_S + 123000000);
    assert_int_equal(parse_ok("1795243860123.5", NULL),
                     T0 * SL_NS_PER_S + 123500000);
    assert_int_equal(parse_ok("1795243860123456", NULL),
                     T0 * SL_NS_PER_S + 123456000);
    assert_int_equal(parse_ok("1795243860123456789", NULL),
                     T0 * SL_NS_PER_S + 123456789);
    assert_int_equal(parse_ok("0", NULL), 0);
    assert_int_equal(parse_ok("-1.5", NULL), -1500000000);
    parse_bad("99999999999999999999", NULL); /* does not fit */
    parse_bad("12a", NULL);
    parse_bad("1.", NULL);
}

static void test_apache_nginx(void **state)
{
    const char *fmt = "%d/%b/%Y:%H:%M:%S %z";

    (void)state;
    assert_int_equal(parse_ok("21/Nov/2026:07:51:00 +0100", fmt),
                     T0 * SL_NS_PER_S);
    assert_int_equal(parse_ok("21/nov/2026:06:51:00 +0000", fmt),
                     T0 * SL_NS_PER_S);
    assert_int_equal(parse_ok("21/November/2026:06:51:00 -00:00", fmt),
                     T0 * SL_NS_PER_S);
    parse_bad("21/Nox/2026:06:51:00 +0000", fmt);
    parse_bad("21/Nov/2026:06:51:00", fmt);
    /* The locale never changes month names. */
    setlocale(LC_ALL, "");
    assert_int_equal(parse_ok("21/Nov/2026:06:51:00 +0000", fmt),
                     T0 * SL_NS_PER_S);
    setlocale(LC_ALL, "C");
}

static void test_formats(void **state)
{
    const int64_t s = T0 * SL_NS_PER_S;

    (void)state;
    assert_int_equal(
        parse_ok("2026-11-21 06:51:00.042", "%Y-%m-%d %H:%M:%S.%L"),
        s + 42000000);
    assert_int_equal(parse_ok("2026-11-21 06:51:00,042", "%Y-%m-%d %H:%M:%S"),
                     s + 42000000);
    assert_int_equal(parse_ok("2026-11-21T06:51:00.000001Z", "%FT%T%z"),
                     s + 1000);
    assert_int_equal(parse_ok("1795243860", "%s"), s);
    assert_int_equal(parse_ok("1795243860.123456", "%s"), s + 123456000);
    assert_int_equal(parse_ok("Sat Nov 21 06:51:00 2026", "%a %b %e %T %Y"), s);
    assert_int_equal(parse_ok("Nov  1 06:51:00 2026", "%b %e %H:%M:%S %Y"),
                     INT64_C(1793515860) * SL_NS_PER_S);
    assert_int_equal(parse_ok("11/21/26 06:51:00 AM", "%D %I:%M:%S %p"), s);
    assert_int_equal(parse_ok("11/21/26 6:51:00 PM", "%D %I:%M:%S %p"),
                     s + 12 * 3600 * SL_NS_PER_S);
    assert_int_equal(parse_ok("2026 325 06:51:00 UTC", "%Y %j %T %Z"), s);
    assert_int_equal(parse_ok("20261121065100", "%Y%m%d%H%M%S"), s);
    assert_int_equal(parse_ok("100% 2026-11-21", "100%% %F"),
                     (T0 - 6 * 3600 - 51 * 60) * SL_NS_PER_S);
}

static void test_errors(void **state)
{
    int64_t ns = 0;

    (void)state;
    parse_bad("", NULL);
    parse_bad("yesterday", NULL);
    parse_bad("2026-13-01T00:00:00Z", NULL);
    parse_bad("2026-11-21T25:00:00Z", NULL);
    parse_bad("2026-11-21T06:51:00Zjunk", NULL);
    parse_bad("2026-11-21T06:51:00+1", NULL);
    parse_bad("2026-11-21", "%Y-%m-%d %H");
    parse_bad("2026-11-21", "%Q");
    parse_bad("2026-11-21", "%");
    parse_bad("-", "%s");
    parse_bad("1795243860x", "%s");
    assert_int_equal(sl_time_parse(SL_STR_NULL, NULL, &ns), SL_EPARSE);
    /* Only a prefix of the text is no match. */
    assert_int_equal(
        sl_time_parse(sl_str_make("2026-11-21T06:51:00Z", 19), NULL, &ns),
        SL_OK);
    assert_int_equal(ns, T0 * SL_NS_PER_S);
}

/* sl_time_civil_s replaces timegm on the hot path: same answers over the
 * whole int64-ns range, including days and hours past their range. */
static void test_civil_matches_timegm(void **state)
{
    int y, m, d;

    (void)state;
    for (y = 1678; y <= 2261; y += 3) {
        for (m = 1; m <= 12; m++) {
            for (d = 1; d <= 33; d += 4) {
                struct tm tm = { 0 };

                tm.tm_year = y - 1900;
                tm.tm_mon = m - 1;
                tm.tm_mday = d;
                tm.tm_hour = 23;
                tm.tm_min = 59;
                tm.tm_sec = 58;
                assert_int_equal(sl_time_civil_s(y, m, d, 23, 59, 58),
                                 (int64_t)timegm(&tm));
            }
        }
    }
    assert_int_equal(sl_time_civil_s(1970, 1, 1, 0, 0, 0), 0);
    assert_int_equal(sl_time_civil_s(2026, 1, 326, 6, 51, 0),
                     sl_time_civil_s(2026, 11, 22, 6, 51, 0));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_civil_matches_timegm),
        cmocka_unit_test(test_format_rfc3339),
        cmocka_unit_test(test_clocks),
        cmocka_unit_test(test_rfc3339_auto),
        cmocka_unit_test(test_epoch_auto),
        cmocka_unit_test(test_apache_nginx),
        cmocka_unit_test(test_formats),
        cmocka_unit_test(test_errors),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
