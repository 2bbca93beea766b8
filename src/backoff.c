/*
 * backoff.c - backoff computation (see backoff.h).  Pure; thread-safe as long
 * as each thread has its own rng state.
 */
#include "backoff.h"
#include "sluice/banned.h"

uint64_t sl_backoff_rand(uint64_t *state)
{
    uint64_t x = *state ? *state : 0x9E3779B97F4A7C15ULL;

    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * 0x2545F4914F6CDD1DULL;
}

int64_t sl_backoff_cap_ms(int64_t base_ms, int64_t max_ms,
                                unsigned attempt)
{
    int64_t cap = base_ms > 0 ? base_ms : 1;
    unsigned i;

    if (max_ms < cap) {
        max_ms = cap;
    }
    for (i = 1; i < attempt && cap < max_ms; i++) {
        cap = cap > max_ms / 2 ? max_ms : cap * 2;
    }
    return cap < max_ms ? cap : max_ms;
}

int64_t sl_backoff_ms(int64_t base_ms, int64_t max_ms, unsigned attempt,
                            int64_t retry_after_ms, uint64_t *rng)
{
    int64_t cap = sl_backoff_cap_ms(base_ms, max_ms, attempt);
    int64_t d = (int64_t)(sl_backoff_rand(rng) % (uint64_t)(cap + 1));

    if (d < retry_after_ms) {
        d = retry_after_ms;
    }
    return d < 1 ? 1 : d;
}
