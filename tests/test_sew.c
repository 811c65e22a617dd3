/* test_sew.c — residual (SEW) merges, tdBN norm nodes, hardware-safe mode and BN folding:
 * the norm kernels against a direct double-precision formula and its central finite
 * differences; SEW merges against their closed forms and finite differences (bilinear:
 * central differences are exact up to rounding); the fast path against the reference path;
 * running statistics through model.spk; the YAML layers written back identically; folding
 * exact on dyadic values; refusals that name the node. */
#define _POSIX_C_SOURCE 200809L /* mkdtemp */
#include "testutil.h"
#include "ops/ops.h"

#include <stdint.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

static uint64_t rs = 12345;
static double urand(void) { /* [0, 1) */
    rs = rs * 6364136223846793005ULL + 1442695040888963407ULL;
    return (double)(rs >> 11) / 9007199254740992.0;
}

/* ---- the norm kernels vs a direct double formula --------------------------------------- */

/* y = gamma k (x - mean) / sqrt(var + eps) + beta, batch statistics (train) or rm/rv */
static void norm_ref(double *y, const double *x, const double *g, const double *b, const double *rm, const double *rv, double k,
                     double eps, int M, int C, int S, int train) {
    for (int c = 0; c < C; c++) {
        double mu = 0, var = 0, n = (double)M * S;
        if (train) {
            for (int m = 0; m < M; m++)
                for (int s = 0; s < S; s++) mu += x[((size_t)m * C + c) * S + s];
            mu /= n;
            for (int m = 0; m < M; m++)
                for (int s = 0; s < S; s++) var += (x[((size_t)m * C + c) * S + s] - mu) * (x[((size_t)m * C + c) * S + s] - mu);
            var /= n;
        } else {
            mu = rm[c];
            var = rv[c];
        }
        for (int m = 0; m < M; m++)
            for (int s = 0; s < S; s++) {
                size_t i = ((size_t)m * C + c) * S + s;
                y[i] = g[c] * k * (x[i] - mu) / sqrt(var + eps) + b[c];
            }
    }
}

static double loss_ref(const double *x, const double *g, const double *b, const double *rm, const double *rv, const double *w, double k,
                       double eps, int M, int C, int S, int train) {
    size_t n = (size_t)M * C * S;
    double *y = malloc(n * sizeof *y), L = 0;
    norm_ref(y, x, g, b, rm, rv, k, eps, M, C, S, train);
    for (size_t i = 0; i < n; i++) L += w[i] * y[i];
    free(y);
    return L;
}

static void test_norm_kernels(void) {
    enum { M = 6, C = 3, S = 5, N = M * C * S };
    const float k = 0.75f, eps = 1e-3f, mom = 0.25f;
    for (int train = 0; train <= 1; train++) {
        float x[N], w[N], y[N], dx[N] = {0}, g[C], b[C], rm[C], rv[C], rm0[C], rv0[C], mean[C], istd[C], dg[C] = {0}, db[C] = {0};
        double xd[N], wd[N], gd[C], bd[C], rmd[C], rvd[C], yd[N];
        for (int i = 0; i < N; i++) x[i] = (float)(2 * urand() - 0.5), w[i] = (float)(2 * urand() - 1), xd[i] = x[i], wd[i] = w[i];
        for (int c = 0; c < C; c++) {
            g[c] = (float)(0.5 + urand()), b[c] = (float)(urand() - 0.5), rm[c] = rm0[c] = (float)(urand() - 0.5), rv[c] = rv0[c] = (float)(0.5 + urand());
            gd[c] = g[c], bd[c] = b[c], rmd[c] = rm[c], rvd[c] = rv[c];
        }
        if (train) spk_op_norm_forward_train(y, mean, istd, rm, rv, x, g, b, k, eps, mom, M, C, S);
        else spk_op_norm_forward_eval(y, x, g, b, rm, rv, k, eps, M, C, S);
        norm_ref(yd, xd, gd, bd, rmd, rvd, k, eps, M, C, S, train);
        double err = 0;
        for (int i = 0; i < N; i++) err = fmax(err, fabs(y[i] - yd[i]));
        CHECK_MSG(err < 1e-5, "train %d: forward differs from the double formula by %g", train, err);
        if (train) { /* running stats: momentum towards the batch mean and unbiased variance */
            for (int c = 0; c < C; c++) {
                double mu = 0, var = 0;
                for (int m = 0; m < M; m++)
                    for (int s = 0; s < S; s++) mu += xd[((size_t)m * C + c) * S + s];
                mu /= M * S;
                for (int m = 0; m < M; m++)
                    for (int s = 0; s < S; s++) var += pow(xd[((size_t)m * C + c) * S + s] - mu, 2);
                CHECK_NEAR(rm[c], (1 - mom) * rm0[c] + mom * mu, 1e-6);
                CHECK_NEAR(rv[c], (1 - mom) * rv0[c] + mom * var / (M * S - 1), 1e-6);
            }
        }
        if (train) spk_op_norm_backward_train(dx, dg, db, w, x, mean, istd, g, k, M, C, S);
        else spk_op_norm_backward_eval(dx, dg, db, w, x, g, rm, rv, k, eps, M, C, S);
        /* central differences of L = sum w y in double */
        const double h = 1e-5;
        double maxe = 0;
        for (int i = 0; i < N; i++) {
            double s = xd[i];
            xd[i] = s + h;
            double Lp = loss_ref(xd, gd, bd, rmd, rvd, wd, k, eps, M, C, S, train);
            xd[i] = s - h;
            double Lm = loss_ref(xd, gd, bd, rmd, rvd, wd, k, eps, M, C, S, train);
            xd[i] = s;
            maxe = fmax(maxe, fabs((Lp - Lm) / (2 * h) - dx[i]));
        }
        CHECK_MSG(maxe < 1e-4, "train %d: dx differs from finite differences by %g", train, maxe);
        maxe = 0;
        for (int c = 0; c < C; c++) {
            double s = gd[c];
            gd[c] = s + h;
            double Lp = loss_ref(xd, gd, bd, rmd, rvd, wd, k, eps, M, C, S, train);
            gd[c] = s - h;
            double Lm = loss_ref(xd, gd, bd, rmd, rvd, wd, k, eps, M, C, S, train);
            gd[c] = s;
            maxe = fmax(maxe, fabs((Lp - Lm) / (2 * h) - dg[c]));
            s = bd[c];
            bd[c] = s + h;
            Lp = loss_ref(xd, gd, bd, rmd, rvd, wd, k, eps, M, C, S, train);
            bd[c] = s - h;
            Lm = loss_ref(xd, gd, bd, rmd, rvd, wd, k, eps, M, C, S, train);
            bd[c] = s;
            maxe = fmax(maxe, fabs((Lp - Lm) / (2 * h) - db[c]));
        }
        CHECK_MSG(maxe < 1e-4, "train %d: dgamma/dbeta differ from finite differences by %g", train, maxe);
    }
}

/* a batch with an infinite value leaves the running statistics as they were */
static void test_norm_nonfinite(void) {
    float x[8] = {1, 2, 3, INFINITY, 5, 6, 7, 8}, y[8], g[2] = {1, 1}, b[2] = {0, 0}, rm[2] = {0.5f, -0.5f}, rv[2] = {2, 3}, mean[2], istd[2];
    spk_op_norm_forward_train(y, mean, istd, rm, rv, x, g, b, 1, 1e-5f, 0.1f, 4, 2, 1);
    CHECK(rm[1] == -0.5f && rv[1] == 3.0f);         /* channel 1 saw the infinity */
    CHECK(rm[0] != 0.5f && isfinite(rv[0]));         /* channel 0 moved */
}

/* ---- SEW merges ------------------------------------------------------------------------- */

/* in [F] -> dense a, dense s -> merge(op) (a connected first); returns the net */
static spk_net *merge_net(spk_merge_op op, int F, int *ia, int *is, int *im) {
    spk_net *net;
    int in;
    spk_net_create(&net);
    spk_net_add_input(net, "in", 1, (int[]){F}, &in);
    spk_net_add_dense(net, "a", F, F, 1, ia);
    spk_net_add_dense(net, "s", F, F, 1, is);
    spk_net_add_merge_op(net, "m", op, im);
    spk_net_connect(net, in, *ia);
    spk_net_connect(net, in, *is);
    spk_net_connect(net, *ia, *im);
    spk_net_connect(net, *is, *im);
    CHECK_OK(spk_net_build(net, (spk_rng){7, 0}));
    return net;
}

static double merge_loss(spk_net *net, int im, const float *x, const float *w, int T, int B, int F) {
    spk_net_forward(net, T, B, x);
    const float *y = spk_net_signal(net, im, SPK_SIGNAL_OUT);
    double L = 0;
    for (int i = 0; i < T * B * F; i++) L += (double)w[i] * y[i];
    return L;
}

static void test_merges(void) {
    enum { T = 3, B = 2, F = 4, N = T * B * F };
    float x[N], w[N];
    for (int i = 0; i < N; i++) x[i] = (float)(urand() * 2 - 1), w[i] = (float)(urand() * 2 - 1);
    for (int op = 0; op < SPK_MERGE_OP_COUNT; op++) {
        for (int ref = 0; ref <= 1; ref++) {
            int ia, is, im;
            spk_net *net = merge_net((spk_merge_op)op, F, &ia, &is, &im);
            spk_net_set_reference(net, ref);
            CHECK(spk_net_merge_op(net, im) == (spk_merge_op)op);
            CHECK_OK(spk_net_forward(net, T, B, x));
            const float *a = spk_net_signal(net, ia, SPK_SIGNAL_OUT), *s = spk_net_signal(net, is, SPK_SIGNAL_OUT),
                        *y = spk_net_signal(net, im, SPK_SIGNAL_OUT);
            int exact = 1;
            for (int i = 0; i < N; i++) {
                float want = op == SPK_MERGE_ADD ? a[i] + s[i] : op == SPK_MERGE_AND ? a[i] * s[i] : (1.0f - a[i]) * s[i];
                exact &= y[i] == want;
            }
            CHECK_MSG(exact, "merge %s (reference %d): output is not the closed form", spk_merge_op_name((spk_merge_op)op), ref);
            spk_net_zero_grad(net);
            CHECK_OK(spk_net_seed_grad(net, im, SPK_SIGNAL_OUT, w));
            CHECK_OK(spk_net_backward(net));
            const char *nm[2] = {"a", "s"};
            double maxe = 0;
            for (int d = 0; d < 2; d++) {
                int node = spk_net_find(net, nm[d]);
                size_t nw;
                float *W = spk_net_param(net, node, "weight", &nw);
                float *dW = spk_net_param_grad(net, node, "weight", NULL);
                float *keep = malloc(nw * sizeof(float));
                memcpy(keep, dW, nw * sizeof(float));
                for (size_t j = 0; j < nw; j++) {
                    const float h = 0.0625f;
                    float s0 = W[j];
                    W[j] = s0 + h;
                    double Lp = merge_loss(net, im, x, w, T, B, F);
                    W[j] = s0 - h;
                    double Lm = merge_loss(net, im, x, w, T, B, F);
                    W[j] = s0;
                    maxe = fmax(maxe, fabs((Lp - Lm) / (2 * h) - keep[j]));
                }
                free(keep);
            }
            CHECK_MSG(maxe < 2e-4, "merge %s (reference %d): weight gradients differ from finite differences by %g",
                      spk_merge_op_name((spk_merge_op)op), ref, maxe);
            spk_net_free(net);
        }
    }
    /* refusals: three inputs; a delayed input */
    spk_net *net;
    int in, d1, d2, d3, m;
    spk_net_create(&net);
    spk_net_add_input(net, "in", 1, (int[]){F}, &in);
    spk_net_add_dense(net, "d1", F, F, 1, &d1);
    spk_net_add_dense(net, "d2", F, F, 1, &d2);
    spk_net_add_dense(net, "d3", F, F, 1, &d3);
    spk_net_add_merge_op(net, "m3", SPK_MERGE_AND, &m);
    spk_net_connect(net, in, d1), spk_net_connect(net, in, d2), spk_net_connect(net, in, d3);
    spk_net_connect(net, d1, m), spk_net_connect(net, d2, m), spk_net_connect(net, d3, m);
    CHECK(spk_net_build(net, (spk_rng){1, 0}) == SPK_ERR_INVALID_ARG);
    CHECK(strstr(spk_errmsg(net), "'m3'") && strstr(spk_errmsg(net), "exactly two"));
    spk_net_free(net);
    spk_net_create(&net);
    spk_net_add_input(net, "in", 1, (int[]){F}, &in);
    spk_net_add_dense(net, "d1", F, F, 1, &d1);
    spk_net_add_merge_op(net, "loop", SPK_MERGE_IAND, &m);
    spk_net_add_dense(net, "d2", F, F, 1, &d2);
    spk_net_connect(net, in, d1), spk_net_connect(net, d1, m), spk_net_connect(net, m, d2), spk_net_connect(net, d2, m);
    spk_status st = spk_net_build(net, (spk_rng){1, 0});
    CHECK(st == SPK_ERR_UNSUPPORTED || st == SPK_ERR_INVALID_ARG);
    CHECK(strstr(spk_errmsg(net), "'loop'") != NULL);
    spk_net_free(net);
    CHECK(spk_merge_op_from_name("iand") == SPK_MERGE_IAND && spk_merge_op_from_name("or") == -1);
}

/* ---- norm in a network: fast vs reference, finite differences -------------------------- */

static spk_net *conv_norm_net(int *conv, int *norm, int *lif) {
    spk_net *net;
    int in;
    spk_net_create(&net);
    spk_net_add_input(net, "in", 3, (int[]){2, 5, 5}, &in);
    spk_net_add_conv(net, "conv", 2, 2, 3, (int[]){3, 3}, NULL, (int[]){1, 1}, NULL, 1, 1, conv);
    spk_norm_config nc = spk_norm_config_default();
    nc.alpha = 0.5f;
    nc.v_th = 1.5f;
    spk_net_add_norm(net, "bn", &nc, norm);
    spk_neuron_config c = spk_neuron_config_default();
    c.lam = 0.8f;
    spk_net_add_neuron(net, "lif", &c, 3, (int[]){3, 5, 5}, lif);
    spk_net_connect(net, in, *conv);
    spk_net_connect(net, *conv, *norm);
    spk_net_connect(net, *norm, *lif);
    CHECK_OK(spk_net_build(net, (spk_rng){3, 0}));
    return net;
}

static void test_norm_net(void) {
    enum { T = 4, B = 3, NI = T * B * 50, NO = T * B * 75 };
    float x[NI], w[NO];
    for (int i = 0; i < NI; i++) x[i] = urand() < 0.4 ? 1.0f : 0.0f;
    for (int i = 0; i < NO; i++) w[i] = (float)(urand() * 2 - 1);
    float *outs[2][6];
    size_t sizes[6];
    for (int ref = 0; ref <= 1; ref++) {
        int conv, norm, lif;
        spk_net *net = conv_norm_net(&conv, &norm, &lif);
        spk_net_set_reference(net, ref);
        spk_net_set_training(net, 1, 0);
        CHECK_OK(spk_net_forward(net, T, B, x));
        spk_net_zero_grad(net);
        CHECK_OK(spk_net_seed_grad(net, lif, SPK_SIGNAL_MEM, w));
        CHECK_OK(spk_net_backward(net));
        const char *which[3] = {"weight", "bias"};
        size_t n;
        int k = 0;
        sizes[k] = NO, outs[ref][k] = malloc(NO * sizeof(float)), memcpy(outs[ref][k++], spk_net_signal(net, lif, SPK_SIGNAL_MEM), NO * sizeof(float));
        for (int p = 0; p < 2; p++) {
            float *g = spk_net_param_grad(net, conv, which[p], &n);
            sizes[k] = n, outs[ref][k] = malloc(n * sizeof(float)), memcpy(outs[ref][k++], g, n * sizeof(float));
            g = spk_net_param_grad(net, norm, which[p], &n);
            sizes[k] = n, outs[ref][k] = malloc(n * sizeof(float)), memcpy(outs[ref][k++], g, n * sizeof(float));
        }
        float *rv = spk_net_param(net, norm, "running_var", &n);
        sizes[k] = n, outs[ref][k] = malloc(n * sizeof(float)), memcpy(outs[ref][k++], rv, n * sizeof(float));
        CHECK(spk_net_param_grad(net, norm, "running_var", NULL) == NULL);
        size_t nb;
        CHECK(spk_net_buffers(net, &nb) != NULL && nb == 6);
        if (!ref) { /* finite differences of L = sum w mem through the norm's batch statistics,
                       on the conv bias (mem is smooth in it when no spike flips) and gamma */
            float *bc = spk_net_param(net, conv, "bias", NULL), *gm = spk_net_param(net, norm, "weight", NULL);
            float *dbc = outs[0][3], *dgm = outs[0][2];
            (void)dbc;
            float *gconvb = spk_net_param_grad(net, conv, "bias", NULL);
            float keepb[3], keepg[3];
            memcpy(keepb, gconvb, sizeof keepb);
            memcpy(keepg, dgm, sizeof keepg);
            double maxe = 0;
            for (int j = 0; j < 3; j++) {
                float *ps[2] = {&bc[j], &gm[j]};
                double an[2] = {keepb[j], keepg[j]};
                for (int q = 0; q < 2; q++) {
                    const float h = 1e-3f;
                    float s0 = *ps[q];
                    *ps[q] = s0 + h;
                    spk_net_forward(net, T, B, x);
                    const float *y = spk_net_signal(net, lif, SPK_SIGNAL_MEM);
                    double Lp = 0, Lm = 0;
                    for (int i = 0; i < NO; i++) Lp += (double)w[i] * y[i];
                    *ps[q] = s0 - h;
                    spk_net_forward(net, T, B, x);
                    y = spk_net_signal(net, lif, SPK_SIGNAL_MEM);
                    for (int i = 0; i < NO; i++) Lm += (double)w[i] * y[i];
                    *ps[q] = s0;
                    double fd = (Lp - Lm) / (2 * h);
                    /* the conv bias cancels in a batch norm: its gradient is zero */
                    maxe = fmax(maxe, fabs(fd - an[q]) / fmax(1.0, fabs(fd)));
                }
            }
            CHECK_MSG(maxe < 2e-2, "norm net: gradients differ from finite differences by %g (relative)", maxe);
            CHECK_NEAR(keepb[0], 0.0, 1e-3); /* a bias before a batch norm has no effect */
        }
        spk_net_free(net);
    }
    for (int k = 0; k < 6; k++) {
        double d = tu_max_rel_diff(outs[0][k], outs[1][k], sizes[k], 1.0);
        CHECK_MSG(d < 1e-4, "norm net: fast and reference paths differ in output %d by %g", k, d);
        free(outs[0][k]);
        free(outs[1][k]);
    }
    /* a norm on a cycle is refused by name */
    spk_net *net;
    int in, d, n, l;
    spk_net_create(&net);
    spk_net_add_input(net, "in", 1, (int[]){4}, &in);
    spk_net_add_dense(net, "d", 4, 4, 1, &d);
    spk_net_add_norm(net, "bn_loop", NULL, &n);
    spk_neuron_config c = spk_neuron_config_default();
    spk_net_add_neuron(net, "l", &c, 1, (int[]){4}, &l);
    spk_net_connect(net, in, d), spk_net_connect(net, d, n), spk_net_connect(net, n, l), spk_net_connect(net, l, d);
    CHECK(spk_net_build(net, (spk_rng){1, 0}) == SPK_ERR_UNSUPPORTED);
    CHECK(strstr(spk_errmsg(net), "'bn_loop'") != NULL);
    spk_net_free(net);
    spk_norm_config bad = spk_norm_config_default();
    bad.v_th = 0;
    spk_net_create(&net);
    CHECK(spk_net_add_norm(net, "x", &bad, &n) == SPK_ERR_INVALID_ARG);
    spk_net_free(net);
}

/* ---- YAML, model files, hardware-safe, folding, engines --------------------------------- */

static const char *sew_yaml =
    "data: {dataset: yinyang}\n"
    "encoding: {kind: direct, steps: 4}\n"
    "network:\n"
    "  - conv: {name: c1, channels: 4, kernel: 3, padding: 1, bias: false}\n"
    "  - batchnorm: {name: bn1, alpha: 1, v_th: 1, eps: 0, momentum: 0.5}\n"
    "  - lif: {name: l1, beta: 0.5}\n"
    "  - residual:\n"
    "      name: r1\n"
    "      connect: %s\n"
    "      layers:\n"
    "        - conv: {name: c2, channels: 4, kernel: 3, padding: 1}\n"
    "        - batchnorm: {name: bn2, eps: 0}\n"
    "        - lif: {name: l2, beta: 0.5}\n"
    "  - residual:\n"
    "      name: r2\n"
    "      connect: %s\n"
    "      layers:\n"
    "        - conv: {name: c3, channels: 6, kernel: 3, padding: 1, stride: 2}\n"
    "        - batchnorm: {name: bn3, eps: 0}\n"
    "        - lif: {name: l3, beta: 0.5}\n"
    "      shortcut:\n"
    "        - conv: {name: c4, channels: 6, kernel: 1, stride: 2}\n"
    "        - batchnorm: {name: bn4, eps: 0}\n"
    "        - lif: {name: l4, beta: 0.5}\n"
    "  - flatten\n"
    "  - dense: {name: fc, units: 3}\n"
    "  - lif: {name: out, beta: 0.5}\n"
    "training: {epochs: 1%s}\n";

static spk_experiment *parse_sew(const char *connect, const char *extra) {
    char text[2048];
    snprintf(text, sizeof text, sew_yaml, connect, connect, extra);
    spk_experiment *e = NULL;
    CHECK_OK(spk_experiment_parse(&e, text, strlen(text), "sew.yaml"));
    return e;
}

static spk_experiment *parse_sew_quiet(const char *connect) { /* no CHECK: used under failing allocations */
    char text[2048];
    snprintf(text, sizeof text, sew_yaml, connect, connect, "");
    spk_experiment *e = NULL;
    return spk_experiment_parse(&e, text, strlen(text), "sew.yaml") ? NULL : e;
}

static void dyadic(float *p, size_t n, int scale) { /* multiples of 2^-scale in [-1, 1) */
    for (size_t i = 0; i < n; i++) p[i] = (float)((int)(urand() * 2 * (1 << scale)) - (1 << scale)) / (float)(1 << scale);
}

static void test_yaml_model_fold(void) {
    int dims[3] = {2, 4, 4};
    enum { T = 4, B = 3, NI = T * B * 32 };
    float x[NI];
    for (int i = 0; i < NI; i++) x[i] = urand() < 0.5 ? 1.0f : 0.0f;
    const char *ops[3] = {"add", "and", "iand"};
    for (int o = 0; o < 3; o++) {
        spk_experiment *e = parse_sew(ops[o], "");
        if (!e) return;
        CHECK(e->n_layers == 17 && e->layers[3].kind == SPK_LAYER_RESIDUAL && e->layers[3].count == 3 && e->layers[3].shortcut == 0 &&
              e->layers[3].connect == (spk_merge_op)o);
        CHECK(e->layers[7].kind == SPK_LAYER_RESIDUAL && e->layers[7].count == 3 && e->layers[7].shortcut == 3 && !strcmp(e->layers[11].name, "c4"));
        char *y1 = spk_experiment_to_yaml(e);
        spk_experiment *e2 = NULL;
        CHECK_OK(spk_experiment_parse(&e2, y1, strlen(y1), "resolved.yaml"));
        char *y2 = e2 ? spk_experiment_to_yaml(e2) : NULL;
        CHECK_MSG(y2 && !strcmp(y1, y2), "the resolved YAML does not reparse identically:\n%s", y1);
        spk_free(y1);
        spk_free(y2);
        spk_experiment_free(e2);
        spk_net *net;
        int ro;
        CHECK_OK(spk_experiment_build_net(e, 3, dims, &net, &ro));
        if (!net) { spk_experiment_free(e); return; }
        int r1 = spk_net_find(net, "r1");
        CHECK(spk_net_node_kind(net, r1) == SPK_NODE_MERGE && spk_net_merge_op(net, r1) == (spk_merge_op)o);
        int sd[SPK_MAX_DIMS];
        CHECK(spk_net_node_shape(net, spk_net_find(net, "r2"), sd) == 3 && sd[0] == 6 && sd[1] == 2 && sd[2] == 2);
        /* dyadic weights and statistics: the folded model computes exactly the same */
        size_t np;
        float *p = spk_net_params(net, &np);
        dyadic(p, np, 4);
        for (int v = 0; v < spk_net_node_count(net); v++) {
            if (spk_net_node_kind(net, v) != SPK_NODE_NORM) continue;
            size_t n;
            float *g = spk_net_param(net, v, "weight", &n), *rm = spk_net_param(net, v, "running_mean", NULL);
            float *rv = spk_net_param(net, v, "running_var", NULL);
            for (size_t c = 0; c < n; c++) g[c] = 0.5f + 0.25f * (float)c, rm[c] = 0.125f * (float)c - 0.25f, rv[c] = c % 2 ? 4.0f : 0.25f;
        }
        spk_net_params_changed(net);
        /* training updates the running statistics; inference uses them */
        float *bufs, keep[40];
        size_t nb;
        bufs = spk_net_buffers(net, &nb);
        CHECK(nb == 40);
        /* model file round trip keeps the buffers */
        char dir[] = "/tmp/spk_sew_XXXXXX", path[256], fpath[256];
        CHECK(mkdtemp(dir) != NULL);
        snprintf(path, sizeof path, "%s/model.spk", dir);
        snprintf(fpath, sizeof fpath, "%s/folded.spk", dir);
        CHECK_OK(spk_model_save(path, e, 3, dims, net, NULL, NULL));
        spk_experiment *el;
        spk_net *nl;
        int rl, ndl, dl[4];
        CHECK_OK(spk_model_load(path, &el, &nl, &rl, &ndl, dl, NULL, NULL, NULL));
        if (nl) {
            size_t nbl;
            float *bl = spk_net_buffers(nl, &nbl);
            CHECK(nbl == nb && !memcmp(bl, bufs, nb * sizeof(float)));
            spk_net_free(nl);
            spk_experiment_free(el);
        }
        /* a damaged buffer count (CRC fixed up) is refused, not read */
        {
            FILE *f = fopen(path, "rb");
            static unsigned char buf[1 << 16];
            size_t sz = f ? fread(buf, 1, sizeof buf, f) : 0;
            if (f) fclose(f);
            size_t ylen;
            memcpy(&ylen, buf + 8 + 4 + 4 + 16, 8);
            size_t at = 8 + 4 + 4 + 16 + 8 + ylen, npf;
            memcpy(&npf, buf + at, 8);
            at += 8 + npf * 4; /* the buffer count */
            uint64_t bad = 1000000;
            memcpy(buf + at, &bad, 8);
            uint32_t crc = (uint32_t)crc32_z(crc32_z(0L, Z_NULL, 0), buf, sz - 4);
            memcpy(buf + sz - 4, &crc, 4);
            snprintf(fpath, sizeof fpath, "%s/bad.spk", dir);
            f = fopen(fpath, "wb");
            fwrite(buf, 1, sz, f);
            fclose(f);
            CHECK(spk_model_load(fpath, &el, &nl, &rl, &ndl, dl, NULL, NULL, NULL) == SPK_ERR_FORMAT);
            CHECK(strstr(spk_errmsg(NULL), "buffer") != NULL);
            unlink(fpath);
        }
        unlink(path);
        rmdir(dir);
        /* fold, then compare inference outputs */
        spk_experiment *ef;
        spk_net *nf;
        int rf, nfold = 0;
        CHECK_OK(spk_model_fold_norm(e, net, 3, dims, &ef, &nf, &rf, &nfold));
        CHECK(nfold == 4);
        if (nf) {
            CHECK(spk_net_node_count(nf) == spk_net_node_count(net) - 4 && spk_net_find(nf, "bn1") < 0 && spk_net_find(nf, "bn4") < 0 &&
                  spk_net_find(nf, "c1") >= 0);
            CHECK(spk_net_param(nf, spk_net_find(nf, "c1"), "bias", NULL) != NULL); /* c1 had none */
            spk_net_set_training(net, 0, 0);
            CHECK_OK(spk_net_forward(net, T, B, x));
            CHECK_OK(spk_net_forward(nf, T, B, x));
            static const char *const pops[5] = {"l1", "l2", "l3", "l4", "out"};
            static const int sizes[5] = {64, 64, 24, 24, 3};
            for (int q = 0; q < 5; q++) {
                const float *s1 = spk_net_signal(net, spk_net_find(net, pops[q]), SPK_SIGNAL_OUT);
                const float *s2 = spk_net_signal(nf, spk_net_find(nf, pops[q]), SPK_SIGNAL_OUT);
                const float *m1 = spk_net_signal(net, spk_net_find(net, pops[q]), SPK_SIGNAL_MEM);
                const float *m2 = spk_net_signal(nf, spk_net_find(nf, pops[q]), SPK_SIGNAL_MEM);
                int n = T * B * sizes[q], nsp = 0;
                for (int i = 0; i < n; i++) nsp += s1[i] != 0;
                CHECK_MSG(!memcmp(s1, s2, (size_t)n * sizeof(float)), "%s: folded spikes differ (%s)", pops[q], ops[o]);
                CHECK_MSG(tu_max_abs_diff(m1, m2, (size_t)n) == 0.0, "%s: folded membranes differ by %g (%s)", pops[q], tu_max_abs_diff(m1, m2, (size_t)n), ops[o]);
                if (q < 4) CHECK_MSG(nsp > 0 && nsp < n, "%s: %d spikes of %d (%s)", pops[q], nsp, n, ops[o]); /* a test that sees spikes */
            }
            /* without its norm nodes the model runs event-driven, with the same spikes */
            spk_event *evf = NULL;
            CHECK_OK(spk_event_create(&evf, nf));
            for (int b = 0; evf && b < B; b++) {
                float xs[T * 32];
                for (int t = 0; t < T; t++) memcpy(xs + t * 32, x + ((size_t)t * B + b) * 32, 32 * sizeof(float));
                CHECK_OK(spk_event_run(evf, T, xs));
                for (int q = 0; q < 5; q++) {
                    int node = spk_net_find(nf, pops[q]), same = 1;
                    const float *se = spk_event_signal(evf, node, SPK_SIGNAL_OUT), *sc = spk_net_signal(nf, node, SPK_SIGNAL_OUT);
                    for (int t = 0; t < T && se; t++)
                        same &= !memcmp(se + (size_t)t * sizes[q], sc + ((size_t)t * B + b) * sizes[q], (size_t)sizes[q] * sizeof(float));
                    CHECK_MSG(se && same, "%s: event-driven spikes differ from the clock engine's (sample %d, %s)", pops[q], b, ops[o]);
                }
            }
            spk_event_free(evf);
            spk_net_free(nf);
            spk_experiment_free(ef);
        }
        /* training mode moves the running statistics */
        memcpy(keep, bufs, sizeof keep);
        spk_net_set_training(net, 1, 0);
        CHECK_OK(spk_net_forward(net, T, B, x));
        CHECK(memcmp(keep, bufs, sizeof keep) != 0);
        /* engines and formats that cannot express it refuse by name */
        spk_event *ev = NULL;
        CHECK(spk_event_create(&ev, net) == SPK_ERR_UNSUPPORTED);
        CHECK(strstr(spk_errmsg(NULL), "'bn1'") != NULL);
        spk_net_free(net);
        spk_experiment_free(e);
    }
    /* fold refusal: a batchnorm first in a residual branch follows the block input */
    {
        const char *t = "data: {dataset: yinyang}\nnetwork:\n  - dense: {name: d, units: 4}\n  - lif: {name: l}\n"
                        "  - residual: {name: r, layers: [{batchnorm: {name: bnx}}, {lif: {name: l2}}]}\n"
                        "  - dense: {name: o, units: 3}\n  - lif: {name: out}\n";
        spk_experiment *e = NULL, *ef = NULL;
        spk_net *net = NULL, *nf = NULL;
        int ro, d4[1] = {4};
        CHECK_OK(spk_experiment_parse(&e, t, strlen(t), "t.yaml"));
        if (e) CHECK_OK(spk_experiment_build_net(e, 1, d4, &net, &ro));
        if (net) {
            CHECK(spk_model_fold_norm(e, net, 1, d4, &ef, &nf, &ro, NULL) == SPK_ERR_UNSUPPORTED);
            CHECK(strstr(spk_errmsg(NULL), "'bnx'") != NULL);
        }
        spk_net_free(net);
        spk_experiment_free(e);
    }
    /* hardware-safe: inference allowed, training refused naming the node; flagged kinds */
    {
        spk_experiment *e = parse_sew("add", ", hardware_safe: true");
        spk_net *net = NULL;
        int ro;
        if (e) {
            CHECK(e->hardware_safe == 1);
            char *y = spk_experiment_to_yaml(e);
            CHECK(y && strstr(y, "hardware_safe: true"));
            spk_free(y);
            CHECK_OK(spk_experiment_build_net(e, 3, dims, &net, &ro));
        }
        if (net) {
            CHECK(spk_net_hardware_safe(net));
            CHECK_OK(spk_net_forward(net, T, B, x));
            spk_net_set_training(net, 1, 0);
            CHECK(spk_net_forward(net, T, B, x) == SPK_ERR_UNSUPPORTED);
            CHECK(strstr(spk_errmsg(net), "'bn1'") && strstr(spk_errmsg(net), "batch"));
            spk_hw_needs nd;
            CHECK_OK(spk_hw_model_needs(net, 0, &nd));
            CHECK(strstr(nd.nonlocal, "bn1") != NULL);
        }
        spk_net_free(net);
        spk_experiment_free(e);
        CHECK(spk_node_kind_nonlocal(SPK_NODE_NORM, 1) != NULL && spk_node_kind_nonlocal(SPK_NODE_NORM, 0) == NULL);
        for (int k = 0; k < SPK_NODE_KIND_COUNT; k++)
            if (k != SPK_NODE_NORM) CHECK(spk_node_kind_nonlocal((spk_node_kind)k, 1) == NULL);
    }
    /* gamma's initial value */
    {
        const char *t = "data: {dataset: yinyang}\nnetwork:\n  - dense: {name: d, units: 4}\n  - batchnorm: {name: bz, gamma: 0}\n  - lif: {name: out}\n";
        spk_experiment *e = NULL;
        spk_net *net = NULL;
        int ro, d4[1] = {4};
        CHECK_OK(spk_experiment_parse(&e, t, strlen(t), "g.yaml"));
        if (e) CHECK_OK(spk_experiment_build_net(e, 1, d4, &net, &ro));
        if (net) {
            size_t n;
            const float *g = spk_net_param(net, spk_net_find(net, "bz"), "weight", &n);
            const float *b = spk_net_param(net, spk_net_find(net, "bz"), "bias", NULL);
            CHECK(n == 4 && g[0] == 0.0f && g[3] == 0.0f && b[0] == 0.0f && spk_net_norm_config(net, spk_net_find(net, "bz"))->gamma == 0.0f);
        }
        spk_net_free(net);
        spk_experiment_free(e);
    }
    /* YAML refusals */
    const char *bad[] = {
        "network:\n  - residual: {name: r, layers: []}\n  - lif\n",
        "network:\n  - residual: {name: r, connect: or, layers: [lif]}\n  - lif\n",
        "network:\n  - residual: {name: r, layers: [{residual: {layers: [lif]}}]}\n  - lif\n",
        "network:\n  - batchnorm: {v_th: 0}\n  - lif\n",
        "network:\n  - lif\n  - residual: {name: r, layers: [lif]}\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        spk_experiment *e = NULL;
        CHECK_MSG(spk_experiment_parse(&e, bad[i], strlen(bad[i]), "bad.yaml") == SPK_ERR_FORMAT, "accepted: %s", bad[i]);
        spk_experiment_free(e);
    }
}

/* ---- out of memory: every allocation of parse, build, forward, backward and fold fails in
 * turn; each failure is SPK_ERR_NOMEM with nothing leaked ---------------------------------- */

static spk_status oom_run(void) {
    spk_experiment *e = parse_sew_quiet("and");
    if (!e) return SPK_ERR_NOMEM;
    int dims[3] = {2, 4, 4}, ro;
    spk_net *net = NULL, *nf = NULL;
    spk_experiment *ef = NULL;
    static float x[4 * 2 * 32], g[4 * 2 * 3];
    for (int i = 0; i < (int)(sizeof x / sizeof *x); i++) x[i] = (float)(i % 3 == 0);
    for (int i = 0; i < (int)(sizeof g / sizeof *g); i++) g[i] = 0.125f;
    spk_status st = spk_experiment_build_net(e, 3, dims, &net, &ro);
    if (!st) {
        spk_net_set_training(net, 1, 0);
        st = spk_net_forward(net, 4, 2, x);
    }
    if (!st) {
        spk_net_zero_grad(net);
        st = spk_net_seed_grad(net, ro, SPK_SIGNAL_MEM, g);
    }
    if (!st) st = spk_net_backward(net);
    if (!st) st = spk_model_fold_norm(e, net, 3, dims, &ef, &nf, &ro, NULL);
    spk_net_free(nf);
    spk_experiment_free(ef);
    spk_net_free(net);
    spk_experiment_free(e);
    return st;
}

static spk_status oom_run_arg(void *arg) {
    (void)arg;
    return oom_run();
}

static void test_oom(void) {
    int k = tu_oom_sweep("parse + build + train + fold the SEW experiment", oom_run_arg, NULL);
    CHECK_MSG(k > 10, "the sweep ended at k = %d", k);
}

int main(void) {
    test_norm_kernels();
    test_norm_nonfinite();
    test_merges();
    test_norm_net();
    test_yaml_model_fold();
    test_oom();
    return tu_finish("test_sew");
}
