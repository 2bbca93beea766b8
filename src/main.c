/*
 * main.c - the sluice command: argument parsing, the life cycle of the
 * daemon (start, reload on SIGHUP, graceful stop on SIGTERM/SIGINT), and
 * the one-shot commands (--version, --list-plugins, --describe,
 * --dry-run).
 *
 * Process-wide state lives here and only here: the daemon struct, the log
 * sink set-up and (through libevent) the signal pipe.  Signal handling is
 * libevent's: the handler writes to a pipe and the loop runs our callback.
 */
#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/thread.h>

#include "admin.h"
#include "config.h"
#include "engine.h"
#include "log.h"
#include "metrics.h"
#include "option.h"
#include "plugin.h"
#include "storage.h"
#include "util.h"
#include "sluice/json.h"
#include "sluice/mem.h"
#include "sluice/banned.h"

const struct sl_option *sl_engine_service_options(void);
int sl_audit_main(int argc, char **argv);

struct sl_daemon {
    struct event_base *base;
    struct sl_metrics *metrics;
    struct sl_engine *engine;   /* the running pipeline */
    struct sl_engine *old;      /* draining after a reload */
    struct sl_admin *admin;
    const char *config_path;
    const char *pid_file;       /* --pidfile, else service.pid_file */
    bool pid_written;
    const char *user, *group;   /* --user/--group: drop after binding */
    int cli_log_level;          /* -1: from the config */
    struct event *sigs[4];
    bool stopping;
    int exit_code;
};

/*
 * sluice speaks TLS through OpenSSL.  GnuTLS is only mapped because
 * libcurl's LDAP support (libldap) links it, and nothing here calls it,
 * but its library constructor initialises it anyway at load time (its
 * tables and p11-kit's modules: ~0.8 MiB of resident memory).  GnuTLS
 * skips that when the executable defines this function (its documented
 * GNUTLS_SKIP_GLOBAL_INIT hook); exported by the link (Makefile.am).
 */
int _gnutls_global_init_skip(void);
int _gnutls_global_init_skip(void)
{
    return 1;
}

static void print_errors(const struct sl_errlist *errs)
{
    char line[SL_ERR_MSG_MAX + SL_ERR_FILE_MAX + SL_ERR_KEY_MAX + 32];
    size_t i;

    for (i = 0; i < errs->n; i++) {
        sl_err_format(&errs->items[i], line, sizeof(line));
        fprintf(stderr, "%s\n", line);
    }
    if (errs->overflow > 0) {
        fprintf(stderr, "... and %zu more errors\n", errs->overflow);
    }
}

static void log_errors(const char *what, const struct sl_errlist *errs)
{
    char line[SL_ERR_MSG_MAX + SL_ERR_FILE_MAX + SL_ERR_KEY_MAX + 32];
    size_t i;

    for (i = 0; i < errs->n; i++) {
        sl_err_format(&errs->items[i], line, sizeof(line));
        sl_clog_error("config", "%s: %s", what, line);
    }
}

/* Loads and builds (but does not start) the pipeline in <path>. */
static int daemon_build(struct sl_daemon *d, struct sl_engine **out,
                        struct sl_errlist *errs)
{
    struct sl_config *cfg = NULL;
    int rc;

    rc = sl_config_load(d->config_path, &cfg, errs);
    if (rc != SL_OK) {
        return rc;
    }
    return sl_engine_create(d->base, d->metrics, cfg, out, errs);
}

static void daemon_apply_log(struct sl_daemon *d, const struct sl_engine *e)
{
    int level = d->cli_log_level >= 0 ? d->cli_log_level : e->svc.log_level;

    sl_log_setup(level, (enum sl_log_format)e->svc.log_format);
}

static void daemon_health(void *arg, struct sl_health *h)
{
    struct sl_daemon *d = arg;

    sl_engine_health(d->engine, h);
    h->start_ns = d->engine != NULL ? d->engine->start_ns : 0;
    snprintf(h->version, sizeof(h->version), "%s", SL_VERSION);
}

static void daemon_refresh(void *arg)
{
    struct sl_daemon *d = arg;
    size_t i;

    for (i = 0; d->engine != NULL && i < d->engine->ninputs; i++) {
        sl_input_publish_counts(d->engine->inputs[i]);
    }
}

static int daemon_storage(void *arg, struct sl_buf *out)
{
    struct sl_daemon *d = arg;

    if (d->engine == NULL) {
        return sl_buf_append_str(out, "{}");
    }
    return sl_engine_storage_json(d->engine, out);
}

static int daemon_admin_reload(void *arg, struct sl_buf *out);

static int daemon_admin_start(struct sl_daemon *d, struct sl_err *err)
{
    const struct sl_service_conf *svc = &d->engine->svc;
    struct sl_admin_hooks hooks = { .arg = d,
                                    .health = daemon_health,
                                    .refresh = daemon_refresh,
                                    .storage = daemon_storage,
                                    .reload = daemon_admin_reload,
                                    .auth_token = svc->http_auth_token };
    char port[16];
    int rc;

    if (!svc->http_server) {
        return SL_OK;
    }
    rc = sl_admin_create(d->base, d->metrics, &hooks, svc->http_listen,
                         (int)svc->http_port, &d->admin, err);
    if (rc != SL_OK) {
        return rc;
    }
    sl_clog_info("admin", "admin API listening on %s:%d", svc->http_listen,
                 sl_admin_port(d->admin));
    if (svc->http_port_file != NULL) {
        snprintf(port, sizeof(port), "%d\n", sl_admin_port(d->admin));
        rc = sl_file_write_atomic(svc->http_port_file, port, strlen(port),
                                  0644);
        if (rc != SL_OK) {
            return sl_err_set(err, rc, "cannot write http_port_file %s: %s",
                              svc->http_port_file, sl_strerror(rc));
        }
    }
    return SL_OK;
}

static void daemon_exit_drained(struct sl_engine *e, void *arg)
{
    struct sl_daemon *d = arg;

    (void)e;
    sl_clog_info("engine", "stopped");
    event_base_loopbreak(d->base);
}

static void daemon_old_drained(struct sl_engine *e, void *arg)
{
    struct sl_daemon *d = arg;

    if (d->old == e) {
        d->old = NULL;
    }
    sl_engine_destroy(e);
    sl_clog_info("engine", "previous pipeline drained and released");
    /* What the old pipeline could not deliver in its grace period is on
     * disk (filesystem storage): the new one takes it over now. */
    if (d->engine != NULL && !d->stopping) {
        sl_engine_recover(d->engine);
    }
}

static void daemon_inputs_finished(struct sl_engine *e, void *arg)
{
    struct sl_daemon *d = arg;

    if (d->stopping) {
        return;
    }
    d->stopping = true;
    sl_clog_info("engine", "all inputs finished: delivering what is "
                           "buffered, then exiting");
    e->on_drained = daemon_exit_drained;
    e->on_drained_arg = d;
    sl_engine_drain(e, -1);
}

static void daemon_wire(struct sl_daemon *d, struct sl_engine *e)
{
    e->on_drained_arg = d;
    e->on_inputs_finished = daemon_inputs_finished;
}

/* Reloads the configuration (SIGHUP, POST /api/v1/reload).  When the new
 * one is refused, its errors are left in <out> (may be NULL) and an error
 * is returned. */
static int daemon_reload(struct sl_daemon *d, struct sl_errlist *out)
{
    struct sl_errlist errs;
    struct sl_engine *next = NULL;
    struct sl_err err = { 0 };

    sl_errlist_init(&errs);
    sl_clog_info("engine", "reloading %s", d->config_path);
    if (daemon_build(d, &next, &errs) != SL_OK) {
        log_errors("reload refused", &errs);
        sl_clog_error("engine", "reload refused: %s has %zu errors; the "
                                "running pipeline continues unchanged",
                      d->config_path, sl_errlist_count(&errs));
        if (out != NULL) {
            *out = errs;
        }
        return SL_ECONFIG;
    }
    if (d->old != NULL) {
        /* A previous reload is still draining: cut it short. */
        sl_engine_destroy(d->old);
        d->old = NULL;
    }
    /* Stop the old inputs first (they may hold ports the new ones bind),
     * let its outputs deliver what it buffered, and start the new
     * pipeline at once so that no input is idle for the grace period. */
    d->old = d->engine;
    d->engine = next;
    next->defer_recovery = true;
    daemon_wire(d, next);
    d->old->on_drained = daemon_old_drained;
    d->old->on_drained_arg = d;
    d->old->on_inputs_finished = NULL;
    sl_engine_drain(d->old, d->old->svc.grace_ms);
    daemon_apply_log(d, next);
    if (sl_engine_start(next, &err) != SL_OK) {
        sl_clog_error("engine", "reloaded pipeline failed to start: %s: %s",
                      err.key, err.msg);
        d->exit_code = 1;
        d->stopping = true;
        next->on_drained = daemon_exit_drained;
        sl_engine_drain(next, 0);
        if (out != NULL) {
            sl_errlist_init(out);
            sl_errlist_push(out, &err);
        }
        return SL_EIO;
    }
    sl_admin_set_token(d->admin, next->svc.http_auth_token);
    sl_clog_info("engine", "configuration reloaded from %s", d->config_path);
    return SL_OK;
}

/* Admin hook of POST /api/v1/reload: errors as JSON strings. */
static int daemon_admin_reload(void *arg, struct sl_buf *out)
{
    char line[SL_ERR_MSG_MAX + SL_ERR_FILE_MAX + SL_ERR_KEY_MAX + 32];
    struct sl_daemon *d = arg;
    struct sl_errlist *errs = sl_calloc(1, sizeof(*errs));
    size_t i;
    int rc;

    if (errs == NULL) {
        return SL_ENOMEM;
    }
    sl_errlist_init(errs);
    if (d->stopping) {
        sl_free(errs);
        sl_buf_append_str(out, "\"the daemon is stopping\"");
        return SL_ECLOSED;
    }
    rc = daemon_reload(d, errs);
    for (i = 0; rc != SL_OK && i < errs->n; i++) {
        sl_err_format(&errs->items[i], line, sizeof(line));
        sl_buf_append_str(out, i > 0 ? "," : "");
        sl_json_write_string(out, line, strlen(line));
    }
    sl_free(errs);
    return rc;
}

static void daemon_signal_cb(evutil_socket_t sig, short what, void *arg)
{
    struct sl_daemon *d = arg;

    (void)what;
    if (sig == SIGHUP) {
        if (!d->stopping) {
            daemon_reload(d, NULL);
        }
        return;
    }
    if (d->stopping) {
        sl_clog_warn("engine", "second stop signal: exiting now");
        event_base_loopbreak(d->base);
        return;
    }
    d->stopping = true;
    sl_clog_info("engine", "signal %d: stopping inputs, delivering buffered "
                           "records for up to %lld ms",
                 (int)sig, (long long)d->engine->svc.grace_ms);
    d->engine->on_drained = daemon_exit_drained;
    d->engine->on_drained_arg = d;
    sl_engine_drain(d->engine, d->engine->svc.grace_ms);
}

static int daemon_signals(struct sl_daemon *d)
{
    const int sigs[] = { SIGTERM, SIGINT, SIGHUP };
    size_t i;

    signal(SIGPIPE, SIG_IGN);
    for (i = 0; i < 3; i++) {
        d->sigs[i] = evsignal_new(d->base, sigs[i], daemon_signal_cb, d);
        if (d->sigs[i] == NULL || evsignal_add(d->sigs[i], NULL) != 0) {
            return SL_EIO;
        }
    }
    return SL_OK;
}

/* Writes the pid file (before privileges are dropped). */
static int daemon_pidfile(struct sl_daemon *d, struct sl_err *err)
{
    char pid[32];
    int rc;

    if (d->pid_file == NULL) {
        d->pid_file = d->engine->svc.pid_file;
    }
    if (d->pid_file == NULL) {
        return SL_OK;
    }
    snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
    rc = sl_file_write_atomic(d->pid_file, pid, strlen(pid), 0644);
    if (rc != SL_OK) {
        return sl_err_set(err, rc, "cannot write pid file %s: %s",
                          d->pid_file, sl_strerror(rc));
    }
    d->pid_written = true;
    return SL_OK;
}

/* --user/--group: switches to an unprivileged account once every socket
 * is bound.  Group first (while still allowed), then supplementary
 * groups, then the user; glibc applies the ids to every thread. */
static int daemon_drop_privileges(struct sl_daemon *d, struct sl_err *err)
{
    struct passwd *pw = NULL;
    struct group *gr = NULL;
    gid_t gid;

    if (d->user == NULL && d->group == NULL) {
        return SL_OK;
    }
    if (d->user != NULL && (pw = getpwnam(d->user)) == NULL) {
        return sl_err_set(err, SL_ENOTFOUND, "--user: no user '%s'", d->user);
    }
    if (d->group != NULL && (gr = getgrnam(d->group)) == NULL) {
        return sl_err_set(err, SL_ENOTFOUND, "--group: no group '%s'",
                          d->group);
    }
    gid = gr != NULL ? gr->gr_gid : pw->pw_gid;
    if (pw != NULL ? initgroups(pw->pw_name, gid) != 0
                   : setgroups(0, NULL) != 0) {
        return sl_err_set(err, sl_rc_from_errno(errno),
                          "cannot set groups: %s", strerror(errno));
    }
    if (setgid(gid) != 0 || (pw != NULL && setuid(pw->pw_uid) != 0)) {
        return sl_err_set(err, sl_rc_from_errno(errno),
                          "cannot drop privileges: %s", strerror(errno));
    }
    if (pw != NULL && pw->pw_uid != 0 && setuid(0) == 0) {
        return sl_err_set(err, SL_EIO, "privileges could be regained");
    }
    sl_clog_info("engine", "running as uid %ld gid %ld", (long)getuid(),
                 (long)getgid());
    return SL_OK;
}

static void daemon_fini(struct sl_daemon *d)
{
    size_t i;

    if (d->pid_written) {
        unlink(d->pid_file);
    }
    sl_engine_destroy(d->old);
    sl_engine_destroy(d->engine);
    sl_admin_destroy(d->admin);
    for (i = 0; i < 3; i++) {
        if (d->sigs[i] != NULL) {
            event_free(d->sigs[i]);
        }
    }
    sl_metrics_destroy(d->metrics);
    if (d->base != NULL) {
        event_base_free(d->base);
    }
}

static int daemon_setup(struct sl_daemon *d, bool dry_run)
{
    struct sl_errlist errs;

    sl_errlist_init(&errs);
    d->base = event_base_new();
    d->metrics = sl_metrics_create();
    if (d->base == NULL || d->metrics == NULL ||
        event_base_priority_init(d->base, SL_LOOP_PRIORITIES) != 0) {
        fprintf(stderr, "sluice: out of memory\n");
        return 1;
    }
    if (daemon_build(d, &d->engine, &errs) != SL_OK) {
        print_errors(&errs);
        fprintf(stderr, "%s: %zu error%s\n", d->config_path,
                sl_errlist_count(&errs), sl_errlist_count(&errs) == 1 ? "" : "s");
        return 1;
    }
    if (dry_run) {
        fprintf(stderr, "%s: configuration is valid (%zu inputs, %zu "
                        "filters, %zu outputs)\n",
                d->config_path, d->engine->ninputs, d->engine->nfilters,
                d->engine->noutputs);
        return 0;
    }
    return -1;
}

static int daemon_run(const char *path, int cli_log_level, bool dry_run,
                      const char *const *ids)
{
    struct sl_daemon d;
    struct sl_err err = { 0 };
    int rc;

    memset(&d, 0, sizeof(d));
    d.config_path = path;
    d.pid_file = ids[0];
    d.user = ids[1];
    d.group = ids[2];
    d.cli_log_level = cli_log_level;
    rc = daemon_setup(&d, dry_run);
    if (rc >= 0) {
        daemon_fini(&d);
        return rc;
    }
    daemon_apply_log(&d, d.engine);
    daemon_wire(&d, d.engine);
    sl_metrics_add_process(d.metrics, d.engine->start_ns);
    if (daemon_signals(&d) != SL_OK || daemon_admin_start(&d, &err) != SL_OK ||
        sl_engine_start(d.engine, &err) != SL_OK ||
        daemon_pidfile(&d, &err) != SL_OK ||
        daemon_drop_privileges(&d, &err) != SL_OK) {
        sl_clog_error("engine", "cannot start: %s%s%s", err.key,
                      err.key[0] ? ": " : "", err.msg[0] ? err.msg : "error");
        daemon_fini(&d);
        return 1;
    }
    sl_clog_info("engine", "sluice %s running %s", SL_VERSION, path);
    event_base_dispatch(d.base);
    rc = d.exit_code;
    daemon_fini(&d);
    return rc;
}

/* ---- one-shot commands ---- */

static int cmd_list_plugins(void)
{
    int kind;
    size_t i;

    for (kind = SL_PLUGIN_INPUT; kind <= SL_PLUGIN_OUTPUT; kind++) {
        for (i = 0; i < sl_plugin_count(); i++) {
            const struct sl_plugin *p = sl_plugin_at(i);

            if ((int)p->kind == kind) {
                printf("%-7s %-16s %s\n", sl_plugin_kind_name(p->kind),
                       p->name, p->description);
            }
        }
    }
    return 0;
}

static const struct sl_plugin *describe_find(const char *name)
{
    const char *dot = strchr(name, ':');
    int kind;

    /* "parser:json" picks a kind when a name is used by several. */
    if (dot != NULL) {
        for (kind = SL_PLUGIN_INPUT; kind <= SL_PLUGIN_OUTPUT; kind++) {
            size_t klen = strlen(sl_plugin_kind_name(kind));

            if ((size_t)(dot - name) == klen &&
                strncmp(name, sl_plugin_kind_name(kind), klen) == 0) {
                return sl_plugin_find(kind, dot + 1);
            }
        }
        return NULL;
    }
    return sl_plugin_lookup(name);
}

static int cmd_describe(const char *name, bool markdown, const char *intro_file)
{
    const struct sl_plugin *p = describe_find(name);
    struct sl_buf out;
    char title[128], *intro = NULL;
    size_t len;
    int rc;

    if (strcmp(name, "service") == 0) {
        sl_buf_init(&out, 0);
        rc = markdown ? sl_option_markdown("service", "The `service` section.",
                                           NULL, sl_engine_service_options(), &out)
                      : sl_option_describe(sl_engine_service_options(), &out);
        fwrite(out.data, 1, out.len, stdout);
        sl_buf_fini(&out);
        return rc == SL_OK ? 0 : 1;
    }
    if (p == NULL) {
        fprintf(stderr, "sluice: no plugin named '%s' (see --list-plugins)\n",
                name);
        return 1;
    }
    sl_buf_init(&out, 0);
    if (markdown) {
        snprintf(title, sizeof(title), "%s (%s)", p->name,
                 sl_plugin_kind_name(p->kind));
        if (intro_file != NULL &&
            sl_file_read_all(intro_file, 1 << 20, &intro, &len) != SL_OK) {
            intro = NULL;
        }
        rc = sl_option_markdown(title, intro != NULL ? intro : p->description,
                                sl_plugin_generic_options(p->kind), p->options,
                                &out);
        sl_free(intro);
    } else {
        sl_buf_printf(&out, "%s (%s): %s\n\nOptions:\n", p->name,
                      sl_plugin_kind_name(p->kind), p->description);
        rc = p->options != NULL ? sl_option_describe(p->options, &out) : SL_OK;
        sl_buf_printf(&out, "\nCommon %s options:\n",
                      sl_plugin_kind_name(p->kind));
        if (rc == SL_OK) {
            rc = sl_option_describe(sl_plugin_generic_options(p->kind), &out);
        }
    }
    if (out.data != NULL) {
        fwrite(out.data, 1, out.len, stdout);
    }
    sl_buf_fini(&out);
    return rc == SL_OK ? 0 : 1;
}

static int cmd_plugin_name_of(const char *dir)
{
    size_t i;

    for (i = 0; i < sl_plugin_count(); i++) {
        if (strcmp(sl_plugin_dir(i), dir) == 0) {
            const struct sl_plugin *p = sl_plugin_at(i);

            printf("%s:%s\n", sl_plugin_kind_name(p->kind), p->name);
            return 0;
        }
    }
    return 1;
}

static int cmd_replay(int argc, char **argv)
{
    const char *config = NULL, *output = NULL;
    int i;

    for (i = 1; i < argc; i++) {
        if ((strcmp(argv[i], "-c") == 0 || strcmp(argv[i], "--config") == 0) &&
            i + 1 < argc) {
            config = argv[++i];
        } else if (strcmp(argv[i], "--output") == 0 && i + 1 < argc) {
            output = argv[++i];
        } else if (argv[i][0] == '-') {
            break;
        } else {
            break;
        }
    }
    if (config == NULL || output == NULL) {
        fprintf(stderr, "Usage: sluice replay --config FILE --output NAME "
                        "[DLQFILE...]\n"
                        "Sends dead-letter records again through output NAME "
                        "(default: every file\nin storage.path/dlq/NAME/) and "
                        "removes the lines that were delivered.\n");
        return 2;
    }
    sl_log_setup(SL_LOG_INFO, SL_LOG_FORMAT_AUTO);
    return sl_replay_main(config, output, argv + i, argc - i);
}

static void usage(FILE *f)
{
    fprintf(f,
            "Usage: sluice -c FILE [--log-level LEVEL]   run the pipeline\n"
            "       sluice --dry-run -c FILE            check a config and exit\n"
            "       sluice --list-plugins                list built-in plugins\n"
            "       sluice --describe NAME [--markdown]  options of a plugin\n"
            "                                            (NAME, kind:NAME or service)\n"
            "       sluice storage inspect|fsck|export PATH [--repair]\n"
            "       sluice replay -c FILE --output NAME [DLQFILE...]\n"
            "       sluice tap [--url URL] [--match TAG] [--limit N] "
            "[--token T]\n"
            "       sluice -c FILE [--pidfile F] [--user U] [--group G]\n"
            "       sluice --version\n"
            "Signals: SIGTERM/SIGINT stop gracefully, SIGHUP reloads FILE.\n");
}

enum {
    OPT_DRY_RUN = 256,
    OPT_LIST,
    OPT_DESCRIBE,
    OPT_MARKDOWN,
    OPT_INTRO,
    OPT_NAME_OF,
    OPT_LOG_LEVEL,
    OPT_PIDFILE,
    OPT_USER,
    OPT_GROUP,
};

static const struct option long_opts[] = {
    { "config", required_argument, NULL, 'c' },
    { "dry-run", no_argument, NULL, OPT_DRY_RUN },
    { "list-plugins", no_argument, NULL, OPT_LIST },
    { "describe", required_argument, NULL, OPT_DESCRIBE },
    { "markdown", no_argument, NULL, OPT_MARKDOWN },
    { "intro-file", required_argument, NULL, OPT_INTRO },
    { "plugin-name-of", required_argument, NULL, OPT_NAME_OF },
    { "log-level", required_argument, NULL, OPT_LOG_LEVEL },
    { "pidfile", required_argument, NULL, OPT_PIDFILE },
    { "user", required_argument, NULL, OPT_USER },
    { "group", required_argument, NULL, OPT_GROUP },
    { "version", no_argument, NULL, 'V' },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
};

int main(int argc, char **argv)
{
    const char *config = NULL, *describe = NULL, *intro = NULL;
    const char *ids[3] = { NULL, NULL, NULL }; /* pidfile, user, group */
    bool dry_run = false, markdown = false;
    int c, level = -1;

    evthread_use_pthreads();
    sl_hostname();
    if (argc > 1 && strcmp(argv[1], "storage") == 0) {
        return sl_storage_main(argc - 2, argv + 2);
    }
    if (argc > 1 && strcmp(argv[1], "replay") == 0) {
        return cmd_replay(argc - 1, argv + 1);
    }
    if (argc > 1 && strcmp(argv[1], "tap") == 0) {
        return sl_admin_tap_main(argc - 1, argv + 1);
    }
    if (argc > 1 && strcmp(argv[1], "audit") == 0) {
        return sl_audit_main(argc - 2, argv + 2);
    }
    sl_log_setup(SL_LOG_INFO, SL_LOG_FORMAT_AUTO);
    while ((c = getopt_long(argc, argv, "c:Vh", long_opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            config = optarg;
            break;
        case OPT_DRY_RUN:
            dry_run = true;
            break;
        case OPT_LIST:
            return cmd_list_plugins();
        case OPT_DESCRIBE:
            describe = optarg;
            break;
        case OPT_MARKDOWN:
            markdown = true;
            break;
        case OPT_INTRO:
            intro = optarg;
            break;
        case OPT_NAME_OF:
            return cmd_plugin_name_of(optarg);
        case OPT_LOG_LEVEL:
            level = sl_log_level_parse(optarg);
            if (level < 0) {
                fprintf(stderr, "sluice: unknown log level '%s' (expected "
                                "error, warn, info, debug, trace or off)\n",
                        optarg);
                return 2;
            }
            break;
        case OPT_PIDFILE:
        case OPT_USER:
        case OPT_GROUP:
            ids[c - OPT_PIDFILE] = optarg;
            break;
        case 'V':
            printf("sluice %s\n", SL_VERSION);
            return 0;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (describe != NULL) {
        return cmd_describe(describe, markdown, intro);
    }
    if (config == NULL || optind < argc) {
        usage(stderr);
        return 2;
    }
    if (level >= 0) {
        sl_log_setup(level, SL_LOG_FORMAT_AUTO);
    }
    return daemon_run(config, level, dry_run, ids);
}
