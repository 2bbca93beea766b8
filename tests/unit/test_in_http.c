/*
 * test_in_http.c - the pure parts of the http input
 * (plugins/in_http/in_http.c): the body splitter (object, array, NDJSON,
 * concatenated HEC envelopes, and where it reports errors), line numbers,
 * the capped gzip/deflate inflater, and the HEC envelope mapping with its
 * error codes.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <zlib.h>

#include "sluice/plugin.h"
#include "sluice/banned.h"

/* The exported helpers of plugins/in_http/in_http.c. */
struct sl_http_split_err {
    size_t offset;
    size_t index;
    char msg[160];
};
typedef int (*sl_http_value_fn)(void *arg, size_t index, const char *p,
                                size_t n, struct sl_http_split_err *e);
extern int sl_http_body_split(const char *p, size_t n, bool concat_only,
                              sl_http_value_fn fn, void *arg,
                              struct sl_http_split_err *e);
extern size_t sl_http_line_of(const char *p, size_t n, size_t off);
extern int sl_http_inflate(const char *p, size_t n, size_t max,
                           struct sl_buf *out);
extern int sl_http_hec_event(struct sl_arena *a, const char *p, size_t n,
                             const struct sl_strlist *indexes,
                             struct sl_buf *out, int64_t *ts_ns);

/* Collects the values as "v1|v2|..." and refuses one equal to "BAD". */
struct collect {
    char out[1024];
    size_t count;
};

static int collect_fn(void *arg, size_t index, const char *p, size_t n,
                      struct sl_http_split_err *e)
{
    struct collect *c = arg;
    size_t len = strlen(c->out);

    assert_int_equal(index, c->count);
    if (n == 5 && memcmp(p, "\"BAD\"", 5) == 0) {
        snprintf(e->msg, sizeof(e->msg), "bad value");
        return SL_EPARSE;
    }
    snprintf(c->out + len, sizeof(c->out) - len, "%s%.*s",
             c->count > 0 ? "|" : "", (int)n, p);
    c->count++;
    return SL_OK;
}

static int split(const char *body, bool concat, struct collect *c,
                 struct sl_http_split_err *e)
{
    memset(c, 0, sizeof(*c));
    memset(e, 0, sizeof(*e));
    return sl_http_body_split(body, strlen(body), concat, collect_fn, c, e);
}

static void test_split_object_and_ndjson(void **state)
{
    struct collect c;
    struct sl_http_split_err e;

    (void)state;
    assert_int_equal(split(" {\"a\":1}\n", false, &c, &e), SL_OK);
    assert_string_equal(c.out, "{\"a\":1}");
    assert_int_equal(
        split("{\"a\":\"}{\"}\r\n{\"b\":[1,{\"c\":2}]}\n", false, &c, &e),
        SL_OK);
    assert_string_equal(c.out, "{\"a\":\"}{\"}|{\"b\":[1,{\"c\":2}]}");
    /* a pretty-printed object stays one value */
    assert_int_equal(
        split("{\n  \"a\": 1,\n  \"b\": \"x\\\"y\"\n}", false, &c, &e), SL_OK);
    assert_int_equal(c.count, 1);
    /* HEC: concatenated, no separator */
    assert_int_equal(split("{\"event\":\"a\"}{\"event\":\"b\"}", true, &c, &e),
                     SL_OK);
    assert_string_equal(c.out, "{\"event\":\"a\"}|{\"event\":\"b\"}");
    /* scalars are values too (the callback refuses them later) */
    assert_int_equal(split("1 true \"s\"", false, &c, &e), SL_OK);
    assert_string_equal(c.out, "1|true|\"s\"");
    assert_int_equal(split("  \n", false, &c, &e), SL_OK);
    assert_int_equal(c.count, 0);
}

static void test_split_array(void **state)
{
    struct collect c;
    struct sl_http_split_err e;

    (void)state;
    assert_int_equal(split("[{\"a\":1} , {\"b\":[2]}]\n", false, &c, &e),
                     SL_OK);
    assert_string_equal(c.out, "{\"a\":1}|{\"b\":[2]}");
    assert_int_equal(split("[ ]", false, &c, &e), SL_OK);
    assert_int_equal(c.count, 0);
    /* concat_only: an array is one value */
    assert_int_equal(split("[{\"a\":1}]", true, &c, &e), SL_OK);
    assert_string_equal(c.out, "[{\"a\":1}]");

    assert_int_equal(split("[{\"a\":1},]", false, &c, &e), SL_EPARSE);
    assert_int_equal(e.offset, 9);
    assert_int_equal(e.index, 1);
    assert_int_equal(split("[{\"a\":1} {\"b\":2}]", false, &c, &e), SL_EPARSE);
    assert_int_equal(e.offset, 9);
    assert_non_null(strstr(e.msg, "expected ','"));
    assert_int_equal(split("  [{\"a\":1}] x", false, &c, &e), SL_EPARSE);
    assert_int_equal(e.offset, 12);
    assert_int_equal(split("[{\"a\":1}", false, &c, &e), SL_EPARSE);
}

static void test_split_errors_say_where(void **state)
{
    struct collect c;
    struct sl_http_split_err e;
    const char *body = "{\"a\":1}\n{\"b\":2}\n{\"c\":\n";

    (void)state;
    assert_int_equal(split(body, false, &c, &e), SL_EPARSE);
    assert_int_equal(e.index, 2);
    assert_int_equal(e.offset, 16);
    assert_int_equal(sl_http_line_of(body, strlen(body), e.offset), 3);
    assert_non_null(strstr(e.msg, "unterminated"));

    /* the callback's error gets the value's position */
    assert_int_equal(split("{\"a\":1}\n\"BAD\"\n", false, &c, &e), SL_EPARSE);
    assert_int_equal(e.index, 1);
    assert_int_equal(e.offset, 8);
    assert_string_equal(e.msg, "bad value");

    assert_int_equal(split("{\"a\":1},{\"b\":2}", false, &c, &e), SL_EPARSE);
    assert_int_equal(e.offset, 7);
    assert_int_equal(split("\"unterminated", false, &c, &e), SL_EPARSE);
    assert_int_equal(sl_http_line_of("a\nb\nc", 5, 0), 1);
    assert_int_equal(sl_http_line_of("a\nb\nc", 5, 4), 3);
}

/* gzip-compresses <n> bytes into <out> (deflateInit2 with the gzip
 * wrapper); returns the compressed size. */
static size_t gzip(const char *p, size_t n, unsigned char *out, size_t cap,
                   bool gz)
{
    z_stream z;

    memset(&z, 0, sizeof(z));
    assert_int_equal(deflateInit2(&z, 9, Z_DEFLATED, gz ? 16 + 15 : 15, 8,
                                  Z_DEFAULT_STRATEGY),
                     Z_OK);
    z.next_in = (Bytef *)(uintptr_t)p;
    z.avail_in = (uInt)n;
    z.next_out = out;
    z.avail_out = (uInt)cap;
    assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
    deflateEnd(&z);
    return cap - z.avail_out;
}

static void test_inflate_caps_output(void **state)
{
    static char plain[200000];
    static unsigned char packed[200000];
    struct sl_buf out;
    size_t n;

    (void)state;
    memset(plain, 'x', sizeof(plain));
    sl_buf_init(&out, 0);
    n = gzip(plain, sizeof(plain), packed, sizeof(packed), true);
    assert_true(n < 2000); /* a small bomb */
    assert_int_equal(sl_http_inflate((char *)packed, n, sizeof(plain), &out),
                     SL_OK);
    assert_int_equal(out.len, sizeof(plain));
    assert_int_equal(memcmp(out.data, plain, out.len), 0);
    /* one byte over the cap */
    assert_int_equal(
        sl_http_inflate((char *)packed, n, sizeof(plain) - 1, &out), SL_ELIMIT);
    assert_true(out.cap <= 2 * (sizeof(plain) + 1)); /* bounded */
    /* zlib (Content-Encoding: deflate) */
    n = gzip("{\"a\":1}", 7, packed, sizeof(packed), false);
    assert_int_equal(sl_http_inflate((char *)packed, n, 1024, &out), SL_OK);
    assert_int_equal(out.len, 7);
    assert_memory_equal(out.data, "{\"a\":1}", 7);
    /* truncated and corrupt */
    n = gzip(plain, 5000, packed, sizeof(packed), true);
    assert_int_equal(sl_http_inflate((char *)packed, n / 2, 1 << 20, &out),
                     SL_EPARSE);
    assert_int_equal(sl_http_inflate("not gzip", 8, 1 << 20, &out), SL_EPARSE);
    sl_buf_fini(&out);
}

static int hec(const char *env, const struct sl_strlist *idx, char *out,
               size_t outlen, int64_t *ts)
{
    struct sl_arena a;
    struct sl_buf b;
    int rc;

    sl_arena_init(&a, 4096, 0);
    sl_buf_init(&b, 0);
    rc = sl_http_hec_event(&a, env, strlen(env), idx, &b, ts);
    snprintf(out, outlen, "%s", b.data != NULL ? b.data : "");
    sl_buf_fini(&b);
    sl_arena_fini(&a);
    return rc;
}

static void test_hec_mapping(void **state)
{
    char out[512];
    int64_t ts = -1;

    (void)state;
    /* protocols.md 2.6, first event */
    assert_int_equal(
        hec("{\"time\":1795236000.123,\"host\":\"web01\",\"source\":"
            "\"/var/log/app.log\",\"sourcetype\":\"app:json\",\"index\":"
            "\"main\",\"event\":{\"msg\":\"GET /health 200\",\"status\":200},"
            "\"fields\":{\"env\":\"prod\",\"dc\":[\"eu1\",\"eu2\"]}}",
            NULL, out, sizeof(out), &ts),
        0);
    assert_string_equal(out,
                        "{\"msg\":\"GET /health 200\",\"status\":200,"
                        "\"host\":\"web01\",\"source\":\"/var/log/app.log\","
                        "\"sourcetype\":\"app:json\",\"index\":\"main\","
                        "\"fields\":{\"env\":\"prod\",\"dc\":[\"eu1\","
                        "\"eu2\"]}}");
    assert_true(ts == INT64_C(1795236000123000000));
    /* a string event; the event's own keys win over metadata */
    assert_int_equal(hec("{\"time\":\"1795236001\",\"host\":\"web01\","
                         "\"event\":\"plain text line\"}",
                         NULL, out, sizeof(out), &ts),
                     0);
    assert_string_equal(out,
                        "{\"event\":\"plain text line\",\"host\":\"web01\"}");
    assert_true(ts == INT64_C(1795236001) * SL_NS_PER_S);
    assert_int_equal(hec("{\"host\":\"a\",\"event\":{\"host\":\"b\"}}", NULL,
                         out, sizeof(out), &ts),
                     0);
    assert_string_equal(out, "{\"host\":\"b\"}");
    assert_int_equal(ts, 0);
}

static void test_hec_codes(void **state)
{
    char *allowed[] = { (char *)"main" };
    struct sl_strlist idx = { .n = 1, .v = allowed };
    char out[256];
    int64_t ts;

    (void)state;
    assert_int_equal(hec("{\"time\":1}", NULL, out, sizeof(out), &ts), 12);
    assert_int_equal(hec("{\"event\":\"\"}", NULL, out, sizeof(out), &ts), 13);
    assert_int_equal(hec("{\"event\":null}", NULL, out, sizeof(out), &ts), 13);
    assert_int_equal(hec("[1]", NULL, out, sizeof(out), &ts), 6);
    assert_int_equal(hec("{\"event\":", NULL, out, sizeof(out), &ts), 6);
    assert_int_equal(
        hec("{\"event\":1,\"time\":\"x\"}", NULL, out, sizeof(out), &ts), 6);
    assert_int_equal(hec("{\"event\":1,\"fields\":{\"a\":{\"b\":1}}}", NULL,
                         out, sizeof(out), &ts),
                     15);
    assert_int_equal(
        hec("{\"event\":1,\"index\":\"other\"}", &idx, out, sizeof(out), &ts),
        7);
    assert_int_equal(
        hec("{\"event\":1,\"index\":\"main\"}", &idx, out, sizeof(out), &ts),
        0);
    assert_string_equal(out, "{\"event\":1,\"index\":\"main\"}");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_split_object_and_ndjson),
        cmocka_unit_test(test_split_array),
        cmocka_unit_test(test_split_errors_say_where),
        cmocka_unit_test(test_inflate_caps_output),
        cmocka_unit_test(test_hec_mapping),
        cmocka_unit_test(test_hec_codes),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
