/*
 * parser_syslog.c - the "syslog" parser: RFC 5424 and RFC 3164 messages.
 *
 *   <165>1 2026-11-21T22:14:15.003Z host app 42 ID7 [m@1 k="v"] text
 *   -> {"pri":165,"facility":"local4","severity":"notice","hostname":
 *       "host","appname":"app","procid":"42","msgid":"ID7",
 *       "sd":{"m@1":{"k":"v"}},"message":"text"}      + ts_ns
 *
 * mode auto (the default) picks the format per message: "<PRI>1 " is tried
 * as RFC 5424 first and falls back to the lenient RFC 3164 reader when the
 * header or the structured data does not parse.  The RFC 3164 reader
 * accepts the variants seen in practice (protocols.md 5.2): no hostname
 * (glibc syslog() on /dev/log), an RFC 3339 timestamp in a BSD frame, a
 * year and/or fraction after the day, "tag[pid]:", "tag:", a tag with no
 * colon, and no PRI at all (then PRI 13, user.notice, but only when a
 * timestamp is found).  A PRI with no timestamp after it keeps the whole
 * rest as the message.  An invalid PRI (non-digits, more than 3 digits,
 * above 191) or a PRI-less line with no timestamp is SL_EPARSE: the engine
 * keeps the line as {"log": ...} and counts it.
 *
 * Fields that are NILVALUE ("-") or absent are omitted.  RFC 3164 times
 * have no year and no zone: they are read as UTC, in the year that puts
 * them closest to now (a December message read in January is last year's).
 * Trailing CR, LF and NUL bytes are stripped; a UTF-8 BOM at the start of
 * the message is removed; invalid UTF-8 is escaped by the JSON writer.
 *
 * The record is written straight into the caller's scratch buffer in one
 * pass, with no DOM.  Threads: main thread only, like every parser.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "sluice/plugin.h"
#include "sluice/banned.h"

#define SYSLOG_PRI_MAX     191
#define SYSLOG_DEFAULT_PRI 13
#define SYSLOG_SDNAME_MAX  32
#define SYSLOG_TAG_MAX     48
#define SYSLOG_NELEM(a)    (sizeof(a) / sizeof((a)[0]))
#define SYSLOG_OUT_SLACK   256 /* keys and punctuation of a record */

enum parser_syslog_mode {
    SYSLOG_MODE_AUTO,
    SYSLOG_MODE_RFC5424,
    SYSLOG_MODE_RFC3164,
};

static const char *const parser_syslog_modes[] = { "auto", "rfc5424", "rfc3164",
                                                   NULL };

struct parser_syslog_conf {
    int mode;
};

struct parser_syslog_ctx {
    const struct parser_syslog_conf *conf;
    struct sl_buf val; /* an SD parameter value, unescaped */
};

/* A message split into views; absent parts have ptr NULL. */
struct syslog_msg {
    int pri;
    int64_t ts_ns;
    struct sl_str hostname;
    struct sl_str appname;
    struct sl_str procid;
    struct sl_str msgid;
    struct sl_str sd;  /* raw structured data, validated */
    struct sl_str msg; /* BOM already removed */
};

/* A JSON object writer that keeps the first error. */
struct syslog_w {
    struct sl_buf *b;
    int rc;
};

static const char *const syslog_facilities[] = {
    "kern",   "user",     "mail",    "daemon",       "auth",     "syslog",
    "lpr",    "news",     "uucp",    "cron",         "authpriv", "ftp",
    "ntp",    "security", "console", "solaris-cron", "local0",   "local1",
    "local2", "local3",   "local4",  "local5",       "local6",   "local7",
};

static const char *const syslog_severities[] = {
    "emerg", "alert", "crit", "err", "warning", "notice", "info", "debug",
};

static const char *const syslog_months[] = { "Jan", "Feb", "Mar", "Apr",
                                             "May", "Jun", "Jul", "Aug",
                                             "Sep", "Oct", "Nov", "Dec" };

_Static_assert(SYSLOG_NELEM(syslog_facilities) == 24, "24 facilities");
_Static_assert(SYSLOG_NELEM(syslog_severities) == 8, "8 severities");

static const struct sl_option parser_syslog_options[] = {
    { .name = "mode",
      .type = SL_OPT_ENUM,
      .def = "auto",
      .choices = parser_syslog_modes,
      SL_OPT_FIELD(struct parser_syslog_conf, mode),
      .desc = "Which format to accept. auto tries RFC 5424 for messages "
              "that start with <PRI>1 and falls back to the lenient RFC 3164 "
              "reader; rfc5424 and rfc3164 accept only that format." },
    SL_OPT_END,
};

/* ---- small cursor helpers ---- */

static bool syslog_is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* Printable US-ASCII without space (RFC 5424 PRINTUSASCII). */
static bool syslog_is_print(char c)
{
    return c >= 33 && c <= 126;
}

/* Reads exactly <ndig> digits at <p> into <out>. */
static bool syslog_digits(const char *p, const char *end, int ndig, int *out)
{
    int v = 0;
    int i;

    if (end - p < ndig) {
        return false;
    }
    for (i = 0; i < ndig; i++) {
        if (!syslog_is_digit(p[i])) {
            return false;
        }
        v = v * 10 + (p[i] - '0');
    }
    *out = v;
    return true;
}

/* The token at *<p> up to the next space (or the end). */
static struct sl_str syslog_token(const char **p, const char *end)
{
    const char *s = *p;
    const char *sp = memchr(s, ' ', (size_t)(end - s));

    if (sp == NULL) {
        sp = end;
    }
    *p = sp;
    return sl_str_make(s, (size_t)(sp - s));
}

/* ---- PRI ---- */

/* Reads "<PRI>" at *<p>.  Returns 1 and advances when there is a valid
 * PRI, 0 when the text does not start with '<', SL_EPARSE when it starts
 * with '<' but the PRI is invalid. */
static int syslog_pri(const char **p, const char *end, int *pri)
{
    const char *s = *p;
    int v = 0;
    int nd = 0;

    if (s >= end || *s != '<') {
        return 0;
    }
    for (s++; s < end && syslog_is_digit(*s) && nd < 4; s++, nd++) {
        v = v * 10 + (*s - '0');
    }
    if (nd == 0 || nd > 3 || s >= end || *s != '>' || v > SYSLOG_PRI_MAX) {
        return SL_EPARSE;
    }
    *pri = v;
    *p = s + 1;
    return 1;
}

/* ---- RFC 5424 ---- */

/* A header field: printable, at most <max> bytes, "-" = absent. */
static bool syslog_5424_field(const char **p, const char *end, size_t max,
                              struct sl_str *out)
{
    struct sl_str t = syslog_token(p, end);
    size_t i;

    if (t.len == 0 || t.len > max || *p >= end) {
        return false;
    }
    for (i = 0; i < t.len; i++) {
        if (!syslog_is_print(t.ptr[i])) {
            return false;
        }
    }
    (*p)++; /* the space */
    *out = (t.len == 1 && t.ptr[0] == '-') ? SL_STR_NULL : t;
    return true;
}

/* "YYYY-MM-DDT": the start of an RFC 3339 time. */
static bool syslog_looks_rfc3339(const char *p, const char *end)
{
    int v;

    return end - p >= 11 && syslog_digits(p, end, 4, &v) && p[4] == '-' &&
           syslog_digits(p + 5, end, 2, &v) && p[7] == '-' &&
           syslog_digits(p + 8, end, 2, &v) && p[10] == 'T';
}

/* Two digits at <p> within [0, <hi>] into <out>. */
static bool syslog_2digits(const char *p, int hi, int *out)
{
    if (!syslog_is_digit(p[0]) || !syslog_is_digit(p[1])) {
        return false;
    }
    *out = (p[0] - '0') * 10 + (p[1] - '0');
    return *out <= hi;
}

/* The fraction and zone after "YYYY-MM-DDThh:mm:ss" at <p>: ".f{1,9}"
 * then "Z" or "+hh:mm".  Adds the fraction to *<ns> and returns the
 * offset in seconds through *<off_s>. */
static bool syslog_rfc3339_tail(const char *p, const char *end, int64_t *ns,
                                int *off_s)
{
    int64_t scale = SL_NS_PER_S;
    int hh, mm;

    if (p < end && *p == '.') {
        for (p++; p < end && syslog_is_digit(*p) && scale > 1; p++) {
            scale /= 10;
            *ns += (*p - '0') * scale;
        }
        if (scale == SL_NS_PER_S || (p < end && syslog_is_digit(*p))) {
            return false;
        }
    }
    if (end - p == 1 && (*p == 'Z' || *p == 'z')) {
        *off_s = 0;
        return true;
    }
    if (end - p != 6 || (*p != '+' && *p != '-') || p[3] != ':' ||
        !syslog_2digits(p + 1, 23, &hh) || !syslog_2digits(p + 4, 59, &mm)) {
        return false;
    }
    *off_s = (*p == '-' ? -1 : 1) * (hh * 3600 + mm * 60);
    return true;
}

/* The RFC 5424 form of an RFC 3339 time, "YYYY-MM-DDThh:mm:ss[.f]Z" or
 * with "+hh:mm", read without the generic format engine.  False for any
 * other form (sl_time_parse then decides); when true, the result is what
 * sl_time_parse gives. */
static bool syslog_rfc3339_fast(struct sl_str t, int64_t *ns)
{
    const char *p = t.ptr;
    int year, mon, day, h, mi, se, off_s;
    int64_t frac = 0;

    if (t.len < 20 || p[13] != ':' || p[16] != ':' ||
        !syslog_digits(p, p + 4, 4, &year) || !syslog_2digits(p + 5, 12, &mon) ||
        !syslog_2digits(p + 8, 31, &day) || !syslog_2digits(p + 11, 24, &h) ||
        !syslog_2digits(p + 14, 59, &mi) || !syslog_2digits(p + 17, 60, &se) ||
        mon < 1 || day < 1 ||
        !syslog_rfc3339_tail(p + 19, p + t.len, &frac, &off_s)) {
        return false;
    }
    *ns = (sl_time_civil_s(year, mon, day, h, mi, se) - off_s) * SL_NS_PER_S +
          frac;
    return true;
}

/* An RFC 3339 time token (or "-" in RFC 5424).  A time without an offset
 * is taken as UTC. */
static bool syslog_rfc3339(struct sl_str t, int64_t *ns)
{
    if (!syslog_looks_rfc3339(t.ptr, t.ptr + t.len)) {
        return false;
    }
    if (syslog_rfc3339_fast(t, ns)) {
        return true;
    }
    return sl_time_parse(t, NULL, ns) == SL_OK;
}

/* SD-NAME: 1-32 printable bytes except '=', ' ', ']' and '"'. */
static struct sl_str syslog_sd_name(const char **p, const char *end)
{
    const char *s = *p;
    const char *q = s;

    while (q < end && syslog_is_print(*q) && *q != '=' && *q != ']' &&
           *q != '"' && q - s < SYSLOG_SDNAME_MAX) {
        q++;
    }
    *p = q;
    return sl_str_make(s, (size_t)(q - s));
}

/* Skips a quoted PARAM-VALUE at *<p> (after the opening quote) up to and
 * including the closing quote. */
static bool syslog_sd_skip_value(const char **p, const char *end)
{
    const char *q = *p;

    while (q < end && *q != '"') {
        q += (*q == '\\' && q + 1 < end) ? 2 : 1;
    }
    if (q >= end) {
        return false;
    }
    *p = q + 1;
    return true;
}

/* One SD-ELEMENT at *<p> ('[' already checked).  Only validates. */
static bool syslog_sd_element(const char **p, const char *end)
{
    const char *q = *p + 1;
    struct sl_str name = syslog_sd_name(&q, end);

    if (name.len == 0) {
        return false;
    }
    while (q < end && *q == ' ') {
        q++;
        name = syslog_sd_name(&q, end);
        if (name.len == 0 || end - q < 2 || q[0] != '=' || q[1] != '"') {
            return false;
        }
        q += 2;
        if (!syslog_sd_skip_value(&q, end)) {
            return false;
        }
    }
    if (q >= end || *q != ']') {
        return false;
    }
    *p = q + 1;
    return true;
}

/* STRUCTURED-DATA: "-" or SD-ELEMENTs; validated, raw view in <sd>. */
static bool syslog_5424_sd(const char **p, const char *end, struct sl_str *sd)
{
    const char *s = *p;

    if (s < end && *s == '-') {
        *sd = SL_STR_NULL;
        *p = s + 1;
        return true;
    }
    if (s >= end || *s != '[') {
        return false;
    }
    while (*p < end && **p == '[') {
        if (!syslog_sd_element(p, end)) {
            return false;
        }
    }
    *sd = sl_str_make(s, (size_t)(*p - s));
    return true;
}

/* The MSG part: after one space, without a leading BOM. */
static bool syslog_5424_msg(const char *p, const char *end, struct sl_str *msg)
{
    if (p == end) {
        *msg = SL_STR_NULL;
        return true;
    }
    if (*p != ' ') {
        return false;
    }
    p++;
    if (end - p >= 3 && memcmp(p, "\xEF\xBB\xBF", 3) == 0) {
        p += 3;
    }
    *msg = p < end ? sl_str_make(p, (size_t)(end - p)) : SL_STR_NULL;
    return true;
}

/* "1 TIMESTAMP HOST APP PROCID MSGID SD [MSG]" after the PRI. */
static bool syslog_5424(const char *p, const char *end, struct syslog_msg *m)
{
    struct sl_str ts;

    if (end - p < 2 || p[0] != '1' || p[1] != ' ') {
        return false;
    }
    p += 2;
    ts = syslog_token(&p, end);
    if (p >= end) {
        return false;
    }
    p++;
    if (!(ts.len == 1 && ts.ptr[0] == '-') && !syslog_rfc3339(ts, &m->ts_ns)) {
        return false;
    }
    if (!syslog_5424_field(&p, end, 255, &m->hostname) ||
        !syslog_5424_field(&p, end, 48, &m->appname) ||
        !syslog_5424_field(&p, end, 128, &m->procid) ||
        !syslog_5424_field(&p, end, 32, &m->msgid) ||
        !syslog_5424_sd(&p, end, &m->sd)) {
        return false;
    }
    return syslog_5424_msg(p, end, &m->msg);
}

/* ---- RFC 3164 ---- */

/* Month index from "Mmm", or -1. */
static int syslog_month(const char *p, const char *end)
{
    size_t i;

    if (end - p < 3) {
        return -1;
    }
    for (i = 0; i < SYSLOG_NELEM(syslog_months); i++) {
        if (memcmp(p, syslog_months[i], 3) == 0) {
            return (int)i;
        }
    }
    return -1;
}

/* Seconds since the epoch for a UTC date (no leap seconds). */
static int64_t syslog_epoch(int year, int mon, int day, int secs)
{
    return sl_time_civil_s(year, mon + 1, day, 0, 0, secs);
}

/* The year that puts month/day closest to now (Dec/Jan wrap). */
static int64_t syslog_closest_year(int mon, int day, int secs)
{
    int64_t now = sl_time_now_ns() / SL_NS_PER_S;
    time_t tnow = (time_t)now;
    struct tm tm;
    int64_t best = 0;
    int64_t best_d = INT64_MAX;
    int y;

    gmtime_r(&tnow, &tm);
    for (y = tm.tm_year + 1900 - 1; y <= tm.tm_year + 1900 + 1; y++) {
        int64_t t = syslog_epoch(y, mon, day, secs);
        int64_t d = t > now ? t - now : now - t;

        if (d < best_d) {
            best_d = d;
            best = t;
        }
    }
    return best;
}

/* "hh:mm:ss[.fff...]" at *<p>: seconds of the day and nanoseconds. */
static bool syslog_clock(const char **p, const char *end, int *secs,
                         int64_t *frac_ns)
{
    const char *s = *p;
    int64_t scale = SL_NS_PER_S / 10;
    int h, mi, se;

    if (!syslog_digits(s, end, 2, &h) || end - s < 8 || s[2] != ':' ||
        !syslog_digits(s + 3, end, 2, &mi) || s[5] != ':' ||
        !syslog_digits(s + 6, end, 2, &se) || h > 23 || mi > 59 || se > 60) {
        return false;
    }
    s += 8;
    *frac_ns = 0;
    if (s < end && *s == '.') {
        for (s++; s < end && syslog_is_digit(*s); s++) {
            *frac_ns += (*s - '0') * scale;
            scale /= 10;
        }
    }
    *secs = h * 3600 + mi * 60 + se;
    *p = s;
    return true;
}

/* "Mmm dd " (day space-padded, zero-padded or not): month and day. */
static bool syslog_bsd_date(const char **p, const char *end, int *mon, int *day)
{
    const char *s = *p;

    *mon = syslog_month(s, end);
    *day = 0;
    if (*mon < 0 || end - s < 5 || s[3] != ' ') {
        return false;
    }
    s += 4;
    if (*s == ' ') {
        s++;
    }
    while (s < end && syslog_is_digit(*s) && *day < 100) {
        *day = *day * 10 + (*s++ - '0');
    }
    if (*day < 1 || *day > 31 || s >= end || *s != ' ') {
        return false;
    }
    *p = s + 1;
    return true;
}

/* "Mmm dd [YYYY ]hh:mm:ss[.fff]". */
static bool syslog_bsd_time(const char **p, const char *end, int64_t *ns)
{
    const char *s = *p;
    int mon;
    int day;
    int year = 0;
    int secs;
    int64_t frac;
    int64_t t;

    if (!syslog_bsd_date(&s, end, &mon, &day)) {
        return false;
    }
    if (end - s >= 5 && s[4] == ' ' && syslog_digits(s, end, 4, &year)) {
        s += 5;
    }
    if (!syslog_clock(&s, end, &secs, &frac)) {
        return false;
    }
    t = year != 0 ? syslog_epoch(year, mon, day, secs)
                  : syslog_closest_year(mon, day, secs);
    *ns = t * SL_NS_PER_S + frac;
    *p = s;
    return true;
}

/* A timestamp at *<p>: RFC 3339 or BSD.  Advances past it. */
static bool syslog_3164_time(const char **p, const char *end, int64_t *ns)
{
    const char *s = *p;
    struct sl_str t;

    if (syslog_looks_rfc3339(s, end)) {
        t = syslog_token(&s, end);
        if (!syslog_rfc3339(t, ns)) {
            return false;
        }
        *p = s;
        return true;
    }
    return syslog_bsd_time(p, end, ns);
}

static bool syslog_is_tag_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           syslog_is_digit(c) || c == '-' || c == '_' || c == '.' || c == '/' ||
           c == '@';
}

/* "[pid]" at *<p> ('[' already checked) into <procid>. */
static bool syslog_3164_pid(const char **p, const char *end,
                            struct sl_str *procid)
{
    const char *pid = *p + 1;
    const char *s = pid;

    while (s < end && *s != ']' && *s != ' ') {
        s++;
    }
    if (s >= end || *s != ']') {
        return false;
    }
    *procid = sl_str_make(pid, (size_t)(s - pid));
    *p = s + 1;
    return true;
}

/* "tag[pid]: ", "tag: " or "tag " at <p>.  Fills appname, procid and the
 * message; false when the text does not start with a tag. */
static bool syslog_3164_tag(const char *p, const char *end,
                            struct syslog_msg *m)
{
    const char *s = p;

    while (s < end && syslog_is_tag_char(*s) && s - p < SYSLOG_TAG_MAX) {
        s++;
    }
    if (s == p) {
        return false;
    }
    m->appname = sl_str_make(p, (size_t)(s - p));
    if (s < end && *s == '[' && !syslog_3164_pid(&s, end, &m->procid)) {
        return false;
    }
    if (s < end && *s == ':') {
        s++;
    }
    if (s < end && *s != ' ') {
        return false;
    }
    if (s < end) {
        s++;
    }
    m->msg = sl_str_make(s, (size_t)(end - s));
    return true;
}

/* After the timestamp: "[HOSTNAME ]TAG...: MSG". */
static void syslog_3164_rest(const char *p, const char *end,
                             struct syslog_msg *m)
{
    const char *s = p;
    struct sl_str tok = syslog_token(&s, end);
    bool is_tag = tok.len > 0 && (tok.ptr[tok.len - 1] == ':' ||
                                  memchr(tok.ptr, '[', tok.len) != NULL);

    if (!is_tag && tok.len > 0 && s < end) {
        m->hostname = tok;
        p = s + 1;
    }
    if (!syslog_3164_tag(p, end, m)) {
        m->appname = SL_STR_NULL;
        m->procid = SL_STR_NULL;
        m->msg = sl_str_make(p, (size_t)(end - p));
    }
}

/* The BSD reader, after an optional PRI (<has_pri>). */
static int syslog_3164(const char *p, const char *end, bool has_pri,
                       struct syslog_msg *m)
{
    if (!syslog_3164_time(&p, end, &m->ts_ns)) {
        if (!has_pri) {
            return SL_EPARSE;
        }
        m->ts_ns = 0;
        m->msg = sl_str_make(p, (size_t)(end - p));
        return SL_OK;
    }
    /* Cisco ends the time with ':'; anything else needs a space. */
    if (p < end && *p == ':') {
        p++;
    }
    while (p < end && *p == ' ') {
        p++;
    }
    syslog_3164_rest(p, end, m);
    return SL_OK;
}

/* ---- output ---- */

/* Makes room for <n> more bytes: a compare when the buffer (reserved once
 * per message in syslog_write) is already large enough. */
static inline bool syslog_w_room(struct syslog_w *w, size_t n)
{
    if (w->rc == SL_OK && w->b->cap - w->b->len <= n) {
        w->rc = sl_buf_reserve(w->b, n);
    }
    return w->rc == SL_OK;
}

/* Appends <n> bytes.  The buffer is NUL-terminated at the end of
 * syslog_write, not after each piece. */
static inline void syslog_w_raw(struct syslog_w *w, const char *s, size_t n)
{
    if (syslog_w_room(w, n)) {
        memcpy(w->b->data + w->b->len, s, n);
        w->b->len += n;
    }
}

/* A key with its punctuation, e.g. ",\"appname\":" (pri is always first,
 * so every other key starts with the comma). */
#define SYSLOG_KEY(w, lit) syslog_w_raw((w), (lit), sizeof(lit) - 1)

static void syslog_w_str(struct syslog_w *w, struct sl_str s)
{
    if (w->rc == SL_OK) {
        w->rc = sl_json_write_string(w->b, s.ptr, s.len);
    }
}

/* The PRI as decimal digits (0-191). */
static void syslog_w_pri(struct syslog_w *w, int pri)
{
    char num[3];
    size_t n = 0;

    if (pri >= 100) {
        num[n++] = (char)('0' + pri / 100);
    }
    if (pri >= 10) {
        num[n++] = (char)('0' + pri / 10 % 10);
    }
    num[n++] = (char)('0' + pri % 10);
    syslog_w_raw(w, num, n);
}

/* Unescapes \" \\ \] of a PARAM-VALUE into ctx->val; keeps other
 * backslashes with the byte that follows. */
static struct sl_str syslog_sd_unescape(struct parser_syslog_ctx *ctx,
                                        struct sl_str v, struct syslog_w *w)
{
    size_t i;

    if (memchr(v.ptr, '\\', v.len) == NULL) {
        return v;
    }
    sl_buf_reset(&ctx->val);
    for (i = 0; i < v.len && w->rc == SL_OK; i++) {
        if (v.ptr[i] == '\\' && i + 1 < v.len &&
            (v.ptr[i + 1] == '"' || v.ptr[i + 1] == '\\' ||
             v.ptr[i + 1] == ']')) {
            i++;
        }
        w->rc = sl_buf_putc(&ctx->val, v.ptr[i]);
    }
    return sl_buf_str(&ctx->val);
}

/* One validated SD-ELEMENT at *<p> as "ID":{"name":"value",...}. */
static void syslog_w_sd_element(struct parser_syslog_ctx *ctx,
                                struct syslog_w *w, const char **p,
                                const char *end)
{
    const char *q = *p + 1;
    struct sl_str name = syslog_sd_name(&q, end);
    const char *v;
    bool first = true;

    syslog_w_str(w, name);
    syslog_w_raw(w, ":{", 2);
    while (*q == ' ') {
        q++;
        name = syslog_sd_name(&q, end);
        v = q + 2;
        q = v;
        syslog_sd_skip_value(&q, end);
        if (!first) {
            syslog_w_raw(w, ",", 1);
        }
        first = false;
        syslog_w_str(w, name);
        syslog_w_raw(w, ":", 1);
        syslog_w_str(
            w, syslog_sd_unescape(ctx, sl_str_make(v, (size_t)(q - 1 - v)), w));
    }
    syslog_w_raw(w, "}", 1);
    *p = q + 1;
}

/* The validated structured data as a map of maps. */
static void syslog_w_sd(struct parser_syslog_ctx *ctx, struct syslog_w *w,
                        struct sl_str sd)
{
    const char *p = sd.ptr;
    const char *end = sd.ptr + sd.len;

    if (sd.ptr == NULL) {
        return;
    }
    SYSLOG_KEY(w, ",\"sd\":{");
    while (p < end && w->rc == SL_OK) {
        if (p != sd.ptr) {
            syslog_w_raw(w, ",", 1);
        }
        syslog_w_sd_element(ctx, w, &p, end);
    }
    syslog_w_raw(w, "}", 1);
}

/* A string member, unless the value is absent. */
static void syslog_w_field(struct syslog_w *w, const char *key, size_t klen,
                           struct sl_str s)
{
    if (s.ptr == NULL || s.len == 0) {
        return;
    }
    syslog_w_raw(w, key, klen);
    syslog_w_str(w, s);
}

#define SYSLOG_FIELD(w, lit, s) syslog_w_field((w), (lit), sizeof(lit) - 1, (s))

/* Writes the record for <m>, parsed from <n> bytes, into <out>. */
static int syslog_write(struct parser_syslog_ctx *ctx,
                        const struct syslog_msg *m, size_t n,
                        struct sl_buf *out)
{
    struct syslog_w w = { .b = out, .rc = SL_OK };

    /* One reservation covers a message with nothing to escape: the fields
     * are parts of the n bytes, plus keys and punctuation. */
    syslog_w_room(&w, n + SYSLOG_OUT_SLACK);
    SYSLOG_KEY(&w, "{\"pri\":");
    syslog_w_pri(&w, m->pri);
    SYSLOG_KEY(&w, ",\"facility\":\"");
    syslog_w_raw(&w, syslog_facilities[m->pri >> 3],
                 strlen(syslog_facilities[m->pri >> 3]));
    SYSLOG_KEY(&w, "\",\"severity\":\"");
    syslog_w_raw(&w, syslog_severities[m->pri & 7],
                 strlen(syslog_severities[m->pri & 7]));
    syslog_w_raw(&w, "\"", 1);
    SYSLOG_FIELD(&w, ",\"hostname\":", m->hostname);
    SYSLOG_FIELD(&w, ",\"appname\":", m->appname);
    SYSLOG_FIELD(&w, ",\"procid\":", m->procid);
    SYSLOG_FIELD(&w, ",\"msgid\":", m->msgid);
    syslog_w_sd(ctx, &w, m->sd);
    SYSLOG_FIELD(&w, ",\"message\":", m->msg);
    syslog_w_raw(&w, "}", 1);
    if (w.rc == SL_OK) {
        out->data[out->len] = '\0';
    }
    return w.rc;
}

/* ---- the plugin ---- */

/* Splits the message into <m> according to the mode. */
static int syslog_split(const struct parser_syslog_ctx *ctx, const char *p,
                        const char *end, struct syslog_msg *m)
{
    int mode = ctx->conf->mode;
    int has_pri = syslog_pri(&p, end, &m->pri);

    if (has_pri < 0) {
        return SL_EPARSE;
    }
    if (has_pri == 0) {
        m->pri = SYSLOG_DEFAULT_PRI;
    }
    if (mode != SYSLOG_MODE_RFC3164 && has_pri == 1) {
        int pri = m->pri;

        if (syslog_5424(p, end, m)) {
            return SL_OK;
        }
        memset(m, 0, sizeof(*m));
        m->pri = pri;
    }
    if (mode == SYSLOG_MODE_RFC5424) {
        return SL_EPARSE;
    }
    return syslog_3164(p, end, has_pri == 1, m);
}

static int parser_syslog_parse(struct sl_instance *ins, const char *p, size_t n,
                               struct sl_parse_result *res)
{
    struct parser_syslog_ctx *ctx = sl_instance_ctx(ins);
    struct syslog_msg m;
    int rc;

    while (n > 0 &&
           (p[n - 1] == '\n' || p[n - 1] == '\r' || p[n - 1] == '\0')) {
        n--;
    }
    if (res->scratch == NULL) {
        return SL_EINVAL;
    }
    memset(&m, 0, sizeof(m));
    rc = syslog_split(ctx, p, p + n, &m);
    if (rc != SL_OK) {
        return rc;
    }
    rc = syslog_write(ctx, &m, n, res->scratch);
    if (rc != SL_OK) {
        return rc == SL_ENOMEM ? SL_ENOMEM : SL_EPARSE;
    }
    res->body = sl_buf_str(res->scratch);
    res->ts_ns = m.ts_ns;
    return SL_OK;
}

static int parser_syslog_init(struct sl_instance *ins, void *conf,
                              struct sl_err *err)
{
    struct parser_syslog_ctx *ctx = sl_calloc(1, sizeof(*ctx));

    if (ctx == NULL) {
        return sl_err_set(err, SL_ENOMEM, "out of memory");
    }
    ctx->conf = conf;
    sl_buf_init(&ctx->val, 0);
    sl_instance_set_ctx(ins, ctx);
    return SL_OK;
}

static void parser_syslog_exit(struct sl_instance *ins)
{
    struct parser_syslog_ctx *ctx = sl_instance_ctx(ins);

    if (ctx == NULL) {
        return;
    }
    sl_buf_fini(&ctx->val);
    sl_free(ctx);
    sl_instance_set_ctx(ins, NULL);
}

const struct sl_plugin sl_plugin_parser_syslog = {
    .abi = SL_PLUGIN_ABI,
    .kind = SL_PLUGIN_PARSER,
    .name = "syslog",
    .description = "Parse RFC 5424 and RFC 3164 syslog messages, "
                   "including the lenient BSD variants seen in practice.",
    .options = parser_syslog_options,
    .conf_size = sizeof(struct parser_syslog_conf),
    .init = parser_syslog_init,
    .parse = parser_syslog_parse,
    .exit = parser_syslog_exit,
};
