/* test_eprop.c — e-prop against BPTT (spk_net_backward) where the two coincide:
 *   no recurrence           input -> dense -> LIF -> dense -> leaky readout, CE on the
 *                           membrane per step and at the last step: every gradient (W_in,
 *                           b_in, W_out, b_out) equal to float tolerance, and the same loss
 *   recurrence with W_rec 0 the recurrent weights' gradient too (no path through z(t-1))
 *   ALIF                    the same two cases with adaptive thresholds (eligibility vectors
 *                           with an adaptation part)
 *   random feedback         the readout's gradients still equal BPTT's; the hidden ones not
 *   memory                  the state it keeps does not depend on T
 *   refusals                MAX reduction, a network of another shape, hard reset */
#include "testutil.h"

#include <string.h>

enum { I = 7, H = 6, C = 3, B = 4 };
static spk_neuron_kind hidden_kind = SPK_NEURON_LIF; /* the next build's hidden population */

static spk_net *build(int rec, int *ro, spk_reset_kind hidden_reset) {
    spk_neuron_config hc = spk_neuron_config_default(), oc = spk_neuron_config_default();
    hc.lam = 0.9f;
    hc.reset = hidden_reset;
    hc.kind = hidden_kind;
    hc.adapt_rho = 0.9f;
    hc.adapt_beta = 0.3f;
    oc.lam = 0.8f;
    oc.fire = SPK_FIRE_NONE;
    oc.reset = SPK_RESET_NONE;
    spk_net *net = tu_build_hidden_net(I, H, C, &hc, &oc, rec, 5, ro);
    if (net && rec) { /* the recurrent weights start at zero */
        size_t n;
        float *wr = spk_net_param(net, spk_net_find(net, "h.rec"), "weight", &n);
        memset(wr, 0, n * sizeof(float));
    }
    return net;
}

/* BPTT gradients of the CE-on-membrane loss into ref (all parameters); returns the loss. */
static double bptt(spk_net *net, int ro, int T, const float *x, const int32_t *y, spk_mem_reduce r, float *ref, int *hspikes) {
    if (spk_net_forward(net, T, B, x)) return NAN;
    spk_net_zero_grad(net);
    float *g = malloc((size_t)T * B * C * sizeof(float));
    double L = spk_loss_ce_mem(g, spk_net_signal(net, ro, SPK_SIGNAL_MEM), y, T, B, C, r);
    spk_net_seed_grad(net, ro, SPK_SIGNAL_MEM, g);
    if (spk_net_backward(net)) L = NAN;
    size_t n = 0;
    const float *grads = spk_net_grads(net, &n);
    memcpy(ref, grads, n * sizeof(float));
    const float *s = spk_net_signal(net, spk_net_find(net, "h"), SPK_SIGNAL_OUT);
    *hspikes = 0;
    for (size_t k = 0; k < (size_t)T * B * H; k++) *hspikes += s[k] != 0;
    free(g);
    return L;
}

/* Max |a - b| over a tensor relative to max |b| (>= 1e-3). */
static double rel_err(const float *a, const float *b, size_t n) {
    double d = 0, m = 1e-3;
    for (size_t k = 0; k < n; k++) {
        d = fmax(d, fabs((double)a[k] - b[k]));
        m = fmax(m, fabs((double)b[k]));
    }
    return d / m;
}

static void compare(spk_net *net, const float *ref, const char *node, const char *which, double tol, const char *what) {
    size_t n, off;
    int v = spk_net_find(net, node);
    float *all = spk_net_grads(net, &off);
    float *g = spk_net_param_grad(net, v, which, &n);
    const float *r = ref + (g - all);
    double e = rel_err(g, r, n);
    CHECK_MSG(e <= tol, "%s: %s.%s e-prop vs BPTT relative error %.3g (tol %.3g)", what, node, which, e, tol);
}

static void run_case(int rec, spk_mem_reduce red, const char *what) {
    int ro;
    spk_net *net = build(rec, &ro, SPK_RESET_SOFT);
    CHECK(net != NULL);
    if (!net) return;
    const int T = 30;
    float *x = malloc((size_t)T * B * I * sizeof(float));
    for (size_t k = 0; k < (size_t)T * B * I; k++) x[k] = spk_rng_uniform((spk_rng){3, 1}, 0, k, 0) < 0.3f ? 1.0f : 0.0f;
    int32_t y[B] = {0, 2, 1, 2};
    size_t n;
    spk_net_params(net, &n);
    float *ref = malloc(n * sizeof(float));
    int hs = 0;
    double Lb = bptt(net, ro, T, x, y, red, ref, &hs);
    CHECK_MSG(hs > 10 && hs < T * B * H * 3 / 4, "%s: hidden spikes %d of %d (the test needs some, not all)", what, hs, T * B * H);
    spk_eprop *ep;
    CHECK_OK(spk_eprop_create(&ep, net, ro, SPK_EPROP_SYMMETRIC, (spk_rng){1, 2}));
    spk_net_zero_grad(net);
    double Le = NAN;
    int32_t pred[B];
    CHECK_OK(spk_eprop_run(ep, T, B, x, y, red, &Le, pred));
    CHECK_NEAR(Le, Lb, 1e-5 * fabs(Lb));
    compare(net, ref, "fc1", "weight", 1e-4, what);
    compare(net, ref, "fc1", "bias", 1e-4, what);
    compare(net, ref, "fc2", "weight", 1e-4, what);
    compare(net, ref, "fc2", "bias", 1e-4, what);
    if (rec) {
        compare(net, ref, "h.rec", "weight", 1e-4, what);
        compare(net, ref, "h.rec", "bias", 1e-4, what);
    }
    /* predictions: the decoding of the trainer (mean membrane / last membrane) */
    int32_t want[B];
    float sc[B * C];
    spk_decode(red == SPK_MEM_LAST ? SPK_DEC_MEM_LAST : SPK_DEC_MEM_MEAN, T, B, C, NULL, spk_net_signal(net, ro, SPK_SIGNAL_MEM), sc);
    spk_argmax_rows(sc, B, C, want);
    for (int b = 0; b < B; b++) CHECK(pred[b] == want[b]);
    /* memory: the same at 4x the steps */
    size_t bytes = spk_eprop_bytes(ep);
    float *x4 = malloc((size_t)4 * T * B * I * sizeof(float));
    for (int k = 0; k < 4; k++) memcpy(x4 + (size_t)k * T * B * I, x, (size_t)T * B * I * sizeof(float));
    CHECK_OK(spk_eprop_run(ep, 4 * T, B, x4, y, red, NULL, NULL));
    CHECK(spk_eprop_bytes(ep) == bytes && bytes > 0);
    /* random feedback: the readout's gradients are unchanged, the hidden ones are not BPTT's */
    if (!rec && red == SPK_MEM_PER_STEP) {
        spk_eprop *er;
        CHECK_OK(spk_eprop_create(&er, net, ro, SPK_EPROP_RANDOM, (spk_rng){1, 2}));
        spk_net_zero_grad(net);
        CHECK_OK(spk_eprop_run(er, T, B, x, y, red, NULL, NULL));
        compare(net, ref, "fc2", "weight", 1e-4, "random feedback");
        size_t nw, off;
        float *all = spk_net_grads(net, &off), *g = spk_net_param_grad(net, spk_net_find(net, "fc1"), "weight", &nw);
        CHECK(rel_err(g, ref + (g - all), nw) > 1e-2);
        spk_eprop_free(er);
    }
    spk_eprop_free(ep);
    free(x4);
    free(x);
    free(ref);
    spk_net_free(net);
}

static void refusals(void) {
    int ro;
    spk_net *net = build(0, &ro, SPK_RESET_SOFT);
    spk_eprop *ep;
    CHECK_OK(spk_eprop_create(&ep, net, ro, SPK_EPROP_SYMMETRIC, (spk_rng){1, 2}));
    float x[2 * B * I] = {0};
    int32_t y[B] = {0, 1, 2, 0};
    CHECK(spk_eprop_run(ep, 2, B, x, y, SPK_MEM_MAX, NULL, NULL) == SPK_ERR_UNSUPPORTED);
    CHECK(strstr(spk_errmsg(ep), "per_step") != NULL);
    int32_t bad[B] = {0, 1, 3, 0};
    CHECK(spk_eprop_run(ep, 2, B, x, bad, SPK_MEM_PER_STEP, NULL, NULL) == SPK_ERR_INVALID_ARG);
    spk_eprop_free(ep);
    /* the hidden population as readout: not fed by a dense node from a population */
    CHECK(spk_eprop_create(&ep, net, spk_net_find(net, "h"), SPK_EPROP_SYMMETRIC, (spk_rng){1, 2}) == SPK_ERR_UNSUPPORTED && ep == NULL);
    spk_net_free(net);
    net = build(0, &ro, SPK_RESET_HARD);
    CHECK(spk_eprop_create(&ep, net, ro, SPK_EPROP_SYMMETRIC, (spk_rng){1, 2}) == SPK_ERR_UNSUPPORTED);
    CHECK(strstr(spk_errmsg(NULL), "'h'") != NULL);
    spk_net_free(net);
}

int main(void) {
    run_case(0, SPK_MEM_PER_STEP, "feed-forward, per-step loss");
    run_case(0, SPK_MEM_LAST, "feed-forward, last-step loss");
    run_case(1, SPK_MEM_PER_STEP, "recurrent with W_rec = 0");
    hidden_kind = SPK_NEURON_ALIF; /* eligibility vectors with the adaptation part */
    run_case(0, SPK_MEM_PER_STEP, "ALIF feed-forward, per-step loss");
    run_case(1, SPK_MEM_LAST, "ALIF recurrent with W_rec = 0, last-step loss");
    hidden_kind = SPK_NEURON_LIF;
    refusals();
    return tu_finish("test_eprop");
}
