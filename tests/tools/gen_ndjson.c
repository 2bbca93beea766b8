/*
 * gen_ndjson.c - fast generator of a realistic NDJSON application log.
 *
 * usage: gen_ndjson LINES OUTFILE
 *
 * Writes LINES lines of about 250 bytes each (timestamp, level, service,
 * host, trace id, HTTP method/path/status, latency, user, message) with a
 * fixed-seed PRNG, so the same arguments always give the same file.
 * Built by scripts/bench with cc -O2; not part of the daemon build.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint64_t rng(void)
{
    uint64_t x = rng_state;

    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    rng_state = x;
    return x;
}

static const char *const LEVELS[] = { "info", "info", "info", "warn", "error", "debug" };
static const char *const SERVICES[] = { "checkout", "billing", "search", "auth", "cart" };
static const char *const METHODS[] = { "GET", "GET", "POST", "PUT", "DELETE" };
static const char *const PATHS[] = { "/api/v1/orders", "/api/v1/cart/items",
                                     "/api/v1/search", "/login", "/api/v1/payments" };
static const int STATUS[] = { 200, 200, 200, 201, 204, 400, 404, 500, 503 };
static const char *const MSGS[] = {
    "request completed", "upstream responded slowly", "cache miss, fetched from origin",
    "validation failed for field \\\"email\\\"", "retrying after connection reset" };

#define PICK(a) (a[rng() % (sizeof(a) / sizeof(a[0]))])

int main(int argc, char **argv)
{
    unsigned long long n, i;
    long long t = 1763700000000LL;   /* ms */
    FILE *f;

    if (argc != 3) {
        fprintf(stderr, "usage: %s LINES OUTFILE\n", argv[0]);
        return 2;
    }
    n = strtoull(argv[1], NULL, 10);
    f = fopen(argv[2], "w");
    if (f == NULL) {
        perror(argv[2]);
        return 1;
    }
    setvbuf(f, NULL, _IOFBF, 1 << 20);
    for (i = 0; i < n; i++) {
        long long s = t / 1000;
        t += (long long)(rng() % 7);
        fprintf(f, "{\"time\":\"2025-11-21T%02lld:%02lld:%02lld.%03lldZ\",\"level\":\"%s\","
                "\"service\":\"%s\",\"host\":\"web-%02u\",\"trace_id\":\"%016llx\","
                "\"method\":\"%s\",\"path\":\"%s\",\"status\":%d,\"latency_ms\":%u,"
                "\"user_id\":%u,\"seq\":%llu,\"msg\":\"%s\"}\n",
                (s / 3600) % 24, (s / 60) % 60, s % 60, t % 1000, PICK(LEVELS),
                PICK(SERVICES), (unsigned)(rng() % 32), (unsigned long long)rng(),
                PICK(METHODS), PICK(PATHS), PICK(STATUS), (unsigned)(rng() % 2000),
                (unsigned)(rng() % 100000), i, PICK(MSGS));
    }
    if (fclose(f) != 0) {
        perror(argv[2]);
        return 1;
    }
    return 0;
}
