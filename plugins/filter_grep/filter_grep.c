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
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdio.h>
#include <string.h>

#include "sluice/plugin.h"
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

struct filter_grep_rule {
    struct sl_accessor acc;
    pcre2_code *re;
};

struct filter_grep_ctx {
    struct filter_grep_rule *keep; /* 'regex' rules */
    size_t nkeep;
    struct filter_grep_rule *drop; /* 'exclude' rules */
    size_t ndrop;
    int op;
    pcre2_match_data *md;
    struct sl_buf scratch;
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

/* Splits "KEY REST" at the first blank outside quotes (so that accessors
 * like $a['b c'] keep their spaces).  <rest> is empty when absent. */
static void grep_split(const char *s, struct sl_str *key, struct sl_str *rest)
{
    const char *p = s;
    char quote = 0;

    while (*p == ' ' || *p == '\t') {
        p++;
    }
    key->ptr = p;
    while (*p != '\0' && (quote != 0 || (*p != ' ' && *p != '\t'))) {
        if (quote == 0 && (*p == '\'' || *p == '"')) {
            quote = *p;
        } else if (*p == quote) {
            quote = 0;
        }
        p++;
    }
    key->len = (size_t)(p - key->ptr);
    while (*p == ' ' || *p == '\t') {
        p++;
    }
    rest->ptr = p;
    rest->len = strlen(p);
}

static int grep_rule_init(struct filter_grep_rule *rule, const char *opt,
                          const char *entry, struct sl_err *err)
{
    struct sl_str key;
    struct sl_str pat;
    char *keytext;
    int rc;
    int ecode = 0;
    PCRE2_SIZE eoff = 0;
    PCRE2_UCHAR msg[256];

    grep_split(entry, &key, &pat);
    if (key.len == 0 || pat.len == 0) {
        return sl_err_set(err, SL_ECONFIG,
                          "grep: '%s' expects 'KEY REGEX', got '%s'", opt,
                          entry);
    }
    keytext = sl_strndup(key.ptr, key.len);
    if (keytext == NULL) {
        return sl_err_set(err, SL_ENOMEM, "grep: out of memory");
    }
    rc = sl_accessor_compile(&rule->acc, keytext, err);
    sl_free(keytext);
    if (rc != SL_OK) {
        return rc;
    }
    rule->re =
        pcre2_compile((PCRE2_SPTR)pat.ptr, pat.len,
                      PCRE2_UTF | PCRE2_MATCH_INVALID_UTF, &ecode, &eoff, NULL);
    if (rule->re == NULL) {
        pcre2_get_error_message(ecode, msg, sizeof(msg));
        sl_accessor_fini(&rule->acc);
        return sl_err_set(err, SL_ECONFIG,
                          "grep: invalid regex '%.*s' in '%s' at offset %zu: "
                          "%s",
                          SL_STR_FMT(pat), opt, (size_t)eoff, (char *)msg);
    }
    /* JIT is an optimisation: without it pcre2_match interprets. */
    (void)pcre2_jit_compile(rule->re, PCRE2_JIT_COMPLETE);
    return SL_OK;
}

static void grep_rules_free(struct filter_grep_rule *rules, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        sl_accessor_fini(&rules[i].acc);
        pcre2_code_free(rules[i].re);
    }
    sl_free(rules);
}

/* Compiles every entry of <list> into *<out>; on failure frees what it
 * made and leaves *<out> NULL. */
static int grep_rules_compile(const struct sl_strlist *list, const char *opt,
                              struct filter_grep_rule **out, size_t *nout,
                              struct sl_err *err)
{
    struct filter_grep_rule *rules;
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
            grep_rules_free(rules, i);
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
    grep_rules_free(ctx->keep, ctx->nkeep);
    grep_rules_free(ctx->drop, ctx->ndrop);
    pcre2_match_data_free(ctx->md);
    sl_buf_fini(&ctx->scratch);
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
    sl_buf_init(&ctx->scratch, 0);
    rc = grep_rules_compile(&c->regex, "regex", &ctx->keep, &ctx->nkeep, err);
    if (rc != SL_OK) {
        goto fail;
    }
    rc = grep_rules_compile(&c->exclude, "exclude", &ctx->drop, &ctx->ndrop,
                            err);
    if (rc != SL_OK) {
        goto fail;
    }
    ctx->md = pcre2_match_data_create(1, NULL);
    if (ctx->md == NULL) {
        rc = sl_err_set(err, SL_ENOMEM, "grep: out of memory");
        goto fail;
    }
    sl_instance_set_ctx(ins, ctx);
    return SL_OK;
fail:
    grep_ctx_destroy(ctx);
    return rc;
}

static bool grep_rule_match(struct filter_grep_ctx *ctx,
                            const struct filter_grep_rule *rule,
                            const struct sl_json *dom)
{
    const struct sl_json *v = sl_accessor_get(&rule->acc, dom);
    struct sl_str text;

    if (v == NULL) {
        return false;
    }
    sl_buf_reset(&ctx->scratch);
    if (!sl_json_scalar_text(v, &ctx->scratch, &text)) {
        return false;
    }
    return pcre2_match(rule->re, (PCRE2_SPTR)(text.ptr ? text.ptr : ""),
                       text.len, 0, 0, ctx->md, NULL) >= 0;
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
        bool m = grep_rule_match(ctx, &ctx->keep[i], dom);

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
        if (grep_rule_match(ctx, &ctx->drop[i], dom)) {
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
