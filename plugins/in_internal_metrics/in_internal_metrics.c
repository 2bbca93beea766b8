/*
 * in_internal_metrics.c - the daemon's own metrics as records: every
 * scrape_interval, one record per metric series, so that a pipeline can
 * ship them anywhere (InfluxDB line protocol, Elasticsearch, a file, the
 * prometheus_textfile output).
 *
 * A record: {"metric": <family name>, "metric_type": "counter"|"gauge"|
 * "histogram", <label>: <value>..., "value": N} for counters and gauges;
 * histograms carry "buckets" ({"<le>": cumulative count, ..., "+Inf": n}),
 * "sum" and "count" instead of "value".  Labels (name, plugin, reason, ...)
 * are top-level keys; one that would clash with a key above is written as
 * "label_<name>".
 *
 * Main thread only: a timer on the main loop takes one snapshot of the
 * registry (sl_metrics_export, JSON), parses it into an arena and appends
 * the records.  No state survives a scrape.
 */
#include <stdio.h>
#include <string.h>

#include <event2/event.h>

#include "sluice/plugin.h"
#include "sluice/banned.h"

struct in_imetrics_conf {
    int64_t scrape_interval; /* ms */
    bool scrape_on_start;
};

struct in_imetrics {
    struct sl_instance *ins;
    const struct in_imetrics_conf *conf;
    struct event *timer;
    struct sl_arena arena;
    struct sl_buf snap;
    struct sl_buf rec;
    bool stopped;
};

static const struct sl_option in_imetrics_options[] = {
    { .name = "scrape_interval",
      .type = SL_OPT_TIME,
      .def = "10s",
      .min = 100,
      .max = 24 * 3600 * 1000,
      SL_OPT_FIELD(struct in_imetrics_conf, scrape_interval),
      .desc = "How often the metrics are read and emitted as records." },
    { .name = "scrape_on_start",
      .type = SL_OPT_BOOL,
      .def = "off",
      SL_OPT_FIELD(struct in_imetrics_conf, scrape_on_start),
      .desc = "Also emit one set of records as soon as the input starts." },
    SL_OPT_END,
};

static const char *const imetrics_reserved[] = {
    "metric", "metric_type", "value", "buckets", "sum", "count", NULL,
};

static bool imetrics_is_reserved(struct sl_str key)
{
    size_t i;

    for (i = 0; imetrics_reserved[i] != NULL; i++) {
        if (sl_str_eq(key, sl_str_cstr(imetrics_reserved[i]))) {
            return true;
        }
    }
    return false;
}

/* ,"<label>":"<value>" for every label of a series. */
static int imetrics_labels(struct sl_buf *b, const struct sl_json *labels)
{
    size_t i;
    int rc = SL_OK;

    if (labels == NULL || labels->type != SL_JSON_OBJECT) {
        return SL_OK;
    }
    for (i = 0; rc == SL_OK && i < labels->u.obj.n; i++) {
        const struct sl_json_member *m = &labels->u.obj.v[i];

        if (m->val->type != SL_JSON_STRING) {
            continue;
        }
        rc = sl_buf_append_str(b, ",");
        if (rc == SL_OK && imetrics_is_reserved(m->key)) {
            rc = sl_buf_append_str(b, "\"label_");
            rc = rc ? rc : sl_buf_append(b, m->key.ptr, m->key.len);
            rc = rc ? rc : sl_buf_append_str(b, "\"");
        } else if (rc == SL_OK) {
            rc = sl_json_write_string(b, m->key.ptr, m->key.len);
        }
        rc = rc ? rc : sl_buf_putc(b, ':');
        rc = rc ? rc
                : sl_json_write_string(b, m->val->u.str.ptr,
                                       m->val->u.str.len);
    }
    return rc;
}

/* ,"buckets":{...},"sum":S,"count":N of a histogram series. */
static int imetrics_histogram(struct sl_buf *b, const struct sl_json *s)
{
    const struct sl_json *bk = sl_json_obj_get(s, sl_str_cstr("buckets"));
    const struct sl_json *sum = sl_json_obj_get(s, sl_str_cstr("sum"));
    const struct sl_json *cnt = sl_json_obj_get(s, sl_str_cstr("count"));
    size_t i;
    int rc;

    if (bk == NULL || bk->type != SL_JSON_ARRAY || sum == NULL ||
        cnt == NULL) {
        return SL_EPARSE;
    }
    rc = sl_buf_append_str(b, ",\"buckets\":{");
    for (i = 0; rc == SL_OK && i < bk->u.arr.n; i++) {
        const struct sl_json *le = sl_json_obj_get(bk->u.arr.v[i],
                                                   sl_str_cstr("le"));
        const struct sl_json *c = sl_json_obj_get(bk->u.arr.v[i],
                                                  sl_str_cstr("count"));

        if (le == NULL || le->type != SL_JSON_STRING || c == NULL) {
            return SL_EPARSE;
        }
        rc = i > 0 ? sl_buf_putc(b, ',') : SL_OK;
        rc = rc ? rc : sl_json_write_string(b, le->u.str.ptr, le->u.str.len);
        rc = rc ? rc : sl_buf_putc(b, ':');
        rc = rc ? rc : sl_json_serialize(c, b);
    }
    rc = rc ? rc : sl_buf_append_str(b, "},\"sum\":");
    rc = rc ? rc : sl_json_serialize(sum, b);
    rc = rc ? rc : sl_buf_append_str(b, ",\"count\":");
    return rc ? rc : sl_json_serialize(cnt, b);
}

/* Builds and appends the record of one series. */
static int imetrics_series(struct in_imetrics *im, const struct sl_json *name,
                           const struct sl_json *type, const struct sl_json *s,
                           int64_t now)
{
    struct sl_buf *b = &im->rec;
    const struct sl_json *v = sl_json_obj_get(s, sl_str_cstr("value"));
    bool hist = sl_str_eq(type->u.str, sl_str_cstr("histogram"));
    int rc;

    sl_buf_reset(b);
    rc = sl_buf_append_str(b, "{\"metric\":");
    rc = rc ? rc : sl_json_serialize(name, b);
    rc = rc ? rc : sl_buf_append_str(b, ",\"metric_type\":");
    rc = rc ? rc : sl_json_serialize(type, b);
    rc = rc ? rc
            : imetrics_labels(b, sl_json_obj_get(s, sl_str_cstr("labels")));
    if (rc == SL_OK && hist) {
        rc = imetrics_histogram(b, s);
    } else if (rc == SL_OK && v != NULL) {
        rc = sl_buf_append_str(b, ",\"value\":");
        rc = rc ? rc : sl_json_serialize(v, b);
    }
    rc = rc ? rc : sl_buf_putc(b, '}');
    if (rc != SL_OK) {
        return rc;
    }
    return sl_input_append(im->ins, sl_instance_tag(im->ins), now,
                           sl_buf_str(b));
}

/* One scrape: snapshot, parse, one record per series. */
static int imetrics_scrape(struct in_imetrics *im)
{
    const struct sl_json *fams, *f, *name, *type, *series;
    struct sl_json *doc = NULL;
    int64_t now = sl_time_now_ns();
    size_t i, j;
    int rc;

    sl_buf_reset(&im->snap);
    sl_arena_reset(&im->arena);
    rc = sl_metrics_export(im->ins, true, &im->snap);
    rc = rc ? rc
            : sl_json_parse(&im->arena, im->snap.data, im->snap.len, &doc,
                            NULL);
    if (rc != SL_OK) {
        return rc;
    }
    fams = sl_json_obj_get(doc, sl_str_cstr("metrics"));
    for (i = 0; fams != NULL && fams->type == SL_JSON_ARRAY &&
                i < fams->u.arr.n && rc == SL_OK;
         i++) {
        f = fams->u.arr.v[i];
        name = sl_json_obj_get(f, sl_str_cstr("name"));
        type = sl_json_obj_get(f, sl_str_cstr("type"));
        series = sl_json_obj_get(f, sl_str_cstr("series"));
        if (name == NULL || type == NULL || type->type != SL_JSON_STRING ||
            series == NULL || series->type != SL_JSON_ARRAY) {
            continue;
        }
        for (j = 0; j < series->u.arr.n && rc == SL_OK; j++) {
            rc = imetrics_series(im, name, type, series->u.arr.v[j], now);
        }
    }
    return rc;
}

static void imetrics_arm(struct in_imetrics *im)
{
    struct timeval tv = {
        .tv_sec = (time_t)(im->conf->scrape_interval / 1000),
        .tv_usec = (suseconds_t)(im->conf->scrape_interval % 1000) * 1000,
    };

    if (!im->stopped) {
        event_add(im->timer, &tv);
    }
}

static void imetrics_tick(evutil_socket_t fd, short what, void *arg)
{
    struct in_imetrics *im = arg;
    int rc;

    (void)fd;
    (void)what;
    if (!sl_input_paused(im->ins)) {
        rc = imetrics_scrape(im);
        if (rc != SL_OK) {
            sl_log_warn(im->ins, "scrape failed: %s", sl_strerror(rc));
        }
    } else {
        sl_input_dropped(im->ins, "paused", 1);
    }
    imetrics_arm(im);
}

static void in_imetrics_exit(struct sl_instance *ins)
{
    struct in_imetrics *im = sl_instance_ctx(ins);

    if (im == NULL) {
        return;
    }
    if (im->timer != NULL) {
        event_free(im->timer);
    }
    sl_arena_fini(&im->arena);
    sl_buf_fini(&im->snap);
    sl_buf_fini(&im->rec);
    sl_free(im);
    sl_instance_set_ctx(ins, NULL);
}

static int in_imetrics_init(struct sl_instance *ins, void *conf,
                            struct sl_err *err)
{
    struct in_imetrics *im = sl_calloc(1, sizeof(*im));

    if (im == NULL) {
        return sl_err_set(err, SL_ENOMEM, "internal_metrics: out of memory");
    }
    im->ins = ins;
    im->conf = conf;
    sl_arena_init(&im->arena, 0, 0);
    sl_buf_init(&im->snap, 0);
    sl_buf_init(&im->rec, 0);
    sl_instance_set_ctx(ins, im);
    im->timer = evtimer_new(sl_instance_base(ins), imetrics_tick, im);
    if (im->timer == NULL) {
        in_imetrics_exit(ins);
        return sl_err_set(err, SL_ENOMEM, "internal_metrics: out of memory");
    }
    return SL_OK;
}

static int in_imetrics_start(struct sl_instance *ins, struct sl_err *err)
{
    struct in_imetrics *im = sl_instance_ctx(ins);
    struct timeval now = { 0, 0 };

    (void)err;
    if (im->conf->scrape_on_start) {
        event_add(im->timer, &now);
    } else {
        imetrics_arm(im);
    }
    return SL_OK;
}

static void in_imetrics_stop(struct sl_instance *ins)
{
    struct in_imetrics *im = sl_instance_ctx(ins);

    im->stopped = true;
    evtimer_del(im->timer);
}

const struct sl_plugin sl_plugin_in_internal_metrics = {
    .abi = SL_PLUGIN_ABI,
    .kind = SL_PLUGIN_INPUT,
    .name = "internal_metrics",
    .description = "Emit the daemon's own metrics as records, one per "
                   "series, every scrape_interval.",
    .options = in_imetrics_options,
    .conf_size = sizeof(struct in_imetrics_conf),
    .init = in_imetrics_init,
    .start = in_imetrics_start,
    .stop = in_imetrics_stop,
    .exit = in_imetrics_exit,
};
