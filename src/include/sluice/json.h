/*
 * json.h - JSON for records: fast validation of raw bytes, an arena DOM for
 * filters that change fields, and a compact serializer.
 *
 * Records travel as compact JSON object bytes (DESIGN 4).  Inputs validate
 * the bytes once (sl_json_check) and keep them as they are when they are a
 * one-line object; only a filter that changes fields builds the DOM
 * (sl_json_parse, yajl callbacks into an arena: no malloc per node), and the
 * record is serialized once at the end of the filter chain.
 *
 * Strings in the DOM hold decoded UTF-8 bytes (they may contain NUL).
 * Numbers keep their original text so that they are written back byte for
 * byte.  Object members keep their order; duplicate keys are kept as they
 * came (lookups find the first).
 *
 * Invalid UTF-8 never reaches output JSON raw: sl_json_write_string writes
 * each invalid byte as the text \xNN (a literal backslash, 'x' and two hex
 * digits, i.e. "\\xNN" in the JSON source), so nothing is lost and the
 * output stays valid UTF-8.
 */
#ifndef SLUICE_JSON_H
#define SLUICE_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arena.h"
#include "buf.h"
#include "error.h"
#include "str.h"

enum sl_json_type {
    SL_JSON_NULL,
    SL_JSON_BOOL,
    SL_JSON_NUMBER,
    SL_JSON_STRING,
    SL_JSON_ARRAY,
    SL_JSON_OBJECT,
};

struct sl_json;

struct sl_json_member {
    struct sl_str key; /* decoded UTF-8 */
    struct sl_json *val;
};

struct sl_json {
    enum sl_json_type type;
    union {
        bool b;
        struct sl_str num; /* original number text, e.g. "-1.5e3" */
        struct sl_str str; /* decoded UTF-8 bytes */
        struct {
            struct sl_json **v;
            size_t n, cap;
        } arr;
        struct {
            struct sl_json_member *v;
            size_t n, cap;
        } obj;
    } u;
};

/* ---- validation of raw bytes (the ingest fast path) ---- */

/* Result of checking one record's bytes. */
enum sl_json_check_result {
    SL_JSON_CHECK_OBJECT,  /* one JSON object, no raw newline: keep bytes */
    SL_JSON_CHECK_COMPACT, /* one JSON object, but it spans lines or has
                              outer whitespace: must be re-serialized */
    SL_JSON_CHECK_NOT_OBJECT, /* valid JSON, but not an object */
    SL_JSON_CHECK_INVALID,    /* not valid JSON (or invalid UTF-8) */
};

/* A reusable validator; one per thread.  Holds a yajl handle and an arena
 * so that checking a record allocates nothing in steady state. */
struct sl_json_checker;

struct sl_json_checker *sl_json_checker_create(void);
void sl_json_checker_destroy(struct sl_json_checker *c);

/* Checks <n> bytes at <p>.  On INVALID, <err> (may be NULL) gets a message
 * with the byte offset of the problem. */
enum sl_json_check_result sl_json_check(struct sl_json_checker *c,
                                        const char *p, size_t n,
                                        struct sl_err *err);

/* Like sl_json_check, and while checking finds the top-level member <key>
 * (first occurrence).  When found, *<val> is a view of its raw JSON text
 * inside <p> (a string value includes its quotes), *<val_type> its type,
 * and *<member_start> and *<member_end> the byte range of the whole member
 * including one adjacent comma, so that it can be cut out without
 * re-encoding.  Not found: val->ptr is NULL. */
struct sl_json_member_loc {
    struct sl_str val;
    enum sl_json_type val_type;
    size_t member_start;
    size_t member_end;
};
enum sl_json_check_result sl_json_check_find(struct sl_json_checker *c,
                                             const char *p, size_t n,
                                             struct sl_str key,
                                             struct sl_json_member_loc *loc,
                                             struct sl_err *err);

/* ---- DOM ---- */

/* Parses exactly one JSON value from <n> bytes at <p> into <a>.  Trailing
 * non-whitespace is an error.  Returns SL_OK, SL_EPARSE (message with the
 * byte offset in <err>) or SL_ENOMEM. */
int sl_json_parse(struct sl_arena *a, const char *p, size_t n,
                  struct sl_json **out, struct sl_err *err);

/* Appends the compact serialization of <v> to <out>. */
int sl_json_serialize(const struct sl_json *v, struct sl_buf *out);

/* Appends <n> bytes as a quoted JSON string, escaping as JSON requires and
 * invalid UTF-8 as described above. */
int sl_json_write_string(struct sl_buf *out, const char *p, size_t n);

/* Unescapes a raw JSON string token (with quotes) into <out>. */
int sl_json_unescape(struct sl_buf *out, struct sl_str token);

/* Constructors: allocate in <a>; NULL on ENOMEM.  String bytes are copied. */
struct sl_json *sl_json_new_null(struct sl_arena *a);
struct sl_json *sl_json_new_bool(struct sl_arena *a, bool b);
struct sl_json *sl_json_new_i64(struct sl_arena *a, int64_t v);
struct sl_json *sl_json_new_double(struct sl_arena *a, double v);
/* <text> must be a valid JSON number; it is copied as is. */
struct sl_json *sl_json_new_number(struct sl_arena *a, struct sl_str text);
struct sl_json *sl_json_new_string(struct sl_arena *a, const char *p,
                                   size_t n);
struct sl_json *sl_json_new_object(struct sl_arena *a);
struct sl_json *sl_json_new_array(struct sl_arena *a);

/* Deep copy of <v> into <a>. */
struct sl_json *sl_json_clone(struct sl_arena *a, const struct sl_json *v);

/* Object access.  get returns the value of the first member named <key>
 * or NULL.  set replaces the first such member's value or appends a new
 * member (the key is copied).  remove deletes every member named <key>
 * and returns how many it removed.  Index i is 0..n-1. */
struct sl_json *sl_json_obj_get(const struct sl_json *obj, struct sl_str key);
int sl_json_obj_set(struct sl_arena *a, struct sl_json *obj,
                    struct sl_str key, struct sl_json *val);
int sl_json_obj_append(struct sl_arena *a, struct sl_json *obj,
                       struct sl_str key, struct sl_json *val);
size_t sl_json_obj_remove(struct sl_json *obj, struct sl_str key);
void sl_json_obj_remove_at(struct sl_json *obj, size_t i);

int sl_json_arr_push(struct sl_arena *a, struct sl_json *arr,
                     struct sl_json *val);

/* Number helpers: false when <v> is not a number that fits. */
bool sl_json_get_i64(const struct sl_json *v, int64_t *out);
bool sl_json_get_double(const struct sl_json *v, double *out);

/* Text form of a scalar for matching (grep, templates): strings give their
 * bytes, numbers their text, booleans "true"/"false", null "null".  Objects
 * and arrays are serialized into <scratch>.  Returns false on ENOMEM. */
bool sl_json_scalar_text(const struct sl_json *v, struct sl_buf *scratch,
                         struct sl_str *out);

/* ---- record accessors ----
 * A record accessor names a value in a record: "key" (a top-level key,
 * taken literally), "$key", "$a['b']['c']", "$a.b.c" is NOT supported (dots
 * are valid in keys), "$arr[0]".  Compile once, evaluate per record. */
#define SL_ACCESSOR_MAX_DEPTH 16

struct sl_accessor_step {
    struct sl_str key; /* when is_index is false */
    size_t index;
    bool is_index;
};

struct sl_accessor {
    size_t n;
    struct sl_accessor_step steps[SL_ACCESSOR_MAX_DEPTH];
    char *text; /* owned copy of the source text */
};

/* Compiles <text> into <acc>.  Returns SL_OK or SL_EINVAL with <err>. */
int sl_accessor_compile(struct sl_accessor *acc, const char *text,
                        struct sl_err *err);
void sl_accessor_fini(struct sl_accessor *acc);

/* Returns the value <acc> names in <root>, or NULL. */
struct sl_json *sl_accessor_get(const struct sl_accessor *acc,
                                const struct sl_json *root);

/* Sets the value, creating intermediate objects as needed (index steps
 * must exist).  Returns SL_OK, SL_ENOTFOUND or SL_ENOMEM. */
int sl_accessor_set(const struct sl_accessor *acc, struct sl_arena *a,
                    struct sl_json *root, struct sl_json *val);

/* Removes the value; returns true if something was removed. */
bool sl_accessor_remove(const struct sl_accessor *acc, struct sl_json *root);

#endif
