/*
 * connector.h - the client side of a TCP or TLS stream output (tcp,
 * syslog): where to connect, the TLS client context, one libevent
 * bufferevent per worker, and the batch in flight on it.
 *
 * Three parts, each used by both outputs:
 *
 * 1. Options.  An output embeds a struct sl_connector_conf in its conf,
 *    declares host and port itself (their defaults and wording differ)
 *    and the rest with SL_CONNECTOR_TLS_OPTIONS() and
 *    SL_CONNECTOR_TIMEOUT_OPTIONS().
 *
 * 2. The connector (struct sl_connector), made by the output's init on
 *    the main thread: checks host, parses a numeric address once, and
 *    builds the TLS context (tls.ca_file or the system's trust store,
 *    tls.verify, client certificate and key, the SNI and verified name
 *    from tls.vhost or host).  Read-only afterwards and shared by the
 *    output's workers.
 *
 * 3. Connections (struct sl_connector_conn), one per worker, made by
 *    worker_init and used only on that worker's event loop: connected
 *    lazily (evdns on that loop for a host name), dropped on an error, EOF
 *    or timeout, and connected again by the next flush (the engine's retry
 *    backoff spaces the attempts).  Bytes are handed over by reference
 *    (sl_connector_conn_write takes an sl_buf's bytes, no copy).  A flush
 *    claims the connection for its batch (sl_connector_conn_begin ..
 *    sl_connector_conn_end); the batch completes through
 *    sl_connector_conn_complete, or with RETRY when the connection fails.
 *
 * No global state: everything hangs off the connector and its
 * connections.  Nothing here is thread-safe; a connection belongs to one
 * worker thread.
 */
#ifndef SLUICE_CONNECTOR_H
#define SLUICE_CONNECTOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "option.h"
#include "plugin.h"

struct event_base;

/* The largest write libevent makes at once (bufferevent_set_max_single_write
 * is raised to it from libevent's 16 KiB), and the size of the slices an
 * output should hand over: one writev per slice. */
#define SL_CONNECTOR_SLICE (256u * 1024u)

/* ---- options ---- */

/* Filled by the option engine. */
struct sl_connector_conf {
    char *host;
    int64_t port;
    bool tls_verify;
    char *tls_ca_file;
    char *tls_crt_file;
    char *tls_key_file;
    char *tls_vhost;
    int64_t connect_timeout; /* ms */
    int64_t write_timeout;   /* ms */
};

/* clang-format off */
/* Rows tls.verify, tls.ca_file, tls.crt_file, tls.key_file and tls.vhost
 * for member <f> (a struct sl_connector_conf) of conf type <T>.  The
 * outputs word two of them differently: <verify_desc> and <crt_desc>. */
#define SL_CONNECTOR_TLS_OPTIONS(T, f, verify_desc, crt_desc)                 \
    { .name = "tls.verify",                                                   \
      .type = SL_OPT_BOOL,                                                    \
      .def = "on",                                                            \
      SL_OPT_FIELD(T, f.tls_verify),                                          \
      .desc = verify_desc },                                                  \
    { .name = "tls.ca_file",                                                  \
      .type = SL_OPT_STR,                                                     \
      SL_OPT_FIELD(T, f.tls_ca_file),                                         \
      .desc = "PEM file of trusted CA certificates. Unset: the system's "     \
              "default trust store." },                                       \
    { .name = "tls.crt_file",                                                 \
      .type = SL_OPT_STR,                                                     \
      SL_OPT_FIELD(T, f.tls_crt_file),                                        \
      .desc = crt_desc },                                                     \
    { .name = "tls.key_file",                                                 \
      .type = SL_OPT_STR,                                                     \
      SL_OPT_FIELD(T, f.tls_key_file),                                        \
      .desc = "PEM private key of tls.crt_file." },                           \
    { .name = "tls.vhost",                                                    \
      .type = SL_OPT_STR,                                                     \
      SL_OPT_FIELD(T, f.tls_vhost),                                           \
      .desc = "Server name sent in SNI and checked in the certificate. "      \
              "Unset: host." }

/* Rows connect_timeout and write_timeout for member <f> of conf type <T>;
 * <write_desc> words write_timeout. */
#define SL_CONNECTOR_TIMEOUT_OPTIONS(T, f, write_desc)                        \
    { .name = "connect_timeout",                                              \
      .type = SL_OPT_TIME,                                                    \
      .def = "5s",                                                            \
      .min = 1,                                                               \
      .max = 3600 * 1000,                                                     \
      SL_OPT_FIELD(T, f.connect_timeout),                                     \
      .desc = "Give up a connection attempt (and retry the batch later) "     \
              "after this long." },                                           \
    { .name = "write_timeout",                                                \
      .type = SL_OPT_TIME,                                                    \
      .def = "10s",                                                           \
      .min = 1,                                                               \
      .max = 3600 * 1000,                                                     \
      SL_OPT_FIELD(T, f.write_timeout),                                       \
      .desc = write_desc }
/* clang-format on */

/* ---- the connector (per instance) ---- */

struct sl_connector;

/* Checks <conf> (host must be set) and prepares connecting to it; with
 * <tls>, builds the TLS client context from the tls.* settings.  <conf>
 * must outlive the connector.  <ins> is the instance that logs (NULL: the
 * core log); <who> prefixes error messages ("tcp").  Main thread; reads
 * certificate files.  Returns the connector, or NULL with <err> filled
 * (SL_ECONFIG, SL_ENOMEM). */
struct sl_connector *sl_connector_create(struct sl_instance *ins,
                                         const struct sl_connector_conf *conf,
                                         bool tls, const char *who,
                                         struct sl_err *err);

/* Frees <c> (NULL is fine).  Its connections must be destroyed first. */
void sl_connector_destroy(struct sl_connector *c);

/* ---- connections (per worker) ---- */

struct sl_connector_conn;

/* What a connection tells its owner, on the worker's loop. */
struct sl_connector_ops {
    /* Every byte handed over reached the kernel (the output buffer is
     * empty after a write).  Typically: hand over the next slice of the
     * batch in flight, or complete it.  Required. */
    void (*drained)(struct sl_connector_conn *cn, void *arg);
    /* The connection failed and was closed; <why> says why ("connect to
     * h:p: Connection refused").  Called before the batch in flight, if
     * any, completes with RETRY.  May be NULL. */
    void (*closed)(struct sl_connector_conn *cn, const char *why, void *arg);
};

/* Creates a connection of <c> on loop <base> (a worker's), not connected
 * yet.  <ops> and <arg> are passed back to callbacks; <ops> must outlive
 * the connection.  Returns NULL on ENOMEM. */
struct sl_connector_conn *
sl_connector_conn_create(const struct sl_connector *c, struct event_base *base,
                         const struct sl_connector_ops *ops, void *arg);

/* Closes and frees <cn> (NULL is fine) without completing the batch in
 * flight and without callbacks. */
void sl_connector_conn_destroy(struct sl_connector_conn *cn);

/* Starts connecting unless <cn> is connected or connecting.  Returns
 * SL_OK (a failure comes later, to ops->closed) or SL_ENOMEM / SL_EPEER
 * when the attempt could not even start.  Does not block. */
int sl_connector_conn_open(struct sl_connector_conn *cn);

/* Drops the connection, if any, without callbacks; bytes not yet sent are
 * lost. */
void sl_connector_conn_close(struct sl_connector_conn *cn);

/* Hands the bytes of <data> to the connection (connected or connecting)
 * without copying them: <data> is left empty and the bytes are freed once
 * sent or dropped.  SL_OK; SL_ECLOSED without a connection (<data> is
 * untouched); SL_ENOMEM (the bytes are dropped and <data> left empty). */
int sl_connector_conn_write(struct sl_connector_conn *cn, struct sl_buf *data);

/* The socket of the connection, or -1 (none, or not resolved yet). */
int sl_connector_conn_fd(const struct sl_connector_conn *cn);

/* ---- the batch in flight ---- */

/* Claims <cn> for flushing <b> and starts connecting when there is no
 * connection.  From here until sl_connector_conn_end, a completion is
 * kept and returned by sl_connector_conn_end.  Returns SL_OK, or an error
 * with <b>'s error set and nothing claimed: a batch is already in flight
 * (one per connection), or the connection attempt could not start. */
int sl_connector_conn_begin(struct sl_connector_conn *cn, struct sl_batch *b);

/* Ends the flush call that claimed the batch: an empty batch completes at
 * once.  Returns the completion that came meanwhile, or
 * SL_FLUSH_PENDING. */
enum sl_flush_result sl_connector_conn_end(struct sl_connector_conn *cn);

/* Gives the claimed batch up inside the flush call (the connection stays
 * open), with its error set from <fmt>.  Returns SL_FLUSH_RETRY. */
enum sl_flush_result sl_connector_conn_abort(struct sl_connector_conn *cn,
                                             const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* The batch in flight, or NULL. */
struct sl_batch *sl_connector_conn_batch(const struct sl_connector_conn *cn);

/* Completes the batch in flight, if any, with <r> (through
 * sl_batch_done, or as the result of sl_connector_conn_end). */
void sl_connector_conn_complete(struct sl_connector_conn *cn,
                                enum sl_flush_result r);

/* Fails the connection: the batch in flight gets the error from <fmt>
 * (without one the message is logged at info), the connection is closed,
 * ops->closed is called and the batch completes with RETRY. */
void sl_connector_conn_fail(struct sl_connector_conn *cn, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
