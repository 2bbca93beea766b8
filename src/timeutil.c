/*
 * timeutil.c - clocks, RFC 3339 output and a strptime-like time parser
 * (see sluice/timeutil.h).
 *
 * The parser is our own rather than strptime(3): strptime depends on the
 * locale (month names), has no fractions and reads %z differently across
 * libcs.  Month and day names are matched in English, case-insensitively,
 * whatever the process locale is.  Broken-down time is turned into seconds
 * with timegm(3), so the TZ environment variable never matters.
 *
 * Thread-safe: no state.  Never reads past the <text> view it is given
 * (it is not NUL-terminated).
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "sluice/timeutil.h"
#include "sluice/banned.h"

/* Largest and smallest seconds whose nanoseconds fit in int64_t. */
#define TIME_MAX_S INT64_C(9223372035)
#define TIME_MIN_S INT64_C(-9223372035)

int64_t sl_time_civil_s(int year, int mon, int mday, int hour, int min,
                        int sec)
{
    /* Days from the civil date (proleptic Gregorian), in the 400-year era
     * form that needs no tables and no branches on leap years. */
    int64_t y = (int64_t)year - (mon <= 2);
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t mp = (mon + 9) % 12;
    int64_t doy = (153 * mp + 2) / 5;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    int64_t days = era * 146097 + doe - 719468 + (mday - 1);

    return days * 86400 + (int64_t)hour * 3600 + (int64_t)min * 60 + sec;
}

int64_t sl_time_now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * SL_NS_PER_S + ts.tv_nsec;
}

int64_t sl_time_mono_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * SL_NS_PER_S + ts.tv_nsec;
}

size_t sl_time_format_rfc3339(int64_t ns, int frac_digits, char *out,
                              size_t outlen)
{
    int64_t s = ns / SL_NS_PER_S, frac = ns % SL_NS_PER_S;
    time_t t;
    struct tm tm;
    char fr[16] = "";
    int n, k;

    if (frac_digits < 0 || frac_digits > 9) {
        return 0;
    }
    if (frac < 0) {
        frac += SL_NS_PER_S;
        s--;
    }
    t = (time_t)s;
    if (gmtime_r(&t, &tm) == NULL) {
        return 0;
    }
    if (frac_digits > 0) {
        for (k = 9; k > frac_digits; k--) {
            frac /= 10;
        }
        snprintf(fr, sizeof(fr), ".%0*lld", frac_digits, (long long)frac);
    }
    n = snprintf(out, outlen, "%04d-%02d-%02dT%02d:%02d:%02d%sZ",
                 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                 tm.tm_min, tm.tm_sec, fr);
    if (n < 0 || (size_t)n >= outlen) {
        return 0;
    }
    return (size_t)n;
}

/* ---- parsing ---- */

/* What the directives found. */
struct tp {
    const char *s; /* text */
    size_t n, i;   /* length, cursor */
    int year, mon, mday, hour, min, sec, yday;
    int pm; /* -1 unset, 0 AM, 1 PM */
    int64_t frac_ns;
    int off_s;
    bool have_epoch;
    int64_t epoch_s;
};

static const char *const time_months[] = {
    "january", "february", "march",     "april",   "may",      "june",
    "july",    "august",   "september", "october", "november", "december",
};

static const char *const time_days[] = {
    "sunday",   "monday", "tuesday",  "wednesday",
    "thursday", "friday", "saturday",
};

static bool tp_digit(const struct tp *t)
{
    return t->i < t->n && t->s[t->i] >= '0' && t->s[t->i] <= '9';
}

/* Reads 1..<max> digits into <out>, within [<lo>, <hi>]. */
static bool tp_num(struct tp *t, int max, int lo, int hi, int *out)
{
    int v = 0, k = 0;

    while (k < max && tp_digit(t)) {
        v = v * 10 + (t->s[t->i++] - '0');
        k++;
    }
    if (k == 0 || v < lo || v > hi) {
        return false;
    }
    *out = v;
    return true;
}

/* Reads up to 9 fraction digits (more are skipped) as nanoseconds. */
static bool tp_frac(struct tp *t)
{
    int64_t v = 0;
    int k = 0;

    if (!tp_digit(t)) {
        return false;
    }
    while (tp_digit(t)) {
        if (k < 9) {
            v = v * 10 + (t->s[t->i] - '0');
            k++;
        }
        t->i++;
    }
    for (; k < 9; k++) {
        v *= 10;
    }
    t->frac_ns = v;
    return true;
}

/* Matches an English name (at least the 3-letter abbreviation, or the
 * whole name) from <names>; returns its index or -1. */
static int tp_name(struct tp *t, const char *const *names, int count)
{
    int k;
    size_t len, rest = t->n - t->i;

    for (k = 0; k < count; k++) {
        len = strlen(names[k]);
        if (rest >= len && strncasecmp(t->s + t->i, names[k], len) == 0) {
            t->i += len;
            return k;
        }
        if (rest >= 3 && strncasecmp(t->s + t->i, names[k], 3) == 0) {
            t->i += 3;
            return k;
        }
    }
    return -1;
}

/* "Z", "+hh:mm", "+hhmm" or "+hh". */
static bool tp_zone(struct tp *t)
{
    int sign, hh, mm = 0;

    if (t->i < t->n && (t->s[t->i] == 'Z' || t->s[t->i] == 'z')) {
        t->i++;
        t->off_s = 0;
        return true;
    }
    if (t->i >= t->n || (t->s[t->i] != '+' && t->s[t->i] != '-')) {
        return false;
    }
    sign = t->s[t->i++] == '-' ? -1 : 1;
    if (t->n - t->i < 2 || !tp_num(t, 2, 0, 23, &hh)) {
        return false;
    }
    if (t->i < t->n && t->s[t->i] == ':') {
        t->i++;
        if (!tp_num(t, 2, 0, 59, &mm)) {
            return false;
        }
    } else if (tp_digit(t) && !tp_num(t, 2, 0, 59, &mm)) {
        return false;
    }
    t->off_s = sign * (hh * 3600 + mm * 60);
    return true;
}

/* %Z: only zone names that mean UTC are understood. */
static bool tp_zone_name(struct tp *t)
{
    static const char *const utc[] = { "UTC", "GMT", "Z" };
    size_t k, len;

    for (k = 0; k < sizeof(utc) / sizeof(utc[0]); k++) {
        len = strlen(utc[k]);
        if (t->n - t->i >= len && strncasecmp(t->s + t->i, utc[k], len) == 0) {
            t->i += len;
            t->off_s = 0;
            return true;
        }
    }
    return tp_zone(t);
}

/* "%s": epoch seconds with an optional fraction. */
static bool tp_epoch(struct tp *t)
{
    bool neg = false;
    int64_t v = 0;
    int k = 0;

    if (t->i < t->n && t->s[t->i] == '-') {
        neg = true;
        t->i++;
    }
    while (tp_digit(t)) {
        v = v * 10 + (t->s[t->i++] - '0');
        if (++k > 11 || v > TIME_MAX_S) {
            return false;
        }
    }
    if (k == 0) {
        return false;
    }
    if (t->i + 1 < t->n && t->s[t->i] == '.') {
        t->i++;
        if (!tp_frac(t)) {
            return false;
        }
    }
    t->have_epoch = true;
    t->epoch_s = neg ? -v : v;
    if (neg) {
        t->frac_ns = -t->frac_ns;
    }
    return true;
}

static void tp_skip_ws(struct tp *t)
{
    while (t->i < t->n && (t->s[t->i] == ' ' || t->s[t->i] == '\t')) {
        t->i++;
    }
}

static bool tp_format(struct tp *t, const char *f);

/* Seconds, and a fraction right after them unless the format reads one
 * itself ("%S.%L"). */
static bool tp_seconds(struct tp *t, const char *next)
{
    if (!tp_num(t, 2, 0, 60, &t->sec)) {
        return false;
    }
    if (*next != '.' && *next != ',' && t->i + 1 < t->n &&
        (t->s[t->i] == '.' || t->s[t->i] == ',') && t->s[t->i + 1] >= '0' &&
        t->s[t->i + 1] <= '9') {
        t->i++;
        return tp_frac(t);
    }
    return true;
}

static bool tp_year2(struct tp *t)
{
    int y;

    if (!tp_num(t, 2, 0, 99, &y)) {
        return false;
    }
    t->year = y < 69 ? 2000 + y : 1900 + y;
    return true;
}

static bool tp_ampm(struct tp *t)
{
    if (t->n - t->i < 2) {
        return false;
    }
    if (strncasecmp(t->s + t->i, "AM", 2) == 0) {
        t->pm = 0;
    } else if (strncasecmp(t->s + t->i, "PM", 2) == 0) {
        t->pm = 1;
    } else {
        return false;
    }
    t->i += 2;
    return true;
}

static bool tp_mday_spaced(struct tp *t)
{
    if (t->i < t->n && t->s[t->i] == ' ') {
        t->i++;
    }
    return tp_num(t, 2, 1, 31, &t->mday);
}

/* One conversion <c>; <next> is the format after it. */
static bool tp_conv(struct tp *t, char c, const char *next)
{
    int k;

    switch (c) {
    case 'Y':
        return tp_num(t, 4, 0, 9999, &t->year);
    case 'y':
        return tp_year2(t);
    case 'm':
        return tp_num(t, 2, 1, 12, &t->mon);
    case 'd':
        return tp_num(t, 2, 1, 31, &t->mday);
    case 'e':
        return tp_mday_spaced(t);
    case 'j':
        return tp_num(t, 3, 1, 366, &t->yday);
    case 'H':
        return tp_num(t, 2, 0, 24, &t->hour);
    case 'I':
        return tp_num(t, 2, 1, 12, &t->hour);
    case 'M':
        return tp_num(t, 2, 0, 59, &t->min);
    case 'S':
        return tp_seconds(t, next);
    case 'L':
    case 'f':
        return tp_frac(t);
    case 's':
        return tp_epoch(t);
    case 'z':
        return tp_zone(t);
    case 'Z':
        return tp_zone_name(t);
    case 'p':
        return tp_ampm(t);
    case 'T':
        return tp_format(t, "%H:%M:%S");
    case 'F':
        return tp_format(t, "%Y-%m-%d");
    case 'R':
        return tp_format(t, "%H:%M");
    case 'D':
        return tp_format(t, "%m/%d/%y");
    case 'n':
    case 't':
        tp_skip_ws(t);
        return true;
    case '%':
        return t->i < t->n && t->s[t->i++] == '%';
    case 'b':
    case 'B':
    case 'h':
        k = tp_name(t, time_months, 12);
        t->mon = k + 1;
        return k >= 0;
    case 'a':
    case 'A':
        return tp_name(t, time_days, 7) >= 0;
    default:
        return false;
    }
}

static bool tp_format(struct tp *t, const char *f)
{
    while (*f != '\0') {
        if (*f == '%') {
            if (f[1] == '\0' || !tp_conv(t, f[1], f + 2)) {
                return false;
            }
            f += 2;
        } else if (*f == ' ' || *f == '\t') {
            tp_skip_ws(t);
            f++;
        } else {
            if (t->i >= t->n || t->s[t->i] != *f) {
                return false;
            }
            t->i++;
            f++;
        }
    }
    return true;
}

static void tp_init(struct tp *t, struct sl_str text)
{
    memset(t, 0, sizeof(*t));
    t->s = text.ptr;
    t->n = text.len;
    t->year = 1970;
    t->mon = 1;
    t->mday = 1;
    t->pm = -1;
}

/* Turns what was read into ns. */
static int tp_finish(const struct tp *t, int64_t *ns)
{
    int64_t s;
    int hour = t->hour;

    if (t->have_epoch) {
        *ns = t->epoch_s * SL_NS_PER_S + t->frac_ns;
        return SL_OK;
    }
    if (t->pm >= 0) {
        hour = hour % 12 + (t->pm ? 12 : 0);
    }
    s = sl_time_civil_s(t->year, t->yday > 0 ? 1 : t->mon,
                        t->yday > 0 ? t->yday : t->mday, hour, t->min,
                        t->sec) -
        t->off_s;
    if (s < TIME_MIN_S || s > TIME_MAX_S) {
        return SL_EPARSE;
    }
    *ns = s * SL_NS_PER_S + t->frac_ns;
    return SL_OK;
}

/* Parses with one format; the whole text (but trailing blanks) must be
 * consumed. */
static int time_parse_fmt(struct sl_str text, const char *format, int64_t *ns)
{
    struct tp t;

    tp_init(&t, text);
    if (!tp_format(&t, format)) {
        return SL_EPARSE;
    }
    tp_skip_ws(&t);
    if (t.i != t.n) {
        return SL_EPARSE;
    }
    return tp_finish(&t, ns);
}

/* A bare number: seconds, ms, us or ns since the epoch by magnitude, with
 * an optional fraction in that unit. */
static bool epoch_digits(struct tp *t, int64_t *v)
{
    int digits = 0;

    *v = 0;
    while (tp_digit(t)) {
        if (++digits > 19 || (digits == 19 && *v > INT64_MAX / 10 - 1)) {
            return false;
        }
        *v = *v * 10 + (t->s[t->i++] - '0');
    }
    return digits > 0;
}

/* 0: seconds, 1: ms, 2: us, 3: ns, by magnitude. */
static int epoch_unit(int64_t v)
{
    if (v < INT64_C(100000000000)) {
        return 0;
    }
    if (v < INT64_C(100000000000000)) {
        return 1;
    }
    return v < INT64_C(100000000000000000) ? 2 : 3;
}

static int time_parse_epoch(struct sl_str text, int64_t *ns)
{
    static const int64_t mult[] = { SL_NS_PER_S, SL_NS_PER_MS, 1000, 1 };
    struct tp t;
    int64_t v;
    int unit;
    bool neg;

    tp_init(&t, text);
    neg = t.n > 0 && t.s[0] == '-';
    t.i = neg ? 1 : 0;
    if (!epoch_digits(&t, &v)) {
        return SL_EPARSE;
    }
    if (t.i < t.n && t.s[t.i] == '.' && (t.i++, !tp_frac(&t))) {
        return SL_EPARSE;
    }
    unit = epoch_unit(v);
    if (t.i != t.n || (unit < 3 && v > INT64_MAX / mult[unit] - 1)) {
        return SL_EPARSE;
    }
    *ns = v * mult[unit] + t.frac_ns / (SL_NS_PER_S / mult[unit]);
    if (neg) {
        *ns = -*ns;
    }
    return SL_OK;
}

/* Formats tried, in order, when none is given. */
static const char *const time_auto_formats[] = {
    "%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M:%S",    "%Y-%m-%d %H:%M:%S%z",
    "%Y-%m-%d %H:%M:%S",   "%Y-%m-%d %H:%M:%S %z", "%Y-%m-%dT%H:%M%z",
    "%Y-%m-%dT%H:%M",      "%Y-%m-%dt%H:%M:%S%z",  "%Y-%m-%d",
};

static int time_parse_auto(struct sl_str text, int64_t *ns)
{
    size_t k;

    if (text.len > 0 &&
        ((text.ptr[0] >= '0' && text.ptr[0] <= '9') || text.ptr[0] == '-')) {
        if (time_parse_epoch(text, ns) == SL_OK) {
            return SL_OK;
        }
    }
    /* Every ISO form starts with a four-digit year and a dash. */
    if (text.len < 10 || text.ptr[4] != '-') {
        return SL_EPARSE;
    }
    for (k = 0; k < sizeof(time_auto_formats) / sizeof(time_auto_formats[0]);
         k++) {
        if (time_parse_fmt(text, time_auto_formats[k], ns) == SL_OK) {
            return SL_OK;
        }
    }
    return SL_EPARSE;
}

int sl_time_parse(struct sl_str text, const char *format, int64_t *ns)
{
    int64_t v;
    int rc;

    if (text.ptr == NULL) {
        return SL_EPARSE;
    }
    if (format == NULL || format[0] == '\0') {
        rc = time_parse_auto(text, &v);
    } else {
        rc = time_parse_fmt(text, format, &v);
    }
    if (rc == SL_OK) {
        *ns = v;
    }
    return rc;
}
