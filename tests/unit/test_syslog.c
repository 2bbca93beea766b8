/*
 * test_syslog.c - the syslog parser (RFC 5424, RFC 3164 and its lenient
 * variants; the protocols.md 5.5 corpus) and the stream framer of the
 * syslog input (RFC 6587 octet counting, LF framing, truncation, bad
 * lengths, pauses and split reads).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "plugin.h"
#include "sluice/banned.h"

extern const struct sl_plugin sl_plugin_parser_syslog;
extern const struct sl_plugin sl_plugin_in_syslog;

/* The framer API of plugins/in_syslog/in_syslog.c. */
struct sl_syslog_framer;
typedef bool (*sl_syslog_frame_fn)(void *arg, const char *p, size_t n,
                                   bool truncated);
extern struct sl_syslog_framer *sl_syslog_framer_create(size_t max);
extern void sl_syslog_framer_destroy(struct sl_syslog_framer *f);
extern int sl_syslog_framer_feed(struct sl_syslog_framer *f, const char *p,
                                 size_t n, size_t *used, sl_syslog_frame_fn fn,
                                 void *arg);
extern int sl_syslog_framer_finish(struct sl_syslog_framer *f,
                                   sl_syslog_frame_fn fn, void *arg);

/* 2026-11-21T00:00:00Z */
#define DAY0_S INT64_C(1795219200)
#define NS(s)  ((int64_t)(s)*SL_NS_PER_S)

static struct sl_buf scratch;

static struct sl_instance *make(const char *yaml)
{
    struct sl_errlist errs;
    struct sl_instance *ins;
    char msg[600];

    sl_errlist_init(&errs);
    ins = sl_instance_create_standalone(&sl_plugin_parser_syslog, yaml, &errs);
    if (ins == NULL) {
        sl_err_format(&errs.items[0], msg, sizeof(msg));
        fail_msg("cannot create syslog parser with %s: %s", yaml, msg);
    }
    return ins;
}

/* Parses <n> bytes; returns the body (static) or NULL on SL_EPARSE. */
static const char *parse_n(struct sl_instance *ins, const char *line, size_t n,
                           int64_t *ts)
{
    static char body[8192];
    struct sl_parse_result res = { .scratch = &scratch };
    int rc;

    sl_buf_reset(&scratch);
    rc = sl_instance_parse(ins, line, n, &res);
    if (rc != SL_OK) {
        assert_int_equal(rc, SL_EPARSE);
        return NULL;
    }
    assert_true(res.body.len < sizeof(body));
    memcpy(body, res.body.ptr, res.body.len);
    body[res.body.len] = '\0';
    if (ts != NULL) {
        *ts = res.ts_ns;
    }
    return body;
}

static const char *parse(struct sl_instance *ins, const char *line, int64_t *ts)
{
    return parse_n(ins, line, strlen(line), ts);
}

static int setup(void **state)
{
    (void)state;
    sl_buf_init(&scratch, 0);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    sl_buf_fini(&scratch);
    return 0;
}

#define USER_NOTICE "\"pri\":13,\"facility\":\"user\",\"severity\":\"notice\""

/* Checks a 3164 time without a year: Nov 21 hh:mm:ss in the year closest
 * to now. */
static void assert_bsd_time(int64_t ts, int h, int m, int s)
{
    time_t t = (time_t)(ts / SL_NS_PER_S);
    int64_t now = sl_time_now_ns() / SL_NS_PER_S;
    int64_t d = (int64_t)t > now ? (int64_t)t - now : now - (int64_t)t;
    struct tm tm;

    gmtime_r(&t, &tm);
    assert_int_equal(tm.tm_mon, 10);
    assert_int_equal(tm.tm_mday, 21);
    assert_int_equal(tm.tm_hour, h);
    assert_int_equal(tm.tm_min, m);
    assert_int_equal(tm.tm_sec, s);
    assert_true(d <= 184 * 86400);
}

static void test_descriptor(void **state)
{
    (void)state;
    assert_string_equal(sl_plugin_parser_syslog.name, "syslog");
    assert_int_equal(sl_plugin_parser_syslog.kind, SL_PLUGIN_PARSER);
    assert_ptr_equal(sl_plugin_find(SL_PLUGIN_PARSER, "syslog"),
                     &sl_plugin_parser_syslog);
    assert_ptr_equal(sl_plugin_find(SL_PLUGIN_INPUT, "syslog"),
                     &sl_plugin_in_syslog);
    assert_string_equal(sl_plugin_in_syslog.default_parser, "syslog");
}

/* protocols.md 5.5, rows 1-7 and 17: RFC 3164 and its variants. */
static void test_corpus_3164(void **state)
{
    struct sl_instance *ins = make(NULL);
    int64_t ts = -1;

    (void)state;
    assert_string_equal(
        parse(ins,
              "<34>Nov  1 22:14:15 web01 su: 'su root' failed for alice "
              "on /dev/pts/8",
              &ts),
        "{\"pri\":34,\"facility\":\"auth\",\"severity\":\"crit\","
        "\"hostname\":\"web01\",\"appname\":\"su\",\"message\":\"'su root' "
        "failed for alice on /dev/pts/8\"}");
    assert_int_equal((ts / SL_NS_PER_S) % 86400, 22 * 3600 + 14 * 60 + 15);
    assert_string_equal(
        parse(ins,
              "<30>Nov 21 04:42:37 systemd[1]: Started Daily apt "
              "upgrade.",
              &ts),
        "{\"pri\":30,\"facility\":\"daemon\",\"severity\":\"info\","
        "\"appname\":\"systemd\",\"procid\":\"1\",\"message\":\"Started "
        "Daily apt upgrade.\"}");
    assert_bsd_time(ts, 4, 42, 37);
    assert_string_equal(
        parse(ins, "<13>2026-11-21T04:42:37.516088+00:00 web01 app[42]: msg",
              &ts),
        "{" USER_NOTICE ",\"hostname\":\"web01\",\"appname\":\"app\","
        "\"procid\":\"42\",\"message\":\"msg\"}");
    assert_int_equal(ts, NS(DAY0_S + 4 * 3600 + 42 * 60 + 37) + 516088000);
    assert_string_equal(
        parse(ins,
              "<189>52: *Nov 21 04:42:37.123: %LINK-3-UPDOWN: Interface "
              "Gi0/1, changed state to down",
              &ts),
        "{\"pri\":189,\"facility\":\"local7\",\"severity\":\"notice\","
        "\"message\":\"52: *Nov 21 04:42:37.123: %LINK-3-UPDOWN: Interface "
        "Gi0/1, changed state to down\"}");
    assert_int_equal(ts, 0);
    assert_string_equal(parse(ins, "Nov 21 04:42:37 web01 app: no pri", &ts),
                        "{" USER_NOTICE ",\"hostname\":\"web01\","
                        "\"appname\":\"app\",\"message\":\"no pri\"}");
    assert_bsd_time(ts, 4, 42, 37);
    assert_string_equal(
        parse(ins, "<13>Nov 21 04:42:37 web01 app msg text", NULL),
        "{" USER_NOTICE ",\"hostname\":\"web01\","
        "\"appname\":\"app\",\"message\":\"msg text\"}");
    assert_string_equal(
        parse(ins,
              "<11>Nov 21 04:42:37 web01 java[77]: Exception in thread "
              "\"main\"\n\tat Foo.bar(Foo.java:10)",
              NULL),
        "{\"pri\":11,\"facility\":\"user\",\"severity\":\"err\","
        "\"hostname\":\"web01\",\"appname\":\"java\",\"procid\":\"77\","
        "\"message\":\"Exception in thread \\\"main\\\"\\n\\tat "
        "Foo.bar(Foo.java:10)\"}");
    assert_string_equal(
        parse(ins, "<13>Nov 21 04:42:37 web01 app: msg\r\n", NULL),
        "{" USER_NOTICE ",\"hostname\":\"web01\","
        "\"appname\":\"app\",\"message\":\"msg\"}");
    sl_instance_destroy(ins);
}

/* protocols.md 5.5, rows 8-15: RFC 5424. */
static void test_corpus_5424(void **state)
{
    struct sl_instance *ins = make("{mode: auto}");
    int64_t ts = -1;
    const char *m9 = "<34>1 2026-11-21T04:40:00.003Z mymachine.example.com su "
                     "- ID47 - \xEF\xBB\xBF'su root' failed for lonvick on "
                     "/dev/pts/8";

    (void)state;
    assert_string_equal(parse(ins, "<14>1 - - - - - -", &ts),
                        "{\"pri\":14,\"facility\":\"user\","
                        "\"severity\":\"info\"}");
    assert_int_equal(ts, 0);
    assert_int_equal(strlen(m9), 110);
    assert_string_equal(parse(ins, m9, &ts),
                        "{\"pri\":34,\"facility\":\"auth\",\"severity\":"
                        "\"crit\",\"hostname\":\"mymachine.example.com\","
                        "\"appname\":\"su\",\"msgid\":\"ID47\",\"message\":"
                        "\"'su root' failed for lonvick on /dev/pts/8\"}");
    assert_int_equal(ts, NS(DAY0_S + 4 * 3600 + 40 * 60) + 3000000);
    assert_string_equal(
        parse(ins,
              "<165>1 2026-11-21T22:14:15.003000+05:30 192.0.2.1 myproc "
              "8710 - - %% It's time to make the do-nuts.",
              &ts),
        "{\"pri\":165,\"facility\":\"local4\",\"severity\":\"notice\","
        "\"hostname\":\"192.0.2.1\",\"appname\":\"myproc\",\"procid\":"
        "\"8710\",\"message\":\"%% It's time to make the do-nuts.\"}");
    assert_int_equal(ts, NS(DAY0_S + 16 * 3600 + 44 * 60 + 15) + 3000000);
    assert_string_equal(
        parse(ins,
              "<165>1 2026-11-21T04:40:00Z host app - - "
              "[exampleSDID@32473 iut=\"3\" eventSource=\"Application\" "
              "eventID=\"1011\"][examplePriority@32473 class=\"high\"]",
              NULL),
        "{\"pri\":165,\"facility\":\"local4\",\"severity\":\"notice\","
        "\"hostname\":\"host\",\"appname\":\"app\",\"sd\":{"
        "\"exampleSDID@32473\":{\"iut\":\"3\",\"eventSource\":"
        "\"Application\",\"eventID\":\"1011\"},\"examplePriority@32473\":"
        "{\"class\":\"high\"}}}");
    assert_string_equal(
        parse(ins,
              "<132>1 2026-11-21T04:42:47.516088+00:00 vm myapp - ID47 "
              "[timeQuality tzKnown=\"1\" isSynced=\"0\"][meta@32473 "
              "req=\"a\\\"b\\]c\\\\d\"] hello \"world\"",
              NULL),
        "{\"pri\":132,\"facility\":\"local0\",\"severity\":\"warning\","
        "\"hostname\":\"vm\",\"appname\":\"myapp\",\"msgid\":\"ID47\","
        "\"sd\":{\"timeQuality\":{\"tzKnown\":\"1\",\"isSynced\":\"0\"},"
        "\"meta@32473\":{\"req\":\"a\\\"b]c\\\\d\"}},\"message\":"
        "\"hello \\\"world\\\"\"}");
    assert_string_equal(parse(ins,
                              "<13>1 2026-11-21T04:40:00 host app - - - "
                              "no offset",
                              &ts),
                        "{" USER_NOTICE ",\"hostname\":\"host\","
                        "\"appname\":\"app\",\"message\":\"no offset\"}");
    assert_int_equal(ts, NS(DAY0_S + 4 * 3600 + 40 * 60));
    assert_null(parse(ins, "<192>1 - - - - - - bad pri", NULL));
    assert_string_equal(parse(ins,
                              "<13>1 - host app - - [x@1 "
                              "k=\"unterminated] msg",
                              &ts),
                        "{" USER_NOTICE ",\"message\":\"1 - host app - - "
                        "[x@1 k=\\\"unterminated] msg\"}");
    assert_int_equal(ts, 0);
    sl_instance_destroy(ins);
}

static void test_5424_details(void **state)
{
    static const char nul[] = "<13>1 - - - - - - a\0b\0\0";
    struct sl_instance *ins = make(NULL);

    (void)state;
    /* Other backslashes are kept with their byte; empty values. */
    assert_string_equal(parse(ins,
                              "<13>1 - h a p m [x@1 k=\"a\\nb\" e=\"\" "
                              "k=\"2\"] m",
                              NULL),
                        "{" USER_NOTICE ",\"hostname\":\"h\",\"appname\":"
                        "\"a\",\"procid\":\"p\",\"msgid\":\"m\",\"sd\":{"
                        "\"x@1\":{\"k\":\"a\\\\nb\",\"e\":\"\",\"k\":\"2\"}},"
                        "\"message\":\"m\"}");
    /* An element with no parameters; trailing space, empty MSG. */
    assert_string_equal(parse(ins, "<13>1 - - - - - [origin] ", NULL),
                        "{" USER_NOTICE ",\"sd\":{\"origin\":{}}}");
    /* A BOM alone, and invalid UTF-8 escaped as \xNN text. */
    assert_string_equal(parse(ins, "<13>1 - - - - - - \xEF\xBB\xBF", NULL),
                        "{" USER_NOTICE "}");
    assert_string_equal(parse(ins,
                              "<13>1 - - - - - - a\xff"
                              "b",
                              NULL),
                        "{" USER_NOTICE ",\"message\":\"a\\\\xffb\"}");
    /* A NUL inside the message is kept, trailing NULs are stripped. */
    assert_string_equal(parse_n(ins, nul, sizeof(nul) - 1, NULL),
                        "{" USER_NOTICE ",\"message\":\"a\\u0000b\"}");
    sl_instance_destroy(ins);
}

/* The RFC 5424 times read without the format engine give exactly what
 * sl_time_parse gives, and the forms left to it still parse. */
static void test_5424_times(void **state)
{
    static const char *const times[] = {
        "2026-11-21T06:51:07Z",
        "2026-11-21T06:51:07.1Z",
        "2026-11-21T06:51:07.003Z",
        "2026-11-21T06:51:07.123456789Z",
        "2026-11-21T06:51:07.1234567891Z",
        "2026-11-21T06:51:07z",
        "2026-11-21T06:51:07+02:00",
        "2026-11-21T06:51:07.5-07:30",
        "2026-11-21T06:51:07+0200",
        "2026-02-31T24:00:60Z",
        "1969-12-31T23:59:59.999Z",
        "2026-11-21T06:51:07",
        "2026-11-21T6:51:07Z",
    };
    struct sl_instance *ins = make(NULL);
    char line[128];
    int64_t ts, want;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(times) / sizeof(times[0]); i++) {
        assert_int_equal(sl_time_parse(sl_str_cstr(times[i]), NULL, &want),
                         SL_OK);
        snprintf(line, sizeof(line), "<13>1 %s - - - - - m", times[i]);
        assert_non_null(parse(ins, line, &ts));
        assert_true(ts == want);
    }
    assert_true(want == NS(DAY0_S + 6 * 3600 + 51 * 60 + 7));
    /* Not a time: the message falls back to the BSD reader. */
    assert_null(strstr(parse(ins, "<13>1 2026-11-21T06:51:07.Z - - - - - m",
                             &ts),
                       "\"message\":\"m\"}"));
    sl_instance_destroy(ins);
}

static void test_3164_variants(void **state)
{
    struct sl_instance *ins = make(NULL);
    int64_t ts = -1;

    (void)state;
    assert_string_equal(
        parse(ins, "<13>Nov 21 2026 04:42:37 web01 app: m", &ts),
        "{" USER_NOTICE ",\"hostname\":\"web01\","
        "\"appname\":\"app\",\"message\":\"m\"}");
    assert_int_equal(ts, NS(DAY0_S + 4 * 3600 + 42 * 60 + 37));
    assert_string_equal(parse(ins, "<13>Nov 21 04:42:37.123 web01 app: m", &ts),
                        "{" USER_NOTICE ",\"hostname\":\"web01\","
                        "\"appname\":\"app\",\"message\":\"m\"}");
    assert_int_equal(ts % SL_NS_PER_S, 123000000);
    assert_bsd_time(ts, 4, 42, 37);
    /* Day without padding, and zero-padded. */
    assert_non_null(parse(ins, "<13>Nov 1 04:42:37 web01 app: m", NULL));
    assert_string_equal(parse(ins, "<13>Nov 01 04:42:37 web01 app: m", NULL),
                        "{" USER_NOTICE ",\"hostname\":\"web01\","
                        "\"appname\":\"app\",\"message\":\"m\"}");
    /* ISO time without a hostname; tag: without pid. */
    assert_string_equal(parse(ins, "<13>2026-11-21T04:42:37Z app: m", NULL),
                        "{" USER_NOTICE ",\"appname\":\"app\","
                        "\"message\":\"m\"}");
    /* No tag: the message starts right after the hostname. */
    assert_string_equal(
        parse(ins, "<13>Nov 21 04:42:37 fw %ASA-3-1: text", NULL),
        "{" USER_NOTICE ",\"hostname\":\"fw\","
        "\"message\":\"%ASA-3-1: text\"}");
    /* rsyslog's #012 escapes stay as they are. */
    assert_string_equal(
        parse(ins, "<13>Nov 21 04:42:37 h j[7]: a#012#011b", NULL),
        "{" USER_NOTICE ",\"hostname\":\"h\",\"appname\":"
        "\"j\",\"procid\":\"7\",\"message\":\"a#012#011b\"}");
    /* A PRI and nothing recognisable: the rest is the message. */
    assert_string_equal(parse(ins, "<13>hello world", &ts),
                        "{" USER_NOTICE ",\"message\":\"hello world\"}");
    assert_int_equal(ts, 0);
    assert_string_equal(parse(ins, "<13>", NULL), "{" USER_NOTICE "}");
    sl_instance_destroy(ins);
}

static void test_facility_severity(void **state)
{
    static const struct {
        const char *line;
        const char *want;
    } cases[] = {
        { "<0>x", "{\"pri\":0,\"facility\":\"kern\",\"severity\":\"emerg\"" },
        { "<86>x", "{\"pri\":86,\"facility\":\"authpriv\",\"severity\":"
                   "\"info\"" },
        { "<97>x", "{\"pri\":97,\"facility\":\"ntp\",\"severity\":"
                   "\"alert\"" },
        { "<107>x", "{\"pri\":107,\"facility\":\"security\",\"severity\":"
                    "\"err\"" },
        { "<114>x", "{\"pri\":114,\"facility\":\"console\",\"severity\":"
                    "\"crit\"" },
        { "<120>x", "{\"pri\":120,\"facility\":\"solaris-cron\","
                    "\"severity\":\"emerg\"" },
        { "<191>x", "{\"pri\":191,\"facility\":\"local7\",\"severity\":"
                    "\"debug\"" },
        { "<44>x", "{\"pri\":44,\"facility\":\"syslog\",\"severity\":"
                   "\"warning\"" },
        { "<72>x", "{\"pri\":72,\"facility\":\"cron\",\"severity\":"
                   "\"emerg\"" },
    };
    struct sl_instance *ins = make(NULL);
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *body = parse(ins, cases[i].line, NULL);

        assert_non_null(body);
        assert_memory_equal(body, cases[i].want, strlen(cases[i].want));
    }
    sl_instance_destroy(ins);
}

static void test_invalid(void **state)
{
    static const char *const bad[] = {
        "<192>Nov 21 04:42:37 h a: m",
        "<1000>x",
        "<abc>x",
        "<>x",
        "<13",
        "<013",
        "<-1>x",
        "hello world",
        "",
        "\r\n",
        "Nov 99 04:42:37 h a: m",
        "Nov 21 25:42:37 h a: m",
    };
    struct sl_instance *ins = make(NULL);
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (parse(ins, bad[i], NULL) != NULL) {
            fail_msg("'%s' parsed", bad[i]);
        }
    }
    sl_instance_destroy(ins);
}

static void test_modes(void **state)
{
    struct sl_instance *s5 = make("{mode: rfc5424}");
    struct sl_instance *s3 = make("{mode: rfc3164}");
    struct sl_errlist errs;

    (void)state;
    assert_null(parse(s5, "<13>Nov 21 04:42:37 web01 app: m", NULL));
    assert_null(parse(s5, "<13>1 - h a - - [x k=\"v] m", NULL));
    assert_string_equal(parse(s5, "<13>1 - h - - - - m", NULL),
                        "{" USER_NOTICE ",\"hostname\":\"h\","
                        "\"message\":\"m\"}");
    assert_string_equal(parse(s3, "<13>1 - h - - - - m", NULL),
                        "{" USER_NOTICE ",\"message\":\"1 - h - - - - m\"}");
    assert_string_equal(parse(s3, "<13>Nov 21 04:42:37 web01 app: m", NULL),
                        "{" USER_NOTICE ",\"hostname\":\"web01\","
                        "\"appname\":\"app\",\"message\":\"m\"}");
    sl_errlist_init(&errs);
    assert_null(sl_instance_create_standalone(&sl_plugin_parser_syslog,
                                              "{mode: bsd}", &errs));
    assert_true(errs.n > 0);
    sl_instance_destroy(s5);
    sl_instance_destroy(s3);
}

/* Allocation failures: SL_ENOMEM or success, never a crash or a leak. */
static void test_oom(void **state)
{
    const char *line = "<132>1 2026-11-21T04:42:47Z vm myapp - ID47 "
                       "[meta@32473 req=\"a\\\"b\"] hello";
    struct sl_parse_result res;
    struct sl_instance *ins;
    struct sl_buf b;
    struct sl_errlist errs;
    long k;
    int rc;

    (void)state;
    for (k = 0; k < 40; k++) {
        sl_errlist_init(&errs);
        sl_mem_fail_after(k);
        ins = sl_instance_create_standalone(&sl_plugin_parser_syslog, NULL,
                                            &errs);
        if (ins != NULL) {
            sl_buf_init(&b, 0);
            res.scratch = &b;
            rc = sl_instance_parse(ins, line, strlen(line), &res);
            assert_true(rc == SL_OK || rc == SL_ENOMEM);
            sl_buf_fini(&b);
            sl_instance_destroy(ins);
        }
        sl_mem_fail_after(-1);
    }
}

/* ---- framer ---- */

struct frames {
    size_t n;
    char msg[16][2100];
    size_t len[16];
    bool trunc[16];
    size_t stop_after; /* return false after this many (0: never) */
};

static bool on_frame(void *arg, const char *p, size_t n, bool truncated)
{
    struct frames *fr = arg;

    assert_true(fr->n < 16);
    assert_true(n < sizeof(fr->msg[0]));
    memcpy(fr->msg[fr->n], p, n);
    fr->msg[fr->n][n] = '\0';
    fr->len[fr->n] = n;
    fr->trunc[fr->n] = truncated;
    fr->n++;
    return fr->stop_after == 0 || fr->n < fr->stop_after;
}

/* Feeds <s> in pieces of <step> bytes; returns the last feed's rc. */
static int feed_steps(struct sl_syslog_framer *f, const char *s, size_t n,
                      size_t step, struct frames *out)
{
    size_t off = 0;
    size_t used;
    int rc = SL_OK;

    while (off < n) {
        size_t k = n - off < step ? n - off : step;

        rc = sl_syslog_framer_feed(f, s + off, k, &used, on_frame, out);
        if (rc != SL_OK) {
            return rc;
        }
        assert_int_equal(used, k);
        off += k;
    }
    return rc;
}

static void test_framer_octet_split(void **state)
{
    const char *s = "17 <14>1 - - - - - -99 <165>1 2026-11-21T22:14:15.003000"
                    "+05:30 192.0.2.1 myproc 8710 - - %% It's time to make "
                    "the do-nuts.";
    size_t step;

    (void)state;
    for (step = 1; step <= strlen(s); step++) {
        struct sl_syslog_framer *f = sl_syslog_framer_create(1024);
        struct frames out = { 0 };

        assert_int_equal(feed_steps(f, s, strlen(s), step, &out), SL_OK);
        assert_int_equal(sl_syslog_framer_finish(f, on_frame, &out), SL_OK);
        assert_int_equal(out.n, 2);
        assert_string_equal(out.msg[0], "<14>1 - - - - - -");
        assert_int_equal(out.len[1], 99);
        assert_memory_equal(out.msg[1], "<165>1 2026", 11);
        assert_false(out.trunc[0] || out.trunc[1]);
        sl_syslog_framer_destroy(f);
    }
}

static void test_framer_lf(void **state)
{
    const char s[] = "<13>a\n<13>b\r\n\n<13>c\0<13>d";
    struct sl_syslog_framer *f = sl_syslog_framer_create(1024);
    struct frames out = { 0 };

    (void)state;
    assert_int_equal(feed_steps(f, s, sizeof(s) - 1, 3, &out), SL_OK);
    assert_int_equal(out.n, 3);
    assert_int_equal(sl_syslog_framer_finish(f, on_frame, &out), SL_OK);
    assert_int_equal(out.n, 4);
    assert_string_equal(out.msg[0], "<13>a");
    assert_string_equal(out.msg[1], "<13>b");
    assert_string_equal(out.msg[2], "<13>c");
    assert_string_equal(out.msg[3], "<13>d");
    sl_syslog_framer_destroy(f);
}

static void test_framer_lf_oversize(void **state)
{
    static char s[4096];
    size_t n;
    size_t step;

    (void)state;
    memset(s, 'x', 2000);
    s[0] = '<';
    n = 2000;
    memcpy(s + n, "\n<13>ok\n", 8);
    n += 8;
    for (step = 7; step <= n; step += 331) {
        struct sl_syslog_framer *f = sl_syslog_framer_create(1024);
        struct frames out = { 0 };

        assert_int_equal(feed_steps(f, s, n, step, &out), SL_OK);
        assert_int_equal(out.n, 2);
        assert_int_equal(out.len[0], 1024);
        assert_true(out.trunc[0]);
        assert_string_equal(out.msg[1], "<13>ok");
        assert_false(out.trunc[1]);
        sl_syslog_framer_destroy(f);
    }
}

static void test_framer_octet_oversize(void **state)
{
    static char s[4096];
    size_t n;
    size_t step;

    (void)state;
    memcpy(s, "2000 ", 5);
    memset(s + 5, 'y', 2000);
    n = 2005;
    memcpy(s + n, "6 <13>ok1024 ", 13);
    n += 13;
    memset(s + n, 'z', 1024);
    n += 1024;
    for (step = 1; step <= n; step = step * 3 + 1) {
        struct sl_syslog_framer *f = sl_syslog_framer_create(1024);
        struct frames out = { 0 };

        assert_int_equal(feed_steps(f, s, n, step, &out), SL_OK);
        assert_int_equal(out.n, 3);
        assert_int_equal(out.len[0], 1024);
        assert_true(out.trunc[0]);
        assert_string_equal(out.msg[1], "<13>ok");
        /* Exactly max bytes is whole, not truncated. */
        assert_int_equal(out.len[2], 1024);
        assert_false(out.trunc[2]);
        sl_syslog_framer_destroy(f);
    }
}

static void test_framer_bad_length(void **state)
{
    static const char *const bad[] = { "12a <13>x", "01 x", "12345678901 x",
                                       "5 <13>a<13>b" };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct sl_syslog_framer *f = sl_syslog_framer_create(1024);
        struct frames out = { 0 };
        size_t used = 0;

        assert_int_equal(sl_syslog_framer_feed(f, bad[i], strlen(bad[i]), &used,
                                               on_frame, &out),
                         SL_EPARSE);
        sl_syslog_framer_destroy(f);
    }
}

static void test_framer_pause_and_eof(void **state)
{
    const char *s = "\n5 <13>a5 <13>b5 <13>c4 <13";
    struct sl_syslog_framer *f = sl_syslog_framer_create(1024);
    struct frames out = { .stop_after = 1 };
    size_t used = 0;
    size_t off;

    (void)state;
    assert_int_equal(
        sl_syslog_framer_feed(f, s, strlen(s), &used, on_frame, &out), SL_OK);
    assert_int_equal(out.n, 1);
    assert_int_equal(used, 8); /* stopped right after the first frame */
    off = used;
    out.stop_after = 0;
    assert_int_equal(sl_syslog_framer_feed(f, s + off, strlen(s) - off, &used,
                                           on_frame, &out),
                     SL_OK);
    assert_int_equal(used, strlen(s) - off);
    assert_int_equal(out.n, 3);
    /* The stream ends inside a frame: ingested as truncated. */
    assert_int_equal(sl_syslog_framer_finish(f, on_frame, &out), SL_OK);
    assert_int_equal(out.n, 4);
    assert_string_equal(out.msg[3], "<13");
    assert_true(out.trunc[3]);
    /* After finish the framer detects again (LF this time). */
    assert_int_equal(
        sl_syslog_framer_feed(f, "<1>x\n", 5, &used, on_frame, &out), SL_OK);
    assert_string_equal(out.msg[4], "<1>x");
    assert_int_equal(sl_syslog_framer_feed(f, "12", 2, &used, on_frame, &out),
                     SL_OK);
    sl_syslog_framer_destroy(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_descriptor),
        cmocka_unit_test(test_corpus_3164),
        cmocka_unit_test(test_corpus_5424),
        cmocka_unit_test(test_5424_details),
        cmocka_unit_test(test_5424_times),
        cmocka_unit_test(test_3164_variants),
        cmocka_unit_test(test_facility_severity),
        cmocka_unit_test(test_invalid),
        cmocka_unit_test(test_modes),
        cmocka_unit_test(test_oom),
        cmocka_unit_test(test_framer_octet_split),
        cmocka_unit_test(test_framer_lf),
        cmocka_unit_test(test_framer_lf_oversize),
        cmocka_unit_test(test_framer_octet_oversize),
        cmocka_unit_test(test_framer_bad_length),
        cmocka_unit_test(test_framer_pause_and_eof),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
