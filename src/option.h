/*
 * option.h - the option engine: applies typed option tables (see
 * sluice/option.h) to config maps.
 *
 * One config map (e.g. an input entry) is usually checked against several
 * tables at once (the generic instance options and the plugin's), each
 * filling its own conf struct.  Every key of the map must be claimed by one
 * of the tables, except the keys listed in <ignore>; unknown keys get a
 * "did you mean" from all the tables' names.  All errors are collected.
 * Nested maps are flattened into dotted keys ("tls: {verify: on}" is
 * "tls.verify") unless a MAP option claims the key itself.
 */
#ifndef SLUICE_OPTION_ENGINE_H
#define SLUICE_OPTION_ENGINE_H

#include <stdio.h>

#include "config.h"
#include "sluice/buf.h"
#include "sluice/error.h"
#include "sluice/option.h"

struct sl_opt_target {
    const struct sl_option *table; /* ends with SL_OPT_END; NULL = skip */
    void *conf;                    /* struct the table's offsets refer to */
};

/* Sets every option of <table> in <conf> to its default (zero when it has
 * none).  <conf> must be zeroed before.  Returns SL_OK or SL_ENOMEM. */
int sl_option_defaults(const struct sl_option *table, void *conf);

/* Applies <map> to <ntargets> targets (defaults are applied first).  Keys
 * in <ignore> (NULL-terminated, may be NULL) are skipped.  Problems go to
 * <errs> with the file:line:col of the offending node; returns SL_OK or
 * SL_ECONFIG. */
int sl_option_apply(const struct sl_config *cfg, const struct sl_cnode *map,
                    const struct sl_opt_target *targets, size_t ntargets,
                    const char *const *ignore, struct sl_errlist *errs);

/* Frees what the option engine allocated in <conf> for <table>. */
void sl_option_free(const struct sl_option *table, void *conf);

/* Parses one value of <opt>'s type from <text> into <dst> (the field).
 * Used by the engine and by the fuzz target.  Returns SL_OK or SL_EINVAL
 * with a message in <err> saying what was expected. */
int sl_option_parse_value(const struct sl_option *opt, const char *text,
                          void *dst, struct sl_err *err);

/* Size ("64K", "5M", "1G", "512", "1.5M") and time ("500ms", "2s", "1m",
 * "1h", "1d", "1.5" = seconds) values. */
int sl_option_parse_size(const char *text, uint64_t *bytes);
int sl_option_parse_time_ms(const char *text, int64_t *ms);
int sl_option_parse_bool(const char *text, bool *b);

/* The type's name as shown to users ("string", "size", ...). */
const char *sl_option_type_name(enum sl_opt_type t);

/* Human text (for --describe) and Markdown (docs/plugins/<name>.md) of a
 * table.  <title>/<intro> head the page. */
int sl_option_describe(const struct sl_option *table, struct sl_buf *out);
int sl_option_markdown(const char *title, const char *intro,
                       const struct sl_option *generic,
                       const struct sl_option *table, struct sl_buf *out);

#endif
