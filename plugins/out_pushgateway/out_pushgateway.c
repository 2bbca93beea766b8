/*
 * out_pushgateway.c - pushes metrics to a Prometheus Pushgateway
 * (protocols.md section 6.2): PUT (replace the whole group) or POST
 * (replace the pushed families) of text format 0.0.4 to
 * /metrics/job/<job>/instance/<instance>.
 *
 * metrics_source daemon: each worker pushes the daemon's registry every
 * interval (a timer on the worker loop; a failed push is logged and the
 * next interval tries again).  metrics_source records: each batch of
 * metric records (the shape internal_metrics emits) is rendered and pushed
 * as one request, with the engine's retries; HELP/TYPE are written for
 * each family (records of one family arrive together from
 * internal_metrics).
 *
 * Grouping-key values that are empty or hold anything but [A-Za-z0-9_.-]
 * are sent base64url-encoded with "@base64" after the label name.
 * Worker thread only (the shared HTTP client, sluice/http.h).
 */
#include <stdio.h>
#include <string.h>

#include "sluice/http.h"
#include "sluice/plugin.h"
#include "sluice/ticker.h"
#include "sluice/banned.h"

enum pgw_source { PGW_DAEMON, PGW_RECORDS };

struct pgw_conf {
    struct sl_http_conf http;
    char *job;
    char *instance;
    int method;
    int source;
    int64_t interval;
};

struct pgw {
    const struct pgw_conf *conf;
    char path[1024];
};

struct pgw_worker {
    struct sl_instance *ins;
    const struct pgw *p;
    struct sl_http_worker hw;
    struct sl_ticker ticker;
    struct sl_buf fam; /* family of the previous record of a request */
    bool busy;
};

static const char *const pgw_methods[] = { "PUT", "POST", NULL };
static const char *const pgw_sources[] = { "daemon", "records", NULL };

static const struct sl_option pgw_options[] = {
    SL_HTTP_OPTIONS(struct pgw_conf, http, "9091", "16M"),
    { .name = "job",
      .type = SL_OPT_STR,
      .def = "sluice",
      SL_OPT_FIELD(struct pgw_conf, job),
      .desc = "The job label of the pushed group (must not be empty)." },
    { .name = "instance",
      .type = SL_OPT_STR,
      SL_OPT_FIELD(struct pgw_conf, instance),
      .desc = "The instance label of the pushed group (default: the host "
              "name)." },
    { .name = "method",
      .type = SL_OPT_ENUM,
      .def = "PUT",
      .choices = pgw_methods,
      SL_OPT_FIELD(struct pgw_conf, method),
      .desc = "PUT replaces every metric of the group; POST replaces only "
              "the families pushed." },
    { .name = "metrics_source",
      .type = SL_OPT_ENUM,
      .def = "daemon",
      .choices = pgw_sources,
      SL_OPT_FIELD(struct pgw_conf, source),
      .desc = "daemon: push the daemon's own metrics every interval. "
              "records: push the metric records routed here (from "
              "internal_metrics)." },
    { .name = "interval",
      .type = SL_OPT_TIME,
      .def = "10s",
      .min = 100,
      .max = 24 * 3600 * 1000,
      SL_OPT_FIELD(struct pgw_conf, interval),
      .desc = "How often the daemon's metrics are pushed (metrics_source "
              "daemon)." },
    SL_OPT_END,
};

/* ---- grouping key ---- */

static bool pgw_plain(const char *v)
{
    size_t i;

    for (i = 0; v[i] != '\0'; i++) {
        char c = v[i];

        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-')) {
            return false;
        }
    }
    return i > 0;
}

/* Appends "/<label>/<value>" or "/<label>@base64/<b64url>". */
static int pgw_key_part(struct sl_buf *b, const char *label, const char *v)
{
    static const char tbl[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t n = strlen(v), i;
    int rc;

    if (pgw_plain(v)) {
        return sl_buf_printf(b, "/%s/%s", label, v);
    }
    rc = sl_buf_printf(b, "/%s@base64/", label);
    if (n == 0) {
        return rc ? rc : sl_buf_putc(b, '=');
    }
    for (i = 0; rc == SL_OK && i < n; i += 3) {
        uint32_t x = (uint32_t)(unsigned char)v[i] << 16;

        x |= i + 1 < n ? (uint32_t)(unsigned char)v[i + 1] << 8 : 0;
        x |= i + 2 < n ? (uint32_t)(unsigned char)v[i + 2] : 0;
        rc = sl_buf_putc(b, tbl[(x >> 18) & 63]);
        rc = rc ? rc : sl_buf_putc(b, tbl[(x >> 12) & 63]);
        rc = rc || i + 1 >= n ? rc : sl_buf_putc(b, tbl[(x >> 6) & 63]);
        rc = rc || i + 2 >= n ? rc : sl_buf_putc(b, tbl[x & 63]);
    }
    return rc;
}

static int pgw_make_path(struct pgw *p, struct sl_err *err)
{
    const char *inst = p->conf->instance != NULL ? p->conf->instance
                                                 : sl_hostname();
    struct sl_buf b;
    int rc;

    if (p->conf->job == NULL || p->conf->job[0] == '\0') {
        return sl_err_set(err, SL_ECONFIG, "pushgateway: job must not be "
                                           "empty");
    }
    sl_buf_init(&b, sizeof(p->path) - 1);
    rc = sl_buf_append_str(&b, "/metrics");
    rc = rc ? rc : pgw_key_part(&b, "job", p->conf->job);
    rc = rc ? rc : pgw_key_part(&b, "instance", inst);
    if (rc == SL_OK) {
        snprintf(p->path, sizeof(p->path), "%s", b.data);
    }
    sl_buf_fini(&b);
    return rc ? sl_err_set(err, SL_ECONFIG, "pushgateway: job or instance "
                                            "too long")
              : SL_OK;
}

static int pgw_target(struct pgw_worker *pw, struct sl_http_request *req)
{
    int rc = sl_http_request_set_target(
        req, pgw_methods[pw->p->conf->method], pw->p->path);

    return rc ? rc
              : sl_http_request_add_header(req, "Content-Type: text/plain; "
                                                "version=0.0.4; "
                                                "charset=utf-8");
}

/* ---- daemon source: a ticker ---- */

static void pgw_pushed(struct sl_http_request *req,
                       const struct sl_http_response *resp, void *arg)
{
    struct pgw_worker *pw = arg;
    char why[256];

    (void)req;
    pw->busy = false;
    if (sl_http_classify(resp->status) != SL_HTTP_OK) {
        sl_http_describe(resp, why, sizeof(why));
        sl_log_warn(pw->ins, "push to %s failed: %s", pw->p->path, why);
    }
}

static void pgw_tick(void *arg)
{
    struct pgw_worker *pw = arg;
    struct sl_http_request *req;
    int rc;

    if (pw->busy || (req = sl_http_request_get(pw->hw.http)) == NULL) {
        return;
    }
    rc = pgw_target(pw, req);
    rc = rc ? rc
            : sl_metrics_export(pw->ins, false, sl_http_request_body(req));
    if (rc != SL_OK) {
        sl_http_request_put(req);
        sl_log_warn(pw->ins, "cannot build the push: %s", sl_strerror(rc));
        return;
    }
    if (sl_http_request_send(req, pgw_pushed, pw) == SL_OK) {
        pw->busy = true;
    }
}

/* ---- records source ---- */

static int pgw_begin(struct sl_http_flush *f, struct sl_http_request *req,
                     void *arg)
{
    struct pgw_worker *pw = arg;

    (void)f;
    sl_buf_reset(&pw->fam);
    return pgw_target(pw, req);
}

static bool pgw_reserved(struct sl_str k)
{
    return sl_str_eq_cstr(k, "metric") || sl_str_eq_cstr(k, "metric_type") ||
           sl_str_eq_cstr(k, "value") || sl_str_eq_cstr(k, "buckets") ||
           sl_str_eq_cstr(k, "sum") || sl_str_eq_cstr(k, "count");
}

/* name[suffix]{labels[,extra]} value\n */
static int pgw_sample(struct sl_buf *b, struct sl_str name, const char *sfx,
                      const struct sl_json *rec, const char *extra,
                      const struct sl_json *v)
{
    size_t i, n = 0, j;
    int rc;

    if (v == NULL || v->type != SL_JSON_NUMBER) {
        return SL_EPARSE;
    }
    rc = sl_buf_append_sl(b, name);
    rc = rc ? rc : sl_buf_printf(b, "%s{", sfx);
    for (i = 0; rc == SL_OK && i < rec->u.obj.n; i++) {
        const struct sl_json_member *m = &rec->u.obj.v[i];

        if (m->val->type != SL_JSON_STRING || pgw_reserved(m->key)) {
            continue;
        }
        rc = sl_buf_append_str(b, n++ > 0 ? "," : "");
        rc = rc ? rc : sl_buf_append_sl(b, m->key);
        rc = rc ? rc : sl_buf_append_str(b, "=\"");
        for (j = 0; rc == SL_OK && j < m->val->u.str.len; j++) {
            char c = m->val->u.str.ptr[j];

            rc = c == '\\'   ? sl_buf_append_str(b, "\\\\")
                 : c == '"'  ? sl_buf_append_str(b, "\\\"")
                 : c == '\n' ? sl_buf_append_str(b, "\\n")
                             : sl_buf_putc(b, c);
        }
        rc = rc ? rc : sl_buf_putc(b, '"');
    }
    if (rc == SL_OK && extra != NULL) {
        rc = sl_buf_printf(b, "%s%s", n > 0 ? "," : "", extra);
    }
    rc = rc ? rc : sl_buf_append_str(b, "} ");
    rc = rc ? rc : sl_buf_append_sl(b, v->u.num);
    return rc ? rc : sl_buf_putc(b, '\n');
}

static int pgw_hist(struct sl_buf *b, struct sl_str name,
                    const struct sl_json *rec)
{
    const struct sl_json *bk = sl_json_obj_get(rec, sl_str_cstr("buckets"));
    char le[128];
    size_t i;
    int rc = SL_OK;

    if (bk == NULL || bk->type != SL_JSON_OBJECT) {
        return SL_EPARSE;
    }
    for (i = 0; rc == SL_OK && i < bk->u.obj.n; i++) {
        struct sl_str k = bk->u.obj.v[i].key;

        snprintf(le, sizeof(le), "le=\"%.*s\"",
                 (int)(k.len < 100 ? k.len : 100), k.ptr);
        rc = pgw_sample(b, name, "_bucket", rec, le, bk->u.obj.v[i].val);
    }
    rc = rc ? rc
            : pgw_sample(b, name, "_sum", rec, NULL,
                         sl_json_obj_get(rec, sl_str_cstr("sum")));
    return rc ? rc
              : pgw_sample(b, name, "_count", rec, NULL,
                           sl_json_obj_get(rec, sl_str_cstr("count")));
}

static int pgw_record(struct sl_http_flush *f, size_t i, bool first,
                      struct sl_buf *body, void *arg)
{
    struct pgw_worker *pw = arg;
    const struct sl_event *ev = sl_http_flush_event(f, i);
    const struct sl_json *name, *type;
    struct sl_json *rec;
    struct sl_str ty = sl_str_cstr("untyped");
    size_t mark = body->len;
    int rc;

    (void)first;
    rec = sl_http_worker_parse(&pw->hw, ev);
    if (rec == NULL ||
        (name = sl_json_obj_get(rec, sl_str_cstr("metric"))) == NULL ||
        name->type != SL_JSON_STRING) {
        sl_http_flush_fail(f, i, true, "not a metric record");
        return SL_OK;
    }
    type = sl_json_obj_get(rec, sl_str_cstr("metric_type"));
    if (type != NULL && type->type == SL_JSON_STRING) {
        ty = type->u.str;
    }
    rc = SL_OK;
    if (!sl_str_eq(sl_buf_str(&pw->fam), name->u.str)) {
        sl_buf_reset(&pw->fam);
        rc = sl_buf_append_sl(&pw->fam, name->u.str);
        rc = rc ? rc : sl_buf_append_str(body, "# HELP ");
        rc = rc ? rc : sl_buf_append_sl(body, name->u.str);
        rc = rc ? rc : sl_buf_append_str(body, " Metric pushed by sluice.\n"
                                               "# TYPE ");
        rc = rc ? rc : sl_buf_append_sl(body, name->u.str);
        rc = rc ? rc : sl_buf_putc(body, ' ');
        rc = rc ? rc : sl_buf_append_sl(body, ty);
        rc = rc ? rc : sl_buf_putc(body, '\n');
    }
    if (rc == SL_OK) {
        rc = sl_str_eq_cstr(ty, "histogram")
                 ? pgw_hist(body, name->u.str, rec)
                 : pgw_sample(body, name->u.str, "", rec, NULL,
                              sl_json_obj_get(rec, sl_str_cstr("value")));
    }
    if (rc == SL_EPARSE) {
        body->len = mark;
        body->data[mark] = '\0';
        sl_http_flush_fail(f, i, true, "not a metric record");
        return SL_OK;
    }
    return rc;
}

static enum sl_flush_result pgw_flush(struct sl_batch *b, struct sl_worker *w)
{
    static const struct sl_http_ops ops = { .begin = pgw_begin,
                                            .record = pgw_record };
    struct pgw_worker *pw = sl_worker_ctx(w);

    if (pw->p->conf->source == PGW_DAEMON) {
        return SL_FLUSH_OK;
    }
    return sl_http_flush_run(pw->hw.http, b, &ops, pw);
}

/* ---- life cycle ---- */

static void pgw_worker_exit(struct sl_instance *ins, struct sl_worker *w)
{
    struct pgw_worker *pw = sl_worker_ctx(w);

    (void)ins;
    if (pw == NULL) {
        return;
    }
    sl_ticker_stop(&pw->ticker);
    sl_http_worker_fini(&pw->hw);
    sl_buf_fini(&pw->fam);
    sl_free(pw);
    sl_worker_set_ctx(w, NULL);
}

static int pgw_worker_init(struct sl_instance *ins, struct sl_worker *w,
                           struct sl_err *err)
{
    struct pgw_worker *pw = sl_calloc(1, sizeof(*pw));

    if (pw == NULL) {
        return sl_err_set(err, SL_ENOMEM, "pushgateway: out of memory");
    }
    pw->ins = ins;
    pw->p = sl_instance_ctx(ins);
    sl_buf_init(&pw->fam, 0);
    sl_worker_set_ctx(w, pw);
    if (sl_http_worker_init(&pw->hw, w, &pw->p->conf->http, err) != SL_OK) {
        pgw_worker_exit(ins, w);
        return SL_ECONFIG;
    }
    if (pw->p->conf->source == PGW_DAEMON &&
        sl_ticker_start(&pw->ticker, sl_worker_base(w), pw->p->conf->interval,
                        pgw_tick, pw) != SL_OK) {
        pgw_worker_exit(ins, w);
        return sl_err_set(err, SL_ENOMEM, "pushgateway: out of memory");
    }
    return SL_OK;
}

static void pgw_exit(struct sl_instance *ins)
{
    sl_free(sl_instance_ctx(ins));
    sl_instance_set_ctx(ins, NULL);
}

static int pgw_init(struct sl_instance *ins, void *conf, struct sl_err *err)
{
    struct pgw *p = sl_calloc(1, sizeof(*p));
    int rc;

    if (p == NULL) {
        return sl_err_set(err, SL_ENOMEM, "pushgateway: out of memory");
    }
    p->conf = conf;
    sl_instance_set_ctx(ins, p);
    rc = sl_http_conf_check(&p->conf->http, "pushgateway", err);
    rc = rc ? rc : pgw_make_path(p, err);
    if (rc != SL_OK) {
        pgw_exit(ins);
    }
    return rc;
}

const struct sl_plugin sl_plugin_out_pushgateway = {
    .abi = SL_PLUGIN_ABI,
    .kind = SL_PLUGIN_OUTPUT,
    .name = "pushgateway",
    .description = "Push metrics to a Prometheus Pushgateway group "
                   "(PUT or POST).",
    .options = pgw_options,
    .conf_size = sizeof(struct pgw_conf),
    .init = pgw_init,
    .worker_init = pgw_worker_init,
    .flush = pgw_flush,
    .worker_exit = pgw_worker_exit,
    .exit = pgw_exit,
};
