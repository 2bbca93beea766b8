/*
 * test_http_client.c - the HTTP engine's pure helpers: status classes
 * (protocols.md 0), Retry-After (seconds and HTTP-date), header lookup,
 * answer descriptions, templates, and the per-worker state's record
 * parsing and release.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "sluice/http.h"
#include "sluice/banned.h"

static void test_classify(void **state)
{
    (void)state;
    assert_int_equal(sl_http_classify(200), SL_HTTP_OK);
    assert_int_equal(sl_http_classify(204), SL_HTTP_OK);
    assert_int_equal(sl_http_classify(0), SL_HTTP_RETRY);
    assert_int_equal(sl_http_classify(408), SL_HTTP_RETRY);
    assert_int_equal(sl_http_classify(429), SL_HTTP_RETRY);
    assert_int_equal(sl_http_classify(500), SL_HTTP_RETRY);
    assert_int_equal(sl_http_classify(503), SL_HTTP_RETRY);
    assert_int_equal(sl_http_classify(599), SL_HTTP_RETRY);
    assert_int_equal(sl_http_classify(413), SL_HTTP_SPLIT);
    assert_int_equal(sl_http_classify(400), SL_HTTP_PERMANENT);
    assert_int_equal(sl_http_classify(422), SL_HTTP_PERMANENT);
    assert_int_equal(sl_http_classify(401), SL_HTTP_HALT);
    assert_int_equal(sl_http_classify(403), SL_HTTP_HALT);
    assert_int_equal(sl_http_classify(404), SL_HTTP_HALT);
    assert_int_equal(sl_http_classify(301), SL_HTTP_HALT);
}

static void test_retry_after(void **state)
{
    int64_t now = INT64_C(1795244000);

    (void)state;
    assert_int_equal(sl_http_retry_after_parse(SL_STR_LIT("2"), now), 2000);
    assert_int_equal(sl_http_retry_after_parse(SL_STR_LIT(" 120 \r"), now),
                     120000);
    assert_int_equal(sl_http_retry_after_parse(
                         SL_STR_LIT("Sat, 21 Nov 2026 06:55:20 GMT"), now),
                     120000);
    /* a date in the past: retry now */
    assert_int_equal(sl_http_retry_after_parse(
                         SL_STR_LIT("Sat, 21 Nov 2026 06:00:00 GMT"), now),
                     0);
    assert_int_equal(sl_http_retry_after_parse(SL_STR_LIT("soon"), now), -1);
    assert_int_equal(sl_http_retry_after_parse(SL_STR_LIT(""), now), -1);
    assert_int_equal(sl_http_retry_after_parse(SL_STR_LIT("-5"), now), -1);
}

static void test_headers(void **state)
{
    struct sl_str h = SL_STR_LIT("HTTP/1.1 429 Too Many\r\n"
                                 "Content-Type: application/json\r\n"
                                 "retry-after:  7 \r\n\r\n");
    struct sl_str v;

    (void)state;
    assert_true(sl_http_header_find(h, "Retry-After", &v));
    assert_true(sl_str_eq_cstr(v, "7"));
    assert_true(sl_http_header_find(h, "content-type", &v));
    assert_true(sl_str_eq_cstr(v, "application/json"));
    assert_false(sl_http_header_find(h, "Content", &v));
    assert_int_equal(sl_http_retry_after(h), 7000);
    assert_int_equal(sl_http_retry_after(SL_STR_LIT("X: 1\r\n")), -1);
}

static void test_describe(void **state)
{
    struct sl_http_response r = { .status = 400,
                                  .body = SL_STR_LIT("{\"error\":\n\"x\"}"),
                                  .error = "" };
    char out[64];

    (void)state;
    sl_http_describe(&r, out, sizeof(out));
    assert_string_equal(out, "HTTP 400: {\"error\": \"x\"}");
    r.status = 0;
    r.error = "Connection refused";
    sl_http_describe(&r, out, sizeof(out));
    assert_string_equal(out, "no HTTP answer: Connection refused");
}

static void render(const char *tmpl, unsigned flags, const char *body,
                   const char *want)
{
    struct sl_err err = { 0 };
    struct sl_http_tmpl *t = sl_http_tmpl_create(tmpl, flags, &err);
    struct sl_arena a;
    struct sl_json *dom = NULL;
    struct sl_buf out, scratch;

    assert_non_null(t);
    sl_arena_init(&a, 0, 0);
    sl_buf_init(&out, 0);
    sl_buf_init(&scratch, 0);
    assert_int_equal(sl_json_parse(&a, body, strlen(body), &dom, NULL),
                     SL_OK);
    assert_int_equal(sl_http_tmpl_render(t, SL_STR_LIT("app.x"),
                                         INT64_C(1795243860) * SL_NS_PER_S,
                                         dom, &scratch, &out),
                     SL_OK);
    assert_string_equal(out.data != NULL ? out.data : "", want);
    sl_buf_fini(&out);
    sl_buf_fini(&scratch);
    sl_arena_fini(&a);
    sl_http_tmpl_destroy(t);
}

static void test_templates(void **state)
{
    struct sl_err err = { 0 };
    struct sl_http_tmpl *t;

    (void)state;
    render("logs-${tag}-$svc-%Y.%m.%d", SL_HTTP_TMPL_STRFTIME,
           "{\"svc\":\"api\"}", "logs-app.x-api-2026.11.21");
    render("{\"text\": \"${level}: ${message} $a['b'][1] $$5 $missing\"}",
           SL_HTTP_TMPL_JSON_ESCAPE,
           "{\"level\":\"error\",\"message\":\"a \\\"q\\\"\\nb\","
           "\"a\":{\"b\":[1,2.5]}}",
           "{\"text\": \"error: a \\\"q\\\"\\nb 2.5 $5 \"}");
    /* % is literal without STRFTIME */
    render("100%-$n", 0, "{\"n\":3}", "100%-3");
    t = sl_http_tmpl_create("a-${tag}", SL_HTTP_TMPL_STRFTIME, &err);
    assert_non_null(t);
    assert_false(sl_http_tmpl_uses_record(t));
    assert_false(sl_http_tmpl_uses_time(t));
    sl_http_tmpl_destroy(t);
    assert_null(sl_http_tmpl_create("x-${unclosed", 0, &err));
}

/* sl_http_worker_parse: a JSON body gives its root, anything else NULL;
 * each call reuses the arena.  sl_http_worker_fini is safe on a zeroed
 * struct and after use (no client: that needs a worker loop, covered by
 * the integration tests). */
static void test_url_escape(void **state)
{
    static const char in[] = "geo ip/a+b?c=d&e~f.g_h-i\x00\xc3\xa9";
    struct sl_buf b;

    (void)state;
    sl_buf_init(&b, 0);
    assert_int_equal(sl_http_url_escape(&b, in, sizeof(in) - 1), SL_OK);
    assert_string_equal(b.data,
                        "geo%20ip%2Fa%2Bb%3Fc%3Dd%26e~f.g_h-i%00%C3%A9");
    sl_buf_reset(&b);
    assert_int_equal(sl_http_url_escape(&b, "", 0), SL_OK);
    assert_int_equal(b.len, 0);
    sl_buf_fini(&b);
}

static void test_worker_parse(void **state)
{
    struct sl_http_worker hw;
    struct sl_event ev = { .body = SL_STR_LIT("{\"a\":\"x\"}") };
    struct sl_json *dom;
    const struct sl_json *v;

    (void)state;
    memset(&hw, 0, sizeof(hw));
    sl_http_worker_fini(&hw);
    sl_arena_init(&hw.arena, 0, 0);
    sl_buf_init(&hw.scratch, 0);
    dom = sl_http_worker_parse(&hw, &ev);
    assert_non_null(dom);
    v = sl_json_obj_get(dom, SL_STR_LIT("a"));
    assert_non_null(v);
    assert_int_equal(v->type, SL_JSON_STRING);
    assert_true(sl_str_eq_cstr(v->u.str, "x"));
    ev.body = sl_str_cstr("not json");
    assert_null(sl_http_worker_parse(&hw, &ev));
    ev.body = sl_str_cstr("");
    assert_null(sl_http_worker_parse(&hw, &ev));
    ev.body = sl_str_cstr("{\"b\":[1,2]}");
    dom = sl_http_worker_parse(&hw, &ev);
    assert_non_null(dom);
    assert_null(sl_json_obj_get(dom, SL_STR_LIT("a")));
    assert_non_null(sl_json_obj_get(dom, SL_STR_LIT("b")));
    sl_http_worker_fini(&hw);
    assert_null(hw.http);
    sl_http_worker_fini(&hw);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_classify),  cmocka_unit_test(test_retry_after),
        cmocka_unit_test(test_headers),   cmocka_unit_test(test_describe),
        cmocka_unit_test(test_templates), cmocka_unit_test(test_worker_parse),
        cmocka_unit_test(test_url_escape),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
