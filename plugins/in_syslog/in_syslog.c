/*
 * in_syslog.c - the "syslog" input: receives syslog messages over UDP,
 * TCP, TLS and Unix sockets (stream and datagram).
 *
 * Each message goes to sl_input_ingest; the default parser is the
 * built-in "syslog" parser (plugins/parser_syslog), so the records carry
 * pri, facility, severity, hostname, ... and a message that does not parse
 * is kept as {"log": ...} and counted by the engine.
 *
 * Datagrams (udp, unix_dgram): one message per datagram, read with
 * recvmmsg in batches, a bounded number of batches per readiness.  A
 * datagram longer than max_message_size is cut and counted.  UDP cannot
 * push back: while the engine has paused the input, datagrams are still
 * read (so the kernel buffer does not silently overflow) but dropped and
 * counted in sluice_input_dropped_records_total{reason="overrun"}.
 *
 * Streams (tcp, tls, unix_stream): an evconnlistener accepts connections,
 * each read through a bufferevent (bufferevent_openssl for tls).  The
 * framing is detected on the first byte of each connection (a digit:
 * RFC 6587 octet counting; anything else: LF-terminated, NUL also ends a
 * message) and kept for the connection.  The framer (sl_syslog_framer_*,
 * below) is a pure state machine so that it can be fuzzed: it hands out
 * complete messages, pointing into the read buffer when a message is
 * contiguous and copying only messages split across reads.  A frame
 * longer than max_message_size is cut to that size, ingested, counted in
 * sluice_input_truncated_messages_total, and the rest of the frame is
 * skipped so the connection stays in sync.  A malformed octet count
 * closes the connection (counted in sluice_input_framing_errors_total).
 * At most 1 MiB is processed per read callback, then the callback is
 * re-triggered through the loop.  When paused, reading stops on every
 * connection and no new connection is accepted; the bytes already read
 * stay in the buffers and are ingested on resume.
 *
 * Threads: everything runs on the main loop.  Never blocks, except for
 * the name lookup of "listen" at start.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "sluice/listener.h"
#include "sluice/plugin.h"
#include "sluice/banned.h"

#define SYSLOG_READ_BUDGET  (1024 * 1024)
#define SYSLOG_READ_HIGH    (1024 * 1024)
#define SYSLOG_DGRAM_BYTES  (1024 * 1024)
#define SYSLOG_DGRAM_SLOTS  64
#define SYSLOG_DGRAM_ROUNDS 16
#define SYSLOG_BACKLOG      128
#define SYSLOG_LEN_DIGITS   10
#define SYSLOG_PEEK_VECS    8
#define SYSLOG_FILL_BYTES   (256 * 1024)

/* ---- the stream framer (exported for tests and fuzzing) ---- */

/* Called for each complete message (<truncated>: cut to the maximum).
 * Returns false to stop feeding after this message (input paused). */
typedef bool (*sl_syslog_frame_fn)(void *arg, const char *p, size_t n,
                                   bool truncated);

struct sl_syslog_framer *sl_syslog_framer_create(size_t max);
void sl_syslog_framer_destroy(struct sl_syslog_framer *f);
int sl_syslog_framer_feed(struct sl_syslog_framer *f, const char *p, size_t n,
                          size_t *used, sl_syslog_frame_fn fn, void *arg);
int sl_syslog_framer_finish(struct sl_syslog_framer *f, sl_syslog_frame_fn fn,
                            void *arg);

enum framer_mode {
    FRAMER_DETECT,
    FRAMER_OCTET,
    FRAMER_LF,
};

enum framer_state {
    FRAMER_LEN,  /* octet counting: reading MSG-LEN */
    FRAMER_MSG,  /* reading a message */
    FRAMER_SKIP, /* skipping the rest of a frame that was too long */
};

struct sl_syslog_framer {
    enum framer_mode mode;
    enum framer_state st;
    size_t max;
    uint64_t len;      /* MSG-LEN being read */
    unsigned ndigits;  /* digits of MSG-LEN read so far */
    uint64_t left;     /* octet counting: bytes of the frame still due */
    struct sl_buf buf; /* a message split across reads, <= max bytes */
    sl_syslog_frame_fn fn;
    void *arg;
    bool stop; /* fn asked to stop */
    int rc;    /* SL_ENOMEM from the buffer */
};

/* Hands one message to the callback; trailing CR/LF are dropped and empty
 * messages skipped. */
static void framer_emit(struct sl_syslog_framer *f, const char *p, size_t n,
                        bool truncated)
{
    if (!truncated) {
        while (n > 0 && (p[n - 1] == '\r' || p[n - 1] == '\n')) {
            n--;
        }
    }
    if (n == 0) {
        return;
    }
    if (!f->fn(f->arg, p, n, truncated)) {
        f->stop = true;
    }
}

/* Emits the buffered message and empties the buffer. */
static void framer_emit_buf(struct sl_syslog_framer *f, bool truncated)
{
    framer_emit(f, f->buf.data != NULL ? f->buf.data : "", f->buf.len,
                truncated);
    sl_buf_reset(&f->buf);
}

/* Appends what fits under max.  Returns true when bytes did not fit. */
static bool framer_append(struct sl_syslog_framer *f, const char *p, size_t n)
{
    size_t room = f->max - f->buf.len;
    size_t take = n < room ? n : room;

    if (take > 0 && sl_buf_append(&f->buf, p, take) != SL_OK) {
        f->rc = SL_ENOMEM;
    }
    return n > room;
}

/* A whole frame that is contiguous in the input. */
static void framer_emit_span(struct sl_syslog_framer *f, const char *p,
                             size_t n)
{
    if (n > f->max) {
        framer_emit(f, p, f->max, true);
    } else {
        framer_emit(f, p, n, false);
    }
}

/* LF framing: up to and including the next LF or NUL. */
static size_t framer_lf_step(struct sl_syslog_framer *f, const char *p,
                             size_t n)
{
    const char *nl = memchr(p, '\n', n);
    const char *z = memchr(p, '\0', nl != NULL ? (size_t)(nl - p) : n);
    const char *eom = z != NULL ? z : nl;
    size_t k;

    if (eom == NULL) {
        if (f->st != FRAMER_SKIP && framer_append(f, p, n)) {
            framer_emit_buf(f, true);
            f->st = FRAMER_SKIP;
        }
        return n;
    }
    k = (size_t)(eom - p);
    if (f->st == FRAMER_SKIP) {
        f->st = FRAMER_MSG;
    } else if (f->buf.len == 0) {
        framer_emit_span(f, p, k);
    } else {
        framer_emit_buf(f, framer_append(f, p, k));
    }
    return k + 1;
}

/* Octet counting: MSG-LEN and its space.  Returns bytes used or
 * SL_EPARSE. */
static long framer_len_step(struct sl_syslog_framer *f, const char *p, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        char c = p[i];

        if (f->ndigits == 0 &&
            (c == '\n' || c == '\r' || c == '\0' || c == ' ')) {
            continue; /* lenient between frames */
        }
        if (c == ' ') {
            f->st = FRAMER_MSG;
            f->left = f->len;
            f->len = 0;
            f->ndigits = 0;
            return (long)(i + 1);
        }
        if (c < '0' || c > '9' || (f->ndigits == 0 && c == '0') ||
            f->ndigits >= SYSLOG_LEN_DIGITS) {
            return SL_EPARSE;
        }
        f->len = f->len * 10 + (uint64_t)(c - '0');
        f->ndigits++;
    }
    return (long)n;
}

/* Octet counting: the message bytes, or the skipped rest of one. */
static size_t framer_octet_step(struct sl_syslog_framer *f, const char *p,
                                size_t n)
{
    size_t take = f->left < n ? (size_t)f->left : n;
    bool over;

    if (f->st == FRAMER_MSG && f->buf.len == 0 && take == f->left) {
        f->st = FRAMER_LEN;
        f->left = 0;
        framer_emit_span(f, p, take);
        return take;
    }
    f->left -= take;
    if (f->st == FRAMER_SKIP) {
        if (f->left == 0) {
            f->st = FRAMER_LEN;
        }
        return take;
    }
    over = framer_append(f, p, take);
    if (over || f->left == 0) {
        framer_emit_buf(f, over);
        f->st = f->left == 0 ? FRAMER_LEN : FRAMER_SKIP;
    }
    return take;
}

/* Picks the framing from the first byte that is not white space. */
static size_t framer_detect(struct sl_syslog_framer *f, const char *p, size_t n)
{
    size_t i = 0;

    while (i < n &&
           (p[i] == '\n' || p[i] == '\r' || p[i] == '\0' || p[i] == ' ')) {
        i++;
    }
    if (i < n) {
        f->mode = (p[i] >= '0' && p[i] <= '9') ? FRAMER_OCTET : FRAMER_LF;
        f->st = f->mode == FRAMER_OCTET ? FRAMER_LEN : FRAMER_MSG;
    }
    return i;
}

/* One step of the state machine; returns bytes used or SL_EPARSE. */
static long framer_step(struct sl_syslog_framer *f, const char *p, size_t n)
{
    switch (f->mode) {
    case FRAMER_DETECT:
        return (long)framer_detect(f, p, n);
    case FRAMER_LF:
        return (long)framer_lf_step(f, p, n);
    case FRAMER_OCTET:
        if (f->st == FRAMER_LEN) {
            return framer_len_step(f, p, n);
        }
        return (long)framer_octet_step(f, p, n);
    }
    return SL_EPARSE;
}

/*
 * Creates a framer for messages of at most <max> bytes (> 0).  Returns
 * NULL on ENOMEM.  The caller owns it; free with
 * sl_syslog_framer_destroy.
 */
struct sl_syslog_framer *sl_syslog_framer_create(size_t max)
{
    struct sl_syslog_framer *f = sl_calloc(1, sizeof(*f));

    if (f == NULL) {
        return NULL;
    }
    f->max = max > 0 ? max : 1;
    f->mode = FRAMER_DETECT;
    f->st = FRAMER_MSG;
    sl_buf_init(&f->buf, 0);
    return f;
}

void sl_syslog_framer_destroy(struct sl_syslog_framer *f)
{
    if (f == NULL) {
        return;
    }
    sl_buf_fini(&f->buf);
    sl_free(f);
}

/*
 * Feeds <n> bytes at <p>: calls <fn> for each complete message (the
 * pointer is valid during the call only).  Stops early when <fn> returns
 * false; *<used> is the number of bytes consumed, and the caller feeds the
 * rest later.  Returns SL_OK, SL_EPARSE for a malformed octet count (the
 * connection should be closed) or SL_ENOMEM.  Never blocks.
 */
int sl_syslog_framer_feed(struct sl_syslog_framer *f, const char *p, size_t n,
                          size_t *used, sl_syslog_frame_fn fn, void *arg)
{
    size_t off = 0;
    long k;

    f->fn = fn;
    f->arg = arg;
    f->stop = false;
    f->rc = SL_OK;
    while (off < n && !f->stop) {
        k = framer_step(f, p + off, n - off);
        if (k < 0) {
            *used = off;
            return (int)k;
        }
        off += (size_t)k;
        if (f->rc != SL_OK) {
            break;
        }
    }
    *used = off;
    return f->rc;
}

/*
 * The stream ended: emits a partial last message (LF framing: as is;
 * octet counting: as truncated) and resets the framer.  Returns SL_OK, or
 * SL_EPARSE when the stream ended inside an octet count.
 */
int sl_syslog_framer_finish(struct sl_syslog_framer *f, sl_syslog_frame_fn fn,
                            void *arg)
{
    int rc = SL_OK;

    f->fn = fn;
    f->arg = arg;
    if (f->mode == FRAMER_LF && f->st == FRAMER_MSG && f->buf.len > 0) {
        framer_emit_buf(f, false);
    } else if (f->mode == FRAMER_OCTET && f->st == FRAMER_MSG) {
        framer_emit_buf(f, true);
    } else if (f->mode == FRAMER_OCTET && f->st == FRAMER_LEN &&
               f->ndigits > 0) {
        rc = SL_EPARSE;
    }
    sl_buf_reset(&f->buf);
    f->mode = FRAMER_DETECT;
    f->st = FRAMER_MSG;
    f->len = 0;
    f->ndigits = 0;
    f->left = 0;
    return rc;
}

/* ---- configuration ---- */

enum in_syslog_mode {
    SYSLOG_UDP,
    SYSLOG_TCP,
    SYSLOG_TLS,
    SYSLOG_UNIX_STREAM,
    SYSLOG_UNIX_DGRAM,
};

static const char *const in_syslog_modes[] = { "udp",        "tcp",
                                               "tls",        "unix_stream",
                                               "unix_dgram", NULL };

struct in_syslog_conf {
    int mode;
    struct sl_listener_conf listener;
    char *path;
    char *unix_perm;
    uint64_t max_message_size;
    struct sl_listener_tls_conf tls_srv;
    uint64_t receive_buffer_size;
};

#define C(f) SL_OPT_FIELD(struct in_syslog_conf, f)
static const struct sl_option in_syslog_options[] = {
    { .name = "mode",
      .type = SL_OPT_ENUM,
      .def = "udp",
      .choices = in_syslog_modes,
      C(mode),
      .desc = "Transport: udp, tcp, tls (TCP with TLS), unix_stream or "
              "unix_dgram (a Unix socket at path)." },
    { .name = "listen",
      .type = SL_OPT_STR,
      .def = "127.0.0.1",
      C(listener.listen),
      .desc = "Address to listen on for udp, tcp and tls. The default "
              "accepts local senders only; use 0.0.0.0 or :: for every "
              "interface." },
    { .name = "port",
      .type = SL_OPT_INT,
      .def = "5140",
      .min = 0,
      .max = 65535,
      C(listener.port),
      .desc = "Port for udp, tcp and tls. 0 picks a free port (see "
              "port_file)." },
    SL_LISTENER_PORT_FILE_OPTION(struct in_syslog_conf, listener),
    { .name = "path",
      .type = SL_OPT_STR,
      C(path),
      .desc = "Unix socket path for unix_stream and unix_dgram. A stale "
              "socket file is removed at start; the socket is removed at "
              "stop." },
    { .name = "unix_perm",
      .type = SL_OPT_STR,
      .def = "0660",
      C(unix_perm),
      .desc = "Permissions of the Unix socket, in octal." },
    { .name = "max_message_size",
      .type = SL_OPT_SIZE,
      .def = "64K",
      .min = 1024,
      .max = INT64_C(16) << 20,
      C(max_message_size),
      .desc = "Longest message kept whole. A longer frame or datagram is "
              "cut to this size, ingested and counted in "
              "sluice_input_truncated_messages_total; the rest of the frame "
              "is skipped." },
    { .name = "max_connections",
      .type = SL_OPT_INT,
      .def = "256",
      .min = 1,
      .max = 65536,
      C(listener.max_connections),
      .desc = "Most stream connections at once. Connections above it are "
              "closed at once and counted in "
              "sluice_input_rejected_connections_total." },
    { .name = "idle_timeout",
      .type = SL_OPT_TIME,
      .def = "5m",
      .min = 0,
      .max = INT64_C(86400000),
      C(listener.idle_timeout),
      .desc = "A stream connection that sends nothing for this long is "
              "closed. 0 disables the timeout." },
    SL_LISTENER_TLS_OPTIONS(struct in_syslog_conf, tls_srv, " for mode tls"),
    { .name = "receive_buffer_size",
      .type = SL_OPT_SIZE,
      .def = "0",
      .min = 0,
      .max = INT64_C(1) << 30,
      C(receive_buffer_size),
      .desc = "SO_RCVBUF for udp and unix_dgram sockets. 0 keeps the "
              "operating system's default." },
    SL_OPT_END,
};
#undef C

/* ---- state ---- */

struct syslog_conn {
    struct in_syslog_ctx *ctx;
    struct bufferevent *bev;
    struct sl_syslog_framer *fr;
    struct syslog_conn *prev;
    struct syslog_conn *next;
    bool draining; /* ingest regardless of pause (EOF, stop) */
};

struct in_syslog_ctx {
    struct sl_instance *ins;
    const struct in_syslog_conf *conf;
    SSL_CTX *ssl_ctx;
    struct evconnlistener *lst;
    struct syslog_conn *conns;
    size_t nconns;
    int dgram_fd;
    struct event *dgram_ev;
    char *slots; /* datagram buffers, nslots x slot_size */
    struct mmsghdr *msgs;
    struct iovec *iov;
    size_t nslots;
    size_t slot_size;
    mode_t perm;
    bool unix_bound; /* we created conf->path */
    bool running;
    bool paused;
    struct sl_metric *m_truncated;
    struct sl_metric *m_framing;
    struct sl_metric *m_rejected;
    struct sl_metric *m_conns;
};

static bool syslog_paused(const struct in_syslog_ctx *ctx)
{
    return ctx->paused || sl_input_paused(ctx->ins);
}

static bool syslog_is_stream(int mode)
{
    return mode == SYSLOG_TCP || mode == SYSLOG_TLS ||
           mode == SYSLOG_UNIX_STREAM;
}

static bool syslog_is_unix(int mode)
{
    return mode == SYSLOG_UNIX_STREAM || mode == SYSLOG_UNIX_DGRAM;
}

/* ---- datagrams ---- */

static void syslog_dgram_prepare(struct in_syslog_ctx *ctx)
{
    size_t i;

    for (i = 0; i < ctx->nslots; i++) {
        ctx->iov[i].iov_base = ctx->slots + i * ctx->slot_size;
        ctx->iov[i].iov_len = ctx->slot_size;
        memset(&ctx->msgs[i].msg_hdr, 0, sizeof(ctx->msgs[i].msg_hdr));
        ctx->msgs[i].msg_hdr.msg_iov = &ctx->iov[i];
        ctx->msgs[i].msg_hdr.msg_iovlen = 1;
        ctx->msgs[i].msg_len = 0;
    }
}

/* Ingests (or, while paused, drops) <n> received datagrams. */
static void syslog_dgram_ingest(struct in_syslog_ctx *ctx, int n)
{
    uint64_t dropped = 0;
    uint64_t truncated = 0;
    int i;

    for (i = 0; i < n; i++) {
        const char *p = ctx->iov[i].iov_base;
        size_t len = ctx->msgs[i].msg_len;

        if (syslog_paused(ctx)) {
            dropped++;
            continue;
        }
        if ((ctx->msgs[i].msg_hdr.msg_flags & MSG_TRUNC) != 0) {
            truncated++;
        }
        while (len > 0 && (p[len - 1] == '\n' || p[len - 1] == '\0' ||
                           p[len - 1] == '\r')) {
            len--;
        }
        if (len > 0 && sl_input_ingest(ctx->ins, sl_instance_tag(ctx->ins), p,
                                       len) != SL_OK) {
            sl_log_warn(ctx->ins, "cannot ingest a message: out of memory");
        }
    }
    sl_metric_add(ctx->m_truncated, truncated);
    if (dropped > 0) {
        sl_input_dropped(ctx->ins, "overrun", dropped);
    }
}

/* The datagram socket is readable: a bounded number of recvmmsg calls. */
static void syslog_dgram_on_read(evutil_socket_t fd, short what, void *arg)
{
    struct in_syslog_ctx *ctx = arg;
    int round;
    int n;
    int rc;

    (void)what;
    for (round = 0; round < SYSLOG_DGRAM_ROUNDS; round++) {
        syslog_dgram_prepare(ctx);
        n = recvmmsg(fd, ctx->msgs, (unsigned)ctx->nslots, MSG_DONTWAIT, NULL);
        if (n < 0) {
            rc = sl_rc_from_errno(errno);
            if (rc != -EAGAIN && rc != -EWOULDBLOCK && rc != -EINTR) {
                sl_log_warn(ctx->ins, "cannot receive: %s", sl_strerror(rc));
            }
            return;
        }
        syslog_dgram_ingest(ctx, n);
        if ((size_t)n < ctx->nslots) {
            return;
        }
    }
}

/* ---- stream connections ---- */

static bool syslog_conn_on_frame(void *arg, const char *p, size_t n,
                                 bool truncated)
{
    struct syslog_conn *c = arg;
    struct in_syslog_ctx *ctx = c->ctx;

    if (truncated) {
        sl_metric_add(ctx->m_truncated, 1);
    }
    if (sl_input_ingest(ctx->ins, sl_instance_tag(ctx->ins), p, n) != SL_OK) {
        sl_log_warn(ctx->ins, "cannot ingest a message: out of memory");
    }
    return c->draining || !syslog_paused(ctx);
}

static void syslog_conn_free(struct syslog_conn *c)
{
    struct in_syslog_ctx *ctx = c->ctx;

    if (c->prev != NULL) {
        c->prev->next = c->next;
    } else {
        ctx->conns = c->next;
    }
    if (c->next != NULL) {
        c->next->prev = c->prev;
    }
    ctx->nconns--;
    sl_metric_set(ctx->m_conns, (int64_t)ctx->nconns);
    if (c->bev != NULL) {
        bufferevent_free(c->bev);
    }
    sl_syslog_framer_destroy(c->fr);
    sl_free(c);
}

/* Feeds up to <budget> buffered bytes to the framer.  Returns SL_OK or
 * the framer's error (the caller closes the connection). */
static int syslog_conn_process(struct syslog_conn *c, size_t budget)
{
    struct evbuffer *in = bufferevent_get_input(c->bev);
    struct evbuffer_iovec v[SYSLOG_PEEK_VECS];
    size_t done = 0;
    size_t used;
    size_t total;
    int nv;
    int i;
    int rc = SL_OK;

    while (done < budget && evbuffer_get_length(in) > 0) {
        if (!c->draining && syslog_paused(c->ctx)) {
            return SL_OK;
        }
        nv = evbuffer_peek(in, -1, NULL, v, SYSLOG_PEEK_VECS);
        total = 0;
        for (i = 0; i < nv && i < SYSLOG_PEEK_VECS && rc == SL_OK; i++) {
            rc = sl_syslog_framer_feed(c->fr, v[i].iov_base, v[i].iov_len,
                                       &used, syslog_conn_on_frame, c);
            total += used;
            if (used < v[i].iov_len) {
                break;
            }
        }
        evbuffer_drain(in, total);
        done += total;
        if (rc != SL_OK) {
            return rc;
        }
    }
    if (evbuffer_get_length(in) > 0 && !syslog_paused(c->ctx)) {
        bufferevent_trigger(c->bev, EV_READ,
                            BEV_TRIG_IGNORE_WATERMARKS |
                                BEV_TRIG_DEFER_CALLBACKS);
    }
    return SL_OK;
}

/* Ingests what is buffered (and a partial last message), then frees. */
static void syslog_conn_close(struct syslog_conn *c)
{
    c->draining = true;
    if (syslog_conn_process(c, SIZE_MAX) == SL_OK &&
        sl_syslog_framer_finish(c->fr, syslog_conn_on_frame, c) != SL_OK) {
        sl_log_debug(c->ctx->ins, "connection ended inside an octet count");
    }
    syslog_conn_free(c);
}

static void syslog_conn_bad_frame(struct syslog_conn *c, int rc)
{
    struct in_syslog_ctx *ctx = c->ctx;

    if (rc == SL_EPARSE) {
        sl_metric_add(ctx->m_framing, 1);
        sl_log_warn(ctx->ins, "closing a connection: malformed octet count");
    } else {
        sl_log_warn(ctx->ins, "closing a connection: %s", sl_strerror(rc));
    }
    syslog_conn_free(c);
}

/*
 * Reads what the socket has into the input buffer, up to the high
 * watermark, in reads of up to 256 KiB.  libevent 2.1 reads at most 4 KiB
 * per readiness (EVBUFFER_MAX_READ, whatever the max_single_read), which
 * for a busy sender meant a readiness, an ioctl and a readv per 4 KiB.
 * Plain sockets only (TLS records are read by bufferevent_openssl).  An
 * end of stream or an error is left for the bufferevent to read again and
 * report.
 */
static void syslog_conn_fill(struct syslog_conn *c)
{
    struct evbuffer *in = bufferevent_get_input(c->bev);
    evutil_socket_t fd = bufferevent_getfd(c->bev);
    struct evbuffer_iovec v[2];
    struct iovec iov[2];
    ssize_t r;
    size_t want;
    size_t left;
    int nv;
    int i;

    while (c->ctx->ssl_ctx == NULL && fd >= 0 && !syslog_paused(c->ctx) &&
           evbuffer_get_length(in) < SYSLOG_READ_HIGH) {
        /* The bufferevent keeps the end of its input frozen except while
         * it reads; so do we. */
        evbuffer_unfreeze(in, 0);
        nv = evbuffer_reserve_space(in, SYSLOG_FILL_BYTES, v, 2);
        if (nv <= 0) {
            evbuffer_freeze(in, 0);
            return;
        }
        want = 0;
        for (i = 0; i < nv; i++) {
            iov[i].iov_base = v[i].iov_base;
            iov[i].iov_len = v[i].iov_len;
            want += v[i].iov_len;
        }
        r = readv(fd, iov, nv);
        left = r > 0 ? (size_t)r : 0;
        for (i = 0; i < nv; i++) {
            v[i].iov_len = left < v[i].iov_len ? left : v[i].iov_len;
            left -= v[i].iov_len;
        }
        evbuffer_commit_space(in, v, r > 0 ? nv : 0);
        evbuffer_freeze(in, 0);
        if (r <= 0 || (size_t)r < want) {
            return; /* the socket is empty, closed or failed */
        }
    }
}

static void syslog_conn_on_read(struct bufferevent *bev, void *arg)
{
    struct syslog_conn *c = arg;
    int rc;

    (void)bev;
    syslog_conn_fill(c);
    rc = syslog_conn_process(c, SYSLOG_READ_BUDGET);
    if (rc != SL_OK) {
        syslog_conn_bad_frame(c, rc);
        return;
    }
    if (syslog_paused(c->ctx)) {
        bufferevent_disable(c->bev, EV_READ);
    }
}

/* Logs why a TLS connection failed (debug: peers cause these). */
static void syslog_conn_log_error(struct syslog_conn *c, short what)
{
    unsigned long e;
    char buf[256];

    if ((what & BEV_EVENT_TIMEOUT) != 0) {
        sl_log_debug(c->ctx->ins, "closing an idle connection");
        return;
    }
    if ((what & BEV_EVENT_ERROR) == 0) {
        return;
    }
    e = bufferevent_get_openssl_error(c->bev);
    if (e != 0) {
        ERR_error_string_n(e, buf, sizeof(buf));
        sl_log_warn(c->ctx->ins, "TLS connection failed: %s", buf);
    } else {
        sl_log_debug(c->ctx->ins, "connection error: %s",
                     evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
    }
}

static void syslog_conn_on_event(struct bufferevent *bev, short what, void *arg)
{
    struct syslog_conn *c = arg;

    (void)bev;
    if ((what & (BEV_EVENT_EOF | BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT)) == 0) {
        return; /* BEV_EVENT_CONNECTED: the TLS handshake is done */
    }
    syslog_conn_log_error(c, what);
    syslog_conn_close(c);
}

/* Sets up a new connection; false when it could not (fd not closed). */
static bool syslog_conn_open(struct in_syslog_ctx *ctx, evutil_socket_t fd)
{
    struct syslog_conn *c = sl_calloc(1, sizeof(*c));
    struct event_base *base = sl_instance_base(ctx->ins);
    int opts = BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS;
    struct timeval tv;

    if (c == NULL) {
        return false;
    }
    c->ctx = ctx;
    c->fr = sl_syslog_framer_create((size_t)ctx->conf->max_message_size);
    c->bev =
        c->fr != NULL ? sl_listener_bev(base, ctx->ssl_ctx, fd, opts) : NULL;
    if (c->bev == NULL) {
        sl_syslog_framer_destroy(c->fr);
        sl_free(c);
        return false;
    }
    bufferevent_setcb(c->bev, syslog_conn_on_read, NULL, syslog_conn_on_event,
                      c);
    bufferevent_setwatermark(c->bev, EV_READ, 0, SYSLOG_READ_HIGH);
    /* libevent reads at most 16 KiB per callback by default; bigger reads
     * mean far fewer callbacks for a busy sender (the high watermark still
     * bounds what is buffered). */
    bufferevent_set_max_single_read(c->bev, 256 * 1024);
    if (ctx->conf->listener.idle_timeout > 0) {
        tv.tv_sec = ctx->conf->listener.idle_timeout / 1000;
        tv.tv_usec = (ctx->conf->listener.idle_timeout % 1000) * 1000;
        bufferevent_set_timeouts(c->bev, &tv, NULL);
    }
    c->next = ctx->conns;
    if (ctx->conns != NULL) {
        ctx->conns->prev = c;
    }
    ctx->conns = c;
    ctx->nconns++;
    sl_metric_set(ctx->m_conns, (int64_t)ctx->nconns);
    if (!syslog_paused(ctx)) {
        bufferevent_enable(c->bev, EV_READ);
    }
    return true;
}

static void syslog_on_accept(struct evconnlistener *l, evutil_socket_t fd,
                             struct sockaddr *sa, int salen, void *arg)
{
    struct in_syslog_ctx *ctx = arg;

    (void)l;
    (void)sa;
    (void)salen;
    if (!sl_listener_admit(ctx->ins, &ctx->conf->listener, ctx->nconns,
                           ctx->m_rejected)) {
        evutil_closesocket(fd);
        return;
    }
    if (!syslog_conn_open(ctx, fd)) {
        sl_log_warn(ctx->ins, "cannot accept a connection: out of memory");
        evutil_closesocket(fd);
    }
}

/* ---- sockets ---- */

static void syslog_rcvbuf(struct in_syslog_ctx *ctx, int fd)
{
    uint64_t v = ctx->conf->receive_buffer_size;
    int size = v > INT32_MAX ? INT32_MAX : (int)v;

    if (v > 0 &&
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size)) != 0) {
        sl_log_warn(ctx->ins, "cannot set receive_buffer_size: %s",
                    sl_strerror(sl_rc_from_errno(errno)));
    }
}

/* Creates, binds (and for streams, listens on) an inet socket, and
 * announces it. */
static int syslog_socket_inet(struct in_syslog_ctx *ctx, int type, int *out,
                              struct sl_err *err)
{
    const struct sl_listener_conf *lc = &ctx->conf->listener;
    int rc = sl_listener_open(lc, type, SYSLOG_BACKLOG, out, err);

    if (rc != SL_OK) {
        return rc;
    }
    return sl_listener_announce(ctx->ins, lc, *out,
                                in_syslog_modes[ctx->conf->mode], err);
}

/* Removes a stale socket file at <path>; refuses any other file. */
static int syslog_unlink_stale(const char *path, struct sl_err *err)
{
    struct stat st;

    if (lstat(path, &st) != 0) {
        return SL_OK;
    }
    if (!S_ISSOCK(st.st_mode)) {
        return sl_err_set(err, SL_EEXIST, "path %s exists and is not a socket",
                          path);
    }
    if (unlink(path) != 0) {
        int rc = sl_rc_from_errno(errno);

        return sl_err_set(err, rc, "cannot remove the stale socket %s: %s",
                          path, sl_strerror(rc));
    }
    return SL_OK;
}

/* Creates and binds a Unix socket at conf->path with the configured
 * permissions (and listens, for streams). */
static int syslog_socket_unix(struct in_syslog_ctx *ctx, int type, int *out,
                              struct sl_err *err)
{
    struct sockaddr_un sun = { .sun_family = AF_UNIX };
    const char *path = ctx->conf->path;
    int fd;
    int rc;

    rc = syslog_unlink_stale(path, err);
    if (rc != SL_OK) {
        return rc;
    }
    memcpy(sun.sun_path, path, strlen(path) + 1);
    fd = socket(AF_UNIX, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        rc = sl_rc_from_errno(errno);
        return sl_err_set(err, rc, "cannot create a socket: %s",
                          sl_strerror(rc));
    }
    if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) != 0) {
        rc = sl_rc_from_errno(errno);
        close(fd);
        return sl_err_set(err, rc, "cannot bind %s: %s", path, sl_strerror(rc));
    }
    ctx->unix_bound = true;
    if (chmod(path, ctx->perm) != 0 ||
        (type == SOCK_STREAM && listen(fd, SYSLOG_BACKLOG) != 0)) {
        rc = sl_rc_from_errno(errno);
        close(fd);
        return sl_err_set(err, rc, "cannot listen on %s: %s", path,
                          sl_strerror(rc));
    }
    sl_log_info(ctx->ins, "listening on %s (%s)", path,
                in_syslog_modes[ctx->conf->mode]);
    *out = fd;
    return SL_OK;
}

static int syslog_socket(struct in_syslog_ctx *ctx, int *fd, struct sl_err *err)
{
    int mode = ctx->conf->mode;
    int type = syslog_is_stream(mode) ? SOCK_STREAM : SOCK_DGRAM;

    if (syslog_is_unix(mode)) {
        return syslog_socket_unix(ctx, type, fd, err);
    }
    return syslog_socket_inet(ctx, type, fd, err);
}

/* ---- life cycle ---- */

static int syslog_check_conf(struct in_syslog_ctx *ctx, struct sl_err *err)
{
    const struct in_syslog_conf *c = ctx->conf;
    char *end = NULL;
    long perm;

    if (syslog_is_unix(c->mode)) {
        if (c->path == NULL || c->path[0] == '\0') {
            return sl_err_set(err, SL_ECONFIG, "mode %s needs a path",
                              in_syslog_modes[c->mode]);
        }
        if (strlen(c->path) >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
            return sl_err_set(err, SL_ECONFIG,
                              "path is too long for a Unix "
                              "socket: %s",
                              c->path);
        }
    }
    errno = 0;
    perm = strtol(c->unix_perm, &end, 8);
    if (errno != 0 || end == c->unix_perm || *end != '\0' || perm < 0 ||
        perm > 0777) {
        return sl_err_set(err, SL_ECONFIG,
                          "unix_perm '%s' is not an octal mode such as 0660",
                          c->unix_perm);
    }
    ctx->perm = (mode_t)perm;
    if (c->mode == SYSLOG_TLS) {
        return sl_listener_tls_create(&c->tls_srv, "mode tls", &ctx->ssl_ctx,
                                      err);
    }
    return SL_OK;
}

/* Datagram buffers: as many slots of max_message_size as fit in 1 MiB. */
static int syslog_dgram_alloc(struct in_syslog_ctx *ctx)
{
    ctx->slot_size = (size_t)ctx->conf->max_message_size;
    ctx->nslots = SYSLOG_DGRAM_BYTES / ctx->slot_size;
    if (ctx->nslots < 1) {
        ctx->nslots = 1;
    }
    if (ctx->nslots > SYSLOG_DGRAM_SLOTS) {
        ctx->nslots = SYSLOG_DGRAM_SLOTS;
    }
    ctx->slots = sl_malloc(ctx->nslots * ctx->slot_size);
    ctx->msgs = sl_calloc(ctx->nslots, sizeof(*ctx->msgs));
    ctx->iov = sl_calloc(ctx->nslots, sizeof(*ctx->iov));
    if (ctx->slots == NULL || ctx->msgs == NULL || ctx->iov == NULL) {
        return SL_ENOMEM;
    }
    return SL_OK;
}

static void syslog_ctx_free(struct in_syslog_ctx *ctx)
{
    SSL_CTX_free(ctx->ssl_ctx);
    sl_free(ctx->slots);
    sl_free(ctx->msgs);
    sl_free(ctx->iov);
    sl_free(ctx);
}

static void syslog_metrics(struct in_syslog_ctx *ctx)
{
    struct sl_instance *ins = ctx->ins;

    ctx->m_truncated = sl_metric_counter(
        ins, "sluice_input_truncated_messages_total",
        "Messages longer than max_message_size, cut to it.", NULL, NULL);
    ctx->m_framing = sl_metric_counter(
        ins, "sluice_input_framing_errors_total",
        "Connections closed for a malformed octet count.", NULL, NULL);
    ctx->m_rejected = sl_metric_counter(
        ins, "sluice_input_rejected_connections_total",
        "Connections closed at once because max_connections was reached.", NULL,
        NULL);
    ctx->m_conns = sl_metric_gauge(ins, "sluice_input_connections",
                                   "Open stream connections.", NULL, NULL);
}

static int in_syslog_init(struct sl_instance *ins, void *conf,
                          struct sl_err *err)
{
    struct in_syslog_ctx *ctx = sl_calloc(1, sizeof(*ctx));
    int rc;

    if (ctx == NULL) {
        return sl_err_set(err, SL_ENOMEM, "out of memory");
    }
    ctx->ins = ins;
    ctx->conf = conf;
    ctx->dgram_fd = -1;
    rc = syslog_check_conf(ctx, err);
    if (rc == SL_OK && !syslog_is_stream(ctx->conf->mode) &&
        syslog_dgram_alloc(ctx) != SL_OK) {
        rc = sl_err_set(err, SL_ENOMEM, "out of memory");
    }
    if (rc != SL_OK) {
        syslog_ctx_free(ctx);
        return rc;
    }
    syslog_metrics(ctx);
    sl_instance_set_ctx(ins, ctx);
    return SL_OK;
}

static int syslog_start_stream(struct in_syslog_ctx *ctx, int fd,
                               struct sl_err *err)
{
    ctx->lst = evconnlistener_new(
        sl_instance_base(ctx->ins), syslog_on_accept, ctx,
        LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, -1, fd);
    if (ctx->lst == NULL) {
        close(fd);
        return sl_err_set(err, SL_ENOMEM, "cannot create the listener");
    }
    if (ctx->paused) {
        evconnlistener_disable(ctx->lst);
    }
    return SL_OK;
}

static int syslog_start_dgram(struct in_syslog_ctx *ctx, int fd,
                              struct sl_err *err)
{
    syslog_rcvbuf(ctx, fd);
    ctx->dgram_fd = fd;
    ctx->dgram_ev = event_new(sl_instance_base(ctx->ins), fd,
                              EV_READ | EV_PERSIST, syslog_dgram_on_read, ctx);
    if (ctx->dgram_ev == NULL || event_add(ctx->dgram_ev, NULL) != 0) {
        return sl_err_set(err, SL_ENOMEM, "cannot watch the socket");
    }
    return SL_OK;
}

static int in_syslog_start(struct sl_instance *ins, struct sl_err *err)
{
    struct in_syslog_ctx *ctx = sl_instance_ctx(ins);
    int fd = -1;
    int rc;

    rc = syslog_socket(ctx, &fd, err);
    if (rc != SL_OK) {
        if (fd >= 0) {
            close(fd);
        }
        return rc;
    }
    ctx->running = true;
    if (syslog_is_stream(ctx->conf->mode)) {
        return syslog_start_stream(ctx, fd, err);
    }
    return syslog_start_dgram(ctx, fd, err);
}

static void in_syslog_pause(struct sl_instance *ins)
{
    struct in_syslog_ctx *ctx = sl_instance_ctx(ins);
    struct syslog_conn *c;

    if (ctx->paused) {
        return;
    }
    ctx->paused = true;
    if (ctx->lst != NULL) {
        evconnlistener_disable(ctx->lst);
    }
    for (c = ctx->conns; c != NULL; c = c->next) {
        bufferevent_disable(c->bev, EV_READ);
    }
}

static void in_syslog_resume(struct sl_instance *ins)
{
    struct in_syslog_ctx *ctx = sl_instance_ctx(ins);
    struct syslog_conn *c;

    if (!ctx->paused) {
        return;
    }
    ctx->paused = false;
    if (!ctx->running) {
        return;
    }
    if (ctx->lst != NULL) {
        evconnlistener_enable(ctx->lst);
    }
    for (c = ctx->conns; c != NULL; c = c->next) {
        bufferevent_enable(c->bev, EV_READ);
        if (evbuffer_get_length(bufferevent_get_input(c->bev)) > 0) {
            bufferevent_trigger(c->bev, EV_READ,
                                BEV_TRIG_IGNORE_WATERMARKS |
                                    BEV_TRIG_DEFER_CALLBACKS);
        }
    }
}

static void in_syslog_stop(struct sl_instance *ins)
{
    struct in_syslog_ctx *ctx = sl_instance_ctx(ins);

    if (ctx == NULL) {
        return;
    }
    ctx->running = false;
    if (ctx->lst != NULL) {
        evconnlistener_free(ctx->lst);
        ctx->lst = NULL;
    }
    while (ctx->conns != NULL) {
        syslog_conn_close(ctx->conns);
    }
    if (ctx->dgram_ev != NULL) {
        event_free(ctx->dgram_ev);
        ctx->dgram_ev = NULL;
    }
    if (ctx->dgram_fd >= 0) {
        close(ctx->dgram_fd);
        ctx->dgram_fd = -1;
    }
    if (ctx->unix_bound) {
        unlink(ctx->conf->path);
        ctx->unix_bound = false;
    }
}

static void in_syslog_exit(struct sl_instance *ins)
{
    struct in_syslog_ctx *ctx = sl_instance_ctx(ins);

    if (ctx == NULL) {
        return;
    }
    in_syslog_stop(ins);
    syslog_ctx_free(ctx);
    sl_instance_set_ctx(ins, NULL);
}

const struct sl_plugin sl_plugin_in_syslog = {
    .abi = SL_PLUGIN_ABI,
    .kind = SL_PLUGIN_INPUT,
    .name = "syslog",
    .description = "Receive syslog messages over UDP, TCP, TLS or Unix "
                   "sockets.",
    .options = in_syslog_options,
    .conf_size = sizeof(struct in_syslog_conf),
    .init = in_syslog_init,
    .start = in_syslog_start,
    .pause = in_syslog_pause,
    .resume = in_syslog_resume,
    .stop = in_syslog_stop,
    .exit = in_syslog_exit,
    .default_parser = "syslog",
};
