/*
 * template.c - compile and render record templates (sluice/template.h).
 *
 * A template is a flat array of parts: literal text (environment variables
 * are resolved into literals at compile time), the host name, the tag or
 * one of its parts, the record time, or a record accessor.  Rendering walks
 * the parts and appends to the caller's buffer; it allocates only when that
 * buffer grows.  Any thread; a compiled template is never written again.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sluice/plugin.h"
#include "sluice/template.h"
#include "sluice/banned.h"

enum tpl_kind {
    TPL_LIT,
    TPL_HOST,
    TPL_TAG,
    TPL_TAG_PART,
    TPL_TIME,
    TPL_TIME_FMT,
    TPL_ACC,
};

struct tpl_part {
    enum tpl_kind kind;
    char *text; /* literal bytes or strftime format (owned) */
    size_t len;
    long index; /* TPL_TAG_PART */
    struct sl_accessor acc;
};

struct sl_template {
    struct tpl_part *parts;
    size_t n, cap;
};

#define TPL_MAX_PARTS 4096

static void tpl_part_fini(struct tpl_part *p)
{
    sl_free(p->text);
    if (p->kind == TPL_ACC) {
        sl_accessor_fini(&p->acc);
    }
}

void sl_template_destroy(struct sl_template *t)
{
    size_t i;

    if (t == NULL) {
        return;
    }
    for (i = 0; i < t->n; i++) {
        tpl_part_fini(&t->parts[i]);
    }
    sl_free(t->parts);
    sl_free(t);
}

/* Appends a part; takes ownership of <p>'s text and accessor, also on
 * failure. */
static int tpl_push(struct sl_template *t, struct tpl_part *p)
{
    struct tpl_part *v;
    size_t cap;

    if (t->n == t->cap) {
        cap = t->cap == 0 ? 4 : t->cap * 2;
        v = cap > TPL_MAX_PARTS ? NULL : sl_realloc(t->parts, cap * sizeof(*v));
        if (v == NULL) {
            tpl_part_fini(p);
            return SL_ENOMEM;
        }
        t->parts = v;
        t->cap = cap;
    }
    t->parts[t->n++] = *p;
    return SL_OK;
}

/* Appends literal bytes, merging with a preceding literal. */
static int tpl_lit(struct sl_template *t, const char *s, size_t n)
{
    struct tpl_part p = { .kind = TPL_LIT };
    struct tpl_part *last = t->n > 0 ? &t->parts[t->n - 1] : NULL;
    char *m;

    if (n == 0) {
        return SL_OK;
    }
    if (last != NULL && last->kind == TPL_LIT) {
        m = sl_realloc(last->text, last->len + n + 1);
        if (m == NULL) {
            return SL_ENOMEM;
        }
        memcpy(m + last->len, s, n);
        last->len += n;
        m[last->len] = '\0';
        last->text = m;
        return SL_OK;
    }
    p.text = sl_strndup(s, n);
    p.len = n;
    if (p.text == NULL) {
        return SL_ENOMEM;
    }
    return tpl_push(t, &p);
}

static int tpl_acc(struct sl_template *t, const char *s, size_t n,
                   struct sl_err *err)
{
    struct tpl_part p = { .kind = TPL_ACC };
    char *text = sl_strndup(s, n);
    int rc;

    if (text == NULL) {
        return SL_ENOMEM;
    }
    rc = sl_accessor_compile(&p.acc, text, err);
    sl_free(text);
    if (rc != SL_OK) {
        return rc;
    }
    return tpl_push(t, &p);
}

/* Parses "tag[N]" (<n> bytes at <s>, after "tag["). */
static int tpl_tag_part(struct sl_template *t, const char *s, size_t n,
                        struct sl_err *err)
{
    struct tpl_part p = { .kind = TPL_TAG_PART };
    char num[24];
    char *end = NULL;

    if (n < 2 || n > sizeof(num) || s[n - 1] != ']') {
        goto bad;
    }
    memcpy(num, s, n - 1);
    num[n - 1] = '\0';
    p.index = strtol(num, &end, 10);
    if (end == num || *end != '\0' || p.index > 255 || p.index < -255) {
        goto bad;
    }
    return tpl_push(t, &p);
bad:
    return sl_err_set(err, SL_EINVAL,
                      "template: bad tag index in '${tag[%.*s}' (expected "
                      "${tag[N]} with N an integer)",
                      (int)(n > 32 ? 32 : n), s);
}

static int tpl_env(struct sl_template *t, const char *s, size_t n)
{
    char name[256];
    const char *v;

    if (n >= sizeof(name)) {
        return tpl_lit(t, "", 0);
    }
    memcpy(name, s, n);
    name[n] = '\0';
    v = getenv(name);
    return v != NULL ? tpl_lit(t, v, strlen(v)) : SL_OK;
}

static int tpl_time_fmt(struct sl_template *t, const char *s, size_t n)
{
    struct tpl_part p = { .kind = TPL_TIME_FMT };

    p.text = sl_strndup(s, n);
    p.len = n;
    if (p.text == NULL) {
        return SL_ENOMEM;
    }
    return tpl_push(t, &p);
}

/* Compiles the inside of "${...}" (<n> bytes at <s>). */
static int tpl_braced(struct sl_template *t, const char *s, size_t n,
                      struct sl_err *err)
{
    struct tpl_part p = { .kind = TPL_HOST };
    struct sl_str w = sl_str_make(s, n);

    if (sl_str_eq_cstr(w, "hostname")) {
        return tpl_push(t, &p);
    }
    if (sl_str_eq_cstr(w, "tag")) {
        p.kind = TPL_TAG;
        return tpl_push(t, &p);
    }
    if (sl_str_eq_cstr(w, "time")) {
        p.kind = TPL_TIME;
        return tpl_push(t, &p);
    }
    if (n > 4 && memcmp(s, "tag[", 4) == 0) {
        return tpl_tag_part(t, s + 4, n - 4, err);
    }
    if (n > 4 && memcmp(s, "env:", 4) == 0) {
        return tpl_env(t, s + 4, n - 4);
    }
    if (n > 5 && memcmp(s, "time:", 5) == 0) {
        return tpl_time_fmt(t, s + 5, n - 5);
    }
    if (n > 1 && s[0] == '$') {
        return tpl_acc(t, s, n, err);
    }
    return sl_err_set(err, SL_EINVAL,
                      "template: unknown reference '${%.*s}' (expected "
                      "hostname, tag, tag[N], env:VAR, time, time:FORMAT "
                      "or $accessor)",
                      (int)(n > 64 ? 64 : n), s);
}

static bool tpl_ident(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || c == '_';
}

/* Length of a bare accessor "$key[...]..." at <s> (0 when none). */
static size_t tpl_bare_len(const char *s)
{
    size_t i = 1;
    char q;

    while (tpl_ident(s[i])) {
        i++;
    }
    if (i == 1) {
        return 0;
    }
    while (s[i] == '[') {
        size_t j = i + 1;

        q = s[j];
        if (q == '\'' || q == '"') {
            j++;
            while (s[j] != '\0' && s[j] != q) {
                j++;
            }
            if (s[j] != q || s[j + 1] != ']') {
                break;
            }
            j += 2;
        } else {
            while (s[j] >= '0' && s[j] <= '9') {
                j++;
            }
            if (j == i + 1 || s[j] != ']') {
                break;
            }
            j++;
        }
        i = j;
    }
    return i;
}

/* Compiles the '$' construct at <s>; advances *<used>. */
static int tpl_dollar(struct sl_template *t, const char *s, size_t *used,
                      struct sl_err *err)
{
    const char *close;
    size_t n;

    if (s[1] == '$') {
        *used = 2;
        return tpl_lit(t, "$", 1);
    }
    if (s[1] == '{') {
        close = strchr(s + 2, '}');
        if (close == NULL) {
            return sl_err_set(err, SL_EINVAL,
                              "template: unterminated '${' in '%.64s'", s);
        }
        *used = (size_t)(close - s) + 1;
        return tpl_braced(t, s + 2, (size_t)(close - s - 2), err);
    }
    n = tpl_bare_len(s);
    if (n == 0) {
        *used = 1;
        return tpl_lit(t, "$", 1);
    }
    *used = n;
    return tpl_acc(t, s, n, err);
}

int sl_template_compile(const char *text, struct sl_template **out,
                        struct sl_err *err)
{
    struct sl_template *t = sl_calloc(1, sizeof(*t));
    const char *s = text;
    const char *d;
    size_t used = 1;
    int rc = SL_OK;

    *out = NULL;
    if (t == NULL) {
        return sl_err_set(err, SL_ENOMEM, "template: out of memory");
    }
    while (rc == SL_OK && *s != '\0') {
        d = strchr(s, '$');
        if (d == NULL) {
            rc = tpl_lit(t, s, strlen(s));
            break;
        }
        rc = tpl_lit(t, s, (size_t)(d - s));
        if (rc == SL_OK) {
            rc = tpl_dollar(t, d, &used, err);
            s = d + used;
        }
    }
    if (rc != SL_OK) {
        if (rc == SL_ENOMEM) {
            sl_err_set(err, rc, "template: out of memory");
        }
        sl_template_destroy(t);
        return rc;
    }
    *out = t;
    return SL_OK;
}

/* Appends <n> bytes, escaped for a JSON string when asked. */
static int tpl_put(struct sl_buf *out, const char *p, size_t n, bool json)
{
    size_t start;
    int rc;

    if (!json) {
        return sl_buf_append(out, p, n);
    }
    /* Write a quoted string, then drop the quotes. */
    start = out->len;
    rc = sl_json_write_string(out, p, n);
    if (rc != SL_OK) {
        return rc;
    }
    memmove(out->data + start, out->data + start + 1, out->len - start - 2);
    out->len -= 2;
    out->data[out->len] = '\0';
    return SL_OK;
}

/* Finds dot-separated part <index> of <tag>. */
static struct sl_str tpl_tag_nth(struct sl_str tag, long index)
{
    size_t parts = 1;
    size_t i;
    size_t start = 0;
    long want = index;
    long k = 0;

    for (i = 0; i < tag.len; i++) {
        parts += tag.ptr[i] == '.';
    }
    if (want < 0) {
        want += (long)parts;
    }
    if (want < 0 || want >= (long)parts) {
        return SL_STR_NULL;
    }
    for (i = 0; i <= tag.len; i++) {
        if (i == tag.len || tag.ptr[i] == '.') {
            if (k == want) {
                return sl_str_make(tag.ptr + start, i - start);
            }
            k++;
            start = i + 1;
        }
    }
    return SL_STR_NULL;
}

/* strftime with %L (milliseconds) and %N (nanoseconds) added. */
static int tpl_time_format(const char *fmt, int64_t ns, struct sl_buf *out,
                           bool json)
{
    char f[256];
    char res[512];
    size_t i = 0;
    size_t k = 0;
    struct tm tm;
    time_t secs = (time_t)(ns / SL_NS_PER_S);
    long frac = (long)(ns % SL_NS_PER_S);
    size_t n;

    if (frac < 0) {
        frac += SL_NS_PER_S;
        secs--;
    }
    while (fmt[i] != '\0' && k + 10 < sizeof(f)) {
        if (fmt[i] == '%' && (fmt[i + 1] == 'L' || fmt[i + 1] == 'N')) {
            k += (size_t)snprintf(f + k, sizeof(f) - k,
                                  fmt[i + 1] == 'L' ? "%03ld" : "%09ld",
                                  fmt[i + 1] == 'L' ? frac / 1000000 : frac);
            i += 2;
        } else {
            f[k++] = fmt[i++];
        }
    }
    f[k] = '\0';
    if (gmtime_r(&secs, &tm) == NULL) {
        return SL_OK;
    }
    /* The format is the operator's, checked at compile: strftime has no
     * failure mode beyond returning 0. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
    n = strftime(res, sizeof(res), f, &tm);
#pragma GCC diagnostic pop
    return tpl_put(out, res, n, json);
}

static int tpl_render_acc(const struct tpl_part *p,
                          const struct sl_template_input *in, bool json,
                          struct sl_buf *out)
{
    const struct sl_json *v;
    size_t start;
    size_t n;
    int rc;

    v = in->root != NULL ? sl_accessor_get(&p->acc, in->root) : NULL;
    if (v == NULL) {
        return SL_OK;
    }
    switch (v->type) {
    case SL_JSON_STRING:
        return tpl_put(out, v->u.str.ptr, v->u.str.len, json);
    case SL_JSON_NUMBER:
        return tpl_put(out, v->u.num.ptr, v->u.num.len, json);
    case SL_JSON_BOOL:
        return sl_buf_append_str(out, v->u.b ? "true" : "false");
    case SL_JSON_NULL:
        return sl_buf_append_str(out, "null");
    default:
        break;
    }
    /* Objects and arrays: serialize at the end of <out>; to escape, append
     * the escaped copy after it (room reserved first, so that the source
     * does not move) and slide it down. */
    start = out->len;
    rc = sl_json_serialize(v, out);
    if (rc != SL_OK || !json) {
        return rc;
    }
    n = out->len - start;
    rc = sl_buf_reserve(out, n * 6 + 2);
    if (rc != SL_OK) {
        return rc;
    }
    rc = tpl_put(out, out->data + start, n, true);
    if (rc != SL_OK) {
        return rc;
    }
    memmove(out->data + start, out->data + start + n, out->len - start - n);
    out->len -= n;
    out->data[out->len] = '\0';
    return SL_OK;
}

static int tpl_render_part(const struct tpl_part *p,
                           const struct sl_template_input *in, bool json,
                           struct sl_buf *out)
{
    char ts[64];
    const char *h;
    size_t n;
    struct sl_str s;

    switch (p->kind) {
    case TPL_LIT:
        return tpl_put(out, p->text, p->len, json);
    case TPL_HOST:
        h = sl_hostname();
        return tpl_put(out, h, strlen(h), json);
    case TPL_TAG:
        return tpl_put(out, in->tag.ptr, in->tag.len, json);
    case TPL_TAG_PART:
        s = tpl_tag_nth(in->tag, p->index);
        return s.ptr != NULL ? tpl_put(out, s.ptr, s.len, json) : SL_OK;
    case TPL_TIME:
        n = sl_time_format_rfc3339(in->ts_ns, 3, ts, sizeof(ts));
        return tpl_put(out, ts, n, json);
    case TPL_TIME_FMT:
        return tpl_time_format(p->text, in->ts_ns, out, json);
    case TPL_ACC:
        return tpl_render_acc(p, in, json, out);
    }
    return SL_OK;
}

int sl_template_render(const struct sl_template *t,
                       const struct sl_template_input *in, unsigned flags,
                       struct sl_buf *out)
{
    bool json = (flags & SL_TEMPLATE_JSON_ESCAPE) != 0;
    size_t i;
    int rc;

    /* Make sure data is not NULL even when nothing is rendered. */
    rc = sl_buf_reserve(out, 0);
    for (i = 0; rc == SL_OK && i < t->n; i++) {
        rc = tpl_render_part(&t->parts[i], in, json, out);
    }
    return rc;
}

const struct sl_accessor *
sl_template_single_accessor(const struct sl_template *t)
{
    if (t->n == 1 && t->parts[0].kind == TPL_ACC) {
        return &t->parts[0].acc;
    }
    return NULL;
}

bool sl_template_is_literal(const struct sl_template *t)
{
    return t->n == 0 || (t->n == 1 && t->parts[0].kind == TPL_LIT);
}
