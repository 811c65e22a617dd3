/* train_impl.h — losses, optimizers, learning-rate schedules and weight initialisation.
 * Internal to spk (the public surface is in spk.h once the trainer lands). Shapes: T steps,
 * B batch, C classes. Labels are int32 in [0, C). Every loss returns the batch-MEAN loss
 * (as torch's reduction='mean') and WRITES its gradient (=) w.r.t. its input array.
 * Preconditions: T, B, C >= 1, non-NULL arrays, labels in [0, C); when one fails the loss is
 * NaN and the gradient is written as zeros (the losses have no status to return). */
#ifndef SPK_TRAIN_IMPL_H
#define SPK_TRAIN_IMPL_H

#include "core/core.h"

/* ---- losses on a readout [T, B, C] ----------------------------------------------------- */
/* cross-entropy of logits = sum_t spikes[t] (spike counts)                                 */
double spk_loss_ce_count(float *grad, const float *spk, const int32_t *labels, int T, int B, int C);
/* cross-entropy on the readout membrane: SUM (logits = sum_t mem[t]), MAX (logits = max_t,
 * gradient to the arg-max step, first wins), LAST (logits = mem[T-1]), PER_STEP
 * (sum over t of CE(mem[t]) — snnTorch's usual training loss)                               */
typedef enum spk_mem_reduce { SPK_MEM_SUM = 0, SPK_MEM_MAX, SPK_MEM_LAST, SPK_MEM_PER_STEP, SPK_MEM_REDUCE_COUNT } spk_mem_reduce;
double spk_loss_ce_mem(float *grad, const float *mem, const int32_t *labels, int T, int B, int C, spk_mem_reduce r);
/* MSE between spike counts and target counts: correct class correct_rate*T, others
 * incorrect_rate*T; mean over B*C (snnTorch's mse_count_loss).
 * As snnTorch: the targets are the integer parts int(rate*T), and the mean is divided by T
 * once more: loss = mean_{b,c} (count - target)^2 / T.                                     */
double spk_loss_mse_count(float *grad, const float *spk, const int32_t *labels, int T, int B, int C,
                          float correct_rate, float incorrect_rate);
/* first-spike-time cross-entropy: logits = -(first spike step), T when silent; the gradient
 * reaches the spikes as documented in the implementation (loss.c): the whole dL/dlogit of
 * (b, c) lands on the first-spike step (step T-1 when silent), zero elsewhere.             */
double spk_loss_ce_first_spike(float *grad, const float *spk, const int32_t *labels, int T, int B, int C);
/* firing-rate regularizer on spikes [T, B, N]: per-neuron rate r_n = mean over (t, b);
 * L1: lambda * mean_n |r_n - target|; L2: lambda * mean_n (r_n - target)^2.
 * ACCUMULATES (+=) its gradient into grad (it is added to a task loss).                    */
double spk_loss_rate_reg(float *grad, const float *spk, int T, int B, int N, float target, float lambda, int l2);

/* ---- optimizers over one flat parameter array (the parameter arena) -------------------- */
typedef enum spk_optim_kind { SPK_OPT_SGD = 0, SPK_OPT_ADAM, SPK_OPT_ADAMW, SPK_OPT_KIND_COUNT } spk_optim_kind;
typedef struct spk_optim_config {
    spk_optim_kind kind;
    float lr;
    float momentum, dampening; /* SGD (torch semantics) */
    int nesterov;              /* SGD */
    float beta1, beta2, eps;   /* Adam/AdamW; defaults 0.9, 0.999, 1e-8 */
    float weight_decay;        /* SGD/Adam: L2 added to the gradient; AdamW: decoupled */
    float clip_norm;           /* > 0: scale all gradients so their global L2 norm <= clip_norm */
} spk_optim_config;
typedef struct spk_optim spk_optim;
spk_optim_config spk_optim_config_default(spk_optim_kind kind); /* torch's defaults, lr 1e-3 */
spk_status spk_optim_create(spk_optim **out, const spk_optim_config *cfg, size_t n);
void spk_optim_free(spk_optim *o);
/* One step with learning rate lr (from a schedule; cfg.lr is only a default for callers):
 * params -= update(grads). grads may be modified (clipping).
 * SPK_ERR_INVALID_ARG (nothing touched) for a NaN/negative lr. Returns the global gradient norm before clipping in *gnorm (if not
 * NULL). SPK_ERR_NUMERIC (params untouched) when a gradient is NaN or Inf. */
spk_status spk_optim_step(spk_optim *o, float *params, float *grads, float lr, double *gnorm);
/* The optimizer's state (moments and step count) as one flat array, for checkpoints; the
 * layout is described at the top of optim.c. Restore by copying into it. */
float *spk_optim_state(spk_optim *o, size_t *n_floats);

/* ---- learning-rate schedules ------------------------------------------------------------ */
typedef enum spk_sched_kind { SPK_SCHED_CONST = 0, SPK_SCHED_STEP, SPK_SCHED_COSINE, SPK_SCHED_KIND_COUNT } spk_sched_kind;
typedef struct spk_sched {
    spk_sched_kind kind;
    float base_lr;
    int warmup_steps;   /* linear warm-up from base_lr/warmup_steps... to base_lr over these steps */
    int step_size;      /* STEP: multiply by gamma every step_size steps (after warm-up) */
    float gamma;
    int total_steps;    /* COSINE: anneal to min_lr over total_steps (after warm-up), then hold min_lr */
    float min_lr;
} spk_sched;
/* step counts from 0. NaN for a configuration that cannot be evaluated (see sched.c). */
float spk_sched_lr(const spk_sched *s, long step);

/* ---- initialisation like torch's defaults, deterministic from (rng, draw) -------------- */
/* kaiming_uniform(a=sqrt(5)) for weights == U(-1/sqrt(fan_in), 1/sqrt(fan_in)); biases
 * U(-1/sqrt(fan_in), 1/sqrt(fan_in)). fan_in = in features (dense) or cin/groups*k_h*k_w. */
/* w[i] = bound * (2u - 1), u = spk_rng_uniform(rng, draw, i, 0): thread-independent.     */
void spk_init_uniform(float *w, size_t n, float bound, spk_rng rng, uint64_t draw);
float spk_init_bound(int fan_in); /* 1/sqrt(fan_in); 0 when fan_in < 1 (as torch) */

#endif
