/*
 * test_listener.c - the server side of the network inputs: binding on
 * port 0 and the port file, the TLS server context and its errors,
 * accepted connections' bufferevents and the max_connections check.
 *
 * Certificates are made here with OpenSSL (a self-signed EC key), in a
 * temporary directory removed at the end; nothing leaves 127.0.0.1.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "log.h"
#include "sluice/listener.h"
#include "sluice/banned.h"

struct fixture {
    char dir[64];
    char cert[128];
    char key[128];
    char other_key[128];
    char port_file[128];
    char log[128];
};

/* Writes a PEM private key to <path>. */
static void write_key(const char *path, EVP_PKEY *pk)
{
    FILE *f = fopen(path, "w");

    assert_non_null(f);
    assert_int_equal(PEM_write_PrivateKey(f, pk, NULL, NULL, 0, NULL, NULL), 1);
    assert_int_equal(fclose(f), 0);
}

/* A self-signed certificate for "localhost" at <cert>, its key at
 * <key>. */
static void make_cert(const char *cert, const char *key)
{
    EVP_PKEY *pk = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    X509_NAME *name;
    FILE *f;

    assert_non_null(pk);
    assert_non_null(x);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), 0);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600);
    X509_set_pubkey(x, pk);
    name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                               (const unsigned char *)"localhost", -1, -1, 0);
    X509_set_issuer_name(x, name);
    assert_true(X509_sign(x, pk, EVP_sha256()) > 0);
    f = fopen(cert, "w");
    assert_non_null(f);
    assert_int_equal(PEM_write_X509(f, x), 1);
    assert_int_equal(fclose(f), 0);
    write_key(key, pk);
    X509_free(x);
    EVP_PKEY_free(pk);
}

static int setup(void **state)
{
    struct fixture *fx = calloc(1, sizeof(*fx));
    EVP_PKEY *other;

    if (fx == NULL) {
        return -1;
    }
    snprintf(fx->dir, sizeof(fx->dir), "/tmp/sl_listener_XXXXXX");
    if (mkdtemp(fx->dir) == NULL) {
        free(fx);
        return -1;
    }
    snprintf(fx->cert, sizeof(fx->cert), "%s/cert.pem", fx->dir);
    snprintf(fx->key, sizeof(fx->key), "%s/key.pem", fx->dir);
    snprintf(fx->other_key, sizeof(fx->other_key), "%s/other.pem", fx->dir);
    snprintf(fx->port_file, sizeof(fx->port_file), "%s/port", fx->dir);
    snprintf(fx->log, sizeof(fx->log), "%s/log", fx->dir);
    make_cert(fx->cert, fx->key);
    other = EVP_EC_gen("P-256");
    write_key(fx->other_key, other);
    EVP_PKEY_free(other);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *fx = *state;

    unlink(fx->cert);
    unlink(fx->key);
    unlink(fx->other_key);
    unlink(fx->port_file);
    unlink(fx->log);
    rmdir(fx->dir);
    free(fx);
    return 0;
}

/* The whole content of <path> (at most <cap> - 1 bytes) into <buf>. */
static void read_file(const char *path, char *buf, size_t cap)
{
    FILE *f = fopen(path, "r");
    size_t n;

    assert_non_null(f);
    n = fread(buf, 1, cap - 1, f);
    buf[n] = '\0';
    fclose(f);
}

/* Sends the daemon's log to <path> (emptied), or back to stderr when
 * <path> is NULL. */
static void log_to(const char *path)
{
    static int fd = -1;

    sl_log_set_fd(-1);
    if (fd >= 0) {
        close(fd);
        fd = -1;
    }
    if (path != NULL) {
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        assert_true(fd >= 0);
        sl_log_set_fd(fd);
    }
}

static void test_bind_port_zero_writes_port_file(void **state)
{
    struct fixture *fx = *state;
    struct sl_listener_conf c = { .listen = "127.0.0.1",
                                  .port = 0,
                                  .port_file = fx->port_file };
    struct sockaddr_in sin = { .sin_family = AF_INET };
    struct sl_err err = { 0 };
    char text[512];
    char want[64];
    int fd = -1;
    int cfd;
    int port;

    assert_int_equal(sl_listener_open(&c, SOCK_STREAM, 16, &fd, &err), SL_OK);
    port = sl_listener_port(fd);
    assert_true(port > 0 && port <= 65535);
    log_to(fx->log);
    assert_int_equal(sl_listener_announce(NULL, &c, fd, "test", &err), SL_OK);
    log_to(NULL);
    read_file(fx->port_file, text, sizeof(text));
    snprintf(want, sizeof(want), "%d\n", port);
    assert_string_equal(text, want);
    read_file(fx->log, text, sizeof(text));
    snprintf(want, sizeof(want), "listening on 127.0.0.1 port %d (test)", port);
    assert_non_null(strstr(text, want));
    /* It listens: a client connects. */
    cfd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(cfd >= 0);
    sin.sin_port = htons((uint16_t)port);
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(cfd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    close(cfd);
    close(fd);
}

static void test_bind_datagram_and_no_port_file(void **state)
{
    struct sl_listener_conf c = { .listen = "127.0.0.1", .port = 0 };
    struct sl_err err = { 0 };
    int type = 0;
    socklen_t len = sizeof(type);
    int fd = -1;

    (void)state;
    assert_int_equal(sl_listener_open(&c, SOCK_DGRAM, 16, &fd, &err), SL_OK);
    assert_int_equal(getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len), 0);
    assert_int_equal(type, SOCK_DGRAM);
    assert_true(sl_listener_port(fd) > 0);
    assert_int_equal(sl_listener_announce(NULL, &c, fd, "udp", &err), SL_OK);
    close(fd);
}

static void test_bind_errors(void **state)
{
    struct sl_listener_conf bad = { .listen = "not an address", .port = 0 };
    struct sl_listener_conf c = { .listen = "127.0.0.1", .port = 0 };
    struct sl_err err = { 0 };
    char want[64];
    int fd = -1;
    int fd2 = -1;

    (void)state;
    assert_int_equal(sl_listener_open(&bad, SOCK_STREAM, 16, &fd, &err),
                     SL_ECONFIG);
    assert_non_null(strstr(err.msg, "cannot resolve listen 'not an address'"));
    assert_int_equal(fd, -1);
    /* A port in use: the second bind fails and says where. */
    assert_int_equal(sl_listener_open(&c, SOCK_STREAM, 16, &fd, &err), SL_OK);
    c.port = sl_listener_port(fd);
    assert_true(sl_listener_open(&c, SOCK_STREAM, 16, &fd2, &err) < 0);
    assert_int_equal(fd2, -1);
    snprintf(want, sizeof(want),
             "cannot listen on 127.0.0.1 port %d: ", (int)c.port);
    assert_non_null(strstr(err.msg, want));
    close(fd);
}

static void test_port_file_errors(void **state)
{
    struct fixture *fx = *state;
    struct sl_err err = { 0 };
    char path[256];
    char *longp = calloc(1, 5000);

    snprintf(path, sizeof(path), "%s/missing/port", fx->dir);
    assert_true(sl_listener_write_port(path, 1234, &err) < 0);
    assert_non_null(strstr(err.msg, "cannot write port_file"));
    assert_non_null(strstr(err.msg, path));
    assert_non_null(longp);
    memset(longp, 'a', 4095);
    assert_int_equal(sl_listener_write_port(longp, 1234, &err), SL_EINVAL);
    assert_string_equal(err.msg, "port_file path is too long");
    free(longp);
    /* Rewriting replaces the number whole. */
    assert_int_equal(sl_listener_write_port(fx->port_file, 65535, &err), SL_OK);
    assert_int_equal(sl_listener_write_port(fx->port_file, 7, &err), SL_OK);
    read_file(fx->port_file, path, sizeof(path));
    assert_string_equal(path, "7\n");
}

static void test_tls_without_client_verification(void **state)
{
    struct fixture *fx = *state;
    struct sl_listener_tls_conf c = { .cert_file = fx->cert,
                                      .key_file = fx->key };
    struct sl_err err = { 0 };
    SSL_CTX *s = NULL;

    assert_int_equal(sl_listener_tls_create(&c, "tls", &s, &err), SL_OK);
    assert_non_null(s);
    assert_int_equal(SSL_CTX_get_verify_mode(s), SSL_VERIFY_NONE);
    assert_int_equal(SSL_CTX_get_min_proto_version(s), TLS1_2_VERSION);
    assert_non_null(SSL_CTX_get0_certificate(s));
    SSL_CTX_free(s);
}

static void test_tls_with_client_verification(void **state)
{
    struct fixture *fx = *state;
    struct sl_listener_tls_conf c = { .cert_file = fx->cert,
                                      .key_file = fx->key,
                                      .ca_file = fx->cert,
                                      .verify_client = true };
    struct sl_err err = { 0 };
    SSL_CTX *s = NULL;

    assert_int_equal(sl_listener_tls_create(&c, "tls", &s, &err), SL_OK);
    assert_non_null(s);
    assert_int_equal(SSL_CTX_get_verify_mode(s),
                     SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT);
    SSL_CTX_free(s);
}

static void test_tls_errors(void **state)
{
    struct fixture *fx = *state;
    struct sl_listener_tls_conf c = { .cert_file = "/nonexistent/cert.pem",
                                      .key_file = fx->key };
    struct sl_err err = { 0 };
    SSL_CTX *s = NULL;

    assert_int_equal(sl_listener_tls_create(&c, "tls", &s, &err), SL_ECONFIG);
    assert_null(s);
    assert_non_null(
        strstr(err.msg, "cannot load tls.cert_file '/nonexistent/cert.pem': "));
    c.cert_file = fx->cert;
    c.key_file = fx->other_key;
    assert_int_equal(sl_listener_tls_create(&c, "tls", &s, &err), SL_ECONFIG);
    assert_null(s);
    assert_non_null(strstr(err.msg, "cannot use tls.key_file '"));
    c.key_file = fx->key;
    c.ca_file = "/nonexistent/ca.pem";
    assert_int_equal(sl_listener_tls_create(&c, "tls", &s, &err), SL_ECONFIG);
    assert_non_null(
        strstr(err.msg, "cannot load tls.ca_file '/nonexistent/ca.pem': "));
    c.ca_file = NULL;
    c.verify_client = true;
    assert_int_equal(sl_listener_tls_create(&c, "tls", &s, &err), SL_ECONFIG);
    assert_string_equal(err.msg, "tls.verify_client needs tls.ca_file");
    c.key_file = NULL;
    assert_int_equal(sl_listener_tls_create(&c, "mode tls", &s, &err),
                     SL_ECONFIG);
    assert_string_equal(err.msg,
                        "mode tls needs tls.cert_file and tls.key_file");
    assert_null(s);
}

static void test_bev_plain_and_tls(void **state)
{
    struct fixture *fx = *state;
    struct sl_listener_tls_conf c = { .cert_file = fx->cert,
                                      .key_file = fx->key };
    struct event_base *base = event_base_new();
    struct sl_err err = { 0 };
    struct bufferevent *bev;
    SSL_CTX *s = NULL;

    assert_non_null(base);
    bev = sl_listener_bev(base, NULL, -1, BEV_OPT_CLOSE_ON_FREE);
    assert_non_null(bev);
    assert_null(bufferevent_openssl_get_ssl(bev));
    bufferevent_free(bev);
    assert_int_equal(sl_listener_tls_create(&c, "tls", &s, &err), SL_OK);
    bev = sl_listener_bev(base, s, -1, BEV_OPT_CLOSE_ON_FREE);
    assert_non_null(bev);
    assert_non_null(bufferevent_openssl_get_ssl(bev));
    bufferevent_free(bev);
    SSL_CTX_free(s);
    event_base_free(base);
}

static void test_admit(void **state)
{
    struct fixture *fx = *state;
    struct sl_listener_conf c = { .max_connections = 2 };
    char text[512];

    log_to(fx->log);
    assert_true(sl_listener_admit(NULL, &c, 0, NULL));
    assert_true(sl_listener_admit(NULL, &c, 1, NULL));
    assert_false(sl_listener_admit(NULL, &c, 2, NULL));
    assert_false(sl_listener_admit(NULL, &c, 3, NULL));
    log_to(NULL);
    read_file(fx->log, text, sizeof(text));
    assert_non_null(
        strstr(text, "max_connections (2) reached: closing a new connection"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bind_port_zero_writes_port_file),
        cmocka_unit_test(test_bind_datagram_and_no_port_file),
        cmocka_unit_test(test_bind_errors),
        cmocka_unit_test(test_port_file_errors),
        cmocka_unit_test(test_tls_without_client_verification),
        cmocka_unit_test(test_tls_with_client_verification),
        cmocka_unit_test(test_tls_errors),
        cmocka_unit_test(test_bev_plain_and_tls),
        cmocka_unit_test(test_admit),
    };

    sl_log_setup(SL_LOG_INFO, SL_LOG_FORMAT_TEXT);
    return cmocka_run_group_tests(tests, setup, teardown);
}
