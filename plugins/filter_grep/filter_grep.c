/*
 * filter_grep.c - keep or drop records by matching field values against
 * regular expressions.
 *
 * Each rule is "KEY REGEX": KEY is a record accessor (sl_accessor_compile)
 * and REGEX a PCRE2 pattern, compiled (with JIT when available) once at
 * init.  A rule matches when KEY exists and the text of its value
 * (sl_json_scalar_text) matches REGEX; a missing key never matches.
 *
 *   logical_op: and   keep iff every 'regex' rule matches and no
 *                     'exclude' rule matches.
 *   logical_op: or    keep iff at least one 'regex' rule matches (or there
 *                     are no 'regex' rules) and no 'exclude' rule matches.
 *
 * Runs on the main thread (filters always do); the match data and scratch
 * buffer in the context are therefore used by one thread only.  Never
 * changes the record.
 */
#include <stdbool.h>
#include <stddef.h>

#include "sluice/plugin.h"
#include "sluice/rule.h"
#include "sluice/banned.h"

enum filter_grep_op {
    FILTER_GREP_AND,
    FILTER_GREP_OR,
};

struct filter_grep_conf {
    struct sl_strlist regex;
    struct sl_strlist exclude;
    int logical_op;
};

struct filter_grep_ctx {
    struct sl_rule *keep; /* 'regex' rules */
    size_t nkeep;
    struct sl_rule *drop; /* 'exclude' rules */
    size_t ndrop;
    int op;
    struct sl_rule_scratch scratch;
};

static const char *const filter_grep_ops[] = { "and", "or", NULL };

static const struct sl_option filter_grep_options[] = {
    { .name = "regex",
      .type = SL_OPT_LIST,
      .flags = SL_OPT_MULTI,
      SL_OPT_FIELD(struct filter_grep_conf, regex),
      .desc = "Keep records whose KEY matches REGEX, given as 'KEY REGEX'. "
              "KEY is a record accessor such as level or "
              "$kubernetes['namespace']; a missing key does not match. "
              "Repeat the option for several rules." },
    { .name = "exclude",
      .type = SL_OPT_LIST,
      .flags = SL_OPT_MULTI,
      SL_OPT_FIELD(struct filter_grep_conf, exclude),
      .desc = "Drop records whose KEY matches REGEX, given as 'KEY REGEX'. "
              "A record matching any exclude rule is dropped." },
    { .name = "logical_op",
      .type = SL_OPT_ENUM,
      .def = "and",
      .choices = filter_grep_ops,
      SL_OPT_FIELD(struct filter_grep_conf, logical_op),
      .desc = "How several regex rules combine. With and, every regex rule "
              "must match; with or, one is enough. In both cases a record "
              "matching an exclude rule is dropped." },
    SL_OPT_END,
};

/* Compiles <entry> ("KEY REGEX") of option <opt> into <rule>; on failure
 * <rule> may hold part of it. */
static int grep_rule_init(struct sl_rule *rule, const char *opt,
                          const char *entry, struct sl_err *err)
{
    struct sl_str key;
    struct sl_str pat;
    int rc;

    sl_rule_split(entry, &key, &pat);
    if (key.len == 0 || pat.len == 0) {
        return sl_err_set(err, SL_ECONFIG,
                          "grep: '%s' expects 'KEY REGEX', got '%s'", opt,
                          entry);
    }
    rule->op = SL_RULE_MATCHES;
    rc = sl_rule_accessor(&rule->key, key, "grep", err);
    if (rc != SL_OK) {
        return rc;
    }
    return sl_rule_regex(&rule->re, pat, err,
                         "grep: invalid regex '%.*s' in '%s'", SL_STR_FMT(pat),
                         opt);
}

/* Compiles every entry of <list> into *<out>; on failure frees what it
 * made and leaves *<out> NULL. */
static int grep_rules_compile(const struct sl_strlist *list, const char *opt,
                              struct sl_rule **out, size_t *nout,
                              struct sl_err *err)
{
    struct sl_rule *rules;
    size_t i;
    int rc;

    *out = NULL;
    *nout = 0;
    if (list->n == 0) {
        return SL_OK;
    }
    rules = sl_calloc(list->n, sizeof(*rules));
    if (rules == NULL) {
        return sl_err_set(err, SL_ENOMEM, "grep: out of memory");
    }
    for (i = 0; i < list->n; i++) {
        rc = grep_rule_init(&rules[i], opt, list->v[i], err);
        if (rc != SL_OK) {
            sl_rule_free_array(rules, i + 1);
            return rc;
        }
    }
    *out = rules;
    *nout = list->n;
    return SL_OK;
}

static void grep_ctx_destroy(struct filter_grep_ctx *ctx)
{
    if (ctx == NULL) {
        return;
    }
    sl_rule_free_array(ctx->keep, ctx->nkeep);
    sl_rule_free_array(ctx->drop, ctx->ndrop);
    sl_rule_scratch_fini(&ctx->scratch);
    sl_free(ctx);
}

static int filter_grep_init(struct sl_instance *ins, void *conf,
                            struct sl_err *err)
{
    const struct filter_grep_conf *c = conf;
    struct filter_grep_ctx *ctx;
    int rc;

    if (c->regex.n == 0 && c->exclude.n == 0) {
        return sl_err_set(err, SL_ECONFIG,
                          "grep: set at least one 'regex' or 'exclude' rule");
    }
    ctx = sl_calloc(1, sizeof(*ctx));
    if (ctx == NULL) {
        return sl_err_set(err, SL_ENOMEM, "grep: out of memory");
    }
    ctx->op = c->logical_op;
    rc = grep_rules_compile(&c->regex, "regex", &ctx->keep, &ctx->nkeep, err);
    if (rc != SL_OK) {
        goto fail;
    }
    rc = grep_rules_compile(&c->exclude, "exclude", &ctx->drop, &ctx->ndrop,
                            err);
    if (rc != SL_OK) {
        goto fail;
    }
    if (sl_rule_scratch_init(&ctx->scratch) != SL_OK) {
        rc = sl_err_set(err, SL_ENOMEM, "grep: out of memory");
        goto fail;
    }
    sl_instance_set_ctx(ins, ctx);
    return SL_OK;
fail:
    grep_ctx_destroy(ctx);
    return rc;
}

/* True when the 'regex' rules let the record through. */
static bool grep_keep_rules_pass(struct filter_grep_ctx *ctx,
                                 const struct sl_json *dom)
{
    size_t i;

    if (ctx->nkeep == 0) {
        return true;
    }
    for (i = 0; i < ctx->nkeep; i++) {
        bool m = sl_rule_holds(&ctx->keep[i], dom, &ctx->scratch);

        if (ctx->op == FILTER_GREP_OR && m) {
            return true;
        }
        if (ctx->op == FILTER_GREP_AND && !m) {
            return false;
        }
    }
    return ctx->op == FILTER_GREP_AND;
}

static enum sl_filter_result filter_grep_filter(struct sl_instance *ins,
                                                struct sl_record *r)
{
    struct filter_grep_ctx *ctx = sl_instance_ctx(ins);
    const struct sl_json *dom = sl_record_dom(r);
    size_t i;

    if (dom == NULL) {
        /* Out of memory: keeping is the choice that loses nothing. */
        return SL_FILTER_KEEP;
    }
    if (!grep_keep_rules_pass(ctx, dom)) {
        return SL_FILTER_DROP;
    }
    for (i = 0; i < ctx->ndrop; i++) {
        if (sl_rule_holds(&ctx->drop[i], dom, &ctx->scratch)) {
            return SL_FILTER_DROP;
        }
    }
    return SL_FILTER_KEEP;
}

static void filter_grep_exit(struct sl_instance *ins)
{
    grep_ctx_destroy(sl_instance_ctx(ins));
    sl_instance_set_ctx(ins, NULL);
}

const struct sl_plugin sl_plugin_filter_grep = {
    .abi = SL_PLUGIN_ABI,
    .kind = SL_PLUGIN_FILTER,
    .name = "grep",
    .description = "Keep or drop records by matching field values against "
                   "regular expressions.",
    .options = filter_grep_options,
    .conf_size = sizeof(struct filter_grep_conf),
    .init = filter_grep_init,
    .filter = filter_grep_filter,
    .exit = filter_grep_exit,
};
