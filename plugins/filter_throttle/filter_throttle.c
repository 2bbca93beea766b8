/*
 * filter_throttle.c - limit the record rate per key with token buckets.
 *
 * Each value of 'key' (e.g. the service) has a bucket of 'burst' tokens
 * refilled continuously at 'rate' tokens per 'window'; a record takes a
 * token or is dropped.  Over any period T a key passes at most
 * burst + rate * T / window records.  Time is the monotonic clock when the
 * record passes the filter (not the event time, which may be old).
 *
 * Cardinality is bounded: at most 'max_keys' buckets exist; records of
 * further keys share one overflow bucket (key "_other") and are counted in
 * sluice_throttle_overflow_total.  Drops are counted per key in
 * sluice_throttle_dropped_total{key=...} (the overflow bucket under
 * "_other").  With print_status, the first record dropped after each
 * status_interval is replaced by a summary record tagged status_tag (so
 * the summary costs no extra record), and the summary is logged.
 *
 * State (the bucket table) lives in the context; the table and key copies
 * are allocated when a key is first seen, never per record.  Main thread.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "sluice/plugin.h"
#include "sluice/banned.h"

#define THROTTLE_TOP 5

struct filter_throttle_conf {
    char *key;
    double rate;
    int64_t window_ms;
    int64_t burst;
    int64_t max_keys;
    bool print_status;
    int64_t status_interval_ms;
    char *status_tag;
    char *tag_pattern;
};

struct throttle_bucket {
    char *key; /* NULL: free slot */
    size_t klen;
    double tokens;
    int64_t last_ns;
    uint64_t passed, dropped; /* since the last status */
    struct sl_metric *m_dropped;
};

struct filter_throttle_ctx {
    struct sl_instance *ins;
    struct sl_accessor key;
    bool keyed;
    double per_ns; /* tokens per nanosecond */
    double cap;
    struct throttle_bucket *table; /* open addressing, size mask + 1 */
    size_t mask;
    size_t nkeys, max_keys;
    struct throttle_bucket other;
    const struct filter_throttle_conf *conf;
    int64_t status_ns;
    uint64_t overflow;
    struct sl_metric *m_overflow;
    struct sl_buf scratch;
};

static const struct sl_option filter_throttle_options[] = {
    { .name = "key",
      .type = SL_OPT_STR,
      SL_OPT_FIELD(struct filter_throttle_conf, key),
      .desc = "Record accessor whose value selects the bucket, e.g. "
              "service. Unset: one bucket for all records. Records without "
              "the key share one bucket." },
    { .name = "rate",
      .type = SL_OPT_DOUBLE,
      .flags = SL_OPT_REQUIRED,
      SL_OPT_FIELD(struct filter_throttle_conf, rate),
      .desc = "Records allowed per window and key, on average." },
    { .name = "window",
      .type = SL_OPT_TIME,
      .def = "1s",
      .min = 1,
      SL_OPT_FIELD(struct filter_throttle_conf, window_ms),
      .desc = "The period rate is given for." },
    { .name = "burst",
      .type = SL_OPT_INT,
      .def = "0",
      SL_OPT_FIELD(struct filter_throttle_conf, burst),
      .desc = "Records a key may send at once after a quiet period (the "
              "bucket size). 0 means rate (at least 1)." },
    { .name = "max_keys",
      .type = SL_OPT_INT,
      .def = "1000",
      .min = 1,
      .max = 1000000,
      SL_OPT_FIELD(struct filter_throttle_conf, max_keys),
      .desc = "Most keys with their own bucket and drop counter; records of "
              "further keys share the bucket _other." },
    { .name = "print_status",
      .type = SL_OPT_BOOL,
      .def = "off",
      SL_OPT_FIELD(struct filter_throttle_conf, print_status),
      .desc = "Replace the first record dropped after each status_interval "
              "with a summary record (passed, dropped and the keys that "
              "dropped most), and log the summary." },
    { .name = "status_interval",
      .type = SL_OPT_TIME,
      .def = "60s",
      .min = 1,
      SL_OPT_FIELD(struct filter_throttle_conf, status_interval_ms),
      .desc = "Least time between two summary records." },
    { .name = "status_tag",
      .type = SL_OPT_STR,
      .def = "throttle.status",
      SL_OPT_FIELD(struct filter_throttle_conf, status_tag),
      .desc = "Tag of the summary records." },
    { .name = "tag_pattern",
      .type = SL_OPT_STR,
      SL_OPT_FIELD(struct filter_throttle_conf, tag_pattern),
      .desc = "Throttle only records whose tag, as it is when they reach "
              "this filter, matches this pattern (* matches any run of "
              "characters), e.g. to leave records another filter re-tagged "
              "alone. Others pass. Unset: every record the filter's match "
              "selects." },
    SL_OPT_END,
};

static void throttle_ctx_destroy(struct filter_throttle_ctx *ctx)
{
    size_t i;

    if (ctx == NULL) {
        return;
    }
    for (i = 0; ctx->table != NULL && i <= ctx->mask; i++) {
        sl_free(ctx->table[i].key);
    }
    sl_free(ctx->table);
    sl_accessor_fini(&ctx->key);
    sl_buf_fini(&ctx->scratch);
    sl_free(ctx);
}

static int throttle_setup(struct sl_instance *ins,
                          struct filter_throttle_ctx *ctx,
                          const struct filter_throttle_conf *c,
                          struct sl_err *err)
{
    size_t size = 16;

    if (c->rate <= 0) {
        return sl_err_set(err, SL_ECONFIG, "throttle: rate must be above 0");
    }
    if (c->burst < 0) {
        return sl_err_set(err, SL_ECONFIG,
                          "throttle: burst must be 0 or "
                          "more");
    }
    ctx->per_ns = c->rate / ((double)c->window_ms * 1e6);
    ctx->cap = c->burst > 0 ? (double)c->burst : (c->rate < 1 ? 1 : c->rate);
    ctx->max_keys = (size_t)c->max_keys;
    while (size < ctx->max_keys * 2) {
        size *= 2;
    }
    ctx->table = sl_calloc(size, sizeof(*ctx->table));
    if (ctx->table == NULL) {
        return sl_err_set(err, SL_ENOMEM, "throttle: out of memory");
    }
    ctx->mask = size - 1;
    ctx->other.tokens = ctx->cap;
    ctx->other.last_ns = sl_time_mono_ns();
    ctx->other.m_dropped = sl_metric_counter(
        ins, "sluice_throttle_dropped_total",
        "Records dropped by the throttle, per key.", "key", "_other");
    ctx->m_overflow = sl_metric_counter(
        ins, "sluice_throttle_overflow_total",
        "Records whose key was beyond max_keys (they share the _other "
        "bucket).",
        NULL, NULL);
    ctx->status_ns = ctx->other.last_ns;
    if (c->key != NULL) {
        ctx->keyed = true;
        return sl_accessor_compile(&ctx->key, c->key, err);
    }
    return SL_OK;
}

static int filter_throttle_init(struct sl_instance *ins, void *conf,
                                struct sl_err *err)
{
    struct filter_throttle_ctx *ctx = sl_calloc(1, sizeof(*ctx));
    int rc;

    if (ctx == NULL) {
        return sl_err_set(err, SL_ENOMEM, "throttle: out of memory");
    }
    ctx->ins = ins;
    ctx->conf = conf;
    sl_buf_init(&ctx->scratch, 0);
    rc = throttle_setup(ins, ctx, conf, err);
    if (rc != SL_OK) {
        throttle_ctx_destroy(ctx);
        return rc;
    }
    sl_instance_set_ctx(ins, ctx);
    return SL_OK;
}

static uint64_t throttle_hash(struct sl_str s)
{
    uint64_t h = 1469598103934665603ULL;
    size_t i;

    for (i = 0; i < s.len; i++) {
        h = (h ^ (unsigned char)s.ptr[i]) * 1099511628211ULL;
    }
    return h;
}

/* The bucket of <key>, created when new (or the overflow bucket). */
static struct throttle_bucket *throttle_bucket(struct filter_throttle_ctx *ctx,
                                               struct sl_str key, int64_t now)
{
    size_t i = (size_t)throttle_hash(key) & ctx->mask;
    struct throttle_bucket *b;
    char label[128];

    for (;;) {
        b = &ctx->table[i];
        if (b->key == NULL) {
            break;
        }
        if (b->klen == key.len && memcmp(b->key, key.ptr, key.len) == 0) {
            return b;
        }
        i = (i + 1) & ctx->mask;
    }
    if (ctx->nkeys >= ctx->max_keys) {
        ctx->overflow++;
        sl_metric_add(ctx->m_overflow, 1);
        return &ctx->other;
    }
    b->key = sl_strndup(key.ptr != NULL ? key.ptr : "", key.len);
    if (b->key == NULL) {
        return &ctx->other;
    }
    b->klen = key.len;
    b->tokens = ctx->cap;
    b->last_ns = now;
    ctx->nkeys++;
    snprintf(label, sizeof(label), "%.*s", SL_STR_FMT(key));
    b->m_dropped = sl_metric_counter(ctx->ins, "sluice_throttle_dropped_total",
                                     "Records dropped by the throttle, per "
                                     "key.",
                                     "key", label);
    return b;
}

/* Takes a token from <b>; false when empty. */
static bool throttle_take(const struct filter_throttle_ctx *ctx,
                          struct throttle_bucket *b, int64_t now)
{
    if (now > b->last_ns) {
        b->tokens += (double)(now - b->last_ns) * ctx->per_ns;
        if (b->tokens > ctx->cap) {
            b->tokens = ctx->cap;
        }
        b->last_ns = now;
    }
    if (b->tokens >= 1.0) {
        b->tokens -= 1.0;
        return true;
    }
    return false;
}

static struct sl_str throttle_key_of(struct filter_throttle_ctx *ctx,
                                     struct sl_record *r)
{
    struct sl_json *dom;
    const struct sl_json *v;
    struct sl_str text;

    if (!ctx->keyed) {
        return SL_STR_LIT("");
    }
    dom = sl_record_dom(r);
    v = dom != NULL ? sl_accessor_get(&ctx->key, dom) : NULL;
    sl_buf_reset(&ctx->scratch);
    if (v == NULL || !sl_json_scalar_text(v, &ctx->scratch, &text)) {
        return SL_STR_LIT("");
    }
    return text;
}

/* Inserts <b> into the descending list <top> when it dropped enough. */
static void throttle_rank(const struct throttle_bucket **top,
                          const struct throttle_bucket *b)
{
    size_t k;

    for (k = 0; k < THROTTLE_TOP; k++) {
        if (top[k] == NULL || b->dropped > top[k]->dropped) {
            memmove(&top[k + 1], &top[k],
                    (THROTTLE_TOP - 1 - k) * sizeof(top[0]));
            top[k] = b;
            return;
        }
    }
}

/* Appends {"key": ..., "dropped": ...} to <arr>. */
static int throttle_top_entry(struct sl_arena *a, struct sl_json *arr,
                              const char *key, size_t klen, uint64_t dropped)
{
    struct sl_json *o = sl_json_new_object(a);
    struct sl_json *k = sl_json_new_string(a, key, klen);
    struct sl_json *d = sl_json_new_i64(a, (int64_t)dropped);
    int rc = o != NULL && k != NULL && d != NULL ? SL_OK : SL_ENOMEM;

    if (rc == SL_OK) {
        rc = sl_json_obj_append(a, o, SL_STR_LIT("key"), k);
    }
    if (rc == SL_OK) {
        rc = sl_json_obj_append(a, o, SL_STR_LIT("dropped"), d);
    }
    return rc == SL_OK ? sl_json_arr_push(a, arr, o) : rc;
}

/* Appends the keys that dropped most (at most THROTTLE_TOP) to <arr>. */
static int throttle_top(struct filter_throttle_ctx *ctx, struct sl_arena *a,
                        struct sl_json *arr)
{
    const struct throttle_bucket *top[THROTTLE_TOP + 1] = { NULL };
    size_t i;
    int rc = SL_OK;

    if (ctx->other.dropped > 0) {
        throttle_rank(top, &ctx->other);
    }
    for (i = 0; i <= ctx->mask; i++) {
        if (ctx->table[i].key != NULL && ctx->table[i].dropped > 0) {
            throttle_rank(top, &ctx->table[i]);
        }
    }
    for (i = 0; i < THROTTLE_TOP && top[i] != NULL && rc == SL_OK; i++) {
        if (top[i] == &ctx->other) {
            rc = throttle_top_entry(a, arr, "_other", 6, top[i]->dropped);
        } else {
            rc = throttle_top_entry(a, arr, top[i]->key, top[i]->klen,
                                    top[i]->dropped);
        }
    }
    return rc;
}

/* Sums and resets the interval counters. */
static void throttle_totals(struct filter_throttle_ctx *ctx, uint64_t *passed,
                            uint64_t *dropped)
{
    size_t i;

    *passed = ctx->other.passed;
    *dropped = ctx->other.dropped;
    for (i = 0; i <= ctx->mask; i++) {
        *passed += ctx->table[i].passed;
        *dropped += ctx->table[i].dropped;
    }
}

static void throttle_reset(struct filter_throttle_ctx *ctx)
{
    size_t i;

    ctx->other.passed = ctx->other.dropped = 0;
    for (i = 0; i <= ctx->mask; i++) {
        ctx->table[i].passed = ctx->table[i].dropped = 0;
    }
    ctx->overflow = 0;
}

/* Turns <r> into the summary record.  False on ENOMEM. */
static bool throttle_status(struct filter_throttle_ctx *ctx,
                            struct sl_record *r, int64_t now)
{
    struct sl_arena *a = r->arena;
    struct sl_json *root = sl_json_new_object(a);
    struct sl_json *t = sl_json_new_object(a);
    struct sl_json *top = sl_json_new_array(a);
    uint64_t passed;
    uint64_t dropped;
    const char *name = sl_instance_name(ctx->ins);
    int rc;

    throttle_totals(ctx, &passed, &dropped);
    rc = root != NULL && t != NULL && top != NULL ? SL_OK : SL_ENOMEM;
#define TS_ADD(k, v)                                                           \
    if (rc == SL_OK) {                                                         \
        rc = sl_json_obj_append(a, t, SL_STR_LIT(k), (v));                     \
    }
    TS_ADD("instance", sl_json_new_string(a, name, strlen(name)));
    TS_ADD("interval_ms",
           sl_json_new_i64(a, (now - ctx->status_ns) / SL_NS_PER_MS));
    TS_ADD("passed", sl_json_new_i64(a, (int64_t)passed));
    TS_ADD("dropped", sl_json_new_i64(a, (int64_t)dropped));
    TS_ADD("keys", sl_json_new_i64(a, (int64_t)ctx->nkeys));
    TS_ADD("overflow", sl_json_new_i64(a, (int64_t)ctx->overflow));
#undef TS_ADD
    if (rc == SL_OK) {
        rc = throttle_top(ctx, a, top);
    }
    if (rc == SL_OK) {
        rc = sl_json_obj_append(a, t, SL_STR_LIT("top_dropped"), top);
    }
    if (rc == SL_OK) {
        rc = sl_json_obj_append(a, root, SL_STR_LIT("throttle"), t);
    }
    if (rc == SL_OK) {
        rc = sl_record_set_tag(r, sl_str_cstr(ctx->conf->status_tag));
    }
    if (rc != SL_OK) {
        return false;
    }
    sl_log_info(ctx->ins,
                "throttle status: %" PRIu64 " passed, %" PRIu64
                " dropped, %zu keys",
                passed, dropped, ctx->nkeys);
    r->dom = root;
    r->ts_ns = sl_time_now_ns();
    sl_record_mark_dirty(r);
    ctx->status_ns = now;
    throttle_reset(ctx);
    return true;
}

/* Glob match of <s> against <pat> (NUL-terminated): * only. */
static bool throttle_glob(const char *pat, struct sl_str s)
{
    size_t i = 0;
    const char *star = NULL;
    size_t star_i = 0;

    while (i < s.len) {
        if (*pat == '*') {
            star = pat++;
            star_i = i;
        } else if (*pat != '\0' && *pat == s.ptr[i]) {
            pat++;
            i++;
        } else if (star != NULL) {
            pat = star + 1;
            i = ++star_i;
        } else {
            return false;
        }
    }
    while (*pat == '*') {
        pat++;
    }
    return *pat == '\0';
}

static enum sl_filter_result filter_throttle_filter(struct sl_instance *ins,
                                                    struct sl_record *r)
{
    struct filter_throttle_ctx *ctx = sl_instance_ctx(ins);
    int64_t now = sl_time_mono_ns();
    struct throttle_bucket *b;

    if (ctx->conf->tag_pattern != NULL &&
        !throttle_glob(ctx->conf->tag_pattern, r->tag)) {
        return SL_FILTER_KEEP;
    }

    b = throttle_bucket(ctx, throttle_key_of(ctx, r), now);
    if (throttle_take(ctx, b, now)) {
        b->passed++;
        return SL_FILTER_KEEP;
    }
    b->dropped++;
    sl_metric_add(b->m_dropped, 1);
    if (ctx->conf->print_status &&
        now - ctx->status_ns >= ctx->conf->status_interval_ms * SL_NS_PER_MS &&
        throttle_status(ctx, r, now)) {
        return SL_FILTER_MODIFIED;
    }
    return SL_FILTER_DROP;
}

static void filter_throttle_exit(struct sl_instance *ins)
{
    throttle_ctx_destroy(sl_instance_ctx(ins));
    sl_instance_set_ctx(ins, NULL);
}

const struct sl_plugin sl_plugin_filter_throttle = {
    .abi = SL_PLUGIN_ABI,
    .kind = SL_PLUGIN_FILTER,
    .name = "throttle",
    .description = "Limit the record rate per key with token buckets.",
    .options = filter_throttle_options,
    .conf_size = sizeof(struct filter_throttle_conf),
    .init = filter_throttle_init,
    .filter = filter_throttle_filter,
    .exit = filter_throttle_exit,
};
