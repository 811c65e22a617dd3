/* net_impl.h — the inside of a network: nodes, edges, the schedule, the parameter arena and
 * the activation buffers of the last forward. Shared by graph.c (building) and exec.c
 * (running forward and backward). */
#ifndef SPK_NET_IMPL_H
#define SPK_NET_IMPL_H

#include "core/core.h"
#include "ops/ops.h"

#define SPK__NAME_LEN 64

typedef struct spk__tensor {
    char name[SPK__NAME_LEN + 16];
    int node;
    size_t off, numel; /* offset into the parameter arena (floats) */
    int learnable;
} spk__tensor;

typedef struct spk__node {
    spk_node_kind kind;
    char name[SPK__NAME_LEN];
    int in_ndim, in_dims[SPK_MAX_DIMS], in_numel;    /* 0 ndim: not known yet */
    int out_ndim, out_dims[SPK_MAX_DIMS], out_numel;
    /* kind parameters */
    int d_in, d_out, has_bias;       /* dense; has_bias also conv */
    int conv_nd;                     /* conv / pool: 1 or 2 */
    spk_conv_geom conv;              /* geometry; spatial sizes filled on shape inference */
    spk_pool_geom pool;
    float drop_p;
    int32_t *delays;                 /* [out_numel] after inference */
    int ndelays, max_delay;
    spk_neuron *nr;
    int learn[SPK_NP_COUNT];         /* SPK_LEARN_* */
    int t_np[SPK_NP_COUNT];          /* tensor of each learnable neuron parameter, -1 none */
    /* parameter tensors (index into net->tensors, -1 none) */
    int t_w, t_b, t_s;
    /* schedule */
    int scc, recurrent, order;
    /* activations of the last forward (views into the activation arena) */
    float *in;       /* [T,B,in_numel] the summed input; may alias a source's out */
    int in_alias;    /* 1 when `in` is a source's out (single within-step edge) */
    float *out;      /* [T,B,out_numel] */
    float *mem;      /* neuron: [T,B,N] reported membrane */
    float *states;   /* neuron: [T+1, S, B, N] */
    float *u;        /* neuron: [T,B,N] */
    int thin;        /* neuron on the fast path with delayed timing (spk__neuron_thin_ok): states
                        holds only the initial state [S, B, N], the state after step t is
                        (mem[t], out[t]), and u is mem (the same values) */
    int32_t *argmax; /* max pool */
    float *mask;     /* dropout: [B, F] */
    float *init;     /* [B, out_numel] output before t = 0 (back-edge sources) */
    float *din, *dout, *dmem, *dinit, *dstate;
    int is_back_src;
    int static_in;   /* fed only by a time-constant signal: computed once, replicated over T */
    int const_out;   /* its output is the same at every step (last forward) */
    int out_once;    /* static_in dense/conv/pool/flatten whose only readers are thin
                        populations (in_once) or out_once nodes (exec.c, mark_flow): out holds
                        step 0 alone (steps 1.. are written on demand, out_filled), and its
                        output gradient arrives summed over time in dout's step 0;
                        the input node: a time-constant input read only by static_in ops,
                        copied for step 0 alone (no gradient) */
    int out_filled;  /* out_once: steps 1.. of out have been written since the last forward */
    int out_lazy;    /* the input node: its steps are not copied (a spiking input read by one
                        dense or conv layer alone, which compresses it from the caller's array
                        during the forward: net->x_lazy); written out from that layer's
                        compressed copy when first asked for (exec.c, fill_input) */
    const float *dout_zero_at; /* dout's steps 1.. are known to be zero while dout is this
                        (spk_net_zero_grad: an out_once node then clears step 0 alone); NULL
                        when they may not be, and after a change of layout (exec.c) */
    int in_once;     /* thin population fed by an out_once node: reads in step 0 at every step
                        and accumulates every step's input gradient into din's step 0 */
    const float *dout_clean_at; /* dout is all zero (cleared and written by no one since)
                        while dout is this; NULL likewise */
    size_t dout_pending; /* floats at the start of dout that spk_net_zero_grad has cleared
                        in name only: a seed then copies instead of adding, and backward
                        clears them before anything adds to them (exec.c) */
    int dout_setter; /* backward: the node that writes all of dout first, setting it, while
                        it is all pending (exec.c, first_setter); -1: cleared before */
    int ds_from;     /* thin population read only by a narrow dense node (exec.c, mark_flow):
                        that node, whose input gradient this population's backward computes
                        one step at a time into ds_step (in cache) instead of reading it from
                        a [T, B, N] array the dense node wrote; also set on the ds_via nodes
                        of a recomputing population (their output gradient is not written by
                        that node either); -1 none */
    int dx_into;     /* that dense node (or one in a cell's cell_dx): its backward leaves the
                        input gradient to the source */
    float *ds_step;  /* ds_from: [B, N] scratch, owned, allocated when first used */
    size_t ds_step_cap;
    int recompute;   /* ds_from population (mark_flow) whose forward computes the reader's
                        output row by row and writes neither out nor mem (out_stale; written
                        when asked for), and whose backward runs each row's steps again and
                        computes the reader's weight gradient; the reader may read it through
                        a flatten and a dropout node (ds_via) */
    int ds_via[2];   /* recompute: the nodes between the population and its reader, in order
                        (n_via of them: flatten, dropout, at most one of each); their forward
                        and backward are done by the population */
    int n_via;
    int out_stale;   /* recompute: out and mem not written since the last forward (also set on
                        the ds_via nodes: their out); a cell's recurrent layer read by its
                        population alone: out not written (cell.c) */
    int by_src;      /* the dense (and ds_via) nodes read by a recompute population: their
                        forward and the dense node's weight gradient are computed there */
    float *par_snap; /* recompute with learnable decay or threshold: [2][N] their values at
                        the forward (a lazy out_stale fill uses them); a cell's recurrent layer:
                        its bias at the forward [N]; owned */
    float *row_buf;  /* recompute: per-thread rows of steps, owned */
    size_t row_cap;
    float *dw_part;  /* recompute: per-block partial weight gradients of the reader, owned */
    size_t dw_part_cap;
    int cell_rec;    /* thin population run with its recurrent dense layer as one block
                        (cell.c, spk__cell_mark): that layer's node; -1 none */
    int cell_dx[4];  /* such a population: the layer-major dense nodes reading it (besides its
                        recurrent layer) whose input gradient its backward computes, step by
                        step, with its own (their dx_into set); n_cell_dx of them */
    int n_cell_dx;
    void *cell_stage;   /* such a population: its forward's spikes as entries (per thread, and
                        the row counts), for its recurrent layer's CSR; owned */
    size_t cell_stage_bytes, cell_stage_per; /* its size; entries of the last forward */
    int need_dout;   /* backward needs dL/d(its output) (it or a node upstream has parameters) */
    int need_din;    /* backward must produce dL/d(its input) for a source */
    /* flatten: dims [flat_start, flat_end] of the input merged into one (flat_partial = 1);
     * otherwise the whole input becomes one dimension */
    int flat_partial, flat_start, flat_end;
    double prof_fwd, prof_bwd; /* seconds spent in its forward / backward (when profiling) */
    /* dense on spiking inputs (exec.c): W^T for the gather-add, valid for one forward, and
     * scratch for the sparse weight gradient; both [in, out], owned, allocated when first used */
    float *wt, *wscratch;
    int wt_valid;
    spk_csr csr;     /* the compressed spiking input of the current call */
    spk_csr *csr_at; /* the one the sparse ops read: csr, or another layer-major node's
                        compression of the same array in this forward (exec.c, use_sparse) */
    const float *csr_x; /* ... of which input (csr_ok: filled from it in this forward) */
    int csr_ok;
    float *dmem_buf; /* owned storage of dmem: only populations a loss seeds on their
                        membrane get one (spk_net_seed_grad), not part of the arena */
    size_t dmem_cap; /* floats in dmem_buf */
    /* attention (net/attention.c): in is [T, B, 3, D, N] (q, k, v by edge order) */
    int attn_heads, attn_kind;
    float attn_scale;
    /* merge: the op (SPK_MERGE_*); AND / IAND read their two sources directly (graph_sew.c) */
    spk_merge_op merge_op;
    /* norm (tdBN): settings, buffer tensors, and the last training forward's batch mean and
     * 1/sqrt(var + eps) per channel ([norm_c] each, owned) */
    spk_norm_config norm;
    int t_rm, t_rv, norm_c;
    float *norm_mean, *norm_istd;
    struct spk__rev *rev; /* reversible blocks (reversible.c); owned, NULL for other kinds */
} spk__node;

typedef struct spk__edge {
    int from, to;
    int delayed; /* 1: closes a cycle, delivers the previous step's output */
} spk__edge;

struct spk_net {
    spk__obj obj;
    spk__node *nodes;
    int n_nodes, cap_nodes;
    spk__edge *edges;
    int n_edges, cap_edges;
    int built;
    int input; /* the input node */
    int *order;  /* schedule: node indices in execution order */
    int *scc_start, n_groups; /* schedule groups: order[scc_start[g] .. scc_start[g+1]) */
    int *group_recurrent;
    /* parameters */
    spk__tensor *tensors;
    int n_tensors;
    size_t n_params, n_learn; /* learnable tensors come first: [0, n_learn) */
    float *params, *grads;    /* arenas (owned) */
    spk_rng rng;
    /* run state */
    int training;
    uint64_t dropout_draw;
    int T, B;                 /* of the last forward (0: none) */
    void *act;                /* activation block */
    size_t act_cap;           /* bytes */
    size_t act_bytes;         /* bytes the last forward laid out */
    float *conv_ws;
    size_t conv_ws_floats;
    float *dx_input;          /* [T,B,in] dL/dx */
    int has_forward;
    int tbptt_k;              /* backward truncation window (0 = full) */
    int want_input_grad;      /* compute dL/dx of the input (off: skipped) */
    int static_input;         /* the last forward's input was the same at every step */
    const float *x_lazy;      /* during a forward whose input is not copied (out_lazy): the
                                 caller's array; NULL otherwise */
    int one_step_input;       /* forward's x is one step, presented at every step
                                 (spk_net_set_static_input) */
    int reference;            /* run the plain reference path (spk_net_set_reference) */
    int no_recompute;         /* keep every thin population's steps (tests: the recomputing
                                 path against the keeping one) */
    int no_cell;              /* run recurrent cells step by step (tests: cell.c against the
                                 step-by-step path) */
    int profiling;            /* time each node (spk_net_set_profiling) */
    int hardware_safe;        /* refuse non-local nodes (spk_net_set_hardware_safe) */
};

/* A node's parameter tensors in the arena (weight, bias, scale) and their gradients; NULL
 * when it has none. */
static inline float *spk__W_of(const spk_net *net, const spk__node *n) { return n->t_w >= 0 ? net->params + net->tensors[n->t_w].off : NULL; }
static inline float *spk__b_of(const spk_net *net, const spk__node *n) { return n->t_b >= 0 ? net->params + net->tensors[n->t_b].off : NULL; }
static inline float *spk__s_of(const spk_net *net, const spk__node *n) { return n->t_s >= 0 ? net->params + net->tensors[n->t_s].off : NULL; }
static inline float *spk__dW_of(const spk_net *net, const spk__node *n) { return n->t_w >= 0 ? net->grads + net->tensors[n->t_w].off : NULL; }
static inline float *spk__db_of(const spk_net *net, const spk__node *n) { return n->t_b >= 0 ? net->grads + net->tensors[n->t_b].off : NULL; }
static inline float *spk__ds_of(const spk_net *net, const spk__node *n) { return n->t_s >= 0 ? net->grads + net->tensors[n->t_s].off : NULL; }
/* The state of thin population n before step t: the initial state, or step t-1's (mem, out). */
static inline const float *spk__thin_prev_v(const spk__node *n, int t, size_t BN) {
    return t ? n->mem + (size_t)(t - 1) * BN : n->states + (size_t)spk_neuron_slot_offset(n->nr, SPK_SLOT_V) * BN;
}
static inline const float *spk__thin_prev_s(const spk__node *n, int t, size_t BN) {
    return t ? n->out + (size_t)(t - 1) * BN : n->states + (size_t)spk_neuron_slot_offset(n->nr, SPK_SLOT_S) * BN;
}
/* Whether population n learns its decay or threshold. */
static inline int spk__learns_lam_thr(const spk__node *n) { return n->learn[SPK_NP_LAM] || n->learn[SPK_NP_THR]; }
/* W^T of a dense or conv node for the sparse kernels (exec.c), made once per forward; NULL
 * without memory. */
const float *spk__net_wt(spk_net *net, spk__node *n);

/* graph_sew.c: the build-time checks of merge ops, norm nodes and hardware-safe mode, and
 * the forward / backward of SEW merges (AND, IAND) and norm nodes for exec.c. */
spk_status spk__net_check_sew(spk_net *net);
spk_status spk__merge_forward(spk_net *net, int v, int t0, int nt);
void spk__merge_backward(spk_net *net, int v, int t0, int nt);
spk_status spk__norm_forward(spk_net *net, int v, int t0, int nt);
void spk__norm_backward(spk_net *net, int v, int t0, int nt);

/* Recurrent cells (cell.c): a thin population P and a dense layer R of N -> N forming a group
 * on their own (R reads P within the step, P reads R delayed and otherwise only nodes outside
 * the group). mark: set P's cell_rec for every such group (none on the reference path or
 * with net->no_cell); forward / backward: the group over all T steps, rows split among
 * threads; backward leaves P's input gradient to the other sources and R's parameter
 * gradients to the caller. */
void spk__cell_mark(spk_net *net);
spk_status spk__cell_forward(spk_net *net, int p);
spk_status spk__cell_backward(spk_net *net, int p);

/* Edges delivering into node v: indices into net->edges. */
int spk__net_in_edges(const spk_net *net, int v, int *idx, int max);

/* Attention nodes (net/attention.c): shape inference (D, N from the first edge, input
 * 3*D*N), the build check (exactly three input edges), and the edge-wise gather / scatter
 * of the q, k, v parts for steps [t0, t0+nt). */
spk_status spk__attention_infer(spk_net *net, spk__node *n);
spk_status spk__attention_check(spk_net *net);
void spk__attention_gather(spk_net *net, int v, int t0, int nt);
void spk__attention_scatter(spk_net *net, int v, int t0, int nt);
spk_status spk__attention_forward(spk_net *net, int v, int t0, int nt);
spk_status spk__attention_backward(spk_net *net, int v, int t0, int nt);
/* The experiment file's `attention` layer: add and connect the whole Spikformer block after
 * node `prev` (docs/attention.md); *out is its last node (the residual merge). */
spk_status spk__attention_block(spk_net *net, const spk_layer_spec *L, int prev, int *out);
/* Add a node of a kind (graph.c): name checks, growth; *out is the new node. */
spk_status spk__net_add_node(spk_net *net, const char *name, spk_node_kind kind, int *id, spk__node **out);

/* Reversible blocks (reversible.c). */
void spk__rev_free(struct spk__rev *r);
/* Check a reversible node's input shape (known in n->in_dims). */
spk_status spk__rev_check_shape(spk_net *net, const spk__node *n);
/* At build, after shapes and the schedule: refuse a node on a cycle, make the populations. */
spk_status spk__rev_prepare(spk_net *net, int v);
/* Floats of the parameter tensors (weight, bias: 0 without) and the op's fan-in. */
size_t spk__rev_weight_numel(const spk__node *n);
size_t spk__rev_bias_numel(const spk__node *n);
int spk__rev_fan_in(const spk__node *n);
/* Learnable neuron parameters (n->learn, n->t_np, as a neuron node's): after the arena is
 * made, bind them (per neuron) or seed them (shared); after the optimizer changed them,
 * project them with `project` and hand them to the populations; zero the accumulators. */
void spk__rev_bind(spk_net *net, spk__node *n);
void spk__rev_params_changed(spk_net *net, spk__node *n, void (*project)(spk_neuron_param, float *, size_t));
void spk__rev_zero_grad(spk__node *n);
/* Floats of activation scratch for T, B, and the views into it once laid out (base NULL:
 * only count). Every reversible node of a network uses the same scratch (they run one at a
 * time and keep nothing in it between calls). The reference path's per-population states
 * carried between steps are each node's own: spk__rev_carry_floats (0 off that path). */
size_t spk__rev_scratch_floats(const spk_net *net, const spk__node *n, int T, int B);
void spk__rev_set_scratch(const spk_net *net, spk__node *n, float *base, int T, int B);
size_t spk__rev_carry_floats(const spk_net *net, const spk__node *n, int B);
void spk__rev_set_carry(spk__node *n, float *carry);
/* Forward / backward over steps [t0, t0+nt) (exec.c's node_forward / node_backward). */
spk_status spk__rev_forward(spk_net *net, int v, int t0, int nt);
spk_status spk__rev_backward(spk_net *net, int v, int t0, int nt);
/* Reconstruct the node's input [T, B, F] of the last forward from its output, as backward
 * does (for tests). */
spk_status spk__rev_invert(spk_net *net, int v, float *x);
/* Synapses (non-zero weights, a conv tap once per output position inside the input) and the
 * largest fan-in of a block's neuron at the middle of the population (hw fit). */
int64_t spk__rev_synapses(const spk_net *net, const spk__node *n);
/* For the event-driven engine: the half size h (per row), the op geometry (conv; NULL for
 * dense), the 2L populations, and op p's weight and bias (NULL without) in the arena. */
int spk__rev_half(const spk__node *n);
const spk_conv_geom *spk__rev_geom(const spk__node *n);
spk_neuron *spk__rev_pop(const spk__node *n, int p);
const float *spk__rev_weight(const spk_net *net, const spk__node *n, int p);
const float *spk__rev_bias(const spk_net *net, const spk__node *n, int p);
int64_t spk__rev_fan_in_mid(const spk_net *net, const spk__node *n);

#endif
