/* test_code.c — the encoders and decoders of src/code: every encoder against small
 * hand-computed cases (exact spike positions and counts), the random ones (rate, poisson,
 * population) against their expected means within 4 standard errors, reproducibility for the
 * same (seed, draw) and different spikes for another draw, seed or sample, output identical
 * at 1 and 2 threads, refusal of bad parameters with messages naming the field, and the
 * decoders and the row argmax on hand arrays.
 *
 * Not here: how well a network learns from each code (examples/, the trainer's tests). */
#include "testutil.h"

#include <string.h>

/* ------------------------------------------------------------------ helpers ---------- */

static float *encode_new(const spk_encoder_config *c, int T, int B, int F, const float *x, int x_steps,
                         uint64_t draw) {
    size_t n = (size_t)T * B * F * spk_encoder_channels(c);
    float *out = malloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) out[i] = -7.0f; /* every value must be written */
    spk_status st = spk_encode(c, T, B, F, x, x_steps, out, draw);
    CHECK_MSG(st == SPK_OK, "%s: %s", spk_encoding_name(c->kind), spk_errmsg(NULL));
    return out;
}

/* The step of the single spike of column j (stride `cols`), -1 when silent, -2 when there is
 * more than one or a value other than 0 / 1. */
static int spike_step(const float *out, int T, size_t cols, size_t j) {
    int at = -1;
    for (int t = 0; t < T; t++) {
        float v = out[(size_t)t * cols + j];
        if (v == 1.0f) {
            if (at != -1) return -2;
            at = t;
        } else if (v != 0.0f) {
            return -2;
        }
    }
    return at;
}

/* torch.round: half to even */
static float round_he(float v) {
    float r = floorf(v), d = v - r;
    if (d > 0.5f || (d == 0.5f && fmodf(r, 2.0f) != 0.0f)) r += 1.0f;
    return r;
}

/* Expect `st` with a thread message that contains `needle`. */
static void expect_fail(spk_status got, spk_status want, const char *needle, int line) {
    tu_checks++;
    if (got != want || !strstr(spk_errmsg(NULL), needle)) {
        tu_failures++;
        fprintf(stderr, "%s:%d: expected %s with '%s' in the message, got %s: '%s'\n", __FILE__, line,
                spk_status_str(want), needle, spk_status_str(got), spk_errmsg(NULL));
    }
}
#define EXPECT_FAIL(expr, want, needle) expect_fail((expr), (want), (needle), __LINE__)

/* ------------------------------------------------------------------ names ------------ */

static void test_names(void) {
    const char *enc[] = {"direct", "rate", "poisson", "latency", "latency_log", "delta", "phase", "burst",
                         "population"};
    CHECK(SPK_ENC_COUNT == 9);
    for (int e = 0; e < SPK_ENC_COUNT; e++) {
        CHECK(strcmp(spk_encoding_name((spk_encoding)e), enc[e]) == 0);
        CHECK(spk_encoding_from_name(enc[e]) == e);
    }
    CHECK(spk_encoding_from_name("Latency_LOG") == SPK_ENC_LATENCY_LOG);
    CHECK(spk_encoding_from_name("ratex") == -1);
    CHECK(strstr(spk_errmsg(NULL), "ratex") != NULL);
    CHECK(spk_encoding_from_name("") == -1);
    CHECK(spk_encoding_from_name(NULL) == -1);
    CHECK(strcmp(spk_encoding_name(SPK_ENC_COUNT), "unknown") == 0);

    const char *dec[] = {"count", "first_spike", "mem_max", "mem_mean", "mem_last"};
    CHECK(SPK_DEC_COUNT_KINDS == 5);
    for (int d = 0; d < SPK_DEC_COUNT_KINDS; d++) {
        CHECK(strcmp(spk_decoding_name((spk_decoding)d), dec[d]) == 0);
        CHECK(spk_decoding_from_name(dec[d]) == d);
    }
    CHECK(spk_decoding_from_name("mem") == -1);
    CHECK(strcmp(spk_decoding_name((spk_decoding)-1), "unknown") == 0);
}

static void test_defaults(void) {
    spk_encoder_config c = spk_encoder_default(SPK_ENC_LATENCY_LOG);
    CHECK(c.kind == SPK_ENC_LATENCY_LOG);
    CHECK(c.gain == 1.0f && c.threshold == 0.01f && c.tau == 5.0f);
    CHECK(c.bits == 8 && c.burst_max == 5 && c.pop_size == 10);
    CHECK(c.pop_min == 0.0f && c.pop_max == 1.0f && c.pop_sigma == 0.0f);
    CHECK(c.rng.seed == 0 && c.rng.stream == 0);
    CHECK(spk_encoder_default(SPK_ENC_DELTA).threshold == 0.1f);
    CHECK(spk_encoder_channels(&c) == 1);
    c = spk_encoder_default(SPK_ENC_DELTA);
    CHECK(spk_encoder_channels(&c) == 2);
    c = spk_encoder_default(SPK_ENC_POPULATION);
    CHECK(spk_encoder_channels(&c) == 10);
    c.pop_size = 0;
    CHECK(spk_encoder_channels(&c) == 0);
    CHECK(spk_encoder_channels(NULL) == 0);
    c.kind = SPK_ENC_COUNT;
    CHECK(spk_encoder_channels(&c) == 0);
}

/* ------------------------------------------------------------------ deterministic codes */

static void test_direct(void) {
    spk_encoder_config c = spk_encoder_default(SPK_ENC_DIRECT);
    c.gain = 2.0f;
    const float x[4] = {0.25f, -1.5f, 3.0f, 0.0f}; /* B 2, F 2 */
    float *o = encode_new(&c, 3, 2, 2, x, 1, 0);
    for (int t = 0; t < 3; t++)
        for (int i = 0; i < 4; i++) CHECK(o[t * 4 + i] == 2.0f * x[i]);
    free(o);
    /* a sequence: each step its own value */
    const float xs[6] = {1, 2, 3, 4, 5, 6}; /* T 3, B 1, F 2 */
    c.gain = 1.0f;
    o = encode_new(&c, 3, 1, 2, xs, 3, 0);
    for (int i = 0; i < 6; i++) CHECK(o[i] == xs[i]);
    free(o);
}

static void test_latency(void) {
    spk_encoder_config c = spk_encoder_default(SPK_ENC_LATENCY);
    /* T 5: t = round((1 - x) * 4) */
    const float x[8] = {1.0f, 0.5f, 0.0f, 0.25f, -0.3f, 0.02f, 1.5f, 0.75f};
    const int want[8] = {0, 2, -1, 3, -1, 4, 0, 1};
    float *o = encode_new(&c, 5, 1, 8, x, 1, 0);
    for (int f = 0; f < 8; f++) CHECK_MSG(spike_step(o, 5, 8, f) == want[f], "x = %g", x[f]);
    free(o);
    /* half to even: T 6, x 0.5 -> 2.5 -> 2; T 4, x 0.5 -> 1.5 -> 2; T 1: every x > 0 at t 0 */
    const float h = 0.5f;
    o = encode_new(&c, 6, 1, 1, &h, 1, 0);
    CHECK(spike_step(o, 6, 1, 0) == 2);
    free(o);
    o = encode_new(&c, 4, 1, 1, &h, 1, 0);
    CHECK(spike_step(o, 4, 1, 0) == 2);
    free(o);
    o = encode_new(&c, 1, 1, 1, &h, 1, 0);
    CHECK(o[0] == 1.0f);
    free(o);
    /* batch rows are independent: [T, B, F] layout, B 2 */
    const float xb[2] = {1.0f, 0.0f};
    o = encode_new(&c, 3, 2, 1, xb, 1, 0);
    const float wantb[6] = {1, 0, 0, 0, 0, 0};
    for (int i = 0; i < 6; i++) CHECK(o[i] == wantb[i]);
    free(o);
}

static void test_latency_log(void) {
    spk_encoder_config c = spk_encoder_default(SPK_ENC_LATENCY_LOG); /* tau 5, threshold 0.01 */
    const int T = 20;
    const float x[7] = {1.0f, 0.5f, 0.02f, 0.011f, 0.0101f, 0.01f, 0.0f};
    float *o = encode_new(&c, T, 1, 7, x, 1, 0);
    /* hand values: 5 ln(2) = 3.47 -> 3; 5 ln(11) = 11.99 -> 12; 5 ln(101) = 23.1 -> clipped 19 */
    CHECK(spike_step(o, T, 7, 0) == 0);
    CHECK(spike_step(o, T, 7, 1) == 0);
    CHECK(spike_step(o, T, 7, 2) == 3);
    CHECK(spike_step(o, T, 7, 3) == 12);
    CHECK(spike_step(o, T, 7, 4) == T - 1);
    CHECK(spike_step(o, T, 7, 5) == -1); /* x == threshold: no spike */
    CHECK(spike_step(o, T, 7, 6) == -1);
    free(o);
    /* against the formula on a sweep, tau 3, threshold 0.2 */
    c.tau = 3.0f;
    c.threshold = 0.2f;
    enum { N = 64 };
    float xs[N];
    for (int i = 0; i < N; i++) xs[i] = 0.15f + 0.9f * (float)i / N;
    o = encode_new(&c, T, 1, N, xs, 1, 0);
    int bad = 0;
    for (int i = 0; i < N; i++) {
        int want = -1;
        if (xs[i] > c.threshold) {
            float ts = round_he(c.tau * logf(xs[i] / (xs[i] - c.threshold)));
            want = ts > T - 1 ? T - 1 : (int)ts;
        }
        if (spike_step(o, T, N, i) != want) bad++;
    }
    CHECK_MSG(bad == 0, "%d of %d latency_log times differ from tau*ln(x/(x-thr))", bad, N);
    free(o);
}

static void test_delta(void) {
    spk_encoder_config c = spk_encoder_default(SPK_ENC_DELTA);
    c.threshold = 0.2f;
    /* sequence T 6, B 1, F 1; x[-1] = 0 */
    const float x[6] = {0.3f, 0.8f, 0.85f, 0.5f, 0.5f, 0.65f};
    const float on[6] = {1, 1, 0, 0, 0, 0}, off[6] = {0, 0, 0, 1, 0, 0};
    float *o = encode_new(&c, 6, 1, 1, x, 6, 0);
    for (int t = 0; t < 6; t++) {
        CHECK_MSG(o[2 * t] == on[t], "ON at t %d", t);
        CHECK_MSG(o[2 * t + 1] == off[t], "OFF at t %d", t);
    }
    free(o);
    /* changes of exactly the threshold count (>=, <=); two features, B 1 */
    c.threshold = 0.25f;
    const float xe[8] = {0.25f, 1.0f, 0.5f, 1.0f, 0.25f, 1.0f, 0.0f, 1.0f}; /* [T 4, B 1, F 2] */
    const float want[16] = {1, 0, 1, 0, /* t0: +0.25, +1 */
                            1, 0, 0, 0, /* t1: +0.25, 0 */
                            0, 1, 0, 0, /* t2: -0.25, 0 */
                            0, 1, 0, 0 /* t3: -0.25, 0 */};
    o = encode_new(&c, 4, 1, 2, xe, 4, 0);
    for (int i = 0; i < 16; i++) CHECK_MSG(o[i] == want[i], "i %d: %g", i, o[i]);
    free(o);
    /* static input: the change from 0 happens at t = 0 only */
    c.threshold = 0.1f;
    const float xs[3] = {0.3f, -0.3f, 0.05f};
    o = encode_new(&c, 4, 1, 3, xs, 1, 0);
    const float w0[6] = {1, 0, 0, 1, 0, 0};
    for (int i = 0; i < 6; i++) CHECK(o[i] == w0[i]);
    for (int i = 6; i < 24; i++) CHECK(o[i] == 0.0f);
    free(o);
}

static void test_phase(void) {
    spk_encoder_config c = spk_encoder_default(SPK_ENC_PHASE);
    c.bits = 4;
    /* 0.75 * 16 = 12 = 1100b, MSB first, repeating every 4 steps; 1.0 -> 1111b; 0 -> 0000b;
     * 0.3 -> floor(4.8) = 4 = 0100b */
    const float x[4] = {0.75f, 1.0f, 0.0f, 0.3f};
    const float want[4][8] = {{1, 1, 0, 0, 1, 1, 0, 0}, {1, 1, 1, 1, 1, 1, 1, 1}, {0}, {0, 1, 0, 0, 0, 1, 0, 0}};
    float *o = encode_new(&c, 8, 1, 4, x, 1, 0);
    for (int f = 0; f < 4; f++)
        for (int t = 0; t < 8; t++) CHECK_MSG(o[t * 4 + f] == want[f][t], "x %g t %d", x[f], t);
    free(o);
    /* a sequence: each step encodes its own value's bit */
    c.bits = 2;
    const float xs[4] = {0.75f, 0.25f, 0.5f, 0.5f}; /* 11, 01, 10, 10 -> bits k = 0,1,0,1 */
    const float ws[4] = {1, 1, 1, 0};
    o = encode_new(&c, 4, 1, 1, xs, 4, 0);
    for (int t = 0; t < 4; t++) CHECK(o[t] == ws[t]);
    free(o);
}

static void test_burst(void) {
    spk_encoder_config c = spk_encoder_default(SPK_ENC_BURST);
    c.burst_max = 4;
    /* n = round(x * 4): 0, 1, 2, 4, round(1.5) = 2, round(2.5) = 2 (half to even), x > 1 -> 4 */
    const float x[7] = {0.0f, 0.25f, 0.5f, 1.0f, 0.375f, 0.625f, 3.0f};
    const int n[7] = {0, 1, 2, 4, 2, 2, 4};
    const int T = 6;
    float *o = encode_new(&c, T, 1, 7, x, 1, 0);
    for (int f = 0; f < 7; f++) {
        int cnt = 0, contiguous = 1;
        for (int t = 0; t < T; t++) {
            float v = o[t * 7 + f];
            cnt += v == 1.0f;
            if (v != (t < n[f] ? 1.0f : 0.0f)) contiguous = 0;
        }
        CHECK_MSG(cnt == n[f] && contiguous, "x %g: %d spikes, want %d at steps 0..", x[f], cnt, n[f]);
    }
    free(o);
    /* cut at T */
    const float one = 1.0f;
    o = encode_new(&c, 2, 1, 1, &one, 1, 0);
    CHECK(o[0] == 1.0f && o[1] == 1.0f);
    free(o);
}

/* ------------------------------------------------------------------ random codes ----- */

static void test_rate(void) {
    spk_encoder_config c = spk_encoder_default(SPK_ENC_RATE);
    c.rng = (spk_rng){1234, 7};
    enum { F = 7 };
    const float x[F] = {0.0f, 0.1f, 0.5f, 0.9f, 1.0f, 1.5f, -0.2f};
    enum { T = 400, B = 50 }; /* 20000 draws per feature */
    float xb[B * F];
    for (int i = 0; i < B * F; i++) xb[i] = x[i % F];
    float *o = encode_new(&c, T, B, F, xb, 1, 3);
    const double N = (double)T * B;
    for (int f = 0; f < F; f++) {
        double s = 0;
        int binary = 1;
        for (size_t i = f; i < (size_t)T * B * F; i += F) {
            s += o[i];
            binary &= o[i] == 0.0f || o[i] == 1.0f;
        }
        double p = x[f] < 0 ? 0 : x[f] > 1 ? 1 : x[f];
        CHECK(binary);
        CHECK_NEAR(s / N, p, 4.0 * sqrt(p * (1 - p) / N));
    }
    free(o);
    /* gain scales the probability */
    c.gain = 0.5f;
    const float xg = 0.8f;
    o = encode_new(&c, 20000, 1, 1, &xg, 1, 0);
    double s = 0;
    for (int i = 0; i < 20000; i++) s += o[i];
    CHECK_NEAR(s / 20000, 0.4, 4.0 * sqrt(0.4 * 0.6 / 20000));
    free(o);
}

static void test_poisson(void) {
    spk_encoder_config c = spk_encoder_default(SPK_ENC_POISSON);
    c.rng = (spk_rng){99, 1};
    enum { F = 6 };
    const float x[F] = {0.0f, 0.1f, 1.0f, 3.5f, 20.0f, 800.0f};
    enum { T = 200, B = 100 }; /* 20000 draws per feature */
    float xb[B * F];
    for (int i = 0; i < B * F; i++) xb[i] = x[i % F];
    float *o = encode_new(&c, T, B, F, xb, 1, 0);
    const double N = (double)T * B;
    for (int f = 0; f < F; f++) {
        double s = 0, s2 = 0;
        int integer = 1;
        for (size_t i = f; i < (size_t)T * B * F; i += F) {
            s += o[i];
            s2 += (double)o[i] * o[i];
            integer &= o[i] >= 0.0f && o[i] == floorf(o[i]);
        }
        double lam = x[f], mean = s / N, var = s2 / N - mean * mean;
        CHECK(integer);
        CHECK_NEAR(mean, lam, 4.0 * sqrt(lam / N));
        /* the variance of a Poisson is its mean; sd of the sample variance ~ lam sqrt(2/N) for large lam */
        if (lam > 0) CHECK_NEAR(var / lam, 1.0, 4.0 * sqrt((2.0 + 1.0 / lam) / N));
    }
    free(o);
    /* gain */
    c.gain = 4.0f;
    const float xg = 0.5f;
    o = encode_new(&c, 20000, 1, 1, &xg, 1, 1);
    double s = 0;
    for (int i = 0; i < 20000; i++) s += o[i];
    CHECK_NEAR(s / 20000, 2.0, 4.0 * sqrt(2.0 / 20000));
    free(o);
}

static void test_population(void) {
    spk_encoder_config c = spk_encoder_default(SPK_ENC_POPULATION);
    c.pop_size = 5; /* centres 0, .25, .5, .75, 1; sigma = spacing = 0.25 */
    c.rng = (spk_rng){5, 0};
    const int T = 4000;
    const float x[2] = {0.5f, 0.3f};
    float *o = encode_new(&c, T, 1, 2, x, 1, 0);
    for (int f = 0; f < 2; f++) {
        double cnt[5] = {0};
        for (int t = 0; t < T; t++)
            for (int k = 0; k < 5; k++) cnt[k] += o[t * 10 + f * 5 + k];
        int best = 0;
        for (int k = 1; k < 5; k++)
            if (cnt[k] > cnt[best]) best = k;
        CHECK_MSG(best == (f == 0 ? 2 : 1), "x %g: channel %d fires most", x[f], best);
        for (int k = 0; k < 5; k++) {
            double d = x[f] - 0.25 * k, r = exp(-d * d / (2 * 0.0625));
            CHECK_NEAR(cnt[k] / T, r, 4.0 * sqrt(r * (1 - r) / T) + 1e-12);
        }
    }
    CHECK(o[0 * 10 + 2] == 1.0f); /* x on a centre: r = 1, every step */
    free(o);
    /* explicit sigma, and a single channel centred at the midpoint of [min, max] */
    c.pop_size = 1;
    c.pop_min = -1.0f;
    c.pop_max = 1.0f;
    c.pop_sigma = 0.5f;
    const float x1[2] = {0.0f, 0.5f};
    o = encode_new(&c, T, 1, 2, x1, 1, 2);
    double s0 = 0, s1 = 0;
    for (int t = 0; t < T; t++) {
        s0 += o[2 * t];
        s1 += o[2 * t + 1];
    }
    double r1 = exp(-0.25 / (2 * 0.25));
    CHECK(s0 == T);
    CHECK_NEAR(s1 / T, r1, 4.0 * sqrt(r1 * (1 - r1) / T));
    free(o);
}

/* Same (seed, draw): same spikes; another draw, seed or sample: different; 1 vs 2 threads:
 * identical; a sample's spikes do not depend on B. */
static void test_reproducible(void) {
    const int T = 50, B = 16, F = 100; /* above the parallel threshold */
    float *x = malloc((size_t)B * F * sizeof(float));
    for (int i = 0; i < B * F; i++) x[i] = 0.5f; /* the same value everywhere */
    const spk_encoding kinds[3] = {SPK_ENC_RATE, SPK_ENC_POISSON, SPK_ENC_POPULATION};
    for (int k = 0; k < 3; k++) {
        spk_encoder_config c = spk_encoder_default(kinds[k]);
        c.rng = (spk_rng){42, 3};
        const char *nm = spk_encoding_name(kinds[k]);
        size_t n = (size_t)T * B * F * spk_encoder_channels(&c), row = (size_t)F * spk_encoder_channels(&c);
        CHECK_OK(spk_set_threads(1));
        float *a = encode_new(&c, T, B, F, x, 1, 10);
        CHECK_OK(spk_set_threads(2));
        float *b = encode_new(&c, T, B, F, x, 1, 10);
        float *d = encode_new(&c, T, B, F, x, 1, 11);
        c.rng.seed = 43;
        float *e = encode_new(&c, T, B, F, x, 1, 10);
        c.rng.seed = 42;
        float *h = encode_new(&c, T, 4, F, x, 1, 10); /* B 4: the first 4 samples */
        CHECK_MSG(memcmp(a, b, n * sizeof(float)) == 0, "%s: 1 and 2 threads differ", nm);
        CHECK_MSG(memcmp(a, d, n * sizeof(float)) != 0, "%s: draw 11 repeats draw 10", nm);
        CHECK_MSG(memcmp(a, e, n * sizeof(float)) != 0, "%s: seed 43 repeats seed 42", nm);
        CHECK_MSG(memcmp(a, a + row, row * sizeof(float)) != 0, "%s: samples 0 and 1 share draws", nm);
        CHECK_MSG(memcmp(a, a + B * row, row * sizeof(float)) != 0, "%s: steps 0 and 1 share draws", nm);
        CHECK_MSG(memcmp(a, a + 1, (row - 1) * sizeof(float)) != 0, "%s: features share draws", nm);
        int sameB = 1;
        for (int t = 0; t < T; t++)
            sameB &= memcmp(a + (size_t)t * B * row, h + (size_t)t * 4 * row, 4 * row * sizeof(float)) == 0;
        CHECK_MSG(sameB, "%s: a sample's spikes depend on B", nm);
        free(a);
        free(b);
        free(d);
        free(e);
        free(h);
    }
    /* the deterministic codes at 1 and 2 threads too (a sequence for delta) */
    float *xs = malloc((size_t)T * B * F * sizeof(float));
    for (size_t i = 0; i < (size_t)T * B * F; i++) xs[i] = (float)((i * 2654435761u) % 1000) / 999.0f;
    for (int k = 0; k < SPK_ENC_COUNT; k++) {
        spk_encoder_config c = spk_encoder_default((spk_encoding)k);
        size_t n = (size_t)T * B * F * spk_encoder_channels(&c);
        CHECK_OK(spk_set_threads(1));
        float *a = encode_new(&c, T, B, F, xs, T, 0);
        CHECK_OK(spk_set_threads(2));
        float *b = encode_new(&c, T, B, F, xs, T, 0);
        CHECK_MSG(memcmp(a, b, n * sizeof(float)) == 0, "%s: 1 and 2 threads differ", spk_encoding_name(c.kind));
        free(a);
        free(b);
    }
    free(xs);
    free(x);
}

/* ------------------------------------------------------------------ refusals --------- */

static void test_invalid(void) {
    float x[4] = {0.5f, 0.5f, 0.5f, 0.5f}, out[64];
    for (int i = 0; i < 64; i++) out[i] = -3.0f;
    spk_encoder_config c = spk_encoder_default(SPK_ENC_RATE);
    EXPECT_FAIL(spk_encode(NULL, 2, 1, 1, x, 1, out, 0), SPK_ERR_INVALID_ARG, "config");
    EXPECT_FAIL(spk_encode(&c, 0, 1, 1, x, 1, out, 0), SPK_ERR_INVALID_ARG, "T = 0");
    EXPECT_FAIL(spk_encode(&c, 2, 0, 1, x, 1, out, 0), SPK_ERR_INVALID_ARG, "B = 0");
    EXPECT_FAIL(spk_encode(&c, 2, 1, -1, x, 1, out, 0), SPK_ERR_INVALID_ARG, "F = -1");
    EXPECT_FAIL(spk_encode(&c, 4, 1, 1, x, 3, out, 0), SPK_ERR_SHAPE, "x_steps = 3");
    EXPECT_FAIL(spk_encode(&c, 2, 1, 1, NULL, 1, out, 0), SPK_ERR_INVALID_ARG, "x is NULL");
    EXPECT_FAIL(spk_encode(&c, 2, 1, 1, x, 1, NULL, 0), SPK_ERR_INVALID_ARG, "out is NULL");
    c.gain = -1.0f;
    EXPECT_FAIL(spk_encode(&c, 2, 1, 1, x, 1, out, 0), SPK_ERR_INVALID_ARG, "gain = -1");
    c.gain = NAN;
    EXPECT_FAIL(spk_encode(&c, 2, 1, 1, x, 1, out, 0), SPK_ERR_INVALID_ARG, "gain");
    c = spk_encoder_default(SPK_ENC_POISSON);
    c.gain = 1e30f;
    x[1] = 1e20f;
    EXPECT_FAIL(spk_encode(&c, 2, 1, 2, x, 1, out, 0), SPK_ERR_NUMERIC, "x[1]");
    x[1] = 0.5f;
    c = spk_encoder_default(SPK_ENC_LATENCY);
    x[2] = NAN;
    EXPECT_FAIL(spk_encode(&c, 2, 1, 4, x, 1, out, 0), SPK_ERR_INVALID_ARG, "x[2]");
    x[2] = 0.5f;
    c.kind = SPK_ENC_COUNT;
    EXPECT_FAIL(spk_encode(&c, 2, 1, 1, x, 1, out, 0), SPK_ERR_INVALID_ARG, "kind");
    c = spk_encoder_default(SPK_ENC_DELTA);
    c.threshold = 0.0f;
    EXPECT_FAIL(spk_encode(&c, 2, 1, 1, x, 1, out, 0), SPK_ERR_INVALID_ARG, "threshold = 0");
    c = spk_encoder_default(SPK_ENC_LATENCY_LOG);
    c.threshold = -0.5f;
    EXPECT_FAIL(spk_encode(&c, 2, 1, 1, x, 1, out, 0), SPK_ERR_INVALID_ARG, "threshold = -0.5");
    c = spk_encoder_default(SPK_ENC_LATENCY_LOG);
    c.tau = 0.0f;
    EXPECT_FAIL(spk_encode(&c, 2, 1, 1, x, 1, out, 0), SPK_ERR_INVALID_ARG, "tau = 0");
    c = spk_encoder_default(SPK_ENC_PHASE);
    c.bits = 0;
    EXPECT_FAIL(spk_encode(&c, 2, 1, 1, x, 1, out, 0), SPK_ERR_INVALID_ARG, "bits = 0");
    c.bits = 25;
    EXPECT_FAIL(spk_encode(&c, 2, 1, 1, x, 1, out, 0), SPK_ERR_INVALID_ARG, "bits = 25");
    c = spk_encoder_default(SPK_ENC_BURST);
    c.burst_max = 0;
    EXPECT_FAIL(spk_encode(&c, 2, 1, 1, x, 1, out, 0), SPK_ERR_INVALID_ARG, "burst_max = 0");
    c = spk_encoder_default(SPK_ENC_POPULATION);
    c.pop_size = 0;
    EXPECT_FAIL(spk_encode(&c, 2, 1, 1, x, 1, out, 0), SPK_ERR_INVALID_ARG, "pop_size = 0");
    c = spk_encoder_default(SPK_ENC_POPULATION);
    c.pop_min = 1.0f;
    c.pop_max = 1.0f;
    EXPECT_FAIL(spk_encode(&c, 2, 1, 1, x, 1, out, 0), SPK_ERR_INVALID_ARG, "pop_min");
    c = spk_encoder_default(SPK_ENC_POPULATION);
    c.pop_sigma = -0.1f;
    EXPECT_FAIL(spk_encode(&c, 2, 1, 1, x, 1, out, 0), SPK_ERR_INVALID_ARG, "pop_sigma");
    int untouched = 1;
    for (int i = 0; i < 64; i++) untouched &= out[i] == -3.0f;
    CHECK_MSG(untouched, "a refused call wrote to out");
    /* fields a kind does not use are not checked */
    c = spk_encoder_default(SPK_ENC_LATENCY);
    c.threshold = -1.0f;
    c.bits = 0;
    c.pop_size = 0;
    CHECK_OK(spk_encode(&c, 2, 1, 1, x, 1, out, 0));
}

/* ------------------------------------------------------------------ decoders --------- */

static void test_decode(void) {
    enum { T = 4, B = 2, C = 3 };
    /* spikes[t][b][c] */
    const float spk[T][B][C] = {
        {{0, 0, 0}, {0, 0, 0}},
        {{0, 1, 1}, {0, 0, 0}},
        {{1, 1, 0}, {0, 0, 0}},
        {{0, 1, 1}, {0, 0, 1}},
    };
    float s[B * C];
    spk_decode(SPK_DEC_COUNT, T, B, C, &spk[0][0][0], NULL, s);
    const float cnt[B * C] = {1, 3, 2, 0, 0, 1};
    for (int i = 0; i < B * C; i++) CHECK(s[i] == cnt[i]);

    /* first spike: -first + n/(T+1); b0: c1 and c2 first at 1, c1 spikes more -> c1 wins;
     * c0 first at 2; b1: silent classes score -T, c2 first at 3 */
    spk_decode(SPK_DEC_FIRST_SPIKE, T, B, C, &spk[0][0][0], NULL, s);
    const float fs[B * C] = {-2.0f + 1.0f / 5, -1.0f + 3.0f / 5, -1.0f + 2.0f / 5, -4.0f, -4.0f, -3.0f + 1.0f / 5};
    for (int i = 0; i < B * C; i++) CHECK_NEAR(s[i], fs[i], 1e-6);
    int32_t pred[B];
    spk_argmax_rows(s, B, C, pred);
    CHECK(pred[0] == 1 && pred[1] == 2);
    /* an exact tie (same first step, same count): the first class wins */
    const float tie[2][1][2] = {{{1, 1}}, {{0, 0}}};
    float st[2];
    spk_decode(SPK_DEC_FIRST_SPIKE, 2, 1, 2, &tie[0][0][0], NULL, st);
    CHECK(st[0] == st[1]);
    spk_argmax_rows(st, 1, 2, pred);
    CHECK(pred[0] == 0);

    /* membranes */
    const float mem[T][B][C] = {
        {{0.5f, -1, 2}, {0, 0, -4}},
        {{1.5f, -2, 1}, {0, 1, -3}},
        {{-1, -3, 0}, {0, 2, -2}},
        {{0.25f, -4, 4}, {1, 3, -1}},
    };
    spk_decode(SPK_DEC_MEM_MAX, T, B, C, NULL, &mem[0][0][0], s);
    const float mx[B * C] = {1.5f, -1, 4, 1, 3, -1};
    for (int i = 0; i < B * C; i++) CHECK(s[i] == mx[i]);
    spk_decode(SPK_DEC_MEM_MEAN, T, B, C, NULL, &mem[0][0][0], s);
    const float mn[B * C] = {0.3125f, -2.5f, 1.75f, 0.25f, 1.5f, -2.5f};
    for (int i = 0; i < B * C; i++) CHECK(s[i] == mn[i]);
    spk_decode(SPK_DEC_MEM_LAST, T, B, C, NULL, &mem[0][0][0], s);
    const float ls[B * C] = {0.25f, -4, 4, 1, 3, -1};
    for (int i = 0; i < B * C; i++) CHECK(s[i] == ls[i]);

    /* what the decoding needs is missing: NaN scores; no room: nothing written */
    spk_decode(SPK_DEC_MEM_MAX, T, B, C, &spk[0][0][0], NULL, s);
    CHECK(isnan(s[0]) && isnan(s[B * C - 1]));
    spk_decode(SPK_DEC_COUNT, 0, B, C, &spk[0][0][0], NULL, s);
    CHECK(isnan(s[0]));
    spk_decode(SPK_DEC_COUNT_KINDS, T, B, C, &spk[0][0][0], &mem[0][0][0], s);
    CHECK(isnan(s[0]));
    s[0] = 7.0f;
    spk_decode(SPK_DEC_COUNT, T, 0, C, &spk[0][0][0], NULL, s);
    CHECK(s[0] == 7.0f);

    /* larger, at 1 and 2 threads: identical */
    enum { T2 = 30, B2 = 64, C2 = 50 };
    float *sp = malloc((size_t)T2 * B2 * C2 * sizeof(float));
    for (size_t i = 0; i < (size_t)T2 * B2 * C2; i++) sp[i] = (float)((i * 2654435761u >> 7) % 5 == 0);
    float *s1 = malloc((size_t)B2 * C2 * sizeof(float)), *s2 = malloc((size_t)B2 * C2 * sizeof(float));
    for (int d = 0; d < SPK_DEC_COUNT_KINDS; d++) {
        CHECK_OK(spk_set_threads(1));
        spk_decode((spk_decoding)d, T2, B2, C2, sp, sp, s1);
        CHECK_OK(spk_set_threads(2));
        spk_decode((spk_decoding)d, T2, B2, C2, sp, sp, s2);
        CHECK_MSG(memcmp(s1, s2, (size_t)B2 * C2 * sizeof(float)) == 0, "%s: threads differ",
                  spk_decoding_name((spk_decoding)d));
    }
    free(sp);
    free(s1);
    free(s2);
}

/* The first-spike tie fraction keeps every (first, n) distinct in float up to T = 4095. */
static void test_first_spike_resolution(void) {
    const int T = 4095;
    float *sp = calloc((size_t)T, sizeof(float));
    float prev = -INFINITY;
    int ordered = 1;
    /* walk scores in increasing order: first from T-1 down to 0, n from 1 up to T - first */
    for (int first = T - 1; first >= 0 && ordered; first -= 97) {
        for (int n = 1; n <= T - first; n += (n < 8 ? 1 : 61)) {
            memset(sp, 0, (size_t)T * sizeof(float));
            for (int k = 0; k < n; k++) sp[first + k] = 1.0f;
            float s;
            spk_decode(SPK_DEC_FIRST_SPIKE, T, 1, 1, sp, NULL, &s);
            if (!(s > prev)) ordered = 0;
            prev = s;
        }
    }
    CHECK_MSG(ordered, "first-spike scores not strictly increasing at T = %d", T);
    free(sp);
}

static void test_argmax(void) {
    const float s[4 * 3] = {1, 3, 3, /* tie: first wins */
                            -1, -1, -1, NAN, 2, 1, NAN, NAN, NAN};
    int32_t p[4] = {-1, -1, -1, -1};
    spk_argmax_rows(s, 4, 3, p);
    CHECK(p[0] == 1);
    CHECK(p[1] == 0);
    CHECK(p[2] == 1); /* NaN never wins */
    CHECK(p[3] == 0); /* all NaN: class 0 */
    int32_t q = 9;
    spk_argmax_rows(s, 1, 0, &q);
    CHECK(q == 9);
}

int main(void) {
    test_names();
    test_defaults();
    test_direct();
    test_latency();
    test_latency_log();
    test_delta();
    test_phase();
    test_burst();
    test_rate();
    test_poisson();
    test_population();
    test_reproducible();
    test_invalid();
    test_decode();
    test_first_spike_resolution();
    test_argmax();
    return tu_finish("test_code");
}
