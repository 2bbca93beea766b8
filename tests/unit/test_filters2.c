/*
 * test_filters2.c - the filters of issue 8 (record_transformer, nest,
 * parser, throttle, lookup, normalize, audit_chain) and the template
 * engine, through standalone instances (sl_instance_create_standalone +
 * sl_instance_filter) or, where a filter needs the engine (parser, metric
 * counts), through an engine built from YAML.  redact has its own program
 * (test_redact.c).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "engine.h"
#include "metrics.h"
#include "plugin.h"
#include "test_util.h"
#include "sluice/audit.h"
#include "sluice/template.h"
#include "sluice/banned.h"

extern const struct sl_plugin sl_plugin_filter_record_transformer;
extern const struct sl_plugin sl_plugin_filter_nest;
extern const struct sl_plugin sl_plugin_filter_parser;
extern const struct sl_plugin sl_plugin_filter_throttle;
extern const struct sl_plugin sl_plugin_filter_lookup;
extern const struct sl_plugin sl_plugin_filter_normalize;
extern const struct sl_plugin sl_plugin_filter_audit_chain;

/* ---- helpers ---------------------------------------------------------- */

static void expect_error(const struct sl_plugin *p, const char *yaml,
                         const char *want)
{
    struct sl_errlist errs;
    struct sl_instance *ins;
    bool found = false;
    size_t i;

    sl_errlist_init(&errs);
    ins = sl_instance_create_standalone(p, yaml, &errs);
    if (ins != NULL) {
        sl_instance_destroy(ins);
    }
    assert_null(ins);
    for (i = 0; i < errs.n; i++) {
        if (strstr(errs.items[i].msg, want) != NULL) {
            found = true;
        } else {
            print_message("got: %s\n", errs.items[i].msg);
        }
    }
    assert_true(found);
}

/* Runs <ins> on <body> with tag <tag>; returns the result, body in out. */
static enum sl_filter_result run_tag(struct sl_instance *ins, const char *tag,
                                     const char *body, struct sl_buf *out)
{
    return sl_instance_filter(ins, sl_str_cstr(tag), sl_str_cstr(body), out);
}

/* Asserts that <ins> turns <in> into <want> (NULL: dropped). */
static void expect(struct sl_instance *ins, const char *in, const char *want)
{
    struct sl_buf out;
    enum sl_filter_result r;

    sl_buf_init(&out, 0);
    r = run_tag(ins, "app.web.prod", in, &out);
    if (want == NULL) {
        assert_int_equal(r, SL_FILTER_DROP);
    } else {
        assert_int_not_equal(r, SL_FILTER_DROP);
        assert_string_equal(out.data, want);
    }
    sl_buf_fini(&out);
}

/* An engine built from <yaml> (no start); its loop in *<base>. */
struct eng {
    struct event_base *base;
    struct sl_metrics *m;
    struct sl_engine *e;
};

static void eng_make(struct eng *g, const char *yaml)
{
    struct sl_config *cfg = NULL;
    struct sl_errlist errs;
    size_t i;
    int rc;

    sl_errlist_init(&errs);
    g->base = event_base_new();
    g->m = sl_metrics_create();
    assert_non_null(g->base);
    assert_non_null(g->m);
    rc = sl_config_load_string("<test>", yaml, strlen(yaml), &cfg, &errs);
    if (rc == SL_OK) {
        rc = sl_engine_create(g->base, g->m, cfg, &g->e, &errs);
    }
    for (i = 0; rc != SL_OK && i < errs.n; i++) {
        print_message("error: %s\n", errs.items[i].msg);
    }
    assert_int_equal(rc, SL_OK);
}

static void eng_free(struct eng *g)
{
    sl_engine_destroy(g->e);
    sl_metrics_destroy(g->m);
    event_base_free(g->base);
}

static double metric(struct eng *g, const char *name, const char *lk,
                     const char *lv)
{
    const char *labels[] = { lk, lv, NULL };

    return sl_metrics_sum(g->m, name, lk != NULL ? labels : NULL);
}

/* ---- templates -------------------------------------------------------- */

static void render(const char *tpl, const char *body, unsigned flags,
                   const char *want)
{
    struct sl_template *t = NULL;
    struct sl_arena a;
    struct sl_json *dom = NULL;
    struct sl_buf out;
    struct sl_template_input in;

    sl_arena_init(&a, 0, 0);
    sl_buf_init(&out, 0);
    assert_int_equal(sl_template_compile(tpl, &t, NULL), SL_OK);
    assert_int_equal(sl_json_parse(&a, body, strlen(body), &dom, NULL), SL_OK);
    in.root = dom;
    in.tag = SL_STR_LIT("app.web.prod");
    in.ts_ns = INT64_C(1700000000123456789);
    assert_int_equal(sl_template_render(t, &in, flags, &out), SL_OK);
    assert_string_equal(out.data, want);
    sl_template_destroy(t);
    sl_buf_fini(&out);
    sl_arena_fini(&a);
}

static void test_template_parts(void **state)
{
    const char *body =
        "{\"k\":\"v\",\"n\":5,\"a\":{\"b\":{\"c\":\"deep\"}},"
        "\"arr\":[10,\"x\"],\"o\":{\"z\":true},\"q\":\"a\\\"b\"}";
    char want[512];

    (void)state;
    setenv("SL_TPL_TEST", "envval", 1);
    render("tag=${tag} 0=${tag[0]} 1=${tag[1]} -1=${tag[-1]} 9=${tag[9]}", body,
           0, "tag=app.web.prod 0=app 1=web -1=prod 9=");
    render("$k/$n/$a['b']['c']/$arr[0]/$arr[1]/$missing/$$/${$k}", body, 0,
           "v/5/deep/10/x//$/v");
    render("env=${env:SL_TPL_TEST} none=${env:SL_TPL_NONE_XYZ}", body, 0,
           "env=envval none=");
    render("${time}", body, 0, "2023-11-14T22:13:20.123Z");
    render("${time:%Y/%m/%d %H:%M:%S.%L}", body, 0, "2023/11/14 22:13:20.123");
    render("o=$o", body, 0, "o={\"z\":true}");
    render("q=$q $o", body, SL_TEMPLATE_JSON_ESCAPE,
           "q=a\\\"b {\\\"z\\\":true}");
    render("cost: $ 5, a$ b", body, 0, "cost: $ 5, a$ b");
    snprintf(want, sizeof(want), "h=%s", sl_hostname());
    render("h=${hostname}", body, 0, want);
}

static void test_template_errors(void **state)
{
    struct sl_template *t = NULL;
    struct sl_err err;

    (void)state;
    assert_int_equal(sl_template_compile("${nope}", &t, &err), SL_EINVAL);
    assert_non_null(strstr(err.msg, "unknown reference"));
    assert_int_equal(sl_template_compile("${tag", &t, &err), SL_EINVAL);
    assert_non_null(strstr(err.msg, "unterminated"));
    assert_int_equal(sl_template_compile("${tag[x]}", &t, &err), SL_EINVAL);
    assert_int_equal(sl_template_compile("$a['b", &t, &err), SL_OK);
    /* "$a" then the literal "['b": the bracket never closed. */
    assert_true(sl_template_single_accessor(t) == NULL);
    assert_false(sl_template_is_literal(t));
    sl_template_destroy(t);
    assert_int_equal(sl_template_compile("$n", &t, &err), SL_OK);
    assert_non_null(sl_template_single_accessor(t));
    sl_template_destroy(t);
    assert_int_equal(sl_template_compile("plain", &t, &err), SL_OK);
    assert_true(sl_template_is_literal(t));
    sl_template_destroy(t);
}

static void test_template_oom(void **state)
{
    struct sl_template *t;
    long k;
    int rc;

    (void)state;
    for (k = 0; k < 40; k++) {
        t = NULL;
        sl_mem_fail_after(k);
        rc = sl_template_compile("a ${tag[1]} $x['y'][0] ${time:%Y} b", &t,
                                 NULL);
        sl_mem_fail_after(-1);
        assert_true(rc == SL_OK || rc == SL_ENOMEM);
        assert_true((rc == SL_OK) == (t != NULL));
        sl_template_destroy(t);
    }
}

/* ---- record_transformer ----------------------------------------------- */

static void test_rt_record(void **state)
{
    struct sl_instance *ins;

    (void)state;
    ins = tu_instance(&sl_plugin_filter_record_transformer, "record: |\n"
                                                     "  svc ${tag[1]}\n"
                                                     "  # a comment\n"
                                                     "\n"
                                                     "  copy $n\n"
                                                     "  deep $a['b']\n"
                                                     "  text \"n=$n \"\n"
                                                     "  $meta['env'] prod\n");
    expect(ins, "{\"n\":5,\"a\":{\"b\":[1,2]}}",
           "{\"n\":5,\"a\":{\"b\":[1,2]},\"svc\":\"web\",\"copy\":5,"
           "\"deep\":[1,2],\"text\":\"n=5 \",\"meta\":{\"env\":\"prod\"}}");
    /* A single accessor that is missing leaves the key alone. */
    expect(ins, "{\"copy\":1}",
           "{\"copy\":1,\"svc\":\"web\",\"text\":\"n= \","
           "\"meta\":{\"env\":\"prod\"}}");
    sl_instance_destroy(ins);
}

static void test_rt_remove_rename_keep(void **state)
{
    struct sl_instance *ins;

    (void)state;
    ins = tu_instance(&sl_plugin_filter_record_transformer,
               "{rename_keys: ['msg message', \"$a['x'] y\"], "
               "remove_keys: [secret, \"$a['z']\"], "
               "remove_key_regex: ['^tmp_']}");
    expect(ins,
           "{\"msg\":\"hi\",\"secret\":1,\"tmp_a\":1,\"keep\":2,"
           "\"a\":{\"x\":1,\"z\":2},\"tmp_b\":3}",
           "{\"message\":\"hi\",\"keep\":2,\"a\":{},\"y\":1}");
    /* Nothing applies: the record keeps its bytes. */
    expect(ins, "{\"other\": 1}", "{\"other\": 1}");
    sl_instance_destroy(ins);
    ins = tu_instance(&sl_plugin_filter_record_transformer,
               "record: \"host x\"\nkeep_keys: [level, msg]");
    expect(ins, "{\"level\":\"info\",\"drop\":1,\"msg\":\"m\",\"x\":[1]}",
           "{\"level\":\"info\",\"msg\":\"m\",\"host\":\"x\"}");
    sl_instance_destroy(ins);
}

static void test_rt_errors(void **state)
{
    (void)state;
    expect_error(&sl_plugin_filter_record_transformer, "{keep_keys: []}",
                 "nothing to do");
    expect_error(&sl_plugin_filter_record_transformer, "record: \"onlykey\"",
                 "expects 'KEY TEMPLATE'");
    expect_error(&sl_plugin_filter_record_transformer, "record: \"k ${bogus}\"",
                 "unknown reference");
    expect_error(&sl_plugin_filter_record_transformer, "{rename_keys: ['a']}",
                 "expects 'OLD NEW'");
    expect_error(&sl_plugin_filter_record_transformer,
                 "{remove_key_regex: ['(']}", "invalid remove_key_regex");
}

/* ---- nest ------------------------------------------------------------- */

static void test_nest_round_trip(void **state)
{
    struct sl_instance *nest;
    struct sl_instance *lift;
    const char *orig = "{\"a\":1,\"k_x\":\"1.50\",\"k_y\":{\"z\":[1,2.0e3]},"
                       "\"b\":null}";
    const char *nested = "{\"a\":1,\"k\":{\"x\":\"1.50\",\"y\":{\"z\":[1,"
                         "2.0e3]}},\"b\":null}";
    struct sl_buf out;
    struct sl_buf back;

    (void)state;
    nest = tu_instance(&sl_plugin_filter_nest,
                "{operation: nest, wildcard: ['k_*'], nest_under: k, "
                "remove_prefix: k_}");
    lift = tu_instance(&sl_plugin_filter_nest,
                "{operation: lift, nested_under: k, add_prefix: k_}");
    sl_buf_init(&out, 0);
    sl_buf_init(&back, 0);
    assert_int_equal(run_tag(nest, "t", orig, &out), SL_FILTER_MODIFIED);
    assert_string_equal(out.data, nested);
    assert_int_equal(run_tag(lift, "t", out.data, &back), SL_FILTER_MODIFIED);
    assert_string_equal(back.data, orig);
    /* And the other way round. */
    assert_int_equal(run_tag(lift, "t", nested, &out), SL_FILTER_MODIFIED);
    assert_string_equal(out.data, orig);
    assert_int_equal(run_tag(nest, "t", out.data, &back), SL_FILTER_MODIFIED);
    assert_string_equal(back.data, nested);
    /* Nothing to do: unchanged bytes. */
    expect(nest, "{\"a\": 1}", "{\"a\": 1}");
    expect(lift, "{\"k\": 1}", "{\"k\": 1}");
    sl_buf_fini(&out);
    sl_buf_fini(&back);
    sl_instance_destroy(nest);
    sl_instance_destroy(lift);
}

static void test_nest_details(void **state)
{
    struct sl_instance *ins;

    (void)state;
    /* Scattered keys gather where the first was; ? and exact patterns. */
    ins = tu_instance(&sl_plugin_filter_nest,
               "{wildcard: ['l?', exact], nest_under: m}");
    expect(ins, "{\"a\":0,\"l1\":1,\"b\":2,\"exact\":3,\"l22\":4}",
           "{\"a\":0,\"m\":{\"l1\":1,\"exact\":3},\"b\":2,\"l22\":4}");
    /* An existing map is extended in place. */
    expect(ins, "{\"m\":{\"q\":0},\"l1\":1}", "{\"m\":{\"q\":0,\"l1\":1}}");
    sl_instance_destroy(ins);
    /* Lifted keys replace outer keys of the same name. */
    ins = tu_instance(&sl_plugin_filter_nest, "{operation: lift, nested_under: m}");
    expect(ins, "{\"x\":0,\"m\":{\"x\":1,\"y\":2},\"z\":3}",
           "{\"x\":1,\"y\":2,\"z\":3}");
    sl_instance_destroy(ins);
    expect_error(&sl_plugin_filter_nest, "{operation: nest, nest_under: m}",
                 "needs wildcard and nest_under");
    expect_error(&sl_plugin_filter_nest, "{operation: lift}",
                 "needs nested_under");
}

/* ---- parser (needs the engine's parsers) ------------------------------ */

static const char parser_yaml[] =
    "parsers:\n"
    "  - name: kv\n"
    "    format: regex\n"
    "    regex: '^(?<user>\\w+) did (?<what>\\w+)$'\n"
    "pipeline:\n"
    "  inputs:\n"
    "    - name: dummy\n"
    "  filters:\n"
    "    - name: parser\n"
    "      match: '*'\n"
    "      key_name: log\n"
    "      parser: [json, kv]\n"
    "    - name: parser\n"
    "      match: '*'\n"
    "      key_name: $raw['line']\n"
    "      parser: logfmt\n"
    "      reserve_data: on\n"
    "      preserve_key: on\n"
    "  outputs:\n"
    "    - name: null\n"
    "      match: '*'\n";

static void test_parser_filter(void **state)
{
    struct eng g;
    struct sl_buf out;
    struct sl_instance *p1;
    struct sl_instance *p2;

    (void)state;
    eng_make(&g, parser_yaml);
    assert_int_equal(g.e->nfilters, 2);
    p1 = g.e->filters[0];
    p2 = g.e->filters[1];
    sl_buf_init(&out, 0);
    /* json first; the record becomes the parsed fields. */
    assert_int_equal(
        run_tag(p1, "t", "{\"log\":\"{\\\"a\\\":1}\",\"x\":2}", &out),
        SL_FILTER_MODIFIED);
    assert_string_equal(out.data, "{\"a\":1}");
    /* Then the regex parser from the parsers section. */
    assert_int_equal(run_tag(p1, "t", "{\"log\":\"bob did login\"}", &out),
                     SL_FILTER_MODIFIED);
    assert_string_equal(out.data, "{\"user\":\"bob\",\"what\":\"login\"}");
    /* Failures keep the record and are counted by reason. */
    assert_int_equal(run_tag(p1, "t", "{\"log\":\"nothing here\"}", &out),
                     SL_FILTER_KEEP);
    assert_string_equal(out.data, "{\"log\":\"nothing here\"}");
    assert_int_equal(run_tag(p1, "t", "{\"log\":5}", &out), SL_FILTER_KEEP);
    assert_int_equal(run_tag(p1, "t", "{\"other\":1}", &out), SL_FILTER_KEEP);
    assert_true(metric(&g, "sluice_filter_parser_failures_total", "reason",
                       "no_match") == 1.0);
    assert_true(metric(&g, "sluice_filter_parser_failures_total", "reason",
                       "no_key") == 2.0);
    /* reserve_data + preserve_key, nested key. */
    assert_int_equal(
        run_tag(p2, "t", "{\"a\":0,\"raw\":{\"line\":\"a=1 b=x\"}}", &out),
        SL_FILTER_MODIFIED);
    assert_string_equal(out.data, "{\"a\":\"1\",\"raw\":{\"line\":\"a=1 "
                                  "b=x\"},\"b\":\"x\"}");
    sl_buf_fini(&out);
    eng_free(&g);
}

static void test_parser_errors(void **state)
{
    (void)state;
    /* Standalone instances have no engine, so no parsers. */
    expect_error(&sl_plugin_filter_parser, "{key_name: log, parser: json}",
                 "no parser named 'json'");
    expect_error(&sl_plugin_filter_parser, "{parser: json}",
                 "missing required option 'key_name'");
}

/* ---- throttle --------------------------------------------------------- */

static void test_throttle_buckets(void **state)
{
    struct sl_instance *ins;
    struct sl_buf out;
    int passed_a = 0;
    int passed_b = 0;
    int i;

    (void)state;
    /* 3 per hour, burst 3: the 4th record of a key in a row drops. */
    ins = tu_instance(&sl_plugin_filter_throttle,
               "{key: service, rate: 3, window: 1h, burst: 3}");
    sl_buf_init(&out, 0);
    for (i = 0; i < 10; i++) {
        passed_a +=
            run_tag(ins, "t", "{\"service\":\"a\"}", &out) == SL_FILTER_KEEP;
        passed_b +=
            run_tag(ins, "t", "{\"service\":\"b\"}", &out) == SL_FILTER_KEEP;
    }
    assert_int_equal(passed_a, 3);
    assert_int_equal(passed_b, 3);
    /* Records without the key share one bucket. */
    for (i = 0, passed_a = 0; i < 5; i++) {
        passed_a += run_tag(ins, "t", "{}", &out) == SL_FILTER_KEEP;
    }
    assert_int_equal(passed_a, 3);
    sl_buf_fini(&out);
    sl_instance_destroy(ins);
}

static void test_throttle_refill(void **state)
{
    struct sl_instance *ins;
    struct sl_buf out;
    int passed = 0;
    int64_t start, end, now;
    double allowed;

    (void)state;
    /* 100/s with burst 1 for ~0.3 s: never more than 1 + 100 per second
     * of what actually elapsed (measured), give or take the refill in
     * progress at either end.  Fewer when the test is descheduled (burst
     * 1 keeps only one token through a pause), but the bucket must
     * refill: well above the burst. */
    ins = tu_instance(&sl_plugin_filter_throttle, "{rate: 100, burst: 1}");
    sl_buf_init(&out, 0);
    start = sl_time_mono_ns();
    end = start + 300 * SL_NS_PER_MS;
    do {
        passed += run_tag(ins, "t", "{}", &out) == SL_FILTER_KEEP;
        now = sl_time_mono_ns();
    } while (now < end);
    allowed = 1.0 + 100.0 * (double)(now - start) / 1e9;
    print_message("passed %d in %.3f s at 100/s (allowed %.1f)\n", passed,
                  (double)(now - start) / 1e9, allowed);
    assert_true(passed <= (int)allowed + 1);
    assert_true(passed >= 10);
    sl_buf_fini(&out);
    sl_instance_destroy(ins);
}

static const char throttle_yaml[] = "pipeline:\n"
                                    "  inputs:\n"
                                    "    - name: dummy\n"
                                    "  filters:\n"
                                    "    - name: throttle\n"
                                    "      match: '*'\n"
                                    "      key: k\n"
                                    "      rate: 1\n"
                                    "      window: 1h\n"
                                    "      max_keys: 2\n"
                                    "      print_status: on\n"
                                    "      status_interval: 200ms\n"
                                    "  outputs:\n"
                                    "    - name: null\n"
                                    "      match: '*'\n";

static void test_throttle_cardinality_status(void **state)
{
    struct eng g;
    struct sl_buf out;
    char body[64];
    int i;
    enum sl_filter_result r;

    (void)state;
    eng_make(&g, throttle_yaml);
    sl_buf_init(&out, 0);
    /* Keys k0, k1 get buckets; k2..k9 share _other (one token). */
    for (i = 0; i < 10; i++) {
        snprintf(body, sizeof(body), "{\"k\":\"k%d\"}", i);
        r = run_tag(g.e->filters[0], "t", body, &out);
        assert_int_equal(r, i < 3 ? SL_FILTER_KEEP : SL_FILTER_DROP);
    }
    assert_true(metric(&g, "sluice_throttle_overflow_total", NULL, NULL) ==
                8.0);
    assert_true(metric(&g, "sluice_throttle_dropped_total", "key", "_other") ==
                7.0);
    /* After the interval, a drop becomes the summary record. */
    usleep(250000);
    r = run_tag(g.e->filters[0], "t", "{\"k\":\"k0\"}", &out);
    assert_int_equal(r, SL_FILTER_MODIFIED);
    assert_non_null(strstr(out.data, "{\"throttle\":{\"instance\":"));
    assert_non_null(strstr(out.data, "\"keys\":2"));
    assert_non_null(strstr(out.data, "\"top_dropped\":[{\"key\":\"_other\""));
    assert_true(metric(&g, "sluice_throttle_dropped_total", "key", "k0") ==
                1.0);
    sl_buf_fini(&out);
    eng_free(&g);
}

/* ---- lookup ----------------------------------------------------------- */

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");

    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void test_lookup_csv(void **state)
{
    char dir[] = "/tmp/sl_lookup_XXXXXX";
    char path[128];
    char yaml[256];
    struct sl_instance *ins;
    struct stat st;

    (void)state;
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/teams.csv", dir);
    write_file(path,
               "service,team,owner\r\ncheckout,payments,\"Ana, \"\"A\"\"\"\n"
               "search,discovery,bo\n\n");
    snprintf(yaml, sizeof(yaml),
             "{file: %s, key: service, reload_interval: 1ms}", path);
    ins = tu_instance(&sl_plugin_filter_lookup, yaml);
    expect(ins, "{\"service\":\"checkout\"}",
           "{\"service\":\"checkout\",\"team\":\"payments\","
           "\"owner\":\"Ana, \\\"A\\\"\"}");
    expect(ins, "{\"service\":\"search\",\"team\":\"mine\"}",
           "{\"service\":\"search\",\"team\":\"mine\",\"owner\":\"bo\"}");
    expect(ins, "{\"service\":\"none\"}", "{\"service\":\"none\"}");
    /* Reloaded on change (a different size, so the change shows). */
    write_file(path, "service,team\nnone,newteam-x\n");
    stat(path, &st);
    usleep(5000);
    expect(ins, "{\"service\":\"none\"}",
           "{\"service\":\"none\",\"team\":\"newteam-x\"}");
    /* A broken file keeps the old table. */
    write_file(path, "");
    usleep(5000);
    expect(ins, "{\"service\":\"none\"}",
           "{\"service\":\"none\",\"team\":\"newteam-x\"}");
    sl_instance_destroy(ins);
    unlink(path);
    rmdir(dir);
}

static void test_lookup_json(void **state)
{
    char dir[] = "/tmp/sl_lookup_XXXXXX";
    char path[128];
    char yaml[320];
    struct sl_instance *ins;

    (void)state;
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/t.json", dir);
    write_file(path, "[{\"id\":7,\"team\":\"t7\",\"n\":1.50},"
                     "{\"id\":\"x\",\"team\":\"tx\"}]");
    snprintf(yaml, sizeof(yaml),
             "{file: %s, key: \"$m['id']\", lookup_key: id, "
             "target: \"$meta['o']\", "
             "fields: [team, n], overwrite: on}",
             path);
    ins = tu_instance(&sl_plugin_filter_lookup, yaml);
    expect(ins, "{\"m\":{\"id\":7}}",
           "{\"m\":{\"id\":7},\"meta\":{\"o\":{\"team\":\"t7\",\"n\":1.50}}}");
    sl_instance_destroy(ins);
    write_file(path, "{\"a\":{\"team\":\"ta\"},\"b\":\"not an object\"}");
    snprintf(yaml, sizeof(yaml), "{file: %s, key: svc}", path);
    ins = tu_instance(&sl_plugin_filter_lookup, yaml);
    expect(ins, "{\"svc\":\"a\"}", "{\"svc\":\"a\",\"team\":\"ta\"}");
    expect(ins, "{\"svc\":\"b\"}", "{\"svc\":\"b\"}");
    sl_instance_destroy(ins);
    snprintf(yaml, sizeof(yaml), "{file: %s/missing.json, key: svc}", dir);
    expect_error(&sl_plugin_filter_lookup, yaml, "cannot open");
    write_file(path, "[1]");
    snprintf(yaml, sizeof(yaml), "{file: %s, key: svc}", path);
    expect_error(&sl_plugin_filter_lookup, yaml, "set lookup_key");
    unlink(path);
    rmdir(dir);
}

/* ---- normalize -------------------------------------------------------- */

static void expect_tag(struct sl_instance *ins, const char *in,
                       const char *want, const char *want_tag)
{
    struct sl_arena arena;
    struct sl_record r;
    struct sl_buf out;

    sl_arena_init(&arena, 0, 0);
    sl_buf_init(&out, 0);
    memset(&r, 0, sizeof(r));
    r.tag = SL_STR_LIT("app.x");
    r.body = sl_str_cstr(in);
    r.arena = &arena;
    r.ts_ns = INT64_C(1700000000123456789);
    assert_int_equal(sl_instance_plugin(ins)->filter(ins, &r),
                     SL_FILTER_MODIFIED);
    assert_int_equal(sl_json_serialize(r.dom, &out), SL_OK);
    assert_string_equal(out.data, want);
    assert_true(sl_str_eq_cstr(r.tag, want_tag));
    sl_buf_fini(&out);
    sl_arena_fini(&arena);
}

static void test_normalize_shapes(void **state)
{
    struct sl_instance *ins;

    (void)state;
    ins = tu_instance(&sl_plugin_filter_normalize, "");
    expect_tag(ins,
               "{\"user\":\"bob\",\"action\":\"login\",\"ip\":\"1.2.3.4\","
               "\"result\":\"denied\"}",
               "{\"action\":\"login\",\"result\":\"denied\",\"actor\":\"bob\","
               "\"source_ip\":\"1.2.3.4\",\"event_type\":\"audit\","
               "\"outcome\":\"failure\",\"event\":{\"kind\":\"event\"}}",
               "audit.app.x");
    expect_tag(ins,
               "{\"metric_name\":\"cpu\",\"value\":9,\"anomaly_score\":0.9}",
               "{\"value\":9,\"score\":0.9,\"metric\":\"cpu\","
               "\"event_type\":\"anomaly\",\"event\":{\"kind\":\"alert\"}}",
               "anomaly.app.x");
    expect_tag(ins,
               "{\"level\":\"error\",\"error\":\"boom\",\"stacktrace\":\"s\"}",
               "{\"level\":\"error\",\"error\":{\"message\":\"boom\","
               "\"stack\":\"s\"},\"event\":{\"kind\":\"event\"}}",
               "error.app.x");
    expect_tag(ins, "{\"metric\":\"rps\",\"value\":3,\"event\":\"tick\"}",
               "{\"metric\":\"rps\",\"value\":3,\"event\":{\"original\":"
               "\"tick\",\"kind\":\"metric\"}}",
               "app.x");
    expect_tag(ins, "{\"msg\":\"hello\"}",
               "{\"msg\":\"hello\",\"event\":{\"kind\":\"event\"}}", "app.x");
    sl_instance_destroy(ins);
}

static void test_normalize_rules_ecs(void **state)
{
    struct sl_instance *ins;

    (void)state;
    ins = tu_instance(&sl_plugin_filter_normalize,
               "{rules: ['audit key_value_equals type sec', "
               "'error key_value_matches msg ^FATAL'], detect_by_shape: off, "
               "ecs: on, audit_tag_prefix: 'a.'}");
    expect_tag(ins,
               "{\"type\":\"sec\",\"actor\":\"bob\",\"action\":\"rm\","
               "\"compliance_id\":\"PCI-1\",\"level\":\"info\"}",
               "{\"type\":\"sec\",\"event\":{\"kind\":\"event\",\"action\":"
               "\"rm\",\"outcome\":\"unknown\",\"type\":\"audit\"},"
               "\"log\":{\"level\":\"info\"},\"user\":{\"name\":\"bob\"},"
               "\"rule\":{\"id\":\"PCI-1\"},"
               "\"@timestamp\":\"2023-11-14T22:13:20.123Z\"}",
               "a.app.x");
    expect_tag(ins, "{\"msg\":\"FATAL x\",\"stack\":\"s\"}",
               "{\"error\":{\"stack_trace\":\"s\"},\"event\":{\"kind\":"
               "\"event\"},\"message\":\"FATAL x\","
               "\"@timestamp\":\"2023-11-14T22:13:20.123Z\"}",
               "error.app.x");
    /* Without shape detection, an anomaly-looking record is a log. */
    expect_tag(ins, "{\"metric\":\"m\",\"value\":1,\"score\":1}",
               "{\"metric\":\"m\",\"value\":1,\"score\":1,\"event\":{\"kind\":"
               "\"event\"},\"@timestamp\":\"2023-11-14T22:13:20.123Z\"}",
               "app.x");
    sl_instance_destroy(ins);
    expect_error(&sl_plugin_filter_normalize, "{rules: ['bogus key_exists a']}",
                 "expects 'KIND key_exists KEY'");
    expect_error(&sl_plugin_filter_normalize,
                 "{rules: ['audit key_value_matches a (']}", "invalid regex");
}

/* ---- audit chain ------------------------------------------------------ */

static void test_audit_canonical(void **state)
{
    struct sl_arena a;
    struct sl_json *dom = NULL;
    struct sl_buf out;
    const char *in = "{\"b\":1,\"audit\":{\"seq\":3,\"hmac\":\"x\",\"who\":"
                     "\"me\"},\"a\":{\"z\":[{\"y\":1,\"x\":\"\\u00e9\"}],"
                     "\"c\":2.50},\"a\":0}";
    char hex[SL_AUDIT_HMAC_HEX + 1];

    (void)state;
    sl_arena_init(&a, 0, 0);
    sl_buf_init(&out, 0);
    assert_int_equal(sl_json_parse(&a, in, strlen(in), &dom, NULL), SL_OK);
    assert_int_equal(sl_audit_canonical(dom, &a, &out), SL_OK);
    assert_string_equal(out.data,
                        "{\"a\":{\"c\":2.50,\"z\":[{\"x\":\"\xc3\xa9\",\"y\":"
                        "1}]},\"a\":0,\"audit\":{\"who\":\"me\"},\"b\":1}");
    sl_buf_reset(&out);
    in = "{\"audit\":{\"seq\":1,\"hmac\":\"h\"},\"k\":true}";
    assert_int_equal(sl_json_parse(&a, in, strlen(in), &dom, NULL), SL_OK);
    assert_int_equal(sl_audit_canonical(dom, &a, &out), SL_OK);
    assert_string_equal(out.data, "{\"k\":true}");
    /* RFC 4231 test case 2 (key "Jefe"), as a check of the HMAC. */
    assert_int_equal(sl_audit_hmac(SL_STR_LIT("Jefe"),
                                   SL_STR_LIT("what do ya "),
                                   SL_STR_LIT("want for nothing?"), hex),
                     SL_OK);
    assert_string_equal(hex, "5bdcc146bf60754e6a042426089575c75a003f089d2739"
                             "839dec58b964ec3843");
    sl_buf_fini(&out);
    sl_arena_fini(&a);
}

static void test_audit_chain_filter(void **state)
{
    char dir[] = "/tmp/sl_audit_XXXXXX";
    char key[128];
    char st[128];
    char yaml[512];
    char line[128];
    struct sl_instance *ins;
    struct sl_buf out;
    char first[SL_AUDIT_HMAC_HEX + 1];
    FILE *f;

    (void)state;
    assert_non_null(mkdtemp(dir));
    snprintf(key, sizeof(key), "%s/key", dir);
    snprintf(st, sizeof(st), "%s/sub/chain.state", dir);
    write_file(key, "0123456789abcdef-secret\n");
    snprintf(yaml, sizeof(yaml),
             "{key_file: %s, state_file: %s, tag_pattern: 'app.*'}", key, st);
    ins = tu_instance(&sl_plugin_filter_audit_chain, yaml);
    sl_buf_init(&out, 0);
    assert_int_equal(run_tag(ins, "app.a", "{\"x\":1}", &out),
                     SL_FILTER_MODIFIED);
    assert_non_null(strstr(out.data, "\"audit\":{\"seq\":1,\"hmac\":\""));
    memcpy(first, strstr(out.data, "\"hmac\":\"") + 8, SL_AUDIT_HMAC_HEX);
    first[SL_AUDIT_HMAC_HEX] = '\0';
    /* Not matching tag_pattern: untouched. */
    assert_int_equal(run_tag(ins, "other", "{\"x\":1}", &out), SL_FILTER_KEEP);
    assert_int_equal(run_tag(ins, "app.b", "{\"x\":1}", &out),
                     SL_FILTER_MODIFIED);
    assert_non_null(strstr(out.data, "\"seq\":2"));
    assert_null(strstr(out.data, first)); /* chained: a different HMAC */
    sl_instance_destroy(ins);
    /* A restart continues at seq 3. */
    ins = tu_instance(&sl_plugin_filter_audit_chain, yaml);
    assert_int_equal(run_tag(ins, "app.c", "{\"audit\":{\"seq\":99}}", &out),
                     SL_FILTER_MODIFIED);
    assert_non_null(strstr(out.data, "{\"audit\":{\"seq\":3,\"hmac\":"));
    sl_instance_destroy(ins);
    f = fopen(st, "r");
    assert_non_null(f);
    assert_non_null(fgets(line, sizeof(line), f));
    fclose(f);
    assert_int_equal(strncmp(line, "00000000000000000003 ", 21), 0);
    /* A damaged state file is an error, never a silent new chain. */
    write_file(st, "garbage\n");
    expect_error(&sl_plugin_filter_audit_chain, yaml, "is damaged");
    write_file(key, "short\n");
    expect_error(&sl_plugin_filter_audit_chain, yaml, "cannot read a key");
    sl_buf_fini(&out);
    unlink(st);
    unlink(key);
    snprintf(st, sizeof(st), "%s/sub", dir);
    rmdir(st);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_template_parts),
        cmocka_unit_test(test_template_errors),
        cmocka_unit_test(test_template_oom),
        cmocka_unit_test(test_rt_record),
        cmocka_unit_test(test_rt_remove_rename_keep),
        cmocka_unit_test(test_rt_errors),
        cmocka_unit_test(test_nest_round_trip),
        cmocka_unit_test(test_nest_details),
        cmocka_unit_test(test_parser_filter),
        cmocka_unit_test(test_parser_errors),
        cmocka_unit_test(test_throttle_buckets),
        cmocka_unit_test(test_throttle_refill),
        cmocka_unit_test(test_throttle_cardinality_status),
        cmocka_unit_test(test_lookup_csv),
        cmocka_unit_test(test_lookup_json),
        cmocka_unit_test(test_normalize_shapes),
        cmocka_unit_test(test_normalize_rules_ecs),
        cmocka_unit_test(test_audit_canonical),
        cmocka_unit_test(test_audit_chain_filter),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
