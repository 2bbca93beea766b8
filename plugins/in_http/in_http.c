/*
 * in_http.c - the "http" input: receives JSON records over HTTP/1.1 (and
 * HTTPS), with optional Elasticsearch-bulk and Splunk-HEC compatible
 * endpoints so that Beats, Logstash, Fluent Bit or a HEC sender can ship
 * to sluice as if it were Elasticsearch or Splunk.
 *
 * The server is libevent's evhttp: it parses requests (Content-Length and
 * chunked bodies, Expect: 100-continue, keep-alive), refuses bodies over
 * max_body_size with 413 before buffering them, and calls http_on_request
 * once a whole request is in memory.  TLS comes from evhttp_set_bevcb
 * handing evhttp a bufferevent_openssl per connection.  Connections are
 * counted through that hook too: each new bufferevent is "adopted" right
 * after evhttp made its connection object (an activated event, same loop
 * iteration), which gets a close callback; above max_connections the
 * connection is closed at once.
 *
 * Bodies (generic endpoint, POST /<tag>): one JSON object, a JSON array of
 * objects, or NDJSON (also concatenated objects), optionally gzip or
 * deflate encoded (inflated with a cap: more than max_body_size
 * decompressed is a 413, never an unbounded allocation).  Requests are
 * all-or-nothing: the body splitter (sl_http_body_split, below, exported
 * for tests and fuzzing) cuts the body into values and each is checked
 * with sl_json_check before anything is appended; any invalid value makes
 * the whole request a 400 whose JSON body says where (record index, byte
 * offset, line) and that nothing was accepted.  A 2xx means every record
 * of the body was appended and, with storage.type filesystem, committed
 * (sl_input_commit) first.
 *
 * Backpressure: while the engine has paused the input, every data request
 * is answered 503 with Retry-After: 1 (HEC: code 9; ES bulk: 429 with
 * es_rejected_execution_exception) and its body is dropped unread by the
 * pipeline.  Work per request is bounded by max_body_size.
 *
 * Threads: everything runs on the main loop.
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <zlib.h>

#include "sluice/listener.h"
#include "sluice/plugin.h"
#include "sluice/banned.h"

#define HTTP_BACKLOG      256
#define HTTP_TAG_MAX      256
#define HTTP_HEADERS_MAX  (64 * 1024)
#define HTTP_CHANNELS_MAX 1024
#define HTTP_ACKS_MAX     100000
#define HTTP_CODE_MIN     100
#define HTTP_CODE_MAX     599
#define HTTP_BUF_KEEP     (1024 * 1024)
#define HTTP_CHANNEL_MAX  128

/* ---- the body splitter (exported for tests and fuzzing) ---- */

/* Where and why a body was refused. */
struct sl_http_split_err {
    size_t offset; /* byte offset in the body */
    size_t index;  /* 0-based index of the record */
    char msg[160];
};

/* Called for each value; returns SL_OK or an error (filling e->msg). */
typedef int (*sl_http_value_fn)(void *arg, size_t index, const char *p,
                                size_t n, struct sl_http_split_err *e);

int sl_http_body_split(const char *p, size_t n, bool concat_only,
                       sl_http_value_fn fn, void *arg,
                       struct sl_http_split_err *e);
size_t sl_http_line_of(const char *p, size_t n, size_t off);
int sl_http_inflate(const char *p, size_t n, size_t max, struct sl_buf *out);
int sl_http_hec_event(struct sl_arena *a, const char *p, size_t n,
                      const struct sl_strlist *indexes, struct sl_buf *out,
                      int64_t *ts_ns);

static bool split_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static int split_fail(struct sl_http_split_err *e, size_t off, size_t index,
                      const char *msg)
{
    e->offset = off;
    e->index = index;
    snprintf(e->msg, sizeof(e->msg), "%s", msg);
    return SL_EPARSE;
}

/* Finds the end of a string starting at the quote p[i]. */
static bool split_string(const char *p, size_t n, size_t i, size_t *end)
{
    for (i++; i < n; i++) {
        if (p[i] == '\\') {
            i++;
        } else if (p[i] == '"') {
            *end = i + 1;
            return true;
        }
    }
    return false;
}

/* Finds the end of an object or array starting at p[i] (brackets are
 * only counted; the value is validated later). */
static bool split_nested(const char *p, size_t n, size_t i, size_t *end)
{
    size_t depth = 0;

    for (; i < n; i++) {
        char c = p[i];

        if (c == '"') {
            if (!split_string(p, n, i, &i)) {
                return false;
            }
            i--;
        } else if (c == '{' || c == '[') {
            depth++;
        } else if (c == '}' || c == ']') {
            if (--depth == 0) {
                *end = i + 1;
                return true;
            }
        }
    }
    return false;
}

/* One value at p[i] (i < n, not whitespace): its end in *end. */
static int split_value(const char *p, size_t n, size_t i, size_t index,
                       size_t *end, struct sl_http_split_err *e)
{
    char c = p[i];
    size_t j = i;

    if (c == '{' || c == '[') {
        if (!split_nested(p, n, i, end)) {
            return split_fail(e, i, index, "unterminated JSON value");
        }
        return SL_OK;
    }
    if (c == '"') {
        if (!split_string(p, n, i, end)) {
            return split_fail(e, i, index, "unterminated JSON string");
        }
        return SL_OK;
    }
    while (j < n && !split_ws(p[j]) && strchr(",]}[{\"", p[j]) == NULL) {
        j++;
    }
    if (j == i) {
        return split_fail(e, i, index, "expected a JSON value");
    }
    *end = j;
    return SL_OK;
}

static size_t split_skip_ws(const char *p, size_t n, size_t i)
{
    while (i < n && split_ws(p[i])) {
        i++;
    }
    return i;
}

/* Hands one value to the callback; fills the position on its error. */
static int split_emit(const char *p, size_t start, size_t end, size_t index,
                      sl_http_value_fn fn, void *arg,
                      struct sl_http_split_err *e)
{
    int rc = fn(arg, index, p + start, end - start, e);

    if (rc != SL_OK) {
        e->offset = start;
        e->index = index;
    }
    return rc;
}

/* A top-level array: elements separated by commas. */
static int split_array(const char *p, size_t n, sl_http_value_fn fn, void *arg,
                       struct sl_http_split_err *e)
{
    size_t i = split_skip_ws(p, n, 1);
    size_t index = 0;
    size_t end;
    int rc;

    if (i < n && p[i] == ']') {
        i = split_skip_ws(p, n, i + 1);
        return i < n ? split_fail(e, i, 0, "data after the array") : SL_OK;
    }
    for (;;) {
        i = split_skip_ws(p, n, i);
        if (i >= n) {
            return split_fail(e, n, index, "unterminated array");
        }
        rc = split_value(p, n, i, index, &end, e);
        if (rc == SL_OK) {
            rc = split_emit(p, i, end, index, fn, arg, e);
        }
        if (rc != SL_OK) {
            return rc;
        }
        index++;
        i = split_skip_ws(p, n, end);
        if (i < n && p[i] == ',') {
            i++;
            continue;
        }
        if (i < n && p[i] == ']') {
            break;
        }
        return split_fail(e, i, index, "expected ',' or ']' in the array");
    }
    i = split_skip_ws(p, n, i + 1);
    return i < n ? split_fail(e, i, index, "data after the array") : SL_OK;
}

/*
 * Cuts a body into JSON values and calls <fn> for each: the elements of a
 * top-level array (unless <concat_only>), else every value of a stream of
 * values separated by optional whitespace (one object, NDJSON, HEC's
 * concatenated envelopes).  Values are only delimited here; the callback
 * validates them.  Returns SL_OK, SL_EPARSE with <e> filled, or the
 * callback's error.
 */
int sl_http_body_split(const char *p, size_t n, bool concat_only,
                       sl_http_value_fn fn, void *arg,
                       struct sl_http_split_err *e)
{
    size_t i = split_skip_ws(p, n, 0);
    size_t index = 0;
    size_t end;
    int rc;

    if (!concat_only && i < n && p[i] == '[') {
        rc = split_array(p + i, n - i, fn, arg, e);
        if (rc != SL_OK) {
            e->offset += i;
        }
        return rc;
    }
    while (i < n) {
        rc = split_value(p, n, i, index, &end, e);
        if (rc == SL_OK) {
            rc = split_emit(p, i, end, index, fn, arg, e);
        }
        if (rc != SL_OK) {
            return rc;
        }
        index++;
        i = split_skip_ws(p, n, end);
    }
    return SL_OK;
}

/* 1-based line number of byte <off>. */
size_t sl_http_line_of(const char *p, size_t n, size_t off)
{
    size_t line = 1;
    size_t i;

    for (i = 0; i < off && i < n; i++) {
        line += p[i] == '\n';
    }
    return line;
}

/*
 * Inflates a gzip or zlib (deflate) body into <out> (reset first).  More
 * than <max> bytes of output is SL_ELIMIT, as soon as it is seen;
 * corrupt or truncated data is SL_EPARSE.
 */
int sl_http_inflate(const char *p, size_t n, size_t max, struct sl_buf *out)
{
    z_stream z;
    int zrc = Z_OK;
    int rc = SL_OK;

    memset(&z, 0, sizeof(z));
    sl_buf_reset(out);
    if (inflateInit2(&z, 32 + MAX_WBITS) != Z_OK) {
        return SL_ENOMEM;
    }
    z.next_in = (Bytef *)(uintptr_t)p;
    z.avail_in = (uInt)n;
    while (zrc != Z_STREAM_END) {
        size_t room = 64 * 1024;

        if (out->len >= max) {
            rc = SL_ELIMIT;
            break;
        }
        if (room > max - out->len) {
            room = max - out->len;
        }
        if (sl_buf_reserve(out, room + 1) != SL_OK) {
            rc = SL_ENOMEM;
            break;
        }
        z.next_out = (Bytef *)out->data + out->len;
        z.avail_out = (uInt)(room + 1);
        zrc = inflate(&z, Z_NO_FLUSH);
        out->len += room + 1 - z.avail_out;
        if (zrc != Z_OK && zrc != Z_STREAM_END) {
            rc = zrc == Z_MEM_ERROR ? SL_ENOMEM : SL_EPARSE;
            break;
        }
        if (out->len > max) {
            rc = SL_ELIMIT;
            break;
        }
        if (zrc == Z_OK && z.avail_in == 0 && z.avail_out != 0) {
            rc = SL_EPARSE; /* truncated stream */
            break;
        }
    }
    inflateEnd(&z);
    if (out->data != NULL) {
        out->data[out->len < out->cap ? out->len : out->cap - 1] = '\0';
    }
    return rc;
}

/* ---- HEC envelopes (exported for tests) ---- */

static bool hec_index_allowed(const struct sl_strlist *indexes,
                              struct sl_str idx)
{
    size_t i;

    if (indexes == NULL || indexes->n == 0) {
        return true;
    }
    for (i = 0; i < indexes->n; i++) {
        if (sl_str_eq_cstr(idx, indexes->v[i])) {
            return true;
        }
    }
    return false;
}

/* "time": epoch seconds as a number or a numeric string, with up to 9
 * fraction digits kept exactly (no floating point). */
static bool hec_time(const struct sl_json *t, int64_t *ts_ns)
{
    struct sl_str s;
    int64_t sec = 0;
    int64_t frac = 0;
    int64_t scale = SL_NS_PER_S;
    size_t i = 0;

    if (t->type == SL_JSON_NUMBER) {
        s = t->u.num;
    } else if (t->type == SL_JSON_STRING) {
        s = t->u.str;
    } else {
        return false;
    }
    for (; i < s.len && s.ptr[i] >= '0' && s.ptr[i] <= '9'; i++) {
        if (sec > INT64_C(100000000000)) {
            return false;
        }
        sec = sec * 10 + (s.ptr[i] - '0');
    }
    if (i == 0) {
        return false;
    }
    if (i < s.len && s.ptr[i] == '.') {
        for (i++; i < s.len && s.ptr[i] >= '0' && s.ptr[i] <= '9'; i++) {
            if (scale > 1) {
                scale /= 10;
                frac += (s.ptr[i] - '0') * scale;
            }
        }
    }
    if (i != s.len) {
        return false;
    }
    *ts_ns = sec * SL_NS_PER_S + frac;
    return true;
}

/* Indexed fields: an object of scalars or arrays of scalars. */
static bool hec_fields_ok(const struct sl_json *f)
{
    size_t i;
    size_t j;

    if (f->type != SL_JSON_OBJECT) {
        return false;
    }
    for (i = 0; i < f->u.obj.n; i++) {
        const struct sl_json *v = f->u.obj.v[i].val;

        if (v->type == SL_JSON_OBJECT) {
            return false;
        }
        if (v->type != SL_JSON_ARRAY) {
            continue;
        }
        for (j = 0; j < v->u.arr.n; j++) {
            enum sl_json_type t = v->u.arr.v[j]->type;

            if (t == SL_JSON_OBJECT || t == SL_JSON_ARRAY) {
                return false;
            }
        }
    }
    return true;
}

/* Copies metadata member <key> of <env> into <rec> unless <rec> has it. */
static int hec_copy_meta(struct sl_arena *a, const struct sl_json *env,
                         struct sl_json *rec, const char *key)
{
    struct sl_str k = sl_str_cstr(key);
    struct sl_json *v = sl_json_obj_get(env, k);

    if (v == NULL || sl_json_obj_get(rec, k) != NULL) {
        return SL_OK;
    }
    return sl_json_obj_append(a, rec, k, v);
}

/* The record of an envelope: the event's members (or {"event": value}
 * for a non-object event) plus host, source, sourcetype, index, fields. */
static int hec_build(struct sl_arena *a, const struct sl_json *env,
                     struct sl_json *ev, struct sl_buf *out)
{
    static const char *const meta[] = { "host",  "source", "sourcetype",
                                        "index", "fields", NULL };
    struct sl_json *rec = ev;
    size_t i;
    int rc = SL_OK;

    if (ev->type != SL_JSON_OBJECT) {
        rec = sl_json_new_object(a);
        if (rec == NULL ||
            sl_json_obj_append(a, rec, SL_STR_LIT("event"), ev) != SL_OK) {
            return SL_ENOMEM;
        }
    }
    for (i = 0; meta[i] != NULL && rc == SL_OK; i++) {
        rc = hec_copy_meta(a, env, rec, meta[i]);
    }
    if (rc == SL_OK) {
        rc = sl_json_serialize(rec, out);
    }
    return rc;
}

/*
 * Converts one HEC /event envelope into a record appended to <out> and
 * its event time in *ts_ns (0 when it has none).  Returns 0 or the HEC
 * error code: 6 invalid data format, 7 index not in <indexes> (when that
 * list is not empty), 12 no "event", 13 blank "event", 15 bad "fields";
 * or a negative SL_E* code (ENOMEM).
 */
int sl_http_hec_event(struct sl_arena *a, const char *p, size_t n,
                      const struct sl_strlist *indexes, struct sl_buf *out,
                      int64_t *ts_ns)
{
    struct sl_json *env = NULL;
    struct sl_json *ev;
    struct sl_json *v;
    int rc;

    *ts_ns = 0;
    rc = sl_json_parse(a, p, n, &env, NULL);
    if (rc == SL_ENOMEM) {
        return rc;
    }
    if (rc != SL_OK || env->type != SL_JSON_OBJECT) {
        return 6;
    }
    ev = sl_json_obj_get(env, SL_STR_LIT("event"));
    if (ev == NULL) {
        return 12;
    }
    if (ev->type == SL_JSON_NULL ||
        (ev->type == SL_JSON_STRING && ev->u.str.len == 0)) {
        return 13;
    }
    v = sl_json_obj_get(env, SL_STR_LIT("time"));
    if (v != NULL && !hec_time(v, ts_ns)) {
        return 6;
    }
    v = sl_json_obj_get(env, SL_STR_LIT("index"));
    if (v != NULL &&
        (v->type != SL_JSON_STRING || !hec_index_allowed(indexes, v->u.str))) {
        return 7;
    }
    v = sl_json_obj_get(env, SL_STR_LIT("fields"));
    if (v != NULL && !hec_fields_ok(v)) {
        return 15;
    }
    return hec_build(a, env, ev, out);
}

/* ---- options ---- */

enum http_ack_mode {
    HTTP_ACK_DURABLE,
    HTTP_ACK_DELIVERED,
};

static const char *const in_http_ack_modes[] = { "durable", "delivered", NULL };
static const char *const in_http_codes[] = { "200", "201", "204", NULL };
static const int in_http_code_values[] = { 200, 201, 204 };

struct in_http_conf {
    struct sl_listener_conf listener;
    bool tag_from_path;
    uint64_t max_body_size;
    char *auth_token;
    bool tls;
    struct sl_listener_tls_conf tls_srv;
    int successful_response_code;
    bool es_compat;
    char *es_version;
    char *index_key;
    bool hec_compat;
    struct sl_strlist hec_token;
    bool hec_ack;
    struct sl_strlist hec_indexes;
    int ack_mode;
};

#define C(f) SL_OPT_FIELD(struct in_http_conf, f)
static const struct sl_option in_http_options[] = {
    { .name = "listen",
      .type = SL_OPT_STR,
      .def = "127.0.0.1",
      C(listener.listen),
      .desc = "Address to listen on. The default accepts local clients "
              "only; use 0.0.0.0 or :: for every interface." },
    { .name = "port",
      .type = SL_OPT_INT,
      .def = "9880",
      .min = 0,
      .max = 65535,
      C(listener.port),
      .desc = "TCP port. 0 picks a free port (see port_file)." },
    SL_LISTENER_PORT_FILE_OPTION(struct in_http_conf, listener),
    { .name = "tag_from_path",
      .type = SL_OPT_BOOL,
      .def = "on",
      C(tag_from_path),
      .desc = "Tag records with the request path: POST /app.checkout tags "
              "app.checkout, and an Elasticsearch bulk item is tagged with "
              "its index. A request to / (and every HEC request) uses the "
              "instance's tag. Off: always the instance's tag." },
    { .name = "max_body_size",
      .type = SL_OPT_SIZE,
      .def = "8M",
      .min = 1024,
      .max = INT64_C(1) << 30,
      C(max_body_size),
      .desc = "Largest request body, both as sent and after gzip or "
              "deflate decoding. A larger body is answered 413." },
    { .name = "max_connections",
      .type = SL_OPT_INT,
      .def = "1024",
      .min = 1,
      .max = 65536,
      C(listener.max_connections),
      .desc = "Most connections at once. Connections above it are closed "
              "at once and counted in "
              "sluice_input_rejected_connections_total." },
    { .name = "idle_timeout",
      .type = SL_OPT_TIME,
      .def = "60s",
      .min = 1000,
      .max = INT64_C(86400000),
      C(listener.idle_timeout),
      .desc = "A connection idle (or stuck in a request) for this long is "
              "closed. Whole seconds." },
    { .name = "auth.token",
      .type = SL_OPT_STR,
      .flags = SL_OPT_SECRET,
      C(auth_token),
      .desc = "Require Authorization: Bearer <token> (Elasticsearch "
              "endpoints also accept ApiKey <token> and Basic with the "
              "token as password). Others are answered 401." },
    { .name = "tls",
      .type = SL_OPT_BOOL,
      .def = "off",
      C(tls),
      .desc = "Serve HTTPS; needs tls.cert_file and tls.key_file." },
    SL_LISTENER_TLS_OPTIONS(struct in_http_conf, tls_srv, ""),
    { .name = "successful_response_code",
      .type = SL_OPT_ENUM,
      .def = "201",
      .choices = in_http_codes,
      C(successful_response_code),
      .desc = "Status of an accepted generic request: 200, 201 or 204 "
              "(204 has no body; 200 and 201 answer "
              "{\"accepted\":<records>})." },
    { .name = "es_compat",
      .type = SL_OPT_BOOL,
      .def = "off",
      C(es_compat),
      .desc = "Serve what Elasticsearch clients need: GET and HEAD /, "
              "/_license, /_xpack, /_nodes/http, template and ILM probes, "
              "and POST /_bulk and /<index>/_bulk." },
    { .name = "es.version",
      .type = SL_OPT_STR,
      .def = "8.11.0",
      C(es_version),
      .desc = "Version number reported by GET / (Beats refuse a server "
              "older than themselves)." },
    { .name = "index_key",
      .type = SL_OPT_STR,
      C(index_key),
      .desc = "With es_compat: add the bulk item's index to each record "
              "under this key (unless the document has it)." },
    { .name = "hec_compat",
      .type = SL_OPT_BOOL,
      .def = "off",
      C(hec_compat),
      .desc = "Serve Splunk HEC: /services/collector/event (also "
              "/services/collector and /services/collector/event/1.0), "
              "/services/collector/raw, /services/collector/health and "
              "/services/collector/ack." },
    { .name = "hec.token",
      .type = SL_OPT_LIST,
      .flags = SL_OPT_SECRET | SL_OPT_MULTI,
      C(hec_token),
      .desc = "Accepted HEC tokens (Authorization: Splunk <token>, or "
              "Basic with the token as password). Unset: auth.token when "
              "set, else no token is required." },
    { .name = "hec.ack",
      .type = SL_OPT_BOOL,
      .def = "off",
      C(hec_ack),
      .desc = "Offer indexer acknowledgement: HEC data requests need a "
              "channel (X-Splunk-Request-Channel or ?channel=) and are "
              "answered with an ackId; POST /services/collector/ack "
              "reports it." },
    { .name = "hec.allowed_indexes",
      .type = SL_OPT_LIST,
      C(hec_indexes),
      .desc = "Indexes a HEC event may name; another index is answered "
              "400 code 7. Unset: any index." },
    { .name = "ack_mode",
      .type = SL_OPT_ENUM,
      .def = "durable",
      .choices = in_http_ack_modes,
      C(ack_mode),
      .desc = "When an ackId is reported true: durable (records committed "
              "to the input's storage, i.e. on disk with storage.type "
              "filesystem), or delivered (every output the records were "
              "routed to has acknowledged them)." },
    SL_OPT_END,
};
#undef C

/* ---- state ---- */

/* One accepted record of a request: a span of the body (or of the
 * scratch buffer for built records). */
struct http_rec {
    size_t off;
    size_t len;
    int64_t ts_ns;
    bool compact; /* must be re-serialized (spans lines) */
    bool scratch; /* span is in ctx->built */
    struct sl_str tag;
};

/* One ES bulk action. */
struct bulk_item {
    int action; /* index into bulk_actions */
    struct sl_str index;
    struct sl_str id;
    int status;
    const char *etype;
    const char *reason;
};

struct hec_channel {
    char id[HTTP_CHANNEL_MAX];
    uint64_t next;     /* next ackId */
    uint64_t *pending; /* issued, not yet reported true; ascending */
    uint64_t *marks;   /* sl_input_mark after each pending ackId's records */
    size_t n;
    size_t cap;
    int64_t used_ns;
};

struct in_http_ctx {
    struct sl_instance *ins;
    const struct in_http_conf *conf;
    SSL_CTX *ssl_ctx;
    struct evhttp *http;
    struct event *adopt_ev;
    struct bufferevent **adopt; /* new connections to adopt */
    size_t nadopt;
    size_t adopt_cap;
    size_t nconns;
    bool running;
    struct sl_json_checker *checker;
    struct sl_arena arena;
    struct sl_buf inflated;
    struct sl_buf built; /* records built by this plugin */
    struct sl_buf resp;
    struct http_rec *recs;
    size_t nrecs;
    size_t recs_cap;
    struct bulk_item *items;
    size_t nitems;
    size_t items_cap;
    struct hec_channel *chans;
    size_t nchans;
    uint64_t id_seq;
    int64_t id_base;
    const char *body; /* the body being split */
    struct sl_metric *m_codes[HTTP_CODE_MAX - HTTP_CODE_MIN + 1];
    struct sl_metric *m_body;
    struct sl_metric *m_in_bytes;
    struct sl_metric *m_rejected;
    struct sl_metric *m_conns;
    struct sl_metric *m_invalid;
};

/* Everything about the request being answered. */
struct http_req {
    struct in_http_ctx *ctx;
    struct evhttp_request *req;
    enum evhttp_cmd_type cmd;
    const char *path;  /* never NULL */
    const char *query; /* may be NULL */
    const char *p;     /* body (inflated when it was encoded) */
    size_t n;
    bool es;
};

/* ---- responses ---- */

static const char *http_reason(int code)
{
    switch (code) {
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 204:
        return "No Content";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 413:
        return "Payload Too Large";
    case 415:
        return "Unsupported Media Type";
    case 429:
        return "Too Many Requests";
    case 500:
        return "Internal Server Error";
    case 503:
        return "Service Unavailable";
    default:
        return "Status";
    }
}

static void http_count(struct in_http_ctx *ctx, int code)
{
    char text[8];
    size_t i;

    if (code < HTTP_CODE_MIN || code > HTTP_CODE_MAX) {
        return;
    }
    i = (size_t)(code - HTTP_CODE_MIN);
    if (ctx->m_codes[i] == NULL) {
        snprintf(text, sizeof(text), "%d", code);
        ctx->m_codes[i] = sl_metric_counter(
            ctx->ins, "sluice_http_requests_total",
            "HTTP requests answered, by status code.", "code", text);
    }
    sl_metric_add(ctx->m_codes[i], 1);
}

/* Sends ctx->resp (JSON unless empty) with <code>. */
static void http_reply(struct http_req *r, int code)
{
    struct evkeyvalq *oh = evhttp_request_get_output_headers(r->req);
    struct evbuffer *ob = evhttp_request_get_output_buffer(r->req);
    struct sl_buf *b = &r->ctx->resp;

    if (r->es) {
        evhttp_add_header(oh, "X-Elastic-Product", "Elasticsearch");
    }
    if (code == 503 || code == 429) {
        evhttp_add_header(oh, "Retry-After", "1");
    }
    if (b->len > 0 && code != 204) {
        evhttp_add_header(oh, "Content-Type",
                          "application/json; charset=UTF-8");
        evbuffer_add(ob, b->data, b->len);
    }
    http_count(r->ctx, code);
    evhttp_send_reply(r->req, code, http_reason(code), NULL);
    sl_buf_reset(b);
}

/* Replies {"error": <msg>} (plus HEC or ES forms where relevant). */
static void http_reply_error(struct http_req *r, int code, const char *msg)
{
    struct sl_buf *b = &r->ctx->resp;

    sl_buf_reset(b);
    sl_buf_append_str(b, "{\"error\":");
    sl_json_write_string(b, msg, strlen(msg));
    sl_buf_printf(b, ",\"status\":%d}", code);
    http_reply(r, code);
}

static void http_reply_es_error(struct http_req *r, int code, const char *type,
                                const char *reason)
{
    struct sl_buf *b = &r->ctx->resp;
    size_t k;

    sl_buf_reset(b);
    for (k = 0; k < 2; k++) {
        sl_buf_append_str(b, k == 0 ? "{\"error\":{\"root_cause\":[{" : "}],");
        sl_buf_append_str(b, "\"type\":");
        sl_json_write_string(b, type, strlen(type));
        sl_buf_append_str(b, ",\"reason\":");
        sl_json_write_string(b, reason, strlen(reason));
    }
    sl_buf_printf(b, "},\"status\":%d}", code);
    http_reply(r, code);
}

static void http_reply_hec(struct http_req *r, int code, int hec,
                           const char *text)
{
    struct sl_buf *b = &r->ctx->resp;

    sl_buf_reset(b);
    sl_buf_printf(b, "{\"text\":\"%s\",\"code\":%d}", text, hec);
    http_reply(r, code);
}

/* ---- authentication ---- */

enum http_auth_result {
    AUTH_OK,
    AUTH_MISSING,
    AUTH_BAD_SCHEME,
    AUTH_BAD_TOKEN,
};

static bool http_token_eq(const char *a, size_t alen, const char *tok)
{
    size_t n = strlen(tok);

    return alen == n && CRYPTO_memcmp(a, tok, n) == 0;
}

/* The password of Basic credentials ("user:password", base64). */
static bool http_basic_password(const char *b64, char *out, size_t outlen,
                                size_t *len)
{
    size_t n = strlen(b64);
    unsigned char tmp[512];
    char *colon;
    int k;

    if (n == 0 || n > 4 * (sizeof(tmp) / 3) || n % 4 != 0) {
        return false;
    }
    k = EVP_DecodeBlock(tmp, (const unsigned char *)b64, (int)n);
    if (k < 0) {
        return false;
    }
    while (n > 0 && b64[n - 1] == '=') {
        k--;
        n--;
    }
    colon = memchr(tmp, ':', (size_t)k);
    if (colon == NULL ||
        (size_t)k - (size_t)(colon + 1 - (char *)tmp) >= outlen) {
        return false;
    }
    *len = (size_t)k - (size_t)(colon + 1 - (char *)tmp);
    memcpy(out, colon + 1, *len);
    return true;
}

/* Checks Authorization against <tokens> (n of them) for the schemes in
 * <schemes> (a NULL-terminated list; "basic" accepts the token as
 * password). */
static enum http_auth_result http_auth(struct http_req *r,
                                       const char *const *tokens, size_t n,
                                       const char *const *schemes)
{
    struct evkeyvalq *ih = evhttp_request_get_input_headers(r->req);
    const char *h = evhttp_find_header(ih, "Authorization");
    char pw[384];
    const char *cred;
    size_t len;
    size_t i;

    if (h == NULL || *h == '\0') {
        return AUTH_MISSING;
    }
    for (i = 0; schemes[i] != NULL; i++) {
        size_t sl = strlen(schemes[i]);

        if (strncasecmp(h, schemes[i], sl) == 0 && h[sl] == ' ') {
            break;
        }
    }
    if (schemes[i] == NULL) {
        return AUTH_BAD_SCHEME;
    }
    cred = h + strlen(schemes[i]);
    while (*cred == ' ') {
        cred++;
    }
    len = strlen(cred);
    if (strcasecmp(schemes[i], "basic") == 0) {
        if (!http_basic_password(cred, pw, sizeof(pw), &len)) {
            return AUTH_BAD_SCHEME;
        }
        cred = pw;
    }
    for (i = 0; i < n; i++) {
        if (http_token_eq(cred, len, tokens[i])) {
            return AUTH_OK;
        }
    }
    return AUTH_BAD_TOKEN;
}

/* ---- request bodies ---- */

/* Makes room for element <n> of array <v> of <size>-byte elements, whose
 * capacity is *<cap> (doubled when full, <first> at first).  Returns the
 * array, perhaps moved, with *<cap> updated; or NULL when out of memory,
 * leaving <v> and *<cap> as they were. */
static void *http_grow(void *v, size_t n, size_t *cap, size_t size,
                       size_t first)
{
    size_t c = *cap ? *cap * 2 : first;
    void *nv;

    if (n < *cap) {
        return v;
    }
    nv = sl_realloc(v, c * size);
    if (nv != NULL) {
        *cap = c;
    }
    return nv;
}

static int http_recs_push(struct in_http_ctx *ctx, const struct http_rec *rec)
{
    struct http_rec *v =
        http_grow(ctx->recs, ctx->nrecs, &ctx->recs_cap, sizeof(*v), 256);

    if (v == NULL) {
        return SL_ENOMEM;
    }
    ctx->recs = v;
    ctx->recs[ctx->nrecs++] = *rec;
    return SL_OK;
}

/* Splitter callback of the generic endpoint: checks a value and keeps
 * it when it is an object. */
static int http_collect(void *arg, size_t index, const char *p, size_t n,
                        struct sl_http_split_err *e)
{
    struct in_http_ctx *ctx = arg;
    struct http_rec rec = { .off = (size_t)(p - ctx->body), .len = n };
    struct sl_err err;

    (void)index;
    switch (sl_json_check(ctx->checker, p, n, &err)) {
    case SL_JSON_CHECK_OBJECT:
        break;
    case SL_JSON_CHECK_COMPACT:
        rec.compact = true;
        break;
    case SL_JSON_CHECK_NOT_OBJECT:
        snprintf(e->msg, sizeof(e->msg), "record is not a JSON object");
        return SL_EPARSE;
    default:
        snprintf(e->msg, sizeof(e->msg), "invalid JSON: %.140s", err.msg);
        return SL_EPARSE;
    }
    return http_recs_push(ctx, &rec);
}

/* Reads the body, inflating it when encoded.  Returns false after
 * replying (413, 400, 415). */
static bool http_body(struct http_req *r)
{
    struct in_http_ctx *ctx = r->ctx;
    struct evkeyvalq *ih = evhttp_request_get_input_headers(r->req);
    struct evbuffer *in = evhttp_request_get_input_buffer(r->req);
    const char *enc = evhttp_find_header(ih, "Content-Encoding");
    size_t n = evbuffer_get_length(in);
    const char *p = n > 0 ? (const char *)evbuffer_pullup(in, -1) : "";
    int rc;

    sl_metric_add(ctx->m_body, n);
    if (p == NULL) {
        http_reply_error(r, 500, "out of memory");
        return false;
    }
    r->p = p;
    r->n = n;
    if (enc == NULL || *enc == '\0' || strcasecmp(enc, "identity") == 0) {
        return true;
    }
    if (strcasecmp(enc, "gzip") != 0 && strcasecmp(enc, "x-gzip") != 0 &&
        strcasecmp(enc, "deflate") != 0) {
        http_reply_error(r, 415, "unsupported Content-Encoding");
        return false;
    }
    rc =
        sl_http_inflate(p, n, (size_t)ctx->conf->max_body_size, &ctx->inflated);
    if (rc == SL_ELIMIT) {
        http_reply_error(r, 413, "decompressed body exceeds max_body_size");
        return false;
    }
    if (rc != SL_OK) {
        http_reply_error(r, 400, "cannot decompress the body");
        return false;
    }
    r->p = ctx->inflated.data != NULL ? ctx->inflated.data : "";
    r->n = ctx->inflated.len;
    return true;
}

/* Appends the collected records (ctx->recs) with <tag> where a record
 * has none.  Returns SL_OK or the first error. */
static int http_append_all(struct http_req *r, struct sl_str tag)
{
    struct in_http_ctx *ctx = r->ctx;
    uint64_t bytes = 0;
    size_t i;
    int rc = SL_OK;

    for (i = 0; i < ctx->nrecs && rc == SL_OK; i++) {
        const struct http_rec *rec = &ctx->recs[i];
        const char *base = rec->scratch ? ctx->built.data : r->p;
        struct sl_str t = rec->tag.ptr != NULL ? rec->tag : tag;

        if (rec->compact) {
            rc = sl_input_ingest_json(ctx->ins, t, base + rec->off, rec->len);
            continue;
        }
        bytes += rec->len;
        rc = sl_input_append(ctx->ins, t, rec->ts_ns,
                             sl_str_make(base + rec->off, rec->len));
    }
    sl_metric_add(ctx->m_in_bytes, bytes);
    return rc;
}

/* Appends and commits; false after replying 503 (or 500). */
static bool http_commit(struct http_req *r, struct sl_str tag)
{
    int rc = http_append_all(r, tag);

    if (rc != SL_OK) {
        sl_log_warn(r->ctx->ins, "cannot append records: %s", sl_strerror(rc));
        http_reply_error(r, 500, "cannot append the records");
        return false;
    }
    if (sl_input_commit(r->ctx->ins) != SL_OK) {
        http_reply_error(r, 503, "cannot commit the records to storage");
        return false;
    }
    return true;
}

/* 400 for a body that did not split or check. */
static void http_reply_bad_body(struct http_req *r,
                                const struct sl_http_split_err *e)
{
    struct sl_buf *b = &r->ctx->resp;
    size_t line = sl_http_line_of(r->p, r->n, e->offset);

    sl_metric_add(r->ctx->m_invalid, 1);
    sl_buf_reset(b);
    sl_buf_append_str(b, "{\"error\":");
    sl_json_write_string(b, e->msg, strlen(e->msg));
    sl_buf_printf(b,
                  ",\"record\":%zu,\"offset\":%zu,\"line\":%zu,"
                  "\"accepted\":0,\"status\":400}",
                  e->index, e->offset, line);
    http_reply(r, 400);
}

/* The tag of a generic request: the path without its leading '/'. */
static bool http_path_tag(struct http_req *r, struct sl_str *tag)
{
    const char *p = r->path;
    size_t n;
    size_t i;

    *tag = sl_instance_tag(r->ctx->ins);
    while (*p == '/') {
        p++;
    }
    n = strlen(p);
    if (!r->ctx->conf->tag_from_path || n == 0) {
        return true;
    }
    if (n > HTTP_TAG_MAX) {
        return false;
    }
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];

        if (!(c == '.' || c == '_' || c == '-' || c == '/' || c == ':' ||
              (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
              (c >= 'A' && c <= 'Z'))) {
            return false;
        }
    }
    *tag = sl_str_make(p, n);
    return true;
}

static bool http_paused(struct http_req *r)
{
    return sl_input_paused(r->ctx->ins);
}

/* POST /<tag>: JSON object, array or NDJSON. */
static void http_handle_json(struct http_req *r)
{
    struct in_http_ctx *ctx = r->ctx;
    struct sl_http_split_err e = { 0 };
    struct sl_str tag;
    int code = in_http_code_values[ctx->conf->successful_response_code];

    if (r->cmd != EVHTTP_REQ_POST && r->cmd != EVHTTP_REQ_PUT) {
        http_reply_error(r, 405, "use POST");
        return;
    }
    if (!http_path_tag(r, &tag)) {
        http_reply_error(r, 400, "invalid tag in the path");
        return;
    }
    if (http_paused(r)) {
        http_reply_error(r, 503, "busy: the pipeline is full, retry");
        return;
    }
    if (!http_body(r)) {
        return;
    }
    if (split_skip_ws(r->p, r->n, 0) == r->n) {
        http_reply_error(r, 400, "empty body");
        return;
    }
    ctx->body = r->p;
    ctx->nrecs = 0;
    if (sl_http_body_split(r->p, r->n, false, http_collect, ctx, &e) != SL_OK) {
        http_reply_bad_body(r, &e);
        return;
    }
    if (!http_commit(r, tag)) {
        return;
    }
    sl_buf_printf(&ctx->resp, "{\"accepted\":%zu}", ctx->nrecs);
    http_reply(r, code);
}

/* ---- Elasticsearch ---- */

static const char *const bulk_actions[] = { "index", "create", "update",
                                            "delete", NULL };

static int bulk_items_push(struct in_http_ctx *ctx, const struct bulk_item *it)
{
    struct bulk_item *v =
        http_grow(ctx->items, ctx->nitems, &ctx->items_cap, sizeof(*v), 256);

    if (v == NULL) {
        return SL_ENOMEM;
    }
    ctx->items = v;
    ctx->items[ctx->nitems++] = *it;
    return SL_OK;
}

/* Next non-blank line from *pos: its span without CR/LF. */
static bool bulk_line(const char *p, size_t n, size_t *pos, size_t *start,
                      size_t *len)
{
    while (*pos < n) {
        const char *nl = memchr(p + *pos, '\n', n - *pos);
        size_t end = nl != NULL ? (size_t)(nl - p) : n;
        size_t s = *pos;

        *pos = nl != NULL ? end + 1 : n;
        while (end > s && (p[end - 1] == '\r' || split_ws(p[end - 1]))) {
            end--;
        }
        s = split_skip_ws(p, end, s);
        if (end > s) {
            *start = s;
            *len = end - s;
            return true;
        }
    }
    return false;
}

/* Parses an action line into <it>.  Returns false on a malformed one. */
static bool bulk_action(struct in_http_ctx *ctx, const char *p, size_t n,
                        struct sl_str def_index, struct bulk_item *it)
{
    struct sl_json *v = NULL;
    struct sl_json *meta;
    struct sl_json *f;
    int a;

    if (sl_json_parse(&ctx->arena, p, n, &v, NULL) != SL_OK ||
        v->type != SL_JSON_OBJECT || v->u.obj.n != 1) {
        return false;
    }
    for (a = 0; bulk_actions[a] != NULL; a++) {
        if (sl_str_eq_cstr(v->u.obj.v[0].key, bulk_actions[a])) {
            break;
        }
    }
    meta = v->u.obj.v[0].val;
    if (bulk_actions[a] == NULL || meta->type != SL_JSON_OBJECT) {
        return false;
    }
    memset(it, 0, sizeof(*it));
    it->action = a;
    it->index = def_index;
    f = sl_json_obj_get(meta, SL_STR_LIT("_index"));
    if (f != NULL && f->type == SL_JSON_STRING) {
        it->index = f->u.str;
    }
    f = sl_json_obj_get(meta, SL_STR_LIT("_id"));
    if (f != NULL && f->type == SL_JSON_STRING) {
        it->id = f->u.str;
    }
    return it->index.len > 0;
}

/* A source line: kept as a record (with index_key added when set) or
 * marked as an item error. */
static int bulk_source(struct in_http_ctx *ctx, const char *p, size_t n,
                       size_t off, struct bulk_item *it)
{
    struct http_rec rec = { .off = off, .len = n };
    enum sl_json_check_result cr = sl_json_check(ctx->checker, p, n, NULL);
    const char *key = ctx->conf->index_key;

    if (cr == SL_JSON_CHECK_INVALID || cr == SL_JSON_CHECK_NOT_OBJECT) {
        it->status = 400;
        it->etype = "document_parsing_exception";
        it->reason = cr == SL_JSON_CHECK_INVALID
                         ? "failed to parse: invalid JSON"
                         : "the document is not a JSON object";
        return SL_OK;
    }
    it->status = 201;
    if (ctx->conf->tag_from_path) {
        rec.tag = it->index;
    }
    if (key == NULL || cr != SL_JSON_CHECK_OBJECT) {
        rec.compact = cr != SL_JSON_CHECK_OBJECT;
        return http_recs_push(ctx, &rec);
    }
    /* {"<key>":"<index>", + the document's members */
    rec.off = ctx->built.len;
    rec.scratch = true;
    sl_buf_putc(&ctx->built, '{');
    sl_json_write_string(&ctx->built, key, strlen(key));
    sl_buf_putc(&ctx->built, ':');
    sl_json_write_string(&ctx->built, it->index.ptr, it->index.len);
    if (split_skip_ws(p, n - 1, 1) < n - 1) {
        sl_buf_putc(&ctx->built, ',');
    }
    if (sl_buf_append(&ctx->built, p + 1, n - 1) != SL_OK) {
        return SL_ENOMEM;
    }
    rec.len = ctx->built.len - rec.off;
    return http_recs_push(ctx, &rec);
}

/* Walks the bulk body; false after replying 400 (or 500). */
static bool bulk_parse(struct http_req *r, struct sl_str def_index)
{
    struct in_http_ctx *ctx = r->ctx;
    struct bulk_item it;
    size_t pos = 0;
    size_t s;
    size_t len;
    size_t nline = 0;
    char msg[128];
    int rc = SL_OK;

    while (rc == SL_OK && bulk_line(r->p, r->n, &pos, &s, &len)) {
        nline++;
        if (!bulk_action(ctx, r->p + s, len, def_index, &it)) {
            snprintf(msg, sizeof(msg),
                     "Malformed action/metadata line [%zu], expected an "
                     "index, create, update or delete action with an "
                     "index",
                     nline);
            http_reply_es_error(r, 400, "illegal_argument_exception", msg);
            return false;
        }
        if (it.action != 3) {
            if (!bulk_line(r->p, r->n, &pos, &s, &len)) {
                http_reply_es_error(r, 400,
                                    "action_request_validation_exception",
                                    "Validation Failed: source is missing");
                return false;
            }
            nline++;
        }
        if (it.action >= 2) {
            it.status = 400;
            it.etype = "illegal_argument_exception";
            it.reason = it.action == 2 ? "update is not supported"
                                       : "delete is not supported";
        } else {
            rc = bulk_source(ctx, r->p + s, len, s, &it);
        }
        if (rc == SL_OK) {
            rc = bulk_items_push(ctx, &it);
        }
    }
    if (rc != SL_OK) {
        http_reply_error(r, 500, "out of memory");
        return false;
    }
    return true;
}

/* A bulk item: generated id "sl" + 18 hex digits when it has none. */
static void bulk_write_item(struct in_http_ctx *ctx, const struct bulk_item *it)
{
    struct sl_buf *b = &ctx->resp;
    char id[32];

    sl_buf_printf(b, "{\"%s\":{\"_index\":", bulk_actions[it->action]);
    sl_json_write_string(b, it->index.ptr, it->index.len);
    sl_buf_append_str(b, ",\"_id\":");
    if (it->id.ptr != NULL) {
        sl_json_write_string(b, it->id.ptr, it->id.len);
    } else {
        snprintf(id, sizeof(id), "sl%010" PRIx64 "%08" PRIx64,
                 (uint64_t)ctx->id_base & UINT64_C(0xffffffffff),
                 ctx->id_seq++ & UINT64_C(0xffffffff));
        sl_buf_printf(b, "\"%s\"", id);
    }
    if (it->status < 300) {
        sl_buf_append_str(b, ",\"_version\":1,\"result\":\"created\","
                             "\"_shards\":{\"total\":1,\"successful\":1,"
                             "\"failed\":0},\"_seq_no\":0,"
                             "\"_primary_term\":1,\"status\":201}}");
        return;
    }
    sl_buf_printf(b, ",\"status\":%d,\"error\":{\"type\":\"%s\",\"reason\":",
                  it->status, it->etype);
    sl_json_write_string(b, it->reason, strlen(it->reason));
    sl_buf_append_str(b, "}}}");
}

static void bulk_reply(struct http_req *r, int64_t t0)
{
    struct in_http_ctx *ctx = r->ctx;
    bool errors = false;
    size_t i;

    for (i = 0; i < ctx->nitems; i++) {
        errors = errors || ctx->items[i].status >= 300;
    }
    sl_buf_reset(&ctx->resp);
    sl_buf_printf(&ctx->resp, "{\"took\":%" PRId64 ",\"errors\":%s,\"items\":[",
                  (sl_time_mono_ns() - t0) / SL_NS_PER_MS,
                  errors ? "true" : "false");
    for (i = 0; i < ctx->nitems; i++) {
        if (i > 0) {
            sl_buf_putc(&ctx->resp, ',');
        }
        bulk_write_item(ctx, &ctx->items[i]);
    }
    sl_buf_append_str(&ctx->resp, "]}");
    http_reply(r, 200);
}

static bool es_content_type_ok(struct http_req *r)
{
    struct evkeyvalq *ih = evhttp_request_get_input_headers(r->req);
    const char *ct = evhttp_find_header(ih, "Content-Type");

    return ct == NULL || strstr(ct, "json") != NULL ||
           strstr(ct, "JSON") != NULL;
}

/* POST /_bulk and /<index>/_bulk. */
static void es_handle_bulk(struct http_req *r, struct sl_str def_index)
{
    struct in_http_ctx *ctx = r->ctx;
    int64_t t0 = sl_time_mono_ns();

    if (!es_content_type_ok(r)) {
        http_reply_es_error(r, 400, "illegal_argument_exception",
                            "Content-Type must be application/x-ndjson "
                            "or application/json");
        return;
    }
    if (http_paused(r)) {
        http_reply_es_error(r, 429, "es_rejected_execution_exception",
                            "the pipeline is full, retry");
        return;
    }
    if (!http_body(r)) {
        return;
    }
    ctx->nrecs = 0;
    ctx->nitems = 0;
    sl_buf_reset(&ctx->built);
    if (!bulk_parse(r, def_index)) {
        return;
    }
    if (ctx->nitems == 0) {
        http_reply_es_error(r, 400, "action_request_validation_exception",
                            "Validation Failed: 1: no requests added;");
        return;
    }
    if (!http_commit(r, sl_instance_tag(ctx->ins))) {
        return;
    }
    bulk_reply(r, t0);
}

static void es_reply_root(struct http_req *r)
{
    struct sl_buf *b = &r->ctx->resp;

    sl_buf_reset(b);
    sl_buf_append_str(b, "{\"name\":");
    sl_json_write_string(b, sl_hostname(), strlen(sl_hostname()));
    sl_buf_append_str(b, ",\"cluster_name\":\"sluice\",\"cluster_uuid\":"
                         "\"c2x1aWNlLWNsdXN0ZXIxMg\",\"version\":"
                         "{\"number\":");
    sl_json_write_string(b, r->ctx->conf->es_version,
                         strlen(r->ctx->conf->es_version));
    sl_buf_append_str(b, ",\"build_flavor\":\"default\",\"build_type\":"
                         "\"tar\",\"build_hash\":"
                         "\"0000000000000000000000000000000000000000\","
                         "\"build_date\":\"2024-01-01T00:00:00.000Z\","
                         "\"build_snapshot\":false,\"lucene_version\":"
                         "\"9.8.0\",\"minimum_wire_compatibility_version\":"
                         "\"7.17.0\",\"minimum_index_compatibility_version\":"
                         "\"7.0.0\"},\"tagline\":\"You Know, for Search\"}");
    http_reply(r, 200);
}

static void es_reply_text(struct http_req *r, const char *json)
{
    sl_buf_reset(&r->ctx->resp);
    sl_buf_append_str(&r->ctx->resp, json);
    http_reply(r, 200);
}

static void es_reply_nodes(struct http_req *r)
{
    struct sl_buf *b = &r->ctx->resp;

    sl_buf_reset(b);
    sl_buf_append_str(b, "{\"_nodes\":{\"total\":1,\"successful\":1,"
                         "\"failed\":0},\"cluster_name\":\"sluice\","
                         "\"nodes\":{\"sluice-node-0\":{\"name\":\"sluice\","
                         "\"version\":");
    sl_json_write_string(b, r->ctx->conf->es_version,
                         strlen(r->ctx->conf->es_version));
    sl_buf_printf(b,
                  ",\"http\":{\"max_content_length_in_bytes\":%" PRIu64 "}}}}",
                  r->ctx->conf->max_body_size);
    http_reply(r, 200);
}

/* The index of /<index>/_bulk, or an empty view for /_bulk; false when
 * the path is not a bulk path. */
static bool es_bulk_path(const char *path, struct sl_str *index)
{
    size_t n = strlen(path);
    size_t i = 0;

    if (n < 6 || strcmp(path + n - 6, "/_bulk") != 0) {
        return false;
    }
    n -= 6;
    while (i < n && path[i] == '/') {
        i++;
    }
    *index = sl_str_make(path + i, n - i);
    return memchr(index->ptr, '/', index->len) == NULL;
}

static const char *const es_schemes[] = { "bearer", "apikey", "basic", NULL };

/* Elasticsearch endpoints; false when <path> is not one of them. */
static bool es_handle(struct http_req *r)
{
    const struct in_http_conf *c = r->ctx->conf;
    bool get = r->cmd == EVHTTP_REQ_GET || r->cmd == EVHTTP_REQ_HEAD;
    struct sl_str index = SL_STR_NULL;
    bool bulk = es_bulk_path(r->path, &index);

    if (!bulk && strcmp(r->path, "/") != 0 && strncmp(r->path, "/_", 2) != 0) {
        return false;
    }
    r->es = true;
    if (c->auth_token != NULL &&
        http_auth(r, (const char *const *)&c->auth_token, 1, es_schemes) !=
            AUTH_OK) {
        evhttp_add_header(evhttp_request_get_output_headers(r->req),
                          "WWW-Authenticate", "Basic realm=\"sluice\"");
        http_reply_es_error(r, 401, "security_exception",
                            "missing or invalid authentication credentials");
    } else if (bulk &&
               (r->cmd == EVHTTP_REQ_POST || r->cmd == EVHTTP_REQ_PUT)) {
        es_handle_bulk(r, index);
    } else if (get && strcmp(r->path, "/") == 0) {
        es_reply_root(r);
    } else if (get && strcmp(r->path, "/_license") == 0) {
        es_reply_text(r, "{\"license\":{\"status\":\"active\",\"uid\":"
                         "\"00000000-0000-0000-0000-000000000000\","
                         "\"type\":\"basic\",\"issue_date_in_millis\":0,"
                         "\"max_nodes\":1000,\"issued_to\":\"sluice\","
                         "\"issuer\":\"sluice\","
                         "\"start_date_in_millis\":-1}}");
    } else if (get && strcmp(r->path, "/_xpack") == 0) {
        es_reply_text(r, "{\"build\":{},\"license\":{\"status\":\"active\","
                         "\"type\":\"basic\",\"mode\":\"basic\",\"uid\":"
                         "\"00000000-0000-0000-0000-000000000000\"},"
                         "\"features\":{}}");
    } else if (get && strncmp(r->path, "/_nodes", 7) == 0) {
        es_reply_nodes(r);
    } else if (get) {
        es_reply_text(r, "{}");
    } else {
        es_reply_text(r, "{\"acknowledged\":true}");
    }
    return true;
}

/* ---- Splunk HEC ---- */

static const char *const hec_schemes[] = { "splunk", "basic", NULL };

/* The channel of a request (header or ?channel=), copied into <out>. */
static bool hec_channel_of(struct http_req *r, char *out, size_t outlen)
{
    struct evkeyvalq *ih = evhttp_request_get_input_headers(r->req);
    const char *h = evhttp_find_header(ih, "X-Splunk-Request-Channel");
    struct evkeyvalq q;
    const char *v;
    bool ok = false;

    if (h != NULL && *h != '\0') {
        snprintf(out, outlen, "%s", h);
        return strlen(h) < outlen;
    }
    if (r->query == NULL) {
        return false;
    }
    TAILQ_INIT(&q);
    if (evhttp_parse_query_str(r->query, &q) == 0) {
        v = evhttp_find_header(&q, "channel");
        if (v != NULL && *v != '\0' && strlen(v) < outlen) {
            snprintf(out, outlen, "%s", v);
            ok = true;
        }
    }
    evhttp_clear_headers(&q);
    return ok;
}

/* The channel named <id>, created when missing (the least recently used
 * one is dropped when the table is full). */
static struct hec_channel *hec_channel_get(struct in_http_ctx *ctx,
                                           const char *id, bool create)
{
    struct hec_channel *lru = NULL;
    size_t i;

    for (i = 0; i < ctx->nchans; i++) {
        if (strcmp(ctx->chans[i].id, id) == 0) {
            ctx->chans[i].used_ns = sl_time_mono_ns();
            return &ctx->chans[i];
        }
        if (lru == NULL || ctx->chans[i].used_ns < lru->used_ns) {
            lru = &ctx->chans[i];
        }
    }
    if (!create) {
        return NULL;
    }
    if (ctx->nchans < HTTP_CHANNELS_MAX) {
        lru = &ctx->chans[ctx->nchans++];
    } else {
        sl_free(lru->pending);
        sl_free(lru->marks);
    }
    memset(lru, 0, sizeof(*lru));
    snprintf(lru->id, sizeof(lru->id), "%s", id);
    lru->used_ns = sl_time_mono_ns();
    return lru;
}

/* Issues the next ackId of <ch>; <mark> is the input's sl_input_mark once
 * the request's records were appended (and committed). */
static int hec_ack_issue(struct hec_channel *ch, uint64_t mark, uint64_t *id)
{
    size_t cap = ch->cap;
    uint64_t *v = http_grow(ch->pending, ch->n, &cap, sizeof(*v), 64);

    if (v == NULL) {
        return SL_ENOMEM;
    }
    ch->pending = v;
    cap = ch->cap; /* both arrays grow to the same capacity */
    v = http_grow(ch->marks, ch->n, &cap, sizeof(*v), 64);
    if (v == NULL) {
        return SL_ENOMEM;
    }
    ch->marks = v;
    ch->cap = cap;
    *id = ch->next++;
    ch->marks[ch->n] = mark;
    ch->pending[ch->n++] = *id;
    return SL_OK;
}

/* True (and forgotten) when <id> was issued, not yet reported, and its
 * records are done: durable mode, at once (they were committed before
 * the ackId was issued); delivered mode, once every output they were
 * routed to has acknowledged them (<delivered> has passed its mark). */
static bool hec_ack_take(struct hec_channel *ch, uint64_t id, bool delivered_mode,
                         uint64_t delivered)
{
    size_t lo = 0;
    size_t hi = ch->n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (ch->pending[mid] < id) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    if (lo == ch->n || ch->pending[lo] != id) {
        return false;
    }
    if (delivered_mode && ch->marks[lo] > delivered) {
        return false;
    }
    memmove(&ch->pending[lo], &ch->pending[lo + 1],
            (ch->n - lo - 1) * sizeof(*ch->pending));
    memmove(&ch->marks[lo], &ch->marks[lo + 1],
            (ch->n - lo - 1) * sizeof(*ch->marks));
    ch->n--;
    return true;
}

/* Splitter callback of /event: one envelope -> one built record. */
static int hec_collect(void *arg, size_t index, const char *p, size_t n,
                       struct sl_http_split_err *e)
{
    struct in_http_ctx *ctx = arg;
    struct http_rec rec = { .off = ctx->built.len, .scratch = true };
    int rc;

    (void)index;
    sl_arena_reset(&ctx->arena);
    rc = sl_http_hec_event(&ctx->arena, p, n, &ctx->conf->hec_indexes,
                           &ctx->built, &rec.ts_ns);
    if (rc < 0) {
        return rc;
    }
    if (rc > 0) {
        snprintf(e->msg, sizeof(e->msg), "%d", rc);
        return SL_EPARSE;
    }
    rec.len = ctx->built.len - rec.off;
    return http_recs_push(ctx, &rec);
}

static void hec_reply_bad_event(struct http_req *r,
                                const struct sl_http_split_err *e)
{
    static const char *const texts[] = {
        [6] = "Invalid data format",
        [7] = "Incorrect index",
        [12] = "Event field is required",
        [13] = "Event field cannot be blank",
        [15] = "Error in handling indexed fields",
    };
    struct sl_buf *b = &r->ctx->resp;
    long code = strtol(e->msg, NULL, 10);

    if (code < 6 || code > 15 || texts[code] == NULL) {
        code = 6;
    }
    sl_metric_add(r->ctx->m_invalid, 1);
    sl_buf_reset(b);
    sl_buf_printf(b,
                  "{\"text\":\"%s\",\"code\":%ld,\"invalid-event-number\":%zu}",
                  texts[code], code, e->index);
    http_reply(r, 400);
}

/* Splits /raw bodies into lines -> {"log": line, + query metadata}. */
static int hec_raw_collect(struct http_req *r)
{
    struct in_http_ctx *ctx = r->ctx;
    size_t pos = 0;
    size_t s;
    size_t len;
    int rc = SL_OK;

    while (rc == SL_OK && bulk_line(r->p, r->n, &pos, &s, &len)) {
        struct http_rec rec = { .off = ctx->built.len, .scratch = true };

        sl_buf_append_str(&ctx->built, "{\"log\":");
        rc = sl_json_write_string(&ctx->built, r->p + s, len);
        if (rc == SL_OK) {
            rc = sl_buf_putc(&ctx->built, '}');
        }
        rec.len = ctx->built.len - rec.off;
        if (rc == SL_OK) {
            rc = http_recs_push(ctx, &rec);
        }
    }
    return rc;
}

/* Token check per HEC: returns false after replying. */
static bool hec_auth(struct http_req *r)
{
    const struct in_http_conf *c = r->ctx->conf;
    const char *const *toks = (const char *const *)c->hec_token.v;
    size_t n = c->hec_token.n;

    if (n == 0 && c->auth_token != NULL) {
        toks = (const char *const *)&c->auth_token;
        n = 1;
    }
    if (n == 0) {
        return true;
    }
    switch (http_auth(r, toks, n, hec_schemes)) {
    case AUTH_OK:
        return true;
    case AUTH_MISSING:
        http_reply_hec(r, 401, 2, "Token is required");
        return false;
    case AUTH_BAD_SCHEME:
        http_reply_hec(r, 401, 3, "Invalid authorization");
        return false;
    default:
        http_reply_hec(r, 403, 4, "Invalid token");
        return false;
    }
}

/* POST /services/collector/ack {"acks":[0,1]}. */
static void hec_handle_ack(struct http_req *r, const char *chan)
{
    struct in_http_ctx *ctx = r->ctx;
    struct hec_channel *ch = hec_channel_get(ctx, chan, false);
    struct sl_json *v = NULL;
    struct sl_json *acks;
    struct sl_buf *b = &ctx->resp;
    int64_t id;
    size_t i;

    sl_arena_reset(&ctx->arena);
    if (sl_json_parse(&ctx->arena, r->p, r->n, &v, NULL) != SL_OK ||
        v->type != SL_JSON_OBJECT ||
        (acks = sl_json_obj_get(v, SL_STR_LIT("acks"))) == NULL ||
        acks->type != SL_JSON_ARRAY) {
        http_reply_hec(r, 400, 6, "Invalid data format");
        return;
    }
    sl_buf_reset(b);
    sl_buf_append_str(b, "{\"acks\":{");
    for (i = 0; i < acks->u.arr.n; i++) {
        bool ok = sl_json_get_i64(acks->u.arr.v[i], &id) && id >= 0 &&
                  ch != NULL &&
                  hec_ack_take(ch, (uint64_t)id,
                               r->ctx->conf->ack_mode == HTTP_ACK_DELIVERED,
                               sl_input_delivered(r->ctx->ins));

        if (!sl_json_get_i64(acks->u.arr.v[i], &id)) {
            continue;
        }
        sl_buf_printf(b, "%s\"%" PRId64 "\":%s", b->len > 9 ? "," : "", id,
                      ok ? "true" : "false");
    }
    sl_buf_append_str(b, "}}");
    http_reply(r, 200);
}

/* /event and /raw once authenticated and with a body. */
static void hec_handle_data(struct http_req *r, bool raw, const char *chan)
{
    struct in_http_ctx *ctx = r->ctx;
    struct sl_http_split_err e = { 0 };
    struct hec_channel *ch = NULL;
    uint64_t ack = 0;
    int rc;

    ctx->nrecs = 0;
    sl_buf_reset(&ctx->built);
    if (raw) {
        rc = hec_raw_collect(r);
    } else {
        rc = sl_http_body_split(r->p, r->n, true, hec_collect, ctx, &e);
        if (rc == SL_EPARSE) {
            hec_reply_bad_event(r, &e);
            return;
        }
    }
    if (rc != SL_OK) {
        http_reply_hec(r, 500, 8, "Internal server error");
        return;
    }
    if (ctx->conf->hec_ack) {
        ch = hec_channel_get(ctx, chan, true);
        if (ch->n >= HTTP_ACKS_MAX) {
            http_reply_hec(r, 503, 9, "Server is busy");
            return;
        }
    }
    if (!http_commit(r, sl_instance_tag(ctx->ins))) {
        return;
    }
    if (ch == NULL ||
        hec_ack_issue(ch, sl_input_mark(ctx->ins), &ack) != SL_OK) {
        http_reply_hec(r, 200, 0, "Success");
        return;
    }
    sl_buf_reset(&ctx->resp);
    sl_buf_printf(&ctx->resp,
                  "{\"text\":\"Success\",\"code\":0,\"ackId\":%" PRIu64 "}",
                  ack);
    http_reply(r, 200);
}

static bool hec_path_is(const char *path, const char *base)
{
    size_t n = strlen(base);

    return strncasecmp(path, base, n) == 0 &&
           (path[n] == '\0' || strcasecmp(path + n, "/1.0") == 0 ||
            strcmp(path + n, "/") == 0);
}

/* HEC endpoints; false when <path> is not under /services/collector. */
static bool hec_handle(struct http_req *r)
{
    char chan[HTTP_CHANNEL_MAX] = "";
    bool have_chan;
    bool raw = hec_path_is(r->path, "/services/collector/raw");
    bool ack = hec_path_is(r->path, "/services/collector/ack");

    if (strncasecmp(r->path, "/services/collector", 19) != 0) {
        return false;
    }
    if (hec_path_is(r->path, "/services/collector/health")) {
        if (http_paused(r)) {
            http_reply_hec(r, 503, 18, "HEC is unhealthy, queues are full");
        } else {
            http_reply_hec(r, 200, 17, "HEC is healthy");
        }
        return true;
    }
    if (!raw && !ack && !hec_path_is(r->path, "/services/collector/event") &&
        !hec_path_is(r->path, "/services/collector")) {
        http_reply_error(r, 404, "no such HEC endpoint");
        return true;
    }
    if (r->cmd != EVHTTP_REQ_POST) {
        http_reply_error(r, 405, "use POST");
        return true;
    }
    if (!hec_auth(r)) {
        return true;
    }
    have_chan = hec_channel_of(r, chan, sizeof(chan));
    if (!have_chan && (raw || ack || r->ctx->conf->hec_ack)) {
        http_reply_hec(r, 400, 10, "Data channel is missing");
    } else if (ack && !r->ctx->conf->hec_ack) {
        http_reply_hec(r, 400, 14, "ACK is disabled");
    } else if (!ack && http_paused(r)) {
        http_reply_hec(r, 503, 9, "Server is busy");
    } else if (!http_body(r)) {
        /* replied */
    } else if (split_skip_ws(r->p, r->n, 0) == r->n) {
        http_reply_hec(r, 400, 5, "No data");
    } else if (ack) {
        hec_handle_ack(r, chan);
    } else {
        hec_handle_data(r, raw, chan);
    }
    return true;
}

/* ---- the server ---- */

/* Bearer check of the generic endpoint; false after replying 401. */
static bool http_generic_auth(struct http_req *r)
{
    static const char *const schemes[] = { "bearer", NULL };
    const char *tok = r->ctx->conf->auth_token;

    if (tok == NULL ||
        http_auth(r, (const char *const *)&tok, 1, schemes) == AUTH_OK) {
        return true;
    }
    evhttp_add_header(evhttp_request_get_output_headers(r->req),
                      "WWW-Authenticate", "Bearer realm=\"sluice\"");
    http_reply_error(r, 401, "missing or invalid bearer token");
    return false;
}

static void http_on_request(struct evhttp_request *req, void *arg)
{
    struct in_http_ctx *ctx = arg;
    const struct evhttp_uri *u = evhttp_request_get_evhttp_uri(req);
    const char *path = u != NULL ? evhttp_uri_get_path(u) : NULL;
    struct http_req r = {
        .ctx = ctx,
        .req = req,
        .cmd = evhttp_request_get_command(req),
        .path = path != NULL && *path != '\0' ? path : "/",
        .query = u != NULL ? evhttp_uri_get_query(u) : NULL,
    };

    sl_buf_reset(&ctx->resp);
    if (ctx->conf->hec_compat && hec_handle(&r)) {
        goto out;
    }
    if (ctx->conf->es_compat && es_handle(&r)) {
        goto out;
    }
    if (http_generic_auth(&r)) {
        http_handle_json(&r);
    }
out:
    sl_arena_reset(&ctx->arena);
    if (ctx->inflated.cap > HTTP_BUF_KEEP) {
        sl_buf_fini(&ctx->inflated);
        sl_buf_init(&ctx->inflated, 0);
    }
    if (ctx->built.cap > HTTP_BUF_KEEP) {
        sl_buf_fini(&ctx->built);
        sl_buf_init(&ctx->built, 0);
    }
}

/* ---- connections ---- */

static void http_on_close(struct evhttp_connection *evcon, void *arg)
{
    struct in_http_ctx *ctx = arg;

    (void)evcon;
    if (ctx->nconns > 0) {
        ctx->nconns--;
    }
    sl_metric_set(ctx->m_conns, (int64_t)ctx->nconns);
}

/* Runs right after evhttp accepted connections (same loop iteration):
 * each new bufferevent's callback argument is now its evhttp connection. */
static void http_on_adopt(evutil_socket_t fd, short what, void *arg)
{
    struct in_http_ctx *ctx = arg;
    size_t i;

    (void)fd;
    (void)what;
    for (i = 0; i < ctx->nadopt; i++) {
        void *cbarg = NULL;
        struct evhttp_connection *evcon;

        bufferevent_getcb(ctx->adopt[i], NULL, NULL, NULL, &cbarg);
        evcon = cbarg;
        if (evcon == NULL) {
            continue;
        }
        if (!sl_listener_admit(ctx->ins, &ctx->conf->listener, ctx->nconns,
                               ctx->m_rejected)) {
            evhttp_connection_free(evcon);
            continue;
        }
        ctx->nconns++;
        evhttp_connection_set_closecb(evcon, http_on_close, ctx);
    }
    ctx->nadopt = 0;
    sl_metric_set(ctx->m_conns, (int64_t)ctx->nconns);
}

/* evhttp asks for the bufferevent of a new connection. */
static struct bufferevent *http_on_bev(struct event_base *base, void *arg)
{
    struct in_http_ctx *ctx = arg;
    struct bufferevent *bev =
        sl_listener_bev(base, ctx->ssl_ctx, -1, BEV_OPT_CLOSE_ON_FREE);
    struct bufferevent **v;

    if (bev == NULL) {
        return NULL;
    }
    v = http_grow(ctx->adopt, ctx->nadopt, &ctx->adopt_cap, sizeof(*v), 16);
    if (v == NULL) {
        return bev; /* not counted; still served */
    }
    ctx->adopt = v;
    ctx->adopt[ctx->nadopt++] = bev;
    event_active(ctx->adopt_ev, EV_READ, 0);
    return bev;
}

/* ---- life cycle ---- */

static void http_ctx_free(struct in_http_ctx *ctx)
{
    size_t i;

    SSL_CTX_free(ctx->ssl_ctx);
    sl_json_checker_destroy(ctx->checker);
    sl_arena_fini(&ctx->arena);
    sl_buf_fini(&ctx->inflated);
    sl_buf_fini(&ctx->built);
    sl_buf_fini(&ctx->resp);
    sl_free(ctx->recs);
    sl_free(ctx->items);
    sl_free(ctx->adopt);
    for (i = 0; i < ctx->nchans; i++) {
        sl_free(ctx->chans[i].pending);
        sl_free(ctx->chans[i].marks);
    }
    sl_free(ctx->chans);
    sl_free(ctx);
}

static void http_metrics(struct in_http_ctx *ctx)
{
    struct sl_instance *ins = ctx->ins;

    ctx->m_body = sl_metric_counter(ins, "sluice_http_body_bytes_total",
                                    "Request body bytes received (as sent, "
                                    "before decompression).",
                                    NULL, NULL);
    ctx->m_in_bytes =
        sl_metric_counter(ins, "sluice_input_bytes_total",
                          "Raw bytes the input read.", NULL, NULL);
    ctx->m_rejected = sl_metric_counter(
        ins, "sluice_input_rejected_connections_total",
        "Connections closed at once because max_connections was reached.", NULL,
        NULL);
    ctx->m_invalid = sl_metric_counter(
        ins, "sluice_http_invalid_bodies_total",
        "Requests refused with 400 because a record was not valid JSON or "
        "not an object.",
        NULL, NULL);
    ctx->m_conns = sl_metric_gauge(ins, "sluice_input_connections",
                                   "Open connections.", NULL, NULL);
}

static int http_check_conf(struct in_http_ctx *ctx, struct sl_err *err)
{
    const struct in_http_conf *c = ctx->conf;

    if (c->auth_token != NULL && c->auth_token[0] == '\0') {
        return sl_err_set(err, SL_ECONFIG, "auth.token is empty");
    }
    if (c->tls) {
        return sl_listener_tls_create(&c->tls_srv, "tls", &ctx->ssl_ctx, err);
    }
    return SL_OK;
}

static int in_http_init(struct sl_instance *ins, void *conf, struct sl_err *err)
{
    struct in_http_ctx *ctx = sl_calloc(1, sizeof(*ctx));
    int rc;

    if (ctx == NULL) {
        return sl_err_set(err, SL_ENOMEM, "out of memory");
    }
    ctx->ins = ins;
    ctx->conf = conf;
    ctx->id_base = sl_time_now_ns() / SL_NS_PER_MS;
    sl_arena_init(&ctx->arena, 16 * 1024, 0);
    sl_buf_init(&ctx->inflated, 0);
    sl_buf_init(&ctx->built, 0);
    sl_buf_init(&ctx->resp, 0);
    ctx->checker = sl_json_checker_create();
    ctx->chans = sl_calloc(HTTP_CHANNELS_MAX, sizeof(*ctx->chans));
    rc = ctx->checker == NULL || ctx->chans == NULL
             ? sl_err_set(err, SL_ENOMEM, "out of memory")
             : http_check_conf(ctx, err);
    if (rc != SL_OK) {
        http_ctx_free(ctx);
        return rc;
    }
    http_metrics(ctx);
    sl_instance_set_ctx(ins, ctx);
    return SL_OK;
}

/* Creates the evhttp server on the listening socket <fd> (taken). */
static int http_server(struct in_http_ctx *ctx, int fd, struct sl_err *err)
{
    struct event_base *base = sl_instance_base(ctx->ins);
    struct timeval tv = { .tv_sec = ctx->conf->listener.idle_timeout / 1000 };

    ctx->adopt_ev = event_new(base, -1, 0, http_on_adopt, ctx);
    ctx->http = evhttp_new(base);
    if (ctx->adopt_ev == NULL || ctx->http == NULL) {
        close(fd);
        return sl_err_set(err, SL_ENOMEM, "cannot create the HTTP server");
    }
    evhttp_set_max_body_size(ctx->http, (ev_ssize_t)ctx->conf->max_body_size);
    evhttp_set_max_headers_size(ctx->http, HTTP_HEADERS_MAX);
    evhttp_set_timeout_tv(ctx->http, &tv);
    evhttp_set_allowed_methods(ctx->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST |
                                              EVHTTP_REQ_PUT | EVHTTP_REQ_HEAD |
                                              EVHTTP_REQ_DELETE);
    evhttp_set_flags(ctx->http, EVHTTP_SERVER_LINGERING_CLOSE);
    evhttp_set_gencb(ctx->http, http_on_request, ctx);
    evhttp_set_bevcb(ctx->http, http_on_bev, ctx);
    if (evhttp_accept_socket_with_handle(ctx->http, fd) == NULL) {
        close(fd);
        return sl_err_set(err, SL_ENOMEM, "cannot serve on the socket");
    }
    return SL_OK;
}

static void in_http_stop(struct sl_instance *ins);

static int in_http_start(struct sl_instance *ins, struct sl_err *err)
{
    struct in_http_ctx *ctx = sl_instance_ctx(ins);
    const struct sl_listener_conf *lc = &ctx->conf->listener;
    int fd = -1;
    int rc;

    rc = sl_listener_open(lc, SOCK_STREAM, HTTP_BACKLOG, &fd, err);
    if (rc == SL_OK) {
        rc = sl_listener_announce(ins, lc, fd,
                                  ctx->ssl_ctx != NULL ? "https" : "http", err);
        if (rc != SL_OK) {
            close(fd);
        }
    }
    if (rc == SL_OK) {
        rc = http_server(ctx, fd, err);
    }
    if (rc != SL_OK) {
        in_http_stop(ins);
        return rc;
    }
    ctx->running = true;
    return SL_OK;
}

/* Paused: data requests are answered 503 (checked per request). */
static void in_http_pause(struct sl_instance *ins)
{
    sl_log_debug(ins, "paused: answering data requests with 503");
}

static void in_http_resume(struct sl_instance *ins)
{
    sl_log_debug(ins, "resumed");
}

static void in_http_stop(struct sl_instance *ins)
{
    struct in_http_ctx *ctx = sl_instance_ctx(ins);

    if (ctx == NULL) {
        return;
    }
    ctx->running = false;
    if (ctx->adopt_ev != NULL) {
        event_free(ctx->adopt_ev);
        ctx->adopt_ev = NULL;
    }
    ctx->nadopt = 0;
    if (ctx->http != NULL) {
        evhttp_free(ctx->http);
        ctx->http = NULL;
    }
    ctx->nconns = 0;
}

static void in_http_exit(struct sl_instance *ins)
{
    struct in_http_ctx *ctx = sl_instance_ctx(ins);

    if (ctx == NULL) {
        return;
    }
    in_http_stop(ins);
    http_ctx_free(ctx);
    sl_instance_set_ctx(ins, NULL);
}

const struct sl_plugin sl_plugin_in_http = {
    .abi = SL_PLUGIN_ABI,
    .kind = SL_PLUGIN_INPUT,
    .name = "http",
    .description = "Receive JSON records over HTTP, with Elasticsearch-bulk "
                   "and Splunk-HEC compatible endpoints.",
    .options = in_http_options,
    .conf_size = sizeof(struct in_http_conf),
    .init = in_http_init,
    .start = in_http_start,
    .pause = in_http_pause,
    .resume = in_http_resume,
    .stop = in_http_stop,
    .exit = in_http_exit,
};
