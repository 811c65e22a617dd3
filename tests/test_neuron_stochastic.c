/* test_neuron_stochastic.c — surrogates against finite differences of their primitives,
 * stochastic firing rates against p_spike (within 4 sigma over 10^5 draws), graded noisy
 * spike counts and replica averages against their expectations, and bit-identical spikes and
 * gradients at 1 and 2 threads. */
#include "testutil.h"

#include <string.h>

#define PI_D 3.14159265358979323846

static void test_surrogates_fd(void) {
    const double us[] = {-0.83, -0.31, -0.07, 0.05, 0.22, 0.61, 1.3};
    const float scales[] = {0.0f, 0.3f, 2.5f};
    for (int k = SPK_SURR_ATAN; k < SPK_SURR_KIND_COUNT; k++) {
        double worst = 0;
        for (size_t si = 0; si < sizeof scales / sizeof *scales; si++) {
            float sc = scales[si];
            for (size_t ui = 0; ui < sizeof us / sizeof *us; ui++) {
                double u = us[ui], h = 1e-5;
                double fd = (spk_surrogate_primitive((spk_surrogate_kind)k, sc, u + h) -
                             spk_surrogate_primitive((spk_surrogate_kind)k, sc, u - h)) / (2 * h);
                double g = spk_surrogate_grad((spk_surrogate_kind)k, sc, (float)u);
                double err = fabs(fd - g) / fmax(fabs(fd), 1.0);
                worst = err > worst ? err : worst;
                CHECK_MSG(err < 2e-5, "surrogate %s scale %g at u=%g: grad %.8g, finite difference %.8g",
                          spk_surrogate_name((spk_surrogate_kind)k), sc, u, g, fd);
            }
        }
        printf("surrogate %-14s max |grad - FD| = %.2g\n", spk_surrogate_name((spk_surrogate_kind)k), worst);
        /* every surrogate peaks at or integrates to something sensible: positive near 0 */
        CHECK(spk_surrogate_grad((spk_surrogate_kind)k, 0, 0.01f) > 0);
    }
    /* the default atan is snnTorch's atan(alpha = 2): (alpha/2) / (1 + (pi/2*alpha*u)^2) */
    for (double u = -1; u <= 1; u += 0.125) {
        double ref = 1.0 / (1 + (PI_D * u) * (PI_D * u));
        CHECK_NEAR(spk_surrogate_grad(SPK_SURR_ATAN, 0, (float)u), ref, 1e-6 * fmax(ref, 1e-3));
    }
    CHECK(isnan(spk_surrogate_grad(SPK_SURR_AUTO, 1, 0.0f)));
}

/* empirical firing rate of a population held at potential u, over T steps of N neurons */
static double rate_at(spk_neuron *nr, int N, int T, float u, double *mean_count) {
    size_t SS = spk_neuron_state_size(nr, 1);
    float *state = calloc(SS, sizeof(float)), *x = malloc(N * sizeof(float)), *s = malloc(N * sizeof(float));
    for (int i = 0; i < N; i++) x[i] = u;
    long fired = 0;
    double cnt = 0;
    for (int t = 0; t < T; t++) {
        CHECK_OK(spk_neuron_step(nr, 1, t, state, NULL, s, x, NULL, NULL));
        for (int i = 0; i < N; i++) {
            fired += s[i] > 0;
            cnt += s[i];
        }
    }
    free(state); free(x); free(s);
    if (mean_count) *mean_count = cnt / ((double)N * T);
    return (double)fired / ((double)N * T);
}

static void test_rates(void) {
    const int N = 10000, T = 10; /* 10^5 draws per potential */
    const float us[] = {0.6f, 0.9f, 1.0f, 1.15f, 1.5f};
    for (int f = SPK_FIRE_GAUSS; f <= SPK_FIRE_CAUCHY; f++) {
        spk_neuron_config c = spk_neuron_config_default();
        c.fire = (spk_fire_kind)f;
        c.sigma = 0.3f;
        c.lam = 0.0f;
        c.reset = SPK_RESET_NONE;
        c.rng.seed = 1234;
        spk_neuron *nr;
        CHECK_OK(spk_neuron_create(&nr, &c, N));
        for (size_t k = 0; k < sizeof us / sizeof *us; k++) {
            double p = spk_neuron_p_spike(nr, 0, us[k], 1);
            double z = ((double)us[k] - 1.0) / (double)0.3f;
            double want = f == SPK_FIRE_GAUSS ? 0.5 * (1 + erf(z)) : 0.5 + atan(z) / PI_D;
            CHECK_NEAR(p, want, 1e-12);
            double r = rate_at(nr, N, T, us[k], NULL);
            double sd = sqrt(p * (1 - p) / (N * T));
            printf("%s noise: u=%.2f rate %.5f p_spike %.5f (%.2f sigma)\n", spk_fire_kind_name((spk_fire_kind)f), us[k], r, p,
                   fabs(r - p) / sd);
            CHECK_MSG(fabs(r - p) <= 4 * sd, "%s u=%g: rate %g vs p %g", spk_fire_kind_name((spk_fire_kind)f), us[k], r, p);
        }
        spk_neuron_free(nr);
    }
    /* noisy graded spikes: E[n] = sum_k P(n >= k) */
    spk_neuron_config c = spk_neuron_config_default();
    c.fire = SPK_FIRE_GRADED;
    c.graded_noise = SPK_FIRE_GAUSS;
    c.sigma = 0.4f;
    c.thr = 0.5f;
    c.lam = 0.0f;
    c.reset = SPK_RESET_NONE;
    c.rng.seed = 99;
    spk_neuron *nr;
    CHECK_OK(spk_neuron_create(&nr, &c, N));
    const float ug[] = {0.3f, 1.1f, 2.2f};
    for (size_t k = 0; k < 3; k++) {
        double expect = 0;
        for (int n = 1; n < 100; n++) expect += spk_neuron_p_spike(nr, 0, ug[k], n);
        double mean;
        rate_at(nr, N, T, ug[k], &mean);
        /* the count's variance is below that of a Poisson of the same mean + 1/4 (levels
           share one draw, spread ~ sigma/thr levels) — a generous bound: */
        double sd = sqrt((expect + 1.0) / (N * T));
        printf("graded gauss noise: u=%.2f mean count %.4f expected %.4f\n", ug[k], mean, expect);
        CHECK_MSG(fabs(mean - expect) <= 4 * sd, "graded u=%g: mean %g vs %g", ug[k], mean, expect);
    }
    spk_neuron_free(nr);
}

static void test_replicas(void) {
    const int N = 20000, R = 16;
    spk_neuron_config c = spk_neuron_config_default();
    c.fire = SPK_FIRE_CAUCHY;
    c.sigma = 0.2f;
    c.lam = 0.0f;
    c.reset = SPK_RESET_NONE;
    c.replicas = R;
    spk_neuron *nr;
    CHECK_OK(spk_neuron_create(&nr, &c, N));
    float *state = calloc(spk_neuron_state_size(nr, 1), 4), *x = malloc(N * 4), *s = malloc(N * 4);
    for (int i = 0; i < N; i++) x[i] = 1.1f;
    CHECK_OK(spk_neuron_step(nr, 1, 0, state, NULL, s, x, NULL, NULL));
    double p = spk_neuron_p_spike(nr, 0, 1.1, 1), m = 0, v = 0;
    int on_grid = 1;
    for (int i = 0; i < N; i++) {
        m += s[i];
        on_grid &= fabsf(s[i] * R - roundf(s[i] * R)) < 1e-4f;
    }
    m /= N;
    for (int i = 0; i < N; i++) v += (s[i] - m) * (s[i] - m);
    v /= N - 1;
    double want_v = p * (1 - p) / R;
    printf("replicas R=%d: mean %.4f (p %.4f), variance %.5f (p(1-p)/R = %.5f)\n", R, m, p, v, want_v);
    CHECK(on_grid);
    CHECK_NEAR(m, p, 4 * sqrt(want_v / N));
    CHECK_NEAR(v, want_v, 0.1 * want_v);
    free(state); free(x); free(s);
    spk_neuron_free(nr);
    c.fire = SPK_FIRE_HEAVISIDE;
    CHECK(spk_neuron_create(&nr, &c, 4) == SPK_ERR_INVALID_ARG && strstr(spk_errmsg(NULL), "replicas"));
}

/* same seed, same spikes and gradients at 1 and 2 threads */
static void run_noisy(int threads, float *spikes, float *gthr, float *dx) {
    CHECK_OK(spk_set_threads(threads));
    const int T = 15, B = 4, N = 777;
    spk_neuron_config c = spk_neuron_config_default();
    c.fire = SPK_FIRE_GAUSS;
    c.sigma = 0.5f;
    c.rng.seed = 7;
    c.rng.stream = 3;
    spk_neuron *nr;
    CHECK_OK(spk_neuron_create(&nr, &c, N));
    size_t SS = spk_neuron_state_size(nr, B), BN = (size_t)B * N;
    float *states = malloc((T + 1) * SS * 4), *u = malloc(T * BN * 4), *x = malloc(T * BN * 4), *ds = malloc(T * BN * 4);
    for (size_t k = 0; k < T * BN; k++) {
        x[k] = spk_rng_uniform((spk_rng){5, 0}, 0, k, 0) * 0.6f;
        ds[k] = spk_rng_uniform((spk_rng){6, 0}, 0, k, 0) - 0.5f;
    }
    CHECK_OK(spk_neuron_forward_seq(nr, T, B, states, u, spikes, NULL, x));
    CHECK_OK(spk_neuron_backward_seq(nr, T, B, dx, states, u, spikes, x, ds, NULL));
    memcpy(gthr, spk_neuron_grad(nr, SPK_NP_THR), N * 4);
    free(states); free(u); free(x); free(ds);
    spk_neuron_free(nr);
}

static void test_threads(void) {
    const size_t n = 15 * 4 * 777;
    float *s1 = malloc(n * 4), *s2 = malloc(n * 4), *d1 = malloc(n * 4), *d2 = malloc(n * 4), g1[777], g2[777];
    run_noisy(1, s1, g1, d1);
    run_noisy(2, s2, g2, d2);
    long nsp = 0;
    for (size_t k = 0; k < n; k++) nsp += s1[k] > 0;
    CHECK(nsp > 1000 && nsp < (long)n - 1000);
    CHECK_MSG(memcmp(s1, s2, n * 4) == 0, "spikes differ between 1 and 2 threads");
    CHECK_MSG(memcmp(d1, d2, n * 4) == 0, "input gradients differ between 1 and 2 threads");
    CHECK_MSG(memcmp(g1, g2, sizeof g1) == 0, "threshold gradients differ between 1 and 2 threads");
    free(s1); free(s2); free(d1); free(d2);
}

int main(void) {
    test_surrogates_fd();
    test_rates();
    test_replicas();
    test_threads();
    return tu_finish("test_neuron_stochastic");
}
