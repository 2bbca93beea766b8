/*
 * router.h - tag matching for filters and outputs.
 *
 * A matcher is either a wildcard pattern ("match": '*' matches any run of
 * characters, dots included, so "app.*" matches "app.web.1" but not "app")
 * or an anchored PCRE2 regex ("match_regex").  The engine caches the result
 * per tag (see struct sl_route in engine.h), so matching runs once per new
 * tag, not per record.
 */
#ifndef SLUICE_ROUTER_H
#define SLUICE_ROUTER_H

#include <stdbool.h>

#include "sluice/error.h"
#include "sluice/str.h"

struct sl_matcher {
    char *pattern;  /* wildcard, or NULL */
    void *re;       /* pcre2_code *, or NULL */
    void *md;       /* pcre2_match_data * */
};

/* Compiles a matcher from <pattern> (wildcard) or <regex> (either may be
 * NULL; both NULL = match nothing).  Returns SL_OK or SL_EINVAL with
 * <err>. */
int sl_matcher_init(struct sl_matcher *m, const char *pattern,
                    const char *regex, struct sl_err *err);
void sl_matcher_fini(struct sl_matcher *m);

bool sl_matcher_match(const struct sl_matcher *m, struct sl_str tag);

/* Wildcard match of <tag> against <pattern> ('*' = any run). */
bool sl_router_wildcard(const char *pattern, struct sl_str tag);

#endif
