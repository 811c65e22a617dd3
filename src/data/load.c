/* load.c — the spk_dataset container (size, free, allocation for the other loaders) and
 * spk_dataset_load: a user's samples x and labels y from .npy files or HDF5 datasets
 * ("file.h5:/group/dataset"), read through the HDF5 C API with conversion to float (x) and
 * to int32 (labels, which must be integral, >= 0 and < 2^31). Shapes are checked: x has n
 * rows like y, has_time needs x [n, T, channels]; n_classes = max label + 1.
 *
 * Deliberately not here: normalization, shuffling or splitting (the caller's choice),
 * chunked or lazy loading (the arrays are read whole into memory), HDF5 attributes, and
 * other containers (CSV, .npz). */
#define _POSIX_C_SOURCE 200809L
#include "data/data_impl.h"

#include <errno.h>
#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#define LOAD_MAX_DIMS 8

size_t spk_dataset_sample_size(const spk_dataset *d) {
    if (!d || d->ndim <= 0) return 0;
    size_t n = 1;
    for (int i = 0; i < d->ndim && i < SPK_MAX_DIMS; i++) n *= (size_t)(d->dims[i] > 0 ? d->dims[i] : 0);
    return n;
}

void spk_dataset_free(spk_dataset *d) {
    if (!d) return;
    spk_free(d->x);
    spk_free(d->y);
    memset(d, 0, sizeof *d);
}

spk_status spk__dataset_alloc(spk_dataset *d, int n, int ndim, const int *dims, int has_time, int n_classes,
                              const char *who) {
    memset(d, 0, sizeof *d);
    if (n < 0 || ndim < 1 || ndim > SPK_MAX_DIMS)
        return spk__fail(NULL, SPK_ERR_INVALID_ARG, "%s: bad dataset shape (n %d, ndim %d)", who, n, ndim);
    size_t per = 1;
    for (int i = 0; i < ndim; i++) {
        if (dims[i] < 1 || per > SIZE_MAX / sizeof(float) / (size_t)dims[i])
            return spk__fail(NULL, SPK_ERR_INVALID_ARG, "%s: bad sample dimension %d = %d", who, i, dims[i]);
        per *= (size_t)dims[i];
    }
    if (n > 0 && per > SIZE_MAX / sizeof(float) / (size_t)n)
        return spk__fail(NULL, SPK_ERR_NOMEM, "%s: %d samples of %zu values overflow the address space", who, n, per);
    float *x = NULL;
    int32_t *y = NULL;
    if (n > 0) {
        x = spk_calloc((size_t)n * per, sizeof(float));
        y = spk_calloc((size_t)n, sizeof(int32_t));
        if (!x || !y) {
            spk_free(x);
            spk_free(y);
            return spk__fail(NULL, SPK_ERR_NOMEM, "%s: no memory for %d samples of %zu values (%.1f MiB)", who, n, per,
                             (double)n * (double)per * 4.0 / 1048576.0);
        }
    }
    d->n = n;
    d->ndim = ndim;
    for (int i = 0; i < ndim; i++) d->dims[i] = dims[i];
    d->has_time = has_time;
    d->n_classes = n_classes;
    d->x = x;
    d->y = y;
    return SPK_OK;
}

/* ---------------------------------------------------------------- HDF5 */

/* Split "file.h5:/path/in/file" at its last ':' followed by '/'. 1 when it is HDF5 syntax. */
static int split_h5(const char *spec, char **file, const char **dset) {
    const char *c = NULL;
    for (const char *p = spec; *p; p++)
        if (p[0] == ':' && p[1] == '/') c = p;
    if (!c || c == spec) return 0;
    size_t n = (size_t)(c - spec);
    *file = spk_malloc(n + 1);
    if (!*file) return -1;
    memcpy(*file, spec, n);
    (*file)[n] = '\0';
    *dset = c + 1;
    return 1;
}

static int ends_with(const char *s, const char *suf) {
    size_t a = strlen(s), b = strlen(suf);
    if (a < b) return 0;
    for (size_t i = 0; i < b; i++) {
        char c = s[a - b + i];
        if (c >= 'A' && c <= 'Z') c = (char)(c - 'A' + 'a');
        if (c != suf[i]) return 0;
    }
    return 1;
}

/* Read a whole numeric HDF5 dataset converted to float (as_double 0) or double (1). HDF5's
 * automatic error printing is switched off for the call and restored after. */
static spk_status h5_read(const char *spec, const char *file, const char *dset, int as_double, void **data, int *ndim,
                          size_t dims[LOAD_MAX_DIMS]) {
    H5E_auto2_t old_fn = NULL;
    void *old_data = NULL;
    H5Eget_auto2(H5E_DEFAULT, &old_fn, &old_data);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);

    spk_status st = SPK_OK;
    hid_t f = H5I_INVALID_HID, d = H5I_INVALID_HID, sp = H5I_INVALID_HID, ty = H5I_INVALID_HID;
    void *buf = NULL;
    *data = NULL;

    FILE *probe = fopen(file, "rb");
    if (!probe) {
        st = spk__fail(NULL, SPK_ERR_IO, "%s: cannot open %s: %s", spec, file, strerror(errno));
        goto done;
    }
    fclose(probe);
    f = H5Fopen(file, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0) {
        st = spk__fail(NULL, SPK_ERR_FORMAT, "%s: %s is not a readable HDF5 file", spec, file);
        goto done;
    }
    /* H5Lexists on every prefix, so that a missing group is a clean "not found" */
    {
        size_t len = strlen(dset);
        char *tmp = spk_malloc(len + 1);
        if (!tmp) {
            st = spk__fail(NULL, SPK_ERR_NOMEM, "%s: no memory", spec);
            goto done;
        }
        memcpy(tmp, dset, len + 1);
        int ok = len > 1;
        for (size_t i = 1; i <= len && ok; i++) {
            if (i == len || tmp[i] == '/') {
                char saved = tmp[i];
                tmp[i] = '\0';
                if (H5Lexists(f, tmp, H5P_DEFAULT) <= 0) ok = 0;
                tmp[i] = saved;
            }
        }
        spk_free(tmp);
        if (!ok) {
            st = spk__fail(NULL, SPK_ERR_FORMAT, "%s: %s has no dataset %s", spec, file, dset);
            goto done;
        }
    }
    d = H5Dopen2(f, dset, H5P_DEFAULT);
    if (d < 0) {
        st = spk__fail(NULL, SPK_ERR_FORMAT, "%s: %s in %s is not a dataset", spec, dset, file);
        goto done;
    }
    ty = H5Dget_type(d);
    H5T_class_t cls = ty >= 0 ? H5Tget_class(ty) : H5T_NO_CLASS;
    if (cls != H5T_INTEGER && cls != H5T_FLOAT) {
        st = spk__fail(NULL, SPK_ERR_FORMAT, "%s: dataset %s is not numeric (integer or float)", spec, dset);
        goto done;
    }
    sp = H5Dget_space(d);
    int nd = sp >= 0 ? H5Sget_simple_extent_ndims(sp) : -1;
    if (nd < 0 || nd > LOAD_MAX_DIMS) {
        st = spk__fail(NULL, SPK_ERR_FORMAT, "%s: dataset %s has %d dimensions (at most %d)", spec, dset, nd,
                       LOAD_MAX_DIMS);
        goto done;
    }
    hsize_t hd[LOAD_MAX_DIMS];
    H5Sget_simple_extent_dims(sp, hd, NULL);
    size_t esize = as_double ? sizeof(double) : sizeof(float), nelem = 1;
    for (int i = 0; i < nd; i++) {
        if (hd[i] && nelem > SIZE_MAX / esize / hd[i]) {
            st = spk__fail(NULL, SPK_ERR_FORMAT, "%s: dataset %s is too large", spec, dset);
            goto done;
        }
        nelem *= (size_t)hd[i];
        dims[i] = (size_t)hd[i];
    }
    *ndim = nd;
    /* HDF5 1.10 reads a compact dataset whose stored bytes are fewer than its shape needs
     * from a NULL buffer (a crash, found by fuzz/fuzz_h5): refuse such a dataset (and a too
     * small contiguous one) here. Chunked data and unallocated storage (fill values) are
     * HDF5's to check. */
    if (nelem > 0) {
        hid_t pl = H5Dget_create_plist(d);
        H5D_layout_t layout = pl >= 0 ? H5Pget_layout(pl) : H5D_LAYOUT_ERROR;
        if (pl >= 0) H5Pclose(pl);
        size_t tsize = H5Tget_size(ty);
        hsize_t stored = H5Dget_storage_size(d);
        int small = tsize == 0 || (tsize && nelem > (hsize_t)-1 / tsize) ||
                    (stored < (hsize_t)nelem * tsize && (layout == H5D_COMPACT || (layout == H5D_CONTIGUOUS && stored > 0)));
        if (layout == H5D_LAYOUT_ERROR || small) {
            st = spk__fail(NULL, SPK_ERR_FORMAT, "%s: dataset %s of %s is corrupt (%llu bytes stored for %zu values of %zu bytes)",
                           spec, dset, file, (unsigned long long)stored, nelem, tsize);
            goto done;
        }
    }
    if (nelem > 0) {
        buf = spk_malloc(nelem * esize);
        if (!buf) {
            st = spk__fail(NULL, SPK_ERR_NOMEM, "%s: no memory for %zu values", spec, nelem);
            goto done;
        }
        if (H5Dread(d, as_double ? H5T_NATIVE_DOUBLE : H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0) {
            st = spk__fail(NULL, SPK_ERR_IO, "%s: reading dataset %s of %s failed", spec, dset, file);
            goto done;
        }
    }
    *data = buf;
    buf = NULL;

done:
    spk_free(buf);
    if (sp >= 0) H5Sclose(sp);
    if (ty >= 0) H5Tclose(ty);
    if (d >= 0) H5Dclose(d);
    if (f >= 0) H5Fclose(f);
    H5Eset_auto2(H5E_DEFAULT, old_fn, old_data);
    return st;
}

/* Read x (floats) or y (doubles, for an exact integrality check) from either container. */
static spk_status read_array(const char *spec, int as_double, void **data, int *ndim, size_t dims[LOAD_MAX_DIMS]) {
    char *file = NULL;
    const char *dset = NULL;
    int h5 = split_h5(spec, &file, &dset);
    if (h5 < 0) return spk__fail(NULL, SPK_ERR_NOMEM, "%s: no memory", spec);
    if (h5) {
        spk_status st = h5_read(spec, file, dset, as_double, data, ndim, dims);
        spk_free(file);
        return st;
    }
    if (ends_with(spec, ".h5") || ends_with(spec, ".hdf5") || ends_with(spec, ".he5") || ends_with(spec, ".hdf"))
        return spk__fail(NULL, SPK_ERR_INVALID_ARG, "%s: name the dataset inside the HDF5 file: \"%s:/dataset\"",
                         spec, spec);
    float *f = NULL;
    spk_status st = spk_npy_read(spec, &f, ndim, dims);
    if (st) return st;
    if (!as_double) {
        *data = f;
        return SPK_OK;
    }
    size_t n = 1;
    for (int i = 0; i < *ndim; i++) n *= dims[i];
    double *d = n ? spk_malloc(n * sizeof(double)) : NULL;
    if (n && !d) {
        spk_free(f);
        return spk__fail(NULL, SPK_ERR_NOMEM, "%s: no memory", spec);
    }
    for (size_t i = 0; i < n; i++) d[i] = f[i];
    spk_free(f);
    *data = d;
    return SPK_OK;
}

spk_status spk_dataset_load(spk_dataset *out, const char *x_path, const char *y_path, int has_time) {
    if (!out || !x_path || !y_path)
        return spk__fail(NULL, SPK_ERR_INVALID_ARG, "spk_dataset_load: out, x_path and y_path must not be NULL");
    memset(out, 0, sizeof *out);
    void *xv = NULL, *yv = NULL;
    int xnd = 0, ynd = 0;
    size_t xd[LOAD_MAX_DIMS], yd[LOAD_MAX_DIMS];
    spk_status st = read_array(x_path, 0, &xv, &xnd, xd);
    if (st) return st;
    st = read_array(y_path, 1, &yv, &ynd, yd);
    if (st) {
        spk_free(xv);
        return st;
    }
    float *x = xv;
    double *y = yv;

    /* y: [n] or a column [n, 1] */
    if (!(ynd == 1 || (ynd == 2 && yd[1] == 1))) {
        st = spk__fail(NULL, SPK_ERR_SHAPE, "%s: labels must be 1-d [n] (or [n, 1]); they have %d dimensions", y_path,
                       ynd);
        goto fail;
    }
    size_t n = yd[0];
    if (xnd < 1) {
        st = spk__fail(NULL, SPK_ERR_SHAPE, "%s: samples must have a first dimension n (the array is a scalar)", x_path);
        goto fail;
    }
    if (xd[0] != n) {
        st = spk__fail(NULL, SPK_ERR_SHAPE, "%s has %zu samples (first dimension) but %s has %zu labels", x_path, xd[0],
                       y_path, n);
        goto fail;
    }
    if (n == 0 || n > (size_t)INT32_MAX) {
        st = spk__fail(NULL, SPK_ERR_SHAPE, "%s: %zu samples (need 1 .. 2^31-1)", x_path, n);
        goto fail;
    }
    if (has_time && xnd != 3) {
        st = spk__fail(NULL, SPK_ERR_SHAPE, "%s: has_time needs x of shape [n, T, channels]; it has %d dimensions",
                       x_path, xnd);
        goto fail;
    }
    if (xnd - 1 > SPK_MAX_DIMS) {
        st = spk__fail(NULL, SPK_ERR_SHAPE, "%s: samples have %d dimensions (at most %d)", x_path, xnd - 1, SPK_MAX_DIMS);
        goto fail;
    }
    int sdims[SPK_MAX_DIMS], snd = xnd - 1;
    if (snd == 0) { /* x [n]: one feature per sample */
        snd = 1;
        sdims[0] = 1;
    } else {
        for (int i = 0; i < snd; i++) {
            if (xd[i + 1] == 0 || xd[i + 1] > (size_t)INT32_MAX) {
                st = spk__fail(NULL, SPK_ERR_SHAPE, "%s: dimension %d of x is %zu (need 1 .. 2^31-1)", x_path, i + 1,
                               xd[i + 1]);
                goto fail;
            }
            sdims[i] = (int)xd[i + 1];
        }
    }
    double ymax = -1;
    for (size_t i = 0; i < n; i++) {
        double v = y[i];
        if (!(v >= 0) || v != floor(v) || v > (double)INT32_MAX - 1) {
            st = spk__fail(NULL, SPK_ERR_FORMAT, "%s: label %zu is %g (labels must be integers in 0 .. 2^31-2)", y_path, i,
                           v);
            goto fail;
        }
        if (v > ymax) ymax = v;
    }
    out->n = (int)n;
    out->ndim = snd;
    for (int i = 0; i < snd; i++) out->dims[i] = sdims[i];
    out->has_time = has_time ? 1 : 0;
    out->n_classes = (int)ymax + 1;
    out->x = x;
    out->y = spk_malloc(n * sizeof(int32_t));
    if (!out->y) {
        memset(out, 0, sizeof *out);
        st = spk__fail(NULL, SPK_ERR_NOMEM, "%s: no memory for %zu labels", y_path, n);
        goto fail;
    }
    for (size_t i = 0; i < n; i++) out->y[i] = (int32_t)y[i];
    spk_free(y);
    return SPK_OK;

fail:
    spk_free(x);
    spk_free(y);
    return st;
}
