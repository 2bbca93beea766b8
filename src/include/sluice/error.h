/*
 * error.h - the one error enum of sluice, and the user-facing error record.
 *
 * Every function that can fail returns an int: SL_OK (0) on success, a
 * negative SL_E* code or a negative errno value on failure.  Codes never
 * change meaning once released.  struct sl_err carries a message for a human
 * together with the place (file:line:column and key) it refers to, and
 * struct sl_errlist collects several of them so that config checking can
 * report every problem at once.
 */
#ifndef SLUICE_ERROR_H
#define SLUICE_ERROR_H

#include <stddef.h>

enum sl_rc {
    SL_OK = 0,
    /* Values below -1000 so that -errno (1..~133) never collides. */
    SL_ENOMEM = -1001,    /* allocation failed */
    SL_EINVAL = -1002,    /* invalid argument or input */
    SL_EAGAIN = -1003,    /* try again later (would block, paused) */
    SL_EIO = -1004,       /* input/output error */
    SL_ELIMIT = -1005,    /* a configured or built-in limit was reached */
    SL_ECONFIG = -1006,   /* configuration error */
    SL_EPEER = -1007,     /* the remote peer failed or refused */
    SL_EPARSE = -1008,    /* malformed data */
    SL_ENOTFOUND = -1009, /* no such thing */
    SL_ECLOSED = -1010,   /* the object or connection is closed */
    SL_ETIMEDOUT = -1011, /* an operation timed out */
    SL_EEXIST = -1012,    /* already exists */
};

/* Returns the negative errno for <e> (a positive errno value). */
static inline int sl_rc_from_errno(int e)
{
    return e > 0 ? -e : SL_EIO;
}

/* Short symbolic name ("SL_ENOMEM", "ENOENT") and readable text for <rc>. */
const char *sl_errname(int rc);
const char *sl_strerror(int rc);

#define SL_ERR_MSG_MAX 480
#define SL_ERR_KEY_MAX 128
#define SL_ERR_FILE_MAX 256

struct sl_err {
    int rc;
    unsigned line;            /* 1-based; 0 = no position */
    unsigned col;             /* 1-based; 0 = no position */
    char file[SL_ERR_FILE_MAX];
    char key[SL_ERR_KEY_MAX];
    char msg[SL_ERR_MSG_MAX];
};

/* Fills <e> (which may be NULL) with <rc> and a formatted message; clears
 * the position and key.  Returns <rc> so that callers can write
 * "return sl_err_set(err, SL_EINVAL, ...);". */
int sl_err_set(struct sl_err *e, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Sets the position fields of <e> (any of file/key may be NULL). */
void sl_err_at(struct sl_err *e, const char *file, unsigned line,
               unsigned col, const char *key);

/* Writes "file:line:col: key: msg" (parts omitted when unknown) into <out>. */
void sl_err_format(const struct sl_err *e, char *out, size_t outlen);

/* A bounded list of errors; at most SL_ERRLIST_MAX are kept, the number
 * dropped beyond that is counted in <overflow>. */
#define SL_ERRLIST_MAX 64

struct sl_errlist {
    size_t n;
    size_t overflow;
    struct sl_err items[SL_ERRLIST_MAX];
};

void sl_errlist_init(struct sl_errlist *l);

/* Appends an error at a position (file/key may be NULL, line/col 0).
 * Returns SL_ECONFIG for convenience. */
int sl_errlist_add(struct sl_errlist *l, const char *file, unsigned line,
                   unsigned col, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

/* Appends a copy of <e>. */
void sl_errlist_push(struct sl_errlist *l, const struct sl_err *e);

static inline size_t sl_errlist_count(const struct sl_errlist *l)
{
    return l->n + l->overflow;
}

#endif
