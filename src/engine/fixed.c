/* fixed.c — post-training quantization of a network to integers (spk_quantize) and the
 * fixed-point engine that runs the result with integer arithmetic only (spk_fixed_*), step
 * for step what the generated C code (src/export/export_c.c) computes.
 *
 * Supported graph: a chain input -> (flatten | dropout)* -> [dense -> (dropout | flatten)* ->
 * LIF population -> (dropout | flatten)*]+ ending in the readout population. Populations
 * are LIF with Heaviside firing (or none, a readout), soft / hard / no reset, delayed or
 * same-step timing, one decay and one threshold per population. Anything else is refused
 * with SPK_ERR_UNSUPPORTED naming the node.
 *
 * Arithmetic of one step (docs/deploy.md states it for users), every shift rounding half up:
 *   acc_i  = sum_j w_ji * x_j                     (inputs that are non-zero only)
 *   I_i    = ((acc_i * mult_i + 2^(shift-1)) >> shift) + bias_i   (64-bit product)
 *   dec(v) = (v * (4096 - d) + 2048) >> 12        (64-bit product)
 *   then the neuron update of the population's timing and reset, saturated to the state range.
 * `>>` is an arithmetic (flooring) shift. Deliberately not here: training, conv, recurrence. */
#include "engine/fixed_impl.h"
#include "net/net_impl.h"

#include <math.h>
#include <string.h>

/* ---------------------------------------------------------------- the chain ------------ */

/* The node after v in a chain (its one outgoing edge), -1 at the end, -2 when it has more. */
static int next_node(const spk_net *net, int v) {
    int nx = -1;
    for (int e = 0; e < net->n_edges; e++)
        if (net->edges[e].from == v) {
            if (nx >= 0) return -2;
            nx = net->edges[e].to;
        }
    return nx;
}

int spk__chain_walk(spk_net *net, int readout, int *dense, int *pops, int max, spk__obj *err, spk_status *st) {
    *st = SPK_OK;
    if (!net || !net->built) {
        *st = spk__fail(err, SPK_ERR_STATE, "quantize: the network is not built");
        return 0;
    }
    for (int a = 0; a < net->n_nodes; a++)
        if (net->nodes[a].kind == SPK_NODE_ATTENTION) {
            *st = spk__fail(err, SPK_ERR_UNSUPPORTED, "node '%s' (attention): fixed-point export has no attention (a product of two spike signals)",
                            net->nodes[a].name);
            return 0;
        }
    int v = net->input, n = 0, want = 0; /* want 0: a dense next; 1: a population next */
    for (int guard = 0; guard <= net->n_nodes; guard++) {
        int nx = next_node(net, v);
        const char *vn = net->nodes[v].name;
        if (nx == -2) {
            *st = spk__fail(err, SPK_ERR_UNSUPPORTED, "node '%s' feeds more than one node: fixed-point export runs a chain of dense layers and LIF populations only", vn);
            return 0;
        }
        if (nx == -1) break;
        int ein[2];
        if (spk__net_in_edges(net, nx, ein, 2) != 1 || net->edges[ein[0]].delayed) {
            *st = spk__fail(err, SPK_ERR_UNSUPPORTED, "node '%s' has %s: fixed-point export runs a feed-forward chain only", net->nodes[nx].name,
                            spk__net_in_edges(net, nx, ein, 2) != 1 ? "more than one input" : "a recurrent input");
            return 0;
        }
        spk__node *nd = &net->nodes[nx];
        switch (nd->kind) {
        case SPK_NODE_FLATTEN:
        case SPK_NODE_DROPOUT: break;
        case SPK_NODE_DENSE:
            if (want != 0) {
                *st = spk__fail(err, SPK_ERR_UNSUPPORTED, "node '%s' (dense) follows a dense node: fixed-point export needs a LIF population after each dense layer", nd->name);
                return 0;
            }
            if (n >= max) {
                *st = spk__fail(err, SPK_ERR_UNSUPPORTED, "node '%s': more than %d layers", nd->name, max);
                return 0;
            }
            dense[n] = nx;
            want = 1;
            break;
        case SPK_NODE_NEURON: {
            if (want != 1) {
                *st = spk__fail(err, SPK_ERR_UNSUPPORTED, "node '%s' (neuron): fixed-point export needs a dense layer before each population", nd->name);
                return 0;
            }
            const spk_neuron_config *c = spk_neuron_get_config(nd->nr);
            const char *why = NULL;
            if (c->kind != SPK_NEURON_LIF) why = "only LIF populations are supported";
            else if (c->fire != SPK_FIRE_HEAVISIDE && c->fire != SPK_FIRE_NONE) why = "only deterministic Heaviside firing (or none) is supported";
            else if (c->reset == SPK_RESET_REFRACTORY) why = "refractory resets are not supported";
            else if (c->timing != SPK_TIMING_DELAYED && c->timing != SPK_TIMING_SAME_STEP) why = "only the delayed and same-step timings are supported";
            const float *lam = spk_neuron_get_param(nd->nr, SPK_NP_LAM), *thr = spk_neuron_get_param(nd->nr, SPK_NP_THR);
            int N = spk_neuron_size(nd->nr);
            for (int i = 1; i < N && !why; i++)
                if (lam[i] != lam[0] || thr[i] != thr[0]) why = "per-neuron decays or thresholds are not supported (one value per population)";
            if (!why && !c->clamp_decay && lam[0] < 0) why = "a negative decay is not supported";
            if (why) {
                *st = spk__fail(err, SPK_ERR_UNSUPPORTED, "node '%s' (%s neuron): %s", nd->name, spk_neuron_kind_name(c->kind), why);
                return 0;
            }
            pops[n++] = nx;
            want = 0;
            break;
        }
        default:
            *st = spk__fail(err, SPK_ERR_UNSUPPORTED, "node '%s' (%s): fixed-point export supports dense, flatten, dropout and LIF neuron nodes only",
                            nd->name, spk_node_kind_name(nd->kind));
            return 0;
        }
        v = nx;
    }
    if (want != 0 || n == 0) {
        *st = spk__fail(err, SPK_ERR_UNSUPPORTED, "node '%s': the chain must end with a neuron population after a dense layer", net->nodes[v].name);
        return 0;
    }
    if (pops[n - 1] != readout) {
        *st = spk__fail(err, SPK_ERR_UNSUPPORTED, "the readout '%s' is not the last population of the chain ('%s')",
                        readout >= 0 && readout < net->n_nodes ? net->nodes[readout].name : "?", net->nodes[pops[n - 1]].name);
        return 0;
    }
    return n;
}

/* ---------------------------------------------------------------- quantize ------------- */

spk_status spk__qmodel_check(spk_qmodel *q, const char *what);

spk_quant_config spk_quant_config_default(void) {
    spk_quant_config c = {8, 0, 32, 8};
    return c;
}

void spk_qmodel_free(spk_qmodel *q) {
    if (!q) return;
    for (int l = 0; l < q->n_layers; l++) {
        spk_free(q->layers[l].w);
        spk_free(q->layers[l].mult);
        spk_free(q->layers[l].bias);
    }
    spk_free(q->layers);
    spk_free(q);
}

spk_status spk__qmodel_alloc(spk_qmodel **out, int n_layers, const int *in, const int *outn) {
    spk_qmodel *q = spk_calloc(1, sizeof *q);
    if (!q) return spk__fail(NULL, SPK_ERR_NOMEM, "quantized model: no memory");
    spk__obj_init(&q->obj);
    q->layers = spk_calloc((size_t)n_layers, sizeof(spk__qlayer));
    if (!q->layers) {
        spk_free(q);
        return spk__fail(NULL, SPK_ERR_NOMEM, "quantized model: no memory");
    }
    q->n_layers = n_layers;
    for (int l = 0; l < n_layers; l++) {
        spk__qlayer *L = &q->layers[l];
        L->in = in[l];
        L->out = outn[l];
        L->w = spk_malloc((size_t)in[l] * (size_t)outn[l] * sizeof(int16_t));
        L->mult = spk_malloc((size_t)outn[l] * sizeof(int32_t));
        L->bias = spk_malloc((size_t)outn[l] * sizeof(int32_t));
        if (!L->w || !L->mult || !L->bias) {
            spk_qmodel_free(q);
            return spk__fail(NULL, SPK_ERR_NOMEM, "quantized model: no memory for layer %d (%d x %d weights)", l, in[l], outn[l]);
        }
    }
    *out = q;
    return SPK_OK;
}

/* round half away from zero, as lround */
static double rnd(double x) { return x < 0 ? -floor(-x + 0.5) : floor(x + 0.5); }

#define MAX_LAYERS 64

spk_status spk_quantize(spk_qmodel **out, spk_net *net, int readout, const spk_quant_config *cfg, int T, int B, const float *calib) {
    if (!out || !net || !cfg || !calib || T < 1 || B < 1)
        return spk__fail(NULL, SPK_ERR_INVALID_ARG, "spk_quantize: missing argument (or T, B < 1)");
    *out = NULL;
    if (cfg->weight_bits < 4 || cfg->weight_bits > 16)
        return spk__fail(NULL, SPK_ERR_INVALID_ARG, "quantize: weight bits %d: must be 4..16", cfg->weight_bits);
    if (cfg->state_bits != 16 && cfg->state_bits != 32)
        return spk__fail(NULL, SPK_ERR_INVALID_ARG, "quantize: state bits %d: must be 16 or 32", cfg->state_bits);
    if (cfg->input_bits < 2 || cfg->input_bits > 15)
        return spk__fail(NULL, SPK_ERR_INVALID_ARG, "quantize: input bits %d: must be 2..15", cfg->input_bits);
    int dense[MAX_LAYERS], pops[MAX_LAYERS];
    spk_status st;
    int n = spk__chain_walk(net, readout, dense, pops, MAX_LAYERS, NULL, &st);
    if (!n) return st;
    int ins[MAX_LAYERS], outs[MAX_LAYERS];
    for (int l = 0; l < n; l++) {
        ins[l] = net->nodes[dense[l]].d_in;
        outs[l] = net->nodes[dense[l]].d_out;
    }
    /* calibration: the float model's membranes, and the input's range */
    spk__node *inode = &net->nodes[net->input];
    size_t nx = (size_t)T * B * (size_t)inode->out_numel;
    double xmax = 0;
    int all_int = 1, nonneg = 1;
    for (size_t k = 0; k < nx; k++) {
        float x = calib[k];
        if (!isfinite(x)) return spk__fail(NULL, SPK_ERR_NUMERIC, "quantize: calibration input %zu is not finite", k);
        if (fabs(x) > xmax) xmax = fabs(x);
        if (x != floorf(x)) all_int = 0;
        if (x < 0) nonneg = 0;
    }
    if ((st = spk_net_forward(net, T, B, calib))) return st;
    spk_qmodel *q;
    if ((st = spk__qmodel_alloc(&q, n, ins, outs))) return st;
    q->weight_bits = cfg->weight_bits;
    q->per_channel = cfg->per_channel != 0;
    q->state_bits = cfg->state_bits;
    q->input_bits = cfg->input_bits;
    q->in_ndim = inode->out_ndim;
    memcpy(q->in_dims, inode->out_dims, sizeof q->in_dims);
    int32_t irange = nonneg ? (1 << cfg->input_bits) - 1 : (1 << (cfg->input_bits - 1)) - 1;
    q->in_hi = irange;
    q->in_lo = nonneg ? 0 : -irange;
    if (all_int && xmax <= irange) q->s_in = 1.0; /* spikes or counts: one unit per spike */
    else q->s_in = xmax > 0 ? xmax / irange : 1.0;
    const double wmax_q = (double)((1 << (cfg->weight_bits - 1)) - 1);
    const double smax = (double)spk__qstate_max(cfg->state_bits);
    double s_x = q->s_in;
    int64_t xq_max = irange;
    for (int l = 0; l < n; l++) {
        spk__qlayer *L = &q->layers[l];
        spk__node *dn = &net->nodes[dense[l]], *pn = &net->nodes[pops[l]];
        snprintf(L->dense_name, SPK__QNAME, "%s", dn->name);
        snprintf(L->pop_name, SPK__QNAME, "%s", pn->name);
        const spk_neuron_config *c = spk_neuron_get_config(pn->nr);
        const float lam = spk_neuron_get_param(pn->nr, SPK_NP_LAM)[0], thr = spk_neuron_get_param(pn->nr, SPK_NP_THR)[0];
        size_t nw, nb = 0;
        const float *W = spk_net_param(net, dense[l], "weight", &nw);
        const float *Bv = dn->has_bias ? spk_net_param(net, dense[l], "bias", &nb) : NULL;
        const int I = L->in, O = L->out;
        /* the state scale: the largest |membrane| of calibration (or the threshold) with
         * headroom: x2 for 16-bit states, x256 for 32-bit */
        const float *mem = spk_net_signal(net, pops[l], SPK_SIGNAL_MEM);
        double mmax = 0;
        for (size_t k = 0; k < (size_t)T * B * O; k++) mmax = fabs(mem[k]) > mmax ? fabs(mem[k]) : mmax;
        L->calib_max = mmax;
        double R = (mmax > thr ? mmax : thr) * (cfg->state_bits == 16 ? 2.0 : 256.0);
        if (c->reset == SPK_RESET_HARD || c->reset == SPK_RESET_HARD_ALL) R = fabs(c->v_reset) * 2 > R ? fabs(c->v_reset) * 2 : R;
        double s_v = R / smax;
        L->s_state = s_v;
        double lamc = lam < 0 ? 0 : lam > 1 ? 1 : lam;
        L->d = (int32_t)(4096 - rnd(lamc * 4096.0));
        L->thr = (int32_t)rnd(thr / s_v);
        L->vreset = (int32_t)rnd(c->v_reset / s_v);
        L->fire = c->fire == SPK_FIRE_HEAVISIDE;
        L->reset = (int)c->reset;
        L->timing = (int)c->timing;
        /* weight scales: one per tensor or per output neuron */
        double *sw = spk_malloc(sizeof(double) * (size_t)O);
        if (!sw) {
            spk_qmodel_free(q);
            return spk__fail(NULL, SPK_ERR_NOMEM, "quantize: no memory");
        }
        double gmax = 0;
        for (int o = 0; o < O; o++) {
            double m = 0;
            for (int i = 0; i < I; i++) m = fabs(W[(size_t)o * I + i]) > m ? fabs(W[(size_t)o * I + i]) : m;
            sw[o] = m > 0 ? m / wmax_q : 1.0;
            gmax = m > gmax ? m : gmax;
        }
        if (!q->per_channel)
            for (int o = 0; o < O; o++) sw[o] = gmax > 0 ? gmax / wmax_q : 1.0;
        L->s_w_max = 0;
        for (int o = 0; o < O; o++) L->s_w_max = sw[o] > L->s_w_max ? sw[o] : L->s_w_max;
        /* the requantization: mult / 2^shift ~ g * s_w * s_x / s_v, mult below 2^15 */
        double rmax = 0;
        for (int o = 0; o < O; o++) {
            double r = c->gain * sw[o] * s_x / s_v;
            rmax = fabs(r) > rmax ? fabs(r) : rmax;
        }
        int shift = 0;
        while (shift < 62 && rmax * ldexp(1.0, shift + 1) < 32767.0) shift++;
        if (rmax * ldexp(1.0, shift) > 2147483647.0) {
            spk_free(sw);
            spk_qmodel_free(q);
            return spk__fail(NULL, SPK_ERR_UNSUPPORTED, "node '%s': the current scale %g state units per accumulator unit does not fit a 32-bit multiplier", dn->name, rmax);
        }
        L->shift = shift;
        int64_t accmax = 0;
        for (int o = 0; o < O; o++) {
            L->mult[o] = (int32_t)rnd(c->gain * sw[o] * s_x / s_v * ldexp(1.0, shift));
            double b = Bv ? (double)c->gain * Bv[o] / s_v : 0;
            if (fabs(b) > 2147483647.0) {
                spk_free(sw);
                spk_qmodel_free(q);
                return spk__fail(NULL, SPK_ERR_UNSUPPORTED, "node '%s': bias %d does not fit 32 bits in state units", dn->name, o);
            }
            L->bias[o] = (int32_t)rnd(b);
            int64_t sum = 0;
            for (int i = 0; i < I; i++) {
                double wq = rnd(W[(size_t)o * I + i] / sw[o]);
                wq = wq > wmax_q ? wmax_q : wq < -wmax_q ? -wmax_q : wq;
                L->w[(size_t)i * O + o] = (int16_t)wq;
                sum += (int64_t)fabs(wq);
            }
            accmax = sum > accmax ? sum : accmax;
        }
        spk_free(sw);
        L->acc64 = (double)accmax * (double)xq_max >= 2147483647.0;
        s_x = 1.0; /* the next layer's inputs are spikes: 0 or 1 */
        xq_max = 1;
    }
    if ((st = spk__qmodel_check(q, "quantize"))) {
        spk_qmodel_free(q);
        return st;
    }
    *out = q;
    return SPK_OK;
}

/* Check what the arithmetic needs of a quantized model (a loaded file is not trusted): weights
 * within the bits, the input range within the input bits, every product within 64 bits
 * (|acc| * |mult| < 2^62), thresholds and reset values within the state range; and set
 * acc64 from the largest possible |acc|. `what` names the file or the call in messages. */
spk_status spk__qmodel_check(spk_qmodel *q, const char *what) {
    const int64_t wlim = ((int64_t)1 << (q->weight_bits - 1)) - 1;
    const int64_t slo = spk__qstate_min(q->state_bits), shi = spk__qstate_max(q->state_bits);
    if (q->input_bits < 2 || q->input_bits > 15 || q->in_lo < -(1 << q->input_bits) || q->in_hi >= (1 << q->input_bits) || q->in_lo > q->in_hi)
        return spk__fail(NULL, SPK_ERR_FORMAT, "%s: input range %d..%d does not fit %d bits", what, (int)q->in_lo, (int)q->in_hi, q->input_bits);
    int64_t xmax = q->in_hi > -(int64_t)q->in_lo ? q->in_hi : -(int64_t)q->in_lo;
    for (int l = 0; l < q->n_layers; l++) {
        spk__qlayer *L = &q->layers[l];
        int64_t accmax = 0, mmax = 0;
        for (int o = 0; o < L->out; o++) {
            int64_t sum = 0;
            for (int i = 0; i < L->in; i++) {
                int64_t w = L->w[(size_t)i * L->out + o];
                if (w > wlim || w < -wlim)
                    return spk__fail(NULL, SPK_ERR_FORMAT, "%s: layer '%s': weight %lld outside %d bits", what, L->dense_name, (long long)w, q->weight_bits);
                sum += w < 0 ? -w : w;
            }
            accmax = sum > accmax ? sum : accmax;
            int64_t m = L->mult[o] < 0 ? -(int64_t)L->mult[o] : L->mult[o];
            mmax = m > mmax ? m : mmax;
        }
        accmax *= xmax; /* < 2^31 * 2^15 * 2^15: no overflow */
        if (accmax > 0 && mmax > 0 && accmax > (((int64_t)1 << 62) - 1) / mmax)
            return spk__fail(NULL, SPK_ERR_UNSUPPORTED, "%s: layer '%s': accumulator %lld times multiplier %lld exceeds 62 bits", what, L->dense_name,
                             (long long)accmax, (long long)mmax);
        L->acc64 = accmax > 2147483647;
        if (L->thr < slo || L->thr > shi || L->vreset < slo || L->vreset > shi)
            return spk__fail(NULL, SPK_ERR_FORMAT, "%s: population '%s': threshold or reset value outside the %d-bit state", what, L->pop_name, q->state_bits);
        xmax = 1; /* spikes */
    }
    return SPK_OK;
}

spk_status spk_fake_quantize(spk_net *net, int readout, const spk_quant_config *cfg) {
    if (!net || !cfg) return spk__fail(NULL, SPK_ERR_INVALID_ARG, "spk_fake_quantize: missing argument");
    if (cfg->weight_bits < 4 || cfg->weight_bits > 16)
        return spk__fail(NULL, SPK_ERR_INVALID_ARG, "fake quantize: weight bits %d: must be 4..16", cfg->weight_bits);
    int dense[MAX_LAYERS], pops[MAX_LAYERS];
    spk_status st;
    int n = spk__chain_walk(net, readout, dense, pops, MAX_LAYERS, NULL, &st);
    if (!n) return st;
    const double qmax = (double)((1 << (cfg->weight_bits - 1)) - 1);
    for (int l = 0; l < n; l++) {
        size_t nw;
        float *W = spk_net_param(net, dense[l], "weight", &nw);
        const int I = net->nodes[dense[l]].d_in, O = net->nodes[dense[l]].d_out;
        double gmax = 0;
        for (size_t k = 0; k < nw; k++) gmax = fabs(W[k]) > gmax ? fabs(W[k]) : gmax;
        for (int o = 0; o < O; o++) {
            float *row = W + (size_t)o * I;
            double m = gmax;
            if (cfg->per_channel) {
                m = 0;
                for (int i = 0; i < I; i++) m = fabs(row[i]) > m ? fabs(row[i]) : m;
            }
            double sw = m > 0 ? m / qmax : 1.0;
            for (int i = 0; i < I; i++) {
                double q = rnd(row[i] / sw);
                q = q > qmax ? qmax : q < -qmax ? -qmax : q;
                row[i] = (float)(q * sw);
            }
        }
    }
    spk_net_params_changed(net);
    return SPK_OK;
}

/* ---------------------------------------------------------------- accessors ------------ */

int spk_qmodel_input_size(const spk_qmodel *q) {
    return q ? q->layers[0].in : 0;
}
int spk_qmodel_output_size(const spk_qmodel *q) {
    return q ? q->layers[q->n_layers - 1].out : 0;
}
int spk_qmodel_output_fires(const spk_qmodel *q) {
    return q ? q->layers[q->n_layers - 1].fire : 0;
}
double spk_qmodel_output_scale(const spk_qmodel *q) {
    return q ? q->layers[q->n_layers - 1].s_state : 0;
}

spk_status spk_qmodel_quantize_input(const spk_qmodel *q, const float *x, size_t n, int16_t *xq) {
    if (!q || (!x && n) || (!xq && n)) return spk__fail(NULL, SPK_ERR_INVALID_ARG, "spk_qmodel_quantize_input: missing argument");
    for (size_t k = 0; k < n; k++) {
        if (!isfinite(x[k])) return spk__fail(NULL, SPK_ERR_NUMERIC, "quantize input: value %zu is not finite", k);
        double v = rnd(x[k] / q->s_in);
        v = v > q->in_hi ? q->in_hi : v < q->in_lo ? q->in_lo : v;
        xq[k] = (int16_t)v;
    }
    return SPK_OK;
}

/* ---------------------------------------------------------------- the engine ----------- */

struct spk_fixed {
    spk__obj obj;
    const spk_qmodel *q;
    int64_t **acc;   /* per layer [out] */
    int32_t **v;     /* per layer [out] membrane state */
    uint8_t **s;     /* per layer [out] spike of the last step */
    int16_t *last_in;/* the last input (layer 0 reuses its sums when the input repeats) */
    int have_last;
};

void spk_fixed_free(spk_fixed *f) {
    if (!f) return;
    for (int l = 0; f->acc && l < f->q->n_layers; l++) {
        spk_free(f->acc[l]);
        spk_free(f->v[l]);
        spk_free(f->s[l]);
    }
    spk_free(f->acc);
    spk_free(f->v);
    spk_free(f->s);
    spk_free(f->last_in);
    spk_free(f);
}

spk_status spk_fixed_create(spk_fixed **out, const spk_qmodel *q) {
    if (!out || !q) return spk__fail(NULL, SPK_ERR_INVALID_ARG, "spk_fixed_create: missing argument");
    *out = NULL;
    spk_fixed *f = spk_calloc(1, sizeof *f);
    if (!f) return spk__fail(NULL, SPK_ERR_NOMEM, "fixed-point engine: no memory");
    spk__obj_init(&f->obj);
    f->q = q;
    int n = q->n_layers;
    f->acc = spk_calloc((size_t)n, sizeof(int64_t *));
    f->v = spk_calloc((size_t)n, sizeof(int32_t *));
    f->s = spk_calloc((size_t)n, sizeof(uint8_t *));
    f->last_in = spk_malloc(sizeof(int16_t) * (size_t)q->layers[0].in);
    int ok = f->acc && f->v && f->s && f->last_in;
    for (int l = 0; ok && l < n; l++) {
        size_t O = (size_t)q->layers[l].out;
        f->acc[l] = spk_malloc(O * sizeof(int64_t));
        f->v[l] = spk_malloc(O * sizeof(int32_t));
        f->s[l] = spk_malloc(O);
        ok = f->acc[l] && f->v[l] && f->s[l];
    }
    if (!ok) {
        spk_fixed_free(f);
        return spk__fail(NULL, SPK_ERR_NOMEM, "fixed-point engine: no memory for the state");
    }
    spk_fixed_reset(f);
    *out = f;
    return SPK_OK;
}

void spk_fixed_reset(spk_fixed *f) {
    if (!f) return;
    for (int l = 0; l < f->q->n_layers; l++) {
        size_t O = (size_t)f->q->layers[l].out;
        memset(f->v[l], 0, O * sizeof(int32_t));
        memset(f->s[l], 0, O);
    }
    f->have_last = 0;
}

static inline int64_t asr(int64_t x, int k) { return x >> k; } /* arithmetic: GCC and Clang define it */
static inline int64_t sat(int64_t x, int64_t lo, int64_t hi) { return x < lo ? lo : x > hi ? hi : x; }

/* acc = sum over non-zero inputs of their rows */
static void accumulate(const spk__qlayer *L, int64_t *acc, const int16_t *x16, const uint8_t *x8) {
    const int O = L->out;
    memset(acc, 0, (size_t)O * sizeof(int64_t));
    for (int j = 0; j < L->in; j++) {
        int32_t xj = x16 ? x16[j] : x8[j];
        if (!xj) continue;
        const int16_t *row = L->w + (size_t)j * O;
        if (xj == 1)
            for (int o = 0; o < O; o++) acc[o] += row[o];
        else
            for (int o = 0; o < O; o++) acc[o] += (int64_t)row[o] * xj;
    }
}

/* One neuron update; returns the reported membrane and writes the new state and spike. */
static inline int32_t neuron_update(const spk__qlayer *L, int64_t cur, int32_t *v, uint8_t *s, int64_t lo, int64_t hi) {
    const int64_t m = 4096 - L->d;
    int64_t vv = *v, r = *s;
    int64_t u;
    if (L->timing == SPK_TIMING_DELAYED) {
        switch (L->reset) {
        case SPK_RESET_SOFT: u = asr(vv * m + 2048, 12) + cur - (r ? L->thr : 0); break;
        case SPK_RESET_HARD: u = asr((r ? (int64_t)L->vreset : vv) * m + 2048, 12) + cur; break;
        case SPK_RESET_HARD_ALL: u = r ? (int64_t)L->vreset : asr(vv * m + 2048, 12) + cur; break;
        default: u = asr(vv * m + 2048, 12) + cur; break;
        }
        u = sat(u, lo, hi);
        int fire = L->fire && u > L->thr;
        *v = (int32_t)u;
        *s = (uint8_t)fire;
        return (int32_t)u;
    }
    u = sat(asr(vv * m + 2048, 12) + cur, lo, hi);
    int fire = L->fire && u > L->thr;
    int64_t vn = u;
    if (fire) {
        if (L->reset == SPK_RESET_SOFT) vn = sat(u - L->thr, lo, hi);
        else if (L->reset != SPK_RESET_NONE) vn = L->vreset;
    }
    *v = (int32_t)vn;
    *s = (uint8_t)fire;
    return (int32_t)vn;
}

void spk_fixed_step(spk_fixed *f, const int16_t *in, int32_t *out) {
    const spk_qmodel *q = f->q;
    const int64_t lo = spk__qstate_min(q->state_bits), hi = spk__qstate_max(q->state_bits);
    for (int l = 0; l < q->n_layers; l++) {
        const spk__qlayer *L = &q->layers[l];
        if (l == 0) {
            size_t nb = sizeof(int16_t) * (size_t)L->in;
            if (!f->have_last || memcmp(f->last_in, in, nb)) {
                accumulate(L, f->acc[0], in, NULL);
                memcpy(f->last_in, in, nb);
                f->have_last = 1;
            }
        } else {
            accumulate(L, f->acc[l], NULL, f->s[l - 1]);
        }
        const int64_t rnd_add = L->shift ? (int64_t)1 << (L->shift - 1) : 0;
        const int last = l == q->n_layers - 1;
        for (int o = 0; o < L->out; o++) {
            int64_t cur = asr(f->acc[l][o] * L->mult[o] + rnd_add, L->shift) + L->bias[o];
            int32_t mem = neuron_update(L, cur, &f->v[l][o], &f->s[l][o], lo, hi);
            if (last && out) out[o] = L->fire ? f->s[l][o] : mem;
        }
    }
}

spk_status spk_fixed_run(spk_fixed *f, int T, const int16_t *x, int32_t *out) {
    if (!f || T < 1 || !x) return spk__fail(NULL, SPK_ERR_INVALID_ARG, "spk_fixed_run: missing argument or T < 1");
    const int I = f->q->layers[0].in, O = spk_qmodel_output_size(f->q);
    spk_fixed_reset(f);
    for (int t = 0; t < T; t++) spk_fixed_step(f, x + (size_t)t * I, out ? out + (size_t)t * O : NULL);
    return SPK_OK;
}
