/* test_data.c — datasets and arrays (src/data): Fashion-MNIST from Debian's
 * dataset-fashion-mnist against values read here with zlib directly, IDX corruption cases
 * written to temporary files, Yin-Yang (sizes, exact balance, geometry re-derived here,
 * reproducibility, independent streams), Randman (shapes, one spike per unit, reproducibility,
 * nearest-centroid separability), .npy (round trips, files written by NumPy for every
 * supported dtype and header version, malformed headers, truncation, atomic writes that
 * never clobber an existing file), spk_dataset_load from .npy and from an HDF5 file made here
 * with the HDF5 C API, and allocation failures without leaks.
 *
 * The Fashion-MNIST real-file part needs /usr/share/datasets/fashion-mnist; without it every
 * other part still runs and the test exits 77 (skipped) when they pass. The NumPy part needs
 * /usr/bin/python3 with numpy and is skipped with a message otherwise. */
#define _POSIX_C_SOURCE 200809L
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <hdf5.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#define FMNIST_DIR "/usr/share/datasets/fashion-mnist"

static char tmpdir[256];
static int fmnist_skipped = 0;

static const char *tpath(const char *name) {
    static char buf[8][512];
    static int k = 0;
    k = (k + 1) % 8;
    snprintf(buf[k], sizeof buf[k], "%s/%s", tmpdir, name);
    return buf[k];
}

static int has(const char *hay, const char *needle) { return strstr(hay, needle) != NULL; }

static int write_file(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    size_t w = fwrite(data, 1, n, f);
    return fclose(f) == 0 && w == n ? 0 : -1;
}

static long read_file(const char *path, unsigned char *buf, size_t cap) {
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    size_t n = fread(buf, 1, cap, f);
    fclose(f);
    return (long)n;
}

static int exists(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0;
}

/* ====================================================================== allocation counting */


/* ====================================================================== Fashion-MNIST */

/* Pixel sum and label of record `idx`, read here with zlib alone. */
static int zlib_record(const char *dir, const char *prefix, int idx, long *pixsum, int *label) {
    char p[512];
    snprintf(p, sizeof p, "%s/%s-images-idx3-ubyte.gz", dir, prefix);
    gzFile g = gzopen(p, "rb");
    if (!g) return -1;
    unsigned char hdr[16], img[784];
    int ok = gzread(g, hdr, 16) == 16 && gzseek(g, 16 + (z_off_t)idx * 784, SEEK_SET) >= 0 &&
             gzread(g, img, 784) == 784;
    gzclose(g);
    if (!ok) return -1;
    *pixsum = 0;
    for (int i = 0; i < 784; i++) *pixsum += img[i];
    snprintf(p, sizeof p, "%s/%s-labels-idx1-ubyte.gz", dir, prefix);
    g = gzopen(p, "rb");
    if (!g) return -1;
    unsigned char lb = 0;
    ok = gzseek(g, 8 + idx, SEEK_SET) >= 0 && gzread(g, &lb, 1) == 1;
    gzclose(g);
    *label = lb;
    return ok ? 0 : -1;
}

static long ds_pixsum(const spk_dataset *d, int i) {
    long s = 0;
    for (int k = 0; k < 784; k++) s += lroundf(d->x[(size_t)i * 784 + k] * 255.0f);
    return s;
}

static void test_fmnist_real(void) {
    struct stat sb;
    if (stat(FMNIST_DIR, &sb) != 0) {
        fprintf(stderr, "test_data: %s absent: skipping the real Fashion-MNIST part\n", FMNIST_DIR);
        fmnist_skipped = 1;
        return;
    }
    spk_dataset tr, te;
    CHECK_OK(spk_dataset_fashion_mnist(&tr, &te, NULL, 0, 0));
    CHECK(tr.n == 60000 && te.n == 10000);
    CHECK(tr.ndim == 3 && tr.dims[0] == 1 && tr.dims[1] == 28 && tr.dims[2] == 28 && tr.has_time == 0);
    CHECK(tr.n_classes == 10 && te.n_classes == 10);
    CHECK(spk_dataset_sample_size(&tr) == 784);
    if (tr.n == 60000 && te.n == 10000) {
        /* independent values: zlib directly here, and python3's gzip module (hard-coded):
         *   d=gzip.open('train-images-idx3-ubyte.gz').read(); sum(d[16:16+784]) -> 76247,
         *   last train image 16684 (label 5); t10k image 0: 33456 (label 9), last 24390 (5). */
        long s;
        int lab;
        CHECK(zlib_record(FMNIST_DIR, "train", 0, &s, &lab) == 0);
        CHECK(s == 76247 && lab == 9);
        CHECK(ds_pixsum(&tr, 0) == s && tr.y[0] == lab);
        CHECK(zlib_record(FMNIST_DIR, "train", 59999, &s, &lab) == 0);
        CHECK(s == 16684 && lab == 5);
        CHECK(ds_pixsum(&tr, 59999) == s && tr.y[59999] == lab);
        CHECK(zlib_record(FMNIST_DIR, "t10k", 0, &s, &lab) == 0);
        CHECK(s == 33456 && lab == 9);
        CHECK(ds_pixsum(&te, 0) == s && te.y[0] == lab);
        CHECK(ds_pixsum(&te, 9999) == 24390 && te.y[9999] == 5);
        /* pixels in [0, 1], exactly k/255; 6000 / 1000 of each class */
        int bad = 0;
        for (size_t i = 0; i < (size_t)tr.n * 784; i++) {
            float v = tr.x[i];
            if (!(v >= 0 && v <= 1) || fabsf(v * 255.0f - rintf(v * 255.0f)) > 1e-3f) bad++;
        }
        CHECK(bad == 0);
        int cnt[10] = {0}, tcnt[10] = {0};
        for (int i = 0; i < tr.n; i++) cnt[tr.y[i]]++;
        for (int i = 0; i < te.n; i++) tcnt[te.y[i]]++;
        for (int c = 0; c < 10; c++) CHECK_MSG(cnt[c] == 6000 && tcnt[c] == 1000, "class %d: %d %d", c, cnt[c], tcnt[c]);
    }
    /* max_train / max_test keep the first ones */
    spk_dataset a, b;
    CHECK_OK(spk_dataset_fashion_mnist(&a, &b, FMNIST_DIR, 100, 7));
    CHECK(a.n == 100 && b.n == 7);
    if (a.n == 100 && tr.n == 60000) CHECK(memcmp(a.x, tr.x, 100 * 784 * sizeof(float)) == 0);
    if (b.n == 7 && te.n == 10000) CHECK(memcmp(b.y, te.y, 7 * sizeof(int32_t)) == 0);
    spk_dataset_free(&a);
    spk_dataset_free(&b);
    /* only one split */
    CHECK_OK(spk_dataset_fashion_mnist(NULL, &b, NULL, 0, 20000));
    CHECK(b.n == 10000);
    spk_dataset_free(&b);
    spk_dataset_free(&tr);
    spk_dataset_free(&te);
    CHECK(tr.x == NULL && tr.y == NULL && tr.n == 0);
}

/* Write an IDX file, gzip-compressed, to dir/name. */
static int write_idx_gz(const char *path, const unsigned char *bytes, size_t n) {
    gzFile g = gzopen(path, "wb");
    if (!g) return -1;
    int ok = gzwrite(g, bytes, (unsigned)n) == (int)n;
    return gzclose(g) == Z_OK && ok ? 0 : -1;
}

static void put_be32(unsigned char *b, uint32_t v) {
    b[0] = (unsigned char)(v >> 24);
    b[1] = (unsigned char)(v >> 16);
    b[2] = (unsigned char)(v >> 8);
    b[3] = (unsigned char)v;
}

/* A small fake Fashion-MNIST in dir: `n` images; returns 0 on success. Options distort it. */
enum { FK_OK, FK_BAD_MAGIC, FK_TRUNC_IMAGES, FK_TRUNC_GZ, FK_BAD_LABEL, FK_COUNT_MISMATCH, FK_BAD_SIDE, FK_TRAILING,
       FK_BAD_TYPE };
static int make_fake(const char *dir, int n, int kind) {
    size_t isz = 16 + (size_t)n * 784 + 1, lsz = 8 + (size_t)n + 1;
    unsigned char *img = calloc(isz, 1), *lab = calloc(lsz, 1);
    put_be32(img, 0x00000803);
    put_be32(img + 4, (uint32_t)n);
    put_be32(img + 8, 28);
    put_be32(img + 12, 28);
    for (int i = 0; i < n * 784; i++) img[16 + i] = (unsigned char)((i * 7 + i / 784) % 256);
    put_be32(lab, 0x00000801);
    put_be32(lab + 4, (uint32_t)n);
    for (int i = 0; i < n; i++) lab[8 + i] = (unsigned char)(i % 10);
    size_t iw = isz - 1, lw = lsz - 1;
    if (kind == FK_BAD_MAGIC) img[0] = 0x1f;
    if (kind == FK_BAD_TYPE) img[2] = 0x0d;
    if (kind == FK_TRUNC_IMAGES) iw = 16 + (size_t)(n - 1) * 784 + 100;
    if (kind == FK_BAD_LABEL) lab[8 + 1] = 10;
    if (kind == FK_COUNT_MISMATCH) put_be32(lab + 4, (uint32_t)(n - 1)), lw--;
    if (kind == FK_BAD_SIDE) put_be32(img + 12, 27);
    if (kind == FK_TRAILING) iw++;
    char p[512];
    int rc = 0;
    const char *pre[2] = {"train", "t10k"};
    for (int s = 0; s < 2; s++) {
        snprintf(p, sizeof p, "%s/%s-images-idx3-ubyte.gz", dir, pre[s]);
        rc |= write_idx_gz(p, img, iw);
        snprintf(p, sizeof p, "%s/%s-labels-idx1-ubyte.gz", dir, pre[s]);
        rc |= write_idx_gz(p, lab, lw);
    }
    if (kind == FK_TRUNC_GZ) { /* cut the compressed train images file short */
        snprintf(p, sizeof p, "%s/train-images-idx3-ubyte.gz", dir);
        struct stat sb;
        if (stat(p, &sb) == 0) rc |= truncate(p, sb.st_size - 20);
    }
    free(img);
    free(lab);
    return rc;
}

static void test_fmnist_files(void) {
    spk_dataset tr, te;
    /* a missing directory names the package */
    CHECK(spk_dataset_fashion_mnist(&tr, &te, "/nonexistent/spk/fashion-mnist", 0, 0) == SPK_ERR_IO);
    CHECK(has(spk_errmsg(NULL), "install the Debian package dataset-fashion-mnist (scripts/setup does)"));
    CHECK(tr.x == NULL && te.x == NULL);
    /* a directory without the files, too */
    const char *d = tpath("fm_empty");
    mkdir(d, 0755);
    CHECK(spk_dataset_fashion_mnist(&tr, &te, d, 0, 0) == SPK_ERR_IO);
    CHECK(has(spk_errmsg(NULL), "dataset-fashion-mnist") && has(spk_errmsg(NULL), "train-images-idx3-ubyte.gz"));
    CHECK(spk_dataset_fashion_mnist(NULL, NULL, d, 0, 0) == SPK_ERR_INVALID_ARG);
    CHECK(spk_dataset_fashion_mnist(&tr, NULL, d, -1, 0) == SPK_ERR_INVALID_ARG);

    /* a valid small copy */
    const char *fd = tpath("fm_fake");
    mkdir(fd, 0755);
    CHECK(make_fake(fd, 5, FK_OK) == 0);
    CHECK_OK(spk_dataset_fashion_mnist(&tr, &te, fd, 0, 3));
    CHECK(tr.n == 5 && te.n == 3);
    if (tr.n == 5) {
        int bad = 0;
        for (int i = 0; i < 5 * 784; i++)
            if (tr.x[i] != (float)((i * 7 + i / 784) % 256) / 255.0f) bad++;
        CHECK(bad == 0);
        for (int i = 0; i < 5; i++) CHECK(tr.y[i] == i % 10);
    }
    spk_dataset_free(&tr);
    spk_dataset_free(&te);

    struct {
        int kind;
        spk_status want;
        const char *file, *text;
    } cases[] = {
        {FK_BAD_MAGIC, SPK_ERR_FORMAT, "train-images-idx3-ubyte.gz", "magic"},
        {FK_BAD_TYPE, SPK_ERR_UNSUPPORTED, "train-images-idx3-ubyte.gz", "type 0x0d"},
        /* 4 whole images + 100 bytes: the data ends at byte 16 + 4*784 + 100 = 3252 */
        {FK_TRUNC_IMAGES, SPK_ERR_FORMAT, "train-images-idx3-ubyte.gz", "byte 3252"},
        {FK_TRUNC_GZ, SPK_ERR_FORMAT, "train-images-idx3-ubyte.gz", "byte"},
        {FK_BAD_LABEL, SPK_ERR_FORMAT, "train-labels-idx1-ubyte.gz", "label 10 at byte 9"},
        {FK_COUNT_MISMATCH, SPK_ERR_FORMAT, "train-labels-idx1-ubyte.gz", "4 labels"},
        {FK_BAD_SIDE, SPK_ERR_FORMAT, "train-images-idx3-ubyte.gz", "28 x 27"},
        {FK_TRAILING, SPK_ERR_FORMAT, "train-images-idx3-ubyte.gz", "after the last record"},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        char sub[64];
        snprintf(sub, sizeof sub, "fm_bad%zu", c);
        const char *bd = tpath(sub);
        mkdir(bd, 0755);
        CHECK(make_fake(bd, 5, cases[c].kind) == 0);
        spk_status st = spk_dataset_fashion_mnist(&tr, NULL, bd, 0, 0);
        const char *m = spk_errmsg(NULL);
        CHECK_MSG(st == cases[c].want, "case %zu: %s (%s)", c, spk_status_str(st), m);
        CHECK_MSG(has(m, cases[c].file) && has(m, cases[c].text), "case %zu: message \"%s\"", c, m);
        CHECK(tr.x == NULL && tr.n == 0);
    }
    /* max_train skips the end-of-file checks, so a file truncated after the kept records is
     * still readable up to them */
    const char *td = tpath("fm_bad2");
    CHECK_OK(spk_dataset_fashion_mnist(&tr, NULL, td, 2, 0));
    CHECK(tr.n == 2);
    spk_dataset_free(&tr);
}

/* ====================================================================== Yin-Yang */

/* The class of (x, y) re-derived from the picture: two eyes (r 0.1) at (0.25, 0.5) and
 * (0.75, 0.5) are class 2; class 1 is the left lobe (r 0.25 around the left eye, outside it)
 * plus the upper half outside the right lobe; the rest of the big disc is class 0. */
static int geo_class(double x, double y) {
    double dl = sqrt((x - 0.25) * (x - 0.25) + (y - 0.5) * (y - 0.5));
    double dr = sqrt((x - 0.75) * (x - 0.75) + (y - 0.5) * (y - 0.5));
    if (dl < 0.1 || dr < 0.1) return 2;
    if (dl <= 0.25) return 1;
    if (dr <= 0.25) return dr <= 0.1 ? 1 : 0;
    return y > 0.5 ? 1 : 0;
}

static void test_yinyang(void) {
    spk_dataset tr, va, te;
    CHECK_OK(spk_dataset_yinyang(&tr, &va, &te, 5000, 1000, 1000, 42));
    CHECK(tr.n == 5000 && va.n == 1000 && te.n == 1000);
    CHECK(tr.ndim == 1 && tr.dims[0] == 4 && tr.n_classes == 3 && tr.has_time == 0);
    CHECK(spk_dataset_sample_size(&va) == 4);
    spk_dataset *sets[3] = {&tr, &va, &te};
    for (int s = 0; s < 3; s++) {
        spk_dataset *d = sets[s];
        int cnt[3] = {0}, outside = 0, mirror = 0, wrong = 0, badlab = 0;
        for (int i = 0; i < d->n; i++) {
            const float *f = d->x + (size_t)i * 4;
            double x = f[0], y = f[1];
            if ((x - 0.5) * (x - 0.5) + (y - 0.5) * (y - 0.5) > 0.25 + 1e-12) outside++;
            if (fabs((double)f[0] + f[2] - 1.0) > 1e-6 || fabs((double)f[1] + f[3] - 1.0) > 1e-6) mirror++;
            if (d->y[i] < 0 || d->y[i] > 2) {
                badlab++;
                continue;
            }
            cnt[d->y[i]]++;
            if (geo_class(x, y) != d->y[i]) wrong++;
        }
        CHECK_MSG(outside == 0 && mirror == 0 && wrong == 0 && badlab == 0, "set %d: %d outside, %d mirror, %d wrong",
                  s, outside, mirror, wrong);
        /* exact balance: n/3 each, the remainder to the first classes */
        for (int c = 0; c < 3; c++)
            CHECK_MSG(cnt[c] == d->n / 3 + (c < d->n % 3), "set %d class %d: %d", s, c, cnt[c]);
    }
    /* the order of classes is shuffled, not periodic */
    int runs = 0;
    for (int i = 1; i < 30; i++) runs += tr.y[i] == (tr.y[i - 1] + 1) % 3;
    CHECK(runs < 25);
    /* points spread over the disc: mean near the centre */
    double mx = 0, my = 0;
    for (int i = 0; i < tr.n; i++) mx += tr.x[i * 4], my += tr.x[i * 4 + 1];
    CHECK_NEAR(mx / tr.n, 0.5, 0.02);
    CHECK_NEAR(my / tr.n, 0.5, 0.02);
    /* reproducible, each set independent of the others' sizes, sets differ from each other */
    spk_dataset tr2, va2;
    CHECK_OK(spk_dataset_yinyang(&tr2, &va2, NULL, 5000, 10, 0, 42));
    CHECK(tr2.n == 5000 && memcmp(tr2.x, tr.x, 5000 * 4 * sizeof(float)) == 0 &&
          memcmp(tr2.y, tr.y, 5000 * sizeof(int32_t)) == 0);
    CHECK(memcmp(va.x, te.x, 1000 * 4 * sizeof(float)) != 0);
    CHECK(memcmp(va.x, tr.x, 1000 * 4 * sizeof(float)) != 0);
    int same = 0;
    for (int i = 0; i < 1000; i++) same += va.x[i * 4] == te.x[i * 4];
    CHECK(same < 5);
    spk_dataset_free(&tr2);
    spk_dataset_free(&va2);
    CHECK_OK(spk_dataset_yinyang(&tr2, NULL, NULL, 5000, 0, 0, 43));
    CHECK(memcmp(tr2.x, tr.x, 5000 * 4 * sizeof(float)) != 0);
    spk_dataset_free(&tr2);
    /* 7 samples: 3/2/2 */
    CHECK_OK(spk_dataset_yinyang(&tr2, NULL, NULL, 7, 0, 0, 1));
    int c7[3] = {0};
    for (int i = 0; i < 7; i++) c7[tr2.y[i]]++;
    CHECK(c7[0] == 3 && c7[1] == 2 && c7[2] == 2);
    spk_dataset_free(&tr2);
    /* arguments */
    CHECK(spk_dataset_yinyang(NULL, &va2, NULL, 10, 10, 0, 1) == SPK_ERR_INVALID_ARG);
    CHECK(has(spk_errmsg(NULL), "train"));
    CHECK(spk_dataset_yinyang(&tr2, NULL, NULL, -1, 0, 0, 1) == SPK_ERR_INVALID_ARG);
    spk_dataset_free(&tr);
    spk_dataset_free(&va);
    spk_dataset_free(&te);
}

/* ====================================================================== Randman */

static void test_randman(void) {
    spk_randman_params dp = spk_randman_default();
    CHECK(dp.classes == 10 && dp.units == 100 && dp.steps == 100 && dp.dim == 1 && dp.alpha == 2.0f &&
          dp.samples_per_class == 1000 && dp.freqs == 32);
    CHECK(dp.test_fraction > 0 && dp.test_fraction < 1);

    spk_randman_params p = dp;
    p.classes = 3;
    p.units = 20;
    p.steps = 50;
    p.samples_per_class = 200;
    p.test_fraction = 0.25f;
    p.seed = 7;
    spk_dataset tr, te;
    CHECK_OK(spk_dataset_randman(&tr, &te, &p));
    CHECK(tr.n == 450 && te.n == 150);
    CHECK(tr.has_time == 1 && tr.ndim == 2 && tr.dims[0] == 50 && tr.dims[1] == 20 && tr.n_classes == 3);
    CHECK(te.has_time == 1 && te.dims[0] == 50 && te.dims[1] == 20);
    if (tr.n != 450 || te.n != 150) return;
    const int T = 50, U = 20, C = 3;
    /* exactly one spike per unit per sample, values 0/1; spike times per sample */
    static int times[600][20];
    static int labels[600];
    int bad = 0, cnt[3] = {0};
    for (int s = 0; s < 600; s++) {
        const spk_dataset *d = s < 450 ? &tr : &te;
        int r = s < 450 ? s : s - 450;
        const float *x = d->x + (size_t)r * T * U;
        labels[s] = d->y[r];
        if (d->y[r] < 0 || d->y[r] >= C) {
            bad++;
            continue;
        }
        cnt[d->y[r]]++;
        for (int u = 0; u < U; u++) {
            int n1 = 0;
            for (int t = 0; t < T; t++) {
                float v = x[t * U + u];
                if (v == 1.0f) {
                    n1++;
                    times[s][u] = t;
                } else if (v != 0.0f) {
                    bad++;
                }
            }
            if (n1 != 1) bad++;
        }
    }
    CHECK_MSG(bad == 0, "%d bad entries", bad);
    CHECK(cnt[0] == 200 && cnt[1] == 200 && cnt[2] == 200);
    /* per class and unit the min-max scaling spans the whole window: first step 0, last T-1 */
    int span_bad = 0;
    for (int c = 0; c < C; c++)
        for (int u = 0; u < U; u++) {
            int lo = T, hi = -1;
            for (int s = 0; s < 600; s++)
                if (labels[s] == c) {
                    lo = times[s][u] < lo ? times[s][u] : lo;
                    hi = times[s][u] > hi ? times[s][u] : hi;
                }
            if (lo != 0 || hi != T - 1) span_bad++;
        }
    CHECK_MSG(span_bad == 0, "%d (class, unit) pairs do not span 0..T-1", span_bad);
    /* shuffled: the first 30 training labels are not one class */
    int first_same = 0;
    for (int s = 1; s < 30; s++) first_same += labels[s] == labels[0];
    CHECK(first_same < 29);
    /* separability: nearest centroid of spike-time vectors, trained on train, tested on test */
    double cen[3][20] = {{0}};
    int ccount[3] = {0};
    for (int s = 0; s < 450; s++) {
        ccount[labels[s]]++;
        for (int u = 0; u < U; u++) cen[labels[s]][u] += times[s][u];
    }
    for (int c = 0; c < C; c++)
        for (int u = 0; u < U; u++) cen[c][u] /= ccount[c] ? ccount[c] : 1;
    int correct = 0;
    for (int s = 450; s < 600; s++) {
        int best = 0;
        double bd = 1e300;
        for (int c = 0; c < C; c++) {
            double dd = 0;
            for (int u = 0; u < U; u++) dd += (times[s][u] - cen[c][u]) * (times[s][u] - cen[c][u]);
            if (dd < bd) bd = dd, best = c;
        }
        correct += best == labels[s];
    }
    double acc = correct / 150.0;
    printf("randman: nearest-centroid test accuracy %.3f (chance 0.333)\n", acc);
    CHECK_MSG(acc > 0.6, "nearest-centroid accuracy %.3f", acc);

    /* reproducible; freqs 0 derives the reference's cutoff (32 for alpha 2); seed matters */
    spk_dataset tr2, te2;
    spk_randman_params q = p;
    q.freqs = 0;
    CHECK_OK(spk_dataset_randman(&tr2, &te2, &q));
    CHECK(tr2.n == 450 && memcmp(tr2.x, tr.x, (size_t)450 * T * U * sizeof(float)) == 0 &&
          memcmp(te2.y, te.y, 150 * sizeof(int32_t)) == 0);
    spk_dataset_free(&tr2);
    spk_dataset_free(&te2);
    q.seed = 8;
    CHECK_OK(spk_dataset_randman(&tr2, &te2, &q));
    CHECK(tr2.n == 450 && memcmp(tr2.x, tr.x, (size_t)450 * T * U * sizeof(float)) != 0);
    spk_dataset_free(&tr2);
    spk_dataset_free(&te2);
    /* dim 2 works and keeps one spike per unit */
    q = p;
    q.dim = 2;
    q.samples_per_class = 50;
    CHECK_OK(spk_dataset_randman(&tr2, &te2, &q));
    CHECK(tr2.n + te2.n == 150);
    double total = 0;
    for (size_t i = 0; i < (size_t)tr2.n * T * U; i++) total += tr2.x[i];
    CHECK(total == (double)tr2.n * U);
    spk_dataset_free(&tr2);
    spk_dataset_free(&te2);
    /* no test set */
    q = p;
    q.test_fraction = 0;
    CHECK_OK(spk_dataset_randman(&tr2, NULL, &q));
    CHECK(tr2.n == 600);
    spk_dataset_free(&tr2);
    /* arguments */
    q = p;
    q.alpha = 0;
    CHECK(spk_dataset_randman(&tr2, &te2, &q) == SPK_ERR_INVALID_ARG && has(spk_errmsg(NULL), "alpha"));
    q = p;
    q.test_fraction = 1.0f;
    CHECK(spk_dataset_randman(&tr2, &te2, &q) == SPK_ERR_INVALID_ARG);
    q = p;
    CHECK(spk_dataset_randman(&tr2, NULL, &q) == SPK_ERR_INVALID_ARG);
    q.units = 0;
    CHECK(spk_dataset_randman(&tr2, &te2, &q) == SPK_ERR_INVALID_ARG);
    spk_dataset_free(&tr);
    spk_dataset_free(&te);
}

/* ====================================================================== .npy */

/* Write a raw .npy: version major.0, the dictionary text `dict`, padded with spaces to a
 * 64-byte multiple and a newline (newline 0: no newline), then `ndata` bytes 0x00..; returns
 * 0 on success. */
static int write_npy_raw(const char *path, int major, const char *dict, int newline, size_t ndata) {
    size_t pre = major == 1 ? 10 : 12;
    size_t dl = strlen(dict), hl = dl + (newline ? 1 : 0);
    size_t pad = (64 - (pre + hl) % 64) % 64;
    hl += pad;
    size_t total = pre + hl + ndata;
    unsigned char *b = calloc(total, 1);
    memcpy(b, "\x93NUMPY", 6);
    b[6] = (unsigned char)major;
    b[7] = 0;
    if (major == 1) {
        b[8] = (unsigned char)hl;
        b[9] = (unsigned char)(hl >> 8);
    } else {
        for (int i = 0; i < 4; i++) b[8 + i] = (unsigned char)(hl >> (8 * i));
    }
    memcpy(b + pre, dict, dl);
    memset(b + pre + dl, ' ', pad);
    if (newline) b[pre + hl - 1] = '\n';
    for (size_t i = 0; i < ndata; i++) b[pre + hl + i] = (unsigned char)i;
    int rc = write_file(path, b, total);
    free(b);
    return rc;
}

static void test_npy_roundtrip(void) {
    float v[24];
    for (int i = 0; i < 24; i++) v[i] = (float)i * 0.37f - 3.0f;
    v[1] = -0.0f;
    v[2] = INFINITY;
    v[3] = NAN;
    v[4] = 1e-42f; /* denormal */
    size_t dims[3] = {2, 3, 4};
    const char *p = tpath("rt.npy");
    CHECK_OK(spk_npy_write(p, v, 3, dims));
    float *r = NULL;
    int nd = 0;
    size_t rd[8] = {0};
    CHECK_OK(spk_npy_read(p, &r, &nd, rd));
    CHECK(nd == 3 && rd[0] == 2 && rd[1] == 3 && rd[2] == 4);
    CHECK(r && memcmp(r, v, sizeof v) == 0);
    spk_free(r);
    /* NumPy 1.24's exact layout: 128-byte header for this shape */
    unsigned char buf[1024];
    long n = read_file(p, buf, sizeof buf);
    CHECK(n == 128 + 96);
    const char *want = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3, 4), }";
    CHECK(n > 10 && buf[8] == 118 && buf[9] == 0 && memcmp(buf, "\x93NUMPY\x01\x00", 8) == 0);
    CHECK(n > 128 && memcmp(buf + 10, want, strlen(want)) == 0 && buf[127] == '\n');
    int spaces = 1;
    for (size_t i = 10 + strlen(want); i < 127; i++) spaces &= buf[i] == ' ';
    CHECK(spaces);
    /* no temporary left behind */
    char tmpname[600];
    snprintf(tmpname, sizeof tmpname, "%s.tmp.%ld", p, (long)getpid());
    CHECK(!exists(tmpname));
    /* 0-d, 1-d and empty arrays */
    float one = 2.5f;
    CHECK_OK(spk_npy_write(p, &one, 0, NULL));
    CHECK_OK(spk_npy_read(p, &r, &nd, rd));
    CHECK(nd == 0 && r && r[0] == 2.5f);
    spk_free(r);
    size_t d1 = 5;
    CHECK_OK(spk_npy_write(p, v, 1, &d1));
    n = read_file(p, buf, sizeof buf);
    CHECK(n == 128 + 20 && has((const char *)buf + 10, "'shape': (5,), }"));
    CHECK_OK(spk_npy_read(p, &r, &nd, rd));
    CHECK(nd == 1 && rd[0] == 5 && memcmp(r, v, 5 * sizeof(float)) == 0);
    spk_free(r);
    size_t d0[2] = {0, 3};
    CHECK_OK(spk_npy_write(p, NULL, 2, d0));
    CHECK_OK(spk_npy_read(p, &r, &nd, rd));
    CHECK(nd == 2 && rd[0] == 0 && rd[1] == 3 && r == NULL);
    /* bad arguments */
    CHECK(spk_npy_write("", v, 1, &d1) == SPK_ERR_INVALID_ARG);
    CHECK(spk_npy_write(p, NULL, 1, &d1) == SPK_ERR_INVALID_ARG);
    CHECK(spk_npy_write(p, v, 9, dims) == SPK_ERR_INVALID_ARG);
    CHECK(spk_npy_read(p, NULL, &nd, rd) == SPK_ERR_INVALID_ARG);
    CHECK(spk_npy_read(tpath("no-such.npy"), &r, &nd, rd) == SPK_ERR_IO && has(spk_errmsg(NULL), "no-such.npy"));
}

static void test_npy_malformed(void) {
    struct {
        const char *name, *dict;
        int major, newline;
        size_t ndata;
        spk_status want;
        const char *text;
    } cases[] = {
        {"ok.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (10,), }", 1, 1, 40, SPK_OK, ""},
        {"ok_dq.npy", "{\"descr\":\"<i2\",\"fortran_order\":False,\"shape\":(2,5)}", 1, 1, 20, SPK_OK, ""},
        {"ok_v2.npy", "{'descr': '|u1', 'fortran_order': False, 'shape': (3, 4), }", 2, 1, 12, SPK_OK, ""},
        {"ok_v3.npy", "{'descr': '<f8', 'fortran_order': False, 'shape': (), }", 3, 1, 8, SPK_OK, ""},
        {"ok_L.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (2L, 3L), }", 1, 1, 24, SPK_OK, ""},
        {"trunc.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (10,), }", 1, 1, 39, SPK_ERR_FORMAT,
         "truncated"},
        {"extra.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (10,), }", 1, 1, 41, SPK_ERR_FORMAT,
         "after the 40 data bytes"},
        {"noshape.npy", "{'descr': '<f4', 'fortran_order': False, }", 1, 1, 4, SPK_ERR_FORMAT, "'shape' is missing"},
        {"nodescr.npy", "{'fortran_order': False, 'shape': (1,), }", 1, 1, 4, SPK_ERR_FORMAT, "'descr' is missing"},
        {"extrakey.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), 'x': 1}", 1, 1, 4, SPK_ERR_FORMAT,
         "unknown key 'x'"},
        {"dupkey.npy", "{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (1,)}", 1, 1, 4,
         SPK_ERR_FORMAT, "twice"},
        {"notuple.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (5), }", 1, 1, 20, SPK_ERR_FORMAT,
         "trailing comma"},
        {"negdim.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (-5,), }", 1, 1, 20, SPK_ERR_FORMAT,
         "non-negative"},
        {"nonl.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }", 1, 0, 4, SPK_ERR_FORMAT, "newline"},
        {"garbage.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), } x", 1, 1, 4, SPK_ERR_FORMAT,
         "after the dictionary"},
        {"nobrace.npy", "'descr': '<f4', 'fortran_order': False, 'shape': (1,)", 1, 1, 4, SPK_ERR_FORMAT, "'{'"},
        {"fortran.npy", "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }", 1, 1, 16, SPK_ERR_UNSUPPORTED,
         "Fortran order"},
        {"fbad.npy", "{'descr': '<f4', 'fortran_order': 0, 'shape': (1,), }", 1, 1, 4, SPK_ERR_FORMAT,
         "neither True nor False"},
        {"f2.npy", "{'descr': '<f2', 'fortran_order': False, 'shape': (1,), }", 1, 1, 2, SPK_ERR_UNSUPPORTED,
         "'<f2' is not supported"},
        {"be.npy", "{'descr': '>i4', 'fortran_order': False, 'shape': (1,), }", 1, 1, 4, SPK_ERR_UNSUPPORTED,
         "big-endian"},
        {"u1lt.npy", "{'descr': '<u1', 'fortran_order': False, 'shape': (1,), }", 1, 1, 1, SPK_ERR_FORMAT, "'|u1'"},
        {"f4bar.npy", "{'descr': '|f4', 'fortran_order': False, 'shape': (1,), }", 1, 1, 4, SPK_ERR_FORMAT,
         "byte order '|'"},
        {"ninedims.npy", "{'descr': '|u1', 'fortran_order': False, 'shape': (1,1,1,1,1,1,1,1,1), }", 1, 1, 1,
         SPK_ERR_UNSUPPORTED, "more than 8"},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        const char *p = tpath(cases[c].name);
        CHECK(write_npy_raw(p, cases[c].major, cases[c].dict, cases[c].newline, cases[c].ndata) == 0);
        float *r = (float *)1;
        int nd = -1;
        size_t rd[8];
        spk_status st = spk_npy_read(p, &r, &nd, rd);
        const char *m = spk_errmsg(NULL);
        CHECK_MSG(st == cases[c].want, "%s: %s (%s)", cases[c].name, spk_status_str(st), m);
        if (st == SPK_OK) {
            spk_free(r);
        } else {
            CHECK_MSG(r == NULL && has(m, cases[c].name) && has(m, cases[c].text), "%s: message \"%s\"", cases[c].name,
                      m);
        }
    }
    /* values of a hand-made file: bytes 0..39 as 10 little-endian float32 */
    float *r = NULL;
    int nd;
    size_t rd[8];
    CHECK_OK(spk_npy_read(tpath("ok.npy"), &r, &nd, rd));
    if (r) {
        unsigned char b[4] = {4, 5, 6, 7};
        float f;
        uint32_t w = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
        memcpy(&f, &w, 4);
        CHECK(memcmp(&r[1], &f, 4) == 0);
    }
    spk_free(r);
    CHECK_OK(spk_npy_read(tpath("ok_v2.npy"), &r, &nd, rd));
    CHECK(nd == 2 && rd[0] == 3 && rd[1] == 4 && r && r[11] == 11.0f);
    spk_free(r);
    CHECK_OK(spk_npy_read(tpath("ok_dq.npy"), &r, &nd, rd));
    CHECK(nd == 2 && rd[0] == 2 && rd[1] == 5 && r && r[0] == (float)(int16_t)0x0100);
    spk_free(r);
    /* bad magic, unknown version, header longer than the file */
    const char *p = tpath("magic.npy");
    CHECK(write_file(p, "\x93NUMPX\x01\x00\x10\x00{}              \n", 26) == 0);
    CHECK(spk_npy_read(p, &r, &nd, rd) == SPK_ERR_FORMAT && has(spk_errmsg(NULL), "magic"));
    CHECK(write_file(p, "\x93NUMPY\x04\x00\x10\x00{}              \n", 26) == 0);
    CHECK(spk_npy_read(p, &r, &nd, rd) == SPK_ERR_UNSUPPORTED && has(spk_errmsg(NULL), "version 4.0"));
    CHECK(write_file(p, "\x93NUMPY\x01\x00\x00\x01{'descr'", 17) == 0);
    CHECK(spk_npy_read(p, &r, &nd, rd) == SPK_ERR_FORMAT && has(spk_errmsg(NULL), "truncated"));
    CHECK(write_file(p, "\x93NUM", 4) == 0);
    CHECK(spk_npy_read(p, &r, &nd, rd) == SPK_ERR_FORMAT && has(spk_errmsg(NULL), "magic.npy"));
}

/* Files written by NumPy itself. */
static int have_numpy(void) {
    if (access("/usr/bin/python3", X_OK) != 0) return 0;
    return system("/usr/bin/python3 -c 'import numpy' >/dev/null 2>&1") == 0;
}

static double expected_value(const char *code, int i) {
    if (!strcmp(code, "f4")) return i * 0.5 - 3;
    if (!strcmp(code, "f8")) return i * 0.25 - 2;
    if (!strcmp(code, "i1")) return i * 5 - 60;
    if (!strcmp(code, "i2")) return i * 1000 - 12000;
    if (!strcmp(code, "i4")) return i * 100000.0 - 1000000.0;
    if (!strcmp(code, "i8")) return i * 8589934592.0 - 68719476736.0;
    if (!strcmp(code, "u1")) return i * 11;
    if (!strcmp(code, "u2")) return i * 2000;
    if (!strcmp(code, "u4")) return i * 100000000.0;
    if (!strcmp(code, "u8")) return i * 1099511627776.0;
    if (!strcmp(code, "b1")) return i % 3 == 0;
    return NAN;
}

static void test_npy_numpy(void) {
    if (!have_numpy()) {
        fprintf(stderr, "test_data: /usr/bin/python3 with numpy not found: skipping the NumPy interoperability part\n");
        return;
    }
    char script[4096];
    snprintf(script, sizeof script,
             "/usr/bin/python3 - <<'EOF'\n"
             "import numpy as np\n"
             "d = '%s'\n"
             "a = np.arange(24).reshape(2, 3, 4)\n"
             "arrs = {'f4': (a*0.5-3).astype('<f4'), 'f8': (a*0.25-2).astype('<f8'),\n"
             "  'i1': (a*5-60).astype('i1'), 'i2': (a*1000-12000).astype('<i2'),\n"
             "  'i4': (a*100000-1000000).astype('<i4'), 'i8': (a*(1<<33)-(1<<36)).astype('<i8'),\n"
             "  'u1': (a*11).astype('u1'), 'u2': (a*2000).astype('<u2'), 'u4': (a*100000000).astype('<u4'),\n"
             "  'u8': (a*(1<<40)).astype('<u8'), 'b1': (a %% 3 == 0)}\n"
             "for k, v in arrs.items():\n"
             "    np.save(d + '/np_' + k + '.npy', v)\n"
             "for ver in [(1, 0), (2, 0), (3, 0)]:\n"
             "    with open(d + '/np_v%%d.npy' %% ver[0], 'wb') as f:\n"
             "        np.lib.format.write_array(f, arrs['f4'], version=ver)\n"
             "np.save(d + '/np_fortran.npy', np.asfortranarray(arrs['f4'][0]))\n"
             "np.save(d + '/np_be.npy', arrs['f4'].astype('>f4'))\n"
             "np.save(d + '/np_c8.npy', np.zeros(3, np.complex64))\n"
             "np.save(d + '/np_1d.npy', np.arange(7, dtype=np.int32))\n"
             "EOF\n",
             tmpdir);
    CHECK(system(script) == 0);
    const char *codes[] = {"f4", "f8", "i1", "i2", "i4", "i8", "u1", "u2", "u4", "u8", "b1"};
    for (size_t c = 0; c < sizeof codes / sizeof codes[0]; c++) {
        char name[64];
        snprintf(name, sizeof name, "np_%s.npy", codes[c]);
        float *r = NULL;
        int nd = 0;
        size_t rd[8];
        spk_status st = spk_npy_read(tpath(name), &r, &nd, rd);
        CHECK_MSG(st == SPK_OK, "%s: %s", name, spk_errmsg(NULL));
        if (st) continue;
        CHECK(nd == 3 && rd[0] == 2 && rd[1] == 3 && rd[2] == 4);
        int bad = 0;
        for (int i = 0; i < 24; i++)
            if (r[i] != (float)expected_value(codes[c], i)) bad++;
        CHECK_MSG(bad == 0, "%s: %d values differ", name, bad);
        spk_free(r);
    }
    for (int v = 1; v <= 3; v++) {
        char name[32];
        snprintf(name, sizeof name, "np_v%d.npy", v);
        float *r = NULL;
        int nd = 0;
        size_t rd[8];
        CHECK_OK(spk_npy_read(tpath(name), &r, &nd, rd));
        CHECK(nd == 3 && r && r[23] == (float)expected_value("f4", 23));
        spk_free(r);
    }
    float *r = NULL;
    int nd;
    size_t rd[8];
    CHECK(spk_npy_read(tpath("np_fortran.npy"), &r, &nd, rd) == SPK_ERR_UNSUPPORTED &&
          has(spk_errmsg(NULL), "Fortran"));
    CHECK(spk_npy_read(tpath("np_be.npy"), &r, &nd, rd) == SPK_ERR_UNSUPPORTED && has(spk_errmsg(NULL), "big-endian"));
    CHECK(spk_npy_read(tpath("np_c8.npy"), &r, &nd, rd) == SPK_ERR_UNSUPPORTED && has(spk_errmsg(NULL), "c8"));
    CHECK_OK(spk_npy_read(tpath("np_1d.npy"), &r, &nd, rd));
    CHECK(nd == 1 && rd[0] == 7 && r && r[6] == 6.0f);
    spk_free(r);

    /* NumPy reads what spk writes, and spk's bytes equal np.save's */
    float v[6] = {1.5f, -2.0f, 3.25f, 0.0f, 1e30f, -1e-30f};
    size_t dims[2] = {2, 3};
    CHECK_OK(spk_npy_write(tpath("ours.npy"), v, 2, dims));
    snprintf(script, sizeof script,
             "/usr/bin/python3 -c \"import numpy as np; a = np.load('%s/ours.npy'); "
             "assert a.dtype == np.float32 and a.shape == (2, 3), (a.dtype, a.shape); "
             "assert (a == np.array([[1.5, -2, 3.25], [0, 1e30, -1e-30]], np.float32)).all(); "
             "np.save('%s/theirs.npy', a)\"",
             tmpdir, tmpdir);
    CHECK(system(script) == 0);
    unsigned char a[512], b[512];
    long na = read_file(tpath("ours.npy"), a, sizeof a), nb = read_file(tpath("theirs.npy"), b, sizeof b);
    CHECK_MSG(na == nb && na > 0 && memcmp(a, b, (size_t)na) == 0, "spk's file (%ld bytes) differs from np.save's (%ld)",
              na, nb);
}

/* An existing file must survive every failed write. */
static void test_npy_atomic(void) {
    float v[3] = {1, 2, 3};
    size_t d = 3;
    const char *keep = tpath("keep.npy");
    CHECK_OK(spk_npy_write(keep, v, 1, &d));
    unsigned char before[256], after[256];
    long nb = read_file(keep, before, sizeof before);

    /* overwrite works and leaves no temporary */
    float w[2] = {7, 8};
    size_t d2 = 2;
    CHECK_OK(spk_npy_write(keep, w, 1, &d2));
    float *r = NULL;
    int nd;
    size_t rd[8];
    CHECK_OK(spk_npy_read(keep, &r, &nd, rd));
    CHECK(nd == 1 && rd[0] == 2 && r && r[1] == 8.0f);
    spk_free(r);
    CHECK_OK(spk_npy_write(keep, v, 1, &d));

    /* a path in a directory that does not exist */
    CHECK(spk_npy_write(tpath("no/such/dir/x.npy"), v, 1, &d) == SPK_ERR_IO);
    CHECK(has(spk_errmsg(NULL), "no/such/dir/x.npy"));
    /* the target is a directory: the temporary is written, the rename fails, it is removed */
    const char *dir = tpath("adir");
    mkdir(dir, 0755);
    CHECK(spk_npy_write(dir, v, 1, &d) == SPK_ERR_IO && has(spk_errmsg(NULL), "rename"));
    struct stat sb;
    CHECK(stat(dir, &sb) == 0 && S_ISDIR(sb.st_mode));
    char tmpname[600];
    snprintf(tmpname, sizeof tmpname, "%s.tmp.%ld", dir, (long)getpid());
    CHECK(!exists(tmpname));

    /* a read-only directory holding the file: as root, permissions do not bind, so the write
     * is tried in a child that drops to the unprivileged user 65534 */
    const char *rodir = tpath("ro");
    mkdir(rodir, 0755);
    char ropath[600];
    snprintf(ropath, sizeof ropath, "%s/keep.npy", rodir);
    CHECK_OK(spk_npy_write(ropath, v, 1, &d));
    chmod(ropath, 0644);
    chmod(rodir, 0555);
    if (geteuid() != 0) {
        CHECK(spk_npy_write(ropath, w, 1, &d2) == SPK_ERR_IO);
        CHECK(has(spk_errmsg(NULL), "temporary"));
    } else {
        fflush(NULL);
        pid_t pid = fork();
        if (pid == 0) {
            if (setgid(65534) != 0 || setuid(65534) != 0) _exit(3);
            if (access(rodir, W_OK) == 0) _exit(4); /* still writable: cannot test */
            spk_status st = spk_npy_write(ropath, w, 1, &d2);
            _exit(st == SPK_ERR_IO && strstr(spk_errmsg(NULL), "temporary") ? 0 : 1);
        }
        int status = 0;
        CHECK(pid > 0 && waitpid(pid, &status, 0) == pid);
        CHECK_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 0, "read-only child exit %d", WEXITSTATUS(status));
    }
    chmod(rodir, 0755);
    long na = read_file(ropath, after, sizeof after);
    CHECK(na == nb && memcmp(before, after, (size_t)nb) == 0);
    na = read_file(keep, after, sizeof after);
    CHECK(na == nb && memcmp(before, after, (size_t)nb) == 0);
}

/* ====================================================================== spk_dataset_load */

static int make_h5(const char *path) {
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    if (f < 0) return -1;
    double x[4][5];
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 5; j++) x[i][j] = i * 10 + j + 0.5;
    int64_t y[4] = {0, 3, 1, 3};
    double yf[4] = {0, 1.5, 1, 2};
    hsize_t dx[2] = {4, 5}, dy[1] = {4};
    hid_t sx = H5Screate_simple(2, dx, NULL), sy = H5Screate_simple(1, dy, NULL);
    hid_t g = H5Gcreate2(f, "grp", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    hid_t ds = H5Dcreate2(f, "x", H5T_IEEE_F64LE, sx, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    herr_t e = H5Dwrite(ds, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, x);
    H5Dclose(ds);
    ds = H5Dcreate2(g, "y", H5T_STD_I64LE, sy, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    e |= H5Dwrite(ds, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, y);
    H5Dclose(ds);
    ds = H5Dcreate2(f, "yfrac", H5T_IEEE_F64LE, sy, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    e |= H5Dwrite(ds, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, yf);
    H5Dclose(ds);
    hid_t st = H5Tcopy(H5T_C_S1);
    H5Tset_size(st, 4);
    ds = H5Dcreate2(f, "names", st, sy, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    e |= H5Dwrite(ds, st, H5S_ALL, H5S_ALL, H5P_DEFAULT, "abcdefghijklmnop");
    H5Dclose(ds);
    H5Tclose(st);
    H5Gclose(g);
    H5Sclose(sx);
    H5Sclose(sy);
    H5Fclose(f);
    return e < 0 ? -1 : 0;
}

static void test_load(void) {
    /* .npy: x [6, 2, 3], y [6] */
    float x[36], y[6] = {0, 2, 1, 4, 2, 0};
    for (int i = 0; i < 36; i++) x[i] = (float)i / 7.0f;
    size_t dx[3] = {6, 2, 3}, dy = 6, dyc[2] = {6, 1}, dbad = 5;
    CHECK_OK(spk_npy_write(tpath("x.npy"), x, 3, dx));
    CHECK_OK(spk_npy_write(tpath("y.npy"), y, 1, &dy));
    CHECK_OK(spk_npy_write(tpath("ycol.npy"), y, 2, dyc));
    CHECK_OK(spk_npy_write(tpath("y5.npy"), y, 1, &dbad));
    spk_dataset d;
    CHECK_OK(spk_dataset_load(&d, tpath("x.npy"), tpath("y.npy"), 0));
    CHECK(d.n == 6 && d.ndim == 2 && d.dims[0] == 2 && d.dims[1] == 3 && d.has_time == 0 && d.n_classes == 5);
    CHECK(spk_dataset_sample_size(&d) == 6);
    CHECK(d.x && memcmp(d.x, x, sizeof x) == 0);
    CHECK(d.y && d.y[3] == 4 && d.y[5] == 0);
    spk_dataset_free(&d);
    CHECK(d.x == NULL && d.y == NULL && d.n == 0 && d.ndim == 0);
    CHECK_OK(spk_dataset_load(&d, tpath("x.npy"), tpath("ycol.npy"), 1));
    CHECK(d.n == 6 && d.has_time == 1 && d.dims[0] == 2 && d.dims[1] == 3);
    spk_dataset_free(&d);
    /* shapes */
    CHECK(spk_dataset_load(&d, tpath("x.npy"), tpath("y5.npy"), 0) == SPK_ERR_SHAPE);
    CHECK(has(spk_errmsg(NULL), "y5.npy") && has(spk_errmsg(NULL), "6 samples"));
    CHECK(spk_dataset_load(&d, tpath("y.npy"), tpath("y.npy"), 1) == SPK_ERR_SHAPE && has(spk_errmsg(NULL), "has_time"));
    CHECK(spk_dataset_load(&d, tpath("x.npy"), tpath("x.npy"), 0) == SPK_ERR_SHAPE);
    CHECK(d.x == NULL && d.y == NULL);
    /* labels must be integers >= 0 */
    float yb[6] = {0, 1, 2.5f, 0, 1, 2}, yn[6] = {0, 1, -1, 0, 1, 2};
    CHECK_OK(spk_npy_write(tpath("yb.npy"), yb, 1, &dy));
    CHECK_OK(spk_npy_write(tpath("yn.npy"), yn, 1, &dy));
    CHECK(spk_dataset_load(&d, tpath("x.npy"), tpath("yb.npy"), 0) == SPK_ERR_FORMAT &&
          has(spk_errmsg(NULL), "label 2 is 2.5"));
    CHECK(spk_dataset_load(&d, tpath("x.npy"), tpath("yn.npy"), 0) == SPK_ERR_FORMAT);
    /* x [n]: one feature per sample */
    CHECK_OK(spk_dataset_load(&d, tpath("y.npy"), tpath("y.npy"), 0));
    CHECK(d.n == 6 && d.ndim == 1 && d.dims[0] == 1 && d.x[3] == 4.0f);
    spk_dataset_free(&d);

    /* HDF5 made here: /x float64 [4, 5], /grp/y int64 [4] */
    const char *h5 = tpath("data.h5");
    CHECK(make_h5(h5) == 0);
    char xs[600], ys[600], bad[600];
    snprintf(xs, sizeof xs, "%s:/x", h5);
    snprintf(ys, sizeof ys, "%s:/grp/y", h5);
    CHECK_OK(spk_dataset_load(&d, xs, ys, 0));
    CHECK(d.n == 4 && d.ndim == 1 && d.dims[0] == 5 && d.n_classes == 4);
    CHECK(d.x && d.x[7] == 12.5f && d.y && d.y[1] == 3 && d.y[2] == 1);
    spk_dataset_free(&d);
    /* mixed containers: the h5 labels don't match the npy x */
    CHECK(spk_dataset_load(&d, tpath("x.npy"), ys, 0) == SPK_ERR_SHAPE);
    snprintf(bad, sizeof bad, "%s:/grp/nothing", h5);
    CHECK(spk_dataset_load(&d, xs, bad, 0) == SPK_ERR_FORMAT && has(spk_errmsg(NULL), "/grp/nothing"));
    snprintf(bad, sizeof bad, "%s:/nogroup/y", h5);
    CHECK(spk_dataset_load(&d, xs, bad, 0) == SPK_ERR_FORMAT && has(spk_errmsg(NULL), "no dataset"));
    snprintf(bad, sizeof bad, "%s:/yfrac", h5);
    CHECK(spk_dataset_load(&d, xs, bad, 0) == SPK_ERR_FORMAT && has(spk_errmsg(NULL), "1.5"));
    snprintf(bad, sizeof bad, "%s:/names", h5);
    CHECK(spk_dataset_load(&d, xs, bad, 0) == SPK_ERR_FORMAT && has(spk_errmsg(NULL), "not numeric"));
    CHECK(spk_dataset_load(&d, h5, ys, 0) == SPK_ERR_INVALID_ARG && has(spk_errmsg(NULL), ":/dataset"));
    snprintf(bad, sizeof bad, "%s:/x", tpath("missing.h5"));
    CHECK(spk_dataset_load(&d, bad, ys, 0) == SPK_ERR_IO && has(spk_errmsg(NULL), "missing.h5"));
    snprintf(bad, sizeof bad, "%s:/x", tpath("x.npy"));
    CHECK(spk_dataset_load(&d, bad, ys, 0) == SPK_ERR_FORMAT && has(spk_errmsg(NULL), "not a readable HDF5"));
    CHECK(spk_dataset_load(&d, NULL, ys, 0) == SPK_ERR_INVALID_ARG);
    CHECK(d.x == NULL && d.y == NULL);
}

/* ====================================================================== allocation failures */

static void test_nomem(void) {
    spk_allocator al = {tu_count_malloc, NULL, tu_count_free, NULL};
    spk_randman_params p = spk_randman_default();
    p.classes = 2;
    p.units = 4;
    p.steps = 8;
    p.samples_per_class = 10;
    int saw_nomem = 0, leaks = 0, other = 0;
    for (int k = 0; k < 12; k++) {
        spk_dataset a, b, c;
        float *r;
        int nd;
        size_t rd[8];
        spk_status st[4];
        spk_set_allocator(&al);
        tu_n_alloc = tu_n_free = 0;
        tu_fail_after = k;
        st[0] = spk_npy_read(tpath("x.npy"), &r, &nd, rd);
        if (!st[0]) spk_free(r);
        tu_fail_after = k;
        st[1] = spk_dataset_load(&a, tpath("x.npy"), tpath("y.npy"), 0);
        if (!st[1]) spk_dataset_free(&a);
        tu_fail_after = k;
        st[2] = spk_dataset_yinyang(&a, &b, &c, 10, 10, 10, 1);
        if (!st[2]) spk_dataset_free(&a), spk_dataset_free(&b), spk_dataset_free(&c);
        tu_fail_after = k;
        st[3] = spk_dataset_randman(&a, &b, &p);
        if (!st[3]) spk_dataset_free(&a), spk_dataset_free(&b);
        tu_fail_after = -1;
        spk_set_allocator(NULL);
        for (int j = 0; j < 4; j++) {
            if (st[j] == SPK_ERR_NOMEM) saw_nomem++;
            else if (st[j] != SPK_OK) other++;
        }
        if (tu_n_alloc != tu_n_free) leaks++;
    }
    CHECK(saw_nomem > 10);
    CHECK_MSG(leaks == 0 && other == 0, "%d leaking rounds, %d other errors", leaks, other);
}

int main(void) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/spk_test_data_XXXXXX");
    if (!mkdtemp(tmpdir)) {
        fprintf(stderr, "test_data: mkdtemp failed: %s\n", strerror(errno));
        return 1;
    }
    chmod(tmpdir, 0755); /* the read-only check runs a child as an unprivileged user */
    test_fmnist_real();
    test_fmnist_files();
    test_yinyang();
    test_randman();
    test_npy_roundtrip();
    test_npy_malformed();
    test_npy_numpy();
    test_npy_atomic();
    test_load();
    test_nomem();
    char cmd[sizeof tmpdir * 2 + 64];
    snprintf(cmd, sizeof cmd, "chmod -R u+w '%s' 2>/dev/null; rm -rf '%s'", tmpdir, tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "test_data: could not remove %s\n", tmpdir);
    int rc = tu_finish("test_data");
    if (rc == 0 && fmnist_skipped) {
        fprintf(stderr, "test_data: skipped (install the Debian package dataset-fashion-mnist for the full test)\n");
        return TU_SKIP;
    }
    return rc;
}
