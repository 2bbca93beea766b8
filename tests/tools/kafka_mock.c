/*
 * kafka_mock.c - librdkafka's built-in mock Kafka cluster as a process,
 * for the integration tests and the benchmark (Debian has no broker).
 *
 *   kafka_mock BROKERS BOOTSTRAP_FILE [TOPIC:PARTITIONS ...]
 *
 * Starts BROKERS mock brokers on 127.0.0.1 (ephemeral ports), creates the
 * topics, prints "BOOTSTRAP=host:port,..." on stdout and writes the list
 * to BOOTSTRAP_FILE (atomically, through a rename), then waits for a
 * signal.  SIGUSR1: the next 3 Produce requests fail with
 * NOT_ENOUGH_REPLICAS (retriable).  SIGUSR2: the next Produce request
 * fails with MSG_SIZE_TOO_LARGE (permanent).  SIGTERM/SIGINT: exit.
 *
 * Built by the tests themselves (cc ... $(pkg-config --cflags --libs
 * rdkafka)), never by the Makefile.  The mock is not a broker: it keeps
 * everything in memory and its timings say nothing about a real cluster.
 */
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int mock_topics(rd_kafka_mock_cluster_t *mc, int brokers, int argc,
                       char **argv)
{
    char name[256], *colon, *end;
    long parts;
    int i;

    for (i = 3; i < argc; i++) {
        snprintf(name, sizeof(name), "%s", argv[i]);
        parts = 1;
        colon = strchr(name, ':');
        if (colon != NULL) {
            *colon = '\0';
            parts = strtol(colon + 1, &end, 10);
            if (*end != '\0' || parts < 1 || parts > 1000) {
                fprintf(stderr, "kafka_mock: bad topic spec %s\n", argv[i]);
                return 1;
            }
        }
        if (rd_kafka_mock_topic_create(mc, name, (int)parts,
                                       brokers < 3 ? brokers : 3) != 0) {
            fprintf(stderr, "kafka_mock: cannot create topic %s\n", name);
            return 1;
        }
    }
    return 0;
}

static int mock_write_bootstrap(const char *path, const char *bs)
{
    char tmp[4096];
    FILE *f;

    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    f = fopen(tmp, "w");
    if (f == NULL) {
        return 1;
    }
    fprintf(f, "%s\n", bs);
    if (fclose(f) != 0) {
        return 1;
    }
    return rename(tmp, path) != 0;
}

static void mock_wait(rd_kafka_mock_cluster_t *mc)
{
    sigset_t set;
    int sig = 0;

    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGUSR1);
    sigaddset(&set, SIGUSR2);
    for (;;) {
        if (sigwait(&set, &sig) != 0) {
            continue;
        }
        if (sig == SIGUSR1) {
            rd_kafka_mock_push_request_errors(
                mc, 0, 3, RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS,
                RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS,
                RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS);
            fprintf(stderr, "kafka_mock: 3 retriable Produce errors armed\n");
        } else if (sig == SIGUSR2) {
            rd_kafka_mock_push_request_errors(
                mc, 0, 1, RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE);
            fprintf(stderr, "kafka_mock: 1 permanent Produce error armed\n");
        } else {
            return;
        }
    }
}

int main(int argc, char **argv)
{
    rd_kafka_mock_cluster_t *mc;
    rd_kafka_conf_t *conf;
    char errstr[512];
    sigset_t set;
    rd_kafka_t *rk;
    int brokers;
    int rc = 1;

    if (argc < 3) {
        fprintf(stderr, "usage: kafka_mock BROKERS BOOTSTRAP_FILE "
                        "[TOPIC:PARTITIONS ...]\n");
        return 2;
    }
    brokers = (int)strtol(argv[1], NULL, 10);
    if (brokers < 1 || brokers > 16) {
        fprintf(stderr, "kafka_mock: BROKERS must be 1 to 16\n");
        return 2;
    }
    /* Block the signals before librdkafka starts its threads, so that
     * only sigwait() sees them. */
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGUSR1);
    sigaddset(&set, SIGUSR2);
    pthread_sigmask(SIG_BLOCK, &set, NULL);

    conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "log_level", "3", errstr, sizeof(errstr));
    rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    if (rk == NULL) {
        fprintf(stderr, "kafka_mock: %s\n", errstr);
        return 1;
    }
    mc = rd_kafka_mock_cluster_new(rk, brokers);
    if (mc == NULL) {
        fprintf(stderr, "kafka_mock: cannot create the mock cluster\n");
        goto out;
    }
    if (mock_topics(mc, brokers, argc, argv) != 0 ||
        mock_write_bootstrap(argv[2],
                             rd_kafka_mock_cluster_bootstraps(mc)) != 0) {
        goto out_mc;
    }
    printf("BOOTSTRAP=%s\n", rd_kafka_mock_cluster_bootstraps(mc));
    fflush(stdout);
    mock_wait(mc);
    rc = 0;
out_mc:
    rd_kafka_mock_cluster_destroy(mc);
out:
    rd_kafka_destroy(rk);
    return rc;
}
