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
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/util.h>

#include "admin.h"
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

struct sl_admin {
    struct evhttp *http;
    struct sl_metrics *metrics;
    struct sl_admin_hooks hooks;
    int64_t start_ns;
    int port;
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

static const struct admin_route admin_routes[] = {
    { .path = "/metrics", .fn = admin_metrics, .arg = 0 },
    { .path = "/api/v1/metrics", .fn = admin_metrics, .arg = 1 },
    { .path = "/health", .fn = admin_health, .arg = ADMIN_HEALTH_ALL },
    { .path = "/health/live", .fn = admin_health, .arg = ADMIN_HEALTH_LIVE },
    { .path = "/health/ready", .fn = admin_health, .arg = ADMIN_HEALTH_READY },
    { .path = "/api/v1/storage", .fn = admin_storage, .arg = 0 },
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
        if (cmd != EVHTTP_REQ_GET && cmd != EVHTTP_REQ_HEAD) {
            evhttp_add_header(evhttp_request_get_output_headers(req), "Allow",
                              ADMIN_ALLOW);
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
    if (hooks != NULL) {
        a->hooks = *hooks;
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

/* Closes the listener and every connection, and frees <a>. */
void sl_admin_destroy(struct sl_admin *a)
{
    if (a == NULL) {
        return;
    }
    if (a->http != NULL) {
        evhttp_free(a->http);
    }
    sl_free(a);
}
