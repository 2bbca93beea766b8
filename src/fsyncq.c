/*
 * fsyncq.c - fdatasync + close on a helper thread (see fsyncq.h).
 *
 * Threads: push runs on the main thread; the queue is a fixed ring under
 * a mutex, drained by the one helper thread.
 */
#include <errno.h>
#include <pthread.h>
#include <unistd.h>

#include "fsyncq.h"
#include "sluice/error.h"
#include "sluice/log.h"
#include "sluice/mem.h"
#include "sluice/banned.h"

struct sl_fsyncq {
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int fds[SL_FSYNCQ_MAX];
    unsigned head, n;
    bool stop;
    uint64_t synced;
    uint64_t errors;
};

static int fsyncq_sync(int fd)
{
    int rc = SL_OK;

    if (fdatasync(fd) != 0) {
        rc = sl_rc_from_errno(errno);
    }
    close(fd);
    return rc;
}

static void *fsyncq_main(void *arg)
{
    struct sl_fsyncq *q = arg;
    int fd, rc;

    pthread_mutex_lock(&q->lock);
    for (;;) {
        while (q->n == 0 && !q->stop) {
            pthread_cond_wait(&q->cond, &q->lock);
        }
        if (q->n == 0 && q->stop) {
            break;
        }
        fd = q->fds[q->head];
        q->head = (q->head + 1) % SL_FSYNCQ_MAX;
        q->n--;
        pthread_mutex_unlock(&q->lock);
        rc = fsyncq_sync(fd);
        pthread_mutex_lock(&q->lock);
        q->synced++;
        if (rc != SL_OK) {
            q->errors++;
            sl_clog_error("storage", "fdatasync of a sealed chunk failed: %s",
                          sl_strerror(rc));
        }
    }
    pthread_mutex_unlock(&q->lock);
    return NULL;
}

struct sl_fsyncq *sl_fsyncq_create(void)
{
    struct sl_fsyncq *q = sl_calloc(1, sizeof(*q));

    if (q == NULL) {
        return NULL;
    }
    pthread_mutex_init(&q->lock, NULL);
    pthread_cond_init(&q->cond, NULL);
    if (pthread_create(&q->thread, NULL, fsyncq_main, q) != 0) {
        pthread_cond_destroy(&q->cond);
        pthread_mutex_destroy(&q->lock);
        sl_free(q);
        return NULL;
    }
    return q;
}

int sl_fsyncq_push(struct sl_fsyncq *q, int fd)
{
    if (q == NULL) {
        return fsyncq_sync(fd);
    }
    pthread_mutex_lock(&q->lock);
    if (q->n == SL_FSYNCQ_MAX || q->stop) {
        pthread_mutex_unlock(&q->lock);
        return fsyncq_sync(fd);
    }
    q->fds[(q->head + q->n) % SL_FSYNCQ_MAX] = fd;
    q->n++;
    pthread_cond_signal(&q->cond);
    pthread_mutex_unlock(&q->lock);
    return SL_OK;
}

void sl_fsyncq_destroy(struct sl_fsyncq *q)
{
    if (q == NULL) {
        return;
    }
    pthread_mutex_lock(&q->lock);
    q->stop = true;
    pthread_cond_signal(&q->cond);
    pthread_mutex_unlock(&q->lock);
    pthread_join(q->thread, NULL);
    pthread_cond_destroy(&q->cond);
    pthread_mutex_destroy(&q->lock);
    sl_free(q);
}

uint64_t sl_fsyncq_synced(const struct sl_fsyncq *q)
{
    return q != NULL ? q->synced : 0;
}

uint64_t sl_fsyncq_errors(const struct sl_fsyncq *q)
{
    return q != NULL ? q->errors : 0;
}
