/* fold.c — folding trained norm (tdBN) nodes into the dense or conv node before them. In
 * inference a norm node is y = a x + c per channel (a = gamma alpha v_th / sqrt(running_var
 * + eps), c = beta - a running_mean); when its only input is a dense or conv node that feeds
 * nothing else, W' = a W and b' = a b + c (per output channel) compute the same, so the norm
 * node goes. The result is a new experiment (the layer removed, the op given a bias) and its
 * network with every parameter copied by name. Refused, naming the node, where not exact. */
#include "net/net_impl.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static int layer_index(const spk_experiment *e, const char *name) {
    for (int i = 0; i < e->n_layers; i++)
        if (!strcmp(e->layers[i].name, name)) return i;
    return -1;
}

static const spk__tensor *find_tensor(const spk_net *net, const char *name) {
    for (int i = 0; i < net->n_tensors; i++)
        if (!strcmp(net->tensors[i].name, name)) return &net->tensors[i];
    return NULL;
}

/* Which norm nodes fold, into which op (src[v], -1 none); refuse those that cannot. */
static spk_status check_foldable(spk_net *net, const spk_experiment *e, int *src) {
    for (int v = 0; v < net->n_nodes; v++) {
        src[v] = -1;
        const spk__node *n = &net->nodes[v];
        if (n->kind != SPK_NODE_NORM) continue;
        int idx[2], k = spk__net_in_edges(net, v, idx, 2);
        int u = k == 1 && !net->edges[idx[0]].delayed ? net->edges[idx[0]].from : -1;
        const spk__node *un = u >= 0 ? &net->nodes[u] : NULL;
        if (!un || (un->kind != SPK_NODE_DENSE && un->kind != SPK_NODE_CONV))
            return spk__fail(NULL, SPK_ERR_UNSUPPORTED, "fold: norm '%s' does not follow a dense or conv node alone (its input is %s%s%s): folding it would not be exact",
                             n->name, un ? "'" : "", un ? un->name : "a sum of several nodes", un ? "'" : "");
        int outs = 0;
        for (int j = 0; j < net->n_edges; j++) outs += net->edges[j].from == u;
        if (outs != 1)
            return spk__fail(NULL, SPK_ERR_UNSUPPORTED, "fold: norm '%s': its op '%s' also feeds %d other node(s), which would see the folded weights",
                             n->name, un->name, outs - 1);
        if (e && (layer_index(e, n->name) < 0 || layer_index(e, un->name) < 0))
            return spk__fail(NULL, SPK_ERR_UNSUPPORTED, "fold: norm '%s' or its op '%s' is not a layer of the experiment", n->name, un->name);
        src[v] = u;
    }
    return SPK_OK;
}

spk_status spk_model_fold_norm(const spk_experiment *e, spk_net *net, int in_ndim, const int *in_dims, spk_experiment **e_out,
                               spk_net **net_out, int *readout, int *n_folded) {
    if (!e || !net || !in_dims || !e_out || !net_out || !readout)
        return spk__fail(NULL, SPK_ERR_INVALID_ARG, "spk_model_fold_norm: NULL argument");
    *e_out = NULL;
    *net_out = NULL;
    if (n_folded) *n_folded = 0;
    if (!net->built) return spk__fail(NULL, SPK_ERR_STATE, "spk_model_fold_norm: the network is not built");
    int *src = spk_calloc((size_t)net->n_nodes + 1, sizeof(int));
    if (!src) return spk__fail(NULL, SPK_ERR_NOMEM, "fold: no memory");
    spk_experiment *e2 = NULL;
    spk_net *net2 = NULL;
    spk_status st = check_foldable(net, e->nir_data ? NULL : e, src);
    char *yaml = st ? NULL : spk_experiment_to_yaml(e);
    if (!st && !yaml) st = spk__fail(NULL, SPK_ERR_NOMEM, "fold: no memory");
    if (!st) st = spk_experiment_parse(&e2, yaml, strlen(yaml), e->source);
    spk_free(yaml);
    int folded = 0;
    /* the new layer list: each folded norm layer removed (a residual around it has one
     * layer less), its op given a bias */
    for (int v = 0; !st && v < net->n_nodes; v++) {
        if (src[v] < 0) continue;
        int j = layer_index(e2, net->nodes[v].name), u = layer_index(e2, net->nodes[src[v]].name);
        e2->layers[u].bias = 1;
        for (int r = 0; r < j; r++)
            if (e2->layers[r].kind == SPK_LAYER_RESIDUAL && j <= r + e2->layers[r].count) e2->layers[r].count--;
            else if (e2->layers[r].kind == SPK_LAYER_RESIDUAL && j <= r + e2->layers[r].count + e2->layers[r].shortcut) e2->layers[r].shortcut--;
        memmove(&e2->layers[j], &e2->layers[j + 1], (size_t)(e2->n_layers - j - 1) * sizeof *e2->layers);
        e2->n_layers--;
        folded++;
    }
    if (!st) st = spk_experiment_build_net(e2, in_ndim, in_dims, &net2, readout);
    /* every parameter and buffer by name; then the folded ops */
    for (int i = 0; !st && i < net2->n_tensors; i++) {
        spk__tensor *t2 = &net2->tensors[i];
        const spk__tensor *t = find_tensor(net, t2->name);
        if (t && t->numel == t2->numel) memcpy(net2->params + t2->off, net->params + t->off, t->numel * sizeof(float));
        else if (t) st = spk__fail(NULL, SPK_ERR_STATE, "fold: parameter '%s' changed size", t2->name);
        else memset(net2->params + t2->off, 0, t2->numel * sizeof(float)); /* a bias the op did not have */
    }
    for (int v = 0; !st && v < net->n_nodes; v++) {
        if (src[v] < 0) continue;
        const spk__node *n = &net->nodes[v], *un = &net->nodes[src[v]];
        int u2 = spk_net_find(net2, un->name);
        spk__node *o = &net2->nodes[u2];
        float *W = net2->params + net2->tensors[o->t_w].off, *b = net2->params + net2->tensors[o->t_b].off;
        const float *g = net->params + net->tensors[n->t_w].off, *be = net->params + net->tensors[n->t_b].off;
        const float *rm = net->params + net->tensors[n->t_rm].off, *rv = net->params + net->tensors[n->t_rv].off;
        int C = n->norm_c;
        size_t per = net2->tensors[o->t_w].numel / (size_t)C; /* weights of one output channel */
        float k = n->norm.alpha * n->norm.v_th;
        for (int c = 0; c < C; c++) {
            /* the same rounding as the norm's inference forward (ops/norm.c) */
            float a = g[c] * k * (float)(1.0 / sqrt((double)rv[c] + (double)n->norm.eps));
            for (size_t q = 0; q < per; q++) W[(size_t)c * per + q] *= a;
            b[c] = a * (b[c] - rm[c]) + be[c];
        }
    }
    for (int v = 0; !st && v < net->n_nodes; v++) { /* every population's per-neuron values */
        spk_neuron *nr = net->nodes[v].nr;
        int v2 = nr ? spk_net_find(net2, net->nodes[v].name) : -1;
        spk_neuron *nr2 = v2 >= 0 ? net2->nodes[v2].nr : NULL;
        for (int p = 0; nr2 && p < SPK_NP_COUNT && !st; p++) {
            const float *vals = spk_neuron_get_param(nr, (spk_neuron_param)p);
            if (vals && spk_neuron_get_param(nr2, (spk_neuron_param)p) && (st = spk_neuron_set_param(nr2, (spk_neuron_param)p, vals, spk_neuron_size(nr))))
                st = spk__fail(NULL, st, "fold: population '%s': %s", net->nodes[v].name, spk_errmsg(nr2));
        }
    }
    spk_free(src);
    if (st) {
        spk_net_free(net2);
        spk_experiment_free(e2);
        return st;
    }
    spk_net_params_changed(net2);
    spk_net_set_reference(net2, net->reference);
    *e_out = e2;
    *net_out = net2;
    if (n_folded) *n_folded = folded;
    return SPK_OK;
}
