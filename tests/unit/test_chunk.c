/*
 * test_chunk.c - chunk frames: append, sealing size, iteration, damage.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "chunk.h"
#include "sluice/error.h"
#include "sluice/mem.h"
#include "sluice/banned.h"

static void test_chunk_roundtrip(void **state)
{
    struct sl_chunk *c = sl_chunk_create(sl_str_cstr("app.x"), 1 << 20);
    char body[64];
    size_t off = 0, i;
    int64_t ts;
    struct sl_str b;

    (void)state;
    assert_non_null(c);
    assert_string_equal(c->tag, "app.x");
    for (i = 0; i < 1000; i++) {
        snprintf(body, sizeof(body), "{\"n\":%zu}", i);
        assert_int_equal(sl_chunk_append(c, (int64_t)i * 1000, sl_str_cstr(body)),
                         SL_OK);
    }
    assert_int_equal(c->records, 1000);
    for (i = 0; i < 1000; i++) {
        assert_true(sl_chunk_next(c, &off, &ts, &b));
        snprintf(body, sizeof(body), "{\"n\":%zu}", i);
        assert_int_equal(ts, (int64_t)i * 1000);
        assert_int_equal(b.len, strlen(body));
        assert_memory_equal(b.ptr, body, b.len);
    }
    assert_false(sl_chunk_next(c, &off, &ts, &b));
    assert_int_equal(off, c->len);
    sl_chunk_destroy(c);
}

static void test_chunk_sealing_size(void **state)
{
    struct sl_chunk *c = sl_chunk_create(sl_str_cstr("t"), 100);
    const char *rec = "{\"0123456789\":\"0123456789\"}"; /* 27 bytes */

    (void)state;
    /* 16 + 27 = 43 per frame: two fit in 100, the third does not. */
    assert_int_equal(sl_chunk_append(c, 1, sl_str_cstr(rec)), SL_OK);
    assert_int_equal(sl_chunk_append(c, 2, sl_str_cstr(rec)), SL_OK);
    assert_int_equal(sl_chunk_append(c, 3, sl_str_cstr(rec)), SL_ELIMIT);
    assert_int_equal(c->records, 2);
    assert_int_equal(c->len, 86);
    assert_int_equal(c->body_bytes, 54);
    sl_chunk_destroy(c);

    /* A single record bigger than max is accepted into an empty chunk. */
    c = sl_chunk_create(sl_str_cstr("t"), 10);
    assert_int_equal(sl_chunk_append(c, 1, sl_str_cstr(rec)), SL_OK);
    assert_int_equal(sl_chunk_append(c, 1, sl_str_cstr(rec)), SL_ELIMIT);
    sl_chunk_destroy(c);
}

static void test_chunk_damaged_frame(void **state)
{
    struct sl_chunk *c = sl_chunk_create(sl_str_cstr("t"), 4096);
    uint32_t bad = 100000;
    size_t off = 0;
    int64_t ts;
    struct sl_str b;

    (void)state;
    assert_int_equal(sl_chunk_append(c, 1, sl_str_cstr("{}")), SL_OK);
    assert_int_equal(sl_chunk_append(c, 2, sl_str_cstr("{\"a\":1}")), SL_OK);
    /* Corrupt the second frame's length: iteration stops, never reads
     * past the end. */
    memcpy(c->data + SL_CHUNK_FRAME_HDR + 2, &bad, 4);
    assert_true(sl_chunk_next(c, &off, &ts, &b));
    assert_false(sl_chunk_next(c, &off, &ts, &b));
    sl_chunk_destroy(c);
}

static void test_chunk_oom(void **state)
{
    long n;

    (void)state;
    for (n = 0; n < 6; n++) {
        struct sl_chunk *c;

        sl_mem_fail_after(n);
        c = sl_chunk_create(sl_str_cstr("tag"), 1 << 20);
        if (c != NULL) {
            int rc = sl_chunk_append(c, 1, sl_str_cstr("{}"));

            assert_true(rc == SL_OK || rc == SL_ENOMEM);
            assert_int_equal(c->records, rc == SL_OK ? 1 : 0);
        }
        sl_mem_fail_after(-1);
        sl_chunk_destroy(c);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_chunk_roundtrip),
        cmocka_unit_test(test_chunk_sealing_size),
        cmocka_unit_test(test_chunk_damaged_frame),
        cmocka_unit_test(test_chunk_oom),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
