/* checkpoint.c — spk's model format (model.spk) and training checkpoints: the resolved
 * experiment text, the input shape, the parameter arena, every population's per-neuron
 * parameters, optionally the optimizer state and the training position, and a CRC-32 over
 * all of it. Written atomically (temporary file, fflush, fsync, rename). Little-endian
 * hosts only (the format is the host's byte order; the magic detects a mismatch). */
#include "core/core.h"
#include "io/model_impl.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define MAGIC "SPKMODEL"
#define VERSION 1u
/* version 2 = version 1 plus, after the parameters, the buffers (spk_net_buffers: the norm
 * nodes' running statistics) as a u64 count and the floats; written only by models that
 * have buffers, so a model without them is byte-identical to version 1 */
#define VERSION_BUFFERS 2u

typedef struct wbuf {
    unsigned char *p;
    size_t len, cap;
    int oom;
} wbuf;

static void put(wbuf *b, const void *data, size_t n) {
    if (b->oom) return;
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 65536;
        while (cap < b->len + n) cap *= 2;
        unsigned char *np = spk_malloc(cap);
        if (!np) { b->oom = 1; return; }
        if (b->p) memcpy(np, b->p, b->len);
        spk_free(b->p);
        b->p = np;
        b->cap = cap;
    }
    memcpy(b->p + b->len, data, n);
    b->len += n;
}
static void put_u32(wbuf *b, uint32_t v) { put(b, &v, 4); }
static void put_u64(wbuf *b, uint64_t v) { put(b, &v, 8); }

spk_status spk_model_save(const char *path, const spk_experiment *e, int in_ndim, const int *in_dims, spk_net *net, spk_optim *opt,
                          const spk_train_state *ts) {
    if (!path || !e || !net || !in_dims || in_ndim < 1 || in_ndim > SPK_MAX_DIMS)
        return spk__fail(NULL, SPK_ERR_INVALID_ARG, "spk_model_save: missing argument");
    size_t np;
    float *params = spk_net_params(net, &np);
    if (!params) return spk__fail(NULL, SPK_ERR_STATE, "spk_model_save: the network is not built");
    char *yaml = spk_experiment_to_yaml(e);
    if (!yaml) return spk__fail(NULL, SPK_ERR_NOMEM, "spk_model_save: no memory");
    wbuf b = {0};
    size_t nbuf = 0;
    float *bufs = spk_net_buffers(net, &nbuf);
    put(&b, MAGIC, 8);
    put_u32(&b, nbuf ? VERSION_BUFFERS : VERSION);
    put_u32(&b, (uint32_t)in_ndim);
    for (int i = 0; i < SPK_MAX_DIMS; i++) put_u32(&b, i < in_ndim ? (uint32_t)in_dims[i] : 0);
    size_t ylen = strlen(yaml);
    put_u64(&b, ylen);
    put(&b, yaml, ylen);
    spk_free(yaml);
    put_u64(&b, np);
    put(&b, params, np * sizeof(float));
    if (nbuf) {
        put_u64(&b, nbuf);
        put(&b, bufs, nbuf * sizeof(float));
    }
    uint32_t npop = 0;
    for (int v = 0; v < spk_net_node_count(net); v++) npop += spk_net_neuron(net, v) != NULL;
    put_u32(&b, npop);
    for (int v = 0; v < spk_net_node_count(net); v++) {
        spk_neuron *nr = spk_net_neuron(net, v);
        if (!nr) continue;
        uint32_t mask = 0, N = (uint32_t)spk_neuron_size(nr);
        for (int p = 0; p < SPK_NP_COUNT; p++) mask |= spk_neuron_get_param(nr, (spk_neuron_param)p) ? 1u << p : 0;
        put_u32(&b, (uint32_t)v);
        put_u32(&b, N);
        put_u32(&b, mask);
        for (int p = 0; p < SPK_NP_COUNT; p++)
            if (mask & (1u << p)) put(&b, spk_neuron_get_param(nr, (spk_neuron_param)p), N * sizeof(float));
    }
    spk_train_state z = {0, 0, 0};
    const spk_train_state *t = ts ? ts : &z;
    put_u32(&b, ts != NULL);
    put_u64(&b, (uint64_t)t->epoch);
    put_u64(&b, (uint64_t)t->batch);
    put_u64(&b, (uint64_t)t->step);
    size_t on = 0;
    float *os = opt ? spk_optim_state(opt, &on) : NULL;
    put_u64(&b, os ? on : 0);
    if (os) put(&b, os, on * sizeof(float));
    uint32_t crc = b.oom ? 0 : (uint32_t)crc32_z(crc32_z(0L, Z_NULL, 0), b.p, b.len);
    put_u32(&b, crc);
    if (b.oom) {
        spk_free(b.p);
        return spk__fail(NULL, SPK_ERR_NOMEM, "spk_model_save: no memory for %s", path);
    }
    spk_status st = spk__write_atomic(path, b.p, b.len);
    spk_free(b.p);
    return st;
}

typedef struct rbuf {
    const unsigned char *p;
    size_t len, pos;
    const char *path;
    int bad;
} rbuf;

static int take(rbuf *r, void *out, size_t n) {
    if (r->bad || n > r->len - r->pos) {
        r->bad = 1;
        return -1;
    }
    memcpy(out, r->p + r->pos, n);
    r->pos += n;
    return 0;
}

spk_status spk_model_load(const char *path, spk_experiment **e_out, spk_net **net_out, int *readout, int *in_ndim,
                          int in_dims[SPK_MAX_DIMS], spk_train_state *ts, float **opt_state, size_t *opt_n) {
    if (!path || !e_out || !net_out || !readout || !in_ndim || !in_dims)
        return spk__fail(NULL, SPK_ERR_INVALID_ARG, "spk_model_load: missing argument");
    *e_out = NULL;
    *net_out = NULL;
    if (opt_state) *opt_state = NULL;
    if (opt_n) *opt_n = 0;
    unsigned char *data;
    size_t sz;
    spk_status st = spk__read_file(path, &data, &sz);
    if (st) return st;
    st = spk__model_load_mem(data, sz, path, e_out, net_out, readout, in_ndim, in_dims, ts, opt_state, opt_n);
    spk_free(data);
    return st;
}

spk_status spk__model_load_mem(const unsigned char *data, size_t sz, const char *path, spk_experiment **e_out,
                               spk_net **net_out, int *readout, int *in_ndim, int in_dims[SPK_MAX_DIMS],
                               spk_train_state *ts, float **opt_state, size_t *opt_n) {
    if (!data || !path || !e_out || !net_out || !readout || !in_ndim || !in_dims)
        return spk__fail(NULL, SPK_ERR_INVALID_ARG, "spk__model_load_mem: missing argument");
    *e_out = NULL;
    *net_out = NULL;
    if (opt_state) *opt_state = NULL;
    if (opt_n) *opt_n = 0;
    spk_status st = SPK_OK;
    spk_experiment *e = NULL;
    spk_net *net = NULL;
    if (sz < 8 + 4 + 4 || memcmp(data, MAGIC, 8) != 0) {
        st = spk__fail(NULL, SPK_ERR_FORMAT, "%s: not an spk model file (no SPKMODEL header)", path);
        goto done;
    }
    uint32_t stored;
    memcpy(&stored, data + sz - 4, 4);
    uint32_t crc = (uint32_t)crc32_z(crc32_z(0L, Z_NULL, 0), data, sz - 4);
    if (crc != stored) {
        st = spk__fail(NULL, SPK_ERR_FORMAT, "%s: checksum mismatch (CRC-32 %08x, stored %08x): the file is truncated or corrupted", path, crc,
                       stored);
        goto done;
    }
    rbuf r = {data, sz - 4, 8, path, 0};
    uint32_t version = 0, nd = 0, dims[SPK_MAX_DIMS] = {0};
    uint64_t ylen = 0;
    take(&r, &version, 4);
    if (version != VERSION && version != VERSION_BUFFERS) {
        st = spk__fail(NULL, SPK_ERR_FORMAT, "%s: format version %u, this spk reads versions %u and %u", path, version, VERSION, VERSION_BUFFERS);
        goto done;
    }
    take(&r, &nd, 4);
    for (int i = 0; i < SPK_MAX_DIMS; i++) take(&r, &dims[i], 4);
    take(&r, &ylen, 8);
    int dims_ok = 1;
    for (uint32_t i = 0; i < nd && i < SPK_MAX_DIMS; i++) dims_ok &= dims[i] >= 1 && dims[i] <= INT32_MAX;
    if (r.bad || nd < 1 || nd > SPK_MAX_DIMS || !dims_ok || ylen > r.len - r.pos) {
        st = spk__fail(NULL, SPK_ERR_FORMAT, "%s: malformed header", path);
        goto done;
    }
    char name[SPK_PATH_MAX + 32];
    snprintf(name, sizeof name, "%s (embedded experiment)", path);
    if ((st = spk_experiment_parse(&e, (const char *)r.p + r.pos, (size_t)ylen, name))) goto done;
    r.pos += ylen;
    *in_ndim = (int)nd;
    for (int i = 0; i < SPK_MAX_DIMS; i++) in_dims[i] = (int)dims[i];
    if ((st = spk_experiment_build_net(e, (int)nd, in_dims, &net, readout))) goto done;
    size_t np;
    float *params = spk_net_params(net, &np);
    uint64_t fnp = 0;
    take(&r, &fnp, 8);
    if (r.bad || fnp != np) {
        st = spk__fail(NULL, SPK_ERR_FORMAT, "%s: %llu parameters stored, the network has %zu", path, (unsigned long long)fnp, np);
        goto done;
    }
    take(&r, params, np * sizeof(float));
    /* NaN or Inf cannot come out of training (the optimizer refuses non-finite gradients):
     * such a value is damage, and a learnable neuron parameter would carry it past the
     * per-population checks below */
    for (size_t i = 0; i < np && !r.bad; i++) {
        if (!isfinite(params[i])) {
            st = spk__fail(NULL, SPK_ERR_FORMAT, "%s: parameter %zu of %zu is %s: the model is damaged", path, i, np,
                           isnan(params[i]) ? "NaN" : "infinite");
            goto done;
        }
    }
    size_t nbuf = 0;
    float *bufs = spk_net_buffers(net, &nbuf);
    uint64_t fnb = 0;
    if (version == VERSION_BUFFERS) take(&r, &fnb, 8);
    if (r.bad || fnb != nbuf) {
        st = spk__fail(NULL, SPK_ERR_FORMAT, "%s: %llu buffer values (running statistics) stored, the network has %zu", path,
                       (unsigned long long)fnb, nbuf);
        goto done;
    }
    if (nbuf) take(&r, bufs, nbuf * sizeof(float));
    for (size_t i = 0; i < nbuf && !r.bad; i++) {
        if (!isfinite(bufs[i])) {
            st = spk__fail(NULL, SPK_ERR_FORMAT, "%s: buffer value %zu of %zu is not finite: the model is damaged", path, i, nbuf);
            goto done;
        }
    }
    uint32_t npop = 0;
    take(&r, &npop, 4);
    for (uint32_t k = 0; k < npop && !r.bad; k++) {
        uint32_t v = 0, N = 0, mask = 0;
        take(&r, &v, 4);
        take(&r, &N, 4);
        take(&r, &mask, 4);
        spk_neuron *nr = r.bad ? NULL : spk_net_neuron(net, (int)v);
        if (!nr || (uint32_t)spk_neuron_size(nr) != N) {
            st = spk__fail(NULL, SPK_ERR_FORMAT, "%s: population %u does not match the network", path, v);
            goto done;
        }
        for (int p = 0; p < SPK_NP_COUNT; p++) {
            if (!(mask & (1u << p))) continue;
            float *vals = spk_malloc((size_t)N * sizeof(float));
            if (!vals) { st = spk__fail(NULL, SPK_ERR_NOMEM, "%s: no memory", path); goto done; }
            take(&r, vals, (size_t)N * sizeof(float));
            if (!r.bad && (st = spk_neuron_set_param(nr, (spk_neuron_param)p, vals, (int)N))) {
                spk_free(vals);
                st = spk__fail(NULL, st, "%s: population '%s': %s", path, spk_net_node_name(net, (int)v), spk_errmsg(nr));
                goto done;
            }
            spk_free(vals);
        }
    }
    uint32_t has_ts = 0;
    uint64_t epoch = 0, batch = 0, step = 0, on = 0;
    take(&r, &has_ts, 4);
    take(&r, &epoch, 8);
    take(&r, &batch, 8);
    take(&r, &step, 8);
    take(&r, &on, 8);
    if (r.bad || on > (r.len - r.pos) / sizeof(float) || epoch > INT32_MAX || batch > INT32_MAX || step > INT64_MAX) {
        st = spk__fail(NULL, SPK_ERR_FORMAT, "%s: malformed training state", path);
        goto done;
    }
    if (ts) {
        ts->epoch = (int64_t)epoch;
        ts->batch = (int64_t)batch;
        ts->step = (int64_t)step;
    }
    if (on && opt_state) {
        *opt_state = spk_malloc((size_t)on * sizeof(float));
        if (!*opt_state) { st = spk__fail(NULL, SPK_ERR_NOMEM, "%s: no memory", path); goto done; }
        take(&r, *opt_state, (size_t)on * sizeof(float));
        if (opt_n) *opt_n = (size_t)on;
    } else {
        r.pos += (size_t)on * sizeof(float);
    }
    if (r.bad || r.pos != r.len) {
        st = spk__fail(NULL, SPK_ERR_FORMAT, "%s: %s", path, r.bad ? "truncated" : "trailing bytes after the training state");
        goto done;
    }
    spk_net_params_changed(net);
done:
    if (st) {
        spk_experiment_free(e);
        spk_net_free(net);
        if (opt_state && *opt_state) {
            spk_free(*opt_state);
            *opt_state = NULL;
        }
        if (opt_n) *opt_n = 0;
        return st;
    }
    *e_out = e;
    *net_out = net;
    return SPK_OK;
}
