/*
 * test_json.c - the JSON checker, member location, DOM, serializer,
 * constructors, accessors and the record helpers.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sluice/json.h"
#include "sluice/mem.h"
#include "sluice/record.h"
#include "sluice/banned.h"

#define TYPICAL                                                                \
    "{\"ts\":\"2026-11-21T06:51:00.123Z\",\"level\":\"info\",\"service\":"     \
    "\"checkout\",\"host\":\"web-12\",\"trace_id\":"                           \
    "\"4bf92f3577b34da6a3ce929d0e0e4736\",\"msg\":\"request completed\","      \
    "\"status\":200,\"duration_ms\":12.5,\"path\":\"/api/v1/cart/items\","     \
    "\"user_id\":48151623}"

static struct sl_json_checker *ck;
static struct sl_arena arena;
static struct sl_buf out;

static int setup(void **state)
{
    (void)state;
    ck = sl_json_checker_create();
    sl_arena_init(&arena, 0, 0);
    sl_buf_init(&out, 0);
    return ck == NULL ? -1 : 0;
}

static int teardown(void **state)
{
    (void)state;
    sl_json_checker_destroy(ck);
    sl_arena_fini(&arena);
    sl_buf_fini(&out);
    return 0;
}

static enum sl_json_check_result check(const char *s)
{
    return sl_json_check(ck, s, strlen(s), NULL);
}

/* Parses <in> and returns its compact serialization (in <out>). */
static const char *roundtrip(const char *in)
{
    struct sl_json *v = NULL;
    struct sl_err err;
    int rc;

    sl_arena_reset(&arena);
    rc = sl_json_parse(&arena, in, strlen(in), &v, &err);
    if (rc != SL_OK) {
        fail_msg("parse of %s failed: %s", in, err.msg);
    }
    sl_buf_reset(&out);
    assert_int_equal(sl_json_serialize(v, &out), SL_OK);
    return out.data;
}

/* A string of <depth> '[' and then as many ']'. */
static char *nested(size_t depth)
{
    char *s = sl_malloc(2 * depth + 1);

    memset(s, '[', depth);
    memset(s + depth, ']', depth);
    s[2 * depth] = '\0';
    return s;
}

static void test_check_results(void **state)
{
    (void)state;
    assert_int_equal(check(TYPICAL), SL_JSON_CHECK_OBJECT);
    assert_int_equal(check("{\"a\" :  1,\"b\":[1 , 2]}"), SL_JSON_CHECK_OBJECT);
    assert_int_equal(check("{}"), SL_JSON_CHECK_OBJECT);
    assert_int_equal(check("{\n  \"a\": 1\n}"), SL_JSON_CHECK_COMPACT);
    assert_int_equal(check("{\"a\":1,\r\"b\":2}"), SL_JSON_CHECK_COMPACT);
    assert_int_equal(check(" {\"a\":1}"), SL_JSON_CHECK_COMPACT);
    /* yajl takes \f and \v as whitespace; JSON does not: re-serialize. */
    assert_int_equal(check("{\"a\":\f1}"), SL_JSON_CHECK_COMPACT);
    assert_int_equal(check("{\"abcdefghijkl\":\v1}"), SL_JSON_CHECK_COMPACT);
    assert_int_equal(check("{\"a\":1} "), SL_JSON_CHECK_COMPACT);
    assert_int_equal(check("[1,2]"), SL_JSON_CHECK_NOT_OBJECT);
    assert_int_equal(check("123"), SL_JSON_CHECK_NOT_OBJECT);
    assert_int_equal(check(" \"s\""), SL_JSON_CHECK_NOT_OBJECT);
    assert_int_equal(check("null"), SL_JSON_CHECK_NOT_OBJECT);
    assert_int_equal(check(""), SL_JSON_CHECK_INVALID);
    assert_int_equal(check("   "), SL_JSON_CHECK_INVALID);
    assert_int_equal(check("{\"a\":1"), SL_JSON_CHECK_INVALID);
    assert_int_equal(check("{\"a\":1}{}"), SL_JSON_CHECK_INVALID);
    assert_int_equal(check("{\"a\":1} x"), SL_JSON_CHECK_INVALID);
    assert_int_equal(check("{'a':1}"), SL_JSON_CHECK_INVALID);
    assert_int_equal(check("{\"a\":01}"), SL_JSON_CHECK_INVALID);
    assert_int_equal(check("{\"a\":\"x\ty\"}"), SL_JSON_CHECK_INVALID);
    assert_int_equal(check("{\"a\":1,}"), SL_JSON_CHECK_INVALID);
    assert_int_equal(check("{\"a\":1 /* c */}"), SL_JSON_CHECK_INVALID);
    /* Big numbers are valid JSON; yajl must not range-check them here. */
    assert_int_equal(check("{\"n\":123456789012345678901234567890}"),
                     SL_JSON_CHECK_OBJECT);
}

static void test_check_error_offset(void **state)
{
    struct sl_err err;
    const char *s = "{\"a\":1,\"b\":}";

    (void)state;
    memset(&err, 0, sizeof(err));
    assert_int_equal(sl_json_check(ck, s, strlen(s), &err),
                     SL_JSON_CHECK_INVALID);
    assert_int_equal(err.rc, SL_EPARSE);
    assert_non_null(strstr(err.msg, "at byte 12"));
}

static void test_check_utf8(void **state)
{
    (void)state;
    assert_int_equal(check("{\"s\":\"caf\xc3\xa9 \xf0\x9f\x98\x80\"}"),
                     SL_JSON_CHECK_OBJECT);
    assert_int_equal(check("{\"s\":\"\xff\"}"), SL_JSON_CHECK_INVALID);
    assert_int_equal(check("{\"s\":\"\xc3\"}"), SL_JSON_CHECK_INVALID);
    assert_int_equal(check("{\"\xe2\x82\":1}"), SL_JSON_CHECK_INVALID);
}

static void test_check_depth(void **state)
{
    struct sl_err err;
    char *s;

    (void)state;
    s = nested(512);
    assert_int_equal(check(s), SL_JSON_CHECK_NOT_OBJECT);
    sl_free(s);
    s = nested(513);
    memset(&err, 0, sizeof(err));
    assert_int_equal(sl_json_check(ck, s, strlen(s), &err),
                     SL_JSON_CHECK_INVALID);
    assert_non_null(strstr(err.msg, "deeper than 512"));
    sl_free(s);
    s = nested(200000);
    assert_int_equal(check(s), SL_JSON_CHECK_INVALID);
    sl_free(s);
}

static void test_check_no_alloc_steady(void **state)
{
    int i;

    (void)state;
    assert_int_equal(check(TYPICAL), SL_JSON_CHECK_OBJECT);
    /* Warm: from now on any allocation would fail the check. */
    sl_mem_fail_after(0);
    for (i = 0; i < 100; i++) {
        assert_int_equal(check(TYPICAL), SL_JSON_CHECK_OBJECT);
    }
    assert_int_equal(sl_mem_failures(), 0);
    sl_mem_fail_after(-1);
}

static void find(const char *s, const char *key, struct sl_json_member_loc *loc)
{
    assert_int_equal(
        sl_json_check_find(ck, s, strlen(s), sl_str_cstr(key), loc, NULL),
        SL_JSON_CHECK_OBJECT);
}

/* Cuts the member out of <s> into <out>. */
static const char *cut(const char *s, const struct sl_json_member_loc *loc)
{
    sl_buf_reset(&out);
    sl_buf_append(&out, s, loc->member_start);
    sl_buf_append_str(&out, s + loc->member_end);
    return out.data;
}

static void test_find_member(void **state)
{
    struct sl_json_member_loc loc;
    const char *s = "{\"a\":1,\"t\":\"x\\\"}y\",\"b\":{\"t\":[1,\"]\"]}}";

    (void)state;
    find(s, "t", &loc);
    assert_int_equal(loc.val_type, SL_JSON_STRING);
    assert_int_equal(loc.val.len, 7);
    assert_memory_equal(loc.val.ptr, "\"x\\\"}y\"", 7);
    assert_string_equal(cut(s, &loc), "{\"a\":1,\"b\":{\"t\":[1,\"]\"]}}");
    find(s, "b", &loc);
    assert_int_equal(loc.val_type, SL_JSON_OBJECT);
    assert_string_equal(cut(s, &loc), "{\"a\":1,\"t\":\"x\\\"}y\"}");
    find(s, "a", &loc);
    assert_int_equal(loc.val_type, SL_JSON_NUMBER);
    assert_memory_equal(loc.val.ptr, "1", 1);
    find(s, "zz", &loc);
    assert_null(loc.val.ptr);
    /* \f between tokens (found by fuzz_json). */
    assert_int_equal(sl_json_check_find(ck, "{\"b\":1,\"a\":\f\f2}", 15,
                                        SL_STR_LIT("a"), &loc, NULL),
                     SL_JSON_CHECK_COMPACT);
    assert_memory_equal(loc.val.ptr, "2", 1);
    find(s, "zz", &loc);
    assert_null(loc.val.ptr);
    find("{\"only\":true}", "only", &loc);
    assert_int_equal(loc.val_type, SL_JSON_BOOL);
    assert_string_equal(cut("{\"only\":true}", &loc), "{}");
    find("{ \"a\" : null , \"t\" : 5 }", "t", &loc);
    assert_string_equal(cut("{ \"a\" : null , \"t\" : 5 }", &loc),
                        "{ \"a\" : null  }");
    /* An escaped key still matches its decoded name. */
    find("{\"\\u0074s\":\"v\",\"x\":1}", "ts", &loc);
    assert_memory_equal(loc.val.ptr, "\"v\"", 3);
    /* A backslash run before a quote: "\\" ends the string. */
    find("{\"k\":\"a\\\\\",\"ts\":2}", "ts", &loc);
    assert_memory_equal(loc.val.ptr, "2", 1);
}

static void test_find_not_object(void **state)
{
    struct sl_json_member_loc loc;

    (void)state;
    assert_int_equal(
        sl_json_check_find(ck, "[1]", 3, SL_STR_LIT("a"), &loc, NULL),
        SL_JSON_CHECK_NOT_OBJECT);
    assert_null(loc.val.ptr);
    assert_int_equal(
        sl_json_check_find(ck, "{\n\"a\":1}", 8, SL_STR_LIT("a"), &loc, NULL),
        SL_JSON_CHECK_COMPACT);
    assert_memory_equal(loc.val.ptr, "1", 1);
}

static void test_roundtrip_escapes(void **state)
{
    (void)state;
    assert_string_equal(
        roundtrip("{\"s\":\"a\\\"b\\\\c\\/d\\b\\f\\n\\r\\t\\u0001\\u00e9"
                  "\\ud83d\\ude00\\u20ac\"}"),
        "{\"s\":\"a\\\"b\\\\c/d\\b\\f\\n\\r\\t\\u0001\xc3\xa9"
        "\xf0\x9f\x98\x80\xe2\x82\xac\"}");
    assert_string_equal(roundtrip("{\"k\\u0000\":\"\\u001f\\u007f\"}"),
                        "{\"k\\u0000\":\"\\u001f\x7f\"}");
    assert_string_equal(roundtrip(" {\n \"a\" : [ 1 , { } , [ ] ] ,\"b\":"
                                  "null,\"c\":true,\"d\":false}\n"),
                        "{\"a\":[1,{},[]],\"b\":null,\"c\":true,"
                        "\"d\":false}");
    assert_string_equal(roundtrip(TYPICAL), TYPICAL);
    assert_string_equal(roundtrip("{\"a\":1,\"a\":2}"), "{\"a\":1,\"a\":2}");
}

static void test_big_numbers(void **state)
{
    const char *s = "{\"n\":123456789012345678901234567890,\"f\":-1.5E+300,"
                    "\"z\":-0,\"e\":1e-999}";

    (void)state;
    assert_string_equal(roundtrip(s), s);
}

static void test_serialize_invalid_utf8(void **state)
{
    struct sl_json *v;

    (void)state;
    sl_arena_reset(&arena);
    v = sl_json_new_string(&arena, "a\xff\xc3(b\xed\xa0\x80\xc3\xa9", 10);
    sl_buf_reset(&out);
    assert_int_equal(sl_json_serialize(v, &out), SL_OK);
    assert_string_equal(out.data, "\"a\\\\xff\\\\xc3(b\\\\xed\\\\xa0\\\\x80"
                                  "\xc3\xa9\"");
    /* And the output is valid JSON again. */
    assert_int_equal(sl_json_check(ck, out.data, out.len, NULL),
                     SL_JSON_CHECK_NOT_OBJECT);
}

static void test_parse_errors(void **state)
{
    struct sl_json *v;
    struct sl_err err;
    char *s;

    (void)state;
    sl_arena_reset(&arena);
    assert_int_equal(sl_json_parse(&arena, "{\"a\":1} 2", 9, &v, &err),
                     SL_EPARSE);
    assert_null(v);
    assert_int_equal(sl_json_parse(&arena, "", 0, &v, &err), SL_EPARSE);
    assert_int_equal(sl_json_parse(&arena, "{\"a\":\"\xfe\"}", 9, &v, &err),
                     SL_EPARSE);
    s = nested(513);
    assert_int_equal(sl_json_parse(&arena, s, strlen(s), &v, &err), SL_EPARSE);
    assert_non_null(strstr(err.msg, "deeper than 512"));
    sl_free(s);
    s = nested(512);
    assert_int_equal(sl_json_parse(&arena, s, strlen(s), &v, &err), SL_OK);
    sl_buf_reset(&out);
    assert_int_equal(sl_json_serialize(v, &out), SL_OK);
    assert_string_equal(out.data, s);
    sl_free(s);
    s = nested(100000);
    assert_int_equal(sl_json_parse(&arena, s, strlen(s), &v, &err), SL_EPARSE);
    sl_free(s);
    assert_int_equal(sl_json_parse(&arena, "3.5", 3, &v, &err), SL_OK);
    assert_int_equal(v->type, SL_JSON_NUMBER);
}

static void test_parse_oom(void **state)
{
    long k;
    int rc;
    struct sl_arena a;
    struct sl_json *v;

    (void)state;
    for (k = 0; k < 20; k++) {
        sl_arena_init(&a, 256, 0);
        sl_mem_fail_after(k);
        rc = sl_json_parse(&a, TYPICAL, strlen(TYPICAL), &v, NULL);
        sl_mem_fail_after(-1);
        assert_true(rc == SL_OK || rc == SL_ENOMEM);
        if (rc == SL_OK) {
            sl_buf_reset(&out);
            sl_json_serialize(v, &out);
            assert_string_equal(out.data, TYPICAL);
        }
        sl_arena_fini(&a);
    }
    /* A capped arena gives ENOMEM, not a crash. */
    sl_arena_init(&a, 256, 512);
    assert_int_equal(sl_json_parse(&a, TYPICAL, strlen(TYPICAL), &v, NULL),
                     SL_ENOMEM);
    sl_arena_fini(&a);
}

static void test_object_ops(void **state)
{
    struct sl_json *o, *a;
    int i;

    (void)state;
    sl_arena_reset(&arena);
    o = sl_json_new_object(&arena);
    assert_int_equal(
        sl_json_obj_set(&arena, o, SL_STR_LIT("a"), sl_json_new_i64(&arena, 1)),
        SL_OK);
    assert_int_equal(sl_json_obj_append(&arena, o, SL_STR_LIT("b"),
                                        sl_json_new_null(&arena)),
                     SL_OK);
    assert_int_equal(sl_json_obj_append(&arena, o, SL_STR_LIT("a"),
                                        sl_json_new_bool(&arena, true)),
                     SL_OK);
    assert_int_equal(sl_json_obj_set(&arena, o, SL_STR_LIT("a"),
                                     sl_json_new_string(&arena, "x", 1)),
                     SL_OK);
    a = sl_json_new_array(&arena);
    for (i = 0; i < 20; i++) {
        assert_int_equal(
            sl_json_arr_push(&arena, a, sl_json_new_i64(&arena, i)), SL_OK);
    }
    sl_json_obj_set(&arena, o, SL_STR_LIT("arr"), a);
    assert_ptr_equal(sl_json_obj_get(o, SL_STR_LIT("arr")), a);
    assert_null(sl_json_obj_get(o, SL_STR_LIT("nope")));
    sl_buf_reset(&out);
    sl_json_serialize(o, &out);
    assert_string_equal(out.data, "{\"a\":\"x\",\"b\":null,\"a\":true,\"arr\":"
                                  "[0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,"
                                  "17,18,19]}");
    assert_int_equal(sl_json_obj_remove(o, SL_STR_LIT("a")), 2);
    assert_int_equal(sl_json_obj_remove(o, SL_STR_LIT("a")), 0);
    sl_json_obj_remove_at(o, 1);
    sl_json_obj_remove_at(o, 7); /* out of range: nothing */
    sl_buf_reset(&out);
    sl_json_serialize(o, &out);
    assert_string_equal(out.data, "{\"b\":null}");
    assert_int_equal(sl_json_obj_set(&arena, a, SL_STR_LIT("k"), o), SL_EINVAL);
}

static void test_parsed_object_grows(void **state)
{
    struct sl_json *v;

    (void)state;
    sl_arena_reset(&arena);
    assert_int_equal(sl_json_parse(&arena, "{\"a\":[1]}", 9, &v, NULL), SL_OK);
    assert_int_equal(sl_json_obj_append(&arena, v, SL_STR_LIT("b"),
                                        sl_json_new_i64(&arena, 2)),
                     SL_OK);
    assert_int_equal(sl_json_arr_push(&arena,
                                      sl_json_obj_get(v, SL_STR_LIT("a")),
                                      sl_json_new_i64(&arena, 3)),
                     SL_OK);
    sl_buf_reset(&out);
    sl_json_serialize(v, &out);
    assert_string_equal(out.data, "{\"a\":[1,3],\"b\":2}");
}

static const char *num_text(struct sl_json *v)
{
    assert_non_null(v);
    sl_buf_reset(&out);
    sl_json_serialize(v, &out);
    return out.data;
}

static void test_constructors_numbers(void **state)
{
    int64_t i;
    double d;

    (void)state;
    sl_arena_reset(&arena);
    assert_string_equal(num_text(sl_json_new_double(&arena, 0.1)), "0.1");
    assert_string_equal(num_text(sl_json_new_double(&arena, 12.5)), "12.5");
    assert_string_equal(num_text(sl_json_new_double(&arena, 3.0)), "3");
    assert_string_equal(num_text(sl_json_new_double(&arena, 1e300)), "1e+300");
    assert_string_equal(num_text(sl_json_new_double(&arena, 1.0 / 3)),
                        "0.3333333333333333");
    assert_string_equal(num_text(sl_json_new_double(&arena, NAN)), "null");
    assert_string_equal(num_text(sl_json_new_double(&arena, -INFINITY)),
                        "null");
    assert_string_equal(num_text(sl_json_new_i64(&arena, INT64_MIN)),
                        "-9223372036854775808");
    assert_true(sl_json_get_i64(sl_json_new_i64(&arena, INT64_MAX), &i));
    assert_true(i == INT64_MAX);
    assert_true(
        sl_json_get_i64(sl_json_new_number(&arena, SL_STR_LIT("1e3")), &i));
    assert_int_equal(i, 1000);
    assert_false(
        sl_json_get_i64(sl_json_new_number(&arena, SL_STR_LIT("1.5")), &i));
    assert_false(sl_json_get_i64(
        sl_json_new_number(&arena, SL_STR_LIT("99999999999999999999")), &i));
    assert_false(sl_json_get_i64(sl_json_new_string(&arena, "1", 1), &i));
    assert_true(sl_json_get_double(
        sl_json_new_number(&arena, SL_STR_LIT("-2.5e-1")), &d));
    assert_true(d == -0.25);
    assert_false(sl_json_get_double(
        sl_json_new_number(&arena, SL_STR_LIT("1e999")), &d));
}

static void test_scalar_text(void **state)
{
    struct sl_buf scratch;
    struct sl_str s;
    struct sl_json *v;

    (void)state;
    sl_buf_init(&scratch, 0);
    sl_arena_reset(&arena);
    assert_true(sl_json_scalar_text(sl_json_new_string(&arena, "a\"b", 3),
                                    &scratch, &s));
    assert_true(sl_str_eq_cstr(s, "a\"b"));
    assert_true(
        sl_json_scalar_text(sl_json_new_bool(&arena, false), &scratch, &s));
    assert_true(sl_str_eq_cstr(s, "false"));
    assert_true(sl_json_scalar_text(sl_json_new_null(&arena), &scratch, &s));
    assert_true(sl_str_eq_cstr(s, "null"));
    assert_true(sl_json_scalar_text(
        sl_json_new_number(&arena, SL_STR_LIT("1.50")), &scratch, &s));
    assert_true(sl_str_eq_cstr(s, "1.50"));
    sl_json_parse(&arena, "{\"a\" : [1]}", 11, &v, NULL);
    assert_true(sl_json_scalar_text(v, &scratch, &s));
    assert_true(sl_str_eq_cstr(s, "{\"a\":[1]}"));
    sl_buf_fini(&scratch);
}

static void test_unescape(void **state)
{
    struct sl_buf b;

    (void)state;
    sl_buf_init(&b, 0);
    assert_int_equal(sl_json_unescape(&b, SL_STR_LIT("\"a\\n\\u00e9\\ud83d"
                                                     "\\ude00\\\"\"")),
                     SL_OK);
    assert_string_equal(b.data, "a\n\xc3\xa9\xf0\x9f\x98\x80\"");
    sl_buf_reset(&b);
    /* Lone surrogates become U+FFFD. */
    assert_int_equal(sl_json_unescape(&b, SL_STR_LIT("\"\\ud800x\\udc00\"")),
                     SL_OK);
    assert_string_equal(b.data, "\xef\xbf\xbdx\xef\xbf\xbd");
    sl_buf_reset(&b);
    assert_int_equal(sl_json_unescape(&b, SL_STR_LIT("\"\"")), SL_OK);
    assert_int_equal(b.len, 0);
    assert_int_equal(sl_json_unescape(&b, SL_STR_LIT("\"\\q\"")), SL_EPARSE);
    assert_int_equal(sl_json_unescape(&b, SL_STR_LIT("\"\\u12\"")), SL_EPARSE);
    assert_int_equal(sl_json_unescape(&b, SL_STR_LIT("\"\\\"")), SL_EPARSE);
    assert_int_equal(sl_json_unescape(&b, SL_STR_LIT("abc")), SL_EPARSE);
    sl_buf_fini(&b);
}

static void test_clone(void **state)
{
    struct sl_json *v, *c;
    struct sl_arena a2;
    char first[256];

    (void)state;
    sl_arena_reset(&arena);
    sl_json_parse(&arena, TYPICAL, strlen(TYPICAL), &v, NULL);
    sl_arena_init(&a2, 0, 0);
    c = sl_json_clone(&a2, v);
    assert_non_null(c);
    sl_arena_reset(&arena); /* the clone must not point into it */
    memset(sl_arena_alloc(&arena, 4096), 0xAA, 4096);
    sl_buf_reset(&out);
    sl_json_serialize(c, &out);
    assert_string_equal(out.data, TYPICAL);
    snprintf(first, sizeof(first), "%s", out.data);
    sl_json_obj_remove(c, SL_STR_LIT("ts"));
    assert_int_equal(c->u.obj.n, 9);
    sl_arena_fini(&a2);
}

static void test_accessor_compile(void **state)
{
    struct sl_accessor acc;
    struct sl_err err;

    (void)state;
    assert_int_equal(sl_accessor_compile(&acc, "a.b", &err), SL_OK);
    assert_int_equal(acc.n, 1);
    assert_true(sl_str_eq_cstr(acc.steps[0].key, "a.b"));
    sl_accessor_fini(&acc);
    assert_int_equal(sl_accessor_compile(&acc, "$a['b'][\"c d\"][12]", &err),
                     SL_OK);
    assert_int_equal(acc.n, 4);
    assert_true(sl_str_eq_cstr(acc.steps[1].key, "b"));
    assert_true(sl_str_eq_cstr(acc.steps[2].key, "c d"));
    assert_true(acc.steps[3].is_index);
    assert_int_equal(acc.steps[3].index, 12);
    sl_accessor_fini(&acc);
    assert_int_equal(sl_accessor_compile(&acc, "$", &err), SL_EINVAL);
    assert_int_equal(sl_accessor_compile(&acc, "$a[", &err), SL_EINVAL);
    assert_int_equal(sl_accessor_compile(&acc, "$a[x]", &err), SL_EINVAL);
    assert_int_equal(sl_accessor_compile(&acc, "$a['b'", &err), SL_EINVAL);
    assert_int_equal(sl_accessor_compile(&acc, "$a['b']x", &err), SL_EINVAL);
    assert_int_equal(sl_accessor_compile(&acc, "", &err), SL_EINVAL);
    assert_int_equal(
        sl_accessor_compile(&acc,
                            "$a[0][0][0][0][0][0][0][0][0][0][0][0][0][0]"
                            "[0][0][0]",
                            &err),
        SL_EINVAL);
    assert_non_null(strstr(err.msg, "deeper"));
}

static void test_accessor_use(void **state)
{
    struct sl_accessor acc;
    struct sl_json *root, *v;
    const char *s = "{\"a\":{\"b\":[{\"c\":1},{\"c\":2}]},\"k\":\"v\"}";

    (void)state;
    sl_arena_reset(&arena);
    assert_int_equal(sl_json_parse(&arena, s, strlen(s), &root, NULL), SL_OK);
    assert_int_equal(sl_accessor_compile(&acc, "$a['b'][1][\"c\"]", NULL),
                     SL_OK);
    v = sl_accessor_get(&acc, root);
    assert_non_null(v);
    assert_memory_equal(v->u.num.ptr, "2", 1);
    assert_int_equal(
        sl_accessor_set(&acc, &arena, root, sl_json_new_i64(&arena, 5)), SL_OK);
    assert_true(sl_accessor_remove(&acc, root));
    assert_false(sl_accessor_remove(&acc, root));
    assert_null(sl_accessor_get(&acc, root));
    sl_accessor_fini(&acc);

    assert_int_equal(sl_accessor_compile(&acc, "$x['y']['z']", NULL), SL_OK);
    assert_int_equal(
        sl_accessor_set(&acc, &arena, root, sl_json_new_bool(&arena, true)),
        SL_OK);
    sl_accessor_fini(&acc);
    assert_int_equal(sl_accessor_compile(&acc, "$a['b'][9]", NULL), SL_OK);
    assert_int_equal(
        sl_accessor_set(&acc, &arena, root, sl_json_new_null(&arena)),
        SL_ENOTFOUND);
    sl_accessor_fini(&acc);
    assert_int_equal(sl_accessor_compile(&acc, "$k['sub']", NULL), SL_OK);
    assert_int_equal(
        sl_accessor_set(&acc, &arena, root, sl_json_new_null(&arena)),
        SL_ENOTFOUND);
    sl_accessor_fini(&acc);
    assert_int_equal(sl_accessor_compile(&acc, "$a['b'][0]", NULL), SL_OK);
    assert_true(sl_accessor_remove(&acc, root));
    sl_accessor_fini(&acc);
    assert_int_equal(sl_accessor_compile(&acc, "k", NULL), SL_OK);
    assert_true(sl_accessor_remove(&acc, root));
    sl_accessor_fini(&acc);
    sl_buf_reset(&out);
    sl_json_serialize(root, &out);
    assert_string_equal(out.data, "{\"a\":{\"b\":[{}]},\"x\":{\"y\":{\"z\":"
                                  "true}}}");
}

/* Reads a fixture from tests/data/json into <b> (one line per entry). */
static void read_fixture(const char *name, struct sl_buf *b)
{
    const char *src = getenv("SLUICE_SRCDIR");
    char path[1024], chunk[4096];
    FILE *f;
    size_t n;

    snprintf(path, sizeof(path), "%s/tests/data/json/%s",
             src != NULL ? src : ".", name);
    f = fopen(path, "rb");
    if (f == NULL) {
        fail_msg("cannot open %s", path);
    }
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
        sl_buf_append(b, chunk, n);
    }
    fclose(f);
}

static void test_fixture_roundtrip(void **state)
{
    struct sl_buf in, want, got;
    const char *p, *nl;
    struct sl_json *v;

    (void)state;
    sl_buf_init(&in, 0);
    sl_buf_init(&want, 0);
    sl_buf_init(&got, 0);
    read_fixture("escapes_and_surrogates.ndjson", &in);
    read_fixture("escapes_and_surrogates.expected", &want);
    for (p = in.data; p != NULL && *p != '\0'; p = nl + 1) {
        nl = strchr(p, '\n');
        assert_non_null(nl);
        sl_arena_reset(&arena);
        assert_int_equal(sl_json_parse(&arena, p, (size_t)(nl - p), &v, NULL),
                         SL_OK);
        assert_int_equal(sl_json_serialize(v, &got), SL_OK);
        sl_buf_putc(&got, '\n');
    }
    assert_int_equal(got.len, want.len);
    assert_memory_equal(got.data, want.data, want.len);
    sl_buf_fini(&in);
    sl_buf_fini(&want);
    sl_buf_fini(&got);
}

static void test_record(void **state)
{
    struct sl_record r;
    struct sl_json *d;
    char tag[] = "app.one";

    (void)state;
    sl_arena_reset(&arena);
    memset(&r, 0, sizeof(r));
    r.arena = &arena;
    r.body = SL_STR_LIT("{\"a\":1}");
    d = sl_record_dom(&r);
    assert_non_null(d);
    assert_ptr_equal(sl_record_dom(&r), d);
    assert_int_equal(d->u.obj.n, 1);
    assert_int_equal(sl_record_set_tag(&r, sl_str_cstr(tag)), SL_OK);
    tag[0] = 'X';
    assert_true(sl_str_eq_cstr(r.tag, "app.one"));
    sl_record_mark_dirty(&r);
    assert_true(r.dirty);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_check_results),
        cmocka_unit_test(test_check_error_offset),
        cmocka_unit_test(test_check_utf8),
        cmocka_unit_test(test_check_depth),
        cmocka_unit_test(test_check_no_alloc_steady),
        cmocka_unit_test(test_find_member),
        cmocka_unit_test(test_find_not_object),
        cmocka_unit_test(test_roundtrip_escapes),
        cmocka_unit_test(test_big_numbers),
        cmocka_unit_test(test_serialize_invalid_utf8),
        cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_parse_oom),
        cmocka_unit_test(test_object_ops),
        cmocka_unit_test(test_parsed_object_grows),
        cmocka_unit_test(test_constructors_numbers),
        cmocka_unit_test(test_scalar_text),
        cmocka_unit_test(test_unescape),
        cmocka_unit_test(test_clone),
        cmocka_unit_test(test_accessor_compile),
        cmocka_unit_test(test_accessor_use),
        cmocka_unit_test(test_fixture_roundtrip),
        cmocka_unit_test(test_record),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
