/*
 * rule.c - conditions on a record field for filters (see sluice/rule.h):
 * splitting "KEY ARG" entries, compiling their accessor, value or PCRE2
 * pattern, and testing them against a record.
 *
 * Compilation runs at init; tests run on the thread that owns the
 * scratch (the main thread for filters).  Nothing here has global state.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "sluice/mem.h"
#include "sluice/rule.h"
#include "sluice/banned.h"

static bool rule_blank(char c)
{
    return c == ' ' || c == '\t';
}

void sl_rule_split(const char *s, struct sl_str *word, struct sl_str *rest)
{
    const char *p = s;
    char quote = 0;

    while (rule_blank(*p)) {
        p++;
    }
    word->ptr = p;
    while (*p != '\0' && (quote != 0 || !rule_blank(*p))) {
        if (quote == 0 && (*p == '\'' || *p == '"')) {
            quote = *p;
        } else if (*p == quote) {
            quote = 0;
        }
        p++;
    }
    word->len = (size_t)(p - word->ptr);
    while (rule_blank(*p)) {
        p++;
    }
    rest->ptr = p;
    rest->len = strlen(p);
}

int sl_rule_accessor(struct sl_accessor *acc, struct sl_str text,
                     const char *who, struct sl_err *err)
{
    char *s = sl_strndup(text.ptr, text.len);
    int rc;

    if (s == NULL) {
        return sl_err_set(err, SL_ENOMEM, "%s: out of memory", who);
    }
    rc = sl_accessor_compile(acc, s, err);
    sl_free(s);
    return rc;
}

int sl_rule_regex(pcre2_code **re, struct sl_str pat, struct sl_err *err,
                  const char *fmt, ...)
{
    PCRE2_UCHAR msg[256];
    PCRE2_SIZE eoff = 0;
    char where[512];
    int ecode = 0;
    va_list ap;

    *re =
        pcre2_compile((PCRE2_SPTR)(pat.ptr != NULL ? pat.ptr : ""), pat.len,
                      PCRE2_UTF | PCRE2_MATCH_INVALID_UTF, &ecode, &eoff, NULL);
    if (*re == NULL) {
        pcre2_get_error_message(ecode, msg, sizeof(msg));
        va_start(ap, fmt);
        vsnprintf(where, sizeof(where), fmt, ap);
        va_end(ap);
        return sl_err_set(err, SL_ECONFIG, "%s at offset %zu: %s", where,
                          (size_t)eoff, (char *)msg);
    }
    /* JIT is an optimisation: without it pcre2_match interprets. */
    (void)pcre2_jit_compile(*re, PCRE2_JIT_COMPLETE);
    return SL_OK;
}

int sl_rule_arg(struct sl_rule *r, enum sl_rule_op op, struct sl_str arg,
                const struct sl_rule_src *src, struct sl_err *err)
{
    r->op = op;
    switch (op) {
    case SL_RULE_EQUALS:
    case SL_RULE_DIFFERS:
        r->value = sl_strndup(arg.ptr != NULL ? arg.ptr : "", arg.len);
        if (r->value == NULL) {
            return sl_err_set(err, SL_ENOMEM, "%s: out of memory", src->who);
        }
        r->value_len = arg.len;
        return SL_OK;
    case SL_RULE_MATCHES:
        return sl_rule_regex(&r->re, arg, err, "%s: invalid regex in '%s'",
                             src->who, src->entry);
    default:
        return SL_OK;
    }
}

int sl_rule_compile(struct sl_rule *r, enum sl_rule_op op, struct sl_str key,
                    struct sl_str arg, const struct sl_rule_src *src,
                    struct sl_err *err)
{
    int rc = sl_rule_accessor(&r->key, key, src->who, err);

    r->op = op;
    return rc == SL_OK ? sl_rule_arg(r, op, arg, src, err) : rc;
}

void sl_rule_fini(struct sl_rule *r)
{
    sl_accessor_fini(&r->key);
    sl_free(r->value);
    pcre2_code_free(r->re);
    memset(r, 0, sizeof(*r));
}

void sl_rule_free_array(struct sl_rule *rules, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        sl_rule_fini(&rules[i]);
    }
    sl_free(rules);
}

int sl_rule_scratch_init(struct sl_rule_scratch *s)
{
    sl_buf_init(&s->text, 0);
    s->md = pcre2_match_data_create(1, NULL);
    return s->md != NULL ? SL_OK : SL_ENOMEM;
}

void sl_rule_scratch_fini(struct sl_rule_scratch *s)
{
    pcre2_match_data_free(s->md);
    s->md = NULL;
    sl_buf_fini(&s->text);
}

bool sl_rule_match(struct sl_rule_scratch *s, const pcre2_code *re,
                   struct sl_str text)
{
    return pcre2_match(re, (PCRE2_SPTR)(text.ptr ? text.ptr : ""), text.len, 0,
                       0, s->md, NULL) >= 0;
}

bool sl_rule_holds(const struct sl_rule *r, const struct sl_json *dom,
                   struct sl_rule_scratch *s)
{
    const struct sl_json *v = sl_accessor_get(&r->key, dom);
    struct sl_str text;

    if (r->op == SL_RULE_EXISTS || r->op == SL_RULE_ABSENT) {
        return (v != NULL) == (r->op == SL_RULE_EXISTS);
    }
    sl_buf_reset(&s->text);
    if (v == NULL || !sl_json_scalar_text(v, &s->text, &text)) {
        return false;
    }
    switch (r->op) {
    case SL_RULE_EQUALS:
        return sl_str_eq(text, sl_str_make(r->value, r->value_len));
    case SL_RULE_DIFFERS:
        return !sl_str_eq(text, sl_str_make(r->value, r->value_len));
    case SL_RULE_MATCHES:
        return sl_rule_match(s, r->re, text);
    default:
        return false;
    }
}
