/* neuron_step.c — forward and backward steps of the real neuron kinds (LIF, CuBa, ALIF) over
 * a batch, the firing functions, and the sequence helpers.
 *
 * Order of work in one step, element (b, i), for the DELAYED timing (snnTorch's default):
 *   r      = s(t-1)                                   the previous spike (detached or not)
 *   a(t)   = rho*a(t-1) + s(t-1)                      ALIF adaptation
 *   i(t)   = alpha*i(t-1) + x(t)                      CUBA current (the updated one is used)
 *   inp    = g * i(t)  (or g * x(t)); 0 while held    refractory hold
 *   m      = reset-form(lam, v(t-1), inp, r)          soft: (lam*v + inp) - r*thr(t-1)
 *                                                     hard: lam*((1-r)*v + r*v_reset) + inp
 *                                                     hard_all: (1-r)*(lam*v + inp) + r*v_reset
 *   s(t)   = fire(m, thr(t)),  thr(t) = thr + adapt_beta*a(t)
 *   v(t)   = m  (the reported membrane is pre-reset)
 * and for the SAME_STEP timing: u = lam*v(t-1) + inp; s = fire(u); v(t) = r(u, s).
 * The float operation order follows snnTorch 0.9.4 so that its recordings are reproduced.
 *
 * Deliberately not here: the complex kind (neuron_complex.c), synaptic weights (ops/). */
#include "neuron/neuron_impl.h"

/* Populations smaller than this many elements per step run in one thread: a parallel region
 * costs more than the work (recurrent loops call a step T times on B rows). rec workload
 * (64 x 256 per step, 2 threads): 8192 rather than 32768 took its steps onto both cores,
 * 18.7 - 19.3 against 19.3 - 19.7 ms per batch (medians, alternated). */
#define NEURON_PAR_MIN 8192

#include <math.h>
#include <omp.h>
#include <string.h>

#define PI_D 3.14159265358979323846

/* ---------------------------------------------------------------- firing -------------- */

/* P(noise <= z*sigma) for the threshold noise `kind`, with z = (m - thr)/sigma */
static inline double noise_cdf(int kind, double z) {
    return kind == SPK_FIRE_GAUSS ? 0.5 * (1.0 + erf(z)) : 0.5 + atan(z) / PI_D;
}

static inline int noise_kind(const spk_neuron_config *c) {
    if (c->fire == SPK_FIRE_GAUSS || c->fire == SPK_FIRE_CAUCHY) return (int)c->fire;
    if (c->fire == SPK_FIRE_GRADED) return c->graded_noise;
    return 0;
}

double spk__p_at_least(const spk_neuron *nr, double m, double thr, int k) {
    const spk_neuron_config *c = &nr->cfg;
    if (c->fire == SPK_FIRE_NONE) return 0.0;
    if (k > 1 && c->fire != SPK_FIRE_GRADED) return 0.0;
    if (c->fire == SPK_FIRE_GRADED && c->n_max > 0 && k > c->n_max) return 0.0;
    int nk = noise_kind(c);
    double level = (double)k * thr;
    if (!nk) return m > level ? 1.0 : 0.0;
    return noise_cdf(nk, (m - level) / c->sigma);
}

double spk_neuron_p_spike(const spk_neuron *nr, int i, double u, int n) {
    if (!nr || i < 0 || i >= nr->n || n < 1) return 0.0;
    return spk__p_at_least(nr, u, nr->param[SPK_NP_THR][i], n);
}

#define GRADED_LIMIT 1000000

/* One stochastic draw: the uniform of replica `rep` for (t, index). Replicas 4j..4j+3 share
 * one Philox block; block j > 0 is addressed by putting j in the step's top 16 bits. */
static inline double replica_uniform(const spk_neuron_config *c, int64_t t, uint64_t index, int rep) {
    uint64_t step = (uint64_t)t ^ ((uint64_t)(rep >> 2) << 48);
    return spk_rng_uniform(c->rng, step, index, (unsigned)(rep & 3));
}

static inline int draw_count(const spk_neuron_config *c, int nk, float m, float thr, double U) {
    int cap = c->fire == SPK_FIRE_GRADED ? (c->n_max > 0 ? c->n_max : GRADED_LIMIT) : 1;
    int n = 0;
    /* one noise draw shared by every level: n = #{k : U < F((m - k*thr)/sigma)} */
    while (n < cap && U < noise_cdf(nk, ((double)m - (double)(n + 1) * thr) / c->sigma)) n++;
    return n;
}

float spk__fire(const spk_neuron *nr, float m, float thr, int64_t t, uint64_t index) {
    const spk_neuron_config *c = &nr->cfg;
    if (c->fire == SPK_FIRE_NONE) return 0.0f;
    if (c->fire == SPK_FIRE_HEAVISIDE) return m - thr > 0.0f ? 1.0f : 0.0f;
    int nk = noise_kind(c);
    if (!nk) { /* deterministic graded staircase: n = #{k >= 1 : m > k*thr} */
        int cap = c->n_max > 0 ? c->n_max : GRADED_LIMIT;
        if (!(m > thr)) return 0.0f;
        double q = floor((double)m / thr);
        int n = q > cap ? cap : (int)q;
        while (n > 0 && !(m > (float)n * thr)) n--;
        while (n < cap && m > (float)(n + 1) * thr) n++;
        return (float)n;
    }
    if (c->replicas <= 1) return (float)draw_count(c, nk, m, thr, replica_uniform(c, t, index, 0));
    long sum = 0;
    for (int rep = 0; rep < c->replicas; rep++) sum += draw_count(c, nk, m, thr, replica_uniform(c, t, index, rep));
    return (float)((double)sum / c->replicas);
}

spk__fire_grad spk__fire_grad_at(const spk_neuron *nr, float m, float thr) {
    const spk_neuron_config *c = &nr->cfg;
    spk__fire_grad g = {0.0f, 0.0f};
    if (c->fire == SPK_FIRE_NONE) return g;
    if (c->fire != SPK_FIRE_GRADED) {
        float sg = spk_surrogate_grad(c->surrogate, c->surrogate_scale, m - thr);
        g.dsdm = sg;
        g.dsdthr = -sg;
        return g;
    }
    if (c->surrogate == SPK_SURR_SOFTPLUS_RAMP) {
        float d = spk_surrogate_grad(c->surrogate, c->surrogate_scale, m / thr - 1.0f);
        g.dsdm = d / thr;
        g.dsdthr = -d * m / (thr * thr);
        return g;
    }
    /* a staircase of surrogates, one per level k */
    int K = c->n_max > 0 ? c->n_max : (m > 0 ? (int)fminf(m / thr, (float)GRADED_LIMIT) : 0) + 32;
    double dm = 0, dthr = 0;
    for (int k = 1; k <= K; k++) {
        float sg = spk_surrogate_grad(c->surrogate, c->surrogate_scale, m - (float)k * thr);
        dm += sg;
        dthr -= (double)k * sg;
    }
    g.dsdm = (float)dm;
    g.dsdthr = (float)dthr;
    return g;
}

/* ---------------------------------------------------------------- forward ------------- */

static inline float clamp_decay(const spk_neuron_config *c, float lam) {
    if (!c->clamp_decay) return lam;
    return lam < 0.0f ? 0.0f : lam > 1.0f ? 1.0f : lam;
}

static spk_status check_step_args(const spk_neuron *nr, int B, const void *state, const void *s, const void *x) {
    if (!nr) return spk__fail(NULL, SPK_ERR_INVALID_ARG, "neuron step: population is NULL");
    if (B < 1) return spk__fail((spk__obj *)&nr->obj, SPK_ERR_INVALID_ARG, "neuron step: batch B = %d must be >= 1", B);
    if (!state || !s || !x)
        return spk__fail((spk__obj *)&nr->obj, SPK_ERR_INVALID_ARG, "neuron step: %s is NULL",
                         !state ? "state" : !s ? "spike output s" : "input x");
    return SPK_OK;
}

/* Everything the forward step of one element computes, for reuse by backward. */
typedef struct elem {
    float lam, thr, thr_prev, r, inp, m, s;
    float i_new, a_new;
    int hold, ref_new;
} elem;

static inline elem elem_forward(const spk_neuron *nr, int i, float v, float I, float A, float sp,
                                float ref, float x, int64_t t, uint64_t index, int do_fire, float s_known) {
    const spk_neuron_config *c = &nr->cfg;
    elem e;
    e.lam = clamp_decay(c, nr->param[SPK_NP_LAM][i]);
    float thr = nr->param[SPK_NP_THR][i];
    e.thr_prev = thr;
    e.thr = thr;
    e.a_new = 0.0f;
    if (c->kind == SPK_NEURON_ALIF) {
        e.thr_prev = thr + c->adapt_beta * A;
        e.a_new = c->adapt_rho * A + sp;
        e.thr = thr + c->adapt_beta * e.a_new;
    }
    e.i_new = 0.0f;
    float cur = x;
    if (c->kind == SPK_NEURON_CUBA) {
        e.i_new = clamp_decay(c, nr->param[SPK_NP_ALPHA][i]) * I + x;
        cur = e.i_new;
    }
    e.inp = c->gain * cur;
    int delayed = c->timing == SPK_TIMING_DELAYED;
    /* the reset term: the previous spike (delayed), none (same step), or snnTorch's
     * reset_delay=False check of the post-reset membrane (always detached) */
    e.r = delayed ? sp : c->timing == SPK_TIMING_SAME_STEP_SNNTORCH ? (v - e.thr_prev > 0.0f ? 1.0f : 0.0f) : 0.0f;
    /* refractory hold: steps that ignore input and cannot fire */
    int cnt = 0;
    if (c->reset == SPK_RESET_REFRACTORY) cnt = (delayed && sp > 0) ? c->ref_steps : (int)ref;
    e.hold = cnt > 0;
    if (e.hold) e.inp = 0.0f;
    float r = e.r;
    switch (c->reset) { /* with r = 0 each form reduces to lam*v + inp */
    case SPK_RESET_SOFT: e.m = (e.lam * v + e.inp) - r * e.thr_prev; break;
    case SPK_RESET_HARD:
    case SPK_RESET_REFRACTORY: e.m = e.lam * ((1.0f - r) * v + r * c->v_reset) + e.inp; break;
    case SPK_RESET_HARD_ALL: e.m = (1.0f - r) * (e.lam * v + e.inp) + r * c->v_reset; break;
    default: e.m = e.lam * v + e.inp; break;
    }
    e.s = e.hold ? 0.0f : do_fire ? spk__fire(nr, e.m, e.thr, t, index) : s_known;
    if (delayed) e.ref_new = e.hold ? cnt - 1 : 0;
    else e.ref_new = e.s > 0 ? c->ref_steps : (e.hold ? cnt - 1 : 0);
    return e;
}

/* the post-step membrane for the same-step timings: v = m - (s - r)*thr (soft) or
 * m - (h - r)*(m - v_reset) (hard, h = min(s, 1)); r = 0 except for snnTorch's variant */
static inline float same_step_reset(const spk_neuron_config *c, float m, float s, float r, float thr) {
    float h = s > 1.0f ? 1.0f : s;
    switch (c->reset) {
    case SPK_RESET_SOFT: return m - (s - r) * thr;
    case SPK_RESET_HARD:
    case SPK_RESET_HARD_ALL:
    case SPK_RESET_REFRACTORY: return r == 0.0f ? (1.0f - h) * m + h * c->v_reset : m - (h - r) * (m - c->v_reset);
    default: return m;
    }
}

spk_status spk__neuron_step_ref(const spk_neuron *nr, int B, int64_t t, float *state, float *u,
                                float *s, const float *x) {
    const int N = nr->n;
    const size_t BN = (size_t)B * N;
    const spk_neuron_config *c = &nr->cfg;
    float *V = state + nr->slot[SPK_SLOT_V] * BN;
    float *S = state + nr->slot[SPK_SLOT_S] * BN;
    float *I = nr->slot[SPK_SLOT_I] >= 0 ? state + nr->slot[SPK_SLOT_I] * BN : NULL;
    float *A = nr->slot[SPK_SLOT_A] >= 0 ? state + nr->slot[SPK_SLOT_A] * BN : NULL;
    float *R = nr->slot[SPK_SLOT_REF] >= 0 ? state + nr->slot[SPK_SLOT_REF] * BN : NULL;
    int64_t total = (int64_t)BN;
#pragma omp parallel for schedule(static) if (total > NEURON_PAR_MIN)
    for (int64_t k = 0; k < total; k++) {
        int i = (int)(k % N);
        elem e = elem_forward(nr, i, V[k], I ? I[k] : 0.0f, A ? A[k] : 0.0f, S[k], R ? R[k] : 0.0f,
                              x[k], t, (uint64_t)k, 1, 0.0f);
        float vnew = c->timing == SPK_TIMING_DELAYED ? e.m : same_step_reset(c, e.m, e.s, e.r, e.thr);
        V[k] = vnew;
        S[k] = e.s;
        if (I) I[k] = e.i_new;
        if (A) A[k] = e.a_new;
        if (R) R[k] = (float)e.ref_new;
        if (u) u[k] = e.m;
        s[k] = e.s;
    }
    return SPK_OK;
}

int spk__neuron_has_fast_path(const spk_neuron *nr) {
    const spk_neuron_config *c = &nr->cfg;
    return c->kind == SPK_NEURON_LIF && c->fire == SPK_FIRE_HEAVISIDE && c->reset != SPK_RESET_REFRACTORY &&
           c->timing != SPK_TIMING_SAME_STEP_SNNTORCH;
}

/* The fused LIF + Heaviside step: one pass over [B, N], one loop per (timing, reset, u wanted)
 * with no branch inside, so the compiler vectorizes it. Same float operations as the
 * reference step (a test compares them bit for bit). Parameters were validated with
 * |lam| <= 1, so clamping to [lo, 1] with lo = -1 is the identity when clamp_decay is off. */
/* One loop over a row, parameterized by where the previous state is read from (VIN, SIN:
 * the state itself in place, or the previous step's out of place) and what else is written
 * (WRITE_U: the potential; WRITE_M: the reported membrane). */
#define LIF_LOOP(VIN, SIN, MEXPR, VNEXPR, WRITE_U, WRITE_M)                       \
    for (int i = 0; i < N; i++) {                                                 \
        const float l0 = lamv[i] < lo ? lo : lamv[i], lam = l0 > 1.0f ? 1.0f : l0;     \
        const float thr = thrv[i];                                                \
        const float inp = g * xb[i], r = (SIN)[i], vv = (VIN)[i];                 \
        (void)r;                                                                  \
        const float m = (MEXPR);                                                  \
        const float sv = m - thr > 0.0f ? 1.0f : 0.0f;                            \
        const float vn = (VNEXPR);                                                \
        v[i] = vn;                                                                \
        sp[i] = sv;                                                               \
        so[i] = sv;                                                               \
        WRITE_U;                                                                  \
        WRITE_M;                                                                  \
    }
/* The loops of every (timing, reset) pair, with and without the potential. */
#define LIF_CASES(VIN, SIN, WRITE_M)                                                                   \
    do {                                                                                               \
        if (delayed) {                                                                                 \
            switch (rk) {                                                                              \
            case SPK_RESET_SOFT: LIF_U(VIN, SIN, (lam * vv + inp) - r * thr, m, WRITE_M); break;      \
            case SPK_RESET_HARD: LIF_U(VIN, SIN, lam * ((1.0f - r) * vv + r * vr) + inp, m, WRITE_M); break; \
            case SPK_RESET_HARD_ALL: LIF_U(VIN, SIN, (1.0f - r) * (lam * vv + inp) + r * vr, m, WRITE_M); break; \
            default: LIF_U(VIN, SIN, lam * vv + inp, m, WRITE_M); break;                               \
            }                                                                                          \
        } else {                                                                                       \
            switch (rk) {                                                                              \
            case SPK_RESET_SOFT: LIF_U(VIN, SIN, lam * vv + inp, m - sv * thr, WRITE_M); break;       \
            case SPK_RESET_HARD:                                                                       \
            case SPK_RESET_HARD_ALL: LIF_U(VIN, SIN, lam * vv + inp, (1.0f - sv) * m + sv * vr, WRITE_M); break; \
            default: LIF_U(VIN, SIN, lam * vv + inp, m, WRITE_M); break;                               \
            }                                                                                          \
        }                                                                                              \
    } while (0)
#define LIF_U(VIN, SIN, MEXPR, VNEXPR, WRITE_M)                                   \
    do {                                                                          \
        if (uo) LIF_LOOP(VIN, SIN, MEXPR, VNEXPR, uo[i] = m, WRITE_M)             \
        else LIF_LOOP(VIN, SIN, MEXPR, VNEXPR, (void)0, WRITE_M)                  \
    } while (0)

/* one batch row in place: plain arguments (no captured struct) so the loops vectorize */
static void lif_row(int N, int delayed, spk_reset_kind rk, float g, float vr, float lo,
                    const float *restrict lamv, const float *restrict thrv, const float *restrict xb,
                    float *restrict v, float *restrict sp, float *restrict so, float *restrict uo) {
    LIF_CASES(v, sp, (void)0);
}

/* The same step out of place: reads the state after step t-1 (vin, sin), writes the state
 * after step t (v, sp), the spikes, the potential (uo, may be NULL) and the reported membrane
 * (mo = the new v). Saves the network's copy of the state before each step and of the
 * membrane after it. Same float operations as lif_row. */
static void lif_row_oop(int N, int delayed, spk_reset_kind rk, float g, float vr, float lo, const float *restrict lamv,
                        const float *restrict thrv, const float *restrict xb, const float *restrict vin,
                        const float *restrict sin, float *restrict v, float *restrict sp, float *restrict so,
                        float *restrict uo, float *restrict mo) {
    LIF_CASES(vin, sin, mo[i] = vn);
}

static void lif_step_fast(const spk_neuron *nr, int B, float *state, float *u, float *s, const float *x) {
    const int N = nr->n;
    const size_t BN = (size_t)B * N;
    const spk_neuron_config *c = &nr->cfg;
    const float *lamv = nr->param[SPK_NP_LAM], *thrv = nr->param[SPK_NP_THR];
    const float g = c->gain, vr = c->v_reset, lo = c->clamp_decay ? 0.0f : -1.0f;
    const int delayed = c->timing == SPK_TIMING_DELAYED;
    const spk_reset_kind rk = c->reset;
    float *V = state + nr->slot[SPK_SLOT_V] * BN;
    float *S = state + nr->slot[SPK_SLOT_S] * BN;
#pragma omp parallel for schedule(static) if ((size_t)B * N > NEURON_PAR_MIN)
    for (int b = 0; b < B; b++) {
        size_t o = (size_t)b * N;
        lif_row(N, delayed, rk, g, vr, lo, lamv, thrv, x + o, V + o, S + o, s + o, u ? u + o : NULL);
    }
}

int spk__neuron_step_into_ok(const spk_neuron *nr) {
    return spk__neuron_has_fast_path(nr) && nr->nslots == 2 && nr->slot[SPK_SLOT_V] >= 0 && nr->slot[SPK_SLOT_S] >= 0;
}

void spk__neuron_step_into(const spk_neuron *nr, int B, const float *prev, float *state, float *u, float *s, float *mem,
                           const float *x) {
    const int N = nr->n;
    const size_t BN = (size_t)B * N;
    const spk_neuron_config *c = &nr->cfg;
    const float *lamv = nr->param[SPK_NP_LAM], *thrv = nr->param[SPK_NP_THR];
    const float g = c->gain, vr = c->v_reset, lo = c->clamp_decay ? 0.0f : -1.0f;
    const int delayed = c->timing == SPK_TIMING_DELAYED;
    const spk_reset_kind rk = c->reset;
    const size_t oV = (size_t)nr->slot[SPK_SLOT_V] * BN, oS = (size_t)nr->slot[SPK_SLOT_S] * BN;
#pragma omp parallel for schedule(static) if ((size_t)B * N > NEURON_PAR_MIN)
    for (int b = 0; b < B; b++) {
        size_t o = (size_t)b * N;
        lif_row_oop(N, delayed, rk, g, vr, lo, lamv, thrv, x + o, prev + oV + o, prev + oS + o, state + oV + o,
                    state + oS + o, s + o, u ? u + o : NULL, mem + o);
    }
}

/* The thin step (delayed timing): with the reset taken from the previous step's spike, the
 * membrane after a step is its potential, so the state after step t is (mem[t], s[t]) and the
 * network keeps nothing else. Same float operations as lif_row_oop's delayed loops. */
#define LIF_LOOP_THIN(MEXPR)                                                      \
    for (int i = 0; i < N; i++) {                                                 \
        const float l0 = lamv[i] < lo ? lo : lamv[i], lam = l0 > 1.0f ? 1.0f : l0;     \
        const float thr = thrv[i];                                                \
        const float inp = g * xb[i], r = sin[i], vv = vin[i];                     \
        (void)r;                                                                  \
        const float m = (MEXPR);                                                  \
        so[i] = m - thr > 0.0f ? 1.0f : 0.0f;                                     \
        mo[i] = m;                                                                \
    }

static void lif_row_thin(int N, spk_reset_kind rk, float g, float vr, float lo, const float *restrict lamv,
                         const float *restrict thrv, const float *restrict xb, const float *restrict vin,
                         const float *restrict sin, float *restrict so, float *restrict mo) {
    (void)vr;
    switch (rk) {
    case SPK_RESET_SOFT: LIF_LOOP_THIN((lam * vv + inp) - r * thr); break;
    case SPK_RESET_HARD: LIF_LOOP_THIN(lam * ((1.0f - r) * vv + r * vr) + inp); break;
    case SPK_RESET_HARD_ALL: LIF_LOOP_THIN((1.0f - r) * (lam * vv + inp) + r * vr); break;
    default: LIF_LOOP_THIN(lam * vv + inp); break;
    }
}

int spk__neuron_thin_ok(const spk_neuron *nr) {
    return spk__neuron_step_into_ok(nr) && nr->cfg.timing == SPK_TIMING_DELAYED;
}

/* Row o of a thin population through steps [0, nt): step t reads x + t * x_step, writes its
 * spikes and membrane at s and mem + t * stride; the state before step 0 is (v0, s0). */
static void thin_row_steps(const spk_neuron *nr, const float *par, int nt, const float *x, size_t x_step, const float *v0,
                           const float *s0, float *s, float *mem, size_t stride) {
    const spk_neuron_config *c = &nr->cfg;
    const float *lamv = par ? par : nr->param[SPK_NP_LAM], *thrv = par ? par + nr->n : nr->param[SPK_NP_THR];
    const float g = c->gain, vr = c->v_reset, lo = c->clamp_decay ? 0.0f : -1.0f;
    for (int t = 0; t < nt; t++) {
        const size_t so = (size_t)t * stride;
        lif_row_thin(nr->n, c->reset, g, vr, lo, lamv, thrv, x + (size_t)t * x_step, t ? mem + so - stride : v0,
                     t ? s + so - stride : s0, s + so, mem + so);
    }
}

void spk__neuron_steps_thin(const spk_neuron *nr, int B, int nt, const float *v_init, const float *s_init, float *s,
                            float *mem, const float *x, size_t x_step, const float *par) {
    const size_t BN = (size_t)B * nr->n;
    /* a row through all its steps: its state stays in L1 between steps, and only the outputs
     * (and a changing input) go through memory */
#pragma omp parallel for schedule(static) if (BN * (size_t)nt > NEURON_PAR_MIN)
    for (int b = 0; b < B; b++) {
        const size_t o = (size_t)b * nr->n;
        thin_row_steps(nr, par, nt, x + o, x_step, v_init + o, s_init + o, s + o, mem + o, BN);
    }
}

void spk__neuron_thin_step_rows(const spk_neuron *nr, int rows, const float *x, const float *v0, const float *s0, float *s,
                                float *mem) {
    const size_t N = (size_t)nr->n;
    for (int b = 0; b < rows; b++) thin_row_steps(nr, NULL, 1, x + b * N, 0, v0 + b * N, s0 + b * N, s + b * N, mem + b * N, 0);
}

size_t spk__thin_rows_scratch(const spk_neuron *nr, int nt) {
    /* membranes, spikes, spike gradients; a thread's part starts on a cache line */
    return spk__align_up((size_t)3 * nt * nr->n, 16);
}

void spk__neuron_steps_thin_rows(const spk_neuron *nr, int B, int nt, const float *v_init, const float *s_init,
                                 const float *x, size_t x_step, float *scratch, spk__thin_row_fn fn, void *ctx) {
    const int N = nr->n;
    const size_t per = spk__thin_rows_scratch(nr, nt);
#pragma omp parallel for schedule(static) if ((size_t)B * N * nt > NEURON_PAR_MIN)
    for (int b = 0; b < B; b++) {
        float *ms = scratch + (size_t)omp_get_thread_num() * per, *ss = ms + (size_t)nt * N;
        const size_t o = (size_t)b * N;
        thin_row_steps(nr, NULL, nt, x + o, x_step, v_init + o, s_init + o, ss, ms, N);
        fn(ctx, b / SPK__THIN_BLOCK_ROWS, b, ss);
    }
}

spk_status spk_neuron_step(const spk_neuron *nr, int B, int64_t t, float *state, float *u, float *s,
                           const float *x, const float *x_im, float *s_im) {
    spk_status st = check_step_args(nr, B, state, s, x);
    if (st) return st;
    if (nr->cfg.kind == SPK_NEURON_COMPLEX) return spk__complex_step(nr, B, t, state, u, s, x, x_im, s_im);
    if (spk__neuron_has_fast_path(nr)) {
        lif_step_fast(nr, B, state, u, s, x);
        return SPK_OK;
    }
    return spk__neuron_step_ref(nr, B, t, state, u, s, x);
}

/* ---------------------------------------------------------------- backward ------------ */

/* The fused LIF + Heaviside backward step (the same configurations as the fused forward).
 * It reads the forward's potential u instead of recomputing it, walks rows in memory order,
 * and sums the lam / thr gradients per block of LIF_BW_ROWS rows, then over the blocks in
 * order: a fixed order whatever the thread count. The plain backward below stays the
 * reference (tests compare the two). */
#define LIF_BW_ROWS SPK__THIN_BLOCK_ROWS

/* One row of the common backward (delayed timing, detached soft (soft = 1) or no reset,
 * atan surrogate): the general loop's float operations for that case, in the same order.
 * Called with constant soft / has_dmem / has_ds so that each call site is a branch-free,
 * vectorized loop. */
static inline __attribute__((always_inline)) void lif_bw_row_atan(
    int N, int soft, int has_dmem, int has_ds, int has_p, float lo, float sc, float g, const float *restrict lamv,
    const float *restrict thrv, const float *restrict v0, const float *restrict s0, const float *restrict ub,
    float *restrict dV, float *restrict dS, float *restrict dxb, const float *restrict dm, const float *restrict dsp,
    float *restrict plam, float *restrict pthr) {
    for (int i = 0; i < N; i++) {
        const float l0 = lamv[i] < lo ? lo : lamv[i], lam = l0 > 1.0f ? 1.0f : l0, thr = thrv[i];
        const float z = (ub[i] - thr) / sc, sg = 0.318309886f / sc / (1.0f + z * z);
        const float gV = dV[i] + (has_dmem ? dm[i] : 0.0f), gS = dS[i] + (has_ds ? dsp[i] : 0.0f);
        const float g_m = gV + gS * sg;
        dxb[i] += g_m * g;
        dV[i] = g_m * lam;
        dS[i] = 0.0f;
        if (has_p) { /* without learnable lam / thr the previous state is not read at all */
            float g_thr = -gS * sg;
            if (soft) g_thr += -g_m * s0[i];
            plam[i] += g_m * v0[i];
            pthr[i] += g_thr;
        }
    }
}

/* What one backward row needs of the population, taken once per call. */
typedef struct {
    int N, delayed, detach, common;
    spk_reset_kind rk;
    spk_surrogate_kind sk;
    float sc, g, vr, lo;
    const float *lamv, *thrv;
} lif_bw_cfg;

static lif_bw_cfg lif_bw_setup(const spk_neuron *nr) {
    const spk_neuron_config *c = &nr->cfg;
    lif_bw_cfg k = {.N = nr->n, .delayed = c->timing == SPK_TIMING_DELAYED, .detach = c->detach_reset, .rk = c->reset,
                    .sk = c->surrogate, .sc = c->surrogate_scale, .g = c->gain, .vr = c->v_reset,
                    .lo = c->clamp_decay ? 0.0f : -1.0f, .lamv = nr->param[SPK_NP_LAM], .thrv = nr->param[SPK_NP_THR]};
    /* the most common configuration (snnTorch's Leaky: delayed, detached soft or no reset,
     * atan surrogate) has a branch-free row kernel that vectorizes; same float operations */
    k.common = k.delayed && k.detach && k.sk == SPK_SURR_ATAN && (k.rk == SPK_RESET_SOFT || k.rk == SPK_RESET_NONE);
    return k;
}

/* One row of the backward step: dV, dS the row's state gradients, dxb += its input gradient,
 * plam / pthr += its lam / thr gradient terms (pgrad, or the general loop, which always sums). */
static void lif_bw_row(const lif_bw_cfg *k, int pgrad, const float *restrict v0, const float *restrict s0,
                       const float *restrict ub, const float *restrict sb, const float *restrict xr,
                       float *restrict dV, float *restrict dS, float *restrict dxb, const float *restrict dm,
                       const float *restrict dsp, float *restrict plam, float *restrict pthr) {
    const int N = k->N;
    const float *lamv = k->lamv, *thrv = k->thrv;
    const float lo = k->lo, sc = k->sc, g = k->g, vr = k->vr;
    if (k->common) {
        const int soft = k->rk == SPK_RESET_SOFT;
        /* constant arguments: each call below is its own branch-free loop */
        if (!pgrad) { /* no parameter gradients: the reset kind does not matter */
            if (dm && dsp) lif_bw_row_atan(N, 0, 1, 1, 0, lo, sc, g, lamv, thrv, v0, s0, ub, dV, dS, dxb, dm, dsp, plam, pthr);
            else if (dm) lif_bw_row_atan(N, 0, 1, 0, 0, lo, sc, g, lamv, thrv, v0, s0, ub, dV, dS, dxb, dm, dsp, plam, pthr);
            else if (dsp) lif_bw_row_atan(N, 0, 0, 1, 0, lo, sc, g, lamv, thrv, v0, s0, ub, dV, dS, dxb, dm, dsp, plam, pthr);
            else lif_bw_row_atan(N, 0, 0, 0, 0, lo, sc, g, lamv, thrv, v0, s0, ub, dV, dS, dxb, dm, dsp, plam, pthr);
            return;
        }
        if (soft && dm && dsp) lif_bw_row_atan(N, 1, 1, 1, 1, lo, sc, g, lamv, thrv, v0, s0, ub, dV, dS, dxb, dm, dsp, plam, pthr);
        else if (soft && dm) lif_bw_row_atan(N, 1, 1, 0, 1, lo, sc, g, lamv, thrv, v0, s0, ub, dV, dS, dxb, dm, dsp, plam, pthr);
        else if (soft && dsp) lif_bw_row_atan(N, 1, 0, 1, 1, lo, sc, g, lamv, thrv, v0, s0, ub, dV, dS, dxb, dm, dsp, plam, pthr);
        else if (soft) lif_bw_row_atan(N, 1, 0, 0, 1, lo, sc, g, lamv, thrv, v0, s0, ub, dV, dS, dxb, dm, dsp, plam, pthr);
        else if (dm && dsp) lif_bw_row_atan(N, 0, 1, 1, 1, lo, sc, g, lamv, thrv, v0, s0, ub, dV, dS, dxb, dm, dsp, plam, pthr);
        else if (dm) lif_bw_row_atan(N, 0, 1, 0, 1, lo, sc, g, lamv, thrv, v0, s0, ub, dV, dS, dxb, dm, dsp, plam, pthr);
        else if (dsp) lif_bw_row_atan(N, 0, 0, 1, 1, lo, sc, g, lamv, thrv, v0, s0, ub, dV, dS, dxb, dm, dsp, plam, pthr);
        else lif_bw_row_atan(N, 0, 0, 0, 1, lo, sc, g, lamv, thrv, v0, s0, ub, dV, dS, dxb, dm, dsp, plam, pthr);
        return;
    }
    const spk_reset_kind rk = k->rk;
    const int delayed = k->delayed, detach = k->detach;
    for (int i = 0; i < N; i++) {
        const float l0 = lamv[i] < lo ? lo : lamv[i], lam = l0 > 1.0f ? 1.0f : l0, thr = thrv[i];
        const float v = v0[i], m = ub[i], sg = spk__surr(k->sk, sc, m - thr);
        const float gV = dV[i] + (dm ? dm[i] : 0.0f), gS = dS[i] + (dsp ? dsp[i] : 0.0f);
        float g_m, g_thr = 0.0f, g_v, g_inp, g_sp = 0.0f, a_lam;
        if (delayed) {
            const float r = s0[i];
            g_m = gV + gS * sg;
            g_thr = -gS * sg;
            switch (rk) {
            case SPK_RESET_SOFT:
                g_v = g_m * lam; a_lam = g_m * v; g_inp = g_m;
                g_thr += -g_m * r;
                if (!detach) g_sp = -g_m * thr;
                break;
            case SPK_RESET_HARD:
                g_v = g_m * lam * (1.0f - r); a_lam = g_m * ((1.0f - r) * v + r * vr); g_inp = g_m;
                if (!detach) g_sp = g_m * lam * (vr - v);
                break;
            case SPK_RESET_HARD_ALL:
                g_v = g_m * (1.0f - r) * lam; a_lam = g_m * (1.0f - r) * v; g_inp = g_m * (1.0f - r);
                if (!detach) g_sp = g_m * (vr - (lam * v + g * xr[i]));
                break;
            default:
                g_v = g_m * lam; a_lam = g_m * v; g_inp = g_m;
                break;
            }
        } else {
            const float h = sb[i];
            float gs = gS;
            if (rk == SPK_RESET_SOFT) {
                g_m = gV;
                if (!detach) gs -= gV * thr;
                g_thr = -gV * h;
            } else if (rk == SPK_RESET_NONE) {
                g_m = gV;
            } else {
                g_m = gV * (1.0f - h);
                if (!detach) gs -= gV * (m - vr);
            }
            g_m += gs * sg;
            g_thr -= gs * sg;
            g_v = g_m * lam; a_lam = g_m * v; g_inp = g_m;
        }
        dxb[i] += g_inp * g;
        dV[i] = g_v;
        dS[i] = g_sp;
        plam[i] += a_lam;
        pthr[i] += g_thr;
    }
}

/* The partial sums of the lam / thr gradients, [nblk][2][N], in the population's scratch
 * buffer (reused between calls: a fresh allocation of this size per step costs page faults),
 * cleared when they will be summed. NULL when out of memory (the error is recorded). */
static float *lif_bw_partials(spk_neuron *nr, int nblk, int clear) {
    const size_t np = (size_t)nblk * 2 * nr->n;
    if (nr->scratch_n < np) {
        float *p = spk_malloc(np * sizeof(float));
        if (!p) {
            spk__fail(&nr->obj, SPK_ERR_NOMEM, "neuron backward: no memory for %d x %d partial sums", nblk, 2 * nr->n);
            return NULL;
        }
        spk_free(nr->scratch);
        nr->scratch = p;
        nr->scratch_n = np;
    }
    if (clear) memset(nr->scratch, 0, np * sizeof(float));
    return nr->scratch;
}

/* Add the partial sums ([nsteps][nblk][2N], step by step) to the lam / thr
 * gradients: per step, the blocks in order in double, then a float add (a fixed order
 * whatever the thread count). */
static void lif_bw_reduce(spk_neuron *nr, int nblk, int nsteps) {
    const int N = nr->n, clamp = nr->cfg.clamp_decay;
    const size_t np = (size_t)2 * N;
    const float *part = nr->scratch, *lamv = nr->param[SPK_NP_LAM];
    float *glam = nr->grad[SPK_NP_LAM], *gthr = nr->grad[SPK_NP_THR];
#pragma omp parallel for schedule(static) if ((size_t)N * nsteps * nblk > NEURON_PAR_MIN)
    for (int i = 0; i < N; i++) {
        const int lam_pass = !clamp || (lamv[i] >= 0.0f && lamv[i] <= 1.0f);
        for (int t = nsteps - 1; t >= 0; t--) {
            const float *pt = part + (size_t)t * nblk * np;
            double al = 0, at = 0;
            for (int blk = 0; blk < nblk; blk++) {
                al += pt[(size_t)blk * np + i];
                at += pt[(size_t)blk * np + N + i];
            }
            if (lam_pass) glam[i] += (float)al;
            gthr[i] += (float)at;
        }
    }
}

spk_status spk_neuron_step_backward(spk_neuron *nr, int B, int64_t t, float *dstate, float *dx,
                                    float *dx_im, const float *state_prev, const float *u,
                                    const float *s, const float *s_im, const float *x,
                                    const float *x_im, const float *ds, const float *ds_im,
                                    const float *dmem) {
    if (!nr) return spk__fail(NULL, SPK_ERR_INVALID_ARG, "neuron backward: population is NULL");
    if (B < 1 || !dstate || !dx || !state_prev || !s || !x)
        return spk__fail(&nr->obj, SPK_ERR_INVALID_ARG, "neuron backward: B = %d, or a required array (dstate, dx, state_prev, s, x) is NULL", B);
    if (nr->cfg.kind == SPK_NEURON_COMPLEX)
        return spk__complex_step_backward(nr, B, t, dstate, dx, dx_im, state_prev, s, x, x_im, ds, ds_im, dmem);
    (void)s_im; (void)x_im; (void)ds_im; (void)dx_im;
    if (u && spk__neuron_has_fast_path(nr)) {
        const size_t BN = (size_t)B * nr->n;
        const int oS = nr->slot[SPK_SLOT_S];
        /* one step of the thin backward, the potential u in place of the membrane */
        const spk__thin_bw a = {.B = B, .nt = 1, .T = 1, .v_init = state_prev + nr->slot[SPK_SLOT_V] * BN,
                                .s_init = oS >= 0 ? state_prev + oS * BN : NULL, .mem = u, .s = s, .x = x, .dx = dx,
                                .x_step = BN, .dstate = dstate, .ds = ds, .dmem = dmem, .param_grads = 1};
        return spk__neuron_steps_backward_thin(nr, &a);
    }
    return spk__neuron_step_backward_ref(nr, B, t, dstate, dx, state_prev, s, x, ds, dmem);
}

/* Step t (of the call) of row b in block blk of the thin backward: m, sp the row's membrane and
 * spikes at t, vp, spp its state before t (NULL spp: no spike state). */
static inline void thin_bw_step(const spk__thin_bw *a, const lif_bw_cfg *k, float *part, int nblk, int blk, int t, int b,
                                const float *m, const float *sp, const float *vp, const float *spp, const float *ds, int oV,
                                int oS) {
    const int N = k->N;
    const size_t BN = (size_t)a->B * N, np = (size_t)2 * N;
    float *plam = part + ((size_t)(a->param_grads ? t : 0) * nblk + blk) * np, *pthr = plam + N;
    const int ta = a->t0 + t; /* absolute step */
    const size_t o = (size_t)b * N, so = (size_t)t * BN + o, xo = (size_t)t * a->x_step + o;
    float *dV = a->dstate + oV * BN + o, *dS = a->dstate + oS * BN + o;
    /* truncated BPTT: no gradient reaches the state across a window boundary */
    if (a->tbptt_k > 0 && ta < a->T - 1 && (ta + 1) % a->tbptt_k == 0) {
        memset(dV, 0, (size_t)N * sizeof(float));
        memset(dS, 0, (size_t)N * sizeof(float));
    }
    lif_bw_row(k, a->param_grads, vp, spp, m, sp, a->x + xo, dV, dS, a->dx + xo, a->dmem ? a->dmem + so : NULL, ds, plam, pthr);
}

float *spk__neuron_thin_bw_partials(spk_neuron *nr, int B, int nsteps, int pgrad) {
    const int nblk = spk__thin_blocks(B);
    /* with parameter gradients, each step keeps its own block partials ([nsteps][nblk][2N]),
     * summed afterwards exactly as one call per step sums them; without, one set is written
     * and ignored (the general loop always sums) */
    return lif_bw_partials(nr, pgrad ? nsteps * nblk : nblk, pgrad || !lif_bw_setup(nr).common);
}

void spk__neuron_thin_bw_blocks(spk_neuron *nr, const spk__thin_bw *a, float *part, int blk0, int blk1) {
    const lif_bw_cfg k = lif_bw_setup(nr);
    const int N = nr->n, B = a->B, nt = a->nt;
    const size_t BN = (size_t)B * N;
    const int nblk = spk__thin_blocks(B);
    const int oV = nr->slot[SPK_SLOT_V], oS = nr->slot[SPK_SLOT_S];
    const size_t per = a->mem ? 0 : spk__thin_rows_scratch(nr, nt);
    for (int blk = blk0; blk < blk1; blk++) {
        const int b0 = blk * LIF_BW_ROWS, b1 = b0 + LIF_BW_ROWS < B ? b0 + LIF_BW_ROWS : B;
        if (!a->mem) {
            float *ms = a->scratch + (size_t)omp_get_thread_num() * per, *ss = ms + (size_t)nt * N, *dss = ss + (size_t)nt * N;
            for (int b = b0; b < b1; b++) {
                const size_t o = (size_t)b * N;
                thin_row_steps(nr, NULL, nt, a->x + o, a->x_step, a->v_init + o, a->s_init + o, ss, ms, N);
                const float *dsr = a->ds_steps ? a->ds_steps(a->ctx, b, dss) : NULL;
                for (int t = nt - 1; t >= 0; t--) {
                    const float *ds = dsr ? dsr + (size_t)t * N
                                      : a->ds_row ? a->ds_row(a->ctx, t, b)
                                      : a->ds ? a->ds + (size_t)t * BN + o : NULL;
                    thin_bw_step(a, &k, part, nblk, blk, t, b, ms + (size_t)t * N, ss + (size_t)t * N,
                                 t ? ms + (size_t)(t - 1) * N : a->v_init + o, t ? ss + (size_t)(t - 1) * N : a->s_init + o, ds,
                                 oV, oS);
                }
                if (a->row_done) a->row_done(a->ctx, blk, b, ss);
            }
            continue;
        }
        for (int t = nt - 1; t >= 0; t--)
            for (int b = b0; b < b1; b++) {
                const size_t o = (size_t)b * N, so = (size_t)t * BN + o;
                const float *ds = a->ds_row ? a->ds_row(a->ctx, t, b) : a->ds ? a->ds + so : NULL;
                thin_bw_step(a, &k, part, nblk, blk, t, b, a->mem + so, a->s + so, t ? a->mem + so - BN : a->v_init + o,
                             t ? a->s + so - BN : a->s_init ? a->s_init + o : NULL, ds, oV, oS);
            }
    }
}

void spk__neuron_thin_bw_reduce(spk_neuron *nr, int B, int nsteps) {
    lif_bw_reduce(nr, spk__thin_blocks(B), nsteps);
}

spk_status spk__neuron_steps_backward_thin(spk_neuron *nr, const spk__thin_bw *a) {
    const int nblk = spk__thin_blocks(a->B);
    float *part = spk__neuron_thin_bw_partials(nr, a->B, a->nt, a->param_grads);
    if (!part) return SPK_ERR_NOMEM;
    /* a block of rows through all its steps, last to first: its state gradients (and a summed
     * input gradient) stay in cache between steps instead of going through memory at every
     * step; per element the same float operations as one call per step. Recomputing (mem
     * NULL), each row first runs its forward steps again into this thread's scratch; the
     * partial sums of a step still take the block's rows in order. */
#pragma omp parallel for schedule(static) if ((size_t)a->B * nr->n * (size_t)a->nt > NEURON_PAR_MIN)
    for (int blk = 0; blk < nblk; blk++) spk__neuron_thin_bw_blocks(nr, a, part, blk, blk + 1);
    if (a->param_grads) lif_bw_reduce(nr, nblk, a->nt); /* the same sums as one call per step */
    return SPK_OK;
}

spk_status spk__neuron_step_backward_ref(spk_neuron *nr, int B, int64_t t, float *dstate, float *dx, const float *state_prev,
                                         const float *s, const float *x, const float *ds, const float *dmem) {
    const spk_neuron_config *c = &nr->cfg;
    const int N = nr->n;
    const size_t BN = (size_t)B * N;
    const int delayed = c->timing == SPK_TIMING_DELAYED;
    const int detach = c->detach_reset;
    const int oV = nr->slot[SPK_SLOT_V], oS = nr->slot[SPK_SLOT_S];
    const int oI = nr->slot[SPK_SLOT_I], oA = nr->slot[SPK_SLOT_A], oR = nr->slot[SPK_SLOT_REF];
    float *glam = nr->grad[SPK_NP_LAM], *gthr = nr->grad[SPK_NP_THR], *galpha = nr->grad[SPK_NP_ALPHA];
    const float *lamv = nr->param[SPK_NP_LAM], *alphav = nr->param[SPK_NP_ALPHA];

    /* Parallel over neurons: each thread owns its neurons' parameter gradients, so the
     * sums are race-free and their order does not depend on the thread count. */
#pragma omp parallel for schedule(static) if ((size_t)B * N > NEURON_PAR_MIN)
    for (int i = 0; i < N; i++) {
        double acc_lam = 0, acc_thr = 0, acc_alpha = 0;
        float lam_raw = lamv[i];
        int lam_pass = !c->clamp_decay || (lam_raw >= 0.0f && lam_raw <= 1.0f);
        float alpha = 0, alpha_raw = 0;
        int alpha_pass = 1;
        if (oI >= 0) {
            alpha_raw = alphav[i];
            alpha = clamp_decay(c, alpha_raw);
            alpha_pass = !c->clamp_decay || (alpha_raw >= 0.0f && alpha_raw <= 1.0f);
        }
        for (int b = 0; b < B; b++) {
            size_t k = (size_t)b * N + i;
            float v = state_prev[oV * BN + k], sp = state_prev[oS * BN + k];
            float Iold = oI >= 0 ? state_prev[oI * BN + k] : 0.0f;
            float Aold = oA >= 0 ? state_prev[oA * BN + k] : 0.0f;
            float ref = oR >= 0 ? state_prev[oR * BN + k] : 0.0f;
            elem e = elem_forward(nr, i, v, Iold, Aold, sp, ref, x[k], t, k, 0, s[k]);

            float gV = dstate[oV * BN + k] + (dmem ? dmem[k] : 0.0f);
            float gS = dstate[oS * BN + k] + (ds ? ds[k] : 0.0f);
            float gA = oA >= 0 ? dstate[oA * BN + k] : 0.0f;
            float gI = oI >= 0 ? dstate[oI * BN + k] : 0.0f;

            spk__fire_grad fg = e.hold ? (spk__fire_grad){0.0f, 0.0f} : spk__fire_grad_at(nr, e.m, e.thr);
            float g_m, g_thr_eff = 0.0f, g_sp = 0.0f, g_v, g_inp, g_thr_prev = 0.0f, g_r = 0.0f;
            float r = e.r;
            if (delayed) {
                /* v(t) = m: the reported membrane is the pre-reset potential */
                g_m = gV + gS * fg.dsdm;
                g_thr_eff = gS * fg.dsdthr;
            } else {
                /* v(t) = m - (s - r)*thr  or  m - (h - r)*(m - v_reset); r is detached */
                float g_s_tot = gS;
                float h = e.s > 1.0f ? 1.0f : e.s;
                switch (c->reset) {
                case SPK_RESET_SOFT:
                    g_m = gV;
                    if (!detach) g_s_tot += -gV * e.thr;
                    g_thr_eff += -gV * (e.s - r);
                    break;
                case SPK_RESET_HARD:
                case SPK_RESET_HARD_ALL:
                case SPK_RESET_REFRACTORY:
                    g_m = gV * (1.0f - (h - r));
                    if (!detach && e.s <= 1.0f) g_s_tot += -gV * (e.m - c->v_reset);
                    break;
                default:
                    g_m = gV;
                    break;
                }
                g_m += g_s_tot * fg.dsdm;
                g_thr_eff += g_s_tot * fg.dsdthr;
            }
            /* m = reset-form(lam, v(t-1), inp, r, thr(t-1)) */
            switch (c->reset) {
            case SPK_RESET_SOFT:
                g_v = g_m * e.lam; acc_lam += (double)g_m * v; g_inp = g_m;
                g_r = -g_m * e.thr_prev; g_thr_prev = -g_m * r;
                break;
            case SPK_RESET_HARD:
            case SPK_RESET_REFRACTORY:
                g_v = g_m * e.lam * (1.0f - r); acc_lam += (double)g_m * ((1.0f - r) * v + r * c->v_reset);
                g_inp = g_m; g_r = g_m * e.lam * (c->v_reset - v);
                break;
            case SPK_RESET_HARD_ALL:
                g_v = g_m * (1.0f - r) * e.lam; acc_lam += (double)g_m * (1.0f - r) * v;
                g_inp = g_m * (1.0f - r); g_r = g_m * (c->v_reset - (e.lam * v + e.inp));
                break;
            default:
                g_v = g_m * e.lam; acc_lam += (double)g_m * v; g_inp = g_m;
                break;
            }
            /* only the delayed timing's r (the previous spike) may carry gradient */
            if (delayed && !detach) g_sp += g_r;
            /* thresholds: thr(t) = thr + beta*a(t), thr(t-1) = thr + beta*a(t-1) */
            acc_thr += (double)g_thr_eff + g_thr_prev;
            float gA_old = 0.0f;
            if (oA >= 0) {
                float gA_new = gA + g_thr_eff * c->adapt_beta;
                gA_old = gA_new * c->adapt_rho + g_thr_prev * c->adapt_beta;
                g_sp += gA_new; /* a(t) = rho*a(t-1) + s(t-1) */
            }
            /* input */
            float gI_old = 0.0f, gx;
            if (e.hold) g_inp = 0.0f;
            if (oI >= 0) {
                float gI_new = g_inp * c->gain + gI;
                acc_alpha += (double)gI_new * Iold;
                gI_old = gI_new * alpha;
                gx = gI_new;
            } else {
                gx = g_inp * c->gain;
            }
            dx[k] += gx;
            dstate[oV * BN + k] = g_v;
            dstate[oS * BN + k] = g_sp;
            if (oA >= 0) dstate[oA * BN + k] = gA_old;
            if (oI >= 0) dstate[oI * BN + k] = gI_old;
            if (oR >= 0) dstate[oR * BN + k] = 0.0f;
        }
        if (lam_pass) glam[i] += (float)acc_lam;
        gthr[i] += (float)acc_thr;
        if (oI >= 0 && alpha_pass) galpha[i] += (float)acc_alpha;
    }
    return SPK_OK;
}

/* ---------------------------------------------------------------- sequences ----------- */

spk_status spk_neuron_forward_seq(const spk_neuron *nr, int T, int B, float *states, float *u,
                                  float *s, float *mem, const float *x) {
    if (!nr) return spk__fail(NULL, SPK_ERR_INVALID_ARG, "neuron forward: population is NULL");
    if (nr->cfg.kind == SPK_NEURON_COMPLEX)
        return spk__fail((spk__obj *)&nr->obj, SPK_ERR_UNSUPPORTED, "neuron forward_seq: complex neurons use spk_neuron_step");
    if (T < 1 || !states || !u)
        return spk__fail((spk__obj *)&nr->obj, SPK_ERR_INVALID_ARG, "neuron forward_seq: T = %d, states or u is NULL", T);
    size_t SS = spk_neuron_state_size(nr, B), BN = (size_t)B * nr->n;
    memset(states, 0, SS * sizeof(float));
    for (int t = 0; t < T; t++) {
        float *cur = states + (size_t)(t + 1) * SS;
        memcpy(cur, states + (size_t)t * SS, SS * sizeof(float));
        spk_status st = spk_neuron_step(nr, B, t, cur, u + t * BN, s + t * BN, x + t * BN, NULL, NULL);
        if (st) return st;
        if (mem) memcpy(mem + t * BN, cur + nr->slot[SPK_SLOT_V] * BN, BN * sizeof(float));
    }
    return SPK_OK;
}

spk_status spk_neuron_backward_seq(spk_neuron *nr, int T, int B, float *dx, const float *states,
                                   const float *u, const float *s, const float *x, const float *ds,
                                   const float *dmem) {
    if (!nr) return spk__fail(NULL, SPK_ERR_INVALID_ARG, "neuron backward: population is NULL");
    if (nr->cfg.kind == SPK_NEURON_COMPLEX)
        return spk__fail(&nr->obj, SPK_ERR_UNSUPPORTED, "neuron backward_seq: complex neurons use spk_neuron_step_backward");
    if (T < 1 || B < 1 || !dx || !states || !u || !s || !x)
        return spk__fail(&nr->obj, SPK_ERR_INVALID_ARG, "neuron backward_seq: T = %d, B = %d, or a required array is NULL", T, B);
    size_t SS = spk_neuron_state_size(nr, B), BN = (size_t)B * nr->n;
    float *dstate = spk_calloc(SS, sizeof(float));
    if (!dstate) return spk__fail(&nr->obj, SPK_ERR_NOMEM, "neuron backward_seq: no memory for %zu floats", SS);
    memset(dx, 0, (size_t)T * BN * sizeof(float));
    spk_status st = SPK_OK;
    for (int t = T - 1; t >= 0 && !st; t--)
        st = spk_neuron_step_backward(nr, B, t, dstate, dx + t * BN, NULL, states + (size_t)t * SS,
                                      u + t * BN, s + t * BN, NULL, x + t * BN, NULL,
                                      ds ? ds + t * BN : NULL, NULL, dmem ? dmem + t * BN : NULL);
    spk_free(dstate);
    return st;
}
