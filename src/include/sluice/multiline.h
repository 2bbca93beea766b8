/*
 * multiline.h - the multiline engine: joins the lines of one event (a Java
 * stack trace, a Python traceback, a Go panic, Docker's split JSON lines)
 * into one record.  Shared by every line-oriented input.
 *
 * A definition (struct sl_multiline_def) says how lines group: either a
 * rule-based state machine (the "multiline_parsers" section of the config:
 * a start_state regex, continuation regexes, next states, flush_timeout),
 * or one of the built-ins "java", "python", "go", "docker".  A definition
 * is immutable once built and may be used by many streams.
 *
 * A stream (struct sl_multiline) holds the pending record of one source
 * (one file).  Feed it lines without their newline; it calls the emit
 * callback for each complete record, from inside sl_multiline_feed,
 * sl_multiline_flush or sl_multiline_expire.  Rule-based records are the
 * lines joined with "\n" (text: hand them to the input's parser); docker
 * records are a compact JSON object (the last line's object with "log"
 * replaced by the joined text).
 *
 * Rules, as in Fluent Bit's multiline parsers: the machine starts in state
 * "start_state".  A line that matches a rule of the current state (other
 * than start_state) continues the pending record and moves to that rule's
 * next_state.  Otherwise, a line that matches a start_state rule flushes
 * the pending record and begins a new one.  Any other line flushes the
 * pending record and is emitted alone.  A pending record is flushed when
 * flush_timeout passes without a continuation (sl_multiline_expire), or
 * when it reaches max_lines or max_bytes (the record is marked "bounded"
 * and the line that did not fit starts the next one, in the same state).
 *
 * Not thread-safe: a stream is used by one thread (the main loop).
 */
#ifndef SLUICE_MULTILINE_H
#define SLUICE_MULTILINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

struct sl_multiline_def;
struct sl_multiline;

/* One rule of a rule-based definition. */
struct sl_multiline_rule {
    const char *state;      /* "start_state" or a continuation state */
    const char *regex;      /* PCRE2; "/re/" slashes are stripped */
    const char *next_state; /* state after a match */
};

/* Everything a rule-based definition is built from (copied). */
struct sl_multiline_spec {
    const char *name;
    const struct sl_multiline_rule *rules;
    size_t nrules;
    int64_t flush_timeout_ms; /* 0: never flush on time */
    size_t max_lines;         /* 0: SL_MULTILINE_MAX_LINES */
    size_t max_bytes;         /* 0: SL_MULTILINE_MAX_BYTES */
};

#define SL_MULTILINE_MAX_LINES        1000
#define SL_MULTILINE_MAX_BYTES        ((size_t)1 << 20)
#define SL_MULTILINE_FLUSH_TIMEOUT_MS 2000

/* A complete record handed to the emit callback (valid during the call). */
struct sl_multiline_out {
    const char *p;
    size_t n;
    bool json;    /* p is a compact JSON object (docker), else text */
    bool bounded; /* flushed because it reached max_lines/max_bytes */
    size_t lines; /* lines joined into it */
};

/* Called for each record; a non-SL_OK return is passed back to the caller
 * of feed/flush/expire (the record counts as emitted). */
typedef int (*sl_multiline_emit_fn)(void *arg,
                                    const struct sl_multiline_out *rec);

/* Builds a rule-based definition from <spec>.  Checks that there is a
 * start_state rule, that every regex compiles and every next_state names a
 * state that has rules (or start_state).  Returns SL_OK with *<out> set,
 * SL_ECONFIG with <err> saying what is wrong, or SL_ENOMEM. */
int sl_multiline_def_create(const struct sl_multiline_spec *spec,
                            struct sl_multiline_def **out, struct sl_err *err);

/* The built-in definition <name> ("java", "python", "go", "docker"), or
 * NULL when there is none (or on ENOMEM).  The caller owns it. */
struct sl_multiline_def *sl_multiline_def_builtin(const char *name);

/* True when <name> names a built-in definition. */
bool sl_multiline_builtin_exists(const char *name);

void sl_multiline_def_destroy(struct sl_multiline_def *def);

const char *sl_multiline_def_name(const struct sl_multiline_def *def);
int64_t sl_multiline_def_flush_timeout_ms(const struct sl_multiline_def *def);

/* A stream using <def> (borrowed: it must outlive the stream).  NULL on
 * ENOMEM. */
struct sl_multiline *sl_multiline_create(const struct sl_multiline_def *def,
                                         sl_multiline_emit_fn emit, void *arg);
/* Frees the stream; a pending record is dropped (flush it first). */
void sl_multiline_destroy(struct sl_multiline *m);

/* Feeds one line (<n> bytes at <p>, no newline).  <now_ns> is a monotonic
 * time, used for flush_timeout.  Returns SL_OK, SL_ENOMEM (the line was not
 * taken: feed it again), or what emit returned. */
int sl_multiline_feed(struct sl_multiline *m, const char *p, size_t n,
                      int64_t now_ns);

/* Emits the pending record, if any.  Returns SL_OK or emit's error. */
int sl_multiline_flush(struct sl_multiline *m);

/* Emits the pending record when flush_timeout has passed since its last
 * line (<now_ns> monotonic).  Returns SL_OK or emit's error. */
int sl_multiline_expire(struct sl_multiline *m, int64_t now_ns);

/* True while a record is pending. */
bool sl_multiline_pending(const struct sl_multiline *m);

/* Monotonic time at which the pending record times out; 0 when nothing is
 * pending or the definition has no flush_timeout. */
int64_t sl_multiline_deadline_ns(const struct sl_multiline *m);

/* ---- core only (src/engine.c) ---- */

struct sl_config;
struct sl_errlist;

/* Checks the config's multiline_parsers section: every entry a map with a
 * unique name, known keys, valid rules.  Problems go to <errs> with their
 * file:line:col.  Returns SL_OK or SL_ECONFIG. */
int sl_multiline_validate(const struct sl_config *cfg, struct sl_errlist *errs);

#endif
