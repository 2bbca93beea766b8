/*
 * test_out_sentry.c - the sentry output's DSN parsing (protocols.md 3.1
 * table), level mapping, stack-trace frame parsing (Python, Java, Go),
 * the event payload, deterministic event ids and X-Sentry-Rate-Limits.
 *
 * The plugin source is included so that its static functions can be
 * called; its instance comes from sl_instance_create_standalone.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "../../plugins/out_sentry/out_sentry.c"

#include "plugin.h"
#include "test_util.h"
#include "sluice/banned.h"

struct fixture {
    struct sl_instance *ins;
    struct out_sentry_worker wk;
    struct sl_buf out;
};

static struct fixture *fx_make(const char *yaml)
{
    struct fixture *fx = sl_calloc(1, sizeof(*fx));

    assert_non_null(fx);
    fx->ins = tu_instance(&sl_plugin_out_sentry, yaml);
    assert_int_equal(sentry_worker_setup(&fx->wk, sl_instance_ctx(fx->ins),
                                         fx->ins),
                     SL_OK);
    sl_buf_init(&fx->out, 0);
    return fx;
}

static void fx_free(struct fixture *fx)
{
    sentry_worker_fini(&fx->wk);
    sl_buf_fini(&fx->out);
    sl_instance_destroy(fx->ins);
    sl_free(fx);
}

static bool str_is(struct sl_str s, const char *c)
{
    return sl_str_eq_cstr(s, c);
}

static void test_dsn_table(void **state)
{
    struct fixture *a = fx_make(
        "dsn: https://d41d8cd98f00b204e9800998ecf8427e@sentry.example.com/42\n");
    struct fixture *b = fx_make("dsn: http://pub:sec@10.0.0.5:9000/sentry/7\n");
    struct sentry_dsn d;

    (void)state;
    assert_string_equal(a->wk.se->base_url, "https://sentry.example.com");
    assert_string_equal(a->wk.se->target, "/api/42/envelope/");
    assert_string_equal(a->wk.se->auth,
                        "X-Sentry-Auth: Sentry sentry_version=7, sentry_key="
                        "d41d8cd98f00b204e9800998ecf8427e, sentry_client="
                        "sluice/" VERSION);
    assert_string_equal(b->wk.se->base_url, "http://10.0.0.5:9000/sentry");
    assert_string_equal(b->wk.se->target, "/api/7/envelope/");
    assert_non_null(strstr(b->wk.se->auth, "sentry_key=pub, "));
    assert_non_null(strstr(b->wk.se->auth, ", sentry_secret=sec"));
    assert_int_equal(sentry_dsn_parse("https://k@o1.ingest.sentry.io/4504",
                                      &d),
                     SL_OK);
    assert_true(str_is(d.project, "4504") && str_is(d.key, "k"));
    assert_int_equal(sentry_dsn_parse("https://sentry.example.com/42", &d),
                     SL_EINVAL);
    assert_int_equal(sentry_dsn_parse("https://k@sentry.example.com/", &d),
                     SL_EINVAL);
    assert_int_equal(sentry_dsn_parse("ftp://k@h/1", &d), SL_EINVAL);
    fx_free(a);
    fx_free(b);
}

static void test_levels(void **state)
{
    struct sl_arena ar;
    struct sl_json *v;
    static const struct {
        const char *json;
        int level;
    } t[] = {
        { "\"ERROR\"", SLV_ERROR }, { "\"warn\"", SLV_WARNING },
        { "\"crit\"", SLV_FATAL },  { "\"notice\"", SLV_INFO },
        { "3", SLV_ERROR },         { "0", SLV_FATAL },
        { "\"4\"", SLV_WARNING },   { "7", SLV_DEBUG },
        { "9", -1 },                { "\"loud\"", -1 },
    };
    size_t i;

    (void)state;
    sl_arena_init(&ar, 0, 0);
    for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        assert_int_equal(sl_json_parse(&ar, t[i].json, strlen(t[i].json), &v,
                                       NULL),
                         SL_OK);
        assert_int_equal(sentry_level_of(v), t[i].level);
    }
    sl_arena_fini(&ar);
}

static void test_python_chained(void **state)
{
    const char *t =
        "Traceback (most recent call last):\n"
        "  File \"/app/db.py\", line 5, in connect\n"
        "    sock.connect(addr)\n"
        "ConnectionError: refused\n"
        "\n"
        "During handling of the above exception, another exception "
        "occurred:\n\n"
        "Traceback (most recent call last):\n"
        "  File \"/app/main.py\", line 88, in main\n"
        "    run()\n"
        "  File \"/app/worker.py\", line 12, in run\n"
        "    raise RuntimeError(\"db: down\")\n"
        "RuntimeError: db: down\n";
    struct sl_arena a;
    struct sentry_trace tr;

    (void)state;
    sl_arena_init(&a, 0, 0);
    assert_int_equal(sentry_parse_trace(&a, sl_str_cstr(t), &tr), SL_OK);
    assert_int_equal(tr.n, 2);
    assert_true(str_is(tr.exc[0].type, "ConnectionError"));
    assert_true(str_is(tr.exc[0].value, "refused"));
    assert_int_equal(tr.exc[0].nframes, 1);
    assert_true(str_is(tr.exc[1].type, "RuntimeError"));
    assert_true(str_is(tr.exc[1].value, "db: down"));
    assert_int_equal(tr.exc[1].nframes, 2);
    assert_true(str_is(tr.exc[1].frames[0].function, "main"));
    assert_true(str_is(tr.exc[1].frames[1].filename, "/app/worker.py"));
    assert_int_equal(tr.exc[1].frames[1].lineno, 12);
    sl_arena_fini(&a);
}

static void test_java_caused_by(void **state)
{
    const char *t =
        "Exception in thread \"main\" java.lang.IllegalStateException: "
        "bad state\n"
        "\tat com.acme.App.run(App.java:42)\n"
        "\tat com.acme.App.main(App.java:10)\n"
        "Caused by: java.io.IOException: disk full\n"
        "\tat com.acme.io.Writer.write(Writer.java:7)\n"
        "\tat com.acme.App.run(App.java:40)\n"
        "\t... 1 more\n";
    struct sl_arena a;
    struct sentry_trace tr;

    (void)state;
    sl_arena_init(&a, 0, 0);
    assert_int_equal(sentry_parse_trace(&a, sl_str_cstr(t), &tr), SL_OK);
    assert_int_equal(tr.n, 2);
    /* root cause first */
    assert_true(str_is(tr.exc[0].type, "java.io.IOException"));
    assert_true(str_is(tr.exc[0].value, "disk full"));
    assert_true(str_is(tr.exc[1].type, "java.lang.IllegalStateException"));
    assert_true(str_is(tr.exc[1].value, "bad state"));
    /* caller first: main, then run */
    assert_int_equal(tr.exc[1].nframes, 2);
    assert_true(str_is(tr.exc[1].frames[0].function, "main"));
    assert_true(str_is(tr.exc[1].frames[0].module, "com.acme.App"));
    assert_true(str_is(tr.exc[1].frames[1].filename, "App.java"));
    assert_int_equal(tr.exc[1].frames[1].lineno, 42);
    assert_true(str_is(tr.exc[0].frames[1].function, "write"));
    sl_arena_fini(&a);
}

static void test_go_panic(void **state)
{
    const char *t =
        "panic: runtime error: index out of range [3] with length 3\n"
        "\n"
        "goroutine 1 [running]:\n"
        "main.lookup(...)\n"
        "\t/src/app/main.go:12\n"
        "main.main()\n"
        "\t/src/app/main.go:8 +0x1d\n"
        "exit status 2\n"
        "goroutine 7 [select]:\n"
        "net/http.(*conn).serve(0xc000)\n"
        "\t/usr/lib/go/net/http/server.go:1 +0x2\n";
    struct sl_arena a;
    struct sentry_trace tr;

    (void)state;
    sl_arena_init(&a, 0, 0);
    assert_int_equal(sentry_parse_trace(&a, sl_str_cstr(t), &tr), SL_OK);
    assert_int_equal(tr.n, 1);
    assert_true(str_is(tr.exc[0].type, "panic"));
    assert_true(str_is(tr.exc[0].value,
                       "runtime error: index out of range [3] with length 3"));
    /* caller first; "exit status 2" is not a frame (no file line) */
    assert_int_equal(tr.exc[0].nframes, 2);
    assert_true(str_is(tr.exc[0].frames[0].function, "main.main"));
    assert_int_equal(tr.exc[0].frames[0].lineno, 8);
    assert_true(str_is(tr.exc[0].frames[1].function, "main.lookup"));
    assert_true(str_is(tr.exc[0].frames[1].filename, "/src/app/main.go"));
    assert_int_equal(tr.exc[0].frames[1].lineno, 12);
    assert_int_equal(sentry_parse_trace(&a, sl_str_cstr("one line"), &tr),
                     SL_ENOTFOUND);
    sl_arena_fini(&a);
}

static void test_payload_and_event_id(void **state)
{
    struct fixture *fx = fx_make("dsn: http://k@h:1/3\nplatform: python\n"
                                 "tag_keys: [svc]\nmin_level: warning\n");
    const char *body = "{\"level\":\"error\",\"host\":\"web1\",\"svc\":\"api\","
                       "\"error\":{\"type\":\"KeyError\",\"message\":\"'x'\"},"
                       "\"message\":\"lookup failed\",\"n\":1}";
    struct sl_event ev = { .ts_ns = INT64_C(1795236000500000000),
                           .body = sl_str_cstr(body) };
    struct sentry_event se;
    char id2[33];

    (void)state;
    assert_int_equal(sentry_prepare(&fx->wk, sl_str_cstr("t"), &ev, &se),
                     SL_OK);
    memcpy(id2, se.id, sizeof(id2));
    assert_int_equal(sentry_payload(&fx->wk, sl_str_cstr("t"), &ev, &se,
                                    &fx->out),
                     SL_OK);
    {
        char want[1024];

        snprintf(want, sizeof(want),
                 "{\"event_id\":\"%s\",\"timestamp\":1795236000.500000,"
                 "\"platform\":\"python\",\"level\":\"error\",\"logger\":"
                 "\"t\",\"server_name\":\"web1\",\"message\":{\"formatted\":"
                 "\"lookup failed\"},\"exception\":{\"values\":[{\"type\":"
                 "\"KeyError\",\"value\":\"'x'\"}]},\"tags\":{\"svc\":"
                 "\"api\"},\"extra\":{\"svc\":\"api\",\"n\":1}}",
                 id2);
        assert_string_equal(fx->out.data, want);
    }
    /* same record, same id; another time, another id */
    assert_int_equal(sentry_prepare(&fx->wk, sl_str_cstr("t"), &ev, &se),
                     SL_OK);
    assert_string_equal(se.id, id2);
    ev.ts_ns++;
    assert_int_equal(sentry_prepare(&fx->wk, sl_str_cstr("t"), &ev, &se),
                     SL_OK);
    assert_string_not_equal(se.id, id2);
    assert_int_equal(strspn(se.id, "0123456789abcdef"), 32);
    /* below min_level */
    ev.body = sl_str_cstr("{\"level\":\"info\",\"message\":\"x\"}");
    assert_int_equal(sentry_prepare(&fx->wk, sl_str_cstr("t"), &ev, &se),
                     SL_ENOTFOUND);
    fx_free(fx);
}

static void test_rate_limit_header(void **state)
{
    int64_t until[SC_N] = { 0, 0, 0 };
    int64_t now = INT64_C(1000) * SL_NS_PER_S;

    (void)state;
    assert_true(sentry_rate_limits(
        until,
        sl_str_cstr("60:transaction:key, 2700:default;error;security:"
                    "organization"),
        now));
    assert_int_equal(until[SC_ALL], 0);
    assert_int_equal(until[SC_ERROR], now + INT64_C(2700) * SL_NS_PER_S);
    assert_int_equal(until[SC_DEFAULT], now + INT64_C(2700) * SL_NS_PER_S);
    /* only unknown categories: ignored */
    assert_false(sentry_rate_limits(until, sl_str_cstr("5:transaction:key"),
                                    now));
    /* empty list: all; the max is kept */
    assert_true(sentry_rate_limits(until, sl_str_cstr(" 1.5 ::project "),
                                   now));
    assert_int_equal(until[SC_ALL], now + INT64_C(1500000000));
    assert_true(sentry_rate_limits(until, sl_str_cstr("1:error:project"),
                                   now));
    assert_int_equal(until[SC_ERROR], now + INT64_C(2700) * SL_NS_PER_S);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dsn_table),
        cmocka_unit_test(test_levels),
        cmocka_unit_test(test_python_chained),
        cmocka_unit_test(test_java_caused_by),
        cmocka_unit_test(test_go_panic),
        cmocka_unit_test(test_payload_and_event_id),
        cmocka_unit_test(test_rate_limit_header),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
