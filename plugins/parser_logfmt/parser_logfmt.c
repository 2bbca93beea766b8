/*
 * parser_logfmt.c - the "logfmt" parser: key=value pairs.
 *
 *   level=info msg="request done" dur=12ms cached
 *   -> {"level":"info","msg":"request done","dur":"12ms","cached":true}
 *
 * Pairs are separated by spaces or tabs.  A value is either bare (up to
 * the next blank) or double-quoted with backslash escapes (\" \\ \n \r
 * \t; any other escaped byte is kept with its backslash).  A key with no
 * '=' is a flag and becomes true; "key=" is an empty string.  Values are
 * strings unless "types" says otherwise.  An empty key, a quote inside a
 * key or a bare value, an unterminated quote or a line with no pair at all
 * is SL_EPARSE.
 *
 * The output is written straight into the caller's scratch buffer in one
 * pass; no DOM.  Threads: main thread only (parsers).
 */
#include <stdbool.h>
#include <string.h>

#include "sluice/plugin.h"
#include "sluice/typed.h"
#include "sluice/banned.h"

#define LOGFMT_TYPED_MAX 64

struct parser_logfmt_conf {
    struct sl_strlist types;
    char *time_key;
    char *time_format;
    bool time_keep;
};

struct parser_logfmt_ctx {
    const struct parser_logfmt_conf *conf;
    struct sl_str time_key;
    struct sl_typed typed;
    struct sl_buf val; /* the current value, unescaped */
    bool have_time;    /* the time key was already used on this line */
};

/* One key=value pair as found in the line. */
struct logfmt_pair {
    struct sl_str key;
    struct sl_str val; /* unescaped (points into ctx->val or the line) */
    bool flag;         /* no '=': the value is true */
};

static const struct sl_option parser_logfmt_options[] = {
    SL_TYPED_OPTION(struct parser_logfmt_conf, types),
    { .name = "time_key",
      .type = SL_OPT_STR,
      SL_OPT_FIELD(struct parser_logfmt_conf, time_key),
      .desc = "Key that holds the event time. When it is missing or does "
              "not parse, the time of ingestion is used and the key is "
              "kept." },
    { .name = "time_format",
      .type = SL_OPT_STR,
      SL_OPT_FIELD(struct parser_logfmt_conf, time_format),
      .desc = "strptime-style format of the time value. Unset: RFC 3339 / "
              "ISO 8601 or a numeric epoch." },
    { .name = "time_keep",
      .type = SL_OPT_BOOL,
      .def = "off",
      SL_OPT_FIELD(struct parser_logfmt_conf, time_keep),
      .desc = "Keep the time key in the record after it was parsed into the "
              "event time." },
    SL_OPT_END,
};

static void parser_logfmt_free(struct parser_logfmt_ctx *ctx)
{
    sl_typed_fini(&ctx->typed);
    sl_buf_fini(&ctx->val);
    sl_free(ctx);
}

static int parser_logfmt_init(struct sl_instance *ins, void *conf,
                              struct sl_err *err)
{
    struct parser_logfmt_ctx *ctx = sl_calloc(1, sizeof(*ctx));
    int rc;

    if (ctx == NULL) {
        return sl_err_set(err, SL_ENOMEM, "out of memory");
    }
    ctx->conf = conf;
    ctx->time_key = sl_str_cstr(ctx->conf->time_key);
    sl_buf_init(&ctx->val, 0);
    rc = sl_typed_init(&ctx->typed, &ctx->conf->types, err);
    if (rc != SL_OK) {
        parser_logfmt_free(ctx);
        return rc;
    }
    sl_instance_set_ctx(ins, ctx);
    return SL_OK;
}

static void parser_logfmt_exit(struct sl_instance *ins)
{
    struct parser_logfmt_ctx *ctx = sl_instance_ctx(ins);

    if (ctx != NULL) {
        parser_logfmt_free(ctx);
        sl_instance_set_ctx(ins, NULL);
    }
}

static bool logfmt_blank(char c)
{
    return c == ' ' || c == '\t';
}

/* Reads a quoted value; <*i> is at the opening quote. */
static int logfmt_quoted(struct parser_logfmt_ctx *ctx, const char *p, size_t n,
                         size_t *i, struct sl_str *val)
{
    static const char from[] = "\"\\nrt";
    static const char to[] = "\"\\\n\r\t";
    size_t j = *i + 1;
    const char *f;
    int rc = SL_OK;

    sl_buf_reset(&ctx->val);
    while (rc == SL_OK && j < n && p[j] != '"') {
        if (p[j] != '\\') {
            rc = sl_buf_putc(&ctx->val, p[j++]);
            continue;
        }
        if (j + 1 >= n) {
            return SL_EPARSE;
        }
        f = memchr(from, p[j + 1], sizeof(from) - 1);
        if (f != NULL) {
            rc = sl_buf_putc(&ctx->val, to[f - from]);
        } else {
            rc = sl_buf_append(&ctx->val, p + j, 2);
        }
        j += 2;
    }
    if (rc != SL_OK) {
        return rc;
    }
    if (j >= n || (j + 1 < n && !logfmt_blank(p[j + 1]))) {
        return SL_EPARSE; /* unterminated, or junk after the quote */
    }
    *i = j + 1;
    *val = sl_buf_str(&ctx->val);
    return SL_OK;
}

/* Reads a bare value from <*i> up to the next blank. */
static int logfmt_bare(const char *p, size_t n, size_t *i, struct sl_str *val)
{
    size_t j = *i;

    while (j < n && !logfmt_blank(p[j])) {
        if (p[j] == '"') {
            return SL_EPARSE;
        }
        j++;
    }
    *val = sl_str_make(p + *i, j - *i);
    *i = j;
    return SL_OK;
}

/* Reads one pair starting at <*i> (not blank). */
static int logfmt_pair(struct parser_logfmt_ctx *ctx, const char *p, size_t n,
                       size_t *i, struct logfmt_pair *pr)
{
    size_t j = *i;

    while (j < n && (unsigned char)p[j] > ' ' && p[j] != '=' && p[j] != '"') {
        j++;
    }
    if (j == *i || (j < n && p[j] != '=' && !logfmt_blank(p[j]))) {
        return SL_EPARSE; /* empty key, or a quote/control byte in it */
    }
    pr->key = sl_str_make(p + *i, j - *i);
    pr->flag = j == n || p[j] != '=';
    pr->val = SL_STR_NULL;
    *i = j;
    if (pr->flag) {
        return SL_OK;
    }
    (*i)++;
    if (*i < n && p[*i] == '"') {
        return logfmt_quoted(ctx, p, n, i, &pr->val);
    }
    return logfmt_bare(p, n, i, &pr->val);
}

/* Takes the time from the pair when it is the time key; returns true when
 * the pair must then be left out. */
static bool logfmt_take_time(struct parser_logfmt_ctx *ctx,
                             const struct logfmt_pair *pr,
                             struct sl_parse_result *res)
{
    int64_t ns;

    if (ctx->have_time || ctx->time_key.ptr == NULL || pr->flag ||
        !sl_str_eq(pr->key, ctx->time_key)) {
        return false;
    }
    if (sl_time_parse(pr->val, ctx->conf->time_format, &ns) != SL_OK) {
        return false;
    }
    ctx->have_time = true;
    res->ts_ns = ns;
    return !ctx->conf->time_keep;
}

static int logfmt_emit(struct parser_logfmt_ctx *ctx, struct sl_buf *out,
                       const struct logfmt_pair *pr, bool first)
{
    int rc = first ? SL_OK : sl_buf_putc(out, ',');

    if (rc == SL_OK) {
        rc = sl_json_write_string(out, pr->key.ptr, pr->key.len);
    }
    if (rc == SL_OK) {
        rc = sl_buf_putc(out, ':');
    }
    if (rc != SL_OK) {
        return rc;
    }
    if (pr->flag) {
        return sl_buf_append(out, "true", 4);
    }
    /* logfmt has always left values of LOGFMT_TYPED_MAX bytes or more as
     * strings (regex converts them); kept so that no output changes. */
    if (pr->val.len >= LOGFMT_TYPED_MAX) {
        return sl_json_write_string(out, pr->val.ptr, pr->val.len);
    }
    return sl_typed_write(out, pr->val, sl_typed_find(&ctx->typed, pr->key));
}

static int parser_logfmt_parse(struct sl_instance *ins, const char *p, size_t n,
                               struct sl_parse_result *res)
{
    struct parser_logfmt_ctx *ctx = sl_instance_ctx(ins);
    struct sl_buf *out = res->scratch;
    struct logfmt_pair pr;
    size_t i = 0, pairs = 0, emitted = 0;
    int rc;

    if (out == NULL) {
        return SL_EINVAL;
    }
    ctx->have_time = false;
    rc = sl_buf_putc(out, '{');
    while (rc == SL_OK) {
        while (i < n && logfmt_blank(p[i])) {
            i++;
        }
        if (i == n) {
            break;
        }
        rc = logfmt_pair(ctx, p, n, &i, &pr);
        if (rc != SL_OK) {
            break;
        }
        pairs++;
        if (logfmt_take_time(ctx, &pr, res)) {
            continue;
        }
        rc = logfmt_emit(ctx, out, &pr, emitted++ == 0);
    }
    if (rc == SL_OK && pairs == 0) {
        rc = SL_EPARSE;
    }
    if (rc == SL_OK) {
        rc = sl_buf_putc(out, '}');
    }
    if (rc != SL_OK) {
        res->ts_ns = 0;
        return rc;
    }
    res->body = sl_buf_str(out);
    return SL_OK;
}

const struct sl_plugin sl_plugin_parser_logfmt = {
    .abi = SL_PLUGIN_ABI,
    .kind = SL_PLUGIN_PARSER,
    .name = "logfmt",
    .description = "Parse logfmt lines (key=value pairs, quoted values and "
                   "bare flags) into JSON objects.",
    .options = parser_logfmt_options,
    .conf_size = sizeof(struct parser_logfmt_conf),
    .init = parser_logfmt_init,
    .parse = parser_logfmt_parse,
    .exit = parser_logfmt_exit,
};
