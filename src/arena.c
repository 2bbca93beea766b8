/*
 * arena.c - bump allocator (see sluice/arena.h).
 *
 * Blocks form a singly linked list, newest first.  Reset frees every block
 * but the oldest, which is kept so that a steady state of one block per
 * record or batch allocates nothing.  Not thread-safe: one owner.
 */
#include <stdint.h>
#include <string.h>

#include "sluice/arena.h"
#include "sluice/mem.h"
#include "sluice/banned.h"

#define ARENA_ALIGN 16
#define ARENA_DEFAULT_BLOCK (16 * 1024)

struct sl_arena_block {
    struct sl_arena_block *next; /* older block */
    size_t size;                 /* usable bytes in data */
    size_t used;
    _Alignas(ARENA_ALIGN) unsigned char data[];
};

void sl_arena_init(struct sl_arena *a, size_t block_size, size_t max)
{
    a->head = NULL;
    a->block_size = block_size == 0 ? ARENA_DEFAULT_BLOCK : block_size;
    a->max = max;
    a->total = 0;
}

void sl_arena_fini(struct sl_arena *a)
{
    struct sl_arena_block *b = a->head, *next;

    while (b != NULL) {
        next = b->next;
        sl_free(b);
        b = next;
    }
    a->head = NULL;
    a->total = 0;
}

void sl_arena_reset(struct sl_arena *a)
{
    struct sl_arena_block *b = a->head, *next;

    if (b == NULL) {
        return;
    }
    while (b->next != NULL) {
        next = b->next;
        a->total -= b->size;
        sl_free(b);
        b = next;
    }
    b->used = 0;
    a->head = b;
}

static struct sl_arena_block *arena_grow(struct sl_arena *a, size_t n)
{
    size_t size = a->block_size;
    struct sl_arena_block *b;

    if (n > size) {
        size = n;
    }
    if (a->max != 0 && a->total + size > a->max) {
        return NULL;
    }
    b = sl_malloc(sizeof(*b) + size);
    if (b == NULL) {
        return NULL;
    }
    b->size = size;
    b->used = 0;
    b->next = a->head;
    a->head = b;
    a->total += size;
    return b;
}

void *sl_arena_alloc(struct sl_arena *a, size_t n)
{
    struct sl_arena_block *b = a->head;
    size_t need;
    void *p;

    if (n > SIZE_MAX - ARENA_ALIGN) {
        return NULL;
    }
    need = (n + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
    if (need == 0) {
        need = ARENA_ALIGN;
    }
    if (b == NULL || b->size - b->used < need) {
        b = arena_grow(a, need);
        if (b == NULL) {
            return NULL;
        }
    }
    p = b->data + b->used;
    b->used += need;
    return p;
}

void *sl_arena_calloc(struct sl_arena *a, size_t n)
{
    void *p = sl_arena_alloc(a, n);

    if (p != NULL) {
        memset(p, 0, n);
    }
    return p;
}

void *sl_arena_realloc(struct sl_arena *a, void *p, size_t old, size_t n)
{
    struct sl_arena_block *b = a->head;
    size_t oldr, newr;
    void *q;

    if (p == NULL) {
        return sl_arena_alloc(a, n);
    }
    if (n <= old) {
        return p;
    }
    /* Grow in place when <p> is the last allocation of the current block. */
    oldr = (old + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
    newr = (n + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
    if (b != NULL && (unsigned char *)p + oldr == b->data + b->used &&
        b->size - b->used >= newr - oldr) {
        b->used += newr - oldr;
        return p;
    }
    q = sl_arena_alloc(a, n);
    if (q != NULL) {
        memcpy(q, p, old);
    }
    return q;
}

char *sl_arena_strndup(struct sl_arena *a, const char *s, size_t n)
{
    char *d = sl_arena_alloc(a, n + 1);

    if (d != NULL) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}
