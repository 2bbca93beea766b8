/*
 * test_parsers.c - the json, regex and logfmt parsers through standalone
 * instances: every option, time handling, failures and init errors.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "plugin.h"
#include "sluice/banned.h"

extern const struct sl_plugin sl_plugin_parser_json;
extern const struct sl_plugin sl_plugin_parser_regex;
extern const struct sl_plugin sl_plugin_parser_logfmt;

/* 2026-11-21T06:51:00Z */
#define T0_NS (INT64_C(1795243860) * SL_NS_PER_S)

static struct sl_buf scratch;

static struct sl_instance *make(const struct sl_plugin *p, const char *yaml)
{
    struct sl_errlist errs;
    struct sl_instance *ins;
    char msg[600];

    sl_errlist_init(&errs);
    ins = sl_instance_create_standalone(p, yaml, &errs);
    if (ins == NULL) {
        sl_err_format(&errs.items[0], msg, sizeof(msg));
        fail_msg("cannot create %s with %s: %s", p->name, yaml, msg);
    }
    return ins;
}

/* Returns the first init error message for <yaml>, or "" when it worked. */
static const char *make_error(const struct sl_plugin *p, const char *yaml)
{
    static char msg[600];
    struct sl_errlist errs;
    struct sl_instance *ins;

    sl_errlist_init(&errs);
    ins = sl_instance_create_standalone(p, yaml, &errs);
    if (ins != NULL) {
        sl_instance_destroy(ins);
        return "";
    }
    assert_true(errs.n > 0);
    sl_err_format(&errs.items[0], msg, sizeof(msg));
    return msg;
}

/* Parses <line>; returns the body as a NUL-terminated string (static). */
static const char *parse(struct sl_instance *ins, const char *line, int64_t *ts)
{
    static char body[4096];
    struct sl_parse_result res = { .scratch = &scratch };
    int rc;

    rc = sl_instance_parse(ins, line, strlen(line), &res);
    if (rc != SL_OK) {
        return NULL;
    }
    assert_true(res.body.len < sizeof(body));
    memcpy(body, res.body.ptr, res.body.len);
    body[res.body.len] = '\0';
    if (ts != NULL) {
        *ts = res.ts_ns;
    }
    return body;
}

static int setup(void **state)
{
    (void)state;
    sl_buf_init(&scratch, 0);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    sl_buf_fini(&scratch);
    return 0;
}

static void test_descriptors(void **state)
{
    (void)state;
    assert_string_equal(sl_plugin_parser_json.name, "json");
    assert_string_equal(sl_plugin_parser_regex.name, "regex");
    assert_string_equal(sl_plugin_parser_logfmt.name, "logfmt");
    assert_int_equal(sl_plugin_parser_json.kind, SL_PLUGIN_PARSER);
    assert_int_equal(sl_plugin_parser_regex.kind, SL_PLUGIN_PARSER);
    assert_int_equal(sl_plugin_parser_logfmt.kind, SL_PLUGIN_PARSER);
    assert_ptr_equal(sl_plugin_find(SL_PLUGIN_PARSER, "logfmt"),
                     &sl_plugin_parser_logfmt);
}

static void test_json_passthrough(void **state)
{
    struct sl_instance *ins = make(&sl_plugin_parser_json, NULL);
    struct sl_parse_result res = { .scratch = &scratch };
    const char *line = "{\"a\" :  1,\"b\":[1 , 2]}";

    (void)state;
    assert_int_equal(sl_instance_parse(ins, line, strlen(line), &res), SL_OK);
    /* Zero copy: the body is the input itself. */
    assert_ptr_equal(res.body.ptr, line);
    assert_int_equal(res.body.len, strlen(line));
    assert_int_equal(res.ts_ns, 0);
    assert_string_equal(parse(ins, "{\n  \"a\": 1,\n  \"b\": \"x\"\n}", NULL),
                        "{\"a\":1,\"b\":\"x\"}");
    assert_null(parse(ins, "[1,2]", NULL));
    assert_null(parse(ins, "\"text\"", NULL));
    assert_null(parse(ins, "{\"a\":", NULL));
    assert_null(parse(ins, "plain text", NULL));
    assert_null(parse(ins, "{\"s\":\"\xff\"}", NULL));
    sl_instance_destroy(ins);
}

static void test_json_time(void **state)
{
    struct sl_instance *ins = make(&sl_plugin_parser_json, "{time_key: ts}");
    int64_t ts = -1;

    (void)state;
    assert_string_equal(parse(ins,
                              "{\"ts\":\"2026-11-21T06:51:00.5Z\","
                              "\"msg\":\"hi\"}",
                              &ts),
                        "{\"msg\":\"hi\"}");
    assert_int_equal(ts, T0_NS + 500000000);
    assert_string_equal(parse(ins, "{\"a\":1,\"ts\":1795243860}", &ts),
                        "{\"a\":1}");
    assert_int_equal(ts, T0_NS);
    assert_string_equal(
        parse(ins, "{\"a\":1,\"ts\":1795243860123,\"b\":2}", &ts),
        "{\"a\":1,\"b\":2}");
    assert_int_equal(ts, T0_NS + 123000000);
    /* Escaped time strings are unescaped before parsing. */
    assert_string_equal(
        parse(ins, "{\"ts\":\"2026-11-21T06:51:00\\u005a\"}", &ts), "{}");
    assert_int_equal(ts, T0_NS);
    /* Missing or unparseable: the key stays and ts is 0. */
    assert_string_equal(parse(ins, "{\"ts\":\"soon\",\"a\":1}", &ts),
                        "{\"ts\":\"soon\",\"a\":1}");
    assert_int_equal(ts, 0);
    assert_string_equal(parse(ins, "{\"ts\":true}", &ts), "{\"ts\":true}");
    assert_string_equal(parse(ins, "{\"a\":{\"ts\":1}}", &ts),
                        "{\"a\":{\"ts\":1}}");
    assert_int_equal(ts, 0);
    /* Multi-line objects lose the key through the DOM. */
    assert_string_equal(parse(ins,
                              "{\n\"ts\": \"2026-11-21T06:51:00Z\",\n"
                              "\"a\": [1]\n}",
                              &ts),
                        "{\"a\":[1]}");
    assert_int_equal(ts, T0_NS);
    sl_instance_destroy(ins);
}

static void test_json_time_keep_format(void **state)
{
    struct sl_instance *ins =
        make(&sl_plugin_parser_json, "{time_key: t, time_keep: on, "
                                     "time_format: '%d/%b/%Y:%H:%M:%S %z'}");
    const char *line = "{\"t\":\"21/Nov/2026:07:51:00 +0100\",\"x\":1}";
    struct sl_parse_result res = { .scratch = &scratch };

    (void)state;
    assert_int_equal(sl_instance_parse(ins, line, strlen(line), &res), SL_OK);
    assert_ptr_equal(res.body.ptr, line);
    assert_int_equal(res.ts_ns, T0_NS);
    assert_string_equal(
        parse(ins, "{\n\"t\":\"21/Nov/2026:07:51:00 +0100\"}", NULL),
        "{\"t\":\"21/Nov/2026:07:51:00 +0100\"}");
    sl_instance_destroy(ins);
}

static void test_regex_basic(void **state)
{
    struct sl_instance *ins;
    int64_t ts = -1;

    (void)state;
    ins = make(&sl_plugin_parser_regex,
               "{regex: '^(?<host>\\S+) \\S+ (?<user>\\S+) "
               "\\[(?<time>[^\\]]+)\\] \"(?<method>\\S+) (?<path>\\S+)"
               "(?: (?<proto>HTTP/[0-9.]+))?\" (?<code>\\d+) (?<size>\\S+)$',"
               " time_key: time, time_format: '%d/%b/%Y:%H:%M:%S %z',"
               " types: [code:integer, size:integer]}");
    assert_string_equal(
        parse(ins,
              "10.0.0.1 - bob [21/Nov/2026:07:51:00 +0100] "
              "\"GET /a\\\"b HTTP/1.1\" 200 512",
              &ts),
        "{\"host\":\"10.0.0.1\",\"user\":\"bob\",\"method\":\"GET\","
        "\"path\":\"/a\\\\\\\"b\",\"proto\":\"HTTP/1.1\",\"code\":200,"
        "\"size\":512}");
    assert_int_equal(ts, T0_NS);
    /* Unset optional groups are left out; "-" stays a string. */
    assert_string_equal(
        parse(ins, "h - - [bad time] \"GET /\" 404 -", &ts),
        "{\"host\":\"h\",\"user\":\"-\",\"time\":\"bad time\","
        "\"method\":\"GET\",\"path\":\"/\",\"code\":404,\"size\":\"-\"}");
    assert_int_equal(ts, 0);
    assert_null(parse(ins, "no match here", NULL));
    sl_instance_destroy(ins);
}

static void test_regex_types_and_empty(void **state)
{
    struct sl_instance *ins;

    (void)state;
    ins = make(&sl_plugin_parser_regex,
               "{regex: '^(?<i>[^,]*),(?<f>[^,]*),(?<b>[^,]*),(?<s>.*)$', "
               "types: 'i:integer,f:float,b:bool,s:string', "
               "skip_empty_values: true}");
    assert_string_equal(parse(ins, "42,2.50,TRUE,7", NULL),
                        "{\"i\":42,\"f\":2.50,\"b\":true,\"s\":\"7\"}");
    assert_string_equal(parse(ins, "x,.5,no,", NULL),
                        "{\"i\":\"x\",\"f\":0.5,\"b\":\"no\"}");
    assert_string_equal(parse(ins, ",,false,\xff", NULL),
                        "{\"b\":false,\"s\":\"\\\\xff\"}");
    assert_string_equal(parse(ins, "99999999999999999999,nan,1,", NULL),
                        "{\"i\":\"99999999999999999999\",\"f\":\"nan\","
                        "\"b\":\"1\"}");
    sl_instance_destroy(ins);
    ins = make(&sl_plugin_parser_regex,
               "{regex: '^(?<t>\\d+) (?<m>.*)$', time_key: t, "
               "time_keep: yes}");
    assert_string_equal(parse(ins, "1795243860 hello", NULL),
                        "{\"t\":\"1795243860\",\"m\":\"hello\"}");
    sl_instance_destroy(ins);
}

static void test_regex_init_errors(void **state)
{
    (void)state;
    assert_non_null(strstr(
        make_error(&sl_plugin_parser_regex, "{regex: '(?<a>x'}"), "offset"));
    assert_non_null(strstr(
        make_error(&sl_plugin_parser_regex, "{regex: 'abc'}"), "named group"));
    assert_non_null(strstr(make_error(&sl_plugin_parser_regex,
                                      "{regex: '(?<a>x)', types: [a:int]}"),
                           "key:type"));
    assert_non_null(strstr(make_error(&sl_plugin_parser_regex,
                                      "{regex: '(?<a>x)', types: [b:bool]}"),
                           "no group named 'b'"));
    assert_string_not_equal(make_error(&sl_plugin_parser_regex, NULL), "");
    assert_string_equal(
        make_error(&sl_plugin_parser_regex, "{regex: '(?<a>x)'}"), "");
}

static void test_logfmt_basic(void **state)
{
    struct sl_instance *ins = make(&sl_plugin_parser_logfmt, NULL);

    (void)state;
    assert_string_equal(
        parse(ins, "key=value key2=\"quoted \\\" value\" flag", NULL),
        "{\"key\":\"value\",\"key2\":\"quoted \\\" value\",\"flag\":true}");
    assert_string_equal(
        parse(ins, "  a=1\tb= c=\"\" d=x=y e=\"l1\\nl2\\q\" ", NULL),
        "{\"a\":\"1\",\"b\":\"\",\"c\":\"\",\"d\":\"x=y\","
        "\"e\":\"l1\\nl2\\\\q\"}");
    assert_string_equal(parse(ins, "caf\xc3\xa9=\xff", NULL),
                        "{\"caf\xc3\xa9\":\"\\\\xff\"}");
    assert_string_equal(parse(ins, "a=1 a=2", NULL),
                        "{\"a\":\"1\",\"a\":\"2\"}");
    assert_null(parse(ins, "", NULL));
    assert_null(parse(ins, "   ", NULL));
    assert_null(parse(ins, "=value", NULL));
    assert_null(parse(ins, "a=\"unterminated", NULL));
    assert_null(parse(ins, "a=\"x\"junk", NULL));
    assert_null(parse(ins, "a\"b=1", NULL));
    assert_null(parse(ins, "a=b\"c", NULL));
    assert_null(parse(ins, "a=\"ends with backslash\\", NULL));
    assert_null(parse(ins, "k\x01=v", NULL));
    sl_instance_destroy(ins);
}

static void test_logfmt_types_time(void **state)
{
    struct sl_instance *ins;
    int64_t ts = -1;

    (void)state;
    ins = make(&sl_plugin_parser_logfmt,
               "{types: [n:integer, f:float, ok:bool], time_key: ts}");
    assert_string_equal(parse(ins,
                              "ts=2026-11-21T06:51:00Z n=5 f=1e3 ok=True "
                              "other=5 ts=later",
                              &ts),
                        "{\"n\":5,\"f\":1e3,\"ok\":true,\"other\":\"5\","
                        "\"ts\":\"later\"}");
    assert_int_equal(ts, T0_NS);
    assert_string_equal(parse(ins, "ts=whenever n=five f=0x10 ok", &ts),
                        "{\"ts\":\"whenever\",\"n\":\"five\",\"f\":16,"
                        "\"ok\":true}");
    assert_int_equal(ts, 0);
    assert_null(parse(ins, "ts=2026-11-21T06:51:00Z =", &ts));
    {
        /* A NUL in a typed value (found by fuzz_logfmt). */
        struct sl_parse_result res = { .scratch = &scratch };

        assert_int_equal(sl_instance_parse(ins, "f=1\0x n=2\0", 10, &res),
                         SL_OK);
        assert_int_equal(res.body.len, 30);
        assert_memory_equal(res.body.ptr,
                            "{\"f\":\"1\\u0000x\",\"n\":\"2\\u0000\"}", 30);
    }
    sl_instance_destroy(ins);
    assert_non_null(
        strstr(make_error(&sl_plugin_parser_logfmt, "{types: [nocolon]}"),
               "key:type"));
}

static void test_parsers_oom(void **state)
{
    static const struct {
        const struct sl_plugin *p;
        const char *yaml, *line;
    } cases[] = {
        { &sl_plugin_parser_json, "{time_key: ts}",
          "{\n\"ts\":\"2026-11-21T06:51:00Z\",\"a\":[1,{\"b\":2}]}" },
        { &sl_plugin_parser_regex,
          "{regex: '^(?<a>\\w+) (?<b>\\d+)$', "
          "types: [b:integer]}",
          "hello 42" },
        { &sl_plugin_parser_logfmt, "{types: [n:integer], time_key: t}",
          "t=1795243860 n=1 msg=\"a b\"" },
    };
    struct sl_parse_result res;
    struct sl_instance *ins;
    struct sl_errlist errs;
    size_t c;
    long k;
    int rc;

    (void)state;
    for (c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        for (k = 0; k < 60; k++) {
            struct sl_buf b;

            sl_buf_init(&b, 0);
            sl_errlist_init(&errs);
            sl_mem_fail_after(k);
            ins =
                sl_instance_create_standalone(cases[c].p, cases[c].yaml, &errs);
            if (ins != NULL) {
                memset(&res, 0, sizeof(res));
                res.scratch = &b;
                rc = sl_instance_parse(ins, cases[c].line,
                                       strlen(cases[c].line), &res);
                assert_true(rc == SL_OK || rc == SL_ENOMEM);
                sl_instance_destroy(ins);
            }
            sl_mem_fail_after(-1);
            sl_buf_fini(&b);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_descriptors),
        cmocka_unit_test(test_json_passthrough),
        cmocka_unit_test(test_json_time),
        cmocka_unit_test(test_json_time_keep_format),
        cmocka_unit_test(test_regex_basic),
        cmocka_unit_test(test_regex_types_and_empty),
        cmocka_unit_test(test_regex_init_errors),
        cmocka_unit_test(test_logfmt_basic),
        cmocka_unit_test(test_logfmt_types_time),
        cmocka_unit_test(test_parsers_oom),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
