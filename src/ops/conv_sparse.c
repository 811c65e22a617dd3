/* conv_sparse.c — convolution on a spiking (mostly zero) input, computed from its nonzero
 * entries only: the same function as the im2col + GEMM path of conv.c up to float
 * reassociation, for groups = 1 (any kernel, stride, padding, dilation).
 *
 * Each input spike at (ci, iy, ix) with value v reaches, through tap (ky, kx), the output
 * pixel (oy, ox) with oy*stride_h = iy + pad_h - ky*dil_h (and likewise for x) when that
 * pixel exists. So:
 *   forward   acc[p, :] += v * Wr[(ci, ky, kx), :]   per row, acc [P, cout] then transposed
 *             into y [cout, P] with the bias added;
 *   dW        dWr[(ci, ky, kx), :] += v * dy^T[p, :]  over every row, then dW += dWr^T;
 * where Wr = W^T is [cin*k_h*k_w, cout] so that the cout values of a tap are contiguous.
 * Sums run over rows in order, spikes in increasing input index, taps in (ky, kx) order:
 * results do not depend on the number of threads (rows are split among threads in the
 * forward; output channels in blocks in dW).
 *
 * The input gradient stays with conv.c (its dy is dense). */
#include "ops/ops_impl.h"

#include <omp.h>
#include <string.h>

#define CONV_SPARSE_PAR_MIN 65536
#define MAX_TAPS 64 /* kernel extent per dimension these kernels take (else -1: the GEMM path) */

int spk_op_conv_prefer_sparse(size_t nnz, int M, const spk_conv_geom *g) {
    if (g->groups != 1 || M <= 0 || g->cout < 8 || g->k_h > MAX_TAPS || g->k_w > MAX_TAPS) return 0;
    double density = (double)nnz / ((double)M * g->cin * g->in_h * g->in_w);
    return density < 0.10;
}

/* For input coordinate i and tap k: the output coordinate, or -1 when there is none. */
static inline int out_coord(int i, int k, int pad, int dil, int stride, int n_out) {
    int o = i + pad - k * dil;
    if (o < 0 || o % stride) return -1;
    o /= stride;
    return o < n_out ? o : -1;
}

/* The taps (kk, in order) through which input coordinate i reaches an output, and those
 * outputs (oo): once per spike and dimension, without divisions for stride and dilation 1.
 * ([1280, 32, 14, 14] -> 64, 5x5, at 8 %, one thread: forward 52.9 -> 49.1 ms, weight
 * gradient 79.7 -> 73.8 ms against the divisions per tap inside the tap loops.) */
static inline int taps(int i, int k, int pad, int dil, int stride, int n_out, int *kk, int *oo) {
    int n = 0;
    if (stride == 1 && dil == 1) {
        const int k0 = i + pad - n_out + 1 > 0 ? i + pad - n_out + 1 : 0, k1 = i + pad + 1 < k ? i + pad + 1 : k;
        for (int q = k0; q < k1; q++, n++) kk[n] = q, oo[n] = i + pad - q;
        return n;
    }
    for (int q = 0; q < k; q++) {
        const int o = out_coord(i, q, pad, dil, stride, n_out);
        if (o >= 0) kk[n] = q, oo[n] = o, n++;
    }
    return n;
}

/* Where input entry i (flat [cin, in_h, in_w]) reaches: its channel, and per dimension the
 * taps and output coordinates (taps), rows ky/oy (ny of them) and columns kx/ox (nx). */
typedef struct reach {
    int ci, ny, nx;
    int ky[MAX_TAPS], oy[MAX_TAPS], kx[MAX_TAPS], ox[MAX_TAPS];
} reach;

static inline void spike_reach(reach *r, int i, const spk_conv_geom *g) {
    const int plane = g->in_h * g->in_w;
    r->ci = i / plane;
    r->ny = taps(i % plane / g->in_w, g->k_h, g->pad_h, g->dil_h, g->stride_h, g->out_h, r->ky, r->oy);
    r->nx = taps(i % g->in_w, g->k_w, g->pad_w, g->dil_w, g->stride_w, g->out_w, r->kx, r->ox);
}

int spk_op_conv_forward_sparse(float *y, const spk_csr *x, const float *Wr, const float *b, const spk_conv_geom *g) {
    const int M = x->M, C = g->cout, kh = g->k_h, kw = g->k_w, ow = g->out_w;
    const size_t P = (size_t)g->out_h * ow, yrow = (size_t)C * P;
    const int nth = omp_get_max_threads();
    if (kh > MAX_TAPS || kw > MAX_TAPS) return -1;
    float *acc_all = spk_malloc((size_t)nth * P * C * sizeof(float));
    if (!acc_all) return -1;
#pragma omp parallel for schedule(static) if ((size_t)x->nnz * kh * kw * C + (size_t)M * yrow > CONV_SPARSE_PAR_MIN)
    for (int m = 0; m < M; m++) {
        float *restrict acc = acc_all + (size_t)omp_get_thread_num() * P * C;
        memset(acc, 0, P * C * sizeof(float));
        for (int32_t e = x->ptr[m]; e < x->ptr[m + 1]; e++) {
            const float v = x->val[e];
            reach r;
            spike_reach(&r, x->idx[e], g);
            for (int a_ = 0; a_ < r.ny; a_++)
                for (int b_ = 0; b_ < r.nx; b_++) {
                    const float *restrict w = Wr + ((size_t)(r.ci * kh + r.ky[a_]) * kw + r.kx[b_]) * C;
                    float *restrict a = acc + ((size_t)r.oy[a_] * ow + r.ox[b_]) * C;
                    for (int c = 0; c < C; c++) a[c] += v * w[c];
                }
        }
        float *yr = y + (size_t)m * yrow;
        for (int c = 0; c < C; c++) {
            const float bc = b ? b[c] : 0.0f;
            for (size_t p = 0; p < P; p++) yr[(size_t)c * P + p] = acc[p * C + c] + bc;
        }
    }
    spk_free(acc_all);
    return 0;
}

int spk_op_conv_dw_sparse(float *dW, const float *dy, const spk_csr *x, const spk_conv_geom *g) {
    const int M = x->M, C = g->cout, kh = g->k_h, kw = g->k_w, ow = g->out_w;
    const size_t P = (size_t)g->out_h * ow, yrow = (size_t)C * P, CK = (size_t)g->cin * kh * kw;
    enum { CB = 32 }; /* output channels per block: each block is one thread's own slice */
    const int ncb = (C + CB - 1) / CB;
    if (kh > MAX_TAPS || kw > MAX_TAPS) return -1;
    /* block cb accumulates into its own contiguous [CK, nc] region of dWr (blocks side by
     * side within one row would share cache lines between threads) */
    float *dWr = spk_malloc(CK * C * sizeof(float));
    float *dyt_all = spk_malloc((size_t)ncb * P * CB * sizeof(float));
    if (!dWr || !dyt_all) {
        spk_free(dWr);
        spk_free(dyt_all);
        return -1;
    }
#pragma omp parallel for schedule(static) if ((size_t)x->nnz * kh * kw * C > CONV_SPARSE_PAR_MIN)
    for (int cb = 0; cb < ncb; cb++) {
        const int c0 = cb * CB, nc = C - c0 < CB ? C - c0 : CB;
        float *restrict dyt = dyt_all + (size_t)cb * P * CB;
        float *blk = dWr + CK * c0; /* [CK, nc] */
        memset(blk, 0, CK * nc * sizeof(float));
        for (int m = 0; m < M; m++) {
            if (x->ptr[m] == x->ptr[m + 1]) continue;
            const float *dr = dy + (size_t)m * yrow;
            for (int c = 0; c < nc; c++)
                for (size_t p = 0; p < P; p++) dyt[p * CB + c] = dr[(size_t)(c0 + c) * P + p];
            for (int32_t e = x->ptr[m]; e < x->ptr[m + 1]; e++) {
                const float v = x->val[e];
                reach r;
                spike_reach(&r, x->idx[e], g);
                for (int a_ = 0; a_ < r.ny; a_++)
                    for (int b_ = 0; b_ < r.nx; b_++) {
                        float *restrict a = blk + ((size_t)(r.ci * kh + r.ky[a_]) * kw + r.kx[b_]) * nc;
                        const float *restrict d = dyt + ((size_t)r.oy[a_] * ow + r.ox[b_]) * CB;
                        for (int c = 0; c < nc; c++) a[c] += v * d[c];
                    }
            }
        }
        /* dW[c, k] += blk[k, c - c0] for this block's channels */
        for (int c = 0; c < nc; c++)
            for (size_t k = 0; k < CK; k++) dW[(size_t)(c0 + c) * CK + k] += blk[k * nc + c];
    }
    spk_free(dWr);
    spk_free(dyt_all);
    return 0;
}
