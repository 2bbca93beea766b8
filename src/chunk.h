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

#include "sluice/error.h"
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

    /* filesystem storage (chunk_fs.c) */
    bool fs;                 /* backed by a file */
    bool checksum;           /* frames carry a CRC-32C */
    int fd;                  /* open while the chunk is open; else -1 */
    char *path;              /* file path; NULL for memory chunks */
    size_t hdr_len;          /* file bytes before the first frame */
    size_t written;          /* frame bytes already written to the file */
    char **acked;            /* outputs recorded as done (recovered) */
    size_t nacked;
    char **routed;           /* outputs it was routed to (recovered) */
    size_t nrouted;
    bool recovered;          /* read back from disk at start or reload */
    bool mem_released;       /* frames left memory at seal (filesystem) */
    uint64_t first_seq;      /* input's append count before its 1st record */
    struct sl_chunk *in_prev, *in_next; /* the input's outstanding chunks */
    bool abandoned;          /* an output gave it up at shutdown: keep file */
};

/* ---- filesystem storage (chunk_fs.c) ----
 * File layout (little-endian):
 *   "SLUICECK" u32 version=1 u32 hdr_len i64 created_ns u16 tag_len
 *   u16 flags (bit 0: frames have checksums) tag bytes u32 crc32c(header)
 * then frames [u32 len][u32 crc32c(len, ts, body)][i64 ts][body].
 * Next to it, "<file>.ack" lists, one per line, the outputs the chunk was
 * routed to ("+<name>", written when it is first queued) and the outputs
 * that have acknowledged it ("<name>"). */

#define SL_CHUNK_MAGIC "SLUICECK"
#define SL_CHUNK_VERSION 1

struct sl_chunk_scan {
    size_t records;        /* complete, valid frames */
    size_t good_len;       /* frame bytes up to the last valid frame */
    size_t torn_bytes;     /* bytes after it (a torn or bad tail) */
    size_t bad_frames;     /* frames with a CRC mismatch */
    bool bad_header;       /* the chunk cannot be used at all */
};

/* Makes <c> file-backed: creates <dir>/<created>-<id>.chunk and writes the
 * header.  Returns SL_OK or -errno with <err>. */
int sl_chunk_fs_create(struct sl_chunk *c, const char *dir, bool checksum,
                       struct sl_err *err);

/* Writes the frames appended since the last commit; fdatasync when
 * <sync>.  Returns SL_OK or -errno. */
int sl_chunk_fs_commit(struct sl_chunk *c, bool sync);

/* Commits, fsyncs and closes the file, then frees the in-memory frames
 * (the chunk is read back with sl_chunk_fs_load when an output needs
 * it).  Returns the bytes of memory released.  With <q>, the fdatasync
 * and close happen on the fsync thread (the frames are already written,
 * so readers see them at once). */
struct sl_fsyncq;
size_t sl_chunk_fs_seal(struct sl_chunk *c, struct sl_fsyncq *q, int *rc);

/* Reads the frames of a sealed file-backed chunk into a new heap buffer
 * (sl_free).  Verifies nothing beyond the frame bounds; recovery did. */
int sl_chunk_fs_load(const struct sl_chunk *c, unsigned char **data,
                     size_t *len);

/* Records in the ack file the outputs the chunk is routed to (lines
 * "+<name>"), so that recovery knows which outputs still need it even
 * after a configuration change removed some of them. */
int sl_chunk_fs_route(const struct sl_chunk *c, const char *const *outputs,
                      size_t n, bool sync);

/* True when <output> was recorded as a destination (recovery). */
bool sl_chunk_fs_routed(const struct sl_chunk *c, const char *output);

/* Appends <output> to the chunk's ack file (fdatasync when <sync>). */
int sl_chunk_fs_ack(const struct sl_chunk *c, const char *output, bool sync);

/* True when <output> is listed in the chunk's ack file (recovery). */
bool sl_chunk_fs_acked(const struct sl_chunk *c, const char *output);

/* Deletes the chunk's file and ack file. */
void sl_chunk_fs_remove(struct sl_chunk *c);

/* Scans the chunk file at <path>: header, then every frame (CRC when the
 * header says so).  With <load>, returns a sealed chunk (frames not kept
 * in memory) in *<out>.  With <repair>, cuts a torn tail off the file.
 * Returns SL_OK (see <scan> for damage), SL_EPARSE for a bad header, or
 * -errno. */
int sl_chunk_fs_scan(const char *path, bool repair, struct sl_chunk **out,
                     struct sl_chunk_scan *scan, struct sl_err *err);

/* Iterates the frames in a loaded buffer (see sl_chunk_next). */
bool sl_chunk_frames_next(const unsigned char *data, size_t len, size_t *off,
                          int64_t *ts_ns, struct sl_str *body);

/* CRC-32C of a frame as stored. */
uint32_t sl_chunk_frame_crc(uint32_t len, int64_t ts_ns, struct sl_str body);

/* The process's start time, part of every chunk file name so that names
 * sort in creation order across restarts. */
int64_t sl_chunk_boot_ns(void);

/* The id the next chunk will get. */
uint64_t sl_chunk_peek_id(void);

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
