/*
 * test_typed.c - typed values for parsers (sluice/typed.h): the "types"
 * items and every conversion, including overflow, bad input and empty
 * values.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "sluice/mem.h"
#include "sluice/typed.h"
#include "sluice/banned.h"

/* <v> written as <type>, as a NUL-terminated string in <out>. */
static const char *conv_n(struct sl_buf *out, const char *v, size_t n,
                          enum sl_typed_type type)
{
    sl_buf_reset(out);
    assert_int_equal(sl_typed_write(out, sl_str_make(v, n), type), SL_OK);
    return out->data;
}

static const char *conv(struct sl_buf *out, const char *v,
                        enum sl_typed_type type)
{
    return conv_n(out, v, strlen(v), type);
}

static void test_typed_integer(void **state)
{
    struct sl_buf b;

    (void)state;
    sl_buf_init(&b, 0);
    assert_string_equal(conv(&b, "42", SL_TYPED_INTEGER), "42");
    assert_string_equal(conv(&b, "-7", SL_TYPED_INTEGER), "-7");
    assert_string_equal(conv(&b, "+7", SL_TYPED_INTEGER), "7");
    assert_string_equal(conv(&b, "007", SL_TYPED_INTEGER), "7");
    assert_string_equal(conv(&b, "9223372036854775807", SL_TYPED_INTEGER),
                        "9223372036854775807");
    assert_string_equal(conv(&b, "-9223372036854775808", SL_TYPED_INTEGER),
                        "-9223372036854775808");
    /* Overflow on either side stays a string. */
    assert_string_equal(conv(&b, "9223372036854775808", SL_TYPED_INTEGER),
                        "\"9223372036854775808\"");
    assert_string_equal(conv(&b, "-9223372036854775809", SL_TYPED_INTEGER),
                        "\"-9223372036854775809\"");
    /* Bad input stays a string. */
    assert_string_equal(conv(&b, "five", SL_TYPED_INTEGER), "\"five\"");
    assert_string_equal(conv(&b, "12ms", SL_TYPED_INTEGER), "\"12ms\"");
    assert_string_equal(conv(&b, "1.5", SL_TYPED_INTEGER), "\"1.5\"");
    assert_string_equal(conv(&b, "0x10", SL_TYPED_INTEGER), "\"0x10\"");
    assert_string_equal(conv(&b, " 1", SL_TYPED_INTEGER), "\" 1\"");
    assert_string_equal(conv(&b, "1 ", SL_TYPED_INTEGER), "\"1 \"");
    assert_string_equal(conv(&b, "-", SL_TYPED_INTEGER), "\"-\"");
    sl_buf_fini(&b);
}

static void test_typed_float(void **state)
{
    struct sl_buf b;

    (void)state;
    sl_buf_init(&b, 0);
    /* JSON numbers are copied as they are. */
    assert_string_equal(conv(&b, "1e3", SL_TYPED_FLOAT), "1e3");
    assert_string_equal(conv(&b, "-0.50", SL_TYPED_FLOAT), "-0.50");
    assert_string_equal(conv(&b, "12", SL_TYPED_FLOAT), "12");
    assert_string_equal(conv(&b, "1E+400", SL_TYPED_FLOAT), "1E+400");
    /* Other strtod forms are rewritten as JSON. */
    assert_string_equal(conv(&b, "0x10", SL_TYPED_FLOAT), "16");
    assert_string_equal(conv(&b, ".5", SL_TYPED_FLOAT), "0.5");
    assert_string_equal(conv(&b, "+2.25", SL_TYPED_FLOAT), "2.25");
    assert_string_equal(
        conv(&b, "0.1000000000000000055511151231257827", SL_TYPED_FLOAT),
        "0.1000000000000000055511151231257827");
    assert_string_equal(conv(&b, "+0.1", SL_TYPED_FLOAT), "0.1");
    assert_string_equal(conv(&b, "007", SL_TYPED_FLOAT), "7");
    assert_string_equal(conv(&b, "1.", SL_TYPED_FLOAT), "1");
    /* Not finite, out of range for strtod, or junk: a string. */
    assert_string_equal(conv(&b, "inf", SL_TYPED_FLOAT), "\"inf\"");
    assert_string_equal(conv(&b, "NaN", SL_TYPED_FLOAT), "\"NaN\"");
    assert_string_equal(conv(&b, "+1e999", SL_TYPED_FLOAT), "\"+1e999\"");
    assert_string_equal(conv(&b, "1e", SL_TYPED_FLOAT), "\"1e\"");
    assert_string_equal(conv(&b, "1.5s", SL_TYPED_FLOAT), "\"1.5s\"");
    assert_string_equal(conv(&b, "\t1", SL_TYPED_FLOAT), "\"\\t1\"");
    sl_buf_fini(&b);
}

static void test_typed_bool_and_string(void **state)
{
    struct sl_buf b;

    (void)state;
    sl_buf_init(&b, 0);
    assert_string_equal(conv(&b, "true", SL_TYPED_BOOL), "true");
    assert_string_equal(conv(&b, "TRUE", SL_TYPED_BOOL), "true");
    assert_string_equal(conv(&b, "False", SL_TYPED_BOOL), "false");
    assert_string_equal(conv(&b, "yes", SL_TYPED_BOOL), "\"yes\"");
    assert_string_equal(conv(&b, "1", SL_TYPED_BOOL), "\"1\"");
    assert_string_equal(conv(&b, "truex", SL_TYPED_BOOL), "\"truex\"");
    assert_string_equal(conv(&b, "42", SL_TYPED_STRING), "\"42\"");
    assert_string_equal(conv(&b, "a\"b", SL_TYPED_STRING), "\"a\\\"b\"");
    sl_buf_fini(&b);
}

static void test_typed_empty_nul_long(void **state)
{
    char big[200];
    struct sl_buf b;

    (void)state;
    sl_buf_init(&b, 0);
    assert_string_equal(conv(&b, "", SL_TYPED_INTEGER), "\"\"");
    assert_string_equal(conv(&b, "", SL_TYPED_FLOAT), "\"\"");
    assert_string_equal(conv(&b, "", SL_TYPED_BOOL), "\"\"");
    assert_string_equal(conv(&b, "", SL_TYPED_STRING), "\"\"");
    /* A NUL must not end the conversion early (found by fuzz_logfmt). */
    assert_string_equal(conv_n(&b, "1\0x", 3, SL_TYPED_INTEGER),
                        "\"1\\u0000x\"");
    assert_string_equal(conv_n(&b, "true\0", 5, SL_TYPED_BOOL),
                        "\"true\\u0000\"");
    /* Values past the stack copy go through a heap copy. */
    memset(big, '0', sizeof(big));
    big[sizeof(big) - 1] = '\0';
    big[sizeof(big) - 2] = '9';
    assert_string_equal(conv(&b, big, SL_TYPED_INTEGER), "9");
    big[0] = '1';
    conv(&b, big, SL_TYPED_INTEGER);
    assert_int_equal(b.len, sizeof(big) + 1); /* overflow: a string */
    assert_int_equal(b.data[0], '"');
    sl_buf_fini(&b);
}

static void test_typed_long_overflow_oom(void **state)
{
    char big[100];
    struct sl_buf b;
    int rc;

    (void)state;
    sl_buf_init(&b, 0);
    memset(big, '9', sizeof(big));
    big[sizeof(big) - 1] = '\0';
    sl_buf_reset(&b);
    assert_int_equal(sl_typed_write(&b, sl_str_cstr(big), SL_TYPED_INTEGER),
                     SL_OK);
    assert_int_equal(b.len, sizeof(big) + 1);
    assert_int_equal(b.data[0], '"');
    /* The heap copy may fail; the buffer is then left as it was. */
    sl_buf_reset(&b);
    sl_mem_fail_after(0);
    rc = sl_typed_write(&b, sl_str_cstr(big), SL_TYPED_FLOAT);
    sl_mem_fail_after(-1);
    assert_int_equal(rc, SL_ENOMEM);
    assert_int_equal(b.len, 0);
    sl_buf_fini(&b);
}

static void test_typed_parse_item(void **state)
{
    struct sl_typed_key k;
    struct sl_err err;

    (void)state;
    assert_int_equal(sl_typed_parse_item("code:integer", &k, &err), SL_OK);
    assert_true(sl_str_eq_cstr(k.key, "code"));
    assert_int_equal(k.type, SL_TYPED_INTEGER);
    /* The last ':' separates, so keys may hold one. */
    assert_int_equal(sl_typed_parse_item("a:b:bool", &k, &err), SL_OK);
    assert_true(sl_str_eq_cstr(k.key, "a:b"));
    assert_int_equal(k.type, SL_TYPED_BOOL);
    assert_int_equal(sl_typed_parse_item("f:float", &k, &err), SL_OK);
    assert_int_equal(k.type, SL_TYPED_FLOAT);
    assert_int_equal(sl_typed_parse_item("s:string", &k, &err), SL_OK);
    assert_int_equal(k.type, SL_TYPED_STRING);
    assert_int_equal(sl_typed_parse_item("nocolon", &k, &err), SL_ECONFIG);
    assert_string_equal(err.msg, "types: 'nocolon' is not key:type with type "
                                 "one of integer, float, bool, string");
    assert_int_equal(sl_typed_parse_item(":integer", &k, &err), SL_ECONFIG);
    assert_non_null(strstr(err.msg, "':integer'"));
    assert_int_equal(sl_typed_parse_item("a:int", &k, &err), SL_ECONFIG);
    assert_non_null(strstr(err.msg, "'a:int'"));
    assert_int_equal(sl_typed_parse_item("a:", &k, &err), SL_ECONFIG);
    assert_int_equal(sl_typed_parse_item("a:Integer", &k, &err), SL_ECONFIG);
}

static void test_typed_set(void **state)
{
    char *items[] = { "n:integer", "ok:bool", "n:float" };
    struct sl_strlist l = { .n = 3, .v = items };
    struct sl_strlist none = { 0 };
    struct sl_typed t;
    struct sl_err err;

    (void)state;
    assert_int_equal(sl_typed_init(&t, &l, &err), SL_OK);
    assert_int_equal(t.n, 3);
    /* The first item for a key wins. */
    assert_int_equal(sl_typed_find(&t, sl_str_cstr("n")), SL_TYPED_INTEGER);
    assert_int_equal(sl_typed_find(&t, sl_str_cstr("ok")), SL_TYPED_BOOL);
    assert_int_equal(sl_typed_find(&t, sl_str_cstr("o")), SL_TYPED_STRING);
    assert_int_equal(sl_typed_find(&t, sl_str_cstr("other")), SL_TYPED_STRING);
    sl_typed_fini(&t);
    sl_typed_fini(&t);
    assert_int_equal(sl_typed_init(&t, &none, &err), SL_OK);
    assert_int_equal(sl_typed_find(&t, sl_str_cstr("n")), SL_TYPED_STRING);
    sl_typed_fini(&t);
    items[1] = "ok";
    assert_int_equal(sl_typed_init(&t, &l, &err), SL_ECONFIG);
    assert_non_null(strstr(err.msg, "'ok' is not key:type"));
    assert_null(t.keys);
    assert_int_equal(t.n, 0);
}

static void test_typed_init_oom(void **state)
{
    char *items[] = { "n:integer" };
    struct sl_strlist l = { .n = 1, .v = items };
    struct sl_typed t;
    struct sl_err err;
    int rc;

    (void)state;
    sl_mem_fail_after(0);
    rc = sl_typed_init(&t, &l, &err);
    sl_mem_fail_after(-1);
    assert_int_equal(rc, SL_ENOMEM);
    assert_null(t.keys);
    assert_int_equal(t.n, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_typed_integer),
        cmocka_unit_test(test_typed_float),
        cmocka_unit_test(test_typed_bool_and_string),
        cmocka_unit_test(test_typed_empty_nul_long),
        cmocka_unit_test(test_typed_long_overflow_oom),
        cmocka_unit_test(test_typed_parse_item),
        cmocka_unit_test(test_typed_set),
        cmocka_unit_test(test_typed_init_oom),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
