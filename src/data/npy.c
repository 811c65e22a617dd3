/* npy.c — NumPy .npy arrays: read (format versions 1.0, 2.0 and 3.0; little-endian or
 * single-byte numeric types f4 f8 i1 i2 i4 i8 u1 u2 u4 u8 b1; C order) converting every
 * element to float32, and write float32 (version 1.0, laid out exactly as NumPy 1.24's
 * np.save lays it out) atomically: a temporary file "<path>.tmp.<pid>" is written, flushed,
 * fsync'ed and renamed over the target, so an existing file is replaced only by a complete
 * one. The header dictionary is checked strictly: exactly the keys descr, fortran_order
 * and shape, and a data size that matches the file's size.
 *
 * Deliberately not here: Fortran order (refused with a message, not transposed), big-endian
 * data, structured / string / object / complex / float16 dtypes, memory mapping, .npz
 * archives, and writing anything but float32. Concurrent writes of the same path from one
 * process share the temporary name and are not supported. */
#define _POSIX_C_SOURCE 200809L
#include "core/core.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define NPY_MAX_DIMS 8
#define NPY_MAGIC "\x93NUMPY"
#define NPY_MAGIC_LEN 6
#define NPY_ALIGN 64
/* NumPy >= 1.23 leaves room for the first axis to grow to 21 digits before aligning. */
#define NPY_GROWTH_DIGITS 21

/* ---------------------------------------------------------------- element types */

typedef enum npy_kind { K_F4, K_F8, K_I1, K_I2, K_I4, K_I8, K_U1, K_U2, K_U4, K_U8, K_B1 } npy_kind;

static const struct {
    const char *code; /* descr without its byte-order character */
    npy_kind kind;
    int size;
} npy_types[] = {
    {"f4", K_F4, 4}, {"f8", K_F8, 8}, {"i1", K_I1, 1}, {"i2", K_I2, 2}, {"i4", K_I4, 4}, {"i8", K_I8, 8},
    {"u1", K_U1, 1}, {"u2", K_U2, 2}, {"u4", K_U4, 4}, {"u8", K_U8, 8}, {"b1", K_B1, 1},
};

static uint64_t le_u(const unsigned char *b, int size) {
    uint64_t v = 0;
    for (int i = size - 1; i >= 0; i--) v = (v << 8) | b[i];
    return v;
}

/* Decode n elements of `kind` from little-endian bytes into floats. */
static void npy_decode(npy_kind kind, int size, const unsigned char *src, size_t n, float *dst) {
    for (size_t i = 0; i < n; i++) {
        const unsigned char *b = src + i * (size_t)size;
        uint64_t v = le_u(b, size);
        switch (kind) {
        case K_F4: {
            uint32_t w = (uint32_t)v;
            float f;
            memcpy(&f, &w, 4);
            dst[i] = f;
            break;
        }
        case K_F8: {
            double d;
            memcpy(&d, &v, 8);
            dst[i] = (float)d;
            break;
        }
        case K_I1: dst[i] = (float)(int8_t)(uint8_t)v; break;
        case K_I2: dst[i] = (float)(int16_t)(uint16_t)v; break;
        case K_I4: dst[i] = (float)(int32_t)(uint32_t)v; break;
        case K_I8: dst[i] = (float)(int64_t)v; break;
        case K_U1: case K_U2: case K_U4: case K_U8: dst[i] = (float)v; break;
        case K_B1: dst[i] = v ? 1.0f : 0.0f; break;
        }
    }
}

/* ---------------------------------------------------------------- header dictionary */

typedef struct hdr_parser {
    const char *s;
    size_t n, i;
    const char *path;
} hdr_parser;

static void hp_ws(hdr_parser *p) {
    while (p->i < p->n && (p->s[p->i] == ' ' || p->s[p->i] == '\t')) p->i++;
}

static spk_status hp_fail(const hdr_parser *p, const char *what) {
    return spk__fail(NULL, SPK_ERR_FORMAT, "%s: malformed .npy header: %s at header byte %zu", p->path, what,
                     p->i);
}

static int hp_eat(hdr_parser *p, char c) {
    hp_ws(p);
    if (p->i < p->n && p->s[p->i] == c) {
        p->i++;
        return 1;
    }
    return 0;
}

/* A Python string literal in single or double quotes, without escapes. */
static spk_status hp_string(hdr_parser *p, char *out, size_t cap) {
    hp_ws(p);
    if (p->i >= p->n || (p->s[p->i] != '\'' && p->s[p->i] != '"')) return hp_fail(p, "expected a quoted string");
    char q = p->s[p->i++];
    size_t len = 0;
    while (p->i < p->n && p->s[p->i] != q) {
        char c = p->s[p->i];
        if (c == '\\' || c == '\n') return hp_fail(p, "unsupported character in a string");
        if (len + 1 >= cap) return hp_fail(p, "string too long");
        out[len++] = c;
        p->i++;
    }
    if (p->i >= p->n) return hp_fail(p, "unterminated string");
    p->i++;
    out[len] = '\0';
    return SPK_OK;
}

/* A non-negative decimal integer (Python 2 era files may append 'L'). */
static spk_status hp_uint(hdr_parser *p, size_t *out) {
    hp_ws(p);
    size_t v = 0, digits = 0;
    while (p->i < p->n && p->s[p->i] >= '0' && p->s[p->i] <= '9') {
        size_t d = (size_t)(p->s[p->i] - '0');
        if (v > (SIZE_MAX - d) / 10) return hp_fail(p, "shape entry too large");
        v = v * 10 + d;
        digits++;
        p->i++;
    }
    if (!digits) return hp_fail(p, "expected a non-negative integer in shape");
    if (p->i < p->n && p->s[p->i] == 'L') p->i++;
    *out = v;
    return SPK_OK;
}

/* A Python tuple of integers: "()", "(5,)", "(2, 3)" or "(2, 3,)". "(5)" is an integer in
 * Python, not a tuple, and is refused. */
static spk_status hp_shape(hdr_parser *p, int *ndim, size_t dims[NPY_MAX_DIMS]) {
    if (!hp_eat(p, '(')) return hp_fail(p, "shape is not a tuple");
    *ndim = 0;
    if (hp_eat(p, ')')) return SPK_OK;
    for (;;) {
        size_t v = 0;
        spk_status st = hp_uint(p, &v);
        if (st) return st;
        if (*ndim >= NPY_MAX_DIMS)
            return spk__fail(NULL, SPK_ERR_UNSUPPORTED, "%s: .npy array has more than %d dimensions", p->path,
                             NPY_MAX_DIMS);
        dims[(*ndim)++] = v;
        if (hp_eat(p, ',')) {
            if (hp_eat(p, ')')) return SPK_OK;
            continue;
        }
        if (hp_eat(p, ')')) {
            if (*ndim == 1) return hp_fail(p, "one-element shape lacks its trailing comma (not a tuple)");
            return SPK_OK;
        }
        return hp_fail(p, "expected ',' or ')' in shape");
    }
}

typedef struct npy_header {
    npy_kind kind;
    int size;
    int ndim;
    size_t dims[NPY_MAX_DIMS];
} npy_header;

static spk_status parse_dict(const char *path, const char *s, size_t n, npy_header *h) {
    hdr_parser p = {s, n, 0, path};
    int have_descr = 0, have_fortran = 0, have_shape = 0;
    if (n == 0 || s[n - 1] != '\n') {
        p.i = n;
        return hp_fail(&p, "header does not end with a newline");
    }
    p.n = n - 1; /* the newline is not part of the dictionary */
    if (!hp_eat(&p, '{')) return hp_fail(&p, "expected '{'");
    for (;;) {
        if (hp_eat(&p, '}')) break;
        char key[32], val[32];
        spk_status st = hp_string(&p, key, sizeof key);
        if (st) return st;
        if (!hp_eat(&p, ':')) return hp_fail(&p, "expected ':' after a key");
        if (strcmp(key, "descr") == 0) {
            if (have_descr++) return hp_fail(&p, "key 'descr' appears twice");
            if ((st = hp_string(&p, val, sizeof val))) return st;
            char order = val[0];
            int found = 0;
            for (size_t t = 0; t < sizeof npy_types / sizeof npy_types[0]; t++) {
                if (order && strcmp(val + 1, npy_types[t].code) == 0) {
                    h->kind = npy_types[t].kind;
                    h->size = npy_types[t].size;
                    found = 1;
                }
            }
            if (!found)
                return spk__fail(NULL, SPK_ERR_UNSUPPORTED,
                                 "%s: .npy dtype '%s' is not supported (f4 f8 i1 i2 i4 i8 u1 u2 u4 u8 b1)", path, val);
            if (order == '>')
                return spk__fail(NULL, SPK_ERR_UNSUPPORTED, "%s: .npy dtype '%s' is big-endian (only '<' is read)",
                                 path, val);
            if (h->size == 1 && order != '|')
                return spk__fail(NULL, SPK_ERR_FORMAT, "%s: .npy dtype '%s': a one-byte type must be written '|%s'",
                                 path, val, val + 1);
            if (h->size > 1 && order != '<')
                return spk__fail(NULL, SPK_ERR_FORMAT, "%s: .npy dtype '%s' has byte order '%c' (expected '<')",
                                 path, val, order);
        } else if (strcmp(key, "fortran_order") == 0) {
            if (have_fortran++) return hp_fail(&p, "key 'fortran_order' appears twice");
            hp_ws(&p);
            if (p.n - p.i >= 5 && memcmp(s + p.i, "False", 5) == 0) {
                p.i += 5;
            } else if (p.n - p.i >= 4 && memcmp(s + p.i, "True", 4) == 0) {
                return spk__fail(NULL, SPK_ERR_UNSUPPORTED,
                                 "%s: .npy array is in Fortran order (fortran_order True); only C order is read: "
                                 "save it with np.ascontiguousarray",
                                 path);
            } else {
                return hp_fail(&p, "fortran_order is neither True nor False");
            }
        } else if (strcmp(key, "shape") == 0) {
            if (have_shape++) return hp_fail(&p, "key 'shape' appears twice");
            if ((st = hp_shape(&p, &h->ndim, h->dims))) return st;
        } else {
            char msg[80];
            snprintf(msg, sizeof msg, "unknown key '%s'", key);
            return hp_fail(&p, msg);
        }
        if (hp_eat(&p, ',')) continue;
        if (hp_eat(&p, '}')) break;
        return hp_fail(&p, "expected ',' or '}' after a value");
    }
    /* only padding spaces may follow the dictionary */
    while (p.i < p.n && p.s[p.i] == ' ') p.i++;
    if (p.i != p.n) return hp_fail(&p, "unexpected text after the dictionary");
    if (!have_descr) return hp_fail(&p, "key 'descr' is missing");
    if (!have_fortran) return hp_fail(&p, "key 'fortran_order' is missing");
    if (!have_shape) return hp_fail(&p, "key 'shape' is missing");
    return SPK_OK;
}

/* ---------------------------------------------------------------- reading */

spk_status spk_npy_read(const char *path, float **data, int *ndim, size_t dims[8]) {
    if (!path || !data || !ndim || !dims)
        return spk__fail(NULL, SPK_ERR_INVALID_ARG, "spk_npy_read: path, data, ndim and dims must not be NULL");
    *data = NULL;
    *ndim = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return spk__fail(NULL, SPK_ERR_IO, "%s: cannot open: %s", path, strerror(errno));

    spk_status st = SPK_OK;
    char *hdr = NULL;
    float *out = NULL;
    unsigned char *buf = NULL;
    unsigned char pre[12];
    size_t prefix;

    if (fread(pre, 1, 10, f) != 10 || memcmp(pre, NPY_MAGIC, NPY_MAGIC_LEN) != 0) {
        st = spk__fail(NULL, SPK_ERR_FORMAT, "%s: not a .npy file (no \\x93NUMPY magic at byte 0)", path);
        goto done;
    }
    int major = pre[6], minor = pre[7];
    size_t hlen;
    if (major == 1 && minor == 0) {
        hlen = (size_t)le_u(pre + 8, 2);
        prefix = 10;
    } else if ((major == 2 || major == 3) && minor == 0) {
        if (fread(pre + 10, 1, 2, f) != 2) {
            st = spk__fail(NULL, SPK_ERR_FORMAT, "%s: truncated .npy file: header length cut at byte 10", path);
            goto done;
        }
        hlen = (size_t)le_u(pre + 8, 4);
        prefix = 12;
    } else {
        st = spk__fail(NULL, SPK_ERR_UNSUPPORTED, "%s: .npy format version %d.%d is not supported (1.0, 2.0, 3.0)",
                       path, major, minor);
        goto done;
    }
    if (hlen == 0 || hlen > (1u << 24)) {
        st = spk__fail(NULL, SPK_ERR_FORMAT, "%s: .npy header length %zu is implausible (byte 8)", path, hlen);
        goto done;
    }
    hdr = spk_malloc(hlen + 1);
    if (!hdr) {
        st = spk__fail(NULL, SPK_ERR_NOMEM, "%s: no memory for the .npy header", path);
        goto done;
    }
    if (fread(hdr, 1, hlen, f) != hlen) {
        st = spk__fail(NULL, SPK_ERR_FORMAT, "%s: truncated .npy file: header of %zu bytes cut before byte %zu", path,
                       hlen, prefix + hlen);
        goto done;
    }
    hdr[hlen] = '\0';
    for (size_t i = 0; i < hlen; i++) {
        if (hdr[i] == '\0') {
            st = spk__fail(NULL, SPK_ERR_FORMAT, "%s: malformed .npy header: NUL byte at header byte %zu", path, i);
            goto done;
        }
    }
    npy_header h;
    memset(&h, 0, sizeof h);
    if ((st = parse_dict(path, hdr, hlen, &h))) goto done;

    size_t nelem = 1;
    for (int d = 0; d < h.ndim; d++) {
        if (h.dims[d] && nelem > SIZE_MAX / h.dims[d]) {
            st = spk__fail(NULL, SPK_ERR_FORMAT, "%s: .npy shape overflows the address space", path);
            goto done;
        }
        nelem *= h.dims[d];
    }
    if (nelem > SIZE_MAX / sizeof(float) || nelem > SIZE_MAX / (size_t)h.size) {
        st = spk__fail(NULL, SPK_ERR_FORMAT, "%s: .npy shape overflows the address space", path);
        goto done;
    }
    size_t nbytes = nelem * (size_t)h.size, data_off = prefix + hlen;

    struct stat sb;
    if (fstat(fileno(f), &sb) == 0 && S_ISREG(sb.st_mode)) {
        size_t fsize = (size_t)sb.st_size;
        if (fsize < data_off || fsize - data_off < nbytes) {
            st = spk__fail(NULL, SPK_ERR_FORMAT,
                           "%s: truncated .npy file: the header's shape needs %zu data bytes from byte %zu, but the "
                           "file has %zu bytes",
                           path, nbytes, data_off, fsize);
            goto done;
        }
        if (fsize - data_off > nbytes) {
            st = spk__fail(NULL, SPK_ERR_FORMAT,
                           "%s: .npy file has %zu bytes after the %zu data bytes its header describes (from byte %zu)",
                           path, fsize - data_off - nbytes, nbytes, data_off);
            goto done;
        }
    }

    if (nelem > 0) {
        out = spk_malloc(nelem * sizeof(float));
        size_t chunk = (size_t)1 << 16;
        if (chunk > nelem) chunk = nelem;
        buf = spk_malloc(chunk * (size_t)h.size);
        if (!out || !buf) {
            st = spk__fail(NULL, SPK_ERR_NOMEM, "%s: no memory for %zu elements", path, nelem);
            goto done;
        }
        for (size_t done_n = 0; done_n < nelem;) {
            size_t k = nelem - done_n < chunk ? nelem - done_n : chunk;
            size_t got = fread(buf, (size_t)h.size, k, f);
            if (got != k) {
                int err = ferror(f);
                st = spk__fail(NULL, err ? SPK_ERR_IO : SPK_ERR_FORMAT, "%s: %s at byte %zu (element %zu of %zu)", path,
                               err ? "read error" : "truncated .npy data", data_off + (done_n + got) * (size_t)h.size,
                               done_n + got, nelem);
                goto done;
            }
            npy_decode(h.kind, h.size, buf, k, out + done_n);
            done_n += k;
        }
    }
    *data = out;
    out = NULL;
    *ndim = h.ndim;
    for (int d = 0; d < h.ndim; d++) dims[d] = h.dims[d];

done:
    spk_free(buf);
    spk_free(out);
    spk_free(hdr);
    fclose(f);
    return st;
}

/* ---------------------------------------------------------------- writing */

/* The header NumPy 1.24's np.save writes for a float32 C-order array: the dictionary, room
 * for the first axis to grow, spaces to a multiple of 64 bytes and a newline. Returns the
 * header length after the 10-byte prefix. */
static size_t npy_build_header(char *out, size_t cap, int ndim, const size_t *dims) {
    char shape[NPY_MAX_DIMS * 24 + 4];
    size_t k = 0;
    shape[k++] = '(';
    for (int d = 0; d < ndim; d++)
        k += (size_t)snprintf(shape + k, sizeof shape - k, d ? ", %zu" : "%zu", dims[d]);
    if (ndim == 1) shape[k++] = ',';
    shape[k++] = ')';
    shape[k] = '\0';
    int len = snprintf(out, cap, "{'descr': '<f4', 'fortran_order': False, 'shape': %s, }", shape);
    size_t n = (size_t)len;
    if (ndim > 0) {
        char first[24];
        int fl = snprintf(first, sizeof first, "%zu", dims[0]);
        for (int i = fl; i < NPY_GROWTH_DIGITS; i++) out[n++] = ' ';
    }
    size_t pad = NPY_ALIGN - ((n + 1 + 10) % NPY_ALIGN); /* 1..64, as NumPy pads */
    for (size_t i = 0; i < pad; i++) out[n++] = ' ';
    out[n++] = '\n';
    return n;
}

static spk_status write_all(FILE *f, const void *p, size_t n, const char *tmp) {
    if (n && fwrite(p, 1, n, f) != n)
        return spk__fail(NULL, SPK_ERR_IO, "%s: write failed: %s", tmp, strerror(errno));
    return SPK_OK;
}

spk_status spk_npy_write(const char *path, const float *data, int ndim, const size_t *dims) {
    if (!path || !*path) return spk__fail(NULL, SPK_ERR_INVALID_ARG, "spk_npy_write: path is NULL or empty");
    if (ndim < 0 || ndim > NPY_MAX_DIMS)
        return spk__fail(NULL, SPK_ERR_INVALID_ARG, "spk_npy_write %s: ndim %d is outside 0..%d", path, ndim,
                         NPY_MAX_DIMS);
    if (ndim > 0 && !dims) return spk__fail(NULL, SPK_ERR_INVALID_ARG, "spk_npy_write %s: dims is NULL", path);
    size_t nelem = 1;
    for (int d = 0; d < ndim; d++) {
        if (dims[d] && nelem > SIZE_MAX / sizeof(float) / dims[d])
            return spk__fail(NULL, SPK_ERR_INVALID_ARG, "spk_npy_write %s: shape overflows the address space", path);
        nelem *= dims[d];
    }
    if (nelem > 0 && !data) return spk__fail(NULL, SPK_ERR_INVALID_ARG, "spk_npy_write %s: data is NULL", path);

    char header[NPY_MAX_DIMS * 24 + 256];
    size_t hlen = npy_build_header(header, sizeof header, ndim, dims);
    unsigned char pre[10];
    memcpy(pre, NPY_MAGIC, NPY_MAGIC_LEN);
    pre[6] = 1;
    pre[7] = 0;
    pre[8] = (unsigned char)(hlen & 0xff);
    pre[9] = (unsigned char)(hlen >> 8);

    size_t plen = strlen(path);
    char *tmp = spk_malloc(plen + 32);
    if (!tmp) return spk__fail(NULL, SPK_ERR_NOMEM, "spk_npy_write %s: no memory", path);
    snprintf(tmp, plen + 32, "%s.tmp.%ld", path, (long)getpid());

    spk_status st = SPK_OK;
    FILE *f = NULL;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0666);
    if (fd < 0) {
        st = spk__fail(NULL, SPK_ERR_IO, "%s: cannot create the temporary file %s: %s", path, tmp, strerror(errno));
        spk_free(tmp);
        return st; /* nothing was created */
    }
    f = fdopen(fd, "wb");
    if (!f) {
        st = spk__fail(NULL, SPK_ERR_IO, "%s: fdopen failed: %s", tmp, strerror(errno));
        close(fd);
        goto fail;
    }
    if ((st = write_all(f, pre, sizeof pre, tmp))) goto fail;
    if ((st = write_all(f, header, hlen, tmp))) goto fail;
    {
        /* little-endian bytes whatever the host order */
        unsigned char chunk[4096];
        size_t per = sizeof chunk / 4;
        for (size_t i = 0; i < nelem; i += per) {
            size_t k = nelem - i < per ? nelem - i : per;
            for (size_t j = 0; j < k; j++) {
                uint32_t w;
                memcpy(&w, data + i + j, 4);
                chunk[4 * j] = (unsigned char)w;
                chunk[4 * j + 1] = (unsigned char)(w >> 8);
                chunk[4 * j + 2] = (unsigned char)(w >> 16);
                chunk[4 * j + 3] = (unsigned char)(w >> 24);
            }
            if ((st = write_all(f, chunk, 4 * k, tmp))) goto fail;
        }
    }
    if (fflush(f) != 0) {
        st = spk__fail(NULL, SPK_ERR_IO, "%s: flush failed: %s", tmp, strerror(errno));
        goto fail;
    }
    if (fsync(fileno(f)) != 0) {
        st = spk__fail(NULL, SPK_ERR_IO, "%s: fsync failed: %s", tmp, strerror(errno));
        goto fail;
    }
    int rc = fclose(f);
    f = NULL;
    if (rc != 0) {
        st = spk__fail(NULL, SPK_ERR_IO, "%s: close failed: %s", tmp, strerror(errno));
        goto fail;
    }
    if (rename(tmp, path) != 0) {
        st = spk__fail(NULL, SPK_ERR_IO, "%s: cannot rename the temporary file %s onto it: %s", path, tmp,
                       strerror(errno));
        goto fail;
    }
    /* make the rename itself durable (best effort: some file systems refuse fsync on dirs) */
    {
        const char *slash = strrchr(path, '/');
        char *dir = NULL;
        if (slash) {
            size_t dl = slash == path ? 1 : (size_t)(slash - path);
            dir = spk_malloc(dl + 1);
            if (dir) {
                memcpy(dir, path, dl);
                dir[dl] = '\0';
            }
        }
        const char *dname = slash ? dir : ".";
        int dfd = dname ? open(dname, O_RDONLY) : -1;
        if (dfd >= 0) {
            (void)fsync(dfd);
            close(dfd);
        }
        spk_free(dir);
    }
    spk_free(tmp);
    return SPK_OK;

fail:
    if (f) fclose(f);
    unlink(tmp);
    spk_free(tmp);
    return st;
}
