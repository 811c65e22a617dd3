/* fit.c — what a network needs from a neuromorphic chip (neurons, synapses, the largest
 * fan-in, neuron features, ops that are not local or event-driven) and whether one chip of
 * the catalog offers it, check by check, with the numbers; how many chips when it is too big.
 * Fan-in is measured, not estimated: for one neuron in the middle of each population, the set
 * of distinct sources that reach it within a step is propagated back through the ops (dense
 * rows with non-zero weights, conv and pool windows, shape-only ops) to the nearest neuron
 * populations or the input. It does not cost anything (energy.c does). */
#include "hw/hw_impl.h"
#include "net/net_impl.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

static const char *const verdict_names[] = {"yes", "no", "unknown"};
const char *spk_hw_verdict_name(spk_hw_verdict v) { return (int)v >= 0 && v <= SPK_HW_UNKNOWN ? verdict_names[v] : "unknown"; }

static const char *const check_names[SPK_HW_CHECK_COUNT] = {"neurons", "synapses", "fan_in", "neuron_model", "ops", "learning"};
const char *spk_hw_check_name(spk_hw_check k) { return (int)k >= 0 && k < SPK_HW_CHECK_COUNT ? check_names[k] : NULL; }

/* ---------------------------------------------------------------- fan-in ----------------- */

/* Mark in `in` (the node's summed input, in_numel) every value that output mask `out` reads. */
static void back_op(spk_net *net, const spk__node *n, const uint8_t *out, uint8_t *in) {
    switch (n->kind) {
    case SPK_NODE_DENSE: {
        const float *W = net->params + net->tensors[n->t_w].off;
        for (int j = 0; j < n->d_out; j++) {
            if (!out[j]) continue;
            for (int i = 0; i < n->d_in; i++)
                if (W[(size_t)j * n->d_in + i] != 0.0f) in[i] = 1;
        }
        break;
    }
    case SPK_NODE_CONV: {
        const spk_conv_geom *g = &n->conv;
        const float *W = net->params + net->tensors[n->t_w].off;
        int cpg_in = g->cin / g->groups, cpg_out = g->cout / g->groups;
        for (int co = 0; co < g->cout; co++)
            for (int oy = 0; oy < g->out_h; oy++)
                for (int ox = 0; ox < g->out_w; ox++) {
                    if (!out[((size_t)co * g->out_h + oy) * g->out_w + ox]) continue;
                    int grp = co / cpg_out;
                    for (int cl = 0; cl < cpg_in; cl++)
                        for (int ky = 0; ky < g->k_h; ky++)
                            for (int kx = 0; kx < g->k_w; kx++) {
                                int iy = oy * g->stride_h - g->pad_h + ky * g->dil_h;
                                int ix = ox * g->stride_w - g->pad_w + kx * g->dil_w;
                                if (iy < 0 || iy >= g->in_h || ix < 0 || ix >= g->in_w) continue;
                                if (W[(((size_t)co * cpg_in + cl) * g->k_h + ky) * g->k_w + kx] == 0.0f) continue;
                                in[((size_t)(grp * cpg_in + cl) * g->in_h + iy) * g->in_w + ix] = 1;
                            }
                }
        break;
    }
    case SPK_NODE_POOL: {
        const spk_pool_geom *g = &n->pool;
        for (int c = 0; c < g->c; c++)
            for (int oy = 0; oy < g->out_h; oy++)
                for (int ox = 0; ox < g->out_w; ox++) {
                    if (!out[((size_t)c * g->out_h + oy) * g->out_w + ox]) continue;
                    for (int ky = 0; ky < g->k_h; ky++)
                        for (int kx = 0; kx < g->k_w; kx++) {
                            int iy = oy * g->stride_h - g->pad_h + ky, ix = ox * g->stride_w - g->pad_w + kx;
                            if (iy >= 0 && iy < g->in_h && ix >= 0 && ix < g->in_w) in[((size_t)c * g->in_h + iy) * g->in_w + ix] = 1;
                        }
                }
        break;
    }
    case SPK_NODE_ATTENTION: { /* y[c, i] of head h reads q[h's channels, i], all of k[h's channels], v[c, :] */
        const int D = n->out_dims[0], N = n->out_dims[1], d = D / n->attn_heads;
        const size_t DN = (size_t)D * N;
        for (int c = 0; c < D; c++)
            for (int i = 0; i < N; i++) {
                if (!out[(size_t)c * N + i]) continue;
                const int h0 = c / d * d;
                for (int cc = h0; cc < h0 + d; cc++) {
                    in[(size_t)cc * N + i] = 1;
                    memset(in + DN + (size_t)cc * N, 1, (size_t)N);
                }
                memset(in + 2 * DN + (size_t)c * N, 1, (size_t)N);
            }
        break;
    }
    default: /* shape-only ops (flatten, scale, merge, dropout, delay) read the same index */
        if (n->in_numel == n->out_numel) {
            for (int i = 0; i < n->out_numel; i++)
                if (out[i]) in[i] = 1;
        } else { /* an op spk does not know: assume it reads everything */
            memset(in, 1, (size_t)n->in_numel);
        }
        break;
    }
}

/* Distinct sources reaching neuron `idx` of population p within a step. */
static spk_status fan_in_of(spk_net *net, int p, int idx, int64_t *out) {
    int N = net->n_nodes;
    uint8_t **mask = spk_calloc((size_t)N, sizeof(uint8_t *));
    uint8_t *dirty = spk_calloc((size_t)N, 1);
    int *edges = spk_calloc((size_t)net->n_edges + 1, sizeof(int));
    uint8_t *inbuf = NULL;
    size_t inmax = 1;
    for (int v = 0; v < N; v++)
        if ((size_t)net->nodes[v].in_numel > inmax) inmax = (size_t)net->nodes[v].in_numel;
    inbuf = spk_malloc(inmax);
    spk_status st = SPK_OK;
    if (!mask || !dirty || !edges || !inbuf) {
        st = spk__fail(NULL, SPK_ERR_NOMEM, "fan-in: out of memory");
        goto done;
    }
    for (int v = 0; v < N; v++) {
        mask[v] = spk_calloc((size_t)(net->nodes[v].out_numel > 0 ? net->nodes[v].out_numel : 1), 1);
        if (!mask[v]) {
            st = spk__fail(NULL, SPK_ERR_NOMEM, "fan-in: out of memory");
            goto done;
        }
    }
    /* seed: the sources of p, at the neuron's own index */
    int ne = spk__net_in_edges(net, p, edges, net->n_edges);
    for (int k = 0; k < ne; k++) {
        int u = net->edges[edges[k]].from;
        if (!mask[u][idx]) {
            mask[u][idx] = 1;
            dirty[u] = 1;
        }
    }
    for (int changed = 1; changed;) {
        changed = 0;
        for (int u = 0; u < N; u++) {
            if (!dirty[u]) continue;
            dirty[u] = 0;
            const spk__node *n = &net->nodes[u];
            if (n->kind == SPK_NODE_NEURON || n->kind == SPK_NODE_INPUT || n->kind == SPK_NODE_REVERSIBLE) continue; /* a source: stop */
            memset(inbuf, 0, (size_t)n->in_numel);
            back_op(net, n, mask[u], inbuf);
            ne = spk__net_in_edges(net, u, edges, net->n_edges);
            /* an attention node's input holds its three sources side by side (q, k, v) */
            const int part = n->kind == SPK_NODE_ATTENTION ? n->out_numel : 0;
            for (int k = 0; k < ne; k++) {
                int s = net->edges[edges[k]].from;
                const uint8_t *src = part ? inbuf + (size_t)(k < 3 ? k : 2) * part : inbuf;
                for (int i = 0; i < (part ? part : n->in_numel); i++)
                    if (src[i] && !mask[s][i]) {
                        mask[s][i] = 1;
                        dirty[s] = 1;
                        changed = 1;
                    }
            }
        }
    }
    int64_t total = 0;
    for (int v = 0; v < N; v++) {
        const spk__node *n = &net->nodes[v];
        if (n->kind != SPK_NODE_NEURON && n->kind != SPK_NODE_INPUT && n->kind != SPK_NODE_REVERSIBLE) continue;
        for (int i = 0; i < n->out_numel; i++) total += mask[v][i];
    }
    *out = total;
done:
    if (mask)
        for (int v = 0; v < N; v++) spk_free(mask[v]);
    spk_free(mask);
    spk_free(dirty);
    spk_free(edges);
    spk_free(inbuf);
    return st;
}

/* ---------------------------------------------------------------- needs ------------------ */

/* Output positions of a conv at which kernel tap k lands inside the input (one axis). */
static int64_t tap_hits(int k, int out, int in, int stride, int pad, int dil) {
    int64_t c = 0;
    for (int o = 0; o < out; o++) {
        int i = o * stride - pad + k * dil;
        c += i >= 0 && i < in;
    }
    return c;
}

/* (input, window) pairs of a pool: each window's taps that land inside the input. */
static int64_t pool_synapses(const spk_pool_geom *g) {
    int64_t s = 0;
    for (int ky = 0; ky < g->k_h; ky++)
        for (int kx = 0; kx < g->k_w; kx++)
            s += tap_hits(ky, g->out_h, g->in_h, g->stride_h, g->pad_h, 1) * tap_hits(kx, g->out_w, g->in_w, g->stride_w, g->pad_w, 1);
    return s * g->c;
}

/* Connections of a dense or conv op with a non-zero weight; a conv tap counts once per
 * output position where it lands inside the input (padding taps are not synapses). */
static int64_t op_synapses(spk_net *net, const spk__node *n) {
    const float *W = net->params + net->tensors[n->t_w].off;
    int64_t s = 0;
    if (n->kind == SPK_NODE_DENSE) {
        for (size_t i = 0; i < (size_t)n->d_in * n->d_out; i++) s += W[i] != 0.0f;
        return s;
    }
    const spk_conv_geom *g = &n->conv;
    size_t per = (size_t)(g->cin / g->groups);
    for (size_t co = 0; co < (size_t)g->cout; co++)
        for (size_t cl = 0; cl < per; cl++)
            for (int ky = 0; ky < g->k_h; ky++)
                for (int kx = 0; kx < g->k_w; kx++)
                    if (W[((co * per + cl) * g->k_h + ky) * g->k_w + kx] != 0.0f)
                        s += tap_hits(ky, g->out_h, g->in_h, g->stride_h, g->pad_h, g->dil_h) *
                             tap_hits(kx, g->out_w, g->in_w, g->stride_w, g->pad_w, g->dil_w);
    return s;
}

/* Does node v deliver spikes (a binary-firing population or a spiking input, possibly through
 * shape-only ops)? Other signals are currents. */
static int carries_spikes(const spk_net *net, int v, int input_real, int depth) {
    const spk__node *n = &net->nodes[v];
    if (depth > net->n_nodes) return 0;
    switch (n->kind) {
    case SPK_NODE_INPUT: return !input_real;
    case SPK_NODE_NEURON: {
        const spk_neuron_config *c = spk_neuron_get_config(n->nr);
        return c->fire != SPK_FIRE_NONE;
    }
    case SPK_NODE_FLATTEN:
    case SPK_NODE_DROPOUT:
    case SPK_NODE_DELAY: {
        int e[64], ne = spk__net_in_edges(net, v, e, 64);
        if (ne < 1 || ne > 64) return 0;
        for (int k = 0; k < ne; k++)
            if (!carries_spikes(net, net->edges[e[k]].from, input_real, depth + 1)) return 0;
        return 1;
    }
    default: return 0;
    }
}

spk_status spk_hw_model_needs(spk_net *net, int input_real, spk_hw_needs *out) {
    if (!net || !out) return spk__fail(NULL, SPK_ERR_INVALID_ARG, "spk_hw_model_needs: NULL argument");
    memset(out, 0, sizeof *out);
    if (!net->built) return spk__fail(NULL, SPK_ERR_STATE, "spk_hw_model_needs: the network is not built");
    for (int v = 0; v < net->n_nodes; v++) {
        spk__node *n = &net->nodes[v];
        switch (n->kind) {
        case SPK_NODE_DENSE:
        case SPK_NODE_CONV: out->synapses += op_synapses(net, n); break;
        case SPK_NODE_POOL:
            out->synapses += pool_synapses(&n->pool);
            if (n->pool.kind == SPK_POOL_MAX && !out->nonlocal[0]) {
                int e[64], ne = spk__net_in_edges(net, v, e, 64), spikes = ne >= 1 && ne <= 64;
                for (int k = 0; k < ne && k < 64; k++) spikes &= carries_spikes(net, net->edges[e[k]].from, input_real, 0);
                if (!spikes)
                    snprintf(out->nonlocal, sizeof out->nonlocal,
                             "max pooling '%s' takes the maximum of currents, not of spikes: not event-driven (use sum or average "
                             "pooling, or pool the spikes after the neurons)",
                             n->name);
            }
            break;
        case SPK_NODE_NEURON: {
            out->neurons += n->out_numel;
            const spk_neuron_config *c = spk_neuron_get_config(n->nr);
            unsigned f = 0;
            if (c->kind == SPK_NEURON_CUBA) f |= SPK_HW_NEED_CUBA;
            if (c->kind == SPK_NEURON_ALIF) f |= SPK_HW_NEED_ADAPTIVE;
            if (c->kind == SPK_NEURON_COMPLEX) f |= SPK_HW_NEED_COMPLEX;
            if (c->fire == SPK_FIRE_GRADED) f |= SPK_HW_NEED_GRADED;
            if (c->fire == SPK_FIRE_GAUSS || c->fire == SPK_FIRE_CAUCHY || (c->fire == SPK_FIRE_GRADED && c->graded_noise)) f |= SPK_HW_NEED_NOISE;
            for (int b = 0; b < SPK_HW_NEED_BITS; b++)
                if ((f & (1u << b)) && !(out->features & (1u << b))) snprintf(out->feature_node[b], SPK_HW_TEXT, "%s", n->name);
            out->features |= f;
            /* fan-in of the neuron in the middle of the population */
            int idx = 0;
            for (int k = 0; k < n->out_ndim; k++) idx = idx * n->out_dims[k] + n->out_dims[k] / 2;
            int64_t fi = 0;
            spk_status st = fan_in_of(net, v, idx, &fi);
            if (st) return st;
            if (fi > out->max_fan_in || !out->fan_in_node[0]) {
                out->max_fan_in = fi;
                snprintf(out->fan_in_node, SPK_HW_TEXT, "%s", n->name);
            }
            break;
        }
        case SPK_NODE_REVERSIBLE: { /* 2L populations of half its size, 2L ops (reversible.c) */
            const spk_reversible_config *rc = spk_net_reversible_config(net, v);
            const spk_neuron_config *c = &rc->neuron;
            out->neurons += (int64_t)rc->blocks * n->out_numel;
            out->synapses += spk__rev_synapses(net, n);
            unsigned f = 0;
            if (c->kind == SPK_NEURON_CUBA) f |= SPK_HW_NEED_CUBA;
            if (c->kind == SPK_NEURON_ALIF) f |= SPK_HW_NEED_ADAPTIVE;
            if (c->fire == SPK_FIRE_GRADED) f |= SPK_HW_NEED_GRADED;
            if (c->fire == SPK_FIRE_GAUSS || c->fire == SPK_FIRE_CAUCHY || (c->fire == SPK_FIRE_GRADED && c->graded_noise)) f |= SPK_HW_NEED_NOISE;
            for (int b = 0; b < SPK_HW_NEED_BITS; b++)
                if ((f & (1u << b)) && !(out->features & (1u << b))) snprintf(out->feature_node[b], SPK_HW_TEXT, "%s", n->name);
            out->features |= f;
            int64_t fi = spk__rev_fan_in_mid(net, n);
            if (fi > out->max_fan_in || !out->fan_in_node[0]) {
                out->max_fan_in = fi;
                snprintf(out->fan_in_node, SPK_HW_TEXT, "%s", n->name);
            }
            break;
        }
        case SPK_NODE_INPUT:
        case SPK_NODE_FLATTEN:
        case SPK_NODE_SCALE:
        case SPK_NODE_MERGE:
        case SPK_NODE_DROPOUT:
        case SPK_NODE_DELAY: break;
        case SPK_NODE_ATTENTION:
            if (!out->nonlocal[0])
                snprintf(out->nonlocal, sizeof out->nonlocal,
                         "attention '%s' multiplies two spike-derived signals (q k^T v: %lld multiply-accumulates per step and sample): "
                         "not event-driven synaptic accumulation; run it off-chip",
                         n->name, 2LL * n->out_numel * (n->out_dims[0] / n->attn_heads));
            break;
        default:
            if (!out->nonlocal[0] && spk_node_kind_nonlocal(n->kind, 1)) /* the per-kind property (graph_sew.c) */
                snprintf(out->nonlocal, sizeof out->nonlocal, "op '%s' (%s): %s%s", n->name, spk_node_kind_name(n->kind),
                         spk_node_kind_nonlocal(n->kind, 1), n->kind == SPK_NODE_NORM ? "; fold it into the op before it (spk fold)" : "");
            if (!out->nonlocal[0])
                snprintf(out->nonlocal, sizeof out->nonlocal, "op '%s' (%s) is not known to be local and event-driven", n->name,
                         spk_node_kind_name(n->kind));
            break;
        }
    }
    if (input_real) {
        char names[160] = "";
        size_t o = 0;
        for (int e = 0; e < net->n_edges; e++)
            if (net->edges[e].from == net->input && o < sizeof names)
                o += (size_t)snprintf(names + o, sizeof names - o, "%s'%s'", o ? ", " : "", net->nodes[net->edges[e].to].name);
        snprintf(out->input_note, sizeof out->input_note,
                 "the input is real-valued (direct current), so the ops it feeds (%s) multiply instead of accumulating: "
                 "encode the input as spikes, or run them off-chip",
                 names);
    }
    return SPK_OK;
}

/* ---------------------------------------------------------------- fit -------------------- */

static int icontains(const char *hay, const char *needle) {
    size_t n = strlen(needle);
    for (; *hay; hay++) {
        size_t k = 0;
        while (k < n && hay[k] && tolower((unsigned char)hay[k]) == tolower((unsigned char)needle[k])) k++;
        if (k == n) return 1;
    }
    return 0;
}

/* lower-case, without '-', '_' and spaces */
static void norm(char *dst, size_t n, const char *s) {
    size_t k = 0;
    for (; *s && k + 1 < n; s++)
        if (*s != '-' && *s != '_' && *s != ' ') dst[k++] = (char)tolower((unsigned char)*s);
    dst[k] = '\0';
}

/* Append "; text" (or text) to buf of size n, cutting what does not fit. */
static void append(char *buf, size_t n, const char *text) {
    size_t k = strlen(buf);
    if (k && k + 2 < n) {
        memcpy(buf + k, "; ", 2);
        k += 2;
    }
    size_t t = strlen(text);
    if (k + t >= n) t = n > k + 1 ? n - k - 1 : 0;
    memcpy(buf + k, text, t);
    buf[k + t] = '\0';
}

static const char *const feature_text[SPK_HW_NEED_BITS] = {
    "current-based (CuBa) synapses", "an adaptive threshold (ALIF)", "complex resonate-and-fire neurons", "graded spikes",
    "stochastic firing (threshold noise)"};

static spk_hw_verdict neuron_model_check(const spk_chip *c, const spk_hw_needs *nd, char *why, size_t n) {
    why[0] = '\0';
    char t[256];
    if (icontains(c->neuron_model, "programmable")) {
        snprintf(why, n, "%s's neurons are programmable", c->name);
        return SPK_HW_YES;
    }
    if (!c->neuron_model[0]) {
        snprintf(why, n, "the catalog does not give %s's neuron model", c->name);
        return SPK_HW_UNKNOWN;
    }
    if (!icontains(c->neuron_model, "lif") && !icontains(c->neuron_model, "adex")) {
        snprintf(why, n, "%s's neuron model '%s' is not one spk can judge", c->name, c->neuron_model);
        return SPK_HW_UNKNOWN;
    }
    /* a LIF-family chip (LIF, exp-LIF, AdEx-IF all reduce to LIF) */
    spk_hw_verdict v = SPK_HW_YES;
    char unk[400] = "";
    for (int b = 0; b < SPK_HW_NEED_BITS; b++) {
        unsigned bit = 1u << b;
        if (!(nd->features & bit)) continue;
        if (bit == SPK_HW_NEED_CUBA) {
            if (icontains(c->synapse_model, "cuba") || icontains(c->synapse_model, "programmable")) continue;
            if (!c->synapse_model[0]) {
                snprintf(t, sizeof t, "the catalog does not say whether %s has %s, which '%s' uses", c->name, feature_text[b], nd->feature_node[b]);
                append(unk, sizeof unk, t);
                continue;
            }
            snprintf(t, sizeof t, "%s's synapses are %s, but '%s' uses %s", c->name, c->synapse_model, nd->feature_node[b], feature_text[b]);
        } else if (bit == SPK_HW_NEED_NOISE) {
            snprintf(t, sizeof t, "the catalog does not say whether %s has %s, which '%s' uses", c->name, feature_text[b], nd->feature_node[b]);
            append(unk, sizeof unk, t);
            continue;
        } else {
            snprintf(t, sizeof t, "%s offers only %s neurons, but '%s' uses %s", c->name, c->neuron_model, nd->feature_node[b], feature_text[b]);
        }
        if (v != SPK_HW_NO) why[0] = '\0';
        v = SPK_HW_NO;
        append(why, n, t);
    }
    if (v == SPK_HW_NO) return v;
    if (unk[0]) {
        why[0] = '\0';
        append(why, n, unk);
        return SPK_HW_UNKNOWN;
    }
    snprintf(why, n, "%s runs %s neurons, as every population is", c->name, c->neuron_model);
    return SPK_HW_YES;
}

static spk_hw_verdict learning_check(const spk_chip *c, const char *rule, char *why, size_t n) {
    if (!rule) {
        snprintf(why, n, "not asked (inference only)");
        return SPK_HW_YES;
    }
    char want[64], have[SPK_HW_TEXT + 1];
    norm(want, sizeof want, rule);
    norm(have, sizeof have, c->on_chip_learning);
    if (!have[0]) {
        snprintf(why, n, "the catalog does not give %s's on-chip learning", c->name);
        return SPK_HW_UNKNOWN;
    }
    if (!strcmp(have, "no")) {
        snprintf(why, n, "%s has no on-chip learning", c->name);
        return SPK_HW_NO;
    }
    if (!strcmp(have, "yes") || !strcmp(have, "programmable")) {
        snprintf(why, n, "%s's on-chip learning is programmable (%s)", c->name, c->on_chip_learning);
        return SPK_HW_YES;
    }
    /* a list of rules, comma-separated */
    char list[SPK_HW_TEXT];
    snprintf(list, sizeof list, "%s", c->on_chip_learning);
    for (char *tok = strtok(list, ","); tok; tok = strtok(NULL, ",")) {
        char r[SPK_HW_TEXT];
        norm(r, sizeof r, tok);
        if (!strcmp(r, want)) {
            snprintf(why, n, "%s learns with %s", c->name, c->on_chip_learning);
            return SPK_HW_YES;
        }
    }
    snprintf(why, n, "%s learns with %s, not %s", c->name, c->on_chip_learning, rule);
    return SPK_HW_NO;
}

static void capacity(spk_hw_fit *f, spk_hw_check k, const spk_chip *c, const char *what, double need, double have) {
    if (isnan(have)) {
        f->check[k] = SPK_HW_UNKNOWN;
        snprintf(f->why[k], sizeof f->why[k], "the catalog does not give %s's %s", c->name, what);
    } else if (need <= have) {
        f->check[k] = SPK_HW_YES;
        snprintf(f->why[k], sizeof f->why[k], "%.0f %s <= %.0f", need, what, have);
    } else {
        f->check[k] = SPK_HW_NO;
        snprintf(f->why[k], sizeof f->why[k], "%.0f %s > %.0f on one %s", need, what, have, c->name);
    }
}

spk_status spk_hw_fit_chip(const spk_chip *c, const spk_hw_needs *nd, const char *learn_rule, spk_hw_fit *f) {
    if (!c || !nd || !f) return spk__fail(NULL, SPK_ERR_INVALID_ARG, "spk_hw_fit_chip: NULL argument");
    memset(f, 0, sizeof *f);
    capacity(f, SPK_HW_CHECK_NEURONS, c, "neurons", (double)nd->neurons, c->neurons);
    capacity(f, SPK_HW_CHECK_SYNAPSES, c, "synapses", (double)nd->synapses, c->synapses);
    /* fan-in against the chip's synapses per neuron */
    if (isnan(c->neurons) || isnan(c->synapses)) {
        f->check[SPK_HW_CHECK_FAN_IN] = SPK_HW_UNKNOWN;
        snprintf(f->why[SPK_HW_CHECK_FAN_IN], sizeof f->why[0], "the catalog does not give %s's synapses per neuron (%s unknown)", c->name,
                 isnan(c->synapses) ? "synapses" : "neurons");
    } else {
        double per = c->synapses / c->neurons;
        f->check[SPK_HW_CHECK_FAN_IN] = (double)nd->max_fan_in <= per ? SPK_HW_YES : SPK_HW_NO;
        snprintf(f->why[SPK_HW_CHECK_FAN_IN], sizeof f->why[0], "largest fan-in %lld ('%s') %s %.6g synapses per neuron (%.6g / %.6g)",
                 (long long)nd->max_fan_in, nd->fan_in_node[0] ? nd->fan_in_node : "-", f->check[SPK_HW_CHECK_FAN_IN] == SPK_HW_YES ? "<=" : ">",
                 per, c->synapses, c->neurons);
    }
    f->check[SPK_HW_CHECK_NEURON_MODEL] = neuron_model_check(c, nd, f->why[SPK_HW_CHECK_NEURON_MODEL], sizeof f->why[0]);
    if (nd->nonlocal[0]) {
        f->check[SPK_HW_CHECK_OPS] = SPK_HW_NO;
        f->why[SPK_HW_CHECK_OPS][0] = '\0';
        append(f->why[SPK_HW_CHECK_OPS], sizeof f->why[0], nd->nonlocal);
    } else {
        f->check[SPK_HW_CHECK_OPS] = SPK_HW_YES;
        snprintf(f->why[SPK_HW_CHECK_OPS], sizeof f->why[0], "every op is local and event-driven");
    }
    f->check[SPK_HW_CHECK_LEARNING] = learning_check(c, learn_rule, f->why[SPK_HW_CHECK_LEARNING], sizeof f->why[0]);

    int any_no = 0, any_unknown = 0, other_no = 0;
    for (int k = 0; k < SPK_HW_CHECK_COUNT; k++) {
        any_no |= f->check[k] == SPK_HW_NO;
        any_unknown |= f->check[k] == SPK_HW_UNKNOWN;
        if (k != SPK_HW_CHECK_NEURONS && k != SPK_HW_CHECK_SYNAPSES) other_no |= f->check[k] == SPK_HW_NO;
    }
    f->verdict = any_no ? SPK_HW_NO : any_unknown ? SPK_HW_UNKNOWN : SPK_HW_YES;
    f->capacity_only = any_no && !other_no;
    double chips = 0;
    if (!isnan(c->neurons)) chips = fmax(chips, ceil((double)nd->neurons / c->neurons));
    if (!isnan(c->synapses)) chips = fmax(chips, ceil((double)nd->synapses / c->synapses));
    if (!isnan(c->neurons) || !isnan(c->synapses)) chips = fmax(chips, 1);
    f->chips = (int64_t)chips;
    return SPK_OK;
}
