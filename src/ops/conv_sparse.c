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
#ifdef __AVX512F__
#include <immintrin.h>
#endif

#define CONV_SPARSE_PAR_MIN 65536
#define MAX_TAPS 64 /* kernel extent per dimension these kernels take (else -1: the GEMM path) */

/* Measured with one thread against im2col + GEMM (5x5 kernels, 64 outputs): [1280, 32, 14,
 * 14] took 150 - 165 ms forward and 150 - 160 ms for dW by GEMM, against a sparse forward
 * of 74 ms at density 0.20 and 100 ms at 0.30 and a sparse dW of 110 ms at 0.13 and 169 ms
 * at 0.20; [3200, 12, 12, 12]: GEMM 93 ms forward and 101 ms dW, sparse forward 78 ms at
 * 0.30, sparse dW 109 ms at 0.20. */
int spk_op_conv_prefer_sparse(size_t nnz, int M, const spk_conv_geom *g, int weight_grad) {
    if (g->groups != 1 || M <= 0 || g->cout < 8 || g->k_h > MAX_TAPS || g->k_w > MAX_TAPS) return 0;
    double density = (double)nnz / ((double)M * g->cin * g->in_h * g->in_w);
    return density < (weight_grad ? 0.15 : 0.30);
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

/* A row of outputs from its [P, C] sums: y [C, P] = acc^T + b. */
static void store_row(float *restrict yr, const float *restrict acc, const float *b, int C, size_t P) {
    for (int c = 0; c < C; c++) {
        const float bc = b ? b[c] : 0.0f;
        for (size_t p = 0; p < P; p++) yr[(size_t)c * P + p] = acc[p * C + c] + bc;
    }
}

/* One row's spikes listed by input pixel: the entries at pixel q are [start[q], start[q+1]),
 * their channels in increasing order (ch) with their values (val). */
typedef struct pixel_lists {
    int32_t *start, *cur, *ch;
    float *val;
} pixel_lists;

static void list_by_pixel(pixel_lists *l, const spk_csr *x, int m, int plane) {
    memset(l->start, 0, ((size_t)plane + 1) * sizeof(int32_t));
    for (int32_t e = x->ptr[m]; e < x->ptr[m + 1]; e++) l->start[x->idx[e] % plane + 1]++;
    for (int q = 0; q < plane; q++) l->start[q + 1] += l->start[q];
    memcpy(l->cur, l->start, (size_t)plane * sizeof(int32_t));
    for (int32_t e = x->ptr[m]; e < x->ptr[m + 1]; e++) { /* entries come in channel order */
        const int32_t i = x->idx[e], k = l->cur[i % plane]++;
        l->ch[k] = i / plane;
        l->val[k] = x->val[e];
    }
}

/* The output pixel (oy, ox), channels [c0, c0 + nc) (nc <= 64, nv = its 16-lane vectors),
 * gathered: over the taps in (ky, kx) order, and within a tap over the spikes at its input
 * pixel in channel order, into sums that stay in registers; written to out[0 .. nc). Even
 * and odd kx add into two sets of sums (one set is a chain of dependent FMAs: one spike per
 * FMA latency), added at the end. */
static inline __attribute__((always_inline)) void gather_pixel(float *restrict out, const pixel_lists *l, const float *Wr,
                                                                const spk_conv_geom *g, int oy, int ox, int c0, int nc,
                                                                int nv) {
    const int C = g->cout, kh = g->k_h, kw = g->k_w;
    const size_t ci_stride = (size_t)kh * kw * C;
#ifdef __AVX512F__
    __m512 a[4], a2[4];
    __mmask16 mk[4];
    for (int j = 0; j < 4; j++) {
        const int r = nc - 16 * j;
        mk[j] = r >= 16 ? (__mmask16)0xFFFF : r > 0 ? (__mmask16)((1u << r) - 1) : 0;
        a[j] = a2[j] = _mm512_setzero_ps();
    }
#define GATHER_TAP(ACC)                                                                                  \
    do {                                                                                                 \
        const int q = iy * g->in_w + ix;                                                                 \
        const float *wt = Wr + ((size_t)ky * kw + kx) * C + c0;                                          \
        for (int32_t e = l->start[q]; e < l->start[q + 1]; e++) {                                        \
            const float *w = wt + (size_t)l->ch[e] * ci_stride;                                          \
            const __m512 v = _mm512_set1_ps(l->val[e]);                                                  \
            for (int j = 0; j < nv; j++) ACC[j] = _mm512_fmadd_ps(v, _mm512_maskz_loadu_ps(mk[j], w + 16 * j), ACC[j]); \
        }                                                                                                \
    } while (0)
#else
    float a[64] = {0}, a2[64] = {0};
    (void)nv;
#define GATHER_TAP(ACC)                                                                                  \
    do {                                                                                                 \
        const int q = iy * g->in_w + ix;                                                                 \
        const float *wt = Wr + ((size_t)ky * kw + kx) * C + c0;                                          \
        for (int32_t e = l->start[q]; e < l->start[q + 1]; e++) {                                        \
            const float *w = wt + (size_t)l->ch[e] * ci_stride, v = l->val[e];                           \
            for (int c = 0; c < nc; c++) ACC[c] += v * w[c];                                             \
        }                                                                                                \
    } while (0)
#endif
    for (int ky = 0; ky < kh; ky++) {
        const int iy = oy * g->stride_h - g->pad_h + ky * g->dil_h;
        if (iy < 0 || iy >= g->in_h) continue;
        for (int kx = 0; kx < kw; kx++) {
            const int ix = ox * g->stride_w - g->pad_w + kx * g->dil_w;
            if (ix < 0 || ix >= g->in_w) continue;
            if (kx & 1) GATHER_TAP(a2);
            else GATHER_TAP(a);
        }
    }
#undef GATHER_TAP
#ifdef __AVX512F__
    for (int j = 0; j < nv; j++) _mm512_mask_storeu_ps(out + 16 * j, mk[j], _mm512_add_ps(a[j], a2[j]));
#else
    for (int c = 0; c < nc; c++) out[c] = a[c] + a2[c];
#endif
}

/* Forward by gathering: each output pixel sums the weights of the spikes in its receptive
 * field in registers. */
static int forward_gather(float *y, const spk_csr *x, const float *Wr, const float *b, const spk_conv_geom *g) {
    const int M = x->M, C = g->cout, ow = g->out_w, plane = g->in_h * g->in_w;
    const size_t P = (size_t)g->out_h * ow, yrow = (size_t)C * P, xrow = (size_t)g->cin * plane;
    const int nth = omp_get_max_threads();
    /* per thread: the [P, C] outputs before their transposition, and the pixel lists */
    const size_t per = P * C + 2 * ((size_t)plane + 1) + 2 * xrow;
    float *ws = spk_malloc((size_t)nth * per * sizeof(float));
    if (!ws) return -1;
#pragma omp parallel for schedule(static) if ((size_t)x->nnz * g->k_h * g->k_w * C + (size_t)M * yrow > CONV_SPARSE_PAR_MIN)
    for (int m = 0; m < M; m++) {
        float *restrict acc = ws + (size_t)omp_get_thread_num() * per;
        int32_t *li = (int32_t *)(acc + P * C);
        pixel_lists l = {li, li + plane + 1, li + 2 * ((size_t)plane + 1), (float *)(li + 2 * ((size_t)plane + 1) + xrow)};
        list_by_pixel(&l, x, m, plane);
        for (int oy = 0; oy < g->out_h; oy++)
            for (int ox = 0; ox < ow; ox++) {
                float *out = acc + ((size_t)oy * ow + ox) * C;
                for (int c0 = 0; c0 < C; c0 += 64) {
                    const int nc = C - c0 < 64 ? C - c0 : 64, nv = (nc + 15) / 16;
                    /* constant vector counts: each call is its own unrolled loop */
                    if (nv == 4) gather_pixel(out + c0, &l, Wr, g, oy, ox, c0, nc, 4);
                    else if (nv == 3) gather_pixel(out + c0, &l, Wr, g, oy, ox, c0, nc, 3);
                    else if (nv == 2) gather_pixel(out + c0, &l, Wr, g, oy, ox, c0, nc, 2);
                    else gather_pixel(out + c0, &l, Wr, g, oy, ox, c0, nc, 1);
                }
            }
        store_row(y + (size_t)m * yrow, acc, b, C, P);
    }
    spk_free(ws);
    return 0;
}

/* Forward by scattering: each spike adds the weights of its taps into an [P, C] accumulator
 * (loaded and stored at every tap; with few spikes per input pixel this does less than
 * visiting every tap of every output pixel). */
static int forward_scatter(float *y, const spk_csr *x, const float *Wr, const float *b, const spk_conv_geom *g) {
    const int M = x->M, C = g->cout, kh = g->k_h, kw = g->k_w, ow = g->out_w;
    const size_t P = (size_t)g->out_h * ow, yrow = (size_t)C * P;
    const int nth = omp_get_max_threads();
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
        store_row(y + (size_t)m * yrow, acc, b, C, P);
    }
    spk_free(acc_all);
    return 0;
}

/* Gather from this many spikes per input pixel on average (over all channels), else scatter.
 * Measured with one thread, [1280, 32, 14, 14] -> 64, 5x5 (spikes per pixel = 32 x density):
 * at density 0.05 / 0.08 / 0.13 / 0.20 the gather took 38 / 46 / 57 / 74 ms and the scatter
 * 33 / 50 / 77 / 112 ms; [3200, 12, 12, 12] -> 64, 5x5 at 0.05 / 0.10 / 0.20 / 0.30: gather
 * 44 / 56 / 67 / 78 ms, scatter 22 / 39 / 69 / 96 ms. */
#define GATHER_MIN_PER_PIXEL 2.5

int spk_op_conv_forward_sparse(float *y, const spk_csr *x, const float *Wr, const float *b, const spk_conv_geom *g) {
    if (g->k_h > MAX_TAPS || g->k_w > MAX_TAPS) return -1;
    const double per_pixel = (double)x->nnz / ((double)x->M * g->in_h * g->in_w);
    return per_pixel >= GATHER_MIN_PER_PIXEL ? forward_gather(y, x, Wr, b, g) : forward_scatter(y, x, Wr, b, g);
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
