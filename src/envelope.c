/*
 * envelope.c - time and tag keys spliced into line outputs' records (see
 * sluice/envelope.h).  Pure functions over caller buffers; thread-safe.
 */
#include <inttypes.h>
#include <string.h>

#include "sluice/envelope.h"
#include "sluice/json.h"
#include "sluice/timeutil.h"
#include "sluice/banned.h"

const char *const sl_envelope_time_formats[] = { "rfc3339", "epoch",
                                                 "epoch_ms", "epoch_ns",
                                                 NULL };

int sl_envelope_init(struct sl_envelope *e, const struct sl_envelope_conf *c)
{
    int rc = SL_OK;

    sl_buf_init(&e->time_prefix, 0);
    e->tag_key = c->tag_key;
    e->time_format = c->time_format;
    if (c->time_key != NULL) {
        rc = sl_json_write_string(&e->time_prefix, c->time_key,
                                  strlen(c->time_key));
        if (rc == SL_OK) {
            rc = sl_buf_putc(&e->time_prefix, ':');
        }
    }
    if (rc != SL_OK) {
        sl_buf_fini(&e->time_prefix);
    }
    return rc;
}

void sl_envelope_fini(struct sl_envelope *e)
{
    sl_buf_fini(&e->time_prefix);
}

bool sl_envelope_on(const struct sl_envelope *e)
{
    return e->time_prefix.len > 0 || e->tag_key != NULL;
}

int sl_envelope_tag(const struct sl_envelope *e, struct sl_str tag,
                    struct sl_buf *tagm)
{
    int rc;

    sl_buf_reset(tagm);
    if (e->tag_key == NULL) {
        return SL_OK;
    }
    rc = sl_json_write_string(tagm, e->tag_key, strlen(e->tag_key));
    if (rc == SL_OK) {
        rc = sl_buf_putc(tagm, ':');
    }
    if (rc == SL_OK) {
        rc = sl_json_write_string(tagm, tag.ptr, tag.len);
    }
    return rc;
}

static int envelope_time(const struct sl_envelope *e, int64_t ns,
                         struct sl_buf *out)
{
    char t[64];
    int64_t s = ns / SL_NS_PER_S;
    int64_t frac = ns % SL_NS_PER_S;
    size_t n;

    if (frac < 0) {
        frac += SL_NS_PER_S;
        s--;
    }
    switch (e->time_format) {
    case SL_ENVELOPE_EPOCH:
        return sl_buf_printf(out, "%" PRId64 ".%03" PRId64, s,
                             frac / SL_NS_PER_MS);
    case SL_ENVELOPE_EPOCH_MS:
        return sl_buf_printf(out, "%" PRId64, s * 1000 + frac / SL_NS_PER_MS);
    case SL_ENVELOPE_EPOCH_NS:
        return sl_buf_printf(out, "%" PRId64, ns);
    default:
        n = sl_time_format_rfc3339(ns, 3, t, sizeof(t));
        return sl_json_write_string(out, t, n);
    }
}

int sl_envelope_splice(const struct sl_envelope *e, const struct sl_buf *tagm,
                       const struct sl_event *ev, struct sl_buf *out)
{
    struct sl_str body = ev->body;
    int rc;

    if (!sl_envelope_on(e) || body.len < 2 || body.ptr[0] != '{') {
        rc = sl_buf_append(out, body.ptr, body.len);
        return rc == SL_OK ? sl_buf_putc(out, '\n') : rc;
    }
    rc = sl_buf_putc(out, '{');
    if (rc == SL_OK && e->time_prefix.len > 0) {
        rc = sl_buf_append_sl(out, sl_buf_str(&e->time_prefix));
        if (rc == SL_OK) {
            rc = envelope_time(e, ev->ts_ns, out);
        }
        if (rc == SL_OK && tagm->len > 0) {
            rc = sl_buf_putc(out, ',');
        }
    }
    if (rc == SL_OK && tagm->len > 0) {
        rc = sl_buf_append_sl(out, sl_buf_str(tagm));
    }
    /* Bodies are compact: "{}" is the only empty object. */
    if (rc == SL_OK && body.ptr[1] != '}') {
        rc = sl_buf_putc(out, ',');
    }
    if (rc == SL_OK) {
        rc = sl_buf_append(out, body.ptr + 1, body.len - 1);
    }
    return rc == SL_OK ? sl_buf_putc(out, '\n') : rc;
}
