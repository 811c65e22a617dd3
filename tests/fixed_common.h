/* fixed_common.h — pieces shared by test_fixed.c (host C) and test_fixed_arm.c (Cortex-M
 * under qemu): small networks built through the API, inputs, the samples header that the
 * generated code's harness includes, and reading a run's printed outputs back. */
#ifndef SPK_FIXED_COMMON_H
#define SPK_FIXED_COMMON_H

#include "testutil.h"

#include <stdarg.h>
#include <string.h>

/* Run a shell command built like printf; returns its exit status (-1 when it did not run). */
static int fx_sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int fx_sh(const char *fmt, ...) {
    char cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    int rc = system(cmd);
    return rc == -1 ? -1 : (rc & 0x7f) ? -1 : (rc >> 8) & 0xff;
}

/* A chain input[I] -> flatten -> dense[H] -> hidden population -> dropout -> dense[O] ->
 * readout. `variant` picks the populations:
 *   0: LIF soft reset, delayed timing (snnTorch's Leaky), beta 0.875; readout never fires
 *   1: LIF hard reset, same-step timing, beta 0.8, threshold 0.7; readout fires (soft)
 *   2: LIF hard_all reset, delayed, beta 0.95, gain 1.5, v_reset -0.2; readout no reset, fires
 * Weights from the build's uniform init times `wscale` (so that neurons spike). */
static spk_net *fx_make_net(int variant, int I, int H, int O, float wscale, int *readout) {
    spk_net *net;
    if (spk_net_create(&net)) return NULL;
    int in, fl, d1, p1, dr, d2, p2, dims[1] = {I};
    spk_neuron_config a = spk_neuron_config_default(), b = spk_neuron_config_default();
    if (variant == 0) {
        a.lam = 0.875f; /* a decay the 12-bit multiplier holds exactly */
        b.fire = SPK_FIRE_NONE;
        b.reset = SPK_RESET_NONE;
    } else if (variant == 1) {
        a.reset = SPK_RESET_HARD;
        a.timing = SPK_TIMING_SAME_STEP;
        a.lam = 0.8f;
        a.thr = 0.7f;
        b.timing = SPK_TIMING_SAME_STEP;
    } else {
        a.reset = SPK_RESET_HARD_ALL;
        a.lam = 0.95f;
        a.gain = 1.5f;
        a.v_reset = -0.2f;
        b.reset = SPK_RESET_NONE;
    }
    int ok = !spk_net_add_input(net, "in", 1, dims, &in) && !spk_net_add_flatten(net, "flat", &fl) && !spk_net_add_dense(net, "fc1", I, H, 1, &d1) &&
             !spk_net_add_neuron(net, "hid", &a, 1, &H, &p1) && !spk_net_add_dropout(net, "drop", 0.2f, &dr) &&
             !spk_net_add_dense(net, "fc2", H, O, 1, &d2) && !spk_net_add_neuron(net, "out", &b, 1, &O, &p2) && !spk_net_connect(net, in, fl) &&
             !spk_net_connect(net, fl, d1) && !spk_net_connect(net, d1, p1) && !spk_net_connect(net, p1, dr) && !spk_net_connect(net, dr, d2) &&
             !spk_net_connect(net, d2, p2) && !spk_net_build(net, (spk_rng){7 + (uint64_t)variant, 0});
    if (!ok) {
        fprintf(stderr, "fx_make_net: %s\n", spk_errmsg(net));
        spk_net_free(net);
        return NULL;
    }
    size_t n;
    float *w = spk_net_params(net, &n);
    for (size_t k = 0; k < n; k++) w[k] *= wscale;
    spk_net_params_changed(net);
    *readout = p2;
    return net;
}

/* x [T, B, I]: values in [0, 1] on a 1/255 grid, about a third of them 0, the same at
 * every step when `static_in` (a direct-coded image), else drawn per step. */
static void fx_inputs(float *x, int T, int B, int I, int static_in, uint64_t seed) {
    spk_rng r = {seed, 3};
    for (int t = 0; t < T; t++)
        for (int b = 0; b < B; b++)
            for (int i = 0; i < I; i++) {
                uint64_t tt = static_in ? 0 : (uint64_t)t;
                float u = spk_rng_uniform(r, tt, (uint64_t)b * 100000 + (uint64_t)i, 0);
                float v = spk_rng_uniform(r, tt, (uint64_t)b * 100000 + (uint64_t)i, 1);
                x[((size_t)t * B + b) * I + i] = u < 0.33f ? 0.0f : fminf(floorf(v * 256.0f), 255.0f) / 255.0f;
            }
}

/* Write "samples.h" for the harness: NET_SAMPLES, NET_STEPS and the quantized inputs in
 * sample-major order [B][T][I]; xq receives the same. */
static int fx_write_samples(const char *path, const spk_qmodel *q, const float *x, int T, int B, int16_t *xq) {
    const int I = spk_qmodel_input_size(q);
    float *row = malloc(sizeof(float) * (size_t)I);
    FILE *f = fopen(path, "w");
    if (!f || !row) {
        free(row);
        if (f) fclose(f);
        return -1;
    }
    fprintf(f, "#define NET_SAMPLES %d\n#define NET_STEPS %d\nstatic const int16_t net_samples[%zu] = {", B, T, (size_t)B * T * I);
    size_t k = 0;
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) {
            memcpy(row, x + ((size_t)t * B + b) * I, sizeof(float) * (size_t)I);
            spk_qmodel_quantize_input(q, row, (size_t)I, xq + k);
            for (int i = 0; i < I; i++, k++) fprintf(f, "%s%d", k ? (k % 20 ? "," : ",\n    ") : "\n    ", xq[k]);
        }
    fprintf(f, "\n};\n");
    free(row);
    return fclose(f) ? -1 : 0;
}

/* The fixed-point engine's outputs for the samples: out [B][T][O]. */
static void fx_expected(const spk_qmodel *q, const int16_t *xq, int T, int B, int32_t *out) {
    spk_fixed *fx;
    if (spk_fixed_create(&fx, q)) return;
    const int I = spk_qmodel_input_size(q), O = spk_qmodel_output_size(q);
    for (int b = 0; b < B; b++) spk_fixed_run(fx, T, xq + (size_t)b * T * I, out + (size_t)b * T * O);
    spk_fixed_free(fx);
}

/* Read whitespace-separated integers after a line "BEGIN" until "END"; returns the count. */
static long fx_read_ints(const char *path, int32_t *v, long max) {
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    char line[256];
    long n = 0;
    int in = 0;
    while (fgets(line, sizeof line, f)) {
        if (!strncmp(line, "BEGIN", 5)) { in = 1; continue; }
        if (!strncmp(line, "END", 3)) break;
        if (!in) continue;
        char *p = line, *end;
        for (;;) {
            long x = strtol(p, &end, 10);
            if (end == p) break;
            if (n < max) v[n] = (int32_t)x;
            n++;
            p = end;
        }
    }
    fclose(f);
    return n;
}

#endif
