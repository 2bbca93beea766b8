/*
 * out_influxdb.c - InfluxDB output: line protocol over the v1 (/write) or
 * v2 (/api/v2/write) API (protocols.md section 4).
 *
 * Each record becomes one line: the measurement (a template, the tag by
 * default), the tags named by tag_keys (sorted, empty ones left out), every
 * other value as a field typed from its JSON (integers "i", other numbers
 * floats, booleans, strings quoted; nested objects flattened with
 * <separator>, arrays as JSON text) and the event time in the configured
 * precision.  Escaping follows section 4.2 exactly.
 *
 * Answers: 2xx delivered; 400 "partial write" rejects only the lines the
 * error names (an unparsable line, or the points of a field type
 * conflict), the rest counts as delivered; a type conflict between points
 * of one request (nothing written) splits it in halves until the point is
 * alone; other 400 and 422 reject the
 * request; 404 (database or bucket not found), 401/403, 400 "database is
 * required" and 500 "retention policy not found" are configuration errors
 * (kept and retried slowly, as the HTTP engine halts); 413 splits; 429 and
 * 5xx retry.  Worker state lives in the per-worker context.
 */
#include <inttypes.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sluice/http.h"
#include "sluice/plugin.h"
#include "sluice/banned.h"

enum influx_api { INFLUX_V1, INFLUX_V2 };
enum influx_prec { INFLUX_NS, INFLUX_US, INFLUX_MS, INFLUX_S };
enum influx_nl { INFLUX_NL_AUTO, INFLUX_NL_KEEP, INFLUX_NL_ESCAPE,
                 INFLUX_NL_SPACE };
enum influx_auth { INFLUX_AUTH_BASIC, INFLUX_AUTH_QUERY };

#define INFLUX_STR_MAX 65535

struct out_influxdb_conf {
    struct sl_http_conf http;
    int api;
    char *database;
    char *rp;
    int precision;
    char *user;
    char *password;
    int auth_method;
    char *org;
    char *bucket;
    char *token;
    char *measurement;
    struct sl_strlist tag_keys;
    char *separator;
    int newlines;
};

/* A flattened member of a record: its name in the worker's name buffer. */
struct influx_kv {
    size_t off, len;
    const struct sl_json *v;
    int tag; /* index in the sorted tag keys, or -1 for a field */
};

struct out_influxdb {
    const struct out_influxdb_conf *conf;
    struct sl_http_tmpl *measurement;
    char *target;          /* path and query of the write request */
    char *auth;            /* "Authorization: ..." or NULL */
    const char **tags;     /* tag_keys sorted (byte order) */
    size_t ntags;
    bool escape_nl;        /* string fields: LF as the two chars \n */
    bool space_nl;         /* string fields: LF as a space */
    int64_t divisor;       /* ns per unit of precision */
    struct sl_metric *m_rejected;
};

struct out_influxdb_worker {
    const struct out_influxdb *ix;
    struct sl_instance *ins;
    struct sl_http_client *http;
    struct sl_arena arena;
    struct sl_buf names;   /* flattened names */
    struct sl_buf scratch;
    struct sl_buf line;    /* a re-rendered line (partial writes) */
    struct influx_kv *kv;
    size_t nkv, kvcap;
    uint64_t rejected;
};

static const char *const influx_apis[] = { "v1", "v2", NULL };
static const char *const influx_precs[] = { "ns", "us", "ms", "s", NULL };
static const char *const influx_nls[] = { "auto", "keep", "escape", "space",
                                          NULL };
static const char *const influx_auths[] = { "basic", "query", NULL };

static const struct sl_option out_influxdb_options[] = {
    SL_HTTP_OPTIONS(struct out_influxdb_conf, http, "8086", "1M"),
    { .name = "api", .type = SL_OPT_ENUM, .def = "v1", .choices = influx_apis,
      SL_OPT_FIELD(struct out_influxdb_conf, api),
      .desc = "Write API: v1 (POST /write, InfluxDB 1.x) or v2 (POST "
              "/api/v2/write, InfluxDB 2.x, 3.x and 1.8+)." },
    { .name = "database", .type = SL_OPT_STR, .def = "sluice",
      SL_OPT_FIELD(struct out_influxdb_conf, database),
      .desc = "Database (v1). It must exist: a missing one is a "
              "configuration error (HTTP 404)." },
    { .name = "rp", .type = SL_OPT_STR,
      SL_OPT_FIELD(struct out_influxdb_conf, rp),
      .desc = "Retention policy (v1). Unset: the database's default." },
    { .name = "precision", .type = SL_OPT_ENUM, .def = "ns",
      .choices = influx_precs,
      SL_OPT_FIELD(struct out_influxdb_conf, precision),
      .desc = "Timestamp precision sent: ns, us, ms or s." },
    { .name = "user", .type = SL_OPT_STR,
      SL_OPT_FIELD(struct out_influxdb_conf, user),
      .desc = "User name (v1, when the server has auth-enabled)." },
    { .name = "password", .type = SL_OPT_STR, .flags = SL_OPT_SECRET,
      SL_OPT_FIELD(struct out_influxdb_conf, password),
      .desc = "Password of user (v1)." },
    { .name = "auth_method", .type = SL_OPT_ENUM, .def = "basic",
      .choices = influx_auths,
      SL_OPT_FIELD(struct out_influxdb_conf, auth_method),
      .desc = "How user and password are sent (v1): basic (Authorization: "
              "Basic) or query (u= and p= query parameters)." },
    { .name = "org", .type = SL_OPT_STR,
      SL_OPT_FIELD(struct out_influxdb_conf, org),
      .desc = "Organization name or id (v2)." },
    { .name = "bucket", .type = SL_OPT_STR,
      SL_OPT_FIELD(struct out_influxdb_conf, bucket),
      .desc = "Bucket name or id (v2; database/rp with 1.8+)." },
    { .name = "token", .type = SL_OPT_STR, .flags = SL_OPT_SECRET,
      SL_OPT_FIELD(struct out_influxdb_conf, token),
      .desc = "API token (v2), sent as Authorization: Token. Empty: "
              "none (so ${INFLUX_TOKEN:-} also suits api v1)." },
    { .name = "measurement", .type = SL_OPT_TEMPLATE, .def = "${tag}",
      SL_OPT_FIELD(struct out_influxdb_conf, measurement),
      .desc = "Measurement name: $key, $a['b'] and ${key} take values "
              "from the record, ${tag} is the tag." },
    { .name = "tag_keys", .type = SL_OPT_LIST,
      SL_OPT_FIELD(struct out_influxdb_conf, tag_keys),
      .desc = "Keys written as tags (flattened names, e.g. k8s.pod); "
              "every other key is a field. Missing or empty values are "
              "left out." },
    { .name = "separator", .type = SL_OPT_STR, .def = ".",
      SL_OPT_FIELD(struct out_influxdb_conf, separator),
      .desc = "Joins the keys of nested objects into one name." },
    { .name = "newlines", .type = SL_OPT_ENUM, .def = "auto",
      .choices = influx_nls,
      SL_OPT_FIELD(struct out_influxdb_conf, newlines),
      .desc = "Line feeds in string fields: keep (InfluxDB 1.x stores "
              "them), escape (the two characters \\n, portable), space, "
              "or auto (keep with v1, escape with v2)." },
    SL_OPT_END,
};

/* ---- escaping ---- */

/* Appends a measurement (<tag_like> false: escapes comma and space) or a
 * tag key, tag value or field key (<tag_like>: also '=').  Line breaks and
 * tabs become spaces; a trailing backslash is dropped (it would escape the
 * separator after it). */
static int influx_put_name(struct sl_buf *out, const char *p, size_t n,
                           bool tag_like)
{
    size_t i;
    int rc = SL_OK;

    while (n > 0 && p[n - 1] == '\\') {
        n--;
    }
    for (i = 0; rc == SL_OK && i < n; i++) {
        char c = p[i];

        if (c == '\n' || c == '\r' || c == '\t') {
            c = ' ';
        }
        if (c == ',' || c == ' ' || (tag_like && c == '=')) {
            rc = sl_buf_putc(out, '\\');
        }
        if (rc == SL_OK) {
            rc = sl_buf_putc(out, c);
        }
    }
    return rc;
}

/* Appends a quoted string field value: '"' and '\' escaped, line feeds
 * per the newlines option, at most INFLUX_STR_MAX bytes (cut on a UTF-8
 * boundary). */
static int influx_put_string(const struct out_influxdb *ix,
                             struct sl_buf *out, const char *p, size_t n)
{
    size_t i;
    int rc;

    if (n > INFLUX_STR_MAX) {
        n = INFLUX_STR_MAX;
        while (n > 0 && ((unsigned char)p[n] & 0xC0) == 0x80) {
            n--;
        }
    }
    rc = sl_buf_putc(out, '"');
    for (i = 0; rc == SL_OK && i < n; i++) {
        char c = p[i];

        if (c == '"' || c == '\\') {
            rc = sl_buf_putc(out, '\\');
        } else if ((c == '\n' || c == '\r') && ix->escape_nl) {
            rc = sl_buf_putc(out, '\\');
            c = c == '\n' ? 'n' : 'r';
        } else if ((c == '\n' || c == '\r') && ix->space_nl) {
            c = ' ';
        }
        if (rc == SL_OK) {
            rc = sl_buf_putc(out, c);
        }
    }
    return rc == SL_OK ? sl_buf_putc(out, '"') : rc;
}

/* True when <t> is a JSON integer that fits int64. */
static bool influx_is_int(struct sl_str t)
{
    int64_t v;
    size_t i = t.len > 0 && t.ptr[0] == '-' ? 1 : 0;

    if (i >= t.len) {
        return false;
    }
    for (; i < t.len; i++) {
        if (t.ptr[i] < '0' || t.ptr[i] > '9') {
            return false;
        }
    }
    return t.len <= 20 && sl_json_get_i64(
                              &(struct sl_json){ .type = SL_JSON_NUMBER,
                                                 .u.num = t },
                              &v);
}

/* Appends one field value typed from its JSON. */
static int influx_put_value(struct out_influxdb_worker *wk,
                            const struct sl_json *v, struct sl_buf *out)
{
    int rc;

    switch (v->type) {
    case SL_JSON_BOOL:
        return sl_buf_append_str(out, v->u.b ? "true" : "false");
    case SL_JSON_NUMBER:
        rc = sl_buf_append_sl(out, v->u.num);
        if (rc == SL_OK && influx_is_int(v->u.num)) {
            rc = sl_buf_putc(out, 'i');
        }
        return rc;
    case SL_JSON_STRING:
        return influx_put_string(wk->ix, out, v->u.str.ptr, v->u.str.len);
    default: /* arrays: their JSON text */
        sl_buf_reset(&wk->scratch);
        rc = sl_json_serialize(v, &wk->scratch);
        return rc == SL_OK ? influx_put_string(wk->ix, out,
                                               wk->scratch.data,
                                               wk->scratch.len)
                           : rc;
    }
}

/* ---- flattening ---- */

static int influx_kv_push(struct out_influxdb_worker *wk, size_t off,
                          size_t len, const struct sl_json *v)
{
    if (wk->nkv == wk->kvcap) {
        size_t cap = wk->kvcap ? wk->kvcap * 2 : 32;
        struct influx_kv *kv = sl_realloc(wk->kv, cap * sizeof(*kv));

        if (kv == NULL) {
            return SL_ENOMEM;
        }
        wk->kv = kv;
        wk->kvcap = cap;
    }
    wk->kv[wk->nkv++] = (struct influx_kv){ off, len, v, -1 };
    return SL_OK;
}

/* Collects the scalars (and arrays) of <obj>, named prefix + separator +
 * key, where the prefix is names[poff, poff + plen). */
static int influx_flatten(struct out_influxdb_worker *wk,
                          const struct sl_json *obj, size_t poff, size_t plen,
                          int depth)
{
    const char *sep = wk->ix->conf->separator;
    size_t i, seplen = strlen(sep);
    int rc = SL_OK;

    for (i = 0; rc == SL_OK && i < obj->u.obj.n; i++) {
        const struct sl_json_member *m = &obj->u.obj.v[i];
        size_t off;

        if (m->val->type == SL_JSON_NULL) {
            continue;
        }
        rc = sl_buf_reserve(&wk->names, plen + seplen + m->key.len);
        if (rc != SL_OK) {
            break;
        }
        off = wk->names.len;
        if (plen > 0) {
            /* room was reserved: data does not move while copying */
            sl_buf_append(&wk->names, wk->names.data + poff, plen);
            sl_buf_append(&wk->names, sep, seplen);
        }
        sl_buf_append(&wk->names, m->key.ptr, m->key.len);
        if (m->val->type == SL_JSON_OBJECT && depth < 32) {
            rc = influx_flatten(wk, m->val, off, wk->names.len - off,
                                depth + 1);
        } else {
            rc = influx_kv_push(wk, off, wk->names.len - off, m->val);
        }
    }
    return rc;
}

static int influx_tag_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Marks the members that are tags (with their index in the sorted tag
 * keys); a tag key seen twice keeps its first value. */
static void influx_mark_tags(struct out_influxdb_worker *wk)
{
    const struct out_influxdb *ix = wk->ix;
    size_t i, t;

    for (i = 0; i < wk->nkv; i++) {
        struct influx_kv *kv = &wk->kv[i];

        for (t = 0; t < ix->ntags; t++) {
            if (strlen(ix->tags[t]) == kv->len &&
                memcmp(ix->tags[t], wk->names.data + kv->off, kv->len) ==
                    0) {
                kv->tag = (int)t;
                break;
            }
        }
    }
}

/* Appends ",key=value" for each tag, in sorted key order. */
static int influx_put_tags(struct out_influxdb_worker *wk, struct sl_buf *out)
{
    size_t t, i;
    int rc = SL_OK;

    for (t = 0; rc == SL_OK && t < wk->ix->ntags; t++) {
        for (i = 0; i < wk->nkv; i++) {
            const struct influx_kv *kv = &wk->kv[i];
            struct sl_str s;

            if (kv->tag != (int)t) {
                continue;
            }
            sl_buf_reset(&wk->scratch);
            if (!sl_json_scalar_text(kv->v, &wk->scratch, &s)) {
                return SL_ENOMEM;
            }
            while (s.len > 0 && s.ptr[s.len - 1] == '\\') {
                s.len--;
            }
            if (s.len == 0) {
                break; /* empty tag values are invalid: leave it out */
            }
            rc = sl_buf_putc(out, ',');
            if (rc == SL_OK) {
                rc = influx_put_name(out, wk->names.data + kv->off, kv->len,
                                     true);
            }
            if (rc == SL_OK) {
                rc = sl_buf_putc(out, '=');
            }
            if (rc == SL_OK) {
                rc = influx_put_name(out, s.ptr, s.len, true);
            }
            break;
        }
    }
    return rc;
}

/* Appends the field set; *nfields counts the fields written. */
static int influx_put_fields(struct out_influxdb_worker *wk,
                             struct sl_buf *out, size_t *nfields)
{
    size_t i;
    int rc = SL_OK;

    *nfields = 0;
    for (i = 0; rc == SL_OK && i < wk->nkv; i++) {
        const struct influx_kv *kv = &wk->kv[i];
        const char *name = wk->names.data + kv->off;

        if (kv->tag >= 0) {
            continue;
        }
        rc = *nfields > 0 ? sl_buf_putc(out, ',') : SL_OK;
        if (rc == SL_OK) {
            rc = influx_put_name(out, name, kv->len, true);
        }
        if (rc == SL_OK && kv->len == 4 && memcmp(name, "time", 4) == 0) {
            rc = sl_buf_putc(out, '_'); /* "time" is reserved */
        }
        if (rc == SL_OK) {
            rc = sl_buf_putc(out, '=');
        }
        if (rc == SL_OK) {
            rc = influx_put_value(wk, kv->v, out);
        }
        (*nfields)++;
    }
    return rc;
}

/* Appends the timestamp in the configured precision (floor division). */
static int influx_put_time(const struct out_influxdb *ix, int64_t ns,
                           struct sl_buf *out)
{
    int64_t t = ns / ix->divisor;

    if (ns % ix->divisor != 0 && ns < 0) {
        t--;
    }
    return sl_buf_printf(out, " %" PRId64, t);
}

/* Writes the line of one record (with its newline) to <out>.  Returns
 * SL_OK, SL_EINVAL with <why> set when the record cannot become a point,
 * or SL_ENOMEM. */
static int influx_line(struct out_influxdb_worker *wk, struct sl_str tag,
                       const struct sl_event *ev, struct sl_buf *out,
                       const char **why)
{
    struct sl_json *dom = NULL;
    size_t start = out->len, mstart, nfields = 0;
    int rc;

    *why = NULL;
    sl_arena_reset(&wk->arena);
    sl_buf_reset(&wk->names);
    wk->nkv = 0;
    if (sl_json_parse(&wk->arena, ev->body.ptr, ev->body.len, &dom, NULL) !=
            SL_OK ||
        dom == NULL || dom->type != SL_JSON_OBJECT) {
        *why = "the record is not a JSON object";
        return SL_EINVAL;
    }
    sl_buf_reset(&wk->scratch);
    sl_buf_reset(&wk->line);
    rc = sl_http_tmpl_render(wk->ix->measurement, tag, ev->ts_ns, dom,
                             &wk->scratch, &wk->line);
    mstart = out->len;
    if (rc == SL_OK) {
        rc = influx_put_name(out, wk->line.data ? wk->line.data : "",
                             wk->line.len, false);
    }
    if (rc == SL_OK && out->len == mstart) {
        *why = "the measurement is empty";
        rc = SL_EINVAL;
    }
    if (rc == SL_OK) {
        rc = influx_flatten(wk, dom, 0, 0, 0);
    }
    if (rc == SL_OK) {
        influx_mark_tags(wk);
        rc = influx_put_tags(wk, out);
    }
    if (rc == SL_OK) {
        rc = sl_buf_putc(out, ' ');
    }
    if (rc == SL_OK) {
        rc = influx_put_fields(wk, out, &nfields);
    }
    if (rc == SL_OK && nfields == 0) {
        *why = "the record has no field (every key is a tag or null)";
        rc = SL_EINVAL;
    }
    if (rc == SL_OK) {
        rc = influx_put_time(wk->ix, ev->ts_ns, out);
    }
    if (rc == SL_OK) {
        rc = sl_buf_putc(out, '\n');
    }
    if (rc != SL_OK) {
        out->len = start;
        if (out->data != NULL) {
            out->data[start] = '\0';
        }
    }
    return rc;
}

/* ---- flush callbacks ---- */

static int influx_begin(struct sl_http_flush *f, struct sl_http_request *req,
                        void *arg)
{
    struct out_influxdb_worker *wk = arg;
    int rc;

    (void)f;
    rc = sl_http_request_set_target(req, "POST", wk->ix->target);
    if (rc == SL_OK) {
        rc = sl_http_request_add_header(
            req, "Content-Type: text/plain; charset=utf-8");
    }
    if (rc == SL_OK && wk->ix->conf->api == INFLUX_V2) {
        rc = sl_http_request_add_header(req, "Accept: application/json");
    }
    if (rc == SL_OK && wk->ix->auth != NULL) {
        rc = sl_http_request_add_header(req, wk->ix->auth);
    }
    return rc;
}

static int influx_record(struct sl_http_flush *f, size_t i, bool first,
                         struct sl_buf *body, void *arg)
{
    struct out_influxdb_worker *wk = arg;
    const char *why = NULL;
    int rc;

    (void)first;
    rc = influx_line(wk, sl_batch_tag(sl_http_flush_batch(f)),
                     sl_http_flush_event(f, i), body, &why);
    if (rc == SL_EINVAL) {
        /* never sendable: reject it now, send the others */
        sl_http_flush_fail(f, i, true, why);
        wk->rejected++;
        return SL_OK;
    }
    return rc;
}

/* ---- answers ---- */

/* The error text of an answer: "error" (v1) or "message" (v2) of the JSON
 * body, unescaped into <out>; the raw body when it is not JSON. */
static void influx_error_text(struct out_influxdb_worker *wk,
                              struct sl_str body, struct sl_buf *out)
{
    struct sl_json *dom = NULL, *e = NULL;

    sl_buf_reset(out);
    sl_arena_reset(&wk->arena);
    if (sl_json_parse(&wk->arena, body.ptr, body.len, &dom, NULL) == SL_OK &&
        dom != NULL && dom->type == SL_JSON_OBJECT) {
        e = sl_json_obj_get(dom, sl_str_cstr("error"));
        if (e == NULL) {
            e = sl_json_obj_get(dom, sl_str_cstr("message"));
        }
    }
    if (e != NULL && e->type == SL_JSON_STRING) {
        sl_buf_append_sl(out, e->u.str);
    } else {
        sl_buf_append_sl(out, body);
    }
}

/* The type letter of a field value text: i, s (string), b, or f. */
static char influx_value_type(const char *v, size_t n)
{
    if (n > 0 && v[0] == '"') {
        return 's';
    }
    if (n > 0 && (v[0] == 't' || v[0] == 'T' || v[0] == 'f' || v[0] == 'F')) {
        return 'b';
    }
    return n > 0 && v[n - 1] == 'i' ? 'i' : 'f';
}

/* Scans to the next unescaped <c1> or <c2> (outside quotes when
 * <quotes>). */
static size_t influx_scan(const char *p, size_t i, size_t n, char c1, char c2,
                          bool quotes)
{
    bool inq = false;

    for (; i < n; i++) {
        if (p[i] == '\\' && i + 1 < n) {
            i++;
            continue;
        }
        if (quotes && p[i] == '"') {
            inq = !inq;
        } else if (!inq && (p[i] == c1 || p[i] == c2)) {
            break;
        }
    }
    return i;
}

/* Unescapes a line protocol name into <out>. */
static void influx_unescape(const char *p, size_t n, struct sl_buf *out)
{
    size_t i;

    sl_buf_reset(out);
    for (i = 0; i < n; i++) {
        if (p[i] == '\\' && i + 1 < n &&
            strchr(",= \"\\", p[i + 1]) != NULL) {
            i++;
        }
        sl_buf_putc(out, p[i]);
    }
}

/* True when <line> is a point of measurement <meas> with field <field>
 * of type <type> ('i', 'f', 's', 'b'). */
static bool influx_line_has(const char *line, size_t n, struct sl_str meas,
                            struct sl_str field, char type,
                            struct sl_buf *tmp)
{
    size_t mend = influx_scan(line, 0, n, ',', ' ', false);
    size_t fstart = influx_scan(line, mend, n, ' ', ' ', false) + 1;
    size_t i = fstart;

    influx_unescape(line, mend, tmp);
    if (!sl_str_eq(sl_buf_str(tmp), meas)) {
        return false;
    }
    while (i < n) {
        size_t eq = influx_scan(line, i, n, '=', '=', false);
        size_t end = influx_scan(line, eq + 1, n, ',', ' ', true);

        influx_unescape(line + i, eq - i, tmp);
        if (sl_str_eq(sl_buf_str(tmp), field) &&
            influx_value_type(line + eq + 1, end - eq - 1) == type) {
            return true;
        }
        if (end >= n || line[end] == ' ') {
            break;
        }
        i = end + 1;
    }
    return false;
}

/* Re-renders record <i> into wk->line (without its newline). */
static bool influx_rerender(struct out_influxdb_worker *wk,
                            struct sl_http_flush *f, size_t i,
                            struct sl_buf *line)
{
    const char *why;

    sl_buf_reset(line);
    if (influx_line(wk, sl_batch_tag(sl_http_flush_batch(f)),
                    sl_http_flush_event(f, i), line, &why) != SL_OK) {
        return false;
    }
    line->data[--line->len] = '\0';
    return true;
}

/* Type letter of a conflict message's "is type <t>". */
static char influx_type_word(const char *w)
{
    if (strncmp(w, "integer", 7) == 0) {
        return 'i';
    }
    if (strncmp(w, "string", 6) == 0) {
        return 's';
    }
    if (strncmp(w, "boolean", 7) == 0) {
        return 'b';
    }
    return 'f';
}

/* Copies the text between the quote after <from> and the next unescaped
 * quote <q> in <msg>. */
static bool influx_quoted(const char *from, char q, struct sl_str *out)
{
    const char *s = strchr(from, q), *e;

    if (s == NULL) {
        return false;
    }
    for (e = s + 1; *e != '\0' && *e != q; e++) {
        if (*e == '\\' && e[1] != '\0') {
            e++;
        }
    }
    if (*e != q) {
        return false;
    }
    *out = sl_str_make(s + 1, (size_t)(e - s - 1));
    return true;
}

/* Marks the records a "partial write" names; returns how many. */
static size_t influx_partial(struct out_influxdb_worker *wk,
                             struct sl_http_flush *f, size_t first,
                             size_t last, const char *msg)
{
    struct sl_buf line, tmp;
    const char *p;
    size_t i, marked = 0;

    sl_buf_init(&line, 0);
    sl_buf_init(&tmp, 0);
    for (p = strstr(msg, "unable to parse '"); p != NULL;
         p = strstr(p + 1, "unable to parse '")) {
        const char *s = p + 17, *e = strstr(s, "': ");
        struct sl_str bad;

        if (e == NULL) {
            continue;
        }
        bad = sl_str_make(s, (size_t)(e - s));
        for (i = first; i < last; i++) {
            if (influx_rerender(wk, f, i, &line) &&
                sl_str_eq(sl_buf_str(&line), bad)) {
                sl_http_flush_fail(f, i, true, msg);
                marked++;
            }
        }
    }
    p = strstr(msg, "field type conflict: input field ");
    if (p != NULL) {
        struct sl_str field, meas;
        const char *m = strstr(p, " on measurement ");
        const char *t = strstr(p, " is type ");

        if (m != NULL && t != NULL && influx_quoted(p + 33, '"', &field) &&
            influx_quoted(m + 15, '"', &meas)) {
            char type = influx_type_word(t + 9);
            char *fc = sl_strndup(field.ptr, field.len);
            char *mc = sl_strndup(meas.ptr, meas.len);

            for (i = first; fc != NULL && mc != NULL && i < last; i++) {
                if (influx_rerender(wk, f, i, &line) &&
                    influx_line_has(line.data, line.len, sl_str_cstr(mc),
                                    sl_str_cstr(fc), type, &tmp)) {
                    sl_http_flush_fail(f, i, true, msg);
                    marked++;
                }
            }
            sl_free(fc);
            sl_free(mc);
        }
    }
    sl_buf_fini(&line);
    sl_buf_fini(&tmp);
    return marked;
}

/* Rejects every record of [first, last) not already failed. */
static void influx_reject_all(struct out_influxdb_worker *wk,
                              struct sl_http_flush *f, size_t first,
                              size_t last, const char *msg)
{
    size_t i;

    for (i = first; i < last; i++) {
        sl_http_flush_fail(f, i, true, msg);
    }
    wk->rejected += last - first;
}

static enum sl_http_class influx_response(struct sl_http_flush *f,
                                          size_t first, size_t last,
                                          const struct sl_http_response *resp,
                                          void *arg)
{
    struct out_influxdb_worker *wk = arg;
    struct sl_buf text;
    char msg[640];
    enum sl_http_class cls = sl_http_classify(resp->status);

    if (cls == SL_HTTP_OK) {
        return cls;
    }
    sl_buf_init(&text, 0);
    influx_error_text(wk, resp->body, &text);
    snprintf(msg, sizeof(msg), "HTTP %ld: %.600s", resp->status,
             text.data ? text.data : "");
    if (resp->status == 404) {
        sl_log_error(wk->ins, "%s: the %s does not exist; create it "
                              "(records are kept and retried)",
                     msg, wk->ix->conf->api == INFLUX_V1 ? "database"
                                                        : "bucket or org");
    } else if ((resp->status == 400 && strstr(msg, "database is required")) ||
               (resp->status >= 500 &&
                strstr(msg, "retention policy not found"))) {
        cls = SL_HTTP_HALT;
    } else if (resp->status == 400 && strstr(msg, "partial write") != NULL) {
        size_t n = influx_partial(wk, f, first, last, msg);

        wk->rejected += n;
        if (n == 0) {
            influx_reject_all(wk, f, first, last, msg);
        }
        cls = SL_HTTP_OK; /* the unmarked lines were written */
    } else if (resp->status == 400 && last - first > 1 &&
               strstr(msg, "field type conflict") != NULL) {
        /* a conflict inside the batch: nothing was written; halves
         * isolate the point that conflicts */
        cls = SL_HTTP_SPLIT;
    } else if (cls == SL_HTTP_PERMANENT || resp->status == 422) {
        influx_reject_all(wk, f, first, last, msg);
        cls = SL_HTTP_OK;
    }
    sl_buf_fini(&text);
    if (wk->rejected > 0) {
        sl_metric_add(wk->ix->m_rejected, wk->rejected);
        wk->rejected = 0;
    }
    return cls;
}

static enum sl_flush_result out_influxdb_flush(struct sl_batch *b,
                                               struct sl_worker *w)
{
    static const struct sl_http_ops ops = {
        .begin = influx_begin,
        .record = influx_record,
        .response = influx_response,
        .all_answers = true,
    };
    struct out_influxdb_worker *wk = sl_worker_ctx(w);
    enum sl_flush_result r = sl_http_flush_run(wk->http, b, &ops, wk);

    if (wk->rejected > 0) {
        sl_metric_add(wk->ix->m_rejected, wk->rejected);
        wk->rejected = 0;
    }
    return r;
}

/* ---- workers ---- */

static void influx_worker_fini(struct out_influxdb_worker *wk)
{
    sl_arena_fini(&wk->arena);
    sl_buf_fini(&wk->names);
    sl_buf_fini(&wk->scratch);
    sl_buf_fini(&wk->line);
    sl_free(wk->kv);
}

static void influx_worker_setup(struct out_influxdb_worker *wk,
                                const struct out_influxdb *ix,
                                struct sl_instance *ins)
{
    wk->ix = ix;
    wk->ins = ins;
    sl_arena_init(&wk->arena, 0, 0);
    sl_buf_init(&wk->names, 0);
    sl_buf_init(&wk->scratch, 0);
    sl_buf_init(&wk->line, 0);
}

static void out_influxdb_worker_exit(struct sl_instance *ins,
                                     struct sl_worker *w)
{
    struct out_influxdb_worker *wk = sl_worker_ctx(w);

    (void)ins;
    if (wk == NULL) {
        return;
    }
    sl_http_client_destroy(wk->http);
    influx_worker_fini(wk);
    sl_free(wk);
    sl_worker_set_ctx(w, NULL);
}

static int out_influxdb_worker_init(struct sl_instance *ins,
                                    struct sl_worker *w, struct sl_err *err)
{
    struct out_influxdb_worker *wk = sl_calloc(1, sizeof(*wk));

    if (wk == NULL) {
        return sl_err_set(err, SL_ENOMEM, "influxdb: out of memory");
    }
    influx_worker_setup(wk, sl_instance_ctx(ins), ins);
    sl_worker_set_ctx(w, wk);
    wk->http = sl_http_client_create(w, &wk->ix->conf->http, err);
    if (wk->http == NULL) {
        out_influxdb_worker_exit(ins, w);
        return err->rc != SL_OK ? err->rc : SL_ENOMEM;
    }
    return SL_OK;
}

/* ---- init ---- */

static void out_influxdb_exit(struct sl_instance *ins)
{
    struct out_influxdb *ix = sl_instance_ctx(ins);

    if (ix == NULL) {
        return;
    }
    sl_http_tmpl_destroy(ix->measurement);
    if (ix->target != NULL) {
        OPENSSL_cleanse(ix->target, strlen(ix->target));
    }
    if (ix->auth != NULL) {
        OPENSSL_cleanse(ix->auth, strlen(ix->auth));
    }
    sl_free(ix->target);
    sl_free(ix->auth);
    sl_free(ix->tags);
    sl_free(ix);
    sl_instance_set_ctx(ins, NULL);
}

static int influx_qs(struct sl_buf *t, const char *name, const char *v)
{
    int rc = sl_buf_printf(t, "%c%s=", strchr(t->data, '?') ? '&' : '?',
                           name);

    return rc != SL_OK ? rc : sl_http_url_escape(t, v, strlen(v));
}

/* The request path and query. */
static int influx_target_init(struct out_influxdb *ix)
{
    static const char *const v1p[] = { "n", "u", "ms", "s" };
    const struct out_influxdb_conf *c = ix->conf;
    struct sl_buf t;
    int rc;

    sl_buf_init(&t, 0);
    if (c->api == INFLUX_V1) {
        rc = sl_buf_append_str(&t, "/write");
        if (rc == SL_OK) {
            rc = influx_qs(&t, "db", c->database);
        }
        if (rc == SL_OK && c->rp != NULL) {
            rc = influx_qs(&t, "rp", c->rp);
        }
        if (rc == SL_OK) {
            rc = influx_qs(&t, "precision", v1p[c->precision]);
        }
        if (rc == SL_OK && c->user != NULL &&
            c->auth_method == INFLUX_AUTH_QUERY) {
            rc = influx_qs(&t, "u", c->user);
            if (rc == SL_OK) {
                rc = influx_qs(&t, "p", c->password ? c->password : "");
            }
        }
    } else {
        rc = sl_buf_append_str(&t, "/api/v2/write");
        if (rc == SL_OK && c->org != NULL) {
            rc = influx_qs(&t, "org", c->org);
        }
        if (rc == SL_OK) {
            rc = influx_qs(&t, "bucket", c->bucket);
        }
        if (rc == SL_OK) {
            rc = influx_qs(&t, "precision", influx_precs[c->precision]);
        }
    }
    ix->target = rc == SL_OK ? sl_buf_take(&t) : NULL;
    if (t.data != NULL) {
        OPENSSL_cleanse(t.data, t.len);
    }
    sl_buf_fini(&t);
    return ix->target != NULL ? SL_OK : SL_ENOMEM;
}

/* The Authorization header: Basic (v1) or Token (v2). */
static int influx_auth_init(struct out_influxdb *ix)
{
    const struct out_influxdb_conf *c = ix->conf;
    struct sl_buf h;
    int rc = SL_OK;

    sl_buf_init(&h, 0);
    if (c->api == INFLUX_V2 && c->token != NULL && c->token[0] != '\0') {
        rc = sl_buf_printf(&h, "Authorization: Token %s", c->token);
    } else if (c->api == INFLUX_V1 && c->user != NULL &&
               c->auth_method == INFLUX_AUTH_BASIC) {
        struct sl_buf up;
        size_t n;

        sl_buf_init(&up, 0);
        rc = sl_buf_printf(&up, "%s:%s", c->user,
                           c->password ? c->password : "");
        n = up.len;
        if (rc == SL_OK) {
            rc = sl_buf_reserve(&h, 32 + 4 * (n / 3 + 1));
        }
        if (rc == SL_OK) {
            sl_buf_append_str(&h, "Authorization: Basic ");
            EVP_EncodeBlock((unsigned char *)h.data + h.len,
                            (const unsigned char *)up.data, (int)n);
            h.len += strlen(h.data + h.len);
        }
        if (up.data != NULL) {
            OPENSSL_cleanse(up.data, up.len);
        }
        sl_buf_fini(&up);
    }
    if (rc == SL_OK && h.len > 0) {
        ix->auth = sl_buf_take(&h);
        rc = ix->auth != NULL ? SL_OK : SL_ENOMEM;
    }
    sl_buf_fini(&h);
    return rc;
}

static int influx_check(struct out_influxdb *ix, struct sl_err *err)
{
    const struct out_influxdb_conf *c = ix->conf;
    int rc = sl_http_conf_check(&c->http, "influxdb", err);

    if (rc != SL_OK) {
        return rc;
    }
    if (c->api == INFLUX_V2 && (c->bucket == NULL || c->bucket[0] == 0)) {
        return sl_err_set(err, SL_ECONFIG, "influxdb: api v2 needs bucket");
    }
    if (c->api == INFLUX_V1 && (c->database == NULL || !c->database[0])) {
        return sl_err_set(err, SL_ECONFIG, "influxdb: api v1 needs database");
    }
    if (c->user != NULL && c->http.http_user != NULL) {
        return sl_err_set(err, SL_ECONFIG,
                          "influxdb: set user or http_user, not both");
    }
    if (c->token != NULL && c->token[0] != '\0' && c->api == INFLUX_V1) {
        return sl_err_set(err, SL_ECONFIG,
                          "influxdb: token needs api v2 (1.x servers "
                          "before 1.8 ignore it): use user/password");
    }
    ix->measurement = sl_http_tmpl_create(c->measurement, 0, err);
    if (ix->measurement == NULL) {
        return sl_err_set(err, SL_ECONFIG, "influxdb: measurement: %s",
                          err->msg);
    }
    return SL_OK;
}

static int influx_tags_init(struct out_influxdb *ix)
{
    const struct sl_strlist *l = &ix->conf->tag_keys;
    size_t i;

    if (l->n == 0) {
        return SL_OK;
    }
    ix->tags = sl_calloc(l->n, sizeof(*ix->tags));
    if (ix->tags == NULL) {
        return SL_ENOMEM;
    }
    for (i = 0; i < l->n; i++) {
        ix->tags[i] = l->v[i];
    }
    qsort(ix->tags, l->n, sizeof(*ix->tags), influx_tag_cmp);
    ix->ntags = l->n;
    return SL_OK;
}

static int out_influxdb_init(struct sl_instance *ins, void *conf,
                             struct sl_err *err)
{
    static const int64_t div[] = { 1, 1000, 1000000, 1000000000 };
    const struct out_influxdb_conf *c = conf;
    struct out_influxdb *ix = sl_calloc(1, sizeof(*ix));
    int rc;

    if (ix == NULL) {
        return sl_err_set(err, SL_ENOMEM, "influxdb: out of memory");
    }
    ix->conf = c;
    sl_instance_set_ctx(ins, ix);
    rc = influx_check(ix, err);
    if (rc != SL_OK) {
        goto fail;
    }
    ix->divisor = div[c->precision];
    ix->escape_nl = c->newlines == INFLUX_NL_ESCAPE ||
                    (c->newlines == INFLUX_NL_AUTO && c->api == INFLUX_V2);
    ix->space_nl = c->newlines == INFLUX_NL_SPACE;
    rc = influx_target_init(ix);
    if (rc == SL_OK) {
        rc = influx_auth_init(ix);
    }
    if (rc == SL_OK) {
        rc = influx_tags_init(ix);
    }
    if (rc != SL_OK) {
        sl_err_set(err, rc, "influxdb: out of memory");
        goto fail;
    }
    ix->m_rejected = sl_metric_counter(
        ins, "sluice_influxdb_rejected_points_total",
        "Points the server (or the encoder) rejected for good.", NULL, NULL);
    return SL_OK;
fail:
    out_influxdb_exit(ins);
    return rc;
}

const struct sl_plugin sl_plugin_out_influxdb = {
    .abi = SL_PLUGIN_ABI,
    .kind = SL_PLUGIN_OUTPUT,
    .name = "influxdb",
    .description = "Write records to InfluxDB as line protocol (v1 or v2 "
                   "write API).",
    .options = out_influxdb_options,
    .conf_size = sizeof(struct out_influxdb_conf),
    .init = out_influxdb_init,
    .worker_init = out_influxdb_worker_init,
    .flush = out_influxdb_flush,
    .worker_exit = out_influxdb_worker_exit,
    .exit = out_influxdb_exit,
};
