/*
 * fuzz_redact.c - the redact filter on arbitrary records.
 *
 * The first input byte picks one of three configurations (every detector
 * in mask mode; remove mode; ipv4/ipv6 and a custom pattern on one field),
 * the rest is the record: used as is when it is a JSON object, otherwise
 * wrapped as {"msg": "<bytes>"}.  In mask mode, whatever comes out must be
 * a fixed point: running the filter again finds nothing (abort otherwise).
 * Instances are created and destroyed per input, so injected allocation
 * failures reach init and exit too, and nothing leaks.
 */
#include <stdint.h>
#include <stdlib.h>

#include "plugin.h"
#include "sluice/banned.h"

extern const struct sl_plugin sl_plugin_filter_redact;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const fuzz_redact_confs[] = {
    "{detectors: [card, email, bearer, jwt, aws_key, private_key, "
    "secret_keys, ipv4, ipv6]}",
    "{mode: remove}",
    "{detectors: [ipv4, ipv6], custom: ['id ID-(\\d+)'], fields: [msg, "
    "\"$a['b']\"], keep_last: 2, mask_char: '#'}",
};

#define FUZZ_REDACT_N (sizeof(fuzz_redact_confs) / sizeof(fuzz_redact_confs[0]))

static void fuzz_redact_body(const uint8_t *p, size_t n, struct sl_buf *body)
{
    struct sl_json_checker *ck = sl_json_checker_create();
    enum sl_json_check_result r = SL_JSON_CHECK_INVALID;

    if (ck != NULL) {
        r = sl_json_check(ck, (const char *)p, n, NULL);
        sl_json_checker_destroy(ck);
    }
    if (r == SL_JSON_CHECK_OBJECT) {
        sl_buf_append(body, p, n);
        return;
    }
    if (sl_buf_append_str(body, "{\"msg\":") != SL_OK ||
        sl_json_write_string(body, (const char *)p, n) != SL_OK ||
        sl_buf_putc(body, '}') != SL_OK) {
        sl_buf_reset(body);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sl_errlist errs;
    struct sl_instance *ins;
    struct sl_buf body;
    struct sl_buf out;
    struct sl_buf again;
    enum sl_filter_result r;
    size_t k;

    if (size == 0) {
        return 0;
    }
    k = data[0] % FUZZ_REDACT_N;
    sl_errlist_init(&errs);
    ins = sl_instance_create_standalone(&sl_plugin_filter_redact,
                                        fuzz_redact_confs[k], &errs);
    if (ins == NULL) {
        return 0; /* allocation failure injected */
    }
    sl_buf_init(&body, 0);
    sl_buf_init(&out, 0);
    sl_buf_init(&again, 0);
    fuzz_redact_body(data + 1, size - 1, &body);
    if (body.len > 0) {
        r = sl_instance_filter(ins, SL_STR_LIT("t"), sl_buf_str(&body), &out);
        /* A fixed point in mask mode (when memory did not run out). */
        if (k == 0 && r == SL_FILTER_MODIFIED && out.len > 0 &&
            sl_mem_failures() == 0 &&
            sl_instance_filter(ins, SL_STR_LIT("t"), sl_buf_str(&out),
                               &again) != SL_FILTER_KEEP &&
            sl_mem_failures() == 0) {
            abort();
        }
    }
    sl_buf_fini(&body);
    sl_buf_fini(&out);
    sl_buf_fini(&again);
    sl_instance_destroy(ins);
    return 0;
}
