/* core.h — internal helpers shared by every module: the object header that carries the
 * last-error message, the failure helper, and small utilities. Not part of the public API
 * (public names are in include/spk.h); internal names use the spk__ prefix. */
#ifndef SPK_CORE_H
#define SPK_CORE_H

#include "spk.h"
#include <stdarg.h>

#define SPK__OBJ_MAGIC 0x6f6b7073u /* "spko" */
#define SPK__ERRMSG_LEN 512

/* Every spk object starts with this header, so spk_errmsg(obj) can find its message. */
typedef struct spk__obj {
    uint32_t magic;
    char errmsg[SPK__ERRMSG_LEN];
} spk__obj;

void spk__obj_init(spk__obj *o);
/* Record a formatted message on `o` (or on the calling thread when o is NULL) and return
 * `st`. Always use it as `return spk__fail(...)`. */
spk_status spk__fail(spk__obj *o, spk_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Copy an object's message to the thread's last error (e.g. when a constructor fails after
 * the object existed). */
void spk__set_thread_error(const char *msg);

/* Write n bytes to path atomically (temporary file, flush, fsync, rename); on failure the
 * previous file is untouched and the thread's message says why. */
spk_status spk__write_atomic(const char *path, const void *data, size_t n);

/* Read a whole file into *data (spk_malloc'd, at least 1 byte even for an empty file; the
 * caller frees it) and its size into *size. SPK_ERR_IO / SPK_ERR_NOMEM naming the file. */
spk_status spk__read_file(const char *path, unsigned char **data, size_t *size);

/* A growable NUL-terminated text buffer; start from {0}. When memory runs out `oom` is set,
 * later appends do nothing, and the owner frees p. */
typedef struct spk__sbuf {
    char *p;
    size_t len, cap;
    int oom;
} spk__sbuf;
void spk__sb_printf(spk__sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A block of `size` bytes for arrays read at random rows: from 512 KiB on, starting on a 2 MiB
 * boundary and offered to the kernel for transparent huge pages (a gather over a 700 x 256
 * W^T took 2.0 ms with 4 KiB pages, 1.2 ms with huge ones); smaller, 64-byte aligned.
 * Through the current allocator (rounded up to 2 MiB pages and 2 MiB more). Free with
 * spk__free_huge. NULL on failure. */
void *spk__malloc_huge(size_t size);
void spk__free_huge(void *p);

#define SPK__ALIGN 64
static inline size_t spk__align_up(size_t n, size_t a) { return (n + a - 1) / a * a; }

#endif
