/* bench_attention.c — `spk bench attention`: the spiking self-attention op (docs/attention.md)
 * on the example's shape (D = 32 channels, N = 49 tokens, 2 heads, T x B = 4 x 64 rows of
 * spikes at density 0.2): forward + backward of the fast path (per-head GEMMs, (v k^T) q),
 * of the plain reference, and of PyTorch's Spikformer formulation ((q k^T) v * scale with
 * autograd, /usr/bin/python3 or SPK_PYTHON) as the peer, measured in the same run, on the
 * same number of threads. One human line per form and one JSON line. Without torch the peer
 * fields are left out. Nothing here is asserted: it measures. */
#define _POSIX_C_SOURCE 200809L /* popen */
#include "cli.h"
#include "ops/ops.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* median ms of `reps` forward + backward calls (after one warm-up) */
static double time_op(int ref, float *y, float *dx, const float *x, const spk_attn_geom *g, int M, int B, int reps) {
    double *t = malloc((size_t)(reps + 1) * sizeof(double)), med;
    for (int r = 0; r <= reps; r++) {
        double t0 = cli_now();
        if (ref) {
            spk_op_attention_forward_ref(y, x, g, M, (spk_rng){1, 1}, (uint64_t)r, 0, B);
            spk_op_attention_backward_ref(dx, y, x, g, M);
        } else {
            spk_op_attention_forward(y, x, g, M, (spk_rng){1, 1}, (uint64_t)r, 0, B);
            spk_op_attention_backward(dx, y, x, g, M);
        }
        t[r] = (cli_now() - t0) * 1e3;
    }
    qsort(t + 1, (size_t)reps, sizeof *t, cmp_d);
    med = t[1 + reps / 2];
    free(t);
    return med;
}

/* PyTorch's Spikformer attention, forward + backward, median ms of both orders ((q k^T) v as
 * Spikformer writes it, q (k^T v) as spk computes it) into ms[2]; -1 when it did not run */
static int torch_peer(int D, int N, int H, int M, int reps, int threads, double ms[2]) {
    const char *py = getenv("SPK_PYTHON");
    char cmd[4096];
    snprintf(cmd, sizeof cmd,
             "%s -c \"\n"
             "import time, torch\n"
             "torch.set_num_threads(%d)\n"
             "D, N, H, M, reps = %d, %d, %d, %d, %d\n"
             "d = D // H\n"
             "g = torch.Generator().manual_seed(0)\n"
             "q, k, v = [(torch.rand(M, H, N, d, generator=g) < 0.2).float().requires_grad_() for _ in range(3)]\n"
             "dy = torch.rand(M, H, N, d, generator=g)\n"
             "for order in (0, 1):\n"
             "    ts = []\n"
             "    for r in range(reps + 1):\n"
             "        t0 = time.perf_counter()\n"
             "        y = ((q @ k.transpose(-2, -1)) @ v if order == 0 else q @ (k.transpose(-2, -1) @ v)) * 0.125\n"
             "        y.backward(dy)\n"
             "        ts.append((time.perf_counter() - t0) * 1e3)\n"
             "    ts = sorted(ts[1:])\n"
             "    print(ts[len(ts) // 2])\n"
             "\" 2>/dev/null",
             py ? py : "/usr/bin/python3", threads, D, N, H, M, reps);
    FILE *p = popen(cmd, "r");
    if (!p) return -1;
    int ok = fscanf(p, "%lf %lf", &ms[0], &ms[1]) == 2;
    if (pclose(p) != 0) ok = 0;
    return ok ? 0 : -1;
}

int bench_attention(int argc, char **argv) {
    long D = 32, N = 49, H = 2, T = 4, B = 64, reps = 20, quick = 0, peer = 1;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help")) {
            printf("usage: spk bench attention [--channels D] [--tokens N] [--heads H] [--steps T] [--batch B] [--reps R] [--quick] [--no-peer]\n");
            return 0;
        } else if (!strcmp(a, "--channels")) {
            if (cli_int(a, val, 1, 4096, &D)) return 2;
            i++;
        } else if (!strcmp(a, "--tokens")) {
            if (cli_int(a, val, 1, 4096, &N)) return 2;
            i++;
        } else if (!strcmp(a, "--heads")) {
            if (cli_int(a, val, 1, 4096, &H)) return 2;
            i++;
        } else if (!strcmp(a, "--steps")) {
            if (cli_int(a, val, 1, 10000, &T)) return 2;
            i++;
        } else if (!strcmp(a, "--batch")) {
            if (cli_int(a, val, 1, 100000, &B)) return 2;
            i++;
        } else if (!strcmp(a, "--reps")) {
            if (cli_int(a, val, 1, 100000, &reps)) return 2;
            i++;
        } else if (!strcmp(a, "--quick")) {
            quick = 1;
        } else if (!strcmp(a, "--no-peer")) {
            peer = 0;
        } else {
            cli_error("bench attention: unknown option '%s'", a);
            return 2;
        }
    }
    if (D % H) {
        cli_error("bench attention: --heads %ld must divide --channels %ld", H, D);
        return 2;
    }
    if (quick) T = 1, B = 8, reps = 3;
    const int M = (int)(T * B);
    const size_t nx = (size_t)M * 3 * D * N, ny = (size_t)M * D * N;
    float *x = malloc(nx * sizeof(float)), *y = malloc(ny * sizeof(float)), *dx = calloc(nx, sizeof(float));
    if (!x || !y || !dx) {
        cli_error("bench attention: out of memory");
        return 1;
    }
    for (size_t i = 0; i < nx; i++) x[i] = spk_rng_uniform((spk_rng){5, 0}, 0, i, 0) < 0.2f ? 1.0f : 0.0f;
    int threads = spk_get_threads();
    double ms[2][2], tms[2] = {-1, -1};
    int have_peer = peer && torch_peer((int)D, (int)N, (int)H, M, (int)reps, threads, tms) == 0;
    for (int s = 0; s < 2; s++) {
        spk_attn_geom g = {(int)D, (int)N, (int)H, 0.125f, s};
        ms[s][0] = time_op(0, y, dx, x, &g, M, (int)B, (int)reps);
        ms[s][1] = time_op(1, y, dx, x, &g, M, (int)B, quick ? 1 : 3);
        printf("attention %-10s D=%ld N=%ld heads=%ld rows=%d, forward+backward: fast %.2f ms, reference %.2f ms (%.1fx)", s ? "stochastic" : "spikformer",
               D, N, H, M, ms[s][0], ms[s][1], ms[s][1] / ms[s][0]);
        if (!s && have_peer)
            printf(", PyTorch (q k^T) v %.2f ms (spk %.2fx its speed), PyTorch q (k^T v) %.2f ms (spk %.2fx)", tms[0], tms[0] / ms[s][0], tms[1],
                   tms[1] / ms[s][0]);
        printf("\n");
    }
    printf("{\"workload\": \"attention\", \"D\": %ld, \"N\": %ld, \"heads\": %ld, \"rows\": %d, \"threads\": %d, \"spikformer_ms\": %.3f, "
           "\"spikformer_ref_ms\": %.3f, \"stochastic_ms\": %.3f, \"stochastic_ref_ms\": %.3f",
           D, N, H, M, threads, ms[0][0], ms[0][1], ms[1][0], ms[1][1]);
    if (have_peer)
        printf(", \"torch_qk_v_ms\": %.3f, \"torch_q_kv_ms\": %.3f, \"speed_vs_torch_qk_v\": %.3f, \"speed_vs_torch_q_kv\": %.3f", tms[0], tms[1],
               tms[0] / ms[0][0], tms[1] / ms[0][0]);
    printf("}\n");
    free(x), free(y), free(dx);
    return 0;
}
