/*
 * metrics.c - the metrics registry and its Prometheus text and JSON
 * encoders.
 *
 * Main types: struct sl_metrics (the registry: an array of families in
 * registration order), struct metrics_family (name, help, type, histogram
 * bounds, and its series) and struct sl_metric (one series: its label
 * pairs and its value).  Families and series are allocated one by one and
 * never move or go away before sl_metrics_destroy, so a struct sl_metric
 * pointer stays valid for the life of the registry.
 *
 * Concurrency: registration and encoding take the registry mutex; updates
 * are relaxed 64-bit atomics on the series and take no lock, so any thread
 * may update.  A counter holds a uint64_t, a gauge the two's-complement
 * bits of an int64_t in the same word, a histogram one count per bucket
 * (not cumulative: the encoders add them up) and its sum as the bits of a
 * double updated with a compare-and-swap loop.  Callback series (process
 * CPU, RSS, ...) call their function on the thread that encodes.
 *
 * Never: allocate or lock in an update, or print a float through the
 * locale (Prometheus wants a '.' decimal point).
 */
#include <dirent.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <fcntl.h>
#include <unistd.h>

#include "metrics.h"
#include "plugin.h"
#include "sluice/error.h"
#include "sluice/json.h"
#include "sluice/log.h"
#include "sluice/mem.h"
#include "sluice/plugin.h"

#include "sluice/banned.h"

#ifndef SL_VERSION
#define SL_VERSION "unknown"
#endif

/* Bounds on what a registry holds, so that a runaway label value cannot
 * grow it without end. */
#define METRICS_MAX_FAMILIES 4096
#define METRICS_MAX_SERIES   65536
#define METRICS_MAX_LABELS   16
#define METRICS_MAX_BUCKETS  64

struct metrics_family {
    char *name;
    char *help;
    enum sl_metric_type type;
    double *buckets; /* histograms: ascending upper bounds */
    size_t nbuckets;
    struct sl_metric **series;
    size_t n;
    size_t cap;
};

struct sl_metric {
    const struct metrics_family *fam;
    char **labels;     /* name, value, name, value, ... */
    size_t nlabels;    /* pairs */
    uint64_t v;        /* counter, or gauge bits */
    uint64_t *counts;  /* histogram: nbuckets + 1 (the last is +Inf) */
    uint64_t sum_bits; /* histogram: the sum, as double bits */
    sl_metric_fn fn;   /* callback series, else NULL */
    void *arg;
};

struct sl_metrics {
    pthread_mutex_t lock;
    struct metrics_family **fams;
    size_t n;
    size_t cap;
    int64_t start_ns;
};

/* The Prometheus client defaults, in seconds. */
static const double metrics_default_buckets[] = {
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
};

static const char *const metrics_type_names[] = {
    [SL_METRIC_COUNTER] = "counter",
    [SL_METRIC_GAUGE] = "gauge",
    [SL_METRIC_HISTOGRAM] = "histogram",
};

/* ---- registry ---- */

/* Creates an empty registry; NULL on ENOMEM. */
struct sl_metrics *sl_metrics_create(void)
{
    struct sl_metrics *m = sl_calloc(1, sizeof(*m));
    struct timespec ts;

    if (m == NULL) {
        return NULL;
    }
    pthread_mutex_init(&m->lock, NULL);
    clock_gettime(CLOCK_REALTIME, &ts);
    m->start_ns = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
    return m;
}

static void metrics_series_free(struct sl_metric *s)
{
    size_t i;

    if (s == NULL) {
        return;
    }
    for (i = 0; s->labels != NULL && i < 2 * s->nlabels; i++) {
        sl_free(s->labels[i]);
    }
    sl_free(s->labels);
    sl_free(s->counts);
    sl_free(s);
}

static void metrics_family_free(struct metrics_family *f)
{
    size_t i;

    if (f == NULL) {
        return;
    }
    for (i = 0; i < f->n; i++) {
        metrics_series_free(f->series[i]);
    }
    sl_free(f->series);
    sl_free(f->buckets);
    sl_free(f->help);
    sl_free(f->name);
    sl_free(f);
}

/* Frees <m> and every metric in it; pointers to them become invalid. */
void sl_metrics_destroy(struct sl_metrics *m)
{
    size_t i;

    if (m == NULL) {
        return;
    }
    for (i = 0; i < m->n; i++) {
        metrics_family_free(m->fams[i]);
    }
    sl_free(m->fams);
    pthread_mutex_destroy(&m->lock);
    sl_free(m);
}

/* [a-zA-Z_:][a-zA-Z0-9_:]* for metric names; no ':' in label names. */
static bool metrics_name_ok(const char *s, bool label)
{
    size_t i;
    char c;

    if (s == NULL || s[0] == '\0') {
        return false;
    }
    for (i = 0; s[i] != '\0'; i++) {
        c = s[i];
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
            (c == ':' && !label) || (i > 0 && c >= '0' && c <= '9')) {
            continue;
        }
        return false;
    }
    return true;
}

/* Counts the label pairs of <labels>; -1 when a name is invalid or a
 * value is missing. */
static long metrics_labels_count(const char *const *labels)
{
    long n = 0;

    while (labels != NULL && labels[2 * n] != NULL) {
        if (labels[2 * n + 1] == NULL ||
            !metrics_name_ok(labels[2 * n], true) || n >= METRICS_MAX_LABELS) {
            return -1;
        }
        n++;
    }
    return n;
}

static struct metrics_family *metrics_family_find(const struct sl_metrics *m,
                                                  const char *name)
{
    size_t i;

    for (i = 0; i < m->n; i++) {
        if (strcmp(m->fams[i]->name, name) == 0) {
            return m->fams[i];
        }
    }
    return NULL;
}

/* Returns <arr> (an array of <n> pointers with room for *<cap>) grown so
 * that one more fits, or NULL when it is full (<max>) or on ENOMEM; <arr>
 * is left as it was on failure. */
static void *metrics_grow(void *arr, size_t n, size_t *cap, size_t max)
{
    size_t ncap;
    void *p;

    if (n < *cap) {
        return arr;
    }
    if (n >= max) {
        return NULL;
    }
    ncap = *cap == 0 ? 8 : *cap * 2;
    p = sl_realloc(arr, ncap * sizeof(void *));
    if (p != NULL) {
        *cap = ncap;
    }
    return p;
}

static struct metrics_family *
metrics_family_add(struct sl_metrics *m, const char *name, const char *help,
                   enum sl_metric_type type, const double *buckets,
                   size_t nbuckets)
{
    struct metrics_family **fams;
    struct metrics_family *f;

    fams = metrics_grow(m->fams, m->n, &m->cap, METRICS_MAX_FAMILIES);
    if (fams == NULL) {
        return NULL;
    }
    m->fams = fams;
    f = sl_calloc(1, sizeof(*f));
    if (f == NULL) {
        return NULL;
    }
    f->type = type;
    f->name = sl_strdup(name);
    f->help = sl_strdup(help != NULL ? help : "");
    if (type == SL_METRIC_HISTOGRAM) {
        f->buckets = sl_memdup(buckets, nbuckets * sizeof(*buckets));
        f->nbuckets = nbuckets;
    }
    if (f->name == NULL || f->help == NULL ||
        (type == SL_METRIC_HISTOGRAM && f->buckets == NULL)) {
        metrics_family_free(f);
        return NULL;
    }
    m->fams[m->n++] = f;
    return f;
}

static bool metrics_labels_eq(const struct sl_metric *s,
                              const char *const *labels, size_t n)
{
    size_t i;

    if (s->nlabels != n) {
        return false;
    }
    for (i = 0; i < 2 * n; i++) {
        if (strcmp(s->labels[i], labels[i]) != 0) {
            return false;
        }
    }
    return true;
}

static struct sl_metric *metrics_series_add(struct metrics_family *f,
                                            const char *const *labels, size_t n)
{
    struct sl_metric **series;
    struct sl_metric *s;
    size_t i;

    series = metrics_grow(f->series, f->n, &f->cap, METRICS_MAX_SERIES);
    if (series == NULL) {
        return NULL;
    }
    f->series = series;
    s = sl_calloc(1, sizeof(*s));
    if (s == NULL) {
        return NULL;
    }
    s->fam = f;
    s->labels = sl_calloc(2 * n + 1, sizeof(*s->labels));
    if (s->labels == NULL) {
        goto fail;
    }
    s->nlabels = n; /* the array is zeroed: a failed copy frees the rest */
    for (i = 0; i < 2 * n; i++) {
        s->labels[i] = sl_strdup(labels[i]);
        if (s->labels[i] == NULL) {
            goto fail;
        }
    }
    if (f->type == SL_METRIC_HISTOGRAM) {
        s->counts = sl_calloc(f->nbuckets + 1, sizeof(*s->counts));
        if (s->counts == NULL) {
            goto fail;
        }
    }
    f->series[f->n++] = s;
    return s;
fail:
    metrics_series_free(s);
    return NULL;
}

static bool metrics_buckets_ok(const double *b, size_t n)
{
    size_t i;

    if (b == NULL || n == 0 || n > METRICS_MAX_BUCKETS) {
        return false;
    }
    for (i = 0; i < n; i++) {
        if (!isfinite(b[i]) || (i > 0 && b[i] <= b[i - 1])) {
            return false;
        }
    }
    return true;
}

struct metrics_key {
    const char *name;
    const char *help;
    enum sl_metric_type type;
    const char *const *labels;
    const double *buckets;
    size_t nbuckets;
};

/* Finds or creates the series <k> describes; the lock must be held. */
static struct sl_metric *metrics_lookup_locked(struct sl_metrics *m,
                                               const struct metrics_key *k)
{
    struct metrics_family *f;
    long n = metrics_labels_count(k->labels);
    size_t i;

    if (n < 0 || !metrics_name_ok(k->name, false)) {
        return NULL;
    }
    f = metrics_family_find(m, k->name);
    if (f == NULL) {
        if (k->type == SL_METRIC_HISTOGRAM &&
            !metrics_buckets_ok(k->buckets, k->nbuckets)) {
            return NULL;
        }
        f = metrics_family_add(m, k->name, k->help, k->type, k->buckets,
                               k->nbuckets);
        if (f == NULL) {
            return NULL;
        }
    } else if (f->type != k->type) {
        return NULL;
    }
    for (i = 0; i < f->n; i++) {
        if (metrics_labels_eq(f->series[i], k->labels, (size_t)n)) {
            return f->series[i];
        }
    }
    return metrics_series_add(f, k->labels, (size_t)n);
}

static struct sl_metric *metrics_lookup(struct sl_metrics *m,
                                        const struct metrics_key *k)
{
    struct sl_metric *s;

    if (m == NULL || k->name == NULL) {
        return NULL;
    }
    pthread_mutex_lock(&m->lock);
    s = metrics_lookup_locked(m, k);
    pthread_mutex_unlock(&m->lock);
    return s;
}

/* Finds or creates a series; see metrics.h.  Histograms created here get
 * the default buckets. */
struct sl_metric *sl_metrics_get(struct sl_metrics *m, const char *name,
                                 const char *help, enum sl_metric_type type,
                                 const char *const *labels)
{
    struct metrics_key k = {
        .name = name,
        .help = help,
        .type = type,
        .labels = labels,
        .buckets = metrics_default_buckets,
        .nbuckets = sizeof(metrics_default_buckets) /
                    sizeof(metrics_default_buckets[0]),
    };

    return metrics_lookup(m, &k);
}

/* Finds or creates a histogram series; see metrics.h. */
struct sl_metric *sl_metrics_histogram(struct sl_metrics *m, const char *name,
                                       const char *help,
                                       const char *const *labels,
                                       const double *buckets, size_t nbuckets)
{
    struct metrics_key k = {
        .name = name,
        .help = help,
        .type = SL_METRIC_HISTOGRAM,
        .labels = labels,
        .buckets = buckets,
        .nbuckets = nbuckets,
    };

    return metrics_lookup(m, &k);
}

static int metrics_fn_register(struct sl_metrics *m,
                               const struct metrics_key *k, sl_metric_fn fn,
                               void *arg)
{
    struct sl_metric *s;

    if (m == NULL || fn == NULL) {
        return SL_EINVAL;
    }
    pthread_mutex_lock(&m->lock);
    s = metrics_lookup_locked(m, k);
    if (s != NULL) {
        s->fn = fn;
        s->arg = arg;
    }
    pthread_mutex_unlock(&m->lock);
    return s != NULL ? SL_OK : SL_ENOMEM;
}

/* Registers a gauge computed by <fn>(<arg>) at encoding time. */
int sl_metrics_gauge_fn(struct sl_metrics *m, const char *name,
                        const char *help, const char *const *labels,
                        sl_metric_fn fn, void *arg)
{
    struct metrics_key k = {
        .name = name,
        .help = help,
        .type = SL_METRIC_GAUGE,
        .labels = labels,
    };

    return metrics_fn_register(m, &k, fn, arg);
}

/* Registers a counter computed by <fn>(<arg>) at encoding time. */
int sl_metrics_counter_fn(struct sl_metrics *m, const char *name,
                          const char *help, const char *const *labels,
                          sl_metric_fn fn, void *arg)
{
    struct metrics_key k = {
        .name = name,
        .help = help,
        .type = SL_METRIC_COUNTER,
        .labels = labels,
    };

    return metrics_fn_register(m, &k, fn, arg);
}

/* ---- updates (any thread, lock-free) ---- */

/* Adds <n> to a counter or gauge; no-op on NULL or a histogram. */
void sl_metric_add(struct sl_metric *m, uint64_t n)
{
    if (m == NULL || m->counts != NULL) {
        return;
    }
    __atomic_fetch_add(&m->v, n, __ATOMIC_RELAXED);
}

/* Sets a gauge (or resets a counter) to <v>. */
void sl_metric_set(struct sl_metric *m, int64_t v)
{
    if (m == NULL || m->counts != NULL) {
        return;
    }
    __atomic_store_n(&m->v, (uint64_t)v, __ATOMIC_RELAXED);
}

/* Adds <delta> (may be negative) to a gauge. */
void sl_metric_inc(struct sl_metric *g, int64_t delta)
{
    if (g == NULL || g->counts != NULL) {
        return;
    }
    __atomic_fetch_add(&g->v, (uint64_t)delta, __ATOMIC_RELAXED);
}

/* The current value (0 for NULL). */
uint64_t sl_metric_value(const struct sl_metric *m)
{
    if (m == NULL) {
        return 0;
    }
    return __atomic_load_n(&m->v, __ATOMIC_RELAXED);
}

/* The current value of a gauge, signed (0 for NULL). */
int64_t sl_metric_get_i64(const struct sl_metric *m)
{
    return (int64_t)sl_metric_value(m);
}

/* Counts <v> in the first bucket whose bound is >= <v> and adds it to
 * the sum. */
void sl_metric_observe_n(struct sl_metric *h, double v, uint64_t n)
{
    const struct metrics_family *f;
    uint64_t old;
    uint64_t nbits;
    double sum;
    size_t i;

    if (h == NULL || h->counts == NULL || n == 0) {
        return;
    }
    f = h->fam;
    i = 0;
    while (i < f->nbuckets && !(v <= f->buckets[i])) {
        i++;
    }
    __atomic_fetch_add(&h->counts[i], n, __ATOMIC_RELAXED);
    old = __atomic_load_n(&h->sum_bits, __ATOMIC_RELAXED);
    do {
        memcpy(&sum, &old, sizeof(sum));
        sum += v * (double)n;
        memcpy(&nbits, &sum, sizeof(nbits));
    } while (!__atomic_compare_exchange_n(&h->sum_bits, &old, nbits, true,
                                          __ATOMIC_RELAXED, __ATOMIC_RELAXED));
}

void sl_metric_observe(struct sl_metric *h, double v)
{
    sl_metric_observe_n(h, v, 1);
}

static double metrics_sum_get(const struct sl_metric *h)
{
    uint64_t bits = __atomic_load_n(&h->sum_bits, __ATOMIC_RELAXED);
    double d;

    memcpy(&d, &bits, sizeof(d));
    return d;
}

/* ---- plugin API (sluice/metrics.h) ---- */

static bool metrics_has_suffix(const char *s, const char *suffix)
{
    size_t n = strlen(s);
    size_t k = strlen(suffix);

    return n >= k && strcmp(s + n - k, suffix) == 0;
}

static struct sl_metric *metrics_plugin_get(struct sl_instance *ins,
                                            const char *name, const char *help,
                                            enum sl_metric_type type,
                                            const char *label,
                                            const char *label_value)
{
    const struct sl_plugin *p;
    const char *labels[7];
    bool total;

    if (ins == NULL || name == NULL) {
        return NULL;
    }
    total = metrics_has_suffix(name, "_total");
    if (strncmp(name, "sluice_", 7) != 0 ||
        total != (type == SL_METRIC_COUNTER)) {
        sl_log_warn(ins,
                    "metric %s: a counter name starts with sluice_ "
                    "and ends with _total, a gauge's does not end so",
                    name);
        return NULL;
    }
    p = sl_instance_plugin(ins);
    labels[0] = "name";
    labels[1] = sl_instance_name(ins);
    labels[2] = "plugin";
    labels[3] = p != NULL && p->name != NULL ? p->name : "";
    labels[4] = label != NULL && label_value != NULL ? label : NULL;
    labels[5] = label_value;
    labels[6] = NULL;
    if (labels[1] == NULL) {
        return NULL;
    }
    return sl_metrics_get(sl_instance_metrics(ins), name, help, type, labels);
}

/* Registers or finds a counter of <ins>; see sluice/metrics.h. */
struct sl_metric *sl_metric_counter(struct sl_instance *ins, const char *name,
                                    const char *help, const char *label,
                                    const char *label_value)
{
    return metrics_plugin_get(ins, name, help, SL_METRIC_COUNTER, label,
                              label_value);
}

/* Registers or finds a gauge of <ins>; see sluice/metrics.h. */
struct sl_metric *sl_metric_gauge(struct sl_instance *ins, const char *name,
                                  const char *help, const char *label,
                                  const char *label_value)
{
    return metrics_plugin_get(ins, name, help, SL_METRIC_GAUGE, label,
                              label_value);
}

/* Finds or creates a free-form series of <ins>'s registry; see
 * sluice/metrics.h. */
struct sl_metric *sl_metric_labeled(struct sl_instance *ins, const char *name,
                                    const char *help,
                                    enum sl_metric_kind kind,
                                    const char *const *labels,
                                    const double *buckets, size_t nbuckets)
{
    struct sl_metrics *m = ins != NULL ? sl_instance_metrics(ins) : NULL;

    if (m == NULL || name == NULL) {
        return NULL;
    }
    switch (kind) {
    case SL_METRIC_KIND_COUNTER:
        return sl_metrics_get(m, name, help, SL_METRIC_COUNTER, labels);
    case SL_METRIC_KIND_GAUGE:
        return sl_metrics_get(m, name, help, SL_METRIC_GAUGE, labels);
    case SL_METRIC_KIND_HISTOGRAM:
        if (buckets == NULL || nbuckets == 0) {
            return sl_metrics_get(m, name, help, SL_METRIC_HISTOGRAM, labels);
        }
        return sl_metrics_histogram(m, name, help, labels, buckets, nbuckets);
    }
    return NULL;
}

/* ---- encoders ---- */

/* An output buffer that remembers its first error, so that encoders can
 * append without checking every call. */
struct metrics_out {
    struct sl_buf *b;
    int rc;
};

static void mo_put(struct metrics_out *o, const char *s)
{
    if (o->rc == SL_OK) {
        o->rc = sl_buf_append_str(o->b, s);
    }
}

static void mo_printf(struct metrics_out *o, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void mo_printf(struct metrics_out *o, const char *fmt, ...)
{
    va_list ap;

    if (o->rc != SL_OK) {
        return;
    }
    va_start(ap, fmt);
    o->rc = sl_buf_vprintf(o->b, fmt, ap);
    va_end(ap);
}

static void mo_json_str(struct metrics_out *o, const char *s)
{
    if (o->rc == SL_OK) {
        o->rc = sl_json_write_string(o->b, s, strlen(s));
    }
}

/* Formats <v> the way Prometheus reads it: NaN, +Inf, -Inf, integers
 * without a fraction, and otherwise the shortest text that reads back to
 * the same double, with '.' whatever the locale. */
static void metrics_fmt_double(char *out, size_t outlen, double v)
{
    int prec;
    char *c;

    if (isnan(v)) {
        snprintf(out, outlen, "NaN");
        return;
    }
    if (isinf(v)) {
        snprintf(out, outlen, "%s", v > 0 ? "+Inf" : "-Inf");
        return;
    }
    if (v == floor(v) && fabs(v) < 9007199254740992.0) {
        snprintf(out, outlen, "%.0f", v);
        return;
    }
    for (prec = 1; prec <= 17; prec++) {
        snprintf(out, outlen, "%.*g", prec, v);
        if (strtod(out, NULL) == v) {
            break;
        }
    }
    c = strchr(out, ',');
    if (c != NULL) {
        *c = '.';
    }
}

/* Writes <s> with Prometheus escaping: \\ and \n always, \" in label
 * values. */
static void metrics_prom_escape(struct metrics_out *o, const char *s,
                                bool quote)
{
    const char *run = s;

    for (; *s != '\0'; s++) {
        if (*s != '\\' && *s != '\n' && !(quote && *s == '"')) {
            continue;
        }
        if (o->rc == SL_OK) {
            o->rc = sl_buf_append(o->b, run, (size_t)(s - run));
        }
        mo_put(o, *s == '\\' ? "\\\\" : *s == '\n' ? "\\n" : "\\\"");
        run = s + 1;
    }
    mo_put(o, run);
}

/* {a="b",le="0.5"}: the series' labels plus an optional <le>. */
static void metrics_prom_labels(struct metrics_out *o,
                                const struct sl_metric *s, const char *le)
{
    size_t i;

    if (s->nlabels == 0 && le == NULL) {
        return;
    }
    mo_put(o, "{");
    for (i = 0; i < s->nlabels; i++) {
        mo_printf(o, "%s%s=\"", i > 0 ? "," : "", s->labels[2 * i]);
        metrics_prom_escape(o, s->labels[2 * i + 1], true);
        mo_put(o, "\"");
    }
    if (le != NULL) {
        mo_printf(o, "%sle=\"%s\"", s->nlabels > 0 ? "," : "", le);
    }
    mo_put(o, "}");
}

static void metrics_prom_histogram(struct metrics_out *o,
                                   const struct metrics_family *f,
                                   const struct sl_metric *s)
{
    char num[40];
    uint64_t cum = 0;
    size_t i;

    for (i = 0; i <= f->nbuckets; i++) {
        cum += __atomic_load_n(&s->counts[i], __ATOMIC_RELAXED);
        if (i < f->nbuckets) {
            metrics_fmt_double(num, sizeof(num), f->buckets[i]);
        } else {
            snprintf(num, sizeof(num), "+Inf");
        }
        mo_printf(o, "%s_bucket", f->name);
        metrics_prom_labels(o, s, num);
        mo_printf(o, " %" PRIu64 "\n", cum);
    }
    metrics_fmt_double(num, sizeof(num), metrics_sum_get(s));
    mo_printf(o, "%s_sum", f->name);
    metrics_prom_labels(o, s, NULL);
    mo_printf(o, " %s\n%s_count", num, f->name);
    metrics_prom_labels(o, s, NULL);
    mo_printf(o, " %" PRIu64 "\n", cum);
}

/* The text of a counter or gauge value. */
static void metrics_value_text(const struct sl_metric *s, char *out,
                               size_t outlen)
{
    if (s->fn != NULL) {
        metrics_fmt_double(out, outlen, s->fn(s->arg));
    } else if (s->fam->type == SL_METRIC_COUNTER) {
        snprintf(out, outlen, "%" PRIu64, sl_metric_value(s));
    } else {
        snprintf(out, outlen, "%" PRId64, sl_metric_get_i64(s));
    }
}

static void metrics_prom_family(struct metrics_out *o,
                                const struct metrics_family *f)
{
    char num[40];
    size_t i;

    mo_printf(o, "# HELP %s ", f->name);
    metrics_prom_escape(o, f->help, false);
    mo_printf(o, "\n# TYPE %s %s\n", f->name, metrics_type_names[f->type]);
    for (i = 0; i < f->n; i++) {
        if (f->type == SL_METRIC_HISTOGRAM) {
            metrics_prom_histogram(o, f, f->series[i]);
            continue;
        }
        metrics_value_text(f->series[i], num, sizeof(num));
        mo_put(o, f->name);
        metrics_prom_labels(o, f->series[i], NULL);
        mo_printf(o, " %s\n", num);
    }
}

/* Appends the Prometheus text of every family to <out>. */
int sl_metrics_write_prometheus(struct sl_metrics *m, struct sl_buf *out)
{
    struct metrics_out o = { .b = out, .rc = SL_OK };
    size_t i;

    if (m == NULL || out == NULL) {
        return SL_EINVAL;
    }
    pthread_mutex_lock(&m->lock);
    for (i = 0; i < m->n; i++) {
        metrics_prom_family(&o, m->fams[i]);
    }
    pthread_mutex_unlock(&m->lock);
    return o.rc;
}

/* A JSON number, or null for NaN and infinities. */
static void metrics_json_double(struct metrics_out *o, double v)
{
    char num[40];

    if (!isfinite(v)) {
        mo_put(o, "null");
        return;
    }
    metrics_fmt_double(num, sizeof(num), v);
    mo_put(o, num);
}

static void metrics_json_histogram(struct metrics_out *o,
                                   const struct metrics_family *f,
                                   const struct sl_metric *s)
{
    char num[40];
    uint64_t cum = 0;
    size_t i;

    mo_put(o, ",\"buckets\":[");
    for (i = 0; i <= f->nbuckets; i++) {
        cum += __atomic_load_n(&s->counts[i], __ATOMIC_RELAXED);
        if (i < f->nbuckets) {
            metrics_fmt_double(num, sizeof(num), f->buckets[i]);
        } else {
            snprintf(num, sizeof(num), "+Inf");
        }
        mo_printf(o, "%s{\"le\":\"%s\",\"count\":%" PRIu64 "}",
                  i > 0 ? "," : "", num, cum);
    }
    mo_put(o, "],\"sum\":");
    metrics_json_double(o, metrics_sum_get(s));
    mo_printf(o, ",\"count\":%" PRIu64, cum);
}

static void metrics_json_series(struct metrics_out *o,
                                const struct metrics_family *f,
                                const struct sl_metric *s)
{
    char num[40];
    size_t i;

    mo_put(o, "{\"labels\":{");
    for (i = 0; i < s->nlabels; i++) {
        mo_put(o, i > 0 ? "," : "");
        mo_json_str(o, s->labels[2 * i]);
        mo_put(o, ":");
        mo_json_str(o, s->labels[2 * i + 1]);
    }
    mo_put(o, "}");
    if (f->type == SL_METRIC_HISTOGRAM) {
        metrics_json_histogram(o, f, s);
    } else if (s->fn != NULL) {
        mo_put(o, ",\"value\":");
        metrics_json_double(o, s->fn(s->arg));
    } else {
        metrics_value_text(s, num, sizeof(num));
        mo_printf(o, ",\"value\":%s", num);
    }
    mo_put(o, "}");
}

static void metrics_json_family(struct metrics_out *o,
                                const struct metrics_family *f)
{
    size_t i;

    mo_put(o, "{\"name\":");
    mo_json_str(o, f->name);
    mo_printf(o, ",\"type\":\"%s\",\"help\":", metrics_type_names[f->type]);
    mo_json_str(o, f->help);
    mo_put(o, ",\"series\":[");
    for (i = 0; i < f->n; i++) {
        mo_put(o, i > 0 ? "," : "");
        metrics_json_series(o, f, f->series[i]);
    }
    mo_put(o, "]}");
}

/* Appends the JSON document of every family to <out>. */
int sl_metrics_write_json(struct sl_metrics *m, struct sl_buf *out)
{
    struct metrics_out o = { .b = out, .rc = SL_OK };
    size_t i;

    if (m == NULL || out == NULL) {
        return SL_EINVAL;
    }
    mo_put(&o, "{\"metrics\":[");
    pthread_mutex_lock(&m->lock);
    for (i = 0; i < m->n; i++) {
        mo_put(&o, i > 0 ? "," : "");
        metrics_json_family(&o, m->fams[i]);
    }
    pthread_mutex_unlock(&m->lock);
    mo_put(&o, "]}");
    return o.rc;
}

/* True when every pair of <labels> is among the labels of <s>. */
static bool metrics_labels_match(const struct sl_metric *s,
                                 const char *const *labels)
{
    size_t i;
    size_t j;

    for (i = 0; labels != NULL && labels[2 * i] != NULL; i++) {
        for (j = 0; j < s->nlabels; j++) {
            if (strcmp(s->labels[2 * j], labels[2 * i]) == 0 &&
                labels[2 * i + 1] != NULL &&
                strcmp(s->labels[2 * j + 1], labels[2 * i + 1]) == 0) {
                break;
            }
        }
        if (j == s->nlabels) {
            return false;
        }
    }
    return true;
}

/* Sums the counter or gauge series of <name> matching <labels>. */
double sl_metrics_sum(struct sl_metrics *m, const char *name,
                      const char *const *labels)
{
    const struct metrics_family *f;
    const struct sl_metric *s;
    double sum = 0;
    size_t i;

    if (m == NULL || name == NULL) {
        return 0;
    }
    pthread_mutex_lock(&m->lock);
    f = metrics_family_find(m, name);
    for (i = 0; f != NULL && f->type != SL_METRIC_HISTOGRAM && i < f->n; i++) {
        s = f->series[i];
        if (!metrics_labels_match(s, labels)) {
            continue;
        }
        if (s->fn != NULL) {
            sum += s->fn(s->arg);
        } else if (f->type == SL_METRIC_COUNTER) {
            sum += (double)sl_metric_value(s);
        } else {
            sum += (double)sl_metric_get_i64(s);
        }
    }
    pthread_mutex_unlock(&m->lock);
    return sum;
}

/* ---- process metrics ---- */

static double metrics_now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double metrics_uptime(void *arg)
{
    const struct sl_metrics *m = arg;
    double up = metrics_now_s() - (double)m->start_ns / 1e9;

    return up > 0 ? up : 0;
}

static double metrics_start_time(void *arg)
{
    const struct sl_metrics *m = arg;

    return (double)m->start_ns / 1e9;
}

static double metrics_cpu_seconds(void *arg)
{
    struct rusage ru;

    (void)arg;
    if (getrusage(RUSAGE_SELF, &ru) != 0) {
        return 0;
    }
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/* Resident pages (the second field of /proc/self/statm) times the page
 * size. */
static double metrics_rss_bytes(void *arg)
{
    char buf[128];
    char *p;
    char *end;
    unsigned long long pages;
    ssize_t n;
    int fd;

    (void)arg;
    fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
    if (fd == -1) {
        return 0;
    }
    n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0) {
        return 0;
    }
    buf[n] = '\0';
    p = strchr(buf, ' ');
    if (p == NULL) {
        return 0;
    }
    pages = strtoull(p + 1, &end, 10);
    if (end == p + 1) {
        return 0;
    }
    return (double)pages * (double)sysconf(_SC_PAGESIZE);
}

static double metrics_open_fds(void *arg)
{
    struct dirent *de;
    double n = 0;
    DIR *d;

    (void)arg;
    d = opendir("/proc/self/fd");
    if (d == NULL) {
        return 0;
    }
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] != '.') {
            n++;
        }
    }
    closedir(d);
    return n > 0 ? n - 1 : 0; /* not the descriptor of the listing */
}

/* Registers the build and process metrics; <start_ns> is the wall-clock
 * start of the process (0: the registry's creation time). */
int sl_metrics_add_process(struct sl_metrics *m, int64_t start_ns)
{
    static const char *const build[] = { "version", SL_VERSION, NULL };
    struct sl_metric *info;
    int rc = SL_OK;

    if (m == NULL) {
        return SL_EINVAL;
    }
    if (start_ns > 0) {
        m->start_ns = start_ns;
    }
    info = sl_metrics_get(m, "sluice_build_info",
                          "Build information; the value is always 1.",
                          SL_METRIC_GAUGE, build);
    if (info == NULL) {
        return SL_ENOMEM;
    }
    sl_metric_set(info, 1);
    rc = rc ? rc
            : sl_metrics_gauge_fn(m, "sluice_uptime_seconds",
                                  "Seconds since the process started.", NULL,
                                  metrics_uptime, m);
    rc = rc ? rc
            : sl_metrics_counter_fn(m, "process_cpu_seconds_total",
                                    "Total user and system CPU time "
                                    "spent in seconds.",
                                    NULL, metrics_cpu_seconds, NULL);
    rc = rc ? rc
            : sl_metrics_gauge_fn(m, "process_resident_memory_bytes",
                                  "Resident memory size in bytes.", NULL,
                                  metrics_rss_bytes, NULL);
    rc = rc ? rc
            : sl_metrics_gauge_fn(m, "process_open_fds",
                                  "Number of open file descriptors.", NULL,
                                  metrics_open_fds, NULL);
    rc = rc ? rc
            : sl_metrics_gauge_fn(m, "process_start_time_seconds",
                                  "Start time of the process since unix "
                                  "epoch in seconds.",
                                  NULL, metrics_start_time, m);
    return rc;
}

/* Writes the whole registry of <ins>'s engine; see sluice/metrics.h. */
int sl_metrics_export(const struct sl_instance *ins, bool json,
                      struct sl_buf *out)
{
    struct sl_metrics *m = ins != NULL ? sl_instance_metrics(ins) : NULL;

    if (m == NULL || out == NULL) {
        return SL_EINVAL;
    }
    return json ? sl_metrics_write_json(m, out)
                : sl_metrics_write_prometheus(m, out);
}
