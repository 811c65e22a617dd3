/* fixed_io.c — the quantized model file (model.spkq): what spk quantize writes and spk
 * export --to c reads. Layout (little-endian, every integer in the host's order, as
 * model.spk; docs/deploy.md lists it):
 *   "SPKQUANT" u32 version(1)
 *   u64 yaml_len, the resolved experiment as YAML (0 bytes when none)
 *   i32 weight_bits, per_channel, state_bits, input_bits, in_ndim, in_dims[4]
 *   f64 s_in, i32 in_lo, in_hi, i32 n_layers
 *   per layer: char dense_name[64], pop_name[64]; i32 in, out, acc64, shift, fire, reset,
 *              timing, d, thr, vreset; f64 s_state, s_w_max, calib_max;
 *              i16 w[in*out] ([in][out]), i32 mult[out], i32 bias[out]
 *   u32 CRC-32 (zlib) of everything before it.
 * Written atomically (spk__write_atomic). Deliberately not here: the arithmetic (fixed.c). */
#include "engine/fixed_impl.h"

#include <stdio.h>
#include <string.h>
#include <zlib.h>

#define QMAGIC "SPKQUANT"
#define QVERSION 1u

typedef struct qbuf {
    unsigned char *p;
    size_t len, cap;
    int oom;
} qbuf;

static void put(qbuf *b, const void *d, size_t n) {
    if (b->oom || !n) return;
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
    memcpy(b->p + b->len, d, n);
    b->len += n;
}
static void put_i32(qbuf *b, int32_t v) { put(b, &v, 4); }
static void put_f64(qbuf *b, double v) { put(b, &v, 8); }

spk_status spk_qmodel_save(const char *path, const spk_qmodel *q, const spk_experiment *e) {
    if (!path || !q) return spk__fail(NULL, SPK_ERR_INVALID_ARG, "spk_qmodel_save: missing argument");
    char *yaml = e ? spk_experiment_to_yaml(e) : NULL;
    if (e && !yaml) return spk__fail(NULL, SPK_ERR_NOMEM, "spk_qmodel_save: no memory");
    qbuf b = {0};
    put(&b, QMAGIC, 8);
    uint32_t ver = QVERSION;
    put(&b, &ver, 4);
    uint64_t yl = yaml ? strlen(yaml) : 0;
    put(&b, &yl, 8);
    put(&b, yaml, yl);
    spk_free(yaml);
    put_i32(&b, q->weight_bits);
    put_i32(&b, q->per_channel);
    put_i32(&b, q->state_bits);
    put_i32(&b, q->input_bits);
    put_i32(&b, q->in_ndim);
    for (int k = 0; k < SPK_MAX_DIMS; k++) put_i32(&b, q->in_dims[k]);
    put_f64(&b, q->s_in);
    put_i32(&b, q->in_lo);
    put_i32(&b, q->in_hi);
    put_i32(&b, q->n_layers);
    for (int l = 0; l < q->n_layers; l++) {
        const spk__qlayer *L = &q->layers[l];
        put(&b, L->dense_name, SPK__QNAME);
        put(&b, L->pop_name, SPK__QNAME);
        int32_t iv[10] = {L->in, L->out, L->acc64, L->shift, L->fire, L->reset, L->timing, L->d, L->thr, L->vreset};
        put(&b, iv, sizeof iv);
        put_f64(&b, L->s_state);
        put_f64(&b, L->s_w_max);
        put_f64(&b, L->calib_max);
        put(&b, L->w, sizeof(int16_t) * (size_t)L->in * (size_t)L->out);
        put(&b, L->mult, sizeof(int32_t) * (size_t)L->out);
        put(&b, L->bias, sizeof(int32_t) * (size_t)L->out);
    }
    uint32_t crc = b.oom ? 0 : (uint32_t)crc32_z(crc32_z(0L, Z_NULL, 0), b.p, b.len);
    put(&b, &crc, 4);
    if (b.oom) {
        spk_free(b.p);
        return spk__fail(NULL, SPK_ERR_NOMEM, "spk_qmodel_save: no memory for %s", path);
    }
    spk_status st = spk__write_atomic(path, b.p, b.len);
    spk_free(b.p);
    return st;
}

typedef struct rd {
    const unsigned char *p;
    size_t len, pos;
    int bad;
} rd;
static int take(rd *r, void *out, size_t n) {
    if (r->bad || r->pos > r->len || n > r->len - r->pos) { /* pos may have been skipped past the end */
        r->bad = 1;
        if (out && n) memset(out, 0, n);
        return -1;
    }
    if (n) memcpy(out, r->p + r->pos, n);
    r->pos += n;
    return 0;
}
static int32_t get_i32(rd *r) { int32_t v; take(r, &v, 4); return v; }
static double get_f64(rd *r) { double v; take(r, &v, 8); return v; }

spk_status spk__qmodel_alloc(spk_qmodel **out, int n_layers, const int *in, const int *outn);
spk_status spk__qmodel_check(spk_qmodel *q, const char *what);

static spk_status parse(const unsigned char *data, size_t sz, const char *path, spk_qmodel **out, spk_experiment **e_out) {
    if (sz < 16 || memcmp(data, QMAGIC, 8)) return spk__fail(NULL, SPK_ERR_FORMAT, "%s: not a quantized spk model (no SPKQUANT header)", path);
    uint32_t stored, crc = (uint32_t)crc32_z(crc32_z(0L, Z_NULL, 0), data, sz - 4);
    memcpy(&stored, data + sz - 4, 4);
    if (crc != stored)
        return spk__fail(NULL, SPK_ERR_FORMAT, "%s: checksum mismatch (CRC-32 %08x, stored %08x): the file is truncated or corrupted", path, crc, stored);
    rd r = {data, sz - 4, 8, 0};
    uint32_t ver;
    take(&r, &ver, 4);
    if (ver != QVERSION) return spk__fail(NULL, SPK_ERR_FORMAT, "%s: quantized model version %u (this spk reads %u)", path, ver, QVERSION);
    uint64_t yl;
    take(&r, &yl, 8);
    if (r.bad || yl > r.len - r.pos) return spk__fail(NULL, SPK_ERR_FORMAT, "%s: experiment text of %llu bytes runs past the end", path, (unsigned long long)yl);
    const char *yaml = (const char *)data + r.pos;
    r.pos += yl;
    int32_t hdr[9];
    for (int k = 0; k < 9; k++) hdr[k] = get_i32(&r);
    double s_in = get_f64(&r);
    int32_t in_lo = get_i32(&r), in_hi = get_i32(&r), nl = get_i32(&r);
    if (r.bad || nl < 1 || nl > 64 || hdr[0] < 4 || hdr[0] > 16 || (hdr[2] != 16 && hdr[2] != 32) || hdr[4] < 1 || hdr[4] > SPK_MAX_DIMS ||
        !(s_in > 0) || in_lo > in_hi || in_lo < -32768 || in_hi > 32767)
        return spk__fail(NULL, SPK_ERR_FORMAT, "%s: bad quantized model header (layers %d, weight bits %d, state bits %d)", path, nl, hdr[0], hdr[2]);
    /* first pass: the layer sizes */
    int ins[64], outs[64];
    size_t save = r.pos;
    for (int l = 0; l < nl; l++) {
        if (2 * SPK__QNAME > r.len - r.pos) return spk__fail(NULL, SPK_ERR_FORMAT, "%s: layer %d runs past the end of the file", path, l);
        r.pos += 2 * SPK__QNAME;
        int32_t iv[10];
        take(&r, iv, sizeof iv);
        if (r.bad || iv[0] < 1 || iv[1] < 1 || (l > 0 && iv[0] != outs[l - 1]) || (uint64_t)iv[0] * (uint64_t)iv[1] > ((uint64_t)1 << 31))
            return spk__fail(NULL, SPK_ERR_FORMAT, "%s: layer %d: bad sizes", path, l);
        ins[l] = iv[0];
        outs[l] = iv[1];
        size_t skip = 24 + 2 * (size_t)iv[0] * iv[1] + 8 * (size_t)iv[1];
        if (skip > r.len - r.pos) return spk__fail(NULL, SPK_ERR_FORMAT, "%s: layer %d runs past the end of the file", path, l);
        r.pos += skip;
    }
    if (r.pos != r.len) return spk__fail(NULL, SPK_ERR_FORMAT, "%s: %zu unexpected bytes after the last layer", path, r.len - r.pos);
    r.pos = save;
    spk_qmodel *q;
    spk_status st = spk__qmodel_alloc(&q, nl, ins, outs);
    if (st) return st;
    q->weight_bits = hdr[0];
    q->per_channel = hdr[1];
    q->state_bits = hdr[2];
    q->input_bits = hdr[3];
    q->in_ndim = hdr[4];
    for (int k = 0; k < SPK_MAX_DIMS; k++) q->in_dims[k] = hdr[5 + k];
    q->s_in = s_in;
    q->in_lo = in_lo;
    q->in_hi = in_hi;
    const char *bad = NULL;
    for (int l = 0; l < nl && !bad; l++) {
        spk__qlayer *L = &q->layers[l];
        take(&r, L->dense_name, SPK__QNAME);
        take(&r, L->pop_name, SPK__QNAME);
        L->dense_name[SPK__QNAME - 1] = L->pop_name[SPK__QNAME - 1] = 0;
        int32_t iv[10];
        take(&r, iv, sizeof iv);
        L->acc64 = iv[2];
        L->shift = iv[3];
        L->fire = iv[4];
        L->reset = iv[5];
        L->timing = iv[6];
        L->d = iv[7];
        L->thr = iv[8];
        L->vreset = iv[9];
        L->s_state = get_f64(&r);
        L->s_w_max = get_f64(&r);
        L->calib_max = get_f64(&r);
        take(&r, L->w, sizeof(int16_t) * (size_t)L->in * L->out);
        take(&r, L->mult, sizeof(int32_t) * (size_t)L->out);
        take(&r, L->bias, sizeof(int32_t) * (size_t)L->out);
        if (L->shift < 0 || L->shift > 62) bad = "shift";
        else if (L->fire != 0 && L->fire != 1) bad = "fire";
        else if (L->reset != SPK_RESET_SOFT && L->reset != SPK_RESET_HARD && L->reset != SPK_RESET_HARD_ALL && L->reset != SPK_RESET_NONE) bad = "reset";
        else if (L->timing != SPK_TIMING_DELAYED && L->timing != SPK_TIMING_SAME_STEP) bad = "timing";
        else if (L->d < 0 || L->d > 4096) bad = "decay";
        else if (L->acc64 != 0 && L->acc64 != 1) bad = "accumulator";
        else if (!(L->s_state > 0)) bad = "state scale";
        if (bad) {
            st = spk__fail(NULL, SPK_ERR_FORMAT, "%s: layer %d ('%s'): bad %s", path, l, L->pop_name, bad);
        }
    }
    if (!bad && r.bad) st = spk__fail(NULL, SPK_ERR_FORMAT, "%s: truncated", path);
    if (!st) st = spk__qmodel_check(q, path);
    if (!st && e_out) {
        *e_out = NULL;
        if (yl) {
            char name[SPK_PATH_MAX + 32];
            snprintf(name, sizeof name, "%s (embedded experiment)", path);
            st = spk_experiment_parse(e_out, yaml, (size_t)yl, name);
        }
    }
    if (st) {
        spk_qmodel_free(q);
        return st;
    }
    *out = q;
    return SPK_OK;
}

spk_status spk__qmodel_load_mem(const unsigned char *data, size_t sz, const char *name, spk_qmodel **out, spk_experiment **e) {
    if (!data || !name || !out) return spk__fail(NULL, SPK_ERR_INVALID_ARG, "spk__qmodel_load_mem: missing argument");
    *out = NULL;
    if (e) *e = NULL;
    return parse(data, sz, name, out, e);
}

spk_status spk_qmodel_load(const char *path, spk_qmodel **out, spk_experiment **e) {
    if (!path || !out) return spk__fail(NULL, SPK_ERR_INVALID_ARG, "spk_qmodel_load: missing argument");
    *out = NULL;
    if (e) *e = NULL;
    unsigned char *data;
    size_t sz;
    spk_status st = spk__read_file(path, &data, &sz);
    if (st) return st;
    st = parse(data, sz, path, out, e);
    spk_free(data);
    return st;
}
