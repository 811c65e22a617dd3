/* fuzz_h5.c — libFuzzer harness for user datasets in HDF5 files (src/data/load.c): the
 * input is a whole file, read as spk_dataset_load("F.h5:/x", "F.h5:/y"). HDF5 itself is
 * not instrumented for coverage (it is a Debian library), so this mostly checks spk's side:
 * shapes, type classes, label checks and cleanup on every refusal (no spk allocation and no
 * HDF5 object left open). HDF5 leaks some memory of its own on corrupt object headers (inside
 * H5Fopen / H5Dopen2, nothing spk holds): fuzz/lsan.supp explains the suppression. */
#include "fuzz_common.h"

#include <hdf5.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_init();
    const char *path = fuzz_path(".h5");
    char xs[300], ys[300];
    fuzz_write(path, data, size);
    snprintf(xs, sizeof xs, "%s:/x", path);
    snprintf(ys, sizeof ys, "%s:/y", path);
    spk_dataset d;
    spk_status st = spk_dataset_load(&d, xs, ys, 0);
    if (st != SPK_OK) {
        if (d.x || d.y || d.n) abort();
        if (!*spk_errmsg(NULL)) abort();
    } else {
        if (d.n < 1 || d.n_classes < 1 || d.ndim < 1 || d.ndim > SPK_MAX_DIMS) abort();
        for (int i = 0; i < d.n; i++)
            if (d.y[i] < 0 || d.y[i] >= d.n_classes) abort();
        double s = 0; /* every value readable (ASan checks the extent) */
        for (size_t i = 0; i < (size_t)d.n * spk_dataset_sample_size(&d); i++) s += d.x[i];
        if (s == 12345.678) fputs("", stderr);
        spk_dataset_free(&d);
    }
    /* every HDF5 object spk opened is closed again, whatever happened */
    if (H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_ALL) != 0) {
        fprintf(stderr, "fuzz_h5: %ld HDF5 object(s) left open\n", (long)H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_ALL));
        abort();
    }
    unlink(path);
    fuzz_check_balanced("spk_dataset_load");
    return 0;
}
