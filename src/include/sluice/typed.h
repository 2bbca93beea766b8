/*
 * typed.h - typed values for parsers: the "types" option (key:type items,
 * with type one of integer, float, bool or string) and the conversion of
 * a captured string value to the JSON value of its type.
 *
 * Declare the option once in a parser's table with SL_TYPED_OPTION(conf
 * type, member), build a struct sl_typed from the list at init, then per
 * value look up its type with sl_typed_find and write it with
 * sl_typed_write.  A parser that keeps types elsewhere (regex keeps one
 * per group) parses the items itself with sl_typed_parse_item.  A value
 * that does not convert is written as a JSON string, never dropped.
 *
 * The set is read-only after init and sl_typed_write keeps no state, so
 * both may be used from any thread.
 */
#ifndef SLUICE_TYPED_H
#define SLUICE_TYPED_H

#include <stddef.h>

#include "buf.h"
#include "error.h"
#include "option.h"
#include "str.h"

/* The order is that of the names in the "types" items. */
enum sl_typed_type {
    SL_TYPED_STRING, /* the default: written as it was captured */
    SL_TYPED_INTEGER,
    SL_TYPED_FLOAT,
    SL_TYPED_BOOL,
};

/* The "types" option row for member <f> (a struct sl_strlist) of conf type
 * <T>.  Laid out as the option tables are. */
/* clang-format off */
#define SL_TYPED_OPTION(T, f)                                                 \
    { .name = "types",                                                        \
      .type = SL_OPT_LIST,                                                    \
      SL_OPT_FIELD(T, f),                                                     \
      .desc = "Value types as key:type items, with type one of integer, "     \
              "float, bool or string (the default). A value that does not "   \
              "convert stays a string." }
/* clang-format on */

/* One "key:type" item. */
struct sl_typed_key {
    struct sl_str key; /* borrowed from the item string */
    enum sl_typed_type type;
};

/* The items of one "types" list, in list order. */
struct sl_typed {
    struct sl_typed_key *keys;
    size_t n;
};

/* Parses <item> ("key:type"; the last ':' separates them, so a key may
 * hold ':') into <k>, whose key then points into <item>.  SL_OK, or
 * SL_ECONFIG with a message in <err> naming the item. */
int sl_typed_parse_item(const char *item, struct sl_typed_key *k,
                        struct sl_err *err);

/* Builds <t> from the items of <types>, which must outlive it.  SL_OK,
 * SL_ENOMEM, or SL_ECONFIG for the first item that does not parse; on
 * failure <t> holds nothing and needs no sl_typed_fini. */
int sl_typed_init(struct sl_typed *t, const struct sl_strlist *types,
                  struct sl_err *err);

/* Frees what sl_typed_init allocated; <t> may be zeroed or already freed. */
void sl_typed_fini(struct sl_typed *t);

/* The type of <key>: that of its first item, SL_TYPED_STRING without one. */
enum sl_typed_type sl_typed_find(const struct sl_typed *t, struct sl_str key);

/* Appends <v> to <out> as a JSON value of type <type>:
 *   integer  a whole base-10 value in the range of long long
 *   float    a JSON number as it is; otherwise any finite strtod value
 *            (such as 0x10 or .5; not inf or nan), with the fewest
 *            digits that read back the same
 *   bool     true or false in any case, written lower case
 * An empty value, one that starts with a space, holds a NUL or does not
 * convert, and every string, is written as a JSON string.  SL_OK or
 * SL_ENOMEM (<out> is then as sl_buf leaves it after a failed append). */
int sl_typed_write(struct sl_buf *out, struct sl_str v,
                   enum sl_typed_type type);

#endif
