/*
 * in_dummy.c - the "dummy" input: generates realistic records for demos,
 * tests and benchmarks.
 *
 * Four kinds of records are built (see DESIGN 4): application logs, audit
 * events, anomaly records and errors with a stack trace; "mixed" rotates
 * through them.  Alternatively the "dummy" option gives one fixed JSON
 * object that is emitted as is.  Every generated record carries "seq", a
 * counter per instance that starts at 0 and increases by one per record,
 * so that delivery can be checked by counting.
 *
 * Runs on the main loop: one evtimer.  With a rate, record k is due at
 * k / rate seconds after the start (or after the last resume) and each
 * tick emits what is due, at most DUMMY_MAX_PER_TICK, with ticks at least
 * DUMMY_MIN_TICK_MS apart; rate 0 emits bursts of DUMMY_BURST records and
 * re-arms with a zero timeout so that the loop stays responsive.  Content
 * comes from a xorshift generator seeded by "seed" (0: from the clock), so
 * a fixed seed gives the same records every run.  Never blocks.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "sluice/plugin.h"
#include "sluice/banned.h"

#define DUMMY_MIN_TICK_MS      10
#define DUMMY_MAX_PER_TICK     10000
#define DUMMY_BURST            1024
#define DUMMY_PAUSE_RECHECK_MS 100
#define DUMMY_BODY_MAX         (64 * 1024)
#define DUMMY_NELEM(a)         (sizeof(a) / sizeof((a)[0]))

enum in_dummy_kind {
    DUMMY_KIND_APP,
    DUMMY_KIND_AUDIT,
    DUMMY_KIND_ANOMALY,
    DUMMY_KIND_ERROR,
    DUMMY_KIND_MIXED,
};

static const char *const in_dummy_kinds[] = { "app",   "audit", "anomaly",
                                              "error", "mixed", NULL };

struct in_dummy_conf {
    int kind;
    char *dummy;
    double rate;
    int64_t samples;
    int64_t seed;
};

struct in_dummy_ctx {
    struct sl_instance *ins;
    const struct in_dummy_conf *conf;
    struct event *timer;
    struct sl_buf body; /* the record being built, reused */
    char *fixed;        /* compact bytes of the "dummy" object, or NULL */
    size_t fixed_len;
    uint64_t rng;
    uint64_t seq;      /* records emitted so far */
    int64_t base_ns;   /* monotonic time the rate is counted from */
    uint64_t base_seq; /* seq at base_ns */
    bool running;
    bool paused;
};

/* A JSON object writer that remembers the first error, so that a record
 * is built with straight-line code and checked once at the end. */
struct dummy_w {
    struct sl_buf *b;
    int rc;
    bool first;
};

static const struct sl_option in_dummy_options[] = {
    { .name = "kind",
      .type = SL_OPT_ENUM,
      .def = "mixed",
      .choices = in_dummy_kinds,
      SL_OPT_FIELD(struct in_dummy_conf, kind),
      .desc = "Kind of records to generate: app (application logs), audit "
              "(audit events), anomaly (anomaly records), error (errors "
              "with a stack trace) or mixed (rotates through all four)." },
    { .name = "dummy",
      .type = SL_OPT_STR,
      SL_OPT_FIELD(struct in_dummy_conf, dummy),
      .desc = "A fixed JSON object to emit instead of generated records. "
              "It is checked at start: anything but a JSON object is an "
              "error." },
    { .name = "rate",
      .type = SL_OPT_DOUBLE,
      .def = "1",
      SL_OPT_FIELD(struct in_dummy_conf, rate),
      .desc = "Records per second (fractions allowed). 0 generates as fast "
              "as possible, in bounded bursts." },
    { .name = "samples",
      .type = SL_OPT_INT,
      .def = "0",
      SL_OPT_FIELD(struct in_dummy_conf, samples),
      .desc = "Number of records to emit before stopping; 0 is unlimited." },
    { .name = "seed",
      .type = SL_OPT_INT,
      .def = "0",
      SL_OPT_FIELD(struct in_dummy_conf, seed),
      .desc = "Seed of the content generator; the same seed gives the same "
              "records. 0 seeds from the clock." },
    SL_OPT_END,
};

/* ---- content ---- */

static const char *const dummy_services[] = {
    "checkout", "payments", "auth", "search", "inventory", "gateway",
};

static const char *const dummy_hosts[] = {
    "web-01.prod.internal", "web-02.prod.internal",    "api-01.prod.internal",
    "api-02.prod.internal", "worker-01.prod.internal",
};

static const char *const dummy_msgs_info[] = {
    "request completed", "order placed", "payment authorized",
    "user logged in",    "cart updated", "search results served",
};

static const char *const dummy_msgs_warn[] = {
    "slow upstream response",
    "retrying request to inventory",
    "rate limit close to quota",
    "resource not found",
};

static const char *const dummy_msgs_debug[] = {
    "cache lookup",
    "feature flag evaluated",
    "connection reused",
};

static const char *const dummy_msgs_error[] = {
    "upstream returned an error",
    "database query failed",
    "request handler raised an exception",
};

static const int dummy_status_ok[] = { 200, 200, 200, 201, 204, 304 };
static const int dummy_status_warn[] = { 404, 429, 408 };
static const int dummy_status_error[] = { 500, 502, 503, 504 };

static const char *const dummy_actors[] = {
    "alice@example.com", "bob@example.com", "carol@example.com",
    "svc-deployer",      "svc-backup",      "root",
};

static const char *const dummy_actions[] = {
    "login", "logout", "read", "update", "delete", "grant_role", "export",
};

static const char *const dummy_resources[] = {
    "db/customers",   "db/orders",          "s3://reports/q3.csv",
    "iam/role/admin", "k8s/secret/api-key", "api/v1/users",
};

static const char *const dummy_results[] = {
    "success", "success", "success", "failure", "denied",
};

static const char *const dummy_compliance[] = {
    "SOC2-CC6.1",       "PCI-DSS-10.2.1", "HIPAA-164.312(b)",
    "ISO27001-A.9.4.2", "GDPR-Art30",
};

struct dummy_metric {
    const char *name;
    double expected;
    bool bot; /* attributed to a bot rather than a service */
};

static const struct dummy_metric dummy_metrics[] = {
    { "cpu_usage_percent", 45.0, false },
    { "p99_latency_ms", 250.0, false },
    { "error_rate", 0.01, false },
    { "queue_depth", 120.0, false },
    { "login_failures_per_min", 3.0, true },
    { "requests_per_sec", 850.0, true },
};

static const char *const dummy_bots[] = {
    "credential-stuffer",
    "aggressive-crawler",
    "scraper-7",
    "unknown-headless-chrome",
};

static const char *const dummy_windows[] = { "1m", "5m", "15m" };

struct dummy_error {
    const char *type;
    const char *message;
    const char *stack;
};

static const struct dummy_error dummy_errors[] = {
    { "TimeoutError", "upstream request to inventory timed out after 30s",
      "Traceback (most recent call last):\n"
      "  File \"/app/handlers/checkout.py\", line 88, in submit\n"
      "    stock = inventory.reserve(items)\n"
      "  File \"/app/clients/inventory.py\", line 41, in reserve\n"
      "    return self._post(\"/reserve\", items, timeout=30)\n"
      "TimeoutError: upstream request to inventory timed out after 30s" },
    { "KeyError", "'currency'",
      "Traceback (most recent call last):\n"
      "  File \"/app/handlers/payments.py\", line 132, in authorize\n"
      "    amount = Money(body[\"amount\"], body[\"currency\"])\n"
      "KeyError: 'currency'" },
    { "java.lang.NullPointerException",
      "Cannot invoke \"User.getId()\" because \"user\" is null",
      "java.lang.NullPointerException: Cannot invoke \"User.getId()\"\n"
      "\tat com.example.auth.SessionService.refresh(SessionService.java:57)\n"
      "\tat com.example.auth.AuthController.token(AuthController.java:112)\n"
      "\tat java.base/java.lang.Thread.run(Thread.java:833)" },
    { "ConnectionRefusedError", "[Errno 111] Connection refused",
      "Traceback (most recent call last):\n"
      "  File \"/app/db/pool.py\", line 23, in connect\n"
      "    sock.connect((host, 5432))\n"
      "ConnectionRefusedError: [Errno 111] Connection refused" },
};

/* xorshift64*: fast, good enough for fake content, reproducible. */
static uint64_t dummy_rand(struct in_dummy_ctx *ctx)
{
    uint64_t x = ctx->rng;

    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    ctx->rng = x;
    return x * UINT64_C(2685821657736338717);
}

/* A uniform index below <n> (n > 0). */
static size_t dummy_pick(struct in_dummy_ctx *ctx, size_t n)
{
    return (size_t)((dummy_rand(ctx) >> 11) % n);
}

/* A uniform double in [0, 1). */
static double dummy_unit(struct in_dummy_ctx *ctx)
{
    return (double)(dummy_rand(ctx) >> 11) / 9007199254740992.0;
}

#define DUMMY_PICK(ctx, table) ((table)[dummy_pick((ctx), DUMMY_NELEM(table))])

/* ---- the JSON writer ---- */

static void dw_begin(struct dummy_w *w, struct sl_buf *b)
{
    w->b = b;
    w->first = true;
    sl_buf_reset(b);
    w->rc = sl_buf_putc(b, '{');
}

static void dw_key(struct dummy_w *w, const char *key)
{
    if (w->rc == SL_OK && !w->first) {
        w->rc = sl_buf_putc(w->b, ',');
    }
    w->first = false;
    if (w->rc == SL_OK) {
        w->rc = sl_json_write_string(w->b, key, strlen(key));
    }
    if (w->rc == SL_OK) {
        w->rc = sl_buf_putc(w->b, ':');
    }
}

static void dw_str(struct dummy_w *w, const char *key, const char *val)
{
    dw_key(w, key);
    if (w->rc == SL_OK) {
        w->rc = sl_json_write_string(w->b, val, strlen(val));
    }
}

/* A raw JSON value (a number), formatted with <fmt>. */
static void dw_num(struct dummy_w *w, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void dw_num(struct dummy_w *w, const char *key, const char *fmt, ...)
{
    va_list ap;

    dw_key(w, key);
    if (w->rc == SL_OK) {
        va_start(ap, fmt);
        w->rc = sl_buf_vprintf(w->b, fmt, ap);
        va_end(ap);
    }
}

/* Opens a nested object as the value of <key>. */
static void dw_open(struct dummy_w *w, const char *key)
{
    dw_key(w, key);
    if (w->rc == SL_OK) {
        w->rc = sl_buf_putc(w->b, '{');
    }
    w->first = true;
}

static int dw_end(struct dummy_w *w)
{
    if (w->rc == SL_OK) {
        w->rc = sl_buf_putc(w->b, '}');
    }
    w->first = false;
    return w->rc;
}

/* ---- record builders ---- */

static void dummy_app_level(struct in_dummy_ctx *ctx, const char **level,
                            const char **msg, int *status)
{
    unsigned roll = (unsigned)dummy_pick(ctx, 100);

    if (roll < 70) {
        *level = "info";
        *msg = DUMMY_PICK(ctx, dummy_msgs_info);
        *status = DUMMY_PICK(ctx, dummy_status_ok);
    } else if (roll < 80) {
        *level = "debug";
        *msg = DUMMY_PICK(ctx, dummy_msgs_debug);
        *status = 200;
    } else if (roll < 95) {
        *level = "warn";
        *msg = DUMMY_PICK(ctx, dummy_msgs_warn);
        *status = DUMMY_PICK(ctx, dummy_status_warn);
    } else {
        *level = "error";
        *msg = DUMMY_PICK(ctx, dummy_msgs_error);
        *status = DUMMY_PICK(ctx, dummy_status_error);
    }
}

static int dummy_build_app(struct in_dummy_ctx *ctx, struct dummy_w *w)
{
    const char *level;
    const char *msg;
    int status;
    uint64_t hi = dummy_rand(ctx);
    uint64_t lo = dummy_rand(ctx);
    /* Mostly fast requests with a long tail, as real latencies are. */
    uint64_t us = 500 + dummy_pick(ctx, 40000) +
                  (dummy_pick(ctx, 20) == 0 ? dummy_pick(ctx, 3000000) : 0);

    dummy_app_level(ctx, &level, &msg, &status);
    dw_str(w, "level", level);
    dw_str(w, "service", DUMMY_PICK(ctx, dummy_services));
    dw_str(w, "host", DUMMY_PICK(ctx, dummy_hosts));
    dw_str(w, "msg", msg);
    dw_num(w, "trace_id", "\"%016" PRIx64 "%016" PRIx64 "\"", hi, lo);
    dw_num(w, "duration_ms", "%" PRIu64 ".%03" PRIu64, us / 1000, us % 1000);
    dw_num(w, "status", "%d", status);
    return w->rc;
}

static int dummy_build_audit(struct in_dummy_ctx *ctx, struct dummy_w *w)
{
    unsigned a = (unsigned)dummy_pick(ctx, 256);
    unsigned b = (unsigned)dummy_pick(ctx, 254) + 1;

    dw_str(w, "event_type", "audit");
    dw_str(w, "actor", DUMMY_PICK(ctx, dummy_actors));
    dw_str(w, "action", DUMMY_PICK(ctx, dummy_actions));
    dw_str(w, "resource", DUMMY_PICK(ctx, dummy_resources));
    dw_str(w, "result", DUMMY_PICK(ctx, dummy_results));
    dw_num(w, "source_ip", "\"10.20.%u.%u\"", a, b);
    dw_str(w, "compliance_id", DUMMY_PICK(ctx, dummy_compliance));
    return w->rc;
}

static const char *dummy_severity(double score)
{
    if (score < 0.7) {
        return "low";
    }
    if (score < 0.85) {
        return "medium";
    }
    if (score < 0.95) {
        return "high";
    }
    return "critical";
}

static int dummy_build_anomaly(struct in_dummy_ctx *ctx, struct dummy_w *w)
{
    const struct dummy_metric *m = &DUMMY_PICK(ctx, dummy_metrics);
    double score = 0.5 + dummy_unit(ctx) * 0.5;
    /* The further off the value, the higher the score. */
    double value = m->expected * (1.5 + score * 4.0 + dummy_unit(ctx));

    dw_str(w, "event_type", "anomaly");
    dw_str(w, "metric", m->name);
    dw_num(w, "value", "%.4g", value);
    dw_num(w, "expected", "%.4g", m->expected);
    dw_num(w, "score", "%.3f", score);
    dw_str(w, "severity", dummy_severity(score));
    if (m->bot) {
        dw_str(w, "bot", DUMMY_PICK(ctx, dummy_bots));
    } else {
        dw_str(w, "service", DUMMY_PICK(ctx, dummy_services));
    }
    dw_str(w, "window", DUMMY_PICK(ctx, dummy_windows));
    return w->rc;
}

static int dummy_build_error(struct in_dummy_ctx *ctx, struct dummy_w *w)
{
    const struct dummy_error *e = &DUMMY_PICK(ctx, dummy_errors);

    dw_str(w, "level", "error");
    dw_open(w, "error");
    dw_str(w, "type", e->type);
    dw_str(w, "message", e->message);
    dw_str(w, "stack", e->stack);
    dw_end(w);
    dw_str(w, "service", DUMMY_PICK(ctx, dummy_services));
    return w->rc;
}

/* Builds record number ctx->seq into ctx->body. */
static int dummy_build(struct in_dummy_ctx *ctx)
{
    struct dummy_w w;
    int kind = ctx->conf->kind;

    if (kind == DUMMY_KIND_MIXED) {
        kind = (int)(ctx->seq % DUMMY_KIND_MIXED);
    }
    dw_begin(&w, &ctx->body);
    switch (kind) {
    case DUMMY_KIND_AUDIT:
        dummy_build_audit(ctx, &w);
        break;
    case DUMMY_KIND_ANOMALY:
        dummy_build_anomaly(ctx, &w);
        break;
    case DUMMY_KIND_ERROR:
        dummy_build_error(ctx, &w);
        break;
    default:
        dummy_build_app(ctx, &w);
        break;
    }
    dw_num(&w, "seq", "%" PRIu64, ctx->seq);
    return dw_end(&w);
}

/* ---- emitting ---- */

static bool dummy_done(const struct in_dummy_ctx *ctx)
{
    return ctx->conf->samples > 0 && ctx->seq >= (uint64_t)ctx->conf->samples;
}

static int dummy_emit_one(struct in_dummy_ctx *ctx)
{
    struct sl_str body;
    int rc;

    if (ctx->fixed != NULL) {
        body = sl_str_make(ctx->fixed, ctx->fixed_len);
    } else {
        rc = dummy_build(ctx);
        if (rc != SL_OK) {
            return rc;
        }
        body = sl_buf_str(&ctx->body);
    }
    rc = sl_input_append(ctx->ins, sl_instance_tag(ctx->ins), 0, body);
    if (rc == SL_OK) {
        ctx->seq++;
    }
    return rc;
}

/* How many records are due now. */
static uint64_t dummy_due(const struct in_dummy_ctx *ctx)
{
    double elapsed_s;
    double due;
    uint64_t sent = ctx->seq - ctx->base_seq;

    if (ctx->conf->rate <= 0) {
        return DUMMY_BURST;
    }
    elapsed_s = (double)(sl_time_mono_ns() - ctx->base_ns) / 1e9;
    /* Record k is due at k / rate: the first one right away. */
    due = elapsed_s * ctx->conf->rate + 1.0 - (double)sent;
    if (due < 1.0) {
        return 0;
    }
    if (due > DUMMY_MAX_PER_TICK) {
        return DUMMY_MAX_PER_TICK;
    }
    return (uint64_t)due;
}

/* Milliseconds until the next record is due (rate > 0). */
static int64_t dummy_next_ms(const struct in_dummy_ctx *ctx)
{
    double next_s = (double)(ctx->seq - ctx->base_seq) / ctx->conf->rate;
    int64_t next_ns = ctx->base_ns + (int64_t)(next_s * 1e9);
    int64_t wait_ms = (next_ns - sl_time_mono_ns()) / SL_NS_PER_MS + 1;

    return wait_ms < DUMMY_MIN_TICK_MS ? DUMMY_MIN_TICK_MS : wait_ms;
}

static void dummy_arm(struct in_dummy_ctx *ctx, int64_t ms)
{
    struct timeval tv = { .tv_sec = (time_t)(ms / 1000),
                          .tv_usec = (suseconds_t)(ms % 1000) * 1000 };

    if (event_add(ctx->timer, &tv) != 0) {
        sl_log_error(ctx->ins, "cannot arm the generator timer");
    }
}

static void dummy_schedule(struct in_dummy_ctx *ctx)
{
    if (!ctx->running || ctx->paused || dummy_done(ctx)) {
        return;
    }
    if (sl_input_paused(ctx->ins)) {
        /* The engine is about to call pause, or did without our seeing
         * it: look again soon rather than spin or stall. */
        dummy_arm(ctx, DUMMY_PAUSE_RECHECK_MS);
    } else if (ctx->conf->rate <= 0) {
        dummy_arm(ctx, 0);
    } else {
        dummy_arm(ctx, dummy_next_ms(ctx));
    }
}

static void in_dummy_tick(evutil_socket_t fd, short what, void *arg)
{
    struct in_dummy_ctx *ctx = arg;
    uint64_t n;
    uint64_t i;
    int rc;

    (void)fd;
    (void)what;
    n = sl_input_paused(ctx->ins) ? 0 : dummy_due(ctx);
    for (i = 0; i < n && !dummy_done(ctx) && !ctx->paused; i++) {
        rc = dummy_emit_one(ctx);
        if (rc != SL_OK) {
            sl_log_warn(ctx->ins, "cannot emit a record: %s", sl_strerror(rc));
            break;
        }
        if (sl_input_paused(ctx->ins)) {
            break;
        }
    }
    if (dummy_done(ctx) && n > 0) {
        sl_log_info(ctx->ins, "emitted %" PRIu64 " samples, stopping",
                    ctx->seq);
    }
    dummy_schedule(ctx);
}

/* ---- life cycle ---- */

/* Parses the "dummy" option once and keeps its compact serialization. */
static int in_dummy_fixed_init(struct in_dummy_ctx *ctx, const char *text,
                               struct sl_err *err)
{
    struct sl_arena arena;
    struct sl_json *v = NULL;
    struct sl_err perr;
    struct sl_buf out;
    int rc;

    sl_arena_init(&arena, 0, 0);
    sl_buf_init(&out, 0);
    memset(&perr, 0, sizeof(perr));
    rc = sl_json_parse(&arena, text, strlen(text), &v, &perr);
    if (rc == SL_ENOMEM) {
        sl_err_set(err, rc, "out of memory parsing 'dummy'");
        goto out;
    }
    if (rc != SL_OK) {
        rc = sl_err_set(err, SL_ECONFIG, "dummy: invalid JSON: %s", perr.msg);
        goto out;
    }
    if (v->type != SL_JSON_OBJECT) {
        rc = sl_err_set(err, SL_ECONFIG,
                        "dummy: must be a JSON object, e.g. "
                        "'{\"message\": \"hello\"}'");
        goto out;
    }
    rc = sl_json_serialize(v, &out);
    if (rc != SL_OK) {
        sl_err_set(err, rc, "cannot serialize 'dummy'");
        goto out;
    }
    ctx->fixed_len = out.len;
    ctx->fixed = sl_buf_take(&out);
    if (ctx->fixed == NULL) {
        rc = sl_err_set(err, SL_ENOMEM, "out of memory copying 'dummy'");
    }
out:
    sl_buf_fini(&out);
    sl_arena_fini(&arena);
    return rc;
}

static uint64_t in_dummy_seed(const struct in_dummy_conf *conf,
                              const struct in_dummy_ctx *ctx)
{
    uint64_t s = (uint64_t)conf->seed;

    if (s == 0) {
        s = (uint64_t)sl_time_now_ns() ^ ((uint64_t)getpid() << 32) ^
            (uint64_t)(uintptr_t)ctx;
    }
    /* splitmix64 finalizer: spreads small seeds, and never yields 0 for
     * the seeds users write (xorshift must not start at 0). */
    s += UINT64_C(0x9E3779B97F4A7C15);
    s = (s ^ (s >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    s = (s ^ (s >> 27)) * UINT64_C(0x94D049BB133111EB);
    s ^= s >> 31;
    return s != 0 ? s : UINT64_C(0x2545F4914F6CDD1D);
}

static int in_dummy_init(struct sl_instance *ins, void *conf,
                         struct sl_err *err)
{
    struct in_dummy_conf *cf = conf;
    struct in_dummy_ctx *ctx;
    int rc;

    if (!(cf->rate >= 0)) {
        return sl_err_set(err, SL_ECONFIG,
                          "rate must be 0 (as fast as possible) or more, "
                          "got %g",
                          cf->rate);
    }
    ctx = sl_calloc(1, sizeof(*ctx));
    if (ctx == NULL) {
        return sl_err_set(err, SL_ENOMEM, "out of memory");
    }
    ctx->ins = ins;
    ctx->conf = cf;
    sl_buf_init(&ctx->body, DUMMY_BODY_MAX);
    ctx->rng = in_dummy_seed(cf, ctx);
    if (cf->dummy != NULL) {
        rc = in_dummy_fixed_init(ctx, cf->dummy, err);
        if (rc != SL_OK) {
            goto fail;
        }
    }
    ctx->timer = evtimer_new(sl_instance_base(ins), in_dummy_tick, ctx);
    if (ctx->timer == NULL) {
        rc = sl_err_set(err, SL_ENOMEM, "cannot create the timer");
        goto fail;
    }
    sl_instance_set_ctx(ins, ctx);
    return SL_OK;
fail:
    sl_free(ctx->fixed);
    sl_buf_fini(&ctx->body);
    sl_free(ctx);
    return rc;
}

static int in_dummy_start(struct sl_instance *ins, struct sl_err *err)
{
    struct in_dummy_ctx *ctx = sl_instance_ctx(ins);

    (void)err;
    ctx->running = true;
    ctx->base_ns = sl_time_mono_ns();
    ctx->base_seq = ctx->seq;
    dummy_arm(ctx, 0);
    return SL_OK;
}

static void in_dummy_pause(struct sl_instance *ins)
{
    struct in_dummy_ctx *ctx = sl_instance_ctx(ins);

    ctx->paused = true;
    evtimer_del(ctx->timer);
}

static void in_dummy_resume(struct sl_instance *ins)
{
    struct in_dummy_ctx *ctx = sl_instance_ctx(ins);

    if (!ctx->paused) {
        return;
    }
    ctx->paused = false;
    /* Do not catch up on what the pause skipped: restart the rate. */
    ctx->base_ns = sl_time_mono_ns();
    ctx->base_seq = ctx->seq;
    if (ctx->running && !dummy_done(ctx)) {
        dummy_arm(ctx, 0);
    }
}

static void in_dummy_stop(struct sl_instance *ins)
{
    struct in_dummy_ctx *ctx = sl_instance_ctx(ins);

    ctx->running = false;
    evtimer_del(ctx->timer);
}

static void in_dummy_exit(struct sl_instance *ins)
{
    struct in_dummy_ctx *ctx = sl_instance_ctx(ins);

    if (ctx == NULL) {
        return;
    }
    event_free(ctx->timer);
    sl_free(ctx->fixed);
    sl_buf_fini(&ctx->body);
    sl_free(ctx);
    sl_instance_set_ctx(ins, NULL);
}

const struct sl_plugin sl_plugin_in_dummy = {
    .abi = SL_PLUGIN_ABI,
    .kind = SL_PLUGIN_INPUT,
    .name = "dummy",
    .description = "Generate sample application, audit, anomaly and error "
                   "records.",
    .options = in_dummy_options,
    .conf_size = sizeof(struct in_dummy_conf),
    .init = in_dummy_init,
    .start = in_dummy_start,
    .pause = in_dummy_pause,
    .resume = in_dummy_resume,
    .stop = in_dummy_stop,
    .exit = in_dummy_exit,
};
