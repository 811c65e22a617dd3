/* cmd_fold.c — `spk fold MODEL -o OUT`: every trained norm (batchnorm) node folded into the
 * dense or conv node before it (spk_model_fold_norm), written as a new model file (atomic;
 * an existing OUT is replaced only by a complete file). docs/architectures.md. */
#include "cli.h"

#include <stdio.h>
#include <string.h>

int cmd_fold(int argc, char **argv) {
    const char *in = NULL, *out = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help")) {
            printf("usage: spk fold MODEL -o OUT\n"
                   "Folds each trained batchnorm node into the dense or conv layer before it (W' = a W, b' = a b + c per\n"
                   "channel, from its running statistics) and writes the model without them. Refuses, naming the node,\n"
                   "a batchnorm that does not directly follow a dense or conv layer feeding only it.\n");
            return 0;
        } else if (!strcmp(argv[i], "-o") || !strcmp(argv[i], "--output")) {
            if (i + 1 >= argc) {
                cli_error("fold: %s needs a file", argv[i]);
                return 2;
            }
            out = argv[++i];
        } else if (!in && argv[i][0] != '-') {
            in = argv[i];
        } else {
            cli_error("fold: unexpected argument '%s'", argv[i]);
            return 2;
        }
    }
    if (!in || !out) {
        cli_error("fold: need MODEL and -o OUT (see 'spk fold --help')");
        return 2;
    }
    spk_experiment *e = NULL, *e2 = NULL;
    spk_net *net = NULL, *net2 = NULL;
    int readout, readout2, nd, dims[SPK_MAX_DIMS], folded = 0, rc = 1;
    if (spk_model_load(in, &e, &net, &readout, &nd, dims, NULL, NULL, NULL) ||
        spk_model_fold_norm(e, net, nd, dims, &e2, &net2, &readout2, &folded) ||
        spk_model_save(out, e2, nd, dims, net2, NULL, NULL)) {
        cli_error("%s", spk_errmsg(NULL));
        goto done;
    }
    printf("%s -> %s: %d batchnorm node(s) folded, %d nodes left\n", in, out, folded, spk_net_node_count(net2));
    rc = 0;
done:
    spk_net_free(net2);
    spk_experiment_free(e2);
    spk_net_free(net);
    spk_experiment_free(e);
    return rc;
}
