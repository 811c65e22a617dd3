/* test_fptt.c — FPTT against independent computations:
 *   one-step gradient  with the weights frozen (SGD, lr 0), the sum over steps of FPTT's
 *                      gradients g_t equals BPTT truncated to windows of one step
 *                      (spk_net_backward_truncated(net, 1)) on the per-step loss, with and
 *                      without recurrence, LIF and ALIF hidden neurons
 *   the update         over 6 batches of one step, SGD: the weights equal a double-precision
 *                      replay of the documented update (G = g + alpha (W - W_bar) - g_prev/2,
 *                      W -= lr G, W_bar = (W_bar + W)/2 - g/(2 alpha)) with g from BPTT
 *   alpha -> 0         the same run with alpha 1e-6 equals gradient descent on the one-step
 *                      gradients plus the lagged sum the regularizer leaves in that limit,
 *                      W_{t+1} = W_t - lr (g_t + sum_{k>=2} g_{t-k} / 2^k): the first two
 *                      updates are plain one-step gradient descent
 *   memory             the same at 4x the steps; refusals */
#include "testutil.h"

#include <string.h>

enum { I = 6, H = 5, C = 3, B = 3 };
static spk_neuron_kind hidden_kind = SPK_NEURON_LIF;

static spk_net *build(int rec, int *ro) {
    spk_neuron_config hc = spk_neuron_config_default(), oc = spk_neuron_config_default();
    hc.kind = hidden_kind;
    hc.adapt_beta = 0.4f;
    oc.lam = 0.8f;
    oc.fire = SPK_FIRE_NONE;
    oc.reset = SPK_RESET_NONE;
    return tu_build_hidden_net(I, H, C, &hc, &oc, rec, 9, ro);
}

static void fill_x(float *x, size_t n, uint64_t stream) {
    for (size_t k = 0; k < n; k++) x[k] = spk_rng_uniform((spk_rng){4, stream}, 0, k, 0) < 0.35f ? 1.0f : 0.0f;
}

static double max_rel(const float *a, const double *b, size_t n) {
    double d = 0, m = 1e-3;
    for (size_t k = 0; k < n; k++) d = fmax(d, fabs(a[k] - b[k])), m = fmax(m, fabs(b[k]));
    return d / m;
}

static void one_step_gradient(int rec) {
    int ro;
    spk_net *net = build(rec, &ro);
    CHECK(net != NULL);
    if (!net) return;
    const int T = 25;
    float *x = malloc((size_t)T * B * I * sizeof(float)), *g = malloc((size_t)T * B * C * sizeof(float));
    fill_x(x, (size_t)T * B * I, 1);
    int32_t y[B] = {2, 0, 1};
    size_t n;
    spk_net_params(net, &n);
    /* BPTT with windows of one step */
    CHECK_OK(spk_net_forward(net, T, B, x));
    spk_net_zero_grad(net);
    double Lb = spk_loss_ce_mem(g, spk_net_signal(net, ro, SPK_SIGNAL_MEM), y, T, B, C, SPK_MEM_PER_STEP);
    CHECK_OK(spk_net_seed_grad(net, ro, SPK_SIGNAL_MEM, g));
    CHECK_OK(spk_net_backward_truncated(net, 1));
    double *ref = malloc(n * sizeof(double));
    const float *gr = spk_net_grads(net, &n);
    for (size_t k = 0; k < n; k++) ref[k] = gr[k];
    /* FPTT with frozen weights */
    spk_optim_config oc = spk_optim_config_default(SPK_OPT_SGD);
    spk_optim *opt;
    CHECK_OK(spk_optim_create(&opt, &oc, n));
    spk_fptt *f;
    CHECK_OK(spk_fptt_create(&f, net, ro, 0.5f, opt));
    double Lf = NAN;
    CHECK_OK(spk_fptt_run(f, T, B, x, y, SPK_MEM_PER_STEP, 0.0f, &Lf, NULL));
    CHECK_NEAR(Lf, Lb, 1e-5 * fabs(Lb));
    /* every tensor but the recurrent dense node's: spk's truncated BPTT computes that node's
     * output at the source's step (t-1), outside the window of step t, so it gives W_rec no
     * gradient, while FPTT differentiates step t's use of W_rec with z(t-1) held fixed */
    const char *nodes[] = {"fc1", "fc2"}, *which[] = {"weight", "bias"};
    float *all = spk_net_grads(net, &n);
    for (int a = 0; a < 2; a++)
        for (int w = 0; w < 2; w++) {
            size_t m;
            float *gt = spk_net_param_grad(net, spk_net_find(net, nodes[a]), which[w], &m);
            size_t off = (size_t)(gt - all);
            double e = max_rel(spk_fptt_grad_sum(f) + off, ref + off, m);
            CHECK_MSG(e < 1e-4, "%s: %s.%s FPTT one-step gradients vs BPTT(k=1): relative error %.3g", rec ? "recurrent" : "feed-forward",
                      nodes[a], which[w], e);
        }
    double mg = 0;
    for (size_t k = 0; k < n; k++) mg = fmax(mg, fabs(ref[k]));
    CHECK(mg > 1e-3); /* a gradient worth comparing */
    /* memory does not depend on T */
    size_t bytes = spk_fptt_bytes(f);
    float *x4 = malloc((size_t)4 * T * B * I * sizeof(float));
    fill_x(x4, (size_t)4 * T * B * I, 2);
    CHECK_OK(spk_fptt_run(f, 4 * T, B, x4, y, SPK_MEM_PER_STEP, 0.0f, NULL, NULL));
    CHECK(spk_fptt_bytes(f) == bytes);
    spk_fptt_free(f);
    spk_optim_free(opt);
    free(x4), free(x), free(g), free(ref);
    spk_net_free(net);
}

/* 6 batches of one step each: FPTT's weights against a replay of the update in double with
 * BPTT's gradients (limit = 1: the alpha -> 0 closed form instead of the replay). */
static void update_rule(float alpha, int limit) {
    enum { NB = 6 };
    int ro, ro2;
    spk_net *net = build(1, &ro), *ref = build(1, &ro2);
    CHECK(net && ref);
    if (!net || !ref) return;
    size_t n;
    float *Wf = spk_net_params(net, &n), *Wr = spk_net_params(ref, &n);
    const float lr = 0.05f;
    double *W = malloc(n * sizeof(double)), *wbar = malloc(n * sizeof(double)), *gprev = calloc(n, sizeof(double));
    double *hist = calloc((size_t)NB * n, sizeof(double));
    for (size_t k = 0; k < n; k++) W[k] = wbar[k] = Wr[k];
    spk_optim_config oc = spk_optim_config_default(SPK_OPT_SGD);
    spk_optim *opt;
    CHECK_OK(spk_optim_create(&opt, &oc, n));
    spk_fptt *f;
    CHECK_OK(spk_fptt_create(&f, net, ro, alpha, opt));
    float x[B * I], g[B * C];
    int32_t y[B] = {1, 2, 0};
    for (int s = 0; s < NB; s++) {
        fill_x(x, B * I, 10 + (uint64_t)s);
        CHECK_OK(spk_fptt_run(f, 1, B, x, y, SPK_MEM_PER_STEP, lr, NULL, NULL));
        /* the reference: BPTT gradient at the replayed weights */
        for (size_t k = 0; k < n; k++) Wr[k] = (float)W[k];
        spk_net_params_changed(ref);
        CHECK_OK(spk_net_forward(ref, 1, B, x));
        spk_net_zero_grad(ref);
        spk_loss_ce_mem(g, spk_net_signal(ref, ro2, SPK_SIGNAL_MEM), y, 1, B, C, SPK_MEM_PER_STEP);
        CHECK_OK(spk_net_seed_grad(ref, ro2, SPK_SIGNAL_MEM, g));
        CHECK_OK(spk_net_backward(ref));
        const float *gr = spk_net_grads(ref, &n);
        for (size_t k = 0; k < n; k++) hist[(size_t)s * n + k] = gr[k];
        for (size_t k = 0; k < n; k++) {
            double gk = gr[k];
            if (limit) {
                double lag = 0;
                for (int j = 2; j <= s; j++) lag += hist[(size_t)(s - j) * n + k] / (double)(1 << j);
                W[k] -= lr * (gk + lag);
            } else {
                double G = gk + alpha * (W[k] - wbar[k]) - 0.5 * gprev[k];
                W[k] -= lr * G;
                wbar[k] = 0.5 * (wbar[k] + W[k]) - gk / (2.0 * alpha);
                gprev[k] = gk;
            }
        }
        double e = max_rel(Wf, W, n);
        CHECK_MSG(e < (limit ? 2e-4 : 1e-5), "alpha %g%s, update %d: weights differ from the %s by %.3g (relative)", (double)alpha,
                  limit ? " (limit)" : "", s, limit ? "closed form" : "replay", e);
        if (limit && s < 2) { /* plain one-step gradient descent */
            double e2 = 0;
            for (size_t k = 0; k < n; k++) e2 = fmax(e2, fabs(W[k] - (Wr[k] - lr * hist[(size_t)s * n + k])));
            CHECK(e2 < 1e-6);
        }
    }
    spk_fptt_free(f);
    spk_optim_free(opt);
    free(W), free(wbar), free(gprev), free(hist);
    spk_net_free(net);
    spk_net_free(ref);
}

static void refusals(void) {
    int ro;
    spk_net *net = build(0, &ro);
    size_t n;
    spk_net_params(net, &n);
    spk_optim_config oc = spk_optim_config_default(SPK_OPT_SGD);
    spk_optim *opt;
    CHECK_OK(spk_optim_create(&opt, &oc, n));
    spk_fptt *f;
    CHECK(spk_fptt_create(&f, net, ro, 0.0f, opt) == SPK_ERR_INVALID_ARG && f == NULL);
    CHECK(strstr(spk_errmsg(NULL), "alpha") != NULL);
    CHECK(spk_fptt_create(&f, net, spk_net_find(net, "h"), 0.5f, opt) == SPK_ERR_UNSUPPORTED);
    CHECK(strstr(spk_errmsg(NULL), "FPTT") != NULL);
    CHECK_OK(spk_fptt_create(&f, net, ro, 0.5f, opt));
    float x[B * I] = {0};
    int32_t y[B] = {0, 1, 2};
    CHECK(spk_fptt_run(f, 1, B, x, y, SPK_MEM_MAX, 0.1f, NULL, NULL) == SPK_ERR_UNSUPPORTED);
    CHECK(spk_fptt_run(f, 1, B, x, y, SPK_MEM_PER_STEP, -1.0f, NULL, NULL) == SPK_ERR_INVALID_ARG);
    spk_fptt_free(f);
    spk_optim_free(opt);
    spk_net_free(net);
}

int main(void) {
    one_step_gradient(0);
    one_step_gradient(1);
    hidden_kind = SPK_NEURON_ALIF; /* the adaptive threshold enters through psi only */
    one_step_gradient(0);
    one_step_gradient(1);
    hidden_kind = SPK_NEURON_LIF;
    update_rule(0.5f, 0);
    update_rule(0.1f, 0);
    update_rule(1e-6f, 1);
    refusals();
    return tu_finish("test_fptt");
}
