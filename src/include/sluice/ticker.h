/*
 * ticker.h - a periodic timer on an event loop, for plugins that do work
 * every interval (e.g. pushing or writing the daemon's own metrics from an
 * output worker).
 *
 * A ticker fires once as soon as the loop runs, then every interval_ms
 * after the previous call returned (fixed delay, never two calls at
 * once).  It runs on the thread of the loop it was started on; nothing
 * here is thread-safe.
 */
#ifndef SLUICE_TICKER_H
#define SLUICE_TICKER_H

#include <stdint.h>

struct event;
struct event_base;

typedef void (*sl_ticker_fn)(void *arg);

/* Embed it; zeroed (or stopped) it is idle. */
struct sl_ticker {
    struct event *ev;
    int64_t interval_ms;
    sl_ticker_fn fn;
    void *arg;
};

/* Arms <t> on <base>: <fn>(<arg>) runs at the loop's next turn, then every
 * <interval_ms> (>= 1) after each call returns.  Returns SL_OK, SL_EINVAL
 * for a bad interval or an armed <t>, or SL_ENOMEM. */
int sl_ticker_start(struct sl_ticker *t, struct event_base *base,
                    int64_t interval_ms, sl_ticker_fn fn, void *arg);

/* Disarms <t> and frees its event; <fn> is not called again.  Safe on a
 * zeroed or stopped <t>, and from inside <fn>. */
void sl_ticker_stop(struct sl_ticker *t);

#endif
