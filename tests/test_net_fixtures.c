/* test_net_fixtures.c — whole networks against snnTorch 0.9.4's recordings in
 * shared/fixtures/net/: build the same graph, load the recorded weights, run, and match
 * every layer's spikes exactly, membranes within 1e-5, the loss
 * L = sum_t CE(output_mem[t], targets) and every weight gradient within 1e-4 relative, for
 * both recorded surrogates. */
#include "testutil.h"
#include "h5read.h"
#include "core/core.h"
#include "ops/ops.h"

#include <string.h>

#define PI_D 3.14159265358979323846

typedef enum { NET_MLP, NET_RLEAKY, NET_SYNAPTIC, NET_CNN } net_kind;

typedef struct layer_ref {
    const char *node;   /* spk node name */
    const char *prefix; /* fixture layer name (layers/<prefix>/, params/<prefix>.beta) */
} layer_ref;

static const char *file_path;

static float *rd(const char *path, size_t want) { return tu_read_floats(file_path, path, want); }

static void copy_param(spk_net *net, const char *node, const char *which, const char *path) {
    size_t n = 0;
    float *dst = spk_net_param(net, spk_net_find(net, node), which, &n);
    CHECK_MSG(dst != NULL, "no %s.%s", node, which);
    float *src = rd(path, n);
    if (dst && src) memcpy(dst, src, n * sizeof(float));
    free(src);
}

static void set_neuron(spk_net *net, const char *node, const char *prefix) {
    spk_neuron *nr = spk_net_neuron(net, spk_net_find(net, node));
    int N = spk_neuron_size(nr);
    char path[128];
    const char *names[3] = {"beta", "threshold", "alpha"};
    const spk_neuron_param ps[3] = {SPK_NP_LAM, SPK_NP_THR, SPK_NP_ALPHA};
    for (int k = 0; k < 3; k++) {
        if (ps[k] == SPK_NP_ALPHA && !spk_neuron_get_param(nr, SPK_NP_ALPHA)) continue;
        snprintf(path, sizeof path, "params/%s.%s", prefix, names[k]);
        float *v = rd(path, (size_t)N);
        if (v) CHECK_OK(spk_neuron_set_param(nr, ps[k], v, N));
        free(v);
    }
}

static spk_net *build(net_kind kind, spk_surrogate_kind surr, float scale) {
    spk_net *net;
    CHECK_OK(spk_net_create(&net));
    spk_neuron_config c = spk_neuron_config_default(); /* snnTorch Leaky: soft, delayed, detached */
    c.surrogate = surr;
    c.surrogate_scale = scale;
    int in, a, b, d, e, f, g, h;
    if (kind == NET_CNN) {
        CHECK_OK(spk_net_add_input(net, "in", 3, (int[]){1, 12, 12}, &in));
        CHECK_OK(spk_net_add_conv(net, "conv", 2, 1, 4, (int[]){3, 3}, NULL, (int[]){1, 1}, NULL, 1, 1, &a));
        CHECK_OK(spk_net_add_neuron(net, "lif1", &c, 3, (int[]){4, 12, 12}, &b));
        CHECK_OK(spk_net_add_pool(net, "pool", SPK_POOL_AVG, 2, (int[]){2, 2}, NULL, NULL, &d));
        CHECK_OK(spk_net_add_flatten(net, "flat", &e));
        CHECK_OK(spk_net_add_dense(net, "fc", 144, 4, 1, &f));
        CHECK_OK(spk_net_add_neuron(net, "lif2", &c, 1, (int[]){4}, &g));
        int chain[7] = {in, a, b, d, e, f, g};
        for (int k = 0; k < 6; k++) CHECK_OK(spk_net_connect(net, chain[k], chain[k + 1]));
    } else {
        if (kind == NET_SYNAPTIC) {
            c.kind = SPK_NEURON_CUBA;
        }
        CHECK_OK(spk_net_add_input(net, "in", 1, (int[]){16}, &in));
        CHECK_OK(spk_net_add_dense(net, "0", 16, 32, 1, &a));
        CHECK_OK(spk_net_add_neuron(net, "1", &c, 1, (int[]){32}, &b));
        CHECK_OK(spk_net_add_dense(net, "2", 32, 4, 1, &d));
        CHECK_OK(spk_net_add_neuron(net, "3", &c, 1, (int[]){4}, &e));
        CHECK_OK(spk_net_connect(net, in, a));
        CHECK_OK(spk_net_connect(net, a, b));
        CHECK_OK(spk_net_connect(net, b, d));
        CHECK_OK(spk_net_connect(net, d, e));
        if (kind == NET_RLEAKY) { /* the recurrent all-to-all linear with bias: a cycle */
            CHECK_OK(spk_net_add_dense(net, "1.recurrent", 32, 32, 1, &h));
            CHECK_OK(spk_net_connect(net, b, h));
            CHECK_OK(spk_net_connect(net, h, b));
        }
    }
    (void)h;
    spk_status st = spk_net_build(net, (spk_rng){1, 0});
    CHECK_MSG(st == SPK_OK, "build: %s", spk_errmsg(net));
    return net;
}

static void run_file(const char *name, net_kind kind) {
    char rel[128];
    snprintf(rel, sizeof rel, "net/%s.h5", name);
    file_path = tu_fixture_path(rel);
    if (!file_path) exit(TU_SKIP);
    static char fp[4096];
    snprintf(fp, sizeof fp, "%s", file_path);
    file_path = fp;
    double Td, Bd;
    CHECK(h5_attr_double(file_path, "T", &Td) == 0 && h5_attr_double(file_path, "B", &Bd) == 0);
    int T = (int)Td, B = (int)Bd, C = 4;
    size_t nin = 0;
    float *x = h5_read_floats(file_path, "input", &nin, NULL, NULL);
    float *tg = rd("targets", (size_t)B);
    if (!x || !tg) return;
    int32_t labels[8];
    for (int b = 0; b < B; b++) labels[b] = (int32_t)tg[b];

    const char *surr_group[2] = {"atan_alpha2", "fast_sigmoid_slope25"};
    const spk_surrogate_kind surr[2] = {SPK_SURR_ATAN, SPK_SURR_FAST_SIGMOID};
    const float scales[2] = {(float)(2.0 / (PI_D * 2.0)), 25.0f};
    for (int si = 0; si < 2; si++) {
        spk_net *net = build(kind, surr[si], scales[si]);
        if (!spk_net_params(net, NULL)) { spk_net_free(net); return; }
        layer_ref layers[2];
        const char *dense[4];
        int nd;
        if (kind == NET_CNN) {
            layers[0] = (layer_ref){"lif1", "lif1"};
            layers[1] = (layer_ref){"lif2", "lif2"};
            dense[0] = "conv"; dense[1] = "fc"; nd = 2;
        } else {
            layers[0] = (layer_ref){"1", "1"};
            layers[1] = (layer_ref){"3", "3"};
            dense[0] = "0"; dense[1] = "2"; dense[2] = "1.recurrent"; nd = kind == NET_RLEAKY ? 3 : 2;
        }
        char path[160];
        for (int k = 0; k < nd; k++) {
            snprintf(path, sizeof path, "params/%s.weight", dense[k]);
            copy_param(net, dense[k], "weight", path);
            snprintf(path, sizeof path, "params/%s.bias", dense[k]);
            copy_param(net, dense[k], "bias", path);
        }
        for (int k = 0; k < 2; k++) set_neuron(net, layers[k].node, layers[k].prefix);
        if (kind == NET_RLEAKY) CHECK(spk_net_node_is_recurrent(net, spk_net_find(net, "1")));

        CHECK_OK(spk_net_forward(net, T, B, x));
        /* every neuron layer: spikes exact, membrane within 1e-5 */
        int bad_spk = 0;
        double mem_err = 0, syn_err = 0;
        for (int k = 0; k < 2; k++) {
            int id = spk_net_find(net, layers[k].node);
            int dims[SPK_MAX_DIMS], nd2 = spk_net_node_shape(net, id, dims);
            size_t n = (size_t)T * B;
            for (int q = 0; q < nd2; q++) n *= (size_t)dims[q];
            snprintf(path, sizeof path, "layers/%s/spk", layers[k].prefix);
            float *rs = rd(path, n);
            snprintf(path, sizeof path, "layers/%s/mem", layers[k].prefix);
            float *rm = rd(path, n);
            const float *s = spk_net_signal(net, id, SPK_SIGNAL_OUT), *m = spk_net_signal(net, id, SPK_SIGNAL_MEM);
            if (rs && rm && s && m) {
                for (size_t q = 0; q < n; q++) bad_spk += s[q] != rs[q];
                double e2 = tu_max_abs_diff(m, rm, n);
                mem_err = e2 > mem_err ? e2 : mem_err;
            }
            free(rs);
            free(rm);
        }
        (void)syn_err;
        CHECK_MSG(bad_spk == 0, "%s/%s: %d spikes differ", name, surr_group[si], bad_spk);
        CHECK_MSG(mem_err <= 1e-5, "%s/%s: membrane error %g", name, surr_group[si], mem_err);

        /* loss and gradients */
        int out = spk_net_find(net, layers[1].node);
        const float *mem = spk_net_signal(net, out, SPK_SIGNAL_MEM);
        float *g = calloc((size_t)T * B * C, sizeof(float));
        double loss = spk_loss_ce_mem(g, mem, labels, T, B, C, SPK_MEM_PER_STEP);
        snprintf(path, sizeof path, "grads/%s/loss", surr_group[si]);
        float *rl = rd(path, 1);
        double loss_rel = rl ? fabs(loss - rl[0]) / fabs(rl[0]) : 1;
        CHECK_MSG(loss_rel <= 1e-4, "%s/%s: loss %.8g vs %.8g", name, surr_group[si], loss, rl ? rl[0] : 0);
        free(rl);
        spk_net_zero_grad(net);
        CHECK_OK(spk_net_seed_grad(net, out, SPK_SIGNAL_MEM, g));
        CHECK_OK(spk_net_backward(net));
        double worst = 0;
        for (int k = 0; k < nd; k++)
            for (int wb = 0; wb < 2; wb++) {
                const char *which = wb ? "bias" : "weight";
                size_t n = 0;
                float *mine = spk_net_param_grad(net, spk_net_find(net, dense[k]), which, &n);
                snprintf(path, sizeof path, "grads/%s/%s.%s", surr_group[si], dense[k], which);
                float *ref = rd(path, n);
                if (mine && ref) {
                    double e2 = tu_max_rel_diff(mine, ref, n, 1e-6);
                    worst = e2 > worst ? e2 : worst;
                    CHECK_MSG(e2 <= 1e-4, "%s/%s: gradient of %s.%s off by %.3g (relative to its max)", name, surr_group[si], dense[k],
                              which, e2);
                }
                free(ref);
            }
        printf("%-18s %-22s spikes_differ=%d mem_abs=%.3g loss_rel=%.3g grad_rel=%.3g\n", name, surr_group[si], bad_spk, mem_err,
               loss_rel, worst);
        free(g);
        spk_net_free(net);
    }
    free(x);
    free(tg);
}

int main(void) {
    run_file("mlp_leaky", NET_MLP);
    run_file("rleaky_recurrent", NET_RLEAKY);
    run_file("synaptic", NET_SYNAPTIC);
    run_file("cnn_avgpool", NET_CNN);
    return tu_finish("test_net_fixtures");
}
