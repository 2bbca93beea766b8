/*
 * filter_record_transformer.c - set keys from templates, rename and remove
 * keys, and keep only an allow-list of keys.
 *
 * Steps run in this fixed order on each record:
 *
 *   rename_keys, record (set from templates), remove_keys,
 *   remove_key_regex, keep_keys
 *
 * 'record' is a template option (sluice/template.h): one "KEY TEMPLATE"
 * entry per line, evaluated per record, so ${tag}, ${tag[1]},
 * ${hostname}, ${env:VAR}, ${time:%Y-%m-%d} and accessors ($key,
 * $a['b']['c'], $arr[0]) belong to the record.  A template that is one
 * accessor and nothing else copies the value with its JSON type; any other
 * template gives a string.  Each step sees the changes of the steps before
 * it, and entries run in the order given.
 *
 * Everything is compiled at init.  Runs on the main thread; per record it
 * allocates only from the record's arena (and grows its scratch buffer to
 * the longest rendering once).
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdio.h>
#include <string.h>

#include "sluice/plugin.h"
#include "sluice/template.h"
#include "sluice/banned.h"

struct filter_rt_conf {
    char *record;
    struct sl_strlist rename_keys;
    struct sl_strlist remove_keys;
    struct sl_strlist remove_key_regex;
    struct sl_strlist keep_keys;
};

struct rt_set {
    struct sl_accessor key;
    struct sl_template *tpl;
};

struct rt_rename {
    struct sl_accessor from;
    struct sl_accessor to;
};

struct filter_rt_ctx {
    struct rt_set *sets;
    size_t nsets;
    struct rt_rename *renames;
    size_t nrenames;
    struct sl_accessor *removes;
    size_t nremoves;
    pcre2_code **regexes;
    size_t nregexes;
    char **keep; /* top-level keys to keep (keep_keys + record's keys) */
    size_t nkeep;
    bool keep_on;
    pcre2_match_data *md;
    struct sl_buf scratch;
};

static const struct sl_option filter_rt_options[] = {
    { .name = "record",
      .type = SL_OPT_TEMPLATE,
      SL_OPT_FIELD(struct filter_rt_conf, record),
      .desc = "Keys to set, one 'KEY TEMPLATE' entry per line (use a YAML "
              "block scalar, record: |). KEY is a record accessor; TEMPLATE "
              "takes ${hostname}, ${tag}, ${tag[N]}, ${env:VAR}, ${time}, "
              "${time:FORMAT} and accessors such as $key or $a['b'][0]. A "
              "template that is a single accessor copies the value with "
              "its type; others give a string. Blank lines and lines "
              "starting with # are ignored." },
    { .name = "rename_keys",
      .type = SL_OPT_LIST,
      .flags = SL_OPT_MULTI,
      SL_OPT_FIELD(struct filter_rt_conf, rename_keys),
      .desc = "Rename OLD to NEW, given as 'OLD NEW' (record accessors). "
              "Acts only when OLD exists, and overwrites NEW." },
    { .name = "remove_keys",
      .type = SL_OPT_LIST,
      .flags = SL_OPT_MULTI,
      SL_OPT_FIELD(struct filter_rt_conf, remove_keys),
      .desc = "Record accessors of keys to remove." },
    { .name = "remove_key_regex",
      .type = SL_OPT_LIST,
      .flags = SL_OPT_MULTI,
      SL_OPT_FIELD(struct filter_rt_conf, remove_key_regex),
      .desc = "Remove every top-level key whose name matches one of these "
              "regular expressions." },
    { .name = "keep_keys",
      .type = SL_OPT_LIST,
      .flags = SL_OPT_MULTI,
      SL_OPT_FIELD(struct filter_rt_conf, keep_keys),
      .desc = "Allow-list of top-level keys: every other key is removed, "
              "except those set by record. Runs last." },
    SL_OPT_END,
};

static const char *rt_skip_blanks(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t')) {
        p++;
    }
    return p;
}

/* End of the word at <p>: the first blank outside quotes. */
static const char *rt_word_end(const char *p, const char *end)
{
    char quote = 0;

    while (p < end && (quote != 0 || (*p != ' ' && *p != '\t'))) {
        if (quote == 0 && (*p == '\'' || *p == '"')) {
            quote = *p;
        } else if (*p == quote) {
            quote = 0;
        }
        p++;
    }
    return p;
}

/* Splits "WORD REST" at the first blank outside quotes; REST loses its
 * trailing blanks. */
static void rt_split(const char *s, const char *end, struct sl_str *word,
                     struct sl_str *rest)
{
    const char *p = rt_skip_blanks(s, end);
    const char *w = rt_word_end(p, end);

    *word = sl_str_make(p, (size_t)(w - p));
    p = rt_skip_blanks(w, end);
    while (end > p && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r')) {
        end--;
    }
    *rest = sl_str_make(p, (size_t)(end - p));
}

static int rt_accessor(struct sl_accessor *acc, struct sl_str text,
                       struct sl_err *err)
{
    char *s = sl_strndup(text.ptr, text.len);
    int rc;

    if (s == NULL) {
        return sl_err_set(err, SL_ENOMEM, "record_transformer: out of memory");
    }
    rc = sl_accessor_compile(acc, s, err);
    sl_free(s);
    return rc;
}

/* Compiles one "KEY TEMPLATE" line into the next set. */
static int rt_set_compile(struct filter_rt_ctx *ctx, const char *line,
                          const char *end, struct sl_err *err)
{
    struct rt_set *st = &ctx->sets[ctx->nsets];
    struct sl_str key;
    struct sl_str tpl;
    char *text;
    int rc;

    rt_split(line, end, &key, &tpl);
    if (key.len == 0 || key.ptr[0] == '#') {
        return SL_OK;
    }
    if (tpl.len == 0) {
        return sl_err_set(err, SL_ECONFIG,
                          "record_transformer: record entry '%.*s' expects "
                          "'KEY TEMPLATE'",
                          SL_STR_FMT(key));
    }
    if (tpl.len >= 2 && (tpl.ptr[0] == '"' || tpl.ptr[0] == '\'') &&
        tpl.ptr[tpl.len - 1] == tpl.ptr[0]) {
        tpl.ptr++;
        tpl.len -= 2;
    }
    rc = rt_accessor(&st->key, key, err);
    if (rc != SL_OK) {
        return rc;
    }
    text = sl_strndup(tpl.ptr, tpl.len);
    rc = text == NULL ? SL_ENOMEM : sl_template_compile(text, &st->tpl, err);
    sl_free(text);
    if (rc != SL_OK) {
        sl_accessor_fini(&st->key);
        return rc == SL_ENOMEM ? sl_err_set(err, rc,
                                            "record_transformer: "
                                            "out of memory")
                               : rc;
    }
    ctx->nsets++;
    return SL_OK;
}

static int rt_sets_compile(struct filter_rt_ctx *ctx, const char *text,
                           struct sl_err *err)
{
    const char *p = text;
    const char *nl;
    size_t lines = 1;
    int rc;

    for (nl = text; *nl != '\0'; nl++) {
        lines += *nl == '\n';
    }
    ctx->sets = sl_calloc(lines, sizeof(*ctx->sets));
    if (ctx->sets == NULL) {
        return sl_err_set(err, SL_ENOMEM, "record_transformer: out of memory");
    }
    while (*p != '\0') {
        nl = strchr(p, '\n');
        if (nl == NULL) {
            nl = p + strlen(p);
        }
        rc = rt_set_compile(ctx, p, nl, err);
        if (rc != SL_OK) {
            return rc;
        }
        p = *nl == '\n' ? nl + 1 : nl;
    }
    return SL_OK;
}

static int rt_renames_compile(struct filter_rt_ctx *ctx,
                              const struct sl_strlist *l, struct sl_err *err)
{
    struct sl_str a;
    struct sl_str b;
    struct sl_str extra;
    size_t i;
    int rc;

    ctx->renames = sl_calloc(l->n + 1, sizeof(*ctx->renames));
    if (ctx->renames == NULL) {
        return sl_err_set(err, SL_ENOMEM, "record_transformer: out of memory");
    }
    for (i = 0; i < l->n; i++) {
        const char *end = l->v[i] + strlen(l->v[i]);

        rt_split(l->v[i], end, &a, &b);
        rt_split(b.ptr, b.ptr + b.len, &b, &extra);
        if (a.len == 0 || b.len == 0 || extra.len != 0) {
            return sl_err_set(err, SL_ECONFIG,
                              "record_transformer: rename_keys expects 'OLD "
                              "NEW', got '%s'",
                              l->v[i]);
        }
        rc = rt_accessor(&ctx->renames[i].from, a, err);
        if (rc == SL_OK) {
            rc = rt_accessor(&ctx->renames[i].to, b, err);
            if (rc != SL_OK) {
                sl_accessor_fini(&ctx->renames[i].from);
            }
        }
        if (rc != SL_OK) {
            return rc;
        }
        ctx->nrenames++;
    }
    return SL_OK;
}

static int rt_removes_compile(struct filter_rt_ctx *ctx,
                              const struct sl_strlist *l, struct sl_err *err)
{
    size_t i;
    int rc;

    ctx->removes = sl_calloc(l->n + 1, sizeof(*ctx->removes));
    if (ctx->removes == NULL) {
        return sl_err_set(err, SL_ENOMEM, "record_transformer: out of memory");
    }
    for (i = 0; i < l->n; i++) {
        rc = sl_accessor_compile(&ctx->removes[i], l->v[i], err);
        if (rc != SL_OK) {
            return rc;
        }
        ctx->nremoves++;
    }
    return SL_OK;
}

static int rt_regexes_compile(struct filter_rt_ctx *ctx,
                              const struct sl_strlist *l, struct sl_err *err)
{
    PCRE2_UCHAR msg[256];
    PCRE2_SIZE eoff = 0;
    int ecode = 0;
    size_t i;

    ctx->regexes = sl_calloc(l->n + 1, sizeof(*ctx->regexes));
    if (ctx->regexes == NULL) {
        return sl_err_set(err, SL_ENOMEM, "record_transformer: out of memory");
    }
    for (i = 0; i < l->n; i++) {
        ctx->regexes[i] = pcre2_compile(
            (PCRE2_SPTR)l->v[i], PCRE2_ZERO_TERMINATED,
            PCRE2_UTF | PCRE2_MATCH_INVALID_UTF, &ecode, &eoff, NULL);
        if (ctx->regexes[i] == NULL) {
            pcre2_get_error_message(ecode, msg, sizeof(msg));
            return sl_err_set(err, SL_ECONFIG,
                              "record_transformer: invalid remove_key_regex "
                              "'%s' at offset %zu: %s",
                              l->v[i], (size_t)eoff, (char *)msg);
        }
        ctx->nregexes++;
        (void)pcre2_jit_compile(ctx->regexes[i], PCRE2_JIT_COMPLETE);
    }
    return SL_OK;
}

/* The allow-list: keep_keys plus the top-level key of each record entry. */
static int rt_keep_compile(struct filter_rt_ctx *ctx,
                           const struct sl_strlist *l, struct sl_err *err)
{
    size_t i;

    ctx->keep_on = l->n > 0;
    ctx->keep = sl_calloc(l->n + ctx->nsets + 1, sizeof(*ctx->keep));
    if (ctx->keep == NULL) {
        return sl_err_set(err, SL_ENOMEM, "record_transformer: out of memory");
    }
    for (i = 0; i < l->n + ctx->nsets; i++) {
        struct sl_str k = i < l->n ? sl_str_cstr(l->v[i])
                                   : ctx->sets[i - l->n].key.steps[0].key;

        ctx->keep[i] = sl_strndup(k.ptr != NULL ? k.ptr : "", k.len);
        if (ctx->keep[i] == NULL) {
            return sl_err_set(err, SL_ENOMEM,
                              "record_transformer: out of memory");
        }
        ctx->nkeep++;
    }
    return SL_OK;
}

static void rt_ctx_destroy(struct filter_rt_ctx *ctx)
{
    size_t i;

    if (ctx == NULL) {
        return;
    }
    for (i = 0; i < ctx->nsets; i++) {
        sl_accessor_fini(&ctx->sets[i].key);
        sl_template_destroy(ctx->sets[i].tpl);
    }
    for (i = 0; i < ctx->nrenames; i++) {
        sl_accessor_fini(&ctx->renames[i].from);
        sl_accessor_fini(&ctx->renames[i].to);
    }
    for (i = 0; i < ctx->nremoves; i++) {
        sl_accessor_fini(&ctx->removes[i]);
    }
    for (i = 0; i < ctx->nregexes; i++) {
        pcre2_code_free(ctx->regexes[i]);
    }
    for (i = 0; i < ctx->nkeep; i++) {
        sl_free(ctx->keep[i]);
    }
    sl_free(ctx->sets);
    sl_free(ctx->renames);
    sl_free(ctx->removes);
    sl_free(ctx->regexes);
    sl_free(ctx->keep);
    pcre2_match_data_free(ctx->md);
    sl_buf_fini(&ctx->scratch);
    sl_free(ctx);
}

static int rt_compile(struct filter_rt_ctx *ctx, const struct filter_rt_conf *c,
                      struct sl_err *err)
{
    int rc = rt_sets_compile(ctx, c->record != NULL ? c->record : "", err);

    if (rc == SL_OK) {
        rc = rt_renames_compile(ctx, &c->rename_keys, err);
    }
    if (rc == SL_OK) {
        rc = rt_removes_compile(ctx, &c->remove_keys, err);
    }
    if (rc == SL_OK) {
        rc = rt_regexes_compile(ctx, &c->remove_key_regex, err);
    }
    if (rc == SL_OK) {
        rc = rt_keep_compile(ctx, &c->keep_keys, err);
    }
    if (rc == SL_OK && ctx->nsets + ctx->nrenames + ctx->nremoves +
                               ctx->nregexes + ctx->nkeep ==
                           0) {
        rc = sl_err_set(err, SL_ECONFIG,
                        "record_transformer: nothing to do: set record, "
                        "rename_keys, remove_keys, remove_key_regex or "
                        "keep_keys");
    }
    return rc;
}

static int filter_rt_init(struct sl_instance *ins, void *conf,
                          struct sl_err *err)
{
    struct filter_rt_ctx *ctx = sl_calloc(1, sizeof(*ctx));
    int rc;

    if (ctx == NULL) {
        return sl_err_set(err, SL_ENOMEM, "record_transformer: out of memory");
    }
    sl_buf_init(&ctx->scratch, 0);
    rc = rt_compile(ctx, conf, err);
    if (rc == SL_OK) {
        ctx->md = pcre2_match_data_create(1, NULL);
        if (ctx->md == NULL) {
            rc =
                sl_err_set(err, SL_ENOMEM, "record_transformer: out of memory");
        }
    }
    if (rc != SL_OK) {
        rt_ctx_destroy(ctx);
        return rc;
    }
    sl_instance_set_ctx(ins, ctx);
    return SL_OK;
}

static bool rt_rename(const struct rt_rename *rn, struct sl_record *r,
                      struct sl_json *dom)
{
    struct sl_json *v = sl_accessor_get(&rn->from, dom);
    size_t i;

    if (v == NULL || strcmp(rn->from.text, rn->to.text) == 0) {
        return false;
    }
    /* Top-level to top-level: rename in place, keeping the key order. */
    if (rn->from.n == 1 && rn->to.n == 1 && !rn->from.steps[0].is_index &&
        !rn->to.steps[0].is_index) {
        struct sl_str to = rn->to.steps[0].key;
        char *copy = sl_arena_strndup(r->arena, to.ptr, to.len);

        if (copy == NULL) {
            return false;
        }
        sl_json_obj_remove(dom, to);
        for (i = 0; i < dom->u.obj.n; i++) {
            if (sl_str_eq(dom->u.obj.v[i].key, rn->from.steps[0].key)) {
                dom->u.obj.v[i].key = sl_str_make(copy, to.len);
                return true;
            }
        }
        return false;
    }
    if (sl_accessor_set(&rn->to, r->arena, dom, v) != SL_OK) {
        return false;
    }
    if (sl_accessor_get(&rn->from, dom) == v) {
        sl_accessor_remove(&rn->from, dom);
    }
    return true;
}

static bool rt_set(struct filter_rt_ctx *ctx, const struct rt_set *st,
                   struct sl_record *r, struct sl_json *dom)
{
    const struct sl_accessor *one = sl_template_single_accessor(st->tpl);
    struct sl_template_input in = { .root = dom,
                                    .tag = r->tag,
                                    .ts_ns = r->ts_ns };
    struct sl_json *v;

    if (one != NULL) {
        v = sl_accessor_get(one, dom);
        v = v != NULL ? sl_json_clone(r->arena, v) : NULL;
        if (v == NULL) {
            return false; /* a missing value leaves the key alone */
        }
    } else {
        sl_buf_reset(&ctx->scratch);
        if (sl_template_render(st->tpl, &in, 0, &ctx->scratch) != SL_OK) {
            return false;
        }
        v = sl_json_new_string(r->arena, ctx->scratch.data, ctx->scratch.len);
    }
    return v != NULL && sl_accessor_set(&st->key, r->arena, dom, v) == SL_OK;
}

static bool rt_remove_regex(struct filter_rt_ctx *ctx, struct sl_json *dom)
{
    bool changed = false;
    size_t i = dom->u.obj.n;
    size_t k;

    while (i > 0) {
        struct sl_str key = dom->u.obj.v[--i].key;

        for (k = 0; k < ctx->nregexes; k++) {
            if (pcre2_match(ctx->regexes[k],
                            (PCRE2_SPTR)(key.ptr ? key.ptr : ""), key.len, 0, 0,
                            ctx->md, NULL) >= 0) {
                sl_json_obj_remove_at(dom, i);
                changed = true;
                break;
            }
        }
    }
    return changed;
}

static bool rt_keep(const struct filter_rt_ctx *ctx, struct sl_json *dom)
{
    bool changed = false;
    bool keep;
    size_t i = dom->u.obj.n;
    size_t k;

    while (i > 0) {
        struct sl_str key = dom->u.obj.v[--i].key;

        keep = false;
        for (k = 0; k < ctx->nkeep && !keep; k++) {
            keep = sl_str_eq_cstr(key, ctx->keep[k]);
        }
        if (!keep) {
            sl_json_obj_remove_at(dom, i);
            changed = true;
        }
    }
    return changed;
}

static enum sl_filter_result filter_rt_filter(struct sl_instance *ins,
                                              struct sl_record *r)
{
    struct filter_rt_ctx *ctx = sl_instance_ctx(ins);
    struct sl_json *dom = sl_record_dom(r);
    bool changed = false;
    size_t i;

    if (dom == NULL) {
        return SL_FILTER_KEEP;
    }
    for (i = 0; i < ctx->nrenames; i++) {
        changed |= rt_rename(&ctx->renames[i], r, dom);
    }
    for (i = 0; i < ctx->nsets; i++) {
        changed |= rt_set(ctx, &ctx->sets[i], r, dom);
    }
    for (i = 0; i < ctx->nremoves; i++) {
        changed |= sl_accessor_remove(&ctx->removes[i], dom);
    }
    if (ctx->nregexes > 0) {
        changed |= rt_remove_regex(ctx, dom);
    }
    if (ctx->keep_on) {
        changed |= rt_keep(ctx, dom);
    }
    if (!changed) {
        return SL_FILTER_KEEP;
    }
    sl_record_mark_dirty(r);
    return SL_FILTER_MODIFIED;
}

static void filter_rt_exit(struct sl_instance *ins)
{
    rt_ctx_destroy(sl_instance_ctx(ins));
    sl_instance_set_ctx(ins, NULL);
}

const struct sl_plugin sl_plugin_filter_record_transformer = {
    .abi = SL_PLUGIN_ABI,
    .kind = SL_PLUGIN_FILTER,
    .name = "record_transformer",
    .description = "Set keys from templates, rename and remove keys, and "
                   "keep only an allow-list of keys.",
    .options = filter_rt_options,
    .conf_size = sizeof(struct filter_rt_conf),
    .init = filter_rt_init,
    .filter = filter_rt_filter,
    .exit = filter_rt_exit,
};
