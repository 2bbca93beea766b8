/*
 * option.h - typed option tables: the one declaration of every option.
 *
 * A plugin (and the core, for the service section and the generic instance
 * options) declares its options once, in a static const table of struct
 * sl_option ending with SL_OPT_END.  The option engine (src/option.c) uses
 * the table to parse the YAML values into the plugin's conf struct (at
 * <offset>), apply defaults, check bounds, suggest the nearest key for a
 * misspelt one, print --describe and generate docs/plugins/<name>.md.
 *
 * Storage of each type in the conf struct:
 *   SL_OPT_STR, SL_OPT_TEMPLATE  char *            (NULL when unset, no def)
 *   SL_OPT_INT                   int64_t
 *   SL_OPT_DOUBLE                double
 *   SL_OPT_BOOL                  bool              (on/off/true/false/yes/no)
 *   SL_OPT_SIZE                  uint64_t bytes    ("512", "64K", "5M", "1G";
 *                                                   K=1024)
 *   SL_OPT_TIME                  int64_t ms        ("250ms", "2s", "1m", "1h",
 *                                                   "1.5"; a bare number is
 *                                                   seconds)
 *   SL_OPT_ENUM                  int               (index into choices)
 *   SL_OPT_LIST                  struct sl_strlist (YAML sequence, or a
 *                                                   comma-separated scalar;
 *                                                   with SL_OPT_MULTI a
 *                                                   repeated key appends)
 *   SL_OPT_MAP                   struct sl_kvlist  (YAML map of scalars)
 *
 * Strings are owned by the conf and freed by the engine.  The conf is
 * read-only once the plugin's init has run.
 *
 * ${VAR} and ${VAR:-default} are expanded from the environment (and the
 * config's env section) in every type but SL_OPT_TEMPLATE, whose ${...}
 * belong to the record and are evaluated per record by the plugin.
 */
#ifndef SLUICE_OPTION_H
#define SLUICE_OPTION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum sl_opt_type {
    SL_OPT_NONE = 0, /* table terminator */
    SL_OPT_STR,
    SL_OPT_INT,
    SL_OPT_DOUBLE,
    SL_OPT_BOOL,
    SL_OPT_SIZE,
    SL_OPT_TIME,
    SL_OPT_ENUM,
    SL_OPT_LIST,
    SL_OPT_MAP,
    SL_OPT_TEMPLATE,
};

enum sl_opt_flags {
    SL_OPT_REQUIRED = 1u << 0,   /* must be set */
    SL_OPT_MULTI = 1u << 1,      /* LIST: the key may repeat, values append */
    SL_OPT_DEPRECATED = 1u << 2, /* accepted with a warning */
    SL_OPT_SECRET = 1u << 3,     /* value never printed or logged */
    SL_OPT_NEGATIVE_OK = 1u << 4 /* INT/TIME: no implicit min of 0 */
};

struct sl_option {
    const char *name;           /* YAML key, lower_snake, may contain '.' */
    enum sl_opt_type type;
    const char *def;            /* default in config syntax; NULL = none */
    const char *desc;           /* full sentences; the first is a summary */
    size_t offset;              /* offsetof(conf struct, field) */
    size_t size;                /* sizeof the field (checked by tests) */
    int64_t min, max;           /* INT/SIZE/TIME bounds (ms for TIME, bytes
                                   for SIZE); both 0 = unbounded */
    const char *const *choices; /* ENUM values, NULL-terminated */
    unsigned flags;             /* enum sl_opt_flags */
};

#define SL_OPT_END { .name = NULL, .type = SL_OPT_NONE }

/* Fills .offset and .size for field <f> of struct type <T>. */
#define SL_OPT_FIELD(T, f) .offset = offsetof(T, f), .size = sizeof(((T *)0)->f)

struct sl_strlist {
    size_t n;
    char **v;
};

struct sl_kvlist {
    size_t n;
    char **k;
    char **v;
};

#endif
