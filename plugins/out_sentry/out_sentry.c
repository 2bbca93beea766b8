/*
 * out_sentry.c - Sentry output: records at or above min_level become
 * Sentry events, one envelope per event, POSTed to
 * <base>/api/<project>/envelope/ with X-Sentry-Auth (protocols.md
 * section 3).
 *
 * The event_id is deterministic (SHA-256 of tag, time and body, 32 hex
 * digits), so a retried record is the same event.  message, level, logger,
 * environment, release, server_name, tags and extra come from configured
 * keys.  An exception comes from exception.type/value/stacktrace, from
 * error.type/message/stack (docs/records.md), or from a multi-line message
 * holding a Python, Java or Go stack trace; frames are parsed into
 * exception.values (root cause first, frames caller to callee).
 *
 * Records below min_level are not sent: they count as delivered and in
 * sluice_sentry_skipped_records_total.  Rate limits (429 with Retry-After,
 * X-Sentry-Rate-Limits on any answer) are kept per category (error,
 * default, all): records of a limited category are not sent but retried
 * after the limit ends (sl_batch_retry_after), and counted in
 * sluice_sentry_rate_limited_records_total.
 */
#include <ctype.h>
#include <inttypes.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "sluice/http.h"
#include "sluice/plugin.h"
#include "sluice/banned.h"

enum sentry_level { SLV_DEBUG, SLV_INFO, SLV_WARNING, SLV_ERROR, SLV_FATAL };
enum sentry_cat { SC_ALL, SC_ERROR, SC_DEFAULT, SC_N };

#define SENTRY_MSG_MAX 8192
#define SENTRY_FRAMES_MAX 250

struct out_sentry_conf {
    struct sl_http_conf http;
    char *dsn;
    char *level_key;
    int min_level;
    char *message_key;
    char *logger_key;
    char *environment;
    char *environment_key;
    char *release;
    char *release_key;
    char *server_name_key;
    char *platform;
    struct sl_strlist tag_keys;
    bool extra;
};

struct out_sentry {
    const struct out_sentry_conf *conf;
    struct sl_http_conf http;  /* conf->http with the DSN's base URL */
    char *base_url;
    char *target;              /* "/api/<project>/envelope/" */
    char *auth;                /* "X-Sentry-Auth: Sentry ..." */
    char *dsn_json;            /* the DSN as a JSON string */
    bool disabled;             /* empty DSN */
    struct sl_metric *m_skipped, *m_limited, *m_events;
};

struct sentry_frame {
    struct sl_str function, filename, module;
    long lineno;
};

struct sentry_exc {
    struct sl_str type, value, module;
    struct sentry_frame *frames;
    size_t nframes;
};

struct out_sentry_worker {
    const struct out_sentry *se;
    struct sl_instance *ins;
    struct sl_http_client *http;
    struct sl_arena arena;
    struct sl_buf scratch;
    struct sl_buf payload;
    EVP_MD_CTX *md;
    int64_t until[SC_N]; /* rate limits: wall-clock ns */
};

static const char *const sentry_levels[] = { "debug", "info", "warning",
                                             "error", "fatal", NULL };

static const struct sl_option out_sentry_options[] = {
    SL_HTTP_OPTIONS(struct out_sentry_conf, http, "443", "1M"),
    { .name = "dsn", .type = SL_OPT_STR, .flags = SL_OPT_SECRET,
      SL_OPT_FIELD(struct out_sentry_conf, dsn),
      .desc = "Project DSN, scheme://public_key[:secret]@host[:port]"
              "[/prefix]/project_id; it replaces host, port, url and tls. "
              "Unset or empty: nothing is sent (records count as "
              "skipped)." },
    { .name = "level_key", .type = SL_OPT_STR, .def = "level",
      SL_OPT_FIELD(struct out_sentry_conf, level_key),
      .desc = "Key of the record's level: a name (fatal, critical, error, "
              "warn, info, debug, ...) or a syslog severity 0-7. Missing: "
              "info. This and the other *_key options take a dotted path "
              "(log.level) into nested objects too." },
    { .name = "min_level", .type = SL_OPT_ENUM, .def = "error",
      .choices = sentry_levels,
      SL_OPT_FIELD(struct out_sentry_conf, min_level),
      .desc = "Lowest level sent; records below it are counted as skipped "
              "and not sent." },
    { .name = "message_key", .type = SL_OPT_STR, .def = "message",
      SL_OPT_FIELD(struct out_sentry_conf, message_key),
      .desc = "Key of the message (falls back to log and msg). A "
              "multi-line message holding a Python, Java or Go stack "
              "trace becomes the exception." },
    { .name = "logger_key", .type = SL_OPT_STR, .def = "logger",
      SL_OPT_FIELD(struct out_sentry_conf, logger_key),
      .desc = "Key of the logger name. Missing: the tag." },
    { .name = "environment", .type = SL_OPT_STR,
      SL_OPT_FIELD(struct out_sentry_conf, environment),
      .desc = "Environment of every event (environment_key wins)." },
    { .name = "environment_key", .type = SL_OPT_STR,
      SL_OPT_FIELD(struct out_sentry_conf, environment_key),
      .desc = "Key of the environment." },
    { .name = "release", .type = SL_OPT_STR,
      SL_OPT_FIELD(struct out_sentry_conf, release),
      .desc = "Release of every event (release_key wins)." },
    { .name = "release_key", .type = SL_OPT_STR,
      SL_OPT_FIELD(struct out_sentry_conf, release_key),
      .desc = "Key of the release." },
    { .name = "server_name_key", .type = SL_OPT_STR, .def = "host",
      SL_OPT_FIELD(struct out_sentry_conf, server_name_key),
      .desc = "Key of the server name. Missing: this host's name." },
    { .name = "platform", .type = SL_OPT_STR, .def = "other",
      SL_OPT_FIELD(struct out_sentry_conf, platform),
      .desc = "Platform of the events (python, java, go, other, ...)." },
    { .name = "tag_keys", .type = SL_OPT_LIST,
      SL_OPT_FIELD(struct out_sentry_conf, tag_keys),
      .desc = "Top-level keys sent as Sentry tags (values as strings, "
              "at most 200 characters)." },
    { .name = "extra", .type = SL_OPT_BOOL, .def = "on",
      SL_OPT_FIELD(struct out_sentry_conf, extra),
      .desc = "Send the record's other keys as extra." },
    SL_OPT_END,
};

/* ---- levels ---- */

/* The level of a value: a name or a syslog severity; -1 if unknown. */
static int sentry_level_of(const struct sl_json *v)
{
    static const struct {
        const char *name;
        int level;
    } names[] = {
        { "fatal", SLV_FATAL },     { "critical", SLV_FATAL },
        { "crit", SLV_FATAL },      { "emerg", SLV_FATAL },
        { "emergency", SLV_FATAL }, { "alert", SLV_FATAL },
        { "panic", SLV_FATAL },     { "error", SLV_ERROR },
        { "err", SLV_ERROR },       { "severe", SLV_ERROR },
        { "warning", SLV_WARNING }, { "warn", SLV_WARNING },
        { "notice", SLV_INFO },     { "info", SLV_INFO },
        { "information", SLV_INFO }, { "debug", SLV_DEBUG },
        { "trace", SLV_DEBUG },
    };
    static const int sev[] = { SLV_FATAL, SLV_FATAL, SLV_FATAL, SLV_ERROR,
                               SLV_WARNING, SLV_INFO, SLV_INFO, SLV_DEBUG };
    int64_t n;
    size_t i;

    if (v == NULL) {
        return -1;
    }
    if (v->type == SL_JSON_NUMBER && sl_json_get_i64(v, &n)) {
        return n >= 0 && n <= 7 ? sev[n] : -1;
    }
    if (v->type != SL_JSON_STRING) {
        return -1;
    }
    if (v->u.str.len == 1 && v->u.str.ptr[0] >= '0' &&
        v->u.str.ptr[0] <= '7') {
        return sev[v->u.str.ptr[0] - '0'];
    }
    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (strlen(names[i].name) == v->u.str.len &&
            strncasecmp(names[i].name, v->u.str.ptr, v->u.str.len) == 0) {
            return names[i].level;
        }
    }
    return -1;
}

/* ---- stack traces ---- */

/* The line at *pos of <t> (without its newline); advances *pos. */
static bool sentry_line(struct sl_str t, size_t *pos, struct sl_str *line)
{
    const char *nl;

    if (*pos >= t.len) {
        return false;
    }
    nl = memchr(t.ptr + *pos, '\n', t.len - *pos);
    *line = sl_str_make(t.ptr + *pos,
                        nl ? (size_t)(nl - t.ptr) - *pos : t.len - *pos);
    *pos += line->len + (nl != NULL);
    if (line->len > 0 && line->ptr[line->len - 1] == '\r') {
        line->len--;
    }
    return true;
}

static struct sl_str sentry_trim(struct sl_str s)
{
    while (s.len > 0 && isspace((unsigned char)s.ptr[0])) {
        s.ptr++;
        s.len--;
    }
    while (s.len > 0 && isspace((unsigned char)s.ptr[s.len - 1])) {
        s.len--;
    }
    return s;
}

static bool sentry_starts(struct sl_str s, const char *p)
{
    size_t n = strlen(p);

    return s.len >= n && memcmp(s.ptr, p, n) == 0;
}

static const char *sentry_find(struct sl_str s, const char *p)
{
    return memmem(s.ptr, s.len, p, strlen(p));
}

/* Exceptions parsed from a message, in the arena. */
struct sentry_trace {
    struct sentry_exc *exc;
    size_t n, cap;
};

static struct sentry_exc *sentry_exc_new(struct sl_arena *a,
                                         struct sentry_trace *tr)
{
    if (tr->n == tr->cap) {
        size_t cap = tr->cap ? tr->cap * 2 : 4;
        struct sentry_exc *e = sl_arena_alloc(a, cap * sizeof(*e));

        if (e == NULL) {
            return NULL;
        }
        if (tr->n > 0) {
            memcpy(e, tr->exc, tr->n * sizeof(*e));
        }
        tr->exc = e;
        tr->cap = cap;
    }
    memset(&tr->exc[tr->n], 0, sizeof(tr->exc[0]));
    return &tr->exc[tr->n++];
}

static struct sentry_frame *sentry_frame_new(struct sl_arena *a,
                                             struct sentry_exc *e,
                                             size_t *cap)
{
    if (e->nframes >= SENTRY_FRAMES_MAX) {
        return NULL;
    }
    if (e->nframes == *cap) {
        size_t c = *cap ? *cap * 2 : 16;
        struct sentry_frame *f = sl_arena_alloc(a, c * sizeof(*f));

        if (f == NULL) {
            return NULL;
        }
        if (e->nframes > 0) {
            memcpy(f, e->frames, e->nframes * sizeof(*f));
        }
        e->frames = f;
        *cap = c;
    }
    memset(&e->frames[e->nframes], 0, sizeof(e->frames[0]));
    return &e->frames[e->nframes++];
}

static void sentry_reverse(struct sentry_frame *f, size_t n)
{
    size_t i;

    for (i = 0; i < n / 2; i++) {
        struct sentry_frame t = f[i];

        f[i] = f[n - 1 - i];
        f[n - 1 - i] = t;
    }
}

/* "Type: value" (or "Type") into e. */
static void sentry_type_value(struct sl_str s, struct sentry_exc *e)
{
    const char *c = memchr(s.ptr, ':', s.len);

    s = sentry_trim(s);
    c = memchr(s.ptr, ':', s.len);
    if (c == NULL) {
        e->type = s;
        return;
    }
    e->type = sentry_trim(sl_str_make(s.ptr, (size_t)(c - s.ptr)));
    e->value = sentry_trim(sl_str_make(c + 1, s.len - (size_t)(c - s.ptr) - 1));
}

/* Python: '  File "f.py", line 10, in func' lines, then "Type: value".
 * Blocks chained by "During handling..." / "The above exception...". */
static int sentry_parse_python(struct sl_arena *a, struct sl_str t,
                               struct sentry_trace *tr)
{
    struct sentry_exc *e = NULL;
    struct sl_str line;
    size_t pos = 0, cap = 0;

    while (sentry_line(t, &pos, &line)) {
        struct sl_str l = sentry_trim(line);

        if (sentry_starts(l, "Traceback (most recent call last)")) {
            e = sentry_exc_new(a, tr);
            cap = 0;
            if (e == NULL) {
                return SL_ENOMEM;
            }
        } else if (e != NULL && sentry_starts(l, "File \"")) {
            struct sentry_frame *f = sentry_frame_new(a, e, &cap);
            const char *q = memchr(l.ptr + 6, '"', l.len - 6);
            const char *ln = sentry_find(l, ", line ");
            const char *in = sentry_find(l, ", in ");

            if (f == NULL || q == NULL) {
                continue;
            }
            f->filename = sl_str_make(l.ptr + 6, (size_t)(q - l.ptr - 6));
            f->lineno = ln != NULL ? strtol(ln + 7, NULL, 10) : 0;
            if (in != NULL) {
                f->function = sl_str_make(in + 5, l.len - (size_t)(in + 5 -
                                                                   l.ptr));
            }
        } else if (e != NULL && e->type.len == 0 && line.len > 0 &&
                   !isspace((unsigned char)line.ptr[0])) {
            sentry_type_value(line, e);
        }
    }
    return tr->n > 0 ? SL_OK : SL_ENOTFOUND;
}

/* Java: "pkg.Type: value", "\tat pkg.Class.method(File.java:42)",
 * "Caused by: ...".  Frames are callee first (reversed here); causes come
 * after their effects (reversed: root cause first). */
static int sentry_parse_java(struct sl_arena *a, struct sl_str t,
                             struct sentry_trace *tr)
{
    struct sentry_exc *e = NULL;
    struct sl_str line;
    size_t pos = 0, cap = 0, i;

    while (sentry_line(t, &pos, &line)) {
        struct sl_str l = sentry_trim(line);

        if (sentry_starts(l, "at ") && e != NULL) {
            struct sentry_frame *f = sentry_frame_new(a, e, &cap);
            const char *p = memchr(l.ptr, '(', l.len);
            const char *c, *dot = NULL, *s;

            if (f == NULL || p == NULL) {
                continue;
            }
            for (s = l.ptr + 3; s < p; s++) {
                if (*s == '.') {
                    dot = s;
                }
            }
            f->function = dot ? sl_str_make(dot + 1, (size_t)(p - dot - 1))
                              : sl_str_make(l.ptr + 3,
                                            (size_t)(p - l.ptr - 3));
            if (dot != NULL) {
                f->module = sl_str_make(l.ptr + 3, (size_t)(dot - l.ptr - 3));
            }
            c = memchr(p, ':', l.len - (size_t)(p - l.ptr));
            s = memchr(p, ')', l.len - (size_t)(p - l.ptr));
            if (s != NULL) {
                f->filename = sl_str_make(p + 1, (size_t)((c ? c : s) - p -
                                                          1));
                f->lineno = c != NULL ? strtol(c + 1, NULL, 10) : 0;
            }
        } else if (sentry_starts(l, "...") || l.len == 0) {
            continue;
        } else if (e == NULL || sentry_starts(l, "Caused by: ")) {
            e = sentry_exc_new(a, tr);
            cap = 0;
            if (e == NULL) {
                return SL_ENOMEM;
            }
            if (sentry_starts(l, "Caused by: ")) {
                l = sl_str_make(l.ptr + 11, l.len - 11);
            } else if (sentry_starts(l, "Exception in thread ")) {
                const char *q = memchr(l.ptr + 21, '"', l.len - 21);

                if (q != NULL) {
                    l = sl_str_make(q + 1, l.len - (size_t)(q + 1 - l.ptr));
                }
            }
            sentry_type_value(l, e);
        }
    }
    for (i = 0; i < tr->n; i++) {
        sentry_reverse(tr->exc[i].frames, tr->exc[i].nframes);
    }
    for (i = 0; i < tr->n / 2; i++) {
        struct sentry_exc x = tr->exc[i];

        tr->exc[i] = tr->exc[tr->n - 1 - i];
        tr->exc[tr->n - 1 - i] = x;
    }
    return tr->n > 0 && tr->exc[0].nframes + tr->exc[tr->n - 1].nframes > 0
               ? SL_OK
               : SL_ENOTFOUND;
}

/* Go: "panic: value", "goroutine N [running]:", then pairs of
 * "pkg.func(args)" and "\t/path/file.go:12 +0x1d" (callee first). */
static int sentry_parse_go(struct sl_arena *a, struct sl_str t,
                           struct sentry_trace *tr)
{
    struct sentry_exc *e = sentry_exc_new(a, tr);
    struct sentry_frame *f = NULL;
    struct sl_str line;
    size_t pos = 0, cap = 0, i, n;
    bool in_stack = false;

    if (e == NULL) {
        return SL_ENOMEM;
    }
    while (sentry_line(t, &pos, &line)) {
        struct sl_str l = sentry_trim(line);

        if (!in_stack && e->type.len == 0 &&
            (sentry_starts(l, "panic: ") || sentry_starts(l, "fatal error: "))) {
            const char *c = memchr(l.ptr, ':', l.len);

            e->type = sl_str_make(l.ptr, (size_t)(c - l.ptr));
            e->value = sentry_trim(sl_str_make(c + 1, l.len - (size_t)(c - l.ptr) - 1));
        } else if (sentry_starts(l, "goroutine ")) {
            if (in_stack) {
                break; /* only the first (failing) goroutine */
            }
            in_stack = true;
        } else if (in_stack && line.len > 0 && line.ptr[0] == '\t' &&
                   f != NULL) {
            const char *c = NULL, *s;

            for (s = l.ptr; s < l.ptr + l.len && *s != ' '; s++) {
                if (*s == ':') {
                    c = s;
                }
            }
            if (c != NULL) {
                f->filename = sl_str_make(l.ptr, (size_t)(c - l.ptr));
                f->lineno = strtol(c + 1, NULL, 10);
            }
            f = NULL;
        } else if (in_stack && l.len > 0 && !sentry_starts(l, "created by")) {
            const char *p = NULL, *s;

            for (s = l.ptr + l.len; s > l.ptr; s--) {
                if (s[-1] == '(') {
                    p = s - 1;
                    break;
                }
            }
            f = sentry_frame_new(a, e, &cap);
            if (f != NULL) {
                f->function = sl_str_make(l.ptr, p ? (size_t)(p - l.ptr)
                                                   : l.len);
            }
        }
    }
    for (i = 0, n = 0; i < e->nframes; i++) { /* only "func\n\tfile:line" */
        if (e->frames[i].filename.len > 0) {
            e->frames[n++] = e->frames[i];
        }
    }
    e->nframes = n;
    sentry_reverse(e->frames, e->nframes);
    if (e->type.len == 0) {
        e->type = sl_str_cstr("panic");
    }
    return e->nframes > 0 ? SL_OK : SL_ENOTFOUND;
}

/* Recognizes and parses a stack trace in <t>. */
static int sentry_parse_trace(struct sl_arena *a, struct sl_str t,
                              struct sentry_trace *tr)
{
    memset(tr, 0, sizeof(*tr));
    if (memchr(t.ptr, '\n', t.len) == NULL) {
        return SL_ENOTFOUND;
    }
    if (sentry_find(t, "Traceback (most recent call last)") != NULL) {
        return sentry_parse_python(a, t, tr);
    }
    if (sentry_find(t, "goroutine ") != NULL &&
        (sentry_find(t, "panic: ") != NULL ||
         sentry_find(t, "fatal error: ") != NULL ||
         sentry_find(t, " [running]") != NULL)) {
        return sentry_parse_go(a, t, tr);
    }
    if (sentry_find(t, "\tat ") != NULL || sentry_find(t, "\n    at ") ||
        sentry_find(t, "\n  at ")) {
        return sentry_parse_java(a, t, tr);
    }
    return SL_ENOTFOUND;
}

/* ---- event payload ---- */

/* The member <key> of <dom>; when there is none, a dotted <key> such as
 * "log.level" is looked up in nested objects (the ECS names normalize
 * writes).  NULL when absent. */
static const struct sl_json *sentry_member(const struct sl_json *dom,
                                           const char *key)
{
    const struct sl_json *v = sl_json_obj_get(dom, sl_str_cstr(key));
    const char *dot;

    while (v == NULL && dom != NULL && dom->type == SL_JSON_OBJECT &&
           (dot = strchr(key, '.')) != NULL) {
        dom = sl_json_obj_get(dom, sl_str_make(key, (size_t)(dot - key)));
        key = dot + 1;
        v = dom != NULL && dom->type == SL_JSON_OBJECT
                ? sl_json_obj_get(dom, sl_str_cstr(key))
                : NULL;
    }
    return v;
}

/* The string (or scalar) value of <dom> at <key> (see sentry_member), or
 * an empty string. */
static struct sl_str sentry_get(struct out_sentry_worker *wk,
                                const struct sl_json *dom, const char *key)
{
    const struct sl_json *v;
    struct sl_str s = sl_str_make("", 0);

    if (key == NULL || dom == NULL) {
        return s;
    }
    v = sentry_member(dom, key);
    if (v == NULL || v->type == SL_JSON_NULL) {
        return s;
    }
    if (v->type == SL_JSON_STRING) {
        return v->u.str;
    }
    if (v->type == SL_JSON_OBJECT || v->type == SL_JSON_ARRAY) {
        return s;
    }
    sl_buf_reset(&wk->scratch);
    if (!sl_json_scalar_text(v, &wk->scratch, &s)) {
        return sl_str_make("", 0);
    }
    /* keep it: the scratch buffer is reused */
    s.ptr = sl_arena_strndup(&wk->arena, s.ptr, s.len);
    return s.ptr != NULL ? s : sl_str_make("", 0);
}

/* A string member of an object value <obj>[<key>]. */
static struct sl_str sentry_sub(const struct sl_json *obj, const char *key)
{
    const struct sl_json *v = obj != NULL && obj->type == SL_JSON_OBJECT
                                  ? sl_json_obj_get(obj, sl_str_cstr(key))
                                  : NULL;

    return v != NULL && v->type == SL_JSON_STRING ? v->u.str
                                                  : sl_str_make("", 0);
}

/* The exception of a record: exception / error objects or flat keys, or a
 * stack trace in the message.  <msg> is the message text. */
static int sentry_exception(struct out_sentry_worker *wk,
                            const struct sl_json *dom, struct sl_str msg,
                            struct sentry_trace *tr)
{
    static const char *const k[2][4] = {
        { "exception", "type", "value", "stacktrace" },
        { "error", "type", "message", "stack" },
    };
    struct sl_str type, value, stack;
    char flat[64];
    size_t i;

    memset(tr, 0, sizeof(*tr));
    for (i = 0; i < 2; i++) {
        const struct sl_json *o = sl_json_obj_get(dom, sl_str_cstr(k[i][0]));

        type = sentry_sub(o, k[i][1]);
        value = sentry_sub(o, k[i][2]);
        stack = sentry_sub(o, k[i][3]);
        if (stack.len == 0 && i == 1) {
            stack = sentry_sub(o, "stack_trace"); /* ECS (normalize ecs) */
        }
        if (o == NULL) {
            snprintf(flat, sizeof(flat), "%s.%s", k[i][0], k[i][1]);
            type = sentry_get(wk, dom, flat);
            snprintf(flat, sizeof(flat), "%s.%s", k[i][0], k[i][2]);
            value = sentry_get(wk, dom, flat);
            snprintf(flat, sizeof(flat), "%s.%s", k[i][0], k[i][3]);
            stack = sentry_get(wk, dom, flat);
        }
        if (type.len + value.len + stack.len == 0) {
            continue;
        }
        if (stack.len == 0 ||
            sentry_parse_trace(&wk->arena, stack, tr) != SL_OK) {
            struct sentry_exc *e;

            memset(tr, 0, sizeof(*tr));
            e = sentry_exc_new(&wk->arena, tr);
            if (e == NULL) {
                return SL_ENOMEM;
            }
        }
        /* the keys win over what the trace text says */
        if (type.len > 0) {
            tr->exc[tr->n - 1].type = type;
        }
        if (value.len > 0) {
            tr->exc[tr->n - 1].value = value;
        }
        if (tr->exc[tr->n - 1].type.len == 0) {
            tr->exc[tr->n - 1].type = sl_str_cstr("Error");
        }
        return SL_OK;
    }
    if (sentry_parse_trace(&wk->arena, msg, tr) != SL_OK) {
        memset(tr, 0, sizeof(*tr));
    }
    return SL_OK;
}

static int sentry_kv(struct sl_buf *out, const char *key, struct sl_str v)
{
    int rc = sl_buf_printf(out, ",\"%s\":", key);

    return rc == SL_OK ? sl_json_write_string(out, v.ptr, v.len) : rc;
}

static int sentry_put_frames(struct sl_buf *out, const struct sentry_exc *e)
{
    size_t i;
    int rc = sl_buf_append_str(out, ",\"stacktrace\":{\"frames\":[");

    for (i = 0; rc == SL_OK && i < e->nframes; i++) {
        const struct sentry_frame *f = &e->frames[i];

        rc = sl_buf_append_str(out, i > 0 ? ",{" : "{");
        if (rc == SL_OK) {
            rc = sl_buf_append_str(out, "\"function\":");
        }
        if (rc == SL_OK) {
            rc = sl_json_write_string(out, f->function.ptr, f->function.len);
        }
        if (rc == SL_OK && f->module.len > 0) {
            rc = sentry_kv(out, "module", f->module);
        }
        if (rc == SL_OK && f->filename.len > 0) {
            rc = sentry_kv(out, "filename", f->filename);
        }
        if (rc == SL_OK && f->lineno > 0) {
            rc = sl_buf_printf(out, ",\"lineno\":%ld", f->lineno);
        }
        if (rc == SL_OK) {
            rc = sl_buf_putc(out, '}');
        }
    }
    return rc == SL_OK ? sl_buf_append_str(out, "]}") : rc;
}

static int sentry_put_exception(struct sl_buf *out,
                                const struct sentry_trace *tr)
{
    size_t i;
    int rc = sl_buf_append_str(out, ",\"exception\":{\"values\":[");

    for (i = 0; rc == SL_OK && i < tr->n; i++) {
        const struct sentry_exc *e = &tr->exc[i];

        rc = sl_buf_append_str(out, i > 0 ? ",{\"type\":" : "{\"type\":");
        if (rc == SL_OK) {
            rc = sl_json_write_string(out, e->type.ptr, e->type.len);
        }
        if (rc == SL_OK && e->value.len > 0) {
            rc = sentry_kv(out, "value", e->value);
        }
        if (rc == SL_OK && e->nframes > 0) {
            rc = sentry_put_frames(out, e);
        }
        if (rc == SL_OK) {
            rc = sl_buf_putc(out, '}');
        }
    }
    return rc == SL_OK ? sl_buf_append_str(out, "]}") : rc;
}

/* True when <key> is one the event uses itself (not sent in extra). */
static bool sentry_used_key(const struct out_sentry_conf *c, struct sl_str k)
{
    const char *used[] = { c->level_key, c->message_key, c->logger_key,
                           c->environment_key, c->release_key,
                           c->server_name_key, "exception", "error" };
    size_t i;

    for (i = 0; i < sizeof(used) / sizeof(used[0]); i++) {
        if (used[i] != NULL && sl_str_eq_cstr(k, used[i])) {
            return true;
        }
    }
    return false;
}

static int sentry_put_tags(struct out_sentry_worker *wk,
                           const struct sl_json *dom, struct sl_buf *out)
{
    const struct sl_strlist *l = &wk->se->conf->tag_keys;
    size_t i, n = 0;
    int rc = SL_OK;

    for (i = 0; rc == SL_OK && i < l->n; i++) {
        struct sl_str v = sentry_get(wk, dom, l->v[i]);

        if (v.len == 0 || memchr(v.ptr, '\n', v.len) != NULL) {
            continue;
        }
        if (v.len > 200) {
            v.len = 200;
            while (v.len > 0 && ((unsigned char)v.ptr[v.len] & 0xC0) == 0x80) {
                v.len--;
            }
        }
        rc = sl_buf_append_str(out, n++ ? "," : ",\"tags\":{");
        if (rc == SL_OK) {
            rc = sl_json_write_string(out, l->v[i], strlen(l->v[i]));
        }
        if (rc == SL_OK) {
            rc = sl_buf_putc(out, ':');
        }
        if (rc == SL_OK) {
            rc = sl_json_write_string(out, v.ptr, v.len);
        }
    }
    return rc == SL_OK && n > 0 ? sl_buf_putc(out, '}') : rc;
}

static int sentry_put_extra(struct out_sentry_worker *wk,
                            const struct sl_json *dom, struct sl_buf *out)
{
    size_t i, n = 0;
    int rc = SL_OK;

    if (!wk->se->conf->extra) {
        return SL_OK;
    }
    for (i = 0; rc == SL_OK && i < dom->u.obj.n; i++) {
        const struct sl_json_member *m = &dom->u.obj.v[i];

        if (sentry_used_key(wk->se->conf, m->key) ||
            sl_str_eq_cstr(m->key, "log") || sl_str_eq_cstr(m->key, "msg")) {
            continue;
        }
        rc = sl_buf_append_str(out, n++ ? "," : ",\"extra\":{");
        if (rc == SL_OK) {
            rc = sl_json_write_string(out, m->key.ptr, m->key.len);
        }
        if (rc == SL_OK) {
            rc = sl_buf_putc(out, ':');
        }
        if (rc == SL_OK) {
            rc = sl_json_serialize(m->val, out);
        }
    }
    return rc == SL_OK && n > 0 ? sl_buf_putc(out, '}') : rc;
}

/* The deterministic event id: SHA-256 of tag, NUL, time, NUL, body; the
 * first 16 bytes in lower-case hex. */
static int sentry_event_id(struct out_sentry_worker *wk, struct sl_str tag,
                           const struct sl_event *ev, char out[33])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned mdlen = 0, i;
    char ts[32];
    int n = snprintf(ts, sizeof(ts), "%" PRId64, ev->ts_ns);

    if (EVP_DigestInit_ex(wk->md, EVP_sha256(), NULL) != 1 ||
        EVP_DigestUpdate(wk->md, tag.ptr, tag.len) != 1 ||
        EVP_DigestUpdate(wk->md, "", 1) != 1 ||
        EVP_DigestUpdate(wk->md, ts, (size_t)n + 1) != 1 ||
        EVP_DigestUpdate(wk->md, ev->body.ptr, ev->body.len) != 1 ||
        EVP_DigestFinal_ex(wk->md, md, &mdlen) != 1 || mdlen < 16) {
        return SL_EIO;
    }
    for (i = 0; i < 16; i++) {
        snprintf(out + 2 * i, 3, "%02x", md[i]);
    }
    return SL_OK;
}

static const char *const sentry_level_names[] = { "debug", "info", "warning",
                                                  "error", "fatal" };

/* What one record becomes. */
struct sentry_event {
    const struct sl_json *dom;
    int level;
    struct sl_str message;
    struct sentry_trace trace;
    char id[33];
};

/* Parses the record; returns SL_OK, or SL_ENOTFOUND when it is below
 * min_level (or not an object). */
static int sentry_prepare(struct out_sentry_worker *wk, struct sl_str tag,
                          const struct sl_event *ev, struct sentry_event *se)
{
    const struct out_sentry_conf *c = wk->se->conf;
    struct sl_json *dom = NULL;
    const char *alt[] = { c->message_key, "log", "msg", "message" };
    size_t i;

    memset(se, 0, sizeof(*se));
    sl_arena_reset(&wk->arena);
    if (sl_json_parse(&wk->arena, ev->body.ptr, ev->body.len, &dom, NULL) !=
            SL_OK ||
        dom == NULL || dom->type != SL_JSON_OBJECT) {
        return SL_ENOTFOUND;
    }
    se->dom = dom;
    se->level = sentry_level_of(sentry_member(dom, c->level_key));
    if (se->level < 0) {
        se->level = SLV_INFO;
    }
    if (se->level < c->min_level) {
        return SL_ENOTFOUND;
    }
    for (i = 0; i < 4 && se->message.len == 0; i++) {
        se->message = sentry_get(wk, dom, alt[i]);
    }
    if (sentry_exception(wk, dom, se->message, &se->trace) != SL_OK) {
        return SL_ENOMEM;
    }
    return sentry_event_id(wk, tag, ev, se->id);
}

/* The fixed members: id, timestamp, platform, level, logger, ... */
static int sentry_put_head(struct out_sentry_worker *wk, struct sl_str tag,
                           const struct sl_event *ev,
                           const struct sentry_event *se, struct sl_buf *out)
{
    const struct out_sentry_conf *c = wk->se->conf;
    struct sl_str v;
    int64_t s = ev->ts_ns / SL_NS_PER_S, us = (ev->ts_ns % SL_NS_PER_S) / 1000;
    int rc;

    rc = sl_buf_printf(out, "{\"event_id\":\"%s\",\"timestamp\":%" PRId64
                            ".%06" PRId64,
                       se->id, s, us < 0 ? 0 : us);
    if (rc == SL_OK) {
        rc = sentry_kv(out, "platform", sl_str_cstr(c->platform));
    }
    if (rc == SL_OK) {
        rc = sentry_kv(out, "level",
                       sl_str_cstr(sentry_level_names[se->level]));
    }
    v = sentry_get(wk, se->dom, c->logger_key);
    if (rc == SL_OK) {
        rc = sentry_kv(out, "logger", v.len ? v : tag);
    }
    v = sentry_get(wk, se->dom, c->server_name_key);
    if (rc == SL_OK) {
        rc = sentry_kv(out, "server_name", v.len ? v
                                                 : sl_str_cstr(sl_hostname()));
    }
    v = sentry_get(wk, se->dom, c->environment_key);
    if (v.len == 0 && c->environment != NULL) {
        v = sl_str_cstr(c->environment);
    }
    if (rc == SL_OK && v.len > 0) {
        rc = sentry_kv(out, "environment", v);
    }
    v = sentry_get(wk, se->dom, c->release_key);
    if (v.len == 0 && c->release != NULL) {
        v = sl_str_cstr(c->release);
    }
    if (rc == SL_OK && v.len > 0) {
        rc = sentry_kv(out, "release", v);
    }
    return rc;
}

/* Appends the event payload of a prepared record. */
static int sentry_payload(struct out_sentry_worker *wk, struct sl_str tag,
                          const struct sl_event *ev,
                          const struct sentry_event *se, struct sl_buf *out)
{
    struct sl_str m = se->message;
    int rc = sentry_put_head(wk, tag, ev, se, out);

    if (m.len > SENTRY_MSG_MAX) {
        m.len = SENTRY_MSG_MAX;
        while (m.len > 0 && ((unsigned char)m.ptr[m.len] & 0xC0) == 0x80) {
            m.len--;
        }
    }
    if (rc == SL_OK && m.len > 0) {
        rc = sl_buf_append_str(out, ",\"message\":{\"formatted\":");
        if (rc == SL_OK) {
            rc = sl_json_write_string(out, m.ptr, m.len);
        }
        if (rc == SL_OK) {
            rc = sl_buf_putc(out, '}');
        }
    }
    if (rc == SL_OK && se->trace.n > 0) {
        rc = sentry_put_exception(out, &se->trace);
    }
    if (rc == SL_OK) {
        rc = sentry_put_tags(wk, se->dom, out);
    }
    if (rc == SL_OK) {
        rc = sentry_put_extra(wk, se->dom, out);
    }
    return rc == SL_OK ? sl_buf_putc(out, '}') : rc;
}

/* Appends the whole envelope: header, item header, payload. */
static int sentry_envelope(struct out_sentry_worker *wk,
                           const struct sentry_event *se,
                           const struct sl_buf *payload, struct sl_buf *out)
{
    char now[40];

    sl_time_format_rfc3339(sl_time_now_ns(), 3, now, sizeof(now));
    return sl_buf_printf(out,
                         "{\"event_id\":\"%s\",\"dsn\":%s,\"sent_at\":\"%s\"}"
                         "\n{\"type\":\"event\",\"length\":%zu}\n%s\n",
                         se->id, wk->se->dsn_json, now, payload->len,
                         payload->data ? payload->data : "");
}

/* ---- rate limits ---- */

static int sentry_cat_of(const char *p, size_t n)
{
    if (n == 5 && memcmp(p, "error", 5) == 0) {
        return SC_ERROR;
    }
    if (n == 7 && memcmp(p, "default", 7) == 0) {
        return SC_DEFAULT;
    }
    return -1;
}

/* Applies X-Sentry-Rate-Limits; returns true when it named a known
 * category (or all). */
static bool sentry_rate_limits(int64_t until[SC_N], struct sl_str h,
                               int64_t now)
{
    const char *p = h.ptr, *end = h.ptr + h.len;
    bool any = false;

    while (p < end) {
        const char *lim = memchr(p, ',', (size_t)(end - p));
        const char *le = lim ? lim : end, *c1, *c2;
        double secs;
        int64_t t;

        c1 = memchr(p, ':', (size_t)(le - p));
        c2 = c1 ? memchr(c1 + 1, ':', (size_t)(le - c1 - 1)) : NULL;
        if (c1 != NULL) {
            char num[32];
            size_t nl = (size_t)(c1 - p) < 31 ? (size_t)(c1 - p) : 31;
            struct sl_str cats = sentry_trim(sl_str_make(
                c1 + 1, (size_t)((c2 ? c2 : le) - c1 - 1)));

            memcpy(num, p, nl);
            num[nl] = '\0';
            secs = strtod(num, NULL);
            t = now + (int64_t)(secs * 1e9);
            if (cats.len == 0) {
                until[SC_ALL] = until[SC_ALL] > t ? until[SC_ALL] : t;
                any = true;
            }
            while (cats.len > 0) {
                const char *sc = memchr(cats.ptr, ';', cats.len);
                struct sl_str one = sentry_trim(sl_str_make(
                    cats.ptr, sc ? (size_t)(sc - cats.ptr) : cats.len));
                int k = sentry_cat_of(one.ptr, one.len);

                if (k >= 0) {
                    until[k] = until[k] > t ? until[k] : t;
                    any = true;
                }
                cats = sc ? sl_str_make(sc + 1, cats.len -
                                                    (size_t)(sc + 1 -
                                                             cats.ptr))
                          : sl_str_make("", 0);
            }
        }
        p = le + 1;
    }
    return any;
}

/* ns left of the limit on <cat> (or all), 0 when none. */
static int64_t sentry_limited(const struct out_sentry_worker *wk, int cat,
                              int64_t now)
{
    int64_t u = wk->until[cat] > wk->until[SC_ALL] ? wk->until[cat]
                                                   : wk->until[SC_ALL];

    return u > now ? u - now : 0;
}

/* ---- flush callbacks ---- */

static int sentry_begin(struct sl_http_flush *f, struct sl_http_request *req,
                        void *arg)
{
    struct out_sentry_worker *wk = arg;
    int rc;

    (void)f;
    rc = sl_http_request_set_target(req, "POST", wk->se->target);
    if (rc == SL_OK) {
        rc = sl_http_request_add_header(
            req, "Content-Type: application/x-sentry-envelope");
    }
    if (rc == SL_OK) {
        rc = sl_http_request_add_header(req, wk->se->auth);
    }
    if (rc == SL_OK) {
        rc = sl_http_request_add_header(req, "User-Agent: sluice/" VERSION);
    }
    return rc;
}

static int sentry_record(struct sl_http_flush *f, size_t i, bool first,
                         struct sl_buf *body, void *arg)
{
    struct out_sentry_worker *wk = arg;
    const struct sl_event *ev = sl_http_flush_event(f, i);
    struct sl_str tag = sl_batch_tag(sl_http_flush_batch(f));
    struct sentry_event se;
    int64_t wait;
    int rc;

    (void)first;
    rc = sentry_prepare(wk, tag, ev, &se);
    if (rc == SL_ENOTFOUND || wk->se->disabled) {
        sl_metric_add(wk->se->m_skipped, 1);
        return SL_OK; /* delivered, not sent */
    }
    if (rc != SL_OK) {
        return rc;
    }
    wait = sentry_limited(wk, se.trace.n > 0 ? SC_ERROR : SC_DEFAULT,
                          sl_time_now_ns());
    if (wait > 0) {
        sl_http_flush_fail(f, i, false, "rate limited by Sentry");
        sl_batch_retry_after(sl_http_flush_batch(f),
                             wait / 1000000 + 1);
        sl_metric_add(wk->se->m_limited, 1);
        return SL_OK;
    }
    sl_buf_reset(&wk->payload);
    rc = sentry_payload(wk, tag, ev, &se, &wk->payload);
    return rc == SL_OK ? sentry_envelope(wk, &se, &wk->payload, body) : rc;
}

static enum sl_http_class sentry_response(struct sl_http_flush *f,
                                          size_t first, size_t last,
                                          const struct sl_http_response *resp,
                                          void *arg)
{
    struct out_sentry_worker *wk = arg;
    struct sl_str h;
    int64_t now = sl_time_now_ns(), wait;
    bool named = false;
    size_t i;

    if (sl_http_header_find(resp->headers, "X-Sentry-Rate-Limits", &h)) {
        named = sentry_rate_limits(wk->until, h, now);
    }
    if (resp->status != 429) {
        if (resp->status >= 200 && resp->status < 300) {
            sl_metric_add(wk->se->m_events, last - first);
        }
        return resp->status == 413 ? SL_HTTP_PERMANENT
                                   : sl_http_classify(resp->status);
    }
    if (!named) {
        int64_t ms = resp->retry_after_ms >= 0 ? resp->retry_after_ms
                                               : 60 * 1000;

        wk->until[SC_ALL] = now + ms * 1000000;
    }
    wait = sentry_limited(wk, SC_ERROR, now);
    if (sentry_limited(wk, SC_DEFAULT, now) > wait) {
        wait = sentry_limited(wk, SC_DEFAULT, now);
    }
    for (i = first; i < last; i++) {
        sl_http_flush_fail(f, i, false, "rate limited by Sentry (HTTP 429)");
    }
    sl_metric_add(wk->se->m_limited, last - first);
    sl_batch_retry_after(sl_http_flush_batch(f), wait / 1000000 + 1);
    return SL_HTTP_OK;
}

static enum sl_flush_result out_sentry_flush(struct sl_batch *b,
                                             struct sl_worker *w)
{
    static const struct sl_http_ops ops = {
        .begin = sentry_begin,
        .record = sentry_record,
        .response = sentry_response,
        .one_per_request = true,
        .all_answers = true,
        .skip_empty = true,
    };
    struct out_sentry_worker *wk = sl_worker_ctx(w);

    return sl_http_flush_run(wk->http, b, &ops, wk);
}

/* ---- workers ---- */

static void sentry_worker_fini(struct out_sentry_worker *wk)
{
    sl_arena_fini(&wk->arena);
    sl_buf_fini(&wk->scratch);
    sl_buf_fini(&wk->payload);
    EVP_MD_CTX_free(wk->md);
}

static int sentry_worker_setup(struct out_sentry_worker *wk,
                               const struct out_sentry *se,
                               struct sl_instance *ins)
{
    wk->se = se;
    wk->ins = ins;
    sl_arena_init(&wk->arena, 0, 0);
    sl_buf_init(&wk->scratch, 0);
    sl_buf_init(&wk->payload, 0);
    wk->md = EVP_MD_CTX_new();
    return wk->md != NULL ? SL_OK : SL_ENOMEM;
}

static void out_sentry_worker_exit(struct sl_instance *ins,
                                   struct sl_worker *w)
{
    struct out_sentry_worker *wk = sl_worker_ctx(w);

    (void)ins;
    if (wk == NULL) {
        return;
    }
    sl_http_client_destroy(wk->http);
    sentry_worker_fini(wk);
    sl_free(wk);
    sl_worker_set_ctx(w, NULL);
}

static int out_sentry_worker_init(struct sl_instance *ins,
                                  struct sl_worker *w, struct sl_err *err)
{
    struct out_sentry_worker *wk = sl_calloc(1, sizeof(*wk));
    const struct out_sentry *se = sl_instance_ctx(ins);

    if (wk == NULL) {
        return sl_err_set(err, SL_ENOMEM, "sentry: out of memory");
    }
    sl_worker_set_ctx(w, wk);
    if (sentry_worker_setup(wk, se, ins) != SL_OK) {
        out_sentry_worker_exit(ins, w);
        return sl_err_set(err, SL_ENOMEM, "sentry: out of memory");
    }
    wk->http = sl_http_client_create(w, &se->http, err);
    if (wk->http == NULL) {
        out_sentry_worker_exit(ins, w);
        return err->rc != SL_OK ? err->rc : SL_ENOMEM;
    }
    return SL_OK;
}

/* ---- init ---- */

static void sentry_free_secret(char *s)
{
    if (s != NULL) {
        OPENSSL_cleanse(s, strlen(s));
    }
    sl_free(s);
}

static void out_sentry_exit(struct sl_instance *ins)
{
    struct out_sentry *se = sl_instance_ctx(ins);

    if (se == NULL) {
        return;
    }
    sentry_free_secret(se->base_url);
    sentry_free_secret(se->target);
    sentry_free_secret(se->auth);
    sentry_free_secret(se->dsn_json);
    sl_free(se);
    sl_instance_set_ctx(ins, NULL);
}

/* The parts of a DSN (protocols.md 3.1), views into <dsn>. */
struct sentry_dsn {
    struct sl_str scheme, key, secret, hostport, prefix, project;
};

/* Parses scheme://key[:secret]@host[:port][/prefix]/project. */
static int sentry_dsn_parse(const char *dsn, struct sentry_dsn *d)
{
    const char *p = strstr(dsn, "://"), *at, *slash, *last, *colon;

    memset(d, 0, sizeof(*d));
    if (p == NULL) {
        return SL_EINVAL;
    }
    d->scheme = sl_str_make(dsn, (size_t)(p - dsn));
    if (!sl_str_eq_cstr(d->scheme, "http") &&
        !sl_str_eq_cstr(d->scheme, "https")) {
        return SL_EINVAL;
    }
    p += 3;
    slash = strchr(p, '/');
    at = strchr(p, '@');
    if (at == NULL || slash == NULL || at > slash) {
        return SL_EINVAL;
    }
    colon = memchr(p, ':', (size_t)(at - p));
    d->key = sl_str_make(p, (size_t)((colon ? colon : at) - p));
    if (colon != NULL) {
        d->secret = sl_str_make(colon + 1, (size_t)(at - colon - 1));
    }
    d->hostport = sl_str_make(at + 1, (size_t)(slash - at - 1));
    last = strrchr(slash, '/');
    while (last > slash && last[1] == '\0') { /* trailing slash */
        const char *q = last - 1;

        while (q > slash && *q != '/') {
            q--;
        }
        d->project = sl_str_make(q + 1, (size_t)(last - q - 1));
        d->prefix = sl_str_make(slash, (size_t)(q - slash));
        return d->key.len && d->hostport.len && d->project.len ? SL_OK
                                                               : SL_EINVAL;
    }
    d->project = sl_str_make(last + 1, strlen(last + 1));
    d->prefix = sl_str_make(slash, (size_t)(last - slash));
    return d->key.len > 0 && d->hostport.len > 0 && d->project.len > 0
               ? SL_OK
               : SL_EINVAL;
}

static int sentry_dsn_init(struct out_sentry *se, struct sl_err *err)
{
    const char *dsn = se->conf->dsn;
    struct sentry_dsn d;
    struct sl_buf b;
    int rc;

    if (sentry_dsn_parse(dsn, &d) != SL_OK) {
        return sl_err_set(err, SL_ECONFIG,
                          "sentry: dsn: expected scheme://public_key@host"
                          "[:port][/prefix]/project_id");
    }
    sl_buf_init(&b, 0);
    rc = sl_buf_printf(&b, "%.*s://%.*s%.*s", (int)d.scheme.len, d.scheme.ptr,
                       (int)d.hostport.len, d.hostport.ptr,
                       (int)d.prefix.len, d.prefix.ptr);
    se->base_url = rc == SL_OK ? sl_buf_take(&b) : NULL;
    rc = sl_buf_printf(&b, "/api/%.*s/envelope/", (int)d.project.len,
                       d.project.ptr);
    se->target = rc == SL_OK ? sl_buf_take(&b) : NULL;
    rc = sl_buf_printf(&b, "X-Sentry-Auth: Sentry sentry_version=7, "
                           "sentry_key=%.*s, sentry_client=sluice/%s",
                       (int)d.key.len, d.key.ptr, VERSION);
    if (rc == SL_OK && d.secret.len > 0) {
        rc = sl_buf_printf(&b, ", sentry_secret=%.*s", (int)d.secret.len,
                           d.secret.ptr);
    }
    se->auth = rc == SL_OK ? sl_buf_take(&b) : NULL;
    rc = sl_json_write_string(&b, dsn, strlen(dsn));
    se->dsn_json = rc == SL_OK ? sl_buf_take(&b) : NULL;
    sl_buf_fini(&b);
    if (se->base_url == NULL || se->target == NULL || se->auth == NULL ||
        se->dsn_json == NULL) {
        return sl_err_set(err, SL_ENOMEM, "sentry: out of memory");
    }
    se->http.url = se->base_url;
    return SL_OK;
}

static int out_sentry_init(struct sl_instance *ins, void *conf,
                           struct sl_err *err)
{
    const struct out_sentry_conf *c = conf;
    struct out_sentry *se = sl_calloc(1, sizeof(*se));
    int rc = SL_OK;

    if (se == NULL) {
        return sl_err_set(err, SL_ENOMEM, "sentry: out of memory");
    }
    se->conf = c;
    se->http = c->http;
    sl_instance_set_ctx(ins, se);
    se->disabled = c->dsn == NULL || c->dsn[0] == '\0';
    if (!se->disabled) {
        rc = sentry_dsn_init(se, err);
    } else {
        se->target = sl_strdup("/");
        se->auth = sl_strdup("X-Sentry-Auth: none");
        se->dsn_json = sl_strdup("\"\"");
        if (se->target == NULL || se->auth == NULL || se->dsn_json == NULL) {
            rc = sl_err_set(err, SL_ENOMEM, "sentry: out of memory");
        }
    }
    if (rc == SL_OK) {
        rc = sl_http_conf_check(&se->http, "sentry", err);
    }
    if (rc != SL_OK) {
        out_sentry_exit(ins);
        return rc;
    }
    se->m_skipped = sl_metric_counter(
        ins, "sluice_sentry_skipped_records_total",
        "Records below min_level (or with no DSN): delivered, not sent.",
        NULL, NULL);
    se->m_limited = sl_metric_counter(
        ins, "sluice_sentry_rate_limited_records_total",
        "Records held back by a Sentry rate limit (retried after it).", NULL,
        NULL);
    se->m_events = sl_metric_counter(ins, "sluice_sentry_events_total",
                                     "Events Sentry accepted.", NULL, NULL);
    return SL_OK;
}

const struct sl_plugin sl_plugin_out_sentry = {
    .abi = SL_PLUGIN_ABI,
    .kind = SL_PLUGIN_OUTPUT,
    .name = "sentry",
    .description = "Send error records to Sentry as events with parsed "
                   "stack traces.",
    .options = out_sentry_options,
    .conf_size = sizeof(struct out_sentry_conf),
    .init = out_sentry_init,
    .worker_init = out_sentry_worker_init,
    .flush = out_sentry_flush,
    .worker_exit = out_sentry_worker_exit,
    .exit = out_sentry_exit,
};
