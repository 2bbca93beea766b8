/*
 * out_slack.c - records as Slack incoming-webhook messages (protocols.md
 * section 7.2): one POST per record of {"text": <rendered template>} and,
 * when configured, "blocks" (a JSON template rendered with its values
 * escaped for JSON strings).
 *
 * The webhook URL is the credential: give it as `webhook` (secret: never
 * printed or logged).  Values taken from the record are escaped for Slack
 * mrkdwn (& < > only).  200 delivered; 429 and 5xx retried after
 * Retry-After; 400 dropped to the dead-letter queue; 403/404/410 halt
 * (kept and retried slowly: the webhook or channel needs fixing).
 *
 * Worker thread only (the shared HTTP client, sluice/http.h).
 */
#include <stdio.h>
#include <string.h>

#include "sluice/http.h"
#include "sluice/plugin.h"
#include "sluice/banned.h"

struct slack_conf {
    struct sl_http_conf http;
    char *webhook;
    char *text;
    char *blocks;
};

struct slack {
    const struct slack_conf *conf;
    struct sl_http_conf http; /* conf->http with url = webhook */
    struct sl_http_tmpl *text;
    struct sl_http_tmpl *blocks;
    char base[512];  /* scheme://authority of the webhook */
    char path[2048]; /* the rest: the secret part */
};

struct slack_worker {
    const struct slack *s;
    struct sl_http_worker hw;
    struct sl_buf raw, esc;
};

static const struct sl_option slack_options[] = {
    SL_HTTP_OPTIONS(struct slack_conf, http, "443", "1M"),
    { .name = "webhook",
      .type = SL_OPT_STR,
      .flags = SL_OPT_SECRET,
      SL_OPT_FIELD(struct slack_conf, webhook),
      .desc = "The incoming-webhook URL "
              "(https://hooks.slack.com/services/...); it replaces url. "
              "Secret." },
    { .name = "text",
      .type = SL_OPT_TEMPLATE,
      .def = "[${tag}] ${message}",
      SL_OPT_FIELD(struct slack_conf, text),
      .desc = "Template of the message text (Slack mrkdwn); values from "
              "the record are escaped (& < >)." },
    { .name = "blocks",
      .type = SL_OPT_TEMPLATE,
      SL_OPT_FIELD(struct slack_conf, blocks),
      .desc = "Optional JSON array template of Block Kit blocks; values "
              "are escaped as JSON string contents." },
    SL_OPT_END,
};

/* & < > as Slack entities, the rest as is. */
static int slack_escape(struct sl_buf *out, const char *p, size_t n)
{
    size_t i;
    int rc = SL_OK;

    for (i = 0; rc == SL_OK && i < n; i++) {
        rc = p[i] == '&'   ? sl_buf_append_str(out, "&amp;")
             : p[i] == '<' ? sl_buf_append_str(out, "&lt;")
             : p[i] == '>' ? sl_buf_append_str(out, "&gt;")
                           : sl_buf_putc(out, p[i]);
    }
    return rc;
}

static int slack_begin(struct sl_http_flush *f, struct sl_http_request *req,
                       void *arg)
{
    struct slack_worker *wk = arg;
    int rc;

    (void)f;
    rc = sl_http_request_set_target(req, "POST", wk->s->path);
    return rc ? rc
              : sl_http_request_add_header(req, "Content-Type: "
                                                "application/json");
}

static int slack_record(struct sl_http_flush *f, size_t i, bool first,
                        struct sl_buf *body, void *arg)
{
    struct slack_worker *wk = arg;
    const struct sl_event *ev = sl_http_flush_event(f, i);
    struct sl_str tag = sl_batch_tag(sl_http_flush_batch(f));
    struct sl_json *dom = sl_http_worker_parse(&wk->hw, ev);
    int rc;

    (void)first;
    sl_buf_reset(&wk->raw);
    sl_buf_reset(&wk->esc);
    rc = sl_http_tmpl_render(wk->s->text, tag, ev->ts_ns, dom, &wk->hw.scratch,
                             &wk->raw);
    rc = rc ? rc : slack_escape(&wk->esc, wk->raw.data, wk->raw.len);
    rc = rc ? rc : sl_buf_append_str(body, "{\"text\":");
    rc = rc ? rc : sl_json_write_string(body, wk->esc.data != NULL
                                                  ? wk->esc.data
                                                  : "",
                                        wk->esc.len);
    if (rc == SL_OK && wk->s->blocks != NULL) {
        rc = sl_buf_append_str(body, ",\"blocks\":");
        rc = rc ? rc
                : sl_http_tmpl_render(wk->s->blocks, tag, ev->ts_ns, dom,
                                      &wk->hw.scratch, body);
    }
    return rc ? rc : sl_buf_putc(body, '}');
}

/* protocols.md 7.2: 410 (channel archived) halts like 403/404. */
static enum sl_http_class slack_response(struct sl_http_flush *f,
                                         size_t first, size_t last,
                                         const struct sl_http_response *resp,
                                         void *arg)
{
    (void)f;
    (void)first;
    (void)last;
    (void)arg;
    return resp->status == 410 ? SL_HTTP_HALT : sl_http_classify(resp->status);
}

static enum sl_flush_result slack_flush(struct sl_batch *b,
                                        struct sl_worker *w)
{
    static const struct sl_http_ops ops = { .begin = slack_begin,
                                            .record = slack_record,
                                            .response = slack_response,
                                            .one_per_request = true };
    struct slack_worker *wk = sl_worker_ctx(w);

    return sl_http_flush_run(wk->hw.http, b, &ops, wk);
}

static void slack_worker_exit(struct sl_instance *ins, struct sl_worker *w)
{
    struct slack_worker *wk = sl_worker_ctx(w);

    (void)ins;
    if (wk == NULL) {
        return;
    }
    sl_http_worker_fini(&wk->hw);
    sl_buf_fini(&wk->raw);
    sl_buf_fini(&wk->esc);
    sl_free(wk);
    sl_worker_set_ctx(w, NULL);
}

static int slack_worker_init(struct sl_instance *ins, struct sl_worker *w,
                             struct sl_err *err)
{
    struct slack_worker *wk = sl_calloc(1, sizeof(*wk));

    if (wk == NULL) {
        return sl_err_set(err, SL_ENOMEM, "slack: out of memory");
    }
    wk->s = sl_instance_ctx(ins);
    sl_buf_init(&wk->raw, 0);
    sl_buf_init(&wk->esc, 0);
    sl_worker_set_ctx(w, wk);
    if (sl_http_worker_init(&wk->hw, w, &wk->s->http, err) != SL_OK) {
        slack_worker_exit(ins, w);
        return SL_ECONFIG;
    }
    return SL_OK;
}

static void slack_exit(struct sl_instance *ins)
{
    struct slack *s = sl_instance_ctx(ins);

    if (s == NULL) {
        return;
    }
    sl_http_tmpl_destroy(s->text);
    sl_http_tmpl_destroy(s->blocks);
    memset(s->path, 0, sizeof(s->path));
    sl_free(s);
    sl_instance_set_ctx(ins, NULL);
}

/* Splits the webhook (or url) into the client's base URL (scheme and
 * authority) and the path sent with every request, so that the secret
 * part never appears in the client's base URL. */
static int slack_split_url(struct slack *s, const char *u,
                           struct sl_err *err)
{
    const char *auth = strstr(u, "://");
    const char *slash = auth != NULL ? strchr(auth + 3, '/') : NULL;
    size_t blen = slash != NULL ? (size_t)(slash - u) : strlen(u);

    if (auth == NULL || blen >= sizeof(s->base) ||
        strlen(slash != NULL ? slash : "/") >= sizeof(s->path)) {
        return sl_err_set(err, SL_ECONFIG, "slack: webhook is not a URL");
    }
    memcpy(s->base, u, blen);
    s->base[blen] = '\0';
    snprintf(s->path, sizeof(s->path), "%s", slash != NULL ? slash : "/");
    s->http.url = s->base;
    return SL_OK;
}

static int slack_init(struct sl_instance *ins, void *conf, struct sl_err *err)
{
    const struct slack_conf *c = conf;
    struct slack *s = sl_calloc(1, sizeof(*s));
    int rc = SL_OK;

    if (s == NULL) {
        return sl_err_set(err, SL_ENOMEM, "slack: out of memory");
    }
    s->conf = c;
    s->http = c->http;
    sl_instance_set_ctx(ins, s);
    if (c->webhook != NULL || c->http.url != NULL) {
        rc = slack_split_url(s, c->webhook != NULL ? c->webhook : c->http.url,
                             err);
    } else {
        rc = sl_err_set(err, SL_ECONFIG, "slack: set webhook (or url)");
    }
    rc = rc ? rc : sl_http_conf_check(&s->http, "slack", err);
    if (rc == SL_OK) {
        s->text = sl_http_tmpl_create(c->text, 0, err);
        rc = s->text == NULL ? SL_ECONFIG : SL_OK;
    }
    if (rc == SL_OK && c->blocks != NULL) {
        s->blocks = sl_http_tmpl_create(c->blocks, SL_HTTP_TMPL_JSON_ESCAPE,
                                        err);
        rc = s->blocks == NULL ? SL_ECONFIG : SL_OK;
    }
    if (rc != SL_OK) {
        slack_exit(ins);
    }
    return rc;
}

const struct sl_plugin sl_plugin_out_slack = {
    .abi = SL_PLUGIN_ABI,
    .kind = SL_PLUGIN_OUTPUT,
    .name = "slack",
    .description = "Post records as Slack incoming-webhook messages.",
    .options = slack_options,
    .conf_size = sizeof(struct slack_conf),
    .init = slack_init,
    .worker_init = slack_worker_init,
    .flush = slack_flush,
    .worker_exit = slack_worker_exit,
    .exit = slack_exit,
};
