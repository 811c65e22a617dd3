/* graph.c — building a network: nodes, edges, shape inference and checks, cycle detection,
 * the schedule, and the parameter arena with PyTorch-like initialisation. Running the graph
 * is exec.c's job; nothing here touches activations. */
#include "net/net_impl.h"
#include "neuron/neuron_impl.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static const char *const node_kind_names[SPK_NODE_KIND_COUNT] = {
    "input", "dense", "conv", "pool", "flatten", "scale", "merge", "dropout", "delay", "neuron", "attention", "norm", "reversible"};

const char *spk_node_kind_name(spk_node_kind k) {
    return (int)k >= 0 && k < SPK_NODE_KIND_COUNT ? node_kind_names[k] : NULL;
}

spk_status spk_net_create(spk_net **out) {
    if (!out) return spk__fail(NULL, SPK_ERR_INVALID_ARG, "spk_net_create: out is NULL");
    *out = NULL;
    spk_net *net = spk_calloc(1, sizeof *net);
    if (!net) return spk__fail(NULL, SPK_ERR_NOMEM, "spk_net_create: no memory");
    spk__obj_init(&net->obj);
    net->input = -1;
    *out = net;
    return SPK_OK;
}

void spk_net_free(spk_net *net) {
    if (!net) return;
    for (int i = 0; i < net->n_nodes; i++) {
        spk_neuron_free(net->nodes[i].nr);
        spk_free(net->nodes[i].delays);
        spk__free_huge(net->nodes[i].wt);
        spk_free(net->nodes[i].wscratch);
        spk_free(net->nodes[i].ds_step);
        spk_free(net->nodes[i].row_buf);
        spk_free(net->nodes[i].dw_part);
        spk_free(net->nodes[i].par_snap);
        spk_free(net->nodes[i].cell_stage);
        spk_op_csr_free(&net->nodes[i].csr);
        spk_free(net->nodes[i].dmem_buf);
        spk_free(net->nodes[i].norm_mean);
        spk_free(net->nodes[i].norm_istd);
        spk__rev_free(net->nodes[i].rev);
    }
    spk_free(net->nodes);
    spk_free(net->edges);
    spk_free(net->order);
    spk_free(net->scc_start);
    spk_free(net->group_recurrent);
    spk_free(net->tensors);
    spk_free(net->params);
    spk_free(net->grads);
    spk__free_huge(net->act);
    spk_free(net);
}

/* ---------------------------------------------------------------- shapes -------------- */

static int numel_of(int ndim, const int *dims) {
    long n = 1;
    for (int i = 0; i < ndim; i++) {
        if (dims[i] < 0 || (dims[i] > 0 && n > 0x7fffffffL / dims[i])) return 0; /* no overflow */
        n *= dims[i];
    }
    return ndim > 0 && n <= 0x7fffffff ? (int)n : 0;
}

static void shape_str(char *buf, size_t n, int ndim, const int *dims) {
    size_t k = (size_t)snprintf(buf, n, "[");
    for (int i = 0; i < ndim && k < n; i++) k += (size_t)snprintf(buf + k, n - k, i ? ", %d" : "%d", dims[i]);
    if (k < n) snprintf(buf + k, n - k, "]");
    if (ndim == 0) snprintf(buf, n, "[?]");
}

static int same_shape(int na, const int *a, int nb, const int *b) {
    if (na != nb) return 0;
    for (int i = 0; i < na; i++)
        if (a[i] != b[i]) return 0;
    return 1;
}

static void set_out(spk__node *n, int ndim, const int *dims) {
    n->out_ndim = ndim;
    for (int i = 0; i < ndim; i++) n->out_dims[i] = dims[i];
    n->out_numel = numel_of(ndim, dims);
}

/* Compute a node's output shape from its (known) input shape. */
static spk_status infer_out(spk_net *net, spk__node *n) {
    char s[64];
    switch (n->kind) {
    case SPK_NODE_INPUT:
    case SPK_NODE_DENSE:
    case SPK_NODE_NEURON:
        return SPK_OK; /* fixed at creation */
    case SPK_NODE_CONV: {
        int want = n->conv_nd + 1;
        if (n->in_ndim != want || n->in_dims[0] != n->conv.cin) {
            shape_str(s, sizeof s, n->in_ndim, n->in_dims);
            return spk__fail(&net->obj, SPK_ERR_SHAPE, "node '%s' (conv%dd, %d input channels) cannot take input of shape %s: expected [%d, %s]",
                             n->name, n->conv_nd, n->conv.cin, s, n->conv.cin, n->conv_nd == 2 ? "H, W" : "L");
        }
        n->conv.in_h = n->conv_nd == 2 ? n->in_dims[1] : 1;
        n->conv.in_w = n->in_dims[n->conv_nd];
        spk_status st = spk_conv_geom_init(&n->conv);
        if (st) return spk__fail(&net->obj, st, "node '%s': %s", n->name, spk_errmsg(NULL));
        int d[3] = {n->conv.cout, n->conv.out_h, n->conv.out_w};
        if (n->conv_nd == 1) d[1] = n->conv.out_w;
        set_out(n, want, d);
        return SPK_OK;
    }
    case SPK_NODE_POOL: {
        int want = n->conv_nd + 1;
        if (n->in_ndim != want) {
            shape_str(s, sizeof s, n->in_ndim, n->in_dims);
            return spk__fail(&net->obj, SPK_ERR_SHAPE, "node '%s' (pool%dd) cannot take input of shape %s: expected [C, %s]", n->name,
                             n->conv_nd, s, n->conv_nd == 2 ? "H, W" : "L");
        }
        n->pool.c = n->in_dims[0];
        n->pool.in_h = n->conv_nd == 2 ? n->in_dims[1] : 1;
        n->pool.in_w = n->in_dims[n->conv_nd];
        spk_status st = spk_pool_geom_init(&n->pool);
        if (st) return spk__fail(&net->obj, st, "node '%s': %s", n->name, spk_errmsg(NULL));
        int d[3] = {n->pool.c, n->pool.out_h, n->pool.out_w};
        if (n->conv_nd == 1) d[1] = n->pool.out_w;
        set_out(n, want, d);
        return SPK_OK;
    }
    case SPK_NODE_FLATTEN: {
        int d = n->in_numel;
        if (!n->flat_partial) {
            set_out(n, 1, &d);
            return SPK_OK;
        }
        /* merge dims [a, b] of the input (negative: from the end); the layout is unchanged */
        int a = n->flat_start < 0 ? n->flat_start + n->in_ndim : n->flat_start;
        int b = n->flat_end < 0 ? n->flat_end + n->in_ndim : n->flat_end;
        if (a < 0 || b >= n->in_ndim || a > b) {
            shape_str(s, sizeof s, n->in_ndim, n->in_dims);
            return spk__fail(&net->obj, SPK_ERR_SHAPE, "node '%s' (flatten dims %d..%d) cannot take input of shape %s", n->name,
                             n->flat_start, n->flat_end, s);
        }
        int od[SPK_MAX_DIMS], k = 0;
        for (int i = 0; i < a; i++) od[k++] = n->in_dims[i];
        od[k] = 1;
        for (int i = a; i <= b; i++) od[k] *= n->in_dims[i];
        k++;
        for (int i = b + 1; i < n->in_ndim; i++) od[k++] = n->in_dims[i];
        set_out(n, k, od);
        return SPK_OK;
    }
    case SPK_NODE_ATTENTION: return spk__attention_infer(net, n);
    case SPK_NODE_REVERSIBLE: {
        spk_status st = spk__rev_check_shape(net, n);
        if (st) return st;
        set_out(n, n->in_ndim, n->in_dims);
        return SPK_OK;
    }
    case SPK_NODE_DELAY:
        if (n->ndelays != 1 && n->ndelays != n->in_numel) {
            shape_str(s, sizeof s, n->in_ndim, n->in_dims);
            return spk__fail(&net->obj, SPK_ERR_SHAPE, "node '%s' (delay) has %d delays but its input %s has %d features", n->name,
                             n->ndelays, s, n->in_numel);
        }
        /* fall through */
    default: /* scale, merge, dropout, delay: same shape */
        set_out(n, n->in_ndim, n->in_dims);
        return SPK_OK;
    }
}

/* Try to give node `to` its input from `from`'s output, checking, and propagate. */
static spk_status propagate(spk_net *net, int from, int to, int depth) {
    spk__node *a = &net->nodes[from], *b = &net->nodes[to];
    if (a->out_ndim == 0 || depth > net->n_nodes + 1) return SPK_OK;
    if (b->kind == SPK_NODE_INPUT)
        return spk__fail(&net->obj, SPK_ERR_INVALID_ARG, "node '%s' is an input: nothing can connect into it", b->name);
    if (b->in_ndim) {
        if (!same_shape(a->out_ndim, a->out_dims, b->in_ndim, b->in_dims)) {
            char sa[64], sb[64];
            shape_str(sa, sizeof sa, a->out_ndim, a->out_dims);
            shape_str(sb, sizeof sb, b->in_ndim, b->in_dims);
            return spk__fail(&net->obj, SPK_ERR_SHAPE, "cannot connect '%s' (%s, output %s) to '%s' (%s, input %s): shapes differ",
                             a->name, node_kind_names[a->kind], sa, b->name, node_kind_names[b->kind], sb);
        }
        return SPK_OK;
    }
    b->in_ndim = a->out_ndim;
    memcpy(b->in_dims, a->out_dims, sizeof b->in_dims);
    b->in_numel = a->out_numel;
    spk_status st = infer_out(net, b);
    if (st) {
        b->in_ndim = 0;
        b->in_numel = 0;
        return st;
    }
    for (int e = 0; e < net->n_edges; e++)
        if (net->edges[e].from == to && (st = propagate(net, to, net->edges[e].to, depth + 1))) return st;
    return SPK_OK;
}

/* ---------------------------------------------------------------- nodes --------------- */

static spk_status add_node(spk_net *net, const char *name, spk_node_kind kind, int *id, spk__node **out) {
    if (!net) return spk__fail(NULL, SPK_ERR_INVALID_ARG, "network is NULL");
    if (net->built) return spk__fail(&net->obj, SPK_ERR_STATE, "cannot add node '%s': the network is already built", name ? name : "");
    if (!name || !*name || strlen(name) >= SPK__NAME_LEN)
        return spk__fail(&net->obj, SPK_ERR_INVALID_ARG, "node name must be 1 to %d characters", SPK__NAME_LEN - 1);
    if (spk_net_find(net, name) >= 0)
        return spk__fail(&net->obj, SPK_ERR_INVALID_ARG, "a node named '%s' already exists", name);
    if (net->n_nodes == net->cap_nodes) {
        int cap = net->cap_nodes ? 2 * net->cap_nodes : 16;
        spk__node *nn = spk_calloc((size_t)cap, sizeof *nn);
        if (!nn) return spk__fail(&net->obj, SPK_ERR_NOMEM, "no memory for node '%s'", name);
        if (net->nodes) memcpy(nn, net->nodes, (size_t)net->n_nodes * sizeof *nn);
        spk_free(net->nodes);
        net->nodes = nn;
        net->cap_nodes = cap;
    }
    spk__node *n = &net->nodes[net->n_nodes];
    memset(n, 0, sizeof *n);
    n->kind = kind;
    snprintf(n->name, sizeof n->name, "%s", name);
    n->t_w = n->t_b = n->t_s = -1;
    n->t_rm = n->t_rv = -1;
    for (int p = 0; p < SPK_NP_COUNT; p++) n->t_np[p] = -1;
    if (id) *id = net->n_nodes;
    net->n_nodes++;
    *out = n;
    return SPK_OK;
}

spk_status spk__net_add_node(spk_net *net, const char *name, spk_node_kind kind, int *id, spk__node **out) {
    return add_node(net, name, kind, id, out);
}

static spk_status check_dims(spk_net *net, const char *name, int ndim, const int *dims) {
    if (ndim < 1 || ndim > SPK_MAX_DIMS || !dims)
        return spk__fail(&net->obj, SPK_ERR_INVALID_ARG, "node '%s': %d dimensions given, need 1 to %d", name, ndim, SPK_MAX_DIMS);
    for (int i = 0; i < ndim; i++)
        if (dims[i] < 1) return spk__fail(&net->obj, SPK_ERR_INVALID_ARG, "node '%s': dimension %d is %d, must be >= 1", name, i, dims[i]);
    if (!numel_of(ndim, dims)) return spk__fail(&net->obj, SPK_ERR_INVALID_ARG, "node '%s': too many elements", name);
    return SPK_OK;
}

spk_status spk_net_add_input(spk_net *net, const char *name, int ndim, const int *dims, int *id) {
    spk__node *n;
    spk_status st = net ? check_dims(net, name ? name : "", ndim, dims) : SPK_ERR_INVALID_ARG;
    if (st) return net ? st : spk__fail(NULL, st, "network is NULL");
    if (net->input >= 0) return spk__fail(&net->obj, SPK_ERR_UNSUPPORTED, "node '%s': a network has one input node ('%s' already is)", name ? name : "", net->nodes[net->input].name);
    if ((st = add_node(net, name, SPK_NODE_INPUT, id, &n))) return st;
    set_out(n, ndim, dims);
    net->input = net->n_nodes - 1;
    return SPK_OK;
}

spk_status spk_net_add_dense(spk_net *net, const char *name, int in, int out, int bias, int *id) {
    spk__node *n;
    if (net && (in < 1 || out < 1))
        return spk__fail(&net->obj, SPK_ERR_INVALID_ARG, "node '%s' (dense): in = %d, out = %d: both must be >= 1", name ? name : "", in, out);
    spk_status st = add_node(net, name, SPK_NODE_DENSE, id, &n);
    if (st) return st;
    n->d_in = in;
    n->d_out = out;
    n->has_bias = bias != 0;
    n->in_ndim = 1;
    n->in_dims[0] = in;
    n->in_numel = in;
    set_out(n, 1, &out);
    return SPK_OK;
}

spk_status spk_net_add_conv(spk_net *net, const char *name, int dims, int cin, int cout, const int *k, const int *stride,
                            const int *pad, const int *dil, int groups, int bias, int *id) {
    if (!net) return spk__fail(NULL, SPK_ERR_INVALID_ARG, "network is NULL");
    if ((dims != 1 && dims != 2) || !k || cin < 1 || cout < 1 || groups < 1)
        return spk__fail(&net->obj, SPK_ERR_INVALID_ARG, "node '%s' (conv): need dims 1 or 2, kernel sizes, cin, cout, groups >= 1", name ? name : "");
    spk__node *n;
    spk_status st = add_node(net, name, SPK_NODE_CONV, id, &n);
    if (st) return st;
    n->conv_nd = dims;
    n->has_bias = bias != 0;
    spk_conv_geom *g = &n->conv;
    g->cin = cin;
    g->cout = cout;
    g->groups = groups;
    int last = dims - 1;
    g->k_h = dims == 2 ? k[0] : 1;
    g->k_w = k[last];
    g->stride_h = dims == 2 && stride ? stride[0] : 1;
    g->stride_w = stride ? stride[last] : 1;
    g->pad_h = dims == 2 && pad ? pad[0] : 0;
    g->pad_w = pad ? pad[last] : 0;
    g->dil_h = dims == 2 && dil ? dil[0] : 1;
    g->dil_w = dil ? dil[last] : 1;
    if (cin % groups || cout % groups) {
        net->n_nodes--;
        return spk__fail(&net->obj, SPK_ERR_INVALID_ARG, "node '%s' (conv): groups = %d must divide cin = %d and cout = %d", name, groups, cin, cout);
    }
    return SPK_OK;
}

spk_status spk_net_add_pool(spk_net *net, const char *name, int kind, int dims, const int *k, const int *stride, const int *pad,
                            int *id) {
    if (!net) return spk__fail(NULL, SPK_ERR_INVALID_ARG, "network is NULL");
    if ((dims != 1 && dims != 2) || !k || kind < 0 || kind >= SPK_POOL_KIND_COUNT)
        return spk__fail(&net->obj, SPK_ERR_INVALID_ARG, "node '%s' (pool): need kind 0..2, dims 1 or 2 and kernel sizes", name ? name : "");
    spk__node *n;
    spk_status st = add_node(net, name, SPK_NODE_POOL, id, &n);
    if (st) return st;
    n->conv_nd = dims;
    spk_pool_geom *g = &n->pool;
    int last = dims - 1;
    g->kind = (spk_pool_kind)kind;
    g->k_h = dims == 2 ? k[0] : 1;
    g->k_w = k[last];
    g->stride_h = dims == 2 ? (stride ? stride[0] : g->k_h) : 1;
    g->stride_w = stride ? stride[last] : g->k_w;
    g->pad_h = dims == 2 && pad ? pad[0] : 0;
    g->pad_w = pad ? pad[last] : 0;
    g->count_include_pad = 1;
    return SPK_OK;
}

spk_status spk_net_add_flatten(spk_net *net, const char *name, int *id) {
    spk__node *n;
    return add_node(net, name, SPK_NODE_FLATTEN, id, &n);
}

spk_status spk_net_add_scale(spk_net *net, const char *name, int *id) {
    spk__node *n;
    return add_node(net, name, SPK_NODE_SCALE, id, &n);
}

spk_status spk_net_add_flatten_dims(spk_net *net, const char *name, int start, int end, int *id) {
    if (net && (start < -SPK_MAX_DIMS || start >= SPK_MAX_DIMS || end < -SPK_MAX_DIMS || end >= SPK_MAX_DIMS))
        return spk__fail(&net->obj, SPK_ERR_INVALID_ARG, "node '%s' (flatten): dims %d..%d out of range", name ? name : "", start, end);
    spk__node *n = NULL;
    spk_status st = add_node(net, name, SPK_NODE_FLATTEN, id, &n);
    if (st) return st;
    n->flat_partial = 1;
    n->flat_start = start;
    n->flat_end = end;
    return SPK_OK;
}

spk_status spk_net_add_scale_bias(spk_net *net, const char *name, int *id) {
    spk__node *n = NULL;
    spk_status st = add_node(net, name, SPK_NODE_SCALE, id, &n);
    if (!st) n->has_bias = 1;
    return st;
}

spk_status spk_net_add_merge(spk_net *net, const char *name, int *id) {
    spk__node *n;
    return add_node(net, name, SPK_NODE_MERGE, id, &n);
}

spk_status spk_net_add_merge_op(spk_net *net, const char *name, spk_merge_op op, int *id) {
    if (net && ((int)op < 0 || op >= SPK_MERGE_OP_COUNT))
        return spk__fail(&net->obj, SPK_ERR_INVALID_ARG, "node '%s' (merge): op %d is not add (0), and (1) or iand (2)", name ? name : "", (int)op);
    spk__node *n;
    spk_status st = add_node(net, name, SPK_NODE_MERGE, id, &n);
    if (!st) n->merge_op = op;
    return st;
}

spk_status spk_net_add_norm(spk_net *net, const char *name, const spk_norm_config *cfg, int *id) {
    spk_norm_config c = cfg ? *cfg : spk_norm_config_default();
    if (net && !(c.alpha > 0 && c.v_th > 0 && c.eps >= 0 && c.momentum >= 0 && c.momentum <= 1 && isfinite(c.alpha) &&
                 isfinite(c.v_th) && isfinite(c.eps) && isfinite(c.gamma)))
        return spk__fail(&net->obj, SPK_ERR_INVALID_ARG,
                         "node '%s' (norm): alpha = %g and v_th = %g must be > 0, eps = %g >= 0, momentum = %g in [0, 1]", name ? name : "",
                         (double)c.alpha, (double)c.v_th, (double)c.eps, (double)c.momentum);
    spk__node *n;
    spk_status st = add_node(net, name, SPK_NODE_NORM, id, &n);
    if (!st) n->norm = c;
    return st;
}

spk_status spk_net_add_dropout(spk_net *net, const char *name, float p, int *id) {
    if (net && !(p >= 0.0f && p < 1.0f))
        return spk__fail(&net->obj, SPK_ERR_INVALID_ARG, "node '%s' (dropout): p = %g must be in [0, 1)", name ? name : "", (double)p);
    spk__node *n;
    spk_status st = add_node(net, name, SPK_NODE_DROPOUT, id, &n);
    if (!st) n->drop_p = p;
    return st;
}

spk_status spk_net_add_delay(spk_net *net, const char *name, const int32_t *delays, int count, int *id) {
    if (!net) return spk__fail(NULL, SPK_ERR_INVALID_ARG, "network is NULL");
    if (!delays || count < 1) return spk__fail(&net->obj, SPK_ERR_INVALID_ARG, "node '%s' (delay): no delays given", name ? name : "");
    for (int i = 0; i < count; i++)
        if (delays[i] < 0)
            return spk__fail(&net->obj, SPK_ERR_INVALID_ARG, "node '%s' (delay): delay[%d] = %d must be >= 0", name ? name : "", i, delays[i]);
    int32_t *d = spk_malloc((size_t)count * sizeof *d);
    if (!d) return spk__fail(&net->obj, SPK_ERR_NOMEM, "no memory for node '%s'", name ? name : "");
    spk__node *n;
    spk_status st = add_node(net, name, SPK_NODE_DELAY, id, &n);
    if (st) {
        spk_free(d);
        return st;
    }
    memcpy(d, delays, (size_t)count * sizeof *d);
    n->delays = d;
    n->ndelays = count;
    for (int i = 0; i < count; i++) n->max_delay = d[i] > n->max_delay ? d[i] : n->max_delay;
    return SPK_OK;
}

spk_status spk_net_add_attention(spk_net *net, const char *name, spk_attention_kind kind, int heads, float scale, int *id) {
    if (net && ((int)kind < 0 || kind >= SPK_ATTENTION_KIND_COUNT || heads < 1 || !(scale > 0.0f) || !isfinite(scale)))
        return spk__fail(&net->obj, SPK_ERR_INVALID_ARG, "node '%s' (attention): kind %d, heads = %d, scale = %g: need a known kind, heads >= 1, a finite scale > 0",
                         name ? name : "", (int)kind, heads, (double)scale);
    spk__node *n = NULL;
    spk_status st = add_node(net, name, SPK_NODE_ATTENTION, id, &n);
    if (st) return st;
    n->attn_kind = (int)kind;
    n->attn_heads = heads;
    n->attn_scale = scale;
    return SPK_OK;
}

spk_status spk_net_add_neuron(spk_net *net, const char *name, const spk_neuron_config *cfg, int ndim, const int *dims, int *id) {
    if (!net) return spk__fail(NULL, SPK_ERR_INVALID_ARG, "network is NULL");
    spk_status st = check_dims(net, name ? name : "", ndim, dims);
    if (st) return st;
    if (cfg && cfg->kind == SPK_NEURON_COMPLEX)
        return spk__fail(&net->obj, SPK_ERR_UNSUPPORTED, "node '%s': complex neurons cannot be placed in a network yet (their spikes carry a phase)", name ? name : "");
    spk_neuron *nr;
    if ((st = spk_neuron_create(&nr, cfg, numel_of(ndim, dims))))
        return spk__fail(&net->obj, st, "node '%s': %s", name ? name : "", spk_errmsg(NULL));
    spk__node *n;
    if ((st = add_node(net, name, SPK_NODE_NEURON, id, &n))) {
        spk_neuron_free(nr);
        return st;
    }
    n->nr = nr;
    n->in_ndim = ndim;
    memcpy(n->in_dims, dims, (size_t)ndim * sizeof(int));
    n->in_numel = numel_of(ndim, dims);
    set_out(n, ndim, dims);
    return SPK_OK;
}

spk_status spk_net_set_learnable(spk_net *net, int node, spk_neuron_param p, int learnable) {
    if (!net) return spk__fail(NULL, SPK_ERR_INVALID_ARG, "network is NULL");
    if (net->built) return spk__fail(&net->obj, SPK_ERR_STATE, "set_learnable: the network is already built");
    if (node < 0 || node >= net->n_nodes || net->nodes[node].kind != SPK_NODE_NEURON)
        return spk__fail(&net->obj, SPK_ERR_INVALID_ARG, "set_learnable: node %d is not a neuron population", node);
    if ((int)p < 0 || p >= SPK_NP_COUNT || !spk_neuron_get_param(net->nodes[node].nr, p))
        return spk__fail(&net->obj, SPK_ERR_INVALID_ARG, "set_learnable: node '%s' has no parameter %d", net->nodes[node].name, (int)p);
    if (learnable < SPK_LEARN_OFF || learnable > SPK_LEARN_SHARED)
        return spk__fail(&net->obj, SPK_ERR_INVALID_ARG, "set_learnable: mode %d is not off (0), per neuron (1) or shared (2)", learnable);
    net->nodes[node].learn[p] = learnable;
    return SPK_OK;
}

spk_status spk_net_connect(spk_net *net, int from, int to) {
    if (!net) return spk__fail(NULL, SPK_ERR_INVALID_ARG, "network is NULL");
    if (net->built) return spk__fail(&net->obj, SPK_ERR_STATE, "cannot connect: the network is already built");
    if (from < 0 || from >= net->n_nodes || to < 0 || to >= net->n_nodes)
        return spk__fail(&net->obj, SPK_ERR_INVALID_ARG, "connect: node index %d or %d does not exist", from, to);
    for (int e = 0; e < net->n_edges; e++)
        if (net->edges[e].from == from && net->edges[e].to == to)
            return spk__fail(&net->obj, SPK_ERR_INVALID_ARG, "'%s' is already connected to '%s'", net->nodes[from].name, net->nodes[to].name);
    spk_status st = propagate(net, from, to, 0);
    if (st) return st;
    if (net->n_edges == net->cap_edges) {
        int cap = net->cap_edges ? 2 * net->cap_edges : 16;
        spk__edge *ne = spk_calloc((size_t)cap, sizeof *ne);
        if (!ne) return spk__fail(&net->obj, SPK_ERR_NOMEM, "no memory for an edge");
        if (net->edges) memcpy(ne, net->edges, (size_t)net->n_edges * sizeof *ne);
        spk_free(net->edges);
        net->edges = ne;
        net->cap_edges = cap;
    }
    net->edges[net->n_edges++] = (spk__edge){from, to, 0};
    return SPK_OK;
}

int spk__net_in_edges(const spk_net *net, int v, int *idx, int max) {
    int k = 0;
    for (int e = 0; e < net->n_edges; e++)
        if (net->edges[e].to == v) {
            if (k < max) idx[k] = e;
            k++;
        }
    return k;
}

/* ---------------------------------------------------------------- build --------------- */

/* Depth-first walk from the input in insertion order; edges into a node on the stack close
 * a cycle and become delayed. Iterative, to survive deep graphs. */
static spk_status mark_back_edges(spk_net *net, int *state /* 0 new, 1 on stack, 2 done */) {
    int *stack = spk_calloc((size_t)net->n_nodes + 1, sizeof(int));
    int *next_e = spk_calloc((size_t)net->n_nodes + 1, sizeof(int));
    if (!stack || !next_e) {
        spk_free(stack);
        spk_free(next_e);
        return spk__fail(&net->obj, SPK_ERR_NOMEM, "build: no memory for the graph walk");
    }
    {
        int root = net->input, sp = 0;
        stack[sp++] = root;
        state[root] = 1;
        next_e[root] = 0;
        while (sp) {
            int v = stack[sp - 1];
            int e = next_e[v];
            while (e < net->n_edges && net->edges[e].from != v) e++;
            if (e >= net->n_edges) {
                state[v] = 2;
                sp--;
                continue;
            }
            next_e[v] = e + 1;
            int w = net->edges[e].to;
            if (state[w] == 1) net->edges[e].delayed = 1;
            else if (state[w] == 0) {
                state[w] = 1;
                next_e[w] = 0;
                stack[sp++] = w;
            }
        }
    }
    spk_free(stack);
    spk_free(next_e);
    return SPK_OK;
}

/* Tarjan's strongly connected components (recursive; graphs are small). */
typedef struct tarjan {
    spk_net *net;
    int *index, *low, *on, *stk, *comp;
    int sp, counter, ncomp;
} tarjan;

static void strongconnect(tarjan *tj, int v) {
    tj->index[v] = tj->low[v] = tj->counter++;
    tj->stk[tj->sp++] = v;
    tj->on[v] = 1;
    for (int e = 0; e < tj->net->n_edges; e++) {
        if (tj->net->edges[e].from != v) continue;
        int w = tj->net->edges[e].to;
        if (tj->index[w] < 0) {
            strongconnect(tj, w);
            if (tj->low[w] < tj->low[v]) tj->low[v] = tj->low[w];
        } else if (tj->on[w] && tj->index[w] < tj->low[v]) {
            tj->low[v] = tj->index[w];
        }
    }
    if (tj->low[v] == tj->index[v]) {
        int w;
        do {
            w = tj->stk[--tj->sp];
            tj->on[w] = 0;
            tj->comp[w] = tj->ncomp;
        } while (w != v);
        tj->ncomp++;
    }
}

static spk_status build_schedule(spk_net *net) {
    int n = net->n_nodes;
    int *buf = spk_calloc((size_t)n * 8 + 8, sizeof(int));
    net->order = spk_calloc((size_t)n, sizeof(int));
    net->scc_start = spk_calloc((size_t)n + 1, sizeof(int));
    net->group_recurrent = spk_calloc((size_t)n + 1, sizeof(int));
    if (!buf || !net->order || !net->scc_start || !net->group_recurrent) {
        spk_free(buf);
        return spk__fail(&net->obj, SPK_ERR_NOMEM, "build: no memory for the schedule");
    }
    tarjan tj = {net, buf, buf + n, buf + 2 * n, buf + 3 * n, buf + 4 * n, 0, 0, 0};
    for (int v = 0; v < n; v++) tj.index[v] = -1;
    for (int v = 0; v < n; v++)
        if (tj.index[v] < 0) strongconnect(&tj, v);
    int *size = buf + 5 * n, *indeg = buf + 6 * n, *done = buf + 7 * n;
    for (int v = 0; v < n; v++) size[tj.comp[v]]++;
    for (int v = 0; v < n; v++) {
        net->nodes[v].scc = tj.comp[v];
        net->nodes[v].recurrent = size[tj.comp[v]] > 1;
    }
    for (int e = 0; e < net->n_edges; e++)
        if (net->edges[e].from == net->edges[e].to) net->nodes[net->edges[e].from].recurrent = 1;
    /* Kahn's order on the graph without delayed edges (a DAG), smallest index first, but a
     * component is emitted whole once started: its members are contiguous. */
    for (int e = 0; e < net->n_edges; e++)
        if (!net->edges[e].delayed) indeg[net->edges[e].to]++;
    int k = 0, g = 0;
    while (k < n) {
        int pick = -1;
        for (int v = 0; v < n && pick < 0; v++)
            if (!done[v] && indeg[v] == 0) pick = v;
        if (pick < 0) { spk_free(buf); return spk__fail(&net->obj, SPK_ERR_INVALID_ARG, "build: the graph has a cycle that could not be broken"); }
        int comp = net->nodes[pick].scc;
        net->scc_start[g] = k;
        net->group_recurrent[g] = net->nodes[pick].recurrent;
        /* emit every member of this component in topological order */
        for (;;) {
            int v = -1;
            for (int w = 0; w < n && v < 0; w++)
                if (!done[w] && indeg[w] == 0 && net->nodes[w].scc == comp) v = w;
            if (v < 0) break;
            done[v] = 1;
            net->nodes[v].order = k;
            net->order[k++] = v;
            for (int e = 0; e < net->n_edges; e++)
                if (net->edges[e].from == v && !net->edges[e].delayed) indeg[net->edges[e].to]--;
        }
        g++;
    }
    net->scc_start[g] = n;
    net->n_groups = g;
    spk_free(buf);
    return SPK_OK;
}

static int add_tensor(spk_net *net, int node, const char *suffix, size_t numel, int learnable) {
    spk__tensor *t = &net->tensors[net->n_tensors];
    snprintf(t->name, sizeof t->name, "%s.%s", net->nodes[node].name, suffix);
    t->node = node;
    t->numel = numel;
    t->learnable = learnable;
    return net->n_tensors++;
}

static spk_status layout_params(spk_net *net) {
    int maxt = 5 * net->n_nodes + SPK_NP_COUNT * net->n_nodes + 1;
    net->tensors = spk_calloc((size_t)maxt, sizeof(spk__tensor));
    if (!net->tensors) return spk__fail(&net->obj, SPK_ERR_NOMEM, "build: no memory for the parameter table");
    static const char *const np_names[SPK_NP_COUNT] = {"lam", "thr", "alpha", "omega", "tau_m"};
    for (int v = 0; v < net->n_nodes; v++) {
        spk__node *n = &net->nodes[v];
        switch (n->kind) {
        case SPK_NODE_DENSE:
            n->t_w = add_tensor(net, v, "weight", (size_t)n->d_in * n->d_out, 1);
            if (n->has_bias) n->t_b = add_tensor(net, v, "bias", (size_t)n->d_out, 1);
            break;
        case SPK_NODE_CONV:
            n->t_w = add_tensor(net, v, "weight", (size_t)n->conv.cout * (n->conv.cin / n->conv.groups) * n->conv.k_h * n->conv.k_w, 1);
            if (n->has_bias) n->t_b = add_tensor(net, v, "bias", (size_t)n->conv.cout, 1);
            break;
        case SPK_NODE_SCALE:
            n->t_s = add_tensor(net, v, "scale", (size_t)n->out_numel, 1);
            if (n->has_bias) n->t_b = add_tensor(net, v, "bias", (size_t)n->out_numel, 1);
            break;
        case SPK_NODE_REVERSIBLE:
            n->t_w = add_tensor(net, v, "weight", spk__rev_weight_numel(n), 1);
            if (n->has_bias) n->t_b = add_tensor(net, v, "bias", spk__rev_bias_numel(n), 1);
            for (int p = 0; p < SPK_NP_COUNT; p++) /* 2L populations of out_numel / 2 */
                if (n->learn[p]) n->t_np[p] = add_tensor(net, v, np_names[p], (size_t)(n->learn[p] == SPK_LEARN_SHARED ? 2 : n->out_numel) * spk_net_reversible_config(net, v)->blocks, 1);
            break;
        case SPK_NODE_NEURON:
            for (int p = 0; p < SPK_NP_COUNT; p++)
                if (n->learn[p]) n->t_np[p] = add_tensor(net, v, np_names[p], n->learn[p] == SPK_LEARN_SHARED ? 1 : (size_t)n->out_numel, 1);
            break;
        case SPK_NODE_NORM:
            n->t_w = add_tensor(net, v, "weight", (size_t)n->norm_c, 1);
            n->t_b = add_tensor(net, v, "bias", (size_t)n->norm_c, 1);
            break;
        default: break;
        }
    }
    /* buffers (not learnable) after every learnable tensor: the norm nodes' running stats */
    for (int v = 0; v < net->n_nodes; v++)
        if (net->nodes[v].kind == SPK_NODE_NORM) {
            net->nodes[v].t_rm = add_tensor(net, v, "running_mean", (size_t)net->nodes[v].norm_c, 0);
            net->nodes[v].t_rv = add_tensor(net, v, "running_var", (size_t)net->nodes[v].norm_c, 0);
        }
    size_t off = 0, n_learn = 0;
    for (int i = 0; i < net->n_tensors; i++) {
        net->tensors[i].off = off;
        off += net->tensors[i].numel;
        if (net->tensors[i].learnable) n_learn = off;
    }
    net->n_params = off;
    net->n_learn = n_learn;
    net->params = spk_calloc(off ? off : 1, sizeof(float));
    net->grads = spk_calloc(off ? off : 1, sizeof(float));
    if (!net->params || !net->grads) return spk__fail(&net->obj, SPK_ERR_NOMEM, "build: no memory for %zu parameters", off);
    /* initialise like torch: U(-1/sqrt(fan_in), 1/sqrt(fan_in)), one draw per tensor */
    for (int i = 0; i < net->n_tensors; i++) {
        spk__tensor *t = &net->tensors[i];
        spk__node *n = &net->nodes[t->node];
        float *w = net->params + t->off;
        if (n->kind == SPK_NODE_DENSE || n->kind == SPK_NODE_CONV) {
            int fan_in = n->kind == SPK_NODE_DENSE ? n->d_in : (n->conv.cin / n->conv.groups) * n->conv.k_h * n->conv.k_w;
            spk_init_uniform(w, t->numel, spk_init_bound(fan_in), net->rng, (uint64_t)i);
        } else if (n->kind == SPK_NODE_REVERSIBLE && (i == n->t_w || i == n->t_b)) { /* every op's weight and bias as its dense / conv's */
            spk_init_uniform(w, t->numel, spk_init_bound(spk__rev_fan_in(n)), net->rng, (uint64_t)i);
        } else if ((n->kind == SPK_NODE_SCALE && i == n->t_s) || (n->kind == SPK_NODE_NORM && (i == n->t_w || i == n->t_rv))) {
            float v = n->kind == SPK_NODE_NORM && i == n->t_w ? n->norm.gamma : 1.0f;
            for (size_t j = 0; j < t->numel; j++) w[j] = v; /* scale 1, bias 0; norm gamma as set, running var 1 */
        }
    }
    /* neuron parameters learnable per neuron move into the arena; a shared one is a scalar
     * there, broadcast to the population before each forward */
    for (int v = 0; v < net->n_nodes; v++) {
        spk__node *n = &net->nodes[v];
        if (n->rev) spk__rev_bind(net, n);
        for (int p = 0; p < SPK_NP_COUNT && n->nr; p++) {
            if (!n->learn[p]) continue;
            spk__tensor *t = &net->tensors[n->t_np[p]];
            if (n->learn[p] == SPK_LEARN_SHARED) net->params[t->off] = spk_neuron_get_param(n->nr, (spk_neuron_param)p)[0];
            else spk__neuron_bind_param(n->nr, (spk_neuron_param)p, net->params + t->off, net->grads + t->off);
        }
    }
    return SPK_OK;
}

spk_status spk_net_build(spk_net *net, spk_rng init) {
    if (!net) return spk__fail(NULL, SPK_ERR_INVALID_ARG, "network is NULL");
    if (net->built) return spk__fail(&net->obj, SPK_ERR_STATE, "build: the network is already built");
    if (net->input < 0) return spk__fail(&net->obj, SPK_ERR_INVALID_ARG, "build: the network has no input node");
    net->rng = init;
    int n = net->n_nodes;
    int *state = spk_calloc((size_t)n, sizeof(int));
    if (!state) return spk__fail(&net->obj, SPK_ERR_NOMEM, "build: no memory");
    if (mark_back_edges(net, state)) {
        spk_free(state);
        return SPK_ERR_NOMEM;
    }
    for (int v = 0; v < n; v++) {
        spk__node *nd = &net->nodes[v];
        int fed = v == net->input;
        for (int e = 0; e < net->n_edges && !fed; e++) fed = net->edges[e].to == v;
        spk_status st = SPK_OK;
        if (!state[v])
            st = spk__fail(&net->obj, SPK_ERR_INVALID_ARG, "build: node '%s' (%s) cannot be reached from the input '%s'", nd->name,
                           node_kind_names[nd->kind], net->nodes[net->input].name);
        else if (!fed)
            st = spk__fail(&net->obj, SPK_ERR_INVALID_ARG, "build: node '%s' has no input edge", nd->name);
        else if (!nd->out_ndim || (v != net->input && !nd->in_ndim))
            st = spk__fail(&net->obj, SPK_ERR_SHAPE, "build: the shape of node '%s' (%s) could not be inferred", nd->name, node_kind_names[nd->kind]);
        if (st) {
            spk_free(state);
            return st;
        }
    }
    spk_free(state);
    if (spk__attention_check(net)) return SPK_ERR_INVALID_ARG;
    /* every incoming edge of a node must carry its input shape (checked at connect), and a
     * delay node's delays expand to one per feature */
    for (int v = 0; v < n; v++) {
        spk__node *nd = &net->nodes[v];
        if (nd->kind == SPK_NODE_DELAY && nd->ndelays == 1 && nd->out_numel > 1) {
            int32_t *d = spk_malloc((size_t)nd->out_numel * sizeof *d);
            if (!d) return spk__fail(&net->obj, SPK_ERR_NOMEM, "build: no memory");
            for (int i = 0; i < nd->out_numel; i++) d[i] = nd->delays[0];
            spk_free(nd->delays);
            nd->delays = d;
            nd->ndelays = nd->out_numel;
        }
    }
    for (int e = 0; e < net->n_edges; e++)
        if (net->edges[e].delayed) net->nodes[net->edges[e].from].is_back_src = 1;
    spk_status st = build_schedule(net);
    if (!st) st = spk__net_check_sew(net);
    for (int v = 0; v < n && !st; v++)
        if (net->nodes[v].kind == SPK_NODE_REVERSIBLE) st = spk__rev_prepare(net, v);
    if (!st) st = layout_params(net);
    if (st) return st;
    net->built = 1;
    return SPK_OK;
}

/* ---------------------------------------------------------------- look-ups ------------ */

int spk_net_node_count(const spk_net *net) { return net ? net->n_nodes : 0; }

int spk_net_find(const spk_net *net, const char *name) {
    if (!net || !name) return -1;
    for (int i = 0; i < net->n_nodes; i++)
        if (strcmp(net->nodes[i].name, name) == 0) return i;
    return -1;
}

const char *spk_net_node_name(const spk_net *net, int node) {
    return net && node >= 0 && node < net->n_nodes ? net->nodes[node].name : NULL;
}

spk_node_kind spk_net_node_kind(const spk_net *net, int node) {
    return net && node >= 0 && node < net->n_nodes ? net->nodes[node].kind : SPK_NODE_KIND_COUNT;
}

int spk_net_node_shape(const spk_net *net, int node, int dims[SPK_MAX_DIMS]) {
    if (!net || node < 0 || node >= net->n_nodes) return 0;
    const spk__node *n = &net->nodes[node];
    if (dims) memcpy(dims, n->out_dims, sizeof n->out_dims);
    return n->out_ndim;
}

int spk_net_node_is_recurrent(const spk_net *net, int node) {
    return net && net->built && node >= 0 && node < net->n_nodes ? net->nodes[node].recurrent : 0;
}

spk_neuron *spk_net_neuron(spk_net *net, int node) {
    return net && node >= 0 && node < net->n_nodes ? net->nodes[node].nr : NULL;
}

static float *tensor_of(spk_net *net, int node, const char *which, size_t *numel, float *base) {
    if (!net || !net->built || node < 0 || node >= net->n_nodes || !which) return NULL;
    spk__node *n = &net->nodes[node];
    int t = !strcmp(which, "weight") ? n->t_w : !strcmp(which, "bias") ? n->t_b : !strcmp(which, "scale") ? n->t_s : -1;
    if (!strcmp(which, "running_mean") || !strcmp(which, "running_var")) /* buffers: no gradient */
        t = base == net->grads ? -1 : which[8] == 'm' ? n->t_rm : n->t_rv;
    if (t < 0) return NULL;
    if (numel) *numel = net->tensors[t].numel;
    return base + net->tensors[t].off;
}

float *spk_net_param(spk_net *net, int node, const char *which, size_t *numel) {
    return net ? tensor_of(net, node, which, numel, net->params) : NULL;
}

float *spk_net_param_grad(spk_net *net, int node, const char *which, size_t *numel) {
    return net ? tensor_of(net, node, which, numel, net->grads) : NULL;
}

float *spk_net_params(spk_net *net, size_t *n) {
    if (!net || !net->built) return NULL;
    if (n) *n = net->n_learn;
    return net->params;
}

float *spk_net_grads(spk_net *net, size_t *n) {
    if (!net || !net->built) return NULL;
    if (n) *n = net->n_learn;
    return net->grads;
}

/* Keep a learned neuron parameter inside the range the neuron accepts (a projection after
 * each update): decays in [-1, 1], thresholds > 0, frequencies wrapped into [0, 2 pi),
 * membrane constants >= 0. Without it a decay pushed past 1 would make the saved model
 * unloadable (the forward already clamps decays to [0, 1], so it computes the same). */
static void project(spk_neuron_param p, float *v, size_t n) {
    for (size_t i = 0; i < n; i++) {
        float x = v[i];
        switch (p) {
        case SPK_NP_LAM:
        case SPK_NP_ALPHA: x = x > 1.0f ? 1.0f : x < -1.0f ? -1.0f : x; break;
        case SPK_NP_THR: x = x > 1e-6f ? x : 1e-6f; break;
        case SPK_NP_OMEGA: {
            const float two_pi = 6.2831853071795864769f;
            x = fmodf(x, two_pi);
            if (x < 0) x += two_pi;
            if (x >= two_pi) x = 0.0f;
            break;
        }
        case SPK_NP_TAU: x = x > 0.0f ? x : 0.0f; break;
        default: break;
        }
        v[i] = x;
    }
}

void spk_net_params_changed(spk_net *net) {
    if (!net || !net->built) return;
    for (int v = 0; v < net->n_nodes; v++) {
        spk__node *n = &net->nodes[v];
        if (n->rev) spk__rev_params_changed(net, n, project);
        if (!n->nr) continue;
        for (int p = 0; p < SPK_NP_COUNT; p++) {
            if (!n->learn[p]) continue;
            const spk__tensor *t = &net->tensors[n->t_np[p]];
            project((spk_neuron_param)p, net->params + t->off, t->numel);
            if (n->learn[p] == SPK_LEARN_SHARED) spk__neuron_fill_param(n->nr, (spk_neuron_param)p, net->params[t->off]);
        }
        spk__neuron_params_changed(n->nr);
    }
}
