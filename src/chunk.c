/*
 * chunk.c - in-memory chunks of frames (see chunk.h).
 *
 * Memory grows by doubling from a small start up to the sealing size, so a
 * tag with few records does not pin 2 MiB.  The crc field is filled by the
 * filesystem store (issue #3); memory chunks leave it 0.
 */
#include <string.h>
#include <unistd.h>

#include "chunk.h"
#include "crc32c.h"
#include "sluice/error.h"
#include "sluice/mem.h"
#include "sluice/timeutil.h"
#include "sluice/banned.h"

#define CHUNK_INITIAL_CAP (64 * 1024)
/* Up to this sealing size the whole chunk is allocated at once: pages a
 * chunk never fills are never touched, so they cost address space, not
 * memory, and growing never copies. */
#define CHUNK_MAX_PREALLOC ((size_t)16 << 20)

static uint64_t chunk_next_id;
static int64_t chunk_boot_ns;

int64_t sl_chunk_boot_ns(void)
{
    int64_t b = __atomic_load_n(&chunk_boot_ns, __ATOMIC_RELAXED);
    int64_t now;

    if (b == 0) {
        now = sl_time_now_ns();
        if (__atomic_compare_exchange_n(&chunk_boot_ns, &b, now, false,
                                        __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
            b = now;
        }
    }
    return b;
}

uint64_t sl_chunk_peek_id(void)
{
    return __atomic_load_n(&chunk_next_id, __ATOMIC_RELAXED) + 1;
}

struct sl_chunk *sl_chunk_create(struct sl_str tag, size_t max)
{
    struct sl_chunk *c = sl_calloc(1, sizeof(*c));

    if (c == NULL) {
        return NULL;
    }
    c->tag = sl_strndup(tag.ptr, tag.len);
    if (c->tag == NULL) {
        sl_free(c);
        return NULL;
    }
    c->tag_len = tag.len;
    c->max = max;
    c->id = __atomic_add_fetch(&chunk_next_id, 1, __ATOMIC_RELAXED);
    c->fd = -1;
    c->created_ns = sl_time_now_ns();
    c->created_mono_ns = sl_time_mono_ns();
    return c;
}

void sl_chunk_destroy(struct sl_chunk *c)
{
    if (c == NULL) {
        return;
    }
    size_t i;

    if (c->fd >= 0) {
        close(c->fd);
    }
    for (i = 0; i < c->nacked; i++) {
        sl_free(c->acked[i]);
    }
    sl_free(c->acked);
    for (i = 0; i < c->nrouted; i++) {
        sl_free(c->routed[i]);
    }
    sl_free(c->routed);
    sl_free(c->path);
    sl_free(c->data);
    sl_free(c->tag);
    sl_free(c);
}

static int chunk_reserve(struct sl_chunk *c, size_t n)
{
    size_t ncap;
    unsigned char *p;

    if (c->cap - c->len >= n) {
        return SL_OK;
    }
    ncap = c->cap == 0 ? (c->max <= CHUNK_MAX_PREALLOC ? c->max : CHUNK_INITIAL_CAP) : c->cap;
    while (ncap - c->len < n) {
        ncap *= 2;
    }
    /* Do not overshoot the sealing size by much: a chunk is sealed at max,
     * so anything beyond max + one record is never used. */
    if (ncap > c->max && c->len + n <= c->max) {
        ncap = c->max;
    }
    p = sl_realloc(c->data, ncap);
    if (p == NULL) {
        return SL_ENOMEM;
    }
    c->data = p;
    c->cap = ncap;
    return SL_OK;
}

int sl_chunk_append(struct sl_chunk *c, int64_t ts_ns, struct sl_str body)
{
    size_t need = sl_chunk_frame_size(body.len);
    uint32_t len32 = (uint32_t)body.len, crc;
    unsigned char *p;

    if (body.len > UINT32_MAX) {
        return SL_ELIMIT;
    }
    if (c->records > 0 && c->len + need > c->max) {
        return SL_ELIMIT;
    }
    if (chunk_reserve(c, need) != SL_OK) {
        return SL_ENOMEM;
    }
    crc = c->checksum ? sl_chunk_frame_crc(len32, ts_ns, body) : 0;
    p = c->data + c->len;
    memcpy(p, &len32, 4);
    memcpy(p + 4, &crc, 4);
    memcpy(p + 8, &ts_ns, 8);
    memcpy(p + SL_CHUNK_FRAME_HDR, body.ptr, body.len);
    c->len += need;
    c->records++;
    c->body_bytes += body.len;
    return SL_OK;
}

uint32_t sl_chunk_frame_crc(uint32_t len, int64_t ts_ns, struct sl_str body)
{
    uint32_t crc = sl_crc32c(0, &len, 4);

    crc = sl_crc32c(crc, &ts_ns, 8);
    return sl_crc32c(crc, body.ptr, body.len);
}

bool sl_chunk_next(const struct sl_chunk *c, size_t *off, int64_t *ts_ns,
                   struct sl_str *body)
{
    return c->data != NULL &&
           sl_chunk_frames_next(c->data, c->len, off, ts_ns, body);
}

bool sl_chunk_frames_next(const unsigned char *data, size_t len, size_t *off,
                          int64_t *ts_ns, struct sl_str *body)
{
    uint32_t len32;
    const unsigned char *p;

    if (*off + SL_CHUNK_FRAME_HDR > len) {
        return false;
    }
    p = data + *off;
    memcpy(&len32, p, 4);
    if ((size_t)len32 > len - *off - SL_CHUNK_FRAME_HDR) {
        return false;
    }
    memcpy(ts_ns, p + 8, 8);
    body->ptr = (const char *)p + SL_CHUNK_FRAME_HDR;
    body->len = len32;
    *off += SL_CHUNK_FRAME_HDR + len32;
    return true;
}
