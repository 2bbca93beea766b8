/*
 * out_tcp.c - send records as JSON lines over a TCP connection, with
 * optional TLS.
 *
 * Each worker thread owns one bufferevent (plain, or OpenSSL with the
 * SSL_CTX made at init), connected lazily by the first flush and again by
 * the first flush after a failure.  A flush appends the batch's lines to the
 * output buffer and returns PENDING; the write callback completes it with
 * OK once the output buffer has drained into the kernel, and an error, EOF
 * or timeout completes it with RETRY and frees the connection.  Backoff
 * between attempts is the engine's retry backoff: a refused connection
 * fails at once rather than after connect_timeout.  A peer that closes an
 * idle connection is noticed by the read side and reconnected on the next
 * flush.
 *
 * A write accepted by the kernel is not proof of delivery: lines in flight
 * when the peer dies are lost unless the batch is retried, and a retried
 * batch may be delivered twice (at-least-once at best).
 *
 * Everything but init/exit runs on the worker's own event loop
 * (sl_worker_base); the instance context is read-only after init.
 */
#include <arpa/inet.h>
#include <errno.h>
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
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "sluice/envelope.h"
#include "sluice/plugin.h"
#include "sluice/banned.h"


struct out_tcp_conf {
    char *host;
    int64_t port;
    int format;
    bool tls;
    bool tls_verify;
    char *tls_ca_file;
    char *tls_crt_file;
    char *tls_key_file;
    char *tls_vhost;
    int64_t connect_timeout; /* ms */
    int64_t write_timeout;   /* ms */
    struct sl_envelope_conf env;
};

struct out_tcp {
    const struct out_tcp_conf *conf;
    struct sl_envelope env;
    SSL_CTX *ssl_ctx;             /* NULL without tls */
    struct sockaddr_storage addr; /* when the host is a numeric address */
    socklen_t addrlen;            /* 0: resolve the host name */
    const char *tls_name;         /* SNI and verified name */
    bool tls_name_is_ip;
};

struct out_tcp_worker {
    const struct out_tcp *t;
    struct sl_instance *ins;
    struct event_base *base;
    struct evdns_base *dns; /* created on first use for a host name */
    struct bufferevent *bev;
    bool connected;
    struct sl_batch *pending; /* the batch in flight, if any */
    bool in_flush;            /* a completion now is returned by flush */
    bool early_done;
    enum sl_flush_result early_result;
    struct sl_buf out;
    struct sl_buf tagm;
    struct sl_batch_iter it; /* next record of the pending batch to format */
    bool more;               /* records left to format */
};

/* The batch is formatted and handed to libevent in slices of about this
 * size, the next one when the previous one reached the kernel: the memory
 * an output holds beyond its chunk stays bounded whatever chunk_size is. */
#define TCP_SLICE (256u * 1024u)

static const char *const tcp_formats[] = { "json_lines", NULL };

static const struct sl_option out_tcp_options[] = {
    { .name = "host",
      .type = SL_OPT_STR,
      .def = "127.0.0.1",
      SL_OPT_FIELD(struct out_tcp_conf, host),
      .desc = "Host name or address of the peer." },
    { .name = "port",
      .type = SL_OPT_INT,
      .flags = SL_OPT_REQUIRED,
      .min = 1,
      .max = 65535,
      SL_OPT_FIELD(struct out_tcp_conf, port),
      .desc = "TCP port of the peer." },
    { .name = "format",
      .type = SL_OPT_ENUM,
      .def = "json_lines",
      .choices = tcp_formats,
      SL_OPT_FIELD(struct out_tcp_conf, format),
      .desc = "Output layout: one compact JSON object per line." },
    { .name = "tls",
      .type = SL_OPT_BOOL,
      .def = "off",
      SL_OPT_FIELD(struct out_tcp_conf, tls),
      .desc = "Wrap the connection in TLS (1.2 or later)." },
    { .name = "tls.verify",
      .type = SL_OPT_BOOL,
      .def = "on",
      SL_OPT_FIELD(struct out_tcp_conf, tls_verify),
      .desc = "Verify the peer's certificate chain and that it names "
              "tls.vhost (or host)." },
    { .name = "tls.ca_file",
      .type = SL_OPT_STR,
      SL_OPT_FIELD(struct out_tcp_conf, tls_ca_file),
      .desc = "PEM file of trusted CA certificates. Unset: the system's "
              "default trust store." },
    { .name = "tls.crt_file",
      .type = SL_OPT_STR,
      SL_OPT_FIELD(struct out_tcp_conf, tls_crt_file),
      .desc = "PEM client certificate (chain) for mutual TLS; needs "
              "tls.key_file." },
    { .name = "tls.key_file",
      .type = SL_OPT_STR,
      SL_OPT_FIELD(struct out_tcp_conf, tls_key_file),
      .desc = "PEM private key of tls.crt_file." },
    { .name = "tls.vhost",
      .type = SL_OPT_STR,
      SL_OPT_FIELD(struct out_tcp_conf, tls_vhost),
      .desc = "Server name sent in SNI and checked in the certificate. "
              "Unset: host." },
    { .name = "connect_timeout",
      .type = SL_OPT_TIME,
      .def = "5s",
      .min = 1,
      .max = 3600 * 1000,
      SL_OPT_FIELD(struct out_tcp_conf, connect_timeout),
      .desc = "Give up a connection attempt (and retry the batch later) "
              "after this long." },
    { .name = "write_timeout",
      .type = SL_OPT_TIME,
      .def = "10s",
      .min = 1,
      .max = 3600 * 1000,
      SL_OPT_FIELD(struct out_tcp_conf, write_timeout),
      .desc = "Drop the connection and retry the batch when the peer "
              "accepts no bytes for this long." },
    SL_ENVELOPE_OPTIONS(struct out_tcp_conf, env),
    SL_OPT_END,
};

/* Builds every line of <b> into <out>, in one buffer sized once. */
/* Formats records of <b> from <it> into <out> until it holds TCP_SLICE
 * bytes or the batch ends; *<more> says whether records are left. */
static int tcp_env_slice(const struct sl_envelope *e, struct sl_batch *b,
                         struct sl_batch_iter *it, const struct sl_buf *tagm,
                         struct sl_buf *out, bool *more)
{
    struct sl_event ev;
    int rc = SL_OK;

    sl_buf_reset(out);
    *more = false;
    while (rc == SL_OK && out->len < TCP_SLICE) {
        if (!sl_batch_next(b, it, &ev)) {
            return rc;
        }
        rc = sl_envelope_line(e, tagm, &ev, out);
    }
    /* Stopped on size: peek whether anything is left. */
    if (rc == SL_OK) {
        struct sl_batch_iter peek = *it;

        *more = sl_batch_next(b, &peek, &ev);
    }
    return rc;
}

/* ---- connection ---- */

static struct timeval tcp_tv(int64_t ms)
{
    struct timeval tv = { .tv_sec = (time_t)(ms / 1000),
                          .tv_usec = (suseconds_t)((ms % 1000) * 1000) };

    return tv;
}

static void tcp_close(struct out_tcp_worker *wk)
{
    if (wk->bev != NULL) {
        bufferevent_free(wk->bev);
        wk->bev = NULL;
    }
    wk->connected = false;
}

/* Ends the batch in flight with <r>. */
static void tcp_complete(struct out_tcp_worker *wk, enum sl_flush_result r)
{
    struct sl_batch *b = wk->pending;

    if (b == NULL) {
        return;
    }
    wk->pending = NULL;
    if (wk->in_flush) {
        wk->early_done = true;
        wk->early_result = r;
        return;
    }
    sl_batch_done(b, r);
}

/* Describes why the connection failed into <msg>. */
static void tcp_describe(struct out_tcp_worker *wk, short what, char *msg,
                         size_t len)
{
    int err = EVUTIL_SOCKET_ERROR();
    int dns = bufferevent_socket_get_dns_error(wk->bev);
    unsigned long ssl =
        wk->t->ssl_ctx != NULL ? bufferevent_get_openssl_error(wk->bev) : 0;
    const char *stage = wk->connected ? "connection" : "connect";

    if (what & BEV_EVENT_TIMEOUT) {
        snprintf(msg, len, "%s to %s:%" PRId64 " timed out", stage,
                 wk->t->conf->host, wk->t->conf->port);
    } else if (what & BEV_EVENT_EOF) {
        snprintf(msg, len, "%s:%" PRId64 " closed the connection",
                 wk->t->conf->host, wk->t->conf->port);
    } else if (dns != 0) {
        snprintf(msg, len, "cannot resolve %s: %s", wk->t->conf->host,
                 evutil_gai_strerror(dns));
    } else if (ssl != 0) {
        char e[256];

        ERR_error_string_n(ssl, e, sizeof(e));
        snprintf(msg, len, "TLS %s to %s:%" PRId64 ": %s", stage,
                 wk->t->conf->host, wk->t->conf->port, e);
    } else {
        snprintf(msg, len, "%s to %s:%" PRId64 ": %s", stage, wk->t->conf->host,
                 wk->t->conf->port, evutil_socket_error_to_string(err));
    }
}

static void tcp_event_cb(struct bufferevent *bev, short what, void *arg)
{
    struct out_tcp_worker *wk = arg;
    struct timeval wt = tcp_tv(wk->t->conf->write_timeout);
    char msg[512];

    (void)bev;
    if (what & BEV_EVENT_CONNECTED) {
        wk->connected = true;
        bufferevent_set_timeouts(wk->bev, NULL, &wt);
        sl_log_info(wk->ins, "connected to %s:%" PRId64, wk->t->conf->host,
                    wk->t->conf->port);
        return;
    }
    if (!(what & (BEV_EVENT_EOF | BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT))) {
        return;
    }
    tcp_describe(wk, what, msg, sizeof(msg));
    if (wk->pending != NULL) {
        sl_batch_set_error(wk->pending, "%s", msg);
    } else {
        sl_log_info(wk->ins, "%s", msg);
    }
    tcp_close(wk);
    tcp_complete(wk, SL_FLUSH_RETRY);
}

static void tcp_buf_free(const void *data, size_t len, void *arg)
{
    (void)len;
    (void)arg;
    sl_free((void *)data);
}

/* Gives the formatted slice to the bufferevent without copying it: the
 * evbuffer frees it once the kernel took the bytes (or the connection is
 * dropped).  DESIGN 10: one copy of each record into the slice, none
 * more. */
static int tcp_hand_over(struct out_tcp_worker *wk)
{
    size_t len = wk->out.len;
    char *data;

    if (len == 0) {
        return SL_OK;
    }
    data = sl_buf_take(&wk->out);
    if (data == NULL) {
        return SL_ENOMEM;
    }
    if (evbuffer_add_reference(bufferevent_get_output(wk->bev), data, len,
                               tcp_buf_free, NULL) != 0) {
        sl_free(data);
        return SL_ENOMEM;
    }
    return SL_OK;
}

/* Formats and hands over the next slice of the pending batch. */
static int tcp_fill(struct out_tcp_worker *wk)
{
    int rc;

    sl_buf_reserve(&wk->out, TCP_SLICE + 4096);
    rc = tcp_env_slice(&wk->t->env, wk->pending, &wk->it, &wk->tagm, &wk->out,
                       &wk->more);
    if (rc == SL_OK) {
        rc = tcp_hand_over(wk);
    }
    return rc;
}

static void tcp_write_cb(struct bufferevent *bev, void *arg)
{
    struct out_tcp_worker *wk = arg;
    int rc;

    if (evbuffer_get_length(bufferevent_get_output(bev)) != 0 ||
        wk->pending == NULL) {
        return;
    }
    if (!wk->more) {
        tcp_complete(wk, SL_FLUSH_OK);
        return;
    }
    rc = tcp_fill(wk);
    if (rc != SL_OK) {
        sl_batch_set_error(wk->pending, "cannot format the batch: %s",
                           sl_strerror(rc));
        tcp_close(wk);
        tcp_complete(wk, SL_FLUSH_RETRY);
    }
}

/* Whatever the peer sends is read and ignored; reading is what notices a
 * peer that closed an idle connection. */
static void tcp_read_cb(struct bufferevent *bev, void *arg)
{
    struct evbuffer *in = bufferevent_get_input(bev);

    (void)arg;
    evbuffer_drain(in, evbuffer_get_length(in));
}

static struct bufferevent *tcp_bev_new(struct out_tcp_worker *wk)
{
    const struct out_tcp *t = wk->t;
    int opts = BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS;
    struct bufferevent *bev;
    SSL *ssl;

    if (t->ssl_ctx == NULL) {
        return bufferevent_socket_new(wk->base, -1, opts);
    }
    ssl = SSL_new(t->ssl_ctx);
    if (ssl == NULL) {
        return NULL;
    }
    if (!t->tls_name_is_ip) {
        SSL_set_tlsext_host_name(ssl, t->tls_name);
    }
    if (t->conf->tls_verify &&
        (t->tls_name_is_ip ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl),
                                                           t->tls_name) != 1
                           : SSL_set1_host(ssl, t->tls_name) != 1)) {
        SSL_free(ssl);
        return NULL;
    }
    bev = bufferevent_openssl_socket_new(wk->base, -1, ssl,
                                         BUFFEREVENT_SSL_CONNECTING, opts);
    if (bev == NULL) {
        SSL_free(ssl);
        return NULL;
    }
    bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
    return bev;
}

/* Starts connecting.  Returns SL_OK (the outcome comes to tcp_event_cb)
 * or an error when the attempt could not even start. */
static int tcp_connect(struct out_tcp_worker *wk)
{
    const struct out_tcp *t = wk->t;
    struct timeval ct = tcp_tv(t->conf->connect_timeout);
    int rc;

    wk->bev = tcp_bev_new(wk);
    if (wk->bev == NULL) {
        return SL_ENOMEM;
    }
    bufferevent_setcb(wk->bev, tcp_read_cb, tcp_write_cb, tcp_event_cb, wk);
    bufferevent_setwatermark(wk->bev, EV_WRITE, 0, 0);
    /* libevent writes at most 16 KiB per callback by default: one
     * writev per slice instead of sixteen. */
    bufferevent_set_max_single_write(wk->bev, TCP_SLICE);
    bufferevent_set_timeouts(wk->bev, NULL, &ct);
    bufferevent_enable(wk->bev, EV_READ | EV_WRITE);
    if (t->addrlen > 0) {
        rc = bufferevent_socket_connect(
            wk->bev, (const struct sockaddr *)&t->addr, (int)t->addrlen);
    } else {
        if (wk->dns == NULL) {
            wk->dns =
                evdns_base_new(wk->base, EVDNS_BASE_INITIALIZE_NAMESERVERS);
        }
        rc = wk->dns == NULL
                 ? -1
                 : bufferevent_socket_connect_hostname(wk->bev, wk->dns,
                                                       AF_UNSPEC, t->conf->host,
                                                       (int)t->conf->port);
    }
    if (rc != 0) {
        tcp_close(wk);
        return SL_EPEER;
    }
    return SL_OK;
}

static enum sl_flush_result out_tcp_flush(struct sl_batch *b,
                                          struct sl_worker *w)
{
    struct out_tcp_worker *wk = sl_worker_ctx(w);
    int rc;

    /* One batch in flight per worker: a second one would be completed by
     * the first one's callbacks. */
    if (wk->pending != NULL) {
        sl_batch_set_error(b, "a batch is already in flight");
        return SL_FLUSH_RETRY;
    }
    if (sl_envelope_tag(&wk->t->env, sl_batch_tag(b), &wk->tagm) != SL_OK) {
        sl_batch_set_error(b, "out of memory");
        return SL_FLUSH_RETRY;
    }
    if (wk->bev == NULL && tcp_connect(wk) != SL_OK) {
        sl_batch_set_error(b, "cannot start connecting to %s:%" PRId64,
                           wk->t->conf->host, wk->t->conf->port);
        return SL_FLUSH_RETRY;
    }
    /* Callbacks are deferred to the loop, but if one ran already, return
     * its result instead of PENDING. */
    wk->early_done = false;
    wk->in_flush = true;
    wk->pending = b;
    sl_batch_iter_init(b, &wk->it);
    rc = tcp_fill(wk);
    if (rc != SL_OK) {
        wk->pending = NULL;
        wk->in_flush = false;
        sl_batch_set_error(b, "cannot format the batch: %s", sl_strerror(rc));
        return SL_FLUSH_RETRY;
    }
    if (sl_batch_count(b) == 0) {
        tcp_complete(wk, SL_FLUSH_OK);
    }
    wk->in_flush = false;
    return wk->early_done ? wk->early_result : SL_FLUSH_PENDING;
}

static int out_tcp_worker_init(struct sl_instance *ins, struct sl_worker *w,
                               struct sl_err *err)
{
    struct out_tcp_worker *wk = sl_calloc(1, sizeof(*wk));

    if (wk == NULL) {
        return sl_err_set(err, SL_ENOMEM, "tcp: out of memory");
    }
    wk->t = sl_instance_ctx(ins);
    wk->ins = ins;
    wk->base = sl_worker_base(w);
    sl_buf_init(&wk->out, 0);
    sl_buf_init(&wk->tagm, 0);
    sl_worker_set_ctx(w, wk);
    return SL_OK;
}

static void out_tcp_worker_exit(struct sl_instance *ins, struct sl_worker *w)
{
    struct out_tcp_worker *wk = sl_worker_ctx(w);

    (void)ins;
    if (wk == NULL) {
        return;
    }
    wk->pending = NULL;
    tcp_close(wk);
    if (wk->dns != NULL) {
        evdns_base_free(wk->dns, 0);
    }
    sl_buf_fini(&wk->out);
    sl_buf_fini(&wk->tagm);
    sl_free(wk);
    sl_worker_set_ctx(w, NULL);
}

/* ---- init ---- */

/* Fills the numeric address when the host is one. */
static void tcp_addr_init(struct out_tcp *t)
{
    struct sockaddr_in *a4 = (struct sockaddr_in *)&t->addr;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&t->addr;
    const char *h = t->conf->host;

    if (inet_pton(AF_INET, h, &a4->sin_addr) == 1) {
        a4->sin_family = AF_INET;
        a4->sin_port = htons((uint16_t)t->conf->port);
        t->addrlen = sizeof(*a4);
    } else if (inet_pton(AF_INET6, h, &a6->sin6_addr) == 1) {
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)t->conf->port);
        t->addrlen = sizeof(*a6);
    }
}

static bool tcp_is_ip(const char *s)
{
    unsigned char a[sizeof(struct in6_addr)];

    return inet_pton(AF_INET, s, a) == 1 || inet_pton(AF_INET6, s, a) == 1;
}

static int tcp_ssl_fail(struct sl_err *err, const char *what, const char *file)
{
    char e[256];

    ERR_error_string_n(ERR_get_error(), e, sizeof(e));
    ERR_clear_error();
    return sl_err_set(err, SL_ECONFIG, "tcp: %s '%s': %s", what,
                      file != NULL ? file : "", e);
}

static int tcp_ssl_init(struct out_tcp *t, struct sl_err *err)
{
    const struct out_tcp_conf *c = t->conf;
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

    if (ctx == NULL) {
        return tcp_ssl_fail(err, "cannot create the TLS context", NULL);
    }
    t->ssl_ctx = ctx;
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_verify(ctx, c->tls_verify ? SSL_VERIFY_PEER : SSL_VERIFY_NONE,
                       NULL);
    if (c->tls_ca_file != NULL &&
        SSL_CTX_load_verify_locations(ctx, c->tls_ca_file, NULL) != 1) {
        return tcp_ssl_fail(err, "cannot load tls.ca_file", c->tls_ca_file);
    }
    if (c->tls_ca_file == NULL && SSL_CTX_set_default_verify_paths(ctx) != 1) {
        return tcp_ssl_fail(err, "cannot load the default trust store", NULL);
    }
    if ((c->tls_crt_file == NULL) != (c->tls_key_file == NULL)) {
        return sl_err_set(err, SL_ECONFIG,
                          "tcp: tls.crt_file and tls.key_file go together");
    }
    if (c->tls_crt_file != NULL &&
        SSL_CTX_use_certificate_chain_file(ctx, c->tls_crt_file) != 1) {
        return tcp_ssl_fail(err, "cannot load tls.crt_file", c->tls_crt_file);
    }
    if (c->tls_key_file != NULL &&
        (SSL_CTX_use_PrivateKey_file(ctx, c->tls_key_file, SSL_FILETYPE_PEM) !=
             1 ||
         SSL_CTX_check_private_key(ctx) != 1)) {
        return tcp_ssl_fail(err, "cannot use tls.key_file", c->tls_key_file);
    }
    t->tls_name = c->tls_vhost != NULL ? c->tls_vhost : c->host;
    t->tls_name_is_ip = tcp_is_ip(t->tls_name);
    return SL_OK;
}

static void out_tcp_exit(struct sl_instance *ins)
{
    struct out_tcp *t = sl_instance_ctx(ins);

    if (t == NULL) {
        return;
    }
    SSL_CTX_free(t->ssl_ctx);
    sl_envelope_fini(&t->env);
    sl_free(t);
    sl_instance_set_ctx(ins, NULL);
}

static int out_tcp_init(struct sl_instance *ins, void *conf, struct sl_err *err)
{
    const struct out_tcp_conf *c = conf;
    struct out_tcp *t = sl_calloc(1, sizeof(*t));
    int rc;

    if (t == NULL) {
        return sl_err_set(err, SL_ENOMEM, "tcp: out of memory");
    }
    t->conf = c;
    sl_instance_set_ctx(ins, t);
    rc = sl_envelope_init(&t->env, &c->env);
    if (rc != SL_OK) {
        sl_err_set(err, rc, "tcp: out of memory");
        goto fail;
    }
    if (c->host == NULL || c->host[0] == '\0') {
        rc = sl_err_set(err, SL_ECONFIG, "tcp: 'host' is empty");
        goto fail;
    }
    tcp_addr_init(t);
    if (c->tls) {
        rc = tcp_ssl_init(t, err);
        if (rc != SL_OK) {
            goto fail;
        }
    }
    return SL_OK;
fail:
    out_tcp_exit(ins);
    return rc;
}

const struct sl_plugin sl_plugin_out_tcp = {
    .abi = SL_PLUGIN_ABI,
    .kind = SL_PLUGIN_OUTPUT,
    .name = "tcp",
    .description = "Send records as JSON lines over TCP, optionally with "
                   "TLS.",
    .options = out_tcp_options,
    .conf_size = sizeof(struct out_tcp_conf),
    .init = out_tcp_init,
    .worker_init = out_tcp_worker_init,
    .flush = out_tcp_flush,
    .worker_exit = out_tcp_worker_exit,
    .exit = out_tcp_exit,
};
