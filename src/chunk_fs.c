/*
 * chunk_fs.c - file-backed chunks: the on-disk format of DESIGN 6, commit
 * and seal, acknowledgement files, loading and crash recovery.
 *
 * Threads: create/commit/seal/ack/remove run on the main thread; load runs
 * on output worker threads and only reads files of sealed chunks, which
 * never change again; scan runs at start-up or in the storage tools.
 *
 * Durability: frames are written with write(2), so once a commit returned
 * they survive the process being killed (they are in the page cache);
 * fdatasync makes them survive a power loss too, on seal always and on
 * every commit with storage.sync: full.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "chunk.h"
#include "crc32c.h"
#include "fsyncq.h"
#include "util.h"
#include "sluice/buf.h"
#include "sluice/error.h"
#include "sluice/mem.h"
#include "sluice/banned.h"

#define CHUNK_HDR_FIXED 28 /* magic 8, version 4, hdr_len 4, created 8,
                              tag_len 2, flags 2 */
#define CHUNK_TAG_MAX 4096

static size_t chunk_fs_header(const struct sl_chunk *c, unsigned char *out,
                              size_t cap)
{
    uint32_t version = SL_CHUNK_VERSION, hdr_len, crc;
    uint16_t tag_len = (uint16_t)c->tag_len, flags = c->checksum ? 1 : 0;

    hdr_len = (uint32_t)(CHUNK_HDR_FIXED + c->tag_len + 4);
    if (hdr_len > cap) {
        return 0;
    }
    memcpy(out, SL_CHUNK_MAGIC, 8);
    memcpy(out + 8, &version, 4);
    memcpy(out + 12, &hdr_len, 4);
    memcpy(out + 16, &c->created_ns, 8);
    memcpy(out + 24, &tag_len, 2);
    memcpy(out + 26, &flags, 2);
    memcpy(out + CHUNK_HDR_FIXED, c->tag, c->tag_len);
    crc = sl_crc32c(0, out, CHUNK_HDR_FIXED + c->tag_len);
    memcpy(out + CHUNK_HDR_FIXED + c->tag_len, &crc, 4);
    return hdr_len;
}

int sl_chunk_fs_create(struct sl_chunk *c, const char *dir, bool checksum,
                       struct sl_err *err)
{
    unsigned char hdr[CHUNK_HDR_FIXED + CHUNK_TAG_MAX + 4];
    char path[4096];
    int rc;

    if (c->tag_len > CHUNK_TAG_MAX) {
        return sl_err_set(err, SL_ELIMIT, "tag longer than %d bytes",
                          CHUNK_TAG_MAX);
    }
    c->checksum = checksum;
    if ((size_t)snprintf(path, sizeof(path), "%s/%" PRId64 "-%012" PRIu64
                         ".chunk",
                         dir, sl_chunk_boot_ns(), c->id) >= sizeof(path)) {
        return sl_err_set(err, SL_ELIMIT, "storage path too long");
    }
    c->fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
    if (c->fd == -1) {
        rc = sl_rc_from_errno(errno);
        return sl_err_set(err, rc, "cannot create chunk file %s: %s", path,
                          sl_strerror(rc));
    }
    c->hdr_len = chunk_fs_header(c, hdr, sizeof(hdr));
    rc = sl_write_all(c->fd, hdr, c->hdr_len);
    if (rc == SL_OK) {
        c->path = sl_strdup(path);
        rc = c->path != NULL ? SL_OK : SL_ENOMEM;
    }
    if (rc != SL_OK) {
        close(c->fd);
        c->fd = -1;
        unlink(path);
        return sl_err_set(err, rc, "cannot write chunk file %s: %s", path,
                          sl_strerror(rc));
    }
    c->fs = true;
    c->written = 0;
    return SL_OK;
}

int sl_chunk_fs_commit(struct sl_chunk *c, bool sync)
{
    int rc;

    if (!c->fs || c->fd < 0) {
        return SL_OK;
    }
    if (c->written < c->len) {
        rc = sl_write_all(c->fd, c->data + c->written, c->len - c->written);
        if (rc != SL_OK) {
            return rc;
        }
        c->written = c->len;
    }
    if (sync && fdatasync(c->fd) != 0) {
        return sl_rc_from_errno(errno);
    }
    return SL_OK;
}

size_t sl_chunk_fs_seal(struct sl_chunk *c, struct sl_fsyncq *q, int *rc)
{
    size_t released = c->cap;

    *rc = sl_chunk_fs_commit(c, q == NULL);
    if (*rc != SL_OK) {
        /* Keep the frames in memory: the chunk is still delivered, it is
         * only not crash-safe. */
        return 0;
    }
    if (q != NULL) {
        *rc = sl_fsyncq_push(q, c->fd); /* takes the descriptor */
    } else {
        close(c->fd);
    }
    c->fd = -1;
    sl_free(c->data);
    c->data = NULL;
    c->cap = 0;
    return released;
}

int sl_chunk_fs_load(const struct sl_chunk *c, unsigned char **data,
                     size_t *len)
{
    int fd = open(c->path, O_RDONLY | O_CLOEXEC);
    unsigned char *buf;
    ssize_t n;
    size_t got = 0;
    int rc = SL_OK;

    if (fd == -1) {
        return sl_rc_from_errno(errno);
    }
    buf = sl_malloc(c->len > 0 ? c->len : 1);
    if (buf == NULL) {
        close(fd);
        return SL_ENOMEM;
    }
    while (got < c->len) {
        n = pread(fd, buf + got, c->len - got, (off_t)(c->hdr_len + got));
        if (n == -1 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            rc = n == 0 ? SL_EIO : sl_rc_from_errno(errno);
            break;
        }
        got += (size_t)n;
    }
    close(fd);
    if (rc != SL_OK) {
        sl_free(buf);
        return rc;
    }
    *data = buf;
    *len = c->len;
    return SL_OK;
}

static int chunk_fs_ack_path(const struct sl_chunk *c, char *out, size_t cap)
{
    return (size_t)snprintf(out, cap, "%s.ack", c->path) < cap ? SL_OK
                                                              : SL_ELIMIT;
}

int sl_chunk_fs_ack(const struct sl_chunk *c, const char *output, bool sync)
{
    char path[4200], line[256];
    int fd, rc, n;

    if (!c->fs || chunk_fs_ack_path(c, path, sizeof(path)) != SL_OK) {
        return SL_OK;
    }
    n = snprintf(line, sizeof(line), "%s\n", output);
    if (n <= 0 || (size_t)n >= sizeof(line)) {
        return SL_ELIMIT;
    }
    fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
    if (fd == -1) {
        return sl_rc_from_errno(errno);
    }
    rc = sl_write_all(fd, line, (size_t)n);
    if (rc == SL_OK && sync && fdatasync(fd) != 0) {
        rc = sl_rc_from_errno(errno);
    }
    close(fd);
    return rc;
}

int sl_chunk_fs_route(const struct sl_chunk *c, const char *const *outputs,
                      size_t n, bool sync)
{
    char path[4200];
    struct sl_buf b;
    size_t i;
    int fd, rc = SL_OK;

    if (!c->fs || n == 0 || chunk_fs_ack_path(c, path, sizeof(path)) != SL_OK) {
        return SL_OK;
    }
    sl_buf_init(&b, 0);
    for (i = 0; i < n && rc == SL_OK; i++) {
        rc = sl_buf_printf(&b, "+%s\n", outputs[i]);
    }
    if (rc != SL_OK) {
        sl_buf_fini(&b);
        return rc;
    }
    fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
    if (fd == -1) {
        sl_buf_fini(&b);
        return sl_rc_from_errno(errno);
    }
    rc = sl_write_all(fd, b.data, b.len);
    if (rc == SL_OK && sync && fdatasync(fd) != 0) {
        rc = sl_rc_from_errno(errno);
    }
    close(fd);
    sl_buf_fini(&b);
    return rc;
}

bool sl_chunk_fs_routed(const struct sl_chunk *c, const char *output)
{
    size_t i;

    for (i = 0; i < c->nrouted; i++) {
        if (strcmp(c->routed[i], output) == 0) {
            return true;
        }
    }
    return false;
}

bool sl_chunk_fs_acked(const struct sl_chunk *c, const char *output)
{
    size_t i;

    for (i = 0; i < c->nacked; i++) {
        if (strcmp(c->acked[i], output) == 0) {
            return true;
        }
    }
    return false;
}

void sl_chunk_fs_remove(struct sl_chunk *c)
{
    char path[4200];

    if (!c->fs || c->path == NULL) {
        return;
    }
    if (chunk_fs_ack_path(c, path, sizeof(path)) == SL_OK) {
        unlink(path);
    }
    unlink(c->path);
}

/* ---- recovery ---- */

static int chunk_fs_parse_header(const unsigned char *p, size_t n,
                                 struct sl_chunk **out, struct sl_err *err)
{
    uint32_t version, hdr_len, crc, want;
    uint16_t tag_len, flags;
    int64_t created;
    struct sl_chunk *c;

    if (n < CHUNK_HDR_FIXED + 4 || memcmp(p, SL_CHUNK_MAGIC, 8) != 0) {
        return sl_err_set(err, SL_EPARSE, "not a sluice chunk (bad magic)");
    }
    memcpy(&version, p + 8, 4);
    memcpy(&hdr_len, p + 12, 4);
    memcpy(&created, p + 16, 8);
    memcpy(&tag_len, p + 24, 2);
    memcpy(&flags, p + 26, 2);
    if (version != SL_CHUNK_VERSION) {
        return sl_err_set(err, SL_EPARSE, "unsupported chunk version %u",
                          version);
    }
    if (hdr_len != CHUNK_HDR_FIXED + (uint32_t)tag_len + 4 || hdr_len > n) {
        return sl_err_set(err, SL_EPARSE, "bad header length");
    }
    memcpy(&crc, p + CHUNK_HDR_FIXED + tag_len, 4);
    want = sl_crc32c(0, p, CHUNK_HDR_FIXED + tag_len);
    if (crc != want) {
        return sl_err_set(err, SL_EPARSE, "header checksum mismatch");
    }
    c = sl_chunk_create(sl_str_make((const char *)p + CHUNK_HDR_FIXED, tag_len),
                        SIZE_MAX);
    if (c == NULL) {
        return sl_err_set(err, SL_ENOMEM, "out of memory");
    }
    c->created_ns = created;
    c->hdr_len = hdr_len;
    c->checksum = (flags & 1) != 0;
    c->fs = true;
    *out = c;
    return SL_OK;
}

/* Walks the frames after the header, stopping at the first one that is
 * torn (runs past the end) or fails its CRC. */
static void chunk_fs_walk(const struct sl_chunk *c, const unsigned char *p,
                          size_t n, struct sl_chunk_scan *scan)
{
    size_t off = 0;
    int64_t ts;
    struct sl_str body;

    for (;;) {
        size_t at = off;
        uint32_t len32, crc;

        if (!sl_chunk_frames_next(p, n, &off, &ts, &body)) {
            scan->good_len = at;
            scan->torn_bytes = n - at;
            return;
        }
        if (c->checksum) {
            memcpy(&len32, p + at, 4);
            memcpy(&crc, p + at + 4, 4);
            if (crc != sl_chunk_frame_crc(len32, ts, body)) {
                scan->bad_frames++;
                scan->good_len = at;
                scan->torn_bytes = n - at;
                return;
            }
        }
        scan->records++;
    }
}

static void chunk_fs_add_name(char ***list, size_t *n, const char *p,
                              size_t len)
{
    char **v = sl_realloc(*list, (*n + 1) * sizeof(*v));

    if (v == NULL) {
        return;
    }
    *list = v;
    v[*n] = sl_strndup(p, len);
    if (v[*n] != NULL) {
        (*n)++;
    }
}

static void chunk_fs_read_acks(struct sl_chunk *c)
{
    char path[4200], *data = NULL, *line, *nl;
    size_t len = 0;

    if (chunk_fs_ack_path(c, path, sizeof(path)) != SL_OK ||
        sl_file_read_all(path, 1 << 20, &data, &len) != SL_OK) {
        return;
    }
    for (line = data; line < data + len; line = nl + 1) {
        nl = memchr(line, '\n', (size_t)(data + len - line));
        if (nl == NULL) {
            break; /* a torn last line: that write did not complete */
        }
        if (nl == line) {
            continue;
        }
        if (line[0] == '+') {
            chunk_fs_add_name(&c->routed, &c->nrouted, line + 1,
                              (size_t)(nl - line - 1));
        } else {
            chunk_fs_add_name(&c->acked, &c->nacked, line,
                              (size_t)(nl - line));
        }
    }
    sl_free(data);
}

int sl_chunk_fs_scan(const char *path, bool repair, struct sl_chunk **out,
                     struct sl_chunk_scan *scan, struct sl_err *err)
{
    char *data = NULL;
    size_t len = 0;
    struct sl_chunk *c = NULL;
    int rc;

    memset(scan, 0, sizeof(*scan));
    if (out != NULL) {
        *out = NULL;
    }
    rc = sl_file_read_all(path, (size_t)1 << 32, &data, &len);
    if (rc != SL_OK) {
        return sl_err_set(err, rc, "cannot read %s: %s", path, sl_strerror(rc));
    }
    rc = chunk_fs_parse_header((unsigned char *)data, len, &c, err);
    if (rc != SL_OK) {
        scan->bad_header = true;
        sl_free(data);
        return rc;
    }
    chunk_fs_walk(c, (unsigned char *)data + c->hdr_len, len - c->hdr_len, scan);
    sl_free(data);
    if (repair && scan->torn_bytes > 0 &&
        truncate(path, (off_t)(c->hdr_len + scan->good_len)) != 0) {
        rc = sl_rc_from_errno(errno);
        sl_chunk_destroy(c);
        return sl_err_set(err, rc, "cannot truncate %s: %s", path,
                          sl_strerror(rc));
    }
    c->len = scan->good_len;
    c->written = scan->good_len;
    c->records = scan->records;
    c->sealed = true;
    c->recovered = true;
    c->path = sl_strdup(path);
    if (c->path == NULL) {
        sl_chunk_destroy(c);
        return sl_err_set(err, SL_ENOMEM, "out of memory");
    }
    chunk_fs_read_acks(c);
    if (out != NULL) {
        *out = c;
    } else {
        sl_chunk_destroy(c);
    }
    return SL_OK;
}
