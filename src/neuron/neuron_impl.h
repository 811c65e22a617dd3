/* neuron_impl.h — the inside of a neuron population, shared by the files of src/neuron/.
 * Parameters are stored per neuron in one flat block (and their gradients in a second one
 * of the same layout), so a model can later place both in its arenas. */
#ifndef SPK_NEURON_IMPL_H
#define SPK_NEURON_IMPL_H

#include "core/core.h"

#include <math.h>

struct spk_neuron {
    spk__obj obj;
    spk_neuron_config cfg;      /* AUTO surrogate resolved, scale resolved */
    int n;
    int nslots;
    int slot[SPK_SLOT_COUNT];   /* offset in units of B*N, or -1 */
    int used[SPK_NP_COUNT];     /* whether the kind uses each parameter */
    float *param[SPK_NP_COUNT]; /* N values each (NULL when unused) */
    float *grad[SPK_NP_COUNT];
    float *lam_re, *lam_im;     /* COMPLEX: derived from TAU and OMEGA */
    float *block;               /* owns params, grads and derived arrays */
    float *scratch;             /* backward's partial sums, kept between calls (owned) */
    size_t scratch_n;           /* floats in scratch */
};

/* dS/du of surrogate k at u with a resolved scale (> 0); NaN for AUTO. Inline: the backward
 * kernels call it per element. */
static inline float spk__surr(spk_surrogate_kind k, float scale, float u) {
    float a;
    switch (k) {
    case SPK_SURR_ATAN: { /* (sigma/pi)/(sigma^2+u^2) = (1/(pi sigma)) / (1 + (u/sigma)^2) */
        float z = u / scale;
        return 0.318309886f / scale / (1.0f + z * z);
    }
    case SPK_SURR_ERF: {
        float z = u / scale;
        return expf(-z * z) / (scale * 1.7724538509055159f);
    }
    case SPK_SURR_FAST_SIGMOID:
        a = scale * fabsf(u) + 1.0f;
        return 1.0f / (a * a);
    case SPK_SURR_SIGMOID: {
        float sg = 1.0f / (1.0f + expf(-scale * u));
        return scale * sg * (1.0f - sg);
    }
    case SPK_SURR_TRIANGLE:
        a = 1.0f - fabsf(u) / scale;
        return a > 0 ? a / scale : 0.0f;
    case SPK_SURR_EXP:
        return 0.5f * scale * expf(-scale * fabsf(u));
    case SPK_SURR_STE:
        return fabsf(u) < 0.5f * scale ? 1.0f / scale : 0.0f;
    case SPK_SURR_SOFTPLUS_RAMP:
        return 1.0f / (1.0f + expf(-scale * (u + 0.5f)));
    default:
        return NAN;
    }
}


/* Derived values of one firing decision, for backward. */
typedef struct spk__fire_grad {
    float dsdm;   /* d n / d mem  (through the surrogate)        */
    float dsdthr; /* d n / d thr                                 */
} spk__fire_grad;

/* Spike count for potential m (real part) and threshold thr of one element. */
float spk__fire(const spk_neuron *nr, float m, float thr, int64_t t, uint64_t index);
/* Surrogate derivatives of the spike count at (m, thr). */
spk__fire_grad spk__fire_grad_at(const spk_neuron *nr, float m, float thr);
/* Firing probability P(n >= k | m) for the noisy kinds (k >= 1). */
double spk__p_at_least(const spk_neuron *nr, double m, double thr, int k);

/* The COMPLEX kind's steps (neuron_complex.c). */
spk_status spk__complex_step(const spk_neuron *nr, int B, int64_t t, float *state, float *u,
                             float *s, const float *x, const float *x_im, float *s_im);
spk_status spk__complex_step_backward(spk_neuron *nr, int B, int64_t t, float *dstate, float *dx,
                                      float *dx_im, const float *state_prev, const float *s,
                                      const float *x, const float *x_im, const float *ds,
                                      const float *ds_im, const float *dmem);
void spk__complex_update_lam(spk_neuron *nr);

/* Move parameter p's storage to caller-owned arrays (a network's arenas): the current
 * values are copied into `param` and the gradient accumulator becomes `grad`. */
void spk__neuron_bind_param(spk_neuron *nr, spk_neuron_param p, float *param, float *grad);
/* Set every neuron's value of parameter p without validation (a network broadcasting a
 * shared learnable value the optimizer changed). */
void spk__neuron_fill_param(spk_neuron *nr, spk_neuron_param p, float value);
/* Recompute derived quantities after parameters were changed in place (complex lam). */
void spk__neuron_params_changed(spk_neuron *nr);

/* The plain reference forward step for the real kinds (neuron_step.c), exposed so tests
 * can compare it with the optimized kernels. */
spk_status spk__neuron_step_ref(const spk_neuron *nr, int B, int64_t t, float *state, float *u,
                                float *s, const float *x);
/* The plain reference backward step for the real kinds (spk_neuron_step_backward takes a
 * fused kernel for the populations spk__neuron_has_fast_path accepts). */
spk_status spk__neuron_step_backward_ref(spk_neuron *nr, int B, int64_t t, float *dstate, float *dx, const float *state_prev,
                                         const float *s, const float *x, const float *ds, const float *dmem);
/* 1 when spk_neuron_step takes an optimized kernel for this population. */
int spk__neuron_has_fast_path(const spk_neuron *nr);
/* 1 when spk__neuron_step_into applies: the fused LIF kernel with a state of V and S only. */
int spk__neuron_step_into_ok(const spk_neuron *nr);
/* spk_neuron_step out of place, for the network's step loop: prev [S, B, N] is the state
 * after step t-1 (read only), state [S, B, N] receives the state after step t, mem [B, N]
 * the reported membrane (V after the step), u and s as spk_neuron_step. The same results
 * bit for bit. Only for populations spk__neuron_step_into_ok accepts (no checks here). */
void spk__neuron_step_into(const spk_neuron *nr, int B, const float *prev, float *state, float *u, float *s, float *mem,
                           const float *x);
/* 1 when the thin step applies: spk__neuron_step_into_ok and delayed timing. Then the state
 * after step t is exactly (membrane, spikes) of step t, and the membrane is the potential u. */
int spk__neuron_thin_ok(const spk_neuron *nr);
/* Steps [0, nt) of a population spk__neuron_thin_ok accepts, keeping no state of its own:
 * v_init and s_init [B, N] are the state before step 0 (the previous membrane and spikes);
 * step t writes the spikes s[t] and the membrane mem[t] ([nt, B, N]; the membrane = the
 * potential = the new V) from the input x + t * x_step (x_step 0: the same input at every
 * step, else B * N). The state before step t > 0 is (mem[t-1], s[t-1]). The same floats as
 * spk__neuron_step_into step after step, bit for bit; rows run through all their steps in
 * turn, in parallel. par: NULL, or the decays and thresholds to use ([2][N], lam then thr)
 * in place of the population's own (values it had earlier). */
void spk__neuron_steps_thin(const spk_neuron *nr, int B, int nt, const float *v_init, const float *s_init, float *s,
                            float *mem, const float *x, size_t x_step, const float *par);

/* One step of spk__neuron_steps_thin for `rows` consecutive rows ([rows, N] each: the input
 * x, the state before the step (v0, s0), the spikes s and membrane mem written), serial: for
 * a caller that runs its own parallel loop over rows (the network's recurrent cells). The
 * same floats as spk__neuron_steps_thin. */
void spk__neuron_thin_step_rows(const spk_neuron *nr, int rows, const float *x, const float *v0, const float *s0, float *s,
                                float *mem);

/* Rows of a thin population are grouped in blocks of this many for partial sums. */
#define SPK__THIN_BLOCK_ROWS 8
/* The blocks of SPK__THIN_BLOCK_ROWS rows that B rows make (the last one may be short). */
static inline int spk__thin_blocks(int B) { return (B + SPK__THIN_BLOCK_ROWS - 1) / SPK__THIN_BLOCK_ROWS; }
/* A consumer of one row of a thin population's steps: row b (in block blk = b /
 * SPK__THIN_BLOCK_ROWS) with its spikes at steps 0..nt-1 at s + t * N. Called from several
 * threads at once, each for its own rows; a block's rows in order on one thread. The spikes
 * are the consumer's to overwrite (nothing reads them after). */
typedef void (*spk__thin_row_fn)(void *ctx, int blk, int b, float *s);
/* The floats of scratch each thread needs for spk__neuron_steps_thin_rows and a recomputing
 * backward (a multiple of 16). */
size_t spk__thin_rows_scratch(const spk_neuron *nr, int nt);
/* spk__neuron_steps_thin with the outputs kept for one row at a time: each row's spikes and
 * membranes go into its thread's part of scratch (omp_get_max_threads() parts of
 * spk__thin_rows_scratch floats) and are handed to fn; nothing else is written. The same
 * floats as spk__neuron_steps_thin. */
void spk__neuron_steps_thin_rows(const spk_neuron *nr, int B, int nt, const float *v_init, const float *s_init,
                                 const float *x, size_t x_step, float *scratch, spk__thin_row_fn fn, void *ctx);

/* The backward of spk__neuron_steps_thin over steps [0, nt), last to first (arrays as there;
 * step t of this call is step t0 + t of a T-step run). spk_neuron_step_backward's fused path
 * runs it for one step, with the potential u as mem. */
typedef struct {
    int B, nt, t0, T;
    int tbptt_k;                    /* > 0: the state gradient is cleared before step t0+t
                                     * when (t0+t+1) % tbptt_k == 0 and t0+t < T-1 */
    const float *v_init, *s_init;   /* [B, N] the state before step 0 (s_init NULL when the
                                     * population keeps no spike state) */
    const float *mem, *s;           /* [nt, B, N] the forward's membranes and spikes; mem NULL:
                                     * not kept, each row's recomputed from x and the initial
                                     * state (the same floats) in scratch, t0 = 0 */
    float *scratch;                 /* mem NULL: omp_get_max_threads() parts of
                                     * spk__thin_rows_scratch floats */
    spk__thin_row_fn row_done;      /* mem NULL: called with each row's spikes after its
                                     * backward, or NULL */
    /* mem NULL, when set: replaces ds_row: the spike gradient of row b at every step, [nt][N]
     * (N apart), written into buf (nt * N floats of the thread's scratch) or found elsewhere;
     * NULL: none */
    const float *(*ds_steps)(void *ctx, int b, float *buf);
    const float *x;                 /* the input, step t at x + t * x_step */
    float *dx;                      /* += the input gradient, step t at dx + t * x_step (with
                                     * x_step 0: summed over the steps) */
    size_t x_step;                  /* 0 or B * N */
    float *dstate;                  /* [S, B, N] the state gradient after step nt-1, in-out */
    const float *ds, *dmem;         /* [nt, B, N] the spike and membrane gradients, or NULL */
    /* when set, replaces ds: the spike gradient of row b at step t, [N] (NULL: none); called
     * from several threads at once, each for its own rows */
    const float *(*ds_row)(void *ctx, int t, int b);
    void *ctx;
    int param_grads;                /* 0: the decay and threshold gradients are not wanted
                                     * (neither is learnable) and the previous state is not read */
} spk__thin_bw;
/* SPK_ERR_NOMEM (recorded on nr) when the partial sums cannot be allocated. */
spk_status spk__neuron_steps_backward_thin(spk_neuron *nr, const spk__thin_bw *a);
/* spk__neuron_steps_backward_thin in serial pieces, for a caller that runs its own parallel
 * loop (the network's recurrent cells, one step at a time over each thread's own rows):
 *   partials: the lam / thr partial sums for nsteps calls of nt = 1 (pgrad: a->param_grads),
 *     NULL without memory (recorded on nr); step t's part starts at
 *     t * ceil(B / SPK__THIN_BLOCK_ROWS) * 2N when pgrad, else every call uses the start;
 *   blocks: the backward of the row blocks [blk0, blk1) (SPK__THIN_BLOCK_ROWS rows each);
 *   reduce: with pgrad, after the last step, add the partials to the gradients, last step
 *     first (the same sums as nsteps separate calls). */
float *spk__neuron_thin_bw_partials(spk_neuron *nr, int B, int nsteps, int pgrad);
void spk__neuron_thin_bw_blocks(spk_neuron *nr, const spk__thin_bw *a, float *part, int blk0, int blk1);
void spk__neuron_thin_bw_reduce(spk_neuron *nr, int B, int nsteps);

#endif
