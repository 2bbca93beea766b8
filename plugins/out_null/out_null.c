/*
 * out_null.c - an output that discards every record.
 *
 * Useful to measure the pipeline without a destination, and to route
 * records away on purpose.  The engine counts what it receives like for any
 * output (records and bytes out), so nothing is dropped silently.  flush
 * runs on the worker threads and touches no state.
 */
#include "sluice/plugin.h"
#include "sluice/banned.h"

static int out_null_init(struct sl_instance *ins, void *conf,
                         struct sl_err *err)
{
    (void)ins;
    (void)conf;
    (void)err;
    return SL_OK;
}

static enum sl_flush_result out_null_flush(struct sl_batch *b,
                                           struct sl_worker *w)
{
    (void)b;
    (void)w;
    return SL_FLUSH_OK;
}

const struct sl_plugin sl_plugin_out_null = {
    .abi = SL_PLUGIN_ABI,
    .kind = SL_PLUGIN_OUTPUT,
    .name = "null",
    .description = "Discard every record (they are still counted).",
    .options = NULL,
    .conf_size = 0,
    .init = out_null_init,
    .flush = out_null_flush,
};
