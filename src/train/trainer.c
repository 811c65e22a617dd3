/* trainer.c — one training step of a network by backpropagation through time: forward,
 * loss on the readout, optional firing-rate regularizer, backward (full or truncated),
 * gradient clipping and an optimizer update with the scheduled learning rate. Also
 * evaluation and the decoding of predictions. It does not load data or write checkpoints. */
#include "core/core.h"

#include <math.h>
#include <string.h>

struct spk_trainer {
    spk__obj obj;
    spk_net *net;
    spk_train_config cfg;
    spk_optim *opt;
    long steps;
    int C;          /* readout classes */
    float *gbuf;    /* [T, B, C] loss gradient */
    float *rbuf;    /* [T, B, N] regularizer gradient (largest population) */
    float *sbuf;    /* [B, C] decoded scores */
    int32_t *pbuf;  /* [B] predictions */
    size_t gcap, rcap, scap, pcap;
    int lastT, lastB;
    spk_eprop *ep;  /* method EPROP: made at the first step */
    spk_fptt *fp;   /* method FPTT: made at the first step */
};

static const char *const method_names[SPK_TRAIN_METHOD_COUNT] = {"bptt", "tbptt", "fptt", "eprop", "stdp"};

const char *spk_train_method_name(spk_train_method m) {
    return (int)m >= 0 && m < SPK_TRAIN_METHOD_COUNT ? method_names[m] : NULL;
}

int spk_train_method_from_name(const char *s) {
    for (int k = 0; s && k < SPK_TRAIN_METHOD_COUNT; k++)
        if (!strcmp(method_names[k], s)) return k;
    return -1;
}

static const char *const loss_names[SPK_LOSS_KIND_COUNT] = {"ce_count", "ce_mem", "mse_count", "ce_first_spike"};

const char *spk_loss_kind_name(spk_loss_kind k) {
    return (int)k >= 0 && k < SPK_LOSS_KIND_COUNT ? loss_names[k] : NULL;
}

int spk_loss_kind_from_name(const char *s) {
    for (int k = 0; s && k < SPK_LOSS_KIND_COUNT; k++)
        if (!strcmp(loss_names[k], s)) return k;
    return -1;
}

spk_train_config spk_train_config_default(int output_node) {
    spk_train_config c;
    memset(&c, 0, sizeof c);
    c.output = output_node;
    c.loss = SPK_LOSS_CE_MEM;
    c.mem_reduce = SPK_MEM_PER_STEP;
    c.correct_rate = 0.8f;
    c.incorrect_rate = 0.2f;
    c.rate_target = 0.05f;
    c.rate_lambda = 0.0f;
    c.rate_l2 = 1;
    c.tbptt_k = 0;
    c.optim = spk_optim_config_default(SPK_OPT_ADAM);
    c.sched.kind = SPK_SCHED_CONST;
    c.sched.base_lr = c.optim.lr;
    c.sched.gamma = 1.0f;
    c.sched.step_size = 1;
    c.sched.total_steps = 0; /* cosine: set it (spk train: 0 = epochs x batches) */
    c.method = SPK_TRAIN_BPTT;
    c.fptt_alpha = 0.5f;
    c.eprop_feedback = SPK_EPROP_SYMMETRIC;
    return c;
}

spk_status spk_trainer_create(spk_trainer **out, spk_net *net, const spk_train_config *cfg) {
    if (!out || !net || !cfg) return spk__fail(NULL, SPK_ERR_INVALID_ARG, "spk_trainer_create: out, net or cfg is NULL");
    *out = NULL;
    size_t n;
    if (!spk_net_params(net, &n)) return spk__fail(NULL, SPK_ERR_STATE, "spk_trainer_create: build the network first");
    if (spk_net_node_kind(net, cfg->output) != SPK_NODE_NEURON)
        return spk__fail(NULL, SPK_ERR_INVALID_ARG, "spk_trainer_create: the readout (node %d) must be a neuron population", cfg->output);
    if ((int)cfg->loss < 0 || cfg->loss >= SPK_LOSS_KIND_COUNT)
        return spk__fail(NULL, SPK_ERR_INVALID_ARG, "spk_trainer_create: loss %d is not a valid choice", (int)cfg->loss);
    if ((int)cfg->mem_reduce < 0 || cfg->mem_reduce >= SPK_MEM_REDUCE_COUNT)
        return spk__fail(NULL, SPK_ERR_INVALID_ARG, "spk_trainer_create: mem_reduce %d is not a valid choice", (int)cfg->mem_reduce);
    if (cfg->tbptt_k < 0) return spk__fail(NULL, SPK_ERR_INVALID_ARG, "spk_trainer_create: tbptt_k = %d must be >= 0", cfg->tbptt_k);
    if (!(cfg->rate_lambda >= 0) || !(cfg->rate_target >= 0 && cfg->rate_target <= 1))
        return spk__fail(NULL, SPK_ERR_INVALID_ARG, "spk_trainer_create: rate_lambda must be >= 0 and rate_target in [0, 1]");
    if (cfg->sched.kind == SPK_SCHED_COSINE && cfg->sched.total_steps < 1)
        return spk__fail(NULL, SPK_ERR_INVALID_ARG, "spk_trainer_create: a cosine schedule needs sched.total_steps >= 1");
    if (!isfinite(spk_sched_lr(&cfg->sched, 0)))
        return spk__fail(NULL, SPK_ERR_INVALID_ARG, "spk_trainer_create: the learning-rate schedule cannot be evaluated (check step_size, gamma, lr)");
    if ((int)cfg->method < 0 || cfg->method >= SPK_TRAIN_METHOD_COUNT)
        return spk__fail(NULL, SPK_ERR_INVALID_ARG, "spk_trainer_create: method %d is not a valid choice", (int)cfg->method);
    if (cfg->method == SPK_TRAIN_STDP)
        return spk__fail(NULL, SPK_ERR_UNSUPPORTED,
                         "spk_trainer_create: method stdp is unsupervised and local: it has no loss for the trainer to descend; use the "
                         "spk_stdp_* functions on a dense connection (spk bench stdp runs a Fashion-MNIST layer, docs/training.md)");
    if (cfg->method == SPK_TRAIN_TBPTT && cfg->tbptt_k < 1)
        return spk__fail(NULL, SPK_ERR_INVALID_ARG, "spk_trainer_create: method tbptt needs a window tbptt >= 1");
    if (cfg->method == SPK_TRAIN_FPTT && (!(cfg->fptt_alpha > 0) || !isfinite(cfg->fptt_alpha)))
        return spk__fail(NULL, SPK_ERR_INVALID_ARG, "spk_trainer_create: fptt_alpha = %g must be finite and > 0", (double)cfg->fptt_alpha);
    if ((cfg->method == SPK_TRAIN_FPTT || cfg->method == SPK_TRAIN_EPROP) &&
        (cfg->loss != SPK_LOSS_CE_MEM || (cfg->mem_reduce != SPK_MEM_PER_STEP && cfg->mem_reduce != SPK_MEM_LAST) || cfg->rate_lambda > 0))
        return spk__fail(NULL, SPK_ERR_UNSUPPORTED,
                         "spk_trainer_create: method %s needs a loss known at each step: loss ce_mem with mem_reduce per_step or last, and no "
                         "firing-rate regularizer", method_names[cfg->method]);
    if (cfg->method == SPK_TRAIN_EPROP && ((int)cfg->eprop_feedback < 0 || cfg->eprop_feedback >= SPK_EPROP_FEEDBACK_COUNT))
        return spk__fail(NULL, SPK_ERR_INVALID_ARG, "spk_trainer_create: eprop_feedback %d is not a valid choice", (int)cfg->eprop_feedback);
    int dims[SPK_MAX_DIMS];
    int nd = spk_net_node_shape(net, cfg->output, dims);
    if (nd != 1) return spk__fail(NULL, SPK_ERR_SHAPE, "spk_trainer_create: the readout '%s' must be one-dimensional (classes)", spk_net_node_name(net, cfg->output));
    spk_trainer *tr = spk_calloc(1, sizeof *tr);
    if (!tr) return spk__fail(NULL, SPK_ERR_NOMEM, "spk_trainer_create: no memory");
    spk__obj_init(&tr->obj);
    tr->net = net;
    tr->cfg = *cfg;
    tr->C = dims[0];
    spk_status st = spk_optim_create(&tr->opt, &cfg->optim, n);
    if (!st && cfg->method == SPK_TRAIN_EPROP) st = spk_eprop_create(&tr->ep, net, cfg->output, cfg->eprop_feedback, (spk_rng){0x65707270, 0});
    if (!st && cfg->method == SPK_TRAIN_FPTT) st = spk_fptt_create(&tr->fp, net, cfg->output, cfg->fptt_alpha, tr->opt);
    if (st) {
        spk_optim_free(tr->opt);
        spk_free(tr);
        return st;
    }
    *out = tr;
    return SPK_OK;
}

void spk_trainer_free(spk_trainer *tr) {
    if (!tr) return;
    spk_eprop_free(tr->ep);
    spk_fptt_free(tr->fp);
    spk_optim_free(tr->opt);
    spk_free(tr->gbuf);
    spk_free(tr->rbuf);
    spk_free(tr->sbuf);
    spk_free(tr->pbuf);
    spk_free(tr);
}

long spk_trainer_steps(const spk_trainer *tr) { return tr ? tr->steps : 0; }
size_t spk_trainer_method_bytes(const spk_trainer *tr) {
    if (!tr) return 0;
    if (tr->ep) return spk_eprop_bytes(tr->ep);
    if (tr->fp) return spk_fptt_bytes(tr->fp);
    return spk_net_activation_bytes(tr->net);
}
void spk_trainer_set_steps(spk_trainer *tr, long steps) {
    if (tr && steps >= 0) tr->steps = steps;
}
spk_optim *spk_trainer_optim(spk_trainer *tr) { return tr ? tr->opt : NULL; }

static spk_status grow(spk_trainer *tr, float **buf, size_t *cap, size_t n) {
    if (n <= *cap) return SPK_OK;
    spk_free(*buf);
    *buf = spk_calloc(n, sizeof(float));
    *cap = *buf ? n : 0;
    return *buf ? SPK_OK : spk__fail(&tr->obj, SPK_ERR_NOMEM, "trainer: no memory for %zu gradient values", n);
}

/* Loss of the last forward on the readout; seeds the backward when `seed`. */
static spk_status loss_and_seed(spk_trainer *tr, const int32_t *labels, int seed, double *loss_out) {
    spk_net *net = tr->net;
    const int T = tr->lastT, B = tr->lastB, C = tr->C, out = tr->cfg.output;
    spk_status st = grow(tr, &tr->gbuf, &tr->gcap, (size_t)T * B * C);
    if (st) return st;
    for (int b = 0; b < B; b++)
        if (labels[b] < 0 || labels[b] >= C)
            return spk__fail(&tr->obj, SPK_ERR_INVALID_ARG, "label %d of sample %d is outside [0, %d)", labels[b], b, C);
    const float *spk = spk_net_signal(net, out, SPK_SIGNAL_OUT), *mem = spk_net_signal(net, out, SPK_SIGNAL_MEM);
    double L;
    spk_signal sig = SPK_SIGNAL_OUT;
    switch (tr->cfg.loss) {
    case SPK_LOSS_CE_COUNT: L = spk_loss_ce_count(tr->gbuf, spk, labels, T, B, C); break;
    case SPK_LOSS_CE_MEM: L = spk_loss_ce_mem(tr->gbuf, mem, labels, T, B, C, tr->cfg.mem_reduce); sig = SPK_SIGNAL_MEM; break;
    case SPK_LOSS_MSE_COUNT:
        L = spk_loss_mse_count(tr->gbuf, spk, labels, T, B, C, tr->cfg.correct_rate, tr->cfg.incorrect_rate);
        break;
    default: L = spk_loss_ce_first_spike(tr->gbuf, spk, labels, T, B, C); break;
    }
    if (seed && (st = spk_net_seed_grad(net, out, sig, tr->gbuf))) return st;
    if (tr->cfg.rate_lambda > 0) {
        for (int v = 0; v < spk_net_node_count(net); v++) {
            if (v == out || spk_net_node_kind(net, v) != SPK_NODE_NEURON) continue;
            size_t N = (size_t)spk_neuron_size(spk_net_neuron(net, v));
            if ((st = grow(tr, &tr->rbuf, &tr->rcap, (size_t)T * B * N))) return st;
            memset(tr->rbuf, 0, (size_t)T * B * N * sizeof(float));
            L += spk_loss_rate_reg(tr->rbuf, spk_net_signal(net, v, SPK_SIGNAL_OUT), T, B, (int)N, tr->cfg.rate_target,
                                   tr->cfg.rate_lambda, tr->cfg.rate_l2);
            if (seed && (st = spk_net_seed_grad(net, v, SPK_SIGNAL_OUT, tr->rbuf))) return st;
        }
    }
    *loss_out = L;
    if (!isfinite(L)) return spk__fail(&tr->obj, SPK_ERR_NUMERIC, "the loss is %s at training step %ld", isnan(L) ? "NaN" : "infinite", tr->steps);
    return SPK_OK;
}

/* Decode the last forward's readout under the loss's decoding and take each row's argmax. */
static spk_status predict_all(spk_trainer *tr, int32_t *pred) {
    const int T = tr->lastT, B = tr->lastB, C = tr->C;
    spk_status st = grow(tr, &tr->sbuf, &tr->scap, (size_t)B * C);
    if (st) return st;
    spk_decoding d;
    switch (tr->cfg.loss) {
    case SPK_LOSS_CE_COUNT:
    case SPK_LOSS_MSE_COUNT: d = SPK_DEC_COUNT; break;
    case SPK_LOSS_CE_FIRST_SPIKE: d = SPK_DEC_FIRST_SPIKE; break;
    default:
        d = tr->cfg.mem_reduce == SPK_MEM_MAX ? SPK_DEC_MEM_MAX : tr->cfg.mem_reduce == SPK_MEM_LAST ? SPK_DEC_MEM_LAST : SPK_DEC_MEM_MEAN;
        break;
    }
    spk_decode(d, T, B, C, spk_net_signal(tr->net, tr->cfg.output, SPK_SIGNAL_OUT), spk_net_signal(tr->net, tr->cfg.output, SPK_SIGNAL_MEM),
               tr->sbuf);
    spk_argmax_rows(tr->sbuf, B, C, pred);
    return SPK_OK;
}

void spk_trainer_predict(const spk_trainer *tr, int32_t *pred) {
    if (!tr || !pred || !tr->lastT) return;
    predict_all((spk_trainer *)tr, pred);
}

static int count_correct(spk_trainer *tr, const int32_t *labels, int32_t *pred) {
    int32_t *p = pred;
    if (!p && (size_t)tr->lastB > tr->pcap) {
        spk_free(tr->pbuf);
        tr->pbuf = spk_malloc((size_t)tr->lastB * sizeof(int32_t));
        tr->pcap = tr->pbuf ? (size_t)tr->lastB : 0;
        if (!tr->pbuf) return 0;
    }
    if (!p) p = tr->pbuf;
    if (predict_all(tr, p)) return 0;
    int ok = 0;
    for (int b = 0; b < tr->lastB; b++) ok += p[b] == labels[b];
    return ok;
}

/* e-prop and FPTT: the network runs step by step inside them (no stored activations). */
static spk_status online_step(spk_trainer *tr, int T, int B, const float *x, const int32_t *labels, double *loss, int *correct) {
    spk_net *net = tr->net;
    if ((size_t)B > tr->pcap) {
        spk_free(tr->pbuf);
        tr->pbuf = spk_malloc((size_t)B * sizeof(int32_t));
        tr->pcap = tr->pbuf ? (size_t)B : 0;
        if (!tr->pbuf) return spk__fail(&tr->obj, SPK_ERR_NOMEM, "trainer: no memory for %d predictions", B);
    }
    float lr = spk_sched_lr(&tr->cfg.sched, tr->steps);
    double L = 0;
    spk_status st;
    if (tr->ep) {
        spk_net_zero_grad(net);
        if ((st = spk_eprop_run(tr->ep, T, B, x, labels, tr->cfg.mem_reduce, &L, tr->pbuf))) return spk__fail(&tr->obj, st, "%s", spk_errmsg(tr->ep));
        size_t n;
        float *params = spk_net_params(net, &n), *grads = spk_net_grads(net, &n);
        if ((st = spk_optim_step(tr->opt, params, grads, lr, NULL)))
            return spk__fail(&tr->obj, st, "training step %ld: %s", tr->steps, spk_errmsg(tr->opt));
        spk_net_params_changed(net);
    } else if ((st = spk_fptt_run(tr->fp, T, B, x, labels, tr->cfg.mem_reduce, lr, &L, tr->pbuf))) {
        return spk__fail(&tr->obj, st, "training step %ld: %s", tr->steps, spk_errmsg(tr->fp));
    }
    tr->steps++;
    if (loss) *loss = L;
    if (correct) {
        int ok = 0;
        for (int b = 0; b < B; b++) ok += tr->pbuf[b] == labels[b];
        *correct = ok;
    }
    return SPK_OK;
}

spk_status spk_trainer_step(spk_trainer *tr, int T, int B, const float *x, const int32_t *labels, double *loss, int *correct) {
    if (!tr || !x || !labels) return spk__fail(tr ? &tr->obj : NULL, SPK_ERR_INVALID_ARG, "trainer step: x or labels is NULL");
    spk_net *net = tr->net;
    if (tr->ep || tr->fp) return online_step(tr, T, B, x, labels, loss, correct);
    spk_net_set_training(net, 1, (uint64_t)tr->steps);
    spk_status st = spk_net_forward(net, T, B, x);
    if (st) return spk__fail(&tr->obj, st, "%s", spk_errmsg(net));
    tr->lastT = T;
    tr->lastB = B;
    spk_net_zero_grad(net);
    double L = 0;
    if ((st = loss_and_seed(tr, labels, 1, &L))) return st;
    if ((st = spk_net_backward_truncated(net, tr->cfg.tbptt_k))) return spk__fail(&tr->obj, st, "%s", spk_errmsg(net));
    float lr = spk_sched_lr(&tr->cfg.sched, tr->steps);
    size_t n;
    float *params = spk_net_params(net, &n), *grads = spk_net_grads(net, &n);
    if ((st = spk_optim_step(tr->opt, params, grads, lr, NULL)))
        return spk__fail(&tr->obj, st, "training step %ld: %s", tr->steps, spk_errmsg(tr->opt));
    spk_net_params_changed(net);
    tr->steps++;
    if (loss) *loss = L;
    if (correct) *correct = count_correct(tr, labels, NULL);
    return SPK_OK;
}

spk_status spk_trainer_eval(spk_trainer *tr, int T, int B, const float *x, const int32_t *labels, double *loss, int *correct,
                            int32_t *pred) {
    if (!tr || !x || !labels) return spk__fail(tr ? &tr->obj : NULL, SPK_ERR_INVALID_ARG, "trainer eval: x or labels is NULL");
    spk_net_set_training(tr->net, 0, 0);
    spk_status st = spk_net_forward(tr->net, T, B, x);
    if (st) return spk__fail(&tr->obj, st, "%s", spk_errmsg(tr->net));
    tr->lastT = T;
    tr->lastB = B;
    double L = 0;
    st = loss_and_seed(tr, labels, 0, &L);
    if (st && st != SPK_ERR_NUMERIC) return st;
    if (loss) *loss = L;
    int ok = count_correct(tr, labels, pred);
    if (correct) *correct = ok;
    return SPK_OK;
}
