/*
 * out_stdout.c - write records to standard output.
 *
 * json_lines: one compact JSON object per line.  Without time_key/tag_key
 * the record bytes go out unchanged (the hot path: the whole batch is
 * copied into one buffer and written with one write(2) call); with them,
 * the members are spliced in right after the opening brace, without
 * re-encoding the record.  pretty: a "[tag] time" header line followed by
 * the record indented over several lines (parsed into a per-worker arena).
 *
 * flush runs on the worker threads.  Each worker owns its buffers (the
 * per-worker context); the instance context is read-only after init.
 * write(2) may block the worker (never the main loop) when stdout is slow.
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "sluice/envelope.h"
#include "sluice/plugin.h"
#include "sluice/banned.h"

enum stdout_format {
    STDOUT_FORMAT_JSON_LINES,
    STDOUT_FORMAT_PRETTY,
};

struct out_stdout_conf {
    int format;
    struct sl_envelope_conf env;
};

struct out_stdout {
    const struct out_stdout_conf *conf;
    struct sl_envelope env;
};

struct out_stdout_worker {
    struct sl_buf out;   /* the batch's bytes */
    struct sl_buf tagm;  /* "\"<tag_key>\":\"<tag>\"" for this batch */
    struct sl_arena dom; /* pretty: one record's DOM */
};

/* Keep at most this much buffer memory per worker between batches. */
#define STDOUT_KEEP_MAX (8u << 20)

static const char *const stdout_formats[] = { "json_lines", "pretty", NULL };

static const struct sl_option out_stdout_options[] = {
    { .name = "format",
      .type = SL_OPT_ENUM,
      .def = "json_lines",
      .choices = stdout_formats,
      SL_OPT_FIELD(struct out_stdout_conf, format),
      .desc = "Output layout. json_lines writes one compact JSON object per "
              "line; pretty writes a '[tag] time' header and the record "
              "indented over several lines." },
    SL_ENVELOPE_OPTIONS(struct out_stdout_conf, env),
    SL_OPT_END,
};

/* Builds every line of <b> into <out>, in one buffer sized once. */
static int stdout_env_batch(const struct sl_envelope *e, struct sl_batch *b,
                            struct sl_buf *tagm, struct sl_buf *out)
{
    struct sl_batch_iter it;
    struct sl_event ev;
    size_t extra = 1;
    int rc;

    sl_buf_reset(out);
    rc = sl_envelope_tag(e, sl_batch_tag(b), tagm);
    if (sl_envelope_on(e)) {
        extra += e->time_prefix.len + tagm->len + 40;
    }
    if (rc == SL_OK) {
        rc = sl_buf_reserve(out, sl_batch_bytes(b) + sl_batch_count(b) * extra);
    }
    sl_batch_iter_init(b, &it);
    while (rc == SL_OK && sl_batch_next(b, &it, &ev)) {
        rc = sl_envelope_line(e, tagm, &ev, out);
    }
    return rc;
}

/* ---- pretty ---- */

static int stdout_pretty_value(struct sl_buf *out, const struct sl_json *v,
                               unsigned depth);

static int stdout_pretty_indent(struct sl_buf *out, unsigned depth)
{
    int rc = sl_buf_putc(out, '\n');
    unsigned i;

    for (i = 0; rc == SL_OK && i < depth; i++) {
        rc = sl_buf_append(out, "  ", 2);
    }
    return rc;
}

static int stdout_pretty_container(struct sl_buf *out, const struct sl_json *v,
                                   unsigned depth)
{
    bool obj = v->type == SL_JSON_OBJECT;
    size_t n = obj ? v->u.obj.n : v->u.arr.n;
    size_t i;
    int rc = sl_buf_putc(out, obj ? '{' : '[');

    for (i = 0; rc == SL_OK && i < n; i++) {
        rc = i > 0 ? sl_buf_putc(out, ',') : SL_OK;
        if (rc == SL_OK) {
            rc = stdout_pretty_indent(out, depth + 1);
        }
        if (rc == SL_OK && obj) {
            rc = sl_json_write_string(out, v->u.obj.v[i].key.ptr,
                                      v->u.obj.v[i].key.len);
            if (rc == SL_OK) {
                rc = sl_buf_append(out, ": ", 2);
            }
        }
        if (rc == SL_OK) {
            rc = stdout_pretty_value(
                out, obj ? v->u.obj.v[i].val : v->u.arr.v[i], depth + 1);
        }
    }
    if (rc == SL_OK && n > 0) {
        rc = stdout_pretty_indent(out, depth);
    }
    return rc == SL_OK ? sl_buf_putc(out, obj ? '}' : ']') : rc;
}

static int stdout_pretty_value(struct sl_buf *out, const struct sl_json *v,
                               unsigned depth)
{
    switch (v->type) {
    case SL_JSON_OBJECT:
    case SL_JSON_ARRAY:
        return stdout_pretty_container(out, v, depth);
    default:
        return sl_json_serialize(v, out);
    }
}

static int stdout_pretty_record(struct out_stdout_worker *wk, struct sl_str tag,
                                const struct sl_event *ev)
{
    struct sl_json *dom = NULL;
    char t[64];
    size_t n = sl_time_format_rfc3339(ev->ts_ns, 3, t, sizeof(t));
    int rc =
        sl_buf_printf(&wk->out, "[%.*s] %.*s\n", SL_STR_FMT(tag), (int)n, t);

    sl_arena_reset(&wk->dom);
    if (rc == SL_OK && sl_json_parse(&wk->dom, ev->body.ptr, ev->body.len, &dom,
                                     NULL) == SL_OK) {
        rc = stdout_pretty_value(&wk->out, dom, 0);
    } else if (rc == SL_OK) {
        rc = sl_buf_append_sl(&wk->out, ev->body);
    }
    return rc == SL_OK ? sl_buf_putc(&wk->out, '\n') : rc;
}

static int stdout_pretty_batch(struct out_stdout_worker *wk, struct sl_batch *b)
{
    struct sl_batch_iter it;
    struct sl_event ev;
    int rc = SL_OK;

    sl_buf_reset(&wk->out);
    sl_batch_iter_init(b, &it);
    while (rc == SL_OK && sl_batch_next(b, &it, &ev)) {
        rc = stdout_pretty_record(wk, sl_batch_tag(b), &ev);
    }
    return rc;
}

/* ---- writing ---- */

/* Writes all <n> bytes to <fd>, through EINTR, EAGAIN and short writes. */
static int stdout_write_all(int fd, const char *p, size_t n)
{
    struct pollfd pfd = { .fd = fd, .events = POLLOUT };
    ssize_t w;

    while (n > 0) {
        w = write(fd, p, n);
        if (w >= 0) {
            p += w;
            n -= (size_t)w;
            continue;
        }
        if (errno == EINTR) {
            continue;
        }
        if (errno != EAGAIN && errno != EWOULDBLOCK) {
            return sl_rc_from_errno(errno);
        }
        if (poll(&pfd, 1, 1000) < 0 && errno != EINTR) {
            return sl_rc_from_errno(errno);
        }
    }
    return SL_OK;
}

static enum sl_flush_result out_stdout_flush(struct sl_batch *b,
                                             struct sl_worker *w)
{
    const struct out_stdout *o = sl_instance_ctx(sl_worker_instance(w));
    struct out_stdout_worker *wk = sl_worker_ctx(w);
    int rc;

    if (o->conf->format == STDOUT_FORMAT_PRETTY) {
        rc = stdout_pretty_batch(wk, b);
    } else {
        rc = stdout_env_batch(&o->env, b, &wk->tagm, &wk->out);
    }
    if (rc != SL_OK) {
        sl_batch_set_error(b, "cannot format the batch: %s", sl_strerror(rc));
        return SL_FLUSH_RETRY;
    }
    rc = stdout_write_all(STDOUT_FILENO, wk->out.data, wk->out.len);
    if (wk->out.cap > STDOUT_KEEP_MAX) {
        sl_buf_fini(&wk->out);
        sl_buf_init(&wk->out, 0);
    }
    if (rc != SL_OK) {
        sl_batch_set_error(b, "write to stdout: %s", sl_strerror(rc));
        return SL_FLUSH_RETRY;
    }
    return SL_FLUSH_OK;
}

static int out_stdout_worker_init(struct sl_instance *ins, struct sl_worker *w,
                                  struct sl_err *err)
{
    struct out_stdout_worker *wk = sl_calloc(1, sizeof(*wk));

    (void)ins;
    if (wk == NULL) {
        return sl_err_set(err, SL_ENOMEM, "stdout: out of memory");
    }
    sl_buf_init(&wk->out, 0);
    sl_buf_init(&wk->tagm, 0);
    sl_arena_init(&wk->dom, 0, 0);
    sl_worker_set_ctx(w, wk);
    return SL_OK;
}

static void out_stdout_worker_exit(struct sl_instance *ins, struct sl_worker *w)
{
    struct out_stdout_worker *wk = sl_worker_ctx(w);

    (void)ins;
    if (wk == NULL) {
        return;
    }
    sl_buf_fini(&wk->out);
    sl_buf_fini(&wk->tagm);
    sl_arena_fini(&wk->dom);
    sl_free(wk);
    sl_worker_set_ctx(w, NULL);
}

static int out_stdout_init(struct sl_instance *ins, void *conf,
                           struct sl_err *err)
{
    const struct out_stdout_conf *c = conf;
    struct out_stdout *o = sl_calloc(1, sizeof(*o));

    if (o == NULL) {
        return sl_err_set(err, SL_ENOMEM, "stdout: out of memory");
    }
    o->conf = c;
    if (sl_envelope_init(&o->env, &c->env) != SL_OK) {
        sl_free(o);
        return sl_err_set(err, SL_ENOMEM, "stdout: out of memory");
    }
    sl_instance_set_ctx(ins, o);
    return SL_OK;
}

static void out_stdout_exit(struct sl_instance *ins)
{
    struct out_stdout *o = sl_instance_ctx(ins);

    if (o == NULL) {
        return;
    }
    sl_envelope_fini(&o->env);
    sl_free(o);
    sl_instance_set_ctx(ins, NULL);
}

const struct sl_plugin sl_plugin_out_stdout = {
    .abi = SL_PLUGIN_ABI,
    .kind = SL_PLUGIN_OUTPUT,
    .name = "stdout",
    .description = "Write records to standard output, as JSON lines or "
                   "pretty-printed.",
    .options = out_stdout_options,
    .conf_size = sizeof(struct out_stdout_conf),
    .init = out_stdout_init,
    .worker_init = out_stdout_worker_init,
    .flush = out_stdout_flush,
    .worker_exit = out_stdout_worker_exit,
    .exit = out_stdout_exit,
};
