/*
 * test_metrics.c - the metrics registry, its Prometheus and JSON encoders,
 * and the admin HTTP server that serves them.
 *
 * Registry: counter, gauge and histogram values, label escaping, the exact
 * Prometheus text of a small registry, JSON that parses, sums over label
 * subsets, the plugin API, exact sums under 4 concurrent writers, OOM at
 * every allocation, and `promtool check metrics` on the output when
 * /usr/bin/promtool exists.
 *
 * Admin: a server on an ephemeral port of its own event_base, driven by a
 * client thread that speaks raw HTTP/1.1 over a socket; every response's
 * code, headers and body are checked.
 *
 * The plugin API is exercised on a real standalone instance (the null
 * output), so the test links the same accessors the daemon uses.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <event2/event.h>
#include <yajl/yajl_tree.h>

#include "admin.h"
#include "health.h"
#include "log.h"
#include "metrics.h"
#include "plugin.h"
#include "sluice/buf.h"
#include "sluice/mem.h"
#include "sluice/metrics.h"
#include "sluice/plugin.h"

#include "engine.h"
#include "plugin.h"
#include "sluice/banned.h"

#define PROMTOOL "/usr/bin/promtool"

static const char *const tail0[] = { "name", "tail.0", "plugin", "tail", NULL };

/* Renders <m> as Prometheus text; the caller frees the result. */
static char *prom_text(struct sl_metrics *m)
{
    struct sl_buf b;

    sl_buf_init(&b, 0);
    assert_int_equal(sl_metrics_write_prometheus(m, &b), SL_OK);
    return sl_buf_take(&b);
}

static char *json_text(struct sl_metrics *m)
{
    struct sl_buf b;

    sl_buf_init(&b, 0);
    assert_int_equal(sl_metrics_write_json(m, &b), SL_OK);
    return sl_buf_take(&b);
}

/* ---- registry ---- */

static void test_counter_gauge(void **state)
{
    struct sl_metrics *m = sl_metrics_create();
    struct sl_metric *c;
    struct sl_metric *g;

    (void)state;
    assert_non_null(m);
    c = sl_metrics_get(m, "sluice_records_total", "Records.", SL_METRIC_COUNTER,
                       tail0);
    assert_non_null(c);
    sl_metric_add(c, 40);
    sl_metric_add(c, 2);
    assert_int_equal(sl_metric_value(c), 42);
    assert_ptr_equal(sl_metrics_get(m, "sluice_records_total", "Records.",
                                    SL_METRIC_COUNTER, tail0),
                     c);
    /* Same name, another type. */
    assert_null(
        sl_metrics_get(m, "sluice_records_total", "x", SL_METRIC_GAUGE, tail0));
    g = sl_metrics_get(m, "sluice_depth", "Depth.", SL_METRIC_GAUGE, NULL);
    sl_metric_set(g, 10);
    sl_metric_inc(g, -15);
    assert_int_equal(sl_metric_get_i64(g), -5);
    /* Invalid names and labels. */
    assert_null(sl_metrics_get(m, "bad-name", "x", SL_METRIC_GAUGE, NULL));
    assert_null(sl_metrics_get(m, "", "x", SL_METRIC_GAUGE, NULL));
    {
        const char *const bad[] = { "1abc", "v", NULL };
        const char *const novalue[] = { "a", NULL, NULL };

        assert_null(sl_metrics_get(m, "ok", "x", SL_METRIC_GAUGE, bad));
        assert_null(sl_metrics_get(m, "ok", "x", SL_METRIC_GAUGE, novalue));
    }
    /* NULL metrics are no-ops. */
    sl_metric_add(NULL, 1);
    sl_metric_set(NULL, 1);
    sl_metric_inc(NULL, 1);
    sl_metric_observe(NULL, 1);
    assert_int_equal(sl_metric_value(NULL), 0);
    sl_metrics_destroy(m);
    sl_metrics_destroy(NULL);
}

static const char golden[] =
    "# HELP sluice_records_total Records in.\n"
    "# TYPE sluice_records_total counter\n"
    "sluice_records_total{name=\"tail.0\",plugin=\"tail\"} 42\n"
    "sluice_records_total{name=\"we\\\"ird\\\\x\\n\",plugin=\"tail\"} 1\n"
    "# HELP sluice_queue_depth Queued \\\\ chunks.\\nSecond line.\n"
    "# TYPE sluice_queue_depth gauge\n"
    "sluice_queue_depth -5\n"
    "# HELP sluice_flush_seconds Flush latency.\n"
    "# TYPE sluice_flush_seconds histogram\n"
    "sluice_flush_seconds_bucket{name=\"out.0\",le=\"0.1\"} 1\n"
    "sluice_flush_seconds_bucket{name=\"out.0\",le=\"0.5\"} 3\n"
    "sluice_flush_seconds_bucket{name=\"out.0\",le=\"2.5\"} 3\n"
    "sluice_flush_seconds_bucket{name=\"out.0\",le=\"+Inf\"} 4\n"
    "sluice_flush_seconds_sum{name=\"out.0\"} 3.8125\n"
    "sluice_flush_seconds_count{name=\"out.0\"} 4\n"
    "# HELP sluice_ratio A ratio.\n"
    "# TYPE sluice_ratio gauge\n"
    "sluice_ratio 0.1\n";

static double fn_ratio(void *arg)
{
    (void)arg;
    return 0.1;
}

/* The small registry whose text is <golden>. */
static struct sl_metrics *golden_registry(void)
{
    static const double bounds[] = { 0.1, 0.5, 2.5 };
    const char *const weird[] = { "name", "we\"ird\\x\n", "plugin", "tail",
                                  NULL };
    const char *const out0[] = { "name", "out.0", NULL };
    struct sl_metrics *m = sl_metrics_create();
    struct sl_metric *h;

    assert_non_null(m);
    sl_metric_add(sl_metrics_get(m, "sluice_records_total", "Records in.",
                                 SL_METRIC_COUNTER, tail0),
                  42);
    sl_metric_add(sl_metrics_get(m, "sluice_records_total", "Records in.",
                                 SL_METRIC_COUNTER, weird),
                  1);
    sl_metric_set(sl_metrics_get(m, "sluice_queue_depth",
                                 "Queued \\ chunks.\nSecond line.",
                                 SL_METRIC_GAUGE, NULL),
                  -5);
    h = sl_metrics_histogram(m, "sluice_flush_seconds", "Flush latency.", out0,
                             bounds, 3);
    assert_non_null(h);
    sl_metric_observe(h, 0.0625);
    sl_metric_observe(h, 0.5); /* on the bound: counted in le="0.5" */
    sl_metric_observe(h, 3);
    sl_metric_observe(h, 0.25);
    assert_int_equal(sl_metrics_gauge_fn(m, "sluice_ratio", "A ratio.", NULL,
                                         fn_ratio, NULL),
                     SL_OK);
    return m;
}

static void test_prometheus_golden(void **state)
{
    struct sl_metrics *m = golden_registry();
    char *text = prom_text(m);

    (void)state;
    assert_string_equal(text, golden);
    sl_free(text);
    sl_metrics_destroy(m);
}

static void test_histogram_rules(void **state)
{
    static const double unsorted[] = { 1, 0.5 };
    static const double b[] = { 1, 2 };
    struct sl_metrics *m = sl_metrics_create();
    struct sl_metric *h;

    (void)state;
    assert_null(sl_metrics_histogram(m, "h_seconds", "H.", NULL, unsorted, 2));
    assert_null(sl_metrics_histogram(m, "h_seconds", "H.", NULL, b, 0));
    h = sl_metrics_histogram(m, "h_seconds", "H.", NULL, b, 2);
    assert_non_null(h);
    /* Adds and sets do not apply to histograms. */
    sl_metric_add(h, 5);
    sl_metric_set(h, 5);
    assert_int_equal(sl_metric_value(h), 0);
    /* sl_metrics_get on a histogram name finds the same series. */
    assert_ptr_equal(
        sl_metrics_get(m, "h_seconds", "H.", SL_METRIC_HISTOGRAM, NULL), h);
    /* Default buckets for a histogram created through sl_metrics_get. */
    assert_non_null(
        sl_metrics_get(m, "d_seconds", "D.", SL_METRIC_HISTOGRAM, NULL));
    sl_metrics_destroy(m);
}

static yajl_val parse_json(const char *text)
{
    char errbuf[256];
    yajl_val v = yajl_tree_parse(text, errbuf, sizeof(errbuf));

    if (v == NULL) {
        fail_msg("not JSON: %s (%s)", text, errbuf);
    }
    return v;
}

static yajl_val jget(yajl_val v, const char *a, const char *b, yajl_type type)
{
    const char *path[] = { a, b, NULL };

    return yajl_tree_get(v, path, type);
}

static void test_json(void **state)
{
    struct sl_metrics *m = golden_registry();
    char *text = json_text(m);
    yajl_val v = parse_json(text);
    yajl_val fams = jget(v, "metrics", NULL, yajl_t_array);
    yajl_val f;
    yajl_val s;

    (void)state;
    assert_non_null(fams);
    assert_int_equal(YAJL_GET_ARRAY(fams)->len, 4);
    f = YAJL_GET_ARRAY(fams)->values[0];
    assert_string_equal(YAJL_GET_STRING(jget(f, "name", NULL, yajl_t_string)),
                        "sluice_records_total");
    assert_string_equal(YAJL_GET_STRING(jget(f, "type", NULL, yajl_t_string)),
                        "counter");
    s = YAJL_GET_ARRAY(jget(f, "series", NULL, yajl_t_array))->values[1];
    assert_string_equal(
        YAJL_GET_STRING(jget(s, "labels", "name", yajl_t_string)),
        "we\"ird\\x\n");
    assert_int_equal(YAJL_GET_INTEGER(jget(s, "value", NULL, yajl_t_number)),
                     1);
    f = YAJL_GET_ARRAY(fams)->values[1];
    s = YAJL_GET_ARRAY(jget(f, "series", NULL, yajl_t_array))->values[0];
    assert_int_equal(YAJL_GET_INTEGER(jget(s, "value", NULL, yajl_t_number)),
                     -5);
    f = YAJL_GET_ARRAY(fams)->values[2];
    s = YAJL_GET_ARRAY(jget(f, "series", NULL, yajl_t_array))->values[0];
    assert_int_equal(YAJL_GET_INTEGER(jget(s, "count", NULL, yajl_t_number)),
                     4);
    assert_true(YAJL_GET_DOUBLE(jget(s, "sum", NULL, yajl_t_number)) == 3.8125);
    assert_int_equal(
        YAJL_GET_ARRAY(jget(s, "buckets", NULL, yajl_t_array))->len, 4);
    assert_non_null(strstr(text, "{\"le\":\"+Inf\",\"count\":4}"));
    yajl_tree_free(v);
    sl_free(text);
    sl_metrics_destroy(m);
}

static void test_sum(void **state)
{
    const char *const tail1[] = { "name", "tail.1", "plugin", "tail", NULL };
    const char *const http0[] = { "name", "http.0", "plugin", "http", NULL };
    const char *const only_tail[] = { "plugin", "tail", NULL };
    const char *const only_t1[] = { "name", "tail.1", NULL };
    struct sl_metrics *m = sl_metrics_create();

    (void)state;
    sl_metric_add(
        sl_metrics_get(m, "sluice_in_total", "In.", SL_METRIC_COUNTER, tail0),
        1);
    sl_metric_add(
        sl_metrics_get(m, "sluice_in_total", "In.", SL_METRIC_COUNTER, tail1),
        10);
    sl_metric_add(
        sl_metrics_get(m, "sluice_in_total", "In.", SL_METRIC_COUNTER, http0),
        100);
    assert_true(sl_metrics_sum(m, "sluice_in_total", NULL) == 111);
    assert_true(sl_metrics_sum(m, "sluice_in_total", only_tail) == 11);
    assert_true(sl_metrics_sum(m, "sluice_in_total", only_t1) == 10);
    assert_true(sl_metrics_sum(m, "sluice_nothing", NULL) == 0);
    sl_metrics_destroy(m);
}

static void test_plugin_api(void **state)
{
    struct sl_errlist errs;
    struct sl_instance *insp;
    struct sl_metric *c;
    struct sl_metric *g;
    char *text;

    (void)state;
    sl_errlist_init(&errs);
    insp = sl_instance_create_standalone(sl_plugin_find(SL_PLUGIN_OUTPUT,
                                                        "null"),
                                         "{alias: tail.0}", &errs);
    assert_non_null(insp);
    insp->metrics = sl_metrics_create();
#define ins (*insp)
    sl_log_setup(SL_LOG_OFF, SL_LOG_FORMAT_JSON);
    c = sl_metric_counter(&ins, "sluice_tail_rotations_total", "Rotations.",
                          "file", "a.log");
    g = sl_metric_gauge(&ins, "sluice_tail_files", "Files.", NULL, NULL);
    assert_non_null(c);
    assert_non_null(g);
    assert_ptr_equal(sl_metric_counter(&ins, "sluice_tail_rotations_total",
                                       "Rotations.", "file", "a.log"),
                     c);
    /* Naming rules. */
    assert_null(sl_metric_counter(&ins, "sluice_rotations", "x", NULL, NULL));
    assert_null(
        sl_metric_counter(&ins, "tail_rotations_total", "x", NULL, NULL));
    assert_null(sl_metric_gauge(&ins, "sluice_files_total", "x", NULL, NULL));
    assert_null(sl_metric_counter(NULL, "sluice_x_total", "x", NULL, NULL));
    sl_metric_add(c, 3);
    sl_metric_set(g, 7);
    text = prom_text(ins.metrics);
    assert_non_null(strstr(text, "sluice_tail_rotations_total{name=\"tail.0\","
                                 "plugin=\"null\",file=\"a.log\"} 3\n"));
    assert_non_null(
        strstr(text, "sluice_tail_files{name=\"tail.0\",plugin=\"null\"} 7\n"));
    sl_free(text);
    sl_metrics_destroy(ins.metrics);
#undef ins
    insp->metrics = NULL;
    sl_instance_destroy(insp);
    sl_log_setup(SL_LOG_INFO, SL_LOG_FORMAT_AUTO);
}

struct hammer {
    struct sl_metric *c;
    struct sl_metric *g;
    struct sl_metric *h;
};

static void *hammer_run(void *arg)
{
    struct hammer *hm = arg;
    int i;

    for (i = 0; i < 100000; i++) {
        sl_metric_add(hm->c, 1);
        sl_metric_inc(hm->g, i % 2 ? 1 : -1);
        sl_metric_observe(hm->h, 1.0);
    }
    return NULL;
}

static void test_concurrency(void **state)
{
    static const double b[] = { 0.5, 2 };
    struct sl_metrics *m = sl_metrics_create();
    struct hammer hm;
    pthread_t t[4];
    char *text;
    int i;

    (void)state;
    hm.c = sl_metrics_get(m, "c_total", "C.", SL_METRIC_COUNTER, NULL);
    hm.g = sl_metrics_get(m, "g", "G.", SL_METRIC_GAUGE, NULL);
    hm.h = sl_metrics_histogram(m, "h_seconds", "H.", NULL, b, 2);
    for (i = 0; i < 4; i++) {
        assert_int_equal(pthread_create(&t[i], NULL, hammer_run, &hm), 0);
    }
    for (i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
    }
    assert_int_equal(sl_metric_value(hm.c), 400000);
    assert_int_equal(sl_metric_get_i64(hm.g), 0);
    text = prom_text(m);
    assert_non_null(strstr(text, "h_seconds_bucket{le=\"2\"} 400000\n"));
    assert_non_null(strstr(text, "h_seconds_bucket{le=\"0.5\"} 0\n"));
    assert_non_null(strstr(text, "h_seconds_sum 400000\n"));
    assert_non_null(strstr(text, "h_seconds_count 400000\n"));
    sl_free(text);
    sl_metrics_destroy(m);
}

static void test_process(void **state)
{
    struct sl_metrics *m = sl_metrics_create();
    const char *const v[] = { "version", SL_VERSION, NULL };
    char *text;

    (void)state;
    assert_int_equal(sl_metrics_add_process(m, 0), SL_OK);
    text = prom_text(m);
    assert_non_null(strstr(text, "# TYPE sluice_build_info gauge\n"
                                 "sluice_build_info{version=\"" SL_VERSION
                                 "\"} 1\n"));
    assert_non_null(strstr(text, "# TYPE process_cpu_seconds_total counter\n"));
    assert_non_null(strstr(text, "\nsluice_uptime_seconds "));
    assert_non_null(strstr(text, "\nprocess_start_time_seconds 1"));
    assert_true(sl_metrics_sum(m, "process_resident_memory_bytes", NULL) > 1e5);
    assert_true(sl_metrics_sum(m, "process_open_fds", NULL) >= 3);
    assert_true(sl_metrics_sum(m, "process_cpu_seconds_total", NULL) >= 0);
    assert_true(sl_metrics_sum(m, "sluice_build_info", v) == 1);
    sl_free(text);
    sl_metrics_destroy(m);
}

/* Runs promtool check metrics on <text>; fails on any complaint. */
static void promtool_check(const char *text)
{
    char in[] = "/tmp/sluice-prom-in-XXXXXX";
    char out[] = "/tmp/sluice-prom-out-XXXXXX";
    int ifd = mkstemp(in);
    int ofd = mkstemp(out);
    char report[4096];
    ssize_t n;
    int status;
    pid_t pid;

    assert_true(ifd >= 0 && ofd >= 0);
    assert_int_equal(write(ifd, text, strlen(text)), (ssize_t)strlen(text));
    lseek(ifd, 0, SEEK_SET);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(ifd, 0);
        dup2(ofd, 1);
        dup2(ofd, 2);
        execl(PROMTOOL, "promtool", "check", "metrics", (char *)NULL);
        _exit(127);
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    n = pread(ofd, report, sizeof(report) - 1, 0);
    report[n > 0 ? n : 0] = '\0';
    unlink(in);
    unlink(out);
    close(ifd);
    close(ofd);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || report[0] != '\0') {
        fail_msg("promtool: status %d: %s\n%s", status, report, text);
    }
}

static void test_promtool(void **state)
{
    struct sl_metrics *m;
    char *text;

    (void)state;
    if (access(PROMTOOL, X_OK) != 0) {
        skip();
    }
    m = golden_registry();
    assert_int_equal(sl_metrics_add_process(m, 0), SL_OK);
    text = prom_text(m);
    promtool_check(text);
    sl_free(text);
    sl_metrics_destroy(m);
    /* A family whose only series failed to allocate: HELP/TYPE alone. */
    promtool_check("# HELP sluice_x_total X.\n# TYPE sluice_x_total counter\n"
                   "# HELP sluice_y Y.\n# TYPE sluice_y gauge\nsluice_y 1\n");
}

/* Builds, encodes and destroys a registry with the allocator failing at
 * the <n>th allocation; returns true when nothing failed. */
static bool oom_round(long n)
{
    struct sl_metrics *m;
    struct sl_buf b;
    long failures;

    sl_buf_init(&b, 0);
    sl_mem_fail_after(n);
    m = sl_metrics_create();
    if (m != NULL) {
        sl_metric_add(
            sl_metrics_get(m, "a_total", "A.", SL_METRIC_COUNTER, tail0), 1);
        sl_metrics_add_process(m, 0);
        sl_metrics_write_prometheus(m, &b);
        sl_metrics_write_json(m, &b);
    }
    failures = sl_mem_failures();
    sl_mem_fail_after(-1);
    sl_metrics_destroy(m);
    sl_buf_fini(&b);
    return failures == 0;
}

static void test_oom(void **state)
{
    uint64_t before = sl_mem_in_use();
    long n;

    (void)state;
    for (n = 0; n < 10000; n++) {
        if (oom_round(n)) {
            break;
        }
        assert_int_equal(sl_mem_in_use(), before);
    }
    assert_true(n > 5);
    assert_true(n < 10000);
    assert_int_equal(sl_mem_in_use(), before);
}

/* ---- admin server ---- */

struct http_req {
    const char *method;
    const char *path;
    bool fail; /* make the health hook report a failing output first */
    char resp[65536];
    size_t len;
};

struct http_client {
    int port;
    int done_fd;
    struct http_req *reqs;
    size_t n;
    int fail; /* read by the health hook on the loop thread */
};

static void http_do(int port, struct http_req *r)
{
    struct sockaddr_in sa = { .sin_family = AF_INET,
                              .sin_port = htons((uint16_t)port) };
    struct timeval tv = { .tv_sec = 5 };
    char req[512];
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    ssize_t n;
    int len;

    r->len = 0;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        close(fd);
        return;
    }
    len = snprintf(req, sizeof(req),
                   "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                   "Connection: close\r\nContent-Length: 0\r\n\r\n",
                   r->method, r->path);
    if (write(fd, req, (size_t)len) == len) {
        while ((n = read(fd, r->resp + r->len, sizeof(r->resp) - 1 - r->len)) >
               0) {
            r->len += (size_t)n;
        }
    }
    r->resp[r->len] = '\0';
    close(fd);
}

static void *http_client_run(void *arg)
{
    struct http_client *c = arg;
    size_t i;

    for (i = 0; i < c->n; i++) {
        __atomic_store_n(&c->fail, c->reqs[i].fail, __ATOMIC_SEQ_CST);
        http_do(c->port, &c->reqs[i]);
    }
    if (write(c->done_fd, "x", 1) != 1) {
        return NULL;
    }
    return NULL;
}

static void health_hook(void *arg, struct sl_health *h)
{
    struct http_client *c = arg;

    h->live = true;
    h->ready = !__atomic_load_n(&c->fail, __ATOMIC_SEQ_CST);
    h->n = 2;
    snprintf(h->items[0].name, sizeof(h->items[0].name), "tail.0");
    snprintf(h->items[0].kind, sizeof(h->items[0].kind), "input");
    snprintf(h->items[0].plugin, sizeof(h->items[0].plugin), "tail");
    snprintf(h->items[0].status, sizeof(h->items[0].status), "ok");
    h->items[0].ok = true;
    snprintf(h->items[1].name, sizeof(h->items[1].name), "http.0");
    snprintf(h->items[1].kind, sizeof(h->items[1].kind), "output");
    snprintf(h->items[1].plugin, sizeof(h->items[1].plugin), "http");
    h->items[1].ok = h->ready;
    snprintf(h->items[1].status, sizeof(h->items[1].status), "%s",
             h->ready ? "ok" : "failing");
    snprintf(h->items[1].reason, sizeof(h->items[1].reason), "%s",
             h->ready ? "" : "connection \"refused\"");
    h->items[1].consecutive_failures = h->ready ? 0 : 7;
}

static void loop_break_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    event_base_loopbreak(arg);
}

/* Runs the loop until the client has made every request (or 20 s). */
static void run_client(struct event_base *base, struct http_client *c)
{
    struct timeval deadline = { .tv_sec = 20 };
    struct event *done;
    struct event *timer;
    pthread_t t;
    int p[2];

    assert_int_equal(pipe(p), 0);
    c->done_fd = p[1];
    done = event_new(base, p[0], EV_READ, loop_break_cb, base);
    timer = evtimer_new(base, loop_break_cb, base);
    event_add(done, NULL);
    evtimer_add(timer, &deadline);
    assert_int_equal(pthread_create(&t, NULL, http_client_run, c), 0);
    event_base_dispatch(base);
    pthread_join(t, NULL);
    event_free(done);
    event_free(timer);
    close(p[0]);
    close(p[1]);
}

static const char *http_body(const struct http_req *r)
{
    const char *b = strstr(r->resp, "\r\n\r\n");

    return b != NULL ? b + 4 : "";
}

static bool http_has(const struct http_req *r, const char *header_line)
{
    return strstr(r->resp, header_line) != NULL;
}

static void check_health_ok(const struct http_req *r)
{
    yajl_val v = parse_json(http_body(r));
    yajl_val comps = jget(v, "components", NULL, yajl_t_array);
    yajl_val ts = jget(v, "timestamp", NULL, yajl_t_string);

    assert_string_equal(YAJL_GET_STRING(jget(v, "status", NULL, yajl_t_string)),
                        "ok");
    assert_non_null(ts);
    assert_int_equal(strlen(ts->u.string), 24);
    assert_non_null(jget(v, "uptime_seconds", NULL, yajl_t_number));
    assert_string_equal(
        YAJL_GET_STRING(jget(v, "version", NULL, yajl_t_string)), SL_VERSION);
    assert_int_equal(YAJL_GET_ARRAY(comps)->len, 2);
    assert_null(jget(v, "reasons", NULL, yajl_t_array));
    yajl_tree_free(v);
}

static void check_health_failing(const struct http_req *r)
{
    yajl_val v = parse_json(http_body(r));
    yajl_val comps = jget(v, "components", NULL, yajl_t_array);
    yajl_val reasons = jget(v, "reasons", NULL, yajl_t_array);
    yajl_val c1;

    assert_string_equal(YAJL_GET_STRING(jget(v, "status", NULL, yajl_t_string)),
                        "error");
    assert_non_null(reasons);
    assert_int_equal(YAJL_GET_ARRAY(reasons)->len, 1);
    assert_string_equal(YAJL_GET_STRING(YAJL_GET_ARRAY(reasons)->values[0]),
                        "http.0: connection \"refused\"");
    c1 = YAJL_GET_ARRAY(comps)->values[1];
    assert_string_equal(
        YAJL_GET_STRING(jget(c1, "status", NULL, yajl_t_string)), "failing");
    assert_true(YAJL_IS_FALSE(jget(c1, "ok", NULL, yajl_t_any)));
    assert_int_equal(
        YAJL_GET_INTEGER(jget(c1, "consecutive_failures", NULL, yajl_t_number)),
        7);
    assert_string_equal(YAJL_GET_STRING(jget(c1, "kind", NULL, yajl_t_string)),
                        "output");
    yajl_tree_free(v);
}

static struct http_req admin_reqs[] = {
    { .method = "GET", .path = "/metrics" },
    { .method = "GET", .path = "/api/v1/metrics" },
    { .method = "GET", .path = "/health" },
    { .method = "GET", .path = "/health/live" },
    { .method = "GET", .path = "/health/ready" },
    { .method = "GET", .path = "/health/ready", .fail = true },
    { .method = "GET", .path = "/health", .fail = true },
    { .method = "GET", .path = "/health/live", .fail = true },
    { .method = "GET", .path = "/nope?x=1" },
    { .method = "POST", .path = "/metrics" },
    { .method = "DELETE", .path = "/health" },
    { .method = "HEAD", .path = "/metrics" },
};

static void check_admin_responses(struct http_req *r)
{
    const char *json = "Content-Type: application/json\r\n";
    char clen[64];

    assert_true(http_has(&r[0], "HTTP/1.1 200 OK\r\n"));
    assert_true(http_has(&r[0], "Content-Type: text/plain; version=0.0.4; "
                                "charset=utf-8\r\n"));
    /* The registry's text, then the admin server's own tap counters. */
    assert_memory_equal(http_body(&r[0]), golden, strlen(golden));
    assert_non_null(strstr(http_body(&r[0]) + strlen(golden),
                           "\nsluice_admin_tap_records_total 0\n"));
    assert_true(http_has(&r[1], "HTTP/1.1 200 OK\r\n") &&
                http_has(&r[1], json));
    yajl_tree_free(parse_json(http_body(&r[1])));
    assert_true(http_has(&r[2], "HTTP/1.1 200 OK\r\n") &&
                http_has(&r[2], json));
    check_health_ok(&r[2]);
    assert_true(http_has(&r[3], "HTTP/1.1 200 OK\r\n"));
    assert_true(http_has(&r[4], "HTTP/1.1 200 OK\r\n"));
    check_health_ok(&r[4]);
    assert_true(http_has(&r[5], "HTTP/1.1 503 Service Unavailable\r\n"));
    check_health_failing(&r[5]);
    assert_true(http_has(&r[6], "HTTP/1.1 503 "));
    check_health_failing(&r[6]);
    /* Live while the loop turns, even when not ready. */
    assert_true(http_has(&r[7], "HTTP/1.1 200 OK\r\n"));
    assert_true(http_has(&r[8], "HTTP/1.1 404 Not Found\r\n"));
    assert_string_equal(http_body(&r[8]),
                        "{\"error\":\"not found\",\"path\":\"/nope\"}\n");
    assert_true(http_has(&r[9], "HTTP/1.1 405 Method Not Allowed\r\n"));
    assert_true(http_has(&r[9], "Allow: GET, HEAD\r\n"));
    assert_true(http_has(&r[10], "HTTP/1.1 405 "));
    assert_true(http_has(&r[11], "HTTP/1.1 200 OK\r\n"));
    assert_string_equal(http_body(&r[11]), "");
    snprintf(clen, sizeof(clen), "Content-Length: %zu\r\n",
             strlen(http_body(&r[0])));
    assert_true(http_has(&r[11], clen));
    assert_true(http_has(&r[0], clen));
}

static void test_admin(void **state)
{
    struct event_base *base = event_base_new();
    struct sl_metrics *m = golden_registry();
    struct http_client c = { .reqs = admin_reqs,
                             .n = sizeof(admin_reqs) / sizeof(admin_reqs[0]) };
    struct sl_admin_hooks hooks = { .arg = &c, .health = health_hook };
    struct sl_admin *a = NULL;
    struct sl_err err;

    (void)state;
    assert_non_null(base);
    assert_int_equal(sl_admin_create(base, m, &hooks, "127.0.0.1", 0, &a, &err),
                     SL_OK);
    c.port = sl_admin_port(a);
    assert_true(c.port > 0);
    run_client(base, &c);
    check_admin_responses(admin_reqs);
    sl_admin_destroy(a);
    sl_metrics_destroy(m);
    event_base_free(base);
}

static void test_admin_bind_errors(void **state)
{
    struct event_base *base = event_base_new();
    struct sl_admin *a = NULL;
    struct sl_admin *b = NULL;
    struct sl_err err;
    char want[128];
    int rc;

    (void)state;
    assert_int_equal(
        sl_admin_create(base, NULL, NULL, "127.0.0.1", 0, &a, &err), SL_OK);
    rc = sl_admin_create(base, NULL, NULL, "127.0.0.1", sl_admin_port(a), &b,
                         &err);
    assert_int_equal(rc, -EADDRINUSE);
    assert_null(b);
    snprintf(want, sizeof(want),
             "cannot listen on 127.0.0.1:%d: Address already in use",
             sl_admin_port(a));
    assert_string_equal(err.msg, want);
    /* Not an address of this host (binding sends nothing). */
    rc = sl_admin_create(base, NULL, NULL, "192.0.2.1", 0, &b, &err);
    assert_int_equal(rc, -EADDRNOTAVAIL);
    assert_string_equal(err.msg, "cannot listen on 192.0.2.1:0: Cannot "
                                 "assign requested address");
    rc = sl_admin_create(base, NULL, NULL, "127.0.0.1", 70000, &b, &err);
    assert_int_equal(rc, SL_EINVAL);
    sl_admin_destroy(a);
    event_base_free(base);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counter_gauge),
        cmocka_unit_test(test_prometheus_golden),
        cmocka_unit_test(test_histogram_rules),
        cmocka_unit_test(test_json),
        cmocka_unit_test(test_sum),
        cmocka_unit_test(test_plugin_api),
        cmocka_unit_test(test_concurrency),
        cmocka_unit_test(test_process),
        cmocka_unit_test(test_promtool),
        cmocka_unit_test(test_oom),
        cmocka_unit_test(test_admin),
        cmocka_unit_test(test_admin_bind_errors),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
