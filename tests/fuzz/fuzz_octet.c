/*
 * fuzz_octet.c - the syslog stream framer (RFC 6587 octet counting and
 * LF framing, detected per connection) on arbitrary bytes.
 *
 * The first byte sets the maximum message size (1..256) and the split
 * points: the rest is fed in pieces whose sizes come from a simple
 * generator, so frames cross feed boundaries.  Invariants: no message is
 * longer than the maximum, a non-truncated message never ends in CR or LF,
 * and the framer consumes every byte unless it reports an error.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "sluice/error.h"
#include "sluice/banned.h"

struct sl_syslog_framer;
typedef bool (*sl_syslog_frame_fn)(void *arg, const char *p, size_t n,
                                   bool truncated);
extern struct sl_syslog_framer *sl_syslog_framer_create(size_t max);
extern void sl_syslog_framer_destroy(struct sl_syslog_framer *f);
extern int sl_syslog_framer_feed(struct sl_syslog_framer *f, const char *p,
                                 size_t n, size_t *used, sl_syslog_frame_fn fn,
                                 void *arg);
extern int sl_syslog_framer_finish(struct sl_syslog_framer *f,
                                   sl_syslog_frame_fn fn, void *arg);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool fuzz_octet_frame(void *arg, const char *p, size_t n, bool truncated)
{
    size_t max = *(const size_t *)arg;

    if (n == 0 || n > max ||
        (!truncated && (p[n - 1] == '\n' || p[n - 1] == '\r'))) {
        abort();
    }
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sl_syslog_framer *f;
    size_t max;
    size_t off = 1;
    size_t used;
    uint32_t rng;
    int rc = SL_OK;

    if (size == 0) {
        return 0;
    }
    max = (size_t)data[0] + 1;
    rng = data[0] * 2654435761u + 1;
    f = sl_syslog_framer_create(max);
    if (f == NULL) {
        return 0;
    }
    while (off < size && rc == SL_OK) {
        size_t piece;

        rng = rng * 1103515245u + 12345u;
        piece = 1 + (rng >> 16) % 64;
        if (piece > size - off) {
            piece = size - off;
        }
        rc = sl_syslog_framer_feed(f, (const char *)data + off, piece, &used,
                                   fuzz_octet_frame, &max);
        if (rc == SL_OK && used != piece) {
            abort();
        }
        off += piece;
    }
    if (rc == SL_OK) {
        sl_syslog_framer_finish(f, fuzz_octet_frame, &max);
    }
    sl_syslog_framer_destroy(f);
    return 0;
}
