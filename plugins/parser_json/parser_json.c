/*
 * parser_json.c - the "json" parser: one JSON object per line or message.
 *
 * The fast path validates the bytes once (sl_json_check) and hands them on
 * untouched: a one-line object is the record body as it is, with no copy.
 * Only when the time key must be cut out are the bytes copied, without the
 * member and without re-encoding (sl_json_check_find gives its byte
 * range).  An object that spans lines or has outer whitespace is compacted
 * through the DOM.  Anything but an object is SL_EPARSE: the engine keeps
 * the line as {"log": ...} and counts it.
 *
 * Threads: parsers run on the main thread only; the context (checker,
 * arena, scratch) belongs to one instance and is reused for every record,
 * so the steady state allocates nothing.
 */
#include <stdbool.h>
#include <string.h>

#include "sluice/plugin.h"
#include "sluice/banned.h"

struct parser_json_conf {
    char *time_key;
    char *time_format;
    bool time_keep;
};

struct parser_json_ctx {
    const struct parser_json_conf *conf;
    struct sl_str time_key;
    struct sl_json_checker *ck;
    struct sl_arena arena; /* DOM of objects that must be compacted */
    struct sl_buf tmp;     /* unescaped time value */
};

static const struct sl_option parser_json_options[] = {
    { .name = "time_key",
      .type = SL_OPT_STR,
      SL_OPT_FIELD(struct parser_json_conf, time_key),
      .desc = "Top-level key that holds the event time. When it is missing "
              "or does not parse, the time of ingestion is used and the key "
              "is kept." },
    { .name = "time_format",
      .type = SL_OPT_STR,
      SL_OPT_FIELD(struct parser_json_conf, time_format),
      .desc = "strptime-style format of the time value (%z accepts Z, "
              "+hh:mm and +hhmm; %L or a fraction after %S reads up to 9 "
              "digits; %s is epoch seconds). Unset: RFC 3339 / ISO 8601 or "
              "a numeric epoch in s, ms, us or ns." },
    { .name = "time_keep",
      .type = SL_OPT_BOOL,
      .def = "off",
      SL_OPT_FIELD(struct parser_json_conf, time_keep),
      .desc = "Keep the time key in the record after it was parsed into "
              "the event time. Off removes it." },
    SL_OPT_END,
};

static int parser_json_init(struct sl_instance *ins, void *conf,
                            struct sl_err *err)
{
    struct parser_json_ctx *ctx = sl_calloc(1, sizeof(*ctx));

    if (ctx == NULL) {
        return sl_err_set(err, SL_ENOMEM, "out of memory");
    }
    ctx->ck = sl_json_checker_create();
    if (ctx->ck == NULL) {
        sl_free(ctx);
        return sl_err_set(err, SL_ENOMEM, "out of memory");
    }
    ctx->conf = conf;
    ctx->time_key = sl_str_cstr(ctx->conf->time_key);
    sl_arena_init(&ctx->arena, 0, 0);
    sl_buf_init(&ctx->tmp, 0);
    sl_instance_set_ctx(ins, ctx);
    return SL_OK;
}

static void parser_json_exit(struct sl_instance *ins)
{
    struct parser_json_ctx *ctx = sl_instance_ctx(ins);

    if (ctx == NULL) {
        return;
    }
    sl_json_checker_destroy(ctx->ck);
    sl_arena_fini(&ctx->arena);
    sl_buf_fini(&ctx->tmp);
    sl_free(ctx);
    sl_instance_set_ctx(ins, NULL);
}

/* Parses the raw time value (a JSON string token or number) into <ns>. */
static bool parser_json_time_raw(struct parser_json_ctx *ctx,
                                 const struct sl_json_member_loc *loc,
                                 int64_t *ns)
{
    struct sl_str text = loc->val;

    if (loc->val_type == SL_JSON_STRING) {
        if (memchr(text.ptr, '\\', text.len) != NULL) {
            sl_buf_reset(&ctx->tmp);
            if (sl_json_unescape(&ctx->tmp, text) != SL_OK) {
                return false;
            }
            text = sl_buf_str(&ctx->tmp);
        } else {
            text = sl_str_make(text.ptr + 1, text.len - 2);
        }
    } else if (loc->val_type != SL_JSON_NUMBER) {
        return false;
    }
    return sl_time_parse(text, ctx->conf->time_format, ns) == SL_OK;
}

/* Parses the time value of a DOM node into <ns>. */
static bool parser_json_time_dom(const struct parser_json_ctx *ctx,
                                 const struct sl_json *v, int64_t *ns)
{
    if (v == NULL) {
        return false;
    }
    if (v->type == SL_JSON_STRING) {
        return sl_time_parse(v->u.str, ctx->conf->time_format, ns) == SL_OK;
    }
    if (v->type == SL_JSON_NUMBER) {
        return sl_time_parse(v->u.num, ctx->conf->time_format, ns) == SL_OK;
    }
    return false;
}

/* A multi-line object: build the DOM, take the time out, serialize. */
static int parser_json_compact(struct parser_json_ctx *ctx, const char *p,
                               size_t n, struct sl_parse_result *res)
{
    struct sl_json *v = NULL;
    int64_t ns;
    int rc;

    sl_arena_reset(&ctx->arena);
    rc = sl_json_parse(&ctx->arena, p, n, &v, NULL);
    if (rc != SL_OK) {
        return rc == SL_ENOMEM ? SL_ENOMEM : SL_EPARSE;
    }
    if (ctx->time_key.ptr != NULL &&
        parser_json_time_dom(ctx, sl_json_obj_get(v, ctx->time_key), &ns)) {
        res->ts_ns = ns;
        if (!ctx->conf->time_keep) {
            sl_json_obj_remove(v, ctx->time_key);
        }
    }
    rc = sl_json_serialize(v, res->scratch);
    if (rc == SL_OK) {
        res->body = sl_buf_str(res->scratch);
    }
    return rc;
}

/* A one-line object whose time member was found: cut it out unless kept. */
static int parser_json_cut(struct parser_json_ctx *ctx, const char *p, size_t n,
                           const struct sl_json_member_loc *loc,
                           struct sl_parse_result *res)
{
    int64_t ns;
    int rc;

    if (!parser_json_time_raw(ctx, loc, &ns)) {
        return SL_OK; /* the key stays; the engine uses ingest time */
    }
    res->ts_ns = ns;
    if (ctx->conf->time_keep) {
        return SL_OK;
    }
    rc = sl_buf_append(res->scratch, p, loc->member_start);
    if (rc == SL_OK) {
        rc = sl_buf_append(res->scratch, p + loc->member_end,
                           n - loc->member_end);
    }
    if (rc == SL_OK) {
        res->body = sl_buf_str(res->scratch);
    }
    return rc;
}

static int parser_json_parse(struct sl_instance *ins, const char *p, size_t n,
                             struct sl_parse_result *res)
{
    struct parser_json_ctx *ctx = sl_instance_ctx(ins);
    struct sl_json_member_loc loc;
    enum sl_json_check_result r;
    struct sl_err err;

    if (ctx->time_key.ptr == NULL) {
        r = sl_json_check(ctx->ck, p, n, &err);
    } else {
        r = sl_json_check_find(ctx->ck, p, n, ctx->time_key, &loc, &err);
    }
    if (r == SL_JSON_CHECK_INVALID && err.rc == SL_ENOMEM) {
        return SL_ENOMEM; /* not the line's fault: do not count it */
    }
    if (r == SL_JSON_CHECK_COMPACT) {
        return res->scratch != NULL ? parser_json_compact(ctx, p, n, res)
                                    : SL_EINVAL;
    }
    if (r != SL_JSON_CHECK_OBJECT) {
        return SL_EPARSE;
    }
    res->body = sl_str_make(p, n);
    if (ctx->time_key.ptr == NULL || loc.val.ptr == NULL) {
        return SL_OK;
    }
    if (res->scratch == NULL) {
        return SL_EINVAL;
    }
    return parser_json_cut(ctx, p, n, &loc, res);
}

const struct sl_plugin sl_plugin_parser_json = {
    .abi = SL_PLUGIN_ABI,
    .kind = SL_PLUGIN_PARSER,
    .name = "json",
    .description = "Parse lines that hold one JSON object each; valid "
                   "one-line objects pass through byte for byte.",
    .options = parser_json_options,
    .conf_size = sizeof(struct parser_json_conf),
    .init = parser_json_init,
    .parse = parser_json_parse,
    .exit = parser_json_exit,
};
