/*
 * filter_log_to_metrics.c - counters, gauges and histograms computed from
 * records, exported on /metrics with the daemon's own.
 *
 * Per record that reaches the filter: the label values are read from the
 * label_field accessors (missing: ""), the series of that label set is
 * found in a small local hash table (created in the registry the first
 * time: at most max_series of them; records of further label sets are
 * counted in sluice_log_to_metrics_series_dropped_total and not measured),
 * and then, by metric_mode: counter += 1 (or += value_field when set),
 * gauge = value_field, histogram observes value_field.  A record whose
 * value_field is missing or not a number is counted in
 * sluice_log_to_metrics_skipped_total.  Records pass on unchanged unless
 * discard_logs is set.
 *
 * Main thread only (filters run on the main loop); the registry lock is
 * taken only when a new series is created.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sluice/plugin.h"
#include "sluice/banned.h"

#define LTM_MAX_LABELS 8
#define LTM_MAX_BUCKETS 64

enum ltm_mode { LTM_COUNTER, LTM_GAUGE, LTM_HISTOGRAM };

struct ltm_conf {
    int mode;
    char *metric_name;
    char *metric_description;
    char *value_field;
    struct sl_strlist label_field;
    struct sl_strlist bucket;
    int64_t max_series;
    bool discard_logs;
};

struct ltm_slot {
    char *key; /* label values joined by \x1f; NULL: free */
    struct sl_metric *m;
};

struct ltm {
    struct sl_instance *ins;
    const struct ltm_conf *conf;
    char *name; /* exported family name */
    struct sl_accessor value;
    bool has_value;
    struct sl_accessor labels[LTM_MAX_LABELS];
    char *label_names[LTM_MAX_LABELS];
    size_t nlabels;
    double buckets[LTM_MAX_BUCKETS];
    size_t nbuckets;
    struct ltm_slot *slots;
    size_t cap, nseries;
    struct sl_buf key, scratch;
    struct sl_metric *m_dropped;
    struct sl_metric *m_skipped;
};

static const char *const ltm_modes[] = { "counter", "gauge", "histogram",
                                         NULL };

static const struct sl_option ltm_options[] = {
    { .name = "metric_mode",
      .type = SL_OPT_ENUM,
      .def = "counter",
      .choices = ltm_modes,
      SL_OPT_FIELD(struct ltm_conf, mode),
      .desc = "counter counts records (or adds value_field), gauge keeps "
              "the last value_field, histogram observes value_field." },
    { .name = "metric_name",
      .type = SL_OPT_STR,
      .flags = SL_OPT_REQUIRED,
      SL_OPT_FIELD(struct ltm_conf, metric_name),
      .desc = "Name of the exported metric family ([a-zA-Z_:][a-zA-Z0-9_:]*). "
              "A counter's name gets _total appended when it lacks it." },
    { .name = "metric_description",
      .type = SL_OPT_STR,
      .def = "Metric computed from log records.",
      SL_OPT_FIELD(struct ltm_conf, metric_description),
      .desc = "HELP text of the metric." },
    { .name = "value_field",
      .type = SL_OPT_STR,
      SL_OPT_FIELD(struct ltm_conf, value_field),
      .desc = "Record accessor of the numeric value (e.g. duration or "
              "$http['latency']). Required for gauge and histogram." },
    { .name = "label_field",
      .type = SL_OPT_LIST,
      .flags = SL_OPT_MULTI,
      SL_OPT_FIELD(struct ltm_conf, label_field),
      .desc = "Record accessors whose values become labels (at most 8); "
              "the label name is the accessor's last key." },
    { .name = "bucket",
      .type = SL_OPT_LIST,
      .flags = SL_OPT_MULTI,
      SL_OPT_FIELD(struct ltm_conf, bucket),
      .desc = "Histogram bucket upper bounds, ascending (default: 0.005 "
              "to 10, the Prometheus client defaults)." },
    { .name = "max_series",
      .type = SL_OPT_INT,
      .def = "1000",
      .min = 1,
      .max = 60000,
      SL_OPT_FIELD(struct ltm_conf, max_series),
      .desc = "Most label sets kept; records with a new label set beyond "
              "it are counted in sluice_log_to_metrics_series_dropped_total "
              "and not measured." },
    { .name = "discard_logs",
      .type = SL_OPT_BOOL,
      .def = "off",
      SL_OPT_FIELD(struct ltm_conf, discard_logs),
      .desc = "Drop the records once measured (only the metric remains)." },
    SL_OPT_END,
};

static const double ltm_default_buckets[] = {
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
};

/* FNV-1a. */
static size_t ltm_hash(const char *p, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    size_t i;

    for (i = 0; i < n; i++) {
        h = (h ^ (unsigned char)p[i]) * 1099511628211ull;
    }
    return (size_t)h;
}

/* The value of accessor <acc> as text ("" when missing). */
static struct sl_str ltm_text(struct ltm *l, const struct sl_accessor *acc,
                              const struct sl_json *dom)
{
    const struct sl_json *v = sl_accessor_get(acc, dom);
    struct sl_str s = { .ptr = "", .len = 0 };

    if (v != NULL && !sl_json_scalar_text(v, &l->scratch, &s)) {
        s = sl_str_cstr("");
    }
    return s;
}

/* The series of the record's label set, created on first use; NULL when
 * over max_series (counted) or on ENOMEM. */
static struct sl_metric *ltm_series(struct ltm *l, const struct sl_json *dom)
{
    const char *labels[2 * LTM_MAX_LABELS + 1];
    struct ltm_slot *slot = NULL;
    size_t i, h, off;

    sl_buf_reset(&l->key);
    for (i = 0; i < l->nlabels; i++) {
        sl_buf_reset(&l->scratch);
        sl_buf_append_sl(&l->key, ltm_text(l, &l->labels[i], dom));
        sl_buf_putc(&l->key, '\x1f');
    }
    h = ltm_hash(l->key.data != NULL ? l->key.data : "", l->key.len);
    for (i = 0; i < l->cap; i++) {
        slot = &l->slots[(h + i) & (l->cap - 1)];
        if (slot->key == NULL) {
            break;
        }
        if (strcmp(slot->key, l->key.data != NULL ? l->key.data : "") == 0) {
            return slot->m;
        }
    }
    if (slot == NULL || slot->key != NULL ||
        l->nseries >= (size_t)l->conf->max_series) {
        /* No free slot (or past max_series): counted, never overwritten. */
        sl_metric_add(l->m_dropped, 1);
        return NULL;
    }
    slot->key = sl_strdup(l->key.data != NULL ? l->key.data : "");
    if (slot->key == NULL) {
        return NULL;
    }
    /* The values are the \x1f-separated parts of the key copy. */
    for (i = 0, off = 0; i < l->nlabels; i++) {
        char *end = strchr(slot->key + off, '\x1f');

        labels[2 * i] = l->label_names[i];
        labels[2 * i + 1] = slot->key + off;
        *end = '\0';
        off = (size_t)(end - slot->key) + 1;
    }
    labels[2 * l->nlabels] = NULL;
    slot->m = sl_metric_labeled(l->ins, l->name, l->conf->metric_description,
                                (enum sl_metric_kind)l->conf->mode, labels,
                                l->buckets, l->nbuckets);
    l->nseries++;
    return slot->m;
}

/* The record's value_field as a number; false when missing or not one. */
static bool ltm_value(struct ltm *l, const struct sl_json *dom, double *out)
{
    const struct sl_json *v = sl_accessor_get(&l->value, dom);
    char tmp[64];
    char *end;

    if (v == NULL) {
        return false;
    }
    if (v->type == SL_JSON_NUMBER) {
        return sl_json_get_double(v, out);
    }
    if (v->type != SL_JSON_STRING || v->u.str.len == 0 ||
        v->u.str.len >= sizeof(tmp)) {
        return false;
    }
    memcpy(tmp, v->u.str.ptr, v->u.str.len);
    tmp[v->u.str.len] = '\0';
    errno = 0;
    *out = strtod(tmp, &end);
    return errno == 0 && *end == '\0' && isfinite(*out);
}

static enum sl_filter_result ltm_filter(struct sl_instance *ins,
                                        struct sl_record *r)
{
    struct ltm *l = sl_instance_ctx(ins);
    const struct sl_json *dom = sl_record_dom(r);
    struct sl_metric *m;
    double v = 1;

    if (dom == NULL) {
        sl_metric_add(l->m_skipped, 1);
        return SL_FILTER_KEEP;
    }
    if (l->has_value && !ltm_value(l, dom, &v)) {
        sl_metric_add(l->m_skipped, 1);
        return l->conf->discard_logs ? SL_FILTER_DROP : SL_FILTER_KEEP;
    }
    m = ltm_series(l, dom);
    if (m != NULL) {
        switch (l->conf->mode) {
        case LTM_COUNTER:
            sl_metric_add(m, v > 0 ? (uint64_t)llround(v) : 0);
            break;
        case LTM_GAUGE:
            sl_metric_set(m, (int64_t)llround(v));
            break;
        default:
            sl_metric_observe(m, v);
            break;
        }
    }
    return l->conf->discard_logs ? SL_FILTER_DROP : SL_FILTER_KEEP;
}

static void ltm_exit(struct sl_instance *ins)
{
    struct ltm *l = sl_instance_ctx(ins);
    size_t i;

    if (l == NULL) {
        return;
    }
    for (i = 0; l->slots != NULL && i < l->cap; i++) {
        sl_free(l->slots[i].key);
    }
    for (i = 0; i < l->nlabels; i++) {
        sl_accessor_fini(&l->labels[i]);
        sl_free(l->label_names[i]);
    }
    if (l->has_value) {
        sl_accessor_fini(&l->value);
    }
    sl_free(l->slots);
    sl_free(l->name);
    sl_buf_fini(&l->key);
    sl_buf_fini(&l->scratch);
    sl_free(l);
    sl_instance_set_ctx(ins, NULL);
}

/* A label name from an accessor's last key, made a valid Prometheus
 * label name. */
static char *ltm_label_name(const struct sl_accessor *acc)
{
    const struct sl_accessor_step *st = &acc->steps[acc->n - 1];
    char *s;
    size_t i;

    if (st->is_index || st->key.len == 0) {
        return NULL;
    }
    s = sl_malloc(st->key.len + 2);
    if (s == NULL) {
        return NULL;
    }
    s[0] = '_';
    for (i = 0; i < st->key.len; i++) {
        char c = st->key.ptr[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                  c == '_' || (i > 0 && c >= '0' && c <= '9');

        s[i + 1] = ok ? c : '_';
    }
    s[st->key.len + 1] = '\0';
    /* Keep the leading '_' only when the key starts with a digit. */
    if (st->key.ptr[0] < '0' || st->key.ptr[0] > '9') {
        memmove(s, s + 1, st->key.len + 1);
    }
    return s;
}

static int ltm_init_labels(struct ltm *l, struct sl_err *err)
{
    const struct sl_strlist *lf = &l->conf->label_field;
    size_t i;

    if (lf->n > LTM_MAX_LABELS) {
        return sl_err_set(err, SL_ECONFIG,
                          "log_to_metrics: at most %d label_field entries",
                          LTM_MAX_LABELS);
    }
    for (i = 0; i < lf->n; i++) {
        if (sl_accessor_compile(&l->labels[i], lf->v[i], err) != SL_OK) {
            return SL_ECONFIG;
        }
        l->nlabels++;
        l->label_names[i] = ltm_label_name(&l->labels[i]);
        if (l->label_names[i] == NULL) {
            return sl_err_set(err, SL_ECONFIG,
                              "log_to_metrics: label_field '%s' must end "
                              "with a key",
                              lf->v[i]);
        }
    }
    return SL_OK;
}

static int ltm_init_buckets(struct ltm *l, struct sl_err *err)
{
    const struct sl_strlist *b = &l->conf->bucket;
    char *end;
    size_t i;

    if (b->n == 0) {
        l->nbuckets = sizeof(ltm_default_buckets) / sizeof(double);
        memcpy(l->buckets, ltm_default_buckets, sizeof(ltm_default_buckets));
        return SL_OK;
    }
    if (b->n > LTM_MAX_BUCKETS) {
        return sl_err_set(err, SL_ECONFIG,
                          "log_to_metrics: at most %d buckets",
                          LTM_MAX_BUCKETS);
    }
    for (i = 0; i < b->n; i++) {
        errno = 0;
        l->buckets[i] = strtod(b->v[i], &end);
        if (errno != 0 || end == b->v[i] || *end != '\0' ||
            !isfinite(l->buckets[i]) ||
            (i > 0 && l->buckets[i] <= l->buckets[i - 1])) {
            return sl_err_set(err, SL_ECONFIG,
                              "log_to_metrics: bucket '%s': expected "
                              "ascending numbers",
                              b->v[i]);
        }
    }
    l->nbuckets = b->n;
    return SL_OK;
}

static bool ltm_name_ok(const char *s)
{
    size_t i;

    for (i = 0; s[i] != '\0'; i++) {
        char c = s[i];

        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
              c == ':' || (i > 0 && c >= '0' && c <= '9'))) {
            return false;
        }
    }
    return i > 0;
}

static int ltm_init_name(struct ltm *l, struct sl_err *err)
{
    const char *n = l->conf->metric_name;
    size_t len = strlen(n);
    bool total = len >= 6 && strcmp(n + len - 6, "_total") == 0;

    if (!ltm_name_ok(n)) {
        return sl_err_set(err, SL_ECONFIG,
                          "log_to_metrics: metric_name '%s' is not a valid "
                          "metric name",
                          n);
    }
    l->name = sl_malloc(len + 7);
    if (l->name == NULL) {
        return sl_err_set(err, SL_ENOMEM, "log_to_metrics: out of memory");
    }
    snprintf(l->name, len + 7, "%s%s", n,
             l->conf->mode == LTM_COUNTER && !total ? "_total" : "");
    return SL_OK;
}

static int ltm_init(struct sl_instance *ins, void *conf, struct sl_err *err)
{
    struct ltm *l = sl_calloc(1, sizeof(*l));
    const struct ltm_conf *c = conf;
    int rc;

    if (l == NULL) {
        return sl_err_set(err, SL_ENOMEM, "log_to_metrics: out of memory");
    }
    l->ins = ins;
    l->conf = c;
    sl_buf_init(&l->key, 64 * 1024);
    sl_buf_init(&l->scratch, 64 * 1024);
    sl_instance_set_ctx(ins, l);
    rc = ltm_init_name(l, err);
    rc = rc ? rc : ltm_init_labels(l, err);
    rc = rc ? rc : ltm_init_buckets(l, err);
    if (rc == SL_OK && c->mode != LTM_COUNTER && c->value_field == NULL) {
        rc = sl_err_set(err, SL_ECONFIG,
                        "log_to_metrics: metric_mode %s needs value_field",
                        ltm_modes[c->mode]);
    }
    if (rc == SL_OK && c->value_field != NULL) {
        rc = sl_accessor_compile(&l->value, c->value_field, err);
        l->has_value = rc == SL_OK;
    }
    for (l->cap = 16; rc == SL_OK && l->cap < 2 * (size_t)c->max_series;) {
        l->cap *= 2;
    }
    l->slots = rc == SL_OK ? sl_calloc(l->cap, sizeof(*l->slots)) : NULL;
    if (rc == SL_OK && l->slots == NULL) {
        rc = sl_err_set(err, SL_ENOMEM, "log_to_metrics: out of memory");
    }
    if (rc != SL_OK) {
        ltm_exit(ins);
        return rc;
    }
    l->m_dropped = sl_metric_counter(
        ins, "sluice_log_to_metrics_series_dropped_total",
        "Records not measured because max_series label sets exist.", NULL,
        NULL);
    l->m_skipped = sl_metric_counter(
        ins, "sluice_log_to_metrics_skipped_total",
        "Records without a numeric value_field.", NULL, NULL);
    return SL_OK;
}

const struct sl_plugin sl_plugin_filter_log_to_metrics = {
    .abi = SL_PLUGIN_ABI,
    .kind = SL_PLUGIN_FILTER,
    .name = "log_to_metrics",
    .description = "Derive counters, gauges or histograms from records and "
                   "export them on /metrics.",
    .options = ltm_options,
    .conf_size = sizeof(struct ltm_conf),
    .init = ltm_init,
    .filter = ltm_filter,
    .exit = ltm_exit,
};
