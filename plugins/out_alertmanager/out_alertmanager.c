/*
 * out_alertmanager.c - records become Alertmanager alerts, POSTed as a
 * JSON array to /api/v2/alerts (protocols.md section 7.1).
 *
 * Each record gives one alert: "labels" are alertname, the static labels
 * and the values of the label_key accessors (empty values left out);
 * "annotations" are the annotation_key values plus summary (a template)
 * when set; "startsAt" is the record time; "endsAt" is now + resolve_after
 * (so the alert resolves by itself unless re-sent; 0 leaves it out);
 * "generatorURL" when configured.  Records of a batch go in one request
 * (split by batch_size).  2xx delivered, 4xx dropped to the dead-letter
 * queue with the answer, 5xx and no answer retried by the engine.
 *
 * Worker thread only (the shared HTTP client, sluice/http.h).
 */
#include <stdio.h>
#include <string.h>

#include "sluice/http.h"
#include "sluice/plugin.h"
#include "sluice/banned.h"

#define AM_MAX_KEYS 16

struct am_conf {
    struct sl_http_conf http;
    char *alertname;
    struct sl_kvlist labels;
    struct sl_strlist label_key;
    struct sl_strlist annotation_key;
    char *summary;
    char *generator_url;
    int64_t resolve_after; /* ms */
};

struct am_key {
    struct sl_accessor acc;
    char *name; /* label or annotation name */
};

struct am {
    const struct am_conf *conf;
    struct am_key labels[AM_MAX_KEYS];
    size_t nlabels;
    struct am_key annots[AM_MAX_KEYS];
    size_t nannots;
    struct sl_http_tmpl *summary;
};

struct am_worker {
    const struct am *am;
    struct sl_http_worker hw;
    struct sl_buf text;
};

static const struct sl_option am_options[] = {
    SL_HTTP_OPTIONS(struct am_conf, http, "9093", "1M"),
    { .name = "alertname",
      .type = SL_OPT_STR,
      .def = "SluiceLogAlert",
      SL_OPT_FIELD(struct am_conf, alertname),
      .desc = "The alertname label of every alert." },
    { .name = "labels",
      .type = SL_OPT_MAP,
      SL_OPT_FIELD(struct am_conf, labels),
      .desc = "Fixed labels added to every alert, e.g. {severity: "
              "warning}." },
    { .name = "label_key",
      .type = SL_OPT_LIST,
      .flags = SL_OPT_MULTI,
      SL_OPT_FIELD(struct am_conf, label_key),
      .desc = "Record accessors whose values become labels (the label "
              "name is the last key). Use stable values only: labels "
              "identify the alert." },
    { .name = "annotation_key",
      .type = SL_OPT_LIST,
      .flags = SL_OPT_MULTI,
      SL_OPT_FIELD(struct am_conf, annotation_key),
      .desc = "Record accessors whose values become annotations." },
    { .name = "summary",
      .type = SL_OPT_TEMPLATE,
      SL_OPT_FIELD(struct am_conf, summary),
      .desc = "Template of the summary annotation, e.g. \"${service}: "
              "${message}\"." },
    { .name = "generator_url",
      .type = SL_OPT_STR,
      SL_OPT_FIELD(struct am_conf, generator_url),
      .desc = "The generatorURL of every alert (a link back to the "
              "source)." },
    { .name = "resolve_after",
      .type = SL_OPT_TIME,
      .def = "5m",
      .max = 30 * 24 * 3600 * 1000LL,
      SL_OPT_FIELD(struct am_conf, resolve_after),
      .desc = "endsAt is this long after sending, so an alert that is not "
              "sent again resolves by itself; 0 sends no endsAt." },
    SL_OPT_END,
};

static int am_begin(struct sl_http_flush *f, struct sl_http_request *req,
                    void *arg)
{
    int rc;

    (void)f;
    (void)arg;
    rc = sl_http_request_set_target(req, "POST", "/api/v2/alerts");
    rc = rc ? rc
            : sl_http_request_add_header(req, "Content-Type: application/json");
    return rc ? rc : sl_buf_putc(sl_http_request_body(req), '[');
}

static int am_end(struct sl_http_flush *f, struct sl_http_request *req,
                  void *arg)
{
    (void)f;
    (void)arg;
    return sl_buf_putc(sl_http_request_body(req), ']');
}

/* ,"<name>":"<value>" for each key with a non-empty value. */
static int am_pairs(struct am_worker *wk, struct sl_buf *b,
                    const struct am_key *keys, size_t n,
                    const struct sl_json *dom, bool *first)
{
    struct sl_str s;
    size_t i;
    int rc = SL_OK;

    for (i = 0; rc == SL_OK && i < n; i++) {
        const struct sl_json *v = dom != NULL
                                      ? sl_accessor_get(&keys[i].acc, dom)
                                      : NULL;

        sl_buf_reset(&wk->hw.scratch);
        if (v == NULL || !sl_json_scalar_text(v, &wk->hw.scratch, &s) ||
            s.len == 0) {
            continue;
        }
        rc = sl_buf_append_str(b, *first ? "" : ",");
        rc = rc ? rc : sl_json_write_string(b, keys[i].name,
                                            strlen(keys[i].name));
        rc = rc ? rc : sl_buf_putc(b, ':');
        rc = rc ? rc : sl_json_write_string(b, s.ptr, s.len);
        *first = false;
    }
    return rc;
}

static int am_labels(struct am_worker *wk, struct sl_buf *b,
                     const struct sl_json *dom)
{
    const struct am_conf *c = wk->am->conf;
    bool first = false;
    size_t i;
    int rc = sl_buf_append_str(b, "{\"labels\":{\"alertname\":");

    rc = rc ? rc : sl_json_write_string(b, c->alertname, strlen(c->alertname));
    for (i = 0; rc == SL_OK && i < c->labels.n; i++) {
        rc = sl_buf_putc(b, ',');
        rc = rc ? rc : sl_json_write_string(b, c->labels.k[i],
                                            strlen(c->labels.k[i]));
        rc = rc ? rc : sl_buf_putc(b, ':');
        rc = rc ? rc : sl_json_write_string(b, c->labels.v[i],
                                            strlen(c->labels.v[i]));
    }
    rc = rc ? rc : am_pairs(wk, b, wk->am->labels, wk->am->nlabels, dom,
                            &first);
    return rc ? rc : sl_buf_putc(b, '}');
}

static int am_annotations(struct am_worker *wk, struct sl_buf *b,
                          const struct sl_event *ev, struct sl_str tag,
                          const struct sl_json *dom)
{
    bool first = true;
    int rc = sl_buf_append_str(b, ",\"annotations\":{");

    if (rc == SL_OK && wk->am->summary != NULL) {
        sl_buf_reset(&wk->text);
        rc = sl_http_tmpl_render(wk->am->summary, tag, ev->ts_ns, dom,
                                 &wk->hw.scratch, &wk->text);
        rc = rc ? rc : sl_buf_append_str(b, "\"summary\":");
        rc = rc ? rc : sl_json_write_string(b, wk->text.data != NULL
                                                   ? wk->text.data
                                                   : "",
                                            wk->text.len);
        first = false;
    }
    rc = rc ? rc : am_pairs(wk, b, wk->am->annots, wk->am->nannots, dom,
                            &first);
    return rc ? rc : sl_buf_putc(b, '}');
}

static int am_times(struct am_worker *wk, struct sl_buf *b,
                    const struct sl_event *ev)
{
    const struct am_conf *c = wk->am->conf;
    char ts[48];
    int rc;

    sl_time_format_rfc3339(ev->ts_ns, 3, ts, sizeof(ts));
    rc = sl_buf_printf(b, ",\"startsAt\":\"%s\"", ts);
    if (rc == SL_OK && c->resolve_after > 0) {
        sl_time_format_rfc3339(sl_time_now_ns() + c->resolve_after * 1000000,
                               3, ts, sizeof(ts));
        rc = sl_buf_printf(b, ",\"endsAt\":\"%s\"", ts);
    }
    if (rc == SL_OK && c->generator_url != NULL) {
        rc = sl_buf_append_str(b, ",\"generatorURL\":");
        rc = rc ? rc : sl_json_write_string(b, c->generator_url,
                                            strlen(c->generator_url));
    }
    return rc;
}

static int am_record(struct sl_http_flush *f, size_t i, bool first,
                     struct sl_buf *body, void *arg)
{
    struct am_worker *wk = arg;
    const struct sl_event *ev = sl_http_flush_event(f, i);
    struct sl_str tag = sl_batch_tag(sl_http_flush_batch(f));
    struct sl_json *dom = sl_http_worker_parse(&wk->hw, ev);
    int rc;

    rc = first ? SL_OK : sl_buf_putc(body, ',');
    rc = rc ? rc : am_labels(wk, body, dom);
    rc = rc ? rc : am_annotations(wk, body, ev, tag, dom);
    rc = rc ? rc : am_times(wk, body, ev);
    return rc ? rc : sl_buf_putc(body, '}');
}

static enum sl_flush_result am_flush(struct sl_batch *b, struct sl_worker *w)
{
    static const struct sl_http_ops ops = { .begin = am_begin,
                                            .record = am_record,
                                            .end = am_end };

    struct am_worker *wk = sl_worker_ctx(w);

    return sl_http_flush_run(wk->hw.http, b, &ops, wk);
}

static void am_worker_exit(struct sl_instance *ins, struct sl_worker *w)
{
    struct am_worker *wk = sl_worker_ctx(w);

    (void)ins;
    if (wk == NULL) {
        return;
    }
    sl_http_worker_fini(&wk->hw);
    sl_buf_fini(&wk->text);
    sl_free(wk);
    sl_worker_set_ctx(w, NULL);
}

static int am_worker_init(struct sl_instance *ins, struct sl_worker *w,
                          struct sl_err *err)
{
    struct am_worker *wk = sl_calloc(1, sizeof(*wk));

    if (wk == NULL) {
        return sl_err_set(err, SL_ENOMEM, "alertmanager: out of memory");
    }
    wk->am = sl_instance_ctx(ins);
    sl_buf_init(&wk->text, 0);
    sl_worker_set_ctx(w, wk);
    if (sl_http_worker_init(&wk->hw, w, &wk->am->conf->http, err) != SL_OK) {
        am_worker_exit(ins, w);
        return SL_ECONFIG;
    }
    return SL_OK;
}

static void am_keys_free(struct am_key *keys, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        sl_accessor_fini(&keys[i].acc);
        sl_free(keys[i].name);
    }
}

static void am_exit(struct sl_instance *ins)
{
    struct am *am = sl_instance_ctx(ins);

    if (am == NULL) {
        return;
    }
    am_keys_free(am->labels, am->nlabels);
    am_keys_free(am->annots, am->nannots);
    sl_http_tmpl_destroy(am->summary);
    sl_free(am);
    sl_instance_set_ctx(ins, NULL);
}

/* Compiles accessors; the name is the last key of each. */
static int am_keys(const struct sl_strlist *l, struct am_key *keys,
                   size_t *n, struct sl_err *err)
{
    size_t i;

    if (l->n > AM_MAX_KEYS) {
        return sl_err_set(err, SL_ECONFIG, "alertmanager: at most %d keys",
                          AM_MAX_KEYS);
    }
    for (i = 0; i < l->n; i++) {
        const struct sl_accessor_step *st;

        if (sl_accessor_compile(&keys[i].acc, l->v[i], err) != SL_OK) {
            return SL_ECONFIG;
        }
        (*n)++;
        st = &keys[i].acc.steps[keys[i].acc.n - 1];
        if (st->is_index || st->key.len == 0) {
            return sl_err_set(err, SL_ECONFIG,
                              "alertmanager: '%s' must end with a key",
                              l->v[i]);
        }
        keys[i].name = sl_malloc(st->key.len + 1);
        if (keys[i].name == NULL) {
            return sl_err_set(err, SL_ENOMEM, "alertmanager: out of memory");
        }
        memcpy(keys[i].name, st->key.ptr, st->key.len);
        keys[i].name[st->key.len] = '\0';
    }
    return SL_OK;
}

static int am_init(struct sl_instance *ins, void *conf, struct sl_err *err)
{
    const struct am_conf *c = conf;
    struct am *am = sl_calloc(1, sizeof(*am));
    int rc;

    if (am == NULL) {
        return sl_err_set(err, SL_ENOMEM, "alertmanager: out of memory");
    }
    am->conf = c;
    sl_instance_set_ctx(ins, am);
    rc = sl_http_conf_check(&c->http, "alertmanager", err);
    rc = rc ? rc : am_keys(&c->label_key, am->labels, &am->nlabels, err);
    rc = rc ? rc : am_keys(&c->annotation_key, am->annots, &am->nannots, err);
    if (rc == SL_OK && c->summary != NULL) {
        am->summary = sl_http_tmpl_create(c->summary, 0, err);
        rc = am->summary == NULL ? SL_ECONFIG : SL_OK;
    }
    if (rc == SL_OK && (c->alertname == NULL || c->alertname[0] == '\0')) {
        rc = sl_err_set(err, SL_ECONFIG, "alertmanager: alertname is empty");
    }
    if (rc != SL_OK) {
        am_exit(ins);
    }
    return rc;
}

const struct sl_plugin sl_plugin_out_alertmanager = {
    .abi = SL_PLUGIN_ABI,
    .kind = SL_PLUGIN_OUTPUT,
    .name = "alertmanager",
    .description = "Send records as alerts to Alertmanager's "
                   "/api/v2/alerts.",
    .options = am_options,
    .conf_size = sizeof(struct am_conf),
    .init = am_init,
    .worker_init = am_worker_init,
    .flush = am_flush,
    .worker_exit = am_worker_exit,
    .exit = am_exit,
};
