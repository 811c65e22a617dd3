/* loss.c — classification losses on a readout recording [T, B, C] and the firing-rate
 * regularizer, each returning the batch-mean loss and its gradient w.r.t. the recording.
 *
 * All sums and the softmax run in double with the log-sum-exp shift (subtract the row max
 * before exp), so logits of any size are safe; the gradient is written once, in float.
 * What this file does not do: class weights, label smoothing, population codes, reductions
 * other than the mean (the trainer can scale the returned value and gradient itself).
 *
 * Preconditions (checked; a violation returns NaN and writes a zero gradient so a trainer's
 * non-finite check stops the run): T, B, C >= 1, non-NULL arrays, labels in [0, C). */
#include "core/core.h"

#include <math.h>
#include <string.h>

/* ---- helpers ------------------------------------------------------------------------ */

static int args_ok(const void *grad, const void *x, const int32_t *labels, int T, int B, int C) {
    if (!grad || !x || !labels || T < 1 || B < 1 || C < 1) return 0;
    for (int b = 0; b < B; b++)
        if (labels[b] < 0 || labels[b] >= C) return 0;
    return 1;
}

static double bad_args(float *grad, int T, int B, int C) {
    if (grad && T > 0 && B > 0 && C > 0) memset(grad, 0, (size_t)T * (size_t)B * (size_t)C * sizeof *grad);
    return NAN;
}

/* Cross-entropy of one row of logits z[C] with label y: returns -log softmax(z)[y] and
 * writes p[c] = softmax(z)[c] - [c == y] (the gradient of the row's loss w.r.t. z). */
static double ce_row(double *p, const double *z, int C, int y) {
    double zmax = z[0];
    for (int c = 1; c < C; c++)
        if (z[c] > zmax) zmax = z[c];
    double s = 0.0;
    for (int c = 0; c < C; c++) {
        p[c] = exp(z[c] - zmax);
        s += p[c];
    }
    double lse = zmax + log(s);
    for (int c = 0; c < C; c++) p[c] = p[c] / s - (c == y ? 1.0 : 0.0);
    return lse - z[y];
}

/* Scratch for one row of logits and one of gradients: on the stack for ordinary class counts,
 * from the allocator beyond. Returns NULL when the allocator fails. */
#define ROW_STACK 256
static double *row_scratch(double *stack, int C) {
    if (C <= ROW_STACK) return stack;
    return spk_malloc(2 * (size_t)C * sizeof(double));
}
static void row_release(double *buf, double *stack) {
    if (buf != stack) spk_free(buf);
}

/* ---- cross-entropy on spike counts / membrane ---------------------------------------- */

/* Shared by COUNT, SUM, MAX and LAST: logits z[b, c] are one function of x[:, b, c]; the
 * gradient of z w.r.t. x[t, b, c] is 1 for every t (sum) or 1 at a single step (max, last). */
typedef enum { RED_SUM, RED_MAX, RED_LAST } reduce_kind;

/* The step at which x[:, c] (stride BC between steps) is largest; the first one on ties. */
static int argmax_t(const float *x, int T, size_t BC, int c) {
    int tm = 0;
    for (int t = 1; t < T; t++)
        if (x[(size_t)t * BC + c] > x[(size_t)tm * BC + c]) tm = t;
    return tm;
}

static double ce_reduced(float *grad, const float *x, const int32_t *labels, int T, int B, int C,
                         reduce_kind red) {
    const size_t BC = (size_t)B * (size_t)C;
    if (red == RED_SUM) {
        /* the sums over time step by step through memory (per logit the same double sum, in
         * the same order, as a loop over t), then one step of gradient copied to every step:
         * a loop over t per logit went through memory BC floats apart (0.6 ms for [100, 64, 20]) */
        double *zs = spk_malloc((BC + (size_t)C) * sizeof(double)); /* the sums, then one row's p */
        if (!zs) return bad_args(grad, T, B, C);
        double *p = zs + BC;
        for (size_t k = 0; k < BC; k++) zs[k] = 0.0;
        for (int t = 0; t < T; t++) {
            const float *xt = x + (size_t)t * BC;
            for (size_t k = 0; k < BC; k++) zs[k] += xt[k];
        }
        double loss = 0.0;
        for (int b = 0; b < B; b++) {
            loss += ce_row(p, zs + (size_t)b * C, C, labels[b]);
            for (int c = 0; c < C; c++) grad[(size_t)b * C + c] = (float)(p[c] / B);
        }
        for (int t = 1; t < T; t++) memcpy(grad + (size_t)t * BC, grad, BC * sizeof *grad);
        spk_free(zs);
        return loss / B;
    }
    double stack[2 * ROW_STACK];
    double *z = row_scratch(stack, C);
    if (!z) return bad_args(grad, T, B, C);
    double *p = z + C;
    memset(grad, 0, (size_t)T * BC * sizeof *grad);
    double loss = 0.0;
    for (int b = 0; b < B; b++) {
        const float *xb = x + (size_t)b * C;
        for (int c = 0; c < C; c++) {
            int ts = red == RED_LAST ? T - 1 : argmax_t(xb, T, BC, c);
            z[c] = xb[(size_t)ts * BC + c];
        }
        loss += ce_row(p, z, C, labels[b]);
        float *gb = grad + (size_t)b * C;
        for (int c = 0; c < C; c++) {
            int ts = red == RED_LAST ? T - 1 : argmax_t(xb, T, BC, c);
            gb[(size_t)ts * BC + c] = (float)(p[c] / B);
        }
    }
    row_release(z, stack);
    return loss / B;
}

double spk_loss_ce_count(float *grad, const float *spk, const int32_t *labels, int T, int B, int C) {
    if (!args_ok(grad, spk, labels, T, B, C)) return bad_args(grad, T, B, C);
    return ce_reduced(grad, spk, labels, T, B, C, RED_SUM);
}

double spk_loss_ce_mem(float *grad, const float *mem, const int32_t *labels, int T, int B, int C,
                       spk_mem_reduce r) {
    if (!args_ok(grad, mem, labels, T, B, C) || (int)r < 0 || r >= SPK_MEM_REDUCE_COUNT)
        return bad_args(grad, T, B, C);
    if (r == SPK_MEM_SUM) return ce_reduced(grad, mem, labels, T, B, C, RED_SUM);
    if (r == SPK_MEM_MAX) return ce_reduced(grad, mem, labels, T, B, C, RED_MAX);
    if (r == SPK_MEM_LAST) return ce_reduced(grad, mem, labels, T, B, C, RED_LAST);

    /* PER_STEP: sum over t of the batch-mean CE of mem[t]; each step's gradient is its own.
     * The rows in parallel (their exp and log dominate), each row's loss kept and the losses
     * summed afterwards in row order: the same sum on any number of threads. */
    const size_t rows = (size_t)T * B;
    double *lr = spk_malloc(rows * sizeof(double));
    if (!lr) return bad_args(grad, T, B, C);
    int fail = 0;
#pragma omp parallel reduction(| : fail) if (rows * (size_t)C > 4096)
    {
        double stack[2 * ROW_STACK];
        double *z = row_scratch(stack, C);
        fail = !z;
#pragma omp for schedule(static)
        for (size_t r = 0; r < rows; r++) {
            if (!z) continue;
            const size_t off = r * C;
            for (int c = 0; c < C; c++) z[c] = mem[off + c];
            lr[r] = ce_row(z + C, z, C, labels[r % (size_t)B]) / B;
            for (int c = 0; c < C; c++) grad[off + c] = (float)(z[C + c] / B);
        }
        if (z) row_release(z, stack);
    }
    double loss = 0.0;
    for (size_t r = 0; r < rows; r++) loss += lr[r];
    spk_free(lr);
    return fail ? bad_args(grad, T, B, C) : loss;
}

/* ---- MSE on spike counts -------------------------------------------------------------- */

/* Target count of a class firing at `rate` for T steps: the integer part of rate*T, as
 * snnTorch's int(num_steps * rate). The 1e-4 allowance makes a float rate such as 0.7f
 * (0.69999999) give the same count as the decimal 0.7 does in Python (10 * 0.7 -> 7). */
static double target_count(float rate, int T) {
    double x = (double)rate * T;
    return x >= 0 ? floor(x + 1e-4) : ceil(x - 1e-4);
}

double spk_loss_mse_count(float *grad, const float *spk, const int32_t *labels, int T, int B, int C,
                          float correct_rate, float incorrect_rate) {
    if (!args_ok(grad, spk, labels, T, B, C) || !isfinite(correct_rate) || !isfinite(incorrect_rate))
        return bad_args(grad, T, B, C);
    const double on = target_count(correct_rate, T), off = target_count(incorrect_rate, T);
    const size_t BC = (size_t)B * (size_t)C;
    const double scale = 1.0 / ((double)BC * T); /* mean over B*C, then / T as snnTorch */
    double loss = 0.0;
    for (size_t bc = 0; bc < BC; bc++) {
        double cnt = 0.0;
        for (int t = 0; t < T; t++) cnt += spk[(size_t)t * BC + bc];
        double d = cnt - ((int)(bc % (size_t)C) == labels[bc / (size_t)C] ? on : off);
        loss += d * d;
        float g = (float)(2.0 * d * scale);
        for (int t = 0; t < T; t++) grad[(size_t)t * BC + bc] = g;
    }
    return loss * scale;
}

/* ---- first-spike-time cross-entropy ---------------------------------------------------
 * Forward: for each (b, c), tau[b, c] = the first step t with spk[t, b, c] > 0, or T when the
 * neuron never fires; logits z = -tau; loss = batch-mean CE(z, label). Earlier firing of the
 * labelled class and later firing of the others lower the loss.
 *
 * Backward (the rule, after snnTorch's ce_temporal_loss / SpikeTime.FirstSpike): tau is a step
 * function of the spikes, so its true gradient is zero almost everywhere. We use the sign
 * estimator d tau / d spk[t*, b, c] = -1 at the single step t* = tau[b, c] that produced it
 * ("a larger spike there means an earlier spike"), and 0 at every other step. A silent
 * neuron's time T has no step of its own: its gradient goes to the last step, t* = T - 1
 * (snnTorch places its "shadow spike" there too). With dL/dz = (softmax(z) - onehot)/B and
 * dz/dtau = -1 this gives
 *     grad[t*, b, c] = (softmax(z)[b, c] - [c == label_b]) / B,   grad = 0 elsewhere.
 * One difference from snnTorch, on purpose: it counts a silent neuron as firing at T - 1, the
 * same time as a real spike at the last step; here silence (T) is strictly later than any
 * spike, as the contract in spk.h says. */
double spk_loss_ce_first_spike(float *grad, const float *spk, const int32_t *labels, int T, int B, int C) {
    if (!args_ok(grad, spk, labels, T, B, C)) return bad_args(grad, T, B, C);
    double stack[2 * ROW_STACK];
    double *z = row_scratch(stack, C);
    if (!z) return bad_args(grad, T, B, C);
    double *p = z + C;
    const size_t BC = (size_t)B * (size_t)C;
    memset(grad, 0, (size_t)T * BC * sizeof *grad);
    double loss = 0.0;
    for (int b = 0; b < B; b++) {
        const float *sb = spk + (size_t)b * C;
        for (int c = 0; c < C; c++) {
            int tau = T;
            for (int t = 0; t < T; t++)
                if (sb[(size_t)t * BC + c] > 0.0f) { tau = t; break; }
            z[c] = -(double)tau;
        }
        loss += ce_row(p, z, C, labels[b]);
        float *gb = grad + (size_t)b * C;
        for (int c = 0; c < C; c++) {
            int tau = (int)-z[c];
            int ts = tau < T ? tau : T - 1;
            gb[(size_t)ts * BC + c] = (float)(p[c] / B);
        }
    }
    row_release(z, stack);
    return loss / B;
}

/* ---- firing-rate regularizer ------------------------------------------------------------
 * r_n = mean over (t, b) of spk[t, b, n]. L1: lambda * mean_n |r_n - target|, whose gradient
 * uses sign(0) = 0 (the subgradient torch's abs() backward uses). L2: lambda * mean_n
 * (r_n - target)^2. Adds (+=) d loss / d spk[t, b, n] = lambda * f'(r_n - target) / (N T B). */
double spk_loss_rate_reg(float *grad, const float *spk, int T, int B, int N, float target, float lambda, int l2) {
    if (!grad || !spk || T < 1 || B < 1 || N < 1 || !isfinite(target) || !isfinite(lambda)) return NAN;
    const size_t BN = (size_t)B * (size_t)N;
    const double inv_tb = 1.0 / ((double)T * B);
    double loss = 0.0;
    for (int n = 0; n < N; n++) {
        double s = 0.0;
        for (int t = 0; t < T; t++)
            for (int b = 0; b < B; b++) s += spk[(size_t)t * BN + (size_t)b * N + n];
        double d = s * inv_tb - target, dl;
        if (l2) {
            loss += d * d;
            dl = 2.0 * d;
        } else {
            loss += fabs(d);
            dl = d > 0 ? 1.0 : (d < 0 ? -1.0 : 0.0);
        }
        float g = (float)(lambda * dl * inv_tb / N);
        if (g == 0.0f) continue;
        for (int t = 0; t < T; t++)
            for (int b = 0; b < B; b++) grad[(size_t)t * BN + (size_t)b * N + n] += g;
    }
    return lambda * loss / N;
}
