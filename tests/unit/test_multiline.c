/*
 * test_multiline.c - the multiline engine (src/multiline.c): every
 * built-in, rule definitions, flush_timeout, bounds, the config section
 * and lookup by name, and allocation failures.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "config.h"
#include "engine.h"
#include "sluice/multiline.h"
#include "sluice/plugin.h"
#include "sluice/banned.h"

#define MAXREC 32

struct got {
    char *rec[MAXREC];
    bool json[MAXREC];
    bool bounded[MAXREC];
    size_t lines[MAXREC];
    size_t n;
};

static int got_emit(void *arg, const struct sl_multiline_out *r)
{
    struct got *g = arg;

    if (g->n < MAXREC) {
        g->rec[g->n] = sl_strndup(r->p, r->n);
        g->json[g->n] = r->json;
        g->bounded[g->n] = r->bounded;
        g->lines[g->n] = r->lines;
        g->n++;
    }
    return SL_OK;
}

static void got_free(struct got *g)
{
    size_t i;

    for (i = 0; i < g->n; i++) {
        sl_free(g->rec[i]);
    }
    g->n = 0;
}

/* Feeds <lines> (NULL-terminated) at 1 ms apart, then flushes. */
static void run(const char *defname, const char *const *lines, struct got *g,
                bool flush)
{
    struct sl_multiline_def *def = sl_multiline_def_builtin(defname);
    struct sl_multiline *m;
    size_t i;

    assert_non_null(def);
    m = sl_multiline_create(def, got_emit, g);
    assert_non_null(m);
    for (i = 0; lines[i] != NULL; i++) {
        assert_int_equal(sl_multiline_feed(m, lines[i], strlen(lines[i]),
                                           (int64_t)i * SL_NS_PER_MS),
                         SL_OK);
    }
    if (flush) {
        assert_int_equal(sl_multiline_flush(m), SL_OK);
        assert_false(sl_multiline_pending(m));
    }
    sl_multiline_destroy(m);
    sl_multiline_def_destroy(def);
}

static void test_java(void **state)
{
    static const char *const lines[] = {
        "2024-01-01 INFO starting",
        "Exception in thread \"main\" java.lang.IllegalStateException: boom",
        "\tat com.acme.App.run(App.java:10)",
        "\tat com.acme.App.main(App.java:3)",
        "Caused by: java.io.IOException: disk",
        "\tat com.acme.Disk.read(Disk.java:7)",
        "\t... 2 more",
        "2024-01-01 INFO next",
        "java.lang.NullPointerException: x",
        "    at a.B.c(B.java:1)",
        NULL,
    };
    struct got g = { 0 };

    (void)state;
    run("java", lines, &g, true);
    assert_int_equal(g.n, 4);
    assert_string_equal(g.rec[0], "2024-01-01 INFO starting");
    assert_string_equal(
        g.rec[1],
        "Exception in thread \"main\" java.lang.IllegalStateException: boom\n"
        "\tat com.acme.App.run(App.java:10)\n"
        "\tat com.acme.App.main(App.java:3)\n"
        "Caused by: java.io.IOException: disk\n"
        "\tat com.acme.Disk.read(Disk.java:7)\n"
        "\t... 2 more");
    assert_int_equal(g.lines[1], 6);
    assert_false(g.json[1]);
    assert_string_equal(g.rec[2], "2024-01-01 INFO next");
    assert_string_equal(g.rec[3], "java.lang.NullPointerException: x\n"
                                  "    at a.B.c(B.java:1)");
    got_free(&g);
}

static void test_python(void **state)
{
    static const char *const lines[] = {
        "plain before",
        "Traceback (most recent call last):",
        "  File \"/app/x.py\", line 3, in <module>",
        "    main()",
        "KeyError: 'a'",
        "",
        "During handling of the above exception, another exception occurred:",
        "",
        "Traceback (most recent call last):",
        "  File \"/app/x.py\", line 5, in <module>",
        "ValueError: bad",
        "plain after",
        NULL,
    };
    struct got g = { 0 };

    (void)state;
    run("python", lines, &g, true);
    assert_int_equal(g.n, 3);
    assert_string_equal(g.rec[0], "plain before");
    assert_string_equal(
        g.rec[1], "Traceback (most recent call last):\n"
                  "  File \"/app/x.py\", line 3, in <module>\n"
                  "    main()\n"
                  "KeyError: 'a'\n"
                  "\n"
                  "During handling of the above exception, another exception "
                  "occurred:\n"
                  "\n"
                  "Traceback (most recent call last):\n"
                  "  File \"/app/x.py\", line 5, in <module>\n"
                  "ValueError: bad");
    assert_int_equal(g.lines[1], 10);
    assert_string_equal(g.rec[2], "plain after");
    got_free(&g);
}

static void test_go(void **state)
{
    static const char *const lines[] = {
        "level=info msg=up",
        "panic: runtime error: index out of range [3] with length 3",
        "",
        "goroutine 1 [running]:",
        "main.main()",
        "\t/tmp/x.go:8 +0x1d",
        "exit status 2",
        "level=info msg=restarted",
        NULL,
    };
    struct got g = { 0 };

    (void)state;
    run("go", lines, &g, true);
    assert_int_equal(g.n, 3);
    assert_string_equal(g.rec[0], "level=info msg=up");
    assert_string_equal(
        g.rec[1], "panic: runtime error: index out of range [3] with length 3\n"
                  "\n"
                  "goroutine 1 [running]:\n"
                  "main.main()\n"
                  "\t/tmp/x.go:8 +0x1d\n"
                  "exit status 2");
    assert_string_equal(g.rec[2], "level=info msg=restarted");
    got_free(&g);
}

static void test_docker(void **state)
{
    static const char *const lines[] = {
        "{\"log\":\"whole\\n\",\"stream\":\"stdout\",\"time\":\"t0\"}",
        "{\"log\":\"part one \",\"stream\":\"stdout\",\"time\":\"t1\"}",
        "{\"log\":\"part \\\"two\\\" \",\"stream\":\"stdout\",\"time\":\"t2\"}",
        "{\"log\":\"end\\n\",\"stream\":\"stdout\",\"time\":\"t3\"}",
        "not json",
        "{\"log\":\"dangling\",\"stream\":\"stderr\"}",
        NULL,
    };
    struct got g = { 0 };

    (void)state;
    run("docker", lines, &g, true);
    assert_int_equal(g.n, 4);
    assert_string_equal(g.rec[0], lines[0]);
    assert_true(g.json[0]);
    assert_string_equal(g.rec[1], "{\"log\":\"part one part \\\"two\\\" "
                                  "end\\n\",\"stream\":\"stdout\","
                                  "\"time\":\"t3\"}");
    assert_int_equal(g.lines[1], 3);
    assert_true(g.json[1]);
    assert_string_equal(g.rec[2], "not json");
    assert_false(g.json[2]);
    /* Flushed at the end although it never ended with a newline. */
    assert_string_equal(g.rec[3],
                        "{\"log\":\"dangling\",\"stream\":\"stderr\"}");
    got_free(&g);
}

static struct sl_multiline_def *make_rules(size_t max_lines, size_t max_bytes,
                                           int64_t timeout_ms)
{
    static const struct sl_multiline_rule rules[] = {
        { "start_state", "/^\\d{4}-\\d\\d-\\d\\d /", "cont" },
        { "cont", "^\\s", "cont" },
    };
    struct sl_multiline_spec spec = { .name = "dated",
                                      .rules = rules,
                                      .nrules = 2,
                                      .flush_timeout_ms = timeout_ms,
                                      .max_lines = max_lines,
                                      .max_bytes = max_bytes };
    struct sl_multiline_def *def = NULL;
    struct sl_err err = { 0 };

    assert_int_equal(sl_multiline_def_create(&spec, &def, &err), SL_OK);
    assert_string_equal(sl_multiline_def_name(def), "dated");
    return def;
}

static void test_rules_and_timeout(void **state)
{
    struct sl_multiline_def *def = make_rules(0, 0, 500);
    struct got g = { 0 };
    struct sl_multiline *m = sl_multiline_create(def, got_emit, &g);

    (void)state;
    assert_int_equal(sl_multiline_def_flush_timeout_ms(def), 500);
    assert_int_equal(sl_multiline_feed(m, "2024-01-02 a", 12, 0), SL_OK);
    assert_true(sl_multiline_pending(m));
    assert_int_equal(sl_multiline_feed(m, "  b", 3, 100 * SL_NS_PER_MS), SL_OK);
    assert_int_equal(sl_multiline_deadline_ns(m), 600 * SL_NS_PER_MS);
    assert_int_equal(sl_multiline_expire(m, 599 * SL_NS_PER_MS), SL_OK);
    assert_int_equal(g.n, 0);
    assert_int_equal(sl_multiline_expire(m, 600 * SL_NS_PER_MS), SL_OK);
    assert_int_equal(g.n, 1);
    assert_string_equal(g.rec[0], "2024-01-02 a\n  b");
    assert_false(sl_multiline_pending(m));
    assert_int_equal(sl_multiline_deadline_ns(m), 0);
    /* A continuation with nothing pending is a line of its own. */
    assert_int_equal(sl_multiline_feed(m, "  orphan", 8, 0), SL_OK);
    assert_int_equal(g.n, 2);
    assert_string_equal(g.rec[1], "  orphan");
    /* A new start flushes the previous record at once. */
    assert_int_equal(sl_multiline_feed(m, "2024-01-02 c", 12, 0), SL_OK);
    assert_int_equal(sl_multiline_feed(m, "2024-01-02 d", 12, 0), SL_OK);
    assert_int_equal(g.n, 3);
    assert_string_equal(g.rec[2], "2024-01-02 c");
    sl_multiline_destroy(m); /* drops "d" */
    sl_multiline_def_destroy(def);
    got_free(&g);
}

static void test_bounds(void **state)
{
    struct sl_multiline_def *def = make_rules(3, 0, 0);
    struct got g = { 0 };
    struct sl_multiline *m = sl_multiline_create(def, got_emit, &g);
    int i;

    (void)state;
    assert_int_equal(sl_multiline_feed(m, "2024-01-02 x", 12, 0), SL_OK);
    for (i = 0; i < 5; i++) {
        assert_int_equal(sl_multiline_feed(m, " c", 2, 0), SL_OK);
    }
    /* No timeout configured: nothing expires. */
    assert_int_equal(sl_multiline_deadline_ns(m), 0);
    assert_int_equal(sl_multiline_flush(m), SL_OK);
    assert_int_equal(g.n, 2);
    assert_string_equal(g.rec[0], "2024-01-02 x\n c\n c");
    assert_true(g.bounded[0]);
    assert_string_equal(g.rec[1], " c\n c\n c");
    assert_false(g.bounded[1]);
    sl_multiline_destroy(m);
    sl_multiline_def_destroy(def);
    got_free(&g);

    def = make_rules(0, 300, 0);
    m = sl_multiline_create(def, got_emit, &g);
    assert_int_equal(sl_multiline_feed(m, "2024-01-02 x", 12, 0), SL_OK);
    for (i = 0; i < 40; i++) {
        assert_int_equal(sl_multiline_feed(m, "  0123456789", 12, 0), SL_OK);
    }
    assert_int_equal(sl_multiline_flush(m), SL_OK);
    assert_true(g.n >= 2);
    for (i = 0; i < (int)g.n; i++) {
        assert_true(strlen(g.rec[i]) <= 300);
    }
    assert_true(g.bounded[0]);
    sl_multiline_destroy(m);
    sl_multiline_def_destroy(def);
    got_free(&g);
}

static void expect_bad(const struct sl_multiline_rule *rules, size_t n,
                       const char *needle)
{
    struct sl_multiline_spec spec = { .name = "bad",
                                      .rules = rules,
                                      .nrules = n };
    struct sl_multiline_def *def = NULL;
    struct sl_err err = { 0 };

    assert_int_equal(sl_multiline_def_create(&spec, &def, &err), SL_ECONFIG);
    assert_null(def);
    if (strstr(err.msg, needle) == NULL) {
        fail_msg("\"%s\" not in \"%s\"", needle, err.msg);
    }
}

static void test_bad_specs(void **state)
{
    static const struct sl_multiline_rule no_start[] = {
        { "cont", "x", "cont" },
    };
    static const struct sl_multiline_rule bad_re[] = {
        { "start_state", "(unclosed", "cont" },
    };
    static const struct sl_multiline_rule dangling[] = {
        { "start_state", "^a", "nowhere" },
    };

    (void)state;
    expect_bad(no_start, 1, "start_state");
    expect_bad(bad_re, 1, "invalid regex");
    expect_bad(dangling, 1, "nowhere");
    expect_bad(no_start, 0, "at least one rule");
    assert_null(sl_multiline_def_builtin("nope"));
    assert_true(sl_multiline_builtin_exists("docker"));
    assert_false(sl_multiline_builtin_exists("nope"));
}

static const char good_cfg[] = "multiline_parsers:\n"
                               "  - name: dated\n"
                               "    flush_timeout: 250ms\n"
                               "    rules:\n"
                               "      - state: start_state\n"
                               "        regex: '^\\d{4}-'\n"
                               "        next_state: cont\n"
                               "      - state: cont\n"
                               "        regex: '^\\s'\n"
                               "        next_state: cont\n"
                               "pipeline:\n"
                               "  inputs:\n"
                               "    - name: dummy\n";

static void test_config_lookup(void **state)
{
    struct sl_config *cfg = NULL;
    struct sl_errlist errs;
    struct sl_engine e;
    struct sl_instance ins;
    struct sl_multiline_def *def;
    struct got g = { 0 };
    struct sl_multiline *m;

    (void)state;
    sl_errlist_init(&errs);
    assert_int_equal(sl_config_load_string("t.yaml", good_cfg, strlen(good_cfg),
                                           &cfg, &errs),
                     SL_OK);
    assert_int_equal(sl_multiline_validate(cfg, &errs), SL_OK);
    assert_int_equal(sl_errlist_count(&errs), 0);
    memset(&e, 0, sizeof(e));
    memset(&ins, 0, sizeof(ins));
    e.cfg = cfg;
    ins.engine = &e;
    def = sl_multiline_lookup(&ins, "dated");
    assert_non_null(def);
    assert_int_equal(sl_multiline_def_flush_timeout_ms(def), 250);
    m = sl_multiline_create(def, got_emit, &g);
    sl_multiline_feed(m, "2024-a", 6, 0);
    sl_multiline_feed(m, " b", 2, 0);
    sl_multiline_feed(m, "x", 1, 0);
    assert_int_equal(g.n, 2);
    assert_string_equal(g.rec[0], "2024-a\n b");
    sl_multiline_destroy(m);
    sl_multiline_def_destroy(def);
    got_free(&g);
    def = sl_multiline_lookup(&ins, "python");
    assert_non_null(def);
    sl_multiline_def_destroy(def);
    assert_null(sl_multiline_lookup(&ins, "missing"));
    assert_null(sl_multiline_lookup(NULL, "missing"));
    sl_config_destroy(cfg);
}

static const char bad_cfg[] = "multiline_parsers:\n"
                              "  - name: a\n"
                              "    rules:\n"
                              "      - state: start_state\n"
                              "        regex: '(oops'\n"
                              "        next_state: cont\n"
                              "  - name: a\n"
                              "    flush_timout: 1s\n"
                              "    rules:\n"
                              "      - state: start_state\n"
                              "        regex: x\n"
                              "        next_state: start_state\n"
                              "  - name: c\n"
                              "pipeline:\n"
                              "  inputs:\n"
                              "    - name: dummy\n";

static bool has_error(const struct sl_errlist *errs, unsigned line,
                      const char *needle)
{
    char text[1024];
    size_t i;

    for (i = 0; i < errs->n; i++) {
        sl_err_format(&errs->items[i], text, sizeof(text));
        if (errs->items[i].line == line && strstr(text, needle) != NULL) {
            return true;
        }
    }
    return false;
}

static void test_config_errors(void **state)
{
    struct sl_config *cfg = NULL;
    struct sl_errlist errs;
    char text[1024];
    size_t i;

    (void)state;
    sl_errlist_init(&errs);
    assert_int_equal(sl_config_load_string("bad.yaml", bad_cfg, strlen(bad_cfg),
                                           &cfg, &errs),
                     SL_OK);
    assert_int_equal(sl_multiline_validate(cfg, &errs), SL_ECONFIG);
    for (i = 0; i < errs.n; i++) {
        sl_err_format(&errs.items[i], text, sizeof(text));
        print_message("%s\n", text);
    }
    assert_true(has_error(&errs, 4, "invalid regex"));
    assert_true(has_error(&errs, 7, "defined twice"));
    assert_true(has_error(&errs, 8, "flush_timeout"));
    assert_true(has_error(&errs, 13, "rules"));
    sl_config_destroy(cfg);
}

/* Every allocation failing in turn: no crash, no leak. */
static void test_oom(void **state)
{
    static const char *const lines[] = { "Traceback (most recent call last):",
                                         "  File \"a\", line 1", "E: x",
                                         "other", NULL };
    static const char *const dlines[] = { "{\"log\":\"a\"}",
                                          "{\"log\":\"b\\n\"}", NULL };
    uint64_t before = sl_mem_in_use();
    struct sl_multiline_def *def;
    struct sl_multiline *m;
    struct got g = { 0 };
    long i;
    size_t k;

    (void)state;
    for (i = 0; i < 60; i++) {
        const char *name = i % 2 ? "docker" : "python";
        const char *const *ls = i % 2 ? dlines : lines;

        sl_mem_fail_after(i / 2);
        def = sl_multiline_def_builtin(name);
        m = def != NULL ? sl_multiline_create(def, got_emit, &g) : NULL;
        for (k = 0; m != NULL && ls[k] != NULL; k++) {
            (void)sl_multiline_feed(m, ls[k], strlen(ls[k]), 0);
        }
        if (m != NULL) {
            (void)sl_multiline_flush(m);
        }
        sl_mem_fail_after(-1);
        sl_multiline_destroy(m);
        sl_multiline_def_destroy(def);
        got_free(&g);
    }
    assert_int_equal(sl_mem_in_use(), before);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_java),
        cmocka_unit_test(test_python),
        cmocka_unit_test(test_go),
        cmocka_unit_test(test_docker),
        cmocka_unit_test(test_rules_and_timeout),
        cmocka_unit_test(test_bounds),
        cmocka_unit_test(test_bad_specs),
        cmocka_unit_test(test_config_lookup),
        cmocka_unit_test(test_config_errors),
        cmocka_unit_test(test_oom),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
