/*
 * fuzz_timeutil.c - sl_time_parse with fuzzed formats and text, and the
 * RFC 3339 round trip.
 *
 * Input: the first line is the format (empty: automatic), the rest is the
 * text.  Whatever parses must format as RFC 3339 with 9 digits and parse
 * back (automatically) to the same nanoseconds; abort otherwise.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sluice/mem.h"
#include "sluice/timeutil.h"
#include "sluice/banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *p = (const char *)data;
    const char *nl = memchr(p, '\n', size);
    size_t flen = nl != NULL ? (size_t)(nl - p) : 0;
    struct sl_str text;
    char *format;
    char out[64];
    int64_t ns, back;
    size_t n;

    format = sl_malloc(flen + 1);
    if (format == NULL) {
        return 0;
    }
    memcpy(format, p, flen);
    format[flen] = '\0';
    text = nl != NULL ? sl_str_make(nl + 1, size - flen - 1)
                      : sl_str_make(p, size);
    if (sl_time_parse(text, format, &ns) == SL_OK) {
        n = sl_time_format_rfc3339(ns, 9, out, sizeof(out));
        if (n == 0 ||
            sl_time_parse(sl_str_make(out, n), NULL, &back) != SL_OK ||
            back != ns) {
            abort();
        }
    }
    sl_free(format);
    return 0;
}
