/*
 * filter_lookup.c - enrich records from a CSV or JSON table keyed by a
 * record field (e.g. service -> team, owner), reloaded when the file
 * changes.
 *
 * Table formats:
 *   csv   a header row, then one row per entry (RFC 4180 quoting); the
 *         lookup_key column (default: the first) holds the key, the other
 *         columns (or those in 'fields') are added as strings
 *   json  an object whose members are the entries ({"checkout": {"team":
 *         "payments"}}), or an array of objects holding lookup_key; values
 *         keep their JSON types
 *
 * The text of the record's 'key' value (strings as they are, numbers as
 * written) is looked up; the entry's fields are copied into the record (or
 * under 'target'), without replacing existing keys unless 'overwrite' is
 * on.  Hits and misses are counted.
 *
 * Reloading: at most once per reload_interval, on the main thread, the
 * file's identity (inode, size, mtime) is compared with the loaded one; a
 * changed file is loaded into a new table that replaces the old one only
 * when it loaded completely (otherwise the old table stays and a warning
 * is logged).  Each table owns one arena with every key and value; per
 * record only the record's arena is used.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "sluice/plugin.h"
#include "sluice/banned.h"

#define LOOKUP_MAX_FILE (64u << 20)

enum lookup_format {
    LOOKUP_AUTO,
    LOOKUP_CSV,
    LOOKUP_JSON,
};

struct filter_lookup_conf {
    char *file;
    int format;
    char *key;
    char *lookup_key;
    struct sl_strlist fields;
    char *target;
    bool overwrite;
    int64_t reload_interval_ms;
};

struct lookup_slot {
    struct sl_str key;
    struct sl_json *row; /* an object */
};

struct lookup_table {
    struct sl_arena arena;
    struct lookup_slot *slots;
    size_t mask;
    size_t n;
};

struct filter_lookup_ctx {
    struct sl_instance *ins;
    const struct filter_lookup_conf *conf;
    int format;
    struct sl_accessor key;
    struct sl_accessor target;
    bool has_target;
    struct lookup_table *table;
    struct stat st; /* identity of the file last tried */
    int64_t next_check_ns;
    struct sl_buf scratch;
    struct sl_metric *m_hit, *m_miss, *m_reload;
};

static const char *const lookup_formats[] = { "auto", "csv", "json", NULL };

static const struct sl_option filter_lookup_options[] = {
    { .name = "file",
      .type = SL_OPT_STR,
      .flags = SL_OPT_REQUIRED,
      SL_OPT_FIELD(struct filter_lookup_conf, file),
      .desc = "The table: a CSV file with a header row, or a JSON file." },
    { .name = "format",
      .type = SL_OPT_ENUM,
      .def = "auto",
      .choices = lookup_formats,
      SL_OPT_FIELD(struct filter_lookup_conf, format),
      .desc = "csv, json, or auto (csv when the file name ends in .csv)." },
    { .name = "key",
      .type = SL_OPT_STR,
      .flags = SL_OPT_REQUIRED,
      SL_OPT_FIELD(struct filter_lookup_conf, key),
      .desc = "Record accessor of the value to look up, e.g. service." },
    { .name = "lookup_key",
      .type = SL_OPT_STR,
      SL_OPT_FIELD(struct filter_lookup_conf, lookup_key),
      .desc = "The table column (CSV) or member (JSON array of objects) "
              "holding the key. Default: the first CSV column; a JSON "
              "object is keyed by its member names." },
    { .name = "fields",
      .type = SL_OPT_LIST,
      .flags = SL_OPT_MULTI,
      SL_OPT_FIELD(struct filter_lookup_conf, fields),
      .desc = "Columns to copy. Default: every column but the key." },
    { .name = "target",
      .type = SL_OPT_STR,
      SL_OPT_FIELD(struct filter_lookup_conf, target),
      .desc = "Record accessor of a map to put the fields in, e.g. owner. "
              "Default: the top level." },
    { .name = "overwrite",
      .type = SL_OPT_BOOL,
      .def = "off",
      SL_OPT_FIELD(struct filter_lookup_conf, overwrite),
      .desc = "Replace keys the record already has." },
    { .name = "reload_interval",
      .type = SL_OPT_TIME,
      .def = "1s",
      SL_OPT_FIELD(struct filter_lookup_conf, reload_interval_ms),
      .desc = "How often to check the file for changes; 0 never reloads." },
    SL_OPT_END,
};

/* ---- the table -------------------------------------------------------- */

static void lookup_table_destroy(struct lookup_table *t)
{
    if (t == NULL) {
        return;
    }
    sl_arena_fini(&t->arena);
    sl_free(t->slots);
    sl_free(t);
}

static uint64_t lookup_hash(struct sl_str s)
{
    uint64_t h = 1469598103934665603ULL;
    size_t i;

    for (i = 0; i < s.len; i++) {
        h = (h ^ (unsigned char)s.ptr[i]) * 1099511628211ULL;
    }
    return h;
}

static struct lookup_slot *lookup_find(const struct lookup_table *t,
                                       struct sl_str key)
{
    size_t i = (size_t)lookup_hash(key) & t->mask;

    while (t->slots[i].row != NULL) {
        if (sl_str_eq(t->slots[i].key, key)) {
            return &t->slots[i];
        }
        i = (i + 1) & t->mask;
    }
    return &t->slots[i];
}

static int lookup_grow(struct lookup_table *t)
{
    struct lookup_slot *old = t->slots;
    size_t oldn = t->slots != NULL ? t->mask + 1 : 0;
    size_t size = oldn == 0 ? 64 : oldn * 2;
    size_t i;

    t->slots = sl_calloc(size, sizeof(*t->slots));
    if (t->slots == NULL) {
        t->slots = old;
        return SL_ENOMEM;
    }
    t->mask = size - 1;
    for (i = 0; i < oldn; i++) {
        if (old[i].row != NULL) {
            *lookup_find(t, old[i].key) = old[i];
        }
    }
    sl_free(old);
    return SL_OK;
}

/* Adds <row> under <key> (bytes in the table's arena); the first entry of
 * a key wins. */
static int lookup_put(struct lookup_table *t, struct sl_str key,
                      struct sl_json *row)
{
    struct lookup_slot *s;
    int rc;

    if (t->slots == NULL || (t->n + 1) * 2 > t->mask + 1) {
        rc = lookup_grow(t);
        if (rc != SL_OK) {
            return rc;
        }
    }
    s = lookup_find(t, key);
    if (s->row == NULL) {
        s->key = key;
        s->row = row;
        t->n++;
    }
    return SL_OK;
}

/* ---- CSV -------------------------------------------------------------- */

/* A quoted field at <s> (the opening quote): unescaped into the arena;
 * returns the position after the closing quote, or NULL on ENOMEM. */
static const char *csv_quoted(struct sl_arena *a, const char *s,
                              const char *end, struct sl_str *out)
{
    char *d = sl_arena_alloc(a, (size_t)(end - s) + 1);
    size_t n = 0;

    if (d == NULL) {
        return NULL;
    }
    for (s++; s < end; s++) {
        if (*s == '"' && s + 1 < end && s[1] == '"') {
            d[n++] = '"';
            s++;
        } else if (*s == '"') {
            s++;
            break;
        } else {
            d[n++] = *s;
        }
    }
    *out = sl_str_make(d, n);
    return s;
}

/* An unquoted field at <s>: a view up to the next comma or line end. */
static const char *csv_plain(const char *s, const char *end, struct sl_str *out)
{
    const char *b = s;

    while (s < end && *s != ',' && *s != '\n' && *s != '\r') {
        s++;
    }
    *out = sl_str_make(b, (size_t)(s - b));
    return s;
}

/* Skips the separator after a field at <s>: a comma, or one line end
 * (\n, \r\n or \r), which sets *<eol>. */
static const char *csv_sep(const char *s, const char *end, bool *eol)
{
    *eol = s >= end || *s == '\n' || *s == '\r';
    if (!*eol) {
        return *s == ',' ? s + 1 : s;
    }
    if (s < end && *s == '\r') {
        s++;
    }
    if (s < end && *s == '\n') {
        s++;
    }
    return s;
}

/* Reads one field at *<p>; *<eol> is set at the end of a row.  Unquoted
 * fields are views; quoted ones are unescaped into the arena. */
static int csv_field(struct sl_arena *a, const char **p, const char *end,
                     struct sl_str *out, bool *eol)
{
    const char *s = *p;

    if (s < end && *s == '"') {
        s = csv_quoted(a, s, end, out);
        if (s == NULL) {
            return SL_ENOMEM;
        }
    } else {
        s = csv_plain(s, end, out);
    }
    *p = csv_sep(s, end, eol);
    return SL_OK;
}

#define CSV_MAX_COLS 256

/* Reads one row into <cols>; returns the column count (0 at the end). */
static int csv_row(struct sl_arena *a, const char **p, const char *end,
                   struct sl_str *cols, size_t *ncols)
{
    bool eol = false;
    int rc;

    *ncols = 0;
    while (*p < end && !eol) {
        if (*ncols >= CSV_MAX_COLS) {
            return SL_ELIMIT;
        }
        rc = csv_field(a, p, end, &cols[*ncols], &eol);
        if (rc != SL_OK) {
            return rc;
        }
        (*ncols)++;
    }
    return SL_OK;
}

/* The index of the key column in header <head>. */
static int csv_key_column(const struct filter_lookup_ctx *ctx,
                          const struct sl_str *head, size_t nhead, size_t *kcol,
                          struct sl_err *err)
{
    *kcol = 0;
    if (ctx->conf->lookup_key == NULL) {
        return SL_OK;
    }
    for (*kcol = 0; *kcol < nhead; (*kcol)++) {
        if (sl_str_eq_cstr(head[*kcol], ctx->conf->lookup_key)) {
            return SL_OK;
        }
    }
    return sl_err_set(err, SL_EPARSE,
                      "lookup: %s: no column '%s' in the header",
                      ctx->conf->file, ctx->conf->lookup_key);
}

/* Adds one CSV row: the columns but <kcol>, named by <head>. */
static int csv_add_row(struct lookup_table *t, const struct sl_str *head,
                       size_t nhead, const struct sl_str *cols, size_t ncols,
                       size_t kcol)
{
    struct sl_json *row = sl_json_new_object(&t->arena);
    struct sl_json *v;
    size_t i;
    int rc = row != NULL ? SL_OK : SL_ENOMEM;

    for (i = 0; i < ncols && i < nhead && rc == SL_OK; i++) {
        if (i == kcol) {
            continue;
        }
        v = sl_json_new_string(&t->arena, cols[i].ptr, cols[i].len);
        rc = v != NULL ? sl_json_obj_append(&t->arena, row, head[i], v)
                       : SL_ENOMEM;
    }
    return rc == SL_OK ? lookup_put(t, cols[kcol], row) : rc;
}

static int csv_load(struct filter_lookup_ctx *ctx, struct lookup_table *t,
                    const char *data, size_t len, struct sl_err *err)
{
    struct sl_str head[CSV_MAX_COLS];
    struct sl_str cols[CSV_MAX_COLS];
    size_t nhead;
    size_t ncols;
    size_t kcol;
    const char *p = data;
    const char *end = data + len;
    int rc;

    rc = csv_row(&t->arena, &p, end, head, &nhead);
    if (rc != SL_OK || nhead == 0) {
        return sl_err_set(err, rc != SL_OK ? rc : SL_EPARSE,
                          "lookup: %s: no header row", ctx->conf->file);
    }
    rc = csv_key_column(ctx, head, nhead, &kcol, err);
    while (rc == SL_OK && p < end) {
        rc = csv_row(&t->arena, &p, end, cols, &ncols);
        if (rc != SL_OK) {
            return sl_err_set(err, rc, "lookup: %s: bad row", ctx->conf->file);
        }
        if (ncols <= kcol || (ncols == 1 && cols[0].len == 0)) {
            continue; /* blank or short line */
        }
        rc = csv_add_row(t, head, nhead, cols, ncols, kcol);
        if (rc != SL_OK) {
            return sl_err_set(err, rc, "lookup: out of memory");
        }
    }
    return rc;
}

/* ---- JSON ------------------------------------------------------------- */

static int json_load_array(struct filter_lookup_ctx *ctx,
                           struct lookup_table *t, const struct sl_json *arr,
                           struct sl_err *err)
{
    const char *lk = ctx->conf->lookup_key;
    struct sl_buf tmp;
    struct sl_str text;
    size_t i;
    int rc = SL_OK;

    if (lk == NULL) {
        return sl_err_set(err, SL_ECONFIG,
                          "lookup: %s is an array: set lookup_key",
                          ctx->conf->file);
    }
    sl_buf_init(&tmp, 0);
    for (i = 0; i < arr->u.arr.n && rc == SL_OK; i++) {
        struct sl_json *row = arr->u.arr.v[i];
        const struct sl_json *k;
        char *copy;

        if (row->type != SL_JSON_OBJECT) {
            continue;
        }
        k = sl_json_obj_get(row, sl_str_cstr(lk));
        sl_buf_reset(&tmp);
        if (k == NULL || !sl_json_scalar_text(k, &tmp, &text)) {
            continue;
        }
        copy = sl_arena_strndup(&t->arena, text.ptr, text.len);
        rc = copy != NULL ? SL_OK : SL_ENOMEM;
        if (rc == SL_OK) {
            sl_json_obj_remove(row, sl_str_cstr(lk));
            rc = lookup_put(t, sl_str_make(copy, text.len), row);
        }
    }
    sl_buf_fini(&tmp);
    return rc == SL_OK ? SL_OK : sl_err_set(err, rc, "lookup: out of memory");
}

static int json_load(struct filter_lookup_ctx *ctx, struct lookup_table *t,
                     const char *data, size_t len, struct sl_err *err)
{
    struct sl_json *root = NULL;
    struct sl_err perr;
    size_t i;
    int rc;

    rc = sl_json_parse(&t->arena, data, len, &root, &perr);
    if (rc != SL_OK) {
        return sl_err_set(err, rc, "lookup: %s: %s", ctx->conf->file,
                          rc == SL_ENOMEM ? "out of memory" : perr.msg);
    }
    if (root->type == SL_JSON_ARRAY) {
        return json_load_array(ctx, t, root, err);
    }
    if (root->type != SL_JSON_OBJECT) {
        return sl_err_set(err, SL_EPARSE,
                          "lookup: %s: expected a JSON object or array",
                          ctx->conf->file);
    }
    for (i = 0; i < root->u.obj.n; i++) {
        if (root->u.obj.v[i].val->type != SL_JSON_OBJECT) {
            continue;
        }
        rc = lookup_put(t, root->u.obj.v[i].key, root->u.obj.v[i].val);
        if (rc != SL_OK) {
            return sl_err_set(err, rc, "lookup: out of memory");
        }
    }
    return SL_OK;
}

/* Reads the whole file into the table's arena. */
static int lookup_read(const char *path, struct sl_arena *a, char **data,
                       size_t *len, struct stat *st, struct sl_err *err)
{
    FILE *f = fopen(path, "rb");
    int rc = SL_OK;

    if (f == NULL || fstat(fileno(f), st) != 0) {
        rc = sl_rc_from_errno(errno);
        if (f != NULL) {
            fclose(f);
        }
        return sl_err_set(err, rc, "lookup: cannot open %s: %s", path,
                          sl_strerror(rc));
    }
    if ((uint64_t)st->st_size > LOOKUP_MAX_FILE) {
        fclose(f);
        return sl_err_set(err, SL_ELIMIT, "lookup: %s is larger than %u MiB",
                          path, LOOKUP_MAX_FILE >> 20);
    }
    *len = (size_t)st->st_size;
    *data = sl_arena_alloc(a, *len + 1);
    if (*data == NULL) {
        rc = SL_ENOMEM;
    } else if (*len > 0 && fread(*data, 1, *len, f) != *len) {
        rc = SL_EIO;
    }
    fclose(f);
    if (rc != SL_OK) {
        return sl_err_set(err, rc, "lookup: cannot read %s: %s", path,
                          sl_strerror(rc));
    }
    (*data)[*len] = '\0';
    return SL_OK;
}

/* Loads the file into a new table (*<out>). */
static int lookup_load(struct filter_lookup_ctx *ctx, struct lookup_table **out,
                       struct stat *st, struct sl_err *err)
{
    struct lookup_table *t = sl_calloc(1, sizeof(*t));
    char *data = NULL;
    size_t len = 0;
    int rc;

    if (t == NULL) {
        return sl_err_set(err, SL_ENOMEM, "lookup: out of memory");
    }
    sl_arena_init(&t->arena, 64 * 1024, 0);
    rc = lookup_read(ctx->conf->file, &t->arena, &data, &len, st, err);
    if (rc == SL_OK) {
        rc = ctx->format == LOOKUP_CSV ? csv_load(ctx, t, data, len, err)
                                       : json_load(ctx, t, data, len, err);
    }
    if (rc == SL_OK && t->slots == NULL) {
        rc = lookup_grow(t); /* an empty table still answers lookups */
    }
    if (rc != SL_OK) {
        lookup_table_destroy(t);
        return rc;
    }
    *out = t;
    return SL_OK;
}

/* ---- life cycle ------------------------------------------------------- */

static void lookup_ctx_destroy(struct filter_lookup_ctx *ctx)
{
    if (ctx == NULL) {
        return;
    }
    lookup_table_destroy(ctx->table);
    sl_accessor_fini(&ctx->key);
    sl_accessor_fini(&ctx->target);
    sl_buf_fini(&ctx->scratch);
    sl_free(ctx);
}

static int lookup_setup(struct filter_lookup_ctx *ctx,
                        const struct filter_lookup_conf *c, struct sl_err *err)
{
    size_t n = strlen(c->file);
    int rc;

    ctx->format = c->format;
    if (ctx->format == LOOKUP_AUTO) {
        ctx->format = n >= 4 && strcmp(c->file + n - 4, ".csv") == 0
                          ? LOOKUP_CSV
                          : LOOKUP_JSON;
    }
    rc = sl_accessor_compile(&ctx->key, c->key, err);
    if (rc == SL_OK && c->target != NULL) {
        ctx->has_target = true;
        rc = sl_accessor_compile(&ctx->target, c->target, err);
    }
    if (rc == SL_OK) {
        rc = lookup_load(ctx, &ctx->table, &ctx->st, err);
    }
    return rc;
}

static int filter_lookup_init(struct sl_instance *ins, void *conf,
                              struct sl_err *err)
{
    struct filter_lookup_ctx *ctx = sl_calloc(1, sizeof(*ctx));
    int rc;

    if (ctx == NULL) {
        return sl_err_set(err, SL_ENOMEM, "lookup: out of memory");
    }
    ctx->ins = ins;
    ctx->conf = conf;
    sl_buf_init(&ctx->scratch, 0);
    rc = lookup_setup(ctx, conf, err);
    if (rc != SL_OK) {
        lookup_ctx_destroy(ctx);
        return rc;
    }
    ctx->next_check_ns =
        sl_time_mono_ns() + ctx->conf->reload_interval_ms * SL_NS_PER_MS;
    ctx->m_hit =
        sl_metric_counter(ins, "sluice_lookup_records_total",
                          "Records looked up, by result.", "result", "hit");
    ctx->m_miss =
        sl_metric_counter(ins, "sluice_lookup_records_total",
                          "Records looked up, by result.", "result", "miss");
    ctx->m_reload =
        sl_metric_counter(ins, "sluice_lookup_reloads_total",
                          "Times the table was reloaded.", NULL, NULL);
    sl_instance_set_ctx(ins, ctx);
    return SL_OK;
}

static bool lookup_same_file(const struct stat *a, const struct stat *b)
{
    return a->st_ino == b->st_ino && a->st_dev == b->st_dev &&
           a->st_size == b->st_size && a->st_mtim.tv_sec == b->st_mtim.tv_sec &&
           a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

/* Reloads the table when the file changed (at most once per interval). */
static void lookup_maybe_reload(struct filter_lookup_ctx *ctx)
{
    struct lookup_table *t = NULL;
    struct stat st;
    struct sl_err err;
    int64_t now;

    if (ctx->conf->reload_interval_ms <= 0) {
        return;
    }
    now = sl_time_mono_ns();
    if (now < ctx->next_check_ns) {
        return;
    }
    ctx->next_check_ns = now + ctx->conf->reload_interval_ms * SL_NS_PER_MS;
    if (stat(ctx->conf->file, &st) != 0 || lookup_same_file(&st, &ctx->st)) {
        return;
    }
    if (lookup_load(ctx, &t, &st, &err) != SL_OK) {
        sl_log_warn(ctx->ins, "keeping the previous table: %s", err.msg);
        ctx->st = st; /* do not retry until the file changes again */
        return;
    }
    lookup_table_destroy(ctx->table);
    ctx->table = t;
    ctx->st = st;
    sl_metric_add(ctx->m_reload, 1);
    sl_log_info(ctx->ins, "reloaded %s: %zu entries", ctx->conf->file, t->n);
}

static bool lookup_wanted(const struct filter_lookup_conf *c, struct sl_str k)
{
    size_t i;

    if (c->fields.n == 0) {
        return true;
    }
    for (i = 0; i < c->fields.n; i++) {
        if (sl_str_eq_cstr(k, c->fields.v[i])) {
            return true;
        }
    }
    return false;
}

/* The map the fields go into. */
static struct sl_json *lookup_dest(struct filter_lookup_ctx *ctx,
                                   struct sl_record *r, struct sl_json *dom)
{
    struct sl_json *m;

    if (!ctx->has_target) {
        return dom;
    }
    m = sl_accessor_get(&ctx->target, dom);
    if (m != NULL && m->type == SL_JSON_OBJECT) {
        return m;
    }
    m = sl_json_new_object(r->arena);
    if (m == NULL || sl_accessor_set(&ctx->target, r->arena, dom, m) != SL_OK) {
        return NULL;
    }
    return m;
}

static bool lookup_apply(struct filter_lookup_ctx *ctx, struct sl_record *r,
                         struct sl_json *dom, const struct sl_json *row)
{
    struct sl_json *dst = lookup_dest(ctx, r, dom);
    struct sl_json *v;
    bool changed = false;
    size_t i;

    for (i = 0; dst != NULL && i < row->u.obj.n; i++) {
        const struct sl_json_member *m = &row->u.obj.v[i];

        if (!lookup_wanted(ctx->conf, m->key) ||
            (!ctx->conf->overwrite && sl_json_obj_get(dst, m->key) != NULL)) {
            continue;
        }
        /* Copy: later filters may change the record's values in place. */
        v = sl_json_clone(r->arena, m->val);
        if (v == NULL || sl_json_obj_set(r->arena, dst, m->key, v) != SL_OK) {
            break;
        }
        changed = true;
    }
    return changed || (ctx->has_target && dst != NULL);
}

static enum sl_filter_result filter_lookup_filter(struct sl_instance *ins,
                                                  struct sl_record *r)
{
    struct filter_lookup_ctx *ctx = sl_instance_ctx(ins);
    struct sl_json *dom = sl_record_dom(r);
    const struct sl_json *v;
    const struct lookup_slot *s;
    struct sl_str text;

    lookup_maybe_reload(ctx);
    v = dom != NULL ? sl_accessor_get(&ctx->key, dom) : NULL;
    sl_buf_reset(&ctx->scratch);
    if (v == NULL || v->type == SL_JSON_OBJECT || v->type == SL_JSON_ARRAY ||
        !sl_json_scalar_text(v, &ctx->scratch, &text)) {
        sl_metric_add(ctx->m_miss, 1);
        return SL_FILTER_KEEP;
    }
    s = lookup_find(ctx->table, text);
    if (s->row == NULL) {
        sl_metric_add(ctx->m_miss, 1);
        return SL_FILTER_KEEP;
    }
    sl_metric_add(ctx->m_hit, 1);
    if (!lookup_apply(ctx, r, dom, s->row)) {
        return SL_FILTER_KEEP;
    }
    sl_record_mark_dirty(r);
    return SL_FILTER_MODIFIED;
}

static void filter_lookup_exit(struct sl_instance *ins)
{
    lookup_ctx_destroy(sl_instance_ctx(ins));
    sl_instance_set_ctx(ins, NULL);
}

const struct sl_plugin sl_plugin_filter_lookup = {
    .abi = SL_PLUGIN_ABI,
    .kind = SL_PLUGIN_FILTER,
    .name = "lookup",
    .description = "Enrich records from a CSV or JSON table keyed by a "
                   "record field, reloaded when the file changes.",
    .options = filter_lookup_options,
    .conf_size = sizeof(struct filter_lookup_conf),
    .init = filter_lookup_init,
    .filter = filter_lookup_filter,
    .exit = filter_lookup_exit,
};
