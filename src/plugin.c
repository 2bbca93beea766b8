/*
 * plugin.c - the plugin registry, the generic instance options, and the
 * instance life cycle (create, accessors, destroy).
 *
 * The registry is the explicit array generated from plugins/Makefile.am
 * (plugin_list.h).  Generic options are declared once here, one table per
 * kind, all filling struct sl_generic_conf, and merged with the plugin's
 * table when an instance is configured.  Main thread only, except the
 * read-only accessors.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "log.h"
#include "option.h"
#include "plugin.h"
#include "worker.h"
#include "sluice/banned.h"

#define SL_PLUGIN_ENTRY(x) extern const struct sl_plugin sl_plugin_##x;
#include "plugin_list.h"
#undef SL_PLUGIN_ENTRY

#define SL_PLUGIN_ENTRY(x) &sl_plugin_##x,
static const struct sl_plugin *const plugin_registry[] = {
#include "plugin_list.h"
};
#undef SL_PLUGIN_ENTRY

#define SL_PLUGIN_ENTRY(x) #x,
static const char *const plugin_dirs[] = {
#include "plugin_list.h"
};
#undef SL_PLUGIN_ENTRY

_Static_assert(sizeof(plugin_dirs) / sizeof(plugin_dirs[0]) ==
                   sizeof(plugin_registry) / sizeof(plugin_registry[0]),
               "one folder name per registered plugin");

static const char *const plugin_kind_names[] = { "input", "parser", "filter",
                                                 "output" };
static const char *const storage_types[] = { "memory", "filesystem", NULL };
static const char *const overflow_modes[] = { "block", "drop_oldest",
                                              "drop_newest", NULL };
/* "default" (index 0) inherits the service's level; the others map to
 * enum sl_log_level as index - 1. */
static const char *const log_levels[] = { "default", "off",   "error", "warn",
                                          "info",    "debug", "trace", NULL };

#define G(f) SL_OPT_FIELD(struct sl_generic_conf, f)

static const struct sl_option generic_input_options[] = {
    { .name = "name", .type = SL_OPT_STR, G(name),
      .desc = "Plugin to use (e.g. tail)." },
    { .name = "alias", .type = SL_OPT_STR, G(alias),
      .desc = "Instance name used in logs and metrics instead of "
              "<plugin>.<index>." },
    { .name = "tag", .type = SL_OPT_STR, G(tag),
      .desc = "Tag given to the records, used for routing. Defaults to the "
              "instance name." },
    { .name = "parser", .type = SL_OPT_STR, G(parser),
      .desc = "Parser for raw lines: a name from the parsers section or a "
              "built-in (json, logfmt). A line that does not parse is kept "
              "as {\"log\": line} and counted." },
    { .name = "mem_buf_limit", .type = SL_OPT_SIZE, .def = "64M", G(mem_buf_limit),
      .min = 64 * 1024, .max = (int64_t)1 << 40,
      .desc = "Buffered bytes (not yet delivered by every output) above "
              "which the input is paused until outputs catch up. Nothing "
              "is dropped." },
    { .name = "storage.type", .type = SL_OPT_ENUM, .def = "memory",
      G(storage_type), .choices = storage_types,
      .desc = "Where chunks are buffered: memory, or filesystem under "
              "service.storage.path." },
    { .name = "log_level", .type = SL_OPT_ENUM, .def = "default", G(log_level),
      .choices = log_levels,
      .desc = "Log level for this instance (default: the service's)." },
    SL_OPT_END,
};

static const struct sl_option generic_parser_options[] = {
    { .name = "name", .type = SL_OPT_STR, G(name),
      .desc = "Name inputs use to refer to this parser (required)." },
    { .name = "format", .type = SL_OPT_STR, G(match),
      .desc = "Parser plugin: json, regex or logfmt (required)." },
    SL_OPT_END,
};

static const struct sl_option generic_filter_options[] = {
    { .name = "name", .type = SL_OPT_STR, G(name),
      .desc = "Plugin to use (e.g. grep)." },
    { .name = "alias", .type = SL_OPT_STR, G(alias),
      .desc = "Instance name used in logs and metrics." },
    { .name = "match", .type = SL_OPT_STR, G(match),
      .desc = "Tag pattern ('*' matches any run of characters). Default "
              "'*' unless match_regex is set." },
    { .name = "match_regex", .type = SL_OPT_STR, G(match_regex),
      .desc = "Regular expression the whole tag must match." },
    { .name = "log_level", .type = SL_OPT_ENUM, .def = "default", G(log_level),
      .choices = log_levels,
      .desc = "Log level for this instance (default: the service's)." },
    SL_OPT_END,
};

static const struct sl_option generic_output_options[] = {
    { .name = "name", .type = SL_OPT_STR, G(name),
      .desc = "Plugin to use (e.g. tcp)." },
    { .name = "alias", .type = SL_OPT_STR, G(alias),
      .desc = "Instance name used in logs and metrics." },
    { .name = "match", .type = SL_OPT_STR, G(match),
      .desc = "Tag pattern ('*' matches any run of characters). Default "
              "'*' unless match_regex is set." },
    { .name = "match_regex", .type = SL_OPT_STR, G(match_regex),
      .desc = "Regular expression the whole tag must match." },
    { .name = "workers", .type = SL_OPT_INT, .def = "1", G(workers), .min = 1,
      .max = 64,
      .desc = "Worker threads delivering in parallel. With more than one, "
              "order across chunks is not kept." },
    { .name = "retry_limit", .type = SL_OPT_STR, .def = "10", G(retry_limit),
      .desc = "Retries of a failed flush before its records are given up "
              "(counted as dropped, reason retry_limit); a number, or "
              "no_limits." },
    { .name = "retry_base", .type = SL_OPT_TIME, .def = "1s", G(retry_base_ms),
      .min = 1, .max = 3600 * 1000,
      .desc = "Base of the exponential backoff between retries (full "
              "jitter)." },
    { .name = "retry_max", .type = SL_OPT_TIME, .def = "60s", G(retry_max_ms),
      .min = 1, .max = 24 * 3600 * 1000,
      .desc = "Longest wait between two retries." },
    { .name = "storage.total_limit_size", .type = SL_OPT_SIZE, .def = "0",
      G(total_limit_size),
      .desc = "Most bytes of chunks queued for this output (memory and "
              "disk); 0 means no limit beyond the inputs' own. What happens "
              "at the limit is set by overflow." },
    { .name = "overflow", .type = SL_OPT_ENUM, .def = "block", G(overflow),
      .choices = overflow_modes,
      .desc = "At storage.total_limit_size: block pauses the inputs routed "
              "here until there is room; drop_oldest and drop_newest drop "
              "whole chunks of this output's copy and count them "
              "(sluice_output_dropped_records_total{reason=\"overflow\"})." },
    { .name = "dlq", .type = SL_OPT_BOOL, .def = "on", G(dlq),
      .desc = "Write records given up after retry_limit or rejected "
              "permanently to storage.path/dlq/<output>/YYYYMMDD.ndjson "
              "(off: count them as dropped)." },
    { .name = "log_level", .type = SL_OPT_ENUM, .def = "default", G(log_level),
      .choices = log_levels,
      .desc = "Log level for this instance (default: the service's)." },
    SL_OPT_END,
};

#undef G

size_t sl_plugin_count(void)
{
    return sizeof(plugin_registry) / sizeof(plugin_registry[0]);
}

const struct sl_plugin *sl_plugin_at(size_t i)
{
    return i < sl_plugin_count() ? plugin_registry[i] : NULL;
}

const char *sl_plugin_dir(size_t i)
{
    return i < sl_plugin_count() ? plugin_dirs[i] : NULL;
}

const struct sl_plugin *sl_plugin_find(enum sl_plugin_kind kind,
                                       const char *name)
{
    size_t i;

    for (i = 0; i < sl_plugin_count(); i++) {
        const struct sl_plugin *p = plugin_registry[i];

        if (p->abi == SL_PLUGIN_ABI && p->kind == kind &&
            strcmp(p->name, name) == 0) {
            return p;
        }
    }
    return NULL;
}

const struct sl_plugin *sl_plugin_lookup(const char *name)
{
    size_t i;

    for (i = 0; i < sl_plugin_count(); i++) {
        if (strcmp(plugin_registry[i]->name, name) == 0) {
            return plugin_registry[i];
        }
    }
    return NULL;
}

const char *sl_plugin_kind_name(enum sl_plugin_kind kind)
{
    return (unsigned)kind < 4 ? plugin_kind_names[kind] : "unknown";
}

const struct sl_option *sl_plugin_generic_options(enum sl_plugin_kind kind)
{
    switch (kind) {
    case SL_PLUGIN_INPUT:
        return generic_input_options;
    case SL_PLUGIN_PARSER:
        return generic_parser_options;
    case SL_PLUGIN_FILTER:
        return generic_filter_options;
    case SL_PLUGIN_OUTPUT:
        return generic_output_options;
    }
    return NULL;
}

/* ---- accessors ---- */

const char *sl_instance_name(const struct sl_instance *ins)
{
    return ins->name;
}

const struct sl_plugin *sl_instance_plugin(const struct sl_instance *ins)
{
    return ins->plugin;
}

void *sl_instance_ctx(const struct sl_instance *ins)
{
    return ins->ctx;
}

void sl_instance_set_ctx(struct sl_instance *ins, void *ctx)
{
    ins->ctx = ctx;
}

struct event_base *sl_instance_base(const struct sl_instance *ins)
{
    return ins->base;
}

struct sl_str sl_instance_tag(const struct sl_instance *ins)
{
    return ins->tag;
}

const char *sl_instance_storage_path(const struct sl_instance *ins)
{
    if (ins->engine != NULL && ins->engine->svc.storage_path != NULL) {
        return ins->engine->svc.storage_path;
    }
    return "/var/lib/sluice";
}

int sl_instance_log_level(const struct sl_instance *ins)
{
    return ins != NULL ? ins->log_level : -1;
}

struct sl_metrics *sl_instance_metrics(const struct sl_instance *ins)
{
    return ins->metrics;
}

/* ---- life cycle ---- */

static int instance_retry_limit(struct sl_instance *ins, struct sl_err *err)
{
    const char *s = ins->g.retry_limit;
    char *end = NULL;
    long long v;

    ins->retry_limit = 10;
    if (s == NULL) {
        return SL_OK;
    }
    if (strcmp(s, "no_limits") == 0 || strcmp(s, "false") == 0 ||
        strcmp(s, "off") == 0) {
        ins->retry_limit = -1;
        return SL_OK;
    }
    v = strtoll(s, &end, 10);
    if (end == s || *end != '\0' || v < 0 || v > 1000000) {
        return sl_err_set(err, SL_EINVAL,
                          "expected a number of retries (0..1000000) or "
                          "no_limits, got '%s'",
                          s);
    }
    ins->retry_limit = v;
    return SL_OK;
}

static bool instance_name_taken(const struct sl_engine *e, const char *name)
{
    struct sl_instance *const *lists[2] = { e->inputs, e->filters };
    size_t counts[2] = { e->ninputs, e->nfilters };
    size_t l, i;

    for (l = 0; l < 2; l++) {
        for (i = 0; i < counts[l]; i++) {
            if (strcmp(lists[l][i]->name, name) == 0) {
                return true;
            }
        }
    }
    return false;
}

/* An alias, or "<plugin>.<index>".  Inputs are built before filters and
 * outputs, so when a plugin name serves two kinds (an http input and an
 * http output) the later one's automatic name says its kind:
 * "http.out.0". */
static void instance_name_set(struct sl_instance *ins, const char *plugin_name)
{
    if (ins->g.alias != NULL && ins->g.alias[0] != '\0') {
        snprintf(ins->name, sizeof(ins->name), "%s", ins->g.alias);
        return;
    }
    snprintf(ins->name, sizeof(ins->name), "%s.%u", plugin_name, ins->index);
    if (ins->engine != NULL && ins->plugin->kind != SL_PLUGIN_INPUT &&
        instance_name_taken(ins->engine, ins->name)) {
        snprintf(ins->name, sizeof(ins->name), "%s.%s.%u", plugin_name,
                 ins->plugin->kind == SL_PLUGIN_OUTPUT ? "out" : "filter",
                 ins->index);
    }
}

static int instance_setup(struct sl_instance *ins, struct sl_err *err)
{
    enum sl_plugin_kind kind = ins->plugin->kind;
    const char *match = ins->g.match;

    ins->log_level = ins->g.log_level - 1;
    if (kind == SL_PLUGIN_INPUT) {
        const char *t = ins->g.tag != NULL ? ins->g.tag : ins->name;

        ins->tag = sl_str_cstr(t);
    }
    if (kind == SL_PLUGIN_FILTER || kind == SL_PLUGIN_OUTPUT) {
        if (match == NULL && ins->g.match_regex == NULL) {
            match = "*";
        }
        if (sl_matcher_init(&ins->matcher, match, ins->g.match_regex, err) !=
            SL_OK) {
            sl_err_at(err, NULL, 0, 0, "match_regex");
            return SL_ECONFIG;
        }
    }
    if (kind == SL_PLUGIN_OUTPUT) {
        if (instance_retry_limit(ins, err) != SL_OK) {
            sl_err_at(err, NULL, 0, 0, "retry_limit");
            return SL_ECONFIG;
        }
    }
    return SL_OK;
}

/* Reports a failed set-up or init of <ins> at the most precise place: the
 * option the plugin named in <e>->key when the entry has it, else the
 * entry itself. */
static void instance_error(struct sl_errlist *errs, const struct sl_cnode *map,
                           const struct sl_instance *ins,
                           const struct sl_err *e)
{
    const struct sl_cnode *at = map;
    const struct sl_cnode *kn = NULL;

    if (map != NULL && e->key[0] != '\0') {
        kn = sl_cnode_get(map, e->key);
        if (kn != NULL) {
            at = kn;
        }
    }
    sl_errlist_add(errs, at != NULL ? at->file : NULL, at != NULL ? at->line : 0,
                   at != NULL ? at->col : 0,
                   e->key[0] != '\0' ? e->key : NULL, "%s: %s", ins->name,
                   e->msg);
}

struct sl_instance *sl_instance_create(struct sl_engine *engine,
                                       const struct sl_plugin *p,
                                       const struct sl_config *cfg,
                                       const struct sl_cnode *map,
                                       unsigned index,
                                       struct sl_errlist *errs)
{
    struct sl_instance *ins = sl_calloc(1, sizeof(*ins));
    struct sl_opt_target targets[2];
    struct sl_err err = { 0 };
    size_t before = sl_errlist_count(errs);
    int rc;

    if (ins == NULL) {
        sl_errlist_add(errs, NULL, 0, 0, NULL, "out of memory");
        return NULL;
    }
    ins->plugin = p;
    ins->engine = engine;
    ins->index = index;
    ins->log_level = -1;
    ins->metrics = engine != NULL ? engine->metrics : NULL;
    ins->base = engine != NULL ? engine->base : NULL;
    sl_strmap_init(&ins->open_chunks);
    ins->conf = sl_calloc(1, p->conf_size > 0 ? p->conf_size : 1);
    if (ins->conf == NULL) {
        sl_errlist_add(errs, NULL, 0, 0, NULL, "out of memory");
        goto fail;
    }
    targets[0].table = sl_plugin_generic_options(p->kind);
    targets[0].conf = &ins->g;
    targets[1].table = p->options;
    targets[1].conf = ins->conf;
    if (map != NULL) {
        rc = sl_option_apply(cfg, map, targets, 2, NULL, errs);
    } else {
        rc = sl_option_defaults(targets[0].table, &ins->g);
        if (rc == SL_OK && p->options != NULL) {
            rc = sl_option_defaults(p->options, ins->conf);
        }
        if (rc != SL_OK) {
            sl_errlist_add(errs, NULL, 0, 0, p->name, "out of memory");
        }
    }
    instance_name_set(ins, p->name);
    if (rc != SL_OK || sl_errlist_count(errs) != before) {
        goto fail;
    }
    if (instance_setup(ins, &err) != SL_OK) {
        instance_error(errs, map, ins, &err);
        goto fail;
    }
    if (p->init != NULL) {
        memset(&err, 0, sizeof(err));
        if (p->init(ins, ins->conf, &err) != SL_OK) {
            if (err.msg[0] == '\0') {
                snprintf(err.msg, sizeof(err.msg), "initialisation failed");
            }
            instance_error(errs, map, ins, &err);
            goto fail;
        }
    }
    ins->inited = true;
    if (map != NULL) {
        ins->cfg_file = map->file;
        ins->cfg_line = map->line;
        ins->cfg_col = map->col;
    }
    return ins;
fail:
    sl_instance_destroy(ins);
    return NULL;
}

void sl_instance_destroy(struct sl_instance *ins)
{
    if (ins == NULL) {
        return;
    }
    if (ins->inited && ins->plugin->exit != NULL) {
        ins->plugin->exit(ins);
    }
    sl_matcher_fini(&ins->matcher);
    sl_strmap_fini(&ins->open_chunks, NULL);
    sl_free(ins->chunk_dir);
    if (ins->conf != NULL && ins->plugin->options != NULL) {
        sl_option_free(ins->plugin->options, ins->conf);
    }
    sl_option_free(sl_plugin_generic_options(ins->plugin->kind), &ins->g);
    sl_free(ins->conf);
    sl_free(ins);
}

/* ---- standalone instances, for tests and tools ---- */

/* Wraps <yaml> (a flow map, or block-style lines) as the single entry of
 * a pipeline.filters list, so that the normal loader parses it. */
static char *standalone_yaml(const char *yaml)
{
    struct sl_buf b;
    const char *line = yaml, *nl;

    sl_buf_init(&b, 0);
    if (yaml[0] == '{') {
        sl_buf_append_str(&b, "pipeline:\n  filters:\n    - ");
        sl_buf_append_str(&b, yaml);
        sl_buf_putc(&b, '\n');
        return sl_buf_take(&b);
    }
    sl_buf_append_str(&b, "pipeline:\n  filters:\n    -\n");
    while (*line != '\0') {
        nl = strchr(line, '\n');
        sl_buf_append_str(&b, "      ");
        sl_buf_append(&b, line, nl != NULL ? (size_t)(nl - line) : strlen(line));
        sl_buf_putc(&b, '\n');
        if (nl == NULL) {
            break;
        }
        line = nl + 1;
    }
    return sl_buf_take(&b);
}

struct sl_instance *sl_instance_create_standalone(const struct sl_plugin *p,
                                                  const char *yaml,
                                                  struct sl_errlist *errs)
{
    struct sl_config *cfg = NULL;
    struct sl_instance *ins;
    const struct sl_cnode *map;
    char *text;
    int rc;

    if (yaml == NULL || yaml[strspn(yaml, " \t\r\n")] == '\0') {
        return sl_instance_create(NULL, p, NULL, NULL, 0, errs);
    }
    text = standalone_yaml(yaml);
    if (text == NULL) {
        sl_errlist_add(errs, NULL, 0, 0, NULL, "out of memory");
        return NULL;
    }
    rc = sl_config_load_string("<standalone>", text, strlen(text), &cfg, errs);
    sl_free(text);
    if (rc != SL_OK) {
        return NULL;
    }
    map = cfg->filters->n == 1 ? cfg->filters->items[0] : NULL;
    if (map == NULL || map->type != SL_CNODE_MAP) {
        sl_errlist_add(errs, "<standalone>", 0, 0, NULL,
                       "expected a YAML map of options");
        sl_config_destroy(cfg);
        return NULL;
    }
    ins = sl_instance_create(NULL, p, cfg, map, 0, errs);
    /* Positions point into the config, which goes away now. */
    if (ins != NULL) {
        ins->cfg_file = NULL;
    }
    sl_config_destroy(cfg);
    return ins;
}

int sl_instance_parse(struct sl_instance *ins, const char *p, size_t n,
                      struct sl_parse_result *res)
{
    if (ins->plugin->kind != SL_PLUGIN_PARSER || ins->plugin->parse == NULL) {
        return SL_EINVAL;
    }
    if (res->scratch != NULL) {
        sl_buf_reset(res->scratch);
    }
    res->ts_ns = 0;
    res->body = SL_STR_NULL;
    return ins->plugin->parse(ins, p, n, res);
}

enum sl_filter_result sl_instance_filter(struct sl_instance *ins,
                                         struct sl_str tag, struct sl_str body,
                                         struct sl_buf *out)
{
    struct sl_arena arena;
    struct sl_record r;
    enum sl_filter_result fr;

    sl_arena_init(&arena, 0, 0);
    memset(&r, 0, sizeof(r));
    r.tag = tag;
    r.body = body;
    r.arena = &arena;
    r.ts_ns = sl_time_now_ns();
    fr = ins->plugin->filter(ins, &r);
    sl_buf_reset(out);
    if (fr == SL_FILTER_MODIFIED || r.dirty) {
        if (r.dom != NULL) {
            sl_json_serialize(r.dom, out);
        } else {
            sl_buf_append(out, body.ptr, body.len);
        }
        if (fr == SL_FILTER_KEEP) {
            fr = SL_FILTER_MODIFIED;
        }
    } else if (fr == SL_FILTER_KEEP) {
        sl_buf_append(out, body.ptr, body.len);
    }
    sl_arena_fini(&arena);
    return fr;
}
