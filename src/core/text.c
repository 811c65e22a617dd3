/* text.c — small file and text helpers shared by the loaders and writers: reading a whole
 * file into memory, and a growable text buffer for generated text (YAML, C, reports). */
#define _POSIX_C_SOURCE 200809L /* fileno, fstat */
#include "core/core.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

spk_status spk__read_file(const char *path, unsigned char **data, size_t *size) {
    *data = NULL;
    *size = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return spk__fail(NULL, SPK_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fileno(f), &sb) == 0 && !S_ISREG(sb.st_mode)) {
        fclose(f);
        return spk__fail(NULL, SPK_ERR_IO, "%s: not a regular file%s", path, S_ISDIR(sb.st_mode) ? " (a directory)" : "");
    }
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    if (sz < 0) {
        fclose(f);
        return spk__fail(NULL, SPK_ERR_IO, "%s: cannot read its size", path);
    }
    unsigned char *buf = spk_malloc(sz ? (size_t)sz : 1);
    if (!buf) {
        fclose(f);
        return spk__fail(NULL, SPK_ERR_NOMEM, "%s: no memory for %ld bytes", path, sz);
    }
    size_t got = fread(buf, 1, (size_t)sz, f);
    fclose(f);
    if (got != (size_t)sz) {
        spk_free(buf);
        return spk__fail(NULL, SPK_ERR_IO, "%s: read %zu of %ld bytes", path, got, sz);
    }
    *data = buf;
    *size = (size_t)sz;
    return SPK_OK;
}

void spk__sb_printf(spk__sbuf *b, const char *fmt, ...) {
    if (b->oom) return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->p ? b->p + b->len : NULL, b->p ? b->cap - b->len : 0, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->oom = 1;
            return;
        }
        if (b->p && b->len + (size_t)n < b->cap) {
            b->len += (size_t)n;
            return;
        }
        size_t cap = b->cap ? b->cap : 4096;
        while (cap <= b->len + (size_t)n) cap *= 2;
        char *np = spk_malloc(cap);
        if (!np) {
            b->oom = 1;
            return;
        }
        if (b->p) memcpy(np, b->p, b->len + 1);
        else np[0] = '\0';
        spk_free(b->p);
        b->p = np;
        b->cap = cap;
    }
}
