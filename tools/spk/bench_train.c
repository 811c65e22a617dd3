/* bench_train.c — `spk bench mlp | rec | conv | obench`: the training workloads of
 * shared/peers/snntorch_bench.py (same shapes, neuron parameters, losses, optimizers, batch
 * sizes, steps and data), timed beside snnTorch run as a child process in the same run.
 *
 * Each workload: one warm-up batch, then `--batches` timed batches (median and min ms per
 * batch). Afterwards the same batches are run again from the same initial parameters on the
 * reference path (spk_net_set_reference: step by step, plain kernels). The first batch's
 * losses (same parameters, one computation) must agree to float reassociation; the final
 * losses are printed too, though over training steps a spike flipped by rounding can make
 * the two runs drift apart (a few per cent after 11 steps of the rec workload). */
#define _DEFAULT_SOURCE /* getloadavg, popen */
#include "cli.h"

#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum { W_MLP, W_REC, W_CONV, W_OBENCH } wkind;

typedef struct workload {
    wkind kind;
    const char *name, *what;
    int T, B;
    int readout;
    spk_net *net;
    spk_trainer *tr;     /* NULL for obench (no optimizer)                               */
    spk_dataset fm;      /* Fashion-MNIST train split (mlp, conv)                        */
    float *x;            /* one batch [T, B, in]                                         */
    float *seed;         /* obench: dL/dspikes = 1                                       */
    int32_t labels[128];
    size_t in_numel;
    double flops;        /* dense multiply-adds x 2 per batch (forward + backward)       */
} workload;

static int fail_net(spk_net *net, const char *what) {
    cli_error("bench: building the %s network: %s", what, spk_errmsg(net));
    spk_net_free(net);
    return -1;
}

static spk_neuron_config lif(float beta, spk_reset_kind reset) {
    spk_neuron_config c = spk_neuron_config_default(); /* snnTorch Leaky: soft reset, atan(2) surrogate */
    c.lam = beta;
    c.reset = reset;
    return c;
}

/* Build workload w's network into w->net (initialised from seed 0). */
static int build(workload *w) {
    spk_net *net = NULL;
    int in, a, b, c, d, e, f, g, h;
    if (spk_net_create(&net)) return fail_net(net, w->name);
    switch (w->kind) {
    case W_MLP: {
        spk_neuron_config n = lif(0.95f, SPK_RESET_SOFT);
        if (spk_net_add_input(net, "in", 1, (int[]){784}, &in) || spk_net_add_dense(net, "fc1", 784, 1000, 1, &a) ||
            spk_net_add_neuron(net, "lif1", &n, 1, (int[]){1000}, &b) || spk_net_add_dense(net, "fc2", 1000, 10, 1, &c) ||
            spk_net_add_neuron(net, "lif2", &n, 1, (int[]){10}, &d) || spk_net_connect(net, in, a) ||
            spk_net_connect(net, a, b) || spk_net_connect(net, b, c) || spk_net_connect(net, c, d))
            return fail_net(net, w->name);
        w->readout = d;
        w->flops = 3.0 * 2.0 * w->T * w->B * (784.0 * 1000 + 1000.0 * 10);
        break;
    }
    case W_REC: {
        spk_neuron_config n = lif(0.9f, SPK_RESET_SOFT), ro = lif(0.9f, SPK_RESET_NONE);
        if (spk_net_add_input(net, "in", 1, (int[]){700}, &in) || spk_net_add_dense(net, "fc1", 700, 256, 1, &a) ||
            spk_net_add_neuron(net, "r", &n, 1, (int[]){256}, &b) || spk_net_add_dense(net, "r.recurrent", 256, 256, 1, &c) ||
            spk_net_add_dense(net, "fc2", 256, 20, 1, &d) || spk_net_add_neuron(net, "out", &ro, 1, (int[]){20}, &e) ||
            spk_net_connect(net, in, a) || spk_net_connect(net, a, b) || spk_net_connect(net, b, c) ||
            spk_net_connect(net, c, b) || spk_net_connect(net, b, d) || spk_net_connect(net, d, e))
            return fail_net(net, w->name);
        w->readout = e;
        w->flops = 3.0 * 2.0 * w->T * w->B * (700.0 * 256 + 256.0 * 256 + 256.0 * 20);
        break;
    }
    case W_CONV: {
        spk_neuron_config n = lif(0.5f, SPK_RESET_SOFT);
        if (spk_net_add_input(net, "in", 3, (int[]){1, 28, 28}, &in) ||
            spk_net_add_conv(net, "c1", 2, 1, 12, (int[]){5, 5}, NULL, NULL, NULL, 1, 1, &a) ||
            spk_net_add_pool(net, "p1", 2, 2, (int[]){2, 2}, NULL, NULL, &b) ||
            spk_net_add_neuron(net, "l1", &n, 3, (int[]){12, 12, 12}, &c) ||
            spk_net_add_conv(net, "c2", 2, 12, 64, (int[]){5, 5}, NULL, NULL, NULL, 1, 1, &d) ||
            spk_net_add_pool(net, "p2", 2, 2, (int[]){2, 2}, NULL, NULL, &e) ||
            spk_net_add_neuron(net, "l2", &n, 3, (int[]){64, 4, 4}, &f) || spk_net_add_flatten(net, "flat", &g) ||
            spk_net_add_dense(net, "fc", 1024, 10, 1, &h))
            return fail_net(net, w->name);
        int l3;
        if (spk_net_add_neuron(net, "l3", &n, 1, (int[]){10}, &l3) || spk_net_connect(net, in, a) ||
            spk_net_connect(net, a, b) || spk_net_connect(net, b, c) || spk_net_connect(net, c, d) ||
            spk_net_connect(net, d, e) || spk_net_connect(net, e, f) || spk_net_connect(net, f, g) ||
            spk_net_connect(net, g, h) || spk_net_connect(net, h, l3))
            return fail_net(net, w->name);
        w->readout = l3;
        /* conv1 24x24x12 outputs x 25 taps, conv2 8x8x64 x 300 taps, fc 1024x10 */
        w->flops = 3.0 * 2.0 * w->T * w->B * (24.0 * 24 * 12 * 25 + 8.0 * 8 * 64 * 300 + 1024.0 * 10);
        break;
    }
    case W_OBENCH: {
        spk_neuron_config n = lif(0.95f, SPK_RESET_SOFT);
        if (spk_net_add_input(net, "in", 1, (int[]){1024}, &in) || spk_net_add_dense(net, "lin", 1024, 1024, 1, &a) ||
            spk_net_add_neuron(net, "lif", &n, 1, (int[]){1024}, &b) || spk_net_connect(net, in, a) ||
            spk_net_connect(net, a, b))
            return fail_net(net, w->name);
        w->readout = b;
        /* forward x W^T and the weight gradient; no input gradient is needed */
        w->flops = 2.0 * 2.0 * w->T * w->B * 1024.0 * 1024;
        break;
    }
    }
    if (spk_net_build(net, (spk_rng){0, 0})) return fail_net(net, w->name);
    /* the image is given once and injected at every step, as the peer's x [B, 784] */
    spk_net_set_static_input(net, w->kind == W_MLP || w->kind == W_CONV);
    w->net = net;
    return 0;
}

static int setup(workload *w) {
    static const struct { const char *name, *what; int T, B; } tab[] = {
        {"mlp", "Fashion-MNIST 784-1000-10 LIF, T=25, B=128, Adam", 25, 128},
        {"rec", "700-256 recurrent-20, T=100, B=64, Adam", 100, 64},
        {"conv", "Fashion-MNIST 12C5-MP2-64C5-MP2-FC10, T=25, B=128, Adam", 25, 128},
        {"obench", "Linear 1024x1024 + LIF, T=500, B=16, forward + backward", 500, 16},
    };
    w->name = tab[w->kind].name;
    w->what = tab[w->kind].what;
    w->T = tab[w->kind].T;
    w->B = tab[w->kind].B;
    if (build(w)) return -1;
    int dims[SPK_MAX_DIMS], nd = spk_net_node_shape(w->net, 0, dims);
    w->in_numel = 1;
    for (int k = 0; k < nd; k++) w->in_numel *= (size_t)dims[k];
    w->x = malloc(sizeof(float) * w->T * w->B * w->in_numel);
    if (!w->x) { cli_error("bench: out of memory"); return -1; }
    if (w->kind == W_MLP || w->kind == W_CONV) {
        if (spk_dataset_fashion_mnist(&w->fm, NULL, NULL, 0, 0)) { cli_error("bench: %s", spk_errmsg(NULL)); return -1; }
    }
    if (w->kind == W_OBENCH) {
        size_t n = (size_t)w->T * w->B * 1024;
        w->seed = malloc(sizeof(float) * n);
        if (!w->seed) { cli_error("bench: out of memory"); return -1; }
        for (size_t k = 0; k < n; k++) w->seed[k] = 1.0f;
        for (size_t k = 0; k < n; k += 2) { /* randn input, fixed across batches as the peer's */
            float z[2];
            spk_rng_normal2((spk_rng){1, 0}, 0, k / 2, z);
            w->x[k] = z[0];
            if (k + 1 < n) w->x[k + 1] = z[1];
        }
    } else {
        spk_train_config tc = spk_train_config_default(w->readout);
        tc.optim = spk_optim_config_default(SPK_OPT_ADAM);
        tc.optim.lr = w->kind == W_MLP ? 5e-4f : 1e-3f;
        tc.sched.base_lr = tc.optim.lr;
        if (w->kind == W_MLP) { tc.loss = SPK_LOSS_CE_MEM; tc.mem_reduce = SPK_MEM_PER_STEP; }
        if (w->kind == W_REC) { tc.loss = SPK_LOSS_CE_MEM; tc.mem_reduce = SPK_MEM_SUM; }
        if (w->kind == W_CONV) tc.loss = SPK_LOSS_CE_COUNT;
        if (spk_trainer_create(&w->tr, w->net, &tc)) { cli_error("bench: %s", spk_errmsg(NULL)); return -1; }
    }
    return 0;
}

/* Fill batch i: Fashion-MNIST rows [i*B, (i+1)*B), one step the network injects at every
 * step (mlp, conv: spk_net_set_static_input), or Bernoulli(0.05) spikes and random labels
 * (rec). */
static void make_batch(workload *w, int i) {
    size_t F = w->in_numel, row = (size_t)w->B * F;
    if (w->kind == W_MLP || w->kind == W_CONV) {
        for (int b = 0; b < w->B; b++) {
            int s = (i * w->B + b) % w->fm.n;
            memcpy(w->x + (size_t)b * F, w->fm.x + (size_t)s * F, F * sizeof(float));
            w->labels[b] = w->fm.y[s];
        }
    } else if (w->kind == W_REC) {
        size_t n = (size_t)w->T * row;
        for (size_t k = 0; k < n; k += 4) {
            float u[4];
            spk_rng_uniform4((spk_rng){1, 0}, (uint64_t)i, k / 4, u);
            for (size_t j = 0; j < 4 && k + j < n; j++) w->x[k + j] = u[j] < 0.05f ? 1.0f : 0.0f;
        }
        for (int b = 0; b < w->B; b++) w->labels[b] = (int32_t)(spk_rng_uniform((spk_rng){1, 1}, (uint64_t)i, (uint64_t)b, 0) * 20);
    }
}

/* One batch (made with make_batch first): a training step, or (obench) forward + backward
 * of the sum of output spikes. */
static int run_batch(workload *w, double *loss) {
    if (w->tr) {
        if (spk_trainer_step(w->tr, w->T, w->B, w->x, w->labels, loss, NULL)) { cli_error("bench: %s", spk_errmsg(w->tr)); return -1; }
        return 0;
    }
    if (spk_net_forward(w->net, w->T, w->B, w->x)) { cli_error("bench: %s", spk_errmsg(w->net)); return -1; }
    const float *s = spk_net_signal(w->net, w->readout, SPK_SIGNAL_OUT);
    /* eight running sums: one chain of dependent double adds over 8M spikes took 9 ms */
    double part[8] = {0};
    const size_t n = (size_t)w->T * w->B * 1024;
    size_t k = 0;
    for (; k + 8 <= n; k += 8)
        for (int j = 0; j < 8; j++) part[j] += s[k + j];
    for (; k < n; k++) part[0] += s[k];
    *loss = ((part[0] + part[1]) + (part[2] + part[3])) + ((part[4] + part[5]) + (part[6] + part[7]));
    spk_net_zero_grad(w->net);
    if (spk_net_seed_grad(w->net, w->readout, SPK_SIGNAL_OUT, w->seed) || spk_net_backward(w->net)) {
        cli_error("bench: %s", spk_errmsg(w->net));
        return -1;
    }
    return 0;
}

static void release(workload *w) {
    spk_trainer_free(w->tr);
    spk_net_free(w->net);
    spk_dataset_free(&w->fm);
    free(w->x);
    free(w->seed);
    w->tr = NULL; w->net = NULL; w->x = w->seed = NULL;
}

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}


static double sgemm_gflops(void) {
    /* the dense ceiling on this machine, same run: 8000 x 1024 x 1024 */
    const int M = 8000, N = 1024, K = 1024;
    float *a = malloc(sizeof(float) * M * K), *b = malloc(sizeof(float) * K * N), *c = malloc(sizeof(float) * M * N);
    if (!a || !b || !c) { free(a); free(b); free(c); return 0; }
    for (size_t k = 0; k < (size_t)M * K; k++) a[k] = (float)(k % 7) * 0.1f;
    for (size_t k = 0; k < (size_t)K * N; k++) b[k] = (float)(k % 5) * 0.1f;
    double best = 1e30;
    for (int r = 0; r < 4; r++) {
        double t0 = cli_now();
        spk_sgemm(0, 1, M, N, K, 1.0f, a, K, b, K, 0.0f, c, N);
        double dt = cli_now() - t0;
        if (r && dt < best) best = dt;
    }
    free(a); free(b); free(c);
    return 2.0 * M * N * K / best * 1e-9;
}

static int bench_one(wkind kind, int batches, int peer, int check, int profile) {
    /* the peak RSS of this workload alone: counted from here (an earlier workload of `bench
     * train` had left its own peak in the process's); without the reset, the first one's is
     * still its own */
    static int runs = 0;
    const int first = runs++ == 0;
    const int own_peak = cli_peak_rss_reset() || first;
    workload w;
    memset(&w, 0, sizeof w);
    w.kind = kind;
    if (setup(&w)) { release(&w); return 1; }
    double *ms = malloc(sizeof(double) * (batches + 1)), loss = 0;
    if (!ms) { release(&w); return 1; }
    make_batch(&w, 0);
    if (run_batch(&w, &loss)) { release(&w); free(ms); return 1; } /* warm-up */
    const double loss0 = loss; /* the first batch: same parameters on both paths */
    spk_net_set_profiling(w.net, profile);
    for (int i = 1; i <= batches; i++) {
        make_batch(&w, i); /* data preparation is not timed (the peer makes its data up front) */
        double t0 = cli_now();
        if (run_batch(&w, &loss)) { release(&w); free(ms); return 1; }
        ms[i - 1] = (cli_now() - t0) * 1e3;
    }
    double rss = cli_peak_rss_mb();
    qsort(ms, (size_t)batches, sizeof(double), cmp_d);
    double med = batches % 2 ? ms[batches / 2] : 0.5 * (ms[batches / 2 - 1] + ms[batches / 2]), mn = ms[0];
    double gf = w.flops / (med * 1e-3) * 1e-9;
    if (profile) spk_net_profile_print(w.net, stderr);
    release(&w);
    free(ms);

    /* the reference path on the same batches, from the same initial parameters */
    double ref_loss = NAN, rel = NAN, ref_loss0 = NAN, rel0 = NAN;
    if (check) {
        workload r;
        memset(&r, 0, sizeof r);
        r.kind = kind;
        if (setup(&r)) { release(&r); return 1; }
        spk_net_set_reference(r.net, 1);
        for (int i = 0; i <= batches; i++) {
            make_batch(&r, i);
            if (run_batch(&r, &ref_loss)) { release(&r); return 1; }
            if (i == 0) ref_loss0 = ref_loss;
        }
        release(&r);
        rel = fabs(loss - ref_loss) / fmax(fabs(ref_loss), 1e-30);
        rel0 = fabs(loss0 - ref_loss0) / fmax(fabs(ref_loss0), 1e-30);
    }
    double peer_ms = 0, peer_loss = NAN, sg = 0;
    int have_peer = peer && cli_run_snntorch(w.name, batches, 0, &peer_ms, &peer_loss) == 0;
    if (kind == W_OBENCH) sg = sgemm_gflops();

    double la[1] = {0};
    int busy = getloadavg(la, 1) == 1 && la[0] > spk_get_threads() + 0.5;
    if (busy) /* spinning OpenMP threads lose most on a shared machine: say so */
        printf("note: the machine is busy (load average %.1f for %d threads); times are inflated, spk's more than "
               "the single-threaded peer's (OMP_WAIT_POLICY=PASSIVE helps on a shared machine)\n",
               la[0], spk_get_threads());
    printf("%s (%s): %.1f ms per batch (median of %d, min %.1f), %.1f GFLOP/s nominal dense, peak RSS %.0f MB%s, loss %.4f",
           w.name, w.what, med, batches, mn, gf, rss, own_peak ? "" : " (the process's, with the workloads before)", loss);
    /* (the OpenBLAS kernels in use: OPENBLAS_CORETYPE may hold them below what the CPU has) */
    if (kind == W_OBENCH) printf(" (%.0f%% of sgemm's %.1f GFLOP/s, OpenBLAS core %s)", 100.0 * gf / sg, sg, openblas_get_corename());
    /* the first batch compares one computation (only float reassociation may differ); the
     * last compares two training runs, in which a spike flipped by rounding can grow */
    if (check) printf("; reference path: first-batch loss rel. diff %.1e, after %d steps %.4f vs %.4f (rel. diff %.1e)", rel0,
                      batches + 1, loss, ref_loss, rel);
    if (have_peer) printf("; snnTorch %.1f ms: %.1fx", peer_ms, peer_ms / med);
    else if (peer) printf("; snnTorch not available (see shared/peers/README.md)");
    printf("\n{\"workload\": \"%s\", \"ms_per_batch_median\": %.2f, \"ms_per_batch_min\": %.2f, \"gflops\": %.2f, "
           "\"peak_rss_mb\": %.1f, \"batches\": %d, \"threads\": %d, \"load_avg\": %.2f, \"loss\": %.6g",
           w.name, med, mn, gf, rss, batches, spk_get_threads(), la[0], loss);
    if (!own_peak) printf(", \"peak_rss_scope\": \"process\"");
    if (kind == W_OBENCH) printf(", \"sgemm_gflops\": %.2f, \"of_sgemm\": %.3f, \"blas_core\": \"%s\"", sg, gf / sg, openblas_get_corename());
    if (check) printf(", \"first_loss\": %.8g, \"ref_first_loss\": %.8g, \"ref_first_rel_diff\": %.2e, \"ref_loss\": %.6g, \"ref_rel_diff\": %.2e",
                      loss0, ref_loss0, rel0, ref_loss, rel);
    if (have_peer) printf(", \"peer_ms_per_batch_median\": %.2f, \"peer_loss\": %.6g, \"ratio\": %.2f", peer_ms, peer_loss, peer_ms / med);
    printf("}\n");
    fflush(stdout);
    return 0;
}

int bench_train(int argc, char **argv) {
    static const char *names[] = {"mlp", "rec", "conv", "obench"};
    int kind = -1, all = !strcmp(argv[1], "train");
    for (int k = 0; k < 4; k++)
        if (!strcmp(argv[1], names[k])) kind = k;
    long batches = 10;
    int peer = 1, check = 1, profile = 0;
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--help")) {
            printf("usage: spk bench mlp|rec|conv|obench|train [--batches N] [--no-peer] [--no-check] [--profile]\n"
                   "Training workloads of shared/peers/snntorch_bench.py: ms per batch (median and min of N after one\n"
                   "warm-up, default 10), dense GFLOP/s, peak RSS; snnTorch in the same run (SPK_PEERS, SNNTORCH_DIR,\n"
                   "SPK_PYTHON); the final loss beside spk's reference path (--no-check skips it); --profile prints the\ntime per node to stderr. `train` runs all four.\n");
            return 0;
        } else if (!strcmp(argv[i], "--batches")) {
            if (cli_int("--batches", i + 1 < argc ? argv[i + 1] : NULL, 1, 1000, &batches)) return 2;
            i++;
        } else if (!strcmp(argv[i], "--no-peer")) {
            peer = 0;
        } else if (!strcmp(argv[i], "--no-check")) {
            check = 0;
        } else if (!strcmp(argv[i], "--profile")) {
            profile = 1;
        } else {
            cli_error("bench %s: unknown option '%s'", argv[1], argv[i]);
            return 2;
        }
    }
    if (all) {
        for (int k = 0; k < 4; k++)
            if (bench_one((wkind)k, (int)batches, peer, check, profile)) return 1;
        return 0;
    }
    return bench_one((wkind)kind, (int)batches, peer, check, profile);
}

/* `spk bench infer MODEL`: inference throughput of a trained model on its test set, at batch
 * 1 and batch 128 (forward and decoding only; the input encoding is made beforehand). */
int bench_infer(int argc, char **argv) {
    const char *file = NULL;
    long n1 = 1000;
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--help")) {
            printf("usage: spk bench infer MODEL [--samples N]\n"
                   "Inference throughput (samples per second) of a trained model on its test set at batch 1\n"
                   "(the first N samples, default 1000) and batch 128 (the whole test set), with its accuracy.\n");
            return 0;
        } else if (!strcmp(argv[i], "--samples")) {
            if (cli_int("--samples", i + 1 < argc ? argv[i + 1] : NULL, 1, 1000000, &n1)) return 2;
            i++;
        } else if (argv[i][0] == '-') {
            cli_error("bench infer: unknown option '%s'", argv[i]);
            return 2;
        } else {
            file = argv[i];
        }
    }
    if (!file) {
        cli_error("bench infer: no model given (train one with 'make run': runs/fashion_mlp_quick/model.spk)");
        return 2;
    }
    spk_experiment *e = NULL;
    spk_net *net = NULL;
    int readout, nd, dims[SPK_MAX_DIMS], T;
    spk_dataset train, test;
    memset(&train, 0, sizeof train);
    memset(&test, 0, sizeof test);
    if (spk_model_load(file, &e, &net, &readout, &nd, dims, NULL, NULL, NULL) || spk_experiment_load_data(e, &train, &test)) {
        cli_error("bench infer: %s", spk_errmsg(NULL));
        spk_experiment_free(e);
        spk_net_free(net);
        return 1;
    }
    int rc = 1;
    spk_trainer *tr = NULL;
    float *x = NULL;
    int32_t *idx = NULL, *pred = NULL;
    size_t in_size = 1;
    int dd[SPK_MAX_DIMS], nd2 = spk_experiment_input_shape(e, &test, dd, &T);
    for (int k = 0; k < nd2; k++) in_size *= (size_t)dd[k];
    spk_train_config tc = e->train;
    tc.output = readout;
    tc.sched.kind = SPK_SCHED_CONST;
    const int BB = 128, N = test.n;
    if (!nd2 || spk_trainer_create(&tr, net, &tc)) { cli_error("bench infer: %s", spk_errmsg(NULL)); goto done; }
    x = malloc(sizeof(float) * (size_t)T * BB * in_size);
    idx = malloc(sizeof(int32_t) * (size_t)BB);
    pred = malloc(sizeof(int32_t) * (size_t)BB);
    if (!x || !idx || !pred) { cli_error("bench infer: out of memory"); goto done; }
    double sps[2], acc[2];
    int counts[2] = {(int)(n1 < N ? n1 : N), N};
    /* an input the same at every step (an image as current) is given once, as `spk eval` does */
    const int one = spk_experiment_static_input(e, &test);
    spk_net_set_static_input(net, one);
    for (int pass = 0; pass < 2; pass++) {
        const int B = pass ? BB : 1, n = counts[pass];
        double t = 0;
        int correct = 0;
        for (int s = 0; s < n; s += B) {
            int b = n - s < B ? n - s : B, c = 0;
            for (int k = 0; k < b; k++) idx[k] = s + k;
            if (cli_encode(e, &test, idx, b, x, (uint64_t)s, 0, one)) {
                cli_error("bench infer: %s", spk_errmsg(NULL));
                goto done;
            }
            int32_t *lab = pred; /* labels in, predictions not needed */
            for (int k = 0; k < b; k++) lab[k] = test.y[s + k];
            double t0 = cli_now();
            if (spk_trainer_eval(tr, T, b, x, lab, NULL, &c, NULL)) { cli_error("bench infer: %s", spk_errmsg(tr)); goto done; }
            t += cli_now() - t0;
            correct += c;
        }
        sps[pass] = n / t;
        acc[pass] = 100.0 * correct / n;
    }
    printf("infer (%s, T=%d, %d threads): batch 1: %.0f samples/s (%d samples, accuracy %.2f%%); batch 128: %.0f samples/s "
           "(%d samples, accuracy %.2f%%)\n",
           file, T, spk_get_threads(), sps[0], counts[0], acc[0], sps[1], counts[1], acc[1]);
    printf("{\"workload\": \"infer\", \"T\": %d, \"threads\": %d, \"samples_per_s_batch1\": %.1f, \"samples_per_s_batch128\": %.1f, "
           "\"accuracy_batch1\": %.2f, \"accuracy_batch128\": %.2f}\n",
           T, spk_get_threads(), sps[0], sps[1], acc[0], acc[1]);
    rc = 0;
done:
    free(x);
    free(idx);
    free(pred);
    spk_trainer_free(tr);
    spk_dataset_free(&train);
    spk_dataset_free(&test);
    spk_net_free(net);
    spk_experiment_free(e);
    return rc;
}
