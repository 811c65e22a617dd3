/* randman.c — random-manifold spike-timing datasets of Zenke & Vogels (2021, Neural
 * Computation 33:899; reference implementation github.com/fzenke/randman).
 *
 * Construction (following the reference): class k owns one random smooth manifold, a map
 * from intrinsic coordinates z in [0, 1)^dim to `units` values. Unit u's value is a product
 * over intrinsic dimensions d of random 1-d functions
 *     f_{u,d}(z) = sum_{i=0}^{F-1} a_i / (i+1)^alpha * sin(2 pi (i z b_i + c_i)),
 * with a_i, b_i, c_i uniform in [0, 1) drawn per (class, unit, dimension), F = `freqs`
 * components, and a_0 = 0 (the i = 0 term is a constant: the reference's default,
 * use_bias False, removes it). alpha sets the spectral decay: larger is smoother. A sample
 * draws z uniformly, evaluates all units, and each unit's values are min-max scaled over the
 * class's samples to [0, 1) as the reference's spiking example does ((v - min) /
 * (max - min + 1e-7)); the scaled value s gives the unit's single spike at step
 * floor(s * steps). Samples of all classes are shuffled together; the last
 * round(test_fraction * n) go to the test set.
 *
 * The output is dense: x [n, steps, units] of 0/1 (has_time = 1, dims [steps, units]), i.e.
 * steps * units floats per sample (40 kB for the defaults; 400 MB for all 10000 default
 * samples). The reference returns (time, unit) event lists; a dense array is what spk's
 * engines consume.
 *
 * Deliberately not here: the reference's regression targets and multiple spikes per unit
 * (nb_spikes > 1), the use_bias option, and numpy/torch random streams (draws come from
 * spk's Philox generator, so datasets are reproducible by seed but differ from the
 * reference's). */
#include "data/data_impl.h"

#include <math.h>
#include <string.h>

#define RM_STREAM_BASE 0x524E0000u /* "RN": +0 function parameters, +1 coordinates, +2 shuffle */
#define RM_EPS 1e-7
#define RM_PREC 1e-3  /* the reference's precision for its frequency cutoff */
#define RM_MAX_FREQS 1000
#define RM_MAX_DIM 64

spk_randman_params spk_randman_default(void) {
    spk_randman_params p;
    memset(&p, 0, sizeof p);
    p.classes = 10;
    p.units = 100;
    p.steps = 100;
    p.samples_per_class = 1000;
    p.dim = 1;
    p.alpha = 2.0f;
    p.freqs = 32; /* the reference's cutoff ceil(prec^(-1/alpha)) with prec 1e-3, alpha 2 */
    p.test_fraction = 0.2f;
    p.seed = 1;
    return p;
}

/* The reference's frequency cutoff for a given alpha: min(ceil(1e-3^(-1/alpha)), 1000). */
static int rm_auto_freqs(double alpha) {
    double f = ceil(pow(RM_PREC, -1.0 / alpha));
    if (!(f >= 1)) f = 1;
    if (f > RM_MAX_FREQS) f = RM_MAX_FREQS;
    return (int)f;
}

spk_status spk_dataset_randman(spk_dataset *train, spk_dataset *test, const spk_randman_params *p) {
    if (!train || !p) return spk__fail(NULL, SPK_ERR_INVALID_ARG, "spk_dataset_randman: train and p must not be NULL");
    memset(train, 0, sizeof *train);
    if (test) memset(test, 0, sizeof *test);
    if (p->classes < 1 || p->units < 1 || p->steps < 1 || p->samples_per_class < 1)
        return spk__fail(NULL, SPK_ERR_INVALID_ARG,
                         "spk_dataset_randman: classes %d, units %d, steps %d, samples_per_class %d must all be >= 1",
                         p->classes, p->units, p->steps, p->samples_per_class);
    if (p->dim < 1 || p->dim > RM_MAX_DIM)
        return spk__fail(NULL, SPK_ERR_INVALID_ARG, "spk_dataset_randman: dim %d is outside 1..%d", p->dim, RM_MAX_DIM);
    if (!(p->alpha > 0) || !isfinite(p->alpha))
        return spk__fail(NULL, SPK_ERR_INVALID_ARG, "spk_dataset_randman: alpha %g must be > 0 and finite",
                         (double)p->alpha);
    if (p->freqs > RM_MAX_FREQS)
        return spk__fail(NULL, SPK_ERR_INVALID_ARG, "spk_dataset_randman: freqs %d is above %d", p->freqs, RM_MAX_FREQS);
    if (!(p->test_fraction >= 0 && p->test_fraction < 1))
        return spk__fail(NULL, SPK_ERR_INVALID_ARG, "spk_dataset_randman: test_fraction %g is outside [0, 1)",
                         (double)p->test_fraction);
    if (p->samples_per_class > INT32_MAX / p->classes)
        return spk__fail(NULL, SPK_ERR_INVALID_ARG, "spk_dataset_randman: %d classes x %d samples is too many",
                         p->classes, p->samples_per_class);
    const int C = p->classes, U = p->units, S = p->samples_per_class, D = p->dim;
    const int F = p->freqs > 0 ? p->freqs : rm_auto_freqs(p->alpha);
    const int n = C * S;
    const int n_test = (int)floor((double)p->test_fraction * n + 0.5);
    const int n_train = n - n_test;
    if (n_train < 1)
        return spk__fail(NULL, SPK_ERR_INVALID_ARG, "spk_dataset_randman: test_fraction %g leaves no training samples",
                         (double)p->test_fraction);
    if (n_test > 0 && !test)
        return spk__fail(NULL, SPK_ERR_INVALID_ARG,
                         "spk_dataset_randman: test is NULL but test_fraction %g asks for %d test samples",
                         (double)p->test_fraction, n_test);

    spk_rng r_par = {p->seed, RM_STREAM_BASE + 0u};
    spk_rng r_crd = {p->seed, RM_STREAM_BASE + 1u};
    spk_rng r_shf = {p->seed, RM_STREAM_BASE + 2u};

    spk_status st = SPK_OK;
    size_t npar = (size_t)U * (size_t)D * (size_t)F;
    double *amp = spk_malloc(npar * sizeof(double));   /* a_i / (i+1)^alpha */
    double *frq = spk_malloc(npar * sizeof(double));   /* 2 pi i b_i        */
    double *phs = spk_malloc(npar * sizeof(double));   /* 2 pi c_i          */
    double *val = spk_malloc((size_t)S * (size_t)U * sizeof(double));
    int32_t *spk_t = spk_malloc((size_t)n * (size_t)U * sizeof(int32_t)); /* spike step per (sample, unit) */
    int32_t *perm = spk_malloc((size_t)n * sizeof(int32_t));
    double *z = spk_malloc((size_t)D * sizeof(double));
    if (!amp || !frq || !phs || !val || !spk_t || !perm || !z) {
        st = spk__fail(NULL, SPK_ERR_NOMEM, "spk_dataset_randman: no memory for %d samples x %d units", n, U);
        goto done;
    }
    const double two_pi = 6.283185307179586476925286766559;

    for (int k = 0; k < C; k++) {
        /* the manifold of class k: three parameters per component from one Philox block */
        for (size_t j = 0; j < npar; j++) {
            int i = (int)(j % (size_t)F);
            float u[4];
            spk_rng_uniform4(r_par, (uint64_t)k, (uint64_t)j, u);
            amp[j] = i == 0 ? 0.0 : (double)u[0] / pow((double)(i + 1), (double)p->alpha);
            frq[j] = two_pi * (double)i * (double)u[1];
            phs[j] = two_pi * (double)u[2];
        }
        /* evaluate the class's samples */
        for (int s = 0; s < S; s++) {
            for (int d = 0; d < D; d++)
                z[d] = spk_rng_uniform(r_crd, (uint64_t)k, (uint64_t)s * (uint64_t)D + (uint64_t)d, 0);
            for (int un = 0; un < U; un++) {
                double prod = 1.0;
                for (int d = 0; d < D; d++) {
                    const size_t base = ((size_t)un * (size_t)D + (size_t)d) * (size_t)F;
                    double acc = 0.0;
                    for (int i = 0; i < F; i++) acc += amp[base + i] * sin(frq[base + i] * z[d] + phs[base + i]);
                    prod *= acc;
                }
                val[(size_t)s * U + un] = prod;
            }
        }
        /* per-unit min-max scaling over the class's samples, then one spike per unit */
        for (int un = 0; un < U; un++) {
            double lo = INFINITY, hi = -INFINITY;
            for (int s = 0; s < S; s++) {
                double v = val[(size_t)s * U + un];
                if (v < lo) lo = v;
                if (v > hi) hi = v;
            }
            for (int s = 0; s < S; s++) {
                double sc = (val[(size_t)s * U + un] - lo) / (hi - lo + RM_EPS);
                int t = (int)floor(sc * p->steps);
                if (t < 0) t = 0;
                if (t >= p->steps) t = p->steps - 1;
                spk_t[((size_t)k * S + s) * U + un] = t;
            }
        }
    }

    /* shuffle all samples together (Fisher-Yates) */
    for (int i = 0; i < n; i++) perm[i] = i;
    for (int i = n - 1; i > 0; i--) {
        int j = (int)spk__rng_below(r_shf, 0, (uint64_t)i, (uint64_t)i + 1);
        int32_t t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }

    int dims[2] = {p->steps, U};
    if ((st = spk__dataset_alloc(train, n_train, 2, dims, 1, C, "spk_dataset_randman"))) goto done;
    if (test && (st = spk__dataset_alloc(test, n_test, 2, dims, 1, C, "spk_dataset_randman"))) {
        spk_dataset_free(train);
        goto done;
    }
    const size_t per = (size_t)p->steps * (size_t)U;
    for (int i = 0; i < n; i++) {
        int src = perm[i];
        spk_dataset *o = i < n_train ? train : test;
        int row = i < n_train ? i : i - n_train;
        float *xs = o->x + (size_t)row * per;
        const int32_t *ts = spk_t + (size_t)src * U;
        for (int un = 0; un < U; un++) xs[(size_t)ts[un] * U + un] = 1.0f;
        o->y[row] = src / S;
    }

done:
    spk_free(amp);
    spk_free(frq);
    spk_free(phs);
    spk_free(val);
    spk_free(spk_t);
    spk_free(perm);
    spk_free(z);
    return st;
}
