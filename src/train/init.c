/* init.c — torch's default initialisation of weights and biases, made reproducible:
 * U(-bound, bound) with bound = 1/sqrt(fan_in), which is what kaiming_uniform_(a = sqrt(5))
 * gives for weights and what torch uses for biases. Element i of a draw takes lane 0 of the
 * counter-based block (rng, step = draw, index = i), so the values do not depend on the
 * number of threads or on the order of filling. It does not reproduce torch's own random
 * stream (torch's Mersenne/Philox states are not ours), only its distribution. */
#include "core/core.h"

#include <math.h>

float spk_init_bound(int fan_in) {
    /* torch: bound = 1/sqrt(fan_in) if fan_in > 0 else 0 */
    return fan_in > 0 ? (float)(1.0 / sqrt((double)fan_in)) : 0.0f;
}

void spk_init_uniform(float *w, size_t n, float bound, spk_rng rng, uint64_t draw) {
    if (!w) return;
    for (size_t i = 0; i < n; i++) {
        double u = spk_rng_uniform(rng, draw, (uint64_t)i, 0); /* in (0, 1) */
        w[i] = (float)((double)bound * (2.0 * u - 1.0));
    }
}
