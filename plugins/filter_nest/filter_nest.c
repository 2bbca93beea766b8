/*
 * filter_nest.c - move top-level keys under a new map (nest), or a map's
 * keys up to the top level (lift).
 *
 *   operation: nest   every top-level key matching one of 'wildcard'
 *                     (globs with * and ?) moves into the map 'nest_under',
 *                     placed where the first moved key was, with
 *                     'remove_prefix' cut from and 'add_prefix' put before
 *                     each key.  An existing map of that name is extended.
 *   operation: lift   the members of the map 'nested_under' replace it, in
 *                     place and in order, with the same prefix handling; a
 *                     top-level key of the same name is replaced.
 *
 * Because both keep positions and order, nest and lift with mirrored
 * prefixes undo each other byte for byte when the nested keys are
 * adjacent (tests/unit/test_filters2.c).  Main thread; per record it
 * allocates only from the record's arena.
 */
#include <string.h>

#include "sluice/plugin.h"
#include "sluice/banned.h"

enum nest_op {
    NEST_NEST,
    NEST_LIFT,
};

struct filter_nest_conf {
    int operation;
    struct sl_strlist wildcard;
    char *nest_under;
    char *nested_under;
    char *add_prefix;
    char *remove_prefix;
};

struct filter_nest_ctx {
    const struct filter_nest_conf *conf;
    struct sl_str under; /* nest_under or nested_under */
    struct sl_str add;
    struct sl_str cut;
};

static const char *const nest_ops[] = { "nest", "lift", NULL };

static const struct sl_option filter_nest_options[] = {
    { .name = "operation",
      .type = SL_OPT_ENUM,
      .def = "nest",
      .choices = nest_ops,
      SL_OPT_FIELD(struct filter_nest_conf, operation),
      .desc = "nest moves matching top-level keys under nest_under; lift "
              "moves the keys of the map nested_under up to the top "
              "level." },
    { .name = "wildcard",
      .type = SL_OPT_LIST,
      .flags = SL_OPT_MULTI,
      SL_OPT_FIELD(struct filter_nest_conf, wildcard),
      .desc = "nest: glob patterns (* and ?) of the top-level keys to "
              "move, e.g. kubernetes_*." },
    { .name = "nest_under",
      .type = SL_OPT_STR,
      SL_OPT_FIELD(struct filter_nest_conf, nest_under),
      .desc = "nest: the key of the map that receives the moved keys. It "
              "takes the position of the first moved key." },
    { .name = "nested_under",
      .type = SL_OPT_STR,
      SL_OPT_FIELD(struct filter_nest_conf, nested_under),
      .desc = "lift: the key of the map whose members move up; they take "
              "its position, in order." },
    { .name = "add_prefix",
      .type = SL_OPT_STR,
      SL_OPT_FIELD(struct filter_nest_conf, add_prefix),
      .desc = "Put this prefix before each moved key." },
    { .name = "remove_prefix",
      .type = SL_OPT_STR,
      SL_OPT_FIELD(struct filter_nest_conf, remove_prefix),
      .desc = "Cut this prefix from each moved key that has it (before "
              "add_prefix is applied)." },
    SL_OPT_END,
};

static int filter_nest_init(struct sl_instance *ins, void *conf,
                            struct sl_err *err)
{
    const struct filter_nest_conf *c = conf;
    struct filter_nest_ctx *ctx;

    if (c->operation == NEST_NEST &&
        (c->nest_under == NULL || c->wildcard.n == 0)) {
        return sl_err_set(err, SL_ECONFIG,
                          "nest: operation nest needs wildcard and "
                          "nest_under");
    }
    if (c->operation == NEST_LIFT && c->nested_under == NULL) {
        return sl_err_set(err, SL_ECONFIG,
                          "nest: operation lift needs nested_under");
    }
    ctx = sl_calloc(1, sizeof(*ctx));
    if (ctx == NULL) {
        return sl_err_set(err, SL_ENOMEM, "nest: out of memory");
    }
    ctx->conf = c;
    ctx->under = sl_str_cstr(c->operation == NEST_NEST ? c->nest_under
                                                       : c->nested_under);
    ctx->add = sl_str_cstr(c->add_prefix);
    ctx->cut = sl_str_cstr(c->remove_prefix);
    sl_instance_set_ctx(ins, ctx);
    return SL_OK;
}

/* Glob match of <s> against <pat> (NUL-terminated): * and ?. */
static bool nest_glob(const char *pat, struct sl_str s)
{
    size_t i = 0;
    const char *star = NULL;
    size_t star_i = 0;

    while (i < s.len) {
        if (*pat == '*') {
            star = pat++;
            star_i = i;
        } else if (*pat != '\0' && (*pat == '?' || *pat == s.ptr[i])) {
            pat++;
            i++;
        } else if (star != NULL) {
            pat = star + 1;
            i = ++star_i;
        } else {
            return false;
        }
    }
    while (*pat == '*') {
        pat++;
    }
    return *pat == '\0';
}

static bool nest_matches(const struct filter_nest_ctx *ctx, struct sl_str key)
{
    size_t i;

    if (sl_str_eq(key, ctx->under)) {
        return false;
    }
    for (i = 0; i < ctx->conf->wildcard.n; i++) {
        if (nest_glob(ctx->conf->wildcard.v[i], key)) {
            return true;
        }
    }
    return false;
}

/* The moved key: <key> without remove_prefix, with add_prefix. */
static bool nest_key(const struct filter_nest_ctx *ctx, struct sl_arena *a,
                     struct sl_str key, struct sl_str *out)
{
    char *p;

    if (ctx->cut.len > 0 && key.len >= ctx->cut.len &&
        memcmp(key.ptr, ctx->cut.ptr, ctx->cut.len) == 0) {
        key.ptr += ctx->cut.len;
        key.len -= ctx->cut.len;
    }
    if (ctx->add.len == 0) {
        *out = key;
        return true;
    }
    p = sl_arena_alloc(a, ctx->add.len + key.len + 1);
    if (p == NULL) {
        return false;
    }
    memcpy(p, ctx->add.ptr, ctx->add.len);
    if (key.len > 0) {
        memcpy(p + ctx->add.len, key.ptr, key.len);
    }
    p[ctx->add.len + key.len] = '\0';
    *out = sl_str_make(p, ctx->add.len + key.len);
    return true;
}

/* Finds the map to nest into, creating it at <pos> when absent. */
static struct sl_json *nest_target(const struct filter_nest_ctx *ctx,
                                   struct sl_record *r, struct sl_json *dom,
                                   size_t pos)
{
    struct sl_json *m = sl_json_obj_get(dom, ctx->under);
    struct sl_json_member *v;
    size_t n;

    if (m != NULL && m->type == SL_JSON_OBJECT) {
        return m;
    }
    sl_json_obj_remove(dom, ctx->under);
    m = sl_json_new_object(r->arena);
    if (m == NULL ||
        sl_json_obj_append(r->arena, dom, ctx->under, m) != SL_OK) {
        return NULL;
    }
    /* Move the appended member from the end to <pos>. */
    v = dom->u.obj.v;
    n = dom->u.obj.n;
    if (pos < n - 1) {
        struct sl_json_member tmp = v[n - 1];

        memmove(&v[pos + 1], &v[pos], (n - 1 - pos) * sizeof(*v));
        v[pos] = tmp;
    }
    return m;
}

static bool nest_nest(const struct filter_nest_ctx *ctx, struct sl_record *r,
                      struct sl_json *dom)
{
    struct sl_json *m;
    struct sl_str k;
    size_t first = dom->u.obj.n;
    size_t i;
    size_t removed = 0;

    for (i = 0; i < dom->u.obj.n && first == dom->u.obj.n; i++) {
        if (nest_matches(ctx, dom->u.obj.v[i].key)) {
            first = i;
        }
    }
    if (first == dom->u.obj.n) {
        return false;
    }
    m = nest_target(ctx, r, dom, first);
    if (m == NULL) {
        return false;
    }
    i = 0;
    while (i < dom->u.obj.n) {
        struct sl_json_member mem = dom->u.obj.v[i];

        if (!nest_matches(ctx, mem.key)) {
            i++;
            continue;
        }
        if (!nest_key(ctx, r->arena, mem.key, &k) ||
            sl_json_obj_append(r->arena, m, k, mem.val) != SL_OK) {
            return removed > 0;
        }
        sl_json_obj_remove_at(dom, i);
        removed++;
    }
    return true;
}

/* True when a member in [<pos>, <pos> + <n>) of <dom> has key <k>. */
static bool nest_in_block(const struct sl_json *dom, size_t pos, size_t n,
                          struct sl_str k)
{
    size_t i;

    for (i = pos; i < pos + n; i++) {
        if (sl_str_eq(dom->u.obj.v[i].key, k)) {
            return true;
        }
    }
    return false;
}

/* Removes the outer members that the lifted block [<pos>, <pos> + <n>)
 * replaces (same key). */
static void nest_drop_shadowed(struct sl_json *dom, size_t pos, size_t n)
{
    size_t i = 0;

    while (i < dom->u.obj.n) {
        if ((i < pos || i >= pos + n) &&
            nest_in_block(dom, pos, n, dom->u.obj.v[i].key)) {
            sl_json_obj_remove_at(dom, i);
            if (i < pos) {
                pos--;
            }
            continue;
        }
        i++;
    }
}

static bool nest_lift(const struct filter_nest_ctx *ctx, struct sl_record *r,
                      struct sl_json *dom)
{
    struct sl_json *m = NULL;
    struct sl_json_member *nv;
    size_t pos = 0;
    size_t i;
    size_t k = 0;
    size_t n;

    for (i = 0; i < dom->u.obj.n; i++) {
        if (sl_str_eq(dom->u.obj.v[i].key, ctx->under)) {
            m = dom->u.obj.v[i].val;
            pos = i;
            break;
        }
    }
    if (m == NULL || m->type != SL_JSON_OBJECT) {
        return false;
    }
    /* Build the new member array: before pos, the lifted members, after. */
    n = dom->u.obj.n - 1 + m->u.obj.n;
    nv = sl_arena_alloc(r->arena, (n + 1) * sizeof(*nv));
    if (nv == NULL) {
        return false;
    }
    for (i = 0; i < pos; i++) {
        nv[k++] = dom->u.obj.v[i];
    }
    for (i = 0; i < m->u.obj.n; i++) {
        nv[k] = m->u.obj.v[i];
        if (!nest_key(ctx, r->arena, m->u.obj.v[i].key, &nv[k].key)) {
            return false;
        }
        k++;
    }
    for (i = pos + 1; i < dom->u.obj.n; i++) {
        nv[k++] = dom->u.obj.v[i];
    }
    dom->u.obj.v = nv;
    dom->u.obj.n = k;
    dom->u.obj.cap = n + 1;
    nest_drop_shadowed(dom, pos, m->u.obj.n);
    return true;
}

static enum sl_filter_result filter_nest_filter(struct sl_instance *ins,
                                                struct sl_record *r)
{
    const struct filter_nest_ctx *ctx = sl_instance_ctx(ins);
    struct sl_json *dom = sl_record_dom(r);
    bool changed;

    if (dom == NULL) {
        return SL_FILTER_KEEP;
    }
    if (ctx->conf->operation == NEST_NEST) {
        changed = nest_nest(ctx, r, dom);
    } else {
        changed = nest_lift(ctx, r, dom);
    }
    if (!changed) {
        return SL_FILTER_KEEP;
    }
    sl_record_mark_dirty(r);
    return SL_FILTER_MODIFIED;
}

static void filter_nest_exit(struct sl_instance *ins)
{
    sl_free(sl_instance_ctx(ins));
    sl_instance_set_ctx(ins, NULL);
}

const struct sl_plugin sl_plugin_filter_nest = {
    .abi = SL_PLUGIN_ABI,
    .kind = SL_PLUGIN_FILTER,
    .name = "nest",
    .description = "Move top-level keys under a new map, or a map's keys up "
                   "to the top level.",
    .options = filter_nest_options,
    .conf_size = sizeof(struct filter_nest_conf),
    .init = filter_nest_init,
    .filter = filter_nest_filter,
    .exit = filter_nest_exit,
};
