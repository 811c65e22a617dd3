/* yinyang.c — the Yin-Yang dataset of Kriener, Göltz and Petrovici (2021,
 * arXiv:2102.08211; reference implementation github.com/lkriener/yin_yang_data_set).
 *
 * Geometry (r_big 0.5, r_small 0.1): the yin-yang symbol is the disc of radius r_big around
 * (0.5, 0.5). Its two "eyes" are the discs of radius r_small around the left centre
 * L = (0.25, 0.5) and the right centre R = (0.75, 0.5); each eye sits in a lobe, the disc of
 * radius r_big/2 = 0.25 around the same centre. With dL, dR the distances to L and R:
 *   class 2 (dot)  inside either eye:                      dL < r_small or dR < r_small
 *   class 1        the rest of the left lobe, the upper half outside the right lobe, and
 *                  the right eye's rim:                   r_small < dL <= 0.25,
 *                                                          or y > 0.5 and dR > 0.25,
 *                                                          or dR <= r_small
 *   class 0        everything else inside the big disc (the right lobe, the lower half
 *                  outside the left lobe).
 * This is the published rule (after Appendix A of the paper it cites) with the reference's
 * boundary conventions; the label numbers are the reference's (its class_names list calls
 * 0 'yin', 1 'yang', 2 'dot').
 *
 * Sampling: x, y uniform in the unit square, rejected outside the big disc (a point at
 * distance exactly r_big is kept). Each sample has a target class and points are drawn
 * until one of that class appears (rejection), as in the reference. The reference draws each
 * target uniformly at random, so its classes are only approximately balanced; here the
 * targets are a random permutation of a balanced list, so the counts are exact: n/3 each,
 * the n mod 3 extra samples going to classes 0 (and 1). Features are (x, y, 1-x, 1-y).
 * Train, validation and test each use their own generator streams of `seed`, so the sets
 * are independent, reproducible, and each set does not depend on the sizes of the others.
 *
 * Deliberately not here: the reference's numpy random stream (its exact samples cannot be
 * reproduced without numpy's Mersenne Twister; the distribution is the same), and any
 * scaling or encoding of the features (that is the encoder's job). */
#include "data/data_impl.h"

#include <math.h>
#include <string.h>

#define YY_R_BIG 0.5
#define YY_R_SMALL 0.1
#define YY_FEATURES 4
#define YY_CLASSES 3
/* Stream ids: "YY" tag, then 3 sets x {targets, points}. */
#define YY_STREAM_BASE 0x59590000u
#define YY_MAX_TRIES (1u << 22) /* the rarest class (dots) has acceptance ~6 %, so never hit */

/* The class of a point inside the big disc (see the top of the file). */
static int yy_class(double x, double y) {
    double dl = hypot(x - 0.5 * YY_R_BIG, y - YY_R_BIG);
    double dr = hypot(x - 1.5 * YY_R_BIG, y - YY_R_BIG);
    if (dl < YY_R_SMALL || dr < YY_R_SMALL) return 2;
    int left_lobe = dl > YY_R_SMALL && dl <= 0.5 * YY_R_BIG;
    int upper_outside_right = y > YY_R_BIG && dr > 0.5 * YY_R_BIG;
    int right_rim = dr <= YY_R_SMALL;
    return (left_lobe || upper_outside_right || right_rim) ? 1 : 0;
}

static spk_status yy_make(spk_dataset *out, int n, uint64_t seed, unsigned set, const char *name) {
    int dims[1] = {YY_FEATURES};
    spk_status st = spk__dataset_alloc(out, n, 1, dims, 0, YY_CLASSES, "spk_dataset_yinyang");
    if (st || n == 0) return st;
    spk_rng rt = {seed, YY_STREAM_BASE + 2u * set};      /* targets */
    spk_rng rp = {seed, YY_STREAM_BASE + 2u * set + 1u}; /* points  */

    /* balanced targets, then a Fisher-Yates shuffle */
    for (int i = 0; i < n; i++) out->y[i] = i % YY_CLASSES;
    for (int i = n - 1; i > 0; i--) {
        int j = (int)spk__rng_below(rt, 0, (uint64_t)i, (uint64_t)i + 1);
        int32_t t = out->y[i];
        out->y[i] = out->y[j];
        out->y[j] = t;
    }

    for (int i = 0; i < n; i++) {
        int goal = out->y[i];
        uint32_t tries = 0;
        for (;;) {
            if (++tries > YY_MAX_TRIES) {
                int32_t c = out->y[i];
                spk_dataset_free(out);
                return spk__fail(NULL, SPK_ERR_STATE, "spk_dataset_yinyang: no %s point of class %d after %u draws",
                                 name, c, YY_MAX_TRIES);
            }
            /* two draws per block: (step = sample, index = try) */
            float u[4];
            spk_rng_uniform4(rp, (uint64_t)i, tries - 1, u);
            double x = u[0], y = u[1];
            double dx = x - YY_R_BIG, dy = y - YY_R_BIG;
            if (sqrt(dx * dx + dy * dy) > YY_R_BIG) continue;
            if (yy_class(x, y) != goal) continue;
            float *f = out->x + (size_t)i * YY_FEATURES;
            f[0] = (float)x;
            f[1] = (float)y;
            f[2] = (float)(1.0 - x);
            f[3] = (float)(1.0 - y);
            break;
        }
    }
    return SPK_OK;
}

spk_status spk_dataset_yinyang(spk_dataset *train, spk_dataset *val, spk_dataset *test, int n_train, int n_val,
                               int n_test, uint64_t seed) {
    spk_dataset *outs[3] = {train, val, test};
    int ns[3] = {n_train, n_val, n_test};
    static const char *const names[3] = {"train", "validation", "test"};
    for (int s = 0; s < 3; s++) {
        if (ns[s] < 0)
            return spk__fail(NULL, SPK_ERR_INVALID_ARG, "spk_dataset_yinyang: n_%s is %d (must be >= 0)",
                             s == 0 ? "train" : s == 1 ? "val" : "test", ns[s]);
        if (ns[s] > 0 && !outs[s])
            return spk__fail(NULL, SPK_ERR_INVALID_ARG, "spk_dataset_yinyang: the %s set of %d samples has no output",
                             names[s], ns[s]);
    }
    for (int s = 0; s < 3; s++)
        if (outs[s]) memset(outs[s], 0, sizeof *outs[s]);
    for (int s = 0; s < 3; s++) {
        if (!outs[s]) continue;
        spk_status st = yy_make(outs[s], ns[s], seed, (unsigned)s, names[s]);
        if (st) {
            for (int k = 0; k < s; k++)
                if (outs[k]) spk_dataset_free(outs[k]);
            return st;
        }
    }
    return SPK_OK;
}
