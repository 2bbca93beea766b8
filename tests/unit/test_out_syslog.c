/*
 * test_out_syslog.c - formatting of the syslog output (issue 6): headers,
 * severity and facility names, structured data escaping, message_key,
 * framing and truncation, through standalone instances of the plugin.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "plugin.h"
#include "sluice/plugin.h"
#include "sluice/banned.h"

extern const struct sl_plugin sl_plugin_out_syslog;

int sl_out_syslog_format(struct sl_instance *ins, int64_t ts_ns,
                         struct sl_str body, struct sl_buf *out,
                         bool *truncated);

/* 2026-11-21T04:40:00.003000Z */
#define TS_NS (INT64_C(1795236000) * SL_NS_PER_S + 3 * SL_NS_PER_MS)

static struct sl_instance *make(const char *yaml)
{
    struct sl_errlist errs;
    struct sl_instance *ins;

    sl_errlist_init(&errs);
    ins = sl_instance_create_standalone(&sl_plugin_out_syslog, yaml, &errs);
    if (ins == NULL && errs.n > 0) {
        fprintf(stderr, "config error: %s\n", errs.items[0].msg);
    }
    return ins;
}

/* Formats <body> with <yaml> and checks the bytes against <want>. */
static void check(const char *yaml, const char *body, const char *want,
                  bool want_trunc)
{
    struct sl_instance *ins = make(yaml);
    struct sl_buf out;
    bool trunc = !want_trunc;

    assert_non_null(ins);
    sl_buf_init(&out, 0);
    assert_int_equal(sl_out_syslog_format(ins, TS_NS, sl_str_cstr(body),
                                          &out, &trunc),
                     SL_OK);
    assert_string_equal(out.data, want);
    assert_int_equal(trunc, want_trunc);
    sl_buf_fini(&out);
    sl_instance_destroy(ins);
}

static void test_5424_fields(void **state)
{
    (void)state;
    check("{hostname_key: host, appname_key: app, procid_key: pid, "
          "msgid_key: id, message_key: msg, severity_key: level, "
          "facility_preset: local0}",
          "{\"host\":\"web01\",\"app\":\"api\",\"pid\":42,\"id\":\"EVT1\","
          "\"level\":\"WARNING\",\"msg\":\"hello \\\"world\\\"\"}",
          "68 <132>1 2026-11-21T04:40:00.003000Z web01 api 42 EVT1 - "
          "hello \"world\"",
          false);
}

static void test_5424_whole_record(void **state)
{
    (void)state;
    check("{mode: udp, hostname_key: h}", "{\"h\":\"x\",\"a\":1}",
          "<14>1 2026-11-21T04:40:00.003000Z x - - - - {\"h\":\"x\",\"a\":1}",
          false);
}

static void test_sd_escaping(void **state)
{
    (void)state;
    /* RFC 5424 6.3.3: exactly '"', '\' and ']' are escaped. */
    check("{mode: udp, hostname_key: h, sd_keys: ['meta@32473', 'x@1'], "
          "message_key: m}",
          "{\"h\":\"vm\",\"meta@32473\":{\"req\":\"a\\\"b]c\\\\d\","
          "\"n\":5},\"x@1\":{\"bad key=\":\"[ok]\"},\"m\":\"hi\"}",
          "<14>1 2026-11-21T04:40:00.003000Z vm - - - "
          "[meta@32473 req=\"a\\\"b\\]c\\\\d\" n=\"5\"]"
          "[x@1 bad_key_=\"[ok\\]\"] hi",
          false);
}

static void test_sd_absent_or_not_object(void **state)
{
    (void)state;
    check("{mode: udp, hostname_key: h, sd_keys: [s], message_key: m}",
          "{\"h\":\"vm\",\"s\":\"str\",\"m\":\"x\"}",
          "<14>1 2026-11-21T04:40:00.003000Z vm - - - - x", false);
}

static void test_severity_names(void **state)
{
    static const struct {
        const char *level;
        int pri;
    } cases[] = {
        { "emerg", 8 },  { "panic", 8 },   { "alert", 9 },  { "CRIT", 10 },
        { "fatal", 10 }, { "error", 11 },  { "err", 11 },   { "warn", 12 },
        { "Warning", 12 }, { "notice", 13 }, { "info", 14 }, { "debug", 15 },
        { "trace", 15 }, { "3", 11 },      { "bogus", 14 }, { "9", 14 },
    };
    char body[128], want[160];
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        snprintf(body, sizeof(body),
                 "{\"l\":\"%s\",\"m\":\"x\",\"hh\":\"h\"}",
                 cases[i].level);
        snprintf(want, sizeof(want),
                 "<%d>1 2026-11-21T04:40:00.003000Z h - - - - x",
                 cases[i].pri);
        check("{mode: udp, severity_key: l, message_key: m, "
              "hostname_key: hh, facility_key: f}",
              body, want, false);
    }
}

static void test_facility_names(void **state)
{
    (void)state;
    check("{mode: udp, facility_key: f, severity_key: s, message_key: m, "
          "hostname_key: hh}",
          "{\"f\":\"local7\",\"s\":7,\"m\":\"x\",\"hh\":\"h\"}",
          "<191>1 2026-11-21T04:40:00.003000Z h - - - - x", false);
    check("{mode: udp, facility_key: f, message_key: m, hostname_key: hh, "
          "severity_preset: crit, facility_preset: auth}",
          "{\"f\":\"nonsense\",\"m\":\"x\",\"hh\":\"h\"}",
          "<34>1 2026-11-21T04:40:00.003000Z h - - - - x", false);
}

static void test_header_sanitized(void **state)
{
    (void)state;
    /* Spaces and non-ASCII in header fields become '_'; empty is '-'. */
    check("{mode: udp, hostname_key: h, appname_key: a, msgid_key: i, "
          "message_key: m}",
          "{\"h\":\"my host\",\"a\":\"\",\"i\":\"\xc3\xa9\",\"m\":\"x\"}",
          "<14>1 2026-11-21T04:40:00.003000Z my_host - - __ - x", false);
}

static void test_3164(void **state)
{
    (void)state;
    check("{syslog_format: rfc3164, framing: lf, hostname_key: h, "
          "appname_key: a, procid_key: p, message_key: m, "
          "severity_key: s, facility_preset: daemon}",
          "{\"h\":\"web01\",\"a\":\"su\",\"p\":7,\"s\":\"info\","
          "\"m\":\"line one\\nline two\"}",
          "<30>Nov 21 04:40:00 web01 su[7]: line one line two\n", false);
    check("{mode: udp, syslog_format: rfc3164, hostname_key: h, "
          "message_key: m}",
          "{\"h\":\"web01\",\"m\":\"x\"}",
          "<14>Nov 21 04:40:00 web01 sluice: x", false);
}

static void test_octet_keeps_newlines(void **state)
{
    (void)state;
    check("{hostname_key: h, message_key: m}",
          "{\"h\":\"h\",\"m\":\"a\\nb\"}",
          "47 <14>1 2026-11-21T04:40:00.003000Z h - - - - a\nb", false);
}

static void test_truncation_utf8(void **state)
{
    struct sl_instance *ins = make("{mode: udp, max_size: 64, "
                                   "hostname_key: h, message_key: m}");
    struct sl_buf out;
    char body[512];
    bool trunc = false;
    size_t i, n;

    (void)state;
    assert_non_null(ins);
    /* 60 two-byte characters: the cut must not split one. */
    n = (size_t)snprintf(body, sizeof(body), "{\"h\":\"h\",\"m\":\"");
    for (i = 0; i < 60; i++) {
        memcpy(body + n, "\xc3\xa9", 2);
        n += 2;
    }
    memcpy(body + n, "\"}", 3);
    sl_buf_init(&out, 0);
    assert_int_equal(sl_out_syslog_format(ins, TS_NS, sl_str_cstr(body),
                                          &out, &trunc),
                     SL_OK);
    assert_true(trunc);
    assert_true(out.len <= 64);
    assert_true(out.len >= 62);
    assert_memory_equal(out.data + out.len - 3, "...", 3);
    /* Header (44 bytes) then whole characters only. */
    assert_int_equal((out.len - 3 - 44) % 2, 0);
    assert_memory_equal(out.data + 44, "\xc3\xa9", 2);
    sl_buf_fini(&out);
    sl_instance_destroy(ins);
}

static void test_bad_config(void **state)
{
    struct sl_errlist errs;

    (void)state;
    sl_errlist_init(&errs);
    assert_null(sl_instance_create_standalone(
        &sl_plugin_out_syslog, "{severity_preset: loud}", &errs));
    sl_errlist_init(&errs);
    assert_null(sl_instance_create_standalone(
        &sl_plugin_out_syslog, "{mode: udp, max_size: 100000}", &errs));
    sl_errlist_init(&errs);
    assert_null(sl_instance_create_standalone(&sl_plugin_out_syslog,
                                              "{framing: crlf}", &errs));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_5424_fields),
        cmocka_unit_test(test_5424_whole_record),
        cmocka_unit_test(test_sd_escaping),
        cmocka_unit_test(test_sd_absent_or_not_object),
        cmocka_unit_test(test_severity_names),
        cmocka_unit_test(test_facility_names),
        cmocka_unit_test(test_header_sanitized),
        cmocka_unit_test(test_3164),
        cmocka_unit_test(test_octet_keeps_newlines),
        cmocka_unit_test(test_truncation_utf8),
        cmocka_unit_test(test_bad_config),
    };

    setenv("TZ", "UTC", 1);
    tzset();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
