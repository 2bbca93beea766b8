/*
 * config.h - YAML configuration files into a tree of nodes that remember
 * where they came from (file, line, column).
 *
 * sl_config_load reads the main file with libyaml's event parser, follows
 * "includes" (globs relative to the including file, recursively, each file
 * at most once), and merges the sections:
 *   service (map, later files may not redefine a key already set: error),
 *   env (map), parsers / multiline_parsers (lists, appended),
 *   pipeline.inputs / pipeline.filters / pipeline.outputs (lists, appended
 *   in include order after the including file's own entries).
 * Unknown top-level or pipeline keys are errors with a "did you mean".
 * No ${VAR} expansion happens here: values are expanded by the option
 * engine (sl_config_expand), which knows which options are templates.
 *
 * Nodes and strings belong to the struct sl_config and are freed with it.
 * Main thread only.
 */
#ifndef SLUICE_CONFIG_H
#define SLUICE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "sluice/error.h"

enum sl_cnode_type {
    SL_CNODE_SCALAR,
    SL_CNODE_SEQ,
    SL_CNODE_MAP,
};

struct sl_cnode;

struct sl_cpair {
    struct sl_cnode *key; /* always a scalar */
    struct sl_cnode *val;
};

struct sl_cnode {
    enum sl_cnode_type type;
    const char *file; /* owned by the config */
    unsigned line;    /* 1-based */
    unsigned col;     /* 1-based */
    /* SCALAR */
    char *str;        /* NUL-terminated (may contain NULs: use len) */
    size_t len;
    bool quoted;      /* single/double quoted or block scalar */
    /* SEQ */
    struct sl_cnode **items;
    /* MAP */
    struct sl_cpair *pairs;
    size_t n; /* number of items or pairs */
};

struct sl_config {
    char *path;                        /* main file as given */
    struct sl_cnode *service;          /* merged map, never NULL */
    struct sl_cnode *env;              /* merged map, never NULL */
    struct sl_cnode *parsers;          /* seq of maps, never NULL */
    struct sl_cnode *multiline_parsers;/* seq of maps, never NULL */
    struct sl_cnode *inputs;           /* seq of maps, never NULL */
    struct sl_cnode *filters;          /* seq of maps, never NULL */
    struct sl_cnode *outputs;          /* seq of maps, never NULL */
    void *priv;                        /* allocation bookkeeping */
};

/* Loads <path> and its includes.  Every problem found is appended to
 * <errs>; returns SL_OK with *<out> set, or SL_ECONFIG (errors in <errs>,
 * *<out> NULL), or SL_ENOMEM. */
int sl_config_load(const char *path, struct sl_config **out,
                   struct sl_errlist *errs);

/* Same, from a string (<name> is used as the file name in errors). */
int sl_config_load_string(const char *name, const char *text, size_t len,
                          struct sl_config **out, struct sl_errlist *errs);

void sl_config_destroy(struct sl_config *cfg);

/* Returns the value node of <key> in map <map>, or NULL. */
const struct sl_cnode *sl_cnode_get(const struct sl_cnode *map,
                                    const char *key);

/* Expands ${VAR} and ${VAR:-default} in scalar <node>.  Variables come
 * from the process environment first, then the config's env section.
 * "$${" is a literal "${".  An unset variable without a default is an
 * error appended to <errs> (with the node's position and <key>).  On
 * success *<out> is a new heap string (sl_free). */
int sl_config_expand(const struct sl_config *cfg, const struct sl_cnode *node,
                     const char *key, char **out, struct sl_errlist *errs);

/* Levenshtein-nearest of <candidates> (NULL-terminated) to <word>, or
 * NULL when none is close enough to suggest. */
const char *sl_config_suggest(const char *word,
                              const char *const *candidates);

#endif
