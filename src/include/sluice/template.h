/*
 * template.h - text templates evaluated per record.
 *
 * A template is compiled once (at init) into parts and rendered per record
 * into a caller's buffer, allocating nothing when the buffer is big enough.
 * Syntax:
 *
 *   ${hostname}          the local host name
 *   ${tag}               the record's tag
 *   ${tag[N]}            the Nth dot-separated part of the tag (0-based;
 *                        negative counts from the end: ${tag[-1]})
 *   ${env:VAR}           environment variable VAR, read at compile time
 *   ${time}              the record's time, RFC 3339 UTC with milliseconds
 *   ${time:FORMAT}       the record's time through strftime(3) FORMAT in
 *                        UTC; %L adds milliseconds, %N nanoseconds
 *   $key $a['b']['c']    a record accessor (sluice/json.h); a bare key is
 *   $arr[0]              letters, digits and '_', then [...] subscripts
 *   ${$a.b}              an accessor with any characters up to '}'
 *   $$                   a literal '$'
 *
 * Anything else is literal text (a '$' that starts none of the above is
 * kept as is).  A missing value renders as nothing; strings render as their
 * bytes, other values as their JSON text.  Templates are immutable after
 * compile and may be shared by threads.
 */
#ifndef SLUICE_TEMPLATE_H
#define SLUICE_TEMPLATE_H

#include <stdbool.h>
#include <stdint.h>

#include "buf.h"
#include "error.h"
#include "json.h"
#include "str.h"

struct sl_template;

/* Render flags. */
enum sl_template_flags {
    /* Escape what is rendered for the inside of a JSON string (no quotes
     * are added); invalid UTF-8 becomes \xNN as in sl_json_write_string. */
    SL_TEMPLATE_JSON_ESCAPE = 1u << 0,
};

/* What a template is rendered against. */
struct sl_template_input {
    const struct sl_json *root; /* the record's DOM; NULL: accessors empty */
    struct sl_str tag;
    int64_t ts_ns;
};

/* Compiles <text> into *<out> (the caller owns it: sl_template_destroy).
 * Returns SL_OK, SL_EINVAL (with a message quoting the bad part in <err>)
 * or SL_ENOMEM. */
int sl_template_compile(const char *text, struct sl_template **out,
                        struct sl_err *err);
void sl_template_destroy(struct sl_template *t);

/* Appends the rendering of <t> for <in> to <out> (<flags> from enum
 * sl_template_flags).  Returns SL_OK, SL_ENOMEM or SL_ELIMIT (from <out>'s
 * cap). */
int sl_template_render(const struct sl_template *t,
                       const struct sl_template_input *in, unsigned flags,
                       struct sl_buf *out);

/* When <t> is exactly one accessor and nothing else ("$count"), returns
 * it, so that callers can copy the value with its JSON type; else NULL. */
const struct sl_accessor *
sl_template_single_accessor(const struct sl_template *t);

/* True when <t> is only literal text (no ${...} or $key part). */
bool sl_template_is_literal(const struct sl_template *t);

#endif
