/* nir.c — reading and writing NIR files (the Neuromorphic Intermediate Representation, HDF5)
 * into and from spk's network graph.
 *
 * Reading walks the file's graph (nested NIRGraph nodes are flattened, their member names
 * joined with '.'), maps every primitive onto spk nodes, discretizes the continuous-time
 * neurons with the step `dt` (forward Euler or the exponential integrator; docs/nir.md has
 * the formulas), connects the edges (a cycle delivers on the next step) and builds the
 * network. Both layouts of the reference implementation are read: a `version` string, the
 * graph under `node`, parameters as float32/float64 datasets (gzip-compressed and chunked in
 * newer files), scalar or pair integer fields, padding as numbers or "same"/"valid", edges as
 * an (E, 2) string dataset or an empty array, neurons without `v_reset`.
 *
 * Writing maps each spk node onto one NIR primitive and adds, under each node's `metadata`,
 * spk's exact configuration (reset kind and timing, decays and thresholds as float32), which
 * the reader prefers when present: spk -> NIR -> spk is bit-exact, while other tools read
 * the standard fields.
 *
 * Deliberately not here: running the graph (net/), the model file (checkpoint.c). A file is
 * untrusted input: every field is checked and a malformed or truncated file is refused with
 * a message naming the file, the node and the field. */
#define _POSIX_C_SOURCE 200809L /* getpid */
#include "core/core.h"
#include "io/nir_impl.h"
#include "net/net_impl.h"

#include <fcntl.h>
#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NAME_MAX_ 64
#define MAX_NODES 100000
#define MAX_DEPTH 16

static const char *const method_names[SPK_NIR_METHOD_COUNT] = {"euler", "exp"};

const char *spk_nir_method_name(spk_nir_method m) { return (int)m >= 0 && m < SPK_NIR_METHOD_COUNT ? method_names[m] : NULL; }

int spk_nir_method_from_name(const char *s) {
    for (int i = 0; s && i < SPK_NIR_METHOD_COUNT; i++)
        if (!strcmp(s, method_names[i])) return i;
    spk__fail(NULL, SPK_ERR_INVALID_ARG, "unknown discretization '%s' (euler or exp)", s ? s : "(null)");
    return -1;
}

spk_nir_options spk_nir_options_default(void) {
    spk_nir_options o = {1e-4, SPK_NIR_EULER};
    return o;
}

static spk_status check_opts(const spk_nir_options *o) {
    if (!(o->dt > 0 && isfinite(o->dt))) return spk__fail(NULL, SPK_ERR_INVALID_ARG, "NIR: dt = %g s must be a positive number", o->dt);
    if ((int)o->method < 0 || o->method >= SPK_NIR_METHOD_COUNT)
        return spk__fail(NULL, SPK_ERR_INVALID_ARG, "NIR: discretization %d is not euler (0) or exp (1)", (int)o->method);
    return SPK_OK;
}

/* ======================================================================================
 * HDF5 helpers (reading)
 * ====================================================================================== */

typedef struct arr {
    double *v;
    int ndim;
    size_t dims[8], n;
} arr;

static void arr_free(arr *a) {
    spk_free(a->v);
    memset(a, 0, sizeof *a);
}

static int has(hid_t g, const char *name) { return H5Lexists(g, name, H5P_DEFAULT) > 0; }

/* the reader's context: file name, options, and where we are for messages */
typedef struct rd {
    const char *file;
    spk_nir_options opt;
    char where[160]; /* "node 'x' (LIF)" */
    const unsigned char *img; /* the file's bytes (for the checks HDF5 does not make) */
    size_t img_n;
    int so, sl;               /* the superblock's sizes of offsets and lengths (0: unknown) */
} rd;

static uint64_t le(const unsigned char *p, int n) {
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--) v = v << 8 | p[i];
    return v;
}

/* HDF5 1.10 copies a variable-length string out of its global-heap collection without
 * checking the object against the collection (a crash on a damaged file). Before such a
 * read, check each element of a contiguous dataset: its heap object must exist, lie inside
 * its "GCOL" collection, which lies inside the file, and hold the string's length. */
static int vlen_ok(const rd *r, hid_t d, size_t n) {
    /* a variable-length string's characters are one byte (a damaged type says otherwise,
     * and HDF5 then allocates length x that size for each string) */
    hid_t ft = H5Dget_type(d), sup = ft >= 0 ? H5Tget_super(ft) : -1;
    size_t csz = sup >= 0 ? H5Tget_size(sup) : 1;
    if (sup >= 0) H5Tclose(sup);
    if (ft >= 0) H5Tclose(ft);
    if (csz != 1) return 0;
    if (!r->img || !r->so || !r->sl) return 1;
    haddr_t off = H5Dget_offset(d);
    if (off == HADDR_UNDEF) return 1; /* compact or not allocated: nothing to locate */
    size_t es = 4 + (size_t)r->so + 4;
    if (off > r->img_n || n > (r->img_n - off) / es) return 0;
    for (size_t k = 0; k < n; k++) {
        const unsigned char *e = r->img + off + k * es;
        uint64_t len = le(e, 4), addr = le(e + 4, r->so), idx = le(e + 4 + r->so, 4);
        if (len == 0 && addr == 0) continue;
        size_t hdr = 8 + (size_t)r->sl;
        if (addr > r->img_n || r->img_n - addr < hdr || memcmp(r->img + addr, "GCOL", 4) || r->img[addr + 4] != 1) return 0;
        uint64_t csize = le(r->img + addr + 8, r->sl);
        if (csize < hdr || csize > r->img_n - addr) return 0;
        /* walk every object as HDF5 will when it loads the collection (it loops forever on
         * an object that takes no room, and reads past one that overruns) */
        uint64_t pos = hdr, oh = 8 + (uint64_t)r->sl, found = 0;
        while (pos < csize) {
            if (pos + oh > csize) break; /* a tail too small for a header: free space */
            const unsigned char *o = r->img + addr + pos;
            uint64_t oi = le(o, 2), sz = le(o + 8, r->sl);
            if (sz > csize) return 0;
            uint64_t need = oi ? oh + ((sz + 7) & ~(uint64_t)7) : sz;
            if (need < oh || need > csize - pos) return 0;
            if (oi && oi == idx) found = sz >= len;
            pos += need;
        }
        if (!found) return 0;
    }
    return 1;
}

#define RFAIL(r, st, ...) rfail(r, st, __VA_ARGS__)
static spk_status rfail(rd *r, spk_status st, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static spk_status rfail(rd *r, spk_status st, const char *fmt, ...) {
    char msg[SPK__ERRMSG_LEN];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return spk__fail(NULL, st, "%s: %s%s%s", r->file, r->where, r->where[0] ? ": " : "", msg);
}

/* HDF5 1.10 reads a compact dataset whose stored bytes are fewer than its shape needs from
 * a NULL buffer (a crash): such a dataset (and a too small contiguous one) is refused before
 * reading. Chunked data and unallocated storage (fill values) are HDF5's to check. */
static int stored_enough(hid_t d, hid_t ft, size_t n) {
    hid_t pl = H5Dget_create_plist(d);
    H5D_layout_t layout = pl >= 0 ? H5Pget_layout(pl) : H5D_LAYOUT_ERROR;
    if (pl >= 0) H5Pclose(pl);
    size_t tsize = H5Tget_size(ft);
    hsize_t stored = H5Dget_storage_size(d);
    if (layout == H5D_LAYOUT_ERROR || tsize == 0 || n > (hsize_t)-1 / tsize) return 0;
    return !(stored < (hsize_t)n * tsize && (layout == H5D_COMPACT || (layout == H5D_CONTIGUOUS && stored > 0)));
}

/* Read a string dataset (scalar or one element; variable or fixed length). */
static spk_status read_str(rd *r, hid_t g, const char *name, char *buf, size_t cap) {
    hid_t d = H5Dopen2(g, name, H5P_DEFAULT);
    if (d < 0) return RFAIL(r, SPK_ERR_FORMAT, "field '%s' is missing", name);
    hid_t ft = H5Dget_type(d), sp = H5Dget_space(d);
    spk_status st = SPK_OK;
    hssize_t np = sp >= 0 ? H5Sget_simple_extent_npoints(sp) : -1;
    if (ft < 0 || H5Tget_class(ft) != H5T_STRING || np != 1) {
        st = RFAIL(r, SPK_ERR_FORMAT, "field '%s' is not a string", name);
    } else if (!stored_enough(d, ft, 1)) {
        st = RFAIL(r, SPK_ERR_FORMAT, "field '%s' is corrupt", name);
    } else if (H5Tis_variable_str(ft) > 0) {
        hid_t mt = H5Tcopy(H5T_C_S1);
        H5Tset_size(mt, H5T_VARIABLE);
        H5Tset_cset(mt, H5Tget_cset(ft));
        char *p = NULL;
        if (!vlen_ok(r, d, 1)) st = RFAIL(r, SPK_ERR_FORMAT, "field '%s' is corrupt (its string is not where the file says)", name);
        else if (H5Dread(d, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, &p) < 0 || !p) st = RFAIL(r, SPK_ERR_FORMAT, "field '%s' cannot be read", name);
        else snprintf(buf, cap, "%s", p);
        if (p) H5Dvlen_reclaim(mt, sp, H5P_DEFAULT, &p);
        H5Tclose(mt);
    } else {
        size_t sz = H5Tget_size(ft);
        char *tmp = sz > 0 && sz < (1u << 20) ? spk_calloc(sz + 1, 1) : NULL;
        hid_t mt = H5Tcopy(H5T_C_S1);
        H5Tset_size(mt, sz ? sz : 1);
        if (!tmp || H5Dread(d, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, tmp) < 0) st = RFAIL(r, SPK_ERR_FORMAT, "field '%s' cannot be read", name);
        else snprintf(buf, cap, "%s", tmp);
        spk_free(tmp);
        H5Tclose(mt);
    }
    if (ft >= 0) H5Tclose(ft);
    if (sp >= 0) H5Sclose(sp);
    H5Dclose(d);
    return st;
}

static int is_string(hid_t g, const char *name) {
    hid_t d = H5Dopen2(g, name, H5P_DEFAULT);
    if (d < 0) return 0;
    hid_t ft = H5Dget_type(d);
    int s = ft >= 0 && H5Tget_class(ft) == H5T_STRING;
    if (ft >= 0) H5Tclose(ft);
    H5Dclose(d);
    return s;
}

/* Read a numeric dataset (any integer or float type) as doubles. */
static spk_status read_arr(rd *r, hid_t g, const char *name, arr *a) {
    memset(a, 0, sizeof *a);
    hid_t d = H5Dopen2(g, name, H5P_DEFAULT);
    if (d < 0) return RFAIL(r, SPK_ERR_FORMAT, "field '%s' is missing", name);
    hid_t ft = H5Dget_type(d), sp = H5Dget_space(d);
    spk_status st = SPK_OK;
    H5T_class_t cls = ft >= 0 ? H5Tget_class(ft) : H5T_NO_CLASS;
    int nd = sp >= 0 ? H5Sget_simple_extent_ndims(sp) : -1;
    if (cls != H5T_INTEGER && cls != H5T_FLOAT) {
        st = RFAIL(r, SPK_ERR_FORMAT, "field '%s' is not numeric", name);
    } else if (nd < 0 || nd > 8) {
        st = RFAIL(r, SPK_ERR_FORMAT, "field '%s' has %d dimensions", name, nd);
    } else {
        hsize_t hd[8] = {0};
        H5Sget_simple_extent_dims(sp, hd, NULL);
        size_t n = 1;
        for (int i = 0; i < nd; i++) {
            if (hd[i] > ((size_t)1 << 31) || (hd[i] && n > ((size_t)1 << 31) / hd[i])) {
                n = 0;
                st = RFAIL(r, SPK_ERR_FORMAT, "field '%s' is too large", name);
                break;
            }
            n *= (size_t)hd[i];
            a->dims[i] = (size_t)hd[i];
        }
        a->ndim = nd;
        a->n = st ? 0 : n;
        if (!st && n && !stored_enough(d, ft, n)) st = RFAIL(r, SPK_ERR_FORMAT, "field '%s' is corrupt (fewer bytes stored than its shape needs)", name);
        if (!st && n) {
            a->v = spk_malloc(n * sizeof(double));
            if (!a->v) st = RFAIL(r, SPK_ERR_NOMEM, "no memory for field '%s' (%zu values)", name, n);
            else if (H5Dread(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, a->v) < 0)
                st = RFAIL(r, SPK_ERR_FORMAT, "field '%s' cannot be read (truncated or corrupted data)", name);
            for (size_t i = 0; !st && i < n; i++)
                if (!isfinite(a->v[i])) st = RFAIL(r, SPK_ERR_FORMAT, "field '%s'[%zu] = %g is not finite", name, i, a->v[i]);
        }
    }
    if (ft >= 0) H5Tclose(ft);
    if (sp >= 0) H5Sclose(sp);
    H5Dclose(d);
    if (st) arr_free(a);
    return st;
}

/* An integer field given as a scalar or as a vector of `want` values (a scalar broadcasts). */
static spk_status read_ints(rd *r, hid_t g, const char *name, int want, int lo, int *out, int dflt) {
    if (!has(g, name)) {
        if (dflt == -999) return RFAIL(r, SPK_ERR_FORMAT, "field '%s' is missing", name);
        for (int i = 0; i < want; i++) out[i] = dflt;
        return SPK_OK;
    }
    arr a;
    spk_status st = read_arr(r, g, name, &a);
    if (st) return st;
    if (!(a.n == 1 || (int)a.n == want)) st = RFAIL(r, SPK_ERR_FORMAT, "field '%s' has %zu values, expected 1 or %d", name, a.n, want);
    for (int i = 0; !st && i < want; i++) {
        double v = a.v[a.n == 1 ? 0 : i];
        if (v != floor(v) || v < lo || v > 1e9) st = RFAIL(r, SPK_ERR_FORMAT, "field '%s' = %g must be an integer >= %d", name, v, lo);
        else out[i] = (int)v;
    }
    arr_free(&a);
    return st;
}

/* ======================================================================================
 * The flattened graph of a file
 * ====================================================================================== */

enum { ROLE_PRIM = 0, ROLE_IDENT, ROLE_INPUT, ROLE_OUTPUT };

typedef struct nnode {
    char name[NAME_MAX_];  /* flattened name ("rnn.lif") */
    char type[32];
    char path[1024];       /* HDF5 path of its group */
    int role;
    int first, last;       /* spk nodes: edges come in at `first`, leave from `last` */
    long order;            /* creation order: spk's node index when spk wrote the file */
} nnode;

typedef struct nedge {
    int from, to;
} nedge;

typedef struct ngraph {
    nnode *nodes;
    int n, cap;
    nedge *edges;
    int ne, cap_e;
} ngraph;

static int add_nnode(ngraph *G) {
    if (G->n == G->cap) {
        int cap = G->cap ? 2 * G->cap : 32;
        nnode *nn = spk_calloc((size_t)cap, sizeof *nn);
        if (!nn) return -1;
        if (G->nodes) memcpy(nn, G->nodes, (size_t)G->n * sizeof *nn);
        spk_free(G->nodes);
        G->nodes = nn;
        G->cap = cap;
    }
    memset(&G->nodes[G->n], 0, sizeof(nnode));
    G->nodes[G->n].first = G->nodes[G->n].last = -1;
    return G->n++;
}

static int add_nedge(ngraph *G, int from, int to) {
    for (int e = 0; e < G->ne; e++)
        if (G->edges[e].from == from && G->edges[e].to == to) return 0;
    if (G->ne == G->cap_e) {
        int cap = G->cap_e ? 2 * G->cap_e : 32;
        nedge *ne = spk_calloc((size_t)cap, sizeof *ne);
        if (!ne) return -1;
        if (G->edges) memcpy(ne, G->edges, (size_t)G->ne * sizeof *ne);
        spk_free(G->edges);
        G->edges = ne;
        G->cap_e = cap;
    }
    G->edges[G->ne++] = (nedge){from, to};
    return 0;
}

static int find_nnode(const ngraph *G, const char *name) {
    for (int i = 0; i < G->n; i++)
        if (!strcmp(G->nodes[i].name, name)) return i;
    return -1;
}

/* Read the edge list of a graph group: pairs of names (empty when the dataset has no
 * elements). *names is spk_malloc'd, 2*E strings of NAME_MAX_ bytes. */
static spk_status read_edges(rd *r, hid_t g, char **names, int *E) {
    *names = NULL;
    *E = 0;
    if (!has(g, "edges")) return RFAIL(r, SPK_ERR_FORMAT, "the graph has no 'edges' field");
    hid_t d = H5Dopen2(g, "edges", H5P_DEFAULT);
    if (d < 0) return RFAIL(r, SPK_ERR_FORMAT, "'edges' is not a dataset");
    hid_t ft = H5Dget_type(d), sp = H5Dget_space(d);
    spk_status st = SPK_OK;
    hssize_t np = sp >= 0 ? H5Sget_simple_extent_npoints(sp) : -1;
    int nd = sp >= 0 ? H5Sget_simple_extent_ndims(sp) : -1;
    hsize_t hd[8] = {0};
    if (nd >= 0 && nd <= 8) H5Sget_simple_extent_dims(sp, hd, NULL);
    if (np == 0) {
        /* no edges: an empty array of any type */
    } else if (ft < 0 || H5Tget_class(ft) != H5T_STRING || nd != 2 || hd[1] != 2 || np < 0 || np > 2 * MAX_NODES) {
        st = RFAIL(r, SPK_ERR_FORMAT, "'edges' must be an (E, 2) array of node names");
    } else if (!stored_enough(d, ft, (size_t)np)) {
        st = RFAIL(r, SPK_ERR_FORMAT, "'edges' is corrupt");
    } else {
        size_t n = (size_t)np;
        char *out = spk_calloc(n, NAME_MAX_);
        if (!out) st = RFAIL(r, SPK_ERR_NOMEM, "no memory for %zu edges", n / 2);
        else if (H5Tis_variable_str(ft) > 0) {
            char **p = spk_calloc(n, sizeof(char *));
            hid_t mt = H5Tcopy(H5T_C_S1);
            H5Tset_size(mt, H5T_VARIABLE);
            H5Tset_cset(mt, H5Tget_cset(ft));
            if (!p) st = RFAIL(r, SPK_ERR_NOMEM, "no memory for %zu edges", n / 2);
            else if (!vlen_ok(r, d, n)) st = RFAIL(r, SPK_ERR_FORMAT, "'edges' is corrupt (a name is not where the file says)");
            else if (H5Dread(d, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, p) < 0) st = RFAIL(r, SPK_ERR_FORMAT, "'edges' cannot be read");
            for (size_t i = 0; !st && i < n; i++) {
                if (!p[i] || strlen(p[i]) >= NAME_MAX_) st = RFAIL(r, SPK_ERR_FORMAT, "edge %zu: a node name is missing or longer than %d characters", i / 2, NAME_MAX_ - 1);
                else snprintf(out + i * NAME_MAX_, NAME_MAX_, "%s", p[i]);
            }
            if (p) {
                H5Dvlen_reclaim(mt, sp, H5P_DEFAULT, p);
                spk_free(p);
            }
            H5Tclose(mt);
        } else {
            size_t sz = H5Tget_size(ft);
            char *tmp = sz > 0 && sz < NAME_MAX_ ? spk_calloc(n, sz) : NULL;
            hid_t mt = H5Tcopy(H5T_C_S1);
            H5Tset_size(mt, sz ? sz : 1);
            H5Tset_strpad(mt, H5T_STR_NULLPAD);
            if (!tmp || H5Dread(d, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, tmp) < 0) st = RFAIL(r, SPK_ERR_FORMAT, "'edges' cannot be read");
            for (size_t i = 0; !st && i < n; i++) memcpy(out + i * NAME_MAX_, tmp + i * sz, sz);
            spk_free(tmp);
            H5Tclose(mt);
        }
        if (st) spk_free(out);
        else {
            *names = out;
            *E = (int)(n / 2);
        }
    }
    if (ft >= 0) H5Tclose(ft);
    if (sp >= 0) H5Sclose(sp);
    H5Dclose(d);
    return st;
}

/* Collect the nodes and edges of the graph group at `path` (prefix "" at the top). A nested
 * graph's Input and Output become identity nodes; edges naming the nested graph go to its
 * Input / come from its Output. */
static spk_status collect(rd *r, hid_t file, const char *path, const char *prefix, int depth, ngraph *G) {
    if (depth > MAX_DEPTH) return RFAIL(r, SPK_ERR_FORMAT, "graphs nested deeper than %d levels", MAX_DEPTH);
    char p[1100];
    if (snprintf(p, sizeof p, "%s/nodes", path) >= (int)sizeof p) return RFAIL(r, SPK_ERR_FORMAT, "graphs nested too deep");
    hid_t g = H5Gopen2(file, p, H5P_DEFAULT);
    if (g < 0) return RFAIL(r, SPK_ERR_FORMAT, "graph '%s' has no 'nodes' group", path);
    H5G_info_t info;
    spk_status st = SPK_OK;
    if (H5Gget_info(g, &info) < 0 || info.nlinks > MAX_NODES) st = RFAIL(r, SPK_ERR_FORMAT, "graph '%s': cannot list its nodes", path);
    int base = G->n;
    for (hsize_t i = 0; !st && i < info.nlinks; i++) {
        char name[256] = "";
        ssize_t L = H5Lget_name_by_idx(g, ".", H5_INDEX_NAME, H5_ITER_INC, i, name, sizeof name, H5P_DEFAULT);
        if (L < 0 || L >= (ssize_t)sizeof name) {
            st = RFAIL(r, SPK_ERR_FORMAT, "graph '%s': node %llu has an unreadable name", path, (unsigned long long)i);
            break;
        }
        char full[300];
        if (snprintf(full, sizeof full, "%s%s%s", prefix, prefix[0] ? "." : "", name) >= (int)sizeof full || strlen(full) >= NAME_MAX_) {
            st = RFAIL(r, SPK_ERR_FORMAT, "node name '%s' is longer than %d characters", full, NAME_MAX_ - 1);
            break;
        }
        char gpath[1024];
        if (snprintf(gpath, sizeof gpath, "%s/%s", p, name) >= (int)sizeof gpath) {
            st = RFAIL(r, SPK_ERR_FORMAT, "graphs nested too deep");
            break;
        }
        hid_t ng = H5Gopen2(file, gpath, H5P_DEFAULT);
        if (ng < 0) {
            st = RFAIL(r, SPK_ERR_FORMAT, "node '%s' is not a group", full);
            break;
        }
        char type[32] = "";
        snprintf(r->where, sizeof r->where, "node '%s'", full);
        st = read_str(r, ng, "type", type, sizeof type);
        H5Gclose(ng);
        r->where[0] = 0;
        if (st) break;
        if (find_nnode(G, full) >= 0) {
            st = RFAIL(r, SPK_ERR_FORMAT, "two nodes are named '%s' after flattening nested graphs", full);
            break;
        }
        int k = add_nnode(G);
        if (k < 0) {
            st = RFAIL(r, SPK_ERR_NOMEM, "no memory for node '%s'", full);
            break;
        }
        nnode *nn = &G->nodes[k];
        snprintf(nn->name, sizeof nn->name, "%s", full);
        snprintf(nn->type, sizeof nn->type, "%s", type);
        snprintf(nn->path, sizeof nn->path, "%s", gpath);
        nn->role = ROLE_PRIM;
        nn->order = 1000000000L + k;
        {
            char mp[1100];
            if (snprintf(mp, sizeof mp, "%s/metadata", gpath) < (int)sizeof mp && has(file, mp)) {
                hid_t m = H5Gopen2(file, mp, H5P_DEFAULT);
                arr ix;
                if (m >= 0 && has(m, "spk_index") && !read_arr(r, m, "spk_index", &ix)) {
                    if (ix.n == 1 && ix.v[0] >= 0 && ix.v[0] < MAX_NODES) nn->order = (long)ix.v[0];
                    arr_free(&ix);
                }
                if (m >= 0) H5Gclose(m);
            }
        }
        if (!strcmp(type, "Input")) nn->role = depth ? ROLE_IDENT : ROLE_INPUT;
        if (!strcmp(type, "Output")) nn->role = depth ? ROLE_IDENT : ROLE_OUTPUT;
        if (!strcmp(type, "NIRGraph")) {
            nn->role = -1; /* a placeholder, resolved by its edges */
            st = collect(r, file, gpath, full, depth + 1, G);
        }
    }
    int top = G->n;
    /* edges of this level */
    char *names = NULL;
    int E = 0;
    if (!st) {
        hid_t gg = H5Gopen2(file, path[0] ? path : "/", H5P_DEFAULT);
        if (gg < 0) st = RFAIL(r, SPK_ERR_FORMAT, "graph '%s' cannot be opened", path);
        else {
            st = read_edges(r, gg, &names, &E);
            H5Gclose(gg);
        }
    }
    for (int e = 0; !st && e < E; e++) {
        int ends[2];
        for (int s = 0; s < 2 && !st; s++) {
            const char *nm = names + (size_t)(2 * e + s) * NAME_MAX_;
            char full[300];
            if (snprintf(full, sizeof full, "%s%s%s", prefix, prefix[0] ? "." : "", nm) >= (int)sizeof full) full[0] = 0;
            int k = -1;
            for (int q = base; q < top && k < 0; q++)
                if (!strcmp(G->nodes[q].name, full)) k = q;
            if (k >= 0 && G->nodes[k].role == -1) {
                /* a nested graph: into its Input, out of its Output */
                const char *want = s == 0 ? "Output" : "Input";
                int found = -1, count = 0;
                size_t L = strlen(full);
                for (int q = base; q < top; q++)
                    if (!strncmp(G->nodes[q].name, full, L) && G->nodes[q].name[L] == '.' && !strchr(G->nodes[q].name + L + 1, '.') &&
                        !strcmp(G->nodes[q].type, want)) {
                        found = q;
                        count++;
                    }
                if (count != 1) {
                    st = RFAIL(r, SPK_ERR_UNSUPPORTED, "edge '%s' -> '%s': nested graph '%s' has %d %s nodes (one is needed)", names + (size_t)2 * e * NAME_MAX_,
                               names + (size_t)(2 * e + 1) * NAME_MAX_, full, count, want);
                    break;
                }
                k = found;
            }
            if (k < 0) st = RFAIL(r, SPK_ERR_FORMAT, "edge '%s' -> '%s': no node named '%s'", names + (size_t)2 * e * NAME_MAX_,
                                  names + (size_t)(2 * e + 1) * NAME_MAX_, nm);
            ends[s] = k;
        }
        if (!st && add_nedge(G, ends[0], ends[1])) st = RFAIL(r, SPK_ERR_NOMEM, "no memory for edges");
    }
    spk_free(names);
    H5Gclose(g);
    return st;
}

/* Replace every identity node X (nested Input / Output) by edges from its sources to its
 * targets. */
static spk_status contract(rd *r, ngraph *G) {
    for (int x = 0; x < G->n; x++) {
        if (G->nodes[x].role != ROLE_IDENT && G->nodes[x].role != -1) continue;
        int ne0 = G->ne;
        for (int a = 0; a < ne0; a++) {
            if (G->edges[a].to != x || G->edges[a].from == x) continue;
            for (int b = 0; b < ne0; b++)
                if (G->edges[b].from == x && G->edges[b].to != x && add_nedge(G, G->edges[a].from, G->edges[b].to))
                    return RFAIL(r, SPK_ERR_NOMEM, "no memory for edges");
        }
        int k = 0;
        for (int e = 0; e < G->ne; e++)
            if (G->edges[e].from != x && G->edges[e].to != x) G->edges[k++] = G->edges[e];
        G->ne = k;
    }
    return SPK_OK;
}

/* ======================================================================================
 * Building spk nodes
 * ====================================================================================== */

typedef struct pending {
    int node;
    char which[8];
    float *v;
    size_t n;
} pending;

typedef struct bld {
    rd *r;
    spk_net *net;
    pending *pend;
    int np, cap;
} bld;

static spk_status later(bld *b, int node, const char *which, const double *v, size_t n) {
    if (b->np == b->cap) {
        int cap = b->cap ? 2 * b->cap : 32;
        pending *p = spk_calloc((size_t)cap, sizeof *p);
        if (!p) return RFAIL(b->r, SPK_ERR_NOMEM, "no memory");
        if (b->pend) memcpy(p, b->pend, (size_t)b->np * sizeof *p);
        spk_free(b->pend);
        b->pend = p;
        b->cap = cap;
    }
    float *f = spk_malloc((n ? n : 1) * sizeof(float));
    if (!f) return RFAIL(b->r, SPK_ERR_NOMEM, "no memory for %zu values", n);
    for (size_t i = 0; i < n; i++) f[i] = (float)v[i];
    pending *p = &b->pend[b->np++];
    p->node = node;
    snprintf(p->which, sizeof p->which, "%s", which);
    p->v = f;
    p->n = n;
    return SPK_OK;
}

static spk_status net_err(bld *b, spk_status st) { return RFAIL(b->r, st, "%s", spk_errmsg(b->net)); }

/* The shape of a neuron parameter array (no T, B): up to SPK_MAX_DIMS dims; 0-d is [1]. */
static spk_status shape_of(bld *b, const arr *a, const char *field, int *nd, int dims[SPK_MAX_DIMS]) {
    if (a->ndim > SPK_MAX_DIMS) return RFAIL(b->r, SPK_ERR_UNSUPPORTED, "'%s' has %d dimensions (at most %d)", field, a->ndim, SPK_MAX_DIMS);
    if (a->n == 0) return RFAIL(b->r, SPK_ERR_FORMAT, "'%s' is empty", field);
    *nd = a->ndim ? a->ndim : 1;
    dims[0] = 1;
    for (int i = 0; i < a->ndim; i++) dims[i] = (int)a->dims[i];
    return SPK_OK;
}

/* discretized decay and input factor of a time constant */
static double decay_of(const spk_nir_options *o, double tau) { return o->method == SPK_NIR_EULER ? 1.0 - o->dt / tau : exp(-o->dt / tau); }
static double ingain_of(const spk_nir_options *o, double tau) { return o->method == SPK_NIR_EULER ? o->dt / tau : -expm1(-o->dt / tau); }

static spk_status check_tau(bld *b, const arr *t, const char *field) {
    for (size_t i = 0; i < t->n; i++) {
        if (!(t->v[i] > 0)) return RFAIL(b->r, SPK_ERR_FORMAT, "%s[%zu] = %g must be > 0", field, i, t->v[i]);
        if (b->r->opt.method == SPK_NIR_EULER && b->r->opt.dt > t->v[i])
            return RFAIL(b->r, SPK_ERR_UNSUPPORTED, "dt = %g s is longer than %s[%zu] = %g s: forward Euler would be unstable (use a smaller --dt or --method exp)",
                         b->r->opt.dt, field, i, t->v[i]);
    }
    return SPK_OK;
}

static spk_status same_n(bld *b, const arr *a, const arr *ref, const char *fa, const char *fref) {
    if (a->n != ref->n) return RFAIL(b->r, SPK_ERR_SHAPE, "'%s' has %zu values but '%s' has %zu", fa, a->n, fref, ref->n);
    return SPK_OK;
}

static int uniform(const double *v, size_t n) {
    for (size_t i = 1; i < n; i++)
        if ((float)v[i] != (float)v[0]) return 0;
    return 1;
}

/* A Scale node y = x*s (+ c when any c != 0), named `name`: *id. */
static spk_status add_scale_node(bld *b, const char *name, const double *s, const double *c, size_t n, int *id) {
    int bias = 0;
    for (size_t i = 0; c && i < n; i++) bias |= c[i] != 0;
    spk_status st = bias ? spk_net_add_scale_bias(b->net, name, id) : spk_net_add_scale(b->net, name, id);
    if (st) return net_err(b, st);
    if ((st = later(b, *id, "scale", s, n))) return st;
    if (bias && (st = later(b, *id, "bias", c, n))) return st;
    return SPK_OK;
}

static spk_status derived_name(bld *b, char *out, const char *base, const char *suffix) {
    if (strlen(base) + strlen(suffix) >= NAME_MAX_) return RFAIL(b->r, SPK_ERR_FORMAT, "node name '%s%s' is too long", base, suffix);
    snprintf(out, NAME_MAX_, "%s%s", base, suffix);
    return SPK_OK;
}

/* A population with per-neuron lam (and thr, alpha) and an input factor k and constant
 * drive c per neuron: when k is one value and c is zero the factor is the config's gain,
 * otherwise a Scale node "<name>.in" in front carries them. */
static spk_status add_population(bld *b, nnode *nn, spk_neuron_config cfg, int nd, const int *dims, size_t N, const double *lam,
                                 const double *thr, const double *alpha, const double *k, const double *c) {
    int zero_c = 1;
    for (size_t i = 0; i < N; i++) zero_c &= c[i] == 0;
    int need_scale = !(zero_c && uniform(k, N));
    cfg.gain = need_scale ? 1.0f : (float)k[0];
    cfg.lam = (float)lam[0];
    if (thr) cfg.thr = (float)thr[0];
    if (alpha) cfg.alpha = (float)alpha[0];
    spk_status st;
    if ((st = spk_neuron_config_check(&cfg))) return RFAIL(b->r, st, "%s", spk_errmsg(NULL));
    int id;
    if ((st = spk_net_add_neuron(b->net, nn->name, &cfg, nd, dims, &id))) return net_err(b, st);
    spk_neuron *nr = spk_net_neuron(b->net, id);
    float *tmp = spk_malloc(N * sizeof(float));
    if (!tmp) return RFAIL(b->r, SPK_ERR_NOMEM, "no memory");
    const double *src[3] = {lam, thr, alpha};
    const spk_neuron_param which[3] = {SPK_NP_LAM, SPK_NP_THR, SPK_NP_ALPHA};
    for (int q = 0; q < 3 && !st; q++) {
        if (!src[q]) continue;
        for (size_t i = 0; i < N; i++) tmp[i] = (float)src[q][i];
        if ((st = spk_neuron_set_param(nr, which[q], tmp, (int)N))) st = RFAIL(b->r, st, "%s", spk_errmsg(nr));
    }
    spk_free(tmp);
    if (st) return st;
    nn->first = nn->last = id;
    if (need_scale) {
        char sn[NAME_MAX_];
        int sid;
        if ((st = derived_name(b, sn, nn->name, ".in")) || (st = add_scale_node(b, sn, k, c, N, &sid))) return st;
        if ((st = spk_net_connect(b->net, sid, id))) return net_err(b, st);
        nn->first = sid;
    }
    return SPK_OK;
}

/* A non-spiking integrator whose output is its state: v(t) = lam*v(t-1) + k*x(t) + c, as a
 * Merge node fed by a Scale on the input and by a Scale(lam) of its own previous output. */
static spk_status add_integrator(bld *b, const char *name, size_t N, const double *lam, const double *k, const double *c, int *first,
                                 int *last) {
    char sn[NAME_MAX_];
    int in, m, dec;
    spk_status st;
    if ((st = derived_name(b, sn, name, ".in")) || (st = add_scale_node(b, sn, k, c, N, &in))) return st;
    if ((st = spk_net_add_merge(b->net, name, &m))) return net_err(b, st);
    if ((st = derived_name(b, sn, name, ".decay")) || (st = add_scale_node(b, sn, lam, NULL, N, &dec))) return st;
    if ((st = spk_net_connect(b->net, in, m)) || (st = spk_net_connect(b->net, m, dec)) || (st = spk_net_connect(b->net, dec, m)))
        return net_err(b, st);
    *first = in;
    *last = m;
    return SPK_OK;
}

static spk_status scalar_or_uniform(bld *b, hid_t g, const char *field, const arr *ref, double dflt, double *out) {
    if (!has(g, field)) {
        *out = dflt;
        return SPK_OK;
    }
    arr a;
    spk_status st = read_arr(b->r, g, field, &a);
    if (st) return st;
    if (a.n != 1 && a.n != ref->n) st = RFAIL(b->r, SPK_ERR_SHAPE, "'%s' has %zu values, expected %zu", field, a.n, ref->n);
    else if (!uniform(a.v, a.n))
        st = RFAIL(b->r, SPK_ERR_UNSUPPORTED, "'%s' differs between neurons; spk needs one value per population", field);
    else *out = a.v[0];
    arr_free(&a);
    return st;
}

/* Read the fields named in `names` (NULL-terminated) into a[] (missing ones: zeros of the
 * first's size when `optional` marks them). */
#define MAXF 8
typedef struct fields {
    arr a[MAXF];
    int n;
} fields;

static void fields_free(fields *f) {
    for (int i = 0; i < f->n; i++) arr_free(&f->a[i]);
    f->n = 0;
}

static spk_status read_fields(bld *b, hid_t g, const char *const *names, fields *f) {
    memset(f, 0, sizeof *f);
    spk_status st = SPK_OK;
    for (int i = 0; names[i] && !st; i++) {
        st = read_arr(b->r, g, names[i], &f->a[i]);
        f->n = i + 1;
        if (!st && i > 0) st = same_n(b, &f->a[i], &f->a[0], names[i], names[0]);
    }
    if (st) fields_free(f);
    return st;
}

/* A neuron primitive of the file (LIF, LI, IF, I, CubaLIF, CubaLI, Threshold). */
static spk_status build_neuron(bld *b, hid_t g, nnode *nn) {
    const spk_nir_options *o = &b->r->opt;
    const char *T = nn->type;
    int lif = !strcmp(T, "LIF"), li = !strcmp(T, "LI"), iff = !strcmp(T, "IF"), ii = !strcmp(T, "I");
    int clif = !strcmp(T, "CubaLIF"), cli = !strcmp(T, "CubaLI"), thr_node = !strcmp(T, "Threshold");
    static const char *const f_lif[] = {"tau", "r", "v_leak", "v_threshold", NULL};
    static const char *const f_li[] = {"tau", "r", "v_leak", NULL};
    static const char *const f_if[] = {"r", "v_threshold", NULL};
    static const char *const f_i[] = {"r", NULL};
    static const char *const f_clif[] = {"tau_syn", "tau_mem", "r", "v_leak", "v_threshold", NULL};
    static const char *const f_cli[] = {"tau_syn", "tau_mem", "r", "v_leak", NULL};
    static const char *const f_thr[] = {"threshold", NULL};
    const char *const *names = lif ? f_lif : li ? f_li : iff ? f_if : ii ? f_i : clif ? f_clif : cli ? f_cli : f_thr;
    (void)thr_node;
    fields f;
    spk_status st = read_fields(b, g, names, &f);
    if (st) return st;
    int nd = 1, dims[SPK_MAX_DIMS] = {1};
    size_t N = f.a[0].n;
    double *w = NULL;
    if ((st = shape_of(b, &f.a[0], names[0], &nd, dims))) goto out;
    w = spk_calloc(5 * N, sizeof(double));
    if (!w) {
        st = RFAIL(b->r, SPK_ERR_NOMEM, "no memory");
        goto out;
    }
    double *lam = w, *k = w + N, *c = w + 2 * N, *alpha = w + 3 * N, *one = w + 4 * N;
    for (size_t i = 0; i < N; i++) one[i] = 1.0;
    spk_neuron_config cfg = spk_neuron_config_default();
    cfg.fire = SPK_FIRE_HEAVISIDE;
    cfg.reset = SPK_RESET_HARD;
    cfg.timing = SPK_TIMING_SAME_STEP;
    cfg.detach_reset = 0;
    const double *thr = NULL;
    double v_reset = 0;
    if (lif || iff || clif) {
        thr = f.a[lif ? 3 : iff ? 1 : 4].v;
        for (size_t i = 0; i < N; i++)
            if (!(thr[i] > 0)) {
                st = RFAIL(b->r, SPK_ERR_UNSUPPORTED, "v_threshold[%zu] = %g: spk needs thresholds > 0", i, thr[i]);
                goto out;
            }
        if ((st = scalar_or_uniform(b, g, "v_reset", &f.a[0], 0.0, &v_reset))) goto out;
        cfg.v_reset = (float)v_reset;
    }
    if (lif || li) {
        if ((st = check_tau(b, &f.a[0], "tau"))) goto out;
        for (size_t i = 0; i < N; i++) {
            double tau = f.a[0].v[i], gi = ingain_of(o, tau);
            lam[i] = decay_of(o, tau);
            k[i] = gi * f.a[1].v[i];
            c[i] = gi * f.a[2].v[i];
        }
        if (lif) st = add_population(b, nn, cfg, nd, dims, N, lam, thr, NULL, k, c);
        else st = add_integrator(b, nn->name, N, lam, k, c, &nn->first, &nn->last);
    } else if (iff || ii) {
        for (size_t i = 0; i < N; i++) {
            lam[i] = 1.0;
            k[i] = o->dt * f.a[0].v[i];
        }
        if (iff) st = add_population(b, nn, cfg, nd, dims, N, lam, thr, NULL, k, c);
        else st = add_integrator(b, nn->name, N, lam, k, c, &nn->first, &nn->last);
    } else if (clif || cli) {
        if ((st = check_tau(b, &f.a[0], "tau_syn")) || (st = check_tau(b, &f.a[1], "tau_mem"))) goto out;
        arr win = {0};
        if (has(g, "w_in")) {
            if ((st = read_arr(b->r, g, "w_in", &win))) goto out;
            if (win.n != 1 && win.n != N) {
                st = RFAIL(b->r, SPK_ERR_SHAPE, "'w_in' has %zu values, expected %zu", win.n, N);
                arr_free(&win);
                goto out;
            }
        }
        double *ks = w + 4 * N; /* the synaptic input factor (reuses `one`) */
        for (size_t i = 0; i < N; i++) {
            double ts = f.a[0].v[i], tm = f.a[1].v[i], wi = win.n ? win.v[win.n == 1 ? 0 : i] : 1.0;
            alpha[i] = decay_of(o, ts);
            lam[i] = decay_of(o, tm);
            ks[i] = ingain_of(o, ts) * wi;
            k[i] = ingain_of(o, tm) * f.a[2].v[i];
            c[i] = ingain_of(o, tm) * f.a[3].v[i];
        }
        arr_free(&win);
        if (clif) {
            for (size_t i = 0; i < N; i++)
                if (c[i] != 0) {
                    st = RFAIL(b->r, SPK_ERR_UNSUPPORTED, "v_leak[%zu] = %g: a CubaLIF with a leak potential other than 0 is not supported", i,
                               f.a[3].v[i]);
                    goto out;
                }
            /* the current is linear: both input factors multiply the input */
            for (size_t i = 0; i < N; i++) k[i] *= ks[i];
            cfg.kind = SPK_NEURON_CUBA;
            st = add_population(b, nn, cfg, nd, dims, N, lam, thr, alpha, k, c);
        } else {
            /* two integrators: the current, then the membrane */
            char sn[NAME_MAX_];
            int f1 = -1, l1 = -1, f2 = -1, l2 = -1;
            double *zero = w + 2 * N + 0; /* c is reused for the membrane; the current has none */
            (void)zero;
            if ((st = derived_name(b, sn, nn->name, ".syn"))) goto out;
            double *csyn = spk_calloc(N, sizeof(double));
            if (!csyn) {
                st = RFAIL(b->r, SPK_ERR_NOMEM, "no memory");
                goto out;
            }
            st = add_integrator(b, sn, N, alpha, ks, csyn, &f1, &l1);
            spk_free(csyn);
            if (!st) st = add_integrator(b, nn->name, N, lam, k, c, &f2, &l2);
            if (!st && (st = spk_net_connect(b->net, l1, f2))) st = net_err(b, st);
            nn->first = f1;
            nn->last = l2;
        }
    } else { /* Threshold: y = H(x - threshold), stateless */
        const double *th = f.a[0].v;
        for (size_t i = 0; i < N; i++) {
            if (!(th[i] > 0)) {
                st = RFAIL(b->r, SPK_ERR_UNSUPPORTED, "threshold[%zu] = %g: spk needs thresholds > 0", i, th[i]);
                goto out;
            }
            lam[i] = 0.0;
            k[i] = 1.0;
        }
        cfg.reset = SPK_RESET_NONE;
        st = add_population(b, nn, cfg, nd, dims, N, lam, th, NULL, k, c);
    }
out:
    spk_free(w);
    fields_free(&f);
    return st;
}

/* padding of a conv: numbers, or "same" / "valid" */
static spk_status read_padding(bld *b, hid_t g, int nd, const int *k, const int *dil, int *pad) {
    if (!has(g, "padding")) {
        for (int i = 0; i < nd; i++) pad[i] = 0;
        return SPK_OK;
    }
    if (!is_string(g, "padding")) return read_ints(b->r, g, "padding", nd, 0, pad, 0);
    char s[16];
    spk_status st = read_str(b->r, g, "padding", s, sizeof s);
    if (st) return st;
    for (int i = 0; i < nd; i++) {
        if (!strcmp(s, "valid")) pad[i] = 0;
        else if (!strcmp(s, "same")) {
            int total = dil[i] * (k[i] - 1);
            if (total % 2) return RFAIL(b->r, SPK_ERR_UNSUPPORTED, "padding 'same' with an even kernel (%d) needs asymmetric padding", k[i]);
            pad[i] = total / 2;
        } else return RFAIL(b->r, SPK_ERR_FORMAT, "padding '%s' is not 'same', 'valid' or numbers", s);
    }
    return SPK_OK;
}

static spk_status build_prim(bld *b, hid_t g, nnode *nn, int *out_ndim, int out_dims[SPK_MAX_DIMS]) {
    const char *T = nn->type;
    spk_status st = SPK_OK;
    int id = -1;
    if (!strcmp(T, "Affine") || !strcmp(T, "Linear")) {
        int bias = !strcmp(T, "Affine");
        arr W, B = {0};
        if ((st = read_arr(b->r, g, "weight", &W))) return st;
        if (W.ndim != 2 || !W.dims[0] || !W.dims[1]) st = RFAIL(b->r, SPK_ERR_FORMAT, "weight must be a matrix [out, in]");
        if (!st && bias) {
            if ((st = read_arr(b->r, g, "bias", &B))) goto dense_out;
            if (B.n != W.dims[0]) st = RFAIL(b->r, SPK_ERR_SHAPE, "bias has %zu values, weight has %zu rows", B.n, W.dims[0]);
        }
        if (!st && (st = spk_net_add_dense(b->net, nn->name, (int)W.dims[1], (int)W.dims[0], bias, &id))) st = net_err(b, st);
        if (!st) st = later(b, id, "weight", W.v, W.n);
        if (!st && bias) st = later(b, id, "bias", B.v, B.n);
    dense_out:
        arr_free(&W);
        arr_free(&B);
    } else if (!strcmp(T, "Conv1d") || !strcmp(T, "Conv2d")) {
        int nd = T[4] == '1' ? 1 : 2;
        arr W, B = {0};
        if ((st = read_arr(b->r, g, "weight", &W))) return st;
        int k[2], stride[2], pad[2], dil[2], groups = 1;
        if (W.ndim != nd + 2) st = RFAIL(b->r, SPK_ERR_FORMAT, "weight has %d dimensions, expected %d", W.ndim, nd + 2);
        for (int i = 0; !st && i < nd; i++) k[i] = (int)W.dims[2 + i];
        if (!st) st = read_ints(b->r, g, "stride", nd, 1, stride, 1);
        if (!st) st = read_ints(b->r, g, "dilation", nd, 1, dil, 1);
        if (!st) st = read_ints(b->r, g, "groups", 1, 1, &groups, 1);
        if (!st) st = read_padding(b, g, nd, k, dil, pad);
        int bias = !st && has(g, "bias");
        if (bias && !(st = read_arr(b->r, g, "bias", &B)) && B.n != W.dims[0])
            st = RFAIL(b->r, SPK_ERR_SHAPE, "bias has %zu values, weight has %zu output channels", B.n, W.dims[0]);
        if (!st && (st = spk_net_add_conv(b->net, nn->name, nd, (int)W.dims[1] * groups, (int)W.dims[0], k, stride, pad, dil, groups, bias, &id)))
            st = net_err(b, st);
        if (!st) st = later(b, id, "weight", W.v, W.n);
        if (!st && bias) st = later(b, id, "bias", B.v, B.n);
        arr_free(&W);
        arr_free(&B);
    } else if (!strcmp(T, "SumPool2d") || !strcmp(T, "AvgPool2d")) {
        int k[2], stride[2], pad[2];
        if ((st = read_ints(b->r, g, "kernel_size", 2, 1, k, -999))) return st;
        if ((st = read_ints(b->r, g, "stride", 2, 1, stride, -999))) return st;
        if ((st = read_ints(b->r, g, "padding", 2, 0, pad, 0))) return st;
        if ((st = spk_net_add_pool(b->net, nn->name, T[0] == 'S' ? SPK_POOL_SUM : SPK_POOL_AVG, 2, k, stride, pad, &id))) st = net_err(b, st);
    } else if (!strcmp(T, "Flatten")) {
        int sd = 0, ed = -1;
        if ((st = read_ints(b->r, g, "start_dim", 1, -SPK_MAX_DIMS, &sd, 0))) return st;
        if ((st = read_ints(b->r, g, "end_dim", 1, -SPK_MAX_DIMS, &ed, -1))) return st;
        st = sd == 0 && ed == -1 ? spk_net_add_flatten(b->net, nn->name, &id) : spk_net_add_flatten_dims(b->net, nn->name, sd, ed, &id);
        if (st) st = net_err(b, st);
    } else if (!strcmp(T, "Scale")) {
        arr S;
        if ((st = read_arr(b->r, g, "scale", &S))) return st;
        if (!S.n) st = RFAIL(b->r, SPK_ERR_FORMAT, "'scale' is empty");
        if (!st && (st = spk_net_add_scale(b->net, nn->name, &id))) st = net_err(b, st);
        if (!st) st = later(b, id, "scale", S.v, S.n);
        arr_free(&S);
    } else if (!strcmp(T, "Delay")) {
        arr D;
        if ((st = read_arr(b->r, g, "delay", &D))) return st;
        int32_t *d = spk_malloc((D.n ? D.n : 1) * sizeof(int32_t));
        if (!d) st = RFAIL(b->r, SPK_ERR_NOMEM, "no memory");
        if (!st && !D.n) st = RFAIL(b->r, SPK_ERR_FORMAT, "'delay' is empty");
        for (size_t i = 0; !st && i < D.n; i++) {
            double s = D.v[i] / b->r->opt.dt;
            if (!(s >= 0 && s < 1e9)) st = RFAIL(b->r, SPK_ERR_FORMAT, "delay[%zu] = %g s is negative or too long", i, D.v[i]);
            else d[i] = (int32_t)llround(s);
        }
        if (!st && (st = spk_net_add_delay(b->net, nn->name, d, (int)D.n, &id))) st = net_err(b, st);
        spk_free(d);
        arr_free(&D);
    } else if (!strcmp(T, "LIF") || !strcmp(T, "LI") || !strcmp(T, "IF") || !strcmp(T, "I") || !strcmp(T, "CubaLIF") ||
               !strcmp(T, "CubaLI") || !strcmp(T, "Threshold")) {
        return build_neuron(b, g, nn);
    } else if (!strcmp(T, "Input")) {
        arr S;
        if ((st = read_arr(b->r, g, "shape", &S))) return st;
        int nd = (int)S.n;
        if (nd < 1 || nd > SPK_MAX_DIMS) st = RFAIL(b->r, SPK_ERR_UNSUPPORTED, "input shape has %d dimensions (1 to %d)", nd, SPK_MAX_DIMS);
        for (int i = 0; !st && i < nd; i++) {
            if (!(S.v[i] >= 1 && S.v[i] < 1e9)) st = RFAIL(b->r, SPK_ERR_FORMAT, "input shape[%d] = %g", i, S.v[i]);
            else out_dims[i] = (int)S.v[i];
        }
        *out_ndim = st ? 0 : nd;
        if (!st && (st = spk_net_add_input(b->net, nn->name, nd, out_dims, &id))) st = net_err(b, st);
        arr_free(&S);
    } else if (!strcmp(T, "Output")) {
        arr S;
        if ((st = read_arr(b->r, g, "shape", &S))) return st;
        int nd = (int)S.n;
        if (nd < 1 || nd > 8) st = RFAIL(b->r, SPK_ERR_FORMAT, "output shape has %d dimensions", nd);
        long n = 1;
        for (int i = 0; !st && i < nd; i++) { /* (found by fuzz_nir: casts of huge values) */
            if (!(S.v[i] >= 1 && S.v[i] < 1e9) || n > 0x7fffffffL / (long)S.v[i])
                st = RFAIL(b->r, SPK_ERR_FORMAT, "output shape[%d] = %g", i, S.v[i]);
            else n *= (long)S.v[i];
        }
        for (int i = 0; !st && i < nd && i < SPK_MAX_DIMS; i++) out_dims[i] = (int)S.v[i];
        out_dims[SPK_MAX_DIMS - 1] = nd > SPK_MAX_DIMS ? 0 : out_dims[SPK_MAX_DIMS - 1];
        *out_ndim = st ? 0 : (int)n; /* the element count, checked after build */
        arr_free(&S);
        return st;
    } else {
        return RFAIL(b->r, SPK_ERR_UNSUPPORTED, "primitive type '%s' is not supported by spk", T);
    }
    nn->first = nn->last = id;
    return st;
}

/* ---- spk's own metadata: exact reconstruction of nodes written by spk_nir_write ---------- */

static spk_status meta_floats(bld *b, hid_t m, const char *name, size_t N, float *out) {
    arr a;
    spk_status st = read_arr(b->r, m, name, &a);
    if (st) return st;
    if (a.n != N) st = RFAIL(b->r, SPK_ERR_FORMAT, "metadata '%s' has %zu values, expected %zu", name, a.n, N);
    for (size_t i = 0; !st && i < N; i++) out[i] = (float)a.v[i];
    arr_free(&a);
    return st;
}

static spk_status meta_double(bld *b, hid_t m, const char *name, double *out) {
    arr a;
    spk_status st = read_arr(b->r, m, name, &a);
    if (st) return st;
    if (a.n != 1) st = RFAIL(b->r, SPK_ERR_FORMAT, "metadata '%s' must be one value", name);
    else *out = a.v[0];
    arr_free(&a);
    return st;
}

static spk_status meta_choice(bld *b, hid_t m, const char *name, int (*from)(const char *), int *out) {
    char s[32];
    spk_status st = read_str(b->r, m, name, s, sizeof s);
    if (st) return st;
    int v = from(s);
    if (v < 0) return RFAIL(b->r, SPK_ERR_FORMAT, "metadata '%s' = '%s' is unknown", name, s);
    *out = v;
    return SPK_OK;
}

static spk_status build_spk_neuron(bld *b, hid_t g, hid_t m, nnode *nn) {
    spk_neuron_config cfg = spk_neuron_config_default();
    int v = 0;
    double d = 0;
    spk_status st;
#define CH(key, fn, field)                                              \
    if ((st = meta_choice(b, m, key, fn, &v))) return st;               \
    cfg.field = v;
#define DB(key, field, type)                                            \
    if ((st = meta_double(b, m, key, &d))) return st;                   \
    cfg.field = (type)d;
    CH("spk_kind", spk_neuron_kind_from_name, kind);
    CH("spk_fire", spk_fire_kind_from_name, fire);
    CH("spk_reset", spk_reset_kind_from_name, reset);
    CH("spk_timing", spk_reset_timing_from_name, timing);
    CH("spk_surrogate", spk_surrogate_from_name, surrogate);
    DB("spk_surrogate_scale", surrogate_scale, float);
    DB("spk_detach_reset", detach_reset, int);
    DB("spk_gain", gain, float);
    DB("spk_v_reset", v_reset, float);
    DB("spk_ref_steps", ref_steps, int);
    DB("spk_clamp_decay", clamp_decay, int);
#undef CH
#undef DB
    arr shp;
    if ((st = read_arr(b->r, m, "spk_shape", &shp))) return st;
    int nd = (int)shp.n, dims[SPK_MAX_DIMS];
    size_t N = 1;
    if (nd < 1 || nd > SPK_MAX_DIMS) st = RFAIL(b->r, SPK_ERR_FORMAT, "metadata 'spk_shape' has %d values", nd);
    for (int i = 0; !st && i < nd; i++) {
        if (!(shp.v[i] >= 1 && shp.v[i] < 1e8)) st = RFAIL(b->r, SPK_ERR_FORMAT, "metadata 'spk_shape'[%d] = %g", i, shp.v[i]);
        else N *= (size_t)(dims[i] = (int)shp.v[i]);
    }
    arr_free(&shp);
    if (!st && N > ((size_t)1 << 31)) st = RFAIL(b->r, SPK_ERR_FORMAT, "metadata 'spk_shape' is too large");
    if (st) return st;
    float *lam = spk_malloc(3 * N * sizeof(float));
    if (!lam) return RFAIL(b->r, SPK_ERR_NOMEM, "no memory");
    float *thr = lam + N, *alpha = lam + 2 * N;
    st = meta_floats(b, m, "spk_lam", N, lam);
    if (!st) st = meta_floats(b, m, "spk_thr", N, thr);
    if (!st && cfg.kind == SPK_NEURON_CUBA) st = meta_floats(b, m, "spk_alpha", N, alpha);
    if (!st) {
        cfg.lam = lam[0];
        cfg.thr = thr[0];
        if (cfg.kind == SPK_NEURON_CUBA) cfg.alpha = alpha[0];
        if (cfg.kind != SPK_NEURON_LIF && cfg.kind != SPK_NEURON_CUBA)
            st = RFAIL(b->r, SPK_ERR_UNSUPPORTED, "metadata neuron kind '%s' is not read back", spk_neuron_kind_name(cfg.kind));
        else if ((st = spk_neuron_config_check(&cfg))) st = RFAIL(b->r, st, "%s", spk_errmsg(NULL));
    }
    int id = -1;
    if (!st && (st = spk_net_add_neuron(b->net, nn->name, &cfg, nd, dims, &id))) st = net_err(b, st);
    spk_neuron *nr = st ? NULL : spk_net_neuron(b->net, id);
    if (!st && (st = spk_neuron_set_param(nr, SPK_NP_LAM, lam, (int)N))) st = RFAIL(b->r, st, "%s", spk_errmsg(nr));
    if (!st && (st = spk_neuron_set_param(nr, SPK_NP_THR, thr, (int)N))) st = RFAIL(b->r, st, "%s", spk_errmsg(nr));
    if (!st && cfg.kind == SPK_NEURON_CUBA && (st = spk_neuron_set_param(nr, SPK_NP_ALPHA, alpha, (int)N)))
        st = RFAIL(b->r, st, "%s", spk_errmsg(nr));
    spk_free(lam);
    static const char *const lk[3] = {"spk_learn_lam", "spk_learn_thr", "spk_learn_alpha"};
    static const spk_neuron_param lp[3] = {SPK_NP_LAM, SPK_NP_THR, SPK_NP_ALPHA};
    for (int q = 0; q < 3 && !st; q++) {
        if (!has(m, lk[q])) continue;
        if ((st = meta_double(b, m, lk[q], &d))) break;
        if (d != 0 && (st = spk_net_set_learnable(b->net, id, lp[q], (int)d))) st = net_err(b, st);
    }
    (void)g;
    nn->first = nn->last = id;
    return st;
}

/* Nodes written by spk carry "spk_node" in their metadata; returns 1 when it handled it. */
static int build_spk_meta(bld *b, hid_t g, nnode *nn, spk_status *st) {
    if (!has(g, "metadata")) return 0;
    hid_t m = H5Gopen2(g, "metadata", H5P_DEFAULT);
    if (m < 0 || !has(m, "spk_node")) {
        if (m >= 0) H5Gclose(m);
        return 0;
    }
    char kind[32];
    int id = -1;
    *st = read_str(b->r, m, "spk_node", kind, sizeof kind);
    if (*st) {
        H5Gclose(m);
        return 1;
    }
    if (!strcmp(kind, "neuron")) {
        *st = build_spk_neuron(b, g, m, nn);
    } else if (!strcmp(kind, "merge")) {
        if ((*st = spk_net_add_merge(b->net, nn->name, &id))) *st = net_err(b, *st);
        nn->first = nn->last = id;
    } else if (!strcmp(kind, "dropout")) {
        double p = 0;
        if (!(*st = meta_double(b, m, "spk_p", &p)) && (*st = spk_net_add_dropout(b->net, nn->name, (float)p, &id))) *st = net_err(b, *st);
        nn->first = nn->last = id;
    } else if (!strcmp(kind, "scale_bias")) { /* written as an Affine with a diagonal weight */
        arr W, B;
        if ((*st = read_arr(b->r, g, "weight", &W))) goto done;
        if (!(*st = read_arr(b->r, g, "bias", &B))) {
            size_t n = B.n;
            if (W.ndim != 2 || W.dims[0] != n || W.dims[1] != n) *st = RFAIL(b->r, SPK_ERR_FORMAT, "scale_bias: weight must be [%zu, %zu]", n, n);
            double *diag = *st ? NULL : spk_malloc((n ? n : 1) * sizeof(double));
            if (!*st && !diag) *st = RFAIL(b->r, SPK_ERR_NOMEM, "no memory");
            for (size_t i = 0; !*st && i < n; i++) diag[i] = W.v[i * n + i];
            if (!*st && (*st = spk_net_add_scale_bias(b->net, nn->name, &id))) *st = net_err(b, *st);
            if (!*st) *st = later(b, id, "scale", diag, n);
            if (!*st) *st = later(b, id, "bias", B.v, n);
            spk_free(diag);
            arr_free(&B);
            nn->first = nn->last = id;
        }
        arr_free(&W);
    } else if (!strcmp(kind, "delay")) {
        arr D;
        if (!(*st = read_arr(b->r, m, "spk_delay", &D))) {
            int32_t *d = spk_malloc((D.n ? D.n : 1) * sizeof(int32_t));
            if (!d) *st = RFAIL(b->r, SPK_ERR_NOMEM, "no memory");
            for (size_t i = 0; !*st && i < D.n; i++) {
                if (!(D.v[i] >= 0 && D.v[i] < 1e9)) *st = RFAIL(b->r, SPK_ERR_FORMAT, "metadata 'spk_delay'[%zu] = %g", i, D.v[i]);
                else d[i] = (int32_t)D.v[i];
            }
            if (!*st && (*st = spk_net_add_delay(b->net, nn->name, d, (int)D.n, &id))) *st = net_err(b, *st);
            spk_free(d);
            arr_free(&D);
            nn->first = nn->last = id;
        }
    } else if (!strcmp(kind, "conv_nobias")) {
        H5Gclose(m);
        return 0; /* the standard reader, told below to drop the zero bias */
    } else {
        H5Gclose(m);
        return 0; /* unknown spk note: read the standard fields */
    }
done:
    H5Gclose(m);
    return 1;
}

static int conv_without_bias(rd *rr, hid_t g) {
    if (!has(g, "metadata")) return 0;
    hid_t m = H5Gopen2(g, "metadata", H5P_DEFAULT);
    if (m < 0) return 0;
    int r = 0;
    if (has(m, "spk_node")) {
        char s[32] = "";
        if (!read_str(rr, m, "spk_node", s, sizeof s)) r = !strcmp(s, "conv_nobias");
    }
    H5Gclose(m);
    return r;
}

/* ======================================================================================
 * Reading
 * ====================================================================================== */

static spk_status read_file(hid_t file, rd *r, spk_nir_graph *out) {
    spk_status st = SPK_OK;
    ngraph G = {0};
    bld b = {r, NULL, NULL, 0, 0};
    out->version[0] = 0;
    if (has(file, "version")) {
        if ((st = read_str(r, file, "version", out->version, sizeof out->version))) return st;
    }
    if (!has(file, "node")) return RFAIL(r, SPK_ERR_FORMAT, "no 'node' group: not a NIR file");
    {
        hid_t ng = H5Gopen2(file, "node", H5P_DEFAULT);
        char type[32] = "";
        if (ng < 0) return RFAIL(r, SPK_ERR_FORMAT, "'node' is not a group");
        if (has(ng, "type")) st = read_str(r, ng, "type", type, sizeof type);
        H5Gclose(ng);
        if (st) return st;
        if (type[0] && strcmp(type, "NIRGraph"))
            return RFAIL(r, SPK_ERR_UNSUPPORTED, "the top node is a '%s', not a NIRGraph", type);
    }
    if ((st = collect(r, file, "/node", "", 0, &G))) goto out;
    out->n_nir_nodes = 0;
    for (int i = 0; i < G.n; i++) out->n_nir_nodes += G.nodes[i].role != -1;
    if ((st = contract(r, &G))) goto out;
    int n_in = 0, n_out = 0, in = -1, outn = -1;
    for (int i = 0; i < G.n; i++) {
        if (G.nodes[i].role == ROLE_INPUT) n_in++, in = i;
        if (G.nodes[i].role == ROLE_OUTPUT) n_out++, outn = i;
    }
    if (n_in != 1) {
        st = RFAIL(r, SPK_ERR_UNSUPPORTED, "the graph has %d Input nodes; spk runs graphs with exactly one", n_in);
        goto out;
    }
    if (n_out != 1) {
        st = RFAIL(r, SPK_ERR_UNSUPPORTED, "the graph has %d Output nodes; spk runs graphs with exactly one", n_out);
        goto out;
    }
    if ((st = spk_net_create(&b.net))) goto out;
    /* the input first, then the primitives in spk's order (files spk wrote) or file order */
    int *ord = spk_malloc((size_t)G.n * sizeof(int) + 1);
    if (!ord) {
        st = RFAIL(r, SPK_ERR_NOMEM, "no memory");
        goto out;
    }
    for (int i = 0; i < G.n; i++) ord[i] = i;
    for (int i = 1; i < G.n; i++) /* insertion sort: graphs are small */
        for (int j = i; j > 0 && G.nodes[ord[j - 1]].order > G.nodes[ord[j]].order; j--) {
            int t = ord[j];
            ord[j] = ord[j - 1];
            ord[j - 1] = t;
        }
    int out_numel = 0, out_nd = 0, out_dims[SPK_MAX_DIMS] = {0};
    for (int pass = 0; pass < 2 && !st; pass++)
        for (int oi = 0; oi < G.n && !st; oi++) {
            nnode *nn = &G.nodes[ord[oi]];
            if ((pass == 0) != (nn->role == ROLE_INPUT) || (nn->role != ROLE_PRIM && nn->role != ROLE_INPUT && nn->role != ROLE_OUTPUT)) continue;
            hid_t g = H5Gopen2(file, nn->path, H5P_DEFAULT);
            snprintf(r->where, sizeof r->where, "node '%s' (%s)", nn->name, nn->type);
            if (g < 0) {
                st = RFAIL(r, SPK_ERR_FORMAT, "cannot open its group");
                break;
            }
            if (!build_spk_meta(&b, g, nn, &st)) {
                int nd = 0, dims[SPK_MAX_DIMS];
                st = build_prim(&b, g, nn, &nd, dims);
                if (!st && nn->role == ROLE_OUTPUT) {
                    out_numel = nd;
                    out_nd = 0;
                    (void)out_dims;
                }
                if (!st && (!strcmp(nn->type, "Conv1d") || !strcmp(nn->type, "Conv2d")) && conv_without_bias(r, g)) {
                    /* written by spk from a conv without bias: the zero bias goes */
                    for (int q = 0; q < b.np; q++)
                        if (b.pend[q].node == nn->first && !strcmp(b.pend[q].which, "bias")) {
                            spk_free(b.pend[q].v);
                            b.pend[q] = b.pend[--b.np];
                            break;
                        }
                    b.net->nodes[nn->first].has_bias = 0;
                }
            }
            H5Gclose(g);
        }
    spk_free(ord);
    if (st) goto out;
    /* edges: into a node's first spk node, out of its last */
    int src_of_out = -1, n_src_out = 0;
    for (int e = 0; e < G.ne && !st; e++) {
        nnode *a = &G.nodes[G.edges[e].from], *c = &G.nodes[G.edges[e].to];
        if (a->role == ROLE_OUTPUT) {
            st = RFAIL(r, SPK_ERR_FORMAT, "edge '%s' -> '%s' leaves the Output node", a->name, c->name);
            break;
        }
        if (c->role == ROLE_INPUT) {
            st = RFAIL(r, SPK_ERR_FORMAT, "edge '%s' -> '%s' enters the Input node", a->name, c->name);
            break;
        }
        if (c->role == ROLE_OUTPUT) {
            n_src_out++;
            src_of_out = a->last;
            continue;
        }
        snprintf(r->where, sizeof r->where, "edge '%s' -> '%s'", a->name, c->name);
        if ((st = spk_net_connect(b.net, a->last, c->first))) st = net_err(&b, st);
    }
    if (st) goto out;
    r->where[0] = 0;
    if (n_src_out == 0) {
        st = RFAIL(r, SPK_ERR_FORMAT, "nothing is connected to the Output node '%s'", G.nodes[outn].name);
        goto out;
    }
    if (n_src_out > 1) { /* the output is the sum of its sources: a merge node */
        int m;
        if ((st = spk_net_add_merge(b.net, G.nodes[outn].name, &m))) {
            st = net_err(&b, st);
            goto out;
        }
        for (int e = 0; e < G.ne && !st; e++)
            if (G.nodes[G.edges[e].to].role == ROLE_OUTPUT && (st = spk_net_connect(b.net, G.nodes[G.edges[e].from].last, m))) st = net_err(&b, st);
        src_of_out = m;
    }
    if (st) goto out;
    if ((st = spk_net_build(b.net, (spk_rng){0, 0}))) {
        st = net_err(&b, st);
        goto out;
    }
    for (int q = 0; q < b.np && !st; q++) {
        size_t n = 0;
        float *p = spk_net_param(b.net, b.pend[q].node, b.pend[q].which, &n);
        snprintf(r->where, sizeof r->where, "node '%s'", spk_net_node_name(b.net, b.pend[q].node));
        if (!p || n != b.pend[q].n) {
            int dims[SPK_MAX_DIMS], nd = spk_net_node_shape(b.net, b.pend[q].node, dims);
            (void)nd;
            st = RFAIL(r, SPK_ERR_SHAPE, "'%s' has %zu values, the node's input needs %zu", b.pend[q].which, b.pend[q].n, n);
        } else {
            /* finite in the file can still overflow float32 once discretized (found by fuzz_nir:
             * the network then computes Inf and its export cannot be read back) */
            for (size_t i = 0; i < n && !st; i++)
                if (!isfinite(b.pend[q].v[i]))
                    st = RFAIL(r, SPK_ERR_FORMAT, "'%s'[%zu] is %s in float32 after discretization", b.pend[q].which, i,
                               isnan(b.pend[q].v[i]) ? "NaN" : "infinite");
            if (!st) memcpy(p, b.pend[q].v, n * sizeof(float));
        }
    }
    r->where[0] = 0;
    if (st) goto out;
    {
        int dims[SPK_MAX_DIMS], nd = spk_net_node_shape(b.net, src_of_out, dims);
        long n = 1;
        for (int i = 0; i < nd; i++) n *= dims[i];
        if (out_numel && n != out_numel) {
            st = RFAIL(r, SPK_ERR_SHAPE, "Output node '%s' has %d values, but '%s' delivers %ld", G.nodes[outn].name, out_numel,
                       spk_net_node_name(b.net, src_of_out), n);
            goto out;
        }
    }
    (void)out_nd;
    (void)in;
    out->net = b.net;
    out->input = b.net->input;
    out->output = src_of_out;
    b.net = NULL;
out:
    for (int q = 0; q < b.np; q++) spk_free(b.pend[q].v);
    spk_free(b.pend);
    spk_net_free(b.net);
    spk_free(G.nodes);
    spk_free(G.edges);
    return st;
}

static spk_status read_opened(hid_t file, const char *name, const spk_nir_options *opt, spk_nir_graph *out, const unsigned char *img,
                              size_t n) {
    rd r = {name, opt ? *opt : spk_nir_options_default(), "", img, n, 0, 0};
    if (n > 16) { /* superblock at 0: version 0/1 keep the sizes at 13/14, version 2/3 at 9/10 */
        int v = img[8], so = v <= 1 ? img[13] : img[9], sl = v <= 1 ? img[14] : img[10];
        if ((so == 2 || so == 4 || so == 8) && (sl == 2 || sl == 4 || sl == 8)) r.so = so, r.sl = sl;
    }
    spk_status st = read_file(file, &r, out);
    H5Fclose(file);
    return st;
}

spk_status spk_nir_read(const char *path, const spk_nir_options *opt, spk_nir_graph *out) {
    if (!path || !out) return spk__fail(NULL, SPK_ERR_INVALID_ARG, "spk_nir_read: path or out is NULL");
    memset(out, 0, sizeof *out);
    spk_nir_options o = opt ? *opt : spk_nir_options_default();
    spk_status st = check_opts(&o);
    if (st) return st;
    /* the whole file, read through the memory path: its bytes back the checks HDF5 lacks */
    FILE *f = fopen(path, "rb");
    if (!f) return spk__fail(NULL, SPK_ERR_IO, "%s: cannot open", path);
    long sz = -1;
    if (!fseek(f, 0, SEEK_END)) sz = ftell(f);
    unsigned char *data = sz >= 0 ? spk_malloc(sz > 0 ? (size_t)sz : 1) : NULL;
    int ok = data && !fseek(f, 0, SEEK_SET) && fread(data, 1, (size_t)sz, f) == (size_t)sz;
    fclose(f);
    if (!ok) {
        spk_free(data);
        return spk__fail(NULL, sz < 0 ? SPK_ERR_IO : data ? SPK_ERR_IO : SPK_ERR_NOMEM, "%s: cannot read it", path);
    }
    st = spk_nir_read_memory(data, (size_t)sz, path, &o, out);
    spk_free(data);
    return st;
}

spk_status spk_nir_read_memory(const void *data, size_t len, const char *name, const spk_nir_options *opt, spk_nir_graph *out) {
    if (!data || !out) return spk__fail(NULL, SPK_ERR_INVALID_ARG, "spk_nir_read_memory: data or out is NULL");
    memset(out, 0, sizeof *out);
    if (!name) name = "<memory>";
    spk_nir_options o = opt ? *opt : spk_nir_options_default();
    spk_status st = check_opts(&o);
    if (st) return st;
    static const unsigned char magic[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};
    if (len < 8 || memcmp(data, magic, 8)) return spk__fail(NULL, SPK_ERR_FORMAT, "%s: not an HDF5 file (a NIR file is HDF5)", name);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    if (fapl < 0 || H5Pset_fapl_core(fapl, 65536, 0) < 0 || H5Pset_file_image(fapl, (void *)data, len) < 0) {
        if (fapl >= 0) H5Pclose(fapl);
        return spk__fail(NULL, SPK_ERR_NOMEM, "%s: cannot open the HDF5 image", name);
    }
    /* a fresh name each time: HDF5 may keep a failed image open under its name */
    static _Atomic unsigned long counter;
    char fname[64];
    snprintf(fname, sizeof fname, "spk-nir-image-%p-%lu", data, counter++);
    hid_t file = H5Fopen(fname, H5F_ACC_RDONLY, fapl);
    H5Pclose(fapl);
    if (file < 0) return spk__fail(NULL, SPK_ERR_FORMAT, "%s: HDF5 cannot open it (truncated or corrupted)", name);
    return read_opened(file, name, &o, out, data, len);
}

/* ======================================================================================
 * Writing
 * ====================================================================================== */

typedef struct wr {
    hid_t file;
    int ok;
    const char *path;
    char err[256];
} wr;

static void w_fail(wr *w, const char *what) {
    if (w->ok) snprintf(w->err, sizeof w->err, "%s", what);
    w->ok = 0;
}

static void w_str(wr *w, hid_t g, const char *name, const char *s) {
    if (!w->ok) return;
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, H5T_VARIABLE);
    H5Tset_cset(t, H5T_CSET_UTF8);
    hid_t sp = H5Screate(H5S_SCALAR);
    hid_t d = H5Dcreate2(g, name, t, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (d < 0 || H5Dwrite(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, &s) < 0) w_fail(w, name);
    if (d >= 0) H5Dclose(d);
    H5Sclose(sp);
    H5Tclose(t);
}

/* a dataset of n values from `v` (memory type mt) stored as file type ft; ndim 0: scalar */
static void w_data(wr *w, hid_t g, const char *name, hid_t ft, hid_t mt, const void *v, int ndim, const size_t *dims) {
    if (!w->ok) return;
    hsize_t hd[8];
    for (int i = 0; i < ndim; i++) hd[i] = dims[i];
    hid_t sp = ndim ? H5Screate_simple(ndim, hd, NULL) : H5Screate(H5S_SCALAR);
    hid_t d = H5Dcreate2(g, name, ft, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (d < 0 || H5Dwrite(d, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) < 0) w_fail(w, name);
    if (d >= 0) H5Dclose(d);
    H5Sclose(sp);
}

static void w_f32(wr *w, hid_t g, const char *name, const float *v, int ndim, const size_t *dims) {
    w_data(w, g, name, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, v, ndim, dims);
}
static void w_f64(wr *w, hid_t g, const char *name, const double *v, int ndim, const size_t *dims) {
    w_data(w, g, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, v, ndim, dims);
}
static void w_f64s(wr *w, hid_t g, const char *name, double v) { w_f64(w, g, name, &v, 0, NULL); }
static void w_i64(wr *w, hid_t g, const char *name, const int64_t *v, int ndim, const size_t *dims) {
    w_data(w, g, name, H5T_STD_I64LE, H5T_NATIVE_INT64, v, ndim, dims);
}
static void w_i64s(wr *w, hid_t g, const char *name, int64_t v) { w_i64(w, g, name, &v, 0, NULL); }
static void w_ints(wr *w, hid_t g, const char *name, const int *v, int n) {
    int64_t t[8];
    size_t d = (size_t)n;
    for (int i = 0; i < n; i++) t[i] = v[i];
    w_i64(w, g, name, t, 1, &d);
}

static hid_t w_group(wr *w, hid_t g, const char *name) {
    if (!w->ok) return -1;
    hid_t r = H5Gcreate2(g, name, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (r < 0) w_fail(w, name);
    return r;
}

static void shape_sz(const spk__node *n, int *nd, size_t d[SPK_MAX_DIMS]) {
    *nd = n->out_ndim;
    for (int i = 0; i < n->out_ndim; i++) d[i] = (size_t)n->out_dims[i];
}

/* One spk neuron population as a NIR primitive plus spk's metadata. */
static spk_status write_neuron(wr *w, hid_t g, spk_net *net, const spk__node *n, const spk_nir_options *o) {
    const spk_neuron_config *c = spk_neuron_get_config(n->nr);
    if ((c->kind != SPK_NEURON_LIF && c->kind != SPK_NEURON_CUBA) || (c->fire != SPK_FIRE_HEAVISIDE && c->fire != SPK_FIRE_NONE))
        return spk__fail(NULL, SPK_ERR_UNSUPPORTED, "%s: node '%s': NIR has no %s neuron with %s firing", w->path, n->name,
                         spk_neuron_kind_name(c->kind), spk_fire_kind_name(c->fire));
    int N = n->out_numel, nd;
    size_t d[SPK_MAX_DIMS];
    shape_sz(n, &nd, d);
    const float *lam = spk_neuron_get_param(n->nr, SPK_NP_LAM), *thr = spk_neuron_get_param(n->nr, SPK_NP_THR);
    const float *alpha = c->kind == SPK_NEURON_CUBA ? spk_neuron_get_param(n->nr, SPK_NP_ALPHA) : NULL;
    double *buf = spk_malloc((size_t)N * 6 * sizeof(double));
    if (!buf) return spk__fail(NULL, SPK_ERR_NOMEM, "%s: no memory", w->path);
    double *tau = buf, *r = buf + N, *vl = buf + 2 * N, *vth = buf + 3 * N, *vr = buf + 4 * N, *tsyn = buf + 5 * N;
    int all_one = 1;
    for (int i = 0; i < N; i++) all_one &= lam[i] == 1.0f;
    spk_status st = SPK_OK;
    for (int i = 0; i < N && !st; i++) {
        double l = lam[i] < 0 ? 0 : lam[i];
        if (l == 1.0 && !all_one)
            st = spk__fail(NULL, SPK_ERR_UNSUPPORTED, "%s: node '%s': decay 1 (no leak) for some neurons but not all cannot be written as one NIR node",
                           w->path, n->name);
        tau[i] = o->method == SPK_NIR_EULER ? o->dt / (1.0 - l) : -o->dt / log(l);
        r[i] = all_one ? (double)c->gain / o->dt : (double)c->gain / (1.0 - l);
        vl[i] = 0;
        vth[i] = thr[i];
        vr[i] = c->v_reset;
        if (alpha) {
            double a = alpha[i] < 0 ? 0 : alpha[i];
            if (a >= 1.0) st = spk__fail(NULL, SPK_ERR_UNSUPPORTED, "%s: node '%s': a synaptic decay of 1 has no NIR time constant", w->path, n->name);
            tsyn[i] = o->method == SPK_NIR_EULER ? o->dt / (1.0 - a) : -o->dt / log(a);
        }
    }
    if (st) {
        spk_free(buf);
        return st;
    }
    int fire = c->fire == SPK_FIRE_HEAVISIDE;
    const char *type = c->kind == SPK_NEURON_CUBA ? (fire ? "CubaLIF" : "CubaLI") : all_one ? (fire ? "IF" : "I") : (fire ? "LIF" : "LI");
    w_str(w, g, "type", type);
    if (c->kind == SPK_NEURON_CUBA) {
        w_f64(w, g, "tau_syn", tsyn, nd, d);
        w_f64(w, g, "tau_mem", tau, nd, d);
        for (int i = 0; i < N; i++) vl[i] = 1.0 / (1.0 - (alpha[i] < 0 ? 0 : alpha[i])); /* w_in */
        w_f64(w, g, "w_in", vl, nd, d);
        for (int i = 0; i < N; i++) vl[i] = 0;
    } else if (!all_one) {
        w_f64(w, g, "tau", tau, nd, d);
    }
    w_f64(w, g, "r", r, nd, d);
    if (!all_one || c->kind == SPK_NEURON_CUBA) w_f64(w, g, "v_leak", vl, nd, d);
    if (fire) {
        w_f64(w, g, "v_threshold", vth, nd, d);
        w_f64(w, g, "v_reset", vr, nd, d);
    }
    spk_free(buf);
    hid_t m = w_group(w, g, "metadata");
    if (m >= 0) {
        w_str(w, m, "spk_node", "neuron");
        w_str(w, m, "spk_kind", spk_neuron_kind_name(c->kind));
        w_str(w, m, "spk_fire", spk_fire_kind_name(c->fire));
        w_str(w, m, "spk_reset", spk_reset_kind_name(c->reset));
        w_str(w, m, "spk_timing", spk_reset_timing_name(c->timing));
        w_str(w, m, "spk_surrogate", spk_surrogate_name(c->surrogate));
        w_f64s(w, m, "spk_surrogate_scale", c->surrogate_scale);
        w_f64s(w, m, "spk_detach_reset", c->detach_reset);
        w_f64s(w, m, "spk_gain", c->gain);
        w_f64s(w, m, "spk_v_reset", c->v_reset);
        w_f64s(w, m, "spk_ref_steps", c->ref_steps);
        w_f64s(w, m, "spk_clamp_decay", c->clamp_decay);
        int64_t shp[SPK_MAX_DIMS];
        for (int i = 0; i < nd; i++) shp[i] = (int64_t)d[i];
        size_t snd = (size_t)nd;
        w_i64(w, m, "spk_shape", shp, 1, &snd);
        w_f32(w, m, "spk_lam", lam, nd, d);
        w_f32(w, m, "spk_thr", thr, nd, d);
        if (alpha) w_f32(w, m, "spk_alpha", alpha, nd, d);
        if (n->learn[SPK_NP_LAM]) w_f64s(w, m, "spk_learn_lam", n->learn[SPK_NP_LAM]);
        if (n->learn[SPK_NP_THR]) w_f64s(w, m, "spk_learn_thr", n->learn[SPK_NP_THR]);
        if (n->learn[SPK_NP_ALPHA]) w_f64s(w, m, "spk_learn_alpha", n->learn[SPK_NP_ALPHA]);
        H5Gclose(m);
    }
    (void)net;
    return SPK_OK;
}

static spk_status write_node(wr *w, hid_t nodes, spk_net *net, int v, const spk_nir_options *o) {
    const spk__node *n = &net->nodes[v];
    if (strchr(n->name, '/') || !strcmp(n->name, ".")) return spk__fail(NULL, SPK_ERR_UNSUPPORTED, "%s: node name '%s' cannot be an HDF5 group name", w->path, n->name);
    hid_t g = w_group(w, nodes, n->name);
    if (g < 0) return spk__fail(NULL, SPK_ERR_IO, "%s: cannot create group '%s'", w->path, n->name);
    size_t nw = 0, nb = 0, ns = 0;
    const float *W = spk_net_param(net, v, "weight", &nw), *B = spk_net_param(net, v, "bias", &nb), *S = spk_net_param(net, v, "scale", &ns);
    spk_status st = SPK_OK;
    int nd;
    size_t d[SPK_MAX_DIMS + 2];
    hid_t m = -1;
    switch (n->kind) {
    case SPK_NODE_INPUT: {
        w_str(w, g, "type", "Input");
        int64_t s[SPK_MAX_DIMS];
        for (int i = 0; i < n->out_ndim; i++) s[i] = n->out_dims[i];
        size_t k = (size_t)n->out_ndim;
        w_i64(w, g, "shape", s, 1, &k);
        break;
    }
    case SPK_NODE_DENSE:
        w_str(w, g, "type", n->has_bias ? "Affine" : "Linear");
        d[0] = (size_t)n->d_out;
        d[1] = (size_t)n->d_in;
        w_f32(w, g, "weight", W, 2, d);
        if (n->has_bias) w_f32(w, g, "bias", B, 1, d);
        break;
    case SPK_NODE_CONV: {
        const spk_conv_geom *c = &n->conv;
        int two = n->conv_nd == 2;
        w_str(w, g, "type", two ? "Conv2d" : "Conv1d");
        d[0] = (size_t)c->cout;
        d[1] = (size_t)(c->cin / c->groups);
        d[2] = (size_t)(two ? c->k_h : c->k_w);
        d[3] = (size_t)c->k_w;
        w_f32(w, g, "weight", W, two ? 4 : 3, d);
        float *zb = NULL;
        if (!n->has_bias) zb = spk_calloc((size_t)c->cout, sizeof(float));
        if (!n->has_bias && !zb) st = spk__fail(NULL, SPK_ERR_NOMEM, "%s: no memory", w->path);
        w_f32(w, g, "bias", n->has_bias ? B : zb, 1, d);
        spk_free(zb);
        if (two) {
            int s[2] = {c->stride_h, c->stride_w}, p[2] = {c->pad_h, c->pad_w}, dl[2] = {c->dil_h, c->dil_w}, is[2] = {c->in_h, c->in_w};
            w_ints(w, g, "stride", s, 2);
            w_ints(w, g, "padding", p, 2);
            w_ints(w, g, "dilation", dl, 2);
            w_ints(w, g, "input_shape", is, 2);
        } else {
            w_i64s(w, g, "stride", c->stride_w);
            w_i64s(w, g, "padding", c->pad_w);
            w_i64s(w, g, "dilation", c->dil_w);
            w_i64s(w, g, "input_shape", c->in_w);
        }
        w_i64s(w, g, "groups", c->groups);
        if (!n->has_bias && (m = w_group(w, g, "metadata")) >= 0) w_str(w, m, "spk_node", "conv_nobias");
        break;
    }
    case SPK_NODE_POOL: {
        const spk_pool_geom *p = &n->pool;
        if (n->conv_nd != 2 || p->kind == SPK_POOL_MAX) {
            st = spk__fail(NULL, SPK_ERR_UNSUPPORTED, "%s: node '%s': NIR has no %s", w->path, n->name, p->kind == SPK_POOL_MAX ? "max pooling" : "1-d pooling");
            break;
        }
        w_str(w, g, "type", p->kind == SPK_POOL_SUM ? "SumPool2d" : "AvgPool2d");
        int k[2] = {p->k_h, p->k_w}, s[2] = {p->stride_h, p->stride_w}, pd[2] = {p->pad_h, p->pad_w};
        w_ints(w, g, "kernel_size", k, 2);
        w_ints(w, g, "stride", s, 2);
        w_ints(w, g, "padding", pd, 2);
        break;
    }
    case SPK_NODE_FLATTEN: {
        w_str(w, g, "type", "Flatten");
        w_i64s(w, g, "start_dim", n->flat_partial ? n->flat_start : 0);
        w_i64s(w, g, "end_dim", n->flat_partial ? n->flat_end : -1);
        int64_t s[SPK_MAX_DIMS];
        for (int i = 0; i < n->in_ndim; i++) s[i] = n->in_dims[i];
        size_t k = (size_t)n->in_ndim;
        w_i64(w, g, "input_type", s, 1, &k);
        break;
    }
    case SPK_NODE_SCALE:
        shape_sz(n, &nd, d);
        if (!B) {
            w_str(w, g, "type", "Scale");
            w_f32(w, g, "scale", S, nd, d);
        } else { /* NIR's Scale has no bias: an Affine with a diagonal weight */
            size_t F = (size_t)n->out_numel;
            float *diag = spk_calloc(F * F, sizeof(float));
            if (!diag) {
                st = spk__fail(NULL, SPK_ERR_NOMEM, "%s: no memory for node '%s'", w->path, n->name);
                break;
            }
            for (size_t i = 0; i < F; i++) diag[i * F + i] = S[i];
            size_t dd[2] = {F, F};
            w_str(w, g, "type", "Affine");
            w_f32(w, g, "weight", diag, 2, dd);
            w_f32(w, g, "bias", B, 1, dd);
            spk_free(diag);
            if ((m = w_group(w, g, "metadata")) >= 0) w_str(w, m, "spk_node", "scale_bias");
        }
        break;
    case SPK_NODE_MERGE:
    case SPK_NODE_DROPOUT: { /* identity when running: a Scale of ones */
        if (n->kind == SPK_NODE_MERGE && n->merge_op != SPK_MERGE_ADD) {
            st = spk__fail(NULL, SPK_ERR_UNSUPPORTED, "%s: node '%s' (merge %s) has no NIR primitive (NIR sums a node's inputs)", w->path, n->name,
                           spk_merge_op_name(n->merge_op));
            break;
        }
        shape_sz(n, &nd, d);
        float *one = spk_malloc((size_t)n->out_numel * sizeof(float));
        if (!one) {
            st = spk__fail(NULL, SPK_ERR_NOMEM, "%s: no memory", w->path);
            break;
        }
        for (int i = 0; i < n->out_numel; i++) one[i] = 1.0f;
        w_str(w, g, "type", "Scale");
        w_f32(w, g, "scale", one, nd, d);
        spk_free(one);
        if ((m = w_group(w, g, "metadata")) >= 0) {
            w_str(w, m, "spk_node", n->kind == SPK_NODE_MERGE ? "merge" : "dropout");
            if (n->kind == SPK_NODE_DROPOUT) w_f64s(w, m, "spk_p", n->drop_p);
        }
        break;
    }
    case SPK_NODE_DELAY: {
        shape_sz(n, &nd, d);
        size_t F = (size_t)n->out_numel;
        double *sec = spk_malloc(F * sizeof(double));
        int64_t *steps = spk_malloc(F * sizeof(int64_t));
        if (!sec || !steps) st = spk__fail(NULL, SPK_ERR_NOMEM, "%s: no memory", w->path);
        for (size_t i = 0; !st && i < F; i++) {
            int32_t k = n->delays[n->ndelays == 1 ? 0 : i];
            sec[i] = k * o->dt;
            steps[i] = k;
        }
        if (!st) {
            w_str(w, g, "type", "Delay");
            w_f64(w, g, "delay", sec, nd, d);
            if ((m = w_group(w, g, "metadata")) >= 0) {
                w_str(w, m, "spk_node", "delay");
                w_i64(w, m, "spk_delay", steps, 1, &F);
            }
        }
        spk_free(sec);
        spk_free(steps);
        break;
    }
    case SPK_NODE_NEURON: st = write_neuron(w, g, net, n, o); break;
    default: st = spk__fail(NULL, SPK_ERR_UNSUPPORTED, "%s: node '%s' (%s) has no NIR primitive", w->path, n->name, spk_node_kind_name(n->kind));
    }
    if (m >= 0) H5Gclose(m);
    /* spk's node index, so that reading keeps the node (and parameter) order */
    if (!st && w->ok) {
        m = has(g, "metadata") ? H5Gopen2(g, "metadata", H5P_DEFAULT) : w_group(w, g, "metadata");
        if (m >= 0) {
            w_i64s(w, m, "spk_index", v);
            H5Gclose(m);
        }
    }
    H5Gclose(g);
    return st;
}

spk_status spk_nir_write(const char *path, spk_net *net, int output, const spk_nir_options *opt) {
    if (!path || !net) return spk__fail(NULL, SPK_ERR_INVALID_ARG, "spk_nir_write: path or net is NULL");
    if (!net->built) return spk__fail(NULL, SPK_ERR_STATE, "spk_nir_write: build the network first");
    if (output < 0 || output >= net->n_nodes) return spk__fail(NULL, SPK_ERR_INVALID_ARG, "spk_nir_write: output node %d does not exist", output);
    spk_nir_options o = opt ? *opt : spk_nir_options_default();
    spk_status st = check_opts(&o);
    if (st) return st;
    for (int v = 0; v < net->n_nodes; v++)
        if (net->nodes[v].kind == SPK_NODE_ATTENTION)
            return spk__fail(NULL, SPK_ERR_UNSUPPORTED, "%s: node '%s' (attention) has no NIR primitive (NIR has no product of two signals); nothing written",
                             path, net->nodes[v].name);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    char tmp[SPK_PATH_MAX + 32];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    wr w = {-1, 1, path, ""};
    w.file = H5Fcreate(tmp, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    if (w.file < 0) return spk__fail(NULL, SPK_ERR_IO, "%s: cannot create %s", path, tmp);
    w_str(&w, w.file, "version", SPK_NIR_VERSION);
    hid_t top = w_group(&w, w.file, "node");
    hid_t nodes = top >= 0 ? w_group(&w, top, "nodes") : -1;
    if (top >= 0) w_str(&w, top, "type", "NIRGraph");
    /* the Output node's name: "output" unless a node has it */
    char oname[NAME_MAX_] = "output";
    for (int k = 1; spk_net_find(net, oname) >= 0 && k < 1000; k++) snprintf(oname, sizeof oname, "output_%d", k);
    for (int v = 0; v < net->n_nodes && !st && w.ok; v++) st = write_node(&w, nodes, net, v, &o);
    if (!st && w.ok) {
        hid_t g = w_group(&w, nodes, oname);
        if (g >= 0) {
            const spk__node *n = &net->nodes[output];
            w_str(&w, g, "type", "Output");
            int64_t s[SPK_MAX_DIMS];
            for (int i = 0; i < n->out_ndim; i++) s[i] = n->out_dims[i];
            size_t k = (size_t)n->out_ndim;
            w_i64(&w, g, "shape", s, 1, &k);
            H5Gclose(g);
        }
        /* edges: every spk edge, then readout -> output */
        size_t E = (size_t)net->n_edges + 1;
        const char **names = spk_calloc(2 * E, sizeof(char *));
        if (!names) st = spk__fail(NULL, SPK_ERR_NOMEM, "%s: no memory", path);
        for (int e = 0; !st && e < net->n_edges; e++) {
            names[2 * e] = net->nodes[net->edges[e].from].name;
            names[2 * e + 1] = net->nodes[net->edges[e].to].name;
        }
        if (!st) {
            names[2 * E - 2] = net->nodes[output].name;
            names[2 * E - 1] = oname;
            hid_t t = H5Tcopy(H5T_C_S1);
            H5Tset_size(t, H5T_VARIABLE);
            H5Tset_cset(t, H5T_CSET_UTF8);
            size_t d[2] = {E, 2};
            w_data(&w, top, "edges", t, t, names, 2, d);
            H5Tclose(t);
        }
        spk_free(names);
    }
    if (nodes >= 0) H5Gclose(nodes);
    if (top >= 0) H5Gclose(top);
    if (H5Fclose(w.file) < 0) w_fail(&w, "closing the file");
    if (st || !w.ok) {
        remove(tmp);
        if (!st) st = spk__fail(NULL, SPK_ERR_IO, "%s: writing '%s' failed (the previous file is untouched)", path, w.err);
        return st;
    }
    int fd = open(tmp, O_RDONLY); /* on disk before the rename */
    int synced = fd >= 0 && fsync(fd) == 0;
    if (fd >= 0) close(fd);
    if (!synced || rename(tmp, path) != 0) {
        remove(tmp);
        return spk__fail(NULL, SPK_ERR_IO, "%s: cannot %s (the previous file is untouched)", path, synced ? "replace it" : "sync the new file");
    }
    return SPK_OK;
}

void spk_nir_graph_free(spk_nir_graph *g) {
    if (!g) return;
    spk_net_free(g->net);
    memset(g, 0, sizeof *g);
}

/* ======================================================================================
 * Embedding in model files
 * ====================================================================================== */

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *spk__base64_encode(const unsigned char *d, size_t n) {
    char *o = spk_malloc((n + 2) / 3 * 4 + 1);
    if (!o) return NULL;
    size_t k = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)d[i] << 16 | (i + 1 < n ? (uint32_t)d[i + 1] << 8 : 0) | (i + 2 < n ? d[i + 2] : 0);
        o[k++] = b64[v >> 18 & 63];
        o[k++] = b64[v >> 12 & 63];
        o[k++] = i + 1 < n ? b64[v >> 6 & 63] : '=';
        o[k++] = i + 2 < n ? b64[v & 63] : '=';
    }
    o[k] = 0;
    return o;
}

int spk__base64_decode(const char *t, unsigned char **out, size_t *n) {
    size_t L = strlen(t);
    unsigned char *o = spk_malloc(L / 4 * 3 + 3);
    if (!o) return -1;
    uint32_t acc = 0;
    int bits = 0, pad = 0;
    size_t k = 0;
    for (const char *p = t; *p; p++) {
        if (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t') continue;
        if (*p == '=') {
            pad++;
            continue;
        }
        const char *q = strchr(b64, *p);
        if (!q || pad) {
            spk_free(o);
            return -1;
        }
        acc = acc << 6 | (uint32_t)(q - b64);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            o[k++] = (unsigned char)(acc >> bits & 255);
        }
    }
    if (pad > 2 || k == 0) {
        spk_free(o);
        return -1;
    }
    *out = o;
    *n = k;
    return 0;
}

spk_status spk__nir_build(const spk_experiment *e, int ndim, const int *dims, spk_net **out, int *readout) {
    spk_nir_options o = {e->nir_dt, (spk_nir_method)e->nir_method};
    char name[SPK_PATH_MAX + 32];
    snprintf(name, sizeof name, "%s (embedded NIR graph)", e->source);
    spk_nir_graph g;
    spk_status st = spk_nir_read_memory(e->nir_data, e->nir_len, name, &o, &g);
    if (st) return st;
    int d[SPK_MAX_DIMS], nd = spk_net_node_shape(g.net, g.input, d);
    int same = nd == ndim;
    for (int i = 0; same && i < nd; i++) same = d[i] == dims[i];
    if (!same) {
        spk_nir_graph_free(&g);
        return spk__fail(NULL, SPK_ERR_SHAPE, "%s: the input shape differs from the model's", name);
    }
    *out = g.net;
    *readout = g.output;
    return SPK_OK;
}
