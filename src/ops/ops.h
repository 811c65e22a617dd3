/* ops.h — synaptic op kernels: forward/backward pairs over M rows (M = T*B when a
 * feed-forward stretch runs layer-major over the whole sequence, M = B when a recurrent loop
 * runs step by step). Internal to spk; the graph (src/net) calls them.
 *
 * Argument order (DESIGN.md): outputs, then saved state for backward, then inputs and
 * parameters, then sizes. Forward writes its output (=). Backward ACCUMULATES (+=) into every
 * gradient it is given (dx, dW, db, ...); any gradient pointer may be NULL to skip it.
 * Arrays are float32, C order. Per-row layouts: dense [F]; conv/pool [C, H, W] (NCHW without
 * the row index; 1-d ops use H = 1). Shapes letters: M rows, T steps, B batch, F features. */
#ifndef SPK_OPS_H
#define SPK_OPS_H

#include "core/core.h"

/* ---- dense (affine when b != NULL, linear when b == NULL) ----------------------------
 * y[M,out] = x[M,in] W^T + b,  W [out, in] (torch's Linear layout), b [out].            */
void spk_op_dense_forward(float *y, const float *x, const float *W, const float *b, int M, int in, int out);
/* dx[M,in] += dy W;  dW[out,in] += dy^T x;  db[out] += sum over rows of dy */
void spk_op_dense_backward(float *dx, float *dW, float *db, const float *dy, const float *x, const float *W,
                           int M, int in, int out);

/* ---- dense on sparse inputs (spikes) --------------------------------------------------
 * A spiking input is mostly zeros: these kernels do work only for its nonzero entries, the
 * same function as the GEMM path up to float reassociation. The input is first compressed
 * into rows of (index, value) pairs (CSR, indices increasing); every sum runs over rows in
 * order and, within a row, over increasing input index, so results do not depend on the
 * number of threads. Shapes: x [M, in], W [out, in], Wt [in, out].                        */
typedef struct spk_csr {
    int M, cols;
    size_t nnz;
    int32_t *ptr;              /* [M + 1]: row m's entries are [ptr[m], ptr[m+1])        */
    int32_t *idx;              /* [nnz] column of each entry                             */
    float *val;                /* [nnz] its value                                        */
    size_t ptr_cap, cap;       /* allocated entries (grown as needed, owned)             */
    /* scratch of the sparse weight gradient (spk_op_dense_dw_sparse), owned, kept between
     * calls: the entries of each chunk of rows listed by column */
    int32_t *col_rows, *col_start;
    float *col_vals;
    size_t col_cap, col_start_cap;
    /* spk_op_csr_count's staging: each thread's rows compressed while counted, into idx / val
     * at stage_room entries apart, when the last count was filled (stage_room: per thread,
     * from that fill's nnz; 0: count only); staged: all of them fit (spk_op_csr_fill then
     * moves them into place instead of reading x again) */
    size_t stage_room;
    int stage_threads, staged, filled;
} spk_csr;
/* Count the nonzeros of x [M, cols] per row into c->ptr (allocated as needed) and return
 * their total (also c->nnz); (size_t)-1 when out of memory. */
size_t spk_op_csr_count(spk_csr *c, const float *x, int M, int cols);
/* (when the last count of this CSR was filled, the count compresses the rows too, and the
 * fill that follows does not read x again: give it the x counted) */
/* Fill c's entries from the same x after spk_op_csr_count; -1 when out of memory. */
int spk_op_csr_fill(spk_csr *c, const float *x);
/* A CSR from known row counts ([M], in row order): row starts and room for the entries, which
 * the caller writes at idx / val + ptr[m]. 0, or -1 without memory (or past INT32_MAX). */
int spk_op_csr_from_counts(spk_csr *c, const int32_t *counts, int M, int cols);
/* The nonzeros of one row x [cols] (NaN counts as nonzero), in column order, into idx / val
 * (room for cols entries each); returns their count. The rows of spk_op_csr_fill. */
int32_t spk_op_compress_row(const float *x, int cols, int32_t *idx, float *val);
void spk_op_csr_free(spk_csr *c);
/* 1 when the sparse forward (weight_grad = 0) or weight gradient (1) should be used for
 * `nnz` nonzeros in an [M, in] input feeding `out` outputs (density thresholds measured
 * against the GEMM; see dense.c). */
int spk_op_dense_prefer_sparse(size_t nnz, int M, int in, int out, int weight_grad);
/* dx[M,in] = dy[M,out] W[out,in]: the input gradient alone, written, not accumulated. */
void spk_op_dense_dx_set(float *dx, const float *dy, const float *W, int M, int in, int out);
/* One row of the input gradient, without threads: dx[in] = (acc ? dx : 0) + dy[out] W[out, in],
 * the outputs added in order (with AVX-512, one FMA each); with the narrow kernels
 * (spk_op_dense_narrow) the same floats as spk_op_dense_dx_set (acc 0) and
 * spk_op_dense_backward's dx (acc 1) give that row (wider layers: those take the GEMM). */
void spk_op_dense_dx_row(float *dx, const float *dy, const float *W, int in, int out, int acc);
/* The forward over R rows, without threads: y[r] = b + W[out, in] x[r] (b may be NULL), row r
 * of y at y + r * y_stride and of x at x + r * x_stride; each output a dot product over the
 * inputs (narrow layers: in 16-lane partial sums; a row's floats do not depend on R). */
void spk_op_dense_forward_rows(float *y, size_t y_stride, const float *x, size_t x_stride, const float *W, const float *b,
                               int R, int in, int out);
/* spk_op_dense_dx_row over R rows, without threads: row r of dx at dx + r * dx_stride, of dy
 * at dy + r * dy_stride; the same floats per row (narrow layers: the weights held over all R
 * rows; wider: tiles of 6 rows x 64 inputs in registers). */
void spk_op_dense_dx_rows(float *dx, size_t dx_stride, const float *dy, size_t dy_stride, const float *W, int R, int in,
                          int out, int acc);
/* One source of an input gradient: dy rows dy_stride apart, W [out, in]. */
typedef struct spk_dx_src {
    const float *dy;
    size_t dy_stride;
    const float *W;
    int out;
} spk_dx_src;
/* dx[r] = (acc ? dx[r] : 0) + the sum over the nsrc sources, in order, of dy[r] W: the same
 * floats as one spk_op_dense_dx_rows call per source (acc after the first), in one pass over
 * dx (the layers reading one population, their gradients added where they are made). */
void spk_op_dense_dx_rows_multi(float *dx, size_t dx_stride, const spk_dx_src *src, int nsrc, int R, int in, int acc);
/* A weight gradient over R rows, without threads: dW[out, in] += sum over r < R, in order, of
 * dy[r]^T x[r], row r of dy at dy + r * dy_stride and of x at x + r * x_stride. */
void spk_op_dense_dw_rows(float *dW, const float *dy, size_t dy_stride, const float *x, size_t x_stride, int R, int in,
                          int out);
/* Whether a dense layer with `out` outputs has the narrow kernels (a row of outputs in one
 * 16-lane register: input gradient without GEMM packing, per row): 1 or 0. */
int spk_op_dense_narrow(int out);
/* Wt[cols, rows] = W^T of W [rows, cols]. */
void spk_op_transpose(float *Wt, const float *W, int rows, int cols);
/* y[M,out] = b + sum over the entries (i, v) of row m of v * Wt[i,:] (gather-add). */
void spk_op_dense_forward_sparse(float *y, const spk_csr *x, const float *Wt, const float *b, int out);
/* One row of spk_op_dense_forward_sparse from its n entries (idx, val): y[out] = b + the
 * entries' rows of Wt in order, without threads; the same floats. */
void spk_op_dense_forward_entries(float *y, const int32_t *idx, const float *val, int32_t n, const float *Wt, const float *b,
                                  int out);
/* spk_op_dense_forward_sparse over R dense rows, without threads: each row's nonzeros
 * (column order) gathered into idx / val (scratch of `in` entries each), then the same floats
 * as the CSR version gives that row. Row r of y at y + r * y_stride, of x at x + r * x_stride. */
void spk_op_dense_forward_sparse_rows(float *y, size_t y_stride, const float *x, size_t x_stride, const float *Wt,
                                      const float *b, int R, int in, int out, int32_t *idx, float *val);
/* dW[out,in] += dy^T x over the entries of x only; scratch: spk_op_dense_dw_scratch(in, out)
 * floats (overwritten). */
void spk_op_dense_dw_sparse(float *dW, float *scratch, const float *dy, spk_csr *x, int out);
/* The floats of scratch spk_op_dense_dw_sparse needs: in * out, or in * 16 for narrow layers. */
size_t spk_op_dense_dw_scratch(int in, int out);

/* ---- convolution (1-d and 2-d) --------------------------------------------------------
 * x [M, cin, in_h, in_w] -> y [M, cout, out_h, out_w]; W [cout, cin/groups, k_h, k_w];
 * b [cout] or NULL. 1-d: in_h = k_h = 1 (use stride_h = dil_h = 1, pad_h = 0).
 * The workspace is capped (1 MiB, cache-sized): M is processed in equal chunks, in order.
 * out = floor((in + 2*pad - dil*(k-1) - 1)/stride) + 1 (torch's formula).               */
typedef struct spk_conv_geom {
    int cin, cout, groups;
    int in_h, in_w, k_h, k_w;
    int stride_h, stride_w, pad_h, pad_w, dil_h, dil_w;
    int out_h, out_w; /* computed by spk_conv_geom_init */
} spk_conv_geom;
/* Validate (positive sizes, cin and cout divisible by groups, output >= 1) and compute
 * out_h/out_w. SPK_ERR_SHAPE / SPK_ERR_INVALID_ARG with a message in the thread's error. */
spk_status spk_conv_geom_init(spk_conv_geom *g);
/* Floats of scratch the conv kernels need for M rows (im2col buffers). */
size_t spk_op_conv_workspace(const spk_conv_geom *g, int M);
void spk_op_conv_forward(float *y, float *ws, const float *x, const float *W, const float *b,
                         const spk_conv_geom *g, int M);
void spk_op_conv_backward(float *dx, float *dW, float *db, float *ws, const float *dy, const float *x,
                          const float *W, const spk_conv_geom *g, int M);
/* Convolution on a spiking input from its nonzero entries only (conv_sparse.c; groups = 1):
 * the same function as the two above up to float reassociation. x is the input [M, cin,
 * in_h, in_w] as CSR (rows M, columns cin*in_h*in_w); Wr = W^T [cin*k_h*k_w, cout]
 * (spk_op_transpose(Wr, W, cout, cin*k_h*k_w)). Both return -1 (nothing written) when out
 * of memory for their scratch. The input gradient stays with spk_op_conv_backward.       */
/* 1 when the sparse forward (weight_grad = 0) or weight gradient (1) should be used for `nnz`
 * nonzeros in M input rows (density thresholds measured against im2col + GEMM; see
 * conv_sparse.c). */
int spk_op_conv_prefer_sparse(size_t nnz, int M, const spk_conv_geom *g, int weight_grad);
int spk_op_conv_forward_sparse(float *y, const spk_csr *x, const float *Wr, const float *b, const spk_conv_geom *g);
/* dW [cout, cin*k_h*k_w] += dy^T x over the nonzero entries of x (dy [M, cout, out_h, out_w]) */
int spk_op_conv_dw_sparse(float *dW, const float *dy, const spk_csr *x, const spk_conv_geom *g);
/* The plain direct-loop reference convolution (for tests; slow). */
void spk_op_conv_forward_ref(float *y, const float *x, const float *W, const float *b, const spk_conv_geom *g, int M);

/* ---- pooling (sum / average / max), 2-d (1-d with in_h = k_h = 1) ---------------------- */
typedef enum spk_pool_kind { SPK_POOL_SUM = 0, SPK_POOL_AVG, SPK_POOL_MAX, SPK_POOL_KIND_COUNT } spk_pool_kind;
typedef struct spk_pool_geom {
    spk_pool_kind kind;
    int c, in_h, in_w, k_h, k_w, stride_h, stride_w, pad_h, pad_w;
    int count_include_pad; /* AVG: divide by k_h*k_w (1, torch's default) or by the in-bounds count (0) */
    int out_h, out_w;      /* computed by spk_pool_geom_init */
} spk_pool_geom;
spk_status spk_pool_geom_init(spk_pool_geom *g);
/* argmax [M, c, out_h, out_w]: MAX only (flat index into the row's [in_h*in_w] plane of the
 * winning input; first maximum wins; padding never wins), NULL otherwise; max-pool backward
 * routes dy through it (it does not see x). Geometry errors: SPK_ERR_INVALID_ARG for
 * non-positive sizes, SPK_ERR_SHAPE for an empty output or padding > kernel/2 (torch's rule). */
void spk_op_pool_forward(float *y, int32_t *argmax, const float *x, const spk_pool_geom *g, int M);
void spk_op_pool_backward(float *dx, const float *dy, const int32_t *argmax, const spk_pool_geom *g, int M);

/* ---- scale: y[M,F] = x * s[F] (NIR Scale) --------------------------------------------- */
void spk_op_scale_forward(float *y, const float *x, const float *s, int M, int F);
void spk_op_scale_backward(float *dx, float *ds, const float *dy, const float *x, const float *s, int M, int F);
/* bias: y[M,F] += b[F] (Scale with a bias); backward db[F] += sum over rows of dy (rows
 * 0..M-1 in order, in double) */
void spk_op_bias_forward(float *y, const float *b, int M, int F);
void spk_op_bias_backward(float *db, const float *dy, int M, int F);

/* ---- dropout with one mask per sample held over all T steps -----------------------------
 * mask [B, F]: 0 or 1/(1-p), drawn from (rng, draw) — `draw` numbers the mask (e.g. the
 * training step), so the same (seed, draw) gives the same mask at any thread count.
 * Rows are time-major [T, B]: row m uses mask row m % B.                                   */
void spk_op_dropout_mask(float *mask, float p, spk_rng rng, uint64_t draw, int B, int F);
void spk_op_dropout_forward(float *y, const float *mask, const float *x, int T, int B, int F);
void spk_op_dropout_backward(float *dx, const float *dy, const float *mask, int T, int B, int F);

/* ---- integer axonal delay per feature: y[t,b,f] = x[t - d[f], b, f] (0 for t < d[f]) ---- */
void spk_op_delay_forward(float *y, const float *x, const int32_t *d, int T, int B, int F);
void spk_op_delay_backward(float *dx, const float *dy, const int32_t *d, int T, int B, int F);
/* One step t of the same op reading the stored input sequence x [T,B,F] (steps <= t: a
 * delay of 0 reads step t itself, so it must already be computed). */
void spk_op_delay_step(float *y_t, const float *x, const int32_t *d, int t, int B, int F);

/* ---- spiking self-attention without softmax (attention.c) ------------------------------
 * Per row, x holds q, k and v one after the other, each [D, N] (D channels, N tokens):
 * x [M, 3, D, N] -> y [M, D, N]. Heads split D into `heads` blocks of d = D / heads
 * channels; head h uses channels [h*d, (h+1)*d) of q, k, v and writes the same of y.
 *   SPIKFORMER: y_h = scale * (Q K^T) V in token-major notation (Q = q_h^T [N, d]), computed
 *     as y_h = scale * (v_h k_h^T) q_h: a [d, d] product first, cheaper than the [N, N]
 *     scores when N > d; with no softmax both orders are the same function.
 *   STOCHASTIC: per (row, head), scores S[i, j] ~ Bernoulli(clamp(sum_c q[c,i] k[c,j] / d))
 *     and y[c, i] ~ Bernoulli(clamp(sum_j S[i,j] v[c,j] / N)): 0/1 outputs, `scale` unused.
 *     Uniforms from (rng, step = draw << 34 | stage << 32 | t, index = (b*heads + h) << 32
 *     | element / 4, lane element % 4), row m = t*B + b of rows [t0*B, ...).
 * Backward (ACCUMULATES into dx [M, 3, D, N]): the exact gradient of the SPIKFORMER
 * function; for STOCHASTIC the gradient of its expectation given q, k, v, which for inputs
 * in [0, 1] is the SPIKFORMER function with scale 1 / (N d) (straight-through estimate).
 * Forward and backward return 0, or -1 (nothing written) when out of memory for scratch. */
typedef struct spk_attn_geom {
    int D, N, heads;
    float scale;
    int stochastic;   /* 0 SPIKFORMER, 1 STOCHASTIC */
} spk_attn_geom;
int spk_op_attention_forward(float *y, const float *x, const spk_attn_geom *g, int M, spk_rng rng, uint64_t draw, int t0, int B);
int spk_op_attention_backward(float *dx, const float *dy, const float *x, const spk_attn_geom *g, int M);
/* The plain loop references: scores [N, N] first ((Q K^T) V), one element at a time. */
int spk_op_attention_forward_ref(float *y, const float *x, const spk_attn_geom *g, int M, spk_rng rng, uint64_t draw, int t0, int B);
void spk_op_attention_backward_ref(float *dx, const float *dy, const float *x, const spk_attn_geom *g, int M);
/* ---- batch norm per channel (tdBN, norm.c) ----------------------------------------------
 * x, y [M, C, S]: M rows (T*B), C channels, S positions per channel (1 for a flat input).
 * k = alpha * v_th scales the normalized value: y = gamma * k * (x - mean) * istd + beta.
 * Training: mean and istd = 1/sqrt(var + eps) of the batch (biased variance, sums in double)
 * are written to mean[C], istd[C] for backward, and the running statistics rm, rv move by
 * `momentum` (the variance unbiased, n/(n-1)); not when the result would not be a finite
 * float (a non-finite batch leaves them as they were). Inference: the running ones are used. */
void spk_op_norm_forward_train(float *y, float *mean, float *istd, float *rm, float *rv, const float *x, const float *gamma,
                               const float *beta, float k, float eps, float momentum, int M, int C, int S);
void spk_op_norm_forward_eval(float *y, const float *x, const float *gamma, const float *beta, const float *rm, const float *rv,
                              float k, float eps, int M, int C, int S);
/* Training backward (through the batch statistics) and inference backward (the affine). */
void spk_op_norm_backward_train(float *dx, float *dgamma, float *dbeta, const float *dy, const float *x, const float *mean,
                                const float *istd, const float *gamma, float k, int M, int C, int S);
void spk_op_norm_backward_eval(float *dx, float *dgamma, float *dbeta, const float *dy, const float *x, const float *gamma,
                               const float *rm, const float *rv, float k, float eps, int M, int C, int S);

#endif
