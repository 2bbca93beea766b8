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
 * The connection, TLS and batch-in-flight mechanics are the shared
 * connector (sluice/connector.h); this file formats the lines and feeds
 * them to it slice by slice.
 *
 * Everything but init/exit runs on the worker's own event loop
 * (sl_worker_base); the instance context is read-only after init.
 */
#include <inttypes.h>

#include "sluice/connector.h"
#include "sluice/envelope.h"
#include "sluice/plugin.h"
#include "sluice/banned.h"


struct out_tcp_conf {
    struct sl_connector_conf conn;
    int format;
    bool tls;
    struct sl_envelope_conf env;
};

struct out_tcp {
    const struct out_tcp_conf *conf;
    struct sl_envelope env;
    struct sl_connector *connector;
};

struct out_tcp_worker {
    const struct out_tcp *t;
    struct sl_connector_conn *conn;
    struct sl_buf out;
    struct sl_buf tagm;
    struct sl_batch_iter it; /* next record of the pending batch to format */
    bool more;               /* records left to format */
};

/* The batch is formatted and handed to libevent in slices of about this
 * size, the next one when the previous one reached the kernel: the memory
 * an output holds beyond its chunk stays bounded whatever chunk_size is. */
#define TCP_SLICE SL_CONNECTOR_SLICE

static const char *const tcp_formats[] = { "json_lines", NULL };

static const struct sl_option out_tcp_options[] = {
    { .name = "host",
      .type = SL_OPT_STR,
      .def = "127.0.0.1",
      SL_OPT_FIELD(struct out_tcp_conf, conn.host),
      .desc = "Host name or address of the peer." },
    { .name = "port",
      .type = SL_OPT_INT,
      .flags = SL_OPT_REQUIRED,
      .min = 1,
      .max = 65535,
      SL_OPT_FIELD(struct out_tcp_conf, conn.port),
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
    SL_CONNECTOR_TLS_OPTIONS(
        struct out_tcp_conf, conn,
        "Verify the peer's certificate chain and that it names "
        "tls.vhost (or host).",
        "PEM client certificate (chain) for mutual TLS; needs "
        "tls.key_file."),
    SL_CONNECTOR_TIMEOUT_OPTIONS(
        struct out_tcp_conf, conn,
        "Drop the connection and retry the batch when the peer "
        "accepts no bytes for this long."),
    SL_ENVELOPE_OPTIONS(struct out_tcp_conf, env),
    SL_OPT_END,
};

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

/* ---- sending ---- */

/* Formats and hands over the next slice of batch <b>. */
static int tcp_fill(struct out_tcp_worker *wk, struct sl_batch *b)
{
    int rc;

    sl_buf_reserve(&wk->out, TCP_SLICE + 4096);
    rc = tcp_env_slice(&wk->t->env, b, &wk->it, &wk->tagm, &wk->out, &wk->more);
    if (rc == SL_OK) {
        rc = sl_connector_conn_write(wk->conn, &wk->out);
    }
    return rc;
}

/* The previous slice reached the kernel: hand over the next one, or
 * complete the batch after the last. */
static void tcp_drained(struct sl_connector_conn *cn, void *arg)
{
    struct out_tcp_worker *wk = arg;
    struct sl_batch *b = sl_connector_conn_batch(cn);
    int rc;

    if (b == NULL) {
        return;
    }
    if (!wk->more) {
        sl_connector_conn_complete(cn, SL_FLUSH_OK);
        return;
    }
    rc = tcp_fill(wk, b);
    if (rc != SL_OK) {
        sl_connector_conn_fail(cn, "cannot format the batch: %s",
                               sl_strerror(rc));
    }
}

static const struct sl_connector_ops tcp_connector_ops = {
    .drained = tcp_drained,
};

static enum sl_flush_result out_tcp_flush(struct sl_batch *b,
                                          struct sl_worker *w)
{
    struct out_tcp_worker *wk = sl_worker_ctx(w);
    int rc;

    /* Claims the connection (one batch in flight per worker) and starts
     * connecting when needed; the tag buffer belongs to the batch in
     * flight, so it is written only after the claim. */
    if (sl_connector_conn_begin(wk->conn, b) != SL_OK) {
        return SL_FLUSH_RETRY;
    }
    if (sl_envelope_tag(&wk->t->env, sl_batch_tag(b), &wk->tagm) != SL_OK) {
        return sl_connector_conn_abort(wk->conn, "out of memory");
    }
    sl_batch_iter_init(b, &wk->it);
    rc = tcp_fill(wk, b);
    if (rc != SL_OK) {
        return sl_connector_conn_abort(wk->conn, "cannot format the batch: %s",
                                       sl_strerror(rc));
    }
    return sl_connector_conn_end(wk->conn);
}

static int out_tcp_worker_init(struct sl_instance *ins, struct sl_worker *w,
                               struct sl_err *err)
{
    struct out_tcp_worker *wk = sl_calloc(1, sizeof(*wk));

    if (wk == NULL) {
        return sl_err_set(err, SL_ENOMEM, "tcp: out of memory");
    }
    wk->t = sl_instance_ctx(ins);
    wk->conn = sl_connector_conn_create(wk->t->connector, sl_worker_base(w),
                                        &tcp_connector_ops, wk);
    if (wk->conn == NULL) {
        sl_free(wk);
        return sl_err_set(err, SL_ENOMEM, "tcp: out of memory");
    }
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
    sl_connector_conn_destroy(wk->conn);
    sl_buf_fini(&wk->out);
    sl_buf_fini(&wk->tagm);
    sl_free(wk);
    sl_worker_set_ctx(w, NULL);
}

/* ---- init ---- */

static void out_tcp_exit(struct sl_instance *ins)
{
    struct out_tcp *t = sl_instance_ctx(ins);

    if (t == NULL) {
        return;
    }
    sl_connector_destroy(t->connector);
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
    t->connector = sl_connector_create(ins, &c->conn, c->tls, "tcp", err);
    if (t->connector == NULL) {
        rc = err->rc;
        goto fail;
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
