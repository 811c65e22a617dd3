/* fuzz_net.h — shared by the experiment and model harnesses: run a network that a fuzzed
 * experiment describes, briefly (T = 3 steps, a batch of 2, one training step and one
 * evaluation), and check that saving and loading it round-trips every parameter bit for
 * bit. Any status is fine; a crash, a sanitizer report or a leak is not. */
#ifndef SPK_FUZZ_NET_H
#define SPK_FUZZ_NET_H

#include "fuzz_common.h"

#define FUZZ_MAX_PARAMS 4000000 /* larger networks are built but not run */

static inline void fuzz_run_net(spk_experiment *e, spk_net *net, int readout, int nd, const int *dims) {
    size_t np, in = 1;
    if (!spk_net_params(net, &np) || np > FUZZ_MAX_PARAMS) return;
    for (int k = 0; k < nd; k++) in *= (size_t)dims[k];
    if (in > 100000) return;
    const int T = 3, B = 2;
    float *x = malloc(sizeof(float) * T * B * in);
    if (!x) abort();
    for (size_t i = 0; i < T * B * in; i++) x[i] = spk_rng_uniform((spk_rng){7, 7}, 0, i, 0) * 2.0f;
    int32_t labels[2] = {0, 0};
    spk_train_config tc = e->train;
    tc.output = readout;
    if (tc.sched.total_steps < 1) tc.sched.total_steps = 10;
    spk_trainer *tr = NULL;
    if (spk_trainer_create(&tr, net, &tc) == SPK_OK) {
        double loss;
        int ok;
        int32_t pred[2];
        spk_trainer_step(tr, T, B, x, labels, &loss, &ok);
        spk_trainer_eval(tr, T, B, x, labels, &loss, &ok, pred);
        spk_trainer_free(tr);
    }
    free(x);
    /* save and load: the same parameters */
    const char *path = fuzz_path(".spk");
    spk_train_state ts = {1, 2, 3};
    if (spk_model_save(path, e, nd, dims, net, NULL, &ts) != SPK_OK) return; /* e.g. out of memory */
    spk_experiment *e2 = NULL;
    spk_net *net2 = NULL;
    int r2, nd2, d2[SPK_MAX_DIMS];
    spk_train_state ts2;
    if (spk_model_load(path, &e2, &net2, &r2, &nd2, d2, &ts2, NULL, NULL) != SPK_OK) {
        fprintf(stderr, "fuzz: a saved model does not load: %s\n", spk_errmsg(NULL));
        abort();
    }
    size_t np2;
    const float *p = spk_net_params(net, &np), *p2 = spk_net_params(net2, &np2);
    if (np2 != np || r2 != readout || nd2 != nd || (np && memcmp(p, p2, np * sizeof(float))) || ts2.epoch != 1 || ts2.batch != 2 ||
        ts2.step != 3) {
        fprintf(stderr, "fuzz: a saved model loads back different\n");
        abort();
    }
    spk_net_free(net2);
    spk_experiment_free(e2);
    unlink(path);
}

#endif
