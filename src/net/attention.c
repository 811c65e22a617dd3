/* attention.c (net) — the graph side of attention nodes: their three input roles (the node's
 * incoming edges in connection order are q, k, v), shape inference, the build check, and
 * the gather / scatter that place each edge's signal in its own part of the node's input
 * [T, B, 3, D, N] instead of summing them. The arithmetic is ops/attention.c's.
 *
 * Deliberately not here: the projections and neurons of a Spikformer block (the experiment
 * file's `attention` layer builds them from ordinary nodes). */
#include "net/net_impl.h"

#include <string.h>

static const char *const kind_names[SPK_ATTENTION_KIND_COUNT] = {"spikformer", "stochastic"};

const char *spk_attention_kind_name(spk_attention_kind k) {
    return (int)k >= 0 && k < SPK_ATTENTION_KIND_COUNT ? kind_names[k] : NULL;
}

int spk_attention_kind_from_name(const char *s) {
    for (int i = 0; s && i < SPK_ATTENTION_KIND_COUNT; i++)
        if (!strcmp(s, kind_names[i])) return i;
    return -1;
}

spk_status spk_net_attention_info(const spk_net *net, int node, spk_attention_kind *kind, int *heads, float *scale) {
    if (!net || node < 0 || node >= net->n_nodes || net->nodes[node].kind != SPK_NODE_ATTENTION)
        return spk__fail(NULL, SPK_ERR_INVALID_ARG, "spk_net_attention_info: node %d is not an attention node", node);
    const spk__node *n = &net->nodes[node];
    if (kind) *kind = (spk_attention_kind)n->attn_kind;
    if (heads) *heads = n->attn_heads;
    if (scale) *scale = n->attn_scale;
    return SPK_OK;
}

spk_status spk_net_connect_attention(spk_net *net, int q, int k, int v, int att) {
    if (!net) return spk__fail(NULL, SPK_ERR_INVALID_ARG, "network is NULL");
    if (att < 0 || att >= net->n_nodes || net->nodes[att].kind != SPK_NODE_ATTENTION)
        return spk__fail(&net->obj, SPK_ERR_INVALID_ARG, "connect_attention: node %d is not an attention node", att);
    int e[1];
    if (spk__net_in_edges(net, att, e, 1) > 0)
        return spk__fail(&net->obj, SPK_ERR_INVALID_ARG, "connect_attention: attention node '%s' already has an input edge", net->nodes[att].name);
    spk_status st = spk_net_connect(net, q, att);
    if (!st) st = spk_net_connect(net, k, att);
    if (!st) st = spk_net_connect(net, v, att);
    return st;
}

/* Called with in_dims / in_numel just taken from the first edge's source. */
spk_status spk__attention_infer(spk_net *net, spk__node *n) {
    if (n->in_ndim != 2 || n->in_dims[0] % n->attn_heads) {
        char s[64] = "[";
        for (int i = 0; i < n->in_ndim; i++) snprintf(s + strlen(s), sizeof s - strlen(s), i ? ", %d" : "%d", n->in_dims[i]);
        snprintf(s + strlen(s), sizeof s - strlen(s), "]");
        return spk__fail(&net->obj, SPK_ERR_SHAPE,
                         "node '%s' (attention, %d heads) cannot take q/k/v of shape %s: expected [D, N] (channels, tokens) with D divisible by %d",
                         n->name, n->attn_heads, s, n->attn_heads);
    }
    n->out_ndim = 2;
    n->out_dims[0] = n->in_dims[0];
    n->out_dims[1] = n->in_dims[1];
    n->out_numel = n->in_numel;
    if (n->in_numel > 0x7fffffff / 3) return spk__fail(&net->obj, SPK_ERR_SHAPE, "node '%s' (attention): too many elements", n->name);
    n->in_numel *= 3; /* q, k, v side by side */
    return SPK_OK;
}

spk_status spk__attention_check(spk_net *net) {
    for (int v = 0; v < net->n_nodes; v++) {
        if (net->nodes[v].kind != SPK_NODE_ATTENTION) continue;
        int e[4], k = spk__net_in_edges(net, v, e, 4);
        if (k != 3)
            return spk__fail(&net->obj, SPK_ERR_INVALID_ARG,
                             "build: attention node '%s' has %d input edge%s: it needs exactly three (q, k, v in connection order)",
                             net->nodes[v].name, k, k == 1 ? "" : "s");
    }
    return SPK_OK;
}

void spk__attention_gather(spk_net *net, int v, int t0, int nt) {
    spk__node *n = &net->nodes[v];
    const size_t part = (size_t)n->out_numel, B = (size_t)net->B;
    int e[3], k = spk__net_in_edges(net, v, e, 3);
    for (int r = 0; r < k && r < 3; r++) {
        const spk__edge *ed = &net->edges[e[r]];
        const spk__node *s = &net->nodes[ed->from];
        for (int t = t0; t < t0 + nt; t++) {
            const float *src = !ed->delayed ? s->out + (size_t)t * B * part : t > 0 ? s->out + (size_t)(t - 1) * B * part : s->init;
            for (size_t b = 0; b < B; b++)
                memcpy(n->in + (((size_t)t * B + b) * 3 + (size_t)r) * part, src + b * part, part * sizeof(float));
        }
    }
}

void spk__attention_scatter(spk_net *net, int v, int t0, int nt) {
    spk__node *n = &net->nodes[v];
    const size_t part = (size_t)n->out_numel, B = (size_t)net->B;
    int e[3], k = spk__net_in_edges(net, v, e, 3);
    for (int r = 0; r < k && r < 3; r++) {
        const spk__edge *ed = &net->edges[e[r]];
        spk__node *s = &net->nodes[ed->from];
        if (!s->need_dout && !ed->delayed) continue;
        for (int t = t0; t < t0 + nt; t++) {
            if (ed->delayed && net->tbptt_k > 0 && t > 0 && t % net->tbptt_k == 0) continue; /* cut */
            float *dst = !ed->delayed ? s->dout + (size_t)t * B * part : t > 0 ? s->dout + (size_t)(t - 1) * B * part : s->dinit;
            for (size_t b = 0; b < B; b++) {
                const float *src = n->din + (((size_t)t * B + b) * 3 + (size_t)r) * part;
                float *d = dst + b * part;
                for (size_t i = 0; i < part; i++) d[i] += src[i];
            }
        }
    }
}

static spk_attn_geom geom_of(const spk__node *n) {
    return (spk_attn_geom){n->out_dims[0], n->out_dims[1], n->attn_heads, n->attn_scale, n->attn_kind == SPK_ATTENTION_STOCHASTIC};
}

spk_status spk__attention_forward(spk_net *net, int v, int t0, int nt) {
    spk__node *n = &net->nodes[v];
    const int B = net->B;
    spk_attn_geom g = geom_of(n);
    spk_rng rng = {net->rng.seed, (uint64_t)v};
    size_t ri = (size_t)t0 * B * n->in_numel, ro = (size_t)t0 * B * n->out_numel;
    int rc = net->reference ? spk_op_attention_forward_ref(n->out + ro, n->in + ri, &g, nt * B, rng, net->dropout_draw, t0, B)
                            : spk_op_attention_forward(n->out + ro, n->in + ri, &g, nt * B, rng, net->dropout_draw, t0, B);
    if (rc) return spk__fail(&net->obj, SPK_ERR_NOMEM, "node '%s' (attention): no memory for its scratch", n->name);
    return SPK_OK;
}

spk_status spk__attention_backward(spk_net *net, int v, int t0, int nt) {
    spk__node *n = &net->nodes[v];
    if (!n->need_din) return SPK_OK;
    const int B = net->B;
    spk_attn_geom g = geom_of(n);
    size_t ri = (size_t)t0 * B * n->in_numel, ro = (size_t)t0 * B * n->out_numel;
    if (net->reference) {
        spk_op_attention_backward_ref(n->din + ri, n->dout + ro, n->in + ri, &g, nt * B);
        return SPK_OK;
    }
    if (spk_op_attention_backward(n->din + ri, n->dout + ro, n->in + ri, &g, nt * B))
        return spk__fail(&net->obj, SPK_ERR_NOMEM, "node '%s' (attention): no memory for its scratch", n->name);
    return SPK_OK;
}

/* ---------------------------------------------------------------- the block ------------ */

spk_status spk__attention_block(spk_net *net, const spk_layer_spec *L, int prev, int *out) {
    int shape[SPK_MAX_DIMS], nd = spk_net_node_shape(net, prev, shape);
    if (nd != 2 && nd != 3)
        return spk__fail(&net->obj, SPK_ERR_SHAPE,
                         "an attention layer takes [C, N] or [C, H, W] (channels, then tokens or positions), but its input has %d dimensions", nd);
    const int C = shape[0], N = nd == 3 ? shape[1] * shape[2] : shape[1], dims[2] = {C, N}, k1 = 1;
    char nm[160];
    spk_status st;
#define NAME(suffix) (snprintf(nm, sizeof nm, "%s.%s", L->name, suffix), nm)
    int tok = prev, lif[3], att, alif, proj, merge;
    if (nd == 3) { /* tokens = spatial positions */
        if ((st = spk_net_add_flatten_dims(net, NAME("tokens"), 1, -1, &tok)) || (st = spk_net_connect(net, prev, tok))) return st;
    }
    /* with batchnorm, a tdBN node (v_th = the threshold of the population it feeds) after
     * each projection: NAME.q_bn, ... NAME.proj_bn */
    spk_norm_config ncfg = spk_norm_config_default();
    static const char *const role[3] = {"q", "k", "v"};
    for (int r = 0; r < 3; r++) {
        int conv;
        char sub[16];
        if ((st = spk_net_add_conv(net, NAME(role[r]), 1, C, C, &k1, NULL, NULL, NULL, 1, 1, &conv)) || (st = spk_net_connect(net, tok, conv)))
            return st;
        if (L->attn_norm) {
            int bn;
            snprintf(sub, sizeof sub, "%s_bn", role[r]);
            ncfg.v_th = L->neuron.thr;
            if ((st = spk_net_add_norm(net, NAME(sub), &ncfg, &bn)) || (st = spk_net_connect(net, conv, bn))) return st;
            conv = bn;
        }
        snprintf(sub, sizeof sub, "%s_lif", role[r]);
        if ((st = spk_net_add_neuron(net, NAME(sub), &L->neuron, 2, dims, &lif[r])) || (st = spk_net_connect(net, conv, lif[r])))
            return st;
    }
    if ((st = spk_net_add_attention(net, NAME("attn"), (spk_attention_kind)L->attn_kind, L->heads, L->attn_scale, &att)) ||
        (st = spk_net_connect_attention(net, lif[0], lif[1], lif[2], att)))
        return st;
    spk_neuron_config acfg = L->neuron;
    acfg.thr = L->attn_threshold;
    if ((st = spk_net_add_neuron(net, NAME("attn_lif"), &acfg, 2, dims, &alif)) || (st = spk_net_connect(net, att, alif))) return st;
    if ((st = spk_net_add_conv(net, NAME("proj"), 1, C, C, &k1, NULL, NULL, NULL, 1, 1, &proj)) || (st = spk_net_connect(net, alif, proj)))
        return st;
    if (L->attn_norm) {
        int bn;
        ncfg.v_th = 1.0f;
        ncfg.gamma = 0.0f; /* the branch starts silent: the block starts as its shortcut */
        if ((st = spk_net_add_norm(net, NAME("proj_bn"), &ncfg, &bn)) || (st = spk_net_connect(net, proj, bn))) return st;
        proj = bn;
    }
    if ((st = spk_net_add_merge(net, L->name, &merge)) || (st = spk_net_connect(net, tok, merge)) || (st = spk_net_connect(net, proj, merge)))
        return st;
#undef NAME
    int pops[4] = {lif[0], lif[1], lif[2], alif};
    for (int i = 0; i < 4; i++) {
        if (L->learn_beta && (st = spk_net_set_learnable(net, pops[i], SPK_NP_LAM, L->learn_beta))) return st;
        if (L->learn_threshold && (st = spk_net_set_learnable(net, pops[i], SPK_NP_THR, L->learn_threshold))) return st;
    }
    *out = merge;
    return SPK_OK;
}
