/*
 * out_syslog.c - send records as syslog messages (RFC 5424 or RFC 3164)
 * over UDP, TCP or TLS.
 *
 * Formatting (syslog_fmt_*) maps record fields to the syslog header:
 * severity and facility from a key (numbers or names such as "error",
 * "WARNING", "local3") or a preset, host name, app name, procid and msgid
 * from keys, structured data from object-valued keys (sd_keys) with
 * PARAM-VALUE escaping of '"', '\' and ']', and MSG from message_key or
 * the whole record as JSON.  A message longer than max_size is cut at a
 * UTF-8 boundary, ends with "..." and is counted.
 *
 * Transport.  UDP: one datagram per record, sent from flush on a connected
 * socket.  TCP/TLS: each worker owns one bufferevent, connected lazily by
 * the first flush (and again after a failure); the batch's frames are
 * handed to it and flush returns PENDING.  The batch is confirmed only
 * when the kernel has sent every byte, the peer's TCP stack acknowledged
 * them (the socket's unacknowledged output queue is empty) and the
 * connection then stayed healthy for confirm_after.  An error, EOF or
 * timeout before that completes it with RETRY; the engine's backoff
 * spaces the reconnects, so a refused connection fails at once.
 *
 * Even so, a TCP acknowledgement is not an application acknowledgement:
 * a receiver that crashes after its kernel acknowledged the bytes loses
 * them, and a retried batch may be delivered twice.  UDP gives no
 * confirmation at all.
 *
 * The connection, TLS and batch-in-flight mechanics are the shared
 * connector (sluice/connector.h); this file adds the confirmation.
 *
 * Threads: init/exit on the main thread; everything else on the worker's
 * own loop (sl_worker_base).  The instance context is read-only after
 * init; each worker has its own arena and buffers.
 */
#include <errno.h>
#include <event2/event.h>
#include <inttypes.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "sluice/connector.h"
#include "sluice/plugin.h"
#include "sluice/banned.h"

#define SYSLOG_MAX_SD 16
#define SYSLOG_UDP_DEFAULT 2048
#define SYSLOG_STREAM_DEFAULT (64 * 1024)
#define SYSLOG_TRUNC_MARK "..."
#define SYSLOG_CONFIRM_POLL_MS 5

enum syslog_mode { SYSLOG_UDP, SYSLOG_TCP, SYSLOG_TLS };
enum syslog_format { SYSLOG_5424, SYSLOG_3164 };
enum syslog_framing { SYSLOG_OCTET, SYSLOG_LF };

struct out_syslog_conf {
    int mode;
    struct sl_connector_conf conn;
    int syslog_format;
    int framing;
    uint64_t max_size;
    char *severity_key;
    char *severity_preset;
    char *facility_key;
    char *facility_preset;
    char *hostname_key;
    char *appname_key;
    char *procid_key;
    char *msgid_key;
    struct sl_strlist sd_keys;
    char *message_key;
    int64_t confirm_after; /* ms */
};

/* A record field named by a key option; unset when acc.n == 0. */
struct syslog_field {
    struct sl_accessor acc;
    bool set;
};

/* Everything formatting needs; immutable after init. */
struct syslog_fmt {
    int format;
    int framing;
    bool stream; /* tcp or tls: framing applies */
    size_t max_size;
    int sev_preset;
    int fac_preset;
    const char *hostname;
    struct syslog_field sev, fac, host, app, procid, msgid, msg;
    struct syslog_field sd[SYSLOG_MAX_SD];
    size_t nsd;
};

struct out_syslog {
    const struct out_syslog_conf *conf;
    struct syslog_fmt fmt;
    struct sl_connector *connector;
    struct sl_metric *m_truncated;
};

/* Per-worker scratch for formatting one record. */
struct syslog_scratch {
    struct sl_arena arena;
    struct sl_buf msg;  /* one syslog message, without framing */
    struct sl_buf text; /* scalar text of a field */
};

struct out_syslog_worker {
    const struct out_syslog *s;
    struct syslog_scratch sc;
    struct sl_buf out;
    int udp_fd;
    struct sl_connector_conn *conn;
    struct event *confirm_timer;
    int64_t drained_ns; /* when the output buffer reached the kernel */
    int64_t acked_ns;   /* when the peer acknowledged every byte */
};

static const char *const syslog_modes[] = { "udp", "tcp", "tls", NULL };
static const char *const syslog_formats[] = { "rfc5424", "rfc3164", NULL };
static const char *const syslog_framings[] = { "octet_counting", "lf", NULL };

#define SYSLOG_KEY_OPT(oname, field, what)                                    \
    { .name = oname,                                                          \
      .type = SL_OPT_STR,                                                     \
      SL_OPT_FIELD(struct out_syslog_conf, field),                            \
      .desc = "Record key (or accessor such as $a['b']) holding the " what    \
              "." }

static const struct sl_option out_syslog_options[] = {
    { .name = "mode",
      .type = SL_OPT_ENUM,
      .def = "tcp",
      .choices = syslog_modes,
      SL_OPT_FIELD(struct out_syslog_conf, mode),
      .desc = "Transport: udp (one datagram per record, no confirmation), "
              "tcp or tls (RFC 5425)." },
    { .name = "host",
      .type = SL_OPT_STR,
      .def = "127.0.0.1",
      SL_OPT_FIELD(struct out_syslog_conf, conn.host),
      .desc = "Host name or address of the syslog receiver." },
    { .name = "port",
      .type = SL_OPT_INT,
      .def = "514",
      .min = 1,
      .max = 65535,
      SL_OPT_FIELD(struct out_syslog_conf, conn.port),
      .desc = "Port of the receiver (514 for udp and tcp, 6514 is usual for "
              "tls)." },
    { .name = "syslog_format",
      .type = SL_OPT_ENUM,
      .def = "rfc5424",
      .choices = syslog_formats,
      SL_OPT_FIELD(struct out_syslog_conf, syslog_format),
      .desc = "Message format: rfc5424 (with structured data) or rfc3164 "
              "(BSD, local time without year)." },
    { .name = "framing",
      .type = SL_OPT_ENUM,
      .def = "octet_counting",
      .choices = syslog_framings,
      SL_OPT_FIELD(struct out_syslog_conf, framing),
      .desc = "Framing over tcp and tls (RFC 6587): octet_counting (length "
              "prefix; messages may hold newlines) or lf (a newline after "
              "each message; CR and LF inside it become spaces). tls should "
              "use octet_counting." },
    { .name = "max_size",
      .type = SL_OPT_SIZE,
      .def = "0",
      .max = 16 << 20,
      SL_OPT_FIELD(struct out_syslog_conf, max_size),
      .desc = "Longest message in bytes, framing excluded. A longer one is "
              "cut at a UTF-8 character boundary, ends with \"...\" and is "
              "counted in sluice_syslog_truncated_total. 0: 2048 for udp, "
              "64K for tcp and tls." },
    { .name = "severity_key",
      .type = SL_OPT_STR,
      SL_OPT_FIELD(struct out_syslog_conf, severity_key),
      .desc = "Record key holding the severity: a number 0-7 or a level "
              "name (emerg, alert, crit, critical, fatal, err, error, warn, "
              "warning, notice, info, debug, trace; any case). Missing or "
              "unknown: severity_preset." },
    { .name = "severity_preset",
      .type = SL_OPT_STR,
      .def = "info",
      SL_OPT_FIELD(struct out_syslog_conf, severity_preset),
      .desc = "Severity when the record has none: a number 0-7 or a name." },
    { .name = "facility_key",
      .type = SL_OPT_STR,
      SL_OPT_FIELD(struct out_syslog_conf, facility_key),
      .desc = "Record key holding the facility: a number 0-23 or a name "
              "(kern, user, mail, daemon, auth, syslog, lpr, news, uucp, "
              "cron, authpriv, ftp, ntp, security, console, solaris-cron, "
              "local0 to local7). Missing or unknown: facility_preset." },
    { .name = "facility_preset",
      .type = SL_OPT_STR,
      .def = "user",
      SL_OPT_FIELD(struct out_syslog_conf, facility_preset),
      .desc = "Facility when the record has none: a number 0-23 or a "
              "name." },
    { .name = "hostname_key",
      .type = SL_OPT_STR,
      SL_OPT_FIELD(struct out_syslog_conf, hostname_key),
      .desc = "Record key holding the HOSTNAME field. Missing: the local "
              "host name." },
    SYSLOG_KEY_OPT("appname_key", appname_key,
                   "APP-NAME (the TAG in rfc3164). Missing: '-' in rfc5424, "
                   "'sluice' in rfc3164"),
    SYSLOG_KEY_OPT("procid_key", procid_key,
                   "PROCID (the [pid] of the rfc3164 TAG). Missing: '-'"),
    SYSLOG_KEY_OPT("msgid_key", msgid_key,
                   "MSGID (rfc5424 only). Missing: '-'"),
    { .name = "sd_keys",
      .type = SL_OPT_LIST,
      SL_OPT_FIELD(struct out_syslog_conf, sd_keys),
      .desc = "Record keys whose object values become RFC 5424 structured "
              "data: the key is the SD-ID (e.g. 'meta@32473'), each member "
              "a PARAM-NAME=\"value\" with '\"', '\\\\' and ']' escaped. At "
              "most 16." },
    { .name = "message_key",
      .type = SL_OPT_STR,
      SL_OPT_FIELD(struct out_syslog_conf, message_key),
      .desc = "Record key holding MSG (a string is sent as its bytes, other "
              "values as JSON). Unset, or missing from a record: the whole "
              "record as compact JSON." },
    SL_CONNECTOR_TLS_OPTIONS(
        struct out_syslog_conf, conn,
        "Verify the receiver's certificate chain and that it names "
        "tls.vhost (or host).",
        "PEM client certificate for mutual TLS; needs tls.key_file."),
    SL_CONNECTOR_TIMEOUT_OPTIONS(
        struct out_syslog_conf, conn,
        "Drop the connection and retry the batch when the receiver "
        "takes or acknowledges no bytes for this long."),
    { .name = "confirm_after",
      .type = SL_OPT_TIME,
      .def = "100ms",
      .max = 60 * 1000,
      SL_OPT_FIELD(struct out_syslog_conf, confirm_after),
      .desc = "tcp and tls: a batch is confirmed once the receiver's TCP "
              "stack acknowledged every byte and the connection then stayed "
              "open this long (a receiver that rejects a TLS client after "
              "the handshake closes it within this time). 0: confirm on the "
              "TCP acknowledgement." },
    SL_OPT_END,
};

/* ---- names ---- */

struct syslog_name {
    const char *name;
    int code;
};

static const struct syslog_name syslog_severities[] = {
    { "emerg", 0 },   { "emergency", 0 },     { "panic", 0 },
    { "alert", 1 },   { "crit", 2 },          { "critical", 2 },
    { "fatal", 2 },   { "err", 3 },           { "error", 3 },
    { "warn", 4 },    { "warning", 4 },       { "notice", 5 },
    { "info", 6 },    { "informational", 6 }, { "information", 6 },
    { "debug", 7 },   { "trace", 7 },         { NULL, 0 },
};

static const struct syslog_name syslog_facilities[] = {
    { "kern", 0 },     { "user", 1 },     { "mail", 2 },
    { "daemon", 3 },   { "auth", 4 },     { "syslog", 5 },
    { "lpr", 6 },      { "news", 7 },     { "uucp", 8 },
    { "cron", 9 },     { "authpriv", 10 }, { "ftp", 11 },
    { "ntp", 12 },     { "security", 13 }, { "console", 14 },
    { "solaris-cron", 15 }, { "local0", 16 }, { "local1", 17 },
    { "local2", 18 },  { "local3", 19 },  { "local4", 20 },
    { "local5", 21 },  { "local6", 22 },  { "local7", 23 },
    { NULL, 0 },
};

/* Code of <s> (a decimal number within 0..<max> or a name of <names>,
 * any case), or -1. */
static int syslog_code(struct sl_str s, const struct syslog_name *names,
                       int max)
{
    char low[24];
    size_t i;
    int n = 0;

    if (s.len == 0 || s.len >= sizeof(low)) {
        return -1;
    }
    if (s.ptr[0] >= '0' && s.ptr[0] <= '9') {
        for (i = 0; i < s.len && n <= max; i++) {
            if (s.ptr[i] < '0' || s.ptr[i] > '9') {
                return -1;
            }
            n = n * 10 + (s.ptr[i] - '0');
        }
        return n <= max ? n : -1;
    }
    for (i = 0; i < s.len; i++) {
        char c = s.ptr[i];

        low[i] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
    }
    low[s.len] = '\0';
    for (i = 0; names[i].name != NULL; i++) {
        if (strcmp(names[i].name, low) == 0) {
            return names[i].code;
        }
    }
    return -1;
}

/* ---- formatting ---- */

/* Text of field <f> in <root>; false when it is unset or missing. */
static bool syslog_field_text(const struct syslog_field *f,
                              const struct sl_json *root,
                              struct syslog_scratch *sc, struct sl_str *out)
{
    const struct sl_json *v;

    if (!f->set || root == NULL) {
        return false;
    }
    v = sl_accessor_get(&f->acc, root);
    if (v == NULL || v->type == SL_JSON_NULL) {
        return false;
    }
    sl_buf_reset(&sc->text);
    return sl_json_scalar_text(v, &sc->text, out);
}

static int syslog_field_code(const struct syslog_field *f,
                             const struct sl_json *root,
                             struct syslog_scratch *sc,
                             const struct syslog_name *names, int max, int def)
{
    struct sl_str t;
    int code;

    if (!syslog_field_text(f, root, sc, &t)) {
        return def;
    }
    code = syslog_code(t, names, max);
    return code >= 0 ? code : def;
}

/* Appends a header field: printable US-ASCII (33-126) with anything else
 * replaced by '_', at most <max> bytes, or "-" when empty. */
static int syslog_put_header(struct sl_buf *b, struct sl_str s, size_t max)
{
    size_t i, n = s.len < max ? s.len : max;
    int rc = SL_OK;

    if (n == 0) {
        return sl_buf_putc(b, '-');
    }
    for (i = 0; i < n && rc == SL_OK; i++) {
        unsigned char c = (unsigned char)s.ptr[i];

        rc = sl_buf_putc(b, (c >= 33 && c <= 126) ? (char)c : '_');
    }
    return rc;
}

/* Appends an SD-NAME (SD-ID or PARAM-NAME): printable US-ASCII except
 * '=', ' ', ']' and '"', at most 32 bytes. */
static int syslog_put_sd_name(struct sl_buf *b, struct sl_str s)
{
    size_t i, n = s.len < 32 ? s.len : 32;
    int rc = SL_OK;

    if (n == 0) {
        return sl_buf_putc(b, '_');
    }
    for (i = 0; i < n && rc == SL_OK; i++) {
        unsigned char c = (unsigned char)s.ptr[i];
        bool ok = c >= 33 && c <= 126 && c != '=' && c != ']' && c != '"';

        rc = sl_buf_putc(b, ok ? (char)c : '_');
    }
    return rc;
}

/* Appends a PARAM-VALUE with exactly '"', '\' and ']' escaped
 * (RFC 5424 6.3.3). */
static int syslog_put_sd_value(struct sl_buf *b, struct sl_str s)
{
    size_t i, start = 0;
    int rc = SL_OK;

    for (i = 0; i < s.len && rc == SL_OK; i++) {
        char c = s.ptr[i];

        if (c == '"' || c == '\\' || c == ']') {
            rc = sl_buf_append(b, s.ptr + start, i - start);
            if (rc == SL_OK) {
                rc = sl_buf_putc(b, '\\');
            }
            start = i;
        }
    }
    return rc == SL_OK ? sl_buf_append(b, s.ptr + start, s.len - start) : rc;
}

/* Appends one SD-ELEMENT for object <v> named <id>. */
static int syslog_put_sd_element(struct sl_buf *b, struct sl_str id,
                                 const struct sl_json *v, struct sl_buf *text)
{
    struct sl_str t;
    size_t i;
    int rc;

    rc = sl_buf_putc(b, '[');
    if (rc == SL_OK) {
        rc = syslog_put_sd_name(b, id);
    }
    for (i = 0; i < v->u.obj.n && rc == SL_OK; i++) {
        const struct sl_json_member *m = &v->u.obj.v[i];

        sl_buf_reset(text);
        if (!sl_json_scalar_text(m->val, text, &t)) {
            return SL_ENOMEM;
        }
        rc = sl_buf_putc(b, ' ');
        if (rc == SL_OK) {
            rc = syslog_put_sd_name(b, m->key);
        }
        if (rc == SL_OK) {
            rc = sl_buf_append(b, "=\"", 2);
        }
        if (rc == SL_OK) {
            rc = syslog_put_sd_value(b, t);
        }
        if (rc == SL_OK) {
            rc = sl_buf_putc(b, '"');
        }
    }
    return rc == SL_OK ? sl_buf_putc(b, ']') : rc;
}

/* Appends STRUCTURED-DATA: the elements of sd_keys, or "-". */
static int syslog_put_sd(const struct syslog_fmt *f, const struct sl_json *root,
                         struct syslog_scratch *sc, struct sl_buf *b)
{
    size_t i, before = b->len;
    int rc = SL_OK;

    for (i = 0; i < f->nsd && root != NULL && rc == SL_OK; i++) {
        const struct sl_accessor *acc = &f->sd[i].acc;
        const struct sl_json *v = sl_accessor_get(acc, root);

        if (v == NULL || v->type != SL_JSON_OBJECT || acc->n == 0 ||
            acc->steps[acc->n - 1].is_index) {
            continue;
        }
        rc = syslog_put_sd_element(b, acc->steps[acc->n - 1].key, v,
                                   &sc->text);
    }
    if (rc == SL_OK && b->len == before) {
        rc = sl_buf_putc(b, '-');
    }
    return rc;
}

static int syslog_put_time(const struct syslog_fmt *f, int64_t ns,
                           struct sl_buf *b)
{
    static const char *const mon[] = { "Jan", "Feb", "Mar", "Apr",
                                       "May", "Jun", "Jul", "Aug",
                                       "Sep", "Oct", "Nov", "Dec" };
    char t[64];
    time_t s = (time_t)(ns / SL_NS_PER_S);
    struct tm tm;
    size_t n;

    if (f->format == SYSLOG_5424) {
        n = sl_time_format_rfc3339(ns, 6, t, sizeof(t));
        return n > 0 ? sl_buf_append(b, t, n) : sl_buf_putc(b, '-');
    }
    if (localtime_r(&s, &tm) == NULL) {
        return SL_EINVAL;
    }
    return sl_buf_printf(b, "%s %2d %02d:%02d:%02d", mon[tm.tm_mon % 12],
                         tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

/* Appends " PROCID" (rfc5424, "-" when missing) or "[PID]" (rfc3164,
 * nothing when missing). */
static int syslog_put_procid(const struct syslog_fmt *f,
                             const struct sl_json *root,
                             struct syslog_scratch *sc, struct sl_buf *b)
{
    bool bsd = f->format == SYSLOG_3164;
    struct sl_str t;
    int rc;

    if (!syslog_field_text(&f->procid, root, sc, &t)) {
        return bsd ? SL_OK : sl_buf_append(b, " -", 2);
    }
    rc = sl_buf_putc(b, bsd ? '[' : ' ');
    if (rc == SL_OK) {
        rc = syslog_put_header(b, t, 128);
    }
    if (rc == SL_OK && bsd) {
        rc = sl_buf_putc(b, ']');
    }
    return rc;
}

/* Appends HOSTNAME SP APP-NAME (rfc3164: HOSTNAME SP TAG). */
static int syslog_put_host_app(const struct syslog_fmt *f,
                               const struct sl_json *root,
                               struct syslog_scratch *sc, struct sl_buf *b)
{
    bool bsd = f->format == SYSLOG_3164;
    struct sl_str t;
    int rc;

    if (!syslog_field_text(&f->host, root, sc, &t)) {
        t = sl_str_cstr(f->hostname);
    }
    rc = syslog_put_header(b, t, 255);
    if (rc == SL_OK) {
        rc = sl_buf_putc(b, ' ');
    }
    if (rc != SL_OK) {
        return rc;
    }
    if (!syslog_field_text(&f->app, root, sc, &t)) {
        t = bsd ? SL_STR_LIT("sluice") : SL_STR_NULL;
    }
    return syslog_put_header(b, t, bsd ? 32 : 48);
}

/* Appends the header fields after the time, for either format. */
static int syslog_put_names(const struct syslog_fmt *f,
                            const struct sl_json *root,
                            struct syslog_scratch *sc, struct sl_buf *b)
{
    struct sl_str t;
    int rc = syslog_put_host_app(f, root, sc, b);

    if (rc == SL_OK) {
        rc = syslog_put_procid(f, root, sc, b);
    }
    if (rc != SL_OK || f->format == SYSLOG_3164) {
        return rc == SL_OK ? sl_buf_putc(b, ':') : rc;
    }
    rc = sl_buf_putc(b, ' ');
    if (rc == SL_OK) {
        if (!syslog_field_text(&f->msgid, root, sc, &t)) {
            t = SL_STR_NULL;
        }
        rc = syslog_put_header(b, t, 32);
    }
    if (rc == SL_OK) {
        rc = sl_buf_putc(b, ' ');
    }
    return rc == SL_OK ? syslog_put_sd(f, root, sc, b) : rc;
}

/* Appends MSG: message_key's value or the whole record; in LF framing CR
 * and LF become spaces. */
static int syslog_put_msg(const struct syslog_fmt *f,
                          const struct sl_json *root, struct sl_str body,
                          struct syslog_scratch *sc, struct sl_buf *b)
{
    struct sl_str t;
    size_t start = b->len, i;
    int rc;

    if (!syslog_field_text(&f->msg, root, sc, &t)) {
        t = body;
    }
    if (t.len == 0) {
        return SL_OK;
    }
    rc = sl_buf_putc(b, ' ');
    if (rc == SL_OK) {
        rc = sl_buf_append(b, t.ptr, t.len);
    }
    if (rc == SL_OK && f->stream && f->framing == SYSLOG_LF) {
        for (i = start; i < b->len; i++) {
            if (b->data[i] == '\n' || b->data[i] == '\r') {
                b->data[i] = ' ';
            }
        }
    }
    return rc;
}

/* Cuts <b> to <max> bytes (at least 64, checked at init) at a UTF-8
 * boundary and ends it with the truncation mark. */
static void syslog_truncate(struct sl_buf *b, size_t max)
{
    size_t mark = sizeof(SYSLOG_TRUNC_MARK) - 1;
    size_t cut = max - mark;

    while (cut > 0 && ((unsigned char)b->data[cut] & 0xC0) == 0x80) {
        cut--;
    }
    memcpy(b->data + cut, SYSLOG_TRUNC_MARK, mark);
    b->len = cut + mark;
    b->data[b->len] = '\0';
}

/* Formats one record into sc->msg (no framing).  *<truncated> tells
 * whether it was cut to max_size. */
static int syslog_fmt_record(const struct syslog_fmt *f,
                             struct syslog_scratch *sc, int64_t ts_ns,
                             struct sl_str body, bool *truncated)
{
    struct sl_json *root = NULL;
    struct sl_buf *b = &sc->msg;
    int sev, fac, rc;

    sl_arena_reset(&sc->arena);
    sl_buf_reset(b);
    *truncated = false;
    if (sl_json_parse(&sc->arena, body.ptr, body.len, &root, NULL) != SL_OK ||
        root->type != SL_JSON_OBJECT) {
        root = NULL;
    }
    sev = syslog_field_code(&f->sev, root, sc, syslog_severities, 7,
                            f->sev_preset);
    fac = syslog_field_code(&f->fac, root, sc, syslog_facilities, 23,
                            f->fac_preset);
    rc = sl_buf_printf(b, f->format == SYSLOG_5424 ? "<%d>1 " : "<%d>",
                       fac * 8 + sev);
    if (rc == SL_OK) {
        rc = syslog_put_time(f, ts_ns != 0 ? ts_ns : sl_time_now_ns(), b);
    }
    if (rc == SL_OK) {
        rc = sl_buf_putc(b, ' ');
    }
    if (rc == SL_OK) {
        rc = syslog_put_names(f, root, sc, b);
    }
    if (rc == SL_OK) {
        rc = syslog_put_msg(f, root, body, sc, b);
    }
    if (rc == SL_OK && b->len > f->max_size) {
        syslog_truncate(b, f->max_size);
        *truncated = true;
    }
    return rc;
}

/* Appends sc->msg to <out> with the stream framing. */
static int syslog_frame(const struct syslog_fmt *f,
                        const struct syslog_scratch *sc, struct sl_buf *out)
{
    int rc;

    if (f->framing == SYSLOG_LF) {
        rc = sl_buf_append(out, sc->msg.data, sc->msg.len);
        return rc == SL_OK ? sl_buf_putc(out, '\n') : rc;
    }
    rc = sl_buf_printf(out, "%zu ", sc->msg.len);
    return rc == SL_OK ? sl_buf_append(out, sc->msg.data, sc->msg.len) : rc;
}

static void syslog_scratch_init(struct syslog_scratch *sc)
{
    sl_arena_init(&sc->arena, 16 * 1024, 0);
    sl_buf_init(&sc->msg, 0);
    sl_buf_init(&sc->text, 0);
}

static void syslog_scratch_fini(struct syslog_scratch *sc)
{
    sl_arena_fini(&sc->arena);
    sl_buf_fini(&sc->msg);
    sl_buf_fini(&sc->text);
}

int sl_out_syslog_format(struct sl_instance *ins, int64_t ts_ns,
                         struct sl_str body, struct sl_buf *out,
                         bool *truncated);

/* For unit tests: formats one record with the configuration of <ins> (a
 * standalone syslog output instance) and appends the framed message (the
 * bare message with mode udp) to <out>.  Returns SL_OK or SL_ENOMEM. */
int sl_out_syslog_format(struct sl_instance *ins, int64_t ts_ns,
                         struct sl_str body, struct sl_buf *out,
                         bool *truncated)
{
    const struct out_syslog *s = sl_instance_ctx(ins);
    struct syslog_scratch sc;
    int rc;

    syslog_scratch_init(&sc);
    rc = syslog_fmt_record(&s->fmt, &sc, ts_ns, body, truncated);
    if (rc == SL_OK) {
        rc = s->fmt.stream ? syslog_frame(&s->fmt, &sc, out)
                           : sl_buf_append(out, sc.msg.data, sc.msg.len);
    }
    syslog_scratch_fini(&sc);
    return rc;
}

/* ---- UDP ---- */

/* Opens a UDP socket connected to host:port (resolved once, blocking:
 * worker thread, first flush only). */
static int syslog_udp_open(struct out_syslog_worker *wk)
{
    const struct sl_connector_conf *c = &wk->s->conf->conn;
    struct addrinfo hints = { .ai_socktype = SOCK_DGRAM };
    struct addrinfo *res = NULL, *ai;
    char port[16];
    int fd = -1;

    snprintf(port, sizeof(port), "%" PRId64, c->port);
    if (getaddrinfo(c->host, port, &hints, &res) != 0) {
        return SL_EPEER;
    }
    for (ai = res; ai != NULL && fd < 0; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, 0);
        if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(res);
    if (fd < 0) {
        return SL_EPEER;
    }
    wk->udp_fd = fd;
    return SL_OK;
}

/* Sends one datagram, waiting up to write_timeout for buffer space.  A
 * refusal reported by ICMP for an earlier datagram is not this one's
 * failure: it is sent again once. */
static int syslog_udp_send(struct out_syslog_worker *wk, const char *p,
                           size_t n)
{
    struct pollfd pfd = { .fd = wk->udp_fd, .events = POLLOUT };
    int tries = 0;

    for (;;) {
        ssize_t w = send(wk->udp_fd, p, n, 0);

        if (w >= 0) {
            return SL_OK;
        }
        if (errno == EINTR) {
            continue;
        }
        if (errno == ECONNREFUSED && tries++ == 0) {
            continue;
        }
        if (errno != EAGAIN && errno != ENOBUFS) {
            return sl_rc_from_errno(errno);
        }
        if (poll(&pfd, 1, (int)wk->s->conf->conn.write_timeout) <= 0) {
            return SL_ETIMEDOUT;
        }
    }
}

static enum sl_flush_result syslog_udp_flush(struct out_syslog_worker *wk,
                                             struct sl_batch *b)
{
    struct sl_batch_iter it;
    struct sl_event ev;
    bool trunc;
    int rc = SL_OK;

    if (wk->udp_fd < 0 && syslog_udp_open(wk) != SL_OK) {
        sl_batch_set_error(b, "cannot resolve or reach %s:%" PRId64,
                           wk->s->conf->conn.host, wk->s->conf->conn.port);
        return SL_FLUSH_RETRY;
    }
    sl_batch_iter_init(b, &it);
    while (rc == SL_OK && sl_batch_next(b, &it, &ev)) {
        rc = syslog_fmt_record(&wk->s->fmt, &wk->sc, ev.ts_ns, ev.body,
                               &trunc);
        if (trunc) {
            sl_metric_add(wk->s->m_truncated, 1);
        }
        if (rc == SL_OK) {
            rc = syslog_udp_send(wk, wk->sc.msg.data, wk->sc.msg.len);
        }
    }
    if (rc != SL_OK) {
        /* Datagrams already sent will be sent again: UDP is at most once
         * per attempt, and best effort overall. */
        sl_batch_set_error(b, "udp send to %s:%" PRId64 ": %s",
                           wk->s->conf->conn.host, wk->s->conf->conn.port,
                           sl_strerror(rc));
        close(wk->udp_fd);
        wk->udp_fd = -1;
        return SL_FLUSH_RETRY;
    }
    return SL_FLUSH_OK;
}

/* ---- TCP and TLS ---- */

/* Bytes the peer's TCP stack has not acknowledged yet, or -1. */
static int syslog_unacked(const struct out_syslog_worker *wk)
{
    int fd = sl_connector_conn_fd(wk->conn);
    int n = 0;

    if (fd < 0 || ioctl(fd, TIOCOUTQ, &n) != 0) {
        return -1;
    }
    return n;
}

/* Polls until every byte is acknowledged, then until the connection has
 * stayed healthy for confirm_after (the read side reports a close). */
static void syslog_confirm_cb(evutil_socket_t fd, short what, void *arg)
{
    struct out_syslog_worker *wk = arg;
    const struct out_syslog_conf *c = wk->s->conf;
    struct timeval tv = { .tv_sec = 0,
                          .tv_usec = SYSLOG_CONFIRM_POLL_MS * 1000 };
    int64_t now = sl_time_mono_ns();

    (void)fd;
    (void)what;
    if (sl_connector_conn_batch(wk->conn) == NULL) {
        return;
    }
    if (wk->acked_ns == 0 && syslog_unacked(wk) <= 0) {
        wk->acked_ns = now;
    }
    if (wk->acked_ns != 0 &&
        now - wk->acked_ns >= c->confirm_after * SL_NS_PER_MS) {
        sl_connector_conn_complete(wk->conn, SL_FLUSH_OK);
        return;
    }
    if (wk->acked_ns == 0 &&
        now - wk->drained_ns >= c->conn.write_timeout * SL_NS_PER_MS) {
        sl_connector_conn_fail(wk->conn, "the receiver acknowledged no "
                                         "bytes within write_timeout");
        return;
    }
    evtimer_add(wk->confirm_timer, &tv);
}

/* The batch reached the kernel: start confirming it. */
static void syslog_drained(struct sl_connector_conn *cn, void *arg)
{
    struct out_syslog_worker *wk = arg;

    if (sl_connector_conn_batch(cn) == NULL) {
        return;
    }
    wk->drained_ns = sl_time_mono_ns();
    wk->acked_ns = 0;
    syslog_confirm_cb(-1, 0, wk);
}

/* The connection failed: stop confirming (the batch is retried). */
static void syslog_closed(struct sl_connector_conn *cn, const char *why,
                          void *arg)
{
    struct out_syslog_worker *wk = arg;

    (void)cn;
    (void)why;
    evtimer_del(wk->confirm_timer);
}

static const struct sl_connector_ops syslog_connector_ops = {
    .drained = syslog_drained,
    .closed = syslog_closed,
};

/* Formats every record of <b> into wk->out with the stream framing. */
static int syslog_stream_batch(struct out_syslog_worker *wk, struct sl_batch *b)
{
    struct sl_batch_iter it;
    struct sl_event ev;
    bool trunc;
    int rc;

    sl_buf_reset(&wk->out);
    rc = sl_buf_reserve(&wk->out, sl_batch_bytes(b) +
                                      sl_batch_count(b) * 160 + 64);
    sl_batch_iter_init(b, &it);
    while (rc == SL_OK && sl_batch_next(b, &it, &ev)) {
        rc = syslog_fmt_record(&wk->s->fmt, &wk->sc, ev.ts_ns, ev.body,
                               &trunc);
        if (trunc) {
            sl_metric_add(wk->s->m_truncated, 1);
        }
        if (rc == SL_OK) {
            rc = syslog_frame(&wk->s->fmt, &wk->sc, &wk->out);
        }
    }
    return rc;
}

static enum sl_flush_result syslog_stream_flush(struct out_syslog_worker *wk,
                                                struct sl_batch *b)
{
    int rc = syslog_stream_batch(wk, b);

    if (rc != SL_OK) {
        sl_batch_set_error(b, "cannot format the batch: %s", sl_strerror(rc));
        return SL_FLUSH_RETRY;
    }
    if (sl_connector_conn_begin(wk->conn, b) != SL_OK) {
        return SL_FLUSH_RETRY;
    }
    /* The whole batch at once, by reference. */
    if (sl_connector_conn_write(wk->conn, &wk->out) != SL_OK) {
        return sl_connector_conn_abort(wk->conn, "out of memory");
    }
    wk->acked_ns = 0;
    return sl_connector_conn_end(wk->conn);
}

static enum sl_flush_result out_syslog_flush(struct sl_batch *b,
                                             struct sl_worker *w)
{
    struct out_syslog_worker *wk = sl_worker_ctx(w);

    if (wk->s->conf->mode == SYSLOG_UDP) {
        return syslog_udp_flush(wk, b);
    }
    return syslog_stream_flush(wk, b);
}

static int out_syslog_worker_init(struct sl_instance *ins, struct sl_worker *w,
                                  struct sl_err *err)
{
    struct out_syslog_worker *wk = sl_calloc(1, sizeof(*wk));

    if (wk == NULL) {
        return sl_err_set(err, SL_ENOMEM, "syslog: out of memory");
    }
    wk->s = sl_instance_ctx(ins);
    wk->udp_fd = -1;
    syslog_scratch_init(&wk->sc);
    sl_buf_init(&wk->out, 0);
    wk->confirm_timer = evtimer_new(sl_worker_base(w), syslog_confirm_cb, wk);
    wk->conn = sl_connector_conn_create(wk->s->connector, sl_worker_base(w),
                                        &syslog_connector_ops, wk);
    if (wk->confirm_timer == NULL || wk->conn == NULL) {
        sl_connector_conn_destroy(wk->conn);
        if (wk->confirm_timer != NULL) {
            event_free(wk->confirm_timer);
        }
        syslog_scratch_fini(&wk->sc);
        sl_free(wk);
        return sl_err_set(err, SL_ENOMEM, "syslog: out of memory");
    }
    sl_worker_set_ctx(w, wk);
    return SL_OK;
}

static void out_syslog_worker_exit(struct sl_instance *ins,
                                   struct sl_worker *w)
{
    struct out_syslog_worker *wk = sl_worker_ctx(w);

    (void)ins;
    if (wk == NULL) {
        return;
    }
    sl_connector_conn_destroy(wk->conn);
    event_free(wk->confirm_timer);
    if (wk->udp_fd >= 0) {
        close(wk->udp_fd);
    }
    syslog_scratch_fini(&wk->sc);
    sl_buf_fini(&wk->out);
    sl_free(wk);
    sl_worker_set_ctx(w, NULL);
}

/* ---- init ---- */

static int syslog_field_init(struct syslog_field *f, const char *key,
                             const char *opt, struct sl_err *err)
{
    int rc;

    if (key == NULL) {
        return SL_OK;
    }
    rc = sl_accessor_compile(&f->acc, key, err);
    if (rc != SL_OK) {
        return sl_err_set(err, rc, "syslog: bad %s '%s': %s", opt, key,
                          err->msg);
    }
    f->set = true;
    return SL_OK;
}

static void syslog_field_fini(struct syslog_field *f)
{
    if (f->set) {
        sl_accessor_fini(&f->acc);
        f->set = false;
    }
}

static int syslog_fields_init(struct syslog_fmt *f,
                              const struct out_syslog_conf *c,
                              struct sl_err *err)
{
    int rc = syslog_field_init(&f->sev, c->severity_key, "severity_key", err);
    size_t i;

    if (rc == SL_OK) {
        rc = syslog_field_init(&f->fac, c->facility_key, "facility_key", err);
    }
    if (rc == SL_OK) {
        rc = syslog_field_init(&f->host, c->hostname_key, "hostname_key", err);
    }
    if (rc == SL_OK) {
        rc = syslog_field_init(&f->app, c->appname_key, "appname_key", err);
    }
    if (rc == SL_OK) {
        rc = syslog_field_init(&f->procid, c->procid_key, "procid_key", err);
    }
    if (rc == SL_OK) {
        rc = syslog_field_init(&f->msgid, c->msgid_key, "msgid_key", err);
    }
    if (rc == SL_OK) {
        rc = syslog_field_init(&f->msg, c->message_key, "message_key", err);
    }
    if (rc == SL_OK && c->sd_keys.n > SYSLOG_MAX_SD) {
        return sl_err_set(err, SL_ECONFIG, "syslog: at most %d sd_keys",
                          SYSLOG_MAX_SD);
    }
    for (i = 0; i < c->sd_keys.n && rc == SL_OK; i++) {
        rc = syslog_field_init(&f->sd[i], c->sd_keys.v[i], "sd_keys", err);
        f->nsd = i + 1;
    }
    return rc;
}

static int syslog_fmt_init(struct syslog_fmt *f,
                           const struct out_syslog_conf *c, struct sl_err *err)
{
    f->format = c->syslog_format;
    f->framing = c->framing;
    f->stream = c->mode != SYSLOG_UDP;
    f->max_size = (size_t)c->max_size;
    if (f->max_size == 0) {
        f->max_size = f->stream ? SYSLOG_STREAM_DEFAULT : SYSLOG_UDP_DEFAULT;
    }
    if (f->max_size < 64 || (!f->stream && f->max_size > 65507)) {
        return sl_err_set(err, SL_ECONFIG,
                          "syslog: max_size must be 64 to %s", f->stream
                                                                   ? "16M"
                                                                   : "65507 "
                                                                     "with udp");
    }
    f->sev_preset = syslog_code(sl_str_cstr(c->severity_preset),
                                syslog_severities, 7);
    f->fac_preset = syslog_code(sl_str_cstr(c->facility_preset),
                                syslog_facilities, 23);
    if (f->sev_preset < 0 || f->fac_preset < 0) {
        return sl_err_set(err, SL_ECONFIG,
                          "syslog: unknown %s '%s'",
                          f->sev_preset < 0 ? "severity_preset"
                                            : "facility_preset",
                          f->sev_preset < 0 ? c->severity_preset
                                            : c->facility_preset);
    }
    f->hostname = sl_hostname();
    return syslog_fields_init(f, c, err);
}

static void out_syslog_exit(struct sl_instance *ins)
{
    struct out_syslog *s = sl_instance_ctx(ins);
    size_t i;

    if (s == NULL) {
        return;
    }
    syslog_field_fini(&s->fmt.sev);
    syslog_field_fini(&s->fmt.fac);
    syslog_field_fini(&s->fmt.host);
    syslog_field_fini(&s->fmt.app);
    syslog_field_fini(&s->fmt.procid);
    syslog_field_fini(&s->fmt.msgid);
    syslog_field_fini(&s->fmt.msg);
    for (i = 0; i < s->fmt.nsd; i++) {
        syslog_field_fini(&s->fmt.sd[i]);
    }
    sl_connector_destroy(s->connector);
    sl_free(s);
    sl_instance_set_ctx(ins, NULL);
}

static int out_syslog_init(struct sl_instance *ins, void *conf,
                           struct sl_err *err)
{
    const struct out_syslog_conf *c = conf;
    struct out_syslog *s = sl_calloc(1, sizeof(*s));
    int rc;

    if (s == NULL) {
        return sl_err_set(err, SL_ENOMEM, "syslog: out of memory");
    }
    s->conf = c;
    sl_instance_set_ctx(ins, s);
    rc = syslog_fmt_init(&s->fmt, c, err);
    if (rc != SL_OK) {
        goto fail;
    }
    s->connector = sl_connector_create(ins, &c->conn, c->mode == SYSLOG_TLS,
                                       "syslog", err);
    if (s->connector == NULL) {
        rc = err->rc;
        goto fail;
    }
    s->m_truncated = sl_metric_counter(
        ins, "sluice_syslog_truncated_total",
        "Syslog messages cut to max_size.", NULL, NULL);
    return SL_OK;
fail:
    out_syslog_exit(ins);
    return rc;
}

const struct sl_plugin sl_plugin_out_syslog = {
    .abi = SL_PLUGIN_ABI,
    .kind = SL_PLUGIN_OUTPUT,
    .name = "syslog",
    .description = "Send records as RFC 5424 or RFC 3164 syslog messages "
                   "over UDP, TCP or TLS.",
    .options = out_syslog_options,
    .conf_size = sizeof(struct out_syslog_conf),
    .init = out_syslog_init,
    .worker_init = out_syslog_worker_init,
    .flush = out_syslog_flush,
    .worker_exit = out_syslog_worker_exit,
    .exit = out_syslog_exit,
};
