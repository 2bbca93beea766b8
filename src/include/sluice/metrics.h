/*
 * metrics.h - counters and gauges a plugin can register for itself.
 *
 * The engine already counts records and bytes in and out, filter drops,
 * parse failures, output errors, retries and drops for every instance; a
 * plugin registers only what is its own (e.g. tail's rotations).  Metrics
 * are created in init (main thread) and updated from any thread: updates
 * are relaxed atomic adds, so count per batch, not per record, on hot
 * paths.  Every metric carries the labels name="<instance>" and
 * plugin="<plugin>", plus at most one extra label given at creation.
 */
#ifndef SLUICE_METRICS_H
#define SLUICE_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sl_buf;
struct sl_instance;
struct sl_metric;

/* Registers (or finds, when the same name and labels exist) a counter.
 * <name> must start with "sluice_" and end with "_total"; <help> is one
 * sentence.  <label>/<label_value> may be NULL.  Returns NULL on ENOMEM;
 * updating a NULL metric is a no-op, so callers need not check. */
struct sl_metric *sl_metric_counter(struct sl_instance *ins, const char *name,
                                    const char *help, const char *label,
                                    const char *label_value);
struct sl_metric *sl_metric_gauge(struct sl_instance *ins, const char *name,
                                  const char *help, const char *label,
                                  const char *label_value);

void sl_metric_add(struct sl_metric *m, uint64_t n);
void sl_metric_set(struct sl_metric *m, int64_t v);
uint64_t sl_metric_value(const struct sl_metric *m);

/* ---- metrics with free-form names and labels (log_to_metrics) ---- */

enum sl_metric_kind {
    SL_METRIC_KIND_COUNTER,
    SL_METRIC_KIND_GAUGE,
    SL_METRIC_KIND_HISTOGRAM,
};

/* Finds or creates the series of family <name> (any valid Prometheus
 * name; counters should end in _total) with <labels>, a NULL-terminated
 * array of alternating label names and values (NULL: none).  The
 * instance's name/plugin labels are NOT added.  Histograms use <buckets>
 * (ascending, <nbuckets>, +Inf implied), fixed by the first call.  Returns
 * NULL on ENOMEM, on a bad name, or when the family exists with another
 * kind.  Main thread (it takes the registry lock). */
struct sl_metric *sl_metric_labeled(struct sl_instance *ins, const char *name,
                                    const char *help,
                                    enum sl_metric_kind kind,
                                    const char *const *labels,
                                    const double *buckets, size_t nbuckets);

/* Records one histogram observation (also declared in the core header). */
void sl_metric_observe(struct sl_metric *h, double v);

/* Appends every metric of the daemon's registry to <out>: Prometheus text
 * 0.0.4 (<json> false) or the JSON document of GET /api/v1/metrics.  Any
 * thread; takes the registry lock.  Returns SL_OK or an error. */
int sl_metrics_export(const struct sl_instance *ins, bool json,
                      struct sl_buf *out);

#endif
