/*
 * filter_redact.c - mask secrets and personal data before records leave
 * the host.
 *
 * Detectors (option 'detectors'):
 *   card         payment card numbers passing the Luhn check: 13 to 19
 *                digits in one run, or in groups split by one space or
 *                dash laid out as cards print them (4-4-4-4, 4-6-5)
 *   email        e-mail addresses
 *   bearer       the token after "Bearer "
 *   jwt          JSON Web Tokens (eyJ....eyJ....sig)
 *   aws_key      AWS access key ids (AKIA..., ASIA..., 20 characters)
 *   private_key  PEM private key blocks, BEGIN to END (or to the end)
 *   secret_keys  the whole value of keys named like password, secret,
 *                token, api_key, authorization, credentials (regex
 *                'secret_keys_regex'), at any depth
 *   ipv4, ipv6   IP addresses (off unless listed)
 * plus 'custom' regexes ("NAME REGEX"; group 1 when the pattern has a
 * group, else the whole match).
 *
 * Every string (and number, whose text may be a card number) at any depth
 * is scanned, or only the values under 'fields'.  Matches are merged where
 * they overlap and replaced according to 'mode':
 *   mask    each byte becomes mask_char, except the last keep_last bytes
 *           when the match is at least 3 * keep_last long (so at most a
 *           third shows); private keys and values under secret keys are
 *           masked whole
 *   hash    "hmac:" + hex HMAC-SHA256(key from hash_key_file, match), the
 *           same for the same input, so joins still work
 *   remove  the member (or array element) holding a match is removed
 *
 * Matches are counted per detector (sluice_redact_matches_total).  Regexes
 * are compiled (JIT) at init; per record only the record's arena and this
 * instance's scratch buffer are used.  Main thread.
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdio.h>
#include <string.h>

#include "sluice/audit.h"
#include "sluice/plugin.h"
#include "sluice/banned.h"

#define REDACT_MAX_DET   40
#define REDACT_MAX_SPANS 64
#define REDACT_MAX_DEPTH 64

enum redact_mode {
    REDACT_MASK,
    REDACT_HASH,
    REDACT_REMOVE,
};

/* Built-in detectors; their index is their bit in the enabled mask. */
enum redact_builtin {
    DET_CARD,
    DET_EMAIL,
    DET_BEARER,
    DET_JWT,
    DET_AWS,
    DET_PKEY,
    DET_IPV4,
    DET_IPV6,
    DET_SECRET_KEYS,
    DET_NBUILTIN,
};

static const char *const redact_names[] = {
    [DET_CARD] = "card",
    [DET_EMAIL] = "email",
    [DET_BEARER] = "bearer",
    [DET_JWT] = "jwt",
    [DET_AWS] = "aws_key",
    [DET_PKEY] = "private_key",
    [DET_IPV4] = "ipv4",
    [DET_IPV6] = "ipv6",
    [DET_SECRET_KEYS] = "secret_keys",
};

/* Patterns of the regex detectors (secret_keys uses the option). */
static const char *const redact_patterns[] = {
    [DET_CARD] = "(?<![0-9])[0-9]+(?:[ -]?[0-9]+)*(?![0-9])",
    [DET_EMAIL] = "[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\\.[A-Za-z0-9-]+)*"
                  "\\.[A-Za-z]{2,}",
    [DET_BEARER] = "(?i)\\bbearer\\s+([A-Za-z0-9._~+/-]+=*)",
    [DET_JWT] = "eyJ[A-Za-z0-9_-]+\\.eyJ[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]*",
    [DET_AWS] = "(?<![A-Z0-9])(?:AKIA|ASIA|AGPA|AIDA|AROA|AIPA|ANPA|ANVA)"
                "[A-Z0-9]{16}(?![A-Z0-9])",
    [DET_PKEY] = "-----BEGIN[A-Z ]*PRIVATE KEY-----(?s:.*?)"
                 "(?:-----END[A-Z ]*PRIVATE KEY-----|$)",
    [DET_IPV4] = "(?<![0-9.])(?:(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?"
                 "[0-9])\\.){3}(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?"
                 "[0-9])(?![0-9])",
    [DET_IPV6] = "(?i)(?<![0-9a-f:.])(?:(?:[0-9a-f]{1,4}:){7}[0-9a-f]{1,4}|"
                 "(?:[0-9a-f]{1,4}:){0,6}[0-9a-f]{0,4}::(?:[0-9a-f]{1,4}:)"
                 "{0,6}[0-9a-f]{1,4}|(?:[0-9a-f]{1,4}:){1,7}:)"
                 "(?![0-9a-f:])",
    [DET_SECRET_KEYS] = NULL,
};

struct filter_redact_conf {
    struct sl_strlist detectors;
    struct sl_strlist custom;
    int mode;
    int64_t keep_last;
    char *mask_char;
    char *hash_key_file;
    char *secret_keys_regex;
    struct sl_strlist fields;
};

struct redact_det {
    char *name;
    pcre2_code *re;
    bool group; /* replace capture group 1 */
    bool card;  /* candidates need the card check */
    bool whole; /* mask every byte (private keys) */
    struct sl_metric *m;
    uint64_t hits;
};

struct redact_span {
    size_t s, e;
    bool whole; /* no byte kept visible */
};

struct filter_redact_ctx {
    struct redact_det dets[REDACT_MAX_DET];
    size_t ndets;
    pcre2_code *secret_re; /* NULL when secret_keys is off */
    struct redact_det *secret_det;
    struct sl_accessor *fields;
    size_t nfields;
    int mode;
    size_t keep_last;
    char mask;
    struct sl_buf key;
    pcre2_match_data *md;
    struct sl_buf scratch;
    struct redact_span spans[REDACT_MAX_SPANS];
};

static const char *const redact_modes[] = { "mask", "hash", "remove", NULL };

static const struct sl_option filter_redact_options[] = {
    { .name = "detectors",
      .type = SL_OPT_LIST,
      .def = "card,email,bearer,jwt,aws_key,private_key,secret_keys",
      SL_OPT_FIELD(struct filter_redact_conf, detectors),
      .desc = "Built-in detectors to run: card (Luhn-checked card numbers), "
              "email, bearer (tokens after Bearer), jwt, aws_key (access "
              "key ids), private_key (PEM blocks), secret_keys (whole "
              "values of password-, secret- or token-like keys), ipv4 and "
              "ipv6." },
    { .name = "custom",
      .type = SL_OPT_LIST,
      .flags = SL_OPT_MULTI,
      SL_OPT_FIELD(struct filter_redact_conf, custom),
      .desc = "More detectors, given as 'NAME REGEX' (PCRE2). When the "
              "pattern has a capture group, only group 1 is replaced." },
    { .name = "mode",
      .type = SL_OPT_ENUM,
      .def = "mask",
      .choices = redact_modes,
      SL_OPT_FIELD(struct filter_redact_conf, mode),
      .desc = "mask replaces each byte of a match with mask_char, keeping "
              "the last keep_last bytes of long matches; hash replaces a "
              "match with hmac: and its hex HMAC-SHA256 under the key in "
              "hash_key_file; remove drops the member holding a match." },
    { .name = "keep_last",
      .type = SL_OPT_INT,
      .def = "4",
      .max = 16,
      SL_OPT_FIELD(struct filter_redact_conf, keep_last),
      .desc = "mask: bytes left visible at the end of a match at least "
              "three times as long. Values under secret keys are masked "
              "whole." },
    { .name = "mask_char",
      .type = SL_OPT_STR,
      .def = "*",
      SL_OPT_FIELD(struct filter_redact_conf, mask_char),
      .desc = "mask: the ASCII character that replaces masked bytes." },
    { .name = "hash_key_file",
      .type = SL_OPT_STR,
      SL_OPT_FIELD(struct filter_redact_conf, hash_key_file),
      .desc = "hash: file holding the HMAC key (16 to 4096 bytes; a "
              "trailing newline is ignored). Required with mode hash." },
    { .name = "secret_keys_regex",
      .type = SL_OPT_STR,
      .def = "(?i)^(?:.*[_.-])?(?:pass(?:word|wd|phrase)?|secret|token|"
             "api[_-]?key|access[_-]?key|private[_-]?key|auth(?:orization)?|"
             "credentials?|cookie|session[_-]?id)$",
      SL_OPT_FIELD(struct filter_redact_conf, secret_keys_regex),
      .desc = "secret_keys: key names whose whole value is a secret." },
    { .name = "fields",
      .type = SL_OPT_LIST,
      .flags = SL_OPT_MULTI,
      SL_OPT_FIELD(struct filter_redact_conf, fields),
      .desc = "Record accessors of the values to scan (with everything "
              "under them). Unset: the whole record." },
    SL_OPT_END,
};

static void redact_ctx_destroy(struct filter_redact_ctx *ctx)
{
    size_t i;

    if (ctx == NULL) {
        return;
    }
    for (i = 0; i < ctx->ndets; i++) {
        sl_free(ctx->dets[i].name);
        pcre2_code_free(ctx->dets[i].re);
    }
    pcre2_code_free(ctx->secret_re);
    for (i = 0; i < ctx->nfields; i++) {
        sl_accessor_fini(&ctx->fields[i]);
    }
    sl_free(ctx->fields);
    if (ctx->key.data != NULL) {
        explicit_bzero(ctx->key.data, ctx->key.cap);
    }
    sl_buf_fini(&ctx->key);
    sl_buf_fini(&ctx->scratch);
    pcre2_match_data_free(ctx->md);
    sl_free(ctx);
}

static pcre2_code *redact_compile(const char *name, const char *pat, size_t len,
                                  struct sl_err *err)
{
    PCRE2_UCHAR msg[256];
    PCRE2_SIZE eoff = 0;
    int ecode = 0;
    pcre2_code *re =
        pcre2_compile((PCRE2_SPTR)pat, len, PCRE2_UTF | PCRE2_MATCH_INVALID_UTF,
                      &ecode, &eoff, NULL);

    if (re == NULL) {
        pcre2_get_error_message(ecode, msg, sizeof(msg));
        sl_err_set(err, ecode == PCRE2_ERROR_NOMEMORY ? SL_ENOMEM : SL_ECONFIG,
                   "redact: invalid regex for detector '%s' at offset %zu: "
                   "%s",
                   name, (size_t)eoff, (char *)msg);
        return NULL;
    }
    (void)pcre2_jit_compile(re, PCRE2_JIT_COMPLETE);
    return re;
}

/* Adds detector <name> with <pat> (<len> bytes). */
static int redact_add(struct sl_instance *ins, struct filter_redact_ctx *ctx,
                      struct sl_str name, const char *pat, size_t len,
                      struct sl_err *err)
{
    struct redact_det *d = &ctx->dets[ctx->ndets];
    uint32_t caps = 0;

    if (ctx->ndets >= REDACT_MAX_DET) {
        return sl_err_set(err, SL_ECONFIG, "redact: at most %d detectors",
                          REDACT_MAX_DET);
    }
    d->name = sl_strndup(name.ptr, name.len);
    if (d->name == NULL) {
        return sl_err_set(err, SL_ENOMEM, "redact: out of memory");
    }
    ctx->ndets++;
    d->m = sl_metric_counter(ins, "sluice_redact_matches_total",
                             "Values redacted, per detector.", "detector",
                             d->name);
    if (pat == NULL) {
        return SL_OK; /* secret_keys: matched on key names */
    }
    d->re = redact_compile(d->name, pat, len, err);
    if (d->re == NULL) {
        return err->rc;
    }
    (void)pcre2_pattern_info(d->re, PCRE2_INFO_CAPTURECOUNT, &caps);
    d->group = caps > 0;
    d->card = sl_str_eq_cstr(name, "card") && pat == redact_patterns[DET_CARD];
    d->whole = pat == redact_patterns[DET_PKEY];
    return SL_OK;
}

static int redact_builtins(struct sl_instance *ins,
                           struct filter_redact_ctx *ctx,
                           const struct filter_redact_conf *c,
                           struct sl_err *err)
{
    size_t i;
    size_t k;
    int rc;

    for (i = 0; i < c->detectors.n; i++) {
        for (k = 0; k < DET_NBUILTIN; k++) {
            if (strcmp(c->detectors.v[i], redact_names[k]) == 0) {
                break;
            }
        }
        if (k == DET_NBUILTIN) {
            return sl_err_set(err, SL_ECONFIG,
                              "redact: unknown detector '%s' (expected card, "
                              "email, bearer, jwt, aws_key, private_key, "
                              "secret_keys, ipv4 or ipv6)",
                              c->detectors.v[i]);
        }
        rc = redact_add(
            ins, ctx, sl_str_cstr(redact_names[k]), redact_patterns[k],
            k == DET_SECRET_KEYS ? 0 : strlen(redact_patterns[k]), err);
        if (rc != SL_OK) {
            return rc;
        }
        if (k == DET_SECRET_KEYS) {
            ctx->secret_det = &ctx->dets[ctx->ndets - 1];
            ctx->secret_re = redact_compile("secret_keys", c->secret_keys_regex,
                                            strlen(c->secret_keys_regex), err);
            if (ctx->secret_re == NULL) {
                return err->rc;
            }
        }
    }
    return SL_OK;
}

static int redact_customs(struct sl_instance *ins,
                          struct filter_redact_ctx *ctx,
                          const struct sl_strlist *l, struct sl_err *err)
{
    size_t i;
    const char *sp;
    const char *pat;
    int rc;

    for (i = 0; i < l->n; i++) {
        sp = strpbrk(l->v[i], " \t");
        pat = sp;
        while (pat != NULL && (*pat == ' ' || *pat == '\t')) {
            pat++;
        }
        if (sp == NULL || sp == l->v[i] || *pat == '\0') {
            return sl_err_set(err, SL_ECONFIG,
                              "redact: custom expects 'NAME REGEX', got "
                              "'%s'",
                              l->v[i]);
        }
        rc = redact_add(ins, ctx, sl_str_make(l->v[i], (size_t)(sp - l->v[i])),
                        pat, strlen(pat), err);
        if (rc != SL_OK) {
            return rc;
        }
    }
    return SL_OK;
}

static int redact_setup(struct sl_instance *ins, struct filter_redact_ctx *ctx,
                        const struct filter_redact_conf *c, struct sl_err *err)
{
    size_t i;
    int rc;

    if (c->mask_char == NULL || strlen(c->mask_char) != 1 ||
        (unsigned char)c->mask_char[0] < 0x20 ||
        (unsigned char)c->mask_char[0] > 0x7e) {
        return sl_err_set(err, SL_ECONFIG,
                          "redact: mask_char must be one printable ASCII "
                          "character");
    }
    ctx->mask = c->mask_char[0];
    ctx->mode = c->mode;
    ctx->keep_last = (size_t)c->keep_last;
    if (c->mode == REDACT_HASH) {
        if (c->hash_key_file == NULL) {
            return sl_err_set(err, SL_ECONFIG,
                              "redact: mode hash needs hash_key_file");
        }
        rc = sl_audit_key_load(c->hash_key_file, &ctx->key, err);
        if (rc != SL_OK) {
            return rc;
        }
    }
    rc = redact_builtins(ins, ctx, c, err);
    if (rc == SL_OK) {
        rc = redact_customs(ins, ctx, &c->custom, err);
    }
    if (rc != SL_OK) {
        return rc;
    }
    if (ctx->ndets == 0) {
        return sl_err_set(err, SL_ECONFIG, "redact: no detector enabled");
    }
    ctx->fields = sl_calloc(c->fields.n + 1, sizeof(*ctx->fields));
    if (ctx->fields == NULL) {
        return sl_err_set(err, SL_ENOMEM, "redact: out of memory");
    }
    for (i = 0; i < c->fields.n; i++) {
        rc = sl_accessor_compile(&ctx->fields[i], c->fields.v[i], err);
        if (rc != SL_OK) {
            return rc;
        }
        ctx->nfields++;
    }
    ctx->md = pcre2_match_data_create(4, NULL);
    return ctx->md != NULL
               ? SL_OK
               : sl_err_set(err, SL_ENOMEM, "redact: out of memory");
}

static int filter_redact_init(struct sl_instance *ins, void *conf,
                              struct sl_err *err)
{
    struct filter_redact_ctx *ctx = sl_calloc(1, sizeof(*ctx));
    int rc;

    if (ctx == NULL) {
        return sl_err_set(err, SL_ENOMEM, "redact: out of memory");
    }
    sl_buf_init(&ctx->key, 0);
    sl_buf_init(&ctx->scratch, 0);
    rc = redact_setup(ins, ctx, conf, err);
    if (rc != SL_OK) {
        redact_ctx_destroy(ctx);
        return rc;
    }
    sl_instance_set_ctx(ins, ctx);
    return SL_OK;
}

/* ---- detection -------------------------------------------------------- */

static bool redact_luhn(const char *p, size_t n, size_t digits)
{
    unsigned sum = 0;
    size_t k = 0;
    size_t i = n;

    if (digits < 13 || digits > 19) {
        return false;
    }
    while (i > 0) {
        unsigned d;

        i--;
        if (p[i] < '0' || p[i] > '9') {
            continue;
        }
        d = (unsigned)(p[i] - '0');
        if (k++ % 2 == 1) {
            d = d * 2 > 9 ? d * 2 - 9 : d * 2;
        }
        sum += d;
    }
    return sum % 10 == 0;
}

/* Adds span [s, e) to the sorted, merged list; false when full. */
static bool redact_span_add(struct filter_redact_ctx *ctx, size_t *n, size_t s,
                            size_t e, bool whole)
{
    size_t i = 0;
    size_t j;

    while (i < *n && ctx->spans[i].e < s) {
        i++;
    }
    if (i < *n && ctx->spans[i].s <= e) {
        /* Overlaps or touches span i (and maybe the ones after it). */
        if (s < ctx->spans[i].s) {
            ctx->spans[i].s = s;
        }
        if (e > ctx->spans[i].e) {
            ctx->spans[i].e = e;
        }
        ctx->spans[i].whole |= whole;
        j = i + 1;
        while (j < *n && ctx->spans[j].s <= ctx->spans[i].e) {
            if (ctx->spans[j].e > ctx->spans[i].e) {
                ctx->spans[i].e = ctx->spans[j].e;
            }
            ctx->spans[i].whole |= ctx->spans[j].whole;
            j++;
        }
        memmove(&ctx->spans[i + 1], &ctx->spans[j],
                (*n - j) * sizeof(ctx->spans[0]));
        *n -= j - i - 1;
        return true;
    }
    if (*n >= REDACT_MAX_SPANS) {
        return false;
    }
    memmove(&ctx->spans[i + 1], &ctx->spans[i],
            (*n - i) * sizeof(ctx->spans[0]));
    ctx->spans[i].s = s;
    ctx->spans[i].e = e;
    ctx->spans[i].whole = whole;
    (*n)++;
    return true;
}

#define REDACT_MAX_GROUPS 64

struct redact_group {
    size_t s, e; /* bytes [s, e) of one run of digits */
};

/* True when groups <g>[0..n) are laid out like a card number: 4-4-4-4
 * with a last group of 1 to 4 digits after 3 or more groups of 4, or the
 * 4-6-5 / 4-6-4 layouts of 15- and 14-digit cards. */
static bool redact_card_layout(const struct redact_group *g, size_t n)
{
    size_t i;

    if (n == 3 && g[0].e - g[0].s == 4 && g[1].e - g[1].s == 6 &&
        (g[2].e - g[2].s == 5 || g[2].e - g[2].s == 4)) {
        return true;
    }
    if (n < 4) {
        return false;
    }
    for (i = 0; i + 1 < n; i++) {
        if (g[i].e - g[i].s != 4) {
            return false;
        }
    }
    return g[n - 1].e - g[n - 1].s >= 1 && g[n - 1].e - g[n - 1].s <= 4;
}

static size_t redact_digits(const struct redact_group *g, size_t n)
{
    size_t d = 0;
    size_t i;

    for (i = 0; i < n; i++) {
        d += g[i].e - g[i].s;
    }
    return d;
}

/* Splits the run [s, e) into its digit groups; returns how many. */
static size_t redact_groups(const char *p, size_t s, size_t e,
                            struct redact_group *g)
{
    size_t n = 0;
    size_t i = s;

    while (i < e && n < REDACT_MAX_GROUPS) {
        g[n].s = i;
        while (i < e && p[i] >= '0' && p[i] <= '9') {
            i++;
        }
        g[n++].e = i;
        while (i < e && (p[i] == ' ' || p[i] == '-')) {
            i++;
        }
    }
    return n;
}

/* Card numbers inside a run of digit groups [s, e): one group of 13 to
 * 19 digits, or consecutive groups in a card layout, passing the Luhn
 * check.  Returns the hits, or -1 when the span list is full. */
static int redact_card_groups(struct filter_redact_ctx *ctx, const char *p,
                              const struct redact_group *g, size_t ng,
                              size_t *n)
{
    size_t i = 0;
    size_t k;
    size_t d;
    int hits = 0;

    while (i < ng) {
        for (k = ng - i < 6 ? ng - i : 6; k >= 1; k--) {
            d = redact_digits(&g[i], k);
            if ((k == 1 || redact_card_layout(&g[i], k)) &&
                redact_luhn(p + g[i].s, g[i + k - 1].e - g[i].s, d)) {
                break;
            }
        }
        if (k == 0) {
            i++;
            continue;
        }
        if (!redact_span_add(ctx, n, g[i].s, g[i + k - 1].e, false)) {
            return -1;
        }
        hits++;
        i += k;
    }
    return hits;
}

static int redact_card_run(struct filter_redact_ctx *ctx, const char *p,
                           size_t s, size_t e, size_t *n)
{
    struct redact_group g[REDACT_MAX_GROUPS];
    size_t ng;
    int hits = 0;
    int h;

    for (;;) {
        ng = redact_groups(p, s, e, g);
        h = redact_card_groups(ctx, p, g, ng, n);
        if (h < 0) {
            return -1;
        }
        hits += h;
        if (ng < REDACT_MAX_GROUPS || g[ng - 1].e >= e) {
            return hits;
        }
        /* A long run: go on, overlapping the last groups so that no
         * window is missed (spans found twice merge). */
        s = g[ng - 6].s;
    }
}

/* Records the match in the match data of <ctx> (<grouped>: group 1
 * matched); returns the hits or -1 when the span list is full. */
static int redact_match(struct filter_redact_ctx *ctx,
                        const struct redact_det *d, const char *p, bool grouped,
                        size_t *n)
{
    const PCRE2_SIZE *ov = pcre2_get_ovector_pointer(ctx->md);

    if (ov[1] == ov[0]) {
        return 0; /* an empty match hides nothing */
    }
    if (d->card) {
        return redact_card_run(ctx, p, ov[0], ov[1], n);
    }
    if (d->group && grouped) {
        return redact_span_add(ctx, n, ov[2], ov[3], d->whole) ? 1 : -1;
    }
    return redact_span_add(ctx, n, ov[0], ov[1], d->whole) ? 1 : -1;
}

/* Runs detector <d> over <p>/<len>; returns its hits or -1 when the span
 * list is full. */
static int redact_run(struct filter_redact_ctx *ctx, struct redact_det *d,
                      const char *p, size_t len, size_t *n)
{
    PCRE2_SIZE *ov = pcre2_get_ovector_pointer(ctx->md);
    size_t off = 0;
    int hits = 0;
    int rc;
    int k;

    while (off <= len) {
        rc = pcre2_match(d->re, (PCRE2_SPTR)p, len, off, 0, ctx->md, NULL);
        if (rc < 0) {
            break;
        }
        k = redact_match(ctx, d, p, rc > 1 && ov[2] != PCRE2_UNSET, n);
        if (k < 0) {
            return -1;
        }
        hits += k;
        /* After a group match, look again from inside the match: in
         * "Bearer Bearer TOKEN" the second word starts the real one. */
        if (d->group && rc > 1 && ov[2] != PCRE2_UNSET && ov[2] > ov[0]) {
            off = ov[2];
        } else {
            off = ov[1] > ov[0] ? ov[1] : ov[0] + 1;
        }
    }
    return hits;
}

/* Finds every match in <p>/<len>; returns the span count.  When the spans
 * do not fit, the whole text is one span (nothing may leak). */
static size_t redact_detect(struct filter_redact_ctx *ctx, const char *p,
                            size_t len)
{
    size_t n = 0;
    size_t i;
    int h;

    for (i = 0; i < ctx->ndets; i++) {
        if (ctx->dets[i].re == NULL) {
            continue;
        }
        h = redact_run(ctx, &ctx->dets[i], p, len, &n);
        if (h < 0) {
            ctx->dets[i].hits++;
            ctx->spans[0].s = 0;
            ctx->spans[0].e = len;
            ctx->spans[0].whole = true;
            return 1;
        }
        ctx->dets[i].hits += (uint64_t)h;
    }
    return n;
}

/* ---- replacement ------------------------------------------------------ */

/* Appends the replacement of <p>/<n> to the scratch buffer. */
static int redact_replace(struct filter_redact_ctx *ctx, const char *p,
                          size_t n, bool whole)
{
    char hex[SL_AUDIT_HMAC_HEX + 1];
    size_t keep = 0;
    size_t i;
    int rc = SL_OK;

    if (ctx->mode == REDACT_HASH) {
        rc = sl_audit_hmac(sl_buf_str(&ctx->key), SL_STR_NULL,
                           sl_str_make(p, n), hex);
        if (rc == SL_OK) {
            rc = sl_buf_append(&ctx->scratch, "hmac:", 5);
        }
        return rc == SL_OK
                   ? sl_buf_append(&ctx->scratch, hex, SL_AUDIT_HMAC_HEX)
                   : rc;
    }
    if (!whole && ctx->keep_last > 0 && n >= 3 * ctx->keep_last) {
        keep = ctx->keep_last;
        /* Keep whole UTF-8 characters only. */
        while (keep > 0 && ((unsigned char)p[n - keep] & 0xc0) == 0x80) {
            keep--;
        }
    }
    for (i = 0; i < n - keep && rc == SL_OK; i++) {
        rc = sl_buf_putc(&ctx->scratch, ctx->mask);
    }
    return rc == SL_OK ? sl_buf_append(&ctx->scratch, p + n - keep, keep) : rc;
}

/* Result of redacting one value. */
enum redact_res {
    RR_SAME,
    RR_CHANGED,
    RR_REMOVE,
};

/* Replaces scalar <v> with a string rendering of its redaction: the whole
 * value when <whole>, else the <nspans> spans. */
static enum redact_res redact_apply(struct filter_redact_ctx *ctx,
                                    struct sl_record *r, struct sl_json *v,
                                    struct sl_str text, size_t nspans,
                                    bool whole)
{
    size_t at = 0;
    size_t i;
    int rc = SL_OK;
    struct sl_json *nv;

    if (ctx->mode == REDACT_REMOVE) {
        return RR_REMOVE;
    }
    sl_buf_reset(&ctx->scratch);
    if (whole) {
        rc = redact_replace(ctx, text.ptr, text.len, true);
    }
    for (i = 0; !whole && i < nspans && rc == SL_OK; i++) {
        rc = sl_buf_append(&ctx->scratch, text.ptr + at, ctx->spans[i].s - at);
        if (rc == SL_OK) {
            rc = redact_replace(ctx, text.ptr + ctx->spans[i].s,
                                ctx->spans[i].e - ctx->spans[i].s,
                                ctx->spans[i].whole);
        }
        at = ctx->spans[i].e;
    }
    if (!whole && rc == SL_OK) {
        rc = sl_buf_append(&ctx->scratch, text.ptr + at, text.len - at);
    }
    nv = rc == SL_OK
             ? sl_json_new_string(r->arena, ctx->scratch.data, ctx->scratch.len)
             : NULL;
    if (nv == NULL) {
        /* Cannot build the replacement: drop the value rather than leak. */
        v->type = SL_JSON_NULL;
        return RR_CHANGED;
    }
    *v = *nv;
    return RR_CHANGED;
}

static enum redact_res redact_value(struct filter_redact_ctx *ctx,
                                    struct sl_record *r, struct sl_json *v,
                                    bool secret, unsigned depth);

static bool redact_secret_key(struct filter_redact_ctx *ctx, struct sl_str k)
{
    return ctx->secret_re != NULL &&
           pcre2_match(ctx->secret_re, (PCRE2_SPTR)(k.ptr ? k.ptr : ""), k.len,
                       0, 0, ctx->md, NULL) >= 0;
}

static enum redact_res redact_object(struct filter_redact_ctx *ctx,
                                     struct sl_record *r, struct sl_json *v,
                                     bool secret, unsigned depth)
{
    enum redact_res res = RR_SAME;
    enum redact_res c;
    size_t i = 0;

    while (i < v->u.obj.n) {
        struct sl_json_member *m = &v->u.obj.v[i];
        bool s = secret || redact_secret_key(ctx, m->key);

        c = redact_value(ctx, r, m->val, s, depth + 1);
        if (c == RR_REMOVE) {
            sl_json_obj_remove_at(v, i);
            res = RR_CHANGED;
            continue;
        }
        if (c == RR_CHANGED) {
            res = RR_CHANGED;
        }
        i++;
    }
    return res;
}

static enum redact_res redact_array(struct filter_redact_ctx *ctx,
                                    struct sl_record *r, struct sl_json *v,
                                    bool secret, unsigned depth)
{
    enum redact_res res = RR_SAME;
    enum redact_res c;
    size_t i = 0;

    while (i < v->u.arr.n) {
        c = redact_value(ctx, r, v->u.arr.v[i], secret, depth + 1);
        if (c == RR_REMOVE) {
            memmove(&v->u.arr.v[i], &v->u.arr.v[i + 1],
                    (v->u.arr.n - i - 1) * sizeof(v->u.arr.v[0]));
            v->u.arr.n--;
            res = RR_CHANGED;
            continue;
        }
        if (c == RR_CHANGED) {
            res = RR_CHANGED;
        }
        i++;
    }
    return res;
}

static enum redact_res redact_value(struct filter_redact_ctx *ctx,
                                    struct sl_record *r, struct sl_json *v,
                                    bool secret, unsigned depth)
{
    struct sl_str text;
    size_t n;

    if (depth > REDACT_MAX_DEPTH) {
        /* Deeper than we scan: do not let it through unscanned. */
        if (ctx->mode == REDACT_REMOVE) {
            return RR_REMOVE;
        }
        v->type = SL_JSON_NULL;
        return RR_CHANGED;
    }
    switch (v->type) {
    case SL_JSON_OBJECT:
        return redact_object(ctx, r, v, secret, depth);
    case SL_JSON_ARRAY:
        return redact_array(ctx, r, v, secret, depth);
    case SL_JSON_STRING:
        text = v->u.str;
        break;
    case SL_JSON_NUMBER:
        text = v->u.num;
        break;
    case SL_JSON_BOOL:
        text = v->u.b ? SL_STR_LIT("true") : SL_STR_LIT("false");
        break;
    default:
        return RR_SAME;
    }
    if (secret) {
        ctx->secret_det->hits++;
        return redact_apply(ctx, r, v, text, 0, true);
    }
    if (v->type == SL_JSON_BOOL) {
        return RR_SAME;
    }
    n = redact_detect(ctx, text.ptr != NULL ? text.ptr : "", text.len);
    return n > 0 ? redact_apply(ctx, r, v, text, n, false) : RR_SAME;
}

static void redact_count(struct filter_redact_ctx *ctx)
{
    size_t i;

    for (i = 0; i < ctx->ndets; i++) {
        if (ctx->dets[i].hits > 0) {
            sl_metric_add(ctx->dets[i].m, ctx->dets[i].hits);
            ctx->dets[i].hits = 0;
        }
    }
}

static enum redact_res redact_fields(struct filter_redact_ctx *ctx,
                                     struct sl_record *r, struct sl_json *dom)
{
    enum redact_res res = RR_SAME;
    struct sl_json *v;
    size_t i;
    size_t k;

    for (i = 0; i < ctx->nfields; i++) {
        const struct sl_accessor *acc = &ctx->fields[i];
        bool secret = false;

        v = sl_accessor_get(acc, dom);
        if (v == NULL) {
            continue;
        }
        for (k = 0; k < acc->n && !secret; k++) {
            secret = !acc->steps[k].is_index &&
                     redact_secret_key(ctx, acc->steps[k].key);
        }
        switch (redact_value(ctx, r, v, secret, 1)) {
        case RR_REMOVE:
            sl_accessor_remove(acc, dom);
            res = RR_CHANGED;
            break;
        case RR_CHANGED:
            res = RR_CHANGED;
            break;
        default:
            break;
        }
    }
    return res;
}

static enum sl_filter_result filter_redact_filter(struct sl_instance *ins,
                                                  struct sl_record *r)
{
    struct filter_redact_ctx *ctx = sl_instance_ctx(ins);
    struct sl_json *dom = sl_record_dom(r);
    enum redact_res res;

    if (dom == NULL) {
        /* Out of memory parsing the record: it must not leave unscanned. */
        return SL_FILTER_DROP;
    }
    if (ctx->nfields > 0) {
        res = redact_fields(ctx, r, dom);
    } else {
        res = redact_object(ctx, r, dom, false, 0);
    }
    redact_count(ctx);
    if (res == RR_SAME) {
        return SL_FILTER_KEEP;
    }
    sl_record_mark_dirty(r);
    return SL_FILTER_MODIFIED;
}

static void filter_redact_exit(struct sl_instance *ins)
{
    redact_ctx_destroy(sl_instance_ctx(ins));
    sl_instance_set_ctx(ins, NULL);
}

const struct sl_plugin sl_plugin_filter_redact = {
    .abi = SL_PLUGIN_ABI,
    .kind = SL_PLUGIN_FILTER,
    .name = "redact",
    .description = "Mask, hash or remove secrets and personal data in "
                   "records before they are shipped.",
    .options = filter_redact_options,
    .conf_size = sizeof(struct filter_redact_conf),
    .init = filter_redact_init,
    .filter = filter_redact_filter,
    .exit = filter_redact_exit,
};
