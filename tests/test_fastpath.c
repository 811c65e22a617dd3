/* test_fastpath.c — the network's fast path (layer-major stretches, sparse kernels on spiking
 * inputs, deferred weight gradients of recurrent layers, fused neuron kernels, the static-
 * input shortcut) against its plain reference path (spk_net_set_reference), on networks
 * where each fast piece is taken:
 *   rec   Bernoulli(0.05) spikes -> dense 120 -> recurrent LIF 64 (all-to-all w_rec) -> dense 40
 *         -> leaky readout: sparse dense forward and weight gradient, deferred w_rec gradient;
 *   conv  spikes [2, 10, 10] -> conv 3x3 (16) -> max pool 2 -> LIF -> flatten -> dense 40 -> LIF:
 *         sparse conv forward and weight gradient; with a static image, conv and pool (and a
 *         flatten before the LIF) kept for one step;
 *   mlp   a static image -> dense 64 -> LIF -> dense 40 -> LIF: the static-input shortcut.
 * Weights are multiples of 2^-8 below 1/8 in size and inputs are 0/1, so every forward sum is
 * exact in float whatever its order: spikes and membranes must be IDENTICAL. Gradients pass
 * through the surrogate (not dyadic), so they are compared to 1e-5 of their largest value. */
#include "testutil.h"
#include "net/net_impl.h"

#include <string.h>

static void dyadic_params(spk_net *net, uint64_t seed) {
    size_t n;
    float *p = spk_net_params(net, &n);
    for (size_t k = 0; k < n; k++) {
        uint32_t b[4];
        spk_rng_bits4((spk_rng){seed, 3}, 0, k, b);
        p[k] = (float)((int)(b[0] % 65) - 32) / 256.0f; /* [-1/8, 1/8] in steps of 2^-8 */
    }
    spk_net_params_changed(net);
}

typedef struct run_out {
    float *out, *mem, *grads, *extra;
    size_t n_out, n_grads, n_extra;
} run_out;

/* a node other than the readout whose output is compared too and also gets a gradient seed
 * on it (-1: none) */
static int g_extra = -1, g_extra_seed = 0;

/* forward + a random dL/dmem and dL/dspikes on `readout` + backward */
static run_out run(spk_net *net, int readout, int reference, int T, int B, const float *x) {
    run_out r = {0};
    spk_net_set_reference(net, reference);
    CHECK_OK(spk_net_forward(net, T, B, x));
    int dims[SPK_MAX_DIMS], nd = spk_net_node_shape(net, readout, dims);
    size_t N = 1;
    for (int k = 0; k < nd; k++) N *= (size_t)dims[k];
    r.n_out = (size_t)T * B * N;
    r.out = malloc(r.n_out * sizeof(float));
    r.mem = malloc(r.n_out * sizeof(float));
    memcpy(r.out, spk_net_signal(net, readout, SPK_SIGNAL_OUT), r.n_out * sizeof(float));
    memcpy(r.mem, spk_net_signal(net, readout, SPK_SIGNAL_MEM), r.n_out * sizeof(float));
    float *seed = malloc(r.n_out * sizeof(float));
    for (size_t k = 0; k < r.n_out; k++) seed[k] = spk_rng_uniform((spk_rng){9, 9}, 0, k, 0) - 0.5f;
    spk_net_zero_grad(net);
    CHECK_OK(spk_net_seed_grad(net, readout, SPK_SIGNAL_MEM, seed));
    CHECK_OK(spk_net_seed_grad(net, readout, SPK_SIGNAL_OUT, seed));
    if (g_extra >= 0) {
        nd = spk_net_node_shape(net, g_extra, dims);
        size_t F = 1;
        for (int k = 0; k < nd; k++) F *= (size_t)dims[k];
        r.n_extra = (size_t)T * B * F;
        r.extra = malloc(r.n_extra * sizeof(float));
        memcpy(r.extra, spk_net_signal(net, g_extra, SPK_SIGNAL_OUT), r.n_extra * sizeof(float));
        float *s2 = malloc(r.n_extra * sizeof(float));
        for (size_t k = 0; k < r.n_extra; k++) s2[k] = spk_rng_uniform((spk_rng){9, 10}, 0, k, 0) - 0.5f;
        if (g_extra_seed) CHECK_OK(spk_net_seed_grad(net, g_extra, SPK_SIGNAL_OUT, s2));
        free(s2);
    }
    CHECK_OK(spk_net_backward(net));
    const float *g = spk_net_grads(net, &r.n_grads);
    r.grads = malloc(r.n_grads * sizeof(float));
    memcpy(r.grads, g, r.n_grads * sizeof(float));
    free(seed);
    spk_net_set_reference(net, 0);
    return r;
}

static void compare(const char *name, spk_net *net, int readout, int T, int B, const float *x) {
    run_out f = run(net, readout, 0, T, B, x), r = run(net, readout, 1, T, B, x);
    double spikes = 0;
    for (size_t k = 0; k < r.n_out; k++) spikes += r.out[k];
    CHECK_MSG(memcmp(f.out, r.out, r.n_out * sizeof(float)) == 0, "%s: readout spikes differ from the reference path", name);
    CHECK_MSG(memcmp(f.mem, r.mem, r.n_out * sizeof(float)) == 0, "%s: readout membranes differ (max %g)", name,
              tu_max_abs_diff(f.mem, r.mem, r.n_out));
    if (g_extra >= 0)
        CHECK_MSG(f.n_extra == r.n_extra && memcmp(f.extra, r.extra, r.n_extra * sizeof(float)) == 0,
                  "%s: the output of node %d differs from the reference path", name, g_extra);
    double gmax = 0;
    for (size_t k = 0; k < r.n_grads; k++) gmax = fmax(gmax, fabs(r.grads[k]));
    double e = tu_max_abs_diff(f.grads, r.grads, r.n_grads) / fmax(gmax, 1e-30);
    CHECK_MSG(gmax > 0 && e < 1e-5, "%s: gradients differ from the reference path by %g of their largest (%g)", name, e, gmax);
    printf("%-6s %zu readout values (%.0f spikes) identical; %zu gradients within %.1e of the largest\n", name, r.n_out,
           spikes, r.n_grads, e);
    free(f.out), free(f.mem), free(f.grads), free(r.out), free(r.mem), free(r.grads), free(f.extra), free(r.extra);
}

static spk_neuron_config lif(float beta, spk_reset_kind reset) {
    spk_neuron_config c = spk_neuron_config_default();
    c.lam = beta;
    c.reset = reset;
    c.thr = 0.25f; /* small weights: a low threshold keeps the populations spiking */
    return c;
}

static float *bernoulli(size_t n, float p, uint64_t seed) {
    float *x = malloc(n * sizeof(float));
    for (size_t k = 0; k < n; k++) x[k] = spk_rng_uniform((spk_rng){seed, 1}, 0, k, 0) < p ? 1.0f : 0.0f;
    return x;
}

/* Decays and thresholds of their own per neuron for population `pop` (learnable). */
static void own_lam_thr(spk_net *net, int pop) {
    size_t np;
    float *pp = spk_net_params(net, &np);
    const spk__tensor *tl = &net->tensors[net->nodes[pop].t_np[SPK_NP_LAM]], *tt = &net->tensors[net->nodes[pop].t_np[SPK_NP_THR]];
    for (size_t i = 0; i < tl->numel; i++) pp[tl->off + i] = 0.75f + (float)(i % 8) / 32.0f, pp[tt->off + i] = 0.25f + (float)(i % 4) / 64.0f;
    spk_net_params_changed(net);
}

/* in -> fc1 (n_in -> n_h) -> r (LIF, subtract reset, threshold thr) <-> w_rec (n_h -> n_h,
 * delayed) -> fc2 (n_h -> n_out) -> out (leaky readout), dyadic parameters; learn: r's decays
 * and thresholds learnable (own_lam_thr). id: in, fc1, r, w_rec, fc2, out. */
static spk_net *rec_net(int n_in, int n_h, int n_out, float thr, int learn, uint64_t seed, int id[6]) {
    spk_net *net;
    spk_neuron_config c = lif(0.9f, SPK_RESET_SOFT), ro = lif(0.9f, SPK_RESET_NONE);
    c.thr = thr;
    CHECK_OK(spk_net_create(&net));
    CHECK_OK(spk_net_add_input(net, "in", 1, (int[]){n_in}, &id[0]));
    CHECK_OK(spk_net_add_dense(net, "fc1", n_in, n_h, 1, &id[1]));
    CHECK_OK(spk_net_add_neuron(net, "r", &c, 1, (int[]){n_h}, &id[2]));
    if (learn) {
        CHECK_OK(spk_net_set_learnable(net, id[2], SPK_NP_LAM, SPK_LEARN_PER_NEURON));
        CHECK_OK(spk_net_set_learnable(net, id[2], SPK_NP_THR, SPK_LEARN_PER_NEURON));
    }
    CHECK_OK(spk_net_add_dense(net, "w_rec", n_h, n_h, 1, &id[3]));
    CHECK_OK(spk_net_add_dense(net, "fc2", n_h, n_out, 1, &id[4]));
    CHECK_OK(spk_net_add_neuron(net, "out", &ro, 1, (int[]){n_out}, &id[5]));
    const int pairs[6][2] = {{0, 1}, {1, 2}, {2, 3}, {3, 2}, {2, 4}, {4, 5}};
    for (int k = 0; k < 6; k++) CHECK_OK(spk_net_connect(net, id[pairs[k][0]], id[pairs[k][1]]));
    CHECK_OK(spk_net_build(net, (spk_rng){seed, 0}));
    dyadic_params(net, seed);
    if (learn) own_lam_thr(net, id[2]);
    return net;
}

static void test_rec(void) {
    int id[6];
    spk_net *net = rec_net(200, 120, 40, 0.25f, 0, 1, id);
    const int T = 30, B = 8;
    float *x = bernoulli((size_t)T * B * 200, 0.05f, 2);
    compare("rec", net, id[5], T, B, x);
    free(x);
    spk_net_free(net);
}

/* spikes or an image [2, 10, 10] -> conv 3x3 (16) -> max pool 2 -> LIF (beta) -> flatten
 * -> dense n_out -> LIF (flat_first: the flatten before the first LIF; drop: a dropout 0.5
 * between the first LIF and the flatten), dyadic parameters; the node ids in id: in, conv,
 * pool, l1, flat, dense, l2, dropout (-1 without) */
static spk_net *conv_net(float beta, int flat_first, int n_out, uint64_t seed, int drop, int id[8]) {
    spk_net *net;
    spk_neuron_config c = lif(beta, SPK_RESET_SOFT);
    CHECK_OK(spk_net_create(&net));
    CHECK_OK(spk_net_add_input(net, "in", 3, (int[]){2, 10, 10}, &id[0]));
    CHECK_OK(spk_net_add_conv(net, "conv", 2, 2, 16, (int[]){3, 3}, NULL, (int[]){1, 1}, NULL, 1, 1, &id[1]));
    CHECK_OK(spk_net_add_pool(net, "pool", 2, 2, (int[]){2, 2}, NULL, NULL, &id[2]));
    if (flat_first) CHECK_OK(spk_net_add_neuron(net, "l1", &c, 1, (int[]){400}, &id[3]));
    else CHECK_OK(spk_net_add_neuron(net, "l1", &c, 3, (int[]){16, 5, 5}, &id[3]));
    CHECK_OK(spk_net_add_flatten(net, "flat", &id[4]));
    CHECK_OK(spk_net_add_dense(net, "fc", 400, n_out, 1, &id[5]));
    CHECK_OK(spk_net_add_neuron(net, "l2", &c, 1, (int[]){n_out}, &id[6]));
    id[7] = -1;
    if (drop) CHECK_OK(spk_net_add_dropout(net, "drop", 0.5f, &id[7]));
    CHECK_OK(spk_net_connect(net, id[0], id[1]));
    CHECK_OK(spk_net_connect(net, id[1], id[2]));
    const int chain[5] = {id[2], flat_first ? id[4] : id[3], drop ? id[7] : -1, flat_first ? id[3] : id[4], id[5]};
    for (int k = 0, prev = chain[0]; k < 4; k++) {
        if (chain[k + 1] < 0) continue;
        CHECK_OK(spk_net_connect(net, prev, chain[k + 1]));
        prev = chain[k + 1];
    }
    CHECK_OK(spk_net_connect(net, id[5], id[6]));
    CHECK_OK(spk_net_build(net, (spk_rng){seed, 0}));
    dyadic_params(net, seed);
    return net;
}

/* stat: the input is one image at every step, so conv, pool (and flatten) are kept for one
 * step (exec.c: out_once); flat_first: conv -> pool -> flatten -> LIF instead of conv -> pool
 * -> LIF -> flatten; extra: the pool's output (0) is read and gets a gradient seed at every
 * step, or the conv's output (1) is read, or the first LIF's (2) or the flatten's (3) read and
 * seeded; n_out 10:
 * the first LIF recomputes its steps, its spikes through the flatten (and an active dropout,
 * drop) to the readout (exec.c: recompute, ds_via) */
static void test_conv(const char *name, int stat, int flat_first, int extra, int n_out, int drop) {
    int id[8];
    spk_net *net = conv_net(0.5f, flat_first, n_out, 2, drop, id);
    const int cv = id[1], p = id[2], l2 = id[6];
    spk_net_set_training(net, drop, 4);
    const int T = 12, B = 6;
    float *x = bernoulli((size_t)T * B * 200, stat ? 0.3f : 0.05f, 3);
    for (int t = 1; stat && t < T; t++) memcpy(x + (size_t)t * B * 200, x, (size_t)B * 200 * sizeof(float));
    g_extra = extra < 0 ? -1 : extra == 0 ? p : extra == 1 ? cv : extra == 2 ? id[3] : id[4];
    g_extra_seed = extra != 1;
    compare(name, net, l2, T, B, x);
    CHECK_OK(spk_net_forward(net, T, B, x)); /* (compare ran the reference path last) */
    /* (where the narrow kernels exist: AVX-512) */
    CHECK_MSG(!spk_op_dense_narrow(n_out) || net->nodes[id[3]].recompute, "%s: the first LIF does not recompute its steps", name);
    spk_net_set_training(net, 0, 0);
    g_extra = -1;
    g_extra_seed = 0;
    free(x);
    spk_net_free(net);
}

/* learn: the hidden population's decay and threshold are learnable (its backward then reads
 * the previous state); extra: the output of the input (0) or of fc1 (1) is read after the
 * forward (it is kept for step 0 alone and written out when asked), and fc1's also gets a
 * gradient seed at every step; or (2) the hidden population's output gets a seed; n_out <= 16:
 * the hidden population computes fc2's input gradient step by step (exec.c: ds_from) */
/* in [100] -> fc1 64 -> LIF l1 (0.95, soft reset; learn: decay and threshold learnable per
 * neuron) -> (drop: dropout 0.5 ->) fc2 n_out -> LIF l2, dyadic parameters; the node ids in
 * id: in, fc1, l1, fc2, l2, dropout (-1 without) */
static spk_net *mlp_net(int learn, int drop, int n_out, uint64_t seed, int id[6]) {
    spk_net *net;
    spk_neuron_config c = lif(0.95f, SPK_RESET_SOFT);
    id[5] = -1;
    CHECK_OK(spk_net_create(&net));
    CHECK_OK(spk_net_add_input(net, "in", 1, (int[]){100}, &id[0]));
    CHECK_OK(spk_net_add_dense(net, "fc1", 100, 64, 1, &id[1]));
    CHECK_OK(spk_net_add_neuron(net, "l1", &c, 1, (int[]){64}, &id[2]));
    if (learn) {
        CHECK_OK(spk_net_set_learnable(net, id[2], SPK_NP_LAM, SPK_LEARN_PER_NEURON));
        CHECK_OK(spk_net_set_learnable(net, id[2], SPK_NP_THR, SPK_LEARN_PER_NEURON));
    }
    if (drop) CHECK_OK(spk_net_add_dropout(net, "drop", 0.5f, &id[5])); /* (a mask of 0 and 2: exact) */
    CHECK_OK(spk_net_add_dense(net, "fc2", 64, n_out, 1, &id[3]));
    CHECK_OK(spk_net_add_neuron(net, "l2", &c, 1, (int[]){n_out}, &id[4]));
    CHECK_OK(spk_net_connect(net, id[0], id[1]));
    CHECK_OK(spk_net_connect(net, id[1], id[2]));
    CHECK_OK(spk_net_connect(net, id[2], drop ? id[5] : id[3]));
    if (drop) CHECK_OK(spk_net_connect(net, id[5], id[3]));
    CHECK_OK(spk_net_connect(net, id[3], id[4]));
    CHECK_OK(spk_net_build(net, (spk_rng){seed, 0}));
    dyadic_params(net, seed);
    return net;
}

static void test_mlp_static(const char *name, int learn, int extra, int n_out) {
    int id[6];
    spk_net *net = mlp_net(learn, 0, n_out, 3, id);
    const int in = id[0], a = id[1], l1 = id[2], l2 = id[4];
    const int T = 15, B = 5;
    float *img = bernoulli((size_t)B * 100, 0.3f, 4), *x = malloc((size_t)T * B * 100 * sizeof(float));
    for (int t = 0; t < T; t++) memcpy(x + (size_t)t * B * 100, img, (size_t)B * 100 * sizeof(float));
    g_extra = extra < 0 ? -1 : extra == 0 ? in : extra == 1 ? a : l1;
    g_extra_seed = extra >= 1;
    compare(name, net, l2, T, B, x);
    /* the same network again on fewer, wider batches, after a zero_grad whose clearing is still
     * pending (exec.c: nothing known of the old layout may carry over) */
    spk_net_zero_grad(net);
    const int T2 = 6, B2 = 9;
    float *img2 = bernoulli((size_t)B2 * 100, 0.3f, 5), *x2 = malloc((size_t)T2 * B2 * 100 * sizeof(float));
    for (int t = 0; t < T2; t++) memcpy(x2 + (size_t)t * B2 * 100, img2, (size_t)B2 * 100 * sizeof(float));
    char name2[64];
    snprintf(name2, sizeof name2, "%s T6B9", name);
    compare(name2, net, l2, T2, B2, x2);
    g_extra = -1;
    g_extra_seed = 0;
    free(img), free(x), free(img2), free(x2);
    spk_net_free(net);
}

/* Every parameter halved (the network told): what a lazy output written afterwards must not
 * use; returns the values before, for restore_params. */
static float *halve_params(spk_net *net) {
    size_t np;
    float *pp = spk_net_params(net, &np), *snap = malloc(np * sizeof(float));
    memcpy(snap, pp, np * sizeof(float));
    for (size_t i = 0; i < np; i++) pp[i] *= 0.5f;
    spk_net_params_changed(net);
    return snap;
}

static void restore_params(spk_net *net, float *snap) {
    size_t np;
    float *pp = spk_net_params(net, &np);
    memcpy(pp, snap, np * sizeof(float));
    spk_net_params_changed(net);
    free(snap);
}

/* zero_grad, dL/dmem = seed_ro on `readout` (and, with seed_h, dL/dspikes = dL/dmem = seed_h on
 * `hidden`), backward truncated at k; a copy of the gradients (*ng of them). */
static float *seeded_backward(spk_net *net, int readout, const float *seed_ro, int hidden, const float *seed_h, int k, size_t *ng) {
    spk_net_zero_grad(net);
    CHECK_OK(spk_net_seed_grad(net, readout, SPK_SIGNAL_MEM, seed_ro));
    if (seed_h) {
        CHECK_OK(spk_net_seed_grad(net, hidden, SPK_SIGNAL_OUT, seed_h));
        CHECK_OK(spk_net_seed_grad(net, hidden, SPK_SIGNAL_MEM, seed_h));
    }
    CHECK_OK(spk_net_backward_truncated(net, k));
    const float *g = spk_net_grads(net, ng);
    float *copy = malloc(*ng * sizeof(float));
    memcpy(copy, g, *ng * sizeof(float));
    return copy;
}

/* A thin population read only by a narrow readout keeps no step (exec.c: recompute): its
 * forward computes the readout's output row by row, its backward runs each row's steps again.
 * in -> fc1 (100 -> 64) -> l1 -> fc2 (64 -> n_out) -> l2, against the same network keeping
 * l1's steps (net->no_recompute) and against the reference path. The recomputed steps are the
 * forward's to the bit: l1's spikes and membranes (written when asked for), fc2's output,
 * l2, and the gradients of fc1 and of fc2's bias are IDENTICAL to the keeping path's; fc2's
 * weight gradient sums in another order (1e-6). stat: the image at every step (given as one
 * step: spk_net_set_static_input), else fresh spikes per step; k: truncated BPTT window;
 * seed: gradient seeds on l1's spikes and membrane too; learn: l1's decays and thresholds
 * learnable (their gradients identical too; l1's signals, read after the parameters changed,
 * are still the forward's); drop: a dropout node between l1 and fc2 (1 active, 2 in the
 * network but inactive: inference). */
static void test_recompute(const char *name, int stat, int k, int seed, int n_out, int learn, int drop) {
    int id[6];
    spk_net *net = mlp_net(learn, drop, n_out, 7, id);
    const int a = id[1], l1 = id[2], d = id[3], l2 = id[4], q = id[5];
    if (learn) own_lam_thr(net, l1);
    spk_net_set_training(net, drop == 1, 3); /* drop 2: dropout in the network, inactive */
    const int T = 13, B = 19; /* B: two full blocks of rows and a part */
    float *x = bernoulli((size_t)(stat ? 1 : T) * B * 100, 0.3f, 8);
    spk_net_set_static_input(net, stat);
    const size_t n1 = (size_t)T * B * 64, n2 = (size_t)T * B * n_out;
    float *seed1 = malloc(n1 * sizeof(float)), *seed2 = malloc(n2 * sizeof(float));
    for (size_t q = 0; q < n1; q++) seed1[q] = spk_rng_uniform((spk_rng){9, 11}, 0, q, 0) - 0.5f;
    for (size_t q = 0; q < n2; q++) seed2[q] = spk_rng_uniform((spk_rng){9, 12}, 0, q, 0) - 0.5f;
    float *sig[3][6] = {{0}}, *grads[3];
    size_t ng = 0;
    const int nsig = drop ? 6 : 5;
    for (int mode = 0; mode < 3; mode++) { /* recompute, keep, reference */
        net->no_recompute = mode == 1;
        spk_net_set_reference(net, mode == 2);
        CHECK_OK(spk_net_forward(net, T, B, x));
        CHECK_MSG(mode != 0 || !spk_op_dense_narrow(n_out) || net->nodes[l1].recompute, "%s: l1 does not take the recomputing path",
                  name);
        const int nodes[6] = {l1, l1, d, l2, l2, q};
        const spk_signal sg[6] = {SPK_SIGNAL_OUT, SPK_SIGNAL_MEM, SPK_SIGNAL_OUT, SPK_SIGNAL_OUT, SPK_SIGNAL_MEM, SPK_SIGNAL_OUT};
        /* (the hidden signals read after the parameters changed: still the forward's) */
        float *snap = learn && mode == 0 ? halve_params(net) : NULL;
        for (int j = 0; j < nsig; j++) {
            const size_t n = j < 2 || j == 5 ? n1 : n2;
            sig[mode][j] = malloc(n * sizeof(float));
            memcpy(sig[mode][j], spk_net_signal(net, nodes[j], sg[j]), n * sizeof(float));
        }
        if (snap) restore_params(net, snap);
        grads[mode] = seeded_backward(net, l2, seed2, l1, seed ? seed1 : NULL, k, &ng);
    }
    net->no_recompute = 0;
    spk_net_set_reference(net, 0);
    for (int mode = 1; mode < 3; mode++)
        for (int j = 0; j < nsig; j++)
            CHECK_MSG(memcmp(sig[0][j], sig[mode][j], (j < 2 || j == 5 ? n1 : n2) * sizeof(float)) == 0,
                      "%s: signal %d differs from the %s path", name, j, mode == 1 ? "keeping" : "reference");
    /* fc1 (W, b) and fc2's b: the same floats; everything within 1e-6 of the keeping path
     * and 1e-5 of the reference */
    const spk__tensor *tw1 = &net->tensors[net->nodes[a].t_w], *tb1 = &net->tensors[net->nodes[a].t_b];
    const spk__tensor *tw2 = &net->tensors[net->nodes[d].t_w], *tb2 = &net->tensors[net->nodes[d].t_b];
    CHECK_MSG(memcmp(grads[0] + tw1->off, grads[1] + tw1->off, tw1->numel * sizeof(float)) == 0 &&
                  memcmp(grads[0] + tb1->off, grads[1] + tb1->off, tb1->numel * sizeof(float)) == 0 &&
                  memcmp(grads[0] + tb2->off, grads[1] + tb2->off, tb2->numel * sizeof(float)) == 0,
              "%s: fc1's gradients or fc2's bias gradient differ from the keeping path", name);
    for (int p = 0; learn && p < 2; p++) {
        const spk__tensor *tp = &net->tensors[net->nodes[l1].t_np[p ? SPK_NP_THR : SPK_NP_LAM]];
        CHECK_MSG(memcmp(grads[0] + tp->off, grads[1] + tp->off, tp->numel * sizeof(float)) == 0,
                  "%s: l1's %s gradients differ from the keeping path", name, p ? "threshold" : "decay");
    }
    double gmax = 0, spikes = 0;
    for (size_t q = 0; q < ng; q++) gmax = fmax(gmax, fabs(grads[2][q]));
    for (size_t q = 0; q < n1; q++) spikes += sig[0][0][q];
    const double e1 = tu_max_abs_diff(grads[0], grads[1], ng) / gmax, e2 = tu_max_abs_diff(grads[0], grads[2], ng) / gmax;
    const double ew = tu_max_abs_diff(grads[0] + tw2->off, grads[1] + tw2->off, tw2->numel) / gmax;
    CHECK_MSG(gmax > 0 && e1 < 1e-6 && e2 < 1e-5, "%s: gradients differ by %g (keeping) / %g (reference) of the largest", name,
              e1, e2);
    CHECK_MSG(spikes > 0.05 * n1 && spikes < 0.95 * n1, "%s: l1 fired %.0f of %zu: the test needs a mix", name, spikes, n1);
    printf("%-18s l1 %.0f spikes; signals and fc1 gradients identical; fc2 weights within %.1e, all within %.1e / %.1e\n", name,
           spikes, ew, e1, e2);
    for (int mode = 0; mode < 3; mode++) {
        for (int j = 0; j < 6; j++) free(sig[mode][j]);
        free(grads[mode]);
    }
    spk_net_set_training(net, 0, 0);
    free(x), free(seed1), free(seed2);
    spk_net_free(net);
}

/* A recurrent cell run as one block (cell.c): in -> fc1 (100 -> 64) -> r (LIF) <-> w_rec
 * (64 -> 64, delayed) -> fc2 (64 -> 12) -> out, against the same network run step by step
 * (net->no_cell) and against the reference path; and on one thread against all of them. The
 * forward sums are exact (dyadic weights): r's spikes and membranes, w_rec's output and the
 * readout are IDENTICAL in every mode; the gradients are the same floats on one thread and
 * on several, and within 1e-5 of the largest of the other paths (w_rec's and fc2's input
 * gradients, which the cell computes, sum in another order). k: truncated BPTT window; seed: gradient seeds on r's spikes and
 * membrane; learn: r's decays and thresholds learnable. B = 21: two full blocks of rows and
 * a part, spread over the threads. */
static void test_cell(const char *name, int k, int seed, int learn, float thr) {
    int id[6];
    spk_net *net = rec_net(100, 64, 12, thr, learn, 4, id);
    const int r = id[2], w = id[3], d = id[4], o = id[5];
    const int T = 50, B = 21, threads = spk_get_threads();
    float *x = bernoulli((size_t)T * B * 100, 0.1f, 9);
    const size_t nr = (size_t)T * B * 64, no = (size_t)T * B * 12;
    float *seed_r = malloc(nr * sizeof(float)), *seed_o = malloc(no * sizeof(float));
    for (size_t q = 0; q < nr; q++) seed_r[q] = spk_rng_uniform((spk_rng){9, 14}, 0, q, 0) - 0.5f;
    for (size_t q = 0; q < no; q++) seed_o[q] = spk_rng_uniform((spk_rng){9, 15}, 0, q, 0) - 0.5f;
    const int nodes[5] = {r, r, w, o, o};
    const spk_signal sg[5] = {SPK_SIGNAL_OUT, SPK_SIGNAL_MEM, SPK_SIGNAL_OUT, SPK_SIGNAL_OUT, SPK_SIGNAL_MEM};
    float *sig[4][5], *grads[4];
    /* a backward with a gradient seeded on w_rec's output first: what it leaves in the output
     * gradients must not reach the runs below (their zero_grad leaves it pending: the cell
     * then sets those gradients, every step of them) */
    CHECK_OK(spk_net_forward(net, T, B, x));
    /* (w_rec's output of this first forward, which kept no CSR, is written row by row; later
     * ones from the CSR the cell made) */
    float *w_first = malloc(nr * sizeof(float));
    memcpy(w_first, spk_net_signal(net, w, SPK_SIGNAL_OUT), nr * sizeof(float));
    spk_net_zero_grad(net);
    CHECK_OK(spk_net_seed_grad(net, w, SPK_SIGNAL_OUT, seed_r));
    CHECK_OK(spk_net_backward(net));
    size_t ng = 0;
    for (int mode = 0; mode < 4; mode++) { /* cell, cell on one thread, step by step, reference */
        CHECK_OK(spk_set_threads(mode == 1 ? 1 : threads));
        net->no_cell = mode == 2;
        spk_net_set_reference(net, mode == 3);
        CHECK_OK(spk_net_forward(net, T, B, x));
        CHECK_MSG(mode > 1 || (net->nodes[r].cell_rec == w && net->nodes[r].n_cell_dx == 1 && net->nodes[r].cell_dx[0] == d),
                  "%s: r does not run as a cell computing fc2's input gradient", name);
        /* (the cell's forward made w_rec's CSR of r's spikes, and fc2 reads it; the warm-up
         * forward above told the cell how much room its threads need) */
        CHECK_MSG(mode > 1 || net->nodes[w].csr_ok, "%s: the cell made no CSR of r's spikes", name);
        CHECK_MSG(mode > 1 || !spk_op_dense_prefer_sparse(0, T * B, 64, 12, 0) || net->nodes[d].csr_at == &net->nodes[w].csr,
                  "%s: fc2 does not read the cell's CSR of r's spikes", name); /* (where its sparse kernels apply) */
        CHECK_MSG(mode < 2 || net->nodes[r].cell_rec < 0, "%s: r runs as a cell in mode %d", name, mode);
        /* (signals read after the parameters changed: still the forward's; w_rec's output is
         * written then) */
        float *snap = mode == 0 ? halve_params(net) : NULL;
        for (int j = 0; j < 5; j++) {
            const size_t n = j < 3 ? nr : no;
            sig[mode][j] = malloc(n * sizeof(float));
            memcpy(sig[mode][j], spk_net_signal(net, nodes[j], sg[j]), n * sizeof(float));
        }
        if (snap) restore_params(net, snap);
        grads[mode] = seeded_backward(net, o, seed_o, r, seed ? seed_r : NULL, k, &ng);
    }
    CHECK_OK(spk_set_threads(threads));
    net->no_cell = 0;
    spk_net_set_reference(net, 0);
    for (int mode = 1; mode < 4; mode++)
        for (int j = 0; j < 5; j++)
            CHECK_MSG(memcmp(sig[0][j], sig[mode][j], (j < 3 ? nr : no) * sizeof(float)) == 0, "%s: signal %d differs in mode %d",
                      name, j, mode);
    CHECK_MSG(memcmp(w_first, sig[0][2], nr * sizeof(float)) == 0, "%s: w_rec's output written row by row differs", name);
    free(w_first);
    CHECK_MSG(memcmp(grads[0], grads[1], ng * sizeof(float)) == 0, "%s: the gradients on one thread differ from those on %d",
              name, threads);
    double gmax = 0, spikes = 0;
    for (size_t q = 0; q < ng; q++) gmax = fmax(gmax, fabs(grads[3][q]));
    for (size_t q = 0; q < nr; q++) spikes += sig[0][0][q];
    const double e2 = tu_max_abs_diff(grads[0], grads[2], ng) / gmax, e3 = tu_max_abs_diff(grads[0], grads[3], ng) / gmax;
    CHECK_MSG(gmax > 0 && e2 < 1e-5 && e3 < 1e-5, "%s: gradients differ by %g (step by step) / %g (reference) of the largest",
              name, e2, e3);
    CHECK_MSG(spikes > 0.01 * nr && spikes < 0.95 * nr, "%s: r fired %.0f of %zu: the test needs a mix", name, spikes, nr);
    printf("%-12s r %.0f spikes; signals identical, gradients the same on 1 and %d threads, within %.1e / %.1e\n", name, spikes,
           threads, e2, e3);
    for (int mode = 0; mode < 4; mode++) {
        for (int j = 0; j < 5; j++) free(sig[mode][j]);
        free(grads[mode]);
    }
    free(x), free(seed_r), free(seed_o);
    spk_net_free(net);
}

/* A population read by two dense layers is compressed once (exec.c, use_sparse: the second
 * layer reads the first one's CSR of the same array): in -> fc1 -> l1 -> {fa, fb} -> out (the
 * two summed). The second layer's CSR is the first's, and outputs and gradients match the
 * reference path (identical outputs; gradients within 1e-5). */
static void test_shared_csr(void) {
    spk_net *net;
    int in, a, l1, fa, fb, o;
    spk_neuron_config c = lif(0.9f, SPK_RESET_SOFT);
    c.thr = 0.5f; /* a sparse population: both layers take the sparse kernels */
    CHECK_OK(spk_net_create(&net));
    CHECK_OK(spk_net_add_input(net, "in", 1, (int[]){100}, &in));
    CHECK_OK(spk_net_add_dense(net, "fc1", 100, 64, 1, &a));
    CHECK_OK(spk_net_add_neuron(net, "l1", &c, 1, (int[]){64}, &l1));
    CHECK_OK(spk_net_add_dense(net, "fa", 64, 40, 1, &fa));
    CHECK_OK(spk_net_add_dense(net, "fb", 64, 40, 1, &fb));
    CHECK_OK(spk_net_add_neuron(net, "out", &c, 1, (int[]){40}, &o));
    CHECK_OK(spk_net_connect(net, in, a));
    CHECK_OK(spk_net_connect(net, a, l1));
    CHECK_OK(spk_net_connect(net, l1, fa));
    CHECK_OK(spk_net_connect(net, l1, fb));
    CHECK_OK(spk_net_connect(net, fa, o));
    CHECK_OK(spk_net_connect(net, fb, o));
    CHECK_OK(spk_net_build(net, (spk_rng){8, 0}));
    dyadic_params(net, 8);
    const int T = 20, B = 9;
    float *x = bernoulli((size_t)T * B * 100, 0.08f, 12);
    spk_net_set_reference(net, 0);
    CHECK_OK(spk_net_forward(net, T, B, x));
    const float *s1 = spk_net_signal(net, l1, SPK_SIGNAL_OUT);
    double spikes = 0;
    for (size_t k = 0; k < (size_t)T * B * 64; k++) spikes += s1[k];
    const double dens = spikes / ((double)T * B * 64);
    CHECK_MSG(dens > 0.005 && dens < 0.1, "shared CSR: l1's density %.3f: the test needs a sparse population", dens);
    CHECK_MSG(net->nodes[fb].csr_ok && net->nodes[fb].csr_at == &net->nodes[fa].csr, "shared CSR: fb compressed l1 again");
    compare("shared-csr", net, o, T, B, x);
    free(x);
    spk_net_free(net);
}

/* A spiking input read by one dense layer alone is not copied (exec.c: out_lazy): the layer
 * compresses it from the caller's array. Checked at three densities (the layer's forward and
 * weight gradient both sparse; forward sparse and weight gradient dense; both dense) with the
 * caller's array overwritten by NaN right after the forward: the input signal read afterwards
 * is the original, every output is identical to the reference path's and the gradients agree
 * (so nothing read the array after the forward). */
static void test_lazy_input(double density) {
    int id[6];
    spk_net *net = mlp_net(0, 0, 10, 6, id);
    const int in = id[0], o = id[4];
    const int T = 20, B = 9;
    const size_t nx = (size_t)T * B * 100, no = (size_t)T * B * 10;
    float *x0 = bernoulli(nx, (float)density, 11), *x = malloc(nx * sizeof(float)), *seed = malloc(no * sizeof(float));
    for (size_t k = 0; k < no; k++) seed[k] = spk_rng_uniform((spk_rng){9, 16}, 0, k, 0) - 0.5f;
    float *outs[2], *grads[2];
    size_t ng = 0;
    int lazy = 0, same_in = 1;
    for (int mode = 0; mode < 2; mode++) { /* not copied, reference */
        memcpy(x, x0, nx * sizeof(float));
        spk_net_set_reference(net, mode == 1);
        CHECK_OK(spk_net_forward(net, T, B, x));
        if (mode == 0) lazy = net->nodes[in].out_lazy;
        for (size_t k = 0; k < nx; k++) x[k] = NAN; /* the caller's array is the caller's again */
        same_in &= memcmp(spk_net_signal(net, in, SPK_SIGNAL_OUT), x0, nx * sizeof(float)) == 0;
        outs[mode] = malloc(no * sizeof(float));
        memcpy(outs[mode], spk_net_signal(net, o, SPK_SIGNAL_MEM), no * sizeof(float));
        spk_net_zero_grad(net);
        CHECK_OK(spk_net_seed_grad(net, o, SPK_SIGNAL_MEM, seed));
        CHECK_OK(spk_net_backward(net));
        const float *g = spk_net_grads(net, &ng);
        grads[mode] = malloc(ng * sizeof(float));
        memcpy(grads[mode], g, ng * sizeof(float));
    }
    spk_net_set_reference(net, 0);
    /* (at 0.6 the layer takes its dense path: the input is written out during the forward) */
    CHECK_MSG(density < 0.35 ? lazy : !lazy, "input at density %.2f: %s after the forward", density, lazy ? "not written" : "written");
    CHECK_MSG(same_in, "input at density %.2f: its signal after the forward is not the input given", density);
    CHECK_MSG(memcmp(outs[0], outs[1], no * sizeof(float)) == 0, "input at density %.2f: the readout differs from the reference path",
              density);
    double gmax = 0;
    for (size_t k = 0; k < ng; k++) gmax = fmax(gmax, fabs(grads[1][k]));
    const double e = tu_max_abs_diff(grads[0], grads[1], ng) / gmax;
    CHECK_MSG(gmax > 0 && e < 1e-5, "input at density %.2f: gradients differ from the reference path by %g", density, e);
    printf("input not copied, density %.2f: signal and readout identical, gradients within %.1e\n", density, e);
    for (int mode = 0; mode < 2; mode++) free(outs[mode]), free(grads[mode]);
    free(x0), free(x), free(seed);
    spk_net_free(net);
}

/* spk_net_set_static_input: one step given equals that step repeated T times, bit for bit
 * (outputs of every node kind on the way and the gradients), on a conv network. */
static void test_one_step_input(void) {
    int id[8];
    spk_net *net = conv_net(0.9f, 0, 10, 5, 0, id);
    const int l2 = id[6];
    const int T = 7, B = 3;
    const size_t row = (size_t)B * 200;
    float *one = bernoulli(row, 0.4f, 6), *full = malloc((size_t)T * row * sizeof(float));
    for (int t = 0; t < T; t++) memcpy(full + (size_t)t * row, one, row * sizeof(float));
    const int nn = spk_net_node_count(net);
    float *outs[2][8] = {{0}}, *grads[2];
    size_t no[8] = {0}, ng = 0;
    for (int mode = 0; mode < 2; mode++) {
        spk_net_set_static_input(net, mode == 1);
        CHECK_OK(spk_net_forward(net, T, B, mode ? one : full));
        for (int v = 0; v < nn && v < 8; v++) {
            int dims[SPK_MAX_DIMS], nd = spk_net_node_shape(net, v, dims);
            no[v] = (size_t)T * B;
            for (int q = 0; q < nd; q++) no[v] *= (size_t)dims[q];
            outs[mode][v] = malloc(no[v] * sizeof(float));
            memcpy(outs[mode][v], spk_net_signal(net, v, SPK_SIGNAL_OUT), no[v] * sizeof(float));
        }
        spk_net_zero_grad(net);
        float *seed = malloc(no[l2] * sizeof(float));
        for (size_t q = 0; q < no[l2]; q++) seed[q] = spk_rng_uniform((spk_rng){9, 13}, 0, q, 0) - 0.5f;
        CHECK_OK(spk_net_seed_grad(net, l2, SPK_SIGNAL_MEM, seed));
        CHECK_OK(spk_net_backward(net));
        free(seed);
        const float *g = spk_net_grads(net, &ng);
        grads[mode] = malloc(ng * sizeof(float));
        memcpy(grads[mode], g, ng * sizeof(float));
    }
    spk_net_set_static_input(net, 0);
    for (int v = 0; v < nn && v < 8; v++)
        CHECK_MSG(memcmp(outs[0][v], outs[1][v], no[v] * sizeof(float)) == 0, "one-step input: node %d's output differs", v);
    CHECK_MSG(memcmp(grads[0], grads[1], ng * sizeof(float)) == 0, "one-step input: the gradients differ");
    printf("one-step input: %d nodes' outputs and %zu gradients identical to the repeated input\n", nn, ng);
    for (int mode = 0; mode < 2; mode++) {
        for (int v = 0; v < 8; v++) free(outs[mode][v]);
        free(grads[mode]);
    }
    free(one), free(full);
    spk_net_free(net);
}

int main(void) {
    test_rec();
    test_conv("conv", 0, 0, -1, 40, 0);
    test_conv("conv-static", 1, 0, -1, 40, 0);
    test_conv("conv-static-flat", 1, 1, 0, 40, 0);
    test_conv("conv-static-read", 1, 0, 1, 40, 0);
    test_conv("conv-narrow", 0, 0, -1, 10, 0);
    test_conv("conv-narrow-seed", 1, 0, 2, 10, 0);
    test_conv("conv-narrow-drop", 1, 0, 2, 10, 1);
    test_conv("conv-narrow-flat", 1, 1, -1, 10, 0);
    test_conv("conv-narrow-flatseed", 0, 0, 3, 10, 1);
    test_mlp_static("mlp", 0, -1, 40);
    test_mlp_static("mlp-learn", 1, 0, 40);
    test_mlp_static("mlp-seed", 0, 1, 40);
    test_mlp_static("mlp-narrow", 0, -1, 10);
    test_mlp_static("mlp-narrow-learn", 1, -1, 16);
    test_mlp_static("mlp-narrow-seed", 0, 2, 10);
    test_recompute("recompute", 1, 0, 0, 10, 0, 0);
    test_recompute("recompute-steps", 0, 0, 0, 16, 0, 0);
    test_recompute("recompute-tbptt", 1, 4, 1, 10, 0, 0);
    test_recompute("recompute-seed", 0, 0, 1, 3, 0, 0);
    test_recompute("recompute-learn", 1, 0, 1, 10, 1, 0);
    test_recompute("recompute-drop", 1, 0, 1, 10, 0, 1);
    test_recompute("recompute-drop-off", 0, 0, 0, 10, 0, 2);
    test_recompute("recompute-drop-learn", 1, 5, 1, 12, 1, 1);
    test_one_step_input();
    test_shared_csr();
    test_lazy_input(0.05);
    test_lazy_input(0.2);
    test_lazy_input(0.6);
    test_cell("cell", 0, 0, 0, 0.25f);
    test_cell("cell-seed", 0, 1, 0, 0.25f);
    test_cell("cell-tbptt", 7, 1, 0, 0.25f);
    test_cell("cell-learn", 0, 1, 1, 0.25f);
    test_cell("cell-learn-tbptt", 10, 0, 1, 0.25f);
    test_cell("cell-sparse", 0, 1, 0, 0.6f); /* (w_rec's weight gradient from the cell's CSR) */
    return tu_finish("test_fastpath");
}
