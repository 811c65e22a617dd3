/* test_train_parts.c — the pieces of training, each against numbers worked out by hand or
 * against torch's update rules written out in double precision:
 *   losses      hand values for tiny cases, every smooth gradient against central finite
 *               differences, MAX's gradient on the arg-max step, the first-spike rule
 *   optimizers  SGD (plain, momentum+dampening, Nesterov, weight decay), Adam, AdamW over
 *               several steps; clipping; NaN/Inf guard; config checks; state round trip
 *   schedules   warm-up ramp, step decay, cosine endpoints and midpoint, invalid -> NaN
 *   init        bound, range, mean and variance over 1e5 draws (4 sigma), determinism */
#include "testutil.h"
#include "core/core.h"

#include <string.h>

/* ---- loss helpers ------------------------------------------------------------------------ */

typedef enum { L_COUNT, L_MEM_SUM, L_MEM_MAX, L_MEM_LAST, L_MEM_STEP, L_MSE, L_RATE_L1, L_RATE_L2, L_FIRST } loss_id;
static const char *const loss_names[] = {"ce_count", "ce_mem_sum", "ce_mem_max", "ce_mem_last",
                                         "ce_mem_per_step", "mse_count", "rate_l1", "rate_l2", "first"};

/* Evaluate loss `id` on x[T, B, C] and write its gradient into g (rate reg: zeroed first). */
static double eval_loss(loss_id id, float *g, const float *x, const int32_t *y, int T, int B, int C) {
    switch (id) {
    case L_COUNT: return spk_loss_ce_count(g, x, y, T, B, C);
    case L_MEM_SUM: return spk_loss_ce_mem(g, x, y, T, B, C, SPK_MEM_SUM);
    case L_MEM_MAX: return spk_loss_ce_mem(g, x, y, T, B, C, SPK_MEM_MAX);
    case L_MEM_LAST: return spk_loss_ce_mem(g, x, y, T, B, C, SPK_MEM_LAST);
    case L_MEM_STEP: return spk_loss_ce_mem(g, x, y, T, B, C, SPK_MEM_PER_STEP);
    case L_MSE: return spk_loss_mse_count(g, x, y, T, B, C, 0.75f, 0.25f);
    case L_RATE_L1:
    case L_RATE_L2:
        memset(g, 0, (size_t)T * B * C * sizeof *g);
        return spk_loss_rate_reg(g, x, T, B, C, 0.3f, 1.7f, id == L_RATE_L2);
    case L_FIRST: return spk_loss_ce_first_spike(g, x, y, T, B, C);
    }
    return NAN;
}

/* Central differences of loss `id` at every element of x, against the analytic gradient. */
static void check_fd(loss_id id, float *x, const int32_t *y, int T, int B, int C, float h, double tol) {
    size_t n = (size_t)T * B * C;
    float *g = malloc(n * sizeof *g), *gd = malloc(n * sizeof *gd);
    eval_loss(id, g, x, y, T, B, C);
    double worst = 0.0;
    for (size_t i = 0; i < n; i++) {
        float x0 = x[i];
        float xp = x0 + h, xm = x0 - h;
        x[i] = xp;
        double lp = eval_loss(id, gd, x, y, T, B, C);
        x[i] = xm;
        double lm = eval_loss(id, gd, x, y, T, B, C);
        x[i] = x0;
        double fd = (lp - lm) / ((double)xp - (double)xm);
        double err = fabs(fd - g[i]) / fmax(1.0, fabs(fd));
        if (err > worst) worst = err;
    }
    CHECK_MSG(worst <= tol, "%s: finite differences vs gradient: worst error %.3g > %.3g", loss_names[id], worst, tol);
    free(g);
    free(gd);
}

static void fill_random(float *x, size_t n, uint64_t seed, float lo, float hi) {
    spk_rng r = {seed, 7};
    for (size_t i = 0; i < n; i++) x[i] = lo + (hi - lo) * spk_rng_uniform(r, 0, i, 0);
}

/* ---- losses: hand values ------------------------------------------------------------------ */

static void test_ce_hand(void) {
    /* CE of logits [1,2,3], label 2 = log(e^1+e^2+e^3) - 3; softmax = [0.0900306, 0.2447285, 0.6652410] */
    const double ce123 = 0.40760596444438, p0 = 0.09003057317038, p1 = 0.24472847105480, p2 = 0.66524095577482;
    float x[3] = {1, 2, 3}, g[3];
    int32_t y2[1] = {2};
    CHECK_NEAR(spk_loss_ce_count(g, x, y2, 1, 1, 3), ce123, 1e-7);
    CHECK_NEAR(g[0], p0, 1e-7);
    CHECK_NEAR(g[1], p1, 1e-7);
    CHECK_NEAR(g[2], p2 - 1.0, 1e-7);

    /* counts summed over T: [1,0,1] + [0,2,2] = [1,2,3]; gradient the same at every step */
    float x2[6] = {1, 0, 1, 0, 2, 2}, g2[6];
    CHECK_NEAR(spk_loss_ce_count(g2, x2, y2, 2, 1, 3), ce123, 1e-7);
    for (int t = 0; t < 2; t++) CHECK_NEAR(g2[3 * t + 2], p2 - 1.0, 1e-7);

    /* batch mean: second sample logits [0,0,0] label 0 -> log 3; gradient divided by B = 2 */
    float x3[6] = {1, 2, 3, 0, 0, 0}, g3[6];
    int32_t y3[2] = {2, 0};
    CHECK_NEAR(spk_loss_ce_count(g3, x3, y3, 1, 2, 3), (ce123 + 1.09861228866811) / 2, 1e-7);
    CHECK_NEAR(g3[0], p0 / 2, 1e-7);
    CHECK_NEAR(g3[3], (1.0 / 3 - 1) / 2, 1e-7);
    CHECK_NEAR(g3[4], (1.0 / 3) / 2, 1e-7);

    /* log-sum-exp: huge logits give the same loss, finite */
    float xb[3] = {1000, 1001, 1002}, gb[3];
    double lb = spk_loss_ce_count(gb, xb, y2, 1, 1, 3);
    CHECK_NEAR(lb, ce123, 1e-6);
    CHECK(isfinite(gb[0]) && isfinite(gb[2]));
    float xn[3] = {-1000, -1001, -1002};
    /* lse = -1000 + log(1 + e^-1 + e^-2) = -1000 + ce123; minus z_y = -1002 gives ce123 + 2 */
    CHECK_NEAR(spk_loss_ce_count(gb, xn, y2, 1, 1, 3), ce123 + 2.0, 1e-6);

    /* invalid label -> NaN loss, zero gradient */
    int32_t ybad[1] = {3};
    g[0] = 5.0f;
    CHECK(isnan(spk_loss_ce_count(g, x, ybad, 1, 1, 3)));
    CHECK(g[0] == 0.0f);
}

static void test_ce_mem_hand(void) {
    /* T=3, B=1, C=3, label 1. Class maxima: class 0 at t0 (2.0), class 1 at t1 (0.5), class 2
     * ties at t0 and t1 (1.0): the first wins, t0. */
    float mem[9] = {2.0f, 0.3f, 1.0f,  /* t0 */
                    1.5f, 0.5f, 1.0f,  /* t1 */
                    0.1f, 0.2f, 0.9f}; /* t2 */
    int32_t y[1] = {1};
    float g[9];
    /* MAX: logits [2, 0.5, 1] -> 1.96436878; softmax [0.62853172, 0.14024438, 0.23122390] */
    CHECK_NEAR(spk_loss_ce_mem(g, mem, y, 3, 1, 3, SPK_MEM_MAX), 1.96436878410795, 1e-6);
    const float want_max[9] = {0.62853172f, 0, 0.23122390f, 0, 0.14024438f - 1.0f, 0, 0, 0, 0};
    CHECK(tu_max_abs_diff(g, want_max, 9) < 1e-6);
    /* SUM: logits [3.6, 1.0, 2.9] -> 3.05162253 */
    CHECK_NEAR(spk_loss_ce_mem(g, mem, y, 3, 1, 3, SPK_MEM_SUM), 3.05162252838059, 1e-6);
    CHECK(g[1] == g[4] && g[4] == g[7] && g[1] < 0);
    /* LAST: logits [0.1, 0.2, 0.9] -> 1.36573193; gradient only at t2 */
    CHECK_NEAR(spk_loss_ce_mem(g, mem, y, 3, 1, 3, SPK_MEM_LAST), 1.36573192724793, 1e-6);
    for (int i = 0; i < 6; i++) CHECK(g[i] == 0.0f);
    CHECK(g[7] < 0 && g[6] > 0 && g[8] > 0);
    /* PER_STEP: the sum of the three steps' CE -> 5.18461967 */
    CHECK_NEAR(spk_loss_ce_mem(g, mem, y, 3, 1, 3, SPK_MEM_PER_STEP), 5.18461966624888, 1e-6);
    for (int t = 0; t < 3; t++) {
        double s = g[3 * t] + g[3 * t + 1] + g[3 * t + 2]; /* softmax - onehot sums to 0 per step */
        CHECK_NEAR(s, 0.0, 1e-7);
        CHECK(g[3 * t + 1] < 0);
    }
    /* unknown reduction -> NaN */
    CHECK(isnan(spk_loss_ce_mem(g, mem, y, 3, 1, 3, SPK_MEM_REDUCE_COUNT)));
}

static void test_mse_hand(void) {
    /* T=4, B=1, C=2, label 0, rates 1 and 0: targets 4 and 0; counts [3, 1].
     * loss = ((3-4)^2 + (1-0)^2) / (B*C) / T = 0.25; grad = 2 d / (B C T) = -0.25, +0.25 */
    float s[8] = {1, 0, 1, 1, 1, 0, 0, 0}, g[8];
    int32_t y[1] = {0};
    CHECK_NEAR(spk_loss_mse_count(g, s, y, 4, 1, 2, 1.0f, 0.0f), 0.25, 1e-9);
    for (int t = 0; t < 4; t++) {
        CHECK_NEAR(g[2 * t], -0.25, 1e-9);
        CHECK_NEAR(g[2 * t + 1], 0.25, 1e-9);
    }
    /* integer targets as snnTorch's int(T * rate): 10 * 0.7 -> 7, 10 * 0.25 -> 2 */
    float s10[20];
    for (int t = 0; t < 10; t++) {
        s10[2 * t] = t < 7 ? 1.0f : 0.0f;
        s10[2 * t + 1] = t < 2 ? 1.0f : 0.0f;
    }
    float g10[20];
    CHECK_NEAR(spk_loss_mse_count(g10, s10, y, 10, 1, 2, 0.7f, 0.25f), 0.0, 1e-12);
}

static void test_first_spike_hand(void) {
    /* T=4, B=1, C=3, label 0. class 0 first fires at t=1 (again at t=3), class 1 at t=0,
     * class 2 never: tau = [1, 0, 4], logits [-1, 0, -4].
     * loss = log(e^-1 + 1 + e^-4) + 1 = 1.32656264; softmax [0.26538793, 0.72139918, 0.01321289].
     * gradient: (softmax - onehot) at (tau, c), silent class at t = T-1, zero elsewhere. */
    float s[12] = {0, 1, 0,  /* t0 */
                   1, 0, 0,  /* t1 */
                   0, 1, 0,  /* t2 */
                   1, 0, 0}; /* t3 */
    int32_t y[1] = {0};
    float g[12];
    CHECK_NEAR(spk_loss_ce_first_spike(g, s, y, 4, 1, 3), 1.32656264126747, 1e-6);
    const float want[12] = {0, 0.72139918f, 0, 0.26538793f - 1.0f, 0, 0, 0, 0, 0, 0, 0, 0.01321289f};
    CHECK(tu_max_abs_diff(g, want, 12) < 1e-6);

    /* silence (time T) is later than a spike on the last step (time T-1):
     * T=2, C=2, label 0: class 0 fires at t=1, class 1 silent -> logits [-1, -2] */
    float s2[4] = {0, 0, 1, 0}, g2[4];
    CHECK_NEAR(spk_loss_ce_first_spike(g2, s2, y, 2, 1, 2), log(exp(-1.0) + exp(-2.0)) + 1.0, 1e-6);
    CHECK(g2[0] == 0.0f && g2[1] == 0.0f); /* both gradients at t = 1 */
    CHECK(g2[2] < 0.0f && g2[3] > 0.0f);
    CHECK_NEAR(g2[2] + g2[3], 0.0, 1e-7);

    /* batch of 2: the mean, each sample's gradient / 2 */
    float s3[2 * 2 * 2] = {1, 0, 0, 0, /* t0: b0 [1,0], b1 [0,0] */
                           0, 1, 1, 0}; /* t1: b0 [0,1], b1 [1,0] */
    int32_t y3[2] = {0, 1};
    float g3[8];
    /* b0: logits [0, -1], label 0 -> log(1 + e^-1); b1: logits [-1, -2], label 1 -> log(e^-1 + e^-2) + 2 */
    double want3 = (log(1 + exp(-1.0)) + log(exp(-1.0) + exp(-2.0)) + 2.0) / 2;
    CHECK_NEAR(spk_loss_ce_first_spike(g3, s3, y3, 2, 2, 2), want3, 1e-6);
    CHECK_NEAR(g3[0], (1.0 / (1 + exp(-1.0)) - 1.0) / 2, 1e-7); /* b0 c0 at t0 */
    CHECK_NEAR(g3[5], (exp(-1.0) / (1 + exp(-1.0))) / 2, 1e-7); /* b0 c1 at t1 */
    CHECK_NEAR(g3[7], (exp(-1.0) / (1 + exp(-1.0)) - 1.0) / 2, 1e-7); /* b1 c1 silent -> t1 */
}

static void test_rate_reg_hand(void) {
    /* T=2, B=1, N=2: spikes t0 [1, 0], t1 [1, 1] -> r = [1, 0.5]; target 0.25, lambda 2.
     * L1: 2 * (0.75 + 0.25) / 2 = 1.0; L2: 2 * (0.5625 + 0.0625) / 2 = 0.625.
     * L2 gradient of n=0: lambda * 2 (r - target) / (N T B) = 2 * 1.5 / 4 = 0.75, added to 1. */
    float s[4] = {1, 0, 1, 1};
    float g[4] = {1, 1, 1, 1};
    CHECK_NEAR(spk_loss_rate_reg(g, s, 2, 1, 2, 0.25f, 2.0f, 0), 1.0, 1e-7);
    CHECK_NEAR(g[0], 1.0 + 2.0 / 4, 1e-7); /* L1: lambda * sign / (N T B) = 0.5 */
    CHECK_NEAR(g[1], 1.0 + 2.0 / 4, 1e-7);
    for (int i = 0; i < 4; i++) g[i] = 1.0f;
    CHECK_NEAR(spk_loss_rate_reg(g, s, 2, 1, 2, 0.25f, 2.0f, 1), 0.625, 1e-7);
    CHECK_NEAR(g[0], 1.75, 1e-7);
    CHECK_NEAR(g[2], 1.75, 1e-7);
    CHECK_NEAR(g[1], 1.0 + 2.0 * 2 * 0.25 / 4, 1e-7);
}

/* ---- losses: gradients by finite differences ------------------------------------------------- */

static void test_loss_fd(void) {
    enum { T = 3, B = 2, C = 4 };
    float x[T * B * C];
    int32_t y[B] = {3, 1};
    const loss_id smooth[] = {L_COUNT, L_MEM_SUM, L_MEM_LAST, L_MEM_STEP, L_MSE, L_RATE_L2, L_RATE_L1, L_MEM_MAX};
    for (size_t k = 0; k < sizeof smooth / sizeof smooth[0]; k++) {
        /* values spread over [-2, 2]: distinct, so max and |r - target| are smooth locally */
        fill_random(x, T * B * C, 100 + k, -2.0f, 2.0f);
        check_fd(smooth[k], x, y, T, B, C, 1e-3f, 1e-5);
    }

    /* MAX: the gradient lands on the arg-max step of every (b, c) and nowhere else */
    fill_random(x, T * B * C, 42, -2.0f, 2.0f);
    float g[T * B * C];
    spk_loss_ce_mem(g, x, y, T, B, C, SPK_MEM_MAX);
    int ok = 1;
    for (int bc = 0; bc < B * C; bc++) {
        int tm = 0;
        for (int t = 1; t < T; t++)
            if (x[t * B * C + bc] > x[tm * B * C + bc]) tm = t;
        for (int t = 0; t < T; t++)
            if ((t == tm) != (g[t * B * C + bc] != 0.0f)) ok = 0;
    }
    CHECK_MSG(ok, "ce_mem MAX: gradient is not exactly on the arg-max steps");
}

/* ---- optimizers ------------------------------------------------------------------------------ */

#define NP 5
#define NSTEPS 6
static const double p_init[NP] = {0.5, -1.25, 2.0, 0.75, -0.3};

/* the gradient fed at step k (1-based) for parameter i: fixed, mixed signs and sizes */
static float grad_at(int k, int i) { return (float)(sin(1.0 + 0.9 * i + 0.37 * k) * (1.0 + 0.5 * i)); }
static float lr_at(int k, float base) { return base * (1.0f + 0.1f * (float)k); }

/* torch.optim.SGD's update, written out in double */
static void ref_sgd(double *p, int steps, float lr0, double mu, double damp, int nest, double wd) {
    double buf[NP] = {0};
    for (int k = 1; k <= steps; k++) {
        double lr = lr_at(k, lr0);
        for (int i = 0; i < NP; i++) {
            double d = (double)grad_at(k, i) + wd * p[i];
            if (mu != 0.0) {
                buf[i] = k == 1 ? d : mu * buf[i] + (1.0 - damp) * d;
                d = nest ? d + mu * buf[i] : buf[i];
            }
            p[i] -= lr * d;
        }
    }
}

/* torch.optim.Adam (decoupled = 0) and AdamW (decoupled = 1), written out in double */
static void ref_adam(double *p, int steps, float lr0, double b1, double b2, double eps, double wd, int decoupled) {
    double m[NP] = {0}, v[NP] = {0};
    for (int k = 1; k <= steps; k++) {
        double lr = lr_at(k, lr0);
        for (int i = 0; i < NP; i++) {
            double g = grad_at(k, i);
            if (decoupled) p[i] *= 1.0 - lr * wd;
            else g += wd * p[i];
            m[i] = b1 * m[i] + (1.0 - b1) * g;
            v[i] = b2 * v[i] + (1.0 - b2) * g * g;
            double mhat = m[i] / (1.0 - pow(b1, k));
            double denom = sqrt(v[i]) / sqrt(1.0 - pow(b2, k)) + eps;
            p[i] -= lr * mhat / denom;
        }
    }
}

static void run_optim(const char *name, const spk_optim_config *cfg, const double *want) {
    spk_optim *o = NULL;
    CHECK_OK(spk_optim_create(&o, cfg, NP));
    if (!o) return;
    float p[NP], g[NP];
    for (int i = 0; i < NP; i++) p[i] = (float)p_init[i];
    for (int k = 1; k <= NSTEPS; k++) {
        for (int i = 0; i < NP; i++) g[i] = grad_at(k, i);
        CHECK_OK(spk_optim_step(o, p, g, lr_at(k, cfg->lr), NULL));
    }
    double worst = 0.0;
    for (int i = 0; i < NP; i++) worst = fmax(worst, fabs(p[i] - want[i]) / fmax(fabs(want[i]), 1e-1));
    CHECK_MSG(worst <= 1e-6, "%s: after %d steps the parameters differ from torch's rule by %.3g (relative)", name,
              NSTEPS, worst);
    size_t ns = 0;
    const float *st = spk_optim_state(o, &ns);
    CHECK(st && ns >= 16);
    CHECK(st && st[0] == (float)NSTEPS && st[1] == 0.0f); /* the step count in the header */
    spk_optim_free(o);
}

static void test_optim_rules(void) {
    double want[NP];
    spk_optim_config c;

    /* SGD plain */
    c = spk_optim_config_default(SPK_OPT_SGD);
    c.lr = 0.1f;
    memcpy(want, p_init, sizeof want);
    ref_sgd(want, NSTEPS, c.lr, 0, 0, 0, 0);
    run_optim("sgd", &c, want);
    /* SGD momentum with dampening */
    c.momentum = 0.9f;
    c.dampening = 0.1f;
    memcpy(want, p_init, sizeof want);
    ref_sgd(want, NSTEPS, c.lr, c.momentum, c.dampening, 0, 0);
    run_optim("sgd momentum+dampening", &c, want);
    /* SGD Nesterov */
    c.dampening = 0.0f;
    c.nesterov = 1;
    memcpy(want, p_init, sizeof want);
    ref_sgd(want, NSTEPS, c.lr, c.momentum, 0, 1, 0);
    run_optim("sgd nesterov", &c, want);
    /* SGD weight decay (with and without momentum) */
    c.nesterov = 0;
    c.weight_decay = 0.05f;
    memcpy(want, p_init, sizeof want);
    ref_sgd(want, NSTEPS, c.lr, c.momentum, 0, 0, c.weight_decay);
    run_optim("sgd momentum+weight decay", &c, want);
    c.momentum = 0.0f;
    memcpy(want, p_init, sizeof want);
    ref_sgd(want, NSTEPS, c.lr, 0, 0, 0, c.weight_decay);
    run_optim("sgd weight decay", &c, want);

    /* Adam, without and with L2 weight decay */
    c = spk_optim_config_default(SPK_OPT_ADAM);
    c.lr = 0.05f;
    memcpy(want, p_init, sizeof want);
    ref_adam(want, NSTEPS, c.lr, c.beta1, c.beta2, c.eps, 0, 0);
    run_optim("adam", &c, want);
    c.weight_decay = 0.1f;
    c.beta1 = 0.8f;
    c.beta2 = 0.99f;
    c.eps = 1e-3f; /* large enough that where eps is added shows */
    memcpy(want, p_init, sizeof want);
    ref_adam(want, NSTEPS, c.lr, c.beta1, c.beta2, c.eps, c.weight_decay, 0);
    run_optim("adam weight decay", &c, want);

    /* AdamW: decoupled decay, default 1e-2, and a larger one */
    c = spk_optim_config_default(SPK_OPT_ADAMW);
    CHECK(c.weight_decay == 1e-2f);
    c.lr = 0.05f;
    memcpy(want, p_init, sizeof want);
    ref_adam(want, NSTEPS, c.lr, c.beta1, c.beta2, c.eps, c.weight_decay, 1);
    run_optim("adamw", &c, want);
    c.weight_decay = 0.3f;
    c.eps = 1e-3f;
    memcpy(want, p_init, sizeof want);
    ref_adam(want, NSTEPS, c.lr, c.beta1, c.beta2, c.eps, c.weight_decay, 1);
    run_optim("adamw weight decay 0.3", &c, want);
}

static void test_optim_hand(void) {
    /* SGD momentum 0.9, lr 0.1, constant gradient 1 from p = 1:
     * buf 1, 1.9, 2.71 -> p 0.9, 0.71, 0.439 */
    spk_optim_config c = spk_optim_config_default(SPK_OPT_SGD);
    c.momentum = 0.9f;
    spk_optim *o = NULL;
    CHECK_OK(spk_optim_create(&o, &c, 1));
    float p = 1.0f, g;
    const double want[3] = {0.9, 0.71, 0.439};
    for (int k = 0; k < 3 && o; k++) {
        g = 1.0f;
        CHECK_OK(spk_optim_step(o, &p, &g, 0.1f, NULL));
        CHECK_NEAR(p, want[k], 1e-6);
    }
    spk_optim_free(o);

    /* Adam's first step moves each parameter by lr * g / (|g| + eps) ~ lr, whatever |g| */
    c = spk_optim_config_default(SPK_OPT_ADAM);
    CHECK(c.beta1 == 0.9f && c.beta2 == 0.999f && c.eps == 1e-8f && c.weight_decay == 0.0f && c.lr == 1e-3f);
    o = NULL;
    CHECK_OK(spk_optim_create(&o, &c, 2));
    float p2[2] = {1.0f, 1.0f}, g2[2] = {1e-3f, -50.0f};
    if (o) CHECK_OK(spk_optim_step(o, p2, g2, 0.01f, NULL));
    CHECK_NEAR(p2[0], 0.99, 1e-6);
    CHECK_NEAR(p2[1], 1.01, 1e-6);
    spk_optim_free(o);
}

static void test_clip(void) {
    spk_optim_config c = spk_optim_config_default(SPK_OPT_SGD);
    c.clip_norm = 1.0f;
    spk_optim *o = NULL;
    CHECK_OK(spk_optim_create(&o, &c, 2));
    if (!o) return;
    float p[2] = {0, 0}, g[2] = {3, 4};
    double norm = -1;
    CHECK_OK(spk_optim_step(o, p, g, 1.0f, &norm));
    CHECK_NEAR(norm, 5.0, 1e-12);              /* the norm before clipping */
    CHECK_NEAR(hypot(g[0], g[1]), 1.0, 1e-6);   /* scaled by 1 / (5 + 1e-6) */
    CHECK_NEAR(g[0], 0.6, 1e-6);
    CHECK_NEAR(p[0], -0.6, 1e-6);               /* the step used the clipped gradient */
    CHECK_NEAR(p[1], -0.8, 1e-6);
    /* under the limit: untouched */
    float g2[2] = {0.3f, 0.4f};
    CHECK_OK(spk_optim_step(o, p, g2, 1.0f, &norm));
    CHECK_NEAR(norm, 0.5, 1e-7);
    CHECK(g2[0] == 0.3f && g2[1] == 0.4f);
    spk_optim_free(o);
}

/* The global norm over many blocks of 65536 gradients (and more blocks than one group of 64
 * partial sums): the same double on 1 and 2 threads, and the norm of the values. */
static void test_norm_blocks(void) {
    const size_t n = (size_t)70 * 65536 + 123;
    float *g = malloc(n * sizeof(float)), *p = calloc(n, sizeof(float));
    CHECK(g && p);
    if (!g || !p) {
        free(g);
        free(p);
        return;
    }
    double want = 0;
    for (size_t i = 0; i < n; i++) {
        g[i] = (float)((int)(i % 97) - 48) / 64.0f;
        want += (double)g[i] * g[i];
    }
    double norm[2] = {-1, -2};
    const int saved = spk_get_threads();
    for (int th = 1; th <= 2; th++) {
        spk_optim_config c = spk_optim_config_default(SPK_OPT_SGD);
        spk_optim *o = NULL;
        CHECK_OK(spk_optim_create(&o, &c, n));
        if (!o) continue;
        CHECK_OK(spk_set_threads(th));
        CHECK_OK(spk_optim_step(o, p, g, 0.0f, &norm[th - 1]));
        spk_optim_free(o);
    }
    CHECK_OK(spk_set_threads(saved));
    CHECK(norm[0] == norm[1]);
    CHECK_NEAR(norm[0], sqrt(want), 1e-9 * sqrt(want));
    free(g);
    free(p);
}

static void test_numeric_guard(void) {
    spk_optim_config c = spk_optim_config_default(SPK_OPT_ADAM);
    spk_optim *o = NULL;
    CHECK_OK(spk_optim_create(&o, &c, 4));
    if (!o) return;
    float p[4] = {1, 2, 3, 4}, p0[4], g[4] = {0.1f, 0.2f, NAN, 0.4f};
    memcpy(p0, p, sizeof p);
    spk_status st = spk_optim_step(o, p, g, 1e-3f, NULL);
    CHECK(st == SPK_ERR_NUMERIC);
    CHECK(memcmp(p, p0, sizeof p) == 0);
    CHECK_MSG(strstr(spk_errmsg(o), "parameter 2") != NULL, "message: %s", spk_errmsg(o));
    size_t ns;
    const float *s = spk_optim_state(o, &ns);
    CHECK(s[0] == 0.0f); /* no step counted */
    g[2] = 0.3f;
    g[0] = -INFINITY;
    CHECK(spk_optim_step(o, p, g, 1e-3f, NULL) == SPK_ERR_NUMERIC);
    CHECK(memcmp(p, p0, sizeof p) == 0);
    CHECK_MSG(strstr(spk_errmsg(o), "parameter 0") != NULL, "message: %s", spk_errmsg(o));
    /* a NaN learning rate (e.g. from an invalid schedule) is refused too */
    g[0] = 0.1f;
    CHECK(spk_optim_step(o, p, g, NAN, NULL) == SPK_ERR_INVALID_ARG);
    CHECK(memcmp(p, p0, sizeof p) == 0);
    spk_optim_free(o);
}

static void test_optim_config_and_state(void) {
    spk_optim *o = NULL;
    spk_optim_config c = spk_optim_config_default(SPK_OPT_SGD);
    c.nesterov = 1; /* nesterov without momentum: torch refuses */
    CHECK(spk_optim_create(&o, &c, 3) == SPK_ERR_INVALID_ARG && o == NULL);
    c.momentum = 0.9f;
    c.dampening = 0.5f;
    CHECK(spk_optim_create(&o, &c, 3) == SPK_ERR_INVALID_ARG);
    c = spk_optim_config_default(SPK_OPT_ADAM);
    c.beta2 = 1.0f;
    CHECK(spk_optim_create(&o, &c, 3) == SPK_ERR_INVALID_ARG);
    CHECK(strstr(spk_errmsg(NULL), "beta2") != NULL);
    c = spk_optim_config_default(SPK_OPT_ADAMW);
    CHECK(spk_optim_create(&o, &c, 0) == SPK_ERR_INVALID_ARG);

    /* state round trip: run A 3 steps, copy its state into a fresh B, both continue alike */
    spk_optim *a = NULL, *b = NULL;
    CHECK_OK(spk_optim_create(&a, &c, NP));
    CHECK_OK(spk_optim_create(&b, &c, NP));
    if (!a || !b) return;
    size_t na, nb;
    float *sa = spk_optim_state(a, &na), *sb = spk_optim_state(b, &nb);
    CHECK(na == nb && na >= 16 + 2 * NP);
    CHECK(((uintptr_t)sa % 64) == 0);
    float pa[NP], pb[NP], g[NP];
    for (int i = 0; i < NP; i++) pa[i] = (float)p_init[i];
    for (int k = 1; k <= 3; k++) {
        for (int i = 0; i < NP; i++) g[i] = grad_at(k, i);
        CHECK_OK(spk_optim_step(a, pa, g, 0.01f, NULL));
    }
    memcpy(sb, sa, na * sizeof *sa);
    memcpy(pb, pa, sizeof pa);
    for (int k = 4; k <= 6; k++) {
        for (int i = 0; i < NP; i++) g[i] = grad_at(k, i);
        CHECK_OK(spk_optim_step(a, pa, g, 0.01f, NULL));
        for (int i = 0; i < NP; i++) g[i] = grad_at(k, i);
        CHECK_OK(spk_optim_step(b, pb, g, 0.01f, NULL));
    }
    CHECK(memcmp(pa, pb, sizeof pa) == 0);
    CHECK(sa[0] == 6.0f);
    spk_optim_free(a);
    spk_optim_free(b);
    spk_optim_free(NULL);
}

/* ---- schedules -------------------------------------------------------------------------------- */

static void test_sched(void) {
    spk_sched s = {SPK_SCHED_CONST, 0.1f, 4, 0, 0.0f, 0, 0.0f};
    /* warm-up ramp: base * (step + 1) / warmup */
    CHECK_NEAR(spk_sched_lr(&s, 0), 0.025, 1e-8);
    CHECK_NEAR(spk_sched_lr(&s, 1), 0.05, 1e-8);
    CHECK_NEAR(spk_sched_lr(&s, 3), 0.1, 1e-8);
    CHECK_NEAR(spk_sched_lr(&s, 4), 0.1, 1e-8);
    CHECK_NEAR(spk_sched_lr(&s, 100000), 0.1, 1e-8);

    /* step decay after 4 warm-up steps: gamma 0.5 every 10 steps */
    s.kind = SPK_SCHED_STEP;
    s.step_size = 10;
    s.gamma = 0.5f;
    CHECK_NEAR(spk_sched_lr(&s, 2), 0.075, 1e-8);
    CHECK_NEAR(spk_sched_lr(&s, 4), 0.1, 1e-8);
    CHECK_NEAR(spk_sched_lr(&s, 13), 0.1, 1e-8);
    CHECK_NEAR(spk_sched_lr(&s, 14), 0.05, 1e-8);
    CHECK_NEAR(spk_sched_lr(&s, 23), 0.05, 1e-8);
    CHECK_NEAR(spk_sched_lr(&s, 24), 0.025, 1e-8);
    CHECK_NEAR(spk_sched_lr(&s, 34), 0.0125, 1e-8);

    /* cosine from 0.1 to 0.001 over 100 steps, no warm-up */
    spk_sched cs = {SPK_SCHED_COSINE, 0.1f, 0, 0, 0.0f, 100, 0.001f};
    CHECK_NEAR(spk_sched_lr(&cs, 0), 0.1, 1e-8);
    CHECK_NEAR(spk_sched_lr(&cs, 50), 0.0505, 1e-8);
    CHECK_NEAR(spk_sched_lr(&cs, 25), 0.001 + 0.099 * (1 + sqrt(0.5)) / 2, 1e-8);
    CHECK_NEAR(spk_sched_lr(&cs, 100), 0.001, 1e-8);
    CHECK_NEAR(spk_sched_lr(&cs, 150), 0.001, 1e-8); /* holds the floor */
    /* with warm-up 10: the cosine starts after it */
    cs.warmup_steps = 10;
    CHECK_NEAR(spk_sched_lr(&cs, 4), 0.05, 1e-8);
    CHECK_NEAR(spk_sched_lr(&cs, 10), 0.1, 1e-8);
    CHECK_NEAR(spk_sched_lr(&cs, 60), 0.0505, 1e-8);
    CHECK_NEAR(spk_sched_lr(&cs, 110), 0.001, 1e-8);

    /* cannot be evaluated -> NaN */
    cs.total_steps = 0;
    CHECK(isnan(spk_sched_lr(&cs, 20)));
    s.step_size = 0;
    CHECK(isnan(spk_sched_lr(&s, 20)));
    CHECK(isnan(spk_sched_lr(&s, -1)));
    CHECK(isnan(spk_sched_lr(NULL, 0)));
}

/* ---- initialisation ----------------------------------------------------------------------------- */

static void test_init(void) {
    CHECK_NEAR(spk_init_bound(9), 1.0 / 3, 1e-7);
    CHECK_NEAR(spk_init_bound(784), 1.0 / 28, 1e-8);
    CHECK(spk_init_bound(0) == 0.0f);

    enum { N = 100000 };
    float *w = malloc(N * sizeof *w), *w2 = malloc(N * sizeof *w2);
    const float b = spk_init_bound(4); /* 0.5 */
    spk_rng r = {1234, 5};
    spk_init_uniform(w, N, b, r, 3);
    double s = 0, ss = 0;
    int in_range = 1;
    for (int i = 0; i < N; i++) {
        if (!(fabsf(w[i]) <= b)) in_range = 0;
        s += w[i];
    }
    double mean = s / N;
    for (int i = 0; i < N; i++) ss += (w[i] - mean) * (w[i] - mean);
    double var = ss / (N - 1);
    CHECK(in_range);
    /* mean 0 with sd b/sqrt(3N); variance b^2/3 with sd b^2 sqrt(4/(45 N)) */
    CHECK_NEAR(mean, 0.0, 4 * b / sqrt(3.0 * N));
    CHECK_NEAR(var, b * b / 3.0, 4 * b * b * sqrt(4.0 / (45.0 * N)));

    /* deterministic; element i depends only on (rng, draw, i); another draw differs */
    spk_init_uniform(w2, N, b, r, 3);
    CHECK(memcmp(w, w2, N * sizeof *w) == 0);
    float head[10];
    spk_init_uniform(head, 10, b, r, 3);
    CHECK(memcmp(head, w, sizeof head) == 0);
    spk_init_uniform(w2, N, b, r, 4);
    int same = 0;
    for (int i = 0; i < N; i++) same += w[i] == w2[i];
    CHECK(same < 100);
    free(w);
    free(w2);
}

int main(void) {
    test_ce_hand();
    test_ce_mem_hand();
    test_mse_hand();
    test_first_spike_hand();
    test_rate_reg_hand();
    test_loss_fd();
    test_optim_rules();
    test_optim_hand();
    test_clip();
    test_norm_blocks();
    test_numeric_guard();
    test_optim_config_and_state();
    test_sched();
    test_init();
    return tu_finish("train_parts");
}
