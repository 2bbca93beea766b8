/*
 * json.c - validation of raw JSON bytes, the arena DOM, the compact
 * serializer and record accessors (see sluice/json.h).
 *
 * Main types: struct sl_json_checker (a reusable validator: a yajl handle
 * allocated from an arena that is reset per record, so that checking
 * allocates nothing in steady state) and struct sl_json (DOM nodes, all in
 * a caller's arena).
 *
 * Threads: no shared state; a checker or an arena has one owner at a time.
 *
 * Never: recurse on input depth beyond SL_JSON_MAX_DEPTH (yajl keeps its
 * own state stack on the heap; the DOM builder and the serializer refuse
 * deeper values), write raw invalid UTF-8 into output, or malloc per record
 * on the check path.
 */
#include <errno.h>
#include <setjmp.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yajl/yajl_parse.h>

#include "sluice/json.h"
#include "sluice/mem.h"
#include "sluice/banned.h"

/* Deepest nesting accepted anywhere (check, parse, serialize). */
#define SL_JSON_MAX_DEPTH 512

/* ---- yajl allocation from an arena ----
 * yajl's realloc does not pass the old size, so every block carries its
 * size in a 16-byte header (keeping the arena's alignment).
 *
 * yajl 2.1 does not check most of its allocations (yajl_alloc's buffers,
 * the state stack push), so an allocator that returns NULL makes it crash.
 * Ours never returns NULL: on failure it longjmps back to the sl_json_*
 * call that started yajl, which reports SL_ENOMEM.  This is safe because
 * yajl holds nothing but memory, and all of it is in the arena. */

#define JSON_ALLOC_HDR 16

struct json_yalloc {
    struct sl_arena *a;
    jmp_buf *oom; /* where to go when the arena is out of memory */
};

static void *json_yajl_malloc(void *ctx, size_t sz)
{
    struct json_yalloc *ya = ctx;
    unsigned char *p = sl_arena_alloc(ya->a, sz + JSON_ALLOC_HDR);

    if (p == NULL) {
        longjmp(*ya->oom, 1);
    }
    memcpy(p, &sz, sizeof(sz));
    return p + JSON_ALLOC_HDR;
}

static void json_yajl_free(void *ctx, void *ptr)
{
    (void)ctx;
    (void)ptr; /* the arena is reset, not freed piecewise */
}

static void *json_yajl_realloc(void *ctx, void *ptr, size_t sz)
{
    unsigned char *np;
    size_t old;

    if (ptr == NULL) {
        return json_yajl_malloc(ctx, sz);
    }
    memcpy(&old, (unsigned char *)ptr - JSON_ALLOC_HDR, sizeof(old));
    if (sz <= old) {
        return ptr;
    }
    np = json_yajl_malloc(ctx, sz);
    memcpy(np, ptr, old);
    return np;
}

static void json_alloc_funcs(yajl_alloc_funcs *afs, struct json_yalloc *ya)
{
    afs->malloc = json_yajl_malloc;
    afs->realloc = json_yajl_realloc;
    afs->free = json_yajl_free;
    afs->ctx = ya;
}

/* Fills <err> from a failed yajl handle; <off> is the byte offset. */
static void json_yajl_error(yajl_handle h, const char *p, size_t n, size_t off,
                            struct sl_err *err)
{
    unsigned char *msg;
    size_t len;

    if (err == NULL) {
        return;
    }
    msg = yajl_get_error(h, 0, (const unsigned char *)p, n);
    if (msg == NULL) {
        sl_err_set(err, SL_EPARSE, "invalid JSON at byte %zu", off);
        return;
    }
    len = strlen((const char *)msg);
    while (len > 0 && (msg[len - 1] == '\n' || msg[len - 1] == ' ')) {
        len--;
    }
    sl_err_set(err, SL_EPARSE, "invalid JSON at byte %zu: %.*s", off, (int)len,
               (const char *)msg);
    yajl_free_error(h, msg);
}

/* ---- the checker ---- */

struct sl_json_checker {
    struct sl_arena arena; /* yajl handle and its buffers, reset per check */
    struct json_yalloc ya;
    yajl_alloc_funcs afs;
    unsigned depth;
    bool too_deep;
    struct sl_buf key; /* unescaped key for sl_json_check_find */
};

static int check_open(void *ctx)
{
    struct sl_json_checker *c = ctx;

    if (++c->depth > SL_JSON_MAX_DEPTH) {
        c->too_deep = true;
        return 0;
    }
    return 1;
}

static int check_close(void *ctx)
{
    struct sl_json_checker *c = ctx;

    c->depth--;
    return 1;
}

/* Only containers have callbacks: yajl then neither decodes strings nor
 * converts numbers, which keeps the check close to the lexer's speed. */
static const yajl_callbacks check_callbacks = {
    .yajl_start_map = check_open,
    .yajl_end_map = check_close,
    .yajl_start_array = check_open,
    .yajl_end_array = check_close,
};

struct sl_json_checker *sl_json_checker_create(void)
{
    struct sl_json_checker *c = sl_calloc(1, sizeof(*c));

    if (c == NULL) {
        return NULL;
    }
    sl_arena_init(&c->arena, 4096, 0);
    c->ya.a = &c->arena;
    json_alloc_funcs(&c->afs, &c->ya);
    sl_buf_init(&c->key, 0);
    return c;
}

void sl_json_checker_destroy(struct sl_json_checker *c)
{
    if (c == NULL) {
        return;
    }
    sl_arena_fini(&c->arena);
    sl_buf_fini(&c->key);
    sl_free(c);
}

/* Whitespace as yajl accepts it: JSON's four, plus \v and \f. */
static bool json_is_ws(char ch)
{
    return ch == ' ' || (ch >= '\t' && ch <= '\r');
}

/* True when a byte of <w> is zero (exact, the classic bit trick). */
static uint64_t json_zero_byte(uint64_t w)
{
    return (w - UINT64_C(0x0101010101010101)) & ~w &
           UINT64_C(0x8080808080808080);
}

/* True when <p> holds a line break or a \v/\f (0x0a..0x0d).  In bytes
 * yajl accepted these can only be whitespace between tokens.  Eight bytes
 * at a time: b & 0xfe is 0x0a for \n \v and 0x0c for \f \r. */
static bool json_has_break(const char *p, size_t n)
{
    const uint64_t fe = UINT64_C(0xfefefefefefefefe);
    const uint64_t x0a = UINT64_C(0x0a0a0a0a0a0a0a0a);
    const uint64_t x0c = UINT64_C(0x0c0c0c0c0c0c0c0c);
    uint64_t w, m;
    size_t i = 0;

    for (; i + 8 <= n; i += 8) {
        memcpy(&w, p + i, 8);
        m = w & fe;
        if (json_zero_byte(m ^ x0a) | json_zero_byte(m ^ x0c)) {
            return true;
        }
    }
    for (; i < n; i++) {
        if ((unsigned char)(p[i] - '\n') < 4) {
            return true;
        }
    }
    return false;
}

/* Classifies bytes that yajl accepted as one value. */
static enum sl_json_check_result check_classify(const char *p, size_t n)
{
    size_t i = 0;

    while (i < n && json_is_ws(p[i])) {
        i++;
    }
    if (i == n || p[i] != '{') {
        return SL_JSON_CHECK_NOT_OBJECT;
    }
    if (i > 0 || p[n - 1] != '}' || json_has_break(p, n)) {
        return SL_JSON_CHECK_COMPACT;
    }
    return SL_JSON_CHECK_OBJECT;
}

enum sl_json_check_result sl_json_check(struct sl_json_checker *c,
                                        const char *p, size_t n,
                                        struct sl_err *err)
{
    yajl_handle h;
    yajl_status st;
    size_t off;
    jmp_buf oom;

    sl_arena_reset(&c->arena);
    c->depth = 0;
    c->too_deep = false;
    c->ya.oom = &oom;
    if (setjmp(oom) != 0) {
        sl_err_set(err, SL_ENOMEM, "out of memory checking JSON");
        return SL_JSON_CHECK_INVALID;
    }
    h = yajl_alloc(&check_callbacks, &c->afs, c);
    st = yajl_parse(h, (const unsigned char *)p, n);
    off = yajl_get_bytes_consumed(h);
    if (st == yajl_status_ok) {
        st = yajl_complete_parse(h);
        off = n;
    }
    if (st != yajl_status_ok) {
        if (c->too_deep) {
            sl_err_set(err, SL_EPARSE,
                       "JSON nested deeper than %d levels at byte %zu",
                       SL_JSON_MAX_DEPTH, off);
        } else {
            json_yajl_error(h, p, n, off, err);
        }
        yajl_free(h);
        return SL_JSON_CHECK_INVALID;
    }
    yajl_free(h);
    return check_classify(p, n);
}

/* ---- member location over validated bytes ----
 * The bytes were accepted by yajl, so the scanner below only has to know
 * where strings and containers end; it never sees malformed input. */

static size_t scan_ws(const char *p, size_t n, size_t i)
{
    while (i < n && json_is_ws(p[i])) {
        i++;
    }
    return i;
}

/* <i> is at an opening quote; returns the index after the closing one. */
static size_t scan_string(const char *p, size_t n, size_t i)
{
    const char *q;

    i++;
    for (;;) {
        q = memchr(p + i, '"', n - i);
        if (q == NULL) {
            return n;
        }
        i = (size_t)(q - p);
        /* The quote is escaped when an odd run of backslashes precedes it. */
        {
            size_t k = i, bs = 0;

            while (k > 0 && p[k - 1] == '\\') {
                bs++;
                k--;
            }
            if (bs % 2 == 0) {
                return i + 1;
            }
        }
        i++;
    }
}

/* <i> is at the first byte of a value; returns the index after it. */
static size_t scan_value(const char *p, size_t n, size_t i)
{
    size_t depth = 0;

    do {
        char ch = p[i];

        if (ch == '"') {
            i = scan_string(p, n, i);
            continue;
        }
        if (ch == '{' || ch == '[') {
            depth++;
        } else if (ch == '}' || ch == ']') {
            depth--;
        } else if (depth == 0) {
            /* A scalar: literal or number. */
            while (i < n && !json_is_ws(p[i]) && p[i] != ',' && p[i] != '}' &&
                   p[i] != ']') {
                i++;
            }
            return i;
        }
        i++;
    } while (i < n && depth > 0);
    return i;
}

static enum sl_json_type scan_type(char ch)
{
    switch (ch) {
    case '{':
        return SL_JSON_OBJECT;
    case '[':
        return SL_JSON_ARRAY;
    case '"':
        return SL_JSON_STRING;
    case 't':
    case 'f':
        return SL_JSON_BOOL;
    case 'n':
        return SL_JSON_NULL;
    default:
        return SL_JSON_NUMBER;
    }
}

/* True when the raw key token <tok> (with quotes) names <key>. */
static bool find_key_eq(struct sl_json_checker *c, struct sl_str tok,
                        struct sl_str key)
{
    struct sl_str inner = sl_str_make(tok.ptr + 1, tok.len - 2);

    if (memchr(inner.ptr, '\\', inner.len) == NULL) {
        return sl_str_eq(inner, key);
    }
    sl_buf_reset(&c->key);
    if (sl_json_unescape(&c->key, tok) != SL_OK) {
        return false;
    }
    return sl_str_eq(sl_buf_str(&c->key), key);
}

/* Fills <loc> for the member whose key starts at <ks> and value spans
 * [<vs>, <ve>); <prev_comma> is the index of the comma before the member
 * or SIZE_MAX when it is the first one. */
static void find_fill(const char *p, size_t n, size_t ks, size_t vs, size_t ve,
                      size_t prev_comma, struct sl_json_member_loc *loc)
{
    size_t j = scan_ws(p, n, ve);

    loc->val = sl_str_make(p + vs, ve - vs);
    loc->val_type = scan_type(p[vs]);
    loc->member_start = ks;
    if (j < n && p[j] == ',') {
        loc->member_end = j + 1;
    } else if (prev_comma != SIZE_MAX) {
        loc->member_start = prev_comma;
        loc->member_end = ve;
    } else {
        loc->member_end = ve;
    }
}

static void find_member(struct sl_json_checker *c, const char *p, size_t n,
                        struct sl_str key, struct sl_json_member_loc *loc)
{
    size_t i = scan_ws(p, n, 0) + 1;
    size_t prev_comma = SIZE_MAX;
    size_t ks, ke, vs, ve;

    for (;;) {
        i = scan_ws(p, n, i);
        if (i >= n || p[i] != '"') {
            return; /* '}' of an empty object */
        }
        ks = i;
        ke = scan_string(p, n, i);
        i = scan_ws(p, n, ke) + 1; /* past ':' */
        vs = scan_ws(p, n, i);
        ve = scan_value(p, n, vs);
        if (find_key_eq(c, sl_str_make(p + ks, ke - ks), key)) {
            find_fill(p, n, ks, vs, ve, prev_comma, loc);
            return;
        }
        i = scan_ws(p, n, ve);
        if (i >= n || p[i] != ',') {
            return;
        }
        prev_comma = i++;
    }
}

enum sl_json_check_result sl_json_check_find(struct sl_json_checker *c,
                                             const char *p, size_t n,
                                             struct sl_str key,
                                             struct sl_json_member_loc *loc,
                                             struct sl_err *err)
{
    enum sl_json_check_result r = sl_json_check(c, p, n, err);

    memset(loc, 0, sizeof(*loc));
    if (r == SL_JSON_CHECK_OBJECT || r == SL_JSON_CHECK_COMPACT) {
        find_member(c, p, n, key, loc);
    }
    return r;
}

/* ---- DOM builder (yajl callbacks into the arena) ---- */

struct dom_frame {
    struct sl_json *node;
    size_t base; /* first pending child of this container */
};

struct dom_ctx {
    struct sl_arena *a;
    struct sl_json_member *pend; /* children of every open container */
    size_t npend, cappend;
    struct dom_frame *frames; /* open containers, innermost last */
    size_t depth, capframes;
    struct sl_str key; /* key of the next value in an object */
    struct sl_json *root;
    int rc;
};

static int dom_add(struct dom_ctx *d, struct sl_json *v)
{
    struct sl_json_member *np;
    size_t ncap;

    if (v == NULL) {
        d->rc = SL_ENOMEM;
        return 0;
    }
    if (d->depth == 0) {
        d->root = v;
        return 1;
    }
    if (d->npend == d->cappend) {
        ncap = d->cappend == 0 ? 32 : d->cappend * 2;
        np = sl_arena_realloc(d->a, d->pend, d->cappend * sizeof(*np),
                              ncap * sizeof(*np));
        if (np == NULL) {
            d->rc = SL_ENOMEM;
            return 0;
        }
        d->pend = np;
        d->cappend = ncap;
    }
    d->pend[d->npend].key = d->key;
    d->pend[d->npend].val = v;
    d->npend++;
    d->key = SL_STR_NULL;
    return 1;
}

static struct sl_json *dom_node(struct sl_arena *a, enum sl_json_type t)
{
    struct sl_json *v = sl_arena_calloc(a, sizeof(*v));

    if (v != NULL) {
        v->type = t;
    }
    return v;
}

static int dom_null(void *ctx)
{
    struct dom_ctx *d = ctx;

    return dom_add(d, dom_node(d->a, SL_JSON_NULL));
}

static int dom_bool(void *ctx, int b)
{
    struct dom_ctx *d = ctx;

    return dom_add(d, sl_json_new_bool(d->a, b != 0));
}

static int dom_number(void *ctx, const char *s, size_t n)
{
    struct dom_ctx *d = ctx;

    return dom_add(d, sl_json_new_number(d->a, sl_str_make(s, n)));
}

static int dom_string(void *ctx, const unsigned char *s, size_t n)
{
    struct dom_ctx *d = ctx;

    return dom_add(d, sl_json_new_string(d->a, (const char *)s, n));
}

static int dom_key(void *ctx, const unsigned char *s, size_t n)
{
    struct dom_ctx *d = ctx;
    char *k = sl_arena_strndup(d->a, (const char *)s, n);

    if (k == NULL) {
        d->rc = SL_ENOMEM;
        return 0;
    }
    d->key = sl_str_make(k, n);
    return 1;
}

static bool dom_grow_frames(struct dom_ctx *d)
{
    size_t ncap = d->capframes == 0 ? 16 : d->capframes * 2;
    struct dom_frame *nf;

    nf = sl_arena_realloc(d->a, d->frames, d->capframes * sizeof(*nf),
                          ncap * sizeof(*nf));
    if (nf == NULL) {
        d->rc = SL_ENOMEM;
        return false;
    }
    d->frames = nf;
    d->capframes = ncap;
    return true;
}

static int dom_open(struct dom_ctx *d, enum sl_json_type t)
{
    struct sl_json *v;

    if (d->depth >= SL_JSON_MAX_DEPTH) {
        d->rc = SL_ELIMIT;
        return 0;
    }
    if (d->depth == d->capframes && !dom_grow_frames(d)) {
        return 0;
    }
    v = dom_node(d->a, t);
    if (!dom_add(d, v)) {
        return 0;
    }
    d->frames[d->depth].node = v;
    d->frames[d->depth].base = d->npend;
    d->depth++;
    return 1;
}

/* Moves the pending children of the innermost container into an array of
 * exactly the right size. */
static int dom_close(struct dom_ctx *d)
{
    struct dom_frame *f = &d->frames[--d->depth];
    size_t n = d->npend - f->base, i;
    struct sl_json *v = f->node;

    if (v->type == SL_JSON_OBJECT) {
        v->u.obj.v = n ? sl_arena_alloc(d->a, n * sizeof(*v->u.obj.v)) : NULL;
        if (n && v->u.obj.v == NULL) {
            d->rc = SL_ENOMEM;
            return 0;
        }
        if (n > 0) {
            memcpy(v->u.obj.v, d->pend + f->base, n * sizeof(*v->u.obj.v));
        }
        v->u.obj.n = v->u.obj.cap = n;
    } else {
        v->u.arr.v = n ? sl_arena_alloc(d->a, n * sizeof(*v->u.arr.v)) : NULL;
        if (n && v->u.arr.v == NULL) {
            d->rc = SL_ENOMEM;
            return 0;
        }
        for (i = 0; i < n; i++) {
            v->u.arr.v[i] = d->pend[f->base + i].val;
        }
        v->u.arr.n = v->u.arr.cap = n;
    }
    d->npend = f->base;
    return 1;
}

static int dom_start_map(void *ctx)
{
    return dom_open(ctx, SL_JSON_OBJECT);
}

static int dom_start_array(void *ctx)
{
    return dom_open(ctx, SL_JSON_ARRAY);
}

static int dom_end(void *ctx)
{
    return dom_close(ctx);
}

static const yajl_callbacks dom_callbacks = {
    .yajl_null = dom_null,
    .yajl_boolean = dom_bool,
    .yajl_number = dom_number,
    .yajl_string = dom_string,
    .yajl_start_map = dom_start_map,
    .yajl_map_key = dom_key,
    .yajl_end_map = dom_end,
    .yajl_start_array = dom_start_array,
    .yajl_end_array = dom_end,
};

static int dom_fail(struct dom_ctx *d, yajl_handle h, const char *p, size_t n,
                    size_t off, struct sl_err *err)
{
    if (d->rc == SL_ENOMEM) {
        return sl_err_set(err, SL_ENOMEM, "out of memory parsing JSON");
    }
    if (d->rc == SL_ELIMIT) {
        return sl_err_set(err, SL_EPARSE,
                          "JSON nested deeper than %d levels at byte %zu",
                          SL_JSON_MAX_DEPTH, off);
    }
    json_yajl_error(h, p, n, off, err);
    return SL_EPARSE;
}

/* Runs yajl over the bytes; separate from sl_json_parse so that no local
 * changes between its setjmp and a longjmp. */
static int dom_run(struct dom_ctx *d, yajl_alloc_funcs *afs, const char *p,
                   size_t n, struct sl_err *err)
{
    yajl_handle h = yajl_alloc(&dom_callbacks, afs, d);
    yajl_status st;
    size_t off;
    int rc = SL_OK;

    st = yajl_parse(h, (const unsigned char *)p, n);
    off = yajl_get_bytes_consumed(h);
    if (st == yajl_status_ok) {
        st = yajl_complete_parse(h);
        off = n;
    }
    if (st != yajl_status_ok || d->root == NULL) {
        rc = dom_fail(d, h, p, n, off, err);
    }
    yajl_free(h);
    d->rc = rc;
    return rc;
}

int sl_json_parse(struct sl_arena *a, const char *p, size_t n,
                  struct sl_json **out, struct sl_err *err)
{
    struct dom_ctx *d;
    struct json_yalloc ya;
    yajl_alloc_funcs afs;
    jmp_buf oom;

    *out = NULL;
    d = sl_arena_calloc(a, sizeof(*d));
    if (d == NULL) {
        return sl_err_set(err, SL_ENOMEM, "out of memory parsing JSON");
    }
    d->a = a;
    ya.a = a;
    ya.oom = &oom;
    json_alloc_funcs(&afs, &ya);
    if (setjmp(oom) != 0) {
        return sl_err_set(err, SL_ENOMEM, "out of memory parsing JSON");
    }
    if (dom_run(d, &afs, p, n, err) != SL_OK) {
        return d->rc;
    }
    *out = d->root;
    return SL_OK;
}

/* ---- serializer ---- */

static const char json_hex[] = "0123456789abcdef";

/* Sequence length for lead byte <c> (0: not a lead byte), and the range
 * its second byte must fall in (which rules out overlongs, UTF-16
 * surrogates and code points past U+10FFFF). */
static size_t utf8_lead(unsigned c, unsigned *lo, unsigned *hi)
{
    *lo = 0x80;
    *hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) {
        return 2;
    }
    if (c >= 0xE0 && c <= 0xEF) {
        *lo = c == 0xE0 ? 0xA0 : 0x80;
        *hi = c == 0xED ? 0x9F : 0xBF;
        return 3;
    }
    if (c >= 0xF0 && c <= 0xF4) {
        *lo = c == 0xF0 ? 0x90 : 0x80;
        *hi = c == 0xF4 ? 0x8F : 0xBF;
        return 4;
    }
    return 0;
}

/* Length of the valid UTF-8 sequence at <s> (at most <n> bytes), or 0. */
static size_t utf8_seq_len(const unsigned char *s, size_t n)
{
    unsigned lo, hi;
    size_t len = utf8_lead(s[0], &lo, &hi), i;

    if (len == 0 || n < len || s[1] < lo || s[1] > hi) {
        return 0;
    }
    for (i = 2; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) {
            return 0;
        }
    }
    return len;
}

/* Writes the escape for byte <c> at <s> (or \xNN when <invalid>); returns
 * the number of bytes written (at most 6). */
static size_t json_escape_byte(unsigned char c, bool invalid, char *s)
{
    const char *e = NULL;

    if (invalid) {
        s[0] = '\\';
        s[1] = '\\';
        s[2] = 'x';
        s[3] = json_hex[c >> 4];
        s[4] = json_hex[c & 15];
        return 5;
    }
    switch (c) {
    case '"':
        e = "\\\"";
        break;
    case '\\':
        e = "\\\\";
        break;
    case '\b':
        e = "\\b";
        break;
    case '\f':
        e = "\\f";
        break;
    case '\n':
        e = "\\n";
        break;
    case '\r':
        e = "\\r";
        break;
    case '\t':
        e = "\\t";
        break;
    default:
        memcpy(s, "\\u00", 4);
        s[4] = json_hex[c >> 4];
        s[5] = json_hex[c & 15];
        return 6;
    }
    memcpy(s, e, 2);
    return 2;
}

/* True when none of the 8 bytes of <x> needs escaping or a UTF-8 check:
 * no control byte, no byte >= 0x80, no '"' and no '\\' (the "has less"
 * and "has zero byte" word tricks; a false "no" only costs the byte loop). */
static bool json_plain8(uint64_t x)
{
    const uint64_t ones = UINT64_C(0x0101010101010101);
    const uint64_t high = UINT64_C(0x8080808080808080);
    uint64_t q = x ^ (ones * '"');
    uint64_t b = x ^ (ones * '\\');

    return ((x | ((x - ones * 0x20) & ~x) | ((q - ones) & ~q) |
             ((b - ones) & ~b)) &
            high) == 0;
}

static bool json_plain(unsigned char c)
{
    return c >= 0x20 && c < 0x80 && c != '"' && c != '\\';
}

/* Length of the run at <s> that needs no escaping. */
static size_t json_safe_run(const unsigned char *s, size_t n)
{
    size_t i = 0, k;

    while (i < n) {
        if (json_plain(s[i])) {
            i++;
            continue;
        }
        if (s[i] < 0x80) {
            break;
        }
        k = utf8_seq_len(s + i, n - i);
        if (k == 0) {
            break;
        }
        i += k;
    }
    return i;
}

/* Copies the plain ASCII run at the start of <s> to <d>, eight bytes at a
 * time (<d> has room for <n> bytes); returns its length. */
static size_t json_copy_plain(char *d, const unsigned char *s, size_t n)
{
    size_t i = 0;
    uint64_t x;

    while (i + 8 <= n) {
        memcpy(&x, s + i, sizeof(x));
        if (!json_plain8(x)) {
            break;
        }
        memcpy(d + i, &x, sizeof(x));
        i += 8;
    }
    while (i < n && json_plain(s[i])) {
        d[i] = (char)s[i];
        i++;
    }
    return i;
}

int sl_json_write_string(struct sl_buf *out, const char *p, size_t n)
{
    const unsigned char *s = (const unsigned char *)p;
    size_t i, run, k;
    char esc[6];
    int rc = SL_OK;

    /* Room for the common case, a plain ASCII string, at once: it is
     * copied while it is checked, with no further call. */
    if (out->data == NULL || out->cap - out->len <= n + 2) {
        rc = sl_buf_reserve(out, n + 2);
        if (rc != SL_OK) {
            return rc;
        }
    }
    out->data[out->len++] = '"';
    i = json_copy_plain(out->data + out->len, s, n);
    out->len += i;
    if (i == n) {
        out->data[out->len++] = '"';
        out->data[out->len] = '\0';
        return SL_OK;
    }
    out->data[out->len] = '\0';
    while (rc == SL_OK && i < n) {
        run = json_safe_run(s + i, n - i);
        if (run > 0) {
            rc = sl_buf_append(out, s + i, run);
            i += run;
            continue;
        }
        k = json_escape_byte(s[i], s[i] >= 0x80, esc);
        rc = sl_buf_append(out, esc, k);
        i++;
    }
    return rc == SL_OK ? sl_buf_putc(out, '"') : rc;
}

static int json_ser(const struct sl_json *v, struct sl_buf *out,
                    unsigned depth);

static int json_ser_object(const struct sl_json *v, struct sl_buf *out,
                           unsigned depth)
{
    size_t i;
    int rc = sl_buf_putc(out, '{');

    for (i = 0; rc == SL_OK && i < v->u.obj.n; i++) {
        const struct sl_json_member *m = &v->u.obj.v[i];

        if (i > 0) {
            rc = sl_buf_putc(out, ',');
        }
        if (rc == SL_OK) {
            rc = sl_json_write_string(out, m->key.ptr, m->key.len);
        }
        if (rc == SL_OK) {
            rc = sl_buf_putc(out, ':');
        }
        if (rc == SL_OK) {
            rc = json_ser(m->val, out, depth + 1);
        }
    }
    return rc == SL_OK ? sl_buf_putc(out, '}') : rc;
}

static int json_ser_array(const struct sl_json *v, struct sl_buf *out,
                          unsigned depth)
{
    size_t i;
    int rc = sl_buf_putc(out, '[');

    for (i = 0; rc == SL_OK && i < v->u.arr.n; i++) {
        if (i > 0) {
            rc = sl_buf_putc(out, ',');
        }
        if (rc == SL_OK) {
            rc = json_ser(v->u.arr.v[i], out, depth + 1);
        }
    }
    return rc == SL_OK ? sl_buf_putc(out, ']') : rc;
}

static int json_ser(const struct sl_json *v, struct sl_buf *out, unsigned depth)
{
    if (depth > SL_JSON_MAX_DEPTH) {
        return SL_ELIMIT;
    }
    if (v == NULL) {
        return sl_buf_append(out, "null", 4);
    }
    switch (v->type) {
    case SL_JSON_NULL:
        return sl_buf_append(out, "null", 4);
    case SL_JSON_BOOL:
        return v->u.b ? sl_buf_append(out, "true", 4)
                      : sl_buf_append(out, "false", 5);
    case SL_JSON_NUMBER:
        return sl_buf_append_sl(out, v->u.num);
    case SL_JSON_STRING:
        return sl_json_write_string(out, v->u.str.ptr, v->u.str.len);
    case SL_JSON_ARRAY:
        return json_ser_array(v, out, depth);
    case SL_JSON_OBJECT:
        return json_ser_object(v, out, depth);
    }
    return SL_EINVAL;
}

int sl_json_serialize(const struct sl_json *v, struct sl_buf *out)
{
    return json_ser(v, out, 0);
}

/* ---- unescaping ---- */

static int hex4(const char *s, unsigned *out)
{
    unsigned v = 0;
    int i;

    for (i = 0; i < 4; i++) {
        char ch = s[i];

        v <<= 4;
        if (ch >= '0' && ch <= '9') {
            v |= (unsigned)(ch - '0');
        } else if (ch >= 'a' && ch <= 'f') {
            v |= (unsigned)(ch - 'a' + 10);
        } else if (ch >= 'A' && ch <= 'F') {
            v |= (unsigned)(ch - 'A' + 10);
        } else {
            return -1;
        }
    }
    *out = v;
    return 0;
}

static int utf8_put(struct sl_buf *out, unsigned cp)
{
    char s[4];
    size_t n;

    if (cp < 0x80) {
        s[0] = (char)cp;
        n = 1;
    } else if (cp < 0x800) {
        s[0] = (char)(0xC0 | (cp >> 6));
        s[1] = (char)(0x80 | (cp & 0x3F));
        n = 2;
    } else if (cp < 0x10000) {
        s[0] = (char)(0xE0 | (cp >> 12));
        s[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        s[2] = (char)(0x80 | (cp & 0x3F));
        n = 3;
    } else {
        s[0] = (char)(0xF0 | (cp >> 18));
        s[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        s[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
        s[3] = (char)(0x80 | (cp & 0x3F));
        n = 4;
    }
    return sl_buf_append(out, s, n);
}

/* Decodes \uXXXX (and a following low surrogate) at <s>[<i>] (the 'u');
 * returns the bytes consumed after the backslash, or 0 when malformed.
 * A lone surrogate becomes U+FFFD. */
static size_t unescape_u(const char *s, size_t n, size_t i, unsigned *cp)
{
    unsigned hi, lo;

    if (n - i < 5 || hex4(s + i + 1, &hi) != 0) {
        return 0;
    }
    *cp = hi;
    if (hi >= 0xDC00 && hi <= 0xDFFF) {
        *cp = 0xFFFD;
    } else if (hi >= 0xD800 && hi <= 0xDBFF) {
        if (n - i >= 11 && s[i + 5] == '\\' && s[i + 6] == 'u' &&
            hex4(s + i + 7, &lo) == 0 && lo >= 0xDC00 && lo <= 0xDFFF) {
            *cp = 0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00);
            return 11;
        }
        *cp = 0xFFFD;
    }
    return 5;
}

static int unescape_one(struct sl_buf *out, const char *s, size_t n, size_t *i)
{
    static const char from[] = "\"\\/bfnrt";
    static const char to[] = "\"\\/\b\f\n\r\t";
    const char *f;
    unsigned cp;
    size_t k;

    if (*i + 1 >= n) {
        return SL_EPARSE;
    }
    f = strchr(from, s[*i + 1]);
    if (f != NULL && *f != '\0') {
        *i += 2;
        return sl_buf_putc(out, to[f - from]);
    }
    if (s[*i + 1] != 'u') {
        return SL_EPARSE;
    }
    k = unescape_u(s, n, *i + 1, &cp);
    if (k == 0) {
        return SL_EPARSE;
    }
    *i += 1 + k;
    return utf8_put(out, cp);
}

int sl_json_unescape(struct sl_buf *out, struct sl_str token)
{
    const char *s;
    size_t n, i = 0, j;
    int rc = SL_OK;

    if (token.len < 2 || token.ptr[0] != '"' ||
        token.ptr[token.len - 1] != '"') {
        return SL_EPARSE;
    }
    s = token.ptr + 1;
    n = token.len - 2;
    while (rc == SL_OK && i < n) {
        const char *bs = memchr(s + i, '\\', n - i);

        j = bs ? (size_t)(bs - s) : n;
        if (j > i) {
            rc = sl_buf_append(out, s + i, j - i);
            i = j;
            continue;
        }
        rc = unescape_one(out, s, n, &i);
    }
    return rc;
}

/* ---- constructors ---- */

struct sl_json *sl_json_new_null(struct sl_arena *a)
{
    return dom_node(a, SL_JSON_NULL);
}

struct sl_json *sl_json_new_bool(struct sl_arena *a, bool b)
{
    struct sl_json *v = dom_node(a, SL_JSON_BOOL);

    if (v != NULL) {
        v->u.b = b;
    }
    return v;
}

struct sl_json *sl_json_new_number(struct sl_arena *a, struct sl_str text)
{
    struct sl_json *v = dom_node(a, SL_JSON_NUMBER);
    char *s;

    if (v == NULL) {
        return NULL;
    }
    s = sl_arena_strndup(a, text.ptr, text.len);
    if (s == NULL) {
        return NULL;
    }
    v->u.num = sl_str_make(s, text.len);
    return v;
}

struct sl_json *sl_json_new_i64(struct sl_arena *a, int64_t i)
{
    char s[32];
    int n = snprintf(s, sizeof(s), "%lld", (long long)i);

    return sl_json_new_number(a, sl_str_make(s, (size_t)n));
}

struct sl_json *sl_json_new_double(struct sl_arena *a, double d)
{
    char s[40];
    int prec, n = 0;

    if (!isfinite(d)) {
        return sl_json_new_null(a);
    }
    /* The shortest precision that reads back as the same double. */
    for (prec = 1; prec <= 17; prec++) {
        n = snprintf(s, sizeof(s), "%.*g", prec, d);
        if (strtod(s, NULL) == d) {
            break;
        }
    }
    return sl_json_new_number(a, sl_str_make(s, (size_t)n));
}

struct sl_json *sl_json_new_string(struct sl_arena *a, const char *p, size_t n)
{
    struct sl_json *v = dom_node(a, SL_JSON_STRING);
    char *s;

    if (v == NULL) {
        return NULL;
    }
    s = sl_arena_alloc(a, n + 1);
    if (s == NULL) {
        return NULL;
    }
    if (n > 0) {
        memcpy(s, p, n);
    }
    s[n] = '\0';
    v->u.str = sl_str_make(s, n);
    return v;
}

struct sl_json *sl_json_new_object(struct sl_arena *a)
{
    return dom_node(a, SL_JSON_OBJECT);
}

struct sl_json *sl_json_new_array(struct sl_arena *a)
{
    return dom_node(a, SL_JSON_ARRAY);
}

static struct sl_json *json_clone(struct sl_arena *a, const struct sl_json *v,
                                  unsigned depth);

static bool json_clone_children(struct sl_arena *a, const struct sl_json *v,
                                struct sl_json *c, unsigned depth)
{
    size_t i, n;

    if (v->type == SL_JSON_OBJECT) {
        n = v->u.obj.n;
        c->u.obj.v = sl_arena_alloc(a, (n ? n : 1) * sizeof(*c->u.obj.v));
        if (c->u.obj.v == NULL) {
            return false;
        }
        for (i = 0; i < n; i++) {
            const struct sl_json_member *m = &v->u.obj.v[i];
            char *k = sl_arena_strndup(a, m->key.ptr, m->key.len);

            c->u.obj.v[i].key = sl_str_make(k, m->key.len);
            c->u.obj.v[i].val = json_clone(a, m->val, depth + 1);
            if (k == NULL || c->u.obj.v[i].val == NULL) {
                return false;
            }
        }
        c->u.obj.n = c->u.obj.cap = n;
        return true;
    }
    n = v->u.arr.n;
    c->u.arr.v = sl_arena_alloc(a, (n ? n : 1) * sizeof(*c->u.arr.v));
    if (c->u.arr.v == NULL) {
        return false;
    }
    for (i = 0; i < n; i++) {
        c->u.arr.v[i] = json_clone(a, v->u.arr.v[i], depth + 1);
        if (c->u.arr.v[i] == NULL) {
            return false;
        }
    }
    c->u.arr.n = c->u.arr.cap = n;
    return true;
}

static struct sl_json *json_clone(struct sl_arena *a, const struct sl_json *v,
                                  unsigned depth)
{
    struct sl_json *c;

    if (v == NULL || depth > SL_JSON_MAX_DEPTH) {
        return NULL;
    }
    switch (v->type) {
    case SL_JSON_NUMBER:
        return sl_json_new_number(a, v->u.num);
    case SL_JSON_STRING:
        return sl_json_new_string(a, v->u.str.ptr, v->u.str.len);
    case SL_JSON_NULL:
    case SL_JSON_BOOL:
        c = dom_node(a, v->type);
        if (c != NULL) {
            c->u.b = v->type == SL_JSON_BOOL && v->u.b;
        }
        return c;
    default:
        c = dom_node(a, v->type);
        if (c == NULL || !json_clone_children(a, v, c, depth)) {
            return NULL;
        }
        return c;
    }
}

struct sl_json *sl_json_clone(struct sl_arena *a, const struct sl_json *v)
{
    return json_clone(a, v, 0);
}

/* ---- objects and arrays ---- */

struct sl_json *sl_json_obj_get(const struct sl_json *obj, struct sl_str key)
{
    size_t i;

    if (obj == NULL || obj->type != SL_JSON_OBJECT) {
        return NULL;
    }
    for (i = 0; i < obj->u.obj.n; i++) {
        if (sl_str_eq(obj->u.obj.v[i].key, key)) {
            return obj->u.obj.v[i].val;
        }
    }
    return NULL;
}

/* Makes room for one more element of <size> bytes in <*v> (<n> used,
 * <*cap> allocated), doubling. */
static int json_grow(struct sl_arena *a, void **v, size_t n, size_t *cap,
                     size_t size)
{
    size_t ncap;
    void *nv;

    if (n < *cap) {
        return SL_OK;
    }
    ncap = *cap < 4 ? 8 : *cap * 2;
    nv = sl_arena_realloc(a, *v, *cap * size, ncap * size);
    if (nv == NULL) {
        return SL_ENOMEM;
    }
    *v = nv;
    *cap = ncap;
    return SL_OK;
}

int sl_json_obj_append(struct sl_arena *a, struct sl_json *obj,
                       struct sl_str key, struct sl_json *val)
{
    void *v;
    char *k;
    int rc;

    if (obj == NULL || obj->type != SL_JSON_OBJECT || val == NULL) {
        return SL_EINVAL;
    }
    v = obj->u.obj.v;
    rc = json_grow(a, &v, obj->u.obj.n, &obj->u.obj.cap, sizeof(*obj->u.obj.v));
    if (rc != SL_OK) {
        return rc;
    }
    obj->u.obj.v = v;
    k = sl_arena_strndup(a, key.ptr != NULL ? key.ptr : "", key.len);
    if (k == NULL) {
        return SL_ENOMEM;
    }
    obj->u.obj.v[obj->u.obj.n].key = sl_str_make(k, key.len);
    obj->u.obj.v[obj->u.obj.n].val = val;
    obj->u.obj.n++;
    return SL_OK;
}

int sl_json_obj_set(struct sl_arena *a, struct sl_json *obj, struct sl_str key,
                    struct sl_json *val)
{
    size_t i;

    if (obj == NULL || obj->type != SL_JSON_OBJECT || val == NULL) {
        return SL_EINVAL;
    }
    for (i = 0; i < obj->u.obj.n; i++) {
        if (sl_str_eq(obj->u.obj.v[i].key, key)) {
            obj->u.obj.v[i].val = val;
            return SL_OK;
        }
    }
    return sl_json_obj_append(a, obj, key, val);
}

void sl_json_obj_remove_at(struct sl_json *obj, size_t i)
{
    if (obj == NULL || obj->type != SL_JSON_OBJECT || i >= obj->u.obj.n) {
        return;
    }
    memmove(&obj->u.obj.v[i], &obj->u.obj.v[i + 1],
            (obj->u.obj.n - i - 1) * sizeof(*obj->u.obj.v));
    obj->u.obj.n--;
}

size_t sl_json_obj_remove(struct sl_json *obj, struct sl_str key)
{
    size_t i = 0, removed = 0;

    if (obj == NULL || obj->type != SL_JSON_OBJECT) {
        return 0;
    }
    while (i < obj->u.obj.n) {
        if (sl_str_eq(obj->u.obj.v[i].key, key)) {
            sl_json_obj_remove_at(obj, i);
            removed++;
        } else {
            i++;
        }
    }
    return removed;
}

int sl_json_arr_push(struct sl_arena *a, struct sl_json *arr,
                     struct sl_json *val)
{
    void *v;
    int rc;

    if (arr == NULL || arr->type != SL_JSON_ARRAY || val == NULL) {
        return SL_EINVAL;
    }
    v = arr->u.arr.v;
    rc = json_grow(a, &v, arr->u.arr.n, &arr->u.arr.cap, sizeof(*arr->u.arr.v));
    if (rc != SL_OK) {
        return rc;
    }
    arr->u.arr.v = v;
    arr->u.arr.v[arr->u.arr.n++] = val;
    return SL_OK;
}

/* ---- scalars ---- */

bool sl_json_get_i64(const struct sl_json *v, int64_t *out)
{
    char s[64];
    char *end;
    long long ll;
    double d;

    if (v == NULL || v->type != SL_JSON_NUMBER || v->u.num.len == 0 ||
        v->u.num.len >= sizeof(s)) {
        return false;
    }
    memcpy(s, v->u.num.ptr, v->u.num.len);
    s[v->u.num.len] = '\0';
    errno = 0;
    ll = strtoll(s, &end, 10);
    if (*end == '\0') {
        if (errno == ERANGE) {
            return false;
        }
        *out = ll;
        return true;
    }
    /* "1.0" or "1e3": accept when integral and in range. */
    d = strtod(s, &end);
    if (*end != '\0' || d != floor(d) || d < -9223372036854775808.0 ||
        d >= 9223372036854775808.0) {
        return false;
    }
    *out = (int64_t)d;
    return true;
}

bool sl_json_get_double(const struct sl_json *v, double *out)
{
    char s[352];
    char *end;
    double d;

    if (v == NULL || v->type != SL_JSON_NUMBER || v->u.num.len == 0 ||
        v->u.num.len >= sizeof(s)) {
        return false;
    }
    memcpy(s, v->u.num.ptr, v->u.num.len);
    s[v->u.num.len] = '\0';
    d = strtod(s, &end);
    if (*end != '\0' || !isfinite(d)) {
        return false;
    }
    *out = d;
    return true;
}

bool sl_json_scalar_text(const struct sl_json *v, struct sl_buf *scratch,
                         struct sl_str *out)
{
    if (v == NULL) {
        *out = SL_STR_LIT("null");
        return true;
    }
    switch (v->type) {
    case SL_JSON_NULL:
        *out = SL_STR_LIT("null");
        return true;
    case SL_JSON_BOOL:
        *out = v->u.b ? SL_STR_LIT("true") : SL_STR_LIT("false");
        return true;
    case SL_JSON_NUMBER:
        *out = v->u.num;
        return true;
    case SL_JSON_STRING:
        *out = v->u.str;
        return true;
    default:
        sl_buf_reset(scratch);
        if (sl_json_serialize(v, scratch) != SL_OK) {
            return false;
        }
        *out = sl_buf_str(scratch);
        return true;
    }
}

/* ---- record accessors ---- */

static int acc_push(struct sl_accessor *acc, struct sl_accessor_step st,
                    const char *text, struct sl_err *err)
{
    if (acc->n >= SL_ACCESSOR_MAX_DEPTH) {
        return sl_err_set(err, SL_EINVAL,
                          "record accessor '%s' is deeper than %d steps", text,
                          SL_ACCESSOR_MAX_DEPTH);
    }
    acc->steps[acc->n++] = st;
    return SL_OK;
}

/* Parses one "[...]" step at <s>[<*i>] (the '['). */
static int acc_bracket(struct sl_accessor *acc, char *s, size_t *i,
                       const char *text, struct sl_err *err)
{
    struct sl_accessor_step st = { .is_index = false };
    size_t j = *i + 1, start;
    char q = s[j];

    if (q == '\'' || q == '"') {
        start = ++j;
        while (s[j] != '\0' && s[j] != q) {
            j++;
        }
        if (s[j] != q || s[j + 1] != ']') {
            goto bad;
        }
        st.key = sl_str_make(s + start, j - start);
        *i = j + 2;
        return acc_push(acc, st, text, err);
    }
    if (s[j] < '0' || s[j] > '9') {
        goto bad;
    }
    st.is_index = true;
    while (s[j] >= '0' && s[j] <= '9') {
        if (st.index > (SIZE_MAX - 9) / 10) {
            goto bad;
        }
        st.index = st.index * 10 + (size_t)(s[j++] - '0');
    }
    if (s[j] != ']') {
        goto bad;
    }
    *i = j + 1;
    return acc_push(acc, st, text, err);
bad:
    return sl_err_set(err, SL_EINVAL,
                      "record accessor '%s': bad subscript at offset %zu", text,
                      *i);
}

static int acc_parse(struct sl_accessor *acc, char *s, const char *text,
                     struct sl_err *err)
{
    struct sl_accessor_step st = { .is_index = false };
    size_t i = 1;
    int rc;

    while (s[i] != '\0' && s[i] != '[') {
        i++;
    }
    if (i == 1) {
        return sl_err_set(err, SL_EINVAL,
                          "record accessor '%s' has no key after '$'", text);
    }
    st.key = sl_str_make(s + 1, i - 1);
    rc = acc_push(acc, st, text, err);
    while (rc == SL_OK && s[i] != '\0') {
        if (s[i] != '[') {
            return sl_err_set(err, SL_EINVAL,
                              "record accessor '%s': expected '[' at "
                              "offset %zu",
                              text, i);
        }
        rc = acc_bracket(acc, s, &i, text, err);
    }
    return rc;
}

int sl_accessor_compile(struct sl_accessor *acc, const char *text,
                        struct sl_err *err)
{
    struct sl_accessor_step st = { .is_index = false };
    int rc;

    memset(acc, 0, sizeof(*acc));
    if (text == NULL || text[0] == '\0') {
        return sl_err_set(err, SL_EINVAL, "empty record accessor");
    }
    acc->text = sl_strdup(text);
    if (acc->text == NULL) {
        return sl_err_set(err, SL_ENOMEM, "out of memory");
    }
    if (text[0] != '$') {
        st.key = sl_str_cstr(acc->text);
        acc->steps[acc->n++] = st;
        return SL_OK;
    }
    rc = acc_parse(acc, acc->text, text, err);
    if (rc != SL_OK) {
        sl_accessor_fini(acc);
    }
    return rc;
}

void sl_accessor_fini(struct sl_accessor *acc)
{
    sl_free(acc->text);
    acc->text = NULL;
    acc->n = 0;
}

static struct sl_json *acc_step(const struct sl_json *v,
                                const struct sl_accessor_step *st)
{
    if (v == NULL) {
        return NULL;
    }
    if (st->is_index) {
        if (v->type != SL_JSON_ARRAY || st->index >= v->u.arr.n) {
            return NULL;
        }
        return v->u.arr.v[st->index];
    }
    return sl_json_obj_get(v, st->key);
}

struct sl_json *sl_accessor_get(const struct sl_accessor *acc,
                                const struct sl_json *root)
{
    const struct sl_json *v = root;
    size_t i;

    for (i = 0; i < acc->n && v != NULL; i++) {
        v = acc_step(v, &acc->steps[i]);
    }
    return (struct sl_json *)v;
}

int sl_accessor_set(const struct sl_accessor *acc, struct sl_arena *a,
                    struct sl_json *root, struct sl_json *val)
{
    struct sl_json *v = root, *next;
    const struct sl_accessor_step *st;
    size_t i;
    int rc;

    if (acc->n == 0 || root == NULL) {
        return SL_ENOTFOUND;
    }
    for (i = 0; i + 1 < acc->n; i++) {
        st = &acc->steps[i];
        next = acc_step(v, st);
        if (next == NULL && !st->is_index && v->type == SL_JSON_OBJECT) {
            next = sl_json_new_object(a);
            if (next == NULL) {
                return SL_ENOMEM;
            }
            rc = sl_json_obj_append(a, v, st->key, next);
            if (rc != SL_OK) {
                return rc;
            }
        }
        if (next == NULL) {
            return SL_ENOTFOUND;
        }
        v = next;
    }
    st = &acc->steps[acc->n - 1];
    if (st->is_index) {
        if (v->type != SL_JSON_ARRAY || st->index >= v->u.arr.n) {
            return SL_ENOTFOUND;
        }
        v->u.arr.v[st->index] = val;
        return SL_OK;
    }
    if (v->type != SL_JSON_OBJECT) {
        return SL_ENOTFOUND;
    }
    return sl_json_obj_set(a, v, st->key, val);
}

bool sl_accessor_remove(const struct sl_accessor *acc, struct sl_json *root)
{
    struct sl_json *v = root;
    const struct sl_accessor_step *st;
    size_t i;

    if (acc->n == 0) {
        return false;
    }
    for (i = 0; i + 1 < acc->n && v != NULL; i++) {
        v = acc_step(v, &acc->steps[i]);
    }
    if (v == NULL) {
        return false;
    }
    st = &acc->steps[acc->n - 1];
    if (st->is_index) {
        if (v->type != SL_JSON_ARRAY || st->index >= v->u.arr.n) {
            return false;
        }
        memmove(&v->u.arr.v[st->index], &v->u.arr.v[st->index + 1],
                (v->u.arr.n - st->index - 1) * sizeof(*v->u.arr.v));
        v->u.arr.n--;
        return true;
    }
    return sl_json_obj_remove(v, st->key) > 0;
}
