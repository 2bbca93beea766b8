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

#endif
