/*
 * out_kafka.c - produce records to Kafka with librdkafka.
 *
 * Each worker thread owns one producer.  A flush produces every record of
 * the batch (the payload is the record's JSON, referenced without a copy:
 * the batch stays valid until it completes) and returns PENDING; the batch
 * completes when the last delivery report arrives.  Reports are served by
 * rd_kafka_poll on the worker's loop, woken through a pipe that librdkafka
 * writes to when its main queue becomes non-empty
 * (rd_kafka_queue_io_event_enable), with a timer as a safety net.
 *
 * Outcome per record: delivered (persisted with acks=all), permanently
 * failed (message too large, invalid or corrupt record: sent to the
 * dead-letter queue through sl_batch_fail_record) or failed for now
 * (timeout, purge, unknown topic, authorization, local queue full: retried
 * by the engine with backoff).  A chunk is thus acknowledged only when
 * every message's delivery report succeeded.  A full local queue
 * (queue.buffering.max.*) fails the rest of the batch for now, which keeps
 * the batch in sluice's buffer and lets the input backpressure apply.
 *
 * A fatal producer error (idempotence broken) makes the next flush build a
 * new producer; messages of the old one come back as purged and retried.
 *
 * Threads: init/exit on the main thread; everything else on the worker's
 * loop.  librdkafka's own threads only call the log callback.
 */
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <inttypes.h>
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "sluice/plugin.h"
#include "sluice/template.h"
#include "sluice/banned.h"

#define KAFKA_POLL_MS 100
#define KAFKA_EXIT_FLUSH_MS 2000

enum kafka_format { KAFKA_JSON, KAFKA_RAW };

struct out_kafka_conf {
    char *brokers;
    char *topic;
    char *message_key;
    int format;
    char *raw_key;
    struct sl_kvlist rdkafka;
};

struct out_kafka {
    const struct out_kafka_conf *conf;
    struct sl_template *topic;
    struct sl_template *key; /* NULL: no key */
    struct sl_accessor raw;
    bool topic_literal;
    bool need_dom;
};

/* One produced message: who to tell when its report arrives. */
struct kafka_msg {
    struct out_kafka_worker *wk;
    size_t index;
};

struct out_kafka_worker {
    const struct out_kafka *k;
    struct sl_instance *ins;
    struct event_base *base;
    rd_kafka_t *rk;
    rd_kafka_queue_t *mainq;
    int pipefd[2];
    struct event *ev_wake;
    struct event *ev_timer;
    rd_kafka_topic_t *rkt; /* the last topic used */
    struct sl_buf topic;   /* its name */
    struct sl_buf scratch;
    struct sl_buf key;
    struct sl_arena arena;
    struct kafka_msg *msgs;
    size_t msgs_cap;
    struct sl_batch *pending;
    size_t outstanding;
    bool failed;
    bool fatal;
    bool in_flush;
    bool early_done;
    enum sl_flush_result early_result;
};

static const char *const kafka_formats[] = { "json", "raw", NULL };

static const struct sl_option out_kafka_options[] = {
    { .name = "brokers",
      .type = SL_OPT_STR,
      .flags = SL_OPT_REQUIRED,
      SL_OPT_FIELD(struct out_kafka_conf, brokers),
      .desc = "Bootstrap brokers, host:port separated by commas." },
    { .name = "topic",
      .type = SL_OPT_TEMPLATE,
      .def = "logs",
      SL_OPT_FIELD(struct out_kafka_conf, topic),
      .desc = "Topic of each record: a template such as 'logs.${tag}' or "
              "'$service' (see the template syntax in "
              "docs/configuration.md)." },
    { .name = "message_key",
      .type = SL_OPT_TEMPLATE,
      SL_OPT_FIELD(struct out_kafka_conf, message_key),
      .desc = "Kafka message key: a template, e.g. '$host' for the "
              "record's host field; records with the same key keep their "
              "order. Unset: no key (records are spread over partitions)." },
    { .name = "format",
      .type = SL_OPT_ENUM,
      .def = "json",
      .choices = kafka_formats,
      SL_OPT_FIELD(struct out_kafka_conf, format),
      .desc = "Message value: json (the record as compact JSON) or raw (the "
              "bytes of the string field raw_key; records without it are "
              "sent as JSON)." },
    { .name = "raw_key",
      .type = SL_OPT_STR,
      .def = "log",
      SL_OPT_FIELD(struct out_kafka_conf, raw_key),
      .desc = "With format raw: the record key whose value is sent." },
    { .name = "rdkafka",
      .type = SL_OPT_MAP,
      SL_OPT_FIELD(struct out_kafka_conf, rdkafka),
      .desc = "librdkafka producer properties passed as they are, as a map "
              "('rdkafka: {linger.ms: 50, compression.type: zstd}'). Set "
              "after sluice's defaults (enable.idempotence true, acks all, "
              "compression.type lz4, message.timeout.ms 60000), so they "
              "override them." },
    SL_OPT_END,
};

/* ---- producer ---- */

static void kafka_log_cb(const rd_kafka_t *rk, int level, const char *fac,
                         const char *buf)
{
    struct sl_instance *ins = rd_kafka_opaque(rk);

    if (level <= 3) {
        sl_log_warn(ins, "librdkafka %s: %s", fac, buf);
    } else if (level <= 5) {
        sl_log_info(ins, "librdkafka %s: %s", fac, buf);
    } else {
        sl_log_debug(ins, "librdkafka %s: %s", fac, buf);
    }
}

static void kafka_error_cb(rd_kafka_t *rk, int err, const char *reason,
                           void *opaque)
{
    struct sl_instance *ins = opaque;
    char buf[256];

    if (err == RD_KAFKA_RESP_ERR__FATAL) {
        rd_kafka_fatal_error(rk, buf, sizeof(buf));
        sl_log_error(ins, "fatal producer error, recreating it: %s", buf);
        return;
    }
    sl_log_warn(ins, "%s: %s", rd_kafka_err2name(err), reason);
}

/* True when the failure is final: the message will never be accepted. */
static bool kafka_err_permanent(rd_kafka_resp_err_t err)
{
    switch (err) {
    case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
    case RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE:
    case RD_KAFKA_RESP_ERR_INVALID_RECORD:
    case RD_KAFKA_RESP_ERR_INVALID_MSG:
    case RD_KAFKA_RESP_ERR_INVALID_MSG_SIZE:
        return true;
    default:
        return false;
    }
}

static void kafka_complete(struct out_kafka_worker *wk)
{
    struct sl_batch *b = wk->pending;
    enum sl_flush_result r = wk->failed ? SL_FLUSH_PARTIAL : SL_FLUSH_OK;

    if (b == NULL) {
        return;
    }
    wk->pending = NULL;
    if (wk->in_flush) {
        wk->early_done = true;
        wk->early_result = r;
        return;
    }
    sl_batch_done(b, r);
}

/* Marks record <index> of the pending batch as failed. */
static void kafka_fail(struct out_kafka_worker *wk, size_t index,
                       rd_kafka_resp_err_t err)
{
    bool perm = kafka_err_permanent(err);

    wk->failed = true;
    if (wk->pending != NULL) {
        sl_batch_fail_record(wk->pending, index, perm, rd_kafka_err2str(err));
    }
}

static void kafka_dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m,
                        void *opaque)
{
    struct kafka_msg *km = m->_private;
    struct out_kafka_worker *wk;

    (void)rk;
    (void)opaque;
    if (km == NULL) {
        return;
    }
    wk = km->wk;
    if (wk->pending == NULL) {
        return; /* abandoned at a hard stop */
    }
    if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        kafka_fail(wk, km->index, m->err);
    }
    if (wk->outstanding > 0 && --wk->outstanding == 0) {
        kafka_complete(wk);
    }
}

static int kafka_conf_set(rd_kafka_conf_t *conf, const char *k, const char *v,
                          struct sl_err *err)
{
    char errstr[512];

    if (rd_kafka_conf_set(conf, k, v, errstr, sizeof(errstr)) !=
        RD_KAFKA_CONF_OK) {
        return sl_err_set(err, SL_ECONFIG, "kafka: rdkafka.%s: %s", k, errstr);
    }
    return SL_OK;
}

/* Builds the producer configuration: sluice's defaults, then the user's
 * rdkafka map.  Takes nothing; returns a conf the caller owns. */
static rd_kafka_conf_t *kafka_conf_new(const struct out_kafka_conf *c,
                                       struct sl_instance *ins,
                                       struct sl_err *err)
{
    static const char *const defs[][2] = {
        { "enable.idempotence", "true" },  { "acks", "all" },
        { "compression.type", "lz4" },     { "message.timeout.ms", "60000" },
        { "log.connection.close", "false" },
    };
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char id[300];
    size_t i;
    int rc = SL_OK;

    snprintf(id, sizeof(id), "sluice-%s", sl_hostname());
    for (i = 0; i < sizeof(defs) / sizeof(defs[0]) && rc == SL_OK; i++) {
        rc = kafka_conf_set(conf, defs[i][0], defs[i][1], err);
    }
    if (rc == SL_OK) {
        rc = kafka_conf_set(conf, "client.id", id, err);
    }
    if (rc == SL_OK) {
        rc = kafka_conf_set(conf, "bootstrap.servers", c->brokers, err);
    }
    for (i = 0; i < c->rdkafka.n && rc == SL_OK; i++) {
        rc = kafka_conf_set(conf, c->rdkafka.k[i], c->rdkafka.v[i], err);
    }
    if (rc != SL_OK) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    rd_kafka_conf_set_opaque(conf, ins);
    rd_kafka_conf_set_log_cb(conf, kafka_log_cb);
    rd_kafka_conf_set_error_cb(conf, kafka_error_cb);
    rd_kafka_conf_set_dr_msg_cb(conf, kafka_dr_cb);
    return conf;
}

static void kafka_producer_destroy(struct out_kafka_worker *wk)
{
    if (wk->rk == NULL) {
        return;
    }
    if (wk->rkt != NULL) {
        rd_kafka_topic_destroy(wk->rkt);
        wk->rkt = NULL;
    }
    sl_buf_reset(&wk->topic);
    if (wk->mainq != NULL) {
        rd_kafka_queue_io_event_enable(wk->mainq, -1, NULL, 0);
        rd_kafka_queue_destroy(wk->mainq);
        wk->mainq = NULL;
    }
    rd_kafka_destroy(wk->rk);
    wk->rk = NULL;
}

static int kafka_producer_create(struct out_kafka_worker *wk,
                                 struct sl_err *err)
{
    rd_kafka_conf_t *conf = kafka_conf_new(wk->k->conf, wk->ins, err);
    char errstr[512];

    if (conf == NULL) {
        return err->rc;
    }
    wk->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    if (wk->rk == NULL) {
        rd_kafka_conf_destroy(conf);
        return sl_err_set(err, SL_ECONFIG, "kafka: cannot create the "
                                           "producer: %s", errstr);
    }
    wk->mainq = rd_kafka_queue_get_main(wk->rk);
    rd_kafka_queue_io_event_enable(wk->mainq, wk->pipefd[1], "1", 1);
    wk->fatal = false;
    return SL_OK;
}

/* ---- worker loop ---- */

static void kafka_serve(struct out_kafka_worker *wk)
{
    char drain[64];

    while (read(wk->pipefd[0], drain, sizeof(drain)) > 0) {
    }
    if (wk->rk != NULL) {
        rd_kafka_poll(wk->rk, 0);
        if (rd_kafka_fatal_error(wk->rk, NULL, 0) != 0) {
            wk->fatal = true;
        }
    }
}

static void kafka_wake_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    kafka_serve(arg);
}

/* Topic handle for <name>, kept while consecutive records share it. */
static rd_kafka_topic_t *kafka_topic(struct out_kafka_worker *wk,
                                     struct sl_str name)
{
    if (wk->rkt != NULL && sl_str_eq(name, sl_buf_str(&wk->topic))) {
        return wk->rkt;
    }
    if (wk->rkt != NULL) {
        rd_kafka_topic_destroy(wk->rkt);
        wk->rkt = NULL;
    }
    sl_buf_reset(&wk->topic);
    if (sl_buf_append(&wk->topic, name.ptr, name.len) != SL_OK) {
        return NULL;
    }
    wk->rkt = rd_kafka_topic_new(wk->rk, wk->topic.data, NULL);
    return wk->rkt;
}

/* Renders the topic, key and value of one record into the worker's
 * buffers.  *<copy> tells whether the value must be copied. */
static int kafka_render(struct out_kafka_worker *wk, struct sl_str tag,
                        const struct sl_event *ev, struct sl_str *value,
                        bool *copy)
{
    const struct out_kafka *k = wk->k;
    struct sl_template_input in = { .tag = tag, .ts_ns = ev->ts_ns };
    struct sl_json *root = NULL, *raw;
    int rc = SL_OK;

    *value = ev->body;
    *copy = false;
    sl_buf_reset(&wk->scratch);
    sl_buf_reset(&wk->key);
    if (k->need_dom) {
        sl_arena_reset(&wk->arena);
        if (sl_json_parse(&wk->arena, ev->body.ptr, ev->body.len, &root,
                          NULL) != SL_OK) {
            root = NULL;
        }
    }
    in.root = root;
    rc = sl_template_render(k->topic, &in, 0, &wk->scratch);
    if (rc == SL_OK && k->key != NULL) {
        rc = sl_template_render(k->key, &in, 0, &wk->key);
    }
    if (rc == SL_OK && k->conf->format == KAFKA_RAW && root != NULL) {
        raw = sl_accessor_get(&k->raw, root);
        if (raw != NULL && raw->type == SL_JSON_STRING) {
            *value = raw->u.str;
            *copy = true; /* the DOM is reset by the next record */
        }
    }
    return rc;
}

/* Produces one record; returns librdkafka's immediate error. */
static rd_kafka_resp_err_t kafka_produce(struct out_kafka_worker *wk,
                                         struct sl_str tag,
                                         const struct sl_event *ev,
                                         struct kafka_msg *km)
{
    struct sl_str value;
    rd_kafka_topic_t *rkt;
    const char *key;
    bool copy;

    if (kafka_render(wk, tag, ev, &value, &copy) != SL_OK ||
        wk->scratch.len == 0) {
        return RD_KAFKA_RESP_ERR__INVALID_ARG;
    }
    rkt = kafka_topic(wk, sl_buf_str(&wk->scratch));
    if (rkt == NULL) {
        return RD_KAFKA_RESP_ERR__INVALID_ARG;
    }
    key = wk->key.len != 0 ? wk->key.data : NULL;
    return rd_kafka_producev(
        wk->rk, RD_KAFKA_V_RKT(rkt),
        RD_KAFKA_V_MSGFLAGS(copy ? RD_KAFKA_MSG_F_COPY : 0),
        RD_KAFKA_V_VALUE((void *)value.ptr, value.len),
        RD_KAFKA_V_KEY(key, wk->key.len),
        RD_KAFKA_V_TIMESTAMP(ev->ts_ns / SL_NS_PER_MS),
        RD_KAFKA_V_OPAQUE(km), RD_KAFKA_V_END);
}

/* Produces, with one round of report serving when the local queue is
 * full. */
static rd_kafka_resp_err_t kafka_produce_one(struct out_kafka_worker *wk,
                                             struct sl_str tag,
                                             const struct sl_event *ev,
                                             struct kafka_msg *km)
{
    rd_kafka_resp_err_t e = kafka_produce(wk, tag, ev, km);

    if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
        rd_kafka_poll(wk->rk, 10);
        e = kafka_produce(wk, tag, ev, km);
    }
    return e;
}

static int kafka_msgs_reserve(struct out_kafka_worker *wk, size_t n)
{
    struct kafka_msg *m;

    if (n <= wk->msgs_cap) {
        return SL_OK;
    }
    m = sl_realloc(wk->msgs, n * sizeof(*m));
    if (m == NULL) {
        return SL_ENOMEM;
    }
    wk->msgs = m;
    wk->msgs_cap = n;
    return SL_OK;
}

/* Produces every record of <b>; once the local queue stays full, the rest
 * fail for now. */
static void kafka_produce_batch(struct out_kafka_worker *wk, struct sl_batch *b)
{
    struct sl_str tag = sl_batch_tag(b);
    struct sl_batch_iter it;
    struct sl_event ev;
    rd_kafka_resp_err_t e = RD_KAFKA_RESP_ERR_NO_ERROR;
    size_t i = 0;

    sl_batch_iter_init(b, &it);
    while (sl_batch_next(b, &it, &ev)) {
        struct kafka_msg *km = &wk->msgs[i++];

        km->wk = wk;
        km->index = ev.index;
        if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            e = kafka_produce_one(wk, tag, &ev, km);
        }
        if (e == RD_KAFKA_RESP_ERR_NO_ERROR) {
            wk->outstanding++;
        } else {
            kafka_fail(wk, ev.index, e);
            if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
                sl_batch_set_error(b, "produce: %s", rd_kafka_err2str(e));
                e = RD_KAFKA_RESP_ERR_NO_ERROR;
            }
        }
    }
    if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
        sl_batch_set_error(b, "librdkafka's local queue is full");
    }
}

static enum sl_flush_result out_kafka_flush(struct sl_batch *b,
                                            struct sl_worker *w)
{
    struct out_kafka_worker *wk = sl_worker_ctx(w);
    struct sl_err err = { 0 };

    if (wk->pending != NULL) {
        sl_batch_set_error(b, "a batch is already in flight");
        return SL_FLUSH_RETRY;
    }
    if (wk->fatal) {
        kafka_producer_destroy(wk);
    }
    if (wk->rk == NULL && kafka_producer_create(wk, &err) != SL_OK) {
        sl_batch_set_error(b, "%s", err.msg);
        return SL_FLUSH_RETRY;
    }
    if (kafka_msgs_reserve(wk, sl_batch_count(b)) != SL_OK) {
        sl_batch_set_error(b, "out of memory");
        return SL_FLUSH_RETRY;
    }
    wk->pending = b;
    wk->failed = false;
    wk->outstanding = 0;
    wk->early_done = false;
    wk->in_flush = true;
    kafka_produce_batch(wk, b);
    if (wk->outstanding == 0) {
        kafka_complete(wk);
    } else {
        rd_kafka_poll(wk->rk, 0);
    }
    wk->in_flush = false;
    return wk->early_done ? wk->early_result : SL_FLUSH_PENDING;
}

static void kafka_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    kafka_serve(arg);
}

static void kafka_worker_free(struct out_kafka_worker *wk)
{
    if (wk->ev_wake != NULL) {
        event_free(wk->ev_wake);
    }
    if (wk->ev_timer != NULL) {
        event_free(wk->ev_timer);
    }
    if (wk->pipefd[0] >= 0) {
        close(wk->pipefd[0]);
        close(wk->pipefd[1]);
    }
    sl_buf_fini(&wk->topic);
    sl_buf_fini(&wk->scratch);
    sl_buf_fini(&wk->key);
    sl_arena_fini(&wk->arena);
    sl_free(wk->msgs);
    sl_free(wk);
}

static int kafka_worker_events(struct out_kafka_worker *wk)
{
    struct timeval tv = { .tv_sec = 0, .tv_usec = KAFKA_POLL_MS * 1000 };

    if (pipe2(wk->pipefd, O_NONBLOCK | O_CLOEXEC) != 0) {
        wk->pipefd[0] = wk->pipefd[1] = -1;
        return sl_rc_from_errno(errno);
    }
    wk->ev_wake = event_new(wk->base, wk->pipefd[0], EV_READ | EV_PERSIST,
                            kafka_wake_cb, wk);
    wk->ev_timer = event_new(wk->base, -1, EV_PERSIST, kafka_timer_cb, wk);
    if (wk->ev_wake == NULL || wk->ev_timer == NULL ||
        event_add(wk->ev_wake, NULL) != 0 ||
        event_add(wk->ev_timer, &tv) != 0) {
        return SL_ENOMEM;
    }
    return SL_OK;
}

static int out_kafka_worker_init(struct sl_instance *ins, struct sl_worker *w,
                                 struct sl_err *err)
{
    struct out_kafka_worker *wk = sl_calloc(1, sizeof(*wk));
    int rc;

    if (wk == NULL) {
        return sl_err_set(err, SL_ENOMEM, "kafka: out of memory");
    }
    wk->k = sl_instance_ctx(ins);
    wk->ins = ins;
    wk->base = sl_worker_base(w);
    wk->pipefd[0] = wk->pipefd[1] = -1;
    sl_buf_init(&wk->topic, 0);
    sl_buf_init(&wk->scratch, 0);
    sl_buf_init(&wk->key, 0);
    sl_arena_init(&wk->arena, 16 * 1024, 0);
    rc = kafka_worker_events(wk);
    if (rc != SL_OK) {
        sl_err_set(err, rc, "kafka: cannot set up the worker's events");
        goto fail;
    }
    rc = kafka_producer_create(wk, err);
    if (rc != SL_OK) {
        goto fail;
    }
    sl_worker_set_ctx(w, wk);
    return SL_OK;
fail:
    kafka_worker_free(wk);
    return rc;
}

/* Sends what is queued within a short bound, then drops the producer.  A
 * batch still pending (hard stop) is abandoned by the engine: its reports
 * must not complete it, so pending is cleared first. */
static void out_kafka_worker_exit(struct sl_instance *ins, struct sl_worker *w)
{
    struct out_kafka_worker *wk = sl_worker_ctx(w);

    (void)ins;
    if (wk == NULL) {
        return;
    }
    wk->pending = NULL;
    if (wk->rk != NULL) {
        if (rd_kafka_flush(wk->rk, KAFKA_EXIT_FLUSH_MS) != 0) {
            sl_log_warn(wk->ins, "%d messages not confirmed at exit; their "
                                 "chunks stay buffered",
                        rd_kafka_outq_len(wk->rk));
            rd_kafka_purge(wk->rk,
                           RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
            rd_kafka_poll(wk->rk, 0);
        }
    }
    kafka_producer_destroy(wk);
    kafka_worker_free(wk);
    sl_worker_set_ctx(w, NULL);
}

/* ---- init ---- */

static void out_kafka_exit(struct sl_instance *ins)
{
    struct out_kafka *k = sl_instance_ctx(ins);

    if (k == NULL) {
        return;
    }
    sl_template_destroy(k->topic);
    sl_template_destroy(k->key);
    if (k->raw.text != NULL) {
        sl_accessor_fini(&k->raw);
    }
    sl_free(k);
    sl_instance_set_ctx(ins, NULL);
}

/* Checks the producer configuration once, so that mistakes fail at
 * start-up rather than at the first flush. */
static int kafka_conf_check(const struct out_kafka_conf *c,
                            struct sl_instance *ins, struct sl_err *err)
{
    rd_kafka_conf_t *conf = kafka_conf_new(c, ins, err);

    if (conf == NULL) {
        return err->rc;
    }
    rd_kafka_conf_destroy(conf);
    return SL_OK;
}

static int out_kafka_init(struct sl_instance *ins, void *conf,
                          struct sl_err *err)
{
    const struct out_kafka_conf *c = conf;
    struct out_kafka *k = sl_calloc(1, sizeof(*k));
    int rc;

    if (k == NULL) {
        return sl_err_set(err, SL_ENOMEM, "kafka: out of memory");
    }
    k->conf = c;
    sl_instance_set_ctx(ins, k);
    rc = sl_template_compile(c->topic, &k->topic, err);
    if (rc == SL_OK && c->message_key != NULL) {
        rc = sl_template_compile(c->message_key, &k->key, err);
    }
    if (rc == SL_OK && c->format == KAFKA_RAW) {
        rc = sl_accessor_compile(&k->raw, c->raw_key, err);
    }
    if (rc == SL_OK) {
        rc = kafka_conf_check(c, ins, err);
    }
    if (rc != SL_OK) {
        goto fail;
    }
    k->need_dom = !sl_template_is_literal(k->topic) ||
                  (k->key != NULL && !sl_template_is_literal(k->key)) ||
                  c->format == KAFKA_RAW;
    return SL_OK;
fail:
    out_kafka_exit(ins);
    return rc;
}

const struct sl_plugin sl_plugin_out_kafka = {
    .abi = SL_PLUGIN_ABI,
    .kind = SL_PLUGIN_OUTPUT,
    .name = "kafka",
    .description = "Produce records to Kafka topics with librdkafka, "
                   "acknowledged by delivery reports.",
    .options = out_kafka_options,
    .conf_size = sizeof(struct out_kafka_conf),
    .init = out_kafka_init,
    .worker_init = out_kafka_worker_init,
    .flush = out_kafka_flush,
    .worker_exit = out_kafka_worker_exit,
    .exit = out_kafka_exit,
};
