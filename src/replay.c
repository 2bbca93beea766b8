/*
 * replay.c - `sluice replay -c FILE --output NAME [DLQFILE...]`: sends
 * dead-letter records again through one output of a configuration.
 *
 * Only that output is started (its workers, retries and limits as
 * configured); inputs and filters are not.  Each DLQ file is read, its
 * records are grouped into chunks per tag and queued to the output, and
 * the run waits until every chunk is done.  Records that fail again are
 * written, with their new error, to a temporary DLQ file that then
 * replaces the original: only the lines that were delivered disappear.
 * Lines that are not valid DLQ records are kept as they are.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "config.h"
#include "engine.h"
#include "log.h"
#include "util.h"
#include "worker.h"
#include "sluice/json.h"
#include "sluice/timeutil.h"
#include "sluice/banned.h"

struct replay {
    struct event_base *base;
    struct sl_engine *engine;
    struct sl_instance *out;
    struct sl_buf keep;     /* lines kept verbatim (not DLQ records) */
    uint64_t queued;
    uint64_t bad_lines;
};

static void replay_drained(struct sl_engine *e, void *arg)
{
    struct replay *r = arg;

    (void)e;
    event_base_loopbreak(r->base);
}

/* Parses one DLQ line into tag, ts and the record's compact bytes. */
static bool replay_parse_line(struct sl_arena *a, struct sl_str line,
                              struct sl_buf *body, struct sl_str *tag,
                              int64_t *ts)
{
    struct sl_json *root = NULL, *rec, *t, *tsv;

    if (sl_json_parse(a, line.ptr, line.len, &root, NULL) != SL_OK ||
        root->type != SL_JSON_OBJECT) {
        return false;
    }
    rec = sl_json_obj_get(root, SL_STR_LIT("record"));
    t = sl_json_obj_get(root, SL_STR_LIT("tag"));
    tsv = sl_json_obj_get(root, SL_STR_LIT("ts"));
    if (rec == NULL || rec->type != SL_JSON_OBJECT || t == NULL ||
        t->type != SL_JSON_STRING) {
        return false;
    }
    *tag = t->u.str;
    *ts = 0;
    if (tsv != NULL && tsv->type == SL_JSON_STRING) {
        sl_time_parse(tsv->u.str, NULL, ts);
    }
    sl_buf_reset(body);
    return sl_json_serialize(rec, body) == SL_OK;
}

static void replay_queue(struct replay *r, struct sl_chunk *c)
{
    if (c == NULL || c->records == 0) {
        sl_chunk_destroy(c);
        return;
    }
    r->queued += c->records;
    sl_engine_push_to(r->engine, c, r->out->slot);
}

static int replay_file(struct replay *r, const char *path)
{
    char *data = NULL, *p, *nl;
    size_t len = 0;
    struct sl_arena a;
    struct sl_buf body;
    struct sl_chunk *c = NULL;
    int rc = sl_file_read_all(path, (size_t)1 << 34, &data, &len);

    if (rc != SL_OK) {
        fprintf(stderr, "sluice replay: cannot read %s: %s\n", path,
                sl_strerror(rc));
        return rc;
    }
    sl_arena_init(&a, 0, 0);
    sl_buf_init(&body, 0);
    for (p = data; p < data + len; p = nl + 1) {
        struct sl_str line, tag;
        int64_t ts;

        nl = memchr(p, '\n', (size_t)(data + len - p));
        if (nl == NULL) {
            nl = data + len;
        }
        line = sl_str_make(p, (size_t)(nl - p));
        if (line.len == 0) {
            continue;
        }
        sl_arena_reset(&a);
        if (!replay_parse_line(&a, line, &body, &tag, &ts)) {
            r->bad_lines++;
            sl_buf_append(&r->keep, line.ptr, line.len);
            sl_buf_putc(&r->keep, '\n');
            continue;
        }
        if (c != NULL && !sl_str_eq(sl_str_make(c->tag, c->tag_len), tag)) {
            replay_queue(r, c);
            c = NULL;
        }
        if (c == NULL) {
            c = sl_chunk_create(tag, r->engine->svc.chunk_size);
        }
        if (c != NULL && sl_chunk_append(c, ts, sl_buf_str(&body)) == SL_ELIMIT) {
            replay_queue(r, c);
            c = sl_chunk_create(tag, r->engine->svc.chunk_size);
            if (c != NULL) {
                sl_chunk_append(c, ts, sl_buf_str(&body));
            }
        }
    }
    replay_queue(r, c);
    sl_buf_fini(&body);
    sl_arena_fini(&a);
    sl_free(data);
    return SL_OK;
}

/* Replays one file: failures go to <path>.replay, which replaces it. */
static int replay_one(struct replay *r, const char *path)
{
    struct sl_output *out = r->out->out;
    char tmp[4200];
    char *left = NULL;
    size_t leftlen = 0;
    uint64_t before_dlq = sl_metric_value(out->m_dlq);
    int rc;

    snprintf(tmp, sizeof(tmp), "%s.replay", path);
    unlink(tmp);
    sl_dlq_fini(&out->dlq);
    if (sl_dlq_init(&out->dlq, sl_instance_storage_path(r->out), r->out->name,
                    tmp) != SL_OK) {
        return SL_ENOMEM;
    }
    sl_buf_reset(&r->keep);
    r->queued = 0;
    rc = replay_file(r, path);
    if (rc != SL_OK) {
        return rc;
    }
    r->engine->stopping = false;
    r->engine->on_drained = replay_drained;
    r->engine->on_drained_arg = r;
    sl_engine_drain(r->engine, -1);
    event_base_dispatch(r->base);
    if (sl_file_read_all(tmp, (size_t)1 << 34, &left, &leftlen) != SL_OK) {
        leftlen = 0;
    }
    sl_buf_append(&r->keep, left != NULL ? left : "", leftlen);
    sl_free(left);
    unlink(tmp);
    if (r->keep.len == 0) {
        unlink(path);
    } else {
        rc = sl_file_write_atomic(path, r->keep.data, r->keep.len, 0640);
    }
    fprintf(stderr, "%s: %llu records replayed, %llu delivered, %llu failed "
                    "again (kept), %llu unreadable lines kept\n",
            path, (unsigned long long)r->queued,
            (unsigned long long)(r->queued -
                                 (sl_metric_value(out->m_dlq) - before_dlq)),
            (unsigned long long)(sl_metric_value(out->m_dlq) - before_dlq),
            (unsigned long long)r->bad_lines);
    return rc;
}

static int replay_list_default(const char *dir, struct sl_strlist *files)
{
    DIR *d = opendir(dir);
    struct dirent *de;

    if (d == NULL) {
        return sl_rc_from_errno(errno);
    }
    while ((de = readdir(d)) != NULL) {
        size_t n = strlen(de->d_name);
        char path[8192], **v;

        if (n < 7 || strcmp(de->d_name + n - 7, ".ndjson") != 0) {
            continue;
        }
        snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
        v = sl_realloc(files->v, (files->n + 1) * sizeof(*v));
        if (v == NULL) {
            break;
        }
        files->v = v;
        files->v[files->n] = sl_strdup(path);
        if (files->v[files->n] != NULL) {
            files->n++;
        }
    }
    closedir(d);
    return SL_OK;
}

static struct sl_instance *replay_find_output(struct sl_engine *e,
                                              const char *name)
{
    size_t i;

    for (i = 0; i < e->noutputs; i++) {
        if (strcmp(e->outputs[i]->name, name) == 0) {
            return e->outputs[i];
        }
    }
    return NULL;
}

int sl_replay_main(const char *config, const char *output, char **files,
                   int nfiles)
{
    struct replay r;
    struct sl_errlist errs;
    struct sl_config *cfg = NULL;
    struct sl_strlist list = { 0 };
    struct sl_metrics *m = sl_metrics_create();
    struct sl_err err = { 0 };
    char dir[4096];
    int i, status = 0;

    memset(&r, 0, sizeof(r));
    sl_errlist_init(&errs);
    sl_buf_init(&r.keep, 0);
    r.base = event_base_new();
    if (r.base == NULL || m == NULL ||
        sl_config_load(config, &cfg, &errs) != SL_OK ||
        sl_engine_create(r.base, m, cfg, &r.engine, &errs) != SL_OK) {
        for (i = 0; i < (int)errs.n; i++) {
            char line[1024];

            sl_err_format(&errs.items[i], line, sizeof(line));
            fprintf(stderr, "%s\n", line);
        }
        status = 1;
        goto out;
    }
    r.out = replay_find_output(r.engine, output);
    if (r.out == NULL) {
        fprintf(stderr, "sluice replay: %s has no output named '%s'\n", config,
                output);
        status = 1;
        goto out;
    }
    if (sl_output_start(r.out->out, &err) != SL_OK) {
        fprintf(stderr, "sluice replay: cannot start %s: %s\n", output, err.msg);
        status = 1;
        goto out;
    }
    for (i = 0; i < nfiles; i++) {
        list.v = sl_realloc(list.v, (list.n + 1) * sizeof(*list.v));
        list.v[list.n++] = sl_strdup(files[i]);
    }
    if (nfiles == 0) {
        snprintf(dir, sizeof(dir), "%s/dlq/%s", r.engine->svc.storage_path,
                 output);
        replay_list_default(dir, &list);
    }
    for (i = 0; i < (int)list.n; i++) {
        if (replay_one(&r, list.v[i]) != SL_OK) {
            status = 1;
        }
    }
out:
    for (i = 0; i < (int)list.n; i++) {
        sl_free(list.v[i]);
    }
    sl_free(list.v);
    sl_engine_destroy(r.engine);
    sl_metrics_destroy(m);
    sl_buf_fini(&r.keep);
    if (r.base != NULL) {
        event_base_free(r.base);
    }
    return status;
}
