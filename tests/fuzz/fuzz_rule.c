/*
 * fuzz_rule.c - filter conditions ("KEY", "KEY VALUE", "KEY REGEX", as
 * grep, modify and normalize take them) on arbitrary entries.
 *
 * The first byte picks the operation, the rest is the entry: split,
 * compiled, and when it compiles, tested against a fixed record.  Every
 * failure must come with a message and leave nothing allocated.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sluice/arena.h"
#include "sluice/mem.h"
#include "sluice/rule.h"
#include "sluice/banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char fuzz_rule_record[] =
    "{\"level\":\"error\",\"n\":42,\"ok\":true,\"none\":null,"
    "\"kubernetes\":{\"labels\":{\"app\":\"web\",\"a b\":\"x\"}},"
    "\"list\":[1,\"two\",{\"three\":3}],\"msg\":\"caf\\u00e9 \\\"q\\\"\"}";

static void fuzz_rule_one(enum sl_rule_op op, const char *entry,
                          const struct sl_json *dom)
{
    struct sl_rule_src src = { .who = "fuzz", .entry = entry };
    struct sl_rule_scratch s;
    struct sl_rule r;
    struct sl_str key, arg;
    struct sl_err err;
    int rc;

    memset(&r, 0, sizeof(r));
    memset(&err, 0, sizeof(err));
    sl_rule_split(entry, &key, &arg);
    if (key.len > strlen(entry) || arg.len > strlen(entry)) {
        abort();
    }
    rc = sl_rule_compile(&r, op, key, arg, &src, &err);
    if (rc != SL_OK && err.msg[0] == '\0' && sl_mem_failures() == 0) {
        abort(); /* every error says what is wrong */
    }
    if (rc == SL_OK && dom != NULL && sl_rule_scratch_init(&s) == SL_OK) {
        (void)sl_rule_holds(&r, dom, &s);
        sl_rule_scratch_fini(&s);
    }
    sl_rule_fini(&r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sl_arena arena;
    struct sl_json *dom = NULL;
    struct sl_err err;
    char *entry;

    if (size == 0 || size > 4096) {
        return 0;
    }
    entry = sl_malloc(size);
    if (entry == NULL) {
        return 0;
    }
    memcpy(entry, data + 1, size - 1);
    entry[size - 1] = '\0';
    sl_arena_init(&arena, 0, 0);
    if (sl_json_parse(&arena, fuzz_rule_record, sizeof(fuzz_rule_record) - 1,
                      &dom, &err) != SL_OK) {
        dom = NULL;
    }
    fuzz_rule_one((enum sl_rule_op)(data[0] % 5), entry, dom);
    sl_arena_fini(&arena);
    sl_free(entry);
    return 0;
}
