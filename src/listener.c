/*
 * listener.c - the server side of the network inputs: listening sockets,
 * the port file, the TLS server context, accepted connections'
 * bufferevents and the max_connections check (see sluice/listener.h).
 *
 * Stateless helpers called on the loop of the input that owns the
 * socket.  Never: keep a socket or a context after a failed call, or
 * block anywhere but the name lookup of sl_listener_open.
 */
#include <errno.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "util.h"
#include "sluice/listener.h"
#include "sluice/banned.h"

/* The temporary file next to the port file is "<path>.tmp..." and must
 * fit this. */
#define LISTENER_PATH_MAX 4096

int sl_listener_open(const struct sl_listener_conf *c, int type, int backlog,
                     int *fd, struct sl_err *err)
{
    struct addrinfo hints = { .ai_flags = AI_PASSIVE | AI_NUMERICSERV,
                              .ai_family = AF_UNSPEC,
                              .ai_socktype = type };
    struct addrinfo *ai = NULL;
    char port[16];
    int one = 1;
    int s;
    int rc;

    snprintf(port, sizeof(port), "%" PRId64, c->port);
    rc = getaddrinfo(c->listen, port, &hints, &ai);
    if (rc != 0) {
        return sl_err_set(err, SL_ECONFIG, "cannot resolve listen '%s': %s",
                          c->listen, gai_strerror(rc));
    }
    s = socket(ai->ai_family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (s < 0) {
        rc = sl_rc_from_errno(errno);
        goto fail;
    }
    if (type == SOCK_STREAM) {
        setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    }
    if (bind(s, ai->ai_addr, ai->ai_addrlen) != 0 ||
        (type == SOCK_STREAM && listen(s, backlog) != 0)) {
        rc = sl_rc_from_errno(errno);
        close(s);
        goto fail;
    }
    freeaddrinfo(ai);
    *fd = s;
    return SL_OK;
fail:
    freeaddrinfo(ai);
    return sl_err_set(err, rc, "cannot listen on %s port %" PRId64 ": %s",
                      c->listen, c->port, sl_strerror(rc));
}

int sl_listener_port(int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);

    if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0) {
        return 0;
    }
    if (ss.ss_family == AF_INET) {
        return ntohs(((struct sockaddr_in *)&ss)->sin_port);
    }
    if (ss.ss_family == AF_INET6) {
        return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    }
    return 0;
}

int sl_listener_write_port(const char *path, int port, struct sl_err *err)
{
    char text[16];
    int n = snprintf(text, sizeof(text), "%d\n", port);
    int rc;

    if (strlen(path) + sizeof(".tmp") > LISTENER_PATH_MAX) {
        return sl_err_set(err, SL_EINVAL, "port_file path is too long");
    }
    rc = sl_file_write_atomic(path, text, (size_t)n, 0644);
    if (rc != SL_OK) {
        return sl_err_set(err, rc, "cannot write port_file %s: %s", path,
                          sl_strerror(rc));
    }
    return SL_OK;
}

int sl_listener_announce(struct sl_instance *ins,
                         const struct sl_listener_conf *c, int fd,
                         const char *what, struct sl_err *err)
{
    int port = sl_listener_port(fd);

    sl_log_info(ins, "listening on %s port %d (%s)", c->listen, port, what);
    if (c->port_file == NULL) {
        return SL_OK;
    }
    return sl_listener_write_port(c->port_file, port, err);
}

/* Fills <err> with what failed, on which file, and OpenSSL's reason. */
static int listener_tls_fail(struct sl_err *err, const char *what,
                             const char *file)
{
    char e[256];

    ERR_error_string_n(ERR_get_error(), e, sizeof(e));
    ERR_clear_error();
    return sl_err_set(err, SL_ECONFIG, "%s '%s': %s", what,
                      file != NULL ? file : "", e);
}

/* Loads the certificate, key and CA file of <c> into <s>. */
static int listener_tls_load(SSL_CTX *s, const struct sl_listener_tls_conf *c,
                             struct sl_err *err)
{
    if (SSL_CTX_use_certificate_chain_file(s, c->cert_file) != 1) {
        return listener_tls_fail(err, "cannot load tls.cert_file",
                                 c->cert_file);
    }
    if (SSL_CTX_use_PrivateKey_file(s, c->key_file, SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(s) != 1) {
        return listener_tls_fail(err, "cannot use tls.key_file", c->key_file);
    }
    if (c->ca_file != NULL &&
        SSL_CTX_load_verify_locations(s, c->ca_file, NULL) != 1) {
        return listener_tls_fail(err, "cannot load tls.ca_file", c->ca_file);
    }
    return SL_OK;
}

int sl_listener_tls_create(const struct sl_listener_tls_conf *c,
                           const char *what, struct ssl_ctx_st **out,
                           struct sl_err *err)
{
    SSL_CTX *s;
    int rc;

    if (c->cert_file == NULL || c->key_file == NULL) {
        return sl_err_set(err, SL_ECONFIG,
                          "%s needs tls.cert_file and tls.key_file", what);
    }
    if (c->verify_client && c->ca_file == NULL) {
        return sl_err_set(err, SL_ECONFIG,
                          "tls.verify_client needs tls.ca_file");
    }
    s = SSL_CTX_new(TLS_server_method());
    if (s == NULL) {
        return listener_tls_fail(err, "cannot create the TLS context", NULL);
    }
    SSL_CTX_set_min_proto_version(s, TLS1_2_VERSION);
    rc = listener_tls_load(s, c, err);
    if (rc != SL_OK) {
        SSL_CTX_free(s);
        return rc;
    }
    if (c->verify_client) {
        SSL_CTX_set_verify(s, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT,
                           NULL);
    }
    *out = s;
    return SL_OK;
}

struct bufferevent *sl_listener_bev(struct event_base *base,
                                    struct ssl_ctx_st *ssl_ctx, int fd,
                                    int options)
{
    SSL *ssl;

    if (ssl_ctx == NULL) {
        return bufferevent_socket_new(base, fd, options);
    }
    ssl = SSL_new(ssl_ctx);
    if (ssl == NULL) {
        return NULL;
    }
    return bufferevent_openssl_socket_new(base, fd, ssl,
                                          BUFFEREVENT_SSL_ACCEPTING, options);
}

bool sl_listener_admit(struct sl_instance *ins,
                       const struct sl_listener_conf *c, size_t nconns,
                       struct sl_metric *rejected)
{
    if (nconns < (size_t)c->max_connections) {
        return true;
    }
    sl_metric_add(rejected, 1);
    sl_log_warn(ins,
                "max_connections (%" PRId64 ") reached: "
                "closing a new connection",
                c->max_connections);
    return false;
}
