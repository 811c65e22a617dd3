/* optim.c — SGD (momentum, dampening, Nesterov, L2 weight decay), Adam and AdamW over one flat
 * parameter array, with torch.optim's update rules step for step, global gradient-norm
 * clipping as torch.nn.utils.clip_grad_norm_, and a NaN/Inf guard that leaves the parameters
 * untouched. The per-element arithmetic runs in double and rounds once into the float
 * parameters and moments.
 *
 * It deliberately does not do parameter groups, AMSGrad, `maximize`, or per-tensor norms: the
 * trainer gives every parameter the same settings, and the whole arena is one "tensor".
 *
 * State layout (one allocation, spk_optim_state): a 16-float header, then one array of n
 * floats per moment, each starting on a 64-byte boundary.
 *   header[0]  number of steps taken, low 24 bits  } exact in float up to 2^48 steps
 *   header[1]  number of steps taken, bits 24 and up }
 *   header[2..15] zero (reserved)
 *   SGD with momentum != 0: momentum buffer [n]
 *   Adam / AdamW:           exp_avg (m) [n], then exp_avg_sq (v) [n]
 * Restoring a checkpoint is a copy into the array spk_optim_state returns. */
#include "core/core.h"

#include <math.h>
#include <string.h>

#define HDR_FLOATS 16
#define STEP_SPLIT 16777216.0 /* 2^24 */

struct spk_optim {
    spk__obj obj;
    spk_optim_config cfg;
    size_t n;
    size_t n_state; /* floats in state */
    void *raw;      /* the one allocation, as the allocator returned it */
    float *state;   /* raw rounded up to a 64-byte boundary */
    float *m, *v;   /* into state: SGD momentum buffer is m; v is NULL for SGD */
};

spk_optim_config spk_optim_config_default(spk_optim_kind kind) {
    spk_optim_config c;
    memset(&c, 0, sizeof c);
    c.kind = kind;
    c.lr = 1e-3f;
    c.beta1 = 0.9f;
    c.beta2 = 0.999f;
    c.eps = 1e-8f;
    c.weight_decay = kind == SPK_OPT_ADAMW ? 1e-2f : 0.0f;
    return c;
}

static spk_status check_config(const spk_optim_config *c) {
    const char *f = "spk_optim_create";
    if ((int)c->kind < 0 || c->kind >= SPK_OPT_KIND_COUNT)
        return spk__fail(NULL, SPK_ERR_INVALID_ARG, "%s: kind = %d is not an optimizer kind", f, (int)c->kind);
#define NONNEG(field)                                                                              \
    if (!(isfinite(c->field) && c->field >= 0.0f))                                                 \
        return spk__fail(NULL, SPK_ERR_INVALID_ARG, "%s: " #field " = %g: must be finite and >= 0", f, \
                         (double)c->field)
    NONNEG(lr);
    NONNEG(weight_decay);
    NONNEG(clip_norm);
    if (c->kind == SPK_OPT_SGD) {
        NONNEG(momentum);
        if (!isfinite(c->dampening))
            return spk__fail(NULL, SPK_ERR_INVALID_ARG, "%s: dampening = %g: must be finite", f, (double)c->dampening);
        if (c->nesterov && (c->momentum <= 0.0f || c->dampening != 0.0f))
            return spk__fail(NULL, SPK_ERR_INVALID_ARG,
                             "%s: nesterov needs momentum > 0 and dampening = 0 (momentum = %g, dampening = %g)",
                             f, (double)c->momentum, (double)c->dampening);
    } else {
        if (!(c->beta1 >= 0.0f && c->beta1 < 1.0f))
            return spk__fail(NULL, SPK_ERR_INVALID_ARG, "%s: beta1 = %g: must be in [0, 1)", f, (double)c->beta1);
        if (!(c->beta2 >= 0.0f && c->beta2 < 1.0f))
            return spk__fail(NULL, SPK_ERR_INVALID_ARG, "%s: beta2 = %g: must be in [0, 1)", f, (double)c->beta2);
        NONNEG(eps);
    }
#undef NONNEG
    return SPK_OK;
}

spk_status spk_optim_create(spk_optim **out, const spk_optim_config *cfg, size_t n) {
    if (!out) return spk__fail(NULL, SPK_ERR_INVALID_ARG, "spk_optim_create: out is NULL");
    *out = NULL;
    if (!cfg) return spk__fail(NULL, SPK_ERR_INVALID_ARG, "spk_optim_create: cfg is NULL");
    if (n < 1) return spk__fail(NULL, SPK_ERR_INVALID_ARG, "spk_optim_create: n = 0: nothing to optimize");
    spk_status st = check_config(cfg);
    if (st) return st;

    const size_t per = SPK__ALIGN / sizeof(float);
    if (n > SIZE_MAX / (4 * sizeof(float)) - 2 * per)
        return spk__fail(NULL, SPK_ERR_INVALID_ARG, "spk_optim_create: n = %zu parameters is too many", n);
    size_t arr = spk__align_up(n, per);
    int narr = cfg->kind == SPK_OPT_SGD ? (cfg->momentum != 0.0f) : 2;

    spk_optim *o = spk_calloc(1, sizeof *o);
    if (!o) return spk__fail(NULL, SPK_ERR_NOMEM, "spk_optim_create: no memory for the optimizer");
    spk__obj_init(&o->obj);
    o->cfg = *cfg;
    o->n = n;
    o->n_state = HDR_FLOATS + (size_t)narr * arr;
    /* one extra 64-byte block so the arrays can start on an aligned address */
    o->raw = spk_calloc(o->n_state + per, sizeof(float));
    if (!o->raw) {
        size_t want = o->n_state;
        spk_free(o);
        return spk__fail(NULL, SPK_ERR_NOMEM, "spk_optim_create: no memory for %zu floats of optimizer state", want);
    }
    o->state = (float *)(uintptr_t)spk__align_up((size_t)(uintptr_t)o->raw, SPK__ALIGN);
    o->m = narr >= 1 ? o->state + HDR_FLOATS : NULL;
    o->v = narr >= 2 ? o->state + HDR_FLOATS + arr : NULL;
    *out = o;
    return SPK_OK;
}

void spk_optim_free(spk_optim *o) {
    if (!o) return;
    spk_free(o->raw);
    spk_free(o);
}

float *spk_optim_state(spk_optim *o, size_t *n_floats) {
    if (!o) {
        if (n_floats) *n_floats = 0;
        return NULL;
    }
    if (n_floats) *n_floats = o->n_state;
    return o->state;
}

static uint64_t get_steps(const float *hdr) {
    return (uint64_t)hdr[0] + (uint64_t)hdr[1] * (uint64_t)STEP_SPLIT;
}
#define NORM_BLOCK ((size_t)1 << 16) /* gradients per partial sum of the global norm */

static void set_steps(float *hdr, uint64_t t) {
    hdr[0] = (float)(t % (uint64_t)STEP_SPLIT);
    hdr[1] = (float)(t / (uint64_t)STEP_SPLIT);
}

spk_status spk_optim_step(spk_optim *o, float *params, float *grads, float lr, double *gnorm) {
    if (!o) return spk__fail(NULL, SPK_ERR_INVALID_ARG, "spk_optim_step: optimizer is NULL");
    if (!params || !grads)
        return spk__fail(&o->obj, SPK_ERR_INVALID_ARG, "spk_optim_step: %s is NULL", params ? "grads" : "params");
    if (!(isfinite(lr) && lr >= 0.0f))
        return spk__fail(&o->obj, SPK_ERR_INVALID_ARG, "spk_optim_step: lr = %g: must be finite and >= 0", (double)lr);
    const size_t n = o->n;
    const spk_optim_config *c = &o->cfg;

    /* 1. the global L2 norm, and the NaN/Inf guard before anything is written */
    /* Sums of squares over fixed blocks, then over the blocks in order: the same result on
     * any number of threads. A square of a finite float cannot overflow a double, so the sum
     * is finite exactly when every gradient is; only then is the first bad one looked for. */
    const size_t nblk = (n + NORM_BLOCK - 1) / NORM_BLOCK;
    double ss = 0.0;
    /* (blocks in groups whose partial sums are kept, then added in block order; an ordered
     * clause had made the second thread wait for all of the first thread's blocks) */
    enum { GROUP = 64 };
    for (size_t g0 = 0; g0 < nblk; g0 += GROUP) {
        const int ng = (int)(nblk - g0 < GROUP ? nblk - g0 : GROUP);
        double part[GROUP];
#pragma omp parallel for schedule(static) if (ng > 1)
        for (int q = 0; q < ng; q++) {
            /* eight running sums (one vector), then added in a fixed order: one chain of
             * dependent double adds ran at a quarter of the speed */
            double acc[8] = {0};
            const size_t blk = g0 + (size_t)q;
            const size_t end = (blk + 1) * NORM_BLOCK < n ? (blk + 1) * NORM_BLOCK : n;
            size_t i = blk * NORM_BLOCK;
            for (; i + 8 <= end; i += 8)
                for (int j = 0; j < 8; j++) acc[j] += (double)grads[i + j] * (double)grads[i + j];
            for (; i < end; i++) acc[0] += (double)grads[i] * (double)grads[i];
            part[q] = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
        }
        for (int q = 0; q < ng; q++) ss += part[q];
    }
    if (!isfinite(ss))
        for (size_t i = 0; i < n; i++)
            if (!isfinite(grads[i]))
                return spk__fail(&o->obj, SPK_ERR_NUMERIC,
                                 "spk_optim_step: gradient of parameter %zu is %s; parameters left unchanged", i,
                                 isnan(grads[i]) ? "NaN" : "Inf");
    const double norm = sqrt(ss);
    if (gnorm) *gnorm = norm;

    /* 2. clip_grad_norm_: multiply by clip / (norm + 1e-6) when that is below 1 */
    if (c->clip_norm > 0.0f) {
        double coef = (double)c->clip_norm / (norm + 1e-6);
        if (coef < 1.0)
            for (size_t i = 0; i < n; i++) grads[i] = (float)(grads[i] * coef);
    }

    /* 3. the update */
    uint64_t t = get_steps(o->state) + 1;
    set_steps(o->state, t);
    const double wd = c->weight_decay, lrd = lr;
    if (c->kind == SPK_OPT_SGD) {
        /* torch.optim.SGD: g += wd p; buf = g on the first step, else mu buf + (1 - damp) g;
         * g = g + mu buf (Nesterov) or buf; p -= lr g */
        const double mu = c->momentum, damp = c->dampening;
        float *buf = o->m;
        for (size_t i = 0; i < n; i++) {
            double g = (double)grads[i] + wd * params[i];
            if (buf) {
                double b = t == 1 ? g : mu * buf[i] + (1.0 - damp) * g;
                buf[i] = (float)b;
                g = c->nesterov ? g + mu * (double)buf[i] : (double)buf[i];
            }
            params[i] = (float)(params[i] - lrd * g);
        }
    } else {
        /* torch.optim.Adam / AdamW: (AdamW) p *= 1 - lr wd, (Adam) g += wd p;
         * m = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g^2;
         * p -= (lr / (1 - b1^t)) * m / (sqrt(v) / sqrt(1 - b2^t) + eps) */
        const double b1 = c->beta1, b2 = c->beta2, eps = c->eps;
        const double bc1 = 1.0 - pow(b1, (double)t), bc2s = sqrt(1.0 - pow(b2, (double)t));
        /* the per-step scalars in double, the per-parameter arithmetic in float as torch's
         * (a double sqrt and division per parameter took 13 % of a training step) */
        const float fb1 = (float)b1, fb2 = (float)b2, cb1 = (float)(1.0 - b1), cb2 = (float)(1.0 - b2);
        const float ibc2s = (float)(1.0 / bc2s), feps = (float)eps, step_size = (float)(lrd / bc1), fwd = (float)wd;
        const int decoupled = c->kind == SPK_OPT_ADAMW;
        const float shrink = decoupled ? (float)(1.0 - lrd * wd) : 1.0f;
        float *restrict m = o->m, *restrict v = o->v, *restrict pp = params;
        const float *restrict gg = grads;
#pragma omp parallel for schedule(static) if (n > 65536)
        for (size_t i = 0; i < n; i++) {
            float p = pp[i], g = gg[i];
            if (decoupled) p *= shrink;
            else g += fwd * p;
            const float mi = fb1 * m[i] + cb1 * g;
            const float vi = fb2 * v[i] + cb2 * g * g;
            m[i] = mi;
            v[i] = vi;
            pp[i] = p - step_size * mi / (sqrtf(vi) * ibc2s + feps);
        }
    }
    return SPK_OK;
}
