/*
 * log.h (core) - set-up of the daemon's own log sink; plugins use the
 * macros in sluice/log.h.
 *
 * The sink is one of the three pieces of process-wide state (with the
 * signal pipe and the plugin registry).
 */
#ifndef SLUICE_CORE_LOG_H
#define SLUICE_CORE_LOG_H

#include <stdbool.h>

#include "sluice/log.h"

enum sl_log_format {
    SL_LOG_FORMAT_AUTO, /* text when stderr is a terminal, else JSON */
    SL_LOG_FORMAT_JSON,
    SL_LOG_FORMAT_TEXT,
};

/* Sets the global level and format.  Safe to call again (reload). */
void sl_log_setup(int level, enum sl_log_format format);
int sl_log_get_level(void);

/* "error", "warn"/"warning", "info", "debug", "trace", "off" -> level;
 * -1 when unknown. */
int sl_log_level_parse(const char *name);
const char *sl_log_level_name(int level);

/* Test hook: send lines to <fd> instead of stderr (-1 restores). */
void sl_log_set_fd(int fd);

#endif
