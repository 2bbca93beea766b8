/*
 * worker.h - output worker threads, their queues, and batches.
 *
 * Each output instance has <workers> threads, each with its own libevent
 * loop.  The main thread pushes sealed chunks into the output's queue
 * (sl_output_push) and wakes an idle worker; a worker takes one batch at a
 * time, calls the plugin's flush, and on a final result posts the chunk's
 * acknowledgement back to the main thread (sl_engine_post_ack).  A failed
 * flush is retried on the same worker after a backoff with full jitter;
 * the worker takes no other batch meanwhile, so with one worker the order
 * of chunks is kept.
 *
 * Locking: the queue and the health fields are protected by out->lock;
 * counters are atomics in the metrics registry.  A batch belongs to exactly
 * one worker thread from the moment it is taken.
 */
#ifndef SLUICE_WORKER_H
#define SLUICE_WORKER_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "chunk.h"
#include "dlq.h"
#include "sluice/plugin.h"

struct sl_engine;
struct sl_output;
struct event;

enum sl_batch_state {
    SL_BATCH_QUEUED,
    SL_BATCH_FLUSHING,
    SL_BATCH_WAITING, /* retry timer armed */
};

struct sl_batch {
    struct sl_batch *next;    /* queue link */
    struct sl_output *out;
    struct sl_worker *w;
    struct sl_chunk *chunk;   /* a reference held for this output */
    const unsigned char *data; /* the chunk's frames (NULL until loaded) */
    size_t len;
    unsigned char *owned;     /* frames read back from a chunk file */
    enum sl_batch_state state;
    unsigned attempts;        /* flushes tried so far */
    int64_t retry_after_ms;
    int64_t queued_mono_ns;
    int64_t flush_mono_ns;    /* start of the current attempt */
    uint8_t *skip;            /* 1 = record already done (after PARTIAL) */
    uint8_t *failed;          /* set by sl_batch_fail_record: 1 retry,
                                 2 permanent */
    char **fail_errs;         /* per-record reason, or NULL */
    size_t count;             /* records still to deliver */
    size_t bytes;             /* body bytes still to deliver */
    char error[256];
};

struct sl_worker {
    struct sl_output *out;
    unsigned id;
    pthread_t thread;
    bool thread_started;
    struct event_base *base;
    struct event *wake;       /* activated from other threads */
    struct event *retry_timer;
    void *ctx;
    struct sl_batch *current; /* in flight or waiting to retry */
    bool inited;              /* worker_init succeeded */
    bool stop;                /* exit when idle (or at once if hard) */
    bool hard_stop;
    uint64_t rng;
};

struct sl_output {
    struct sl_instance *ins;
    struct sl_engine *engine;
    unsigned nworkers;
    struct sl_worker *workers;
    pthread_mutex_t lock;
    struct sl_batch *head, *tail; /* queued batches */
    uint64_t queued_records;
    uint64_t queued_bytes;
    /* health (under lock) */
    uint64_t consecutive_failures;
    char last_error[256];
    struct sl_dlq dlq;
    bool dlq_on;
    /* metrics */
    struct sl_metric *m_records, *m_bytes, *m_errors, *m_retries,
        *m_retries_failed, *m_drop_retry, *m_drop_error, *m_drop_shutdown,
        *m_drop_overflow, *m_queue_bytes, *m_dlq, *m_latency, *m_request,
        *m_limit_bytes;
};

/* Creates the output side of <ins> (not started). */
int sl_output_create(struct sl_engine *e, struct sl_instance *ins,
                     struct sl_err *err);

/* Starts the worker threads; each runs worker_init.  Returns an error if
 * a worker_init failed (the others are stopped again). */
int sl_output_start(struct sl_output *out, struct sl_err *err);

/* Queues <c> (the caller already took a reference for this output). */
int sl_output_push(struct sl_output *out, struct sl_chunk *c);

/* True when nothing is queued or in flight. */
bool sl_output_idle(struct sl_output *out);

/* True when nothing is queued and a worker is free to take a batch now
 * (for the idle flush). */
bool sl_output_hungry(struct sl_output *out);

/* Stops the workers: <hard> abandons in-flight batches (their chunks are
 * released and counted as dropped for shutdown); joins the threads. */
void sl_output_stop(struct sl_output *out, bool hard);

/* Releases queued batches that were never taken (after stop), counting
 * them; returns the number of records released. */
uint64_t sl_output_abandon(struct sl_output *out);

/* Drops queued (not in-flight) batches, oldest first, until the queue
 * holds at most <limit> bytes; counts them as dropped (overflow) and
 * returns their chunks' acknowledgements to the engine.  Main thread. */
uint64_t sl_output_drop_oldest(struct sl_output *out, uint64_t limit);

/* Chunks, records and bytes queued or in flight, and the creation time
 * of the oldest (0 when none). */
void sl_output_queue_stats(struct sl_output *out, uint64_t *chunks,
                           uint64_t *records, uint64_t *bytes,
                           int64_t *oldest_ns);

/* Queued plus in-flight bytes. */
uint64_t sl_output_queued_bytes(struct sl_output *out);

void sl_output_destroy(struct sl_output *out);

#endif
