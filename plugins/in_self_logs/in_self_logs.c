/*
 * in_self_logs.c - the daemon's own log lines as records, so that its
 * warnings and errors can be shipped like any other event.
 *
 * The log (src/log.c) copies each line at <level> or more severe into a
 * bounded ring while this input runs (sl_log_capture_*); a timer on the
 * main loop drains it every interval.  A full ring drops lines, counted as
 * sluice_input_dropped_total{reason="ring_full"}.
 *
 * Feedback guard: lines logged under this instance's own name are never
 * captured, and the capture is muted on the main thread while the drained
 * lines are appended, so a warning caused by one of these records (a
 * filter complaining about it, say) is not turned into a record again.
 * Only one self_logs input may run at a time.
 *
 * A record: {"level": "warn", "component": "engine", "message": "..."},
 * with the time the line was logged.
 */
#include <stdio.h>
#include <string.h>

#include <event2/event.h>

#include "sluice/plugin.h"
#include "sluice/banned.h"

#define SELF_DRAIN_BATCH 64
#define SELF_DRAIN_MAX   1024 /* lines appended per tick at most */

struct self_conf {
    int level; /* index into self_levels */
    int64_t buffer_size;
    int64_t interval; /* ms */
};

struct self_ctx {
    struct sl_instance *ins;
    const struct self_conf *conf;
    struct event *timer;
    struct sl_log_entry batch[SELF_DRAIN_BATCH];
    struct sl_buf rec;
    bool capturing;
    bool stopped;
};

static const char *const self_levels[] = { "error", "warn", "info", "debug",
                                           "trace", NULL };

static const struct sl_option self_options[] = {
    { .name = "level",
      .type = SL_OPT_ENUM,
      .def = "info",
      .choices = self_levels,
      SL_OPT_FIELD(struct self_conf, level),
      .desc = "Least severe level captured (lines must also pass the "
              "service's log_level to be logged at all)." },
    { .name = "buffer_size",
      .type = SL_OPT_INT,
      .def = "1024",
      .min = 16,
      .max = 1000000,
      SL_OPT_FIELD(struct self_conf, buffer_size),
      .desc = "Lines held between two drains; further lines are dropped "
              "and counted." },
    { .name = "interval",
      .type = SL_OPT_TIME,
      .def = "200ms",
      .min = 10,
      .max = 60000,
      SL_OPT_FIELD(struct self_conf, interval),
      .desc = "How often captured lines are turned into records." },
    SL_OPT_END,
};

static const char *self_level_name(int level)
{
    return level >= 1 && level <= 5 ? self_levels[level - 1] : "info";
}

static int self_append(struct self_ctx *s, const struct sl_log_entry *e)
{
    struct sl_buf *b = &s->rec;
    int rc;

    sl_buf_reset(b);
    rc = sl_buf_printf(b, "{\"level\":\"%s\",\"component\":",
                       self_level_name(e->level));
    rc = rc ? rc
            : sl_json_write_string(b, e->component,
                                   strnlen(e->component,
                                           sizeof(e->component)));
    rc = rc ? rc : sl_buf_append_str(b, ",\"message\":");
    rc = rc ? rc
            : sl_json_write_string(b, e->message,
                                   strnlen(e->message, sizeof(e->message)));
    rc = rc ? rc : sl_buf_putc(b, '}');
    return rc ? rc
              : sl_input_append(s->ins, sl_instance_tag(s->ins), e->ts_ns,
                                sl_buf_str(b));
}

static void self_arm(struct self_ctx *s)
{
    struct timeval tv = {
        .tv_sec = (time_t)(s->conf->interval / 1000),
        .tv_usec = (suseconds_t)(s->conf->interval % 1000) * 1000,
    };

    if (!s->stopped) {
        event_add(s->timer, &tv);
    }
}

/* Drains the ring (bounded per tick), muted against feedback. */
static void self_tick(evutil_socket_t fd, short what, void *arg)
{
    struct self_ctx *s = arg;
    uint64_t dropped = 0, d;
    size_t n, i, total = 0;

    (void)fd;
    (void)what;
    sl_log_capture_mute(true);
    do {
        n = sl_log_capture_drain(s->batch, SELF_DRAIN_BATCH, &d);
        dropped += d;
        for (i = 0; i < n; i++) {
            self_append(s, &s->batch[i]);
        }
        total += n;
    } while (n == SELF_DRAIN_BATCH && total < SELF_DRAIN_MAX &&
             !sl_input_paused(s->ins));
    if (dropped > 0) {
        sl_input_dropped(s->ins, "ring_full", dropped);
    }
    sl_log_capture_mute(false);
    self_arm(s);
}

static void self_exit(struct sl_instance *ins)
{
    struct self_ctx *s = sl_instance_ctx(ins);

    if (s == NULL) {
        return;
    }
    if (s->capturing) {
        sl_log_capture_stop();
    }
    if (s->timer != NULL) {
        event_free(s->timer);
    }
    sl_buf_fini(&s->rec);
    sl_free(s);
    sl_instance_set_ctx(ins, NULL);
}

static int self_init(struct sl_instance *ins, void *conf, struct sl_err *err)
{
    struct self_ctx *s = sl_calloc(1, sizeof(*s));

    if (s == NULL) {
        return sl_err_set(err, SL_ENOMEM, "self_logs: out of memory");
    }
    s->ins = ins;
    s->conf = conf;
    sl_buf_init(&s->rec, 0);
    sl_instance_set_ctx(ins, s);
    s->timer = evtimer_new(sl_instance_base(ins), self_tick, s);
    if (s->timer == NULL) {
        self_exit(ins);
        return sl_err_set(err, SL_ENOMEM, "self_logs: out of memory");
    }
    return SL_OK;
}

static int self_start(struct sl_instance *ins, struct sl_err *err)
{
    struct self_ctx *s = sl_instance_ctx(ins);
    int rc = sl_log_capture_start((size_t)s->conf->buffer_size,
                                  s->conf->level + 1, sl_instance_name(ins));

    if (rc == SL_EEXIST) {
        return sl_err_set(err, rc, "self_logs: another self_logs input is "
                                   "already capturing the log");
    }
    if (rc != SL_OK) {
        return sl_err_set(err, rc, "self_logs: %s", sl_strerror(rc));
    }
    s->capturing = true;
    self_arm(s);
    return SL_OK;
}

static void self_stop(struct sl_instance *ins)
{
    struct self_ctx *s = sl_instance_ctx(ins);

    s->stopped = true;
    evtimer_del(s->timer);
    if (s->capturing) {
        sl_log_capture_stop();
        s->capturing = false;
    }
}

const struct sl_plugin sl_plugin_in_self_logs = {
    .abi = SL_PLUGIN_ABI,
    .kind = SL_PLUGIN_INPUT,
    .name = "self_logs",
    .description = "Turn the daemon's own log lines into records.",
    .options = self_options,
    .conf_size = sizeof(struct self_conf),
    .init = self_init,
    .start = self_start,
    .stop = self_stop,
    .exit = self_exit,
};
