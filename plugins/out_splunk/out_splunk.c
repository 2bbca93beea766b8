/* out_splunk.c - placeholder while it is written. */
#include "sluice/plugin.h"
#include "sluice/banned.h"

const struct sl_plugin sl_plugin_out_splunk = {
    .abi = SL_PLUGIN_ABI,
    .kind = SL_PLUGIN_OUTPUT,
    .name = "splunk",
    .description = "Placeholder.",
};
