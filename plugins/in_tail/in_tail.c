/*
 * in_tail.c - the "tail" input: follows files matching globs.
 *
 * Files.  Every refresh_interval the globs in "path" are expanded (and at
 * once when inotify reports a file created or moved into the directory of
 * a glob, or a followed file renamed or deleted); a regular file not excluded
 * by "exclude_path", not older than "ignore_older" and not followed yet is
 * opened.  Identity is device + inode + a fingerprint (FNV-1a 64) of the
 * first fingerprint_bytes; a file shorter than that is fingerprinted as it
 * is and the fingerprint grows with it, so a file replaced in place or a
 * reused inode is not taken for the old one.  Where reading starts: the
 * offset database when it knows the file (same inode and fingerprint);
 * else 0 for a file that appeared since the database was written or after
 * the first scan; else the end, unless read_from_head is on.
 *
 * Reading.  An inotify watch per file marks it pending (files that cannot
 * get a watch, e.g. ENOSPC, are polled every poll_interval and counted);
 * every refresh_interval all files are checked as a safety net.  A
 * zero-timeout "kick" timer reads pending files with pread() at their
 * offset in blocks of buffer_chunk_size, splits lines with memchr in place,
 * within TAIL_SLICE_BYTES per run (round robin), and re-arms itself while
 * data remains.  A line longer than max_line_size is split in pieces, or
 * truncated, each flagged {"log": piece, "truncated": true} and counted, or
 * with skip_long_lines dropped and counted.  With multiline.parser, lines go
 * through the shared multiline engine (sluice/multiline.h) and joined
 * records through the parser.  path_key / offset_key are spliced into the
 * parsed object's bytes after its '{', with no re-encoding.
 *
 * Rotation.  At end of file: a shorter file, or one whose fingerprint
 * changed, was truncated or replaced: read again from 0 (counted).  A
 * deleted file is read to its end and forgotten.  A file whose path now
 * names another inode was renamed: it is read for rotate_wait more, then
 * closed; the new file at the path is read from its head.  A closed or
 * truncated file is remembered (inode, fingerprint, offset) so that a glob
 * also matching its new name, or its copy (copytruncate), resumes it.
 *
 * Offsets and delivery.  Per file: <offset> (next byte to read), <safe>
 * (every byte before it was appended: a multiline record still pending
 * holds it back) and <saved> (every record before it is safe: committed
 * to filesystem storage, or with memory storage delivered, learnt through
 * the delivered callback and a small queue of (mark, offset) per file).
 * Only <saved> goes to the database: a crash re-reads at most what was in
 * flight.  The database is a text file rewritten atomically (temporary
 * file, fsync, rename, fsync of the directory) at most every
 * db.sync_interval and at stop.
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
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/event.h>

#include "sluice/multiline.h"
#include "sluice/plugin.h"
#include "sluice/banned.h"

#define TAIL_SLICE_BYTES      (4u * 1024 * 1024)
#define TAIL_FILE_SLICE_BYTES (1024u * 1024)
#define TAIL_PAUSE_RECHECK_MS 100
#define TAIL_SEEN_MAX         256
#define TAIL_QUEUE            16
#define TAIL_FP_MIN_COPY      64
#define TAIL_DB_LINE_MAX      8192
#define TAIL_INOTIFY_MASK                                                      \
    (IN_MODIFY | IN_CLOSE_WRITE | IN_MOVE_SELF | IN_DELETE_SELF | IN_ATTRIB)
#define TAIL_DIR_MASK  (IN_CREATE | IN_MOVED_TO)
#define TAIL_FNV_BASIS UINT64_C(0xcbf29ce484222325)
#define TAIL_FNV_PRIME UINT64_C(0x100000001b3)

enum tail_long_mode {
    TAIL_LONG_SPLIT,
    TAIL_LONG_TRUNCATE,
};

struct in_tail_conf {
    struct sl_strlist path;
    struct sl_strlist exclude_path;
    bool read_from_head;
    int64_t refresh_interval_ms;
    int64_t poll_interval_ms;
    bool inotify;
    uint64_t buffer_chunk_size;
    uint64_t buffer_max_size;
    uint64_t max_line_size;
    int long_line_mode;
    bool skip_long_lines;
    int64_t rotate_wait_ms;
    int64_t ignore_older_ms;
    uint64_t fingerprint_bytes;
    char *db;
    int64_t db_sync_interval_ms;
    char *path_key;
    char *offset_key;
    char *multiline_parser;
};

/* (mark, offset): once records up to mark are delivered, offset is safe. */
struct tail_qent {
    uint64_t mark;
    off_t off;
};

struct in_tail_ctx;

struct tail_file {
    struct in_tail_ctx *ctx;
    char *path;
    char *tag;
    size_t tag_len;
    char *kv; /* "<path_key>":"<path>" for the splice, or NULL */
    size_t kv_len;
    int fd;
    int wd; /* inotify watch, -1 when none */
    dev_t dev;
    ino_t ino;
    off_t offset; /* next byte to read */
    off_t safe;   /* every byte before it was appended */
    off_t saved;  /* every record before it is safe (the db value) */
    off_t await;  /* a copy being written: not truncated below this */
    uint64_t fp;  /* fingerprint of the first fp_len bytes */
    size_t fp_len;
    uint64_t head; /* hash of the first TAIL_FP_MIN_COPY bytes */
    bool has_head;
    struct timespec fp_mtime; /* mtime when the fingerprint was checked */
    struct tail_qent q[TAIL_QUEUE];
    size_t qhead;
    size_t qn;
    struct sl_multiline *ml;
    off_t ml_start;    /* offset of the pending record's first line */
    off_t ml_emit_off; /* offset reported for the next emitted record */
    bool ml_emitted;
    int64_t gone_ns;  /* monotonic time the path stopped naming it, or 0 */
    int64_t await_ns; /* when the copy wait started */
    dev_t twin_dev;   /* parked: the followed file it is a copy of */
    ino_t twin_ino;
    int64_t parked_ns; /* when it was parked, or 0 */
    bool pending;      /* may have unread bytes */
    bool check;        /* look for truncation, deletion, rename at EOF */
    bool want_big;     /* the last block held no line end: read a bigger one */
    bool in_long;      /* inside a line longer than max_line_size */
    bool discard;      /* dropping the rest of a long line */
    bool touched;      /* in ctx->touched */
    bool parked;       /* a copy of a followed file: not read until that
                          file is truncated (copytruncate) or rotate_wait */
    bool dead;         /* closed, to be removed from the list */
};

/* A file we stopped following (renamed and closed, or truncated), to
 * resume its inode or a copy of it rather than read it again. */
struct tail_seen {
    dev_t dev;
    ino_t ino;
    off_t offset;
    uint64_t fp;
    size_t fp_len;
    uint64_t head;
    bool has_head;
};

/* An entry of the offset database read at start. */
struct tail_dbent {
    dev_t dev;
    ino_t ino;
    off_t offset;
    uint64_t fp;
    size_t fp_len;
};

struct in_tail_ctx {
    struct sl_instance *ins;
    const struct in_tail_conf *conf;
    struct sl_instance *parser;
    struct tail_file **files;
    size_t nfiles;
    size_t files_cap;
    struct tail_file **byino; /* open-addressing table, dev+inode */
    size_t byino_cap;
    struct tail_file **bywd; /* indexed by inotify watch */
    size_t bywd_cap;
    struct tail_file **touched; /* files whose <safe> moved */
    size_t ntouched;
    size_t touched_cap;
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
    struct event *poll;      /* poll_interval: files without a watch */
    struct event *kick;      /* zero timeout: read pending files */
    struct event *ml_timer;  /* multiline flush_timeout */
    struct event *db_timer;  /* db.sync_interval */
    unsigned polls;          /* poll ticks, for the periodic full check */
    unsigned polls_per_check;
    struct sl_multiline_def *ml_def;
    struct sl_buf pbuf; /* parser scratch */
    struct sl_buf lbuf; /* {"log": ...} bodies */
    struct sl_buf obuf; /* spliced bodies */
    char *db_path;
    struct tail_dbent *dbents; /* sorted by dev, inode; freed after scan */
    size_t ndbents;
    bool db_loaded;
    bool db_dirty;
    bool db_warned;
    bool durable;
    bool keys;
    bool enospc_warned;
    struct sl_metric *m_opened;
    struct sl_metric *m_truncations;
    struct sl_metric *m_long_lines;
    struct sl_metric *m_rotations;
    struct sl_metric *m_fp_mismatch;
    struct sl_metric *m_inotify_fallback;
    struct sl_metric *m_ml_records;
    struct sl_metric *m_ml_bounded;
    struct sl_metric *m_db_writes;
    struct sl_metric *m_bytes;
    struct sl_metric *m_parse_fail;
    struct tail_seen seen[TAIL_SEEN_MAX];
    size_t seen_next;
    bool running;
    bool paused;
};

static const char *const tail_long_modes[] = { "split", "truncate", NULL };

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
      .desc = "Read files present at the first start from their beginning. "
              "When off they are read from their end; files that appear "
              "later, or since the offset database was written, are always "
              "read from their beginning, and files the database knows "
              "resume where they stopped." },
    { .name = "refresh_interval",
      .type = SL_OPT_TIME,
      .def = "1s",
      .min = 10,
      .max = INT64_C(86400000),
      SL_OPT_FIELD(struct in_tail_conf, refresh_interval_ms),
      .desc = "How often the globs are expanded again to find new files, "
              "and every followed file is checked as a safety net." },
    { .name = "poll_interval",
      .type = SL_OPT_TIME,
      .def = "250ms",
      .min = 10,
      .max = INT64_C(3600000),
      SL_OPT_FIELD(struct in_tail_conf, poll_interval_ms),
      .desc = "How often files without an inotify watch are checked for "
              "new data." },
    { .name = "inotify",
      .type = SL_OPT_BOOL,
      .def = "on",
      SL_OPT_FIELD(struct in_tail_conf, inotify),
      .desc = "Use inotify to learn about appends at once. When off, or "
              "when inotify is not available or out of watches (ENOSPC, "
              "counted in sluice_tail_inotify_fallback_total), files are "
              "polled." },
    { .name = "buffer_chunk_size",
      .type = SL_OPT_SIZE,
      .def = "256K",
      .min = 4096,
      .max = INT64_C(64) << 20,
      SL_OPT_FIELD(struct in_tail_conf, buffer_chunk_size),
      .desc = "Size of each read from a file." },
    { .name = "buffer_max_size",
      .type = SL_OPT_SIZE,
      .def = "2M",
      .min = 4096,
      .max = INT64_C(256) << 20,
      SL_OPT_FIELD(struct in_tail_conf, buffer_max_size),
      .desc = "Largest read buffer, used to find the end of a long line. "
              "max_line_size is capped below it." },
    { .name = "max_line_size",
      .type = SL_OPT_SIZE,
      .def = "1M",
      .min = 1024,
      .max = INT64_C(256) << 20,
      SL_OPT_FIELD(struct in_tail_conf, max_line_size),
      .desc = "Longest line kept whole. A longer line is split or truncated "
              "(long_line_mode), or dropped with skip_long_lines, and "
              "counted in sluice_input_long_lines_total." },
    { .name = "long_line_mode",
      .type = SL_OPT_ENUM,
      .def = "split",
      .choices = tail_long_modes,
      SL_OPT_FIELD(struct in_tail_conf, long_line_mode),
      .desc = "split: a long line becomes records of max_line_size bytes; "
              "truncate: only its first max_line_size bytes are kept. Each "
              "is {\"log\": piece, \"truncated\": true}, not parsed." },
    { .name = "skip_long_lines",
      .type = SL_OPT_BOOL,
      .def = "off",
      SL_OPT_FIELD(struct in_tail_conf, skip_long_lines),
      .desc = "Drop lines longer than max_line_size, counted in "
              "sluice_input_dropped_records_total{reason=\"long_line\"}." },
    { .name = "rotate_wait",
      .type = SL_OPT_TIME,
      .def = "5s",
      .min = 0,
      .max = INT64_C(3600000),
      SL_OPT_FIELD(struct in_tail_conf, rotate_wait_ms),
      .desc = "How long a renamed file is still read after its path names "
              "a new file, so that what the writer appends late is kept." },
    { .name = "ignore_older",
      .type = SL_OPT_TIME,
      .def = "0",
      SL_OPT_FIELD(struct in_tail_conf, ignore_older_ms),
      .desc = "Skip files not modified for this long when they are found; "
              "0 follows every file." },
    { .name = "fingerprint_bytes",
      .type = SL_OPT_SIZE,
      .def = "1K",
      .min = 16,
      .max = INT64_C(1) << 20,
      SL_OPT_FIELD(struct in_tail_conf, fingerprint_bytes),
      .desc = "How many first bytes identify a file together with its "
              "device and inode, so that a reused inode or a file replaced "
              "in place is read from 0." },
    { .name = "db",
      .type = SL_OPT_STR,
      SL_OPT_FIELD(struct in_tail_conf, db),
      .desc = "Offset database, so that a restart resumes exactly where "
              "reading stopped. Default: <storage.path>/tail-<name>.db; "
              "\"off\" keeps no offsets." },
    { .name = "db.sync_interval",
      .type = SL_OPT_TIME,
      .def = "250ms",
      .min = 10,
      .max = INT64_C(3600000),
      SL_OPT_FIELD(struct in_tail_conf, db_sync_interval_ms),
      .desc = "Longest time between two writes of the offset database "
              "(it is written only when an offset moved, and at stop)." },
    { .name = "path_key",
      .type = SL_OPT_STR,
      SL_OPT_FIELD(struct in_tail_conf, path_key),
      .desc = "Add the source file's path to each record under this key." },
    { .name = "offset_key",
      .type = SL_OPT_STR,
      SL_OPT_FIELD(struct in_tail_conf, offset_key),
      .desc = "Add the byte offset of the record's first line in its file "
              "under this key." },
    { .name = "multiline.parser",
      .type = SL_OPT_STR,
      SL_OPT_FIELD(struct in_tail_conf, multiline_parser),
      .desc = "Join the lines of one event (stack traces) into one record: "
              "a name from multiline_parsers, or java, python, go, docker. "
              "Joined lines (separated by \\n) go to the parser as one." },
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

/* ---- tables: files by dev+inode and by inotify watch ---- */

static size_t tail_ino_hash(dev_t dev, ino_t ino, size_t cap)
{
    uint64_t h = (uint64_t)ino * UINT64_C(0x9e3779b97f4a7c15);

    h ^= (uint64_t)dev + (h >> 29);
    return (size_t)(h & (cap - 1));
}

static struct tail_file *tail_by_ino(const struct in_tail_ctx *ctx, dev_t dev,
                                     ino_t ino)
{
    size_t i;

    if (ctx->byino_cap == 0) {
        return NULL;
    }
    for (i = tail_ino_hash(dev, ino, ctx->byino_cap); ctx->byino[i] != NULL;
         i = (i + 1) & (ctx->byino_cap - 1)) {
        if (ctx->byino[i]->ino == ino && ctx->byino[i]->dev == dev) {
            return ctx->byino[i];
        }
    }
    return NULL;
}

static void tail_ino_put(struct in_tail_ctx *ctx, struct tail_file *f)
{
    size_t i = tail_ino_hash(f->dev, f->ino, ctx->byino_cap);

    while (ctx->byino[i] != NULL) {
        i = (i + 1) & (ctx->byino_cap - 1);
    }
    ctx->byino[i] = f;
}

/* Rebuilds the inode table for the live files (after a sweep or to grow:
 * kept under half full). */
static int tail_ino_rebuild(struct in_tail_ctx *ctx, size_t want)
{
    size_t cap = 64;
    size_t i;

    while (cap < 2 * want + 2) {
        cap *= 2;
    }
    if (cap != ctx->byino_cap) {
        struct tail_file **t = sl_calloc(cap, sizeof(*t));

        if (t == NULL) {
            return SL_ENOMEM;
        }
        sl_free(ctx->byino);
        ctx->byino = t;
        ctx->byino_cap = cap;
    } else {
        memset(ctx->byino, 0, cap * sizeof(*ctx->byino));
    }
    for (i = 0; i < ctx->nfiles; i++) {
        if (!ctx->files[i]->dead) {
            tail_ino_put(ctx, ctx->files[i]);
        }
    }
    return SL_OK;
}

static void tail_wd_set(struct in_tail_ctx *ctx, int wd, struct tail_file *f)
{
    struct tail_file **v;
    size_t ncap;

    if (wd < 0) {
        return;
    }
    if ((size_t)wd >= ctx->bywd_cap) {
        ncap = ctx->bywd_cap == 0 ? 64 : ctx->bywd_cap;
        while (ncap <= (size_t)wd) {
            ncap *= 2;
        }
        v = sl_realloc(ctx->bywd, ncap * sizeof(*v));
        if (v == NULL) {
            return; /* events for this watch are ignored: polled */
        }
        memset(v + ctx->bywd_cap, 0, (ncap - ctx->bywd_cap) * sizeof(*v));
        ctx->bywd = v;
        ctx->bywd_cap = ncap;
    }
    ctx->bywd[wd] = f;
}

static struct tail_file *tail_file_by_wd(const struct in_tail_ctx *ctx, int wd)
{
    struct tail_file *f;

    if (wd < 0 || (size_t)wd >= ctx->bywd_cap) {
        return NULL;
    }
    f = ctx->bywd[wd];
    return f != NULL && !f->dead && f->wd == wd ? f : NULL;
}

/* ---- tags ---- */

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

/* Builds the tag of <f>: each '*' of the configured tag is replaced by the
 * path with '/' turned into '.' and the leading '.' dropped ("app.*" +
 * "/var/log/a.log" = "app.var.log.a.log"). */
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

/* "<path_key>":"<path>" for the splice. */
static int tail_kv_make(struct in_tail_ctx *ctx, struct tail_file *f)
{
    struct sl_buf b;
    int rc;

    if (ctx->conf->path_key == NULL) {
        return SL_OK;
    }
    sl_buf_init(&b, 0);
    rc = sl_json_write_string(&b, ctx->conf->path_key,
                              strlen(ctx->conf->path_key));
    if (rc == SL_OK) {
        rc = sl_buf_putc(&b, ':');
    }
    if (rc == SL_OK) {
        rc = sl_json_write_string(&b, f->path, strlen(f->path));
    }
    f->kv_len = b.len;
    f->kv = rc == SL_OK ? sl_buf_take(&b) : NULL;
    sl_buf_fini(&b);
    return f->kv != NULL ? SL_OK : SL_ENOMEM;
}

/* ---- records ---- */

/* <body> (a compact object) with the path and offset members first. */
static int tail_splice(struct in_tail_ctx *ctx, const struct tail_file *f,
                       struct sl_str body, off_t off)
{
    struct sl_buf *out = &ctx->obuf;
    const char *ok = ctx->conf->offset_key;
    int rc;

    sl_buf_reset(out);
    rc = sl_buf_putc(out, '{');
    if (rc == SL_OK && f->kv != NULL) {
        rc = sl_buf_append(out, f->kv, f->kv_len);
    }
    if (rc == SL_OK && ok != NULL) {
        if (f->kv != NULL) {
            rc = sl_buf_putc(out, ',');
        }
        if (rc == SL_OK) {
            rc = sl_json_write_string(out, ok, strlen(ok));
        }
        if (rc == SL_OK) {
            rc = sl_buf_printf(out, ":%jd", (intmax_t)off);
        }
    }
    if (rc == SL_OK && body.len > 2) {
        rc = sl_buf_putc(out, ',');
        if (rc == SL_OK) {
            rc = sl_buf_append(out, body.ptr + 1, body.len - 1);
        }
    } else if (rc == SL_OK) {
        rc = sl_buf_putc(out, '}');
    }
    return rc;
}

static int tail_log_body(struct in_tail_ctx *ctx, const char *p, size_t n,
                         bool flag)
{
    struct sl_buf *b = &ctx->lbuf;

    sl_buf_reset(b);
    if (sl_buf_append(b, "{\"log\":", 7) != SL_OK ||
        sl_json_write_string(b, p, n) != SL_OK ||
        (flag && sl_buf_append_str(b, ",\"truncated\":true") != SL_OK) ||
        sl_buf_putc(b, '}') != SL_OK) {
        return SL_ENOMEM;
    }
    return SL_OK;
}

/* Parses, splices the keys in and appends (path_key / offset_key set). */
static int tail_record_keys(struct in_tail_ctx *ctx, struct tail_file *f,
                            const char *p, size_t n, off_t off, bool json)
{
    struct sl_parse_result res = { .scratch = &ctx->pbuf };
    struct sl_str body;
    int rc = SL_EPARSE;

    sl_metric_add(ctx->m_bytes, n);
    if (ctx->parser != NULL) {
        rc = sl_parser_parse(ctx->parser, p, n, &res);
    }
    if (rc == SL_ENOMEM) {
        return rc;
    }
    if (rc == SL_OK && res.body.ptr != NULL) {
        body = res.body;
    } else if (json && ctx->parser == NULL) {
        body = sl_str_make(p, n); /* a docker object the engine built */
    } else {
        if (ctx->parser != NULL) {
            sl_metric_add(ctx->m_parse_fail, 1);
        }
        if (tail_log_body(ctx, p, n, false) != SL_OK) {
            return SL_ENOMEM;
        }
        body = sl_buf_str(&ctx->lbuf);
    }
    if (tail_splice(ctx, f, body, off) != SL_OK) {
        return SL_ENOMEM;
    }
    return sl_input_append(ctx->ins, sl_str_make(f->tag, f->tag_len),
                           rc == SL_OK ? res.ts_ns : 0, sl_buf_str(&ctx->obuf));
}

/* One record from a line or a joined multiline record. */
static void tail_record(struct in_tail_ctx *ctx, struct tail_file *f,
                        const char *p, size_t n, off_t off, bool json)
{
    struct sl_str tag = sl_str_make(f->tag, f->tag_len);
    int rc;

    if (n == 0) {
        return;
    }
    if (ctx->keys) {
        rc = tail_record_keys(ctx, f, p, n, off, json);
    } else if (json && ctx->parser == NULL) {
        rc = sl_input_ingest_json(ctx->ins, tag, p, n);
    } else {
        rc = sl_input_ingest(ctx->ins, tag, p, n);
    }
    if (rc != SL_OK) {
        sl_log_warn(ctx->ins, "cannot ingest a line of %s: %s", f->path,
                    sl_strerror(rc));
    }
}

/* A piece of a long line: not parsed, flagged. */
static void tail_record_piece(struct in_tail_ctx *ctx, struct tail_file *f,
                              const char *p, size_t n, off_t off)
{
    struct sl_str body;
    int rc = tail_log_body(ctx, p, n, true);

    sl_metric_add(ctx->m_bytes, n);
    body = sl_buf_str(&ctx->lbuf);
    if (rc == SL_OK && ctx->keys) {
        rc = tail_splice(ctx, f, body, off);
        body = sl_buf_str(&ctx->obuf);
    }
    if (rc == SL_OK) {
        rc =
            sl_input_append(ctx->ins, sl_str_make(f->tag, f->tag_len), 0, body);
    }
    if (rc != SL_OK) {
        sl_log_warn(ctx->ins, "cannot ingest a long line of %s: %s", f->path,
                    sl_strerror(rc));
    }
}

/* ---- offsets: safe, committed, delivered ---- */

static void tail_touch(struct in_tail_ctx *ctx, struct tail_file *f)
{
    struct tail_file **v;
    size_t ncap;

    if (f->touched) {
        return;
    }
    if (ctx->ntouched == ctx->touched_cap) {
        ncap = ctx->touched_cap == 0 ? 64 : ctx->touched_cap * 2;
        v = sl_realloc(ctx->touched, ncap * sizeof(*v));
        if (v == NULL) {
            return; /* its offset is saved later, with the next touch */
        }
        ctx->touched = v;
        ctx->touched_cap = ncap;
    }
    ctx->touched[ctx->ntouched++] = f;
    f->touched = true;
}

/* Every byte before <next> was read; what is held by a pending multiline
 * record is not appended yet. */
static void tail_advance(struct in_tail_ctx *ctx, struct tail_file *f,
                         off_t next)
{
    off_t safe =
        f->ml != NULL && sl_multiline_pending(f->ml) ? f->ml_start : next;

    if (safe != f->safe) {
        f->safe = safe;
        tail_touch(ctx, f);
    }
}

static void tail_queue_push(struct tail_file *f, uint64_t mark)
{
    struct tail_qent *e;

    if (f->qn > 0) {
        e = &f->q[(f->qhead + f->qn - 1) % TAIL_QUEUE];
        if (e->off == f->safe) {
            return;
        }
        if (f->qn == TAIL_QUEUE) {
            /* Full: the newest entry waits for the newer mark. */
            e->mark = mark;
            e->off = f->safe;
            return;
        }
    }
    e = &f->q[(f->qhead + f->qn) % TAIL_QUEUE];
    e->mark = mark;
    e->off = f->safe;
    f->qn++;
}

static void tail_set_saved(struct in_tail_ctx *ctx, struct tail_file *f,
                           off_t off)
{
    if (f->saved != off) {
        f->saved = off;
        ctx->db_dirty = true;
    }
}

/* After appending: with filesystem storage commit and save the offsets;
 * with memory storage queue them until their records are delivered. */
static void tail_settle(struct in_tail_ctx *ctx)
{
    bool failed;
    uint64_t mark;
    size_t i;

    if (ctx->ntouched == 0) {
        return;
    }
    /* A failed commit saves nothing: the offsets stay behind (the next
     * advance saves them), at worst records are read twice. */
    failed = ctx->durable && sl_input_commit(ctx->ins) != SL_OK;
    mark = sl_input_mark(ctx->ins);
    for (i = 0; i < ctx->ntouched; i++) {
        struct tail_file *f = ctx->touched[i];

        f->touched = false;
        if (failed) {
            continue;
        }
        if (ctx->durable || mark == sl_input_delivered(ctx->ins)) {
            tail_set_saved(ctx, f, f->safe);
        } else {
            tail_queue_push(f, mark);
        }
    }
    ctx->ntouched = 0;
}

static void tail_queue_reset(struct in_tail_ctx *ctx, struct tail_file *f)
{
    f->qn = 0;
    f->qhead = 0;
    f->safe = 0;
    tail_set_saved(ctx, f, 0);
}

static void in_tail_delivered(struct sl_instance *ins, uint64_t mark)
{
    struct in_tail_ctx *ctx = sl_instance_ctx(ins);
    size_t i;

    if (ctx == NULL) {
        return;
    }
    for (i = 0; i < ctx->nfiles; i++) {
        struct tail_file *f = ctx->files[i];

        while (f->qn > 0 && f->q[f->qhead].mark <= mark) {
            tail_set_saved(ctx, f, f->q[f->qhead].off);
            f->qhead = (f->qhead + 1) % TAIL_QUEUE;
            f->qn--;
        }
    }
}

/* ---- fingerprints ---- */

static uint64_t tail_fnv(uint64_t h, const char *p, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        h ^= (unsigned char)p[i];
        h *= TAIL_FNV_PRIME;
    }
    return h;
}

/* Hashes the first <len> bytes of <fd>: *<prefix> gets the hash of the
 * first <plen> of them.  Returns false when the file is shorter. */
static bool tail_fp_read(int fd, size_t len, size_t plen, uint64_t *prefix,
                         uint64_t *full)
{
    char buf[4096];
    size_t done = 0;
    uint64_t h = TAIL_FNV_BASIS;
    ssize_t n;

    *prefix = h;
    while (done < len) {
        size_t want = len - done < sizeof(buf) ? len - done : sizeof(buf);

        n = pread(fd, buf, want, (off_t)done);
        if (n <= 0) {
            return false;
        }
        if (done < plen) {
            size_t k = plen - done < (size_t)n ? plen - done : (size_t)n;

            *prefix = tail_fnv(h, buf, k);
            h = tail_fnv(*prefix, buf + k, (size_t)n - k);
        } else {
            h = tail_fnv(h, buf, (size_t)n);
        }
        done += (size_t)n;
    }
    if (plen == 0 || plen > len) {
        *prefix = plen == 0 ? TAIL_FNV_BASIS : h;
    }
    *full = h;
    return true;
}

/* Hash of the first TAIL_FP_MIN_COPY bytes; false when shorter. */
static bool tail_head(int fd, const struct stat *st, uint64_t *head)
{
    uint64_t prefix;

    if ((size_t)st->st_size < TAIL_FP_MIN_COPY) {
        return false;
    }
    return tail_fp_read(fd, TAIL_FP_MIN_COPY, TAIL_FP_MIN_COPY, &prefix, head);
}

/* Checks that the file still starts with the fingerprinted bytes, and
 * extends the fingerprint while the file is shorter than
 * fingerprint_bytes.  Returns false when the start changed. */
static bool tail_fp_check(struct in_tail_ctx *ctx, struct tail_file *f,
                          const struct stat *st)
{
    size_t fpb = (size_t)ctx->conf->fingerprint_bytes;
    size_t len = (size_t)st->st_size < fpb ? (size_t)st->st_size : fpb;
    uint64_t prefix;
    uint64_t full;

    f->fp_mtime = st->st_mtim;
    if (len < f->fp_len) {
        return false;
    }
    if (len == f->fp_len && f->fp_len == fpb) {
        /* Complete: re-read only the bytes that identify it. */
        return !tail_fp_read(f->fd, len, len, &prefix, &full) || full == f->fp;
    }
    if (!tail_fp_read(f->fd, len, f->fp_len, &prefix, &full)) {
        return true; /* an I/O error is not a replacement */
    }
    if (f->fp_len > 0 && prefix != f->fp) {
        return false;
    }
    f->fp = full;
    f->fp_len = len;
    if (!f->has_head) {
        f->has_head = tail_head(f->fd, st, &f->head);
    }
    return true;
}

/* ---- multiline ---- */

static int tail_ml_emit(void *arg, const struct sl_multiline_out *rec)
{
    struct tail_file *f = arg;
    struct in_tail_ctx *ctx = f->ctx;

    f->ml_emitted = true;
    if (rec->lines > 1) {
        sl_metric_add(ctx->m_ml_records, 1);
    }
    if (rec->bounded) {
        sl_metric_add(ctx->m_ml_bounded, 1);
    }
    tail_record(ctx, f, rec->p, rec->n, f->ml_emit_off, rec->json);
    /* Records emitted after the first of a feed are the current line's. */
    f->ml_emit_off = f->ml_start;
    return SL_OK;
}

/* Feeds one line starting at <off> to the file's multiline stream. */
static void tail_ml_line(struct in_tail_ctx *ctx, struct tail_file *f,
                         const char *p, size_t n, off_t off)
{
    bool was = sl_multiline_pending(f->ml);
    off_t start = f->ml_start;
    int rc;

    f->ml_emitted = false;
    f->ml_emit_off = was ? start : off;
    f->ml_start = off; /* what a record emitted after the first starts at */
    rc = sl_multiline_feed(f->ml, p, n, sl_time_mono_ns());
    if (rc == SL_ENOMEM) {
        sl_log_warn(ctx->ins, "out of memory joining lines of %s: kept alone",
                    f->path);
        tail_record(ctx, f, p, n, off, false);
    }
    if (was && !f->ml_emitted) {
        f->ml_start = start; /* continued: the record starts where it did */
    }
}

static void tail_ml_flush(struct in_tail_ctx *ctx, struct tail_file *f,
                          bool expire_only, int64_t now_ns)
{
    (void)ctx;
    if (f->ml == NULL || !sl_multiline_pending(f->ml)) {
        return;
    }
    f->ml_emit_off = f->ml_start;
    if (expire_only) {
        (void)sl_multiline_expire(f->ml, now_ns);
    } else {
        (void)sl_multiline_flush(f->ml);
    }
    if (!sl_multiline_pending(f->ml)) {
        tail_advance(ctx, f, f->offset);
    }
}

/* ---- line splitting ---- */

/* A complete line [<off>, <off> + <n>) whose newline ends at <next>. */
static void tail_emit_line(struct in_tail_ctx *ctx, struct tail_file *f,
                           const char *p, size_t n, off_t off, off_t next)
{
    if (f->discard || f->in_long) {
        /* The end of a long line: the last piece, or dropped. */
        if (!f->discard && n > 0) {
            tail_record_piece(ctx, f, p, n, off);
        }
        f->discard = false;
        f->in_long = false;
    } else {
        if (n > 0 && p[n - 1] == '\r') {
            n--;
        }
        if (f->ml != NULL) {
            tail_ml_line(ctx, f, p, n, off);
        } else if (n > 0) {
            tail_record(ctx, f, p, n, off, false);
        }
    }
    tail_advance(ctx, f, next);
}

/* The first bytes of a line longer than max_line_size. */
static void tail_emit_piece(struct in_tail_ctx *ctx, struct tail_file *f,
                            const char *p, size_t n, off_t off)
{
    const struct in_tail_conf *cf = ctx->conf;

    if (!f->in_long) {
        f->in_long = true;
        sl_metric_add(ctx->m_long_lines, 1);
        /* Keep the order: what is pending goes first. */
        tail_ml_flush(ctx, f, false, 0);
        if (cf->skip_long_lines) {
            sl_input_dropped(ctx->ins, "long_line", 1);
            f->discard = true;
        } else {
            tail_record_piece(ctx, f, p, n, off);
            f->discard = cf->long_line_mode == TAIL_LONG_TRUNCATE;
        }
    } else if (!f->discard) {
        tail_record_piece(ctx, f, p, n, off);
    }
    tail_advance(ctx, f, off + (off_t)n);
}

/* Ingests the lines in <p>[0..<n>), which starts at file offset <base>;
 * with <final> also an unterminated last line.  Returns the bytes
 * consumed; stops early when paused. */
static size_t tail_lines(struct in_tail_ctx *ctx, struct tail_file *f,
                         const char *p, size_t n, off_t base, bool final)
{
    const char *nl;
    size_t off = 0;
    size_t avail;
    size_t scan;
    size_t len;

    while (off < n && !tail_paused(ctx)) {
        avail = n - off;
        /* A line of exactly max_line bytes plus its LF is still whole. */
        scan =
            f->discard || avail < ctx->max_line + 1 ? avail : ctx->max_line + 1;
        nl = memchr(p + off, '\n', scan);
        if (nl != NULL) {
            len = (size_t)(nl - (p + off));
            tail_emit_line(ctx, f, p + off, len, base + (off_t)off,
                           base + (off_t)(off + len + 1));
            off += len + 1;
        } else if (f->discard) {
            tail_advance(ctx, f, base + (off_t)n);
            off = n;
        } else if (avail > ctx->max_line) {
            tail_emit_piece(ctx, f, p + off, ctx->max_line, base + (off_t)off);
            off += ctx->max_line;
        } else if (final) {
            tail_emit_line(ctx, f, p + off, avail, base + (off_t)off,
                           base + (off_t)n);
            off = n;
        } else {
            break;
        }
    }
    return off;
}

/* ---- reading one file ---- */

static void tail_file_truncated(struct in_tail_ctx *ctx, struct tail_file *f,
                                off_t size, const char *why);

/* True (and the file set to be read again from 0) when its first bytes no
 * longer match the fingerprint.  One fstat per block read; the start is
 * only read again when the modification time moved. */
static bool tail_file_rewritten(struct in_tail_ctx *ctx, struct tail_file *f)
{
    struct stat st;

    if (f->fp_len == 0 || fstat(f->fd, &st) != 0 ||
        (st.st_mtim.tv_sec == f->fp_mtime.tv_sec &&
         st.st_mtim.tv_nsec == f->fp_mtime.tv_nsec) ||
        tail_fp_check(ctx, f, &st)) {
        return false;
    }
    sl_metric_add(ctx->m_fp_mismatch, 1);
    tail_file_truncated(ctx, f, st.st_size, "rewritten");
    return true;
}

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
    /* A file rewritten in place (truncate + write) can grow past our
     * offset between two reads; what we just read is then the middle of
     * the new content.  When the file changed since its start was last
     * checked, check it now, after the read, before a byte is used. */
    if (n > 0 && tail_file_rewritten(ctx, f)) {
        *nread = 0;
        *eof = false;
        return SL_OK;
    }
    *nread = (size_t)n;
    *eof = (size_t)n < want;
    used = tail_lines(ctx, f, ctx->rbuf, (size_t)n, f->offset, final && *eof);
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

/* ---- remembered files (renamed, truncated) ---- */

static void tail_seen_add(struct in_tail_ctx *ctx, const struct tail_file *f,
                          off_t offset)
{
    struct tail_seen *s = &ctx->seen[ctx->seen_next % TAIL_SEEN_MAX];

    s->dev = f->dev;
    s->ino = f->ino;
    s->offset = offset;
    s->fp = f->fp;
    s->fp_len = f->fp_len;
    s->head = f->head;
    s->has_head = f->has_head;
    ctx->seen_next++;
}

/* Does the file open as <fd> start with the bytes fingerprinted as <fp>
 * over <fp_len>? */
static bool tail_fp_matches(int fd, const struct stat *st, uint64_t fp,
                            size_t fp_len)
{
    uint64_t prefix;
    uint64_t full;

    if (fp_len == 0 || (size_t)st->st_size < fp_len) {
        return false;
    }
    return tail_fp_read(fd, fp_len, fp_len, &prefix, &full) && full == fp;
}

/* The offset a file we followed before had reached: the same inode with the
 * same start, or a copy of it (same first TAIL_FP_MIN_COPY bytes:
 * copytruncate); -1 when none. */
static off_t tail_seen_take(struct in_tail_ctx *ctx, int fd,
                            const struct stat *st)
{
    uint64_t head = 0;
    bool has_head = tail_head(fd, st, &head);
    size_t i;
    off_t off;

    for (i = 0; i < TAIL_SEEN_MAX; i++) {
        struct tail_seen *s = &ctx->seen[i];
        bool same = s->ino == st->st_ino && s->dev == st->st_dev;

        if (s->offset <= 0 || (!same && !has_head) ||
            (!same && (!s->has_head || s->head != head))) {
            continue;
        }
        if (!same || tail_fp_matches(fd, st, s->fp, s->fp_len)) {
            off = s->offset;
            s->offset = 0;
            return off;
        }
    }
    return -1;
}

/* ---- the offset database ---- */

static int tail_dbent_cmp(const void *a, const void *b)
{
    const struct tail_dbent *x = a;
    const struct tail_dbent *y = b;

    if (x->dev != y->dev) {
        return x->dev < y->dev ? -1 : 1;
    }
    if (x->ino != y->ino) {
        return x->ino < y->ino ? -1 : 1;
    }
    return 0;
}

/* Reads one unsigned decimal (or hex with <base> 16) field. */
static bool tail_db_field(const char **p, int base, uint64_t *v)
{
    char *end;

    errno = 0;
    *v = strtoull(*p, &end, base);
    if (end == *p || errno != 0 || (*end != ' ' && *end != '\n')) {
        return false;
    }
    *p = end + (*end == ' ' ? 1 : 0);
    return true;
}

/* "<dev> <ino> <offset> <fp_len> <fp hex> <path>\n" */
static bool tail_db_parse_line(const char *p, struct tail_dbent *e)
{
    uint64_t v[5];

    if (!tail_db_field(&p, 10, &v[0]) || !tail_db_field(&p, 10, &v[1]) ||
        !tail_db_field(&p, 10, &v[2]) || !tail_db_field(&p, 10, &v[3]) ||
        !tail_db_field(&p, 16, &v[4]) || v[2] > INT64_MAX) {
        return false;
    }
    e->dev = (dev_t)v[0];
    e->ino = (ino_t)v[1];
    e->offset = (off_t)v[2];
    e->fp_len = (size_t)v[3];
    e->fp = v[4];
    return true;
}

static int tail_db_push(struct in_tail_ctx *ctx, const struct tail_dbent *e,
                        size_t *cap)
{
    struct tail_dbent *v;

    if (ctx->ndbents == *cap) {
        *cap = *cap == 0 ? 64 : *cap * 2;
        v = sl_realloc(ctx->dbents, *cap * sizeof(*v));
        if (v == NULL) {
            return SL_ENOMEM;
        }
        ctx->dbents = v;
    }
    ctx->dbents[ctx->ndbents++] = *e;
    return SL_OK;
}

/* Loads the database when there is one (a missing file is a first start;
 * a bad line is skipped with a warning). */
static void tail_db_load(struct in_tail_ctx *ctx)
{
    char line[TAIL_DB_LINE_MAX];
    struct tail_dbent e;
    size_t cap = 0;
    size_t bad = 0;
    FILE *fp;

    if (ctx->db_path == NULL) {
        return;
    }
    fp = fopen(ctx->db_path, "re");
    if (fp == NULL) {
        return;
    }
    ctx->db_loaded = true;
    while (fgets(line, sizeof(line), fp) != NULL) {
        if (line[0] == '#' || line[0] == '\n') {
            continue;
        }
        if (!tail_db_parse_line(line, &e)) {
            bad++;
        } else if (tail_db_push(ctx, &e, &cap) != SL_OK) {
            break;
        }
    }
    fclose(fp);
    if (bad > 0) {
        sl_log_warn(ctx->ins, "%s: skipped %zu malformed lines", ctx->db_path,
                    bad);
    }
    if (ctx->ndbents > 1) {
        qsort(ctx->dbents, ctx->ndbents, sizeof(*ctx->dbents), tail_dbent_cmp);
    }
    sl_log_info(ctx->ins, "loaded %zu offsets from %s", ctx->ndbents,
                ctx->db_path);
}

/* The saved offset of the file open as <fd>: -1 when the database does not
 * know it, 0 when its inode was reused or its start changed. */
static off_t tail_db_offset(struct in_tail_ctx *ctx, int fd,
                            const struct stat *st)
{
    struct tail_dbent key = { .dev = st->st_dev, .ino = st->st_ino };
    struct tail_dbent *e;

    if (ctx->ndbents == 0) {
        return -1;
    }
    e = bsearch(&key, ctx->dbents, ctx->ndbents, sizeof(*ctx->dbents),
                tail_dbent_cmp);
    if (e == NULL) {
        return -1;
    }
    if (e->fp_len > 0 && !tail_fp_matches(fd, st, e->fp, e->fp_len)) {
        sl_metric_add(ctx->m_fp_mismatch, 1);
        return 0;
    }
    return e->offset <= st->st_size ? e->offset : 0;
}

static int tail_db_format(struct in_tail_ctx *ctx, struct sl_buf *b)
{
    size_t i;
    int rc = sl_buf_append_str(b, "# sluice tail offsets v1: dev inode "
                                  "offset fp_len fp path\n");

    for (i = 0; i < ctx->nfiles && rc == SL_OK; i++) {
        const struct tail_file *f = ctx->files[i];

        if (f->dead || strchr(f->path, '\n') != NULL) {
            continue;
        }
        rc = sl_buf_printf(b, "%ju %ju %jd %zu %016" PRIx64 " %s\n",
                           (uintmax_t)f->dev, (uintmax_t)f->ino,
                           (intmax_t)f->saved, f->fp_len, f->fp, f->path);
    }
    return rc;
}

static int tail_write_all(int fd, const char *p, size_t n)
{
    ssize_t w;

    while (n > 0) {
        w = write(fd, p, n);
        if (w < 0 && errno == EINTR) {
            continue;
        }
        if (w <= 0) {
            return w < 0 ? sl_rc_from_errno(errno) : SL_EIO;
        }
        p += w;
        n -= (size_t)w;
    }
    return SL_OK;
}

/* fsync of the directory holding <path>, so that the rename is durable. */
static void tail_db_sync_dir(const char *path)
{
    const char *slash = strrchr(path, '/');
    char dir[4096];
    int fd;

    if (slash == NULL || (size_t)(slash - path) >= sizeof(dir)) {
        return;
    }
    memcpy(dir, path, (size_t)(slash - path));
    dir[slash == path ? 1 : slash - path] = '\0';
    fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
}

/* Rewrites the database atomically: temporary file, fsync, rename. */
static int tail_db_write(struct in_tail_ctx *ctx)
{
    struct sl_buf b;
    char tmp[4200];
    int fd;
    int rc;

    if (ctx->db_path == NULL || snprintf(tmp, sizeof(tmp), "%s.tmp",
                                         ctx->db_path) >= (int)sizeof(tmp)) {
        return SL_EINVAL;
    }
    sl_buf_init(&b, 0);
    rc = tail_db_format(ctx, &b);
    fd = rc == SL_OK ? open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640)
                     : -1;
    if (rc == SL_OK && fd < 0) {
        rc = sl_rc_from_errno(errno);
    }
    if (rc == SL_OK) {
        rc = tail_write_all(fd, b.data, b.len);
    }
    if (rc == SL_OK && fsync(fd) != 0) {
        rc = sl_rc_from_errno(errno);
    }
    if (fd >= 0) {
        close(fd);
    }
    if (rc == SL_OK && rename(tmp, ctx->db_path) != 0) {
        rc = sl_rc_from_errno(errno);
    }
    sl_buf_fini(&b);
    if (rc == SL_OK) {
        tail_db_sync_dir(ctx->db_path);
        ctx->db_dirty = false;
        ctx->db_warned = false;
        sl_metric_add(ctx->m_db_writes, 1);
    } else if (!ctx->db_warned) {
        ctx->db_warned = true;
        sl_log_warn(ctx->ins, "cannot write the offset database %s: %s",
                    ctx->db_path, sl_strerror(rc));
    }
    return rc;
}

/* ---- file list ---- */

static void tail_file_close(struct in_tail_ctx *ctx, struct tail_file *f,
                            const char *why)
{
    sl_log_info(ctx->ins, "stopped following %s (%s)", f->path, why);
    tail_ml_flush(ctx, f, false, 0);
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
    sl_multiline_destroy(f->ml);
    sl_free(f->kv);
    sl_free(f->tag);
    sl_free(f->path);
    sl_free(f);
}

/* Removes the files closed during the last pass (their offsets were
 * settled: a closed file's records are committed or in flight, and it is
 * forgotten by the database). */
static void tail_files_sweep(struct in_tail_ctx *ctx)
{
    size_t i;
    size_t j = 0;

    for (i = 0; i < ctx->nfiles; i++) {
        if (ctx->files[i]->dead) {
            tail_file_free(ctx->files[i]);
            ctx->db_dirty = true;
        } else {
            ctx->files[j++] = ctx->files[i];
        }
    }
    if (j == ctx->nfiles) {
        return;
    }
    ctx->nfiles = j;
    if (ctx->rr >= ctx->nfiles) {
        ctx->rr = 0;
    }
    (void)tail_ino_rebuild(ctx, ctx->nfiles);
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

static bool tail_too_old(const struct in_tail_ctx *ctx, const struct stat *st)
{
    int64_t age_ms;

    if (ctx->conf->ignore_older_ms <= 0) {
        return false;
    }
    age_ms = (sl_time_now_ns() - ((int64_t)st->st_mtim.tv_sec * SL_NS_PER_S +
                                  st->st_mtim.tv_nsec)) /
             SL_NS_PER_MS;
    return age_ms > ctx->conf->ignore_older_ms;
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
    if (2 * (ctx->nfiles + 1) + 2 > ctx->byino_cap &&
        tail_ino_rebuild(ctx, ctx->nfiles + 1) != SL_OK) {
        return SL_ENOMEM;
    }
    ctx->files[ctx->nfiles++] = f;
    tail_ino_put(ctx, f);
    return SL_OK;
}

/* Watches the open file itself (through /proc, so that a rename between
 * open and here cannot make us watch another file).  Without a watch the
 * file is polled. */
static void tail_file_watch(struct in_tail_ctx *ctx, struct tail_file *f)
{
    char proc[64];
    int rc;

    if (ctx->ifd < 0) {
        return;
    }
    snprintf(proc, sizeof(proc), "/proc/self/fd/%d", f->fd);
    f->wd = inotify_add_watch(ctx->ifd, proc, TAIL_INOTIFY_MASK);
    if (f->wd < 0 && errno != ENOSPC) {
        f->wd = inotify_add_watch(ctx->ifd, f->path, TAIL_INOTIFY_MASK);
    }
    if (f->wd >= 0) {
        tail_wd_set(ctx, f->wd, f);
        return;
    }
    rc = sl_rc_from_errno(errno);
    sl_metric_add(ctx->m_inotify_fallback, 1);
    if (rc == -ENOSPC && ctx->enospc_warned) {
        return;
    }
    ctx->enospc_warned = ctx->enospc_warned || rc == -ENOSPC;
    sl_log_warn(ctx->ins,
                "cannot watch %s (%s): polling it every %" PRId64 " ms%s",
                f->path, sl_strerror(rc), ctx->conf->poll_interval_ms,
                rc == -ENOSPC ? " (raise fs.inotify.max_user_watches; "
                                "further files are polled silently)"
                              : "");
}

static int tail_file_init(struct in_tail_ctx *ctx, struct tail_file *f,
                          const char *path)
{
    f->path = sl_strdup(path);
    if (f->path == NULL || tail_tag_make(ctx, f) != SL_OK ||
        tail_kv_make(ctx, f) != SL_OK) {
        return SL_ENOMEM;
    }
    if (ctx->ml_def != NULL) {
        f->ml = sl_multiline_create(ctx->ml_def, tail_ml_emit, f);
        if (f->ml == NULL) {
            return SL_ENOMEM;
        }
    }
    return SL_OK;
}

/* Builds the entry for the file open as <fd> (taken over), to be read from
 * <offset>. */
static int tail_file_create(struct in_tail_ctx *ctx, const char *path, int fd,
                            const struct stat *st, off_t offset)
{
    struct tail_file *f = sl_calloc(1, sizeof(*f));
    int rc;

    if (f == NULL) {
        close(fd);
        return SL_ENOMEM;
    }
    f->ctx = ctx;
    f->fd = fd;
    f->wd = -1;
    f->dev = st->st_dev;
    f->ino = st->st_ino;
    f->offset = offset;
    f->safe = offset;
    f->saved = offset;
    f->pending = true;
    rc = tail_file_init(ctx, f, path);
    if (rc == SL_OK) {
        rc = tail_files_push(ctx, f);
    }
    if (rc != SL_OK) {
        tail_file_free(f);
        return rc;
    }
    (void)tail_fp_check(ctx, f, st);
    if (offset > st->st_size) {
        /* A copy still being written: not a truncation yet. */
        f->await = offset;
        f->await_ns = sl_time_mono_ns();
    }
    tail_file_watch(ctx, f);
    ctx->db_dirty = true;
    sl_metric_add(ctx->m_opened, 1);
    sl_log_info(ctx->ins, "following %s from offset %jd", path,
                (intmax_t)offset);
    return SL_OK;
}

/* Where a newly found file is read from. */
static off_t tail_start_offset(struct in_tail_ctx *ctx, int fd,
                               const struct stat *st, bool initial)
{
    off_t off = tail_seen_take(ctx, fd, st);

    if (off >= 0) {
        return off;
    }
    off = tail_db_offset(ctx, fd, st);
    if (off >= 0) {
        return off;
    }
    /* Not in the database: it appeared since it was written. */
    if (initial && !ctx->conf->read_from_head && !ctx->db_loaded) {
        return st->st_size;
    }
    return 0;
}

/* A followed file (other inode) starting with the same first bytes as
 * <nf>: <nf> is probably a copy being made for copytruncate.  NULL when
 * none. */
static struct tail_file *tail_find_twin(struct in_tail_ctx *ctx,
                                        const struct tail_file *nf,
                                        const struct stat *st)
{
    uint64_t head;
    size_t i;

    if (!tail_head(nf->fd, st, &head)) {
        return NULL;
    }
    for (i = 0; i < ctx->nfiles; i++) {
        struct tail_file *f = ctx->files[i];

        if (f != nf && !f->dead && !f->parked && f->has_head &&
            f->head == head) {
            return f;
        }
    }
    return NULL;
}

static void tail_unpark(struct tail_file *f, off_t off, const struct stat *st)
{
    f->parked = false;
    f->twin_ino = 0;
    f->offset = off;
    f->safe = off;
    f->saved = off;
    f->pending = true;
    if (off > st->st_size) {
        /* A copy still being written: not a truncation yet. */
        f->await = off;
        f->await_ns = sl_time_mono_ns();
    }
}

/* A file found while running is parked until it can be told apart from a
 * copy of a followed file: it resumes a file we followed (renamed, or the
 * copy of a truncated one), waits for the truncation of the file it
 * copies, or, once it has TAIL_FP_MIN_COPY bytes and matches nothing (or
 * after rotate_wait), is read from 0. */
static void tail_young_check(struct in_tail_ctx *ctx, struct tail_file *f)
{
    bool expired = sl_time_mono_ns() - f->parked_ns >=
                   ctx->conf->rotate_wait_ms * SL_NS_PER_MS;
    struct tail_file *twin;
    struct stat st;
    off_t off;

    f->pending = false;
    if (fstat(f->fd, &st) != 0 || (f->twin_ino != 0 && !expired)) {
        return;
    }
    off = f->twin_ino != 0 ? -1 : tail_seen_take(ctx, f->fd, &st);
    if (off >= 0) {
        tail_unpark(f, off, &st);
        return;
    }
    if ((size_t)st.st_size < TAIL_FP_MIN_COPY && !expired) {
        return;
    }
    twin = expired ? NULL : tail_find_twin(ctx, f, &st);
    if (twin != NULL) {
        f->twin_dev = twin->dev;
        f->twin_ino = twin->ino;
        sl_log_info(ctx->ins,
                    "%s starts like %s: waiting for its "
                    "truncation (copytruncate)",
                    f->path, twin->path);
        return;
    }
    tail_unpark(f, 0, &st);
}

/* The file <o> was truncated at <offset>: its copies start there. */
static void tail_twins_release(struct in_tail_ctx *ctx,
                               const struct tail_file *o, off_t offset)
{
    struct stat st;
    size_t i;

    for (i = 0; i < ctx->nfiles; i++) {
        struct tail_file *f = ctx->files[i];

        if (f->parked && f->twin_ino == o->ino && f->twin_dev == o->dev &&
            fstat(f->fd, &st) == 0) {
            sl_log_info(ctx->ins, "%s is a copy of %s: reading it from %jd",
                        f->path, o->path, (intmax_t)offset);
            tail_unpark(f, offset, &st);
        }
    }
}

/* Parked files: a last look, and the rotate_wait deadline. */
static void tail_parked_check(struct in_tail_ctx *ctx)
{
    size_t i;

    for (i = 0; i < ctx->nfiles; i++) {
        if (ctx->files[i]->parked && !ctx->files[i]->dead) {
            tail_young_check(ctx, ctx->files[i]);
        }
    }
}

/* Opens <path> when it is a regular file we do not follow yet.  <initial>:
 * found by the first scan. */
static void tail_consider(struct in_tail_ctx *ctx, const char *path,
                          bool initial)
{
    struct tail_file *f;
    struct stat st;
    int fd;

    if (tail_excluded(ctx, path) || stat(path, &st) != 0 ||
        !S_ISREG(st.st_mode) || tail_by_ino(ctx, st.st_dev, st.st_ino) ||
        tail_too_old(ctx, &st)) {
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
        tail_by_ino(ctx, st.st_dev, st.st_ino)) {
        close(fd);
        return;
    }
    if (tail_file_create(ctx, path, fd, &st,
                         initial ? tail_start_offset(ctx, fd, &st, true) : 0) !=
        SL_OK) {
        sl_log_error(ctx->ins, "out of memory following %s", path);
        return;
    }
    if (!initial) {
        f = ctx->files[ctx->nfiles - 1];
        f->parked = true;
        f->parked_ns = sl_time_mono_ns();
        tail_young_check(ctx, f);
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
        rc = glob(pats->v[i], GLOB_MARK | GLOB_NOSORT, NULL, &g);
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
                                off_t size, const char *why)
{
    sl_log_info(ctx->ins, "%s was %s (%jd bytes, offset %jd): reading from 0",
                f->path, why, (intmax_t)size, (intmax_t)f->offset);
    sl_metric_add(ctx->m_truncations, 1);
    tail_ml_flush(ctx, f, false, 0);
    /* Its copy, when a glob matches it, resumes where we were. */
    tail_seen_add(ctx, f, f->offset);
    tail_twins_release(ctx, f, f->offset);
    f->offset = 0;
    f->in_long = false;
    f->discard = false;
    f->want_big = false;
    f->pending = true;
    f->fp = 0;
    f->fp_len = 0;
    f->has_head = false;
    f->await = 0;
    tail_queue_reset(ctx, f);
}

/* Final read of a file that is going away: everything, including an
 * unterminated last line.  Returns true when nothing is left. */
static bool tail_file_flush(struct in_tail_ctx *ctx, struct tail_file *f)
{
    bool eof = false;

    tail_file_pump(ctx, f, ctx->rcap, true, &eof);
    if (!eof) {
        f->pending = true;
    }
    return eof;
}

/* A copy found with the offset of its original is still being written:
 * a size below that offset is not a truncation for rotate_wait. */
static bool tail_file_awaiting(struct in_tail_ctx *ctx, struct tail_file *f,
                               const struct stat *st)
{
    if (f->await == 0) {
        return false;
    }
    if (st->st_size >= f->await) {
        f->await = 0;
        return false;
    }
    if (sl_time_mono_ns() - f->await_ns >=
        ctx->conf->rotate_wait_ms * SL_NS_PER_MS) {
        /* The copy stopped short of the offset its original reached: the
         * lines after its end were read from the original before the
         * truncation (logrotate's copy missed them).  Nothing in it is
         * new; reading it again from 0 would duplicate all of it. */
        if (f->offset == f->await && st->st_size < f->offset) {
            sl_log_info(ctx->ins, "%s ends at %jd, before the offset %jd "
                                  "its original reached: already read",
                        f->path, (intmax_t)st->st_size,
                        (intmax_t)f->offset);
            f->offset = st->st_size;
            f->safe = st->st_size;
            tail_set_saved(ctx, f, st->st_size);
        }
        f->await = 0;
        return false;
    }
    return true;
}

/* The path names another file now: read for rotate_wait, then close. */
static void tail_file_renamed(struct in_tail_ctx *ctx, struct tail_file *f)
{
    int64_t now = sl_time_mono_ns();

    if (f->gone_ns == 0) {
        sl_log_info(ctx->ins, "%s was renamed or replaced", f->path);
        sl_metric_add(ctx->m_rotations, 1);
        f->gone_ns = now;
    }
    if (now - f->gone_ns >= ctx->conf->rotate_wait_ms * SL_NS_PER_MS &&
        tail_file_flush(ctx, f)) {
        tail_seen_add(ctx, f, f->offset);
        tail_file_close(ctx, f, "rotated");
    }
}

/* Called at end of file.  Decides whether the file goes on. */
static void tail_file_eof(struct in_tail_ctx *ctx, struct tail_file *f)
{
    struct stat st;
    struct stat pst;

    if (fstat(f->fd, &st) != 0 || tail_file_awaiting(ctx, f, &st)) {
        return;
    }
    if (st.st_size < f->offset) {
        tail_file_truncated(ctx, f, st.st_size, "truncated");
        return;
    }
    if ((st.st_mtim.tv_sec != f->fp_mtime.tv_sec ||
         st.st_mtim.tv_nsec != f->fp_mtime.tv_nsec) &&
        !tail_fp_check(ctx, f, &st)) {
        sl_metric_add(ctx->m_fp_mismatch, 1);
        tail_file_truncated(ctx, f, st.st_size, "rewritten");
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
    tail_file_renamed(ctx, f);
}

/* ---- callbacks ---- */

/* Reads one pending file within <budget>; returns whether it still has
 * data to read. */
static bool tail_kick_file(struct in_tail_ctx *ctx, struct tail_file *f,
                           size_t *budget)
{
    size_t cap =
        *budget < TAIL_FILE_SLICE_BYTES ? *budget : TAIL_FILE_SLICE_BYTES;
    size_t got;
    bool eof;

    if (f->parked && f->pending) {
        tail_young_check(ctx, f);
    }
    if (f->dead || !f->pending || f->parked) {
        return false;
    }
    got = tail_file_pump(ctx, f, cap, false, &eof);
    *budget -= got < *budget ? got : *budget;
    if (eof) {
        f->pending = false;
        tail_file_eof(ctx, f);
    }
    return f->pending;
}

/* Reads pending files, round robin, within TAIL_SLICE_BYTES. */
static void tail_on_kick(evutil_socket_t fd, short what, void *arg)
{
    struct in_tail_ctx *ctx = arg;
    struct timeval tv = { 0, TAIL_PAUSE_RECHECK_MS * 1000 };
    size_t budget = TAIL_SLICE_BYTES;
    size_t k;
    size_t n = ctx->nfiles;
    size_t start = ctx->rr;
    bool more = false;

    (void)fd;
    (void)what;
    for (k = 0; k < n && budget > 0 && !tail_paused(ctx); k++) {
        size_t i = (start + k) % n;

        if (tail_kick_file(ctx, ctx->files[i], &budget)) {
            more = true;
        }
        ctx->rr = (i + 1) % n;
    }
    tail_settle(ctx);
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

static void tail_mark(struct in_tail_ctx *ctx, bool unwatched_only)
{
    size_t i;

    for (i = 0; i < ctx->nfiles; i++) {
        if (!unwatched_only || ctx->files[i]->wd < 0) {
            ctx->files[i]->pending = true;
            ctx->files[i]->check = true;
        }
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
        tail_mark(ctx, false);
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

/* Files without a watch every poll_interval; every file about every
 * refresh_interval, as a safety net for missed events. */
static void tail_on_poll(evutil_socket_t fd, short what, void *arg)
{
    struct in_tail_ctx *ctx = arg;

    (void)fd;
    (void)what;
    ctx->polls++;
    tail_parked_check(ctx);
    tail_mark(ctx, ctx->polls % ctx->polls_per_check != 0);
    tail_kick(ctx);
}

static void tail_on_scan(evutil_socket_t fd, short what, void *arg)
{
    struct in_tail_ctx *ctx = arg;

    (void)fd;
    (void)what;
    tail_scan(ctx, false);
}

/* Flushes multiline records whose flush_timeout passed. */
static void tail_on_ml_timer(evutil_socket_t fd, short what, void *arg)
{
    struct in_tail_ctx *ctx = arg;
    int64_t now = sl_time_mono_ns();
    size_t i;

    (void)fd;
    (void)what;
    for (i = 0; i < ctx->nfiles; i++) {
        if (!ctx->files[i]->dead) {
            tail_ml_flush(ctx, ctx->files[i], true, now);
        }
    }
    tail_settle(ctx);
}

static void tail_on_db_timer(evutil_socket_t fd, short what, void *arg)
{
    struct in_tail_ctx *ctx = arg;

    (void)fd;
    (void)what;
    if (ctx->db_dirty) {
        (void)tail_db_write(ctx);
    }
}

/* ---- life cycle ---- */

static void tail_event_free(struct event *ev)
{
    if (ev != NULL) {
        event_free(ev);
    }
}

static void tail_ctx_free(struct in_tail_ctx *ctx)
{
    size_t i;

    for (i = 0; i < ctx->nfiles; i++) {
        tail_file_free(ctx->files[i]);
    }
    sl_free(ctx->files);
    ctx->nfiles = 0;
    tail_inotify_close(ctx);
    tail_event_free(ctx->iev);
    tail_event_free(ctx->scan);
    tail_event_free(ctx->scan_soon);
    tail_event_free(ctx->poll);
    tail_event_free(ctx->kick);
    tail_event_free(ctx->ml_timer);
    tail_event_free(ctx->db_timer);
    sl_free(ctx->dir_wds);
    sl_free(ctx->byino);
    sl_free(ctx->bywd);
    sl_free(ctx->touched);
    sl_free(ctx->dbents);
    sl_free(ctx->db_path);
    sl_multiline_def_destroy(ctx->ml_def);
    sl_buf_fini(&ctx->pbuf);
    sl_buf_fini(&ctx->lbuf);
    sl_buf_fini(&ctx->obuf);
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
    ctx->ml_timer = event_new(base, -1, EV_PERSIST, tail_on_ml_timer, ctx);
    ctx->db_timer = event_new(base, -1, EV_PERSIST, tail_on_db_timer, ctx);
    ctx->dir_wds = sl_calloc(ctx->conf->path.n, sizeof(*ctx->dir_wds));
    if (ctx->scan == NULL || ctx->scan_soon == NULL || ctx->poll == NULL ||
        ctx->kick == NULL || ctx->ml_timer == NULL || ctx->db_timer == NULL ||
        ctx->dir_wds == NULL) {
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

static void tail_metrics_create(struct in_tail_ctx *ctx)
{
    struct sl_instance *ins = ctx->ins;

    ctx->m_opened =
        sl_metric_counter(ins, "sluice_tail_files_opened_total",
                          "Files opened for following.", NULL, NULL);
    ctx->m_truncations = sl_metric_counter(
        ins, "sluice_tail_truncations_total",
        "Followed files found truncated or rewritten and read again from "
        "the start.",
        NULL, NULL);
    ctx->m_long_lines = sl_metric_counter(
        ins, "sluice_input_long_lines_total",
        "Lines longer than max_line_size (split, truncated or skipped).", NULL,
        NULL);
    ctx->m_rotations = sl_metric_counter(
        ins, "sluice_tail_rotations_total",
        "Followed files renamed or replaced at their path.", NULL, NULL);
    ctx->m_fp_mismatch = sl_metric_counter(
        ins, "sluice_tail_fingerprint_mismatches_total",
        "Files whose first bytes changed under the same inode.", NULL, NULL);
    ctx->m_inotify_fallback = sl_metric_counter(
        ins, "sluice_tail_inotify_fallback_total",
        "Files that could not get an inotify watch and are polled.", NULL,
        NULL);
    ctx->m_ml_records = sl_metric_counter(
        ins, "sluice_tail_multiline_records_total",
        "Records joined from more than one line.", NULL, NULL);
    ctx->m_ml_bounded = sl_metric_counter(
        ins, "sluice_tail_multiline_bounded_total",
        "Multiline records flushed at max_lines or max_bytes.", NULL, NULL);
    ctx->m_db_writes =
        sl_metric_counter(ins, "sluice_tail_db_writes_total",
                          "Offset database rewrites.", NULL, NULL);
    /* The engine's own counters (same name and labels): records whose
     * bytes the tail parses itself (path_key, offset_key) count there. */
    ctx->m_bytes = sl_metric_counter(ins, "sluice_input_bytes_total",
                                     "Raw bytes the input read.", NULL, NULL);
    ctx->m_parse_fail = sl_metric_counter(
        ins, "sluice_input_parse_failures_total",
        "Lines that did not parse and were kept as {\"log\": line}.", NULL,
        NULL);
}

/* <db> unset: <storage.path>/tail-<name>.db; "off": none. */
static int tail_db_path(struct in_tail_ctx *ctx, struct sl_err *err)
{
    const char *db = ctx->conf->db;
    struct sl_buf b;

    if (db != NULL && (strcmp(db, "off") == 0 || db[0] == '\0')) {
        return SL_OK;
    }
    sl_buf_init(&b, 0);
    if (db != NULL) {
        (void)sl_buf_append_str(&b, db);
    } else {
        (void)sl_buf_printf(&b, "%s/tail-%s.db",
                            sl_instance_storage_path(ctx->ins),
                            sl_instance_name(ctx->ins));
        (void)mkdir(sl_instance_storage_path(ctx->ins), 0750);
    }
    ctx->db_path = sl_buf_take(&b);
    sl_buf_fini(&b);
    if (ctx->db_path == NULL) {
        return sl_err_set(err, SL_ENOMEM, "out of memory");
    }
    return SL_OK;
}

static int tail_conf_check(const struct in_tail_conf *cf, struct sl_err *err)
{
    if (cf->path.n == 0) {
        return sl_err_set(err, SL_ECONFIG, "path: give at least one glob");
    }
    if (cf->max_line_size >= cf->buffer_max_size) {
        return sl_err_set(err, SL_ECONFIG,
                          "max_line_size (%ju) must be below buffer_max_size "
                          "(%ju)",
                          (uintmax_t)cf->max_line_size,
                          (uintmax_t)cf->buffer_max_size);
    }
    return SL_OK;
}

static int tail_ml_init(struct in_tail_ctx *ctx, struct sl_err *err)
{
    const char *name = ctx->conf->multiline_parser;

    if (name == NULL) {
        return SL_OK;
    }
    ctx->ml_def = sl_multiline_lookup(ctx->ins, name);
    if (ctx->ml_def == NULL) {
        return sl_err_set(err, SL_ECONFIG,
                          "multiline.parser: no multiline parser named "
                          "\"%s\" (define it in multiline_parsers, or use "
                          "java, python, go, docker)",
                          name);
    }
    return SL_OK;
}

static int in_tail_init(struct sl_instance *ins, void *conf, struct sl_err *err)
{
    struct in_tail_conf *cf = conf;
    struct in_tail_ctx *ctx;
    int rc;

    rc = tail_conf_check(cf, err);
    if (rc != SL_OK) {
        return rc;
    }
    ctx = sl_calloc(1, sizeof(*ctx));
    if (ctx == NULL) {
        return sl_err_set(err, SL_ENOMEM, "out of memory");
    }
    ctx->ins = ins;
    ctx->conf = cf;
    ctx->ifd = -1;
    ctx->chunk = (size_t)cf->buffer_chunk_size;
    ctx->max_line = (size_t)cf->max_line_size;
    ctx->keys = cf->path_key != NULL || cf->offset_key != NULL;
    ctx->polls_per_check =
        (unsigned)(cf->refresh_interval_ms / cf->poll_interval_ms) + 1;
    sl_buf_init(&ctx->pbuf, 0);
    sl_buf_init(&ctx->lbuf, 0);
    sl_buf_init(&ctx->obuf, 0);
    /* Big enough to find the end of a max_line line in one read. */
    ctx->rcap = ctx->chunk > ctx->max_line ? ctx->chunk : ctx->max_line + 1;
    ctx->rbuf = sl_malloc(ctx->rcap);
    rc = ctx->rbuf == NULL || tail_events_create(ctx) != SL_OK
             ? sl_err_set(err, SL_ENOMEM, "out of memory")
             : SL_OK;
    if (rc == SL_OK) {
        rc = tail_ml_init(ctx, err);
    }
    if (rc == SL_OK) {
        rc = tail_db_path(ctx, err);
    }
    if (rc != SL_OK) {
        tail_ctx_free(ctx);
        return rc;
    }
    tail_metrics_create(ctx);
    sl_instance_set_ctx(ins, ctx);
    return SL_OK;
}

static struct timeval tail_tv_ms(int64_t ms)
{
    struct timeval tv = { .tv_sec = (time_t)(ms / 1000),
                          .tv_usec = (suseconds_t)(ms % 1000) * 1000 };

    return tv;
}

static int tail_timers_start(struct in_tail_ctx *ctx)
{
    const struct in_tail_conf *cf = ctx->conf;
    struct timeval scan_tv = tail_tv_ms(cf->refresh_interval_ms);
    struct timeval poll_tv = tail_tv_ms(cf->poll_interval_ms);
    struct timeval db_tv = tail_tv_ms(cf->db_sync_interval_ms);
    struct timeval ml_tv;
    int64_t ml_ms;

    if (event_add(ctx->scan, &scan_tv) != 0 ||
        event_add(ctx->poll, &poll_tv) != 0 ||
        (ctx->db_path != NULL && event_add(ctx->db_timer, &db_tv) != 0) ||
        (ctx->ifd >= 0 && event_add(ctx->iev, NULL) != 0)) {
        return SL_EIO;
    }
    if (ctx->ml_def != NULL &&
        sl_multiline_def_flush_timeout_ms(ctx->ml_def) > 0) {
        ml_ms = sl_multiline_def_flush_timeout_ms(ctx->ml_def) / 4;
        ml_tv = tail_tv_ms(ml_ms < 20 ? 20 : ml_ms > 500 ? 500 : ml_ms);
        if (event_add(ctx->ml_timer, &ml_tv) != 0) {
            return SL_EIO;
        }
    }
    return SL_OK;
}

static int in_tail_start(struct sl_instance *ins, struct sl_err *err)
{
    struct in_tail_ctx *ctx = sl_instance_ctx(ins);

    ctx->parser = sl_input_parser(ins);
    ctx->durable = sl_input_commit_durable(ins);
    if (tail_timers_start(ctx) != SL_OK) {
        return sl_err_set(err, SL_EIO, "cannot register the tail events");
    }
    ctx->running = true;
    tail_db_load(ctx);
    tail_dirs_watch(ctx);
    tail_scan(ctx, true);
    /* What the database knew and no file matched is forgotten. */
    sl_free(ctx->dbents);
    ctx->dbents = NULL;
    ctx->ndbents = 0;
    if (ctx->nfiles == 0) {
        sl_log_info(ins,
                    "no file matches yet; looking again every "
                    "%" PRId64 " ms",
                    ctx->conf->refresh_interval_ms);
    }
    if (ctx->db_path != NULL) {
        (void)tail_db_write(ctx);
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
    tail_mark(ctx, false);
    tail_kick(ctx);
}

static void in_tail_stop(struct sl_instance *ins)
{
    struct in_tail_ctx *ctx = sl_instance_ctx(ins);
    size_t i;

    /* Pending multiline records go out now: nothing may be appended after
     * stop returns. */
    for (i = 0; i < ctx->nfiles; i++) {
        if (!ctx->files[i]->dead) {
            tail_ml_flush(ctx, ctx->files[i], false, 0);
        }
    }
    tail_settle(ctx);
    ctx->running = false;
    event_del(ctx->scan);
    event_del(ctx->scan_soon);
    event_del(ctx->poll);
    event_del(ctx->kick);
    event_del(ctx->ml_timer);
    event_del(ctx->db_timer);
    if (ctx->iev != NULL) {
        event_del(ctx->iev);
    }
    /* With memory storage the offsets stay at what was delivered before
     * the stop; records still in flight advance them while the outputs
     * drain (in_tail_delivered), and in_tail_exit saves that. */
    if (ctx->db_path != NULL) {
        (void)tail_db_write(ctx);
    }
}

static void in_tail_exit(struct sl_instance *ins)
{
    struct in_tail_ctx *ctx = sl_instance_ctx(ins);

    if (ctx == NULL) {
        return;
    }
    /* After the drain: what was in flight at the stop and has since been
     * delivered is not read again at the next start. */
    if (ctx->db_path != NULL && ctx->db_dirty) {
        (void)tail_db_write(ctx);
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
    .delivered = in_tail_delivered,
};
