/*
 * option.c - the option engine: typed option tables (sluice/option.h)
 * applied to config maps (config.h).
 *
 * Parsing of each type lives in sl_option_parse_value; sl_option_apply
 * walks a map, flattens nested maps into dotted keys, finds the option
 * among the targets' tables, expands ${VAR} (except for templates) and
 * stores the value at the option's offset in the target's conf.  Every
 * problem is collected in the sl_errlist with the position of the node.
 * SL_OPT_SECRET values never appear in a message: parse errors say "a
 * secret value" instead of quoting it.
 *
 * Also renders a table as text (--describe) and Markdown (plugin docs);
 * both are deterministic because golden files are compared byte for byte.
 * Main thread only; no global state.
 */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "option.h"
#include "sluice/log.h"
#include "sluice/mem.h"
#include "sluice/banned.h"

#define OPT_KEY_MAX 256
#define OPT_GOT_MAX 64

/* ---- scalar parsers -------------------------------------------------- */

int sl_option_parse_bool(const char *text, bool *b)
{
    static const char *const yes[] = { "on", "true", "yes", "1", NULL };
    static const char *const no[] = { "off", "false", "no", "0", NULL };
    size_t i;

    for (i = 0; yes[i] != NULL; i++) {
        if (strcasecmp(text, yes[i]) == 0) {
            *b = true;
            return SL_OK;
        }
        if (strcasecmp(text, no[i]) == 0) {
            *b = false;
            return SL_OK;
        }
    }
    return SL_EINVAL;
}

/* Reads "<digits>[.<digits>]" at *<p>: the integer part in *<ip> and the
 * fraction in *<frac>.  Fails on no digits or an integer overflow. */
static int opt_parse_decimal(const char **p, uint64_t *ip, double *frac)
{
    const char *s = *p;
    double scale = 0.1;
    bool digits = false;

    *ip = 0;
    *frac = 0;
    for (; *s >= '0' && *s <= '9'; s++) {
        if (*ip > (UINT64_MAX - (uint64_t)(*s - '0')) / 10) {
            return SL_EINVAL;
        }
        *ip = *ip * 10 + (uint64_t)(*s - '0');
        digits = true;
    }
    if (*s == '.') {
        for (s++; *s >= '0' && *s <= '9'; s++) {
            *frac += (*s - '0') * scale;
            scale /= 10;
            digits = true;
        }
    }
    if (!digits) {
        return SL_EINVAL;
    }
    *p = s;
    return SL_OK;
}

/* <ip>.<frac> times <mult>, or SL_EINVAL on overflow. */
static int opt_scale(uint64_t ip, double frac, uint64_t mult, uint64_t *out)
{
    uint64_t f;

    if (mult != 0 && ip > UINT64_MAX / mult) {
        return SL_EINVAL;
    }
    f = (uint64_t)(frac * (double)mult + 0.5);
    if (ip * mult > UINT64_MAX - f) {
        return SL_EINVAL;
    }
    *out = ip * mult + f;
    return SL_OK;
}

int sl_option_parse_size(const char *text, uint64_t *bytes)
{
    static const struct {
        const char *unit;
        uint64_t mult;
    } units[] = {
        { "", 1 },
        { "b", 1 },
        { "k", 1ull << 10 },
        { "kb", 1ull << 10 },
        { "kib", 1ull << 10 },
        { "m", 1ull << 20 },
        { "mb", 1ull << 20 },
        { "mib", 1ull << 20 },
        { "g", 1ull << 30 },
        { "gb", 1ull << 30 },
        { "gib", 1ull << 30 },
        { "t", 1ull << 40 },
        { "tb", 1ull << 40 },
        { "tib", 1ull << 40 },
    };
    const char *p = text;
    uint64_t ip;
    double frac;
    size_t i;

    if (opt_parse_decimal(&p, &ip, &frac) != SL_OK) {
        return SL_EINVAL;
    }
    for (i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (strcasecmp(p, units[i].unit) == 0) {
            return opt_scale(ip, frac, units[i].mult, bytes);
        }
    }
    return SL_EINVAL;
}

int sl_option_parse_time_ms(const char *text, int64_t *ms)
{
    static const struct {
        const char *unit;
        uint64_t mult;
    } units[] = {
        { "", 1000 },   { "ms", 1 },      { "s", 1000 },
        { "m", 60000 }, { "h", 3600000 }, { "d", 86400000 },
    };
    const char *p = text;
    bool neg = false;
    uint64_t ip, v;
    double frac;
    size_t i;

    if (*p == '-' || *p == '+') {
        neg = *p == '-';
        p++;
    }
    if (opt_parse_decimal(&p, &ip, &frac) != SL_OK) {
        return SL_EINVAL;
    }
    for (i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (strcasecmp(p, units[i].unit) != 0) {
            continue;
        }
        if (opt_scale(ip, frac, units[i].mult, &v) != SL_OK ||
            v > (uint64_t)INT64_MAX) {
            return SL_EINVAL;
        }
        *ms = neg ? -(int64_t)v : (int64_t)v;
        return SL_OK;
    }
    return SL_EINVAL;
}

static int opt_parse_i64(const char *text, int64_t *v)
{
    char *end;
    long long x;

    if (!((text[0] >= '0' && text[0] <= '9') ||
          ((text[0] == '-' || text[0] == '+') && text[1] >= '0' &&
           text[1] <= '9'))) {
        return SL_EINVAL;
    }
    errno = 0;
    x = strtoll(text, &end, 10);
    if (errno != 0 || *end != '\0') {
        return SL_EINVAL;
    }
    *v = (int64_t)x;
    return SL_OK;
}

static int opt_parse_double(const char *text, double *v)
{
    char *end;
    double x;

    if (text[0] == '\0' || text[0] == ' ' || text[0] == '\t') {
        return SL_EINVAL;
    }
    errno = 0;
    x = strtod(text, &end);
    if (errno != 0 || *end != '\0' || !isfinite(x)) {
        return SL_EINVAL;
    }
    *v = x;
    return SL_OK;
}

/* ---- messages -------------------------------------------------------- */

const char *sl_option_type_name(enum sl_opt_type t)
{
    static const char *const names[] = {
        [SL_OPT_NONE] = "none",         [SL_OPT_STR] = "string",
        [SL_OPT_INT] = "integer",       [SL_OPT_DOUBLE] = "number",
        [SL_OPT_BOOL] = "bool",         [SL_OPT_SIZE] = "size",
        [SL_OPT_TIME] = "time",         [SL_OPT_ENUM] = "enum",
        [SL_OPT_LIST] = "list",         [SL_OPT_MAP] = "map",
        [SL_OPT_TEMPLATE] = "template",
    };

    if ((unsigned)t >= sizeof(names) / sizeof(names[0])) {
        return "unknown";
    }
    return names[t];
}

/* "'<text>'" (shortened) or, for a secret, words that do not show it. */
static const char *opt_got(const struct sl_option *opt, const char *text,
                           char *buf, size_t cap)
{
    size_t n = strlen(text);

    if (opt->flags & SL_OPT_SECRET) {
        return "a secret value (not shown)";
    }
    if (n > OPT_GOT_MAX) {
        snprintf(buf, cap, "'%.*s...'", OPT_GOT_MAX, text);
    } else {
        snprintf(buf, cap, "'%s'", text);
    }
    return buf;
}

static void opt_fmt_size(uint64_t v, char *buf, size_t cap)
{
    if (v != 0 && v % (1ull << 30) == 0) {
        snprintf(buf, cap, "%lluG", (unsigned long long)(v >> 30));
    } else if (v != 0 && v % (1ull << 20) == 0) {
        snprintf(buf, cap, "%lluM", (unsigned long long)(v >> 20));
    } else if (v != 0 && v % 1024 == 0) {
        snprintf(buf, cap, "%lluK", (unsigned long long)(v >> 10));
    } else {
        snprintf(buf, cap, "%llu", (unsigned long long)v);
    }
}

static void opt_fmt_time(int64_t v, char *buf, size_t cap)
{
    static const struct {
        int64_t ms;
        const char *unit;
    } units[] = {
        { 86400000, "d" },
        { 3600000, "h" },
        { 60000, "m" },
        { 1000, "s" },
    };
    size_t i;

    for (i = 0; v != 0 && i < sizeof(units) / sizeof(units[0]); i++) {
        if (v % units[i].ms == 0) {
            snprintf(buf, cap, "%lld%s", (long long)(v / units[i].ms),
                     units[i].unit);
            return;
        }
    }
    snprintf(buf, cap, v == 0 ? "0" : "%lldms", (long long)v);
}

static void opt_fmt_bound(const struct sl_option *opt, int64_t v, char *buf,
                          size_t cap)
{
    if (opt->type == SL_OPT_SIZE) {
        opt_fmt_size(v < 0 ? 0 : (uint64_t)v, buf, cap);
    } else if (opt->type == SL_OPT_TIME) {
        opt_fmt_time(v, buf, cap);
    } else {
        snprintf(buf, cap, "%lld", (long long)v);
    }
}

static const char *opt_what(const struct sl_option *opt)
{
    switch (opt->type) {
    case SL_OPT_INT:
        return "an integer";
    case SL_OPT_SIZE:
        return "a size";
    case SL_OPT_TIME:
        return "a duration";
    default:
        return "a value";
    }
}

/* Checks <v> against the option's bounds (see sluice/option.h: both 0 is
 * unbounded, max 0 with a min is "at least min"; INT and TIME refuse
 * negatives unless bounded below or SL_OPT_NEGATIVE_OK). */
static int opt_check_range(const struct sl_option *opt, int64_t v,
                           bool above_i64, const char *text, struct sl_err *err)
{
    bool bounded = opt->min != 0 || opt->max != 0;
    int64_t lo = bounded ? opt->min
                         : ((opt->flags & SL_OPT_NEGATIVE_OK) ? INT64_MIN : 0);
    char a[32], b[32], got[OPT_GOT_MAX + 8];

    if (!above_i64 && v >= lo && (opt->max == 0 || v <= opt->max)) {
        return SL_OK;
    }
    if (!bounded) {
        return sl_err_set(err, SL_EINVAL, "expected a non-negative %s, got %s",
                          opt->type == SL_OPT_TIME ? "duration" : "integer",
                          opt_got(opt, text, got, sizeof(got)));
    }
    opt_fmt_bound(opt, opt->min, a, sizeof(a));
    opt_fmt_bound(opt, opt->max, b, sizeof(b));
    if (opt->max == 0) {
        return sl_err_set(err, SL_EINVAL, "expected %s of at least %s, got %s",
                          opt_what(opt), a,
                          opt_got(opt, text, got, sizeof(got)));
    }
    return sl_err_set(err, SL_EINVAL, "expected %s between %s and %s, got %s",
                      opt_what(opt), a, b,
                      opt_got(opt, text, got, sizeof(got)));
}

/* ---- lists ----------------------------------------------------------- */

static int opt_strlist_push(struct sl_strlist *l, char *s)
{
    char **v = sl_realloc(l->v, (l->n + 1) * sizeof(*v));

    if (v == NULL) {
        sl_free(s);
        return SL_ENOMEM;
    }
    l->v = v;
    l->v[l->n++] = s;
    return SL_OK;
}

static int opt_kvlist_push(struct sl_kvlist *l, char *k, char *v)
{
    char **nk = sl_realloc(l->k, (l->n + 1) * sizeof(*nk));
    char **nv;

    if (nk != NULL) {
        l->k = nk;
    }
    nv = nk == NULL ? NULL : sl_realloc(l->v, (l->n + 1) * sizeof(*nv));
    if (nv == NULL || k == NULL || v == NULL) {
        sl_free(k);
        sl_free(v);
        return SL_ENOMEM;
    }
    l->v = nv;
    l->k[l->n] = k;
    l->v[l->n++] = v;
    return SL_OK;
}

static void opt_strlist_clear(struct sl_strlist *l)
{
    size_t i;

    for (i = 0; i < l->n; i++) {
        sl_free(l->v[i]);
    }
    sl_free(l->v);
    l->v = NULL;
    l->n = 0;
}

static void opt_kvlist_clear(struct sl_kvlist *l)
{
    size_t i;

    for (i = 0; i < l->n; i++) {
        sl_free(l->k[i]);
        sl_free(l->v[i]);
    }
    sl_free(l->k);
    sl_free(l->v);
    l->k = NULL;
    l->v = NULL;
    l->n = 0;
}

/* Trimmed copy of [s, e). */
static char *opt_trimdup(const char *s, const char *e)
{
    while (s < e && (*s == ' ' || *s == '\t')) {
        s++;
    }
    while (e > s && (e[-1] == ' ' || e[-1] == '\t')) {
        e--;
    }
    return sl_strndup(s, (size_t)(e - s));
}

/* Splits <text> on commas, trimming spaces; empty items are skipped.  For
 * a MAP each item is "key=value". */
static int opt_split(const struct sl_option *opt, const char *text, void *dst,
                     struct sl_err *err)
{
    const char *s = text, *e, *eq;
    char *item, got[OPT_GOT_MAX + 8];
    int rc = SL_OK;

    while (rc == SL_OK && *s != '\0') {
        e = strchr(s, ',');
        e = e == NULL ? s + strlen(s) : e;
        item = opt_trimdup(s, e);
        s = *e == ',' ? e + 1 : e;
        if (item == NULL) {
            return sl_err_set(err, SL_ENOMEM, "out of memory");
        }
        if (item[0] == '\0') {
            sl_free(item);
            continue;
        }
        if (opt->type == SL_OPT_LIST) {
            rc = opt_strlist_push(dst, item);
            continue;
        }
        eq = strchr(item, '=');
        if (eq == NULL) {
            sl_free(item);
            return sl_err_set(err, SL_EINVAL,
                              "expected key=value pairs "
                              "separated by commas, got %s",
                              opt_got(opt, text, got, sizeof(got)));
        }
        rc = opt_kvlist_push(dst, opt_trimdup(item, eq),
                             opt_trimdup(eq + 1, eq + strlen(eq)));
        sl_free(item);
    }
    return rc == SL_OK ? SL_OK : sl_err_set(err, rc, "out of memory");
}

/* ---- one value ------------------------------------------------------- */

static int opt_parse_enum(const struct sl_option *opt, const char *text,
                          int *dst, struct sl_err *err)
{
    char list[256], got[OPT_GOT_MAX + 8];
    size_t off = 0;
    int i;

    for (i = 0; opt->choices != NULL && opt->choices[i] != NULL; i++) {
        if (strcasecmp(opt->choices[i], text) == 0) {
            *dst = i;
            return SL_OK;
        }
    }
    list[0] = '\0';
    for (i = 0; opt->choices != NULL && opt->choices[i] != NULL; i++) {
        if (off < sizeof(list)) {
            off += (size_t)snprintf(list + off, sizeof(list) - off, "%s%s",
                                    i > 0 ? ", " : "", opt->choices[i]);
        }
    }
    return sl_err_set(err, SL_EINVAL, "expected one of %s, got %s", list,
                      opt_got(opt, text, got, sizeof(got)));
}

static int opt_parse_number(const struct sl_option *opt, const char *text,
                            void *dst, struct sl_err *err)
{
    char got[OPT_GOT_MAX + 8];
    uint64_t u = 0;
    int64_t v = 0;
    int rc;

    if (opt->type == SL_OPT_INT) {
        rc = opt_parse_i64(text, &v);
    } else if (opt->type == SL_OPT_SIZE) {
        rc = sl_option_parse_size(text, &u);
        v = u > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)u;
    } else {
        rc = sl_option_parse_time_ms(text, &v);
    }
    if (rc != SL_OK) {
        return sl_err_set(
            err, SL_EINVAL, "expected %s%s, got %s", opt_what(opt),
            opt->type == SL_OPT_SIZE   ? " (e.g. 512, 64K, 5M, 1G)"
            : opt->type == SL_OPT_TIME ? " (e.g. 250ms, 2s, 1m, 1h, 1d)"
                                       : "",
            opt_got(opt, text, got, sizeof(got)));
    }
    rc = opt_check_range(opt, v, u > (uint64_t)INT64_MAX, text, err);
    if (rc != SL_OK) {
        return rc;
    }
    if (opt->type == SL_OPT_SIZE) {
        *(uint64_t *)dst = u;
    } else {
        *(int64_t *)dst = v;
    }
    return SL_OK;
}

static int opt_parse_scalar(const struct sl_option *opt, const char *text,
                            void *dst, struct sl_err *err)
{
    char got[OPT_GOT_MAX + 8];

    switch (opt->type) {
    case SL_OPT_BOOL:
        if (sl_option_parse_bool(text, dst) != SL_OK) {
            return sl_err_set(err, SL_EINVAL,
                              "expected a boolean (on/off, "
                              "true/false, yes/no, 1/0), got %s",
                              opt_got(opt, text, got, sizeof(got)));
        }
        return SL_OK;
    case SL_OPT_DOUBLE:
        if (opt_parse_double(text, dst) != SL_OK) {
            return sl_err_set(err, SL_EINVAL, "expected a number, got %s",
                              opt_got(opt, text, got, sizeof(got)));
        }
        return SL_OK;
    case SL_OPT_ENUM:
        return opt_parse_enum(opt, text, dst, err);
    default:
        return opt_parse_number(opt, text, dst, err);
    }
}

int sl_option_parse_value(const struct sl_option *opt, const char *text,
                          void *dst, struct sl_err *err)
{
    char *s;

    switch (opt->type) {
    case SL_OPT_STR:
    case SL_OPT_TEMPLATE:
        s = sl_strdup(text);
        if (s == NULL) {
            return sl_err_set(err, SL_ENOMEM, "out of memory");
        }
        sl_free(*(char **)dst);
        *(char **)dst = s;
        return SL_OK;
    case SL_OPT_LIST:
    case SL_OPT_MAP:
        return opt_split(opt, text, dst, err);
    case SL_OPT_INT:
    case SL_OPT_DOUBLE:
    case SL_OPT_BOOL:
    case SL_OPT_SIZE:
    case SL_OPT_TIME:
    case SL_OPT_ENUM:
        return opt_parse_scalar(opt, text, dst, err);
    default:
        return sl_err_set(err, SL_EINVAL, "option type %d is not known",
                          (int)opt->type);
    }
}

/* ---- defaults and free ----------------------------------------------- */

void sl_option_free(const struct sl_option *table, void *conf)
{
    const struct sl_option *o;
    char *field;

    for (o = table; o != NULL && o->name != NULL; o++) {
        field = (char *)conf + o->offset;
        if (o->type == SL_OPT_STR || o->type == SL_OPT_TEMPLATE) {
            sl_free(*(char **)field);
            *(char **)field = NULL;
        } else if (o->type == SL_OPT_LIST) {
            opt_strlist_clear((struct sl_strlist *)field);
        } else if (o->type == SL_OPT_MAP) {
            opt_kvlist_clear((struct sl_kvlist *)field);
        }
    }
}

int sl_option_defaults(const struct sl_option *table, void *conf)
{
    const struct sl_option *o;
    struct sl_err err;
    int rc;

    for (o = table; o != NULL && o->name != NULL; o++) {
        if (o->def == NULL) {
            continue;
        }
        rc = sl_option_parse_value(o, o->def, (char *)conf + o->offset, &err);
        if (rc != SL_OK) {
            sl_option_free(table, conf);
            return rc;
        }
    }
    return SL_OK;
}

/* ---- applying a map -------------------------------------------------- */

struct opt_ctx {
    const struct sl_config *cfg;
    const struct sl_opt_target *targets;
    size_t ntargets;
    const char *const *ignore;
    struct sl_errlist *errs;
    const struct sl_cnode ***seen; /* per target, per option: first key */
    const char **names;            /* every known key, for suggestions */
    bool oom;
};

static bool opt_ignored(const struct opt_ctx *c, const char *key)
{
    size_t i;

    for (i = 0; c->ignore != NULL && c->ignore[i] != NULL; i++) {
        if (strcmp(c->ignore[i], key) == 0) {
            return true;
        }
    }
    return false;
}

static bool opt_find(const struct opt_ctx *c, const char *key, size_t *t,
                     size_t *i)
{
    const struct sl_option *o;

    for (*t = 0; *t < c->ntargets; (*t)++) {
        o = c->targets[*t].table;
        for (*i = 0; o != NULL && o[*i].name != NULL; (*i)++) {
            if (strcmp(o[*i].name, key) == 0) {
                return true;
            }
        }
    }
    return false;
}

/* True when some option (or ignored key) is named "<prefix>.<...>". */
static bool opt_has_prefix(const struct opt_ctx *c, const char *prefix)
{
    size_t n = strlen(prefix), i;

    for (i = 0; c->names != NULL && c->names[i] != NULL; i++) {
        if (strncmp(c->names[i], prefix, n) == 0 && c->names[i][n] == '.') {
            return true;
        }
    }
    return false;
}

static void opt_add(struct opt_ctx *c, const struct sl_cnode *at,
                    const char *key, const struct sl_err *e)
{
    struct sl_err copy = *e;

    if (e->rc == SL_ENOMEM) {
        c->oom = true;
        return;
    }
    sl_err_at(&copy, at->file, at->line, at->col, key);
    copy.rc = SL_ECONFIG;
    sl_errlist_push(c->errs, &copy);
}

/* Expands <node> for <opt> into *<out>.  A secret's expansion errors are
 * rewritten so that no part of the value shows. */
static int opt_expand(struct opt_ctx *c, const struct sl_option *opt,
                      const struct sl_cnode *node, const char *key, char **out)
{
    struct sl_errlist tmp;
    int rc;

    *out = NULL;
    if (memchr(node->str, '\0', node->len) != NULL) {
        return sl_errlist_add(c->errs, node->file, node->line, node->col, key,
                              "the value contains a NUL byte");
    }
    if (opt->type == SL_OPT_TEMPLATE) {
        *out = sl_strdup(node->str);
        return *out == NULL ? SL_ENOMEM : SL_OK;
    }
    if (!(opt->flags & SL_OPT_SECRET)) {
        return sl_config_expand(c->cfg, node, key, out, c->errs);
    }
    sl_errlist_init(&tmp);
    rc = sl_config_expand(c->cfg, node, key, out, &tmp);
    if (rc == SL_ECONFIG && tmp.n > 0) {
        sl_errlist_add(c->errs, node->file, node->line, node->col, key, "%s",
                       strncmp(tmp.items[0].msg, "environment variable", 20) ==
                               0
                           ? tmp.items[0].msg
                           : "invalid ${...} reference in a secret value");
    }
    return rc;
}

/* Expands and parses scalar <val> into <dst>. */
static void opt_set_scalar(struct opt_ctx *c, const struct sl_option *opt,
                           const struct sl_cnode *val, const char *key,
                           void *dst)
{
    struct sl_err err;
    char *text;
    int rc;

    if (val->type != SL_CNODE_SCALAR) {
        sl_errlist_add(c->errs, val->file, val->line, val->col, key,
                       "expected a %s, got a %s",
                       sl_option_type_name(opt->type),
                       val->type == SL_CNODE_MAP ? "map" : "list");
        return;
    }
    rc = opt_expand(c, opt, val, key, &text);
    if (rc == SL_ENOMEM) {
        c->oom = true;
    }
    if (rc != SL_OK) {
        return;
    }
    if (sl_option_parse_value(opt, text, dst, &err) != SL_OK) {
        opt_add(c, val, key, &err);
    }
    sl_free(text);
}

static void opt_set_list(struct opt_ctx *c, const struct sl_option *opt,
                         const struct sl_cnode *val, const char *key, void *dst)
{
    size_t i;

    if (val->type == SL_CNODE_SCALAR) {
        opt_set_scalar(c, opt, val, key, dst);
        return;
    }
    if (val->type == SL_CNODE_MAP) {
        sl_errlist_add(c->errs, val->file, val->line, val->col, key,
                       "expected a list, got a map");
        return;
    }
    for (i = 0; i < val->n && !c->oom; i++) {
        const struct sl_cnode *it = val->items[i];
        char *text;
        int rc;

        if (it->type != SL_CNODE_SCALAR) {
            sl_errlist_add(c->errs, it->file, it->line, it->col, key,
                           "expected a list of scalars, got %s in it",
                           it->type == SL_CNODE_MAP ? "a map" : "a list");
            continue;
        }
        rc = opt_expand(c, opt, it, key, &text);
        if (rc == SL_ENOMEM ||
            (rc == SL_OK && opt_strlist_push(dst, text) != SL_OK)) {
            c->oom = true;
        }
    }
}

static void opt_set_map(struct opt_ctx *c, const struct sl_option *opt,
                        const struct sl_cnode *val, const char *key, void *dst)
{
    const struct sl_cpair *p;
    char *text;
    size_t i;
    int rc;

    if (val->type != SL_CNODE_MAP) {
        sl_errlist_add(c->errs, val->file, val->line, val->col, key,
                       "expected a map, got a %s",
                       val->type == SL_CNODE_SEQ ? "list" : "scalar");
        return;
    }
    for (i = 0; i < val->n && !c->oom; i++) {
        p = &val->pairs[i];
        if (p->val->type != SL_CNODE_SCALAR) {
            sl_errlist_add(c->errs, p->val->file, p->val->line, p->val->col,
                           key, "expected a scalar value for '%s'",
                           p->key->str);
            continue;
        }
        rc = opt_expand(c, opt, p->val, key, &text);
        if (rc == SL_ENOMEM ||
            (rc == SL_OK &&
             opt_kvlist_push(dst, sl_strdup(p->key->str), text) != SL_OK)) {
            c->oom = true;
        }
    }
}

static void opt_set(struct opt_ctx *c, size_t t, size_t i,
                    const struct sl_cpair *pair, const char *key)
{
    const struct sl_option *opt = &c->targets[t].table[i];
    void *dst = (char *)c->targets[t].conf + opt->offset;
    const struct sl_cnode *first = c->seen[t][i];

    /* A MAP may be given in pieces (nested and flat "<map>.<key>" forms),
     * so its entries merge; any other option may be set once. */
    if (first != NULL && !(opt->flags & SL_OPT_MULTI) &&
        opt->type != SL_OPT_MAP) {
        sl_errlist_add(c->errs, pair->key->file, pair->key->line,
                       pair->key->col, key,
                       "option '%s' is set twice (first at %s:%u:%u)", key,
                       first->file, first->line, first->col);
        return;
    }
    c->seen[t][i] = pair->key;
    if (opt->flags & SL_OPT_DEPRECATED) {
        sl_clog_warn("config", "%s:%u:%u: option '%s' is deprecated",
                     pair->key->file, pair->key->line, pair->key->col, key);
    }
    if (opt->type == SL_OPT_LIST) {
        if (first == NULL) {
            opt_strlist_clear(dst); /* the value replaces the default */
        }
        opt_set_list(c, opt, pair->val, key, dst);
    } else if (opt->type == SL_OPT_MAP) {
        if (first == NULL) {
            opt_kvlist_clear(dst);
        }
        opt_set_map(c, opt, pair->val, key, dst);
    } else {
        opt_set_scalar(c, opt, pair->val, key, dst);
    }
}

/* A flat key "<map option>.<sub key>" (e.g. "rdkafka.linger.ms") adds
 * one entry to that MAP option, as the nested form "rdkafka: {linger.ms:
 * 5}" does.  Returns false when no MAP option is a prefix of <key>. */
static bool opt_set_map_entry(struct opt_ctx *c, const struct sl_cpair *pair,
                              const char *key)
{
    const struct sl_option *opt;
    size_t t, i, n;
    void *dst;
    char *text = NULL;
    int rc;

    for (t = 0; t < c->ntargets; t++) {
        opt = c->targets[t].table;
        for (i = 0; opt != NULL && opt[i].name != NULL; i++) {
            n = strlen(opt[i].name);
            if (opt[i].type != SL_OPT_MAP || strncmp(opt[i].name, key, n) != 0 ||
                key[n] != '.' || key[n + 1] == '\0') {
                continue;
            }
            dst = (char *)c->targets[t].conf + opt[i].offset;
            if (pair->val->type != SL_CNODE_SCALAR) {
                sl_errlist_add(c->errs, pair->val->file, pair->val->line,
                               pair->val->col, key,
                               "expected a scalar value for '%s'", key);
                return true;
            }
            if (c->seen[t][i] == NULL) {
                opt_kvlist_clear(dst);
                c->seen[t][i] = pair->key;
            }
            rc = opt_expand(c, &opt[i], pair->val, key, &text);
            if (rc == SL_ENOMEM ||
                (rc == SL_OK &&
                 opt_kvlist_push(dst, sl_strdup(key + n + 1), text) != SL_OK)) {
                c->oom = true;
            }
            return true;
        }
    }
    return false;
}

static void opt_unknown(struct opt_ctx *c, const struct sl_cnode *k,
                        const char *key)
{
    const char *s = sl_config_suggest(key, c->names);

    if (s != NULL) {
        sl_errlist_add(c->errs, k->file, k->line, k->col, key,
                       "unknown option '%s' (did you mean '%s'?)", key, s);
    } else {
        sl_errlist_add(c->errs, k->file, k->line, k->col, key,
                       "unknown option '%s'", key);
    }
}

static void opt_walk(struct opt_ctx *c, const struct sl_cnode *map,
                     const char *prefix, unsigned depth)
{
    const struct sl_cpair *p;
    char key[OPT_KEY_MAX];
    size_t i, t, o;
    int n;

    for (i = 0; i < map->n && !c->oom; i++) {
        p = &map->pairs[i];
        n = snprintf(key, sizeof(key), "%s%s%s", prefix,
                     prefix[0] != '\0' ? "." : "", p->key->str);
        if (n < 0 || (size_t)n >= sizeof(key)) {
            sl_errlist_add(c->errs, p->key->file, p->key->line, p->key->col,
                           NULL, "option name too long");
            continue;
        }
        if (opt_ignored(c, key)) {
            continue;
        }
        if (opt_find(c, key, &t, &o)) {
            opt_set(c, t, o, p, key);
        } else if (p->val->type == SL_CNODE_MAP && depth < 8 &&
                   opt_has_prefix(c, key)) {
            opt_walk(c, p->val, key, depth + 1);
        } else if (!opt_set_map_entry(c, p, key)) {
            opt_unknown(c, p->key, key);
        }
    }
}

static void opt_required(struct opt_ctx *c, const struct sl_cnode *map)
{
    const struct sl_option *o;
    size_t t, i;

    for (t = 0; t < c->ntargets; t++) {
        o = c->targets[t].table;
        for (i = 0; o != NULL && o[i].name != NULL; i++) {
            if ((o[i].flags & SL_OPT_REQUIRED) && c->seen[t][i] == NULL) {
                sl_errlist_add(c->errs, map ? map->file : NULL,
                               map ? map->line : 0, map ? map->col : 0,
                               o[i].name, "missing required option '%s'",
                               o[i].name);
            }
        }
    }
}

static size_t opt_count(const struct sl_option *o)
{
    size_t n = 0;

    while (o != NULL && o[n].name != NULL) {
        n++;
    }
    return n;
}

/* Allocates the per-option bookkeeping and the name list. */
static int opt_ctx_init(struct opt_ctx *c)
{
    size_t t, i, total = 0, k = 0;

    c->seen = sl_calloc(c->ntargets + 1, sizeof(*c->seen));
    if (c->seen == NULL) {
        return SL_ENOMEM;
    }
    for (t = 0; t < c->ntargets; t++) {
        total += opt_count(c->targets[t].table);
        c->seen[t] =
            sl_calloc(opt_count(c->targets[t].table) + 1, sizeof(*c->seen[t]));
        if (c->seen[t] == NULL) {
            return SL_ENOMEM;
        }
    }
    for (i = 0; c->ignore != NULL && c->ignore[i] != NULL; i++) {
        total++;
    }
    c->names = sl_calloc(total + 1, sizeof(*c->names));
    if (c->names == NULL) {
        return SL_ENOMEM;
    }
    for (t = 0; t < c->ntargets; t++) {
        for (i = 0; i < opt_count(c->targets[t].table); i++) {
            c->names[k++] = c->targets[t].table[i].name;
        }
    }
    for (i = 0; c->ignore != NULL && c->ignore[i] != NULL; i++) {
        c->names[k++] = c->ignore[i];
    }
    return SL_OK;
}

static void opt_ctx_fini(struct opt_ctx *c)
{
    size_t t;

    for (t = 0; c->seen != NULL && t < c->ntargets; t++) {
        sl_free(c->seen[t]);
    }
    sl_free(c->seen);
    sl_free(c->names);
}

/* Walks <map> (NULL or an empty value: defaults only), then checks that
 * every required option was set. */
static void opt_apply_map(struct opt_ctx *c, const struct sl_cnode *map)
{
    if (map != NULL && map->type == SL_CNODE_MAP) {
        opt_walk(c, map, "", 0);
    } else if (map != NULL && !(map->type == SL_CNODE_SCALAR && map->len == 0 &&
                                !map->quoted)) {
        sl_errlist_add(c->errs, map->file, map->line, map->col, NULL,
                       "expected a map of options");
    }
    if (!c->oom) {
        opt_required(c, map);
    }
}

int sl_option_apply(const struct sl_config *cfg, const struct sl_cnode *map,
                    const struct sl_opt_target *targets, size_t ntargets,
                    const char *const *ignore, struct sl_errlist *errs)
{
    struct opt_ctx c = { .cfg = cfg,
                         .targets = targets,
                         .ntargets = ntargets,
                         .ignore = ignore,
                         .errs = errs };
    size_t before = sl_errlist_count(errs), t;
    int rc = SL_OK;

    for (t = 0; t < ntargets && rc == SL_OK; t++) {
        rc = sl_option_defaults(targets[t].table, targets[t].conf);
    }
    if (rc == SL_OK) {
        rc = opt_ctx_init(&c);
    }
    if (rc != SL_OK) {
        goto done;
    }
    opt_apply_map(&c, map);
    rc = c.oom ? SL_ENOMEM : SL_OK;
done:
    opt_ctx_fini(&c);
    if (rc == SL_ENOMEM) {
        sl_errlist_add(errs, map ? map->file : NULL, 0, 0, NULL,
                       "out of memory");
    }
    if (rc == SL_OK && sl_errlist_count(errs) > before) {
        rc = SL_ECONFIG;
    }
    return rc;
}

/* ---- describe and markdown ------------------------------------------- */

static void opt_type_text(const struct sl_option *o, char *buf, size_t cap)
{
    size_t off = 0;
    int i;

    if (o->type != SL_OPT_ENUM || o->choices == NULL) {
        snprintf(buf, cap, "%s", sl_option_type_name(o->type));
        return;
    }
    buf[0] = '\0';
    for (i = 0; o->choices[i] != NULL && off < cap; i++) {
        off += (size_t)snprintf(buf + off, cap - off, "%s%s", i ? "|" : "",
                                o->choices[i]);
    }
}

static const char *opt_default_text(const struct sl_option *o)
{
    if (o->def != NULL && (o->flags & SL_OPT_SECRET)) {
        return "(secret)";
    }
    if (o->def != NULL) {
        return o->def;
    }
    return (o->flags & SL_OPT_REQUIRED) ? "required" : "-";
}

int sl_option_describe(const struct sl_option *table, struct sl_buf *out)
{
    size_t wn = strlen("OPTION"), wt = strlen("TYPE"), wd = strlen("DEFAULT");
    char type[256];
    size_t i, l;
    int rc;

    for (i = 0; table != NULL && table[i].name != NULL; i++) {
        opt_type_text(&table[i], type, sizeof(type));
        wn = (l = strlen(table[i].name)) > wn ? l : wn;
        wt = (l = strlen(type)) > wt ? l : wt;
        wd = (l = strlen(opt_default_text(&table[i]))) > wd ? l : wd;
    }
    rc = sl_buf_printf(out, "%-*s  %-*s  %-*s  %s\n", (int)wn, "OPTION",
                       (int)wt, "TYPE", (int)wd, "DEFAULT", "DESCRIPTION");
    for (i = 0; rc == SL_OK && table != NULL && table[i].name != NULL; i++) {
        opt_type_text(&table[i], type, sizeof(type));
        rc = sl_buf_printf(
            out, "%-*s  %-*s  %-*s  %s%s\n", (int)wn, table[i].name, (int)wt,
            type, (int)wd, opt_default_text(&table[i]),
            table[i].desc ? table[i].desc : "",
            (table[i].flags & SL_OPT_DEPRECATED) ? " (deprecated)" : "");
    }
    return rc;
}

/* Appends <s> with '|' escaped and line breaks as spaces (table cell). */
static int opt_md_cell(struct sl_buf *out, const char *s)
{
    int rc = SL_OK;

    for (; s != NULL && *s != '\0' && rc == SL_OK; s++) {
        if (*s == '|') {
            rc = sl_buf_append(out, "\\|", 2);
        } else if (*s == '\n' || *s == '\r') {
            rc = sl_buf_putc(out, ' ');
        } else {
            rc = sl_buf_putc(out, *s);
        }
    }
    return rc;
}

static int opt_md_type(struct sl_buf *out, const struct sl_option *o)
{
    int rc = SL_OK, i;

    if (o->type != SL_OPT_ENUM || o->choices == NULL) {
        return sl_buf_append_str(out, sl_option_type_name(o->type));
    }
    for (i = 0; rc == SL_OK && o->choices[i] != NULL; i++) {
        rc = sl_buf_printf(out, "%s`%s`", i ? " \\| " : "", o->choices[i]);
    }
    return rc;
}

static int opt_md_default(struct sl_buf *out, const struct sl_option *o)
{
    if (o->def == NULL || (o->flags & SL_OPT_SECRET)) {
        return sl_buf_printf(out, " | %s | ", opt_default_text(o));
    }
    if (o->def[0] == '\0') {
        return sl_buf_append_str(out, " | `\"\"` | ");
    }
    return sl_buf_printf(out, " | `%s` | ", o->def);
}

static int opt_md_row(struct sl_buf *out, const struct sl_option *o)
{
    int rc;

    rc = sl_buf_printf(out, "| `%s` | ", o->name);
    if (rc == SL_OK) {
        rc = opt_md_type(out, o);
    }
    if (rc == SL_OK) {
        rc = opt_md_default(out, o);
    }
    if (rc == SL_OK && (o->flags & SL_OPT_DEPRECATED)) {
        rc = sl_buf_append_str(out, "**Deprecated.** ");
    }
    if (rc == SL_OK) {
        rc = opt_md_cell(out, o->desc);
    }
    return rc == SL_OK ? sl_buf_append_str(out, " |\n") : rc;
}

static int opt_md_table(struct sl_buf *out, const char *heading,
                        const struct sl_option *table)
{
    size_t i;
    int rc;

    rc = sl_buf_printf(out, "\n## %s\n\n", heading);
    if (rc == SL_OK && opt_count(table) == 0) {
        return sl_buf_append_str(out, "None.\n");
    }
    if (rc == SL_OK) {
        rc = sl_buf_append_str(out, "| Option | Type | Default | Description "
                                    "|\n|---|---|---|---|\n");
    }
    for (i = 0; rc == SL_OK && table[i].name != NULL; i++) {
        rc = opt_md_row(out, &table[i]);
    }
    return rc;
}

int sl_option_markdown(const char *title, const char *intro,
                       const struct sl_option *generic,
                       const struct sl_option *table, struct sl_buf *out)
{
    int rc;

    rc = sl_buf_printf(out, "# %s\n", title != NULL ? title : "");
    if (rc == SL_OK && intro != NULL && intro[0] != '\0') {
        rc = sl_buf_printf(out, "\n%s\n", intro);
        /* Keep exactly one blank line before the next heading. */
        if (rc == SL_OK && out->len >= 2 && out->data[out->len - 2] == '\n') {
            out->len--;
            out->data[out->len] = '\0';
        }
    }
    if (rc == SL_OK) {
        rc = opt_md_table(out, "Options", table);
    }
    if (rc == SL_OK && generic != NULL) {
        rc = opt_md_table(out, "Common options", generic);
    }
    return rc;
}
