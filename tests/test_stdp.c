/* test_stdp.c — STDP weight changes against their closed forms:
 *   pair, additive   one pre and one post spike at lags -12..12 (dt = 0 potentiates):
 *                    A+ exp(-dt/tau+) for dt >= 0, -A- exp(dt/tau-) for dt < 0
 *   multiplicative   the same pair scaled by (w_max - w) or (w - w_min)
 *   triplet          pre-post-post and post-pre-pre (Pfister & Gerstner 2006)
 *   reward           a pair, then a reward R steps after the post spike:
 *                    reward * A+ exp(-dt/tau+) * exp(-R/tau_e)
 *   bounds           an additive change that would cross w_max / w_min stops there
 *   several synapses each synapse of a 3 x 4 connection sees only its own pair
 *   refusals         bad configurations and sizes */
#include "testutil.h"

#include <string.h>

/* Run `T` steps of a 1 x 1 connection from w0 with pre spikes at steps in pre_t (n_pre of
 * them) and post spikes in post_t; reward r at step rt (-1: none). Returns the final w. */
static float run1(const spk_stdp_config *c, float w0, const int *pre_t, int np, const int *post_t, int nq, int T, float r,
                  int rt) {
    spk_stdp *s;
    if (spk_stdp_create(&s, c, 1, 1) != SPK_OK) return NAN;
    float w = w0;
    for (int t = 0; t < T; t++) {
        float pre = 0, post = 0;
        for (int k = 0; k < np; k++) pre += pre_t[k] == t;
        for (int k = 0; k < nq; k++) post += post_t[k] == t;
        spk_stdp_step(s, &w, &pre, &post, t == rt ? r : 0.0f);
    }
    spk_stdp_free(s);
    return w;
}

static void test_pair(void) {
    spk_stdp_config c = spk_stdp_config_default();
    c.a_plus = 0.02f;
    c.a_minus = 0.015f;
    c.tau_plus = 16.8f;
    c.tau_minus = 33.7f;
    c.w_min = -10;
    c.w_max = 10;
    for (int dt = -12; dt <= 12; dt++) {
        int tp = 20, tq = 20 + dt;
        double want = dt >= 0 ? c.a_plus * exp(-dt / (double)c.tau_plus) : -c.a_minus * exp(dt / (double)c.tau_minus);
        float w = run1(&c, 0.5f, &tp, 1, &tq, 1, 50, 0, -1);
        CHECK_MSG(fabs((w - 0.5) - want) <= 1e-6, "pair dt %d: dw %.9g, closed form %.9g", dt, w - 0.5, want);
    }
    /* multiplicative: LTP x (w_max - w), LTD x (w - w_min) */
    c.dep = SPK_STDP_MULTIPLICATIVE;
    c.w_min = -0.5f;
    c.w_max = 2.0f;
    for (int dt = -5; dt <= 5; dt += 5) {
        int tp = 10, tq = 10 + dt;
        float w0 = 0.7f;
        double want = dt >= 0 ? c.a_plus * exp(-dt / (double)c.tau_plus) * (c.w_max - w0)
                              : -c.a_minus * exp(dt / (double)c.tau_minus) * (w0 - c.w_min);
        float w = run1(&c, w0, &tp, 1, &tq, 1, 30, 0, -1);
        CHECK_MSG(fabs((w - w0) - want) <= 1e-6, "multiplicative dt %d: dw %.9g, closed form %.9g", dt, w - w0, want);
    }
}

static void test_triplet(void) {
    spk_stdp_config c = spk_stdp_config_default();
    c.rule = SPK_STDP_TRIPLET;
    c.a_plus = 0.005f;  /* A2+ */
    c.a_minus = 0.007f; /* A2- */
    c.a3_plus = 0.0062f;
    c.a3_minus = 0.0023f;
    c.tau_plus = 16.8f;
    c.tau_minus = 33.7f;
    c.tau_x = 101.0f;
    c.tau_y = 125.0f;
    c.w_min = -10;
    c.w_max = 10;
    /* pre at 5, posts at 5+t1 and 5+t2: LTP A2+ e^{-t1/tau+} + e^{-t2/tau+} (A2+ + A3+ e^{-(t2-t1)/tau_y}) */
    const int lags[][2] = {{3, 9}, {0, 4}, {7, 30}};
    for (int k = 0; k < 3; k++) {
        int t1 = lags[k][0], t2 = lags[k][1];
        int tp = 5, tq[2] = {5 + t1, 5 + t2};
        double want = c.a_plus * exp(-t1 / (double)c.tau_plus) +
                      exp(-t2 / (double)c.tau_plus) * (c.a_plus + c.a3_plus * exp(-(t2 - t1) / (double)c.tau_y));
        float w = run1(&c, 0, &tp, 1, tq, 2, 60, 0, -1);
        CHECK_MSG(fabs(w - want) <= 1e-6, "triplet pre-post-post (%d, %d): dw %.9g, closed form %.9g", t1, t2, w, want);
        /* post at 5, pres at 5+t1+1 and 5+t2+1 (strictly after the post spike):
         * LTD -A2- e^{-s1/tau-} - e^{-s2/tau-} (A2- + A3- e^{-(s2-s1)/tau_x}) */
        int s1 = t1 + 1, s2 = t2 + 1;
        int q = 5, p[2] = {5 + s1, 5 + s2};
        double want2 = -c.a_minus * exp(-s1 / (double)c.tau_minus) -
                       exp(-s2 / (double)c.tau_minus) * (c.a_minus + c.a3_minus * exp(-(s2 - s1) / (double)c.tau_x));
        float w2 = run1(&c, 0, p, 2, &q, 1, 60, 0, -1);
        CHECK_MSG(fabs(w2 - want2) <= 1e-6, "triplet post-pre-pre (%d, %d): dw %.9g, closed form %.9g", s1, s2, w2, want2);
    }
    /* the pair rule ignores a3: the same pre-post-post with rule PAIR is two pair terms */
    c.rule = SPK_STDP_PAIR;
    int tp = 5, tq[2] = {8, 14};
    double want = c.a_plus * (exp(-3 / (double)c.tau_plus) + exp(-9 / (double)c.tau_plus));
    CHECK_NEAR(run1(&c, 0, &tp, 1, tq, 2, 30, 0, -1), want, 1e-6);
}

static void test_reward_bounds(void) {
    spk_stdp_config c = spk_stdp_config_default();
    c.reward = 1;
    c.tau_e = 50;
    c.w_min = -1;
    c.w_max = 1;
    int tp = 4, tq = 9;
    const int R[] = {0, 7, 25};
    for (int k = 0; k < 3; k++) {
        double want = 0.8 * c.a_plus * exp(-5 / (double)c.tau_plus) * exp(-R[k] / (double)c.tau_e);
        float w = run1(&c, 0, &tp, 1, &tq, 1, 60, 0.8f, tq + R[k]);
        CHECK_MSG(fabs(w - want) <= 1e-6, "reward %d steps after the pair: dw %.9g, closed form %.9g", R[k], w, want);
    }
    /* no reward, no change */
    CHECK_NEAR(run1(&c, 0.25f, &tp, 1, &tq, 1, 60, 0, -1), 0.25, 0);
    /* the eligibility trace itself */
    spk_stdp *s;
    CHECK_OK(spk_stdp_create(&s, &c, 1, 1));
    float w = 0, one = 1, zero = 0;
    spk_stdp_step(s, &w, &one, &zero, 0);
    spk_stdp_step(s, &w, &zero, &one, 0);
    CHECK_NEAR(spk_stdp_trace(s, SPK_STDP_TRACE_ELIGIBILITY)[0], c.a_plus * expf(-1 / c.tau_plus), 1e-7);
    spk_stdp_reset(s);
    CHECK_NEAR(spk_stdp_trace(s, SPK_STDP_TRACE_ELIGIBILITY)[0], 0, 0);
    CHECK(spk_stdp_trace(s, SPK_STDP_TRACE_PRE_SLOW) == NULL);
    spk_stdp_free(s);
    /* bounds: additive potentiation stops at w_max, depression at w_min */
    spk_stdp_config b = spk_stdp_config_default();
    b.a_plus = 0.3f;
    b.a_minus = 0.3f;
    b.w_min = 0;
    b.w_max = 1;
    int p0 = 0, q0 = 0;
    CHECK_NEAR(run1(&b, 0.9f, &p0, 1, &q0, 1, 3, 0, -1), 1.0, 0);
    int p1 = 3, q1 = 2;
    CHECK_NEAR(run1(&b, 0.1f, &p1, 1, &q1, 1, 5, 0, -1), 0.0, 0);
}

/* a 3 x 4 connection: pre j spikes at 10 + j, post i at 12 + 2i; each synapse gets its pair */
static void test_many(void) {
    spk_stdp_config c = spk_stdp_config_default();
    c.w_min = -1;
    c.w_max = 1;
    spk_stdp *s;
    CHECK_OK(spk_stdp_create(&s, &c, 4, 3));
    float w[12] = {0}, pre[4], post[3];
    for (int t = 0; t < 40; t++) {
        for (int j = 0; j < 4; j++) pre[j] = t == 10 + j;
        for (int i = 0; i < 3; i++) post[i] = t == 12 + 2 * i;
        CHECK_OK(spk_stdp_step(s, w, pre, post, 0));
    }
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 4; j++) {
            int dt = (12 + 2 * i) - (10 + j);
            double want = dt >= 0 ? c.a_plus * exp(-dt / (double)c.tau_plus) : -c.a_minus * exp(dt / (double)c.tau_minus);
            CHECK_MSG(fabs(w[i * 4 + j] - want) <= 1e-6, "w[%d][%d] (dt %d) = %.9g, closed form %.9g", i, j, dt, w[i * 4 + j], want);
        }
    spk_stdp_free(s);
}

static void test_refusals(void) {
    spk_stdp *s = (spk_stdp *)1;
    spk_stdp_config c = spk_stdp_config_default();
    CHECK(spk_stdp_create(&s, &c, 0, 3) == SPK_ERR_INVALID_ARG && s == NULL);
    c.tau_plus = 0;
    CHECK(spk_stdp_create(&s, &c, 2, 3) == SPK_ERR_INVALID_ARG && strstr(spk_errmsg(NULL), "tau_plus"));
    c = spk_stdp_config_default();
    c.w_min = 1;
    CHECK(spk_stdp_create(&s, &c, 2, 3) == SPK_ERR_INVALID_ARG && strstr(spk_errmsg(NULL), "w_min"));
    c = spk_stdp_config_default();
    c.a_minus = -1;
    CHECK(spk_stdp_create(&s, &c, 2, 3) == SPK_ERR_INVALID_ARG && strstr(spk_errmsg(NULL), "a_minus"));
    c = spk_stdp_config_default();
    CHECK_OK(spk_stdp_create(&s, &c, 2, 3));
    float w[6] = {0}, z[3] = {0};
    CHECK(spk_stdp_step(s, w, NULL, z, 0) == SPK_ERR_INVALID_ARG);
    CHECK(spk_stdp_step(s, w, z, z, NAN) == SPK_ERR_INVALID_ARG);
    spk_stdp_free(s);
}

int main(void) {
    test_pair();
    test_triplet();
    test_reward_bounds();
    test_many();
    test_refusals();
    return tu_finish("test_stdp");
}
