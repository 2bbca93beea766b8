/*
 * storage.c - the chunk store as a whole (see storage.h).  Runs on the
 * main thread at start-up, or in the storage command-line tools.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "storage.h"
#include "util.h"
#include "sluice/json.h"
#include "sluice/mem.h"
#include "sluice/timeutil.h"
#include "sluice/banned.h"

static int storage_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted names of the entries of <dir> ending in <suffix> (or folders when
 * <suffix> is NULL). */
static char **storage_list(const char *dir, const char *suffix, size_t *n)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    char **v = NULL, **nv;
    size_t cnt = 0, sl = suffix ? strlen(suffix) : 0;

    *n = 0;
    if (d == NULL) {
        return NULL;
    }
    while ((de = readdir(d)) != NULL) {
        size_t len = strlen(de->d_name);

        if (de->d_name[0] == '.') {
            continue;
        }
        if (suffix != NULL &&
            (len <= sl || strcmp(de->d_name + len - sl, suffix) != 0)) {
            continue;
        }
        if (suffix == NULL && de->d_type != DT_DIR && de->d_type != DT_UNKNOWN) {
            continue;
        }
        nv = sl_realloc(v, (cnt + 1) * sizeof(*v));
        if (nv == NULL) {
            break;
        }
        v = nv;
        v[cnt] = sl_strdup(de->d_name);
        if (v[cnt] != NULL) {
            cnt++;
        }
    }
    closedir(d);
    if (cnt > 0) {
        qsort(v, cnt, sizeof(*v), storage_cmp);
    }
    *n = cnt;
    return v;
}

static void storage_free_list(char **v, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        sl_free(v[i]);
    }
    sl_free(v);
}

int sl_storage_walk(const char *storage_path, sl_storage_fn cb, void *arg)
{
    char base[4096], dir[8192], path[12288];
    char **dirs, **files;
    size_t nd, nf, i, j;
    int rc = SL_OK;

    snprintf(base, sizeof(base), "%s/chunks", storage_path);
    dirs = storage_list(base, NULL, &nd);
    for (i = 0; i < nd && rc == SL_OK; i++) {
        snprintf(dir, sizeof(dir), "%s/%s", base, dirs[i]);
        files = storage_list(dir, ".chunk", &nf);
        for (j = 0; j < nf && rc == SL_OK; j++) {
            snprintf(path, sizeof(path), "%s/%s", dir, files[j]);
            rc = cb(arg, dirs[i], path);
        }
        storage_free_list(files, nf);
    }
    storage_free_list(dirs, nd);
    return rc;
}

/* <storage>/corrupt/<input>-<file>, creating the folder. */
static int storage_corrupt_path(const char *storage_path, const char *path,
                                char *out, size_t cap)
{
    char dir[4096];
    const char *file = strrchr(path, '/');
    const char *parent = NULL;
    size_t plen = 0;
    int rc;

    snprintf(dir, sizeof(dir), "%s/corrupt", storage_path);
    rc = sl_mkdir_p(dir, 0750);
    if (rc != SL_OK) {
        return rc;
    }
    file = file != NULL ? file + 1 : path;
    if (file > path + 1) {
        const char *p = file - 2;

        while (p > path && *p != '/') {
            p--;
        }
        parent = *p == '/' ? p + 1 : p;
        plen = (size_t)(file - 1 - parent);
    }
    if ((size_t)snprintf(out, cap, "%s/%.*s-%s", dir, (int)plen,
                         parent ? parent : "", file) >= cap) {
        return SL_ELIMIT;
    }
    return SL_OK;
}

static int storage_copy(const char *from, const char *to)
{
    char *data = NULL;
    size_t len = 0;
    int rc = sl_file_read_all(from, (size_t)1 << 32, &data, &len);

    if (rc == SL_OK) {
        rc = sl_file_write_atomic(to, data, len, 0640);
    }
    sl_free(data);
    return rc;
}

int sl_storage_recover(const char *storage_path, const char *path,
                       bool repair, struct sl_chunk **out,
                       struct sl_storage_stats *st, struct sl_err *err)
{
    struct sl_chunk_scan scan;
    struct sl_chunk *c = NULL;
    char dst[8192];
    int rc;

    *out = NULL;
    rc = sl_chunk_fs_scan(path, false, &c, &scan, err);
    if (scan.bad_header) {
        st->corrupt_chunks++;
        if (repair && storage_corrupt_path(storage_path, path, dst,
                                           sizeof(dst)) == SL_OK) {
            if (rename(path, dst) == 0) {
                char ack[8300];

                snprintf(ack, sizeof(ack), "%s.ack", path);
                unlink(ack);
                sl_err_set(err, SL_EPARSE, "bad header; moved to %s", dst);
            }
        }
        return SL_OK;
    }
    if (rc != SL_OK) {
        return rc;
    }
    if (scan.bad_frames > 0) {
        st->corrupt_chunks++;
        if (repair && (storage_corrupt_path(storage_path, path, dst,
                                            sizeof(dst)) != SL_OK ||
                       storage_copy(path, dst) != SL_OK)) {
            sl_chunk_destroy(c);
            return sl_err_set(err, SL_EIO, "bad frame checksum, and the file "
                                           "could not be copied aside");
        }
        if (repair) {
            sl_err_set(err, SL_EPARSE, "frame %zu fails its checksum; the "
                                       "file was copied to %s and cut before "
                                       "that frame (%zu bytes)",
                       scan.records + 1, dst, scan.torn_bytes);
        } else {
            sl_err_set(err, SL_EPARSE, "frame %zu fails its checksum (%zu "
                                       "bytes from there; --repair copies "
                                       "the file to corrupt/ and cuts it)",
                       scan.records + 1, scan.torn_bytes);
        }
    } else if (scan.torn_bytes > 0) {
        st->truncated_frames++;
    }
    if (repair && scan.torn_bytes > 0 &&
        truncate(path, (off_t)(c->hdr_len + scan.good_len)) != 0) {
        rc = sl_rc_from_errno(errno);
        sl_chunk_destroy(c);
        return rc;
    }
    st->chunks++;
    st->records += scan.records;
    st->bytes += scan.good_len;
    if (scan.records == 0) {
        sl_chunk_destroy(c);
        if (repair) {
            /* An empty chunk (crash right after it was created). */
            char ack[8300];

            snprintf(ack, sizeof(ack), "%s.ack", path);
            unlink(ack);
            unlink(path);
        }
        return SL_OK;
    }
    *out = c;
    return SL_OK;
}

/* ---- command-line tools ---- */

struct storage_tool {
    const char *storage_path;
    const char *cmd;
    bool repair;
    struct sl_storage_stats st;
    struct sl_buf out;
    int64_t now;
    int status;
};

static void tool_inspect_row(struct storage_tool *t, const char *dir,
                             const char *path, const struct sl_chunk *c)
{
    const char *file = strrchr(path, '/');
    size_t i;

    printf("%-16s %-34s %-24s %8zu %10zu %8.1fs  ", dir,
           file ? file + 1 : path, c->tag, c->records, c->len,
           (double)(t->now - c->created_ns) / 1e9);
    if (c->nacked == 0) {
        printf("acked by: none");
    } else {
        printf("acked by:");
        for (i = 0; i < c->nacked; i++) {
            printf(" %s", c->acked[i]);
        }
    }
    printf("\n");
}

static int tool_export_chunk(const char *path, const struct sl_chunk *c)
{
    unsigned char *data = NULL;
    size_t len = 0, off = 0;
    int64_t ts;
    struct sl_str body;
    struct sl_buf b;
    char tsbuf[64];
    int rc = sl_chunk_fs_load(c, &data, &len);

    if (rc != SL_OK) {
        fprintf(stderr, "%s: %s\n", path, sl_strerror(rc));
        return rc;
    }
    sl_buf_init(&b, 0);
    while (sl_chunk_frames_next(data, len, &off, &ts, &body)) {
        sl_buf_reset(&b);
        sl_time_format_rfc3339(ts, 9, tsbuf, sizeof(tsbuf));
        sl_buf_append_str(&b, "{\"tag\":");
        sl_json_write_string(&b, c->tag, c->tag_len);
        sl_buf_printf(&b, ",\"ts\":\"%s\",\"record\":", tsbuf);
        sl_buf_append(&b, body.ptr, body.len);
        sl_buf_append_str(&b, "}\n");
        fwrite(b.data, 1, b.len, stdout);
    }
    sl_buf_fini(&b);
    sl_free(data);
    return SL_OK;
}

static int tool_cb(void *arg, const char *dir, const char *path)
{
    struct storage_tool *t = arg;
    struct sl_chunk *c = NULL;
    struct sl_err err = { 0 };
    uint64_t before = t->st.corrupt_chunks + t->st.truncated_frames;
    int rc;

    rc = sl_storage_recover(t->storage_path, path,
                            strcmp(t->cmd, "fsck") == 0 && t->repair, &c,
                            &t->st, &err);
    if (rc != SL_OK) {
        fprintf(stderr, "%s: %s\n", path, err.msg[0] ? err.msg : sl_strerror(rc));
        t->status = 1;
        return SL_OK;
    }
    if (t->st.corrupt_chunks + t->st.truncated_frames != before) {
        t->status = strcmp(t->cmd, "fsck") == 0 ? 1 : t->status;
        fprintf(stderr, "%s: %s\n", path,
                err.msg[0] ? err.msg
                           : (t->repair ? "torn last frame (crash mid-write) "
                                          "cut off"
                                        : "torn last frame (crash "
                                          "mid-write)"));
    }
    if (c == NULL) {
        return SL_OK;
    }
    if (strcmp(t->cmd, "inspect") == 0) {
        tool_inspect_row(t, dir, path, c);
    } else if (strcmp(t->cmd, "export") == 0) {
        tool_export_chunk(path, c);
    }
    sl_chunk_destroy(c);
    return SL_OK;
}

static void storage_usage(void)
{
    fprintf(stderr,
            "Usage: sluice storage inspect PATH       chunks, tags, records, "
            "bytes, age, acks\n"
            "       sluice storage fsck PATH [--repair] verify every frame; "
            "apply the recovery rules\n"
            "       sluice storage export PATH        records as NDJSON\n"
            "PATH is the service.storage.path of a configuration.\n");
}

int sl_storage_main(int argc, char **argv)
{
    struct storage_tool t;
    struct stat sb;

    memset(&t, 0, sizeof(t));
    if (argc < 2 || (strcmp(argv[0], "inspect") != 0 &&
                     strcmp(argv[0], "fsck") != 0 &&
                     strcmp(argv[0], "export") != 0)) {
        storage_usage();
        return 2;
    }
    t.cmd = argv[0];
    t.storage_path = argv[1];
    t.repair = argc > 2 && strcmp(argv[2], "--repair") == 0;
    t.now = sl_time_now_ns();
    if (stat(t.storage_path, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
        fprintf(stderr, "sluice storage: %s is not a directory\n",
                t.storage_path);
        return 2;
    }
    if (strcmp(t.cmd, "inspect") == 0) {
        printf("%-16s %-34s %-24s %8s %10s %9s  %s\n", "INPUT", "CHUNK", "TAG",
               "RECORDS", "BYTES", "AGE", "OUTPUTS DONE");
    }
    sl_storage_walk(t.storage_path, tool_cb, &t);
    if (strcmp(t.cmd, "export") != 0) {
        printf("%" PRIu64 " chunks, %" PRIu64 " records, %" PRIu64
               " bytes; %" PRIu64 " torn frames%s, %" PRIu64 " corrupt chunks%s\n",
               t.st.chunks, t.st.records, t.st.bytes, t.st.truncated_frames,
               t.repair ? " cut off" : "", t.st.corrupt_chunks,
               t.repair ? " set aside in corrupt/" : "");
    }
    return t.status;
}
