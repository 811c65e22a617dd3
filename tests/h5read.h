/* h5read.h — read float32 datasets and attributes from the HDF5 fixture files (tests only). */
#ifndef SPK_H5READ_H
#define SPK_H5READ_H
#include <stddef.h>

/* Read dataset `path` of file `file` as float32 (converted by HDF5 when stored otherwise).
 * Returns a malloc'd array and its element count in *n (and up to 8 dims in dims/ndim when
 * not NULL), or NULL with a message on stderr when absent. */
float *h5_read_floats(const char *file, const char *path, size_t *n, int *ndim, size_t dims[8]);
/* 1 if the object (dataset or group) exists in the file. */
int h5_exists(const char *file, const char *path);
/* Read a numeric attribute of the root group as double; returns 0 and sets *out on success. */
int h5_attr_double(const char *file, const char *name, double *out);
#endif
