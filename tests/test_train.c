/* test_train.c — networks and training: graph shape checks and their messages; whole-network
 * finite-difference gradient checks on smooth networks (leaky neurons that do not fire) with
 * dense, conv, pooling, scale, flatten, merge, dropout, delay and a recurrent cycle;
 * truncated BPTT (k = T equals full BPTT bit for bit; k < T cuts the gradient); a small
 * network trained 20 steps on a fixed batch lowers its loss, and one seed gives bit-identical
 * weights. */
#include "testutil.h"
#include "ops/ops.h"

#include <string.h>

static spk_neuron_config leaky(float lam) {
    spk_neuron_config c = spk_neuron_config_default();
    c.fire = SPK_FIRE_NONE; /* smooth: a leaky integrator */
    c.reset = SPK_RESET_NONE;
    c.lam = lam;
    return c;
}

static void fill(float *x, size_t n, uint64_t seed, float lo, float hi) {
    for (size_t i = 0; i < n; i++) x[i] = lo + (hi - lo) * spk_rng_uniform((spk_rng){seed, 9}, 0, i, 0);
}

/* ------------------------------------------------------------------ graph checks ------ */

static void test_graph_errors(void) {
    spk_net *net;
    CHECK_OK(spk_net_create(&net));
    int in, fc, lif, fc2;
    spk_neuron_config c = spk_neuron_config_default();
    CHECK_OK(spk_net_add_input(net, "x", 1, (int[]){16}, &in));
    CHECK_OK(spk_net_add_dense(net, "fc1", 17, 8, 1, &fc));
    CHECK(spk_net_connect(net, in, fc) == SPK_ERR_SHAPE);
    const char *msg = spk_errmsg(net);
    CHECK_MSG(strstr(msg, "'x'") && strstr(msg, "'fc1'") && strstr(msg, "[16]") && strstr(msg, "[17]"), "message: %s", msg);
    CHECK(spk_net_add_dense(net, "fc1", 16, 8, 1, &fc2) == SPK_ERR_INVALID_ARG); /* duplicate name */
    CHECK_OK(spk_net_add_dense(net, "fc1b", 16, 8, 1, &fc2));
    CHECK_OK(spk_net_connect(net, in, fc2));
    CHECK_OK(spk_net_add_neuron(net, "lif", &c, 2, (int[]){2, 4}, &lif));
    CHECK(spk_net_connect(net, fc2, lif) == SPK_ERR_SHAPE); /* [8] into [2, 4] */
    CHECK(strstr(spk_errmsg(net), "[2, 4]") != NULL);
    CHECK(spk_net_build(net, (spk_rng){1, 0}) != SPK_OK); /* fc1 and lif are not fed */
    CHECK(strstr(spk_errmsg(net), "fc1") != NULL);
    spk_net_free(net);

    /* shapes inferred through pool and flatten, and checked against the dense layer */
    CHECK_OK(spk_net_create(&net));
    int cv, pl, fl, d;
    CHECK_OK(spk_net_add_input(net, "img", 3, (int[]){1, 28, 28}, &in));
    CHECK_OK(spk_net_add_conv(net, "c1", 2, 1, 12, (int[]){5, 5}, NULL, NULL, NULL, 1, 1, &cv));
    CHECK_OK(spk_net_add_pool(net, "p1", SPK_POOL_MAX, 2, (int[]){2, 2}, NULL, NULL, &pl));
    CHECK_OK(spk_net_add_flatten(net, "f", &fl));
    CHECK_OK(spk_net_add_dense(net, "fc", 12 * 12 * 12, 10, 1, &d));
    CHECK_OK(spk_net_connect(net, pl, fl)); /* out of order: shapes flow when the chain closes */
    CHECK_OK(spk_net_connect(net, fl, d));
    CHECK_OK(spk_net_connect(net, cv, pl));
    CHECK_OK(spk_net_connect(net, in, cv));
    int dims[SPK_MAX_DIMS];
    CHECK(spk_net_node_shape(net, pl, dims) == 3 && dims[0] == 12 && dims[1] == 12 && dims[2] == 12);
    CHECK(spk_net_node_shape(net, fl, dims) == 1 && dims[0] == 1728);
    CHECK_OK(spk_net_build(net, (spk_rng){1, 0}));
    size_t nw;
    float *w = spk_net_param(net, cv, "weight", &nw);
    CHECK(w && nw == 12 * 25);
    float bound = 1.0f / 5.0f, mx = 0;
    for (size_t i = 0; i < nw; i++) mx = fabsf(w[i]) > mx ? fabsf(w[i]) : mx;
    CHECK(mx <= bound && mx > 0.8f * bound); /* U(-1/sqrt(fan_in), 1/sqrt(fan_in)) */
    spk_net_free(net);

    CHECK_OK(spk_net_create(&net));
    CHECK_OK(spk_net_add_input(net, "x", 1, (int[]){4}, &in));
    CHECK_OK(spk_net_add_dense(net, "lonely", 4, 4, 0, &d));
    CHECK(spk_net_build(net, (spk_rng){1, 0}) == SPK_ERR_INVALID_ARG);
    CHECK(strstr(spk_errmsg(net), "lonely") && strstr(spk_errmsg(net), "reached"));
    spk_net_free(net);
}

/* ------------------------------------------------------------------ finite differences */

typedef struct fdnet {
    spk_net *net;
    int out, C, T, B;
    float *x;
    int32_t labels[4];
} fdnet;

static double fd_loss(fdnet *f, float *grad_buf) {
    CHECK_OK(spk_net_forward(f->net, f->T, f->B, f->x));
    const float *mem = spk_net_signal(f->net, f->out, SPK_SIGNAL_MEM);
    return spk_loss_ce_mem(grad_buf, mem, f->labels, f->T, f->B, f->C, SPK_MEM_SUM);
}

/* Analytic gradient of every learnable parameter and the input against central differences. */
static void fd_check(const char *name, fdnet *f, double tol, double h, int kinks) {
    size_t n;
    float *p = spk_net_params(f->net, &n);
    float *g = spk_net_grads(f->net, &n);
    float *gb = calloc((size_t)f->T * f->B * f->C, sizeof(float));
    spk_net_want_input_grad(f->net, 1);
    fd_loss(f, gb);
    spk_net_zero_grad(f->net);
    CHECK_OK(spk_net_seed_grad(f->net, f->out, SPK_SIGNAL_MEM, gb));
    CHECK_OK(spk_net_backward(f->net));
    float *ga = malloc(n * sizeof(float));
    memcpy(ga, g, n * sizeof(float));
    size_t nx = 0;
    int dims[SPK_MAX_DIMS], nd = spk_net_node_shape(f->net, spk_net_find(f->net, "in"), dims);
    nx = (size_t)f->T * f->B;
    for (int k = 0; k < nd; k++) nx *= (size_t)dims[k];
    float *gx = malloc(nx * sizeof(float));
    memcpy(gx, spk_net_input_grad(f->net), nx * sizeof(float));
    double scale = 1e-12, worst = 0;
    for (size_t i = 0; i < n; i++) scale = fmax(scale, fabs(ga[i]));
    for (size_t i = 0; i < n; i++) {
        float keep = p[i];
        p[i] = keep + (float)h;
        spk_net_params_changed(f->net);
        double lp = fd_loss(f, gb);
        p[i] = keep - (float)h;
        double lm = fd_loss(f, gb);
        p[i] = keep;
        double fd = (lp - lm) / (2 * h);
        double err = fabs(fd - ga[i]) / scale;
        if (kinks && err > tol) {
            /* piecewise smooth (max pooling): at a switch of the arg-max the derivative is
             * one of the one-sided differences, on the side where nothing switched */
            double l0 = fd_loss(f, gb);
            err = fmin(fabs((lp - l0) / h - ga[i]), fabs((l0 - lm) / h - ga[i])) / scale;
        }
        worst = fmax(worst, err);
        CHECK_MSG(err <= tol, "%s: parameter %zu: analytic %.6g, finite difference %.6g", name, i, ga[i], fd);
    }
    double xs = 1e-12, xworst = 0;
    for (size_t i = 0; i < nx; i++) xs = fmax(xs, fabs(gx[i]));
    for (size_t i = 0; i < nx; i += 7) {
        float keep = f->x[i];
        f->x[i] = keep + (float)h;
        double lp = fd_loss(f, gb);
        f->x[i] = keep - (float)h;
        double lm = fd_loss(f, gb);
        f->x[i] = keep;
        double err = fabs((lp - lm) / (2 * h) - gx[i]) / xs;
        xworst = fmax(xworst, err);
        CHECK_MSG(err <= tol, "%s: input %zu: analytic %.6g, finite difference %.6g", name, i, gx[i], (lp - lm) / (2 * h));
    }
    printf("%-34s %5zu parameters: max error %.2e, input: %.2e (of the largest gradient)\n", name, n, worst, xworst);
    free(gb); free(ga); free(gx);
}

static void test_fd_mlp(void) {
    fdnet f = {0};
    f.T = 6; f.B = 3; f.C = 3;
    spk_net *net;
    CHECK_OK(spk_net_create(&net));
    int in, a, dr, c2, d, sc;
    spk_neuron_config cu = leaky(0.7f);
    cu.kind = SPK_NEURON_CUBA;
    cu.alpha = 0.6f;
    CHECK_OK(spk_net_add_input(net, "in", 1, (int[]){6}, &in));
    CHECK_OK(spk_net_add_dense(net, "fc1", 6, 5, 1, &a));
    CHECK_OK(spk_net_add_dropout(net, "drop", 0.3f, &dr));
    CHECK_OK(spk_net_add_scale(net, "sc", &sc));
    CHECK_OK(spk_net_add_dense(net, "fc2", 5, 3, 0, &c2));
    CHECK_OK(spk_net_add_neuron(net, "out", &cu, 1, (int[]){3}, &d));
    CHECK_OK(spk_net_set_learnable(net, d, SPK_NP_LAM, 1));
    CHECK_OK(spk_net_set_learnable(net, d, SPK_NP_ALPHA, SPK_LEARN_SHARED)); /* one alpha for all */
    int chain[6] = {in, a, dr, sc, c2, d};
    for (int k = 0; k < 5; k++) CHECK_OK(spk_net_connect(net, chain[k], chain[k + 1]));
    CHECK_OK(spk_net_build(net, (spk_rng){3, 0}));
    spk_net_set_training(net, 1, 17); /* one fixed dropout mask for every evaluation */
    size_t ns;
    float *s = spk_net_param(net, sc, "scale", &ns);
    fill(s, ns, 5, 0.5f, 1.5f);
    f.net = net; f.out = d;
    f.x = malloc(sizeof(float) * 6 * 3 * 6);
    fill(f.x, 6 * 3 * 6, 1, -1, 1);
    f.labels[0] = 0; f.labels[1] = 2; f.labels[2] = 1;
    fd_check("mlp: dense, dropout, scale, cuba readout (learnable lam per neuron, shared alpha)", &f, 2e-3, 1e-2, 0);
    free(f.x);
    spk_net_free(net);
}

static void test_fd_conv(void) {
    for (int pk = 0; pk < 3; pk++) {
        fdnet f = {0};
        f.T = 4; f.B = 2; f.C = 3;
        spk_net *net;
        int in, cv, pl, fl, fc, o, c1, fl1, sk, dims[SPK_MAX_DIMS];
        spk_neuron_config lk = leaky(0.8f);
        /* conv -> pool -> flatten -> dense -> readout, plus a second path into the readout
         * (a strided, dilated conv) whose edge is summed with the first */
        CHECK_OK(spk_net_create(&net));
        CHECK_OK(spk_net_add_input(net, "in", 3, (int[]){2, 6, 6}, &in));
        CHECK_OK(spk_net_add_conv(net, "conv", 2, 2, 4, (int[]){3, 3}, (int[]){1, 1}, (int[]){1, 1}, NULL, 2, 1, &cv));
        CHECK_OK(spk_net_add_pool(net, "pool", pk, 2, (int[]){2, 2}, NULL, NULL, &pl));
        CHECK_OK(spk_net_add_flatten(net, "flat", &fl));
        CHECK_OK(spk_net_add_dense(net, "fc", 36, 3, 1, &fc));
        CHECK_OK(spk_net_add_neuron(net, "out", &lk, 1, (int[]){3}, &o));
        CHECK_OK(spk_net_add_conv(net, "conv_s2", 2, 2, 2, (int[]){3, 3}, (int[]){2, 2}, (int[]){1, 1}, (int[]){2, 2}, 1, 1, &c1));
        CHECK_OK(spk_net_add_flatten(net, "flat2", &fl1));
        CHECK_OK(spk_net_connect(net, in, c1));
        CHECK_OK(spk_net_connect(net, c1, fl1));
        CHECK(spk_net_node_shape(net, fl1, dims) == 1);
        CHECK_OK(spk_net_add_dense(net, "fc_skip", dims[0], 3, 0, &sk));
        int chain[6] = {in, cv, pl, fl, fc, o};
        for (int k = 0; k < 5; k++) CHECK_OK(spk_net_connect(net, chain[k], chain[k + 1]));
        CHECK_OK(spk_net_connect(net, fl1, sk));
        CHECK_OK(spk_net_connect(net, sk, o)); /* two edges into the readout: summed */
        CHECK_OK(spk_net_build(net, (spk_rng){4, 0}));
        f.net = net; f.out = o;
        f.x = malloc(sizeof(float) * 4 * 2 * 72);
        fill(f.x, 4 * 2 * 72, 2, -1, 1);
        f.labels[0] = 1; f.labels[1] = 2;
        const char *names[3] = {"conv, sum pool, strided dilated conv", "conv, avg pool, strided dilated conv",
                                "conv, max pool, strided dilated conv"};
        /* max pooling is only piecewise smooth: a smaller step keeps the arg-max in place */
        fd_check(names[pk], &f, 3e-3, pk == SPK_POOL_MAX ? 1e-3 : 1e-2, pk == SPK_POOL_MAX);
        free(f.x);
        spk_net_free(net);
    }
}

/* a recurrent cycle (step by step), a delay, and a residual merge */
static spk_net *recurrent_net(int fire, int *out) {
    spk_net *net;
    CHECK_OK(spk_net_create(&net));
    int in, a, h, rec, dl, mg, fc, o;
    spk_neuron_config hc = leaky(0.8f);
    if (fire) {
        hc = spk_neuron_config_default();
        hc.lam = 0.8f;
        hc.thr = 0.5f;
    }
    CHECK_OK(spk_net_add_input(net, "in", 1, (int[]){4}, &in));
    CHECK_OK(spk_net_add_dense(net, "fc_in", 4, 5, 1, &a));
    CHECK_OK(spk_net_add_neuron(net, "h", &hc, 1, (int[]){5}, &h));
    CHECK_OK(spk_net_add_dense(net, "w_rec", 5, 5, 1, &rec));
    CHECK_OK(spk_net_add_delay(net, "delay", (int32_t[]){0, 1, 2, 1, 3}, 5, &dl));
    CHECK_OK(spk_net_add_merge(net, "res", &mg));
    CHECK_OK(spk_net_add_dense(net, "fc_out", 5, 3, 1, &fc));
    spk_neuron_config oc = leaky(0.9f);
    CHECK_OK(spk_net_add_neuron(net, "out", &oc, 1, (int[]){3}, &o));
    CHECK_OK(spk_net_connect(net, in, a));
    CHECK_OK(spk_net_connect(net, a, h));
    CHECK_OK(spk_net_connect(net, h, rec));
    CHECK_OK(spk_net_connect(net, rec, h));
    CHECK_OK(spk_net_connect(net, h, dl));
    CHECK_OK(spk_net_connect(net, dl, mg));
    CHECK_OK(spk_net_connect(net, a, mg));
    CHECK_OK(spk_net_connect(net, mg, fc));
    CHECK_OK(spk_net_connect(net, fc, o));
    CHECK_OK(spk_net_build(net, (spk_rng){6, 0}));
    CHECK(spk_net_node_is_recurrent(net, h) && spk_net_node_is_recurrent(net, rec));
    CHECK(!spk_net_node_is_recurrent(net, a) && !spk_net_node_is_recurrent(net, fc));
    *out = o;
    return net;
}

/* a smooth cycle without neurons: m(t) = fc_in(x(t)) + w_rec(m(t-1)), then a delay */
static void test_fd_recurrent(void) {
    fdnet f = {0};
    f.T = 7; f.B = 2; f.C = 3;
    spk_net *net;
    CHECK_OK(spk_net_create(&net));
    int in, a, mg, rec, dl, fc, o;
    spk_neuron_config oc = leaky(0.9f);
    CHECK_OK(spk_net_add_input(net, "in", 1, (int[]){4}, &in));
    CHECK_OK(spk_net_add_dense(net, "fc_in", 4, 5, 1, &a));
    CHECK_OK(spk_net_add_merge(net, "m", &mg));
    CHECK_OK(spk_net_add_dense(net, "w_rec", 5, 5, 1, &rec));
    CHECK_OK(spk_net_add_delay(net, "delay", (int32_t[]){0, 1, 2, 1, 3}, 5, &dl));
    CHECK_OK(spk_net_add_dense(net, "fc_out", 5, 3, 1, &fc));
    CHECK_OK(spk_net_add_neuron(net, "out", &oc, 1, (int[]){3}, &o));
    CHECK_OK(spk_net_connect(net, in, a));
    CHECK_OK(spk_net_connect(net, a, mg));
    CHECK_OK(spk_net_connect(net, mg, rec));
    CHECK_OK(spk_net_connect(net, rec, mg));
    CHECK_OK(spk_net_connect(net, mg, dl));
    CHECK_OK(spk_net_connect(net, dl, fc));
    CHECK_OK(spk_net_connect(net, fc, o));
    CHECK_OK(spk_net_build(net, (spk_rng){6, 0}));
    CHECK(spk_net_node_is_recurrent(net, mg) && spk_net_node_is_recurrent(net, rec) && !spk_net_node_is_recurrent(net, dl));
    f.net = net; f.out = o;
    f.x = malloc(sizeof(float) * 7 * 2 * 4);
    fill(f.x, 7 * 2 * 4, 3, -1, 1);
    f.labels[0] = 2; f.labels[1] = 0;
    fd_check("recurrent op cycle + delay", &f, 2e-3, 1e-2, 0);
    free(f.x);
    spk_net_free(net);
}

/* ------------------------------------------------------------------ truncated BPTT ---- */

static void test_tbptt(void) {
    int out;
    spk_net *net = recurrent_net(1, &out);
    spk_net_want_input_grad(net, 1);
    const int T = 12, B = 3, C = 3;
    float *x = malloc(sizeof(float) * T * B * 4);
    fill(x, (size_t)T * B * 4, 8, 0, 1.5f);
    int32_t labels[3] = {0, 1, 2};
    float *gb = calloc((size_t)T * B * C, sizeof(float));
    size_t n;
    CHECK_OK(spk_net_forward(net, T, B, x));
    long spikes = 0;
    const float *hs = spk_net_signal(net, spk_net_find(net, "h"), SPK_SIGNAL_OUT);
    for (int k = 0; k < T * B * 5; k++) spikes += hs[k] > 0;
    CHECK_MSG(spikes > 10, "the recurrent layer should spike (%ld spikes)", spikes);
    spk_loss_ce_mem(gb, spk_net_signal(net, out, SPK_SIGNAL_MEM), labels, T, B, C, SPK_MEM_PER_STEP);
    float *full = malloc(4096 * sizeof(float)), *tr = malloc(4096 * sizeof(float)), *cut = malloc(4096 * sizeof(float));
    spk_net_zero_grad(net);
    CHECK_OK(spk_net_seed_grad(net, out, SPK_SIGNAL_MEM, gb));
    CHECK_OK(spk_net_backward(net));
    { const float *g_ = spk_net_grads(net, &n); memcpy(full, g_, n * sizeof(float)); }
    spk_net_zero_grad(net);
    CHECK_OK(spk_net_seed_grad(net, out, SPK_SIGNAL_MEM, gb));
    CHECK_OK(spk_net_backward_truncated(net, T));
    { const float *g_ = spk_net_grads(net, &n); memcpy(tr, g_, n * sizeof(float)); }
    CHECK_MSG(memcmp(full, tr, n * sizeof(float)) == 0, "truncated BPTT with k = T must equal full BPTT bit for bit");
    spk_net_zero_grad(net);
    CHECK_OK(spk_net_seed_grad(net, out, SPK_SIGNAL_MEM, gb));
    CHECK_OK(spk_net_backward_truncated(net, 4));
    { const float *g_ = spk_net_grads(net, &n); memcpy(cut, g_, n * sizeof(float)); }
    CHECK(memcmp(full, cut, n * sizeof(float)) != 0);
    /* a loss on the last step only: with windows of 4, no gradient reaches steps 0..7 */
    memset(gb, 0, (size_t)T * B * C * sizeof(float));
    for (int b = 0; b < B; b++) gb[((size_t)(T - 1) * B + b) * C + b % C] = 1.0f;
    spk_net_zero_grad(net);
    CHECK_OK(spk_net_seed_grad(net, out, SPK_SIGNAL_MEM, gb));
    CHECK_OK(spk_net_backward_truncated(net, 4));
    const float *gx = spk_net_input_grad(net);
    double early = 0, late = 0;
    for (int t = 0; t < T; t++)
        for (int k = 0; k < B * 4; k++) {
            if (t < 8) early += fabs(gx[(size_t)t * B * 4 + k]);
            else late += fabs(gx[(size_t)t * B * 4 + k]);
        }
    CHECK_MSG(early == 0.0 && late > 0, "window cut: |dx| before the last window %g (want 0), inside %g", early, late);
    spk_net_zero_grad(net);
    CHECK_OK(spk_net_seed_grad(net, out, SPK_SIGNAL_MEM, gb));
    CHECK_OK(spk_net_backward(net));
    early = 0;
    for (int t = 0; t < 8; t++)
        for (int k = 0; k < B * 4; k++) early += fabs(spk_net_input_grad(net)[(size_t)t * B * 4 + k]);
    CHECK_MSG(early > 0, "full BPTT must reach early steps");
    CHECK(spk_net_backward_truncated(net, -1) == SPK_ERR_INVALID_ARG);
    free(x); free(gb); free(full); free(tr); free(cut);
    spk_net_free(net);
}

/* ------------------------------------------------------------------ training ---------- */

static void train_run(float *final_w, size_t *nw, double *losses) {
    spk_net *net;
    CHECK_OK(spk_net_create(&net));
    int in, a, h, b, o;
    spk_neuron_config c = spk_neuron_config_default();
    c.lam = 0.9f;
    CHECK_OK(spk_net_add_input(net, "in", 1, (int[]){20}, &in));
    CHECK_OK(spk_net_add_dense(net, "fc1", 20, 32, 1, &a));
    CHECK_OK(spk_net_add_neuron(net, "h", &c, 1, (int[]){32}, &h));
    CHECK_OK(spk_net_add_dense(net, "fc2", 32, 4, 1, &b));
    spk_neuron_config ro = c;
    ro.fire = SPK_FIRE_NONE;
    ro.reset = SPK_RESET_NONE;
    CHECK_OK(spk_net_add_neuron(net, "out", &ro, 1, (int[]){4}, &o));
    CHECK_OK(spk_net_connect(net, in, a));
    CHECK_OK(spk_net_connect(net, a, h));
    CHECK_OK(spk_net_connect(net, h, b));
    CHECK_OK(spk_net_connect(net, b, o));
    CHECK_OK(spk_net_build(net, (spk_rng){42, 0}));
    spk_train_config tc = spk_train_config_default(o);
    tc.loss = SPK_LOSS_CE_MEM;
    tc.mem_reduce = SPK_MEM_SUM;
    tc.optim.lr = 3e-3f;
    tc.sched.base_lr = 3e-3f;
    spk_trainer *tr;
    CHECK_OK(spk_trainer_create(&tr, net, &tc));
    const int T = 10, B = 16;
    float *x = malloc(sizeof(float) * T * B * 20);
    int32_t labels[16];
    /* four classes, each a different input pattern plus noise */
    for (int bb = 0; bb < B; bb++) {
        labels[bb] = bb % 4;
        for (int t = 0; t < T; t++)
            for (int i = 0; i < 20; i++)
                x[((size_t)t * B + bb) * 20 + i] = (i / 5 == labels[bb] ? 0.6f : 0.05f) +
                                                   0.1f * spk_rng_uniform((spk_rng){11, 0}, (uint64_t)t, (uint64_t)(bb * 20 + i), 0);
    }
    for (int s = 0; s < 20; s++) {
        int ok;
        CHECK_OK(spk_trainer_step(tr, T, B, x, labels, &losses[s], &ok));
    }
    int ok = 0;
    double le;
    CHECK_OK(spk_trainer_eval(tr, T, B, x, labels, &le, &ok, NULL));
    printf("training 20 steps on a fixed batch: loss %.4f -> %.4f, %d/%d correct\n", losses[0], losses[19], ok, B);
    CHECK(ok >= 12);
    CHECK(spk_trainer_steps(tr) == 20);
    float *p = spk_net_params(net, nw);
    memcpy(final_w, p, *nw * sizeof(float));
    spk_trainer_free(tr);
    spk_net_free(net);
    free(x);
}

static void test_training(void) {
    static float w1[8192], w2[8192], w3[8192];
    size_t n1, n2, n3;
    double l1[20], l2[20], l3[20];
    CHECK_OK(spk_set_threads(2));
    train_run(w1, &n1, l1);
    train_run(w2, &n2, l2);
    CHECK(n1 == n2 && n1 < 8192);
    CHECK_MSG(memcmp(w1, w2, n1 * sizeof(float)) == 0, "two runs with one seed must give bit-identical weights");
    CHECK_OK(spk_set_threads(1));
    train_run(w3, &n3, l3);
    CHECK_OK(spk_set_threads(2));
    CHECK_MSG(n3 == n1 && memcmp(w1, w3, n1 * sizeof(float)) == 0, "1 and 2 threads must give bit-identical weights");
    /* monotone within tolerance: no step may raise the loss by more than 2% */
    for (int s = 1; s < 20; s++) CHECK_MSG(l1[s] <= l1[s - 1] * 1.02, "step %d: loss %.5f after %.5f", s, l1[s], l1[s - 1]);
    CHECK_MSG(l1[19] < 0.6 * l1[0], "loss %.4f -> %.4f: should fall by at least 40%%", l1[0], l1[19]);
}

/* an input that is the same at every step: the first layer runs once and its weight gradient
 * sums dy over time first; equal to the general path up to float reassociation */
static void test_static_input(void) {
    int out;
    spk_net *net = recurrent_net(1, &out);
    const int T = 9, B = 4, C = 3;
    float *x = malloc(sizeof(float) * T * B * 4), *gb = calloc((size_t)T * B * C, sizeof(float));
    fill(x, (size_t)B * 4, 21, 0, 2.0f);
    for (int t = 1; t < T; t++) memcpy(x + (size_t)t * B * 4, x, sizeof(float) * B * 4);
    int32_t labels[4] = {0, 1, 2, 0};
    size_t n;
    float *g_general = malloc(4096 * sizeof(float)), *g_static = malloc(4096 * sizeof(float));
    float *s_general = malloc(sizeof(float) * T * B * 5);
    for (int pass = 0; pass < 2; pass++) {
        spk_net_want_input_grad(net, pass == 0); /* pass 0: general backward, pass 1: static */
        CHECK_OK(spk_net_forward(net, T, B, x));
        const float *hs = spk_net_signal(net, spk_net_find(net, "h"), SPK_SIGNAL_OUT);
        if (pass == 0) memcpy(s_general, hs, sizeof(float) * T * B * 5);
        else CHECK_MSG(memcmp(s_general, hs, sizeof(float) * T * B * 5) == 0, "static input: spikes must be identical");
        spk_loss_ce_mem(gb, spk_net_signal(net, out, SPK_SIGNAL_MEM), labels, T, B, C, SPK_MEM_PER_STEP);
        spk_net_zero_grad(net);
        CHECK_OK(spk_net_seed_grad(net, out, SPK_SIGNAL_MEM, gb));
        CHECK_OK(spk_net_backward(net));
        { const float *g_ = spk_net_grads(net, &n); memcpy(pass ? g_static : g_general, g_, n * sizeof(float)); }
    }
    CHECK(spk_net_input_grad(net) == NULL);
    double err = tu_max_rel_diff(g_static, g_general, n, 1e-6);
    printf("static input: weight gradients equal to the general path within %.2e (relative)\n", err);
    CHECK(err < 1e-5);
    free(x); free(gb); free(g_general); free(g_static); free(s_general);
    spk_net_free(net);
}

int main(void) {
    test_static_input();
    test_graph_errors();
    test_fd_mlp();
    test_fd_conv();
    test_fd_recurrent();
    test_tbptt();
    test_training();
    return tu_finish("test_train");
}
