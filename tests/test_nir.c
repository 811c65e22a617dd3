/* test_nir.c — reading and writing NIR files (src/io/nir.c) against shared/fixtures/nir:
 *   - every snnTorch-exported network, run on its recorded input, reproduces snnTorch's own
 *     import of that file (nir_import_snntorch/: spikes exactly, membranes within 1e-5),
 *     including the gzip-compressed layout written by NIR HEAD;
 *   - the NIR paper's single-neuron test (lif_norse.nir spikes at 460, 510, 710, 760) and
 *     two_lif_neurons.nir (a leak potential above threshold fires by itself with the
 *     closed-form period);
 *   - the paper's graphs from other frameworks and every directly written primitive load
 *     with the right node counts and shapes, and run; the non-spiking primitives match their
 *     closed forms under both discretizations;
 *   - spk -> NIR -> spk round trips are bit-exact (parameters and every output), for the
 *     fixtures and for a network built in spk with what NIR cannot say (subtract reset,
 *     delayed timing, a conv without bias, dropout, merge);
 *   - unsupported primitives and malformed or truncated files are refused with a message. */
#define _POSIX_C_SOURCE 200809L
#include "testutil.h"
#include "h5read.h"

#include <hdf5.h>
#include <stdarg.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static char tmpdir[256];
static void write_str(hid_t g, const char *name, const char *s);

static const char *fx(const char *rel) {
    static char buf[4][1024];
    static int k;
    const char *p = tu_fixture_path(rel);
    if (!p) return NULL;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s", p);
    return buf[k];
}

static size_t numel(const spk_net *net, int node) {
    int d[SPK_MAX_DIMS], nd = spk_net_node_shape(net, node, d);
    size_t n = 1;
    for (int i = 0; i < nd; i++) n *= (size_t)d[i];
    return nd ? n : 0;
}

/* ---- snnTorch-exported networks reproduce snnTorch's import of them ---------------------- */

static void snntorch_export(const char *name, const char *nirfile) {
    char h5[256], nir[256];
    snprintf(h5, sizeof h5, "net/%s.h5", name);
    snprintf(nir, sizeof nir, "%s", nirfile);
    const char *hp = fx(h5), *np = fx(nir);
    if (!hp || !np) return;
    spk_nir_graph g;
    spk_status st = spk_nir_read(np, NULL, &g);
    CHECK_MSG(st == SPK_OK, "%s: %s", np, spk_errmsg(NULL));
    if (st) return;
    size_t n, outn;
    int nd;
    size_t dims[8];
    float *x = h5_read_floats(hp, "input", &n, &nd, dims);
    float *ref_s = h5_read_floats(hp, "nir_import_snntorch/output_spikes", &outn, NULL, NULL);
    float *ref_m = h5_read_floats(hp, "nir_import_snntorch/output_mem", &outn, NULL, NULL);
    CHECK(x && ref_s && ref_m);
    if (x && ref_s && ref_m) {
        int T = (int)dims[0], B = (int)dims[1];
        CHECK_OK(spk_net_forward(g.net, T, B, x));
        CHECK(numel(g.net, g.output) * (size_t)T * B == outn);
        const float *s = spk_net_signal(g.net, g.output, SPK_SIGNAL_OUT), *m = spk_net_signal(g.net, g.output, SPK_SIGNAL_MEM);
        size_t bad = 0;
        for (size_t i = 0; i < outn; i++) bad += s[i] != ref_s[i];
        CHECK_MSG(bad == 0, "%s: %zu of %zu output spikes differ from snnTorch's import", nir, bad, outn);
        double dm = tu_max_abs_diff(m, ref_m, outn);
        CHECK_MSG(dm <= 1e-5, "%s: output membrane differs by %g", nir, dm);
        double total = 0;
        for (size_t i = 0; i < outn; i++) total += ref_s[i];
        CHECK_MSG(total > 0, "%s: the reference has no spikes (test would be vacuous)", nir);
        printf("  %-44s %zu spikes equal, membrane max diff %.2g\n", nir, outn, dm);
    }
    free(x);
    free(ref_s);
    free(ref_m);
    spk_nir_graph_free(&g);
}

/* ---- the NIR paper's single-neuron test -------------------------------------------------- */

static void lif_norse(void) {
    const char *p = fx("nir/paper/lif_norse.nir");
    if (!p) return;
    spk_nir_graph g;
    CHECK_OK(spk_nir_read(p, NULL, &g)); /* dt 1e-4, Euler: the defaults */
    if (!g.net) return;
    static const int in_steps[] = {60,  220, 270, 310, 320, 350, 370, 400, 410, 430, 440, 450, 460, 470, 480, 490, 500,
                                   510, 520, 530, 670, 680, 690, 700, 710, 720, 730, 740, 750, 760, 770, 780, 840, 850};
    enum { T = 1000 };
    float *x = calloc(T, sizeof(float));
    for (size_t i = 0; i < sizeof in_steps / sizeof *in_steps; i++) x[in_steps[i]] = 1.0f;
    CHECK_OK(spk_net_forward(g.net, T, 1, x));
    const float *s = spk_net_signal(g.net, g.output, SPK_SIGNAL_OUT);
    int got[16], k = 0;
    for (int t = 0; t < T && s; t++)
        if (s[t] != 0 && k < 16) got[k++] = t;
    CHECK_MSG(k == 4 && got[0] == 460 && got[1] == 510 && got[2] == 710 && got[3] == 760, "lif_norse spikes: %d (first %d %d %d %d)", k,
              k > 0 ? got[0] : -1, k > 1 ? got[1] : -1, k > 2 ? got[2] : -1, k > 3 ? got[3] : -1);
    free(x);
    spk_nir_graph_free(&g);
}

/* two_lif_neurons: lif1 has v_leak 1.2 > threshold 1 and no input: under forward Euler
 * v(t) = 1.2 * (1 - 0.99^(t+1)) until it crosses 1, then it resets to 0 and repeats. */
static void two_lif(void) {
    const char *p = fx("nir/paper/two_lif_neurons.nir");
    if (!p) return;
    spk_nir_graph g;
    CHECK_OK(spk_nir_read(p, NULL, &g));
    if (!g.net) return;
    enum { T = 1000 };
    float *x = calloc(T, sizeof(float));
    CHECK_OK(spk_net_forward(g.net, T, 1, x));
    const float *s = spk_net_signal(g.net, spk_net_find(g.net, "lif1"), SPK_SIGNAL_OUT);
    double v = 0;
    int bad = 0, count = 0;
    for (int t = 0; t < T && s; t++) {
        v = 0.99 * v + 0.01 * 1.2;
        int fire = v > 1.0;
        if (fire) v = 0, count++;
        bad += fire != (s[t] != 0);
    }
    CHECK_MSG(s && bad == 0 && count == 5, "two_lif: lif1 fires %d times, %d steps differ from the closed form", count, bad);
    free(x);
    spk_nir_graph_free(&g);
}

/* ---- loading: node counts, shapes, a run ---------------------------------------------------- */

static void load_and_run(const char *rel, int want_nir_nodes, int out_numel, const spk_nir_options *o) {
    const char *p = fx(rel);
    if (!p) return;
    spk_nir_graph g;
    spk_status st = spk_nir_read(p, o, &g);
    CHECK_MSG(st == SPK_OK, "%s: %s", rel, spk_errmsg(NULL));
    if (st) return;
    CHECK_MSG(g.n_nir_nodes == want_nir_nodes, "%s: %d NIR nodes, expected %d", rel, g.n_nir_nodes, want_nir_nodes);
    CHECK_MSG((int)numel(g.net, g.output) == out_numel, "%s: output has %zu values, expected %d", rel, numel(g.net, g.output), out_numel);
    size_t F = numel(g.net, g.input);
    enum { T = 30, B = 2 };
    float *x = malloc(sizeof(float) * T * B * F);
    for (size_t i = 0; i < (size_t)T * B * F; i++) x[i] = (float)((i * 2654435761u >> 7) % 4 == 0);
    CHECK_OK(spk_net_forward(g.net, T, B, x));
    const float *y = spk_net_signal(g.net, g.output, SPK_SIGNAL_OUT);
    int finite = y != NULL;
    for (size_t i = 0; y && i < (size_t)T * B * out_numel; i++) finite &= isfinite(y[i]);
    CHECK_MSG(finite, "%s: output not finite", rel);
    free(x);
    spk_nir_graph_free(&g);
}

static void shapes(void) {
    spk_nir_options one = spk_nir_options_default();
    load_and_run("nir/paper/braille_noDelay_bias_zero.nir", 7, 7, NULL);
    load_and_run("nir/paper/braille_noDelay_noBias_subtract.nir", 7, 7, NULL);
    one.dt = 1; /* Sinabs's IF integrates one unit per step: dt = 1 with r = 1 */
    load_and_run("nir/paper/cnn_sinabs.nir", 15, 10, &one);
    load_and_run("nir/paper/lif_rockpool.nir", 4, 1, NULL);
    load_and_run("nir/direct/all_primitives_chain.nir", 20, 8, NULL);
    load_and_run("nir/direct/nested_recurrent_subgraph.nir", 9, 2, NULL);
    /* CNN shapes, layer by layer */
    const char *p = fx("nir/paper/cnn_sinabs.nir");
    spk_nir_graph g;
    if (p && spk_nir_read(p, &one, &g) == SPK_OK) {
        static const struct { const char *node; int nd, d[3]; } want[] = {
            {"input", 3, {2, 34, 34}}, {"0", 3, {16, 16, 16}}, {"1", 3, {16, 16, 16}}, {"4", 3, {16, 8, 8}},
            {"7", 3, {8, 4, 4}},       {"8", 1, {128}},        {"9", 1, {256}},        {"12", 1, {10}}};
        for (size_t i = 0; i < sizeof want / sizeof *want; i++) {
            int d[SPK_MAX_DIMS], nd = spk_net_node_shape(g.net, spk_net_find(g.net, want[i].node), d);
            int ok = nd == want[i].nd;
            for (int k = 0; ok && k < nd; k++) ok = d[k] == want[i].d[k];
            CHECK_MSG(ok, "cnn_sinabs node '%s' has the wrong shape", want[i].node);
        }
        spk_nir_graph_free(&g);
    }
    /* the recurrent Braille layer is a cycle through lif1.w_rec */
    p = fx("nir/paper/braille_noDelay_bias_zero.nir");
    if (p && spk_nir_read(p, NULL, &g) == SPK_OK) {
        CHECK(spk_net_node_is_recurrent(g.net, spk_net_find(g.net, "lif1.lif")));
        CHECK(spk_net_node_is_recurrent(g.net, spk_net_find(g.net, "lif1.w_rec")));
        CHECK(!spk_net_node_is_recurrent(g.net, spk_net_find(g.net, "fc2")));
        spk_nir_graph_free(&g);
    }
    p = fx("nir/direct/nested_recurrent_subgraph.nir");
    if (p && spk_nir_read(p, NULL, &g) == SPK_OK) {
        CHECK(spk_net_node_is_recurrent(g.net, spk_net_find(g.net, "rnn.lif")));
        CHECK(spk_net_find(g.net, "rnn.w_rec") >= 0);
        spk_nir_graph_free(&g);
    }
}

/* ---- single primitives: every one loads; the stateless and integrating ones match their
 * closed forms ------------------------------------------------------------------------------ */

static const char *const singles[] = {"Affine",   "AvgPool2d", "Conv1d", "Conv2d", "CubaLI", "CubaLIF", "Delay", "Flatten_start0",
                                      "Flatten_start1", "I", "IF", "LI", "LIF", "Linear", "Scale", "SumPool2d", "Threshold"};

static float *param_of(const char *file, const char *node, const char *field, size_t *n) {
    char path[128];
    snprintf(path, sizeof path, "node/nodes/%s/%s", node, field);
    return h5_read_floats(file, path, n, NULL, NULL);
}

static void single_closed_forms(spk_nir_method method) {
    spk_nir_options o = spk_nir_options_default();
    o.method = method;
    const double dt = o.dt;
    enum { T = 40, B = 2, F = 8 };
    float x[T * B * F];
    for (int i = 0; i < T * B * F; i++) x[i] = (float)(((i * 7919) % 13) - 4) * 0.25f;
    const char *names[] = {"LI", "I", "Threshold", "Scale", "Delay", "CubaLI"};
    for (int k = 0; k < 6; k++) {
        char rel[128];
        snprintf(rel, sizeof rel, "nir/direct/single/%s.nir", names[k]);
        const char *p = fx(rel);
        if (!p) return;
        spk_nir_graph g;
        spk_status st = spk_nir_read(p, &o, &g);
        CHECK_MSG(st == SPK_OK, "%s: %s", rel, spk_errmsg(NULL));
        if (st) continue;
        CHECK_OK(spk_net_forward(g.net, T, B, x));
        const float *y = spk_net_signal(g.net, g.output, SPK_SIGNAL_OUT);
        size_t n;
        double err = 0;
        if (!strcmp(names[k], "LI")) {
            float *tau = param_of(p, "li", "tau", &n), *r = param_of(p, "li", "r", &n), *vl = param_of(p, "li", "v_leak", &n);
            for (int b = 0; b < B; b++)
                for (int f = 0; f < F; f++) {
                    double v = 0, a = method == SPK_NIR_EULER ? 1 - dt / tau[f] : exp(-dt / tau[f]), gi = 1 - a;
                    for (int t = 0; t < T; t++) {
                        v = a * v + gi * (r[f] * x[(t * B + b) * F + f] + vl[f]);
                        err = fmax(err, fabs(v - y[(t * B + b) * F + f]));
                    }
                }
            free(tau), free(r), free(vl);
        } else if (!strcmp(names[k], "I")) {
            float *r = param_of(p, "integrator", "r", &n);
            for (int b = 0; b < B; b++)
                for (int f = 0; f < F; f++) {
                    double v = 0;
                    for (int t = 0; t < T; t++) {
                        v += dt * r[f] * x[(t * B + b) * F + f];
                        err = fmax(err, fabs(v - y[(t * B + b) * F + f]));
                    }
                }
            free(r);
        } else if (!strcmp(names[k], "Threshold")) {
            float *th = param_of(p, "threshold", "threshold", &n);
            for (int i = 0; i < T * B * F; i++) err = fmax(err, fabs((x[i] > th[i % F] ? 1.0 : 0.0) - y[i]));
            free(th);
        } else if (!strcmp(names[k], "Scale")) {
            float *sc = param_of(p, "scale", "scale", &n);
            for (int i = 0; i < T * B * F; i++) err = fmax(err, fabs(x[i] * sc[i % F] - y[i]));
            free(sc);
        } else if (!strcmp(names[k], "Delay")) {
            float *d = param_of(p, "delay", "delay", &n);
            for (int t = 0; t < T; t++)
                for (int i = 0; i < B * F; i++) {
                    int s = (int)lround(d[i % F] / dt), ts = t - s;
                    double want = ts >= 0 ? x[ts * B * F + i] : 0.0;
                    err = fmax(err, fabs(want - y[t * B * F + i]));
                }
            free(d);
        } else { /* CubaLI: the current then the membrane, the membrane integrating the updated current */
            float *ts = param_of(p, "cubali", "tau_syn", &n), *tm = param_of(p, "cubali", "tau_mem", &n), *r = param_of(p, "cubali", "r", &n),
                  *w = param_of(p, "cubali", "w_in", &n), *vl = param_of(p, "cubali", "v_leak", &n);
            for (int b = 0; b < B; b++)
                for (int f = 0; f < F; f++) {
                    double I = 0, v = 0;
                    double as = method == SPK_NIR_EULER ? 1 - dt / ts[f] : exp(-dt / ts[f]);
                    double am = method == SPK_NIR_EULER ? 1 - dt / tm[f] : exp(-dt / tm[f]);
                    for (int t = 0; t < T; t++) {
                        I = as * I + (1 - as) * w[f] * x[(t * B + b) * F + f];
                        v = am * v + (1 - am) * (r[f] * I + vl[f]);
                        err = fmax(err, fabs(v - y[(t * B + b) * F + f]));
                    }
                }
            free(ts), free(tm), free(r), free(w), free(vl);
        }
        CHECK_MSG(err <= 1e-5, "%s (%s): max difference from the closed form %g", names[k], spk_nir_method_name(method), err);
        spk_nir_graph_free(&g);
    }
}

/* ---- round trips --------------------------------------------------------------------------- */

/* Write g's network, read it back, and compare every parameter and every node's outputs
 * bit for bit on the same input. */
static void round_trip(spk_net *net, int output, const char *what, const spk_nir_options *o) {
    char path[512];
    snprintf(path, sizeof path, "%s/rt.nir", tmpdir);
    spk_status st = spk_nir_write(path, net, output, o);
    CHECK_MSG(st == SPK_OK, "%s: write: %s", what, spk_errmsg(NULL));
    if (st) return;
    spk_nir_graph g2;
    st = spk_nir_read(path, o, &g2);
    CHECK_MSG(st == SPK_OK, "%s: read back: %s", what, spk_errmsg(NULL));
    if (st) return;
    CHECK_MSG(spk_net_node_count(g2.net) == spk_net_node_count(net), "%s: %d nodes back, %d written", what, spk_net_node_count(g2.net),
              spk_net_node_count(net));
    size_t n1, n2;
    float *p1 = spk_net_params(net, &n1), *p2 = spk_net_params(g2.net, &n2);
    CHECK_MSG(n1 == n2 && !memcmp(p1, p2, n1 * sizeof(float)), "%s: parameters differ after the round trip", what);
    CHECK(strcmp(spk_net_node_name(g2.net, g2.output), spk_net_node_name(net, output)) == 0);
    size_t F = numel(net, spk_net_find(net, spk_net_node_name(g2.net, g2.input)));
    enum { T = 25, B = 3 };
    float *x = malloc(sizeof(float) * T * B * F);
    for (size_t i = 0; i < (size_t)T * B * F; i++) x[i] = (float)((i * 2246822519u >> 9) % 5) * 0.4f;
    CHECK_OK(spk_net_forward(net, T, B, x));
    CHECK_OK(spk_net_forward(g2.net, T, B, x));
    int diff = 0;
    for (int v = 0; v < spk_net_node_count(net); v++) {
        int v2 = spk_net_find(g2.net, spk_net_node_name(net, v));
        if (v2 < 0 || numel(net, v) != numel(g2.net, v2)) {
            diff++;
            continue;
        }
        size_t cnt = (size_t)T * B * numel(net, v);
        for (int sig = 0; sig < 2; sig++) {
            const float *a = spk_net_signal(net, v, (spk_signal)sig), *b = spk_net_signal(g2.net, v2, (spk_signal)sig);
            if ((a == NULL) != (b == NULL) || (a && memcmp(a, b, cnt * sizeof(float)))) diff++;
        }
        if (spk_net_neuron(net, v)) {
            const spk_neuron_config *c1 = spk_neuron_get_config(spk_net_neuron(net, v)), *c2 = spk_neuron_get_config(spk_net_neuron(g2.net, v2));
            diff += c1->reset != c2->reset || c1->timing != c2->timing || c1->gain != c2->gain || c1->kind != c2->kind;
        }
    }
    CHECK_MSG(diff == 0, "%s: %d node outputs or configurations differ after the round trip", what, diff);
    free(x);
    spk_nir_graph_free(&g2);
    unlink(path);
}

static void round_trips(void) {
    spk_nir_options o = spk_nir_options_default();
    const char *files[32];
    int nf = 0;
    char rel[40][128];
    for (size_t i = 0; i < sizeof singles / sizeof *singles; i++) {
        snprintf(rel[nf], sizeof rel[nf], "nir/direct/single/%s.nir", singles[i]);
        files[nf] = rel[nf];
        nf++;
    }
    files[nf++] = "nir/direct/all_primitives_chain.nir";
    files[nf++] = "nir/direct/nested_recurrent_subgraph.nir";
    files[nf++] = "nir/snntorch_export/rleaky_recurrent.nir";
    files[nf++] = "nir/snntorch_export/cnn_avgpool.nir";
    files[nf++] = "nir/snntorch_export/synaptic.nir";
    files[nf++] = "nir/paper/two_lif_neurons.nir";
    for (int i = 0; i < nf; i++) {
        const char *p = fx(files[i]);
        if (!p) return;
        spk_nir_graph g;
        spk_status st = spk_nir_read(p, &o, &g);
        CHECK_MSG(st == SPK_OK, "%s: %s", files[i], spk_errmsg(NULL));
        if (st) continue;
        round_trip(g.net, g.output, files[i], &o);
        spk_nir_graph_free(&g);
    }
    /* a network built in spk, with what NIR cannot say (kept in spk's metadata) */
    for (int m = 0; m < 2; m++) {
        o.method = (spk_nir_method)m;
        spk_net *net;
        CHECK_OK(spk_net_create(&net));
        spk_neuron_config soft = spk_neuron_config_default(); /* snnTorch Leaky: subtract, delayed */
        soft.lam = 0.87f;
        spk_neuron_config cuba = spk_neuron_config_default();
        cuba.kind = SPK_NEURON_CUBA;
        cuba.reset = SPK_RESET_HARD_ALL;
        cuba.alpha = 0.6f;
        cuba.gain = 0.75f;
        spk_neuron_config li = spk_neuron_config_default();
        li.fire = SPK_FIRE_NONE;
        li.reset = SPK_RESET_NONE;
        int in, cv, l1, pool, fl, dr, d1, rec, l2, sc, dl, mg, d2, l3;
        CHECK_OK(spk_net_add_input(net, "in", 3, (int[]){2, 6, 6}, &in));
        CHECK_OK(spk_net_add_conv(net, "conv", 2, 2, 3, (int[]){3, 3}, NULL, (int[]){1, 1}, NULL, 1, 0, &cv));
        CHECK_OK(spk_net_add_neuron(net, "lif1", &soft, 3, (int[]){3, 6, 6}, &l1));
        CHECK_OK(spk_net_add_pool(net, "pool", 0, 2, (int[]){2, 2}, NULL, NULL, &pool));
        CHECK_OK(spk_net_add_flatten(net, "flat", &fl));
        CHECK_OK(spk_net_add_dropout(net, "drop", 0.25f, &dr));
        CHECK_OK(spk_net_add_dense(net, "fc1", 27, 10, 1, &d1));
        CHECK_OK(spk_net_add_neuron(net, "syn", &cuba, 1, (int[]){10}, &l2));
        CHECK_OK(spk_net_add_dense(net, "rec", 10, 10, 0, &rec));
        CHECK_OK(spk_net_add_scale(net, "scale", &sc));
        CHECK_OK(spk_net_add_delay(net, "delay", (const int32_t[]){2}, 1, &dl));
        CHECK_OK(spk_net_add_merge(net, "merge", &mg));
        CHECK_OK(spk_net_add_dense(net, "fc2", 10, 4, 1, &d2));
        CHECK_OK(spk_net_add_neuron(net, "readout", &li, 1, (int[]){4}, &l3));
        int E[][2] = {{in, cv}, {cv, l1}, {l1, pool}, {pool, fl}, {fl, dr}, {dr, d1}, {d1, l2}, {l2, rec}, {rec, l2},
                      {l2, sc}, {sc, dl}, {dl, mg}, {l2, mg}, {mg, d2}, {d2, l3}};
        for (size_t e = 0; e < sizeof E / sizeof *E; e++) CHECK_OK(spk_net_connect(net, E[e][0], E[e][1]));
        CHECK_OK(spk_net_set_learnable(net, l1, SPK_NP_THR, SPK_LEARN_PER_NEURON));
        CHECK_OK(spk_net_build(net, (spk_rng){7, 0}));
        size_t ns;
        float *s = spk_net_param(net, sc, "scale", &ns);
        for (size_t i = 0; s && i < ns; i++) s[i] = 0.5f + 0.1f * (float)i;
        float thr[108];
        for (int i = 0; i < 108; i++) thr[i] = 0.3f + 0.01f * (float)i;
        CHECK_OK(spk_neuron_set_param(spk_net_neuron(net, l1), SPK_NP_THR, thr, 108));
        round_trip(net, l3, m ? "spk-built network (exp)" : "spk-built network (euler)", &o);
        spk_net_free(net);
    }
}

/* Conv padding written as "same" / "valid" (newer NIR) reads as the numbers it stands for:
 * a conv written by spk with padding 1 (3x3, dilation 1) or 0 gets its padding dataset
 * replaced by the string, and the network read back computes the same outputs. */
static void padding_strings(void) {
    for (int k = 0; k < 2; k++) {
        const char *word = k ? "valid" : "same";
        spk_net *net;
        CHECK_OK(spk_net_create(&net));
        int in, cv, fl;
        CHECK_OK(spk_net_add_input(net, "in", 3, (int[]){2, 7, 7}, &in));
        CHECK_OK(spk_net_add_conv(net, "conv", 2, 2, 3, (int[]){3, 3}, NULL, (int[]){1 - k, 1 - k}, NULL, 1, 1, &cv));
        CHECK_OK(spk_net_add_flatten(net, "flat", &fl));
        CHECK_OK(spk_net_connect(net, in, cv));
        CHECK_OK(spk_net_connect(net, cv, fl));
        CHECK_OK(spk_net_build(net, (spk_rng){3, 0}));
        char path[512];
        snprintf(path, sizeof path, "%s/pad.nir", tmpdir);
        CHECK_OK(spk_nir_write(path, net, fl, NULL));
        hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
        hid_t g = H5Gopen2(f, "node/nodes/conv", H5P_DEFAULT);
        CHECK(H5Ldelete(g, "padding", H5P_DEFAULT) >= 0);
        write_str(g, "padding", word);
        H5Gclose(g);
        H5Fclose(f);
        spk_nir_graph back;
        spk_status st = spk_nir_read(path, NULL, &back);
        CHECK_MSG(st == SPK_OK, "padding '%s': %s", word, spk_errmsg(NULL));
        if (!st) {
            enum { T = 3, B = 2, F = 2 * 49 };
            float x[T * B * F];
            for (int i = 0; i < T * B * F; i++) x[i] = (float)((i * 37) % 11) * 0.1f;
            CHECK_OK(spk_net_forward(net, T, B, x));
            CHECK_OK(spk_net_forward(back.net, T, B, x));
            size_t n = numel(net, fl);
            CHECK_MSG(n == numel(back.net, back.output) &&
                          !memcmp(spk_net_signal(net, fl, SPK_SIGNAL_OUT), spk_net_signal(back.net, back.output, SPK_SIGNAL_OUT), T * B * n * sizeof(float)),
                      "padding '%s' read back differently", word);
            spk_nir_graph_free(&back);
        }
        spk_net_free(net);
        unlink(path);
    }
}

/* ---- what spk cannot run, and broken files ------------------------------------------------- */

static void write_str(hid_t g, const char *name, const char *s) {
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, H5T_VARIABLE);
    hid_t sp = H5Screate(H5S_SCALAR);
    hid_t d = H5Dcreate2(g, name, t, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5Dwrite(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, &s);
    H5Dclose(d);
    H5Sclose(sp);
    H5Tclose(t);
}

static void refusals(void) {
    char path[512];
    /* an unknown primitive: refused with its node name and type */
    snprintf(path, sizeof path, "%s/unknown.nir", tmpdir);
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    hid_t top = H5Gcreate2(f, "node", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    write_str(top, "type", "NIRGraph");
    hid_t nodes = H5Gcreate2(top, "nodes", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    hid_t a = H5Gcreate2(nodes, "weird", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    write_str(a, "type", "Resonator");
    H5Gclose(a);
    a = H5Gcreate2(nodes, "in", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    write_str(a, "type", "Input");
    int64_t shp = 3;
    hsize_t one = 1;
    hid_t sp = H5Screate_simple(1, &one, NULL);
    hid_t d = H5Dcreate2(a, "shape", H5T_STD_I64LE, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5Dwrite(d, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, &shp);
    H5Dclose(d);
    H5Sclose(sp);
    H5Gclose(a);
    a = H5Gcreate2(nodes, "out", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    write_str(a, "type", "Output");
    sp = H5Screate_simple(1, &one, NULL);
    d = H5Dcreate2(a, "shape", H5T_STD_I64LE, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5Dwrite(d, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, &shp);
    H5Dclose(d);
    H5Sclose(sp);
    H5Gclose(a);
    H5Gclose(nodes);
    hsize_t zero = 0;
    sp = H5Screate_simple(1, &zero, NULL); /* no edges: an empty float array, as nir writes it */
    d = H5Dcreate2(top, "edges", H5T_IEEE_F64LE, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5Dclose(d);
    H5Sclose(sp);
    H5Gclose(top);
    H5Fclose(f);
    spk_nir_graph g;
    spk_status st = spk_nir_read(path, NULL, &g);
    CHECK_MSG(st == SPK_ERR_UNSUPPORTED && strstr(spk_errmsg(NULL), "'weird'") && strstr(spk_errmsg(NULL), "Resonator"),
              "unknown primitive: %s: %s", spk_status_str(st), spk_errmsg(NULL));
    CHECK(g.net == NULL);

    /* not HDF5 at all */
    snprintf(path, sizeof path, "%s/text.nir", tmpdir);
    FILE *t = fopen(path, "w");
    fputs("not a NIR file\n", t);
    fclose(t);
    CHECK(spk_nir_read(path, NULL, &g) == SPK_ERR_FORMAT);
    CHECK(spk_nir_read("/nonexistent/x.nir", NULL, &g) == SPK_ERR_IO);
    spk_nir_options bad = spk_nir_options_default();
    bad.dt = -1;
    const char *p = fx("nir/snntorch_export/mlp_leaky.nir");
    if (p) CHECK(spk_nir_read(p, &bad, &g) == SPK_ERR_INVALID_ARG);
    /* Euler with dt longer than a time constant is refused (unstable) */
    bad.dt = 1e-2;
    if (p) CHECK_MSG(spk_nir_read(p, &bad, &g) == SPK_ERR_UNSUPPORTED && strstr(spk_errmsg(NULL), "tau"), "%s", spk_errmsg(NULL));

    /* truncated copies of a file: refused, never a crash */
    p = fx("nir/snntorch_export/rleaky_recurrent.nir");
    if (!p) return;
    FILE *in = fopen(p, "rb");
    fseek(in, 0, SEEK_END);
    long sz = ftell(in);
    fseek(in, 0, SEEK_SET);
    unsigned char *buf = malloc((size_t)sz);
    CHECK(fread(buf, 1, (size_t)sz, in) == (size_t)sz);
    fclose(in);
    int refused = 0, tried = 0;
    for (long cut = 0; cut < sz; cut += sz / 23 + 1) {
        tried++;
        snprintf(path, sizeof path, "%s/trunc.nir", tmpdir);
        FILE *o = fopen(path, "wb");
        fwrite(buf, 1, (size_t)cut, o);
        fclose(o);
        st = spk_nir_read(path, NULL, &g);
        if (st != SPK_OK && strlen(spk_errmsg(NULL)) > 0) refused++;
        if (st == SPK_OK) spk_nir_graph_free(&g);
        st = spk_nir_read_memory(buf, (size_t)cut, "image", NULL, &g);
        if (st == SPK_OK) spk_nir_graph_free(&g);
    }
    CHECK_MSG(refused == tried, "truncated files: %d of %d refused", refused, tried);
    /* a damaged global heap (where HDF5 keeps the strings: node types, edge names) is refused
     * before HDF5 reads it (HDF5 1.10 loops forever on a collection size that leaves an
     * object without room, and copies out of bounds for an object that overruns it) */
    {
        unsigned char *m = malloc((size_t)sz);
        long gcol = -1;
        for (long i = 0; i + 4 <= sz && gcol < 0; i++)
            if (!memcmp(buf + i, "GCOL", 4)) gcol = i;
        CHECK(gcol > 0);
        for (int k = 0; gcol > 0 && k < 2; k++) {
            memcpy(m, buf, (size_t)sz);
            if (k == 0) m[gcol + 8] ^= 0xff;      /* the collection's size */
            else m[gcol + 16 + 8 + 2] ^= 0x40;    /* the first object's size */
            st = spk_nir_read_memory(m, (size_t)sz, "damaged", NULL, &g);
            CHECK_MSG(st == SPK_ERR_FORMAT && strstr(spk_errmsg(NULL), "corrupt"), "damaged global heap %d: %s: %s", k, spk_status_str(st),
                      spk_errmsg(NULL));
            if (!st) spk_nir_graph_free(&g);
        }
        free(m);
    }
    /* the whole image reads from memory like the file */
    st = spk_nir_read_memory(buf, (size_t)sz, "image", NULL, &g);
    CHECK_MSG(st == SPK_OK && spk_net_node_count(g.net) == 6, "read from memory: %s", spk_errmsg(NULL));
    if (!st) spk_nir_graph_free(&g);
    free(buf);
    unlink(path);
}

/* an existing file is untouched when writing fails */
static void write_refusals(void) {
    const char *p = fx("nir/snntorch_export/mlp_leaky.nir");
    if (!p) return;
    spk_net *net;
    CHECK_OK(spk_net_create(&net));
    int in, pl, fl;
    CHECK_OK(spk_net_add_input(net, "in", 3, (int[]){1, 4, 4}, &in));
    CHECK_OK(spk_net_add_pool(net, "maxpool", 2, 2, (int[]){2, 2}, NULL, NULL, &pl));
    CHECK_OK(spk_net_add_flatten(net, "flat", &fl));
    CHECK_OK(spk_net_connect(net, in, pl));
    CHECK_OK(spk_net_connect(net, pl, fl));
    CHECK_OK(spk_net_build(net, (spk_rng){1, 0}));
    char path[512];
    snprintf(path, sizeof path, "%s/keep.nir", tmpdir);
    FILE *f = fopen(path, "w");
    fputs("previous", f);
    fclose(f);
    spk_status st = spk_nir_write(path, net, fl, NULL);
    CHECK_MSG(st == SPK_ERR_UNSUPPORTED && strstr(spk_errmsg(NULL), "maxpool"), "max pool export: %s", spk_errmsg(NULL));
    char back[16] = "";
    f = fopen(path, "r");
    CHECK(fgets(back, sizeof back, f) && !strcmp(back, "previous"));
    fclose(f);
    unlink(path);
    spk_net_free(net);
}

/* ---- the command line: spk run / info / import / export on a NIR file -------------------- */

static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...) {
    char cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    int rc = system(cmd);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : 128;
}

static float *load_npy(const char *path, size_t *n) {
    float *d = NULL;
    int nd;
    size_t dims[8];
    if (spk_npy_read(path, &d, &nd, dims)) return NULL;
    *n = 1;
    for (int i = 0; i < nd; i++) *n *= dims[i];
    return d;
}

static void cli(void) {
    const char *bin = getenv("SPK_BIN");
    const char *nir = fx("nir/snntorch_export/rleaky_recurrent.nir"), *h5 = fx("net/rleaky_recurrent.h5");
    if (!bin || !nir || !h5) {
        fprintf(stderr, "test_nir: SPK_BIN not set, command-line checks skipped\n");
        return;
    }
    size_t n, rn;
    int nd;
    size_t dims[8];
    float *x = h5_read_floats(h5, "input", &n, &nd, dims);
    float *ref = h5_read_floats(h5, "nir_import_snntorch/output_spikes", &rn, NULL, NULL);
    if (!x || !ref) return;
    char p[6][600];
    const char *names[6] = {"x.npy", "y.npy", "m.spk", "y2.npy", "back.nir", "y3.npy"};
    for (int i = 0; i < 6; i++) snprintf(p[i], sizeof p[i], "%s/%s", tmpdir, names[i]);
    CHECK_OK(spk_npy_write(p[0], x, nd, dims));
    CHECK(sh("%s info %s > %s/info.txt", bin, nir, tmpdir) == 0);
    CHECK(sh("grep -q 'NIR 1.0.7, 7 NIR nodes' %s/info.txt", tmpdir) == 0);
    CHECK(sh("%s run %s --input %s --output %s > /dev/null", bin, nir, p[0], p[1]) == 0);
    float *y = load_npy(p[1], &n);
    CHECK_MSG(y && n == rn && !memcmp(y, ref, n * sizeof(float)), "spk run X.nir: output differs from snnTorch's import");
    CHECK(sh("%s import %s -o %s > /dev/null", bin, nir, p[2]) == 0);
    CHECK(sh("%s run %s --input %s --output %s > /dev/null", bin, p[2], p[0], p[3]) == 0);
    float *y2 = load_npy(p[3], &n);
    CHECK_MSG(y && y2 && n == rn && !memcmp(y, y2, n * sizeof(float)), "imported model runs differently");
    CHECK(sh("%s export %s --to nir -o %s > /dev/null", bin, p[2], p[4]) == 0);
    CHECK(sh("%s run %s --input %s --output %s > /dev/null", bin, p[4], p[0], p[5]) == 0);
    float *y3 = load_npy(p[5], &n);
    CHECK_MSG(y && y3 && n == rn && !memcmp(y, y3, n * sizeof(float)), "exported file runs differently");
    /* refusals keep an existing output: a wrong input shape, a truncated file, a bad method */
    float z[3 * 2 * 5] = {0};
    size_t zd[3] = {3, 2, 5};
    char bad[600], keep[600];
    snprintf(bad, sizeof bad, "%s/bad.npy", tmpdir);
    snprintf(keep, sizeof keep, "%s/keep.npy", tmpdir);
    CHECK_OK(spk_npy_write(bad, z, 3, zd));
    FILE *f = fopen(keep, "w");
    fputs("keep", f);
    fclose(f);
    CHECK(sh("%s run %s --input %s --output %s 2>/dev/null", bin, nir, bad, keep) == 1);
    CHECK(sh("head -c 3000 %s > %s/trunc.nir", nir, tmpdir) == 0);
    CHECK(sh("%s run %s/trunc.nir --input %s --output %s 2>%s/err.txt", bin, tmpdir, p[0], keep, tmpdir) == 1);
    CHECK(sh("grep -q 'trunc.nir' %s/err.txt", tmpdir) == 0);
    CHECK(sh("%s run %s --input %s --output %s --method bogus 2>/dev/null", bin, nir, p[0], keep) == 2);
    char back[8] = "";
    f = fopen(keep, "r");
    CHECK(f && fgets(back, sizeof back, f) && !strcmp(back, "keep"));
    if (f) fclose(f);
    free(x), free(ref);
    spk_free(y), spk_free(y2), spk_free(y3);
}

int main(void) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/spk_test_nir_%ld", (long)getpid());
    char cmd[300];
    snprintf(cmd, sizeof cmd, "mkdir -p %s", tmpdir);
    if (system(cmd) != 0) return 1;
    if (!tu_fixture_path("nir/snntorch_export/mlp_leaky.nir")) {
        fprintf(stderr, "test_nir: fixtures not found (SPK_FIXTURES_DIR): skipped\n");
        return TU_SKIP;
    }
    snntorch_export("mlp_leaky", "nir/snntorch_export/mlp_leaky.nir");
    snntorch_export("mlp_leaky", "nir/compat/mlp_leaky_gzip_nirHEAD.nir");
    snntorch_export("rleaky_recurrent", "nir/snntorch_export/rleaky_recurrent.nir");
    snntorch_export("synaptic", "nir/snntorch_export/synaptic.nir");
    snntorch_export("cnn_avgpool", "nir/snntorch_export/cnn_avgpool.nir");
    lif_norse();
    two_lif();
    shapes();
    for (size_t i = 0; i < sizeof singles / sizeof *singles; i++) {
        char rel[128];
        snprintf(rel, sizeof rel, "nir/direct/single/%s.nir", singles[i]);
        int out = !strcmp(singles[i], "Affine") || !strcmp(singles[i], "Linear") || !strcmp(singles[i], "LIF") || !strcmp(singles[i], "CubaLIF") ? 16
                  : !strcmp(singles[i], "AvgPool2d") || !strcmp(singles[i], "SumPool2d")                                                       ? 72
                  : !strcmp(singles[i], "Conv1d") || !strcmp(singles[i], "Flatten_start0")                                                       ? 27
                  : !strcmp(singles[i], "Conv2d") || !strcmp(singles[i], "IF")                                                                    ? 2 * 144
                  : !strcmp(singles[i], "Flatten_start1")                                                                                        ? 18
                                                                                                                                                  : 8;
        load_and_run(rel, 3, out, NULL);
    }
    single_closed_forms(SPK_NIR_EULER);
    single_closed_forms(SPK_NIR_EXP);
    round_trips();
    padding_strings();
    refusals();
    write_refusals();
    cli();
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
    return tu_finish("test_nir");
}
