/*
 * engine.h - the pipeline engine: instances built from a config, the main
 * loop's timers, chunk dispatch to outputs, acknowledgements, pause and
 * resume, shutdown and reload.
 *
 * Threads: everything here runs on the main thread except what worker.c
 * runs on output worker threads.  The two sides meet only in the output
 * queues (worker.c) and the acknowledgement queue (sl_engine_post_ack),
 * both mutex-protected lists with a libevent wake-up.
 *
 * Main types:
 *   struct sl_engine    one configured pipeline (a reload builds a new one)
 *   struct sl_instance  one configured plugin (defined here, opaque to
 *                       plugins)
 *   struct sl_route     per-tag cache of the filters and outputs a tag
 *                       goes through
 */
#ifndef SLUICE_ENGINE_H
#define SLUICE_ENGINE_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <event2/event.h>

#include "chunk.h"
#include "config.h"
#include "health.h"
#include "metrics.h"
#include "router.h"
#include "util.h"
#include "sluice/plugin.h"

#define SL_MAX_OUTPUTS 64
#define SL_MAX_FILTERS 256

enum sl_storage_type {
    SL_STORAGE_MEMORY,
    SL_STORAGE_FILESYSTEM,
};

/* Options every instance has (which ones apply depends on the kind). */
struct sl_generic_conf {
    char *name;
    char *alias;
    char *tag;
    char *parser;
    char *match;
    char *match_regex;
    char *retry_limit;
    uint64_t mem_buf_limit;
    int storage_type;
    int log_level; /* index into the choices: 0 = service's level */
    int64_t workers;
    int64_t retry_base_ms;
    int64_t retry_max_ms;
    uint64_t total_limit_size;
    int overflow;
    bool dlq;
};

enum sl_overflow {
    SL_OVERFLOW_BLOCK,
    SL_OVERFLOW_DROP_OLDEST,
    SL_OVERFLOW_DROP_NEWEST,
};

enum sl_storage_sync {
    SL_SYNC_NORMAL,
    SL_SYNC_FULL,
};

/* Why an input's chunk was sealed (sluice_input_chunks_sealed_total). */
enum sl_seal_reason {
    SL_SEAL_FULL,  /* reached chunk_size */
    SL_SEAL_FLUSH, /* the flush tick, a stop or the input's end */
    SL_SEAL_IDLE,  /* idle flush */
    SL_SEAL_NREASONS
};

/* service section. */
struct sl_service_conf {
    int64_t flush_ms;
    bool idle_flush;
    int64_t idle_flush_min_age_ms;
    int64_t storage_idle_flush_min_age_ms;
    int64_t grace_ms;
    int log_level;
    int log_format;
    bool http_server;
    char *http_listen;
    int64_t http_port;
    char *http_port_file;
    char *http_auth_token;
    char *pid_file;
    char *storage_path;
    int storage_sync;
    bool storage_checksum;
    uint64_t chunk_size;
    int64_t health_max_failed_flushes;
    uint64_t memory_limit;
};

struct sl_output;

struct sl_instance {
    const struct sl_plugin *plugin;
    struct sl_engine *engine; /* NULL for standalone instances */
    struct sl_metrics *metrics;
    struct event_base *base;
    char name[96];
    unsigned index;          /* among instances of the same plugin */
    unsigned slot;           /* outputs: bit in route masks; filters: order */
    int log_level;           /* -1 = global */
    struct sl_generic_conf g;
    void *conf;
    void *ctx;
    bool inited;
    bool started;
    const char *cfg_file;
    unsigned cfg_line, cfg_col;
    struct sl_str tag;

    /* inputs */
    struct sl_instance *parser; /* borrowed from the engine's parsers */
    bool paused;
    bool finished;
    bool stopped;
    uint64_t buffered;          /* bytes of chunk memory not yet freed */
    uint64_t out_mask;          /* outputs its tags were routed to */
    bool blocked;               /* paused by an output's storage limit */
    char *chunk_dir;            /* filesystem storage: where its chunks go */
    uint64_t append_seq;        /* records appended so far */
    uint64_t delivered_seq;     /* all records before this one are done */
    bool delivered_frozen;      /* a chunk was abandoned: never advance */
    struct sl_chunk *out_head, *out_tail; /* outstanding chunks, in order */
    struct sl_strmap open_chunks; /* tag -> struct sl_chunk * */
    struct sl_chunk *last_chunk;  /* fast path: last tag appended to */
    struct sl_metric *m_records, *m_bytes, *m_parse_fail, *m_paused;
    struct sl_metric *m_sealed[SL_SEAL_NREASONS];
    uint64_t n_records, n_bytes; /* not yet added to m_records/m_bytes */

    /* filters and outputs */
    struct sl_matcher matcher;
    struct sl_metric *m_dropped, *m_modified;

    /* outputs */
    struct sl_output *out;
    int64_t retry_limit; /* -1 = no limit */
};

/* Per-tag routing decision, cached by tag. */
/* Priorities of the main loop's events: libevent runs a priority's
 * callbacks only when no more urgent one is active.  Everything but the
 * idle check gets the default (1); the idle check (2) therefore runs only
 * once every socket, file and timer callback of the pass is done, which
 * is when an input has drained what it could read. */
#define SL_LOOP_PRIORITIES 3
#define SL_LOOP_PRIORITY_IDLE 2

struct sl_route {
    size_t nfilters;
    struct sl_instance **filters;
    uint64_t outputs; /* bit i = engine->outputs[i] */
};

struct sl_ack;

struct sl_engine {
    struct event_base *base;
    struct sl_config *cfg;
    struct sl_metrics *metrics;
    struct sl_service_conf svc;

    struct sl_instance **inputs;
    size_t ninputs;
    struct sl_instance **parsers; /* named parsers + built-in defaults */
    size_t nparsers;
    struct sl_instance **filters;
    size_t nfilters;
    struct sl_instance **outputs;
    size_t noutputs;

    struct sl_strmap routes; /* tag -> struct sl_route * */

    struct event *flush_timer;
    struct event *idle_event; /* lowest priority: runs when the loop has
                                 nothing else to do (see SL_LOOP_PRIORITIES) */
    struct event *idle_timer; /* re-runs the idle check for a young chunk */
    bool idle_armed;          /* idle_event is active */
    struct event *ack_event;  /* activated by workers */
    struct event *drain_timer;
    pthread_mutex_t ack_lock;
    struct sl_ack *acks;      /* posted by workers, taken by main */

    /* scratch buffers for the record path (main thread) */
    struct sl_buf scratch_parse;
    struct sl_buf scratch_body;
    struct sl_buf scratch_log;
    struct sl_arena arena;
    void *json_checker;       /* struct sl_json_checker * */

    struct sl_metric *m_unrouted;
    struct sl_metric *m_chunks_mem, *m_chunks_fs, *m_bytes_mem, *m_bytes_fs;
    struct sl_metric *m_recovered, *m_truncated, *m_corrupt;
    int64_t chunks_mem, chunks_fs, bytes_mem, bytes_fs;
    uint64_t first_chunk_id;  /* chunks with lower ids predate this engine */
    bool defer_recovery;      /* reload: recover once the old one is gone */
    struct sl_fsyncq *fsyncq; /* fsync of sealed chunk files, off the loop */
    uint64_t chunks_in_flight;  /* sealed chunks not yet freed */
    bool running;
    bool stopping;           /* inputs stopped, draining */
    bool all_finished_notified;
    int64_t drain_deadline_mono_ns;
    int64_t start_ns;

    /* Called once when a drain finished (everything delivered or grace
     * expired); set by main.c. */
    void (*on_drained)(struct sl_engine *e, void *arg);
    void *on_drained_arg;
    /* Called when every input finished (stdin EOF). */
    void (*on_inputs_finished)(struct sl_engine *e, void *arg);
};

/* Builds an engine from <cfg> (which it takes over): creates and inits
 * every instance, collecting all errors in <errs>.  Nothing is started.
 * <base> is the main loop, <m> the process metrics registry. */
int sl_engine_create(struct event_base *base, struct sl_metrics *m,
                     struct sl_config *cfg, struct sl_engine **out,
                     struct sl_errlist *errs);

/* Parses only the service section of <cfg> into <svc> (for main.c). */
int sl_engine_service_conf(const struct sl_config *cfg,
                           struct sl_service_conf *svc,
                           struct sl_errlist *errs);
void sl_engine_service_conf_free(struct sl_service_conf *svc);

/* Starts output workers, then inputs and the flush timer. */
int sl_engine_start(struct sl_engine *e, struct sl_err *err);

/* Stops inputs, seals open chunks and waits (on the loop) until every
 * chunk is delivered or <grace_ms> passed; then calls on_drained.
 * grace_ms < 0: no deadline. */
void sl_engine_drain(struct sl_engine *e, int64_t grace_ms);

/* Stops workers and frees everything (after drain). */
void sl_engine_destroy(struct sl_engine *e);

/* GET /api/v1/storage: chunks and bytes per input and output, oldest
 * chunk age. */
int sl_engine_storage_json(struct sl_engine *e, struct sl_buf *out);

/* Health for the admin server. */
void sl_engine_health(struct sl_engine *e, struct sl_health *h);

/* ---- used by input.c and worker.c ---- */

/* Seals <c> and hands it to its routed outputs (or frees it when none). */
void sl_engine_dispatch(struct sl_engine *e, struct sl_chunk *c);

/* Queues sealed chunk <c> to output <slot> only (replay). */
void sl_engine_push_to(struct sl_engine *e, struct sl_chunk *c, unsigned slot);

/* sluice replay (replay.c). */
int sl_replay_main(const char *config, const char *output, char **files,
                   int nfiles);

/* Worker -> main: <c> is done for output <out_slot> (<delivered> false:
 * abandoned at shutdown, kept on disk for the next start).  Any thread. */
void sl_engine_post_ack(struct sl_engine *e, struct sl_chunk *c,
                        unsigned out_slot, bool delivered);

/* Scans service.storage.path for chunk files left by an earlier run (or a
 * previous pipeline before a reload) and queues them to the outputs that
 * have not acknowledged them.  Main thread, before inputs start. */
void sl_engine_recover(struct sl_engine *e);

/* Route for <tag> (computed and cached on first use). */
struct sl_route *sl_engine_route(struct sl_engine *e, struct sl_str tag);

/* Input pause by an output's storage limit (overflow: block). */
void sl_input_set_blocked(struct sl_instance *ins, bool blocked);

/* Storage gauges: <sign> +1 when chunk <c> is sealed, -1 when freed. */
void sl_engine_storage_gauges(struct sl_engine *e, const struct sl_chunk *c,
                              int sign);

/* Publishes the input's record and byte counts (kept in plain fields on
 * the hot path, added to the metrics at every seal and flush tick). */
void sl_input_publish_counts(struct sl_instance *ins);

/* Chunk <c> of <ins> is done (freed): may advance the delivered mark. */
void sl_input_chunk_done(struct sl_instance *ins, struct sl_chunk *c);

/* Input accounting: called when a chunk of <ins> is freed. */
void sl_input_release(struct sl_instance *ins, size_t bytes);

/* Seals every open chunk of <ins> (flush timer, stop). */
void sl_input_flush_chunks(struct sl_instance *ins);

/* Idle flush: seals each open chunk of <ins> whose routed outputs are all
 * in <hungry> (bit i: engine->outputs[i] can take a batch now) and that
 * is old enough (service.idle_flush_min_age, or for a file-backed chunk
 * service.storage.idle_flush_min_age; monotonic <now_ns>).  Lowers
 * *wait_ns to the time until a younger such chunk qualifies. */
void sl_input_idle_seal(struct sl_instance *ins, uint64_t hungry,
                        int64_t now_ns, int64_t *wait_ns);

/* Records were appended: schedule the idle check (cheap when scheduled). */
static inline void sl_engine_idle_arm(struct sl_engine *e)
{
    if (!e->idle_armed && e->idle_event != NULL) {
        e->idle_armed = true;
        event_active(e->idle_event, EV_TIMEOUT, 1);
    }
}

/* Creates an instance of <p> from config map <map> (NULL = defaults).
 * <engine> may be NULL (standalone).  Errors go to <errs>. */
struct sl_instance *sl_instance_create(struct sl_engine *engine,
                                       const struct sl_plugin *p,
                                       const struct sl_config *cfg,
                                       const struct sl_cnode *map,
                                       unsigned index,
                                       struct sl_errlist *errs);

/* ---- tap (GET /api/v1/tap) ----
 * One hook, called on the main thread for every record after the filter
 * chain (tag, event time, final body), whether or not it is routed.  NULL
 * (the default) costs one pointer test per record. */
typedef void (*sl_engine_tap_fn)(void *arg, struct sl_str tag, int64_t ts_ns,
                                 struct sl_str body);
extern sl_engine_tap_fn sl_engine_tap;
extern void *sl_engine_tap_arg;
void sl_engine_set_tap(sl_engine_tap_fn fn, void *arg);

#endif
