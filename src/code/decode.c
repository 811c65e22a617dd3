/* decode.c — decoders: spike trains or readout membranes [T, B, C] -> class scores [B, C]
 * (spike count, first-spike time, max / mean / last membrane), their names, and the row
 * argmax that turns scores into predictions. Each (b, c) is reduced over t in a fixed order
 * (sums in double), so results do not depend on the thread count.
 *
 * A step "has a spike" when its value is > 0 (as in the trainer and the first-spike loss);
 * COUNT sums the values themselves, so graded spikes count by their size.
 *
 * Deliberately not here: losses (train/loss.c), population-code decoding (sum the channels
 * first), and error reporting: these functions return nothing, so bad arguments (sizes < 1,
 * a NULL array the decoding needs) leave `scores` / `pred` untouched or, where the sizes
 * allow, fill scores with NaN so that a caller's finite check notices. */
#include "core/core.h"

#include <math.h>
#include <string.h>

#define DEC_PAR_MIN 65536 /* input elements below which the loop stays serial */

static const char *const dec_names[SPK_DEC_COUNT_KINDS] = {
    [SPK_DEC_COUNT] = "count",       [SPK_DEC_FIRST_SPIKE] = "first_spike", [SPK_DEC_MEM_MAX] = "mem_max",
    [SPK_DEC_MEM_MEAN] = "mem_mean", [SPK_DEC_MEM_LAST] = "mem_last",
};

const char *spk_decoding_name(spk_decoding d) {
    if ((int)d < 0 || d >= SPK_DEC_COUNT_KINDS) return "unknown";
    return dec_names[d];
}

int spk_decoding_from_name(const char *s) {
    if (s)
        for (int d = 0; d < SPK_DEC_COUNT_KINDS; d++)
            if (strcmp(s, dec_names[d]) == 0) return d;
    spk__fail(NULL, SPK_ERR_INVALID_ARG,
              "unknown decoding '%s' (expected count, first_spike, mem_max, mem_mean or mem_last)", s ? s : "(null)");
    return -1;
}

/* Score of one (b, c): v points at [t=0, b, c], consecutive steps are `stride` apart. */
static float decode_one(spk_decoding d, int T, size_t stride, const float *v) {
    switch (d) {
    case SPK_DEC_COUNT: {
        double s = 0.0;
        for (int t = 0; t < T; t++) s += v[(size_t)t * stride];
        return (float)s;
    }
    case SPK_DEC_FIRST_SPIKE: {
        int first = T, n = 0;
        for (int t = 0; t < T; t++)
            if (v[(size_t)t * stride] > 0.0f) {
                if (first == T) first = t;
                n++;
            }
        /* -first, plus a tie-breaking fraction n / (T + 1) < 1 for more spiking steps */
        return (float)(-(double)first + (double)n / (double)(T + 1));
    }
    case SPK_DEC_MEM_MAX: {
        float m = v[0];
        for (int t = 1; t < T; t++)
            if (v[(size_t)t * stride] > m || isnan(m)) m = v[(size_t)t * stride];
        return m;
    }
    case SPK_DEC_MEM_MEAN: {
        double s = 0.0;
        for (int t = 0; t < T; t++) s += v[(size_t)t * stride];
        return (float)(s / T);
    }
    case SPK_DEC_MEM_LAST:
        return v[(size_t)(T - 1) * stride];
    default:
        return NAN;
    }
}

void spk_decode(spk_decoding d, int T, int B, int C, const float *spikes, const float *mem, float *scores) {
    if (!scores || B < 1 || C < 1) return;
    const size_t BC = (size_t)B * (size_t)C;
    const float *src = d == SPK_DEC_COUNT || d == SPK_DEC_FIRST_SPIKE ? spikes : mem;
    if ((int)d < 0 || d >= SPK_DEC_COUNT_KINDS || T < 1 || !src) {
        for (size_t i = 0; i < BC; i++) scores[i] = NAN;
        return;
    }
    const long long n = (long long)BC;
#pragma omp parallel for schedule(static) if ((size_t)T * BC > DEC_PAR_MIN)
    for (long long i = 0; i < n; i++) scores[i] = decode_one(d, T, BC, src + i);
}

void spk_argmax_rows(const float *scores, int B, int C, int32_t *pred) {
    if (!scores || !pred || B < 1 || C < 1) return;
    for (int b = 0; b < B; b++) {
        const float *r = scores + (size_t)b * C;
        int best = 0;
        while (best < C && isnan(r[best])) best++; /* NaN never wins over a number */
        if (best == C) best = 0;                   /* all NaN: class 0 */
        for (int c = best + 1; c < C; c++)
            if (r[c] > r[best]) best = c;
        pred[b] = best;
    }
}
