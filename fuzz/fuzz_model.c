/* fuzz_model.c — libFuzzer harness for model files and checkpoints (src/io/checkpoint.c):
 * the input is a whole model.spk. The harness rewrites the trailing CRC-32 to match the
 * bytes before it, so that mutations reach the parser behind the checksum (the checksum
 * itself is tested in tests/test_robust.c). A refusal must carry a message and leave
 * nothing allocated; a model that loads is run, trained a step, saved and loaded again
 * (fuzz_net.h). */
#include "fuzz_net.h"
#include "io/model_impl.h"


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_init();
    unsigned char *buf = fuzz_copy_with_crc(data, size);
    spk_experiment *e = NULL;
    spk_net *net = NULL;
    int readout = -1, nd = 0, dims[SPK_MAX_DIMS];
    spk_train_state ts;
    float *opt = NULL;
    size_t opt_n = 0;
    spk_status st = spk__model_load_mem(buf, size, "fuzz.spk", &e, &net, &readout, &nd, dims, &ts, &opt, &opt_n);
    free(buf);
    if (st != SPK_OK) {
        if (e || net || opt || opt_n) abort();
        if (!strstr(spk_errmsg(NULL), "fuzz.spk")) {
            fprintf(stderr, "fuzz_model: refusal without the file name: %s\n", spk_errmsg(NULL));
            abort();
        }
    } else {
        if (ts.epoch < 0 || ts.batch < 0 || ts.step < 0 || nd < 1 || nd > SPK_MAX_DIMS) abort();
        for (int k = 0; k < nd; k++)
            if (dims[k] < 1) abort();
        fuzz_run_net(e, net, readout, nd, dims);
        spk_free(opt);
        spk_net_free(net);
        spk_experiment_free(e);
    }
    fuzz_check_balanced("spk_model_load");
    return 0;
}
