/*
 * filter_parser.c - parse the string in one key of a record with named
 * parsers and merge the fields it yields.
 *
 * 'parser' names one or more parsers: those of the config's "parsers:"
 * section (regex parsers live there) and the built-in json, logfmt and
 * syslog.  They are looked up once at init (sl_parser_lookup) and tried in
 * order; the first that parses wins.  Its fields replace the record
 * (reserve_data off) or are merged into it, overwriting keys of the same
 * name (reserve_data on); the source key is dropped unless preserve_key is
 * on.  A parser that reports a time sets the record's time.
 *
 * A record whose key is missing, not a string, or that no parser accepts
 * is passed on unchanged and counted (sluice_filter_parser_failures_total,
 * with a reason label).  Main thread; the parsers write into this
 * instance's own scratch buffer (not the engine's, which may hold the
 * record being filtered), and the result is parsed into the record's
 * arena.
 */
#include <string.h>

#include "sluice/plugin.h"
#include "sluice/banned.h"

#define PARSER_MAX 8

struct filter_parser_conf {
    char *key_name;
    struct sl_strlist parser;
    bool reserve_data;
    bool preserve_key;
};

struct filter_parser_ctx {
    struct sl_accessor key;
    struct sl_instance *parsers[PARSER_MAX];
    size_t nparsers;
    bool reserve;
    bool preserve;
    struct sl_buf scratch;
    struct sl_metric *m_fail_missing;
    struct sl_metric *m_fail_parse;
};

static const struct sl_option filter_parser_options[] = {
    { .name = "key_name",
      .type = SL_OPT_STR,
      .flags = SL_OPT_REQUIRED,
      SL_OPT_FIELD(struct filter_parser_conf, key_name),
      .desc = "Record accessor of the string to parse, e.g. log or "
              "$kubernetes['raw']." },
    { .name = "parser",
      .type = SL_OPT_LIST,
      .flags = SL_OPT_REQUIRED | SL_OPT_MULTI,
      SL_OPT_FIELD(struct filter_parser_conf, parser),
      .desc = "Names of the parsers to try, in order: entries of the "
              "parsers section (e.g. a regex parser) or the built-in json, "
              "logfmt and syslog. The first that parses wins." },
    { .name = "reserve_data",
      .type = SL_OPT_BOOL,
      .def = "off",
      SL_OPT_FIELD(struct filter_parser_conf, reserve_data),
      .desc = "Keep the record's other keys and merge the parsed fields "
              "into it (parsed fields win). Off: the record becomes the "
              "parsed fields." },
    { .name = "preserve_key",
      .type = SL_OPT_BOOL,
      .def = "off",
      SL_OPT_FIELD(struct filter_parser_conf, preserve_key),
      .desc = "Keep the parsed key (as it was) in the result." },
    SL_OPT_END,
};

static void parser_ctx_destroy(struct filter_parser_ctx *ctx)
{
    if (ctx == NULL) {
        return;
    }
    sl_accessor_fini(&ctx->key);
    sl_buf_fini(&ctx->scratch);
    sl_free(ctx);
}

static int parser_lookup_all(struct sl_instance *ins,
                             struct filter_parser_ctx *ctx,
                             const struct sl_strlist *names, struct sl_err *err)
{
    size_t i;

    if (names->n > PARSER_MAX) {
        return sl_err_set(err, SL_ECONFIG, "parser: at most %d parsers",
                          PARSER_MAX);
    }
    for (i = 0; i < names->n; i++) {
        ctx->parsers[i] = sl_parser_lookup(ins, names->v[i]);
        if (ctx->parsers[i] == NULL) {
            return sl_err_set(err, SL_ECONFIG,
                              "parser: no parser named '%s' (define it in "
                              "the parsers section, or use json, logfmt or "
                              "syslog; standalone instances have none)",
                              names->v[i]);
        }
        ctx->nparsers++;
    }
    return SL_OK;
}

static int filter_parser_init(struct sl_instance *ins, void *conf,
                              struct sl_err *err)
{
    const struct filter_parser_conf *c = conf;
    struct filter_parser_ctx *ctx = sl_calloc(1, sizeof(*ctx));
    int rc;

    if (ctx == NULL) {
        return sl_err_set(err, SL_ENOMEM, "parser: out of memory");
    }
    sl_buf_init(&ctx->scratch, 0);
    ctx->reserve = c->reserve_data;
    ctx->preserve = c->preserve_key;
    rc = sl_accessor_compile(&ctx->key, c->key_name, err);
    if (rc == SL_OK) {
        rc = parser_lookup_all(ins, ctx, &c->parser, err);
    }
    if (rc != SL_OK) {
        parser_ctx_destroy(ctx);
        return rc;
    }
    ctx->m_fail_missing = sl_metric_counter(
        ins, "sluice_filter_parser_failures_total",
        "Records passed on unparsed, by reason.", "reason", "no_key");
    ctx->m_fail_parse = sl_metric_counter(
        ins, "sluice_filter_parser_failures_total",
        "Records passed on unparsed, by reason.", "reason", "no_match");
    sl_instance_set_ctx(ins, ctx);
    return SL_OK;
}

/* Runs the parsers on <text>; on success *<out> is the parsed object in
 * the record's arena. */
static bool parser_run(struct filter_parser_ctx *ctx, struct sl_record *r,
                       struct sl_str text, struct sl_json **out)
{
    struct sl_parse_result res;
    size_t i;

    for (i = 0; i < ctx->nparsers; i++) {
        res.scratch = &ctx->scratch;
        if (sl_parser_parse(ctx->parsers[i], text.ptr, text.len, &res) !=
                SL_OK ||
            res.body.ptr == NULL) {
            continue;
        }
        if (sl_json_parse(r->arena, res.body.ptr, res.body.len, out, NULL) !=
                SL_OK ||
            (*out)->type != SL_JSON_OBJECT) {
            continue;
        }
        if (res.ts_ns != 0) {
            r->ts_ns = res.ts_ns;
        }
        return true;
    }
    return false;
}

/* Merges <parsed> into <dom> (parsed keys win). */
static bool parser_merge(struct sl_record *r, struct sl_json *dom,
                         const struct sl_json *parsed)
{
    size_t i;

    for (i = 0; i < parsed->u.obj.n; i++) {
        const struct sl_json_member *m = &parsed->u.obj.v[i];

        if (sl_json_obj_set(r->arena, dom, m->key, m->val) != SL_OK) {
            return false;
        }
    }
    return true;
}

static enum sl_filter_result filter_parser_filter(struct sl_instance *ins,
                                                  struct sl_record *r)
{
    struct filter_parser_ctx *ctx = sl_instance_ctx(ins);
    struct sl_json *dom = sl_record_dom(r);
    struct sl_json *src;
    struct sl_json *parsed = NULL;

    if (dom == NULL) {
        return SL_FILTER_KEEP;
    }
    src = sl_accessor_get(&ctx->key, dom);
    if (src == NULL || src->type != SL_JSON_STRING) {
        sl_metric_add(ctx->m_fail_missing, 1);
        return SL_FILTER_KEEP;
    }
    if (!parser_run(ctx, r, src->u.str, &parsed)) {
        sl_metric_add(ctx->m_fail_parse, 1);
        return SL_FILTER_KEEP;
    }
    if (!ctx->preserve) {
        sl_accessor_remove(&ctx->key, dom);
    }
    if (!ctx->reserve) {
        /* Start from the parsed fields; keep the source key if asked. */
        if (ctx->preserve &&
            sl_accessor_set(&ctx->key, r->arena, parsed, src) != SL_OK) {
            return SL_FILTER_KEEP;
        }
        *dom = *parsed;
    } else if (!parser_merge(r, dom, parsed)) {
        return SL_FILTER_KEEP;
    }
    sl_record_mark_dirty(r);
    return SL_FILTER_MODIFIED;
}

static void filter_parser_exit(struct sl_instance *ins)
{
    parser_ctx_destroy(sl_instance_ctx(ins));
    sl_instance_set_ctx(ins, NULL);
}

const struct sl_plugin sl_plugin_filter_parser = {
    .abi = SL_PLUGIN_ABI,
    .kind = SL_PLUGIN_FILTER,
    .name = "parser",
    .description = "Parse the string in one key of a record with named "
                   "parsers and merge the fields it yields.",
    .options = filter_parser_options,
    .conf_size = sizeof(struct filter_parser_conf),
    .init = filter_parser_init,
    .filter = filter_parser_filter,
    .exit = filter_parser_exit,
};
