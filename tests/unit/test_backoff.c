/*
 * test_backoff.c - exponential backoff with full jitter.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "backoff.h"
#include "sluice/banned.h"

static void test_backoff_caps(void **state)
{
    (void)state;
    assert_int_equal(sl_backoff_cap_ms(1000, 60000, 1), 1000);
    assert_int_equal(sl_backoff_cap_ms(1000, 60000, 2), 2000);
    assert_int_equal(sl_backoff_cap_ms(1000, 60000, 3), 4000);
    assert_int_equal(sl_backoff_cap_ms(1000, 60000, 6), 32000);
    assert_int_equal(sl_backoff_cap_ms(1000, 60000, 7), 60000);
    assert_int_equal(sl_backoff_cap_ms(1000, 60000, 1000), 60000);
    /* max below base: base wins. */
    assert_int_equal(sl_backoff_cap_ms(500, 100, 3), 500);
}

static void test_backoff_jitter_bounds(void **state)
{
    uint64_t rng = 42;
    unsigned attempt, i;
    int64_t lo, hi, d, cap;

    (void)state;
    for (attempt = 1; attempt <= 10; attempt++) {
        cap = sl_backoff_cap_ms(100, 5000, attempt);
        lo = cap;
        hi = 0;
        for (i = 0; i < 2000; i++) {
            d = sl_backoff_ms(100, 5000, attempt, 0, &rng);
            assert_true(d >= 1 && d <= cap);
            lo = d < lo ? d : lo;
            hi = d > hi ? d : hi;
        }
        /* Full jitter: values spread over [0, cap]. */
        assert_true(lo <= cap / 10 + 1);
        assert_true(hi >= cap - cap / 10);
    }
}

static void test_backoff_retry_after(void **state)
{
    uint64_t rng = 7;
    unsigned i;

    (void)state;
    for (i = 0; i < 100; i++) {
        assert_true(sl_backoff_ms(100, 1000, 1, 30000, &rng) >= 30000);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_backoff_caps),
        cmocka_unit_test(test_backoff_jitter_bounds),
        cmocka_unit_test(test_backoff_retry_after),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
