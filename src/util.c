/*
 * util.c - string map, host name, file helpers (see util.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"
#include "sluice/error.h"
#include "sluice/mem.h"
#include "sluice/plugin.h"
#include "sluice/banned.h"

#define STRMAP_TOMB ((char *)&sl_strmap_init)

uint64_t sl_hash_bytes(const void *p, size_t n)
{
    /* FNV-1a: tags and keys are short, and this is simple and good
     * enough for a map that is only keyed by configuration-bounded data. */
    const unsigned char *s = p;
    uint64_t h = 1469598103934665603ULL;
    size_t i;

    for (i = 0; i < n; i++) {
        h ^= s[i];
        h *= 1099511628211ULL;
    }
    return h;
}

void sl_strmap_init(struct sl_strmap *m)
{
    m->slots = NULL;
    m->cap = 0;
    m->n = 0;
    m->tombs = 0;
}

void sl_strmap_fini(struct sl_strmap *m, void (*free_val)(void *))
{
    size_t i;

    for (i = 0; i < m->cap; i++) {
        struct sl_strmap_slot *s = &m->slots[i];

        if (s->key != NULL && s->key != STRMAP_TOMB) {
            if (free_val != NULL) {
                free_val(s->val);
            }
            sl_free(s->key);
        }
    }
    sl_free(m->slots);
    sl_strmap_init(m);
}

static struct sl_strmap_slot *strmap_find(const struct sl_strmap *m,
                                          struct sl_str key, uint64_t h)
{
    size_t mask, i;

    if (m->cap == 0) {
        return NULL;
    }
    mask = m->cap - 1;
    for (i = h & mask;; i = (i + 1) & mask) {
        struct sl_strmap_slot *s = &m->slots[i];

        if (s->key == NULL) {
            return NULL;
        }
        if (s->key != STRMAP_TOMB && s->hash == h && s->klen == key.len &&
            memcmp(s->key, key.ptr, key.len) == 0) {
            return s;
        }
    }
}

void *sl_strmap_get(const struct sl_strmap *m, struct sl_str key)
{
    struct sl_strmap_slot *s = strmap_find(m, key, sl_hash_bytes(key.ptr, key.len));

    return s != NULL ? s->val : NULL;
}

static int strmap_grow(struct sl_strmap *m)
{
    size_t ncap = m->cap == 0 ? 16 : m->cap * 2;
    struct sl_strmap_slot *old = m->slots, *ns;
    size_t ocap = m->cap, i, j;

    if (m->n * 2 < m->cap) {
        ncap = m->cap; /* only tombstones: rehash in place size */
    }
    ns = sl_calloc(ncap, sizeof(*ns));
    if (ns == NULL) {
        return SL_ENOMEM;
    }
    for (i = 0; i < ocap; i++) {
        if (old[i].key == NULL || old[i].key == STRMAP_TOMB) {
            continue;
        }
        for (j = old[i].hash & (ncap - 1); ns[j].key != NULL;
             j = (j + 1) & (ncap - 1)) {
        }
        ns[j] = old[i];
    }
    sl_free(old);
    m->slots = ns;
    m->cap = ncap;
    m->tombs = 0;
    return SL_OK;
}

int sl_strmap_put(struct sl_strmap *m, struct sl_str key, void *val)
{
    uint64_t h = sl_hash_bytes(key.ptr, key.len);
    struct sl_strmap_slot *s = strmap_find(m, key, h);
    size_t i, mask;
    char *k;

    if (s != NULL) {
        s->val = val;
        return SL_OK;
    }
    if ((m->n + m->tombs + 1) * 10 >= m->cap * 7) {
        if (strmap_grow(m) != SL_OK) {
            return SL_ENOMEM;
        }
    }
    k = sl_strndup(key.ptr, key.len);
    if (k == NULL) {
        return SL_ENOMEM;
    }
    mask = m->cap - 1;
    for (i = h & mask; m->slots[i].key != NULL && m->slots[i].key != STRMAP_TOMB;
         i = (i + 1) & mask) {
    }
    if (m->slots[i].key == STRMAP_TOMB) {
        m->tombs--;
    }
    m->slots[i].key = k;
    m->slots[i].klen = key.len;
    m->slots[i].hash = h;
    m->slots[i].val = val;
    m->n++;
    return SL_OK;
}

void *sl_strmap_del(struct sl_strmap *m, struct sl_str key)
{
    struct sl_strmap_slot *s = strmap_find(m, key, sl_hash_bytes(key.ptr, key.len));
    void *v;

    if (s == NULL) {
        return NULL;
    }
    v = s->val;
    sl_free(s->key);
    s->key = STRMAP_TOMB;
    s->val = NULL;
    m->n--;
    m->tombs++;
    return v;
}

bool sl_strmap_next(const struct sl_strmap *m, size_t *i, struct sl_str *key,
                    void **val)
{
    while (*i < m->cap) {
        const struct sl_strmap_slot *s = &m->slots[(*i)++];

        if (s->key != NULL && s->key != STRMAP_TOMB) {
            if (key != NULL) {
                *key = sl_str_make(s->key, s->klen);
            }
            if (val != NULL) {
                *val = s->val;
            }
            return true;
        }
    }
    return false;
}

const char *sl_hostname(void)
{
    static char name[256];
    static int done;

    /* Set once before threads start (the engine calls it at start-up);
     * later calls only read. */
    if (!__atomic_load_n(&done, __ATOMIC_ACQUIRE)) {
        if (gethostname(name, sizeof(name) - 1) != 0 || name[0] == '\0') {
            snprintf(name, sizeof(name), "localhost");
        }
        name[sizeof(name) - 1] = '\0';
        __atomic_store_n(&done, 1, __ATOMIC_RELEASE);
    }
    return name;
}

int sl_file_read_all(const char *path, size_t max, char **out, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct sl_buf b;
    char tmp[65536];
    ssize_t n;
    int rc = SL_OK;

    if (fd == -1) {
        return sl_rc_from_errno(errno);
    }
    sl_buf_init(&b, max);
    for (;;) {
        n = read(fd, tmp, sizeof(tmp));
        if (n == -1 && errno == EINTR) {
            continue;
        }
        if (n == -1) {
            rc = sl_rc_from_errno(errno);
            break;
        }
        if (n == 0) {
            break;
        }
        rc = sl_buf_append(&b, tmp, (size_t)n);
        if (rc != SL_OK) {
            break;
        }
    }
    close(fd);
    if (rc != SL_OK) {
        sl_buf_fini(&b);
        return rc;
    }
    *len = b.len;
    *out = sl_buf_take(&b);
    return *out != NULL ? SL_OK : SL_ENOMEM;
}

int sl_write_all(int fd, const void *p, size_t n)
{
    const char *s = p;

    while (n > 0) {
        ssize_t w = write(fd, s, n);

        if (w == -1) {
            if (errno == EINTR) {
                continue;
            }
            return sl_rc_from_errno(errno);
        }
        s += w;
        n -= (size_t)w;
    }
    return SL_OK;
}

int sl_file_write_atomic(const char *path, const void *data, size_t len,
                         unsigned mode)
{
    char tmp[PATH_MAX];
    int fd, rc;

    if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid()) >=
        sizeof(tmp)) {
        return SL_ELIMIT;
    }
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd == -1) {
        return sl_rc_from_errno(errno);
    }
    rc = sl_write_all(fd, data, len);
    if (rc == SL_OK && fsync(fd) != 0) {
        rc = sl_rc_from_errno(errno);
    }
    if (close(fd) != 0 && rc == SL_OK) {
        rc = sl_rc_from_errno(errno);
    }
    if (rc == SL_OK && rename(tmp, path) != 0) {
        rc = sl_rc_from_errno(errno);
    }
    if (rc != SL_OK) {
        unlink(tmp);
    }
    return rc;
}

int sl_mkdir_p(const char *path, unsigned mode)
{
    char buf[PATH_MAX];
    size_t n = strlen(path), i;

    if (n == 0 || n >= sizeof(buf)) {
        return SL_EINVAL;
    }
    memcpy(buf, path, n + 1);
    for (i = 1; i <= n; i++) {
        if (buf[i] != '/' && buf[i] != '\0') {
            continue;
        }
        buf[i] = '\0';
        if (mkdir(buf, mode) != 0 && errno != EEXIST) {
            return sl_rc_from_errno(errno);
        }
        if (i < n) {
            buf[i] = '/';
        }
    }
    return SL_OK;
}
