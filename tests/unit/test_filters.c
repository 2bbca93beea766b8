/*
 * test_filters.c - the grep and modify filters, through standalone
 * instances configured from YAML (sl_instance_create_standalone) and run
 * on single records (sl_instance_filter).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "plugin.h"
#include "test_util.h"
#include "sluice/banned.h"

extern const struct sl_plugin sl_plugin_filter_grep;
extern const struct sl_plugin sl_plugin_filter_modify;

/* Asserts that <yaml> fails and that an error message contains <want>. */
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
    assert_true(sl_errlist_count(&errs) > 0);
    for (i = 0; i < errs.n; i++) {
        if (strstr(errs.items[i].msg, want) != NULL) {
            found = true;
        } else {
            print_message("got: %s\n", errs.items[i].msg);
        }
    }
    assert_true(found);
}

/* Runs <ins> on <body>; returns the result and leaves the body in <out>. */
static enum sl_filter_result run(struct sl_instance *ins, const char *body,
                                 struct sl_buf *out)
{
    return sl_instance_filter(ins, SL_STR_LIT("app.web"), sl_str_cstr(body),
                              out);
}

static bool kept(struct sl_instance *ins, const char *body)
{
    struct sl_buf out;
    enum sl_filter_result r;

    sl_buf_init(&out, 0);
    r = run(ins, body, &out);
    if (r == SL_FILTER_KEEP) {
        /* A grep never changes a record it keeps. */
        assert_string_equal(out.data, body);
    }
    sl_buf_fini(&out);
    assert_int_not_equal(r, SL_FILTER_MODIFIED);
    return r == SL_FILTER_KEEP;
}

/* Runs a modify instance and checks the result and the body. */
static void expect_body(struct sl_instance *ins, const char *body,
                        enum sl_filter_result want_r, const char *want)
{
    struct sl_buf out;
    enum sl_filter_result r;

    sl_buf_init(&out, 0);
    r = run(ins, body, &out);
    assert_int_equal(r, want_r);
    assert_non_null(out.data);
    assert_string_equal(out.data, want);
    sl_buf_fini(&out);
}

/* ---- grep ---- */

static void test_grep_regex(void **state)
{
    struct sl_instance *ins =
        tu_instance(&sl_plugin_filter_grep, "{regex: 'level ^(error|warn)$'}");

    (void)state;
    assert_true(kept(ins, "{\"level\":\"error\",\"msg\":\"x\"}"));
    assert_true(kept(ins, "{\"msg\":\"x\",\"level\":\"warn\"}"));
    assert_false(kept(ins, "{\"level\":\"info\"}"));
    assert_false(kept(ins, "{\"level\":\"errors\"}"));
    /* A missing key never matches. */
    assert_false(kept(ins, "{\"msg\":\"error\"}"));
    assert_false(kept(ins, "{}"));
    sl_instance_destroy(ins);
}

static void test_grep_exclude(void **state)
{
    struct sl_instance *ins =
        tu_instance(&sl_plugin_filter_grep, "{exclude: 'path ^/health'}");

    (void)state;
    assert_false(kept(ins, "{\"path\":\"/healthz\"}"));
    assert_true(kept(ins, "{\"path\":\"/api/v1\"}"));
    assert_true(kept(ins, "{\"msg\":\"no path\"}"));
    sl_instance_destroy(ins);
}

static void test_grep_and(void **state)
{
    struct sl_instance *ins =
        tu_instance(&sl_plugin_filter_grep,
             "{regex: ['level ^error$', 'svc ^api'], logical_op: and}");

    (void)state;
    assert_true(kept(ins, "{\"level\":\"error\",\"svc\":\"api-1\"}"));
    assert_false(kept(ins, "{\"level\":\"error\",\"svc\":\"db\"}"));
    assert_false(kept(ins, "{\"level\":\"info\",\"svc\":\"api\"}"));
    assert_false(kept(ins, "{\"level\":\"error\"}"));
    sl_instance_destroy(ins);
}

static void test_grep_and_is_default(void **state)
{
    struct sl_instance *ins =
        tu_instance(&sl_plugin_filter_grep, "{regex: ['a ^1$', 'b ^2$']}");

    (void)state;
    assert_true(kept(ins, "{\"a\":1,\"b\":2}"));
    assert_false(kept(ins, "{\"a\":1,\"b\":3}"));
    sl_instance_destroy(ins);
}

static void test_grep_or(void **state)
{
    struct sl_instance *ins =
        tu_instance(&sl_plugin_filter_grep,
             "{regex: ['level ^error$', 'svc ^api'], logical_op: or}");

    (void)state;
    assert_true(kept(ins, "{\"level\":\"error\",\"svc\":\"db\"}"));
    assert_true(kept(ins, "{\"level\":\"info\",\"svc\":\"api\"}"));
    assert_true(kept(ins, "{\"svc\":\"api\"}"));
    assert_false(kept(ins, "{\"level\":\"info\",\"svc\":\"db\"}"));
    assert_false(kept(ins, "{}"));
    sl_instance_destroy(ins);
}

static void test_grep_exclude_wins(void **state)
{
    struct sl_instance *and_ins =
        tu_instance(&sl_plugin_filter_grep, "{regex: 'level ^error$', "
                                     "exclude: 'svc ^test', logical_op: and}");
    struct sl_instance *or_ins =
        tu_instance(&sl_plugin_filter_grep,
             "{regex: ['level ^error$', 'code ^5'], exclude: ['svc ^test', "
             "'user ^bot$'], logical_op: or}");

    (void)state;
    assert_true(kept(and_ins, "{\"level\":\"error\",\"svc\":\"prod\"}"));
    assert_false(kept(and_ins, "{\"level\":\"error\",\"svc\":\"test1\"}"));
    assert_false(kept(and_ins, "{\"level\":\"info\",\"svc\":\"prod\"}"));

    assert_true(kept(or_ins, "{\"code\":503}"));
    assert_false(kept(or_ins, "{\"code\":503,\"user\":\"bot\"}"));
    assert_false(kept(or_ins, "{\"level\":\"error\",\"svc\":\"test\"}"));
    assert_false(kept(or_ins, "{\"code\":200}"));
    sl_instance_destroy(and_ins);
    sl_instance_destroy(or_ins);
}

static void test_grep_exclude_only_or(void **state)
{
    struct sl_instance *ins =
        tu_instance(&sl_plugin_filter_grep, "{exclude: ['a ^x$', 'b ^y$'], "
                                     "logical_op: or}");

    (void)state;
    assert_true(kept(ins, "{\"a\":\"z\"}"));
    assert_false(kept(ins, "{\"a\":\"x\"}"));
    assert_false(kept(ins, "{\"b\":\"y\"}"));
    sl_instance_destroy(ins);
}

static void test_grep_values(void **state)
{
    struct sl_instance *ins =
        tu_instance(&sl_plugin_filter_grep,
             "{regex: ['$kubernetes[''ns''] ^prod-', 'code ^5\\d\\d$', "
             "'ok ^false$', 'msg two words']}");

    (void)state;
    assert_true(kept(ins, "{\"kubernetes\":{\"ns\":\"prod-eu\"},\"code\":502,"
                          "\"ok\":false,\"msg\":\"has two words in it\"}"));
    assert_false(kept(ins, "{\"kubernetes\":{\"ns\":\"dev\"},\"code\":502,"
                           "\"ok\":false,\"msg\":\"two words\"}"));
    assert_false(kept(ins, "{\"kubernetes\":{\"ns\":\"prod-eu\"},\"code\":"
                           "200,\"ok\":false,\"msg\":\"two words\"}"));
    assert_false(kept(ins, "{\"kubernetes\":\"prod-eu\",\"code\":502,"
                           "\"ok\":false,\"msg\":\"two words\"}"));
    sl_instance_destroy(ins);
}

static void test_grep_unicode(void **state)
{
    struct sl_instance *ins =
        tu_instance(&sl_plugin_filter_grep, "{regex: 'city ^Z.rich$'}");

    (void)state;
    /* One code point matches '.', as the pattern is UTF-8. */
    assert_true(kept(ins, "{\"city\":\"Z\\u00fcrich\"}"));
    assert_false(kept(ins, "{\"city\":\"Zuerich\"}"));
    sl_instance_destroy(ins);
}

static void test_grep_errors(void **state)
{
    (void)state;
    expect_error(&sl_plugin_filter_grep, "{regex: 'level ^(error'}", "offset");
    expect_error(&sl_plugin_filter_grep, "{exclude: 'level [a-'}",
                 "invalid regex");
    expect_error(&sl_plugin_filter_grep, "{regex: 'level'}",
                 "grep: 'regex' expects 'KEY REGEX', got 'level'");
    expect_error(&sl_plugin_filter_grep, "{logical_op: and}", "at least one");
    expect_error(&sl_plugin_filter_grep, "{regex: 'a b', logical_op: xor}",
                 "xor");
    expect_error(&sl_plugin_filter_grep, "{regexp: 'a b'}", "regexp");
}

/* ---- modify ---- */

static void test_modify_set(void **state)
{
    struct sl_instance *ins =
        tu_instance(&sl_plugin_filter_modify,
             "{set: ['env prod', 'msg hello  world', 'n 5']}");

    (void)state;
    expect_body(ins, "{\"env\":\"dev\",\"a\":1}", SL_FILTER_MODIFIED,
                "{\"env\":\"prod\",\"a\":1,\"msg\":\"hello  world\","
                "\"n\":\"5\"}");
    expect_body(ins, "{}", SL_FILTER_MODIFIED,
                "{\"env\":\"prod\",\"msg\":\"hello  world\",\"n\":\"5\"}");
    sl_instance_destroy(ins);
}

static void test_modify_set_nested(void **state)
{
    struct sl_instance *ins = tu_instance(&sl_plugin_filter_modify,
                                   "{set: '$k8s[''labels''][''app''] web'}");

    (void)state;
    expect_body(ins, "{\"a\":1}", SL_FILTER_MODIFIED,
                "{\"a\":1,\"k8s\":{\"labels\":{\"app\":\"web\"}}}");
    expect_body(ins, "{\"k8s\":{\"labels\":{\"app\":\"db\",\"x\":1}}}",
                SL_FILTER_MODIFIED,
                "{\"k8s\":{\"labels\":{\"app\":\"web\",\"x\":1}}}");
    sl_instance_destroy(ins);
}

static void test_modify_add(void **state)
{
    struct sl_instance *ins =
        tu_instance(&sl_plugin_filter_modify, "{add: 'env prod'}");

    (void)state;
    expect_body(ins, "{\"env\":\"dev\"}", SL_FILTER_KEEP, "{\"env\":\"dev\"}");
    expect_body(ins, "{\"env\":null}", SL_FILTER_KEEP, "{\"env\":null}");
    expect_body(ins, "{\"a\":true}", SL_FILTER_MODIFIED,
                "{\"a\":true,\"env\":\"prod\"}");
    sl_instance_destroy(ins);
}

static void test_modify_remove(void **state)
{
    struct sl_instance *ins = tu_instance(&sl_plugin_filter_modify,
                                   "{remove: [password, '$user[''token'']']}");

    (void)state;
    expect_body(ins,
                "{\"password\":\"s\",\"user\":{\"id\":1,\"token\":\"t\"},"
                "\"a\":[1,2]}",
                SL_FILTER_MODIFIED, "{\"user\":{\"id\":1},\"a\":[1,2]}");
    expect_body(ins, "{\"a\":1}", SL_FILTER_KEEP, "{\"a\":1}");
    sl_instance_destroy(ins);
}

static void test_modify_remove_regex(void **state)
{
    struct sl_instance *ins =
        tu_instance(&sl_plugin_filter_modify, "{remove_regex: '^_'}");

    (void)state;
    expect_body(ins, "{\"_a\":1,\"b\":2,\"_c\":{\"d\":3},\"e_\":4}",
                SL_FILTER_MODIFIED, "{\"b\":2,\"e_\":4}");
    expect_body(ins, "{\"b\":2}", SL_FILTER_KEEP, "{\"b\":2}");
    sl_instance_destroy(ins);
}

static void test_modify_rename(void **state)
{
    struct sl_instance *ins = tu_instance(&sl_plugin_filter_modify,
                                   "{rename: ['msg message', 'lvl level']}");

    (void)state;
    /* In place: the member keeps its position. */
    expect_body(ins, "{\"a\":1,\"msg\":\"hi\",\"b\":2}", SL_FILTER_MODIFIED,
                "{\"a\":1,\"message\":\"hi\",\"b\":2}");
    /* Overwrites the destination. */
    expect_body(ins, "{\"level\":\"old\",\"lvl\":\"new\"}", SL_FILTER_MODIFIED,
                "{\"level\":\"new\"}");
    /* Only when the source exists. */
    expect_body(ins, "{\"message\":\"x\"}", SL_FILTER_KEEP,
                "{\"message\":\"x\"}");
    sl_instance_destroy(ins);
}

static void test_modify_rename_nested(void **state)
{
    struct sl_instance *ins =
        tu_instance(&sl_plugin_filter_modify, "{rename: '$req[''ua''] user_agent'}");

    (void)state;
    expect_body(ins, "{\"req\":{\"ua\":\"curl\",\"m\":\"GET\"}}",
                SL_FILTER_MODIFIED,
                "{\"req\":{\"m\":\"GET\"},\"user_agent\":\"curl\"}");
    sl_instance_destroy(ins);
}

static void test_modify_copy(void **state)
{
    struct sl_instance *ins =
        tu_instance(&sl_plugin_filter_modify, "{copy: 'src dst'}");

    (void)state;
    expect_body(ins, "{\"src\":{\"a\":[1]}}", SL_FILTER_MODIFIED,
                "{\"src\":{\"a\":[1]},\"dst\":{\"a\":[1]}}");
    expect_body(ins, "{\"dst\":1,\"src\":2}", SL_FILTER_MODIFIED,
                "{\"dst\":2,\"src\":2}");
    expect_body(ins, "{\"dst\":1}", SL_FILTER_KEEP, "{\"dst\":1}");
    sl_instance_destroy(ins);
}

static void test_modify_order(void **state)
{
    /* remove, remove_regex, rename, copy, add, set: whatever the order in
     * the configuration. */
    struct sl_instance *ins = tu_instance(&sl_plugin_filter_modify,
                                   "{set: 'a set', add: 'b added', "
                                   "copy: 'c b', rename: 'a c', remove: a}");

    (void)state;
    /* remove a; (rename: no a); copy: no c; add b; set a. */
    expect_body(ins, "{\"a\":1}", SL_FILTER_MODIFIED,
                "{\"b\":\"added\",\"a\":\"set\"}");
    sl_instance_destroy(ins);

    ins = tu_instance(&sl_plugin_filter_modify,
               "{set: 'a set', add: 'b added', copy: 'c b', rename: 'a c'}");
    /* rename a->c; copy c->b; add: b exists; set a. */
    expect_body(ins, "{\"a\":1}", SL_FILTER_MODIFIED,
                "{\"c\":1,\"b\":1,\"a\":\"set\"}");
    sl_instance_destroy(ins);
}

static void test_modify_conditions(void **state)
{
    struct sl_instance *ins =
        tu_instance(&sl_plugin_filter_modify,
             "{set: 'hit yes', condition: ['key_exists a', "
             "'key_does_not_exist b', 'key_value_equals c 200', "
             "'key_value_does_not_equal d x', "
             "'key_value_matches e ^ab+c$']}");

    (void)state;
    expect_body(
        ins, "{\"a\":0,\"c\":200,\"d\":\"y\",\"e\":\"abbc\"}",
        SL_FILTER_MODIFIED,
        "{\"a\":0,\"c\":200,\"d\":\"y\",\"e\":\"abbc\",\"hit\":\"yes\"}");
    expect_body(ins, "{\"c\":200,\"d\":\"y\",\"e\":\"abbc\"}", SL_FILTER_KEEP,
                "{\"c\":200,\"d\":\"y\",\"e\":\"abbc\"}");
    expect_body(ins, "{\"a\":0,\"b\":1,\"c\":200,\"d\":\"y\",\"e\":\"abbc\"}",
                SL_FILTER_KEEP,
                "{\"a\":0,\"b\":1,\"c\":200,\"d\":\"y\",\"e\":\"abbc\"}");
    expect_body(ins, "{\"a\":0,\"c\":201,\"d\":\"y\",\"e\":\"abbc\"}",
                SL_FILTER_KEEP,
                "{\"a\":0,\"c\":201,\"d\":\"y\",\"e\":\"abbc\"}");
    expect_body(ins, "{\"a\":0,\"c\":200,\"d\":\"x\",\"e\":\"abbc\"}",
                SL_FILTER_KEEP,
                "{\"a\":0,\"c\":200,\"d\":\"x\",\"e\":\"abbc\"}");
    /* The value conditions are false when the key is absent. */
    expect_body(ins, "{\"a\":0,\"c\":200,\"e\":\"abbc\"}", SL_FILTER_KEEP,
                "{\"a\":0,\"c\":200,\"e\":\"abbc\"}");
    expect_body(ins, "{\"a\":0,\"c\":200,\"d\":\"y\",\"e\":\"abd\"}",
                SL_FILTER_KEEP,
                "{\"a\":0,\"c\":200,\"d\":\"y\",\"e\":\"abd\"}");
    sl_instance_destroy(ins);
}

static void test_modify_condition_value_text(void **state)
{
    struct sl_instance *ins =
        tu_instance(&sl_plugin_filter_modify,
             "{remove: x, condition: 'key_value_equals msg a b'}");

    (void)state;
    expect_body(ins, "{\"msg\":\"a b\",\"x\":1}", SL_FILTER_MODIFIED,
                "{\"msg\":\"a b\"}");
    expect_body(ins, "{\"msg\":\"a\",\"x\":1}", SL_FILTER_KEEP,
                "{\"msg\":\"a\",\"x\":1}");
    sl_instance_destroy(ins);
}

static void test_modify_errors(void **state)
{
    (void)state;
    expect_error(&sl_plugin_filter_modify, "{rename: x}",
                 "modify: 'rename' expects 'OLD NEW', got 'x'");
    expect_error(&sl_plugin_filter_modify, "{copy: 'a b c'}",
                 "modify: 'copy' expects 'SRC DST', got 'a b c'");
    expect_error(&sl_plugin_filter_modify, "{set: lonely}",
                 "modify: 'set' expects 'KEY VALUE', got 'lonely'");
    expect_error(&sl_plugin_filter_modify, "{add: lonely}",
                 "'add' expects 'KEY VALUE'");
    expect_error(&sl_plugin_filter_modify, "{remove: 'a b'}",
                 "'remove' expects 'KEY'");
    expect_error(&sl_plugin_filter_modify, "{remove_regex: '(a'}",
                 "invalid regex");
    expect_error(&sl_plugin_filter_modify,
                 "{set: 'a b', condition: 'key_is a'}",
                 "unknown condition 'key_is'");
    expect_error(&sl_plugin_filter_modify,
                 "{set: 'a b', condition: 'key_value_matches a [z-a]'}",
                 "invalid regex");
    expect_error(&sl_plugin_filter_modify,
                 "{set: 'a b', condition: 'key_value_equals a'}",
                 "'key_value_equals' expects 'KEY VALUE'");
    expect_error(&sl_plugin_filter_modify, "{condition: 'key_exists a'}",
                 "no operation");
}

/* Out of memory at every allocation of init and filter: either works or
 * fails cleanly (leaks show under valgrind or ASan). */
static void test_filters_oom(void **state)
{
    static const char *const yaml[] = {
        "{regex: ['a ^x', '$b[''c''] y'], exclude: 'd z'}",
        "{set: 'a 1', rename: 'b c', copy: 'c d', remove_regex: '^_', "
        "condition: 'key_value_matches a .'}",
    };
    const struct sl_plugin *plugins[] = { &sl_plugin_filter_grep,
                                          &sl_plugin_filter_modify };
    struct sl_errlist errs;
    struct sl_instance *ins;
    struct sl_buf out;
    size_t i;
    long n;

    (void)state;
    for (i = 0; i < 2; i++) {
        for (n = 0; n < 400; n++) {
            sl_errlist_init(&errs);
            sl_mem_fail_after(n);
            ins = sl_instance_create_standalone(plugins[i], yaml[i], &errs);
            if (ins != NULL) {
                sl_buf_init(&out, 0);
                (void)run(ins, "{\"a\":\"x\",\"b\":{\"c\":\"y\"},\"_q\":1}",
                          &out);
                sl_mem_fail_after(-1);
                sl_buf_fini(&out);
                sl_instance_destroy(ins);
            }
            sl_mem_fail_after(-1);
        }
    }
    assert_true(sl_mem_failures() > 0 || n == 400);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_grep_regex),
        cmocka_unit_test(test_grep_exclude),
        cmocka_unit_test(test_grep_and),
        cmocka_unit_test(test_grep_and_is_default),
        cmocka_unit_test(test_grep_or),
        cmocka_unit_test(test_grep_exclude_wins),
        cmocka_unit_test(test_grep_exclude_only_or),
        cmocka_unit_test(test_grep_values),
        cmocka_unit_test(test_grep_unicode),
        cmocka_unit_test(test_grep_errors),
        cmocka_unit_test(test_modify_set),
        cmocka_unit_test(test_modify_set_nested),
        cmocka_unit_test(test_modify_add),
        cmocka_unit_test(test_modify_remove),
        cmocka_unit_test(test_modify_remove_regex),
        cmocka_unit_test(test_modify_rename),
        cmocka_unit_test(test_modify_rename_nested),
        cmocka_unit_test(test_modify_copy),
        cmocka_unit_test(test_modify_order),
        cmocka_unit_test(test_modify_conditions),
        cmocka_unit_test(test_modify_condition_value_text),
        cmocka_unit_test(test_modify_errors),
        cmocka_unit_test(test_filters_oom),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
