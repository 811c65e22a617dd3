/* neuron.c — the neuron population object: configuration defaults, names, validation,
 * creation, per-neuron parameters and their gradients, and the state layout. The steps
 * themselves are in neuron_step.c (real kinds) and neuron_complex.c (resonate-and-fire). */
#include "neuron/neuron_impl.h"

#include <math.h>
#include <string.h>

#define TWO_PI_F 6.2831853071795864769f

static const char *const kind_names[] = {"lif", "cuba", "alif", "complex"};
static const char *const fire_names[] = {"heaviside", "gauss", "cauchy", "graded", "none"};
static const char *const reset_names[] = {"soft", "hard", "hard_all", "refractory", "none"};
static const char *const timing_names[] = {"delayed", "same_step", "snntorch_nodelay"};
static const char *const surr_names[] = {"auto", "atan", "erf", "fast_sigmoid", "sigmoid",
                                         "triangle", "exp", "ste", "softplus_ramp"};

#define NAME_OF(tab, k) ((int)(k) >= 0 && (size_t)(k) < sizeof tab / sizeof tab[0] ? tab[k] : NULL)
static int index_of(const char *const *tab, size_t n, const char *s) {
    if (!s) return -1;
    for (size_t i = 0; i < n; i++)
        if (strcmp(tab[i], s) == 0) return (int)i;
    return -1;
}
#define FROM_NAME(tab, s) index_of(tab, sizeof tab / sizeof tab[0], s)

const char *spk_neuron_kind_name(spk_neuron_kind k) { return NAME_OF(kind_names, k); }
const char *spk_fire_kind_name(spk_fire_kind k) { return NAME_OF(fire_names, k); }
const char *spk_reset_kind_name(spk_reset_kind k) { return NAME_OF(reset_names, k); }
const char *spk_reset_timing_name(spk_reset_timing k) { return NAME_OF(timing_names, k); }
const char *spk_surrogate_name(spk_surrogate_kind k) { return NAME_OF(surr_names, k); }
int spk_neuron_kind_from_name(const char *s) { return FROM_NAME(kind_names, s); }
int spk_fire_kind_from_name(const char *s) { return FROM_NAME(fire_names, s); }
int spk_reset_kind_from_name(const char *s) { return FROM_NAME(reset_names, s); }
int spk_reset_timing_from_name(const char *s) { return FROM_NAME(timing_names, s); }
int spk_surrogate_from_name(const char *s) { return FROM_NAME(surr_names, s); }

spk_neuron_config spk_neuron_config_default(void) {
    spk_neuron_config c;
    memset(&c, 0, sizeof c);
    c.kind = SPK_NEURON_LIF;
    c.fire = SPK_FIRE_HEAVISIDE;
    c.reset = SPK_RESET_SOFT;
    c.timing = SPK_TIMING_DELAYED;
    c.detach_reset = 1;
    c.surrogate = SPK_SURR_AUTO;
    c.surrogate_scale = 0;
    c.lam = 0.9f;
    c.thr = 1.0f;
    c.alpha = 0.8f;
    c.gain = 1.0f;
    c.v_reset = 0.0f;
    c.ref_steps = 0;
    c.sigma = 0.5f;
    c.n_max = 0;
    c.graded_noise = 0;
    c.adapt_rho = 0.95f;
    c.adapt_beta = 1.8f;
    c.tau_m = 20.0f;
    c.omega = 0.3f;
    c.clamp_decay = 1;
    c.replicas = 1;
    c.rng.seed = 0;
    c.rng.stream = 0;
    return c;
}

/* Validation of one parameter value; NULL when fine, else what is wrong. */
static const char *param_problem(spk_neuron_param p, float v) {
    if (!isfinite(v)) return "must be a finite number";
    switch (p) {
    case SPK_NP_LAM:
    case SPK_NP_ALPHA: return fabsf(v) <= 1.0f ? NULL : "|value| must be <= 1 for stability";
    case SPK_NP_THR: return v > 0 ? NULL : "must be > 0";
    case SPK_NP_OMEGA: return v >= 0 && v < TWO_PI_F ? NULL : "must be in [0, 2*pi)";
    case SPK_NP_TAU: return v >= 0 ? NULL : "must be >= 0";
    default: return "unknown parameter";
    }
}

static const char *const param_names[SPK_NP_COUNT] = {"lam", "thr", "alpha", "omega", "tau_m"};

#define CHECK_ENUM(field, count)                                                              \
    if ((int)c->field < 0 || (int)c->field >= (count))                                          \
        return spk__fail(NULL, SPK_ERR_INVALID_ARG, "neuron config: " #field " = %d is not a valid choice", (int)c->field)
#define CHECK_PARAM(p, val)                                                                   \
    do {                                                                                        \
        const char *why_ = param_problem(p, val);                                               \
        if (why_) return spk__fail(NULL, SPK_ERR_INVALID_ARG, "neuron config: %s = %g: %s",     \
                                   param_names[p], (double)(val), why_);                        \
    } while (0)

spk_status spk_neuron_config_check(const spk_neuron_config *c) {
    if (!c) return spk__fail(NULL, SPK_ERR_INVALID_ARG, "neuron config is NULL");
    CHECK_ENUM(kind, SPK_NEURON_KIND_COUNT);
    CHECK_ENUM(fire, SPK_FIRE_KIND_COUNT);
    CHECK_ENUM(reset, SPK_RESET_KIND_COUNT);
    CHECK_ENUM(timing, SPK_TIMING_COUNT);
    CHECK_ENUM(surrogate, SPK_SURR_KIND_COUNT);
    CHECK_PARAM(SPK_NP_LAM, c->lam);
    CHECK_PARAM(SPK_NP_THR, c->thr);
    CHECK_PARAM(SPK_NP_ALPHA, c->alpha);
    if (c->kind == SPK_NEURON_COMPLEX) {
        CHECK_PARAM(SPK_NP_OMEGA, c->omega);
        CHECK_PARAM(SPK_NP_TAU, c->tau_m);
    }
    if (!isfinite(c->gain)) return spk__fail(NULL, SPK_ERR_INVALID_ARG, "neuron config: gain = %g: must be a finite number", (double)c->gain);
    if (!isfinite(c->v_reset)) return spk__fail(NULL, SPK_ERR_INVALID_ARG, "neuron config: v_reset = %g: must be a finite number", (double)c->v_reset);
    if (c->ref_steps < 0) return spk__fail(NULL, SPK_ERR_INVALID_ARG, "neuron config: ref_steps = %d: a refractory period cannot be negative", c->ref_steps);
    int noisy = c->fire == SPK_FIRE_GAUSS || c->fire == SPK_FIRE_CAUCHY ||
                (c->fire == SPK_FIRE_GRADED && c->graded_noise != 0);
    if (noisy && !(c->sigma > 0 && isfinite(c->sigma)))
        return spk__fail(NULL, SPK_ERR_INVALID_ARG, "neuron config: sigma = %g: the noise scale must be > 0", (double)c->sigma);
    if (c->graded_noise != 0 && c->graded_noise != SPK_FIRE_GAUSS && c->graded_noise != SPK_FIRE_CAUCHY)
        return spk__fail(NULL, SPK_ERR_INVALID_ARG, "neuron config: graded_noise = %d: must be 0, SPK_FIRE_GAUSS or SPK_FIRE_CAUCHY", c->graded_noise);
    if (c->replicas < 1 || c->replicas > 4096)
        return spk__fail(NULL, SPK_ERR_INVALID_ARG, "neuron config: replicas = %d: must be in [1, 4096]", c->replicas);
    if (c->replicas > 1 && !noisy)
        return spk__fail(NULL, SPK_ERR_INVALID_ARG, "neuron config: replicas = %d: only stochastic firing (gauss, cauchy, noisy graded) has replicas", c->replicas);
    if (c->fire == SPK_FIRE_GRADED && c->graded_noise == SPK_FIRE_CAUCHY && c->n_max == 0)
        return spk__fail(NULL, SPK_ERR_INVALID_ARG, "neuron config: graded spikes with Cauchy noise need a cap n_max > 0 "
                         "(with Cauchy noise the expected spike count is infinite)");
    if (c->n_max < 0) return spk__fail(NULL, SPK_ERR_INVALID_ARG, "neuron config: n_max = %d: must be >= 0 (0 = no cap)", c->n_max);
    if (!(fabsf(c->adapt_rho) <= 1.0f)) return spk__fail(NULL, SPK_ERR_INVALID_ARG, "neuron config: adapt_rho = %g: |value| must be <= 1", (double)c->adapt_rho);
    if (!(c->adapt_beta >= 0 && isfinite(c->adapt_beta))) return spk__fail(NULL, SPK_ERR_INVALID_ARG, "neuron config: adapt_beta = %g: must be >= 0", (double)c->adapt_beta);
    if (!(c->surrogate_scale >= 0 && isfinite(c->surrogate_scale)))
        return spk__fail(NULL, SPK_ERR_INVALID_ARG, "neuron config: surrogate_scale = %g: must be >= 0 (0 = default)", (double)c->surrogate_scale);
    if (c->kind == SPK_NEURON_COMPLEX) {
        if (c->timing != SPK_TIMING_SAME_STEP)
            return spk__fail(NULL, SPK_ERR_INVALID_ARG, "neuron config: complex neurons reset in the same step: set timing to same_step (%s given)",
                             spk_reset_timing_name(c->timing));
        if (c->reset == SPK_RESET_REFRACTORY)
            return spk__fail(NULL, SPK_ERR_INVALID_ARG, "neuron config: complex neurons do not support the refractory reset (use hard, soft or none)");
    }
    return SPK_OK;
}

/* The surrogate AUTO stands for, and its scale. */
static void resolve_surrogate(spk_neuron_config *c) {
    if (c->surrogate == SPK_SURR_AUTO) {
        int noise = c->fire == SPK_FIRE_GRADED ? c->graded_noise : (int)c->fire;
        if (noise == SPK_FIRE_GAUSS) {
            c->surrogate = SPK_SURR_ERF;
            c->surrogate_scale = c->sigma;
        } else if (noise == SPK_FIRE_CAUCHY) {
            c->surrogate = SPK_SURR_ATAN;
            c->surrogate_scale = c->sigma;
        } else if (c->fire == SPK_FIRE_GRADED) {
            c->surrogate = SPK_SURR_SOFTPLUS_RAMP;
        } else {
            c->surrogate = SPK_SURR_ATAN;
        }
    }
    if (!(c->surrogate_scale > 0)) c->surrogate_scale = spk_surrogate_default_scale(c->surrogate);
}

spk_status spk_neuron_create(spk_neuron **out, const spk_neuron_config *cfg, int n) {
    if (!out) return spk__fail(NULL, SPK_ERR_INVALID_ARG, "spk_neuron_create: out is NULL");
    *out = NULL;
    spk_status st = spk_neuron_config_check(cfg);
    if (st) return st;
    if (n < 1) return spk__fail(NULL, SPK_ERR_INVALID_ARG, "spk_neuron_create: n = %d: a population needs at least 1 neuron", n);
    spk_neuron *nr = spk_calloc(1, sizeof *nr);
    if (!nr) return spk__fail(NULL, SPK_ERR_NOMEM, "spk_neuron_create: no memory for the population");
    spk__obj_init(&nr->obj);
    nr->cfg = *cfg;
    resolve_surrogate(&nr->cfg);
    nr->n = n;

    for (int i = 0; i < SPK_SLOT_COUNT; i++) nr->slot[i] = -1;
    int k = 0;
    nr->slot[SPK_SLOT_V] = k++;
    if (cfg->kind == SPK_NEURON_COMPLEX) nr->slot[SPK_SLOT_VI] = k++;
    if (cfg->kind == SPK_NEURON_CUBA) nr->slot[SPK_SLOT_I] = k++;
    if (cfg->kind == SPK_NEURON_ALIF) nr->slot[SPK_SLOT_A] = k++;
    nr->slot[SPK_SLOT_S] = k++;
    if (cfg->reset == SPK_RESET_REFRACTORY) nr->slot[SPK_SLOT_REF] = k++;
    nr->nslots = k;

    int cplx = cfg->kind == SPK_NEURON_COMPLEX;
    nr->used[SPK_NP_LAM] = !cplx;
    nr->used[SPK_NP_THR] = 1;
    nr->used[SPK_NP_ALPHA] = cfg->kind == SPK_NEURON_CUBA;
    nr->used[SPK_NP_OMEGA] = cplx;
    nr->used[SPK_NP_TAU] = cplx;
    int narrays = 0;
    for (int p = 0; p < SPK_NP_COUNT; p++) narrays += 2 * nr->used[p];
    narrays += cplx ? 2 : 0;
    nr->block = spk_calloc((size_t)narrays * (size_t)n, sizeof(float));
    if (!nr->block) {
        spk_free(nr);
        return spk__fail(NULL, SPK_ERR_NOMEM, "spk_neuron_create: no memory for %d neurons' parameters", n);
    }
    float *q = nr->block;
    const float init[SPK_NP_COUNT] = {cfg->lam, cfg->thr, cfg->alpha, cfg->omega, cfg->tau_m};
    for (int p = 0; p < SPK_NP_COUNT; p++) {
        if (!nr->used[p]) continue;
        nr->param[p] = q; q += n;
        nr->grad[p] = q; q += n;
        for (int i = 0; i < n; i++) nr->param[p][i] = init[p];
    }
    if (cplx) {
        nr->lam_re = q; q += n;
        nr->lam_im = q; q += n;
        spk__complex_update_lam(nr);
    }
    *out = nr;
    return SPK_OK;
}

void spk_neuron_free(spk_neuron *nr) {
    if (!nr) return;
    spk_free(nr->block);
    spk_free(nr->scratch);
    spk_free(nr);
}

const spk_neuron_config *spk_neuron_get_config(const spk_neuron *nr) { return nr ? &nr->cfg : NULL; }
int spk_neuron_size(const spk_neuron *nr) { return nr ? nr->n : 0; }

spk_status spk_neuron_set_param(spk_neuron *nr, spk_neuron_param p, const float *values, int count) {
    if (!nr) return spk__fail(NULL, SPK_ERR_INVALID_ARG, "spk_neuron_set_param: population is NULL");
    if ((int)p < 0 || p >= SPK_NP_COUNT)
        return spk__fail(&nr->obj, SPK_ERR_INVALID_ARG, "spk_neuron_set_param: parameter %d does not exist", (int)p);
    if (!nr->used[p])
        return spk__fail(&nr->obj, SPK_ERR_INVALID_ARG, "spk_neuron_set_param: %s neurons have no parameter '%s'",
                         spk_neuron_kind_name(nr->cfg.kind), param_names[p]);
    if (!values || (count != 1 && count != nr->n))
        return spk__fail(&nr->obj, SPK_ERR_INVALID_ARG, "spk_neuron_set_param: %s: %d values given, need 1 or %d",
                         param_names[p], values ? count : 0, nr->n);
    for (int i = 0; i < count; i++) {
        const char *why = param_problem(p, values[i]);
        if (why)
            return spk__fail(&nr->obj, SPK_ERR_INVALID_ARG, "%s[%d] = %g: %s", param_names[p], i, (double)values[i], why);
    }
    for (int i = 0; i < nr->n; i++) nr->param[p][i] = values[count == 1 ? 0 : i];
    if (p == SPK_NP_OMEGA || p == SPK_NP_TAU) spk__complex_update_lam(nr);
    return SPK_OK;
}

const float *spk_neuron_get_param(const spk_neuron *nr, spk_neuron_param p) {
    if (!nr || (int)p < 0 || p >= SPK_NP_COUNT) return NULL;
    return nr->param[p];
}

float *spk_neuron_grad(spk_neuron *nr, spk_neuron_param p) {
    if (!nr || (int)p < 0 || p >= SPK_NP_COUNT) return NULL;
    return nr->grad[p];
}

void spk_neuron_zero_grad(spk_neuron *nr) {
    if (!nr) return;
    for (int p = 0; p < SPK_NP_COUNT; p++)
        if (nr->grad[p]) memset(nr->grad[p], 0, (size_t)nr->n * sizeof(float));
}

size_t spk_neuron_state_size(const spk_neuron *nr, int B) {
    if (!nr || B < 1) return 0;
    return (size_t)nr->nslots * (size_t)B * (size_t)nr->n;
}

int spk_neuron_slot_offset(const spk_neuron *nr, spk_neuron_slot slot) {
    if (!nr || (int)slot < 0 || slot >= SPK_SLOT_COUNT) return -1;
    return nr->slot[slot];
}

void spk__neuron_bind_param(spk_neuron *nr, spk_neuron_param p, float *param, float *grad) {
    if (!nr || !nr->used[p]) return;
    memcpy(param, nr->param[p], (size_t)nr->n * sizeof(float));
    memcpy(grad, nr->grad[p], (size_t)nr->n * sizeof(float));
    nr->param[p] = param;
    nr->grad[p] = grad;
}

void spk__neuron_params_changed(spk_neuron *nr) {
    if (nr && nr->cfg.kind == SPK_NEURON_COMPLEX) spk__complex_update_lam(nr);
}

void spk__neuron_fill_param(spk_neuron *nr, spk_neuron_param p, float value) {
    if (!nr || !nr->param[p]) return;
    for (int i = 0; i < nr->n; i++) nr->param[p][i] = value;
}
