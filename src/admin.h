/*
 * admin.h - the admin HTTP server (evhttp on the main loop):
 *   GET /metrics          Prometheus text 0.0.4
 *   GET /api/v1/metrics   the same as JSON
 *   GET /health           JSON {status, timestamp, uptime_seconds, version,
 *                         components:[...]} 200, or 503 when not ready
 *   GET /health/live      200 while the loop turns
 *   GET /health/ready     200 when ready, else 503 with reasons
 *   GET /api/v1/storage   chunks and bytes per input and output
 *   GET /api/v1/tap?match=<wildcard>&limit=<n>
 *                         records after the filters, live, as NDJSON
 *                         (chunked); bounded per client: a slow client
 *                         loses records (counted), the pipeline never waits
 *   POST /api/v1/reload   like SIGHUP: 200 {"status":"reloaded"} or 400
 *                         {"status":"error","errors":[...]}
 * Everything else: 404 JSON; a wrong method: 405.  With an auth token, every
 * endpoint but /health/live wants "Authorization: Bearer <token>" (401).
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
    /* Before /metrics and /api/v1/metrics are written: publish counts the
     * engine keeps locally (may be NULL). */
    void (*refresh)(void *arg);
    /* GET /api/v1/storage: appends the JSON report to <out>. */
    int (*storage)(void *arg, struct sl_buf *out);
    /* POST /api/v1/reload: reloads the configuration.  On failure returns
     * an error and appends the validation errors to <errors> as JSON
     * strings separated by commas. */
    int (*reload)(void *arg, struct sl_buf *errors);
    /* Bearer token required on every endpoint but /health/live (NULL or
     * "": none).  Copied. */
    const char *auth_token;
};

/* Binds <listen>:<port> (port 0 picks a free one, see sl_admin_port).
 * Returns SL_OK or an error with <err> filled. */
int sl_admin_create(struct event_base *base, struct sl_metrics *m,
                    const struct sl_admin_hooks *hooks, const char *listen,
                    int port, struct sl_admin **out, struct sl_err *err);

/* The port actually bound. */
int sl_admin_port(const struct sl_admin *a);

/* Replaces the auth token (after a reload); NULL or "" removes it. */
int sl_admin_set_token(struct sl_admin *a, const char *token);

void sl_admin_destroy(struct sl_admin *a);

/* `sluice tap [--url URL] [--match TAG] [--limit N] [--token T]`: prints
 * the NDJSON stream of GET /api/v1/tap to stdout (libcurl).  <argv>[0] is
 * "tap".  Returns the process exit code. */
int sl_admin_tap_main(int argc, char **argv);

#endif
