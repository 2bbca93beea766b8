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

#include <stdint.h>

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

#endif
