/*
 * input.c - the record path on the main thread: parse, filter, route,
 * append to chunks, and the backpressure bookkeeping of inputs.
 *
 * This is the hot path of every pipeline: per record it does one parser
 * call (which for JSON is a validation of the bytes, DESIGN 10), looks the
 * tag up (one compare when the tag did not change), runs the filters the
 * tag's route names, and copies the body once into the open chunk.  No
 * allocation per record in steady state: scratch buffers and the arena
 * belong to the engine and are reused.
 */
#include <string.h>

#include <event2/event.h>

#include "engine.h"
#include "log.h"
#include "worker.h"
#include "sluice/banned.h"

struct sl_instance *sl_input_parser(const struct sl_instance *ins)
{
    return ins != NULL ? ins->parser : NULL;
}

bool sl_input_commit_durable(const struct sl_instance *ins)
{
    return ins != NULL && ins->engine != NULL &&
           ins->g.storage_type == SL_STORAGE_FILESYSTEM;
}

bool sl_input_paused(const struct sl_instance *ins)
{
    return ins->paused || ins->blocked || ins->stopped;
}

/* Tells the plugin when the effective state (paused by mem_buf_limit or
 * blocked by an output's storage limit) changed from <was>. */
static void input_apply_pause(struct sl_instance *ins, bool was)
{
    bool now = ins->paused || ins->blocked;

    if (now == was || ins->stopped) {
        return;
    }
    sl_metric_set(ins->m_paused, now ? 1 : 0);
    if (now && ins->plugin->pause != NULL) {
        ins->plugin->pause(ins);
    } else if (!now && ins->plugin->resume != NULL) {
        ins->plugin->resume(ins);
    }
}

static void input_pause(struct sl_instance *ins)
{
    bool was = ins->paused || ins->blocked;

    if (ins->paused) {
        return;
    }
    ins->paused = true;
    sl_log_warn(ins, "paused: %llu bytes buffered reached mem_buf_limit %llu",
                (unsigned long long)ins->buffered,
                (unsigned long long)ins->g.mem_buf_limit);
    input_apply_pause(ins, was);
}

static void input_resume(struct sl_instance *ins)
{
    bool was = ins->paused || ins->blocked;

    if (!ins->paused) {
        return;
    }
    ins->paused = false;
    sl_log_info(ins, "resumed: %llu bytes buffered",
                (unsigned long long)ins->buffered);
    input_apply_pause(ins, was);
}

void sl_input_set_blocked(struct sl_instance *ins, bool blocked)
{
    bool was = ins->paused || !blocked;

    /* The caller already stored <blocked>; <was> is the state before. */
    if (blocked) {
        sl_log_warn(ins, "paused: an output it feeds reached its "
                         "storage.total_limit_size (overflow: block)");
    } else {
        sl_log_info(ins, "resumed: outputs below their storage limit");
    }
    input_apply_pause(ins, was);
}

uint64_t sl_input_mark(const struct sl_instance *ins)
{
    return ins->append_seq;
}

uint64_t sl_input_delivered(const struct sl_instance *ins)
{
    return ins->delivered_seq;
}

/* The delivered mark: everything before the oldest outstanding chunk's
 * first record (or everything appended, when none is outstanding). */
static void input_advance_delivered(struct sl_instance *ins)
{
    uint64_t mark = ins->out_head != NULL ? ins->out_head->first_seq
                                          : ins->append_seq;

    if (mark <= ins->delivered_seq) {
        return;
    }
    ins->delivered_seq = mark;
    /* Also after stop: what was buffered is still being delivered during
     * the grace period, and inputs acknowledge it then (Kafka offsets). */
    if (ins->plugin->delivered != NULL) {
        ins->plugin->delivered(ins, mark);
    }
}

void sl_input_chunk_done(struct sl_instance *ins, struct sl_chunk *c)
{
    if (c->in_prev != NULL) {
        c->in_prev->in_next = c->in_next;
    } else if (ins->out_head == c) {
        ins->out_head = c->in_next;
    }
    if (c->in_next != NULL) {
        c->in_next->in_prev = c->in_prev;
    } else if (ins->out_tail == c) {
        ins->out_tail = c->in_prev;
    }
    c->in_prev = c->in_next = NULL;
    if (c->abandoned) {
        /* Given up at shutdown (or kept on disk for the next start): the
         * records after it must not be reported delivered either. */
        ins->delivered_frozen = true;
    }
    if (!ins->delivered_frozen) {
        input_advance_delivered(ins);
    }
}

void sl_input_release(struct sl_instance *ins, size_t bytes)
{
    ins->buffered = ins->buffered > bytes ? ins->buffered - bytes : 0;
    /* Hysteresis: resume below 80% so that a paused input does not flap
     * on every acknowledged chunk. */
    if (ins->paused && ins->buffered <= ins->g.mem_buf_limit / 10 * 8) {
        input_resume(ins);
    }
}

void sl_input_dropped(struct sl_instance *ins, const char *reason,
                      uint64_t n)
{
    const char *labels[] = { "name",   ins->name, "plugin", ins->plugin->name,
                             "reason", reason,    NULL };
    struct sl_metric *m;

    if (ins->metrics == NULL) {
        return;
    }
    m = sl_metrics_get(ins->metrics, "sluice_input_dropped_records_total",
                       "Records the input dropped, by reason.",
                       SL_METRIC_COUNTER, labels);
    sl_metric_add(m, n);
}

void sl_input_finished(struct sl_instance *ins)
{
    struct sl_engine *e = ins->engine;
    size_t i;

    if (ins->finished) {
        return;
    }
    ins->finished = true;
    sl_input_flush_chunks(ins);
    if (e == NULL) {
        return;
    }
    for (i = 0; i < e->ninputs; i++) {
        if (!e->inputs[i]->finished) {
            return;
        }
    }
    if (!e->all_finished_notified && e->on_inputs_finished != NULL) {
        e->all_finished_notified = true;
        e->on_inputs_finished(e, e->on_drained_arg);
    }
}

void sl_input_publish_counts(struct sl_instance *ins)
{
    /* Two relaxed atomic adds per record were a tenth of the syslog input's
     * time; once per chunk they cost nothing.  A chunk is only handed to
     * outputs after this ran, so an output never counts a record the input
     * has not. */
    if (ins->n_records > 0) {
        sl_metric_add(ins->m_records, ins->n_records);
        ins->n_records = 0;
    }
    if (ins->n_bytes > 0) {
        sl_metric_add(ins->m_bytes, ins->n_bytes);
        ins->n_bytes = 0;
    }
}

static void input_seal(struct sl_instance *ins, struct sl_chunk *c,
                       enum sl_seal_reason why)
{
    int rc;

    sl_input_publish_counts(ins);
    sl_metric_add(ins->m_sealed[why], 1);
    sl_strmap_del(&ins->open_chunks, sl_str_make(c->tag, c->tag_len));
    if (ins->last_chunk == c) {
        ins->last_chunk = NULL;
    }
    if (c->fs) {
        size_t len = c->len;

        if (sl_chunk_fs_seal(c, ins->engine->fsyncq, &rc) > 0 ||
            c->data == NULL) {
            /* On disk now: the memory no longer counts against
             * mem_buf_limit; outputs read the file back. */
            c->mem_released = true;
            sl_input_release(ins, len);
        } else {
            sl_log_error(ins, "cannot write chunk file %s: %s; keeping it in "
                              "memory",
                         c->path, sl_strerror(rc));
        }
    }
    sl_engine_dispatch(ins->engine, c);
}

int sl_input_commit(struct sl_instance *ins)
{
    struct sl_engine *e = ins->engine;
    size_t i = 0;
    void *v;
    int rc, first = SL_OK;

    if (e == NULL || ins->g.storage_type != SL_STORAGE_FILESYSTEM) {
        return SL_OK;
    }
    while (sl_strmap_next(&ins->open_chunks, &i, NULL, &v)) {
        rc = sl_chunk_fs_commit(v, e->svc.storage_sync == SL_SYNC_FULL);
        if (rc != SL_OK && first == SL_OK) {
            first = rc;
            sl_log_error(ins, "cannot write chunk file %s: %s",
                         ((struct sl_chunk *)v)->path, sl_strerror(rc));
        }
    }
    return first;
}

void sl_input_flush_chunks(struct sl_instance *ins)
{
    size_t i = 0;
    void *v;

    while (sl_strmap_next(&ins->open_chunks, &i, NULL, &v)) {
        struct sl_chunk *c = v;

        if (c->records > 0) {
            input_seal(ins, c, SL_SEAL_FLUSH);
        }
    }
}

void sl_input_idle_seal(struct sl_instance *ins, uint64_t hungry,
                        int64_t now_ns, int64_t *wait_ns)
{
    struct sl_engine *e = ins->engine;
    size_t i = 0;
    void *v;

    if (ins->stopped) {
        return;
    }
    while (sl_strmap_next(&ins->open_chunks, &i, NULL, &v)) {
        struct sl_chunk *c = v;
        struct sl_route *r;
        int64_t age = now_ns - c->created_mono_ns;
        int64_t min_age_ns = (c->fs ? e->svc.storage_idle_flush_min_age_ms
                                    : e->svc.idle_flush_min_age_ms) *
                             SL_NS_PER_MS;

        if (c->records == 0) {
            continue;
        }
        r = sl_engine_route(e, sl_str_make(c->tag, c->tag_len));
        if (r != NULL && (r->outputs & ~hungry) != 0) {
            continue; /* a busy output: its acknowledgement checks again */
        }
        if (age >= min_age_ns) {
            input_seal(ins, c, SL_SEAL_IDLE);
        } else if (min_age_ns - age < *wait_ns) {
            *wait_ns = min_age_ns - age;
        }
    }
}

static struct sl_chunk *input_open_chunk(struct sl_instance *ins,
                                         struct sl_str tag)
{
    struct sl_chunk *c = ins->last_chunk;

    if (c != NULL && c->tag_len == tag.len &&
        memcmp(c->tag, tag.ptr, tag.len) == 0) {
        return c;
    }
    c = sl_strmap_get(&ins->open_chunks, tag);
    if (c == NULL) {
        struct sl_err err = { 0 };

        c = sl_chunk_create(tag, ins->engine->svc.chunk_size);
        if (c == NULL) {
            return NULL;
        }
        c->input = ins;
        c->first_seq = ins->append_seq;
        c->in_prev = ins->out_tail;
        if (ins->out_tail != NULL) {
            ins->out_tail->in_next = c;
        } else {
            ins->out_head = c;
        }
        ins->out_tail = c;
        if (ins->chunk_dir != NULL &&
            sl_chunk_fs_create(c, ins->chunk_dir,
                               ins->engine->svc.storage_checksum,
                               &err) != SL_OK) {
            /* Never lose the record: buffer it in memory instead, and say
             * that this chunk is not crash-safe. */
            sl_log_error(ins, "%s; buffering in memory", err.msg);
        }
        if (sl_strmap_put(&ins->open_chunks, tag, c) != SL_OK) {
            sl_input_chunk_done(ins, c);
            sl_chunk_destroy(c);
            return NULL;
        }
    }
    ins->last_chunk = c;
    return c;
}

static int input_store(struct sl_instance *ins, struct sl_str tag,
                       int64_t ts_ns, struct sl_str body)
{
    struct sl_chunk *c = input_open_chunk(ins, tag);
    size_t before;
    int rc;

    if (c == NULL) {
        return SL_ENOMEM;
    }
    before = c->len;
    rc = sl_chunk_append(c, ts_ns, body);
    if (rc == SL_ELIMIT) {
        input_seal(ins, c, SL_SEAL_FULL);
        c = input_open_chunk(ins, tag);
        if (c == NULL) {
            return SL_ENOMEM;
        }
        before = c->len;
        rc = sl_chunk_append(c, ts_ns, body);
    }
    if (rc != SL_OK) {
        return rc;
    }
    ins->append_seq++;
    ins->buffered += c->len - before;
    if (c->len >= c->max) {
        input_seal(ins, c, SL_SEAL_FULL);
    } else {
        sl_engine_idle_arm(ins->engine);
    }
    if (ins->buffered >= ins->g.mem_buf_limit) {
        input_pause(ins);
    }
    return SL_OK;
}

/* Runs the route's filters.  Returns false when a filter dropped the
 * record.  On return r->body is the record's final bytes. */
static bool input_filter(struct sl_engine *e, struct sl_route *route,
                         struct sl_record *r)
{
    size_t i;

    for (i = 0; i < route->nfilters; i++) {
        struct sl_instance *f = route->filters[i];
        enum sl_filter_result fr = f->plugin->filter(f, r);

        if (fr == SL_FILTER_DROP) {
            sl_metric_add(f->m_dropped, 1);
            return false;
        }
        if (fr == SL_FILTER_MODIFIED) {
            r->dirty = true;
            sl_metric_add(f->m_modified, 1);
        }
    }
    if (r->dirty && r->dom != NULL) {
        sl_buf_reset(&e->scratch_body);
        if (sl_json_serialize(r->dom, &e->scratch_body) == SL_OK) {
            r->body = sl_buf_str(&e->scratch_body);
        }
    }
    return true;
}

int sl_input_append(struct sl_instance *ins, struct sl_str tag,
                    int64_t ts_ns, struct sl_str body)
{
    struct sl_engine *e = ins->engine;
    struct sl_route *route;
    struct sl_record r;
    uint64_t mask;
    int rc;

    if (e == NULL || ins->stopped) {
        return SL_ECLOSED;
    }
    if (tag.ptr == NULL) {
        tag = ins->tag;
    }
    if (ts_ns == 0) {
        ts_ns = sl_time_now_ns();
    }
    ins->n_records++;
    route = sl_engine_route(e, tag);
    if (route == NULL) {
        return SL_ENOMEM;
    }
    mask = route->outputs;
    ins->out_mask |= mask;
    if (route->nfilters > 0) {
        memset(&r, 0, sizeof(r));
        r.ts_ns = ts_ns;
        r.tag = tag;
        r.body = body;
        r.arena = &e->arena;
        if (!input_filter(e, route, &r)) {
            sl_arena_reset(&e->arena);
            ins->append_seq++;
            return SL_OK;
        }
        if (!sl_str_eq(r.tag, tag)) {
            struct sl_route *nr = sl_engine_route(e, r.tag);

            mask = nr != NULL ? nr->outputs : 0;
            ins->out_mask |= mask;
        }
        tag = r.tag;
        body = r.body;
        ts_ns = r.ts_ns;
    }
    if (sl_engine_tap != NULL) {
        sl_engine_tap(sl_engine_tap_arg, tag, ts_ns, body);
    }
    if (mask == 0) {
        sl_metric_add(e->m_unrouted, 1);
        ins->append_seq++;
        rc = SL_OK;
    } else {
        rc = input_store(ins, tag, ts_ns, body);
    }
    if (route->nfilters > 0) {
        sl_arena_reset(&e->arena);
    }
    return rc;
}

/* Keeps a line that could not be parsed as {"log": "<line>"}. */
static int input_append_log(struct sl_instance *ins, struct sl_str tag,
                            const char *p, size_t n)
{
    struct sl_buf *b = &ins->engine->scratch_log;

    sl_buf_reset(b);
    if (sl_buf_append(b, "{\"log\":", 7) != SL_OK ||
        sl_json_write_string(b, p, n) != SL_OK || sl_buf_putc(b, '}') != SL_OK) {
        return SL_ENOMEM;
    }
    return sl_input_append(ins, tag, 0, sl_buf_str(b));
}

int sl_input_ingest(struct sl_instance *ins, struct sl_str tag, const char *p,
                    size_t n)
{
    struct sl_engine *e = ins->engine;
    struct sl_parse_result res;
    int rc;

    if (e == NULL) {
        return SL_ECLOSED;
    }
    ins->n_bytes += n;
    if (ins->parser == NULL) {
        return input_append_log(ins, tag, p, n);
    }
    sl_buf_reset(&e->scratch_parse);
    res.scratch = &e->scratch_parse;
    res.body = SL_STR_NULL;
    res.ts_ns = 0;
    rc = ins->parser->plugin->parse(ins->parser, p, n, &res);
    if (rc == SL_OK && res.body.ptr != NULL) {
        return sl_input_append(ins, tag, res.ts_ns, res.body);
    }
    if (rc == SL_ENOMEM) {
        return rc;
    }
    sl_metric_add(ins->m_parse_fail, 1);
    return input_append_log(ins, tag, p, n);
}

int sl_input_ingest_json(struct sl_instance *ins, struct sl_str tag,
                         const char *p, size_t n)
{
    struct sl_engine *e = ins->engine;
    struct sl_json *dom = NULL;
    int rc;

    if (e == NULL) {
        return SL_ECLOSED;
    }
    ins->n_bytes += n;
    switch (sl_json_check(e->json_checker, p, n, NULL)) {
    case SL_JSON_CHECK_OBJECT:
        return sl_input_append(ins, tag, 0, sl_str_make(p, n));
    case SL_JSON_CHECK_COMPACT:
        if (sl_json_parse(&e->arena, p, n, &dom, NULL) == SL_OK) {
            sl_buf_reset(&e->scratch_parse);
            rc = sl_json_serialize(dom, &e->scratch_parse);
            sl_arena_reset(&e->arena);
            if (rc != SL_OK) {
                return rc;
            }
            return sl_input_append(ins, tag, 0, sl_buf_str(&e->scratch_parse));
        }
        sl_arena_reset(&e->arena);
        break;
    case SL_JSON_CHECK_NOT_OBJECT:
    case SL_JSON_CHECK_INVALID:
        break;
    }
    sl_metric_add(ins->m_parse_fail, 1);
    return input_append_log(ins, tag, p, n);
}
