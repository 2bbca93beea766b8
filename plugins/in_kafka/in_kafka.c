/*
 * in_kafka.c - consume Kafka topics as a member of a consumer group.
 *
 * The consumer is polled on the main loop, never blocking it: librdkafka
 * writes a byte to a pipe when its consumer queue becomes non-empty
 * (rd_kafka_queue_io_event_enable), the loop wakes up and takes at most
 * KAFKA_IN_BURST messages with rd_kafka_consumer_poll(rk, 0), then yields
 * and re-arms itself when more may be waiting.  A timer (poll_ms) also
 * polls, which serves rebalances and keeps the member alive in its group
 * (max.poll.interval.ms) while the input is paused.
 *
 * At-least-once.  Offsets are not committed at poll time: after a burst is
 * appended, sl_input_commit() makes the records as durable as the storage
 * promises; then (commit_on: delivered, the default) the burst's offsets
 * wait in a ring until the engine reports every record before the
 * burst's mark delivered by every routed output (the delivered callback),
 * or (commit_on: durable) they are stored at once.  Stored offsets
 * (enable.auto.offset.store=false, rd_kafka_offsets_store) go out with
 * librdkafka's periodic commit, the commit before a revocation and the
 * final commit at close.  commit_on: delivered survives a crash with any
 * storage type; durable only with storage.type filesystem (records whose
 * offsets were committed are in chunk files and are sent on the next
 * start).
 *
 * Pause: the assigned partitions are paused (rd_kafka_pause_partitions);
 * the timer keeps polling.  Rebalance: assignments are taken as they come
 * (paused if the input is), and before a revocation the stored offsets
 * are committed synchronously; messages of revoked partitions not yet
 * stored are read again by the new owner (duplicates, never loss).
 *
 * Threads: everything runs on the main thread; librdkafka's own threads
 * only call the log callback and write to the wake-up pipe.
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
#include "sluice/banned.h"

#define KAFKA_IN_BURST 2000
#define KAFKA_IN_COMMIT_TRIES 20

enum kafka_in_format { KAFKA_IN_JSON, KAFKA_IN_RAW };

struct in_kafka_conf {
    char *brokers;
    struct sl_strlist topics;
    char *group_id;
    int format;
    int64_t poll_ms;
    char *tag_template;
    struct sl_kvlist rdkafka;
    int commit_on;
};

enum kafka_commit_on {
    KAFKA_COMMIT_AUTO,
    KAFKA_COMMIT_DELIVERED,
    KAFKA_COMMIT_DURABLE,
};

/* Offsets waiting for the records before <mark> to be delivered. */
struct kafka_pending {
    uint64_t mark;
    rd_kafka_topic_partition_list_t *offsets;
};

#define KAFKA_PENDING_MAX 1024

struct in_kafka {
    const struct in_kafka_conf *conf;
    struct sl_instance *ins;
    rd_kafka_t *rk;
    rd_kafka_queue_t *cq;
    int pipefd[2];
    struct event *ev_wake;
    struct event *ev_timer;
    rd_kafka_topic_partition_list_t *unstored; /* next offsets to store */
    struct kafka_pending pending[KAFKA_PENDING_MAX]; /* ring, oldest first */
    size_t pend_head, pend_n;
    struct sl_buf tag;
    bool paused;
    bool stopped;
    bool closed; /* left the group (rd_kafka_consumer_close done) */
    int commit_on; /* KAFKA_COMMIT_DELIVERED or _DURABLE (auto resolved) */
    struct sl_metric *m_errors;
};

static const char *const kafka_in_formats[] = { "json", "raw", NULL };
static const char *const kafka_in_commit_on[] = { "auto", "delivered",
                                                  "durable", NULL };

static const struct sl_option in_kafka_options[] = {
    { .name = "brokers",
      .type = SL_OPT_STR,
      .flags = SL_OPT_REQUIRED,
      SL_OPT_FIELD(struct in_kafka_conf, brokers),
      .desc = "Bootstrap brokers, host:port separated by commas." },
    { .name = "topics",
      .type = SL_OPT_LIST,
      .flags = SL_OPT_REQUIRED,
      SL_OPT_FIELD(struct in_kafka_conf, topics),
      .desc = "Topics to consume; a name starting with '^' is a regular "
              "expression matched against every topic of the cluster." },
    { .name = "group_id",
      .type = SL_OPT_STR,
      .def = "sluice",
      SL_OPT_FIELD(struct in_kafka_conf, group_id),
      .desc = "Consumer group: instances with the same group_id share the "
              "partitions." },
    { .name = "format",
      .type = SL_OPT_ENUM,
      .def = "json",
      .choices = kafka_in_formats,
      SL_OPT_FIELD(struct in_kafka_conf, format),
      .desc = "Message values: json (one JSON object each; anything else is "
              "kept as {\"log\": ...} and counted as a parse failure) or raw "
              "(through the input's parser, {\"log\": ...} without one)." },
    { .name = "poll_ms",
      .type = SL_OPT_TIME,
      .def = "100ms",
      .min = 1,
      .max = 10000,
      SL_OPT_FIELD(struct in_kafka_conf, poll_ms),
      .desc = "Poll the consumer at least this often, also while paused "
              "(messages themselves wake the loop at once)." },
    { .name = "tag_template",
      .type = SL_OPT_TEMPLATE,
      .def = "kafka.${topic}",
      SL_OPT_FIELD(struct in_kafka_conf, tag_template),
      .desc = "Tag of each record: ${topic} and ${partition} are replaced "
              "by the message's topic and partition." },
    { .name = "commit_on",
      .type = SL_OPT_ENUM,
      .def = "auto",
      .choices = kafka_in_commit_on,
      SL_OPT_FIELD(struct in_kafka_conf, commit_on),
      .desc = "When offsets may be committed: delivered (every output the "
              "records were routed to acknowledged them: at-least-once even "
              "with memory storage), durable (the records are in the "
              "input's storage: at-least-once across a crash only with "
              "storage.type filesystem, and offsets are committed sooner), "
              "or auto (durable with filesystem storage, else delivered)." },
    { .name = "rdkafka",
      .type = SL_OPT_MAP,
      SL_OPT_FIELD(struct in_kafka_conf, rdkafka),
      .desc = "librdkafka consumer properties passed as they are, as a map "
              "('rdkafka: {session.timeout.ms: 10000}'). Set after sluice's "
              "defaults (auto.offset.reset earliest, "
              "enable.auto.offset.store false, auto.commit.interval.ms "
              "250), so they override them." },
    SL_OPT_END,
};

/* ---- tag ---- */

/* Renders tag_template for <topic>/<partition> into k->tag. */
static int kafka_in_tag(struct in_kafka *k, const char *topic,
                        int32_t partition)
{
    const char *p = k->conf->tag_template, *v;
    int rc = SL_OK;

    sl_buf_reset(&k->tag);
    while (*p != '\0' && rc == SL_OK) {
        v = strchr(p, '$');
        if (v == NULL) {
            return sl_buf_append_str(&k->tag, p);
        }
        rc = sl_buf_append(&k->tag, p, (size_t)(v - p));
        if (rc != SL_OK) {
            break;
        }
        if (strncmp(v, "${topic}", 8) == 0) {
            rc = sl_buf_append_str(&k->tag, topic);
            p = v + 8;
        } else if (strncmp(v, "${partition}", 12) == 0) {
            rc = sl_buf_printf(&k->tag, "%" PRId32, partition);
            p = v + 12;
        } else {
            rc = sl_buf_putc(&k->tag, '$');
            p = v + 1;
        }
    }
    return rc;
}

/* ---- offsets ---- */

/* Remembers that everything before <offset> + 1 was appended. */
static void kafka_in_note(struct in_kafka *k, const rd_kafka_message_t *m)
{
    const char *topic = rd_kafka_topic_name(m->rkt);
    rd_kafka_topic_partition_t *tp;

    tp = rd_kafka_topic_partition_list_find(k->unstored, topic, m->partition);
    if (tp == NULL) {
        tp = rd_kafka_topic_partition_list_add(k->unstored, topic,
                                               m->partition);
    }
    tp->offset = m->offset + 1;
}

static void in_kafka_delivered(struct sl_instance *ins, uint64_t mark);

/* commit_on delivered: the noted offsets wait until every record appended
 * so far is delivered.  When the ring is full the newest entry absorbs
 * them (its mark moves forward: a later store, never an early one). */
static void kafka_in_defer(struct in_kafka *k)
{
    uint64_t mark = sl_input_mark(k->ins);
    struct kafka_pending *last;
    int i;

    if (k->pend_n < KAFKA_PENDING_MAX) {
        last = &k->pending[(k->pend_head + k->pend_n) % KAFKA_PENDING_MAX];
        last->mark = mark;
        last->offsets = k->unstored;
        k->pend_n++;
        k->unstored = rd_kafka_topic_partition_list_new(8);
    } else {
        last = &k->pending[(k->pend_head + k->pend_n - 1) % KAFKA_PENDING_MAX];
        for (i = 0; i < k->unstored->cnt; i++) {
            const rd_kafka_topic_partition_t *u = &k->unstored->elems[i];
            rd_kafka_topic_partition_t *tp = rd_kafka_topic_partition_list_find(
                last->offsets, u->topic, u->partition);

            if (tp == NULL) {
                tp = rd_kafka_topic_partition_list_add(last->offsets, u->topic,
                                                       u->partition);
            }
            tp->offset = u->offset;
        }
        last->mark = mark;
        rd_kafka_topic_partition_list_destroy(k->unstored);
        k->unstored = rd_kafka_topic_partition_list_new(8);
    }
    /* Everything may already be delivered (filtered out, unrouted). */
    in_kafka_delivered(k->ins, sl_input_delivered(k->ins));
}

/* Stores the noted offsets once the records are durable. */
static void kafka_in_store(struct in_kafka *k)
{
    rd_kafka_resp_err_t e;
    int rc;

    if (k->unstored->cnt == 0) {
        return;
    }
    rc = sl_input_commit(k->ins);
    if (rc != SL_OK) {
        /* Keep them: the next successful commit covers these records. */
        sl_log_warn(k->ins, "storage commit failed (%s); offsets not "
                            "stored yet",
                    sl_strerror(rc));
        return;
    }
    if (k->commit_on == KAFKA_COMMIT_DELIVERED) {
        kafka_in_defer(k);
        return;
    }
    e = rd_kafka_offsets_store(k->rk, k->unstored);
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
        /* A revoked partition: its new owner reads the records again. */
        sl_log_debug(k->ins, "offsets_store: %s", rd_kafka_err2str(e));
    }
    rd_kafka_topic_partition_list_destroy(k->unstored);
    k->unstored = rd_kafka_topic_partition_list_new(8);
}

/* Stores the offsets of every pending entry whose records are all
 * delivered (delivered callback, main thread). */
static void in_kafka_delivered(struct sl_instance *ins, uint64_t mark)
{
    struct in_kafka *k = sl_instance_ctx(ins);
    rd_kafka_resp_err_t e;

    while (k != NULL && k->pend_n > 0 &&
           k->pending[k->pend_head].mark <= mark) {
        struct kafka_pending *p = &k->pending[k->pend_head];

        e = rd_kafka_offsets_store(k->rk, p->offsets);
        if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
            sl_log_debug(k->ins, "offsets_store: %s", rd_kafka_err2str(e));
        }
        rd_kafka_topic_partition_list_destroy(p->offsets);
        p->offsets = NULL;
        k->pend_head = (k->pend_head + 1) % KAFKA_PENDING_MAX;
        k->pend_n--;
    }
}

/* ---- consuming ---- */

static void kafka_in_message(struct in_kafka *k, const rd_kafka_message_t *m)
{
    const char *topic = rd_kafka_topic_name(m->rkt);
    struct sl_str tag;
    const char *p = m->payload != NULL ? m->payload : "";

    if (kafka_in_tag(k, topic, m->partition) != SL_OK) {
        sl_buf_reset(&k->tag);
    }
    tag = k->tag.len > 0 ? sl_buf_str(&k->tag) : sl_instance_tag(k->ins);
    if (k->conf->format == KAFKA_IN_JSON) {
        sl_input_ingest_json(k->ins, tag, p, m->len);
    } else {
        sl_input_ingest(k->ins, tag, p, m->len);
    }
    kafka_in_note(k, m);
}

static void kafka_in_error(struct in_kafka *k, const rd_kafka_message_t *m)
{
    if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
        return;
    }
    sl_metric_add(k->m_errors, 1);
    sl_log_warn(k->ins, "consumer: %s", rd_kafka_message_errstr(m));
}

/* Takes up to KAFKA_IN_BURST messages without blocking; returns true when
 * more may be waiting. */
static bool kafka_in_burst(struct in_kafka *k)
{
    rd_kafka_message_t *m;
    int n;

    for (n = 0; n < KAFKA_IN_BURST && !k->stopped; n++) {
        if (sl_input_paused(k->ins)) {
            break;
        }
        m = rd_kafka_consumer_poll(k->rk, 0);
        if (m == NULL) {
            break;
        }
        if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
            kafka_in_error(k, m);
        } else {
            kafka_in_message(k, m);
        }
        rd_kafka_message_destroy(m);
    }
    if (!k->stopped) {
        kafka_in_store(k);
    }
    return n == KAFKA_IN_BURST;
}

static void kafka_in_wake_cb(evutil_socket_t fd, short what, void *arg)
{
    struct in_kafka *k = arg;
    char drain[64];

    (void)fd;
    (void)what;
    while (read(k->pipefd[0], drain, sizeof(drain)) > 0) {
    }
    if (k->stopped) {
        return;
    }
    if (k->paused || sl_input_paused(k->ins)) {
        /* Serve rebalances only; paused partitions deliver nothing. */
        rd_kafka_message_t *m = rd_kafka_consumer_poll(k->rk, 0);

        if (m != NULL) {
            if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
                kafka_in_message(k, m);
                kafka_in_store(k);
            }
            rd_kafka_message_destroy(m);
        }
        return;
    }
    if (kafka_in_burst(k)) {
        event_active(k->ev_wake, EV_READ, 0);
    }
}

/* ---- rebalance, pause ---- */

static void kafka_in_rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                                  rd_kafka_topic_partition_list_t *parts,
                                  void *opaque)
{
    struct in_kafka *k = rd_kafka_opaque(rk);

    (void)opaque;
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        sl_log_info(k->ins, "assigned %d partitions", parts->cnt);
        rd_kafka_assign(rk, parts);
        if (k->paused) {
            rd_kafka_pause_partitions(rk, parts);
        }
        return;
    }
    sl_log_info(k->ins, "revoking %d partitions", parts->cnt);
    if (!k->stopped) {
        kafka_in_store(k);
    }
    /* Commit what is durable before the partitions move. */
    rd_kafka_commit(rk, NULL, 0);
    rd_kafka_assign(rk, NULL);
}

static void kafka_in_set_paused(struct in_kafka *k, bool pause)
{
    rd_kafka_topic_partition_list_t *parts = NULL;

    if (k->paused == pause || k->rk == NULL) {
        return;
    }
    k->paused = pause;
    if (rd_kafka_assignment(k->rk, &parts) != RD_KAFKA_RESP_ERR_NO_ERROR ||
        parts == NULL) {
        return;
    }
    if (pause) {
        rd_kafka_pause_partitions(k->rk, parts);
    } else {
        rd_kafka_resume_partitions(k->rk, parts);
    }
    rd_kafka_topic_partition_list_destroy(parts);
}

static void in_kafka_pause(struct sl_instance *ins)
{
    kafka_in_set_paused(sl_instance_ctx(ins), true);
}

static void in_kafka_resume(struct sl_instance *ins)
{
    struct in_kafka *k = sl_instance_ctx(ins);

    kafka_in_set_paused(k, false);
    if (k->ev_wake != NULL && !k->stopped) {
        event_active(k->ev_wake, EV_READ, 0);
    }
}

/* ---- consumer ---- */

static void kafka_in_log_cb(const rd_kafka_t *rk, int level, const char *fac,
                            const char *buf)
{
    struct in_kafka *k = rd_kafka_opaque(rk);

    if (level <= 3) {
        sl_log_warn(k->ins, "librdkafka %s: %s", fac, buf);
    } else if (level <= 5) {
        sl_log_info(k->ins, "librdkafka %s: %s", fac, buf);
    } else {
        sl_log_debug(k->ins, "librdkafka %s: %s", fac, buf);
    }
}

static int kafka_in_set(rd_kafka_conf_t *conf, const char *key,
                        const char *val, struct sl_err *err)
{
    char errstr[512];

    if (rd_kafka_conf_set(conf, key, val, errstr, sizeof(errstr)) !=
        RD_KAFKA_CONF_OK) {
        return sl_err_set(err, SL_ECONFIG, "kafka: rdkafka.%s: %s", key,
                          errstr);
    }
    return SL_OK;
}

static rd_kafka_conf_t *kafka_in_conf(struct in_kafka *k, struct sl_err *err)
{
    static const char *const defs[][2] = {
        { "auto.offset.reset", "earliest" },
        { "enable.auto.commit", "true" },
        { "enable.auto.offset.store", "false" },
        { "auto.commit.interval.ms", "250" },
        { "log.connection.close", "false" },
    };
    const struct in_kafka_conf *c = k->conf;
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    size_t i;
    int rc = SL_OK;

    for (i = 0; i < sizeof(defs) / sizeof(defs[0]) && rc == SL_OK; i++) {
        rc = kafka_in_set(conf, defs[i][0], defs[i][1], err);
    }
    if (rc == SL_OK) {
        rc = kafka_in_set(conf, "bootstrap.servers", c->brokers, err);
    }
    if (rc == SL_OK) {
        rc = kafka_in_set(conf, "group.id", c->group_id, err);
    }
    for (i = 0; i < c->rdkafka.n && rc == SL_OK; i++) {
        rc = kafka_in_set(conf, c->rdkafka.k[i], c->rdkafka.v[i], err);
    }
    if (rc != SL_OK) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    rd_kafka_conf_set_opaque(conf, k);
    rd_kafka_conf_set_log_cb(conf, kafka_in_log_cb);
    rd_kafka_conf_set_rebalance_cb(conf, kafka_in_rebalance_cb);
    return conf;
}

static int kafka_in_subscribe(struct in_kafka *k, struct sl_err *err)
{
    const struct sl_strlist *t = &k->conf->topics;
    rd_kafka_topic_partition_list_t *l;
    rd_kafka_resp_err_t e;
    size_t i;

    if (t->n == 0) {
        return sl_err_set(err, SL_ECONFIG, "kafka: 'topics' is empty");
    }
    l = rd_kafka_topic_partition_list_new((int)t->n);
    for (i = 0; i < t->n; i++) {
        rd_kafka_topic_partition_list_add(l, t->v[i], RD_KAFKA_PARTITION_UA);
    }
    e = rd_kafka_subscribe(k->rk, l);
    rd_kafka_topic_partition_list_destroy(l);
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
        return sl_err_set(err, SL_ECONFIG, "kafka: cannot subscribe: %s",
                          rd_kafka_err2str(e));
    }
    return SL_OK;
}

static int kafka_in_create(struct in_kafka *k, struct sl_err *err)
{
    rd_kafka_conf_t *conf = kafka_in_conf(k, err);
    char errstr[512];

    if (conf == NULL) {
        return err->rc;
    }
    k->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr));
    if (k->rk == NULL) {
        rd_kafka_conf_destroy(conf);
        return sl_err_set(err, SL_ECONFIG,
                          "kafka: cannot create the consumer: %s", errstr);
    }
    rd_kafka_poll_set_consumer(k->rk);
    k->cq = rd_kafka_queue_get_consumer(k->rk);
    if (k->cq == NULL) {
        return sl_err_set(err, SL_EIO, "kafka: no consumer queue");
    }
    return SL_OK;
}

static int in_kafka_start(struct sl_instance *ins, struct sl_err *err)
{
    struct in_kafka *k = sl_instance_ctx(ins);
    struct event_base *base = sl_instance_base(ins);
    struct timeval tv = { .tv_sec = (time_t)(k->conf->poll_ms / 1000),
                          .tv_usec = (suseconds_t)(k->conf->poll_ms % 1000) *
                                     1000 };
    int rc = kafka_in_create(k, err);

    if (rc == SL_OK) {
        rc = kafka_in_subscribe(k, err);
    }
    if (rc != SL_OK) {
        return rc;
    }
    k->ev_wake = event_new(base, k->pipefd[0], EV_READ | EV_PERSIST,
                           kafka_in_wake_cb, k);
    k->ev_timer = event_new(base, -1, EV_PERSIST, kafka_in_wake_cb, k);
    if (k->ev_wake == NULL || k->ev_timer == NULL ||
        event_add(k->ev_wake, NULL) != 0 ||
        event_add(k->ev_timer, &tv) != 0) {
        return sl_err_set(err, SL_ENOMEM, "kafka: cannot add events");
    }
    rd_kafka_queue_io_event_enable(k->cq, k->pipefd[1], "1", 1);
    return SL_OK;
}

/* Commits the stored offsets before leaving the group.  A coordinator
 * in the middle of a rebalance refuses commits, so this tries a few times
 * (bounded: KAFKA_IN_COMMIT_TRIES x 100 ms), serving the rebalance in
 * between; messages polled meanwhile are dropped unstored and will be
 * read again by the partition's next owner. */
static void kafka_in_final_commit(struct in_kafka *k)
{
    rd_kafka_message_t *m;
    rd_kafka_resp_err_t e;
    int i;

    for (i = 0; i < KAFKA_IN_COMMIT_TRIES; i++) {
        e = rd_kafka_commit(k->rk, NULL, 0);
        if (e == RD_KAFKA_RESP_ERR_NO_ERROR ||
            e == RD_KAFKA_RESP_ERR__NO_OFFSET) {
            return;
        }
        m = rd_kafka_consumer_poll(k->rk, 100);
        if (m != NULL) {
            rd_kafka_message_destroy(m);
        }
    }
    sl_log_warn(k->ins, "final offset commit failed: %s; the next owner "
                        "reads some records again",
                rd_kafka_err2str(e));
}

/* Leaves the group: commits the stored offsets and hands the partitions
 * to the other members.  Blocks the loop for the group round trip (once,
 * at shutdown or reload). */
static void in_kafka_stop(struct sl_instance *ins)
{
    struct in_kafka *k = sl_instance_ctx(ins);

    if (k == NULL || k->stopped || k->rk == NULL) {
        return;
    }
    kafka_in_store(k);
    k->stopped = true;
    if (k->ev_wake != NULL) {
        event_del(k->ev_wake);
    }
    if (k->ev_timer != NULL) {
        event_del(k->ev_timer);
    }
    rd_kafka_queue_io_event_enable(k->cq, -1, NULL, 0);
    in_kafka_delivered(ins, sl_input_delivered(ins));
    if (k->commit_on == KAFKA_COMMIT_DURABLE || k->pend_n == 0) {
        /* Nothing waits for delivery: leave the group now, while the
         * other members still poll and can take the partitions over. */
        kafka_in_final_commit(k);
        rd_kafka_consumer_close(k->rk);
        k->closed = true;
        return;
    }
    /* commit_on delivered: the outputs go on delivering what is buffered
     * during the grace period, and each delivery stores more offsets; the
     * final commit and the close wait for exit. */
}

static void in_kafka_exit(struct sl_instance *ins)
{
    struct in_kafka *k = sl_instance_ctx(ins);

    if (k == NULL) {
        return;
    }
    if (k->rk != NULL && k->stopped && !k->closed &&
        k->commit_on == KAFKA_COMMIT_DELIVERED) {
        in_kafka_delivered(ins, sl_input_delivered(ins));
        kafka_in_final_commit(k);
        rd_kafka_consumer_close(k->rk);
    }
    if (k->rk != NULL) {
        if (!k->stopped) {
            k->stopped = true;
            rd_kafka_consumer_close(k->rk);
        }
        if (k->cq != NULL) {
            rd_kafka_queue_destroy(k->cq);
        }
        rd_kafka_destroy(k->rk);
    }
    if (k->unstored != NULL) {
        rd_kafka_topic_partition_list_destroy(k->unstored);
    }
    while (k->pend_n > 0) {
        rd_kafka_topic_partition_list_destroy(k->pending[k->pend_head].offsets);
        k->pend_head = (k->pend_head + 1) % KAFKA_PENDING_MAX;
        k->pend_n--;
    }
    if (k->ev_wake != NULL) {
        event_free(k->ev_wake);
    }
    if (k->ev_timer != NULL) {
        event_free(k->ev_timer);
    }
    if (k->pipefd[0] >= 0) {
        close(k->pipefd[0]);
        close(k->pipefd[1]);
    }
    sl_buf_fini(&k->tag);
    sl_free(k);
    sl_instance_set_ctx(ins, NULL);
}

static int in_kafka_init(struct sl_instance *ins, void *conf,
                         struct sl_err *err)
{
    struct in_kafka *k = sl_calloc(1, sizeof(*k));
    rd_kafka_conf_t *cfg;
    int rc;

    if (k == NULL) {
        return sl_err_set(err, SL_ENOMEM, "kafka: out of memory");
    }
    k->conf = conf;
    k->ins = ins;
    k->commit_on = k->conf->commit_on;
    if (k->commit_on == KAFKA_COMMIT_AUTO) {
        k->commit_on = sl_input_commit_durable(ins) ? KAFKA_COMMIT_DURABLE
                                                    : KAFKA_COMMIT_DELIVERED;
    }
    k->pipefd[0] = k->pipefd[1] = -1;
    sl_buf_init(&k->tag, 1024);
    sl_instance_set_ctx(ins, k);
    k->unstored = rd_kafka_topic_partition_list_new(8);
    if (pipe2(k->pipefd, O_NONBLOCK | O_CLOEXEC) != 0) {
        k->pipefd[0] = k->pipefd[1] = -1;
        rc = sl_err_set(err, sl_rc_from_errno(errno), "kafka: pipe: %s",
                        strerror(errno));
        goto fail;
    }
    /* Check the configuration now; the consumer itself is created by
     * start, so that --dry-run and failed starts connect to nothing. */
    cfg = kafka_in_conf(k, err);
    if (cfg == NULL) {
        rc = err->rc;
        goto fail;
    }
    rd_kafka_conf_destroy(cfg);
    k->m_errors = sl_metric_counter(ins, "sluice_kafka_consumer_errors_total",
                                    "Errors reported by the Kafka consumer.",
                                    NULL, NULL);
    return SL_OK;
fail:
    k->stopped = true;
    in_kafka_exit(ins);
    return rc;
}

const struct sl_plugin sl_plugin_in_kafka = {
    .abi = SL_PLUGIN_ABI,
    .kind = SL_PLUGIN_INPUT,
    .name = "kafka",
    .description = "Consume Kafka topics in a consumer group, committing "
                   "offsets only once the records are delivered.",
    .options = in_kafka_options,
    .conf_size = sizeof(struct in_kafka_conf),
    .init = in_kafka_init,
    .start = in_kafka_start,
    .pause = in_kafka_pause,
    .resume = in_kafka_resume,
    .stop = in_kafka_stop,
    .exit = in_kafka_exit,
    .delivered = in_kafka_delivered,
};
