/*
 * fuzz_regex.c - the regex parser on arbitrary lines.
 *
 * Three standalone instances (an access-log pattern with typed groups and
 * a time key, a key=value pattern, and one with optional groups) are built
 * once; the first input byte picks one, the rest is the line.  Every line
 * that parses must give a body the JSON checker accepts as a one-line
 * object; abort otherwise.
 */
#include <stdint.h>
#include <stdlib.h>

#include "plugin.h"
#include "sluice/banned.h"

extern const struct sl_plugin sl_plugin_parser_regex;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const fuzz_regex_confs[] = {
    "{regex: '^(?<host>\\S+) \\S+ (?<user>\\S+) \\[(?<time>[^\\]]*)\\] "
    "\"(?<method>\\S+) (?<path>[^ \"]*)[^\"]*\" (?<code>\\d+) (?<size>\\S+)', "
    "time_key: time, time_format: '%d/%b/%Y:%H:%M:%S %z', "
    "types: [code:integer, size:integer]}",
    "{regex: '^(?<k>[^=]*)=(?<v>.*)$', types: [v:float], "
    "skip_empty_values: on}",
    "{regex: '^(?<a>\\d+)?(?:-(?<b>\\w+))?(?<rest>.*)$', time_key: a, "
    "time_keep: on, types: [b:bool]}",
};

#define FUZZ_REGEX_N (sizeof(fuzz_regex_confs) / sizeof(fuzz_regex_confs[0]))

static struct sl_instance *fuzz_regex_ins[FUZZ_REGEX_N];
static struct sl_json_checker *fuzz_regex_ck;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sl_parse_result res;
    struct sl_errlist errs;
    struct sl_buf scratch;
    size_t k;

    if (size == 0) {
        return 0;
    }
    k = data[0] % FUZZ_REGEX_N;
    if (fuzz_regex_ins[k] == NULL) {
        sl_errlist_init(&errs);
        fuzz_regex_ins[k] = sl_instance_create_standalone(
            &sl_plugin_parser_regex, fuzz_regex_confs[k], &errs);
    }
    if (fuzz_regex_ck == NULL) {
        fuzz_regex_ck = sl_json_checker_create();
    }
    if (fuzz_regex_ins[k] == NULL || fuzz_regex_ck == NULL) {
        return 0; /* allocation failure injected: try on the next input */
    }
    sl_buf_init(&scratch, 0);
    res.scratch = &scratch;
    if (sl_instance_parse(fuzz_regex_ins[k], (const char *)data + 1, size - 1,
                          &res) == SL_OK &&
        sl_json_check(fuzz_regex_ck, res.body.ptr, res.body.len, NULL) !=
            SL_JSON_CHECK_OBJECT &&
        sl_mem_failures() == 0) {
        abort();
    }
    sl_buf_fini(&scratch);
    return 0;
}
