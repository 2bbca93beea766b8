/*
 * fuzz_json.c - the JSON checker, member location, DOM and serializer.
 *
 * Properties checked (abort on violation):
 * - sl_json_check and sl_json_parse agree on validity;
 * - serialize(parse(x)) reparses, and serializing again gives the same
 *   bytes (a fixed point), which the checker sees as a one-line OBJECT
 *   whenever the value is an object;
 * - a member found by sl_json_check_find can be cut out and the rest is
 *   still a valid object;
 * - a clone serializes to the same bytes.
 * Allocation failures (injected by the replay driver) may make any step
 * fail; the properties are only checked when none happened.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sluice/json.h"
#include "sluice/mem.h"
#include "sluice/banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_json_require(bool ok)
{
    if (!ok) {
        abort();
    }
}

/* Cuts the member <loc> out of <p> and checks the rest. */
static void fuzz_json_cut(struct sl_json_checker *c, const char *p, size_t n,
                          const struct sl_json_member_loc *loc)
{
    struct sl_buf b;
    long fails = sl_mem_failures();
    enum sl_json_check_result r;

    sl_buf_init(&b, 0);
    if (sl_buf_append(&b, p, loc->member_start) == SL_OK &&
        sl_buf_append(&b, p + loc->member_end, n - loc->member_end) == SL_OK) {
        r = sl_json_check(c, b.data, b.len, NULL);
        fuzz_json_require(sl_mem_failures() != fails ||
                          r == SL_JSON_CHECK_OBJECT ||
                          r == SL_JSON_CHECK_COMPACT);
    }
    sl_buf_fini(&b);
}

static void fuzz_json_dom(struct sl_json_checker *c, struct sl_arena *a,
                          const struct sl_json *v)
{
    struct sl_buf b1, b2, b3;
    struct sl_json *v2 = NULL, *cl;
    long fails = sl_mem_failures();
    enum sl_json_check_result r;

    sl_buf_init(&b1, 0);
    sl_buf_init(&b2, 0);
    sl_buf_init(&b3, 0);
    if (sl_json_serialize(v, &b1) != SL_OK ||
        sl_json_parse(a, b1.data, b1.len, &v2, NULL) != SL_OK ||
        sl_json_serialize(v2, &b2) != SL_OK) {
        fuzz_json_require(sl_mem_failures() != fails);
        goto out;
    }
    fuzz_json_require(b1.len == b2.len &&
                      memcmp(b1.data, b2.data, b1.len) == 0);
    r = sl_json_check(c, b1.data, b1.len, NULL);
    fuzz_json_require(sl_mem_failures() != fails ||
                      r == (v->type == SL_JSON_OBJECT
                                ? SL_JSON_CHECK_OBJECT
                                : SL_JSON_CHECK_NOT_OBJECT));
    cl = sl_json_clone(a, v);
    if (cl != NULL && sl_json_serialize(cl, &b3) == SL_OK) {
        fuzz_json_require(b3.len == b1.len &&
                          memcmp(b3.data, b1.data, b1.len) == 0);
    }
out:
    sl_buf_fini(&b1);
    sl_buf_fini(&b2);
    sl_buf_fini(&b3);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *p = (const char *)data;
    struct sl_json_checker *c = sl_json_checker_create();
    struct sl_json_member_loc loc;
    enum sl_json_check_result r, r2;
    struct sl_json *v = NULL;
    struct sl_arena a;
    long fails;
    int rc;

    if (c == NULL) {
        return 0;
    }
    sl_arena_init(&a, 0, 64 << 20);
    fails = sl_mem_failures();
    r = sl_json_check(c, p, size, NULL);
    r2 = sl_json_check_find(c, p, size, SL_STR_LIT("a"), &loc, NULL);
    rc = sl_json_parse(&a, p, size, &v, NULL);
    if (sl_mem_failures() == fails && rc != SL_ENOMEM) {
        fuzz_json_require(r == r2);
        fuzz_json_require((rc == SL_OK) == (r != SL_JSON_CHECK_INVALID));
    }
    if (loc.val.ptr != NULL) {
        fuzz_json_require(loc.member_start < loc.member_end &&
                          loc.member_end <= size);
        fuzz_json_cut(c, p, size, &loc);
    }
    if (rc == SL_OK) {
        fuzz_json_dom(c, &a, v);
    }
    sl_arena_fini(&a);
    sl_json_checker_destroy(c);
    return 0;
}
