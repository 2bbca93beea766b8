/*
 * out_file.c - append records as JSON lines to files named by a template.
 *
 * The path template takes strftime conversions, evaluated on the event
 * time in UTC, and ${tag}, ${tag[N]} (the Nth dot-separated part of the
 * tag, from 0), ${hostname} and ${env:NAME}.  Values from the record and
 * the host are sanitised so that a tag can never climb out of the
 * directory: any byte outside [A-Za-z0-9._-] becomes '_', and so does a
 * leading dot.
 *
 * Each worker keeps its own small cache of open descriptors by resolved
 * path (at most FILE_FDS_MAX; the least recently used is closed first, and
 * a timer closes those idle for FILE_IDLE_NS).  A cached path is checked
 * against the file system every few seconds, so that a file moved away by
 * log rotation is reopened under its name.
 *
 * Writes are complete only when every byte is written; a failure makes the
 * batch RETRY.  Lines written before the failure are written again by the
 * retry (at-least-once: duplicates are possible, losses are not).
 * flush runs on the worker threads and may block them on disk I/O, never
 * the main loop.
 */
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "sluice/envelope.h"
#include "sluice/plugin.h"
#include "sluice/banned.h"

#define FILE_FDS_MAX    64
#define FILE_IDLE_NS    (60 * SL_NS_PER_S)
#define FILE_RECHECK_NS (5 * SL_NS_PER_S)
#define FILE_KEEP_MAX   (8u << 20)

struct out_file_conf {
    char *path;
    bool mkdir;
    int format;
    struct sl_envelope_conf env;
};

struct out_file {
    const struct out_file_conf *conf;
    struct sl_envelope env;
    char hostname[256]; /* sanitised */
};

struct file_fd {
    char *path;
    int fd;
    int64_t used_ns;    /* monotonic time of the last write */
    int64_t checked_ns; /* monotonic time of the last stat of path */
    dev_t dev;
    ino_t ino;
};

struct out_file_worker {
    struct file_fd fds[FILE_FDS_MAX];
    size_t nfds;
    struct sl_buf out;  /* lines waiting for the current file */
    struct sl_buf tagm; /* the batch's tag member */
    struct sl_buf fmt;  /* the template with ${...} expanded */
    struct event *idle_timer;
    char path[PATH_MAX];
};

static const char *const file_formats[] = { "json_lines", NULL };

static const struct sl_option out_file_options[] = {
    { .name = "path",
      .type = SL_OPT_TEMPLATE,
      .flags = SL_OPT_REQUIRED,
      SL_OPT_FIELD(struct out_file_conf, path),
      .desc = "Path of the file to append to. Takes strftime conversions "
              "(event time, UTC) and ${tag}, ${tag[N]} (Nth dot-separated "
              "part of the tag, from 0), ${hostname} and ${env:NAME}, e.g. "
              "./var/out/${tag}-%Y-%m-%d.ndjson." },
    { .name = "mkdir",
      .type = SL_OPT_BOOL,
      .def = "on",
      SL_OPT_FIELD(struct out_file_conf, mkdir),
      .desc = "Create missing parent directories (mode 0750)." },
    { .name = "format",
      .type = SL_OPT_ENUM,
      .def = "json_lines",
      .choices = file_formats,
      SL_OPT_FIELD(struct out_file_conf, format),
      .desc = "Output layout: one compact JSON object per line." },
    SL_ENVELOPE_OPTIONS(struct out_file_conf, env),
    SL_OPT_END,
};

/* ---- path template ---- */

/* Appends <v> made safe for a path, with '%' doubled for strftime. */
static int file_path_value(struct sl_buf *fmt, struct sl_str v)
{
    size_t i;
    int rc = SL_OK;

    for (i = 0; rc == SL_OK && i < v.len; i++) {
        char c = v.ptr[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                  (c >= '0' && c <= '9') || c == '_' || c == '-' ||
                  (c == '.' && i > 0);

        rc = sl_buf_putc(fmt, ok ? c : '_');
    }
    return rc;
}

/* The <n>th dot-separated part of <tag> (empty when there is none). */
static struct sl_str file_tag_part(struct sl_str tag, unsigned long n)
{
    const char *p = tag.ptr;
    const char *end = tag.ptr + tag.len;
    const char *dot;

    while (p <= end && tag.len > 0) {
        dot = memchr(p, '.', (size_t)(end - p));
        if (dot == NULL) {
            dot = end;
        }
        if (n == 0) {
            return sl_str_make(p, (size_t)(dot - p));
        }
        n--;
        p = dot + 1;
    }
    return sl_str_make("", 0);
}

/* Appends the environment variable <name> (<len> bytes), with '%'
 * doubled for strftime; the operator's value is kept as it is (it may
 * hold a directory).  Unset: SL_EINVAL. */
static int file_path_env(struct sl_buf *fmt, const char *name, size_t len)
{
    char key[128];
    const char *v;
    int rc = SL_OK;

    if (len >= sizeof(key)) {
        return SL_EINVAL;
    }
    memcpy(key, name, len);
    key[len] = '\0';
    v = getenv(key);
    if (v == NULL) {
        return SL_EINVAL;
    }
    for (; rc == SL_OK && *v != '\0'; v++) {
        rc = *v == '%' ? sl_buf_append(fmt, "%%", 2) : sl_buf_putc(fmt, *v);
    }
    return rc;
}

/* Expands one ${name} at <name> (<len> bytes) into <fmt>. */
static int file_path_var(struct sl_buf *fmt, const char *name, size_t len,
                         struct sl_str tag, const char *hostname)
{
    char *end = NULL;
    unsigned long n;

    if (len == 3 && memcmp(name, "tag", 3) == 0) {
        return file_path_value(fmt, tag);
    }
    if (len == 8 && memcmp(name, "hostname", 8) == 0) {
        return file_path_value(fmt, sl_str_cstr(hostname));
    }
    if (len > 4 && memcmp(name, "env:", 4) == 0) {
        return file_path_env(fmt, name + 4, len - 4);
    }
    if (len > 5 && memcmp(name, "tag[", 4) == 0 && name[len - 1] == ']' &&
        name[4] >= '0' && name[4] <= '9') {
        errno = 0;
        n = strtoul(name + 4, &end, 10);
        if (errno == 0 && end == name + len - 1 && n < 64) {
            return file_path_value(fmt, file_tag_part(tag, n));
        }
    }
    return SL_EINVAL;
}

/* Expands the ${...} of template <tpl> into a strftime format in <fmt>.
 * Returns SL_OK, SL_ENOMEM, or SL_EINVAL with <err> for a bad template. */
static int file_path_expand(const char *tpl, struct sl_str tag,
                            const char *hostname, struct sl_buf *fmt,
                            struct sl_err *err)
{
    const char *p = tpl;
    const char *close;
    int rc = SL_OK;

    sl_buf_reset(fmt);
    while (rc == SL_OK && *p != '\0') {
        if (p[0] != '$' || p[1] != '{') {
            rc = sl_buf_putc(fmt, *p++);
            continue;
        }
        close = strchr(p + 2, '}');
        if (close == NULL) {
            return sl_err_set(err, SL_EINVAL,
                              "file: unterminated '${' in path '%s'", tpl);
        }
        rc = file_path_var(fmt, p + 2, (size_t)(close - p - 2), tag, hostname);
        if (rc == SL_EINVAL) {
            return sl_err_set(err, SL_EINVAL,
                              "file: unknown variable '%.*s' in path '%s' "
                              "(expected ${tag}, ${tag[N]}, ${hostname} or "
                              "${env:NAME} of a set variable)",
                              (int)(close - p + 1), p, tpl);
        }
        p = close + 1;
    }
    return rc;
}

/* Resolves the path of an event at <ns> into <path> (PATH_MAX bytes). */
static int file_path_resolve(const struct out_file_worker *wk, int64_t ns,
                             char *path)
{
    time_t s = (time_t)(ns / SL_NS_PER_S);
    struct tm tm;
    size_t n;

    if (wk->fmt.len == 0 || gmtime_r(&s, &tm) == NULL) {
        return SL_EINVAL;
    }
    /* The format is the operator's template, checked at init. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
    n = strftime(path, PATH_MAX, wk->fmt.data, &tm);
#pragma GCC diagnostic pop
    return n > 0 ? SL_OK : SL_ELIMIT;
}

/* ---- descriptors ---- */

/* Creates the missing parent directories of <path>. */
static int file_mkdir_parents(const char *path)
{
    char dir[PATH_MAX];
    size_t len = strlen(path);
    size_t i;

    if (len >= sizeof(dir)) {
        return SL_ELIMIT;
    }
    memcpy(dir, path, len + 1);
    for (i = 1; i < len; i++) {
        if (dir[i] != '/') {
            continue;
        }
        dir[i] = '\0';
        if (mkdir(dir, 0750) == -1 && errno != EEXIST) {
            return sl_rc_from_errno(errno);
        }
        dir[i] = '/';
    }
    return SL_OK;
}

/* Opens <path> for appending; a file it creates gets mode 0640 whatever
 * the umask.  Returns the fd or a negative error. */
static int file_open(const char *path, bool mkdirs)
{
    int flags = O_WRONLY | O_APPEND | O_CLOEXEC;
    int attempt;
    int fd;

    for (attempt = 0; attempt < 3; attempt++) {
        fd = open(path, flags | O_CREAT | O_EXCL, 0640);
        if (fd >= 0) {
            (void)fchmod(fd, 0640);
            return fd;
        }
        if (errno == EEXIST) {
            fd = open(path, flags);
            if (fd >= 0 || errno != ENOENT) {
                return fd >= 0 ? fd : sl_rc_from_errno(errno);
            }
            continue; /* removed in between: create it again */
        }
        if (errno != ENOENT || !mkdirs || file_mkdir_parents(path) != SL_OK) {
            return sl_rc_from_errno(errno == 0 ? EIO : errno);
        }
    }
    return sl_rc_from_errno(ENOENT);
}

static void file_fd_close_at(struct out_file_worker *wk, size_t i)
{
    close(wk->fds[i].fd);
    sl_free(wk->fds[i].path);
    wk->fds[i] = wk->fds[wk->nfds - 1];
    wk->nfds--;
}

/* True when <e> still names the file at its path. */
static bool file_fd_current(struct file_fd *e, int64_t now)
{
    struct stat st;

    if (now - e->checked_ns < FILE_RECHECK_NS) {
        return true;
    }
    e->checked_ns = now;
    return stat(e->path, &st) == 0 && st.st_dev == e->dev &&
           st.st_ino == e->ino;
}

static int file_fd_add(struct out_file_worker *wk, const char *path, int fd,
                       int64_t now)
{
    struct file_fd *e;
    struct stat st;
    size_t i;
    size_t lru = 0;

    if (wk->nfds == FILE_FDS_MAX) {
        for (i = 1; i < wk->nfds; i++) {
            lru = wk->fds[i].used_ns < wk->fds[lru].used_ns ? i : lru;
        }
        file_fd_close_at(wk, lru);
    }
    e = &wk->fds[wk->nfds];
    e->path = sl_strdup(path);
    if (e->path == NULL || fstat(fd, &st) != 0) {
        sl_free(e->path);
        close(fd);
        return SL_ENOMEM;
    }
    e->fd = fd;
    e->used_ns = now;
    e->checked_ns = now;
    e->dev = st.st_dev;
    e->ino = st.st_ino;
    wk->nfds++;
    return SL_OK;
}

/* Finds or opens the descriptor for <path>; returns its index or < 0. */
static int file_fd_get(struct out_file_worker *wk, const char *path,
                       bool mkdirs)
{
    int64_t now = sl_time_mono_ns();
    size_t i;
    int fd;
    int rc;

    for (i = 0; i < wk->nfds; i++) {
        if (strcmp(wk->fds[i].path, path) != 0) {
            continue;
        }
        if (file_fd_current(&wk->fds[i], now)) {
            wk->fds[i].used_ns = now;
            return (int)i;
        }
        file_fd_close_at(wk, i);
        break;
    }
    fd = file_open(path, mkdirs);
    if (fd < 0) {
        return fd;
    }
    rc = file_fd_add(wk, path, fd, now);
    return rc == SL_OK ? (int)wk->nfds - 1 : rc;
}

static void file_idle_cb(evutil_socket_t fd, short what, void *arg)
{
    struct out_file_worker *wk = arg;
    int64_t now = sl_time_mono_ns();
    size_t i = wk->nfds;

    (void)fd;
    (void)what;
    while (i > 0) {
        i--;
        if (now - wk->fds[i].used_ns > FILE_IDLE_NS) {
            file_fd_close_at(wk, i);
        }
    }
}

/* ---- flush ---- */

static int file_write_all(int fd, const char *p, size_t n)
{
    ssize_t w;

    while (n > 0) {
        w = write(fd, p, n);
        if (w < 0 && errno == EINTR) {
            continue;
        }
        if (w <= 0) {
            return sl_rc_from_errno(w < 0 ? errno : EIO);
        }
        p += w;
        n -= (size_t)w;
    }
    return SL_OK;
}

/* Writes the lines gathered in wk->out to wk->path. */
static int file_write_pending(struct out_file_worker *wk, bool mkdirs,
                              struct sl_batch *b)
{
    int i;
    int rc;

    if (wk->out.len == 0) {
        return SL_OK;
    }
    i = file_fd_get(wk, wk->path, mkdirs);
    if (i < 0) {
        sl_batch_set_error(b, "open %s: %s", wk->path, sl_strerror(i));
        return i;
    }
    rc = file_write_all(wk->fds[i].fd, wk->out.data, wk->out.len);
    if (rc != SL_OK) {
        sl_batch_set_error(b, "write %s: %s", wk->path, sl_strerror(rc));
        file_fd_close_at(wk, (size_t)i);
        return rc;
    }
    sl_buf_reset(&wk->out);
    return SL_OK;
}

/* Resolves the path for each record (once per distinct second), and
 * writes the lines gathered so far whenever it changes. */
static int file_flush_records(const struct out_file *o,
                              struct out_file_worker *wk, struct sl_batch *b)
{
    struct sl_batch_iter it;
    struct sl_event ev;
    int64_t sec = INT64_MIN;
    char next[PATH_MAX];
    int rc = SL_OK;
    bool constant;

    /* A path without strftime conversions is the same for every record:
     * resolve it once per batch, not once per distinct second. */
    constant = strchr(wk->fmt.data != NULL ? wk->fmt.data : "", '%') == NULL;
    sl_batch_iter_init(b, &it);
    while (rc == SL_OK && sl_batch_next(b, &it, &ev)) {
        if (ev.ts_ns / SL_NS_PER_S != sec && (!constant || sec == INT64_MIN)) {
            sec = ev.ts_ns / SL_NS_PER_S;
            if (file_path_resolve(wk, ev.ts_ns, next) != SL_OK) {
                sl_batch_set_error(b, "path template gives no usable path");
                return SL_ELIMIT;
            }
            if (strcmp(next, wk->path) != 0) {
                rc = file_write_pending(wk, o->conf->mkdir, b);
                memcpy(wk->path, next, sizeof(next));
            }
        }
        if (rc == SL_OK) {
            rc = sl_envelope_line(&o->env, &wk->tagm, &ev, &wk->out);
        }
    }
    return rc == SL_OK ? file_write_pending(wk, o->conf->mkdir, b) : rc;
}

static enum sl_flush_result out_file_flush(struct sl_batch *b,
                                           struct sl_worker *w)
{
    const struct out_file *o = sl_instance_ctx(sl_worker_instance(w));
    struct out_file_worker *wk = sl_worker_ctx(w);
    int rc;

    sl_buf_reset(&wk->out);
    rc = file_path_expand(o->conf->path, sl_batch_tag(b), o->hostname, &wk->fmt,
                          NULL);
    if (rc == SL_OK) {
        rc = sl_envelope_tag(&o->env, sl_batch_tag(b), &wk->tagm);
    }
    if (rc != SL_OK) {
        sl_batch_set_error(b, "cannot format the batch: %s", sl_strerror(rc));
        return SL_FLUSH_RETRY;
    }
    rc = file_flush_records(o, wk, b);
    if (wk->out.cap > FILE_KEEP_MAX) {
        sl_buf_fini(&wk->out);
        sl_buf_init(&wk->out, 0);
    }
    sl_buf_reset(&wk->out);
    return rc == SL_OK ? SL_FLUSH_OK : SL_FLUSH_RETRY;
}

static void out_file_worker_exit(struct sl_instance *ins, struct sl_worker *w)
{
    struct out_file_worker *wk = sl_worker_ctx(w);

    (void)ins;
    if (wk == NULL) {
        return;
    }
    if (wk->idle_timer != NULL) {
        event_free(wk->idle_timer);
    }
    while (wk->nfds > 0) {
        file_fd_close_at(wk, wk->nfds - 1);
    }
    sl_buf_fini(&wk->out);
    sl_buf_fini(&wk->tagm);
    sl_buf_fini(&wk->fmt);
    sl_free(wk);
    sl_worker_set_ctx(w, NULL);
}

static int out_file_worker_init(struct sl_instance *ins, struct sl_worker *w,
                                struct sl_err *err)
{
    struct out_file_worker *wk = sl_calloc(1, sizeof(*wk));
    struct timeval tv = { .tv_sec = 10, .tv_usec = 0 };

    (void)ins;
    if (wk == NULL) {
        return sl_err_set(err, SL_ENOMEM, "file: out of memory");
    }
    sl_buf_init(&wk->out, 0);
    sl_buf_init(&wk->tagm, 0);
    sl_buf_init(&wk->fmt, PATH_MAX * 2);
    sl_worker_set_ctx(w, wk);
    wk->idle_timer =
        event_new(sl_worker_base(w), -1, EV_PERSIST, file_idle_cb, wk);
    if (wk->idle_timer == NULL || event_add(wk->idle_timer, &tv) != 0) {
        out_file_worker_exit(ins, w);
        return sl_err_set(err, SL_ENOMEM, "file: cannot arm the idle timer");
    }
    return SL_OK;
}

static void out_file_exit(struct sl_instance *ins)
{
    struct out_file *o = sl_instance_ctx(ins);

    if (o == NULL) {
        return;
    }
    sl_envelope_fini(&o->env);
    sl_free(o);
    sl_instance_set_ctx(ins, NULL);
}

static int out_file_init(struct sl_instance *ins, void *conf,
                         struct sl_err *err)
{
    const struct out_file_conf *c = conf;
    struct out_file *o = sl_calloc(1, sizeof(*o));
    struct sl_buf fmt;
    int rc;

    if (o == NULL) {
        return sl_err_set(err, SL_ENOMEM, "file: out of memory");
    }
    o->conf = c;
    snprintf(o->hostname, sizeof(o->hostname), "%s", sl_hostname());
    sl_instance_set_ctx(ins, o);
    rc = sl_envelope_init(&o->env, &c->env);
    if (rc != SL_OK) {
        sl_err_set(err, rc, "file: out of memory");
        goto fail;
    }
    /* Validate the template once, with a sample tag. */
    sl_buf_init(&fmt, PATH_MAX * 2);
    rc = file_path_expand(c->path, SL_STR_LIT("t"), o->hostname, &fmt, err);
    sl_buf_fini(&fmt);
    if (rc == SL_OK && c->path[0] == '\0') {
        rc = sl_err_set(err, SL_ECONFIG, "file: 'path' is empty");
    }
    if (rc != SL_OK) {
        goto fail;
    }
    return SL_OK;
fail:
    out_file_exit(ins);
    return rc == SL_EINVAL ? SL_ECONFIG : rc;
}

const struct sl_plugin sl_plugin_out_file = {
    .abi = SL_PLUGIN_ABI,
    .kind = SL_PLUGIN_OUTPUT,
    .name = "file",
    .description = "Append records as JSON lines to files named by a path "
                   "template.",
    .options = out_file_options,
    .conf_size = sizeof(struct out_file_conf),
    .init = out_file_init,
    .worker_init = out_file_worker_init,
    .flush = out_file_flush,
    .worker_exit = out_file_worker_exit,
    .exit = out_file_exit,
};
