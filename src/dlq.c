/*
 * dlq.c - dead-letter queue files (see dlq.h).  Called on output worker
 * threads; the mutex serialises the workers of one output.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dlq.h"
#include "util.h"
#include "sluice/json.h"
#include "sluice/mem.h"
#include "sluice/timeutil.h"
#include "sluice/banned.h"

int sl_dlq_init(struct sl_dlq *q, const char *storage_path,
                const char *output, const char *file)
{
    struct sl_buf b;

    memset(q, 0, sizeof(*q));
    sl_buf_init(&b, 0);
    if (sl_buf_printf(&b, "%s/dlq/%s", storage_path, output) != SL_OK) {
        sl_buf_fini(&b);
        return SL_ENOMEM;
    }
    q->dir = sl_buf_take(&b);
    q->output = sl_strdup(output);
    q->file = file != NULL ? sl_strdup(file) : NULL;
    if (q->dir == NULL || q->output == NULL || (file != NULL && q->file == NULL)) {
        sl_dlq_fini(q);
        return SL_ENOMEM;
    }
    pthread_mutex_init(&q->lock, NULL);
    return SL_OK;
}

void sl_dlq_fini(struct sl_dlq *q)
{
    if (q->dir != NULL) {
        pthread_mutex_destroy(&q->lock);
    }
    sl_free(q->dir);
    sl_free(q->file);
    sl_free(q->output);
    memset(q, 0, sizeof(*q));
}

int sl_dlq_format(struct sl_buf *out, const char *output, struct sl_str tag,
                  int64_t ts_ns, struct sl_str body, const char *error,
                  unsigned attempts)
{
    char ts[64];
    int rc;

    sl_time_format_rfc3339(ts_ns, 9, ts, sizeof(ts));
    rc = sl_buf_append_str(out, "{\"record\":");
    rc = rc ? rc : sl_buf_append(out, body.ptr, body.len);
    rc = rc ? rc : sl_buf_append_str(out, ",\"tag\":");
    rc = rc ? rc : sl_json_write_string(out, tag.ptr, tag.len);
    rc = rc ? rc : sl_buf_printf(out, ",\"ts\":\"%s\",\"output\":", ts);
    rc = rc ? rc : sl_json_write_string(out, output, strlen(output));
    rc = rc ? rc : sl_buf_append_str(out, ",\"error\":");
    rc = rc ? rc : sl_json_write_string(out, error, strlen(error));
    rc = rc ? rc : sl_buf_printf(out, ",\"attempts\":%u}\n", attempts);
    return rc;
}

int sl_dlq_path(const struct sl_dlq *q, char *out, size_t cap)
{
    time_t now = time(NULL);
    struct tm tm;

    if (q->file != NULL) {
        return (size_t)snprintf(out, cap, "%s", q->file) < cap ? SL_OK
                                                             : SL_ELIMIT;
    }
    gmtime_r(&now, &tm);
    return (size_t)snprintf(out, cap, "%s/%04d%02d%02d.ndjson", q->dir,
                            tm.tm_year + 1900, tm.tm_mon + 1,
                            tm.tm_mday) < cap
               ? SL_OK
               : SL_ELIMIT;
}

int sl_dlq_write(struct sl_dlq *q, struct sl_str lines)
{
    char path[4096];
    int fd, rc;

    if (lines.len == 0) {
        return SL_OK;
    }
    pthread_mutex_lock(&q->lock);
    rc = sl_dlq_path(q, path, sizeof(path));
    if (rc == SL_OK && q->file == NULL) {
        rc = sl_mkdir_p(q->dir, 0750);
    }
    if (rc != SL_OK) {
        pthread_mutex_unlock(&q->lock);
        return rc;
    }
    fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
    if (fd == -1) {
        rc = sl_rc_from_errno(errno);
    } else {
        rc = sl_write_all(fd, lines.ptr, lines.len);
        if (rc == SL_OK && fdatasync(fd) != 0) {
            rc = sl_rc_from_errno(errno);
        }
        close(fd);
    }
    pthread_mutex_unlock(&q->lock);
    return rc;
}
