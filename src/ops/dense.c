/* dense.c — the dense (affine / linear) op over M rows: y = x W^T + b, W [out, in] in torch's
 * Linear layout, and its backward. Each product is one GEMM over all M rows (spk__sgemm_det:
 * OpenBLAS on fixed tiles, so results do not depend on the number of threads), accumulating
 * with beta = 1 in backward. The bias column sums run over rows in a fixed order.
 *
 * Spiking inputs are mostly zeros: the sparse path gathers the weight rows of the nonzero
 * inputs (forward) and builds the weight gradient from them alone (backward); exec.c picks it
 * per call from the measured density (spk_op_dense_prefer_sparse).
 *
 * Deliberately not here: event-driven propagation one sample at a time (engine/), weight quantization
 * (the fixed-point engine), shape checks (the graph validates shapes once, not every call). */
#include "ops/ops_impl.h"

#include <omp.h>
#include <string.h>
#ifdef __AVX512F__
#include <immintrin.h>
#endif

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

#ifdef __AVX512F__
/* Layers with at most NARROW outputs: a row of them fits one 16-lane register, and the
 * kernels below beat the GEMM (whose packing dominates at K or N = 10) and the general
 * sparse loops (measured on [3200, 1000] -> 10 at density 0.2, one thread: forward 0.2 ms
 * against 1.3 ms (GEMM) and 1.9 ms (general gather); input gradient 0.9 against 1.1-2.0). */
#define NARROW 16

/* The lanes of a 16-float vector that hold the n (> 0) values left: all of them from 16 on. */
static inline __mmask16 lanes(int n) { return n >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << n) - 1); }

static void dx_rows_wide(float *dx, size_t dxs, const spk_dx_src *src, int ns, int R, int in, int acc);

/* dx[m, :] += sum_k dy[m, k] W[k, :] for out <= NARROW: per row, 16 inputs at a time, the
 * outputs k in order (each dx element: dx + dy0 W0 + dy1 W1 + ...). */
static inline void dx_narrow_row(float *restrict xr, const float *restrict d, const float *restrict W, int in, int out,
                                 int acc) {
    __m512 dk[NARROW];
    for (int k = 0; k < out; k++) dk[k] = _mm512_set1_ps(d[k]);
    int i = 0;
    /* four independent chains of FMAs (one chain of `out` dependent FMAs per 16 inputs
     * waits on the FMA latency) */
    for (; i + 64 <= in; i += 64) {
        __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        if (acc) {
            a0 = _mm512_loadu_ps(xr + i), a1 = _mm512_loadu_ps(xr + i + 16);
            a2 = _mm512_loadu_ps(xr + i + 32), a3 = _mm512_loadu_ps(xr + i + 48);
        }
        for (int k = 0; k < out; k++) {
            const float *w = W + (size_t)k * in + i;
            a0 = _mm512_fmadd_ps(dk[k], _mm512_loadu_ps(w), a0);
            a1 = _mm512_fmadd_ps(dk[k], _mm512_loadu_ps(w + 16), a1);
            a2 = _mm512_fmadd_ps(dk[k], _mm512_loadu_ps(w + 32), a2);
            a3 = _mm512_fmadd_ps(dk[k], _mm512_loadu_ps(w + 48), a3);
        }
        _mm512_storeu_ps(xr + i, a0);
        _mm512_storeu_ps(xr + i + 16, a1);
        _mm512_storeu_ps(xr + i + 32, a2);
        _mm512_storeu_ps(xr + i + 48, a3);
    }
    for (; i < in; i += 16) {
        const __mmask16 mk = lanes(in - i);
        __m512 a = acc ? _mm512_maskz_loadu_ps(mk, xr + i) : _mm512_setzero_ps();
        for (int k = 0; k < out; k++) a = _mm512_fmadd_ps(dk[k], _mm512_maskz_loadu_ps(mk, W + (size_t)k * in + i), a);
        _mm512_mask_storeu_ps(xr + i, mk, a);
    }
}

static void dense_dx_narrow(float *dx, const float *dy, const float *W, int M, int in, int out, int acc) {
#pragma omp parallel for schedule(static) if ((size_t)M * in > 65536)
    for (int m = 0; m < M; m++) dx_narrow_row(dx + (size_t)m * in, dy + (size_t)m * out, W, in, out, acc);
}
#endif

void spk_op_dense_dx_set(float *dx, const float *dy, const float *W, int M, int in, int out) {
    if (M <= 0 || in <= 0) return;
#ifdef __AVX512F__
    if (out >= 1 && out <= NARROW) {
        dense_dx_narrow(dx, dy, W, M, in, out, 0);
        return;
    }
#endif
    if (out <= 0) memset(dx, 0, (size_t)M * in * sizeof(float));
    else spk__sgemm_det(0, 0, M, in, out, 1.0f, dy, out, W, in, 0.0f, dx, in);
}

void spk_op_dense_dx_row(float *dx, const float *dy, const float *W, int in, int out, int acc) {
    /* (it runs inside parallel loops: a plain loop, not the GEMM path, which sets the BLAS
     * thread count process-wide) */
#ifdef __AVX512F__
    if (out >= 1 && out <= NARROW) {
        dx_narrow_row(dx, dy, W, in, out, acc);
        return;
    }
    if (out > NARROW && in > 0) {
        const spk_dx_src one = {dy, 0, W, out};
        dx_rows_wide(dx, 0, &one, 1, 1, in, acc);
        return;
    }
#endif
    for (int i = 0; i < in; i++) {
        float a = acc ? dx[i] : 0.0f;
        for (int k = 0; k < out; k++) a += dy[k] * W[(size_t)k * in + i];
        dx[i] = a;
    }
}

#ifdef __AVX512F__
/* Rows r (and, with two, r + 1) of y = b + W x for a constant out <= NARROW (each call site
 * its own unrolled loop): the out dot products in registers over 16 inputs at a time, reduced
 * at the end; with two, each weight vector is loaded once for both rows. The same floats per
 * row either way. */
static inline __attribute__((always_inline)) void fwd_rows1or2_narrow(float *restrict y0, float *restrict y1,
                                                                       const float *restrict x0, const float *restrict x1,
                                                                       const float *restrict W, const float *restrict b,
                                                                       int in, const int out, const int two) {
    __m512 a0[NARROW], a1[NARROW];
    for (int k = 0; k < out; k++) a0[k] = a1[k] = _mm512_setzero_ps();
    for (int i = 0; i < in; i += 16) {
        const __mmask16 mk = lanes(in - i);
        const __m512 u = _mm512_maskz_loadu_ps(mk, x0 + i), v = two ? _mm512_maskz_loadu_ps(mk, x1 + i) : u;
        for (int k = 0; k < out; k++) {
            const __m512 w = _mm512_maskz_loadu_ps(mk, W + (size_t)k * in + i);
            a0[k] = _mm512_fmadd_ps(w, u, a0[k]);
            if (two) a1[k] = _mm512_fmadd_ps(w, v, a1[k]);
        }
    }
    for (int k = 0; k < out; k++) {
        y0[k] = (b ? b[k] : 0.0f) + _mm512_reduce_add_ps(a0[k]);
        if (two) y1[k] = (b ? b[k] : 0.0f) + _mm512_reduce_add_ps(a1[k]);
    }
}

/* y[r] = b + W x[r] over R rows for a constant out <= NARROW: two rows at a time while their
 * sums fit the registers. */
static inline __attribute__((always_inline)) void fwd_rows_narrow(float *y, size_t ys, const float *x, size_t xs,
                                                                   const float *W, const float *b, int R, int in,
                                                                   const int out) {
    int r = 0;
    if (out <= 12)
        for (; r + 2 <= R; r += 2)
            fwd_rows1or2_narrow(y + (size_t)r * ys, y + (size_t)(r + 1) * ys, x + (size_t)r * xs, x + (size_t)(r + 1) * xs, W,
                                b, in, out, 1);
    for (; r < R; r++) fwd_rows1or2_narrow(y + (size_t)r * ys, NULL, x + (size_t)r * xs, NULL, W, b, in, out, 0);
}

/* dW[out, in] += sum over rows r of dy[r]^T x[r] for a constant out <= NARROW: per 16 inputs,
 * the out rows of dW in registers over all R rows, the rows in order. */
static inline __attribute__((always_inline)) void dw_rows_narrow(float *restrict dW, const float *restrict dy,
                                                                  size_t dys, const float *restrict x, size_t xs,
                                                                  int R, int in, const int out) {
    for (int i = 0; i < in; i += 16) {
        const __mmask16 mk = lanes(in - i);
        __m512 acc[NARROW];
        for (int k = 0; k < out; k++) acc[k] = _mm512_maskz_loadu_ps(mk, dW + (size_t)k * in + i);
        for (int r = 0; r < R; r++) {
            const __m512 xv = _mm512_maskz_loadu_ps(mk, x + (size_t)r * xs + i);
            const float *d = dy + (size_t)r * dys;
            for (int k = 0; k < out; k++) acc[k] = _mm512_fmadd_ps(_mm512_set1_ps(d[k]), xv, acc[k]);
        }
        for (int k = 0; k < out; k++) _mm512_mask_storeu_ps(dW + (size_t)k * in + i, mk, acc[k]);
    }
}

/* dx[r] = (acc ? dx[r] : 0) + dy[r] W for R rows and a constant out <= NARROW: per 16 inputs,
 * the out rows of W in registers over all R rows; per element the float operations of
 * dx_narrow_row (the outputs added in order). */
static inline __attribute__((always_inline)) void dx_rows_narrow(float *restrict dx, size_t dxs, const float *restrict dy,
                                                                  size_t dys, const float *restrict W, int R, int in,
                                                                  const int out, int acc) {
    for (int i = 0; i < in; i += 16) {
        const __mmask16 mk = lanes(in - i);
        __m512 w[NARROW];
        for (int k = 0; k < out; k++) w[k] = _mm512_maskz_loadu_ps(mk, W + (size_t)k * in + i);
        for (int r = 0; r < R; r++) {
            float *xr = dx + (size_t)r * dxs + i;
            const float *d = dy + (size_t)r * dys;
            __m512 a = acc ? _mm512_maskz_loadu_ps(mk, xr) : _mm512_setzero_ps();
            for (int k = 0; k < out; k++) a = _mm512_fmadd_ps(_mm512_set1_ps(d[k]), w[k], a);
            _mm512_mask_storeu_ps(xr, mk, a);
        }
    }
}

/* The lanes of a 16-float vector that hold the n values left (none for n <= 0). */
static inline __mmask16 lanes0(int n) { return n <= 0 ? (__mmask16)0 : lanes(n); }

/* dx[r] = (acc ? dx[r] : 0) + dy[r] W, summed over the ns sources in order, for RB (a
 * constant, at most 8) rows over the 32 columns from i (m: the lanes of each 16 that are in
 * range): the RB x 32 sums in 16 registers over every source's outputs in order, one FMA per
 * output; per element the same operations whatever the rows or columns around it, and as one
 * call per source (each adding to the last). (Tiles of 8 x 32 ran 32 x 256 x 256 at 250
 * GFLOP/s on one thread, 6 x 64 at 205, 12 x 32 and 4 x 64 at 110.) */
static inline __attribute__((always_inline)) void dx_wide_tile(float *restrict dx, size_t dxs, const spk_dx_src *src, int ns,
                                                                size_t r0, int in, int i, const __mmask16 *m, const int RB,
                                                                const int acc) {
    __m512 a[8][2];
    for (int r = 0; r < RB; r++)
        for (int q = 0; q < 2; q++) a[r][q] = acc ? _mm512_maskz_loadu_ps(m[q], dx + (size_t)r * dxs + i + 16 * q) : _mm512_setzero_ps();
    for (int s = 0; s < ns; s++) {
        const float *restrict dy = src[s].dy + r0 * src[s].dy_stride, *restrict W = src[s].W;
        const size_t dys = src[s].dy_stride;
        for (int k = 0; k < src[s].out; k++) {
            const float *w = W + (size_t)k * in + i;
            const __m512 w0 = _mm512_maskz_loadu_ps(m[0], w), w1 = _mm512_maskz_loadu_ps(m[1], w + 16);
            for (int r = 0; r < RB; r++) {
                const __m512 d = _mm512_set1_ps(dy[(size_t)r * dys + k]);
                a[r][0] = _mm512_fmadd_ps(d, w0, a[r][0]);
                a[r][1] = _mm512_fmadd_ps(d, w1, a[r][1]);
            }
        }
    }
    for (int r = 0; r < RB; r++)
        for (int q = 0; q < 2; q++) _mm512_mask_storeu_ps(dx + (size_t)r * dxs + i + 16 * q, m[q], a[r][q]);
}

/* dx[r] = (acc ? dx[r] : 0) + the sources' dy[r] W over R rows: tiles of 8 rows x 32 columns
 * (dx_wide_tile). A row's floats do not depend on R. */
static void dx_rows_wide(float *dx, size_t dxs, const spk_dx_src *src, int ns, int R, int in, int acc) {
    for (int i = 0; i < in; i += 32) {
        const __mmask16 m[2] = {lanes0(in - i), lanes0(in - i - 16)};
        int r = 0;
#define DX_TILE(RB) acc ? dx_wide_tile(dx + (size_t)r * dxs, dxs, src, ns, (size_t)r, in, i, m, RB, 1) \
                        : dx_wide_tile(dx + (size_t)r * dxs, dxs, src, ns, (size_t)r, in, i, m, RB, 0)
        for (; r + 8 <= R; r += 8) DX_TILE(8);
        switch (R - r) {
        case 7: DX_TILE(7); break;
        case 6: DX_TILE(6); break;
        case 5: DX_TILE(5); break;
        case 4: DX_TILE(4); break;
        case 3: DX_TILE(3); break;
        case 2: DX_TILE(2); break;
        case 1: DX_TILE(1); break;
        default: break;
        }
#undef DX_TILE
    }
}

/* a switch over the constant out of a narrow kernel call */
#define NARROW_CASES(CALL)                                                                                  \
    switch (out) {                                                                                          \
    case 1: CALL(1); break; case 2: CALL(2); break; case 3: CALL(3); break; case 4: CALL(4); break;         \
    case 5: CALL(5); break; case 6: CALL(6); break; case 7: CALL(7); break; case 8: CALL(8); break;         \
    case 9: CALL(9); break; case 10: CALL(10); break; case 11: CALL(11); break; case 12: CALL(12); break;   \
    case 13: CALL(13); break; case 14: CALL(14); break; case 15: CALL(15); break; default: CALL(16); break;  \
    }
#endif

void spk_op_dense_forward_rows(float *y, size_t y_stride, const float *x, size_t x_stride, const float *W, const float *b,
                               int R, int in, int out) {
    if (R <= 0 || out <= 0) return;
#ifdef __AVX512F__
    if (out <= NARROW && in > 0) {
#define FWD_ROWS(K) fwd_rows_narrow(y, y_stride, x, x_stride, W, b, R, in, K)
        NARROW_CASES(FWD_ROWS)
#undef FWD_ROWS
        return;
    }
#endif
    for (int r = 0; r < R; r++)
        for (int k = 0; k < out; k++) {
            const float *w = W + (size_t)k * in, *xr = x + (size_t)r * x_stride;
            float a = 0.0f;
            for (int i = 0; i < in; i++) a += w[i] * xr[i];
            y[(size_t)r * y_stride + k] = (b ? b[k] : 0.0f) + a;
        }
}

void spk_op_dense_dx_rows(float *dx, size_t dx_stride, const float *dy, size_t dy_stride, const float *W, int R, int in,
                          int out, int acc) {
    if (R <= 0 || in <= 0) return;
#ifdef __AVX512F__
    if (out >= 1 && out <= NARROW) {
#define DX_ROWS(K) dx_rows_narrow(dx, dx_stride, dy, dy_stride, W, R, in, K, acc)
        NARROW_CASES(DX_ROWS)
#undef DX_ROWS
        return;
    }
    if (out > NARROW) {
        const spk_dx_src one = {dy, dy_stride, W, out};
        dx_rows_wide(dx, dx_stride, &one, 1, R, in, acc);
        return;
    }
#endif
    for (int r = 0; r < R; r++) spk_op_dense_dx_row(dx + (size_t)r * dx_stride, dy + (size_t)r * dy_stride, W, in, out, acc);
}

void spk_op_dense_dx_rows_multi(float *dx, size_t dx_stride, const spk_dx_src *src, int nsrc, int R, int in, int acc) {
    if (R <= 0 || in <= 0) return;
#ifdef __AVX512F__
    dx_rows_wide(dx, dx_stride, src, nsrc, R, in, acc);
#else
    for (int q = 0; q < nsrc; q++, acc = 1)
        spk_op_dense_dx_rows(dx, dx_stride, src[q].dy, src[q].dy_stride, src[q].W, R, in, src[q].out, acc);
#endif
}

void spk_op_dense_dw_rows(float *dW, const float *dy, size_t dy_stride, const float *x, size_t x_stride, int R, int in,
                          int out) {
    if (R <= 0 || in <= 0) return;
#ifdef __AVX512F__
    if (out >= 1 && out <= NARROW) {
#define DW_ROWS(K) dw_rows_narrow(dW, dy, dy_stride, x, x_stride, R, in, K)
        NARROW_CASES(DW_ROWS)
#undef DW_ROWS
        return;
    }
#endif
    for (int k = 0; k < out; k++) {
        float *w = dW + (size_t)k * in;
        for (int r = 0; r < R; r++) {
            const float d = dy[(size_t)r * dy_stride + k], *xr = x + (size_t)r * x_stride;
            for (int i = 0; i < in; i++) w[i] += d * xr[i];
        }
    }
}

int spk_op_dense_narrow(int out) {
#ifdef __AVX512F__
    return out >= 1 && out <= NARROW;
#else
    (void)out;
    return 0;
#endif
}

/* dx[M,in] += dy[M,out] W[out,in];  dW[out,in] += dy^T x;  db[out] += sum_m dy[m,:] */
void spk_op_dense_backward(float *dx, float *dW, float *db, const float *dy, const float *x, const float *W,
                           int M, int in, int out) {
    if (M <= 0 || out <= 0) return;
#ifdef __AVX512F__
    if (dx && in > 0 && out <= NARROW) dense_dx_narrow(dx, dy, W, M, in, out, 1);
    else
#endif
    if (dx && in > 0) spk__sgemm_det(0, 0, M, in, out, 1.0f, dy, out, W, in, 1.0f, dx, in);
    if (dW && in > 0) spk__sgemm_det(1, 0, out, in, M, 1.0f, dy, out, x, in, 1.0f, dW, in);
    if (db) {
        /* Columns in blocks, one block per iteration; inside a block the rows are summed in
         * order 0..M-1, so a column's sum does not depend on the blocks or how they are spread
         * over threads. Blocks of 256 columns, narrower (down to 16) while there are fewer
         * blocks than threads: a 256-wide layer's sum over 6400 rows had run on one thread. */
        enum { BLK = 256 };
        const int nth = omp_get_max_threads();
        int w = BLK;
        while (w > 16 && (out + w - 1) / w < nth) w /= 2;
        int nblk = (out + w - 1) / w;
#pragma omp parallel for schedule(static) if ((size_t)M * out > 65536)
        for (int k = 0; k < nblk; k++) {
            int j0 = k * w, j1 = j0 + w < out ? j0 + w : out;
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

/* ---------------------------------------------------------------- sparse inputs ------- */

/* Work below this many floats runs in a single thread (OpenMP start-up would dominate). */
#define SPARSE_PAR_MIN 65536

/* Room in c->ptr for M rows; 0, or -1 without memory. */
static int csr_ptr_room(spk_csr *c, int M, int cols) {
    if ((size_t)M + 1 > c->ptr_cap) {
        int32_t *p = spk_malloc(((size_t)M + 1) * sizeof(int32_t));
        if (!p) return -1;
        spk_free(c->ptr);
        c->ptr = p;
        c->ptr_cap = (size_t)M + 1;
    }
    c->M = M;
    c->cols = cols;
    return 0;
}

/* The row counts in c->ptr[1..M] made into row starts; the total (also c->nnz), or
 * (size_t)-1 past INT32_MAX (indices are int32). */
static size_t csr_prefix(spk_csr *c) {
    int32_t *cnt = c->ptr + 1;
    c->ptr[0] = 0;
    size_t total = 0;
    for (int m = 0; m < c->M; m++) {
        total += (size_t)cnt[m];
        if (total > INT32_MAX) return (size_t)-1;
        cnt[m] = (int32_t)total;
    }
    c->nnz = total;
    return total;
}

/* Room for n entries in a pair of index and value arrays of capacity *cap (their contents
 * not kept when they grow); 0, or -1 without memory. */
static int entries_room(int32_t **idx, float **val, size_t *cap, size_t n) {
    if (n > *cap || !*idx) {
        /* room to grow: spike counts rise as training goes on, and a buffer sized to each
         * new maximum was freed and mapped again batch after batch (fresh pages faulted in) */
        const size_t c = n + n / 2 + 64;
        int32_t *i = spk_malloc(c * sizeof(int32_t));
        float *v = spk_malloc(c * sizeof(float));
        if (!i || !v) { spk_free(i); spk_free(v); return -1; }
        spk_free(*idx);
        spk_free(*val);
        *idx = i;
        *val = v;
        *cap = c;
    }
    return 0;
}

/* Room in c->idx / c->val for n entries. */
static int csr_room_for(spk_csr *c, size_t n) { return entries_room(&c->idx, &c->val, &c->cap, n); }

/* The nonzeros of row xr [cols] (NaN counts as nonzero, as != 0 does). */
static inline int32_t count_row(const float *xr, int cols) {
    int32_t k = 0;
    for (int i = 0; i < cols; i++) k += xr[i] != 0.0f;
    return k;
}

static int32_t compress_row(const float *restrict xr, int cols, int32_t *restrict idx, float *restrict val, int32_t room);

size_t spk_op_csr_count(spk_csr *c, const float *x, int M, int cols) {
    if (csr_ptr_room(c, M, cols)) return (size_t)-1;
    int32_t *cnt = c->ptr + 1;
    const int nth = (size_t)M * cols > SPARSE_PAR_MIN ? omp_get_max_threads() : 1;
    /* stage only after a count that was filled (an input that takes the dense path is counted
     * alone), with room for each thread's share of that fill and a half */
    if (!c->filled) c->stage_room = 0;
    c->filled = 0;
    const size_t room = c->stage_room;
    int stage = room > 0 && room <= (size_t)INT32_MAX && c->idx && c->cap >= room * (size_t)nth;
    c->staged = 0;
    if (!stage) {
#pragma omp parallel for schedule(static) if (nth > 1)
        for (int m = 0; m < M; m++) cnt[m] = count_row(x + (size_t)m * cols, cols);
        return csr_prefix(c);
    }
    /* each thread its rows in order, compressed at room * thread (whole 16-float stores while
     * a row's cols fit: a row may need that much) while they fit, counted to the end */
    int fit = 1;
#pragma omp parallel num_threads(nth) reduction(& : fit)
    {
        const int th = omp_get_thread_num(), nt = omp_get_num_threads();
        const int m0 = (int)((int64_t)th * M / nt), m1 = (int)((int64_t)(th + 1) * M / nt);
        int32_t *idx = c->idx + (size_t)th * room;
        float *val = c->val + (size_t)th * room;
        size_t pos = 0;
        for (int m = m0; m < m1; m++) {
            const float *xr = x + (size_t)m * cols;
            if (fit && pos + (size_t)cols <= room) {
                cnt[m] = compress_row(xr, cols, idx + pos, val + pos, cols);
                pos += (size_t)cnt[m];
            } else {
                fit = 0;
                cnt[m] = count_row(xr, cols);
            }
        }
        if (th == 0) c->stage_threads = nt;
    }
    c->staged = fit;
    return csr_prefix(c);
}

int spk_op_csr_from_counts(spk_csr *c, const int32_t *counts, int M, int cols) {
    if (csr_ptr_room(c, M, cols)) return -1;
    memcpy(c->ptr + 1, counts, (size_t)M * sizeof(int32_t));
    if (csr_prefix(c) == (size_t)-1) return -1;
    return csr_room_for(c, c->nnz);
}

/* The nonzeros of row xr [cols] (NaN counts as nonzero, as != 0 does), in column order, into
 * idx / val, which have room for `room` entries (at least the row's count); returns the count. */
static inline int32_t compress_row(const float *restrict xr, int cols, int32_t *restrict idx, float *restrict val,
                                   int32_t room) {
    (void)room;
    int32_t k = 0;
    int i0 = 0;
#ifdef __AVX512F__
    /* 16 inputs at a time: a compare gives the mask of nonzeros (NaN counts as nonzero, as
     * != 0 does); their values and indices are compressed in registers and stored whole
     * (the lanes past them are overwritten by the next store) while 16 fit in the room,
     * then under a mask. (Compressing stores to memory, microcoded on Zen 4, took 0.57 -
     * 0.60 ms against 0.36 - 0.42 ms for [3200, 1000] at 22 %, one thread.) */
    const __m512i lane = _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0);
    for (; i0 + 16 <= cols; i0 += 16) {
        const __m512 v = _mm512_loadu_ps(xr + i0);
        const __mmask16 nz = _mm512_cmp_ps_mask(v, _mm512_setzero_ps(), _CMP_NEQ_UQ);
        const __m512 cv = _mm512_maskz_compress_ps(nz, v);
        const __m512i ci = _mm512_maskz_compress_epi32(nz, _mm512_add_epi32(lane, _mm512_set1_epi32(i0)));
        const int pc = __builtin_popcount((unsigned)nz);
        if (k + 16 <= room) {
            _mm512_storeu_ps(val + k, cv);
            _mm512_storeu_si512((void *)(idx + k), ci);
        } else if (pc) {
            const __mmask16 head = (__mmask16)((1u << pc) - 1);
            _mm512_mask_storeu_ps(val + k, head, cv);
            _mm512_mask_storeu_epi32(idx + k, head, ci);
        }
        k += pc;
    }
#endif
    /* portable: 16 inputs at a time, a bit mask of the nonzeros, one store per set bit */
    for (; i0 < cols; i0 += 16) {
        const int n = cols - i0 < 16 ? cols - i0 : 16;
        uint32_t mask = 0;
        for (int j = 0; j < n; j++) mask |= (uint32_t)(xr[i0 + j] != 0.0f) << j;
        while (mask) {
            const int j = __builtin_ctz(mask);
            idx[k] = i0 + j;
            val[k] = xr[i0 + j];
            k++;
            mask &= mask - 1;
        }
    }
    return k;
}

int spk_op_csr_fill(spk_csr *c, const float *x) {
    const int nth = (size_t)c->M * c->cols > SPARSE_PAR_MIN ? omp_get_max_threads() : 1;
    const int staged = c->staged;
    c->filled = 1;
    c->staged = 0;
    if (staged) /* the count compressed every row: each thread's block to its place, in order */
        for (int th = 1; th < c->stage_threads; th++) {
            const int m0 = (int)((int64_t)th * c->M / c->stage_threads), m1 = (int)((int64_t)(th + 1) * c->M / c->stage_threads);
            const size_t len = (size_t)(c->ptr[m1] - c->ptr[m0]), from = (size_t)th * c->stage_room;
            memmove(c->idx + c->ptr[m0], c->idx + from, len * sizeof(int32_t));
            memmove(c->val + c->ptr[m0], c->val + from, len * sizeof(float));
        }
    /* the next count's room per thread (and, when compressing here, room for it all) */
    c->stage_room = c->nnz / (size_t)nth + c->nnz / (2 * (size_t)nth) + (size_t)c->cols;
    if (staged) return 0;
    const size_t stage_all = c->stage_room * (size_t)nth;
    if (csr_room_for(c, stage_all > c->nnz ? stage_all : c->nnz)) return -1;
    const int M = c->M, cols = c->cols;
#pragma omp parallel for schedule(static) if ((size_t)M * cols > SPARSE_PAR_MIN)
    for (int m = 0; m < M; m++) {
        const float *xr = x + (size_t)m * cols;
        compress_row(xr, cols, c->idx + c->ptr[m], c->val + c->ptr[m], c->ptr[m + 1] - c->ptr[m]);
    }
    return 0;
}

void spk_op_csr_free(spk_csr *c) {
    spk_free(c->ptr);
    spk_free(c->idx);
    spk_free(c->val);
    spk_free(c->col_rows);
    spk_free(c->col_vals);
    spk_free(c->col_start);
    memset(c, 0, sizeof *c);
}

/* Density thresholds measured with one thread on an AVX-512 machine (x [6400, 700], out 256,
 * the rec workload's first layer): the gather-add forward takes 2.7 ms at density 0.05 and
 * 9.6 ms at 0.2 against 20 ms for the GEMM; the sparse weight gradient 9 ms at 0.05 and
 * 28 ms at 0.2 against 21 ms. Rows shorter than 32 outputs do not vectorize well: GEMM. */
int spk_op_dense_prefer_sparse(size_t nnz, int M, int in, int out, int weight_grad) {
    if (M <= 0 || in <= 0) return 0;
    double density = (double)nnz / ((double)M * in);
#ifdef __AVX512F__
    /* narrow layers ([3200, 1000] -> 10 at density 0.2, one thread): forward 0.56 ms and
     * weight gradient 0.61 ms, plus 0.9 ms for the compression both share, against 1.3 ms
     * for each GEMM */
    if (out <= NARROW) return density < 0.4;
    /* (17 - 31 outputs: the gather kernels take any width; the GEMM's packing dominates) */
    if (out < 32) return density < 0.4;
#endif
    if (out < 32) return 0;
    return density < (weight_grad ? 0.12 : 0.35);
}

size_t spk_op_dense_dw_scratch(int in, int out) {
#ifdef __AVX512F__
    if (out <= NARROW) return (size_t)in * 16;
#endif
    return (size_t)in * out;
}

void spk_op_transpose(float *Wt, const float *W, int rows, int cols) {
    enum { TB = 32 };
#pragma omp parallel for schedule(static) if ((size_t)rows * cols > SPARSE_PAR_MIN)
    for (int i0 = 0; i0 < rows; i0 += TB)
        for (int j0 = 0; j0 < cols; j0 += TB)
            for (int i = i0; i < rows && i < i0 + TB; i++)
                for (int j = j0; j < cols && j < j0 + TB; j++) Wt[(size_t)j * rows + i] = W[(size_t)i * cols + j];
}

#ifdef __AVX512F__
/* dst[j0 .. j0 + 16 NV) (the last 16 under mask ml) = (init ? init : 0) + sum over the n
 * entries, in order, of val[k] * src[idx[k] * stride + j0 ..], one FMA each; add: dst += that
 * sum (init NULL) instead. NV is a constant at each call site: a block of variable width
 * had the compiler track which registers were live with a branch per FMA (40 cycles per
 * entry against 9). */
static inline __attribute__((always_inline)) void gather_block(float *restrict dst, const float *restrict init, int add,
                                                                const int32_t *restrict idx, const float *restrict val,
                                                                int32_t n, const float *restrict src, size_t stride, int j0,
                                                                const int NV, __mmask16 ml) {
    __m512 acc[16];
    for (int q = 0; q < NV; q++) {
        const __mmask16 m = q == NV - 1 ? ml : (__mmask16)0xFFFF;
        acc[q] = init ? _mm512_maskz_loadu_ps(m, init + j0 + 16 * q) : _mm512_setzero_ps();
    }
    for (int32_t k = 0; k < n; k++) {
        const __m512 v = _mm512_set1_ps(val[k]);
        const float *w = src + (size_t)idx[k] * stride + j0;
        for (int q = 0; q < NV - 1; q++) acc[q] = _mm512_fmadd_ps(v, _mm512_loadu_ps(w + 16 * q), acc[q]);
        acc[NV - 1] = _mm512_fmadd_ps(v, _mm512_maskz_loadu_ps(ml, w + 16 * (NV - 1)), acc[NV - 1]);
    }
    for (int q = 0; q < NV; q++) {
        const __mmask16 m = q == NV - 1 ? ml : (__mmask16)0xFFFF;
        float *d = dst + j0 + 16 * q;
        _mm512_mask_storeu_ps(d, m, add ? _mm512_add_ps(_mm512_maskz_loadu_ps(m, d), acc[q]) : acc[q]);
    }
}

/* dst[0 .. out) as gather_block, in blocks of 256 outputs (16 registers), the last one
 * narrower: per element the same chain of FMAs whatever the blocking. */
static inline void gather_rows(float *restrict dst, const float *restrict init, int add, const int32_t *restrict idx,
                               const float *restrict val, int32_t n, const float *restrict src, int out) {
    for (int j0 = 0; j0 < out; j0 += 256) {
        const int w = out - j0 < 256 ? out - j0 : 256, nv = (w + 15) / 16;
        const __mmask16 ml = lanes(w - 16 * (nv - 1));
#define GB(NV) gather_block(dst, init, add, idx, val, n, src, (size_t)out, j0, NV, ml)
        switch (nv) {
        case 1: GB(1); break; case 2: GB(2); break; case 3: GB(3); break; case 4: GB(4); break;
        case 5: GB(5); break; case 6: GB(6); break; case 7: GB(7); break; case 8: GB(8); break;
        case 9: GB(9); break; case 10: GB(10); break; case 11: GB(11); break; case 12: GB(12); break;
        case 13: GB(13); break; case 14: GB(14); break; case 15: GB(15); break; default: GB(16); break;
        }
#undef GB
    }
}
#endif

/* Row y[out] = b + sum over the n entries (idx[k], val[k]), in order, of val[k] * Wt[idx[k]]
 * (b may be NULL): the gather-add of one row, shared by the CSR and the dense-row callers. */
static inline void sparse_row(float *restrict yr, const int32_t *restrict idx, const float *restrict val, int32_t n,
                              const float *restrict Wt, const float *restrict b, int out) {
#ifdef __AVX512F__
    if (out <= NARROW) {
        /* the row of y in registers: a masked load and an FMA per entry, the entries dealt
         * round to four sums (one chain of dependent FMAs waited on their latency: 0.63 ms against 0.36 ms
         * for [3200, 1000] at 22 %, one thread), added in a fixed order at the end */
        const __mmask16 mk = (__mmask16)((1u << out) - 1);
        __m512 a0 = b ? _mm512_maskz_loadu_ps(mk, b) : _mm512_setzero_ps();
        __m512 a1 = _mm512_setzero_ps(), a2 = a1, a3 = a1;
        int32_t k = 0;
        for (; k + 4 <= n; k += 4) {
            a0 = _mm512_fmadd_ps(_mm512_set1_ps(val[k]), _mm512_maskz_loadu_ps(mk, Wt + (size_t)idx[k] * out), a0);
            a1 = _mm512_fmadd_ps(_mm512_set1_ps(val[k + 1]), _mm512_maskz_loadu_ps(mk, Wt + (size_t)idx[k + 1] * out), a1);
            a2 = _mm512_fmadd_ps(_mm512_set1_ps(val[k + 2]), _mm512_maskz_loadu_ps(mk, Wt + (size_t)idx[k + 2] * out), a2);
            a3 = _mm512_fmadd_ps(_mm512_set1_ps(val[k + 3]), _mm512_maskz_loadu_ps(mk, Wt + (size_t)idx[k + 3] * out), a3);
        }
        for (; k < n; k++) a0 = _mm512_fmadd_ps(_mm512_set1_ps(val[k]), _mm512_maskz_loadu_ps(mk, Wt + (size_t)idx[k] * out), a0);
        _mm512_mask_storeu_ps(yr, mk, _mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)));
        return;
    }
    gather_rows(yr, b, 0, idx, val, n, Wt, out);
    return;
#endif
    if (b) memcpy(yr, b, (size_t)out * sizeof(float));
    else memset(yr, 0, (size_t)out * sizeof(float));
    /* (a register-blocked variant in plain C holding 64 outputs measured 4x slower; with
     * AVX-512 the intrinsics version above is 2x faster than this loop) */
    for (int32_t k = 0; k < n; k++) {
        const float v = val[k];
        const float *restrict w = Wt + (size_t)idx[k] * out;
        for (int j = 0; j < out; j++) yr[j] += v * w[j];
    }
}

void spk_op_dense_forward_sparse(float *y, const spk_csr *x, const float *Wt, const float *b, int out) {
    const int M = x->M;
#ifdef __AVX512F__
    const size_t work = (out <= NARROW ? x->nnz : (size_t)M) * out;
#else
    const size_t work = (size_t)M * out;
#endif
#pragma omp parallel for schedule(static) if (work > SPARSE_PAR_MIN)
    for (int m = 0; m < M; m++)
        sparse_row(y + (size_t)m * out, x->idx + x->ptr[m], x->val + x->ptr[m], x->ptr[m + 1] - x->ptr[m], Wt, b, out);
}

int32_t spk_op_compress_row(const float *x, int cols, int32_t *idx, float *val) {
    return compress_row(x, cols, idx, val, cols);
}

void spk_op_dense_forward_entries(float *y, const int32_t *idx, const float *val, int32_t n, const float *Wt, const float *b,
                                  int out) {
    sparse_row(y, idx, val, n, Wt, b, out);
}

void spk_op_dense_forward_sparse_rows(float *y, size_t y_stride, const float *x, size_t x_stride, const float *Wt,
                                      const float *b, int R, int in, int out, int32_t *idx, float *val) {
    for (int r = 0; r < R; r++) {
        const float *xr = x + (size_t)r * x_stride;
        const int32_t n = compress_row(xr, in, idx, val, in);
        sparse_row(y + (size_t)r * y_stride, idx, val, n, Wt, b, out);
    }
}

#ifdef __AVX512F__
/* Bytes of dy per chunk of rows of the column-wise weight gradient: the chunk's dy rows stay
 * in L2 while every input's entries in them are summed. ([6400, 700] -> 256 at 5 %, one
 * thread: 5.8 / 4.6 / 3.6 / 3.1 / 2.9 / 3.2 / 3.6 ms with chunks of 32 / 64 / 128 / 256 /
 * 512 / 1024 / 2048 rows; the scatter into scratch: 5.1 ms.) */
#define DW_CHUNK_BYTES (512 * 1024)

/* dW for out > NARROW: per chunk of rows (DW_CHUNK_BYTES of dy), each input's entries are summed in
 * registers (256 outputs at a time) over the chunk's rows in order, then added to the input's
 * row of scratch [in, out], chunk after chunk; threads take disjoint ranges of inputs (so the
 * sums do not depend on their number). Adding each entry to scratch directly loaded and
 * stored an out-float row per entry. -1 when out of memory for the chunk lists. */
static int dw_sparse_columns(float *dW, float *scratch, const float *dy, spk_csr *x, int out) {
    const size_t fit = DW_CHUNK_BYTES / ((size_t)out * sizeof(float)); /* rows per chunk */
    const int R = fit > 16 ? (int)fit : 16;
    const int M = x->M, in = x->cols, nch = (M + R - 1) / R;
    int nth = (size_t)x->nnz * out > SPARSE_PAR_MIN ? omp_get_max_threads() : 1;
    if (nth > in) nth = in;
    /* every chunk's entries by column, rows in order, at the chunk's place in the CSR's order
     * (col_start[c][i]: where column i's begin), listed once with the chunks spread over the
     * threads (each thread had scanned every chunk for its own columns: as much time as the
     * sums); in the CSR's scratch, kept between calls (fresh pages per call cost as much) */
    const size_t ns = (size_t)nch * (in + 1), ne = x->nnz ? x->nnz : 1;
    if (x->col_start_cap < ns) {
        spk_free(x->col_start);
        x->col_start_cap = 0;
        if (!(x->col_start = spk_malloc(ns * sizeof(int32_t)))) return -1;
        x->col_start_cap = ns;
    }
    if (entries_room(&x->col_rows, &x->col_vals, &x->col_cap, ne)) return -1;
    int32_t *starts = x->col_start, *rows = x->col_rows;
    float *vals = x->col_vals;
#pragma omp parallel num_threads(nth)
    {
#pragma omp for schedule(static)
        for (int c = 0; c < nch; c++) {
            const int m0 = c * R, m1 = m0 + R < M ? m0 + R : M;
            int32_t *st = starts + (size_t)c * (in + 1);
            memset(st, 0, ((size_t)in + 1) * sizeof(int32_t));
            for (int32_t k = x->ptr[m0]; k < x->ptr[m1]; k++) st[x->idx[k] + 1]++;
            st[0] = x->ptr[m0];
            for (int i = 0; i < in; i++) st[i + 1] += st[i];
            for (int m = m0; m < m1; m++)
                for (int32_t k = x->ptr[m]; k < x->ptr[m + 1]; k++) {
                    const int32_t q = st[x->idx[k]]++;
                    rows[q] = m;
                    vals[q] = x->val[k];
                }
            /* (st[i] now ends column i's entries: shift back to where they start) */
            for (int i = in; i > 0; i--) st[i] = st[i - 1];
            st[0] = x->ptr[m0];
        }
        /* (the team may be smaller than asked for: split by its actual size) */
        const int th = omp_get_thread_num(), nt = omp_get_num_threads();
        const int i0 = (int)((int64_t)th * in / nt), i1 = (int)((int64_t)(th + 1) * in / nt);
        memset(scratch + (size_t)i0 * out, 0, (size_t)(i1 - i0) * out * sizeof(float));
        for (int c = 0; c < nch; c++) {
            const int32_t *st = starts + (size_t)c * (in + 1);
            for (int i = i0; i < i1; i++) {
                const int32_t e0 = st[i], e1 = st[i + 1];
                if (e0 == e1) continue;
                gather_rows(scratch + (size_t)i * out, NULL, 1, rows + e0, vals + e0, e1 - e0, dy, out);
            }
        }
    }
    /* dW[o, i] += scratch[i, o] */
#pragma omp parallel for schedule(static) if ((size_t)in * out > SPARSE_PAR_MIN)
    for (int o = 0; o < out; o++) {
        float *dr = dW + (size_t)o * in;
        for (int i = 0; i < in; i++) dr[i] += scratch[(size_t)i * out + o];
    }
    return 0;
}
#endif

void spk_op_dense_dw_sparse(float *dW, float *scratch, const float *dy, spk_csr *x, int out) {
#ifdef __AVX512F__
    if (out > NARROW && dw_sparse_columns(dW, scratch, dy, x, out) == 0) return;
#endif
    /* For each thread a slice [j0, j1) of the output columns: it adds, over the rows m in
     * order, x[m,i] dy[m, j0:j1] into its own block of scratch, laid out [i][j - j0] and
     * contiguous (slices side by side in one row would share the cache line at their
     * border, and the two threads would fight over it for every entry: measured 3.5x
     * slower). Each (i, j) sums over the rows in order whatever the slicing. */
    const int M = x->M, in = x->cols;
    int njb = (size_t)x->nnz * out > SPARSE_PAR_MIN ? omp_get_max_threads() : 1;
    if (njb > (out + 15) / 16) njb = (out + 15) / 16;
    if (njb < 1) njb = 1;
#pragma omp parallel for schedule(static) if (njb > 1)
    for (int jb = 0; jb < njb; jb++) {
        const int j0 = (int)((int64_t)jb * out / njb) & ~15, j1 = jb + 1 == njb ? out : (int)((int64_t)(jb + 1) * out / njb) & ~15;
        const int w = j1 - j0;
        float *blk = scratch + (size_t)in * j0;
#ifdef __AVX512F__
        if (njb == 1 && w <= NARROW) {
            /* one 16-float row of scratch per input (the scratch holds in * 16 floats: see
             * spk_op_dense_dw_scratch): a load, FMA and store per entry, no masks */
            const __mmask16 mk = (__mmask16)((1u << w) - 1);
            memset(blk, 0, (size_t)in * 16 * sizeof(float));
            for (int m = 0; m < M; m++) {
                const __m512 d = _mm512_maskz_loadu_ps(mk, dy + (size_t)m * out);
                for (int32_t k = x->ptr[m]; k < x->ptr[m + 1]; k++) {
                    float *acc = blk + (size_t)x->idx[k] * 16;
                    _mm512_storeu_ps(acc, _mm512_fmadd_ps(_mm512_set1_ps(x->val[k]), d, _mm512_loadu_ps(acc)));
                }
            }
            for (int o = 0; o < w; o++) {
                float *dr = dW + (size_t)o * in;
                for (int i = 0; i < in; i++) dr[i] += blk[(size_t)i * 16 + o];
            }
            continue;
        }
#endif
        memset(blk, 0, (size_t)in * w * sizeof(float));
        for (int m = 0; m < M; m++) {
            const float *restrict d = dy + (size_t)m * out + j0;
            for (int32_t k = x->ptr[m]; k < x->ptr[m + 1]; k++) {
                const float v = x->val[k];
                float *restrict acc = blk + (size_t)x->idx[k] * w;
                for (int j = 0; j < w; j++) acc[j] += v * d[j];
            }
        }
        /* dW[o, i] += blk[i, o - j0] for this slice's outputs */
        for (int o = j0; o < j1; o++) {
            float *dr = dW + (size_t)o * in;
            for (int i = 0; i < in; i++) dr[i] += blk[(size_t)i * w + (o - j0)];
        }
    }
}
