/*
 * backoff.h - retry scheduling: exponential backoff with full jitter.
 *
 * The delay before attempt n (n = 1 for the first retry) is a uniform
 * random value in [0, min(max, base * 2^(n-1))] ("full jitter"), never
 * below a peer's Retry-After.  Pure functions plus a per-thread PRNG
 * state passed in by the caller, so the result is testable.
 */
#ifndef SLUICE_BACKOFF_H
#define SLUICE_BACKOFF_H

#include <stdint.h>

/* Upper bound of the delay for retry <attempt> (1-based), in ms. */
int64_t sl_backoff_cap_ms(int64_t base_ms, int64_t max_ms,
                                unsigned attempt);

/* The delay for retry <attempt>: uniform in [0, cap], at least
 * <retry_after_ms> (0 = none) and at least 1 ms.  <rng> is a xorshift
 * state (non-zero). */
int64_t sl_backoff_ms(int64_t base_ms, int64_t max_ms, unsigned attempt,
                            int64_t retry_after_ms, uint64_t *rng);

/* Next value of the xorshift64* generator. */
uint64_t sl_backoff_rand(uint64_t *state);

#endif
