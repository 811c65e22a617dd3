/*
 * spk.h — the public API of spk, a library for spiking neural networks (SNNs).
 *
 * This header is the manual. Every public name starts with `spk_` (types, functions) or
 * `SPK_` (constants); everything else in the library is internal.
 *
 * Overview
 * --------
 *   status    Every function that can fail returns an `spk_status`; 0 (SPK_OK) is success.
 *             Objects keep a last-error message that says what was wrong and where:
 *             `spk_errmsg(obj)`. The library never exits and never prints unasked.
 *   memory    All memory goes through one replaceable allocator (`spk_set_allocator`);
 *             model memory lives in a few flat arenas (`spk_arena`).
 *   random    A counter-based generator (Philox4x32-10) keyed by (seed, stream) and
 *             addressed by a 128-bit counter: a draw depends on the seed, the step and the
 *             neuron index, never on thread scheduling.
 *   threads   OpenMP; the count comes from `spk_set_threads` or the SPK_THREADS variable.
 *   neuron    The generalized neuron of SPEC.md §1 (`spk_neuron`): decay and integrate,
 *             deterministic / noisy / graded firing, hard / soft / refractory / no reset,
 *             CuBa synaptic current, adaptive threshold, complex resonate-and-fire, with
 *             forward and backward (surrogate gradient) steps over a batch.
 *
 * Shapes are written with letters defined once: T time steps, B batch, N neurons.
 * Arrays are float32, C order, time-major: [T, B, N].
 *
 * Worked example: 100 steps of a LIF population with snnTorch's defaults
 * ----------------------------------------------------------------------
 *     spk_neuron_config cfg = spk_neuron_config_default();   // LIF, beta 0.9, thr 1
 *     spk_neuron *nr;
 *     if (spk_neuron_create(&nr, &cfg, N) != SPK_OK) { puts(spk_errmsg(NULL)); ... }
 *     float *state = calloc(spk_neuron_state_size(nr, B), sizeof(float));
 *     for (int t = 0; t < 100; t++)
 *         spk_neuron_step(nr, B, t, state, NULL, spikes + t*B*N, x + t*B*N, NULL, NULL);
 *     spk_neuron_free(nr);
 */
#ifndef SPK_H
#define SPK_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SPK_VERSION_MAJOR 0
#define SPK_VERSION_MINOR 1
#define SPK_VERSION_PATCH 0
#define SPK_VERSION_STRING "0.1.0"

/* ======================================================================================
 * Status codes
 * ====================================================================================== */

/* Result of every fallible call. Codes are append-only; SPK_STATUS_COUNT is the sentinel. */
typedef enum spk_status {
    SPK_OK = 0,
    SPK_ERR_INVALID_ARG,   /* a parameter is out of range, NaN, NULL where not allowed */
    SPK_ERR_NOMEM,         /* the allocator returned NULL */
    SPK_ERR_SHAPE,         /* array shapes do not fit together */
    SPK_ERR_IO,            /* a file could not be opened, read or written */
    SPK_ERR_FORMAT,        /* a file or text is malformed */
    SPK_ERR_UNSUPPORTED,   /* a valid request that this build or model cannot do */
    SPK_ERR_NUMERIC,       /* NaN or Inf appeared in a computation */
    SPK_ERR_STATE,         /* the call is not allowed in the object's current state */
    SPK_STATUS_COUNT
} spk_status;

/* A short constant English name for a status ("invalid argument", ...). Never NULL; an
 * unknown code gives "unknown status". */
const char *spk_status_str(spk_status st);

/* The last error message recorded on `obj` (any spk object pointer: spk_neuron, spk_arena,
 * spk_progress), or, when obj is NULL, the calling thread's last message from a function
 * that has no object yet (e.g. a failed spk_neuron_create). Returns "" when there is none.
 * The string lives until the next failing call on the same object / thread. */
const char *spk_errmsg(const void *obj);

/* Library version string, e.g. "0.1.0". */
const char *spk_version(void);

/* ======================================================================================
 * Memory: one replaceable allocator, and arenas
 * ====================================================================================== */

/* The allocator interface. `realloc_fn` may be NULL (spk then never reallocates).
 * `free_fn(ud, NULL)` must be a no-op. */
typedef struct spk_allocator {
    void *(*malloc_fn)(void *ud, size_t size);
    void *(*realloc_fn)(void *ud, void *ptr, size_t size);
    void (*free_fn)(void *ud, void *ptr);
    void *ud;
} spk_allocator;

/* Replace the allocator used by every later spk allocation (NULL restores malloc/free).
 * Not thread-safe: call before creating objects, and free objects with the allocator that
 * made them. */
void spk_set_allocator(const spk_allocator *a);

/* Allocate / free through the current allocator. spk_malloc returns NULL on failure or
 * size 0. spk_calloc zeroes and checks n*size for overflow. */
void *spk_malloc(size_t size);
void *spk_calloc(size_t n, size_t size);
void spk_free(void *p);

/* An arena: one block, bump-allocated, freed as a whole. Model memory (parameters,
 * gradients, optimizer state, activations) is laid out in a few of these, sized from a
 * table before allocating. Every allocation is aligned to 64 bytes (a cache line). */
typedef struct spk_arena spk_arena;

/* Create an arena of `capacity` bytes, zero-filled. SPK_ERR_NOMEM on failure. */
spk_status spk_arena_create(spk_arena **out, size_t capacity);
/* Take `size` bytes (64-byte aligned). Returns NULL and records a message on the arena when
 * it is full. */
void *spk_arena_alloc(spk_arena *a, size_t size);
/* Bytes used so far (including alignment padding) and total capacity. */
size_t spk_arena_used(const spk_arena *a);
size_t spk_arena_capacity(const spk_arena *a);
/* The whole block, for one-write checkpoint I/O; `spk_arena_used` bytes are meaningful. */
void *spk_arena_data(spk_arena *a);
/* Forget every allocation (memory is kept and zeroed). */
void spk_arena_reset(spk_arena *a);
void spk_arena_free(spk_arena *a);

/* ======================================================================================
 * Random numbers: Philox4x32-10, counter-based
 * ====================================================================================== */

/* The raw Philox4x32-10 bijection (Salmon et al. 2011): 4 words of counter, 2 of key. */
void spk_philox4x32(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4]);

/* A generator key: the seed and a stream id (e.g. a population's index). */
typedef struct spk_rng {
    uint64_t seed;
    uint64_t stream;
} spk_rng;

/* The raw 4 x 32 random bits of position (step, index): for integer draws. */
void spk_rng_bits4(spk_rng r, uint64_t step, uint64_t index, uint32_t out[4]);
/* Four independent uniform draws in (0, 1) — never exactly 0 or 1; 23 bits each, values
 * (k + 1/2) / 2^23 — for position (step, index) of the generator. Same arguments, same
 * numbers, on any thread. */
void spk_rng_uniform4(spk_rng r, uint64_t step, uint64_t index, float out[4]);
/* One uniform in (0, 1) for (step, index, lane): lane 0..3 selects a word of the block. */
float spk_rng_uniform(spk_rng r, uint64_t step, uint64_t index, unsigned lane);
/* out[j] = spk_rng_uniform(r, step, index + j, lane) for j < n: the same numbers, the key
 * derived once for the run (no threads). */
void spk_rng_uniform_run(spk_rng r, uint64_t step, uint64_t index, size_t n, unsigned lane, float *out);
/* Two independent standard normal draws (Box-Muller on one block). */
void spk_rng_normal2(spk_rng r, uint64_t step, uint64_t index, float out[2]);
/* A random permutation of 0..n-1 into idx (Fisher-Yates), numbered by `draw` (e.g. the
 * epoch): the same (seed, stream, draw) gives the same order on any machine. */
void spk_rng_permutation(spk_rng r, uint64_t draw, int32_t *idx, int n);

/* ======================================================================================
 * Threads and BLAS
 * ====================================================================================== */

/* Set the number of threads used by spk's OpenMP loops and by OpenBLAS (n >= 1).
 * SPK_ERR_INVALID_ARG for n < 1. Without a call the count comes from the SPK_THREADS
 * environment variable, else from OpenMP's default. */
spk_status spk_set_threads(int n);
/* The number of threads spk will use. */
int spk_get_threads(void);

/* C = alpha * op(A) op(B) + beta * C, row-major, single precision: a thin wrapper over
 * OpenBLAS's cblas_sgemm. transa/transb are 0 (no) or 1 (transpose). */
void spk_sgemm(int transa, int transb, int m, int n, int k, float alpha, const float *a,
               int lda, const float *b, int ldb, float beta, float *c, int ldc);

/* ======================================================================================
 * Progress display for long work
 * ====================================================================================== */

/* On a terminal it redraws one line with a bar, a count, a rate and an ETA; when the
 * stream is not a terminal it prints a plain line at most every `interval` seconds (and at
 * the end). Output goes only to the stream given, and only between begin and end. */
typedef struct spk_progress spk_progress;

/* Start a progress display titled `title` for `total` units (0 if unknown) written to the
 * stream `fp` (a FILE *). `interval_s` is the period of plain lines (<= 0 means 2 s). */
spk_status spk_progress_begin(spk_progress **out, void *fp, const char *title, uint64_t total,
                              double interval_s);
/* Report that `done` units are finished; `note` (may be NULL) is appended, e.g. "loss 0.31". */
void spk_progress_update(spk_progress *p, uint64_t done, const char *note);
/* Finish the line (prints a final line with the total time) and free the display. */
void spk_progress_end(spk_progress *p);
/* Whether the display draws a bar (the stream is a terminal) or plain lines. */
int spk_progress_is_tty(const spk_progress *p);

/* ======================================================================================
 * The generalized neuron (SPEC.md §1)
 * ====================================================================================== */

/* Neuron families. Append-only. */
typedef enum spk_neuron_kind {
    SPK_NEURON_LIF = 0,    /* u = lam*v + g*x                                        */
    SPK_NEURON_CUBA,       /* i = alpha*i + x ; u = lam*v + g*i  (the updated current) */
    SPK_NEURON_ALIF,       /* LIF with threshold thr + adapt_beta*a, a = adapt_rho*a + s */
    SPK_NEURON_COMPLEX,    /* resonate-and-fire: complex v, lam = exp(-1/tau + i*omega)  */
    SPK_NEURON_KIND_COUNT
} spk_neuron_kind;

/* Firing functions p_spike. Append-only. */
typedef enum spk_fire_kind {
    SPK_FIRE_HEAVISIDE = 0, /* n = 1 iff Re(u) > thr (strict)                                 */
    SPK_FIRE_GAUSS,         /* P(spike) = (1 + erf((u - thr)/sigma)) / 2                      */
    SPK_FIRE_CAUCHY,        /* P(spike) = 1/2 + atan((u - thr)/sigma) / pi                    */
    SPK_FIRE_GRADED,        /* n = #{k >= 1 : u > k*thr} (a staircase), capped at n_max if > 0 */
    SPK_FIRE_NONE,          /* never fires: a leaky integrator (readout)                      */
    SPK_FIRE_KIND_COUNT
} spk_fire_kind;

/* Reset functions r(u, s). Append-only. */
typedef enum spk_reset_kind {
    SPK_RESET_SOFT = 0,     /* subtract the threshold: v = u - s*thr (snnTorch "subtract")     */
    SPK_RESET_HARD,         /* to v_reset, keeping the input of the step that follows a
                               delayed reset (snnTorch Leaky "zero")                           */
    SPK_RESET_HARD_ALL,     /* to v_reset, dropping the whole update of the reset step,
                               input included (snnTorch Synaptic / RLeaky "zero"). With the
                               same-step timing it is identical to SPK_RESET_HARD.            */
    SPK_RESET_REFRACTORY,   /* to v_reset (an undershoot, usually < 0), then ref_steps steps
                               in which the membrane ignores its input (a CuBa current keeps
                               integrating) and the neuron cannot fire                       */
    SPK_RESET_NONE,         /* no reset                                                       */
    SPK_RESET_KIND_COUNT
} spk_reset_kind;

/* When the reset computed from a spike is applied. Append-only. */
typedef enum spk_reset_timing {
    /* snnTorch's default (reset_delay=True): at step t the reset from the spike of step t-1 is
     * applied while integrating: u(t) = lam*v(t-1) + x(t) - s(t-1)*thr. The reported membrane
     * is the pre-reset u(t), which may exceed thr. */
    SPK_TIMING_DELAYED = 0,
    /* reset in the same step (SPEC order decay, integrate, fire, reset):
     * u(t) = lam*v(t-1) + x(t); s(t) = fire(u(t)); v(t) = r(u(t), s(t)). The reported membrane
     * is the post-reset v(t) (snnTorch reset_delay=False). */
    SPK_TIMING_SAME_STEP,
    /* snnTorch's reset_delay=False exactly, which its NIR importer uses: at step t
     * r = H(v(t-1) - thr) from the post-reset membrane (detached; 0 unless the membrane was
     * still above threshold after a reset), m = lam*v(t-1) + x(t) - r*thr, s(t) = H(m - thr),
     * v(t) = m - (s - r)*thr (soft) or m - (s - r)*(m - v_reset) (hard). It differs from
     * SPK_TIMING_SAME_STEP only when a membrane stays above threshold after its reset. */
    SPK_TIMING_SAME_STEP_SNNTORCH,
    SPK_TIMING_COUNT
} spk_reset_timing;

/* Surrogate gradients dS/du, u = Re(mem) - thr. `scale` meaning per kind (0 = default):
 *   ATAN          Cauchy scale sigma: (sigma/pi)/(sigma^2+u^2). Default 1/pi, equal to
 *                 snnTorch's atan(alpha=2); in general sigma = 2/(pi*alpha).
 *   ERF           Gaussian scale sigma: exp(-(u/sigma)^2)/(sigma*sqrt(pi)). Default 0.5.
 *   FAST_SIGMOID  slope k: 1/(k|u|+1)^2 (SuperSpike; snnTorch fast_sigmoid). Default 25.
 *   SIGMOID       slope k: k*sig(ku)*(1-sig(ku)). Default 5.
 *   TRIANGLE      half-width w: max(0, 1-|u|/w)/w. Default 1.
 *   EXP           slope k: (k/2)*exp(-k|u|). Default 5.
 *   STE           width w: 1/w on |u| < w/2, else 0 (straight-through on a box). Default 1.
 *   SOFTPLUS_RAMP sharpness e, for graded spikes: with x = mem/thr - 1,
 *                 d/dmem = sig(e*(x + 1/2))/thr, the derivative of the ramp
 *                 softplus(e*(mem/thr - 1/2))/e. Default 4.
 *   AUTO          the derivative of the neuron's own firing probability: ERF for Gaussian
 *                 noise, ATAN for Cauchy noise (both with the noise's sigma, summed over
 *                 levels for graded noisy neurons), SOFTPLUS_RAMP for deterministic graded,
 *                 ATAN (default scale) for deterministic Heaviside. */
typedef enum spk_surrogate_kind {
    SPK_SURR_AUTO = 0,
    SPK_SURR_ATAN,
    SPK_SURR_ERF,
    SPK_SURR_FAST_SIGMOID,
    SPK_SURR_SIGMOID,
    SPK_SURR_TRIANGLE,
    SPK_SURR_EXP,
    SPK_SURR_STE,
    SPK_SURR_SOFTPLUS_RAMP,
    SPK_SURR_KIND_COUNT
} spk_surrogate_kind;

/* Short lower-case names ("lif", "gauss", "soft", "delayed", "atan", ...) for printing and
 * for parsing with spk_*_from_name. Unknown values give NULL / -1. */
const char *spk_neuron_kind_name(spk_neuron_kind k);
const char *spk_fire_kind_name(spk_fire_kind k);
const char *spk_reset_kind_name(spk_reset_kind k);
const char *spk_reset_timing_name(spk_reset_timing k);
const char *spk_surrogate_name(spk_surrogate_kind k);
int spk_neuron_kind_from_name(const char *s);
int spk_fire_kind_from_name(const char *s);
int spk_reset_kind_from_name(const char *s);
int spk_reset_timing_from_name(const char *s);
int spk_surrogate_from_name(const char *s);

/* The resolved surrogate for a scale (0 = the kind's default): its derivative dS/du and
 * its primitive P(u) (a firing probability or expected spike count whose derivative is the
 * surrogate: the test of every surrogate is a finite difference of P). For SOFTPLUS_RAMP,
 * u is x = mem/thr - 1 and the value is d/dx (divide by thr for d/dmem). AUTO is invalid
 * here (NaN). */
float spk_surrogate_grad(spk_surrogate_kind k, float scale, float u);
double spk_surrogate_primitive(spk_surrogate_kind k, float scale, double u);
/* The default scale of a surrogate kind. */
float spk_surrogate_default_scale(spk_surrogate_kind k);

/* The configuration of a neuron population: everything except per-neuron arrays.
 * Start from spk_neuron_config_default() and change fields. Scalars here are the shared
 * values; per-neuron values are set afterwards with spk_neuron_set_param. */
typedef struct spk_neuron_config {
    spk_neuron_kind kind;
    spk_fire_kind fire;
    spk_reset_kind reset;
    spk_reset_timing timing;
    int detach_reset;           /* 1: no gradient flows through the reset term (snnTorch's
                                   default for the delayed timing); 0: it does           */
    spk_surrogate_kind surrogate;
    float surrogate_scale;      /* 0 = the kind's default (see spk_surrogate_kind)        */

    float lam;                  /* decay (beta) of v, |lam| <= 1; LIF/CUBA/ALIF. Default 0.9 */
    float thr;                  /* threshold, > 0. Default 1                              */
    float alpha;                /* CUBA current decay, |alpha| <= 1. Default 0.8         */
    float gain;                 /* input gain g (e.g. Lapicque's R/(RC)*dt). Default 1    */
    float v_reset;              /* hard / refractory reset value. Default 0               */
    int ref_steps;              /* refractory hold in steps (>= 0). Default 0             */
    float sigma;                /* noise scale for GAUSS / CAUCHY firing (> 0). Default 0.5 */
    int n_max;                  /* graded spikes cap, 0 = none                            */
    int graded_noise;           /* graded firing: 0 deterministic, or SPK_FIRE_GAUSS /
                                   SPK_FIRE_CAUCHY threshold noise shared by all levels
                                   (Cauchy needs n_max > 0: its expected count diverges)  */
    float adapt_rho;            /* ALIF adaptation decay, |rho| <= 1. Default 0.95        */
    float adapt_beta;           /* ALIF adaptation strength (>= 0). Default 1.8           */
    float tau_m;                /* COMPLEX membrane constant in steps (>= 0; 0 = no decay,
                                   |lam| = 1). Default 20                                 */
    float omega;                /* COMPLEX frequency in radians per step, [0, 2*pi).
                                   Default 0.3                                            */
    int clamp_decay;            /* 1: clamp lam and alpha to [0, 1] in the forward pass as
                                   snnTorch does (gradient 0 outside). Default 1          */
    int replicas;               /* stochastic firing: average R >= 1 independent draws per
                                   step, so s = (n_1 + ... + n_R)/R; the mean is unchanged
                                   and the variance shrinks as 1/R (a way to trade compute
                                   for variance). Default 1                               */
    spk_rng rng;                /* key for stochastic firing                              */
} spk_neuron_config;

/* The defaults: LIF, Heaviside, soft reset, delayed timing, detached reset, AUTO surrogate
 * (= snnTorch's atan(alpha=2)), lam 0.9, thr 1 — snnTorch's snn.Leaky(beta=0.9). */
spk_neuron_config spk_neuron_config_default(void);

/* Check a configuration. SPK_ERR_INVALID_ARG with a message naming the field
 * (e.g. "lam = 1.5: |lam| must be <= 1") in the thread's last error. */
spk_status spk_neuron_config_check(const spk_neuron_config *cfg);

/* A population of N neurons with one parameter set (per-neuron arrays where set). */
typedef struct spk_neuron spk_neuron;

/* Create a population of n >= 1 neurons from a checked configuration. On failure *out is
 * NULL and spk_errmsg(NULL) says why. */
spk_status spk_neuron_create(spk_neuron **out, const spk_neuron_config *cfg, int n);
void spk_neuron_free(spk_neuron *nr);
/* The configuration and size the population was made with. */
const spk_neuron_config *spk_neuron_get_config(const spk_neuron *nr);
int spk_neuron_size(const spk_neuron *nr);

/* Learnable / per-neuron parameters. Each is stored as a vector of N values (a shared value
 * is N copies; in a network, spk_net_set_learnable(..., SPK_LEARN_SHARED) trains one value
 * for all N, its gradient the sum of the N). Append-only. */
typedef enum spk_neuron_param {
    SPK_NP_LAM = 0,   /* decay of v (LIF/CUBA/ALIF)                     */
    SPK_NP_THR,       /* threshold                                      */
    SPK_NP_ALPHA,     /* CUBA current decay                             */
    SPK_NP_OMEGA,     /* COMPLEX frequency (radians per step)           */
    SPK_NP_TAU,       /* COMPLEX membrane constant (steps)              */
    SPK_NP_COUNT
} spk_neuron_param;

/* Set a parameter from `count` values: count == 1 sets every neuron to values[0]; count == N
 * sets one per neuron. Every value is checked first (range, NaN); on SPK_ERR_INVALID_ARG the
 * message names the parameter, the neuron index and the value, and nothing is changed. */
spk_status spk_neuron_set_param(spk_neuron *nr, spk_neuron_param p, const float *values,
                                int count);
/* Read-only view of a parameter's N values (NULL if the kind does not use it). */
const float *spk_neuron_get_param(const spk_neuron *nr, spk_neuron_param p);
/* The gradient accumulator of a parameter, N values (summed over batch and time by the
 * backward steps; a shared parameter's total is the sum of the N entries). NULL if unused. */
float *spk_neuron_grad(spk_neuron *nr, spk_neuron_param p);
/* Zero every gradient accumulator. */
void spk_neuron_zero_grad(spk_neuron *nr);

/* State. A population's state for a batch of B is `spk_neuron_state_size(nr, B)` floats
 * laid out as S slots of [B, N] (membrane, its imaginary part, synaptic current,
 * adaptation, previous spike, refractory counter, as the kind needs). All zeros is the
 * initial state (every state is 0 before t = 0). */
size_t spk_neuron_state_size(const spk_neuron *nr, int B);
/* The slots, for reading a state (offsets in units of B*N floats; -1 when absent). */
typedef enum spk_neuron_slot {
    SPK_SLOT_V = 0,   /* membrane (real part); what the framework reports as "mem"   */
    SPK_SLOT_VI,      /* membrane imaginary part (COMPLEX)                          */
    SPK_SLOT_I,       /* synaptic current (CUBA)                                    */
    SPK_SLOT_A,       /* adaptation (ALIF)                                          */
    SPK_SLOT_S,       /* spike of the previous step (count n, real)                 */
    SPK_SLOT_REF,     /* refractory steps left                                      */
    SPK_SLOT_COUNT
} spk_neuron_slot;
int spk_neuron_slot_offset(const spk_neuron *nr, spk_neuron_slot slot);

/* One forward step for a batch.
 *   state  [S, B, N]  in: state after step t-1; out: state after step t.
 *   u      [B, N]     out (may be NULL): the potential tested for firing at step t (Re part);
 *                     needed by the backward step for the same-step timing.
 *   s      [B, N]     out: spikes (count n; for COMPLEX the real part of n*u/|u|).
 *   x      [B, N]     in: input current (real part).
 *   x_im   [B, N]     in: imaginary input (COMPLEX only; may be NULL = 0).
 *   s_im   [B, N]     out: imaginary spike part (COMPLEX only; may be NULL).
 *   t                 the step index, which addresses the random generator with the
 *                     batch row and neuron index: results do not depend on threads.
 * Returns SPK_ERR_INVALID_ARG for NULL arrays or B < 1. */
spk_status spk_neuron_step(const spk_neuron *nr, int B, int64_t t, float *state, float *u,
                           float *s, const float *x, const float *x_im, float *s_im);

/* One backward step (reverse order: t = T-1 down to 0). Accumulates parameter gradients
 * into the population's accumulators.
 *   dstate     [S, B, N] in: dL/d(state after step t) (0 at the last step);
 *                        out: dL/d(state after step t-1).
 *   dx         [B, N]    out (+=): dL/dx(t).
 *   dx_im      [B, N]    out (+=, COMPLEX; may be NULL).
 *   state_prev [S, B, N] in: the state after step t-1 (as it was before the forward step).
 *   u, s       [B, N]    in: what the forward step wrote (u required; s_im for COMPLEX).
 *   x, x_im    [B, N]    in: the forward step's input.
 *   ds, ds_im  [B, N]    in: dL/ds(t) from downstream (may be NULL = 0).
 *   dmem       [B, N]    in: dL/d(reported membrane at t) from a loss on it (may be NULL).
 * The reported membrane is the state's V slot after the step, so `dmem` may also be added
 * into dstate[V] by the caller; passing it here is the same. */
spk_status spk_neuron_step_backward(spk_neuron *nr, int B, int64_t t, float *dstate, float *dx,
                                    float *dx_im, const float *state_prev, const float *u,
                                    const float *s, const float *s_im, const float *x,
                                    const float *x_im, const float *ds, const float *ds_im,
                                    const float *dmem);

/* Run T steps from the zero state and keep what backward needs (a convenience over
 * spk_neuron_step). `states` is [T+1, S, B, N]: states[0] is the initial state and
 * states[t+1] the state after step t. u, s and mem are [T, B, N]; mem (may be NULL)
 * receives the reported membrane of each step. x is [T, B, N]. Real kinds only. */
spk_status spk_neuron_forward_seq(const spk_neuron *nr, int T, int B, float *states, float *u,
                                  float *s, float *mem, const float *x);
/* Backward over T steps of spk_neuron_forward_seq. ds and dmem ([T, B, N], each may be
 * NULL) are the loss gradients w.r.t. spikes and reported membrane; dx [T, B, N] is
 * written (not accumulated); parameter gradients accumulate. Real kinds only. */
spk_status spk_neuron_backward_seq(spk_neuron *nr, int T, int B, float *dx, const float *states,
                                   const float *u, const float *s, const float *x,
                                   const float *ds, const float *dmem);

/* Probability that a neuron with potential `u` (real) emits at least n spikes in one step
 * (n >= 1), under the population's firing function and its threshold for neuron i. For the
 * deterministic kinds this is 0 or 1. */
double spk_neuron_p_spike(const spk_neuron *nr, int i, double u, int n);


/* ======================================================================================
 * Networks: a graph of synaptic ops and neuron populations (like NIR's)
 * ======================================================================================
 * A network is a graph of nodes and directed edges. A node's input is the SUM of what its
 * incoming edges deliver (except an attention node's: its three edges are q, k and v, kept
 * apart; see spk_net_add_attention). Edges that close a cycle (found by a depth-first walk from the
 * input nodes, in the order nodes were added) deliver the source's output of the PREVIOUS
 * step; all other edges deliver within the step. Before t = 0 a node's output is its
 * response to an all-zero input: the bias of a dense or conv node, zero for every other kind
 * (so a recurrent `lif -> w_rec -> lif` loop sees w_rec's bias at t = 0, as snnTorch's
 * RLeaky does). Recurrent layers are just such cycles.
 *
 * Shapes exclude time and batch: a node's output is [T, B, dims...]. Parameter shapes are
 * given when a node is added; shape-free nodes (pool, flatten, scale, merge, dropout, delay)
 * infer theirs from their input. Connecting checks shapes as soon as both are known and
 * refuses a mismatch naming both nodes and both shapes; spk_net_build checks the whole graph.
 *
 * Feed-forward stretches run layer-major (one op over all T*B rows: one big GEMM instead of
 * T small ones); only nodes on a cycle run step by step.
 *
 *     spk_net *net; int in, fc1, lif1, fc2, lif2;
 *     spk_net_create(&net);
 *     spk_net_add_input(net, "in", 1, (int[]){784}, &in);
 *     spk_net_add_dense(net, "fc1", 784, 1000, 1, &fc1);
 *     spk_net_add_neuron(net, "lif1", &cfg, 1, (int[]){1000}, &lif1);
 *     ... spk_net_connect(net, in, fc1); spk_net_connect(net, fc1, lif1); ...
 *     spk_net_build(net, (spk_rng){seed, 0});      // shapes, schedule, parameters (torch init)
 *     spk_net_forward(net, T, B, x);                // x [T, B, 784]
 *     spk_net_zero_grad(net);
 *     spk_net_seed_grad(net, lif2, SPK_SIGNAL_MEM, dloss_dmem);
 *     spk_net_backward(net);
 */

typedef struct spk_net spk_net;

#define SPK_MAX_DIMS 4

/* Node kinds. Append-only. */
typedef enum spk_node_kind {
    SPK_NODE_INPUT = 0, /* the network's input, [T, B, dims]                              */
    SPK_NODE_DENSE,     /* affine (with bias) or linear: y = x W^T + b, W [out, in]        */
    SPK_NODE_CONV,      /* conv1d / conv2d, W [cout, cin/groups, k...]                     */
    SPK_NODE_POOL,      /* sum / average / max pooling                                     */
    SPK_NODE_FLATTEN,   /* [C, H, W] -> [C*H*W]                                           */
    SPK_NODE_SCALE,     /* y = x * s, s per feature (learnable, starts at 1)              */
    SPK_NODE_MERGE,     /* y = sum of its inputs (residual add)                            */
    SPK_NODE_DROPOUT,   /* one mask per sample held over all T steps (training only)       */
    SPK_NODE_DELAY,     /* integer axonal delay per feature                                */
    SPK_NODE_NEURON,    /* a population of the generalized neuron                         */
    SPK_NODE_ATTENTION, /* spiking self-attention (no softmax) of three inputs q, k, v       */
    SPK_NODE_NORM,      /* batch norm per channel over (T, B, spatial): tdBN (spk_net_add_norm) */
    SPK_NODE_REVERSIBLE, /* L reversible two-stream spiking blocks (docs/reversible.md)    */
    SPK_NODE_KIND_COUNT
} spk_node_kind;
const char *spk_node_kind_name(spk_node_kind k);

/* What of a node's output a loss or a reader wants. */
typedef enum spk_signal {
    SPK_SIGNAL_OUT = 0, /* the node's output: spikes for a neuron population             */
    SPK_SIGNAL_MEM,     /* a neuron population's reported membrane                        */
    SPK_SIGNAL_COUNT
} spk_signal;

/* Create an empty network / free it (and every neuron population it owns). */
spk_status spk_net_create(spk_net **out);
void spk_net_free(spk_net *net);

/* Add nodes. Names are unique, 1..63 characters. On success *id is the node's index.
 * Errors (duplicate name, bad sizes) are SPK_ERR_INVALID_ARG with spk_errmsg(net). */
spk_status spk_net_add_input(spk_net *net, const char *name, int ndim, const int *dims, int *id);
spk_status spk_net_add_dense(spk_net *net, const char *name, int in, int out, int bias, int *id);
/* Convolution: dims = 1 or 2; k, stride, pad, dil are [dims] arrays (NULL stride/dil = 1,
 * NULL pad = 0). The input's spatial size is inferred from the incoming edge. */
spk_status spk_net_add_conv(spk_net *net, const char *name, int dims, int cin, int cout, const int *k,
                            const int *stride, const int *pad, const int *dil, int groups, int bias, int *id);
/* Pooling: kind 0 sum, 1 average, 2 max; dims = 1 or 2; stride NULL = k; pad NULL = 0. */
spk_status spk_net_add_pool(spk_net *net, const char *name, int kind, int dims, const int *k, const int *stride,
                            const int *pad, int *id);
spk_status spk_net_add_flatten(spk_net *net, const char *name, int *id);
spk_status spk_net_add_scale(spk_net *net, const char *name, int *id);
/* Flatten only dims start..end (inclusive, of the shape without T and B; negative counts
 * from the end) into one: [2, 3, 3] with (1, -1) gives [2, 9] (NIR's Flatten). The memory
 * layout is unchanged. spk_net_add_flatten is (0, -1). */
spk_status spk_net_add_flatten_dims(spk_net *net, const char *name, int start, int end, int *id);
/* Scale with a per-feature bias: y = x * s + b (s starts at 1, b at 0; both learnable,
 * parameter names "scale" and "bias"). Before t = 0 its output is b. */
spk_status spk_net_add_scale_bias(spk_net *net, const char *name, int *id);
spk_status spk_net_add_merge(spk_net *net, const char *name, int *id);
/* Dropout with probability p in [0, 1); masks come from (seed, stream = node index, draw). */
spk_status spk_net_add_dropout(spk_net *net, const char *name, float p, int *id);
/* Delay: `count` values (1 = one delay for every feature, else one per feature), each >= 0. */
spk_status spk_net_add_delay(spk_net *net, const char *name, const int32_t *delays, int count, int *id);
/* A population of prod(dims) neurons (per-neuron parameters follow that layout). The
 * population is owned by the network; change its parameters through spk_net_neuron. */
spk_status spk_net_add_neuron(spk_net *net, const char *name, const spk_neuron_config *cfg, int ndim,
                              const int *dims, int *id);
/* ---- residual merges, normalization, hardware-safe mode (docs/architectures.md) ---------
 * A merge node made by spk_net_add_merge sums its inputs (SPK_MERGE_ADD). The spike-element-
 * wise merges of SEW-ResNet take exactly two inputs, in the order they were connected: the
 * FIRST edge connected into the node is the block (residual branch) output a, the SECOND the
 * shortcut s:  ADD a + s,  AND a * s,  IAND (1 - a) * s. For AND and IAND both edges must
 * deliver within the step (spk_net_build refuses a delayed one, naming the node). */
typedef enum spk_merge_op { SPK_MERGE_ADD = 0, SPK_MERGE_AND, SPK_MERGE_IAND, SPK_MERGE_OP_COUNT } spk_merge_op;
/* "add", "and", "iand"; NULL / -1 outside the enum. */
const char *spk_merge_op_name(spk_merge_op op);
int spk_merge_op_from_name(const char *s);
spk_status spk_net_add_merge_op(spk_net *net, const char *name, spk_merge_op op, int *id);
/* The op of a merge node (SPK_MERGE_OP_COUNT when `node` is not a merge). */
spk_merge_op spk_net_merge_op(const spk_net *net, int node);

/* Threshold-dependent batch norm (tdBN): per channel c (dimension 0 of the node's shape; the
 * feature for a flat input), over all T steps, the batch and the spatial positions:
 *     x_hat = alpha * v_th * (x - mean_c) / sqrt(var_c + eps),   y = gamma_c * x_hat + beta_c
 * In training (spk_net_set_training) mean/var are the biased statistics of the batch and the
 * running statistics move: r <- (1 - momentum) r + momentum * batch (the variance unbiased,
 * as torch); in inference the running ones are used (an affine map per channel). gamma
 * ("weight", starts at 1) and beta ("bias", starts at 0) are learnable; "running_mean"
 * (starts at 0) and "running_var" (starts at 1) are buffers (spk_net_buffers). A norm node
 * must not lie on a cycle (batch statistics need the whole sequence); truncated BPTT does
 * not cut the gradient through the batch statistics. */
typedef struct spk_norm_config {
    float alpha;    /* > 0, default 1                                                       */
    float v_th;     /* > 0, the threshold of the neurons it feeds; default 1                */
    float eps;      /* >= 0, default 1e-5                                                   */
    float momentum; /* in [0, 1], default 0.1                                               */
    float gamma;    /* gamma's initial value, default 1 (0 makes a residual branch start silent) */
} spk_norm_config;
spk_norm_config spk_norm_config_default(void);
spk_status spk_net_add_norm(spk_net *net, const char *name, const spk_norm_config *cfg, int *id);
/* The settings of a norm node (NULL when `node` is not one). */
const spk_norm_config *spk_net_norm_config(const spk_net *net, int node);
/* The non-learnable state saved with a model (the norm nodes' running statistics), as one
 * flat array after build; NULL and *n = 0 when the network has none. */
float *spk_net_buffers(spk_net *net, size_t *n);

/* Hardware-safe mode: the model is meant to run on a neuromorphic chip, so no node may need
 * a non-local computation. Which kinds do is a per-kind property: spk_node_kind_nonlocal
 * returns why a node of kind k is not local (NULL when it is), in training (training = 1:
 * e.g. a norm node's batch statistics) or in inference (training = 0). With the mode on,
 * spk_net_build refuses a node non-local in inference and spk_net_forward in training mode
 * refuses one non-local in training, naming the node and the reason (SPK_ERR_UNSUPPORTED).
 * Set it before build. spk_net_check_hardware_safe runs the same check on demand. */
const char *spk_node_kind_nonlocal(spk_node_kind k, int training);
void spk_net_set_hardware_safe(spk_net *net, int on);
int spk_net_hardware_safe(const spk_net *net);
spk_status spk_net_check_hardware_safe(spk_net *net, int training);

/* Reversible spiking blocks (docs/reversible.md). The input x, [F] (dense) or [C, L] /
 * [C, H, W] (conv), is split in two halves along its first dimension (F and C must be even):
 * x1 the first half, x2 the second. Each of the L blocks computes
 *     y1 = x1 + F(x2),   y2 = x2 + G(y1)
 * where F and G are each a synaptic op on one half (dense h -> h, or conv with h channels
 * in and out, stride 1, "same" padding, an odd kernel) followed by a population of the
 * neuron `neuron` (one population per op, state carried over the T steps); (y1, y2) feed the
 * next block, and the last block's (y1, y2) joined again is the node's output (same shape
 * as its input). Backward keeps none of the blocks' activations: it recomputes each block's
 * input from its output (x2 = y2 - G(y1), x1 = y1 - F(x2)) and F's and G's activations in
 * one shared scratch, so the node's activation memory does not grow with L. The
 * reconstruction is exact when the streams hold integers (spike inputs: the blocks add 0/1
 * spikes), within float rounding for real-valued inputs.
 * Parameters: "weight" [L, 2, h, h (, k (, k))] (index 0 of the second axis is F, 1 is G;
 * each op's weight laid out as a dense [out, in] or conv [cout, cin, k...] weight) and, with
 * bias, "bias" [L, 2, h]; both initialised as PyTorch's dense / conv of that op. With
 * learn_beta / learn_threshold the populations' decays / thresholds are trained too: tensors
 * "lam" / "thr" of the parameter arena (spk_net_params), [2L, h] (SPK_LEARN_PER_NEURON) or
 * [2L] (SPK_LEARN_SHARED: one value per population), population 2b being F of block b and
 * 2b+1 its G. The node may not lie on a cycle. */
typedef enum spk_rev_op { SPK_REV_DENSE = 0, SPK_REV_CONV, SPK_REV_OP_COUNT } spk_rev_op;
typedef struct spk_reversible_config {
    int blocks;                 /* L >= 1                                                  */
    spk_rev_op op;              /* dense or conv                                           */
    int kernel;                 /* conv: odd kernel size >= 1 (k x k, or k for 1-d)        */
    int bias;                   /* 1: each op has a bias                                   */
    spk_neuron_config neuron;   /* the neuron of every population (real kinds only)       */
    int learn_beta, learn_threshold; /* SPK_LEARN_OFF (default), _PER_NEURON or _SHARED    */
} spk_reversible_config;
/* One dense block (blocks 1, dense, kernel 3, bias 1) of default LIF neurons. */
spk_reversible_config spk_reversible_config_default(void);
spk_status spk_net_add_reversible(spk_net *net, const char *name, const spk_reversible_config *cfg, int *id);
/* The configuration of a reversible node (NULL for any other node). */
const spk_reversible_config *spk_net_reversible_config(const spk_net *net, int node);
/* Connect node `from` to node `to`. */
spk_status spk_net_connect(spk_net *net, int from, int to);
/* Spiking self-attention without softmax (docs/attention.md). Its three inputs q, k, v
 * each have shape [D, N] (D channels, N tokens: a conv output [C, H, W] flattened over H, W
 * with spk_net_add_flatten_dims(.., 1, -1)); the output is [D, N]. `heads` must divide D
 * (checked when the shape is known). Roles follow connection order: the node's first
 * incoming edge is q, the second k, the third v (spk_net_connect_attention makes all three
 * at once); spk_net_build refuses an attention node without exactly three.
 *   SPK_ATTENTION_SPIKFORMER: per head, y = scale * (Q K^T) V (Q = q^T, [N, d], d = D/heads),
 *     computed as scale * (v k^T) q. scale > 0 (Spikformer uses 0.125).
 *   SPK_ATTENTION_STOCHASTIC: per step and head, scores S[i,j] ~ Bernoulli(#(q_i AND k_j)/d)
 *     and outputs y[c,i] ~ Bernoulli(#(S_i AND v_c)/N): spikes only, `scale` is not used.
 *     Draws come from (build seed, stream = node index, the draw number of
 *     spk_net_set_training, step, position): deterministic for a seed. Backward uses the
 *     gradient of the expectation (straight-through).
 * No parameters. SPK_ERR_INVALID_ARG for heads < 1, an unknown kind or scale <= 0. */
typedef enum spk_attention_kind { SPK_ATTENTION_SPIKFORMER = 0, SPK_ATTENTION_STOCHASTIC, SPK_ATTENTION_KIND_COUNT } spk_attention_kind;
const char *spk_attention_kind_name(spk_attention_kind k);
int spk_attention_kind_from_name(const char *s); /* -1 if unknown */
spk_status spk_net_add_attention(spk_net *net, const char *name, spk_attention_kind kind, int heads, float scale, int *id);
/* Connect q, k and v (in that order) into attention node `att`, which must have no input
 * edge yet. They are three distinct nodes (an edge joins two nodes once). */
spk_status spk_net_connect_attention(spk_net *net, int q, int k, int v, int att);
/* An attention node's settings (kind, heads, scale); SPK_ERR_INVALID_ARG if `node` is not one. */
spk_status spk_net_attention_info(const spk_net *net, int node, spk_attention_kind *kind, int *heads, float *scale);
/* Make a neuron population's parameter learnable (trained by the optimizer), before build:
 * SPK_LEARN_OFF (the default: a fixed buffer, as in snnTorch), SPK_LEARN_PER_NEURON (N values)
 * or SPK_LEARN_SHARED (one value for the whole population; it starts from neuron 0's). */
enum { SPK_LEARN_OFF = 0, SPK_LEARN_PER_NEURON = 1, SPK_LEARN_SHARED = 2 };
spk_status spk_net_set_learnable(spk_net *net, int node, spk_neuron_param p, int learnable);

/* Check and freeze the graph: every node reached and fed, shapes inferred and checked,
 * cycles found, the schedule made, and the parameters laid out in one arena and initialised
 * like PyTorch's defaults (U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weights and biases),
 * deterministically from `init` (seed, stream). */
spk_status spk_net_build(spk_net *net, spk_rng init);

/* Look-ups. */
int spk_net_node_count(const spk_net *net);
int spk_net_find(const spk_net *net, const char *name); /* -1 if absent */
const char *spk_net_node_name(const spk_net *net, int node);
spk_node_kind spk_net_node_kind(const spk_net *net, int node);
/* The node's output shape (excluding T and B); returns ndim (0 if unknown). */
int spk_net_node_shape(const spk_net *net, int node, int dims[SPK_MAX_DIMS]);
/* 1 if the node runs step by step (it lies on a cycle) after build. */
int spk_net_node_is_recurrent(const spk_net *net, int node);
spk_neuron *spk_net_neuron(spk_net *net, int node);

/* Parameters after build. `which` is "weight", "bias" or "scale" (a norm node also has the
 * buffers "running_mean" and "running_var", without gradients). Returns the tensor and its
 * element count, or NULL. Gradients have the same layout. */
float *spk_net_param(spk_net *net, int node, const char *which, size_t *numel);
float *spk_net_param_grad(spk_net *net, int node, const char *which, size_t *numel);
/* All learnable parameters as one flat array (weights, biases, scales, and the neuron
 * parameters marked learnable), and their gradients in the same layout. */
float *spk_net_params(spk_net *net, size_t *n);
float *spk_net_grads(spk_net *net, size_t *n);
/* Tell the network its learnable parameters were changed in the flat array: learned neuron
 * parameters are projected back into their valid ranges (decays into [-1, 1], thresholds
 * > 0, ...), shared values broadcast, derived quantities recomputed. */
void spk_net_params_changed(spk_net *net);

/* Training / inference mode (dropout is active only in training). Default: inference. */
void spk_net_set_training(spk_net *net, int training, uint64_t dropout_draw);

/* Run T steps on a batch of B from the zero state. x is [T, B, input dims] for the single
 * input node ([B, input dims] after spk_net_set_static_input); it is not read after the call
 * returns (it may be freed or refilled before backward). Activations of every step are kept
 * for backward. */
spk_status spk_net_forward(spk_net *net, int T, int B, const float *x);
/* A node's signal of the last forward, [T, B, dims] (NULL if none). */
const float *spk_net_signal(const spk_net *net, int node, spk_signal sig);
/* Zero all parameter gradients and every activation gradient (the seeds). Call it after
 * each forward, before seeding: seeds and backward accumulate. */
void spk_net_zero_grad(spk_net *net);
/* Add dL/d(signal) [T, B, dims] of a node as a backward seed (after spk_net_zero_grad). */
spk_status spk_net_seed_grad(spk_net *net, int node, spk_signal sig, const float *grad);
/* Backpropagation through time over the last forward: parameter gradients ACCUMULATE. */
spk_status spk_net_backward(spk_net *net);
/* Truncated BPTT over the last forward: the state is carried through the whole sequence
 * (the forward is unchanged), but no gradient crosses the boundaries of the windows
 * [0, k), [k, 2k), ...: a loss at step t reaches only steps of t's window. k = 0 or k >= T
 * is full BPTT, bit for bit. */
spk_status spk_net_backward_truncated(spk_net *net, int k);
/* Bytes of activation memory the last forward holds for backward (every step's outputs,
 * inputs, neuron states and their gradient buffers), for T and B of that forward. */
size_t spk_net_activation_bytes(const spk_net *net);
/* Ask backward for dL/dx of the input (off by default: training needs no input gradient,
 * and skipping it saves the largest backward GEMM of the first layer). */
void spk_net_want_input_grad(spk_net *net, int on);
/* dL/dx of the last backward, [T, B, input dims]; NULL unless spk_net_want_input_grad. */
const float *spk_net_input_grad(const spk_net *net);
/* Present one step of input at every step (on != 0; off by default): spk_net_forward's x is
 * then [B, input dims], one step (an image injected as current at every step), and the
 * forward computes what it computes for that step repeated T times, without the repeated
 * copy and without comparing the steps to find that they are equal. The input gradient
 * (spk_net_want_input_grad) stays [T, B, input dims]. It applies to spk_net_forward (and so
 * to a BPTT trainer's step and any trainer's eval); spk_eprop_run and spk_fptt_run read
 * every step of their x. */
void spk_net_set_static_input(spk_net *net, int on);
/* Run the plain reference path (on != 0): every node step by step in time order, the
 * reference neuron kernels, dense and conv ops as GEMMs on dense inputs, no time-constant
 * input shortcut. It computes the same function as the fast path (tests and `spk bench`
 * compare them; they differ only by float reassociation) and is meant for checking it. */
void spk_net_set_reference(spk_net *net, int on);
/* Time every node's forward and backward (on != 0; the sums restart at each call), and
 * print the accumulated times per node as a table to fp, with the fraction of nonzero
 * outputs of each node in the last forward (the spike density its consumers see). */
void spk_net_set_profiling(spk_net *net, int on);
void spk_net_profile_print(const spk_net *net, FILE *fp);


/* ======================================================================================
 * Training: losses, optimizers, learning-rate schedules, initialisation, the trainer
 * ======================================================================================
 * Shapes: T steps, B batch, C classes. Labels are int32 in [0, C). Every loss returns the
 * batch-MEAN loss (as torch's reduction='mean') and WRITES its gradient (=) w.r.t. its input
 * array. Preconditions: T, B, C >= 1, non-NULL arrays, labels in [0, C); when one fails the
 * loss is NaN and the gradient is written as zeros (the losses have no status to return). */

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


/* ---- the trainer: BPTT with a loss, an optimizer and a schedule ------------------------ */
/* Loss kinds for the trainer. Append-only. */
typedef enum spk_loss_kind {
    SPK_LOSS_CE_COUNT = 0,   /* cross-entropy on output spike counts                       */
    SPK_LOSS_CE_MEM,         /* cross-entropy on the readout membrane (mem_reduce)         */
    SPK_LOSS_MSE_COUNT,      /* MSE between spike counts and target counts                 */
    SPK_LOSS_CE_FIRST_SPIKE, /* cross-entropy on first-spike times                         */
    SPK_LOSS_KIND_COUNT
} spk_loss_kind;
const char *spk_loss_kind_name(spk_loss_kind k);
int spk_loss_kind_from_name(const char *s);

/* Training methods (docs/training.md). Append-only. BPTT and TBPTT store every step's
 * activations; FPTT and e-prop keep memory constant in T (spk_fptt_*, spk_eprop_*; one
 * hidden layer); STDP is unsupervised and local (spk_stdp_*), not run by the trainer. */
typedef enum spk_train_method {
    SPK_TRAIN_BPTT = 0, SPK_TRAIN_TBPTT, SPK_TRAIN_FPTT, SPK_TRAIN_EPROP, SPK_TRAIN_STDP, SPK_TRAIN_METHOD_COUNT
} spk_train_method;
/* "bptt", "tbptt", "fptt", "eprop", "stdp"; NULL / -1 outside the enum. */
const char *spk_train_method_name(spk_train_method m);
int spk_train_method_from_name(const char *s);
typedef enum spk_eprop_feedback {
    SPK_EPROP_SYMMETRIC = 0, /* learning signal through W_out^T                          */
    SPK_EPROP_RANDOM,        /* through a fixed random matrix (W_out's init distribution) */
    SPK_EPROP_FEEDBACK_COUNT
} spk_eprop_feedback;

typedef struct spk_train_config {
    int output;                 /* the readout node: a neuron population                   */
    spk_loss_kind loss;         /* default CE_MEM with PER_STEP (snnTorch's usual loss)     */
    spk_mem_reduce mem_reduce;
    float correct_rate, incorrect_rate; /* MSE_COUNT targets; default 0.8 / 0.2             */
    float rate_target, rate_lambda;     /* firing-rate regularizer on every other neuron
                                           population; lambda 0 (default) = off            */
    int rate_l2;                /* 1: L2 toward the target rate, 0: L1                       */
    int tbptt_k;                /* truncated BPTT window; 0 = full BPTT                      */
    spk_optim_config optim;     /* default Adam, lr 1e-3                                     */
    spk_sched sched;            /* default constant at optim.lr                              */
    spk_train_method method;    /* default BPTT (TBPTT when tbptt_k > 0)                     */
    float fptt_alpha;           /* FPTT regularizer strength alpha > 0. Default 0.5          */
    spk_eprop_feedback eprop_feedback; /* e-prop learning signal. Default symmetric         */
} spk_train_config;

/* Defaults for a readout node (see the fields). */
spk_train_config spk_train_config_default(int output_node);

typedef struct spk_trainer spk_trainer;
/* A trainer for a built network (which it does not own; the network must outlive it). */
spk_status spk_trainer_create(spk_trainer **out, spk_net *net, const spk_train_config *cfg);
void spk_trainer_free(spk_trainer *tr);
/* One training step on a batch: forward (dropout on), loss, backward (truncated when
 * tbptt_k > 0), gradient clipping, optimizer update with the scheduled learning rate.
 * x [T, B, input dims], labels [B]. *loss gets the batch's loss (task + regularizer),
 * *correct the number of correct predictions (either may be NULL). A NaN loss or a
 * non-finite gradient returns SPK_ERR_NUMERIC and leaves the parameters unchanged.
 * With method EPROP the gradient comes from spk_eprop_run (one optimizer update per batch);
 * with FPTT the batch makes T updates (spk_fptt_run) at the scheduled learning rate, and
 * the regularizer is not part of *loss (a non-finite step keeps the batch's earlier
 * updates); both need ce_mem with per_step or last
 * (SPK_ERR_UNSUPPORTED otherwise, and for method STDP). */
spk_status spk_trainer_step(spk_trainer *tr, int T, int B, const float *x, const int32_t *labels, double *loss,
                            int *correct);
/* Evaluate a batch without training (dropout off): loss, correct count and per-sample
 * predictions pred [B] (each may be NULL). */
spk_status spk_trainer_eval(spk_trainer *tr, int T, int B, const float *x, const int32_t *labels, double *loss,
                            int *correct, int32_t *pred);
/* Training steps taken so far (the schedule's step). */
long spk_trainer_steps(const spk_trainer *tr);
/* Bytes the method holds for the last batch beyond the parameters and the optimizer: BPTT's
 * stored activations (spk_net_activation_bytes), or e-prop's traces (spk_eprop_bytes), or
 * FPTT's running average, gradients and one step of state (spk_fptt_bytes). */
size_t spk_trainer_method_bytes(const spk_trainer *tr);
/* The trainer's optimizer (for its state in checkpoints). */
spk_optim *spk_trainer_optim(spk_trainer *tr);
/* The class each sample of the last forward predicts under the loss's decoding: the largest
 * spike count (count losses), the largest reduced membrane (CE_MEM), the earliest first
 * spike (first-spike loss; ties go to the larger count). pred [B]. */
void spk_trainer_predict(const spk_trainer *tr, int32_t *pred);

/* ---- STDP: local plasticity of one dense connection, online (docs/training.md) ---------
 * Pair-based STDP with exponential traces, the triplet rule (Pfister & Gerstner 2006) and
 * reward-modulated STDP, within weight bounds. The caller runs the neurons; each step it
 * passes the pre and post spikes and the rule updates W [n_post, n_pre] (the layout of a
 * dense node's "weight") in place. For one pre spike at step tp and one post spike at tq,
 * dt = tq - tp, the additive pair rule changes w by A+ exp(-dt/tau+) when dt >= 0 and by
 * -A- exp(dt/tau-) when dt < 0. Time constants are in steps. */
typedef enum spk_stdp_rule { SPK_STDP_PAIR = 0, SPK_STDP_TRIPLET, SPK_STDP_RULE_COUNT } spk_stdp_rule;
typedef enum spk_stdp_dep {
    SPK_STDP_ADDITIVE = 0,     /* dw = A+ r (LTP), -A- o (LTD), then clipped to [w_min, w_max] */
    SPK_STDP_MULTIPLICATIVE,   /* soft bounds: LTP x (w_max - w), LTD x (w - w_min)           */
    SPK_STDP_DEP_COUNT
} spk_stdp_dep;
typedef struct spk_stdp_config {
    spk_stdp_rule rule;
    spk_stdp_dep dep;
    float a_plus, a_minus;     /* pair amplitudes (the triplet rule's A2+, A2-), >= 0          */
    float tau_plus, tau_minus; /* fast pre / post trace time constants (steps), > 0           */
    float a3_plus, a3_minus;   /* triplet amplitudes A3+, A3- (>= 0; TRIPLET only)             */
    float tau_x, tau_y;        /* triplet slow pre / post traces (steps, > 0; TRIPLET only)    */
    float w_min, w_max;        /* weight bounds, w_min < w_max                                 */
    int reward;                /* 1: changes feed an eligibility trace per synapse,
                                  e = e*exp(-1/tau_e) + dw, and each step w += reward * e     */
    float tau_e;               /* eligibility time constant (steps, > 0; reward mode)          */
} spk_stdp_config;
/* Pair, additive, A+ 0.01, A- 0.0105, tau 20 / 20, triplet 0 / 0 with tau_x = tau_y = 100,
 * bounds [0, 1], no reward (tau_e 200). */
spk_stdp_config spk_stdp_config_default(void);
typedef struct spk_stdp spk_stdp;
/* SPK_ERR_INVALID_ARG (the message names the field) for a bad configuration or sizes. */
spk_status spk_stdp_create(spk_stdp **out, const spk_stdp_config *cfg, int n_pre, int n_post);
void spk_stdp_free(spk_stdp *s);
/* Zero every trace and the eligibility (e.g. between samples). */
void spk_stdp_reset(spk_stdp *s);
/* One step: pre [n_pre] and post [n_post] are the spikes of this step (0 = none; a graded
 * spike n counts n times); w [n_post, n_pre] is updated in place. `reward` is used in reward
 * mode only. The order of work is documented in stdp.c and docs/training.md. */
spk_status spk_stdp_step(spk_stdp *s, float *w, const float *pre, const float *post, float reward);
typedef enum spk_stdp_trace_kind {
    SPK_STDP_TRACE_PRE = 0, SPK_STDP_TRACE_PRE_SLOW, SPK_STDP_TRACE_POST, SPK_STDP_TRACE_POST_SLOW,
    SPK_STDP_TRACE_ELIGIBILITY, SPK_STDP_TRACE_COUNT
} spk_stdp_trace_kind;
/* Read-only view of a trace ([n_pre], [n_post] or [n_post, n_pre]); NULL when the rule has
 * none. */
const float *spk_stdp_trace(const spk_stdp *s, spk_stdp_trace_kind k);

/* ---- e-prop: online gradients with eligibility traces (Bellec et al. 2020) ------------
 * For a network input -> dense -> LIF or ALIF (optionally with a recurrent dense on a cycle) ->
 * dense -> leaky readout (reset none), with a loss on the readout membrane at every step
 * (CE_MEM PER_STEP) or at the last step (LAST). Memory does not grow with T: per sample it
 * keeps one eligibility value per hidden synapse, never a step's activations. Without
 * recurrence (and with the reset detached, the default) the gradient equals BPTT's. The
 * exact update is in eprop.c and docs/training.md. */
/* (spk_eprop_feedback is defined with spk_train_config above.) */
typedef struct spk_eprop spk_eprop;
/* SPK_ERR_UNSUPPORTED (naming the node) for a network of another shape, a hidden population
 * other than LIF / ALIF (ALIF: delayed timing, soft reset), a non-LIF readout, a
 * per-neuron decay, a hidden reset other than soft / none or not detached, a
 * readout that resets. `rng` keys the random feedback matrix. On failure *out is NULL. */
spk_status spk_eprop_create(spk_eprop **out, spk_net *net, int readout, spk_eprop_feedback fb, spk_rng rng);
void spk_eprop_free(spk_eprop *ep);
/* Run a batch x [T, B, input features] online and ADD the e-prop gradients into the
 * network's gradient arrays (spk_net_grads; zero them first with spk_net_zero_grad). *loss
 * gets the batch-mean CE loss (as spk_loss_ce_mem), pred [B] the decoded classes (mean
 * membrane for PER_STEP, last for LAST); either may be NULL. Other reductions are
 * SPK_ERR_UNSUPPORTED. */
spk_status spk_eprop_run(spk_eprop *ep, int T, int B, const float *x, const int32_t *labels, spk_mem_reduce reduce, double *loss,
                         int32_t *pred);
/* Bytes of state it holds (traces and eligibilities for the largest batch run so far). */
size_t spk_eprop_bytes(const spk_eprop *ep);

/* ---- FPTT: forward propagation through time (Kag & Saligrama 2021) -------------------
 * One optimizer update per time step on the step's loss plus the dynamic regularizer
 * (alpha/2) ||W - W_bar - g_{t-1}/(2 alpha)||^2, the gradient taken through the current step
 * only, then W_bar <- (W_bar + W)/2 - g_t/(2 alpha). Memory does not grow with T. Same
 * network shape and losses as e-prop; the exact update is in fptt.c and docs/training.md. */
typedef struct spk_fptt spk_fptt;
/* `opt` (not owned; must outlive it) applies each step's update to spk_net_params. alpha > 0
 * (SPK_ERR_INVALID_ARG otherwise); SPK_ERR_UNSUPPORTED for a network e-prop refuses. */
spk_status spk_fptt_create(spk_fptt **out, spk_net *net, int readout, float alpha, spk_optim *opt);
void spk_fptt_free(spk_fptt *f);
/* Train on a batch x [T, B, input features]: T updates with learning rate lr. W_bar and
 * g_{t-1} carry over between batches (spk_fptt_reset starts them again from W and 0).
 * *loss: the sum over steps of the batch-mean CE terms; pred [B] as spk_eprop_run. A
 * non-finite loss or gradient stops the batch with SPK_ERR_NUMERIC: that step changes
 * nothing, the updates of the batch's earlier steps stay. */
spk_status spk_fptt_run(spk_fptt *f, int T, int B, const float *x, const int32_t *labels, spk_mem_reduce reduce, float lr, double *loss,
                        int32_t *pred);
void spk_fptt_reset(spk_fptt *f);
/* The sum over the last batch's steps of the one-step gradients g_t (spk_net_grads layout). */
const float *spk_fptt_grad_sum(const spk_fptt *f);
/* Bytes it holds: W_bar, g_{t-1}, g_t, their sum, and one step of state. */
size_t spk_fptt_bytes(const spk_fptt *f);


/* ======================================================================================
 * Data: datasets and arrays
 * ======================================================================================
 * A dataset is n samples of one shape with integer labels. Static samples are [features]
 * or [C, H, W]; sequences (spike or event data) are [T, channels] per sample (has_time = 1).
 * Loaders return SPK_ERR_IO / SPK_ERR_FORMAT with spk_errmsg(NULL) naming the file and what
 * is wrong (a missing Debian dataset names the package to install). */
typedef struct spk_dataset {
    int n;                      /* samples                                              */
    int ndim;                   /* per-sample dims (1..4)                               */
    int dims[SPK_MAX_DIMS];
    int has_time;               /* 1: each sample is [T, channels] (dims[0] = T)        */
    int n_classes;              /* labels are in [0, n_classes)                         */
    float *x;                   /* [n, prod(dims)]                                      */
    int32_t *y;                 /* [n]                                                  */
} spk_dataset;

/* Elements per sample (prod(dims)). */
size_t spk_dataset_sample_size(const spk_dataset *d);
void spk_dataset_free(spk_dataset *d); /* frees x and y and zeroes *d */

/* Fashion-MNIST from the gzip IDX files of Debian's dataset-fashion-mnist
 * (dir NULL = /usr/share/datasets/fashion-mnist). Images [1, 28, 28] scaled to [0, 1];
 * 60000 train / 10000 test, 10 classes. max_train / max_test > 0 keep only the first ones
 * (0 = all; only the kept records are read). train or test may be NULL to skip that split.
 * A missing directory or file is SPK_ERR_IO naming the package; a bad magic, wrong
 * dimensions, a label outside 0..9 or a truncated file is SPK_ERR_FORMAT naming the file and
 * the (uncompressed) byte offset. */
spk_status spk_dataset_fashion_mnist(spk_dataset *train, spk_dataset *test, const char *dir, int max_train,
                                     int max_test);
/* Yin-Yang (Kriener et al. 2021): (x, y, 1-x, 1-y) in the unit square, 3 balanced classes
 * (yin, yang, dot); r_small 0.1, r_big 0.5; train / validation / test of n_train / n_val /
 * n_test samples (5000 / 1000 / 1000 in the paper), each from its own stream of `seed`.
 * Labels are the reference implementation's 0, 1, 2 (2 = dot). Points are drawn by rejection
 * for a target class as in the reference, but the targets are a shuffled balanced list, so
 * each class has exactly n/3 samples (the n % 3 extra go to classes 0, 1). A set may be
 * NULL when its n is 0. dims [4], has_time 0. */
spk_status spk_dataset_yinyang(spk_dataset *train, spk_dataset *val, spk_dataset *test, int n_train, int n_val,
                               int n_test, uint64_t seed);
/* Randman (Zenke & Vogels 2021): one random smooth manifold per class, sampled and turned
 * into spike times: each of `units` channels spikes once per sample at a step in [0, steps).
 * Samples are [steps, units] (has_time 1, x = 1 at each spike, else 0): steps * units floats
 * each, so the defaults' 10000 samples take 400 MB. Samples of all classes are shuffled;
 * the last round(test_fraction * n) form the test set (test may be NULL only when that is
 * 0). Defaults (spk_randman_default): classes 10, units 100, steps 100, samples_per_class
 * 1000, dim 1, alpha 2, freqs 32 (the reference's cutoff ceil(1000^(1/alpha)); freqs <= 0
 * derives it from alpha), test_fraction 0.2, seed 1. */
typedef struct spk_randman_params {
    int classes, units, steps, samples_per_class;
    int dim;           /* intrinsic dimension of each manifold                  */
    float alpha;       /* smoothness: spectral decay of the random features     */
    int freqs;         /* random Fourier features per intrinsic dimension       */
    float test_fraction;
    uint64_t seed;
} spk_randman_params;
spk_randman_params spk_randman_default(void);
spk_status spk_dataset_randman(spk_dataset *train, spk_dataset *test, const spk_randman_params *p);

/* .npy arrays (NumPy format 1.0/2.0/3.0, little-endian, C order; float32/64, int8..64,
 * uint8..64, bool), converted to float. *data is allocated with spk_malloc (NULL when the
 * array has no elements); ndim is 0..8. The header is checked strictly (exactly the keys
 * descr, fortran_order, shape) and the file size must match the shape: SPK_ERR_FORMAT
 * (malformed, truncated, trailing bytes) or SPK_ERR_UNSUPPORTED (Fortran order, big-endian,
 * other dtypes), naming the file. */
spk_status spk_npy_read(const char *path, float **data, int *ndim, size_t dims[8]);
/* Write float32 .npy atomically (temporary file "<path>.tmp.<pid>", flush, fsync, rename):
 * an existing file is replaced only by a complete one, and on failure the temporary is
 * removed. ndim 0..8; the bytes are those of NumPy's np.save (format 1.0, header padded to
 * 64 bytes). */
spk_status spk_npy_write(const char *path, const float *data, int ndim, const size_t *dims);
/* A user's dataset: x from .npy or HDF5 ([n, features...] or [n, T, channels] when
 * has_time; x [n] gives one feature per sample), labels y (integers) from .npy or HDF5,
 * [n] or [n, 1]. For HDF5, `x_path` is "file.h5:/dataset" (same for y; split at the last
 * ":/"), any numeric type, converted to float. Labels must be integral and >= 0
 * (SPK_ERR_FORMAT otherwise); a row-count mismatch is SPK_ERR_SHAPE.
 * n_classes = max label + 1. */
spk_status spk_dataset_load(spk_dataset *out, const char *x_path, const char *y_path, int has_time);

/* ======================================================================================
 * Coding: encoders (values -> spike trains) and decoders (spike trains -> scores)
 * ======================================================================================
 * Spikes are 1.0 (POISSON: the count, DIRECT: the current); everything else is 0.
 * Spike times and counts are rounded half to even (like torch.round), in float32.
 * Semantics follow snnTorch's spikegen where it has the code (rate, latency, delta). */
typedef enum spk_encoding {
    SPK_ENC_DIRECT = 0,    /* gain*x as input current at every step                          */
    SPK_ENC_RATE,          /* Bernoulli: spike with probability clamp(gain*x, 0, 1) per step */
    SPK_ENC_POISSON,       /* Poisson counts with mean gain*x per step (graded; exact inverse
                              CDF up to a mean of 500, rounded normal approximation above)  */
    SPK_ENC_LATENCY,       /* one spike at t = round((1 - x) * (T - 1)) for x in (0, 1] (x > 1
                              acts as 1: t = 0); no spike for x <= 0                         */
    SPK_ENC_LATENCY_LOG,   /* one spike at t = round(tau*ln(x/(x - threshold))) for
                              x > threshold (RC charge time), later times clipped to T - 1;
                              no spike for x <= threshold                                    */
    SPK_ENC_DELTA,         /* send-on-change: ON channel when x[t] - x[t-1] >= threshold, OFF
                              channel when <= -threshold, x[-1] = 0. A static x changes only
                              at t = 0. Both channels spike with +1                          */
    SPK_ENC_PHASE,         /* q = floor(x * 2^bits) clamped to [0, 2^bits - 1]; at step t, bit
                              k = t % bits of q, most significant first (Kim et al. 2018)    */
    SPK_ENC_BURST,         /* n = round(x * burst_max) clamped to [0, burst_max] spikes at
                              steps 0 .. n-1 (cut at T)                                       */
    SPK_ENC_POPULATION,    /* Gaussian receptive fields: `pop_size` channels per feature, each
                              spiking per step with probability exp(-(x-c)^2 / (2 sigma^2))  */
    SPK_ENC_COUNT
} spk_encoding;
/* "direct", "rate", "poisson", "latency", "latency_log", "delta", "phase", "burst",
 * "population"; "unknown" outside the enum. */
const char *spk_encoding_name(spk_encoding e);
/* The encoding named `s` (ASCII case ignored), or -1 with the thread's message set. */
int spk_encoding_from_name(const char *s);

typedef struct spk_encoder_config {
    spk_encoding kind;
    float gain;          /* DIRECT (finite) / RATE / POISSON (>= 0) scale. Default 1           */
    float threshold;     /* LATENCY_LOG (default 0.01) and DELTA (default 0.1); > 0            */
    float tau;           /* LATENCY_LOG time constant in steps, > 0. Default 5                 */
    int bits;            /* PHASE bits, 1..24. Default 8                                        */
    int burst_max;       /* BURST longest burst, >= 1. Default 5                                */
    int pop_size;        /* POPULATION channels per feature, >= 1. Default 10                   */
    float pop_min, pop_max; /* POPULATION centres evenly spaced over [min, max] (min < max;
                               one channel: the midpoint). Default 0, 1                        */
    float pop_sigma;     /* POPULATION width, >= 0; 0 = spacing of the centres (one channel:
                            max - min). Default 0                                              */
    spk_rng rng;         /* for RATE / POISSON / POPULATION draws. Default {0, 0}               */
} spk_encoder_config;
/* The defaults above for `kind` (fields the kind does not use keep harmless values). */
spk_encoder_config spk_encoder_default(spk_encoding kind);
/* Output channels per input feature: 2 for DELTA (ON, OFF), pop_size for POPULATION, else 1;
 * 0 for a NULL config, an unknown kind or pop_size < 1. */
int spk_encoder_channels(const spk_encoder_config *c);
/* Encode B samples of F features into T steps: out [T, B, F * channels] (channel-minor:
 * feature f's channels are f*channels .. f*channels+channels-1). `x` is [B, F] (x_steps 1:
 * static, values expected in [0, 1] except DIRECT) or [T, B, F] (x_steps == T: a sequence;
 * DELTA compares consecutive steps, the others encode each step's value). Every value of
 * out is written.
 * `draw` numbers the batch so that random codes are reproducible: the draw for output
 * (t, b, column) is spk_rng at step = (draw mod 2^32) << 32 | t, index = b << 32 | column,
 * so the same (rng, draw) gives the same spikes at any thread count and every
 * (draw, t, b, feature, channel) gets an independent draw.
 * SPK_ERR_INVALID_ARG for bad sizes or parameters (the message names the field) and for a
 * non-finite x; SPK_ERR_SHAPE for x_steps other than 1 or T; SPK_ERR_NUMERIC when gain*x
 * overflows (DIRECT, POISSON). On error out is untouched. */
spk_status spk_encode(const spk_encoder_config *c, int T, int B, int F, const float *x, int x_steps, float *out,
                      uint64_t draw);

typedef enum spk_decoding {
    SPK_DEC_COUNT = 0,   /* sum of spikes over steps, per class                           */
    SPK_DEC_FIRST_SPIKE, /* -(first step with a spike > 0), -T when silent, plus n / (T+1)
                            where n counts the steps with a spike: ties in the first step go
                            to the class that spikes more (exact in float for T <= 4095)    */
    SPK_DEC_MEM_MAX,     /* readout membrane: max over steps                             */
    SPK_DEC_MEM_MEAN,    /*   mean over steps                                             */
    SPK_DEC_MEM_LAST,    /*   last step                                                   */
    SPK_DEC_COUNT_KINDS
} spk_decoding;
/* "count", "first_spike", "mem_max", "mem_mean", "mem_last"; "unknown" outside the enum. */
const char *spk_decoding_name(spk_decoding d);
/* The decoding named `s` (exact match), or -1 with the thread's message set. */
int spk_decoding_from_name(const char *s);
/* scores [B, C] from spikes or membrane [T, B, C] (the one the decoding uses; the other may
 * be NULL). Nothing to report errors with: NULL scores or B, C < 1 writes nothing; T < 1, an
 * unknown decoding or a NULL input array it needs fills scores with NaN. */
void spk_decode(spk_decoding d, int T, int B, int C, const float *spikes, const float *mem, float *scores);
/* argmax of each row of scores [B, C] (first wins; NaN never beats a number, an all-NaN row
 * gives 0) into pred [B].
 * NULL arrays or B, C < 1 write nothing. */
void spk_argmax_rows(const float *scores, int B, int C, int32_t *pred);


/* ======================================================================================
 * Experiments: YAML files naming the data, the encoding, the network and the training
 * ======================================================================================
 * docs/experiment.md documents every field. Parsing uses libyaml; an unknown key, a wrong
 * type or an impossible value is refused with "FILE:LINE:COLUMN: what is wrong". */

#define SPK_PATH_MAX 1024

/* One layer of the sequential network description. */
typedef enum spk_layer_kind {
    SPK_LAYER_DENSE = 0, SPK_LAYER_CONV, SPK_LAYER_POOL, SPK_LAYER_FLATTEN, SPK_LAYER_DROPOUT,
    SPK_LAYER_NEURON, SPK_LAYER_SCALE, SPK_LAYER_DELAY,
    SPK_LAYER_ATTENTION, /* a Spikformer block around an attention node (docs/attention.md) */
    SPK_LAYER_NORM,     /* `batchnorm`: a tdBN node (norm settings)                         */
    SPK_LAYER_RESIDUAL, /* `residual`: the next `count` layers are its branch, the `shortcut`
                           after them its shortcut (0: the identity); a merge node named
                           after it joins the branch output (a) and the shortcut's (s, the
                           block input for the identity) with `connect`                      */
    SPK_LAYER_REVERSIBLE, /* `reversible`: L reversible blocks (docs/reversible.md)           */
    SPK_LAYER_KIND_COUNT
} spk_layer_kind;

typedef struct spk_layer_spec {
    spk_layer_kind kind;
    char name[64];
    int line;                    /* where it was written (1-based)                          */
    int units, bias;             /* dense                                                   */
    int dims, channels, kernel[2], stride[2], padding[2], dilation[2], groups; /* conv/pool   */
    int pool;                    /* 0 sum, 1 avg, 2 max                                    */
    float p;                     /* dropout                                                 */
    int delay;                   /* delay steps (one for every feature)                     */
    spk_neuron_config neuron;    /* neuron                                                  */
    int recurrent;               /* neuron: add an all-to-all recurrent dense layer        */
    int recurrent_bias;          /* ... with a bias (default 1, as snnTorch's RLeaky)       */
    int learn_beta, learn_threshold; /* SPK_LEARN_*                                         */
    int heads, attn_kind;        /* attention: heads (default 1), spk_attention_kind        */
    float attn_scale;            /* ... scale (default 0.125)                               */
    float attn_threshold;        /* ... threshold of the population after it (default 0.5) */
    int attn_norm;               /* ... 1: a tdBN node after each projection (as Spikformer) */
    spk_norm_config norm;        /* batchnorm                                               */
    int count;                   /* residual: layers in its branch (the ones that follow)   */
    int shortcut;                /* residual: layers of its shortcut, after the branch's
                                    (0: the identity)                                       */
    spk_merge_op connect;        /* residual: the merge                                     */
    int blocks, rev_op;          /* reversible: L and spk_rev_op (kernel[0], bias, neuron) */
} spk_layer_spec;

typedef struct spk_experiment {
    char source[SPK_PATH_MAX];   /* the file it came from                                   */
    /* data */
    char dataset[32];            /* fashion_mnist | yinyang | randman | files              */
    char data_dir[SPK_PATH_MAX]; /* fashion_mnist: where the IDX files are ("" = default)  */
    char x_train[SPK_PATH_MAX], y_train[SPK_PATH_MAX], x_test[SPK_PATH_MAX], y_test[SPK_PATH_MAX];
    int has_time;                /* files: samples are [T, channels]                       */
    int train_samples, test_samples; /* 0 = all                                             */
    uint64_t data_seed;
    spk_randman_params randman;
    /* augmentation of training batches (data.augment; images [C, H, W] or [H, W] only):
     * a random translation by up to aug_shift pixels in each direction (zero fill) and, with
     * aug_flip, a left-right mirror with probability 1/2; 0 = off                          */
    int aug_shift, aug_flip;
    /* encoding */
    spk_encoder_config encoder;
    int steps;                   /* T                                                       */
    /* network */
    spk_layer_spec *layers;
    int n_layers;
    /* training */
    int epochs, batch_size;
    uint64_t seed;
    int checkpoint_every;        /* batches between checkpoints (0 = once per epoch)        */
    spk_train_config train;      /* train.output is set when the network is built           */
    /* the network as an embedded NIR file instead of `layers` (spk import; YAML key `graph`
     * with format nir, dt, method and the file in base64): built with spk_nir_read_memory */
    unsigned char *nir_data;     /* spk_malloc'd file image, NULL when the network is layers */
    size_t nir_len;
    double nir_dt;               /* the discretization it is read with (spk_nir_options)     */
    int nir_method;
    int hardware_safe;           /* training.hardware_safe: spk_net_set_hardware_safe      */
} spk_experiment;

/* Parse a YAML experiment file / text (`name` is used in messages). On failure *out is NULL,
 * the status is SPK_ERR_FORMAT (or SPK_ERR_IO) and spk_errmsg(NULL) says FILE:LINE:COL. */
spk_status spk_experiment_load(spk_experiment **out, const char *path);
spk_status spk_experiment_parse(spk_experiment **out, const char *text, size_t len, const char *name);
void spk_experiment_free(spk_experiment *e);
/* The fully resolved experiment (every default written out) as YAML text that
 * spk_experiment_parse reads back to the same experiment. Free with spk_free. */
char *spk_experiment_to_yaml(const spk_experiment *e);
/* Load the experiment's train and test sets (data section). */
spk_status spk_experiment_load_data(const spk_experiment *e, spk_dataset *train, spk_dataset *test);
/* The network input shape for a dataset under the experiment's encoding, and the number of
 * steps T (the encoding's steps, or a sequence dataset's own length). Returns ndim (0 and a
 * message when the encoding cannot apply to the data). */
int spk_experiment_input_shape(const spk_experiment *e, const spk_dataset *d, int dims[SPK_MAX_DIMS], int *T);
/* Encode samples idx[0..B) of d into x [T, B, input dims]. `draw` numbers the batch for the
 * random encoders (use the global step: reproducible, thread-independent). No augmentation:
 * this is the evaluation path. */
spk_status spk_experiment_encode_batch(const spk_experiment *e, const spk_dataset *d, const int32_t *idx, int B, float *x,
                                       uint64_t draw);
/* The same for a training batch: each sample first gets the experiment's augmentation
 * (aug_shift, aug_flip), drawn from (experiment seed, sample position b, draw), so a resumed
 * run draws the same as an uninterrupted one. Without augmentation it equals
 * spk_experiment_encode_batch. SPK_ERR_INVALID_ARG when augmentation is asked of samples that
 * are not images. */
spk_status spk_experiment_encode_train_batch(const spk_experiment *e, const spk_dataset *d, const int32_t *idx, int B,
                                             float *x, uint64_t draw);
/* 1 when the encoded input of d's samples is the same at every step (a static sample under
 * the 'direct' encoding: gain * x injected as current), else 0. Then
 * spk_experiment_encode_one_step gives the batch as one step, for a network told so
 * (spk_net_set_static_input). */
int spk_experiment_static_input(const spk_experiment *e, const spk_dataset *d);
/* The one step [B, input dims] of the batch spk_experiment_encode_batch (train 0) or
 * spk_experiment_encode_train_batch (train 1) would write at every step; SPK_ERR_INVALID_ARG
 * unless spk_experiment_static_input. */
spk_status spk_experiment_encode_one_step(const spk_experiment *e, const spk_dataset *d, const int32_t *idx, int B, float *x,
                                          uint64_t draw, int train);
/* Build the network for samples of the given shape (after encoding: e.g. [784], [1, 28, 28]
 * or [channels] for sequences). *readout is the last layer (a neuron population). */
spk_status spk_experiment_build_net(const spk_experiment *e, int ndim, const int *dims, spk_net **net, int *readout);


/* ======================================================================================
 * Models: spk's own file format (model.spk) and training checkpoints
 * ======================================================================================
 * A model file holds the resolved experiment (so the network can be rebuilt), the input
 * shape, every learnable parameter, every neuron population's per-neuron parameters, and,
 * for checkpoints, the optimizer state and the position in training. It ends with a CRC-32
 * (zlib) of everything before it: truncation or corruption is refused with a message.
 * Files are written atomically: a temporary file in the same folder, flushed and synced,
 * then renamed over the target, so an existing file is never left half-written. */
typedef struct spk_train_state {
    int64_t epoch;   /* epochs completed                                   */
    int64_t batch;   /* batches completed in the current epoch             */
    int64_t step;    /* optimizer steps taken in all                       */
} spk_train_state;

/* Save a model (and, when opt / ts are not NULL, the training state). */
spk_status spk_model_save(const char *path, const spk_experiment *e, int in_ndim, const int *in_dims, spk_net *net,
                          spk_optim *opt, const spk_train_state *ts);
/* Load a model: parses the embedded experiment, rebuilds the network, restores its
 * parameters. Training state (when the file has one) goes to *ts and the optimizer state
 * to *opt_state (spk_malloc'd, n floats; NULL when absent); pass NULL to ignore them. */
spk_status spk_model_load(const char *path, spk_experiment **e, spk_net **net, int *readout, int *in_ndim, int in_dims[SPK_MAX_DIMS],
                          spk_train_state *ts, float **opt_state, size_t *opt_n);
/* Fold every norm node into the dense or conv node that feeds it (docs/architectures.md):
 * with the inference affine y = a x + c per channel (a = gamma alpha v_th / sqrt(running_var
 * + eps), c = beta - a running_mean), W' = a W and b' = a b + c per output channel (a bias is
 * added when the op had none), and the norm node removed. The result is a new experiment
 * and network (*e_out, *net_out, *readout) computing the inference-mode function of the
 * old one up to float rounding. Refused (SPK_ERR_UNSUPPORTED, naming the norm node) when a
 * norm node's only input is not a dense or conv node, or that node feeds anything else.
 * *n_folded (may be NULL) is the count of norm nodes folded; with none the result is a copy. */
spk_status spk_model_fold_norm(const spk_experiment *e, spk_net *net, int in_ndim, const int *in_dims, spk_experiment **e_out,
                               spk_net **net_out, int *readout, int *n_folded);
/* Set the trainer's step count (when resuming from a checkpoint). */
void spk_trainer_set_steps(spk_trainer *tr, long steps);


/* ======================================================================================
 * Event-driven engine: a built network run one sample at a time, moving only events
 * ======================================================================================
 * The way neuromorphic chips run a network (docs/engine.md): per step, only non-zero values
 * (events: spikes, or non-zero inputs) move. A dense or conv op keeps its weights as
 * compressed sparse rows, one row per input; each input event adds its row (x * w for every
 * outgoing synapse) into the op's outputs. Delays are ring buffers. A neuron population
 * updates only the neurons an event reached or whose state is not zero (noisy populations:
 * all). Every operation is counted.
 * In float the engine gives the clock-driven engine's spikes (spk_net_forward) step for
 * step: exactly whenever the two engines' dense sums round alike, which is guaranteed when
 * every partial sum is exact in float (e.g. weights on a 2^-k grid and spike inputs), and
 * which otherwise holds except for a potential within rounding of a threshold.
 *
 *     spk_event *ev;
 *     spk_event_create(&ev, net);                 // after spk_net_build (weights are copied)
 *     spk_event_run(ev, T, x);                    // x [T, input dims]: one sample
 *     const float *s = spk_event_signal(ev, readout, SPK_SIGNAL_OUT);   // [T, N]
 *     const spk_event_stats *st = spk_event_get_stats(ev);            // counts so far
 *     spk_event_free(ev);
 */
typedef struct spk_event spk_event;

/* What one node did, summed over every run since creation or spk_event_reset_stats. */
typedef struct spk_event_node_stats {
    spk_node_kind kind;
    const char *name;   /* the node's name (valid while the network lives)                  */
    int64_t neurons;    /* neuron: population size; 0 for other kinds                        */
    int64_t synapses;   /* dense / conv: connections with a non-zero weight (conv: each
                           kernel tap at each output position that lands inside the input);
                           pool: (input, window) pairs; neuron: its fan-in total, the
                           synapses of the dense / conv / pool ops that feed it (through
                           scale, merge, flatten, dropout and delay nodes); others 0          */
    int64_t spikes;     /* events emitted: neuron: spikes (a graded spike of n counts once);
                           input: non-zero input values; pool, scale, flatten, merge,
                           dropout, delay: non-zero outputs; dense / conv: 0 (currents)       */
    int64_t sops;       /* synaptic operations: dense / conv: one per input event per
                           outgoing synapse (an accumulate; a multiply-accumulate when the
                           event is not 1); pool: one per input event per window; others 0 */
    int64_t updates;    /* neuron: neuron updates (neurons that received an event or had a
                           non-zero state, per step); others 0                               */
    int64_t macs;       /* dense / conv: multiply-accumulates of the same op run densely, as
                           a non-spiking network would (inputs x outputs, or the conv's
                           cout * cin/groups * k_h * k_w * out positions, per step)          */
} spk_event_node_stats;

typedef struct spk_event_stats {
    int n_nodes;
    const spk_event_node_stats *nodes; /* [n_nodes], indexed by node id                  */
    int64_t samples, steps;            /* runs and steps counted                           */
    int64_t neurons, synapses;         /* network size: neurons; synapses of the ops      */
    int64_t spikes;                    /* totals: spikes of the neuron populations          */
    int64_t input_events;              /*   non-zero input values                           */
    int64_t sops, updates, macs;       /*   summed over nodes                               */
} spk_event_stats;

/* An engine over a BUILT network (the network must outlive the engine; its weights, biases
 * and scales are copied now: create a new engine after changing them). Dropout is the
 * identity (inference). SPK_ERR_STATE when the network is not built; SPK_ERR_NOMEM (the
 * message names the node) when its synapses or buffers do not fit in memory;
 * SPK_ERR_UNSUPPORTED for a delay whose ring buffer would exceed the engine's limit
 * (2^26 slot-feature entries). On failure *out is NULL, nothing is left allocated and
 * spk_errmsg(NULL) says why. */
spk_status spk_event_create(spk_event **out, spk_net *net);
void spk_event_free(spk_event *ev);
/* Run one sample from the zero state: x is [T, input dims]. Counts are ADDED to the
 * statistics. SPK_ERR_INVALID_ARG for T < 1 or NULL x, SPK_ERR_NOMEM for the recordings. */
spk_status spk_event_run(spk_event *ev, int T, const float *x);
/* A neuron population's spikes (SPK_SIGNAL_OUT) or reported membrane (SPK_SIGNAL_MEM) of
 * the last run, [T, N]; NULL for other nodes or before a run. */
const float *spk_event_signal(const spk_event *ev, int node, spk_signal sig);
/* Steps of the last run (0 before a run). */
int spk_event_steps(const spk_event *ev);
/* The counts so far, per node and in total (the pointer stays valid until spk_event_free;
 * each call refreshes the totals). NULL for a NULL engine. */
const spk_event_stats *spk_event_get_stats(spk_event *ev);
/* Zero the counts (sizes stay). */
void spk_event_reset_stats(spk_event *ev);

/* ---- large sparse networks: the CUBA benchmark network ---------------------------------
 * N current-based LIF neurons with exponential synaptic currents (Vogels & Abbott 2005, as
 * in Brian2's CUBA example), integrated exactly per step, random sparse connectivity, spikes
 * delivered event-driven along the rows of the neurons that fired. Units: mV and ms.
 *   dv/dt = (ge + gi - (v - v_rest)) / tau_m  (v frozen while refractory),
 *   dge/dt = -ge / tau_e, dgi/dt = -gi / tau_i; a spike of an excitatory neuron adds w_exc
 *   to ge of each target, an inhibitory one w_inh to gi (the next step, or delay_steps later);
 *   v > v_thr fires, then v = v_reset and refractory_ms of refractoriness.
 * docs/engine.md has the details and the YAML form (examples/cuba.yaml). */
typedef struct spk_cuba_config {
    int n;                  /* neurons (4000); the first round(n * exc_fraction) excite  */
    double exc_fraction;    /* 0.8                                                        */
    double p;               /* connection probability of every (pre, post) pair (0.02)    */
    double dt_ms, tau_m_ms, tau_e_ms, tau_i_ms;  /* 0.1, 20, 5, 10; all > 0               */
    double v_thr_mv, v_reset_mv, v_rest_mv;      /* -50, -60, -49                         */
    double refractory_ms;   /* 5 (>= 0; rounded to steps)                                 */
    double w_exc_mv, w_inh_mv; /* 1.62, -9                                                */
    int delay_steps;        /* axonal delay in steps beyond the next step (0)             */
    uint64_t seed;          /* connectivity and initial potentials (1)                    */
    int record;             /* keep every spike for spk_cuba_spikes and the ISI CV (1)    */
    /* explicit connectivity instead of the random one: n_syn synapses pre[k] -> post[k]
     * (copied at create; NULL = random with probability p)                              */
    const int32_t *pre, *post;
    int64_t n_syn;
} spk_cuba_config;
/* The defaults above: Brian2's CUBA example. Initial potentials are uniform in
 * [v_reset, v_thr), currents zero. */
spk_cuba_config spk_cuba_config_default(void);
/* Read a configuration from a YAML mapping (docs/engine.md lists the keys; keys left out keep
 * the defaults). An unknown key or a bad value is SPK_ERR_FORMAT with FILE:LINE:COL. */
spk_status spk_cuba_config_load(spk_cuba_config *c, const char *path);

typedef struct spk_cuba spk_cuba;
/* Build the network. SPK_ERR_INVALID_ARG (message: the field, or the synapse and the neuron
 * that does not exist), SPK_ERR_UNSUPPORTED for a delay whose ring buffer would exceed
 * 2^26 entries, SPK_ERR_NOMEM; on failure *out is NULL and nothing is left allocated. */
spk_status spk_cuba_create(spk_cuba **out, const spk_cuba_config *c);
void spk_cuba_free(spk_cuba *s);
/* Simulate `ms` more milliseconds (rounded to steps), continuing from the current state. */
spk_status spk_cuba_run(spk_cuba *s, double ms);

typedef struct spk_cuba_stats {
    int64_t neurons, synapses, steps, spikes;
    int64_t sops;           /* spikes x outgoing synapses                                 */
    int64_t updates;        /* neuron updates: every neuron every step (all must decay)   */
    double t_ms;            /* simulated time                                             */
    double rate_hz;         /* mean firing rate: spikes / neurons / time                  */
    double cv_isi;          /* mean over neurons with >= 3 spikes of std/mean of their
                               inter-spike intervals (NaN when none, or not recorded)    */
    int64_t cv_neurons;     /* neurons that entered cv_isi                                */
} spk_cuba_stats;
spk_status spk_cuba_get_stats(const spk_cuba *s, spk_cuba_stats *out);
/* The spike recorder: every spike so far as (neuron, step), in time order. Returns the
 * count; the arrays stay valid until the next run or free. */
int64_t spk_cuba_spikes(const spk_cuba *s, const int32_t **neuron, const int64_t **step);
/* The state now (read-only views, [n] each, valid until free): membrane potentials and the
 * two synaptic currents, mV. Any pointer may be NULL. */
void spk_cuba_state(const spk_cuba *s, const float **v, const float **ge, const float **gi);
/* The ISI statistics of any spike record: spikes (neuron[k], t[k]) in time order, neurons
 * 0..n_neurons-1. *cv: mean over neurons with >= 3 spikes of the standard deviation (1/n)
 * over the mean of their inter-spike intervals (NaN when no neuron has 3); *n_cv: how many
 * neurons entered it. SPK_ERR_INVALID_ARG for a neuron index out of range. */
spk_status spk_isi_stats(const int32_t *neuron, const double *t, int64_t n_spikes, int n_neurons, double *cv, int64_t *n_cv);

/* ======================================================================================
 * Neuromorphic hardware: the chip catalog, whether a network fits a chip, and energy
 * ======================================================================================
 * docs/hardware.md explains the columns, every check and the energy arithmetic.
 * The built-in catalog is SPEC.md §6's neuromorphic-hardware.csv (fifteen chips, 2013 to
 * 2023), compiled into spk from src/hw/neuromorphic-hardware.csv and parsed at run time by
 * the same RFC 4180 reader that reads a user's catalog. Empty cells are UNKNOWN, not zero:
 * an unknown number is NaN, an unknown text is "". */

/* The catalog's columns, in the order of the built-in file. Append-only. */
typedef enum spk_hw_column {
    SPK_HW_COL_NAME = 0, SPK_HW_COL_MAKER, SPK_HW_COL_ANNOUNCED, SPK_HW_COL_PROCESS_NM, SPK_HW_COL_NEURONS,
    SPK_HW_COL_NEURON_MODEL, SPK_HW_COL_SYNAPSES, SPK_HW_COL_SYNAPSE_MODEL, SPK_HW_COL_ON_CHIP_LEARNING,
    SPK_HW_COL_CLOCK_MHZ, SPK_HW_COL_J_PER_SOP, SPK_HW_COL_W_PER_SYNAPSE, SPK_HW_COL_SOFTWARE, SPK_HW_COL_COUNT
} spk_hw_column;
/* The header name of a column ("name", "j_per_sop", ...); NULL outside the enum. */
const char *spk_hw_column_name(spk_hw_column c);

#define SPK_HW_TEXT 64
/* One chip. Numbers are NaN when the cell is empty (unknown). */
typedef struct spk_chip {
    char name[SPK_HW_TEXT];             /* unique, ASCII case ignored                        */
    char maker[SPK_HW_TEXT];
    char announced[SPK_HW_TEXT];        /* YYYY-MM-DD (or YYYY-MM, YYYY)                     */
    double process_nm;                  /* > 0                                               */
    double neurons, synapses;           /* capacity of one chip, > 0                         */
    char neuron_model[SPK_HW_TEXT];     /* "LIF", "exp-LIF", "AdEx-IF", "programmable", ...  */
    char synapse_model[SPK_HW_TEXT];    /* e.g. "CuBa,Delta", "programmable"                 */
    char on_chip_learning[SPK_HW_TEXT]; /* "no", "yes", "programmable" or the rules, e.g.
                                           "STDP", "e-prop"                                  */
    double clock_mhz;                   /* > 0; NaN when unknown or asynchronous             */
    int clock_async;                    /* 1: the cell says "async"                          */
    double j_per_sop;                   /* energy per synaptic operation (J), >= 0           */
    double w_per_synapse;               /* static power per synapse (W), >= 0                */
    char software[SPK_HW_TEXT];
    char origin[SPK_PATH_MAX + 32];     /* "built-in" or "FILE:LINE" of the row it came from */
} spk_chip;

typedef struct spk_hw_catalog spk_hw_catalog;
/* A catalog holding the built-in chips. */
spk_status spk_hw_catalog_create(spk_hw_catalog **out);
void spk_hw_catalog_free(spk_hw_catalog *c);
/* Add or override chips from CSV text / a CSV file with a header row of catalog column names
 * (any order, ASCII case ignored; `name` is required, unknown or repeated columns are
 * refused). A row whose name is already in the catalog overrides that chip: the columns the
 * file has replace its values (an empty cell makes the value unknown), the others are kept.
 * A new name adds a chip (columns the file lacks are unknown). Quoting is RFC 4180 (fields
 * in double quotes may hold commas, "" and line breaks); CRLF or LF line ends; blank lines
 * are skipped; spaces around a cell are ignored. Every cell is checked (numbers finite and in
 * range, clock a number or "async", dates YYYY[-MM[-DD]], text < SPK_HW_TEXT bytes, no name
 * twice in one file): the first bad cell or row is refused as SPK_ERR_FORMAT with
 * "FILE:LINE: what is wrong" (the line where the row starts) in spk_errmsg(c) and
 * spk_errmsg(NULL), and the catalog is left unchanged. */
spk_status spk_hw_catalog_merge_text(spk_hw_catalog *c, const char *text, size_t len, const char *name);
spk_status spk_hw_catalog_merge_file(spk_hw_catalog *c, const char *path);
int spk_hw_catalog_count(const spk_hw_catalog *c);
const spk_chip *spk_hw_catalog_chip(const spk_hw_catalog *c, int i);
/* The index of the chip named `name` (ASCII case ignored), or -1. */
int spk_hw_catalog_find(const spk_hw_catalog *c, const char *name);
/* Sort by a column (its header name; a leading '-' sorts descending). Numbers sort by
 * value, text alphabetically (ASCII case ignored); unknown cells go last either way, and
 * "async" clocks after every numeric clock. Stable. SPK_ERR_INVALID_ARG for an unknown
 * column name. */
spk_status spk_hw_catalog_sort(spk_hw_catalog *c, const char *column);
/* Where the built-in catalog came from (one line, for listings). */
const char *spk_hw_catalog_source(void);

/* ---- what a network needs from a chip ------------------------------------------------- */
/* Neuron features that not every chip offers (bits of spk_hw_needs.features). */
enum {
    SPK_HW_NEED_CUBA = 1,      /* current-based synapses (CuBa neuron kind)               */
    SPK_HW_NEED_ADAPTIVE = 2,  /* adaptive threshold (ALIF)                                */
    SPK_HW_NEED_COMPLEX = 4,   /* complex resonate-and-fire neurons                       */
    SPK_HW_NEED_GRADED = 8,    /* graded (multi-valued) spikes                             */
    SPK_HW_NEED_NOISE = 16     /* stochastic firing (threshold noise)                      */
};
#define SPK_HW_NEED_BITS 5
typedef struct spk_hw_needs {
    int64_t neurons;            /* neurons of every population (inputs are not neurons)     */
    int64_t synapses;           /* connections of dense and conv ops with a non-zero
                                   weight, a conv tap once per output position where it lands
                                   inside the input, and pools' (input, window) pairs: the
                                   synapses the event engine counts                          */
    int64_t max_fan_in;         /* the most distinct sources (neurons or input values) that
                                   reach one neuron within a step, recurrent edges included  */
    char fan_in_node[SPK_HW_TEXT]; /* the population with that fan-in                       */
    unsigned features;          /* SPK_HW_NEED_* bits                                        */
    char feature_node[SPK_HW_NEED_BITS][SPK_HW_TEXT]; /* the first population needing each bit */
    char nonlocal[256];         /* "" or why an op is not local / event-driven (first found) */
    char input_note[256];       /* "" or a note on a real-valued input                       */
} spk_hw_needs;
/* Measure what a built network needs. `input_real` = 1 when its input carries real values
 * (direct current) instead of spikes: the first synaptic ops then multiply (noted in
 * input_note; not a reason to refuse). Max pooling of a synaptic op's output (a maximum of
 * currents, not of spikes) is reported in `nonlocal`; so would any op kind that fit.c does
 * not know to be local. */
spk_status spk_hw_model_needs(spk_net *net, int input_real, spk_hw_needs *out);

/* ---- fit ------------------------------------------------------------------------------ */
typedef enum spk_hw_verdict { SPK_HW_YES = 0, SPK_HW_NO, SPK_HW_UNKNOWN } spk_hw_verdict;
/* "yes", "no", "unknown". */
const char *spk_hw_verdict_name(spk_hw_verdict v);
typedef enum spk_hw_check {
    SPK_HW_CHECK_NEURONS = 0, /* model neurons <= chip neurons                               */
    SPK_HW_CHECK_SYNAPSES,    /* model synapses <= chip synapses                             */
    SPK_HW_CHECK_FAN_IN,      /* max fan-in <= chip synapses / neurons                       */
    SPK_HW_CHECK_NEURON_MODEL,/* the chip's neuron (and synapse) model runs every population */
    SPK_HW_CHECK_OPS,         /* every op is local and event-driven                          */
    SPK_HW_CHECK_LEARNING,    /* the chip learns with the rule asked for (when asked)         */
    SPK_HW_CHECK_COUNT
} spk_hw_check;
/* "neurons", "synapses", "fan_in", "neuron_model", "ops", "learning". */
const char *spk_hw_check_name(spk_hw_check k);
typedef struct spk_hw_fit {
    spk_hw_verdict verdict;                  /* on ONE chip: no if any check is no, else
                                                unknown if any is unknown, else yes        */
    spk_hw_verdict check[SPK_HW_CHECK_COUNT];
    char why[SPK_HW_CHECK_COUNT][256];       /* one sentence per check, with the numbers    */
    int64_t chips;                           /* chips needed for the neurons and synapses
                                                (max of the two ratios, rounded up; the
                                                known one when the other is unknown; 0 when
                                                both are unknown)                           */
    int capacity_only;                       /* 1: only neurons / synapses fail, so `chips`
                                                chips would hold it                         */
} spk_hw_fit;
/* Decide whether `needs` fits `chip`. `learn_rule` is the on-chip learning rule wanted
 * ("stdp", "e-prop", ...; ASCII case, '-', '_' and spaces ignored), or NULL for inference
 * only. */
spk_status spk_hw_fit_chip(const spk_chip *chip, const spk_hw_needs *needs, const char *learn_rule, spk_hw_fit *out);

/* ---- energy --------------------------------------------------------------------------- */
/* Per-inference counts of one population or op, for reports. */
typedef struct spk_hw_layer_counts {
    char name[SPK_HW_TEXT];
    double neurons, synapses, spikes, sops;
} spk_hw_layer_counts;
/* What one inference costs in operations. */
typedef struct spk_hw_counts {
    double neurons, synapses;   /* the model's size (spk_hw_needs)                          */
    double steps;               /* time steps per inference, >= 1                           */
    double step_s;              /* seconds one step is assumed to take (the static share's
                                   window is steps * step_s), > 0                           */
    double spikes;              /* spikes per inference, all populations                    */
    double sops;                /* synaptic operations (accumulates) per inference          */
    double macs;                /* multiply-accumulates of the same network as a dense ANN,
                                   one pass without time steps (= synapses)                  */
    const spk_hw_layer_counts *layers; /* per op / population (may be NULL)                 */
    int n_layers;
    double sop_macs;            /* of the SOPs, those whose event is a real value (ops fed
                                   by a real-valued input): multiply-accumulates, charged at
                                   4.6 pJ on the 45 nm SNN row (0 when the input is spikes)  */
} spk_hw_counts;
/* Per-inference counts from the event engine's statistics of `net` (samples >= 1 runs):
 * totals divided by the number of samples, the dense ANN's MACs as one step of the engine's
 * dense MACs, and, when `input_real`, the SOPs of the ops the input feeds as sop_macs.
 * `layers` (room for st->n_nodes) receives one entry per node with neurons, synapses or
 * SOPs (a population's synapses are left to the ops that feed it) and out->layers points
 * to it. SPK_ERR_INVALID_ARG when nothing was run or the sizes disagree with the network. */
spk_status spk_hw_counts_from_events(spk_net *net, const spk_event_stats *st, int input_real, double step_s, spk_hw_counts *out,
                                     spk_hw_layer_counts *layers);
/* Platforms beside the catalog's chips. */
typedef enum spk_hw_platform { SPK_HW_CHIP = 0, SPK_HW_GPU, SPK_HW_45NM_MAC, SPK_HW_45NM_AC } spk_hw_platform;
typedef struct spk_hw_energy_row {
    char name[SPK_HW_TEXT];
    spk_hw_platform platform;
    double ops;              /* SOPs (chips, 45 nm AC), FLOPs = 2 * MACs (GPUs), MACs (45 nm MAC) */
    double j_per_op;         /* NaN when the catalog does not give it                        */
    double dynamic_j;        /* ops * j_per_op                                               */
    double static_j;         /* chips: W/synapse * synapses * steps * step_s; NaN unknown; 0
                                for the other platforms                                      */
    double total_j;          /* dynamic + static (dynamic alone when static is unknown)      */
    double inferences_per_j; /* 1 / total_j (Inf for 0 J, NaN when unknown)                   */
    spk_hw_verdict fits;     /* chips: the fit verdict given (UNKNOWN when none); others YES  */
    int64_t chips;           /* chips needed (fit), 1 for the other platforms                  */
    char note[200];          /* the figures used (GPU peak rate and power), or what is unknown */
    int capacity_only;       /* chips: the fit's capacity_only (`chips` chips would hold it)   */
} spk_hw_energy_row;
/* The published figures behind the GPU rows: dense FP16 tensor-core peak FLOP/s and board
 * power (V100 SXM2 125e12 / 300 W, A100 SXM4 312e12 / 400 W, H100 SXM5 989.5e12 / 700 W);
 * J/FLOP = W / (FLOP/s). And the 45 nm convention: 4.6 pJ per MAC, 0.9 pJ per AC. */
#define SPK_HW_GPU_COUNT 3
#define SPK_HW_45NM_J_PER_MAC 4.6e-12
#define SPK_HW_45NM_J_PER_AC 0.9e-12
/* Energy per inference on every chip of the catalog (in catalog order), then the GPUs, then
 * the 45 nm MAC (dense ANN) and AC (SNN: one AC per SOP, sop_macs of them as MACs) rows: cat
 * count + 5 rows into
 * `rows` (room for at least that many, `max_rows`). `fits` (may be NULL) is one spk_hw_fit per
 * catalog chip, copied into the rows. SPK_ERR_INVALID_ARG for negative or non-finite counts,
 * steps < 1 or step_s <= 0, or too little room. */
spk_status spk_hw_energy(const spk_hw_catalog *cat, const spk_hw_counts *counts, const spk_hw_fit *fits,
                         spk_hw_energy_row *rows, int max_rows, int *n_rows);
/* The rows as text: format "table" (aligned, with the counts and the assumptions above it),
 * "csv" (a header row, one row per platform, unknown cells empty, numbers in %.6g) or "json"
 * (an object with "counts", "layers" and "platforms"; unknown values are null). Allocated
 * with spk_malloc; NULL (and the thread's message) for an unknown format or no memory. */
char *spk_hw_energy_format(const spk_hw_energy_row *rows, int n_rows, const spk_hw_counts *counts, const char *format);
/* A horizontal bar chart of energy per inference per platform on a log scale, as SVG text
 * (spk_malloc'd; NULL when out of memory). Chips that do not fit one chip are drawn hatched
 * with their chip count; rows with an unknown energy are listed as unknown. */
char *spk_hw_energy_svg(const spk_hw_energy_row *rows, int n_rows, const char *title);

/* ======================================================================================
 * NIR: the Neuromorphic Intermediate Representation (HDF5 files; docs/nir.md)
 * ======================================================================================
 * Reading maps every NIR 1.0 primitive onto the network graph: Affine/Linear -> dense,
 * Conv1d/Conv2d -> conv, SumPool2d/AvgPool2d -> pool, Flatten -> flatten, Scale -> scale,
 * Delay -> delay (seconds / dt, rounded), LIF/IF/CubaLIF/Threshold -> neuron populations
 * (hard reset to v_reset in the same step, strict threshold), LI/I/CubaLI -> integrators
 * whose output is their state (scale and merge nodes on a one-step cycle), nested NIRGraph
 * -> its members named "<graph>.<member>". NIR is continuous-time; `dt` and `method` choose
 * the discretization. Files written by spk carry its exact configuration in each node's
 * metadata, so spk -> NIR -> spk is bit-exact. */

/* The NIR version whose layout spk writes (it reads 0.1 to 1.0.x files). */
#define SPK_NIR_VERSION "1.0.7"

typedef enum spk_nir_method {
    SPK_NIR_EULER = 0,   /* forward Euler: decay 1 - dt/tau, input factor dt/tau          */
    SPK_NIR_EXP,         /* exponential integrator (exact for an input held over the step):
                            decay exp(-dt/tau), input factor 1 - exp(-dt/tau)             */
    SPK_NIR_METHOD_COUNT
} spk_nir_method;
/* "euler", "exp"; NULL outside the enum. */
const char *spk_nir_method_name(spk_nir_method m);
/* The method named `s`, or -1 with the thread's message set. */
int spk_nir_method_from_name(const char *s);

typedef struct spk_nir_options {
    double dt;                /* the time step in seconds, > 0. Default 1e-4 (snnTorch's)   */
    spk_nir_method method;    /* default SPK_NIR_EULER (what snnTorch's export assumes)     */
} spk_nir_options;
spk_nir_options spk_nir_options_default(void);

/* A network read from a NIR file. */
typedef struct spk_nir_graph {
    spk_net *net;             /* built; owned (free with spk_nir_graph_free)               */
    int input;                /* the input node                                            */
    int output;               /* the node whose output is the graph's Output               */
    char version[32];         /* the file's version string ("" when it has none)           */
    int n_nir_nodes;          /* primitives in the file (members of nested graphs counted) */
} spk_nir_graph;

/* Read a NIR file into a built network (parameters set from the file). opt NULL = defaults.
 * A primitive spk cannot run is SPK_ERR_UNSUPPORTED naming the node and its type (also: more
 * than one Input or Output, thresholds <= 0, per-neuron v_reset, a CubaLIF with v_leak != 0,
 * forward Euler with dt > tau); a malformed or truncated file is SPK_ERR_FORMAT (SPK_ERR_SHAPE
 * for shapes that do not fit), with spk_errmsg(NULL) naming the file, node and field. On
 * failure *out is zeroed. */
spk_status spk_nir_read(const char *path, const spk_nir_options *opt, spk_nir_graph *out);
/* The same from a file image in memory (`name` is used in messages). */
spk_status spk_nir_read_memory(const void *data, size_t len, const char *name, const spk_nir_options *opt,
                               spk_nir_graph *out);
void spk_nir_graph_free(spk_nir_graph *g);
/* Write a built network as a NIR file, atomically (a temporary file renamed over `path`):
 * one NIR node per spk node, named as in spk, plus an Output node fed by `output`. Neuron
 * populations become LIF / IF / LI / I / CubaLIF / CubaLI with tau and r from the decay and
 * gain under `opt` (the inverse of reading), v_leak 0, v_reset as configured; merge and
 * dropout become identity Scales; a scale with bias an Affine with a diagonal weight.
 * SPK_ERR_UNSUPPORTED (naming the node) for what NIR cannot express: max or 1-d pooling,
 * adaptive, complex, noisy or graded neurons. */
spk_status spk_nir_write(const char *path, spk_net *net, int output, const spk_nir_options *opt);

/* ======================================================================================
 * Fixed point: quantized models, the fixed-point engine, standalone C (docs/deploy.md)
 * ======================================================================================
 * Post-training quantization turns a trained network into integers: weights of 4..16 bits
 * (one scale per tensor or per output neuron), membranes of 16 or 32 bits, the decay as a
 * 12-bit multiplier v <- (v * (4096 - d) + 2048) >> 12, thresholds in state units. The
 * fixed-point engine runs it with integer arithmetic only, exactly as the C code that
 * spk_export_c generates (a test compiles that code and compares them bit for bit).
 * Supported: a feed-forward chain of dense layers, each followed by a LIF population
 * (Heaviside firing or none; soft, hard or no reset; delayed or same-step timing; one decay
 * and one threshold per population), with flatten and dropout nodes in between; the last
 * population is the readout. Anything else is SPK_ERR_UNSUPPORTED naming the node.
 *
 *     spk_qmodel *q;
 *     spk_quantize(&q, net, readout, &cfg, T, B, calib);   // calib [T, B, input dims]
 *     spk_fixed *fx;  spk_fixed_create(&fx, q);
 *     spk_qmodel_quantize_input(q, x, T * n_in, xq);       // float input -> int16
 *     spk_fixed_run(fx, T, xq, out);                        // out [T, n_out]
 */
typedef struct spk_qmodel spk_qmodel;
typedef struct spk_quant_config {
    int weight_bits;   /* 4..16. Default 8                                                  */
    int per_channel;   /* 0: one weight scale per dense layer (default); 1: one per output  */
    int state_bits;    /* membrane state: 16 or 32 (default)                               */
    int input_bits;    /* the first layer's input: 2..15 bits (unsigned when the calibration
                          input is never negative). Default 8                              */
} spk_quant_config;
spk_quant_config spk_quant_config_default(void);
/* Quantize a built network whose readout population is `readout`. `calib` [T, B, input
 * dims] are typical inputs: the float model is run on them to choose the input scale (an
 * input of whole numbers that fits the input bits keeps scale 1: spikes stay 1) and each
 * population's state scale (the largest |membrane| seen, or the threshold when larger,
 * times 2 for 16-bit and 256 for 32-bit states). The network's last forward is replaced.
 * SPK_ERR_UNSUPPORTED (naming the node) for a graph or neuron the engine cannot run,
 * SPK_ERR_INVALID_ARG for bits out of range. */
spk_status spk_quantize(spk_qmodel **out, spk_net *net, int readout, const spk_quant_config *cfg, int T, int B, const float *calib);
void spk_qmodel_free(spk_qmodel *q);
/* Fake quantization, for quantization-aware fine-tuning: round every dense weight of the
 * chain (the graph spk_quantize accepts) in place to the grid spk_quantize would put it on
 * under cfg (its bits and its per-tensor or per-channel scale, from the weights' current
 * largest magnitudes). Training steps taken at the rounded weights and applied to a float
 * copy are the straight-through estimator (`spk quantize --finetune`, docs/deploy.md). */
spk_status spk_fake_quantize(spk_net *net, int readout, const spk_quant_config *cfg);
/* Save / load the quantized model file (format in docs/deploy.md; CRC-32, atomic write).
 * `e` (may be NULL) is the experiment embedded so the data can be found again; load gives
 * it back in *e (NULL when the file has none; pass e = NULL to skip it). */
spk_status spk_qmodel_save(const char *path, const spk_qmodel *q, const spk_experiment *e);
spk_status spk_qmodel_load(const char *path, spk_qmodel **q, spk_experiment **e);
/* Sizes of one step's input and output (the readout population). */
int spk_qmodel_input_size(const spk_qmodel *q);
int spk_qmodel_output_size(const spk_qmodel *q);
/* 1 when the readout fires (the output is its spikes, 0 or 1), 0 when it never fires (the
 * output is its reported membrane in state units: multiply by spk_qmodel_output_scale for
 * the float model's units). */
int spk_qmodel_output_fires(const spk_qmodel *q);
double spk_qmodel_output_scale(const spk_qmodel *q);
/* Float inputs to the integers the engine takes: round(x / input scale), half away from
 * zero, clamped to the input range. SPK_ERR_NUMERIC for NaN or Inf. */
spk_status spk_qmodel_quantize_input(const spk_qmodel *q, const float *x, size_t n, int16_t *xq);

/* The fixed-point engine over a quantized model (which must outlive it). */
typedef struct spk_fixed spk_fixed;
spk_status spk_fixed_create(spk_fixed **out, const spk_qmodel *q);
void spk_fixed_free(spk_fixed *f);
/* Zero every state (the generated code's net_reset). */
void spk_fixed_reset(spk_fixed *f);
/* One time step (the generated code's net_step): in [input size], out [output size] (may
 * be NULL). */
void spk_fixed_step(spk_fixed *f, const int16_t *in, int32_t *out);
/* Reset, then T steps: x [T, input size], out [T, output size] (may be NULL). */
spk_status spk_fixed_run(spk_fixed *f, int T, const int16_t *x, int32_t *out);

/* Standalone C: write `c_path` and `h_path` (atomically), one C99 file and its header with
 * const weights, the state in one static struct, no dynamic allocation and no floating
 * point; `h_name` is how the .c includes the header (e.g. "net.h"). The functions are
 * net_reset() and net_step(const int16_t *input, int32_t *output), as spk_fixed_*. */
spk_status spk_export_c(const spk_qmodel *q, const char *c_path, const char *h_path, const char *h_name, const char *model_name);
/* The same for the float network (targets with an FPU): float weights, float state,
 * net_step(const float *input, float *output) computing what the clock-driven engine computes
 * (up to float rounding order). Same graph restrictions as spk_quantize. */
spk_status spk_export_c_float(spk_net *net, int readout, const char *c_path, const char *h_path, const char *h_name, const char *model_name);

#ifdef __cplusplus
}
#endif
#endif /* SPK_H */
