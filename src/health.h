/*
 * health.h - the engine's view of its own health, as the admin server
 * reports it on /health, /health/live and /health/ready.
 */
#ifndef SLUICE_HEALTH_H
#define SLUICE_HEALTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SL_HEALTH_MAX 128

struct sl_health_item {
    char name[96];   /* instance name, e.g. "tcp.0" */
    char kind[16];   /* "input", "filter", "output", "storage" */
    char plugin[32]; /* plugin name */
    bool ok;         /* false makes the daemon not ready */
    char status[16]; /* "ok", "failing", "paused", "retrying", ... */
    char reason[256];/* empty when ok */
    uint64_t consecutive_failures;
};

struct sl_health {
    int64_t start_ns;  /* process start (wall clock) */
    int64_t now_ns;
    bool live;         /* the main loop is turning */
    bool ready;        /* every item ok and the pipeline started */
    char version[32];
    size_t n;
    struct sl_health_item items[SL_HEALTH_MAX];
};

#endif
