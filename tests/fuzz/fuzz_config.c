/*
 * fuzz_config.c - libFuzzer target for the YAML config loader.
 *
 * Feeds the input to sl_config_load_string, then applies a small fixed
 * option table (every type) to each input and output entry, so the
 * option engine's walking, flattening and ${VAR} expansion run on
 * whatever tree the loader built.  Everything is freed on every path.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "config.h"
#include "option.h"
#include "sluice/banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct fuzz_conf {
    char *host;
    int64_t port;
    bool tls;
    uint64_t size;
    int64_t timeout_ms;
    int format;
    struct sl_strlist tags;
    struct sl_kvlist headers;
    char *tmpl;
    double ratio;
};

static const char *const fuzz_formats[] = { "json", "text", NULL };

#define FF(f) SL_OPT_FIELD(struct fuzz_conf, f)

static const struct sl_option fuzz_table[] = {
    { .name = "host", .type = SL_OPT_STR, FF(host), .desc = "Host." },
    { .name = "port",
      .type = SL_OPT_INT,
      FF(port),
      .def = "80",
      .min = 1,
      .max = 65535,
      .desc = "Port." },
    { .name = "tls",
      .type = SL_OPT_BOOL,
      FF(tls),
      .def = "off",
      .desc = "TLS." },
    { .name = "tls.size",
      .type = SL_OPT_SIZE,
      FF(size),
      .def = "1M",
      .min = 1024,
      .max = 1 << 30,
      .desc = "Size." },
    { .name = "timeout",
      .type = SL_OPT_TIME,
      FF(timeout_ms),
      .def = "1s",
      .desc = "Timeout." },
    { .name = "format",
      .type = SL_OPT_ENUM,
      FF(format),
      .def = "json",
      .choices = fuzz_formats,
      .desc = "Format." },
    { .name = "tags",
      .type = SL_OPT_LIST,
      FF(tags),
      .def = "a,b",
      .flags = SL_OPT_MULTI,
      .desc = "Tags." },
    { .name = "headers", .type = SL_OPT_MAP, FF(headers), .desc = "Map." },
    { .name = "index",
      .type = SL_OPT_TEMPLATE,
      FF(tmpl),
      .def = "x",
      .desc = "Template." },
    { .name = "ratio",
      .type = SL_OPT_DOUBLE,
      FF(ratio),
      .desc = "Ratio.",
      .flags = SL_OPT_SECRET },
    SL_OPT_END,
};

static void fuzz_apply(const struct sl_config *cfg, const struct sl_cnode *seq)
{
    static const char *const ignore[] = { "name", NULL };
    struct sl_errlist errs;
    struct fuzz_conf conf;
    struct sl_opt_target t = { fuzz_table, &conf };
    size_t i;

    for (i = 0; i < seq->n; i++) {
        memset(&conf, 0, sizeof(conf));
        sl_errlist_init(&errs);
        (void)sl_option_apply(cfg, seq->items[i], &t, 1, ignore, &errs);
        sl_option_free(fuzz_table, &conf);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sl_errlist errs;
    struct sl_config *cfg = NULL;

    sl_errlist_init(&errs);
    if (sl_config_load_string("fuzz.yaml", (const char *)data, size, &cfg,
                              &errs) != SL_OK) {
        return 0;
    }
    fuzz_apply(cfg, cfg->inputs);
    fuzz_apply(cfg, cfg->outputs);
    sl_errlist_init(&errs);
    sl_config_destroy(cfg);
    return 0;
}
