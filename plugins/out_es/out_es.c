/*
 * out_es.c - Elasticsearch / OpenSearch output: the _bulk API with NDJSON.
 *
 * Each record becomes an action line and a source line.  The source line
 * is the record's own bytes with the time key (and the tag key) spliced in
 * after the opening brace: nothing is re-encoded.  Bodies are built in the
 * HTTP engine's reusable per-request buffers (http.h), split to stay under
 * batch_size, sent concurrently, and 413 answers are split in halves.
 *
 * The answer is parsed item by item (yajl) unless it says "errors":false
 * near its start (fast path).  Per item: 2xx delivered; 409 on create with
 * a fixed id (id_key or generate_id) means an earlier attempt already
 * wrote it; 429 and 5xx are retried alone; other statuses are permanent
 * (dead-lettered with the item's error type and reason).  Every outcome is
 * counted in sluice_es_items_total{status=created|conflict|retry|rejected}.
 *
 * Worker state (HTTP client, scratch buffers, digest context) lives in the
 * per-worker context; the instance context is read-only after init.
 */
#include <inttypes.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <yajl/yajl_parse.h>

#include "sluice/http.h"
#include "sluice/plugin.h"
#include "sluice/banned.h"

enum es_op { ES_OP_INDEX, ES_OP_CREATE };
enum es_prec { ES_PREC_MS, ES_PREC_US, ES_PREC_NS, ES_PREC_S };

struct out_es_conf {
    struct sl_http_conf http;
    char *path;
    char *index;
    int op_type;
    bool data_stream;
    char *pipeline;
    char *id_key;
    bool generate_id;
    char *time_key;
    int time_precision;
    bool include_tag_key;
    char *tag_key;
    bool suppress_type_name;
    char *api_key;
};

enum es_stat { ES_CREATED, ES_CONFLICT, ES_RETRY, ES_REJECTED, ES_NSTAT };

struct out_es {
    const struct out_es_conf *conf;
    struct sl_http_tmpl *index;
    struct sl_accessor id_acc;
    bool has_id_acc;
    bool create;         /* op_type create (or data_stream) */
    bool ok_conflict;    /* 409 means "already there" */
    int frac_digits;
    char *target;        /* "<path>/_bulk[?pipeline=...]" */
    char *auth;          /* "Authorization: ApiKey ..." or NULL */
    struct sl_buf time_member; /* "\"@timestamp\":" or empty */
    struct sl_buf time_probe;  /* same, to look for it in a body */
    struct sl_buf tag_name;    /* "\"tag\":" or empty */
    struct sl_metric *m[ES_NSTAT];
};

struct out_es_worker {
    const struct out_es *es;
    struct sl_instance *ins;
    struct sl_http_worker hw; /* client, record DOM arena, scratch */
    struct sl_json_checker *checker;
    EVP_MD_CTX *md_ctx;
    EVP_MD *sha256;
    struct sl_buf index;      /* JSON string of the current index */
    int64_t index_sec;        /* second the cached index is for */
    bool index_valid;
    struct sl_buf tagm;       /* "\"tag\":\"<tag>\"" of the batch */
    int64_t time_sec;         /* second formatted in time_text */
    char time_text[32];       /* "YYYY-MM-DDTHH:MM:SS" */
    uint64_t stat[ES_NSTAT];
};

static const char *const es_ops[] = { "index", "create", NULL };
static const char *const es_precs[] = { "ms", "us", "ns", "s", NULL };

static const struct sl_option out_es_options[] = {
    SL_HTTP_OPTIONS(struct out_es_conf, http, "9200", "5M"),
    { .name = "path",
      .type = SL_OPT_STR,
      .def = "",
      SL_OPT_FIELD(struct out_es_conf, path),
      .desc = "Path prefix before /_bulk (e.g. behind a reverse proxy)." },
    { .name = "index",
      .type = SL_OPT_TEMPLATE,
      .def = "sluice",
      SL_OPT_FIELD(struct out_es_conf, index),
      .desc = "Index (or data stream) name. strftime conversions use the "
              "event time in UTC (logs-%Y.%m.%d); $key, $a['b'] and "
              "${key} take values from the record; ${tag} is the tag." },
    { .name = "op_type",
      .type = SL_OPT_ENUM,
      .def = "index",
      .choices = es_ops,
      SL_OPT_FIELD(struct out_es_conf, op_type),
      .desc = "Bulk action: index (create or replace) or create (fails "
              "with 409 when the id exists; required by data streams)." },
    { .name = "data_stream",
      .type = SL_OPT_BOOL,
      .def = "off",
      SL_OPT_FIELD(struct out_es_conf, data_stream),
      .desc = "The index is a data stream: implies op_type create." },
    { .name = "pipeline",
      .type = SL_OPT_STR,
      SL_OPT_FIELD(struct out_es_conf, pipeline),
      .desc = "Ingest pipeline applied to every document." },
    { .name = "id_key",
      .type = SL_OPT_STR,
      SL_OPT_FIELD(struct out_es_conf, id_key),
      .desc = "Record accessor ($key or $a['b']) whose value is the "
              "document _id." },
    { .name = "generate_id",
      .type = SL_OPT_BOOL,
      .def = "off",
      SL_OPT_FIELD(struct out_es_conf, generate_id),
      .desc = "Set _id to a hash of tag, time and body (SHA-256, 20 "
              "base64url characters), so a retried batch cannot create "
              "duplicates." },
    { .name = "time_key",
      .type = SL_OPT_STR,
      .def = "@timestamp",
      SL_OPT_FIELD(struct out_es_conf, time_key),
      .desc = "Add the event time (RFC 3339, UTC) under this key unless "
              "the record already has it. Empty: add nothing." },
    { .name = "time_precision",
      .type = SL_OPT_ENUM,
      .def = "ms",
      .choices = es_precs,
      SL_OPT_FIELD(struct out_es_conf, time_precision),
      .desc = "Fraction digits of time_key: ms (3, the precision of the "
              "date type), us (6), ns (9, for date_nanos) or s (none)." },
    { .name = "include_tag_key",
      .type = SL_OPT_BOOL,
      .def = "off",
      SL_OPT_FIELD(struct out_es_conf, include_tag_key),
      .desc = "Add the record's tag under tag_key." },
    { .name = "tag_key",
      .type = SL_OPT_STR,
      .def = "tag",
      SL_OPT_FIELD(struct out_es_conf, tag_key),
      .desc = "Key of the tag when include_tag_key is on." },
    { .name = "suppress_type_name",
      .type = SL_OPT_BOOL,
      .def = "on",
      SL_OPT_FIELD(struct out_es_conf, suppress_type_name),
      .desc = "Send no _type (ES 8, OpenSearch 2). Off: send \"_type\":"
              "\"_doc\" (ES 7)." },
    { .name = "api_key",
      .type = SL_OPT_STR,
      .flags = SL_OPT_SECRET,
      SL_OPT_FIELD(struct out_es_conf, api_key),
      .desc = "API key sent as Authorization: ApiKey: the encoded value "
              "as given by Elasticsearch, or id:key (encoded here)." },
    SL_OPT_END,
};

/* ---- source line ---- */

/* Appends the event time as a JSON string. */
static int es_put_time(struct out_es_worker *wk, int64_t ns,
                       struct sl_buf *out)
{
    int64_t sec = ns / SL_NS_PER_S, frac = ns % SL_NS_PER_S;
    int digits = wk->es->frac_digits;
    char f[16];
    int i;

    if (frac < 0) {
        frac += SL_NS_PER_S;
        sec--;
    }
    if (sec != wk->time_sec || wk->time_text[0] == '\0') {
        time_t t = (time_t)sec;
        struct tm tm;

        if (gmtime_r(&t, &tm) == NULL ||
            strftime(wk->time_text, sizeof(wk->time_text),
                     "%Y-%m-%dT%H:%M:%S", &tm) == 0) {
            return SL_EINVAL;
        }
        wk->time_sec = sec;
    }
    f[0] = '.';
    for (i = 9; i >= 1; i--) {
        f[i] = (char)('0' + frac % 10);
        frac /= 10;
    }
    if (sl_buf_putc(out, '"') != SL_OK ||
        sl_buf_append_str(out, wk->time_text) != SL_OK ||
        (digits > 0 && sl_buf_append(out, f, (size_t)digits + 1) != SL_OK)) {
        return SL_ENOMEM;
    }
    return sl_buf_append(out, "Z\"", 2);
}

/* True when the top-level key of probe "\"k\":" is in <body>. */
static bool es_body_has(struct out_es_worker *wk, struct sl_str body,
                        const struct sl_buf *probe)
{
    struct sl_json_member_loc loc;
    struct sl_str key;

    if (probe->len == 0 ||
        memmem(body.ptr, body.len, probe->data, probe->len) == NULL) {
        return false;
    }
    /* Rare: confirm that it is a top-level member. */
    sl_buf_reset(&wk->hw.scratch);
    if (sl_json_unescape(&wk->hw.scratch,
                         sl_str_make(probe->data, probe->len - 1)) !=
        SL_OK) {
        return true;
    }
    key = sl_buf_str(&wk->hw.scratch);
    if (sl_json_check_find(wk->checker, body.ptr, body.len, key, &loc,
                           NULL) > SL_JSON_CHECK_COMPACT) {
        return true;
    }
    return loc.val.ptr != NULL;
}

/* Appends the source line: the body with time and tag spliced in. */
static int es_source(struct out_es_worker *wk, const struct sl_event *ev,
                     struct sl_buf *out)
{
    const struct out_es *es = wk->es;
    struct sl_str body = ev->body;
    bool t = es_body_has(wk, body, &es->time_probe) == false &&
             es->time_member.len > 0;
    bool g = wk->tagm.len > 0 && !es_body_has(wk, body, &es->tag_name);
    int rc = SL_OK;

    if ((!t && !g) || body.len < 2 || body.ptr[0] != '{') {
        rc = sl_buf_append(out, body.ptr, body.len);
        return rc == SL_OK ? sl_buf_putc(out, '\n') : rc;
    }
    rc = sl_buf_putc(out, '{');
    if (rc == SL_OK && t) {
        rc = sl_buf_append_sl(out, sl_buf_str(&es->time_member));
        if (rc == SL_OK) {
            rc = es_put_time(wk, ev->ts_ns, out);
        }
        if (rc == SL_OK && g) {
            rc = sl_buf_putc(out, ',');
        }
    }
    if (rc == SL_OK && g) {
        rc = sl_buf_append_sl(out, sl_buf_str(&wk->tagm));
    }
    if (rc == SL_OK && body.ptr[1] != '}') {
        rc = sl_buf_putc(out, ',');
    }
    if (rc == SL_OK) {
        rc = sl_buf_append(out, body.ptr + 1, body.len - 1);
    }
    return rc == SL_OK ? sl_buf_putc(out, '\n') : rc;
}

/* ---- action line ---- */

/* Fills wk->index with the JSON string of the record's index. */
static int es_index(struct out_es_worker *wk, struct sl_str tag,
                    const struct sl_event *ev, const struct sl_json *dom)
{
    const struct out_es *es = wk->es;
    int64_t sec = ev->ts_ns / SL_NS_PER_S;
    struct sl_buf raw;
    int rc;

    if (wk->index_valid && !sl_http_tmpl_uses_record(es->index) &&
        (!sl_http_tmpl_uses_time(es->index) || sec == wk->index_sec)) {
        return SL_OK;
    }
    sl_buf_init(&raw, 0);
    rc = sl_http_tmpl_render(es->index, tag, ev->ts_ns, dom, &wk->hw.scratch,
                             &raw);
    sl_buf_reset(&wk->index);
    if (rc == SL_OK) {
        rc = sl_json_write_string(&wk->index, raw.data ? raw.data : "",
                                  raw.len);
    }
    sl_buf_fini(&raw);
    wk->index_sec = sec;
    wk->index_valid = rc == SL_OK && !sl_http_tmpl_uses_record(es->index);
    return rc;
}

static void es_b64url(const unsigned char *in, size_t n, char *out)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuv"
                              "wxyz0123456789-_";
    size_t i, o = 0;

    for (i = 0; i + 3 <= n; i += 3) {
        unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8 |
                     in[i + 2];

        out[o++] = tab[(v >> 18) & 63];
        out[o++] = tab[(v >> 12) & 63];
        out[o++] = tab[(v >> 6) & 63];
        out[o++] = tab[v & 63];
    }
    out[o] = '\0';
}

/* The deterministic id: SHA-256 of tag, NUL, time (decimal), NUL, body;
 * 15 bytes as 20 base64url characters. */
static int es_gen_id(struct out_es_worker *wk, struct sl_str tag,
                     const struct sl_event *ev, char out[32])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned mdlen = 0;
    char ts[32];
    int n = snprintf(ts, sizeof(ts), "%" PRId64, ev->ts_ns);

    if (EVP_DigestInit_ex(wk->md_ctx, wk->sha256, NULL) != 1 ||
        EVP_DigestUpdate(wk->md_ctx, tag.ptr, tag.len) != 1 ||
        EVP_DigestUpdate(wk->md_ctx, "", 1) != 1 ||
        EVP_DigestUpdate(wk->md_ctx, ts, (size_t)n + 1) != 1 ||
        EVP_DigestUpdate(wk->md_ctx, ev->body.ptr, ev->body.len) != 1 ||
        EVP_DigestFinal_ex(wk->md_ctx, md, &mdlen) != 1 || mdlen < 15) {
        return SL_EIO;
    }
    es_b64url(md, 15, out);
    return SL_OK;
}

static int es_put_id(struct out_es_worker *wk, struct sl_str tag,
                     const struct sl_event *ev, const struct sl_json *dom,
                     struct sl_buf *out)
{
    const struct sl_json *v;
    struct sl_str s;
    char id[32];
    int rc;

    if (wk->es->conf->generate_id) {
        rc = es_gen_id(wk, tag, ev, id);
        return rc == SL_OK ? sl_buf_printf(out, ",\"_id\":\"%s\"", id) : rc;
    }
    if (!wk->es->has_id_acc || dom == NULL) {
        return SL_OK;
    }
    v = sl_accessor_get(&wk->es->id_acc, dom);
    if (v == NULL || v->type == SL_JSON_NULL || v->type == SL_JSON_OBJECT ||
        v->type == SL_JSON_ARRAY) {
        return SL_OK; /* no usable id: let the server make one */
    }
    sl_buf_reset(&wk->hw.scratch);
    if (!sl_json_scalar_text(v, &wk->hw.scratch, &s)) {
        return SL_ENOMEM;
    }
    rc = sl_buf_append(out, ",\"_id\":", 7);
    return rc == SL_OK ? sl_json_write_string(out, s.ptr, s.len) : rc;
}

static int es_action(struct out_es_worker *wk, struct sl_str tag,
                     const struct sl_event *ev, struct sl_buf *out)
{
    const struct out_es *es = wk->es;
    const struct sl_json *dom = NULL;
    int rc;

    if (sl_http_tmpl_uses_record(es->index) || es->has_id_acc) {
        dom = sl_http_worker_parse(&wk->hw, ev);
    }
    rc = es_index(wk, tag, ev, dom);
    if (rc == SL_OK) {
        rc = sl_buf_append_str(out, es->create ? "{\"create\":{\"_index\":"
                                               : "{\"index\":{\"_index\":");
    }
    if (rc == SL_OK) {
        rc = sl_buf_append_sl(out, sl_buf_str(&wk->index));
    }
    if (rc == SL_OK && !es->conf->suppress_type_name) {
        rc = sl_buf_append_str(out, ",\"_type\":\"_doc\"");
    }
    if (rc == SL_OK) {
        rc = es_put_id(wk, tag, ev, dom, out);
    }
    return rc == SL_OK ? sl_buf_append(out, "}}\n", 3) : rc;
}

/* ---- flush callbacks ---- */

static int es_begin(struct sl_http_flush *f, struct sl_http_request *req,
                    void *arg)
{
    struct out_es_worker *wk = arg;
    int rc;

    (void)f;
    rc = sl_http_request_set_target(req, "POST", wk->es->target);
    if (rc == SL_OK) {
        rc = sl_http_request_add_header(
            req, "Content-Type: application/x-ndjson");
    }
    if (rc == SL_OK && wk->es->auth != NULL) {
        rc = sl_http_request_add_header(req, wk->es->auth);
    }
    return rc;
}

static int es_record(struct sl_http_flush *f, size_t i, bool first,
                     struct sl_buf *body, void *arg)
{
    struct out_es_worker *wk = arg;
    const struct sl_event *ev = sl_http_flush_event(f, i);
    int rc;

    (void)first;
    if (first) {
        size_t left = 0, j, n = sl_http_flush_count(f);

        for (j = i; j < n && left < wk->es->conf->http.batch_size; j++) {
            left += sl_http_flush_event(f, j)->body.len + 128;
        }
        sl_buf_reserve(body, left);
    }
    rc = es_action(wk, sl_batch_tag(sl_http_flush_batch(f)), ev, body);
    return rc == SL_OK ? es_source(wk, ev, body) : rc;
}

/* ---- answer ---- */

static void es_count(struct out_es_worker *wk)
{
    size_t i;

    for (i = 0; i < ES_NSTAT; i++) {
        if (wk->stat[i] > 0) {
            sl_metric_add(wk->es->m[i], wk->stat[i]);
            wk->stat[i] = 0;
        }
    }
}

#define ES_KEY_MAX 16
#define ES_DEPTH_MAX 8

/* Where item failures go: sl_http_flush_fail in the daemon. */
typedef void (*es_fail_fn)(void *arg, size_t rec, bool permanent,
                           const char *reason);

struct es_parse {
    struct out_es_worker *wk;
    es_fail_fn on_fail;
    void *fail_arg;
    size_t first, last, item;
    int depth;
    bool in_items;
    char key[ES_DEPTH_MAX][ES_KEY_MAX];
    long status;
    char type[96];
    char reason[320];
};

static void es_item(struct es_parse *p)
{
    struct out_es_worker *wk = p->wk;
    size_t rec = p->first + p->item++;
    char msg[480];

    if (rec >= p->last) {
        return;
    }
    if (p->status >= 200 && p->status < 300) {
        wk->stat[ES_CREATED]++;
        return;
    }
    if (p->status == 409 && wk->es->ok_conflict) {
        wk->stat[ES_CONFLICT]++;
        return;
    }
    snprintf(msg, sizeof(msg), "item status %ld: %s: %s", p->status,
             p->type[0] ? p->type : "error", p->reason);
    if (p->status == 429 || p->status >= 500 || p->status == 0) {
        wk->stat[ES_RETRY]++;
        p->on_fail(p->fail_arg, rec, false, msg);
    } else {
        wk->stat[ES_REJECTED]++;
        p->on_fail(p->fail_arg, rec, true, msg);
    }
}

static const char *es_key(const struct es_parse *p, int d)
{
    return d >= 0 && d < ES_DEPTH_MAX ? p->key[d] : "";
}

static int es_on_start_map(void *ctx)
{
    struct es_parse *p = ctx;

    p->depth++;
    if (p->in_items && p->depth == 3) {
        p->status = 0;
        p->type[0] = '\0';
        p->reason[0] = '\0';
    }
    if (p->depth < ES_DEPTH_MAX) {
        p->key[p->depth][0] = '\0';
    }
    return 1;
}

static int es_on_end_map(void *ctx)
{
    struct es_parse *p = ctx;

    if (p->in_items && p->depth == 3) {
        es_item(p);
    }
    p->depth--;
    return 1;
}

static int es_on_start_array(void *ctx)
{
    struct es_parse *p = ctx;

    p->depth++;
    if (p->depth == 2 && strcmp(es_key(p, 1), "items") == 0) {
        p->in_items = true;
    }
    return 1;
}

static int es_on_end_array(void *ctx)
{
    struct es_parse *p = ctx;

    if (p->depth == 2) {
        p->in_items = false;
    }
    p->depth--;
    return 1;
}

static int es_on_key(void *ctx, const unsigned char *s, size_t n)
{
    struct es_parse *p = ctx;

    if (p->depth >= 0 && p->depth < ES_DEPTH_MAX) {
        size_t m = n < ES_KEY_MAX - 1 ? n : ES_KEY_MAX - 1;

        memcpy(p->key[p->depth], s, m);
        p->key[p->depth][m] = '\0';
    }
    return 1;
}

static int es_on_number(void *ctx, const char *s, size_t n)
{
    struct es_parse *p = ctx;
    long v = 0;
    size_t i;

    if (p->in_items && p->depth == 4 &&
        strcmp(es_key(p, 4), "status") == 0) {
        for (i = 0; i < n && s[i] >= '0' && s[i] <= '9' && v < 10000; i++) {
            v = v * 10 + (s[i] - '0');
        }
        p->status = v;
    }
    return 1;
}

static int es_on_string(void *ctx, const unsigned char *s, size_t n)
{
    struct es_parse *p = ctx;
    char *dst = NULL;
    size_t cap = 0, m;

    if (!p->in_items || p->depth != 5 || strcmp(es_key(p, 4), "error")) {
        return 1;
    }
    if (strcmp(es_key(p, 5), "type") == 0) {
        dst = p->type;
        cap = sizeof(p->type);
    } else if (strcmp(es_key(p, 5), "reason") == 0) {
        dst = p->reason;
        cap = sizeof(p->reason);
    }
    if (dst != NULL) {
        m = n < cap - 1 ? n : cap - 1;
        memcpy(dst, s, m);
        dst[m] = '\0';
    }
    return 1;
}

static const yajl_callbacks es_callbacks = {
    .yajl_number = es_on_number,
    .yajl_string = es_on_string,
    .yajl_start_map = es_on_start_map,
    .yajl_map_key = es_on_key,
    .yajl_end_map = es_on_end_map,
    .yajl_start_array = es_on_start_array,
    .yajl_end_array = es_on_end_array,
};

/* True when the answer says "errors":false near its start. */
static bool es_no_errors(struct sl_str body)
{
    size_t n = body.len < 256 ? body.len : 256;

    return memmem(body.ptr, n, "\"errors\":false", 14) != NULL;
}

/* Parses a bulk answer for records [first, last) of <f>.  Returns false
 * when it is not a bulk answer. */
static bool es_parse_items(struct out_es_worker *wk, es_fail_fn on_fail,
                           void *fail_arg, size_t first, size_t last,
                           struct sl_str body)
{
    struct es_parse p;
    yajl_handle h;
    bool ok;

    memset(&p, 0, sizeof(p));
    p.wk = wk;
    p.on_fail = on_fail;
    p.fail_arg = fail_arg;
    p.first = first;
    p.last = last;
    h = yajl_alloc(&es_callbacks, NULL, &p);
    if (h == NULL) {
        return false;
    }
    yajl_config(h, yajl_dont_validate_strings, 1);
    ok = yajl_parse(h, (const unsigned char *)body.ptr, body.len) ==
             yajl_status_ok &&
         yajl_complete_parse(h) == yajl_status_ok;
    yajl_free(h);
    if (ok && p.item < last - first) {
        size_t i;

        for (i = first + p.item; i < last; i++) {
            on_fail(fail_arg, i, false, "no item for it in the answer");
        }
        wk->stat[ES_RETRY] += last - first - p.item;
    }
    return ok && p.item > 0;
}

static void es_flush_fail(void *arg, size_t rec, bool permanent,
                          const char *reason)
{
    sl_http_flush_fail(arg, rec, permanent, reason);
}

static enum sl_http_class es_response(struct sl_http_flush *f, size_t first,
                                      size_t last,
                                      const struct sl_http_response *resp,
                                      void *arg)
{
    struct out_es_worker *wk = arg;
    enum sl_http_class cls = SL_HTTP_OK;

    if (es_no_errors(resp->body)) {
        wk->stat[ES_CREATED] += last - first;
    } else if (!es_parse_items(wk, es_flush_fail, f, first, last,
                               resp->body)) {
        char msg[480];

        sl_http_describe(resp, msg, sizeof(msg));
        sl_log_warn(wk->ins, "not a bulk answer: %s", msg);
        cls = SL_HTTP_RETRY;
    }
    es_count(wk);
    return cls;
}

static const struct sl_http_ops es_http_ops = {
    .begin = es_begin,
    .record = es_record,
    .response = es_response,
};

/* Builds the batch's tag member and resets the per-batch caches. */
static int es_batch_prepare(struct out_es_worker *wk, struct sl_batch *b)
{
    const struct out_es *es = wk->es;
    struct sl_str tag = sl_batch_tag(b);
    int rc = SL_OK;

    sl_buf_reset(&wk->tagm);
    wk->index_valid = false;
    if (es->tag_name.len > 0) {
        rc = sl_buf_append_sl(&wk->tagm, sl_buf_str(&es->tag_name));
        if (rc == SL_OK) {
            rc = sl_json_write_string(&wk->tagm, tag.ptr, tag.len);
        }
    }
    return rc;
}

static enum sl_flush_result out_es_flush(struct sl_batch *b,
                                         struct sl_worker *w)
{
    struct out_es_worker *wk = sl_worker_ctx(w);

    if (es_batch_prepare(wk, b) != SL_OK) {
        sl_batch_set_error(b, "out of memory");
        return SL_FLUSH_RETRY;
    }
    return sl_http_flush_run(wk->hw.http, b, &es_http_ops, wk);
}

/* ---- workers ---- */

static void out_es_worker_exit(struct sl_instance *ins, struct sl_worker *w)
{
    struct out_es_worker *wk = sl_worker_ctx(w);

    (void)ins;
    if (wk == NULL) {
        return;
    }
    es_count(wk);
    sl_http_worker_fini(&wk->hw);
    sl_json_checker_destroy(wk->checker);
    EVP_MD_CTX_free(wk->md_ctx);
    EVP_MD_free(wk->sha256);
    sl_buf_fini(&wk->index);
    sl_buf_fini(&wk->tagm);
    sl_free(wk);
    sl_worker_set_ctx(w, NULL);
}

static int out_es_worker_init(struct sl_instance *ins, struct sl_worker *w,
                              struct sl_err *err)
{
    struct out_es_worker *wk = sl_calloc(1, sizeof(*wk));
    const struct out_es *es = sl_instance_ctx(ins);

    if (wk == NULL) {
        return sl_err_set(err, SL_ENOMEM, "es: out of memory");
    }
    wk->es = es;
    wk->ins = ins;
    sl_buf_init(&wk->index, 0);
    sl_buf_init(&wk->tagm, 0);
    sl_worker_set_ctx(w, wk);
    if (sl_http_worker_init(&wk->hw, w, &es->conf->http, err) != SL_OK) {
        out_es_worker_exit(ins, w);
        return err->rc != SL_OK ? err->rc : SL_ENOMEM;
    }
    wk->checker = sl_json_checker_create();
    wk->md_ctx = EVP_MD_CTX_new();
    wk->sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
    if (wk->checker == NULL || wk->md_ctx == NULL || wk->sha256 == NULL) {
        out_es_worker_exit(ins, w);
        return sl_err_set(err, SL_ENOMEM, "es: out of memory");
    }
    return SL_OK;
}

/* ---- init ---- */

static void out_es_exit(struct sl_instance *ins)
{
    struct out_es *es = sl_instance_ctx(ins);

    if (es == NULL) {
        return;
    }
    sl_http_tmpl_destroy(es->index);
    if (es->has_id_acc) {
        sl_accessor_fini(&es->id_acc);
    }
    sl_free(es->target);
    if (es->auth != NULL) {
        OPENSSL_cleanse(es->auth, strlen(es->auth));
    }
    sl_free(es->auth);
    sl_buf_fini(&es->time_member);
    sl_buf_fini(&es->time_probe);
    sl_buf_fini(&es->tag_name);
    sl_free(es);
    sl_instance_set_ctx(ins, NULL);
}

/* "Authorization: ApiKey <key>", base64-encoding an "id:key" form. */
static int es_auth_init(struct out_es *es)
{
    const char *key = es->conf->api_key;
    size_t n = strlen(key), cap = 64 + 4 * (n / 3 + 1);
    char *h = sl_malloc(cap);

    if (h == NULL) {
        return SL_ENOMEM;
    }
    memcpy(h, "Authorization: ApiKey ", 22);
    if (strchr(key, ':') != NULL) {
        EVP_EncodeBlock((unsigned char *)h + 22, (const unsigned char *)key,
                        (int)n);
    } else {
        memcpy(h + 22, key, n + 1);
    }
    es->auth = h;
    return SL_OK;
}

static int es_target_init(struct out_es *es)
{
    const struct out_es_conf *c = es->conf;
    struct sl_buf t;
    const char *p = c->path != NULL ? c->path : "";
    int rc;

    sl_buf_init(&t, 0);
    rc = sl_buf_printf(&t, "%s%s", p[0] == '/' || p[0] == '\0' ? "" : "/",
                       p);
    while (rc == SL_OK && t.len > 0 && t.data[t.len - 1] == '/') {
        t.data[--t.len] = '\0';
    }
    if (rc == SL_OK) {
        rc = sl_buf_append_str(&t, "/_bulk");
    }
    if (rc == SL_OK && c->pipeline != NULL) {
        rc = sl_buf_append_str(&t, "?pipeline=");
        if (rc == SL_OK) {
            rc = sl_http_url_escape(&t, c->pipeline, strlen(c->pipeline));
        }
    }
    es->target = rc == SL_OK ? sl_buf_take(&t) : NULL;
    sl_buf_fini(&t);
    return es->target != NULL ? SL_OK : SL_ENOMEM;
}

static int es_keys_init(struct out_es *es)
{
    const struct out_es_conf *c = es->conf;
    int rc = SL_OK;

    if (c->time_key != NULL && c->time_key[0] != '\0') {
        rc = sl_json_write_string(&es->time_member, c->time_key,
                                  strlen(c->time_key));
        if (rc == SL_OK) {
            rc = sl_buf_putc(&es->time_member, ':');
        }
        if (rc == SL_OK) {
            rc = sl_buf_append_sl(&es->time_probe,
                                  sl_buf_str(&es->time_member));
        }
    }
    if (rc == SL_OK && c->include_tag_key && c->tag_key != NULL &&
        c->tag_key[0] != '\0') {
        rc = sl_json_write_string(&es->tag_name, c->tag_key,
                                  strlen(c->tag_key));
        if (rc == SL_OK) {
            rc = sl_buf_putc(&es->tag_name, ':');
        }
    }
    return rc;
}

static void es_metrics_init(struct sl_instance *ins, struct out_es *es)
{
    static const char *const names[ES_NSTAT] = { "created", "conflict",
                                                 "retry", "rejected" };
    size_t i;

    for (i = 0; i < ES_NSTAT; i++) {
        es->m[i] = sl_metric_counter(ins, "sluice_es_items_total",
                                     "Bulk items by outcome: created, "
                                     "conflict (already there), retry, "
                                     "rejected.",
                                     "status", names[i]);
    }
}

static int es_check(struct out_es *es, struct sl_err *err)
{
    const struct out_es_conf *c = es->conf;
    int rc = sl_http_conf_check(&c->http, "es", err);

    if (rc != SL_OK) {
        return rc;
    }
    if (c->id_key != NULL && c->generate_id) {
        return sl_err_set(err, SL_ECONFIG,
                          "es: set id_key or generate_id, not both");
    }
    if (c->api_key != NULL && c->http.http_user != NULL) {
        return sl_err_set(err, SL_ECONFIG,
                          "es: set api_key or http_user, not both");
    }
    es->index = sl_http_tmpl_create(c->index, SL_HTTP_TMPL_STRFTIME, err);
    if (es->index == NULL) {
        return sl_err_set(err, SL_ECONFIG, "es: index: %s", err->msg);
    }
    if (c->id_key != NULL) {
        if (sl_accessor_compile(&es->id_acc, c->id_key, err) != SL_OK) {
            return sl_err_set(err, SL_ECONFIG, "es: id_key: %s", err->msg);
        }
        es->has_id_acc = true;
    }
    return SL_OK;
}

static int out_es_init(struct sl_instance *ins, void *conf,
                       struct sl_err *err)
{
    const struct out_es_conf *c = conf;
    static const int digits[] = { 3, 6, 9, 0 };
    struct out_es *es = sl_calloc(1, sizeof(*es));
    int rc;

    if (es == NULL) {
        return sl_err_set(err, SL_ENOMEM, "es: out of memory");
    }
    es->conf = c;
    sl_buf_init(&es->time_member, 0);
    sl_buf_init(&es->time_probe, 0);
    sl_buf_init(&es->tag_name, 0);
    sl_instance_set_ctx(ins, es);
    rc = es_check(es, err);
    if (rc != SL_OK) {
        goto fail;
    }
    es->create = c->data_stream || c->op_type == ES_OP_CREATE;
    es->ok_conflict = es->create && (c->id_key != NULL || c->generate_id);
    es->frac_digits = digits[c->time_precision];
    rc = es_target_init(es);
    if (rc == SL_OK && c->api_key != NULL) {
        rc = es_auth_init(es);
    }
    if (rc == SL_OK) {
        rc = es_keys_init(es);
    }
    if (rc != SL_OK) {
        sl_err_set(err, rc, "es: out of memory");
        goto fail;
    }
    es_metrics_init(ins, es);
    return SL_OK;
fail:
    out_es_exit(ins);
    return rc;
}

const struct sl_plugin sl_plugin_out_es = {
    .abi = SL_PLUGIN_ABI,
    .kind = SL_PLUGIN_OUTPUT,
    .name = "es",
    .description = "Send records to Elasticsearch or OpenSearch with the "
                   "_bulk API.",
    .options = out_es_options,
    .conf_size = sizeof(struct out_es_conf),
    .init = out_es_init,
    .worker_init = out_es_worker_init,
    .flush = out_es_flush,
    .worker_exit = out_es_worker_exit,
    .exit = out_es_exit,
};
