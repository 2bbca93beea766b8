/*
 * admin.h - the admin HTTP server (evhttp on the main loop):
 *   GET /metrics          Prometheus text 0.0.4
 *   GET /api/v1/metrics   the same as JSON
 *   GET /health           JSON {status, timestamp, uptime_seconds, version,
 *                         components:[...]} 200, or 503 when not ready
 *   GET /health/live      200 while the loop turns
 *   GET /health/ready     200 when ready, else 503 with reasons
 *   GET /api/v1/storage   chunks and bytes per input and output
 * Everything else: 404 JSON; a method other than GET/HEAD: 405.
 * Main thread only.  The server outlives reloads: it asks the hooks for
 * the current engine's health on each request.
 */
#ifndef SLUICE_ADMIN_H
#define SLUICE_ADMIN_H

#include "health.h"
#include "metrics.h"
#include "sluice/buf.h"
#include "sluice/error.h"

struct event_base;
struct sl_admin;

struct sl_admin_hooks {
    void *arg;
    /* Fills <h> (zeroed by the caller). */
    void (*health)(void *arg, struct sl_health *h);
    /* GET /api/v1/storage: appends the JSON report to <out>. */
    int (*storage)(void *arg, struct sl_buf *out);
};

/* Binds <listen>:<port> (port 0 picks a free one, see sl_admin_port).
 * Returns SL_OK or an error with <err> filled. */
int sl_admin_create(struct event_base *base, struct sl_metrics *m,
                    const struct sl_admin_hooks *hooks, const char *listen,
                    int port, struct sl_admin **out, struct sl_err *err);

/* The port actually bound. */
int sl_admin_port(const struct sl_admin *a);

void sl_admin_destroy(struct sl_admin *a);

#endif
