/*
 * audit.c - the audit chain's canonical form and HMAC (sluice/audit.h),
 * and the `sluice audit verify` command.
 *
 * The filter (plugins/filter_audit_chain) and the verifier share these
 * functions so that both compute the same bytes.  The verifier streams
 * NDJSON lines from the files in the order given, keeps one record of
 * look-ahead (to tell a swap from a gap), and stops at the first problem:
 *
 *   gap         the next record's seq is higher than expected and the
 *               expected one does not follow
 *   reorder     a lower seq than expected, or the expected seq right after
 *               a higher one (two records swapped)
 *   alteration  the recomputed HMAC differs from audit.hmac
 *
 * Lines without audit fields are skipped (an output may mix records of
 * several kinds); a line that is not JSON is an alteration.  Runs as a
 * one-shot command on the main thread; nothing here keeps state.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "sluice/audit.h"
#include "sluice/mem.h"
#include "sluice/banned.h"

/* ---- canonical form ---------------------------------------------------- */

struct audit_sorted {
    const struct sl_json_member *m;
    size_t index;
};

static int audit_member_cmp(const void *pa, const void *pb)
{
    const struct audit_sorted *a = pa;
    const struct audit_sorted *b = pb;
    size_t n = a->m->key.len < b->m->key.len ? a->m->key.len : b->m->key.len;
    int c = n > 0 ? memcmp(a->m->key.ptr, b->m->key.ptr, n) : 0;

    if (c != 0) {
        return c;
    }
    if (a->m->key.len != b->m->key.len) {
        return a->m->key.len < b->m->key.len ? -1 : 1;
    }
    return a->index < b->index ? -1 : (a->index > b->index ? 1 : 0);
}

static int audit_ser(const struct sl_json *v, struct sl_arena *a,
                     struct sl_buf *out, unsigned depth, bool in_audit);

/* True when member <m> of the top-level object is left out. */
static bool audit_skip(const struct sl_json_member *m, unsigned depth,
                       bool in_audit)
{
    size_t i;

    if (in_audit && depth == 1) {
        return sl_str_eq_cstr(m->key, "seq") || sl_str_eq_cstr(m->key, "hmac");
    }
    if (depth != 0 || !sl_str_eq_cstr(m->key, "audit") ||
        m->val->type != SL_JSON_OBJECT) {
        return false;
    }
    for (i = 0; i < m->val->u.obj.n; i++) {
        if (!audit_skip(&m->val->u.obj.v[i], 1, true)) {
            return false;
        }
    }
    return true;
}

static int audit_ser_object(const struct sl_json *v, struct sl_arena *a,
                            struct sl_buf *out, unsigned depth, bool in_audit)
{
    struct audit_sorted *s;
    size_t n = v->u.obj.n;
    size_t i;
    bool first = true;
    int rc;

    s = sl_arena_alloc(a, (n + 1) * sizeof(*s));
    if (s == NULL) {
        return SL_ENOMEM;
    }
    for (i = 0; i < n; i++) {
        s[i].m = &v->u.obj.v[i];
        s[i].index = i;
    }
    qsort(s, n, sizeof(*s), audit_member_cmp);
    rc = sl_buf_putc(out, '{');
    for (i = 0; rc == SL_OK && i < n; i++) {
        const struct sl_json_member *m = s[i].m;

        if (audit_skip(m, depth, in_audit)) {
            continue;
        }
        if (!first) {
            rc = sl_buf_putc(out, ',');
        }
        first = false;
        if (rc == SL_OK) {
            rc = sl_json_write_string(out, m->key.ptr, m->key.len);
        }
        if (rc == SL_OK) {
            rc = sl_buf_putc(out, ':');
        }
        if (rc == SL_OK) {
            rc = audit_ser(m->val, a, out, depth + 1,
                           depth == 0 && sl_str_eq_cstr(m->key, "audit"));
        }
    }
    return rc == SL_OK ? sl_buf_putc(out, '}') : rc;
}

static int audit_ser(const struct sl_json *v, struct sl_arena *a,
                     struct sl_buf *out, unsigned depth, bool in_audit)
{
    size_t i;
    int rc;

    if (depth > 256) {
        return SL_ELIMIT;
    }
    switch (v->type) {
    case SL_JSON_NULL:
        return sl_buf_append(out, "null", 4);
    case SL_JSON_BOOL:
        return sl_buf_append_str(out, v->u.b ? "true" : "false");
    case SL_JSON_NUMBER:
        return sl_buf_append(out, v->u.num.ptr, v->u.num.len);
    case SL_JSON_STRING:
        return sl_json_write_string(out, v->u.str.ptr, v->u.str.len);
    case SL_JSON_ARRAY:
        rc = sl_buf_putc(out, '[');
        for (i = 0; rc == SL_OK && i < v->u.arr.n; i++) {
            if (i > 0) {
                rc = sl_buf_putc(out, ',');
            }
            if (rc == SL_OK) {
                rc = audit_ser(v->u.arr.v[i], a, out, depth + 1, false);
            }
        }
        return rc == SL_OK ? sl_buf_putc(out, ']') : rc;
    case SL_JSON_OBJECT:
        return audit_ser_object(v, a, out, depth, in_audit);
    }
    return SL_EINVAL;
}

int sl_audit_canonical(const struct sl_json *rec, struct sl_arena *a,
                       struct sl_buf *out)
{
    return audit_ser(rec, a, out, 0, false);
}

int sl_audit_hmac(struct sl_str key, struct sl_str prev,
                  struct sl_str canonical, char hex[SL_AUDIT_HMAC_HEX + 1])
{
    static const char digits[] = "0123456789abcdef";
    unsigned char md[EVP_MAX_MD_SIZE];
    size_t mdlen = 0;
    EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    EVP_MAC_CTX *ctx = mac != NULL ? EVP_MAC_CTX_new(mac) : NULL;
    OSSL_PARAM params[2];
    int ok;
    size_t i;

    params[0] = OSSL_PARAM_construct_utf8_string("digest", (char *)"SHA256", 0);
    params[1] = OSSL_PARAM_construct_end();
    ok = ctx != NULL &&
         EVP_MAC_init(ctx, (const unsigned char *)key.ptr, key.len, params) ==
             1 &&
         EVP_MAC_update(ctx, (const unsigned char *)prev.ptr, prev.len) == 1 &&
         EVP_MAC_update(ctx, (const unsigned char *)canonical.ptr,
                        canonical.len) == 1 &&
         EVP_MAC_final(ctx, md, &mdlen, sizeof(md)) == 1 && mdlen == 32;
    EVP_MAC_CTX_free(ctx);
    EVP_MAC_free(mac);
    if (!ok) {
        hex[0] = '\0';
        return SL_EIO;
    }
    for (i = 0; i < 32; i++) {
        hex[2 * i] = digits[md[i] >> 4];
        hex[2 * i + 1] = digits[md[i] & 15];
    }
    hex[SL_AUDIT_HMAC_HEX] = '\0';
    return SL_OK;
}

int sl_audit_key_load(const char *path, struct sl_buf *key, struct sl_err *err)
{
    char chunk[1024];
    FILE *f;
    size_t n;
    int rc = SL_OK;

    sl_buf_reset(key);
    f = fopen(path, "rb");
    if (f == NULL) {
        rc = sl_rc_from_errno(errno);
        return sl_err_set(err, rc, "cannot open key file %s: %s", path,
                          sl_strerror(rc));
    }
    while (rc == SL_OK && (n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
        if (key->len + n > SL_AUDIT_KEY_MAX + 2) {
            rc = SL_ELIMIT;
        } else {
            rc = sl_buf_append(key, chunk, n);
        }
    }
    if (rc == SL_OK && ferror(f)) {
        rc = SL_EIO;
    }
    fclose(f);
    explicit_bzero(chunk, sizeof(chunk));
    while (key->len > 0 && (key->data[key->len - 1] == '\n' ||
                            key->data[key->len - 1] == '\r')) {
        key->data[--key->len] = '\0';
    }
    if (rc == SL_OK &&
        (key->len < SL_AUDIT_KEY_MIN || key->len > SL_AUDIT_KEY_MAX)) {
        rc = SL_EINVAL;
    }
    if (rc != SL_OK) {
        return sl_err_set(err, rc,
                          "key file %s: cannot read a key of %d to %d bytes "
                          "(%s)",
                          path, SL_AUDIT_KEY_MIN, SL_AUDIT_KEY_MAX,
                          sl_strerror(rc));
    }
    return SL_OK;
}

/* ---- sluice audit verify ----------------------------------------------- */

#define VERIFY_MAX_IGNORE 32

struct verify_entry {
    bool valid;    /* an entry is held */
    bool bad_json; /* the line is not a JSON object */
    uint64_t seq;
    char hmac[SL_AUDIT_HMAC_HEX + 1];
    const char *file;
    uint64_t line;
    struct sl_buf canon;
    struct sl_arena arena;
};

struct verify {
    struct sl_buf key;
    const char *ignore[VERIFY_MAX_IGNORE];
    size_t nignore;
    bool partial;
    char **files;
    int nfiles;
    int fi; /* current file */
    FILE *f;
    uint64_t line;
    struct sl_buf lbuf; /* the current line */
    uint64_t records, skipped;
    uint64_t first_seq;
    int io_error;
};

static void verify_usage(void)
{
    fprintf(stderr,
            "Usage: sluice audit verify --key-file KEY [--ignore-key NAME]... "
            "[--partial] FILE...\n"
            "Checks the audit chain (audit.seq, audit.hmac) of NDJSON "
            "files, in the order given.\n"
            "  --key-file KEY     file holding the chain's HMAC key\n"
            "  --ignore-key NAME  top-level key an output added (e.g. a "
            "time_key); repeatable\n"
            "  --partial          the first record may be mid-chain (e.g. "
            "after rotation)\n"
            "Exit status: 0 verified, 1 gap, reorder or alteration found, 2 "
            "usage or I/O error.\n");
}

/* Reads audit.seq and audit.hmac of <rec>; false when absent. */
static bool verify_fields(const struct sl_json *rec, uint64_t *seq,
                          char hmac[SL_AUDIT_HMAC_HEX + 1])
{
    const struct sl_json *au = sl_json_obj_get(rec, SL_STR_LIT("audit"));
    const struct sl_json *s;
    const struct sl_json *h;
    int64_t v;

    if (au == NULL || au->type != SL_JSON_OBJECT) {
        return false;
    }
    s = sl_json_obj_get(au, SL_STR_LIT("seq"));
    h = sl_json_obj_get(au, SL_STR_LIT("hmac"));
    if (s == NULL || h == NULL || h->type != SL_JSON_STRING ||
        h->u.str.len != SL_AUDIT_HMAC_HEX || !sl_json_get_i64(s, &v) || v < 1) {
        return false;
    }
    *seq = (uint64_t)v;
    memcpy(hmac, h->u.str.ptr, SL_AUDIT_HMAC_HEX);
    hmac[SL_AUDIT_HMAC_HEX] = '\0';
    return true;
}

/* Reads one line of v->f into v->lbuf; false at the end of the file. */
static bool verify_read_line(struct verify *v)
{
    char chunk[4096];
    size_t n;

    sl_buf_reset(&v->lbuf);
    while (fgets(chunk, sizeof(chunk), v->f) != NULL) {
        n = strlen(chunk);
        if (sl_buf_append(&v->lbuf, chunk, n) != SL_OK) {
            v->io_error = 1;
            return false;
        }
        if (n > 0 && chunk[n - 1] == '\n') {
            return true;
        }
    }
    return v->lbuf.len > 0;
}

/* Next line of the input files; false at the end of the last one. */
static bool verify_getline(struct verify *v, struct sl_str *line)
{
    size_t n;

    for (;;) {
        if (v->f == NULL) {
            if (v->fi >= v->nfiles || v->io_error) {
                return false;
            }
            v->f = fopen(v->files[v->fi], "rb");
            v->line = 0;
            if (v->f == NULL) {
                fprintf(stderr, "sluice audit: cannot open %s: %s\n",
                        v->files[v->fi], strerror(errno));
                v->io_error = 1;
                return false;
            }
        }
        if (verify_read_line(v)) {
            v->line++;
            n = v->lbuf.len;
            while (n > 0 && (v->lbuf.data[n - 1] == '\n' ||
                             v->lbuf.data[n - 1] == '\r')) {
                n--;
            }
            *line = sl_str_make(v->lbuf.data, n);
            return true;
        }
        if (ferror(v->f)) {
            fprintf(stderr, "sluice audit: cannot read %s\n", v->files[v->fi]);
            v->io_error = 1;
        }
        fclose(v->f);
        v->f = NULL;
        v->fi++;
    }
}

/* Reads the next audit entry into <e>; e->valid is false at the end. */
static int verify_next(struct verify *v, struct verify_entry *e)
{
    struct sl_str line;
    struct sl_json *rec;
    size_t i;

    e->valid = false;
    while (verify_getline(v, &line)) {
        sl_arena_reset(&e->arena);
        if (line.len == 0) {
            continue;
        }
        e->file = v->files[v->fi];
        e->line = v->line;
        if (sl_json_parse(&e->arena, line.ptr, line.len, &rec, NULL) != SL_OK ||
            rec->type != SL_JSON_OBJECT) {
            e->valid = true;
            e->bad_json = true;
            return SL_OK;
        }
        if (!verify_fields(rec, &e->seq, e->hmac)) {
            v->skipped++;
            continue;
        }
        for (i = 0; i < v->nignore; i++) {
            sl_json_obj_remove(rec, sl_str_cstr(v->ignore[i]));
        }
        sl_buf_reset(&e->canon);
        e->valid = true;
        e->bad_json = false;
        return sl_audit_canonical(rec, &e->arena, &e->canon);
    }
    return SL_OK;
}

static int verify_args(struct verify *v, int argc, char **argv)
{
    const char *key_file = NULL;
    struct sl_err err;
    int i;

    for (i = 1; i < argc && argv[i][0] == '-'; i++) {
        if (strcmp(argv[i], "--key-file") == 0 && i + 1 < argc) {
            key_file = argv[++i];
        } else if (strcmp(argv[i], "--ignore-key") == 0 && i + 1 < argc &&
                   v->nignore < VERIFY_MAX_IGNORE) {
            v->ignore[v->nignore++] = argv[++i];
        } else if (strcmp(argv[i], "--partial") == 0) {
            v->partial = true;
        } else {
            verify_usage();
            return 2;
        }
    }
    if (key_file == NULL || i >= argc) {
        verify_usage();
        return 2;
    }
    v->files = argv + i;
    v->nfiles = argc - i;
    if (sl_audit_key_load(key_file, &v->key, &err) != SL_OK) {
        fprintf(stderr, "sluice audit: %s\n", err.msg);
        return 2;
    }
    return 0;
}

static int verify_report_jump(const struct verify_entry *cur,
                              const struct verify_entry *nxt, uint64_t expected)
{
    if (nxt->valid && !nxt->bad_json && nxt->seq == expected) {
        printf("REORDER at seq %" PRIu64 ": seq %" PRIu64 " comes before it "
               "(%s:%" PRIu64 ")\n",
               expected, cur->seq, cur->file, cur->line);
    } else {
        printf(
            "GAP at seq %" PRIu64 ": the next record has seq %" PRIu64
            ", records %" PRIu64 "..%" PRIu64 " are missing (%s:%" PRIu64 ")\n",
            expected, cur->seq, expected, cur->seq - 1, cur->file, cur->line);
    }
    return 1;
}

/* Checks entry <cur> against the chain; 0 to go on, 1 on a problem. */
static int verify_step(struct verify *v, struct verify_entry *cur,
                       struct verify_entry *nxt, uint64_t *expected,
                       char prev[SL_AUDIT_HMAC_HEX + 1])
{
    char h[SL_AUDIT_HMAC_HEX + 1];

    if (cur->bad_json) {
        printf("ALTERED at seq %" PRIu64 ": the line is not a JSON object "
               "(%s:%" PRIu64 ")\n",
               *expected, cur->file, cur->line);
        return 1;
    }
    if (v->records == 0) {
        v->first_seq = cur->seq;
        if (cur->seq != 1 && v->partial) {
            /* Anchor a partial chain on its first record. */
            memcpy(prev, cur->hmac, sizeof(h));
            *expected = cur->seq + 1;
            v->records++;
            return 0;
        }
    }
    if (cur->seq > *expected) {
        if (verify_next(v, nxt) != SL_OK) {
            return 2;
        }
        return verify_report_jump(cur, nxt, *expected);
    }
    if (cur->seq < *expected) {
        printf("REORDER at seq %" PRIu64 ": it comes after seq %" PRIu64
               " (%s:%" PRIu64 ")\n",
               cur->seq, *expected - 1, cur->file, cur->line);
        return 1;
    }
    if (sl_audit_hmac(sl_buf_str(&v->key), sl_str_cstr(prev),
                      sl_buf_str(&cur->canon), h) != SL_OK) {
        return 2;
    }
    if (strcmp(h, cur->hmac) != 0) {
        printf("ALTERED at seq %" PRIu64 ": the HMAC does not match "
               "(%s:%" PRIu64 ")\n",
               cur->seq, cur->file, cur->line);
        return 1;
    }
    memcpy(prev, h, sizeof(h));
    (*expected)++;
    v->records++;
    return 0;
}

static int verify_run(struct verify *v)
{
    struct verify_entry ents[2];
    struct verify_entry *cur = &ents[0];
    struct verify_entry *nxt = &ents[1];
    struct verify_entry *tmp;
    char prev[SL_AUDIT_HMAC_HEX + 1] = "";
    uint64_t expected = 1;
    int rc = 0;
    int i;

    memset(ents, 0, sizeof(ents));
    for (i = 0; i < 2; i++) {
        sl_buf_init(&ents[i].canon, 0);
        sl_arena_init(&ents[i].arena, 0, 0);
    }
    if (verify_next(v, cur) != SL_OK) {
        rc = 2;
    }
    while (rc == 0 && cur->valid) {
        rc = verify_step(v, cur, nxt, &expected, prev);
        if (rc == 0) {
            tmp = cur;
            cur = nxt;
            nxt = tmp;
            rc = verify_next(v, cur) == SL_OK ? 0 : 2;
        }
    }
    if (rc == 0 && v->io_error) {
        rc = 2;
    }
    if (rc == 0) {
        printf("OK: %" PRIu64 " records verified (seq %" PRIu64 "..%" PRIu64
               "), %" PRIu64 " lines without audit fields skipped; last "
               "hmac %s\n",
               v->records, v->records > 0 ? v->first_seq : 0, expected - 1,
               v->skipped, prev[0] != '\0' ? prev : "-");
    }
    for (i = 0; i < 2; i++) {
        sl_buf_fini(&ents[i].canon);
        sl_arena_fini(&ents[i].arena);
    }
    return rc;
}

int sl_audit_main(int argc, char **argv)
{
    struct verify v;
    int rc;

    memset(&v, 0, sizeof(v));
    sl_buf_init(&v.key, 0);
    sl_buf_init(&v.lbuf, 0);
    if (argc < 1 || strcmp(argv[0], "verify") != 0) {
        verify_usage();
        rc = 2;
        goto done;
    }
    rc = verify_args(&v, argc, argv);
    if (rc == 0) {
        rc = verify_run(&v);
    }
done:
    if (v.f != NULL) {
        fclose(v.f);
    }
    sl_buf_fini(&v.lbuf);
    if (v.key.data != NULL) {
        explicit_bzero(v.key.data, v.key.cap);
    }
    sl_buf_fini(&v.key);
    return rc;
}
