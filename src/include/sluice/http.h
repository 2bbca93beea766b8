/*
 * http.h - the shared HTTP client engine of the HTTP outputs (es, http,
 * and next splunk, sentry, influxdb).
 *
 * One client per output worker: a libcurl multi handle driven by the
 * worker's event loop (sl_worker_base) and a small pool of easy handles
 * that are reused, so connections stay alive between batches.  Everything
 * runs on the worker thread; nothing here is thread-safe.
 *
 * Three layers, use the highest that fits:
 *
 * 1. Options.  Every HTTP output embeds a struct sl_http_conf in its conf
 *    and declares the common options once with SL_HTTP_OPTIONS() in its
 *    table (host, port, url, tls.*, http_proxy, compress, header,
 *    timeouts, batch_size, http_user, http_passwd).
 *
 * 2. Flushes.  sl_http_flush_run() delivers a batch through callbacks
 *    (struct sl_http_ops): the engine splits the records into requests
 *    whose body stays under batch_size, sends them concurrently, splits a
 *    request answered 413 in halves at record boundaries (down to one
 *    record, then a permanent error), classifies each answer
 *    (sl_http_classify), honours Retry-After, and completes the batch once
 *    with the combined result: OK, RETRY, ERROR, or PARTIAL with every
 *    failed record marked (sl_batch_fail_record) and its reason.
 *
 * 3. Requests.  sl_http_request_get() / sl_http_request_send() for
 *    anything else (e.g. polling an acknowledgement endpoint).
 *
 * Templates (sl_http_tmpl_*) render strings such as index names or
 * webhook bodies from a record: "$key", "$a['b'][0]", "${key}", "${tag}"
 * ("$$" is a literal "$").  See docs/internals/http.md.
 */
#ifndef SLUICE_HTTP_H
#define SLUICE_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "plugin.h"

/* ---- options ---- */

enum sl_http_compress {
    SL_HTTP_COMPRESS_NONE,
    SL_HTTP_COMPRESS_GZIP,
};

/* The common options, filled by the option engine (SL_HTTP_OPTIONS). */
struct sl_http_conf {
    char *host;
    int64_t port;
    char *url; /* overrides host/port/tls: "https://h:9200/prefix" */
    bool tls;
    bool tls_verify;
    char *tls_ca_file;
    char *tls_crt_file;
    char *tls_key_file;
    char *tls_vhost;
    char *http_proxy;
    int compress; /* enum sl_http_compress */
    struct sl_strlist header;
    int64_t connect_timeout; /* ms */
    int64_t request_timeout; /* ms */
    uint64_t batch_size;     /* bytes of one request body (uncompressed) */
    char *http_user;
    char *http_passwd;
};

extern const char *const sl_http_compress_choices[];

#define SL_HTTP_OPT_(T, f, m) SL_OPT_FIELD(T, f.m)

/* Option rows of the common block: use inside an option table, e.g.
 * SL_HTTP_OPTIONS(struct out_es_conf, http, "9200", "5M"),  */
#define SL_HTTP_OPTIONS(T, f, port_def, batch_def)                           \
    { .name = "host", .type = SL_OPT_STR, .def = "127.0.0.1",                 \
      SL_HTTP_OPT_(T, f, host),                                               \
      .desc = "Host name or address of the server." },                        \
    { .name = "port", .type = SL_OPT_INT, .def = port_def, .min = 1,          \
      .max = 65535, SL_HTTP_OPT_(T, f, port),                                 \
      .desc = "TCP port of the server." },                                    \
    { .name = "url", .type = SL_OPT_STR, SL_HTTP_OPT_(T, f, url),             \
      .desc = "Base URL (http:// or https://host:port/prefix). When set "     \
              "it replaces host, port and tls; its path is a prefix of "      \
              "every request path." },                                        \
    { .name = "tls", .type = SL_OPT_BOOL, .def = "off",                       \
      SL_HTTP_OPT_(T, f, tls), .desc = "Use HTTPS." },                        \
    { .name = "tls.verify", .type = SL_OPT_BOOL, .def = "on",                 \
      SL_HTTP_OPT_(T, f, tls_verify),                                         \
      .desc = "Verify the server's certificate chain and name." },            \
    { .name = "tls.ca_file", .type = SL_OPT_STR,                              \
      SL_HTTP_OPT_(T, f, tls_ca_file),                                        \
      .desc = "PEM file of trusted CA certificates. Unset: the system's "     \
              "trust store." },                                               \
    { .name = "tls.crt_file", .type = SL_OPT_STR,                             \
      SL_HTTP_OPT_(T, f, tls_crt_file),                                       \
      .desc = "PEM client certificate for mutual TLS; needs "                 \
              "tls.key_file." },                                              \
    { .name = "tls.key_file", .type = SL_OPT_STR,                             \
      SL_HTTP_OPT_(T, f, tls_key_file),                                       \
      .desc = "PEM private key of tls.crt_file." },                           \
    { .name = "tls.vhost", .type = SL_OPT_STR, SL_HTTP_OPT_(T, f, tls_vhost), \
      .desc = "Server name sent in SNI and the Host header and checked in "   \
              "the certificate, while connecting to host. Unset: host." },    \
    { .name = "http_proxy", .type = SL_OPT_STR,                               \
      SL_HTTP_OPT_(T, f, http_proxy),                                         \
      .desc = "Proxy URL, e.g. http://proxy:3128. Unset: no proxy." },        \
    { .name = "compress", .type = SL_OPT_ENUM, .def = "none",                 \
      .choices = sl_http_compress_choices, SL_HTTP_OPT_(T, f, compress),      \
      .desc = "Request body compression: none, or gzip (sent with "           \
              "Content-Encoding: gzip)." },                                   \
    { .name = "header", .type = SL_OPT_LIST, .flags = SL_OPT_MULTI,           \
      SL_HTTP_OPT_(T, f, header),                                             \
      .desc = "Extra request header \"Name: value\"; repeat the key for "     \
              "more." },                                                      \
    { .name = "connect_timeout", .type = SL_OPT_TIME, .def = "5s", .min = 1,  \
      .max = 3600 * 1000, SL_HTTP_OPT_(T, f, connect_timeout),                \
      .desc = "Give up connecting (and retry later) after this long." },      \
    { .name = "request_timeout", .type = SL_OPT_TIME, .def = "30s",           \
      .min = 1, .max = 3600 * 1000, SL_HTTP_OPT_(T, f, request_timeout),      \
      .desc = "Give up a whole request (and retry later) after this "         \
              "long." },                                                      \
    { .name = "batch_size", .type = SL_OPT_SIZE, .def = batch_def,            \
      .min = 1024, .max = INT64_C(1) << 30, SL_HTTP_OPT_(T, f, batch_size),   \
      .desc = "Largest uncompressed request body; a batch is split into "     \
              "several requests to stay under it." },                         \
    { .name = "http_user", .type = SL_OPT_STR,                                \
      SL_HTTP_OPT_(T, f, http_user),                                          \
      .desc = "User name for HTTP basic authentication." },                   \
    { .name = "http_passwd", .type = SL_OPT_STR, .flags = SL_OPT_SECRET,      \
      SL_HTTP_OPT_(T, f, http_passwd),                                        \
      .desc = "Password for HTTP basic authentication." }

/* Checks the common options (main thread, in the output's init): url
 * syntax, tls files readable, crt/key pairs.  <who> prefixes messages. */
int sl_http_conf_check(const struct sl_http_conf *c, const char *who,
                       struct sl_err *err);

/* ---- status classification ---- */

enum sl_http_class {
    SL_HTTP_OK,        /* 2xx */
    SL_HTTP_RETRY,     /* 408, 429, 5xx, no answer (timeout, reset) */
    SL_HTTP_SPLIT,     /* 413: send the halves */
    SL_HTTP_PERMANENT, /* other 4xx: drop (dead-letter) with the body */
    SL_HTTP_HALT,      /* 3xx, 401, 403, 404, 407: configuration or
                          credentials; the data is kept and retried
                          (slowly, by the engine's backoff) */
};

/* Classifies an HTTP status (0 = no answer) per protocols.md section 0. */
enum sl_http_class sl_http_classify(long status);

/* Finds header <name> (case-insensitive) in raw header lines <headers>
 * ("Name: value\r\n" ...).  Returns true and the trimmed value. */
bool sl_http_header_find(struct sl_str headers, const char *name,
                         struct sl_str *value);

/* Parses a Retry-After value: delta seconds or an HTTP-date (compared
 * with <now_s>, epoch seconds).  Returns milliseconds (>= 0), or -1 when
 * absent or unparsable. */
int64_t sl_http_retry_after_parse(struct sl_str value, int64_t now_s);

/* The Retry-After of raw response headers, in ms, or -1. */
int64_t sl_http_retry_after(struct sl_str headers);

/* ---- client and requests ---- */

struct sl_http_client;
struct sl_http_request;

/* What came back.  Valid during the completion callback only. */
struct sl_http_response {
    long status;            /* 0: no HTTP answer (see error) */
    struct sl_str headers;  /* raw header lines of the final answer */
    struct sl_str body;     /* decoded body (capped at 16 MiB) */
    int curl_code;          /* CURLcode, 0 = CURLE_OK */
    const char *error;      /* transport error text, "" when none */
    int64_t retry_after_ms; /* from Retry-After, -1 when absent */
};

typedef void (*sl_http_done_fn)(struct sl_http_request *req,
                                const struct sl_http_response *resp,
                                void *arg);

/* Creates the client of one worker.  <conf> must outlive it.  Returns
 * NULL with <err> filled. */
struct sl_http_client *sl_http_client_create(struct sl_worker *w,
                                             const struct sl_http_conf *conf,
                                             struct sl_err *err);
/* Aborts requests in flight (their callbacks are not called) and frees
 * everything. */
void sl_http_client_destroy(struct sl_http_client *c);

/* Takes a free request from the pool (NULL when all are in flight or on
 * ENOMEM).  It starts as POST to the base path with an empty body. */
struct sl_http_request *sl_http_request_get(struct sl_http_client *c);
/* Returns an unsent request to the pool. */
void sl_http_request_put(struct sl_http_request *req);

/* Appends the <n> bytes at <s> to <out> percent-encoded for a URL path
 * segment or query value: everything but RFC 3986's unreserved characters
 * (ALPHA DIGIT - . _ ~) becomes %XX.  SL_OK or SL_ENOMEM. */
int sl_http_url_escape(struct sl_buf *out, const char *s, size_t n);

/* <method> "POST", "PUT", "GET"; <path> is appended to the base URL's
 * path (it should start with '/' and may hold a query).  Copied. */
int sl_http_request_set_target(struct sl_http_request *req,
                               const char *method, const char *path);
/* Adds a "Name: value" header (copied) for this request only. */
int sl_http_request_add_header(struct sl_http_request *req,
                               const char *line);
/* The body to fill (uncompressed; the engine compresses it when the
 * client is configured to). */
struct sl_buf *sl_http_request_body(struct sl_http_request *req);

/* Starts the request.  <done> runs later, once, on the worker thread;
 * after it returns the request goes back to the pool.  On failure (the
 * request could not start) returns an error, <done> is not called and
 * the request is back in the pool. */
int sl_http_request_send(struct sl_http_request *req, sl_http_done_fn done,
                         void *arg);

/* Requests in flight. */
size_t sl_http_client_inflight(const struct sl_http_client *c);

/* ---- per-worker state ---- */

/* What every HTTP output keeps per worker: its client, an arena that
 * record bodies are parsed into, and a scratch buffer for templates.
 * Embed it in the output's worker context; worker thread only. */
struct sl_http_worker {
    struct sl_http_client *http;
    struct sl_arena arena;
    struct sl_buf scratch;
};

/* Initialises <hw> and creates its client on worker <w> with <conf>
 * (which must outlive it).  Returns SL_OK, or SL_ECONFIG with <err>
 * filled; either way <hw> is then released with sl_http_worker_fini. */
int sl_http_worker_init(struct sl_http_worker *hw, struct sl_worker *w,
                        const struct sl_http_conf *conf, struct sl_err *err);

/* Destroys the client of <hw> (requests in flight are aborted, their
 * callbacks not called) and frees its memory.  Safe on a zeroed <hw>. */
void sl_http_worker_fini(struct sl_http_worker *hw);

/* Parses the body of <ev> as JSON into the arena of <hw>, which is reset
 * first.  Returns the root, or NULL when the body is not JSON.  The
 * result is valid until the next call. */
struct sl_json *sl_http_worker_parse(struct sl_http_worker *hw,
                                     const struct sl_event *ev);

/* ---- batch flushes ---- */

struct sl_http_flush;

struct sl_http_ops {
    /* Optional: before the first record of a request (set the target,
     * add headers, write a prefix such as "["). */
    int (*begin)(struct sl_http_flush *f, struct sl_http_request *req,
                 void *arg);
    /* Appends record <i> (0..sl_http_flush_count-1) to <body>.  <first>
     * tells whether it is the first record of this body (for
     * separators).  Returns SL_OK or an error (the batch is retried). */
    int (*record)(struct sl_http_flush *f, size_t i, bool first,
                  struct sl_buf *body, void *arg);
    /* Optional: after the last record of a request (e.g. "]"). */
    int (*end)(struct sl_http_flush *f, struct sl_http_request *req,
               void *arg);
    /* Optional: judges the answer to records [first, last).  May mark
     * single records with sl_http_flush_fail (the unmarked ones then
     * count as delivered when it returns SL_HTTP_OK).  NULL: classify by
     * status (sl_http_classify) for the whole request. */
    enum sl_http_class (*response)(struct sl_http_flush *f, size_t first,
                                   size_t last,
                                   const struct sl_http_response *resp,
                                   void *arg);
    /* Every record goes in its own request (webhooks). */
    bool one_per_request;
    /* Call response for every HTTP answer (status > 0), not only 2xx, so
     * the output can classify by the error codes of its protocol. */
    bool all_answers;
    /* Optional: called once every request of the flush has its answer,
     * before the result is computed.  Return true to hold the batch (e.g.
     * until the server acknowledges it), then call sl_http_flush_finish()
     * once, later, on the worker thread; records may still be marked
     * with sl_http_flush_fail meanwhile. */
    bool (*hold)(struct sl_http_flush *f, void *arg);
    /* A request whose body stays empty (record wrote nothing) is not sent;
     * its records keep their marks, unmarked ones count as delivered. */
    bool skip_empty;
};

/* Delivers <b> through <c>.  Returns the flush result to hand back to the
 * engine (SL_FLUSH_PENDING when requests are in flight: sl_batch_done
 * follows once).  One flush at a time per client. */
enum sl_flush_result sl_http_flush_run(struct sl_http_client *c,
                                       struct sl_batch *b,
                                       const struct sl_http_ops *ops,
                                       void *arg);

size_t sl_http_flush_count(const struct sl_http_flush *f);
const struct sl_event *sl_http_flush_event(const struct sl_http_flush *f,
                                           size_t i);
struct sl_batch *sl_http_flush_batch(const struct sl_http_flush *f);
/* Marks record <i> failed; <reason> is copied (kept for the DLQ). */
void sl_http_flush_fail(struct sl_http_flush *f, size_t i, bool permanent,
                        const char *reason);
/* Completes a flush held by ops->hold: computes the result and calls
 * sl_batch_done. */
void sl_http_flush_finish(struct sl_http_flush *f);

/* Describes a failed answer into <out> (status, transport error, or the
 * start of the body, truncated and on one line).  Never holds secrets. */
void sl_http_describe(const struct sl_http_response *resp, char *out,
                      size_t len);

/* ---- templates ---- */

struct sl_http_tmpl;

enum sl_http_tmpl_flags {
    SL_HTTP_TMPL_STRFTIME = 1u << 0,  /* literal parts go through strftime
                                         with the event time (UTC) */
    SL_HTTP_TMPL_JSON_ESCAPE = 1u << 1 /* values escaped for the inside of
                                          a JSON string */
};

/* Compiles <text>.  Returns NULL with <err> filled. */
struct sl_http_tmpl *sl_http_tmpl_create(const char *text, unsigned flags,
                                         struct sl_err *err);
void sl_http_tmpl_destroy(struct sl_http_tmpl *t);
/* True when the result depends on the record's body (has accessors). */
bool sl_http_tmpl_uses_record(const struct sl_http_tmpl *t);
/* True when the result can change with the event time. */
bool sl_http_tmpl_uses_time(const struct sl_http_tmpl *t);
/* Appends the rendering for one record to <out>.  <dom> is the parsed
 * body (may be NULL when the template does not use the record; missing
 * values render as ""). */
int sl_http_tmpl_render(const struct sl_http_tmpl *t, struct sl_str tag,
                        int64_t ts_ns, const struct sl_json *dom,
                        struct sl_buf *scratch, struct sl_buf *out);

#endif
