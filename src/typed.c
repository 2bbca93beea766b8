/*
 * typed.c - typed values for parsers (see sluice/typed.h): the "types"
 * items and the conversion of captured strings to JSON integers, floats
 * and booleans.
 *
 * The conversions need a NUL-terminated copy of the value (strtoll,
 * strtod): values shorter than TYPED_SHORT are copied to the stack, longer
 * ones to a heap copy freed before returning.  Nothing here keeps state,
 * so any thread may call it.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sluice/json.h"
#include "sluice/mem.h"
#include "sluice/typed.h"
#include "sluice/banned.h"

#define TYPED_SHORT 64

static const char *const typed_names[] = { "string", "integer", "float",
                                           "bool" };

static int typed_type_of(const char *s, enum sl_typed_type *t)
{
    size_t i;

    for (i = 0; i < sizeof(typed_names) / sizeof(typed_names[0]); i++) {
        if (strcmp(s, typed_names[i]) == 0) {
            *t = (enum sl_typed_type)i;
            return SL_OK;
        }
    }
    return SL_EINVAL;
}

int sl_typed_parse_item(const char *item, struct sl_typed_key *k,
                        struct sl_err *err)
{
    const char *colon = strrchr(item, ':');

    if (colon == NULL || colon == item ||
        typed_type_of(colon + 1, &k->type) != SL_OK) {
        return sl_err_set(err, SL_ECONFIG,
                          "types: '%s' is not key:type with type one "
                          "of integer, float, bool, string",
                          item);
    }
    k->key = sl_str_make(item, (size_t)(colon - item));
    return SL_OK;
}

int sl_typed_init(struct sl_typed *t, const struct sl_strlist *types,
                  struct sl_err *err)
{
    size_t i;
    int rc = SL_OK;

    t->keys = NULL;
    t->n = 0;
    if (types->n == 0) {
        return SL_OK;
    }
    t->keys = sl_calloc(types->n, sizeof(*t->keys));
    if (t->keys == NULL) {
        return sl_err_set(err, SL_ENOMEM, "out of memory");
    }
    for (i = 0; rc == SL_OK && i < types->n; i++) {
        rc = sl_typed_parse_item(types->v[i], &t->keys[i], err);
    }
    if (rc != SL_OK) {
        sl_typed_fini(t);
        return rc;
    }
    t->n = types->n;
    return SL_OK;
}

void sl_typed_fini(struct sl_typed *t)
{
    sl_free(t->keys);
    t->keys = NULL;
    t->n = 0;
}

enum sl_typed_type sl_typed_find(const struct sl_typed *t, struct sl_str key)
{
    size_t i;

    for (i = 0; i < t->n; i++) {
        if (sl_str_eq(t->keys[i].key, key)) {
            return t->keys[i].type;
        }
    }
    return SL_TYPED_STRING;
}

/* Skips a run of digits; true when there was at least one. */
static bool typed_digits(const char **s)
{
    const char *p = *s;

    while (isdigit((unsigned char)**s)) {
        (*s)++;
    }
    return *s != p;
}

/* True when <s> is a number as JSON writes it (RFC 8259 section 6). */
static bool typed_is_json_number(const char *s)
{
    if (*s == '-') {
        s++;
    }
    if (*s == '0') {
        s++;
    } else if (!typed_digits(&s)) {
        return false;
    }
    if (*s == '.') {
        s++;
        if (!typed_digits(&s)) {
            return false;
        }
    }
    if (*s == 'e' || *s == 'E') {
        s++;
        if (*s == '+' || *s == '-') {
            s++;
        }
        if (!typed_digits(&s)) {
            return false;
        }
    }
    return *s == '\0';
}

/* Writes <d> with the shortest precision that reads back the same. */
static int typed_write_double(struct sl_buf *out, double d)
{
    char s[40];
    int prec;

    for (prec = 1; prec < 17; prec++) {
        snprintf(s, sizeof(s), "%.*g", prec, d);
        if (strtod(s, NULL) == d) {
            break;
        }
    }
    return sl_buf_printf(out, "%.*g", prec, d);
}

/* Whole-string integer conversion; false on junk or overflow. */
static bool typed_parse_int(const char *s, long long *ll)
{
    char *end;

    errno = 0;
    *ll = strtoll(s, &end, 10);
    return *end == '\0' && errno == 0;
}

/* Whole-string finite double conversion. */
static bool typed_parse_double(const char *s, double *d)
{
    char *end;

    *d = strtod(s, &end);
    return *end == '\0' && isfinite(*d);
}

/* "true"/"false" in any case, or NULL. */
static const char *typed_bool_literal(const char *s)
{
    if (strcasecmp(s, "true") == 0) {
        return "true";
    }
    return strcasecmp(s, "false") == 0 ? "false" : NULL;
}

/* Writes the NUL-terminated <s> (the bytes of <v>) as <type>, or <v> as a
 * string when it does not convert. */
static int typed_write_cstr(struct sl_buf *out, struct sl_str v, const char *s,
                            enum sl_typed_type type)
{
    const char *lit;
    long long ll;
    double d;

    if (type == SL_TYPED_INTEGER && typed_parse_int(s, &ll)) {
        return sl_buf_printf(out, "%lld", ll);
    }
    if (type == SL_TYPED_FLOAT && typed_is_json_number(s)) {
        return sl_buf_append(out, v.ptr, v.len);
    }
    if (type == SL_TYPED_FLOAT && typed_parse_double(s, &d)) {
        return typed_write_double(out, d);
    }
    if (type == SL_TYPED_BOOL && (lit = typed_bool_literal(s)) != NULL) {
        return sl_buf_append_str(out, lit);
    }
    return sl_json_write_string(out, v.ptr, v.len);
}

int sl_typed_write(struct sl_buf *out, struct sl_str v, enum sl_typed_type type)
{
    char small[TYPED_SHORT];
    char *s = small;
    int rc;

    /* A NUL inside would end the C string early and let junk through;
     * strtoll and strtod would skip a leading space. */
    if (type == SL_TYPED_STRING || v.len == 0 ||
        isspace((unsigned char)v.ptr[0]) || memchr(v.ptr, '\0', v.len)) {
        return sl_json_write_string(out, v.ptr, v.len);
    }
    if (v.len >= sizeof(small)) {
        s = sl_malloc(v.len + 1);
        if (s == NULL) {
            return SL_ENOMEM;
        }
    }
    memcpy(s, v.ptr, v.len);
    s[v.len] = '\0';
    rc = typed_write_cstr(out, v, s, type);
    if (s != small) {
        sl_free(s);
    }
    return rc;
}
