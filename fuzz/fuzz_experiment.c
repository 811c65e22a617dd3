/* fuzz_experiment.c — libFuzzer harness for experiment files (spk_experiment_parse, over
 * libyaml): the input is the YAML text. A refusal must carry a FILE:LINE:COLUMN message; an
 * accepted experiment must write itself back as YAML that parses to the same text again
 * (the contract of spk_experiment_to_yaml), and the network it describes is built for a
 * small input, trained one step, evaluated, saved and loaded (fuzz_net.h). */
#include "fuzz_net.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_init();
    spk_experiment *e = (spk_experiment *)1;
    spk_status st = spk_experiment_parse(&e, (const char *)data, size, "fuzz.yaml");
    if (st != SPK_OK) {
        if (e != NULL || strncmp(spk_errmsg(NULL), "fuzz.yaml", 9) != 0) {
            fprintf(stderr, "fuzz_experiment: refusal without the file name: %s\n", spk_errmsg(NULL));
            abort();
        }
        fuzz_check_balanced("spk_experiment_parse");
        return 0;
    }
    char *y = spk_experiment_to_yaml(e);
    if (!y) abort();
    spk_experiment *e2 = NULL;
    if (spk_experiment_parse(&e2, y, strlen(y), "resolved.yaml") != SPK_OK) {
        fprintf(stderr, "fuzz_experiment: the resolved YAML does not parse: %s\n---\n%s\n", spk_errmsg(NULL), y);
        abort();
    }
    char *y2 = spk_experiment_to_yaml(e2);
    if (!y2 || strcmp(y, y2) != 0) {
        fprintf(stderr, "fuzz_experiment: the resolved YAML reads back different\n---\n%s\n---\n%s\n", y, y2 ? y2 : "(null)");
        abort();
    }
    spk_free(y2);
    spk_free(y);
    spk_experiment_free(e2);

    /* a small input of the shape the first layer wants */
    int dims[SPK_MAX_DIMS] = {8, 0, 0, 0}, nd = 1;
    const spk_layer_spec *L0 = &e->layers[0];
    if ((L0->kind == SPK_LAYER_CONV || L0->kind == SPK_LAYER_POOL) && L0->dims == 2) {
        nd = 3;
        dims[0] = 2, dims[1] = 8, dims[2] = 8;
    } else if (L0->kind == SPK_LAYER_CONV || L0->kind == SPK_LAYER_POOL) {
        nd = 2;
        dims[0] = 2, dims[1] = 8;
    }
    spk_net *net = NULL;
    int readout = -1;
    if (spk_experiment_build_net(e, nd, dims, &net, &readout) == SPK_OK) {
        fuzz_run_net(e, net, readout, nd, dims);
        spk_net_free(net);
    } else if (net) {
        abort();
    }
    spk_experiment_free(e);
    fuzz_check_balanced("spk_experiment_parse / build / train / save / load");
    return 0;
}
