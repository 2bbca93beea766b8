/*
 * error.c - error codes to text, and the user-facing error records.
 * Pure functions; thread-safe.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "sluice/error.h"
#include "sluice/banned.h"

static const struct {
    int rc;
    const char *name;
    const char *text;
} error_table[] = {
    { SL_OK, "SL_OK", "success" },
    { SL_ENOMEM, "SL_ENOMEM", "out of memory" },
    { SL_EINVAL, "SL_EINVAL", "invalid argument" },
    { SL_EAGAIN, "SL_EAGAIN", "resource temporarily unavailable" },
    { SL_EIO, "SL_EIO", "input/output error" },
    { SL_ELIMIT, "SL_ELIMIT", "limit reached" },
    { SL_ECONFIG, "SL_ECONFIG", "configuration error" },
    { SL_EPEER, "SL_EPEER", "peer error" },
    { SL_EPARSE, "SL_EPARSE", "malformed data" },
    { SL_ENOTFOUND, "SL_ENOTFOUND", "not found" },
    { SL_ECLOSED, "SL_ECLOSED", "closed" },
    { SL_ETIMEDOUT, "SL_ETIMEDOUT", "timed out" },
    { SL_EEXIST, "SL_EEXIST", "already exists" },
};

const char *sl_errname(int rc)
{
    size_t i;

    for (i = 0; i < sizeof(error_table) / sizeof(error_table[0]); i++) {
        if (error_table[i].rc == rc) {
            return error_table[i].name;
        }
    }
    if (rc < 0 && rc > -4096) {
        return strerrorname_np(-rc) ? strerrorname_np(-rc) : "EUNKNOWN";
    }
    return "SL_EUNKNOWN";
}

const char *sl_strerror(int rc)
{
    size_t i;

    for (i = 0; i < sizeof(error_table) / sizeof(error_table[0]); i++) {
        if (error_table[i].rc == rc) {
            return error_table[i].text;
        }
    }
    if (rc < 0 && rc > -4096) {
        return strerrordesc_np(-rc) ? strerrordesc_np(-rc) : "unknown error";
    }
    return "unknown error";
}

static void err_copy(char *dst, size_t cap, const char *src)
{
    size_t n;

    if (src == NULL) {
        dst[0] = '\0';
        return;
    }
    n = strlen(src);
    if (n >= cap) {
        n = cap - 1;
    }
    memcpy(dst, src, n);
    dst[n] = '\0';
}

static int err_vset(struct sl_err *e, int rc, const char *fmt, va_list ap)
{
    if (e == NULL) {
        return rc;
    }
    e->rc = rc;
    e->line = 0;
    e->col = 0;
    e->file[0] = '\0';
    e->key[0] = '\0';
    vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
    return rc;
}

int sl_err_set(struct sl_err *e, int rc, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    err_vset(e, rc, fmt, ap);
    va_end(ap);
    return rc;
}

void sl_err_at(struct sl_err *e, const char *file, unsigned line,
               unsigned col, const char *key)
{
    if (e == NULL) {
        return;
    }
    if (file != NULL) {
        err_copy(e->file, sizeof(e->file), file);
    }
    if (key != NULL) {
        err_copy(e->key, sizeof(e->key), key);
    }
    e->line = line;
    e->col = col;
}

void sl_err_format(const struct sl_err *e, char *out, size_t outlen)
{
    size_t off = 0;
    int n;

    if (outlen == 0) {
        return;
    }
    out[0] = '\0';
    if (e->file[0] != '\0') {
        if (e->line > 0) {
            n = snprintf(out, outlen, "%s:%u:%u: ", e->file, e->line,
                         e->col);
        } else {
            n = snprintf(out, outlen, "%s: ", e->file);
        }
        off = n > 0 ? (size_t)n : 0;
    }
    if (off < outlen && e->key[0] != '\0') {
        n = snprintf(out + off, outlen - off, "%s: ", e->key);
        off += n > 0 ? (size_t)n : 0;
    }
    if (off < outlen) {
        snprintf(out + off, outlen - off, "%s", e->msg);
    }
}

void sl_errlist_init(struct sl_errlist *l)
{
    l->n = 0;
    l->overflow = 0;
}

void sl_errlist_push(struct sl_errlist *l, const struct sl_err *e)
{
    if (l->n >= SL_ERRLIST_MAX) {
        l->overflow++;
        return;
    }
    l->items[l->n++] = *e;
}

int sl_errlist_add(struct sl_errlist *l, const char *file, unsigned line,
                   unsigned col, const char *key, const char *fmt, ...)
{
    struct sl_err *e;
    va_list ap;

    if (l->n >= SL_ERRLIST_MAX) {
        l->overflow++;
        return SL_ECONFIG;
    }
    e = &l->items[l->n++];
    va_start(ap, fmt);
    err_vset(e, SL_ECONFIG, fmt, ap);
    va_end(ap);
    sl_err_at(e, file, line, col, key);
    return SL_ECONFIG;
}
