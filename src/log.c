/*
 * log.c - the daemon's own log: one JSON object (or one readable text line
 * on a terminal) per event, written to stderr with a single write(2).
 *
 * Main types: a line under construction (struct log_line, a fixed stack
 * buffer of LOG_LINE_MAX bytes, so that a line is never longer than
 * PIPE_BUF and concurrent writers never interleave), and the rate-limit
 * table (struct log_site), a small fixed hash table keyed by the component
 * text and the address of the format string.
 *
 * Concurrency: any thread may log.  The level, format and fd are relaxed
 * atomics; the rate-limit table is protected by one mutex, held only to
 * update a slot (logging is not a hot path).  Nothing here allocates, so
 * the logger works when memory is exhausted, and errno is preserved.
 *
 * Never: log record bodies above debug, log secrets, or block on anything
 * but the write itself.
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "plugin.h"
#include "sluice/mem.h"
#include "sluice/plugin.h"
#include "sluice/timeutil.h"

#include "sluice/banned.h"

/* One line, newline included; equal to PIPE_BUF on Linux so that the
 * write is atomic with respect to other writers of the same pipe. */
#define LOG_LINE_MAX 4096
/* Room kept for the context fields and the closing brace. */
#define LOG_TAIL_MAX 1024
/* Longest formatted message before escaping. */
#define LOG_MSG_MAX  3072
#define LOG_COMP_MAX 64
#define LOG_SITES    256
#define LOG_PROBES   8
#define LOG_ELLIPSIS "..."

struct log_site {
    const char *fmt; /* NULL: free slot */
    char comp[LOG_COMP_MAX];
    int64_t window_start_s;
    unsigned count;      /* lines written in the current window */
    uint64_t suppressed; /* lines dropped since the last one written */
};

struct log_line {
    char *p;
    size_t len;
    size_t cap;
    bool truncated;
};

static int log_level = SL_LOG_INFO;
static int log_format = SL_LOG_FORMAT_AUTO;
static int log_fd = -1;
static int log_text = -1; /* -1: not decided yet */
static pthread_mutex_t log_sites_lock = PTHREAD_MUTEX_INITIALIZER;
static struct log_site log_sites[LOG_SITES];
static int64_t log_clock_skew_s;

/* The capture ring of the self_logs input (see sluice/log.h).  <log_cap_on>
 * is read without the lock so that a daemon without a capture pays one
 * atomic load per line. */
static pthread_mutex_t log_cap_lock = PTHREAD_MUTEX_INITIALIZER;
static int log_cap_on;
static struct sl_log_entry *log_cap_ring;
static size_t log_cap_size, log_cap_head, log_cap_count;
static int log_cap_level;
static char log_cap_self[SL_LOG_CAPTURE_COMP];
static uint64_t log_cap_dropped;
static __thread bool log_cap_muted;

static const char *const log_level_names[] = {
    [SL_LOG_OFF] = "off",   [SL_LOG_ERROR] = "error", [SL_LOG_WARN] = "warn",
    [SL_LOG_INFO] = "info", [SL_LOG_DEBUG] = "debug", [SL_LOG_TRACE] = "trace",
};

static int log_out_fd(void)
{
    int fd = __atomic_load_n(&log_fd, __ATOMIC_RELAXED);

    return fd >= 0 ? fd : STDERR_FILENO;
}

/* Decides text vs JSON for the current format and fd. */
static void log_resolve_format(void)
{
    int fmt = __atomic_load_n(&log_format, __ATOMIC_RELAXED);
    int text;

    if (fmt == SL_LOG_FORMAT_AUTO) {
        text = isatty(log_out_fd()) == 1;
    } else {
        text = fmt == SL_LOG_FORMAT_TEXT;
    }
    __atomic_store_n(&log_text, text, __ATOMIC_RELAXED);
}

/* Sets the global level and the format; see log.h. */
void sl_log_setup(int level, enum sl_log_format format)
{
    int saved = errno;

    if (level < SL_LOG_OFF) {
        level = SL_LOG_OFF;
    } else if (level > SL_LOG_TRACE) {
        level = SL_LOG_TRACE;
    }
    __atomic_store_n(&log_level, level, __ATOMIC_RELAXED);
    __atomic_store_n(&log_format, (int)format, __ATOMIC_RELAXED);
    log_resolve_format();
    errno = saved;
}

/* Returns the global level. */
int sl_log_get_level(void)
{
    return __atomic_load_n(&log_level, __ATOMIC_RELAXED);
}

/* Maps a level name (case-insensitive) to its value, or -1. */
int sl_log_level_parse(const char *name)
{
    size_t i;

    if (name == NULL) {
        return -1;
    }
    if (strcasecmp(name, "warning") == 0) {
        return SL_LOG_WARN;
    }
    for (i = 0; i < sizeof(log_level_names) / sizeof(log_level_names[0]); i++) {
        if (strcasecmp(name, log_level_names[i]) == 0) {
            return (int)i;
        }
    }
    return -1;
}

/* Returns the name of <level>, or "unknown". */
const char *sl_log_level_name(int level)
{
    if (level < SL_LOG_OFF || level > SL_LOG_TRACE) {
        return "unknown";
    }
    return log_level_names[level];
}

/* Test hook: lines go to <fd>; -1 restores stderr.  The caller keeps
 * ownership of <fd>.  Also clears the rate-limit table so that tests
 * start from a known state. */
void sl_log_set_fd(int fd)
{
    __atomic_store_n(&log_fd, fd < 0 ? -1 : fd, __ATOMIC_RELAXED);
    log_resolve_format();
    pthread_mutex_lock(&log_sites_lock);
    memset(log_sites, 0, sizeof(log_sites));
    pthread_mutex_unlock(&log_sites_lock);
}

/* True when a line at <level> from <ins> would be written. */
bool sl_log_enabled(const struct sl_instance *ins, int level)
{
    int max = -1;

    if (level <= SL_LOG_OFF) {
        return false;
    }
    if (ins != NULL) {
        max = sl_instance_log_level(ins);
    }
    if (max < 0) {
        max = __atomic_load_n(&log_level, __ATOMIC_RELAXED);
    }
    return level <= max;
}

/* ---- rate limiting ---- */

/* Test hook (deliberately not in a header): moves the rate limiter's
 * clock <s> seconds ahead, so that tests see a window end without
 * sleeping. */
void sl_log_test_skew_clock(int64_t s);
void sl_log_test_skew_clock(int64_t s)
{
    __atomic_fetch_add(&log_clock_skew_s, s, __ATOMIC_RELAXED);
}

static int64_t log_mono_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec +
           __atomic_load_n(&log_clock_skew_s, __ATOMIC_RELAXED);
}

static uint32_t log_site_hash(const char *comp, const char *fmt)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    uintptr_t f = (uintptr_t)fmt;
    size_t i;

    for (; *comp != '\0'; comp++) {
        h = (h ^ (unsigned char)*comp) * 16777619u;
    }
    for (i = 0; i < sizeof(f); i++) {
        h = (h ^ (uint32_t)(f & 0xff)) * 16777619u;
        f >>= 8;
    }
    return h;
}

/* Finds the slot of (<comp>, <fmt>), or claims a free one, or takes the
 * probed slot whose window is oldest.  Called with the lock held. */
static struct log_site *log_site_find(const char *comp, const char *fmt)
{
    uint32_t h = log_site_hash(comp, fmt);
    struct log_site *oldest = NULL;
    struct log_site *s;
    size_t i;

    for (i = 0; i < LOG_PROBES; i++) {
        s = &log_sites[(h + i) % LOG_SITES];
        if (s->fmt == NULL) {
            break;
        }
        if (s->fmt == fmt && strncmp(s->comp, comp, LOG_COMP_MAX - 1) == 0) {
            return s;
        }
        if (oldest == NULL || s->window_start_s < oldest->window_start_s) {
            oldest = s;
        }
        s = NULL;
    }
    if (s == NULL) {
        s = oldest;
    }
    memset(s, 0, sizeof(*s));
    s->fmt = fmt;
    snprintf(s->comp, sizeof(s->comp), "%s", comp);
    s->window_start_s = log_mono_s();
    return s;
}

/* Returns false when the line must be dropped; otherwise *<suppressed>
 * is the number of lines dropped from this site since the last one. */
static bool log_rate_check(const char *comp, const char *fmt,
                           uint64_t *suppressed)
{
    int64_t now = log_mono_s();
    struct log_site *s;
    bool pass;

    pthread_mutex_lock(&log_sites_lock);
    s = log_site_find(comp, fmt);
    if (now - s->window_start_s >= SL_LOG_WINDOW_S) {
        s->window_start_s = now;
        s->count = 0;
    }
    pass = s->count < SL_LOG_BURST;
    if (pass) {
        s->count++;
        *suppressed = s->suppressed;
        s->suppressed = 0;
    } else {
        s->suppressed++;
    }
    pthread_mutex_unlock(&log_sites_lock);
    return pass;
}

/* ---- line building ---- */

static void log_put(struct log_line *l, const char *p, size_t n)
{
    if (l->truncated || n > l->cap - l->len) {
        l->truncated = true;
        return;
    }
    memcpy(l->p + l->len, p, n);
    l->len += n;
}

static void log_puts(struct log_line *l, const char *s)
{
    log_put(l, s, strlen(s));
}

/* Length of the valid UTF-8 sequence at <p> (at most <n> bytes), or 0. */
static size_t log_utf8_len(const unsigned char *p, size_t n)
{
    size_t len;
    size_t i;
    uint32_t cp;

    if (p[0] < 0xc2 || p[0] > 0xf4) {
        return 0;
    }
    len = p[0] < 0xe0 ? 2 : p[0] < 0xf0 ? 3 : 4;
    if (len > n) {
        return 0;
    }
    cp = p[0] & (0x7f >> len);
    for (i = 1; i < len; i++) {
        if ((p[i] & 0xc0) != 0x80) {
            return 0;
        }
        cp = (cp << 6) | (p[i] & 0x3f);
    }
    if ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
        (len == 4 && (cp < 0x10000 || cp > 0x10ffff))) {
        return 0;
    }
    return len;
}

/* Writes the escaped form of the byte(s) at <p> into <tmp>; returns the
 * number of bytes written and sets *<used> to the input bytes consumed.
 * JSON mode escapes quotes and backslashes; both modes escape control
 * characters and write invalid UTF-8 as the text \xNN. */
static size_t log_escape_one(const unsigned char *p, size_t n, bool json,
                             char tmp[8], size_t *used)
{
    static const char hex[] = "0123456789abcdef";
    const char *bs = json ? "\\\\" : "\\";
    size_t k;

    *used = 1;
    if (p[0] >= 0x80) {
        k = log_utf8_len(p, n);
        if (k > 0) {
            memcpy(tmp, p, k);
            *used = k;
            return k;
        }
        return (size_t)snprintf(tmp, 8, "%sx%c%c", bs, hex[p[0] >> 4],
                                hex[p[0] & 15]);
    }
    switch (p[0]) {
    case '\n':
        return (size_t)snprintf(tmp, 8, "\\n");
    case '\t':
        return (size_t)snprintf(tmp, 8, "\\t");
    case '\r':
        return (size_t)snprintf(tmp, 8, "\\r");
    case '"':
    case '\\':
        if (json) {
            return (size_t)snprintf(tmp, 8, "\\%c", p[0]);
        }
        break;
    default:
        if (p[0] < 0x20 || p[0] == 0x7f) {
            return (size_t)snprintf(tmp, 8, json ? "\\u%04x" : "\\x%02x", p[0]);
        }
        break;
    }
    tmp[0] = (char)p[0];
    return 1;
}

/* Appends <n> bytes of <s> escaped, keeping <reserve> bytes of the line
 * free.  Stops before the first unit that does not fit (never splitting
 * an escape or a UTF-8 sequence) and then returns false. */
static bool log_put_escaped(struct log_line *l, const char *s, size_t n,
                            bool json, size_t reserve)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t limit = l->cap > reserve ? l->cap - reserve : 0;
    char tmp[8];
    size_t used;
    size_t k;

    while (n > 0) {
        k = log_escape_one(p, n, json, tmp, &used);
        if (l->len + k > limit) {
            return false;
        }
        memcpy(l->p + l->len, tmp, k);
        l->len += k;
        p += used;
        n -= used;
    }
    return true;
}

/* A JSON string field: ,"key":"value" (value cut to fit, marked ...). */
static void log_json_field(struct log_line *l, const char *key, const char *val)
{
    log_puts(l, ",\"");
    log_put_escaped(l, key, strlen(key), true, 2 + sizeof(LOG_ELLIPSIS));
    log_puts(l, "\":\"");
    if (!log_put_escaped(l, val, strlen(val), true, 1 + sizeof(LOG_ELLIPSIS))) {
        log_puts(l, LOG_ELLIPSIS);
    }
    log_puts(l, "\"");
}

/* A text field: " key=value", the value quoted when it has blanks. */
static void log_text_field(struct log_line *l, const char *key, const char *val)
{
    bool quote = val[0] == '\0' || strpbrk(val, " \t\"=") != NULL;

    log_puts(l, " ");
    log_put_escaped(l, key, strlen(key), false, 2 + sizeof(LOG_ELLIPSIS));
    log_puts(l, quote ? "=\"" : "=");
    if (!log_put_escaped(l, val, strlen(val), quote,
                         1 + sizeof(LOG_ELLIPSIS))) {
        log_puts(l, LOG_ELLIPSIS);
    }
    if (quote) {
        log_puts(l, "\"");
    }
}

/* Writes the context fields (and "suppressed") into <l>. */
static void log_put_fields(struct log_line *l, bool text,
                           const struct sl_log_kv *kv, size_t nkv,
                           uint64_t suppressed)
{
    char num[24];
    size_t i;

    for (i = 0; kv != NULL && i < nkv; i++) {
        if (kv[i].key == NULL) {
            continue;
        }
        if (text) {
            log_text_field(l, kv[i].key, kv[i].val ? kv[i].val : "");
        } else {
            log_json_field(l, kv[i].key, kv[i].val ? kv[i].val : "");
        }
    }
    if (suppressed > 0) {
        snprintf(num, sizeof(num), "%llu", (unsigned long long)suppressed);
        if (text) {
            log_text_field(l, "suppressed", num);
        } else {
            log_json_field(l, "suppressed", num);
        }
    }
    log_puts(l, text ? "\n" : "}\n");
}

/* Formats the wall clock as "2026-11-21T06:51:00.123Z" (JSON) or
 * "2026-11-21 06:51:00.123" (text). */
static void log_timestamp(char *out, size_t outlen, bool text)
{
    struct timespec ts;
    struct tm tm;

    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    snprintf(out, outlen, "%04d-%02d-%02d%c%02d:%02d:%02d.%03d%s",
             tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, text ? ' ' : 'T',
             tm.tm_hour, tm.tm_min, tm.tm_sec,
             (int)((ts.tv_nsec / 1000000L) % 1000), text ? "" : "Z");
}

/* Writes the timestamp, level and component. */
static void log_put_head(struct log_line *l, bool text, int level,
                         const char *comp)
{
    char ts[96];

    log_timestamp(ts, sizeof(ts), text);
    if (text) {
        log_puts(l, ts);
        log_puts(l, " [");
        log_puts(l, sl_log_level_name(level));
        log_puts(l, strlen(sl_log_level_name(level)) < 5 ? " ] " : "] ");
        log_put_escaped(l, comp, strlen(comp), false, LOG_TAIL_MAX);
        log_puts(l, ": ");
        return;
    }
    log_puts(l, "{\"timestamp\":\"");
    log_puts(l, ts);
    log_puts(l, "\",\"level\":\"");
    log_puts(l, sl_log_level_name(level));
    log_puts(l, "\",\"component\":\"");
    log_put_escaped(l, comp, strlen(comp), true, LOG_TAIL_MAX);
    log_puts(l, "\",\"message\":\"");
}

/* write(2) the whole line, retrying on EINTR and short writes. */
static void log_write(const char *p, size_t n)
{
    int fd = log_out_fd();
    ssize_t w;

    while (n > 0) {
        w = write(fd, p, n);
        if (w < 0 && errno == EINTR) {
            continue;
        }
        if (w <= 0) {
            return;
        }
        p += w;
        n -= (size_t)w;
    }
}

/* ---- capture ---- */

/* Starts the capture ring; see sluice/log.h. */
int sl_log_capture_start(size_t cap, int min_level, const char *self)
{
    struct sl_log_entry *ring;
    int rc = SL_OK;

    if (cap == 0) {
        return SL_EINVAL;
    }
    ring = sl_calloc(cap, sizeof(*ring));
    if (ring == NULL) {
        return SL_ENOMEM;
    }
    pthread_mutex_lock(&log_cap_lock);
    if (log_cap_ring != NULL) {
        rc = SL_EEXIST;
    } else {
        log_cap_ring = ring;
        ring = NULL;
        log_cap_size = cap;
        log_cap_head = 0;
        log_cap_count = 0;
        log_cap_dropped = 0;
        log_cap_level = min_level;
        snprintf(log_cap_self, sizeof(log_cap_self), "%s",
                 self != NULL ? self : "");
        __atomic_store_n(&log_cap_on, 1, __ATOMIC_RELEASE);
    }
    pthread_mutex_unlock(&log_cap_lock);
    sl_free(ring);
    return rc;
}

/* Stops the capture and frees the ring. */
void sl_log_capture_stop(void)
{
    struct sl_log_entry *ring;

    pthread_mutex_lock(&log_cap_lock);
    __atomic_store_n(&log_cap_on, 0, __ATOMIC_RELEASE);
    ring = log_cap_ring;
    log_cap_ring = NULL;
    log_cap_size = 0;
    log_cap_count = 0;
    pthread_mutex_unlock(&log_cap_lock);
    sl_free(ring);
}

/* Moves the oldest entries out of the ring; see sluice/log.h. */
size_t sl_log_capture_drain(struct sl_log_entry *out, size_t max,
                            uint64_t *dropped)
{
    size_t n = 0;

    pthread_mutex_lock(&log_cap_lock);
    while (log_cap_ring != NULL && n < max && log_cap_count > 0) {
        out[n++] = log_cap_ring[log_cap_head];
        log_cap_head = (log_cap_head + 1) % log_cap_size;
        log_cap_count--;
    }
    if (dropped != NULL) {
        *dropped = log_cap_dropped;
    }
    log_cap_dropped = 0;
    pthread_mutex_unlock(&log_cap_lock);
    return n;
}

/* Mutes the capture for the calling thread. */
void sl_log_capture_mute(bool on)
{
    log_cap_muted = on;
}

/* Copies one line into the ring, or counts it dropped when full. */
static void log_capture(const char *comp, int level, const char *msg)
{
    struct sl_log_entry *e;

    if (__atomic_load_n(&log_cap_on, __ATOMIC_ACQUIRE) == 0 ||
        log_cap_muted) {
        return;
    }
    pthread_mutex_lock(&log_cap_lock);
    if (log_cap_ring == NULL || level > log_cap_level ||
        strcmp(comp, log_cap_self) == 0) {
        goto out;
    }
    if (log_cap_count == log_cap_size) {
        log_cap_dropped++;
        goto out;
    }
    e = &log_cap_ring[(log_cap_head + log_cap_count) % log_cap_size];
    e->ts_ns = sl_time_now_ns();
    e->level = level;
    snprintf(e->component, sizeof(e->component), "%s", comp);
    snprintf(e->message, sizeof(e->message), "%s", msg);
    log_cap_count++;
out:
    pthread_mutex_unlock(&log_cap_lock);
}

/* Builds and writes one line; see the contract in sluice/log.h. */
static void log_vemit(const char *comp, int level, const struct sl_log_kv *kv,
                      size_t nkv, uint64_t suppressed, const char *fmt,
                      va_list ap) __attribute__((format(printf, 6, 0)));
static void log_vemit(const char *comp, int level, const struct sl_log_kv *kv,
                      size_t nkv, uint64_t suppressed, const char *fmt,
                      va_list ap)
{
    char buf[LOG_LINE_MAX];
    char tail[LOG_TAIL_MAX];
    char msg[LOG_MSG_MAX];
    struct log_line l = { .p = buf, .cap = sizeof(buf) };
    struct log_line t = { .p = tail, .cap = sizeof(tail) };
    bool text = __atomic_load_n(&log_text, __ATOMIC_RELAXED) == 1;
    bool cut;
    int n;

    n = vsnprintf(msg, sizeof(msg), fmt, ap);
    if (n < 0) {
        n = 0;
        msg[0] = '\0';
    }
    cut = (size_t)n >= sizeof(msg);
    log_capture(comp, level, msg);
    log_put_fields(&t, text, kv, nkv, suppressed);
    if (t.truncated) {
        /* Too many fields: keep the line well-formed without them. */
        t.len = 0;
        t.truncated = false;
        log_put_fields(&t, text, NULL, 0, suppressed);
    }
    log_put_head(&l, text, level, comp);
    if (!log_put_escaped(&l, msg, cut ? sizeof(msg) - 1 : (size_t)n, !text,
                         t.len + 1 + sizeof(LOG_ELLIPSIS)) ||
        cut) {
        log_puts(&l, LOG_ELLIPSIS);
    }
    if (!text) {
        log_puts(&l, "\"");
    }
    log_put(&l, tail, t.len);
    log_write(buf, l.len);
}

/* Writes one line at <level>; see sluice/log.h. */
void sl_log_emit(const struct sl_instance *ins, const char *component,
                 int level, const struct sl_log_kv *kv, size_t nkv,
                 const char *fmt, ...)
{
    int saved = errno;
    uint64_t suppressed = 0;
    const char *comp = NULL;
    va_list ap;

    if (fmt == NULL || level <= SL_LOG_OFF || level > SL_LOG_TRACE) {
        return;
    }
    if (__atomic_load_n(&log_text, __ATOMIC_RELAXED) < 0) {
        log_resolve_format();
    }
    if (ins != NULL) {
        comp = sl_instance_name(ins);
    }
    if (comp == NULL) {
        comp = component != NULL ? component : "sluice";
    }
    if (!log_rate_check(comp, fmt, &suppressed)) {
        errno = saved;
        return;
    }
    va_start(ap, fmt);
    log_vemit(comp, level, kv, nkv, suppressed, fmt, ap);
    va_end(ap);
    errno = saved;
}
