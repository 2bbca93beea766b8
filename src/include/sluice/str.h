/*
 * str.h - struct sl_str, a non-owning, binary-safe view of bytes.
 *
 * A view is not NUL-terminated; print it with "%.*s" and SL_STR_FMT().
 * It never frees what it points to.
 */
#ifndef SLUICE_STR_H
#define SLUICE_STR_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

struct sl_str {
    const char *ptr;
    size_t len;
};

#define SL_STR_LIT(s) ((struct sl_str){ .ptr = (s), .len = sizeof(s) - 1 })
#define SL_STR_NULL ((struct sl_str){ .ptr = NULL, .len = 0 })
#define SL_STR_FMT(s) (int)(s).len, (s).ptr

static inline struct sl_str sl_str_make(const char *p, size_t n)
{
    struct sl_str s = { .ptr = p, .len = n };
    return s;
}

static inline struct sl_str sl_str_cstr(const char *p)
{
    struct sl_str s = { .ptr = p, .len = p ? strlen(p) : 0 };
    return s;
}

static inline bool sl_str_eq(struct sl_str a, struct sl_str b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}

static inline bool sl_str_eq_cstr(struct sl_str a, const char *b)
{
    return sl_str_eq(a, sl_str_cstr(b));
}

#endif
