/* elementwise.c — the per-feature ops: scale (NIR Scale, y = x * s) and its optional bias,
 * dropout with one mask per sample held over all T steps, and the integer axonal delay (over
 * a whole sequence, backward, and one step at a time for recurrent loops).
 *
 * Dropout masks come from the counter-based generator at (step = draw, index = b*F + f,
 * lane 0), so a mask depends on (seed, stream, draw) only, never on threads. Reductions
 * (the scale gradient ds) sum rows in a fixed order.
 *
 * Deliberately not here: per-step (non-held) dropout, learnable or fractional delays, the
 * delay ring buffers of the event engine (engine/), and argument checks: the graph checks
 * p in [0, 1) and d >= 0 when it is built (a p >= 1 gives an all-zero mask and a negative
 * delay gives zeros, rather than dividing by zero or reading outside the sequence). */
#include "ops/ops.h"

#include <string.h>

#define EW_PAR_MIN 65536

/* ---- scale ----------------------------------------------------------------------------- */

void spk_op_scale_forward(float *y, const float *x, const float *s, int M, int F) {
#pragma omp parallel for schedule(static) if ((size_t)M * F > EW_PAR_MIN)
    for (int m = 0; m < M; m++) {
        const float *xr = x + (size_t)m * F;
        float *yr = y + (size_t)m * F;
        for (int f = 0; f < F; f++) yr[f] = xr[f] * s[f];
    }
}

/* dx[M,F] += dy * s;  ds[F] += sum over rows of dy * x */
void spk_op_scale_backward(float *dx, float *ds, const float *dy, const float *x, const float *s, int M, int F) {
    if (M <= 0 || F <= 0) return;
    if (dx) {
#pragma omp parallel for schedule(static) if ((size_t)M * F > EW_PAR_MIN)
        for (int m = 0; m < M; m++) {
            const float *dr = dy + (size_t)m * F;
            float *xr = dx + (size_t)m * F;
            for (int f = 0; f < F; f++) xr[f] += dr[f] * s[f];
        }
    }
    if (ds) {
        /* feature blocks in parallel; inside a block the rows go 0..M-1 */
        enum { BLK = 256 };
        int nblk = (F + BLK - 1) / BLK;
#pragma omp parallel for schedule(static) if ((size_t)M * F > EW_PAR_MIN)
        for (int k = 0; k < nblk; k++) {
            int f0 = k * BLK, f1 = f0 + BLK < F ? f0 + BLK : F;
            double acc[BLK];
            for (int f = f0; f < f1; f++) acc[f - f0] = 0.0;
            for (int m = 0; m < M; m++) {
                const float *dr = dy + (size_t)m * F, *xr = x + (size_t)m * F;
                for (int f = f0; f < f1; f++) acc[f - f0] += (double)(dr[f] * xr[f]);
            }
            for (int f = f0; f < f1; f++) ds[f] += (float)acc[f - f0];
        }
    }
}

void spk_op_bias_forward(float *y, const float *b, int M, int F) {
#pragma omp parallel for schedule(static) if ((size_t)M * F > EW_PAR_MIN)
    for (int m = 0; m < M; m++) {
        float *yr = y + (size_t)m * F;
        for (int f = 0; f < F; f++) yr[f] += b[f];
    }
}

void spk_op_bias_backward(float *db, const float *dy, int M, int F) {
#pragma omp parallel for schedule(static) if ((size_t)M * F > EW_PAR_MIN)
    for (int f = 0; f < F; f++) {
        double acc = 0.0;
        for (int m = 0; m < M; m++) acc += (double)dy[(size_t)m * F + f];
        db[f] += (float)acc;
    }
}

/* ---- dropout --------------------------------------------------------------------------- */

void spk_op_dropout_mask(float *mask, float p, spk_rng rng, uint64_t draw, int B, int F) {
    const int64_t n = (int64_t)B * F;
    if (n <= 0) return;
    if (!(p < 1.0f)) { /* p >= 1 (or NaN): everything dropped */
        memset(mask, 0, (size_t)n * sizeof(float));
        return;
    }
    const float keep = 1.0f - p, scale = 1.0f / keep;
    /* element i draws uniform (draw, i): runs of 1024 at a time, thresholded in place (one
     * generator call per element had been 18 % of the MLP example's training time) */
    enum { RUN = 1024 };
    const int64_t nrun = (n + RUN - 1) / RUN;
#pragma omp parallel for schedule(static) if (n > 4096)
    for (int64_t c = 0; c < nrun; c++) {
        const int64_t i0 = c * RUN, len = n - i0 < RUN ? n - i0 : RUN;
        float *mr = mask + i0;
        spk_rng_uniform_run(rng, draw, (uint64_t)i0, (size_t)len, 0, mr);
        for (int64_t i = 0; i < len; i++) mr[i] = mr[i] < keep ? scale : 0.0f;
    }
}

void spk_op_dropout_forward(float *y, const float *mask, const float *x, int T, int B, int F) {
    const int64_t rows = (int64_t)T * B;
#pragma omp parallel for schedule(static) if ((size_t)rows * F > EW_PAR_MIN)
    for (int64_t m = 0; m < rows; m++) {
        const float *mr = mask + (size_t)(m % B) * F, *xr = x + (size_t)m * F;
        float *yr = y + (size_t)m * F;
        for (int f = 0; f < F; f++) yr[f] = xr[f] * mr[f];
    }
}

void spk_op_dropout_backward(float *dx, const float *dy, const float *mask, int T, int B, int F) {
    if (!dx) return;
    const int64_t rows = (int64_t)T * B;
#pragma omp parallel for schedule(static) if ((size_t)rows * F > EW_PAR_MIN)
    for (int64_t m = 0; m < rows; m++) {
        const float *mr = mask + (size_t)(m % B) * F, *dr = dy + (size_t)m * F;
        float *xr = dx + (size_t)m * F;
        for (int f = 0; f < F; f++) xr[f] += dr[f] * mr[f];
    }
}

/* ---- delay ----------------------------------------------------------------------------- */

/* y[t,b,f] = x[t - d[f], b, f], 0 for t < d[f] (and everywhere for a negative d[f]) */
void spk_op_delay_forward(float *y, const float *x, const int32_t *d, int T, int B, int F) {
    const size_t BF = (size_t)B * F;
    const int64_t rows = (int64_t)T * B;
#pragma omp parallel for schedule(static) if ((size_t)rows * F > EW_PAR_MIN)
    for (int64_t m = 0; m < rows; m++) {
        const int t = (int)(m / B), b = (int)(m % B);
        float *yr = y + (size_t)m * F;
        for (int f = 0; f < F; f++) {
            const int64_t s = (int64_t)t - d[f];
            yr[f] = s >= 0 && d[f] >= 0 ? x[(size_t)s * BF + (size_t)b * F + f] : 0.0f;
        }
    }
}

/* dx[s,b,f] += dy[s + d[f], b, f] for s + d[f] < T (nothing for a negative d[f]). Each dx
 * element receives
 * at most one term, so the row loop is free of races. */
void spk_op_delay_backward(float *dx, const float *dy, const int32_t *d, int T, int B, int F) {
    if (!dx) return;
    const size_t BF = (size_t)B * F;
    const int64_t rows = (int64_t)T * B;
#pragma omp parallel for schedule(static) if ((size_t)rows * F > EW_PAR_MIN)
    for (int64_t m = 0; m < rows; m++) {
        const int s = (int)(m / B), b = (int)(m % B);
        float *xr = dx + (size_t)m * F;
        for (int f = 0; f < F; f++) {
            const int64_t t = (int64_t)s + d[f];
            if (d[f] >= 0 && t < T) xr[f] += dy[(size_t)t * BF + (size_t)b * F + f];
        }
    }
}

/* y_t[b,f] = x[t - d[f], b, f] (0 for t < d[f]); reads steps t - d[f] <= t of x, so with a
 * zero delay step t of x must already be stored. Negative delays read zeros. */
void spk_op_delay_step(float *y_t, const float *x, const int32_t *d, int t, int B, int F) {
    const size_t BF = (size_t)B * F;
    for (int b = 0; b < B; b++) {
        float *yr = y_t + (size_t)b * F;
        for (int f = 0; f < F; f++) {
            const int64_t s = (int64_t)t - d[f];
            yr[f] = s >= 0 && d[f] >= 0 ? x[(size_t)s * BF + (size_t)b * F + f] : 0.0f;
        }
    }
}
