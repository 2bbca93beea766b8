/*
 * chunk.h - chunks: the unit of buffering and delivery.
 *
 * Records are appended to the open chunk of their (input, tag).  A chunk
 * holds frames laid out as on disk (DESIGN 6):
 *     [u32 len][u32 crc32c][i64 ts_ns][len bytes of compact JSON]
 * little-endian, so that filesystem storage writes the same bytes it keeps
 * in memory.  A chunk is sealed at chunk_size or after the flush interval,
 * then handed to every routed output; it is reference counted, one
 * reference per output that still has to deliver it, and freed when the
 * last one acknowledged it.
 *
 * Life cycle: create -> append* -> seal -> (ref per output) -> unref* ->
 * destroy.  Only the main thread appends, seals and changes references;
 * output workers only read sealed chunks, which never change.
 */
#ifndef SLUICE_CHUNK_H
#define SLUICE_CHUNK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sluice/str.h"

#define SL_CHUNK_FRAME_HDR 16

struct sl_instance;

struct sl_chunk {
    uint64_t id;
    char *tag;               /* NUL-terminated copy */
    size_t tag_len;
    struct sl_instance *input; /* owner, for mem_buf_limit accounting */
    unsigned char *data;     /* frames */
    size_t len;              /* bytes of frames */
    size_t cap;
    size_t max;              /* seal when an append would pass this */
    size_t records;
    size_t body_bytes;       /* sum of record body lengths */
    int64_t created_ns;      /* wall clock */
    int64_t created_mono_ns; /* monotonic, for age-based sealing */
    bool sealed;
    unsigned refs;           /* outputs still holding it */
    uint64_t route_mask;     /* outputs it is routed to */
};

/* Creates an empty open chunk for <tag>; <max> is the sealing size.
 * Returns NULL on ENOMEM. */
struct sl_chunk *sl_chunk_create(struct sl_str tag, size_t max);
void sl_chunk_destroy(struct sl_chunk *c);

/* Appends one frame.  Returns SL_OK, SL_ELIMIT when the chunk is not empty
 * and the frame would pass <max> (seal it and retry on a new chunk; a
 * single record larger than max is accepted into an empty chunk), or
 * SL_ENOMEM. */
int sl_chunk_append(struct sl_chunk *c, int64_t ts_ns, struct sl_str body);

/* Bytes a frame of <body_len> takes. */
static inline size_t sl_chunk_frame_size(size_t body_len)
{
    return SL_CHUNK_FRAME_HDR + body_len;
}

/* Iterates frames: start with *<off> = 0.  Returns false at the end or on
 * a damaged frame. */
bool sl_chunk_next(const struct sl_chunk *c, size_t *off, int64_t *ts_ns,
                   struct sl_str *body);

#endif
