/* test_neuron.c — the generalized neuron against closed-form single-neuron traces for every
 * reset and firing mode, refusal of invalid parameters, the optimized LIF kernel against the
 * reference step (bit for bit), and the complex neuron's free rotation lam^t. */
#include "testutil.h"
#include "neuron/neuron_impl.h"

#include <complex.h>
#include <string.h>

/* Run one neuron for T steps of input x; write spikes, reported mem and u. */
static void run1(const spk_neuron_config *c, int T, const float *x, float *s, float *mem) {
    spk_neuron *nr;
    CHECK_OK(spk_neuron_create(&nr, c, 1));
    if (!nr) return;
    float *state = calloc(spk_neuron_state_size(nr, 1), sizeof(float));
    for (int t = 0; t < T; t++) {
        float u;
        CHECK_OK(spk_neuron_step(nr, 1, t, state, &u, &s[t], &x[t], NULL, NULL));
        mem[t] = state[spk_neuron_slot_offset(nr, SPK_SLOT_V)];
    }
    free(state);
    spk_neuron_free(nr);
}

static void expect_trace(const char *name, const spk_neuron_config *c, int T, const float *x,
                         const float *want_s, const float *want_mem) {
    float s[16], mem[16];
    run1(c, T, x, s, mem);
    for (int t = 0; t < T; t++) {
        CHECK_MSG(s[t] == want_s[t], "%s: t=%d spike %g, expected %g", name, t, s[t], want_s[t]);
        if (want_mem) CHECK_MSG(mem[t] == want_mem[t], "%s: t=%d mem %.9g, expected %.9g", name, t, mem[t], want_mem[t]);
    }
}

static void test_closed_form(void) {
    const float x75[8] = {0.75f, 0.75f, 0.75f, 0.75f, 0.75f, 0.75f, 0.75f, 0.75f};
    spk_neuron_config c = spk_neuron_config_default();
    c.lam = 0.5f;
    c.thr = 1.0f;
    /* snnTorch Leaky subtract (delayed): the spike's reset lands one step later */
    {
        const float s[6] = {0, 1, 0, 0, 1, 0};
        const float m[6] = {0.75f, 1.125f, 0.3125f, 0.90625f, 1.203125f, 0.3515625f};
        expect_trace("soft delayed", &c, 6, x75, s, m);
    }
    c.reset = SPK_RESET_HARD; /* snnTorch Leaky zero: the reset step keeps its input */
    {
        const float s[6] = {0, 1, 0, 1, 0, 1};
        const float m[6] = {0.75f, 1.125f, 0.75f, 1.125f, 0.75f, 1.125f};
        expect_trace("hard delayed", &c, 6, x75, s, m);
    }
    c.reset = SPK_RESET_HARD_ALL; /* snnTorch Synaptic/RLeaky zero: the reset step is lost */
    {
        const float s[6] = {0, 1, 0, 0, 1, 0};
        const float m[6] = {0.75f, 1.125f, 0.0f, 0.75f, 1.125f, 0.0f};
        expect_trace("hard_all delayed", &c, 6, x75, s, m);
    }
    c.reset = SPK_RESET_NONE;
    {
        const float s[5] = {0, 1, 1, 1, 1};
        const float m[5] = {0.75f, 1.125f, 1.3125f, 1.40625f, 1.453125f};
        expect_trace("no reset", &c, 5, x75, s, m);
    }
    c.timing = SPK_TIMING_SAME_STEP;
    c.reset = SPK_RESET_SOFT;
    {
        const float s[5] = {0, 1, 0, 1, 0};
        const float m[5] = {0.75f, 0.125f, 0.8125f, 0.15625f, 0.828125f};
        expect_trace("soft same-step", &c, 5, x75, s, m);
    }
    c.reset = SPK_RESET_HARD;
    {
        const float s[5] = {0, 1, 0, 1, 0};
        const float m[5] = {0.75f, 0.0f, 0.75f, 0.0f, 0.75f};
        expect_trace("hard same-step", &c, 5, x75, s, m);
    }
    c.reset = SPK_RESET_HARD;
    c.v_reset = 0.25f;
    {
        const float s[5] = {0, 1, 0, 1, 0};
        const float m[5] = {0.75f, 0.25f, 0.875f, 0.25f, 0.875f};
        expect_trace("hard to v_reset same-step", &c, 5, x75, s, m);
    }
    /* refractory: undershoot to -0.5, 2 silent steps that ignore input, same in both timings */
    c.reset = SPK_RESET_REFRACTORY;
    c.v_reset = -0.5f;
    c.ref_steps = 2;
    {
        const float s[7] = {0, 1, 0, 0, 0, 1, 0};
        const float m[7] = {0.75f, -0.5f, -0.25f, -0.125f, 0.6875f, -0.5f, -0.25f};
        expect_trace("refractory same-step", &c, 7, x75, s, m);
        c.timing = SPK_TIMING_DELAYED;
        const float md[7] = {0.75f, 1.125f, -0.25f, -0.125f, 0.6875f, 1.09375f, -0.25f};
        expect_trace("refractory delayed", &c, 7, x75, s, md);
    }
    /* strict threshold: exactly at threshold does not fire */
    c = spk_neuron_config_default();
    c.lam = 0.0f;
    {
        const float x[3] = {1.0f, 1.0000001f, 0.9999999f};
        const float s[3] = {0, 1, 0};
        expect_trace("strict threshold", &c, 3, x, s, NULL);
    }
    /* graded staircase n = #{k : u > k*thr}, and its cap */
    c.fire = SPK_FIRE_GRADED;
    c.thr = 0.25f;
    c.reset = SPK_RESET_NONE;
    {
        const float x[6] = {0.3f, 0.6f, 0.25f, 1.0f, 0.76f, 2.6f};
        const float s[6] = {1, 2, 0, 3, 3, 10};
        expect_trace("graded", &c, 6, x, s, x);
        c.n_max = 2;
        const float s2[6] = {1, 2, 0, 2, 2, 2};
        expect_trace("graded capped", &c, 6, x, s2, x);
    }
    /* graded with soft reset subtracts n*thr */
    c = spk_neuron_config_default();
    c.fire = SPK_FIRE_GRADED;
    c.thr = 0.25f;
    c.lam = 1.0f;
    c.timing = SPK_TIMING_SAME_STEP;
    {
        const float x[3] = {0.6f, 0.0f, 0.2f};
        const float s[3] = {2, 0, 1};
        const float m[3] = {0.6f - 0.5f, 0.6f - 0.5f, 0.0500000119f};
        expect_trace("graded soft", &c, 3, x, s, m);
    }
    /* CuBa: i = alpha*i + x, u = lam*v + i */
    c = spk_neuron_config_default();
    c.kind = SPK_NEURON_CUBA;
    c.alpha = 0.5f;
    c.lam = 0.5f;
    c.thr = 100.0f;
    {
        const float x[4] = {1, 0, 0, 0};
        const float s[4] = {0, 0, 0, 0};
        const float m[4] = {1.0f, 1.0f, 0.75f, 0.5f};
        expect_trace("cuba", &c, 4, x, s, m);
    }
    /* ALIF: threshold 1 + a, a = 0.5*a + s(t-1) */
    c = spk_neuron_config_default();
    c.kind = SPK_NEURON_ALIF;
    c.lam = 0.0f;
    c.adapt_beta = 1.0f;
    c.adapt_rho = 0.5f;
    c.reset = SPK_RESET_NONE;
    {
        const float x[7] = {1.5f, 1.5f, 1.5f, 1.5f, 1.5f, 1.5f, 1.5f};
        const float s[7] = {1, 0, 0, 1, 0, 0, 1};
        expect_trace("alif", &c, 7, x, s, x);
    }
    /* a leaky integrator never fires */
    c = spk_neuron_config_default();
    c.fire = SPK_FIRE_NONE;
    {
        const float x[3] = {5, 5, 5};
        const float s[3] = {0, 0, 0};
        const float m[3] = {5.0f, 9.5f, 13.55f};
        expect_trace("readout", &c, 3, x, s, m);
    }
}

static void test_invalid(void) {
    spk_neuron_config c = spk_neuron_config_default();
    spk_neuron *nr = (spk_neuron *)0x1;
    c.lam = 1.5f;
    CHECK(spk_neuron_create(&nr, &c, 4) == SPK_ERR_INVALID_ARG);
    CHECK(nr == NULL);
    CHECK(strstr(spk_errmsg(NULL), "lam = 1.5") != NULL);
    c = spk_neuron_config_default();
    c.thr = NAN;
    CHECK(spk_neuron_create(&nr, &c, 4) == SPK_ERR_INVALID_ARG && strstr(spk_errmsg(NULL), "thr"));
    c = spk_neuron_config_default();
    c.fire = SPK_FIRE_GAUSS;
    c.sigma = 0.0f;
    CHECK(spk_neuron_create(&nr, &c, 4) == SPK_ERR_INVALID_ARG && strstr(spk_errmsg(NULL), "sigma"));
    c.fire = SPK_FIRE_CAUCHY;
    c.sigma = -1.0f;
    CHECK(spk_neuron_create(&nr, &c, 4) == SPK_ERR_INVALID_ARG && strstr(spk_errmsg(NULL), "sigma"));
    c = spk_neuron_config_default();
    c.reset = SPK_RESET_REFRACTORY;
    c.ref_steps = -2;
    CHECK(spk_neuron_create(&nr, &c, 4) == SPK_ERR_INVALID_ARG && strstr(spk_errmsg(NULL), "refractory"));
    c = spk_neuron_config_default();
    c.alpha = -1.01f;
    CHECK(spk_neuron_create(&nr, &c, 4) == SPK_ERR_INVALID_ARG && strstr(spk_errmsg(NULL), "alpha"));
    c = spk_neuron_config_default();
    c.fire = (spk_fire_kind)42;
    CHECK(spk_neuron_create(&nr, &c, 4) == SPK_ERR_INVALID_ARG && strstr(spk_errmsg(NULL), "fire"));
    c = spk_neuron_config_default();
    CHECK(spk_neuron_create(&nr, &c, 0) == SPK_ERR_INVALID_ARG);

    /* per-neuron setters check every value first and leave the neuron unchanged */
    CHECK_OK(spk_neuron_create(&nr, &c, 4));
    const float good[4] = {0.1f, 0.2f, 0.3f, 0.4f};
    CHECK_OK(spk_neuron_set_param(nr, SPK_NP_LAM, good, 4));
    const float bad[4] = {0.5f, 0.6f, -1.2f, 0.7f};
    CHECK(spk_neuron_set_param(nr, SPK_NP_LAM, bad, 4) == SPK_ERR_INVALID_ARG);
    CHECK(strstr(spk_errmsg(nr), "lam[2] = -1.2") != NULL);
    const float *lam = spk_neuron_get_param(nr, SPK_NP_LAM);
    CHECK(memcmp(lam, good, sizeof good) == 0);
    const float nanv = NAN, zero = 0.0f;
    CHECK(spk_neuron_set_param(nr, SPK_NP_THR, &nanv, 1) == SPK_ERR_INVALID_ARG);
    CHECK(spk_neuron_set_param(nr, SPK_NP_THR, &zero, 1) == SPK_ERR_INVALID_ARG);
    CHECK(spk_neuron_get_param(nr, SPK_NP_THR)[3] == 1.0f);
    CHECK(spk_neuron_set_param(nr, SPK_NP_THR, good, 3) == SPK_ERR_INVALID_ARG);
    CHECK(spk_neuron_set_param(nr, SPK_NP_ALPHA, good, 4) == SPK_ERR_INVALID_ARG); /* LIF has none */
    CHECK(strstr(spk_errmsg(nr), "alpha") != NULL);
    float st[8], s[4];
    CHECK(spk_neuron_step(nr, 0, 0, st, NULL, s, good, NULL, NULL) == SPK_ERR_INVALID_ARG);
    CHECK(spk_neuron_step(nr, 1, 0, st, NULL, s, NULL, NULL, NULL) == SPK_ERR_INVALID_ARG);
    spk_neuron_free(nr);

    /* complex neurons: omega range, tau >= 0, same-step timing only */
    c = spk_neuron_config_default();
    c.kind = SPK_NEURON_COMPLEX;
    CHECK(spk_neuron_create(&nr, &c, 2) == SPK_ERR_INVALID_ARG && strstr(spk_errmsg(NULL), "same_step"));
    c.timing = SPK_TIMING_SAME_STEP;
    c.omega = 7.0f;
    CHECK(spk_neuron_create(&nr, &c, 2) == SPK_ERR_INVALID_ARG && strstr(spk_errmsg(NULL), "omega"));
    c.omega = 1.0f;
    CHECK_OK(spk_neuron_create(&nr, &c, 2));
    const float neg = -1.0f;
    CHECK(spk_neuron_set_param(nr, SPK_NP_TAU, &neg, 1) == SPK_ERR_INVALID_ARG && strstr(spk_errmsg(nr), "tau_m"));
    spk_neuron_free(nr);

    /* names round-trip */
    for (int k = 0; k < SPK_SURR_KIND_COUNT; k++) CHECK(spk_surrogate_from_name(spk_surrogate_name((spk_surrogate_kind)k)) == k);
    for (int k = 0; k < SPK_RESET_KIND_COUNT; k++) CHECK(spk_reset_kind_from_name(spk_reset_kind_name((spk_reset_kind)k)) == k);
    CHECK(spk_fire_kind_from_name("nonsense") == -1);
}

/* the fused LIF kernel equals the reference step bit for bit */
static void test_fast_path(void) {
    const int B = 5, N = 37, T = 30;
    const spk_reset_kind resets[4] = {SPK_RESET_SOFT, SPK_RESET_HARD, SPK_RESET_HARD_ALL, SPK_RESET_NONE};
    for (int tm = 0; tm < 2; tm++)
        for (int r = 0; r < 4; r++) {
            spk_neuron_config c = spk_neuron_config_default();
            c.timing = (spk_reset_timing)tm;
            c.reset = resets[r];
            c.v_reset = -0.125f;
            c.gain = r == 2 ? 0.7f : 1.0f;
            spk_neuron *nr;
            CHECK_OK(spk_neuron_create(&nr, &c, N));
            CHECK(spk__neuron_has_fast_path(nr));
            float lam[37], thr[37];
            for (int i = 0; i < N; i++) {
                lam[i] = spk_rng_uniform((spk_rng){1, 0}, 0, (uint64_t)i, 0) * 1.2f - 0.1f;
                lam[i] = lam[i] > 1 ? 1 : lam[i] < -1 ? -1 : lam[i];
                thr[i] = 0.5f + spk_rng_uniform((spk_rng){1, 0}, 0, (uint64_t)i, 1);
            }
            CHECK_OK(spk_neuron_set_param(nr, SPK_NP_LAM, lam, N));
            CHECK_OK(spk_neuron_set_param(nr, SPK_NP_THR, thr, N));
            size_t SS = spk_neuron_state_size(nr, B);
            float *sa = calloc(SS, 4), *sb = calloc(SS, 4), x[5 * 37], s1[5 * 37], s2[5 * 37], u1[5 * 37], u2[5 * 37];
            int mism = 0;
            for (int t = 0; t < T; t++) {
                for (int k = 0; k < B * N; k++) x[k] = spk_rng_uniform((spk_rng){2, 0}, (uint64_t)t, (uint64_t)k, 0) * 1.5f - 0.3f;
                CHECK_OK(spk_neuron_step(nr, B, t, sa, u1, s1, x, NULL, NULL));
                CHECK_OK(spk__neuron_step_ref(nr, B, t, sb, u2, s2, x));
                mism += memcmp(sa, sb, SS * 4) != 0 || memcmp(s1, s2, sizeof s1) != 0 || memcmp(u1, u2, sizeof u1) != 0;
            }
            CHECK_MSG(mism == 0, "timing %d reset %d: %d steps differ", tm, r, mism);
            /* backward: the fused kernel against the reference, from the same state and seeds */
            for (int det = 0; det < 2; det++) {
                spk_neuron_config c2 = c;
                c2.detach_reset = det;
                c2.surrogate = det ? SPK_SURR_FAST_SIGMOID : SPK_SURR_ATAN;
                spk_neuron *n2;
                CHECK_OK(spk_neuron_create(&n2, &c2, N));
                CHECK_OK(spk_neuron_set_param(n2, SPK_NP_LAM, lam, N));
                CHECK_OK(spk_neuron_set_param(n2, SPK_NP_THR, thr, N));
                float *prev = malloc(SS * 4), *d1 = malloc(SS * 4), *d2 = malloc(SS * 4), dx1[5 * 37], dx2[5 * 37], dsd[5 * 37], dm[5 * 37];
                memcpy(prev, sa, SS * 4);
                CHECK_OK(spk_neuron_step(n2, B, T, sa, u1, s1, x, NULL, NULL));
                for (size_t k = 0; k < SS; k++) d1[k] = spk_rng_uniform((spk_rng){4, 0}, 0, k, 0) - 0.5f;
                memcpy(d2, d1, SS * 4);
                for (int k = 0; k < B * N; k++) {
                    dsd[k] = spk_rng_uniform((spk_rng){5, 0}, 0, (uint64_t)k, 0) - 0.5f;
                    dm[k] = spk_rng_uniform((spk_rng){6, 0}, 0, (uint64_t)k, 0) - 0.5f;
                    dx1[k] = dx2[k] = 0.25f;
                }
                spk_neuron_zero_grad(n2);
                CHECK_OK(spk_neuron_step_backward(n2, B, T, d1, dx1, NULL, prev, u1, s1, NULL, x, NULL, dsd, NULL, dm));
                float gl1[37], gt1[37];
                memcpy(gl1, spk_neuron_grad(n2, SPK_NP_LAM), sizeof gl1);
                memcpy(gt1, spk_neuron_grad(n2, SPK_NP_THR), sizeof gt1);
                spk_neuron_zero_grad(n2);
                CHECK_OK(spk__neuron_step_backward_ref(n2, B, T, d2, dx2, prev, s1, x, dsd, dm));
                double e1 = tu_max_rel_diff(dx1, dx2, (size_t)B * N, 1e-6), e2 = tu_max_rel_diff(d1, d2, SS, 1e-6);
                double e3 = tu_max_rel_diff(gl1, spk_neuron_grad(n2, SPK_NP_LAM), N, 1e-6);
                double e4 = tu_max_rel_diff(gt1, spk_neuron_grad(n2, SPK_NP_THR), N, 1e-6);
                CHECK_MSG(e1 < 1e-6 && e2 < 1e-6 && e3 < 1e-5 && e4 < 1e-5,
                          "fused backward vs reference (timing %d reset %d detach %d): dx %g dstate %g dlam %g dthr %g", tm, r, det, e1,
                          e2, e3, e4);
                free(prev); free(d1); free(d2);
                spk_neuron_free(n2);
            }
            free(sa);
            free(sb);
            spk_neuron_free(nr);
        }
}

/* complex neuron: with no input after an impulse, v(t) = lam^t, a decaying rotation */
static void test_complex(void) {
    spk_neuron_config c = spk_neuron_config_default();
    c.kind = SPK_NEURON_COMPLEX;
    c.timing = SPK_TIMING_SAME_STEP;
    c.reset = SPK_RESET_HARD;
    c.thr = 10.0f; /* never reached */
    spk_neuron *nr;
    CHECK_OK(spk_neuron_create(&nr, &c, 3));
    const float omega[3] = {0.0f, 0.7f, 3.0f}, tau[3] = {0.0f, 20.0f, 5.0f};
    CHECK_OK(spk_neuron_set_param(nr, SPK_NP_OMEGA, omega, 3));
    CHECK_OK(spk_neuron_set_param(nr, SPK_NP_TAU, tau, 3));
    float state[9] = {0}, x[3] = {1, 1, 1}, xi[3] = {0, 0, 0}, s[3], si[3];
    double max_err = 0;
    for (int t = 0; t < 40; t++) {
        CHECK_OK(spk_neuron_step(nr, 1, t, state, NULL, s, x, xi, si));
        for (int i = 0; i < 3; i++) {
            double complex lam = cexp(-(tau[i] > 0 ? 1.0 / tau[i] : 0.0) + I * omega[i]);
            double complex want = cpow(lam, t);
            double er = fabs(state[i] - creal(want)) + fabs(state[3 + i] - cimag(want));
            max_err = er > max_err ? er : max_err;
            CHECK(s[i] == 0 && si[i] == 0);
        }
        x[0] = x[1] = x[2] = 0;
    }
    CHECK_MSG(max_err < 2e-5, "complex free decay: max error %g", max_err);
    spk_neuron_free(nr);

    /* firing on Re(u) > thr, the spike carries the unit phase, and the hard reset zeroes v */
    c.thr = 0.5f;
    CHECK_OK(spk_neuron_create(&nr, &c, 1));
    float st[3] = {0}, xr1 = 0.6f, xi1 = 0.8f, sr, sim, u;
    CHECK_OK(spk_neuron_step(nr, 1, 0, st, &u, &sr, &xr1, &xi1, &sim));
    CHECK(u == 0.6f);
    CHECK_NEAR(sr, 0.6, 1e-6);
    CHECK_NEAR(sim, 0.8, 1e-6);
    CHECK(st[0] == 0.0f && st[1] == 0.0f);
    xr1 = 0.5f; xi1 = 3.0f; /* Re(u) == thr: strict, no spike despite |u| > thr */
    CHECK_OK(spk_neuron_step(nr, 1, 1, st, &u, &sr, &xr1, &xi1, &sim));
    CHECK(sr == 0.0f && sim == 0.0f);
    spk_neuron_free(nr);
}

int main(void) {
    test_closed_form();
    test_invalid();
    test_fast_path();
    test_complex();
    return tu_finish("test_neuron");
}
