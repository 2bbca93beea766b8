/*
 * dlq.h - the dead-letter queue: records an output gave up on.
 *
 * Records past retry_limit or rejected permanently are appended to
 * <storage.path>/dlq/<output>/YYYYMMDD.ndjson (UTC date of the write), one
 * JSON line each: {"record":{...},"tag":"...","ts":"<RFC 3339, ns>",
 * "output":"<name>","error":"...","attempts":N}.  `sluice replay` sends
 * them again.  One struct sl_dlq per output, shared by its workers: writes
 * are one write(2) of whole lines under a mutex, to an O_APPEND file.
 */
#ifndef SLUICE_DLQ_H
#define SLUICE_DLQ_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "sluice/buf.h"
#include "sluice/error.h"
#include "sluice/str.h"

struct sl_dlq {
    char *dir;       /* <storage>/dlq/<output> */
    char *file;      /* fixed file (replay), or NULL: one per day */
    char *output;
    pthread_mutex_t lock;
};

/* <file>: write there instead of the dated files (used by replay). */
int sl_dlq_init(struct sl_dlq *q, const char *storage_path,
                const char *output, const char *file);
void sl_dlq_fini(struct sl_dlq *q);

/* Appends one DLQ line for a record to <line_buf> (not yet written). */
int sl_dlq_format(struct sl_buf *out, const char *output, struct sl_str tag,
                  int64_t ts_ns, struct sl_str body, const char *error,
                  unsigned attempts);

/* Writes <lines> (complete lines) to today's file.  Returns SL_OK or an
 * error (the caller counts the records as dropped). */
int sl_dlq_write(struct sl_dlq *q, struct sl_str lines);

/* The file today's records go to (for logs and tests). */
int sl_dlq_path(const struct sl_dlq *q, char *out, size_t cap);

#endif
