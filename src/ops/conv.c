/* conv.c — 1-d and 2-d convolution (groups, stride, padding, dilation; 1-d is H = 1) by
 * im2col + GEMM (spk__sgemm_det, gemm.c), its backward, and a plain direct-loop reference for the tests.
 *
 * How the work is laid out. Rows are taken in chunks of R rows (R fixed by the geometry and
 * M alone, never by the thread count). For a chunk, im2col writes one matrix
 *     col [cin*k_h*k_w, L],  L = R*out_h*out_w,  column r*P + p = (row r, output pixel p)
 * whose rows (ci, ky, kx) for group g are the contiguous block g*K .. (g+1)*K, K = cin/groups
 * * k_h*k_w. Then, per group, ONE GEMM covers all rows of the chunk:
 *     forward   Y_g [cout_g, L]  = W_g [cout_g, K] col_g [K, L]   (then scattered into y + b)
 *     dW        dW_g            += DY_g [cout_g, L] col_g^T        (DY = dy gathered like Y)
 *     dx        dcol_g [K, L]    = W_g^T DY_g                      (then col2im adds into dx)
 * Rows are cut into chunks whose workspace fits CONV_WS_BUDGET floats (cache-sized), processed
 * in order; dW accumulates over the chunks. im2col / col2im / scatter / gather run in parallel over (row, channel) pairs, each
 * writing its own disjoint slice, and db sums each channel serially: results do not depend
 * on the number of threads.
 *
 * Deliberately not here: transposed convolution, ceil_mode / asymmetric padding, padding
 * modes other than zeros, direct or Winograd/FFT fast paths for special shapes, and
 * allocation (the caller passes spk_op_conv_workspace floats). */
#include "ops/ops_impl.h"

#include <limits.h>
#include <omp.h>
#include <string.h>
#ifdef __AVX512F__
#include <immintrin.h>
#endif

/* The most floats of workspace a call asks for before it cuts rows into chunks (1 MiB): the
 * im2col columns of a chunk are then still in L2 when the GEMM and col2im read them. With
 * 32 MiB chunks the conv workload (spk bench conv) took about twice the CPU time: its
 * backward streamed each chunk's columns through DRAM twice.
 * A single row that needs more still gets a chunk of one row. */
#define CONV_WS_BUDGET ((size_t)1 << 18)

/* Work below this many floats runs in a single thread (OpenMP start-up would dominate). */
#define CONV_PAR_MIN 32768

spk_status spk_conv_geom_init(spk_conv_geom *g) {
    if (!g) return spk__fail(NULL, SPK_ERR_INVALID_ARG, "conv geometry: g is NULL");
    const struct { const char *name; int v; } pos[] = {
        {"cin", g->cin},           {"cout", g->cout},         {"groups", g->groups},
        {"in_h", g->in_h},         {"in_w", g->in_w},         {"k_h", g->k_h},
        {"k_w", g->k_w},           {"stride_h", g->stride_h}, {"stride_w", g->stride_w},
        {"dil_h", g->dil_h},       {"dil_w", g->dil_w},
    };
    for (size_t i = 0; i < sizeof pos / sizeof pos[0]; i++)
        if (pos[i].v < 1)
            return spk__fail(NULL, SPK_ERR_INVALID_ARG, "conv geometry: %s = %d: must be >= 1", pos[i].name,
                             pos[i].v);
    if (g->pad_h < 0 || g->pad_w < 0)
        return spk__fail(NULL, SPK_ERR_INVALID_ARG, "conv geometry: pad_h = %d, pad_w = %d: must be >= 0",
                         g->pad_h, g->pad_w);
    if (g->cin % g->groups)
        return spk__fail(NULL, SPK_ERR_SHAPE, "conv geometry: cin = %d is not divisible by groups = %d", g->cin,
                         g->groups);
    if (g->cout % g->groups)
        return spk__fail(NULL, SPK_ERR_SHAPE, "conv geometry: cout = %d is not divisible by groups = %d", g->cout,
                         g->groups);
    /* torch's formula, in 64 bits; a negative numerator means the kernel does not fit */
    int64_t nh = (int64_t)g->in_h + 2 * (int64_t)g->pad_h - (int64_t)g->dil_h * (g->k_h - 1) - 1;
    int64_t nw = (int64_t)g->in_w + 2 * (int64_t)g->pad_w - (int64_t)g->dil_w * (g->k_w - 1) - 1;
    if (nh < 0 || nw < 0)
        return spk__fail(NULL, SPK_ERR_SHAPE,
                         "conv geometry: output would be empty: input %dx%d, padding %dx%d, kernel %dx%d, "
                         "dilation %dx%d (the dilated kernel is larger than the padded input)",
                         g->in_h, g->in_w, g->pad_h, g->pad_w, g->k_h, g->k_w, g->dil_h, g->dil_w);
    int64_t oh = nh / g->stride_h + 1, ow = nw / g->stride_w + 1;
    /* every per-row extent is indexed with int arithmetic in places: keep it in range */
    if ((int64_t)g->cin * g->in_h * g->in_w > INT_MAX || (int64_t)g->cout * oh * ow > INT_MAX ||
        (int64_t)g->cin * g->k_h * g->k_w > INT_MAX || oh * ow > INT_MAX)
        return spk__fail(NULL, SPK_ERR_SHAPE, "conv geometry: a per-row size exceeds %d elements", INT_MAX);
    g->out_h = (int)oh;
    g->out_w = (int)ow;
    return SPK_OK;
}

/* Floats of workspace one row needs: its im2col columns and its gathered output. */
static size_t conv_row_floats(const spk_conv_geom *g) {
    size_t P = (size_t)g->out_h * g->out_w;
    return P * ((size_t)g->cin * g->k_h * g->k_w + (size_t)g->cout);
}

/* Rows per chunk: all M when they fit the budget, else as many as fit (at least one). */
static int conv_chunk_rows(const spk_conv_geom *g, int M) {
    size_t per = conv_row_floats(g);
    size_t r = per ? CONV_WS_BUDGET / per : (size_t)M;
    if (r < 1) r = 1;
    return r < (size_t)M ? (int)r : M;
}

size_t spk_op_conv_workspace(const spk_conv_geom *g, int M) {
    if (M <= 0) return 0;
    return (size_t)conv_chunk_rows(g, M) * conv_row_floats(g);
}

/* The output indices o in [*lo, *hi) whose input coordinate off + o*stride lies in [0, n). */
static inline void valid_range(int off, int stride, int n, int n_out, int *lo, int *hi) {
    int a = off >= 0 ? 0 : (-off + stride - 1) / stride;
    int b = n - 1 - off < 0 ? 0 : (n - 1 - off) / stride + 1;
    if (b > n_out) b = n_out;
    if (a > b) a = b;
    *lo = a;
    *hi = b;
}

/* im2col for rows [0, R) of x (already offset to the chunk): col [cin*k_h*k_w, L]. */
static void im2col(float *col, const float *x, const spk_conv_geom *g, int R) {
    const int kh = g->k_h, kw = g->k_w, oh = g->out_h, ow = g->out_w;
    const size_t P = (size_t)oh * ow, L = (size_t)R * P, plane = (size_t)g->in_h * g->in_w;
    const int pairs = R * g->cin;
#pragma omp parallel for schedule(static) if (L * g->cin * kh * kw > CONV_PAR_MIN)
    for (int rc = 0; rc < pairs; rc++) {
        const int r = rc / g->cin, ci = rc % g->cin;
        const float *xp = x + ((size_t)r * g->cin + ci) * plane;
        for (int ky = 0; ky < kh; ky++)
            for (int kx = 0; kx < kw; kx++) {
                float *dst = col + ((size_t)(ci * kh + ky) * kw + kx) * L + (size_t)r * P;
                const int offy = ky * g->dil_h - g->pad_h, offx = kx * g->dil_w - g->pad_w;
                int y0, y1, x0, x1;
                valid_range(offy, g->stride_h, g->in_h, oh, &y0, &y1);
                valid_range(offx, g->stride_w, g->in_w, ow, &x0, &x1);
                for (int oy = 0; oy < oh; oy++) {
                    float *d = dst + (size_t)oy * ow;
                    if (oy < y0 || oy >= y1) {
                        memset(d, 0, (size_t)ow * sizeof(float));
                        continue;
                    }
                    const float *s = xp + (size_t)(offy + oy * g->stride_h) * g->in_w + offx;
                    for (int ox = 0; ox < x0; ox++) d[ox] = 0.0f;
                    if (g->stride_w == 1)
                        memcpy(d + x0, s + x0, (size_t)(x1 - x0) * sizeof(float));
                    else
                        for (int ox = x0; ox < x1; ox++) d[ox] = s[(size_t)ox * g->stride_w];
                    for (int ox = x1; ox < ow; ox++) d[ox] = 0.0f;
                }
            }
    }
}

/* col2im: dx (rows [0, R) of the chunk) += the columns of dcol folded back. Each (row,
 * channel) plane of dx is written by one iteration only, in a fixed (ky, kx, oy, ox) order. */
static void col2im_add(float *dx, const float *dcol, const spk_conv_geom *g, int R) {
    const int kh = g->k_h, kw = g->k_w, oh = g->out_h, ow = g->out_w;
    const size_t P = (size_t)oh * ow, L = (size_t)R * P, plane = (size_t)g->in_h * g->in_w;
    const int pairs = R * g->cin;
#pragma omp parallel for schedule(static) if (L * g->cin * kh * kw > CONV_PAR_MIN)
    for (int rc = 0; rc < pairs; rc++) {
        const int r = rc / g->cin, ci = rc % g->cin;
        float *xp = dx + ((size_t)r * g->cin + ci) * plane;
        for (int ky = 0; ky < kh; ky++)
            for (int kx = 0; kx < kw; kx++) {
                const float *src = dcol + ((size_t)(ci * kh + ky) * kw + kx) * L + (size_t)r * P;
                const int offy = ky * g->dil_h - g->pad_h, offx = kx * g->dil_w - g->pad_w;
                int y0, y1, x0, x1;
                valid_range(offy, g->stride_h, g->in_h, oh, &y0, &y1);
                valid_range(offx, g->stride_w, g->in_w, ow, &x0, &x1);
                for (int oy = y0; oy < y1; oy++) {
                    const float *s = src + (size_t)oy * ow;
                    float *d = xp + (size_t)(offy + oy * g->stride_h) * g->in_w + offx;
                    for (int ox = x0; ox < x1; ox++) d[(size_t)ox * g->stride_w] += s[ox];
                }
            }
    }
}

void spk_op_conv_forward(float *y, float *ws, const float *x, const float *W, const float *b,
                         const spk_conv_geom *g, int M) {
    if (M <= 0) return;
    const int G = g->groups, cog = g->cout / G;
    const int K = g->cin / G * g->k_h * g->k_w;
    const size_t P = (size_t)g->out_h * g->out_w, CK = (size_t)g->cin * g->k_h * g->k_w;
    const size_t xrow = (size_t)g->cin * g->in_h * g->in_w, yrow = (size_t)g->cout * P;
    const int Rmax = conv_chunk_rows(g, M);
    for (int m0 = 0; m0 < M; m0 += Rmax) {
        const int R = M - m0 < Rmax ? M - m0 : Rmax;
        const size_t L = (size_t)R * P;
        float *col = ws, *Y = ws + CK * L;
        im2col(col, x + (size_t)m0 * xrow, g, R);
        for (int gi = 0; gi < G; gi++)
            spk__sgemm_det(0, 0, cog, (int)L, K, 1.0f, W + (size_t)gi * cog * K, K, col + (size_t)gi * K * L, (int)L,
                      0.0f, Y + (size_t)gi * cog * L, (int)L);
        /* scatter Y [cout, R*P] into y [R, cout, P], adding the bias */
        const int pairs = R * g->cout;
        float *yc = y + (size_t)m0 * yrow;
#pragma omp parallel for schedule(static) if (L * g->cout > CONV_PAR_MIN)
        for (int rc = 0; rc < pairs; rc++) {
            const int r = rc / g->cout, c = rc % g->cout;
            const float *s = Y + (size_t)c * L + (size_t)r * P;
            float *d = yc + (size_t)r * yrow + (size_t)c * P;
            const float bc = b ? b[c] : 0.0f;
            for (size_t p = 0; p < P; p++) d[p] = s[p] + bc;
        }
    }
}

#ifdef __AVX512F__
/* One block of conv_dx_sparse_dy's column: nv (4 or 8, a constant at each call) registers
 * of 16 floats, the sum over the listed channels of their gradient times W's row (from w). */
static inline __attribute__((always_inline)) void dx_block(int nv, const __mmask16 *mk, int nz, const int *nzc,
                                                           const float *nzv, const float *w0, int CK, float *cc) {
    __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps();
    __m512 a2 = _mm512_setzero_ps(), a3 = _mm512_setzero_ps();
    __m512 a4 = _mm512_setzero_ps(), a5 = _mm512_setzero_ps();
    __m512 a6 = _mm512_setzero_ps(), a7 = _mm512_setzero_ps();
    for (int j = 0; j < nz; j++) {
        const __m512 v = _mm512_set1_ps(nzv[j]);
        const float *w = w0 + (size_t)nzc[j] * CK;
        a0 = _mm512_fmadd_ps(v, _mm512_maskz_loadu_ps(mk[0], w), a0);
        a1 = _mm512_fmadd_ps(v, _mm512_maskz_loadu_ps(mk[1], w + 16), a1);
        a2 = _mm512_fmadd_ps(v, _mm512_maskz_loadu_ps(mk[2], w + 32), a2);
        a3 = _mm512_fmadd_ps(v, _mm512_maskz_loadu_ps(mk[3], w + 48), a3);
        if (nv > 4) {
            a4 = _mm512_fmadd_ps(v, _mm512_maskz_loadu_ps(mk[4], w + 64), a4);
            a5 = _mm512_fmadd_ps(v, _mm512_maskz_loadu_ps(mk[5], w + 80), a5);
            a6 = _mm512_fmadd_ps(v, _mm512_maskz_loadu_ps(mk[6], w + 96), a6);
            a7 = _mm512_fmadd_ps(v, _mm512_maskz_loadu_ps(mk[7], w + 112), a7);
        }
    }
    _mm512_mask_storeu_ps(cc, mk[0], a0);
    _mm512_mask_storeu_ps(cc + 16, mk[1], a1);
    _mm512_mask_storeu_ps(cc + 32, mk[2], a2);
    _mm512_mask_storeu_ps(cc + 48, mk[3], a3);
    if (nv > 4) {
        _mm512_mask_storeu_ps(cc + 64, mk[4], a4);
        _mm512_mask_storeu_ps(cc + 80, mk[5], a5);
        _mm512_mask_storeu_ps(cc + 96, mk[6], a6);
        _mm512_mask_storeu_ps(cc + 112, mk[7], a7);
    }
}

/* The input gradient from the nonzero output gradients (groups = 1). After a max pool most of
 * dy is zero (3 of 4 entries for a 2x2 pool), and W^T dy spends most of its multiplications
 * on zeros. Per row: each output pixel p's column (ci, ky, kx) is the sum, over the channels
 * with a nonzero gradient at p (listed without branches: the test is unpredictable), of that
 * gradient times the channel's row of W, 128 floats at a time in registers, written as row p
 * of colT [P, CK]; colT is then folded back into dx. One row per iteration, in a fixed order:
 * results do not depend on the number of threads. ws: P * CK floats per thread.
 * Measured on the conv workload's second layer ([3200, 12, 12, 12] -> [64, 8, 8], 5x5, dy 25 %
 * nonzero at random; one thread): 80-91 ms against 107-111 ms for W^T dy + col2im; the whole
 * workload's CPU time fell by about 4 %. (Writing the registers straight into the columns of
 * a [CK, P] layout for col2im, or a masked vector per kernel row when folding back, were
 * slower.) */
static void conv_dx_sparse_dy(float *dx, float *ws, const float *dy, const float *W, const spk_conv_geom *g, int M) {
    const int cout = g->cout, P = g->out_h * g->out_w, CK = g->cin * g->k_h * g->k_w;
    const size_t xrow = (size_t)g->cin * g->in_h * g->in_w, yrow = (size_t)cout * P;
    /* the one-register fold (stride and dilation 1 across, rows of at most 16): per output
     * column ox, the lanes its taps land on and the byte step from row 0's taps to them */
    const int fold16 = g->stride_w == 1 && g->dil_w == 1 && g->in_w <= 16 && g->out_w <= 64;
    __mmask16 fmask[64];
    uintptr_t fstep[64];
    for (int ox = 0; fold16 && ox < g->out_w; ox++) {
        int kx0, kx1;
        const int ix0 = ox - g->pad_w;
        valid_range(ix0, 1, g->in_w, g->k_w, &kx0, &kx1);
        fmask[ox] = kx0 < kx1 ? (__mmask16)(((1u << (kx1 - kx0)) - 1) << (ix0 + kx0)) : 0;
        fstep[ox] = (uintptr_t)(((intptr_t)ox * CK - ix0) * (intptr_t)sizeof(float));
    }
#pragma omp parallel for schedule(static) if ((size_t)M * yrow > CONV_PAR_MIN)
    for (int m = 0; m < M; m++) {
        float *colT = ws + (size_t)omp_get_thread_num() * P * CK;
        const float *d = dy + (size_t)m * yrow;
        int nzc[1024];
        float nzv[1024];
        for (int p = 0; p < P; p++) {
            int nz = 0;
            for (int co = 0; co < cout; co++) { /* branch-free: the test is unpredictable */
                const float v = d[(size_t)co * P + p];
                nzc[nz] = co;
                nzv[nz] = v;
                nz += v != 0.0f;
            }
            /* 128 floats of the column at a time in eight named registers (an indexed
             * array of them was kept on the stack), stored as row p of colT [P, CK] */
            float *c = colT + (size_t)p * CK;
            for (int k0 = 0; k0 < CK; k0 += 128) {
                __mmask16 mk[8];
                for (int q = 0; q < 8; q++) {
                    const int left = CK - k0 - 16 * q;
                    mk[q] = left >= 16 ? (__mmask16)0xFFFF : left > 0 ? (__mmask16)((1u << left) - 1) : 0;
                }
                /* a tail of at most 64 floats in four registers: the other four would
                 * load and multiply only masked-off lanes */
                if (CK - k0 > 64) dx_block(8, mk, nz, nzc, nzv, W + k0, CK, c + k0);
                else dx_block(4, mk, nz, nzc, nzv, W + k0, CK, c + k0);
            }
        }
        /* fold colT back into dx: pixel p's entry (ci, ky, kx) adds to input (ci, iy, ix) */
        float *xr = dx + (size_t)m * xrow;
        if (fold16) {
            /* a whole input row in one register: per (ci, oy, ky), the k_w taps of every
             * output column ox land on lanes ox - pad_w + kx, loaded shifted under a mask
             * (masked lanes are not read), summed in two registers; then one add to the
             * row. The scalar fold below chains each input entry's k_w adds through memory
             * (store-to-load forwarding). */
            const __mmask16 row_mask = (__mmask16)((1u << g->in_w) - 1);
            for (int ci = 0; ci < g->cin; ci++)
                for (int oy = 0; oy < g->out_h; oy++)
                    for (int ky = 0; ky < g->k_h; ky++) {
                        const int iy = oy * g->stride_h - g->pad_h + ky * g->dil_h;
                        if (iy < 0 || iy >= g->in_h) continue;
                        /* lane ix0 + kx takes tap kx: the base is ix0 floats before the taps
                         * (an address, never dereferenced outside the mask) */
                        const uintptr_t taps = (uintptr_t)(colT + (size_t)oy * g->out_w * CK + (size_t)(ci * g->k_h + ky) * g->k_w);
                        __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
                        int ox = 0;
                        for (; ox + 1 < g->out_w; ox += 2) {
                            acc0 = _mm512_add_ps(acc0, _mm512_maskz_loadu_ps(fmask[ox], (const void *)(taps + fstep[ox])));
                            acc1 = _mm512_add_ps(acc1, _mm512_maskz_loadu_ps(fmask[ox + 1], (const void *)(taps + fstep[ox + 1])));
                        }
                        if (ox < g->out_w) acc0 = _mm512_add_ps(acc0, _mm512_maskz_loadu_ps(fmask[ox], (const void *)(taps + fstep[ox])));
                        float *xl = xr + ((size_t)ci * g->in_h + iy) * g->in_w;
                        _mm512_mask_storeu_ps(xl, row_mask, _mm512_add_ps(_mm512_maskz_loadu_ps(row_mask, xl), _mm512_add_ps(acc0, acc1)));
                    }
            continue;
        }
        for (int oy = 0; oy < g->out_h; oy++)
            for (int ox = 0; ox < g->out_w; ox++) {
                const float *c = colT + (size_t)(oy * g->out_w + ox) * CK;
                int kx0, kx1; /* the taps whose column lies inside the input */
                valid_range(ox * g->stride_w - g->pad_w, g->dil_w, g->in_w, g->k_w, &kx0, &kx1);
                const int ix0 = ox * g->stride_w - g->pad_w;
                for (int ci = 0; ci < g->cin; ci++)
                    for (int ky = 0; ky < g->k_h; ky++) {
                        const int iy = oy * g->stride_h - g->pad_h + ky * g->dil_h;
                        if (iy < 0 || iy >= g->in_h) continue;
                        float *xl = xr + ((size_t)ci * g->in_h + iy) * g->in_w + ix0;
                        const float *cl = c + (size_t)(ci * g->k_h + ky) * g->k_w;
                        for (int kx = kx0; kx < kx1; kx++) xl[kx * g->dil_w] += cl[kx];
                    }
            }
    }
}

/* Whether the input gradient takes conv_dx_sparse_dy: groups = 1, cout <= 1024 (its lists of
 * nonzero channels), its buffers for every
 * thread fit the workspace, and dy is less than 35 % nonzero, estimated from its first rows
 * (up to 64: a fixed sample, so the choice depends on the data alone). */
static int conv_dx_sparse_ok(const float *dy, const spk_conv_geom *g, int M) {
    const size_t P = (size_t)g->out_h * g->out_w, CK = (size_t)g->cin * g->k_h * g->k_w, yrow = (size_t)g->cout * P;
    const size_t nth = (size_t)(omp_get_max_threads() < M ? omp_get_max_threads() : M);
    if (g->groups != 1 || g->cout > 1024 || nth * P * CK > spk_op_conv_workspace(g, M)) return 0;
    const int S = M < 64 ? M : 64;
    size_t nz = 0;
    for (size_t k = 0; k < (size_t)S * yrow; k++) nz += dy[k] != 0.0f;
    return (double)nz < 0.35 * (double)S * (double)yrow;
}
#endif

void spk_op_conv_backward(float *dx, float *dW, float *db, float *ws, const float *dy, const float *x,
                          const float *W, const spk_conv_geom *g, int M) {
    if (M <= 0) return;
    const int G = g->groups, cog = g->cout / G;
    const int K = g->cin / G * g->k_h * g->k_w;
    const size_t P = (size_t)g->out_h * g->out_w, CK = (size_t)g->cin * g->k_h * g->k_w;
    const size_t xrow = (size_t)g->cin * g->in_h * g->in_w, yrow = (size_t)g->cout * P;

    if (db) { /* one channel per iteration: per pixel a double sum over the rows in order
               * (vectorizes across pixels), then the pixels in order */
#pragma omp parallel for schedule(static) if ((size_t)M * yrow > CONV_PAR_MIN)
        for (int c = 0; c < g->cout; c++) {
            double part[256];
            double acc = 0.0;
            for (size_t p0 = 0; p0 < P; p0 += 256) {
                const size_t np = P - p0 < 256 ? P - p0 : 256;
                for (size_t p = 0; p < np; p++) part[p] = 0.0;
                for (int m = 0; m < M; m++) {
                    const float *s = dy + (size_t)m * yrow + (size_t)c * P + p0;
                    for (size_t p = 0; p < np; p++) part[p] += s[p];
                }
                for (size_t p = 0; p < np; p++) acc += part[p];
            }
            db[c] += (float)acc;
        }
    }
#ifdef __AVX512F__
    if (dx && conv_dx_sparse_ok(dy, g, M)) {
        conv_dx_sparse_dy(dx, ws, dy, W, g, M);
        dx = NULL;
    }
#endif
    if (!dx && !dW) return;

    const int Rmax = conv_chunk_rows(g, M);
    for (int m0 = 0; m0 < M; m0 += Rmax) {
        const int R = M - m0 < Rmax ? M - m0 : Rmax;
        const size_t L = (size_t)R * P;
        float *col = ws, *DY = ws + CK * L;
        /* gather dy [R, cout, P] into DY [cout, R*P] */
        const int pairs = R * g->cout;
        const float *dyc = dy + (size_t)m0 * yrow;
#pragma omp parallel for schedule(static) if (L * g->cout > CONV_PAR_MIN)
        for (int rc = 0; rc < pairs; rc++) {
            const int r = rc / g->cout, c = rc % g->cout;
            memcpy(DY + (size_t)c * L + (size_t)r * P, dyc + (size_t)r * yrow + (size_t)c * P, P * sizeof(float));
        }
        if (dW) {
            im2col(col, x + (size_t)m0 * xrow, g, R);
            for (int gi = 0; gi < G; gi++)
                spk__sgemm_det(0, 1, cog, K, (int)L, 1.0f, DY + (size_t)gi * cog * L, (int)L, col + (size_t)gi * K * L,
                          (int)L, 1.0f, dW + (size_t)gi * cog * K, K);
        }
        if (dx) {
            for (int gi = 0; gi < G; gi++)
                spk__sgemm_det(1, 0, K, (int)L, cog, 1.0f, W + (size_t)gi * cog * K, K, DY + (size_t)gi * cog * L,
                          (int)L, 0.0f, col + (size_t)gi * K * L, (int)L);
            col2im_add(dx + (size_t)m0 * xrow, col, g, R);
        }
    }
}

void spk_op_conv_forward_ref(float *y, const float *x, const float *W, const float *b, const spk_conv_geom *g,
                             int M) {
    const int G = g->groups, cig = g->cin / G, cog = g->cout / G;
    for (int m = 0; m < M; m++)
        for (int co = 0; co < g->cout; co++) {
            const int gi = co / cog;
            for (int oy = 0; oy < g->out_h; oy++)
                for (int ox = 0; ox < g->out_w; ox++) {
                    double acc = b ? b[co] : 0.0;
                    for (int cl = 0; cl < cig; cl++) {
                        const int ci = gi * cig + cl;
                        for (int ky = 0; ky < g->k_h; ky++) {
                            const int iy = oy * g->stride_h - g->pad_h + ky * g->dil_h;
                            if (iy < 0 || iy >= g->in_h) continue;
                            for (int kx = 0; kx < g->k_w; kx++) {
                                const int ix = ox * g->stride_w - g->pad_w + kx * g->dil_w;
                                if (ix < 0 || ix >= g->in_w) continue;
                                double w = W[(((size_t)co * cig + cl) * g->k_h + ky) * g->k_w + kx];
                                double v = x[(((size_t)m * g->cin + ci) * g->in_h + iy) * g->in_w + ix];
                                acc += w * v;
                            }
                        }
                    }
                    y[(((size_t)m * g->cout + co) * g->out_h + oy) * g->out_w + ox] = (float)acc;
                }
        }
}
