/*
 * chunk.c - in-memory chunks of frames (see chunk.h).
 *
 * Memory grows by doubling from a small start up to the sealing size, so a
 * tag with few records does not pin 2 MiB.  The crc field is filled by the
 * filesystem store (issue #3); memory chunks leave it 0.
 */
#include <string.h>

#include "chunk.h"
#include "sluice/error.h"
#include "sluice/mem.h"
#include "sluice/timeutil.h"
#include "sluice/banned.h"

#define CHUNK_INITIAL_CAP (64 * 1024)

static uint64_t chunk_next_id;

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
    c->created_ns = sl_time_now_ns();
    c->created_mono_ns = sl_time_mono_ns();
    return c;
}

void sl_chunk_destroy(struct sl_chunk *c)
{
    if (c == NULL) {
        return;
    }
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
    ncap = c->cap == 0 ? CHUNK_INITIAL_CAP : c->cap;
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
    uint32_t len32 = (uint32_t)body.len, crc = 0;
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

bool sl_chunk_next(const struct sl_chunk *c, size_t *off, int64_t *ts_ns,
                   struct sl_str *body)
{
    uint32_t len32;
    const unsigned char *p;

    if (*off + SL_CHUNK_FRAME_HDR > c->len) {
        return false;
    }
    p = c->data + *off;
    memcpy(&len32, p, 4);
    if ((size_t)len32 > c->len - *off - SL_CHUNK_FRAME_HDR) {
        return false;
    }
    memcpy(ts_ns, p + 8, 8);
    body->ptr = (const char *)p + SL_CHUNK_FRAME_HDR;
    body->len = len32;
    *off += SL_CHUNK_FRAME_HDR + len32;
    return true;
}
