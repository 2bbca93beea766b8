/*
 * test_out_splunk.c - the splunk output's envelopes (time, metadata
 * templates, event_key, fields), raw lines and targets, the HEC code
 * classification and the parsing of answers and ack replies.
 *
 * The plugin source is included so that its static functions can be
 * called; its instance comes from sl_instance_create_standalone.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "../../plugins/out_splunk/out_splunk.c"

#include "plugin.h"
#include "test_util.h"
#include "sluice/banned.h"

#define TS INT64_C(1795236000123456789)

struct fixture {
    struct sl_instance *ins;
    struct out_splunk_worker wk;
    struct sl_buf out;
};

static struct fixture *fx_make(const char *yaml)
{
    struct fixture *fx = sl_calloc(1, sizeof(*fx));

    assert_non_null(fx);
    fx->ins = tu_instance(&sl_plugin_out_splunk, yaml);
    splunk_worker_setup(&fx->wk, sl_instance_ctx(fx->ins), fx->ins);
    sl_buf_init(&fx->out, 0);
    return fx;
}

static void fx_free(struct fixture *fx)
{
    splunk_worker_fini(&fx->wk);
    sl_buf_fini(&fx->out);
    sl_instance_destroy(fx->ins);
    sl_free(fx);
}

static const char *fx_env(struct fixture *fx, const char *body, int64_t ts)
{
    struct sl_event ev = { .ts_ns = ts, .body = sl_str_cstr(body) };

    sl_buf_reset(&fx->out);
    assert_int_equal(splunk_envelope(&fx->wk, sl_str_cstr("app.web"), &ev,
                                     &fx->out),
                     SL_OK);
    return fx->out.data;
}

static void test_envelope_protocols_example(void **state)
{
    struct fixture *fx = fx_make(
        "token: 12345678-1234-1234-1234-1234567890AB\n"
        "event_host: $h\nevent_source: /var/log/${tag}.log\n"
        "event_sourcetype: app:json\nevent_index: main\n"
        "fields: [env, dc, n, nope]\n");

    (void)state;
    assert_string_equal(
        fx_env(fx, "{\"h\":\"web01\",\"msg\":\"GET /health 200\","
                   "\"env\":\"prod\",\"dc\":[\"eu1\",\"eu2\"],\"n\":5}",
               TS),
        "{\"time\":1795236000.123,\"host\":\"web01\",\"source\":"
        "\"/var/log/app.web.log\",\"sourcetype\":\"app:json\",\"index\":"
        "\"main\",\"event\":{\"h\":\"web01\",\"msg\":\"GET /health 200\","
        "\"env\":\"prod\",\"dc\":[\"eu1\",\"eu2\"],\"n\":5},\"fields\":"
        "{\"env\":\"prod\",\"dc\":[\"eu1\",\"eu2\"],\"n\":\"5\"}}");
    /* empty host template: left out; no fields present: no "fields" */
    assert_string_equal(fx_env(fx, "{\"a\":1}", 1000000),
                        "{\"time\":0.001,\"source\":\"/var/log/app.web.log\","
                        "\"sourcetype\":\"app:json\",\"index\":\"main\","
                        "\"event\":{\"a\":1}}");
    fx_free(fx);
}

static void test_event_key_and_raw(void **state)
{
    struct fixture *fx = fx_make("token: t\nevent_key: $log\n");
    struct fixture *raw = fx_make("token: t\nendpoint: raw\nevent_key: log\n"
                                  "channel: c-1\nevent_sourcetype: 'a b'\n");
    struct sl_event ev = { .ts_ns = 0,
                           .body = sl_str_cstr("{\"log\":\"x\\ny\"}") };
    struct sl_buf t;

    (void)state;
    assert_string_equal(fx_env(fx, "{\"log\":\"line \\\"1\\\"\",\"a\":1}", 0),
                        "{\"time\":0.000,\"event\":\"line \\\"1\\\"\"}");
    assert_string_equal(fx_env(fx, "{\"a\":1}", 0),
                        "{\"time\":0.000,\"event\":{\"a\":1}}");
    sl_buf_reset(&raw->out);
    assert_int_equal(splunk_raw_line(&raw->wk, &ev, &raw->out), SL_OK);
    assert_string_equal(raw->out.data, "x\ny\n");
    sl_buf_init(&t, 0);
    assert_int_equal(splunk_raw_target(&raw->wk, sl_str_cstr("tg"), &t),
                     SL_OK);
    assert_string_equal(t.data, "/services/collector/raw?channel=c-1&"
                                "sourcetype=a%20b");
    sl_buf_fini(&t);
    assert_string_equal(raw->wk.sp->chan_hdr, "X-Splunk-Request-Channel: c-1");
    assert_string_equal(raw->wk.sp->auth, "Authorization: Splunk t");
    assert_string_equal(raw->wk.sp->ack_target,
                        "/services/collector/ack?channel=c-1");
    /* no channel configured: a random v4 GUID */
    assert_int_equal(strlen(fx->wk.sp->channel), 36);
    assert_int_equal(fx->wk.sp->channel[14], '4');
    fx_free(fx);
    fx_free(raw);
}

static void test_code_classes(void **state)
{
    static const struct {
        long code;
        int cls;
    } t[] = {
        { 1, SL_HTTP_HALT },      { 2, SL_HTTP_HALT },
        { 3, SL_HTTP_HALT },      { 4, SL_HTTP_HALT },
        { 5, SL_HTTP_PERMANENT }, { 6, SL_HTTP_PERMANENT },
        { 7, SL_HTTP_HALT },      { 8, SL_HTTP_RETRY },
        { 9, SL_HTTP_RETRY },     { 10, SL_HTTP_HALT },
        { 11, SL_HTTP_HALT },     { 12, SL_HTTP_PERMANENT },
        { 13, SL_HTTP_PERMANENT }, { 14, SL_HTTP_HALT },
        { 15, SL_HTTP_PERMANENT }, { 16, SL_HTTP_HALT },
        { 18, SL_HTTP_RETRY },    { 19, SL_HTTP_RETRY },
        { 20, SL_HTTP_RETRY },    { -1, -1 },
        { 404, -1 },
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        assert_int_equal(splunk_code_class(t[i].code), t[i].cls);
    }
}

static void test_answers_and_acks(void **state)
{
    struct fixture *fx = fx_make("token: t\nack: on\n");
    struct splunk_answer a;

    (void)state;
    splunk_parse_answer(&fx->wk,
                        sl_str_cstr("{\"text\":\"Success\",\"code\":0,"
                                    "\"ackId\":7}"),
                        &a);
    assert_int_equal(a.code, 0);
    assert_int_equal(a.ack_id, 7);
    assert_int_equal(a.invalid, -1);
    splunk_parse_answer(&fx->wk,
                        sl_str_cstr("{\"text\":\"Invalid data format\","
                                    "\"code\":6,\"invalid-event-number\":1}"),
                        &a);
    assert_int_equal(a.code, 6);
    assert_int_equal(a.invalid, 1);
    splunk_parse_answer(&fx->wk, sl_str_cstr("<html>busy</html>"), &a);
    assert_int_equal(a.code, -1);
    assert_int_equal(splunk_ack_push(&fx->wk, 0, 0, 2), SL_OK);
    assert_int_equal(splunk_ack_push(&fx->wk, 1, 2, 5), SL_OK);
    splunk_ack_apply(&fx->wk,
                     sl_str_cstr("{\"acks\":{\"0\":true,\"1\":false}}"));
    assert_true(fx->wk.acks[0].done);
    assert_false(fx->wk.acks[1].done);
    assert_false(splunk_ack_all_done(&fx->wk));
    splunk_ack_apply(&fx->wk, sl_str_cstr("{\"acks\":{\"1\":true}}"));
    assert_true(splunk_ack_all_done(&fx->wk));
    fx_free(fx);
}

static void test_time_put(void **state)
{
    struct sl_buf b;

    (void)state;
    sl_buf_init(&b, 0);
    assert_int_equal(splunk_put_time(&b, INT64_C(1795236001000000000)),
                     SL_OK);
    assert_string_equal(b.data, "\"time\":1795236001.000");
    sl_buf_reset(&b);
    assert_int_equal(splunk_put_time(&b, -1000000), SL_OK);
    assert_string_equal(b.data, "\"time\":-0.001");
    sl_buf_fini(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_envelope_protocols_example),
        cmocka_unit_test(test_event_key_and_raw),
        cmocka_unit_test(test_code_classes),
        cmocka_unit_test(test_answers_and_acks),
        cmocka_unit_test(test_time_put),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
