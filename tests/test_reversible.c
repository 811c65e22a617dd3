#define _DEFAULT_SOURCE /* mkstemp */
/* test_reversible.c — reversible spiking blocks (SPK_NODE_REVERSIBLE) against the same
 * computation built from ordinary nodes: the halves taken by fixed selection ops (dense or
 * 1x1 conv with 0/1 weights), per block F and G as dense/conv + neuron nodes added to the
 * streams by merge nodes, and the two streams joined again by selection ops into a merge.
 * Weights are multiples of 2^-6 and inputs are spikes, so every sum is exact in float and
 * the spikes of the two networks match exactly: outputs are compared for equality, the
 * gradients (weights, biases, the input) to float reassociation. Also: the reconstructed
 * block inputs equal the originals, the activation memory does not depend on the number of
 * blocks, the reference path, truncated BPTT, refusals, and a model file round trip. */
#include "testutil.h"
#include "net/net_impl.h"

#include <string.h>
#include <unistd.h>

typedef struct pair {
    spk_net *rev, *ord;
    int rev_node, rev_ro, ord_out, ord_ro;
    int *f, *g;   /* ordinary net: F's and G's op node of each block */
    int *nf, *ng; /* ... and their populations */
    int L, learn[2]; /* learn_beta, learn_threshold */
} pair;

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static double urand(void) {
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    return (double)(rng_state >> 11) / 9007199254740992.0;
}
static float dyadic(double lo, double hi) { return (float)(round((lo + (hi - lo) * urand()) * 64.0) / 64.0); }

static void fill_dyadic(float *w, size_t n, double lo, double hi) {
    for (size_t i = 0; i < n; i++) w[i] = dyadic(lo, hi);
}

/* A selection op: rows of `out` channels picking input channel off+c (take) or placing
 * channel c at off+c (put). Dense: W [out, in]; conv 1x1: W [cout, cin]. */
static void select_w(float *W, int out, int in, int off, int take) {
    memset(W, 0, (size_t)out * in * sizeof(float));
    if (take)
        for (int c = 0; c < out; c++) W[(size_t)c * in + off + c] = 1.0f;
    else
        for (int c = 0; c < in; c++) W[(size_t)(off + c) * in + c] = 1.0f;
}

static int add_op(spk_net *net, const char *name, int conv, int cin, int cout, int k, int bias) {
    int id = -1;
    if (!conv) CHECK_OK(spk_net_add_dense(net, name, cin, cout, bias, &id));
    else {
        int kk[2] = {k, k}, pad[2] = {k / 2, k / 2};
        CHECK_OK(spk_net_add_conv(net, name, 2, cin, cout, kk, NULL, pad, NULL, 1, bias, &id));
    }
    return id;
}

/* in [C(, H, W)] with C = 2*hc; L blocks; readout: (flatten,) dense -> 5 neurons. */
static void build_pair(pair *P, int conv, int hc, int H, int L, const spk_neuron_config *nc, int bias, int learn_beta, int learn_thr) {
    memset(P, 0, sizeof *P);
    P->L = L;
    P->learn[0] = learn_beta;
    P->learn[1] = learn_thr;
    int dims[3] = {2 * hc, H, H}, nd = conv ? 3 : 1;
    int feat = conv ? 2 * hc * H * H : 2 * hc;
    int k = 3, id, in;
    spk_reversible_config rc = spk_reversible_config_default();
    rc.blocks = L;
    rc.op = conv ? SPK_REV_CONV : SPK_REV_DENSE;
    rc.kernel = k;
    rc.bias = bias;
    rc.neuron = *nc;
    rc.learn_beta = learn_beta;
    rc.learn_threshold = learn_thr;
    /* reversible network */
    CHECK_OK(spk_net_create(&P->rev));
    CHECK_OK(spk_net_add_input(P->rev, "in", nd, dims, &in));
    CHECK_OK(spk_net_add_reversible(P->rev, "rev", &rc, &P->rev_node));
    CHECK_OK(spk_net_connect(P->rev, in, P->rev_node));
    int prev = P->rev_node;
    if (conv) {
        CHECK_OK(spk_net_add_flatten(P->rev, "flat", &id));
        CHECK_OK(spk_net_connect(P->rev, prev, id));
        prev = id;
    }
    CHECK_OK(spk_net_add_dense(P->rev, "ro", feat, 5, 1, &id));
    CHECK_OK(spk_net_connect(P->rev, prev, id));
    CHECK_OK(spk_net_add_neuron(P->rev, "ron", nc, 1, (int[]){5}, &P->rev_ro));
    CHECK_OK(spk_net_connect(P->rev, id, P->rev_ro));
    CHECK_OK(spk_net_build(P->rev, (spk_rng){7, 0}));
    /* the same from ordinary nodes */
    int hdims[3] = {hc, H, H};
    P->f = calloc((size_t)L, sizeof(int));
    P->g = calloc((size_t)L, sizeof(int));
    P->nf = calloc((size_t)L, sizeof(int));
    P->ng = calloc((size_t)L, sizeof(int));
    spk_net *o;
    CHECK_OK(spk_net_create(&o));
    P->ord = o;
    CHECK_OK(spk_net_add_input(o, "in", nd, dims, &in));
    int s1 = conv ? add_op(o, "s1", 1, 2 * hc, hc, 1, 0) : add_op(o, "s1", 0, 2 * hc, hc, 1, 0);
    int s2 = conv ? add_op(o, "s2", 1, 2 * hc, hc, 1, 0) : add_op(o, "s2", 0, 2 * hc, hc, 1, 0);
    CHECK_OK(spk_net_connect(o, in, s1));
    CHECK_OK(spk_net_connect(o, in, s2));
    int c1 = s1, c2 = s2;
    for (int b = 0; b < L; b++) {
        char nm[32];
        int nf, ng, m1, m2;
        snprintf(nm, sizeof nm, "f%d", b);
        P->f[b] = add_op(o, nm, conv, hc, hc, k, bias);
        snprintf(nm, sizeof nm, "nf%d", b);
        CHECK_OK(spk_net_add_neuron(o, nm, nc, nd, hdims, &nf));
        P->nf[b] = nf;
        snprintf(nm, sizeof nm, "y1_%d", b);
        CHECK_OK(spk_net_add_merge(o, nm, &m1));
        CHECK_OK(spk_net_connect(o, c2, P->f[b]));
        CHECK_OK(spk_net_connect(o, P->f[b], nf));
        CHECK_OK(spk_net_connect(o, c1, m1));
        CHECK_OK(spk_net_connect(o, nf, m1));
        snprintf(nm, sizeof nm, "g%d", b);
        P->g[b] = add_op(o, nm, conv, hc, hc, k, bias);
        snprintf(nm, sizeof nm, "ng%d", b);
        CHECK_OK(spk_net_add_neuron(o, nm, nc, nd, hdims, &ng));
        P->ng[b] = ng;
        for (int q = 0; q < 2 && (learn_beta || learn_thr); q++) {
            if (learn_beta) CHECK_OK(spk_net_set_learnable(o, q ? ng : nf, SPK_NP_LAM, learn_beta));
            if (learn_thr) CHECK_OK(spk_net_set_learnable(o, q ? ng : nf, SPK_NP_THR, learn_thr));
        }
        snprintf(nm, sizeof nm, "y2_%d", b);
        CHECK_OK(spk_net_add_merge(o, nm, &m2));
        CHECK_OK(spk_net_connect(o, m1, P->g[b]));
        CHECK_OK(spk_net_connect(o, P->g[b], ng));
        CHECK_OK(spk_net_connect(o, c2, m2));
        CHECK_OK(spk_net_connect(o, ng, m2));
        c1 = m1;
        c2 = m2;
    }
    int j1 = add_op(o, "j1", conv, hc, 2 * hc, 1, 0), j2 = add_op(o, "j2", conv, hc, 2 * hc, 1, 0);
    CHECK_OK(spk_net_add_merge(o, "out", &P->ord_out));
    CHECK_OK(spk_net_connect(o, c1, j1));
    CHECK_OK(spk_net_connect(o, c2, j2));
    CHECK_OK(spk_net_connect(o, j1, P->ord_out));
    CHECK_OK(spk_net_connect(o, j2, P->ord_out));
    prev = P->ord_out;
    if (conv) {
        CHECK_OK(spk_net_add_flatten(o, "flat", &id));
        CHECK_OK(spk_net_connect(o, prev, id));
        prev = id;
    }
    int ro;
    CHECK_OK(spk_net_add_dense(o, "ro", feat, 5, 1, &ro));
    CHECK_OK(spk_net_connect(o, prev, ro));
    CHECK_OK(spk_net_add_neuron(o, "ron", nc, 1, (int[]){5}, &P->ord_ro));
    CHECK_OK(spk_net_connect(o, ro, P->ord_ro));
    CHECK_OK(spk_net_build(o, (spk_rng){8, 0}));
    /* dyadic weights in the reversible net, copied into the ordinary one */
    size_t nw, nb, n;
    float *W = spk_net_param(P->rev, P->rev_node, "weight", &nw), *B = spk_net_param(P->rev, P->rev_node, "bias", &nb);
    fill_dyadic(W, nw, -0.75, 0.75);
    if (B) fill_dyadic(B, nb, -0.25, 0.5);
    size_t per = nw / (2 * (size_t)L), pb = bias ? nb / (2 * (size_t)L) : 0;
    for (int b = 0; b < L; b++)
        for (int q = 0; q < 2; q++) {
            int node = q ? P->g[b] : P->f[b];
            float *w = spk_net_param(o, node, "weight", &n);
            CHECK(n == per);
            memcpy(w, W + (2 * (size_t)b + q) * per, per * sizeof(float));
            if (bias) {
                float *bb = spk_net_param(o, node, "bias", &n);
                CHECK(n == pb);
                memcpy(bb, B + (2 * (size_t)b + q) * pb, pb * sizeof(float));
            }
        }
    select_w(spk_net_param(o, s1, "weight", NULL), hc, 2 * hc, 0, 1);
    select_w(spk_net_param(o, s2, "weight", NULL), hc, 2 * hc, hc, 1);
    select_w(spk_net_param(o, j1, "weight", NULL), 2 * hc, hc, 0, 0);
    select_w(spk_net_param(o, j2, "weight", NULL), 2 * hc, hc, hc, 0);
    float *rw = spk_net_param(P->rev, spk_net_find(P->rev, "ro"), "weight", &n);
    fill_dyadic(rw, n, -0.5, 0.5);
    memcpy(spk_net_param(o, ro, "weight", NULL), rw, n * sizeof(float));
    float *rb = spk_net_param(P->rev, spk_net_find(P->rev, "ro"), "bias", &n);
    fill_dyadic(rb, n, -0.25, 0.25);
    memcpy(spk_net_param(o, ro, "bias", NULL), rb, n * sizeof(float));
}

static void free_pair(pair *P) {
    spk_net_free(P->rev);
    spk_net_free(P->ord);
    free(P->f);
    free(P->g);
    free(P->nf);
    free(P->ng);
}

static double max_abs(const float *a, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++) m = fabs(a[i]) > m ? fabs(a[i]) : m;
    return m;
}

static int same(const float *a, const float *b, size_t n) { return memcmp(a, b, n * sizeof(float)) == 0; }

/* Largest |a - b| relative to max(|b|) (1 when b is all zeros). */
static double rel_err(const float *a, const float *b, size_t n) {
    double m = 0, s = max_abs(b, n);
    for (size_t i = 0; i < n; i++) m = fabs((double)a[i] - b[i]) > m ? fabs((double)a[i] - b[i]) : m;
    return m / (s > 0 ? s : 1.0);
}

/* forward both on spike input x, backward from a loss on the readout membrane */
static void run_both(pair *P, int T, int B, const float *x, int tbptt) {
    spk_net *nets[2] = {P->rev, P->ord};
    int ro[2] = {P->rev_ro, P->ord_ro};
    size_t cnt = (size_t)T * B * 5;
    float *seed = malloc(cnt * sizeof(float));
    for (size_t i = 0; i < cnt; i++) seed[i] = (float)(urand() - 0.5);
    for (int k = 0; k < 2; k++) {
        spk_net_want_input_grad(nets[k], 1);
        CHECK_OK(spk_net_forward(nets[k], T, B, x));
        spk_net_zero_grad(nets[k]);
        CHECK_OK(spk_net_seed_grad(nets[k], ro[k], SPK_SIGNAL_MEM, seed));
        CHECK_OK(spk_net_backward_truncated(nets[k], tbptt));
    }
    free(seed);
}

/* The gradient of a node's learnable neuron parameter ("lam", "thr") in the arena. */
static const float *np_grad(spk_net *net, int node, const char *which, size_t *numel) {
    for (int i = 0; i < net->n_tensors; i++) {
        const spk__tensor *t = &net->tensors[i];
        const char *dot = strrchr(t->name, '.');
        if (t->node == node && dot && !strcmp(dot + 1, which)) {
            *numel = t->numel;
            return net->grads + t->off;
        }
    }
    return NULL;
}

static void compare_learned(pair *P, const char *what) {
    static const char *const names[2] = {"lam", "thr"};
    for (int k = 0; k < 2; k++) {
        if (!P->learn[k]) continue;
        size_t n, m;
        const float *gr = np_grad(P->rev, P->rev_node, names[k], &n);
        CHECK_MSG(gr && n == (size_t)2 * P->L * (P->learn[k] == SPK_LEARN_SHARED ? 1 : n / (2 * (size_t)P->L)), "%s: tensor %s", what, names[k]);
        if (!gr) continue;
        size_t per = n / (2 * (size_t)P->L);
        double worst = 0, nz = 0;
        for (int p = 0; p < 2 * P->L; p++) {
            const float *go = np_grad(P->ord, p % 2 ? P->ng[p / 2] : P->nf[p / 2], names[k], &m);
            CHECK(go && m == per);
            if (!go) continue;
            double e = rel_err(gr + (size_t)p * per, go, per);
            worst = e > worst ? e : worst;
            nz += max_abs(go, per) > 0;
        }
        CHECK_MSG(worst < 1e-5, "%s: learned %s gradients rel. error %.3g", what, names[k], worst);
        CHECK_MSG(nz >= P->L, "%s: %g of %d learned %s gradients non-zero", what, nz, 2 * P->L, names[k]);
    }
}

static void compare(pair *P, int T, int B, int feat, const char *what) {
    compare_learned(P, what);
    size_t n, n2, cnt = (size_t)T * B * feat;
    const float *yr = spk_net_signal(P->rev, P->rev_node, SPK_SIGNAL_OUT), *yo = spk_net_signal(P->ord, P->ord_out, SPK_SIGNAL_OUT);
    CHECK_MSG(yr && yo && same(yr, yo, cnt), "%s: the reversible node's output differs from the ordinary network's", what);
    const float *mr = spk_net_signal(P->rev, P->rev_ro, SPK_SIGNAL_MEM), *mo = spk_net_signal(P->ord, P->ord_ro, SPK_SIGNAL_MEM);
    CHECK_MSG(same(mr, mo, (size_t)T * B * 5), "%s: readout membranes differ", what);
    double spikes = 0;
    for (size_t i = 0; i < cnt; i++) spikes += yr[i];
    CHECK_MSG(spikes > 0, "%s: the streams carry something", what);
    const float *gr = spk_net_input_grad(P->rev), *go = spk_net_input_grad(P->ord);
    CHECK_MSG(gr && go && max_abs(go, cnt) > 0, "%s: an input gradient exists and is not zero", what);
    if (gr && go) CHECK_MSG(rel_err(gr, go, cnt) < 1e-5, "%s: input gradient rel. error %.3g", what, rel_err(gr, go, cnt));
    float *dW = spk_net_param_grad(P->rev, P->rev_node, "weight", &n);
    float *dB = spk_net_param_grad(P->rev, P->rev_node, "bias", &n2);
    size_t per = n / (2 * (size_t)P->L), pb = dB ? n2 / (2 * (size_t)P->L) : 0;
    double worst = 0, nz = 0;
    for (int b = 0; b < P->L; b++)
        for (int q = 0; q < 2; q++) {
            int node = q ? P->g[b] : P->f[b];
            const float *w = spk_net_param_grad(P->ord, node, "weight", NULL);
            double e = rel_err(dW + (2 * (size_t)b + q) * per, w, per);
            worst = e > worst ? e : worst;
            nz += max_abs(w, per) > 0;
            if (dB) {
                const float *bb = spk_net_param_grad(P->ord, node, "bias", NULL);
                e = rel_err(dB + (2 * (size_t)b + q) * pb, bb, pb);
                worst = e > worst ? e : worst;
            }
        }
    CHECK_MSG(worst < 1e-5, "%s: block weight/bias gradients rel. error %.3g", what, worst);
    CHECK_MSG(nz >= P->L, "%s: %g of %d block weight gradients are non-zero", what, nz, 2 * P->L);
    const float *rr = spk_net_param_grad(P->rev, spk_net_find(P->rev, "ro"), "weight", &n);
    const float *ro = spk_net_param_grad(P->ord, spk_net_find(P->ord, "ro"), "weight", NULL);
    CHECK_MSG(rel_err(rr, ro, n) < 1e-6, "%s: readout gradient rel. error %.3g", what, rel_err(rr, ro, n));
}

static void check_invert(pair *P, const float *x, size_t cnt, double tol, const char *what) {
    float *rec = malloc(cnt * sizeof(float));
    CHECK_OK(spk__rev_invert(P->rev, P->rev_node, rec));
    double e = 0;
    for (size_t i = 0; i < cnt; i++) e = fabs((double)rec[i] - x[i]) > e ? fabs((double)rec[i] - x[i]) : e;
    if (tol == 0) CHECK_MSG(same(rec, x, cnt), "%s: reconstructed input differs (max %.3g)", what, e);
    else CHECK_MSG(e <= tol, "%s: reconstructed input max error %.3g > %.3g", what, e, tol);
    free(rec);
}

static float *spike_input(size_t cnt, double p) {
    float *x = malloc(cnt * sizeof(float));
    for (size_t i = 0; i < cnt; i++) x[i] = urand() < p ? 1.0f : 0.0f;
    return x;
}

/* The event-driven engine, one sample at a time, gives the clock-driven readout exactly (all
 * sums exact), and counts the node's synapses as hw fit does. */
static void check_event(pair *P, int T, int B, int feat, const float *x, const char *what) {
    spk_event *ev = NULL;
    CHECK_OK(spk_event_create(&ev, P->rev));
    if (!ev) return;
    CHECK_OK(spk_net_forward(P->rev, T, B, x));
    const float *cs = spk_net_signal(P->rev, P->rev_ro, SPK_SIGNAL_OUT), *cm = spk_net_signal(P->rev, P->rev_ro, SPK_SIGNAL_MEM);
    float *xs = malloc((size_t)T * feat * sizeof(float));
    int bad = 0;
    for (int b = 0; b < B; b++) {
        for (int t = 0; t < T; t++) memcpy(xs + (size_t)t * feat, x + ((size_t)t * B + b) * feat, (size_t)feat * sizeof(float));
        CHECK_OK(spk_event_run(ev, T, xs));
        const float *es = spk_event_signal(ev, P->rev_ro, SPK_SIGNAL_OUT), *em = spk_event_signal(ev, P->rev_ro, SPK_SIGNAL_MEM);
        for (int t = 0; t < T && es && em; t++)
            for (int k = 0; k < 5; k++) {
                size_t c = ((size_t)t * B + b) * 5 + k;
                bad += es[(size_t)t * 5 + k] != cs[c] || em[(size_t)t * 5 + k] != cm[c];
            }
    }
    CHECK_MSG(bad == 0, "%s: the event engine's readout differs from the clock engine's in %d values", what, bad);
    const spk_event_stats *st = spk_event_get_stats(ev);
    const spk_event_node_stats *ns = &st->nodes[P->rev_node];
    spk_hw_needs needs;
    CHECK_OK(spk_hw_model_needs(P->rev, 0, &needs));
    const spk_event_node_stats *ro = &st->nodes[spk_net_find(P->rev, "ro")];
    CHECK_MSG(ns->synapses > 0 && ns->synapses + ro->synapses == needs.synapses, "%s: event synapses %lld + %lld, hw fit %lld", what,
              (long long)ns->synapses, (long long)ro->synapses, (long long)needs.synapses);
    CHECK(ns->neurons == (int64_t)P->L * feat && ns->spikes > 0 && ns->sops > 0 && ns->updates == (int64_t)B * T * P->L * feat);
    free(xs);
    spk_event_free(ev);
}

/* hc features (channels) per half; input spikes with probability p. Wide dense halves (>= 32)
 * and sparse inputs take the sparse-input kernels on the fast path, the GEMMs on the
 * reference path. */
static void test_equivalence(int conv, int hc, int L, double p) {
    const int T = 7, B = 3, H = 5;
    spk_neuron_config nc = spk_neuron_config_default();
    nc.lam = 0.75f; /* dyadic: the membrane sums stay exact */
    nc.thr = 0.5f;
    pair P;
    build_pair(&P, conv, hc, H, L, &nc, 1, conv ? 0 : SPK_LEARN_PER_NEURON, conv ? 0 : SPK_LEARN_SHARED);
    int feat = conv ? 2 * hc * H * H : 2 * hc;
    size_t cnt = (size_t)T * B * feat;
    float *x = spike_input(cnt, p);
    char what[64];
    snprintf(what, sizeof what, "%s, h = %d, p = %.2f", conv ? "conv" : "dense", hc, p);
    uint64_t seed_state = rng_state; /* the reference run below gets the same loss gradient */
    run_both(&P, T, B, x, 0);
    compare(&P, T, B, feat, what);
    float *keep = malloc(cnt * sizeof(float)), *gkeep = malloc(cnt * sizeof(float));
    memcpy(keep, spk_net_signal(P.rev, P.rev_node, SPK_SIGNAL_OUT), cnt * sizeof(float));
    memcpy(gkeep, spk_net_input_grad(P.rev), cnt * sizeof(float));
    check_invert(&P, x, cnt, 0, what);
    check_event(&P, T, B, feat, x, what);
    /* the plain reference path (step by step, GEMMs, reference neuron kernels) computes the
     * same: outputs equal, gradients to reassociation */
    spk_net_set_reference(P.rev, 1);
    spk_net_set_reference(P.ord, 1);
    rng_state = seed_state;
    run_both(&P, T, B, x, 0);
    compare(&P, T, B, feat, "reference path");
    CHECK_MSG(same(keep, spk_net_signal(P.rev, P.rev_node, SPK_SIGNAL_OUT), cnt), "%s: fast and reference paths' outputs differ", what);
    CHECK_MSG(rel_err(gkeep, spk_net_input_grad(P.rev), cnt) < 1e-5, "%s: fast and reference input gradients differ (%.3g)", what,
              rel_err(gkeep, spk_net_input_grad(P.rev), cnt));
    free(keep);
    free(gkeep);
    spk_net_set_reference(P.rev, 0);
    spk_net_set_reference(P.ord, 0);
    /* truncated BPTT cuts the blocks' populations as the ordinary ones */
    run_both(&P, T, B, x, 3);
    compare(&P, T, B, feat, "tbptt 3");
    free(x);
    free_pair(&P);
}

/* Other neurons: CUBA with a hard reset, same-step timing, no bias. */
static void test_other_neuron(void) {
    spk_neuron_config nc = spk_neuron_config_default();
    nc.kind = SPK_NEURON_CUBA;
    nc.lam = 0.5f;
    nc.alpha = 0.25f;
    nc.thr = 0.25f;
    nc.reset = SPK_RESET_HARD;
    nc.timing = SPK_TIMING_SAME_STEP;
    pair P;
    build_pair(&P, 0, 4, 1, 2, &nc, 0, 0, SPK_LEARN_PER_NEURON);
    const int T = 9, B = 2;
    size_t cnt = (size_t)T * B * 8;
    float *x = spike_input(cnt, 0.5);
    run_both(&P, T, B, x, 0);
    compare(&P, T, B, 8, "cuba, hard reset, no bias");
    check_invert(&P, x, cnt, 0, "cuba");
    check_event(&P, T, B, 8, x, "cuba");
    free(x);
    free_pair(&P);
}

/* Real-valued input: the reconstruction holds within rounding. */
static void test_real_input(void) {
    spk_neuron_config nc = spk_neuron_config_default();
    pair P;
    build_pair(&P, 0, 8, 1, 4, &nc, 1, 0, 0);
    const int T = 5, B = 4;
    size_t cnt = (size_t)T * B * 16;
    float *x = malloc(cnt * sizeof(float));
    for (size_t i = 0; i < cnt; i++) x[i] = (float)(urand() * 2.0);
    CHECK_OK(spk_net_forward(P.rev, T, B, x));
    check_invert(&P, x, cnt, 1e-5, "real-valued input");
    free(x);
    free_pair(&P);
}

/* The activation memory of a network with one reversible node does not depend on L. */
static size_t act_bytes(int L, int reference) {
    spk_reversible_config rc = spk_reversible_config_default();
    rc.blocks = L;
    spk_net *net;
    int in, r;
    CHECK_OK(spk_net_create(&net));
    CHECK_OK(spk_net_add_input(net, "in", 1, (int[]){32}, &in));
    CHECK_OK(spk_net_add_reversible(net, "rev", &rc, &r));
    CHECK_OK(spk_net_connect(net, in, r));
    CHECK_OK(spk_net_build(net, (spk_rng){1, 0}));
    spk_net_set_reference(net, reference);
    float *x = spike_input((size_t)10 * 4 * 32, 0.3);
    CHECK_OK(spk_net_forward(net, 10, 4, x));
    size_t b = spk_net_activation_bytes(net), np;
    spk_net_params(net, &np);
    CHECK(np == (size_t)L * 2 * (16 * 16 + 16));
    free(x);
    spk_net_free(net);
    return b;
}

/* Two reversible nodes of 2 blocks compute what one of 4 blocks with the same weights does,
 * bit for bit (the second node's input gradient is the first's output gradient), on the fast
 * and the reference path; they share one scratch: the two-node network holds only the extra
 * node's output and its gradient more. */
static spk_net *rev_chain(int nodes, int blocks, int *last) {
    spk_reversible_config rc = spk_reversible_config_default();
    rc.blocks = blocks;
    spk_net *net;
    int prev, r;
    CHECK_OK(spk_net_create(&net));
    CHECK_OK(spk_net_add_input(net, "in", 1, (int[]){32}, &prev));
    for (int k = 0; k < nodes; k++) {
        char nm[16];
        snprintf(nm, sizeof nm, "rev%d", k);
        CHECK_OK(spk_net_add_reversible(net, nm, &rc, &r));
        CHECK_OK(spk_net_connect(net, prev, r));
        prev = r;
    }
    CHECK_OK(spk_net_build(net, (spk_rng){1, 0}));
    *last = prev;
    return net;
}

static void test_two_nodes(void) {
    int one_out, two_out;
    spk_net *one = rev_chain(1, 4, &one_out), *two = rev_chain(2, 2, &two_out);
    size_t n1, n2;
    float *p1 = spk_net_params(one, &n1), *p2 = spk_net_params(two, &n2);
    CHECK(n1 == n2);
    fill_dyadic(p1, n1, -0.5, 0.5);
    /* one: weight [4, 2, 16, 16] then bias [4, 2, 16]; two: (weight [2, 2, 16, 16], bias) x 2 */
    size_t w = 2 * 16 * 16, b = 2 * 16;
    for (int k = 0; k < 2; k++) {
        memcpy(p2 + k * (2 * w + 2 * b), p1 + k * 2 * w, 2 * w * sizeof(float));
        memcpy(p2 + k * (2 * w + 2 * b) + 2 * w, p1 + 4 * w + k * 2 * b, 2 * b * sizeof(float));
    }
    const int T = 10, B = 4;
    size_t cnt = (size_t)T * B * 32;
    float *x = spike_input(cnt, 0.3), *seed = malloc(cnt * sizeof(float));
    for (size_t i = 0; i < cnt; i++) seed[i] = (float)(urand() - 0.5);
    for (int ref = 0; ref < 2; ref++) {
        spk_net *nets[2] = {one, two};
        int outs[2] = {one_out, two_out};
        for (int k = 0; k < 2; k++) {
            spk_net_set_reference(nets[k], ref);
            spk_net_want_input_grad(nets[k], 1);
            CHECK_OK(spk_net_forward(nets[k], T, B, x));
            spk_net_zero_grad(nets[k]);
            CHECK_OK(spk_net_seed_grad(nets[k], outs[k], SPK_SIGNAL_OUT, seed));
            CHECK_OK(spk_net_backward(nets[k]));
        }
        CHECK_MSG(same(spk_net_signal(one, one_out, SPK_SIGNAL_OUT), spk_net_signal(two, two_out, SPK_SIGNAL_OUT), cnt),
                  "two nodes vs one (reference %d): outputs differ", ref);
        CHECK_MSG(same(spk_net_input_grad(one), spk_net_input_grad(two), cnt), "two nodes vs one (reference %d): input gradients differ", ref);
        float *g1 = spk_net_grads(one, NULL), *g2 = spk_net_grads(two, NULL);
        int eq = 1;
        for (int k = 0; k < 2; k++) {
            eq &= same(g2 + k * (2 * w + 2 * b), g1 + k * 2 * w, 2 * w);
            eq &= same(g2 + k * (2 * w + 2 * b) + 2 * w, g1 + 4 * w + k * 2 * b, 2 * b);
        }
        CHECK_MSG(eq && max_abs(g1, n1) > 0, "two nodes vs one (reference %d): parameter gradients differ", ref);
        if (!ref) {
            size_t a1 = spk_net_activation_bytes(one), a2 = spk_net_activation_bytes(two);
            CHECK_MSG(a2 == a1 + 2 * cnt * sizeof(float), "activation bytes: one node %zu, two nodes %zu (want + %zu)", a1, a2,
                      2 * cnt * sizeof(float));
        }
    }
    free(x);
    free(seed);
    spk_net_free(one);
    spk_net_free(two);
}

static void test_memory(void) {
    size_t a2 = act_bytes(2, 0), a16 = act_bytes(16, 0);
    CHECK_MSG(a2 > 0 && a2 == a16, "activation bytes: %zu with 2 blocks, %zu with 16", a2, a16);
}

static void test_refusals(void) {
    spk_reversible_config rc = spk_reversible_config_default();
    spk_net *net;
    int in, r, d;
    /* odd features */
    CHECK_OK(spk_net_create(&net));
    CHECK_OK(spk_net_add_input(net, "in", 1, (int[]){7}, &in));
    CHECK_OK(spk_net_add_reversible(net, "rev", &rc, &r));
    CHECK(spk_net_connect(net, in, r) == SPK_ERR_SHAPE);
    CHECK(strstr(spk_errmsg(net), "rev") && strstr(spk_errmsg(net), "even"));
    spk_net_free(net);
    /* even kernel, zero blocks */
    CHECK_OK(spk_net_create(&net));
    rc.op = SPK_REV_CONV;
    rc.kernel = 4;
    CHECK(spk_net_add_reversible(net, "rev", &rc, &r) == SPK_ERR_INVALID_ARG);
    rc.kernel = 3;
    rc.blocks = 0;
    CHECK(spk_net_add_reversible(net, "rev", &rc, &r) == SPK_ERR_INVALID_ARG);
    rc.blocks = 2;
    /* conv on a flat input */
    CHECK_OK(spk_net_add_input(net, "in", 1, (int[]){8}, &in));
    CHECK_OK(spk_net_add_reversible(net, "rev", &rc, &r));
    CHECK(spk_net_connect(net, in, r) == SPK_ERR_SHAPE);
    spk_net_free(net);
    /* on a cycle */
    rc = spk_reversible_config_default();
    CHECK_OK(spk_net_create(&net));
    CHECK_OK(spk_net_add_input(net, "in", 1, (int[]){8}, &in));
    CHECK_OK(spk_net_add_reversible(net, "rev", &rc, &r));
    CHECK_OK(spk_net_add_dense(net, "back", 8, 8, 0, &d));
    CHECK_OK(spk_net_connect(net, in, r));
    CHECK_OK(spk_net_connect(net, r, d));
    CHECK_OK(spk_net_connect(net, d, r));
    CHECK(spk_net_build(net, (spk_rng){1, 0}) == SPK_ERR_UNSUPPORTED);
    CHECK(strstr(spk_errmsg(net), "'rev'") && strstr(spk_errmsg(net), "cycle"));
    spk_net_free(net);
    /* neuron parameters are learnable through the node's own settings only */
    CHECK_OK(spk_net_create(&net));
    CHECK_OK(spk_net_add_input(net, "in", 1, (int[]){8}, &in));
    CHECK_OK(spk_net_add_reversible(net, "blocks", &rc, &r));
    CHECK_OK(spk_net_connect(net, in, r));
    CHECK(spk_net_set_learnable(net, r, SPK_NP_THR, SPK_LEARN_PER_NEURON) == SPK_ERR_INVALID_ARG);
    CHECK_OK(spk_net_build(net, (spk_rng){1, 0}));
    CHECK(spk_net_node_kind(net, r) == SPK_NODE_REVERSIBLE && !strcmp(spk_node_kind_name(SPK_NODE_REVERSIBLE), "reversible"));
    CHECK(spk_net_reversible_config(net, r) && spk_net_reversible_config(net, r)->blocks == 1 && !spk_net_reversible_config(net, in));
    spk_hw_needs needs;
    CHECK_OK(spk_hw_model_needs(net, 0, &needs));
    CHECK_MSG(needs.neurons == 8 && needs.synapses > 0 && needs.synapses <= 2 * 16, "hw needs: %lld neurons, %lld synapses",
              (long long)needs.neurons, (long long)needs.synapses);
    spk_net_free(net);
}

/* A YAML experiment with a reversible layer: built, saved to model.spk and loaded back. */
static void test_model_file(void) {
    const char *text = "data: {dataset: yinyang, train_samples: 10, test_samples: 10}\n"
                       "encoding: {kind: direct, steps: 4}\n"
                       "network:\n"
                       "  - dense: {units: 8}\n"
                       "  - lif: {}\n"
                       "  - reversible: {name: rb, blocks: 3, op: dense, beta: 0.5, threshold: 0.75}\n"
                       "  - dense: {units: 3}\n"
                       "  - lif: {}\n";
    spk_experiment *e = NULL, *e2 = NULL;
    CHECK_OK(spk_experiment_parse(&e, text, strlen(text), "rev.yaml"));
    if (!e) return;
    spk_net *net = NULL, *net2 = NULL;
    int ro, ro2, dims[SPK_MAX_DIMS] = {5}, nd2, dims2[SPK_MAX_DIMS];
    CHECK_OK(spk_experiment_build_net(e, 1, dims, &net, &ro));
    int rb = spk_net_find(net, "rb");
    CHECK(rb >= 0 && spk_net_node_kind(net, rb) == SPK_NODE_REVERSIBLE && spk_net_reversible_config(net, rb)->blocks == 3);
    char path[] = "/tmp/spk_test_rev_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    if (fd >= 0) close(fd);
    CHECK_OK(spk_model_save(path, e, 1, dims, net, NULL, NULL));
    CHECK_OK(spk_model_load(path, &e2, &net2, &ro2, &nd2, dims2, NULL, NULL, NULL));
    unlink(path);
    if (net && net2) {
        size_t n1, n2;
        float *p1 = spk_net_params(net, &n1), *p2 = spk_net_params(net2, &n2);
        CHECK(n1 == n2 && same(p1, p2, n1));
        float x[4 * 2 * 5];
        for (int i = 0; i < 40; i++) x[i] = (float)urand();
        CHECK_OK(spk_net_forward(net, 4, 2, x));
        CHECK_OK(spk_net_forward(net2, 4, 2, x));
        CHECK(same(spk_net_signal(net, ro, SPK_SIGNAL_MEM), spk_net_signal(net2, ro2, SPK_SIGNAL_MEM), 4 * 2 * 3));
        const spk_reversible_config *c = spk_net_reversible_config(net2, spk_net_find(net2, "rb"));
        CHECK(c && c->blocks == 3 && c->neuron.lam == 0.5f && c->neuron.thr == 0.75f);
    }
    spk_net_free(net);
    spk_net_free(net2);
    spk_experiment_free(e);
    spk_experiment_free(e2);
}

/* Learned thresholds are projected (> 0) and reach the populations (shared: broadcast). */
static void test_learned_params(void) {
    spk_reversible_config rc = spk_reversible_config_default();
    rc.blocks = 2;
    rc.learn_threshold = SPK_LEARN_SHARED;
    rc.learn_beta = SPK_LEARN_PER_NEURON;
    spk_net *net;
    int in, r;
    CHECK_OK(spk_net_create(&net));
    CHECK_OK(spk_net_add_input(net, "in", 1, (int[]){4}, &in));
    CHECK_OK(spk_net_add_reversible(net, "rev", &rc, &r));
    CHECK_OK(spk_net_connect(net, in, r));
    CHECK_OK(spk_net_build(net, (spk_rng){1, 0}));
    size_t n;
    float *p = spk_net_params(net, &n);
    CHECK(n == 2 * 2 * (2 * 2 + 2) + 2 * 2 * 2 + 4); /* weights, biases, lam [4, 2], thr [4] */
    float *lam = p + 2 * 2 * (2 * 2 + 2), *thr = lam + 8;
    CHECK(lam[0] == 0.9f && thr[3] == 1.0f);
    /* a threshold of 100 in population 3 (G of block 2): its spikes stop; -1 is projected */
    float x[3 * 1 * 4] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1};
    CHECK_OK(spk_net_forward(net, 3, 1, x));
    thr[3] = -1.0f;
    lam[7] = 3.0f;
    spk_net_params_changed(net);
    CHECK(thr[3] > 0 && thr[3] <= 1e-6f && lam[7] == 1.0f);
    float out[12], again[12];
    for (int k = 0; k < 4; k++) thr[k] = 100.0f; /* nothing fires: the output is the input */
    CHECK_OK(spk_net_forward(net, 3, 1, x));
    memcpy(out, spk_net_signal(net, r, SPK_SIGNAL_OUT), sizeof out);
    CHECK(same(out, x, 12));
    for (int k = 0; k < 4; k++) thr[k] = 1e-6f; /* everything fires */
    CHECK_OK(spk_net_forward(net, 3, 1, x));
    memcpy(again, spk_net_signal(net, r, SPK_SIGNAL_OUT), sizeof again);
    CHECK(!same(again, x, 12));
    spk_net_free(net);
}

int main(void) {
    test_learned_params();
    test_equivalence(0, 6, 3, 0.4);
    test_equivalence(1, 2, 3, 0.4);
    test_equivalence(0, 40, 2, 0.05);
    test_equivalence(1, 8, 2, 0.03);
    test_other_neuron();
    test_real_input();
    test_memory();
    test_two_nodes();
    test_refusals();
    test_model_file();
    return tu_finish("test_reversible");
}
