/* out_sentry.c - placeholder while it is written. */
#include "sluice/plugin.h"
#include "sluice/banned.h"

const struct sl_plugin sl_plugin_out_sentry = {
    .abi = SL_PLUGIN_ABI,
    .kind = SL_PLUGIN_OUTPUT,
    .name = "sentry",
    .description = "Placeholder.",
};
