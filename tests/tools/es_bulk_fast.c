/*
 * es_bulk_fast.c - minimal, fast Elasticsearch _bulk sink for scripts/bench.
 *
 * usage: es_bulk_fast PORT_FILE EXPECTED_DOCS TIMEOUT_SECONDS
 *
 * Listens on 127.0.0.1 on an ephemeral port (written to PORT_FILE), speaks
 * just enough HTTP/1.1 with keep-alive: each request must carry
 * Content-Length (no chunked bodies, no gzip).  Every request is answered
 * 200 with {"took":1,"errors":false,"items":[...]} holding one
 * {"index":{"status":201}} item per action, counting actions as body
 * newlines / 2.  Exits when EXPECTED_DOCS documents arrived (status 0) or
 * after TIMEOUT_SECONDS (status 1), printing one line:
 * "lines=N bytes=N done_ns=REALTIME_NS connections=N requests=N".
 * Built by scripts/bench with cc -O2; not part of the daemon build.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_CONNS 32
#define ITEM "{\"index\":{\"status\":201}}"

struct conn {
    int fd;
    char *buf;
    size_t len, cap;
};

static int64_t now_ns(clockid_t clk)
{
    struct timespec ts;

    clock_gettime(clk, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static char *resp;
static size_t resp_cap;

static int reply(int fd, size_t items)
{
    size_t need = 128 + items * (sizeof(ITEM)), off, body_len, i;
    char head[128];
    int hl;

    if (need > resp_cap) {
        resp = realloc(resp, need);
        if (resp == NULL) {
            return -1;
        }
        resp_cap = need;
    }
    off = (size_t)snprintf(resp, resp_cap, "{\"took\":1,\"errors\":false,\"items\":[");
    for (i = 0; i < items; i++) {
        if (i > 0) {
            resp[off++] = ',';
        }
        memcpy(resp + off, ITEM, sizeof(ITEM) - 1);
        off += sizeof(ITEM) - 1;
    }
    resp[off++] = ']';
    resp[off++] = '}';
    body_len = off;
    hl = snprintf(head, sizeof(head), "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                  "X-Elastic-Product: Elasticsearch\r\nContent-Length: %zu\r\n\r\n", body_len);
    if (write(fd, head, (size_t)hl) != hl) {
        return -1;
    }
    for (off = 0; off < body_len;) {
        ssize_t w = write(fd, resp + off, body_len - off);

        if (w <= 0) {
            return -1;
        }
        off += (size_t)w;
    }
    return 0;
}

/* Handles every complete request in c->buf; returns docs counted or -1. */
static long long drain(struct conn *c, unsigned long long *bytes, unsigned long long *reqs)
{
    long long docs = 0;

    for (;;) {
        char *end = memmem(c->buf, c->len, "\r\n\r\n", 4), *p;
        size_t hlen, clen = 0, total, nl = 0, i;

        if (end == NULL) {
            return docs;
        }
        hlen = (size_t)(end - c->buf) + 4;
        for (p = c->buf; p < end; p = strstr(p, "\r\n") + 2) {
            if (strncasecmp(p, "Content-Length:", 15) == 0) {
                clen = strtoull(p + 15, NULL, 10);
            }
            if (strstr(p, "\r\n") == NULL) {
                break;
            }
        }
        total = hlen + clen;
        if (c->len < total) {
            if (total > c->cap) {
                c->buf = realloc(c->buf, total);
                c->cap = total;
            }
            return docs;
        }
        for (i = hlen; i < total; i++) {
            nl += c->buf[i] == '\n';
        }
        *bytes += clen;
        (*reqs)++;
        if (reply(c->fd, nl / 2) != 0) {
            return -1;
        }
        docs += (long long)(nl / 2);
        memmove(c->buf, c->buf + total, c->len - total);
        c->len -= total;
    }
}

static int listen_on(const char *port_file)
{
    struct sockaddr_in sa = { .sin_family = AF_INET };
    socklen_t sl = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    FILE *f;

    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(fd, 64) != 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &sl) != 0) {
        perror("listen");
        return -1;
    }
    f = fopen(port_file, "w");
    if (f == NULL || fprintf(f, "%u\n", ntohs(sa.sin_port)) < 0 || fclose(f) != 0) {
        perror(port_file);
        return -1;
    }
    return fd;
}

int main(int argc, char **argv)
{
    struct pollfd pf[MAX_CONNS + 1];
    struct conn cs[MAX_CONNS];
    unsigned long long docs = 0, bytes = 0, conns = 0, reqs = 0, want;
    int64_t deadline;
    int lfd, n = 0, i, rc = 1;

    if (argc != 4) {
        fprintf(stderr, "usage: %s PORT_FILE EXPECTED_DOCS TIMEOUT_SECONDS\n", argv[0]);
        return 2;
    }
    want = strtoull(argv[2], NULL, 10);
    deadline = now_ns(CLOCK_MONOTONIC) + strtoll(argv[3], NULL, 10) * 1000000000;
    lfd = listen_on(argv[1]);
    if (lfd < 0) {
        return 2;
    }
    while (docs < want && now_ns(CLOCK_MONOTONIC) < deadline) {
        pf[0] = (struct pollfd){ .fd = lfd, .events = POLLIN };
        for (i = 0; i < n; i++) {
            pf[i + 1] = (struct pollfd){ .fd = cs[i].fd, .events = POLLIN };
        }
        if (poll(pf, (nfds_t)n + 1, 200) <= 0) {
            continue;
        }
        if ((pf[0].revents & POLLIN) && n < MAX_CONNS) {
            int fd = accept(lfd, NULL, NULL);

            if (fd >= 0) {
                cs[n] = (struct conn){ .fd = fd, .cap = 1 << 20 };
                cs[n].buf = malloc(cs[n].cap);
                n++;
                conns++;
            }
        }
        for (i = 0; i < n; i++) {
            struct conn *c = &cs[i];
            ssize_t r;
            long long d;

            if (!(pf[i + 1].revents & (POLLIN | POLLHUP | POLLERR))) {
                continue;
            }
            if (c->len == c->cap) {
                c->cap *= 2;
                c->buf = realloc(c->buf, c->cap);
            }
            r = read(c->fd, c->buf + c->len, c->cap - c->len);
            d = r > 0 ? (c->len += (size_t)r, drain(c, &bytes, &reqs)) : -1;
            if (d < 0) {
                close(c->fd);
                free(c->buf);
                cs[i] = cs[--n];
                pf[i + 1] = pf[n + 1];
                i--;
                continue;
            }
            docs += (unsigned long long)d;
        }
    }
    if (docs >= want) {
        rc = 0;
    }
    printf("lines=%llu bytes=%llu done_ns=%lld connections=%llu requests=%llu\n", docs, bytes,
           (long long)now_ns(CLOCK_REALTIME), conns, reqs);
    return rc;
}
