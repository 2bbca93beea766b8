/*
 * timeutil.h - clocks and time text.
 *
 * Event times are int64_t nanoseconds since the epoch, UTC.
 */
#ifndef SLUICE_TIMEUTIL_H
#define SLUICE_TIMEUTIL_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "str.h"

#define SL_NS_PER_S INT64_C(1000000000)
#define SL_NS_PER_MS INT64_C(1000000)

/* Wall clock (CLOCK_REALTIME) and monotonic clock, in ns. */
int64_t sl_time_now_ns(void);
int64_t sl_time_mono_ns(void);

/* Seconds since the epoch of a UTC calendar time, without timegm(3)'s
 * cost (it normalises through the time-zone code): <mon> 1-12; <mday>,
 * <hour>, <min> and <sec> may run past their usual ranges (they are added
 * linearly, so mday 32 of January is February 1st). */
int64_t sl_time_civil_s(int year, int mon, int mday, int hour, int min,
                        int sec);

/* Writes <ns> as RFC 3339 UTC ("2026-11-21T06:51:00.123456789Z") with
 * <frac_digits> (0, 3, 6 or 9) fraction digits into <out>; returns the
 * length written (excluding NUL) or 0 when <outlen> is too small. */
size_t sl_time_format_rfc3339(int64_t ns, int frac_digits, char *out,
                              size_t outlen);

/* Parses <text> with the strptime-style <format> into ns since the epoch.
 * Supported beyond strptime: %z accepts "Z", "+hh:mm", "+hhmm"; "%L" or a
 * fraction right after %S ("%S.%L", or ".123456" following seconds when the
 * format has "%S") reads up to 9 fraction digits; "%s" epoch seconds with
 * an optional fraction.  Without %z the time is taken as UTC.  NULL or ""
 * <format> tries RFC 3339 / ISO 8601 and numeric epoch (s, ms, us, ns by
 * magnitude).  Returns SL_OK or SL_EPARSE. */
int sl_time_parse(struct sl_str text, const char *format, int64_t *ns);

#endif
