/*
 * test_out_es.c - the es output's body building (action lines, splicing
 * of time and tag keys, templated index names, deterministic ids) and bulk
 * answer parsing (mixed item statuses, the errors:false fast path).
 *
 * The plugin source is included so that its static functions can be
 * called; its instance comes from sl_instance_create_standalone.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "../../plugins/out_es/out_es.c"

#include "plugin.h"
#include "test_util.h"
#include "sluice/banned.h"

#define TS (INT64_C(1795243860) * SL_NS_PER_S + 123456789)

struct fixture {
    struct sl_instance *ins;
    struct out_es_worker wk;
    struct sl_buf out;
};

static struct fixture *fx_make(const char *yaml)
{
    struct fixture *fx = sl_calloc(1, sizeof(*fx));

    assert_non_null(fx);
    fx->ins = tu_instance(&sl_plugin_out_es, yaml);
    fx->wk.es = sl_instance_ctx(fx->ins);
    fx->wk.ins = fx->ins;
    fx->wk.checker = sl_json_checker_create();
    fx->wk.md_ctx = EVP_MD_CTX_new();
    fx->wk.sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
    sl_arena_init(&fx->wk.hw.arena, 0, 0);
    sl_buf_init(&fx->wk.hw.scratch, 0);
    sl_buf_init(&fx->wk.index, 0);
    sl_buf_init(&fx->wk.tagm, 0);
    sl_buf_init(&fx->out, 0);
    return fx;
}

static void fx_free(struct fixture *fx)
{
    sl_json_checker_destroy(fx->wk.checker);
    EVP_MD_CTX_free(fx->wk.md_ctx);
    EVP_MD_free(fx->wk.sha256);
    sl_arena_fini(&fx->wk.hw.arena);
    sl_buf_fini(&fx->wk.hw.scratch);
    sl_buf_fini(&fx->wk.index);
    sl_buf_fini(&fx->wk.tagm);
    sl_buf_fini(&fx->out);
    sl_instance_destroy(fx->ins);
    sl_free(fx);
}

/* Builds the two lines of one record of tag <tag>. */
static const char *fx_lines(struct fixture *fx, const char *tag,
                            const char *body, int64_t ts)
{
    struct sl_event ev = { .ts_ns = ts, .body = sl_str_cstr(body) };
    struct sl_str t = sl_str_cstr(tag);
    const struct out_es *es = fx->wk.es;

    sl_buf_reset(&fx->out);
    sl_buf_reset(&fx->wk.tagm);
    fx->wk.index_valid = false;
    if (es->tag_name.len > 0) {
        assert_int_equal(sl_buf_append_sl(&fx->wk.tagm,
                                          sl_buf_str(&es->tag_name)), SL_OK);
        assert_int_equal(sl_json_write_string(&fx->wk.tagm, t.ptr, t.len),
                         SL_OK);
    }
    assert_int_equal(es_action(&fx->wk, t, &ev, &fx->out), SL_OK);
    assert_int_equal(es_source(&fx->wk, &ev, &fx->out), SL_OK);
    return fx->out.data;
}

static void test_splice_time_tag_index(void **state)
{
    struct fixture *fx = fx_make("{index: 'logs-${tag}-$svc-%Y.%m.%d', "
                                 "include_tag_key: on}");

    (void)state;
    assert_string_equal(
        fx_lines(fx, "app.web", "{\"svc\":\"api\",\"m\":\"a\\\"b\"}", TS),
        "{\"index\":{\"_index\":\"logs-app.web-api-2026.11.21\"}}\n"
        "{\"@timestamp\":\"2026-11-21T06:51:00.123Z\",\"tag\":\"app.web\","
        "\"svc\":\"api\",\"m\":\"a\\\"b\"}\n");
    /* an empty object gets no dangling comma */
    assert_string_equal(fx_lines(fx, "t", "{}", TS),
                        "{\"index\":{\"_index\":\"logs-t--2026.11.21\"}}\n"
                        "{\"@timestamp\":\"2026-11-21T06:51:00.123Z\","
                        "\"tag\":\"t\"}\n");
    fx_free(fx);
}

static void test_existing_time_key_kept(void **state)
{
    struct fixture *fx = fx_make("{time_precision: ns}");

    (void)state;
    assert_string_equal(
        fx_lines(fx, "t", "{\"@timestamp\":\"x\",\"a\":1}", TS),
        "{\"index\":{\"_index\":\"sluice\"}}\n"
        "{\"@timestamp\":\"x\",\"a\":1}\n");
    /* nested: not a top-level member, so the time is added */
    assert_string_equal(
        fx_lines(fx, "t", "{\"a\":{\"@timestamp\":1}}", TS),
        "{\"index\":{\"_index\":\"sluice\"}}\n"
        "{\"@timestamp\":\"2026-11-21T06:51:00.123456789Z\","
        "\"a\":{\"@timestamp\":1}}\n");
    fx_free(fx);
}

static void test_id_key_create_type(void **state)
{
    struct fixture *fx = fx_make("{op_type: create, id_key: \"$a['b']\", "
                                 "suppress_type_name: off, time_key: ''}");

    (void)state;
    assert_true(fx->wk.es->ok_conflict);
    assert_string_equal(
        fx_lines(fx, "t", "{\"a\":{\"b\":\"x\\\"1\"}}", TS),
        "{\"create\":{\"_index\":\"sluice\",\"_type\":\"_doc\","
        "\"_id\":\"x\\\"1\"}}\n{\"a\":{\"b\":\"x\\\"1\"}}\n");
    fx_free(fx);
}

static void test_generated_ids_deterministic(void **state)
{
    struct fixture *fx = fx_make("{data_stream: on, generate_id: on}");
    char a[256], b[256];
    const char *id;

    (void)state;
    snprintf(a, sizeof(a), "%s", fx_lines(fx, "t", "{\"m\":1}", TS));
    snprintf(b, sizeof(b), "%s", fx_lines(fx, "t", "{\"m\":1}", TS));
    assert_string_equal(a, b);
    id = strstr(a, "\"_id\":\"");
    assert_non_null(id);
    assert_int_equal(strchr(id + 7, '"') - (id + 7), 20);
    assert_true(strncmp(a, "{\"create\":", 10) == 0);
    snprintf(b, sizeof(b), "%s", fx_lines(fx, "t", "{\"m\":2}", TS));
    assert_string_not_equal(a, b);
    snprintf(b, sizeof(b), "%s", fx_lines(fx, "u", "{\"m\":1}", TS));
    assert_string_not_equal(a, b);
    snprintf(b, sizeof(b), "%s", fx_lines(fx, "t", "{\"m\":1}", TS + 1));
    assert_string_not_equal(a, b);
    fx_free(fx);
}

struct fails {
    size_t n;
    size_t rec[8];
    bool perm[8];
    char why[8][128];
};

static void collect(void *arg, size_t rec, bool permanent, const char *why)
{
    struct fails *f = arg;

    assert_true(f->n < 8);
    f->rec[f->n] = rec;
    f->perm[f->n] = permanent;
    snprintf(f->why[f->n], sizeof(f->why[0]), "%s", why);
    f->n++;
}

static void test_parse_mixed_items(void **state)
{
    struct fixture *fx = fx_make("{op_type: create, generate_id: on}");
    const char *body =
        "{\"took\":3,\"errors\":true,\"items\":["
        "{\"create\":{\"_index\":\"i\",\"status\":201}},"
        "{\"create\":{\"_index\":\"i\",\"status\":409,\"error\":{\"type\":"
        "\"version_conflict_engine_exception\",\"reason\":\"exists\"}}},"
        "{\"create\":{\"_index\":\"i\",\"status\":400,\"error\":{\"type\":"
        "\"document_parsing_exception\",\"reason\":\"bad [status]\","
        "\"caused_by\":{\"type\":\"x\",\"reason\":\"inner\"}}}},"
        "{\"create\":{\"_index\":\"i\",\"status\":429,\"error\":{\"type\":"
        "\"es_rejected_execution_exception\",\"reason\":\"queue\"}}},"
        "{\"create\":{\"_index\":\"i\",\"status\":503}}]}";
    struct fails f = { 0 };

    (void)state;
    assert_false(es_no_errors(sl_str_cstr(body)));
    assert_true(es_parse_items(&fx->wk, collect, &f, 10, 16,
                               sl_str_cstr(body)));
    assert_int_equal(f.n, 4);
    assert_int_equal(f.rec[0], 12);
    assert_true(f.perm[0]);
    assert_string_equal(f.why[0], "item status 400: "
                                  "document_parsing_exception: bad [status]");
    assert_int_equal(f.rec[1], 13);
    assert_false(f.perm[1]);
    assert_int_equal(f.rec[2], 14);
    assert_false(f.perm[2]);
    /* the answer had 5 items for 6 records: the last one is retried */
    assert_int_equal(f.rec[3], 15);
    assert_false(f.perm[3]);
    assert_int_equal(fx->wk.stat[ES_CREATED], 1);
    assert_int_equal(fx->wk.stat[ES_CONFLICT], 1);
    assert_int_equal(fx->wk.stat[ES_REJECTED], 1);
    assert_int_equal(fx->wk.stat[ES_RETRY], 3);
    fx_free(fx);
}

static void test_parse_conflict_without_id_rejected(void **state)
{
    struct fixture *fx = fx_make("{op_type: create}");
    const char *body = "{\"errors\":true,\"items\":[{\"create\":{\"status\":"
                       "409,\"error\":{\"type\":\"v\",\"reason\":\"r\"}}}]}";
    struct fails f = { 0 };

    (void)state;
    assert_true(es_parse_items(&fx->wk, collect, &f, 0, 1,
                               sl_str_cstr(body)));
    assert_int_equal(f.n, 1);
    assert_true(f.perm[0]);
    fx_free(fx);
}

static void test_fast_path_and_garbage(void **state)
{
    struct fixture *fx = fx_make("{}");
    struct fails f = { 0 };

    (void)state;
    assert_true(es_no_errors(sl_str_cstr(
        "{\"took\":1,\"errors\":false,\"items\":[{\"index\":{}}]}")));
    assert_false(es_no_errors(sl_str_cstr("{\"errors\":true}")));
    assert_false(es_parse_items(&fx->wk, collect, &f, 0, 2,
                                sl_str_cstr("<html>bad gateway</html>")));
    assert_false(es_parse_items(&fx->wk, collect, &f, 0, 2,
                                sl_str_cstr("{\"error\":{}}")));
    fx_free(fx);
}

static void test_bad_config(void **state)
{
    struct sl_errlist errs;

    (void)state;
    sl_errlist_init(&errs);
    assert_null(sl_instance_create_standalone(
        &sl_plugin_out_es, "{id_key: a, generate_id: on}", &errs));
    assert_true(errs.n > 0);
    assert_non_null(strstr(errs.items[0].msg, "not both"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_splice_time_tag_index),
        cmocka_unit_test(test_existing_time_key_kept),
        cmocka_unit_test(test_id_key_create_type),
        cmocka_unit_test(test_generated_ids_deterministic),
        cmocka_unit_test(test_parse_mixed_items),
        cmocka_unit_test(test_parse_conflict_without_id_rejected),
        cmocka_unit_test(test_fast_path_and_garbage),
        cmocka_unit_test(test_bad_config),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
