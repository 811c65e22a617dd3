/* surrogate.c — surrogate gradients dS/du (u = mem - thr) and their primitives P(u), the
 * smooth firing probability or expected spike whose derivative each surrogate is. The
 * forward pass never uses these: it is always the Heaviside step or the sampled noise. */
#include "neuron/neuron_impl.h"

#include <math.h>

#define PI_D 3.14159265358979323846

float spk_surrogate_default_scale(spk_surrogate_kind k) {
    switch (k) {
    case SPK_SURR_ATAN: return (float)(1.0 / PI_D);
    case SPK_SURR_ERF: return 0.5f;
    case SPK_SURR_FAST_SIGMOID: return 25.0f;
    case SPK_SURR_SIGMOID: return 5.0f;
    case SPK_SURR_TRIANGLE: return 1.0f;
    case SPK_SURR_EXP: return 5.0f;
    case SPK_SURR_STE: return 1.0f;
    case SPK_SURR_SOFTPLUS_RAMP: return 4.0f;
    default: return 0.0f;
    }
}

float spk_surrogate_grad(spk_surrogate_kind k, float scale, float u) {
    if (!(scale > 0)) scale = spk_surrogate_default_scale(k);
    return spk__surr(k, scale, u);
}

double spk_surrogate_primitive(spk_surrogate_kind k, float scale_f, double u) {
    double scale = scale_f > 0 ? scale_f : spk_surrogate_default_scale(k);
    double a;
    switch (k) {
    case SPK_SURR_ATAN: return 0.5 + atan(u / scale) / PI_D;
    case SPK_SURR_ERF: return 0.5 * (1.0 + erf(u / scale));
    /* integral of 1/(k|u|+1)^2: not a probability (its range is 2/k), but its derivative is */
    case SPK_SURR_FAST_SIGMOID: return u / (1.0 + scale * fabs(u));
    case SPK_SURR_SIGMOID: return 1.0 / (1.0 + exp(-scale * u));
    case SPK_SURR_TRIANGLE:
        if (u <= -scale) return 0.0;
        if (u >= scale) return 1.0;
        a = u / scale;
        return u < 0 ? 0.5 * (1 + a) * (1 + a) : 1.0 - 0.5 * (1 - a) * (1 - a);
    case SPK_SURR_EXP:
        return u < 0 ? 0.5 * exp(scale * u) : 1.0 - 0.5 * exp(-scale * u);
    case SPK_SURR_STE:
        a = u / scale + 0.5;
        return a < 0 ? 0.0 : a > 1 ? 1.0 : a;
    case SPK_SURR_SOFTPLUS_RAMP: {
        double z = scale * (u + 0.5);
        return (z > 30 ? z : log1p(exp(z))) / scale;
    }
    default: return NAN;
    }
}
