/*
 * out_http.c - generic HTTP output: records as JSON (one per request, as
 * JSON lines, or as a JSON array) or rendered from a template, POSTed or
 * PUT to a URI.  The base of webhook-style outputs.
 *
 * Everything HTTP (connections, TLS, gzip, batching by batch_size, status
 * handling, Retry-After, 413 halves) is the shared engine's (http.h);
 * this file only writes bodies.  Worker state lives in the per-worker
 * context; the instance context is read-only after init.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "sluice/http.h"
#include "sluice/plugin.h"
#include "sluice/banned.h"

enum http_format { HF_JSON, HF_JSON_LINES, HF_JSON_ARRAY, HF_TEMPLATE };
enum http_method { HM_POST, HM_PUT };

struct out_http_conf {
    struct sl_http_conf http;
    char *uri;
    int method;
    int format;
    char *tmpl;
    char *bearer_token;
};

struct out_http {
    const struct out_http_conf *conf;
    struct sl_http_tmpl *tmpl;
    char *auth;         /* "Authorization: Bearer ..." or NULL */
    const char *ctype;  /* "Content-Type: ..." or NULL (user header) */
};

struct out_http_worker {
    const struct out_http *h;
    struct sl_http_worker hw;
};

static const char *const http_formats[] = { "json", "json_lines",
                                            "json_array", "template", NULL };
static const char *const http_methods[] = { "POST", "PUT", NULL };

static const struct sl_option out_http_options[] = {
    SL_HTTP_OPTIONS(struct out_http_conf, http, "80", "1M"),
    { .name = "uri",
      .type = SL_OPT_STR,
      .def = "/",
      SL_OPT_FIELD(struct out_http_conf, uri),
      .desc = "Request path (and query)." },
    { .name = "method",
      .type = SL_OPT_ENUM,
      .def = "POST",
      .choices = http_methods,
      SL_OPT_FIELD(struct out_http_conf, method),
      .desc = "HTTP method: POST or PUT." },
    { .name = "format",
      .type = SL_OPT_ENUM,
      .def = "json_lines",
      .choices = http_formats,
      SL_OPT_FIELD(struct out_http_conf, format),
      .desc = "Body layout: json (one record object per request), "
              "json_lines (records separated by newlines), json_array (a "
              "JSON array of records) or template (one rendered template "
              "per request)." },
    { .name = "template",
      .type = SL_OPT_TEMPLATE,
      SL_OPT_FIELD(struct out_http_conf, tmpl),
      .desc = "Body for format template, e.g. {\"text\": \"${level}: "
              "${message}\"}. $key, $a['b'], ${key} take values from the "
              "record and ${tag} is the tag; in a template that starts "
              "with { or [ they are escaped as JSON string contents." },
    { .name = "bearer_token",
      .type = SL_OPT_STR,
      .flags = SL_OPT_SECRET,
      SL_OPT_FIELD(struct out_http_conf, bearer_token),
      .desc = "Token sent as Authorization: Bearer." },
    SL_OPT_END,
};

/* ---- bodies ---- */

static int http_begin(struct sl_http_flush *f, struct sl_http_request *req,
                      void *arg)
{
    struct out_http_worker *wk = arg;
    const struct out_http *h = wk->h;
    int rc;

    (void)f;
    rc = sl_http_request_set_target(req, http_methods[h->conf->method],
                                    h->conf->uri);
    if (rc == SL_OK && h->ctype != NULL) {
        rc = sl_http_request_add_header(req, h->ctype);
    }
    if (rc == SL_OK && h->auth != NULL) {
        rc = sl_http_request_add_header(req, h->auth);
    }
    if (rc == SL_OK && h->conf->format == HF_JSON_ARRAY) {
        rc = sl_buf_putc(sl_http_request_body(req), '[');
    }
    return rc;
}

static int http_end(struct sl_http_flush *f, struct sl_http_request *req,
                    void *arg)
{
    struct out_http_worker *wk = arg;

    (void)f;
    if (wk->h->conf->format == HF_JSON_ARRAY) {
        return sl_buf_putc(sl_http_request_body(req), ']');
    }
    return SL_OK;
}

static int http_render(struct out_http_worker *wk, struct sl_http_flush *f,
                       const struct sl_event *ev, struct sl_buf *body)
{
    const struct sl_json *dom = sl_http_tmpl_uses_record(wk->h->tmpl)
                                    ? sl_http_worker_parse(&wk->hw, ev)
                                    : NULL;

    return sl_http_tmpl_render(wk->h->tmpl,
                               sl_batch_tag(sl_http_flush_batch(f)), ev->ts_ns,
                               dom, &wk->hw.scratch, body);
}

static int http_record(struct sl_http_flush *f, size_t i, bool first,
                       struct sl_buf *body, void *arg)
{
    struct out_http_worker *wk = arg;
    const struct sl_event *ev = sl_http_flush_event(f, i);
    int rc;

    switch (wk->h->conf->format) {
    case HF_JSON_LINES:
        rc = sl_buf_append(body, ev->body.ptr, ev->body.len);
        return rc == SL_OK ? sl_buf_putc(body, '\n') : rc;
    case HF_JSON_ARRAY:
        rc = first ? SL_OK : sl_buf_putc(body, ',');
        return rc == SL_OK ? sl_buf_append(body, ev->body.ptr, ev->body.len)
                           : rc;
    case HF_TEMPLATE:
        return http_render(wk, f, ev, body);
    default:
        return sl_buf_append(body, ev->body.ptr, ev->body.len);
    }
}

static enum sl_flush_result out_http_flush(struct sl_batch *b,
                                           struct sl_worker *w)
{
    static const struct sl_http_ops ops_batch = {
        .begin = http_begin, .record = http_record, .end = http_end
    };
    static const struct sl_http_ops ops_single = {
        .begin = http_begin,
        .record = http_record,
        .end = http_end,
        .one_per_request = true,
    };
    struct out_http_worker *wk = sl_worker_ctx(w);
    int fmt = wk->h->conf->format;
    bool single = fmt == HF_JSON || fmt == HF_TEMPLATE;

    return sl_http_flush_run(wk->hw.http, b, single ? &ops_single : &ops_batch,
                             wk);
}

/* ---- workers ---- */

static void out_http_worker_exit(struct sl_instance *ins,
                                 struct sl_worker *w)
{
    struct out_http_worker *wk = sl_worker_ctx(w);

    (void)ins;
    if (wk == NULL) {
        return;
    }
    sl_http_worker_fini(&wk->hw);
    sl_free(wk);
    sl_worker_set_ctx(w, NULL);
}

static int out_http_worker_init(struct sl_instance *ins, struct sl_worker *w,
                                struct sl_err *err)
{
    struct out_http_worker *wk = sl_calloc(1, sizeof(*wk));
    const struct out_http *h = sl_instance_ctx(ins);

    if (wk == NULL) {
        return sl_err_set(err, SL_ENOMEM, "http: out of memory");
    }
    wk->h = h;
    sl_worker_set_ctx(w, wk);
    if (sl_http_worker_init(&wk->hw, w, &h->conf->http, err) != SL_OK) {
        out_http_worker_exit(ins, w);
        return SL_ECONFIG;
    }
    return SL_OK;
}

/* ---- init ---- */

static void out_http_exit(struct sl_instance *ins)
{
    struct out_http *h = sl_instance_ctx(ins);

    if (h == NULL) {
        return;
    }
    sl_http_tmpl_destroy(h->tmpl);
    if (h->auth != NULL) {
        memset(h->auth, 0, strlen(h->auth));
    }
    sl_free(h->auth);
    sl_free(h);
    sl_instance_set_ctx(ins, NULL);
}

static bool http_has_ctype(const struct sl_http_conf *c)
{
    size_t i;

    for (i = 0; i < c->header.n; i++) {
        if (strncasecmp(c->header.v[i], "Content-Type:", 13) == 0) {
            return true;
        }
    }
    return false;
}

static int http_tmpl_init(struct out_http *h, struct sl_err *err)
{
    const char *t = h->conf->tmpl;
    unsigned flags = 0;

    if (t == NULL) {
        return sl_err_set(err, SL_ECONFIG,
                          "http: format template needs 'template'");
    }
    t += strspn(t, " \t\r\n");
    if (*t == '{' || *t == '[') {
        flags |= SL_HTTP_TMPL_JSON_ESCAPE;
    }
    h->tmpl = sl_http_tmpl_create(h->conf->tmpl, flags, err);
    if (h->tmpl == NULL) {
        return sl_err_set(err, SL_ECONFIG, "http: template: %s", err->msg);
    }
    return SL_OK;
}

static int out_http_init(struct sl_instance *ins, void *conf,
                         struct sl_err *err)
{
    const struct out_http_conf *c = conf;
    struct out_http *h = sl_calloc(1, sizeof(*h));
    int rc;

    if (h == NULL) {
        return sl_err_set(err, SL_ENOMEM, "http: out of memory");
    }
    h->conf = c;
    sl_instance_set_ctx(ins, h);
    rc = sl_http_conf_check(&c->http, "http", err);
    if (rc == SL_OK && c->bearer_token != NULL && c->http.http_user != NULL) {
        rc = sl_err_set(err, SL_ECONFIG,
                        "http: set bearer_token or http_user, not both");
    }
    if (rc == SL_OK && c->format == HF_TEMPLATE) {
        rc = http_tmpl_init(h, err);
    }
    if (rc != SL_OK) {
        goto fail;
    }
    if (!http_has_ctype(&c->http)) {
        h->ctype = c->format == HF_JSON_LINES
                       ? "Content-Type: application/x-ndjson"
                       : "Content-Type: application/json";
    }
    if (c->bearer_token != NULL) {
        size_t n = strlen(c->bearer_token) + 32;

        h->auth = sl_malloc(n);
        if (h->auth == NULL) {
            rc = sl_err_set(err, SL_ENOMEM, "http: out of memory");
            goto fail;
        }
        snprintf(h->auth, n, "Authorization: Bearer %s", c->bearer_token);
    }
    return SL_OK;
fail:
    out_http_exit(ins);
    return rc;
}

const struct sl_plugin sl_plugin_out_http = {
    .abi = SL_PLUGIN_ABI,
    .kind = SL_PLUGIN_OUTPUT,
    .name = "http",
    .description = "Send records to an HTTP endpoint as JSON, JSON lines, "
                   "a JSON array or a rendered template.",
    .options = out_http_options,
    .conf_size = sizeof(struct out_http_conf),
    .init = out_http_init,
    .worker_init = out_http_worker_init,
    .flush = out_http_flush,
    .worker_exit = out_http_worker_exit,
    .exit = out_http_exit,
};
