/*
 * out_prometheus_textfile.c - metrics in a *.prom file for node_exporter's
 * textfile collector (protocols.md section 6.3).
 *
 * metrics_source daemon: every interval the worker writes the daemon's own
 * registry (the text of GET /metrics); records routed here are accepted
 * and ignored.  metrics_source records: records shaped like the ones of
 * the internal_metrics input ({"metric","metric_type",labels...,"value"}
 * or "buckets"/"sum"/"count") update a table of the latest sample of each
 * series, and the whole table is written after each batch.
 *
 * The file is replaced atomically: written to "<path>.tmp.<pid>.<worker>"
 * in the same directory (a name node_exporter ignores), fsynced, then
 * renamed over <path>.  No timestamps are written (node_exporter rejects
 * them).
 *
 * Worker thread only; each worker keeps its own table, so use workers: 1
 * with metrics_source records.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sluice/plugin.h"
#include "sluice/ticker.h"
#include "sluice/banned.h"

#define PTF_MAX_SERIES 100000

enum ptf_source { PTF_DAEMON, PTF_RECORDS };

struct ptf_conf {
    char *path;
    int source;
    int64_t interval; /* ms */
};

/* The latest sample lines of one series. */
struct ptf_series {
    char *family;
    char *type;
    char *key;   /* family + labels: identity and sort key */
    char *lines; /* rendered sample lines */
};

struct ptf_worker {
    struct sl_instance *ins;
    const struct ptf_conf *conf;
    struct sl_worker *w;
    struct sl_ticker ticker; /* metrics_source daemon */
    struct ptf_series *series;
    size_t n, cap;
    struct sl_arena arena;
    struct sl_buf out, labels, lines, scratch;
    char tmp[4096];
};

static const char *const ptf_sources[] = { "daemon", "records", NULL };

static const struct sl_option ptf_options[] = {
    { .name = "path",
      .type = SL_OPT_STR,
      .flags = SL_OPT_REQUIRED,
      SL_OPT_FIELD(struct ptf_conf, path),
      .desc = "The file to write; its name must end in .prom (e.g. "
              "/var/lib/prometheus/node-exporter/sluice.prom)." },
    { .name = "metrics_source",
      .type = SL_OPT_ENUM,
      .def = "daemon",
      .choices = ptf_sources,
      SL_OPT_FIELD(struct ptf_conf, source),
      .desc = "daemon: write the daemon's own metrics every interval. "
              "records: write the metric records routed here (from "
              "internal_metrics)." },
    { .name = "interval",
      .type = SL_OPT_TIME,
      .def = "10s",
      .min = 100,
      .max = 24 * 3600 * 1000,
      SL_OPT_FIELD(struct ptf_conf, interval),
      .desc = "How often the daemon's metrics are written (metrics_source "
              "daemon)." },
    SL_OPT_END,
};

/* ---- atomic write ---- */

/* Writes <n> bytes at <p> to <path> by temp file, fsync and rename. */
static int ptf_write_file(struct ptf_worker *pw, const char *p, size_t n)
{
    const char *path = pw->conf->path;
    ssize_t wr;
    int fd, rc = SL_OK;

    snprintf(pw->tmp, sizeof(pw->tmp), "%s.tmp.%ld.%u", path, (long)getpid(),
             sl_worker_id(pw->w));
    fd = open(pw->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        return sl_rc_from_errno(errno);
    }
    while (n > 0 && rc == SL_OK) {
        wr = write(fd, p, n);
        if (wr < 0 && errno == EINTR) {
            continue;
        }
        if (wr <= 0) {
            rc = wr < 0 ? sl_rc_from_errno(errno) : SL_EIO;
            break;
        }
        p += wr;
        n -= (size_t)wr;
    }
    if (rc == SL_OK && fsync(fd) != 0) {
        rc = sl_rc_from_errno(errno);
    }
    if (close(fd) != 0 && rc == SL_OK) {
        rc = sl_rc_from_errno(errno);
    }
    if (rc == SL_OK && rename(pw->tmp, path) != 0) {
        rc = sl_rc_from_errno(errno);
    }
    if (rc != SL_OK) {
        unlink(pw->tmp);
    }
    return rc;
}

static int ptf_write_daemon(struct ptf_worker *pw)
{
    int rc;

    sl_buf_reset(&pw->out);
    rc = sl_metrics_export(pw->ins, false, &pw->out);
    return rc ? rc : ptf_write_file(pw, pw->out.data, pw->out.len);
}

/* ---- the records table ---- */

static int ptf_cmp(const void *a, const void *b)
{
    const struct ptf_series *x = a, *y = b;

    return strcmp(x->key, y->key);
}

/* Renders the table: families in name order, HELP and TYPE once each. */
static int ptf_write_table(struct ptf_worker *pw)
{
    const char *fam = NULL;
    size_t i;
    int rc = SL_OK;

    qsort(pw->series, pw->n, sizeof(*pw->series), ptf_cmp);
    sl_buf_reset(&pw->out);
    for (i = 0; i < pw->n && rc == SL_OK; i++) {
        const struct ptf_series *s = &pw->series[i];

        if (fam == NULL || strcmp(fam, s->family) != 0) {
            fam = s->family;
            rc = sl_buf_printf(&pw->out,
                               "# HELP %s Metric exported by sluice.\n"
                               "# TYPE %s %s\n",
                               fam, fam, s->type);
        }
        rc = rc ? rc : sl_buf_append_str(&pw->out, s->lines);
    }
    return rc ? rc : ptf_write_file(pw, pw->out.data, pw->out.len);
}

static bool ptf_name_ok(struct sl_str s, bool label)
{
    size_t i;

    for (i = 0; i < s.len; i++) {
        char c = s.ptr[i];

        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
              (!label && c == ':') || (i > 0 && c >= '0' && c <= '9'))) {
            return false;
        }
    }
    return s.len > 0;
}

/* Appends a label value escaped for the text format. */
static int ptf_escape(struct sl_buf *b, struct sl_str v)
{
    size_t i;
    int rc = SL_OK;

    for (i = 0; i < v.len && rc == SL_OK; i++) {
        char c = v.ptr[i];

        rc = c == '\\'   ? sl_buf_append_str(b, "\\\\")
             : c == '"'  ? sl_buf_append_str(b, "\\\"")
             : c == '\n' ? sl_buf_append_str(b, "\\n")
                         : sl_buf_putc(b, c);
    }
    return rc;
}

static bool ptf_reserved(struct sl_str k)
{
    static const char *const r[] = { "metric", "metric_type", "value",
                                     "buckets", "sum", "count", NULL };
    size_t i;

    for (i = 0; r[i] != NULL; i++) {
        if (sl_str_eq_cstr(k, r[i])) {
            return true;
        }
    }
    return false;
}

/* pw->labels = `k="v",k="v"` from the record's string members. */
static int ptf_labels(struct ptf_worker *pw, const struct sl_json *rec)
{
    size_t i;
    int rc = SL_OK;

    sl_buf_reset(&pw->labels);
    for (i = 0; i < rec->u.obj.n && rc == SL_OK; i++) {
        const struct sl_json_member *m = &rec->u.obj.v[i];

        if (m->val->type != SL_JSON_STRING || ptf_reserved(m->key) ||
            !ptf_name_ok(m->key, true)) {
            continue;
        }
        rc = pw->labels.len > 0 ? sl_buf_putc(&pw->labels, ',') : SL_OK;
        rc = rc ? rc : sl_buf_append(&pw->labels, m->key.ptr, m->key.len);
        rc = rc ? rc : sl_buf_append_str(&pw->labels, "=\"");
        rc = rc ? rc : ptf_escape(&pw->labels, m->val->u.str);
        rc = rc ? rc : sl_buf_putc(&pw->labels, '"');
    }
    return rc;
}

/* One sample line: name{labels[,extra]} value */
static int ptf_line(struct ptf_worker *pw, const char *name,
                    const char *suffix, const char *extra,
                    const struct sl_json *v)
{
    struct sl_buf *b = &pw->lines;
    struct sl_str txt;
    bool any = pw->labels.len > 0 || extra != NULL;
    int rc;

    if (v == NULL || v->type != SL_JSON_NUMBER) {
        return SL_EPARSE;
    }
    txt = v->u.num;
    rc = sl_buf_printf(b, "%s%s%s", name, suffix, any ? "{" : "");
    rc = rc ? rc : sl_buf_append(b, pw->labels.data, pw->labels.len);
    if (rc == SL_OK && extra != NULL) {
        rc = sl_buf_printf(b, "%s%s", pw->labels.len > 0 ? "," : "", extra);
    }
    rc = rc ? rc : sl_buf_append_str(b, any ? "} " : " ");
    rc = rc ? rc : sl_buf_append_sl(b, txt);
    return rc ? rc : sl_buf_putc(b, '\n');
}

static int ptf_hist_lines(struct ptf_worker *pw, const char *name,
                          const struct sl_json *rec)
{
    const struct sl_json *bk = sl_json_obj_get(rec, sl_str_cstr("buckets"));
    char le[128];
    size_t i;
    int rc = SL_OK;

    if (bk == NULL || bk->type != SL_JSON_OBJECT) {
        return SL_EPARSE;
    }
    for (i = 0; i < bk->u.obj.n && rc == SL_OK; i++) {
        struct sl_str k = bk->u.obj.v[i].key;

        snprintf(le, sizeof(le), "le=\"%.*s\"", (int)(k.len < 100 ? k.len : 100),
                 k.ptr);
        rc = ptf_line(pw, name, "_bucket", le, bk->u.obj.v[i].val);
    }
    rc = rc ? rc
            : ptf_line(pw, name, "_sum", NULL,
                       sl_json_obj_get(rec, sl_str_cstr("sum")));
    return rc ? rc
              : ptf_line(pw, name, "_count", NULL,
                         sl_json_obj_get(rec, sl_str_cstr("count")));
}

/* Stores the rendered lines of one series (replacing its last sample). */
static int ptf_store(struct ptf_worker *pw, const char *name,
                     const char *type)
{
    struct ptf_series *s = NULL;
    size_t klen = strlen(name) + pw->labels.len + 2;
    char *key = sl_malloc(klen);
    char *lines = sl_strdup(pw->lines.data);
    size_t i;

    if (key == NULL || lines == NULL) {
        sl_free(key);
        sl_free(lines);
        return SL_ENOMEM;
    }
    snprintf(key, klen, "%s{%s", name,
             pw->labels.data != NULL ? pw->labels.data : "");
    for (i = 0; i < pw->n && s == NULL; i++) {
        s = strcmp(pw->series[i].key, key) == 0 ? &pw->series[i] : NULL;
    }
    if (s != NULL) {
        sl_free(key);
        sl_free(s->lines);
        s->lines = lines;
        return SL_OK;
    }
    if (pw->n == pw->cap) {
        size_t cap = pw->cap ? pw->cap * 2 : 64;
        void *p = pw->n < PTF_MAX_SERIES
                      ? sl_realloc(pw->series, cap * sizeof(*pw->series))
                      : NULL;

        if (p == NULL) {
            sl_free(key);
            sl_free(lines);
            return SL_ELIMIT;
        }
        pw->series = p;
        pw->cap = cap;
    }
    s = &pw->series[pw->n];
    s->key = key;
    s->lines = lines;
    s->family = sl_strdup(name);
    s->type = sl_strdup(type);
    if (s->family == NULL || s->type == NULL) {
        sl_free(s->family);
        sl_free(s->type);
        sl_free(key);
        sl_free(lines);
        return SL_ENOMEM;
    }
    pw->n++;
    return SL_OK;
}

/* One metric record into the table; SL_EPARSE when it is not one. */
static int ptf_record(struct ptf_worker *pw, const struct sl_event *ev)
{
    const struct sl_json *rec, *name, *type;
    struct sl_json *dom = NULL;
    char fam[256], ty[16];
    int rc;

    sl_arena_reset(&pw->arena);
    if (sl_json_parse(&pw->arena, ev->body.ptr, ev->body.len, &dom, NULL) !=
        SL_OK) {
        return SL_EPARSE;
    }
    rec = dom;
    name = sl_json_obj_get(rec, sl_str_cstr("metric"));
    type = sl_json_obj_get(rec, sl_str_cstr("metric_type"));
    if (name == NULL || name->type != SL_JSON_STRING ||
        !ptf_name_ok(name->u.str, false) || name->u.str.len >= sizeof(fam)) {
        return SL_EPARSE;
    }
    snprintf(fam, sizeof(fam), "%.*s", (int)name->u.str.len, name->u.str.ptr);
    snprintf(ty, sizeof(ty), "%.*s",
             type != NULL && type->type == SL_JSON_STRING
                 ? (int)type->u.str.len
                 : 7,
             type != NULL && type->type == SL_JSON_STRING ? type->u.str.ptr
                                                          : "untyped");
    sl_buf_reset(&pw->lines);
    rc = ptf_labels(pw, rec);
    if (rc == SL_OK && strcmp(ty, "histogram") == 0) {
        rc = ptf_hist_lines(pw, fam, rec);
    } else if (rc == SL_OK) {
        rc = ptf_line(pw, fam, "", NULL,
                      sl_json_obj_get(rec, sl_str_cstr("value")));
    }
    return rc ? rc : ptf_store(pw, fam, ty);
}

static enum sl_flush_result ptf_flush(struct sl_batch *b, struct sl_worker *w)
{
    struct ptf_worker *pw = sl_worker_ctx(w);
    struct sl_batch_iter it;
    struct sl_event ev;
    bool failed = false;
    int rc;

    if (pw->conf->source == PTF_DAEMON) {
        return SL_FLUSH_OK;
    }
    sl_batch_iter_init(b, &it);
    while (sl_batch_next(b, &it, &ev)) {
        rc = ptf_record(pw, &ev);
        if (rc == SL_EPARSE) {
            sl_batch_fail_record(b, ev.index, true, "not a metric record");
            failed = true;
        } else if (rc != SL_OK) {
            sl_batch_set_error(b, "%s", sl_strerror(rc));
            return SL_FLUSH_RETRY;
        }
    }
    rc = ptf_write_table(pw);
    if (rc != SL_OK) {
        sl_batch_set_error(b, "cannot write %s: %s", pw->conf->path,
                           sl_strerror(rc));
        return SL_FLUSH_RETRY;
    }
    return failed ? SL_FLUSH_PARTIAL : SL_FLUSH_OK;
}

static void ptf_tick(void *arg)
{
    struct ptf_worker *pw = arg;
    int rc = ptf_write_daemon(pw);

    if (rc != SL_OK) {
        sl_log_warn(pw->ins, "cannot write %s: %s", pw->conf->path,
                    sl_strerror(rc));
    }
}

static void ptf_worker_exit(struct sl_instance *ins, struct sl_worker *w)
{
    struct ptf_worker *pw = sl_worker_ctx(w);
    size_t i;

    (void)ins;
    if (pw == NULL) {
        return;
    }
    sl_ticker_stop(&pw->ticker);
    for (i = 0; i < pw->n; i++) {
        sl_free(pw->series[i].family);
        sl_free(pw->series[i].type);
        sl_free(pw->series[i].key);
        sl_free(pw->series[i].lines);
    }
    sl_free(pw->series);
    sl_arena_fini(&pw->arena);
    sl_buf_fini(&pw->out);
    sl_buf_fini(&pw->labels);
    sl_buf_fini(&pw->lines);
    sl_buf_fini(&pw->scratch);
    sl_free(pw);
    sl_worker_set_ctx(w, NULL);
}

static int ptf_worker_init(struct sl_instance *ins, struct sl_worker *w,
                           struct sl_err *err)
{
    struct ptf_worker *pw = sl_calloc(1, sizeof(*pw));

    if (pw == NULL) {
        return sl_err_set(err, SL_ENOMEM, "prometheus_textfile: out of memory");
    }
    pw->ins = ins;
    pw->conf = sl_instance_ctx(ins);
    pw->w = w;
    sl_arena_init(&pw->arena, 0, 0);
    sl_buf_init(&pw->out, 0);
    sl_buf_init(&pw->labels, 0);
    sl_buf_init(&pw->lines, 0);
    sl_buf_init(&pw->scratch, 0);
    sl_worker_set_ctx(w, pw);
    if (pw->conf->source == PTF_DAEMON &&
        sl_ticker_start(&pw->ticker, sl_worker_base(w), pw->conf->interval,
                        ptf_tick, pw) != SL_OK) {
        ptf_worker_exit(ins, w);
        return sl_err_set(err, SL_ENOMEM, "prometheus_textfile: out of memory");
    }
    return SL_OK;
}

static int ptf_init(struct sl_instance *ins, void *conf, struct sl_err *err)
{
    const struct ptf_conf *c = conf;
    size_t n = strlen(c->path);

    if (n < 6 || strcmp(c->path + n - 5, ".prom") != 0) {
        return sl_err_set(err, SL_ECONFIG,
                          "prometheus_textfile: path '%s' must end in .prom "
                          "(node_exporter ignores other files)",
                          c->path);
    }
    if (n > 3000) {
        return sl_err_set(err, SL_ECONFIG, "prometheus_textfile: path too long");
    }
    sl_instance_set_ctx(ins, conf);
    return SL_OK;
}

const struct sl_plugin sl_plugin_out_prometheus_textfile = {
    .abi = SL_PLUGIN_ABI,
    .kind = SL_PLUGIN_OUTPUT,
    .name = "prometheus_textfile",
    .description = "Write metrics atomically to a .prom file for "
                   "node_exporter's textfile collector.",
    .options = ptf_options,
    .conf_size = sizeof(struct ptf_conf),
    .init = ptf_init,
    .worker_init = ptf_worker_init,
    .flush = ptf_flush,
    .worker_exit = ptf_worker_exit,
};
