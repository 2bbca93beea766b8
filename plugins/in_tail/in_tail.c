/*
 * in_tail.c - the "tail" input: follows files matching globs.
 *
 * Files.  Every refresh_interval the globs in "path" are expanded (and at
 * once when inotify reports a file created or moved into the directory of
 * a glob, or a followed file renamed or deleted); a regular file not excluded
 * by "exclude_path" and not followed yet (files are told apart by device and
 * inode) is opened.  Files present at the first scan start at their end unless
 * read_from_head is on; files found later start at their head, so nothing
 * written to a new file is missed.  struct tail_file keeps, per file, the
 * offset of the first byte not yet ingested: reads are pread() at that offset,
 * so a pause, a partial last line or a failed allocation never loses a byte:
 * the bytes are simply read again.
 *
 * Reading.  An inotify watch per file (IN_MODIFY, IN_CLOSE_WRITE,
 * IN_MOVE_SELF, IN_DELETE_SELF, IN_ATTRIB) marks it pending, and a
 * poll_interval timer marks every file pending as a safety net (the only
 * mechanism when inotify is off or unavailable).  A zero-timeout "kick"
 * timer reads pending files in blocks of buffer_chunk_size, splits lines
 * with memchr in place and ingests each complete line, until end of file,
 * within TAIL_SLICE_BYTES per run (TAIL_FILE_SLICE_BYTES per file, round
 * robin) so that the loop stays responsive; it re-arms itself while data
 * remains.  A line longer than buffer_max_size is ingested in pieces of
 * that size and counted in sluice_input_long_lines_total.
 *
 * Rotation.  At end of file a file marked for checking is looked at: a
 * shorter file than our offset was truncated (read again from 0, counted);
 * a deleted file (no links left) is closed once read to its end; a file
 * whose path now names another inode (renamed) is read for
 * TAIL_ROTATE_WAIT_MS more and then closed, and the new file at the path is
 * picked up by the next scan from its head.  A closed renamed file is
 * remembered (inode, offset) so that a glob also matching its new name
 * resumes it instead of reading it twice.
 *
 * Runs on the main loop only; never blocks (regular files only).
 */
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <glob.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/event.h>

#include "sluice/plugin.h"
#include "sluice/banned.h"

#define TAIL_SLICE_BYTES      (4u * 1024 * 1024)
#define TAIL_FILE_SLICE_BYTES (1024u * 1024)
#define TAIL_ROTATE_WAIT_MS   5000
#define TAIL_PAUSE_RECHECK_MS 100
#define TAIL_SEEN_MAX         256
#define TAIL_INOTIFY_MASK                                                      \
    (IN_MODIFY | IN_CLOSE_WRITE | IN_MOVE_SELF | IN_DELETE_SELF | IN_ATTRIB)
#define TAIL_DIR_MASK (IN_CREATE | IN_MOVED_TO)

struct in_tail_conf {
    struct sl_strlist path;
    struct sl_strlist exclude_path;
    bool read_from_head;
    int64_t refresh_interval_ms;
    int64_t poll_interval_ms;
    bool inotify;
    uint64_t buffer_chunk_size;
    uint64_t buffer_max_size;
};

struct tail_file {
    char *path;
    char *tag;
    size_t tag_len;
    int fd;
    int wd; /* inotify watch, -1 when none */
    dev_t dev;
    ino_t ino;
    off_t offset;    /* first byte not yet ingested */
    int64_t gone_ns; /* monotonic time the path stopped naming it, or 0 */
    bool pending;    /* may have unread bytes */
    bool check;      /* look for truncation, deletion, rename at EOF */
    bool want_big;   /* the last block held no line end: read a bigger one */
    bool in_long;    /* the current line was already split */
    bool dead;       /* closed, to be removed from the list */
};

/* A renamed file we stopped following, to resume rather than re-read. */
struct tail_seen {
    dev_t dev;
    ino_t ino;
    off_t offset;
};

struct in_tail_ctx {
    struct sl_instance *ins;
    const struct in_tail_conf *conf;
    struct tail_file **files;
    size_t nfiles;
    size_t files_cap;
    size_t rr;    /* round-robin start of the next kick */
    char *rbuf;   /* shared read block */
    size_t chunk; /* normal read size */
    size_t rcap;  /* size of rbuf: enough to find a line end */
    size_t max_line;
    int ifd;                 /* inotify fd, -1 when polling only */
    struct event *iev;       /* inotify readable */
    struct event *scan;      /* refresh_interval: expand the globs */
    struct event *scan_soon; /* zero timeout: a file appeared or moved */
    int *dir_wds;            /* inotify watches on the globs' directories */
    struct event *poll;      /* poll_interval: mark every file pending */
    struct event *kick;      /* zero timeout: read pending files */
    struct sl_metric *m_opened;
    struct sl_metric *m_truncations;
    struct sl_metric *m_long_lines;
    struct tail_seen seen[TAIL_SEEN_MAX];
    size_t seen_next;
    bool running;
    bool paused;
};

static const struct sl_option in_tail_options[] = {
    { .name = "path",
      .type = SL_OPT_LIST,
      .flags = SL_OPT_REQUIRED,
      SL_OPT_FIELD(struct in_tail_conf, path),
      .desc = "Globs of the files to follow, e.g. /var/log/app/*.log." },
    { .name = "exclude_path",
      .type = SL_OPT_LIST,
      SL_OPT_FIELD(struct in_tail_conf, exclude_path),
      .desc = "Globs (fnmatch) of files not to follow. A pattern without a "
              "slash is matched against the file name only." },
    { .name = "read_from_head",
      .type = SL_OPT_BOOL,
      .def = "off",
      SL_OPT_FIELD(struct in_tail_conf, read_from_head),
      .desc = "Read files present at start from their beginning. When off "
              "they are read from their end; files that appear later are "
              "always read from their beginning." },
    { .name = "refresh_interval",
      .type = SL_OPT_TIME,
      .def = "1s",
      .min = 10,
      .max = INT64_C(86400000),
      SL_OPT_FIELD(struct in_tail_conf, refresh_interval_ms),
      .desc = "How often the globs are expanded again to find new files." },
    { .name = "poll_interval",
      .type = SL_OPT_TIME,
      .def = "250ms",
      .min = 10,
      .max = INT64_C(3600000),
      SL_OPT_FIELD(struct in_tail_conf, poll_interval_ms),
      .desc = "How often every file is checked for new data, as a safety "
              "net for inotify or instead of it." },
    { .name = "inotify",
      .type = SL_OPT_BOOL,
      .def = "on",
      SL_OPT_FIELD(struct in_tail_conf, inotify),
      .desc = "Use inotify to learn about appends at once. When off, or "
              "when inotify is not available, files are polled." },
    { .name = "buffer_chunk_size",
      .type = SL_OPT_SIZE,
      .def = "256K",
      .min = 4096,
      .max = INT64_C(64) << 20,
      SL_OPT_FIELD(struct in_tail_conf, buffer_chunk_size),
      .desc = "Size of each read from a file." },
    { .name = "buffer_max_size",
      .type = SL_OPT_SIZE,
      .def = "1M",
      .min = 4096,
      .max = INT64_C(256) << 20,
      SL_OPT_FIELD(struct in_tail_conf, buffer_max_size),
      .desc = "Longest line kept whole. A longer line is ingested in pieces "
              "of this size and counted in sluice_input_long_lines_total; "
              "nothing is dropped." },
    SL_OPT_END,
};

static const struct timeval tail_zero_tv = { 0, 0 };

static bool tail_paused(const struct in_tail_ctx *ctx)
{
    return ctx->paused || sl_input_paused(ctx->ins);
}

/* Schedules a reading pass on the next loop iteration (a timer, not
 * event_active, so that I/O callbacks run in between). */
static void tail_kick(struct in_tail_ctx *ctx)
{
    if (ctx->running && !ctx->paused) {
        event_add(ctx->kick, &tail_zero_tv);
    }
}

/* ---- tags ---- */

/* Builds the tag of <path>: each '*' of the configured tag is replaced by
 * the path with '/' turned into '.' and the leading '.' dropped
 * ("app.*" + "/var/log/a.log" = "app.var.log.a.log"). */
/* Appends <path> with each '/' turned into '.'. */
static int tail_tag_append_path(struct sl_buf *b, const char *path)
{
    size_t start = b->len;
    size_t j;
    int rc = sl_buf_append_str(b, path);

    for (j = start; rc == SL_OK && j < b->len; j++) {
        if (b->data[j] == '/') {
            b->data[j] = '.';
        }
    }
    return rc;
}

static int tail_tag_make(struct in_tail_ctx *ctx, struct tail_file *f)
{
    struct sl_str tag = sl_instance_tag(ctx->ins);
    const char *path = f->path;
    struct sl_buf b;
    size_t i;
    int rc = SL_OK;

    while (*path == '/') {
        path++;
    }
    sl_buf_init(&b, 0);
    for (i = 0; i < tag.len && rc == SL_OK; i++) {
        if (tag.ptr[i] == '*') {
            rc = tail_tag_append_path(&b, path);
        } else {
            rc = sl_buf_putc(&b, tag.ptr[i]);
        }
    }
    f->tag_len = b.len;
    f->tag = rc == SL_OK ? sl_buf_take(&b) : NULL;
    sl_buf_fini(&b);
    return f->tag != NULL ? SL_OK : SL_ENOMEM;
}

/* ---- line splitting ---- */

static void tail_ingest(struct in_tail_ctx *ctx, const struct tail_file *f,
                        const char *p, size_t n)
{
    int rc = sl_input_ingest(ctx->ins, sl_str_make(f->tag, f->tag_len), p, n);

    if (rc != SL_OK) {
        sl_log_warn(ctx->ins, "cannot ingest a line of %s: %s", f->path,
                    sl_strerror(rc));
    }
}

/* A complete line (or the last piece of a long one): strip a CR, skip it
 * when empty. */
static void tail_emit_line(struct in_tail_ctx *ctx, struct tail_file *f,
                           const char *p, size_t n)
{
    f->in_long = false;
    if (n > 0 && p[n - 1] == '\r') {
        n--;
    }
    if (n > 0) {
        tail_ingest(ctx, f, p, n);
    }
}

static void tail_emit_piece(struct in_tail_ctx *ctx, struct tail_file *f,
                            const char *p, size_t n)
{
    if (!f->in_long) {
        f->in_long = true;
        sl_metric_add(ctx->m_long_lines, 1);
    }
    tail_ingest(ctx, f, p, n);
}

/* Ingests the lines in <p>[0..<n>); with <final> also an unterminated
 * last line.  Returns the bytes consumed; stops early when paused. */
static size_t tail_lines(struct in_tail_ctx *ctx, struct tail_file *f,
                         const char *p, size_t n, bool final)
{
    const char *nl;
    size_t off = 0;
    size_t avail;
    size_t scan;

    while (off < n && !tail_paused(ctx)) {
        avail = n - off;
        /* A line of exactly max_line bytes plus its LF is still whole. */
        scan = avail < ctx->max_line + 1 ? avail : ctx->max_line + 1;
        nl = memchr(p + off, '\n', scan);
        if (nl != NULL) {
            tail_emit_line(ctx, f, p + off, (size_t)(nl - (p + off)));
            off += (size_t)(nl - (p + off)) + 1;
        } else if (avail > ctx->max_line) {
            tail_emit_piece(ctx, f, p + off, ctx->max_line);
            off += ctx->max_line;
        } else if (final) {
            tail_emit_line(ctx, f, p + off, avail);
            off = n;
        } else {
            break;
        }
    }
    return off;
}

/* ---- reading one file ---- */

/* One block read at the file's offset and the lines it completes.
 * *<nread> gets the bytes read, *<eof> whether the end was reached.
 * Returns SL_OK or a negative errno. */
static int tail_file_step(struct in_tail_ctx *ctx, struct tail_file *f,
                          bool final, size_t *nread, bool *eof)
{
    size_t want = f->want_big || final ? ctx->rcap : ctx->chunk;
    size_t used;
    ssize_t n;
    int rc;

    n = pread(f->fd, ctx->rbuf, want, f->offset);
    if (n < 0) {
        rc = sl_rc_from_errno(errno);
        *nread = 0;
        *eof = rc != -EINTR;
        return rc == -EINTR ? SL_OK : rc;
    }
    *nread = (size_t)n;
    *eof = (size_t)n < want;
    used = tail_lines(ctx, f, ctx->rbuf, (size_t)n, final && *eof);
    f->offset += (off_t)used;
    /* A full block without a line end: the line is longer than a block,
     * read up to max_line + 1 bytes to find its end or split it. */
    f->want_big = used == 0 && !*eof;
    if (used < (size_t)n && tail_paused(ctx)) {
        *eof = false;
    }
    return SL_OK;
}

/* Reads <f> until its end, a pause or <budget> bytes.  <final> ingests an
 * unterminated last line too (the file is going away).  Returns the bytes
 * read; *<eof> tells whether the end was reached with nothing left. */
static size_t tail_file_pump(struct in_tail_ctx *ctx, struct tail_file *f,
                             size_t budget, bool final, bool *eof)
{
    size_t total = 0;
    size_t n;
    int rc;

    *eof = false;
    while (total < budget && !tail_paused(ctx)) {
        rc = tail_file_step(ctx, f, final, &n, eof);
        total += n;
        if (rc != SL_OK) {
            sl_log_error(ctx->ins, "cannot read %s: %s", f->path,
                         sl_strerror(rc));
            *eof = true;
            break;
        }
        if (*eof) {
            break;
        }
    }
    return total;
}

/* ---- file list ---- */

static void tail_seen_add(struct in_tail_ctx *ctx, const struct tail_file *f)
{
    struct tail_seen *s = &ctx->seen[ctx->seen_next % TAIL_SEEN_MAX];

    s->dev = f->dev;
    s->ino = f->ino;
    s->offset = f->offset;
    ctx->seen_next++;
}

/* The offset a renamed file we followed before had reached, or 0. */
static off_t tail_seen_take(struct in_tail_ctx *ctx, const struct stat *st)
{
    size_t i;
    off_t off;

    for (i = 0; i < TAIL_SEEN_MAX; i++) {
        struct tail_seen *s = &ctx->seen[i];

        if (s->ino == st->st_ino && s->dev == st->st_dev && s->offset > 0) {
            off = s->offset <= st->st_size ? s->offset : 0;
            s->offset = 0;
            s->ino = 0;
            return off;
        }
    }
    return 0;
}

static void tail_file_close(struct in_tail_ctx *ctx, struct tail_file *f,
                            const char *why)
{
    sl_log_info(ctx->ins, "stopped following %s (%s)", f->path, why);
    if (f->wd >= 0 && ctx->ifd >= 0) {
        inotify_rm_watch(ctx->ifd, f->wd);
    }
    f->wd = -1;
    if (f->fd >= 0) {
        close(f->fd);
    }
    f->fd = -1;
    f->dead = true;
    f->pending = false;
}

static void tail_file_free(struct tail_file *f)
{
    if (f->fd >= 0) {
        close(f->fd);
    }
    sl_free(f->tag);
    sl_free(f->path);
    sl_free(f);
}

/* Removes the files closed during the last pass. */
static void tail_files_sweep(struct in_tail_ctx *ctx)
{
    size_t i;
    size_t j = 0;

    for (i = 0; i < ctx->nfiles; i++) {
        if (ctx->files[i]->dead) {
            tail_file_free(ctx->files[i]);
        } else {
            ctx->files[j++] = ctx->files[i];
        }
    }
    ctx->nfiles = j;
    if (ctx->rr >= ctx->nfiles) {
        ctx->rr = 0;
    }
}

static bool tail_file_known(const struct in_tail_ctx *ctx,
                            const struct stat *st)
{
    size_t i;

    for (i = 0; i < ctx->nfiles; i++) {
        const struct tail_file *f = ctx->files[i];

        if (!f->dead && f->ino == st->st_ino && f->dev == st->st_dev) {
            return true;
        }
    }
    return false;
}

static bool tail_excluded(const struct in_tail_ctx *ctx, const char *path)
{
    const struct sl_strlist *ex = &ctx->conf->exclude_path;
    const char *base = strrchr(path, '/');
    size_t i;

    base = base != NULL ? base + 1 : path;
    for (i = 0; i < ex->n; i++) {
        const char *subject = strchr(ex->v[i], '/') != NULL ? path : base;

        if (fnmatch(ex->v[i], subject, 0) == 0) {
            return true;
        }
    }
    return false;
}

static int tail_files_push(struct in_tail_ctx *ctx, struct tail_file *f)
{
    struct tail_file **v;
    size_t ncap;

    if (ctx->nfiles == ctx->files_cap) {
        ncap = ctx->files_cap == 0 ? 16 : ctx->files_cap * 2;
        v = sl_realloc(ctx->files, ncap * sizeof(*v));
        if (v == NULL) {
            return SL_ENOMEM;
        }
        ctx->files = v;
        ctx->files_cap = ncap;
    }
    ctx->files[ctx->nfiles++] = f;
    return SL_OK;
}

/* Watches the open file itself (through /proc, so that a rename between
 * open and here cannot make us watch another file). */
static void tail_file_watch(struct in_tail_ctx *ctx, struct tail_file *f)
{
    char proc[64];

    if (ctx->ifd < 0) {
        return;
    }
    snprintf(proc, sizeof(proc), "/proc/self/fd/%d", f->fd);
    f->wd = inotify_add_watch(ctx->ifd, proc, TAIL_INOTIFY_MASK);
    if (f->wd < 0) {
        f->wd = inotify_add_watch(ctx->ifd, f->path, TAIL_INOTIFY_MASK);
    }
    if (f->wd < 0) {
        sl_log_warn(ctx->ins, "cannot watch %s (%s): polling it", f->path,
                    sl_strerror(sl_rc_from_errno(errno)));
    }
}

/* Builds the entry for the file open as <fd> (taken over). */
static int tail_file_create(struct in_tail_ctx *ctx, const char *path, int fd,
                            const struct stat *st, off_t offset)
{
    struct tail_file *f = sl_calloc(1, sizeof(*f));
    int rc = SL_ENOMEM;

    if (f == NULL) {
        close(fd);
        return SL_ENOMEM;
    }
    f->fd = fd;
    f->wd = -1;
    f->dev = st->st_dev;
    f->ino = st->st_ino;
    f->offset = offset;
    f->pending = true;
    f->path = sl_strdup(path);
    if (f->path == NULL || tail_tag_make(ctx, f) != SL_OK) {
        goto fail;
    }
    rc = tail_files_push(ctx, f);
    if (rc != SL_OK) {
        goto fail;
    }
    tail_file_watch(ctx, f);
    sl_metric_add(ctx->m_opened, 1);
    sl_log_info(ctx->ins, "following %s from offset %jd", path,
                (intmax_t)offset);
    return SL_OK;
fail:
    tail_file_free(f);
    return rc;
}

/* Opens <path> when it is a regular file we do not follow yet.  <initial>:
 * found by the first scan (read_from_head decides where to start). */
static void tail_consider(struct in_tail_ctx *ctx, const char *path,
                          bool initial)
{
    struct stat st;
    off_t offset;
    int fd;

    if (tail_excluded(ctx, path) || stat(path, &st) != 0 ||
        !S_ISREG(st.st_mode) || tail_file_known(ctx, &st)) {
        return;
    }
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        sl_log_warn(ctx->ins, "cannot open %s: %s", path,
                    sl_strerror(sl_rc_from_errno(errno)));
        return;
    }
    /* The path may have changed between stat and open. */
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
        tail_file_known(ctx, &st)) {
        close(fd);
        return;
    }
    offset = tail_seen_take(ctx, &st);
    if (offset == 0 && initial && !ctx->conf->read_from_head) {
        offset = st.st_size;
    }
    if (tail_file_create(ctx, path, fd, &st, offset) != SL_OK) {
        sl_log_error(ctx->ins, "out of memory following %s", path);
    }
}

/* Expands every glob and opens the new files. */
static void tail_scan(struct in_tail_ctx *ctx, bool initial)
{
    const struct sl_strlist *pats = &ctx->conf->path;
    size_t before = ctx->nfiles;
    glob_t g;
    size_t i;
    size_t j;
    int rc;

    for (i = 0; i < pats->n; i++) {
        memset(&g, 0, sizeof(g));
        rc = glob(pats->v[i], GLOB_MARK, NULL, &g);
        if (rc == 0) {
            for (j = 0; j < g.gl_pathc; j++) {
                tail_consider(ctx, g.gl_pathv[j], initial);
            }
        } else if (rc != GLOB_NOMATCH) {
            sl_log_debug(ctx->ins, "cannot expand %s (glob error %d)",
                         pats->v[i], rc);
        }
        globfree(&g);
    }
    if (ctx->nfiles > before) {
        tail_kick(ctx);
    }
}

/* ---- end of file: truncation, deletion, rename ---- */

static void tail_file_truncated(struct in_tail_ctx *ctx, struct tail_file *f,
                                off_t size)
{
    sl_log_info(ctx->ins, "%s was truncated (%jd < %jd): reading from 0",
                f->path, (intmax_t)size, (intmax_t)f->offset);
    sl_metric_add(ctx->m_truncations, 1);
    f->offset = 0;
    f->in_long = false;
    f->want_big = false;
    f->pending = true;
}

/* Final read of a file that is going away: everything, including an
 * unterminated last line.  Called at end of file, so what is left is at
 * most one partial line, unless the file still grows: then the next pass
 * goes on.  Returns true when nothing is left. */
static bool tail_file_flush(struct in_tail_ctx *ctx, struct tail_file *f)
{
    bool eof = false;

    tail_file_pump(ctx, f, ctx->rcap, true, &eof);
    if (!eof) {
        f->pending = true;
    }
    return eof;
}

/* Called at end of file.  Decides whether the file goes on. */
static void tail_file_eof(struct in_tail_ctx *ctx, struct tail_file *f)
{
    struct stat st;
    struct stat pst;
    int64_t now;

    if (fstat(f->fd, &st) != 0) {
        return;
    }
    if (st.st_size < f->offset) {
        tail_file_truncated(ctx, f, st.st_size);
        return;
    }
    if (!f->check) {
        return;
    }
    if (st.st_nlink == 0) {
        /* Paused before the end: the check stays for the next pass. */
        if (tail_file_flush(ctx, f)) {
            tail_file_close(ctx, f, "deleted");
        }
        return;
    }
    if (stat(f->path, &pst) == 0 && pst.st_ino == f->ino &&
        pst.st_dev == f->dev) {
        f->gone_ns = 0;
        f->check = false;
        return;
    }
    now = sl_time_mono_ns();
    if (f->gone_ns == 0) {
        sl_log_info(ctx->ins, "%s was renamed or replaced", f->path);
        f->gone_ns = now;
    }
    if (now - f->gone_ns >= TAIL_ROTATE_WAIT_MS * SL_NS_PER_MS &&
        tail_file_flush(ctx, f)) {
        tail_seen_add(ctx, f);
        tail_file_close(ctx, f, "rotated");
    }
}

/* ---- callbacks ---- */

/* Reads pending files, round robin, within TAIL_SLICE_BYTES. */
static void tail_on_kick(evutil_socket_t fd, short what, void *arg)
{
    struct in_tail_ctx *ctx = arg;
    struct timeval tv = { 0, TAIL_PAUSE_RECHECK_MS * 1000 };
    size_t budget = TAIL_SLICE_BYTES;
    size_t k;
    size_t n = ctx->nfiles;
    size_t start = ctx->rr;
    size_t got;
    bool more = false;
    bool eof;

    (void)fd;
    (void)what;
    for (k = 0; k < n && budget > 0 && !tail_paused(ctx); k++) {
        size_t i = (start + k) % n;
        struct tail_file *f = ctx->files[i];
        size_t cap =
            budget < TAIL_FILE_SLICE_BYTES ? budget : TAIL_FILE_SLICE_BYTES;

        if (f->dead || !f->pending) {
            continue;
        }
        got = tail_file_pump(ctx, f, cap, false, &eof);
        budget -= got < budget ? got : budget;
        if (eof) {
            f->pending = false;
            tail_file_eof(ctx, f);
        }
        more = more || f->pending;
        ctx->rr = (i + 1) % n;
    }
    tail_files_sweep(ctx);
    if (tail_paused(ctx)) {
        if (!ctx->paused) {
            event_add(ctx->kick, &tv);
        }
        return;
    }
    if (more || k < n) {
        tail_kick(ctx);
    }
}

static struct tail_file *tail_file_by_wd(const struct in_tail_ctx *ctx, int wd)
{
    size_t i;

    for (i = 0; i < ctx->nfiles; i++) {
        if (ctx->files[i]->wd == wd && !ctx->files[i]->dead) {
            return ctx->files[i];
        }
    }
    return NULL;
}

static void tail_mark_all(struct in_tail_ctx *ctx)
{
    size_t i;

    for (i = 0; i < ctx->nfiles; i++) {
        ctx->files[i]->pending = true;
        ctx->files[i]->check = true;
    }
}

/* Gives up on inotify after a read error: the poll timer takes over.
 * The event itself is freed with the context (this runs inside its
 * callback). */
static void tail_inotify_close(struct in_tail_ctx *ctx)
{
    size_t i;

    if (ctx->iev != NULL) {
        event_del(ctx->iev);
    }
    if (ctx->ifd >= 0) {
        close(ctx->ifd);
        ctx->ifd = -1;
    }
    for (i = 0; i < ctx->nfiles; i++) {
        ctx->files[i]->wd = -1;
    }
}

static void tail_inotify_event(struct in_tail_ctx *ctx,
                               const struct inotify_event *ev)
{
    struct tail_file *f;

    if (ev->mask & IN_Q_OVERFLOW) {
        tail_mark_all(ctx);
        return;
    }
    if (ev->mask & TAIL_DIR_MASK) {
        /* A file appeared in a watched directory: scan now, so that a
         * new file is followed before it can be rotated away. */
        event_add(ctx->scan_soon, &tail_zero_tv);
        return;
    }
    f = tail_file_by_wd(ctx, ev->wd);
    if (f == NULL) {
        return;
    }
    f->pending = true;
    if (ev->mask & (IN_ATTRIB | IN_MOVE_SELF | IN_DELETE_SELF | IN_IGNORED)) {
        f->check = true;
        /* Rotation: the replacement is probably there already. */
        event_add(ctx->scan_soon, &tail_zero_tv);
    }
    if (ev->mask & IN_IGNORED) {
        f->wd = -1;
    }
}

/* The inotify fd is readable: one read per call (level-triggered). */
static void tail_on_inotify(evutil_socket_t fd, short what, void *arg)
{
    struct in_tail_ctx *ctx = arg;
    char buf[8192] __attribute__((aligned(__alignof__(struct inotify_event))));
    const struct inotify_event *ev;
    ssize_t n;
    ssize_t off;

    (void)what;
    n = read(fd, buf, sizeof(buf));
    if (n <= 0) {
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
            return;
        }
        sl_log_warn(ctx->ins, "inotify failed (%s): polling instead",
                    sl_strerror(n < 0 ? sl_rc_from_errno(errno) : SL_EIO));
        tail_inotify_close(ctx);
        return;
    }
    for (off = 0; off + (ssize_t)sizeof(*ev) <= n;
         off += (ssize_t)sizeof(*ev) + ev->len) {
        ev = (const struct inotify_event *)(const void *)(buf + off);
        tail_inotify_event(ctx, ev);
    }
    tail_kick(ctx);
}

static void tail_on_poll(evutil_socket_t fd, short what, void *arg)
{
    struct in_tail_ctx *ctx = arg;

    (void)fd;
    (void)what;
    tail_mark_all(ctx);
    tail_kick(ctx);
}

static void tail_on_scan(evutil_socket_t fd, short what, void *arg)
{
    struct in_tail_ctx *ctx = arg;

    (void)fd;
    (void)what;
    tail_scan(ctx, false);
}

/* ---- life cycle ---- */

static void tail_ctx_free(struct in_tail_ctx *ctx)
{
    size_t i;

    for (i = 0; i < ctx->nfiles; i++) {
        tail_file_free(ctx->files[i]);
    }
    sl_free(ctx->files);
    ctx->nfiles = 0;
    tail_inotify_close(ctx);
    if (ctx->iev != NULL) {
        event_free(ctx->iev);
    }
    if (ctx->scan != NULL) {
        event_free(ctx->scan);
    }
    if (ctx->scan_soon != NULL) {
        event_free(ctx->scan_soon);
    }
    sl_free(ctx->dir_wds);
    if (ctx->poll != NULL) {
        event_free(ctx->poll);
    }
    if (ctx->kick != NULL) {
        event_free(ctx->kick);
    }
    sl_free(ctx->rbuf);
    sl_free(ctx);
}

/* inotify is optional: without it every file is polled. */
static void tail_inotify_open(struct in_tail_ctx *ctx)
{
    int rc;

    if (!ctx->conf->inotify) {
        return;
    }
    ctx->ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (ctx->ifd < 0) {
        rc = sl_rc_from_errno(errno);
        sl_log_warn(ctx->ins,
                    "inotify unavailable (%s): polling every "
                    "%" PRId64 " ms",
                    sl_strerror(rc), ctx->conf->poll_interval_ms);
        return;
    }
    ctx->iev = event_new(sl_instance_base(ctx->ins), ctx->ifd,
                         EV_READ | EV_PERSIST, tail_on_inotify, ctx);
    if (ctx->iev == NULL) {
        close(ctx->ifd);
        ctx->ifd = -1;
    }
}

static int tail_events_create(struct in_tail_ctx *ctx)
{
    struct event_base *base = sl_instance_base(ctx->ins);

    ctx->scan = event_new(base, -1, EV_PERSIST, tail_on_scan, ctx);
    ctx->scan_soon = evtimer_new(base, tail_on_scan, ctx);
    ctx->poll = event_new(base, -1, EV_PERSIST, tail_on_poll, ctx);
    ctx->kick = evtimer_new(base, tail_on_kick, ctx);
    ctx->dir_wds = sl_calloc(ctx->conf->path.n, sizeof(*ctx->dir_wds));
    if (ctx->scan == NULL || ctx->scan_soon == NULL || ctx->poll == NULL ||
        ctx->kick == NULL || ctx->dir_wds == NULL) {
        return SL_ENOMEM;
    }
    tail_inotify_open(ctx);
    return SL_OK;
}

/* Watches the directory of each glob whose directory part has no
 * wildcard, so that new files are found at once; other globs rely on the
 * refresh_interval scan. */
static void tail_dirs_watch(struct in_tail_ctx *ctx)
{
    const struct sl_strlist *pats = &ctx->conf->path;
    const char *slash;
    char dir[4096];
    size_t i;
    size_t n;

    for (i = 0; i < pats->n; i++) {
        ctx->dir_wds[i] = -1;
        slash = strrchr(pats->v[i], '/');
        n = slash == NULL ? 1 : (size_t)(slash - pats->v[i]);
        if (ctx->ifd < 0 || n >= sizeof(dir)) {
            continue;
        }
        memcpy(dir, slash == NULL ? "." : pats->v[i], n);
        dir[n == 0 ? 1 : n] = '\0';
        if (n == 0) {
            dir[0] = '/';
        }
        if (strpbrk(dir, "*?[") != NULL) {
            continue;
        }
        ctx->dir_wds[i] =
            inotify_add_watch(ctx->ifd, dir, TAIL_DIR_MASK | IN_ONLYDIR);
        if (ctx->dir_wds[i] < 0) {
            sl_log_debug(ctx->ins, "cannot watch directory %s: %s", dir,
                         sl_strerror(sl_rc_from_errno(errno)));
        }
    }
}

static int in_tail_init(struct sl_instance *ins, void *conf, struct sl_err *err)
{
    struct in_tail_conf *cf = conf;
    struct in_tail_ctx *ctx;

    if (cf->path.n == 0) {
        return sl_err_set(err, SL_ECONFIG, "path: give at least one glob");
    }
    ctx = sl_calloc(1, sizeof(*ctx));
    if (ctx == NULL) {
        return sl_err_set(err, SL_ENOMEM, "out of memory");
    }
    ctx->ins = ins;
    ctx->conf = cf;
    ctx->ifd = -1;
    ctx->chunk = (size_t)cf->buffer_chunk_size;
    ctx->max_line = (size_t)cf->buffer_max_size;
    /* Big enough to find the end of a max_line line in one read. */
    ctx->rcap = ctx->chunk > ctx->max_line ? ctx->chunk : ctx->max_line + 1;
    ctx->rbuf = sl_malloc(ctx->rcap);
    if (ctx->rbuf == NULL || tail_events_create(ctx) != SL_OK) {
        tail_ctx_free(ctx);
        return sl_err_set(err, SL_ENOMEM, "out of memory");
    }
    ctx->m_opened =
        sl_metric_counter(ins, "sluice_tail_files_opened_total",
                          "Files opened for following.", NULL, NULL);
    ctx->m_truncations = sl_metric_counter(
        ins, "sluice_tail_truncations_total",
        "Followed files found truncated and read again from the start.", NULL,
        NULL);
    ctx->m_long_lines = sl_metric_counter(
        ins, "sluice_input_long_lines_total",
        "Lines longer than the line limit, ingested in pieces.", NULL, NULL);
    sl_instance_set_ctx(ins, ctx);
    return SL_OK;
}

static struct timeval tail_tv_ms(int64_t ms)
{
    struct timeval tv = { .tv_sec = (time_t)(ms / 1000),
                          .tv_usec = (suseconds_t)(ms % 1000) * 1000 };

    return tv;
}

static int in_tail_start(struct sl_instance *ins, struct sl_err *err)
{
    struct in_tail_ctx *ctx = sl_instance_ctx(ins);
    struct timeval scan_tv = tail_tv_ms(ctx->conf->refresh_interval_ms);
    struct timeval poll_tv = tail_tv_ms(ctx->conf->poll_interval_ms);

    if (event_add(ctx->scan, &scan_tv) != 0 ||
        event_add(ctx->poll, &poll_tv) != 0 ||
        (ctx->ifd >= 0 && event_add(ctx->iev, NULL) != 0)) {
        return sl_err_set(err, SL_EIO, "cannot register the tail events");
    }
    ctx->running = true;
    tail_dirs_watch(ctx);
    tail_scan(ctx, true);
    if (ctx->nfiles == 0) {
        sl_log_info(ins,
                    "no file matches yet; looking again every "
                    "%" PRId64 " ms",
                    ctx->conf->refresh_interval_ms);
    }
    tail_kick(ctx);
    return SL_OK;
}

static void in_tail_pause(struct sl_instance *ins)
{
    struct in_tail_ctx *ctx = sl_instance_ctx(ins);

    /* Offsets stay where they are: resume reads from the same bytes.
     * inotify and the timers keep marking files; only reading stops. */
    ctx->paused = true;
    event_del(ctx->kick);
}

static void in_tail_resume(struct sl_instance *ins)
{
    struct in_tail_ctx *ctx = sl_instance_ctx(ins);

    if (!ctx->paused) {
        return;
    }
    ctx->paused = false;
    tail_mark_all(ctx);
    tail_kick(ctx);
}

static void in_tail_stop(struct sl_instance *ins)
{
    struct in_tail_ctx *ctx = sl_instance_ctx(ins);

    ctx->running = false;
    event_del(ctx->scan);
    event_del(ctx->scan_soon);
    event_del(ctx->poll);
    event_del(ctx->kick);
    if (ctx->iev != NULL) {
        event_del(ctx->iev);
    }
}

static void in_tail_exit(struct sl_instance *ins)
{
    struct in_tail_ctx *ctx = sl_instance_ctx(ins);

    if (ctx == NULL) {
        return;
    }
    tail_ctx_free(ctx);
    sl_instance_set_ctx(ins, NULL);
}

const struct sl_plugin sl_plugin_in_tail = {
    .abi = SL_PLUGIN_ABI,
    .kind = SL_PLUGIN_INPUT,
    .name = "tail",
    .description = "Follow files matching globs, like tail -F.",
    .options = in_tail_options,
    .conf_size = sizeof(struct in_tail_conf),
    .init = in_tail_init,
    .start = in_tail_start,
    .pause = in_tail_pause,
    .resume = in_tail_resume,
    .stop = in_tail_stop,
    .exit = in_tail_exit,
};
