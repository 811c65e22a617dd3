/* ops_impl.h — internals shared by the op kernels of src/ops (not used outside it). */
#ifndef SPK_OPS_IMPL_H
#define SPK_OPS_IMPL_H

#include "ops/ops.h"

/* C = alpha * op(A) op(B) + beta * C, row-major, with the same arguments as spk_sgemm, but
 * with a result that does not depend on the thread count (gemm.c says how). When beta == 0,
 * C is not read. */
void spk__sgemm_det(int transa, int transb, int m, int n, int k, float alpha, const float *a, int lda,
                    const float *b, int ldb, float beta, float *c, int ldc);

#endif
