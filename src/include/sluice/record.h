/*
 * record.h - the event as filters see it.
 *
 * An event is a timestamp in nanoseconds, a dotted tag used for routing and
 * a body: one JSON object held as compact bytes (DESIGN 4).  A filter that
 * reads or changes fields asks for the DOM with sl_record_dom(); the bytes
 * are parsed once into the record's arena.  A filter that changed the DOM
 * returns SL_FILTER_MODIFIED (or calls sl_record_mark_dirty) and the engine
 * serializes the record once, after the last filter.  A record no filter
 * changed keeps its original bytes.
 *
 * Records live on the main loop's thread for the duration of one pass
 * through the filter chain; nothing in them may be kept after the filter
 * callback returns (copy what must be kept).
 */
#ifndef SLUICE_RECORD_H
#define SLUICE_RECORD_H

#include <stdbool.h>
#include <stdint.h>

#include "arena.h"
#include "json.h"
#include "str.h"

struct sl_record {
    int64_t ts_ns;          /* event time, ns since the epoch (UTC) */
    struct sl_str tag;      /* routing tag; change with sl_record_set_tag */
    struct sl_str body;     /* compact JSON object; stale once dirty */
    struct sl_arena *arena; /* per-record scratch, reset after the chain */
    struct sl_json *dom;    /* NULL until sl_record_dom() */
    bool dirty;             /* the DOM differs from body */
};

/* Returns the record's DOM (an object), parsing the body on the first call.
 * NULL only on ENOMEM (bodies are validated on ingest). */
struct sl_json *sl_record_dom(struct sl_record *r);

static inline void sl_record_mark_dirty(struct sl_record *r)
{
    r->dirty = true;
}

/* Replaces the tag (copied into the record's arena). */
int sl_record_set_tag(struct sl_record *r, struct sl_str tag);

#endif
