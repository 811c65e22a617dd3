/* threads.c — the thread count (OpenMP, and OpenBLAS kept in step with it) and the BLAS
 * wrapper. spk never starts threads of its own: OpenMP does. */
#include "core/core.h"

#include <cblas.h>
#include <omp.h>
#include <stdlib.h>

static int spk_threads = 0; /* 0: not chosen yet */

static void apply_threads(int n) {
    spk_threads = n;
    omp_set_num_threads(n);
    openblas_set_num_threads(n);
}

spk_status spk_set_threads(int n) {
    if (n < 1) return spk__fail(NULL, SPK_ERR_INVALID_ARG, "threads = %d: must be >= 1", n);
    apply_threads(n);
    return SPK_OK;
}

int spk_get_threads(void) {
    if (spk_threads == 0) {
        const char *e = getenv("SPK_THREADS");
        int n = e ? atoi(e) : 0;
        apply_threads(n >= 1 ? n : omp_get_max_threads());
    }
    return spk_threads;
}

void spk_sgemm(int transa, int transb, int m, int n, int k, float alpha, const float *a, int lda,
               const float *b, int ldb, float beta, float *c, int ldc) {
    cblas_sgemm(CblasRowMajor, transa ? CblasTrans : CblasNoTrans, transb ? CblasTrans : CblasNoTrans,
                m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}
