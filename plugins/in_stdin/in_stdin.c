/*
 * in_stdin.c - the "stdin" input: reads lines from file descriptor 0.
 *
 * Each line (LF-terminated, a trailing CR stripped, empty lines skipped)
 * goes to sl_input_ingest, so the instance's parser applies; the default
 * parser is json, so NDJSON becomes records and other text {"log": ...}.
 * A line longer than buffer_size is ingested in pieces of buffer_size
 * bytes and counted in sluice_input_long_lines_total; nothing is dropped.
 * At end of input the last unterminated line is ingested and the input
 * reports sl_input_finished, after which the engine delivers and exits.
 *
 * Runs on the main loop.  When fd 0 can be polled (pipe, terminal,
 * socket) a persistent read event does one read() per readiness, so fd 0
 * never needs O_NONBLOCK (which would leak into the terminal or pipe
 * shared with the parent).  Anything but a pipe, socket or terminal (a
 * regular file, /dev/null), or what epoll refuses, cannot be polled:
 * then a zero-timeout timer reads up to STDIN_SLICE bytes per run.
 * Pausing keeps the unread bytes in the buffer; resume ingests them
 * before reading more.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/event.h>

#include "sluice/plugin.h"
#include "sluice/banned.h"

#define STDIN_FD               0
#define STDIN_READ_SIZE        (64 * 1024)
#define STDIN_SLICE            (1024 * 1024)
#define STDIN_PAUSE_RECHECK_MS 100

struct in_stdin_conf {
    uint64_t buffer_size;
};

struct in_stdin_ctx {
    struct sl_instance *ins;
    const struct in_stdin_conf *conf;
    struct event *rd;   /* read event on fd 0, or a timer for files */
    struct event *kick; /* drains buffered lines (after a pause) */
    struct sl_metric *long_lines;
    char *buf;  /* bytes read, not yet ingested: [off, len) */
    size_t cap; /* buffer_size + STDIN_READ_SIZE */
    size_t off;
    size_t len;
    size_t max_line;
    bool pollable;
    bool running;
    bool paused;
    bool eof;
    bool finished;
    bool in_long; /* the current line was already split */
};

static const struct sl_option in_stdin_options[] = {
    { .name = "buffer_size",
      .type = SL_OPT_SIZE,
      .def = "1M",
      .min = 4096,
      .max = INT64_C(256) << 20,
      SL_OPT_FIELD(struct in_stdin_conf, buffer_size),
      .desc = "Longest line kept whole. A longer line is ingested in pieces "
              "of this size and counted in sluice_input_long_lines_total; "
              "nothing is dropped." },
    SL_OPT_END,
};

static const struct timeval stdin_zero_tv = { 0, 0 };

static bool stdin_paused(const struct in_stdin_ctx *ctx)
{
    return ctx->paused || sl_input_paused(ctx->ins);
}

/* Ingests one complete line (or the last piece of a long one). */
static void stdin_emit_line(struct in_stdin_ctx *ctx, const char *p, size_t n)
{
    int rc;

    ctx->in_long = false;
    if (n > 0 && p[n - 1] == '\r') {
        n--;
    }
    if (n == 0) {
        return;
    }
    rc = sl_input_ingest(ctx->ins, sl_instance_tag(ctx->ins), p, n);
    if (rc != SL_OK) {
        sl_log_warn(ctx->ins, "cannot ingest a line: %s", sl_strerror(rc));
    }
}

/* Ingests a piece of a line longer than buffer_size. */
static void stdin_emit_piece(struct in_stdin_ctx *ctx, const char *p, size_t n)
{
    int rc;

    if (!ctx->in_long) {
        ctx->in_long = true;
        sl_metric_add(ctx->long_lines, 1);
    }
    rc = sl_input_ingest(ctx->ins, sl_instance_tag(ctx->ins), p, n);
    if (rc != SL_OK) {
        sl_log_warn(ctx->ins, "cannot ingest a line: %s", sl_strerror(rc));
    }
}

/* Ingests every complete line in the buffer (and, at EOF, the rest).
 * Returns false when it stopped because the input was paused. */
static bool stdin_drain(struct in_stdin_ctx *ctx)
{
    const char *p;
    const char *nl;
    size_t avail;
    size_t scan;

    while (ctx->off < ctx->len) {
        p = ctx->buf + ctx->off;
        avail = ctx->len - ctx->off;
        /* A line of exactly max_line bytes plus its LF is still whole. */
        scan = avail < ctx->max_line + 1 ? avail : ctx->max_line + 1;
        nl = memchr(p, '\n', scan);
        if (nl != NULL) {
            stdin_emit_line(ctx, p, (size_t)(nl - p));
            ctx->off += (size_t)(nl - p) + 1;
        } else if (avail > ctx->max_line) {
            stdin_emit_piece(ctx, p, ctx->max_line);
            ctx->off += ctx->max_line;
        } else if (ctx->eof) {
            stdin_emit_line(ctx, p, avail);
            ctx->off = ctx->len;
        } else {
            break;
        }
        if (stdin_paused(ctx)) {
            return false;
        }
    }
    return true;
}

/* Moves the partial line to the front of the buffer. */
static void stdin_compact(struct in_stdin_ctx *ctx)
{
    if (ctx->off == 0) {
        return;
    }
    memmove(ctx->buf, ctx->buf + ctx->off, ctx->len - ctx->off);
    ctx->len -= ctx->off;
    ctx->off = 0;
}

/* One read() from fd 0.  Returns bytes read, 0 at EOF (or on a read
 * error, which ends the input), or SL_EAGAIN when nothing was read. */
static ssize_t stdin_read(struct in_stdin_ctx *ctx)
{
    size_t room;
    ssize_t n;
    int rc;

    stdin_compact(ctx);
    room = ctx->cap - ctx->len;
    if (room > STDIN_READ_SIZE) {
        room = STDIN_READ_SIZE;
    }
    n = read(STDIN_FD, ctx->buf + ctx->len, room);
    if (n < 0) {
        rc = sl_rc_from_errno(errno);
        if (rc == -EINTR || rc == -EAGAIN || rc == -EWOULDBLOCK) {
            return SL_EAGAIN;
        }
        sl_log_error(ctx->ins, "cannot read standard input: %s",
                     sl_strerror(rc));
        return 0;
    }
    ctx->len += (size_t)n;
    return n;
}

/* Everything was read and ingested: tell the engine, once. */
static void stdin_finish(struct in_stdin_ctx *ctx)
{
    if (ctx->finished) {
        return;
    }
    ctx->finished = true;
    event_del(ctx->rd);
    event_del(ctx->kick);
    sl_log_info(ctx->ins, "end of standard input");
    sl_input_finished(ctx->ins);
}

/* Stops reading while the engine is paused; the pause callback normally
 * did this already, the recheck covers a pause we were not told about. */
static void stdin_hold(struct in_stdin_ctx *ctx)
{
    struct timeval tv = { 0, STDIN_PAUSE_RECHECK_MS * 1000 };

    event_del(ctx->rd);
    if (!ctx->paused) {
        event_add(ctx->kick, &tv);
    }
}

/* Arms the reader again after a drain or a resume. */
static void stdin_arm(struct in_stdin_ctx *ctx)
{
    int rc;

    if (!ctx->running || ctx->paused || ctx->finished) {
        return;
    }
    if (ctx->pollable) {
        rc = event_add(ctx->rd, NULL);
    } else {
        rc = event_add(ctx->rd, &stdin_zero_tv);
    }
    if (rc != 0) {
        sl_log_error(ctx->ins, "cannot arm the standard input reader");
    }
}

/* One read and the lines it completes.  Returns false when the caller
 * must stop: paused, or the input ended. */
static bool stdin_step(struct in_stdin_ctx *ctx, size_t *nread)
{
    ssize_t n;

    if (!stdin_drain(ctx)) {
        stdin_hold(ctx);
        return false;
    }
    n = stdin_read(ctx);
    if (n == SL_EAGAIN) {
        return true;
    }
    if (n == 0) {
        ctx->eof = true;
    }
    *nread += (size_t)(n > 0 ? n : 0);
    if (!stdin_drain(ctx)) {
        stdin_hold(ctx);
        return false;
    }
    if (ctx->eof) {
        stdin_finish(ctx);
        return false;
    }
    return true;
}

/* fd 0 is readable (poll mode) or the read timer fired (file mode). */
static void stdin_on_read(evutil_socket_t fd, short what, void *arg)
{
    struct in_stdin_ctx *ctx = arg;
    size_t nread = 0;

    (void)fd;
    (void)what;
    if (ctx->pollable) {
        /* Level-triggered: one read, the loop calls again if more. */
        stdin_step(ctx, &nread);
        return;
    }
    while (nread < STDIN_SLICE) {
        if (!stdin_step(ctx, &nread)) {
            return;
        }
    }
    stdin_arm(ctx);
}

/* Drains lines kept over a pause, then reads again. */
static void stdin_on_kick(evutil_socket_t fd, short what, void *arg)
{
    struct in_stdin_ctx *ctx = arg;

    (void)fd;
    (void)what;
    if (ctx->finished || !ctx->running) {
        return;
    }
    if (!stdin_drain(ctx)) {
        stdin_hold(ctx);
        return;
    }
    if (ctx->eof) {
        stdin_finish(ctx);
        return;
    }
    stdin_arm(ctx);
}

static int in_stdin_init(struct sl_instance *ins, void *conf,
                         struct sl_err *err)
{
    struct in_stdin_conf *cf = conf;
    struct in_stdin_ctx *ctx;

    ctx = sl_calloc(1, sizeof(*ctx));
    if (ctx == NULL) {
        return sl_err_set(err, SL_ENOMEM, "out of memory");
    }
    ctx->ins = ins;
    ctx->conf = cf;
    ctx->max_line = (size_t)cf->buffer_size;
    ctx->cap = ctx->max_line + STDIN_READ_SIZE;
    ctx->buf = sl_malloc(ctx->cap);
    ctx->kick = evtimer_new(sl_instance_base(ins), stdin_on_kick, ctx);
    if (ctx->buf == NULL || ctx->kick == NULL) {
        if (ctx->kick != NULL) {
            event_free(ctx->kick);
        }
        sl_free(ctx->buf);
        sl_free(ctx);
        return sl_err_set(err, SL_ENOMEM, "out of memory");
    }
    ctx->long_lines = sl_metric_counter(
        ins, "sluice_input_long_lines_total",
        "Lines longer than the line limit, ingested in pieces.", NULL, NULL);
    sl_instance_set_ctx(ins, ctx);
    return SL_OK;
}

/* Creates the reader: a read event when epoll accepts fd 0, else a
 * timer.  Regular files are always "readable" and epoll refuses them. */
static int stdin_reader_create(struct in_stdin_ctx *ctx, struct sl_err *err)
{
    struct event_base *base = sl_instance_base(ctx->ins);
    struct stat st;
    int rc;

    if (fstat(STDIN_FD, &st) != 0) {
        rc = sl_rc_from_errno(errno);
        return sl_err_set(err, rc, "cannot use standard input: %s",
                          sl_strerror(rc));
    }
    /* Character devices other than terminals (/dev/null) are not
     * pollable either; libevent would warn about them. */
    ctx->pollable =
        S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode) || isatty(STDIN_FD) == 1;
    if (ctx->pollable) {
        ctx->rd =
            event_new(base, STDIN_FD, EV_READ | EV_PERSIST, stdin_on_read, ctx);
        if (ctx->rd != NULL && event_add(ctx->rd, NULL) == 0) {
            return SL_OK;
        }
        /* e.g. /dev/null: epoll says EPERM.  Read it like a file. */
        if (ctx->rd != NULL) {
            event_free(ctx->rd);
        }
        ctx->pollable = false;
    }
    ctx->rd = evtimer_new(base, stdin_on_read, ctx);
    if (ctx->rd == NULL) {
        return sl_err_set(err, SL_ENOMEM, "cannot create the reader");
    }
    return SL_OK;
}

static int in_stdin_start(struct sl_instance *ins, struct sl_err *err)
{
    struct in_stdin_ctx *ctx = sl_instance_ctx(ins);
    int rc;

    rc = stdin_reader_create(ctx, err);
    if (rc != SL_OK) {
        return rc;
    }
    ctx->running = true;
    if (ctx->paused) {
        event_del(ctx->rd);
    } else if (!ctx->pollable) {
        stdin_arm(ctx);
    }
    return SL_OK;
}

static void in_stdin_pause(struct sl_instance *ins)
{
    struct in_stdin_ctx *ctx = sl_instance_ctx(ins);

    ctx->paused = true;
    if (ctx->rd != NULL) {
        event_del(ctx->rd);
    }
    event_del(ctx->kick);
}

static void in_stdin_resume(struct sl_instance *ins)
{
    struct in_stdin_ctx *ctx = sl_instance_ctx(ins);

    if (!ctx->paused) {
        return;
    }
    ctx->paused = false;
    if (ctx->running && !ctx->finished) {
        /* Lines kept over the pause go first, then reading resumes. */
        event_add(ctx->kick, &stdin_zero_tv);
    }
}

static void in_stdin_stop(struct sl_instance *ins)
{
    struct in_stdin_ctx *ctx = sl_instance_ctx(ins);

    ctx->running = false;
    if (ctx->rd != NULL) {
        event_del(ctx->rd);
    }
    event_del(ctx->kick);
}

static void in_stdin_exit(struct sl_instance *ins)
{
    struct in_stdin_ctx *ctx = sl_instance_ctx(ins);

    if (ctx == NULL) {
        return;
    }
    if (ctx->rd != NULL) {
        event_free(ctx->rd);
    }
    event_free(ctx->kick);
    sl_free(ctx->buf);
    sl_free(ctx);
    sl_instance_set_ctx(ins, NULL);
}

const struct sl_plugin sl_plugin_in_stdin = {
    .abi = SL_PLUGIN_ABI,
    .kind = SL_PLUGIN_INPUT,
    .name = "stdin",
    .description = "Read lines from standard input.",
    .options = in_stdin_options,
    .conf_size = sizeof(struct in_stdin_conf),
    .init = in_stdin_init,
    .start = in_stdin_start,
    .pause = in_stdin_pause,
    .resume = in_stdin_resume,
    .stop = in_stdin_stop,
    .exit = in_stdin_exit,
    .default_parser = "json",
};
