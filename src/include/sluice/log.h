/*
 * log.h - the daemon's own log.
 *
 * Lines go to stderr as JSON ({"timestamp","level","component","message",
 * plus context fields}) or as readable text when stderr is a terminal.  The
 * macros test the level before the arguments are evaluated.  The component
 * is the instance name (e.g. "tail.0") when an instance is given, else the
 * core component string.  Repeated lines from the same call site are
 * rate-limited (at most SL_LOG_BURST per SL_LOG_WINDOW_S seconds; the
 * number suppressed is reported on the next line that passes).  Never log
 * record bodies above debug, and never log secrets.  Thread-safe.
 */
#ifndef SLUICE_LOG_H
#define SLUICE_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sl_instance;

enum sl_log_level {
    SL_LOG_OFF = 0,
    SL_LOG_ERROR,
    SL_LOG_WARN,
    SL_LOG_INFO,
    SL_LOG_DEBUG,
    SL_LOG_TRACE,
};

#define SL_LOG_BURST 10
#define SL_LOG_WINDOW_S 10

struct sl_log_kv {
    const char *key;
    const char *val;
};

/* True when a line at <level> from <ins> (NULL: core) would be written. */
bool sl_log_enabled(const struct sl_instance *ins, int level);

/* Writes one line.  <component> is used when <ins> is NULL.  <kv> holds
 * <nkv> extra string fields (may be NULL/0). */
void sl_log_emit(const struct sl_instance *ins, const char *component,
                 int level, const struct sl_log_kv *kv, size_t nkv,
                 const char *fmt, ...) __attribute__((format(printf, 6, 7)));

#define SL_LOG_AT_(ins, comp, lvl, kv, nkv, ...)                              \
    do {                                                                      \
        if (sl_log_enabled((ins), (lvl))) {                                   \
            sl_log_emit((ins), (comp), (lvl), (kv), (nkv), __VA_ARGS__);      \
        }                                                                     \
    } while (0)

/* Plugin logging: prefixed with the instance name. */
#define sl_log_error(ins, ...) SL_LOG_AT_(ins, NULL, SL_LOG_ERROR, NULL, 0, __VA_ARGS__)
#define sl_log_warn(ins, ...) SL_LOG_AT_(ins, NULL, SL_LOG_WARN, NULL, 0, __VA_ARGS__)
#define sl_log_info(ins, ...) SL_LOG_AT_(ins, NULL, SL_LOG_INFO, NULL, 0, __VA_ARGS__)
#define sl_log_debug(ins, ...) SL_LOG_AT_(ins, NULL, SL_LOG_DEBUG, NULL, 0, __VA_ARGS__)

/* Core logging: <comp> names the component ("engine", "config", ...). */
#define sl_clog_error(comp, ...) SL_LOG_AT_(NULL, comp, SL_LOG_ERROR, NULL, 0, __VA_ARGS__)
#define sl_clog_warn(comp, ...) SL_LOG_AT_(NULL, comp, SL_LOG_WARN, NULL, 0, __VA_ARGS__)
#define sl_clog_info(comp, ...) SL_LOG_AT_(NULL, comp, SL_LOG_INFO, NULL, 0, __VA_ARGS__)
#define sl_clog_debug(comp, ...) SL_LOG_AT_(NULL, comp, SL_LOG_DEBUG, NULL, 0, __VA_ARGS__)

/* With context fields. */
#define sl_log_kv(ins, comp, lvl, kv, nkv, ...) SL_LOG_AT_(ins, comp, lvl, kv, nkv, __VA_ARGS__)

/* ---- capture of the daemon's own log (the self_logs input) ----
 *
 * While a capture is started, every line that is written is also copied
 * into a bounded ring (lock-protected; any thread may log).  The capturing
 * input drains it on the main loop.  When the ring is full the line is
 * dropped and counted.  Lines logged by the thread that set
 * sl_log_capture_mute(true), or whose component is the capture's own
 * <self> component, are never captured, so that records the capturing
 * input produces cannot feed it again. */

#define SL_LOG_CAPTURE_MSG 1024
#define SL_LOG_CAPTURE_COMP 64

struct sl_log_entry {
    int64_t ts_ns; /* wall clock */
    int level;
    char component[SL_LOG_CAPTURE_COMP];
    char message[SL_LOG_CAPTURE_MSG]; /* cut when longer */
};

/* Starts capturing lines at <min_level> or more severe into a ring of
 * <cap> entries.  <self> (copied) is a component never captured.  Returns
 * SL_OK, SL_EEXIST when a capture is already running, or SL_ENOMEM. */
int sl_log_capture_start(size_t cap, int min_level, const char *self);
/* Stops and frees the ring (what was not drained is lost). */
void sl_log_capture_stop(void);
/* Moves up to <max> entries, oldest first, into <out>; returns how many.
 * <dropped> (may be NULL) receives the lines dropped since the last call. */
size_t sl_log_capture_drain(struct sl_log_entry *out, size_t max,
                            uint64_t *dropped);
/* Per thread: while on, lines this thread logs are not captured. */
void sl_log_capture_mute(bool on);

#endif
