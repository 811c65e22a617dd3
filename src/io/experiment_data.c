/* experiment_data.c — the bridge from an experiment's data and encoding sections to network
 * inputs: which dataset to load, what shape the encoded input has, and how a batch of samples
 * becomes a [T, B, ...] input. The loaders and encoders themselves live in src/data and
 * src/code. */
#include "core/core.h"

#include <string.h>

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

spk_status spk_experiment_encode_batch(const spk_experiment *e, const spk_dataset *d, const int32_t *idx, int B, float *x, uint64_t draw) {
    size_t S = spk_dataset_sample_size(d);
    int dims[SPK_MAX_DIMS], T;
    if (!spk_experiment_input_shape(e, d, dims, &T)) return SPK_ERR_INVALID_ARG;
    int steps_in = d->has_time ? T : 1;
    int F = d->has_time ? d->dims[1] : (int)S;
    float *buf = spk_malloc((size_t)steps_in * B * F * sizeof(float));
    if (!buf) return spk__fail(NULL, SPK_ERR_NOMEM, "encode: no memory for a batch of %d", B);
    for (int b = 0; b < B; b++) {
        const float *src = d->x + (size_t)idx[b] * S;
        if (!d->has_time) memcpy(buf + (size_t)b * F, src, (size_t)F * sizeof(float));
        else
            for (int t = 0; t < T; t++) memcpy(buf + ((size_t)t * B + b) * F, src + (size_t)t * F, (size_t)F * sizeof(float));
    }
    spk_status st = spk_encode(&e->encoder, T, B, F, buf, steps_in, x, draw);
    spk_free(buf);
    return st;
}
