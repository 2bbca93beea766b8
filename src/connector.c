/*
 * connector.c - client TCP/TLS connections of the stream outputs (tcp,
 * syslog); see sluice/connector.h.
 *
 * struct sl_connector is made on the main thread by an output's init and
 * is read-only afterwards: the settings, a numeric address parsed once,
 * and the OpenSSL client context (SSL_CTX is safe to share between
 * threads once set up).  struct sl_connector_conn belongs to one output
 * worker and runs on that worker's event loop only: one bufferevent
 * (plain, or OpenSSL with an SSL made per connection for SNI and name
 * checks), an evdns base made on first use for a host name, and the batch
 * in flight.  Callbacks are deferred (BEV_OPT_DEFER_CALLBACKS), so none
 * runs inside a call into this module; a completion that comes between
 * sl_connector_conn_begin and sl_connector_conn_end is kept and returned
 * by the latter.
 *
 * Never copies what it is given to send: sl_connector_conn_write hands
 * the buffer to libevent by reference.  No global state.
 */
#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "sluice/connector.h"
#include "sluice/banned.h"

#define CONNECTOR_MSG_MAX 512

struct sl_connector {
    const struct sl_connector_conf *conf;
    struct sl_instance *ins;      /* for log lines; may be NULL */
    const char *who;              /* prefix of error messages */
    SSL_CTX *ssl_ctx;             /* NULL without tls */
    struct sockaddr_storage addr; /* when the host is a numeric address */
    socklen_t addrlen;            /* 0: resolve the host name */
    const char *tls_name;         /* SNI and verified name */
    bool tls_name_is_ip;
};

struct sl_connector_conn {
    const struct sl_connector *c;
    struct event_base *base;
    const struct sl_connector_ops *ops;
    void *arg;
    struct evdns_base *dns; /* created on first use for a host name */
    struct bufferevent *bev;
    bool connected;
    struct sl_batch *pending;  /* the batch in flight, if any */
    struct sl_batch *flushing; /* claimed by the flush call running now */
    bool early_done;           /* completed while flushing */
    enum sl_flush_result early_result;
};

/* ---- connector ---- */

/* Fills the numeric address when the host is one. */
static void connector_addr_init(struct sl_connector *c)
{
    struct sockaddr_in *a4 = (struct sockaddr_in *)&c->addr;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&c->addr;
    const char *h = c->conf->host;

    if (inet_pton(AF_INET, h, &a4->sin_addr) == 1) {
        a4->sin_family = AF_INET;
        a4->sin_port = htons((uint16_t)c->conf->port);
        c->addrlen = sizeof(*a4);
    } else if (inet_pton(AF_INET6, h, &a6->sin6_addr) == 1) {
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)c->conf->port);
        c->addrlen = sizeof(*a6);
    }
}

static bool connector_is_ip(const char *s)
{
    unsigned char a[sizeof(struct in6_addr)];

    return inet_pton(AF_INET, s, a) == 1 || inet_pton(AF_INET6, s, a) == 1;
}

static int connector_ssl_fail(const struct sl_connector *c, struct sl_err *err,
                              const char *what, const char *file)
{
    char e[256];

    ERR_error_string_n(ERR_get_error(), e, sizeof(e));
    ERR_clear_error();
    return sl_err_set(err, SL_ECONFIG, "%s: %s '%s': %s", c->who, what,
                      file != NULL ? file : "", e);
}

/* Loads the trust store and the client certificate and key into <ctx>. */
static int connector_ssl_load(const struct sl_connector *c, SSL_CTX *ctx,
                              struct sl_err *err)
{
    const struct sl_connector_conf *f = c->conf;

    if (f->tls_ca_file != NULL &&
        SSL_CTX_load_verify_locations(ctx, f->tls_ca_file, NULL) != 1) {
        return connector_ssl_fail(c, err, "cannot load tls.ca_file",
                                  f->tls_ca_file);
    }
    if (f->tls_ca_file == NULL && SSL_CTX_set_default_verify_paths(ctx) != 1) {
        return connector_ssl_fail(c, err, "cannot load the default trust store",
                                  NULL);
    }
    if ((f->tls_crt_file == NULL) != (f->tls_key_file == NULL)) {
        return sl_err_set(err, SL_ECONFIG,
                          "%s: tls.crt_file and tls.key_file go together",
                          c->who);
    }
    if (f->tls_crt_file != NULL &&
        SSL_CTX_use_certificate_chain_file(ctx, f->tls_crt_file) != 1) {
        return connector_ssl_fail(c, err, "cannot load tls.crt_file",
                                  f->tls_crt_file);
    }
    if (f->tls_key_file != NULL &&
        (SSL_CTX_use_PrivateKey_file(ctx, f->tls_key_file, SSL_FILETYPE_PEM) !=
             1 ||
         SSL_CTX_check_private_key(ctx) != 1)) {
        return connector_ssl_fail(c, err, "cannot use tls.key_file",
                                  f->tls_key_file);
    }
    return SL_OK;
}

static int connector_ssl_init(struct sl_connector *c, struct sl_err *err)
{
    const struct sl_connector_conf *f = c->conf;
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    int rc;

    if (ctx == NULL) {
        return connector_ssl_fail(c, err, "cannot create the TLS context",
                                  NULL);
    }
    c->ssl_ctx = ctx;
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_verify(ctx, f->tls_verify ? SSL_VERIFY_PEER : SSL_VERIFY_NONE,
                       NULL);
    rc = connector_ssl_load(c, ctx, err);
    if (rc != SL_OK) {
        return rc;
    }
    c->tls_name = f->tls_vhost != NULL ? f->tls_vhost : f->host;
    c->tls_name_is_ip = connector_is_ip(c->tls_name);
    return SL_OK;
}

struct sl_connector *sl_connector_create(struct sl_instance *ins,
                                         const struct sl_connector_conf *conf,
                                         bool tls, const char *who,
                                         struct sl_err *err)
{
    struct sl_connector *c = sl_calloc(1, sizeof(*c));

    if (c == NULL) {
        sl_err_set(err, SL_ENOMEM, "%s: out of memory", who);
        return NULL;
    }
    c->conf = conf;
    c->ins = ins;
    c->who = who;
    if (conf->host == NULL || conf->host[0] == '\0') {
        sl_err_set(err, SL_ECONFIG, "%s: 'host' is empty", who);
        goto fail;
    }
    connector_addr_init(c);
    if (tls && connector_ssl_init(c, err) != SL_OK) {
        goto fail;
    }
    return c;
fail:
    sl_connector_destroy(c);
    return NULL;
}

void sl_connector_destroy(struct sl_connector *c)
{
    if (c == NULL) {
        return;
    }
    SSL_CTX_free(c->ssl_ctx);
    sl_free(c);
}

/* ---- connection ---- */

static struct timeval connector_tv(int64_t ms)
{
    struct timeval tv = { .tv_sec = (time_t)(ms / 1000),
                          .tv_usec = (suseconds_t)((ms % 1000) * 1000) };

    return tv;
}

/* Describes why the connection failed into <msg>. */
static void connector_describe(const struct sl_connector_conn *cn, short what,
                               char *msg, size_t len)
{
    const struct sl_connector_conf *f = cn->c->conf;
    int err = EVUTIL_SOCKET_ERROR();
    int dns = bufferevent_socket_get_dns_error(cn->bev);
    unsigned long ssl =
        cn->c->ssl_ctx != NULL ? bufferevent_get_openssl_error(cn->bev) : 0;
    const char *stage = cn->connected ? "connection" : "connect";
    char e[256];

    if (what & BEV_EVENT_TIMEOUT) {
        snprintf(msg, len, "%s to %s:%" PRId64 " timed out", stage, f->host,
                 f->port);
    } else if (what & BEV_EVENT_EOF) {
        snprintf(msg, len, "%s:%" PRId64 " closed the connection", f->host,
                 f->port);
    } else if (dns != 0) {
        snprintf(msg, len, "cannot resolve %s: %s", f->host,
                 evutil_gai_strerror(dns));
    } else if (ssl != 0) {
        ERR_error_string_n(ssl, e, sizeof(e));
        snprintf(msg, len, "TLS %s to %s:%" PRId64 ": %s", stage, f->host,
                 f->port, e);
    } else {
        snprintf(msg, len, "%s to %s:%" PRId64 ": %s", stage, f->host, f->port,
                 evutil_socket_error_to_string(err));
    }
}

/* The batch in flight gets <msg> (else it is logged), the connection is
 * closed and the batch completes with RETRY. */
static void connector_fail_msg(struct sl_connector_conn *cn, const char *msg)
{
    if (cn->pending != NULL) {
        sl_batch_set_error(cn->pending, "%s", msg);
    } else {
        sl_log_info(cn->c->ins, "%s", msg);
    }
    sl_connector_conn_close(cn);
    if (cn->ops->closed != NULL) {
        cn->ops->closed(cn, msg, cn->arg);
    }
    sl_connector_conn_complete(cn, SL_FLUSH_RETRY);
}

static void connector_event_cb(struct bufferevent *bev, short what, void *arg)
{
    struct sl_connector_conn *cn = arg;
    const struct sl_connector_conf *f = cn->c->conf;
    struct timeval wt = connector_tv(f->write_timeout);
    char msg[CONNECTOR_MSG_MAX];

    (void)bev;
    if (what & BEV_EVENT_CONNECTED) {
        cn->connected = true;
        bufferevent_set_timeouts(cn->bev, NULL, &wt);
        sl_log_info(cn->c->ins, "connected to %s:%" PRId64, f->host, f->port);
        return;
    }
    if (!(what & (BEV_EVENT_EOF | BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT))) {
        return;
    }
    connector_describe(cn, what, msg, sizeof(msg));
    connector_fail_msg(cn, msg);
}

static void connector_write_cb(struct bufferevent *bev, void *arg)
{
    struct sl_connector_conn *cn = arg;

    if (evbuffer_get_length(bufferevent_get_output(bev)) != 0) {
        return;
    }
    cn->ops->drained(cn, cn->arg);
}

/* Whatever the peer sends is read and ignored; reading is what notices a
 * peer that closed an idle connection. */
static void connector_read_cb(struct bufferevent *bev, void *arg)
{
    struct evbuffer *in = bufferevent_get_input(bev);

    (void)arg;
    evbuffer_drain(in, evbuffer_get_length(in));
}

static struct bufferevent *connector_bev_new(struct sl_connector_conn *cn)
{
    const struct sl_connector *c = cn->c;
    int opts = BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS;
    struct bufferevent *bev;
    SSL *ssl;

    if (c->ssl_ctx == NULL) {
        return bufferevent_socket_new(cn->base, -1, opts);
    }
    ssl = SSL_new(c->ssl_ctx);
    if (ssl == NULL) {
        return NULL;
    }
    if (!c->tls_name_is_ip) {
        SSL_set_tlsext_host_name(ssl, c->tls_name);
    }
    if (c->conf->tls_verify &&
        (c->tls_name_is_ip ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl),
                                                           c->tls_name) != 1
                           : SSL_set1_host(ssl, c->tls_name) != 1)) {
        SSL_free(ssl);
        return NULL;
    }
    bev = bufferevent_openssl_socket_new(cn->base, -1, ssl,
                                         BUFFEREVENT_SSL_CONNECTING, opts);
    if (bev == NULL) {
        SSL_free(ssl);
        return NULL;
    }
    bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
    return bev;
}

struct sl_connector_conn *
sl_connector_conn_create(const struct sl_connector *c, struct event_base *base,
                         const struct sl_connector_ops *ops, void *arg)
{
    struct sl_connector_conn *cn = sl_calloc(1, sizeof(*cn));

    if (cn == NULL) {
        return NULL;
    }
    cn->c = c;
    cn->base = base;
    cn->ops = ops;
    cn->arg = arg;
    return cn;
}

void sl_connector_conn_destroy(struct sl_connector_conn *cn)
{
    if (cn == NULL) {
        return;
    }
    cn->pending = NULL;
    sl_connector_conn_close(cn);
    if (cn->dns != NULL) {
        evdns_base_free(cn->dns, 0);
    }
    sl_free(cn);
}

/* Connects the new bufferevent to the numeric address, or resolves the
 * host name on the worker's loop first.  0 or -1, as libevent. */
static int connector_connect(struct sl_connector_conn *cn)
{
    const struct sl_connector *c = cn->c;

    if (c->addrlen > 0) {
        return bufferevent_socket_connect(
            cn->bev, (const struct sockaddr *)&c->addr, (int)c->addrlen);
    }
    if (cn->dns == NULL) {
        cn->dns = evdns_base_new(cn->base, EVDNS_BASE_INITIALIZE_NAMESERVERS);
    }
    if (cn->dns == NULL) {
        return -1;
    }
    return bufferevent_socket_connect_hostname(
        cn->bev, cn->dns, AF_UNSPEC, c->conf->host, (int)c->conf->port);
}

int sl_connector_conn_open(struct sl_connector_conn *cn)
{
    struct timeval ct = connector_tv(cn->c->conf->connect_timeout);

    if (cn->bev != NULL) {
        return SL_OK;
    }
    cn->bev = connector_bev_new(cn);
    if (cn->bev == NULL) {
        return SL_ENOMEM;
    }
    bufferevent_setcb(cn->bev, connector_read_cb, connector_write_cb,
                      connector_event_cb, cn);
    bufferevent_setwatermark(cn->bev, EV_WRITE, 0, 0);
    /* libevent writes at most 16 KiB per callback by default: one writev
     * per slice instead of sixteen. */
    bufferevent_set_max_single_write(cn->bev, SL_CONNECTOR_SLICE);
    bufferevent_set_timeouts(cn->bev, NULL, &ct);
    bufferevent_enable(cn->bev, EV_READ | EV_WRITE);
    if (connector_connect(cn) != 0) {
        sl_connector_conn_close(cn);
        return SL_EPEER;
    }
    return SL_OK;
}

void sl_connector_conn_close(struct sl_connector_conn *cn)
{
    if (cn->bev != NULL) {
        bufferevent_free(cn->bev);
        cn->bev = NULL;
    }
    cn->connected = false;
}

static void connector_buf_free(const void *data, size_t len, void *arg)
{
    (void)len;
    (void)arg;
    sl_free((void *)data);
}

int sl_connector_conn_write(struct sl_connector_conn *cn, struct sl_buf *data)
{
    size_t len = data->len;
    char *bytes;

    if (len == 0) {
        return SL_OK;
    }
    if (cn->bev == NULL) {
        return SL_ECLOSED;
    }
    bytes = sl_buf_take(data);
    if (bytes == NULL) {
        return SL_ENOMEM;
    }
    /* The evbuffer frees the bytes once the kernel took them (or the
     * connection is dropped).  DESIGN 10: one copy of each record into
     * the caller's buffer, none more. */
    if (evbuffer_add_reference(bufferevent_get_output(cn->bev), bytes, len,
                               connector_buf_free, NULL) != 0) {
        sl_free(bytes);
        return SL_ENOMEM;
    }
    return SL_OK;
}

int sl_connector_conn_fd(const struct sl_connector_conn *cn)
{
    return cn->bev != NULL ? (int)bufferevent_getfd(cn->bev) : -1;
}

/* ---- the batch in flight ---- */

int sl_connector_conn_begin(struct sl_connector_conn *cn, struct sl_batch *b)
{
    const struct sl_connector_conf *f = cn->c->conf;

    /* One batch in flight per connection: a second one would be
     * completed by the first one's callbacks. */
    if (cn->pending != NULL) {
        sl_batch_set_error(b, "a batch is already in flight");
        return SL_EAGAIN;
    }
    if (sl_connector_conn_open(cn) != SL_OK) {
        sl_batch_set_error(b, "cannot start connecting to %s:%" PRId64, f->host,
                           f->port);
        return SL_EPEER;
    }
    cn->pending = b;
    cn->flushing = b;
    cn->early_done = false;
    return SL_OK;
}

enum sl_flush_result sl_connector_conn_end(struct sl_connector_conn *cn)
{
    if (cn->flushing != NULL && sl_batch_count(cn->flushing) == 0) {
        sl_connector_conn_complete(cn, SL_FLUSH_OK);
    }
    cn->flushing = NULL;
    return cn->early_done ? cn->early_result : SL_FLUSH_PENDING;
}

enum sl_flush_result sl_connector_conn_abort(struct sl_connector_conn *cn,
                                             const char *fmt, ...)
{
    char msg[CONNECTOR_MSG_MAX];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (cn->flushing != NULL) {
        sl_batch_set_error(cn->flushing, "%s", msg);
    }
    cn->pending = NULL;
    cn->flushing = NULL;
    return SL_FLUSH_RETRY;
}

struct sl_batch *sl_connector_conn_batch(const struct sl_connector_conn *cn)
{
    return cn->pending;
}

void sl_connector_conn_complete(struct sl_connector_conn *cn,
                                enum sl_flush_result r)
{
    struct sl_batch *b = cn->pending;

    if (b == NULL) {
        return;
    }
    cn->pending = NULL;
    if (cn->flushing != NULL) {
        cn->early_done = true;
        cn->early_result = r;
        return;
    }
    sl_batch_done(b, r);
}

void sl_connector_conn_fail(struct sl_connector_conn *cn, const char *fmt, ...)
{
    char msg[CONNECTOR_MSG_MAX];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    connector_fail_msg(cn, msg);
}
