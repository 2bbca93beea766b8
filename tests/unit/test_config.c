/*
 * test_config.c - unit tests of the YAML config loader (src/config.c):
 * sections, node positions, wrong types, syntax errors, ${VAR} expansion,
 * includes (globs, nesting, cycles, missing files), did-you-mean, aliases
 * and allocation failures.  Fixtures are in tests/data/config/.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "sluice/mem.h"
#include "sluice/banned.h"

static struct sl_errlist errs;

static void data_path(const char *name, char *out, size_t cap)
{
    const char *src = getenv("SLUICE_SRCDIR");

    snprintf(out, cap, "%s/tests/data/config/%s", src ? src : ".", name);
}

static struct sl_config *load_file(const char *name, int want_rc)
{
    struct sl_config *cfg = NULL;
    char path[1024];

    data_path(name, path, sizeof(path));
    sl_errlist_init(&errs);
    assert_int_equal(sl_config_load(path, &cfg, &errs), want_rc);
    if (want_rc == SL_OK) {
        assert_non_null(cfg);
        assert_int_equal(errs.n, 0);
    } else {
        assert_null(cfg);
    }
    return cfg;
}

static struct sl_config *load_str(const char *text, int want_rc)
{
    struct sl_config *cfg = NULL;

    sl_errlist_init(&errs);
    assert_int_equal(
        sl_config_load_string("t.yaml", text, strlen(text), &cfg, &errs),
        want_rc);
    if (want_rc == SL_OK) {
        assert_non_null(cfg);
    } else {
        assert_null(cfg);
    }
    return cfg;
}

/* True when some collected error contains <needle> in its formatted form. */
static bool errs_have(const char *needle)
{
    char buf[1024];
    size_t i;

    for (i = 0; i < errs.n; i++) {
        sl_err_format(&errs.items[i], buf, sizeof(buf));
        if (strstr(buf, needle) != NULL) {
            return true;
        }
    }
    return false;
}

static const char *name_of(const struct sl_cnode *entry)
{
    const struct sl_cnode *n = sl_cnode_get(entry, "name");

    assert_non_null(n);
    return n->str;
}

static void test_basic_sections(void **state)
{
    struct sl_config *cfg = load_file("basic.yaml", SL_OK);
    const struct sl_cnode *n;

    (void)state;
    assert_int_equal(cfg->service->n, 2);
    n = sl_cnode_get(cfg->service, "log_level");
    assert_non_null(n);
    assert_string_equal(n->str, "info");
    assert_int_equal(n->line, 3);
    assert_int_equal(n->col, 14);
    assert_false(n->quoted);
    assert_int_equal(cfg->env->n, 1);
    assert_int_equal(cfg->parsers->n, 1);
    assert_int_equal(cfg->multiline_parsers->n, 0);
    assert_int_equal(cfg->inputs->n, 1);
    assert_int_equal(cfg->filters->n, 1);
    assert_int_equal(cfg->outputs->n, 2);
    assert_string_equal(name_of(cfg->inputs->items[0]), "tail");
    assert_int_equal(cfg->inputs->items[0]->line, 12);
    assert_int_equal(cfg->inputs->items[0]->col, 7);
    n = sl_cnode_get(cfg->outputs->items[1], "match");
    assert_string_equal(n->str, "*");
    assert_true(n->quoted);
    assert_null(sl_cnode_get(cfg->outputs->items[1], "nope"));
    assert_non_null(strstr(n->file, "basic.yaml"));
    sl_config_destroy(cfg);
}

static void test_empty_file(void **state)
{
    struct sl_config *cfg = load_file("empty.yaml", SL_OK);

    (void)state;
    assert_int_equal(cfg->service->n, 0);
    assert_int_equal(cfg->inputs->n, 0);
    assert_int_equal(cfg->outputs->n, 0);
    sl_config_destroy(cfg);
    cfg = load_str("# only a comment\n", SL_OK);
    assert_int_equal(cfg->inputs->n, 0);
    sl_config_destroy(cfg);
    cfg = load_str("service:\npipeline:\n  inputs:\n", SL_OK);
    assert_int_equal(cfg->inputs->n, 0);
    sl_config_destroy(cfg);
}

static void test_unknown_key_suggests(void **state)
{
    (void)state;
    load_str("service: {}\npipline:\n  inputs: []\n", SL_ECONFIG);
    assert_int_equal(errs.n, 1);
    assert_int_equal(errs.items[0].line, 2);
    assert_int_equal(errs.items[0].col, 1);
    assert_true(errs_have("t.yaml:2:1: pipline: unknown top-level key "
                          "'pipline' (did you mean 'pipeline'?)"));
    load_str("inputs:\n  - name: tail\n", SL_ECONFIG);
    assert_true(errs_have("belongs under 'pipeline:'"));
    load_str("pipeline:\n  output: []\n", SL_ECONFIG);
    assert_true(errs_have("t.yaml:2:3: output: unknown pipeline key "
                          "'output' (did you mean 'outputs'?)"));
    load_str("zzzzzz: 1\n", SL_ECONFIG);
    assert_true(errs_have("unknown top-level key 'zzzzzz'"));
    assert_false(errs_have("did you mean"));
}

static void test_wrong_types(void **state)
{
    (void)state;
    load_str("pipeline:\n  inputs:\n    name: tail\n", SL_ECONFIG);
    assert_int_equal(errs.n, 1);
    assert_true(errs_have("t.yaml:3:5: inputs: expected a list, got a map"));
    load_str("service: [1, 2]\n", SL_ECONFIG);
    assert_true(errs_have("t.yaml:1:10: service: expected a map, got a list"));
    load_str("pipeline:\n  outputs:\n    - stdout\n", SL_ECONFIG);
    assert_true(errs_have("t.yaml:3:7: outputs: expected each entry to be "
                          "a map"));
    load_str("- a\n- b\n", SL_ECONFIG);
    assert_true(errs_have("expected a map of sections"));
    load_str("env:\n  A: [1]\n", SL_ECONFIG);
    assert_true(errs_have("t.yaml:2:6: A: expected a scalar, got a list"));
    load_str("? [a]\n: 1\n", SL_ECONFIG);
    assert_true(errs_have("a map key must be a scalar"));
}

static void test_syntax_error(void **state)
{
    (void)state;
    load_file("syntax_error.yaml", SL_ECONFIG);
    assert_int_equal(errs.n, 1);
    assert_non_null(strstr(errs.items[0].file, "syntax_error.yaml"));
    assert_int_equal(errs.items[0].line, 5);
    assert_int_equal(errs.items[0].col, 3);
    assert_true(errs_have("YAML syntax error: did not find expected ','"));
    load_str("service:\n  a: 1\n b: 2\n", SL_ECONFIG);
    assert_int_equal(errs.n, 1);
    assert_int_equal(errs.items[0].line, 3);
    assert_true(errs_have("YAML syntax error"));
    load_str("a: 1\n---\nb: 2\n", SL_ECONFIG);
    assert_true(errs_have("only one YAML document"));
}

static void test_duplicates(void **state)
{
    struct sl_config *cfg;

    (void)state;
    load_str("service: {}\npipeline: {}\nservice: {}\n", SL_ECONFIG);
    assert_true(errs_have("t.yaml:3:1: service: duplicate key 'service' "
                          "(first at line 1)"));
    load_str("service:\n  flush: 1\n  flush: 2\n", SL_ECONFIG);
    assert_true(errs_have("t.yaml:3:3: service: 'flush' is already set at "
                          "t.yaml:2:3"));
    /* Duplicate keys inside an entry are kept for the option engine. */
    cfg = load_str("pipeline:\n  inputs:\n    - name: a\n      x: 1\n"
                   "      x: 2\n",
                   SL_OK);
    assert_int_equal(cfg->inputs->items[0]->n, 3);
    sl_config_destroy(cfg);
}

static void test_several_errors(void **state)
{
    (void)state;
    load_str("servce: {}\npipeline:\n  inputs: {}\n  outputs: [1]\n"
             "includes: {a: b}\n",
             SL_ECONFIG);
    assert_int_equal(errs.n, 4);
    assert_true(errs_have("t.yaml:1:1"));
    assert_true(errs_have("t.yaml:3:11"));
    assert_true(errs_have("t.yaml:4:13"));
    assert_true(errs_have("t.yaml:5:11"));
}

static char *expand(const struct sl_config *cfg, const char *text, int want_rc)
{
    struct sl_cnode node;
    char *out = NULL;

    memset(&node, 0, sizeof(node));
    node.type = SL_CNODE_SCALAR;
    node.file = "x.yaml";
    node.line = 7;
    node.col = 9;
    node.str = (char *)text;
    node.len = strlen(text);
    sl_errlist_init(&errs);
    assert_int_equal(sl_config_expand(cfg, &node, "host", &out, &errs),
                     want_rc);
    if (want_rc != SL_OK) {
        assert_null(out);
    }
    return out;
}

static void expect_expand(const struct sl_config *cfg, const char *text,
                          const char *want)
{
    char *out = expand(cfg, text, SL_OK);

    assert_string_equal(out, want);
    sl_free(out);
}

static void test_expand(void **state)
{
    struct sl_config *cfg;

    (void)state;
    setenv("SL_TEST_HOST", "example.org", 1);
    unsetenv("SL_TEST_UNSET");
    setenv("ES_HOST", "from-env", 1);
    cfg = load_str("env:\n  ES_HOST: from-config\n  ONLY_CFG: cfgval\n", SL_OK);
    expect_expand(cfg, "plain", "plain");
    expect_expand(cfg, "", "");
    expect_expand(cfg, "h=${SL_TEST_HOST}:80", "h=example.org:80");
    expect_expand(cfg, "${SL_TEST_UNSET:-fallback}", "fallback");
    expect_expand(cfg, "${SL_TEST_UNSET:-}x", "x");
    expect_expand(cfg, "${SL_TEST_HOST:-fallback}", "example.org");
    expect_expand(cfg, "$${SL_TEST_HOST}", "${SL_TEST_HOST}");
    expect_expand(cfg, "cost: $5 $", "cost: $5 $");
    expect_expand(cfg, "${ES_HOST}", "from-env");
    expect_expand(cfg, "${ONLY_CFG}", "cfgval");
    expect_expand(NULL, "${SL_TEST_HOST}", "example.org");
    expand(cfg, "a${SL_TEST_UNSET}b", SL_ECONFIG);
    assert_int_equal(errs.n, 1);
    assert_true(errs_have("x.yaml:7:9: host: environment variable "
                          "'SL_TEST_UNSET' is not set (use "
                          "${SL_TEST_UNSET:-default} for a default)"));
    expand(cfg, "${tag}", SL_ECONFIG);
    assert_true(errs_have("environment variable 'tag' is not set"));
    expand(cfg, "x${SL_TEST_HOST", SL_ECONFIG);
    assert_true(errs_have("x.yaml:7:9: host: unterminated '${'"));
    expand(cfg, "${env:HOME}", SL_ECONFIG);
    assert_true(errs_have("invalid variable reference '${env:HOME}'"));
    expand(cfg, "${}", SL_ECONFIG);
    assert_true(errs_have("invalid variable reference"));
    sl_config_destroy(cfg);
    unsetenv("ES_HOST");
}

static void test_includes(void **state)
{
    struct sl_config *cfg = load_file("include_main.yaml", SL_OK);
    const struct sl_cnode *n;

    (void)state;
    assert_int_equal(cfg->inputs->n, 3);
    assert_string_equal(name_of(cfg->inputs->items[0]), "main_in");
    assert_string_equal(name_of(cfg->inputs->items[1]), "a_in");
    assert_string_equal(name_of(cfg->inputs->items[2]), "deep_in");
    assert_non_null(
        strstr(cfg->inputs->items[2]->file, "include.d/nested/deep.yaml"));
    assert_int_equal(cfg->inputs->items[2]->line, 3);
    assert_int_equal(cfg->outputs->n, 1);
    assert_string_equal(name_of(cfg->outputs->items[0]), "b_out");
    n = sl_cnode_get(cfg->service, "log_level");
    assert_non_null(n);
    assert_string_equal(n->str, "debug");
    assert_int_equal(cfg->service->n, 2);
    sl_config_destroy(cfg);
}

static void test_include_errors(void **state)
{
    (void)state;
    load_file("include_missing.yaml", SL_ECONFIG);
    assert_int_equal(errs.n, 1);
    assert_true(errs_have("include_missing.yaml:3:5: includes: included "
                          "file"));
    assert_true(errs_have("missing.yaml' does not exist"));
    load_file("include_conflict.yaml", SL_ECONFIG);
    assert_int_equal(errs.n, 1);
    assert_true(errs_have("conflict.d/x.yaml:2:3: service: 'flush' is "
                          "already set at"));
    load_file("include_error.yaml", SL_ECONFIG);
    assert_int_equal(errs.n, 1);
    assert_true(errs_have("bad.d/bad.yaml:3:1: pipelin: unknown top-level "
                          "key 'pipelin' (did you mean 'pipeline'?)"));
    load_file("no_such_file.yaml", SL_ECONFIG);
    assert_true(errs_have("cannot read"));
}

static void test_suggest(void **state)
{
    static const char *const keys[] = { "buffer_size",  "path",        "tag",
                                        "storage.type", "retry_limit", NULL };

    (void)state;
    assert_string_equal(sl_config_suggest("buffer_szie", keys), "buffer_size");
    assert_string_equal(sl_config_suggest("pth", keys), "path");
    assert_string_equal(sl_config_suggest("TAG", keys), "tag");
    assert_string_equal(sl_config_suggest("storage.typ", keys), "storage.type");
    assert_string_equal(sl_config_suggest("retry_limt", keys), "retry_limit");
    assert_null(sl_config_suggest("completely_different", keys));
    assert_null(sl_config_suggest("x", NULL));
}

static void test_aliases(void **state)
{
    struct sl_config *cfg;

    (void)state;
    cfg = load_str("x-defs: &out {name: stdout}\n", SL_ECONFIG);
    cfg = load_str("pipeline:\n  inputs:\n    - &in {name: dummy}\n"
                   "  outputs: [*in, *in]\n",
                   SL_OK);
    assert_int_equal(cfg->outputs->n, 2);
    assert_string_equal(name_of(cfg->outputs->items[1]), "dummy");
    sl_config_destroy(cfg);
    load_str("pipeline:\n  inputs: [*nope]\n", SL_ECONFIG);
    assert_true(errs_have("t.yaml:2:12: unknown anchor 'nope'"));
    load_str("a: &a [x, x, x, x, x, x, x, x, x, x]\n"
             "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
             "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
             "d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
             "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n"
             "f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n",
             SL_ECONFIG);
    assert_true(errs_have("aliases expand to more than"));
}

static void test_deep_nesting(void **state)
{
    char text[512];
    size_t i;

    (void)state;
    for (i = 0; i < 200; i++) {
        text[i] = '[';
    }
    text[200] = '\0';
    load_str(text, SL_ECONFIG);
    assert_true(errs_have("nesting deeper than"));
}

/* A chain of 20 files, each including the next: past 16 levels fails. */
static void test_include_depth(void **state)
{
    char dir[] = "/tmp/sl_test_config_XXXXXX";
    char path[256];
    struct sl_config *cfg = NULL;
    FILE *f;
    int i;

    (void)state;
    assert_non_null(mkdtemp(dir));
    for (i = 0; i < 20; i++) {
        snprintf(path, sizeof(path), "%s/c%d.yaml", dir, i);
        f = fopen(path, "w");
        assert_non_null(f);
        fprintf(f,
                "includes: c%d.yaml\npipeline:\n  inputs:\n"
                "    - name: in%d\n",
                i + 1, i);
        fclose(f);
    }
    snprintf(path, sizeof(path), "%s/c20.yaml", dir);
    f = fopen(path, "w");
    assert_non_null(f);
    fclose(f);
    snprintf(path, sizeof(path), "%s/c4.yaml", dir);
    sl_errlist_init(&errs);
    assert_int_equal(sl_config_load(path, &cfg, &errs), SL_OK);
    assert_int_equal(cfg->inputs->n, 16);
    sl_config_destroy(cfg);
    snprintf(path, sizeof(path), "%s/c0.yaml", dir);
    sl_errlist_init(&errs);
    assert_int_equal(sl_config_load(path, &cfg, &errs), SL_ECONFIG);
    assert_true(errs_have("c16.yaml:1:11: includes: includes nested deeper "
                          "than 16 levels"));
    for (i = 0; i <= 20; i++) {
        snprintf(path, sizeof(path), "%s/c%d.yaml", dir, i);
        unlink(path);
    }
    rmdir(dir);
}

/* Every allocation failure gives SL_ENOMEM (or success) and leaks nothing. */
static void test_oom(void **state)
{
    struct sl_config *cfg;
    char path[1024];
    uint64_t base = sl_mem_in_use();
    long k;
    int rc;
    bool done = false;

    (void)state;
    data_path("include_main.yaml", path, sizeof(path));
    for (k = 0; k < 10000 && !done; k++) {
        sl_errlist_init(&errs);
        sl_mem_fail_after(k);
        rc = sl_config_load(path, &cfg, &errs);
        sl_mem_fail_after(-1);
        if (rc == SL_OK) {
            assert_int_equal(cfg->inputs->n, 3);
            sl_config_destroy(cfg);
            done = true;
        } else {
            assert_int_equal(rc, SL_ENOMEM);
            assert_null(cfg);
        }
        assert_int_equal(sl_mem_in_use(), base);
    }
    assert_true(done);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_basic_sections),
        cmocka_unit_test(test_empty_file),
        cmocka_unit_test(test_unknown_key_suggests),
        cmocka_unit_test(test_wrong_types),
        cmocka_unit_test(test_syntax_error),
        cmocka_unit_test(test_duplicates),
        cmocka_unit_test(test_several_errors),
        cmocka_unit_test(test_expand),
        cmocka_unit_test(test_includes),
        cmocka_unit_test(test_include_errors),
        cmocka_unit_test(test_include_depth),
        cmocka_unit_test(test_suggest),
        cmocka_unit_test(test_aliases),
        cmocka_unit_test(test_deep_nesting),
        cmocka_unit_test(test_oom),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
