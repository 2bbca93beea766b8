/*
 * fuzz_syslog.c - the syslog parser (RFC 5424 / RFC 3164) on arbitrary
 * bytes.  The first byte picks the mode (auto, rfc5424, rfc3164); the rest
 * is the message.  A successful parse must produce a JSON object.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "plugin.h"
#include "sluice/banned.h"

extern const struct sl_plugin sl_plugin_parser_syslog;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const modes[] = { "{mode: auto}", "{mode: rfc5424}",
                                         "{mode: rfc3164}" };
    struct sl_parse_result res;
    struct sl_errlist errs;
    struct sl_instance *ins;
    struct sl_buf scratch;
    int rc;

    if (size == 0) {
        return 0;
    }
    sl_errlist_init(&errs);
    ins = sl_instance_create_standalone(&sl_plugin_parser_syslog,
                                        modes[data[0] % 3], &errs);
    if (ins == NULL) {
        return 0; /* allocation failure injected by the replay */
    }
    sl_buf_init(&scratch, 0);
    res.scratch = &scratch;
    res.body = SL_STR_NULL;
    res.ts_ns = 0;
    rc = sl_instance_parse(ins, (const char *)data + 1, size - 1, &res);
    if (rc == SL_OK && (res.body.len < 2 || res.body.ptr[0] != '{' ||
                        res.body.ptr[res.body.len - 1] != '}')) {
        abort();
    }
    sl_buf_fini(&scratch);
    sl_instance_destroy(ins);
    return 0;
}
