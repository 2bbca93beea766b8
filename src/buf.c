/*
 * buf.c - growable, capped byte buffers (see sluice/buf.h).
 */
#include <stdio.h>
#include <string.h>

#include "sluice/buf.h"
#include "sluice/error.h"
#include "sluice/mem.h"
#include "sluice/banned.h"

#define BUF_DEFAULT_MAX (SIZE_MAX / 2)

void sl_buf_init(struct sl_buf *b, size_t max)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->max = max == 0 ? BUF_DEFAULT_MAX : max;
}

void sl_buf_fini(struct sl_buf *b)
{
    sl_free(b->data);
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

int sl_buf_reserve(struct sl_buf *b, size_t n)
{
    size_t need, ncap;
    char *p;

    if (b->max == 0) {
        b->max = BUF_DEFAULT_MAX;
    }
    if (n > b->max || b->len > b->max - n) {
        return SL_ELIMIT;
    }
    need = b->len + n + 1;
    if (need <= b->cap) {
        return SL_OK;
    }
    ncap = b->cap < 64 ? 64 : b->cap;
    while (ncap < need) {
        ncap = ncap > SIZE_MAX / 2 ? need : ncap * 2;
    }
    if (ncap > b->max + 1) {
        ncap = b->max + 1;
    }
    p = sl_realloc(b->data, ncap);
    if (p == NULL) {
        return SL_ENOMEM;
    }
    b->data = p;
    b->cap = ncap;
    return SL_OK;
}

int sl_buf_append(struct sl_buf *b, const void *p, size_t n)
{
    int rc = sl_buf_reserve(b, n);

    if (rc != SL_OK) {
        return rc;
    }
    if (n > 0) {
        memcpy(b->data + b->len, p, n);
    }
    b->len += n;
    b->data[b->len] = '\0';
    return SL_OK;
}

int sl_buf_append_str(struct sl_buf *b, const char *s)
{
    return sl_buf_append(b, s, strlen(s));
}

int sl_buf_append_sl(struct sl_buf *b, struct sl_str s)
{
    return sl_buf_append(b, s.ptr, s.len);
}

int sl_buf_putc(struct sl_buf *b, char c)
{
    int rc;

    if (b->len + 1 < b->cap) {
        b->data[b->len++] = c;
        b->data[b->len] = '\0';
        return SL_OK;
    }
    rc = sl_buf_reserve(b, 1);
    if (rc != SL_OK) {
        return rc;
    }
    b->data[b->len++] = c;
    b->data[b->len] = '\0';
    return SL_OK;
}

int sl_buf_vprintf(struct sl_buf *b, const char *fmt, va_list ap)
{
    va_list ap2;
    int n, rc;

    va_copy(ap2, ap);
    n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0) {
        return SL_EINVAL;
    }
    rc = sl_buf_reserve(b, (size_t)n);
    if (rc != SL_OK) {
        return rc;
    }
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
    return SL_OK;
}

int sl_buf_printf(struct sl_buf *b, const char *fmt, ...)
{
    va_list ap;
    int rc;

    va_start(ap, fmt);
    rc = sl_buf_vprintf(b, fmt, ap);
    va_end(ap);
    return rc;
}

void sl_buf_consume(struct sl_buf *b, size_t n)
{
    if (n >= b->len) {
        sl_buf_reset(b);
        return;
    }
    memmove(b->data, b->data + n, b->len - n);
    b->len -= n;
    b->data[b->len] = '\0';
}

char *sl_buf_take(struct sl_buf *b)
{
    char *p = b->data;

    if (p == NULL) {
        p = sl_strdup("");
    }
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    return p;
}
