/*
 * config.c - YAML configuration files into a tree of sl_cnode.
 *
 * The file is read with libyaml's event parser (not its document loader)
 * so that every node keeps the 1-based line and column where it starts.
 * Nodes, strings and file names all live in one sl_arena kept in the
 * config's priv, so sl_config_destroy frees everything at once and an
 * allocation failure half way through leaks nothing.
 *
 * Aliases (*name) share the anchored node; a budget on the number of nodes
 * reachable through aliases stops "billion laughs" inputs.  Includes are
 * globbed relative to the including file and each file (by realpath) is
 * read at most once, to a depth of CFG_INCLUDE_DEPTH.
 *
 * Main thread only.  Never expands ${VAR}: that is sl_config_expand's job,
 * called by the option engine.
 */
#include <errno.h>
#include <glob.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "config.h"
#include "sluice/arena.h"
#include "sluice/buf.h"
#include "sluice/mem.h"
#include "sluice/banned.h"

#define CFG_INCLUDE_DEPTH 16
#define CFG_NEST_MAX      64
#define CFG_ALIAS_BUDGET  100000
#define CFG_FILE_MAX      (16u << 20)
#define CFG_SUGGEST_MAX   128

struct cfg_anchor {
    const char *name;
    struct sl_cnode *node;
};

struct cfg_priv {
    struct sl_arena arena;
    char **seen; /* realpaths of the files read, in the arena */
    size_t nseen;
};

/* State of one libyaml parse. */
struct cfg_parse {
    yaml_parser_t parser;
    struct cfg_priv *p;
    const char *file;
    struct sl_errlist *errs;
    struct cfg_anchor *anchors;
    size_t nanchors;
    size_t budget; /* nodes that aliases may still expand to */
};

/* State of one sl_config_load: the files and the merged result. */
struct cfg_loader {
    struct sl_config *cfg;
    struct cfg_priv *p;
    struct sl_errlist *errs;
    bool oom;
};

static const char *const cfg_top_keys[] = {
    "service",           "env",      "includes", "parsers",
    "multiline_parsers", "pipeline", NULL,
};

static const char *const cfg_pipeline_keys[] = {
    "inputs",
    "filters",
    "outputs",
    NULL,
};

/* ---- nodes ---------------------------------------------------------- */

static struct sl_cnode *cfg_node_new(struct cfg_priv *p, enum sl_cnode_type t,
                                     const char *file, unsigned line,
                                     unsigned col)
{
    struct sl_cnode *n = sl_arena_calloc(&p->arena, sizeof(*n));

    if (n != NULL) {
        n->type = t;
        n->file = file;
        n->line = line;
        n->col = col;
    }
    return n;
}

/* Arrays grow by doubling; the capacity is implicit (the next power of two
 * at or above n, at least 4), so no field is needed to remember it. */
static void *cfg_grow(struct cfg_priv *p, void *arr, size_t n, size_t elem)
{
    if (n != 0 && (n < 4 || (n & (n - 1)) != 0)) {
        return arr;
    }
    if (n == 0) {
        return sl_arena_alloc(&p->arena, 4 * elem);
    }
    return sl_arena_realloc(&p->arena, arr, n * elem, 2 * n * elem);
}

static int cfg_seq_push(struct cfg_priv *p, struct sl_cnode *seq,
                        struct sl_cnode *item)
{
    struct sl_cnode **v = cfg_grow(p, seq->items, seq->n, sizeof(*v));

    if (v == NULL) {
        return SL_ENOMEM;
    }
    seq->items = v;
    seq->items[seq->n++] = item;
    return SL_OK;
}

static int cfg_map_push(struct cfg_priv *p, struct sl_cnode *map,
                        struct sl_cnode *key, struct sl_cnode *val)
{
    struct sl_cpair *v = cfg_grow(p, map->pairs, map->n, sizeof(*v));

    if (v == NULL) {
        return SL_ENOMEM;
    }
    map->pairs = v;
    map->pairs[map->n].key = key;
    map->pairs[map->n].val = val;
    map->n++;
    return SL_OK;
}

static const char *cfg_type_name(enum sl_cnode_type t)
{
    switch (t) {
    case SL_CNODE_SCALAR:
        return "a scalar";
    case SL_CNODE_SEQ:
        return "a list";
    case SL_CNODE_MAP:
        return "a map";
    }
    return "?";
}

/* A plain "", "~" or "null" scalar: YAML's null, an empty section. */
static bool cfg_is_null(const struct sl_cnode *n)
{
    if (n->type != SL_CNODE_SCALAR || n->quoted) {
        return false;
    }
    return n->len == 0 || strcmp(n->str, "~") == 0 ||
           strcmp(n->str, "null") == 0;
}

/* ---- libyaml events into nodes -------------------------------------- */

static int cfg_syntax_error(struct cfg_parse *ps)
{
    const yaml_parser_t *y = &ps->parser;
    const char *problem = y->problem ? y->problem : "invalid YAML";

    if (y->error == YAML_MEMORY_ERROR) {
        return SL_ENOMEM;
    }
    if (y->error == YAML_READER_ERROR) {
        sl_errlist_add(ps->errs, ps->file, 0, 0, NULL,
                       "YAML error: %s at byte offset %zu", problem,
                       y->problem_offset);
        return SL_ECONFIG;
    }
    if (y->context != NULL) {
        sl_errlist_add(ps->errs, ps->file, (unsigned)y->problem_mark.line + 1,
                       (unsigned)y->problem_mark.column + 1, NULL,
                       "YAML syntax error: %s (%s at line %u col %u)", problem,
                       y->context, (unsigned)y->context_mark.line + 1,
                       (unsigned)y->context_mark.column + 1);
    } else {
        sl_errlist_add(ps->errs, ps->file, (unsigned)y->problem_mark.line + 1,
                       (unsigned)y->problem_mark.column + 1, NULL,
                       "YAML syntax error: %s", problem);
    }
    return SL_ECONFIG;
}

static int cfg_next(struct cfg_parse *ps, yaml_event_t *ev)
{
    if (!yaml_parser_parse(&ps->parser, ev)) {
        return cfg_syntax_error(ps);
    }
    return SL_OK;
}

static int cfg_parse_node(struct cfg_parse *ps, yaml_event_t *ev,
                          unsigned depth, struct sl_cnode **out);

/* Counts the nodes under <n> against the alias budget; false when the
 * budget runs out (stops early, so nested aliases cannot blow up). */
static bool cfg_budget_take(struct cfg_parse *ps, const struct sl_cnode *n)
{
    size_t i;

    if (ps->budget == 0) {
        return false;
    }
    ps->budget--;
    for (i = 0; i < n->n; i++) {
        if (n->type == SL_CNODE_SEQ && !cfg_budget_take(ps, n->items[i])) {
            return false;
        }
        if (n->type == SL_CNODE_MAP &&
            (!cfg_budget_take(ps, n->pairs[i].key) ||
             !cfg_budget_take(ps, n->pairs[i].val))) {
            return false;
        }
    }
    return true;
}

static int cfg_alias(struct cfg_parse *ps, const yaml_event_t *ev,
                     struct sl_cnode **out)
{
    const char *name = (const char *)ev->data.alias.anchor;
    size_t i;

    for (i = ps->nanchors; i > 0; i--) {
        if (strcmp(ps->anchors[i - 1].name, name) != 0) {
            continue;
        }
        if (!cfg_budget_take(ps, ps->anchors[i - 1].node)) {
            return sl_errlist_add(
                ps->errs, ps->file, (unsigned)ev->start_mark.line + 1,
                (unsigned)ev->start_mark.column + 1, NULL,
                "aliases expand to more than %u nodes", CFG_ALIAS_BUDGET);
        }
        *out = ps->anchors[i - 1].node;
        return SL_OK;
    }
    return sl_errlist_add(ps->errs, ps->file, (unsigned)ev->start_mark.line + 1,
                          (unsigned)ev->start_mark.column + 1, NULL,
                          "unknown anchor '%s' (an alias must follow its "
                          "complete anchored node)",
                          name);
}

static int cfg_anchor_add(struct cfg_parse *ps, const yaml_char_t *name,
                          struct sl_cnode *node)
{
    struct cfg_anchor *v;

    if (name == NULL) {
        return SL_OK;
    }
    v = cfg_grow(ps->p, ps->anchors, ps->nanchors, sizeof(*v));
    if (v == NULL) {
        return SL_ENOMEM;
    }
    ps->anchors = v;
    v[ps->nanchors].name = sl_arena_strndup(&ps->p->arena, (const char *)name,
                                            strlen((const char *)name));
    if (v[ps->nanchors].name == NULL) {
        return SL_ENOMEM;
    }
    v[ps->nanchors++].node = node;
    return SL_OK;
}

static int cfg_scalar(struct cfg_parse *ps, const yaml_event_t *ev,
                      struct sl_cnode *n)
{
    n->len = ev->data.scalar.length;
    n->str = sl_arena_strndup(&ps->p->arena,
                              (const char *)ev->data.scalar.value, n->len);
    n->quoted = ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE;
    return n->str == NULL ? SL_ENOMEM : SL_OK;
}

/* Reads the children of a sequence or map until its end event. */
static int cfg_children(struct cfg_parse *ps, struct sl_cnode *n,
                        unsigned depth)
{
    yaml_event_t ev;
    struct sl_cnode *key = NULL, *child;
    int rc;

    for (;;) {
        rc = cfg_next(ps, &ev);
        if (rc != SL_OK) {
            return rc;
        }
        if (ev.type == YAML_SEQUENCE_END_EVENT ||
            ev.type == YAML_MAPPING_END_EVENT) {
            yaml_event_delete(&ev);
            return SL_OK;
        }
        rc = cfg_parse_node(ps, &ev, depth + 1, &child);
        yaml_event_delete(&ev);
        if (rc != SL_OK) {
            return rc;
        }
        if (n->type == SL_CNODE_SEQ) {
            rc = cfg_seq_push(ps->p, n, child);
        } else if (key == NULL) {
            if (child->type != SL_CNODE_SCALAR) {
                return sl_errlist_add(ps->errs, ps->file, child->line,
                                      child->col, NULL,
                                      "a map key must be a scalar, got %s",
                                      cfg_type_name(child->type));
            }
            key = child;
        } else {
            rc = cfg_map_push(ps->p, n, key, child);
            key = NULL;
        }
        if (rc != SL_OK) {
            return rc;
        }
    }
}

/* Builds the node that starts with event <ev> (the caller deletes <ev>). */
static int cfg_parse_node(struct cfg_parse *ps, yaml_event_t *ev,
                          unsigned depth, struct sl_cnode **out)
{
    unsigned line = (unsigned)ev->start_mark.line + 1;
    unsigned col = (unsigned)ev->start_mark.column + 1;
    const yaml_char_t *anchor = NULL;
    struct sl_cnode *n;
    int rc;

    if (ev->type == YAML_ALIAS_EVENT) {
        return cfg_alias(ps, ev, out);
    }
    if (depth > CFG_NEST_MAX) {
        return sl_errlist_add(ps->errs, ps->file, line, col, NULL,
                              "nesting deeper than %u levels", CFG_NEST_MAX);
    }
    switch (ev->type) {
    case YAML_SCALAR_EVENT:
        n = cfg_node_new(ps->p, SL_CNODE_SCALAR, ps->file, line, col);
        rc = n == NULL ? SL_ENOMEM : cfg_scalar(ps, ev, n);
        anchor = ev->data.scalar.anchor;
        break;
    case YAML_SEQUENCE_START_EVENT:
    case YAML_MAPPING_START_EVENT:
        n = cfg_node_new(ps->p,
                         ev->type == YAML_SEQUENCE_START_EVENT ? SL_CNODE_SEQ
                                                               : SL_CNODE_MAP,
                         ps->file, line, col);
        anchor = ev->type == YAML_SEQUENCE_START_EVENT
                     ? ev->data.sequence_start.anchor
                     : ev->data.mapping_start.anchor;
        rc = n == NULL ? SL_ENOMEM : cfg_children(ps, n, depth);
        break;
    default:
        return sl_errlist_add(ps->errs, ps->file, line, col, NULL,
                              "unexpected YAML event");
    }
    if (rc == SL_OK) {
        rc = cfg_anchor_add(ps, anchor, n);
    }
    *out = n;
    return rc;
}

/* Parses the document in <ps> into *<root> (NULL for an empty stream). */
static int cfg_parse_stream(struct cfg_parse *ps, struct sl_cnode **root)
{
    yaml_event_t ev;
    bool doc_seen = false;
    int rc;

    *root = NULL;
    for (;;) {
        rc = cfg_next(ps, &ev);
        if (rc != SL_OK) {
            return rc;
        }
        if (ev.type == YAML_STREAM_END_EVENT) {
            yaml_event_delete(&ev);
            return SL_OK;
        }
        if (ev.type == YAML_DOCUMENT_START_EVENT && doc_seen) {
            rc = sl_errlist_add(ps->errs, ps->file,
                                (unsigned)ev.start_mark.line + 1,
                                (unsigned)ev.start_mark.column + 1, NULL,
                                "only one YAML document per file is "
                                "supported");
        } else if (ev.type == YAML_DOCUMENT_START_EVENT) {
            doc_seen = true;
        } else if (ev.type != YAML_STREAM_START_EVENT &&
                   ev.type != YAML_DOCUMENT_END_EVENT) {
            rc = cfg_parse_node(ps, &ev, 0, root);
        }
        yaml_event_delete(&ev);
        if (rc != SL_OK) {
            return rc;
        }
    }
}

/* Parses <text> of file <file> (kept by the caller's arena). */
static int cfg_parse_text(struct cfg_priv *p, const char *file,
                          const char *text, size_t len, struct sl_errlist *errs,
                          struct sl_cnode **root)
{
    struct cfg_parse ps;
    int rc;

    memset(&ps, 0, sizeof(ps));
    if (!yaml_parser_initialize(&ps.parser)) {
        return SL_ENOMEM;
    }
    ps.p = p;
    ps.file = file;
    ps.errs = errs;
    ps.budget = CFG_ALIAS_BUDGET;
    yaml_parser_set_input_string(&ps.parser, (const unsigned char *)text, len);
    rc = cfg_parse_stream(&ps, root);
    yaml_parser_delete(&ps.parser);
    return rc;
}

/* ---- merging sections ------------------------------------------------ */

static int cfg_err(struct cfg_loader *ld, const struct sl_cnode *at,
                   const char *key, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int cfg_err(struct cfg_loader *ld, const struct sl_cnode *at,
                   const char *key, const char *fmt, ...)
{
    char msg[SL_ERR_MSG_MAX];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    sl_errlist_add(ld->errs, at->file, at->line, at->col, key, "%s", msg);
    return SL_ECONFIG;
}

/* Checks that <val> of section <key> is <want>; a null value is empty. */
static bool cfg_check_type(struct cfg_loader *ld, const struct sl_cnode *val,
                           const char *key, enum sl_cnode_type want)
{
    if (val->type == want) {
        return true;
    }
    if (!cfg_is_null(val)) {
        sl_errlist_add(ld->errs, val->file, val->line, val->col, key,
                       "expected %s, got %s", cfg_type_name(want),
                       cfg_type_name(val->type));
    }
    return false;
}

/* Appends the map items of list <val> to <dst>. */
static int cfg_merge_list(struct cfg_loader *ld, struct sl_cnode *dst,
                          const struct sl_cnode *val, const char *key)
{
    size_t i;

    if (!cfg_check_type(ld, val, key, SL_CNODE_SEQ)) {
        return SL_OK;
    }
    for (i = 0; i < val->n; i++) {
        if (val->items[i]->type != SL_CNODE_MAP) {
            sl_errlist_add(ld->errs, val->items[i]->file, val->items[i]->line,
                           val->items[i]->col, key,
                           "expected each entry to be a map (\"- name: "
                           "...\"), got %s",
                           cfg_type_name(val->items[i]->type));
            continue;
        }
        if (cfg_seq_push(ld->p, dst, val->items[i]) != SL_OK) {
            return SL_ENOMEM;
        }
    }
    return SL_OK;
}

/* Adds the pairs of map <val> to <dst>; a key already present is an error
 * (service and env keys are set once across all files). */
static int cfg_merge_map(struct cfg_loader *ld, struct sl_cnode *dst,
                         const struct sl_cnode *val, const char *section)
{
    const struct sl_cnode *k, *old;
    char where[SL_ERR_FILE_MAX + 32];
    size_t i, j;

    if (!cfg_check_type(ld, val, section, SL_CNODE_MAP)) {
        return SL_OK;
    }
    for (i = 0; i < val->n; i++) {
        k = val->pairs[i].key;
        old = NULL;
        for (j = 0; j < dst->n && old == NULL; j++) {
            if (strcmp(dst->pairs[j].key->str, k->str) == 0) {
                old = dst->pairs[j].key;
            }
        }
        if (old != NULL) {
            snprintf(where, sizeof(where), "%s:%u:%u", old->file, old->line,
                     old->col);
            cfg_err(ld, k, section, "'%s' is already set at %s", k->str, where);
            continue;
        }
        if (strcmp(section, "env") == 0 &&
            val->pairs[i].val->type != SL_CNODE_SCALAR) {
            cfg_err(ld, val->pairs[i].val, k->str, "expected a scalar, got %s",
                    cfg_type_name(val->pairs[i].val->type));
            continue;
        }
        if (cfg_map_push(ld->p, dst, val->pairs[i].key, val->pairs[i].val) !=
            SL_OK) {
            return SL_ENOMEM;
        }
    }
    return SL_OK;
}

static void cfg_unknown_key(struct cfg_loader *ld, const struct sl_cnode *k,
                            const char *const *known, const char *where)
{
    const char *s = sl_config_suggest(k->str, known);

    if (s != NULL) {
        sl_errlist_add(ld->errs, k->file, k->line, k->col, k->str,
                       "unknown %s key '%s' (did you mean '%s'?)", where,
                       k->str, s);
    } else if (strcmp(where, "top-level") == 0 &&
               sl_config_suggest(k->str, cfg_pipeline_keys) != NULL) {
        sl_errlist_add(ld->errs, k->file, k->line, k->col, k->str,
                       "unknown top-level key '%s' (it belongs under "
                       "'pipeline:')",
                       k->str);
    } else {
        sl_errlist_add(ld->errs, k->file, k->line, k->col, k->str,
                       "unknown %s key '%s'", where, k->str);
    }
}

/* Index of <k> in <keys>, or -1; a second occurrence in one map is an
 * error (and returns -1 too). */
static int cfg_key_index(struct cfg_loader *ld, const struct sl_cnode *k,
                         const char *const *keys, const struct sl_cnode **first)
{
    int i;

    for (i = 0; keys[i] != NULL; i++) {
        if (strcmp(keys[i], k->str) != 0) {
            continue;
        }
        if (first[i] != NULL) {
            sl_errlist_add(ld->errs, k->file, k->line, k->col, k->str,
                           "duplicate key '%s' (first at line %u)", k->str,
                           first[i]->line);
            return -1;
        }
        first[i] = k;
        return i;
    }
    return -2;
}

static int cfg_merge_pipeline(struct cfg_loader *ld, const struct sl_cnode *val)
{
    const struct sl_cnode *first[3] = { NULL, NULL, NULL };
    struct sl_cnode *dst[3];
    size_t i;
    int idx, rc;

    dst[0] = ld->cfg->inputs;
    dst[1] = ld->cfg->filters;
    dst[2] = ld->cfg->outputs;
    if (!cfg_check_type(ld, val, "pipeline", SL_CNODE_MAP)) {
        return SL_OK;
    }
    for (i = 0; i < val->n; i++) {
        idx = cfg_key_index(ld, val->pairs[i].key, cfg_pipeline_keys, first);
        if (idx == -2) {
            cfg_unknown_key(ld, val->pairs[i].key, cfg_pipeline_keys,
                            "pipeline");
        }
        if (idx < 0) {
            continue;
        }
        rc = cfg_merge_list(ld, dst[idx], val->pairs[i].val,
                            cfg_pipeline_keys[idx]);
        if (rc != SL_OK) {
            return rc;
        }
    }
    return SL_OK;
}

static int cfg_merge_section(struct cfg_loader *ld, int idx,
                             const struct sl_cnode *val)
{
    struct sl_config *c = ld->cfg;

    switch (idx) {
    case 0:
        return cfg_merge_map(ld, c->service, val, "service");
    case 1:
        return cfg_merge_map(ld, c->env, val, "env");
    case 3:
        return cfg_merge_list(ld, c->parsers, val, "parsers");
    case 4:
        return cfg_merge_list(ld, c->multiline_parsers, val,
                              "multiline_parsers");
    case 5:
        return cfg_merge_pipeline(ld, val);
    default:
        return SL_OK;
    }
}

/* ---- files and includes ---------------------------------------------- */

static int cfg_load_file(struct cfg_loader *ld, const char *path,
                         const struct sl_cnode *from, unsigned depth);

static bool cfg_has_glob(const char *s)
{
    return strpbrk(s, "*?[") != NULL;
}

/* Builds the glob pattern for <item> relative to directory <dir>, with the
 * directory's own glob characters escaped. */
static int cfg_include_pattern(const char *dir, const char *item,
                               struct sl_buf *b)
{
    int rc = SL_OK;
    const char *s;

    if (item[0] == '/' || dir == NULL) {
        return sl_buf_append_str(b, item);
    }
    for (s = dir; *s != '\0' && rc == SL_OK; s++) {
        if (strchr("*?[]\\", *s) != NULL) {
            rc = sl_buf_putc(b, '\\');
        }
        if (rc == SL_OK) {
            rc = sl_buf_putc(b, *s);
        }
    }
    if (rc == SL_OK) {
        rc = sl_buf_putc(b, '/');
    }
    return rc == SL_OK ? sl_buf_append_str(b, item) : rc;
}

static int cfg_include_one(struct cfg_loader *ld, const char *dir,
                           const struct sl_cnode *item, unsigned depth)
{
    struct sl_buf pat;
    glob_t g;
    size_t i;
    int rc, grc;

    if (item->type != SL_CNODE_SCALAR) {
        return cfg_err(ld, item, "includes",
                       "expected a file name or glob, "
                       "got %s",
                       cfg_type_name(item->type));
    }
    sl_buf_init(&pat, PATH_MAX);
    rc = cfg_include_pattern(dir, item->str, &pat);
    if (rc != SL_OK) {
        sl_buf_fini(&pat);
        return rc == SL_ENOMEM
                   ? rc
                   : cfg_err(ld, item, "includes",
                             "include path '%s' is too long", item->str);
    }
    memset(&g, 0, sizeof(g));
    grc = glob(pat.data, 0, NULL, &g);
    if (grc == GLOB_NOSPACE) {
        rc = SL_ENOMEM;
    } else if (grc == GLOB_NOMATCH && !cfg_has_glob(item->str)) {
        rc = cfg_err(ld, item, "includes",
                     "included file '%s' does not "
                     "exist",
                     pat.data);
    } else if (grc == GLOB_ABORTED) {
        rc = cfg_err(ld, item, "includes",
                     "cannot read the directory of "
                     "'%s'",
                     pat.data);
    }
    for (i = 0; grc == 0 && i < g.gl_pathc && rc != SL_ENOMEM; i++) {
        rc = cfg_load_file(ld, g.gl_pathv[i], item, depth + 1);
    }
    if (grc != GLOB_NOSPACE) {
        globfree(&g);
    }
    sl_buf_fini(&pat);
    return rc == SL_ENOMEM ? rc : SL_OK;
}

static int cfg_includes(struct cfg_loader *ld, const char *file,
                        const struct sl_cnode *val, unsigned depth)
{
    char *dir = NULL;
    const char *slash = strrchr(file, '/');
    size_t i;
    int rc = SL_OK;

    if (slash != NULL) {
        dir = sl_strndup(file, slash == file ? 1 : (size_t)(slash - file));
        if (dir == NULL) {
            return SL_ENOMEM;
        }
    }
    if (val->type == SL_CNODE_SCALAR && !cfg_is_null(val)) {
        rc = cfg_include_one(ld, dir, val, depth);
    } else if (val->type == SL_CNODE_SEQ) {
        for (i = 0; i < val->n && rc == SL_OK; i++) {
            rc = cfg_include_one(ld, dir, val->items[i], depth);
        }
    } else if (val->type == SL_CNODE_MAP) {
        cfg_err(ld, val, "includes", "expected a list of globs, got %s",
                cfg_type_name(val->type));
    }
    sl_free(dir);
    return rc;
}

/* Merges the sections of one file's <root> into the config, then follows
 * its includes (so a file's own entries come before its includes'). */
static int cfg_process_root(struct cfg_loader *ld, const char *file,
                            const struct sl_cnode *root, unsigned depth)
{
    const struct sl_cnode *first[6] = { NULL, NULL, NULL, NULL, NULL, NULL };
    size_t i;
    int idx, rc;

    if (root == NULL || cfg_is_null(root)) {
        return SL_OK;
    }
    if (root->type != SL_CNODE_MAP) {
        return cfg_err(ld, root, NULL,
                       "expected a map of sections at the "
                       "top of the file, got %s",
                       cfg_type_name(root->type));
    }
    for (i = 0; i < root->n; i++) {
        idx = cfg_key_index(ld, root->pairs[i].key, cfg_top_keys, first);
        if (idx == -2) {
            cfg_unknown_key(ld, root->pairs[i].key, cfg_top_keys, "top-level");
        }
        if (idx >= 0) {
            rc = cfg_merge_section(ld, idx, root->pairs[i].val);
            if (rc != SL_OK) {
                return rc;
            }
        }
    }
    if (first[2] != NULL) {
        return cfg_includes(ld, file, sl_cnode_get(root, "includes"), depth);
    }
    return SL_OK;
}

static int cfg_read_file(const char *path, struct sl_buf *b)
{
    FILE *f = fopen(path, "rb");
    char chunk[8192];
    size_t n;
    int rc = SL_OK;

    if (f == NULL) {
        return sl_rc_from_errno(errno);
    }
    while (rc == SL_OK && (n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
        rc = sl_buf_append(b, chunk, n);
    }
    if (rc == SL_OK && ferror(f)) {
        rc = SL_EIO;
    }
    fclose(f);
    return rc;
}

/* True when <real> was read already; else remembers it. */
static int cfg_seen(struct cfg_priv *p, const char *real, bool *seen)
{
    char **v;
    size_t i;

    *seen = false;
    for (i = 0; i < p->nseen; i++) {
        if (strcmp(p->seen[i], real) == 0) {
            *seen = true;
            return SL_OK;
        }
    }
    v = cfg_grow(p, p->seen, p->nseen, sizeof(*v));
    if (v == NULL) {
        return SL_ENOMEM;
    }
    p->seen = v;
    v[p->nseen] = sl_arena_strndup(&p->arena, real, strlen(real));
    if (v[p->nseen] == NULL) {
        return SL_ENOMEM;
    }
    p->nseen++;
    return SL_OK;
}

static int cfg_file_error(struct cfg_loader *ld, const char *path,
                          const struct sl_cnode *from, int rc)
{
    if (rc == SL_ENOMEM) {
        return rc;
    }
    if (from != NULL) {
        sl_errlist_add(ld->errs, from->file, from->line, from->col, "includes",
                       "cannot read '%s': %s", path,
                       rc == SL_ELIMIT ? "file too large" : sl_strerror(rc));
    } else {
        sl_errlist_add(ld->errs, path, 0, 0, NULL, "cannot read '%s': %s", path,
                       rc == SL_ELIMIT ? "file too large" : sl_strerror(rc));
    }
    return SL_ECONFIG;
}

static int cfg_load_file(struct cfg_loader *ld, const char *path,
                         const struct sl_cnode *from, unsigned depth)
{
    char real[PATH_MAX];
    struct sl_cnode *root = NULL;
    struct sl_buf text;
    const char *file;
    bool seen;
    int rc;

    if (depth > CFG_INCLUDE_DEPTH) {
        return cfg_err(ld, from, "includes",
                       "includes nested deeper than "
                       "%u levels at '%s'",
                       CFG_INCLUDE_DEPTH, path);
    }
    if (realpath(path, real) == NULL) {
        return cfg_file_error(ld, path, from, sl_rc_from_errno(errno));
    }
    rc = cfg_seen(ld->p, real, &seen);
    if (rc != SL_OK || seen) {
        return rc;
    }
    file = sl_arena_strndup(&ld->p->arena, path, strlen(path));
    if (file == NULL) {
        return SL_ENOMEM;
    }
    sl_buf_init(&text, CFG_FILE_MAX);
    rc = cfg_read_file(path, &text);
    if (rc == SL_OK) {
        rc = cfg_parse_text(ld->p, file, text.data ? text.data : "", text.len,
                            ld->errs, &root);
    } else {
        rc = cfg_file_error(ld, path, from, rc);
    }
    sl_buf_fini(&text);
    if (rc == SL_OK) {
        rc = cfg_process_root(ld, file, root, depth);
    }
    return rc == SL_ENOMEM ? rc : SL_OK;
}

/* ---- public API ------------------------------------------------------ */

static int cfg_create(const char *path, struct sl_config **out)
{
    struct sl_config *c = sl_calloc(1, sizeof(*c));
    struct cfg_priv *p = sl_calloc(1, sizeof(*p));

    if (c == NULL || p == NULL) {
        sl_free(c);
        sl_free(p);
        return SL_ENOMEM;
    }
    sl_arena_init(&p->arena, 0, 0);
    c->priv = p;
    *out = c;
    c->path = sl_arena_strndup(&p->arena, path, strlen(path));
    c->service = cfg_node_new(p, SL_CNODE_MAP, c->path, 0, 0);
    c->env = cfg_node_new(p, SL_CNODE_MAP, c->path, 0, 0);
    c->parsers = cfg_node_new(p, SL_CNODE_SEQ, c->path, 0, 0);
    c->multiline_parsers = cfg_node_new(p, SL_CNODE_SEQ, c->path, 0, 0);
    c->inputs = cfg_node_new(p, SL_CNODE_SEQ, c->path, 0, 0);
    c->filters = cfg_node_new(p, SL_CNODE_SEQ, c->path, 0, 0);
    c->outputs = cfg_node_new(p, SL_CNODE_SEQ, c->path, 0, 0);
    if (c->path == NULL || c->service == NULL || c->env == NULL ||
        c->parsers == NULL || c->multiline_parsers == NULL ||
        c->inputs == NULL || c->filters == NULL || c->outputs == NULL) {
        return SL_ENOMEM;
    }
    return SL_OK;
}

/* Common tail of both loaders: keeps or drops the config. */
static int cfg_finish(struct sl_config *c, int rc, size_t nerr_before,
                      struct sl_errlist *errs, struct sl_config **out)
{
    if (rc == SL_OK && sl_errlist_count(errs) > nerr_before) {
        rc = SL_ECONFIG;
    }
    if (rc != SL_OK) {
        sl_config_destroy(c);
        *out = NULL;
        return rc;
    }
    *out = c;
    return SL_OK;
}

int sl_config_load(const char *path, struct sl_config **out,
                   struct sl_errlist *errs)
{
    struct cfg_loader ld;
    size_t before = sl_errlist_count(errs);
    struct sl_config *c = NULL;
    int rc;

    *out = NULL;
    rc = cfg_create(path, &c);
    if (rc == SL_OK) {
        memset(&ld, 0, sizeof(ld));
        ld.cfg = c;
        ld.p = c->priv;
        ld.errs = errs;
        rc = cfg_load_file(&ld, path, NULL, 0);
    }
    if (c == NULL) {
        return rc;
    }
    return cfg_finish(c, rc, before, errs, out);
}

int sl_config_load_string(const char *name, const char *text, size_t len,
                          struct sl_config **out, struct sl_errlist *errs)
{
    struct cfg_loader ld;
    size_t before = sl_errlist_count(errs);
    struct sl_config *c = NULL;
    struct sl_cnode *root = NULL;
    int rc;

    *out = NULL;
    rc = cfg_create(name, &c);
    if (rc == SL_OK) {
        memset(&ld, 0, sizeof(ld));
        ld.cfg = c;
        ld.p = c->priv;
        ld.errs = errs;
        rc = cfg_parse_text(ld.p, c->path, text, len, errs, &root);
    }
    if (rc == SL_OK) {
        rc = cfg_process_root(&ld, c->path, root, 0);
    }
    if (rc == SL_ECONFIG) {
        rc = SL_OK; /* reported in <errs>; cfg_finish turns it back */
    }
    if (c == NULL) {
        return rc;
    }
    return cfg_finish(c, rc, before, errs, out);
}

void sl_config_destroy(struct sl_config *cfg)
{
    struct cfg_priv *p;

    if (cfg == NULL) {
        return;
    }
    p = cfg->priv;
    if (p != NULL) {
        sl_arena_fini(&p->arena);
        sl_free(p);
    }
    sl_free(cfg);
}

const struct sl_cnode *sl_cnode_get(const struct sl_cnode *map, const char *key)
{
    size_t i;

    if (map == NULL || map->type != SL_CNODE_MAP) {
        return NULL;
    }
    for (i = 0; i < map->n; i++) {
        if (strcmp(map->pairs[i].key->str, key) == 0) {
            return map->pairs[i].val;
        }
    }
    return NULL;
}

/* ---- ${VAR} expansion ------------------------------------------------ */

static bool cfg_var_name_ok(const char *s, size_t n)
{
    size_t i;

    if (n == 0 || !((s[0] >= 'A' && s[0] <= 'Z') ||
                    (s[0] >= 'a' && s[0] <= 'z') || s[0] == '_')) {
        return false;
    }
    for (i = 1; i < n; i++) {
        if (!((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= 'a' && s[i] <= 'z') ||
              (s[i] >= '0' && s[i] <= '9') || s[i] == '_')) {
            return false;
        }
    }
    return true;
}

/* Value of variable <name> (NUL-terminated): environment, then env. */
static const char *cfg_var_get(const struct sl_config *cfg, const char *name)
{
    const struct sl_cnode *v = NULL;
    const char *e = getenv(name);

    if (e != NULL) {
        return e;
    }
    if (cfg != NULL) {
        v = sl_cnode_get(cfg->env, name);
    }
    if (v != NULL && v->type == SL_CNODE_SCALAR) {
        return v->str;
    }
    return NULL;
}

/* Expands the reference "${<ref>}" (<n> bytes between the braces). */
static int cfg_expand_ref(const struct sl_config *cfg,
                          const struct sl_cnode *node, const char *key,
                          const char *ref, size_t n, struct sl_buf *b,
                          struct sl_errlist *errs)
{
    const char *dash = NULL;
    const char *val;
    char name[256];
    size_t nlen = n;
    size_t i;

    for (i = 0; i + 1 < n; i++) {
        if (ref[i] == ':' && ref[i + 1] == '-') {
            dash = ref + i;
            nlen = i;
            break;
        }
    }
    if (!cfg_var_name_ok(ref, nlen) || nlen >= sizeof(name)) {
        return sl_errlist_add(errs, node->file, node->line, node->col, key,
                              "invalid variable reference '${%.*s}' (a "
                              "name is letters, digits and '_')",
                              (int)(n > 64 ? 64 : n), ref);
    }
    memcpy(name, ref, nlen);
    name[nlen] = '\0';
    val = cfg_var_get(cfg, name);
    if (val != NULL) {
        return sl_buf_append_str(b, val);
    }
    if (dash != NULL) {
        return sl_buf_append(b, dash + 2, n - nlen - 2);
    }
    return sl_errlist_add(errs, node->file, node->line, node->col, key,
                          "environment variable '%s' is not set (use "
                          "${%s:-default} for a default)",
                          name, name);
}

int sl_config_expand(const struct sl_config *cfg, const struct sl_cnode *node,
                     const char *key, char **out, struct sl_errlist *errs)
{
    const char *s = node->str, *end = node->str + node->len, *close;
    struct sl_buf b;
    int rc = SL_OK;

    *out = NULL;
    sl_buf_init(&b, 0);
    while (s < end && rc == SL_OK) {
        if (s[0] == '$' && end - s >= 3 && s[1] == '$' && s[2] == '{') {
            rc = sl_buf_append(&b, "${", 2);
            s += 3;
        } else if (s[0] == '$' && end - s >= 2 && s[1] == '{') {
            close = memchr(s + 2, '}', (size_t)(end - s - 2));
            if (close == NULL) {
                rc =
                    sl_errlist_add(errs, node->file, node->line, node->col, key,
                                   "unterminated '${' (a reference "
                                   "is ${NAME} or ${NAME:-default}; write "
                                   "$${ for a literal)");
                break;
            }
            rc = cfg_expand_ref(cfg, node, key, s + 2, (size_t)(close - s - 2),
                                &b, errs);
            s = close + 1;
        } else {
            rc = sl_buf_putc(&b, *s);
            s++;
        }
    }
    if (rc == SL_OK) {
        *out = sl_buf_take(&b);
        rc = *out == NULL ? SL_ENOMEM : SL_OK;
    }
    sl_buf_fini(&b);
    return rc;
}

/* ---- did you mean ---------------------------------------------------- */

static size_t cfg_min3(size_t a, size_t b, size_t c)
{
    size_t m = a < b ? a : b;

    return m < c ? m : c;
}

static char cfg_lower(char c)
{
    return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

/* Optimal-string-alignment distance (Levenshtein plus transpositions),
 * case-insensitive; both lengths at most CFG_SUGGEST_MAX. */
static size_t cfg_distance(const char *a, size_t n, const char *b, size_t m)
{
    size_t rows[3][CFG_SUGGEST_MAX + 1];
    size_t *pp = rows[0], *prev = rows[1], *cur = rows[2], *t;
    size_t i, j, cost;

    for (j = 0; j <= m; j++) {
        prev[j] = j;
    }
    for (i = 1; i <= n; i++) {
        cur[0] = i;
        for (j = 1; j <= m; j++) {
            cost = cfg_lower(a[i - 1]) == cfg_lower(b[j - 1]) ? 0 : 1;
            cur[j] = cfg_min3(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost);
            if (i > 1 && j > 1 && cfg_lower(a[i - 1]) == cfg_lower(b[j - 2]) &&
                cfg_lower(a[i - 2]) == cfg_lower(b[j - 1]) &&
                pp[j - 2] + 1 < cur[j]) {
                cur[j] = pp[j - 2] + 1;
            }
        }
        t = pp;
        pp = prev;
        prev = cur;
        cur = t;
    }
    return prev[m];
}

const char *sl_config_suggest(const char *word, const char *const *candidates)
{
    size_t n = strlen(word), m, d, best_d = SIZE_MAX;
    size_t limit = n / 3 > 2 ? n / 3 : 2;
    const char *best = NULL;
    size_t i;

    if (candidates == NULL || n > CFG_SUGGEST_MAX) {
        return NULL;
    }
    for (i = 0; candidates[i] != NULL; i++) {
        m = strlen(candidates[i]);
        if (m > CFG_SUGGEST_MAX) {
            continue;
        }
        d = cfg_distance(word, n, candidates[i], m);
        if (d < best_d) {
            best_d = d;
            best = candidates[i];
        }
    }
    return best_d <= limit ? best : NULL;
}
