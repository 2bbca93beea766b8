/*
 * buf.h - struct sl_buf, an owning, growable, capped byte buffer.
 *
 * The data is always NUL-terminated (the NUL is not counted in len), so it
 * can be handed to C APIs.  Growth stops at <max> bytes: an append that
 * would pass it returns SL_ELIMIT and leaves the buffer as it was.  A failed
 * append (SL_ENOMEM, SL_ELIMIT) never loses what was already there.
 */
#ifndef SLUICE_BUF_H
#define SLUICE_BUF_H

#include <stdarg.h>
#include <stddef.h>

#include "str.h"

struct sl_buf {
    char *data; /* NULL until the first append */
    size_t len;
    size_t cap;
    size_t max; /* 0 = SIZE_MAX / 2 */
};

void sl_buf_init(struct sl_buf *b, size_t max);
void sl_buf_fini(struct sl_buf *b);

/* Sets len to 0, keeps the memory. */
static inline void sl_buf_reset(struct sl_buf *b)
{
    b->len = 0;
    if (b->data != NULL) {
        b->data[0] = '\0';
    }
}

/* Makes room for <n> more bytes (plus the NUL). */
int sl_buf_reserve(struct sl_buf *b, size_t n);
int sl_buf_append(struct sl_buf *b, const void *p, size_t n);
int sl_buf_append_str(struct sl_buf *b, const char *s);
int sl_buf_append_sl(struct sl_buf *b, struct sl_str s);
int sl_buf_putc(struct sl_buf *b, char c);
int sl_buf_printf(struct sl_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
int sl_buf_vprintf(struct sl_buf *b, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

/* Drops the first <n> bytes, moving the rest to the front. */
void sl_buf_consume(struct sl_buf *b, size_t n);

/* Takes ownership of the bytes: returns data (never NULL: an empty string
 * when nothing was appended, or NULL on ENOMEM) and leaves <b> empty. */
char *sl_buf_take(struct sl_buf *b);

static inline struct sl_str sl_buf_str(const struct sl_buf *b)
{
    struct sl_str s = { .ptr = b->data ? b->data : "", .len = b->len };
    return s;
}

#endif
