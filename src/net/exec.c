/* exec.c — running a built network clock-driven over T steps on a batch: forward (keeping
 * every step's activations) and backpropagation through time.
 *
 * The schedule is a list of groups in topological order. A group that is not on a cycle
 * runs layer-major: its op over all T*B rows at once (one GEMM for a dense layer; a neuron
 * population steps through time inside its own call). A group on a cycle runs step by step:
 * for t, each member in order on its B rows. A node's input is the sum of its incoming
 * edges; a delayed edge delivers the source's output of step t-1 (its `init` at t = 0).
 * Backward walks the same schedule in reverse; ops ACCUMULATE into their input gradients.
 *
 * Deliberately not here: losses and optimizers (src/train), event-driven execution. */
#include "net/net_impl.h"
#include "neuron/neuron_impl.h"

#include <omp.h>
#include <stdio.h>
#include <string.h>

/* ---------------------------------------------------------------- memory -------------- */

typedef struct plan {
    size_t bytes;
    char *base;
} plan;

/* Reserve (when base == NULL, only count) a 64-byte aligned block of `n` floats. */
static void *take(plan *p, size_t n, size_t elem) {
    size_t off = spk__align_up(p->bytes, SPK__ALIGN);
    p->bytes = off + n * elem;
    return p->base ? p->base + off : NULL;
}

static int single_alias_source(const spk_net *net, int v) {
    int idx[2];
    int k = spk__net_in_edges(net, v, idx, 2);
    if (k != 1 || net->edges[idx[0]].delayed) return -1;
    return net->edges[idx[0]].from;
}

static void lay_out(spk_net *net, plan *p, int T, int B) {
    size_t TB = (size_t)T * B;
    size_t ws = 0;
    for (int v = 0; v < net->n_nodes; v++) {
        spk__node *n = &net->nodes[v];
        n->out = take(p, TB * n->out_numel, sizeof(float));
        /* the input's gradient only when asked for (it is the size of the whole input) */
        n->dout = v == net->input && !net->want_input_grad ? NULL : take(p, TB * n->out_numel, sizeof(float));
        int src = v == net->input ? -1 : single_alias_source(net, v);
        /* a neuron's backward always writes its input gradient: one fed straight by the input
         * (whose gradient buffer exists only when asked for) gets buffers of its own */
        if (src == net->input && n->kind == SPK_NODE_NEURON && !net->want_input_grad) src = -1;
        n->in_alias = src >= 0;
        if (v == net->input) {
            n->in = n->din = NULL;
        } else if (!n->in_alias) {
            n->in = take(p, TB * n->in_numel, sizeof(float));
            n->din = take(p, TB * n->in_numel, sizeof(float));
        }
        n->mem = n->u = n->states = n->dmem = n->dstate = n->mask = n->init = n->dinit = NULL;
        n->argmax = NULL;
        if (n->kind == SPK_NODE_NEURON) {
            size_t SS = spk_neuron_state_size(n->nr, B);
            n->thin = !net->reference && spk__neuron_thin_ok(n->nr);
            n->states = take(p, (size_t)(n->thin ? 1 : T + 1) * SS, sizeof(float));
            n->mem = take(p, TB * n->out_numel, sizeof(float));
            n->u = n->thin ? n->mem : take(p, TB * n->out_numel, sizeof(float));
            n->dstate = take(p, SS, sizeof(float));
        }
        if (n->kind == SPK_NODE_POOL && n->pool.kind == SPK_POOL_MAX) n->argmax = take(p, TB * n->out_numel, sizeof(int32_t));
        if (n->kind == SPK_NODE_DROPOUT) n->mask = take(p, (size_t)B * n->out_numel, sizeof(float));
        if (n->kind == SPK_NODE_REVERSIBLE) spk__rev_set_carry(n, take(p, spk__rev_carry_floats(net, n, B), sizeof(float)));
        if (n->is_back_src) {
            n->init = take(p, (size_t)B * n->out_numel, sizeof(float));
            n->dinit = take(p, (size_t)B * n->out_numel, sizeof(float));
        }
        if (n->kind == SPK_NODE_CONV) {
            size_t w = spk_op_conv_workspace(&n->conv, n->recurrent ? B : (int)TB);
            ws = w > ws ? w : ws;
        }
    }
    /* alias views are resolved after every out exists */
    if (p->base)
        for (int v = 0; v < net->n_nodes; v++) {
            spk__node *n = &net->nodes[v];
            if (n->in_alias) {
                int src = single_alias_source(net, v);
                n->in = net->nodes[src].out;
                n->din = net->nodes[src].dout;
            }
        }
    net->conv_ws_floats = ws;
    net->conv_ws = take(p, ws ? ws : 1, sizeof(float));
    /* one scratch for every reversible node (reversible.c), the largest any needs */
    size_t rs = 0;
    for (int v = 0; v < net->n_nodes; v++)
        if (net->nodes[v].kind == SPK_NODE_REVERSIBLE) {
            size_t f = spk__rev_scratch_floats(net, &net->nodes[v], T, B);
            rs = f > rs ? f : rs;
        }
    float *rbase = rs ? take(p, rs, sizeof(float)) : NULL;
    for (int v = 0; v < net->n_nodes && rbase; v++)
        if (net->nodes[v].kind == SPK_NODE_REVERSIBLE) spk__rev_set_scratch(net, &net->nodes[v], rbase, T, B);
}

static spk_status ensure_activations(spk_net *net, int T, int B) {
    plan p = {0, NULL};
    lay_out(net, &p, T, B);
    size_t need = p.bytes + SPK__ALIGN;
    if (need > net->act_cap) {
        spk__free_huge(net->act);
        net->act = spk__malloc_huge(need);
        net->act_cap = net->act ? need : 0;
        net->has_forward = 0; /* the old buffers are gone */
        if (!net->act) return spk__fail(&net->obj, SPK_ERR_NOMEM, "forward: no memory for activations (%zu MiB for T=%d, B=%d)", need >> 20, T, B);
    }
    /* what is known of the output gradients holds for one layout of one buffer */
    if (T != net->T || B != net->B || !net->has_forward)
        for (int v = 0; v < net->n_nodes; v++)
            net->nodes[v].dout_zero_at = net->nodes[v].dout_clean_at = NULL, net->nodes[v].dout_pending = 0;
    plan q = {0, (char *)spk__align_up((size_t)net->act, SPK__ALIGN)};
    lay_out(net, &q, T, B);
    /* Every buffer the forward reads it has written first, except the initial neuron state;
     * gradient buffers are zeroed by spk_net_zero_grad and backward (not here: zeroing the
     * whole block each forward cost as much as a conv layer). */
    for (int v = 0; v < net->n_nodes; v++)
        if (net->nodes[v].states) memset(net->nodes[v].states, 0, spk_neuron_state_size(net->nodes[v].nr, B) * sizeof(float));
    net->T = T;
    net->B = B;
    net->act_bytes = p.bytes;
    return SPK_OK;
}

/* ---------------------------------------------------------------- forward ------------- */

/* dst = src, or 0 when src is NULL: large buffers by all threads (one thread's stores do not
 * use the memory bandwidth of two cores). */
static void set_floats(float *dst, const float *src, size_t n) {
    const size_t CH = (size_t)1 << 16;
    const long nch = (long)((n + CH - 1) / CH);
#pragma omp parallel for schedule(static) if (nch > 4)
    for (long c = 0; c < nch; c++) {
        const size_t a = (size_t)c * CH, len = (a + CH < n ? CH : n - a) * sizeof(float);
        if (src) memcpy(dst + a, src + a, len);
        else memset(dst + a, 0, len);
    }
}

/* Whether a dense or conv node's op on `rows` rows of input x takes the sparse kernels:
 * never on the reference path; else by the measured density of x, which is then compressed
 * into the node's CSR (n->csr; n->csr_at, which the sparse ops read, may be another node's
 * of the same array). 0 (the GEMM path) also when memory for it is lacking. */
static void fill_input(spk_net *net);
static int only_reader(const spk_net *net, int v);

static int use_sparse(spk_net *net, spk__node *n, const float *x, int rows, int weight_grad) {
    if (net->reference) return 0;
    /* an input not copied: read from the caller's array during the forward (the same values);
     * after it, the layer's compressed copy is all there is (or the input is written out) */
    const spk__node *in = &net->nodes[net->input];
    const float *data = x;
    if (in->out_lazy && x >= in->out && x < in->out + (size_t)net->T * net->B * in->out_numel) {
        if (net->x_lazy) data = net->x_lazy + (x - in->out);
        else if (!(n->csr_ok && n->csr_x == x && n->csr_at->M == rows)) fill_input(net);
    }
    /* (few outputs: the GEMM, unless the narrow kernels take it; counting costs a pass) */
    if (n->kind == SPK_NODE_DENSE && !spk_op_dense_prefer_sparse(0, rows, n->d_in, n->d_out, weight_grad)) return 0;
    if (n->kind == SPK_NODE_CONV && n->conv.groups != 1) return 0;
    /* the backward of a layer-major op sees the input its forward compressed: reuse it; and
     * an input another layer-major op compressed in this forward (the same array: a
     * population read by two layers) is compressed once */
    int have = n->csr_ok && n->csr_x == x && n->csr_at->M == rows;
    for (int v = 0; v < net->n_nodes && !have; v++) {
        const spk__node *m = &net->nodes[v];
        /* (a CSR of all T*B rows is made once per forward: layer-major, or a recurrent cell's;
         * a step-by-step node's covers B rows and changes every step) */
        if (m != n && m->csr_ok && m->csr_x == x && rows == net->T * net->B && m->csr_at->M == rows &&
            m->csr_at->cols == n->in_numel) {
            n->csr_at = m->csr_at;
            n->csr_ok = have = 1;
            n->csr_x = x;
        }
    }
    if (!have) n->csr_at = &n->csr;
    size_t nnz = have ? n->csr_at->nnz : spk_op_csr_count(&n->csr, data, rows, n->in_numel);
    if (nnz == (size_t)-1) return 0;
    int prefer = n->kind == SPK_NODE_DENSE ? spk_op_dense_prefer_sparse(nnz, rows, n->d_in, n->d_out, weight_grad)
                                           : spk_op_conv_prefer_sparse(nnz, rows, &n->conv, weight_grad);
    if (!prefer || have) {
        n->csr_ok = have; /* a count without a fill leaves entries of another input */
        return prefer;
    }
    n->csr_ok = spk_op_csr_fill(&n->csr, data) == 0;
    n->csr_x = x;
    return n->csr_ok;
}

/* Node n's input, when it is the input node's output, written out first (fill_input). */
static void need_input(spk_net *net, const spk__node *n) {
    if (n->in == net->nodes[net->input].out) fill_input(net);
}

/* Write out the steps of an input that was not copied (out_lazy): from the caller's array
 * during the forward, else from its reader's compressed copy (zeros and the nonzeros: the
 * same values; a -0.0 comes back as +0.0). */
static void fill_input(spk_net *net) {
    spk__node *in = &net->nodes[net->input];
    if (!in->out_lazy) return;
    const size_t row = (size_t)net->B * in->out_numel, n = (size_t)net->T * row;
    in->out_lazy = 0;
    if (net->x_lazy) {
        set_floats(in->out, net->x_lazy, n);
        return;
    }
    const spk__node *r = &net->nodes[only_reader(net, net->input)];
    set_floats(in->out, NULL, n);
    const spk_csr *c = r->csr_at;
#pragma omp parallel for schedule(static) if (c->nnz > 65536)
    for (int m = 0; m < c->M; m++)
        for (int32_t k = c->ptr[m]; k < c->ptr[m + 1]; k++) in->out[(size_t)m * c->cols + c->idx[k]] = c->val[k];
}

/* W^T of a dense or conv node for the sparse kernels ([in, out] or [cin*k_h*k_w, cout]),
 * made once per forward (the parameters may have changed since the last); NULL when it
 * cannot be allocated (the GEMM path is used). */
const float *spk__net_wt(spk_net *net, spk__node *n) {
    if (n->wt_valid) return n->wt;
    int rows = n->kind == SPK_NODE_DENSE ? n->d_out : n->conv.cout;
    int cols = n->kind == SPK_NODE_DENSE ? n->d_in : n->conv.cin * n->conv.k_h * n->conv.k_w;
    if (!n->wt && !(n->wt = spk__malloc_huge((size_t)rows * cols * sizeof(float)))) return NULL;
    spk_op_transpose(n->wt, spk__W_of(net, n), rows, cols);
    n->wt_valid = 1;
    return n->wt;
}

/* Scratch [in, out] for a dense node's sparse weight gradient; NULL without memory. */
static float *scratch_of(spk__node *n) {
    if (!n->wscratch) n->wscratch = spk_malloc(spk_op_dense_dw_scratch(n->d_in, n->d_out) * sizeof(float));
    return n->wscratch;
}

/* Sum the incoming edges of node v into its input buffer for steps [t0, t0+nt). */
static void gather(spk_net *net, int v, int t0, int nt) {
    spk__node *n = &net->nodes[v];
    if (n->in_alias || v == net->input) return;
    if (n->kind == SPK_NODE_ATTENTION) {
        spk__attention_gather(net, v, t0, nt);
        return;
    }
    if (n->kind == SPK_NODE_MERGE && n->merge_op != SPK_MERGE_ADD) return; /* reads its sources (graph_sew.c) */
    size_t row = (size_t)net->B * n->in_numel;
    float *dst = n->in + (size_t)t0 * row;
    memset(dst, 0, (size_t)nt * row * sizeof(float));
    for (int e = 0; e < net->n_edges; e++) {
        const spk__edge *ed = &net->edges[e];
        if (ed->to != v) continue;
        const spk__node *s = &net->nodes[ed->from];
        for (int t = t0; t < t0 + nt; t++) {
            const float *src = !ed->delayed ? s->out + (size_t)t * row : t > 0 ? s->out + (size_t)(t - 1) * row : s->init;
            float *d = n->in + (size_t)t * row;
            for (size_t k = 0; k < row; k++) d[k] += src[k];
        }
    }
}

/* Copy step 0 of a [nt, step] block to its steps 1..nt-1 (a time-constant output). */
static void replicate_step0(float *base, size_t step, int nt) {
    for (int t = 1; t < nt; t++) memcpy(base + (size_t)t * step, base, step * sizeof(float));
}

/* A scratch buffer of at least n floats in *buf (its contents not kept when it grows);
 * NULL without memory. */
static float *reserve(float **buf, size_t *cap, size_t n) {
    if (*cap < n) {
        float *b = spk_malloc(n * sizeof(float));
        if (!b) return NULL;
        spk_free(*buf);
        *buf = b;
        *cap = n;
    }
    return *buf;
}

/* The one node reading node v's output straight (a single, undelayed edge), or -1. */
static int only_reader(const spk_net *net, int v) {
    int r = -1, k = 0;
    for (int e = 0; e < net->n_edges; e++)
        if (net->edges[e].from == v) r = net->edges[e].delayed ? -2 : net->edges[e].to, k++;
    return k == 1 && r >= 0 ? r : -1;
}

/* Dropout node q's mask when it is active (training, p > 0), else NULL (q NULL too). */
static const float *drop_mask(const spk_net *net, const spk__node *q) {
    return q && net->training && q->drop_p > 0 ? q->mask : NULL;
}

/* Whether node n's output gradient is all zero: cleared by spk_net_zero_grad and written by
 * no one since (no seed, no reader's backward). */
static int dout_clean(const spk__node *n) {
    return n->dout && n->dout_clean_at == n->dout;
}

/* forward declaration: the context below */
typedef struct ds_rows ds_rows;
static void via_of(const spk_net *net, const spk__node *n, ds_rows *c);

/* What the row callbacks of thin population n (ds_row, ds_steps, and a recomputing
 * population's ro_forward_row and ro_weight_grad_row) need of its reader d (n->ds_from). */
struct ds_rows {
    const spk__node *n, *d;
    const float *W, *bias; /* d's weights and bias */
    float *part;           /* recompute: [nblk][d_out * d_in] partial weight gradients of d */
    const spk__node *via[2]; /* recompute: the nodes between n and d (n->ds_via) */
    int via_clean[2];      /* ... whether their output gradients are clean */
    const float *mask;     /* the mask [B, N] of the dropout node among them when active
                            * (training), else NULL */
    int B, t0, nt, clean, n_via;
};

/* Fill c's via, via_clean and mask from recomputing population n's chain to its reader. */
static void via_of(const spk_net *net, const spk__node *n, ds_rows *c) {
    c->n_via = n->n_via;
    for (int k = 0; k < n->n_via; k++) {
        const spk__node *v = &net->nodes[n->ds_via[k]];
        c->via[k] = v;
        c->via_clean[k] = dout_clean(v);
        if (v->kind == SPK_NODE_DROPOUT) c->mask = drop_mask(net, v);
    }
}

/* Row b's spikes at steps 0..nt-1 (N apart) through the active dropout mask, in place. */
static void mask_row(const ds_rows *c, int b, float *s) {
    if (!c->mask) return;
    const size_t N = (size_t)c->n->out_numel;
    const float *m = c->mask + (size_t)b * N;
    for (int t = 0; t < c->nt; t++)
        for (size_t i = 0; i < N; i++) s[t * N + i] *= m[i];
}

/* A recomputing population's (n->recompute) row b at steps t0.. (spikes s, N apart) through
 * its reader d: forward, d's output rows; backward, d's weight gradient into the row's block
 * partial (cleared by the block's first row; a block's rows run in order on one thread). */
static void ro_forward_row(void *ctx, int blk, int b, float *s) {
    const ds_rows *c = ctx;
    const spk__node *d = c->d;
    (void)blk;
    mask_row(c, b, s);
    spk_op_dense_forward_rows(d->out + ((size_t)c->t0 * c->B + b) * d->d_out, (size_t)c->B * d->d_out, s, (size_t)d->d_in, c->W,
                              c->bias, c->nt, d->d_in, d->d_out);
}
static void ro_weight_grad_row(void *ctx, int blk, int b, float *s) {
    const ds_rows *c = ctx;
    const spk__node *d = c->d;
    const size_t WN = (size_t)d->d_out * d->d_in;
    mask_row(c, b, s);
    float *pw = c->part + (size_t)blk * WN;
    if (b == blk * SPK__THIN_BLOCK_ROWS) memset(pw, 0, WN * sizeof(float));
    spk_op_dense_dw_rows(pw, d->dout + ((size_t)c->t0 * c->B + b) * d->d_out, (size_t)c->B * d->d_out, s, (size_t)d->d_in,
                         c->nt, d->d_in, d->d_out);
}

/* Run node v's op on steps [t0, t0+nt). */
static spk_status node_forward(spk_net *net, int v, int t0, int nt) {
    spk__node *n = &net->nodes[v];
    const int B = net->B, M = nt * B;
    size_t ri = (size_t)t0 * B * n->in_numel, ro = (size_t)t0 * B * n->out_numel;
    if (n->kind == SPK_NODE_REVERSIBLE) return spk__rev_forward(net, v, t0, nt);
    switch (n->kind) {
    case SPK_NODE_INPUT: break;
    case SPK_NODE_DENSE:
    case SPK_NODE_CONV: {
        if (n->by_src) break; /* its source population computed its output */
        /* a time-constant input: compute one step and replicate it (exact: the same rows) */
        int rows = n->static_in && nt == net->T ? B : M;
        if (n->kind == SPK_NODE_DENSE) {
            if (use_sparse(net, n, n->in + ri, rows, 0) && spk__net_wt(net, n)) {
                spk_op_dense_forward_sparse(n->out + ro, n->csr_at, n->wt, spk__b_of(net, n), n->d_out);
            } else {
                need_input(net, n);
                spk_op_dense_forward(n->out + ro, n->in + ri, spk__W_of(net, n), spk__b_of(net, n), rows, n->d_in, n->d_out);
            }
        } else if (!(use_sparse(net, n, n->in + ri, rows, 0) && spk__net_wt(net, n) &&
                     spk_op_conv_forward_sparse(n->out + ro, n->csr_at, n->wt, spk__b_of(net, n), &n->conv) == 0)) {
            need_input(net, n);
            spk_op_conv_forward(n->out + ro, net->conv_ws, n->in + ri, spk__W_of(net, n), spk__b_of(net, n), &n->conv, rows);
        }
        size_t step = (size_t)B * n->out_numel;
        if (rows != M && !n->out_once) replicate_step0(n->out + ro, step, nt);
        break;
    }
    case SPK_NODE_POOL: {
        int rows = n->static_in && nt == net->T ? B : M;
        spk_op_pool_forward(n->out + ro, n->argmax ? n->argmax + ro : NULL, n->in + ri, &n->pool, rows);
        size_t step = (size_t)B * n->out_numel;
        for (int t = 1; rows != M && !n->out_once && t < nt; t++) {
            memcpy(n->out + ro + (size_t)t * step, n->out + ro, step * sizeof(float));
            if (n->argmax) memcpy(n->argmax + ro + (size_t)t * step, n->argmax + ro, step * sizeof(int32_t));
        }
        break;
    }
    case SPK_NODE_FLATTEN:
    case SPK_NODE_MERGE:
        if (n->by_src) break; /* its source population passes its spikes through (ds_via) */
        if (n->kind == SPK_NODE_MERGE && n->merge_op != SPK_MERGE_ADD) return spk__merge_forward(net, v, t0, nt);
        memcpy(n->out + ro, n->in + ri, (size_t)(n->out_once && nt == net->T ? B : M) * n->out_numel * sizeof(float));
        break;
    case SPK_NODE_NORM: return spk__norm_forward(net, v, t0, nt);
    case SPK_NODE_SCALE:
        spk_op_scale_forward(n->out + ro, n->in + ri, spk__s_of(net, n), M, n->out_numel);
        if (spk__b_of(net, n)) spk_op_bias_forward(n->out + ro, spk__b_of(net, n), M, n->out_numel);
        break;
    case SPK_NODE_DROPOUT:
        if (n->by_src) break; /* its source population applies it (ds_via) */
        if (net->training && n->drop_p > 0) spk_op_dropout_forward(n->out + ro, n->mask, n->in + ri, nt, B, n->out_numel);
        else memcpy(n->out + ro, n->in + ri, (size_t)M * n->out_numel * sizeof(float));
        break;
    case SPK_NODE_DELAY:
        if (nt == net->T) spk_op_delay_forward(n->out, n->in, n->delays, net->T, B, n->out_numel);
        else
            for (int t = t0; t < t0 + nt; t++)
                spk_op_delay_step(n->out + (size_t)t * B * n->out_numel, n->in, n->delays, t, B, n->out_numel);
        break;
    case SPK_NODE_NEURON: {
        size_t SS = spk_neuron_state_size(n->nr, B), BN = (size_t)B * n->out_numel;
        int oV = spk_neuron_slot_offset(n->nr, SPK_SLOT_V);
        const int into = !net->reference && spk__neuron_step_into_ok(n->nr);
        if (n->recompute) { /* the reader's output, row by row; no steps kept (a layer-major group: t0 0, nt T) */
            const spk__node *d = &net->nodes[n->ds_from];
            ds_rows dr = {.n = n, .d = d, .W = spk__W_of(net, d), .bias = spk__b_of(net, d), .B = B, .nt = nt};
            via_of(net, n, &dr);
            const int learnable = spk__learns_lam_thr(n);
            if (!reserve(&n->row_buf, &n->row_cap, (size_t)omp_get_max_threads() * spk__thin_rows_scratch(n->nr, nt)) ||
                (learnable && !n->par_snap && !(n->par_snap = spk_malloc(2 * (size_t)n->out_numel * sizeof(float)))))
                return spk__fail(&net->obj, SPK_ERR_NOMEM, "forward: node '%s': no memory for its rows of steps", n->name);
            spk__neuron_steps_thin_rows(n->nr, B, nt, spk__thin_prev_v(n, 0, BN), spk__thin_prev_s(n, 0, BN), n->in, n->in_once ? 0 : BN,
                                        n->row_buf, ro_forward_row, (void *)&dr);
            if (learnable) { /* what a later fill of out and mem computes with (par_snap) */
                memcpy(n->par_snap, n->nr->param[SPK_NP_LAM], (size_t)n->out_numel * sizeof(float));
                memcpy(n->par_snap + n->out_numel, n->nr->param[SPK_NP_THR], (size_t)n->out_numel * sizeof(float));
            }
            n->out_stale = 1;
            for (int k = 0; k < n->n_via; k++) net->nodes[n->ds_via[k]].out_stale = 1;
            break;
        }
        if (n->thin) {
            const size_t xs = n->in_once ? 0 : BN;
            spk__neuron_steps_thin(n->nr, B, nt, spk__thin_prev_v(n, t0, BN), spk__thin_prev_s(n, t0, BN), n->out + t0 * BN,
                                   n->mem + t0 * BN, n->in + t0 * xs, xs, NULL);
            break;
        }
        for (int t = t0; t < t0 + nt; t++) {
            float *cur = n->states + (size_t)(t + 1) * SS;
            if (into) { /* the fused kernel reads step t-1's state and writes step t's and mem */
                spk__neuron_step_into(n->nr, B, n->states + (size_t)t * SS, cur, n->u + t * BN, n->out + t * BN, n->mem + t * BN,
                                      n->in + t * BN);
                continue;
            }
            memcpy(cur, n->states + (size_t)t * SS, SS * sizeof(float));
            spk_status st = net->reference && n->nr->cfg.kind != SPK_NEURON_COMPLEX
                                ? spk__neuron_step_ref(n->nr, B, t, cur, n->u + t * BN, n->out + t * BN, n->in + t * BN)
                                : spk_neuron_step(n->nr, B, t, cur, n->u + t * BN, n->out + t * BN, n->in + t * BN, NULL, NULL);
            if (st) return spk__fail(&net->obj, st, "node '%s': %s", n->name, spk_errmsg(n->nr));
            memcpy(n->mem + t * BN, cur + (size_t)oV * BN, BN * sizeof(float));
        }
        break;
    }
    case SPK_NODE_ATTENTION: return spk__attention_forward(net, v, t0, nt);
    default: break;
    }
    return SPK_OK;
}

/* the output of a back-edge source before t = 0: its response to zero input */
static void make_init(spk_net *net, spk__node *n) {
    size_t F = (size_t)n->out_numel;
    memset(n->init, 0, (size_t)net->B * F * sizeof(float));
    const float *b = spk__b_of(net, n);
    if (!b) return;
    size_t per = n->kind == SPK_NODE_CONV ? F / (size_t)n->conv.cout : 1;
    for (int r = 0; r < net->B; r++)
        for (size_t k = 0; k < F; k++) n->init[(size_t)r * F + k] = b[n->kind == SPK_NODE_CONV ? k / per : k];
}

/* Per node, in schedule order: whether its output is constant over time (fed by a
 * time-constant input through stateless ops), and whether backward needs the gradient of
 * its output (it, or a node upstream of it, has parameters; or it is the input and its
 * gradient was asked for). */
static void mark_flow(spk_net *net) {
    for (int k = 0; k < net->n_nodes; k++) {
        int v = net->order[k];
        spk__node *n = &net->nodes[v];
        int src = v == net->input ? -1 : single_alias_source(net, v);
        int stateless = n->kind == SPK_NODE_DENSE || n->kind == SPK_NODE_CONV || n->kind == SPK_NODE_POOL ||
                        n->kind == SPK_NODE_FLATTEN || n->kind == SPK_NODE_SCALE || n->kind == SPK_NODE_DROPOUT;
        n->static_in = src >= 0 && !n->recurrent && stateless && net->nodes[src].const_out;
        n->const_out = v == net->input ? net->static_input : n->static_in;
        int upstream = 0;
        for (int e = 0; e < net->n_edges; e++)
            if (net->edges[e].to == v) upstream |= net->nodes[net->edges[e].from].need_dout || net->edges[e].delayed;
        n->need_din = upstream;
        n->need_dout = v == net->input ? net->want_input_grad
                                       : upstream || n->kind == SPK_NODE_DENSE || n->kind == SPK_NODE_CONV ||
                                             n->kind == SPK_NODE_SCALE || n->kind == SPK_NODE_NEURON || n->kind == SPK_NODE_NORM ||
                                             n->kind == SPK_NODE_REVERSIBLE;
    }
    /* A time-constant output is computed and kept once (out_once: step 0 alone) when every
     * reader reads it straight (its only input) and either is a thin population, which reads
     * step 0 at every step and sums its input gradient over time into step 0 (in_once), or is
     * itself kept once (a chain such as conv -> pool -> population). Then the gradient of such
     * an output is nonzero at step 0 alone: a pool or flatten kept once runs its backward on
     * that step. A dense or conv op qualifies only when it hands no gradient on (that would be
     * per step). Decided readers first: the schedule's order backwards. */
    for (int v = 0; v < net->n_nodes; v++)
        if (v != net->input) net->nodes[v].out_once = net->nodes[v].in_once = 0;
    for (int k = net->n_nodes - 1; k >= 0 && !net->reference; k--) {
        const int v = net->order[k];
        spk__node *n = &net->nodes[v];
        if (v == net->input || !n->static_in) continue;
        const int layer = n->kind == SPK_NODE_DENSE || n->kind == SPK_NODE_CONV;
        if (!(layer && !n->need_din) && !((n->kind == SPK_NODE_POOL || n->kind == SPK_NODE_FLATTEN) && n->in_alias)) continue;
        int readers = 0, ok = 1;
        for (int e = 0; e < net->n_edges && ok; e++) {
            const spk__edge *ed = &net->edges[e];
            if (ed->from != v) continue;
            const spk__node *w = &net->nodes[ed->to];
            ok = !ed->delayed && w->in_alias && ((w->kind == SPK_NODE_NEURON && w->thin) || w->out_once);
            readers++;
        }
        if (!ok || !readers) continue;
        n->out_once = 1;
        for (int e = 0; e < net->n_edges; e++)
            if (net->edges[e].from == v && net->nodes[net->edges[e].to].kind == SPK_NODE_NEURON) net->nodes[net->edges[e].to].in_once = 1;
    }
    /* A narrow dense layer (a readout: at most 16 outputs) whose input is a thin population
     * that feeds nothing else: the population's backward computes the input gradient of
     * the layer one step at a time, in cache, where it reads it (dx_into / ds_from). The
     * layer would otherwise write a [T, B, N] array that the population then reads back. */
    for (int v = 0; v < net->n_nodes; v++)
        net->nodes[v].ds_from = -1, net->nodes[v].n_via = 0,
        net->nodes[v].dx_into = net->nodes[v].recompute = net->nodes[v].by_src = 0;
    for (int v = 0; v < net->n_nodes && !net->reference; v++) {
        spk__node *d = &net->nodes[v];
        if (d->kind != SPK_NODE_DENSE || !spk_op_dense_narrow(d->d_out) || d->recurrent || d->static_in || !d->need_din) continue;
        /* (a flatten and a dropout node, each read by the next alone, may stand between: the
         * recomputing path passes the spikes through them) */
        int src = single_alias_source(net, v), reader = v, via[2], nv = 0, drops = 0, flats = 0;
        while (src >= 0 && !net->no_recompute && nv < 2 && only_reader(net, src) == reader &&
               ((net->nodes[src].kind == SPK_NODE_DROPOUT && !drops++) || (net->nodes[src].kind == SPK_NODE_FLATTEN && !flats++))) {
            via[nv++] = src;
            reader = src;
            src = single_alias_source(net, src);
        }
        if (src < 0 || src == net->input) continue;
        spk__node *p = &net->nodes[src];
        if (p->kind != SPK_NODE_NEURON || !p->thin || p->recurrent || only_reader(net, src) != reader) continue;
        p->ds_from = v;
        d->dx_into = 1;
        /* Then the population keeps no step of its own: its forward hands each row's spikes
         * straight to the layer's product, and its backward runs the row's steps again
         * (cheaper than writing and reading back [T, B, N] spikes and membranes) and takes the
         * layer's weight gradient from them. */
        p->recompute = d->by_src = !net->no_recompute;
        p->n_via = nv;
        for (int k = 0; k < nv; k++) { /* in order from p */
            p->ds_via[k] = via[nv - 1 - k];
            net->nodes[via[k]].by_src = 1;
            net->nodes[via[k]].ds_from = v; /* their output gradients, like p's, are not written by d */
        }
    }
    spk__cell_mark(net);
}

/* The population of the cell (spk__cell_mark) that group g is, or -1. */
static int group_cell(const spk_net *net, int g) {
    const int a = net->scc_start[g], b = net->scc_start[g + 1];
    for (int k = a; k < b; k++)
        if (net->nodes[net->order[k]].cell_rec >= 0) return net->order[k];
    return -1;
}

/* An output kept in part or not at all written out in full when first asked for after a
 * forward (a cache: the same values): an out_once node's steps 1.., a recomputing
 * population's spikes and membranes, a recurrent cell's layer's output (the same floats as
 * its forward computed). */
static void fill_once(const spk_net *net, const spk__node *n) {
    spk__node *w = (spk__node *)n;
    if (n->out_lazy) fill_input((spk_net *)net);
    if (n->out_stale && n->kind == SPK_NODE_DENSE) {
        /* a cell's recurrent layer: its forward again (the transposed weights and the bias of
         * the forward: cell.c), from the CSR of its input the cell made, else row by row */
        const float *bias = n->t_b >= 0 ? n->par_snap : NULL;
        int32_t *idx = NULL;
        float *val = NULL;
        if (n->csr_ok && n->csr_at->M == net->T * net->B) {
            spk_op_dense_forward_sparse(w->out, n->csr_at, n->wt, bias, n->d_out);
            w->out_stale = 0;
        } else if ((idx = spk_malloc(n->d_in * sizeof(int32_t))) && (val = spk_malloc(n->d_in * sizeof(float)))) {
            spk_op_dense_forward_sparse_rows(w->out, (size_t)n->d_out, n->in, (size_t)n->d_in, n->wt, bias, net->T * net->B, n->d_in,
                                             n->d_out, idx, val);
            w->out_stale = 0;
        }
        spk_free(idx);
        spk_free(val);
    } else if (n->out_stale && n->kind != SPK_NODE_NEURON) { /* a ds_via node: its source's output through it */
        const spk__node *p = &net->nodes[single_alias_source(net, (int)(n - net->nodes))];
        fill_once(net, p);
        const float *m = n->kind == SPK_NODE_DROPOUT ? drop_mask(net, n) : NULL;
        if (m) spk_op_dropout_forward(w->out, m, p->out, net->T, net->B, n->out_numel);
        else memcpy(w->out, p->out, (size_t)net->T * net->B * n->out_numel * sizeof(float));
        w->out_stale = 0;
    } else if (n->out_stale) {
        const size_t BN = (size_t)net->B * n->out_numel;
        spk__neuron_steps_thin(n->nr, net->B, net->T, spk__thin_prev_v(n, 0, BN), spk__thin_prev_s(n, 0, BN), w->out, w->mem, n->in,
                               n->in_once ? 0 : BN, n->par_snap);
        w->out_stale = 0;
    }
    if (!n->out_once || n->out_filled) return;
    replicate_step0(n->out, (size_t)net->B * n->out_numel, net->T);
    w->out_filled = 1;
}

static spk_status run_forward(spk_net *net);

spk_status spk_net_forward(spk_net *net, int T, int B, const float *x) {
    if (!net) return spk__fail(NULL, SPK_ERR_INVALID_ARG, "forward: network is NULL");
    if (!net->built) return spk__fail(&net->obj, SPK_ERR_STATE, "forward: build the network first");
    if (T < 1 || B < 1 || !x) return spk__fail(&net->obj, SPK_ERR_INVALID_ARG, "forward: T = %d, B = %d, x %s", T, B, x ? "given" : "is NULL");
    spk_status st = net->hardware_safe && net->training ? spk_net_check_hardware_safe(net, 1) : SPK_OK;
    if (st) return st;
    if ((st = ensure_activations(net, T, B))) return st;
    spk_net_params_changed(net); /* shared learnable values reach their populations */
    spk__node *in = &net->nodes[net->input];
    size_t row = (size_t)B * in->out_numel;
    /* whether every step equals the first (the steps compared by all threads; known when
     * the caller gave one step) */
    const int steps = net->one_step_input ? 1 : T;
    /* (step 1 first, alone: a changing input differs there, within its first values) */
    int differs = net->reference || (steps > 1 && memcmp(x, x + row, row * sizeof(float)) != 0);
    if (!differs) {
#pragma omp parallel for schedule(static) reduction(| : differs) if ((size_t)steps * row > ((size_t)1 << 20))
        for (int t = 2; t < steps; t++)
            if (!differs) differs = memcmp(x, x + (size_t)t * row, row * sizeof(float)) != 0;
    }
    net->static_input = !differs;
    mark_flow(net);
    /* A time-constant input read only by ops that compute one step of it (static_in, reading
     * it in place) is copied once: its other steps are written only if asked for (fill_once). */
    int once = net->static_input && !net->want_input_grad;
    for (int e = 0; e < net->n_edges && once; e++) {
        const spk__edge *ed = &net->edges[e];
        if (ed->from == net->input) once = !ed->delayed && net->nodes[ed->to].static_in && net->nodes[ed->to].in_alias;
    }
    /* A spiking input read by one dense or conv layer alone (in place, step by step) is not
     * copied either: the layer compresses it from x (use_sparse), and its steps are written
     * out only when the layer takes its dense path or someone asks (fill_input). */
    const int reader = only_reader(net, net->input);
    const spk__node *rd = reader >= 0 ? &net->nodes[reader] : NULL;
    in->out_lazy = !once && steps == T && !net->want_input_grad && !net->reference && rd && rd->in_alias && !rd->static_in &&
                   !rd->recurrent && (rd->kind == SPK_NODE_DENSE || rd->kind == SPK_NODE_CONV);
    net->x_lazy = in->out_lazy ? x : NULL;
    if (!in->out_lazy) set_floats(in->out, x, (size_t)(once ? 1 : steps) * row);
    if (steps < T && !once) replicate_step0(in->out, row, T);
    in->out_once = once;
    for (int v = 0; v < net->n_nodes; v++) {
        spk__node *n = &net->nodes[v];
        n->wt_valid = 0;   /* the parameters may have changed since the last forward */
        n->csr_ok = 0;     /* and the inputs */
        n->csr_at = &n->csr;
        n->out_filled = 0; /* an out_once output holds step 0 alone again */
        n->out_stale = 0;  /* (set by a recomputing population's forward) */
        if (n->is_back_src) make_init(net, n);
        if (n->kind == SPK_NODE_DROPOUT && net->training && n->drop_p > 0)
            spk_op_dropout_mask(n->mask, n->drop_p, (spk_rng){net->rng.seed, net->rng.stream ^ ((uint64_t)v << 32)},
                                net->dropout_draw, B, n->out_numel);
    }
    st = run_forward(net);
    net->x_lazy = NULL; /* (x is the caller's again) */
    if (st) return st;
    net->has_forward = 1;
    return SPK_OK;
}

/* The forward of every group in schedule order. */
static spk_status run_forward(spk_net *net) {
    const int T = net->T;
    spk_status st;
    for (int g = 0; g < net->n_groups; g++) {
        int a = net->scc_start[g], b = net->scc_start[g + 1];
        if (!net->group_recurrent[g] && !net->reference) {
            int v = net->order[a];
            double t0 = net->profiling ? omp_get_wtime() : 0;
            gather(net, v, 0, T);
            if ((st = node_forward(net, v, 0, T))) return st;
            if (net->profiling) net->nodes[v].prof_fwd += omp_get_wtime() - t0;
        } else {
            const int p = group_cell(net, g);
            if (p >= 0 && (st = spk__cell_forward(net, p))) return st;
            for (int t = 0; t < T && p < 0; t++)
                for (int k = a; k < b; k++) {
                    double t0 = net->profiling ? omp_get_wtime() : 0;
                    gather(net, net->order[k], t, 1);
                    if ((st = node_forward(net, net->order[k], t, 1))) return st;
                    if (net->profiling) net->nodes[net->order[k]].prof_fwd += omp_get_wtime() - t0;
                }
        }
    }
    return SPK_OK;
}

const float *spk_net_signal(const spk_net *net, int node, spk_signal sig) {
    if (!net || !net->has_forward || node < 0 || node >= net->n_nodes) return NULL;
    const spk__node *n = &net->nodes[node];
    if (sig == SPK_SIGNAL_OUT || sig == SPK_SIGNAL_MEM) fill_once(net, n);
    return sig == SPK_SIGNAL_OUT ? n->out : sig == SPK_SIGNAL_MEM ? n->mem : NULL;
}

/* ---------------------------------------------------------------- backward ------------ */

/* Clear what spk_net_zero_grad left pending in n's output gradient. */
static void clear_pending(spk__node *n) {
    if (!n->dout_pending) return;
    set_floats(n->dout, NULL, n->dout_pending);
    n->dout_pending = 0;
}

void spk_net_zero_grad(spk_net *net) {
    if (!net || !net->built) return;
    set_floats(net->grads, NULL, net->n_params ? net->n_params : 1);
    for (int v = 0; v < net->n_nodes; v++) {
        spk__node *n = &net->nodes[v];
        if (n->nr) spk_neuron_zero_grad(n->nr);
        if (n->rev) spk__rev_zero_grad(n);
        if (net->has_forward) {
            size_t TB = (size_t)net->T * net->B;
            /* an out_once node's backward touches step 0 of dout alone */
            int tail_zero = n->dout_zero_at == n->dout;
            /* not at all when nothing wrote it since it was last cleared; else pending: a seed
             * then writes it instead of adding to zeros, or backward clears it first */
            if (n->dout && !dout_clean(n)) {
                n->dout_pending = (n->out_once && tail_zero ? (size_t)net->B : TB) * n->out_numel;
            }
            n->dout_zero_at = n->dout_clean_at = n->dout;
            if (n->dmem) set_floats(n->dmem, NULL, TB * n->out_numel);
        }
    }
}

spk_status spk_net_seed_grad(spk_net *net, int node, spk_signal sig, const float *grad) {
    if (!net || !net->has_forward) return spk__fail(net ? &net->obj : NULL, SPK_ERR_STATE, "seed_grad: run forward first");
    if (node < 0 || node >= net->n_nodes || !grad) return spk__fail(&net->obj, SPK_ERR_INVALID_ARG, "seed_grad: node %d or gradient invalid", node);
    spk__node *n = &net->nodes[node];
    size_t cnt = (size_t)net->T * net->B * n->out_numel;
    if (sig == SPK_SIGNAL_MEM && n->kind == SPK_NODE_NEURON && !n->dmem) { /* made on first use after a forward */
        if (!(n->dmem = reserve(&n->dmem_buf, &n->dmem_cap, cnt)))
            return spk__fail(&net->obj, SPK_ERR_NOMEM, "seed_grad: no memory for the membrane gradient of '%s'", n->name);
        set_floats(n->dmem, grad, cnt); /* (nothing before it: the seed is the gradient) */
        return SPK_OK;
    }
    float *dst = sig == SPK_SIGNAL_OUT ? n->dout : sig == SPK_SIGNAL_MEM ? n->dmem : NULL;
    if (!dst) return spk__fail(&net->obj, SPK_ERR_INVALID_ARG, "seed_grad: node '%s' has no %s signal", n->name, sig == SPK_SIGNAL_MEM ? "membrane" : "such");
    if (sig == SPK_SIGNAL_OUT) {
        n->dout_zero_at = n->dout_clean_at = NULL; /* every step may now be nonzero */
        if (n->dout_pending == cnt) { /* cleared in name only, all of it: the seed is the gradient */
            n->dout_pending = 0;
            set_floats(dst, grad, cnt);
            return SPK_OK;
        }
        clear_pending(n);
    }
#pragma omp parallel for schedule(static) if (cnt > ((size_t)1 << 20))
    for (size_t k = 0; k < cnt; k++) dst[k] += grad[k];
    return SPK_OK;
}

/* Sum a time-constant node's output gradient over all steps into step 0, for a backward run
 * on one step. Not needed when the node is kept once and its steps 1.. are known to be zero
 * (its readers summed into step 0); a seeded gradient may sit at any step. */
static void sum_dout_steps(const spk_net *net, spk__node *n) {
    if (n->out_once && n->dout_zero_at == n->dout) return;
    const size_t step = (size_t)net->B * n->out_numel;
    float *d0 = n->dout;
    for (int t = 1; t < net->T; t++) {
        const float *dt = d0 + (size_t)t * step;
        for (size_t k = 0; k < step; k++) d0[k] += dt[k];
    }
}

/* The gradient of thin population n's spikes at step t when its reader d (n->ds_from)
 * leaves its input gradient to it, one row at a time (spk__thin_bw.ds_row): row b of n's
 * own output gradient at t (zero when clean) plus row b of d.dout[t] W, written to row b of
 * n's [B, N] scratch (each row its own place: rows run on several threads). */
static const float *ds_row(void *ctx, int t, int b) {
    const ds_rows *c = ctx;
    const spk__node *n = c->n, *d = c->d;
    const size_t r = (size_t)(c->t0 + t) * c->B + b; /* row b of step t0 + t */
    float *row = n->ds_step + (size_t)b * n->out_numel;
    if (!c->clean) memcpy(row, n->dout + r * n->out_numel, (size_t)n->out_numel * sizeof(float));
    spk_op_dense_dx_row(row, d->dout + r * d->out_numel, c->W, d->d_in, d->d_out, !c->clean);
    return row;
}

/* ds_row for every step of row b at once (a recomputing population): the weights are held
 * over the steps; the same floats. */
static const float *ds_steps(void *ctx, int b, float *buf) {
    const ds_rows *c = ctx;
    const spk__node *n = c->n, *d = c->d;
    const size_t N = (size_t)n->out_numel, r0 = (size_t)c->t0 * c->B + b;
    /* the output gradient of d's source (its own, when not clean, plus d's input gradient),
     * then back through the ds_via nodes as their backward hands it on (times the mask for an
     * active dropout), each adding to the own gradient of the node before (zero when clean) */
    const spk__node *last = c->n_via ? c->via[c->n_via - 1] : n;
    const int last_clean = c->n_via ? c->via_clean[c->n_via - 1] : c->clean;
    if (!last_clean)
        for (int t = 0; t < c->nt; t++) memcpy(buf + t * N, last->dout + (r0 + (size_t)t * c->B) * N, N * sizeof(float));
    spk_op_dense_dx_rows(buf, N, d->dout + r0 * d->d_out, (size_t)c->B * d->d_out, c->W, c->nt, d->d_in, d->d_out, !last_clean);
    for (int k = c->n_via - 1; k >= 0; k--) {
        const spk__node *prev = k ? c->via[k - 1] : n;
        const int prev_clean = k ? c->via_clean[k - 1] : c->clean;
        const float *m = c->via[k]->kind == SPK_NODE_DROPOUT && c->mask ? c->mask + (size_t)b * N : NULL;
        for (int t = 0; t < c->nt; t++) {
            float *restrict r = buf + t * N;
            const float *restrict own = prev_clean ? NULL : prev->dout + (r0 + (size_t)t * c->B) * N;
            /* (each case its own loop: a multiply under a mask still cost as much as a slow
             * one on lanes it did not keep) */
            if (own && m) for (size_t i = 0; i < N; i++) r[i] = own[i] + r[i] * m[i];
            else if (own) for (size_t i = 0; i < N; i++) r[i] = own[i] + r[i];
            else if (m) for (size_t i = 0; i < N; i++) r[i] = 0.0f + r[i] * m[i];
            else for (size_t i = 0; i < N; i++) r[i] = 0.0f + r[i];
        }
    }
    return buf;
}

/* Backward of node v's op on steps [t0, t0+nt): accumulates into n->din (and parameters). */
static spk_status node_backward(spk_net *net, int v, int t0, int nt) {
    spk__node *n = &net->nodes[v];
    const int B = net->B, M = nt * B;
    size_t ri = (size_t)t0 * B * n->in_numel, ro = (size_t)t0 * B * n->out_numel;
    float *din = n->din ? n->din + ri : NULL;
    if (n->kind == SPK_NODE_REVERSIBLE) return spk__rev_backward(net, v, t0, nt);
    if (!n->need_din && n->kind != SPK_NODE_NEURON) {
        if (n->kind != SPK_NODE_DENSE && n->kind != SPK_NODE_CONV && n->kind != SPK_NODE_SCALE && n->kind != SPK_NODE_NORM) return SPK_OK;
        din = NULL; /* parameters still get their gradients */
    }
    if (n->dx_into) din = NULL; /* the source population computes it (ds_from) */
    switch (n->kind) {
    case SPK_NODE_INPUT: break;
    case SPK_NODE_DENSE:
    case SPK_NODE_CONV: {
        int rows = M;
        if (n->static_in && nt == net->T && !din) {
            /* the weight gradient is linear in dy: sum dy over time first, then one step
             * (float sums reassociate: equal up to rounding) */
            sum_dout_steps(net, n);
            rows = B;
        }
        if (n->kind == SPK_NODE_DENSE) {
            /* on a cycle, the parameter gradients wait for the end of the step loop
             * (dense_param_grads: one product over all T*B rows instead of T small ones) */
            int defer = n->recurrent && nt < net->T && !net->reference;
            /* (by_src: the source population computed the weight gradient) */
            float *dW = defer || n->by_src ? NULL : spk__dW_of(net, n), *db = defer ? NULL : spk__db_of(net, n);
            if (dW && use_sparse(net, n, n->in + ri, rows, 1) && scratch_of(n)) {
                spk_op_dense_dw_sparse(dW, n->wscratch, n->dout + ro, n->csr_at, n->d_out);
                dW = NULL;
            }
            if (dW) need_input(net, n);
            spk__node *src = din && n->in_alias ? &net->nodes[single_alias_source(net, v)] : NULL;
            if (src && src->dout_setter == v && src->dout_pending && rows == M) { /* the first to write it, all of it */
                spk_op_dense_dx_set(din, n->dout + ro, spk__W_of(net, n), rows, n->d_in, n->d_out);
                src->dout_pending = 0;
                din = NULL;
            }
            spk_op_dense_backward(din, dW, db, n->dout + ro, n->in + ri, spk__W_of(net, n), rows, n->d_in, n->d_out);
        } else {
            float *dW = spk__dW_of(net, n);
            if (dW && use_sparse(net, n, n->in + ri, rows, 1) && spk_op_conv_dw_sparse(dW, n->dout + ro, n->csr_at, &n->conv) == 0)
                dW = NULL;
            if (dW) need_input(net, n);
            spk_op_conv_backward(din, dW, spk__db_of(net, n), net->conv_ws, n->dout + ro, n->in + ri, spk__W_of(net, n), &n->conv, rows);
        }
        break;
    }
    case SPK_NODE_POOL:
        if (n->out_once && nt == net->T) { /* the same windows at every step: one step of the summed gradient */
            sum_dout_steps(net, n);
            spk_op_pool_backward(din, n->dout, n->argmax, &n->pool, B);
            break;
        }
        spk_op_pool_backward(din, n->dout + ro, n->argmax ? n->argmax + ro : NULL, &n->pool, M);
        break;
    case SPK_NODE_NORM: spk__norm_backward(net, v, t0, nt); break;
    case SPK_NODE_FLATTEN:
    case SPK_NODE_MERGE: {
        if (n->by_src) break; /* its source population's backward hands the gradient on */
        if (n->kind == SPK_NODE_MERGE && n->merge_op != SPK_MERGE_ADD) {
            spk__merge_backward(net, v, t0, nt);
            break;
        }
        int rows = M;
        if (n->out_once && nt == net->T) {
            sum_dout_steps(net, n);
            rows = B;
        }
        size_t cnt = (size_t)rows * n->out_numel;
        const float *d = n->dout + ro;
        for (size_t k = 0; k < cnt; k++) din[k] += d[k];
        break;
    }
    case SPK_NODE_SCALE:
        spk_op_scale_backward(din, spk__ds_of(net, n), n->dout + ro, n->in + ri, spk__s_of(net, n), M, n->out_numel);
        if (spk__db_of(net, n)) spk_op_bias_backward(spk__db_of(net, n), n->dout + ro, M, n->out_numel);
        break;
    case SPK_NODE_DROPOUT:
        if (n->by_src) break; /* its source population's backward hands the gradient on */
        if (net->training && n->drop_p > 0) spk_op_dropout_backward(din, n->dout + ro, n->mask, nt, B, n->out_numel);
        else {
            size_t cnt = (size_t)M * n->out_numel;
            for (size_t k = 0; k < cnt; k++) din[k] += n->dout[ro + k];
        }
        break;
    case SPK_NODE_DELAY:
        if (nt == net->T && net->tbptt_k <= 0) spk_op_delay_backward(n->din, n->dout, n->delays, net->T, B, n->out_numel);
        else {
            int F = n->out_numel;
            for (int t = t0; t < t0 + nt; t++)
                for (int b = 0; b < B; b++)
                    for (int f = 0; f < F; f++) {
                        int ts = t - n->delays[f];
                        if (ts >= 0 && (net->tbptt_k <= 0 || ts / net->tbptt_k == t / net->tbptt_k)) n->din[((size_t)ts * B + b) * F + f] += n->dout[((size_t)t * B + b) * F + f];
                    }
        }
        break;
    case SPK_NODE_NEURON: {
        size_t SS = spk_neuron_state_size(n->nr, B), BN = (size_t)B * n->out_numel;
        const int clean = dout_clean(n);
        if (n->thin) {
            spk__node *d = n->ds_from >= 0 ? &net->nodes[n->ds_from] : NULL;
            const int rc = n->recompute; /* (a layer-major group: t0 0, nt T) */
            const int nblk = spk__thin_blocks(B);
            const size_t WN = d ? (size_t)d->d_out * d->d_in : 0;
            float *dW = rc ? spk__dW_of(net, d) : NULL;
            ds_rows dr = {.n = n, .d = d, .W = d ? spk__W_of(net, d) : NULL, .B = B, .t0 = t0, .nt = nt, .clean = clean,
                          .part = dW ? reserve(&n->dw_part, &n->dw_part_cap, nblk * WN) : NULL};
            if (rc) via_of(net, n, &dr);
            if ((d && !rc && !reserve(&n->ds_step, &n->ds_step_cap, BN)) || (dW && !dr.part) ||
                (rc && !reserve(&n->row_buf, &n->row_cap, (size_t)omp_get_max_threads() * spk__thin_rows_scratch(n->nr, nt))))
                return spk__fail(&net->obj, SPK_ERR_NOMEM, "backward: node '%s': no memory for a step's input gradient", n->name);
            const size_t xs = n->in_once ? 0 : BN; /* a constant input: its gradient summed over time */
            const spk__thin_bw a = {
                .B = B, .nt = nt, .t0 = t0, .T = net->T, .tbptt_k = net->tbptt_k,
                .v_init = spk__thin_prev_v(n, t0, BN), .s_init = spk__thin_prev_s(n, t0, BN),
                .mem = rc ? NULL : n->mem + t0 * BN, .s = rc ? NULL : n->out + t0 * BN,
                .scratch = rc ? n->row_buf : NULL, .row_done = dW ? ro_weight_grad_row : NULL,
                .x = n->in + t0 * xs, .dx = n->din + t0 * xs, .x_step = xs, .dstate = n->dstate,
                .ds = clean ? NULL : n->dout + t0 * BN, /* (all zero: not read) */
                .dmem = n->dmem ? n->dmem + t0 * BN : NULL,
                .ds_row = d && !rc ? ds_row : NULL, .ds_steps = d && rc ? ds_steps : NULL, .ctx = (void *)&dr,
                .param_grads = spk__learns_lam_thr(n)};
            spk_status st = spk__neuron_steps_backward_thin(n->nr, &a);
            if (st) return spk__fail(&net->obj, st, "node '%s': %s", n->name, spk_errmsg(n->nr));
            if (dW) { /* the reader's weight gradient: its block partials in order */
#pragma omp parallel for schedule(static) if (WN * nblk > ((size_t)1 << 16))
                for (size_t k = 0; k < WN; k++) {
                    float sum = dr.part[k];
                    for (int q = 1; q < nblk; q++) sum += dr.part[(size_t)q * WN + k];
                    dW[k] += sum;
                }
            }
            break;
        }
        for (int t = t0 + nt - 1; t >= t0; t--) {
            /* truncated BPTT: no gradient reaches the state across a window boundary */
            if (net->tbptt_k > 0 && t < net->T - 1 && (t + 1) % net->tbptt_k == 0)
                memset(n->dstate, 0, SS * sizeof(float));
            spk_status st =
                net->reference && n->nr->cfg.kind != SPK_NEURON_COMPLEX
                    ? spk__neuron_step_backward_ref(n->nr, B, t, n->dstate, n->din + t * BN, n->states + (size_t)t * SS,
                                                    n->out + t * BN, n->in + t * BN, n->dout + t * BN, n->dmem ? n->dmem + t * BN : NULL)
                    : spk_neuron_step_backward(n->nr, B, t, n->dstate, n->din + t * BN, NULL, n->states + (size_t)t * SS,
                                               n->u + t * BN, n->out + t * BN, NULL, n->in + t * BN, NULL, n->dout + t * BN,
                                               NULL, n->dmem ? n->dmem + t * BN : NULL);
            if (st) return spk__fail(&net->obj, st, "node '%s': %s", n->name, spk_errmsg(n->nr));
        }
        break;
    }
    case SPK_NODE_ATTENTION: return spk__attention_backward(net, v, t0, nt);
    default: break;
    }
    return SPK_OK;
}

/* The weight and bias gradients of a dense node on a cycle, over all T*B rows at once
 * (its step-by-step backward computed only the input gradient). */
static void dense_param_grads(spk_net *net, spk__node *n) {
    const int M = net->T * net->B;
    float *dW = spk__dW_of(net, n);
    if (dW && use_sparse(net, n, n->in, M, 1) && scratch_of(n)) {
        spk_op_dense_dw_sparse(dW, n->wscratch, n->dout, n->csr_at, n->d_out);
        dW = NULL;
    }
    spk_op_dense_backward(NULL, dW, spk__db_of(net, n), n->dout, n->in, spk__W_of(net, n), M, n->d_in, n->d_out);
}

/* Hand node v's input gradient on steps [t0, t0+nt) to its sources. */
static void scatter(spk_net *net, int v, int t0, int nt) {
    spk__node *n = &net->nodes[v];
    if (n->in_alias || v == net->input) return;
    if (n->kind == SPK_NODE_ATTENTION) {
        spk__attention_scatter(net, v, t0, nt);
        return;
    }
    if (n->kind == SPK_NODE_MERGE && n->merge_op != SPK_MERGE_ADD) return; /* done by its backward */
    size_t row = (size_t)net->B * n->in_numel;
    for (int e = 0; e < net->n_edges; e++) {
        const spk__edge *ed = &net->edges[e];
        if (ed->to != v) continue;
        spk__node *s = &net->nodes[ed->from];
        if (!s->need_dout && !ed->delayed) continue;
        for (int t = t0; t < t0 + nt; t++) {
            if (ed->delayed && net->tbptt_k > 0 && t > 0 && t % net->tbptt_k == 0) continue; /* cut */
            float *dst = !ed->delayed ? s->dout + (size_t)t * row : t > 0 ? s->dout + (size_t)(t - 1) * row : s->dinit;
            const float *src = n->din + (size_t)t * row;
            for (size_t k = 0; k < row; k++) dst[k] += src[k];
        }
    }
}

/* The node whose backward writes all of node v's output gradient first (so that what
 * spk_net_zero_grad left pending need not be cleared: that writer sets instead of adding;
 * exec.c's dense backward, cell.c), or -1. Only when all of it is pending:
 *   - a recurrent cell's population, for its recurrent layer, for a source it alone reads, and
 *     for itself when its other readers leave their input gradients to it (cell_dx);
 *   - a layer-major dense node reading v in place (its input gradient is v's output gradient)
 *     that is v's reader last in the schedule (its backward runs first). */
static int first_setter(const spk_net *net, int v) {
    const spk__node *n = &net->nodes[v];
    if (net->reference || !n->dout || n->dout_pending != (size_t)net->T * net->B * n->out_numel) return -1;
    if (n->cell_rec >= 0) { /* a cell's population: set by its own backward when its other readers leave it to it */
        for (int e = 0; e < net->n_edges; e++)
            if (net->edges[e].from == v && net->edges[e].to != n->cell_rec && !net->nodes[net->edges[e].to].dx_into) return -1;
        return v;
    }
    int last = -1, edges = 0, delayed = 0, to_cell = 0;
    for (int e = 0; e < net->n_edges; e++) {
        const spk__edge *ed = &net->edges[e];
        if (ed->from != v) continue;
        edges++, delayed |= ed->delayed, to_cell |= net->nodes[ed->to].cell_rec >= 0;
        if (last < 0 || net->nodes[ed->to].order > net->nodes[last].order) last = ed->to;
    }
    if (to_cell) { /* read by a cell alone: its recurrent layer (delayed), or a source it hands gradient to */
        const spk__node *r = &net->nodes[last];
        return edges == 1 && (delayed ? r->cell_rec == v : r->cell_rec != v && n->need_dout) ? last : -1;
    }
    if (delayed || last < 0) return -1;
    const spk__node *d = &net->nodes[last];
    const int dense_in_place = d->kind == SPK_NODE_DENSE && !d->recurrent && d->in_alias && d->din == n->dout && d->need_din &&
                               !d->dx_into && !d->by_src && !d->static_in;
    return dense_in_place ? last : -1;
}

/* the bias of a back-edge source also fed its output before t = 0 */
static void init_backward(spk_net *net, spk__node *n) {
    float *db = spk__db_of(net, n);
    if (!db) return;
    size_t F = (size_t)n->out_numel;
    size_t per = n->kind == SPK_NODE_CONV ? F / (size_t)n->conv.cout : 1;
    for (int r = 0; r < net->B; r++)
        for (size_t k = 0; k < F; k++) db[n->kind == SPK_NODE_CONV ? k / per : k] += n->dinit[(size_t)r * F + k];
}

spk_status spk_net_backward(spk_net *net) { return spk_net_backward_truncated(net, 0); }

spk_status spk_net_backward_truncated(spk_net *net, int k) {
    if (!net || !net->has_forward) return spk__fail(net ? &net->obj : NULL, SPK_ERR_STATE, "backward: run forward first");
    if (k < 0) return spk__fail(&net->obj, SPK_ERR_INVALID_ARG, "backward: truncation window k = %d must be >= 0 (0 = full BPTT)", k);
    if (net->want_input_grad && !net->nodes[net->input].dout)
        return spk__fail(&net->obj, SPK_ERR_STATE, "backward: the input gradient was asked for after the forward; call spk_net_want_input_grad before it");
    net->tbptt_k = k >= net->T ? 0 : k;
    const int T = net->T, B = net->B;
    size_t TB = (size_t)T * B;
    /* what zero_grad left pending is cleared before anything adds to it (a population that
     * computes its reader's input gradient itself reads its own as zero without touching it),
     * unless the first writer writes all of it (dout_setter: it sets instead of adding) */
    for (int v = 0; v < net->n_nodes; v++) {
        spk__node *n = &net->nodes[v];
        n->dout_setter = first_setter(net, v);
        if (!(n->ds_from >= 0 && dout_clean(n)) && n->dout_setter < 0) clear_pending(n);
    }
    /* every source's output gradient is written by its readers' backward (a population that
     * computes its reader's input gradient itself leaves its own untouched) */
    for (int e = 0; e < net->n_edges; e++) {
        spk__node *s = &net->nodes[net->edges[e].from];
        /* (nor are those of the nodes on a recomputing population's way to its reader) */
        if (!(s->ds_from >= 0 && (s->ds_from == net->edges[e].to || s->ds_from == net->nodes[net->edges[e].to].ds_from)))
            s->dout_clean_at = NULL;
    }
    for (int v = 0; v < net->n_nodes; v++) {
        spk__node *n = &net->nodes[v];
        if (!n->out_once) n->dout_zero_at = NULL; /* its backward may write every step */
        /* (a cell's population hands its input gradient on step by step: its din stays unused) */
        if (!n->in_alias && n->din && n->cell_rec < 0) set_floats(n->din, NULL, TB * n->in_numel);
        if (n->dstate) memset(n->dstate, 0, spk_neuron_state_size(n->nr, B) * sizeof(float));
        if (n->dinit) memset(n->dinit, 0, (size_t)B * n->out_numel * sizeof(float));
    }
    spk_status st;
    for (int g = net->n_groups - 1; g >= 0; g--) {
        int a = net->scc_start[g], b = net->scc_start[g + 1];
        if (!net->group_recurrent[g] && !net->reference) {
            int v = net->order[a];
            double t0 = net->profiling ? omp_get_wtime() : 0;
            if ((st = node_backward(net, v, 0, T))) return st;
            scatter(net, v, 0, T);
            if (net->profiling) net->nodes[v].prof_bwd += omp_get_wtime() - t0;
        } else {
            const int p = group_cell(net, g);
            if (p >= 0 && (st = spk__cell_backward(net, p))) return st; /* (it scatters its input gradient) */
            for (int t = T - 1; t >= 0 && p < 0; t--)
                for (int k = b - 1; k >= a; k--) {
                    double t0 = net->profiling ? omp_get_wtime() : 0;
                    if ((st = node_backward(net, net->order[k], t, 1))) return st;
                    scatter(net, net->order[k], t, 1);
                    if (net->profiling) net->nodes[net->order[k]].prof_bwd += omp_get_wtime() - t0;
                }
            for (int k = a; k < b && !net->reference; k++) {
                spk__node *n = &net->nodes[net->order[k]];
                if (n->kind != SPK_NODE_DENSE) continue;
                double t0 = net->profiling ? omp_get_wtime() : 0;
                dense_param_grads(net, n);
                if (net->profiling) n->prof_bwd += omp_get_wtime() - t0;
            }
        }
    }
    for (int v = 0; v < net->n_nodes; v++) {
        spk__node *n = &net->nodes[v];
        if (n->is_back_src) init_backward(net, n);
        /* a shared learnable parameter's gradient is the sum over its population */
        for (int p = 0; p < SPK_NP_COUNT && n->nr; p++)
            if (n->learn[p] == SPK_LEARN_SHARED) {
                const float *g = spk_neuron_grad(n->nr, (spk_neuron_param)p);
                double sum = 0;
                for (int i = 0; i < n->out_numel; i++) sum += g[i];
                net->grads[net->tensors[n->t_np[p]].off] = (float)sum;
            }
    }
    return SPK_OK;
}

const float *spk_net_input_grad(const spk_net *net) {
    return net && net->has_forward && net->want_input_grad ? net->nodes[net->input].dout : NULL;
}

void spk_net_want_input_grad(spk_net *net, int on) {
    if (net) net->want_input_grad = on != 0;
}

void spk_net_set_training(spk_net *net, int training, uint64_t dropout_draw) {
    if (!net) return;
    net->training = training != 0;
    net->dropout_draw = dropout_draw;
}

void spk_net_set_profiling(spk_net *net, int on) {
    if (!net) return;
    net->profiling = on != 0;
    for (int v = 0; v < net->n_nodes; v++) net->nodes[v].prof_fwd = net->nodes[v].prof_bwd = 0;
}

void spk_net_profile_print(const spk_net *net, FILE *fp) {
    if (!net || !fp) return;
    double tf = 0, tb = 0;
    for (int v = 0; v < net->n_nodes; v++) tf += net->nodes[v].prof_fwd, tb += net->nodes[v].prof_bwd;
    fprintf(fp, "%-20s %-8s %12s %12s %7s %12s\n", "node", "kind", "forward ms", "backward ms", "share", "nonzero out");
    for (int v = 0; v < net->n_nodes; v++) {
        const spk__node *n = &net->nodes[v];
        /* the fraction of nonzero outputs in the last forward: the spike density a
         * downstream op sees */
        double nz = 0;
        size_t cnt = net->has_forward ? (size_t)net->T * net->B * n->out_numel : 0;
        if (cnt) fill_once(net, n);
        for (size_t k = 0; k < cnt; k++) nz += n->out[k] != 0.0f;
        fprintf(fp, "%-20s %-8s %12.2f %12.2f %6.1f%% %11.1f%%\n", n->name, spk_node_kind_name(n->kind), n->prof_fwd * 1e3,
                n->prof_bwd * 1e3, tf + tb > 0 ? 100.0 * (n->prof_fwd + n->prof_bwd) / (tf + tb) : 0.0,
                cnt ? 100.0 * nz / (double)cnt : 0.0);
    }
    fprintf(fp, "%-20s %-8s %12.2f %12.2f\n", "total", "", tf * 1e3, tb * 1e3);
}

void spk_net_set_static_input(spk_net *net, int on) {
    if (net) net->one_step_input = on != 0;
}

void spk_net_set_reference(spk_net *net, int on) {
    if (net) net->reference = on != 0;
}

size_t spk_net_activation_bytes(const spk_net *net) {
    if (!net || !net->has_forward) return 0;
    size_t b = net->act_bytes;
    for (int v = 0; v < net->n_nodes; v++)
        if (net->nodes[v].dmem) b += (size_t)net->T * net->B * net->nodes[v].out_numel * sizeof(float);
    return b;
}
