/*
 * multiline.c - the multiline engine (sluice/multiline.h): rule-based
 * state machines and the built-in java, python, go and docker definitions,
 * the config's multiline_parsers section, and the lookup inputs use
 * (sl_multiline_lookup in sluice/plugin.h).
 *
 * Main types: struct sl_multiline_def (immutable: states, compiled PCRE2
 * rules, bounds) and struct sl_multiline (one stream's pending record, in
 * a capped sl_buf).  Built-ins are rule tables compiled on demand, except
 * docker, which is JSON-aware: it joins the "log" members of consecutive
 * lines until one ends with a newline.
 *
 * Main thread only.  Never blocks; work per line is one regex match per
 * candidate rule and one copy of the line.
 */
#include <stdbool.h>
#include <string.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "config.h"
#include "engine.h"
#include "option.h"
#include "sluice/multiline.h"
#include "sluice/plugin.h"
#include "sluice/banned.h"

#define ML_START      0u
#define ML_START_NAME "start_state"

enum ml_kind {
    ML_RULES,
    ML_DOCKER,
};

struct ml_rule {
    unsigned from;
    unsigned to;
    pcre2_code *re;
};

struct sl_multiline_def {
    enum ml_kind kind;
    char *name;
    char **states; /* states[0] is start_state */
    size_t nstates;
    struct ml_rule *rules;
    size_t nrules;
    int64_t flush_timeout_ms;
    size_t max_lines;
    size_t max_bytes;
};

struct sl_multiline {
    const struct sl_multiline_def *def;
    sl_multiline_emit_fn emit;
    void *arg;
    pcre2_match_data *md;
    struct sl_buf buf;  /* pending text (rules) or joined log (docker) */
    struct sl_buf last; /* docker: the last JSON line of the record */
    struct sl_buf tmp;  /* docker: decoded log of the current line */
    struct sl_buf out;  /* docker: the record being emitted */
    struct sl_json_checker *checker;
    size_t last_val_off; /* docker: where "log"'s value starts in last */
    size_t last_val_len;
    size_t lines;
    unsigned state;
    int64_t last_ns;
    bool pending;
};

/* ---- built-in rule tables ---- */

static const struct sl_multiline_rule ml_java_rules[] = {
    { ML_START_NAME,
      "(?:Exception|Error|Throwable)(?::|$)|^Exception in thread ", "java" },
    { "java", "^\\s+at\\s", "java" },
    { "java", "^\\s*\\.\\.\\.\\s*\\d+\\s+(?:more|common frames omitted)",
      "java" },
    { "java", "^\\s*Caused by:", "java" },
    { "java", "^\\s*Suppressed:", "java" },
};

static const struct sl_multiline_rule ml_python_rules[] = {
    { ML_START_NAME, "^Traceback \\(most recent call last\\):\\s*$", "python" },
    { "python", "^\\s+\\S", "python" },
    { "python", "^[A-Za-z_][\\w.]*(?::.*)?$", "python_end" },
    { "python_end", "^\\s*$", "python_end" },
    { "python_end",
      "^(?:During handling of the above exception, another exception "
      "occurred:|The above exception was the direct cause of the following "
      "exception:)\\s*$",
      "python_chain" },
    { "python_chain", "^\\s*$", "python_chain" },
    { "python_chain", "^Traceback \\(most recent call last\\):\\s*$",
      "python" },
};

static const struct sl_multiline_rule ml_go_rules[] = {
    { ML_START_NAME, "^(?:panic: |fatal error: )", "go" },
    { "go", "^\\s*$", "go" },
    { "go", "^goroutine \\d+ \\[", "go" },
    { "go", "^\\s+\\S", "go" },
    { "go", "^created by ", "go" },
    { "go", "^\\[(?:signal|recovered)", "go" },
    { "go", "^panic: ", "go" },
    { "go", "^exit status \\d+$", "go" },
    { "go", "^[\\w./*()\\-]+\\(.*\\)$", "go" },
};

struct ml_builtin {
    const char *name;
    const struct sl_multiline_rule *rules;
    size_t nrules;
};

#define ML_COUNT(a) (sizeof(a) / sizeof((a)[0]))

static const struct ml_builtin ml_builtins[] = {
    { "java", ml_java_rules, ML_COUNT(ml_java_rules) },
    { "python", ml_python_rules, ML_COUNT(ml_python_rules) },
    { "go", ml_go_rules, ML_COUNT(ml_go_rules) },
    { "docker", NULL, 0 },
};

/* ---- definitions ---- */

void sl_multiline_def_destroy(struct sl_multiline_def *def)
{
    size_t i;

    if (def == NULL) {
        return;
    }
    for (i = 0; i < def->nrules; i++) {
        pcre2_code_free(def->rules[i].re);
    }
    for (i = 0; i < def->nstates; i++) {
        sl_free(def->states[i]);
    }
    sl_free(def->rules);
    sl_free(def->states);
    sl_free(def->name);
    sl_free(def);
}

static struct sl_multiline_def *ml_def_new(const char *name, size_t nrules)
{
    struct sl_multiline_def *def = sl_calloc(1, sizeof(*def));

    if (def == NULL) {
        return NULL;
    }
    def->name = sl_strdup(name != NULL ? name : "");
    /* Every rule names at most two states, plus start_state. */
    def->states = sl_calloc(2 * nrules + 1, sizeof(*def->states));
    def->rules = sl_calloc(nrules + 1, sizeof(*def->rules));
    if (def->name == NULL || def->states == NULL || def->rules == NULL) {
        sl_multiline_def_destroy(def);
        return NULL;
    }
    def->states[0] = sl_strdup(ML_START_NAME);
    if (def->states[0] == NULL) {
        sl_multiline_def_destroy(def);
        return NULL;
    }
    def->nstates = 1;
    return def;
}

/* Index of state <name>, added when new; -1 on ENOMEM. */
static long ml_state_index(struct sl_multiline_def *def, const char *name)
{
    size_t i;

    for (i = 0; i < def->nstates; i++) {
        if (strcmp(def->states[i], name) == 0) {
            return (long)i;
        }
    }
    def->states[def->nstates] = sl_strdup(name);
    if (def->states[def->nstates] == NULL) {
        return -1;
    }
    return (long)def->nstates++;
}

/* Compiles <regex>, without the "/.../" slashes Fluent Bit configs use. */
static pcre2_code *ml_compile(const char *regex, struct sl_err *err)
{
    size_t len = strlen(regex);
    PCRE2_SIZE erroff;
    PCRE2_UCHAR msg[256];
    pcre2_code *re;
    int errcode;

    if (len >= 2 && regex[0] == '/' && regex[len - 1] == '/') {
        regex++;
        len -= 2;
    }
    re = pcre2_compile((PCRE2_SPTR)regex, len, 0, &errcode, &erroff, NULL);
    if (re == NULL) {
        pcre2_get_error_message(errcode, msg, sizeof(msg));
        sl_err_set(err, SL_ECONFIG, "invalid regex at offset %zu: %s",
                   (size_t)erroff, (char *)msg);
        return NULL;
    }
    /* No JIT: its vector loads read past the end of the line, which
     * valgrind (run on the fuzz replays) reports; lines are short and the
     * interpreter is fast enough for a few rules per line. */
    return re;
}

static int ml_add_rule(struct sl_multiline_def *def,
                       const struct sl_multiline_rule *r, struct sl_err *err)
{
    struct ml_rule *dst = &def->rules[def->nrules];
    long from;
    long to;

    if (r->state == NULL || r->regex == NULL || r->next_state == NULL) {
        return sl_err_set(err, SL_ECONFIG,
                          "a rule needs state, regex and next_state");
    }
    from = ml_state_index(def, r->state);
    to = ml_state_index(def, r->next_state);
    if (from < 0 || to < 0) {
        return sl_err_set(err, SL_ENOMEM, "out of memory");
    }
    dst->re = ml_compile(r->regex, err);
    if (dst->re == NULL) {
        return SL_ECONFIG;
    }
    dst->from = (unsigned)from;
    dst->to = (unsigned)to;
    def->nrules++;
    return SL_OK;
}

/* Every state reached must have rules (start_state excepted), and there
 * must be a way in. */
static int ml_check_states(const struct sl_multiline_def *def,
                           struct sl_err *err)
{
    bool has_start = false;
    size_t s;
    size_t i;

    for (i = 0; i < def->nrules; i++) {
        has_start = has_start || def->rules[i].from == ML_START;
    }
    if (!has_start) {
        return sl_err_set(err, SL_ECONFIG,
                          "no rule for state \"" ML_START_NAME "\"");
    }
    for (s = 1; s < def->nstates; s++) {
        bool has_rules = false;

        for (i = 0; i < def->nrules; i++) {
            has_rules = has_rules || def->rules[i].from == s;
        }
        if (!has_rules) {
            return sl_err_set(err, SL_ECONFIG, "next_state \"%s\" has no rules",
                              def->states[s]);
        }
    }
    return SL_OK;
}

int sl_multiline_def_create(const struct sl_multiline_spec *spec,
                            struct sl_multiline_def **out, struct sl_err *err)
{
    struct sl_multiline_def *def;
    size_t i;
    int rc = SL_OK;

    *out = NULL;
    if (spec->nrules == 0) {
        return sl_err_set(err, SL_ECONFIG, "rules: give at least one rule");
    }
    def = ml_def_new(spec->name, spec->nrules);
    if (def == NULL) {
        return sl_err_set(err, SL_ENOMEM, "out of memory");
    }
    def->kind = ML_RULES;
    def->flush_timeout_ms = spec->flush_timeout_ms;
    def->max_lines =
        spec->max_lines > 0 ? spec->max_lines : SL_MULTILINE_MAX_LINES;
    def->max_bytes =
        spec->max_bytes > 0 ? spec->max_bytes : SL_MULTILINE_MAX_BYTES;
    for (i = 0; i < spec->nrules && rc == SL_OK; i++) {
        rc = ml_add_rule(def, &spec->rules[i], err);
    }
    if (rc == SL_OK) {
        rc = ml_check_states(def, err);
    }
    if (rc != SL_OK) {
        sl_multiline_def_destroy(def);
        return rc;
    }
    *out = def;
    return SL_OK;
}

static const struct ml_builtin *ml_builtin_find(const char *name)
{
    size_t i;

    for (i = 0; name != NULL && i < ML_COUNT(ml_builtins); i++) {
        if (strcmp(ml_builtins[i].name, name) == 0) {
            return &ml_builtins[i];
        }
    }
    return NULL;
}

bool sl_multiline_builtin_exists(const char *name)
{
    return ml_builtin_find(name) != NULL;
}

struct sl_multiline_def *sl_multiline_def_builtin(const char *name)
{
    const struct ml_builtin *b = ml_builtin_find(name);
    struct sl_multiline_spec spec = { 0 };
    struct sl_multiline_def *def = NULL;

    if (b == NULL) {
        return NULL;
    }
    if (b->rules == NULL) {
        def = ml_def_new(b->name, 0);
        if (def != NULL) {
            def->kind = ML_DOCKER;
            def->flush_timeout_ms = SL_MULTILINE_FLUSH_TIMEOUT_MS;
            def->max_lines = SL_MULTILINE_MAX_LINES;
            def->max_bytes = SL_MULTILINE_MAX_BYTES;
        }
        return def;
    }
    spec.name = b->name;
    spec.rules = b->rules;
    spec.nrules = b->nrules;
    spec.flush_timeout_ms = SL_MULTILINE_FLUSH_TIMEOUT_MS;
    (void)sl_multiline_def_create(&spec, &def, NULL);
    return def;
}

const char *sl_multiline_def_name(const struct sl_multiline_def *def)
{
    return def->name;
}

int64_t sl_multiline_def_flush_timeout_ms(const struct sl_multiline_def *def)
{
    return def->flush_timeout_ms;
}

/* ---- streams ---- */

struct sl_multiline *sl_multiline_create(const struct sl_multiline_def *def,
                                         sl_multiline_emit_fn emit, void *arg)
{
    struct sl_multiline *m = sl_calloc(1, sizeof(*m));

    if (m == NULL) {
        return NULL;
    }
    m->def = def;
    m->emit = emit;
    m->arg = arg;
    sl_buf_init(&m->buf, 0);
    sl_buf_init(&m->last, 0);
    sl_buf_init(&m->tmp, 0);
    sl_buf_init(&m->out, 0);
    m->md = pcre2_match_data_create(1, NULL);
    if (def->kind == ML_DOCKER) {
        m->checker = sl_json_checker_create();
    }
    if (m->md == NULL || (def->kind == ML_DOCKER && m->checker == NULL)) {
        sl_multiline_destroy(m);
        return NULL;
    }
    return m;
}

void sl_multiline_destroy(struct sl_multiline *m)
{
    if (m == NULL) {
        return;
    }
    if (m->md != NULL) {
        pcre2_match_data_free(m->md);
    }
    if (m->checker != NULL) {
        sl_json_checker_destroy(m->checker);
    }
    sl_buf_fini(&m->buf);
    sl_buf_fini(&m->last);
    sl_buf_fini(&m->tmp);
    sl_buf_fini(&m->out);
    sl_free(m);
}

bool sl_multiline_pending(const struct sl_multiline *m)
{
    return m->pending;
}

int64_t sl_multiline_deadline_ns(const struct sl_multiline *m)
{
    if (!m->pending || m->def->flush_timeout_ms <= 0) {
        return 0;
    }
    return m->last_ns + m->def->flush_timeout_ms * SL_NS_PER_MS;
}

static int ml_emit(struct sl_multiline *m, const char *p, size_t n, bool json,
                   bool bounded, size_t lines)
{
    struct sl_multiline_out rec = {
        .p = p, .n = n, .json = json, .bounded = bounded, .lines = lines
    };

    return m->emit(m->arg, &rec);
}

/* Docker: the last line's object with "log" set to the joined text. */
static int ml_docker_build(struct sl_multiline *m)
{
    const char *p = m->last.data;

    sl_buf_reset(&m->out);
    if (sl_buf_append(&m->out, p, m->last_val_off) != SL_OK ||
        sl_json_write_string(&m->out, m->buf.data, m->buf.len) != SL_OK ||
        sl_buf_append(&m->out, p + m->last_val_off + m->last_val_len,
                      m->last.len - m->last_val_off - m->last_val_len) !=
            SL_OK) {
        return SL_ENOMEM;
    }
    return SL_OK;
}

static int ml_flush(struct sl_multiline *m, bool bounded)
{
    size_t lines = m->lines;
    int rc;

    if (!m->pending) {
        return SL_OK;
    }
    if (m->def->kind == ML_DOCKER) {
        rc = ml_docker_build(m);
        if (rc != SL_OK) {
            return rc;
        }
        m->pending = false;
        m->lines = 0;
        return ml_emit(m, m->out.data, m->out.len, true, bounded, lines);
    }
    /* The state goes back to the start; a bounded flush keeps it (the
     * caller restores it). */
    m->pending = false;
    m->lines = 0;
    m->state = ML_START;
    return ml_emit(m, m->buf.data, m->buf.len, false, bounded, lines);
}

int sl_multiline_flush(struct sl_multiline *m)
{
    return ml_flush(m, false);
}

int sl_multiline_expire(struct sl_multiline *m, int64_t now_ns)
{
    int64_t deadline = sl_multiline_deadline_ns(m);

    if (deadline == 0 || now_ns < deadline) {
        return SL_OK;
    }
    return ml_flush(m, false);
}

static bool ml_match(struct sl_multiline *m, const struct ml_rule *r,
                     const char *p, size_t n)
{
    return pcre2_match(r->re, (PCRE2_SPTR)(n > 0 ? p : ""), n, 0, 0, m->md,
                       NULL) >= 0;
}

/* The first rule of state <state> matching the line, or NULL. */
static const struct ml_rule *ml_find(struct sl_multiline *m, unsigned state,
                                     const char *p, size_t n)
{
    size_t i;

    for (i = 0; i < m->def->nrules; i++) {
        const struct ml_rule *r = &m->def->rules[i];

        if (r->from == state && ml_match(m, r, p, n)) {
            return r;
        }
    }
    return NULL;
}

/* Starts a pending record with the line. */
static int ml_begin(struct sl_multiline *m, const char *p, size_t n,
                    unsigned state, int64_t now_ns)
{
    sl_buf_reset(&m->buf);
    if (sl_buf_append(&m->buf, p, n) != SL_OK) {
        return SL_ENOMEM;
    }
    m->pending = true;
    m->lines = 1;
    m->state = state;
    m->last_ns = now_ns;
    return SL_OK;
}

/* Adds a continuation line; a full record is flushed first (bounded) and
 * the line starts the next one in the same state. */
static int ml_continue(struct sl_multiline *m, const char *p, size_t n,
                       unsigned to, int64_t now_ns)
{
    int rc;

    if (m->lines + 1 > m->def->max_lines ||
        m->buf.len + 1 + n > m->def->max_bytes) {
        rc = ml_flush(m, true);
        if (ml_begin(m, p, n, to, now_ns) != SL_OK) {
            return SL_ENOMEM;
        }
        return rc;
    }
    if (sl_buf_reserve(&m->buf, n + 1) != SL_OK) {
        return SL_ENOMEM;
    }
    sl_buf_putc(&m->buf, '\n');
    sl_buf_append(&m->buf, p, n);
    m->lines++;
    m->state = to;
    m->last_ns = now_ns;
    return SL_OK;
}

static int ml_rules_feed(struct sl_multiline *m, const char *p, size_t n,
                         int64_t now_ns)
{
    const struct ml_rule *r = NULL;
    int rc = SL_OK;

    if (m->pending && m->state != ML_START) {
        r = ml_find(m, m->state, p, n);
        if (r != NULL) {
            return ml_continue(m, p, n, r->to, now_ns);
        }
    }
    r = ml_find(m, ML_START, p, n);
    rc = ml_flush(m, false);
    if (r != NULL) {
        if (ml_begin(m, p, n, r->to, now_ns) != SL_OK) {
            return SL_ENOMEM;
        }
        /* A start rule that leads nowhere: the record is the line. */
        return r->to == ML_START && rc == SL_OK ? ml_flush(m, false) : rc;
    }
    if (rc != SL_OK) {
        /* The line is emitted alone below only when the flush worked. */
        (void)ml_emit(m, p, n, false, false, 1);
        return rc;
    }
    return ml_emit(m, p, n, false, false, 1);
}

/* Docker: keeps the line as the record's last and decodes its "log". */
static int ml_docker_take(struct sl_multiline *m, const char *p, size_t n,
                          const struct sl_json_member_loc *loc)
{
    sl_buf_reset(&m->last);
    sl_buf_reset(&m->tmp);
    if (sl_buf_append(&m->last, p, n) != SL_OK ||
        sl_json_unescape(&m->tmp, loc->val) != SL_OK) {
        return SL_ENOMEM;
    }
    m->last_val_off = (size_t)(loc->val.ptr - p);
    m->last_val_len = loc->val.len;
    return SL_OK;
}

static int ml_docker_feed(struct sl_multiline *m, const char *p, size_t n,
                          int64_t now_ns)
{
    struct sl_json_member_loc loc;
    enum sl_json_check_result cr;
    int rc = SL_OK;

    memset(&loc, 0, sizeof(loc));
    cr = sl_json_check_find(m->checker, p, n, SL_STR_LIT("log"), &loc, NULL);
    if ((cr != SL_JSON_CHECK_OBJECT && cr != SL_JSON_CHECK_COMPACT) ||
        loc.val.ptr == NULL || loc.val_type != SL_JSON_STRING) {
        /* Not a Docker line: whatever is pending goes first. */
        rc = ml_flush(m, false);
        (void)ml_emit(m, p, n, cr == SL_JSON_CHECK_OBJECT, false, 1);
        return rc;
    }
    if (m->pending && (m->lines + 1 > m->def->max_lines ||
                       m->buf.len + n > m->def->max_bytes)) {
        rc = ml_flush(m, true);
    }
    if (!m->pending) {
        sl_buf_reset(&m->buf);
    }
    if (ml_docker_take(m, p, n, &loc) != SL_OK ||
        sl_buf_append(&m->buf, m->tmp.data, m->tmp.len) != SL_OK) {
        return SL_ENOMEM;
    }
    m->pending = true;
    m->lines++;
    m->last_ns = now_ns;
    if (m->tmp.len > 0 && m->tmp.data[m->tmp.len - 1] == '\n') {
        int frc = ml_flush(m, false);

        return rc != SL_OK ? rc : frc;
    }
    return rc;
}

int sl_multiline_feed(struct sl_multiline *m, const char *p, size_t n,
                      int64_t now_ns)
{
    if (m->def->kind == ML_DOCKER) {
        return ml_docker_feed(m, p, n, now_ns);
    }
    return ml_rules_feed(m, p, n, now_ns);
}

/* ---- the config's multiline_parsers section ---- */

struct ml_conf {
    char *name;
    int type;
    int64_t flush_timeout_ms;
    int64_t max_lines;
    uint64_t max_bytes;
};

struct ml_rule_conf {
    char *state;
    char *regex;
    char *next_state;
};

static const char *const ml_types[] = { "regex", NULL };

static const struct sl_option ml_options[] = {
    { .name = "name",
      .type = SL_OPT_STR,
      .flags = SL_OPT_REQUIRED,
      SL_OPT_FIELD(struct ml_conf, name),
      .desc = "Name inputs refer to with multiline.parser." },
    { .name = "type",
      .type = SL_OPT_ENUM,
      .def = "regex",
      .choices = ml_types,
      SL_OPT_FIELD(struct ml_conf, type),
      .desc = "Kind of definition: regex rules." },
    { .name = "flush_timeout",
      .type = SL_OPT_TIME,
      .def = "2s",
      .max = INT64_C(3600000),
      SL_OPT_FIELD(struct ml_conf, flush_timeout_ms),
      .desc = "A pending record is flushed when no line continues it for "
              "this long; 0 waits for the next line." },
    { .name = "max_lines",
      .type = SL_OPT_INT,
      .def = "1000",
      .min = 1,
      .max = 1000000,
      SL_OPT_FIELD(struct ml_conf, max_lines),
      .desc = "Most lines in one record; then it is flushed and counted." },
    { .name = "max_bytes",
      .type = SL_OPT_SIZE,
      .def = "1M",
      .min = 256,
      .max = INT64_C(64) << 20,
      SL_OPT_FIELD(struct ml_conf, max_bytes),
      .desc = "Most bytes in one record; then it is flushed and counted." },
    SL_OPT_END,
};

static const struct sl_option ml_rule_options[] = {
    { .name = "state",
      .type = SL_OPT_STR,
      .flags = SL_OPT_REQUIRED,
      SL_OPT_FIELD(struct ml_rule_conf, state),
      .desc = "State the rule applies in (start_state or a name)." },
    { .name = "regex",
      .type = SL_OPT_STR,
      .flags = SL_OPT_REQUIRED,
      SL_OPT_FIELD(struct ml_rule_conf, regex),
      .desc = "PCRE2 regex the line must match." },
    { .name = "next_state",
      .type = SL_OPT_STR,
      .flags = SL_OPT_REQUIRED,
      SL_OPT_FIELD(struct ml_rule_conf, next_state),
      .desc = "State after a matching line." },
    SL_OPT_END,
};

static const char *const ml_ignore[] = { "rules", NULL };

static void ml_err_node(struct sl_errlist *errs, const struct sl_cnode *n,
                        const char *key, const struct sl_err *e)
{
    sl_errlist_add(errs, n != NULL ? n->file : NULL, n != NULL ? n->line : 0,
                   n != NULL ? n->col : 0, key, "%s", e->msg);
}

/* Reads the rules list of <map> into <rules> (n entries, zeroed). */
static int ml_rules_read(const struct sl_config *cfg,
                         const struct sl_cnode *seq, struct ml_rule_conf *rules,
                         struct sl_errlist *errs)
{
    struct sl_opt_target t;
    size_t i;
    int rc = SL_OK;

    for (i = 0; i < seq->n; i++) {
        t.table = ml_rule_options;
        t.conf = &rules[i];
        if (seq->items[i]->type != SL_CNODE_MAP) {
            sl_errlist_add(errs, seq->items[i]->file, seq->items[i]->line,
                           seq->items[i]->col, "rules",
                           "a rule is a map with state, regex, next_state");
            rc = SL_ECONFIG;
            continue;
        }
        if (sl_option_apply(cfg, seq->items[i], &t, 1, NULL, errs) != SL_OK) {
            rc = SL_ECONFIG;
        }
    }
    return rc;
}

/* Compiles the definition of one multiline_parsers entry, whose options
 * are already in <c>. */
static int ml_def_from_rules(const struct sl_cnode *seq,
                             const struct ml_conf *c,
                             const struct ml_rule_conf *rc_rules,
                             struct sl_multiline_def **out,
                             struct sl_errlist *errs)
{
    struct sl_multiline_rule *rules = sl_calloc(seq->n + 1, sizeof(*rules));
    struct sl_multiline_spec spec = { 0 };
    struct sl_err err = { 0 };
    size_t i;
    int rc;

    if (rules == NULL) {
        return SL_ENOMEM;
    }
    for (i = 0; i < seq->n; i++) {
        rules[i].state = rc_rules[i].state;
        rules[i].regex = rc_rules[i].regex;
        rules[i].next_state = rc_rules[i].next_state;
    }
    spec.name = c->name;
    spec.rules = rules;
    spec.nrules = seq->n;
    spec.flush_timeout_ms = c->flush_timeout_ms;
    spec.max_lines = (size_t)c->max_lines;
    spec.max_bytes = (size_t)c->max_bytes;
    rc = sl_multiline_def_create(&spec, out, &err);
    if (rc == SL_ECONFIG) {
        ml_err_node(errs, seq, "rules", &err);
    }
    sl_free(rules);
    return rc;
}

/* Builds the definition of the entry <map>; errors go to <errs>.  With
 * <want> set, only an entry of that name is built (others: SL_ENOTFOUND,
 * no error reported). */
static int ml_def_from_node(const struct sl_config *cfg,
                            const struct sl_cnode *map, const char *want,
                            struct sl_multiline_def **out,
                            struct sl_errlist *errs)
{
    const struct sl_cnode *seq = sl_cnode_get(map, "rules");
    struct ml_rule_conf *rules = NULL;
    struct sl_opt_target t;
    struct ml_conf c;
    size_t i;
    int rc;

    *out = NULL;
    memset(&c, 0, sizeof(c));
    t.table = ml_options;
    t.conf = &c;
    rc = sl_option_apply(cfg, map, &t, 1, ml_ignore, errs);
    if (rc == SL_OK && want != NULL && strcmp(c.name, want) != 0) {
        rc = SL_ENOTFOUND;
    } else if (rc == SL_OK &&
               (seq == NULL || seq->type != SL_CNODE_SEQ || seq->n == 0)) {
        sl_errlist_add(errs, map->file, map->line, map->col, "rules",
                       "a list of rules is required");
        rc = SL_ECONFIG;
    }
    if (rc == SL_OK) {
        rules = sl_calloc(seq->n, sizeof(*rules));
        rc = rules == NULL ? SL_ENOMEM : ml_rules_read(cfg, seq, rules, errs);
    }
    if (rc == SL_OK) {
        rc = ml_def_from_rules(seq, &c, rules, out, errs);
    }
    for (i = 0; rules != NULL && i < seq->n; i++) {
        sl_option_free(ml_rule_options, &rules[i]);
    }
    sl_free(rules);
    sl_option_free(ml_options, &c);
    return rc;
}

static const char *ml_node_name(const struct sl_cnode *map)
{
    const struct sl_cnode *n = sl_cnode_get(map, "name");

    return n != NULL && n->type == SL_CNODE_SCALAR ? n->str : NULL;
}

/* An earlier entry of the section with the same name as entry <i>. */
static bool ml_name_dup(const struct sl_cnode *seq, size_t i)
{
    const char *name = ml_node_name(seq->items[i]);
    size_t j;

    for (j = 0; name != NULL && j < i; j++) {
        const char *other = ml_node_name(seq->items[j]);

        if (other != NULL && strcmp(other, name) == 0) {
            return true;
        }
    }
    return false;
}

int sl_multiline_validate(const struct sl_config *cfg, struct sl_errlist *errs)
{
    const struct sl_cnode *seq = cfg->multiline_parsers;
    struct sl_multiline_def *def;
    size_t before = sl_errlist_count(errs);
    size_t i;

    for (i = 0; seq != NULL && i < seq->n; i++) {
        const struct sl_cnode *map = seq->items[i];

        if (map->type != SL_CNODE_MAP) {
            sl_errlist_add(errs, map->file, map->line, map->col,
                           "multiline_parsers",
                           "each entry is a map (name, rules, ...)");
            continue;
        }
        if (ml_name_dup(seq, i)) {
            sl_errlist_add(errs, map->file, map->line, map->col, "name",
                           "multiline parser \"%s\" is defined twice",
                           ml_node_name(map));
        }
        if (ml_def_from_node(cfg, map, NULL, &def, errs) == SL_ENOMEM) {
            sl_errlist_add(errs, map->file, map->line, map->col,
                           "multiline_parsers", "out of memory");
        }
        sl_multiline_def_destroy(def);
    }
    return sl_errlist_count(errs) > before ? SL_ECONFIG : SL_OK;
}

struct sl_multiline_def *sl_multiline_lookup(struct sl_instance *ins,
                                             const char *name)
{
    const struct sl_cnode *seq = NULL;
    struct sl_multiline_def *def = NULL;
    struct sl_errlist *errs;
    size_t i;

    if (name == NULL) {
        return NULL;
    }
    if (ins != NULL && ins->engine != NULL && ins->engine->cfg != NULL) {
        seq = ins->engine->cfg->multiline_parsers;
    }
    errs = sl_malloc(sizeof(*errs));
    if (errs == NULL) {
        return NULL;
    }
    for (i = 0; seq != NULL && i < seq->n && def == NULL; i++) {
        const char *n = ml_node_name(seq->items[i]);

        if (seq->items[i]->type == SL_CNODE_MAP && n != NULL &&
            strcmp(n, name) == 0) {
            sl_errlist_init(errs);
            (void)ml_def_from_node(ins->engine->cfg, seq->items[i], name, &def,
                                   errs);
        }
    }
    sl_free(errs);
    return def != NULL ? def : sl_multiline_def_builtin(name);
}
