/*
 * parser_regex.c - the "regex" parser: named groups of a PCRE2 pattern
 * become the fields of the record.
 *
 * The pattern is compiled once at init, with the JIT when the platform has
 * one, and one match_data block is reused for every line.  PCRE2 allocates
 * through sl_malloc/sl_free (a general context), so its memory is counted
 * and the OOM tests reach it.  Fields come out in pattern order; groups
 * that did not take part in the match are left out.  Values are strings
 * unless "types" says otherwise.  A line that does not match is SL_EPARSE.
 *
 * Threads: main thread only (parsers); the context is per instance.
 */
#define PCRE2_CODE_UNIT_WIDTH 8

#include <pcre2.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "sluice/plugin.h"
#include "sluice/typed.h"
#include "sluice/banned.h"

struct parser_regex_conf {
    char *regex;
    struct sl_strlist types;
    char *time_key;
    char *time_format;
    bool time_keep;
    bool skip_empty_values;
};

struct regex_group {
    char *name;
    size_t len;
    uint32_t num;
    enum sl_typed_type type;
    bool is_time;
};

struct parser_regex_ctx {
    const struct parser_regex_conf *conf;
    pcre2_general_context *gctx;
    pcre2_code *re;
    pcre2_match_data *md;
    struct regex_group *groups; /* in pattern order */
    size_t ngroups;
};

static const struct sl_option parser_regex_options[] = {
    { .name = "regex",
      .type = SL_OPT_STR,
      .flags = SL_OPT_REQUIRED,
      SL_OPT_FIELD(struct parser_regex_conf, regex),
      .desc = "PCRE2 pattern with named groups, e.g. "
              "'^(?<host>\\S+) (?<code>\\d+)$'. Each group that matched "
              "becomes a field, in pattern order." },
    SL_TYPED_OPTION(struct parser_regex_conf, types),
    { .name = "time_key",
      .type = SL_OPT_STR,
      SL_OPT_FIELD(struct parser_regex_conf, time_key),
      .desc = "Group that holds the event time. When it is missing or does "
              "not parse, the time of ingestion is used and the field is "
              "kept." },
    { .name = "time_format",
      .type = SL_OPT_STR,
      SL_OPT_FIELD(struct parser_regex_conf, time_format),
      .desc = "strptime-style format of the time value, e.g. "
              "'%d/%b/%Y:%H:%M:%S %z'. Unset: RFC 3339 / ISO 8601 or a "
              "numeric epoch." },
    { .name = "time_keep",
      .type = SL_OPT_BOOL,
      .def = "off",
      SL_OPT_FIELD(struct parser_regex_conf, time_keep),
      .desc = "Keep the time field in the record after it was parsed into "
              "the event time." },
    { .name = "skip_empty_values",
      .type = SL_OPT_BOOL,
      .def = "off",
      SL_OPT_FIELD(struct parser_regex_conf, skip_empty_values),
      .desc = "Leave out groups that matched an empty string." },
    SL_OPT_END,
};

static void *regex_malloc(size_t n, void *data)
{
    (void)data;
    return sl_malloc(n);
}

static void regex_free(void *p, void *data)
{
    (void)data;
    sl_free(p);
}

static void parser_regex_free(struct parser_regex_ctx *ctx)
{
    size_t i;

    for (i = 0; i < ctx->ngroups; i++) {
        sl_free(ctx->groups[i].name);
    }
    sl_free(ctx->groups);
    pcre2_match_data_free(ctx->md);
    pcre2_code_free(ctx->re);
    pcre2_general_context_free(ctx->gctx);
    sl_free(ctx);
}

static int regex_compile(struct parser_regex_ctx *ctx, struct sl_err *err)
{
    pcre2_compile_context *cc;
    PCRE2_UCHAR msg[256];
    PCRE2_SIZE off = 0;
    int ec = 0;

    cc = pcre2_compile_context_create(ctx->gctx);
    if (cc == NULL) {
        return sl_err_set(err, SL_ENOMEM, "out of memory");
    }
    ctx->re = pcre2_compile((PCRE2_SPTR)ctx->conf->regex, PCRE2_ZERO_TERMINATED,
                            0, &ec, &off, cc);
    pcre2_compile_context_free(cc);
    if (ctx->re == NULL) {
        if (ec == PCRE2_ERROR_NOMEMORY) {
            return sl_err_set(err, SL_ENOMEM, "out of memory");
        }
        pcre2_get_error_message(ec, msg, sizeof(msg));
        return sl_err_set(err, SL_ECONFIG, "regex: %s at offset %zu",
                          (const char *)msg, (size_t)off);
    }
    /* No JIT on this platform is fine: the interpreter is used. */
    (void)pcre2_jit_compile(ctx->re, PCRE2_JIT_COMPLETE);
    ctx->md = pcre2_match_data_create_from_pattern(ctx->re, ctx->gctx);
    if (ctx->md == NULL) {
        return sl_err_set(err, SL_ENOMEM, "out of memory");
    }
    return SL_OK;
}

static int regex_group_cmp(const void *a, const void *b)
{
    const struct regex_group *x = a, *y = b;

    return x->num < y->num ? -1 : x->num > y->num;
}

/* Copies the name table into groups[], sorted by group number. */
static int regex_groups(struct parser_regex_ctx *ctx, struct sl_err *err)
{
    uint32_t count = 0, esize = 0, i;
    PCRE2_SPTR table = NULL;

    pcre2_pattern_info(ctx->re, PCRE2_INFO_NAMECOUNT, &count);
    pcre2_pattern_info(ctx->re, PCRE2_INFO_NAMEENTRYSIZE, &esize);
    pcre2_pattern_info(ctx->re, PCRE2_INFO_NAMETABLE, &table);
    if (count == 0) {
        return sl_err_set(err, SL_ECONFIG,
                          "regex: the pattern has no named group "
                          "(use (?<name>...))");
    }
    ctx->groups = sl_calloc(count, sizeof(*ctx->groups));
    if (ctx->groups == NULL) {
        return sl_err_set(err, SL_ENOMEM, "out of memory");
    }
    for (i = 0; i < count; i++) {
        PCRE2_SPTR e = table + (size_t)i * esize;
        struct regex_group *g = &ctx->groups[i];

        g->num = ((uint32_t)e[0] << 8) | e[1];
        g->name = sl_strdup((const char *)e + 2);
        if (g->name == NULL) {
            return sl_err_set(err, SL_ENOMEM, "out of memory");
        }
        g->len = strlen(g->name);
        g->is_time = ctx->conf->time_key != NULL &&
                     strcmp(g->name, ctx->conf->time_key) == 0;
        ctx->ngroups++;
    }
    qsort(ctx->groups, count, sizeof(*ctx->groups), regex_group_cmp);
    return SL_OK;
}

/* Applies "key:type" items to the groups. */
static int regex_types(struct parser_regex_ctx *ctx, struct sl_err *err)
{
    const struct sl_strlist *l = &ctx->conf->types;
    size_t i, k;

    for (i = 0; i < l->n; i++) {
        struct sl_typed_key t;
        int rc = sl_typed_parse_item(l->v[i], &t, err);

        if (rc != SL_OK) {
            return rc;
        }
        for (k = 0; k < ctx->ngroups; k++) {
            if (sl_str_eq(t.key, sl_str_make(ctx->groups[k].name,
                                             ctx->groups[k].len))) {
                break;
            }
        }
        if (k == ctx->ngroups) {
            return sl_err_set(err, SL_ECONFIG,
                              "types: the regex has no group named '%.*s'",
                              (int)t.key.len, t.key.ptr);
        }
        ctx->groups[k].type = t.type;
    }
    return SL_OK;
}

static int parser_regex_init(struct sl_instance *ins, void *conf,
                             struct sl_err *err)
{
    struct parser_regex_ctx *ctx = sl_calloc(1, sizeof(*ctx));
    int rc;

    if (ctx == NULL) {
        return sl_err_set(err, SL_ENOMEM, "out of memory");
    }
    ctx->conf = conf;
    ctx->gctx = pcre2_general_context_create(regex_malloc, regex_free, NULL);
    if (ctx->gctx == NULL) {
        rc = sl_err_set(err, SL_ENOMEM, "out of memory");
        goto fail;
    }
    rc = regex_compile(ctx, err);
    if (rc == SL_OK) {
        rc = regex_groups(ctx, err);
    }
    if (rc == SL_OK) {
        rc = regex_types(ctx, err);
    }
    if (rc != SL_OK) {
        goto fail;
    }
    sl_instance_set_ctx(ins, ctx);
    return SL_OK;
fail:
    parser_regex_free(ctx);
    return rc;
}

static void parser_regex_exit(struct sl_instance *ins)
{
    struct parser_regex_ctx *ctx = sl_instance_ctx(ins);

    if (ctx != NULL) {
        parser_regex_free(ctx);
        sl_instance_set_ctx(ins, NULL);
    }
}

static int regex_write_member(struct sl_buf *out, const struct regex_group *g,
                              struct sl_str v, bool first)
{
    int rc = first ? SL_OK : sl_buf_putc(out, ',');

    if (rc == SL_OK) {
        rc = sl_json_write_string(out, g->name, g->len);
    }
    if (rc == SL_OK) {
        rc = sl_buf_putc(out, ':');
    }
    if (rc == SL_OK) {
        rc = sl_typed_write(out, v, g->type);
    }
    return rc;
}

static int parser_regex_parse(struct sl_instance *ins, const char *p, size_t n,
                              struct sl_parse_result *res)
{
    struct parser_regex_ctx *ctx = sl_instance_ctx(ins);
    PCRE2_SIZE *ov;
    struct sl_buf *out = res->scratch;
    bool first = true;
    size_t i;
    int rc;

    if (out == NULL) {
        return SL_EINVAL;
    }
    rc = pcre2_match(ctx->re, (PCRE2_SPTR)p, n, 0, 0, ctx->md, NULL);
    if (rc < 0) {
        return rc == PCRE2_ERROR_NOMEMORY ? SL_ENOMEM : SL_EPARSE;
    }
    ov = pcre2_get_ovector_pointer(ctx->md);
    rc = sl_buf_putc(out, '{');
    for (i = 0; rc == SL_OK && i < ctx->ngroups; i++) {
        const struct regex_group *g = &ctx->groups[i];
        struct sl_str v;
        int64_t ns;

        if (ov[2 * g->num] == PCRE2_UNSET) {
            continue;
        }
        v = sl_str_make(p + ov[2 * g->num],
                        ov[2 * g->num + 1] - ov[2 * g->num]);
        if (v.len == 0 && ctx->conf->skip_empty_values) {
            continue;
        }
        if (g->is_time && res->ts_ns == 0 &&
            sl_time_parse(v, ctx->conf->time_format, &ns) == SL_OK) {
            res->ts_ns = ns;
            if (!ctx->conf->time_keep) {
                continue;
            }
        }
        rc = regex_write_member(out, g, v, first);
        first = false;
    }
    if (rc == SL_OK) {
        rc = sl_buf_putc(out, '}');
    }
    if (rc == SL_OK) {
        res->body = sl_buf_str(out);
    }
    return rc;
}

const struct sl_plugin sl_plugin_parser_regex = {
    .abi = SL_PLUGIN_ABI,
    .kind = SL_PLUGIN_PARSER,
    .name = "regex",
    .description = "Parse lines with a PCRE2 pattern whose named groups "
                   "become the record's fields.",
    .options = parser_regex_options,
    .conf_size = sizeof(struct parser_regex_conf),
    .init = parser_regex_init,
    .parse = parser_regex_parse,
    .exit = parser_regex_exit,
};
