/* graph_sew.c — the deep-architecture parts of the graph: spike-element-wise merges (SEW:
 * ADD, AND, IAND), threshold-dependent batch norm nodes, and hardware-safe mode (which
 * kinds of node need a non-local computation). Build-time checks for them, and their
 * forward / backward, called by exec.c. Not here: the kernels (ops/norm.c), folding a
 * trained norm into weights (fold.c). */
#include "net/net_impl.h"

#include <string.h>

static const char *const merge_op_names[SPK_MERGE_OP_COUNT] = {"add", "and", "iand"};

const char *spk_merge_op_name(spk_merge_op op) { return (int)op >= 0 && op < SPK_MERGE_OP_COUNT ? merge_op_names[op] : NULL; }

int spk_merge_op_from_name(const char *s) {
    for (int i = 0; s && i < SPK_MERGE_OP_COUNT; i++)
        if (!strcmp(s, merge_op_names[i])) return i;
    return -1;
}

spk_merge_op spk_net_merge_op(const spk_net *net, int node) {
    if (!net || node < 0 || node >= net->n_nodes || net->nodes[node].kind != SPK_NODE_MERGE) return SPK_MERGE_OP_COUNT;
    return net->nodes[node].merge_op;
}

spk_norm_config spk_norm_config_default(void) { return (spk_norm_config){1.0f, 1.0f, 1e-5f, 0.1f, 1.0f}; }

const spk_norm_config *spk_net_norm_config(const spk_net *net, int node) {
    if (!net || node < 0 || node >= net->n_nodes || net->nodes[node].kind != SPK_NODE_NORM) return NULL;
    return &net->nodes[node].norm;
}

float *spk_net_buffers(spk_net *net, size_t *n) {
    if (n) *n = 0;
    if (!net || !net->built || net->n_params == net->n_learn) return NULL;
    if (n) *n = net->n_params - net->n_learn;
    return net->params + net->n_learn;
}

/* ---------------------------------------------------------------- hardware-safe -------- */

/* Why a node kind is not local, in training and in inference (NULL: local). A kind added
 * later (e.g. an attention with a softmax) lists its reason here. */
static const char *const nonlocal_train[SPK_NODE_KIND_COUNT] = {
    [SPK_NODE_NORM] = "batch normalization needs statistics over the whole batch and sequence (not local, not event-driven)",
};
static const char *const nonlocal_infer[SPK_NODE_KIND_COUNT] = {0};

const char *spk_node_kind_nonlocal(spk_node_kind k, int training) {
    if ((int)k < 0 || k >= SPK_NODE_KIND_COUNT) return NULL;
    return training ? (nonlocal_train[k] ? nonlocal_train[k] : nonlocal_infer[k]) : nonlocal_infer[k];
}

void spk_net_set_hardware_safe(spk_net *net, int on) {
    if (net) net->hardware_safe = on != 0;
}

int spk_net_hardware_safe(const spk_net *net) { return net ? net->hardware_safe : 0; }

spk_status spk_net_check_hardware_safe(spk_net *net, int training) {
    if (!net) return spk__fail(NULL, SPK_ERR_INVALID_ARG, "network is NULL");
    for (int v = 0; v < net->n_nodes; v++) {
        const char *why = spk_node_kind_nonlocal(net->nodes[v].kind, training);
        if (why)
            return spk__fail(&net->obj, SPK_ERR_UNSUPPORTED, "hardware-safe mode: node '%s' (%s) is refused%s: %s", net->nodes[v].name,
                             spk_node_kind_name(net->nodes[v].kind), training ? " in training" : "", why);
    }
    return SPK_OK;
}

/* ---------------------------------------------------------------- build checks --------- */

spk_status spk__net_check_sew(spk_net *net) {
    if (net->hardware_safe) {
        spk_status st = spk_net_check_hardware_safe(net, 0);
        if (st) return st;
    }
    for (int v = 0; v < net->n_nodes; v++) {
        spk__node *n = &net->nodes[v];
        if (n->kind == SPK_NODE_MERGE && n->merge_op != SPK_MERGE_ADD) {
            int idx[3], k = spk__net_in_edges(net, v, idx, 3);
            if (k != 2)
                return spk__fail(&net->obj, SPK_ERR_INVALID_ARG, "build: merge '%s' (%s) needs exactly two inputs (block output, then shortcut), it has %d",
                                 n->name, spk_merge_op_name(n->merge_op), k);
            for (int j = 0; j < 2; j++)
                if (net->edges[idx[j]].delayed)
                    return spk__fail(&net->obj, SPK_ERR_UNSUPPORTED,
                                     "build: merge '%s' (%s): its input from '%s' closes a cycle (a delayed edge); only add merges take delayed inputs",
                                     n->name, spk_merge_op_name(n->merge_op), net->nodes[net->edges[idx[j]].from].name);
        }
        if (n->kind == SPK_NODE_NORM) {
            if (n->recurrent)
                return spk__fail(&net->obj, SPK_ERR_UNSUPPORTED, "build: norm '%s' lies on a cycle: its batch statistics need the whole sequence first",
                                 n->name);
            n->norm_c = n->in_dims[0];
            spk_free(n->norm_mean);
            spk_free(n->norm_istd);
            n->norm_mean = spk_calloc((size_t)n->norm_c, sizeof(float));
            n->norm_istd = spk_calloc((size_t)n->norm_c, sizeof(float));
            if (!n->norm_mean || !n->norm_istd) return spk__fail(&net->obj, SPK_ERR_NOMEM, "build: no memory for norm '%s'", n->name);
        }
    }
    return SPK_OK;
}

/* ---------------------------------------------------------------- SEW merges ----------- */

/* the sources of a two-input merge: a (block output, first edge) and s (shortcut) */
static void merge_sources(const spk_net *net, int v, int *a, int *s) {
    int idx[2];
    spk__net_in_edges(net, v, idx, 2);
    *a = net->edges[idx[0]].from;
    *s = net->edges[idx[1]].from;
}

spk_status spk__merge_forward(spk_net *net, int v, int t0, int nt) {
    spk__node *n = &net->nodes[v];
    int ia, is;
    merge_sources(net, v, &ia, &is);
    size_t off = (size_t)t0 * net->B * n->out_numel, cnt = (size_t)nt * net->B * n->out_numel;
    const float *a = net->nodes[ia].out + off, *s = net->nodes[is].out + off;
    float *y = n->out + off;
    if (n->merge_op == SPK_MERGE_AND)
        for (size_t k = 0; k < cnt; k++) y[k] = a[k] * s[k];
    else
        for (size_t k = 0; k < cnt; k++) y[k] = (1.0f - a[k]) * s[k];
    return SPK_OK;
}

/* AND: da = g s, ds = g a;  IAND: da = -g s, ds = g (1 - a). Accumulated straight into the
 * sources' output gradients (exec.c's scatter skips these merges). */
void spk__merge_backward(spk_net *net, int v, int t0, int nt) {
    spk__node *n = &net->nodes[v];
    int ia, is;
    merge_sources(net, v, &ia, &is);
    spk__node *A = &net->nodes[ia], *S = &net->nodes[is];
    size_t off = (size_t)t0 * net->B * n->out_numel, cnt = (size_t)nt * net->B * n->out_numel;
    const float *a = A->out + off, *s = S->out + off, *g = n->dout + off;
    int iand = n->merge_op == SPK_MERGE_IAND;
    if (A->need_dout && A->dout) {
        float *da = A->dout + off;
        for (size_t k = 0; k < cnt; k++) da[k] += iand ? -g[k] * s[k] : g[k] * s[k];
    }
    if (S->need_dout && S->dout) {
        float *ds = S->dout + off;
        for (size_t k = 0; k < cnt; k++) ds[k] += iand ? g[k] * (1.0f - a[k]) : g[k] * a[k];
    }
}

/* ---------------------------------------------------------------- norm ----------------- */

static float *tensor(spk_net *net, int t, float *base) { return t >= 0 ? base + net->tensors[t].off : NULL; }

/* Layer-major (nt = T) it runs once. Step by step (the reference path), inference is the
 * per-step affine; training needs the whole sequence, so the node computes every step at
 * its last one (its consumers run after it: it is not on a cycle). */
spk_status spk__norm_forward(spk_net *net, int v, int t0, int nt) {
    spk__node *n = &net->nodes[v];
    int C = n->norm_c, S = n->in_numel / C;
    float k = n->norm.alpha * n->norm.v_th;
    float *g = tensor(net, n->t_w, net->params), *b = tensor(net, n->t_b, net->params);
    float *rm = tensor(net, n->t_rm, net->params), *rv = tensor(net, n->t_rv, net->params);
    if (net->training) {
        if (t0 + nt != net->T) return SPK_OK;
        spk_op_norm_forward_train(n->out, n->norm_mean, n->norm_istd, rm, rv, n->in, g, b, k, n->norm.eps, n->norm.momentum,
                                  net->T * net->B, C, S);
    } else {
        size_t ri = (size_t)t0 * net->B * n->in_numel;
        spk_op_norm_forward_eval(n->out + ri, n->in + ri, g, b, rm, rv, k, n->norm.eps, nt * net->B, C, S);
    }
    return SPK_OK;
}

/* Backward mirrors it: in training, the whole sequence at the first (last-step) call. */
void spk__norm_backward(spk_net *net, int v, int t0, int nt) {
    spk__node *n = &net->nodes[v];
    int C = n->norm_c, S = n->in_numel / C;
    float k = n->norm.alpha * n->norm.v_th;
    float *g = tensor(net, n->t_w, net->params), *rm = tensor(net, n->t_rm, net->params), *rv = tensor(net, n->t_rv, net->params);
    float *dg = tensor(net, n->t_w, net->grads), *db = tensor(net, n->t_b, net->grads);
    float *dx = n->need_din ? n->din : NULL;
    if (net->training) {
        if (t0 + nt != net->T) return;
        spk_op_norm_backward_train(dx, dg, db, n->dout, n->in, n->norm_mean, n->norm_istd, g, k, net->T * net->B, C, S);
    } else {
        size_t ri = (size_t)t0 * net->B * n->in_numel;
        spk_op_norm_backward_eval(dx ? dx + ri : NULL, dg, db, n->dout + ri, n->in + ri, g, rm, rv, k, n->norm.eps, nt * net->B, C, S);
    }
}
