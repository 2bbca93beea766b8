/*
 * test_plugins.c - checks every registered option table (STYLE 2): unique
 * lower_snake names, descriptions that are sentences, defaults that parse
 * as their type and lie within bounds, fields inside the conf struct, ENUM
 * choices present; and the registry itself (ABI, unique names per kind).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "engine.h"
#include "option.h"
#include "plugin.h"
#include "sluice/mem.h"
#include "sluice/banned.h"

const struct sl_option *sl_engine_service_options(void);

static void check_name(const char *where, const char *name)
{
    const char *p;

    for (p = name; *p != '\0'; p++) {
        if (!(islower((unsigned char)*p) || isdigit((unsigned char)*p) ||
              *p == '_' || *p == '.')) {
            fail_msg("%s: option '%s' is not lower_snake", where, name);
        }
    }
}

static void check_sentence(const char *where, const char *what,
                           const char *text)
{
    size_t n = text != NULL ? strlen(text) : 0;

    if (n == 0 || text[n - 1] != '.') {
        fail_msg("%s: %s must be a sentence ending with a period: '%s'",
                 where, what, text ? text : "(null)");
    }
}

static void check_default(const char *where, const struct sl_option *o)
{
    unsigned char field[256];
    struct sl_err err;
    int64_t v = 0;

    if (o->def == NULL || o->type == SL_OPT_LIST || o->type == SL_OPT_MAP) {
        return;
    }
    memset(field, 0, sizeof(field));
    assert_true(o->size <= sizeof(field));
    if (sl_option_parse_value(o, o->def, field, &err) != SL_OK) {
        fail_msg("%s: default '%s' of '%s' does not parse: %s", where, o->def,
                 o->name, err.msg);
    }
    if (o->type == SL_OPT_STR || o->type == SL_OPT_TEMPLATE) {
        char *s;

        memcpy(&s, field, sizeof(s));
        sl_free(s);
        return;
    }
    if (o->min == 0 && o->max == 0) {
        return;
    }
    if (o->type == SL_OPT_INT || o->type == SL_OPT_TIME) {
        memcpy(&v, field, sizeof(v));
    } else if (o->type == SL_OPT_SIZE) {
        uint64_t u;

        memcpy(&u, field, sizeof(u));
        v = (int64_t)u;
    } else {
        return;
    }
    if (v < o->min || (o->max != 0 && v > o->max)) {
        fail_msg("%s: default of '%s' is out of its bounds", where, o->name);
    }
}

static void check_table(const char *where, const struct sl_option *t,
                        size_t conf_size)
{
    size_t i, j;

    if (t == NULL) {
        return;
    }
    for (i = 0; t[i].name != NULL; i++) {
        const struct sl_option *o = &t[i];

        check_name(where, o->name);
        check_sentence(where, o->name, o->desc);
        if (o->type == SL_OPT_NONE) {
            fail_msg("%s: option '%s' has no type", where, o->name);
        }
        if (o->size == 0 || o->offset + o->size > conf_size) {
            fail_msg("%s: option '%s' field lies outside the conf struct "
                     "(use SL_OPT_FIELD)",
                     where, o->name);
        }
        if (o->type == SL_OPT_ENUM && (o->choices == NULL || o->choices[0] == NULL)) {
            fail_msg("%s: enum '%s' has no choices", where, o->name);
        }
        if ((o->flags & SL_OPT_SECRET) && o->def != NULL) {
            fail_msg("%s: secret '%s' must not have a default", where, o->name);
        }
        for (j = 0; j < i; j++) {
            if (strcmp(t[j].name, o->name) == 0) {
                fail_msg("%s: option '%s' declared twice", where, o->name);
            }
        }
        check_default(where, o);
    }
}

static void test_registry(void **state)
{
    size_t i, j;

    (void)state;
    assert_true(sl_plugin_count() >= 12);
    for (i = 0; i < sl_plugin_count(); i++) {
        const struct sl_plugin *p = sl_plugin_at(i);

        assert_int_equal(p->abi, SL_PLUGIN_ABI);
        assert_non_null(p->name);
        check_sentence(p->name, "description", p->description);
        for (j = 0; j < i; j++) {
            const struct sl_plugin *q = sl_plugin_at(j);

            if (q->kind == p->kind && strcmp(q->name, p->name) == 0) {
                fail_msg("plugin name '%s' registered twice", p->name);
            }
        }
        assert_ptr_equal(sl_plugin_find(p->kind, p->name), p);
        switch (p->kind) {
        case SL_PLUGIN_INPUT:
            assert_non_null(p->start);
            break;
        case SL_PLUGIN_PARSER:
            assert_non_null(p->parse);
            break;
        case SL_PLUGIN_FILTER:
            assert_non_null(p->filter);
            break;
        case SL_PLUGIN_OUTPUT:
            assert_non_null(p->flush);
            break;
        }
    }
}

static void test_tables(void **state)
{
    size_t i;
    int k;

    (void)state;
    for (i = 0; i < sl_plugin_count(); i++) {
        const struct sl_plugin *p = sl_plugin_at(i);

        check_table(p->name, p->options, p->conf_size);
    }
    for (k = SL_PLUGIN_INPUT; k <= SL_PLUGIN_OUTPUT; k++) {
        check_table(sl_plugin_kind_name(k), sl_plugin_generic_options(k),
                    sizeof(struct sl_generic_conf));
    }
    check_table("service", sl_engine_service_options(),
                sizeof(struct sl_service_conf));
}

/* A plugin option must not shadow a generic one of its kind. */
static void test_no_shadowing(void **state)
{
    size_t i, a, b;

    (void)state;
    for (i = 0; i < sl_plugin_count(); i++) {
        const struct sl_plugin *p = sl_plugin_at(i);
        const struct sl_option *g = sl_plugin_generic_options(p->kind);

        for (a = 0; p->options != NULL && p->options[a].name != NULL; a++) {
            for (b = 0; g[b].name != NULL; b++) {
                if (strcmp(p->options[a].name, g[b].name) == 0) {
                    fail_msg("%s redeclares the generic option '%s'", p->name,
                             g[b].name);
                }
            }
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_registry),
        cmocka_unit_test(test_tables),
        cmocka_unit_test(test_no_shadowing),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
