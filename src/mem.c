/*
 * mem.c - the allocator wrappers (see sluice/mem.h).
 *
 * The only file allowed to call malloc/free.  Counts bytes in use with the
 * allocator's usable size, and supports failing allocations on purpose for
 * the out-of-memory tests.  Thread-safe: counters are relaxed atomics.
 */
#include <malloc.h>
#include <stdlib.h>
#include <string.h>

#include "sluice/mem.h"
#include "sluice/banned.h"

static uint64_t mem_in_use;
static long mem_fail_countdown = -1;
static long mem_failures;

static int mem_should_fail(void)
{
    long n = __atomic_load_n(&mem_fail_countdown, __ATOMIC_RELAXED);

    if (n < 0) {
        return 0;
    }
    if (n == 0) {
        __atomic_add_fetch(&mem_failures, 1, __ATOMIC_RELAXED);
        return 1;
    }
    __atomic_sub_fetch(&mem_fail_countdown, 1, __ATOMIC_RELAXED);
    return 0;
}

static void *mem_account(void *p)
{
    if (p != NULL) {
        __atomic_add_fetch(&mem_in_use, malloc_usable_size(p),
                           __ATOMIC_RELAXED);
    }
    return p;
}

void *sl_malloc(size_t n)
{
    if (mem_should_fail()) {
        return NULL;
    }
    return mem_account(malloc(n == 0 ? 1 : n));
}

void *sl_calloc(size_t nmemb, size_t size)
{
    if (mem_should_fail()) {
        return NULL;
    }
    if (nmemb == 0 || size == 0) {
        nmemb = 1;
        size = 1;
    }
    return mem_account(calloc(nmemb, size));
}

void *sl_realloc(void *p, size_t n)
{
    size_t old;
    void *q;

    if (p == NULL) {
        return sl_malloc(n);
    }
    if (mem_should_fail()) {
        return NULL;
    }
    old = malloc_usable_size(p);
    q = realloc(p, n == 0 ? 1 : n);
    if (q == NULL) {
        return NULL;
    }
    __atomic_sub_fetch(&mem_in_use, old, __ATOMIC_RELAXED);
    return mem_account(q);
}

void sl_free(void *p)
{
    if (p == NULL) {
        return;
    }
    __atomic_sub_fetch(&mem_in_use, malloc_usable_size(p), __ATOMIC_RELAXED);
    free(p);
}

char *sl_strndup(const char *s, size_t n)
{
    char *d = sl_malloc(n + 1);

    if (d == NULL) {
        return NULL;
    }
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

char *sl_strdup(const char *s)
{
    return s == NULL ? NULL : sl_strndup(s, strlen(s));
}

void *sl_memdup(const void *p, size_t n)
{
    void *d = sl_malloc(n);

    if (d != NULL && n > 0) {
        memcpy(d, p, n);
    }
    return d;
}

uint64_t sl_mem_in_use(void)
{
    return __atomic_load_n(&mem_in_use, __ATOMIC_RELAXED);
}

void sl_mem_fail_after(long n)
{
    __atomic_store_n(&mem_failures, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&mem_fail_countdown, n, __ATOMIC_RELAXED);
}

long sl_mem_failures(void)
{
    return __atomic_load_n(&mem_failures, __ATOMIC_RELAXED);
}
