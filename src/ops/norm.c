/* norm.c — batch normalization per channel as threshold-dependent BN (tdBN): statistics
 * over every row (T steps times B samples) and every position of a channel, the normalized
 * value scaled by k = alpha * v_th. Forward and backward for training (batch statistics)
 * and inference (running statistics: an affine map per channel). One plain implementation,
 * parallel over channels; per-channel sums run in double, in row order, so results do not
 * depend on the number of threads. Not here: where the node sits in a graph (net/). */
#include "ops/ops.h"

#include <float.h>
#include <math.h>

void spk_op_norm_forward_train(float *y, float *mean, float *istd, float *rm, float *rv, const float *x, const float *gamma,
                               const float *beta, float k, float eps, float momentum, int M, int C, int S) {
    const double n = (double)M * S;
#pragma omp parallel for schedule(static)
    for (int c = 0; c < C; c++) {
        double sum = 0, sq = 0;
        for (int m = 0; m < M; m++) {
            const float *xc = x + ((size_t)m * C + c) * S;
            for (int s = 0; s < S; s++) sum += xc[s];
        }
        double mu = sum / n;
        for (int m = 0; m < M; m++) {
            const float *xc = x + ((size_t)m * C + c) * S;
            for (int s = 0; s < S; s++) sq += (xc[s] - mu) * (xc[s] - mu);
        }
        double var = sq / n;
        float is = (float)(1.0 / sqrt(var + (double)eps));
        mean[c] = (float)mu;
        istd[c] = is;
        /* a batch whose statistics are not finite (or would overflow a float) leaves the running
         * ones as they were: they stay usable and savable, as the optimizer skips such steps */
        double nrm = (1.0 - momentum) * rm[c] + momentum * mu;
        double nrv = (1.0 - momentum) * rv[c] + momentum * (n > 1 ? var * n / (n - 1) : var);
        if (fabs(nrm) <= FLT_MAX && nrv <= FLT_MAX) { /* false for NaN too */
            rm[c] = (float)nrm;
            rv[c] = (float)nrv;
        }
        float a = gamma[c] * k * is, mf = (float)mu;
        for (int m = 0; m < M; m++) {
            const float *xc = x + ((size_t)m * C + c) * S;
            float *yc = y + ((size_t)m * C + c) * S;
            for (int s = 0; s < S; s++) yc[s] = a * (xc[s] - mf) + beta[c];
        }
    }
}

void spk_op_norm_forward_eval(float *y, const float *x, const float *gamma, const float *beta, const float *rm, const float *rv,
                              float k, float eps, int M, int C, int S) {
#pragma omp parallel for schedule(static)
    for (int c = 0; c < C; c++) {
        float a = gamma[c] * k * (float)(1.0 / sqrt((double)rv[c] + (double)eps));
        for (int m = 0; m < M; m++) {
            const float *xc = x + ((size_t)m * C + c) * S;
            float *yc = y + ((size_t)m * C + c) * S;
            for (int s = 0; s < S; s++) yc[s] = a * (xc[s] - rm[c]) + beta[c];
        }
    }
}

/* With xh = (x - mean) istd and g = dy gamma k:
 *   dbeta = sum dy,  dgamma = k sum dy xh,  dx = istd (g - mean(g) - xh mean(g xh)). */
void spk_op_norm_backward_train(float *dx, float *dgamma, float *dbeta, const float *dy, const float *x, const float *mean,
                                const float *istd, const float *gamma, float k, int M, int C, int S) {
    const double n = (double)M * S;
#pragma omp parallel for schedule(static)
    for (int c = 0; c < C; c++) {
        double sdy = 0, sdyxh = 0;
        const float mu = mean[c], is = istd[c];
        for (int m = 0; m < M; m++) {
            const float *xc = x + ((size_t)m * C + c) * S, *dc = dy + ((size_t)m * C + c) * S;
            for (int s = 0; s < S; s++) {
                sdy += dc[s];
                sdyxh += (double)dc[s] * ((xc[s] - mu) * is);
            }
        }
        if (dbeta) dbeta[c] += (float)sdy;
        if (dgamma) dgamma[c] += (float)(k * sdyxh);
        if (!dx) continue;
        float gk = gamma[c] * k;
        float mg = (float)(gk * sdy / n), mgx = (float)(gk * sdyxh / n);
        for (int m = 0; m < M; m++) {
            const float *xc = x + ((size_t)m * C + c) * S, *dc = dy + ((size_t)m * C + c) * S;
            float *dxc = dx + ((size_t)m * C + c) * S;
            for (int s = 0; s < S; s++) dxc[s] += is * (gk * dc[s] - mg - (xc[s] - mu) * is * mgx);
        }
    }
}

void spk_op_norm_backward_eval(float *dx, float *dgamma, float *dbeta, const float *dy, const float *x, const float *gamma,
                               const float *rm, const float *rv, float k, float eps, int M, int C, int S) {
#pragma omp parallel for schedule(static)
    for (int c = 0; c < C; c++) {
        float is = (float)(1.0 / sqrt((double)rv[c] + (double)eps));
        double sdy = 0, sdyxh = 0;
        for (int m = 0; m < M; m++) {
            const float *xc = x + ((size_t)m * C + c) * S, *dc = dy + ((size_t)m * C + c) * S;
            float *dxc = dx ? dx + ((size_t)m * C + c) * S : NULL;
            for (int s = 0; s < S; s++) {
                sdy += dc[s];
                sdyxh += (double)dc[s] * ((xc[s] - rm[c]) * is);
                if (dxc) dxc[s] += gamma[c] * k * is * dc[s];
            }
        }
        if (dbeta) dbeta[c] += (float)sdy;
        if (dgamma) dgamma[c] += (float)(k * sdyxh);
    }
}
