/*
 * filter_audit_chain.c - tamper evidence for audit trails: a sequence
 * number and a chained HMAC on every record.
 *
 * Each record gets "audit": {"seq": N, "hmac": H(N)} with
 * H(N) = hex HMAC-SHA256(key, H(N-1) || canonical(record)), H(0) = ""
 * (sluice/audit.h, docs/records.md).  The canonical form is computed from
 * the record as it will be written (serialized and parsed back), so that
 * `sluice audit verify` recomputes the same bytes from the output.
 *
 * The key is read from 'key_file' (never from the YAML).  The chain's
 * position (last seq and H) is written to 'state_file' before each record
 * leaves the filter, so a restart continues the chain; with 'sync' on it
 * is also fdatasync()ed (slower, but survives a power cut).  A state file
 * that cannot be read is an init error, never a silent new chain.
 *
 * Put this filter last on the records it covers: a later filter that
 * changes or drops a record breaks or gaps the chain (that is the point).
 * Main thread; per record it uses the record's arena and two scratch
 * buffers of this instance.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sluice/audit.h"
#include "sluice/plugin.h"
#include "sluice/banned.h"

/* "%020" PRIu64 " " 64 hex "\n" */
#define AUDIT_STATE_LEN (20 + 1 + SL_AUDIT_HMAC_HEX + 1)

struct filter_audit_conf {
    char *key_file;
    char *state_file;
    bool sync;
    char *tag_pattern;
};

struct filter_audit_ctx {
    struct sl_instance *ins;
    struct sl_buf key;
    int fd;
    bool sync;
    uint64_t seq; /* last seq written; 0 before the first */
    char prev[SL_AUDIT_HMAC_HEX + 1];
    struct sl_buf ser;
    struct sl_buf canon;
    struct sl_metric *m_state_err;
    const char *tag_pattern;
};

static const struct sl_option filter_audit_options[] = {
    { .name = "key_file",
      .type = SL_OPT_STR,
      .flags = SL_OPT_REQUIRED,
      SL_OPT_FIELD(struct filter_audit_conf, key_file),
      .desc = "File holding the HMAC key (16 to 4096 bytes; a trailing "
              "newline is ignored). Keep it readable by sluice only." },
    { .name = "state_file",
      .type = SL_OPT_STR,
      SL_OPT_FIELD(struct filter_audit_conf, state_file),
      .desc = "Where the chain's last sequence number and HMAC are kept "
              "across restarts. Default: audit_chain/<instance>.state under "
              "service.storage.path." },
    { .name = "sync",
      .type = SL_OPT_BOOL,
      .def = "off",
      SL_OPT_FIELD(struct filter_audit_conf, sync),
      .desc = "fdatasync the state file after each record, so that the "
              "chain survives a power cut, not only a crash." },
    { .name = "tag_pattern",
      .type = SL_OPT_STR,
      SL_OPT_FIELD(struct filter_audit_conf, tag_pattern),
      .desc = "Chain only records whose tag, as it is when they reach this "
              "filter, matches this pattern (* matches any run of "
              "characters), e.g. audit.* after a normalize filter "
              "re-tagged them. Others pass unchanged. Unset: every record "
              "the filter's match selects." },
    SL_OPT_END,
};

static void audit_ctx_destroy(struct filter_audit_ctx *ctx)
{
    if (ctx == NULL) {
        return;
    }
    if (ctx->fd >= 0) {
        close(ctx->fd);
    }
    if (ctx->key.data != NULL) {
        explicit_bzero(ctx->key.data, ctx->key.cap);
    }
    sl_buf_fini(&ctx->key);
    sl_buf_fini(&ctx->ser);
    sl_buf_fini(&ctx->canon);
    sl_free(ctx);
}

/* mkdir -p of the directory part of <path>. */
static int audit_mkdirs(const char *path)
{
    char dir[4096];
    size_t i;
    int n = snprintf(dir, sizeof(dir), "%s", path);
    char *slash;

    if (n < 0 || (size_t)n >= sizeof(dir)) {
        return SL_ELIMIT;
    }
    slash = strrchr(dir, '/');
    if (slash == NULL || slash == dir) {
        return SL_OK;
    }
    *slash = '\0';
    for (i = 1; dir[i] != '\0'; i++) {
        if (dir[i] == '/') {
            dir[i] = '\0';
            if (mkdir(dir, 0750) != 0 && errno != EEXIST) {
                return sl_rc_from_errno(errno);
            }
            dir[i] = '/';
        }
    }
    if (mkdir(dir, 0750) != 0 && errno != EEXIST) {
        return sl_rc_from_errno(errno);
    }
    return SL_OK;
}

static bool audit_is_hex(const char *p, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        if (!((p[i] >= '0' && p[i] <= '9') || (p[i] >= 'a' && p[i] <= 'f'))) {
            return false;
        }
    }
    return true;
}

/* Reads the chain position from ctx->fd (empty file: a new chain). */
static int audit_state_read(struct filter_audit_ctx *ctx, const char *path,
                            struct sl_err *err)
{
    char buf[AUDIT_STATE_LEN + 1];
    char *end = NULL;
    ssize_t n = pread(ctx->fd, buf, sizeof(buf) - 1, 0);
    unsigned long long seq;

    if (n < 0) {
        int rc = sl_rc_from_errno(errno);

        return sl_err_set(err, rc, "audit_chain: cannot read %s: %s", path,
                          sl_strerror(rc));
    }
    if (n == 0) {
        return SL_OK;
    }
    buf[n] = '\0';
    errno = 0;
    seq = strtoull(buf, &end, 10);
    if (n != AUDIT_STATE_LEN || errno != 0 || end != buf + 20 || *end != ' ' ||
        !audit_is_hex(end + 1, SL_AUDIT_HMAC_HEX) ||
        end[1 + SL_AUDIT_HMAC_HEX] != '\n' || seq == 0) {
        return sl_err_set(err, SL_EPARSE,
                          "audit_chain: state file %s is damaged; restore "
                          "it, or move it away to start a new chain (which "
                          "`sluice audit verify` will report)",
                          path);
    }
    ctx->seq = seq;
    memcpy(ctx->prev, end + 1, SL_AUDIT_HMAC_HEX);
    ctx->prev[SL_AUDIT_HMAC_HEX] = '\0';
    return SL_OK;
}

static int audit_state_open(struct sl_instance *ins,
                            struct filter_audit_ctx *ctx,
                            const struct filter_audit_conf *c,
                            struct sl_err *err)
{
    char def[4096];
    const char *path = c->state_file;
    int n;
    int rc;

    if (path == NULL) {
        n = snprintf(def, sizeof(def), "%s/audit_chain/%s.state",
                     sl_instance_storage_path(ins), sl_instance_name(ins));
        if (n < 0 || (size_t)n >= sizeof(def)) {
            return sl_err_set(err, SL_ELIMIT,
                              "audit_chain: state file path too long");
        }
        path = def;
    }
    rc = audit_mkdirs(path);
    if (rc == SL_OK) {
        ctx->fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        rc = ctx->fd < 0 ? sl_rc_from_errno(errno) : SL_OK;
    }
    if (rc != SL_OK) {
        return sl_err_set(err, rc,
                          "audit_chain: cannot open state file %s: "
                          "%s",
                          path, sl_strerror(rc));
    }
    rc = audit_state_read(ctx, path, err);
    if (rc == SL_OK) {
        sl_log_info(ins, "audit chain %s at seq %" PRIu64 " (state %s)",
                    ctx->seq == 0 ? "starts" : "continues", ctx->seq + 1, path);
    }
    return rc;
}

static int filter_audit_init(struct sl_instance *ins, void *conf,
                             struct sl_err *err)
{
    const struct filter_audit_conf *c = conf;
    struct filter_audit_ctx *ctx = sl_calloc(1, sizeof(*ctx));
    int rc;

    if (ctx == NULL) {
        return sl_err_set(err, SL_ENOMEM, "audit_chain: out of memory");
    }
    ctx->ins = ins;
    ctx->fd = -1;
    ctx->sync = c->sync;
    ctx->tag_pattern = c->tag_pattern;
    sl_buf_init(&ctx->key, 0);
    sl_buf_init(&ctx->ser, 0);
    sl_buf_init(&ctx->canon, 0);
    rc = sl_audit_key_load(c->key_file, &ctx->key, err);
    if (rc == SL_OK) {
        rc = audit_state_open(ins, ctx, c, err);
    }
    if (rc != SL_OK) {
        audit_ctx_destroy(ctx);
        return rc;
    }
    ctx->m_state_err = sl_metric_counter(
        ins, "sluice_audit_chain_state_errors_total",
        "Records whose chain position could not be saved.", NULL, NULL);
    sl_instance_set_ctx(ins, ctx);
    return SL_OK;
}

static void audit_state_write(struct filter_audit_ctx *ctx, uint64_t seq,
                              const char *hmac)
{
    char line[AUDIT_STATE_LEN + 1];
    int n = snprintf(line, sizeof(line), "%020" PRIu64 " %s\n", seq, hmac);

    if (n != AUDIT_STATE_LEN ||
        pwrite(ctx->fd, line, AUDIT_STATE_LEN, 0) != AUDIT_STATE_LEN ||
        (ctx->sync && fdatasync(ctx->fd) != 0)) {
        sl_metric_add(ctx->m_state_err, 1);
        sl_log_error(ctx->ins,
                     "cannot save the audit chain state at seq %" PRIu64
                     ": %s; a restart would repeat sequence numbers",
                     seq, strerror(errno));
    }
}

/* Computes the canonical form of <dom> as it will be written. */
static int audit_canonical(struct filter_audit_ctx *ctx, struct sl_record *r,
                           const struct sl_json *dom)
{
    struct sl_json *back = NULL;
    int rc;

    sl_buf_reset(&ctx->ser);
    sl_buf_reset(&ctx->canon);
    rc = sl_json_serialize(dom, &ctx->ser);
    if (rc == SL_OK) {
        rc = sl_json_parse(r->arena, ctx->ser.data, ctx->ser.len, &back, NULL);
    }
    if (rc == SL_OK) {
        rc = sl_audit_canonical(back, r->arena, &ctx->canon);
    }
    return rc;
}

/* The record's "audit" object, created (or replacing a non-object). */
static struct sl_json *audit_obj(struct sl_record *r, struct sl_json *dom)
{
    struct sl_json *au = sl_json_obj_get(dom, SL_STR_LIT("audit"));

    if (au != NULL && au->type == SL_JSON_OBJECT) {
        return au;
    }
    au = sl_json_new_object(r->arena);
    if (au == NULL ||
        sl_json_obj_set(r->arena, dom, SL_STR_LIT("audit"), au) != SL_OK) {
        return NULL;
    }
    return au;
}

/* Glob match of <s> against <pat> (NUL-terminated): * only. */
static bool audit_glob(const char *pat, struct sl_str s)
{
    size_t i = 0;
    const char *star = NULL;
    size_t star_i = 0;

    while (i < s.len) {
        if (*pat == '*') {
            star = pat++;
            star_i = i;
        } else if (*pat != '\0' && *pat == s.ptr[i]) {
            pat++;
            i++;
        } else if (star != NULL) {
            pat = star + 1;
            i = ++star_i;
        } else {
            return false;
        }
    }
    while (*pat == '*') {
        pat++;
    }
    return *pat == '\0';
}

static enum sl_filter_result filter_audit_filter(struct sl_instance *ins,
                                                 struct sl_record *r)
{
    struct filter_audit_ctx *ctx = sl_instance_ctx(ins);
    struct sl_json *dom = sl_record_dom(r);
    struct sl_json *au;
    struct sl_json *vseq = NULL;
    struct sl_json *vh = NULL;
    char h[SL_AUDIT_HMAC_HEX + 1];
    uint64_t seq = ctx->seq + 1;
    int rc;

    if (ctx->tag_pattern != NULL && !audit_glob(ctx->tag_pattern, r->tag)) {
        return SL_FILTER_KEEP;
    }
    au = dom != NULL ? audit_obj(r, dom) : NULL;
    rc = au != NULL ? audit_canonical(ctx, r, dom) : SL_ENOMEM;
    if (rc == SL_OK) {
        rc = sl_audit_hmac(sl_buf_str(&ctx->key), sl_str_cstr(ctx->prev),
                           sl_buf_str(&ctx->canon), h);
    }
    if (rc == SL_OK) {
        vseq = sl_json_new_i64(r->arena, (int64_t)seq);
        vh = sl_json_new_string(r->arena, h, SL_AUDIT_HMAC_HEX);
        rc = vseq != NULL && vh != NULL ? SL_OK : SL_ENOMEM;
    }
    if (rc == SL_OK) {
        rc = sl_json_obj_set(r->arena, au, SL_STR_LIT("seq"), vseq);
    }
    if (rc == SL_OK) {
        rc = sl_json_obj_set(r->arena, au, SL_STR_LIT("hmac"), vh);
    }
    if (rc != SL_OK) {
        /* Never pass an audit record on unchained: that is a silent hole.
         * Dropping it is counted and the chain stays whole. */
        sl_log_error(ins, "cannot chain a record: %s", sl_strerror(rc));
        return SL_FILTER_DROP;
    }
    audit_state_write(ctx, seq, h);
    ctx->seq = seq;
    memcpy(ctx->prev, h, sizeof(h));
    sl_record_mark_dirty(r);
    return SL_FILTER_MODIFIED;
}

static void filter_audit_exit(struct sl_instance *ins)
{
    audit_ctx_destroy(sl_instance_ctx(ins));
    sl_instance_set_ctx(ins, NULL);
}

const struct sl_plugin sl_plugin_filter_audit_chain = {
    .abi = SL_PLUGIN_ABI,
    .kind = SL_PLUGIN_FILTER,
    .name = "audit_chain",
    .description = "Stamp records with a sequence number and a chained "
                   "HMAC so that gaps, reordering and changes can be "
                   "proven.",
    .options = filter_audit_options,
    .conf_size = sizeof(struct filter_audit_conf),
    .init = filter_audit_init,
    .filter = filter_audit_filter,
    .exit = filter_audit_exit,
};
