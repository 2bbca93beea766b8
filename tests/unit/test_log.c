/*
 * test_log.c - the daemon's own log: JSON lines that parse, escaping of
 * control characters, quotes and invalid UTF-8, the text format, level
 * filtering (global and per instance), truncation of long messages and
 * the per-call-site rate limit.
 *
 * Lines are captured through a pipe installed with sl_log_set_fd and
 * parsed with yajl.  The instance accessors are replaced by weak stubs
 * over a local struct, so the test does not need the engine.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <yajl/yajl_tree.h>

#include "log.h"
#include "plugin.h"
#include "sluice/log.h"
#include "sluice/mem.h"

#include "sluice/banned.h"

void sl_log_test_skew_clock(int64_t s);

struct sl_instance {
    const char *name;
    int level;
};

__attribute__((weak)) const char *
sl_instance_name(const struct sl_instance *ins)
{
    return ins->name;
}

__attribute__((weak)) int sl_instance_log_level(const struct sl_instance *ins)
{
    return ins->level;
}

struct capture {
    int fds[2];
    char buf[1 << 16];
    size_t len;
};

static int cap_setup(void **state)
{
    struct capture *c = sl_calloc(1, sizeof(*c));

    assert_non_null(c);
    assert_int_equal(pipe(c->fds), 0);
    assert_int_not_equal(fcntl(c->fds[0], F_SETFL, O_NONBLOCK), -1);
    sl_log_set_fd(c->fds[1]);
    sl_log_setup(SL_LOG_INFO, SL_LOG_FORMAT_JSON);
    *state = c;
    return 0;
}

static int cap_teardown(void **state)
{
    struct capture *c = *state;

    sl_log_set_fd(-1);
    close(c->fds[0]);
    close(c->fds[1]);
    sl_free(c);
    return 0;
}

/* Reads everything written so far into c->buf (NUL-terminated). */
static const char *cap_read(struct capture *c)
{
    ssize_t n;

    c->len = 0;
    for (;;) {
        n = read(c->fds[0], c->buf + c->len, sizeof(c->buf) - 1 - c->len);
        if (n <= 0) {
            break;
        }
        c->len += (size_t)n;
    }
    c->buf[c->len] = '\0';
    return c->buf;
}

static size_t count_lines(const char *s)
{
    size_t n = 0;

    for (; *s != '\0'; s++) {
        n += *s == '\n';
    }
    return n;
}

/* Parses one JSON line and returns the tree (free with yajl_tree_free). */
static yajl_val parse_line(const char *line)
{
    char errbuf[256];
    yajl_val v = yajl_tree_parse(line, errbuf, sizeof(errbuf));

    if (v == NULL) {
        fail_msg("not JSON: %s (%s)", line, errbuf);
    }
    assert_true(YAJL_IS_OBJECT(v));
    return v;
}

static const char *get_str(yajl_val v, const char *key)
{
    const char *path[] = { key, NULL };
    yajl_val s = yajl_tree_get(v, path, yajl_t_string);

    return s != NULL ? YAJL_GET_STRING(s) : NULL;
}

static void test_json_fields(void **state)
{
    struct capture *c = *state;
    struct sl_log_kv kv[] = { { "path", "/var/log/a.log" }, { "n", "3" } };
    const char *out;
    yajl_val v;

    sl_log_kv(NULL, "engine", SL_LOG_WARN, kv, 2, "rotated %d files", 2);
    out = cap_read(c);
    assert_int_equal(count_lines(out), 1);
    assert_int_equal(out[c->len - 1], '\n');
    v = parse_line(out);
    assert_string_equal(get_str(v, "level"), "warn");
    assert_string_equal(get_str(v, "component"), "engine");
    assert_string_equal(get_str(v, "message"), "rotated 2 files");
    assert_string_equal(get_str(v, "path"), "/var/log/a.log");
    assert_string_equal(get_str(v, "n"), "3");
    /* 2026-11-21T06:51:00.123Z */
    assert_int_equal(strlen(get_str(v, "timestamp")), 24);
    assert_int_equal(get_str(v, "timestamp")[10], 'T');
    assert_int_equal(get_str(v, "timestamp")[23], 'Z');
    assert_int_equal(strncmp(out, "{\"timestamp\":", 13), 0);
    yajl_tree_free(v);
}

static void test_json_escaping(void **state)
{
    struct capture *c = *state;
    struct sl_log_kv kv[] = { { "k\"ey", "v\\al\tue" } };
    yajl_val v;

    sl_log_kv(NULL, "core", SL_LOG_ERROR, kv, 1,
              "q\"uo\\te\nnl\x01 caf\xc3\xa9 bad\xff\xc3 end");
    v = parse_line(cap_read(c));
    assert_string_equal(get_str(v, "message"),
                        "q\"uo\\te\nnl\x01 caf\xc3\xa9 bad\\xff\\xc3 end");
    assert_string_equal(get_str(v, "k\"ey"), "v\\al\tue");
    assert_non_null(strstr(c->buf, "\\u0001"));
    yajl_tree_free(v);
}

static void test_levels(void **state)
{
    struct capture *c = *state;
    struct sl_instance chatty = { .name = "tail.0", .level = SL_LOG_DEBUG };
    struct sl_instance quiet = { .name = "tail.1", .level = -1 };
    int evaluated = 0;
    yajl_val v;

    sl_log_setup(SL_LOG_WARN, SL_LOG_FORMAT_JSON);
    assert_int_equal(sl_log_get_level(), SL_LOG_WARN);
    assert_false(sl_log_enabled(NULL, SL_LOG_INFO));
    assert_true(sl_log_enabled(NULL, SL_LOG_WARN));
    assert_true(sl_log_enabled(NULL, SL_LOG_ERROR));
    assert_false(sl_log_enabled(NULL, SL_LOG_OFF));
    assert_true(sl_log_enabled(&chatty, SL_LOG_DEBUG));
    assert_false(sl_log_enabled(&chatty, SL_LOG_TRACE));
    assert_false(sl_log_enabled(&quiet, SL_LOG_INFO));
    /* The macro must not evaluate its arguments when disabled. */
    sl_clog_info("core", "x %d", ++evaluated);
    sl_log_info(&quiet, "x %d", ++evaluated);
    assert_int_equal(evaluated, 0);
    assert_int_equal(cap_read(c)[0], '\0');
    sl_log_debug(&chatty, "debug from %s", "tail");
    v = parse_line(cap_read(c));
    assert_string_equal(get_str(v, "component"), "tail.0");
    assert_string_equal(get_str(v, "level"), "debug");
    yajl_tree_free(v);
    sl_log_setup(SL_LOG_OFF, SL_LOG_FORMAT_JSON);
    assert_false(sl_log_enabled(NULL, SL_LOG_ERROR));
}

static void test_level_names(void **state)
{
    (void)state;
    assert_int_equal(sl_log_level_parse("error"), SL_LOG_ERROR);
    assert_int_equal(sl_log_level_parse("warn"), SL_LOG_WARN);
    assert_int_equal(sl_log_level_parse("warning"), SL_LOG_WARN);
    assert_int_equal(sl_log_level_parse("INFO"), SL_LOG_INFO);
    assert_int_equal(sl_log_level_parse("debug"), SL_LOG_DEBUG);
    assert_int_equal(sl_log_level_parse("trace"), SL_LOG_TRACE);
    assert_int_equal(sl_log_level_parse("off"), SL_LOG_OFF);
    assert_int_equal(sl_log_level_parse("verbose"), -1);
    assert_int_equal(sl_log_level_parse(NULL), -1);
    assert_string_equal(sl_log_level_name(SL_LOG_WARN), "warn");
    assert_string_equal(sl_log_level_name(SL_LOG_TRACE), "trace");
    assert_string_equal(sl_log_level_name(42), "unknown");
}

static void test_text_format(void **state)
{
    struct capture *c = *state;
    struct sl_instance ins = { .name = "tail.0", .level = -1 };
    struct sl_log_kv kv[] = { { "file", "a.log" }, { "why", "two words" } };
    const char *out;

    sl_log_setup(SL_LOG_INFO, SL_LOG_FORMAT_TEXT);
    sl_log_kv(&ins, NULL, SL_LOG_INFO, kv, 2, "opened\nfile");
    out = cap_read(c);
    /* 2026-11-21 06:51:00.123 [info ] tail.0: message k=v */
    assert_int_equal(count_lines(out), 1);
    assert_int_equal(out[10], ' ');
    assert_int_equal(out[19], '.');
    assert_string_equal(out + 23, " [info ] tail.0: opened\\nfile file=a.log "
                                  "why=\"two words\"\n");
    sl_clog_error("engine", "boom");
    out = cap_read(c);
    assert_string_equal(out + 23, " [error] engine: boom\n");
}

static void test_long_message_truncated(void **state)
{
    struct capture *c = *state;
    struct sl_log_kv kv[] = { { "after", "kept" } };
    char *big = sl_malloc(10000);
    const char *msg;
    yajl_val v;

    assert_non_null(big);
    memset(big, '"', 9999); /* every byte doubles when escaped */
    big[9999] = '\0';
    sl_log_kv(NULL, "core", SL_LOG_ERROR, kv, 1, "%s", big);
    cap_read(c);
    assert_int_equal(count_lines(c->buf), 1);
    assert_true(c->len <= 4096);
    v = parse_line(c->buf);
    msg = get_str(v, "message");
    assert_non_null(msg);
    assert_true(strlen(msg) > 1000);
    assert_string_equal(msg + strlen(msg) - 3, "...");
    assert_string_equal(get_str(v, "after"), "kept");
    yajl_tree_free(v);
    sl_free(big);
}

static void log_from_site_a(int i)
{
    sl_clog_warn("core", "site a %d", i);
}

static void log_from_site_b(int i)
{
    sl_clog_warn("core", "site b %d", i);
}

static void test_rate_limit(void **state)
{
    struct capture *c = *state;
    struct sl_instance other = { .name = "http.0", .level = -1 };
    yajl_val v;
    int i;

    for (i = 0; i < 25; i++) {
        log_from_site_a(i);
    }
    log_from_site_b(0);
    cap_read(c);
    assert_int_equal(count_lines(c->buf), SL_LOG_BURST + 1);
    assert_null(strstr(c->buf, "site a 10"));
    assert_non_null(strstr(c->buf, "site a 9"));
    assert_non_null(strstr(c->buf, "site b 0"));
    /* Same format, other component: its own budget. */
    sl_log_warn(&other, "%s", "x");
    sl_log_warn(&other, "%s", "y");
    assert_int_equal(count_lines(cap_read(c)), 2);
    sl_log_test_skew_clock(SL_LOG_WINDOW_S);
    log_from_site_a(99);
    v = parse_line(cap_read(c));
    assert_string_equal(get_str(v, "message"), "site a 99");
    assert_string_equal(get_str(v, "suppressed"), "15");
    yajl_tree_free(v);
    log_from_site_a(100);
    v = parse_line(cap_read(c));
    assert_null(get_str(v, "suppressed"));
    yajl_tree_free(v);
}

static void test_errno_preserved(void **state)
{
    struct capture *c = *state;

    errno = ENOENT;
    sl_clog_error("core", "x");
    assert_int_equal(errno, ENOENT);
    cap_read(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_json_fields, cap_setup,
                                        cap_teardown),
        cmocka_unit_test_setup_teardown(test_json_escaping, cap_setup,
                                        cap_teardown),
        cmocka_unit_test_setup_teardown(test_levels, cap_setup, cap_teardown),
        cmocka_unit_test(test_level_names),
        cmocka_unit_test_setup_teardown(test_text_format, cap_setup,
                                        cap_teardown),
        cmocka_unit_test_setup_teardown(test_long_message_truncated, cap_setup,
                                        cap_teardown),
        cmocka_unit_test_setup_teardown(test_rate_limit, cap_setup,
                                        cap_teardown),
        cmocka_unit_test_setup_teardown(test_errno_preserved, cap_setup,
                                        cap_teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
