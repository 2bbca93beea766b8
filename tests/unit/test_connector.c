/*
 * test_connector.c - the stream outputs' client connections
 * (sluice/connector.h) against listeners on 127.0.0.1: connect and send
 * by reference, a refused connection's message, and the settings checked
 * when the connector is made (empty host, TLS files).  Each test runs its
 * own event loop with a deadline; no fixed ports.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "sluice/connector.h"
#include "sluice/banned.h"

/* What the callbacks saw. */
struct seen {
    struct event_base *base;
    int drained;
    int closed;
    char why[512];
};

static void on_drained(struct sl_connector_conn *cn, void *arg)
{
    struct seen *s = arg;

    (void)cn;
    s->drained++;
    event_base_loopbreak(s->base);
}

static void on_closed(struct sl_connector_conn *cn, const char *why, void *arg)
{
    struct seen *s = arg;

    (void)cn;
    s->closed++;
    snprintf(s->why, sizeof(s->why), "%s", why);
    event_base_loopbreak(s->base);
}

static const struct sl_connector_ops ops = {
    .drained = on_drained,
    .closed = on_closed,
};

/* A listening socket on 127.0.0.1 and a free port; *<port> is its port. */
static int listen_local(int64_t *port)
{
    struct sockaddr_in a = { .sin_family = AF_INET };
    socklen_t len = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    assert_true(fd >= 0);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(fd, 4), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    *port = ntohs(a.sin_port);
    return fd;
}

static struct sl_connector_conf conf_for(const char *host, int64_t port)
{
    struct sl_connector_conf c = { .host = (char *)host,
                                   .port = port,
                                   .tls_verify = true,
                                   .connect_timeout = 5000,
                                   .write_timeout = 5000 };

    return c;
}

/* Runs <base> until a callback breaks it, or 10 s pass. */
static void run(struct event_base *base)
{
    struct timeval deadline = { .tv_sec = 10, .tv_usec = 0 };

    event_base_loopexit(base, &deadline);
    event_base_dispatch(base);
}

/* Reads up to <cap> bytes from <fd> until <want> bytes came or 5 s
 * pass. */
static size_t read_all(int fd, char *buf, size_t cap, size_t want)
{
    struct pollfd p = { .fd = fd, .events = POLLIN };
    size_t got = 0;

    while (got < want && got < cap && poll(&p, 1, 5000) == 1) {
        ssize_t n = read(fd, buf + got, cap - got);

        if (n <= 0) {
            break;
        }
        got += (size_t)n;
    }
    return got;
}

static void test_connect_and_send(void **state)
{
    struct seen s = { .base = event_base_new() };
    int64_t port;
    int lfd = listen_local(&port);
    struct sl_connector_conf conf = conf_for("127.0.0.1", port);
    struct sl_err err = { 0 };
    struct sl_connector *c;
    struct sl_connector_conn *cn;
    struct sl_buf data;
    char got[64];
    int afd;

    (void)state;
    c = sl_connector_create(NULL, &conf, false, "test", &err);
    assert_non_null(c);
    cn = sl_connector_conn_create(c, s.base, &ops, &s);
    assert_non_null(cn);
    assert_null(sl_connector_conn_batch(cn));
    assert_int_equal(sl_connector_conn_open(cn), SL_OK);
    /* Opening again while connecting keeps the same connection. */
    assert_int_equal(sl_connector_conn_open(cn), SL_OK);
    sl_buf_init(&data, 0);
    assert_int_equal(sl_buf_append(&data, "one\ntwo\n", 8), SL_OK);
    assert_int_equal(sl_connector_conn_write(cn, &data), SL_OK);
    /* Handed over by reference: the buffer gave its bytes away. */
    assert_int_equal(data.len, 0);
    run(s.base);
    assert_int_equal(s.drained, 1);
    assert_int_equal(s.closed, 0);
    assert_true(sl_connector_conn_fd(cn) >= 0);
    afd = accept(lfd, NULL, NULL);
    assert_true(afd >= 0);
    assert_int_equal(read_all(afd, got, sizeof(got), 8), 8);
    assert_memory_equal(got, "one\ntwo\n", 8);
    sl_connector_conn_close(cn);
    assert_int_equal(sl_connector_conn_fd(cn), -1);
    assert_int_equal(sl_buf_append(&data, "x", 1), SL_OK);
    assert_int_equal(sl_connector_conn_write(cn, &data), SL_ECLOSED);
    sl_buf_fini(&data);
    sl_connector_conn_destroy(cn);
    sl_connector_destroy(c);
    close(afd);
    close(lfd);
    event_base_free(s.base);
}

static void test_refused(void **state)
{
    struct seen s = { .base = event_base_new() };
    int64_t port;
    int lfd = listen_local(&port);
    struct sl_connector_conf conf;
    struct sl_err err = { 0 };
    struct sl_connector *c;
    struct sl_connector_conn *cn;
    char want[64];

    (void)state;
    close(lfd); /* nothing listens on <port> any more */
    conf = conf_for("127.0.0.1", port);
    c = sl_connector_create(NULL, &conf, false, "test", &err);
    assert_non_null(c);
    cn = sl_connector_conn_create(c, s.base, &ops, &s);
    assert_non_null(cn);
    assert_int_equal(sl_connector_conn_open(cn), SL_OK);
    run(s.base);
    assert_int_equal(s.closed, 1);
    assert_int_equal(s.drained, 0);
    snprintf(want, sizeof(want), "connect to 127.0.0.1:%d: ", (int)port);
    assert_true(strncmp(s.why, want, strlen(want)) == 0);
    assert_non_null(strstr(s.why, "Connection refused"));
    /* The failed connection was dropped; the next open starts anew. */
    assert_int_equal(sl_connector_conn_fd(cn), -1);
    sl_connector_conn_destroy(cn);
    sl_connector_destroy(c);
    event_base_free(s.base);
}

static void test_bad_settings(void **state)
{
    struct sl_connector_conf conf = conf_for("", 6514);
    struct sl_err err = { 0 };
    struct sl_connector *c;

    (void)state;
    assert_null(sl_connector_create(NULL, &conf, false, "test", &err));
    assert_int_equal(err.rc, SL_ECONFIG);
    assert_string_equal(err.msg, "test: 'host' is empty");

    conf = conf_for("example.invalid", 6514);
    conf.tls_ca_file = "/nonexistent/ca.pem";
    assert_null(sl_connector_create(NULL, &conf, true, "test", &err));
    assert_int_equal(err.rc, SL_ECONFIG);
    assert_true(strncmp(err.msg,
                        "test: cannot load tls.ca_file "
                        "'/nonexistent/ca.pem': ",
                        strlen("test: cannot load tls.ca_file "
                               "'/nonexistent/ca.pem': ")) == 0);

    /* Without tls the TLS files are not read. */
    c = sl_connector_create(NULL, &conf, false, "test", &err);
    assert_non_null(c);
    sl_connector_destroy(c);

    conf = conf_for("::1", 6514);
    conf.tls_crt_file = "/nonexistent/client.pem";
    assert_null(sl_connector_create(NULL, &conf, true, "test", &err));
    assert_int_equal(err.rc, SL_ECONFIG);
    assert_string_equal(err.msg,
                        "test: tls.crt_file and tls.key_file go together");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_connect_and_send),
        cmocka_unit_test(test_refused),
        cmocka_unit_test(test_bad_settings),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
