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

/* An integer uniform in [0, n) for position (step, index) of the generator, from 53 random
 * bits (two words of one Philox block), so shuffles of up to millions of items stay
 * practically unbiased. n >= 1. */
static inline uint64_t spk__rng_below(spk_rng r, uint64_t step, uint64_t index, uint64_t n) {
    uint32_t w[4];
    spk_rng_bits4(r, step, index, w);
    uint64_t v = ((uint64_t)w[0] << 32 | w[1]) >> 11;
    uint64_t k = (uint64_t)((double)v * (1.0 / 9007199254740992.0) * (double)n);
    return k < n ? k : n - 1;
}

#endif
