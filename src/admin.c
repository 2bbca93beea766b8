/*
 * admin.c - the admin HTTP server: Prometheus and JSON metrics, and the
 * health endpoints, served by libevent's evhttp on the main loop.
 *
 * Main type: struct sl_admin (the evhttp server, its listening socket,
 * the metrics registry it reads and the hooks that report health).  The
 * routes are a static table; every response is built in an sl_buf and
 * handed to evhttp in one piece.
 *
 * Concurrency: main thread only; the handlers run on the loop and must not
 * block, so each does a bounded amount of work (one pass over the metrics
 * registry, or one health snapshot).
 *
 * The tap (GET /api/v1/tap) keeps a list of streaming clients; while the
 * list is not empty the server holds the engine's tap hook and writes each
 * matching record to every client as one NDJSON chunk.  A client whose
 * unsent output exceeds ADMIN_TAP_MAX_PENDING loses records (counted in
 * sluice_admin_tap_dropped_total) instead of slowing the loop.
 *
 * Limits: request bodies are capped at ADMIN_MAX_BODY, headers at
 * ADMIN_MAX_HEADERS, and idle or slow connections time out after
 * ADMIN_TIMEOUT_S, so that the admin port cannot be used to hold memory or
 * connections.  Responses are capped at ADMIN_MAX_RESPONSE.
 */
#include <errno.h>
#include <netdb.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/util.h>

#include <curl/curl.h>

#include "admin.h"
#include "engine.h"
#include "router.h"
#include "sluice/buf.h"
#include "sluice/json.h"
#include "sluice/mem.h"
#include "sluice/timeutil.h"

#include "sluice/banned.h"

#ifndef SL_VERSION
#define SL_VERSION "unknown"
#endif

#define ADMIN_MAX_BODY     4096
#define ADMIN_MAX_HEADERS  8192
#define ADMIN_TIMEOUT_S    10
#define ADMIN_MAX_RESPONSE (64u << 20)
#define ADMIN_ALLOW        "GET, HEAD"
#define ADMIN_TAP_MAX_CLIENTS 16
#define ADMIN_TAP_MAX_PENDING (1u << 20)
#define ADMIN_TAP_TIMEOUT_S   (24 * 3600)
#define ADMIN_TAP_LINE_MAX    (4u << 20)

struct admin_tap;

struct sl_admin {
    struct evhttp *http;
    struct sl_metrics *metrics;
    struct sl_admin_hooks hooks;
    char *token;                /* NULL: no auth */
    struct admin_tap *taps;     /* streaming clients */
    size_t ntaps;
    struct sl_metric *m_tap_dropped;
    struct sl_metric *m_tap_sent;
    struct sl_buf tap_line;
    int64_t start_ns;
    int port;
};

/* One GET /api/v1/tap client. */
struct admin_tap {
    struct sl_admin *a;
    struct evhttp_request *req;
    struct evhttp_connection *evcon;
    char *match;
    uint64_t limit; /* 0: until the client goes away */
    uint64_t sent;
    struct admin_tap *next;
};

enum admin_health_kind {
    ADMIN_HEALTH_ALL,
    ADMIN_HEALTH_LIVE,
    ADMIN_HEALTH_READY,
};

struct admin_route {
    const char *path;
    void (*fn)(struct sl_admin *a, struct evhttp_request *req, int arg);
    int arg;
    bool post; /* POST only (else GET and HEAD) */
};

/* Sends <code> with <body> (may be NULL) as <type>. */
static void admin_reply(struct evhttp_request *req, int code,
                        const char *reason, const char *type,
                        const struct sl_buf *body)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    struct evbuffer *eb = evbuffer_new();
    size_t len = body != NULL ? body->len : 0;
    char num[24];

    evhttp_add_header(h, "Content-Type", type);
    evhttp_add_header(h, "Cache-Control", "no-store");
    if (evhttp_request_get_command(req) == EVHTTP_REQ_HEAD) {
        /* evhttp would send the body: announce its length, send none. */
        snprintf(num, sizeof(num), "%zu", len);
        evhttp_add_header(h, "Content-Length", num);
    } else if (eb != NULL && len > 0) {
        evbuffer_add(eb, body->data, len);
    }
    evhttp_send_reply(req, code, reason, eb);
    if (eb != NULL) {
        evbuffer_free(eb);
    }
}

/* {"error":<msg>[,"path":<path>]} with <code>. */
static void admin_reply_error(struct evhttp_request *req, int code,
                              const char *reason, const char *msg,
                              const char *path)
{
    struct sl_buf b;
    int rc;

    sl_buf_init(&b, ADMIN_MAX_BODY);
    rc = sl_buf_append_str(&b, "{\"error\":");
    rc = rc ? rc : sl_json_write_string(&b, msg, strlen(msg));
    if (path != NULL) {
        rc = rc ? rc : sl_buf_append_str(&b, ",\"path\":");
        rc = rc ? rc : sl_json_write_string(&b, path, strlen(path));
    }
    rc = rc ? rc : sl_buf_append_str(&b, "}\n");
    if (rc != SL_OK) {
        sl_buf_reset(&b);
    }
    admin_reply(req, code, reason, "application/json", &b);
    sl_buf_fini(&b);
}

static void admin_metrics(struct sl_admin *a, struct evhttp_request *req,
                          int json)
{
    struct sl_buf b;
    int rc;

    sl_buf_init(&b, ADMIN_MAX_RESPONSE);
    if (a->hooks.refresh != NULL) {
        a->hooks.refresh(a->hooks.arg);
    }
    if (json) {
        rc = sl_metrics_write_json(a->metrics, &b);
    } else {
        rc = sl_metrics_write_prometheus(a->metrics, &b);
    }
    if (rc != SL_OK) {
        admin_reply_error(req, 500, "Internal Server Error", sl_strerror(rc),
                          NULL);
    } else if (json) {
        admin_reply(req, 200, "OK", "application/json", &b);
    } else {
        admin_reply(req, 200, "OK", "text/plain; version=0.0.4; charset=utf-8",
                    &b);
    }
    sl_buf_fini(&b);
}

static void admin_storage(struct sl_admin *a, struct evhttp_request *req,
                          int arg)
{
    struct sl_buf b;
    int rc;

    (void)arg;
    sl_buf_init(&b, ADMIN_MAX_RESPONSE);
    rc = a->hooks.storage != NULL ? a->hooks.storage(a->hooks.arg, &b)
                                  : sl_buf_append_str(&b, "{}");
    if (rc == SL_OK) {
        rc = sl_buf_putc(&b, '\n');
    }
    if (rc != SL_OK) {
        admin_reply_error(req, 500, "Internal Server Error", sl_strerror(rc),
                          NULL);
    } else {
        admin_reply(req, 200, "OK", "application/json", &b);
    }
    sl_buf_fini(&b);
}

/* Asks the hooks for a snapshot, filling what they left out. */
static void admin_health_get(const struct sl_admin *a, struct sl_health *h)
{
    if (a->hooks.health != NULL) {
        a->hooks.health(a->hooks.arg, h);
    } else {
        h->live = true;
        h->ready = true;
    }
    if (h->start_ns == 0) {
        h->start_ns = a->start_ns;
    }
    if (h->now_ns == 0) {
        h->now_ns = sl_time_now_ns();
    }
    if (h->version[0] == '\0') {
        snprintf(h->version, sizeof(h->version), "%s", SL_VERSION);
    }
    if (h->n > SL_HEALTH_MAX) {
        h->n = SL_HEALTH_MAX;
    }
}

/* Appends ,"<key>":<string value>. */
static int admin_json_field(struct sl_buf *b, const char *key, const char *val,
                            size_t max)
{
    int rc = sl_buf_printf(b, ",\"%s\":", key);

    return rc ? rc : sl_json_write_string(b, val, strnlen(val, max));
}

static int admin_json_item(struct sl_buf *b, const struct sl_health_item *it)
{
    int rc = sl_buf_append_str(b, "{\"name\":");

    rc = rc ? rc
            : sl_json_write_string(b, it->name,
                                   strnlen(it->name, sizeof(it->name)));
    rc = rc ? rc : admin_json_field(b, "kind", it->kind, sizeof(it->kind));
    rc =
        rc ? rc : admin_json_field(b, "plugin", it->plugin, sizeof(it->plugin));
    rc =
        rc ? rc : admin_json_field(b, "status", it->status, sizeof(it->status));
    rc = rc ? rc : sl_buf_printf(b, ",\"ok\":%s", it->ok ? "true" : "false");
    rc =
        rc ? rc : admin_json_field(b, "reason", it->reason, sizeof(it->reason));
    rc = rc ? rc
            : sl_buf_printf(b, ",\"consecutive_failures\":%llu}",
                            (unsigned long long)it->consecutive_failures);
    return rc;
}

/* ,"reasons":[...]: every failing component, then the global state. */
static int admin_json_reasons(struct sl_buf *b, const struct sl_health *h)
{
    char line[sizeof(h->items[0].name) + sizeof(h->items[0].reason) + 8];
    bool first = true;
    int rc = sl_buf_append_str(b, ",\"reasons\":[");
    size_t i;
    int n;

    for (i = 0; rc == SL_OK && i < h->n; i++) {
        if (h->items[i].ok) {
            continue;
        }
        n = snprintf(line, sizeof(line), "%.*s: %.*s",
                     (int)sizeof(h->items[i].name), h->items[i].name,
                     (int)sizeof(h->items[i].reason),
                     h->items[i].reason[0] ? h->items[i].reason : "not ok");
        rc = first ? SL_OK : sl_buf_putc(b, ',');
        rc = rc ? rc : sl_json_write_string(b, line, (size_t)n);
        first = false;
    }
    if (rc == SL_OK && !h->live) {
        rc = sl_buf_printf(b, "%s\"main loop is not turning\"",
                           first ? "" : ",");
        first = false;
    }
    if (rc == SL_OK && first) {
        rc = sl_buf_append_str(b, "\"pipeline not started\"");
    }
    return rc ? rc : sl_buf_putc(b, ']');
}

static int admin_json_health(struct sl_buf *b, const struct sl_health *h,
                             bool ok, bool reasons)
{
    char ts[48];
    int64_t up = (h->now_ns - h->start_ns) / SL_NS_PER_S;
    size_t i;
    int rc;

    if (sl_time_format_rfc3339(h->now_ns, 3, ts, sizeof(ts)) == 0) {
        ts[0] = '\0';
    }
    rc = sl_buf_printf(b,
                       "{\"status\":\"%s\",\"timestamp\":\"%s\","
                       "\"uptime_seconds\":%lld,\"version\":",
                       ok ? "ok" : "error", ts, (long long)(up > 0 ? up : 0));
    rc = rc ? rc
            : sl_json_write_string(b, h->version,
                                   strnlen(h->version, sizeof(h->version)));
    rc = rc ? rc : sl_buf_append_str(b, ",\"components\":[");
    for (i = 0; rc == SL_OK && i < h->n; i++) {
        rc = i > 0 ? sl_buf_putc(b, ',') : SL_OK;
        rc = rc ? rc : admin_json_item(b, &h->items[i]);
    }
    rc = rc ? rc : sl_buf_putc(b, ']');
    if (reasons) {
        rc = rc ? rc : admin_json_reasons(b, h);
    }
    return rc ? rc : sl_buf_append_str(b, "}\n");
}

static void admin_health(struct sl_admin *a, struct evhttp_request *req,
                         int kind)
{
    struct sl_health *h = sl_calloc(1, sizeof(*h));
    struct sl_buf b;
    bool ok;
    int rc;

    if (h == NULL) {
        admin_reply_error(req, 500, "Internal Server Error", "out of memory",
                          NULL);
        return;
    }
    admin_health_get(a, h);
    ok = kind == ADMIN_HEALTH_LIVE ? h->live : h->live && h->ready;
    sl_buf_init(&b, ADMIN_MAX_RESPONSE);
    rc = admin_json_health(&b, h, ok, !ok && kind != ADMIN_HEALTH_LIVE);
    if (rc != SL_OK) {
        admin_reply_error(req, 500, "Internal Server Error", sl_strerror(rc),
                          NULL);
    } else {
        admin_reply(req, ok ? 200 : 503, ok ? "OK" : "Service Unavailable",
                    "application/json", &b);
    }
    sl_buf_fini(&b);
    sl_free(h);
}

/* ---- POST /api/v1/reload ---- */

static void admin_reload(struct sl_admin *a, struct evhttp_request *req,
                         int arg)
{
    struct sl_buf errs, b;
    int rc;

    (void)arg;
    if (a->hooks.reload == NULL) {
        admin_reply_error(req, 501, "Not Implemented",
                          "reload is not available", NULL);
        return;
    }
    sl_buf_init(&errs, ADMIN_MAX_RESPONSE);
    sl_buf_init(&b, ADMIN_MAX_RESPONSE);
    rc = a->hooks.reload(a->hooks.arg, &errs);
    if (rc == SL_OK) {
        sl_buf_append_str(&b, "{\"status\":\"reloaded\"}\n");
        admin_reply(req, 200, "OK", "application/json", &b);
    } else {
        sl_buf_append_str(&b, "{\"status\":\"error\",\"errors\":[");
        sl_buf_append(&b, errs.data, errs.len);
        sl_buf_append_str(&b, "]}\n");
        admin_reply(req, 400, "Bad Request", "application/json", &b);
    }
    sl_buf_fini(&b);
    sl_buf_fini(&errs);
}

/* ---- GET /api/v1/tap ---- */

static void admin_tap_hook(void *arg, struct sl_str tag, int64_t ts_ns,
                           struct sl_str body);

/* Unlinks <t>, gives the engine hook back when it was the last client,
 * and frees it.  Does not touch the request. */
static void admin_tap_free(struct admin_tap *t)
{
    struct sl_admin *a = t->a;
    struct admin_tap **pp;

    for (pp = &a->taps; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == t) {
            *pp = t->next;
            a->ntaps--;
            break;
        }
    }
    if (a->taps == NULL && sl_engine_tap == admin_tap_hook) {
        sl_engine_set_tap(NULL, NULL);
    }
    sl_free(t->match);
    sl_free(t);
}

/* The client went away: evhttp frees the request itself. */
static void admin_tap_closed(struct evhttp_connection *evcon, void *arg)
{
    (void)evcon;
    admin_tap_free(arg);
}

/* Ends the stream of <t> normally (limit reached, or shutdown). */
static void admin_tap_end(struct admin_tap *t)
{
    evhttp_connection_set_closecb(t->evcon, NULL, NULL);
    evhttp_send_reply_end(t->req);
    admin_tap_free(t);
}

static size_t admin_tap_pending(const struct admin_tap *t)
{
    struct bufferevent *bev = evhttp_connection_get_bufferevent(t->evcon);

    return bev != NULL ? evbuffer_get_length(bufferevent_get_output(bev))
                       : 0;
}

/* {"tag":..,"ts":"<rfc3339>","record":<body>}\n into a->tap_line. */
static int admin_tap_format(struct sl_admin *a, struct sl_str tag,
                            int64_t ts_ns, struct sl_str body)
{
    char ts[48];
    int rc;

    if (sl_time_format_rfc3339(ts_ns, 9, ts, sizeof(ts)) == 0) {
        ts[0] = '\0';
    }
    sl_buf_reset(&a->tap_line);
    rc = sl_buf_append_str(&a->tap_line, "{\"tag\":");
    rc = rc ? rc : sl_json_write_string(&a->tap_line, tag.ptr, tag.len);
    rc = rc ? rc : sl_buf_printf(&a->tap_line, ",\"ts\":\"%s\",\"record\":",
                                 ts);
    rc = rc ? rc : sl_buf_append(&a->tap_line, body.ptr, body.len);
    return rc ? rc : sl_buf_append_str(&a->tap_line, "}\n");
}

/* Engine hook: one record after the filters, to every matching client. */
static void admin_tap_hook(void *arg, struct sl_str tag, int64_t ts_ns,
                           struct sl_str body)
{
    struct sl_admin *a = arg;
    struct admin_tap *t, *next;
    struct evbuffer *eb;
    bool formatted = false;

    for (t = a->taps; t != NULL; t = next) {
        next = t->next;
        if (!sl_router_wildcard(t->match, tag)) {
            continue;
        }
        if (admin_tap_pending(t) > ADMIN_TAP_MAX_PENDING) {
            sl_metric_add(a->m_tap_dropped, 1);
            continue;
        }
        if (!formatted && admin_tap_format(a, tag, ts_ns, body) != SL_OK) {
            sl_metric_add(a->m_tap_dropped, 1);
            return;
        }
        formatted = true;
        eb = evbuffer_new();
        if (eb == NULL || evbuffer_add(eb, a->tap_line.data,
                                       a->tap_line.len) != 0) {
            sl_metric_add(a->m_tap_dropped, 1);
        } else {
            evhttp_send_reply_chunk(t->req, eb);
            sl_metric_add(a->m_tap_sent, 1);
            t->sent++;
        }
        if (eb != NULL) {
            evbuffer_free(eb);
        }
        if (t->limit > 0 && t->sent >= t->limit) {
            admin_tap_end(t);
        }
    }
}

/* Reads ?match= and ?limit= into <t>.  Returns false on a bad value. */
static bool admin_tap_params(struct admin_tap *t, struct evhttp_request *req)
{
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *q = uri != NULL ? evhttp_uri_get_query(uri) : NULL;
    struct evkeyvalq params;
    const char *v;
    char *end;
    bool ok = true;

    memset(&params, 0, sizeof(params));
    params.tqh_last = &params.tqh_first;
    if (q != NULL && evhttp_parse_query_str(q, &params) != 0) {
        return false;
    }
    v = evhttp_find_header(&params, "match");
    t->match = sl_strdup(v != NULL && v[0] != '\0' ? v : "*");
    v = evhttp_find_header(&params, "limit");
    if (v != NULL) {
        errno = 0;
        t->limit = strtoull(v, &end, 10);
        ok = errno == 0 && end != v && *end == '\0' && v[0] != '-';
    }
    evhttp_clear_headers(&params);
    return ok && t->match != NULL;
}

static void admin_tap(struct sl_admin *a, struct evhttp_request *req, int arg)
{
    struct admin_tap *t;

    (void)arg;
    if (a->ntaps >= ADMIN_TAP_MAX_CLIENTS) {
        admin_reply_error(req, 503, "Service Unavailable",
                          "too many tap clients", NULL);
        return;
    }
    t = sl_calloc(1, sizeof(*t));
    if (t == NULL) {
        admin_reply_error(req, 500, "Internal Server Error", "out of memory",
                          NULL);
        return;
    }
    t->a = a;
    t->req = req;
    t->evcon = evhttp_request_get_connection(req);
    if (!admin_tap_params(t, req) || t->evcon == NULL) {
        sl_free(t->match);
        sl_free(t);
        admin_reply_error(req, 400, "Bad Request",
                          "expected ?match=<wildcard>&limit=<count>", NULL);
        return;
    }
    t->next = a->taps;
    a->taps = t;
    a->ntaps++;
    evhttp_connection_set_timeout(t->evcon, ADMIN_TAP_TIMEOUT_S);
    evhttp_connection_set_closecb(t->evcon, admin_tap_closed, t);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                      "application/x-ndjson");
    evhttp_add_header(evhttp_request_get_output_headers(req),
                      "Cache-Control", "no-store");
    evhttp_send_reply_start(req, 200, "OK");
    sl_engine_set_tap(admin_tap_hook, a);
}

/* ---- authentication ---- */

/* True when the request carries the token (compared in constant time). */
static bool admin_authorized(const struct sl_admin *a,
                             struct evhttp_request *req)
{
    const char *h;
    size_t n, i;
    unsigned char diff = 0;

    if (a->token == NULL) {
        return true;
    }
    h = evhttp_find_header(evhttp_request_get_input_headers(req),
                           "Authorization");
    if (h == NULL || strncasecmp(h, "Bearer ", 7) != 0) {
        return false;
    }
    h += 7;
    while (*h == ' ') {
        h++;
    }
    n = strlen(a->token);
    if (strlen(h) != n) {
        return false;
    }
    for (i = 0; i < n; i++) {
        diff |= (unsigned char)(h[i] ^ a->token[i]);
    }
    return diff == 0;
}

static const struct admin_route admin_routes[] = {
    { .path = "/metrics", .fn = admin_metrics, .arg = 0 },
    { .path = "/api/v1/metrics", .fn = admin_metrics, .arg = 1 },
    { .path = "/health", .fn = admin_health, .arg = ADMIN_HEALTH_ALL },
    { .path = "/health/live", .fn = admin_health, .arg = ADMIN_HEALTH_LIVE },
    { .path = "/health/ready", .fn = admin_health, .arg = ADMIN_HEALTH_READY },
    { .path = "/api/v1/storage", .fn = admin_storage, .arg = 0 },
    { .path = "/api/v1/tap", .fn = admin_tap, .arg = 0 },
    { .path = "/api/v1/reload", .fn = admin_reload, .arg = 0, .post = true },
};

/* Every request: route by path, then check the method. */
static void admin_handle(struct evhttp_request *req, void *arg)
{
    struct sl_admin *a = arg;
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *path = uri != NULL ? evhttp_uri_get_path(uri) : NULL;
    enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
    size_t i;

    if (path == NULL || path[0] == '\0') {
        path = "/";
    }
    for (i = 0; i < sizeof(admin_routes) / sizeof(admin_routes[0]); i++) {
        if (strcmp(path, admin_routes[i].path) != 0) {
            continue;
        }
        if (admin_routes[i].fn != admin_health ||
            admin_routes[i].arg != ADMIN_HEALTH_LIVE) {
            if (!admin_authorized(a, req)) {
                evhttp_add_header(evhttp_request_get_output_headers(req),
                                  "WWW-Authenticate", "Bearer");
                admin_reply_error(req, 401, "Unauthorized",
                                  "missing or wrong bearer token", path);
                return;
            }
        }
        if (admin_routes[i].post ? cmd != EVHTTP_REQ_POST
                                 : cmd != EVHTTP_REQ_GET &&
                                       cmd != EVHTTP_REQ_HEAD) {
            evhttp_add_header(evhttp_request_get_output_headers(req), "Allow",
                              admin_routes[i].post ? "POST" : ADMIN_ALLOW);
            admin_reply_error(req, 405, "Method Not Allowed",
                              "method not allowed", path);
            return;
        }
        admin_routes[i].fn(a, req, admin_routes[i].arg);
        return;
    }
    admin_reply_error(req, 404, "Not Found", "not found", path);
}

/* "host:port", or "[v6]:port". */
static void admin_addr_text(char *out, size_t outlen, const char *host,
                            int port)
{
    bool v6 = strchr(host, ':') != NULL;

    snprintf(out, outlen, "%s%s%s:%d", v6 ? "[" : "", host, v6 ? "]" : "",
             port);
}

/* Creates a listening socket on the first address of <listen>:<port> that
 * binds; returns the fd or a negative error. */
static int admin_listen(const char *host, int port)
{
    struct addrinfo hints = { .ai_family = AF_UNSPEC,
                              .ai_socktype = SOCK_STREAM,
                              .ai_flags = AI_PASSIVE | AI_NUMERICSERV };
    struct addrinfo *res = NULL;
    struct addrinfo *ai;
    char serv[16];
    int rc = SL_EINVAL;
    int one = 1;
    int fd;

    snprintf(serv, sizeof(serv), "%d", port);
    if (getaddrinfo(host, serv, &hints, &res) != 0) {
        return SL_ENOTFOUND;
    }
    for (ai = res; ai != NULL; ai = ai->ai_next) {
        fd = socket(ai->ai_family,
                    ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                    ai->ai_protocol);
        if (fd == -1) {
            rc = sl_rc_from_errno(errno);
            continue;
        }
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, 64) == 0) {
            freeaddrinfo(res);
            return fd;
        }
        rc = sl_rc_from_errno(errno);
        close(fd);
    }
    freeaddrinfo(res);
    return rc;
}

static int admin_bound_port(int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);

    if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0) {
        return -1;
    }
    if (ss.ss_family == AF_INET6) {
        return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    }
    return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

static void admin_limits(struct evhttp *http)
{
    evhttp_set_max_body_size(http, ADMIN_MAX_BODY);
    evhttp_set_max_headers_size(http, ADMIN_MAX_HEADERS);
    evhttp_set_timeout(http, ADMIN_TIMEOUT_S);
    /* Accept every method so that the handler answers 405 with Allow. */
    evhttp_set_allowed_methods(
        http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
                  EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE | EVHTTP_REQ_OPTIONS |
                  EVHTTP_REQ_TRACE | EVHTTP_REQ_CONNECT | EVHTTP_REQ_PATCH);
}

/* Starts the server on <base>; see admin.h.  <host> (the listen address)
 * NULL or "" means 127.0.0.1.  <m>, <base> and the hooks' arg must outlive
 * the server. */
int sl_admin_create(struct event_base *base, struct sl_metrics *m,
                    const struct sl_admin_hooks *hooks, const char *host,
                    int port, struct sl_admin **out, struct sl_err *err)
{
    struct sl_admin *a;
    char addr[300];
    int rc;
    int fd;

    if (host == NULL || host[0] == '\0') {
        host = "127.0.0.1";
    }
    admin_addr_text(addr, sizeof(addr), host, port);
    if (base == NULL || out == NULL || port < 0 || port > 65535) {
        return sl_err_set(err, SL_EINVAL,
                          "cannot listen on %s: invalid "
                          "argument",
                          addr);
    }
    a = sl_calloc(1, sizeof(*a));
    if (a == NULL) {
        return sl_err_set(err, SL_ENOMEM, "admin server: out of memory");
    }
    a->metrics = m;
    a->start_ns = sl_time_now_ns();
    sl_buf_init(&a->tap_line, ADMIN_TAP_LINE_MAX);
    if (hooks != NULL) {
        a->hooks = *hooks;
        a->hooks.auth_token = NULL;
    }
    if (hooks != NULL &&
        sl_admin_set_token(a, hooks->auth_token) != SL_OK) {
        rc = sl_err_set(err, SL_ENOMEM, "admin server: out of memory");
        goto fail;
    }
    if (m != NULL) {
        a->m_tap_dropped = sl_metrics_get(
            m, "sluice_admin_tap_dropped_total",
            "Records not sent to a tap client because it was too slow.",
            SL_METRIC_COUNTER, NULL);
        a->m_tap_sent = sl_metrics_get(
            m, "sluice_admin_tap_records_total",
            "Records sent to tap clients.", SL_METRIC_COUNTER, NULL);
    }
    a->http = evhttp_new(base);
    if (a->http == NULL) {
        rc = sl_err_set(err, SL_ENOMEM, "admin server: out of memory");
        goto fail;
    }
    admin_limits(a->http);
    evhttp_set_gencb(a->http, admin_handle, a);
    fd = admin_listen(host, port);
    if (fd < 0) {
        rc = sl_err_set(err, fd, "cannot listen on %s: %s", addr,
                        fd == SL_ENOTFOUND ? "unknown address"
                                           : sl_strerror(fd));
        goto fail;
    }
    if (evhttp_accept_socket_with_handle(a->http, fd) == NULL) {
        close(fd);
        rc =
            sl_err_set(err, SL_EIO, "cannot listen on %s: evhttp failed", addr);
        goto fail;
    }
    a->port = admin_bound_port(fd);
    *out = a;
    return SL_OK;
fail:
    sl_admin_destroy(a);
    return rc;
}

/* The port actually bound (useful with port 0). */
int sl_admin_port(const struct sl_admin *a)
{
    return a != NULL ? a->port : -1;
}

/* Replaces the auth token; see admin.h. */
int sl_admin_set_token(struct sl_admin *a, const char *token)
{
    char *copy = NULL;

    if (a == NULL) {
        return SL_EINVAL;
    }
    if (token != NULL && token[0] != '\0') {
        copy = sl_strdup(token);
        if (copy == NULL) {
            return SL_ENOMEM;
        }
    }
    if (a->token != NULL) {
        memset(a->token, 0, strlen(a->token));
    }
    sl_free(a->token);
    a->token = copy;
    return SL_OK;
}

/* Closes the listener and every connection, and frees <a>. */
void sl_admin_destroy(struct sl_admin *a)
{
    if (a == NULL) {
        return;
    }
    while (a->taps != NULL) {
        admin_tap_end(a->taps);
    }
    if (a->http != NULL) {
        evhttp_free(a->http);
    }
    sl_admin_set_token(a, NULL);
    sl_buf_fini(&a->tap_line);
    sl_free(a);
}

/* ---- `sluice tap`: the client ---- */

static size_t admin_tap_write(char *p, size_t size, size_t n, void *arg)
{
    size_t len = size * n;

    (void)arg;
    if (fwrite(p, 1, len, stdout) != len) {
        return 0;
    }
    fflush(stdout);
    return len;
}

static void admin_tap_usage(void)
{
    fprintf(stderr,
            "Usage: sluice tap [--url http://127.0.0.1:2020] [--match TAG] "
            "[--limit N] [--token T]\n"
            "Prints the records flowing through a running sluice (after "
            "its filters) as\nJSON lines.  The token may also come from "
            "$SLUICE_HTTP_TOKEN.\n");
}

/* Builds <base>/api/v1/tap?match=..&limit=.. into <url>. */
static int admin_tap_url(CURL *curl, char *url, size_t len, const char *base,
                         const char *match, const char *limit)
{
    char *m = curl_easy_escape(curl, match, 0);
    size_t blen = strlen(base);
    int n;

    if (m == NULL) {
        return -1;
    }
    while (blen > 0 && base[blen - 1] == '/') {
        blen--;
    }
    n = snprintf(url, len, "%.*s/api/v1/tap?match=%s&limit=%s", (int)blen,
                 base, m, limit);
    curl_free(m);
    return n > 0 && (size_t)n < len ? 0 : -1;
}

/* See admin.h. */
int sl_admin_tap_main(int argc, char **argv)
{
    const char *base = "http://127.0.0.1:2020", *match = "*", *limit = "0";
    const char *token = getenv("SLUICE_HTTP_TOKEN");
    struct curl_slist *hdrs = NULL;
    char url[2048], auth[1024];
    long status = 0;
    CURL *curl;
    CURLcode cc;
    int i;

    for (i = 1; i < argc; i++) {
        const char **dst = strcmp(argv[i], "--url") == 0     ? &base
                           : strcmp(argv[i], "--match") == 0 ? &match
                           : strcmp(argv[i], "--limit") == 0 ? &limit
                           : strcmp(argv[i], "--token") == 0 ? &token
                                                             : NULL;

        if (dst == NULL || i + 1 >= argc) {
            admin_tap_usage();
            return 2;
        }
        *dst = argv[++i];
    }
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK ||
        (curl = curl_easy_init()) == NULL) {
        fprintf(stderr, "sluice tap: cannot initialise libcurl\n");
        return 1;
    }
    if (admin_tap_url(curl, url, sizeof(url), base, match, limit) != 0) {
        curl_easy_cleanup(curl);
        fprintf(stderr, "sluice tap: URL too long\n");
        return 2;
    }
    if (token != NULL && token[0] != '\0') {
        snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
        hdrs = curl_slist_append(hdrs, auth);
        curl_easy_setopt(curl, CURLOPT_HTTPHEADER, hdrs);
    }
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, admin_tap_write);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, 5L);
    curl_easy_setopt(curl, CURLOPT_FAILONERROR, 1L);
    cc = curl_easy_perform(curl);
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    if (cc != CURLE_OK) {
        fprintf(stderr, "sluice tap: %s: %s%s\n", base,
                curl_easy_strerror(cc),
                status == 401 ? " (wrong or missing --token)" : "");
    }
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(curl);
    curl_global_cleanup();
    return cc == CURLE_OK ? 0 : 1;
}
