/* pool.c — sum, average and max pooling over [c, in_h, in_w] planes (1-d with in_h = k_h = 1),
 * forward and backward, with torch's semantics:
 *   output size  floor((in + 2*pad - k)/stride) + 1 (no ceil_mode), pad <= k/2 as torch asks;
 *   SUM          the sum of the in-bounds inputs (padding adds zeros; NIR SumPool2d);
 *   AVG          that sum over k_h*k_w (count_include_pad = 1) or over the in-bounds count (0);
 *   MAX          padding is -inf and never wins; the first maximum in row-major window order
 *                wins, a NaN wins over numbers (as torch); argmax keeps the winner's flat index
 *                in its plane for backward.
 * Planes (row, channel) are independent and each is processed by one thread, in a fixed
 * order, so results do not depend on the number of threads.
 *
 * Deliberately not here: ceil_mode, dilation, adaptive or Lp pooling, and max-pool backward
 * without argmax (backward gets no x; argmax is required for MAX). */
#include "ops/ops.h"

#include <assert.h>
#include <limits.h>
#include <math.h>

#define POOL_PAR_MIN 16384

spk_status spk_pool_geom_init(spk_pool_geom *g) {
    if (!g) return spk__fail(NULL, SPK_ERR_INVALID_ARG, "pool geometry: g is NULL");
    if ((int)g->kind < 0 || g->kind >= SPK_POOL_KIND_COUNT)
        return spk__fail(NULL, SPK_ERR_INVALID_ARG, "pool geometry: kind = %d: unknown", (int)g->kind);
    const struct { const char *name; int v; } pos[] = {
        {"c", g->c},     {"in_h", g->in_h},         {"in_w", g->in_w},         {"k_h", g->k_h},
        {"k_w", g->k_w}, {"stride_h", g->stride_h}, {"stride_w", g->stride_w},
    };
    for (size_t i = 0; i < sizeof pos / sizeof pos[0]; i++)
        if (pos[i].v < 1)
            return spk__fail(NULL, SPK_ERR_INVALID_ARG, "pool geometry: %s = %d: must be >= 1", pos[i].name,
                             pos[i].v);
    if (g->pad_h < 0 || g->pad_w < 0)
        return spk__fail(NULL, SPK_ERR_INVALID_ARG, "pool geometry: pad_h = %d, pad_w = %d: must be >= 0",
                         g->pad_h, g->pad_w);
    /* torch's rule; it also guarantees every window holds at least one real input */
    if (2 * g->pad_h > g->k_h || 2 * g->pad_w > g->k_w)
        return spk__fail(NULL, SPK_ERR_INVALID_ARG,
                         "pool geometry: padding %dx%d with kernel %dx%d: padding must be at most half the kernel",
                         g->pad_h, g->pad_w, g->k_h, g->k_w);
    if (g->count_include_pad != 0 && g->count_include_pad != 1)
        return spk__fail(NULL, SPK_ERR_INVALID_ARG, "pool geometry: count_include_pad = %d: must be 0 or 1",
                         g->count_include_pad);
    int64_t nh = (int64_t)g->in_h + 2 * (int64_t)g->pad_h - g->k_h;
    int64_t nw = (int64_t)g->in_w + 2 * (int64_t)g->pad_w - g->k_w;
    if (nh < 0 || nw < 0)
        return spk__fail(NULL, SPK_ERR_SHAPE,
                         "pool geometry: output would be empty: input %dx%d, padding %dx%d, kernel %dx%d", g->in_h,
                         g->in_w, g->pad_h, g->pad_w, g->k_h, g->k_w);
    int64_t oh = nh / g->stride_h + 1, ow = nw / g->stride_w + 1;
    if ((int64_t)g->c * g->in_h * g->in_w > INT_MAX || (int64_t)g->c * oh * ow > INT_MAX)
        return spk__fail(NULL, SPK_ERR_SHAPE, "pool geometry: a per-row size exceeds %d elements", INT_MAX);
    g->out_h = (int)oh;
    g->out_w = (int)ow;
    return SPK_OK;
}

/* The in-bounds part [*a, *b) of the window starting at `start` of length k over [0, n). */
static inline void clip(int start, int k, int n, int *a, int *b) {
    *a = start < 0 ? 0 : start;
    *b = start + k > n ? n : start + k;
}

/* Max pooling 2x2, stride 2, no padding (the common case): the general loop's result (the
 * first NaN, else the first maximum in row-major window order) without its per-window
 * bounds and kind tests. */
static void max_pool_2x2(float *y, int32_t *argmax, const float *x, int64_t planes, int H, int Wd, int oh, int ow) {
    const size_t iplane = (size_t)H * Wd, oplane = (size_t)oh * ow;
#pragma omp parallel for schedule(static) if ((size_t)planes * iplane > POOL_PAR_MIN)
    for (int64_t pl = 0; pl < planes; pl++) {
        const float *xp = x + (size_t)pl * iplane;
        float *yp = y + (size_t)pl * oplane;
        int32_t *ap = argmax ? argmax + (size_t)pl * oplane : NULL;
        for (int oy = 0; oy < oh; oy++) {
            const float *r0 = xp + (size_t)(2 * oy) * Wd, *r1 = r0 + Wd;
            for (int ox = 0; ox < ow; ox++) {
                const float v[4] = {r0[2 * ox], r0[2 * ox + 1], r1[2 * ox], r1[2 * ox + 1]};
                const int at[4] = {2 * oy * Wd + 2 * ox, 2 * oy * Wd + 2 * ox + 1, (2 * oy + 1) * Wd + 2 * ox,
                                   (2 * oy + 1) * Wd + 2 * ox + 1};
                float best = v[0];
                int bi = 0;
                if (!isnan(best))
                    for (int k = 1; k < 4; k++) {
                        if (isnan(v[k])) { best = v[k]; bi = k; break; }
                        if (v[k] > best) { best = v[k]; bi = k; }
                    }
                yp[(size_t)oy * ow + ox] = best;
                if (ap) ap[(size_t)oy * ow + ox] = at[bi];
            }
        }
    }
}

void spk_op_pool_forward(float *y, int32_t *argmax, const float *x, const spk_pool_geom *g, int M) {
    if (M <= 0) return;
    const int H = g->in_h, Wd = g->in_w, oh = g->out_h, ow = g->out_w;
    const size_t iplane = (size_t)H * Wd, oplane = (size_t)oh * ow;
    const int64_t planes = (int64_t)M * g->c;
    const float full = (float)(g->k_h * g->k_w);
    if (g->kind == SPK_POOL_MAX && g->k_h == 2 && g->k_w == 2 && g->stride_h == 2 && g->stride_w == 2 && !g->pad_h &&
        !g->pad_w && 2 * oh <= H && 2 * ow <= Wd) {
        max_pool_2x2(y, argmax, x, planes, H, Wd, oh, ow);
        return;
    }
#pragma omp parallel for schedule(static) if ((size_t)planes * iplane > POOL_PAR_MIN)
    for (int64_t pl = 0; pl < planes; pl++) {
        const float *xp = x + (size_t)pl * iplane;
        float *yp = y + (size_t)pl * oplane;
        int32_t *ap = argmax ? argmax + (size_t)pl * oplane : NULL;
        for (int oy = 0; oy < oh; oy++) {
            int y0, y1;
            clip(oy * g->stride_h - g->pad_h, g->k_h, H, &y0, &y1);
            for (int ox = 0; ox < ow; ox++) {
                int x0, x1;
                clip(ox * g->stride_w - g->pad_w, g->k_w, Wd, &x0, &x1);
                float out;
                if (g->kind == SPK_POOL_MAX) {
                    int best_i = y0 * Wd + x0; /* padding never wins: start at the first real input */
                    float best = -INFINITY;
                    for (int iy = y0; iy < y1; iy++)
                        for (int ix = x0; ix < x1; ix++) {
                            float v = xp[(size_t)iy * Wd + ix];
                            if (v > best || isnan(v)) {
                                best = v;
                                best_i = iy * Wd + ix;
                                if (isnan(v)) goto found;
                            }
                        }
                found:
                    out = best;
                    if (ap) ap[(size_t)oy * ow + ox] = best_i;
                } else {
                    float s = 0.0f;
                    for (int iy = y0; iy < y1; iy++)
                        for (int ix = x0; ix < x1; ix++) s += xp[(size_t)iy * Wd + ix];
                    if (g->kind == SPK_POOL_AVG)
                        s /= g->count_include_pad ? full : (float)((y1 - y0) * (x1 - x0));
                    out = s;
                }
                yp[(size_t)oy * ow + ox] = out;
            }
        }
    }
}

void spk_op_pool_backward(float *dx, const float *dy, const int32_t *argmax, const spk_pool_geom *g, int M) {
    if (M <= 0 || !dx) return;
    assert(g->kind != SPK_POOL_MAX || argmax);
    const int H = g->in_h, Wd = g->in_w, oh = g->out_h, ow = g->out_w;
    const size_t iplane = (size_t)H * Wd, oplane = (size_t)oh * ow;
    const int64_t planes = (int64_t)M * g->c;
    const float full = (float)(g->k_h * g->k_w);
#pragma omp parallel for schedule(static) if ((size_t)planes * iplane > POOL_PAR_MIN)
    for (int64_t pl = 0; pl < planes; pl++) {
        float *xp = dx + (size_t)pl * iplane;
        const float *yp = dy + (size_t)pl * oplane;
        if (g->kind == SPK_POOL_MAX) {
            const int32_t *ap = argmax + (size_t)pl * oplane;
            for (size_t o = 0; o < oplane; o++) xp[ap[o]] += yp[o];
            continue;
        }
        for (int oy = 0; oy < oh; oy++) {
            int y0, y1;
            clip(oy * g->stride_h - g->pad_h, g->k_h, H, &y0, &y1);
            for (int ox = 0; ox < ow; ox++) {
                int x0, x1;
                clip(ox * g->stride_w - g->pad_w, g->k_w, Wd, &x0, &x1);
                float d = yp[(size_t)oy * ow + ox];
                if (g->kind == SPK_POOL_AVG) d /= g->count_include_pad ? full : (float)((y1 - y0) * (x1 - x0));
                for (int iy = y0; iy < y1; iy++)
                    for (int ix = x0; ix < x1; ix++) xp[(size_t)iy * Wd + ix] += d;
            }
        }
    }
}
