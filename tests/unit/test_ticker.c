/*
 * test_ticker.c - periodic timers (sluice/ticker.h) on a real libevent
 * loop: the first call comes at once, later ones every interval, stop
 * ends the calls, and bad arguments are refused.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include <event2/event.h>

#include "sluice/error.h"
#include "sluice/ticker.h"
#include "sluice/timeutil.h"
#include "sluice/banned.h"

struct tick_state {
    struct event_base *base;
    struct sl_ticker t;
    int calls;
    int stop_at;
    int64_t first_ns, last_ns;
};

static void tick_count(void *arg)
{
    struct tick_state *st = arg;
    int64_t now = sl_time_mono_ns();

    if (st->calls == 0) {
        st->first_ns = now;
    }
    st->last_ns = now;
    st->calls++;
    if (st->calls == st->stop_at) {
        sl_ticker_stop(&st->t);
        event_base_loopbreak(st->base);
    }
}

/* Runs a ticker of <interval_ms> on a new loop until its <stop_at>-th
 * call stops it; returns when the call that started it did. */
static int64_t tick_run(struct tick_state *st, int64_t interval_ms, int stop_at)
{
    int64_t start;

    memset(st, 0, sizeof(*st));
    st->base = event_base_new();
    st->stop_at = stop_at;
    assert_non_null(st->base);
    start = sl_time_mono_ns();
    assert_int_equal(
        sl_ticker_start(&st->t, st->base, interval_ms, tick_count, st), SL_OK);
    assert_int_equal(event_base_dispatch(st->base), 0);
    assert_int_equal(st->calls, stop_at);
    assert_null(st->t.ev);
    return start;
}

/* The first call does not wait for the interval: with a 10 s interval
 * it comes long before. */
static void test_ticker_first_at_once(void **state)
{
    struct tick_state st;
    int64_t start;

    (void)state;
    start = tick_run(&st, 10000, 1);
    assert_true(st.first_ns - start < INT64_C(5000) * 1000000);
    event_base_free(st.base);
}

/* Three calls 20 ms apart; once stopped, nothing is left armed, so the
 * loop returns 1 at once. */
static void test_ticker_periodic(void **state)
{
    struct tick_state st;

    (void)state;
    tick_run(&st, 20, 3);
    assert_true(st.last_ns - st.first_ns >= INT64_C(38) * 1000000);
    assert_int_equal(event_base_dispatch(st.base), 1);
    assert_int_equal(st.calls, 3);
    event_base_free(st.base);
}

static void test_ticker_args(void **state)
{
    struct tick_state st;

    (void)state;
    memset(&st, 0, sizeof(st));
    st.base = event_base_new();
    assert_non_null(st.base);
    sl_ticker_stop(&st.t);
    assert_int_equal(sl_ticker_start(&st.t, st.base, 0, tick_count, &st),
                     SL_EINVAL);
    assert_int_equal(sl_ticker_start(&st.t, st.base, 10, NULL, &st), SL_EINVAL);
    assert_int_equal(sl_ticker_start(&st.t, st.base, 10, tick_count, &st),
                     SL_OK);
    assert_int_equal(sl_ticker_start(&st.t, st.base, 10, tick_count, &st),
                     SL_EINVAL);
    sl_ticker_stop(&st.t);
    sl_ticker_stop(&st.t);
    assert_null(st.t.ev);
    assert_int_equal(event_base_dispatch(st.base), 1);
    assert_int_equal(st.calls, 0);
    event_base_free(st.base);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ticker_first_at_once),
        cmocka_unit_test(test_ticker_periodic),
        cmocka_unit_test(test_ticker_args),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
