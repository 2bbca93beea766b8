/*
 * test_option.c - unit tests of the option engine (src/option.c): parsing
 * of every type with bounds and bad values, defaults, did-you-mean,
 * MULTI lists, nested-map flattening, secrets, templates, error positions,
 * --describe and Markdown output, and allocation failures.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "option.h"
#include "sluice/mem.h"
#include "sluice/banned.h"

struct test_conf {
    char *host;
    int64_t port;
    double ratio;
    bool tls;
    bool tls_verify;
    uint64_t buffer_size;
    int64_t timeout_ms;
    int format;
    struct sl_strlist tags;
    struct sl_kvlist headers;
    char *index;
    char *password;
    int64_t pin;
    char *old;
};

static const char *const format_choices[] = { "json_lines", "pretty", NULL };

#define F(f) SL_OPT_FIELD(struct test_conf, f)

static const struct sl_option test_table[] = {
    { .name = "host",
      .type = SL_OPT_STR,
      F(host),
      .flags = SL_OPT_REQUIRED,
      .desc = "Host to send to." },
    { .name = "port",
      .type = SL_OPT_INT,
      F(port),
      .def = "80",
      .min = 1,
      .max = 65535,
      .desc = "TCP port." },
    { .name = "ratio",
      .type = SL_OPT_DOUBLE,
      F(ratio),
      .def = "0.5",
      .desc = "Sampling ratio." },
    { .name = "tls",
      .type = SL_OPT_BOOL,
      F(tls),
      .def = "off",
      .desc = "Use TLS." },
    { .name = "tls.verify",
      .type = SL_OPT_BOOL,
      F(tls_verify),
      .def = "on",
      .desc = "Verify the peer certificate." },
    { .name = "buffer_size",
      .type = SL_OPT_SIZE,
      F(buffer_size),
      .def = "64K",
      .min = 4096,
      .max = 64 << 20,
      .desc = "Read buffer size." },
    { .name = "timeout",
      .type = SL_OPT_TIME,
      F(timeout_ms),
      .def = "2s",
      .min = 100,
      .max = 3600000,
      .desc = "Connect timeout." },
    { .name = "format",
      .type = SL_OPT_ENUM,
      F(format),
      .def = "json_lines",
      .choices = format_choices,
      .desc = "Output format." },
    { .name = "tags",
      .type = SL_OPT_LIST,
      F(tags),
      .flags = SL_OPT_MULTI,
      .desc = "Extra tags." },
    { .name = "headers",
      .type = SL_OPT_MAP,
      F(headers),
      .desc = "Extra HTTP headers." },
    { .name = "index",
      .type = SL_OPT_TEMPLATE,
      F(index),
      .def = "logs",
      .desc = "Index name, per record." },
    { .name = "password",
      .type = SL_OPT_STR,
      F(password),
      .flags = SL_OPT_SECRET,
      .def = "changeme",
      .desc = "Password." },
    { .name = "pin",
      .type = SL_OPT_INT,
      F(pin),
      .flags = SL_OPT_SECRET,
      .desc = "PIN." },
    { .name = "old_name",
      .type = SL_OPT_STR,
      F(old),
      .flags = SL_OPT_DEPRECATED,
      .desc = "Old option." },
    SL_OPT_END,
};

struct gen_conf {
    char *name;
    char *match;
};

static const struct sl_option gen_table[] = {
    { .name = "name",
      .type = SL_OPT_STR,
      SL_OPT_FIELD(struct gen_conf, name),
      .flags = SL_OPT_REQUIRED,
      .desc = "Plugin name." },
    { .name = "match",
      .type = SL_OPT_STR,
      SL_OPT_FIELD(struct gen_conf, match),
      .def = "*",
      .desc = "Tag pattern." },
    SL_OPT_END,
};

static struct sl_errlist errs;
static struct test_conf conf;
static struct gen_conf gen;

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

static void conf_reset(void)
{
    sl_option_free(test_table, &conf);
    sl_option_free(gen_table, &gen);
    memset(&conf, 0, sizeof(conf));
    memset(&gen, 0, sizeof(gen));
}

/* Applies the body of one output entry (indented by 6) to both tables. */
static int apply(const char *entry)
{
    char text[4096];
    struct sl_config *cfg = NULL;
    struct sl_opt_target t[2] = { { gen_table, &gen }, { test_table, &conf } };
    int rc;

    conf_reset();
    snprintf(text, sizeof(text), "pipeline:\n  outputs:\n    - name: x\n%s",
             entry);
    sl_errlist_init(&errs);
    rc = sl_config_load_string("o.yaml", text, strlen(text), &cfg, &errs);
    assert_int_equal(rc, SL_OK);
    rc = sl_option_apply(cfg, cfg->outputs->items[0], t, 2, NULL, &errs);
    sl_config_destroy(cfg);
    return rc;
}

static int teardown(void **state)
{
    (void)state;
    conf_reset();
    return 0;
}

static void test_parse_size(void **state)
{
    static const struct {
        const char *text;
        uint64_t want;
    } ok[] = {
        { "512", 512 },        { "64K", 65536 },    { "64KB", 65536 },
        { "64k", 65536 },      { "5M", 5 << 20 },   { "5MiB", 5 << 20 },
        { "1G", 1ull << 30 },  { "1.5M", 1572864 }, { "0", 0 },
        { "2gb", 2ull << 30 }, { "10b", 10 },
    };
    static const char *const bad[] = { "",
                                       "K",
                                       "5X",
                                       "-1",
                                       "5 M",
                                       "1.2.3",
                                       "99999999999999999999",
                                       "1e3",
                                       "0x10",
                                       "99999999999T" };
    uint64_t v;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        assert_int_equal(sl_option_parse_size(ok[i].text, &v), SL_OK);
        assert_int_equal(v, ok[i].want);
    }
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(sl_option_parse_size(bad[i], &v), SL_EINVAL);
    }
}

static void test_parse_time(void **state)
{
    static const struct {
        const char *text;
        int64_t want;
    } ok[] = {
        { "250ms", 250 },   { "2s", 2000 },  { "1m", 60000 }, { "1h", 3600000 },
        { "1d", 86400000 }, { "1.5", 1500 }, { "0", 0 },      { "-2s", -2000 },
        { "0.5s", 500 },    { "3", 3000 },   { "10MS", 10 },
    };
    static const char *const bad[] = { "",    "s",   "2x",    "1w",
                                       "2 s", "--1", "1.5.5", "ms" };
    int64_t v;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        assert_int_equal(sl_option_parse_time_ms(ok[i].text, &v), SL_OK);
        assert_int_equal(v, ok[i].want);
    }
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(sl_option_parse_time_ms(bad[i], &v), SL_EINVAL);
    }
}

static void test_parse_bool(void **state)
{
    static const char *const yes[] = { "on", "true", "yes", "1",
                                       "ON", "True", "YES" };
    static const char *const no[] = {
        "off", "false", "no", "0", "Off", "FALSE"
    };
    bool b;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        b = false;
        assert_int_equal(sl_option_parse_bool(yes[i], &b), SL_OK);
        assert_true(b);
    }
    for (i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
        b = true;
        assert_int_equal(sl_option_parse_bool(no[i], &b), SL_OK);
        assert_false(b);
    }
    assert_int_equal(sl_option_parse_bool("maybe", &b), SL_EINVAL);
    assert_int_equal(sl_option_parse_bool("", &b), SL_EINVAL);
    assert_int_equal(sl_option_parse_bool("2", &b), SL_EINVAL);
}

static void test_parse_value(void **state)
{
    struct sl_err err;
    int64_t i64 = 0;
    double d = 0;
    int e = -1;

    (void)state;
    assert_int_equal(sl_option_parse_value(&test_table[1], "8080", &i64, &err),
                     SL_OK);
    assert_int_equal(i64, 8080);
    assert_int_equal(sl_option_parse_value(&test_table[1], "+42", &i64, &err),
                     SL_OK);
    assert_int_equal(i64, 42);
    assert_int_equal(sl_option_parse_value(&test_table[1], "80x", &i64, &err),
                     SL_EINVAL);
    assert_string_equal(err.msg, "expected an integer, got '80x'");
    assert_int_equal(sl_option_parse_value(&test_table[1], "70000", &i64, &err),
                     SL_EINVAL);
    assert_string_equal(err.msg, "expected an integer between 1 and 65535, got "
                                 "'70000'");
    assert_int_equal(sl_option_parse_value(&test_table[1], " 1", &i64, &err),
                     SL_EINVAL);
    assert_int_equal(sl_option_parse_value(&test_table[1],
                                           "99999999999999999999", &i64, &err),
                     SL_EINVAL);
    assert_int_equal(sl_option_parse_value(&test_table[2], "-0.25", &d, &err),
                     SL_OK);
    assert_true(d == -0.25);
    assert_int_equal(sl_option_parse_value(&test_table[2], "nan", &d, &err),
                     SL_EINVAL);
    assert_int_equal(sl_option_parse_value(&test_table[2], "1.5x", &d, &err),
                     SL_EINVAL);
    assert_int_equal(sl_option_parse_value(&test_table[7], "PRETTY", &e, &err),
                     SL_OK);
    assert_int_equal(e, 1);
    assert_int_equal(sl_option_parse_value(&test_table[7], "yaml", &e, &err),
                     SL_EINVAL);
    assert_string_equal(err.msg,
                        "expected one of json_lines, pretty, got 'yaml'");
    assert_int_equal(sl_option_parse_value(&test_table[6], "2h", &i64, &err),
                     SL_EINVAL);
    assert_string_equal(err.msg, "expected a duration between 100ms and 1h, "
                                 "got '2h'");
    assert_int_equal(sl_option_parse_value(&test_table[6], "-1s", &i64, &err),
                     SL_EINVAL);
}

static void test_defaults(void **state)
{
    (void)state;
    assert_int_equal(apply("      host: h\n"), SL_OK);
    assert_string_equal(gen.name, "x");
    assert_string_equal(gen.match, "*");
    assert_string_equal(conf.host, "h");
    assert_int_equal(conf.port, 80);
    assert_true(conf.ratio == 0.5);
    assert_false(conf.tls);
    assert_true(conf.tls_verify);
    assert_int_equal(conf.buffer_size, 65536);
    assert_int_equal(conf.timeout_ms, 2000);
    assert_int_equal(conf.format, 0);
    assert_int_equal(conf.tags.n, 0);
    assert_null(conf.tags.v);
    assert_int_equal(conf.headers.n, 0);
    assert_string_equal(conf.index, "logs");
    assert_string_equal(conf.password, "changeme");
    assert_null(conf.old);
}

static void test_all_types(void **state)
{
    (void)state;
    setenv("SL_OPT_TEST_PORT", "9200", 1);
    setenv("SL_OPT_TEST_TAG", "blue", 1);
    assert_int_equal(apply("      host: es.local\n"
                           "      port: ${SL_OPT_TEST_PORT}\n"
                           "      ratio: 0.125\n"
                           "      tls: yes\n"
                           "      buffer_size: 1.5M\n"
                           "      timeout: 250ms\n"
                           "      format: Pretty\n"
                           "      tags: [a, '${SL_OPT_TEST_TAG}']\n"
                           "      headers:\n"
                           "        X-Env: ${SL_OPT_TEST_TAG}\n"
                           "        X-Fixed: '1'\n"
                           "      index: logs-${tag}\n"
                           "      password: s3cret\n"),
                     SL_OK);
    assert_int_equal(errs.n, 0);
    assert_string_equal(conf.host, "es.local");
    assert_int_equal(conf.port, 9200);
    assert_true(conf.ratio == 0.125);
    assert_true(conf.tls);
    assert_int_equal(conf.buffer_size, 1572864);
    assert_int_equal(conf.timeout_ms, 250);
    assert_int_equal(conf.format, 1);
    assert_int_equal(conf.tags.n, 2);
    assert_string_equal(conf.tags.v[0], "a");
    assert_string_equal(conf.tags.v[1], "blue");
    assert_int_equal(conf.headers.n, 2);
    assert_string_equal(conf.headers.k[0], "X-Env");
    assert_string_equal(conf.headers.v[0], "blue");
    assert_string_equal(conf.headers.v[1], "1");
    assert_string_equal(conf.index, "logs-${tag}");
    assert_string_equal(conf.password, "s3cret");
    conf_reset();
    assert_null(conf.host);
}

/* A flat "<map>.<key>" adds an entry to the MAP option, as the nested
 * form does; both forms combine. */
static void test_map_flat_keys(void **state)
{
    (void)state;
    assert_int_equal(apply("      host: h\n"
                           "      headers.X-One: '1'\n"
                           "      headers: {X-Two: '2'}\n"
                           "      headers.linger.ms: '5'\n"),
                     SL_OK);
    assert_int_equal(errs.n, 0);
    assert_int_equal(conf.headers.n, 3);
    assert_string_equal(conf.headers.k[0], "X-One");
    assert_string_equal(conf.headers.v[0], "1");
    assert_string_equal(conf.headers.k[1], "X-Two");
    assert_string_equal(conf.headers.k[2], "linger.ms");
    assert_string_equal(conf.headers.v[2], "5");
    assert_int_equal(apply("      host: h\n      headers.x: [1]\n"),
                     SL_ECONFIG);
    assert_true(errs_have("expected a scalar value for 'headers.x'"));
    conf_reset();
}

static void test_unknown_key(void **state)
{
    (void)state;
    assert_int_equal(apply("      host: h\n      bufer_size: 1M\n"),
                     SL_ECONFIG);
    assert_int_equal(errs.n, 1);
    assert_true(errs_have("o.yaml:5:7: bufer_size: unknown option "
                          "'bufer_size' (did you mean 'buffer_size'?)"));
    assert_int_equal(apply("      host: h\n      mtch: a\n"), SL_ECONFIG);
    assert_true(errs_have("did you mean 'match'?"));
    assert_int_equal(apply("      host: h\n      qqqqqqqq: a\n"), SL_ECONFIG);
    assert_true(errs_have("o.yaml:5:7: qqqqqqqq: unknown option 'qqqqqqqq'"));
    assert_false(errs_have("did you mean"));
}

static void test_ignore(void **state)
{
    struct sl_config *cfg = NULL;
    const char *text = "pipeline:\n  inputs:\n    - name: x\n      host: h\n"
                       "      extra: 1\n";
    static const char *const ignore[] = { "name", "extra", NULL };
    struct sl_opt_target t = { test_table, &conf };

    (void)state;
    conf_reset();
    sl_errlist_init(&errs);
    assert_int_equal(
        sl_config_load_string("i.yaml", text, strlen(text), &cfg, &errs),
        SL_OK);
    assert_int_equal(
        sl_option_apply(cfg, cfg->inputs->items[0], &t, 1, ignore, &errs),
        SL_OK);
    assert_string_equal(conf.host, "h");
    sl_config_destroy(cfg);
}

static void test_required(void **state)
{
    (void)state;
    assert_int_equal(apply("      port: 81\n"), SL_ECONFIG);
    assert_int_equal(errs.n, 1);
    assert_true(errs_have("o.yaml:3:7: host: missing required option "
                          "'host'"));
}

static void test_bounds_message(void **state)
{
    (void)state;
    assert_int_equal(apply("      host: h\n      buffer_size: 1G\n"),
                     SL_ECONFIG);
    assert_int_equal(errs.n, 1);
    assert_true(errs_have("o.yaml:5:20: buffer_size: expected a size between "
                          "4K and 64M, got '1G'"));
    assert_int_equal(apply("      host: h\n      port: 0\n      tls: maybe\n"
                           "      format: xml\n      timeout: soon\n"),
                     SL_ECONFIG);
    assert_int_equal(errs.n, 4);
    assert_true(errs_have("o.yaml:5:13: port: expected an integer between 1 "
                          "and 65535, got '0'"));
    assert_true(errs_have("o.yaml:6:12: tls: expected a boolean"));
    assert_true(errs_have("o.yaml:7:15: format: expected one of json_lines, "
                          "pretty, got 'xml'"));
    assert_true(errs_have("o.yaml:8:16: timeout: expected a duration"));
}

static void test_wrong_node_types(void **state)
{
    (void)state;
    assert_int_equal(apply("      host: [a, b]\n      headers: x\n"
                           "      tags: {a: b}\n"),
                     SL_ECONFIG);
    assert_int_equal(errs.n, 3);
    assert_true(errs_have("o.yaml:4:13: host: expected a string, got a list"));
    assert_true(errs_have("headers: expected a map, got a scalar"));
    assert_true(errs_have("tags: expected a list, got a map"));
}

static void test_multi_and_lists(void **state)
{
    (void)state;
    assert_int_equal(apply("      host: h\n      tags: a, b ,, c\n"
                           "      tags: [d]\n"),
                     SL_OK);
    assert_int_equal(conf.tags.n, 4);
    assert_string_equal(conf.tags.v[0], "a");
    assert_string_equal(conf.tags.v[1], "b");
    assert_string_equal(conf.tags.v[2], "c");
    assert_string_equal(conf.tags.v[3], "d");
    assert_int_equal(apply("      host: h\n      port: 1\n      port: 2\n"),
                     SL_ECONFIG);
    assert_int_equal(errs.n, 1);
    assert_true(errs_have("o.yaml:6:7: port: option 'port' is set twice "
                          "(first at o.yaml:5:7)"));
}

static void test_nested_flatten(void **state)
{
    (void)state;
    assert_int_equal(apply("      host: h\n      tls:\n        verify: off\n"),
                     SL_ECONFIG);
    /* "tls" is a bool option, so a map under it is a type error. */
    assert_true(errs_have("tls: expected a bool, got a map"));
    assert_int_equal(apply("      host: h\n      tls: on\n"
                           "      tls.verify: off\n"),
                     SL_OK);
    assert_true(conf.tls);
    assert_false(conf.tls_verify);
}

struct nest_conf {
    bool verify;
    char *ca;
};

static void test_nested_map_keys(void **state)
{
    static const struct sl_option nest[] = {
        { .name = "tls.verify",
          .type = SL_OPT_BOOL,
          SL_OPT_FIELD(struct nest_conf, verify),
          .def = "on",
          .desc = "Verify." },
        { .name = "tls.ca_file",
          .type = SL_OPT_STR,
          SL_OPT_FIELD(struct nest_conf, ca),
          .desc = "CA." },
        SL_OPT_END,
    };
    const char *text = "service:\n  tls:\n    verify: off\n"
                       "    ca_file: /etc/ca.pem\n    ca_fil: x\n";
    struct sl_config *cfg = NULL;
    struct nest_conf nc;
    struct sl_opt_target t = { nest, &nc };

    (void)state;
    memset(&nc, 0, sizeof(nc));
    sl_errlist_init(&errs);
    assert_int_equal(
        sl_config_load_string("n.yaml", text, strlen(text), &cfg, &errs),
        SL_OK);
    assert_int_equal(sl_option_apply(cfg, cfg->service, &t, 1, NULL, &errs),
                     SL_ECONFIG);
    assert_false(nc.verify);
    assert_string_equal(nc.ca, "/etc/ca.pem");
    assert_int_equal(errs.n, 1);
    assert_true(errs_have("n.yaml:5:5: tls.ca_fil: unknown option "
                          "'tls.ca_fil' (did you mean 'tls.ca_file'?)"));
    sl_option_free(nest, &nc);
    assert_null(nc.ca);
    sl_config_destroy(cfg);
}

static void test_secret_masked(void **state)
{
    (void)state;
    assert_int_equal(apply("      host: h\n      pin: hunter2\n"), SL_ECONFIG);
    assert_int_equal(errs.n, 1);
    assert_true(errs_have("pin: expected an integer"));
    assert_false(errs_have("hunter2"));
    assert_int_equal(apply("      host: h\n      password: ab${c:x}d\n"),
                     SL_ECONFIG);
    assert_int_equal(errs.n, 1);
    assert_false(errs_have("c:x"));
    assert_true(errs_have("password: invalid ${...} reference in a secret"));
}

static void test_env_errors(void **state)
{
    (void)state;
    unsetenv("SL_OPT_TEST_UNSET");
    assert_int_equal(apply("      host: ${SL_OPT_TEST_UNSET}\n"
                           "      tags: [ok, '${SL_OPT_TEST_UNSET}']\n"
                           "      port: ${SL_OPT_TEST_UNSET:-81}\n"),
                     SL_ECONFIG);
    assert_int_equal(errs.n, 2);
    assert_true(errs_have("o.yaml:4:13: host: environment variable "
                          "'SL_OPT_TEST_UNSET' is not set"));
    assert_true(errs_have("o.yaml:5:18: tags: environment variable"));
    assert_int_equal(conf.port, 81);
}

static void test_deprecated(void **state)
{
    (void)state;
    assert_int_equal(apply("      host: h\n      old_name: v\n"), SL_OK);
    assert_string_equal(conf.old, "v");
}

static const struct sl_option doc_table[] = {
    { .name = "path",
      .type = SL_OPT_STR,
      .flags = SL_OPT_REQUIRED,
      .desc = "Glob of files to follow." },
    { .name = "format",
      .type = SL_OPT_ENUM,
      .def = "json_lines",
      .choices = format_choices,
      .desc = "Output format." },
    { .name = "token",
      .type = SL_OPT_STR,
      .def = "abc",
      .flags = SL_OPT_SECRET,
      .desc = "API token | secret." },
    { .name = "line_max",
      .type = SL_OPT_SIZE,
      .def = "256K",
      .desc = "Longest line." },
    { .name = "old",
      .type = SL_OPT_INT,
      .flags = SL_OPT_DEPRECATED,
      .desc = "Gone soon." },
    SL_OPT_END,
};

static void test_describe(void **state)
{
    struct sl_buf b;

    (void)state;
    sl_buf_init(&b, 0);
    assert_int_equal(sl_option_describe(doc_table, &b), SL_OK);
    assert_string_equal(
        b.data,
        "OPTION    TYPE               DEFAULT     DESCRIPTION\n"
        "path      string             required    Glob of files to follow.\n"
        "format    json_lines|pretty  json_lines  Output format.\n"
        "token     string             (secret)    API token | secret.\n"
        "line_max  size               256K        Longest line.\n"
        "old       integer            -           Gone soon. (deprecated)\n");
    assert_null(strstr(b.data, "abc"));
    sl_buf_fini(&b);
}

static void test_markdown(void **state)
{
    struct sl_buf b;

    (void)state;
    sl_buf_init(&b, 0);
    assert_int_equal(
        sl_option_markdown("tail", "Follows files.", gen_table, doc_table, &b),
        SL_OK);
    assert_string_equal(
        b.data,
        "# tail\n\nFollows files.\n\n## Options\n\n"
        "| Option | Type | Default | Description |\n|---|---|---|---|\n"
        "| `path` | string | required | Glob of files to follow. |\n"
        "| `format` | `json_lines` \\| `pretty` | `json_lines` | Output "
        "format. |\n"
        "| `token` | string | (secret) | API token \\| secret. |\n"
        "| `line_max` | size | `256K` | Longest line. |\n"
        "| `old` | integer | - | **Deprecated.** Gone soon. |\n"
        "\n## Common options\n\n"
        "| Option | Type | Default | Description |\n|---|---|---|---|\n"
        "| `name` | string | required | Plugin name. |\n"
        "| `match` | string | `*` | Tag pattern. |\n");
    sl_buf_fini(&b);
}

static void test_type_names(void **state)
{
    (void)state;
    assert_string_equal(sl_option_type_name(SL_OPT_STR), "string");
    assert_string_equal(sl_option_type_name(SL_OPT_SIZE), "size");
    assert_string_equal(sl_option_type_name(SL_OPT_TIME), "time");
    assert_string_equal(sl_option_type_name((enum sl_opt_type)99), "unknown");
}

/* Allocation failures during apply: SL_ENOMEM or success, never a leak. */
static void test_oom(void **state)
{
    const char *text = "pipeline:\n  outputs:\n    - name: x\n      host: h\n"
                       "      tags: [a, b, c]\n      headers: {a: b, c: d}\n"
                       "      index: i\n      bogus: 1\n";
    struct sl_opt_target t[2] = { { gen_table, &gen }, { test_table, &conf } };
    struct sl_config *cfg = NULL;
    uint64_t base;
    bool done = false;
    long k;
    int rc;

    (void)state;
    conf_reset();
    sl_errlist_init(&errs);
    assert_int_equal(
        sl_config_load_string("m.yaml", text, strlen(text), &cfg, &errs),
        SL_OK);
    base = sl_mem_in_use();
    for (k = 0; k < 1000 && !done; k++) {
        sl_errlist_init(&errs);
        sl_mem_fail_after(k);
        rc = sl_option_apply(cfg, cfg->outputs->items[0], t, 2, NULL, &errs);
        sl_mem_fail_after(-1);
        if (rc == SL_ECONFIG) {
            assert_int_equal(errs.n, 1);
            assert_int_equal(conf.tags.n, 3);
            done = true;
        } else {
            assert_int_equal(rc, SL_ENOMEM);
        }
        sl_option_free(test_table, &conf);
        sl_option_free(gen_table, &gen);
        memset(&conf, 0, sizeof(conf));
        memset(&gen, 0, sizeof(gen));
        assert_int_equal(sl_mem_in_use(), base);
    }
    assert_true(done);
    sl_config_destroy(cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_size),
        cmocka_unit_test(test_map_flat_keys),
        cmocka_unit_test(test_parse_time),
        cmocka_unit_test(test_parse_bool),
        cmocka_unit_test(test_parse_value),
        cmocka_unit_test_teardown(test_defaults, teardown),
        cmocka_unit_test_teardown(test_all_types, teardown),
        cmocka_unit_test_teardown(test_unknown_key, teardown),
        cmocka_unit_test_teardown(test_ignore, teardown),
        cmocka_unit_test_teardown(test_required, teardown),
        cmocka_unit_test_teardown(test_bounds_message, teardown),
        cmocka_unit_test_teardown(test_wrong_node_types, teardown),
        cmocka_unit_test_teardown(test_multi_and_lists, teardown),
        cmocka_unit_test_teardown(test_nested_flatten, teardown),
        cmocka_unit_test(test_nested_map_keys),
        cmocka_unit_test_teardown(test_secret_masked, teardown),
        cmocka_unit_test_teardown(test_env_errors, teardown),
        cmocka_unit_test_teardown(test_deprecated, teardown),
        cmocka_unit_test(test_describe),
        cmocka_unit_test(test_markdown),
        cmocka_unit_test(test_type_names),
        cmocka_unit_test_teardown(test_oom, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
