/* h5read.c — read float32 datasets and root attributes from the HDF5 fixtures (tests only).
 * Uses the plain libhdf5 C API; HDF5's automatic error-stack printing is switched off, and
 * every failure is reported as one line on stderr. */
#include "h5read.h"

#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void h5r_quiet(void) {
    static int done = 0;
    if (!done) {
        H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
        done = 1;
    }
}

static hid_t h5r_open(const char *file) {
    h5r_quiet();
    if (!file) {
        fprintf(stderr, "h5read: NULL file name\n");
        return H5I_INVALID_HID;
    }
    hid_t f = H5Fopen(file, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0) fprintf(stderr, "h5read: cannot open %s\n", file);
    return f;
}

/* 1 when every link along `path` exists and resolves to an object. */
static int h5r_path_exists(hid_t f, const char *path) {
    if (!path || !*path) return 0;
    if (strcmp(path, "/") == 0) return 1;
    size_t len = strlen(path);
    char *buf = malloc(len + 1);
    if (!buf) return 0;
    memcpy(buf, path, len + 1);
    int ok = 1;
    /* Check each prefix "a", "a/b", ... so that H5Lexists never sees a missing parent. */
    for (size_t i = 1; i <= len && ok; i++) {
        if (i == len || buf[i] == '/') {
            char saved = buf[i];
            buf[i] = '\0';
            if (!(i == 1 && buf[0] == '/')) {
                htri_t e = H5Lexists(f, buf, H5P_DEFAULT);
                if (e <= 0) ok = 0;
                else if (H5Oexists_by_name(f, buf, H5P_DEFAULT) <= 0) ok = 0;
            }
            buf[i] = saved;
        }
    }
    free(buf);
    return ok;
}

float *h5_read_floats(const char *file, const char *path, size_t *n, int *ndim, size_t dims[8]) {
    if (n) *n = 0;
    if (ndim) *ndim = 0;
    hid_t f = h5r_open(file);
    if (f < 0) return NULL;
    float *out = NULL;
    hid_t d = H5I_INVALID_HID, sp = H5I_INVALID_HID;
    if (!h5r_path_exists(f, path)) {
        fprintf(stderr, "h5read: %s: dataset %s not found\n", file, path ? path : "(null)");
        goto done;
    }
    d = H5Dopen2(f, path, H5P_DEFAULT);
    if (d < 0) {
        fprintf(stderr, "h5read: %s: %s is not a dataset\n", file, path);
        goto done;
    }
    sp = H5Dget_space(d);
    if (sp < 0) {
        fprintf(stderr, "h5read: %s: %s: cannot get dataspace\n", file, path);
        goto done;
    }
    int rank = H5Sget_simple_extent_ndims(sp);
    if (rank < 0 || rank > 8) {
        fprintf(stderr, "h5read: %s: %s: unsupported rank %d\n", file, path, rank);
        goto done;
    }
    hsize_t hd[8] = {0};
    if (rank > 0 && H5Sget_simple_extent_dims(sp, hd, NULL) < 0) {
        fprintf(stderr, "h5read: %s: %s: cannot get dims\n", file, path);
        goto done;
    }
    hssize_t count = H5Sget_simple_extent_npoints(sp);
    if (count < 0) {
        fprintf(stderr, "h5read: %s: %s: cannot get size\n", file, path);
        goto done;
    }
    out = malloc((count > 0 ? (size_t)count : 1) * sizeof(float));
    if (!out) {
        fprintf(stderr, "h5read: %s: %s: out of memory\n", file, path);
        goto done;
    }
    if (count > 0 && H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, out) < 0) {
        fprintf(stderr, "h5read: %s: %s: read as float32 failed\n", file, path);
        free(out);
        out = NULL;
        goto done;
    }
    if (n) *n = (size_t)count;
    if (ndim) *ndim = rank;
    if (dims)
        for (int i = 0; i < rank; i++) dims[i] = (size_t)hd[i];
done:
    if (sp >= 0) H5Sclose(sp);
    if (d >= 0) H5Dclose(d);
    H5Fclose(f);
    return out;
}

int h5_exists(const char *file, const char *path) {
    hid_t f = h5r_open(file);
    if (f < 0) return 0;
    int e = h5r_path_exists(f, path);
    H5Fclose(f);
    return e;
}

int h5_attr_double(const char *file, const char *name, double *out) {
    hid_t f = h5r_open(file);
    if (f < 0) return -1;
    int rc = -1;
    hid_t a = H5I_INVALID_HID, sp = H5I_INVALID_HID;
    if (!name || H5Aexists_by_name(f, "/", name, H5P_DEFAULT) <= 0) {
        fprintf(stderr, "h5read: %s: root attribute %s not found\n", file, name ? name : "(null)");
        goto done;
    }
    a = H5Aopen_by_name(f, "/", name, H5P_DEFAULT, H5P_DEFAULT);
    if (a < 0) {
        fprintf(stderr, "h5read: %s: cannot open attribute %s\n", file, name);
        goto done;
    }
    hid_t ty = H5Aget_type(a);
    H5T_class_t cls = ty >= 0 ? H5Tget_class(ty) : H5T_NO_CLASS;
    if (ty >= 0) H5Tclose(ty);
    if (cls != H5T_INTEGER && cls != H5T_FLOAT) {
        fprintf(stderr, "h5read: %s: attribute %s is not numeric\n", file, name);
        goto done;
    }
    sp = H5Aget_space(a);
    hssize_t count = sp >= 0 ? H5Sget_simple_extent_npoints(sp) : -1;
    if (count != 1) {
        fprintf(stderr, "h5read: %s: attribute %s has %lld values, expected 1\n", file, name,
                (long long)count);
        goto done;
    }
    double v = 0;
    if (H5Aread(a, H5T_NATIVE_DOUBLE, &v) < 0) {
        fprintf(stderr, "h5read: %s: reading attribute %s as double failed\n", file, name);
        goto done;
    }
    if (out) *out = v;
    rc = 0;
done:
    if (sp >= 0) H5Sclose(sp);
    if (a >= 0) H5Aclose(a);
    H5Fclose(f);
    return rc;
}
