/* stdp.c — spike-timing-dependent plasticity of one dense connection, online, one time step
 * at a time: pair-based STDP with exponential traces (additive or multiplicative weight
 * dependence), the triplet rule (Pfister & Gerstner 2006, all-to-all interactions) and
 * reward-modulated STDP (the STDP changes feed an eligibility trace per synapse; the weights
 * move by reward x eligibility, Izhikevich 2007 / Florian 2007). Weights stay within
 * [w_min, w_max].
 *
 * The order of work in a step (the closed forms in docs/training.md follow from it):
 *   1. every trace decays by exp(-1/tau);
 *   2. pre spikes: the fast pre trace r1 += s_pre; depression of each synapse of a spiking
 *      pre neuron by o1 (the post trace, without this step's post spikes) times
 *      (A2- + A3- * r2) with r2 the slow pre trace before this spike; then r2 += s_pre;
 *   3. post spikes: potentiation of each synapse of a spiking post neuron by r1 (with this
 *      step's pre spikes: a pair at the same step potentiates) times (A2+ + A3+ * o2), o2
 *      the slow post trace before this spike; then o1 += s_post, o2 += s_post.
 * The pair rule is the triplet rule with A3+ = A3- = 0. Multiplicative factors are taken
 * from the weight as it stands when each change is applied (depression comes first).
 *
 * It does not simulate neurons: the caller runs them and passes their spikes. */
#include "core/core.h"

#include <math.h>
#include <string.h>

struct spk_stdp {
    spk__obj obj;
    spk_stdp_config cfg;
    int n_pre, n_post;
    float d_plus, d_minus, d_x, d_y, d_e; /* per-step decay factors */
    float *r1, *r2;  /* [n_pre] fast and slow pre traces   */
    float *o1, *o2;  /* [n_post] fast and slow post traces */
    float *elig;     /* [n_post, n_pre] eligibility (reward mode), else NULL */
    float *dw;       /* [n_post, n_pre] this step's STDP change (reward mode) */
};

spk_stdp_config spk_stdp_config_default(void) {
    spk_stdp_config c;
    memset(&c, 0, sizeof c);
    c.rule = SPK_STDP_PAIR;
    c.dep = SPK_STDP_ADDITIVE;
    c.a_plus = 0.01f;
    c.a_minus = 0.0105f;
    c.tau_plus = 20.0f;
    c.tau_minus = 20.0f;
    c.a3_plus = 0.0f;
    c.a3_minus = 0.0f;
    c.tau_x = 100.0f;
    c.tau_y = 100.0f;
    c.w_min = 0.0f;
    c.w_max = 1.0f;
    c.reward = 0;
    c.tau_e = 200.0f;
    return c;
}

static spk_status check(const spk_stdp_config *c) {
    if ((int)c->rule < 0 || c->rule >= SPK_STDP_RULE_COUNT)
        return spk__fail(NULL, SPK_ERR_INVALID_ARG, "stdp: rule %d is not pair or triplet", (int)c->rule);
    if ((int)c->dep < 0 || c->dep >= SPK_STDP_DEP_COUNT)
        return spk__fail(NULL, SPK_ERR_INVALID_ARG, "stdp: weight dependence %d is not additive or multiplicative", (int)c->dep);
    const float amp[4] = {c->a_plus, c->a_minus, c->a3_plus, c->a3_minus};
    static const char *const an[4] = {"a_plus", "a_minus", "a3_plus", "a3_minus"};
    for (int k = 0; k < 4; k++)
        if (!(amp[k] >= 0) || !isfinite(amp[k])) return spk__fail(NULL, SPK_ERR_INVALID_ARG, "stdp: %s = %g must be finite and >= 0", an[k], (double)amp[k]);
    const float tau[5] = {c->tau_plus, c->tau_minus, c->tau_x, c->tau_y, c->tau_e};
    static const char *const tn[5] = {"tau_plus", "tau_minus", "tau_x", "tau_y", "tau_e"};
    for (int k = 0; k < 5; k++) {
        if (k >= 2 && k <= 3 && c->rule != SPK_STDP_TRIPLET) continue;
        if (k == 4 && !c->reward) continue;
        if (!(tau[k] > 0) || !isfinite(tau[k])) return spk__fail(NULL, SPK_ERR_INVALID_ARG, "stdp: %s = %g steps must be finite and > 0", tn[k], (double)tau[k]);
    }
    if (!isfinite(c->w_min) || !isfinite(c->w_max) || !(c->w_min < c->w_max))
        return spk__fail(NULL, SPK_ERR_INVALID_ARG, "stdp: the weight bounds [%g, %g] need w_min < w_max, both finite", (double)c->w_min, (double)c->w_max);
    return SPK_OK;
}

spk_status spk_stdp_create(spk_stdp **out, const spk_stdp_config *cfg, int n_pre, int n_post) {
    if (!out || !cfg) return spk__fail(NULL, SPK_ERR_INVALID_ARG, "spk_stdp_create: out or cfg is NULL");
    *out = NULL;
    if (n_pre < 1 || n_post < 1) return spk__fail(NULL, SPK_ERR_INVALID_ARG, "spk_stdp_create: n_pre = %d and n_post = %d must be >= 1", n_pre, n_post);
    spk_status st = check(cfg);
    if (st) return st;
    spk_stdp *s = spk_calloc(1, sizeof *s);
    if (!s) return spk__fail(NULL, SPK_ERR_NOMEM, "spk_stdp_create: no memory");
    spk__obj_init(&s->obj);
    s->cfg = *cfg;
    if (cfg->rule == SPK_STDP_PAIR) s->cfg.a3_plus = s->cfg.a3_minus = 0;
    s->n_pre = n_pre;
    s->n_post = n_post;
    s->d_plus = expf(-1.0f / cfg->tau_plus);
    s->d_minus = expf(-1.0f / cfg->tau_minus);
    s->d_x = cfg->rule == SPK_STDP_TRIPLET ? expf(-1.0f / cfg->tau_x) : 0;
    s->d_y = cfg->rule == SPK_STDP_TRIPLET ? expf(-1.0f / cfg->tau_y) : 0;
    s->d_e = cfg->reward ? expf(-1.0f / cfg->tau_e) : 0;
    s->r1 = spk_calloc((size_t)n_pre * 2, sizeof(float));
    s->o1 = spk_calloc((size_t)n_post * 2, sizeof(float));
    size_t nw = (size_t)n_pre * (size_t)n_post;
    if (cfg->reward) {
        s->elig = spk_calloc(nw, sizeof(float));
        s->dw = spk_calloc(nw, sizeof(float));
    }
    if (!s->r1 || !s->o1 || (cfg->reward && (!s->elig || !s->dw))) {
        spk_stdp_free(s);
        return spk__fail(NULL, SPK_ERR_NOMEM, "spk_stdp_create: no memory for %d x %d synapses", n_post, n_pre);
    }
    s->r2 = s->r1 + n_pre;
    s->o2 = s->o1 + n_post;
    *out = s;
    return SPK_OK;
}

void spk_stdp_free(spk_stdp *s) {
    if (!s) return;
    spk_free(s->r1);
    spk_free(s->o1);
    spk_free(s->elig);
    spk_free(s->dw);
    spk_free(s);
}

void spk_stdp_reset(spk_stdp *s) {
    if (!s) return;
    memset(s->r1, 0, (size_t)s->n_pre * 2 * sizeof(float));
    memset(s->o1, 0, (size_t)s->n_post * 2 * sizeof(float));
    if (s->elig) memset(s->elig, 0, (size_t)s->n_pre * s->n_post * sizeof(float));
}

const float *spk_stdp_trace(const spk_stdp *s, spk_stdp_trace_kind k) {
    if (!s) return NULL;
    switch (k) {
    case SPK_STDP_TRACE_PRE: return s->r1;
    case SPK_STDP_TRACE_PRE_SLOW: return s->cfg.rule == SPK_STDP_TRIPLET ? s->r2 : NULL;
    case SPK_STDP_TRACE_POST: return s->o1;
    case SPK_STDP_TRACE_POST_SLOW: return s->cfg.rule == SPK_STDP_TRIPLET ? s->o2 : NULL;
    case SPK_STDP_TRACE_ELIGIBILITY: return s->elig;
    default: return NULL;
    }
}

static inline float clampw(float w, float lo, float hi) { return w < lo ? lo : w > hi ? hi : w; }

spk_status spk_stdp_step(spk_stdp *s, float *w, const float *pre, const float *post, float reward) {
    if (!s || !w || !pre || !post) return spk__fail(s ? &s->obj : NULL, SPK_ERR_INVALID_ARG, "spk_stdp_step: a NULL argument");
    if (!isfinite(reward)) return spk__fail(&s->obj, SPK_ERR_INVALID_ARG, "spk_stdp_step: reward %g is not finite", (double)reward);
    const int P = s->n_pre, Q = s->n_post;
    const spk_stdp_config *c = &s->cfg;
    const float lo = c->w_min, hi = c->w_max;
    const int mult = c->dep == SPK_STDP_MULTIPLICATIVE;
    /* with a reward the change goes to dw (then the eligibility), else straight to w */
    float *tgt = c->reward ? s->dw : w;
    if (c->reward) memset(s->dw, 0, (size_t)P * Q * sizeof(float));
    /* 1. decay */
    for (int j = 0; j < P; j++) s->r1[j] *= s->d_plus, s->r2[j] *= s->d_x;
    for (int i = 0; i < Q; i++) s->o1[i] *= s->d_minus, s->o2[i] *= s->d_y;
    /* 2. pre spikes: r1, depression, r2 */
    for (int j = 0; j < P; j++) {
        float sp = pre[j];
        if (sp == 0) continue;
        s->r1[j] += sp;
        float amp = sp * (c->a_minus + c->a3_minus * s->r2[j]);
        for (int i = 0; i < Q; i++) {
            float o = s->o1[i];
            if (o == 0) continue;
            float *wp = &w[(size_t)i * P + j];
            float d = amp * o * (mult ? *wp - lo : 1.0f);
            if (c->reward) tgt[(size_t)i * P + j] -= d;
            else *wp = clampw(*wp - d, lo, hi);
        }
        s->r2[j] += sp;
    }
    /* 3. post spikes: potentiation, o1, o2 */
    for (int i = 0; i < Q; i++) {
        float sq = post[i];
        if (sq == 0) continue;
        float amp = sq * (c->a_plus + c->a3_plus * s->o2[i]);
        float *wr = &w[(size_t)i * P];
        float *tr = &tgt[(size_t)i * P];
        for (int j = 0; j < P; j++) {
            float r = s->r1[j];
            if (r == 0) continue;
            float d = amp * r * (mult ? hi - wr[j] : 1.0f);
            if (c->reward) tr[j] += d;
            else wr[j] = clampw(wr[j] + d, lo, hi);
        }
        s->o1[i] += sq;
        s->o2[i] += sq;
    }
    /* reward: e = e * exp(-1/tau_e) + dw; w += reward * e */
    if (c->reward) {
        size_t n = (size_t)P * Q;
        for (size_t k = 0; k < n; k++) {
            float e = s->elig[k] * s->d_e + s->dw[k];
            s->elig[k] = e;
            if (reward != 0 && e != 0) w[k] = clampw(w[k] + reward * e, lo, hi);
        }
    }
    return SPK_OK;
}
