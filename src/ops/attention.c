/* attention.c — spiking self-attention without softmax, the op behind SPK_NODE_ATTENTION:
 * the Spikformer form y = scale * (Q K^T) V per head, and the stochastic form whose products
 * are AND gates on spikes counted and turned into Bernoulli spikes. Forward and backward
 * (the stochastic backward is the gradient of its expectation), a fast path of small GEMMs
 * per (row, head) and a plain-loop reference. ops.h states the layouts and formulas.
 *
 * Deliberately not here: the q/k/v projections and the neurons around the op (they are
 * ordinary conv and neuron nodes of the graph), and any softmax. */
#include "ops/ops_impl.h"

#include <cblas.h>
#include <omp.h>
#include <string.h>

/* the uniform for element e of stage `stage` (0 scores, 1 outputs) of (row m, head h) */
static float draw_u(spk_rng rng, uint64_t draw, int stage, int t, int b, int heads, int h, size_t e) {
    uint64_t step = (draw << 34) | ((uint64_t)stage << 32) | (uint32_t)t;
    uint64_t index = ((uint64_t)((size_t)b * heads + h) << 32) | (uint64_t)(e >> 2);
    return spk_rng_uniform(rng, step, index, (unsigned)(e & 3));
}

static inline float clamp01(float p) { return p < 0.0f ? 0.0f : p > 1.0f ? 1.0f : p; }

/* Bernoulli spikes of a block of n probabilities p = c * inv, four uniforms per Philox call */
static void bernoulli_block(float *out, const float *c, float inv, size_t n, spk_rng rng, uint64_t draw, int stage, int t,
                            int b, int heads, int h) {
    uint64_t step = (draw << 34) | ((uint64_t)stage << 32) | (uint32_t)t;
    uint64_t base = (uint64_t)((size_t)b * heads + h) << 32;
    for (size_t e0 = 0; e0 < n; e0 += 4) {
        float u[4];
        spk_rng_uniform4(rng, step, base | (uint64_t)(e0 >> 2), u);
        for (size_t l = 0; l < 4 && e0 + l < n; l++) out[e0 + l] = u[l] < clamp01(c[e0 + l] * inv) ? 1.0f : 0.0f;
    }
}

/* scratch floats per (row, head) work item */
static size_t scratch_per_item(const spk_attn_geom *g, int backward) {
    size_t d = (size_t)(g->D / g->heads), N = (size_t)g->N;
    if (backward) return 2 * d * d;
    return g->stochastic ? N * N + d * N : d * d;
}

int spk_op_attention_forward(float *y, const float *x, const spk_attn_geom *g, int M, spk_rng rng, uint64_t draw, int t0, int B) {
    const int D = g->D, N = g->N, H = g->heads, d = D / H;
    const size_t DN = (size_t)D * N, per = scratch_per_item(g, 0);
    const int items = M * H, nthr = omp_get_max_threads();
    float *ws = spk_malloc((size_t)(nthr > 0 ? nthr : 1) * per * sizeof(float));
    if (!ws) return -1;
    const int saved = spk_get_threads();
    openblas_set_num_threads(1);
#pragma omp parallel for schedule(static) if (items > 1)
    for (int it = 0; it < items; it++) {
        const int m = it / H, h = it % H;
        float *w = ws + (size_t)omp_get_thread_num() * per;
        const float *q = x + (size_t)m * 3 * DN + (size_t)h * d * N, *k = q + DN, *v = k + DN;
        float *yh = y + (size_t)m * DN + (size_t)h * d * N;
        if (!g->stochastic) {
            /* G [d, d] = v k^T, then y = scale * G q */
            spk_sgemm(0, 1, d, d, N, 1.0f, v, N, k, N, 0.0f, w, d);
            spk_sgemm(0, 0, d, N, d, g->scale, w, d, q, N, 0.0f, yh, N);
        } else {
            const int t = t0 + m / B, b = m % B;
            float *S = w, *Z = w + (size_t)N * N;
            /* AND counts C[i, j] = sum_c q[c, i] k[c, j] (exact integers for spikes) */
            spk_sgemm(1, 0, N, N, d, 1.0f, q, N, k, N, 0.0f, S, N);
            bernoulli_block(S, S, 1.0f / (float)d, (size_t)N * N, rng, draw, 0, t, b, H, h);
            /* counts Z[c, i] = sum_j v[c, j] S[i, j] */
            spk_sgemm(0, 1, d, N, N, 1.0f, v, N, S, N, 0.0f, Z, N);
            bernoulli_block(yh, Z, 1.0f / (float)N, (size_t)d * N, rng, draw, 1, t, b, H, h);
        }
    }
    openblas_set_num_threads(saved);
    spk_free(ws);
    return 0;
}

int spk_op_attention_backward(float *dx, const float *dy, const float *x, const spk_attn_geom *g, int M) {
    const int D = g->D, N = g->N, H = g->heads, d = D / H;
    const size_t DN = (size_t)D * N, per = scratch_per_item(g, 1);
    const float s = g->stochastic ? 1.0f / ((float)N * (float)d) : g->scale;
    const int items = M * H, nthr = omp_get_max_threads();
    float *ws = spk_malloc((size_t)(nthr > 0 ? nthr : 1) * per * sizeof(float));
    if (!ws) return -1;
    const int saved = spk_get_threads();
    openblas_set_num_threads(1);
#pragma omp parallel for schedule(static) if (items > 1)
    for (int it = 0; it < items; it++) {
        const int m = it / H, h = it % H;
        float *G = ws + (size_t)omp_get_thread_num() * per, *dG = G + (size_t)d * d;
        const size_t off = (size_t)h * d * N;
        const float *q = x + (size_t)m * 3 * DN + off, *k = q + DN, *v = k + DN, *dyh = dy + (size_t)m * DN + off;
        float *dq = dx + (size_t)m * 3 * DN + off, *dk = dq + DN, *dv = dk + DN;
        spk_sgemm(0, 1, d, d, N, 1.0f, v, N, k, N, 0.0f, G, d);        /* G = v k^T          */
        spk_sgemm(1, 0, d, N, d, s, G, d, dyh, N, 1.0f, dq, N);         /* dq += s G^T dy     */
        spk_sgemm(0, 1, d, d, N, s, dyh, N, q, N, 0.0f, dG, d);         /* dG = s dy q^T      */
        spk_sgemm(0, 0, d, N, d, 1.0f, dG, d, k, N, 1.0f, dv, N);       /* dv += dG k         */
        spk_sgemm(1, 0, d, N, d, 1.0f, dG, d, v, N, 1.0f, dk, N);       /* dk += dG^T v       */
    }
    openblas_set_num_threads(saved);
    spk_free(ws);
    return 0;
}

/* ---------------------------------------------------------------- reference ------------ */

int spk_op_attention_forward_ref(float *y, const float *x, const spk_attn_geom *g, int M, spk_rng rng, uint64_t draw, int t0, int B) {
    const int D = g->D, N = g->N, H = g->heads, d = D / H;
    const size_t DN = (size_t)D * N;
    float *A = spk_malloc((size_t)N * N * sizeof(float));
    if (!A) return -1;
    for (int m = 0; m < M; m++)
        for (int h = 0; h < H; h++) {
            const size_t off = (size_t)h * d * N;
            const float *q = x + (size_t)m * 3 * DN + off, *k = q + DN, *v = k + DN;
            float *yh = y + (size_t)m * DN + off;
            const int t = t0 + m / B, b = m % B;
            for (int i = 0; i < N; i++) /* scores A[i, j] = sum_c q[c, i] k[c, j] */
                for (int j = 0; j < N; j++) {
                    float a = 0.0f;
                    for (int c = 0; c < d; c++) a += q[(size_t)c * N + i] * k[(size_t)c * N + j];
                    if (g->stochastic) a = draw_u(rng, draw, 0, t, b, H, h, (size_t)i * N + j) < clamp01(a / (float)d) ? 1.0f : 0.0f;
                    A[(size_t)i * N + j] = a;
                }
            for (int c = 0; c < d; c++)
                for (int i = 0; i < N; i++) {
                    float z = 0.0f;
                    for (int j = 0; j < N; j++) z += A[(size_t)i * N + j] * v[(size_t)c * N + j];
                    yh[(size_t)c * N + i] = g->stochastic ? (draw_u(rng, draw, 1, t, b, H, h, (size_t)c * N + i) < clamp01(z / (float)N) ? 1.0f : 0.0f)
                                                          : g->scale * z;
                }
        }
    spk_free(A);
    return 0;
}

void spk_op_attention_backward_ref(float *dx, const float *dy, const float *x, const spk_attn_geom *g, int M) {
    const int D = g->D, N = g->N, H = g->heads, d = D / H;
    const size_t DN = (size_t)D * N;
    const float s = g->stochastic ? 1.0f / ((float)N * (float)d) : g->scale;
    for (int m = 0; m < M; m++)
        for (int h = 0; h < H; h++) {
            const size_t off = (size_t)h * d * N;
            const float *q = x + (size_t)m * 3 * DN + off, *k = q + DN, *v = k + DN, *dyh = dy + (size_t)m * DN + off;
            float *dq = dx + (size_t)m * 3 * DN + off, *dk = dq + DN, *dv = dk + DN;
            for (int i = 0; i < N; i++)
                for (int j = 0; j < N; j++) {
                    float a = 0.0f, da = 0.0f; /* A[i, j] and dL/dA[i, j] */
                    for (int c = 0; c < d; c++) {
                        a += q[(size_t)c * N + i] * k[(size_t)c * N + j];
                        da += dyh[(size_t)c * N + i] * v[(size_t)c * N + j];
                    }
                    da *= s;
                    for (int c = 0; c < d; c++) {
                        dv[(size_t)c * N + j] += s * dyh[(size_t)c * N + i] * a;
                        dq[(size_t)c * N + i] += da * k[(size_t)c * N + j];
                        dk[(size_t)c * N + j] += da * q[(size_t)c * N + i];
                    }
                }
        }
}
