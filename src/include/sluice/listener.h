/*
 * listener.h - the server side of the network inputs (http, syslog): a
 * listening socket on listen/port (port 0 picks a free port) announced in
 * the log and in port_file, the TLS server context built from the tls.*
 * options, the bufferevent of an accepted connection (plain or TLS) and
 * the max_connections check.
 *
 * Options.  An input embeds a struct sl_listener_conf (and, when it
 * serves TLS, a struct sl_listener_tls_conf) in its conf.  The listen,
 * port, max_connections and idle_timeout rows stay in the input's table,
 * because their defaults and texts depend on the input; the rows that are
 * the same everywhere are declared with SL_LISTENER_PORT_FILE_OPTION and
 * SL_LISTENER_TLS_OPTIONS.
 *
 * Life cycle.  At init, sl_listener_tls_create (when TLS is on).  At
 * start, sl_listener_open then sl_listener_announce.  Per accepted
 * connection, sl_listener_admit then sl_listener_bev.
 *
 * Threads: everything runs on the loop of the input that calls it.  Only
 * sl_listener_open blocks (on the name lookup of listen), and only once,
 * at start.  Nothing here keeps state between calls.
 */
#ifndef SLUICE_LISTENER_H
#define SLUICE_LISTENER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "option.h"
#include "plugin.h"

struct bufferevent;
struct event_base;
struct ssl_ctx_st; /* OpenSSL's SSL_CTX */

struct sl_listener_conf {
    char *listen;            /* address (or name) to bind */
    int64_t port;            /* 0: a free port */
    char *port_file;         /* NULL: the bound port is only logged */
    int64_t max_connections; /* connections open at once */
    int64_t idle_timeout;    /* ms; how an input applies it is its own */
};

struct sl_listener_tls_conf {
    char *cert_file;
    char *key_file;
    char *ca_file;
    bool verify_client;
};

/* The port_file row, for member <f> (a struct sl_listener_conf) of conf
 * type <T>. */
#define SL_LISTENER_PORT_FILE_OPTION(T, f)                                    \
    { .name = "port_file",                                                    \
      .type = SL_OPT_STR,                                                     \
      SL_OPT_FIELD(T, f.port_file),                                           \
      .desc = "File the bound port is written to once listening, for "        \
              "port 0." }

/* The tls.cert_file, tls.key_file, tls.ca_file and tls.verify_client rows,
 * for member <f> (a struct sl_listener_tls_conf) of conf type <T>.  <when>
 * is a string literal ending the certificate and key descriptions (e.g.
 * " for mode tls"; "" for nothing). */
#define SL_LISTENER_TLS_OPTIONS(T, f, when)                                   \
    { .name = "tls.cert_file",                                                \
      .type = SL_OPT_STR,                                                     \
      SL_OPT_FIELD(T, f.cert_file),                                           \
      .desc = "Server certificate chain (PEM)" when "." },                    \
    { .name = "tls.key_file",                                                 \
      .type = SL_OPT_STR,                                                     \
      SL_OPT_FIELD(T, f.key_file),                                            \
      .desc = "Private key (PEM) of the server certificate" when "." },       \
    { .name = "tls.ca_file",                                                  \
      .type = SL_OPT_STR,                                                     \
      SL_OPT_FIELD(T, f.ca_file),                                             \
      .desc = "CA certificates (PEM) that client certificates must chain "    \
              "to, with tls.verify_client." },                                \
    { .name = "tls.verify_client",                                            \
      .type = SL_OPT_BOOL,                                                    \
      .def = "off",                                                           \
      SL_OPT_FIELD(T, f.verify_client),                                       \
      .desc = "Require a client certificate signed by tls.ca_file." }

/*
 * Resolves <c>->listen and binds a non-blocking, close-on-exec socket of
 * <type> (SOCK_STREAM or SOCK_DGRAM) to it on <c>->port; a stream socket
 * gets SO_REUSEADDR and listens with <backlog>.  On success *<fd> is the
 * socket (the caller owns it).  Returns SL_OK, SL_ECONFIG when the
 * address does not resolve, or -errno, with <err> filled.  Blocks on the
 * name lookup (call it at start only).
 */
int sl_listener_open(const struct sl_listener_conf *c, int type, int backlog,
                     int *fd, struct sl_err *err);

/* The port <fd> is bound to (IPv4 or IPv6), or 0 when it has none. */
int sl_listener_port(int fd);

/*
 * Writes <port> and a newline to <path> atomically (a temporary file,
 * then a rename), so that a reader sees the whole number or no file.
 * Returns SL_OK, SL_EINVAL for a path too long, or -errno, with <err>
 * filled.
 */
int sl_listener_write_port(const char *path, int port, struct sl_err *err);

/*
 * Logs "listening on <listen> port <port> (<what>)" for <ins> and writes
 * the port <fd> is bound to into <c>->port_file when it is set.  Returns
 * SL_OK or the error of sl_listener_write_port (<fd> stays open).
 */
int sl_listener_announce(struct sl_instance *ins,
                         const struct sl_listener_conf *c, int fd,
                         const char *what, struct sl_err *err);

/*
 * Builds a TLS server context (TLS 1.2 at least) from <c>: the
 * certificate chain and its key, the CA file when set, and client
 * verification when asked.  <what> names the setting that turned TLS on,
 * for the error when cert_file or key_file is missing ("<what> needs
 * tls.cert_file and tls.key_file").  On success *<out> is the context:
 * the caller owns it and frees it with SSL_CTX_free.  Returns SL_OK or
 * SL_ECONFIG with <err> naming the file and OpenSSL's reason; nothing is
 * left allocated then.  Reads the files (blocks on the disk).
 */
int sl_listener_tls_create(const struct sl_listener_tls_conf *c,
                           const char *what, struct ssl_ctx_st **out,
                           struct sl_err *err);

/*
 * A bufferevent for an accepted socket <fd> (-1: one evhttp sets later)
 * on <base> with <options> (BEV_OPT_*): plain when <ssl_ctx> is NULL,
 * else TLS in the accepting state.  Returns NULL when out of memory (<fd>
 * is not closed then).
 */
struct bufferevent *sl_listener_bev(struct event_base *base,
                                    struct ssl_ctx_st *ssl_ctx, int fd,
                                    int options);

/*
 * The max_connections check of a new connection while <nconns> are open:
 * true when it may stay; false when <c>->max_connections is reached, after
 * counting it in <rejected> (may be NULL) and logging a warning for
 * <ins>.  The caller closes a refused connection.
 */
bool sl_listener_admit(struct sl_instance *ins,
                       const struct sl_listener_conf *c, size_t nconns,
                       struct sl_metric *rejected);

#endif
