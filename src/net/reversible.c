/* reversible.c — a node of L reversible two-stream spiking blocks (additive coupling):
 * x = (x1, x2) split along the first feature dimension, then per block
 *     y1 = x1 + F(x2),   y2 = x2 + G(y1)
 * with F and G each a synaptic op (dense, or conv with "same" padding) followed by a neuron
 * population run over all T steps. The node keeps only its output; backward walks the
 * blocks from the last to the first, reconstructing each block's input from its output
 * (x2 = y2 - G(y1), x1 = y1 - F(x2)), recomputing F's and G's activations in one scratch
 * shared by all blocks, and back-propagating through them. So the activation memory of the
 * node is that of one op and one population, whatever L.
 *
 * Shapes: T steps, B batch, h = features of one half (C/2 * H * W for conv), M = T*B rows.
 * Streams are kept split in the scratch, w1 and w2 [M, h] each (contiguous for the ops).
 *
 * Learnable neuron parameters (decay, threshold) live in the network's arena like a neuron
 * node's: [2L, h] per neuron or [2L] shared.
 *
 * Deliberately not here: the event-driven and fixed-point engines (they refuse the node by
 * name), and a node on a cycle (refused at build). */
#include "net/net_impl.h"
#include "neuron/neuron_impl.h"

#include <string.h>

typedef struct spk__rev {
    spk_reversible_config cfg;
    int hc;              /* features (dense) or channels (conv) of one half */
    int h;               /* numel of one half per row */
    int kk;              /* taps per (out, in) pair: 1 dense, k (1-d) or k*k (2-d) */
    spk_conv_geom geom;  /* conv: hc -> hc, stride 1, same padding */
    spk_neuron **pop;    /* [2L]: F of block b is pop[2b], G is pop[2b+1] */
    size_t SS;           /* state floats of one population for B */
    /* views into the activation block (spk__rev_set_scratch) */
    float *w1, *w2, *g1, *g2;   /* [M, h] streams and their gradients */
    float *z, *u, *s, *dz;      /* [M, h] an op's output (the neuron input), potential, spikes, dL/dz */
    float *states;              /* [T+1, S, B, h] the recomputed population's states */
    float *dstate;              /* [S, B, h] */
    float *mem;                 /* [B, h] the fused kernel's membrane output (unused) */
    float *ws;                  /* conv workspace */
    float *carry;               /* reference path: [2L, S, B, h] states carried between steps */
    /* the sparse-input kernels (owned, made when first used): W^T of the op at hand
     * [h_in*taps, h_out], and the dense weight-gradient scratch [h, h] */
    float *wt, *wscratch;
} spk__rev;

spk_reversible_config spk_reversible_config_default(void) {
    spk_reversible_config c;
    memset(&c, 0, sizeof c);
    c.blocks = 1;
    c.op = SPK_REV_DENSE;
    c.kernel = 3;
    c.bias = 1;
    c.neuron = spk_neuron_config_default();
    return c;
}

void spk__rev_free(spk__rev *r) {
    if (!r) return;
    if (r->pop)
        for (int i = 0; i < 2 * r->cfg.blocks; i++) spk_neuron_free(r->pop[i]);
    spk_free(r->pop);
    spk_free(r->wt);
    spk_free(r->wscratch);
    spk_free(r);
}

spk_status spk_net_add_reversible(spk_net *net, const char *name, const spk_reversible_config *cfg, int *id) {
    if (!net) return spk__fail(NULL, SPK_ERR_INVALID_ARG, "network is NULL");
    const char *nm = name ? name : "";
    if (!cfg) return spk__fail(&net->obj, SPK_ERR_INVALID_ARG, "node '%s' (reversible): no configuration given", nm);
    if (cfg->blocks < 1 || cfg->blocks > 100000)
        return spk__fail(&net->obj, SPK_ERR_INVALID_ARG, "node '%s' (reversible): blocks = %d must be 1 to 100000", nm, cfg->blocks);
    if ((int)cfg->op < 0 || cfg->op >= SPK_REV_OP_COUNT)
        return spk__fail(&net->obj, SPK_ERR_INVALID_ARG, "node '%s' (reversible): op %d is not dense (0) or conv (1)", nm, (int)cfg->op);
    if (cfg->op == SPK_REV_CONV && (cfg->kernel < 1 || cfg->kernel % 2 == 0 || cfg->kernel > 1001))
        return spk__fail(&net->obj, SPK_ERR_INVALID_ARG, "node '%s' (reversible): kernel = %d must be odd (1 to 1001) for 'same' padding", nm,
                         cfg->kernel);
    if (spk_neuron_config_check(&cfg->neuron))
        return spk__fail(&net->obj, SPK_ERR_INVALID_ARG, "node '%s' (reversible): %s", nm, spk_errmsg(NULL));
    if (cfg->neuron.kind == SPK_NEURON_COMPLEX)
        return spk__fail(&net->obj, SPK_ERR_UNSUPPORTED, "node '%s' (reversible): complex neurons cannot be used in its blocks", nm);
    if (cfg->learn_beta < SPK_LEARN_OFF || cfg->learn_beta > SPK_LEARN_SHARED || cfg->learn_threshold < SPK_LEARN_OFF ||
        cfg->learn_threshold > SPK_LEARN_SHARED)
        return spk__fail(&net->obj, SPK_ERR_INVALID_ARG, "node '%s' (reversible): learn_beta = %d, learn_threshold = %d: each must be off (0), per neuron (1) or shared (2)",
                         nm, cfg->learn_beta, cfg->learn_threshold);
    spk__rev *r = spk_calloc(1, sizeof *r);
    if (!r) return spk__fail(&net->obj, SPK_ERR_NOMEM, "no memory for node '%s'", nm);
    r->cfg = *cfg;
    r->cfg.bias = cfg->bias != 0;
    if (r->cfg.op == SPK_REV_DENSE) r->cfg.kernel = cfg->kernel; /* kept as given (unused) */
    spk__node *n;
    spk_status st = spk__net_add_node(net, nm, SPK_NODE_REVERSIBLE, id, &n);
    if (st) {
        spk_free(r);
        return st;
    }
    n->rev = r;
    n->has_bias = r->cfg.bias;
    n->learn[SPK_NP_LAM] = cfg->learn_beta;
    n->learn[SPK_NP_THR] = cfg->learn_threshold;
    return SPK_OK;
}

const spk_reversible_config *spk_net_reversible_config(const spk_net *net, int node) {
    if (!net || node < 0 || node >= net->n_nodes || !net->nodes[node].rev) return NULL;
    return &net->nodes[node].rev->cfg;
}

spk_status spk__rev_check_shape(spk_net *net, const spk__node *n) {
    const spk__rev *r = n->rev;
    if (r->cfg.op == SPK_REV_DENSE && n->in_ndim != 1)
        return spk__fail(&net->obj, SPK_ERR_SHAPE, "node '%s' (reversible, dense) takes a flat input [F], not one of %d dimensions", n->name,
                         n->in_ndim);
    if (r->cfg.op == SPK_REV_CONV && n->in_ndim != 2 && n->in_ndim != 3)
        return spk__fail(&net->obj, SPK_ERR_SHAPE, "node '%s' (reversible, conv) takes [C, L] or [C, H, W], not an input of %d dimensions",
                         n->name, n->in_ndim);
    if (n->in_dims[0] % 2)
        return spk__fail(&net->obj, SPK_ERR_SHAPE, "node '%s' (reversible): its input's %s (%d) must be even: the two streams are its halves",
                         n->name, r->cfg.op == SPK_REV_DENSE ? "features" : "channels", n->in_dims[0]);
    if (r->cfg.op == SPK_REV_CONV)
        for (int i = 1; i < n->in_ndim; i++)
            if (n->in_dims[i] < 1) return spk__fail(&net->obj, SPK_ERR_SHAPE, "node '%s' (reversible): empty input", n->name);
    return SPK_OK;
}

spk_status spk__rev_prepare(spk_net *net, int v) {
    spk__node *n = &net->nodes[v];
    spk__rev *r = n->rev;
    if (n->recurrent)
        return spk__fail(&net->obj, SPK_ERR_UNSUPPORTED, "build: node '%s' (reversible) lies on a cycle: reversible blocks run feed-forward only",
                         n->name);
    r->hc = n->in_dims[0] / 2;
    r->h = n->in_numel / 2;
    r->kk = 1;
    if (r->cfg.op == SPK_REV_CONV) {
        spk_conv_geom *g = &r->geom;
        memset(g, 0, sizeof *g);
        g->cin = g->cout = r->hc;
        g->groups = 1;
        g->in_h = n->in_ndim == 3 ? n->in_dims[1] : 1;
        g->in_w = n->in_dims[n->in_ndim - 1];
        g->k_h = n->in_ndim == 3 ? r->cfg.kernel : 1;
        g->k_w = r->cfg.kernel;
        g->stride_h = g->stride_w = g->dil_h = g->dil_w = 1;
        g->pad_h = g->k_h / 2;
        g->pad_w = g->k_w / 2;
        spk_status st = spk_conv_geom_init(g);
        if (st) return spk__fail(&net->obj, st, "node '%s' (reversible): %s", n->name, spk_errmsg(NULL));
        r->kk = g->k_h * g->k_w;
    }
    int P = 2 * r->cfg.blocks;
    if (r->pop) /* a build that failed before: start again */
        for (int i = 0; i < P; i++) spk_neuron_free(r->pop[i]);
    spk_free(r->pop);
    r->pop = spk_calloc((size_t)P, sizeof *r->pop);
    if (!r->pop) return spk__fail(&net->obj, SPK_ERR_NOMEM, "build: no memory for node '%s'", n->name);
    for (int i = 0; i < P; i++) {
        spk_neuron_config c = r->cfg.neuron;
        /* each population draws its own noise (stochastic firing) */
        c.rng.stream ^= (uint64_t)(i + 1) << 40;
        spk_status st = spk_neuron_create(&r->pop[i], &c, r->h);
        if (st) return spk__fail(&net->obj, st, "node '%s' (reversible): %s", n->name, spk_errmsg(NULL));
    }
    return SPK_OK;
}

size_t spk__rev_weight_numel(const spk__node *n) {
    const spk__rev *r = n->rev;
    return (size_t)2 * r->cfg.blocks * r->hc * r->hc * r->kk;
}
size_t spk__rev_bias_numel(const spk__node *n) { return n->rev->cfg.bias ? (size_t)2 * n->rev->cfg.blocks * n->rev->hc : 0; }
int spk__rev_fan_in(const spk__node *n) { return n->rev->hc * n->rev->kk; }

/* ---------------------------------------------------------------- scratch ------------- */

static size_t conv_ws(const spk__rev *r, int rows) { return r->cfg.op == SPK_REV_CONV ? spk_op_conv_workspace(&r->geom, rows) : 0; }

size_t spk__rev_scratch_floats(const spk_net *net, const spk__node *n, int T, int B) {
    const spk__rev *r = n->rev;
    size_t M = (size_t)T * B, h = (size_t)r->h, SS = spk_neuron_state_size(r->pop[0], B);
    (void)net;
    return 8 * M * h + (size_t)(T + 1) * SS + SS + (size_t)B * h + conv_ws(r, (int)M) + 12 * 16;
}

size_t spk__rev_carry_floats(const spk_net *net, const spk__node *n, int B) {
    return net->reference ? (size_t)2 * n->rev->cfg.blocks * spk_neuron_state_size(n->rev->pop[0], B) : 0;
}

void spk__rev_set_carry(spk__node *n, float *carry) { n->rev->carry = carry; }

void spk__rev_set_scratch(const spk_net *net, spk__node *n, float *base, int T, int B) {
    spk__rev *r = n->rev;
    if (!base) return;
    size_t M = (size_t)T * B, h = (size_t)r->h;
    r->SS = spk_neuron_state_size(r->pop[0], B);
    float *p = base;
#define NEXT(ptr, cnt) (ptr = p, p += ((cnt) + 15) / 16 * 16)
    NEXT(r->w1, M * h);
    NEXT(r->w2, M * h);
    NEXT(r->g1, M * h);
    NEXT(r->g2, M * h);
    NEXT(r->z, M * h);
    NEXT(r->u, M * h);
    NEXT(r->s, M * h);
    NEXT(r->dz, M * h);
    NEXT(r->states, (size_t)(T + 1) * r->SS);
    NEXT(r->dstate, r->SS);
    NEXT(r->mem, (size_t)B * h);
    NEXT(r->ws, conv_ws(r, (int)M));
    (void)net;
#undef NEXT
}

/* ---------------------------------------------------------------- pieces -------------- */

/* The two halves of rows [r0, r0+m) of x [M, 2h] into a [M, h] and b [M, h] (same rows). */
static void split(float *a, float *b, const float *x, size_t r0, size_t m, size_t h) {
    for (size_t i = r0; i < r0 + m; i++) {
        memcpy(a + i * h, x + i * 2 * h, h * sizeof(float));
        memcpy(b + i * h, x + i * 2 * h + h, h * sizeof(float));
    }
}

/* y[rows] = (a, b) joined (add = 0) or y[rows] += (a, b) (add = 1). */
static void join(float *y, const float *a, const float *b, size_t r0, size_t m, size_t h, int add) {
    for (size_t i = r0; i < r0 + m; i++) {
        float *d = y + i * 2 * h;
        if (!add) {
            memcpy(d, a + i * h, h * sizeof(float));
            memcpy(d + h, b + i * h, h * sizeof(float));
        } else {
            for (size_t k = 0; k < h; k++) d[k] += a[i * h + k];
            for (size_t k = 0; k < h; k++) d[h + k] += b[i * h + k];
        }
    }
}

static const float *W_op(const spk_net *net, const spk__node *n, int op) {
    const spk__rev *r = n->rev;
    return net->params + net->tensors[n->t_w].off + (size_t)op * r->hc * r->hc * r->kk;
}
static float *dW_op(const spk_net *net, const spk__node *n, int op) {
    const spk__rev *r = n->rev;
    return net->grads + net->tensors[n->t_w].off + (size_t)op * r->hc * r->hc * r->kk;
}
static const float *b_op(const spk_net *net, const spk__node *n, int op) {
    return n->t_b >= 0 ? net->params + net->tensors[n->t_b].off + (size_t)op * n->rev->hc : NULL;
}
static float *db_op(const spk_net *net, const spk__node *n, int op) {
    return n->t_b >= 0 ? net->grads + net->tensors[n->t_b].off + (size_t)op * n->rev->hc : NULL;
}

/* Whether op p on x [rows, h] takes the sparse-input kernels, as a dense or conv node would
 * (exec.c): never on the reference path, else by the density of x, which then fills n->csr;
 * and W^T of op p made in r->wt. 0 (the GEMM path) also when memory for them is lacking. */
static int sparse_in(const spk_net *net, spk__node *n, int p, const float *x, int rows, int weight_grad) {
    spk__rev *r = n->rev;
    if (net->reference || (r->cfg.op == SPK_REV_DENSE && r->hc < 32)) return 0;
    size_t nnz = spk_op_csr_count(&n->csr, x, rows, r->h);
    if (nnz == (size_t)-1) return 0;
    int prefer = r->cfg.op == SPK_REV_DENSE ? spk_op_dense_prefer_sparse(nnz, rows, r->hc, r->hc, weight_grad)
                                            : spk_op_conv_prefer_sparse(nnz, rows, &r->geom, weight_grad);
    if (!prefer || spk_op_csr_fill(&n->csr, x)) return 0;
    if (weight_grad) return 1;
    if (!r->wt && !(r->wt = spk_malloc((size_t)r->hc * r->hc * r->kk * sizeof(float)))) return 0;
    spk_op_transpose(r->wt, W_op(net, n, p), r->hc, r->hc * r->kk);
    return 1;
}

/* z[rows] = op number `op` (2b: F of block b, 2b+1: G) applied to x[rows]. */
static void op_forward(const spk_net *net, spk__node *n, int op, float *z, const float *x, size_t r0, int m) {
    spk__rev *r = n->rev;
    size_t o = r0 * (size_t)r->h;
    int sparse = sparse_in(net, n, op, x + o, m, 0);
    if (r->cfg.op == SPK_REV_DENSE) {
        if (sparse) spk_op_dense_forward_sparse(z + o, &n->csr, r->wt, b_op(net, n, op), r->hc);
        else spk_op_dense_forward(z + o, x + o, W_op(net, n, op), b_op(net, n, op), m, r->hc, r->hc);
    } else if (!sparse || spk_op_conv_forward_sparse(z + o, &n->csr, r->wt, b_op(net, n, op), &r->geom)) {
        spk_op_conv_forward(z + o, r->ws, x + o, W_op(net, n, op), b_op(net, n, op), &r->geom, m);
    }
}

/* Over all M rows: parameter gradients of op `op` from dz, and dx += (dL/dx of the op). */
static void op_backward(spk_net *net, spk__node *n, int op, float *dx, const float *dz, const float *x, int M) {
    spk__rev *r = n->rev;
    float *dW = dW_op(net, n, op);
    if (r->cfg.op == SPK_REV_DENSE) {
        if (sparse_in(net, n, op, x, M, 1) && (r->wscratch || (r->wscratch = spk_malloc(spk_op_dense_dw_scratch(r->hc, r->hc) * sizeof(float))))) {
            spk_op_dense_dw_sparse(dW, r->wscratch, dz, &n->csr, r->hc);
            dW = NULL;
        }
        spk_op_dense_backward(dx, dW, db_op(net, n, op), dz, x, W_op(net, n, op), M, r->hc, r->hc);
    } else {
        if (sparse_in(net, n, op, x, M, 1) && spk_op_conv_dw_sparse(dW, dz, &n->csr, &r->geom) == 0) dW = NULL;
        spk_op_conv_backward(dx, dW, db_op(net, n, op), r->ws, dz, x, W_op(net, n, op), &r->geom, M);
    }
}

/* Population `p` over steps [t0, t0+nt) on input z, writing u and s. keep: states[t+1] is the
 * state after step t (from the zero state at t0 = 0), for backward; otherwise `state` is
 * advanced in place (the carried state of the step-by-step path, or scratch). */
static spk_status pop_forward(spk_net *net, spk__node *n, int p, int t0, int nt, int keep, float *state) {
    spk__rev *r = n->rev;
    const int B = net->B;
    const size_t BN = (size_t)B * r->h, SS = r->SS;
    spk_neuron *nr = r->pop[p];
    const int into = !net->reference && spk__neuron_step_into_ok(nr);
    for (int t = t0; t < t0 + nt; t++) {
        float *cur = keep ? r->states + (size_t)(t + 1) * SS : state;
        const float *prev = keep ? r->states + (size_t)t * SS : state;
        if (into && keep) {
            spk__neuron_step_into(nr, B, prev, cur, r->u + t * BN, r->s + t * BN, r->mem, r->z + t * BN);
            continue;
        }
        if (keep) memcpy(cur, prev, SS * sizeof(float));
        spk_status st = net->reference ? spk__neuron_step_ref(nr, B, t, cur, r->u + t * BN, r->s + t * BN, r->z + t * BN)
                                       : spk_neuron_step(nr, B, t, cur, r->u + t * BN, r->s + t * BN, r->z + t * BN, NULL, NULL);
        if (st) return spk__fail(&net->obj, st, "node '%s' (reversible): %s", n->name, spk_errmsg(nr));
    }
    return SPK_OK;
}

/* Backward of population `p` over all T steps (after pop_forward with keep): dz = dL/dz
 * from ds = dL/ds. */
static spk_status pop_backward(spk_net *net, spk__node *n, int p, const float *ds) {
    spk__rev *r = n->rev;
    const int T = net->T, B = net->B;
    const size_t BN = (size_t)B * r->h, SS = r->SS;
    spk_neuron *nr = r->pop[p];
    memset(r->dz, 0, (size_t)T * BN * sizeof(float));
    memset(r->dstate, 0, SS * sizeof(float));
    for (int t = T - 1; t >= 0; t--) {
        /* truncated BPTT: no gradient reaches the state across a window boundary */
        if (net->tbptt_k > 0 && t < T - 1 && (t + 1) % net->tbptt_k == 0) memset(r->dstate, 0, SS * sizeof(float));
        spk_status st = net->reference ? spk__neuron_step_backward_ref(nr, B, t, r->dstate, r->dz + t * BN, r->states + (size_t)t * SS,
                                                                       r->s + t * BN, r->z + t * BN, ds + t * BN, NULL)
                                       : spk_neuron_step_backward(nr, B, t, r->dstate, r->dz + t * BN, NULL, r->states + (size_t)t * SS,
                                                                  r->u + t * BN, r->s + t * BN, NULL, r->z + t * BN, NULL, ds + t * BN,
                                                                  NULL, NULL);
        if (st) return spk__fail(&net->obj, st, "node '%s' (reversible): %s", n->name, spk_errmsg(nr));
    }
    return SPK_OK;
}

static void add_rows(float *y, const float *x, size_t r0, size_t m, size_t h, float sign) {
    float *d = y + r0 * h;
    const float *s = x + r0 * h;
    size_t cnt = m * h;
    if (sign > 0)
        for (size_t k = 0; k < cnt; k++) d[k] += s[k];
    else
        for (size_t k = 0; k < cnt; k++) d[k] -= s[k];
}

/* ---------------------------------------------------------------- forward ------------- */

spk_status spk__rev_forward(spk_net *net, int v, int t0, int nt) {
    spk__node *n = &net->nodes[v];
    spk__rev *r = n->rev;
    const int B = net->B, L = r->cfg.blocks;
    const size_t h = (size_t)r->h, r0 = (size_t)t0 * B, m = (size_t)nt * B;
    const int whole = t0 == 0 && nt == net->T;
    if (!whole && t0 == 0) memset(r->carry, 0, (size_t)2 * L * r->SS * sizeof(float));
    split(r->w1, r->w2, n->in, r0, m, h);
    for (int b = 0; b < L; b++)
        for (int half = 0; half < 2; half++) { /* F: w1 += F(w2); G: w2 += G(w1) */
            int p = 2 * b + half;
            float *src = half ? r->w1 : r->w2, *dst = half ? r->w2 : r->w1;
            op_forward(net, n, p, r->z, src, r0, (int)m);
            /* the whole sequence: states[t] kept in the scratch (the fused out-of-place step);
             * step by step: each population's carried state */
            float *state = whole ? r->states : r->carry + (size_t)p * r->SS;
            if (whole) memset(state, 0, r->SS * sizeof(float));
            spk_status st = pop_forward(net, n, p, t0, nt, whole, state);
            if (st) return st;
            add_rows(dst, r->s, r0, m, h, 1.0f);
        }
    join(n->out, r->w1, r->w2, r0, m, h, 0);
    return SPK_OK;
}

/* ---------------------------------------------------------------- backward ------------ */

/* Block b's input from its output held in (w1, w2): recompute G(y1) (its activations stay
 * in the scratch), x2 = y2 - G(y1); then the same for F when `f_too`. */
static spk_status invert_half(spk_net *net, spk__node *n, int p, int keep) {
    spk__rev *r = n->rev;
    const int M = net->T * net->B;
    const size_t h = (size_t)r->h;
    int half = p & 1;
    float *src = half ? r->w1 : r->w2, *dst = half ? r->w2 : r->w1;
    op_forward(net, n, p, r->z, src, 0, M);
    memset(r->states, 0, r->SS * sizeof(float));
    spk_status st = pop_forward(net, n, p, 0, net->T, keep, r->states);
    if (st) return st;
    add_rows(dst, r->s, 0, (size_t)M, h, -1.0f);
    return SPK_OK;
}

spk_status spk__rev_backward(spk_net *net, int v, int t0, int nt) {
    spk__node *n = &net->nodes[v];
    spk__rev *r = n->rev;
    const int T = net->T, B = net->B, M = T * B, L = r->cfg.blocks;
    const size_t h = (size_t)r->h;
    /* the step-by-step (reference) path calls once per step, from T-1 down: the whole
     * backward runs at the first call (every dL/d(output) is known by then: the node is not
     * on a cycle), and the input gradient of every step is ready for each step's scatter */
    if (!(t0 == 0 && nt == T) && t0 != T - 1) return SPK_OK;
    split(r->w1, r->w2, n->out, 0, (size_t)M, h);
    split(r->g1, r->g2, n->dout, 0, (size_t)M, h);
    spk_status st;
    for (int b = L - 1; b >= 0; b--) {
        /* y2 = x2 + G(y1): recompute G on y1 = w1, then w2 becomes x2 */
        int p = 2 * b + 1;
        if ((st = invert_half(net, n, p, 1))) return st;
        if ((st = pop_backward(net, n, p, r->g2))) return st;
        op_backward(net, n, p, r->g1, r->dz, r->w1, M); /* dL/dy1 += G's path */
        /* y1 = x1 + F(x2): recompute F on x2 = w2, then w1 becomes x1 */
        p = 2 * b;
        if ((st = invert_half(net, n, p, 1))) return st;
        if ((st = pop_backward(net, n, p, r->g1))) return st;
        op_backward(net, n, p, r->g2, r->dz, r->w2, M); /* dL/dx2 += F's path */
    }
    if (n->need_din && n->din) join(n->din, r->g1, r->g2, 0, (size_t)M, h, 1);
    /* a shared learnable parameter's gradient is the sum over its population */
    for (int q = 0; q < SPK_NP_COUNT; q++)
        if (n->learn[q] == SPK_LEARN_SHARED)
            for (int p = 0; p < 2 * L; p++) {
                const float *g = spk_neuron_grad(r->pop[p], (spk_neuron_param)q);
                double sum = 0;
                for (int i = 0; i < r->h; i++) sum += g[i];
                net->grads[net->tensors[n->t_np[q]].off + (size_t)p] = (float)sum;
            }
    return SPK_OK;
}

/* ---------------------------------------------------------------- learnable ----------- */

void spk__rev_bind(spk_net *net, spk__node *n) {
    spk__rev *r = n->rev;
    for (int q = 0; q < SPK_NP_COUNT; q++) {
        if (!n->learn[q]) continue;
        size_t off = net->tensors[n->t_np[q]].off;
        for (int p = 0; p < 2 * r->cfg.blocks; p++) {
            if (n->learn[q] == SPK_LEARN_SHARED) net->params[off + (size_t)p] = spk_neuron_get_param(r->pop[p], (spk_neuron_param)q)[0];
            else spk__neuron_bind_param(r->pop[p], (spk_neuron_param)q, net->params + off + (size_t)p * r->h, net->grads + off + (size_t)p * r->h);
        }
    }
}

void spk__rev_params_changed(spk_net *net, spk__node *n, void (*project)(spk_neuron_param, float *, size_t)) {
    spk__rev *r = n->rev;
    for (int q = 0; q < SPK_NP_COUNT; q++) {
        if (!n->learn[q]) continue;
        const spk__tensor *t = &net->tensors[n->t_np[q]];
        project((spk_neuron_param)q, net->params + t->off, t->numel);
        if (n->learn[q] == SPK_LEARN_SHARED)
            for (int p = 0; p < 2 * r->cfg.blocks; p++) spk__neuron_fill_param(r->pop[p], (spk_neuron_param)q, net->params[t->off + (size_t)p]);
    }
    for (int p = 0; p < 2 * r->cfg.blocks; p++) spk__neuron_params_changed(r->pop[p]);
}

void spk__rev_zero_grad(spk__node *n) {
    if (n->rev && n->rev->pop)
        for (int p = 0; p < 2 * n->rev->cfg.blocks; p++) spk_neuron_zero_grad(n->rev->pop[p]);
}

spk_status spk__rev_invert(spk_net *net, int v, float *x) {
    if (!net || !net->has_forward || v < 0 || v >= net->n_nodes || net->nodes[v].kind != SPK_NODE_REVERSIBLE || !x)
        return spk__fail(net ? &net->obj : NULL, SPK_ERR_INVALID_ARG, "spk__rev_invert: not a reversible node after a forward");
    spk__node *n = &net->nodes[v];
    spk__rev *r = n->rev;
    const int M = net->T * net->B;
    split(r->w1, r->w2, n->out, 0, (size_t)M, (size_t)r->h);
    spk_status st;
    for (int b = r->cfg.blocks - 1; b >= 0; b--)
        if ((st = invert_half(net, n, 2 * b + 1, 0)) || (st = invert_half(net, n, 2 * b, 0))) return st;
    join(x, r->w1, r->w2, 0, (size_t)M, (size_t)r->h, 0);
    return SPK_OK;
}

/* ---------------------------------------------------------------- counts -------------- */

static int64_t taps_inside(int k, int out, int in, int pad) {
    int64_t c = 0;
    for (int o = 0; o < out; o++) c += o - pad + k >= 0 && o - pad + k < in;
    return c;
}

int64_t spk__rev_synapses(const spk_net *net, const spk__node *n) {
    const spk__rev *r = n->rev;
    const float *W = net->params + net->tensors[n->t_w].off;
    int64_t s = 0;
    size_t per = (size_t)r->hc * r->hc;
    for (int p = 0; p < 2 * r->cfg.blocks; p++)
        for (size_t q = 0; q < per; q++)
            for (int ky = 0; ky < (r->cfg.op == SPK_REV_CONV ? r->geom.k_h : 1); ky++)
                for (int kx = 0; kx < (r->cfg.op == SPK_REV_CONV ? r->geom.k_w : 1); kx++) {
                    if (W[((size_t)p * per + q) * r->kk + (size_t)ky * (r->kk == 1 ? 1 : r->geom.k_w) + kx] == 0.0f) continue;
                    if (r->cfg.op == SPK_REV_DENSE) s++;
                    else
                        s += taps_inside(ky, r->geom.out_h, r->geom.in_h, r->geom.pad_h) *
                             taps_inside(kx, r->geom.out_w, r->geom.in_w, r->geom.pad_w);
                }
    return s;
}

int64_t spk__rev_fan_in_mid(const spk_net *net, const spk__node *n) {
    const spk__rev *r = n->rev;
    const float *W = net->params + net->tensors[n->t_w].off;
    int64_t best = 0;
    int co = r->hc / 2;
    size_t row = (size_t)r->hc * r->kk;
    for (int p = 0; p < 2 * r->cfg.blocks; p++) {
        int64_t c = 0;
        const float *w = W + ((size_t)p * r->hc + co) * row;
        for (size_t q = 0; q < row; q++) c += w[q] != 0.0f;
        best = c > best ? c : best;
    }
    return best;
}

/* ---------------------------------------------------------------- engine access ------- */

int spk__rev_half(const spk__node *n) { return n->rev->h; }
const spk_conv_geom *spk__rev_geom(const spk__node *n) { return n->rev->cfg.op == SPK_REV_CONV ? &n->rev->geom : NULL; }
spk_neuron *spk__rev_pop(const spk__node *n, int p) { return n->rev->pop[p]; }
const float *spk__rev_weight(const spk_net *net, const spk__node *n, int p) { return W_op(net, n, p); }
const float *spk__rev_bias(const spk_net *net, const spk__node *n, int p) { return b_op(net, n, p); }
