/* fuzz_nir.c — libFuzzer harness for NIR files (src/io/nir.c, over HDF5 file images): the
 * input is a whole .nir file, read with spk_nir_read_memory. A refusal must carry a message
 * naming the file, allocate nothing and leave no HDF5 object open; a graph that reads is run
 * for a few steps and, when NIR can express it, written back and read again with the same
 * parameters. HDF5 itself is not instrumented (see fuzz_h5.c and fuzz/lsan.supp). */
#include "fuzz_common.h"

#include <hdf5.h>

static void h5_closed(const char *what) {
    if (H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_ALL) != 0) {
        fprintf(stderr, "fuzz_nir: %s left %ld HDF5 object(s) open\n", what, (long)H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_ALL));
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_init();
    spk_nir_options opt = spk_nir_options_default();
    spk_nir_graph g;
    spk_status st = spk_nir_read_memory(data, size, "fuzz.nir", &opt, &g);
    h5_closed("spk_nir_read_memory");
    if (st != SPK_OK) {
        if (g.net) abort();
        if (!strstr(spk_errmsg(NULL), "fuzz.nir")) {
            fprintf(stderr, "fuzz_nir: refusal without the file name: %s\n", spk_errmsg(NULL));
            abort();
        }
        fuzz_check_balanced("spk_nir_read_memory");
        return 0;
    }
    int dims[SPK_MAX_DIMS], nd = spk_net_node_shape(g.net, g.input, dims);
    size_t in = 1, np = 0;
    for (int k = 0; k < nd; k++) in *= (size_t)dims[k];
    const float *p = spk_net_params(g.net, &np);
    if (nd >= 1 && in <= 100000 && np <= 4000000) {
        const int T = 3;
        float *x = malloc(sizeof(float) * T * in);
        if (!x) abort();
        for (size_t i = 0; i < T * in; i++) x[i] = spk_rng_uniform((spk_rng){5, 5}, 0, i, 0) * 2.0f;
        spk_net_forward(g.net, T, 1, x);
        free(x);
        const char *path = fuzz_path(".nir");
        if (spk_nir_write(path, g.net, g.output, &opt) == SPK_OK) {
            spk_nir_graph g2;
            if (spk_nir_read(path, &opt, &g2) != SPK_OK) {
                fprintf(stderr, "fuzz_nir: a written NIR file does not read back: %s\n", spk_errmsg(NULL));
                abort();
            }
            size_t np2;
            const float *p2 = spk_net_params(g2.net, &np2);
            if (np2 != np || (np && memcmp(p, p2, np * sizeof(float)))) {
                fprintf(stderr, "fuzz_nir: a written NIR file reads back with other parameters\n");
                abort();
            }
            spk_nir_graph_free(&g2);
        }
        h5_closed("spk_nir_write / read");
        unlink(path);
    }
    spk_nir_graph_free(&g);
    fuzz_check_balanced("spk_nir_read_memory / write / read");
    return 0;
}
