/*
 * plugin.h - the plugin interface: descriptors, callback contracts, and the
 * functions plugins call on the engine.
 *
 * Each plugin exports one const struct sl_plugin named sl_plugin_<dir>
 * (e.g. sl_plugin_in_tail in plugins/in_tail/in_tail.c).  Its options are
 * declared once in a table (option.h).  The core allocates conf_size bytes,
 * fills them from the YAML through the table, and only then calls init.
 * The conf is read-only after init; mutable state goes in the context
 * (sl_instance_set_ctx) or, for outputs, in a per-worker context.
 *
 * Threads.  Inputs, parsers and filters run on the main thread's event
 * loop (sl_instance_base).  Each output runs in <workers> worker threads,
 * each with its own event loop (sl_worker_base); its flush and worker_*
 * callbacks run there and must not touch main-loop objects.
 *
 * Plugins include only headers from src/sluice/ (and libraries such as
 * libevent, libcurl, OpenSSL, PCRE2, yajl directly).
 */
#ifndef SLUICE_PLUGIN_H
#define SLUICE_PLUGIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arena.h"
#include "buf.h"
#include "error.h"
#include "json.h"
#include "log.h"
#include "mem.h"
#include "metrics.h"
#include "option.h"
#include "record.h"
#include "str.h"
#include "timeutil.h"

#define SL_PLUGIN_ABI 1

struct event_base;
struct sl_instance;
struct sl_worker;
struct sl_batch;

enum sl_plugin_kind {
    SL_PLUGIN_INPUT,
    SL_PLUGIN_PARSER,
    SL_PLUGIN_FILTER,
    SL_PLUGIN_OUTPUT,
};

enum sl_filter_result {
    SL_FILTER_KEEP,     /* unchanged: pass it on */
    SL_FILTER_DROP,     /* drop it (counted as a filter drop) */
    SL_FILTER_MODIFIED, /* the DOM was changed: serialize after the chain */
};

enum sl_flush_result {
    SL_FLUSH_OK,      /* every record delivered */
    SL_FLUSH_RETRY,   /* transient failure: the engine backs off, retries */
    SL_FLUSH_PARTIAL, /* some records failed: see sl_batch_fail_record */
    SL_FLUSH_ERROR,   /* permanent failure for the whole batch */
    SL_FLUSH_PENDING, /* in progress: sl_batch_done() will follow, once */
};

/* What a parser produces from one line or message. */
struct sl_parse_result {
    struct sl_str body;     /* out: compact JSON object (a view into the
                               input when unchanged, or into scratch) */
    int64_t ts_ns;          /* out: event time, 0 when the line has none */
    struct sl_buf *scratch; /* in: caller's buffer, reset before the call */
};

/* One record of a batch. */
struct sl_event {
    int64_t ts_ns;
    struct sl_str body; /* compact JSON object, no newline */
    size_t index;       /* position in the batch, for sl_batch_fail_record */
};

struct sl_batch_iter {
    size_t off;
    size_t index;
};

struct sl_plugin {
    unsigned abi;              /* SL_PLUGIN_ABI */
    enum sl_plugin_kind kind;
    const char *name;          /* as used in "name:" in the YAML */
    const char *description;   /* one sentence ending with a period */
    const struct sl_option *options; /* ends with SL_OPT_END; may be NULL */
    size_t conf_size;          /* size of the conf struct the table fills */

    /* All kinds.  Main thread, after the conf is filled and checked.
     * Returns SL_OK, or an error with <err> filled (message for the
     * operator; the core adds the instance name and config position).  A
     * failed init frees what it made; exit is then not called. */
    int (*init)(struct sl_instance *ins, void *conf, struct sl_err *err);

    /* Inputs: main thread, once every instance was created: start reading
     * (register events on sl_instance_base).  Returns SL_OK or an error. */
    int (*start)(struct sl_instance *ins, struct sl_err *err);

    /* Inputs: stop reading until resume; called when the input's
     * mem_buf_limit or a routed output's queue limit is reached.  Must be
     * idempotent.  Nothing already read may be dropped. */
    void (*pause)(struct sl_instance *ins);
    void (*resume)(struct sl_instance *ins);

    /* Inputs: stop producing for good (shutdown or reload).  Main thread.
     * After it returns, the input must not call sl_input_* again. */
    void (*stop)(struct sl_instance *ins);

    /* Parsers: parse <n> bytes at <p> (one line or message, no trailing
     * newline).  Returns SL_OK, or SL_EPARSE when it does not match (the
     * core then keeps the line as {"log": ...} and counts it). */
    int (*parse)(struct sl_instance *ins, const char *p, size_t n,
                 struct sl_parse_result *res);

    /* Filters: called for each record whose tag matches.  May change the
     * record through its DOM (and return MODIFIED) or its tag. */
    enum sl_filter_result (*filter)(struct sl_instance *ins,
                                    struct sl_record *r);

    /* Outputs: on each worker thread when it starts, with its own loop
     * (sl_worker_base).  Set per-worker state with sl_worker_set_ctx. */
    int (*worker_init)(struct sl_instance *ins, struct sl_worker *w,
                       struct sl_err *err);

    /* Outputs: deliver a batch (records of one tag).  Worker thread.  The
     * batch stays valid until the result is known: returning anything but
     * PENDING ends it; PENDING means sl_batch_done() will be called exactly
     * once later, on the same worker thread.  A failing flush says why with
     * sl_batch_set_error. */
    enum sl_flush_result (*flush)(struct sl_batch *b, struct sl_worker *w);

    /* Outputs: worker thread is stopping; free per-worker state.  Pending
     * batches were completed or abandoned before this is called. */
    void (*worker_exit)(struct sl_instance *ins, struct sl_worker *w);

    /* All kinds: free the context.  Main thread, after stop/worker_exit. */
    void (*exit)(struct sl_instance *ins);

    /* Inputs: the parser used when the instance sets no "parser" (NULL:
     * lines become {"log": line}). */
    const char *default_parser;

    /* Inputs (optional): every record appended before <mark> (see
     * sl_input_mark) has been handled by every output it was routed to:
     * delivered, or given up by the configuration (dead-letter queue,
     * overflow drop) — or dropped by a filter.  Called on the main thread,
     * with marks that only grow.  Use it to acknowledge to the sender only
     * after delivery (Kafka offsets, HEC acks with ack_mode: delivered). */
    void (*delivered)(struct sl_instance *ins, uint64_t mark);
};

/* ---- every instance ---- */

/* "tail.0" (plugin name and index), or the instance's alias. */
const char *sl_instance_name(const struct sl_instance *ins);
const struct sl_plugin *sl_instance_plugin(const struct sl_instance *ins);
void *sl_instance_ctx(const struct sl_instance *ins);
void sl_instance_set_ctx(struct sl_instance *ins, void *ctx);

/* Main thread's event loop. */
struct event_base *sl_instance_base(const struct sl_instance *ins);

/* The configured tag of an input (defaults to the instance name). */
struct sl_str sl_instance_tag(const struct sl_instance *ins);

/* service.storage.path (never NULL). */
const char *sl_instance_storage_path(const struct sl_instance *ins);

/* The local host name, for records and templates. */
const char *sl_hostname(void);

/* ---- parsers, for filters (main thread only) ---- */

/* The engine's parser instance named <name>: one from the config's
 * "parsers:" section or a built-in default (json, logfmt, syslog).  NULL
 * when there is none, or when <ins> is a standalone instance (no engine).
 * The parser is borrowed: it lives as long as <ins>'s engine.  Call it at
 * init, not per record. */
struct sl_instance *sl_parser_lookup(struct sl_instance *ins,
                                     const char *name);

/* Parses <n> bytes at <p> with <parser> (from sl_parser_lookup) into
 * <res>; res->scratch is the caller's buffer and is reset first.  Returns
 * what the parser returns: SL_OK, SL_EPARSE or SL_ENOMEM. */
int sl_parser_parse(struct sl_instance *parser, const char *p, size_t n,
                    struct sl_parse_result *res);

/* ---- inputs (main thread only) ---- */

/* Appends one record with an already compact JSON object <body>: runs the
 * filters and routes it.  <ts_ns> 0 means now.  The bytes are copied.
 * Never drops: it is always accepted; check sl_input_paused() afterwards
 * to know whether to go on reading.  Returns SL_OK or SL_ENOMEM. */
int sl_input_append(struct sl_instance *ins, struct sl_str tag,
                    int64_t ts_ns, struct sl_str body);

/* Parses one raw line or message with the input's parser and appends it.
 * Counts <n> input bytes.  A line that does not parse is kept as
 * {"log": "<line>"} and counted as a parse failure.  No parser configured
 * and no default: {"log": "<line>"}. */
int sl_input_ingest(struct sl_instance *ins, struct sl_str tag,
                    const char *p, size_t n);

/* Appends bytes that should hold JSON (HTTP bodies, stdin): one object is
 * kept as is (compacted when it spans lines); anything else becomes
 * {"log": ...} and a parse failure.  Counts <n> input bytes. */
int sl_input_ingest_json(struct sl_instance *ins, struct sl_str tag,
                         const char *p, size_t n);

/* Makes every record this input appended so far as durable as the
 * storage configuration promises: with storage.type filesystem, written
 * to its chunk file (surviving a crash of the process) and, with
 * service.storage.sync full, fsynced.  Call it before acknowledging
 * records to their sender (an HTTP 2xx, a saved file offset).  With memory
 * storage it does nothing.  Returns SL_OK or an I/O error (then do not
 * acknowledge). */
int sl_input_commit(struct sl_instance *ins);

/* A position in this input's stream of appended records: the number of
 * records appended so far.  Pair it with the plugin's delivered callback:
 * once delivered(mark) is called with a mark >= this value, everything
 * appended before this call was handled by every routed output. */
uint64_t sl_input_mark(const struct sl_instance *ins);

/* The highest mark already reported delivered (0 at start). */
uint64_t sl_input_delivered(const struct sl_instance *ins);

/* The parser the input was configured with ("parser", or the plugin's
 * default_parser), or NULL: lines then become {"log": line}.  For inputs
 * that must see the parsed body before appending it (tail's path_key);
 * parse with sl_parser_parse.  Borrowed, lives as long as <ins>. */
struct sl_instance *sl_input_parser(const struct sl_instance *ins);

/* True when sl_input_commit makes records survive a crash of the process
 * (storage.type filesystem); false with memory storage, where records are
 * safe only once delivered (see the delivered callback). */
bool sl_input_commit_durable(const struct sl_instance *ins);

/* ---- multiline (sluice/multiline.h), for line-oriented inputs ---- */

struct sl_multiline_def;

/* The multiline definition <name>: an entry of the config's
 * multiline_parsers section, else a built-in (java, python, go, docker).
 * NULL when there is none.  The caller owns the result (free it with
 * sl_multiline_def_destroy).  Call it at init.  Main thread. */
struct sl_multiline_def *sl_multiline_lookup(struct sl_instance *ins,
                                             const char *name);

/* True while the engine wants the input to stop reading. */
bool sl_input_paused(const struct sl_instance *ins);

/* Counts <n> records the input itself had to drop, with a reason label
 * (e.g. "overrun" for UDP).  Every drop must be counted. */
void sl_input_dropped(struct sl_instance *ins, const char *reason,
                      uint64_t n);

/* The input has reached its end (stdin EOF).  When every input of the
 * pipeline has ended, the engine delivers what is buffered and exits. */
void sl_input_finished(struct sl_instance *ins);

/* ---- outputs (worker threads) ---- */

struct event_base *sl_worker_base(const struct sl_worker *w);
struct sl_instance *sl_worker_instance(const struct sl_worker *w);
void *sl_worker_ctx(const struct sl_worker *w);
void sl_worker_set_ctx(struct sl_worker *w, void *ctx);
unsigned sl_worker_id(const struct sl_worker *w);

/* The batch's tag, record count and total body bytes. */
struct sl_str sl_batch_tag(const struct sl_batch *b);
size_t sl_batch_count(const struct sl_batch *b);
size_t sl_batch_bytes(const struct sl_batch *b);
/* How many times this batch was tried before (0 on the first flush). */
unsigned sl_batch_attempts(const struct sl_batch *b);

void sl_batch_iter_init(const struct sl_batch *b, struct sl_batch_iter *it);
/* Next record, or false at the end. */
bool sl_batch_next(const struct sl_batch *b, struct sl_batch_iter *it,
                   struct sl_event *ev);

/* Completes a PENDING flush.  Worker thread, exactly once. */
void sl_batch_done(struct sl_batch *b, enum sl_flush_result r);

/* Why the flush failed (shown in logs, and kept for the dead-letter
 * queue).  Never include secrets. */
void sl_batch_set_error(struct sl_batch *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* The peer asked to wait <ms> before the next attempt (Retry-After). */
void sl_batch_retry_after(struct sl_batch *b, int64_t ms);

/* With SL_FLUSH_PARTIAL: record <index> failed; <permanent> sends it to
 * the dead-letter queue, otherwise only the failed records are retried. */
int sl_batch_fail_record(struct sl_batch *b, size_t index, bool permanent,
                         const char *error);

#endif
