/* eprop.c — eligibility propagation (Bellec et al. 2020, "A solution to the learning dilemma
 * for recurrent networks of spiking neurons"): the weight gradients of a one-hidden-layer
 * network computed online, forward in time, with memory that does not depend on T.
 *
 * The network: input -> dense W_in -> hidden LIF or ALIF population H (optionally with a recurrent
 * dense W_rec on a cycle H -> W_rec -> H) -> dense W_out -> leaky readout R (no reset), the
 * shape of examples/randman.yaml and of the `rec` workload. Per step t, per sample b:
 *   hidden   u_j(t) = lam u_j(t-1) + g (W_in x(t) + b_in + W_rec z(t-1) + b_rec)_j - reset
 *   readout  m_k(t) = kap m_k(t-1) + g_R (W_out z(t) + b_out)_k
 *   traces   xb_i(t) = lam xb_i(t-1) + g x_i(t)           (zb for z(t-1), 1b for the biases)
 *            e_ji(t) = kap e_ji(t-1) + psi_j(t) xb_i(t)    psi = the surrogate at u - thr
 *            zr_j(t) = kap zr_j(t-1) + g_R z_j(t)          (the readout's filtered input)
 *   signal   g_k(t) = dE/dm_k(t) of the step's loss term; L_j(t) = g_R sum_k B_jk g_k(t),
 *            B = W_out^T (symmetric feedback) or a fixed random matrix (random feedback)
 *   grads    dW_in_ji += L_j(t) e_ji(t),  dW_out_kj += g_k(t) zr_j(t),  db_out_k += g_k(t) 1r(t)
 * The eligibility e is filtered with the readout's decay so that, without recurrence and
 * with the reset detached from the gradient (snnTorch's default), the sum equals BPTT's
 * gradient exactly (tests/test_eprop.c checks this against spk_net_backward).
 * The readout's membrane must carry a loss at every step (CE_MEM with PER_STEP) or only at
 * the last step (LAST); a loss that needs the whole sequence first (MAX, SUM, spike counts)
 * is refused. Decays lam and kap must be one value per population (the default).
 * An ALIF hidden population (delayed timing, soft reset) keeps a two-part eligibility
 * vector per synapse (alif_elig_step); it too equals BPTT without recurrence.
 * It does not train neuron parameters (their gradients are left at zero) or deeper
 * networks (refused, naming the node). */
#include "net/net_impl.h"
#include "train/train_impl.h"

#include <math.h>
#include <string.h>

struct spk_eprop {
    spk__obj obj;
    spk_net *net;
    int in, din, hid, drec, dout, out; /* node ids; drec -1 without recurrence */
    int I, H, C;
    spk_eprop_feedback fb;
    float *fbw;                        /* random feedback B [C, H] (W_out's layout)      */
    float lam, kap, gH, gR;
    /* per-batch state, sized for B rows */
    int Bcap;
    size_t bytes;
    float *st_h, *st_r;                /* neuron states                                 */
    float *uh, *zh, *zprev, *ur, *mr;  /* [B, H] [B, H] [B, H] [B, C] [B, C]           */
    float *ih, *ir;                    /* inputs [B, H], [B, C]                          */
    float *xb, *zb, *bb;               /* input traces [B, I], [B, H], [B, H] (biases)  */
    float *e_in, *e_rec, *e_b;         /* eligibility [B, H, I], [B, H, H], [B, H]      */
    int alif;                          /* hidden ALIF: eligibility vectors (v and a parts)  */
    float rho, beta;                   /* ALIF adaptation decay and strength              */
    float *ev_in, *ea_in, *ev_rec, *ea_rec, *ev_b, *ea_b; /* ALIF vectors, as e_*        */
    float *psi_prev, *tr_in;           /* [B, H] psi(t-1); [B, I] g * x(t)                */
    float *zr;                         /* [B, H] readout-filtered hidden spikes          */
    float *gk, *Lj, *psi, *msum;       /* [B, C], [B, H], [B, H], [B, C]                 */
    float one_r;                       /* the readout-filtered constant 1 (readout bias)  */
    int one_step;                      /* FPTT: gradients through the current step only   */
};

static int single_in(const spk_net *net, int v, int *from, int *delayed) {
    int idx[4];
    int n = spk__net_in_edges(net, v, idx, 4);
    if (n >= 1) *from = net->edges[idx[0]].from, *delayed = net->edges[idx[0]].delayed;
    return n;
}

static spk_status unsupported(const spk_net *net, int v, const char *why) {
    return spk__fail(NULL, SPK_ERR_UNSUPPORTED, "e-prop: node '%s' (%s): %s; e-prop trains input -> dense -> LIF [-> recurrent dense] -> dense -> leaky readout",
                     v >= 0 ? net->nodes[v].name : "?", v >= 0 ? spk_node_kind_name(net->nodes[v].kind) : "?", why);
}

/* The single shared value of a population's decay, or NaN when the neurons differ. */
static float uniform_lam(const spk_neuron *nr) {
    const float *l = spk_neuron_get_param(nr, SPK_NP_LAM);
    int n = spk_neuron_size(nr);
    for (int i = 1; i < n; i++)
        if (l[i] != l[0]) return NAN;
    float v = l[0];
    if (spk_neuron_get_config(nr)->clamp_decay) v = v < 0 ? 0 : v > 1 ? 1 : v;
    return v;
}

static spk_status check_neuron(const spk_net *net, int v, int readout) {
    const spk_neuron *nr = net->nodes[v].nr;
    const spk_neuron_config *c = spk_neuron_get_config(nr);
    if (c->kind != SPK_NEURON_LIF && (readout || c->kind != SPK_NEURON_ALIF))
        return unsupported(net, v, readout ? "the readout must be a LIF population" : "only LIF and ALIF hidden populations");
    if (c->kind == SPK_NEURON_ALIF && (c->timing != SPK_TIMING_DELAYED || c->reset != SPK_RESET_SOFT))
        return unsupported(net, v, "ALIF needs the delayed timing and the soft reset");
    if (isnan(uniform_lam(nr))) return unsupported(net, v, "the decay differs between neurons");
    if (c->timing == SPK_TIMING_SAME_STEP_SNNTORCH) return unsupported(net, v, "the snnTorch same-step timing");
    if (readout) {
        if (c->reset != SPK_RESET_NONE) return unsupported(net, v, "the readout must not reset (reset: none)");
        return SPK_OK;
    }
    if (c->reset != SPK_RESET_SOFT && c->reset != SPK_RESET_NONE) return unsupported(net, v, "hidden neurons need the soft reset (or none)");
    if (!c->detach_reset && c->reset != SPK_RESET_NONE) return unsupported(net, v, "the reset must be detached from the gradient");
    if (c->fire == SPK_FIRE_NONE || c->fire == SPK_FIRE_GRADED) return unsupported(net, v, "hidden neurons must fire single spikes");
    return SPK_OK;
}

spk_status spk__eprop_create(spk_eprop **out, spk_net *net, int readout, spk_eprop_feedback fb, spk_rng rng, int one_step) {
    spk_status st = spk_eprop_create(out, net, readout, fb, rng);
    if (!st) (*out)->one_step = one_step;
    return st;
}

spk_status spk_eprop_create(spk_eprop **out, spk_net *net, int readout, spk_eprop_feedback fb, spk_rng rng) {
    if (!out || !net) return spk__fail(NULL, SPK_ERR_INVALID_ARG, "spk_eprop_create: out or net is NULL");
    *out = NULL;
    if (!net->built) return spk__fail(NULL, SPK_ERR_STATE, "spk_eprop_create: build the network first");
    if ((int)fb < 0 || fb >= SPK_EPROP_FEEDBACK_COUNT) return spk__fail(NULL, SPK_ERR_INVALID_ARG, "spk_eprop_create: feedback %d is not symmetric or random", (int)fb);
    if (readout < 0 || readout >= net->n_nodes || net->nodes[readout].kind != SPK_NODE_NEURON)
        return spk__fail(NULL, SPK_ERR_INVALID_ARG, "spk_eprop_create: the readout (node %d) must be a neuron population", readout);
    int dout, hid, din, in, d, drec = -1;
    if (single_in(net, readout, &dout, &d) != 1 || net->nodes[dout].kind != SPK_NODE_DENSE)
        return unsupported(net, readout, "the readout must be fed by exactly one dense node");
    if (single_in(net, dout, &hid, &d) != 1 || net->nodes[hid].kind != SPK_NODE_NEURON)
        return unsupported(net, dout, "the output dense node must be fed by one neuron population");
    int idx[4];
    int n = spk__net_in_edges(net, hid, idx, 4);
    if (n < 1 || n > 2) return unsupported(net, hid, "the hidden population must have one input dense node and at most one recurrent one");
    din = -1;
    for (int k = 0; k < n; k++) {
        int f = net->edges[idx[k]].from, src, dl;
        if (net->nodes[f].kind != SPK_NODE_DENSE) return unsupported(net, f, "only dense nodes may feed the hidden population");
        if (single_in(net, f, &src, &dl) != 1) return unsupported(net, f, "a dense node with more than one input");
        if (src == hid) drec = f;
        else din = f;
    }
    if (din < 0) return unsupported(net, hid, "no input dense node");
    if (single_in(net, din, &in, &d) != 1 || in != net->input) return unsupported(net, din, "the input dense node must read the network's input");
    if (net->nodes[in].out_ndim != 1) return unsupported(net, in, "the input must be one-dimensional (features)");
    spk_status st;
    if ((st = check_neuron(net, hid, 0)) || (st = check_neuron(net, readout, 1))) return st;
    for (int v = 0; v < net->n_nodes; v++)
        if (v != in && v != din && v != hid && v != drec && v != dout && v != readout)
            return unsupported(net, v, "a node outside the supported shape");
    spk_eprop *ep = spk_calloc(1, sizeof *ep);
    if (!ep) return spk__fail(NULL, SPK_ERR_NOMEM, "spk_eprop_create: no memory");
    spk__obj_init(&ep->obj);
    ep->net = net;
    ep->in = in, ep->din = din, ep->hid = hid, ep->drec = drec, ep->dout = dout, ep->out = readout;
    ep->I = net->nodes[in].out_numel;
    ep->H = net->nodes[hid].out_numel;
    ep->C = net->nodes[readout].out_numel;
    ep->fb = fb;
    ep->lam = uniform_lam(net->nodes[hid].nr);
    ep->kap = uniform_lam(net->nodes[readout].nr);
    ep->gH = spk_neuron_get_config(net->nodes[hid].nr)->gain;
    ep->alif = spk_neuron_get_config(net->nodes[hid].nr)->kind == SPK_NEURON_ALIF;
    ep->rho = spk_neuron_get_config(net->nodes[hid].nr)->adapt_rho;
    ep->beta = spk_neuron_get_config(net->nodes[hid].nr)->adapt_beta;
    ep->gR = spk_neuron_get_config(net->nodes[readout].nr)->gain;
    if (fb == SPK_EPROP_RANDOM) {
        size_t nf = (size_t)ep->C * ep->H;
        ep->fbw = spk_malloc(nf * sizeof(float));
        if (!ep->fbw) {
            spk_free(ep);
            return spk__fail(NULL, SPK_ERR_NOMEM, "spk_eprop_create: no memory");
        }
        spk_init_uniform(ep->fbw, nf, spk_init_bound(ep->H), rng, 0); /* W_out's initial distribution */
    }
    *out = ep;
    return SPK_OK;
}

static void free_batch(spk_eprop *ep) {
    spk_free(ep->st_h);
    ep->st_h = NULL;
    ep->Bcap = 0;
    ep->bytes = 0;
}

void spk_eprop_free(spk_eprop *ep) {
    if (!ep) return;
    free_batch(ep);
    spk_free(ep->fbw);
    spk_free(ep);
}

size_t spk_eprop_bytes(const spk_eprop *ep) { return ep ? ep->bytes + (ep->fbw ? (size_t)ep->C * ep->H * sizeof(float) : 0) : 0; }

/* Lay out every per-batch buffer in one block for B rows. */
static spk_status alloc_batch(spk_eprop *ep, int B) {
    if (B <= ep->Bcap) return SPK_OK;
    free_batch(ep);
    const size_t b = (size_t)B, I = (size_t)ep->I, H = (size_t)ep->H, C = (size_t)ep->C;
    const size_t sh = spk_neuron_state_size(ep->net->nodes[ep->hid].nr, B), sr = spk_neuron_state_size(ep->net->nodes[ep->out].nr, B);
    const size_t erec = ep->drec >= 0 && !ep->one_step ? b * H * H : 0, ein = ep->one_step ? 0 : b * H * I;
    const int va = ep->alif && !ep->one_step;
    const size_t vin = va ? ein : 0, vrec = va ? erec : 0, vb = va ? b * H : 0;
    size_t sizes[] = {sh, sr, b * H, b * H, b * H, b * C, b * C, b * H, b * C, b * I, b * H, b * H, ein, erec, b * H, b * H, b * C, b * H, b * H, b * C, vin, vin, vrec, vrec, vb, vb, b * H, b * I};
    float **ptrs[] = {&ep->st_h, &ep->st_r, &ep->uh, &ep->zh, &ep->zprev, &ep->ur, &ep->mr, &ep->ih, &ep->ir, &ep->xb, &ep->zb, &ep->bb,
                      &ep->e_in, &ep->e_rec, &ep->e_b, &ep->zr, &ep->gk, &ep->Lj, &ep->psi, &ep->msum,
                      &ep->ev_in, &ep->ea_in, &ep->ev_rec, &ep->ea_rec, &ep->ev_b, &ep->ea_b, &ep->psi_prev, &ep->tr_in};
    const int np = (int)(sizeof sizes / sizeof sizes[0]);
    size_t total = 0;
    for (int k = 0; k < np; k++) total += spk__align_up(sizes[k] * sizeof(float), SPK__ALIGN);
    float *blk = spk_malloc(total + SPK__ALIGN);
    if (!blk) return spk__fail(&ep->obj, SPK_ERR_NOMEM, "e-prop: no memory for %zu bytes of traces (batch %d)", total, B);
    char *p = (char *)blk;
    ep->st_h = blk; /* the block's owner pointer is the first buffer */
    for (int k = 0; k < np; k++) {
        *ptrs[k] = sizes[k] ? (float *)p : NULL;
        p += spk__align_up(sizes[k] * sizeof(float), SPK__ALIGN);
    }
    ep->st_h = blk;
    ep->Bcap = B;
    ep->bytes = total;
    return SPK_OK;
}

/* y [B, n] = x [B, m] W^T + bias (W [n, m]); bias may be NULL. */
static void affine(float *y, const float *x, const float *W, const float *bias, int B, int n, int m, float beta) {
    if (beta == 0 && bias)
        for (int b = 0; b < B; b++) memcpy(y + (size_t)b * n, bias, (size_t)n * sizeof(float));
    else if (beta != 0 && bias)
        for (int b = 0; b < B; b++)
            for (int k = 0; k < n; k++) y[(size_t)b * n + k] += bias[k];
    spk_sgemm(0, 1, B, n, m, 1.0f, x, m, W, m, (bias || beta != 0) ? 1.0f : 0.0f, y, n);
}

/* dW [H, m] += sum_b L[b, j] * e[b, j, :] after e[b, j, :] = kap e + psi[b, j] * tr[b, :] */
static void elig_step(float *e, float *dW, const float *tr, const float *psi, const float *L, float kap, int B, int H, int m) {
#pragma omp parallel for schedule(static) if ((size_t)B * H * m > 65536)
    for (int j = 0; j < H; j++) {
        float *dw = dW + (size_t)j * m;
        for (int b = 0; b < B; b++) {
            float *row = e + ((size_t)b * H + j) * m;
            const float *t = tr + (size_t)b * m;
            const float p = psi[(size_t)b * H + j], l = L[(size_t)b * H + j];
            for (int i = 0; i < m; i++) {
                float v = kap * row[i] + p * t[i];
                row[i] = v;
                dw[i] += l * v;
            }
        }
    }
}

/* Check a batch's arguments, size the buffers and zero every state and trace. */
spk_status spk__eprop_begin(spk_eprop *ep, int T, int B, const float *x, const int32_t *labels, spk_mem_reduce reduce) {
    if (!ep || !x || !labels) return spk__fail(ep ? &ep->obj : NULL, SPK_ERR_INVALID_ARG, "%s: x or labels is NULL", ep && ep->one_step ? "fptt" : "e-prop");
    const char *who = ep->one_step ? "FPTT" : "e-prop";
    if (T < 1 || B < 1) return spk__fail(&ep->obj, SPK_ERR_INVALID_ARG, "%s: T = %d and B = %d must be >= 1", who, T, B);
    if (reduce != SPK_MEM_PER_STEP && reduce != SPK_MEM_LAST)
        return spk__fail(&ep->obj, SPK_ERR_UNSUPPORTED, "%s needs a loss known at each step: ce_mem with mem_reduce per_step or last (not %s)", who,
                         reduce == SPK_MEM_MAX ? "max" : reduce == SPK_MEM_SUM ? "sum" : "this one");
    const int I = ep->I, H = ep->H, C = ep->C;
    for (int b = 0; b < B; b++)
        if (labels[b] < 0 || labels[b] >= C) return spk__fail(&ep->obj, SPK_ERR_INVALID_ARG, "label %d of sample %d is outside [0, %d)", labels[b], b, C);
    spk_status st = alloc_batch(ep, B);
    if (st) return st;
    spk_net *net = ep->net;
    const size_t BH = (size_t)B * H, BC = (size_t)B * C;
    memset(ep->st_h, 0, spk_neuron_state_size(net->nodes[ep->hid].nr, B) * sizeof(float));
    memset(ep->st_r, 0, spk_neuron_state_size(net->nodes[ep->out].nr, B) * sizeof(float));
    memset(ep->xb, 0, (size_t)B * I * sizeof(float));
    memset(ep->zb, 0, BH * sizeof(float));
    memset(ep->bb, 0, BH * sizeof(float));
    memset(ep->zprev, 0, BH * sizeof(float));
    if (ep->e_in) memset(ep->e_in, 0, BH * I * sizeof(float));
    float *va[] = {ep->ev_in, ep->ea_in, ep->ev_rec, ep->ea_rec};
    size_t vn[] = {BH * I, BH * I, BH * H, BH * H};
    for (int k = 0; k < 4; k++)
        if (va[k]) memset(va[k], 0, vn[k] * sizeof(float));
    if (ep->ev_b) memset(ep->ev_b, 0, BH * sizeof(float));
    if (ep->ea_b) memset(ep->ea_b, 0, BH * sizeof(float));
    memset(ep->psi_prev, 0, BH * sizeof(float));
    if (ep->e_rec) memset(ep->e_rec, 0, BH * H * sizeof(float));
    memset(ep->e_b, 0, BH * sizeof(float));
    memset(ep->zr, 0, BH * sizeof(float));
    memset(ep->msum, 0, BC * sizeof(float));
    ep->one_r = 0;
    return SPK_OK;
}

/* Step t of the batch begun: forward with the network's current weights, the step's loss
 * term (returned in *Lt) and its gradient ADDED to the network's gradients. In one-step
 * mode every trace is cut to the current step (the gradient through this step only). */
/* ALIF (Bellec et al. 2020, Methods): per synapse the eligibility vector (ev, ea), with
 * r_j = z_j(t-1), psi' = psi_j(t-1) and the step's input tr_i (g x_i(t), g z_i(t-1) or g):
 *   ea <- rho ea + psi' (ev - beta ea);  ev <- lam ev + tr - r beta ea   (both from the old ones)
 *   e = psi_j(t) (ev - beta ea);  ebar <- kap ebar + e;  dW += L_j(t) ebar
 * The reset term r * thr(t-1) = r (thr + beta a(t-1)) keeps r detached but not a(t-1), and
 * a(t) = rho a(t-1) + z(t-1) is differentiated through the spike, as spk's backward does. */
static void alif_elig_step(float *ev, float *ea, float *e, float *dW, const float *tr, int tr_const, const float *psi, const float *psi_prev,
                           const float *r, const float *L, float lam, float rho, float beta, float kap, int B, int H, int m) {
#pragma omp parallel for schedule(static) if ((size_t)B * H * m > 65536)
    for (int j = 0; j < H; j++) {
        float *dw = dW ? dW + (size_t)j * m : NULL;
        for (int b = 0; b < B; b++) {
            const size_t o = ((size_t)b * H + j) * m, k = (size_t)b * H + j;
            const float p = psi[k], pp = psi_prev[k], rr = r[k], l = L[k];
            const float *t = tr_const ? tr : tr + (size_t)b * m;
            for (int i = 0; i < m; i++) {
                const float v0 = ev[o + i], a0 = ea[o + i];
                const float a1 = rho * a0 + pp * (v0 - beta * a0);
                const float v1 = lam * v0 + t[i] - rr * beta * a0;
                ev[o + i] = v1;
                ea[o + i] = a1;
                const float eb = kap * e[o + i] + p * (v1 - beta * a1);
                e[o + i] = eb;
                if (dw) dw[i] += l * eb;
            }
        }
    }
}

spk_status spk__eprop_step(spk_eprop *ep, int t, int T, int B, const float *xt, const int32_t *labels, spk_mem_reduce reduce, double *Lt) {
    const int I = ep->I, H = ep->H, C = ep->C;
    spk_net *net = ep->net;
    spk_neuron *nh = net->nodes[ep->hid].nr, *nr = net->nodes[ep->out].nr;
    const size_t BH = (size_t)B * H, BC = (size_t)B * C;
    size_t n;
    spk_status st;
    const float *Win = spk_net_param(net, ep->din, "weight", &n), *bin = spk_net_param(net, ep->din, "bias", &n);
    const float *Wrec = ep->drec >= 0 ? spk_net_param(net, ep->drec, "weight", &n) : NULL;
    const float *brec = ep->drec >= 0 ? spk_net_param(net, ep->drec, "bias", &n) : NULL;
    const float *Wout = spk_net_param(net, ep->dout, "weight", &n), *bout = spk_net_param(net, ep->dout, "bias", &n);
    float *gWin = spk_net_param_grad(net, ep->din, "weight", &n), *gbin = spk_net_param_grad(net, ep->din, "bias", &n);
    float *gWrec = ep->drec >= 0 ? spk_net_param_grad(net, ep->drec, "weight", &n) : NULL;
    float *gbrec = ep->drec >= 0 ? spk_net_param_grad(net, ep->drec, "bias", &n) : NULL;
    float *gWout = spk_net_param_grad(net, ep->dout, "weight", &n), *gbout = spk_net_param_grad(net, ep->dout, "bias", &n);
    const float *fbw = ep->fb == SPK_EPROP_RANDOM ? ep->fbw : Wout;
    const float *thr = spk_neuron_get_param(nh, SPK_NP_THR);
    const spk_neuron_config *hc = spk_neuron_get_config(nh);
    const int oV = spk_neuron_slot_offset(nr, SPK_SLOT_V);
    /* one-step mode: no memory of earlier steps in any trace */
    const float lam = ep->one_step ? 0.0f : ep->lam, kap = ep->one_step ? 0.0f : ep->kap, gH = ep->gH, gR = ep->gR;
    /* hidden input and step */
    affine(ep->ih, xt, Win, bin, B, H, I, 0);
    if (ep->drec >= 0) affine(ep->ih, ep->zprev, Wrec, brec, B, H, H, 1);
    if ((st = spk_neuron_step(nh, B, t, ep->st_h, ep->uh, ep->zh, ep->ih, NULL, NULL))) return spk__fail(&ep->obj, st, "step %d: %s", t, spk_errmsg(NULL));
    /* readout */
    affine(ep->ir, ep->zh, Wout, bout, B, C, H, 0);
    if ((st = spk_neuron_step(nr, B, t, ep->st_r, ep->ur, ep->mr, ep->ir, NULL, NULL))) return spk__fail(&ep->obj, st, "step %d: %s", t, spk_errmsg(NULL));
    const float *m = ep->st_r + (size_t)oV * BC; /* the reported membrane */
    for (size_t k = 0; k < BC; k++) ep->msum[k] += m[k];
    /* the step's loss term and its gradient g_k(t) */
    double L = 0;
    if (reduce == SPK_MEM_PER_STEP || t == T - 1) L = spk_loss_ce_mem(ep->gk, m, labels, 1, B, C, reduce);
    else memset(ep->gk, 0, BC * sizeof(float));
    *Lt = L;
    if (!isfinite(L)) return spk__fail(&ep->obj, SPK_ERR_NUMERIC, "the loss is not finite at step %d", t);
    /* traces of the inputs (x(t); z(t-1) and 1 for the hidden neuron's other inputs) */
    for (size_t k = 0; k < (size_t)B * I; k++) ep->xb[k] = lam * ep->xb[k] + gH * xt[k];
    for (size_t k = 0; k < BH; k++) {
        ep->zb[k] = lam * ep->zb[k] + gH * ep->zprev[k];
        ep->bb[k] = lam * ep->bb[k] + gH;
    }
    const float *adapt = ep->alif ? ep->st_h + (size_t)spk_neuron_slot_offset(nh, SPK_SLOT_A) * BH : NULL; /* a(t) */
    for (int b = 0; b < B; b++)
        for (int j = 0; j < H; j++) {
            size_t k = (size_t)b * H + j;
            float th = thr[j] + (adapt ? ep->beta * adapt[k] : 0.0f);
            ep->psi[k] = spk_surrogate_grad(hc->surrogate, hc->surrogate_scale, ep->uh[k] - th);
        }
    /* learning signal L [B, H] = gR * g [B, C] x B [C, H] */
    spk_sgemm(0, 0, B, H, C, gR, ep->gk, C, fbw, H, 0.0f, ep->Lj, H);
    /* the readout's own gradients: its input filtered by kap */
    ep->one_r = kap * ep->one_r + gR;
    for (size_t k = 0; k < BH; k++) ep->zr[k] = kap * ep->zr[k] + gR * ep->zh[k];
    spk_sgemm(1, 0, C, H, B, 1.0f, ep->gk, C, ep->zr, H, 1.0f, gWout, H);
    if (gbout)
        for (int b = 0; b < B; b++)
            for (int c = 0; c < C; c++) gbout[c] += ep->gk[(size_t)b * C + c] * ep->one_r;
    /* hidden gradients: eligibility filtered by kap times the learning signal */
    if (ep->one_step) { /* e = psi * trace of this step: dW += (L psi)^T trace */
        for (size_t k = 0; k < BH; k++) ep->e_b[k] = ep->Lj[k] * ep->psi[k];
        spk_sgemm(1, 0, H, I, B, 1.0f, ep->e_b, H, ep->xb, I, 1.0f, gWin, I);
        if (ep->drec >= 0) spk_sgemm(1, 0, H, H, B, 1.0f, ep->e_b, H, ep->zb, H, 1.0f, gWrec, H);
        for (size_t k = 0; k < BH; k++) {
            float g = ep->e_b[k] * ep->bb[k];
            int j = (int)(k % (size_t)H);
            if (gbin) gbin[j] += g;
            if (gbrec) gbrec[j] += g;
        }
    } else if (ep->alif) {
        for (size_t k = 0; k < (size_t)B * I; k++) ep->tr_in[k] = gH * xt[k];
        alif_elig_step(ep->ev_in, ep->ea_in, ep->e_in, gWin, ep->tr_in, 0, ep->psi, ep->psi_prev, ep->zprev, ep->Lj, ep->lam, ep->rho, ep->beta, kap, B, H, I);
        if (ep->drec >= 0) { /* the recurrent input z(t-1), scaled by g */
            for (size_t k = 0; k < BH; k++) ep->zb[k] = gH * ep->zprev[k];
            alif_elig_step(ep->ev_rec, ep->ea_rec, ep->e_rec, gWrec, ep->zb, 0, ep->psi, ep->psi_prev, ep->zprev, ep->Lj, ep->lam, ep->rho, ep->beta, kap, B, H, H);
        }
        /* biases: one input of value g per neuron (m = 1 per row) */
        for (int b = 0; b < B; b++)
            for (int j = 0; j < H; j++) {
                size_t k = (size_t)b * H + j;
                float v0 = ep->ev_b[k], a0 = ep->ea_b[k];
                float a1 = ep->rho * a0 + ep->psi_prev[k] * (v0 - ep->beta * a0);
                float v1 = ep->lam * v0 + gH - ep->zprev[k] * ep->beta * a0;
                ep->ev_b[k] = v1, ep->ea_b[k] = a1;
                float eb = kap * ep->e_b[k] + ep->psi[k] * (v1 - ep->beta * a1);
                ep->e_b[k] = eb;
                if (gbin) gbin[j] += ep->Lj[k] * eb;
                if (gbrec) gbrec[j] += ep->Lj[k] * eb;
            }
    } else {
        elig_step(ep->e_in, gWin, ep->xb, ep->psi, ep->Lj, kap, B, H, I);
        if (ep->drec >= 0) elig_step(ep->e_rec, gWrec, ep->zb, ep->psi, ep->Lj, kap, B, H, H);
        for (size_t k = 0; k < BH; k++) {
            float v = kap * ep->e_b[k] + ep->psi[k] * ep->bb[k];
            ep->e_b[k] = v;
            float g = ep->Lj[k] * v;
            int j = (int)(k % (size_t)H);
            if (gbin) gbin[j] += g;
            if (gbrec) gbrec[j] += g;
        }
    }
    memcpy(ep->zprev, ep->zh, BH * sizeof(float));
    memcpy(ep->psi_prev, ep->psi, BH * sizeof(float));
    return SPK_OK;
}

int spk__eprop_inputs(const spk_eprop *ep) { return ep->I; }

/* The decoded classes of the batch run: mean membrane (PER_STEP) or the last one (LAST). */
void spk__eprop_predict(const spk_eprop *ep, int B, spk_mem_reduce reduce, int32_t *pred) {
    const size_t BC = (size_t)B * ep->C;
    const int oV = spk_neuron_slot_offset(ep->net->nodes[ep->out].nr, SPK_SLOT_V);
    spk_argmax_rows(reduce == SPK_MEM_LAST ? ep->st_r + (size_t)oV * BC : ep->msum, B, ep->C, pred);
}

spk_status spk_eprop_run(spk_eprop *ep, int T, int B, const float *x, const int32_t *labels, spk_mem_reduce reduce, double *loss,
                         int32_t *pred) {
    spk_status st = spk__eprop_begin(ep, T, B, x, labels, reduce);
    if (st) return st;
    double L = 0, Lt;
    for (int t = 0; t < T; t++) {
        if ((st = spk__eprop_step(ep, t, T, B, x + (size_t)t * B * ep->I, labels, reduce, &Lt))) return st;
        L += Lt;
    }
    if (loss) *loss = L;
    if (pred) spk__eprop_predict(ep, B, reduce, pred);
    return SPK_OK;
}
