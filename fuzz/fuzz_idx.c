/* fuzz_idx.c — libFuzzer harness for the IDX reader (src/data/idx.c) through
 * spk_dataset_fashion_mnist: the input holds both files of a split. Byte 0 picks max_train
 * (byte % 4; 0 = all records, which also checks the end of both files), bytes 1..4 are the
 * length L of the image file (little-endian, taken modulo the bytes left + 1), then come L
 * bytes of train-images-idx3-ubyte.gz and the rest is train-labels-idx1-ubyte.gz (plain
 * bytes or gzip: zlib reads both). A refusal must leave the dataset empty with a message;
 * an accepted split must have labels in 0..9 and pixels in [0, 1]. */
#include "fuzz_common.h"

#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_init();
    if (size < 5) return 0;
    const char *dir = fuzz_path("_idx");
    static char ipath[300], lpath[300];
    mkdir(dir, 0700);
    snprintf(ipath, sizeof ipath, "%s/train-images-idx3-ubyte.gz", dir);
    snprintf(lpath, sizeof lpath, "%s/train-labels-idx1-ubyte.gz", dir);
    int max = data[0] % 4;
    size_t rest = size - 5;
    uint32_t L = (uint32_t)data[1] | (uint32_t)data[2] << 8 | (uint32_t)data[3] << 16 | (uint32_t)data[4] << 24;
    size_t li = (size_t)L % (rest + 1);
    fuzz_write(ipath, data + 5, li);
    fuzz_write(lpath, data + 5 + li, rest - li);
    spk_dataset tr;
    spk_status st = spk_dataset_fashion_mnist(&tr, NULL, dir, max, 0);
    if (st != SPK_OK) {
        if (tr.x || tr.y || tr.n) abort();
        if (!*spk_errmsg(NULL)) abort();
    } else {
        if (tr.n < 1 || (max && tr.n > max) || tr.n_classes != 10 || tr.ndim != 3) abort();
        for (int i = 0; i < tr.n; i++)
            if (tr.y[i] < 0 || tr.y[i] > 9) abort();
        for (size_t i = 0; i < (size_t)tr.n * 784; i++)
            if (!(tr.x[i] >= 0.0f && tr.x[i] <= 1.0f)) abort();
        spk_dataset_free(&tr);
    }
    unlink(ipath);
    unlink(lpath);
    rmdir(dir);
    fuzz_check_balanced("spk_dataset_fashion_mnist");
    return 0;
}
