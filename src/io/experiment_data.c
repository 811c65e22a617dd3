/* experiment_data.c — the bridge from an experiment's data and encoding sections to network
 * inputs: which dataset to load, what shape the encoded input has, and how a batch of samples
 * becomes a [T, B, ...] input. The loaders and encoders themselves live in src/data and
 * src/code. */
#include "core/core.h"

#include <string.h>

/* Samples an augmentation applies to: images [C, H, W] or [H, W] without a time axis. */
static int is_image(const spk_dataset *d) { return !d->has_time && (d->ndim == 2 || d->ndim == 3); }

spk_status spk_experiment_load_data(const spk_experiment *e, spk_dataset *train, spk_dataset *test) {
    if (!e || !train || !test) return spk__fail(NULL, SPK_ERR_INVALID_ARG, "load_data: NULL argument");
    memset(train, 0, sizeof *train);
    memset(test, 0, sizeof *test);
    spk_status st;
    if (!strcmp(e->dataset, "fashion_mnist")) {
        st = spk_dataset_fashion_mnist(train, test, e->data_dir[0] ? e->data_dir : NULL, e->train_samples, e->test_samples);
    } else if (!strcmp(e->dataset, "yinyang")) {
        spk_dataset val;
        int ntr = e->train_samples ? e->train_samples : 5000, nte = e->test_samples ? e->test_samples : 1000;
        st = spk_dataset_yinyang(train, &val, test, ntr, 1000, nte, e->data_seed);
        if (!st) spk_dataset_free(&val);
    } else if (!strcmp(e->dataset, "randman")) {
        st = spk_dataset_randman(train, test, &e->randman);
    } else {
        st = spk_dataset_load(train, e->x_train, e->y_train, e->has_time);
        if (!st && e->x_test[0]) st = spk_dataset_load(test, e->x_test, e->y_test, e->has_time);
        if (!st && !e->x_test[0])
            st = spk__fail(NULL, SPK_ERR_INVALID_ARG, "%s: data.x_test and data.y_test are needed to measure test accuracy", e->source);
        if (!st && spk_dataset_sample_size(train) != spk_dataset_sample_size(test))
            st = spk__fail(NULL, SPK_ERR_SHAPE, "%s: train and test samples differ in size (%zu vs %zu values)", e->source,
                           spk_dataset_sample_size(train), spk_dataset_sample_size(test));
        if (!st && test->n_classes > train->n_classes) train->n_classes = test->n_classes;
    }
    if (st) {
        spk_dataset_free(train);
        spk_dataset_free(test);
        return st;
    }
    if ((e->aug_shift > 0 || e->aug_flip) && !is_image(train)) {
        spk_dataset_free(train);
        spk_dataset_free(test);
        return spk__fail(NULL, SPK_ERR_INVALID_ARG, "%s: data.augment applies to images [C, H, W] or [H, W]; %s samples are not images",
                         e->source, e->dataset);
    }
    /* limits apply to every kind of data */
    if (e->train_samples > 0 && train->n > e->train_samples) train->n = e->train_samples;
    if (e->test_samples > 0 && test->n > e->test_samples) test->n = e->test_samples;
    return SPK_OK;
}

int spk_experiment_input_shape(const spk_experiment *e, const spk_dataset *d, int dims[SPK_MAX_DIMS], int *T) {
    int ch = spk_encoder_channels(&e->encoder);
    if (d->has_time) {
        if (e->encoder.kind != SPK_ENC_DIRECT && e->encoder.kind != SPK_ENC_DELTA && e->encoder.kind != SPK_ENC_RATE) {
            spk__fail(NULL, SPK_ERR_INVALID_ARG, "%s: a sequence dataset is fed as it is ('direct'), by 'rate' or by 'delta'; '%s' applies to static values",
                      e->source, spk_encoding_name(e->encoder.kind));
            return 0;
        }
        *T = d->dims[0];
        dims[0] = d->dims[1] * ch;
        return 1;
    }
    *T = e->steps;
    if (ch == 1) {
        memcpy(dims, d->dims, sizeof(int) * SPK_MAX_DIMS);
        return d->ndim;
    }
    dims[0] = (int)spk_dataset_sample_size(d) * ch; /* several channels per value: a flat input */
    return 1;
}

/* Rewrite the image [C, H, W] in place as out[i][j] = in[i - dy][j - dx] (zero outside), and
 * with flip as out[i][j] = in[i - dy][W - 1 - (j - dx)]; tmp holds C*H*W floats. */
static void augment_image(float *img, float *tmp, int C, int H, int W, int dy, int dx, int flip) {
    for (int c = 0; c < C; c++)
        for (int i = 0; i < H; i++) {
            float *row = tmp + ((size_t)c * H + i) * W;
            int si = i - dy;
            for (int j = 0; j < W; j++) {
                int sj = j - dx;
                if (flip) sj = W - 1 - sj;
                row[j] = si >= 0 && si < H && sj >= 0 && sj < W ? img[((size_t)c * H + si) * W + sj] : 0.0f;
            }
        }
    memcpy(img, tmp, sizeof(float) * (size_t)C * H * W);
}

int spk_experiment_static_input(const spk_experiment *e, const spk_dataset *d) {
    return e && d && !d->has_time && e->encoder.kind == SPK_ENC_DIRECT;
}

/* A batch into x: every step ([T, B, ...]), or with one_step the first alone ([B, ...]). */
static spk_status encode(const spk_experiment *e, const spk_dataset *d, const int32_t *idx, int B, float *x, uint64_t draw,
                         int train, int one_step) {
    int aug = train && (e->aug_shift > 0 || e->aug_flip);
    if (aug && !is_image(d))
        return spk__fail(NULL, SPK_ERR_INVALID_ARG, "%s: data.augment applies to images [C, H, W] or [H, W]; these samples are not images",
                         e->source);
    size_t S = spk_dataset_sample_size(d);
    int dims[SPK_MAX_DIMS], T;
    if (!spk_experiment_input_shape(e, d, dims, &T)) return SPK_ERR_INVALID_ARG;
    int steps_in = d->has_time ? T : 1;
    int F = d->has_time ? d->dims[1] : (int)S;
    float *buf = spk_malloc(((size_t)steps_in * B * F + (aug ? (size_t)F : 0)) * sizeof(float));
    if (!buf) return spk__fail(NULL, SPK_ERR_NOMEM, "encode: no memory for a batch of %d", B);
    for (int b = 0; b < B; b++) {
        const float *src = d->x + (size_t)idx[b] * S;
        if (!d->has_time) memcpy(buf + (size_t)b * F, src, (size_t)F * sizeof(float));
        else
            for (int t = 0; t < T; t++) memcpy(buf + ((size_t)t * B + b) * F, src + (size_t)t * F, (size_t)F * sizeof(float));
    }
    if (aug) {
        int C = d->ndim == 3 ? d->dims[0] : 1, H = d->dims[d->ndim - 2], W = d->dims[d->ndim - 1];
        spk_rng r = {e->seed, 0xa06e};
        for (int b = 0; b < B; b++) {
            uint32_t u[4];
            spk_rng_bits4(r, draw, (uint64_t)b, u);
            int n = 2 * e->aug_shift + 1;
            int dy = e->aug_shift ? (int)(u[0] % (uint32_t)n) - e->aug_shift : 0;
            int dx = e->aug_shift ? (int)(u[1] % (uint32_t)n) - e->aug_shift : 0;
            augment_image(buf + (size_t)b * F, buf + (size_t)B * F, C, H, W, dy, dx, e->aug_flip && (u[2] & 1));
        }
    }
    spk_status st = spk_encode(&e->encoder, one_step ? 1 : T, B, F, buf, steps_in, x, draw);
    spk_free(buf);
    return st;
}

spk_status spk_experiment_encode_batch(const spk_experiment *e, const spk_dataset *d, const int32_t *idx, int B, float *x, uint64_t draw) {
    return encode(e, d, idx, B, x, draw, 0, 0);
}

spk_status spk_experiment_encode_train_batch(const spk_experiment *e, const spk_dataset *d, const int32_t *idx, int B, float *x,
                                             uint64_t draw) {
    return encode(e, d, idx, B, x, draw, 1, 0);
}

spk_status spk_experiment_encode_one_step(const spk_experiment *e, const spk_dataset *d, const int32_t *idx, int B, float *x,
                                          uint64_t draw, int train) {
    if (!spk_experiment_static_input(e, d))
        return spk__fail(NULL, SPK_ERR_INVALID_ARG, "%s: the input is not the same at every step (encoding '%s'%s)", e ? e->source : "?",
                         e ? spk_encoding_name(e->encoder.kind) : "?", d && d->has_time ? ", sequence data" : "");
    return encode(e, d, idx, B, x, draw, train, 1);
}
