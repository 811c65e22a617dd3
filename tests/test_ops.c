/* test_ops.c — the synaptic op kernels of src/ops: every gradient of every op against central
 * finite differences, forward values against small hand-computed cases, the im2col
 * convolution against the direct-loop reference (forward, and backward against a direct-loop
 * backward written here), backward accumulating (+=), results identical at 1, 2, 3 threads,
 * dropout mask statistics and reproducibility, and geometry errors.
 *
 * Finite differences: L = sum_j R_j y_j with random R (accumulated in double), so dL/dy = R
 * and the analytic gradient is backward(dy = R). Every op here is linear in each single
 * parameter (max pool piecewise linear, with inputs spaced far apart), so the central
 * difference has no truncation error: what is left is float32 rounding of y divided by 2h.
 * The error measure is |analytic - numeric| / max(1, |numeric|). */
#include "testutil.h"
#include "ops/ops.h"

#include <string.h>

/* ------------------------------------------------------------------ helpers ---------- */

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static double urand(void) { /* uniform [0, 1), xorshift64* */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (double)((rng_state * 0x2545f4914f6cdd1dull) >> 11) * (1.0 / 9007199254740992.0);
}
static float *rnd(size_t n) { /* uniform [-1, 1) */
    float *a = malloc((n ? n : 1) * sizeof(float));
    for (size_t i = 0; i < n; i++) a[i] = (float)(2.0 * urand() - 1.0);
    return a;
}
static float *zeros(size_t n) { return calloc(n ? n : 1, sizeof(float)); }
static float *dup(const float *a, size_t n) {
    float *b = malloc((n ? n : 1) * sizeof(float));
    memcpy(b, a, n * sizeof(float));
    return b;
}
static double max_abs(const float *a, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++) m = fmax(m, fabs(a[i]));
    return m;
}

typedef void (*fwd_fn)(const void *ctx, float *y);

static double weighted_sum(const float *y, const float *R, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += (double)y[i] * (double)R[i];
    return s;
}

/* Check `grad` (np values) = dL/dparam, L = sum(R * f(ctx)), by central differences with step
 * h, perturbing `param` in place (f must read it through ctx). */
static void fd_check(const char *what, fwd_fn f, const void *ctx, size_t ny, const float *R, float *param,
                     size_t np, const float *grad, float h, double tol) {
    float *y = malloc(ny * sizeof(float));
    double worst = 0, gmax = 0, wa = 0, wn = 0;
    size_t wi = 0;
    for (size_t i = 0; i < np; i++) {
        const float p0 = param[i];
        param[i] = p0 + h;
        const double up = param[i];
        f(ctx, y);
        const double lp = weighted_sum(y, R, ny);
        param[i] = p0 - h;
        const double dn = param[i];
        f(ctx, y);
        const double lm = weighted_sum(y, R, ny);
        param[i] = p0;
        const double num = (lp - lm) / (up - dn);
        const double err = fabs(num - grad[i]) / fmax(1.0, fabs(num));
        if (err > worst || err != err) {
            worst = err;
            wi = i;
            wa = grad[i];
            wn = num;
        }
        gmax = fmax(gmax, fabs(num));
    }
    printf("  %-34s %4zu values, max err %.2e (tol %.0e)\n", what, np, worst, tol);
    CHECK_MSG(worst <= tol, "%s: worst at [%zu]: analytic %.7g, numeric %.7g, err %.3g > tol %.3g", what, wi, wa,
              wn, worst, tol);
    /* a gradient that is zero everywhere would pass any check: require a real signal */
    CHECK_MSG(gmax > 0.05, "%s: numerical gradient is ~0 everywhere (max %g)", what, gmax);
    free(y);
}

/* After a second backward call from zero, each gradient must be twice the first. */
static void check_twice(const char *what, const float *once, const float *twice, size_t n) {
    double worst = 0;
    for (size_t i = 0; i < n; i++) worst = fmax(worst, fabs((double)twice[i] - 2.0 * once[i]));
    double scale = fmax(1e-30, max_abs(once, n));
    CHECK_MSG(worst <= 1e-6 * scale, "%s: second backward call gave %g away from 2x the first (scale %g)", what,
              worst, scale);
    CHECK_MSG(max_abs(once, n) > 0, "%s: gradient is all zero", what);
}

/* ------------------------------------------------------------------ dense ------------ */

typedef struct { float *x, *W, *b; int M, in, out; } dense_ctx;
static void dense_fwd(const void *c, float *y) {
    const dense_ctx *d = c;
    spk_op_dense_forward(y, d->x, d->W, d->b, d->M, d->in, d->out);
}

static void test_dense_hand(void) {
    /* M = 2, in = 3, out = 2 */
    const float x[6] = {1, 2, 3, 4, 5, 6}, W[6] = {1, 0, -1, 0.5f, 0.5f, 0.5f}, b[2] = {0.25f, -1};
    const float want[4] = {-1.75f, 2.0f, -1.75f, 6.5f}, want_nob[4] = {-2.0f, 3.0f, -2.0f, 7.5f};
    float y[4];
    spk_op_dense_forward(y, x, W, b, 2, 3, 2);
    for (int i = 0; i < 4; i++) CHECK_NEAR(y[i], want[i], 1e-6);
    spk_op_dense_forward(y, x, W, NULL, 2, 3, 2);
    for (int i = 0; i < 4; i++) CHECK_NEAR(y[i], want_nob[i], 1e-6);
    /* dy = [[1, 0], [0, 2]]: dx = dy W, dW = dy^T x, db = column sums */
    const float dy[4] = {1, 0, 0, 2};
    const float want_dx[6] = {1, 0, -1, 1, 1, 1}, want_dW[6] = {1, 2, 3, 8, 10, 12}, want_db[2] = {1, 2};
    float dx[6] = {0}, dW[6] = {0}, db[2] = {0};
    spk_op_dense_backward(dx, dW, db, dy, x, W, 2, 3, 2);
    for (int i = 0; i < 6; i++) CHECK_NEAR(dx[i], want_dx[i], 1e-6);
    for (int i = 0; i < 6; i++) CHECK_NEAR(dW[i], want_dW[i], 1e-6);
    for (int i = 0; i < 2; i++) CHECK_NEAR(db[i], want_db[i], 1e-6);
}

static void test_dense_grad(int with_bias) {
    const int M = 3, in = 4, out = 5;
    dense_ctx c = {rnd((size_t)M * in), rnd((size_t)out * in), with_bias ? rnd(out) : NULL, M, in, out};
    float *R = rnd((size_t)M * out);
    float *dx = zeros((size_t)M * in), *dW = zeros((size_t)out * in), *db = zeros(out);
    spk_op_dense_backward(dx, dW, with_bias ? db : NULL, R, c.x, c.W, M, in, out);
    /* tol 2e-3: h = 1e-2, outputs are sums of 4 products of O(1) values, so rounding in L is
     * ~1e-7 and the difference quotient error ~1e-5; a sign error or a missing term is O(1). */
    const char *tag = with_bias ? "dense (affine)" : "dense (linear)";
    char name[64];
    snprintf(name, sizeof name, "%s dx", tag);
    fd_check(name, dense_fwd, &c, (size_t)M * out, R, c.x, (size_t)M * in, dx, 1e-2f, 2e-3);
    snprintf(name, sizeof name, "%s dW", tag);
    fd_check(name, dense_fwd, &c, (size_t)M * out, R, c.W, (size_t)out * in, dW, 1e-2f, 2e-3);
    if (with_bias) {
        snprintf(name, sizeof name, "%s db", tag);
        fd_check(name, dense_fwd, &c, (size_t)M * out, R, c.b, out, db, 1e-2f, 2e-3);
        /* backward accumulates: a second call doubles every gradient */
        float *dx1 = dup(dx, (size_t)M * in), *dW1 = dup(dW, (size_t)out * in), *db1 = dup(db, out);
        spk_op_dense_backward(dx, dW, db, R, c.x, c.W, M, in, out);
        check_twice("dense dx", dx1, dx, (size_t)M * in);
        check_twice("dense dW", dW1, dW, (size_t)out * in);
        check_twice("dense db", db1, db, out);
        /* NULL skips a gradient, and the others are unchanged */
        float *dW2 = zeros((size_t)out * in);
        spk_op_dense_backward(NULL, dW2, NULL, R, c.x, c.W, M, in, out);
        CHECK(memcmp(dW2, dW1, (size_t)out * in * sizeof(float)) == 0);
        free(dx1), free(dW1), free(db1), free(dW2);
    }
    free(c.x), free(c.W), free(c.b), free(R), free(dx), free(dW), free(db);
}

/* ------------------------------------------------------------------ conv ------------- */

static spk_conv_geom conv_geom(int cin, int cout, int groups, int in_h, int in_w, int k_h, int k_w, int sh, int sw,
                               int ph, int pw, int dh, int dw) {
    spk_conv_geom g = {cin, cout, groups, in_h, in_w, k_h, k_w, sh, sw, ph, pw, dh, dw, 0, 0};
    return g;
}
static size_t conv_nx(const spk_conv_geom *g, int M) { return (size_t)M * g->cin * g->in_h * g->in_w; }
static size_t conv_ny(const spk_conv_geom *g, int M) { return (size_t)M * g->cout * g->out_h * g->out_w; }
static size_t conv_nw(const spk_conv_geom *g) { return (size_t)g->cout * (g->cin / g->groups) * g->k_h * g->k_w; }

/* A direct-loop backward (double accumulation), the reference for the im2col backward. */
static void conv_backward_ref(double *dx, double *dW, double *db, const float *dy, const float *x, const float *W,
                              const spk_conv_geom *g, int M) {
    const int cig = g->cin / g->groups, cog = g->cout / g->groups;
    for (int m = 0; m < M; m++)
        for (int co = 0; co < g->cout; co++)
            for (int oy = 0; oy < g->out_h; oy++)
                for (int ox = 0; ox < g->out_w; ox++) {
                    const double d = dy[(((size_t)m * g->cout + co) * g->out_h + oy) * g->out_w + ox];
                    db[co] += d;
                    for (int cl = 0; cl < cig; cl++) {
                        const int ci = co / cog * cig + cl;
                        for (int ky = 0; ky < g->k_h; ky++)
                            for (int kx = 0; kx < g->k_w; kx++) {
                                const int iy = oy * g->stride_h - g->pad_h + ky * g->dil_h;
                                const int ix = ox * g->stride_w - g->pad_w + kx * g->dil_w;
                                if (iy < 0 || iy >= g->in_h || ix < 0 || ix >= g->in_w) continue;
                                const size_t wi = (((size_t)co * cig + cl) * g->k_h + ky) * g->k_w + kx;
                                const size_t xi = (((size_t)m * g->cin + ci) * g->in_h + iy) * g->in_w + ix;
                                dW[wi] += d * x[xi];
                                dx[xi] += d * W[wi];
                            }
                    }
                }
}

static double rel_diff_d(const float *a, const double *b, size_t n) {
    double m = 0, s = 1e-6;
    for (size_t i = 0; i < n; i++) {
        m = fmax(m, fabs(a[i] - b[i]));
        s = fmax(s, fabs(b[i]));
    }
    return m / s;
}

typedef struct { float *x, *W, *b, *ws; spk_conv_geom g; int M; } conv_ctx;
static void conv_fwd(const void *c, float *y) {
    const conv_ctx *d = c;
    spk_op_conv_forward(y, d->ws, d->x, d->W, d->b, &d->g, d->M);
}

static void test_conv_hand(void) {
    /* 2-d: 1x3x3 input 1..9, kernel [[1,2],[3,4]], no bias */
    spk_conv_geom g = conv_geom(1, 1, 1, 3, 3, 2, 2, 1, 1, 0, 0, 1, 1);
    CHECK_OK(spk_conv_geom_init(&g));
    CHECK(g.out_h == 2 && g.out_w == 2);
    const float x[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9}, W[4] = {1, 2, 3, 4};
    const float want[4] = {37, 47, 67, 77};
    float y[4], yr[4], ws[64];
    CHECK(spk_op_conv_workspace(&g, 1) <= 64);
    spk_op_conv_forward(y, ws, x, W, NULL, &g, 1);
    spk_op_conv_forward_ref(yr, x, W, NULL, &g, 1);
    for (int i = 0; i < 4; i++) {
        CHECK_NEAR(y[i], want[i], 1e-5);
        CHECK_NEAR(yr[i], want[i], 1e-5);
    }

    /* 1-d: x = [1,2,3,4], w = [1,0,-1], b = 0.5, padding 1, dilation 2: out = 2 taps
     * y0 = x[-1] - x[3] + .5 = -3.5,  y1 = x[0] - x[4] + .5 = 1.5 (x[-1] = x[4] = 0) */
    spk_conv_geom g1 = conv_geom(1, 1, 1, 1, 4, 1, 3, 1, 1, 0, 1, 1, 2);
    CHECK_OK(spk_conv_geom_init(&g1));
    CHECK(g1.out_h == 1 && g1.out_w == 2);
    const float x1[4] = {1, 2, 3, 4}, w1[3] = {1, 0, -1}, b1 = 0.5f;
    spk_op_conv_forward(y, ws, x1, w1, &b1, &g1, 1);
    CHECK_NEAR(y[0], -3.5, 1e-6);
    CHECK_NEAR(y[1], 1.5, 1e-6);
    /* 1-d, stride 2, no padding, x = [1..5]: y = [1-3, 3-5] + .5 */
    spk_conv_geom g2 = conv_geom(1, 1, 1, 1, 5, 1, 3, 1, 2, 0, 0, 1, 1);
    CHECK_OK(spk_conv_geom_init(&g2));
    const float x2[5] = {1, 2, 3, 4, 5};
    CHECK(g2.out_w == 2);
    spk_op_conv_forward(y, ws, x2, w1, &b1, &g2, 1);
    CHECK_NEAR(y[0], -1.5, 1e-6);
    CHECK_NEAR(y[1], -1.5, 1e-6);

    /* groups = 2, 1x1 kernels: each output channel sees only its own input channel */
    spk_conv_geom gg = conv_geom(2, 2, 2, 1, 2, 1, 1, 1, 1, 0, 0, 1, 1);
    CHECK_OK(spk_conv_geom_init(&gg));
    const float xg[4] = {1, 2, 3, 4}, wg[2] = {2, 3}, bg[2] = {0, 10};
    spk_op_conv_forward(y, ws, xg, wg, bg, &gg, 1);
    CHECK_NEAR(y[0], 2, 1e-6);
    CHECK_NEAR(y[1], 4, 1e-6);
    CHECK_NEAR(y[2], 19, 1e-6);
    CHECK_NEAR(y[3], 22, 1e-6);
}

/* FD gradients, the reference forward and backward, and accumulation, for one geometry. */
/* sparse_dy: the output gradient is zero at 3 of 4 entries (as after a 2x2 max pool), which
 * sends the input gradient through its sparse kernel (groups = 1, AVX-512 builds) */
static void test_conv_case_dy(const char *name, spk_conv_geom g, int M, int sparse_dy) {
    CHECK_OK(spk_conv_geom_init(&g));
    const size_t nx = conv_nx(&g, M), ny = conv_ny(&g, M), nw = conv_nw(&g);
    conv_ctx c = {rnd(nx), rnd(nw), rnd(g.cout), NULL, g, M};
    c.ws = malloc(spk_op_conv_workspace(&g, M) * sizeof(float));
    float *y = zeros(ny), *yr = zeros(ny), *R = rnd(ny);
    for (size_t k = 0; sparse_dy && k < ny; k++)
        if ((k * 2654435761u >> 7) % 4) R[k] = 0.0f;

    /* im2col + GEMM equals the direct loops (within 1e-5 relative) */
    spk_op_conv_forward(y, c.ws, c.x, c.W, c.b, &g, M);
    spk_op_conv_forward_ref(yr, c.x, c.W, c.b, &g, M);
    double rel = tu_max_rel_diff(y, yr, ny, 1e-6);
    CHECK_MSG(rel <= 1e-5, "%s: im2col conv vs reference: rel diff %g", name, rel);

    float *dx = zeros(nx), *dW = zeros(nw), *db = zeros(g.cout);
    spk_op_conv_backward(dx, dW, db, c.ws, R, c.x, c.W, &g, M);
    double *rdx = calloc(nx, sizeof(double)), *rdW = calloc(nw, sizeof(double)), *rdb = calloc(g.cout, sizeof(double));
    conv_backward_ref(rdx, rdW, rdb, R, c.x, c.W, &g, M);
    CHECK_MSG(rel_diff_d(dx, rdx, nx) <= 1e-5, "%s: dx vs direct loops %g", name, rel_diff_d(dx, rdx, nx));
    CHECK_MSG(rel_diff_d(dW, rdW, nw) <= 1e-5, "%s: dW vs direct loops %g", name, rel_diff_d(dW, rdW, nw));
    CHECK_MSG(rel_diff_d(db, rdb, g.cout) <= 1e-5, "%s: db vs direct loops %g", name, rel_diff_d(db, rdb, g.cout));

    /* tol 2e-3: h = 1e-2; an output sums <= 18 products of O(1) values and a weight touches
     * <= M*out_h*out_w outputs (<= 80), so rounding leaves ~1e-4 in the quotient at worst */
    char full[96];
    snprintf(full, sizeof full, "conv %s dx", name);
    fd_check(full, conv_fwd, &c, ny, R, c.x, nx, dx, 1e-2f, 2e-3);
    snprintf(full, sizeof full, "conv %s dW", name);
    fd_check(full, conv_fwd, &c, ny, R, c.W, nw, dW, 1e-2f, 2e-3);
    snprintf(full, sizeof full, "conv %s db", name);
    fd_check(full, conv_fwd, &c, ny, R, c.b, g.cout, db, 1e-2f, 2e-3);

    /* accumulation: a second call doubles; NULL skips without changing the others */
    float *dx1 = dup(dx, nx), *dW1 = dup(dW, nw), *db1 = dup(db, g.cout);
    spk_op_conv_backward(dx, dW, db, c.ws, R, c.x, c.W, &g, M);
    snprintf(full, sizeof full, "conv %s dx", name);
    check_twice(full, dx1, dx, nx);
    snprintf(full, sizeof full, "conv %s dW", name);
    check_twice(full, dW1, dW, nw);
    snprintf(full, sizeof full, "conv %s db", name);
    check_twice(full, db1, db, g.cout);
    float *dx2 = zeros(nx), *dW2 = zeros(nw), *db2 = zeros(g.cout);
    spk_op_conv_backward(dx2, NULL, NULL, c.ws, R, c.x, c.W, &g, M);
    spk_op_conv_backward(NULL, dW2, NULL, c.ws, R, c.x, c.W, &g, M);
    spk_op_conv_backward(NULL, NULL, db2, c.ws, R, c.x, c.W, &g, M);
    CHECK_MSG(memcmp(dx2, dx1, nx * sizeof(float)) == 0, "%s: dx alone differs", name);
    CHECK_MSG(memcmp(dW2, dW1, nw * sizeof(float)) == 0, "%s: dW alone differs", name);
    CHECK_MSG(memcmp(db2, db1, g.cout * sizeof(float)) == 0, "%s: db alone differs", name);

    /* the same bits on 1 and 2 threads */
    int th = spk_get_threads();
    float *dxa = zeros(nx), *dxb = zeros(nx);
    CHECK_OK(spk_set_threads(1));
    spk_op_conv_backward(dxa, NULL, NULL, c.ws, R, c.x, c.W, &g, M);
    CHECK_OK(spk_set_threads(2));
    spk_op_conv_backward(dxb, NULL, NULL, c.ws, R, c.x, c.W, &g, M);
    CHECK_OK(spk_set_threads(th));
    CHECK_MSG(memcmp(dxa, dxb, nx * sizeof(float)) == 0, "%s: dx differs between 1 and 2 threads", name);

    free(dx1), free(dW1), free(db1), free(dx2), free(dW2), free(db2), free(rdx), free(rdW), free(rdb), free(dxa), free(dxb);
    free(c.x), free(c.W), free(c.b), free(c.ws), free(y), free(yr), free(R), free(dx), free(dW), free(db);
}
static void test_conv_case(const char *name, spk_conv_geom g, int M) { test_conv_case_dy(name, g, M, 0); }

static void test_conv_cases(void) {
    /*                            cin cout grp  in_h in_w  k_h k_w  s_h s_w  p_h p_w  d_h d_w */
    test_conv_case("plain 3x3", conv_geom(3, 4, 1, 5, 5, 3, 3, 1, 1, 0, 0, 1, 1), 2);
    test_conv_case("stride 2 pad 1", conv_geom(2, 3, 1, 6, 7, 3, 3, 2, 2, 1, 1, 1, 1), 2);
    test_conv_case("dilation 2", conv_geom(2, 2, 1, 7, 7, 3, 3, 1, 1, 0, 0, 2, 2), 2);
    test_conv_case("groups 2", conv_geom(4, 6, 2, 5, 6, 3, 2, 1, 1, 1, 1, 1, 1), 2);
    test_conv_case("depthwise", conv_geom(3, 3, 3, 5, 5, 3, 3, 1, 1, 1, 1, 1, 1), 2);
    test_conv_case("s2 p1 d2 g2 mixed", conv_geom(4, 4, 2, 7, 8, 3, 3, 2, 1, 1, 2, 2, 1), 2);
    test_conv_case("conv1d s2 p1 d2", conv_geom(3, 4, 1, 1, 10, 1, 3, 1, 2, 0, 1, 1, 2), 3);
    test_conv_case("conv1d groups 2", conv_geom(2, 4, 2, 1, 9, 1, 4, 1, 1, 0, 2, 1, 1), 2);
    /* output gradients 25 % nonzero: the sparse input gradient (4 rows: its buffers for two
     * threads fit the workspace), including a column of 150 > 128 (two register blocks) */
    test_conv_case_dy("sparse dy plain 3x3", conv_geom(3, 4, 1, 5, 5, 3, 3, 1, 1, 0, 0, 1, 1), 4, 1);
    test_conv_case_dy("sparse dy stride 2 pad 1", conv_geom(2, 3, 1, 6, 7, 3, 3, 2, 2, 1, 1, 1, 1), 4, 1);
    test_conv_case_dy("sparse dy dilation 2", conv_geom(2, 2, 1, 7, 7, 3, 3, 1, 1, 0, 0, 2, 2), 4, 1);
    test_conv_case_dy("sparse dy conv1d s2 p1 d2", conv_geom(3, 4, 1, 1, 10, 1, 3, 1, 2, 0, 1, 1, 2), 4, 1);
    test_conv_case_dy("sparse dy 5x5, 150 taps", conv_geom(6, 5, 1, 7, 7, 5, 5, 1, 1, 1, 1, 1, 1), 4, 1);
    /* rows of at most 16 take the one-register fold, wider ones the scalar fold */
    test_conv_case_dy("sparse dy 3x5 s(2,1) p(1,2), rows of 16", conv_geom(3, 4, 1, 9, 16, 3, 5, 2, 1, 1, 2, 1, 1), 3, 1);
    test_conv_case_dy("sparse dy 3x3 p1, rows of 17", conv_geom(2, 3, 1, 4, 17, 3, 3, 1, 1, 1, 1, 1, 1), 3, 1);
    test_conv_case_dy("groups 2, sparse dy", conv_geom(4, 6, 2, 5, 6, 3, 2, 1, 1, 1, 1, 1, 1), 4, 1);
}

/* Rows beyond the workspace budget are cut into chunks: still equal to the direct loops. */
static void test_conv_chunked(void) {
    spk_conv_geom g = conv_geom(8, 8, 2, 64, 64, 3, 3, 1, 1, 1, 1, 1, 1);
    const int M = 60;
    CHECK_OK(spk_conv_geom_init(&g));
    const size_t nx = conv_nx(&g, M), ny = conv_ny(&g, M), nw = conv_nw(&g);
    const size_t per_row = (size_t)g.out_h * g.out_w * (g.cin * g.k_h * g.k_w + g.cout);
    const size_t wsn = spk_op_conv_workspace(&g, M);
    CHECK_MSG(wsn < per_row * M && wsn >= per_row, "workspace %zu floats for %zu per row", wsn, per_row);
    float *x = rnd(nx), *W = rnd(nw), *b = rnd(g.cout), *ws = malloc(wsn * sizeof(float));
    float *y = zeros(ny), *yr = zeros(ny), *dy = rnd(ny);
    spk_op_conv_forward(y, ws, x, W, b, &g, M);
    spk_op_conv_forward_ref(yr, x, W, b, &g, M);
    double rel = tu_max_rel_diff(y, yr, ny, 1e-6);
    CHECK_MSG(rel <= 1e-5, "chunked conv vs reference: rel diff %g", rel);
    float *dx = zeros(nx), *dW = zeros(nw), *db = zeros(g.cout);
    spk_op_conv_backward(dx, dW, db, ws, dy, x, W, &g, M);
    double *rdx = calloc(nx, sizeof(double)), *rdW = calloc(nw, sizeof(double)), *rdb = calloc(g.cout, sizeof(double));
    conv_backward_ref(rdx, rdW, rdb, dy, x, W, &g, M);
    double ex = rel_diff_d(dx, rdx, nx), ew = rel_diff_d(dW, rdW, nw), eb = rel_diff_d(db, rdb, g.cout);
    printf("  chunked conv (M=%d, %zu of %zu ws floats): fwd %.1e dx %.1e dW %.1e db %.1e\n", M, wsn,
           per_row * M, rel, ex, ew, eb);
    /* dW and db sum 60*4096 = 245760 products each: float32 GEMM accumulation is ~1e-6 */
    CHECK_MSG(ex <= 1e-5, "chunked dx rel diff %g", ex);
    CHECK_MSG(ew <= 1e-4, "chunked dW rel diff %g", ew);
    CHECK_MSG(eb <= 1e-5, "chunked db rel diff %g", eb);
    free(x), free(W), free(b), free(ws), free(y), free(yr), free(dy), free(dx), free(dW), free(db);
    free(rdx), free(rdW), free(rdb);
}

static void test_conv_geom_errors(void) {
    spk_conv_geom g = conv_geom(3, 4, 2, 5, 5, 3, 3, 1, 1, 0, 0, 1, 1); /* cin 3 % groups 2 */
    CHECK(spk_conv_geom_init(&g) == SPK_ERR_SHAPE);
    CHECK_MSG(strstr(spk_errmsg(NULL), "cin = 3") && strstr(spk_errmsg(NULL), "groups = 2"), "msg: %s",
              spk_errmsg(NULL));
    g = conv_geom(4, 3, 2, 5, 5, 3, 3, 1, 1, 0, 0, 1, 1); /* cout 3 % groups 2 */
    CHECK(spk_conv_geom_init(&g) == SPK_ERR_SHAPE);
    CHECK_MSG(strstr(spk_errmsg(NULL), "cout = 3"), "msg: %s", spk_errmsg(NULL));
    g = conv_geom(1, 1, 1, 2, 2, 3, 3, 1, 1, 0, 0, 1, 1); /* kernel larger than input */
    CHECK(spk_conv_geom_init(&g) == SPK_ERR_SHAPE);
    CHECK_MSG(strstr(spk_errmsg(NULL), "empty"), "msg: %s", spk_errmsg(NULL));
    g = conv_geom(1, 1, 1, 1, 5, 1, 3, 1, 1, 0, 0, 1, 3); /* dilated kernel spans 7 > 5 */
    CHECK(spk_conv_geom_init(&g) == SPK_ERR_SHAPE);
    g = conv_geom(1, 1, 1, 1, 5, 1, 3, 1, 1, 0, 1, 1, 3); /* padding 1 makes it fit: 7 - 7 + 1 */
    CHECK_OK(spk_conv_geom_init(&g));
    CHECK(g.out_w == 1);
    g = conv_geom(1, 1, 1, 5, 5, 3, 3, 0, 1, 0, 0, 1, 1);
    CHECK(spk_conv_geom_init(&g) == SPK_ERR_INVALID_ARG);
    CHECK_MSG(strstr(spk_errmsg(NULL), "stride_h = 0"), "msg: %s", spk_errmsg(NULL));
    g = conv_geom(1, 1, 1, 5, 5, 3, 3, 1, 1, 0, -1, 1, 1);
    CHECK(spk_conv_geom_init(&g) == SPK_ERR_INVALID_ARG);
    CHECK_MSG(strstr(spk_errmsg(NULL), "pad_w = -1"), "msg: %s", spk_errmsg(NULL));
    g = conv_geom(0, 1, 1, 5, 5, 3, 3, 1, 1, 0, 0, 1, 1);
    CHECK(spk_conv_geom_init(&g) == SPK_ERR_INVALID_ARG);
    CHECK_MSG(strstr(spk_errmsg(NULL), "cin = 0"), "msg: %s", spk_errmsg(NULL));
    CHECK(spk_conv_geom_init(NULL) == SPK_ERR_INVALID_ARG);
    /* torch's output formula: (7 + 2*1 - 2*(3-1) - 1)/2 + 1 = 3, (8 + 0 - 2 - 1)/3 + 1 = 2 */
    g = conv_geom(2, 2, 1, 7, 8, 3, 3, 2, 3, 1, 0, 2, 1);
    CHECK_OK(spk_conv_geom_init(&g));
    CHECK(g.out_h == 3 && g.out_w == 2);
}

/* ------------------------------------------------------------------ pool ------------- */

static spk_pool_geom pool_geom(spk_pool_kind kind, int c, int in_h, int in_w, int k_h, int k_w, int sh, int sw, int ph,
                               int pw, int include_pad) {
    spk_pool_geom g = {kind, c, in_h, in_w, k_h, k_w, sh, sw, ph, pw, include_pad, 0, 0};
    return g;
}

typedef struct { float *x; spk_pool_geom g; int M; } pool_ctx;
static void pool_fwd(const void *c, float *y) {
    const pool_ctx *d = c;
    spk_op_pool_forward(y, NULL, d->x, &d->g, d->M);
}

static void test_pool_hand(void) {
    float x[16];
    for (int i = 0; i < 16; i++) x[i] = (float)(i + 1);
    float y[16];
    int32_t am[16];
    /* 1x4x4, 2x2 windows, stride 2 */
    spk_pool_geom g = pool_geom(SPK_POOL_SUM, 1, 4, 4, 2, 2, 2, 2, 0, 0, 1);
    CHECK_OK(spk_pool_geom_init(&g));
    CHECK(g.out_h == 2 && g.out_w == 2);
    spk_op_pool_forward(y, NULL, x, &g, 1);
    const float want_sum[4] = {14, 22, 46, 54};
    for (int i = 0; i < 4; i++) CHECK_NEAR(y[i], want_sum[i], 0);
    g.kind = SPK_POOL_AVG;
    spk_op_pool_forward(y, NULL, x, &g, 1);
    for (int i = 0; i < 4; i++) CHECK_NEAR(y[i], want_sum[i] / 4, 0);
    g.kind = SPK_POOL_MAX;
    spk_op_pool_forward(y, am, x, &g, 1);
    const float want_max[4] = {6, 8, 14, 16};
    const int32_t want_am[4] = {5, 7, 13, 15};
    for (int i = 0; i < 4; i++) {
        CHECK_NEAR(y[i], want_max[i], 0);
        CHECK(am[i] == want_am[i]);
    }
    /* backward of the sum pool: every input gets the gradient of its window */
    g.kind = SPK_POOL_SUM;
    const float dy[4] = {1, 2, 3, 4};
    float dx[16] = {0};
    spk_op_pool_backward(dx, dy, NULL, &g, 1);
    const float want_dx[16] = {1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4};
    for (int i = 0; i < 16; i++) CHECK_NEAR(dx[i], want_dx[i], 0);
    /* max backward routes to the winners only */
    memset(dx, 0, sizeof dx);
    g.kind = SPK_POOL_MAX;
    spk_op_pool_backward(dx, dy, want_am, &g, 1);
    for (int i = 0; i < 16; i++)
        CHECK_NEAR(dx[i], i == 5 ? 1 : i == 7 ? 2 : i == 13 ? 3 : i == 15 ? 4 : 0, 0);

    /* 1x2x2 input [1 2; 3 4], 2x2 windows, stride 1, padding 1 -> 3x3 outputs.
     * count_include_pad 1 divides by 4; 0 divides by the in-bounds count. */
    const float x2[4] = {1, 2, 3, 4};
    g = pool_geom(SPK_POOL_AVG, 1, 2, 2, 2, 2, 1, 1, 1, 1, 1);
    CHECK_OK(spk_pool_geom_init(&g));
    CHECK(g.out_h == 3 && g.out_w == 3);
    const float sums[9] = {1, 3, 2, 4, 10, 6, 3, 7, 4}, counts[9] = {1, 2, 1, 2, 4, 2, 1, 2, 1};
    spk_op_pool_forward(y, NULL, x2, &g, 1);
    for (int i = 0; i < 9; i++) CHECK_NEAR(y[i], sums[i] / 4, 1e-7);
    g.count_include_pad = 0;
    spk_op_pool_forward(y, NULL, x2, &g, 1);
    for (int i = 0; i < 9; i++) CHECK_NEAR(y[i], sums[i] / counts[i], 1e-7);
    g.kind = SPK_POOL_SUM;
    spk_op_pool_forward(y, NULL, x2, &g, 1);
    for (int i = 0; i < 9; i++) CHECK_NEAR(y[i], sums[i], 0);
    /* max with padding on all-negative inputs: padding is -inf, never 0, and never wins */
    const float xn[4] = {-1, -2, -3, -4};
    g.kind = SPK_POOL_MAX;
    spk_op_pool_forward(y, am, xn, &g, 1);
    const float want_n[9] = {-1, -1, -2, -1, -1, -2, -3, -3, -4};
    const int32_t want_nam[9] = {0, 0, 1, 0, 0, 1, 2, 2, 3};
    for (int i = 0; i < 9; i++) {
        CHECK_NEAR(y[i], want_n[i], 0);
        CHECK(am[i] == want_nam[i]);
    }
    /* ties: the first maximum in window order wins */
    const float xt[4] = {5, 5, 5, 5};
    spk_op_pool_forward(y, am, xt, &g, 1);
    const int32_t want_tam[9] = {0, 0, 1, 0, 0, 1, 2, 2, 3};
    for (int i = 0; i < 9; i++) CHECK(am[i] == want_tam[i]);

    /* 1-d: [1 .. 6], window 3, stride 2, padding 1 -> [0+1+2, 2+3+4, 4+5+6] */
    g = pool_geom(SPK_POOL_SUM, 1, 1, 6, 1, 3, 1, 2, 0, 1, 1);
    CHECK_OK(spk_pool_geom_init(&g));
    CHECK(g.out_h == 1 && g.out_w == 3);
    spk_op_pool_forward(y, NULL, x, &g, 1);
    CHECK_NEAR(y[0], 3, 0);
    CHECK_NEAR(y[1], 9, 0);
    CHECK_NEAR(y[2], 15, 0);
}

static void test_pool_case(const char *name, spk_pool_geom g, int M) {
    CHECK_OK(spk_pool_geom_init(&g));
    const size_t nx = (size_t)M * g.c * g.in_h * g.in_w, ny = (size_t)M * g.c * g.out_h * g.out_w;
    pool_ctx c = {rnd(nx), g, M};
    float h = 1e-2f;
    if (g.kind == SPK_POOL_MAX) {
        /* distinct values 0.02 apart (a shuffled ramp, negatives included): with h = 1e-3 no
         * perturbation changes which input wins, so max pooling is locally linear */
        for (size_t i = 0; i < nx; i++) c.x[i] = (float)((double)i - nx / 2.0) * 0.02f;
        for (size_t i = nx - 1; i > 0; i--) {
            size_t j = (size_t)(urand() * (double)(i + 1));
            float t = c.x[i];
            c.x[i] = c.x[j], c.x[j] = t;
        }
        h = 1e-3f;
    }
    float *y = zeros(ny), *R = rnd(ny), *dx = zeros(nx);
    int32_t *am = g.kind == SPK_POOL_MAX ? malloc(ny * sizeof(int32_t)) : NULL;
    spk_op_pool_forward(y, am, c.x, &g, M);
    spk_op_pool_backward(dx, R, am, &g, M);
    /* tol 2e-3: outputs sum <= 9 O(1) inputs; rounding error / 2h is <= 1e-4 (max: exact) */
    char full[96];
    snprintf(full, sizeof full, "pool %s dx", name);
    fd_check(full, pool_fwd, &c, ny, R, c.x, nx, dx, h, 2e-3);
    float *dx1 = dup(dx, nx);
    spk_op_pool_backward(dx, R, am, &g, M);
    check_twice(full, dx1, dx, nx);
    free(c.x), free(y), free(R), free(dx), free(dx1), free(am);
}

static void test_pool_cases(void) {
    /* overlapping windows (stride < kernel) with padding */
    test_pool_case("sum k3 s2 p1", pool_geom(SPK_POOL_SUM, 2, 7, 6, 3, 3, 2, 2, 1, 1, 1), 2);
    test_pool_case("sum k3x2 s1 p1x0", pool_geom(SPK_POOL_SUM, 2, 5, 5, 3, 2, 1, 1, 1, 0, 1), 2);
    test_pool_case("avg k3 s2 p1 incl", pool_geom(SPK_POOL_AVG, 2, 7, 6, 3, 3, 2, 2, 1, 1, 1), 2);
    test_pool_case("avg k3 s2 p1 excl", pool_geom(SPK_POOL_AVG, 2, 7, 6, 3, 3, 2, 2, 1, 1, 0), 2);
    test_pool_case("max k2 s2", pool_geom(SPK_POOL_MAX, 2, 6, 6, 2, 2, 2, 2, 0, 0, 1), 2);
    test_pool_case("max k3 s2 p1", pool_geom(SPK_POOL_MAX, 2, 7, 6, 3, 3, 2, 2, 1, 1, 1), 2);
    test_pool_case("sum 1-d k4 s2 p2", pool_geom(SPK_POOL_SUM, 3, 1, 11, 1, 4, 1, 2, 0, 2, 1), 2);
    test_pool_case("max 1-d k3 s1 p1", pool_geom(SPK_POOL_MAX, 3, 1, 9, 1, 3, 1, 1, 0, 1, 1), 2);
}

static void test_pool_geom_errors(void) {
    spk_pool_geom g = pool_geom(SPK_POOL_SUM, 1, 2, 2, 3, 3, 1, 1, 0, 0, 1); /* window > input */
    CHECK(spk_pool_geom_init(&g) == SPK_ERR_SHAPE);
    CHECK_MSG(strstr(spk_errmsg(NULL), "empty"), "msg: %s", spk_errmsg(NULL));
    g = pool_geom(SPK_POOL_MAX, 1, 4, 4, 2, 2, 1, 1, 2, 0, 1); /* padding > kernel/2 */
    CHECK(spk_pool_geom_init(&g) == SPK_ERR_INVALID_ARG);
    CHECK_MSG(strstr(spk_errmsg(NULL), "half the kernel"), "msg: %s", spk_errmsg(NULL));
    g = pool_geom(SPK_POOL_AVG, 1, 4, 4, 2, 2, 1, 0, 0, 0, 1);
    CHECK(spk_pool_geom_init(&g) == SPK_ERR_INVALID_ARG);
    CHECK_MSG(strstr(spk_errmsg(NULL), "stride_w = 0"), "msg: %s", spk_errmsg(NULL));
    g = pool_geom(SPK_POOL_KIND_COUNT, 1, 4, 4, 2, 2, 1, 1, 0, 0, 1);
    CHECK(spk_pool_geom_init(&g) == SPK_ERR_INVALID_ARG);
    CHECK(spk_pool_geom_init(NULL) == SPK_ERR_INVALID_ARG);
    g = pool_geom(SPK_POOL_AVG, 1, 7, 6, 3, 3, 2, 2, 1, 1, 1); /* (7+2-3)/2+1 = 4, (6+2-3)/2+1 = 3 */
    CHECK_OK(spk_pool_geom_init(&g));
    CHECK(g.out_h == 4 && g.out_w == 3);
}

/* ------------------------------------------------------------------ scale ------------ */

typedef struct { float *x, *s; int M, F; } scale_ctx;
static void scale_fwd(const void *c, float *y) {
    const scale_ctx *d = c;
    spk_op_scale_forward(y, d->x, d->s, d->M, d->F);
}

static void test_scale(void) {
    const float x[4] = {1, 2, 3, 4}, s[2] = {-1, 0.5f};
    float y[4];
    spk_op_scale_forward(y, x, s, 2, 2);
    CHECK_NEAR(y[0], -1, 0);
    CHECK_NEAR(y[1], 1, 0);
    CHECK_NEAR(y[2], -3, 0);
    CHECK_NEAR(y[3], 2, 0);

    const int M = 4, F = 5;
    scale_ctx c = {rnd((size_t)M * F), rnd(F), M, F};
    float *R = rnd((size_t)M * F), *dx = zeros((size_t)M * F), *ds = zeros(F);
    spk_op_scale_backward(dx, ds, R, c.x, c.s, M, F);
    /* tol 1e-3: each output is one product; rounding / 2h ~ 1e-6 */
    fd_check("scale dx", scale_fwd, &c, (size_t)M * F, R, c.x, (size_t)M * F, dx, 1e-2f, 1e-3);
    fd_check("scale ds", scale_fwd, &c, (size_t)M * F, R, c.s, F, ds, 1e-2f, 1e-3);
    float *dx1 = dup(dx, (size_t)M * F), *ds1 = dup(ds, F);
    spk_op_scale_backward(dx, ds, R, c.x, c.s, M, F);
    check_twice("scale dx", dx1, dx, (size_t)M * F);
    check_twice("scale ds", ds1, ds, F);
    free(c.x), free(c.s), free(R), free(dx), free(ds), free(dx1), free(ds1);
}

/* ------------------------------------------------------------------ dropout ---------- */

typedef struct { float *x, *mask; int T, B, F; } drop_ctx;
static void drop_fwd(const void *c, float *y) {
    const drop_ctx *d = c;
    spk_op_dropout_forward(y, d->mask, d->x, d->T, d->B, d->F);
}

static void test_dropout(void) {
    const spk_rng rng = {1234, 7};
    const int B = 64, F = 1024;
    const size_t n = (size_t)B * F;
    const float p = 0.3f, scale = 1.0f / (1.0f - p);
    float *m1 = zeros(n), *m2 = zeros(n), *m3 = zeros(n);
    spk_op_dropout_mask(m1, p, rng, 5, B, F);
    size_t z = 0, bad = 0;
    for (size_t i = 0; i < n; i++) {
        if (m1[i] == 0.0f) z++;
        else if (m1[i] != scale) bad++;
    }
    /* the count of zeros is Binomial(n, p): within 4 sigma of n*p */
    const double sigma = sqrt((double)n * p * (1 - p));
    printf("  dropout p=%.1f: %zu zeros of %zu (expected %.0f, sigma %.0f)\n", p, z, n, n * p, sigma);
    CHECK_MSG(fabs((double)z - n * p) <= 4 * sigma, "zeros %zu, expected %g +- %g", z, n * p, 4 * sigma);
    CHECK_MSG(bad == 0, "%zu kept entries are not 1/(1-p) = %g", bad, scale);
    /* the mask is the documented draw: index b*F + f, lane 0, step = draw */
    for (int b = 0; b < B; b += 21)
        for (int f = 0; f < F; f += 97) {
            float u = spk_rng_uniform(rng, 5, (uint64_t)b * F + f, 0);
            CHECK(m1[(size_t)b * F + f] == (u < 1.0f - p ? scale : 0.0f));
        }
    /* same (seed, draw) -> same mask, at 1 and 2 threads; another draw or seed -> another */
    int th = spk_get_threads();
    CHECK_OK(spk_set_threads(1));
    spk_op_dropout_mask(m2, p, rng, 5, B, F);
    CHECK(memcmp(m1, m2, n * sizeof(float)) == 0);
    CHECK_OK(spk_set_threads(2));
    spk_op_dropout_mask(m2, p, rng, 5, B, F);
    CHECK(memcmp(m1, m2, n * sizeof(float)) == 0);
    CHECK_OK(spk_set_threads(th));
    spk_op_dropout_mask(m3, p, rng, 6, B, F);
    size_t same = 0;
    for (size_t i = 0; i < n; i++) same += m1[i] == m3[i];
    /* two independent masks agree with probability p^2 + (1-p)^2 = 0.58 per entry */
    CHECK_MSG(fabs((double)same / n - 0.58) < 0.02, "draw 5 vs 6 agree on %zu of %zu", same, n);
    spk_rng rng2 = {1235, 7};
    spk_op_dropout_mask(m3, p, rng2, 5, B, F);
    CHECK(memcmp(m1, m3, n * sizeof(float)) != 0);
    /* p = 0 keeps everything */
    spk_op_dropout_mask(m3, 0.0f, rng, 5, B, F);
    CHECK(max_abs(m3, n) == 1.0f);
    size_t ones = 0;
    for (size_t i = 0; i < n; i++) ones += m3[i] == 1.0f;
    CHECK(ones == n);

    /* forward holds mask row b for every step t: x = 1 gives y[t, b] = mask[b] */
    const int T = 3, Bs = 4, Fs = 6;
    float *mask = zeros((size_t)Bs * Fs), *ones_x = malloc((size_t)T * Bs * Fs * sizeof(float));
    float *y = zeros((size_t)T * Bs * Fs);
    spk_op_dropout_mask(mask, 0.5f, rng, 1, Bs, Fs);
    for (int i = 0; i < T * Bs * Fs; i++) ones_x[i] = 1.0f;
    spk_op_dropout_forward(y, mask, ones_x, T, Bs, Fs);
    for (int t = 0; t < T; t++) CHECK(memcmp(y + (size_t)t * Bs * Fs, mask, (size_t)Bs * Fs * sizeof(float)) == 0);
    CHECK(max_abs(mask, (size_t)Bs * Fs) == 2.0f); /* some kept (scaled by 2) ... */
    size_t zs = 0;
    for (int i = 0; i < Bs * Fs; i++) zs += mask[i] == 0.0f;
    CHECK(zs > 0); /* ... and some dropped, so the gradient check below sees both */

    drop_ctx c = {rnd((size_t)T * Bs * Fs), mask, T, Bs, Fs};
    float *R = rnd((size_t)T * Bs * Fs), *dx = zeros((size_t)T * Bs * Fs);
    spk_op_dropout_backward(dx, R, mask, T, Bs, Fs);
    /* tol 1e-3: one product per output */
    fd_check("dropout dx", drop_fwd, &c, (size_t)T * Bs * Fs, R, c.x, (size_t)T * Bs * Fs, dx, 1e-2f, 1e-3);
    float *dx1 = dup(dx, (size_t)T * Bs * Fs);
    spk_op_dropout_backward(dx, R, mask, T, Bs, Fs);
    check_twice("dropout dx", dx1, dx, (size_t)T * Bs * Fs);
    free(m1), free(m2), free(m3), free(mask), free(ones_x), free(y), free(c.x), free(R), free(dx), free(dx1);
}

/* ------------------------------------------------------------------ delay ------------ */

typedef struct { float *x; const int32_t *d; int T, B, F; } delay_ctx;
static void delay_fwd(const void *c, float *y) {
    const delay_ctx *d = c;
    spk_op_delay_forward(y, d->x, d->d, d->T, d->B, d->F);
}

static void test_delay(void) {
    /* T = 4, B = 1, F = 3, delays {0, 2, 5}: feature 1 shifted by two steps, feature 2 by
     * more than the sequence (all zeros) */
    const int T = 4, B = 1, F = 3;
    const int32_t d[3] = {0, 2, 5};
    const float x[12] = {1, 10, 100, 2, 20, 200, 3, 30, 300, 4, 40, 400};
    const float want[12] = {1, 0, 0, 2, 0, 0, 3, 10, 0, 4, 20, 0};
    float y[12], yt[3];
    spk_op_delay_forward(y, x, d, T, B, F);
    for (int i = 0; i < 12; i++) CHECK_NEAR(y[i], want[i], 0);
    for (int t = 0; t < T; t++) {
        spk_op_delay_step(yt, x, d, t, B, F);
        for (int f = 0; f < F; f++) CHECK_NEAR(yt[f], want[t * F + f], 0);
    }
    /* backward: dx[t, f] = dy[t + d[f], f] */
    const float dy[12] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
    const float want_dx[12] = {1, 8, 0, 4, 11, 0, 7, 0, 0, 10, 0, 0};
    float dx[12] = {0};
    spk_op_delay_backward(dx, dy, d, T, B, F);
    for (int i = 0; i < 12; i++) CHECK_NEAR(dx[i], want_dx[i], 0);

    /* FD with a batch: T = 5, B = 3, F = 4, delays {0, 1, 3, 2} */
    const int T2 = 5, B2 = 3, F2 = 4;
    const int32_t d2[4] = {0, 1, 3, 2};
    const size_t n = (size_t)T2 * B2 * F2;
    delay_ctx c = {rnd(n), d2, T2, B2, F2};
    float *R = rnd(n), *g = zeros(n), *y2 = zeros(n), *ys = zeros((size_t)B2 * F2);
    spk_op_delay_backward(g, R, d2, T2, B2, F2);
    /* tol 1e-3: each output is a copy of one input (exact); only double rounding remains */
    fd_check("delay dx", delay_fwd, &c, n, R, c.x, n, g, 1e-2f, 1e-3);
    float *g1 = dup(g, n);
    spk_op_delay_backward(g, R, d2, T2, B2, F2);
    check_twice("delay dx", g1, g, n);
    /* the step version equals the sequence version at every step */
    spk_op_delay_forward(y2, c.x, d2, T2, B2, F2);
    for (int t = 0; t < T2; t++) {
        spk_op_delay_step(ys, c.x, d2, t, B2, F2);
        CHECK(memcmp(ys, y2 + (size_t)t * B2 * F2, (size_t)B2 * F2 * sizeof(float)) == 0);
    }
    free(c.x), free(R), free(g), free(g1), free(y2), free(ys);
}

/* ------------------------------------------------------------------ threads ---------- */

/* Dense, conv and pool outputs and gradients are bit-identical at 1, 2 and 3 threads. */
static void run_threaded(int threads, float **res, size_t *nout) {
    CHECK_OK(spk_set_threads(threads));
    rng_state = 0xabcdef12345ull; /* the same inputs each time */
    int k = 0;
    /* dense: big enough for OpenBLAS and the OpenMP loops to split; 1200 rows make more
     * than 8 GEMM tiles of 128 rows, so the tiles grow (gemm.c) */
    for (int rep = 0; rep < 2; rep++) {
        const int M = rep ? 1200 : 256, in = 300, out = 200;
        float *x = rnd((size_t)M * in), *W = rnd((size_t)out * in), *b = rnd(out), *dy = rnd((size_t)M * out);
        res[k] = zeros((size_t)M * out), nout[k] = (size_t)M * out;
        spk_op_dense_forward(res[k++], x, W, b, M, in, out);
        res[k] = zeros((size_t)M * in), nout[k] = (size_t)M * in;
        res[k + 1] = zeros((size_t)out * in), nout[k + 1] = (size_t)out * in;
        res[k + 2] = zeros(out), nout[k + 2] = out;
        spk_op_dense_backward(res[k], res[k + 1], res[k + 2], dy, x, W, M, in, out);
        k += 3;
        free(x), free(W), free(b), free(dy);
    }
    /* conv */
    spk_conv_geom g = conv_geom(8, 16, 2, 16, 16, 3, 3, 1, 1, 1, 1, 1, 1);
    CHECK_OK(spk_conv_geom_init(&g));
    const int Mc = 16;
    const size_t nx = conv_nx(&g, Mc), ny = conv_ny(&g, Mc), nw = conv_nw(&g);
    float *cx = rnd(nx), *cW = rnd(nw), *cb = rnd(g.cout), *cdy = rnd(ny);
    float *ws = malloc(spk_op_conv_workspace(&g, Mc) * sizeof(float));
    res[k] = zeros(ny), nout[k] = ny;
    spk_op_conv_forward(res[k++], ws, cx, cW, cb, &g, Mc);
    res[k] = zeros(nx), nout[k] = nx;
    res[k + 1] = zeros(nw), nout[k + 1] = nw;
    res[k + 2] = zeros(g.cout), nout[k + 2] = g.cout;
    spk_op_conv_backward(res[k], res[k + 1], res[k + 2], ws, cdy, cx, cW, &g, Mc);
    k += 3;
    /* avg pool over the conv input */
    spk_pool_geom pg = pool_geom(SPK_POOL_AVG, 8, 16, 16, 3, 3, 2, 2, 1, 1, 0);
    CHECK_OK(spk_pool_geom_init(&pg));
    const size_t npy = (size_t)Mc * pg.c * pg.out_h * pg.out_w;
    res[k] = zeros(npy), nout[k] = npy;
    spk_op_pool_forward(res[k++], NULL, cx, &pg, Mc);
    res[k] = zeros(nx), nout[k] = nx;
    spk_op_pool_backward(res[k++], cdy, NULL, &pg, Mc); /* cdy has >= npy entries */
    free(cx), free(cW), free(cb), free(cdy), free(ws);
}

static void test_threads(void) {
    enum { NOUT = 14 };
    float *a[NOUT], *b[NOUT], *c[NOUT];
    size_t na[NOUT], nb[NOUT], nc[NOUT];
    const char *names[NOUT] = {"dense y",      "dense dx",      "dense dW",      "dense db",     "dense(1200) y",
                               "dense(1200) dx", "dense(1200) dW", "dense(1200) db", "conv y",       "conv dx",
                               "conv dW",      "conv db",       "pool y",        "pool dx"};
    int th = spk_get_threads();
    run_threaded(1, a, na);
    run_threaded(2, b, nb);
    run_threaded(3, c, nc); /* an odd count: tiles do not divide evenly among threads */
    CHECK_OK(spk_set_threads(th));
    for (int i = 0; i < NOUT; i++) {
        CHECK(na[i] == nb[i] && na[i] == nc[i]);
        CHECK_MSG(memcmp(a[i], b[i], na[i] * sizeof(float)) == 0, "%s differs between 1 and 2 threads (max %g)",
                  names[i], tu_max_abs_diff(a[i], b[i], na[i]));
        CHECK_MSG(memcmp(a[i], c[i], na[i] * sizeof(float)) == 0, "%s differs between 1 and 3 threads (max %g)",
                  names[i], tu_max_abs_diff(a[i], c[i], na[i]));
        free(a[i]), free(b[i]), free(c[i]);
    }
}

/* The sparse dense kernels against the GEMM path: CSR contents (odd widths, NaN counted as
 * nonzero, empty rows), forward and weight gradient equal up to reassociation, the same bits
 * at 1 and 2 threads, and the weight gradient accumulating (+=). */
static void sparse_case(int M, int in, int out, double density, float graded) {
    float *x = zeros((size_t)M * in), *W = rnd((size_t)out * in), *b = rnd((size_t)out), *dy = rnd((size_t)M * out);
    size_t want = 0;
    for (size_t k = 0; k < (size_t)M * in; k++)
        if (urand() < density && k % (size_t)in != 3) x[k] = graded != 0 ? (float)(graded * urand()) : 1.0f, want++;
    for (int i = 0; i < in; i++) x[(size_t)(M / 2) * in + i] = 0.0f; /* an empty row */
    want = 0;
    for (size_t k = 0; k < (size_t)M * in; k++) want += x[k] != 0.0f;
    spk_csr c;
    memset(&c, 0, sizeof c);
    CHECK(spk_op_csr_count(&c, x, M, in) == want);
    CHECK(spk_op_csr_fill(&c, x) == 0);
    int ok = c.ptr[0] == 0 && (size_t)c.ptr[M] == want;
    for (int m = 0; m < M && ok; m++)
        for (int32_t k = c.ptr[m]; k < c.ptr[m + 1]; k++) {
            ok &= c.idx[k] >= 0 && c.idx[k] < in && x[(size_t)m * in + c.idx[k]] == c.val[k] && c.val[k] != 0.0f;
            ok &= k == c.ptr[m] || c.idx[k] > c.idx[k - 1];
        }
    CHECK_MSG(ok, "CSR of a %dx%d input (density %.2f) does not list its nonzeros in order", M, in, density);
    float *Wt = zeros((size_t)in * out), *ys = zeros((size_t)M * out), *yg = zeros((size_t)M * out);
    spk_op_transpose(Wt, W, out, in);
    CHECK(Wt[(size_t)(in - 1) * out + (out - 1)] == W[(size_t)(out - 1) * in + (in - 1)]);
    spk_op_dense_forward_sparse(ys, &c, Wt, b, out);
    spk_op_dense_forward(yg, x, W, b, M, in, out);
    double e = tu_max_abs_diff(ys, yg, (size_t)M * out) / fmax(1.0, max_abs(yg, (size_t)M * out));
    CHECK_MSG(e < 1e-5, "sparse forward %dx%d->%d differs from the GEMM by %g", M, in, out, e);
    /* the same floats from the dense rows, without the CSR (the recurrent cells' forward) */
    float *yr = zeros((size_t)M * out);
    int32_t *ridx = malloc((size_t)(in + 16) * sizeof(int32_t));
    float *rval = malloc((size_t)(in + 16) * sizeof(float));
    spk_op_dense_forward_sparse_rows(yr, out, x, in, Wt, b, M, in, out, ridx, rval);
    CHECK_MSG(memcmp(yr, ys, (size_t)M * out * sizeof(float)) == 0, "sparse forward rows %dx%d->%d differ from the CSR's", M, in, out);
    free(yr), free(ridx), free(rval);
    float *dws = rnd((size_t)out * in), *dwg = dup(dws, (size_t)out * in), *scr = zeros(spk_op_dense_dw_scratch(in, out));
    spk_op_dense_dw_sparse(dws, scr, dy, &c, out);
    spk_op_dense_backward(NULL, dwg, NULL, dy, x, W, M, in, out);
    e = tu_max_abs_diff(dws, dwg, (size_t)out * in) / fmax(1.0, max_abs(dwg, (size_t)out * in));
    CHECK_MSG(e < 1e-5, "sparse weight gradient %dx%d->%d differs from the GEMM by %g", M, in, out, e);
    /* the input gradient (narrow layers take their own kernel) against a double loop, and
     * accumulating into what dx held */
    float *dx = rnd((size_t)M * in);
    double *dxw = malloc((size_t)M * in * sizeof(double));
    for (size_t k = 0; k < (size_t)M * in; k++) dxw[k] = dx[k];
    for (int m = 0; m < M; m++)
        for (int o = 0; o < out; o++)
            for (int i = 0; i < in; i++) dxw[(size_t)m * in + i] += (double)dy[(size_t)m * out + o] * W[(size_t)o * in + i];
    spk_op_dense_backward(dx, NULL, NULL, dy, x, W, M, in, out);
    e = rel_diff_d(dx, dxw, (size_t)M * in);
    CHECK_MSG(e < 1e-5, "dense input gradient %dx%d->%d differs from a double loop by %g", M, in, out, e);
    free(dx), free(dxw);
    /* the same bits on 1 and 2 threads */
    int th = spk_get_threads();
    float *y1 = zeros((size_t)M * out), *d1 = zeros((size_t)out * in), *y2 = zeros((size_t)M * out), *d2 = zeros((size_t)out * in);
    CHECK_OK(spk_set_threads(1));
    spk_op_dense_forward_sparse(y1, &c, Wt, b, out);
    spk_op_dense_dw_sparse(d1, scr, dy, &c, out);
    CHECK_OK(spk_set_threads(2));
    spk_op_dense_forward_sparse(y2, &c, Wt, b, out);
    spk_op_dense_dw_sparse(d2, scr, dy, &c, out);
    CHECK_OK(spk_set_threads(th));
    CHECK(memcmp(y1, y2, (size_t)M * out * sizeof(float)) == 0);
    CHECK(memcmp(d1, d2, (size_t)out * in * sizeof(float)) == 0);
    printf("  sparse dense %5dx%4d -> %3d, density %.2f%s: CSR exact, forward and dW match the GEMM\n", M, in, out,
           density, graded != 0 ? " (graded)" : "");
    spk_op_csr_free(&c);
    free(x), free(W), free(b), free(dy), free(Wt), free(ys), free(yg), free(dws), free(dwg), free(scr);
    free(y1), free(d1), free(y2), free(d2);
}

/* spk_op_csr_count compresses while it counts when the last count was filled (staging) and
 * the fill then moves the rows into place: the same CSR as a fresh one, whether the rows fit
 * the room (a count after a fill), do not (a denser input), or staging is off (a count that
 * was not filled: that input took the dense path). */
static int csr_same(const spk_csr *a, const spk_csr *b) {
    return a->M == b->M && a->nnz == b->nnz && memcmp(a->ptr, b->ptr, ((size_t)a->M + 1) * sizeof(int32_t)) == 0 &&
           memcmp(a->idx, b->idx, a->nnz * sizeof(int32_t)) == 0 && memcmp(a->val, b->val, a->nnz * sizeof(float)) == 0;
}

static void test_csr_staging(void) {
    const int M = 700, cols = 300; /* (M * cols above the threads' threshold) */
    const double dens[5] = {0.05, 0.06, 0.5, 0.04, 0.05};
    const int fill[5] = {1, 1, 1, 0, 1};
    spk_csr c, f;
    memset(&c, 0, sizeof c);
    memset(&f, 0, sizeof f);
    int staged[5];
    for (int q = 0; q < 5; q++) {
        float *x = zeros((size_t)M * cols);
        for (size_t k = 0; k < (size_t)M * cols; k++)
            x[k] = spk_rng_uniform((spk_rng){21, (uint64_t)q}, 0, k, 0) < dens[q] ? 1.0f + (float)(k % 7) : 0.0f;
        CHECK(spk_op_csr_count(&c, x, M, cols) != (size_t)-1);
        staged[q] = c.staged;
        if (fill[q]) {
            CHECK(spk_op_csr_fill(&c, x) == 0);
            CHECK(spk_op_csr_count(&f, x, M, cols) != (size_t)-1 && spk_op_csr_fill(&f, x) == 0);
            CHECK_MSG(csr_same(&c, &f), "CSR of input %d (density %.2f, staged %d) differs from a fresh one", q, dens[q], staged[q]);
            spk_op_csr_free(&f);
            memset(&f, 0, sizeof f);
        }
        free(x);
    }
    /* staged: after a filled count (its room), also for an input sparser than the last; not:
     * the first count, a denser input than the room, the count after one not filled */
    CHECK_MSG(!staged[0] && staged[1] && !staged[2] && staged[3] && !staged[4],
              "CSR staging taken as %d %d %d %d %d", staged[0], staged[1], staged[2], staged[3], staged[4]);
    spk_op_csr_free(&c);
    printf("  CSR staging                         the same CSR staged, not fitting and off\n");
}

static void test_sparse(void) {
    test_csr_staging();
    sparse_case(64, 700, 256, 0.05, 0);
    sparse_case(333, 37, 40, 0.3, 0);   /* widths that are not multiples of 16 */
    sparse_case(100, 256, 100, 0.2, 3.0f); /* graded spikes */
    sparse_case(7, 5, 33, 0.0, 0);       /* no spikes at all */
    sparse_case(50, 90, 48, 0.2, 0);     /* multiples of 16 outputs: blocks of up to 256 in registers */
    sparse_case(30, 64, 272, 0.1, 1.5f);
    sparse_case(1100, 40, 256, 0.1, 0);  /* several chunks of rows in the weight gradient (512 rows of 256) */
    sparse_case(300, 1000, 10, 0.2, 0);  /* narrow layers (<= 16 outputs): their own kernels */
    sparse_case(90, 150, 16, 0.3, 2.0f);
    sparse_case(40, 77, 1, 0.5, 0);
    sparse_case(200, 256, 20, 0.05, 0);  /* 17 - 31 outputs: the gather kernels, not the GEMM */
    sparse_case(40, 50, 300, 0.2, 0);    /* a block of 256 outputs and a narrower one */
    /* NaN is a nonzero: it must reach the output as the GEMM would carry it */
    float x[20] = {0}, W[32 * 20];
    for (int k = 0; k < 32 * 20; k++) W[k] = 0.5f;
    x[17] = NAN;
    spk_csr c;
    memset(&c, 0, sizeof c);
    CHECK(spk_op_csr_count(&c, x, 1, 20) == 1);
    CHECK(spk_op_csr_fill(&c, x) == 0 && c.idx[0] == 17 && isnan(c.val[0]));
    float Wt[20 * 32], y[32];
    spk_op_transpose(Wt, W, 32, 20);
    spk_op_dense_forward_sparse(y, &c, Wt, NULL, 32);
    CHECK(isnan(y[0]) && isnan(y[31]));
    spk_op_csr_free(&c);
}

/* Convolution from the nonzero inputs against im2col + GEMM: forward and weight gradient,
 * several geometries (stride, padding, dilation, 1-d), graded values, 1 vs 2 threads. */
static void conv_sparse_case(const char *name, spk_conv_geom g, int M, double density) {
    CHECK_OK(spk_conv_geom_init(&g));
    size_t xr = (size_t)g.cin * g.in_h * g.in_w, yr = (size_t)g.cout * g.out_h * g.out_w, CK = (size_t)g.cin * g.k_h * g.k_w;
    float *x = zeros(M * xr), *W = rnd(g.cout * CK), *b = rnd(g.cout), *dy = rnd(M * yr);
    for (size_t k = 0; k < M * xr; k++)
        if (urand() < density) x[k] = k % 3 ? 1.0f : (float)(2.0 * urand());
    spk_csr c;
    memset(&c, 0, sizeof c);
    spk_op_csr_count(&c, x, M, (int)xr);
    CHECK(spk_op_csr_fill(&c, x) == 0);
    float *Wr = zeros(CK * g.cout), *ys = zeros(M * yr), *yg = zeros(M * yr), *ws = zeros(spk_op_conv_workspace(&g, M));
    spk_op_transpose(Wr, W, g.cout, (int)CK);
    CHECK(spk_op_conv_forward_sparse(ys, &c, Wr, b, &g) == 0);
    spk_op_conv_forward(yg, ws, x, W, b, &g, M);
    double e = tu_max_abs_diff(ys, yg, M * yr) / fmax(1.0, max_abs(yg, M * yr));
    CHECK_MSG(e < 1e-5, "%s: sparse conv forward differs from im2col+GEMM by %g", name, e);
    float *dws = rnd(g.cout * CK), *dwg = dup(dws, g.cout * CK);
    CHECK(spk_op_conv_dw_sparse(dws, dy, &c, &g) == 0);
    spk_op_conv_backward(NULL, dwg, NULL, ws, dy, x, W, &g, M);
    e = tu_max_abs_diff(dws, dwg, g.cout * CK) / fmax(1.0, max_abs(dwg, g.cout * CK));
    CHECK_MSG(e < 1e-5, "%s: sparse conv weight gradient differs from im2col+GEMM by %g", name, e);
    int th = spk_get_threads();
    float *y1 = zeros(M * yr), *d1 = zeros(g.cout * CK);
    CHECK_OK(spk_set_threads(1));
    spk_op_conv_forward_sparse(y1, &c, Wr, b, &g);
    spk_op_conv_dw_sparse(d1, dy, &c, &g);
    CHECK_OK(spk_set_threads(2));
    memset(dws, 0, g.cout * CK * sizeof(float));
    spk_op_conv_forward_sparse(ys, &c, Wr, b, &g);
    spk_op_conv_dw_sparse(dws, dy, &c, &g);
    CHECK_OK(spk_set_threads(th));
    CHECK(memcmp(y1, ys, M * yr * sizeof(float)) == 0 && memcmp(d1, dws, g.cout * CK * sizeof(float)) == 0);
    printf("  sparse conv %-28s density %.2f: forward and dW match im2col+GEMM, same on 1 and 2 threads\n", name, density);
    spk_op_csr_free(&c);
    free(x), free(W), free(b), free(dy), free(Wr), free(ys), free(yg), free(ws), free(dws), free(dwg), free(y1), free(d1);
}

static void test_conv_sparse(void) {
    conv_sparse_case("12x12x12 -> 64, k5", (spk_conv_geom){.cin = 12, .cout = 64, .groups = 1, .in_h = 12, .in_w = 12, .k_h = 5, .k_w = 5, .stride_h = 1, .stride_w = 1, .dil_h = 1, .dil_w = 1}, 20, 0.05);
    conv_sparse_case("stride 2, pad 1, k3", (spk_conv_geom){.cin = 3, .cout = 16, .groups = 1, .in_h = 9, .in_w = 7, .k_h = 3, .k_w = 3, .stride_h = 2, .stride_w = 2, .pad_h = 1, .pad_w = 1, .dil_h = 1, .dil_w = 1}, 11, 0.2);
    conv_sparse_case("dilation 2, pad 2, 40 out", (spk_conv_geom){.cin = 2, .cout = 40, .groups = 1, .in_h = 10, .in_w = 10, .k_h = 3, .k_w = 3, .stride_h = 1, .stride_w = 2, .pad_h = 2, .pad_w = 2, .dil_h = 2, .dil_w = 2}, 5, 0.3);
    /* stride and dilation 1 take the division-free tap ranges, per dimension */
    conv_sparse_case("pad 2, k5", (spk_conv_geom){.cin = 3, .cout = 16, .groups = 1, .in_h = 8, .in_w = 9, .k_h = 5, .k_w = 5, .stride_h = 1, .stride_w = 1, .pad_h = 2, .pad_w = 2, .dil_h = 1, .dil_w = 1}, 7, 0.15);
    conv_sparse_case("stride (1, 2), pad (1, 0), k3", (spk_conv_geom){.cin = 2, .cout = 8, .groups = 1, .in_h = 7, .in_w = 9, .k_h = 3, .k_w = 3, .stride_h = 1, .stride_w = 2, .pad_h = 1, .dil_h = 1, .dil_w = 1}, 5, 0.2);
    conv_sparse_case("1-d, k7", (spk_conv_geom){.cin = 4, .cout = 9, .groups = 1, .in_h = 1, .in_w = 50, .k_h = 1, .k_w = 7, .stride_h = 1, .stride_w = 1, .pad_w = 3, .dil_h = 1, .dil_w = 1}, 6, 0.1);
    /* 2.5 spikes or more per input pixel: the forward gathers per output pixel (80 outputs:
     * a block of 64 channels and one of 16; 24: one block, the second vector masked) */
    conv_sparse_case("gather, 32 -> 80, k5", (spk_conv_geom){.cin = 32, .cout = 80, .groups = 1, .in_h = 10, .in_w = 10, .k_h = 5, .k_w = 5, .stride_h = 1, .stride_w = 1, .dil_h = 1, .dil_w = 1}, 6, 0.15);
    conv_sparse_case("gather, stride 2, pad 2, dil 2", (spk_conv_geom){.cin = 16, .cout = 24, .groups = 1, .in_h = 11, .in_w = 9, .k_h = 3, .k_w = 3, .stride_h = 2, .stride_w = 2, .pad_h = 2, .pad_w = 2, .dil_h = 2, .dil_w = 2}, 5, 0.3);
    conv_sparse_case("gather, 1-d, k4, 130 out", (spk_conv_geom){.cin = 8, .cout = 130, .groups = 1, .in_h = 1, .in_w = 30, .k_h = 1, .k_w = 4, .stride_h = 1, .stride_w = 1, .pad_w = 1, .dil_h = 1, .dil_w = 1}, 4, 0.5);
}

/* The 2x2 stride-2 max pool (a fast path) against a direct loop: ties (first wins), NaN
 * (the first NaN wins), -inf, and an odd input size whose last row and column are dropped. */
static void test_max_pool_2x2(void) {
    spk_pool_geom g = {.kind = SPK_POOL_MAX, .c = 3, .in_h = 9, .in_w = 7, .k_h = 2, .k_w = 2, .stride_h = 2, .stride_w = 2};
    CHECK_OK(spk_pool_geom_init(&g));
    const int M = 4, ip = 63, op = g.out_h * g.out_w;
    float x[4 * 3 * 63], y[4 * 3 * 12];
    int32_t am[4 * 3 * 12];
    for (int k = 0; k < M * 3 * ip; k++) x[k] = (float)(int)(urand() * 4); /* many ties */
    x[5] = NAN, x[ip + 1] = -INFINITY, x[ip] = -INFINITY, x[ip + 7] = -INFINITY, x[ip + 8] = -INFINITY;
    x[2 * ip + 8] = NAN, x[2 * ip + 9] = NAN;
    CHECK(g.out_h == 4 && g.out_w == 3);
    spk_op_pool_forward(y, am, x, &g, M);
    int ok = 1;
    for (int pl = 0; pl < M * 3; pl++)
        for (int oy = 0; oy < g.out_h; oy++)
            for (int ox = 0; ox < g.out_w; ox++) {
                float best = -INFINITY;
                int bi = 2 * oy * 7 + 2 * ox;
                for (int dy = 0; dy < 2; dy++)
                    for (int dx = 0; dx < 2; dx++) {
                        int i = (2 * oy + dy) * 7 + 2 * ox + dx;
                        float v = x[pl * ip + i];
                        if (isnan(best)) continue;
                        if (isnan(v) || v > best) best = v, bi = i;
                    }
                int o = pl * op + oy * g.out_w + ox;
                ok &= am[o] == bi && (isnan(best) ? isnan(y[o]) : y[o] == best);
            }
    CHECK_MSG(ok, "max pool 2x2 differs from the direct loop");
    printf("  max pool 2x2 s2 (fast path)        ties, NaN, -inf and odd sizes as the direct loop\n");
}

/* spk_op_dense_dx_set writes dy W over whatever dx held: the same bits as accumulating into
 * zeros, on the narrow kernel (10, 16 outputs) and the GEMM (40) */
static void test_dense_dx_set(void) {
    const int widths[3] = {10, 16, 40};
    for (int c = 0; c < 3; c++) {
        const int M = 7, in = 83, out = widths[c];
        float *dy = rnd((size_t)M * out), *W = rnd((size_t)out * in), *a = zeros((size_t)M * in), *b = zeros((size_t)M * in);
        for (size_t k = 0; k < (size_t)M * in; k++) b[k] = NAN; /* overwritten, never read */
        spk_op_dense_backward(a, NULL, NULL, dy, NULL, W, M, in, out);
        spk_op_dense_dx_set(b, dy, W, M, in, out);
        CHECK_MSG(memcmp(a, b, (size_t)M * in * sizeof(float)) == 0, "dense_dx_set (%d outputs) differs from += into zeros", out);
        free(dy), free(W), free(a), free(b);
    }
    printf("  dense dx set (10, 16, 40 outputs)   the same bits as += into zeros\n");
}

/* The row kernels of a recomputing population's readout (exec.c) and of the recurrent cells
 * (cell.c): spk_op_dense_forward_rows, spk_op_dense_dw_rows and spk_op_dense_dx_row against
 * sums in double over strided rows; spk_op_dense_dx_rows the same bits as
 * spk_op_dense_dx_row row by row. Widths around the narrow kernels' cases (two rows at once up
 * to 12 outputs) and wide ones (tiles of 6 rows x 64 inputs), inputs with a partial vector. */
static void test_dense_rows(void) {
    const int widths[9] = {1, 3, 10, 12, 13, 16, 40, 64, 256}, ins[3] = {1, 17, 100};
    double worst = 0;
    for (int c = 0; c < 9; c++)
        for (int q = 0; q < 3; q++) {
            const int R = 13, in = ins[q], out = widths[c]; /* (wide layers: tiles of 6 rows and fewer) */
            const size_t xs = (size_t)in + 3, ys = (size_t)out + 2; /* strided rows */
            float *x = rnd((size_t)R * xs), *W = rnd((size_t)out * in), *b = rnd((size_t)out), *dy = rnd((size_t)R * ys);
            float *y = zeros((size_t)R * ys), *dx1 = rnd((size_t)R * xs), *dx2 = malloc((size_t)R * xs * sizeof(float));
            float *dW = rnd((size_t)out * in), *dW0 = malloc((size_t)out * in * sizeof(float));
            memcpy(dx2, dx1, (size_t)R * xs * sizeof(float));
            memcpy(dW0, dW, (size_t)out * in * sizeof(float));
            spk_op_dense_forward_rows(y, ys, x, xs, W, b, R, in, out);
            spk_op_dense_dw_rows(dW, dy, ys, x, xs, R, in, out);
            for (int r = 0; r < R; r++) {
                for (int k = 0; k < out; k++) {
                    double a = b[k];
                    for (int i = 0; i < in; i++) a += (double)W[(size_t)k * in + i] * x[r * xs + i];
                    worst = fmax(worst, fabs(a - y[r * ys + k]));
                }
                float *xr = dx1 + r * xs;
                double *want = malloc((size_t)in * sizeof(double));
                for (int i = 0; i < in; i++) {
                    want[i] = r % 2 ? xr[i] : 0.0;
                    for (int k = 0; k < out; k++) want[i] += (double)dy[r * ys + k] * W[(size_t)k * in + i];
                }
                spk_op_dense_dx_row(xr, dy + r * ys, W, in, out, r % 2);
                for (int i = 0; i < in; i++) worst = fmax(worst, fabs(want[i] - xr[i]));
                free(want);
            }
            for (int k = 0; k < out; k++)
                for (int i = 0; i < in; i++) {
                    double a = dW0[(size_t)k * in + i];
                    for (int r = 0; r < R; r++) a += (double)dy[r * ys + k] * x[r * xs + i];
                    worst = fmax(worst, fabs(a - dW[(size_t)k * in + i]));
                }
            /* even rows written, odd rows accumulated: as two calls over every other row */
            spk_op_dense_dx_rows(dx2, 2 * xs, dy, 2 * ys, W, (R + 1) / 2, in, out, 0);
            spk_op_dense_dx_rows(dx2 + xs, 2 * xs, dy + ys, 2 * ys, W, R / 2, in, out, 1);
            CHECK_MSG(memcmp(dx1, dx2, (size_t)R * xs * sizeof(float)) == 0, "dense_dx_rows (%d -> %d) differs from dx_row", in, out);
            free(x), free(W), free(b), free(dy), free(y), free(dx1), free(dx2), free(dW), free(dW0);
        }
    /* several sources in one pass: the same bits as one dx_rows call per source, adding */
    const int outs[3] = {12, 256, 20}, ins2[2] = {37, 256};
    for (int q = 0; q < 2; q++)
        for (int acc = 0; acc < 2; acc++) {
            const int R = 19, in = ins2[q];
            spk_dx_src src[3];
            float *dys[3], *Ws[3], *dx1 = rnd((size_t)R * in), *dx2 = malloc((size_t)R * in * sizeof(float));
            memcpy(dx2, dx1, (size_t)R * in * sizeof(float));
            for (int k = 0; k < 3; k++) {
                dys[k] = rnd((size_t)R * outs[k]), Ws[k] = rnd((size_t)outs[k] * in);
                src[k] = (spk_dx_src){dys[k], (size_t)outs[k], Ws[k], outs[k]};
                spk_op_dense_dx_rows(dx1, in, dys[k], outs[k], Ws[k], R, in, outs[k], k ? 1 : acc);
            }
            spk_op_dense_dx_rows_multi(dx2, in, src, 3, R, in, acc);
            CHECK_MSG(memcmp(dx1, dx2, (size_t)R * in * sizeof(float)) == 0, "dense_dx_rows_multi (%d inputs, acc %d) differs from one call per source", in, acc);
            for (int k = 0; k < 3; k++) free(dys[k]), free(Ws[k]);
            free(dx1), free(dx2);
        }
    CHECK_MSG(worst < 1e-4, "dense forward_rows / dw_rows differ from the sums in double by %g", worst);
    printf("  dense row kernels (1-256 outputs)   within %.1e of double; dx rows the same bits as dx_row\n", worst);
}

int main(void) {
    printf("gradient checks (central differences):\n");
    test_dense_dx_set();
    test_dense_rows();
    test_dense_hand();
    test_dense_grad(1);
    test_dense_grad(0);
    test_conv_hand();
    test_conv_cases();
    test_conv_chunked();
    test_conv_geom_errors();
    test_pool_hand();
    test_pool_cases();
    test_max_pool_2x2();
    test_pool_geom_errors();
    test_scale();
    test_dropout();
    test_delay();
    test_threads();
    test_sparse();
    test_conv_sparse();
    return tu_finish("test_ops");
}
