/*
 * metrics.h (core) - the metrics registry: counters, gauges and histograms
 * with labels, and their Prometheus text (0.0.4) and JSON encodings.
 *
 * The registry lives for the whole process (it survives reloads, so
 * counters of an instance that is re-created with the same name go on
 * counting).  Registration takes a mutex and is done at set-up; updates are
 * lock-free relaxed atomics and may come from any thread.  A family is a
 * metric name with its help text and type; a series is one set of label
 * values in a family.  Looking up an existing series returns it.
 */
#ifndef SLUICE_CORE_METRICS_H
#define SLUICE_CORE_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "sluice/buf.h"
#include "sluice/metrics.h"

enum sl_metric_type {
    SL_METRIC_COUNTER,
    SL_METRIC_GAUGE,
    SL_METRIC_HISTOGRAM,
};

struct sl_metrics;

struct sl_metrics *sl_metrics_create(void);
void sl_metrics_destroy(struct sl_metrics *m);

/* Finds or creates the series of family <name> with <labels>, a
 * NULL-terminated array of alternating label names and values (may be
 * NULL for none).  The family is created on first use with <help> and
 * <type>; a later call with another type returns NULL.  Histograms use
 * <buckets> (ascending upper bounds, <nbuckets> of them, +Inf implied),
 * fixed by the first call.  Returns NULL on ENOMEM. */
struct sl_metric *sl_metrics_get(struct sl_metrics *m, const char *name,
                                 const char *help, enum sl_metric_type type,
                                 const char *const *labels);
struct sl_metric *sl_metrics_histogram(struct sl_metrics *m, const char *name,
                                       const char *help,
                                       const char *const *labels,
                                       const double *buckets,
                                       size_t nbuckets);

/* A gauge whose value is computed when the metrics are written (process
 * CPU, RSS, uptime).  <fn> runs on the thread that writes the metrics. */
typedef double (*sl_metric_fn)(void *arg);
int sl_metrics_gauge_fn(struct sl_metrics *m, const char *name,
                        const char *help, const char *const *labels,
                        sl_metric_fn fn, void *arg);
int sl_metrics_counter_fn(struct sl_metrics *m, const char *name,
                          const char *help, const char *const *labels,
                          sl_metric_fn fn, void *arg);

/* Registers the process and build metrics: sluice_build_info{version},
 * sluice_uptime_seconds, process_cpu_seconds_total,
 * process_resident_memory_bytes, process_open_fds,
 * process_start_time_seconds (from /proc/self). */
int sl_metrics_add_process(struct sl_metrics *m, int64_t start_ns);

/* Histogram observation (in the histogram's unit, e.g. seconds); the _n
 * form records <n> observations of the same value at once. */
void sl_metric_observe(struct sl_metric *h, double v);
void sl_metric_observe_n(struct sl_metric *h, double v, uint64_t n);

/* Gauge helpers. */
void sl_metric_inc(struct sl_metric *g, int64_t delta);
int64_t sl_metric_get_i64(const struct sl_metric *m);

/* Prometheus text exposition format 0.0.4 (HELP and TYPE for every
 * family, families in registration order, `promtool check metrics`
 * clean). */
int sl_metrics_write_prometheus(struct sl_metrics *m, struct sl_buf *out);

/* {"metrics":[{"name":...,"type":...,"help":...,"series":[{"labels":{...},
 * "value":N}]}]} (histograms: "buckets", "sum", "count"). */
int sl_metrics_write_json(struct sl_metrics *m, struct sl_buf *out);

/* Sum of the values of every series of counter/gauge <name> whose labels
 * include all of <labels> (NULL-terminated pairs; NULL = all series). */
double sl_metrics_sum(struct sl_metrics *m, const char *name,
                      const char *const *labels);

#endif
