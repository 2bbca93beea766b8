/*
 * out_splunk.c - Splunk HTTP Event Collector output (protocols.md
 * section 2).
 *
 * Event mode posts concatenated JSON envelopes to /services/collector/event
 * ("time" with milliseconds, "host", "source", "sourcetype", "index" from
 * templates, "event" the record or one key of it, "fields" from configured
 * keys), one per line.  Raw mode posts the records (or one key's text) one
 * per line to /services/collector/raw with the metadata in the query.
 * Every request carries "Authorization: Splunk <token>" and the channel.
 *
 * Answers are classified by their HEC code: 1-4, 7, 10, 11, 14, 16 are
 * configuration errors (kept, retried slowly); 5, 12, 13, 15 reject the
 * request; 6 rejects the event named by invalid-event-number, counts the
 * ones before it as delivered and retries the ones after it; 8, 9, 18-20
 * retry.  Without a code, the HTTP status decides (http.h).
 *
 * With ack on, a flush is held after its requests are answered: the ackIds
 * are polled on /services/collector/ack every ack_interval until every one
 * is true; after ack_timeout the records still unconfirmed are retried.
 * Worker state (client, ack list, poll timer) is per worker.
 */
#include <event2/event.h>
#include <inttypes.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sluice/http.h"
#include "sluice/plugin.h"
#include "sluice/banned.h"

enum splunk_endpoint { SPLUNK_EVENT, SPLUNK_RAW };

struct out_splunk_conf {
    struct sl_http_conf http;
    char *token;
    int endpoint;
    char *event_host;
    char *event_source;
    char *event_sourcetype;
    char *event_index;
    char *event_key;
    struct sl_strlist fields;
    char *channel;
    bool ack;
    int64_t ack_interval;
    int64_t ack_timeout;
};

enum splunk_meta { SM_HOST, SM_SOURCE, SM_SOURCETYPE, SM_INDEX, SM_N };

enum splunk_stat { SS_ACKED, SS_ACK_TIMEOUT, SS_REJECTED, SS_N };

struct out_splunk {
    const struct out_splunk_conf *conf;
    struct sl_http_tmpl *meta[SM_N];
    struct sl_accessor event_acc;
    bool has_event_acc;
    bool need_dom;
    char *auth;          /* "Authorization: Splunk <token>" */
    char chan_hdr[96];   /* "X-Splunk-Request-Channel: <uuid>" */
    char channel[64];
    char *ack_target;    /* "/services/collector/ack?channel=..." */
    struct sl_metric *m[SS_N];
};

/* One request answered with an ackId, waiting for its confirmation. */
struct splunk_ack {
    uint64_t id;
    size_t first, last;
    bool done;
};

struct out_splunk_worker {
    const struct out_splunk *sp;
    struct sl_instance *ins;
    struct sl_http_client *http;
    struct sl_arena arena;
    struct sl_buf scratch;
    struct sl_buf val;
    struct splunk_ack *acks;
    size_t nacks, ackcap;
    struct sl_http_flush *held;
    struct event *timer;
    int64_t deadline; /* monotonic ns */
};

static const char *const splunk_endpoints[] = { "event", "raw", NULL };
static const char *const splunk_meta_keys[SM_N] = { "host", "source",
                                                    "sourcetype", "index" };

static const struct sl_option out_splunk_options[] = {
    SL_HTTP_OPTIONS(struct out_splunk_conf, http, "8088", "1M"),
    { .name = "token", .type = SL_OPT_STR,
      .flags = SL_OPT_REQUIRED | SL_OPT_SECRET,
      SL_OPT_FIELD(struct out_splunk_conf, token),
      .desc = "HEC token, sent as Authorization: Splunk <token>." },
    { .name = "endpoint", .type = SL_OPT_ENUM, .def = "event",
      .choices = splunk_endpoints,
      SL_OPT_FIELD(struct out_splunk_conf, endpoint),
      .desc = "event (/services/collector/event, JSON envelopes) or raw "
              "(/services/collector/raw, one record per line)." },
    { .name = "event_host", .type = SL_OPT_TEMPLATE,
      SL_OPT_FIELD(struct out_splunk_conf, event_host),
      .desc = "The envelope's host ($key, ${tag} allowed). Unset or empty: "
              "the token's default." },
    { .name = "event_source", .type = SL_OPT_TEMPLATE,
      SL_OPT_FIELD(struct out_splunk_conf, event_source),
      .desc = "The envelope's source. Unset or empty: none." },
    { .name = "event_sourcetype", .type = SL_OPT_TEMPLATE,
      SL_OPT_FIELD(struct out_splunk_conf, event_sourcetype),
      .desc = "The envelope's sourcetype. Unset or empty: none." },
    { .name = "event_index", .type = SL_OPT_TEMPLATE,
      SL_OPT_FIELD(struct out_splunk_conf, event_index),
      .desc = "The envelope's index (must be allowed for the token). "
              "Unset or empty: the token's default." },
    { .name = "event_key", .type = SL_OPT_STR,
      SL_OPT_FIELD(struct out_splunk_conf, event_key),
      .desc = "Record accessor ($key or $a['b']) whose value is sent as "
              "the event instead of the whole record; records without it "
              "are sent whole." },
    { .name = "fields", .type = SL_OPT_LIST,
      SL_OPT_FIELD(struct out_splunk_conf, fields),
      .desc = "Top-level keys copied into the envelope's indexed fields "
              "(values as strings, arrays as lists of strings)." },
    { .name = "channel", .type = SL_OPT_STR,
      SL_OPT_FIELD(struct out_splunk_conf, channel),
      .desc = "X-Splunk-Request-Channel (a GUID). Unset: a random one per "
              "instance." },
    { .name = "ack", .type = SL_OPT_BOOL, .def = "off",
      SL_OPT_FIELD(struct out_splunk_conf, ack),
      .desc = "Indexer acknowledgement: a batch is delivered only once "
              "/services/collector/ack confirms every ackId." },
    { .name = "ack_interval", .type = SL_OPT_TIME, .def = "5s", .min = 10,
      .max = 600 * 1000, SL_OPT_FIELD(struct out_splunk_conf, ack_interval),
      .desc = "How often to poll for acknowledgements." },
    { .name = "ack_timeout", .type = SL_OPT_TIME, .def = "5m", .min = 10,
      .max = 24 * 3600 * 1000,
      SL_OPT_FIELD(struct out_splunk_conf, ack_timeout),
      .desc = "Records not acknowledged after this long are sent again." },
    SL_OPT_END,
};

/* ---- envelopes ---- */

/* Appends the event time as epoch seconds with milliseconds. */
static int splunk_put_time(struct sl_buf *out, int64_t ns)
{
    bool neg = ns < 0;
    uint64_t a = neg ? (uint64_t)0 - (uint64_t)ns : (uint64_t)ns;

    return sl_buf_printf(out, "\"time\":%s%" PRIu64 ".%03" PRIu64,
                         neg ? "-" : "", a / SL_NS_PER_S,
                         (a % SL_NS_PER_S) / 1000000);
}

/* Appends ,"<key>":"<rendered>" unless the rendering is empty. */
static int splunk_put_meta(struct out_splunk_worker *wk, int k,
                           struct sl_str tag, const struct sl_event *ev,
                           const struct sl_json *dom, struct sl_buf *out)
{
    int rc;

    if (wk->sp->meta[k] == NULL) {
        return SL_OK;
    }
    sl_buf_reset(&wk->val);
    rc = sl_http_tmpl_render(wk->sp->meta[k], tag, ev->ts_ns, dom,
                             &wk->scratch, &wk->val);
    if (rc != SL_OK || wk->val.len == 0) {
        return rc;
    }
    rc = sl_buf_printf(out, ",\"%s\":", splunk_meta_keys[k]);
    return rc == SL_OK ? sl_json_write_string(out, wk->val.data, wk->val.len)
                       : rc;
}

/* Appends a field value: a string, or an array of strings. */
static int splunk_put_field_value(struct out_splunk_worker *wk,
                                  const struct sl_json *v, struct sl_buf *out)
{
    struct sl_str s;
    size_t i;
    int rc = SL_OK;

    if (v->type == SL_JSON_ARRAY) {
        rc = sl_buf_putc(out, '[');
        for (i = 0; rc == SL_OK && i < v->u.arr.n; i++) {
            sl_buf_reset(&wk->scratch);
            if (!sl_json_scalar_text(v->u.arr.v[i], &wk->scratch, &s)) {
                return SL_ENOMEM;
            }
            rc = i > 0 ? sl_buf_putc(out, ',') : SL_OK;
            if (rc == SL_OK) {
                rc = sl_json_write_string(out, s.ptr, s.len);
            }
        }
        return rc == SL_OK ? sl_buf_putc(out, ']') : rc;
    }
    sl_buf_reset(&wk->scratch);
    if (!sl_json_scalar_text(v, &wk->scratch, &s)) {
        return SL_ENOMEM;
    }
    return sl_json_write_string(out, s.ptr, s.len);
}

/* Appends ,"fields":{...} with the configured keys present in <dom>. */
static int splunk_put_fields(struct out_splunk_worker *wk,
                             const struct sl_json *dom, struct sl_buf *out)
{
    const struct sl_strlist *l = &wk->sp->conf->fields;
    size_t i, n = 0;
    int rc = SL_OK;

    for (i = 0; rc == SL_OK && dom != NULL && i < l->n; i++) {
        const struct sl_json *v = sl_json_obj_get(dom, sl_str_cstr(l->v[i]));

        if (v == NULL || v->type == SL_JSON_NULL) {
            continue;
        }
        rc = sl_buf_append_str(out, n++ == 0 ? ",\"fields\":{" : ",");
        if (rc == SL_OK) {
            rc = sl_json_write_string(out, l->v[i], strlen(l->v[i]));
        }
        if (rc == SL_OK) {
            rc = sl_buf_putc(out, ':');
        }
        if (rc == SL_OK) {
            rc = splunk_put_field_value(wk, v, out);
        }
    }
    return rc == SL_OK && n > 0 ? sl_buf_putc(out, '}') : rc;
}

/* The record's DOM when something needs it (NULL otherwise or when the
 * body is not JSON). */
static const struct sl_json *splunk_dom(struct out_splunk_worker *wk,
                                        const struct sl_event *ev)
{
    struct sl_json *dom = NULL;

    if (!wk->sp->need_dom) {
        return NULL;
    }
    sl_arena_reset(&wk->arena);
    if (sl_json_parse(&wk->arena, ev->body.ptr, ev->body.len, &dom, NULL) !=
        SL_OK) {
        return NULL;
    }
    return dom;
}

/* The event_key value, or NULL. */
static const struct sl_json *splunk_event_value(struct out_splunk_worker *wk,
                                                const struct sl_json *dom)
{
    const struct sl_json *v;

    if (!wk->sp->has_event_acc || dom == NULL) {
        return NULL;
    }
    v = sl_accessor_get(&wk->sp->event_acc, dom);
    return v != NULL && v->type != SL_JSON_NULL ? v : NULL;
}

/* Appends one /event envelope (no separator). */
static int splunk_envelope(struct out_splunk_worker *wk, struct sl_str tag,
                           const struct sl_event *ev, struct sl_buf *out)
{
    const struct sl_json *dom = splunk_dom(wk, ev);
    const struct sl_json *v = splunk_event_value(wk, dom);
    int rc, k;

    rc = sl_buf_putc(out, '{');
    if (rc == SL_OK) {
        rc = splunk_put_time(out, ev->ts_ns);
    }
    for (k = 0; rc == SL_OK && k < SM_N; k++) {
        rc = splunk_put_meta(wk, k, tag, ev, dom, out);
    }
    if (rc == SL_OK) {
        rc = sl_buf_append_str(out, ",\"event\":");
    }
    if (rc == SL_OK && v != NULL) {
        rc = sl_json_serialize(v, out);
    } else if (rc == SL_OK) {
        rc = sl_buf_append_sl(out, ev->body);
    }
    if (rc == SL_OK) {
        rc = splunk_put_fields(wk, dom, out);
    }
    return rc == SL_OK ? sl_buf_putc(out, '}') : rc;
}

/* Appends one /raw line: the event_key's text or the record. */
static int splunk_raw_line(struct out_splunk_worker *wk,
                           const struct sl_event *ev, struct sl_buf *out)
{
    const struct sl_json *v = splunk_event_value(wk, splunk_dom(wk, ev));
    struct sl_str s;
    int rc;

    if (v != NULL) {
        sl_buf_reset(&wk->scratch);
        if (!sl_json_scalar_text(v, &wk->scratch, &s)) {
            return SL_ENOMEM;
        }
        rc = sl_buf_append_sl(out, s);
    } else {
        rc = sl_buf_append_sl(out, ev->body);
    }
    return rc == SL_OK ? sl_buf_putc(out, '\n') : rc;
}

/* ---- flush callbacks ---- */

/* "/services/collector/raw?channel=...&sourcetype=..." (templates are
 * rendered with the batch's tag and no record). */
static int splunk_raw_target(struct out_splunk_worker *wk, struct sl_str tag,
                             struct sl_buf *t)
{
    const struct out_splunk *sp = wk->sp;
    static const int order[] = { SM_SOURCETYPE, SM_SOURCE, SM_HOST,
                                 SM_INDEX };
    size_t i;
    int rc = sl_buf_printf(t, "/services/collector/raw?channel=%s",
                           sp->channel);

    for (i = 0; rc == SL_OK && i < 4; i++) {
        int k = order[i];

        if (sp->meta[k] == NULL) {
            continue;
        }
        sl_buf_reset(&wk->val);
        rc = sl_http_tmpl_render(sp->meta[k], tag, sl_time_now_ns(), NULL,
                                 &wk->scratch, &wk->val);
        if (rc == SL_OK && wk->val.len > 0) {
            rc = sl_buf_printf(t, "&%s=", splunk_meta_keys[k]);
            if (rc == SL_OK) {
                rc = sl_http_url_escape(t, wk->val.data, wk->val.len);
            }
        }
    }
    return rc;
}

static int splunk_begin(struct sl_http_flush *f, struct sl_http_request *req,
                        void *arg)
{
    struct out_splunk_worker *wk = arg;
    const struct out_splunk *sp = wk->sp;
    bool raw = sp->conf->endpoint == SPLUNK_RAW;
    struct sl_buf t;
    int rc;

    sl_buf_init(&t, 0);
    rc = raw ? splunk_raw_target(wk, sl_batch_tag(sl_http_flush_batch(f)), &t)
             : sl_buf_append_str(&t, "/services/collector/event");
    if (rc == SL_OK) {
        rc = sl_http_request_set_target(req, "POST", t.data);
    }
    sl_buf_fini(&t);
    if (rc == SL_OK) {
        rc = sl_http_request_add_header(
            req, raw ? "Content-Type: text/plain; charset=utf-8"
                     : "Content-Type: application/json");
    }
    if (rc == SL_OK) {
        rc = sl_http_request_add_header(req, sp->auth);
    }
    if (rc == SL_OK) {
        rc = sl_http_request_add_header(req, sp->chan_hdr);
    }
    return rc;
}

static int splunk_record(struct sl_http_flush *f, size_t i, bool first,
                         struct sl_buf *body, void *arg)
{
    struct out_splunk_worker *wk = arg;
    const struct sl_event *ev = sl_http_flush_event(f, i);
    int rc = SL_OK;

    if (wk->sp->conf->endpoint == SPLUNK_RAW) {
        return splunk_raw_line(wk, ev, body);
    }
    if (!first) {
        rc = sl_buf_putc(body, '\n');
    }
    return rc == SL_OK ? splunk_envelope(wk, sl_batch_tag(
                                                 sl_http_flush_batch(f)),
                                         ev, body)
                       : rc;
}

/* ---- answers ---- */

/* What a HEC answer says. */
struct splunk_answer {
    long code;          /* -1: none */
    int64_t ack_id;     /* -1: none */
    int64_t invalid;    /* invalid-event-number, -1: none */
};

static void splunk_parse_answer(struct out_splunk_worker *wk,
                                struct sl_str body, struct splunk_answer *a)
{
    struct sl_json *dom = NULL;
    const struct sl_json *v;
    int64_t n;

    a->code = -1;
    a->ack_id = -1;
    a->invalid = -1;
    sl_arena_reset(&wk->arena);
    if (sl_json_parse(&wk->arena, body.ptr, body.len, &dom, NULL) != SL_OK ||
        dom == NULL || dom->type != SL_JSON_OBJECT) {
        return;
    }
    v = sl_json_obj_get(dom, sl_str_cstr("code"));
    if (v != NULL && sl_json_get_i64(v, &n)) {
        a->code = (long)n;
    }
    v = sl_json_obj_get(dom, sl_str_cstr("ackId"));
    if (v != NULL && sl_json_get_i64(v, &n) && n >= 0) {
        a->ack_id = n;
    }
    v = sl_json_obj_get(dom, sl_str_cstr("invalid-event-number"));
    if (v != NULL && sl_json_get_i64(v, &n) && n >= 0) {
        a->invalid = n;
    }
}

/* The class of a HEC error code (protocols.md 2.3), or -1 when the HTTP
 * status should decide. */
static int splunk_code_class(long code)
{
    switch (code) {
    case 1: case 2: case 3: case 4: case 7: case 10: case 11: case 14:
    case 16:
        return SL_HTTP_HALT;
    case 5: case 6: case 12: case 13: case 15:
        return SL_HTTP_PERMANENT;
    case 8: case 9: case 18: case 19: case 20:
        return SL_HTTP_RETRY;
    default:
        return -1;
    }
}

static int splunk_ack_push(struct out_splunk_worker *wk, uint64_t id,
                           size_t first, size_t last)
{
    if (wk->nacks == wk->ackcap) {
        size_t cap = wk->ackcap ? wk->ackcap * 2 : 8;
        struct splunk_ack *a = sl_realloc(wk->acks, cap * sizeof(*a));

        if (a == NULL) {
            return SL_ENOMEM;
        }
        wk->acks = a;
        wk->ackcap = cap;
    }
    wk->acks[wk->nacks++] = (struct splunk_ack){ id, first, last, false };
    return SL_OK;
}

/* Code 6: the events before the bad one were accepted, the bad one is
 * rejected, the ones after it are sent again. */
static void splunk_invalid_event(struct sl_http_flush *f, size_t first,
                                 size_t last, int64_t bad, const char *msg)
{
    size_t i, b = first + (size_t)bad;

    for (i = b; i < last; i++) {
        sl_http_flush_fail(f, i, i == b, i == b ? msg
                                                : "sent after an invalid "
                                                  "event (HEC code 6)");
    }
}

static enum sl_http_class splunk_response(struct sl_http_flush *f,
                                          size_t first, size_t last,
                                          const struct sl_http_response *resp,
                                          void *arg)
{
    struct out_splunk_worker *wk = arg;
    struct splunk_answer a;
    char msg[512];
    int cls;

    splunk_parse_answer(wk, resp->body, &a);
    if (resp->status >= 200 && resp->status < 300 &&
        (a.code <= 0 || a.code == 17)) {
        if (wk->sp->conf->ack && a.ack_id >= 0 &&
            splunk_ack_push(wk, (uint64_t)a.ack_id, first, last) != SL_OK) {
            return SL_HTTP_RETRY;
        }
        return SL_HTTP_OK;
    }
    cls = splunk_code_class(a.code);
    if (cls < 0) {
        cls = sl_http_classify(resp->status);
    }
    sl_http_describe(resp, msg, sizeof(msg));
    if (a.code == 6 && a.invalid >= 0 && (size_t)a.invalid < last - first) {
        splunk_invalid_event(f, first, last, a.invalid, msg);
        sl_metric_add(wk->sp->m[SS_REJECTED], 1);
        return SL_HTTP_OK;
    }
    if (cls == SL_HTTP_PERMANENT) {
        sl_metric_add(wk->sp->m[SS_REJECTED], last - first);
    }
    if (cls == SL_HTTP_HALT && resp->status < 300) {
        cls = SL_HTTP_RETRY; /* odd 2xx with an error code */
    }
    return (enum sl_http_class)cls;
}

/* ---- indexer acknowledgement ---- */

static void splunk_ack_arm(struct out_splunk_worker *wk)
{
    int64_t ms = wk->sp->conf->ack_interval;
    struct timeval tv = { .tv_sec = (time_t)(ms / 1000),
                          .tv_usec = (suseconds_t)(ms % 1000) * 1000 };

    evtimer_add(wk->timer, &tv);
}

/* Ends a held flush: unconfirmed requests are retried. */
static void splunk_ack_finish(struct out_splunk_worker *wk, const char *why)
{
    struct sl_http_flush *f = wk->held;
    size_t i, j, late = 0;

    for (i = 0; i < wk->nacks; i++) {
        const struct splunk_ack *a = &wk->acks[i];

        if (a->done) {
            sl_metric_add(wk->sp->m[SS_ACKED], a->last - a->first);
            continue;
        }
        for (j = a->first; j < a->last; j++) {
            sl_http_flush_fail(f, j, false, why);
        }
        late += a->last - a->first;
    }
    if (late > 0) {
        sl_log_warn(wk->ins, "%zu records not acknowledged: %s", late, why);
        sl_metric_add(wk->sp->m[SS_ACK_TIMEOUT], late);
    }
    wk->nacks = 0;
    wk->held = NULL;
    sl_http_flush_finish(f);
}

/* Reads {"acks":{"0":true,...}}. */
static void splunk_ack_apply(struct out_splunk_worker *wk, struct sl_str body)
{
    struct sl_json *dom = NULL;
    const struct sl_json *acks;
    size_t i;

    sl_arena_reset(&wk->arena);
    if (sl_json_parse(&wk->arena, body.ptr, body.len, &dom, NULL) != SL_OK ||
        dom == NULL || dom->type != SL_JSON_OBJECT) {
        return;
    }
    acks = sl_json_obj_get(dom, sl_str_cstr("acks"));
    if (acks == NULL || acks->type != SL_JSON_OBJECT) {
        return;
    }
    for (i = 0; i < wk->nacks; i++) {
        char key[24];
        const struct sl_json *v;

        snprintf(key, sizeof(key), "%" PRIu64, wk->acks[i].id);
        v = sl_json_obj_get(acks, sl_str_cstr(key));
        if (v != NULL && v->type == SL_JSON_BOOL && v->u.b) {
            wk->acks[i].done = true;
        }
    }
}

static bool splunk_ack_all_done(const struct out_splunk_worker *wk)
{
    size_t i;

    for (i = 0; i < wk->nacks; i++) {
        if (!wk->acks[i].done) {
            return false;
        }
    }
    return true;
}

/* Next poll, or the end of the wait. */
static void splunk_ack_next(struct out_splunk_worker *wk)
{
    if (splunk_ack_all_done(wk)) {
        splunk_ack_finish(wk, "");
    } else if (sl_time_mono_ns() >= wk->deadline) {
        splunk_ack_finish(wk, "no acknowledgement within ack_timeout");
    } else {
        splunk_ack_arm(wk);
    }
}

static void splunk_ack_done(struct sl_http_request *req,
                            const struct sl_http_response *resp, void *arg)
{
    struct out_splunk_worker *wk = arg;
    struct splunk_answer a;
    char msg[512];

    (void)req;
    if (wk->held == NULL) {
        return;
    }
    if (resp->status == 200) {
        splunk_ack_apply(wk, resp->body);
        splunk_ack_next(wk);
        return;
    }
    sl_http_describe(resp, msg, sizeof(msg));
    splunk_parse_answer(wk, resp->body, &a);
    if (splunk_code_class(a.code) == SL_HTTP_HALT) {
        sl_log_error(wk->ins, "check the configuration: ack query: %s", msg);
        splunk_ack_finish(wk, msg);
        return;
    }
    sl_log_warn(wk->ins, "ack query failed: %s", msg);
    splunk_ack_next(wk);
}

/* Sends {"acks":[ids not yet confirmed]}. */
static int splunk_ack_send(struct out_splunk_worker *wk)
{
    struct sl_http_request *req = sl_http_request_get(wk->http);
    struct sl_buf *body;
    size_t i, n = 0;
    int rc;

    if (req == NULL) {
        return SL_EAGAIN;
    }
    rc = sl_http_request_set_target(req, "POST", wk->sp->ack_target);
    if (rc == SL_OK) {
        rc = sl_http_request_add_header(req, "Content-Type: application/json");
    }
    if (rc == SL_OK) {
        rc = sl_http_request_add_header(req, wk->sp->auth);
    }
    if (rc == SL_OK) {
        rc = sl_http_request_add_header(req, wk->sp->chan_hdr);
    }
    body = sl_http_request_body(req);
    if (rc == SL_OK) {
        rc = sl_buf_append_str(body, "{\"acks\":[");
    }
    for (i = 0; rc == SL_OK && i < wk->nacks; i++) {
        if (!wk->acks[i].done) {
            rc = sl_buf_printf(body, "%s%" PRIu64, n++ ? "," : "",
                               wk->acks[i].id);
        }
    }
    if (rc == SL_OK) {
        rc = sl_buf_append_str(body, "]}");
    }
    if (rc != SL_OK) {
        sl_http_request_put(req);
        return rc;
    }
    return sl_http_request_send(req, splunk_ack_done, wk);
}

static void splunk_ack_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    struct out_splunk_worker *wk = arg;

    (void)fd;
    (void)what;
    if (wk->held == NULL) {
        return;
    }
    if (splunk_ack_send(wk) != SL_OK) {
        splunk_ack_next(wk);
    }
}

static bool splunk_hold(struct sl_http_flush *f, void *arg)
{
    struct out_splunk_worker *wk = arg;

    if (!wk->sp->conf->ack || wk->nacks == 0) {
        wk->nacks = 0;
        return false;
    }
    wk->held = f;
    wk->deadline = sl_time_mono_ns() +
                   wk->sp->conf->ack_timeout * (SL_NS_PER_S / 1000);
    splunk_ack_arm(wk);
    return true;
}

static enum sl_flush_result out_splunk_flush(struct sl_batch *b,
                                             struct sl_worker *w)
{
    static const struct sl_http_ops ops = {
        .begin = splunk_begin,
        .record = splunk_record,
        .response = splunk_response,
        .all_answers = true,
        .hold = splunk_hold,
    };
    struct out_splunk_worker *wk = sl_worker_ctx(w);

    wk->nacks = 0;
    wk->held = NULL;
    return sl_http_flush_run(wk->http, b, &ops, wk);
}

/* ---- workers ---- */

static void splunk_worker_fini(struct out_splunk_worker *wk)
{
    sl_arena_fini(&wk->arena);
    sl_buf_fini(&wk->scratch);
    sl_buf_fini(&wk->val);
    sl_free(wk->acks);
}

static void splunk_worker_setup(struct out_splunk_worker *wk,
                                const struct out_splunk *sp,
                                struct sl_instance *ins)
{
    wk->sp = sp;
    wk->ins = ins;
    sl_arena_init(&wk->arena, 0, 0);
    sl_buf_init(&wk->scratch, 0);
    sl_buf_init(&wk->val, 0);
}

static void out_splunk_worker_exit(struct sl_instance *ins,
                                   struct sl_worker *w)
{
    struct out_splunk_worker *wk = sl_worker_ctx(w);

    (void)ins;
    if (wk == NULL) {
        return;
    }
    if (wk->timer != NULL) {
        event_free(wk->timer);
    }
    sl_http_client_destroy(wk->http);
    splunk_worker_fini(wk);
    sl_free(wk);
    sl_worker_set_ctx(w, NULL);
}

static int out_splunk_worker_init(struct sl_instance *ins,
                                  struct sl_worker *w, struct sl_err *err)
{
    struct out_splunk_worker *wk = sl_calloc(1, sizeof(*wk));

    if (wk == NULL) {
        return sl_err_set(err, SL_ENOMEM, "splunk: out of memory");
    }
    splunk_worker_setup(wk, sl_instance_ctx(ins), ins);
    sl_worker_set_ctx(w, wk);
    wk->timer = evtimer_new(sl_worker_base(w), splunk_ack_timer_cb, wk);
    if (wk->timer == NULL) {
        out_splunk_worker_exit(ins, w);
        return sl_err_set(err, SL_ENOMEM, "splunk: out of memory");
    }
    wk->http = sl_http_client_create(w, &wk->sp->conf->http, err);
    if (wk->http == NULL) {
        out_splunk_worker_exit(ins, w);
        return err->rc != SL_OK ? err->rc : SL_ENOMEM;
    }
    return SL_OK;
}

/* ---- init ---- */

static void out_splunk_exit(struct sl_instance *ins)
{
    struct out_splunk *sp = sl_instance_ctx(ins);
    int k;

    if (sp == NULL) {
        return;
    }
    for (k = 0; k < SM_N; k++) {
        sl_http_tmpl_destroy(sp->meta[k]);
    }
    if (sp->has_event_acc) {
        sl_accessor_fini(&sp->event_acc);
    }
    if (sp->auth != NULL) {
        OPENSSL_cleanse(sp->auth, strlen(sp->auth));
    }
    sl_free(sp->auth);
    sl_free(sp->ack_target);
    sl_free(sp);
    sl_instance_set_ctx(ins, NULL);
}

/* A random version 4 UUID, lower case with dashes. */
static int splunk_uuid(char out[40])
{
    unsigned char r[16];

    if (RAND_bytes(r, sizeof(r)) != 1) {
        return SL_EIO;
    }
    r[6] = (unsigned char)((r[6] & 0x0f) | 0x40);
    r[8] = (unsigned char)((r[8] & 0x3f) | 0x80);
    snprintf(out, 40,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
             "%02x%02x%02x%02x%02x%02x",
             r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9],
             r[10], r[11], r[12], r[13], r[14], r[15]);
    return SL_OK;
}

static int splunk_templates(struct out_splunk *sp, struct sl_err *err)
{
    const struct out_splunk_conf *c = sp->conf;
    const char *src[SM_N] = { c->event_host, c->event_source,
                              c->event_sourcetype, c->event_index };
    int k;

    for (k = 0; k < SM_N; k++) {
        if (src[k] == NULL) {
            continue;
        }
        sp->meta[k] = sl_http_tmpl_create(src[k], 0, err);
        if (sp->meta[k] == NULL) {
            return sl_err_set(err, SL_ECONFIG, "splunk: event_%s: %s",
                              splunk_meta_keys[k], err->msg);
        }
        sp->need_dom |= sl_http_tmpl_uses_record(sp->meta[k]);
    }
    if (c->event_key != NULL) {
        if (sl_accessor_compile(&sp->event_acc, c->event_key, err) != SL_OK) {
            return sl_err_set(err, SL_ECONFIG, "splunk: event_key: %s",
                              err->msg);
        }
        sp->has_event_acc = true;
        sp->need_dom = true;
    }
    sp->need_dom |= c->fields.n > 0;
    return SL_OK;
}

static int splunk_headers(struct out_splunk *sp, struct sl_err *err)
{
    const struct out_splunk_conf *c = sp->conf;
    struct sl_buf t;
    size_t n = strlen(c->token) + 32;
    int rc;

    if (c->channel != NULL) {
        if (strlen(c->channel) >= sizeof(sp->channel) ||
            strpbrk(c->channel, "\r\n&?# ") != NULL || !c->channel[0]) {
            return sl_err_set(err, SL_ECONFIG,
                              "splunk: channel must be a GUID");
        }
        snprintf(sp->channel, sizeof(sp->channel), "%s", c->channel);
    } else if (splunk_uuid(sp->channel) != SL_OK) {
        return sl_err_set(err, SL_EIO, "splunk: no random bytes for the "
                                       "channel");
    }
    snprintf(sp->chan_hdr, sizeof(sp->chan_hdr),
             "X-Splunk-Request-Channel: %s", sp->channel);
    if (strpbrk(c->token, "\r\n") != NULL) {
        return sl_err_set(err, SL_ECONFIG, "splunk: bad token");
    }
    sp->auth = sl_malloc(n);
    sl_buf_init(&t, 0);
    rc = sl_buf_printf(&t, "/services/collector/ack?channel=%s", sp->channel);
    sp->ack_target = rc == SL_OK ? sl_buf_take(&t) : NULL;
    sl_buf_fini(&t);
    if (sp->auth == NULL || sp->ack_target == NULL) {
        return sl_err_set(err, SL_ENOMEM, "splunk: out of memory");
    }
    snprintf(sp->auth, n, "Authorization: Splunk %s", c->token);
    return SL_OK;
}

static void splunk_metrics(struct sl_instance *ins, struct out_splunk *sp)
{
    sp->m[SS_ACKED] = sl_metric_counter(
        ins, "sluice_splunk_acked_records_total",
        "Records confirmed by indexer acknowledgement.", NULL, NULL);
    sp->m[SS_ACK_TIMEOUT] = sl_metric_counter(
        ins, "sluice_splunk_ack_timeouts_total",
        "Records sent again because no acknowledgement came in time.", NULL,
        NULL);
    sp->m[SS_REJECTED] = sl_metric_counter(
        ins, "sluice_splunk_rejected_records_total",
        "Records HEC rejected for good (codes 5, 6, 12, 13, 15, other "
        "4xx).", NULL, NULL);
}

static int out_splunk_init(struct sl_instance *ins, void *conf,
                           struct sl_err *err)
{
    const struct out_splunk_conf *c = conf;
    struct out_splunk *sp = sl_calloc(1, sizeof(*sp));
    int rc;

    if (sp == NULL) {
        return sl_err_set(err, SL_ENOMEM, "splunk: out of memory");
    }
    sp->conf = c;
    sl_instance_set_ctx(ins, sp);
    rc = sl_http_conf_check(&c->http, "splunk", err);
    if (rc == SL_OK) {
        rc = splunk_templates(sp, err);
    }
    if (rc == SL_OK) {
        rc = splunk_headers(sp, err);
    }
    if (rc != SL_OK) {
        out_splunk_exit(ins);
        return rc;
    }
    splunk_metrics(ins, sp);
    return SL_OK;
}

const struct sl_plugin sl_plugin_out_splunk = {
    .abi = SL_PLUGIN_ABI,
    .kind = SL_PLUGIN_OUTPUT,
    .name = "splunk",
    .description = "Send records to a Splunk HTTP Event Collector, with "
                   "optional indexer acknowledgement.",
    .options = out_splunk_options,
    .conf_size = sizeof(struct out_splunk_conf),
    .init = out_splunk_init,
    .worker_init = out_splunk_worker_init,
    .flush = out_splunk_flush,
    .worker_exit = out_splunk_worker_exit,
    .exit = out_splunk_exit,
};
