/* test_neuron_grad.c — the neuron's backward pass against independent derivatives.
 *
 *   (a) smooth real neurons (no spikes): backward vs finite differences of the forward, for
 *       dL/dx and the LAM / THR / ALPHA gradients, every kind x reset x timing;
 *   (b) complex resonate-and-fire without spikes: dL/dx, dL/dx_im, OMEGA, TAU, THR;
 *   (c) the surrogate rule for one step: dL/dx = dL/ds * surrogate(m - thr) for every
 *       surrogate, the graded softplus ramp, and the noisy neurons' d P(spike) / du;
 *   (d) the refractory hold: no gradient reaches the input of a held step;
 *   (e) a 3-step LIF with soft reset and spikes, reverse-mode chain rule written by hand,
 *       delayed / same-step timing, detached / attached reset;
 *   (f) every real kind, reset, timing and detach flag with spikes: backward (reverse mode)
 *       vs a forward-mode (tangent) propagation of the same surrogate chain rule, written
 *       here from the equations of spk.h;
 *   (g) the same for the complex neuron with spikes (phase of the spike, OMEGA, TAU, THR).
 *
 * The loss is L = sum_t sum(cs[t]*s[t]) + sum(cm[t]*mem[t]) with random coefficients (mem is
 * the state's V slot after each step; for COMPLEX also terms on the VI slot and on the
 * imaginary spike). Errors are printed as max|analytic - reference| / max|reference|. */
#include "testutil.h"

#include <string.h>

#define TM 16  /* max steps         */
#define BNM 8  /* max B*N           */
#define SM 6   /* max state slots   */
#define PI_D 3.14159265358979323846

/* ------------------------------------------------------------------ helpers ---------- */

static spk_rng rng_key = {20240611u, 3u};
static uint64_t rng_ctr = 0;
/* deterministic uniform in [lo, hi) from the library's counter-based generator */
static float urand(float lo, float hi) {
    return lo + (hi - lo) * spk_rng_uniform(rng_key, rng_ctr++, 0, 0);
}

/* max |a - b| / max(max |b|, floor) over n doubles */
static double rel_err(const double *a, const double *b, int n, double floor) {
    double scale = floor, m = 0;
    for (int k = 0; k < n; k++) scale = fmax(scale, fabs(b[k]));
    for (int k = 0; k < n; k++) {
        double d = fabs(a[k] - b[k]);
        if (d > m || d != d) m = d;
    }
    return m / scale;
}
static double max_abs(const double *a, int n) {
    double m = 0;
    for (int k = 0; k < n; k++) m = fmax(m, fabs(a[k]));
    return m;
}

static spk_neuron *make(const spk_neuron_config *c, int N) {
    spk_neuron *nr = NULL;
    CHECK_OK(spk_neuron_create(&nr, c, N));
    return nr;
}

static void set_random(spk_neuron *nr, spk_neuron_param p, int N, float lo, float hi) {
    float v[BNM];
    for (int i = 0; i < N; i++) v[i] = urand(lo, hi);
    CHECK_OK(spk_neuron_set_param(nr, p, v, N));
}

/* Evaluation context of a loss: the population, sizes, inputs and loss coefficients. */
typedef struct lossctx {
    spk_neuron *nr;
    int T, B, N, complex_kind;
    float x[TM * BNM], xi[TM * BNM];
    float cs[TM * BNM], cm[TM * BNM], csi[TM * BNM], cmi[TM * BNM];
    /* filled by the forward pass */
    float states[(TM + 1) * SM * BNM], u[TM * BNM], s[TM * BNM], si[TM * BNM], mem[TM * BNM];
} lossctx;

/* Forward T steps from the zero state, keeping what backward needs; returns L in double. */
static double eval_loss(lossctx *c) {
    const int BN = c->B * c->N;
    const size_t SS = spk_neuron_state_size(c->nr, c->B);
    double L = 0;
    if (!c->complex_kind) {
        spk_status st = spk_neuron_forward_seq(c->nr, c->T, c->B, c->states, c->u, c->s, c->mem, c->x);
        if (st) CHECK_OK(st);
        for (int n = 0; n < c->T * BN; n++) L += (double)c->cs[n] * c->s[n] + (double)c->cm[n] * c->mem[n];
        return L;
    }
    const int oV = spk_neuron_slot_offset(c->nr, SPK_SLOT_V), oVI = spk_neuron_slot_offset(c->nr, SPK_SLOT_VI);
    memset(c->states, 0, SS * sizeof(float));
    for (int t = 0; t < c->T; t++) {
        float *cur = c->states + (size_t)(t + 1) * SS;
        memcpy(cur, c->states + (size_t)t * SS, SS * sizeof(float));
        spk_status st = spk_neuron_step(c->nr, c->B, t, cur, c->u + t * BN, c->s + t * BN, c->x + t * BN,
                                        c->xi + t * BN, c->si + t * BN);
        if (st) CHECK_OK(st);
        for (int k = 0; k < BN; k++) {
            int n = t * BN + k;
            c->mem[n] = cur[oV * BN + k];
            L += (double)c->cs[n] * c->s[n] + (double)c->csi[n] * c->si[n] + (double)c->cm[n] * cur[oV * BN + k] +
                 (double)c->cmi[n] * cur[oVI * BN + k];
        }
    }
    return L;
}

/* Analytic gradients: forward, then the backward steps (dx, dx_im written; params zeroed
 * first and accumulated). For real kinds, `fold` = 1 adds cm into dstate[V] by hand
 * instead of passing dmem (spk.h says the two are the same). */
static void analytic(lossctx *c, double *dx, double *dxi, int fold) {
    const int BN = c->B * c->N, TBN = c->T * BN;
    const size_t SS = spk_neuron_state_size(c->nr, c->B);
    eval_loss(c);
    spk_neuron_zero_grad(c->nr);
    float gx[TM * BNM], gxi[TM * BNM], dstate[SM * BNM];
    memset(gx, 0, sizeof gx);
    memset(gxi, 0, sizeof gxi);
    memset(dstate, 0, sizeof dstate);
    if (!c->complex_kind && !fold) {
        CHECK_OK(spk_neuron_backward_seq(c->nr, c->T, c->B, gx, c->states, c->u, c->s, c->x, c->cs, c->cm));
    } else {
        const int oV = spk_neuron_slot_offset(c->nr, SPK_SLOT_V), oVI = spk_neuron_slot_offset(c->nr, SPK_SLOT_VI);
        for (int t = c->T - 1; t >= 0; t--) {
            const float *dmem = c->cm + t * BN;
            if (fold) {
                for (int k = 0; k < BN; k++) dstate[oV * BN + k] += dmem[k];
                dmem = NULL;
            }
            if (c->complex_kind)
                for (int k = 0; k < BN; k++) dstate[oVI * BN + k] += c->cmi[t * BN + k];
            CHECK_OK(spk_neuron_step_backward(c->nr, c->B, t, dstate, gx + t * BN, c->complex_kind ? gxi + t * BN : NULL,
                                              c->states + (size_t)t * SS, c->u + t * BN, c->s + t * BN,
                                              c->complex_kind ? c->si + t * BN : NULL, c->x + t * BN,
                                              c->complex_kind ? c->xi + t * BN : NULL, c->cs + t * BN,
                                              c->complex_kind ? c->csi + t * BN : NULL, dmem));
        }
    }
    for (int n = 0; n < TBN; n++) {
        dx[n] = gx[n];
        if (dxi) dxi[n] = gxi[n];
    }
}

/* Five-point central difference (truncation O(h^4)) of L in one float variable. h is a
 * power of two so that v +- h and v +- 2h are exact in float32 for |v| < 2^(23)*h. */
static const int FD_OFF[4] = {-2, -1, 1, 2};
static double fd5(const double Lk[4], double h) { return (Lk[0] - 8 * Lk[1] + 8 * Lk[2] - Lk[3]) / (12 * h); }

static double fd_var(lossctx *c, float *var, float h) {
    float v0 = *var;
    double Lk[4];
    for (int j = 0; j < 4; j++) {
        *var = v0 + (float)FD_OFF[j] * h;
        Lk[j] = eval_loss(c);
    }
    *var = v0;
    return fd5(Lk, h);
}

static double fd_param(lossctx *c, spk_neuron_param p, int i, float h) {
    float v[BNM];
    memcpy(v, spk_neuron_get_param(c->nr, p), (size_t)c->N * sizeof(float));
    float v0 = v[i];
    double Lk[4];
    for (int j = 0; j < 4; j++) {
        v[i] = v0 + (float)FD_OFF[j] * h;
        CHECK_OK(spk_neuron_set_param(c->nr, p, v, c->N));
        Lk[j] = eval_loss(c);
    }
    v[i] = v0;
    CHECK_OK(spk_neuron_set_param(c->nr, p, v, c->N));
    return fd5(Lk, h);
}

static void random_loss(lossctx *c, float xlo, float xhi) {
    const int TBN = c->T * c->B * c->N;
    for (int n = 0; n < TBN; n++) {
        c->x[n] = urand(xlo, xhi);
        c->xi[n] = urand(xlo, xhi);
        c->cs[n] = urand(-1, 1);
        c->cm[n] = urand(-1, 1);
        c->csi[n] = urand(-1, 1);
        c->cmi[n] = urand(-1, 1);
    }
}

/* ------------------------------------------------------------------ (a) ------------- */

/* Tolerances of the finite-difference cases. The forward pass is float32: each reported
 * membrane carries a rounding error of ~1e-7 relative, so L (a sum of ~70 terms of size
 * <= ~3) is known to ~1e-6 absolute, and a five-point difference with step h has a
 * round-off error of ~1.5e-6/h: 2e-4 for h = 2^-7 (x, lam, alpha, omega), while its
 * truncation error O(h^4 f^(5)) is < 1e-6 for these degree-<=12 polynomials in lam.
 * (The brief's h ~ 1e-3 with a 3-point difference would have ~1e-3 round-off: too close.)
 * Gradients are O(1), so 2e-3 relative to max |grad| leaves a factor >= 10 over the
 * measured errors (<= 1e-4) and is far below what a wrong sign or a missing term costs:
 * dropping the recurrence through v gives 0.5..1 ("mutant" column), a flipped omega
 * gradient 2, and the parameter gradients checked are >= 0.1 in size. */
#define FD_TOL 2e-3
#define H_X (1.0f / 128)
#define H_P (1.0f / 128)

static void case_smooth_real(spk_neuron_kind kind, spk_reset_kind reset, spk_reset_timing timing, int clamp,
                             float gain, double *worst) {
    static lossctx c;
    memset(&c, 0, sizeof c);
    c.T = 12; c.B = 2; c.N = 3;
    const int BN = c.B * c.N, TBN = c.T * BN, N = c.N;
    spk_neuron_config cfg = spk_neuron_config_default();
    cfg.kind = kind;
    cfg.fire = SPK_FIRE_NONE;
    cfg.reset = reset;
    cfg.timing = timing;
    cfg.gain = gain;
    cfg.v_reset = 0.2f;
    cfg.ref_steps = 2;
    cfg.detach_reset = 0;
    c.nr = make(&cfg, N);
    if (!c.nr) return;
    cfg.clamp_decay = clamp != 0;
    set_random(c.nr, SPK_NP_LAM, N, 0.3f, 0.95f);
    if (clamp != 1) {
        /* a negative decay for neuron 0. clamp 0: the forward uses it and the gradient flows;
         * clamp 2: the forward clamps it to 0, so L does not depend on it (gradient 0) */
        float lam[3] = {-0.6f, 0.5f, 0.9f};
        CHECK_OK(spk_neuron_set_param(c.nr, SPK_NP_LAM, lam, N));
    }
    /* threshold low enough that the snnTorch-timing check H(v - thr) fires: with soft reset
     * its subtraction and re-addition cancel, so L stays smooth in x */
    set_random(c.nr, SPK_NP_THR, N, 0.5f, 1.5f);
    if (kind == SPK_NEURON_CUBA) {
        set_random(c.nr, SPK_NP_ALPHA, N, 0.3f, 0.95f);
        if (clamp != 1) {
            float alpha[3] = {0.7f, -0.5f, 0.4f};
            CHECK_OK(spk_neuron_set_param(c.nr, SPK_NP_ALPHA, alpha, N));
        }
    }
    random_loss(&c, -1.0f, 1.5f);

    double ga[TM * BNM], gfold[TM * BNM], gfd[TM * BNM], glocal[TM * BNM];
    analytic(&c, gfold, NULL, 1);
    analytic(&c, ga, NULL, 0);
    double pa[3][BNM], pfd[3][BNM];
    const spk_neuron_param ps[3] = {SPK_NP_LAM, SPK_NP_THR, SPK_NP_ALPHA};
    for (int q = 0; q < 3; q++) {
        float *g = spk_neuron_grad(c.nr, ps[q]);
        for (int i = 0; i < N; i++) pa[q][i] = g ? g[i] : 0.0;
    }
    int spikes = 0;
    for (int n = 0; n < TBN; n++) spikes += c.s[n] != 0.0f;
    CHECK_MSG(spikes == 0, "fire none produced %d spikes", spikes);
    for (int n = 0; n < TBN; n++) {
        gfd[n] = fd_var(&c, &c.x[n], H_X);
        glocal[n] = (double)c.cm[n] * gain; /* a backward that forgot the recurrence */
    }
    for (int q = 0; q < 3; q++)
        for (int i = 0; i < N; i++)
            pfd[q][i] = spk_neuron_get_param(c.nr, ps[q]) ? fd_param(&c, ps[q], i, H_P) : 0.0;

    double ex = rel_err(ga, gfd, TBN, 1e-3);
    double efold = rel_err(gfold, ga, TBN, 1e-3);
    double mut = rel_err(glocal, gfd, TBN, 1e-3);
    double ep[3];
    for (int q = 0; q < 3; q++) ep[q] = rel_err(pa[q], pfd[q], N, 1e-3);
    printf("(a) %-4s %-10s %-16s clamp %d gain %.1f: dx %.1e  lam %.1e  thr %.1e (|g| %.0e)  alpha %.1e  "
           "dmem-folded %.1e  [mutant no-recurrence %.2f]\n",
           spk_neuron_kind_name(kind), spk_reset_kind_name(reset), spk_reset_timing_name(timing), clamp, gain, ex,
           ep[0], max_abs(pa[1], N), max_abs(pfd[1], N), ep[2], efold, mut);
    CHECK_MSG(ex < FD_TOL, "dx rel err %.3g", ex);
    CHECK_MSG(ep[0] < FD_TOL, "lam rel err %.3g", ep[0]);
    CHECK_MSG(max_abs(pfd[0], N) > 0.1, "lam gradient too small to test (%.3g)", max_abs(pfd[0], N));
    /* no spikes: the threshold has no influence, and the gradient must be exactly 0 */
    CHECK_MSG(max_abs(pa[1], N) == 0.0 && max_abs(pfd[1], N) < 1e-3, "thr: grad %.3g, FD %.3g", max_abs(pa[1], N),
              max_abs(pfd[1], N));
    if (clamp == 2) { /* clamped to 0: exactly no gradient, and indeed no influence */
        CHECK_MSG(pa[0][0] == 0.0 && fabs(pfd[0][0]) < 1e-4, "clamped lam: grad %.3g FD %.3g", pa[0][0], pfd[0][0]);
        if (kind == SPK_NEURON_CUBA)
            CHECK_MSG(pa[2][1] == 0.0 && fabs(pfd[2][1]) < 1e-4, "clamped alpha: grad %.3g FD %.3g", pa[2][1], pfd[2][1]);
    }
    if (kind == SPK_NEURON_CUBA) {
        CHECK_MSG(ep[2] < FD_TOL, "alpha rel err %.3g", ep[2]);
        CHECK_MSG(max_abs(pfd[2], N) > 0.1, "alpha gradient too small to test");
    }
    CHECK_MSG(efold < 1e-6, "dmem passed vs folded into dstate[V]: %.3g", efold);
    CHECK_MSG(mut > 10 * FD_TOL, "the test cannot see a missing recurrence (%.3g)", mut);
    for (int q = 0; q < 3; q++) *worst = fmax(*worst, q == 1 ? 0 : ep[q]);
    *worst = fmax(*worst, ex);
    spk_neuron_free(c.nr);
}

static void test_smooth_real(void) {
    double worst = 0;
    const spk_neuron_kind kinds[3] = {SPK_NEURON_LIF, SPK_NEURON_CUBA, SPK_NEURON_ALIF};
    const spk_reset_kind resets[5] = {SPK_RESET_SOFT, SPK_RESET_HARD, SPK_RESET_NONE, SPK_RESET_HARD_ALL,
                                      SPK_RESET_REFRACTORY};
    const spk_reset_timing timings[2] = {SPK_TIMING_DELAYED, SPK_TIMING_SAME_STEP};
    for (int k = 0; k < 3; k++)
        for (int r = 0; r < 5; r++)
            for (int m = 0; m < 2; m++) case_smooth_real(kinds[k], resets[r], timings[m], 1, 1.0f, &worst);
    /* gain != 1, no clamping (a negative decay), a decay clamped to 0, snnTorch's
     * reset_delay=False timing */
    for (int k = 0; k < 3; k++) {
        case_smooth_real(kinds[k], SPK_RESET_SOFT, SPK_TIMING_DELAYED, 0, 0.7f, &worst);
        case_smooth_real(kinds[k], SPK_RESET_HARD, SPK_TIMING_SAME_STEP, 2, 1.0f, &worst);
        case_smooth_real(kinds[k], SPK_RESET_SOFT, SPK_TIMING_SAME_STEP_SNNTORCH, 1, 1.3f, &worst);
        case_smooth_real(kinds[k], SPK_RESET_NONE, SPK_TIMING_SAME_STEP_SNNTORCH, 1, 1.0f, &worst);
    }
    printf("(a) smooth real neurons: worst relative error %.2e (tolerance %.0e)\n", worst, FD_TOL);
}

/* ------------------------------------------------------------------ (b) ------------- */

/* TAU enters through lam = exp(-1/tau) rounded to float: a step h in tau moves lam by
 * ~h/tau^2 >= 6e-4 for tau <= 10 and h = 2^-4, so the rounding of lam (6e-8) costs <= 1e-4
 * relative; the truncation is O((h/tau)^4), negligible. */
#define H_TAU (1.0f / 16)

static void case_complex(spk_reset_kind reset, spk_fire_kind fire, double *worst) {
    static lossctx c;
    memset(&c, 0, sizeof c);
    c.T = 12; c.B = 2; c.N = 3; c.complex_kind = 1;
    const int BN = c.B * c.N, TBN = c.T * BN, N = c.N;
    spk_neuron_config cfg = spk_neuron_config_default();
    cfg.kind = SPK_NEURON_COMPLEX;
    cfg.timing = SPK_TIMING_SAME_STEP;
    cfg.fire = fire;
    cfg.reset = reset;
    cfg.detach_reset = 0;
    cfg.gain = 0.8f;
    /* a threshold never reached keeps L smooth; the triangle surrogate is exactly 0 that far
     * from threshold (a surrogate with tails, e.g. atan, gives the attached soft reset's
     * path -thr * dn/du = -thr/(pi^2 thr^2) ~ 1e-4: a true surrogate gradient that no finite
     * difference sees) */
    cfg.thr = fire == SPK_FIRE_NONE ? 1.0f : 1000.0f;
    cfg.surrogate = SPK_SURR_TRIANGLE;
    c.nr = make(&cfg, N);
    if (!c.nr) return;
    set_random(c.nr, SPK_NP_OMEGA, N, 0.1f, 1.2f);
    set_random(c.nr, SPK_NP_TAU, N, 2.0f, 10.0f);
    random_loss(&c, -1.0f, 1.0f);

    double ga[TM * BNM], gai[TM * BNM], gfd[TM * BNM], gfdi[TM * BNM];
    analytic(&c, ga, gai, 0);
    double pa[3][BNM], pfd[3][BNM];
    const spk_neuron_param ps[3] = {SPK_NP_OMEGA, SPK_NP_TAU, SPK_NP_THR};
    const float hs[3] = {H_P, H_TAU, 1.0f / 16};
    for (int q = 0; q < 3; q++)
        for (int i = 0; i < N; i++) pa[q][i] = spk_neuron_grad(c.nr, ps[q])[i];
    int spikes = 0;
    for (int n = 0; n < TBN; n++) spikes += c.s[n] != 0.0f;
    CHECK_MSG(spikes == 0, "complex: %d spikes", spikes);
    for (int n = 0; n < TBN; n++) {
        gfd[n] = fd_var(&c, &c.x[n], H_X);
        gfdi[n] = fd_var(&c, &c.xi[n], H_X);
    }
    for (int q = 0; q < 3; q++)
        for (int i = 0; i < N; i++) pfd[q][i] = fd_param(&c, ps[q], i, hs[q]);
    double ex = rel_err(ga, gfd, TBN, 1e-3), exi = rel_err(gai, gfdi, TBN, 1e-3);
    double ew = rel_err(pa[0], pfd[0], N, 1e-3), et = rel_err(pa[1], pfd[1], N, 1e-3);
    /* mutants: the imaginary part's coupling dropped, and the omega gradient's sign flipped */
    double mutw[BNM];
    for (int i = 0; i < N; i++) mutw[i] = -pa[0][i];
    double mw = rel_err(mutw, pfd[0], N, 1e-3);
    printf("(b) complex %-5s fire %-9s: dx %.1e  dx_im %.1e  omega %.1e  tau %.1e (|g| %.2g)  thr %.1e  "
           "[mutant -omega %.2f]\n",
           spk_reset_kind_name(reset), spk_fire_kind_name(fire), ex, exi, ew, et, max_abs(pfd[1], N),
           max_abs(pa[2], N), mw);
    CHECK_MSG(ex < FD_TOL, "complex dx %.3g", ex);
    CHECK_MSG(exi < FD_TOL, "complex dx_im %.3g", exi);
    CHECK_MSG(ew < FD_TOL, "complex omega %.3g", ew);
    CHECK_MSG(et < FD_TOL, "complex tau %.3g", et);
    CHECK_MSG(max_abs(pfd[0], N) > 0.1 && max_abs(pfd[1], N) > 0.01, "complex: parameter gradients too small to test");
    /* thr never matters */
    CHECK_MSG(max_abs(pa[2], N) == 0.0 && max_abs(pfd[2], N) < 1e-3, "complex thr: grad %.3g FD %.3g",
              max_abs(pa[2], N), max_abs(pfd[2], N));
    *worst = fmax(*worst, fmax(fmax(ex, exi), fmax(ew, et)));
    spk_neuron_free(c.nr);
}

static void test_complex(void) {
    double worst = 0;
    const spk_reset_kind resets[4] = {SPK_RESET_SOFT, SPK_RESET_HARD, SPK_RESET_HARD_ALL, SPK_RESET_NONE};
    for (int r = 0; r < 4; r++) {
        case_complex(resets[r], SPK_FIRE_NONE, &worst);
        case_complex(resets[r], SPK_FIRE_HEAVISIDE, &worst);
    }
    printf("(b) complex neurons: worst relative error %.2e (tolerance %.0e)\n", worst, FD_TOL);
}

/* ------------------------------------------------------------------ (c) ------------- */

/* One step of a LIF population (B = 2, N = 3) from a given state, loss sum(cs * s) only.
 * `ref(nr, i, m, thr, &dthr)` returns the expected dn/dm and writes dn/dthr. The
 * potentials are placed at m - thr = delta[k]. Checks dx, the threshold gradient,
 * dL/dv(t-1) and the lam gradient. Returns the worst relative error. */
typedef double (*dsdm_fn)(const spk_neuron *nr, int i, double m, double thr, double *dsdthr);

static spk_surrogate_kind g_surr; /* the surrogate the reference uses */
static float g_scale;

static double ref_plain(const spk_neuron *nr, int i, double m, double thr, double *dsdthr) {
    (void)nr; (void)i;
    double g = spk_surrogate_grad(g_surr, g_scale, (float)(m - thr));
    *dsdthr = -g;
    return g;
}
static double ref_ramp(const spk_neuron *nr, int i, double m, double thr, double *dsdthr) {
    (void)nr; (void)i;
    double d = spk_surrogate_grad(SPK_SURR_SOFTPLUS_RAMP, g_scale, (float)(m / thr - 1.0));
    *dsdthr = -d * m / (thr * thr);
    return d / thr;
}
/* the staircase of surrogates, one per level k = 1..g_levels */
static int g_levels;
static double ref_stair(const spk_neuron *nr, int i, double m, double thr, double *dsdthr) {
    (void)nr; (void)i;
    double dm = 0, dt = 0;
    for (int k = 1; k <= g_levels; k++) {
        double g = spk_surrogate_grad(g_surr, g_scale, (float)(m - k * thr));
        dm += g;
        dt -= k * g;
    }
    *dsdthr = dt;
    return dm;
}
/* noisy neurons: d/du of the expected spike count sum_{k>=1} P(n >= k | u), by central
 * differences of spk_neuron_p_spike in double (h = 1e-5: truncation ~h^2/sigma^3 < 1e-8) */
static double expected_count(const spk_neuron *nr, int i, double u) {
    double e = 0;
    for (int k = 1; k <= g_levels; k++) e += spk_neuron_p_spike(nr, i, u, k);
    return e;
}
static double ref_noise(const spk_neuron *nr, int i, double m, double thr, double *dsdthr) {
    const double h = 1e-5;
    double g = (expected_count(nr, i, m + h) - expected_count(nr, i, m - h)) / (2 * h);
    /* P(n >= k) depends on u - k*thr, so d/dthr = -sum_k k * dP(n >= k)/du */
    double dt = 0;
    for (int k = 1; k <= g_levels; k++)
        dt -= k * (spk_neuron_p_spike(nr, i, m + h, k) - spk_neuron_p_spike(nr, i, m - h, k)) / (2 * h);
    *dsdthr = dt;
    (void)thr; /* p_spike reads the neuron's own threshold */
    return g;
}

static double single_step(const char *name, spk_neuron_config cfg, const float *delta, dsdm_fn ref, double tol,
                          double tol_thr) {
    const int B = 2, N = 3, BN = B * N;
    spk_neuron *nr = make(&cfg, N);
    if (!nr) return 1;
    set_random(nr, SPK_NP_THR, N, 0.6f, 1.4f);
    const float *thr = spk_neuron_get_param(nr, SPK_NP_THR);
    const float lam = spk_neuron_get_param(nr, SPK_NP_LAM)[0];
    const size_t SS = spk_neuron_state_size(nr, B);
    const int oV = spk_neuron_slot_offset(nr, SPK_SLOT_V), oS = spk_neuron_slot_offset(nr, SPK_SLOT_S);
    const int delayed = cfg.timing == SPK_TIMING_DELAYED;
    const int graded = cfg.fire == SPK_FIRE_GRADED;
    float prev[SM * BNM], state[SM * BNM], x[BNM], u[BNM], s[BNM], cs[BNM], dx[BNM], dstate[SM * BNM];
    memset(prev, 0, sizeof prev);
    for (int k = 0; k < BN; k++) {
        int i = k % N;
        prev[oV * BN + k] = urand(-0.5f, 1.0f);
        /* the delayed timing subtracts r*thr with r the previous spike count */
        prev[oS * BN + k] = delayed ? (float)(k % 3 == 0 ? 0 : graded ? k % 3 : 1) : 0.0f;
        x[k] = delta[k] + thr[i] - lam * prev[oV * BN + k] + prev[oS * BN + k] * thr[i];
        cs[k] = urand(0.5f, 1.5f) * (k % 2 ? -1.0f : 1.0f);
        dx[k] = 0;
    }
    memcpy(state, prev, SS * sizeof(float));
    CHECK_OK(spk_neuron_step(nr, B, 0, state, u, s, x, NULL, NULL));
    memset(dstate, 0, sizeof dstate);
    spk_neuron_zero_grad(nr);
    CHECK_OK(spk_neuron_step_backward(nr, B, 0, dstate, dx, NULL, prev, u, s, NULL, x, NULL, cs, NULL, NULL));
    double a[BNM], e[BNM], adv[BNM], edv[BNM], athr[3] = {0}, ethr[3] = {0}, alam = 0, elam = 0, eu = 0;
    for (int k = 0; k < BN; k++) {
        int i = k % N;
        double v = prev[oV * BN + k], r = prev[oS * BN + k];
        double m = lam * v + x[k] - r * thr[i];
        eu = fmax(eu, fabs(m - u[k]));
        double dthr;
        double g = ref(nr, i, u[k], thr[i], &dthr);
        a[k] = dx[k];
        e[k] = cs[k] * g;
        /* m = lam*v + x - r*thr: dL/dv = lam*dL/dm; dL/dthr = dL/dn*(dn/dthr - r*dn/dm) */
        adv[k] = dstate[oV * BN + k];
        edv[k] = lam * e[k];
        athr[i] = spk_neuron_grad(nr, SPK_NP_THR)[i];
        ethr[i] += cs[k] * (dthr - r * g);
        elam += e[k] * v;
    }
    for (int i = 0; i < N; i++) alam += spk_neuron_grad(nr, SPK_NP_LAM)[i];
    double ex = rel_err(a, e, BN, 1e-6), ev = rel_err(adv, edv, BN, 1e-6), et = rel_err(athr, ethr, N, 1e-6);
    /* the lam gradient is a sum of terms of both signs: relative to the sum of their sizes */
    double el_scale = 1e-6;
    for (int k = 0; k < BN; k++) el_scale += fabs(e[k] * prev[oV * BN + k]);
    double el = fabs(alam - elam) / el_scale;
    printf("(c) %-40s dx %.1e  dv %.1e  thr %.1e  lam %.1e  (max |dx| %.3g, |u - m| %.1e)\n", name, ex, ev, et, el,
           max_abs(e, BN), eu);
    CHECK_MSG(ex < tol, "%s: dx rel err %.3g", name, ex);
    CHECK_MSG(ev < tol, "%s: dL/dv(t-1) rel err %.3g", name, ev);
    CHECK_MSG(et < tol_thr, "%s: thr rel err %.3g", name, et);
    CHECK_MSG(el < tol, "%s: lam rel err %.3g", name, el);
    CHECK_MSG(eu < 1e-5, "%s: u output %.3g away from lam*v + x - r*thr", name, eu);
    CHECK_MSG(max_abs(e, BN) > 1e-2, "%s: expected gradient too small to test", name);
    spk_neuron_free(nr);
    return fmax(fmax(ex, ev), fmax(tol_thr > 1 ? 0 : et, el));
}

static void test_surrogate_rule(void) {
    /* m - thr inside every surrogate's support (STE: |u| < w/2 = 0.5; triangle: |u| < 1),
     * and two far in the tails */
    const float delta[6] = {-0.37f, 0.21f, -0.08f, 0.33f, 1.7f, -2.3f};
    /* float arithmetic on both sides, same inputs: agreement to rounding */
    const double tol = 1e-5;
    double worst = 0;
    char name[96];
    for (int tm = 0; tm < 2; tm++) {
        spk_reset_timing timing = tm ? SPK_TIMING_SAME_STEP : SPK_TIMING_DELAYED;
        for (int k = SPK_SURR_AUTO; k < SPK_SURR_KIND_COUNT; k++) {
            for (int sc = 0; sc < 2; sc++) {
                spk_neuron_config cfg = spk_neuron_config_default();
                cfg.lam = 0.8f;
                cfg.timing = timing;
                cfg.surrogate = (spk_surrogate_kind)k;
                cfg.surrogate_scale = sc ? 2.0f * spk_surrogate_default_scale((spk_surrogate_kind)k) : 0.0f;
                if (k == SPK_SURR_AUTO) { /* deterministic Heaviside: ATAN at its default */
                    if (sc) continue;
                    g_surr = SPK_SURR_ATAN;
                    g_scale = 0;
                } else {
                    g_surr = (spk_surrogate_kind)k;
                    g_scale = cfg.surrogate_scale;
                }
                snprintf(name, sizeof name, "heaviside %s %s scale %g", spk_reset_timing_name(timing),
                         spk_surrogate_name((spk_surrogate_kind)k), cfg.surrogate_scale);
                worst = fmax(worst, single_step(name, cfg, delta, ref_plain, tol, tol));
            }
        }
    }
    /* deterministic graded: the softplus ramp d/dm = sig(e*(m/thr - 1/2))/thr (AUTO and
     * explicit), potentials up to ~3.5 thr */
    const float dgr[6] = {-0.9f, 0.1f, 0.9f, 1.4f, 2.6f, -0.3f};
    for (int tm = 0; tm < 2; tm++) {
        for (int sc = 0; sc < 2; sc++) {
            spk_neuron_config cfg = spk_neuron_config_default();
            cfg.lam = 0.8f;
            cfg.fire = SPK_FIRE_GRADED;
            cfg.timing = tm ? SPK_TIMING_SAME_STEP : SPK_TIMING_DELAYED;
            cfg.surrogate = sc ? SPK_SURR_SOFTPLUS_RAMP : SPK_SURR_AUTO;
            cfg.surrogate_scale = sc ? 2.5f : 0.0f;
            g_scale = cfg.surrogate_scale;
            snprintf(name, sizeof name, "graded %s %s", spk_reset_timing_name(cfg.timing),
                     sc ? "softplus_ramp 2.5" : "auto (softplus_ramp)");
            worst = fmax(worst, single_step(name, cfg, dgr, ref_ramp, tol, tol));
        }
    }
    /* deterministic graded with a per-level surrogate: the sum over the n_max levels */
    {
        spk_neuron_config cfg = spk_neuron_config_default();
        cfg.lam = 0.8f;
        cfg.fire = SPK_FIRE_GRADED;
        cfg.n_max = 4;
        cfg.surrogate = SPK_SURR_ERF;
        g_surr = SPK_SURR_ERF;
        g_scale = 0;
        g_levels = 4;
        worst = fmax(worst, single_step("graded n_max 4, erf staircase", cfg, dgr, ref_stair, tol, tol));
    }
    /* noisy neurons: surrogate AUTO = d P(spike) / du of the noise model */
    for (int f = 0; f < 2; f++) {
        for (int tm = 0; tm < 2; tm++) {
            spk_neuron_config cfg = spk_neuron_config_default();
            cfg.lam = 0.8f;
            cfg.fire = f ? SPK_FIRE_CAUCHY : SPK_FIRE_GAUSS;
            cfg.sigma = f ? 0.3f : 0.5f;
            cfg.timing = tm ? SPK_TIMING_SAME_STEP : SPK_TIMING_DELAYED;
            cfg.rng.seed = 99;
            g_levels = 1;
            snprintf(name, sizeof name, "noisy %s sigma %g %s", spk_fire_kind_name(cfg.fire), cfg.sigma,
                     spk_reset_timing_name(cfg.timing));
            /* FD of P in double vs the float surrogate: ~1e-6 relative */
            worst = fmax(worst, single_step(name, cfg, delta, ref_noise, 2e-5, 2e-5));
        }
    }
    /* noisy graded: d/du sum_{k>=1} P(n >= k | u). Levels to 200 cover every level with a
     * non-negligible Gaussian term; with n_max the sum stops at n_max. */
    for (int cap = 0; cap < 2; cap++) {
        for (int f = 0; f < 2; f++) {
            spk_neuron_config cfg = spk_neuron_config_default();
            cfg.lam = 0.8f;
            cfg.fire = SPK_FIRE_GRADED;
            cfg.graded_noise = f ? SPK_FIRE_CAUCHY : SPK_FIRE_GAUSS;
            cfg.sigma = 0.4f;
            cfg.n_max = cap ? 3 : 0;
            cfg.rng.seed = 5;
            g_levels = 1000000; /* the exact series (Cauchy tails decay only as 1/k^2) */
            snprintf(name, sizeof name, "noisy graded %s sigma 0.4 n_max %d", spk_fire_kind_name(cfg.graded_noise),
                     cfg.n_max);
            double tl = 2e-5, tl_thr = 2e-5;
            if (f && !cap) {
                /* Cauchy levels without a cap have an infinite expected count: refused */
                spk_neuron *bad = NULL;
                CHECK(spk_neuron_create(&bad, &cfg, 3) == SPK_ERR_INVALID_ARG && bad == NULL);
                CHECK(strstr(spk_errmsg(NULL), "n_max") != NULL);
                continue;
            }
            worst = fmax(worst, single_step(name, cfg, dgr, ref_noise, tl, tl_thr));
        }
    }
    printf("(c) surrogate rule: worst relative error %.2e\n", worst);
}

/* ------------------------------------------------------------------ (d) ------------- */

static void test_refractory_hold(void) {
    for (int tm = 0; tm < 2; tm++) {
        for (int det = 0; det < 2; det++) {
            static lossctx c;
            memset(&c, 0, sizeof c);
            c.T = 8; c.B = 2; c.N = 3;
            const int BN = c.B * c.N;
            spk_neuron_config cfg = spk_neuron_config_default();
            cfg.reset = SPK_RESET_REFRACTORY;
            cfg.ref_steps = 3;
            cfg.v_reset = -0.5f;
            cfg.lam = 0.8f;
            cfg.timing = tm ? SPK_TIMING_SAME_STEP : SPK_TIMING_DELAYED;
            cfg.detach_reset = det;
            cfg.surrogate = SPK_SURR_FAST_SIGMOID;
            cfg.surrogate_scale = 2.0f; /* wide: every step's surrogate is far from 0 */
            c.nr = make(&cfg, c.N);
            if (!c.nr) return;
            random_loss(&c, 0.0f, 3.0f); /* non-negative, often above threshold */
            for (int k = 0; k < BN; k++) c.x[k] = 5.0f; /* a sure spike at t = 0 */
            double g[TM * BNM];
            analytic(&c, g, NULL, 0);
            /* held steps: delayed and same-step both hold t = 1..ref_steps after a spike at 0 */
            int held_ok = 1, held_spike = 0;
            double held_max = 0, free_min = 1e30, fd_held = 0;
            for (int k = 0; k < BN; k++) {
                held_ok &= c.s[k] == 1.0f;
                for (int t = 1; t <= cfg.ref_steps; t++) {
                    int n = t * BN + k;
                    held_spike += c.s[n] != 0.0f;
                    held_max = fmax(held_max, fabs(g[n]));
                    /* the forward ignores a held input entirely: L does not change at all */
                    double L0 = eval_loss(&c);
                    float x0 = c.x[n];
                    c.x[n] = x0 + 0.5f;
                    fd_held = fmax(fd_held, fabs(eval_loss(&c) - L0));
                    c.x[n] = x0 - 0.5f;
                    fd_held = fmax(fd_held, fabs(eval_loss(&c) - L0));
                    c.x[n] = x0;
                    eval_loss(&c);
                }
                free_min = fmin(free_min, fabs(g[k]));
                free_min = fmin(free_min, fabs(g[(cfg.ref_steps + 1) * BN + k]));
            }
            printf("(d) refractory %-9s detach %d: max |dL/dx| on held steps %.1e (|L(x+-0.5) - L| %.1e), min on free "
                   "steps %.3g\n",
                   spk_reset_timing_name(cfg.timing), det, held_max, fd_held, free_min);
            CHECK_MSG(held_ok && held_spike == 0, "refractory: spike at 0 %d, spikes while held %d", held_ok, held_spike);
            CHECK_MSG(held_max == 0.0, "refractory: gradient %.3g reaches a held input", held_max);
            CHECK_MSG(fd_held == 0.0, "refractory: a held input changed the loss (%.3g)", fd_held);
            CHECK_MSG(free_min > 1e-6, "refractory: no gradient on a free step (%.3g)", free_min);
            spk_neuron_free(c.nr);
        }
    }
}

/* ------------------------------------------------------------------ (e) ------------- */

/* T = 3, B = N = 1, LIF, soft reset, surrogate STE of width w (ds/dm = 1/w for
 * |m - thr| < w/2). Spikes n0, n1, n2 and potentials are read from the forward and checked
 * against the closed form first. The chain rule, with sg = 1/w, d = detach_reset:
 *
 * delayed (mem_t = m_t):   m_t = lam*m_{t-1} + x_t - n_{t-1}*thr,   n_t = H(m_t - thr)
 *   S_t = dL/dn_t (total)  = cs_t + (1-d) * G_{t+1} * (-thr)
 *   G_t = dL/dm_t (total)  = cm_t + sg * S_t + lam * G_{t+1}                (G_3 = 0)
 *   dL/dx_t = G_t;  dL/dlam = sum_t G_t * m_{t-1};
 *   dL/dthr = sum_t [ -G_t * n_{t-1}  - sg * S_t ]
 *
 * same step (mem_t = v_t):  m_t = lam*v_{t-1} + x_t, n_t = H(m_t - thr), v_t = m_t - n_t*thr
 *   V_t = dL/dv_t (total)  = cm_t + lam * M_{t+1}                           (M_3 = 0)
 *   S_t = dL/dn_t (total)  = cs_t - (1-d) * thr * V_t
 *   M_t = dL/dm_t (total)  = V_t + sg * S_t
 *   dL/dx_t = M_t;  dL/dlam = sum_t M_t * v_{t-1};
 *   dL/dthr = sum_t [ -n_t * V_t - sg * S_t ]                                          */
static void hand_case(int same_step, int detach, float width) {
    const float lam = 0.8f, thr = 1.0f;
    const float x[3] = {1.3f, 1.2f, 0.7f};
    const float cs[3] = {0.7f, -0.4f, 0.9f}, cm[3] = {-0.3f, 0.5f, 0.8f};
    spk_neuron_config cfg = spk_neuron_config_default();
    cfg.lam = lam;
    cfg.thr = thr;
    cfg.timing = same_step ? SPK_TIMING_SAME_STEP : SPK_TIMING_DELAYED;
    cfg.detach_reset = detach;
    cfg.surrogate = SPK_SURR_STE;
    cfg.surrogate_scale = width;
    spk_neuron *nr = make(&cfg, 1);
    if (!nr) return;
    float states[4 * SM], u[3], s[3], mem[3], dx[3];
    CHECK_OK(spk_neuron_forward_seq(nr, 3, 1, states, u, s, mem, x));
    spk_neuron_zero_grad(nr);
    CHECK_OK(spk_neuron_backward_seq(nr, 3, 1, dx, states, u, s, x, cs, cm));
    const double sg = 1.0 / width;
    double m[3], n[3], v[3], G[4] = {0}, S[3], V[3], M[4] = {0}, ex[3], elam = 0, ethr = 0;
    /* forward by hand (double) */
    double vprev = 0, nprev = 0;
    for (int t = 0; t < 3; t++) {
        m[t] = lam * vprev + x[t] - (same_step ? 0 : nprev * thr);
        n[t] = m[t] > thr;
        v[t] = same_step ? m[t] - n[t] * thr : m[t];
        CHECK_MSG(fabs(m[t] - thr) > 0.02 && fabs(m[t] - thr) < 0.5 * width, "hand case: m_%d = %g too close to an edge", t, m[t]);
        vprev = v[t];
        nprev = n[t];
    }
    if (!same_step) {
        for (int t = 2; t >= 0; t--) {
            S[t] = cs[t] + (1 - detach) * G[t + 1] * (-thr);
            G[t] = cm[t] + sg * S[t] + lam * G[t + 1];
        }
        for (int t = 0; t < 3; t++) {
            ex[t] = G[t];
            elam += G[t] * (t ? m[t - 1] : 0.0);
            ethr += -G[t] * (t ? n[t - 1] : 0.0) - sg * S[t];
        }
    } else {
        for (int t = 2; t >= 0; t--) {
            V[t] = cm[t] + lam * M[t + 1];
            S[t] = cs[t] - (1 - detach) * thr * V[t];
            M[t] = V[t] + sg * S[t];
        }
        for (int t = 0; t < 3; t++) {
            ex[t] = M[t];
            elam += M[t] * (t ? v[t - 1] : 0.0);
            ethr += -n[t] * V[t] - sg * S[t];
        }
    }
    double fwd = 0, a[3], gl = spk_neuron_grad(nr, SPK_NP_LAM)[0], gt = spk_neuron_grad(nr, SPK_NP_THR)[0];
    for (int t = 0; t < 3; t++) {
        fwd = fmax(fwd, fabs(s[t] - n[t]) + fabs(mem[t] - v[t]));
        a[t] = dx[t];
    }
    double e = rel_err(a, ex, 3, 1e-6), el = fabs(gl - elam) / fmax(fabs(elam), 1e-6),
           et = fabs(gt - ethr) / fmax(fabs(ethr), 1e-6);
    printf("(e) hand LIF soft %-9s detach %d STE w=%-3g spikes %g%g%g: dx %.1e  lam %.1e  thr %.1e  (forward %.1e; "
           "dx = %.6f %.6f %.6f)\n",
           spk_reset_timing_name(cfg.timing), detach, width, n[0], n[1], n[2], e, el, et, fwd, a[0], a[1], a[2]);
    /* double vs float of ~10 operations: 1e-5 */
    CHECK_MSG(fwd < 1e-5, "hand case forward differs by %.3g", fwd);
    CHECK_MSG(e < 1e-5, "hand case dx: got %.7g %.7g %.7g, expected %.7g %.7g %.7g", a[0], a[1], a[2], ex[0], ex[1], ex[2]);
    CHECK_MSG(el < 1e-5, "hand case lam: got %.7g expected %.7g", gl, elam);
    CHECK_MSG(et < 1e-5, "hand case thr: got %.7g expected %.7g", gt, ethr);
    spk_neuron_free(nr);
}

static void test_hand(void) {
    for (int ss = 0; ss < 2; ss++)
        for (int d = 0; d < 2; d++) {
            hand_case(ss, d, 100.0f);
            hand_case(ss, d, 4.0f);
        }
}

/* ------------------------------------------------------------------ (f) ------------- */

/* Forward-mode derivative of L along a direction (dx over [T, B, N], or one parameter of
 * one neuron), propagating tangents through the equations of spk.h with the surrogate
 * chain rule: a spike n = fire(m, thr) gets tangent dn = dn/dm * dm + dn/dthr * dthr; a
 * detached reset sees dn = 0 but the loss and the adaptation see the full dn. The values
 * (states, u, s) are the library's forward ones, so only derivatives are compared. */
static double tangent(spk_neuron *nr, const lossctx *c, const double *dxdir, spk_neuron_param pdir, int pi) {
    const spk_neuron_config *cf = spk_neuron_get_config(nr); /* surrogate resolved */
    const int N = c->N, BN = c->B * N;
    const size_t SS = spk_neuron_state_size(nr, c->B);
    const int oV = spk_neuron_slot_offset(nr, SPK_SLOT_V), oS = spk_neuron_slot_offset(nr, SPK_SLOT_S);
    const int oI = spk_neuron_slot_offset(nr, SPK_SLOT_I), oA = spk_neuron_slot_offset(nr, SPK_SLOT_A);
    const int oR = spk_neuron_slot_offset(nr, SPK_SLOT_REF);
    const int delayed = cf->timing == SPK_TIMING_DELAYED, snn = cf->timing == SPK_TIMING_SAME_STEP_SNNTORCH;
    const int alif = cf->kind == SPK_NEURON_ALIF, cuba = cf->kind == SPK_NEURON_CUBA;
    const double beta = cf->adapt_beta, rho = cf->adapt_rho, g = cf->gain, vr = cf->v_reset;
    double dL = 0;
    for (int k = 0; k < BN; k++) {
        const int i = k % N;
        double lam = spk_neuron_get_param(nr, SPK_NP_LAM)[i], th0 = spk_neuron_get_param(nr, SPK_NP_THR)[i];
        double alpha = cuba ? spk_neuron_get_param(nr, SPK_NP_ALPHA)[i] : 0;
        double dlam = pdir == SPK_NP_LAM && pi == i, dth0 = pdir == SPK_NP_THR && pi == i,
               dalpha = pdir == SPK_NP_ALPHA && pi == i;
        if (cf->clamp_decay) {
            if (lam < 0 || lam > 1) dlam = 0;
            lam = lam < 0 ? 0 : lam > 1 ? 1 : lam;
            if (alpha < 0 || alpha > 1) dalpha = 0;
            alpha = alpha < 0 ? 0 : alpha > 1 ? 1 : alpha;
        }
        double dv = 0, di = 0, da = 0, dsp = 0; /* tangents of the state */
        for (int t = 0; t < c->T; t++) {
            const float *st = c->states + (size_t)t * SS;
            const int n_ = t * BN + k;
            double v = st[oV * BN + k], sp = st[oS * BN + k];
            double I = oI >= 0 ? st[oI * BN + k] : 0, A = oA >= 0 ? st[oA * BN + k] : 0;
            double ref = oR >= 0 ? st[oR * BN + k] : 0;
            double m = c->u[n_], sn = c->s[n_], dxv = dxdir ? dxdir[n_] : 0;
            /* adaptive thresholds: thr(t-1) = th0 + beta*a(t-1), thr(t) = th0 + beta*a(t) */
            double thp = th0, dthp = dth0, tht = th0, dtht = dth0, da_new = 0;
            if (alif) {
                thp = th0 + beta * A;
                dthp = dth0 + beta * da;
                da_new = rho * da + dsp;
                tht = th0 + beta * (rho * A + sp);
                dtht = dth0 + beta * da_new;
            }
            double cur = c->x[n_], dcur = dxv, di_new = 0;
            if (cuba) {
                cur = alpha * I + c->x[n_];
                di_new = dalpha * I + alpha * di + dxv;
                dcur = di_new;
            }
            double inp = g * cur, dinp = g * dcur;
            double r = delayed ? sp : snn ? (v - thp > 0) : 0;
            double dr = delayed && !cf->detach_reset ? dsp : 0;
            int cnt = cf->reset == SPK_RESET_REFRACTORY ? (delayed && sp > 0 ? cf->ref_steps : (int)ref) : 0;
            int hold = cnt > 0;
            if (hold) inp = dinp = 0;
            double dm;
            switch (cf->reset) { /* the reset forms of m, differentiated in (lam, v, inp, r, thr) */
            case SPK_RESET_SOFT: dm = dlam * v + lam * dv + dinp - dr * thp - r * dthp; break;
            case SPK_RESET_HARD:
            case SPK_RESET_REFRACTORY:
                dm = dlam * ((1 - r) * v + r * vr) + lam * ((1 - r) * dv + dr * (vr - v)) + dinp;
                break;
            case SPK_RESET_HARD_ALL: dm = (1 - r) * (dlam * v + lam * dv + dinp) + dr * (vr - (lam * v + inp)); break;
            default: dm = dlam * v + lam * dv + dinp; break;
            }
            double dn = 0;
            if (!hold && cf->fire != SPK_FIRE_NONE) {
                if (cf->fire != SPK_FIRE_GRADED) {
                    double sg = spk_surrogate_grad(cf->surrogate, cf->surrogate_scale, (float)(m - tht));
                    dn = sg * (dm - dtht);
                } else if (cf->surrogate == SPK_SURR_SOFTPLUS_RAMP) {
                    double d = spk_surrogate_grad(cf->surrogate, cf->surrogate_scale, (float)(m / tht - 1));
                    dn = d / tht * dm - d * m / (tht * tht) * dtht;
                } else {
                    for (int lv = 1; lv <= (cf->n_max ? cf->n_max : 64); lv++)
                        dn += spk_surrogate_grad(cf->surrogate, cf->surrogate_scale, (float)(m - lv * tht)) * (dm - lv * dtht);
                }
            }
            double dvn;
            if (delayed) {
                dvn = dm;
            } else {
                double h = sn > 1 ? 1 : sn, dnr = cf->detach_reset ? 0 : dn, dh = sn <= 1 ? dnr : 0;
                switch (cf->reset) {
                case SPK_RESET_SOFT: dvn = dm - dnr * tht - (sn - r) * dtht; break;
                case SPK_RESET_HARD:
                case SPK_RESET_HARD_ALL:
                case SPK_RESET_REFRACTORY: dvn = (1 - (h - r)) * dm + dh * (vr - m); break;
                default: dvn = dm; break;
                }
            }
            dL += c->cs[n_] * dn + c->cm[n_] * dvn;
            dv = dvn; di = di_new; da = da_new; dsp = dn;
        }
    }
    return dL;
}

static void case_tangent(spk_neuron_kind kind, spk_fire_kind fire, spk_surrogate_kind surr, float scale, int nmax,
                         spk_reset_kind reset, spk_reset_timing timing, int detach, double *worst, double *mut_worst,
                         int *nspk) {
    static lossctx c;
    memset(&c, 0, sizeof c);
    c.T = 12; c.B = 2; c.N = 3;
    const int BN = c.B * c.N, TBN = c.T * BN, N = c.N;
    spk_neuron_config cfg = spk_neuron_config_default();
    cfg.kind = kind;
    cfg.fire = fire;
    cfg.surrogate = surr;
    cfg.surrogate_scale = scale;
    cfg.reset = reset;
    cfg.timing = timing;
    cfg.detach_reset = detach;
    cfg.ref_steps = 2;
    cfg.v_reset = -0.2f;
    cfg.gain = 0.9f;
    cfg.adapt_beta = 0.5f;
    cfg.adapt_rho = 0.9f;
    cfg.sigma = 0.4f;
    cfg.n_max = nmax;
    cfg.rng.seed = 17;
    c.nr = make(&cfg, N);
    if (!c.nr) return;
    set_random(c.nr, SPK_NP_LAM, N, 0.5f, 0.95f);
    set_random(c.nr, SPK_NP_THR, N, 0.7f, 1.3f);
    if (kind == SPK_NEURON_CUBA) set_random(c.nr, SPK_NP_ALPHA, N, 0.3f, 0.8f);
    random_loss(&c, 0.0f, fire == SPK_FIRE_GRADED ? 2.5f : 1.3f);
    double ga[TM * BNM], gt[TM * BNM], dir[TM * BNM];
    analytic(&c, ga, NULL, 0);
    for (int n = 0; n < TBN; n++) *nspk += c.s[n] != 0.0f;
    memset(dir, 0, sizeof dir);
    for (int n = 0; n < TBN; n++) {
        dir[n] = 1;
        gt[n] = tangent(c.nr, &c, dir, SPK_NP_COUNT, -1);
        dir[n] = 0;
    }
    double e = rel_err(ga, gt, TBN, 1e-3);
    const spk_neuron_param ps[3] = {SPK_NP_LAM, SPK_NP_THR, SPK_NP_ALPHA};
    double ep = 0;
    for (int q = 0; q < 3; q++) {
        float *gp = spk_neuron_grad(c.nr, ps[q]);
        if (!gp) continue;
        double a[BNM], r[BNM];
        for (int i = 0; i < N; i++) {
            a[i] = gp[i];
            r[i] = tangent(c.nr, &c, NULL, ps[q], i);
        }
        double eq = rel_err(a, r, N, 1e-3);
        CHECK_MSG(eq < 1e-4, "%s %s %s %s detach %d: %s gradient rel err %.3g (got %.6g %.6g %.6g, want %.6g %.6g %.6g)",
                  spk_neuron_kind_name(kind), spk_fire_kind_name(fire), spk_reset_kind_name(reset),
                  spk_reset_timing_name(timing), detach, q == 0 ? "lam" : q == 1 ? "thr" : "alpha", eq, a[0], a[1], a[2],
                  r[0], r[1], r[2]);
        ep = fmax(ep, eq);
    }
    /* mutant: the reference with the other detach flag (a backward that ignored it) */
    {
        spk_neuron_config m = cfg;
        m.detach_reset = !detach;
        spk_neuron *nm = make(&m, N);
        if (nm) {
            for (int q = 0; q < 3; q++)
                if (spk_neuron_get_param(c.nr, ps[q]))
                    CHECK_OK(spk_neuron_set_param(nm, ps[q], spk_neuron_get_param(c.nr, ps[q]), N));
            double gm[TM * BNM];
            for (int n = 0; n < TBN; n++) {
                dir[n] = 1;
                gm[n] = tangent(nm, &c, dir, SPK_NP_COUNT, -1);
                dir[n] = 0;
            }
            *mut_worst = fmin(*mut_worst, rel_err(ga, gm, TBN, 1e-3) + (reset == SPK_RESET_NONE ? 1e9 : 0));
            spk_neuron_free(nm);
        }
    }
    /* float reverse mode vs double forward mode on the same values: ~1e-6 relative */
    CHECK_MSG(e < 1e-4, "%s %s(%s) %s %s detach %d: dx rel err %.3g", spk_neuron_kind_name(kind), spk_fire_kind_name(fire),
              spk_surrogate_name(surr), spk_reset_kind_name(reset), spk_reset_timing_name(timing), detach, e);
    *worst = fmax(*worst, fmax(e, ep));
    spk_neuron_free(c.nr);
}

static void test_tangent(void) {
    const spk_neuron_kind kinds[3] = {SPK_NEURON_LIF, SPK_NEURON_CUBA, SPK_NEURON_ALIF};
    const struct { spk_fire_kind f; spk_surrogate_kind s; float sc; int nmax; } fires[5] = {
        {SPK_FIRE_HEAVISIDE, SPK_SURR_STE, 100.0f, 0},
        {SPK_FIRE_HEAVISIDE, SPK_SURR_ATAN, 0.0f, 0},
        {SPK_FIRE_GAUSS, SPK_SURR_AUTO, 0.0f, 0},
        {SPK_FIRE_GRADED, SPK_SURR_AUTO, 0.0f, 0},
        {SPK_FIRE_GRADED, SPK_SURR_SIGMOID, 0.0f, 3},
    };
    const spk_reset_kind resets[5] = {SPK_RESET_SOFT, SPK_RESET_HARD, SPK_RESET_HARD_ALL, SPK_RESET_REFRACTORY,
                                      SPK_RESET_NONE};
    const spk_reset_timing timings[3] = {SPK_TIMING_DELAYED, SPK_TIMING_SAME_STEP, SPK_TIMING_SAME_STEP_SNNTORCH};
    double all = 0;
    for (int k = 0; k < 3; k++)
        for (int f = 0; f < 5; f++)
            for (int m = 0; m < 3; m++) {
                double worst = 0, mut = 1e30;
                int nspk = 0;
                int before = tu_failures;
                for (int r = 0; r < 5; r++)
                    for (int d = 0; d < 2; d++)
                        case_tangent(kinds[k], fires[f].f, fires[f].s, fires[f].sc, fires[f].nmax, resets[r], timings[m],
                                     d, &worst, &mut, &nspk);
                printf("(f) %-4s %-9s %-13s %-16s 5 resets x detach 0/1: worst %.1e  (spikes %d; mutant detach "
                       "flipped: min err %.2f)%s\n",
                       spk_neuron_kind_name(kinds[k]), spk_fire_kind_name(fires[f].f), spk_surrogate_name(fires[f].s),
                       spk_reset_timing_name(timings[m]), worst, nspk, mut, tu_failures > before ? "  FAIL" : "");
                all = fmax(all, worst);
            }
    printf("(f) forward-mode vs backward with spikes: worst relative error %.2e (tolerance 1e-4)\n", all);
}

/* ------------------------------------------------------------------ (g) ------------- */

/* The complex neuron with spikes, forward mode: u = lam*v + g*(x + i x_im), n = fire(Re u),
 * s = n*u/|u|, v' = u - thr*s (soft), (1-h)*u + h*v_reset (hard), u (none); lam =
 * exp(-1/tau) e^{i omega}, so dlam/domega = i*lam and dlam/dtau = lam/tau^2. A detached
 * reset sees ds = 0 (the whole spike, phase included); the loss sees the full ds. */
typedef struct cplx { double re, im; } cplx;
static cplx cmul(cplx a, cplx b) { return (cplx){a.re * b.re - a.im * b.im, a.re * b.im + a.im * b.re}; }
static cplx cadd(cplx a, cplx b) { return (cplx){a.re + b.re, a.im + b.im}; }
static cplx cscale(cplx a, double k) { return (cplx){a.re * k, a.im * k}; }

static double tangent_complex(spk_neuron *nr, const lossctx *c, const double *dxr, const double *dxi,
                              spk_neuron_param pdir, int pi) {
    const spk_neuron_config *cf = spk_neuron_get_config(nr);
    const int N = c->N, BN = c->B * N;
    const size_t SS = spk_neuron_state_size(nr, c->B);
    const int oV = spk_neuron_slot_offset(nr, SPK_SLOT_V), oVI = spk_neuron_slot_offset(nr, SPK_SLOT_VI);
    double dL = 0;
    for (int k = 0; k < BN; k++) {
        const int i = k % N;
        double w = spk_neuron_get_param(nr, SPK_NP_OMEGA)[i], tau = spk_neuron_get_param(nr, SPK_NP_TAU)[i];
        double thr = spk_neuron_get_param(nr, SPK_NP_THR)[i], rho = tau > 0 ? exp(-1.0 / tau) : 1.0;
        cplx lam = {(float)(rho * cos(w)), (float)(rho * sin(w))}; /* the library keeps lam in float */
        cplx dlam = {0, 0};
        double dthr = pdir == SPK_NP_THR && pi == i;
        if (pdir == SPK_NP_OMEGA && pi == i) dlam = (cplx){-lam.im, lam.re};
        if (pdir == SPK_NP_TAU && pi == i) dlam = cscale(lam, 1.0 / (tau * tau));
        cplx dv = {0, 0};
        for (int t = 0; t < c->T; t++) {
            const float *st = c->states + (size_t)t * SS;
            const int n_ = t * BN + k;
            cplx v = {st[oV * BN + k], st[oVI * BN + k]};
            cplx x = {c->x[n_], c->xi[n_]}, dx = {dxr ? dxr[n_] : 0, dxi ? dxi[n_] : 0};
            cplx u = cadd(cmul(lam, v), cscale(x, cf->gain));
            cplx du = cadd(cadd(cmul(dlam, v), cmul(lam, dv)), cscale(dx, cf->gain));
            double mag = hypot(u.re, u.im);
            cplx p = {u.re / mag, u.im / mag};
            double dmag = (u.re * du.re + u.im * du.im) / mag;
            cplx dp = {(du.re - p.re * dmag) / mag, (du.im - p.im * dmag) / mag};
            double n = c->s[n_] != 0.0f ? (double)c->s[n_] / p.re : 0.0; /* count from s = n * p */
            n = round(n);
            double sg = cf->fire == SPK_FIRE_NONE ? 0 : spk_surrogate_grad(cf->surrogate, cf->surrogate_scale, (float)(u.re - thr));
            double dn = sg * (du.re - dthr);
            cplx s = cscale(p, n), ds = cadd(cscale(p, dn), cscale(dp, n));
            cplx dsr = cf->detach_reset ? (cplx){0, 0} : ds;
            cplx dvn;
            double h = n > 1 ? 1 : n, dh = (!cf->detach_reset && n <= 1) ? dn : 0;
            switch (cf->reset) {
            case SPK_RESET_SOFT: dvn = cadd(du, cadd(cscale(s, -dthr), cscale(dsr, -thr))); break;
            case SPK_RESET_HARD:
            case SPK_RESET_HARD_ALL:
                dvn = cadd(cscale(du, 1 - h), cscale((cplx){cf->v_reset - u.re, -u.im}, dh));
                break;
            default: dvn = du; break;
            }
            dL += c->cs[n_] * ds.re + c->csi[n_] * ds.im + c->cm[n_] * dvn.re + c->cmi[n_] * dvn.im;
            dv = dvn;
        }
    }
    return dL;
}

static void case_complex_spikes(spk_fire_kind fire, spk_reset_kind reset, int detach, double *worst, int *nspk) {
    static lossctx c;
    memset(&c, 0, sizeof c);
    c.T = 12; c.B = 2; c.N = 3; c.complex_kind = 1;
    const int BN = c.B * c.N, TBN = c.T * BN, N = c.N;
    spk_neuron_config cfg = spk_neuron_config_default();
    cfg.kind = SPK_NEURON_COMPLEX;
    cfg.timing = SPK_TIMING_SAME_STEP;
    cfg.fire = fire;
    cfg.reset = reset;
    cfg.detach_reset = detach;
    cfg.gain = 0.8f;
    cfg.v_reset = 0.1f;
    cfg.sigma = 0.3f;
    cfg.rng.seed = 8;
    c.nr = make(&cfg, N);
    if (!c.nr) return;
    set_random(c.nr, SPK_NP_OMEGA, N, 0.1f, 1.2f);
    set_random(c.nr, SPK_NP_TAU, N, 2.0f, 10.0f);
    set_random(c.nr, SPK_NP_THR, N, 0.6f, 1.0f);
    random_loss(&c, -0.5f, 1.5f);
    double ga[TM * BNM], gai[TM * BNM], rx[TM * BNM], rxi[TM * BNM], dir[TM * BNM];
    analytic(&c, ga, gai, 0);
    for (int n = 0; n < TBN; n++) *nspk += c.s[n] != 0.0f;
    memset(dir, 0, sizeof dir);
    for (int n = 0; n < TBN; n++) {
        dir[n] = 1;
        rx[n] = tangent_complex(c.nr, &c, dir, NULL, SPK_NP_COUNT, -1);
        rxi[n] = tangent_complex(c.nr, &c, NULL, dir, SPK_NP_COUNT, -1);
        dir[n] = 0;
    }
    double ex = rel_err(ga, rx, TBN, 1e-3), exi = rel_err(gai, rxi, TBN, 1e-3), ep[3];
    const spk_neuron_param ps[3] = {SPK_NP_OMEGA, SPK_NP_TAU, SPK_NP_THR};
    for (int q = 0; q < 3; q++) {
        double a[BNM], r[BNM];
        for (int i = 0; i < N; i++) {
            a[i] = spk_neuron_grad(c.nr, ps[q])[i];
            r[i] = tangent_complex(c.nr, &c, NULL, NULL, ps[q], i);
        }
        ep[q] = rel_err(a, r, N, 1e-3);
    }
    printf("(g) complex %-9s %-8s detach %d: dx %.1e  dx_im %.1e  omega %.1e  tau %.1e  thr %.1e\n",
           spk_fire_kind_name(fire), spk_reset_kind_name(reset), detach, ex, exi, ep[0], ep[1], ep[2]);
    /* float reverse mode vs double forward mode on the same values */
    CHECK_MSG(ex < 1e-4 && exi < 1e-4, "complex with spikes: dx %.3g dx_im %.3g", ex, exi);
    CHECK_MSG(ep[0] < 1e-4 && ep[1] < 1e-4 && ep[2] < 1e-4, "complex with spikes: omega %.3g tau %.3g thr %.3g", ep[0],
              ep[1], ep[2]);
    *worst = fmax(*worst, fmax(fmax(ex, exi), fmax(ep[0], fmax(ep[1], ep[2]))));
    spk_neuron_free(c.nr);
}

static void test_complex_spikes(void) {
    const spk_reset_kind resets[4] = {SPK_RESET_SOFT, SPK_RESET_HARD, SPK_RESET_HARD_ALL, SPK_RESET_NONE};
    double worst = 0;
    int nspk = 0;
    for (int f = 0; f < 2; f++)
        for (int r = 0; r < 4; r++)
            for (int d = 0; d < 2; d++)
                case_complex_spikes(f ? SPK_FIRE_GAUSS : SPK_FIRE_HEAVISIDE, resets[r], d, &worst, &nspk);
    printf("(g) complex with spikes (%d spikes): worst relative error %.2e (tolerance 1e-4)\n", nspk, worst);
    CHECK_MSG(nspk > 100, "complex cases produced only %d spikes", nspk);
}

int main(void) {
    /* results do not depend on the thread count (spk.h); at these tiny sizes one thread
     * is ~5x faster than OpenMP's fork/join on every step */
    spk_set_threads(1);
    rng_ctr = 1000000u; /* each part draws its own numbers */
    test_smooth_real();
    rng_ctr = 2000000u; /* each part draws its own numbers */
    test_complex();
    rng_ctr = 3000000u; /* each part draws its own numbers */
    test_surrogate_rule();
    rng_ctr = 4000000u; /* each part draws its own numbers */
    test_refractory_hold();
    rng_ctr = 5000000u; /* each part draws its own numbers */
    test_hand();
    rng_ctr = 6000000u; /* each part draws its own numbers */
    test_tangent();
    rng_ctr = 7000000u; /* each part draws its own numbers */
    test_complex_spikes();
    return tu_finish("test_neuron_grad");
}
