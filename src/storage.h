/*
 * storage.h - the chunk store on disk as a whole: walking
 * <storage.path>/chunks/<input>/NAME.chunk, the recovery rules, and the
 * `sluice storage inspect|fsck|export` tools.
 *
 * Recovery rules (DESIGN 6), applied at start and by fsck --repair:
 *   - complete frames are kept and re-queued;
 *   - a torn last frame (a crash mid-write) is cut off and counted;
 *   - a frame whose CRC does not match: the whole file is first copied to
 *     <storage.path>/corrupt/, then the live file is cut before that frame
 *     and what precedes it is recovered;
 *   - a bad header: the file is moved to <storage.path>/corrupt/.
 * Nothing is ever deleted by recovery.
 */
#ifndef SLUICE_STORAGE_H
#define SLUICE_STORAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "chunk.h"
#include "sluice/error.h"

struct sl_storage_stats {
    uint64_t chunks;
    uint64_t records;
    uint64_t truncated_frames; /* torn tails cut off */
    uint64_t corrupt_chunks;   /* bad header or CRC */
    uint64_t bytes;
};

/* Calls <cb> for every chunk file, in name order (creation order) within
 * each input folder.  <dir> is the input folder's name. */
typedef int (*sl_storage_fn)(void *arg, const char *dir, const char *path);
int sl_storage_walk(const char *storage_path, sl_storage_fn cb, void *arg);

/* Applies the recovery rules to the file <path> (with <repair>: changes
 * the files; without: only reports).  *<out> gets the sealed chunk (frames
 * on disk) when something is recoverable, else NULL.  Returns SL_OK or an
 * I/O error; damage is reported in <st> and <err> (message only). */
int sl_storage_recover(const char *storage_path, const char *path,
                       bool repair, struct sl_chunk **out,
                       struct sl_storage_stats *st, struct sl_err *err);

/* `sluice storage <cmd> PATH [--repair]`; returns the exit status. */
int sl_storage_main(int argc, char **argv);

#endif
