/*
 * ticker.c - periodic timers on a libevent loop (see sluice/ticker.h).
 *
 * One one-shot evtimer per ticker, re-armed after each call, so that a
 * slow call delays the next one instead of piling calls up.  Runs on the
 * thread of its loop only.
 */
#include <event2/event.h>

#include "sluice/error.h"
#include "sluice/ticker.h"
#include "sluice/banned.h"

static void ticker_arm(struct sl_ticker *t, int64_t ms)
{
    struct timeval tv = {
        .tv_sec = (time_t)(ms / 1000),
        .tv_usec = (suseconds_t)(ms % 1000) * 1000,
    };

    event_add(t->ev, &tv);
}

static void ticker_cb(evutil_socket_t fd, short what, void *arg)
{
    struct sl_ticker *t = arg;

    (void)fd;
    (void)what;
    t->fn(t->arg);
    /* <fn> may have stopped the ticker. */
    if (t->ev != NULL) {
        ticker_arm(t, t->interval_ms);
    }
}

int sl_ticker_start(struct sl_ticker *t, struct event_base *base,
                    int64_t interval_ms, sl_ticker_fn fn, void *arg)
{
    if (t->ev != NULL || interval_ms < 1 || fn == NULL) {
        return SL_EINVAL;
    }
    t->ev = evtimer_new(base, ticker_cb, t);
    if (t->ev == NULL) {
        return SL_ENOMEM;
    }
    t->interval_ms = interval_ms;
    t->fn = fn;
    t->arg = arg;
    ticker_arm(t, 0);
    return SL_OK;
}

void sl_ticker_stop(struct sl_ticker *t)
{
    if (t->ev != NULL) {
        event_free(t->ev);
        t->ev = NULL;
    }
}
