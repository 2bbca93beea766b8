/*
 * http_client.c - the shared HTTP client engine of the HTTP outputs.
 *
 * One client per output worker: a libcurl multi handle whose sockets and
 * timer are libevent events on the worker's loop (CURLMOPT_SOCKETFUNCTION,
 * CURLMOPT_TIMERFUNCTION, curl_multi_socket_action), and a fixed pool of
 * easy handles that are reused so that the multi handle's connection cache
 * keeps connections alive between batches.
 *
 * On top of it, sl_http_flush_run() turns a batch into one or more
 * requests (bodies under batch_size), runs them concurrently, splits the
 * ones answered 413, and combines the answers into one flush result with
 * per-record failures.  See http.h and docs/internals/http.md.
 */
#include <ctype.h>
#include <curl/curl.h>
#include <event2/event.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "sluice/http.h"
#include "sluice/banned.h"

#define HTTP_POOL 4
#define HTTP_RESP_MAX (16u << 20)
#define HTTP_KEEP_MAX (8u << 20) /* shrink bodies above this after use */
#define HTTP_DESCRIBE_BODY 300

const char *const sl_http_compress_choices[] = { "none", "gzip", NULL };

struct sl_http_request {
    struct sl_http_client *c;
    CURL *easy;
    bool busy;     /* taken from the pool */
    bool inflight; /* added to the multi handle */
    char method[8];
    struct sl_buf url;
    struct curl_slist *extra; /* this request's own headers */
    struct curl_slist *hlist; /* what was handed to curl */
    struct sl_buf body;
    struct sl_buf gz;
    struct sl_buf resp;
    struct sl_buf hdrs;
    char errbuf[CURL_ERROR_SIZE];
    sl_http_done_fn done;
    void *arg;
    size_t first, last; /* records of the flush it carries */
};

struct http_sock {
    struct sl_http_client *c;
    curl_socket_t fd;
    struct event *ev;
};

struct sl_http_flush {
    struct sl_http_client *c;
    struct sl_batch *b;
    const struct sl_http_ops *ops;
    void *arg;
    struct sl_event *ev;
    uint8_t *state; /* 0 ok, 1 retry, 2 permanent */
    const char **reason;
    size_t n, cap;
    size_t next;
    size_t *queue; /* pairs first,last of ranges to resend (413 halves) */
    size_t nq, qcap;
    struct sl_arena arena;
    int64_t retry_after_ms;
    char error[512];
    bool active;
    bool in_run;
    bool done_early;
    enum sl_flush_result early;
};

struct sl_http_client {
    const struct sl_http_conf *conf;
    struct sl_instance *ins;
    struct event_base *base;
    CURLM *multi;
    struct event *timer;
    struct sl_buf base_url; /* scheme://host:port[/prefix], no final '/' */
    struct curl_slist *connect_to;
    struct curl_slist *common; /* header option lines + "Expect:" */
    z_stream zs;
    bool zs_ready;
    size_t inflight;
    struct sl_http_request reqs[HTTP_POOL];
    struct sl_http_flush flush;
};

/* ---- classification and headers ---- */

enum sl_http_class sl_http_classify(long status)
{
    if (status >= 200 && status < 300) {
        return SL_HTTP_OK;
    }
    if (status == 0 || status == 408 || status == 429 || status >= 500) {
        return SL_HTTP_RETRY;
    }
    if (status == 413) {
        return SL_HTTP_SPLIT;
    }
    if (status < 200 || (status >= 300 && status < 400) || status == 401 ||
        status == 403 || status == 404 || status == 407) {
        return SL_HTTP_HALT;
    }
    return SL_HTTP_PERMANENT;
}

static struct sl_str http_trim(const char *p, size_t n)
{
    while (n > 0 && (*p == ' ' || *p == '\t')) {
        p++;
        n--;
    }
    while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t' ||
                     p[n - 1] == '\r' || p[n - 1] == '\n')) {
        n--;
    }
    return sl_str_make(p, n);
}

bool sl_http_header_find(struct sl_str headers, const char *name,
                         struct sl_str *value)
{
    size_t nlen = strlen(name);
    const char *p = headers.ptr, *end = headers.ptr + headers.len;

    while (p != NULL && p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        size_t len = eol != NULL ? (size_t)(eol - p) : (size_t)(end - p);

        if (len > nlen && p[nlen] == ':' && strncasecmp(p, name, nlen) == 0) {
            *value = http_trim(p + nlen + 1, len - nlen - 1);
            return true;
        }
        p = eol != NULL ? eol + 1 : NULL;
    }
    return false;
}

int64_t sl_http_retry_after_parse(struct sl_str value, int64_t now_s)
{
    char tmp[128];
    int64_t v = 0;
    size_t i;
    time_t t;

    value = http_trim(value.ptr, value.len);
    if (value.len == 0 || value.len >= sizeof(tmp)) {
        return -1;
    }
    for (i = 0; i < value.len && isdigit((unsigned char)value.ptr[i]); i++) {
        if (v > INT64_C(100000000)) {
            return -1;
        }
        v = v * 10 + (value.ptr[i] - '0');
    }
    if (i == value.len) {
        return v * 1000;
    }
    memcpy(tmp, value.ptr, value.len);
    tmp[value.len] = '\0';
    t = curl_getdate(tmp, NULL);
    if (t == (time_t)-1) {
        return -1;
    }
    return (int64_t)t > now_s ? ((int64_t)t - now_s) * 1000 : 0;
}

int64_t sl_http_retry_after(struct sl_str headers)
{
    struct sl_str v;

    if (!sl_http_header_find(headers, "Retry-After", &v)) {
        return -1;
    }
    return sl_http_retry_after_parse(v, sl_time_now_ns() / SL_NS_PER_S);
}

void sl_http_describe(const struct sl_http_response *resp, char *out,
                      size_t len)
{
    char body[HTTP_DESCRIBE_BODY + 4];
    size_t n = resp->body.len < HTTP_DESCRIBE_BODY ? resp->body.len
                                                   : HTTP_DESCRIBE_BODY;
    size_t i;

    if (resp->status == 0) {
        snprintf(out, len, "no HTTP answer: %s",
                 resp->error[0] != '\0' ? resp->error : "unknown error");
        return;
    }
    for (i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)resp->body.ptr[i];

        body[i] = (ch < 0x20 || ch == 0x7f) ? ' ' : (char)ch;
    }
    body[n] = '\0';
    if (resp->body.len > n) {
        memcpy(body + n, "...", 4);
    }
    snprintf(out, len, "HTTP %ld%s%s", resp->status, n > 0 ? ": " : "",
             body);
}

/* ---- option checks ---- */

int sl_http_conf_check(const struct sl_http_conf *c, const char *who,
                       struct sl_err *err)
{
    const char *files[3] = { c->tls_ca_file, c->tls_crt_file,
                             c->tls_key_file };
    size_t i;

    if (c->url != NULL && strncmp(c->url, "http://", 7) != 0 &&
        strncmp(c->url, "https://", 8) != 0) {
        return sl_err_set(err, SL_ECONFIG,
                          "%s: url must start with http:// or https://",
                          who);
    }
    if (c->url == NULL && (c->host == NULL || c->host[0] == '\0')) {
        return sl_err_set(err, SL_ECONFIG, "%s: 'host' is empty", who);
    }
    if ((c->tls_crt_file == NULL) != (c->tls_key_file == NULL)) {
        return sl_err_set(err, SL_ECONFIG,
                          "%s: tls.crt_file and tls.key_file go together",
                          who);
    }
    for (i = 0; i < 3; i++) {
        if (files[i] != NULL && access(files[i], R_OK) != 0) {
            return sl_err_set(err, SL_ECONFIG, "%s: cannot read '%s'", who,
                              files[i]);
        }
    }
    for (i = 0; i < c->header.n; i++) {
        if (strchr(c->header.v[i], ':') == NULL) {
            return sl_err_set(err, SL_ECONFIG,
                              "%s: header '%s' is not \"Name: value\"", who,
                              c->header.v[i]);
        }
    }
    return SL_OK;
}

/* ---- event loop glue ---- */

static void http_check_done(struct sl_http_client *c);

static void http_event_cb(evutil_socket_t fd, short what, void *arg)
{
    struct http_sock *hs = arg;
    struct sl_http_client *c = hs->c;
    int action = 0, running = 0;

    if (what & EV_READ) {
        action |= CURL_CSELECT_IN;
    }
    if (what & EV_WRITE) {
        action |= CURL_CSELECT_OUT;
    }
    curl_multi_socket_action(c->multi, fd, action, &running);
    http_check_done(c);
}

static void http_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    struct sl_http_client *c = arg;
    int running = 0;

    (void)fd;
    (void)what;
    curl_multi_socket_action(c->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    http_check_done(c);
}

static int http_sock_cb(CURL *e, curl_socket_t s, int what, void *userp,
                        void *socketp)
{
    struct sl_http_client *c = userp;
    struct http_sock *hs = socketp;
    short kind = EV_PERSIST;

    (void)e;
    if (what == CURL_POLL_REMOVE) {
        if (hs != NULL) {
            event_free(hs->ev);
            sl_free(hs);
            curl_multi_assign(c->multi, s, NULL);
        }
        return 0;
    }
    if (hs == NULL) {
        hs = sl_calloc(1, sizeof(*hs));
        if (hs == NULL) {
            return -1;
        }
        hs->c = c;
        hs->fd = s;
        curl_multi_assign(c->multi, s, hs);
    } else {
        event_free(hs->ev);
    }
    kind |= (what & CURL_POLL_IN) ? EV_READ : 0;
    kind |= (what & CURL_POLL_OUT) ? EV_WRITE : 0;
    hs->ev = event_new(c->base, s, kind, http_event_cb, hs);
    if (hs->ev == NULL) {
        return -1;
    }
    event_add(hs->ev, NULL);
    return 0;
}

static int http_timer_set_cb(CURLM *m, long timeout_ms, void *userp)
{
    struct sl_http_client *c = userp;
    struct timeval tv;

    (void)m;
    if (timeout_ms < 0) {
        evtimer_del(c->timer);
        return 0;
    }
    tv.tv_sec = timeout_ms / 1000;
    tv.tv_usec = (timeout_ms % 1000) * 1000;
    evtimer_add(c->timer, &tv);
    return 0;
}

/* ---- requests ---- */

static size_t http_write_cb(char *p, size_t size, size_t n, void *arg)
{
    struct sl_http_request *req = arg;
    size_t len = size * n;

    if (req->resp.len + len <= HTTP_RESP_MAX) {
        if (sl_buf_append(&req->resp, p, len) != SL_OK) {
            return 0;
        }
    }
    return len;
}

static size_t http_header_cb(char *p, size_t size, size_t n, void *arg)
{
    struct sl_http_request *req = arg;
    size_t len = size * n;

    if (len >= 5 && memcmp(p, "HTTP/", 5) == 0) {
        sl_buf_reset(&req->hdrs); /* a new answer (100 Continue before) */
    }
    if (req->hdrs.len + len <= 65536 &&
        sl_buf_append(&req->hdrs, p, len) != SL_OK) {
        return 0;
    }
    return len;
}

static void http_easy_tls(struct sl_http_client *c, CURL *e)
{
    const struct sl_http_conf *conf = c->conf;

    curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, conf->tls_verify ? 1L : 0L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, conf->tls_verify ? 2L : 0L);
    if (conf->tls_ca_file != NULL) {
        curl_easy_setopt(e, CURLOPT_CAINFO, conf->tls_ca_file);
    }
    if (conf->tls_crt_file != NULL) {
        curl_easy_setopt(e, CURLOPT_SSLCERT, conf->tls_crt_file);
        curl_easy_setopt(e, CURLOPT_SSLKEY, conf->tls_key_file);
    }
    curl_easy_setopt(e, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
}

/* Options that stay for the life of the easy handle. */
static int http_easy_init(struct sl_http_client *c,
                          struct sl_http_request *req)
{
    const struct sl_http_conf *conf = c->conf;
    CURL *e = curl_easy_init();

    if (e == NULL) {
        return SL_ENOMEM;
    }
    req->easy = e;
    curl_easy_setopt(e, CURLOPT_PRIVATE, req);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, req->errbuf);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, http_write_cb);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, req);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, http_header_cb);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, req);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS,
                     (long)conf->connect_timeout);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)conf->request_timeout);
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(e, CURLOPT_USERAGENT, "sluice/" SL_VERSION);
    curl_easy_setopt(e, CURLOPT_PROXY, conf->http_proxy != NULL
                                           ? conf->http_proxy
                                           : "");
    if (c->connect_to != NULL) {
        curl_easy_setopt(e, CURLOPT_CONNECT_TO, c->connect_to);
    }
    if (conf->http_user != NULL) {
        curl_easy_setopt(e, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
        curl_easy_setopt(e, CURLOPT_USERNAME, conf->http_user);
        curl_easy_setopt(e, CURLOPT_PASSWORD,
                         conf->http_passwd != NULL ? conf->http_passwd : "");
    }
    http_easy_tls(c, e);
    sl_buf_init(&req->url, 0);
    sl_buf_init(&req->body, 0);
    sl_buf_init(&req->gz, 0);
    sl_buf_init(&req->resp, 0);
    sl_buf_init(&req->hdrs, 0);
    req->c = c;
    return SL_OK;
}

static void http_buf_shrink(struct sl_buf *b)
{
    if (b->cap > HTTP_KEEP_MAX) {
        sl_buf_fini(b);
        sl_buf_init(b, 0);
    } else {
        sl_buf_reset(b);
    }
}

static void http_request_clear(struct sl_http_request *req)
{
    curl_slist_free_all(req->extra);
    curl_slist_free_all(req->hlist);
    req->extra = NULL;
    req->hlist = NULL;
    http_buf_shrink(&req->body);
    http_buf_shrink(&req->gz);
    http_buf_shrink(&req->resp);
    sl_buf_reset(&req->hdrs);
    req->done = NULL;
    req->arg = NULL;
    req->busy = false;
}

struct sl_http_request *sl_http_request_get(struct sl_http_client *c)
{
    size_t i;

    for (i = 0; i < HTTP_POOL; i++) {
        struct sl_http_request *req = &c->reqs[i];

        if (!req->busy) {
            req->busy = true;
            snprintf(req->method, sizeof(req->method), "POST");
            sl_buf_reset(&req->url);
            if (sl_buf_append_sl(&req->url, sl_buf_str(&c->base_url)) !=
                    SL_OK ||
                sl_buf_putc(&req->url, '/') != SL_OK) {
                req->busy = false;
                return NULL;
            }
            return req;
        }
    }
    return NULL;
}

void sl_http_request_put(struct sl_http_request *req)
{
    if (req != NULL && !req->inflight) {
        http_request_clear(req);
    }
}

int sl_http_url_escape(struct sl_buf *out, const char *s, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t i;
    int rc = SL_OK;

    for (i = 0; rc == SL_OK && i < n; i++) {
        unsigned char ch = (unsigned char)s[i];

        if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
            (ch >= '0' && ch <= '9') || ch == '-' || ch == '.' ||
            ch == '_' || ch == '~') {
            rc = sl_buf_putc(out, (char)ch);
        } else {
            char e[3] = { '%', hex[ch >> 4], hex[ch & 15] };

            rc = sl_buf_append(out, e, 3);
        }
    }
    return rc;
}

int sl_http_request_set_target(struct sl_http_request *req,
                               const char *method, const char *path)
{
    snprintf(req->method, sizeof(req->method), "%s", method);
    sl_buf_reset(&req->url);
    if (sl_buf_append_sl(&req->url, sl_buf_str(&req->c->base_url)) !=
        SL_OK) {
        return SL_ENOMEM;
    }
    if (path[0] != '/' && sl_buf_putc(&req->url, '/') != SL_OK) {
        return SL_ENOMEM;
    }
    return sl_buf_append_str(&req->url, path);
}

int sl_http_request_add_header(struct sl_http_request *req,
                               const char *line)
{
    struct curl_slist *l = curl_slist_append(req->extra, line);

    if (l == NULL) {
        return SL_ENOMEM;
    }
    req->extra = l;
    return SL_OK;
}

struct sl_buf *sl_http_request_body(struct sl_http_request *req)
{
    return &req->body;
}

size_t sl_http_client_inflight(const struct sl_http_client *c)
{
    return c->inflight;
}

static void *http_zalloc(void *opaque, unsigned items, unsigned size)
{
    (void)opaque;
    return sl_calloc(items, size);
}

static void http_zfree(void *opaque, void *p)
{
    (void)opaque;
    sl_free(p);
}

/* gzips the body of <req> into req->gz. */
static int http_gzip(struct sl_http_client *c, struct sl_http_request *req)
{
    z_stream *zs = &c->zs;
    uLong bound;
    int rc;

    if (!c->zs_ready) {
        zs->zalloc = http_zalloc;
        zs->zfree = http_zfree;
        if (deflateInit2(zs, 3, Z_DEFLATED, 15 + 16, 8,
                         Z_DEFAULT_STRATEGY) != Z_OK) {
            return SL_ENOMEM;
        }
        c->zs_ready = true;
    } else if (deflateReset(zs) != Z_OK) {
        return SL_EIO;
    }
    bound = deflateBound(zs, (uLong)req->body.len);
    sl_buf_reset(&req->gz);
    if (sl_buf_reserve(&req->gz, bound) != SL_OK) {
        return SL_ENOMEM;
    }
    zs->next_in = (Bytef *)(req->body.len > 0 ? req->body.data : "");
    zs->avail_in = (uInt)req->body.len;
    zs->next_out = (Bytef *)req->gz.data;
    zs->avail_out = (uInt)bound;
    rc = deflate(zs, Z_FINISH);
    if (rc != Z_STREAM_END) {
        return SL_EIO;
    }
    req->gz.len = bound - zs->avail_out;
    return SL_OK;
}

static int http_headers_build(struct sl_http_client *c,
                              struct sl_http_request *req)
{
    const struct curl_slist *lists[2] = { c->common, req->extra };
    struct curl_slist *l = NULL, *n;
    const struct curl_slist *it;
    size_t i;

    for (i = 0; i < 2; i++) {
        for (it = lists[i]; it != NULL; it = it->next) {
            n = curl_slist_append(l, it->data);
            if (n == NULL) {
                goto fail;
            }
            l = n;
        }
    }
    if (c->conf->compress == SL_HTTP_COMPRESS_GZIP) {
        n = curl_slist_append(l, "Content-Encoding: gzip");
        if (n == NULL) {
            goto fail;
        }
        l = n;
    }
    req->hlist = l;
    return SL_OK;
fail:
    curl_slist_free_all(l);
    return SL_ENOMEM;
}

static void http_set_method(struct sl_http_request *req)
{
    CURL *e = req->easy;
    const struct sl_buf *payload =
        req->c->conf->compress == SL_HTTP_COMPRESS_GZIP ? &req->gz
                                                        : &req->body;

    if (strcmp(req->method, "GET") == 0 || strcmp(req->method, "HEAD") == 0) {
        curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
        curl_easy_setopt(e, CURLOPT_NOBODY,
                         strcmp(req->method, "HEAD") == 0 ? 1L : 0L);
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, NULL);
        return;
    }
    curl_easy_setopt(e, CURLOPT_NOBODY, 0L);
    curl_easy_setopt(e, CURLOPT_POST, 1L);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS,
                     payload->data != NULL ? payload->data : "");
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE,
                     (curl_off_t)payload->len);
    curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST,
                     strcmp(req->method, "POST") == 0 ? NULL : req->method);
}

int sl_http_request_send(struct sl_http_request *req, sl_http_done_fn done,
                         void *arg)
{
    struct sl_http_client *c = req->c;
    int rc = SL_OK;

    if (c->conf->compress == SL_HTTP_COMPRESS_GZIP) {
        rc = http_gzip(c, req);
    }
    if (rc == SL_OK) {
        rc = http_headers_build(c, req);
    }
    if (rc != SL_OK) {
        http_request_clear(req);
        return rc;
    }
    curl_easy_setopt(req->easy, CURLOPT_URL, req->url.data);
    curl_easy_setopt(req->easy, CURLOPT_HTTPHEADER, req->hlist);
    http_set_method(req);
    req->errbuf[0] = '\0';
    sl_buf_reset(&req->resp);
    sl_buf_reset(&req->hdrs);
    req->done = done;
    req->arg = arg;
    if (curl_multi_add_handle(c->multi, req->easy) != CURLM_OK) {
        http_request_clear(req);
        return SL_EIO;
    }
    req->inflight = true;
    c->inflight++;
    return SL_OK;
}

static void http_finish(struct sl_http_client *c, CURL *e, CURLcode code)
{
    struct sl_http_request *req = NULL;
    struct sl_http_response resp;
    long status = 0;

    curl_easy_getinfo(e, CURLINFO_PRIVATE, (char **)&req);
    curl_multi_remove_handle(c->multi, e);
    if (req == NULL) {
        return;
    }
    req->inflight = false;
    c->inflight--;
    if (code == CURLE_OK) {
        curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
    }
    resp.status = status;
    resp.headers = sl_buf_str(&req->hdrs);
    resp.body = sl_buf_str(&req->resp);
    resp.curl_code = (int)code;
    resp.error = code == CURLE_OK ? ""
                 : req->errbuf[0] != '\0' ? req->errbuf
                                          : curl_easy_strerror(code);
    resp.retry_after_ms = status > 0 ? sl_http_retry_after(resp.headers) : -1;
    if (req->done != NULL) {
        req->done(req, &resp, req->arg);
    }
    http_request_clear(req);
}

static void http_check_done(struct sl_http_client *c)
{
    CURLMsg *msg;
    int left;

    while ((msg = curl_multi_info_read(c->multi, &left)) != NULL) {
        if (msg->msg == CURLMSG_DONE) {
            http_finish(c, msg->easy_handle, msg->data.result);
        }
    }
}

/* ---- client ---- */

static int http_base_url(struct sl_http_client *c, struct sl_err *err)
{
    const struct sl_http_conf *conf = c->conf;
    const char *host = conf->tls_vhost != NULL ? conf->tls_vhost : conf->host;
    bool v6 = strchr(host, ':') != NULL;
    char ct[512];
    int rc;

    if (conf->url != NULL) {
        rc = sl_buf_append_str(&c->base_url, conf->url);
    } else {
        rc = sl_buf_printf(&c->base_url, "%s://%s%s%s:%" PRId64,
                           conf->tls ? "https" : "http", v6 ? "[" : "", host,
                           v6 ? "]" : "", conf->port);
    }
    while (rc == SL_OK && c->base_url.len > 0 &&
           c->base_url.data[c->base_url.len - 1] == '/') {
        c->base_url.data[--c->base_url.len] = '\0';
    }
    if (rc == SL_OK && conf->url == NULL && conf->tls_vhost != NULL) {
        snprintf(ct, sizeof(ct), "%s:%" PRId64 ":%s:%" PRId64,
                 conf->tls_vhost, conf->port, conf->host, conf->port);
        c->connect_to = curl_slist_append(NULL, ct);
        rc = c->connect_to != NULL ? SL_OK : SL_ENOMEM;
    }
    return rc == SL_OK ? SL_OK
                       : sl_err_set(err, rc, "http: cannot build the URL");
}

static int http_common_headers(struct sl_http_client *c)
{
    struct curl_slist *l = curl_slist_append(NULL, "Expect:");
    size_t i;

    for (i = 0; l != NULL && i < c->conf->header.n; i++) {
        struct curl_slist *n = curl_slist_append(l, c->conf->header.v[i]);

        if (n == NULL) {
            curl_slist_free_all(l);
            l = NULL;
        }
        l = n;
    }
    c->common = l;
    return l != NULL ? SL_OK : SL_ENOMEM;
}

static void http_flush_fini(struct sl_http_flush *f);

struct sl_http_client *sl_http_client_create(struct sl_worker *w,
                                             const struct sl_http_conf *conf,
                                             struct sl_err *err)
{
    struct sl_http_client *c = sl_calloc(1, sizeof(*c));
    size_t i;

    if (c == NULL) {
        sl_err_set(err, SL_ENOMEM, "http: out of memory");
        return NULL;
    }
    c->conf = conf;
    c->ins = sl_worker_instance(w);
    c->base = sl_worker_base(w);
    sl_buf_init(&c->base_url, 0);
    sl_arena_init(&c->flush.arena, 4096, 0);
    c->flush.c = c;
    c->multi = curl_multi_init();
    c->timer = evtimer_new(c->base, http_timer_cb, c);
    if (c->multi == NULL || c->timer == NULL ||
        http_common_headers(c) != SL_OK) {
        sl_err_set(err, SL_ENOMEM, "http: out of memory");
        goto fail;
    }
    if (http_base_url(c, err) != SL_OK) {
        goto fail;
    }
    curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, http_sock_cb);
    curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c);
    curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, http_timer_set_cb);
    curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c);
    curl_multi_setopt(c->multi, CURLMOPT_MAX_HOST_CONNECTIONS,
                      (long)HTTP_POOL);
    for (i = 0; i < HTTP_POOL; i++) {
        if (http_easy_init(c, &c->reqs[i]) != SL_OK) {
            sl_err_set(err, SL_ENOMEM, "http: out of memory");
            goto fail;
        }
    }
    return c;
fail:
    sl_http_client_destroy(c);
    return NULL;
}

void sl_http_client_destroy(struct sl_http_client *c)
{
    size_t i;

    if (c == NULL) {
        return;
    }
    for (i = 0; i < HTTP_POOL; i++) {
        struct sl_http_request *req = &c->reqs[i];

        if (req->easy == NULL) {
            continue;
        }
        if (req->inflight) {
            curl_multi_remove_handle(c->multi, req->easy);
            req->inflight = false;
        }
        http_request_clear(req);
        curl_easy_cleanup(req->easy);
        sl_buf_fini(&req->url);
        sl_buf_fini(&req->body);
        sl_buf_fini(&req->gz);
        sl_buf_fini(&req->resp);
        sl_buf_fini(&req->hdrs);
    }
    if (c->multi != NULL) {
        curl_multi_cleanup(c->multi);
    }
    if (c->timer != NULL) {
        event_free(c->timer);
    }
    if (c->zs_ready) {
        deflateEnd(&c->zs);
    }
    curl_slist_free_all(c->common);
    curl_slist_free_all(c->connect_to);
    sl_buf_fini(&c->base_url);
    http_flush_fini(&c->flush);
    sl_free(c);
}

/* ---- per-worker state ---- */

int sl_http_worker_init(struct sl_http_worker *hw, struct sl_worker *w,
                        const struct sl_http_conf *conf, struct sl_err *err)
{
    /* The arena and the buffer first, so that fini is safe whatever the
     * client does. */
    sl_arena_init(&hw->arena, 0, 0);
    sl_buf_init(&hw->scratch, 0);
    hw->http = sl_http_client_create(w, conf, err);
    return hw->http != NULL ? SL_OK : SL_ECONFIG;
}

void sl_http_worker_fini(struct sl_http_worker *hw)
{
    sl_http_client_destroy(hw->http);
    hw->http = NULL;
    sl_arena_fini(&hw->arena);
    sl_buf_fini(&hw->scratch);
}

struct sl_json *sl_http_worker_parse(struct sl_http_worker *hw,
                                     const struct sl_event *ev)
{
    struct sl_json *dom = NULL;

    sl_arena_reset(&hw->arena);
    if (sl_json_parse(&hw->arena, ev->body.ptr, ev->body.len, &dom, NULL) !=
        SL_OK) {
        return NULL;
    }
    return dom;
}

/* ---- flushes ---- */

static void http_flush_fini(struct sl_http_flush *f)
{
    sl_free(f->ev);
    sl_free(f->state);
    sl_free(f->reason);
    sl_free(f->queue);
    sl_arena_fini(&f->arena);
}

size_t sl_http_flush_count(const struct sl_http_flush *f)
{
    return f->n;
}

const struct sl_event *sl_http_flush_event(const struct sl_http_flush *f,
                                           size_t i)
{
    return &f->ev[i];
}

struct sl_batch *sl_http_flush_batch(const struct sl_http_flush *f)
{
    return f->b;
}

static void http_flush_note(struct sl_http_flush *f, const char *reason)
{
    if (f->error[0] == '\0' && reason != NULL) {
        snprintf(f->error, sizeof(f->error), "%s", reason);
    }
}

void sl_http_flush_fail(struct sl_http_flush *f, size_t i, bool permanent,
                        const char *reason)
{
    const char *r = NULL;

    if (i >= f->n) {
        return;
    }
    if (reason != NULL) {
        r = sl_arena_strndup(&f->arena, reason, strlen(reason));
    }
    f->state[i] = permanent ? 2 : 1;
    f->reason[i] = r;
    http_flush_note(f, reason);
}

/* Marks every record of [first, last) not already failed. */
static void http_flush_fail_range(struct sl_http_flush *f, size_t first,
                                  size_t last, bool permanent,
                                  const char *reason)
{
    const char *r = sl_arena_strndup(&f->arena, reason, strlen(reason));
    size_t i;

    for (i = first; i < last && i < f->n; i++) {
        if (f->state[i] == 0) {
            f->state[i] = permanent ? 2 : 1;
            f->reason[i] = r;
        }
    }
    http_flush_note(f, reason);
}

static int http_flush_grow(struct sl_http_flush *f, size_t need)
{
    struct sl_event *ev;
    uint8_t *st;
    const char **rs;
    size_t cap = f->cap > 0 ? f->cap : 64;

    if (need <= f->cap) {
        return SL_OK;
    }
    while (cap < need) {
        cap *= 2;
    }
    ev = sl_realloc(f->ev, cap * sizeof(*ev));
    if (ev == NULL) {
        return SL_ENOMEM;
    }
    f->ev = ev;
    st = sl_realloc(f->state, cap);
    if (st == NULL) {
        return SL_ENOMEM;
    }
    f->state = st;
    rs = sl_realloc(f->reason, cap * sizeof(*rs));
    if (rs == NULL) {
        return SL_ENOMEM;
    }
    f->reason = rs;
    f->cap = cap;
    return SL_OK;
}

static int http_flush_push(struct sl_http_flush *f, size_t first,
                           size_t last)
{
    if (f->nq + 2 > f->qcap) {
        size_t cap = f->qcap > 0 ? f->qcap * 2 : 16;
        size_t *q = sl_realloc(f->queue, cap * sizeof(*q));

        if (q == NULL) {
            return SL_ENOMEM;
        }
        f->queue = q;
        f->qcap = cap;
    }
    f->queue[f->nq++] = first;
    f->queue[f->nq++] = last;
    return SL_OK;
}

/* Appends records from f->next on, while the body stays under the batch
 * size (at least one record).  Sets *last. */
static int http_flush_fill(struct sl_http_flush *f, struct sl_buf *body,
                           size_t *last)
{
    uint64_t max = f->c->conf->batch_size;
    size_t i = f->next, before;
    int rc = SL_OK;

    for (; i < f->n; i++) {
        before = body->len;
        rc = f->ops->record(f, i, i == f->next, body, f->arg);
        if (rc != SL_OK) {
            body->len = before;
            if (body->data != NULL) {
                body->data[before] = '\0';
            }
            sl_http_flush_fail(f, i, false, "cannot encode the record");
            if (i == f->next) {
                f->next++;
            }
            continue;
        }
        if (i > f->next && body->len > max) {
            body->len = before;
            body->data[before] = '\0';
            break;
        }
        if (f->ops->one_per_request || body->len >= max) {
            i++;
            break;
        }
    }
    *last = i;
    return SL_OK;
}

static int http_flush_range(struct sl_http_flush *f, size_t first,
                            size_t last, struct sl_buf *body)
{
    size_t i;
    int rc = SL_OK;

    for (i = first; rc == SL_OK && i < last; i++) {
        rc = f->ops->record(f, i, i == first, body, f->arg);
    }
    return rc;
}

static void http_flush_done_cb(struct sl_http_request *req,
                               const struct sl_http_response *resp,
                               void *arg);

/* Builds and starts one request; returns false when there is nothing to
 * send or no free request. */
static bool http_flush_start_one(struct sl_http_flush *f)
{
    struct sl_http_request *req;
    size_t first, last;
    int rc = SL_OK;

    if (f->nq == 0 && f->next >= f->n) {
        return false;
    }
    req = sl_http_request_get(f->c);
    if (req == NULL) {
        return false;
    }
    if (f->ops->begin != NULL) {
        rc = f->ops->begin(f, req, f->arg);
    }
    if (rc == SL_OK && f->nq > 0) {
        last = f->queue[--f->nq];
        first = f->queue[--f->nq];
        rc = http_flush_range(f, first, last, &req->body);
    } else if (rc == SL_OK) {
        first = f->next;
        rc = http_flush_fill(f, &req->body, &last);
        f->next = last;
    } else {
        first = f->next;
        last = f->n;
        f->next = f->n;
    }
    if (rc == SL_OK && f->ops->end != NULL) {
        rc = f->ops->end(f, req, f->arg);
    }
    req->first = first;
    req->last = last;
    if (rc == SL_OK && first < last && f->ops->skip_empty &&
        req->body.len == 0) {
        sl_http_request_put(req);
        return true;
    }
    if (rc == SL_OK && first < last) {
        rc = sl_http_request_send(req, http_flush_done_cb, f);
        if (rc == SL_OK) {
            return true;
        }
    } else {
        sl_http_request_put(req);
    }
    if (first < last) {
        http_flush_fail_range(f, first, last, false,
                              "cannot build the request");
    }
    return true;
}

static enum sl_flush_result http_flush_result(struct sl_http_flush *f)
{
    size_t i, ok = 0, retry = 0, perm = 0;

    for (i = 0; i < f->n; i++) {
        ok += f->state[i] == 0;
        retry += f->state[i] == 1;
        perm += f->state[i] == 2;
    }
    if (f->retry_after_ms >= 0) {
        sl_batch_retry_after(f->b, f->retry_after_ms);
    }
    if (retry == 0 && perm == 0) {
        return SL_FLUSH_OK;
    }
    if (retry + perm < f->n || (retry > 0 && perm > 0)) {
        const char *rr = NULL, *pr = NULL;

        for (i = 0; i < f->n && (rr == NULL || pr == NULL); i++) {
            if (f->state[i] == 1 && rr == NULL) {
                rr = f->reason[i] != NULL ? f->reason[i] : "";
            } else if (f->state[i] == 2 && pr == NULL) {
                pr = f->reason[i] != NULL ? f->reason[i] : "";
            }
        }
        sl_batch_set_error(f->b, "%zu of %zu records failed; %zu to retry%s%s"
                                 "; %zu rejected%s%s", retry + perm, f->n,
                           retry, rr ? ": " : "", rr ? rr : "", perm,
                           pr ? ": " : "", pr ? pr : "");
    } else {
        sl_batch_set_error(f->b, "%s", f->error);
    }
    if (ok == 0 && perm == 0) {
        return SL_FLUSH_RETRY;
    }
    if (ok == 0 && retry == 0) {
        return SL_FLUSH_ERROR;
    }
    for (i = 0; i < f->n; i++) {
        if (f->state[i] != 0) {
            sl_batch_fail_record(f->b, f->ev[i].index, f->state[i] == 2,
                                 f->reason[i]);
        }
    }
    return SL_FLUSH_PARTIAL;
}

/* Starts what can start; completes the batch when all is done. */
static void http_flush_pump(struct sl_http_flush *f)
{
    enum sl_flush_result r;

    while (http_flush_start_one(f)) {
    }
    if (f->c->inflight > 0 || f->nq > 0 || f->next < f->n) {
        return;
    }
    f->active = false;
    if (f->ops->hold != NULL && f->ops->hold(f, f->arg)) {
        return;
    }
    r = http_flush_result(f);
    if (f->in_run) {
        f->done_early = true;
        f->early = r;
        return;
    }
    sl_batch_done(f->b, r);
}

void sl_http_flush_finish(struct sl_http_flush *f)
{
    sl_batch_done(f->b, http_flush_result(f));
}

static void http_flush_apply(struct sl_http_flush *f, size_t first,
                             size_t last, enum sl_http_class cls,
                             const struct sl_http_response *resp)
{
    char msg[512];

    if (cls == SL_HTTP_OK) {
        return;
    }
    sl_http_describe(resp, msg, sizeof(msg));
    switch (cls) {
    case SL_HTTP_SPLIT:
        if (last - first > 1) {
            size_t mid = first + (last - first) / 2;

            if (http_flush_push(f, mid, last) == SL_OK &&
                http_flush_push(f, first, mid) == SL_OK) {
                return;
            }
            http_flush_fail_range(f, first, last, false, "out of memory");
            return;
        }
        http_flush_fail_range(f, first, last, true,
                              "record too large for the server (HTTP 413)");
        return;
    case SL_HTTP_PERMANENT:
        http_flush_fail_range(f, first, last, true, msg);
        return;
    case SL_HTTP_HALT: {
        char halt[560];

        snprintf(halt, sizeof(halt), "check the configuration: %s", msg);
        sl_log_error(f->c->ins, "%s", halt);
        http_flush_fail_range(f, first, last, false, halt);
        return;
    }
    default:
        http_flush_fail_range(f, first, last, false, msg);
        return;
    }
}

static void http_flush_done_cb(struct sl_http_request *req,
                               const struct sl_http_response *resp,
                               void *arg)
{
    struct sl_http_flush *f = arg;
    enum sl_http_class cls;

    if (!f->active) {
        return;
    }
    if (resp->retry_after_ms > f->retry_after_ms) {
        f->retry_after_ms = resp->retry_after_ms;
    }
    if (f->ops->response != NULL &&
        ((resp->status >= 200 && resp->status < 300) ||
         (f->ops->all_answers && resp->status > 0))) {
        cls = f->ops->response(f, req->first, req->last, resp, f->arg);
    } else {
        cls = sl_http_classify(resp->status);
    }
    http_flush_apply(f, req->first, req->last, cls, resp);
    /* <req> stays busy until this returns; the other pool slots are free
     * for what comes next (the pool has more than one). */
    http_flush_pump(f);
}

enum sl_flush_result sl_http_flush_run(struct sl_http_client *c,
                                       struct sl_batch *b,
                                       const struct sl_http_ops *ops,
                                       void *arg)
{
    struct sl_http_flush *f = &c->flush;
    struct sl_batch_iter it;
    struct sl_event ev;

    f->b = b;
    f->ops = ops;
    f->arg = arg;
    f->n = 0;
    f->next = 0;
    f->nq = 0;
    f->error[0] = '\0';
    f->retry_after_ms = -1;
    f->done_early = false;
    sl_arena_reset(&f->arena);
    if (http_flush_grow(f, sl_batch_count(b) + 1) != SL_OK) {
        sl_batch_set_error(b, "out of memory");
        return SL_FLUSH_RETRY;
    }
    sl_batch_iter_init(b, &it);
    while (sl_batch_next(b, &it, &ev)) {
        if (f->n == f->cap && http_flush_grow(f, f->n + 1) != SL_OK) {
            sl_batch_set_error(b, "out of memory");
            return SL_FLUSH_RETRY;
        }
        f->ev[f->n] = ev;
        f->state[f->n] = 0;
        f->reason[f->n] = NULL;
        f->n++;
    }
    f->active = true;
    f->in_run = true;
    http_flush_pump(f);
    f->in_run = false;
    return f->done_early ? f->early : SL_FLUSH_PENDING;
}

/* ---- templates ---- */

enum tmpl_kind { TMPL_LIT, TMPL_ACC, TMPL_TAG };

struct tmpl_part {
    enum tmpl_kind kind;
    char *lit;
    size_t len;
    bool has_pct;
    struct sl_accessor acc;
};

struct sl_http_tmpl {
    unsigned flags;
    size_t n;
    struct tmpl_part *parts;
    bool uses_record;
    bool uses_time;
};

void sl_http_tmpl_destroy(struct sl_http_tmpl *t)
{
    size_t i;

    if (t == NULL) {
        return;
    }
    for (i = 0; i < t->n; i++) {
        sl_free(t->parts[i].lit);
        if (t->parts[i].kind == TMPL_ACC) {
            sl_accessor_fini(&t->parts[i].acc);
        }
    }
    sl_free(t->parts);
    sl_free(t);
}

static struct tmpl_part *tmpl_add(struct sl_http_tmpl *t,
                                  enum tmpl_kind kind)
{
    struct tmpl_part *p = sl_realloc(t->parts, (t->n + 1) * sizeof(*p));

    if (p == NULL) {
        return NULL;
    }
    t->parts = p;
    p = &t->parts[t->n++];
    memset(p, 0, sizeof(*p));
    p->kind = kind;
    return p;
}

static int tmpl_add_lit(struct sl_http_tmpl *t, const char *s, size_t n)
{
    struct tmpl_part *p;

    if (n == 0) {
        return SL_OK;
    }
    p = tmpl_add(t, TMPL_LIT);
    if (p == NULL || (p->lit = sl_strndup(s, n)) == NULL) {
        return SL_ENOMEM;
    }
    p->len = n;
    p->has_pct = (t->flags & SL_HTTP_TMPL_STRFTIME) && memchr(s, '%', n);
    t->uses_time |= p->has_pct;
    return SL_OK;
}

/* Length of a bare "$name['x'][0]" reference starting after '$'. */
static size_t tmpl_ref_len(const char *s)
{
    size_t i = 0;

    while (isalnum((unsigned char)s[i]) || s[i] == '_') {
        i++;
    }
    while (i > 0 && s[i] == '[') {
        const char *close = strchr(s + i, ']');

        if (close == NULL) {
            break;
        }
        i = (size_t)(close - s) + 1;
    }
    return i;
}

static int tmpl_add_ref(struct sl_http_tmpl *t, const char *s, size_t n,
                        struct sl_err *err)
{
    char buf[512];
    struct tmpl_part *p;

    if (n == 3 && memcmp(s, "tag", 3) == 0) {
        return tmpl_add(t, TMPL_TAG) != NULL ? SL_OK : SL_ENOMEM;
    }
    if (n == 0 || n + 2 > sizeof(buf)) {
        return sl_err_set(err, SL_EINVAL, "empty or too long reference");
    }
    buf[0] = '$';
    memcpy(buf + (s[0] == '$' ? 0 : 1), s, n);
    buf[n + (s[0] == '$' ? 0 : 1)] = '\0';
    p = tmpl_add(t, TMPL_ACC);
    if (p == NULL) {
        return SL_ENOMEM;
    }
    t->uses_record = true;
    if (sl_accessor_compile(&p->acc, buf, err) != SL_OK) {
        t->n--;
        return SL_EINVAL;
    }
    return SL_OK;
}

static int tmpl_parse(struct sl_http_tmpl *t, const char *text,
                      struct sl_err *err)
{
    const char *s = text, *lit = text;
    int rc = SL_OK;

    while (rc == SL_OK && *s != '\0') {
        size_t n;

        if (*s != '$') {
            s++;
            continue;
        }
        rc = tmpl_add_lit(t, lit, (size_t)(s - lit));
        if (rc != SL_OK) {
            break;
        }
        if (s[1] == '$') {
            rc = tmpl_add_lit(t, "$", 1);
            s += 2;
        } else if (s[1] == '{') {
            const char *close = strchr(s + 2, '}');

            if (close == NULL) {
                return sl_err_set(err, SL_EINVAL, "unclosed '${'");
            }
            rc = tmpl_add_ref(t, s + 2, (size_t)(close - s - 2), err);
            s = close + 1;
        } else if ((n = tmpl_ref_len(s + 1)) > 0) {
            rc = tmpl_add_ref(t, s + 1, n, err);
            s += 1 + n;
        } else {
            rc = tmpl_add_lit(t, "$", 1);
            s++;
        }
        lit = s;
    }
    if (rc == SL_OK) {
        rc = tmpl_add_lit(t, lit, (size_t)(s - lit));
    }
    return rc;
}

struct sl_http_tmpl *sl_http_tmpl_create(const char *text, unsigned flags,
                                         struct sl_err *err)
{
    struct sl_http_tmpl *t = sl_calloc(1, sizeof(*t));
    int rc;

    if (t == NULL) {
        sl_err_set(err, SL_ENOMEM, "out of memory");
        return NULL;
    }
    t->flags = flags;
    rc = tmpl_parse(t, text, err);
    if (rc != SL_OK) {
        if (rc == SL_ENOMEM) {
            sl_err_set(err, SL_ENOMEM, "out of memory");
        }
        sl_http_tmpl_destroy(t);
        return NULL;
    }
    return t;
}

bool sl_http_tmpl_uses_record(const struct sl_http_tmpl *t)
{
    return t->uses_record;
}

bool sl_http_tmpl_uses_time(const struct sl_http_tmpl *t)
{
    return t->uses_time;
}

/* Appends <s>, escaped for the inside of a JSON string when asked. */
static int tmpl_put(const struct sl_http_tmpl *t, struct sl_str s,
                    struct sl_buf *out)
{
    size_t start = out->len;
    int rc;

    if (!(t->flags & SL_HTTP_TMPL_JSON_ESCAPE)) {
        return sl_buf_append(out, s.ptr, s.len);
    }
    rc = sl_json_write_string(out, s.ptr, s.len);
    if (rc == SL_OK) { /* drop the quotes */
        memmove(out->data + start, out->data + start + 1,
                out->len - start - 2);
        out->len -= 2;
        out->data[out->len] = '\0';
    }
    return rc;
}

static int tmpl_strftime(const struct tmpl_part *p, int64_t ts_ns,
                         struct sl_buf *out)
{
    char fmt[256], res[512];
    time_t secs = (time_t)(ts_ns / SL_NS_PER_S);
    struct tm tm;
    size_t n;

    if (p->len >= sizeof(fmt) || gmtime_r(&secs, &tm) == NULL) {
        return sl_buf_append(out, p->lit, p->len);
    }
    memcpy(fmt, p->lit, p->len + 1);
    /* The format is the operator's template text, checked at startup. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
    n = strftime(res, sizeof(res), fmt, &tm);
#pragma GCC diagnostic pop
    return sl_buf_append(out, res, n);
}

int sl_http_tmpl_render(const struct sl_http_tmpl *t, struct sl_str tag,
                        int64_t ts_ns, const struct sl_json *dom,
                        struct sl_buf *scratch, struct sl_buf *out)
{
    size_t i;
    int rc = SL_OK;

    for (i = 0; rc == SL_OK && i < t->n; i++) {
        const struct tmpl_part *p = &t->parts[i];
        const struct sl_json *v;
        struct sl_str s;

        switch (p->kind) {
        case TMPL_LIT:
            rc = p->has_pct ? tmpl_strftime(p, ts_ns, out)
                            : sl_buf_append(out, p->lit, p->len);
            break;
        case TMPL_TAG:
            rc = tmpl_put(t, tag, out);
            break;
        default:
            v = dom != NULL ? sl_accessor_get(&p->acc, dom) : NULL;
            if (v == NULL) {
                break;
            }
            sl_buf_reset(scratch);
            if (!sl_json_scalar_text(v, scratch, &s)) {
                return SL_ENOMEM;
            }
            rc = tmpl_put(t, s, out);
            break;
        }
    }
    return rc;
}
