/* cmd_bench.c — `spk bench WORKLOAD`: benchmarks that print one human line and one JSON
 * line. Speed is reported next to a bound measured in the same run, never asserted.
 *   neuron   fused LIF step on [B, N] (default 128 x 4096): neuron updates per second,
 *            beside the memory-bandwidth bound of a plain streaming copy of the same bytes.
 *   memory   the `rec` training workload of shared/peers/snntorch_bench.py: activation
 *            memory BPTT keeps per time step, and the peak RSS of a training step beside
 *            snnTorch's peak RSS on the same workload, run as a child process in the same run. */
#include "cli.h"

#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

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

/* The `rec` workload: 700 Bernoulli(0.05) inputs -> dense 256 -> recurrent LIF 256 (beta 0.9,
 * all-to-all w_rec with bias) -> dense 20 -> leaky readout (beta 0.9, no reset); loss CE on
 * the membrane summed over time; Adam lr 1e-3; T = 100, B = 64. */
static int build_rec(spk_net **out_net, int *readout) {
    spk_net *net;
    int in, fc1, r, wrec, fc2, o;
    spk_neuron_config c = spk_neuron_config_default();
    c.lam = 0.9f;
    spk_neuron_config ro = c;
    ro.reset = SPK_RESET_NONE;
    if (spk_net_create(&net) || spk_net_add_input(net, "in", 1, (int[]){700}, &in) ||
        spk_net_add_dense(net, "fc1", 700, 256, 1, &fc1) || spk_net_add_neuron(net, "r", &c, 1, (int[]){256}, &r) ||
        spk_net_add_dense(net, "r.recurrent", 256, 256, 1, &wrec) || spk_net_add_dense(net, "fc2", 256, 20, 1, &fc2) ||
        spk_net_add_neuron(net, "out", &ro, 1, (int[]){20}, &o) || spk_net_connect(net, in, fc1) ||
        spk_net_connect(net, fc1, r) || spk_net_connect(net, r, wrec) || spk_net_connect(net, wrec, r) ||
        spk_net_connect(net, r, fc2) || spk_net_connect(net, fc2, o) || spk_net_build(net, (spk_rng){0, 0})) {
        cli_error("bench: building the rec network: %s", spk_errmsg(net));
        return -1;
    }
    *out_net = net;
    *readout = o;
    return 0;
}

static double max_rss_mb(int who) {
    struct rusage ru;
    getrusage(who, &ru);
    return (double)ru.ru_maxrss / 1024.0; /* Linux: kilobytes */
}

double cli_peak_rss_mb(void) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kb = -1;
    if (f) {
        while (fgets(line, sizeof line, f))
            if (!strncmp(line, "VmHWM:", 6)) kb = atol(line + 6);
        fclose(f);
    }
    return kb >= 0 ? (double)kb / 1024.0 : max_rss_mb(RUSAGE_SELF);
}

int cli_peak_rss_reset(void) {
    FILE *f = fopen("/proc/self/clear_refs", "w");
    if (!f) return 0;
    const int ok = fputs("5", f) >= 0;
    return fclose(f) == 0 && ok;
}

int cli_run_snntorch(const char *workload, int batches, int T, double *ms, double *loss) {
    const char *peers = getenv("SPK_PEERS");
    const char *dir = getenv("SNNTORCH_DIR");
    const char *py = getenv("SPK_PYTHON"); /* Debian's python3 has python3-torch */
    char cmd[3072], line[4096];
    if (T <= 0 || T == 100)
        snprintf(cmd, sizeof cmd, "SNNTORCH_DIR='%s' '%s' '%s/snntorch_bench.py' %s %d 1 2>/dev/null", dir ? dir : "/tmp/peers/snntorch",
                 py ? py : "/usr/bin/python3", peers ? peers : "../shared/peers", workload, batches);
    else /* the peer script fixes T = 100: run its text with that one assignment changed */
        snprintf(cmd, sizeof cmd,
                 "SNNTORCH_DIR='%s' '%s' -c \"import sys; p = sys.argv[1]; s = open(p).read(); "
                 "a = 'T, B, NI, NH, NO = 100,'; sys.exit(3) if a not in s else None; "
                 "s = s.replace(a, 'T, B, NI, NH, NO = %d,'); sys.argv = sys.argv[1:]; exec(compile(s, p, 'exec'))\" "
                 "'%s/snntorch_bench.py' %s %d 1 2>/dev/null",
                 dir ? dir : "/tmp/peers/snntorch", py ? py : "/usr/bin/python3", T, peers ? peers : "../shared/peers", workload,
                 batches);
    FILE *p = popen(cmd, "r");
    if (!p) return -1;
    int got = 0;
    while (fgets(line, sizeof line, p)) {
        char *k = strstr(line, "\"ms_per_batch_median\":");
        if (k && sscanf(k + strlen("\"ms_per_batch_median\":"), "%lf", ms) == 1) got = 1;
        k = strstr(line, "\"last_loss\":");
        if (k && loss) sscanf(k + strlen("\"last_loss\":"), "%lf", loss);
    }
    return pclose(p) == 0 && got ? 0 : -1;
}

static int bench_memory(int argc, char **argv) {
    int no_peer = 0, method = SPK_TRAIN_BPTT, method_given = 0;
    long steps = 100;
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--help")) {
            printf("usage: spk bench memory [--steps T] [--method bptt|fptt|eprop] [--no-peer]\n"
                   "BPTT activation memory per time step and peak RSS of a training step on the `rec`\n"
                   "workload (T = 100 steps, or --steps), beside snnTorch (shared/peers/snntorch_bench.py;\n"
                   "set SPK_PEERS and SNNTORCH_DIR; for T != 100 the script runs with its T changed).\n"
                   "--method bptt / fptt / eprop trains with that method (loss per step; no peer): the memory it\n"
                   "holds and the peak RSS less the input array, which the bench keeps whole ([T, 64, 700]).\n");
            return 0;
        } else if (!strcmp(argv[i], "--method")) {
            const char *v = i + 1 < argc ? argv[i + 1] : "";
            method = spk_train_method_from_name(v);
            method_given = 1;
            if (method != SPK_TRAIN_BPTT && method != SPK_TRAIN_FPTT && method != SPK_TRAIN_EPROP) {
                cli_error("--method: '%s' is not bptt, fptt or eprop", v);
                return 2;
            }
            i++;
        } else if (!strcmp(argv[i], "--steps")) {
            if (cli_int("--steps", i + 1 < argc ? argv[i + 1] : NULL, 1, 100000, &steps)) return 2;
            i++;
        } else if (!strcmp(argv[i], "--no-peer")) {
            no_peer = 1;
        } else {
            cli_error("bench memory: unknown option '%s'", argv[i]);
            return 2;
        }
    }
    const int T = (int)steps, B = 64, NI = 700;
    double rss0 = max_rss_mb(RUSAGE_SELF);
    spk_net *net;
    int o;
    if (build_rec(&net, &o)) return 1;
    spk_train_config tc = spk_train_config_default(o);
    tc.mem_reduce = SPK_MEM_SUM;
    tc.method = (spk_train_method)method;
    /* online methods need a per-step loss; with --method every method gets it (a sum over
     * 10000 steps overflows the softmax), and the snnTorch peer (sum loss) is not run */
    if (method_given) tc.mem_reduce = SPK_MEM_PER_STEP, no_peer = 1;
    spk_trainer *tr;
    if (spk_trainer_create(&tr, net, &tc)) { cli_error("%s", spk_errmsg(NULL)); return 1; }
    float *x = malloc(sizeof(float) * T * B * NI);
    int32_t labels[64];
    if (!x) { cli_error("out of memory"); return 1; }
    for (size_t k = 0; k < (size_t)T * B * NI; k++) x[k] = spk_rng_uniform((spk_rng){1, 0}, 0, k, 0) < 0.05f ? 1.0f : 0.0f;
    for (int b = 0; b < B; b++) labels[b] = (int32_t)(spk_rng_uniform((spk_rng){1, 1}, 0, (uint64_t)b, 0) * 20);
    double loss = 0, ms = 0;
    const int nsteps = T >= 5000 ? 1 : 3; /* very long sequences: one step (the peak is reached in it) */
    for (int s = 0; s < nsteps; s++) { /* the first step also allocates; report the last */
        double t0 = cli_now();
        spk_status st = spk_trainer_step(tr, T, B, x, labels, &loss, NULL);
        if (st == SPK_ERR_NUMERIC && method_given) { /* the memory was used all the same: report it */
            fprintf(stderr, "spk: bench memory: %s (the step's memory is measured all the same)\n", spk_errmsg(tr));
            loss = NAN;
        } else if (st) {
            cli_error("%s", spk_errmsg(tr));
            return 1;
        }
        ms = (cli_now() - t0) * 1e3;
    }
    char loss_s[32] = "null"; /* JSON: a non-finite loss is null */
    if (isfinite(loss)) snprintf(loss_s, sizeof loss_s, "%.4f", loss);
    size_t act = spk_net_activation_bytes(net);
    double rss = max_rss_mb(RUSAGE_SELF), x_mb = (double)T * B * NI * sizeof(float) / 1048576.0;
    if (method != SPK_TRAIN_BPTT) { /* the online methods hold no activations: their own state instead */
        printf("memory (rec: 700-256 recurrent-20, T=%d, B=%d), %s: %.1f MiB of method state (traces, running averages), "
               "peak RSS %.1f MB, %.1f MB less the [T, B, 700] input array (%.1f MB); %s step %.0f ms\n",
               T, B, spk_train_method_name((spk_train_method)method), spk_trainer_method_bytes(tr) / 1048576.0, rss, rss - x_mb, x_mb,
               nsteps == 1 ? "one" : "third", ms);
        printf("{\"workload\": \"memory\", \"T\": %d, \"B\": %d, \"peak_rss_mb\": %.1f, \"ms_per_batch\": %.1f, \"loss\": %s, "
               "\"method\": \"%s\", \"method_bytes\": %zu, \"input_mb\": %.1f, \"peak_rss_less_input_mb\": %.1f}\n",
               T, B, rss, ms, loss_s, spk_train_method_name((spk_train_method)method), spk_trainer_method_bytes(tr), x_mb, rss - x_mb);
        free(x);
        spk_trainer_free(tr);
        spk_net_free(net);
        return 0;
    }
    size_t np;
    spk_net_params(net, &np);
    double peer_ms = 0, peer_rss = 0;
    int have_peer = !no_peer && cli_run_snntorch("rec", 2, T, &peer_ms, NULL) == 0;
    if (have_peer) peer_rss = max_rss_mb(RUSAGE_CHILDREN);
    printf("memory (rec: 700-256 recurrent-20, T=%d, B=%d): BPTT activations %.1f MiB in all, %.1f KiB per time step "
           "(%.0f bytes per sample and step); %zu parameters; peak RSS after training steps %.1f MB "
           "(%.1f MB before building); %s step %.0f ms",
           T, B, act / 1048576.0, act / 1024.0 / T, (double)act / T / B, np, rss, rss0, nsteps == 1 ? "one" : "third", ms);
    if (have_peer) printf("; snnTorch peak RSS %.1f MB (%.0f ms per batch), %.1fx spk's", peer_rss, peer_ms, peer_rss / rss);
    else if (!no_peer) printf("; snnTorch not available (see shared/peers/README.md)");
    printf("\n{\"workload\": \"memory\", \"T\": %d, \"B\": %d, \"activation_bytes\": %zu, \"activation_bytes_per_step\": %.1f, "
           "\"peak_rss_mb\": %.1f, \"ms_per_batch\": %.1f, \"loss\": %s",
           T, B, act, (double)act / T, rss, ms, loss_s);
    if (have_peer) printf(", \"peer_peak_rss_mb\": %.1f, \"peer_ms_per_batch_median\": %.1f, \"rss_ratio\": %.2f", peer_rss, peer_ms, peer_rss / rss);
    printf(", \"method\": \"%s\", \"method_bytes\": %zu, \"input_mb\": %.1f, \"peak_rss_less_input_mb\": %.1f}\n",
           spk_train_method_name((spk_train_method)method), spk_trainer_method_bytes(tr), x_mb, rss - x_mb);
    free(x);
    spk_trainer_free(tr);
    spk_net_free(net);
    return 0;
}

int cmd_bench(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "--help")) {
        printf("usage: spk bench WORKLOAD [options]\nworkloads:\n  neuron   fused LIF step vs memory bandwidth\n"
               "  memory   BPTT activation memory and peak RSS of a training step (rec), beside snnTorch\n"
               "  cuba     the CUBA network (4000 LIF neurons, 10 s) event-driven, beside Brian2\n"
               "  mlp, rec, conv, obench  training workloads of shared/peers/snntorch_bench.py beside snnTorch\n"
               "  train    all four of them\n"
               "  infer    inference throughput of a trained model at batch 1 and 128\n"
               "  stdp     unsupervised STDP layer on Fashion-MNIST, label-assignment accuracy\n"
               "  attention  the spiking self-attention op, fast vs reference path, beside PyTorch\n"
               "  reversible  memory and time of deep reversible spiking blocks vs ordinary nodes\n");
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "neuron")) return bench_neuron(argc, argv);
    if (!strcmp(argv[1], "memory")) return bench_memory(argc, argv);
    if (!strcmp(argv[1], "cuba")) return bench_cuba(argc, argv);
    if (!strcmp(argv[1], "mlp") || !strcmp(argv[1], "rec") || !strcmp(argv[1], "conv") || !strcmp(argv[1], "obench") ||
        !strcmp(argv[1], "train"))
        return bench_train(argc, argv);
    if (!strcmp(argv[1], "infer")) return bench_infer(argc, argv);
    if (!strcmp(argv[1], "stdp")) return bench_stdp(argc, argv);
    if (!strcmp(argv[1], "attention")) return bench_attention(argc, argv);
    if (!strcmp(argv[1], "reversible")) return bench_reversible(argc, argv);
    cli_error("bench: unknown workload '%s' (available: neuron, memory, cuba, mlp, rec, conv, obench, train, infer, stdp, attention, reversible)", argv[1]);
    return 2;
}
