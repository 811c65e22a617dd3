/* alloc.c — the one replaceable allocator every spk allocation goes through, and arenas:
 * single blocks bump-allocated with 64-byte alignment and freed as a whole. It does not
 * try to be a general-purpose allocator (no per-allocation free inside an arena). */
#define _DEFAULT_SOURCE /* madvise */
#include "core/core.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

static void *default_malloc(void *ud, size_t n) { (void)ud; return malloc(n); }
static void *default_realloc(void *ud, void *p, size_t n) { (void)ud; return realloc(p, n); }
static void default_free(void *ud, void *p) { (void)ud; free(p); }

static spk_allocator current = {default_malloc, default_realloc, default_free, NULL};

void spk_set_allocator(const spk_allocator *a) {
    if (a && a->malloc_fn && a->free_fn) {
        current = *a;
    } else {
        current.malloc_fn = default_malloc;
        current.realloc_fn = default_realloc;
        current.free_fn = default_free;
        current.ud = NULL;
    }
}

void *spk_malloc(size_t size) {
    if (size == 0) return NULL;
    return current.malloc_fn(current.ud, size);
}

void *spk_calloc(size_t n, size_t size) {
    if (n == 0 || size == 0) return NULL;
    if (n > SIZE_MAX / size) return NULL;
    void *p = spk_malloc(n * size);
    if (p) memset(p, 0, n * size);
    return p;
}

void spk_free(void *p) {
    if (p) current.free_fn(current.ud, p);
}

/* Huge pages: a block of 512 KiB or more is taken from the current allocator rounded up to
 * whole 2 MiB pages and 2 MiB more; the pointer handed out is the first 2 MiB boundary inside
 * it (the allocator's own pointer kept just before it), and its pages are offered to the
 * kernel for transparent huge pages (madvise; a hint, ignored where unsupported). A smaller
 * block is only aligned to 64 bytes: a huge page for it would cost more memory than it saves
 * TLB misses. */
#define HUGE_PAGE ((size_t)2 << 20)
#define HUGE_MIN ((size_t)512 << 10)

void *spk__malloc_huge(size_t size) {
    if (size == 0 || size > SIZE_MAX - 3 * HUGE_PAGE) return NULL;
    const int huge = size >= HUGE_MIN;
    const size_t align = huge ? HUGE_PAGE : SPK__ALIGN, whole = huge ? (size + HUGE_PAGE - 1) / HUGE_PAGE * HUGE_PAGE : size;
    unsigned char *raw = spk_malloc(whole + align + sizeof(void *));
    if (!raw) return NULL;
    unsigned char *p = (unsigned char *)spk__align_up((size_t)raw + sizeof(void *), align);
    memcpy(p - sizeof(void *), &raw, sizeof raw);
#ifdef MADV_HUGEPAGE
    if (huge) madvise(p, whole, MADV_HUGEPAGE);
#endif
    return p;
}

void spk__free_huge(void *p) {
    if (!p) return;
    void *raw;
    memcpy(&raw, (unsigned char *)p - sizeof(void *), sizeof raw);
    spk_free(raw);
}

struct spk_arena {
    spk__obj obj;
    unsigned char *raw;   /* as returned by the allocator */
    unsigned char *base;  /* raw rounded up to SPK__ALIGN */
    size_t capacity;
    size_t used;
};

spk_status spk_arena_create(spk_arena **out, size_t capacity) {
    if (!out) return spk__fail(NULL, SPK_ERR_INVALID_ARG, "spk_arena_create: out is NULL");
    *out = NULL;
    spk_arena *a = spk_calloc(1, sizeof *a);
    if (!a) return spk__fail(NULL, SPK_ERR_NOMEM, "spk_arena_create: no memory for the arena header");
    spk__obj_init(&a->obj);
    if (capacity > 0) {
        if (capacity > SIZE_MAX - SPK__ALIGN) {
            spk_free(a);
            return spk__fail(NULL, SPK_ERR_INVALID_ARG, "spk_arena_create: capacity %zu is too large", capacity);
        }
        a->raw = spk_malloc(capacity + SPK__ALIGN);
        if (!a->raw) {
            spk_free(a);
            return spk__fail(NULL, SPK_ERR_NOMEM, "spk_arena_create: cannot allocate %zu bytes", capacity);
        }
        a->base = (unsigned char *)spk__align_up((size_t)a->raw, SPK__ALIGN);
        memset(a->base, 0, capacity);
    }
    a->capacity = capacity;
    *out = a;
    return SPK_OK;
}

void *spk_arena_alloc(spk_arena *a, size_t size) {
    if (!a) return NULL;
    size_t start = spk__align_up(a->used, SPK__ALIGN);
    if (size == 0 || start > a->capacity || size > a->capacity - start) {
        spk__fail(&a->obj, SPK_ERR_NOMEM,
                  "arena full: %zu bytes requested, %zu of %zu bytes used", size, a->used, a->capacity);
        return NULL;
    }
    a->used = start + size;
    return a->base + start;
}

size_t spk_arena_used(const spk_arena *a) { return a ? a->used : 0; }
size_t spk_arena_capacity(const spk_arena *a) { return a ? a->capacity : 0; }
void *spk_arena_data(spk_arena *a) { return a ? a->base : NULL; }

void spk_arena_reset(spk_arena *a) {
    if (!a) return;
    if (a->base) memset(a->base, 0, a->used);
    a->used = 0;
}

void spk_arena_free(spk_arena *a) {
    if (!a) return;
    spk_free(a->raw);
    spk_free(a);
}
