/* bench_reversible.c — `spk bench reversible`: the memory and the time of a training step of
 * a deep stack of two-stream spiking blocks, built once as one reversible node (backward
 * recomputes each block's input from its output) and once from ordinary nodes (dense or
 * conv + neuron + merge per block, every activation kept for backward), at several depths.
 *
 * Network: input [F] (dense) or [C, H, W] (conv), spikes with probability 0.2; then L blocks
 * y1 = x1 + F(x2), y2 = x2 + G(y1) on the input's two halves; then (flatten,) a dense
 * readout to 10 LIF neurons; loss CE on the summed membrane, SGD. The ordinary network takes
 * the halves with two fixed selection ops (0/1 weights) and joins them with two more (a
 * constant cost beside L blocks). Both get the same weights: they compute the same function. Each configuration runs in its own child process, so that its peak RSS
 * (getrusage) is its own. The two kinds alternate for --rounds rounds (a shared machine's
 * load changes between processes) and the fastest step of all is reported. Printed per
 * row: a human line and a JSON line; per depth, the ratios of the two. */
#include "cli.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

typedef struct rb_opts {
    int conv, T, B, F, C, H, reps, rounds;
    int only; /* -1 both kinds, 1 the reversible node only, 0 the ordinary nodes only */
} rb_opts;

static int fail(spk_net *net) {
    cli_error("%s", spk_errmsg(net));
    return -1;
}

static int add_op(spk_net *net, const char *name, const rb_opts *o, int cin, int cout, int k, int bias, int *id) {
    if (!o->conv) return spk_net_add_dense(net, name, cin, cout, bias, id) ? fail(net) : 0;
    int kk[2] = {k, k}, pad[2] = {k / 2, k / 2};
    return spk_net_add_conv(net, name, 2, cin, cout, kk, NULL, pad, NULL, 1, bias, id) ? fail(net) : 0;
}

/* A selection op's weight [out, in] (dense, or conv 1x1 [cout, cin]): take inputs off..off+out
 * (take = 1), or put the inputs at off..off+in (take = 0). */
static void select_w(float *W, int out, int in, int off, int take) {
    memset(W, 0, (size_t)out * in * sizeof(float));
    for (int c = 0; c < (take ? out : in); c++) W[take ? (size_t)c * in + off + c : (size_t)(off + c) * in + c] = 1.0f;
}

/* The same weights in both kinds, so that both compute the same function (and see the same
 * spikes): op p (2b: F of block b, 2b+1: G) from draw p, its bias from draw 1000000 + p, the
 * readout from draws 2000000 and 2000001, each U(-1/sqrt(fan_in), 1/sqrt(fan_in)). */
static void same_weights(spk_net *net, const rb_opts *o, int L, int rev, int hc) {
    const spk_rng key = {5, 0};
    const int kk = o->conv ? 9 : 1;
    const float bound = spk_init_bound(hc * kk);
    const size_t per = (size_t)hc * hc * kk;
    for (int p = 0; p < 2 * L; p++) {
        float *W, *b;
        if (rev) {
            int v = spk_net_find(net, "blocks");
            W = spk_net_param(net, v, "weight", NULL) + (size_t)p * per;
            b = spk_net_param(net, v, "bias", NULL) + (size_t)p * hc;
        } else {
            char nm[48];
            snprintf(nm, sizeof nm, "%c%d", p % 2 ? 'g' : 'f', p / 2);
            W = spk_net_param(net, spk_net_find(net, nm), "weight", NULL);
            b = spk_net_param(net, spk_net_find(net, nm), "bias", NULL);
        }
        spk_init_uniform(W, per, bound, key, (uint64_t)p);
        spk_init_uniform(b, (size_t)hc, bound, key, 1000000u + (uint64_t)p);
    }
    if (!rev) {
        select_w(spk_net_param(net, spk_net_find(net, "s1"), "weight", NULL), hc, 2 * hc, 0, 1);
        select_w(spk_net_param(net, spk_net_find(net, "s2"), "weight", NULL), hc, 2 * hc, hc, 1);
        select_w(spk_net_param(net, spk_net_find(net, "j1"), "weight", NULL), 2 * hc, hc, 0, 0);
        select_w(spk_net_param(net, spk_net_find(net, "j2"), "weight", NULL), 2 * hc, hc, hc, 0);
    }
    size_t nw, nb;
    int ro = spk_net_find(net, "ro");
    float *W = spk_net_param(net, ro, "weight", &nw), *b = spk_net_param(net, ro, "bias", &nb);
    float rb = spk_init_bound((int)(nw / nb));
    spk_init_uniform(W, nw, rb, key, 2000000u);
    spk_init_uniform(b, nb, rb, key, 2000001u);
}

#define TRY(x) \
    do { \
        if (x) return fail(net); \
    } while (0)

/* input -> L blocks (reversible node or ordinary nodes) -> readout; *ro the readout */
static int build(spk_net **out, const rb_opts *o, int L, int rev, int *ro) {
    spk_net *net;
    if (spk_net_create(&net)) return fail(NULL);
    *out = net;
    spk_neuron_config nc = spk_neuron_config_default();
    int dims[3] = {o->conv ? o->C : o->F, o->H, o->H}, nd = o->conv ? 3 : 1, in, id, prev;
    int hc = dims[0] / 2, hdims[3] = {hc, o->H, o->H}, feat = o->conv ? o->C * o->H * o->H : o->F;
    TRY(spk_net_add_input(net, "in", nd, dims, &in));
    if (rev) {
        spk_reversible_config rc = spk_reversible_config_default();
        rc.blocks = L;
        rc.op = o->conv ? SPK_REV_CONV : SPK_REV_DENSE;
        rc.kernel = 3;
        rc.neuron = nc;
        TRY(spk_net_add_reversible(net, "blocks", &rc, &prev));
        TRY(spk_net_connect(net, in, prev));
    } else {
        int s1, s2, c1, c2, j1, j2;
        if (add_op(net, "s1", o, dims[0], hc, 1, 0, &s1) || add_op(net, "s2", o, dims[0], hc, 1, 0, &s2)) return -1;
        TRY(spk_net_connect(net, in, s1));
        TRY(spk_net_connect(net, in, s2));
        c1 = s1, c2 = s2;
        for (int b = 0; b < L; b++) {
            char nm[48];
            int f, nf, m1, g, ng, m2;
            snprintf(nm, sizeof nm, "f%d", b);
            if (add_op(net, nm, o, hc, hc, 3, 1, &f)) return -1;
            snprintf(nm, sizeof nm, "nf%d", b);
            TRY(spk_net_add_neuron(net, nm, &nc, nd, hdims, &nf));
            snprintf(nm, sizeof nm, "y1_%d", b);
            TRY(spk_net_add_merge(net, nm, &m1));
            TRY(spk_net_connect(net, c2, f));
            TRY(spk_net_connect(net, f, nf));
            TRY(spk_net_connect(net, c1, m1));
            TRY(spk_net_connect(net, nf, m1));
            snprintf(nm, sizeof nm, "g%d", b);
            if (add_op(net, nm, o, hc, hc, 3, 1, &g)) return -1;
            snprintf(nm, sizeof nm, "ng%d", b);
            TRY(spk_net_add_neuron(net, nm, &nc, nd, hdims, &ng));
            snprintf(nm, sizeof nm, "y2_%d", b);
            TRY(spk_net_add_merge(net, nm, &m2));
            TRY(spk_net_connect(net, m1, g));
            TRY(spk_net_connect(net, g, ng));
            TRY(spk_net_connect(net, c2, m2));
            TRY(spk_net_connect(net, ng, m2));
            c1 = m1, c2 = m2;
        }
        if (add_op(net, "j1", o, hc, dims[0], 1, 0, &j1) || add_op(net, "j2", o, hc, dims[0], 1, 0, &j2)) return -1;
        TRY(spk_net_add_merge(net, "joined", &prev));
        TRY(spk_net_connect(net, c1, j1));
        TRY(spk_net_connect(net, c2, j2));
        TRY(spk_net_connect(net, j1, prev));
        TRY(spk_net_connect(net, j2, prev));
    }
    if (o->conv) {
        TRY(spk_net_add_flatten(net, "flat", &id));
        TRY(spk_net_connect(net, prev, id));
        prev = id;
    }
    TRY(spk_net_add_dense(net, "ro", feat, 10, 1, &id));
    TRY(spk_net_connect(net, prev, id));
    TRY(spk_net_add_neuron(net, "out", &nc, 1, (int[]){10}, ro));
    TRY(spk_net_connect(net, id, *ro));
    TRY(spk_net_build(net, (spk_rng){1, 0}));
    same_weights(net, o, L, rev, hc);
    return 0;
}
#undef TRY

typedef struct rb_row {
    int ok;
    double act_mib, rss_mb, ms, loss; /* loss: of the first step (the same function: equal) */
} rb_row;

/* One configuration, in this (child) process. */
static rb_row run_one(const rb_opts *o, int L, int rev) {
    rb_row r = {0, 0, 0, 0, 0};
    spk_net *net = NULL;
    int ro;
    if (build(&net, o, L, rev, &ro)) {
        spk_net_free(net);
        return r;
    }
    spk_train_config tc = spk_train_config_default(ro);
    tc.mem_reduce = SPK_MEM_SUM;
    tc.optim.kind = SPK_OPT_SGD;
    tc.optim.lr = 0.01f;
    tc.sched.kind = SPK_SCHED_CONST;
    spk_trainer *tr;
    if (spk_trainer_create(&tr, net, &tc)) {
        cli_error("%s", spk_errmsg(NULL));
        spk_net_free(net);
        return r;
    }
    size_t feat = o->conv ? (size_t)o->C * o->H * o->H : (size_t)o->F, n = (size_t)o->T * o->B * feat;
    float *x = malloc(n * sizeof(float));
    int32_t *lab = malloc((size_t)o->B * sizeof(int32_t));
    if (!x || !lab) {
        cli_error("out of memory");
        free(x);
        free(lab);
        spk_trainer_free(tr);
        spk_net_free(net);
        return r;
    }
    for (size_t k = 0; k < n; k++) x[k] = spk_rng_uniform((spk_rng){3, 0}, 0, k, 0) < 0.2f ? 1.0f : 0.0f;
    for (int b = 0; b < o->B; b++) lab[b] = b % 10;
    double best = INFINITY, loss = 0, first = NAN;
    int okk = 1;
    for (int s = 0; s <= o->reps && okk; s++) { /* step 0 allocates: not timed */
        double t0 = cli_now();
        if (spk_trainer_step(tr, o->T, o->B, x, lab, &loss, NULL)) {
            cli_error("%s", spk_errmsg(tr));
            okk = 0;
        }
        double ms = (cli_now() - t0) * 1e3;
        if (s > 0 && ms < best) best = ms;
        if (s == 0) first = loss;
    }
    if (okk) {
        struct rusage ru;
        getrusage(RUSAGE_SELF, &ru);
        r.ok = 1;
        r.act_mib = spk_net_activation_bytes(net) / 1048576.0;
        r.rss_mb = ru.ru_maxrss / 1024.0;
        r.ms = best;
        r.loss = first;
    }
    free(x);
    free(lab);
    spk_trainer_free(tr);
    spk_net_free(net);
    return r;
}

/* Run one configuration in a child process; its result comes back through a pipe. */
static rb_row run_child(const rb_opts *o, int L, int rev) {
    rb_row r = {0, 0, 0, 0, 0};
    int fd[2];
    if (pipe(fd)) return r;
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        close(fd[0]);
        close(fd[1]);
        return r;
    }
    if (pid == 0) {
        close(fd[0]);
        rb_row c = run_one(o, L, rev);
        ssize_t w = write(fd[1], &c, sizeof c);
        close(fd[1]);
        fflush(stderr);
        _exit(w == (ssize_t)sizeof c ? 0 : 1);
    }
    close(fd[1]);
    ssize_t got = read(fd[0], &r, sizeof r);
    close(fd[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    if (got != (ssize_t)sizeof r || !WIFEXITED(status) || WEXITSTATUS(status)) r.ok = 0;
    return r;
}

int bench_reversible(int argc, char **argv) {
    rb_opts o = {0, 25, 32, 256, 16, 16, 3, 2, -1};
    int depths[32], nd = 0;
    for (int i = 2; i < argc; i++) {
        long v;
        if (!strcmp(argv[i], "--help")) {
            printf("usage: spk bench reversible [--depth L ...] [--steps T] [--batch B] [--op dense|conv] [--width F]\n"
                   "                            [--channels C] [--size H] [--reps N] [--rounds R] [--only reversible|ordinary]\n"
                   "A training step (BPTT, SGD) of L two-stream spiking blocks, as one reversible node and as\n"
                   "ordinary nodes: activation memory, peak RSS and ms per step, per depth (default 2 4 8 16 32,\n"
                   "T 25, B 32, dense on F = 256 features; conv: C = 16 channels of 16x16, kernel 3). Each of\n"
                   "R rounds (default 2) runs both kinds once (N timed steps each, default 3); the fastest step counts.\n");
            return 0;
        } else if (!strcmp(argv[i], "--depth") && i + 1 < argc) {
            while (i + 1 < argc && argv[i + 1][0] != '-') {
                if (nd == 32) { cli_error("--depth: at most 32 depths"); return 2; }
                if (cli_int("--depth", argv[++i], 1, 4096, &v)) return 2;
                depths[nd++] = (int)v;
            }
        } else if (!strcmp(argv[i], "--steps") && i + 1 < argc) {
            if (cli_int("--steps", argv[++i], 1, 100000, &v)) return 2;
            o.T = (int)v;
        } else if (!strcmp(argv[i], "--batch") && i + 1 < argc) {
            if (cli_int("--batch", argv[++i], 1, 100000, &v)) return 2;
            o.B = (int)v;
        } else if (!strcmp(argv[i], "--width") && i + 1 < argc) {
            if (cli_int("--width", argv[++i], 2, 1000000, &v)) return 2;
            if (v % 2) { cli_error("--width: %ld must be even (two halves)", v); return 2; }
            o.F = (int)v;
        } else if (!strcmp(argv[i], "--channels") && i + 1 < argc) {
            if (cli_int("--channels", argv[++i], 2, 100000, &v)) return 2;
            if (v % 2) { cli_error("--channels: %ld must be even (two halves)", v); return 2; }
            o.C = (int)v;
        } else if (!strcmp(argv[i], "--size") && i + 1 < argc) {
            if (cli_int("--size", argv[++i], 1, 10000, &v)) return 2;
            o.H = (int)v;
        } else if (!strcmp(argv[i], "--reps") && i + 1 < argc) {
            if (cli_int("--reps", argv[++i], 1, 1000, &v)) return 2;
            o.reps = (int)v;
        } else if (!strcmp(argv[i], "--rounds") && i + 1 < argc) {
            if (cli_int("--rounds", argv[++i], 1, 100, &v)) return 2;
            o.rounds = (int)v;
        } else if (!strcmp(argv[i], "--only") && i + 1 < argc) {
            i++;
            if (!strcmp(argv[i], "reversible")) o.only = 1;
            else if (!strcmp(argv[i], "ordinary")) o.only = 0;
            else { cli_error("--only: '%s' is not reversible or ordinary", argv[i]); return 2; }
        } else if (!strcmp(argv[i], "--op") && i + 1 < argc) {
            i++;
            if (!strcmp(argv[i], "dense")) o.conv = 0;
            else if (!strcmp(argv[i], "conv")) o.conv = 1;
            else { cli_error("--op: '%s' is not dense or conv", argv[i]); return 2; }
        } else {
            cli_error("bench reversible: unknown or incomplete option '%s' (see --help)", argv[i]);
            return 2;
        }
    }
    if (!nd) {
        int d[5] = {2, 4, 8, 16, 32};
        for (nd = 0; nd < 5; nd++) depths[nd] = d[nd];
    }
    char shape[64];
    if (o.conv) snprintf(shape, sizeof shape, "conv %dx%dx%d k3", o.C, o.H, o.H);
    else snprintf(shape, sizeof shape, "dense %d", o.F);
    for (int k = 0; k < nd; k++) {
        rb_row r[2];
        memset(r, 0, sizeof r);
        for (int round = 0; round < o.rounds; round++)
            for (int rev = 1; rev >= 0; rev--) {
                if (o.only >= 0 && rev != o.only) continue;
                rb_row q = run_child(&o, depths[k], rev);
                if (!q.ok) {
                    cli_error("bench reversible: depth %d (%s) failed", depths[k], rev ? "reversible" : "ordinary");
                    return 1;
                }
                if (round == 0 || q.ms < r[rev].ms) r[rev] = q;
            }
        for (int rev = 1; rev >= 0; rev--) {
            if (o.only >= 0 && rev != o.only) continue;
            printf("reversible blocks (%s, T=%d, B=%d), depth %3d, %-10s: activations %9.1f MiB, peak RSS %8.1f MB, %9.1f ms per training step, "
                   "first loss %.6f\n",
                   shape, o.T, o.B, depths[k], rev ? "reversible" : "ordinary", r[rev].act_mib, r[rev].rss_mb, r[rev].ms, r[rev].loss);
            printf("{\"workload\": \"reversible\", \"op\": \"%s\", \"T\": %d, \"B\": %d, \"features\": %d, \"depth\": %d, \"reversible\": %s, "
                   "\"activation_mib\": %.2f, \"peak_rss_mb\": %.1f, \"ms_per_step\": %.2f, \"first_loss\": %.6f}\n",
                   o.conv ? "conv" : "dense", o.T, o.B, o.conv ? o.C * o.H * o.H : o.F, depths[k], rev ? "true" : "false", r[rev].act_mib,
                   r[rev].rss_mb, r[rev].ms, r[rev].loss);
        }
        if (o.only >= 0) continue;
        printf("  depth %d: ordinary / reversible activations %.2fx, peak RSS %.2fx; reversible / ordinary time %.2fx\n", depths[k],
               r[0].act_mib / r[1].act_mib, r[0].rss_mb / r[1].rss_mb, r[1].ms / r[0].ms);
        fflush(stdout);
    }
    return 0;
}
