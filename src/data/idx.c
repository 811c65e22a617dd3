/* idx.c — the IDX format of MNIST-style datasets, read through zlib (gzip files, or plain
 * ones: zlib passes uncompressed files through), and Fashion-MNIST (Xiao, Rasul, Vollgraf
 * 2017) from the four files of Debian's dataset-fashion-mnist. Every header field is checked:
 * the magic (two zero bytes, type 0x08 = unsigned byte, the expected number of dimensions),
 * the dimensions (28 x 28 images, as many labels as images, labels 0..9), and the data
 * length: a short file is reported with the file name and the uncompressed byte offset where
 * it ends, and a complete read also checks that nothing follows the last record and that the
 * gzip stream ends properly (its CRC and length trailer).
 *
 * Deliberately not here: other IDX element types (int16/int32/float/double: MNIST-style
 * datasets use bytes only), downloading (the Debian package provides the files), and any
 * preprocessing beyond scaling pixels to [0, 1]. */
#define _POSIX_C_SOURCE 200809L
#include "data/data_impl.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#define IDX_TYPE_UBYTE 0x08
#define IDX_MAX_DIMS 4
#define FMNIST_DEFAULT_DIR "/usr/share/datasets/fashion-mnist"
#define FMNIST_PACKAGE_HINT "install the Debian package dataset-fashion-mnist (scripts/setup does)"
#define FMNIST_SIDE 28
#define FMNIST_CLASSES 10

typedef struct idx_reader {
    gzFile gz;
    const char *path;
    uint64_t offset; /* uncompressed bytes consumed so far */
} idx_reader;

static const char *gz_msg(idx_reader *r, int *code);

/* Read exactly n bytes; a short read is a truncated file (SPK_ERR_FORMAT) or a gzip error. */
static spk_status idx_read(idx_reader *r, void *buf, size_t n, const char *what) {
    unsigned char *p = buf;
    while (n > 0) {
        unsigned k = n > (size_t)(1u << 30) ? (1u << 30) : (unsigned)n;
        int got = gzread(r->gz, p, k);
        if (got < 0) {
            int code = 0;
            const char *msg = gz_msg(r, &code);
            if (code == Z_ERRNO)
                return spk__fail(NULL, SPK_ERR_IO, "%s: read error at byte %llu: %s", r->path,
                                 (unsigned long long)r->offset, strerror(errno));
            return spk__fail(NULL, SPK_ERR_FORMAT, "%s: corrupt gzip data at uncompressed byte %llu (%s): %s", r->path,
                             (unsigned long long)r->offset, what, msg);
        }
        r->offset += (uint64_t)got;
        if ((unsigned)got < k) {
            int code = 0;
            const char *msg = gz_msg(r, &code);
            return spk__fail(NULL, SPK_ERR_FORMAT,
                             "%s: truncated: the data ends at uncompressed byte %llu while reading %s (%zu more bytes "
                             "expected)%s%s",
                             r->path, (unsigned long long)r->offset, what, n - (size_t)got,
                             code != Z_OK ? "; zlib: " : "", code != Z_OK ? msg : "");
        }
        p += got;
        n -= (size_t)got;
    }
    return SPK_OK;
}

/* zlib's message, without the "<path>: " it prefixes */
static const char *gz_msg(idx_reader *r, int *code) {
    const char *m = gzerror(r->gz, code);
    if (!m) return "?";
    size_t n = strlen(r->path);
    if (strncmp(m, r->path, n) == 0 && m[n] == ':' && m[n + 1] == ' ') m += n + 2;
    return m;
}

static uint32_t be32(const unsigned char *b) {
    return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | (uint32_t)b[3];
}

/* Open an IDX file of unsigned bytes with `want_ndim` dimensions and read its header.
 * dims[0] is the number of records. */
static spk_status idx_open(idx_reader *r, const char *path, int want_ndim, uint32_t dims[IDX_MAX_DIMS]) {
    r->path = path;
    r->offset = 0;
    errno = 0;
    r->gz = gzopen(path, "rb");
    if (!r->gz) return spk__fail(NULL, SPK_ERR_IO, "%s: cannot open: %s", path, errno ? strerror(errno) : "zlib error");
    gzbuffer(r->gz, 1u << 17);
    unsigned char hdr[4 + 4 * IDX_MAX_DIMS];
    spk_status st = idx_read(r, hdr, 4, "the magic number");
    if (st) return st;
    uint32_t magic = be32(hdr), want = (uint32_t)IDX_TYPE_UBYTE << 8 | (uint32_t)want_ndim;
    if (magic != want) {
        if (hdr[0] || hdr[1])
            return spk__fail(NULL, SPK_ERR_FORMAT,
                             "%s: bad IDX magic 0x%08x at byte 0: not an IDX file (expected 0x%08x: two zero bytes, "
                             "type 0x08, %d dimensions)",
                             path, magic, want, want_ndim);
        if (hdr[2] != IDX_TYPE_UBYTE)
            return spk__fail(NULL, SPK_ERR_UNSUPPORTED,
                             "%s: IDX element type 0x%02x at byte 2 is not supported (only 0x08, unsigned byte)", path,
                             hdr[2]);
        return spk__fail(NULL, SPK_ERR_FORMAT, "%s: IDX file has %d dimensions (byte 3); expected %d", path, hdr[3],
                         want_ndim);
    }
    if ((st = idx_read(r, hdr + 4, 4 * (size_t)want_ndim, "the dimensions"))) return st;
    for (int i = 0; i < want_ndim; i++) dims[i] = be32(hdr + 4 + 4 * i);
    return SPK_OK;
}

/* After the last record: nothing may follow, and the gzip trailer must be intact. */
static spk_status idx_check_end(idx_reader *r) {
    unsigned char extra;
    int got = gzread(r->gz, &extra, 1);
    if (got > 0)
        return spk__fail(NULL, SPK_ERR_FORMAT, "%s: unexpected data after the last record at uncompressed byte %llu",
                         r->path, (unsigned long long)r->offset);
    int code = 0;
    const char *msg = gz_msg(r, &code);
    if (got < 0 || code != Z_OK)
        return spk__fail(NULL, SPK_ERR_FORMAT,
                         "%s: truncated or corrupt gzip stream after the last record (uncompressed byte %llu): %s",
                         r->path, (unsigned long long)r->offset, msg);
    return SPK_OK;
}

static void idx_close(idx_reader *r) {
    if (r->gz) gzclose(r->gz);
    r->gz = NULL;
}

static int file_exists(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
}

/* Load one split: images (ndim 3: n, 28, 28) and labels (ndim 1: n), keeping the first
 * `max` records when max > 0. */
static spk_status fmnist_split(spk_dataset *out, const char *dir, const char *prefix, int max) {
    char ipath[4096], lpath[4096];
    snprintf(ipath, sizeof ipath, "%s/%s-images-idx3-ubyte.gz", dir, prefix);
    snprintf(lpath, sizeof lpath, "%s/%s-labels-idx1-ubyte.gz", dir, prefix);
    if (!file_exists(ipath))
        return spk__fail(NULL, SPK_ERR_IO, "Fashion-MNIST: %s is missing: %s", ipath, FMNIST_PACKAGE_HINT);
    if (!file_exists(lpath))
        return spk__fail(NULL, SPK_ERR_IO, "Fashion-MNIST: %s is missing: %s", lpath, FMNIST_PACKAGE_HINT);

    idx_reader ir = {0}, lr = {0};
    uint32_t idims[IDX_MAX_DIMS] = {0}, ldims[IDX_MAX_DIMS] = {0};
    unsigned char *pix = NULL, *lab = NULL;
    spk_status st;
    memset(out, 0, sizeof *out);
    if ((st = idx_open(&ir, ipath, 3, idims))) goto done;
    if ((st = idx_open(&lr, lpath, 1, ldims))) goto done;
    if (idims[1] != FMNIST_SIDE || idims[2] != FMNIST_SIDE) {
        st = spk__fail(NULL, SPK_ERR_FORMAT, "%s: images are %u x %u (bytes 8..15); Fashion-MNIST's are 28 x 28", ipath,
                       idims[1], idims[2]);
        goto done;
    }
    if (idims[0] != ldims[0]) {
        st = spk__fail(NULL, SPK_ERR_FORMAT, "%s has %u images but %s has %u labels (bytes 4..7)", ipath, idims[0], lpath,
                       ldims[0]);
        goto done;
    }
    if (idims[0] == 0 || idims[0] > (uint32_t)INT_MAX) {
        st = spk__fail(NULL, SPK_ERR_FORMAT, "%s: implausible record count %u (bytes 4..7)", ipath, idims[0]);
        goto done;
    }
    int n = (int)idims[0];
    int whole = 1;
    if (max > 0 && max < n) {
        n = max;
        whole = 0;
    }
    const size_t per = FMNIST_SIDE * FMNIST_SIDE;
    pix = spk_malloc((size_t)n * per);
    lab = spk_malloc((size_t)n);
    if (!pix || !lab) {
        st = spk__fail(NULL, SPK_ERR_NOMEM, "Fashion-MNIST: no memory for %d images", n);
        goto done;
    }
    if ((st = idx_read(&ir, pix, (size_t)n * per, "the pixels"))) goto done;
    if ((st = idx_read(&lr, lab, (size_t)n, "the labels"))) goto done;
    if (whole) {
        if ((st = idx_check_end(&ir))) goto done;
        if ((st = idx_check_end(&lr))) goto done;
    }
    for (int i = 0; i < n; i++) {
        if (lab[i] >= FMNIST_CLASSES) {
            st = spk__fail(NULL, SPK_ERR_FORMAT, "%s: label %u at byte %d is outside 0..9", lpath, lab[i], 8 + i);
            goto done;
        }
    }
    int dims[3] = {1, FMNIST_SIDE, FMNIST_SIDE};
    if ((st = spk__dataset_alloc(out, n, 3, dims, 0, FMNIST_CLASSES, "Fashion-MNIST"))) goto done;
    for (size_t i = 0; i < (size_t)n * per; i++) out->x[i] = (float)pix[i] / 255.0f;
    for (int i = 0; i < n; i++) out->y[i] = lab[i];

done:
    idx_close(&ir);
    idx_close(&lr);
    spk_free(pix);
    spk_free(lab);
    return st;
}

spk_status spk_dataset_fashion_mnist(spk_dataset *train, spk_dataset *test, const char *dir, int max_train,
                                     int max_test) {
    if (!train && !test)
        return spk__fail(NULL, SPK_ERR_INVALID_ARG, "spk_dataset_fashion_mnist: train and test are both NULL");
    if (max_train < 0 || max_test < 0)
        return spk__fail(NULL, SPK_ERR_INVALID_ARG,
                         "spk_dataset_fashion_mnist: max_train %d / max_test %d must be >= 0 (0 = all)", max_train,
                         max_test);
    if (train) memset(train, 0, sizeof *train);
    if (test) memset(test, 0, sizeof *test);
    if (!dir) dir = FMNIST_DEFAULT_DIR;
    struct stat sb;
    if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode))
        return spk__fail(NULL, SPK_ERR_IO, "Fashion-MNIST: directory %s not found: %s", dir, FMNIST_PACKAGE_HINT);
    spk_status st;
    if (train && (st = fmnist_split(train, dir, "train", max_train))) return st;
    if (test && (st = fmnist_split(test, dir, "t10k", max_test))) {
        if (train) spk_dataset_free(train);
        return st;
    }
    return SPK_OK;
}
