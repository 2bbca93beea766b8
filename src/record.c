/*
 * record.c - the record's DOM on demand and tag changes (see
 * sluice/record.h).
 *
 * Main thread only, like the filter chain that uses records.  Everything
 * allocated here lives in the record's arena and dies when the engine
 * resets it after the chain; nothing is malloc'd per record.
 */
#include <string.h>

#include "sluice/record.h"
#include "sluice/banned.h"

/* Returns the record's DOM, parsing <r>->body into <r>->arena on the first
 * call.  Bodies were validated on ingest, so NULL means ENOMEM (or, for a
 * body that is somehow not an object, that there is no DOM to give). */
struct sl_json *sl_record_dom(struct sl_record *r)
{
    struct sl_json *v = NULL;

    if (r->dom != NULL) {
        return r->dom;
    }
    if (sl_json_parse(r->arena, r->body.ptr, r->body.len, &v, NULL) != SL_OK) {
        return NULL;
    }
    if (v->type != SL_JSON_OBJECT) {
        return NULL;
    }
    r->dom = v;
    return v;
}

/* Copies <tag> into the record's arena and makes it the record's tag.
 * Returns SL_OK or SL_ENOMEM (the old tag is kept). */
int sl_record_set_tag(struct sl_record *r, struct sl_str tag)
{
    char *p =
        sl_arena_strndup(r->arena, tag.ptr != NULL ? tag.ptr : "", tag.len);

    if (p == NULL) {
        return SL_ENOMEM;
    }
    r->tag = sl_str_make(p, tag.len);
    return SL_OK;
}
