/*
 * replay.c - runs a libFuzzer target over its corpus without libFuzzer.
 *
 * Built with gcc under make check: feeds every file of
 * $SLUICE_SRCDIR/tests/fuzz/corpus/<FUZZ_NAME>/ (or the files and folders
 * given as arguments) to LLVMFuzzerTestOneInput and prints one TAP line
 * per file.  A crash or a sanitizer report fails the run through the exit
 * status.  Each input is also replayed with allocation failures injected
 * at the first few allocations, so the error paths run too.
 */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "sluice/mem.h"
#include "sluice/banned.h"

#ifndef FUZZ_NAME
#define FUZZ_NAME "unknown"
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int replay_file(const char *path, unsigned *n)
{
    FILE *f = fopen(path, "rb");
    unsigned char *data;
    long len;
    long k;

    if (f == NULL) {
        printf("not ok %u - %s: %s\n", ++*n, path, strerror(errno));
        return 1;
    }
    fseek(f, 0, SEEK_END);
    len = ftell(f);
    fseek(f, 0, SEEK_SET);
    data = sl_malloc(len > 0 ? (size_t)len : 1);
    if (data == NULL || (len > 0 && fread(data, 1, (size_t)len, f) != (size_t)len)) {
        fclose(f);
        sl_free(data);
        printf("not ok %u - %s: read failed\n", ++*n, path);
        return 1;
    }
    fclose(f);
    LLVMFuzzerTestOneInput(data, (size_t)len);
    for (k = 0; k < 8; k++) {
        sl_mem_fail_after(k);
        LLVMFuzzerTestOneInput(data, (size_t)len);
        sl_mem_fail_after(-1);
    }
    sl_free(data);
    printf("ok %u - %s\n", ++*n, path);
    return 0;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int replay_dir(const char *dir, unsigned *n)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    char **names = NULL;
    size_t count = 0, i;
    int fails = 0;
    char path[4096];

    if (d == NULL) {
        printf("not ok %u - cannot open %s: %s\n", ++*n, dir, strerror(errno));
        return 1;
    }
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.') {
            continue;
        }
        names = sl_realloc(names, (count + 1) * sizeof(*names));
        names[count++] = sl_strdup(de->d_name);
    }
    closedir(d);
    qsort(names, count, sizeof(*names), cmp_names);
    for (i = 0; i < count; i++) {
        snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
        fails += replay_file(path, n);
        sl_free(names[i]);
    }
    sl_free(names);
    return fails;
}

int main(int argc, char **argv)
{
    const char *src = getenv("SLUICE_SRCDIR");
    char dir[4096];
    unsigned n = 0;
    int fails = 0, i;
    struct stat st;

    if (argc > 1) {
        for (i = 1; i < argc; i++) {
            if (stat(argv[i], &st) == 0 && S_ISDIR(st.st_mode)) {
                fails += replay_dir(argv[i], &n);
            } else {
                fails += replay_file(argv[i], &n);
            }
        }
    } else {
        snprintf(dir, sizeof(dir), "%s/tests/fuzz/corpus/%s",
                 src != NULL ? src : ".", FUZZ_NAME);
        fails += replay_dir(dir, &n);
    }
    printf("1..%u\n", n);
    return fails == 0 ? 0 : 1;
}
