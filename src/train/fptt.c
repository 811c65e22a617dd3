/* fptt.c — forward propagation through time (Kag & Saligrama 2021, "Training recurrent
 * neural networks via forward propagation through time", Algorithm 1; for spiking networks
 * Yin, Corradi & Bohté 2023): one parameter update per time step, with the gradient taken
 * through that step only, and a dynamic regularizer that keeps the weights near a running
 * average. Per step t, with l_t the step's loss term and g_t = dl_t/dW through step t only:
 *   G      = g_t + alpha (W - W_bar) - g_{t-1} / 2
 *            (the gradient of l_t(W) + (alpha/2) ||W - W_bar - g_{t-1}/(2 alpha)||^2)
 *   W     <- the optimizer's step on G (SGD: W - lr G)
 *   W_bar <- (W_bar + W) / 2 - g_t / (2 alpha)          (W the updated weights)
 *   g_{t-1} <- g_t
 * W_bar starts as W and g_{-1} as 0 at the first step ever; both carry over from batch to
 * batch. g_t is evaluated at the weights before the step's update (the algorithm's
 * grad l_t(W_{t+1}) in the W_bar update is taken as the gradient just computed, as the
 * spiking-network implementation does: a second forward per step is not needed).
 * Memory: W_bar, g_{t-1} and g_t (three parameter-sized arrays) plus one step of state:
 * constant in T. The network shape is e-prop's (eprop.c): the one-step gradient is e-prop
 * with every trace cut to the current step. */
#include "train/train_impl.h"

#include <math.h>
#include <string.h>

struct spk_fptt {
    spk__obj obj;
    spk_net *net;
    spk_eprop *ep;
    spk_optim *opt;     /* not owned */
    float alpha;
    size_t n;
    float *wbar, *gprev, *gcur, *gsum; /* [n] each, one block */
    int started;
};

spk_status spk_fptt_create(spk_fptt **out, spk_net *net, int readout, float alpha, spk_optim *opt) {
    if (!out || !net || !opt) return spk__fail(NULL, SPK_ERR_INVALID_ARG, "spk_fptt_create: out, net or opt is NULL");
    *out = NULL;
    if (!(alpha > 0) || !isfinite(alpha)) return spk__fail(NULL, SPK_ERR_INVALID_ARG, "fptt: alpha = %g must be finite and > 0", (double)alpha);
    size_t n;
    if (!spk_net_params(net, &n)) return spk__fail(NULL, SPK_ERR_STATE, "spk_fptt_create: build the network first");
    spk_fptt *f = spk_calloc(1, sizeof *f);
    if (!f) return spk__fail(NULL, SPK_ERR_NOMEM, "spk_fptt_create: no memory");
    spk__obj_init(&f->obj);
    spk_status st = spk__eprop_create(&f->ep, net, readout, SPK_EPROP_SYMMETRIC, (spk_rng){0, 0}, 1);
    if (st) {
        spk_free(f);
        /* the message names e-prop's shape: say it is FPTT's too */
        char msg[SPK__ERRMSG_LEN];
        snprintf(msg, sizeof msg, "%s", spk_errmsg(NULL));
        return spk__fail(NULL, st, "FPTT (same network shape as %s", msg);
    }
    f->net = net;
    f->opt = opt;
    f->alpha = alpha;
    f->n = n;
    f->wbar = spk_calloc(4 * (n ? n : 1), sizeof(float));
    if (!f->wbar) {
        spk_fptt_free(f);
        return spk__fail(NULL, SPK_ERR_NOMEM, "spk_fptt_create: no memory for 4 x %zu parameters", n);
    }
    f->gprev = f->wbar + n, f->gcur = f->gprev + n, f->gsum = f->gcur + n;
    *out = f;
    return SPK_OK;
}

void spk_fptt_free(spk_fptt *f) {
    if (!f) return;
    spk_eprop_free(f->ep);
    spk_free(f->wbar);
    spk_free(f);
}

size_t spk_fptt_bytes(const spk_fptt *f) { return f ? spk_eprop_bytes(f->ep) + 4 * f->n * sizeof(float) : 0; }

const float *spk_fptt_grad_sum(const spk_fptt *f) { return f ? f->gsum : NULL; }

void spk_fptt_reset(spk_fptt *f) {
    if (f) f->started = 0;
}

spk_status spk_fptt_run(spk_fptt *f, int T, int B, const float *x, const int32_t *labels, spk_mem_reduce reduce, float lr, double *loss,
                        int32_t *pred) {
    if (!f) return spk__fail(NULL, SPK_ERR_INVALID_ARG, "spk_fptt_run: f is NULL");
    spk_status st = spk__eprop_begin(f->ep, T, B, x, labels, reduce);
    if (st) return spk__fail(&f->obj, st, "%s", spk_errmsg(f->ep));
    size_t n;
    float *W = spk_net_params(f->net, &n), *G = spk_net_grads(f->net, &n);
    const float a = f->alpha;
    if (!f->started) {
        memcpy(f->wbar, W, n * sizeof(float));
        memset(f->gprev, 0, n * sizeof(float));
        f->started = 1;
    }
    memset(f->gsum, 0, n * sizeof(float));
    double L = 0, Lt;
    for (int t = 0; t < T; t++) {
        memset(G, 0, n * sizeof(float));
        if ((st = spk__eprop_step(f->ep, t, T, B, x + (size_t)t * B * spk__eprop_inputs(f->ep), labels, reduce, &Lt))) return spk__fail(&f->obj, st, "FPTT %s", spk_errmsg(f->ep));
        L += Lt;
        for (size_t k = 0; k < n; k++) {
            f->gcur[k] = G[k];
            f->gsum[k] += G[k];
            G[k] = G[k] + a * (W[k] - f->wbar[k]) - 0.5f * f->gprev[k];
        }
        if ((st = spk_optim_step(f->opt, W, G, lr, NULL))) return spk__fail(&f->obj, st, "FPTT step %d: %s", t, spk_errmsg(f->opt));
        spk_net_params_changed(f->net);
        for (size_t k = 0; k < n; k++) {
            f->wbar[k] = 0.5f * (f->wbar[k] + W[k]) - f->gcur[k] / (2.0f * a);
            f->gprev[k] = f->gcur[k];
        }
    }
    if (loss) *loss = L;
    if (pred) spk__eprop_predict(f->ep, B, reduce, pred);
    return SPK_OK;
}
