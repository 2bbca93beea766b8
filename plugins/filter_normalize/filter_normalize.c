/*
 * filter_normalize.c - recognise audit events, anomaly records and errors,
 * move their fields into the documented schemas (docs/records.md), set
 * event.kind, optionally map to ECS names, and re-tag by kind.
 *
 * Per record:
 *   1. the kind: the first 'rules' entry that holds ("KIND CONDITION"),
 *      else (detect_by_shape) the record's shape: event_type audit or
 *      actor + action -> audit; event_type anomaly or metric + value +
 *      (score or expected) -> anomaly; an error object, or exception or
 *      stack-like keys -> error; metric + numeric value -> metric; else log
 *   2. known aliases move to the schema's names (user -> actor,
 *      anomaly_score -> score, stacktrace -> error.stack, ...), and an
 *      audit event gets an outcome (success, failure, unknown) from its
 *      result when it has none
 *   3. event.kind is set: event (audit, error, log), alert (anomaly) or
 *      metric; a non-object "event" member moves to event.original
 *   4. with ecs on, fields are renamed to Elastic Common Schema names
 *      (actor -> user.name, error.stack -> error.stack_trace, ...) and
 *      @timestamp is added from the record time
 *   5. audit, anomaly and error records get their tag prefix (audit.,
 *      anomaly., error. by default) so that routes can send each kind to
 *      its own outputs; a tag that already has the prefix is kept
 *
 * Runs on the main thread; per record it allocates only from the
 * record's arena.
 */
#include <stdio.h>
#include <string.h>

#include "sluice/plugin.h"
#include "sluice/rule.h"
#include "sluice/banned.h"

enum norm_kind {
    NORM_LOG,
    NORM_AUDIT,
    NORM_ANOMALY,
    NORM_ERROR,
    NORM_METRIC,
    NORM_NKINDS,
};

static const char *const norm_kind_names[] = { "log", "audit", "anomaly",
                                               "error", "metric" };
static const char *const norm_event_kind[] = { "event", "event", "alert",
                                               "event", "metric" };

struct filter_normalize_conf {
    struct sl_strlist rules;
    bool detect_by_shape;
    bool ecs;
    bool retag;
    char *audit_tag_prefix;
    char *anomaly_tag_prefix;
    char *error_tag_prefix;
};

struct norm_rule {
    enum norm_kind kind;
    struct sl_rule cond;
};

struct filter_normalize_ctx {
    const struct filter_normalize_conf *conf;
    struct norm_rule *rules;
    size_t nrules;
    const char *prefix[NORM_NKINDS];
    struct sl_rule_scratch scratch;
    struct sl_metric *m_kind[NORM_NKINDS];
};

static const struct sl_option filter_normalize_options[] = {
    { .name = "rules",
      .type = SL_OPT_LIST,
      .flags = SL_OPT_MULTI,
      SL_OPT_FIELD(struct filter_normalize_conf, rules),
      .desc = "Explicit kinds, tried in order before the shape: 'KIND "
              "key_exists KEY', 'KIND key_value_equals KEY VALUE' or 'KIND "
              "key_value_matches KEY REGEX', KIND being audit, anomaly, "
              "error, metric or log." },
    { .name = "detect_by_shape",
      .type = SL_OPT_BOOL,
      .def = "on",
      SL_OPT_FIELD(struct filter_normalize_conf, detect_by_shape),
      .desc = "Recognise the kind from the record's fields when no rule "
              "matched (see docs/records.md)." },
    { .name = "ecs",
      .type = SL_OPT_BOOL,
      .def = "off",
      SL_OPT_FIELD(struct filter_normalize_conf, ecs),
      .desc = "Rename fields to Elastic Common Schema names (actor to "
              "user.name, error.stack to error.stack_trace, ...) and add "
              "@timestamp, so that Kibana works without hand mapping." },
    { .name = "retag",
      .type = SL_OPT_BOOL,
      .def = "on",
      SL_OPT_FIELD(struct filter_normalize_conf, retag),
      .desc = "Put the kind's prefix before the tag of audit, anomaly and "
              "error records, so that routes can match audit.* and so "
              "on." },
    { .name = "audit_tag_prefix",
      .type = SL_OPT_STR,
      .def = "audit.",
      SL_OPT_FIELD(struct filter_normalize_conf, audit_tag_prefix),
      .desc = "Tag prefix of audit events." },
    { .name = "anomaly_tag_prefix",
      .type = SL_OPT_STR,
      .def = "anomaly.",
      SL_OPT_FIELD(struct filter_normalize_conf, anomaly_tag_prefix),
      .desc = "Tag prefix of anomaly records." },
    { .name = "error_tag_prefix",
      .type = SL_OPT_STR,
      .def = "error.",
      SL_OPT_FIELD(struct filter_normalize_conf, error_tag_prefix),
      .desc = "Tag prefix of errors." },
    SL_OPT_END,
};

/* ---- set-up ----------------------------------------------------------- */

/* Checks what follows KEY in <entry>, then compiles it into <ru>. */
static int norm_rule_tail(struct norm_rule *ru, enum sl_rule_op op,
                          struct sl_str rest, const char *entry,
                          struct sl_err *err)
{
    const struct sl_rule_src src = { .who = "normalize", .entry = entry };

    if (op == SL_RULE_EXISTS) {
        return rest.len == 0 ? SL_OK
                             : sl_err_set(err, SL_ECONFIG,
                                          "normalize: key_exists takes one "
                                          "KEY in '%s'",
                                          entry);
    }
    if (rest.len == 0) {
        return sl_err_set(err, SL_ECONFIG,
                          "normalize: missing VALUE or REGEX in '%s'", entry);
    }
    return sl_rule_arg(&ru->cond, op, rest, &src, err);
}

static int norm_rule_compile(struct norm_rule *ru, const char *entry,
                             struct sl_err *err)
{
    static const char *const conds[] = { "key_exists", "key_value_equals",
                                         "key_value_matches" };
    static const enum sl_rule_op ops[] = { SL_RULE_EXISTS, SL_RULE_EQUALS,
                                           SL_RULE_MATCHES };
    struct sl_str kind, cond, key, rest;
    size_t i;
    int rc;

    sl_rule_split(entry, &kind, &rest);
    sl_rule_split(rest.ptr, &cond, &rest);
    sl_rule_split(rest.ptr, &key, &rest);
    for (i = 0; i < NORM_NKINDS && !sl_str_eq_cstr(kind, norm_kind_names[i]);
         i++) {
    }
    ru->kind = (enum norm_kind)i;
    for (i = 0; i < 3 && !sl_str_eq_cstr(cond, conds[i]); i++) {
    }
    if (ru->kind == NORM_NKINDS || i == 3 || key.len == 0) {
        return sl_err_set(err, SL_ECONFIG,
                          "normalize: rule '%s' expects 'KIND key_exists "
                          "KEY', 'KIND key_value_equals KEY VALUE' or 'KIND "
                          "key_value_matches KEY REGEX' (KIND: audit, "
                          "anomaly, error, metric or log)",
                          entry);
    }
    rc = sl_rule_accessor(&ru->cond.key, key, "normalize", err);
    return rc == SL_OK ? norm_rule_tail(ru, ops[i], rest, entry, err) : rc;
}

static void norm_ctx_destroy(struct filter_normalize_ctx *ctx)
{
    size_t i;

    if (ctx == NULL) {
        return;
    }
    for (i = 0; i < ctx->nrules; i++) {
        sl_rule_fini(&ctx->rules[i].cond);
    }
    sl_free(ctx->rules);
    sl_rule_scratch_fini(&ctx->scratch);
    sl_free(ctx);
}

static int norm_setup(struct sl_instance *ins, struct filter_normalize_ctx *ctx,
                      const struct filter_normalize_conf *c, struct sl_err *err)
{
    size_t i;
    int rc;

    ctx->conf = c;
    ctx->prefix[NORM_AUDIT] = c->audit_tag_prefix;
    ctx->prefix[NORM_ANOMALY] = c->anomaly_tag_prefix;
    ctx->prefix[NORM_ERROR] = c->error_tag_prefix;
    ctx->rules = sl_calloc(c->rules.n + 1, sizeof(*ctx->rules));
    rc = sl_rule_scratch_init(&ctx->scratch);
    if (ctx->rules == NULL || rc != SL_OK) {
        return sl_err_set(err, SL_ENOMEM, "normalize: out of memory");
    }
    for (i = 0; i < c->rules.n; i++) {
        rc = norm_rule_compile(&ctx->rules[i], c->rules.v[i], err);
        ctx->nrules++;
        if (rc != SL_OK) {
            return rc;
        }
    }
    for (i = 0; i < NORM_NKINDS; i++) {
        ctx->m_kind[i] =
            sl_metric_counter(ins, "sluice_normalize_records_total",
                              "Records normalized, by recognised kind.", "kind",
                              norm_kind_names[i]);
    }
    return SL_OK;
}

static int filter_normalize_init(struct sl_instance *ins, void *conf,
                                 struct sl_err *err)
{
    struct filter_normalize_ctx *ctx = sl_calloc(1, sizeof(*ctx));
    int rc;

    if (ctx == NULL) {
        return sl_err_set(err, SL_ENOMEM, "normalize: out of memory");
    }
    rc = norm_setup(ins, ctx, conf, err);
    if (rc != SL_OK) {
        norm_ctx_destroy(ctx);
        return rc;
    }
    sl_instance_set_ctx(ins, ctx);
    return SL_OK;
}

/* ---- paths: dotted names of nested members ---------------------------- */

/* The value at dotted <path> ("error.stack"), or NULL. */
static struct sl_json *norm_get(const struct sl_json *root, const char *path)
{
    const struct sl_json *v = root;
    const char *dot;

    while (v != NULL && v->type == SL_JSON_OBJECT) {
        dot = strchr(path, '.');
        if (dot == NULL) {
            return sl_json_obj_get(v, sl_str_cstr(path));
        }
        v = sl_json_obj_get(v, sl_str_make(path, (size_t)(dot - path)));
        path = dot + 1;
    }
    return NULL;
}

/* Removes the member at <path>; an emptied parent object stays. */
static void norm_remove(struct sl_json *root, const char *path)
{
    const char *dot = strrchr(path, '.');
    struct sl_json *parent = root;
    char head[128];

    if (dot != NULL) {
        if ((size_t)(dot - path) >= sizeof(head)) {
            return;
        }
        memcpy(head, path, (size_t)(dot - path));
        head[dot - path] = '\0';
        parent = norm_get(root, head);
        path = dot + 1;
    }
    if (parent != NULL && parent->type == SL_JSON_OBJECT) {
        sl_json_obj_remove(parent, sl_str_cstr(path));
    }
}

/* Sets <path> to <val>, creating objects on the way (a non-object in the
 * way is replaced).  Returns SL_OK or SL_ENOMEM. */
static int norm_set(struct sl_arena *a, struct sl_json *root, const char *path,
                    struct sl_json *val)
{
    struct sl_json *v = root;
    struct sl_json *next;
    const char *dot;
    struct sl_str seg;

    while ((dot = strchr(path, '.')) != NULL) {
        seg = sl_str_make(path, (size_t)(dot - path));
        next = sl_json_obj_get(v, seg);
        if (next == NULL || next->type != SL_JSON_OBJECT) {
            next = sl_json_new_object(a);
            if (next == NULL || sl_json_obj_set(a, v, seg, next) != SL_OK) {
                return SL_ENOMEM;
            }
        }
        v = next;
        path = dot + 1;
    }
    return sl_json_obj_set(a, v, sl_str_cstr(path), val);
}

/* Moves <from> to <to> when <from> exists and <to> does not.  True when
 * something moved. */
static bool norm_move(struct sl_arena *a, struct sl_json *root,
                      const char *from, const char *to)
{
    struct sl_json *v = norm_get(root, from);

    if (v == NULL || norm_get(root, to) != NULL) {
        return false;
    }
    norm_remove(root, from);
    if (norm_set(a, root, to, v) != SL_OK) {
        return false;
    }
    return true;
}

struct norm_map {
    const char *from;
    const char *to;
};

static bool norm_move_all(struct sl_arena *a, struct sl_json *root,
                          const struct norm_map *m)
{
    bool changed = false;

    for (; m->from != NULL; m++) {
        changed |= norm_move(a, root, m->from, m->to);
    }
    return changed;
}

/* ---- recognising the kind --------------------------------------------- */

static bool norm_str_is(const struct sl_json *v, const char *s)
{
    return v != NULL && v->type == SL_JSON_STRING &&
           sl_str_eq_cstr(v->u.str, s);
}

static bool norm_has(const struct sl_json *dom, const char *key)
{
    return sl_json_obj_get(dom, sl_str_cstr(key)) != NULL;
}

static bool norm_is_error(const struct sl_json *dom)
{
    static const char *const keys[] = { "exception",  "stack",
                                        "stacktrace", "stack_trace",
                                        "traceback",  "exception_type",
                                        NULL };
    const struct sl_json *e = sl_json_obj_get(dom, SL_STR_LIT("error"));
    size_t i;

    if (e != NULL && e->type == SL_JSON_OBJECT &&
        (norm_has(e, "type") || norm_has(e, "message") ||
         norm_has(e, "stack") || norm_has(e, "stack_trace"))) {
        return true;
    }
    if (e != NULL && e->type == SL_JSON_STRING &&
        norm_str_is(sl_json_obj_get(dom, SL_STR_LIT("level")), "error")) {
        return true;
    }
    for (i = 0; keys[i] != NULL; i++) {
        if (norm_has(dom, keys[i])) {
            return true;
        }
    }
    return false;
}

static bool norm_is_audit(const struct sl_json *dom, const struct sl_json *et)
{
    return norm_str_is(et, "audit") ||
           ((norm_has(dom, "actor") || norm_has(dom, "user")) &&
            norm_has(dom, "action"));
}

static bool norm_is_anomaly(const struct sl_json *dom, const struct sl_json *et,
                            bool metric)
{
    if (norm_str_is(et, "anomaly")) {
        return true;
    }
    return metric && norm_has(dom, "value") &&
           (norm_has(dom, "score") || norm_has(dom, "anomaly_score") ||
            norm_has(dom, "expected"));
}

static enum norm_kind norm_shape(const struct sl_json *dom)
{
    const struct sl_json *et = sl_json_obj_get(dom, SL_STR_LIT("event_type"));
    const struct sl_json *val = sl_json_obj_get(dom, SL_STR_LIT("value"));
    bool metric = norm_has(dom, "metric") || norm_has(dom, "metric_name");

    if (norm_is_audit(dom, et)) {
        return NORM_AUDIT;
    }
    if (norm_is_anomaly(dom, et, metric)) {
        return NORM_ANOMALY;
    }
    if (norm_str_is(et, "error") || norm_is_error(dom)) {
        return NORM_ERROR;
    }
    if (metric && val != NULL && val->type == SL_JSON_NUMBER) {
        return NORM_METRIC;
    }
    return NORM_LOG;
}

static enum norm_kind norm_kind_of(struct filter_normalize_ctx *ctx,
                                   const struct sl_json *dom)
{
    size_t i;

    for (i = 0; i < ctx->nrules; i++) {
        if (sl_rule_holds(&ctx->rules[i].cond, dom, &ctx->scratch)) {
            return ctx->rules[i].kind;
        }
    }
    return ctx->conf->detect_by_shape ? norm_shape(dom) : NORM_LOG;
}

/* ---- schema moves ----------------------------------------------------- */

static const struct norm_map norm_audit_aliases[] = {
    { "user", "actor" },          { "username", "actor" },
    { "principal", "actor" },     { "user_name", "actor" },
    { "client_ip", "source_ip" }, { "remote_addr", "source_ip" },
    { "src_ip", "source_ip" },    { "ip", "source_ip" },
    { "status", "result" },       { NULL, NULL },
};

static const struct norm_map norm_anomaly_aliases[] = {
    { "anomaly_score", "score" }, { "expected_value", "expected" },
    { "baseline", "expected" },   { "metric_name", "metric" },
    { "bot_id", "bot" },          { NULL, NULL },
};

static const struct norm_map norm_error_aliases[] = {
    { "exception_type", "error.type" },
    { "exception", "error.type" },
    { "error_type", "error.type" },
    { "exception_message", "error.message" },
    { "error_message", "error.message" },
    { "stacktrace", "error.stack" },
    { "stack_trace", "error.stack" },
    { "traceback", "error.stack" },
    { "stack", "error.stack" },
    { "error.stack_trace", "error.stack" },
    { NULL, NULL },
};

static const char *norm_outcome(const struct sl_json *result)
{
    static const char *const ok[] = { "success", "ok",      "allowed",
                                      "allow",   "granted", "succeeded",
                                      "passed",  NULL };
    static const char *const bad[] = { "failure",  "fail",    "failed",
                                       "denied",   "deny",    "error",
                                       "rejected", "blocked", NULL };
    size_t i;

    for (i = 0; ok[i] != NULL; i++) {
        if (norm_str_is(result, ok[i])) {
            return "success";
        }
    }
    for (i = 0; bad[i] != NULL; i++) {
        if (norm_str_is(result, bad[i])) {
            return "failure";
        }
    }
    return "unknown";
}

/* A string "error" becomes {"message": ...} so that error.* can nest. */
static void norm_error_object(struct sl_arena *a, struct sl_json *dom)
{
    struct sl_json *e = sl_json_obj_get(dom, SL_STR_LIT("error"));
    struct sl_json *o;

    if (e == NULL || e->type == SL_JSON_OBJECT) {
        return;
    }
    o = sl_json_new_object(a);
    if (o != NULL && sl_json_obj_set(a, o, SL_STR_LIT("message"), e) == SL_OK) {
        sl_json_obj_set(a, dom, SL_STR_LIT("error"), o);
    }
}

static int norm_set_str(struct sl_arena *a, struct sl_json *root,
                        const char *path, const char *s)
{
    struct sl_json *v = sl_json_new_string(a, s, strlen(s));

    return v != NULL ? norm_set(a, root, path, v) : SL_ENOMEM;
}

static void norm_schema(struct sl_arena *a, struct sl_json *dom,
                        enum norm_kind kind)
{
    switch (kind) {
    case NORM_AUDIT:
        norm_move_all(a, dom, norm_audit_aliases);
        if (!norm_has(dom, "event_type")) {
            norm_set_str(a, dom, "event_type", "audit");
        }
        if (!norm_has(dom, "outcome")) {
            norm_set_str(a, dom, "outcome",
                         norm_outcome(norm_get(dom, "result")));
        }
        break;
    case NORM_ANOMALY:
        norm_move_all(a, dom, norm_anomaly_aliases);
        if (!norm_has(dom, "event_type")) {
            norm_set_str(a, dom, "event_type", "anomaly");
        }
        break;
    case NORM_ERROR:
        norm_error_object(a, dom);
        norm_move_all(a, dom, norm_error_aliases);
        break;
    default:
        break;
    }
}

/* ---- ECS -------------------------------------------------------------- */

static const struct norm_map norm_ecs_common[] = {
    { "msg", "message" },
    { "log", "message" },
    { "level", "log.level" },
    { "service", "service.name" },
    { "host", "host.name" },
    { "hostname", "host.name" },
    { "trace_id", "trace.id" },
    { "span_id", "span.id" },
    { NULL, NULL },
};

static const struct norm_map norm_ecs_audit[] = {
    { "actor", "user.name" },
    { "action", "event.action" },
    { "resource", "labels.resource" },
    { "result", "labels.result" },
    { "outcome", "event.outcome" },
    { "compliance_id", "rule.id" },
    { "source_ip", "source.ip" },
    { "event_type", "event.type" },
    { NULL, NULL },
};

static const struct norm_map norm_ecs_anomaly[] = {
    { "score", "event.risk_score" },
    { "metric", "anomaly.metric" },
    { "value", "anomaly.value" },
    { "expected", "anomaly.expected" },
    { "severity", "anomaly.severity" },
    { "window", "anomaly.window" },
    { "bot", "service.node.name" },
    { "event_type", "event.type" },
    { NULL, NULL },
};

static const struct norm_map norm_ecs_error[] = {
    { "error.stack", "error.stack_trace" },
    { NULL, NULL },
};

/* event.severity (a number in ECS) from an anomaly's text severity. */
static void norm_ecs_severity(struct sl_arena *a, struct sl_json *dom)
{
    static const char *const names[] = { "low", "medium", "high", "critical",
                                         NULL };
    const struct sl_json *s = norm_get(dom, "anomaly.severity");
    struct sl_json *n;
    size_t i;

    for (i = 0; names[i] != NULL; i++) {
        if (norm_str_is(s, names[i]) &&
            norm_get(dom, "event.severity") == NULL) {
            n = sl_json_new_i64(a, (int64_t)i + 1);
            if (n != NULL) {
                norm_set(a, dom, "event.severity", n);
            }
            return;
        }
    }
}

static void norm_ecs(struct sl_arena *a, struct sl_json *dom,
                     enum norm_kind kind, int64_t ts_ns)
{
    char ts[64];
    size_t n;
    struct sl_json *v;

    norm_move_all(a, dom, norm_ecs_common);
    if (kind == NORM_AUDIT) {
        norm_move_all(a, dom, norm_ecs_audit);
    } else if (kind == NORM_ANOMALY) {
        norm_move_all(a, dom, norm_ecs_anomaly);
        norm_ecs_severity(a, dom);
    } else if (kind == NORM_ERROR) {
        norm_move_all(a, dom, norm_ecs_error);
    }
    if (!norm_has(dom, "@timestamp")) {
        n = sl_time_format_rfc3339(ts_ns, 3, ts, sizeof(ts));
        v = sl_json_new_string(a, ts, n);
        if (v != NULL) {
            sl_json_obj_set(a, dom, SL_STR_LIT("@timestamp"), v);
        }
    }
}

/* ---- the filter ------------------------------------------------------- */

static int norm_event_kind_set(struct sl_arena *a, struct sl_json *dom,
                               enum norm_kind kind)
{
    struct sl_json *ev = sl_json_obj_get(dom, SL_STR_LIT("event"));
    struct sl_json *o;

    if (ev != NULL && ev->type != SL_JSON_OBJECT) {
        o = sl_json_new_object(a);
        if (o == NULL ||
            sl_json_obj_set(a, o, SL_STR_LIT("original"), ev) != SL_OK ||
            sl_json_obj_set(a, dom, SL_STR_LIT("event"), o) != SL_OK) {
            return SL_ENOMEM;
        }
    }
    return norm_set_str(a, dom, "event.kind", norm_event_kind[kind]);
}

static int norm_retag(struct filter_normalize_ctx *ctx, struct sl_record *r,
                      enum norm_kind kind)
{
    const char *p = ctx->prefix[kind];
    size_t plen = p != NULL ? strlen(p) : 0;
    char *t;

    if (!ctx->conf->retag || plen == 0 ||
        (r->tag.len >= plen && memcmp(r->tag.ptr, p, plen) == 0)) {
        return SL_OK;
    }
    t = sl_arena_alloc(r->arena, plen + r->tag.len + 1);
    if (t == NULL) {
        return SL_ENOMEM;
    }
    memcpy(t, p, plen);
    if (r->tag.len > 0) {
        memcpy(t + plen, r->tag.ptr, r->tag.len);
    }
    t[plen + r->tag.len] = '\0';
    return sl_record_set_tag(r, sl_str_make(t, plen + r->tag.len));
}

static enum sl_filter_result filter_normalize_filter(struct sl_instance *ins,
                                                     struct sl_record *r)
{
    struct filter_normalize_ctx *ctx = sl_instance_ctx(ins);
    struct sl_json *dom = sl_record_dom(r);
    enum norm_kind kind;

    if (dom == NULL) {
        return SL_FILTER_KEEP;
    }
    kind = norm_kind_of(ctx, dom);
    sl_metric_add(ctx->m_kind[kind], 1);
    norm_schema(r->arena, dom, kind);
    if (norm_event_kind_set(r->arena, dom, kind) != SL_OK) {
        sl_log_warn(ins, "out of memory while normalizing a record");
    }
    if (ctx->conf->ecs) {
        norm_ecs(r->arena, dom, kind, r->ts_ns);
    }
    if (norm_retag(ctx, r, kind) != SL_OK) {
        sl_log_warn(ins, "cannot change a record's tag: out of memory");
    }
    sl_record_mark_dirty(r);
    return SL_FILTER_MODIFIED;
}

static void filter_normalize_exit(struct sl_instance *ins)
{
    norm_ctx_destroy(sl_instance_ctx(ins));
    sl_instance_set_ctx(ins, NULL);
}

const struct sl_plugin sl_plugin_filter_normalize = {
    .abi = SL_PLUGIN_ABI,
    .kind = SL_PLUGIN_FILTER,
    .name = "normalize",
    .description = "Recognise audit events, anomaly records and errors, "
                   "move their fields into the documented schemas, set "
                   "event.kind and re-tag them by kind.",
    .options = filter_normalize_options,
    .conf_size = sizeof(struct filter_normalize_conf),
    .init = filter_normalize_init,
    .filter = filter_normalize_filter,
    .exit = filter_normalize_exit,
};
