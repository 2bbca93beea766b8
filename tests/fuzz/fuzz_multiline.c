/*
 * fuzz_multiline.c - the multiline engine on arbitrary lines.  The first
 * byte picks the definition (java, python, go, docker, or a small rule set
 * with tight bounds) and how often time jumps past flush_timeout; the rest
 * is split into lines at '\n'.  Every record must be non-empty text of at
 * most max_bytes when bounded rules apply, and docker JSON records must
 * still be objects.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sluice/multiline.h"
#include "sluice/plugin.h"
#include "sluice/banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct fuzz_ml {
    size_t records;
    size_t max_bytes; /* 0: unchecked */
};

static int fuzz_ml_emit(void *arg, const struct sl_multiline_out *r)
{
    struct fuzz_ml *f = arg;

    if (r->json && (r->n < 2 || r->p[0] != '{' || r->p[r->n - 1] != '}')) {
        abort();
    }
    if (f->max_bytes > 0 && r->lines > 1 && r->n > f->max_bytes) {
        abort();
    }
    f->records++;
    return SL_OK;
}

static struct sl_multiline_def *fuzz_ml_def(unsigned pick, size_t *max_bytes)
{
    static const char *const names[] = { "java", "python", "go", "docker" };
    static const struct sl_multiline_rule rules[] = {
        { "start_state", "^[A-Z]", "cont" },
        { "cont", "^\\s", "cont" },
        { "cont", "^-", "dash" },
        { "dash", "^-", "dash" },
        { "dash", "^\\s", "cont" },
    };
    struct sl_multiline_spec spec = { .name = "fuzz",
                                      .rules = rules,
                                      .nrules = 5,
                                      .flush_timeout_ms = 10,
                                      .max_lines = 4,
                                      .max_bytes = 64 };
    struct sl_multiline_def *def = NULL;

    *max_bytes = 0;
    if (pick % 5 < 4) {
        return sl_multiline_def_builtin(names[pick % 5]);
    }
    *max_bytes = 64;
    (void)sl_multiline_def_create(&spec, &def, NULL);
    return def;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_ml f = { 0 };
    struct sl_multiline_def *def;
    struct sl_multiline *m;
    const char *p;
    const char *end;
    const char *nl;
    int64_t now = 0;

    if (size == 0) {
        return 0;
    }
    def = fuzz_ml_def(data[0], &f.max_bytes);
    m = def != NULL ? sl_multiline_create(def, fuzz_ml_emit, &f) : NULL;
    if (m == NULL) {
        sl_multiline_def_destroy(def);
        return 0; /* allocation failure injected by the replay */
    }
    p = (const char *)data + 1;
    end = (const char *)data + size;
    while (p < end) {
        nl = memchr(p, '\n', (size_t)(end - p));
        if (nl == NULL) {
            nl = end;
        }
        (void)sl_multiline_feed(m, p, (size_t)(nl - p), now);
        now += (data[0] & 0x80) ? 20 * SL_NS_PER_MS : SL_NS_PER_MS;
        (void)sl_multiline_expire(m, now);
        p = nl + 1;
    }
    (void)sl_multiline_flush(m);
    sl_multiline_destroy(m);
    sl_multiline_def_destroy(def);
    return 0;
}
