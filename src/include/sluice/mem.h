/*
 * mem.h - the only allocator entry points of sluice.
 *
 * Every allocation goes through these wrappers so that the bytes in use can
 * be reported as a metric and so that tests can make the Nth allocation fail
 * (sl_mem_fail_after) to exercise every error path.  Raw malloc/free are
 * banned outside src/mem.c.  All functions are thread-safe.
 */
#ifndef SLUICE_MEM_H
#define SLUICE_MEM_H

#include <stddef.h>
#include <stdint.h>

void *sl_malloc(size_t n);
void *sl_calloc(size_t nmemb, size_t size);
void *sl_realloc(void *p, size_t n);
void sl_free(void *p);
char *sl_strdup(const char *s);
char *sl_strndup(const char *s, size_t n);
void *sl_memdup(const void *p, size_t n);

/* Bytes currently allocated through these wrappers (approximate: uses the
 * allocator's usable size). */
uint64_t sl_mem_in_use(void);

/* Test hook: after <n> more successful allocations, every allocation fails
 * until sl_mem_fail_after(-1) is called.  n = 0 fails the next one. */
void sl_mem_fail_after(long n);

/* Number of allocations that failed on purpose since the last reset. */
long sl_mem_failures(void);

#endif
