/*
 * test_out_influxdb.c - the influxdb output's line building (escaping per
 * protocols.md 4.2, field types, flattening, tags, precision, newline
 * modes) and the parsing of partial-write answers.
 *
 * The plugin source is included so that its static functions can be
 * called; its instance comes from sl_instance_create_standalone.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "../../plugins/out_influxdb/out_influxdb.c"

#include "plugin.h"
#include "test_util.h"
#include "sluice/banned.h"

#define TS INT64_C(1795236000123456789)

struct fixture {
    struct sl_instance *ins;
    struct out_influxdb_worker wk;
    struct sl_buf out;
};

static struct fixture *fx_make(const char *yaml)
{
    struct fixture *fx = sl_calloc(1, sizeof(*fx));

    assert_non_null(fx);
    fx->ins = tu_instance(&sl_plugin_out_influxdb, yaml);
    influx_worker_setup(&fx->wk, sl_instance_ctx(fx->ins), fx->ins);
    sl_buf_init(&fx->out, 0);
    return fx;
}

static void fx_free(struct fixture *fx)
{
    influx_worker_fini(&fx->wk);
    sl_buf_fini(&fx->out);
    sl_instance_destroy(fx->ins);
    sl_free(fx);
}

/* The line of one record (tag "app.web"), or "ERR: <why>". */
static const char *fx_line(struct fixture *fx, const char *body, int64_t ts)
{
    struct sl_event ev = { .ts_ns = ts, .body = sl_str_cstr(body) };
    const char *why = NULL;
    int rc;

    sl_buf_reset(&fx->out);
    rc = influx_line(&fx->wk, sl_str_cstr("app.web"), &ev, &fx->out, &why);
    if (rc != SL_OK) {
        sl_buf_reset(&fx->out);
        sl_buf_printf(&fx->out, "ERR: %s", why ? why : "?");
    }
    return fx->out.data ? fx->out.data : "";
}

static void test_protocols_escaping_example(void **state)
{
    struct fixture *fx = fx_make("measurement: my measurement\n"
                                 "tag_keys: ['tag,key']\n");

    (void)state;
    /* protocols.md 4.2: my\ measurement,tag\,key=a\=b field\ key="C:\\logs\\" */
    assert_string_equal(
        fx_line(fx, "{\"tag,key\":\"a=b\","
                    "\"field key\":\"C:\\\\logs\\\\\"}",
                INT64_C(1795236000000000000)),
        "my\\ measurement,tag\\,key=a\\=b field\\ key=\"C:\\\\logs\\\\\" "
        "1795236000000000000\n");
    fx_free(fx);
}

static void test_types_flatten_and_sorted_tags(void **state)
{
    struct fixture *fx = fx_make("tag_keys: [level, host, req.id]\n");

    (void)state;
    assert_string_equal(
        fx_line(fx, "{\"host\":\"web 01\",\"level\":\"err\",\"n\":3,"
                    "\"neg\":-7,\"f\":0.5,\"e\":1e3,\"big\":"
                    "123456789012345678901,\"ok\":true,\"no\":false,"
                    "\"s\":\"say \\\"hi\\\"\",\"req\":{\"id\":\"x\","
                    "\"ms\":12},\"arr\":[1,\"a\"],\"nul\":null,"
                    "\"time\":5}",
                TS),
        "app.web,host=web\\ 01,level=err,req.id=x n=3i,neg=-7i,f=0.5,e=1e3,"
        "big=123456789012345678901,ok=true,no=false,s=\"say \\\"hi\\\"\","
        "req.ms=12i,arr=\"[1,\\\"a\\\"]\",time_=5i 1795236000123456789\n");
    fx_free(fx);
}

static void test_tag_edge_cases(void **state)
{
    struct fixture *fx = fx_make("tag_keys: [a, b, c]\nmeasurement: "
                                 "'m,x y'\n");

    (void)state;
    /* empty tag left out, trailing backslash dropped, newline -> space */
    assert_string_equal(fx_line(fx, "{\"a\":\"\",\"b\":\"C:\\\\dir\\\\\","
                                    "\"c\":\"l1\\nl2\",\"v\":1}", 0),
                        "m\\,x\\ y,b=C:\\dir,c=l1\\ l2 v=1i 0\n");
    assert_string_equal(fx_line(fx, "{\"a\":\"x\"}", 0),
                        "ERR: the record has no field (every key is a tag "
                        "or null)");
    assert_string_equal(fx_line(fx, "[1]", 0),
                        "ERR: the record is not a JSON object");
    fx_free(fx);
}

static void test_newlines_and_precision(void **state)
{
    struct fixture *fx = fx_make("precision: ms\n");
    struct fixture *v2 = fx_make("api: v2\nbucket: b\norg: o\n"
                                 "precision: s\n");
    struct fixture *sp = fx_make("newlines: space\n");

    (void)state;
    assert_string_equal(fx_line(fx, "{\"s\":\"a\\nb\"}", TS),
                        "app.web s=\"a\nb\" 1795236000123\n");
    assert_string_equal(fx_line(fx, "{\"s\":1}", -1500000),
                        "app.web s=1i -2\n");
    assert_string_equal(fx_line(v2, "{\"s\":\"a\\nb\\r\"}", TS),
                        "app.web s=\"a\\nb\\r\" 1795236000\n");
    assert_string_equal(fx_line(sp, "{\"s\":\"a\\nb\"}", 1),
                        "app.web s=\"a b\" 1\n");
    assert_string_equal(v2->wk.ix->target,
                        "/api/v2/write?org=o&bucket=b&precision=s");
    assert_string_equal(fx->wk.ix->target,
                        "/write?db=sluice&precision=ms");
    fx_free(fx);
    fx_free(v2);
    fx_free(sp);
}

static void test_auth_headers_and_query(void **state)
{
    struct fixture *b = fx_make("user: shipper\npassword: s3cret\n");
    struct fixture *q = fx_make("user: u\npassword: 'p&w'\nauth_method: "
                                "query\nrp: 'one week'\ndatabase: logs\n");
    struct fixture *t = fx_make("api: v2\nbucket: b\ntoken: tok\n");

    (void)state;
    assert_string_equal(b->wk.ix->auth,
                        "Authorization: Basic c2hpcHBlcjpzM2NyZXQ=");
    assert_null(q->wk.ix->auth);
    assert_string_equal(q->wk.ix->target, "/write?db=logs&rp=one%20week&"
                                          "precision=n&u=u&p=p%26w");
    assert_string_equal(t->wk.ix->auth, "Authorization: Token tok");
    fx_free(b);
    fx_free(q);
    fx_free(t);
}

static void test_line_has_for_type_conflicts(void **state)
{
    struct sl_buf tmp;
    const char *l = "cpu\\ x,host=a count=1.5,s=\"a, b=c\",n=3i 1";

    (void)state;
    sl_buf_init(&tmp, 0);
    assert_true(influx_line_has(l, strlen(l), sl_str_cstr("cpu x"),
                                sl_str_cstr("count"), 'f', &tmp));
    assert_false(influx_line_has(l, strlen(l), sl_str_cstr("cpu x"),
                                 sl_str_cstr("count"), 'i', &tmp));
    assert_true(influx_line_has(l, strlen(l), sl_str_cstr("cpu x"),
                                sl_str_cstr("n"), 'i', &tmp));
    assert_true(influx_line_has(l, strlen(l), sl_str_cstr("cpu x"),
                                sl_str_cstr("s"), 's', &tmp));
    assert_false(influx_line_has(l, strlen(l), sl_str_cstr("cpu"),
                                 sl_str_cstr("n"), 'i', &tmp));
    assert_int_equal(influx_type_word("integer dropped=1"), 'i');
    assert_int_equal(influx_type_word("string, already"), 's');
    assert_int_equal(influx_type_word("float, already"), 'f');
    sl_buf_fini(&tmp);
}

static void test_error_text(void **state)
{
    struct fixture *fx = fx_make("");
    struct sl_buf t;

    (void)state;
    sl_buf_init(&t, 0);
    influx_error_text(&fx->wk, sl_str_cstr("{\"error\":\"partial write: "
                                           "field \\\"v\\\" dropped=1\"}"),
                      &t);
    assert_string_equal(t.data, "partial write: field \"v\" dropped=1");
    influx_error_text(&fx->wk, sl_str_cstr("{\"code\":\"invalid\","
                                           "\"message\":\"bad line\"}"),
                      &t);
    assert_string_equal(t.data, "bad line");
    influx_error_text(&fx->wk, sl_str_cstr("404 page not found"), &t);
    assert_string_equal(t.data, "404 page not found");
    sl_buf_fini(&t);
    fx_free(fx);
}

static void test_bad_configs(void **state)
{
    struct sl_errlist errs;
    struct sl_instance *ins;

    (void)state;
    sl_errlist_init(&errs);
    ins = sl_instance_create_standalone(&sl_plugin_out_influxdb, "api: v2\n",
                                        &errs);
    assert_null(ins);
    assert_true(errs.n > 0 && strstr(errs.items[0].msg, "bucket") != NULL);
    sl_errlist_init(&errs);
    ins = sl_instance_create_standalone(&sl_plugin_out_influxdb,
                                        "token: x\n", &errs);
    assert_null(ins);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_protocols_escaping_example),
        cmocka_unit_test(test_types_flatten_and_sorted_tags),
        cmocka_unit_test(test_tag_edge_cases),
        cmocka_unit_test(test_newlines_and_precision),
        cmocka_unit_test(test_auth_headers_and_query),
        cmocka_unit_test(test_line_has_for_type_conflicts),
        cmocka_unit_test(test_error_text),
        cmocka_unit_test(test_bad_configs),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
