/* gemm.c — the GEMM the op kernels use: spk_sgemm (OpenBLAS) called on fixed tiles, so the
 * result does not depend on the number of threads.
 *
 * Why: one multithreaded OpenBLAS call splits its output among however many threads it has,
 * and the edge kernels then round some entries differently; measured with OpenBLAS 0.3.21,
 * y = x W^T differs in the last bits between 1 and 2 threads. Here the decomposition is a
 * function of the shapes alone:
 *   - C is cut into TILE_M x TILE_N tiles (narrower for a small C); each tile is one single-threaded spk_sgemm call,
 *     and the tiles run in parallel under OpenMP (BLAS is held at one thread meanwhile).
 *   - When C is small (few tiles) but k is long (a weight gradient summed over many rows),
 *     k is cut into a fixed number of chunks whose partial products are computed in
 *     parallel and then added in chunk order.
 * Either way the same shapes give the same float operations in the same order.
 *
 * Deliberately not here: a GEMM of our own (OpenBLAS does the arithmetic), and thread-local
 * BLAS settings: the BLAS thread count is a process-wide setting, lowered to one for the
 * duration of a call and restored after, so concurrent spk calls from several user threads
 * are correct but may run with fewer BLAS threads. If the partial buffer of the k split
 * cannot be allocated, the call falls back to unsplit tiles (correct, rounded differently). */
#include "ops/ops_impl.h"

#include <cblas.h>

#define TILE_M 128
#define TILE_N 256
#define TILE_GROW_ABOVE 8        /* larger tiles while C has more tiles than this ...       */
#define TILE_GROW_MAX 1024       /* ... up to this height and width                          */
#define KSPLIT_MAX_TILES 8       /* split k only when C has fewer tiles than this ...        */
#define KSPLIT_MAX_MN 65536      /* ... and at most this many entries (partials stay small) */
#define KSPLIT_CHUNK 2048        /* k per partial product, at least                         */
#define KSPLIT_MAX 16            /* partial products, at most                               */

static inline int cdiv(int a, int b) { return (a + b - 1) / b; }

/* Sub-matrix pointers: rows i0.. of op(A), columns j0.. of op(B), k from k0. */
static inline const float *a_at(int transa, const float *a, int lda, int i0, int k0) {
    return transa ? a + (size_t)k0 * lda + i0 : a + (size_t)i0 * lda + k0;
}
static inline const float *b_at(int transb, const float *b, int ldb, int k0, int j0) {
    return transb ? b + (size_t)j0 * ldb + k0 : b + (size_t)k0 * ldb + j0;
}

/* Tile width: TILE_N, halved (down to 64) while C would have fewer than 4 tiles, so that a
 * small product (a recurrent layer's step: 64 x 256) still spreads over threads. A function
 * of the shape alone. */
static int tile_n(int m, int n) {
    int w = TILE_N;
    while (w > 64 && cdiv(m, TILE_M) * cdiv(n, w) < 4) w /= 2;
    return w;
}

/* Tile height: TILE_M, doubled (up to TILE_GROW_MAX, then the width likewise) while C would
 * have more than TILE_GROW_ABOVE tiles. Each tile call packs its own panels of op(A) and op(B)
 * again: with 128 x 256 tiles, 8000 x 1024 x 1024 packed about 380 MB for 17 GFLOP, and ran
 * 6 % (x W^T) and 15 % (dY^T X) slower than in 1024-wide tiles. A function of the shape alone. */
static void tile_dims(int m, int n, int *tm, int *tw) {
    int TM = TILE_M, TN = tile_n(m, n);
    while (cdiv(m, TM) * cdiv(n, TN) > TILE_GROW_ABOVE) {
        if (TM < TILE_GROW_MAX && TM < m) TM *= 2;
        else if (TN < TILE_GROW_MAX && TN < n) TN *= 2;
        else break;
    }
    *tm = TM;
    *tw = TN;
}

static void tiles(int transa, int transb, int m, int n, int k, float alpha, const float *a, int lda, const float *b,
                  int ldb, float beta, float *c, int ldc) {
    int TM, TN;
    tile_dims(m, n, &TM, &TN);
    const int tn = cdiv(n, TN), nt = cdiv(m, TM) * tn;
#pragma omp parallel for schedule(static) if (nt > 1)
    for (int t = 0; t < nt; t++) {
        const int i0 = t / tn * TM, j0 = t % tn * TN;
        const int mi = m - i0 < TM ? m - i0 : TM, nj = n - j0 < TN ? n - j0 : TN;
        spk_sgemm(transa, transb, mi, nj, k, alpha, a_at(transa, a, lda, i0, 0), lda, b_at(transb, b, ldb, 0, j0), ldb,
                  beta, c + (size_t)i0 * ldc + j0, ldc);
    }
}

/* k in nk chunks: partial[s] = op(A)[:, ks] op(B)[ks, :], then C = alpha * sum_s + beta * C. */
static void ksplit(int transa, int transb, int m, int n, int k, int nk, float alpha, const float *a, int lda,
                   const float *b, int ldb, float beta, float *c, int ldc, float *part) {
    const size_t mn = (size_t)m * n;
    const int tn = cdiv(n, TILE_N), nt = cdiv(m, TILE_M) * tn, jobs = nk * nt;
#pragma omp parallel for schedule(static)
    for (int job = 0; job < jobs; job++) {
        const int s = job / nt, t = job % nt;
        const int k0 = (int)((int64_t)s * k / nk), k1 = (int)((int64_t)(s + 1) * k / nk);
        const int i0 = t / tn * TILE_M, j0 = t % tn * TILE_N;
        const int mi = m - i0 < TILE_M ? m - i0 : TILE_M, nj = n - j0 < TILE_N ? n - j0 : TILE_N;
        spk_sgemm(transa, transb, mi, nj, k1 - k0, 1.0f, a_at(transa, a, lda, i0, k0), lda,
                  b_at(transb, b, ldb, k0, j0), ldb, 0.0f, part + (size_t)s * mn + (size_t)i0 * n + j0, n);
    }
#pragma omp parallel for schedule(static) if (mn * nk > 65536)
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) {
            float acc = part[(size_t)i * n + j];
            for (int s = 1; s < nk; s++) acc += part[(size_t)s * mn + (size_t)i * n + j];
            float *cij = c + (size_t)i * ldc + j;
            *cij = beta == 0.0f ? alpha * acc : alpha * acc + beta * *cij;
        }
}

void spk__sgemm_det(int transa, int transb, int m, int n, int k, float alpha, const float *a, int lda,
                    const float *b, int ldb, float beta, float *c, int ldc) {
    if (m <= 0 || n <= 0) return;
    if (k <= 0) { /* no products: C = beta * C, no threads involved */
        spk_sgemm(transa, transb, m, n, 0, alpha, a, lda, b, ldb, beta, c, ldc);
        return;
    }
    const int saved = spk_get_threads();
    openblas_set_num_threads(1);
    const int nt = cdiv(m, TILE_M) * cdiv(n, TILE_N);
    int nk = 1;
    if (nt < KSPLIT_MAX_TILES && (size_t)m * n <= KSPLIT_MAX_MN && k >= 2 * KSPLIT_CHUNK)
        nk = k / KSPLIT_CHUNK < KSPLIT_MAX ? k / KSPLIT_CHUNK : KSPLIT_MAX;
    float *part = nk > 1 ? spk_malloc((size_t)nk * m * n * sizeof(float)) : NULL;
    if (part) {
        ksplit(transa, transb, m, n, k, nk, alpha, a, lda, b, ldb, beta, c, ldc, part);
        spk_free(part);
    } else {
        tiles(transa, transb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    }
    openblas_set_num_threads(saved);
}
