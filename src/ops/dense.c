/* dense.c — the dense (affine / linear) op over M rows: y = x W^T + b, W [out, in] in torch's
 * Linear layout, and its backward. Each product is one GEMM over all M rows (spk__sgemm_det:
 * OpenBLAS on fixed tiles, so results do not depend on the number of threads), accumulating
 * with beta = 1 in backward. The bias column sums run over rows in a fixed order.
 *
 * Deliberately not here: sparse or event-driven propagation (engine/), weight quantization
 * (the fixed-point engine), shape checks (the graph validates shapes once, not every call). */
#include "ops/ops_impl.h"

#include <string.h>

/* y[M,out] = x[M,in] W^T + b */
void spk_op_dense_forward(float *y, const float *x, const float *W, const float *b, int M, int in, int out) {
    if (M <= 0 || out <= 0) return;
    if (in <= 0) { /* an empty product: y is the bias alone */
        for (int m = 0; m < M; m++) {
            if (b) memcpy(y + (size_t)m * out, b, (size_t)out * sizeof(float));
            else memset(y + (size_t)m * out, 0, (size_t)out * sizeof(float));
        }
        return;
    }
    float beta = 0.0f;
    if (b) { /* start every row from the bias and let the GEMM add to it */
#pragma omp parallel for schedule(static) if ((size_t)M * out > 65536)
        for (int m = 0; m < M; m++) memcpy(y + (size_t)m * out, b, (size_t)out * sizeof(float));
        beta = 1.0f;
    }
    spk__sgemm_det(0, 1, M, out, in, 1.0f, x, in, W, in, beta, y, out);
}

/* dx[M,in] += dy[M,out] W[out,in];  dW[out,in] += dy^T x;  db[out] += sum_m dy[m,:] */
void spk_op_dense_backward(float *dx, float *dW, float *db, const float *dy, const float *x, const float *W,
                           int M, int in, int out) {
    if (M <= 0 || out <= 0) return;
    if (dx && in > 0) spk__sgemm_det(0, 0, M, in, out, 1.0f, dy, out, W, in, 1.0f, dx, in);
    if (dW && in > 0) spk__sgemm_det(1, 0, out, in, M, 1.0f, dy, out, x, in, 1.0f, dW, in);
    if (db) {
        /* Columns in blocks, one block per iteration; inside a block the rows are summed in
         * order 0..M-1, so the sum does not depend on how blocks are spread over threads. */
        enum { BLK = 256 };
        int nblk = (out + BLK - 1) / BLK;
#pragma omp parallel for schedule(static) if ((size_t)M * out > 65536)
        for (int k = 0; k < nblk; k++) {
            int j0 = k * BLK, j1 = j0 + BLK < out ? j0 + BLK : out;
            float acc[BLK];
            for (int j = j0; j < j1; j++) acc[j - j0] = 0.0f;
            for (int m = 0; m < M; m++) {
                const float *r = dy + (size_t)m * out;
                for (int j = j0; j < j1; j++) acc[j - j0] += r[j];
            }
            for (int j = j0; j < j1; j++) db[j] += acc[j - j0];
        }
    }
}
