/*
 * filter_modify.c - set, add, remove, rename and copy record fields, under
 * optional conditions.
 *
 * Every entry is parsed and compiled at init (record accessors, PCRE2
 * patterns), so a bad entry fails the configuration with a message that
 * quotes it.  Per record, when every 'condition' holds, the operations run
 * in this fixed order, each kind in the order its entries were given:
 *
 *   remove, remove_regex, rename, copy, add, set
 *
 * Values are always JSON strings (set level 5 stores "5").  Keys are record
 * accessors ("level", "$kubernetes['labels']['app']").  rename and copy
 * act only when the source exists and overwrite the destination; add acts
 * only when the key is absent; set always overwrites.
 *
 * Runs on the main thread; the context is read-only after init except for
 * the PCRE2 match data, which only the main thread uses.
 */
#include <stdbool.h>
#include <string.h>

#include "sluice/plugin.h"
#include "sluice/rule.h"
#include "sluice/banned.h"

struct filter_modify_conf {
    struct sl_strlist remove;
    struct sl_strlist remove_regex;
    struct sl_strlist rename;
    struct sl_strlist copy;
    struct sl_strlist add;
    struct sl_strlist set;
    struct sl_strlist condition;
};

/* Operations, in the order they run; then the conditions. */
enum modify_kind {
    MODIFY_REMOVE,
    MODIFY_REMOVE_REGEX,
    MODIFY_RENAME,
    MODIFY_COPY,
    MODIFY_ADD,
    MODIFY_SET,
    MODIFY_COND_KEY_EXISTS,
    MODIFY_COND_KEY_ABSENT,
    MODIFY_COND_VALUE_EQUALS,
    MODIFY_COND_VALUE_DIFFERS,
    MODIFY_COND_VALUE_MATCHES,
};

/* What an entry holds after its KEY. */
enum modify_args {
    MODIFY_ARGS_KEY,       /* KEY */
    MODIFY_ARGS_KEY_VALUE, /* KEY VALUE (VALUE is the rest, spaces kept) */
    MODIFY_ARGS_KEY_KEY,   /* OLD NEW */
    MODIFY_ARGS_KEY_REGEX, /* KEY REGEX */
    MODIFY_ARGS_REGEX,     /* REGEX (the whole entry) */
};

struct modify_kind_info {
    const char *name;
    enum modify_args args;
    const char *usage;
    enum sl_rule_op op; /* conditions only */
};

static const struct modify_kind_info modify_kinds[] = {
    [MODIFY_REMOVE] = { "remove", MODIFY_ARGS_KEY, "KEY" },
    [MODIFY_REMOVE_REGEX] = { "remove_regex", MODIFY_ARGS_REGEX, "REGEX" },
    [MODIFY_RENAME] = { "rename", MODIFY_ARGS_KEY_KEY, "OLD NEW" },
    [MODIFY_COPY] = { "copy", MODIFY_ARGS_KEY_KEY, "SRC DST" },
    [MODIFY_ADD] = { "add", MODIFY_ARGS_KEY_VALUE, "KEY VALUE" },
    [MODIFY_SET] = { "set", MODIFY_ARGS_KEY_VALUE, "KEY VALUE" },
    [MODIFY_COND_KEY_EXISTS] = { "key_exists", MODIFY_ARGS_KEY, "KEY",
                                 SL_RULE_EXISTS },
    [MODIFY_COND_KEY_ABSENT] = { "key_does_not_exist", MODIFY_ARGS_KEY, "KEY",
                                 SL_RULE_ABSENT },
    [MODIFY_COND_VALUE_EQUALS] = { "key_value_equals", MODIFY_ARGS_KEY_VALUE,
                                   "KEY VALUE", SL_RULE_EQUALS },
    [MODIFY_COND_VALUE_DIFFERS] = { "key_value_does_not_equal",
                                    MODIFY_ARGS_KEY_VALUE, "KEY VALUE",
                                    SL_RULE_DIFFERS },
    [MODIFY_COND_VALUE_MATCHES] = { "key_value_matches", MODIFY_ARGS_KEY_REGEX,
                                    "KEY REGEX", SL_RULE_MATCHES },
};

#define MODIFY_NKINDS (sizeof(modify_kinds) / sizeof(modify_kinds[0]))
_Static_assert(MODIFY_NKINDS == MODIFY_COND_VALUE_MATCHES + 1,
               "modify_kinds matches enum modify_kind");

struct modify_item {
    enum modify_kind kind;
    struct sl_accessor key; /* KEY, OLD or SRC */
    struct sl_accessor dst; /* NEW or DST */
    char *value;            /* VALUE */
    size_t value_len;
    pcre2_code *re;
};

struct filter_modify_ctx {
    struct modify_item *ops; /* sorted by kind */
    size_t nops;
    struct sl_rule *conds;
    size_t nconds;
    struct sl_rule_scratch scratch;
};

static const struct sl_option filter_modify_options[] = {
    { .name = "remove",
      .type = SL_OPT_LIST,
      .flags = SL_OPT_MULTI,
      SL_OPT_FIELD(struct filter_modify_conf, remove),
      .desc = "Remove KEY, given as 'KEY'." },
    { .name = "remove_regex",
      .type = SL_OPT_LIST,
      .flags = SL_OPT_MULTI,
      SL_OPT_FIELD(struct filter_modify_conf, remove_regex),
      .desc = "Remove every top-level key whose name matches REGEX, given "
              "as 'REGEX'." },
    { .name = "rename",
      .type = SL_OPT_LIST,
      .flags = SL_OPT_MULTI,
      SL_OPT_FIELD(struct filter_modify_conf, rename),
      .desc = "Rename OLD to NEW, given as 'OLD NEW'. Acts only when OLD "
              "exists, and overwrites NEW." },
    { .name = "copy",
      .type = SL_OPT_LIST,
      .flags = SL_OPT_MULTI,
      SL_OPT_FIELD(struct filter_modify_conf, copy),
      .desc = "Copy the value of SRC to DST, given as 'SRC DST'. Acts only "
              "when SRC exists, and overwrites DST." },
    { .name = "add",
      .type = SL_OPT_LIST,
      .flags = SL_OPT_MULTI,
      SL_OPT_FIELD(struct filter_modify_conf, add),
      .desc = "Add KEY with the string VALUE, given as 'KEY VALUE', only "
              "when KEY is absent." },
    { .name = "set",
      .type = SL_OPT_LIST,
      .flags = SL_OPT_MULTI,
      SL_OPT_FIELD(struct filter_modify_conf, set),
      .desc = "Set KEY to the string VALUE, given as 'KEY VALUE', "
              "overwriting any value." },
    { .name = "condition",
      .type = SL_OPT_LIST,
      .flags = SL_OPT_MULTI,
      SL_OPT_FIELD(struct filter_modify_conf, condition),
      .desc = "Apply the operations only when this holds: 'key_exists KEY', "
              "'key_does_not_exist KEY', 'key_value_equals KEY VALUE', "
              "'key_value_does_not_equal KEY VALUE' or 'key_value_matches "
              "KEY REGEX'. Every condition must hold. Values compare as "
              "text, and the value conditions are false when KEY is "
              "absent." },
    SL_OPT_END,
};

/* Checks the shape of <key>/<rest> against <args>. */
static bool modify_shape_ok(enum modify_args args, struct sl_str key,
                            struct sl_str rest)
{
    struct sl_str a;
    struct sl_str b;

    switch (args) {
    case MODIFY_ARGS_KEY:
        return key.len > 0 && rest.len == 0;
    case MODIFY_ARGS_KEY_VALUE:
    case MODIFY_ARGS_KEY_REGEX:
        return key.len > 0 && rest.len > 0;
    case MODIFY_ARGS_KEY_KEY:
        sl_rule_split(rest.ptr, &a, &b);
        return key.len > 0 && a.len > 0 && b.len == 0;
    case MODIFY_ARGS_REGEX:
        return key.len > 0;
    }
    return false;
}

/* Splits <args> into <key> and <rest> and checks their shape for <ki>. */
static int modify_args_split(const struct modify_kind_info *ki,
                             const char *args, const char *entry,
                             struct sl_str *key, struct sl_str *rest,
                             struct sl_err *err)
{
    sl_rule_split(args, key, rest);
    if (!modify_shape_ok(ki->args, *key, *rest)) {
        return sl_err_set(err, SL_ECONFIG,
                          "modify: '%s' expects '%s', got '%s'", ki->name,
                          ki->usage, entry);
    }
    return SL_OK;
}

/* Compiles the arguments <args> of an entry of <kind> into <it>. */
static int modify_item_compile(struct modify_item *it, enum modify_kind kind,
                               const char *args, const char *entry,
                               struct sl_err *err)
{
    const struct modify_kind_info *ki = &modify_kinds[kind];
    struct sl_str key;
    struct sl_str rest;
    struct sl_str unused;
    int rc;

    it->kind = kind;
    rc = modify_args_split(ki, args, entry, &key, &rest, err);
    if (rc != SL_OK) {
        return rc;
    }
    if (ki->args == MODIFY_ARGS_REGEX) {
        return sl_rule_regex(&it->re, sl_str_cstr(key.ptr), err,
                             "modify: invalid regex in '%s'", entry);
    }
    rc = sl_rule_accessor(&it->key, key, "modify", err);
    if (rc != SL_OK) {
        return rc;
    }
    switch (ki->args) {
    case MODIFY_ARGS_KEY_VALUE:
        it->value = sl_strndup(rest.ptr, rest.len);
        it->value_len = rest.len;
        if (it->value == NULL) {
            return sl_err_set(err, SL_ENOMEM, "modify: out of memory");
        }
        return SL_OK;
    case MODIFY_ARGS_KEY_KEY:
        sl_rule_split(rest.ptr, &key, &unused);
        return sl_rule_accessor(&it->dst, key, "modify", err);
    default:
        return SL_OK;
    }
}

static void modify_items_free(struct modify_item *items, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        sl_accessor_fini(&items[i].key);
        sl_accessor_fini(&items[i].dst);
        sl_free(items[i].value);
        pcre2_code_free(items[i].re);
    }
    sl_free(items);
}

/* Compiles one entry of a condition: "NAME ARGS". */
static int modify_cond_compile(struct sl_rule *r, const char *entry,
                               struct sl_err *err)
{
    const struct sl_rule_src src = { .who = "modify", .entry = entry };
    struct sl_str name;
    struct sl_str key;
    struct sl_str rest;
    size_t k;
    int rc;

    sl_rule_split(entry, &name, &rest);
    for (k = MODIFY_COND_KEY_EXISTS; k < MODIFY_NKINDS; k++) {
        if (sl_str_eq_cstr(name, modify_kinds[k].name)) {
            rc = modify_args_split(&modify_kinds[k], rest.ptr, entry, &key,
                                   &rest, err);
            return rc != SL_OK ? rc
                               : sl_rule_compile(r, modify_kinds[k].op, key,
                                                 rest, &src, err);
        }
    }
    return sl_err_set(err, SL_ECONFIG,
                      "modify: unknown condition '%.*s' in '%s' (expected "
                      "key_exists, key_does_not_exist, key_value_equals, "
                      "key_value_does_not_equal or key_value_matches)",
                      SL_STR_FMT(name), entry);
}

static const struct sl_strlist *
modify_conf_list(const struct filter_modify_conf *c, enum modify_kind k)
{
    const struct sl_strlist *lists[] = {
        [MODIFY_REMOVE] = &c->remove, [MODIFY_REMOVE_REGEX] = &c->remove_regex,
        [MODIFY_RENAME] = &c->rename, [MODIFY_COPY] = &c->copy,
        [MODIFY_ADD] = &c->add,       [MODIFY_SET] = &c->set,
    };

    return lists[k];
}

/* Compiles the operations, grouped in the order they run. */
static int modify_ops_compile(struct filter_modify_ctx *ctx,
                              const struct filter_modify_conf *c,
                              struct sl_err *err)
{
    size_t total = 0;
    size_t k;
    size_t i;
    int rc;

    for (k = MODIFY_REMOVE; k <= MODIFY_SET; k++) {
        total += modify_conf_list(c, (enum modify_kind)k)->n;
    }
    ctx->ops = sl_calloc(total + 1, sizeof(*ctx->ops));
    if (ctx->ops == NULL) {
        return sl_err_set(err, SL_ENOMEM, "modify: out of memory");
    }
    for (k = MODIFY_REMOVE; k <= MODIFY_SET; k++) {
        const struct sl_strlist *l = modify_conf_list(c, (enum modify_kind)k);

        for (i = 0; i < l->n; i++) {
            /* Count first, so that a failure frees this item too. */
            rc =
                modify_item_compile(&ctx->ops[ctx->nops++], (enum modify_kind)k,
                                    l->v[i], l->v[i], err);
            if (rc != SL_OK) {
                return rc;
            }
        }
    }
    return SL_OK;
}

static int modify_conds_compile(struct filter_modify_ctx *ctx,
                                const struct filter_modify_conf *c,
                                struct sl_err *err)
{
    size_t i;
    int rc;

    ctx->conds = sl_calloc(c->condition.n + 1, sizeof(*ctx->conds));
    if (ctx->conds == NULL) {
        return sl_err_set(err, SL_ENOMEM, "modify: out of memory");
    }
    for (i = 0; i < c->condition.n; i++) {
        rc = modify_cond_compile(&ctx->conds[ctx->nconds++], c->condition.v[i],
                                 err);
        if (rc != SL_OK) {
            return rc;
        }
    }
    return SL_OK;
}

static void modify_ctx_destroy(struct filter_modify_ctx *ctx)
{
    if (ctx == NULL) {
        return;
    }
    modify_items_free(ctx->ops, ctx->nops);
    sl_rule_free_array(ctx->conds, ctx->nconds);
    sl_rule_scratch_fini(&ctx->scratch);
    sl_free(ctx);
}

static int filter_modify_init(struct sl_instance *ins, void *conf,
                              struct sl_err *err)
{
    const struct filter_modify_conf *c = conf;
    struct filter_modify_ctx *ctx = sl_calloc(1, sizeof(*ctx));
    int rc;

    if (ctx == NULL) {
        return sl_err_set(err, SL_ENOMEM, "modify: out of memory");
    }
    rc = modify_ops_compile(ctx, c, err);
    if (rc != SL_OK) {
        goto fail;
    }
    rc = modify_conds_compile(ctx, c, err);
    if (rc != SL_OK) {
        goto fail;
    }
    if (ctx->nops == 0) {
        rc = sl_err_set(err, SL_ECONFIG,
                        "modify: no operation: set at least one of remove, "
                        "remove_regex, rename, copy, add or set");
        goto fail;
    }
    if (sl_rule_scratch_init(&ctx->scratch) != SL_OK) {
        rc = sl_err_set(err, SL_ENOMEM, "modify: out of memory");
        goto fail;
    }
    sl_instance_set_ctx(ins, ctx);
    return SL_OK;
fail:
    modify_ctx_destroy(ctx);
    return rc;
}

/* A top-level key named literally: renamed in place to keep its order. */
static bool modify_is_plain(const struct sl_accessor *acc)
{
    return acc->n == 1 && !acc->steps[0].is_index;
}

static bool modify_rename_plain(const struct modify_item *it,
                                struct sl_record *r, struct sl_json *dom)
{
    struct sl_str from = it->key.steps[0].key;
    struct sl_str to = it->dst.steps[0].key;
    char *copy;
    size_t i;

    if (sl_str_eq(from, to)) {
        return false;
    }
    copy = sl_arena_strndup(r->arena, to.ptr, to.len);
    if (copy == NULL) {
        return false;
    }
    sl_json_obj_remove(dom, to);
    for (i = 0; i < dom->u.obj.n; i++) {
        if (sl_str_eq(dom->u.obj.v[i].key, from)) {
            dom->u.obj.v[i].key = sl_str_make(copy, to.len);
            return true;
        }
    }
    return false;
}

static bool modify_rename(const struct modify_item *it, struct sl_record *r,
                          struct sl_json *dom)
{
    struct sl_json *v = sl_accessor_get(&it->key, dom);

    if (v == NULL) {
        return false;
    }
    if (modify_is_plain(&it->key) && modify_is_plain(&it->dst)) {
        return modify_rename_plain(it, r, dom);
    }
    if (strcmp(it->key.text, it->dst.text) == 0 ||
        sl_accessor_set(&it->dst, r->arena, dom, v) != SL_OK) {
        return false;
    }
    /* Remove the old path only if it still holds the moved value. */
    if (sl_accessor_get(&it->key, dom) == v) {
        sl_accessor_remove(&it->key, dom);
    }
    return true;
}

static bool modify_remove_regex(struct filter_modify_ctx *ctx,
                                const struct modify_item *it,
                                struct sl_json *dom)
{
    bool changed = false;
    size_t i = dom->u.obj.n;

    while (i > 0) {
        i--;
        if (sl_rule_match(&ctx->scratch, it->re, dom->u.obj.v[i].key)) {
            sl_json_obj_remove_at(dom, i);
            changed = true;
        }
    }
    return changed;
}

static bool modify_set_string(const struct modify_item *it, struct sl_record *r,
                              struct sl_json *dom)
{
    struct sl_json *v = sl_json_new_string(r->arena, it->value, it->value_len);

    return v != NULL && sl_accessor_set(&it->key, r->arena, dom, v) == SL_OK;
}

/* Applies one operation; true when the record changed. */
static bool modify_apply(struct filter_modify_ctx *ctx,
                         const struct modify_item *it, struct sl_record *r,
                         struct sl_json *dom)
{
    struct sl_json *v;

    switch (it->kind) {
    case MODIFY_REMOVE:
        return sl_accessor_remove(&it->key, dom);
    case MODIFY_REMOVE_REGEX:
        return modify_remove_regex(ctx, it, dom);
    case MODIFY_RENAME:
        return modify_rename(it, r, dom);
    case MODIFY_COPY:
        v = sl_accessor_get(&it->key, dom);
        v = v != NULL ? sl_json_clone(r->arena, v) : NULL;
        return v != NULL &&
               sl_accessor_set(&it->dst, r->arena, dom, v) == SL_OK;
    case MODIFY_ADD:
        if (sl_accessor_get(&it->key, dom) != NULL) {
            return false;
        }
        return modify_set_string(it, r, dom);
    case MODIFY_SET:
        return modify_set_string(it, r, dom);
    default:
        return false;
    }
}

static enum sl_filter_result filter_modify_filter(struct sl_instance *ins,
                                                  struct sl_record *r)
{
    struct filter_modify_ctx *ctx = sl_instance_ctx(ins);
    struct sl_json *dom = sl_record_dom(r);
    bool changed = false;
    size_t i;

    if (dom == NULL) {
        return SL_FILTER_KEEP;
    }
    for (i = 0; i < ctx->nconds; i++) {
        if (!sl_rule_holds(&ctx->conds[i], dom, &ctx->scratch)) {
            return SL_FILTER_KEEP;
        }
    }
    for (i = 0; i < ctx->nops; i++) {
        if (modify_apply(ctx, &ctx->ops[i], r, dom)) {
            changed = true;
        }
    }
    if (!changed) {
        return SL_FILTER_KEEP;
    }
    sl_record_mark_dirty(r);
    return SL_FILTER_MODIFIED;
}

static void filter_modify_exit(struct sl_instance *ins)
{
    modify_ctx_destroy(sl_instance_ctx(ins));
    sl_instance_set_ctx(ins, NULL);
}

const struct sl_plugin sl_plugin_filter_modify = {
    .abi = SL_PLUGIN_ABI,
    .kind = SL_PLUGIN_FILTER,
    .name = "modify",
    .description = "Set, add, remove, rename and copy record fields, under "
                   "optional conditions.",
    .options = filter_modify_options,
    .conf_size = sizeof(struct filter_modify_conf),
    .init = filter_modify_init,
    .filter = filter_modify_filter,
    .exit = filter_modify_exit,
};
