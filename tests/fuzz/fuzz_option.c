/*
 * fuzz_option.c - libFuzzer target for option value parsing.
 *
 * The input is "<type-byte><text>": the byte picks the flags (secret,
 * negative allowed) and which option type is parsed first; then the text
 * is parsed as every type with sl_option_parse_value, plus the bare
 * size/time/bool parsers.  Everything allocated is freed.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "option.h"
#include "sluice/mem.h"
#include "sluice/banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

union fuzz_field {
    char *s;
    int64_t i;
    uint64_t u;
    double d;
    bool b;
    int e;
    struct sl_strlist l;
    struct sl_kvlist m;
};

static const char *const fuzz_choices[] = { "json_lines", "pretty", "msgpack",
                                            NULL };

static void fuzz_one(enum sl_opt_type t, unsigned flags, const char *text)
{
    struct sl_option opt[2];
    union fuzz_field f;
    struct sl_err err;

    memset(opt, 0, sizeof(opt));
    memset(&f, 0, sizeof(f));
    opt[0].name = "x";
    opt[0].type = t;
    opt[0].size = sizeof(f);
    opt[0].flags = flags;
    opt[0].choices = fuzz_choices;
    if (flags & 0x100) {
        opt[0].min = t == SL_OPT_SIZE ? 4096 : -5;
        opt[0].max = t == SL_OPT_SIZE ? 64 << 20 : 100000;
    }
    (void)sl_option_parse_value(&opt[0], text, &f, &err);
    (void)sl_option_parse_value(&opt[0], text, &f, &err);
    sl_option_free(opt, &f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    unsigned flags, t, first;
    char *text;
    uint64_t u;
    int64_t i;
    bool b;

    if (size == 0) {
        return 0;
    }
    text = sl_strndup((const char *)data + 1, size - 1);
    if (text == NULL) {
        return 0;
    }
    flags = ((data[0] >> 4) & (SL_OPT_SECRET | SL_OPT_NEGATIVE_OK)) |
            ((data[0] & 0x80) ? 0x100u : 0u);
    first = (unsigned)(data[0] % SL_OPT_TEMPLATE) + 1;
    for (t = 0; t < SL_OPT_TEMPLATE; t++) {
        fuzz_one((enum sl_opt_type)((first - 1 + t) % SL_OPT_TEMPLATE + 1),
                 flags & ~0x100u, text);
        fuzz_one((enum sl_opt_type)(t + 1), flags, text);
    }
    (void)sl_option_parse_size(text, &u);
    (void)sl_option_parse_time_ms(text, &i);
    (void)sl_option_parse_bool(text, &b);
    sl_free(text);
    return 0;
}
