/* test_train_methods.c — training.method in the experiment file and the trainer:
 *   parsing      method / fptt_alpha / eprop_feedback read, written back by
 *                spk_experiment_to_yaml and read again; a bad name lists the choices
 *   the trainer  method eprop: the step's update is Adam on spk_eprop_run's gradient (same
 *                parameters as a hand-made eprop + optimizer step); method fptt: the same
 *                as spk_fptt_run; refusals: stdp, a max-reduced loss, tbptt without a window */
#include "testutil.h"

#include <string.h>

static const char *yaml =
    "data: {dataset: randman, randman: {classes: 3, units: 8, steps: 12, samples_per_class: 4, test_fraction: 0.25}}\n"
    "network:\n  - dense: {units: 6}\n  - lif: {beta: 0.9}\n  - dense: {units: 3}\n  - lif: {beta: 0.8, fire: none, reset: none}\n"
    "training:\n  loss: ce_mem\n  mem_reduce: per_step\n  method: %s\n  fptt_alpha: 0.25\n  eprop_feedback: random\n  lr: 0.01\n";

static void parsing(void) {
    char text[1024];
    snprintf(text, sizeof text, yaml, "eprop");
    spk_experiment *e;
    CHECK_OK(spk_experiment_parse(&e, text, strlen(text), "t.yaml"));
    if (!e) return;
    CHECK(e->train.method == SPK_TRAIN_EPROP);
    CHECK(e->train.fptt_alpha == 0.25f);
    CHECK(e->train.eprop_feedback == SPK_EPROP_RANDOM);
    char *out = spk_experiment_to_yaml(e);
    CHECK(out && strstr(out, "method: eprop") && strstr(out, "eprop_feedback: random"));
    spk_experiment *e2;
    CHECK_OK(spk_experiment_parse(&e2, out, strlen(out), "back.yaml"));
    if (e2) {
        CHECK(e2->train.method == SPK_TRAIN_EPROP && e2->train.fptt_alpha == 0.25f && e2->train.eprop_feedback == SPK_EPROP_RANDOM);
        spk_experiment_free(e2);
    }
    spk_free(out);
    spk_experiment_free(e);
    snprintf(text, sizeof text, yaml, "backprop");
    CHECK(spk_experiment_parse(&e, text, strlen(text), "t.yaml") == SPK_ERR_FORMAT);
    CHECK(strstr(spk_errmsg(NULL), "bptt, tbptt, fptt, eprop, stdp") != NULL);
    for (int m = 0; m < SPK_TRAIN_METHOD_COUNT; m++) CHECK(spk_train_method_from_name(spk_train_method_name((spk_train_method)m)) == m);
}

static spk_net *build(int *ro) {
    spk_neuron_config hc = spk_neuron_config_default(), oc = spk_neuron_config_default();
    oc.fire = SPK_FIRE_NONE;
    oc.reset = SPK_RESET_NONE;
    return tu_build_hidden_net(8, 6, 3, &hc, &oc, 0, 3, ro);
}

static void trainer(spk_train_method m) {
    int ro, ro2;
    spk_net *a = build(&ro), *b = build(&ro2);
    CHECK(a && b);
    if (!a || !b) return;
    enum { T = 15, B = 2 };
    float x[T * B * 8];
    for (int k = 0; k < T * B * 8; k++) x[k] = spk_rng_uniform((spk_rng){2, 2}, 0, (uint64_t)k, 0) < 0.3f ? 1.0f : 0.0f;
    int32_t y[B] = {1, 2};
    spk_train_config tc = spk_train_config_default(ro);
    tc.method = m;
    tc.optim.lr = tc.sched.base_lr = 0.01f;
    spk_trainer *tr;
    CHECK_OK(spk_trainer_create(&tr, a, &tc));
    double L1 = NAN, L2 = NAN;
    int correct = -1;
    CHECK_OK(spk_trainer_step(tr, T, B, x, y, &L1, &correct));
    CHECK(correct >= 0 && correct <= B);
    CHECK(spk_trainer_steps(tr) == 1);
    /* by hand on the twin network */
    size_t n;
    spk_optim *opt;
    CHECK_OK(spk_optim_create(&opt, &tc.optim, (spk_net_params(b, &n), n)));
    if (m == SPK_TRAIN_EPROP) {
        spk_eprop *ep;
        CHECK_OK(spk_eprop_create(&ep, b, ro2, SPK_EPROP_SYMMETRIC, (spk_rng){1, 1}));
        spk_net_zero_grad(b);
        CHECK_OK(spk_eprop_run(ep, T, B, x, y, SPK_MEM_PER_STEP, &L2, NULL));
        CHECK_OK(spk_optim_step(opt, spk_net_params(b, &n), spk_net_grads(b, &n), 0.01f, NULL));
        spk_eprop_free(ep);
    } else {
        spk_fptt *f;
        CHECK_OK(spk_fptt_create(&f, b, ro2, tc.fptt_alpha, opt));
        CHECK_OK(spk_fptt_run(f, T, B, x, y, SPK_MEM_PER_STEP, 0.01f, &L2, NULL));
        spk_fptt_free(f);
    }
    spk_net_params_changed(b);
    CHECK_NEAR(L1, L2, 1e-6 * fabs(L2));
    const float *pa = spk_net_params(a, &n), *pb = spk_net_params(b, &n);
    double d = 0, moved = 0;
    int ro3;
    spk_net *c = build(&ro3); /* the untrained weights */
    const float *p0 = spk_net_params(c, &n);
    for (size_t k = 0; k < n; k++) d = fmax(d, fabs(pa[k] - pb[k])), moved = fmax(moved, fabs(pa[k] - p0[k]));
    CHECK_MSG(d == 0, "%s: trainer and hand-made update differ by %g", spk_train_method_name(m), d);
    CHECK(moved > 1e-4);
    spk_net_free(c);
    spk_optim_free(opt);
    spk_trainer_free(tr);
    spk_net_free(a);
    spk_net_free(b);
}

static void refusals(void) {
    int ro;
    spk_net *net = build(&ro);
    spk_train_config tc = spk_train_config_default(ro);
    spk_trainer *tr;
    tc.method = SPK_TRAIN_STDP;
    CHECK(spk_trainer_create(&tr, net, &tc) == SPK_ERR_UNSUPPORTED && strstr(spk_errmsg(NULL), "spk_stdp"));
    tc.method = SPK_TRAIN_EPROP;
    tc.mem_reduce = SPK_MEM_MAX;
    CHECK(spk_trainer_create(&tr, net, &tc) == SPK_ERR_UNSUPPORTED && strstr(spk_errmsg(NULL), "per_step"));
    tc.method = SPK_TRAIN_TBPTT;
    tc.mem_reduce = SPK_MEM_PER_STEP;
    CHECK(spk_trainer_create(&tr, net, &tc) == SPK_ERR_INVALID_ARG && strstr(spk_errmsg(NULL), "tbptt"));
    tc.method = SPK_TRAIN_FPTT;
    tc.fptt_alpha = 0;
    CHECK(spk_trainer_create(&tr, net, &tc) == SPK_ERR_INVALID_ARG && strstr(spk_errmsg(NULL), "fptt_alpha"));
    spk_net_free(net);
}

int main(void) {
    parsing();
    trainer(SPK_TRAIN_EPROP);
    trainer(SPK_TRAIN_FPTT);
    refusals();
    return tu_finish("test_train_methods");
}
