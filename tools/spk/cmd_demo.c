/* cmd_demo.c — `spk demo`: drive one neuron of each main mode of the generalized neuron
 * with the same input and print its spike raster, so a user sees what each firing, reset
 * and timing choice does. It also measures the firing rate of a noisy population against
 * the firing probability it should have. */
#include "cli.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct demo_case {
    const char *label;
    spk_neuron_config cfg;
} demo_case;

static int run_case(const demo_case *dc, int T, const float *xr, const float *xi) {
    spk_neuron *nr;
    if (spk_neuron_create(&nr, &dc->cfg, 1) != SPK_OK) {
        cli_error("demo '%s': %s", dc->label, spk_errmsg(NULL));
        return -1;
    }
    float *state = calloc(spk_neuron_state_size(nr, 1), sizeof(float));
    char *row = malloc((size_t)T + 1);
    if (!state || !row) { cli_error("out of memory"); return -1; }
    int spikes = 0;
    float u = 0, s = 0, si = 0;
    for (int t = 0; t < T; t++) {
        spk_status st = spk_neuron_step(nr, 1, t, state, &u, &s, &xr[t], xi ? &xi[t] : NULL, &si);
        if (st) { cli_error("demo '%s': %s", dc->label, spk_errmsg(nr)); return -1; }
        float n = dc->cfg.kind == SPK_NEURON_COMPLEX ? state[spk_neuron_slot_offset(nr, SPK_SLOT_S)] : s;
        spikes += (int)n;
        row[t] = n == 0 ? '.' : n == 1 ? '|' : n < 10 ? (char)('0' + (int)n) : '+';
    }
    row[T] = '\0';
    printf("  %-38s %s %3d\n", dc->label, row, spikes);
    free(row);
    free(state);
    spk_neuron_free(nr);
    return 0;
}

int cmd_demo(int argc, char **argv) {
    long T = 60, seed = 1;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help")) {
            printf("usage: spk demo [--steps T] [--seed S]\n"
                   "Simulates one neuron per mode of the generalized neuron on the same input and\n"
                   "prints its raster ('|' a spike, a digit a graded spike count), then checks a\n"
                   "noisy population's firing rate against its firing probability.\n");
            return 0;
        } else if (!strcmp(argv[i], "--steps")) {
            if (cli_int("--steps", i + 1 < argc ? argv[i + 1] : NULL, 1, 400, &T)) return 2;
            i++;
        } else if (!strcmp(argv[i], "--seed")) {
            if (cli_int("--seed", i + 1 < argc ? argv[i + 1] : NULL, 0, 0x7fffffffL, &seed)) return 2;
            i++;
        } else {
            cli_error("demo: unknown option '%s'", argv[i]);
            return 2;
        }
    }
    float *x = calloc((size_t)T, sizeof(float)), *xi = calloc((size_t)T, sizeof(float));
    if (!x || !xi) { cli_error("out of memory"); return 1; }
    /* a step of current that rises halfway through */
    for (int t = 0; t < T; t++) x[t] = t < T / 2 ? 0.25f : 0.45f;

    demo_case cases[10];
    int nc = 0;
    spk_neuron_config c = spk_neuron_config_default();
    cases[nc++] = (demo_case){"LIF soft reset, delayed (snnTorch)", c};
    c.reset = SPK_RESET_HARD;
    cases[nc++] = (demo_case){"LIF hard reset to 0", c};
    c.timing = SPK_TIMING_SAME_STEP;
    cases[nc++] = (demo_case){"LIF hard reset, same step", c};
    c = spk_neuron_config_default();
    c.reset = SPK_RESET_REFRACTORY; c.v_reset = -0.5f; c.ref_steps = 3; c.timing = SPK_TIMING_SAME_STEP;
    cases[nc++] = (demo_case){"refractory: -0.5 undershoot, 3 steps", c};
    c = spk_neuron_config_default();
    c.kind = SPK_NEURON_ALIF;
    c.adapt_beta = 0.5f;
    cases[nc++] = (demo_case){"adaptive threshold (ALIF)", c};
    c = spk_neuron_config_default();
    c.kind = SPK_NEURON_CUBA;
    c.alpha = 0.5f;
    cases[nc++] = (demo_case){"CuBa: synaptic current, alpha 0.5", c};
    c = spk_neuron_config_default();
    c.fire = SPK_FIRE_GAUSS; c.sigma = 0.3f; c.rng.seed = (uint64_t)seed;
    cases[nc++] = (demo_case){"Gaussian threshold noise 0.3", c};
    c = spk_neuron_config_default();
    c.fire = SPK_FIRE_GRADED; c.thr = 0.2f; c.lam = 0.95f;
    cases[nc++] = (demo_case){"graded spikes, thr 0.2, lam 0.95", c};
    c = spk_neuron_config_default();
    c.kind = SPK_NEURON_COMPLEX; c.timing = SPK_TIMING_SAME_STEP; c.reset = SPK_RESET_HARD;
    c.omega = 0.5f; c.tau_m = 10.0f;
    cases[nc++] = (demo_case){"resonate-and-fire, omega 0.5", c};

    printf("spk %s: the generalized neuron, %ld steps, input 0.25 then 0.45\n", spk_version(), T);
    printf("  %-38s %-*s %3s\n", "mode", (int)T, "raster", "n");
    for (int k = 0; k < nc; k++) {
        /* the resonator gets an oscillating input at its own frequency */
        if (cases[k].cfg.kind == SPK_NEURON_COMPLEX) {
            float *xo = calloc((size_t)T, sizeof(float));
            if (!xo) return 1;
            for (int t = 0; t < T; t++) xo[t] = 0.2f * cosf(0.5f * (float)t);
            int rc = run_case(&cases[k], (int)T, xo, xi);
            free(xo);
            if (rc) return 1;
        } else if (run_case(&cases[k], (int)T, x, NULL)) {
            return 1;
        }
    }

    /* a noisy population: its empirical rate against p_spike at a fixed potential */
    const int N = 20000;
    spk_neuron_config nc_cfg = spk_neuron_config_default();
    nc_cfg.fire = SPK_FIRE_CAUCHY; nc_cfg.sigma = 0.2f; nc_cfg.lam = 0.0f; nc_cfg.reset = SPK_RESET_NONE;
    nc_cfg.rng.seed = (uint64_t)seed;
    spk_neuron *pop;
    if (spk_neuron_create(&pop, &nc_cfg, N) != SPK_OK) { cli_error("%s", spk_errmsg(NULL)); return 1; }
    float *st = calloc(spk_neuron_state_size(pop, 1), sizeof(float));
    float *xin = malloc(N * sizeof(float)), *sp = malloc(N * sizeof(float));
    if (!st || !xin || !sp) return 1;
    for (int i = 0; i < N; i++) xin[i] = 1.1f;
    long count = 0;
    for (int t = 0; t < 10; t++) {
        spk_neuron_step(pop, 1, t, st, NULL, sp, xin, NULL, NULL);
        for (int i = 0; i < N; i++) count += sp[i] > 0;
    }
    double rate = (double)count / (10.0 * N), p = spk_neuron_p_spike(pop, 0, 1.1, 1);
    printf("\nCauchy-noise population (N=%d, u=1.1, thr 1, sigma 0.2): rate %.4f, p_spike %.4f, "
           "difference %.1f sigma\n", N, rate, p, fabs(rate - p) / sqrt(p * (1 - p) / (10.0 * N)));
    free(st); free(xin); free(sp);
    spk_neuron_free(pop);
    free(x); free(xi);
    return 0;
}
