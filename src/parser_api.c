/*
 * parser_api.c - named parsers for plugins other than inputs
 * (sl_parser_lookup, sl_parser_parse in sluice/plugin.h).
 *
 * The engine builds its parsers (the config's "parsers:" section and the
 * built-in defaults) before inputs and filters, so a filter's init can
 * look one up by name and keep the pointer for the engine's life.
 * Standalone instances (tests, tools) have no engine and find nothing.
 * Main thread only.
 */
#include <string.h>

#include "engine.h"
#include "sluice/plugin.h"
#include "sluice/banned.h"

struct sl_instance *sl_parser_lookup(struct sl_instance *ins, const char *name)
{
    struct sl_engine *e;
    size_t i;

    if (ins == NULL || ins->engine == NULL || name == NULL) {
        return NULL;
    }
    e = ins->engine;
    for (i = 0; i < e->nparsers; i++) {
        if (e->parsers[i]->g.name != NULL &&
            strcmp(e->parsers[i]->g.name, name) == 0) {
            return e->parsers[i];
        }
    }
    return NULL;
}

int sl_parser_parse(struct sl_instance *parser, const char *p, size_t n,
                    struct sl_parse_result *res)
{
    if (parser == NULL || parser->plugin->kind != SL_PLUGIN_PARSER ||
        parser->plugin->parse == NULL) {
        return SL_EINVAL;
    }
    if (res->scratch != NULL) {
        sl_buf_reset(res->scratch);
    }
    res->ts_ns = 0;
    res->body = SL_STR_NULL;
    return parser->plugin->parse(parser, p, n, res);
}
