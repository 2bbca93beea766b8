/*
 * test_storage.c - CRC-32C, chunk files, recovery of every kind of
 * damaged file, acknowledgement files, the dead-letter line format.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "chunk.h"
#include "crc32c.h"
#include "dlq.h"
#include "storage.h"
#include "util.h"
#include "sluice/mem.h"
#include "sluice/banned.h"

static char root[256];

static int setup(void **state)
{
    char tmpl[] = "/tmp/sluice-storage-XXXXXX";

    (void)state;
    if (mkdtemp(tmpl) == NULL) {
        return -1;
    }
    snprintf(root, sizeof(root), "%s", tmpl);
    return 0;
}

static int teardown(void **state)
{
    char cmd[512];

    (void)state;
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
    return system(cmd) == 0 ? 0 : -1;
}

static void test_crc32c_vectors(void **state)
{
    unsigned char buf[1000];
    size_t i, n;

    (void)state;
    /* The check value of CRC-32C (RFC 3720 B.4). */
    assert_int_equal(sl_crc32c(0, "123456789", 9), 0xE3069283u);
    assert_int_equal(sl_crc32c_sw(0, "123456789", 9), 0xE3069283u);
    assert_int_equal(sl_crc32c(0, "", 0), 0);
    for (i = 0; i < sizeof(buf); i++) {
        buf[i] = (unsigned char)(i * 131 + 7);
    }
    /* Hardware and table paths agree on every length and alignment, and
     * the CRC can be extended piece by piece. */
    for (n = 0; n < 300; n += 7) {
        assert_int_equal(sl_crc32c(0, buf + (n % 8), n),
                         sl_crc32c_sw(0, buf + (n % 8), n));
    }
    assert_int_equal(sl_crc32c(sl_crc32c(0, buf, 333), buf + 333, 667),
                     sl_crc32c(0, buf, 1000));
}

/* Creates a sealed chunk file with <n> records in <dir>; returns its
 * path (static buffer). */
static const char *make_chunk(const char *dir, size_t n, bool checksum)
{
    static char path[512];
    struct sl_chunk *c = sl_chunk_create(sl_str_cstr("app.x"), 1 << 20);
    struct sl_err err;
    char body[64];
    size_t i;
    int rc;

    assert_int_equal(sl_mkdir_p(dir, 0750), SL_OK);
    c->checksum = checksum;
    assert_int_equal(sl_chunk_fs_create(c, dir, checksum, &err), SL_OK);
    for (i = 0; i < n; i++) {
        snprintf(body, sizeof(body), "{\"n\":%zu}", i);
        assert_int_equal(sl_chunk_append(c, (int64_t)i, sl_str_cstr(body)),
                         SL_OK);
        if (i % 3 == 0) {
            assert_int_equal(sl_chunk_fs_commit(c, false), SL_OK);
        }
    }
    assert_true(sl_chunk_fs_seal(c, NULL, &rc) > 0);
    assert_int_equal(rc, SL_OK);
    assert_null(c->data);
    snprintf(path, sizeof(path), "%s", c->path);
    sl_chunk_destroy(c);
    return path;
}

static void check_records(const struct sl_chunk *c, size_t n)
{
    unsigned char *data = NULL;
    size_t len = 0, off = 0, i = 0;
    int64_t ts;
    struct sl_str body;
    char want[64];

    assert_int_equal(sl_chunk_fs_load(c, &data, &len), SL_OK);
    while (sl_chunk_frames_next(data, len, &off, &ts, &body)) {
        snprintf(want, sizeof(want), "{\"n\":%zu}", i);
        assert_int_equal(ts, (int64_t)i);
        assert_int_equal(body.len, strlen(want));
        assert_memory_equal(body.ptr, want, body.len);
        i++;
    }
    assert_int_equal(i, n);
    sl_free(data);
}

static void test_chunk_file_roundtrip(void **state)
{
    char dir[300];
    const char *path;
    struct sl_chunk *c = NULL;
    struct sl_storage_stats st = { 0 };
    struct sl_err err;

    (void)state;
    snprintf(dir, sizeof(dir), "%s/chunks/in", root);
    path = make_chunk(dir, 100, true);
    assert_int_equal(sl_storage_recover(root, path, true, &c, &st, &err), SL_OK);
    assert_non_null(c);
    assert_string_equal(c->tag, "app.x");
    assert_int_equal(c->records, 100);
    assert_int_equal(st.truncated_frames, 0);
    assert_int_equal(st.corrupt_chunks, 0);
    check_records(c, 100);
    /* Acks are appended and read back; a torn last ack line is ignored. */
    assert_int_equal(sl_chunk_fs_ack(c, "es.0", false), SL_OK);
    assert_int_equal(sl_chunk_fs_ack(c, "file.0", true), SL_OK);
    sl_chunk_destroy(c);
    {
        char ack[600];
        int fd;

        snprintf(ack, sizeof(ack), "%s.ack", path);
        fd = open(ack, O_WRONLY | O_APPEND);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, "tcp.", 4), 4);
        close(fd);
    }
    c = NULL;
    assert_int_equal(sl_storage_recover(root, path, true, &c, &st, &err), SL_OK);
    assert_true(sl_chunk_fs_acked(c, "es.0"));
    assert_true(sl_chunk_fs_acked(c, "file.0"));
    assert_false(sl_chunk_fs_acked(c, "tcp.0"));
    assert_false(sl_chunk_fs_acked(c, "tcp."));
    sl_chunk_fs_remove(c);
    assert_int_not_equal(access(path, F_OK), 0);
    sl_chunk_destroy(c);
}

static void test_recover_torn_tail(void **state)
{
    char dir[300];
    const char *path;
    struct sl_chunk *c = NULL;
    struct sl_storage_stats st = { 0 };
    struct sl_err err;
    struct stat sb;

    (void)state;
    snprintf(dir, sizeof(dir), "%s/chunks/torn", root);
    path = make_chunk(dir, 50, true);
    assert_int_equal(stat(path, &sb), 0);
    /* Cut in the middle of the last frame, as a crash mid-write does. */
    assert_int_equal(truncate(path, sb.st_size - 5), 0);
    assert_int_equal(sl_storage_recover(root, path, true, &c, &st, &err), SL_OK);
    assert_non_null(c);
    assert_int_equal(c->records, 49);
    assert_int_equal(st.truncated_frames, 1);
    assert_int_equal(st.corrupt_chunks, 0);
    check_records(c, 49);
    /* The file was cut at the last complete frame. */
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal((size_t)sb.st_size, c->hdr_len + c->len);
    sl_chunk_destroy(c);
}

static void test_recover_flipped_byte(void **state)
{
    char dir[300], corrupt[600];
    const char *path;
    struct sl_chunk *c = NULL;
    struct sl_storage_stats st = { 0 };
    struct sl_err err;
    char *data = NULL;
    size_t len = 0;
    int fd;

    (void)state;
    snprintf(dir, sizeof(dir), "%s/chunks/flip", root);
    path = make_chunk(dir, 20, true);
    assert_int_equal(sl_file_read_all(path, 1 << 20, &data, &len), SL_OK);
    /* Flip a byte inside the body of the 11th frame ({"n":10}). */
    {
        char *hit = memmem(data, len, "{\"n\":10}", 8);

        assert_non_null(hit);
        fd = open(path, O_WRONLY);
        assert_int_equal(pwrite(fd, "X", 1, hit - data + 2), 1);
        close(fd);
    }
    sl_free(data);
    assert_int_equal(sl_storage_recover(root, path, true, &c, &st, &err), SL_OK);
    assert_int_equal(st.corrupt_chunks, 1);
    assert_non_null(strstr(err.msg, "checksum"));
    assert_non_null(c);
    assert_int_equal(c->records, 10);
    check_records(c, 10);
    /* The whole damaged file was kept aside. */
    snprintf(corrupt, sizeof(corrupt), "%s/corrupt/flip-%s", root,
             strrchr(path, '/') + 1);
    assert_int_equal(access(corrupt, F_OK), 0);
    sl_chunk_destroy(c);
}

static void test_recover_bad_header(void **state)
{
    char dir[300], corrupt[600];
    const char *path;
    struct sl_chunk *c = NULL;
    struct sl_storage_stats st = { 0 };
    struct sl_err err;
    int fd;

    (void)state;
    snprintf(dir, sizeof(dir), "%s/chunks/hdr", root);
    path = make_chunk(dir, 5, true);
    fd = open(path, O_WRONLY);
    assert_int_equal(pwrite(fd, "x", 1, 30), 1); /* inside the tag */
    close(fd);
    assert_int_equal(sl_storage_recover(root, path, false, &c, &st, &err), SL_OK);
    assert_null(c);
    assert_int_equal(st.corrupt_chunks, 1);
    assert_int_equal(access(path, F_OK), 0); /* no repair: untouched */
    assert_int_equal(sl_storage_recover(root, path, true, &c, &st, &err), SL_OK);
    assert_null(c);
    assert_int_not_equal(access(path, F_OK), 0);
    snprintf(corrupt, sizeof(corrupt), "%s/corrupt/hdr-%s", root,
             strrchr(path, '/') + 1);
    assert_int_equal(access(corrupt, F_OK), 0);
}

static void test_recover_not_a_chunk(void **state)
{
    char path[400];
    struct sl_chunk *c = NULL;
    struct sl_storage_stats st = { 0 };
    struct sl_err err;

    (void)state;
    snprintf(path, sizeof(path), "%s/chunks/in/junk.chunk", root);
    assert_int_equal(sl_mkdir_p(strrchr(path, '/') ? root : root, 0750), SL_OK);
    assert_int_equal(sl_file_write_atomic(path, "hello", 5, 0640), SL_OK);
    assert_int_equal(sl_storage_recover(root, path, true, &c, &st, &err), SL_OK);
    assert_null(c);
    assert_int_equal(st.corrupt_chunks, 1);
}

static void test_no_checksum_mode(void **state)
{
    char dir[300];
    const char *path;
    struct sl_chunk *c = NULL;
    struct sl_storage_stats st = { 0 };
    struct sl_err err;

    (void)state;
    snprintf(dir, sizeof(dir), "%s/chunks/nocrc", root);
    path = make_chunk(dir, 7, false);
    assert_int_equal(sl_storage_recover(root, path, true, &c, &st, &err), SL_OK);
    assert_int_equal(c->records, 7);
    assert_false(c->checksum);
    sl_chunk_destroy(c);
}

static void test_dlq_format(void **state)
{
    struct sl_buf b;

    (void)state;
    sl_buf_init(&b, 0);
    assert_int_equal(sl_dlq_format(&b, "es.0", sl_str_cstr("app.\"x"),
                                   1795244781041720015LL,
                                   sl_str_cstr("{\"a\":1}"), "HTTP 400: bad \"x\"", 3),
                     SL_OK);
    assert_string_equal(b.data,
                        "{\"record\":{\"a\":1},\"tag\":\"app.\\\"x\",\"ts\":"
                        "\"2026-11-21T07:06:21.041720015Z\",\"output\":\"es.0\","
                        "\"error\":\"HTTP 400: bad \\\"x\\\"\",\"attempts\":3}\n");
    sl_buf_fini(&b);
}

static void test_dlq_write(void **state)
{
    struct sl_dlq q;
    char path[600], *data = NULL;
    size_t len = 0;

    (void)state;
    assert_int_equal(sl_dlq_init(&q, root, "out.0", NULL), SL_OK);
    assert_int_equal(sl_dlq_write(&q, sl_str_cstr("line1\n")), SL_OK);
    assert_int_equal(sl_dlq_write(&q, sl_str_cstr("line2\n")), SL_OK);
    assert_int_equal(sl_dlq_path(&q, path, sizeof(path)), SL_OK);
    assert_non_null(strstr(path, "/dlq/out.0/20"));
    assert_int_equal(sl_file_read_all(path, 1000, &data, &len), SL_OK);
    assert_string_equal(data, "line1\nline2\n");
    sl_free(data);
    sl_dlq_fini(&q);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crc32c_vectors),
        cmocka_unit_test(test_chunk_file_roundtrip),
        cmocka_unit_test(test_recover_torn_tail),
        cmocka_unit_test(test_recover_flipped_byte),
        cmocka_unit_test(test_recover_bad_header),
        cmocka_unit_test(test_recover_not_a_chunk),
        cmocka_unit_test(test_no_checksum_mode),
        cmocka_unit_test(test_dlq_format),
        cmocka_unit_test(test_dlq_write),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
