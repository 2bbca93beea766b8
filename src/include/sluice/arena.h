/*
 * arena.h - a bump allocator for data that dies together.
 *
 * Per-record and per-batch data (the JSON DOM, temporary strings) is
 * allocated from an arena that is reset, not freed, when the record or batch
 * is done.  Nothing in an arena is freed on its own.  An arena is used by
 * one thread at a time.  Reset keeps the first block so that steady state
 * allocates nothing.
 */
#ifndef SLUICE_ARENA_H
#define SLUICE_ARENA_H

#include <stddef.h>

struct sl_arena_block;

struct sl_arena {
    struct sl_arena_block *head;  /* current block */
    size_t block_size;            /* default size of a new block */
    size_t max;                   /* cap on total bytes; 0 = unbounded */
    size_t total;                 /* bytes in all blocks */
};

/* Initialises an empty arena; <block_size> 0 means 16 KiB. */
void sl_arena_init(struct sl_arena *a, size_t block_size, size_t max);
void sl_arena_fini(struct sl_arena *a);

/* Frees every block but the first and rewinds it. */
void sl_arena_reset(struct sl_arena *a);

/* Returns <n> bytes aligned for any type, or NULL (ENOMEM or past max). */
void *sl_arena_alloc(struct sl_arena *a, size_t n);
void *sl_arena_calloc(struct sl_arena *a, size_t n);

/* Grows an allocation <p> of <old> bytes to <n> bytes (copying). */
void *sl_arena_realloc(struct sl_arena *a, void *p, size_t old, size_t n);

/* NUL-terminated copy of <n> bytes at <s>. */
char *sl_arena_strndup(struct sl_arena *a, const char *s, size_t n);

#endif
