/* cmd_bench.c — `spk bench WORKLOAD`: benchmarks that print one human line and one JSON
 * line. Speed is reported next to a bound measured in the same run, never asserted.
 *   neuron   fused LIF step on [B, N] (default 128 x 4096): neuron updates per second,
 *            beside the memory-bandwidth bound of a plain streaming copy of the same bytes. */
#include "cli.h"

#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* A streaming copy of `bytes` from src to dst, split over the threads like the step. */
static void stream_copy(char *dst, const char *src, size_t bytes) {
    int nt = spk_get_threads();
#pragma omp parallel for schedule(static) num_threads(nt)
    for (int k = 0; k < nt; k++) {
        size_t lo = bytes * (size_t)k / (size_t)nt, hi = bytes * (size_t)(k + 1) / (size_t)nt;
        memcpy(dst + lo, src + lo, hi - lo);
    }
}

static int bench_neuron(int argc, char **argv) {
    long B = 128, N = 4096, reps = 200, quick = 0;
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--help")) {
            printf("usage: spk bench neuron [--batch B] [--neurons N] [--reps R] [--quick]\n");
            return 0;
        } else if (!strcmp(argv[i], "--batch")) {
            if (cli_int("--batch", i + 1 < argc ? argv[i + 1] : NULL, 1, 1 << 20, &B)) return 2;
            i++;
        } else if (!strcmp(argv[i], "--neurons")) {
            if (cli_int("--neurons", i + 1 < argc ? argv[i + 1] : NULL, 1, 1 << 24, &N)) return 2;
            i++;
        } else if (!strcmp(argv[i], "--reps")) {
            if (cli_int("--reps", i + 1 < argc ? argv[i + 1] : NULL, 3, 1000000, &reps)) return 2;
            i++;
        } else if (!strcmp(argv[i], "--quick")) {
            quick = 1;
        } else {
            cli_error("bench neuron: unknown option '%s'", argv[i]);
            return 2;
        }
    }
    if (quick) reps = 10;
    spk_neuron_config cfg = spk_neuron_config_default(); /* LIF, soft, delayed: snnTorch Leaky */
    spk_neuron *nr;
    if (spk_neuron_create(&nr, &cfg, (int)N) != SPK_OK) { cli_error("%s", spk_errmsg(NULL)); return 1; }
    size_t BN = (size_t)B * (size_t)N;
    float *x = malloc(BN * sizeof(float));
    float *state = calloc(spk_neuron_state_size(nr, (int)B), sizeof(float));
    float *s = malloc(BN * sizeof(float));
    /* the step reads x, v, s_prev and writes v, s_prev, s: 6 floats per update */
    const size_t bytes_per_update = 6 * sizeof(float);
    size_t copy_bytes = BN * 3 * sizeof(float); /* copy reads 3 and writes 3 floats per update */
    char *src = malloc(copy_bytes), *dst = malloc(copy_bytes);
    double *t_step = malloc((size_t)reps * sizeof(double)), *t_copy = malloc((size_t)reps * sizeof(double));
    if (!x || !state || !s || !src || !dst || !t_step || !t_copy) { cli_error("out of memory"); return 1; }
    for (size_t k = 0; k < BN; k++) x[k] = (float)((k * 2654435761u) % 1000) * 0.0003f;
    memset(src, 1, copy_bytes);
    memset(dst, 0, copy_bytes);
    long spikes = 0;
    for (int w = 0; w < 3; w++) { /* warm up both */
        spk_neuron_step(nr, (int)B, w, state, NULL, s, x, NULL, NULL);
        stream_copy(dst, src, copy_bytes);
    }
    for (long r = 0; r < reps; r++) {
        double t0 = cli_now();
        spk_neuron_step(nr, (int)B, r, state, NULL, s, x, NULL, NULL);
        double t1 = cli_now();
        stream_copy(dst, src, copy_bytes);
        double t2 = cli_now();
        t_step[r] = t1 - t0;
        t_copy[r] = t2 - t1;
        spikes += s[r % BN] > 0;
    }
    double ms = median(t_step, (int)reps), mc = median(t_copy, (int)reps);
    double ups = (double)BN / ms, bound = (double)BN / mc;
    double gbs = (double)BN * (double)bytes_per_update / ms * 1e-9, cgbs = 2.0 * (double)copy_bytes / mc * 1e-9;
    printf("neuron: fused LIF step [B=%ld, N=%ld], %d threads: %.3g updates/s (%.2f ns/update, %.1f GB/s); "
           "streaming copy of the same bytes: %.1f GB/s -> bound %.3g updates/s; %.0f%% of the bound\n",
           B, N, spk_get_threads(), ups, 1e9 / ups, gbs, cgbs, bound, 100.0 * ups / bound);
    printf("{\"workload\": \"neuron\", \"batch\": %ld, \"neurons\": %ld, \"threads\": %d, \"reps\": %ld, "
           "\"ms_per_step_median\": %.6f, \"updates_per_s\": %.6g, \"gbytes_per_s\": %.4g, "
           "\"copy_gbytes_per_s\": %.4g, \"bound_updates_per_s\": %.6g, \"fraction_of_bound\": %.4f, "
           "\"checksum_spikes\": %ld}\n",
           B, N, spk_get_threads(), reps, ms * 1e3, ups, gbs, cgbs, bound, ups / bound, spikes);
    free(x); free(state); free(s); free(src); free(dst); free(t_step); free(t_copy);
    spk_neuron_free(nr);
    return 0;
}

int cmd_bench(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "--help")) {
        printf("usage: spk bench WORKLOAD [options]\nworkloads:\n  neuron   fused LIF step vs memory bandwidth\n");
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "neuron")) return bench_neuron(argc, argv);
    cli_error("bench: unknown workload '%s' (available: neuron)", argv[1]);
    return 2;
}
