/*
 * test_redact.c - the redact filter: each detector, the three modes,
 * nested values, fields, options, and a property test: random text with
 * embedded secrets never lets a detected secret through in mask mode, and
 * masking is a fixed point (the output has nothing left to detect).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "plugin.h"
#include "test_util.h"
#include "sluice/banned.h"

extern const struct sl_plugin sl_plugin_filter_redact;

static struct sl_instance *make(const char *yaml)
{
    return tu_instance(&sl_plugin_filter_redact, yaml);
}

static void expect_error(const char *yaml, const char *want)
{
    struct sl_errlist errs;
    struct sl_instance *ins;
    bool found = false;
    size_t i;

    sl_errlist_init(&errs);
    ins = sl_instance_create_standalone(&sl_plugin_filter_redact, yaml, &errs);
    if (ins != NULL) {
        sl_instance_destroy(ins);
    }
    assert_null(ins);
    for (i = 0; i < errs.n; i++) {
        found |= strstr(errs.items[i].msg, want) != NULL;
        print_message("got: %s\n", errs.items[i].msg);
    }
    assert_true(found);
}

static void expect(struct sl_instance *ins, const char *in, const char *want)
{
    struct sl_buf out;

    sl_buf_init(&out, 0);
    assert_int_not_equal(
        sl_instance_filter(ins, SL_STR_LIT("t"), sl_str_cstr(in), &out),
        SL_FILTER_DROP);
    assert_string_equal(out.data, want);
    sl_buf_fini(&out);
}

static void test_detectors(void **state)
{
    struct sl_instance *ins = make("");

    (void)state;
    /* Card numbers: Luhn-valid only, grouped or not, also as numbers. */
    expect(ins, "{\"m\":\"pay 4111 1111 1111 1111 now\"}",
           "{\"m\":\"pay ***************1111 now\"}");
    expect(ins, "{\"m\":\"4111-1111-1111-1112\"}",
           "{\"m\":\"4111-1111-1111-1112\"}");
    expect(ins, "{\"n\":5500000000000004}", "{\"n\":\"************0004\"}");
    expect(ins, "{\"m\":\"card 4111111111111111 2024\"}",
           "{\"m\":\"card ************1111 2024\"}");
    expect(ins, "{\"m\":\"id 12345\"}", "{\"m\":\"id 12345\"}");
    /* E-mail, bearer tokens, JWTs, AWS keys. */
    expect(ins, "{\"m\":\"to: bob.smith@example.com.\"}",
           "{\"m\":\"to: *****************.com.\"}");
    expect(ins, "{\"h\":\"Bearer abcdefghijklmnop\"}",
           "{\"h\":\"Bearer ************mnop\"}");
    expect(ins,
           "{\"m\":\"t=eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig_nat-ure\"}",
           "{\"m\":\"t=********************************************"
           "-ure\"}");
    expect(ins, "{\"m\":\"key AKIAIOSFODNN7EXAMPLE\"}",
           "{\"m\":\"key ****************MPLE\"}");
    /* A private key block, with or without its END line. */
    expect(ins,
           "{\"k\":\"x -----BEGIN RSA PRIVATE KEY-----\\nMIIE\\n-----END "
           "RSA PRIVATE KEY----- y\"}",
           "{\"k\":\"x ****************************************"
           "************************** y\"}");
    expect(ins, "{\"k\":\"-----BEGIN PRIVATE KEY-----\\nMIIE\"}",
           "{\"k\":\"********************************\"}");
    /* IP addresses are off by default. */
    expect(ins, "{\"ip\":\"10.1.2.3\"}", "{\"ip\":\"10.1.2.3\"}");
    sl_instance_destroy(ins);
}

static void test_secret_keys_nested(void **state)
{
    struct sl_instance *ins = make("");

    (void)state;
    expect(ins,
           "{\"user\":{\"password\":\"hunter2hunter2\",\"db_token\":12345,"
           "\"credentials\":{\"a\":[\"x\",true,null]}},\"tokens\":3,"
           "\"list\":[{\"api_key\":\"k\"},\"bob@example.org\"]}",
           "{\"user\":{\"password\":\"**************\",\"db_token\":\"*****\","
           "\"credentials\":{\"a\":[\"*\",\"****\",null]}},\"tokens\":3,"
           "\"list\":[{\"api_key\":\"*\"},\"***********.org\"]}");
    /* Nothing found: the record keeps its bytes. */
    expect(ins, "{\"a\": \"plain text\", \"n\": 42}",
           "{\"a\": \"plain text\", \"n\": 42}");
    sl_instance_destroy(ins);
}

static void test_modes(void **state)
{
    char dir[] = "/tmp/sl_redact_XXXXXX";
    char key[128];
    char yaml[256];
    struct sl_instance *ins;
    FILE *f;

    (void)state;
    assert_non_null(mkdtemp(dir));
    snprintf(key, sizeof(key), "%s/k", dir);
    f = fopen(key, "w");
    assert_non_null(f);
    fputs("Jefe-Jefe-Jefe-Jefe\n", f);
    fclose(f);
    snprintf(yaml, sizeof(yaml), "{mode: hash, hash_key_file: %s}", key);
    ins = make(yaml);
    /* The same value hashes the same (joins work); values differ.  The
     * digests were checked with Python's hmac module. */
    expect(ins, "{\"a\":\"x a@b.io\",\"b\":\"a@b.io\",\"c\":\"c@b.io\"}",
           "{\"a\":\"x hmac:bd5286e048f653c9f004b4063d6419dc75306f5be67d99"
           "6b9d4af0dfee2c34e3\",\"b\":\"hmac:bd5286e048f653c9f004b4063d64"
           "19dc75306f5be67d996b9d4af0dfee2c34e3\",\"c\":\"hmac:5f744861962"
           "52a6a6c2becce63b9613737c16d8932356a0da673f9bb136c866c\"}");
    sl_instance_destroy(ins);
    unlink(key);
    rmdir(dir);
}

static void test_remove_fields_custom(void **state)
{
    struct sl_instance *ins;

    (void)state;
    ins = make("{mode: remove, detectors: [email]}");
    expect(ins, "{\"a\":\"x@y.com\",\"b\":[1,\"z@y.com\",2],\"c\":\"ok\"}",
           "{\"b\":[1,2],\"c\":\"ok\"}");
    sl_instance_destroy(ins);
    ins = make("{detectors: [ipv4, ipv6], fields: [\"$req['ip']\"], "
               "keep_last: 0, mask_char: '#'}");
    expect(
        ins,
        "{\"req\":{\"ip\":\"addr 192.168.1.10 or fe80::1ff:fe23:4567:890a\"},"
        "\"ip\":\"10.0.0.1\"}",
        "{\"req\":{\"ip\":\"addr ############ or ########################\"},"
        "\"ip\":\"10.0.0.1\"}");
    expect(ins, "{\"req\":{\"ip\":\"time 12:30:45\"}}",
           "{\"req\":{\"ip\":\"time 12:30:45\"}}");
    sl_instance_destroy(ins);
    ins = make("{detectors: [], custom: ['ssn \\b\\d{3}-\\d{2}-(\\d{4})\\b', "
               "'emp EMP[0-9]+']}");
    expect(ins, "{\"m\":\"ssn 123-45-6789 by EMP42\"}",
           "{\"m\":\"ssn 123-45-**** by *****\"}");
    sl_instance_destroy(ins);
}

static void test_errors(void **state)
{
    (void)state;
    expect_error("{detectors: [nope]}", "unknown detector 'nope'");
    expect_error("{detectors: []}", "no detector enabled");
    expect_error("{mode: hash}", "needs hash_key_file");
    expect_error("{mask_char: '**'}", "one printable ASCII");
    expect_error("{custom: ['bad (']}", "invalid regex for detector 'bad'");
    expect_error("{custom: ['nopattern']}", "expects 'NAME REGEX'");
}

/* ---- property test ---------------------------------------------------- */

static const char *const filler[] = {
    "user",     "logged", "in",   "from", "the",    "ORDER",       "id",
    "42",       "ok",     "x",    "-",    "=",      ":",           "2024-01-01",
    "12:00:01", "v1.2.3", "a/b",  "<",    "[]",     "caf\xc3\xa9", "\\",
    "tab\t",    "none",   "AKIA", "eyJ",  "Bearer", "@",
};

static unsigned rnd(unsigned *s)
{
    *s = *s * 1103515245u + 12345u;
    return (*s >> 16) & 0x7fff;
}

/* A random secret of a random kind into <out>. */
static void make_secret(unsigned *s, char *out, size_t n)
{
    static const char *const cards[] = { "4111111111111111",
                                         "5500 0000 0000 0004",
                                         "3782-822463-10005",
                                         "6011000990139424" };
    static const char alnum[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    char tok[40];
    size_t i;

    for (i = 0; i < 24; i++) {
        tok[i] = alnum[rnd(s) % 36];
    }
    tok[24] = '\0';
    switch (rnd(s) % 5) {
    case 0:
        snprintf(out, n, "%s", cards[rnd(s) % 4]);
        break;
    case 1:
        snprintf(out, n, "%.8s.%.5s@%.6s.com", tok, tok + 8, tok + 13);
        break;
    case 2:
        snprintf(out, n, "Bearer %.20s", tok);
        break;
    case 3:
        snprintf(out, n, "eyJ%.10s.eyJ%.8s.%.6s", tok, tok + 10, tok + 18);
        break;
    default:
        snprintf(out, n, "AKIA%.16s", tok + 4);
        break;
    }
}

/* The part of a secret that must never show (bearer: the token). */
static const char *secret_core(const char *secret)
{
    return strncmp(secret, "Bearer ", 7) == 0 ? secret + 7 : secret;
}

static void test_property_no_leak(void **state)
{
    struct sl_instance *ins = make("");
    struct sl_buf body;
    struct sl_buf out;
    struct sl_buf again;
    char secret[128];
    char text[1024];
    unsigned seed = 20261121u;
    size_t len;
    int iter;
    int k;

    (void)state;
    sl_buf_init(&body, 0);
    sl_buf_init(&out, 0);
    sl_buf_init(&again, 0);
    for (iter = 0; iter < 2000; iter++) {
        int where = (int)(rnd(&seed) % 6);

        len = 0;
        text[0] = '\0';
        make_secret(&seed, secret, sizeof(secret));
        for (k = 0; k < 6; k++) {
            if (k == where) {
                len += (size_t)snprintf(text + len, sizeof(text) - len, "%s ",
                                        secret);
            }
            len += (size_t)snprintf(text + len, sizeof(text) - len, "%s%s",
                                    filler[rnd(&seed) % 27],
                                    rnd(&seed) % 3 == 0 ? ", " : " ");
        }
        sl_buf_reset(&body);
        sl_buf_append_str(&body, "{\"msg\":");
        sl_json_write_string(&body, text, len);
        sl_buf_append_str(&body, "}");
        assert_int_equal(
            sl_instance_filter(ins, SL_STR_LIT("t"), sl_buf_str(&body), &out),
            SL_FILTER_MODIFIED);
        if (strstr(out.data, secret_core(secret)) != NULL) {
            print_message("leak of %s in %s\n", secret, out.data);
            fail();
        }
        /* A fixed point: nothing detectable is left. */
        if (sl_instance_filter(ins, SL_STR_LIT("t"), sl_buf_str(&out),
                               &again) != SL_FILTER_KEEP) {
            print_message("not a fixed point: %s -> %s\n", out.data,
                          again.data);
            fail();
        }
    }
    sl_buf_fini(&body);
    sl_buf_fini(&out);
    sl_buf_fini(&again);
    sl_instance_destroy(ins);
}

static void test_oom(void **state)
{
    struct sl_errlist errs;
    struct sl_instance *ins;
    struct sl_buf out;
    long k;

    (void)state;
    sl_buf_init(&out, 0);
    for (k = 0; k < 200; k++) {
        sl_errlist_init(&errs);
        sl_mem_fail_after(k);
        ins = sl_instance_create_standalone(
            &sl_plugin_filter_redact, "{detectors: [email, card]}", &errs);
        if (ins != NULL) {
            sl_instance_filter(ins, SL_STR_LIT("t"),
                               SL_STR_LIT("{\"a\":\"x@y.com\"}"), &out);
        }
        sl_mem_fail_after(-1);
        if (ins != NULL) {
            sl_instance_destroy(ins);
        }
    }
    sl_buf_fini(&out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_detectors),
        cmocka_unit_test(test_secret_keys_nested),
        cmocka_unit_test(test_modes),
        cmocka_unit_test(test_remove_fields_custom),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_property_no_leak),
        cmocka_unit_test(test_oom),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
