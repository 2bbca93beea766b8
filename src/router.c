/*
 * router.c - tag matchers (see router.h).  Main thread only: a matcher's
 * match data is not shared.
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <string.h>

#include "router.h"
#include "sluice/mem.h"
#include "sluice/banned.h"

bool sl_router_wildcard(const char *pattern, struct sl_str tag)
{
    /* Iterative glob with backtracking to the last star: linear in
     * practice, no recursion on hostile patterns. */
    const char *p = pattern, *star = NULL;
    size_t t = 0, mark = 0;

    while (t < tag.len) {
        if (*p == '*') {
            star = p++;
            mark = t;
        } else if (*p != '\0' && *p == tag.ptr[t]) {
            p++;
            t++;
        } else if (star != NULL) {
            p = star + 1;
            t = ++mark;
        } else {
            return false;
        }
    }
    while (*p == '*') {
        p++;
    }
    return *p == '\0';
}

int sl_matcher_init(struct sl_matcher *m, const char *pattern,
                    const char *regex, struct sl_err *err)
{
    int errcode;
    PCRE2_SIZE erroff;
    PCRE2_UCHAR msg[256];

    memset(m, 0, sizeof(*m));
    if (pattern != NULL) {
        m->pattern = sl_strdup(pattern);
        if (m->pattern == NULL) {
            return sl_err_set(err, SL_ENOMEM, "out of memory");
        }
    }
    if (regex == NULL) {
        return SL_OK;
    }
    m->re = pcre2_compile((PCRE2_SPTR)regex, PCRE2_ZERO_TERMINATED,
                          PCRE2_ANCHORED | PCRE2_ENDANCHORED, &errcode,
                          &erroff, NULL);
    if (m->re == NULL) {
        pcre2_get_error_message(errcode, msg, sizeof(msg));
        sl_matcher_fini(m);
        return sl_err_set(err, SL_EINVAL,
                          "invalid match_regex at offset %zu: %s",
                          (size_t)erroff, (char *)msg);
    }
    pcre2_jit_compile(m->re, PCRE2_JIT_COMPLETE);
    m->md = pcre2_match_data_create_from_pattern(m->re, NULL);
    if (m->md == NULL) {
        sl_matcher_fini(m);
        return sl_err_set(err, SL_ENOMEM, "out of memory");
    }
    return SL_OK;
}

void sl_matcher_fini(struct sl_matcher *m)
{
    sl_free(m->pattern);
    m->pattern = NULL;
    if (m->md != NULL) {
        pcre2_match_data_free(m->md);
        m->md = NULL;
    }
    if (m->re != NULL) {
        pcre2_code_free(m->re);
        m->re = NULL;
    }
}

bool sl_matcher_match(const struct sl_matcher *m, struct sl_str tag)
{
    if (m->pattern != NULL && sl_router_wildcard(m->pattern, tag)) {
        return true;
    }
    if (m->re != NULL) {
        return pcre2_match(m->re, (PCRE2_SPTR)tag.ptr, tag.len, 0, 0, m->md,
                           NULL) >= 0;
    }
    return false;
}
