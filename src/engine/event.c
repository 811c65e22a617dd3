/* event.c — the event-driven engine: a built network run one sample at a time, moving only
 * events (non-zero values), and counting every operation.
 *
 * Per step t, nodes run in the network's schedule order (a topological order of the graph
 * without its cycle-closing edges), so a node's within-step sources are done before it and a
 * cycle-closing edge reads its source's output of step t-1 (`prev`; before t = 0 the
 * source's response to zero input: a dense or conv node's bias, zero for the others).
 *
 * Every node output is an `evec`: a dense float vector that is zero outside a list of the
 * indices written this step (or `all`: any index may be non-zero, e.g. a dense node with a
 * bias). Clearing a vector walks its list, not the whole vector.
 *   input    the step's values; events are the non-zero ones
 *   dense    weights as compressed sparse rows, one row per INPUT (its outgoing synapses,
 *   conv     zero weights left out); each input event adds x * its row, in ascending
 *            input order, to the bias (or to 0, the bias added last: see step_synaptic).
 *            One SOP per event per row entry.
 *            A row that reaches every output is stored without column indices.
 *   pool     recomputed (the op's own kernel) only in steps with an input event; SOPs are
 *            input events times the windows each belongs to
 *   scale, flatten, merge, dropout (inference: the identity)   per event
 *   delay    a ring buffer of max_delay + 1 slots: an event at t lands in slot t + d
 *   neuron   updated only where an event arrived or the state is non-zero ("awake");
 *            a population with zero state and zero input stays at zero and silent (true of
 *            every deterministic firing function with a positive threshold; noisy
 *            populations are updated in full every step). LIF + Heaviside populations
 *            (the fused kernel's configurations) are updated per live neuron with the
 *            kernel's float expressions; other kinds run spk_neuron_step on the population
 *            in steps where any neuron is live.
 * A node with several incoming edges sums them in edge order, as the clock-driven engine
 * does (skipping zeros is exact: x + 0 = x). The engine reproduces the clock-driven spikes
 * exactly whenever the dense sums round the same; docs/engine.md says when that is
 * guaranteed (tests/test_event.c checks it).
 *
 * Deliberately not here: batches (one sample at a time), training (dropout is the identity,
 * no backward), threads (an event list is serial work), the CUBA network (cuba.c). */
#include "engine/engine_impl.h"
#include "net/net_impl.h"
#include "neuron/neuron_impl.h"

#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- event vectors ------- */

typedef struct evec {
    float *val;   /* [F], zero outside idx[0..n) (or anywhere when all) */
    int32_t *idx; /* [F] */
    int n, all, sorted;
    int F;
} evec;

static void evec_clear(evec *e) {
    if (e->all) memset(e->val, 0, (size_t)e->F * sizeof(float));
    else
        for (int k = 0; k < e->n; k++) e->val[e->idx[k]] = 0.0f;
    e->n = 0;
    e->all = 0;
    e->sorted = 1;
}

/* list the non-zero entries in index order (after the values were written densely) */
static void evec_scan(evec *e) {
    int n = 0;
    for (int k = 0; k < e->F; k++)
        if (e->val[k] != 0.0f) e->idx[n++] = k;
    e->n = n;
    e->all = 0;
    e->sorted = 1;
}

/* dst = src (dst's previous contents cleared) */
static void evec_copy(evec *dst, const evec *src) {
    evec_clear(dst);
    if (src->all) {
        memcpy(dst->val, src->val, (size_t)src->F * sizeof(float));
        dst->all = 1;
        return;
    }
    for (int k = 0; k < src->n; k++) {
        int i = src->idx[k];
        dst->val[i] = src->val[i];
        dst->idx[k] = i;
    }
    dst->n = src->n;
    dst->sorted = src->sorted;
}

static int cmp_i32(const void *a, const void *b) {
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

/* Make the list walk inputs in ascending order (or say to scan the whole vector). */
static int evec_order(evec *e) {
    if (e->all) return 1;
    if (!e->sorted) {
        if ((int64_t)e->n * 16 > e->F) return 1;
        qsort(e->idx, (size_t)e->n, sizeof(int32_t), cmp_i32);
        e->sorted = 1;
    }
    return 0;
}

/* ---------------------------------------------------------------- the engine ---------- */

/* weights as compressed sparse rows: row r = input r's outgoing synapses */
typedef struct csr {
    int rows, cols, full; /* full: every row is all `cols` outputs in order (no col array) */
    int64_t *ptr;         /* [rows + 1] */
    int32_t *col;         /* [nnz] (NULL when full) */
    float *w;             /* [nnz] */
    int64_t nnz;
} csr;

typedef struct enode {
    spk__node *nd;
    int F_in, F_out;
    int alias;       /* input is this source's output as it is (one within-step edge), or -1 */
    evec in, out, prev;
    uint8_t *in_mark;
    int is_back_src;
    /* dense / conv */
    csr W;
    float *bias;     /* [F_out] per output (conv: expanded per position), or NULL */
    int bias_first;  /* sums start from the bias (else the bias is added last) */
    evec acc;
    uint8_t *acc_mark;
    int64_t macs_per_step;
    /* pool */
    int32_t *fanout, *argmax;
    /* scale */
    const float *scale;
    /* delay */
    evec *ring;
    int ring_len;
    /* neuron */
    float *state;    /* [S, 1, N] */
    int fast;        /* LIF + Heaviside: per-live-neuron update */
    int noisy;
    int32_t *awake, *live;
    int n_awake;
    uint8_t *live_mark;
    float *rec_s, *rec_m; /* [T, N] of the last run */
    /* reversible blocks (step_reversible): per op p of 2L, its synapses and bias; each
     * population's state; the two streams [2, h], an op's sum and its spikes [h] */
    csr *rW;
    float *rbias, *rstate, *rx, *racc, *rspk;
    int rP;
    size_t rS;
} enode;

struct spk_event {
    spk__obj obj;
    spk_net *net;
    int n;
    enode *nodes;
    spk_event_node_stats *st;
    spk_event_stats stats;
    int T_rec;       /* steps the recordings hold */
    int in_numel;
};

static void free_evec(evec *e) {
    spk_free(e->val);
    spk_free(e->idx);
}

void spk_event_free(spk_event *ev) {
    if (!ev) return;
    for (int v = 0; v < ev->n && ev->nodes; v++) {
        enode *e = &ev->nodes[v];
        free_evec(&e->in);
        free_evec(&e->out);
        free_evec(&e->prev);
        free_evec(&e->acc);
        spk_free(e->in_mark);
        spk_free(e->acc_mark);
        spk_free(e->W.ptr);
        spk_free(e->W.col);
        spk_free(e->W.w);
        spk_free(e->bias);
        spk_free(e->fanout);
        spk_free(e->argmax);
        for (int k = 0; k < e->ring_len && e->ring; k++) free_evec(&e->ring[k]);
        spk_free(e->ring);
        spk_free(e->state);
        spk_free(e->awake);
        spk_free(e->live);
        spk_free(e->live_mark);
        spk_free(e->rec_s);
        spk_free(e->rec_m);
        for (int p = 0; p < e->rP && e->rW; p++) {
            spk_free(e->rW[p].ptr);
            spk_free(e->rW[p].col);
            spk_free(e->rW[p].w);
        }
        spk_free(e->rW);
        spk_free(e->rbias);
        spk_free(e->rstate);
        spk_free(e->rx);
        spk_free(e->racc);
        spk_free(e->rspk);
    }
    spk_free(ev->nodes);
    spk_free(ev->st);
    spk_free(ev);
}

static int evec_alloc(evec *e, int F) {
    e->F = F;
    e->val = spk_calloc((size_t)F, sizeof(float));
    e->idx = spk_malloc((size_t)F * sizeof(int32_t));
    e->sorted = 1;
    return e->val && e->idx;
}

#define NOMEM(what) spk__fail(&ev->obj, SPK_ERR_NOMEM, "event engine: node '%s': no memory for %s", nd->name, what)

/* Dense W [out, in] (torch's layout) into rows per input, zero weights left out. */
static spk_status build_dense(spk_event *ev, enode *e, const float *W) {
    spk__node *nd = e->nd;
    const int in = nd->d_in, out = nd->d_out;
    int64_t nnz = 0;
    for (size_t k = 0; k < (size_t)in * out; k++) nnz += W[k] != 0.0f;
    e->W.rows = in;
    e->W.cols = out;
    e->W.nnz = nnz;
    e->W.full = nnz == (int64_t)in * out;
    e->W.ptr = spk_malloc(((size_t)in + 1) * sizeof(int64_t));
    e->W.w = spk_malloc((size_t)(nnz ? nnz : 1) * sizeof(float));
    e->W.col = e->W.full ? NULL : spk_malloc((size_t)(nnz ? nnz : 1) * sizeof(int32_t));
    if (!e->W.ptr || !e->W.w || (!e->W.full && !e->W.col)) return NOMEM("its synapses");
    int64_t p = 0;
    for (int j = 0; j < in; j++) {
        e->W.ptr[j] = p;
        for (int o = 0; o < out; o++) {
            float w = W[(size_t)o * in + j];
            if (w == 0.0f && !e->W.full) continue;
            if (e->W.col) e->W.col[p] = o;
            e->W.w[p++] = w;
        }
    }
    e->W.ptr[in] = p;
    e->macs_per_step = (int64_t)in * out;
    return SPK_OK;
}

/* Conv: every (output position, kernel tap) that lands inside the input is one synapse. */
static spk_status build_conv(spk_event *ev, enode *e, const float *W) {
    spk__node *nd = e->nd;
    const spk_conv_geom *g = &nd->conv;
    const int cin_g = g->cin / g->groups, cout_g = g->cout / g->groups;
    const int iplane = g->in_h * g->in_w, oplane = g->out_h * g->out_w;
    const int rows = g->cin * iplane;
    e->macs_per_step = (int64_t)g->cout * cin_g * g->k_h * g->k_w * oplane;
    int64_t *cnt = spk_calloc((size_t)rows + 1, sizeof(int64_t));
    if (!cnt) return NOMEM("its synapses");
    /* two passes: count per input row, then fill (outputs in ascending order per row) */
    for (int pass = 0; pass < 2; pass++) {
        for (int co = 0; co < g->cout; co++) {
            int grp = co / cout_g;
            for (int oy = 0; oy < g->out_h; oy++)
                for (int ox = 0; ox < g->out_w; ox++) {
                    int o = co * oplane + oy * g->out_w + ox;
                    for (int ci = 0; ci < cin_g; ci++)
                        for (int ky = 0; ky < g->k_h; ky++) {
                            int iy = oy * g->stride_h - g->pad_h + ky * g->dil_h;
                            if (iy < 0 || iy >= g->in_h) continue;
                            for (int kx = 0; kx < g->k_w; kx++) {
                                int ix = ox * g->stride_w - g->pad_w + kx * g->dil_w;
                                if (ix < 0 || ix >= g->in_w) continue;
                                float w = W[(((size_t)co * cin_g + ci) * g->k_h + ky) * g->k_w + kx];
                                if (w == 0.0f) continue;
                                int r = (grp * cin_g + ci) * iplane + iy * g->in_w + ix;
                                if (pass == 0) cnt[r + 1]++;
                                else {
                                    int64_t p = cnt[r]++;
                                    e->W.col[p] = o;
                                    e->W.w[p] = w;
                                }
                            }
                        }
                }
        }
        if (pass == 0) {
            for (int r = 0; r < rows; r++) cnt[r + 1] += cnt[r];
            int64_t nnz = cnt[rows];
            e->W.rows = rows;
            e->W.cols = g->cout * oplane;
            e->W.nnz = nnz;
            e->W.ptr = spk_malloc(((size_t)rows + 1) * sizeof(int64_t));
            e->W.col = spk_malloc((size_t)(nnz ? nnz : 1) * sizeof(int32_t));
            e->W.w = spk_malloc((size_t)(nnz ? nnz : 1) * sizeof(float));
            if (!e->W.ptr || !e->W.col || !e->W.w) {
                spk_free(cnt);
                return NOMEM("its synapses");
            }
            memcpy(e->W.ptr, cnt, ((size_t)rows + 1) * sizeof(int64_t));
        }
    }
    spk_free(cnt);
    /* the inner loops above visit outputs in ascending order, so each row is sorted */
    return SPK_OK;
}

static spk_status build_pool(spk_event *ev, enode *e) {
    spk__node *nd = e->nd;
    const spk_pool_geom *g = &nd->pool;
    e->fanout = spk_calloc((size_t)e->F_in, sizeof(int32_t));
    e->argmax = spk_malloc((size_t)e->F_out * sizeof(int32_t));
    if (!e->fanout || !e->argmax) return NOMEM("its windows");
    int64_t syn = 0;
    for (int c = 0; c < g->c; c++)
        for (int oy = 0; oy < g->out_h; oy++)
            for (int ox = 0; ox < g->out_w; ox++) {
                int y0 = oy * g->stride_h - g->pad_h, x0 = ox * g->stride_w - g->pad_w;
                for (int iy = y0 < 0 ? 0 : y0; iy < y0 + g->k_h && iy < g->in_h; iy++)
                    for (int ix = x0 < 0 ? 0 : x0; ix < x0 + g->k_w && ix < g->in_w; ix++) {
                        e->fanout[(c * g->in_h + iy) * g->in_w + ix]++;
                        syn++;
                    }
            }
    e->W.nnz = syn;
    return SPK_OK;
}

/* Synapses feeding a node: those of the dense/conv/pool sources, through pass-through nodes. */
static int64_t fan_in(const spk_event *ev, int v, int depth) {
    const spk_net *net = ev->net;
    int64_t s = 0;
    if (depth > net->n_nodes) return 0;
    for (int k = 0; k < net->n_edges; k++) {
        if (net->edges[k].to != v) continue;
        int u = net->edges[k].from;
        spk_node_kind kd = net->nodes[u].kind;
        if (kd == SPK_NODE_DENSE || kd == SPK_NODE_CONV || kd == SPK_NODE_POOL) s += ev->nodes[u].W.nnz;
        else if (kd != SPK_NODE_NEURON && kd != SPK_NODE_INPUT && kd != SPK_NODE_REVERSIBLE) s += fan_in(ev, u, depth + 1);
    }
    return s;
}

/* Reversible blocks: each of the 2L ops as a dense or conv node of its own would be (the
 * same synapse rows, built by build_dense / build_conv on a stand-in node), each
 * population's state for one sample, and the step's buffers. */
static spk_status build_reversible(spk_event *ev, enode *e, int v) {
    spk_net *net = ev->net;
    spk__node *nd = &net->nodes[v];
    const spk_reversible_config *rc = spk_net_reversible_config(net, v);
    const spk_conv_geom *g = spk__rev_geom(nd);
    const int h = spk__rev_half(nd), P = 2 * rc->blocks;
    e->rW = spk_calloc((size_t)P, sizeof(csr));
    e->rbias = rc->bias ? spk_malloc((size_t)P * h * sizeof(float)) : NULL;
    e->rS = spk_neuron_state_size(spk__rev_pop(nd, 0), 1);
    e->rstate = spk_calloc((size_t)P * e->rS, sizeof(float));
    e->rx = spk_calloc((size_t)2 * h, sizeof(float));
    e->racc = spk_calloc((size_t)h, sizeof(float));
    e->rspk = spk_calloc((size_t)h, sizeof(float));
    if (!e->rW || (rc->bias && !e->rbias) || !e->rstate || !e->rx || !e->racc || !e->rspk) return NOMEM("its blocks");
    spk__node stand = *nd; /* an op of the blocks as a node of its own */
    stand.d_in = stand.d_out = g ? 0 : h;
    if (g) stand.conv = *g;
    int64_t syn = 0, macs = 0;
    for (int p = 0; p < P; p++) {
        enode op;
        memset(&op, 0, sizeof op);
        op.nd = &stand;
        spk_status st = g ? build_conv(ev, &op, spk__rev_weight(net, nd, p)) : build_dense(ev, &op, spk__rev_weight(net, nd, p));
        e->rW[p] = op.W;
        e->rP = p + 1; /* freed with the node from here on */
        if (st) return st;
        syn += op.W.nnz;
        macs += op.macs_per_step;
        const float *b = spk__rev_bias(net, nd, p);
        int per = g ? h / g->cout : 1;
        for (int k = 0; b && k < h; k++) e->rbias[(size_t)p * h + k] = b[k / per];
    }
    e->W.nnz = syn; /* the node's synapses (stats) */
    e->macs_per_step = macs;
    return SPK_OK;
}

static spk_status build_node(spk_event *ev, int v) {
    spk_net *net = ev->net;
    enode *e = &ev->nodes[v];
    spk__node *nd = &net->nodes[v];
    if (nd->kind == SPK_NODE_ATTENTION)
        return spk__fail(&ev->obj, SPK_ERR_UNSUPPORTED,
                         "event engine: node '%s' (attention) multiplies two spike-derived signals (q k^T v): it is not event-driven "
                         "synaptic accumulation; run the model with the clock-driven engine",
                         nd->name);
    e->nd = nd;
    e->F_in = nd->in_numel;
    e->F_out = nd->out_numel;
    e->alias = -1;
    e->is_back_src = nd->is_back_src;
    if (!evec_alloc(&e->out, e->F_out)) return NOMEM("its output");
    if (v != net->input) {
        int idx[2], k = spk__net_in_edges(net, v, idx, 2);
        if (k == 1 && !net->edges[idx[0]].delayed) e->alias = net->edges[idx[0]].from;
        else {
            if (!evec_alloc(&e->in, e->F_in)) return NOMEM("its input");
            e->in_mark = spk_calloc((size_t)e->F_in, 1);
            if (!e->in_mark) return NOMEM("its input");
        }
    }
    if (e->is_back_src && !evec_alloc(&e->prev, e->F_out)) return NOMEM("its previous output");
    size_t nw = 0, nb = 0;
    const float *W = spk_net_param(net, v, "weight", &nw), *b = spk_net_param(net, v, "bias", &nb);
    spk_status st = SPK_OK;
    if (nd->kind == SPK_NODE_NORM)
        return spk__fail(&ev->obj, SPK_ERR_UNSUPPORTED, "event engine: node '%s' (norm) is not event-driven: fold it into the dense or conv node before it (spk fold)", nd->name);
    switch (nd->kind) {
    case SPK_NODE_REVERSIBLE: return build_reversible(ev, e, v);
    case SPK_NODE_DENSE:
    case SPK_NODE_CONV:
        st = nd->kind == SPK_NODE_DENSE ? build_dense(ev, e, W) : build_conv(ev, e, W);
        if (st) return st;
        if (!evec_alloc(&e->acc, e->F_out) || !(e->acc_mark = spk_calloc((size_t)e->F_out, 1))) return NOMEM("its accumulator");
        if (b) {
            e->bias = spk_malloc((size_t)e->F_out * sizeof(float));
            if (!e->bias) return NOMEM("its bias");
            int per = nd->kind == SPK_NODE_CONV ? e->F_out / nd->conv.cout : 1;
            for (int k = 0; k < e->F_out; k++) e->bias[k] = b[k / per];
            e->bias_first = nd->kind == SPK_NODE_DENSE && nd->d_out >= 32;
        }
        break;
    case SPK_NODE_POOL: return build_pool(ev, e);
    case SPK_NODE_SCALE: e->scale = spk_net_param(net, v, "scale", NULL); break;
    case SPK_NODE_DELAY: {
        int maxd = 0;
        for (int k = 0; k < nd->ndelays; k++) maxd = nd->delays[k] > maxd ? nd->delays[k] : maxd;
        if ((int64_t)(maxd + 1) * e->F_out > SPK_EVENT_MAX_RING)
            return spk__fail(&ev->obj, SPK_ERR_UNSUPPORTED,
                             "event engine: node '%s' (delay): a delay of %d steps over %d features needs a ring buffer of %lld "
                             "entries, more than the engine's limit of %lld",
                             nd->name, maxd, e->F_out, (long long)(maxd + 1) * e->F_out, (long long)SPK_EVENT_MAX_RING);
        e->ring = spk_calloc((size_t)maxd + 1, sizeof(evec));
        if (!e->ring) return NOMEM("its ring buffer");
        e->ring_len = maxd + 1;
        for (int k = 0; k < e->ring_len; k++)
            if (!evec_alloc(&e->ring[k], e->F_out)) return NOMEM("its ring buffer");
        break;
    }
    case SPK_NODE_NEURON: {
        const spk_neuron_config *c = spk_neuron_get_config(nd->nr);
        size_t S = spk_neuron_state_size(nd->nr, 1);
        e->state = spk_calloc(S, sizeof(float));
        e->awake = spk_malloc((size_t)e->F_out * sizeof(int32_t));
        e->live = spk_malloc((size_t)e->F_out * sizeof(int32_t));
        e->live_mark = spk_calloc((size_t)e->F_out, 1);
        if (!e->state || !e->awake || !e->live || !e->live_mark) return NOMEM("its neuron state");
        e->fast = spk__neuron_has_fast_path(nd->nr);
        e->noisy = c->fire == SPK_FIRE_GAUSS || c->fire == SPK_FIRE_CAUCHY || (c->fire == SPK_FIRE_GRADED && c->graded_noise);
        break;
    }
    default: break;
    }
    return SPK_OK;
}

spk_status spk_event_create(spk_event **out, spk_net *net) {
    if (!out) return spk__fail(NULL, SPK_ERR_INVALID_ARG, "spk_event_create: out is NULL");
    *out = NULL;
    if (!net) return spk__fail(NULL, SPK_ERR_INVALID_ARG, "spk_event_create: network is NULL");
    if (!net->built) return spk__fail(NULL, SPK_ERR_STATE, "spk_event_create: build the network first (spk_net_build)");
    spk_event *ev = spk_calloc(1, sizeof *ev);
    if (!ev) return spk__fail(NULL, SPK_ERR_NOMEM, "spk_event_create: no memory");
    spk__obj_init(&ev->obj);
    ev->net = net;
    ev->n = net->n_nodes;
    ev->nodes = spk_calloc((size_t)ev->n, sizeof(enode));
    ev->st = spk_calloc((size_t)ev->n, sizeof(spk_event_node_stats));
    spk_status st = ev->nodes && ev->st ? SPK_OK : spk__fail(&ev->obj, SPK_ERR_NOMEM, "spk_event_create: no memory");
    spk_net_params_changed(net); /* shared learnable neuron values reach their populations */
    for (int v = 0; v < ev->n && !st; v++) st = build_node(ev, v);
    if (st) { /* nothing half-built is left behind */
        spk__set_thread_error(spk_errmsg(ev));
        spk_event_free(ev);
        return st;
    }
    ev->in_numel = net->nodes[net->input].out_numel;
    for (int v = 0; v < ev->n; v++) {
        spk_event_node_stats *s = &ev->st[v];
        spk__node *nd = &net->nodes[v];
        s->kind = nd->kind;
        s->name = nd->name;
        s->neurons = nd->kind == SPK_NODE_NEURON ? nd->out_numel : 0;
        if (nd->kind == SPK_NODE_REVERSIBLE) s->neurons = (int64_t)spk_net_reversible_config(net, v)->blocks * nd->out_numel;
        s->synapses = nd->kind == SPK_NODE_DENSE || nd->kind == SPK_NODE_CONV || nd->kind == SPK_NODE_POOL ||
                              nd->kind == SPK_NODE_REVERSIBLE
                          ? ev->nodes[v].W.nnz
                      : nd->kind == SPK_NODE_NEURON                                                          ? fan_in(ev, v, 0)
                                                                                                              : 0;
    }
    spk_event_reset_stats(ev);
    *out = ev;
    return SPK_OK;
}

void spk_event_reset_stats(spk_event *ev) {
    if (!ev) return;
    for (int v = 0; v < ev->n; v++) ev->st[v].spikes = ev->st[v].sops = ev->st[v].updates = ev->st[v].macs = 0;
    ev->stats.samples = ev->stats.steps = 0;
}

const spk_event_stats *spk_event_get_stats(spk_event *ev) {
    if (!ev) return NULL;
    spk_event_stats *t = &ev->stats;
    t->n_nodes = ev->n;
    t->nodes = ev->st;
    t->neurons = t->synapses = t->spikes = t->sops = t->updates = t->macs = t->input_events = 0;
    for (int v = 0; v < ev->n; v++) {
        const spk_event_node_stats *s = &ev->st[v];
        t->neurons += s->neurons;
        if (s->kind != SPK_NODE_NEURON) t->synapses += s->synapses; /* a neuron's fan-in repeats its ops' */
        if (s->kind == SPK_NODE_NEURON || s->kind == SPK_NODE_REVERSIBLE) t->spikes += s->spikes;
        if (s->kind == SPK_NODE_INPUT) t->input_events += s->spikes;
        t->sops += s->sops;
        t->updates += s->updates;
        t->macs += s->macs;
    }
    return t;
}

/* ---------------------------------------------------------------- one step ------------ */

static const evec *input_of(spk_event *ev, int v) {
    enode *e = &ev->nodes[v];
    if (e->alias >= 0) return &ev->nodes[e->alias].out;
    /* several edges (or a cycle-closing one): sum them in edge order, as gather() does */
    evec *in = &e->in;
    for (int k = 0; k < in->n; k++) e->in_mark[in->idx[k]] = 0;
    if (in->all) memset(e->in_mark, 0, (size_t)in->F);
    evec_clear(in);
    const spk_net *net = ev->net;
    int sources = 0;
    for (int k = 0; k < net->n_edges; k++) {
        const spk__edge *ed = &net->edges[k];
        if (ed->to != v) continue;
        const enode *s = &ev->nodes[ed->from];
        const evec *src = ed->delayed ? &s->prev : &s->out;
        int n = src->all ? src->F : src->n;
        for (int q = 0; q < n; q++) {
            int i = src->all ? q : src->idx[q];
            float x = src->val[i];
            if (x == 0.0f) continue;
            if (!e->in_mark[i]) {
                e->in_mark[i] = 1;
                in->idx[in->n++] = i;
            }
            in->val[i] += x;
        }
        sources++;
    }
    in->sorted = sources <= 1;
    return in;
}

/* dense / conv: the sum over input events j, in ascending order, of x_j * row j, either
 * started from the bias (dense ops with >= 32 outputs: the order of the clock engine's
 * gather-add kernel, which it takes for such ops on sparse inputs) or from 0 with the bias
 * added last (conv, and narrower dense ops: the order of the clock engine's conv gather-add
 * and of a GEMM's bias + product) */
static void step_synaptic(spk_event *ev, int v, const evec *in_c) {
    enode *e = &ev->nodes[v];
    evec *in = (evec *)in_c, *acc = &e->acc, *out = &e->out;
    for (int k = 0; k < acc->n; k++) e->acc_mark[acc->idx[k]] = 0;
    evec_clear(acc);
    if (e->bias && e->bias_first) {
        memcpy(acc->val, e->bias, (size_t)acc->F * sizeof(float));
        acc->all = 1;
    }
    const csr *W = &e->W;
    int scan = evec_order(in);
    int n = scan ? in->F : in->n;
    int64_t sops = 0;
    for (int q = 0; q < n; q++) {
        int j = scan ? q : in->idx[q];
        float x = in->val[j];
        if (x == 0.0f) continue;
        int64_t p0 = W->ptr[j], p1 = W->ptr[j + 1];
        sops += p1 - p0;
        if (W->full) {
            const float *w = W->w + p0;
            float *a = acc->val;
            for (int o = 0; o < W->cols; o++) a[o] += w[o] * x;
            acc->all = 1;
        } else {
            for (int64_t p = p0; p < p1; p++) {
                int o = W->col[p];
                if (!acc->all && !e->acc_mark[o]) {
                    e->acc_mark[o] = 1;
                    acc->idx[acc->n++] = o;
                }
                acc->val[o] += W->w[p] * x;
            }
        }
    }
    if (acc->all) { /* a full row reached every output; the marks of the list are moot */
        for (int k = 0; k < acc->n; k++) e->acc_mark[acc->idx[k]] = 0;
        acc->n = 0;
    }
    ev->st[v].sops += sops;
    ev->st[v].macs += e->macs_per_step;
    evec_clear(out);
    if (e->bias && !e->bias_first) {
        for (int o = 0; o < out->F; o++) out->val[o] = acc->val[o] + e->bias[o];
        out->all = 1;
    } else if (acc->all) {
        memcpy(out->val, acc->val, (size_t)out->F * sizeof(float));
        out->all = 1;
    } else {
        for (int k = 0; k < acc->n; k++) {
            int o = acc->idx[k];
            out->val[o] = acc->val[o];
            out->idx[k] = o;
        }
        out->n = acc->n;
        out->sorted = 0;
    }
}

/* The fused kernel's per-element forms (neuron_step.c, lif_row), one live neuron at a time. */
static inline void lif_one(const spk_neuron_config *c, float lamv, float thr, float x, float *v, float *sp, float *s_out) {
    const float lo = c->clamp_decay ? 0.0f : -1.0f, g = c->gain, vr = c->v_reset;
    const float l0 = lamv < lo ? lo : lamv, lam = l0 > 1.0f ? 1.0f : l0;
    const float inp = g * x, r = *sp, vv = *v;
    float m, vn;
    if (c->timing == SPK_TIMING_DELAYED) {
        switch (c->reset) {
        case SPK_RESET_SOFT: m = (lam * vv + inp) - r * thr; break;
        case SPK_RESET_HARD: m = lam * ((1.0f - r) * vv + r * vr) + inp; break;
        case SPK_RESET_HARD_ALL: m = (1.0f - r) * (lam * vv + inp) + r * vr; break;
        default: m = lam * vv + inp; break;
        }
        const float sv = m - thr > 0.0f ? 1.0f : 0.0f;
        vn = m;
        *sp = sv;
    } else {
        m = lam * vv + inp;
        const float sv = m - thr > 0.0f ? 1.0f : 0.0f;
        switch (c->reset) {
        case SPK_RESET_SOFT: vn = m - sv * thr; break;
        case SPK_RESET_HARD:
        case SPK_RESET_HARD_ALL: vn = (1.0f - sv) * m + sv * vr; break;
        default: vn = m; break;
        }
        *sp = sv;
    }
    *v = vn;
    *s_out = *sp;
}

static void step_neuron(spk_event *ev, int v, const evec *in, int t) {
    enode *e = &ev->nodes[v];
    spk__node *nd = e->nd;
    const int N = e->F_out;
    evec *out = &e->out;
    evec_clear(out);
    /* live = awake (non-zero state) + every neuron an event reached */
    int nl = 0, every = e->noisy || in->all;
    if (every) nl = N;
    else {
        for (int k = 0; k < e->n_awake; k++) {
            int i = e->awake[k];
            e->live_mark[i] = 1;
            e->live[nl++] = i;
        }
        for (int k = 0; k < in->n; k++) {
            int i = in->idx[k];
            if (!e->live_mark[i]) {
                e->live_mark[i] = 1;
                e->live[nl++] = i;
            }
        }
        for (int k = 0; k < nl; k++) e->live_mark[e->live[k]] = 0;
    }
    ev->st[v].updates += nl;
    float *rs = e->rec_s ? e->rec_s + (size_t)t * N : NULL, *rm = e->rec_m ? e->rec_m + (size_t)t * N : NULL;
    if (nl == 0) return; /* zero state, no input: stays zero and silent */
    spk_neuron *nr = nd->nr;
    const int oV = spk_neuron_slot_offset(nr, SPK_SLOT_V);
    float *V = e->state + (size_t)oV * N;
    int na = 0;
    if (e->fast) {
        const spk_neuron_config *c = spk_neuron_get_config(nr);
        const float *lam = spk_neuron_get_param(nr, SPK_NP_LAM), *thr = spk_neuron_get_param(nr, SPK_NP_THR);
        float *S = e->state + (size_t)spk_neuron_slot_offset(nr, SPK_SLOT_S) * N;
        for (int k = 0; k < nl; k++) {
            int i = every ? k : e->live[k];
            float s;
            lif_one(c, lam[i], thr[i], in->val[i], &V[i], &S[i], &s);
            if (s != 0.0f) {
                out->val[i] = s;
                out->idx[out->n++] = i;
            }
            if (V[i] != 0.0f || S[i] != 0.0f) e->awake[na++] = i;
            if (rm) rm[i] = V[i];
        }
        out->sorted = every;
    } else {
        /* the population's own step on the whole population (x is zero off the list) */
        spk_neuron_step(nr, 1, t, e->state, NULL, out->val, in->val, NULL, NULL);
        evec_scan(out);
        const int S = (int)(spk_neuron_state_size(nr, 1) / (size_t)N);
        for (int i = 0; i < N; i++) {
            int nz = 0;
            for (int q = 0; q < S && !nz; q++) nz = e->state[(size_t)q * N + i] != 0.0f;
            if (nz) e->awake[na++] = i;
        }
        if (rm) memcpy(rm, V, (size_t)N * sizeof(float));
    }
    e->n_awake = na;
    ev->st[v].spikes += out->n;
    if (rs)
        for (int k = 0; k < out->n; k++) rs[out->idx[k]] = out->val[out->idx[k]];
}

/* A SEW merge AND / IAND (graph_sew.c): y = a s or (1 - a) s from its two sources' outputs
 * of this step (the first edge connected is a; neither edge is delayed: build refuses it).
 * Only the shortcut's events can give a nonzero output, so only they are visited. */
static void step_merge_op(spk_event *ev, int v) {
    enode *e = &ev->nodes[v];
    int idx[2];
    spk__net_in_edges(ev->net, v, idx, 2);
    const evec *a = &ev->nodes[ev->net->edges[idx[0]].from].out, *s = &ev->nodes[ev->net->edges[idx[1]].from].out;
    evec *out = &e->out;
    int iand = e->nd->merge_op == SPK_MERGE_IAND, n = s->all ? s->F : s->n;
    evec_clear(out);
    for (int q = 0; q < n; q++) {
        int i = s->all ? q : s->idx[q];
        float y = iand ? (1.0f - a->val[i]) * s->val[i] : a->val[i] * s->val[i];
        if (y == 0.0f) continue;
        out->val[i] = y;
        out->idx[out->n++] = i;
    }
    out->sorted = s->all || s->sorted;
    ev->st[v].spikes += out->n;
}

/* Reversible blocks on one sample: per block, y1 = x1 + F(x2), then y2 = x2 + G(y1). An op
 * adds x * row for each non-zero stream value x in ascending input order from 0, then its
 * bias (the order of the clock engine's GEMM with its bias); its population steps whole
 * (spk_neuron_step, as the clock engine's forward). One SOP per event per synapse (a stream
 * value is a sum of spikes: a value n > 1 is counted as one multiply-accumulate); `spikes`
 * counts the populations' spikes; `updates` every neuron of every population each step. */
static void step_reversible(spk_event *ev, int v, const evec *in, int t) {
    enode *e = &ev->nodes[v];
    spk__node *nd = e->nd;
    const int h = spk__rev_half(nd);
    evec *out = &e->out;
    memcpy(e->rx, in->val, (size_t)2 * h * sizeof(float));
    int64_t sops = 0, spikes = 0;
    for (int p = 0; p < e->rP; p++) {
        const float *src = p & 1 ? e->rx : e->rx + h;
        float *dst = p & 1 ? e->rx + h : e->rx, *a = e->racc;
        const csr *W = &e->rW[p];
        memset(a, 0, (size_t)h * sizeof(float));
        for (int j = 0; j < h; j++) {
            float x = src[j];
            if (x == 0.0f) continue;
            int64_t p0 = W->ptr[j], p1 = W->ptr[j + 1];
            sops += p1 - p0;
            if (W->full)
                for (int o = 0; o < h; o++) a[o] += W->w[p0 + o] * x;
            else
                for (int64_t q = p0; q < p1; q++) a[W->col[q]] += W->w[q] * x;
        }
        if (e->rbias)
            for (int o = 0; o < h; o++) a[o] += e->rbias[(size_t)p * h + o];
        spk_neuron_step(spk__rev_pop(nd, p), 1, t, e->rstate + (size_t)p * e->rS, NULL, e->rspk, a, NULL, NULL);
        for (int o = 0; o < h; o++)
            if (e->rspk[o] != 0.0f) {
                dst[o] += e->rspk[o];
                spikes++;
            }
    }
    evec_clear(out);
    memcpy(out->val, e->rx, (size_t)2 * h * sizeof(float));
    evec_scan(out);
    ev->st[v].sops += sops;
    ev->st[v].macs += e->macs_per_step;
    ev->st[v].updates += (int64_t)e->rP * h;
    ev->st[v].spikes += spikes;
}

static void step_node(spk_event *ev, int v, int t, const float *xt) {
    enode *e = &ev->nodes[v];
    spk__node *nd = e->nd;
    evec *out = &e->out;
    if (v == ev->net->input) {
        evec_clear(out);
        memcpy(out->val, xt, (size_t)out->F * sizeof(float));
        evec_scan(out);
        ev->st[v].spikes += out->n;
        return;
    }
    if (nd->kind == SPK_NODE_MERGE && nd->merge_op != SPK_MERGE_ADD) {
        step_merge_op(ev, v);
        return;
    }
    const evec *in = input_of(ev, v);
    int n = in->all ? in->F : in->n;
    switch (nd->kind) {
    case SPK_NODE_DENSE:
    case SPK_NODE_CONV: step_synaptic(ev, v, in); return;
    case SPK_NODE_NEURON: step_neuron(ev, v, in, t); return;
    case SPK_NODE_REVERSIBLE: step_reversible(ev, v, in, t); return;
    case SPK_NODE_POOL: {
        evec_clear(out);
        int64_t sops = 0;
        for (int q = 0; q < n; q++) {
            int i = in->all ? q : in->idx[q];
            if (in->val[i] != 0.0f) sops += e->fanout[i];
        }
        if (sops) { /* some input event: the op's own kernel over the (mostly zero) plane */
            spk_op_pool_forward(out->val, e->argmax, in->val, &nd->pool, 1);
            evec_scan(out);
        }
        ev->st[v].sops += sops;
        break;
    }
    case SPK_NODE_SCALE:
        evec_clear(out);
        for (int q = 0; q < n; q++) {
            int i = in->all ? q : in->idx[q];
            float y = in->val[i] * e->scale[i];
            if (y == 0.0f) continue;
            out->val[i] = y;
            out->idx[out->n++] = i;
        }
        out->sorted = in->all || in->sorted;
        break;
    case SPK_NODE_DELAY: {
        const int L = e->ring_len;
        for (int q = 0; q < n; q++) {
            int i = in->all ? q : in->idx[q];
            float x = in->val[i];
            if (x == 0.0f) continue;
            evec *slot = &e->ring[(t + nd->delays[i]) % L];
            slot->val[i] = x; /* one input step lands in a slot: never twice for a feature */
            slot->idx[slot->n++] = i;
            slot->sorted = 0;
        }
        evec *now = &e->ring[t % L];
        evec_copy(out, now);
        evec_clear(now);
        break;
    }
    default: /* flatten, merge, dropout (inference: the identity) */
        evec_copy(out, in);
        break;
    }
    if (nd->kind != SPK_NODE_NEURON) ev->st[v].spikes += out->all ? 0 : out->n;
}

/* the output of a back-edge source before t = 0: its response to zero input */
static void init_prev(enode *e) {
    evec_clear(&e->prev);
    if ((e->nd->kind == SPK_NODE_DENSE || e->nd->kind == SPK_NODE_CONV) && e->bias) {
        memcpy(e->prev.val, e->bias, (size_t)e->F_out * sizeof(float));
        e->prev.all = 1;
    }
}

spk_status spk_event_run(spk_event *ev, int T, const float *x) {
    if (!ev) return spk__fail(NULL, SPK_ERR_INVALID_ARG, "spk_event_run: engine is NULL");
    if (T < 1 || !x) return spk__fail(&ev->obj, SPK_ERR_INVALID_ARG, "spk_event_run: T = %d, x %s", T, x ? "given" : "is NULL");
    spk_net *net = ev->net;
    /* recordings [T, N] of every population */
    if (T != ev->T_rec) {
        for (int v = 0; v < ev->n; v++) {
            enode *e = &ev->nodes[v];
            if (e->nd->kind != SPK_NODE_NEURON) continue;
            spk_free(e->rec_s);
            spk_free(e->rec_m);
            e->rec_s = spk_malloc((size_t)T * e->F_out * sizeof(float));
            e->rec_m = spk_malloc((size_t)T * e->F_out * sizeof(float));
            if (!e->rec_s || !e->rec_m) {
                ev->T_rec = 0;
                return spk__fail(&ev->obj, SPK_ERR_NOMEM, "spk_event_run: no memory to record %d steps of '%s'", T, e->nd->name);
            }
        }
        ev->T_rec = T;
    }
    /* the zero state of every node */
    for (int v = 0; v < ev->n; v++) {
        enode *e = &ev->nodes[v];
        evec_clear(&e->out);
        if (e->is_back_src) init_prev(e);
        for (int k = 0; k < e->ring_len; k++) evec_clear(&e->ring[k]);
        if (e->rstate) memset(e->rstate, 0, (size_t)e->rP * e->rS * sizeof(float));
        if (e->state) {
            memset(e->state, 0, spk_neuron_state_size(e->nd->nr, 1) * sizeof(float));
            e->n_awake = 0;
            memset(e->rec_s, 0, (size_t)T * e->F_out * sizeof(float));
            memset(e->rec_m, 0, (size_t)T * e->F_out * sizeof(float));
        }
    }
    for (int t = 0; t < T; t++) {
        const float *xt = x + (size_t)t * ev->in_numel;
        for (int k = 0; k < net->n_nodes; k++) step_node(ev, net->order[k], t, xt);
        for (int v = 0; v < ev->n; v++)
            if (ev->nodes[v].is_back_src) evec_copy(&ev->nodes[v].prev, &ev->nodes[v].out);
    }
    ev->stats.samples++;
    ev->stats.steps += T;
    return SPK_OK;
}

const float *spk_event_signal(const spk_event *ev, int node, spk_signal sig) {
    if (!ev || node < 0 || node >= ev->n || !ev->T_rec) return NULL;
    const enode *e = &ev->nodes[node];
    return sig == SPK_SIGNAL_OUT ? e->rec_s : sig == SPK_SIGNAL_MEM ? e->rec_m : NULL;
}

int spk_event_steps(const spk_event *ev) { return ev ? ev->T_rec : 0; }
