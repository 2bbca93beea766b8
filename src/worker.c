/*
 * worker.c - output worker threads, queues and batches (see worker.h).
 *
 * Threads: sl_output_create/start/push/stop/destroy run on the main
 * thread; everything named worker_* and batch_* runs on the worker thread
 * that owns the batch.  The only shared state is the queue and the health
 * fields, under out->lock, and the metrics (atomics).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "engine.h"
#include "log.h"
#include "metrics.h"
#include "backoff.h"
#include "worker.h"
#include "sluice/banned.h"

/* ---- metrics ---- */

static struct sl_metric *out_metric(struct sl_output *out, const char *name,
                                    const char *help, enum sl_metric_type t,
                                    const char *reason)
{
    const char *labels[] = { "name",   out->ins->name, "plugin",
                             out->ins->plugin->name,   "reason",
                             reason,   NULL };

    if (reason == NULL) {
        labels[4] = NULL;
    }
    return sl_metrics_get(out->engine->metrics, name, help, t, labels);
}

/* Event age at acknowledgement: 1 ms to 5 min. */
static const double latency_buckets[] = { 0.001, 0.0025, 0.005, 0.01, 0.025,
                                          0.05,  0.1,    0.25,  0.5,  1,
                                          2.5,   5,      10,    30,   60,
                                          120,   300 };
static const double request_buckets[] = { 0.001, 0.0025, 0.005, 0.01,
                                          0.025, 0.05,   0.1,   0.25,
                                          0.5,   1,      2.5,   5,
                                          10,    30,     60 };

static void output_histograms_init(struct sl_output *out)
{
    const char *labels[] = { "name", out->ins->name, "plugin",
                             out->ins->plugin->name, NULL };

    out->m_latency = sl_metrics_histogram(
        out->engine->metrics, "sluice_output_latency_seconds",
        "Age of records when the output acknowledged them: from the "
        "creation of their chunk (ingestion) to delivery.",
        labels, latency_buckets,
        sizeof(latency_buckets) / sizeof(latency_buckets[0]));
    out->m_request = sl_metrics_histogram(
        out->engine->metrics, "sluice_output_request_duration_seconds",
        "Duration of each flush attempt (one request or batch write).",
        labels, request_buckets,
        sizeof(request_buckets) / sizeof(request_buckets[0]));
}

static void output_metrics_init(struct sl_output *out)
{
    output_histograms_init(out);
    out->m_records = out_metric(out, "sluice_output_records_total",
                                "Records delivered by the output.",
                                SL_METRIC_COUNTER, NULL);
    out->m_bytes = out_metric(out, "sluice_output_bytes_total",
                              "Record bytes delivered by the output.",
                              SL_METRIC_COUNTER, NULL);
    out->m_errors = out_metric(out, "sluice_output_errors_total",
                               "Flushes that failed.", SL_METRIC_COUNTER,
                               NULL);
    out->m_retries = out_metric(out, "sluice_output_retries_total",
                                "Retries scheduled after a failed flush.",
                                SL_METRIC_COUNTER, NULL);
    out->m_retries_failed =
        out_metric(out, "sluice_output_retries_failed_total",
                   "Batches given up after retry_limit retries.",
                   SL_METRIC_COUNTER, NULL);
    out->m_drop_retry = out_metric(out, "sluice_output_dropped_records_total",
                                   "Records the output gave up, by reason.",
                                   SL_METRIC_COUNTER, "retry_limit");
    out->m_drop_error = out_metric(out, "sluice_output_dropped_records_total",
                                   "Records the output gave up, by reason.",
                                   SL_METRIC_COUNTER, "permanent_error");
    out->m_drop_shutdown =
        out_metric(out, "sluice_output_dropped_records_total",
                   "Records the output gave up, by reason.",
                   SL_METRIC_COUNTER, "shutdown");
    out->m_drop_overflow =
        out_metric(out, "sluice_output_dropped_records_total",
                   "Records the output gave up, by reason.",
                   SL_METRIC_COUNTER, "overflow");
    out->m_dlq = out_metric(out, "sluice_output_dlq_records_total",
                            "Records written to the dead-letter queue.",
                            SL_METRIC_COUNTER, NULL);
    out->m_limit_bytes =
        out_metric(out, "sluice_output_storage_limit_bytes",
                   "storage.total_limit_size of the output (0: no limit).",
                   SL_METRIC_GAUGE, NULL);
    out->m_queue_bytes =
        out_metric(out, "sluice_output_queue_bytes",
                   "Bytes of chunks waiting in the output's queue.",
                   SL_METRIC_GAUGE, NULL);
}

/* ---- batch API (worker thread) ---- */

struct sl_str sl_batch_tag(const struct sl_batch *b)
{
    return sl_str_make(b->chunk->tag, b->chunk->tag_len);
}

size_t sl_batch_count(const struct sl_batch *b)
{
    return b->count;
}

size_t sl_batch_bytes(const struct sl_batch *b)
{
    return b->bytes;
}

unsigned sl_batch_attempts(const struct sl_batch *b)
{
    return b->attempts;
}

void sl_batch_iter_init(const struct sl_batch *b, struct sl_batch_iter *it)
{
    (void)b;
    it->off = 0;
    it->index = 0;
}

bool sl_batch_next(const struct sl_batch *b, struct sl_batch_iter *it,
                   struct sl_event *ev)
{
    for (;;) {
        size_t idx = it->index;

        if (!sl_chunk_frames_next(b->data, b->len, &it->off, &ev->ts_ns,
                                  &ev->body)) {
            return false;
        }
        it->index++;
        if (b->skip == NULL || !b->skip[idx]) {
            ev->index = idx;
            return true;
        }
    }
}

void sl_batch_set_error(struct sl_batch *b, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(b->error, sizeof(b->error), fmt, ap);
    va_end(ap);
}

void sl_batch_retry_after(struct sl_batch *b, int64_t ms)
{
    b->retry_after_ms = ms;
}

int sl_batch_fail_record(struct sl_batch *b, size_t index, bool permanent,
                         const char *error)
{
    if (index >= b->chunk->records) {
        return SL_EINVAL;
    }
    if (b->failed == NULL) {
        b->failed = sl_calloc(b->chunk->records, 1);
        if (b->failed == NULL) {
            return SL_ENOMEM;
        }
    }
    b->failed[index] = permanent ? 2 : 1;
    if (error != NULL && b->error[0] == '\0') {
        snprintf(b->error, sizeof(b->error), "%s", error);
    }
    if (error != NULL && permanent) {
        /* Kept per record for the dead-letter queue. */
        if (b->fail_errs == NULL) {
            b->fail_errs = sl_calloc(b->chunk->records, sizeof(char *));
        }
        if (b->fail_errs != NULL && b->fail_errs[index] == NULL) {
            b->fail_errs[index] = sl_strndup(error, strnlen(error, 1024));
        }
    }
    return SL_OK;
}

struct event_base *sl_worker_base(const struct sl_worker *w)
{
    return w->base;
}

struct sl_instance *sl_worker_instance(const struct sl_worker *w)
{
    return w->out->ins;
}

void *sl_worker_ctx(const struct sl_worker *w)
{
    return w->ctx;
}

void sl_worker_set_ctx(struct sl_worker *w, void *ctx)
{
    w->ctx = ctx;
}

unsigned sl_worker_id(const struct sl_worker *w)
{
    return w->id;
}

/* ---- worker thread ---- */

static void batch_free_errs(struct sl_batch *b)
{
    size_t i;

    if (b->fail_errs == NULL) {
        return;
    }
    for (i = 0; i < b->chunk->records; i++) {
        sl_free(b->fail_errs[i]);
    }
    sl_free(b->fail_errs);
    b->fail_errs = NULL;
}

static void batch_free(struct sl_batch *b)
{
    batch_free_errs(b);
    sl_free(b->owned);
    sl_free(b->skip);
    sl_free(b->failed);
    sl_free(b);
}

/* The batch is finished for this output: release the chunk to the main
 * thread and let the worker take the next one. */
static void batch_complete(struct sl_batch *b)
{
    struct sl_output *out = b->out;
    struct sl_worker *w = b->w;

    /* Free before the acknowledgement: the main thread's idle flush asks
     * whether this worker could take a batch when the ack arrives. */
    pthread_mutex_lock(&out->lock);
    w->current = NULL;
    pthread_mutex_unlock(&out->lock);
    sl_engine_post_ack(out->engine, b->chunk, out->ins->slot, true);
    batch_free(b);
    event_active(w->wake, EV_READ, 0);
}

static void batch_note_failure(struct sl_batch *b)
{
    struct sl_output *out = b->out;

    sl_metric_add(out->m_errors, 1);
    pthread_mutex_lock(&out->lock);
    out->consecutive_failures++;
    snprintf(out->last_error, sizeof(out->last_error), "%s",
             b->error[0] != '\0' ? b->error : "flush failed");
    pthread_mutex_unlock(&out->lock);
}

static void batch_note_success(struct sl_batch *b, size_t records,
                               size_t bytes)
{
    struct sl_output *out = b->out;
    double age = (double)(sl_time_now_ns() - b->chunk->created_ns) / 1e9;

    sl_metric_add(out->m_records, records);
    sl_metric_add(out->m_bytes, bytes);
    sl_metric_observe_n(out->m_latency, age < 0 ? 0 : age, records);
    pthread_mutex_lock(&out->lock);
    if (out->consecutive_failures > 0) {
        sl_log_info(out->ins, "delivering again after %llu failed flushes",
                    (unsigned long long)out->consecutive_failures);
    }
    out->consecutive_failures = 0;
    out->last_error[0] = '\0';
    pthread_mutex_unlock(&out->lock);
}

/* Writes the records of <b> that <want> selects (want 0: every record
 * still pending; 2: those failed permanently) to the dead-letter queue.
 * Records that could not be written are counted in <drop> instead. */
static void batch_dead_letter(struct sl_batch *b, uint8_t want,
                              struct sl_metric *drop)
{
    struct sl_output *out = b->out;
    struct sl_batch_iter it;
    struct sl_event ev;
    struct sl_buf lines;
    size_t n = 0;
    int rc = SL_OK;
    const char *why = b->error[0] != '\0' ? b->error : "no reason given";

    sl_buf_init(&lines, 0);
    sl_batch_iter_init(b, &it);
    while (sl_batch_next(b, &it, &ev)) {
        if (want != 0 && (b->failed == NULL || b->failed[ev.index] != want)) {
            continue;
        }
        n++;
        if (rc == SL_OK && out->dlq_on) {
            const char *own = b->fail_errs != NULL ? b->fail_errs[ev.index]
                                                   : NULL;

            rc = sl_dlq_format(&lines, out->ins->name, sl_batch_tag(b),
                               ev.ts_ns, ev.body, own != NULL ? own : why,
                               b->attempts);
        }
    }
    if (n == 0) {
        sl_buf_fini(&lines);
        return;
    }
    if (out->dlq_on && rc == SL_OK) {
        rc = sl_dlq_write(&out->dlq, sl_buf_str(&lines));
    }
    if (out->dlq_on && rc == SL_OK) {
        sl_metric_add(out->m_dlq, n);
        sl_log_error(out->ins, "%zu records of tag %s sent to the dead-letter "
                               "queue after %u attempts: %s",
                     n, b->chunk->tag, b->attempts, why);
    } else {
        sl_metric_add(drop, n);
        sl_log_error(out->ins, "%zu records of tag %s dropped after %u "
                               "attempts (%s): %s",
                     n, b->chunk->tag, b->attempts,
                     out->dlq_on ? "dead-letter queue write failed"
                                 : "dead-letter queue off",
                     why);
    }
    sl_buf_fini(&lines);
}

static void batch_retry_or_give_up(struct sl_batch *b)
{
    struct sl_output *out = b->out;
    struct sl_worker *w = b->w;
    int64_t limit = out->ins->retry_limit, delay;
    struct timeval tv;

    if (limit >= 0 && (int64_t)b->attempts > limit) {
        sl_metric_add(out->m_retries_failed, 1);
        batch_dead_letter(b, 0, out->m_drop_retry);
        batch_complete(b);
        return;
    }
    sl_metric_add(out->m_retries, 1);
    delay = sl_backoff_ms(out->ins->g.retry_base_ms,
                                out->ins->g.retry_max_ms, b->attempts,
                                b->retry_after_ms, &w->rng);
    sl_log_warn(out->ins, "flush of %zu records failed (%s); retry %u in %lld ms",
                b->count, b->error[0] ? b->error : "no reason given",
                b->attempts, (long long)delay);
    b->state = SL_BATCH_WAITING;
    b->retry_after_ms = 0;
    tv.tv_sec = delay / 1000;
    tv.tv_usec = (delay % 1000) * 1000;
    evtimer_add(w->retry_timer, &tv);
}

/* Applies a PARTIAL result: delivered and permanently failed records are
 * marked done, the rest stays for the retry.  Returns records left. */
static size_t batch_apply_partial(struct sl_batch *b)
{
    struct sl_output *out = b->out;
    struct sl_batch_iter it;
    struct sl_event ev;
    size_t ok = 0, okbytes = 0, perm = 0;

    if (b->skip == NULL) {
        b->skip = sl_calloc(b->chunk->records, 1);
        if (b->skip == NULL) {
            return b->count; /* retry everything: at-least-once */
        }
    }
    sl_batch_iter_init(b, &it);
    while (sl_batch_next(b, &it, &ev)) {
        uint8_t f = b->failed != NULL ? b->failed[ev.index] : 0;

        if (f == 1) {
            continue;
        }
        if (f == 2) {
            perm++;
            continue;
        }
        b->skip[ev.index] = 1;
        b->count--;
        b->bytes -= ev.body.len;
        ok++;
        okbytes += ev.body.len;
    }
    if (ok > 0) {
        double age = (double)(sl_time_now_ns() - b->chunk->created_ns) / 1e9;

        sl_metric_add(out->m_records, ok);
        sl_metric_add(out->m_bytes, okbytes);
        sl_metric_observe_n(out->m_latency, age < 0 ? 0 : age, ok);
    }
    if (perm > 0) {
        batch_dead_letter(b, 2, out->m_drop_error);
        sl_batch_iter_init(b, &it);
        while (sl_batch_next(b, &it, &ev)) {
            if (b->failed[ev.index] == 2) {
                b->skip[ev.index] = 1;
                b->count--;
                b->bytes -= ev.body.len;
            }
        }
    }
    sl_free(b->failed);
    b->failed = NULL;
    batch_free_errs(b);
    return b->count;
}

static void batch_finish(struct sl_batch *b, enum sl_flush_result r)
{
    struct sl_output *out = b->out;

    sl_metric_observe(out->m_request,
                      (double)(sl_time_mono_ns() - b->flush_mono_ns) / 1e9);
    b->attempts++;
    switch (r) {
    case SL_FLUSH_OK:
        batch_note_success(b, b->count, b->bytes);
        batch_complete(b);
        return;
    case SL_FLUSH_PARTIAL:
        if (batch_apply_partial(b) == 0) {
            batch_complete(b);
            return;
        }
        batch_note_failure(b);
        batch_retry_or_give_up(b);
        return;
    case SL_FLUSH_ERROR:
        batch_note_failure(b);
        batch_dead_letter(b, 0, out->m_drop_error);
        batch_complete(b);
        return;
    case SL_FLUSH_RETRY:
    case SL_FLUSH_PENDING:
    default:
        batch_note_failure(b);
        batch_retry_or_give_up(b);
        return;
    }
}

void sl_batch_done(struct sl_batch *b, enum sl_flush_result r)
{
    if (b->state != SL_BATCH_FLUSHING || r == SL_FLUSH_PENDING) {
        sl_log_error(b->out->ins, "bug: sl_batch_done called twice or with "
                                  "PENDING; ignored");
        return;
    }
    batch_finish(b, r);
}

/* Points the batch at its chunk's frames, reading them back from the
 * chunk file when filesystem storage released them from memory. */
static int batch_load(struct sl_batch *b)
{
    size_t len;
    int rc;

    if (b->data != NULL) {
        return SL_OK;
    }
    if (b->chunk->data != NULL) {
        b->data = b->chunk->data;
        b->len = b->chunk->len;
        return SL_OK;
    }
    rc = sl_chunk_fs_load(b->chunk, &b->owned, &len);
    if (rc != SL_OK) {
        sl_batch_set_error(b, "cannot read chunk file %s: %s", b->chunk->path,
                           sl_strerror(rc));
        return rc;
    }
    b->data = b->owned;
    b->len = len;
    return SL_OK;
}

static void worker_flush(struct sl_worker *w, struct sl_batch *b)
{
    enum sl_flush_result r;

    b->state = SL_BATCH_FLUSHING;
    b->error[0] = '\0';
    b->flush_mono_ns = sl_time_mono_ns();
    if (batch_load(b) != SL_OK) {
        batch_finish(b, SL_FLUSH_RETRY);
        return;
    }
    r = w->out->ins->plugin->flush(b, w);
    if (r != SL_FLUSH_PENDING) {
        batch_finish(b, r);
    }
}

static void worker_retry_cb(evutil_socket_t fd, short what, void *arg)
{
    struct sl_worker *w = arg;

    (void)fd;
    (void)what;
    if (w->current != NULL && w->current->state == SL_BATCH_WAITING) {
        worker_flush(w, w->current);
    }
}

static struct sl_batch *output_take(struct sl_output *out, struct sl_worker *w)
{
    struct sl_batch *b;

    pthread_mutex_lock(&out->lock);
    b = out->head;
    if (b != NULL) {
        out->head = b->next;
        if (out->head == NULL) {
            out->tail = NULL;
        }
        out->queued_records -= b->count;
        out->queued_bytes -= b->chunk->len;
        b->next = NULL;
        b->w = w;
        w->current = b;
    }
    pthread_mutex_unlock(&out->lock);
    if (b != NULL) {
        sl_metric_set(out->m_queue_bytes, (int64_t)out->queued_bytes);
    }
    return b;
}

static void worker_abandon_current(struct sl_worker *w)
{
    struct sl_batch *b = w->current;

    if (b == NULL) {
        return;
    }
    evtimer_del(w->retry_timer);
    if (!b->chunk->fs) {
        /* A file-backed chunk stays on disk for the next start. */
        sl_metric_add(w->out->m_drop_shutdown, b->count);
    }
    sl_engine_post_ack(w->out->engine, b->chunk, w->out->ins->slot, false);
    pthread_mutex_lock(&w->out->lock);
    w->current = NULL;
    pthread_mutex_unlock(&w->out->lock);
    batch_free(b);
}

static void worker_wake_cb(evutil_socket_t fd, short what, void *arg)
{
    struct sl_worker *w = arg;
    struct sl_output *out = w->out;
    struct sl_batch *b;
    bool stop, hard;

    (void)fd;
    (void)what;
    pthread_mutex_lock(&out->lock);
    stop = w->stop;
    hard = w->hard_stop;
    pthread_mutex_unlock(&out->lock);
    if (stop && hard) {
        if (out->ins->plugin->worker_exit != NULL && w->inited) {
            out->ins->plugin->worker_exit(out->ins, w);
            w->inited = false;
        }
        worker_abandon_current(w);
        event_base_loopbreak(w->base);
        return;
    }
    if (w->current != NULL) {
        return;
    }
    b = output_take(out, w);
    if (b != NULL) {
        worker_flush(w, b);
        return;
    }
    if (stop) {
        if (out->ins->plugin->worker_exit != NULL && w->inited) {
            out->ins->plugin->worker_exit(out->ins, w);
            w->inited = false;
        }
        event_base_loopbreak(w->base);
    }
}

struct worker_start {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    unsigned done;
    int rc;
    struct sl_err err;
};

static void *worker_main(void *arg)
{
    struct sl_worker *w = arg;
    struct sl_output *out = w->out;
    struct worker_start *ws = (struct worker_start *)w->ctx;
    struct sl_err err = { 0 };
    int rc = SL_OK;

    w->ctx = NULL;
    if (out->ins->plugin->worker_init != NULL) {
        rc = out->ins->plugin->worker_init(out->ins, w, &err);
    }
    w->inited = rc == SL_OK;
    pthread_mutex_lock(&ws->lock);
    if (rc != SL_OK && ws->rc == SL_OK) {
        ws->rc = rc;
        ws->err = err;
    }
    ws->done++;
    pthread_cond_signal(&ws->cond);
    pthread_mutex_unlock(&ws->lock);
    if (rc != SL_OK) {
        return NULL;
    }
    event_base_loop(w->base, EVLOOP_NO_EXIT_ON_EMPTY);
    return NULL;
}

int sl_output_create(struct sl_engine *e, struct sl_instance *ins,
                     struct sl_err *err)
{
    struct sl_output *out = sl_calloc(1, sizeof(*out));
    unsigned i;

    if (out == NULL) {
        return sl_err_set(err, SL_ENOMEM, "out of memory");
    }
    out->ins = ins;
    out->engine = e;
    out->nworkers = (unsigned)(ins->g.workers > 0 ? ins->g.workers : 1);
    pthread_mutex_init(&out->lock, NULL);
    out->workers = sl_calloc(out->nworkers, sizeof(*out->workers));
    if (out->workers == NULL) {
        sl_free(out);
        return sl_err_set(err, SL_ENOMEM, "out of memory");
    }
    for (i = 0; i < out->nworkers; i++) {
        out->workers[i].out = out;
        out->workers[i].id = i;
        out->workers[i].rng = (uint64_t)sl_time_mono_ns() ^
                              ((uint64_t)(i + 1) << 32) ^ (uintptr_t)out;
    }
    output_metrics_init(out);
    out->dlq_on = ins->g.dlq;
    sl_metric_set(out->m_limit_bytes, (int64_t)ins->g.total_limit_size);
    if (sl_dlq_init(&out->dlq, sl_instance_storage_path(ins), ins->name,
                    NULL) != SL_OK) {
        sl_free(out->workers);
        pthread_mutex_destroy(&out->lock);
        sl_free(out);
        return sl_err_set(err, SL_ENOMEM, "out of memory");
    }
    ins->out = out;
    return SL_OK;
}

static int worker_prepare(struct sl_worker *w)
{
    w->base = event_base_new();
    if (w->base == NULL) {
        return SL_ENOMEM;
    }
    w->wake = event_new(w->base, -1, 0, worker_wake_cb, w);
    w->retry_timer = evtimer_new(w->base, worker_retry_cb, w);
    if (w->wake == NULL || w->retry_timer == NULL) {
        return SL_ENOMEM;
    }
    return SL_OK;
}

int sl_output_start(struct sl_output *out, struct sl_err *err)
{
    struct worker_start ws;
    unsigned i, started = 0;
    int rc = SL_OK;

    memset(&ws, 0, sizeof(ws));
    pthread_mutex_init(&ws.lock, NULL);
    pthread_cond_init(&ws.cond, NULL);
    for (i = 0; i < out->nworkers; i++) {
        struct sl_worker *w = &out->workers[i];

        if (worker_prepare(w) != SL_OK) {
            rc = sl_err_set(err, SL_ENOMEM, "out of memory");
            break;
        }
        w->ctx = &ws; /* handed to the thread, reset by it */
        if (pthread_create(&w->thread, NULL, worker_main, w) != 0) {
            rc = sl_err_set(err, SL_EIO, "cannot start worker thread");
            break;
        }
        w->thread_started = true;
        started++;
    }
    pthread_mutex_lock(&ws.lock);
    while (ws.done < started) {
        pthread_cond_wait(&ws.cond, &ws.lock);
    }
    pthread_mutex_unlock(&ws.lock);
    if (rc == SL_OK && ws.rc != SL_OK) {
        rc = ws.rc;
        *err = ws.err;
    }
    pthread_cond_destroy(&ws.cond);
    pthread_mutex_destroy(&ws.lock);
    if (rc != SL_OK) {
        sl_output_stop(out, true);
    }
    return rc;
}

int sl_output_push(struct sl_output *out, struct sl_chunk *c)
{
    struct sl_batch *b = sl_calloc(1, sizeof(*b));
    unsigned i;

    if (b == NULL) {
        return SL_ENOMEM;
    }
    b->out = out;
    b->chunk = c;
    b->count = c->records;
    b->bytes = c->body_bytes;
    b->queued_mono_ns = sl_time_mono_ns();
    pthread_mutex_lock(&out->lock);
    if (out->tail != NULL) {
        out->tail->next = b;
    } else {
        out->head = b;
    }
    out->tail = b;
    out->queued_records += b->count;
    out->queued_bytes += c->len;
    pthread_mutex_unlock(&out->lock);
    sl_metric_set(out->m_queue_bytes, (int64_t)out->queued_bytes);
    /* Wake every idle worker; the first to take the lock gets it. */
    for (i = 0; i < out->nworkers; i++) {
        if (out->workers[i].wake != NULL) {
            event_active(out->workers[i].wake, EV_READ, 0);
        }
    }
    return SL_OK;
}

bool sl_output_idle(struct sl_output *out)
{
    bool idle;
    unsigned i;

    pthread_mutex_lock(&out->lock);
    idle = out->head == NULL;
    for (i = 0; idle && i < out->nworkers; i++) {
        idle = out->workers[i].current == NULL;
    }
    pthread_mutex_unlock(&out->lock);
    return idle;
}

bool sl_output_hungry(struct sl_output *out)
{
    bool hungry = false;
    unsigned i;

    pthread_mutex_lock(&out->lock);
    if (out->head == NULL) {
        for (i = 0; !hungry && i < out->nworkers; i++) {
            hungry = out->workers[i].current == NULL &&
                     !out->workers[i].stop;
        }
    }
    pthread_mutex_unlock(&out->lock);
    return hungry;
}

void sl_output_stop(struct sl_output *out, bool hard)
{
    unsigned i;

    pthread_mutex_lock(&out->lock);
    for (i = 0; i < out->nworkers; i++) {
        out->workers[i].stop = true;
        out->workers[i].hard_stop = hard;
    }
    pthread_mutex_unlock(&out->lock);
    for (i = 0; i < out->nworkers; i++) {
        struct sl_worker *w = &out->workers[i];

        if (w->thread_started) {
            event_active(w->wake, EV_READ, 0);
            pthread_join(w->thread, NULL);
            w->thread_started = false;
        }
    }
}

uint64_t sl_output_abandon(struct sl_output *out)
{
    struct sl_batch *b, *next;
    uint64_t n = 0;

    pthread_mutex_lock(&out->lock);
    b = out->head;
    out->head = out->tail = NULL;
    out->queued_records = 0;
    out->queued_bytes = 0;
    pthread_mutex_unlock(&out->lock);
    for (; b != NULL; b = next) {
        next = b->next;
        n += b->count;
        if (!b->chunk->fs) {
            sl_metric_add(out->m_drop_shutdown, b->count);
        }
        sl_engine_post_ack(out->engine, b->chunk, out->ins->slot, false);
        batch_free(b);
    }
    sl_metric_set(out->m_queue_bytes, 0);
    return n;
}

void sl_output_queue_stats(struct sl_output *out, uint64_t *chunks,
                           uint64_t *records, uint64_t *bytes,
                           int64_t *oldest_ns)
{
    const struct sl_batch *b;
    unsigned i;

    *chunks = 0;
    *records = 0;
    *bytes = 0;
    *oldest_ns = 0;
    pthread_mutex_lock(&out->lock);
    for (i = 0; i < out->nworkers; i++) {
        b = out->workers[i].current;
        if (b != NULL) {
            (*chunks)++;
            *records += b->count;
            *bytes += b->chunk->len;
            if (*oldest_ns == 0 || b->chunk->created_ns < *oldest_ns) {
                *oldest_ns = b->chunk->created_ns;
            }
        }
    }
    for (b = out->head; b != NULL; b = b->next) {
        (*chunks)++;
        *records += b->count;
        *bytes += b->chunk->len;
        if (*oldest_ns == 0 || b->chunk->created_ns < *oldest_ns) {
            *oldest_ns = b->chunk->created_ns;
        }
    }
    pthread_mutex_unlock(&out->lock);
}

uint64_t sl_output_queued_bytes(struct sl_output *out)
{
    uint64_t n;
    unsigned i;

    pthread_mutex_lock(&out->lock);
    n = out->queued_bytes;
    for (i = 0; i < out->nworkers; i++) {
        if (out->workers[i].current != NULL) {
            n += out->workers[i].current->chunk->len;
        }
    }
    pthread_mutex_unlock(&out->lock);
    return n;
}

uint64_t sl_output_drop_oldest(struct sl_output *out, uint64_t limit)
{
    struct sl_batch *drop = NULL, *b;
    uint64_t n = 0;

    pthread_mutex_lock(&out->lock);
    while (out->head != NULL && out->queued_bytes > limit) {
        b = out->head;
        out->head = b->next;
        if (out->head == NULL) {
            out->tail = NULL;
        }
        out->queued_records -= b->count;
        out->queued_bytes -= b->chunk->len;
        b->next = drop;
        drop = b;
    }
    pthread_mutex_unlock(&out->lock);
    while (drop != NULL) {
        b = drop;
        drop = b->next;
        n += b->count;
        sl_metric_add(out->m_drop_overflow, b->count);
        /* Dropped by configuration: done for this output. */
        sl_engine_post_ack(out->engine, b->chunk, out->ins->slot, true);
        batch_free(b);
    }
    sl_metric_set(out->m_queue_bytes, (int64_t)out->queued_bytes);
    return n;
}

void sl_output_destroy(struct sl_output *out)
{
    unsigned i;

    if (out == NULL) {
        return;
    }
    for (i = 0; i < out->nworkers; i++) {
        struct sl_worker *w = &out->workers[i];

        if (w->current != NULL) {
            worker_abandon_current(w);
        }
        if (w->wake != NULL) {
            event_free(w->wake);
        }
        if (w->retry_timer != NULL) {
            event_free(w->retry_timer);
        }
        if (w->base != NULL) {
            event_base_free(w->base);
        }
    }
    pthread_mutex_destroy(&out->lock);
    sl_dlq_fini(&out->dlq);
    sl_free(out->workers);
    out->ins->out = NULL;
    sl_free(out);
}
