/*
 * engine.c - builds a pipeline from a config and runs it on the main loop
 * (see engine.h): instance creation, route cache, chunk dispatch, the
 * acknowledgement queue, pause/resume by buffered bytes, drain and health.
 *
 * Main thread only, except sl_engine_post_ack (any thread).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "engine.h"
#include "fsyncq.h"
#include "log.h"
#include "option.h"
#include "plugin.h"
#include "storage.h"
#include "worker.h"
#include "sluice/multiline.h"
#include "sluice/banned.h"

struct sl_ack {
    struct sl_ack *next;
    struct sl_chunk *chunk;
    unsigned slot;
    bool delivered;
};

static const char *const svc_log_levels[] = { "off",   "error", "warn", "info",
                                              "debug", "trace", NULL };
static const char *const svc_log_formats[] = { "auto", "json", "text", NULL };
static const char *const svc_sync_modes[] = { "normal", "full", NULL };

#define S(f) SL_OPT_FIELD(struct sl_service_conf, f)

static const struct sl_option service_options[] = {
    { .name = "flush", .type = SL_OPT_TIME, .def = "1s", S(flush_ms), .min = 1,
      .max = 3600 * 1000,
      .desc = "Longest time a record waits in an open chunk before the "
              "chunk is sealed and handed to the outputs." },
    { .name = "idle_flush", .type = SL_OPT_BOOL, .def = "on", S(idle_flush),
      .desc = "Seal an open chunk before the flush tick when its input has "
              "read everything there was to read and every output it goes "
              "to is waiting for work: latency drops to about "
              "idle_flush_min_age while outputs keep up, and batches still "
              "grow when they do not." },
    { .name = "idle_flush_min_age", .type = SL_OPT_TIME, .def = "10ms",
      S(idle_flush_min_age_ms), .max = 3600 * 1000,
      .desc = "Age an open chunk must reach before an idle flush seals it; "
              "bounds the chunks a trickle of records creates to one per "
              "this interval and input." },
    { .name = "storage.idle_flush_min_age", .type = SL_OPT_TIME,
      .def = "100ms", S(storage_idle_flush_min_age_ms), .max = 3600 * 1000,
      .desc = "idle_flush_min_age for the chunks of inputs with filesystem "
              "storage, where every chunk is a file and an fsync: at most "
              "one idle flush per this interval and input." },
    { .name = "grace", .type = SL_OPT_TIME, .def = "5s", S(grace_ms),
      .max = 3600 * 1000,
      .desc = "On SIGTERM/SIGINT (and reload), how long outputs may go on "
              "delivering buffered records before the daemon exits." },
    { .name = "log_level", .type = SL_OPT_ENUM, .def = "info", S(log_level),
      .choices = svc_log_levels,
      .desc = "Level of the daemon's own log on stderr." },
    { .name = "log_format", .type = SL_OPT_ENUM, .def = "auto", S(log_format),
      .choices = svc_log_formats,
      .desc = "Own log format: JSON lines, text, or auto (text on a "
              "terminal, JSON otherwise)." },
    { .name = "http_server", .type = SL_OPT_BOOL, .def = "off", S(http_server),
      .desc = "Serve the admin API (/metrics, /health, /api/v1)." },
    { .name = "http_listen", .type = SL_OPT_STR, .def = "127.0.0.1",
      S(http_listen), .desc = "Address the admin API listens on." },
    { .name = "http_port", .type = SL_OPT_INT, .def = "2020", S(http_port),
      .min = 0, .max = 65535,
      .desc = "Port of the admin API; 0 picks a free one (see "
              "http_port_file)." },
    { .name = "http_port_file", .type = SL_OPT_STR, S(http_port_file),
      .desc = "File the bound admin port is written to once listening." },
    { .name = "http_auth_token", .type = SL_OPT_STR, S(http_auth_token),
      .flags = SL_OPT_SECRET,
      .desc = "When set, every admin endpoint but /health/live requires "
              "Authorization: Bearer <token>." },
    { .name = "pid_file", .type = SL_OPT_STR, S(pid_file),
      .desc = "File the daemon's process id is written to at start and "
              "removed from at exit (--pidfile overrides it)." },
    { .name = "storage.path", .type = SL_OPT_STR, .def = "/var/lib/sluice",
      S(storage_path),
      .desc = "Directory for buffered chunks, offsets and the dead-letter "
              "queue." },
    { .name = "storage.sync", .type = SL_OPT_ENUM, .def = "normal",
      S(storage_sync), .choices = svc_sync_modes,
      .desc = "normal: chunk files are written as records arrive and "
              "fsynced when sealed (a crash of the process loses nothing "
              "written; a power loss may lose the open chunk). full: also "
              "fsync before a record is acknowledged to its sender." },
    { .name = "storage.checksum", .type = SL_OPT_BOOL, .def = "on",
      S(storage_checksum),
      .desc = "Protect every frame of a chunk file with a CRC-32C, checked "
              "on recovery." },
    { .name = "chunk_size", .type = SL_OPT_SIZE, .def = "2M", S(chunk_size),
      .min = 4096, .max = 256 * 1024 * 1024,
      .desc = "Size at which an open chunk is sealed and handed to the "
              "outputs." },
    { .name = "health.max_failed_flushes", .type = SL_OPT_INT, .def = "5",
      S(health_max_failed_flushes), .min = 0, .max = 1000000,
      .desc = "Consecutive failed flushes of an output after which "
              "/health/ready answers 503." },
    { .name = "memory_limit", .type = SL_OPT_SIZE, .def = "0", S(memory_limit),
      .desc = "Cap on all in-memory buffers together (0: only the "
              "per-input mem_buf_limit applies)." },
    SL_OPT_END,
};

#undef S

const struct sl_option *sl_engine_service_options(void);
const struct sl_option *sl_engine_service_options(void)
{
    return service_options;
}

int sl_engine_service_conf(const struct sl_config *cfg,
                           struct sl_service_conf *svc,
                           struct sl_errlist *errs)
{
    struct sl_opt_target t = { .table = service_options, .conf = svc };

    memset(svc, 0, sizeof(*svc));
    return sl_option_apply(cfg, cfg->service, &t, 1, NULL, errs);
}

void sl_engine_service_conf_free(struct sl_service_conf *svc)
{
    sl_option_free(service_options, svc);
}

sl_engine_tap_fn sl_engine_tap;
void *sl_engine_tap_arg;

/* Installs (or with NULL removes) the tap hook; main thread. */
void sl_engine_set_tap(sl_engine_tap_fn fn, void *arg)
{
    sl_engine_tap_arg = arg;
    sl_engine_tap = fn;
}

/* ---- building ---- */

static const char *entry_name(const struct sl_cnode *map)
{
    const struct sl_cnode *n = sl_cnode_get(map, "name");

    return n != NULL && n->type == SL_CNODE_SCALAR ? n->str : NULL;
}

static const struct sl_plugin *engine_plugin_for(const struct sl_cnode *map,
                                                 enum sl_plugin_kind kind,
                                                 const char *key,
                                                 struct sl_errlist *errs)
{
    const struct sl_cnode *n = sl_cnode_get(map, key);
    const char *names[128];
    const struct sl_plugin *p;
    const char *hint;
    size_t i, k = 0;

    if (map->type != SL_CNODE_MAP) {
        sl_errlist_add(errs, map->file, map->line, map->col, NULL,
                       "expected a map with a '%s' key", key);
        return NULL;
    }
    if (n == NULL || n->type != SL_CNODE_SCALAR || n->len == 0) {
        sl_errlist_add(errs, map->file, map->line, map->col, key,
                       "missing '%s': which %s plugin to use", key,
                       sl_plugin_kind_name(kind));
        return NULL;
    }
    p = sl_plugin_find(kind, n->str);
    if (p != NULL) {
        return p;
    }
    for (i = 0; i < sl_plugin_count() && k < 127; i++) {
        if (sl_plugin_at(i)->kind == kind) {
            names[k++] = sl_plugin_at(i)->name;
        }
    }
    names[k] = NULL;
    hint = sl_config_suggest(n->str, names);
    sl_errlist_add(errs, n->file, n->line, n->col, key,
                   "unknown %s plugin '%s'%s%s%s", sl_plugin_kind_name(kind),
                   n->str, hint ? " (did you mean '" : "", hint ? hint : "",
                   hint ? "'?)" : "");
    return NULL;
}

static int engine_add(struct sl_instance ***arr, size_t *n,
                      struct sl_instance *ins)
{
    struct sl_instance **v = sl_realloc(*arr, (*n + 1) * sizeof(*v));

    if (v == NULL) {
        return SL_ENOMEM;
    }
    v[(*n)++] = ins;
    *arr = v;
    return SL_OK;
}

static unsigned engine_count_plugin(struct sl_instance **arr, size_t n,
                                    const struct sl_plugin *p)
{
    unsigned c = 0;
    size_t i;

    for (i = 0; i < n; i++) {
        c += arr[i]->plugin == p;
    }
    return c;
}

static unsigned engine_count_entries(const struct sl_cnode *list, size_t upto,
                                     const char *plugin)
{
    unsigned c = 0;
    size_t i;

    for (i = 0; i < upto; i++) {
        const char *n = list->items[i]->type == SL_CNODE_MAP
                            ? entry_name(list->items[i])
                            : NULL;

        c += n != NULL && strcmp(n, plugin) == 0;
    }
    return c;
}

static struct sl_instance *engine_parser_by_name(struct sl_engine *e,
                                                 const char *name)
{
    size_t i;

    for (i = 0; i < e->nparsers; i++) {
        if (e->parsers[i]->g.name != NULL &&
            strcmp(e->parsers[i]->g.name, name) == 0) {
            return e->parsers[i];
        }
    }
    return NULL;
}

static void engine_build_parsers(struct sl_engine *e, struct sl_errlist *errs)
{
    static const char *const builtins[] = { "json", "logfmt", "syslog", NULL };
    const struct sl_cnode *list = e->cfg->parsers;
    size_t i;

    for (i = 0; i < list->n; i++) {
        const struct sl_cnode *map = list->items[i];
        const struct sl_plugin *p = engine_plugin_for(map, SL_PLUGIN_PARSER,
                                                      "format", errs);
        const char *name = map->type == SL_CNODE_MAP ? entry_name(map) : NULL;
        struct sl_instance *ins;

        if (p == NULL) {
            continue;
        }
        if (name == NULL) {
            sl_errlist_add(errs, map->file, map->line, map->col, "name",
                           "a parser needs a 'name' for inputs to refer to");
            continue;
        }
        if (engine_parser_by_name(e, name) != NULL) {
            sl_errlist_add(errs, map->file, map->line, map->col, "name",
                           "parser '%s' is defined twice", name);
            continue;
        }
        ins = sl_instance_create(e, p, e->cfg, map,
                                 engine_count_plugin(e->parsers, e->nparsers, p),
                                 errs);
        if (ins != NULL && engine_add(&e->parsers, &e->nparsers, ins) != SL_OK) {
            sl_instance_destroy(ins);
        }
    }
    /* Built-in parsers under their plugin's name, unless the config
     * defines a parser with that name itself. */
    for (i = 0; builtins[i] != NULL; i++) {
        const struct sl_plugin *p = sl_plugin_find(SL_PLUGIN_PARSER, builtins[i]);
        struct sl_instance *ins;

        if (p == NULL || engine_parser_by_name(e, builtins[i]) != NULL) {
            continue;
        }
        ins = sl_instance_create(e, p, NULL, NULL,
                                 engine_count_plugin(e->parsers, e->nparsers, p),
                                 errs);
        if (ins == NULL) {
            continue;
        }
        ins->g.name = sl_strdup(builtins[i]);
        if (ins->g.name == NULL ||
            engine_add(&e->parsers, &e->nparsers, ins) != SL_OK) {
            sl_instance_destroy(ins);
        }
    }
}

static void engine_input_seal_metrics(struct sl_engine *e,
                                      struct sl_instance *ins)
{
    static const char *const reasons[SL_SEAL_NREASONS] = {
        [SL_SEAL_FULL] = "full",
        [SL_SEAL_FLUSH] = "flush",
        [SL_SEAL_IDLE] = "idle",
    };
    size_t i;

    for (i = 0; i < SL_SEAL_NREASONS; i++) {
        const char *labels[] = { "name",   ins->name,  "plugin",
                                 ins->plugin->name, "reason", reasons[i],
                                 NULL };

        ins->m_sealed[i] = sl_metrics_get(
            e->metrics, "sluice_input_chunks_sealed_total",
            "Chunks the input sealed and handed to the outputs, by reason: "
            "full (chunk_size), flush (the flush tick, a stop, the input's "
            "end) or idle (idle_flush).",
            SL_METRIC_COUNTER, labels);
    }
}

static void engine_input_metrics(struct sl_engine *e, struct sl_instance *ins)
{
    const char *labels[] = { "name", ins->name, "plugin", ins->plugin->name,
                             NULL };

    ins->m_records = sl_metrics_get(e->metrics, "sluice_input_records_total",
                                    "Records the input produced.",
                                    SL_METRIC_COUNTER, labels);
    ins->m_bytes = sl_metrics_get(e->metrics, "sluice_input_bytes_total",
                                  "Raw bytes the input read.",
                                  SL_METRIC_COUNTER, labels);
    ins->m_parse_fail = sl_metrics_get(
        e->metrics, "sluice_input_parse_failures_total",
        "Lines that did not parse and were kept as {\"log\": line}.",
        SL_METRIC_COUNTER, labels);
    ins->m_paused = sl_metrics_get(e->metrics, "sluice_input_paused",
                                   "1 while the input is paused by "
                                   "backpressure.",
                                   SL_METRIC_GAUGE, labels);
    sl_metric_set(ins->m_paused, 0);
    engine_input_seal_metrics(e, ins);
}

static void engine_filter_metrics(struct sl_engine *e, struct sl_instance *ins)
{
    const char *labels[] = { "name", ins->name, "plugin", ins->plugin->name,
                             NULL };

    ins->m_dropped = sl_metrics_get(e->metrics,
                                    "sluice_filter_dropped_records_total",
                                    "Records the filter dropped.",
                                    SL_METRIC_COUNTER, labels);
    ins->m_modified = sl_metrics_get(e->metrics,
                                     "sluice_filter_modified_records_total",
                                     "Records the filter changed.",
                                     SL_METRIC_COUNTER, labels);
}

static void engine_build_list(struct sl_engine *e, const struct sl_cnode *list,
                              enum sl_plugin_kind kind,
                              struct sl_instance ***arr, size_t *n,
                              struct sl_errlist *errs)
{
    size_t i;

    for (i = 0; i < list->n; i++) {
        const struct sl_cnode *map = list->items[i];
        const struct sl_plugin *p = engine_plugin_for(map, kind, "name", errs);
        struct sl_instance *ins;

        if (p == NULL) {
            continue;
        }
        /* The index counts earlier entries of the same plugin, created or
         * not, so names stay stable and unique even when one fails. */
        ins = sl_instance_create(e, p, e->cfg, map,
                                 engine_count_entries(list, i, p->name), errs);
        if (ins == NULL) {
            continue;
        }
        if (engine_add(arr, n, ins) != SL_OK) {
            sl_instance_destroy(ins);
            sl_errlist_add(errs, NULL, 0, 0, NULL, "out of memory");
        }
    }
}

static void engine_link_inputs(struct sl_engine *e, struct sl_errlist *errs)
{
    size_t i;

    for (i = 0; i < e->ninputs; i++) {
        struct sl_instance *ins = e->inputs[i];
        const char *pname = ins->g.parser != NULL ? ins->g.parser
                                                  : ins->plugin->default_parser;

        engine_input_metrics(e, ins);
        if (pname == NULL) {
            continue;
        }
        ins->parser = engine_parser_by_name(e, pname);
        if (ins->parser == NULL) {
            sl_errlist_add(errs, ins->cfg_file, ins->cfg_line, ins->cfg_col,
                           "parser", "%s: no parser named '%s' (define it "
                           "in the parsers section)", ins->name, pname);
        }
    }
}

static int engine_check_names(struct sl_engine *e, struct sl_errlist *errs)
{
    struct sl_strmap seen;
    struct sl_instance **lists[3] = { e->inputs, e->filters, e->outputs };
    size_t counts[3] = { e->ninputs, e->nfilters, e->noutputs };
    size_t l, i;

    sl_strmap_init(&seen);
    for (l = 0; l < 3; l++) {
        for (i = 0; i < counts[l]; i++) {
            struct sl_instance *ins = lists[l][i];
            struct sl_str k = sl_str_cstr(ins->name);

            if (sl_strmap_get(&seen, k) != NULL) {
                sl_errlist_add(errs, ins->cfg_file, ins->cfg_line,
                               ins->cfg_col, "alias",
                               "instance name '%s' is used twice", ins->name);
            } else {
                sl_strmap_put(&seen, k, ins);
            }
        }
    }
    sl_strmap_fini(&seen, NULL);
    return SL_OK;
}

static void engine_ack_cb(evutil_socket_t fd, short what, void *arg);
static void engine_flush_cb(evutil_socket_t fd, short what, void *arg);
static int engine_idle_init(struct sl_engine *e);

static void engine_storage_metrics(struct sl_engine *e)
{
    const char *none[] = { NULL };
    const char *mem[] = { "type", "memory", NULL };
    const char *fs[] = { "type", "filesystem", NULL };
    struct sl_metrics *m = e->metrics;

    e->m_unrouted = sl_metrics_get(
        m, "sluice_router_unmatched_records_total",
        "Records whose tag matched no output (discarded).", SL_METRIC_COUNTER,
        none);
    e->m_chunks_mem = sl_metrics_get(m, "sluice_storage_chunks",
                                     "Sealed chunks not yet delivered.",
                                     SL_METRIC_GAUGE, mem);
    e->m_chunks_fs = sl_metrics_get(m, "sluice_storage_chunks",
                                    "Sealed chunks not yet delivered.",
                                    SL_METRIC_GAUGE, fs);
    e->m_bytes_mem = sl_metrics_get(m, "sluice_storage_bytes",
                                    "Bytes of sealed chunks not yet "
                                    "delivered.",
                                    SL_METRIC_GAUGE, mem);
    e->m_bytes_fs = sl_metrics_get(m, "sluice_storage_bytes",
                                   "Bytes of sealed chunks not yet "
                                   "delivered.",
                                   SL_METRIC_GAUGE, fs);
    e->m_recovered = sl_metrics_get(
        m, "sluice_storage_recovered_records_total",
        "Records recovered from chunk files at start.", SL_METRIC_COUNTER,
        none);
    e->m_truncated = sl_metrics_get(
        m, "sluice_storage_truncated_frames_total",
        "Torn last frames (a crash mid-write) cut off at recovery.",
        SL_METRIC_COUNTER, none);
    e->m_corrupt = sl_metrics_get(
        m, "sluice_storage_corrupt_chunks_total",
        "Chunk files with a bad header or checksum, moved to "
        "storage.path/corrupt.",
        SL_METRIC_COUNTER, none);
}

/* storage.path/chunks/<input name, '/' replaced>. */
static int engine_input_dir(struct sl_engine *e, struct sl_instance *ins,
                            struct sl_err *err)
{
    struct sl_buf b;
    size_t i, start;
    int rc;

    sl_buf_init(&b, 0);
    sl_buf_printf(&b, "%s/chunks/", e->svc.storage_path);
    start = b.len;
    sl_buf_append_str(&b, ins->name);
    for (i = start; b.data != NULL && i < b.len; i++) {
        if (b.data[i] == '/' || (b.data[i] == '.' && i == start)) {
            b.data[i] = '_';
        }
    }
    if (b.data == NULL) {
        return sl_err_set(err, SL_ENOMEM, "out of memory");
    }
    rc = sl_mkdir_p(b.data, 0750);
    if (rc != SL_OK) {
        sl_err_set(err, rc, "cannot create %s: %s", b.data, sl_strerror(rc));
        sl_buf_fini(&b);
        return rc;
    }
    ins->chunk_dir = sl_buf_take(&b);
    return ins->chunk_dir != NULL ? SL_OK : SL_ENOMEM;
}

struct engine_recovery {
    struct sl_engine *e;
    struct sl_storage_stats st;
    uint64_t skipped;
};

static bool engine_owns_file(struct sl_engine *e, const char *path)
{
    const char *file = strrchr(path, '/');
    char *end = NULL;
    long long boot;
    unsigned long long id;

    file = file != NULL ? file + 1 : path;
    boot = strtoll(file, &end, 10);
    if (end == NULL || *end != '-' || boot != sl_chunk_boot_ns()) {
        return false;
    }
    id = strtoull(end + 1, NULL, 10);
    return id >= e->first_chunk_id;
}

static int engine_recover_cb(void *arg, const char *dir, const char *path)
{
    struct engine_recovery *r = arg;
    struct sl_chunk *c = NULL;
    struct sl_err err = { 0 };
    uint64_t corrupt = r->st.corrupt_chunks;

    (void)dir;
    if (engine_owns_file(r->e, path)) {
        r->skipped++;
        return SL_OK;
    }
    if (sl_storage_recover(r->e->svc.storage_path, path, true, &c, &r->st,
                           &err) != SL_OK) {
        sl_clog_error("storage", "cannot recover %s: %s", path, err.msg);
        return SL_OK;
    }
    if (r->st.corrupt_chunks != corrupt) {
        sl_clog_error("storage", "%s: %s", path, err.msg);
    }
    if (c != NULL) {
        c->mem_released = true;
        sl_engine_dispatch(r->e, c);
    }
    return SL_OK;
}

void sl_engine_recover(struct sl_engine *e)
{
    struct engine_recovery r;

    memset(&r, 0, sizeof(r));
    r.e = e;
    sl_storage_walk(e->svc.storage_path, engine_recover_cb, &r);
    sl_metric_add(e->m_recovered, r.st.records);
    sl_metric_add(e->m_truncated, r.st.truncated_frames);
    sl_metric_add(e->m_corrupt, r.st.corrupt_chunks);
    if (r.st.chunks > 0 || r.st.corrupt_chunks > 0) {
        sl_clog_info("storage", "recovered %llu records in %llu chunks from "
                                "%s (%llu torn frames cut off, %llu corrupt "
                                "chunks moved aside)",
                     (unsigned long long)r.st.records,
                     (unsigned long long)r.st.chunks, e->svc.storage_path,
                     (unsigned long long)r.st.truncated_frames,
                     (unsigned long long)r.st.corrupt_chunks);
    }
}

int sl_engine_create(struct event_base *base, struct sl_metrics *m,
                     struct sl_config *cfg, struct sl_engine **out,
                     struct sl_errlist *errs)
{
    struct sl_engine *e = sl_calloc(1, sizeof(*e));
    struct sl_err err = { 0 };
    size_t i;

    *out = NULL;
    if (e == NULL) {
        sl_config_destroy(cfg);
        return SL_ENOMEM;
    }
    e->base = base;
    e->metrics = m;
    e->cfg = cfg;
    pthread_mutex_init(&e->ack_lock, NULL);
    sl_strmap_init(&e->routes);
    sl_buf_init(&e->scratch_parse, 0);
    sl_buf_init(&e->scratch_body, 0);
    sl_buf_init(&e->scratch_log, 0);
    sl_arena_init(&e->arena, 64 * 1024, 0);
    e->start_ns = sl_time_now_ns();
    sl_engine_service_conf(cfg, &e->svc, errs);
    engine_build_parsers(e, errs);
    sl_multiline_validate(cfg, errs);
    engine_build_list(e, cfg->inputs, SL_PLUGIN_INPUT, &e->inputs, &e->ninputs,
                      errs);
    engine_build_list(e, cfg->filters, SL_PLUGIN_FILTER, &e->filters,
                      &e->nfilters, errs);
    engine_build_list(e, cfg->outputs, SL_PLUGIN_OUTPUT, &e->outputs,
                      &e->noutputs, errs);
    engine_link_inputs(e, errs);
    engine_check_names(e, errs);
    if (e->noutputs > SL_MAX_OUTPUTS) {
        sl_errlist_add(errs, NULL, 0, 0, "outputs",
                       "at most %d outputs are supported, found %zu",
                       SL_MAX_OUTPUTS, e->noutputs);
    }
    if (e->ninputs == 0 && sl_errlist_count(errs) == 0) {
        sl_errlist_add(errs, cfg->path, 0, 0, "pipeline.inputs",
                       "the pipeline has no inputs");
    }
    for (i = 0; i < e->nfilters; i++) {
        e->filters[i]->slot = (unsigned)i;
        engine_filter_metrics(e, e->filters[i]);
    }
    for (i = 0; i < e->noutputs && sl_errlist_count(errs) == 0; i++) {
        e->outputs[i]->slot = (unsigned)i;
        if (sl_output_create(e, e->outputs[i], &err) != SL_OK) {
            sl_errlist_add(errs, NULL, 0, 0, e->outputs[i]->name, "%s",
                           err.msg);
        }
    }
    if (sl_errlist_count(errs) > 0) {
        sl_engine_destroy(e);
        return SL_ECONFIG;
    }
    engine_storage_metrics(e);
    e->first_chunk_id = sl_chunk_peek_id();
    e->json_checker = sl_json_checker_create();
    e->ack_event = event_new(base, -1, 0, engine_ack_cb, e);
    e->flush_timer = event_new(base, -1, EV_PERSIST, engine_flush_cb, e);
    if (e->json_checker == NULL || e->ack_event == NULL ||
        e->flush_timer == NULL || engine_idle_init(e) != SL_OK) {
        sl_engine_destroy(e);
        return SL_ENOMEM;
    }
    *out = e;
    return SL_OK;
}

/* ---- running ---- */

int sl_engine_start(struct sl_engine *e, struct sl_err *err)
{
    struct timeval tv;
    size_t i;
    int rc;

    for (i = 0; i < e->noutputs; i++) {
        rc = sl_output_start(e->outputs[i]->out, err);
        if (rc != SL_OK) {
            sl_err_at(err, NULL, 0, 0, e->outputs[i]->name);
            return rc;
        }
    }
    for (i = 0; i < e->ninputs; i++) {
        if (e->inputs[i]->g.storage_type == SL_STORAGE_FILESYSTEM) {
            rc = engine_input_dir(e, e->inputs[i], err);
            if (rc != SL_OK) {
                sl_err_at(err, NULL, 0, 0, e->inputs[i]->name);
                return rc;
            }
        }
    }
    for (i = 0; i < e->ninputs; i++) {
        if (e->inputs[i]->chunk_dir != NULL && e->fsyncq == NULL) {
            e->fsyncq = sl_fsyncq_create();
        }
    }
    if (!e->defer_recovery) {
        sl_engine_recover(e);
    }
    tv.tv_sec = e->svc.flush_ms / 1000;
    tv.tv_usec = (e->svc.flush_ms % 1000) * 1000;
    evtimer_add(e->flush_timer, &tv);
    e->running = true;
    for (i = 0; i < e->ninputs; i++) {
        struct sl_instance *ins = e->inputs[i];

        if (ins->plugin->start != NULL) {
            rc = ins->plugin->start(ins, err);
            if (rc != SL_OK) {
                sl_err_at(err, NULL, 0, 0, ins->name);
                return rc;
            }
        }
        ins->started = true;
    }
    sl_clog_info("engine", "pipeline started: %zu inputs, %zu filters, "
                           "%zu outputs",
                 e->ninputs, e->nfilters, e->noutputs);
    return SL_OK;
}

struct sl_route *sl_engine_route(struct sl_engine *e, struct sl_str tag)
{
    struct sl_route *r = sl_strmap_get(&e->routes, tag);
    size_t i;

    if (r != NULL) {
        return r;
    }
    r = sl_calloc(1, sizeof(*r));
    if (r == NULL) {
        return NULL;
    }
    r->filters = sl_calloc(e->nfilters + 1, sizeof(*r->filters));
    if (r->filters == NULL) {
        sl_free(r);
        return NULL;
    }
    for (i = 0; i < e->nfilters; i++) {
        if (sl_matcher_match(&e->filters[i]->matcher, tag)) {
            r->filters[r->nfilters++] = e->filters[i];
        }
    }
    for (i = 0; i < e->noutputs; i++) {
        if (sl_matcher_match(&e->outputs[i]->matcher, tag)) {
            r->outputs |= (uint64_t)1 << i;
        }
    }
    if (sl_strmap_put(&e->routes, tag, r) != SL_OK) {
        sl_free(r->filters);
        sl_free(r);
        return NULL;
    }
    return r;
}

void sl_engine_storage_gauges(struct sl_engine *e, const struct sl_chunk *c,
                              int sign)
{
    if (c->fs) {
        e->chunks_fs += sign;
        e->bytes_fs += sign * (int64_t)c->len;
        sl_metric_set(e->m_chunks_fs, e->chunks_fs);
        sl_metric_set(e->m_bytes_fs, e->bytes_fs);
    } else {
        e->chunks_mem += sign;
        e->bytes_mem += sign * (int64_t)c->len;
        sl_metric_set(e->m_chunks_mem, e->chunks_mem);
        sl_metric_set(e->m_bytes_mem, e->bytes_mem);
    }
}

static void engine_chunk_free(struct sl_engine *e, struct sl_chunk *c)
{
    if (c->input != NULL && !c->mem_released) {
        sl_input_release(c->input, c->len);
    }
    if (c->input != NULL) {
        sl_input_chunk_done(c->input, c);
    }
    if (c->sealed) {
        e->chunks_in_flight--;
        sl_engine_storage_gauges(e, c, -1);
    }
    /* A chunk not delivered everywhere (shutdown), or one that no output
     * of the current configuration wants, stays on disk for the next
     * start: nothing buffered on disk is deleted unsent. */
    if (c->fs && !c->abandoned) {
        sl_chunk_fs_remove(c);
    }
    sl_chunk_destroy(c);
}

/* Pauses or resumes the inputs routed to outputs at their storage
 * limit with overflow: block. */
static void engine_block_inputs(struct sl_engine *e, uint64_t full_mask)
{
    size_t i;

    for (i = 0; i < e->ninputs; i++) {
        struct sl_instance *ins = e->inputs[i];
        bool block = (ins->out_mask & full_mask) != 0;

        if (block != ins->blocked) {
            ins->blocked = block;
            sl_input_set_blocked(ins, block);
        }
    }
}

static uint64_t engine_full_outputs(struct sl_engine *e)
{
    uint64_t mask = 0;
    size_t i;

    for (i = 0; i < e->noutputs; i++) {
        struct sl_instance *o = e->outputs[i];

        if (o->g.total_limit_size > 0 && o->g.overflow == SL_OVERFLOW_BLOCK &&
            sl_output_queued_bytes(o->out) >= o->g.total_limit_size) {
            mask |= (uint64_t)1 << i;
        }
    }
    return mask;
}

static void engine_unblock_inputs(struct sl_engine *e)
{
    size_t i;

    for (i = 0; i < e->ninputs; i++) {
        if (e->inputs[i]->blocked) {
            engine_block_inputs(e, engine_full_outputs(e));
            return;
        }
    }
}

/* Applies output <o>'s storage.total_limit_size to a new chunk <c>.
 * Returns false when the chunk must not be queued to it. */
static bool engine_admit(struct sl_instance *o,
                         struct sl_chunk *c)
{
    uint64_t limit = o->g.total_limit_size, queued;

    if (limit == 0) {
        return true;
    }
    queued = sl_output_queued_bytes(o->out);
    if (queued + c->len <= limit) {
        return true;
    }
    switch (o->g.overflow) {
    case SL_OVERFLOW_DROP_NEWEST:
        sl_metric_add(o->out->m_drop_overflow, c->records);
        sl_log_warn(o, "storage.total_limit_size reached: dropped the newest "
                       "%zu records (overflow: drop_newest)",
                    c->records);
        return false;
    case SL_OVERFLOW_DROP_OLDEST:
        if (c->len < limit) {
            uint64_t n = sl_output_drop_oldest(o->out, limit - c->len);

            if (n > 0) {
                sl_log_warn(o, "storage.total_limit_size reached: dropped the "
                               "oldest %llu records (overflow: drop_oldest)",
                            (unsigned long long)n);
            }
        }
        return true;
    default:
        return true; /* block: queued, and the inputs pause below */
    }
}

/* A new file-backed chunk: write down where it goes.  A recovered one:
 * keep its file when an output it was routed to, and that did not
 * acknowledge it, is gone from the configuration (reload or restart with
 * a changed file): the records it still owes stay on disk. */
static void engine_fs_route(struct sl_engine *e, struct sl_chunk *c)
{
    const char *names[SL_MAX_OUTPUTS];
    size_t i, n = 0, k;

    if (!c->recovered) {
        for (i = 0; i < e->noutputs; i++) {
            if (c->route_mask & ((uint64_t)1 << i)) {
                names[n++] = e->outputs[i]->name;
            }
        }
        sl_chunk_fs_route(c, names, n, e->svc.storage_sync == SL_SYNC_FULL);
        return;
    }
    for (k = 0; k < c->nrouted; k++) {
        bool present = false;

        if (sl_chunk_fs_acked(c, c->routed[k])) {
            continue;
        }
        for (i = 0; i < e->noutputs && !present; i++) {
            present = strcmp(e->outputs[i]->name, c->routed[k]) == 0;
        }
        if (!present) {
            c->abandoned = true;
            sl_clog_warn("storage", "chunk %s is kept on disk: output %s, "
                                    "which has not delivered it, is no "
                                    "longer configured",
                         c->path, c->routed[k]);
            return;
        }
    }
}

void sl_engine_dispatch(struct sl_engine *e, struct sl_chunk *c)
{
    struct sl_route *r = sl_engine_route(e, sl_str_make(c->tag, c->tag_len));
    size_t i;

    c->sealed = true;
    e->chunks_in_flight++;
    sl_engine_storage_gauges(e, c, 1);
    if (c->route_mask == 0) {
        c->route_mask = r != NULL ? r->outputs : 0;
    }
    if (c->route_mask == 0 && c->fs) {
        c->abandoned = true;
        sl_clog_warn("storage", "chunk %s (tag %s) matches no output of this "
                                "configuration; kept on disk",
                     c->path, c->tag);
    }
    for (i = 0; i < e->noutputs; i++) {
        if (!(c->route_mask & ((uint64_t)1 << i))) {
            continue;
        }
        if (c->nacked > 0 && sl_chunk_fs_acked(c, e->outputs[i]->name)) {
            c->route_mask &= ~((uint64_t)1 << i); /* done before a restart */
            continue;
        }
        c->refs++;
    }
    if (c->fs) {
        engine_fs_route(e, c);
    }
    if (c->refs == 0) {
        engine_chunk_free(e, c);
        return;
    }
    for (i = 0; i < e->noutputs; i++) {
        if (!(c->route_mask & ((uint64_t)1 << i))) {
            continue;
        }
        if (!engine_admit(e->outputs[i], c)) {
            c->refs--;
            continue;
        }
        if (sl_output_push(e->outputs[i]->out, c) != SL_OK) {
            /* Out of memory for a queue entry: keep at-least-once by
             * logging and treating it as delivered would lose data, so
             * retry later is not possible here; count it as dropped. */
            sl_clog_error("engine", "out of memory queueing a chunk for %s",
                          e->outputs[i]->name);
            sl_metric_add(e->outputs[i]->out->m_drop_error, c->records);
            c->refs--;
        }
    }
    if (c->refs == 0) {
        engine_chunk_free(e, c);
        return;
    }
    engine_block_inputs(e, engine_full_outputs(e));
}

void sl_engine_push_to(struct sl_engine *e, struct sl_chunk *c, unsigned slot)
{
    c->sealed = true;
    c->route_mask = (uint64_t)1 << slot;
    c->refs = 1;
    e->chunks_in_flight++;
    sl_engine_storage_gauges(e, c, 1);
    if (sl_output_push(e->outputs[slot]->out, c) != SL_OK) {
        c->refs = 0;
        engine_chunk_free(e, c);
    }
}

void sl_engine_post_ack(struct sl_engine *e, struct sl_chunk *c,
                        unsigned out_slot, bool delivered)
{
    struct sl_ack *a = sl_malloc(sizeof(*a));

    if (a == NULL) {
        /* Cannot queue the ack: leaking the chunk keeps the data safe but
         * the memory pinned; this only happens when memory is exhausted. */
        return;
    }
    a->chunk = c;
    a->slot = out_slot;
    a->delivered = delivered;
    pthread_mutex_lock(&e->ack_lock);
    a->next = e->acks;
    e->acks = a;
    pthread_mutex_unlock(&e->ack_lock);
    if (e->ack_event != NULL) {
        event_active(e->ack_event, EV_READ, 0);
    }
}

static void engine_process_acks(struct sl_engine *e)
{
    struct sl_ack *a, *next;

    pthread_mutex_lock(&e->ack_lock);
    a = e->acks;
    e->acks = NULL;
    pthread_mutex_unlock(&e->ack_lock);
    for (; a != NULL; a = next) {
        struct sl_chunk *c = a->chunk;

        next = a->next;
        if (!a->delivered) {
            c->abandoned = true;
        } else if (c->fs && a->slot < e->noutputs) {
            /* Recorded so that a restart does not send it to this output
             * again; losing this line only means a duplicate. */
            sl_chunk_fs_ack(c, e->outputs[a->slot]->name,
                            e->svc.storage_sync == SL_SYNC_FULL);
        }
        if (c->refs > 0 && --c->refs == 0) {
            engine_chunk_free(e, c);
        }
        sl_free(a);
    }
    engine_unblock_inputs(e);
}

static bool engine_idle(struct sl_engine *e)
{
    size_t i;

    if (e->chunks_in_flight > 0) {
        return false;
    }
    for (i = 0; i < e->noutputs; i++) {
        if (!sl_output_idle(e->outputs[i]->out)) {
            return false;
        }
    }
    return true;
}

static void engine_drain_check(struct sl_engine *e)
{
    if (!e->stopping || e->on_drained == NULL) {
        return;
    }
    if (engine_idle(e) ||
        (e->drain_deadline_mono_ns > 0 &&
         sl_time_mono_ns() >= e->drain_deadline_mono_ns)) {
        void (*cb)(struct sl_engine *, void *) = e->on_drained;

        e->on_drained = NULL;
        cb(e, e->on_drained_arg);
    }
}

static void engine_ack_cb(evutil_socket_t fd, short what, void *arg)
{
    struct sl_engine *e = arg;

    (void)fd;
    (void)what;
    engine_process_acks(e);
    engine_drain_check(e);
    sl_engine_idle_arm(e); /* an output may be waiting for work now */
}

/* The loop ran out of work (or an output finished a batch, or a young
 * chunk came of age): seal what idle outputs could be sending now. */
static void engine_idle_cb(evutil_socket_t fd, short what, void *arg)
{
    struct sl_engine *e = arg;
    int64_t now, wait = INT64_MAX;
    uint64_t hungry = 0;
    size_t i;

    (void)fd;
    (void)what;
    e->idle_armed = false;
    if (!e->running || e->stopping) {
        return;
    }
    for (i = 0; i < e->noutputs; i++) {
        if (sl_output_hungry(e->outputs[i]->out)) {
            hungry |= (uint64_t)1 << i;
        }
    }
    if (hungry == 0) {
        return; /* the next acknowledgement checks again */
    }
    now = sl_time_mono_ns();
    for (i = 0; i < e->ninputs; i++) {
        sl_input_idle_seal(e->inputs[i], hungry, now, &wait);
    }
    if (wait != INT64_MAX && !evtimer_pending(e->idle_timer, NULL)) {
        int64_t us = wait / 1000 + 1;
        struct timeval tv = { .tv_sec = (time_t)(us / 1000000),
                              .tv_usec = (suseconds_t)(us % 1000000) };

        evtimer_add(e->idle_timer, &tv);
    }
}

static void engine_idle_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    sl_engine_idle_arm(arg);
}

/* The idle check needs a priority below every other event of the loop;
 * a loop created without SL_LOOP_PRIORITIES (a test's, say) gets them
 * here if nothing is active yet, else runs without idle flushes. */
static int engine_idle_init(struct sl_engine *e)
{
    if (!e->svc.idle_flush) {
        return SL_OK;
    }
    if (event_base_get_npriorities(e->base) < SL_LOOP_PRIORITIES &&
        event_base_priority_init(e->base, SL_LOOP_PRIORITIES) != 0) {
        sl_clog_warn("engine", "the event loop has no idle priority; "
                               "idle_flush is off");
        return SL_OK;
    }
    e->idle_event = event_new(e->base, -1, 0, engine_idle_cb, e);
    e->idle_timer = evtimer_new(e->base, engine_idle_timer_cb, e);
    if (e->idle_event == NULL || e->idle_timer == NULL ||
        event_priority_set(e->idle_event, SL_LOOP_PRIORITY_IDLE) != 0) {
        return SL_ENOMEM;
    }
    return SL_OK;
}

static void engine_flush_cb(evutil_socket_t fd, short what, void *arg)
{
    struct sl_engine *e = arg;
    size_t i;

    (void)fd;
    (void)what;
    for (i = 0; i < e->ninputs; i++) {
        sl_input_publish_counts(e->inputs[i]);
        sl_input_flush_chunks(e->inputs[i]);
    }
    engine_drain_check(e);
}

static void engine_drain_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    struct sl_engine *e = arg;

    (void)fd;
    (void)what;
    engine_drain_check(e);
}

static void engine_stop_inputs(struct sl_engine *e)
{
    size_t i;

    for (i = 0; i < e->ninputs; i++) {
        struct sl_instance *ins = e->inputs[i];

        if (ins->started && !ins->stopped && ins->plugin->stop != NULL) {
            ins->plugin->stop(ins);
        }
        ins->stopped = true;
        sl_input_flush_chunks(ins);
    }
}

void sl_engine_drain(struct sl_engine *e, int64_t grace_ms)
{
    struct timeval tv = { .tv_sec = 0, .tv_usec = 100 * 1000 };

    if (e->stopping) {
        return;
    }
    e->stopping = true;
    engine_stop_inputs(e);
    e->drain_deadline_mono_ns =
        grace_ms >= 0 ? sl_time_mono_ns() + grace_ms * SL_NS_PER_MS : 0;
    if (e->drain_timer == NULL) {
        e->drain_timer = event_new(e->base, -1, EV_PERSIST,
                                   engine_drain_timer_cb, e);
    }
    if (e->drain_timer != NULL) {
        evtimer_add(e->drain_timer, &tv);
    }
    engine_drain_check(e);
}

static void engine_free_list(struct sl_instance **arr, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        sl_instance_destroy(arr[i]);
    }
    sl_free(arr);
}

static void route_free(void *p)
{
    struct sl_route *r = p;

    sl_free(r->filters);
    sl_free(r);
}

static void engine_free_open_chunks(struct sl_engine *e)
{
    size_t i, k;
    void *v;

    for (i = 0; i < e->ninputs; i++) {
        struct sl_instance *ins = e->inputs[i];

        k = 0;
        while (sl_strmap_next(&ins->open_chunks, &k, NULL, &v)) {
            struct sl_chunk *c = v;

            ins->buffered -= c->len;
            if (c->records > 0) {
                c->abandoned = true; /* never delivered */
            }
            sl_input_chunk_done(ins, c);
            if (c->fs && c->records == 0) {
                sl_chunk_fs_remove(c);
            }
            sl_chunk_destroy(c);
        }
        sl_strmap_fini(&ins->open_chunks, NULL);
        sl_strmap_init(&ins->open_chunks);
        ins->last_chunk = NULL;
    }
}

void sl_engine_destroy(struct sl_engine *e)
{
    uint64_t lost = 0;
    size_t i;

    if (e == NULL) {
        return;
    }
    if (e->running) {
        engine_stop_inputs(e);
    }
    for (i = 0; i < e->ninputs; i++) {
        sl_input_publish_counts(e->inputs[i]);
    }
    for (i = 0; i < e->noutputs; i++) {
        if (e->outputs[i]->out != NULL) {
            sl_output_stop(e->outputs[i]->out, true);
            lost += sl_output_abandon(e->outputs[i]->out);
        }
    }
    for (i = 0; i < e->noutputs; i++) {
        sl_output_destroy(e->outputs[i]->out);
    }
    engine_process_acks(e);
    engine_free_open_chunks(e);
    sl_fsyncq_destroy(e->fsyncq);
    if (lost > 0) {
        sl_clog_warn("engine", "%llu queued records were not delivered "
                               "before exit: those of filesystem storage "
                               "inputs stay on disk for the next start, the "
                               "others are counted as dropped (shutdown)",
                     (unsigned long long)lost);
    }
    if (e->idle_event != NULL) {
        event_free(e->idle_event);
    }
    if (e->idle_timer != NULL) {
        event_free(e->idle_timer);
    }
    if (e->flush_timer != NULL) {
        event_free(e->flush_timer);
    }
    if (e->drain_timer != NULL) {
        event_free(e->drain_timer);
    }
    if (e->ack_event != NULL) {
        event_free(e->ack_event);
    }
    engine_free_list(e->inputs, e->ninputs);
    engine_free_list(e->filters, e->nfilters);
    engine_free_list(e->outputs, e->noutputs);
    engine_free_list(e->parsers, e->nparsers);
    sl_strmap_fini(&e->routes, route_free);
    sl_json_checker_destroy(e->json_checker);
    sl_buf_fini(&e->scratch_parse);
    sl_buf_fini(&e->scratch_body);
    sl_buf_fini(&e->scratch_log);
    sl_arena_fini(&e->arena);
    sl_engine_service_conf_free(&e->svc);
    sl_config_destroy(e->cfg);
    pthread_mutex_destroy(&e->ack_lock);
    sl_free(e);
}

/* ---- storage report (GET /api/v1/storage) ---- */

static void storage_json_inputs(struct sl_engine *e, struct sl_buf *out,
                                int64_t now)
{
    size_t i;

    sl_buf_append_str(out, "\"inputs\":[");
    for (i = 0; i < e->ninputs; i++) {
        struct sl_instance *ins = e->inputs[i];
        const struct sl_chunk *c;
        uint64_t chunks = 0, records = 0, bytes = 0;
        int64_t oldest = 0;

        for (c = ins->out_head; c != NULL; c = c->in_next) {
            chunks++;
            records += c->records;
            bytes += c->len;
            if (oldest == 0 || c->created_ns < oldest) {
                oldest = c->created_ns;
            }
        }
        sl_buf_printf(out,
                      "%s{\"name\":", i > 0 ? "," : "");
        sl_json_write_string(out, ins->name, strlen(ins->name));
        sl_buf_printf(out,
                      ",\"storage_type\":\"%s\",\"chunks\":%llu,"
                      "\"records\":%llu,\"bytes\":%llu,"
                      "\"memory_bytes\":%llu,\"mem_buf_limit\":%llu,"
                      "\"paused\":%s,\"oldest_chunk_age_seconds\":%.3f}",
                      ins->g.storage_type == SL_STORAGE_FILESYSTEM
                          ? "filesystem"
                          : "memory",
                      (unsigned long long)chunks, (unsigned long long)records,
                      (unsigned long long)bytes,
                      (unsigned long long)ins->buffered,
                      (unsigned long long)ins->g.mem_buf_limit,
                      sl_input_paused(ins) ? "true" : "false",
                      oldest ? (double)(now - oldest) / 1e9 : 0.0);
    }
    sl_buf_append_str(out, "]");
}

int sl_engine_storage_json(struct sl_engine *e, struct sl_buf *out)
{
    int64_t now = sl_time_now_ns();
    size_t i;

    sl_buf_append_str(out, "{\"storage_path\":");
    sl_json_write_string(out, e->svc.storage_path, strlen(e->svc.storage_path));
    sl_buf_printf(out,
                  ",\"chunks\":{\"memory\":%lld,\"filesystem\":%lld},"
                  "\"bytes\":{\"memory\":%lld,\"filesystem\":%lld},",
                  (long long)e->chunks_mem, (long long)e->chunks_fs,
                  (long long)e->bytes_mem, (long long)e->bytes_fs);
    storage_json_inputs(e, out, now);
    sl_buf_append_str(out, ",\"outputs\":[");
    for (i = 0; i < e->noutputs; i++) {
        struct sl_instance *o = e->outputs[i];
        uint64_t chunks, records, bytes;
        int64_t oldest;

        sl_output_queue_stats(o->out, &chunks, &records, &bytes, &oldest);
        sl_buf_printf(out, "%s{\"name\":", i > 0 ? "," : "");
        sl_json_write_string(out, o->name, strlen(o->name));
        sl_buf_printf(out,
                      ",\"chunks\":%llu,\"records\":%llu,\"bytes\":%llu,"
                      "\"total_limit_size\":%llu,"
                      "\"oldest_chunk_age_seconds\":%.3f}",
                      (unsigned long long)chunks, (unsigned long long)records,
                      (unsigned long long)bytes,
                      (unsigned long long)o->g.total_limit_size,
                      oldest ? (double)(now - oldest) / 1e9 : 0.0);
    }
    return sl_buf_append_str(out, "]}");
}

/* ---- health ---- */

static void health_add_output(struct sl_engine *e, struct sl_health *h,
                              struct sl_instance *ins)
{
    struct sl_health_item *it;
    struct sl_output *out = ins->out;
    uint64_t fails;

    if (h->n >= SL_HEALTH_MAX || out == NULL) {
        return;
    }
    it = &h->items[h->n++];
    snprintf(it->name, sizeof(it->name), "%s", ins->name);
    snprintf(it->kind, sizeof(it->kind), "output");
    snprintf(it->plugin, sizeof(it->plugin), "%s", ins->plugin->name);
    pthread_mutex_lock(&out->lock);
    fails = out->consecutive_failures;
    it->consecutive_failures = fails;
    it->ok = fails <= (uint64_t)e->svc.health_max_failed_flushes;
    if (fails == 0) {
        snprintf(it->status, sizeof(it->status), "ok");
    } else {
        snprintf(it->status, sizeof(it->status), it->ok ? "retrying" : "failing");
        snprintf(it->reason, sizeof(it->reason),
                 "%llu consecutive failed flushes: %.180s",
                 (unsigned long long)fails, out->last_error);
    }
    pthread_mutex_unlock(&out->lock);
}

static void health_add_input(struct sl_health *h, struct sl_instance *ins)
{
    struct sl_health_item *it;

    if (h->n >= SL_HEALTH_MAX) {
        return;
    }
    it = &h->items[h->n++];
    snprintf(it->name, sizeof(it->name), "%s", ins->name);
    snprintf(it->kind, sizeof(it->kind), "input");
    snprintf(it->plugin, sizeof(it->plugin), "%s", ins->plugin->name);
    it->ok = true;
    if (ins->blocked) {
        /* DESIGN 8: not ready while storage is full. */
        it->ok = false;
        snprintf(it->status, sizeof(it->status), "blocked");
        snprintf(it->reason, sizeof(it->reason),
                 "paused: an output it feeds is at its "
                 "storage.total_limit_size (overflow: block)");
    } else if (ins->paused) {
        snprintf(it->status, sizeof(it->status), "paused");
        snprintf(it->reason, sizeof(it->reason),
                 "paused: %llu bytes buffered (mem_buf_limit %llu)",
                 (unsigned long long)ins->buffered,
                 (unsigned long long)ins->g.mem_buf_limit);
    } else {
        snprintf(it->status, sizeof(it->status),
                 ins->finished ? "finished" : "ok");
    }
}

void sl_engine_health(struct sl_engine *e, struct sl_health *h)
{
    size_t i;

    h->now_ns = sl_time_now_ns();
    h->live = true;
    h->ready = e != NULL && e->running;
    if (e == NULL) {
        return;
    }
    for (i = 0; i < e->ninputs; i++) {
        sl_input_publish_counts(e->inputs[i]);
        health_add_input(h, e->inputs[i]);
    }
    for (i = 0; i < e->noutputs; i++) {
        health_add_output(e, h, e->outputs[i]);
    }
    for (i = 0; i < h->n; i++) {
        if (!h->items[i].ok) {
            h->ready = false;
        }
    }
}
