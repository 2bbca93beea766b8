/*
 * fuzz_chunk.c - chunk-file recovery on arbitrary bytes: the scan must
 * never read out of bounds, whatever the header, lengths or checksums
 * say.  The input is written to a temporary file and scanned, then a
 * valid header is prepended so the frame walker sees the fuzz bytes too.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chunk.h"
#include "storage.h"
#include "sluice/mem.h"
#include "sluice/banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_scan(const char *path, const void *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    struct sl_chunk *c = NULL;
    struct sl_chunk_scan scan;
    struct sl_err err;

    if (f == NULL) {
        return;
    }
    if (n > 0 && fwrite(p, 1, n, f) != n) {
        fclose(f);
        return;
    }
    fclose(f);
    if (sl_chunk_fs_scan(path, false, &c, &scan, &err) == SL_OK && c != NULL) {
        unsigned char *frames = NULL;
        size_t len = 0, off = 0;
        int64_t ts;
        struct sl_str body;

        if (sl_chunk_fs_load(c, &frames, &len) == SL_OK) {
            while (sl_chunk_frames_next(frames, len, &off, &ts, &body)) {
            }
            sl_free(frames);
        }
        sl_chunk_destroy(c);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char path[64];
    static unsigned char hdr[64];
    static size_t hdr_len;
    unsigned char *buf;

    if (path[0] == '\0') {
        struct sl_chunk *c = sl_chunk_create(sl_str_cstr("fuzz"), 1 << 20);
        struct sl_err err;
        char dir[] = "/tmp/sluice-fuzz-chunk-XXXXXX";
        FILE *f;
        int rc;

        if (c == NULL || mkdtemp(dir) == NULL) {
            sl_chunk_destroy(c);
            return 0;
        }
        c->checksum = true;
        if (sl_chunk_fs_create(c, dir, true, &err) != SL_OK) {
            sl_chunk_destroy(c);
            return 0;
        }
        sl_chunk_fs_seal(c, NULL, &rc);
        f = fopen(c->path, "rb");
        hdr_len = f != NULL ? fread(hdr, 1, sizeof(hdr), f) : 0;
        if (f != NULL) {
            fclose(f);
        }
        snprintf(path, sizeof(path), "%s/in.chunk", dir);
        unlink(c->path);
        sl_chunk_destroy(c);
    }
    fuzz_scan(path, data, size);
    buf = sl_malloc(hdr_len + size + 1);
    if (buf != NULL) {
        memcpy(buf, hdr, hdr_len);
        if (size > 0) {
            memcpy(buf + hdr_len, data, size);
        }
        fuzz_scan(path, buf, hdr_len + size);
        sl_free(buf);
    }
    return 0;
}
