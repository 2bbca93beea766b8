/*
 * tcp_sink.c - counting TCP sink for scripts/bench.
 *
 * usage: tcp_sink PORT_FILE EXPECTED_LINES TIMEOUT_SECONDS
 *
 * Listens on 127.0.0.1 on an ephemeral port and writes the port number to
 * PORT_FILE.  Accepts connections (a client may reconnect), reads with a
 * 1 MiB buffer and counts bytes and newlines.  Exits when EXPECTED_LINES
 * newlines arrived (status 0) or after TIMEOUT_SECONDS (status 1), printing
 * one line: "lines=N bytes=N done_ns=REALTIME_NS connections=N".
 * Built by scripts/bench with cc -O2; not part of the daemon build.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_CONNS 64
#define BUF_SIZE (1 << 20)

static int64_t now_ns(clockid_t clk)
{
    struct timespec ts;

    clock_gettime(clk, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int listen_any(const char *port_file)
{
    struct sockaddr_in sa;
    socklen_t len = sizeof(sa);
    FILE *f;
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
        listen(fd, 16) < 0 || getsockname(fd, (struct sockaddr *)&sa, &len) < 0) {
        perror("tcp_sink: listen");
        exit(2);
    }
    f = fopen(port_file, "w");
    if (f == NULL || fprintf(f, "%u\n", ntohs(sa.sin_port)) < 0 || fclose(f) != 0) {
        perror("tcp_sink: port file");
        exit(2);
    }
    return fd;
}

static uint64_t count_nl(const char *p, size_t n)
{
    uint64_t c = 0;
    const char *end = p + n;

    while ((p = memchr(p, '\n', (size_t)(end - p))) != NULL) {
        c++;
        p++;
    }
    return c;
}

int main(int argc, char **argv)
{
    struct pollfd pfd[MAX_CONNS + 1];
    static char buf[BUF_SIZE];
    uint64_t want, lines = 0, bytes = 0, conns = 0;
    int64_t deadline;
    int nfds = 1, i;

    if (argc != 4) {
        fprintf(stderr, "usage: %s PORT_FILE EXPECTED_LINES TIMEOUT_SECONDS\n", argv[0]);
        return 2;
    }
    want = strtoull(argv[2], NULL, 10);
    deadline = now_ns(CLOCK_MONOTONIC) + (int64_t)atoi(argv[3]) * 1000000000;
    pfd[0].fd = listen_any(argv[1]);
    pfd[0].events = POLLIN;
    while (lines < want && now_ns(CLOCK_MONOTONIC) < deadline) {
        if (poll(pfd, (nfds_t)nfds, 200) <= 0)
            continue;
        if ((pfd[0].revents & POLLIN) && nfds <= MAX_CONNS) {
            int c = accept(pfd[0].fd, NULL, NULL);
            if (c >= 0) {
                pfd[nfds].fd = c;
                pfd[nfds].events = POLLIN;
                pfd[nfds].revents = 0;
                nfds++;
                conns++;
            }
        }
        for (i = 1; i < nfds; i++) {
            ssize_t n;

            if (!(pfd[i].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            n = read(pfd[i].fd, buf, sizeof(buf));
            if (n > 0) {
                bytes += (uint64_t)n;
                lines += count_nl(buf, (size_t)n);
            } else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
                close(pfd[i].fd);
                pfd[i] = pfd[--nfds];
                i--;
            }
        }
    }
    printf("lines=%llu bytes=%llu done_ns=%lld connections=%llu\n",
           (unsigned long long)lines, (unsigned long long)bytes,
           (long long)now_ns(CLOCK_REALTIME), (unsigned long long)conns);
    return lines >= want ? 0 : 1;
}
