/* fuzz_common.h — what every libFuzzer harness of fuzz/ shares: an allocator for spk that
 * refuses requests above a cap (so that a file claiming a billion neurons exercises spk's
 * out-of-memory path instead of exhausting the fuzzer's memory) and checks that every
 * allocation is freed, and writing an input to a file for the loaders that take a path.
 * Each harness includes it once. */
#ifndef SPK_FUZZ_COMMON_H
#define SPK_FUZZ_COMMON_H

#include "spk.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#define FUZZ_ALLOC_CAP ((size_t)64 << 20) /* 64 MiB: larger spk allocations fail */

static size_t fuzz_live; /* spk allocations not yet freed */

static void *fuzz_malloc(void *ud, size_t n) {
    (void)ud;
    if (n > FUZZ_ALLOC_CAP) return NULL;
    void *p = malloc(n);
    if (p) fuzz_live++;
    return p;
}
static void fuzz_free(void *ud, void *p) {
    (void)ud;
    if (p) fuzz_live--;
    free(p);
}

/* Once per process: the capped allocator, one thread (reproducible, no pool start-up per
 * input). */
static inline void fuzz_init(void) {
    static int done;
    if (done) return;
    done = 1;
    static const spk_allocator a = {fuzz_malloc, NULL, fuzz_free, NULL};
    spk_set_allocator(&a);
    spk_set_threads(1);
}

/* After each input: every spk allocation must have been returned, whatever the outcome. */
static inline void fuzz_check_balanced(const char *what) {
    if (fuzz_live != 0) {
        fprintf(stderr, "fuzz: %s leaked %zu spk allocation(s)\n", what, fuzz_live);
        abort();
    }
}

/* A per-process scratch file name in the fastest temporary folder available. */
static inline const char *fuzz_path(const char *suffix) {
    static char buf[8][256];
    static int k;
    const char *dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    char *p = buf[k++ & 7];
    snprintf(p, sizeof buf[0], "%s/spk_fuzz_%ld%s", dir, (long)getpid(), suffix);
    return p;
}

/* Write n bytes to path (the harness aborts if it cannot: that is not spk's fault). */
static inline void fuzz_write(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f || (n && fwrite(data, 1, n, f) != n) || fclose(f) != 0) {
        fprintf(stderr, "fuzz: cannot write %s\n", path);
        abort();
    }
}

/* A malloc'd copy of the input whose last 4 bytes are replaced by the CRC-32 of the rest, so
 * that files ending in a checksum (model.spk, .spkq) reach the parser instead of stopping at
 * the checksum test. Free with free(). */
static inline unsigned char *fuzz_copy_with_crc(const uint8_t *data, size_t size) {
    unsigned char *buf = malloc(size ? size : 1);
    if (!buf) abort();
    memcpy(buf, data, size);
    if (size >= 4) {
        uint32_t crc = (uint32_t)crc32_z(crc32_z(0L, Z_NULL, 0), buf, size - 4);
        memcpy(buf + size - 4, &crc, 4);
    }
    return buf;
}

#endif
