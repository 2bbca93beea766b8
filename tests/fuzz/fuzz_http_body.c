/*
 * fuzz_http_body.c - the http input's body handling on arbitrary bytes:
 * the body splitter (array/NDJSON mode and HEC's concatenated mode), the
 * line number lookup, the capped inflater and the HEC envelope mapping.
 *
 * Invariants: every value handed out lies inside the body, values come
 * in order without overlapping, an error offset is inside the body (or
 * at its end), and the inflater never produces more than its cap.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sluice/plugin.h"
#include "sluice/banned.h"

struct sl_http_split_err {
    size_t offset;
    size_t index;
    char msg[160];
};
typedef int (*sl_http_value_fn)(void *arg, size_t index, const char *p,
                                size_t n, struct sl_http_split_err *e);
extern int sl_http_body_split(const char *p, size_t n, bool concat_only,
                              sl_http_value_fn fn, void *arg,
                              struct sl_http_split_err *e);
extern size_t sl_http_line_of(const char *p, size_t n, size_t off);
extern int sl_http_inflate(const char *p, size_t n, size_t max,
                           struct sl_buf *out);
extern int sl_http_hec_event(struct sl_arena *a, const char *p, size_t n,
                             const struct sl_strlist *indexes,
                             struct sl_buf *out, int64_t *ts_ns);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct fuzz_state {
    const char *body;
    size_t n;
    size_t next;  /* end of the previous value */
    size_t index; /* expected index */
    struct sl_arena arena;
    struct sl_buf out;
};

static int fuzz_value(void *arg, size_t index, const char *p, size_t n,
                      struct sl_http_split_err *e)
{
    struct fuzz_state *st = arg;
    size_t off = (size_t)(p - st->body);
    int64_t ts;
    int rc;

    (void)e;
    if (p < st->body || off < st->next || n == 0 || off + n > st->n ||
        index != st->index) {
        abort();
    }
    st->next = off + n;
    st->index++;
    sl_arena_reset(&st->arena);
    rc = sl_http_hec_event(&st->arena, p, n, NULL, &st->out, &ts);
    return rc < 0 ? rc : SL_OK;
}

static void fuzz_split(struct fuzz_state *st, bool concat)
{
    struct sl_http_split_err e;
    int rc;

    st->next = 0;
    st->index = 0;
    memset(&e, 0, sizeof(e));
    rc = sl_http_body_split(st->body, st->n, concat, fuzz_value, st, &e);
    if (rc != SL_OK && e.offset > st->n) {
        abort();
    }
    if (rc == SL_EPARSE) {
        (void)sl_http_line_of(st->body, st->n, e.offset);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_state st = { .body = (const char *)data, .n = size };
    size_t cap = 4096;

    sl_arena_init(&st.arena, 1024, 1 << 20);
    sl_buf_init(&st.out, 0);
    fuzz_split(&st, false);
    sl_buf_reset(&st.out);
    fuzz_split(&st, true);
    if (sl_http_inflate((const char *)data, size, cap, &st.out) == SL_OK &&
        st.out.len > cap) {
        abort();
    }
    sl_buf_fini(&st.out);
    sl_arena_fini(&st.arena);
    return 0;
}
