/*
 * fuzz_logfmt.c - the logfmt parser on arbitrary lines.
 *
 * A standalone parser instance (with typed keys and a time key) is built
 * once and kept for the life of the process.  Every line that parses must
 * give a body that the JSON checker accepts as a one-line object; abort
 * otherwise.
 */
#include <stdint.h>
#include <stdlib.h>

#include "plugin.h"
#include "sluice/banned.h"

extern const struct sl_plugin sl_plugin_parser_logfmt;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct sl_instance *fuzz_logfmt_ins;
static struct sl_json_checker *fuzz_logfmt_ck;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sl_parse_result res;
    struct sl_errlist errs;
    struct sl_buf scratch;

    if (fuzz_logfmt_ins == NULL) {
        sl_errlist_init(&errs);
        fuzz_logfmt_ins = sl_instance_create_standalone(
            &sl_plugin_parser_logfmt,
            "{types: [n:integer, f:float, b:bool], time_key: ts}", &errs);
    }
    if (fuzz_logfmt_ck == NULL) {
        fuzz_logfmt_ck = sl_json_checker_create();
    }
    if (fuzz_logfmt_ins == NULL || fuzz_logfmt_ck == NULL) {
        return 0; /* allocation failure injected: try on the next input */
    }
    sl_buf_init(&scratch, 0);
    res.scratch = &scratch;
    if (sl_instance_parse(fuzz_logfmt_ins, (const char *)data, size, &res) ==
            SL_OK &&
        sl_json_check(fuzz_logfmt_ck, res.body.ptr, res.body.len, NULL) !=
            SL_JSON_CHECK_OBJECT &&
        sl_mem_failures() == 0) {
        abort();
    }
    sl_buf_fini(&scratch);
    return 0;
}
