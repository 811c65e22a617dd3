/* fuzz_npy.c — libFuzzer harness for the .npy reader (src/data/npy.c): the input is a whole
 * file. A refusal must carry a message naming the file and allocate nothing; an accepted
 * array must have exactly prod(shape) readable elements and survive a write / read round
 * trip bit for bit. */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_init();
    const char *path = fuzz_path(".npy"), *back = fuzz_path("_back.npy");
    fuzz_write(path, data, size);
    float *x = (float *)1;
    int nd = -1;
    size_t dims[8];
    spk_status st = spk_npy_read(path, &x, &nd, dims);
    if (st != SPK_OK) {
        if (x != NULL || nd != 0) abort();
        if (!strstr(spk_errmsg(NULL), path)) {
            fprintf(stderr, "fuzz_npy: message does not name the file: %s\n", spk_errmsg(NULL));
            abort();
        }
    } else {
        if (nd < 0 || nd > 8) abort();
        size_t n = 1;
        for (int d = 0; d < nd; d++) n *= dims[d];
        if ((n > 0) != (x != NULL)) abort();
        if (spk_npy_write(back, x, nd, dims) != SPK_OK) {
            fprintf(stderr, "fuzz_npy: cannot write back: %s\n", spk_errmsg(NULL));
            abort();
        }
        float *y = NULL;
        int nd2 = -1;
        size_t dims2[8];
        if (spk_npy_read(back, &y, &nd2, dims2) != SPK_OK || nd2 != nd || memcmp(dims, dims2, sizeof(size_t) * (size_t)nd) ||
            (n && memcmp(x, y, n * sizeof(float)))) {
            fprintf(stderr, "fuzz_npy: the array does not read back identically: %s\n", spk_errmsg(NULL));
            abort();
        }
        spk_free(y);
        spk_free(x);
        unlink(back);
    }
    unlink(path);
    fuzz_check_balanced("spk_npy_read");
    return 0;
}
