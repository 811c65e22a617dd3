/* atomic.c — writing a whole file so that readers see either the old file or the complete
 * new one: a temporary file beside the target, flushed and fsync'ed, renamed over it. Used by
 * model files and the CLI's text outputs; the .npy writer streams in chunks and keeps its own
 * loop with the same steps. */
#define _POSIX_C_SOURCE 200809L /* fileno, fsync, clock_gettime: -std=c11 hides POSIX */
#include "core/core.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

spk_status spk__write_atomic(const char *path, const void *data, size_t n) {
    char tmp[SPK_PATH_MAX + 32];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "wb");
    if (!f) return spk__fail(NULL, SPK_ERR_IO, "%s: cannot create: %s", tmp, strerror(errno));
    int ok = fwrite(data, 1, n, f) == n;
    ok = fflush(f) == 0 && ok;
    ok = fsync(fileno(f)) == 0 && ok;
    int err = errno;
    ok = fclose(f) == 0 && ok;
    if (!ok) {
        remove(tmp);
        return spk__fail(NULL, SPK_ERR_IO, "%s: write failed: %s (the previous file is untouched)", path, strerror(err));
    }
    if (rename(tmp, path) != 0) {
        err = errno;
        remove(tmp);
        return spk__fail(NULL, SPK_ERR_IO, "%s: cannot replace: %s", path, strerror(err));
    }
    return SPK_OK;
}
