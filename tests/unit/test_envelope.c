/*
 * test_envelope.c - time and tag keys spliced into line outputs' records.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "sluice/envelope.h"
#include "sluice/banned.h"

/* 2026-11-21T07:04:20.123456789Z */
#define TS INT64_C(1795244660123456789)

static const char *line(const char *time_key, int fmt, const char *tag_key,
                        const char *body, struct sl_buf *out)
{
    struct sl_envelope_conf c = { .time_key = (char *)time_key,
                                  .time_format = fmt,
                                  .tag_key = (char *)tag_key };
    struct sl_envelope e;
    struct sl_buf tagm;
    struct sl_event ev = { .ts_ns = TS, .body = sl_str_cstr(body) };

    sl_buf_init(&tagm, 0);
    sl_buf_reset(out);
    assert_int_equal(sl_envelope_init(&e, &c), SL_OK);
    assert_int_equal(sl_envelope_tag(&e, sl_str_cstr("app.\"x"), &tagm), SL_OK);
    assert_int_equal(sl_envelope_line(&e, &tagm, &ev, out), SL_OK);
    sl_envelope_fini(&e);
    sl_buf_fini(&tagm);
    return out->data;
}

static void test_passthrough(void **state)
{
    struct sl_buf out;

    (void)state;
    sl_buf_init(&out, 0);
    assert_string_equal(line(NULL, 0, NULL, "{\"a\" : 1}", &out),
                        "{\"a\" : 1}\n");
    sl_buf_fini(&out);
}

static void test_time_and_tag(void **state)
{
    struct sl_buf out;

    (void)state;
    sl_buf_init(&out, 0);
    assert_string_equal(line("t", SL_ENVELOPE_RFC3339, "tag", "{\"a\":1}", &out),
                        "{\"t\":\"2026-11-21T07:04:20.123Z\",\"tag\":\"app.\\\"x\","
                        "\"a\":1}\n");
    assert_string_equal(line("t", SL_ENVELOPE_EPOCH, NULL, "{}", &out),
                        "{\"t\":1795244660.123}\n");
    assert_string_equal(line("t", SL_ENVELOPE_EPOCH_MS, NULL, "{\"a\":1}", &out),
                        "{\"t\":1795244660123,\"a\":1}\n");
    assert_string_equal(line("t", SL_ENVELOPE_EPOCH_NS, NULL, "{\"a\":1}", &out),
                        "{\"t\":1795244660123456789,\"a\":1}\n");
    assert_string_equal(line(NULL, 0, "tag", "{}", &out),
                        "{\"tag\":\"app.\\\"x\"}\n");
    sl_buf_fini(&out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_passthrough),
        cmocka_unit_test(test_time_and_tag),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
