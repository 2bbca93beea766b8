/*
 * test_buf.c - sl_buf, sl_arena, allocator wrappers, error records and the
 * string map.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <unistd.h>

#include "util.h"
#include "sluice/arena.h"
#include "sluice/buf.h"
#include "sluice/error.h"
#include "sluice/mem.h"
#include "sluice/banned.h"

static void test_buf_append_and_cap(void **state)
{
    struct sl_buf b;

    (void)state;
    sl_buf_init(&b, 10);
    assert_int_equal(sl_buf_append(&b, "hello", 5), SL_OK);
    assert_int_equal(sl_buf_printf(&b, "%d", 1234), SL_OK);
    assert_string_equal(b.data, "hello1234");
    /* Past the cap: refused, and the contents stay as they were. */
    assert_int_equal(sl_buf_append(&b, "xy", 2), SL_ELIMIT);
    assert_string_equal(b.data, "hello1234");
    assert_int_equal(b.len, 9);
    assert_int_equal(sl_buf_putc(&b, '!'), SL_OK);
    assert_int_equal(sl_buf_putc(&b, '!'), SL_ELIMIT);
    sl_buf_consume(&b, 5);
    assert_string_equal(b.data, "1234!");
    sl_buf_fini(&b);
}

static void test_buf_oom_keeps_data(void **state)
{
    struct sl_buf b;
    char big[4096];

    (void)state;
    memset(big, 'a', sizeof(big));
    sl_buf_init(&b, 0);
    assert_int_equal(sl_buf_append(&b, "keep", 4), SL_OK);
    sl_mem_fail_after(0);
    assert_int_equal(sl_buf_append(&b, big, sizeof(big)), SL_ENOMEM);
    sl_mem_fail_after(-1);
    assert_string_equal(b.data, "keep");
    sl_buf_fini(&b);
}

static void test_buf_take(void **state)
{
    struct sl_buf b;
    char *s;

    (void)state;
    sl_buf_init(&b, 0);
    s = sl_buf_take(&b);
    assert_non_null(s);
    assert_string_equal(s, "");
    sl_free(s);
    sl_buf_append_str(&b, "x");
    s = sl_buf_take(&b);
    assert_string_equal(s, "x");
    assert_null(b.data);
    sl_free(s);
}

static void test_arena(void **state)
{
    struct sl_arena a;
    char *p, *q;
    size_t i;

    (void)state;
    sl_arena_init(&a, 128, 0);
    p = sl_arena_strndup(&a, "abc", 3);
    assert_string_equal(p, "abc");
    assert_int_equal((uintptr_t)p % 16, 0);
    /* In-place growth of the last allocation. */
    q = sl_arena_realloc(&a, p, 4, 8);
    assert_ptr_equal(p, q);
    for (i = 0; i < 100; i++) {
        assert_non_null(sl_arena_alloc(&a, 100));
    }
    assert_true(a.total > 128);
    sl_arena_reset(&a);
    assert_true(a.total >= 128 && a.total < 256);
    assert_non_null(sl_arena_calloc(&a, 64));
    sl_arena_fini(&a);
}

static void test_arena_max(void **state)
{
    struct sl_arena a;

    (void)state;
    sl_arena_init(&a, 256, 512);
    assert_non_null(sl_arena_alloc(&a, 200));
    assert_non_null(sl_arena_alloc(&a, 200));
    assert_null(sl_arena_alloc(&a, 200));
    sl_arena_fini(&a);
}

static void test_mem_accounting(void **state)
{
    uint64_t before = sl_mem_in_use();
    void *p;

    (void)state;
    p = sl_malloc(1000);
    assert_true(sl_mem_in_use() >= before + 1000);
    sl_free(p);
    assert_int_equal(sl_mem_in_use(), before);
    sl_mem_fail_after(1);
    p = sl_malloc(1);
    assert_non_null(p);
    assert_null(sl_malloc(1));
    assert_int_equal(sl_mem_failures(), 1);
    sl_mem_fail_after(-1);
    sl_free(p);
}

static void test_errors(void **state)
{
    struct sl_err e;
    struct sl_errlist l;
    char out[1024];
    int i;

    (void)state;
    assert_int_equal(sl_err_set(&e, SL_EINVAL, "bad %s", "thing"), SL_EINVAL);
    sl_err_at(&e, "a.yaml", 3, 7, "port");
    sl_err_format(&e, out, sizeof(out));
    assert_string_equal(out, "a.yaml:3:7: port: bad thing");
    assert_string_equal(sl_errname(SL_ENOMEM), "SL_ENOMEM");
    assert_string_equal(sl_errname(-2), "ENOENT");
    assert_string_equal(sl_strerror(SL_ELIMIT), "limit reached");
    sl_errlist_init(&l);
    for (i = 0; i < SL_ERRLIST_MAX + 5; i++) {
        sl_errlist_add(&l, "f", 1, 1, NULL, "e%d", i);
    }
    assert_int_equal(l.n, SL_ERRLIST_MAX);
    assert_int_equal(sl_errlist_count(&l), SL_ERRLIST_MAX + 5);
}

static void test_strmap(void **state)
{
    struct sl_strmap m;
    char key[32];
    size_t i, it = 0, seen = 0;
    struct sl_str k;
    void *v;

    (void)state;
    sl_strmap_init(&m);
    for (i = 0; i < 1000; i++) {
        snprintf(key, sizeof(key), "tag.%zu", i);
        assert_int_equal(sl_strmap_put(&m, sl_str_cstr(key), (void *)(i + 1)),
                         SL_OK);
    }
    assert_int_equal(m.n, 1000);
    for (i = 0; i < 1000; i += 2) {
        snprintf(key, sizeof(key), "tag.%zu", i);
        assert_ptr_equal(sl_strmap_del(&m, sl_str_cstr(key)), (void *)(i + 1));
    }
    for (i = 0; i < 1000; i++) {
        snprintf(key, sizeof(key), "tag.%zu", i);
        v = sl_strmap_get(&m, sl_str_cstr(key));
        assert_ptr_equal(v, i % 2 ? (void *)(i + 1) : NULL);
    }
    while (sl_strmap_next(&m, &it, &k, &v)) {
        seen++;
    }
    assert_int_equal(seen, 500);
    sl_strmap_fini(&m, NULL);
}

static void test_strmap_oom(void **state)
{
    struct sl_strmap m;
    char key[32];
    long n;
    size_t i;

    (void)state;
    for (n = 0; n < 10; n++) {
        sl_strmap_init(&m);
        sl_mem_fail_after(n);
        for (i = 0; i < 40; i++) {
            snprintf(key, sizeof(key), "k%zu", i);
            if (sl_strmap_put(&m, sl_str_cstr(key), &m) != SL_OK) {
                break;
            }
        }
        sl_mem_fail_after(-1);
        for (i = 0; i < 40; i++) {
            snprintf(key, sizeof(key), "k%zu", i);
            if (sl_strmap_get(&m, sl_str_cstr(key)) == NULL) {
                break;
            }
        }
        sl_strmap_fini(&m, NULL);
    }
}

static void test_file_atomic(void **state)
{
    char path[] = "/tmp/sluice-test-XXXXXX";
    char file[64];
    char *data = NULL;
    size_t len = 0;
    int fd = mkstemp(path);

    (void)state;
    assert_true(fd >= 0);
    close(fd);
    unlink(path);
    assert_int_equal(sl_mkdir_p(path, 0750), SL_OK);
    snprintf(file, sizeof(file), "%s/a/b", path);
    assert_int_equal(sl_mkdir_p(file, 0750), SL_OK);
    snprintf(file, sizeof(file), "%s/a/b/f", path);
    assert_int_equal(sl_file_write_atomic(file, "hello", 5, 0640), SL_OK);
    assert_int_equal(sl_file_read_all(file, 100, &data, &len), SL_OK);
    assert_int_equal(len, 5);
    assert_string_equal(data, "hello");
    sl_free(data);
    assert_int_equal(sl_file_read_all(file, 3, &data, &len), SL_ELIMIT);
    unlink(file);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_buf_append_and_cap),
        cmocka_unit_test(test_buf_oom_keeps_data),
        cmocka_unit_test(test_buf_take),
        cmocka_unit_test(test_arena),
        cmocka_unit_test(test_arena_max),
        cmocka_unit_test(test_mem_accounting),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_strmap),
        cmocka_unit_test(test_strmap_oom),
        cmocka_unit_test(test_file_atomic),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
