/* encode.c — encoders: values -> spike trains [T, B, F * channels] (spk_encode), their names
 * and defaults. One function per code, each filling one output row (step t, sample b) from
 * the input row of that step; the rows are independent, so the loop over T*B rows is
 * OpenMP-parallel and the result does not depend on the thread count.
 *
 * Randomness (RATE, POISSON, POPULATION) comes from the counter-based generator c->rng,
 * addressed by
 *     step  = (draw mod 2^32) << 32 | t          (the batch number and the time step)
 *     index = b << 32 | (f * channels + k)       (the sample and the output column)
 * so every (draw, t, b, f, channel) has its own Philox block: draws never repeat across
 * steps, samples, features or batches (for draw < 2^32), and a sample's spikes depend on
 * its position b in the batch, not on B. RATE and POPULATION use lane 0 of the block;
 * POISSON joins lanes 0 and 1 into one finer uniform (or uses the block's normal when the
 * mean is above 500).
 *
 * Rounding of spike times and counts (LATENCY, LATENCY_LOG, BURST) is half to even, like
 * torch.round, computed in float32 as snnTorch does.
 *
 * Deliberately not here: snnTorch's `normalize` / `first_spike_time` / `offset` options
 * (scale x or T beforehand), encoders that need state across calls (each call encodes a
 * whole window), and targets encoding (spikes for labels). */
#include "core/core.h"

#include <ctype.h>
#include <limits.h>
#include <math.h>
#include <string.h>

#define ENC_PAR_MIN 32768         /* output elements below which the loop stays serial */
#define POISSON_NORMAL_ABOVE 500.0 /* mean above which POISSON uses the normal approximation */

static const char *const enc_names[SPK_ENC_COUNT] = {
    [SPK_ENC_DIRECT] = "direct",   [SPK_ENC_RATE] = "rate",   [SPK_ENC_POISSON] = "poisson",
    [SPK_ENC_LATENCY] = "latency", [SPK_ENC_LATENCY_LOG] = "latency_log",
    [SPK_ENC_DELTA] = "delta",     [SPK_ENC_PHASE] = "phase", [SPK_ENC_BURST] = "burst",
    [SPK_ENC_POPULATION] = "population",
};

const char *spk_encoding_name(spk_encoding e) {
    if ((int)e < 0 || e >= SPK_ENC_COUNT) return "unknown";
    return enc_names[e];
}

static int name_eq(const char *a, const char *b) {
    for (; *a && *b; a++, b++)
        if (tolower((unsigned char)*a) != tolower((unsigned char)*b)) return 0;
    return *a == *b;
}

int spk_encoding_from_name(const char *s) {
    if (s)
        for (int e = 0; e < SPK_ENC_COUNT; e++)
            if (name_eq(s, enc_names[e])) return e;
    spk__fail(NULL, SPK_ERR_INVALID_ARG,
              "unknown encoding '%s' (expected direct, rate, poisson, latency, latency_log, delta, phase, burst or "
              "population)",
              s ? s : "(null)");
    return -1;
}

spk_encoder_config spk_encoder_default(spk_encoding kind) {
    spk_encoder_config c;
    memset(&c, 0, sizeof c);
    c.kind = kind;
    c.gain = 1.0f;
    c.threshold = kind == SPK_ENC_LATENCY_LOG ? 0.01f : 0.1f;
    c.tau = 5.0f;
    c.bits = 8;
    c.burst_max = 5;
    c.pop_size = 10;
    c.pop_min = 0.0f;
    c.pop_max = 1.0f;
    c.pop_sigma = 0.0f;
    c.rng = (spk_rng){0, 0};
    return c;
}

int spk_encoder_channels(const spk_encoder_config *c) {
    if (!c || (int)c->kind < 0 || c->kind >= SPK_ENC_COUNT) return 0;
    if (c->kind == SPK_ENC_DELTA) return 2;
    if (c->kind == SPK_ENC_POPULATION) return c->pop_size >= 1 ? c->pop_size : 0;
    return 1;
}

/* ---- helpers ------------------------------------------------------------------------- */

/* Round half to even (torch.round), independent of the floating-point environment. */
static inline float round_half_even(float v) {
    float r = floorf(v);
    float d = v - r; /* exact */
    if (d > 0.5f || (d == 0.5f && fmodf(r, 2.0f) != 0.0f)) r += 1.0f;
    return r;
}

/* Bernoulli(p) from a uniform u in (0, 1): p <= 0 never, p >= 1 always. */
static inline float bernoulli(float u, double p) {
    if (p >= 1.0) return 1.0f;
    return p > 0.0 && (double)u < p ? 1.0f : 0.0f;
}

/* A Poisson(lam) count from the block at (step, index): inverse CDF (sequential search from
 * k = 0) on one uniform of about 46 bits (lanes 0 and 1) for lam <= 500; above, the rounded
 * normal approximation round(lam + sqrt(lam) z), clamped at 0 (the skew there is
 * 1/sqrt(lam) < 0.045). */
static float poisson_draw(spk_rng rng, uint64_t step, uint64_t index, double lam) {
    if (!(lam > 0.0)) return 0.0f;
    if (lam > POISSON_NORMAL_ABOVE) {
        float z[2];
        spk_rng_normal2(rng, step, index, z);
        double v = floor(lam + sqrt(lam) * (double)z[0] + 0.5);
        return v > 0.0 ? (float)v : 0.0f;
    }
    float w[4];
    spk_rng_uniform4(rng, step, index, w);
    /* lane 0 on a 2^-23 grid (its exact resolution in [0.5, 1)), refined by lane 1 */
    double hi = floor((double)w[0] * 8388608.0);
    if (hi > 8388607.0) hi = 8388607.0;
    double u = (hi + (double)w[1]) * (1.0 / 8388608.0); /* in (0, 1] */
    double p = exp(-lam), F = p;
    int k = 0, kmax = (int)(lam + 20.0 * sqrt(lam) + 30.0); /* guards against u above the summed F */
    while (u > F && k < kmax) {
        k++;
        p *= lam / k;
        F += p;
    }
    return (float)k;
}

/* The validated parameters of one call, shared by every row. */
typedef struct enc_plan {
    spk_encoding kind;
    int T, B, F, K; /* K: channels per feature */
    int seq;        /* x is a sequence [T, B, F] */
    float gain, threshold, tau;
    int bits, burst_max, pop_size;
    double pop_min, pop_spacing, pop_inv2s2; /* centre k = pop_min + k * spacing; 1 / (2 sigma^2) */
    spk_rng rng;
    uint64_t draw_hi; /* (draw mod 2^32) << 32 */
} enc_plan;

/* Fill out row o [F*K] for step t, sample b. xr: the value row of this step [F]; xprev: the
 * previous step's row for DELTA on a sequence (NULL at t = 0: zeros). */
static void encode_row(const enc_plan *p, int t, int b, const float *xr, const float *xprev, float *o) {
    const int F = p->F, K = p->K;
    const uint64_t step = p->draw_hi | (uint32_t)t;
    const uint64_t ib = (uint64_t)b << 32;
    switch (p->kind) {
    case SPK_ENC_DIRECT:
        for (int f = 0; f < F; f++) o[f] = p->gain * xr[f];
        break;
    case SPK_ENC_RATE: /* the uniforms of indices ib | f drawn as one run, then thresholded */
        spk_rng_uniform_run(p->rng, step, ib, (size_t)F, 0, o);
        for (int f = 0; f < F; f++) o[f] = bernoulli(o[f], (double)(p->gain * xr[f]));
        break;
    case SPK_ENC_POISSON:
        for (int f = 0; f < F; f++) o[f] = poisson_draw(p->rng, step, ib | (uint32_t)f, (double)(p->gain * xr[f]));
        break;
    case SPK_ENC_LATENCY: {
        const float span = (float)(p->T - 1);
        for (int f = 0; f < F; f++) {
            float x = xr[f];
            o[f] = 0.0f;
            if (!(x > 0.0f)) continue;
            if (x > 1.0f) x = 1.0f;
            o[f] = round_half_even((1.0f - x) * span) == (float)t ? 1.0f : 0.0f;
        }
        break;
    }
    case SPK_ENC_LATENCY_LOG: {
        const float last = (float)(p->T - 1);
        for (int f = 0; f < F; f++) {
            float x = xr[f];
            o[f] = 0.0f;
            if (!(x > p->threshold)) continue;
            float ts = round_half_even(p->tau * logf(x / (x - p->threshold)));
            if (!(ts <= last)) ts = last; /* late (or infinite) times are clipped to the last step */
            o[f] = ts == (float)t ? 1.0f : 0.0f;
        }
        break;
    }
    case SPK_ENC_DELTA:
        for (int f = 0; f < F; f++) {
            float d = p->seq ? xr[f] - (xprev ? xprev[f] : 0.0f) : (t == 0 ? xr[f] : 0.0f);
            o[2 * f] = d >= p->threshold ? 1.0f : 0.0f;
            o[2 * f + 1] = d <= -p->threshold ? 1.0f : 0.0f;
        }
        break;
    case SPK_ENC_PHASE: {
        const double levels = (double)(1u << p->bits);
        const int shift = p->bits - 1 - t % p->bits; /* MSB at t % bits == 0 */
        for (int f = 0; f < F; f++) {
            double v = (double)xr[f] * levels;
            uint32_t q = !(v > 0.0) ? 0u : v >= levels ? (uint32_t)levels - 1u : (uint32_t)floor(v);
            o[f] = (float)((q >> shift) & 1u);
        }
        break;
    }
    case SPK_ENC_BURST: {
        const float nmax = (float)p->burst_max;
        for (int f = 0; f < F; f++) {
            float n = round_half_even(xr[f] * nmax);
            if (!(n > 0.0f)) n = 0.0f;
            if (n > nmax) n = nmax;
            o[f] = (float)t < n ? 1.0f : 0.0f;
        }
        break;
    }
    case SPK_ENC_POPULATION:
        for (int f = 0; f < F; f++) {
            for (int k = 0; k < K; k++) {
                double d = (double)xr[f] - (p->pop_min + k * p->pop_spacing);
                double r = exp(-d * d * p->pop_inv2s2);
                uint32_t col = (uint32_t)f * (uint32_t)K + (uint32_t)k;
                o[(size_t)f * K + k] = bernoulli(spk_rng_uniform(p->rng, step, ib | col, 0), r);
            }
        }
        break;
    default:
        break;
    }
}

/* ---- validation ---------------------------------------------------------------------- */

static spk_status bad(const char *field, double v, const char *why, spk_encoding kind) {
    return spk__fail(NULL, SPK_ERR_INVALID_ARG, "spk_encode (%s): %s = %g: %s", spk_encoding_name(kind), field, v,
                     why);
}

static spk_status plan_make(enc_plan *p, const spk_encoder_config *c, int T, int B, int F, const float *x,
                            int x_steps, const float *out, uint64_t draw) {
    if (!c) return spk__fail(NULL, SPK_ERR_INVALID_ARG, "spk_encode: the encoder config is NULL");
    const spk_encoding kind = c->kind;
    if ((int)kind < 0 || kind >= SPK_ENC_COUNT)
        return spk__fail(NULL, SPK_ERR_INVALID_ARG, "spk_encode: kind = %d: not an spk_encoding (0..%d)", (int)kind,
                         SPK_ENC_COUNT - 1);
    if (!x) return spk__fail(NULL, SPK_ERR_INVALID_ARG, "spk_encode (%s): x is NULL", spk_encoding_name(kind));
    if (!out) return spk__fail(NULL, SPK_ERR_INVALID_ARG, "spk_encode (%s): out is NULL", spk_encoding_name(kind));
    if (T < 1) return bad("T", T, "must be >= 1", kind);
    if (B < 1) return bad("B", B, "must be >= 1", kind);
    if (F < 1) return bad("F", F, "must be >= 1", kind);
    if (x_steps != 1 && x_steps != T)
        return spk__fail(NULL, SPK_ERR_SHAPE, "spk_encode (%s): x_steps = %d: must be 1 (static x [B, F]) or T = %d "
                         "(a sequence [T, B, F])", spk_encoding_name(kind), x_steps, T);

    memset(p, 0, sizeof *p);
    p->kind = kind;
    p->T = T;
    p->B = B;
    p->F = F;
    p->K = 1;
    p->seq = x_steps == T && T > 1;
    p->rng = c->rng;
    p->draw_hi = (uint64_t)(uint32_t)draw << 32;

    switch (kind) {
    case SPK_ENC_DIRECT:
        if (!isfinite(c->gain)) return bad("gain", c->gain, "must be finite", kind);
        p->gain = c->gain;
        break;
    case SPK_ENC_RATE:
    case SPK_ENC_POISSON:
        if (!(c->gain >= 0.0f) || !isfinite(c->gain)) return bad("gain", c->gain, "must be finite and >= 0", kind);
        p->gain = c->gain;
        break;
    case SPK_ENC_LATENCY:
        break;
    case SPK_ENC_LATENCY_LOG:
        if (!(c->threshold > 0.0f) || !isfinite(c->threshold))
            return bad("threshold", c->threshold, "must be finite and > 0", kind);
        if (!(c->tau > 0.0f) || !isfinite(c->tau)) return bad("tau", c->tau, "must be finite and > 0", kind);
        p->threshold = c->threshold;
        p->tau = c->tau;
        break;
    case SPK_ENC_DELTA:
        if (!(c->threshold > 0.0f) || !isfinite(c->threshold))
            return bad("threshold", c->threshold, "must be finite and > 0", kind);
        p->threshold = c->threshold;
        p->K = 2;
        break;
    case SPK_ENC_PHASE:
        if (c->bits < 1 || c->bits > 24) return bad("bits", c->bits, "must be in 1..24", kind);
        p->bits = c->bits;
        break;
    case SPK_ENC_BURST:
        if (c->burst_max < 1) return bad("burst_max", c->burst_max, "must be >= 1", kind);
        if (c->burst_max > (1 << 24)) return bad("burst_max", c->burst_max, "must be <= 2^24", kind);
        p->burst_max = c->burst_max;
        break;
    case SPK_ENC_POPULATION: {
        if (c->pop_size < 1) return bad("pop_size", c->pop_size, "must be >= 1", kind);
        if (!isfinite(c->pop_min)) return bad("pop_min", c->pop_min, "must be finite", kind);
        if (!isfinite(c->pop_max)) return bad("pop_max", c->pop_max, "must be finite", kind);
        if (!(c->pop_max > c->pop_min))
            return spk__fail(NULL, SPK_ERR_INVALID_ARG,
                             "spk_encode (population): pop_min = %g, pop_max = %g: need pop_min < pop_max",
                             (double)c->pop_min, (double)c->pop_max);
        if (!(c->pop_sigma >= 0.0f) || !isfinite(c->pop_sigma))
            return bad("pop_sigma", c->pop_sigma, "must be finite and >= 0 (0: the spacing of the centres)", kind);
        double lo = c->pop_min, hi = c->pop_max;
        double spacing = c->pop_size > 1 ? (hi - lo) / (c->pop_size - 1) : hi - lo;
        double sigma = c->pop_sigma > 0.0f ? (double)c->pop_sigma : spacing;
        p->pop_size = c->pop_size;
        p->pop_min = c->pop_size > 1 ? lo : 0.5 * (lo + hi);
        p->pop_spacing = spacing;
        p->pop_inv2s2 = 1.0 / (2.0 * sigma * sigma);
        if (!isfinite(p->pop_inv2s2))
            return bad("pop_sigma", sigma, "the resulting width is too small (1 / (2 sigma^2) overflows)", kind);
        p->K = c->pop_size;
        break;
    }
    default:
        break;
    }

    if ((long long)F * p->K > INT_MAX)
        return spk__fail(NULL, SPK_ERR_INVALID_ARG, "spk_encode (%s): F * channels = %d * %d exceeds INT_MAX",
                         spk_encoding_name(kind), F, p->K);
    size_t row = (size_t)F * (size_t)p->K, rows = (size_t)T * (size_t)B;
    if (rows > SIZE_MAX / sizeof(float) / row)
        return spk__fail(NULL, SPK_ERR_INVALID_ARG,
                         "spk_encode (%s): T * B * F * channels = %d * %d * %zu is too large",
                         spk_encoding_name(kind), T, B, row);

    /* every input value must be finite; scaled codes must stay finite after the gain */
    size_t n = (size_t)x_steps * (size_t)B * (size_t)F;
    int scaled = kind == SPK_ENC_DIRECT || kind == SPK_ENC_POISSON;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(x[i]))
            return spk__fail(NULL, SPK_ERR_INVALID_ARG, "spk_encode (%s): x[%zu] = %g: input values must be finite",
                             spk_encoding_name(kind), i, (double)x[i]);
        if (scaled && !isfinite(p->gain * x[i]))
            return spk__fail(NULL, SPK_ERR_NUMERIC, "spk_encode (%s): gain * x[%zu] = %g * %g overflows float",
                             spk_encoding_name(kind), i, (double)p->gain, (double)x[i]);
    }
    return SPK_OK;
}

/* ---- the encoder --------------------------------------------------------------------- */

spk_status spk_encode(const spk_encoder_config *c, int T, int B, int F, const float *x, int x_steps, float *out,
                      uint64_t draw) {
    enc_plan p;
    spk_status st = plan_make(&p, c, T, B, F, x, x_steps, out, draw);
    if (st != SPK_OK) return st;

    const size_t row = (size_t)F * (size_t)p.K, BF = (size_t)B * (size_t)F;
    const long long rows = (long long)T * B;
#pragma omp parallel for schedule(static) if ((size_t)rows * row > ENC_PAR_MIN)
    for (long long r = 0; r < rows; r++) {
        int t = (int)(r / B), b = (int)(r % B);
        const float *xr = x + (x_steps == 1 ? 0 : (size_t)t * BF) + (size_t)b * F;
        const float *xprev = p.seq && t > 0 ? xr - BF : NULL;
        encode_row(&p, t, b, xr, xprev, out + (size_t)r * row);
    }
    return SPK_OK;
}
