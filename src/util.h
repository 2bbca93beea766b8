/*
 * util.h - small core utilities: a string-keyed hash map, the host name,
 * and file helpers.
 *
 * struct sl_strmap maps byte-string keys (copied) to pointers.  Open
 * addressing with linear probing; grows at 70% load; one owner thread.
 */
#ifndef SLUICE_UTIL_H
#define SLUICE_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sluice/str.h"

struct sl_strmap_slot {
    char *key; /* NULL = empty; owned */
    size_t klen;
    uint64_t hash;
    void *val;
};

struct sl_strmap {
    struct sl_strmap_slot *slots;
    size_t cap; /* power of two, or 0 */
    size_t n;
    size_t tombs;
};

void sl_strmap_init(struct sl_strmap *m);

/* Frees the keys; <free_val> (may be NULL) is called on every value. */
void sl_strmap_fini(struct sl_strmap *m, void (*free_val)(void *));

void *sl_strmap_get(const struct sl_strmap *m, struct sl_str key);

/* Inserts or replaces; returns SL_OK or SL_ENOMEM. */
int sl_strmap_put(struct sl_strmap *m, struct sl_str key, void *val);

/* Removes <key>; returns its value or NULL. */
void *sl_strmap_del(struct sl_strmap *m, struct sl_str key);

/* Iteration: for (i = 0; sl_strmap_next(m, &i, &k, &v);) { ... } */
bool sl_strmap_next(const struct sl_strmap *m, size_t *i, struct sl_str *key,
                    void **val);

uint64_t sl_hash_bytes(const void *p, size_t n);

/* Reads a whole file (at most <max> bytes) into a NUL-terminated heap
 * buffer.  Returns SL_OK, SL_ELIMIT or -errno. */
int sl_file_read_all(const char *path, size_t max, char **out, size_t *len);

/* Writes <len> bytes to <path> atomically (temp file + fsync + rename). */
int sl_file_write_atomic(const char *path, const void *data, size_t len,
                         unsigned mode);

/* write(2) of all bytes, retrying on EINTR and short writes.  Returns
 * SL_OK or -errno (EAGAIN included). */
int sl_write_all(int fd, const void *p, size_t n);

/* Creates <path> and its parents (like mkdir -p) with <mode>. */
int sl_mkdir_p(const char *path, unsigned mode);

#endif
