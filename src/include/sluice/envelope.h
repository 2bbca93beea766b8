/*
 * envelope.h - what line outputs (stdout json_lines, file, tcp) add to
 * each record: the event time under `time_key` and the tag under
 * `tag_key`, spliced in right after the body's opening brace, so the
 * record is never re-encoded.  Without either key a line is the body's
 * bytes and "\n" (the passthrough path).
 *
 * Declare the three options once in a plugin's table with
 * SL_ENVELOPE_OPTIONS(conf type, member), build a struct sl_envelope at
 * init, then per batch sl_envelope_tag and per record sl_envelope_line.
 * The envelope is read-only after init; the tag member buffer belongs to
 * the caller (one per worker).
 */
#ifndef SLUICE_ENVELOPE_H
#define SLUICE_ENVELOPE_H

#include <stdbool.h>

#include "buf.h"
#include "option.h"
#include "plugin.h"
#include "str.h"

enum sl_envelope_time {
    SL_ENVELOPE_RFC3339,  /* UTC string with milliseconds */
    SL_ENVELOPE_EPOCH,    /* seconds with a 3-digit fraction */
    SL_ENVELOPE_EPOCH_MS, /* integer milliseconds */
    SL_ENVELOPE_EPOCH_NS, /* integer nanoseconds */
};

extern const char *const sl_envelope_time_formats[];

struct sl_envelope_conf {
    char *time_key; /* NULL: no time added */
    int time_format;
    char *tag_key;  /* NULL: no tag added */
};

/* Option rows for member <f> (a struct sl_envelope_conf) of conf type <T>. */
#define SL_ENVELOPE_OPTIONS(T, f)                                             \
    { .name = "time_key",                                                     \
      .type = SL_OPT_STR,                                                     \
      SL_OPT_FIELD(T, f.time_key),                                            \
      .desc = "Add the event time under this key at the start of each "       \
              "record. Unset by default: nothing is added." },                \
    { .name = "time_format",                                                  \
      .type = SL_OPT_ENUM,                                                    \
      .def = "rfc3339",                                                       \
      .choices = sl_envelope_time_formats,                                    \
      SL_OPT_FIELD(T, f.time_format),                                         \
      .desc = "Format of the time_key value: rfc3339 (a UTC string with "     \
              "milliseconds), epoch (seconds with a 3-digit fraction), "      \
              "epoch_ms or epoch_ns (integers)." },                           \
    { .name = "tag_key",                                                      \
      .type = SL_OPT_STR,                                                     \
      SL_OPT_FIELD(T, f.tag_key),                                             \
      .desc = "Add the record's tag under this key at the start of each "     \
              "record. Unset by default: nothing is added." }

struct sl_envelope {
    struct sl_buf time_prefix; /* "\"<time_key>\":", empty when unset */
    const char *tag_key;       /* borrowed from the conf; NULL when unset */
    int time_format;
};

/* Builds <e> from <c> (which must outlive it).  SL_OK or SL_ENOMEM. */
int sl_envelope_init(struct sl_envelope *e, const struct sl_envelope_conf *c);
void sl_envelope_fini(struct sl_envelope *e);

/* True when lines get something added (time or tag key set). */
bool sl_envelope_on(const struct sl_envelope *e);

/* Writes the tag member for a batch of <tag> into <tagm> (empty without
 * tag_key). */
int sl_envelope_tag(const struct sl_envelope *e, struct sl_str tag,
                    struct sl_buf *tagm);

/* The record with the envelope spliced in (sl_envelope_line's slow
 * path). */
int sl_envelope_splice(const struct sl_envelope *e, const struct sl_buf *tagm,
                       const struct sl_event *ev, struct sl_buf *out);

/* Appends one line to <out>: <ev>'s body with the envelope spliced in,
 * then "\n".  Inline so that the passthrough case (no keys set) costs a
 * test and two appends per record on the outputs' hot loops. */
static inline int sl_envelope_line(const struct sl_envelope *e,
                                   const struct sl_buf *tagm,
                                   const struct sl_event *ev,
                                   struct sl_buf *out)
{
    int rc;

    if (e->time_prefix.len == 0 && e->tag_key == NULL) {
        rc = sl_buf_append(out, ev->body.ptr, ev->body.len);
        return rc == SL_OK ? sl_buf_putc(out, '\n') : rc;
    }
    return sl_envelope_splice(e, tagm, ev, out);
}

#endif
