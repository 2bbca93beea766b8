/*
 * fsyncq.h - fsync off the main loop.
 *
 * Sealing a file-backed chunk must make it durable (storage.sync: normal
 * fsyncs on seal), but an fdatasync of a 2 MiB file can take milliseconds
 * and the main loop must not wait for it (STYLE 6).  The main thread hands
 * the chunk's file descriptor to this queue, whose one thread fdatasyncs
 * and closes it.  Bounded: when SL_FSYNCQ_MAX descriptors are waiting, the
 * caller syncs inline (backpressure instead of an unbounded queue).
 */
#ifndef SLUICE_FSYNCQ_H
#define SLUICE_FSYNCQ_H

#include <stdbool.h>
#include <stdint.h>

#define SL_FSYNCQ_MAX 64

struct sl_fsyncq;

/* Starts the thread.  Returns NULL on failure (callers then sync
 * inline). */
struct sl_fsyncq *sl_fsyncq_create(void);

/* Takes ownership of <fd>: it is fdatasynced and closed by the thread, or
 * here when the queue is full or absent.  Returns SL_OK or the error of an
 * inline sync. */
int sl_fsyncq_push(struct sl_fsyncq *q, int fd);

/* Syncs and closes everything queued, then stops the thread. */
void sl_fsyncq_destroy(struct sl_fsyncq *q);

/* Descriptors synced and sync errors so far (for metrics and tests). */
uint64_t sl_fsyncq_synced(const struct sl_fsyncq *q);
uint64_t sl_fsyncq_errors(const struct sl_fsyncq *q);

#endif
