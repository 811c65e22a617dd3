/* data_impl.h — helpers shared by the dataset loaders and generators of src/data: filling a
 * spk_dataset's header and allocating its arrays, and a uniform integer draw from the
 * counter-based generator (for shuffles). Internal: not part of the public API, and it
 * holds no format or dataset knowledge of its own. */
#ifndef SPK_DATA_IMPL_H
#define SPK_DATA_IMPL_H

#include "core/core.h"

/* Fill *d's header (n samples of `ndim` dims, has_time, n_classes) and allocate x
 * [n, prod(dims)] and y [n], both zeroed; n may be 0 (x = y = NULL). On failure *d is all
 * zero and the thread's message names `who`. */
spk_status spk__dataset_alloc(spk_dataset *d, int n, int ndim, const int *dims, int has_time, int n_classes,
                              const char *who);

/* An integer uniform in [0, n) for position (step, index) of the generator, from 48 random
 * bits (two words of one Philox block), so shuffles of up to millions of items stay
 * practically unbiased. n >= 1. */
static inline uint64_t spk__rng_below(spk_rng r, uint64_t step, uint64_t index, uint64_t n) {
    float u[4];
    spk_rng_uniform4(r, step, index, u);
    /* each float is (k + 1/2) / 2^24 up to rounding; recover 24 bits from each of two */
    uint64_t hi = (uint64_t)(u[0] * 16777216.0f), lo = (uint64_t)(u[1] * 16777216.0f);
    if (hi > 0xFFFFFFu) hi = 0xFFFFFFu;
    if (lo > 0xFFFFFFu) lo = 0xFFFFFFu;
    double f = (double)((hi << 24) | lo) / 281474976710656.0; /* [0, 1) */
    uint64_t k = (uint64_t)(f * (double)n);
    return k < n ? k : n - 1;
}

#endif
