/* experiment.c — experiment files: YAML (read with libyaml's document API) naming the data,
 * the encoding, the network (a sequence of layers) and the training. Every key is checked
 * against the keys its section allows, every value against its type and range, and each
 * refusal says FILE:LINE:COLUMN. Also writes the resolved experiment back as YAML and builds
 * the network it describes. It does not load data or train. */
#include "core/core.h"
#include "io/nir_impl.h"
#include "net/net_impl.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

typedef struct ctx {
    yaml_document_t doc;
    const char *name;
    spk_status st;
    yaml_node_t *branch; /* the 'layers' of the residual layer being parsed */
    yaml_node_t *shortcut; /* ... and its 'shortcut' */
} ctx;

#define FAIL_AT(c, node, ...)                                                                    \
    do {                                                                                         \
        char msg_[SPK__ERRMSG_LEN];                                                                        \
        snprintf(msg_, sizeof msg_, __VA_ARGS__);                                                \
        spk__fail(NULL, SPK_ERR_FORMAT, "%s:%zu:%zu: %s", (c)->name, (node)->start_mark.line + 1, \
                  (node)->start_mark.column + 1, msg_);                                          \
        (c)->st = SPK_ERR_FORMAT;                                                                \
        return SPK_ERR_FORMAT;                                                                   \
    } while (0)

static yaml_node_t *node_at(ctx *c, int id) { return yaml_document_get_node(&c->doc, id); }

static const char *scalar(yaml_node_t *n) { return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL; }

/* ---------------------------------------------------------------- typed values --------- */

static spk_status get_int(ctx *c, yaml_node_t *n, const char *key, long lo, long hi, int *out) {
    const char *s = scalar(n);
    if (!s) FAIL_AT(c, n, "'%s' must be an integer", key);
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end) FAIL_AT(c, n, "'%s' must be an integer, got '%s'", key, s);
    if (v < lo || v > hi) FAIL_AT(c, n, "'%s' = %ld is out of range [%ld, %ld]", key, v, lo, hi);
    *out = (int)v;
    return SPK_OK;
}

static spk_status get_u64(ctx *c, yaml_node_t *n, const char *key, uint64_t *out) {
    const char *s = scalar(n);
    if (!s) FAIL_AT(c, n, "'%s' must be a non-negative integer", key);
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *end || s[0] == '-') FAIL_AT(c, n, "'%s' must be a non-negative integer, got '%s'", key, s);
    *out = (uint64_t)v;
    return SPK_OK;
}

static spk_status get_float(ctx *c, yaml_node_t *n, const char *key, double lo, double hi, float *out) {
    const char *s = scalar(n);
    if (!s) FAIL_AT(c, n, "'%s' must be a number", key);
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !isfinite(v)) FAIL_AT(c, n, "'%s' must be a finite number, got '%s'", key, s);
    if (v < lo || v > hi) FAIL_AT(c, n, "'%s' = %g is out of range [%g, %g]", key, v, lo, hi);
    *out = (float)v;
    return SPK_OK;
}

static spk_status get_bool(ctx *c, yaml_node_t *n, const char *key, int *out) {
    const char *s = scalar(n);
    if (s && (!strcmp(s, "true") || !strcmp(s, "yes") || !strcmp(s, "on"))) *out = 1;
    else if (s && (!strcmp(s, "false") || !strcmp(s, "no") || !strcmp(s, "off"))) *out = 0;
    else FAIL_AT(c, n, "'%s' must be true or false%s%s%s", key, s ? ", got '" : "", s ? s : "", s ? "'" : "");
    return SPK_OK;
}

static spk_status get_str(ctx *c, yaml_node_t *n, const char *key, char *buf, size_t cap) {
    const char *s = scalar(n);
    if (!s) FAIL_AT(c, n, "'%s' must be a string", key);
    if (strlen(s) >= cap) FAIL_AT(c, n, "'%s' is longer than %zu characters", key, cap - 1);
    snprintf(buf, cap, "%s", s);
    return SPK_OK;
}

/* one of a list of names; *out gets its index */
static spk_status get_choice(ctx *c, yaml_node_t *n, const char *key, int (*from_name)(const char *), const char *choices, int *out) {
    const char *s = scalar(n);
    int v = s ? from_name(s) : -1;
    if (v < 0) FAIL_AT(c, n, "'%s' must be one of %s%s%s%s", key, choices, s ? ", got '" : "", s ? s : "", s ? "'" : "");
    *out = v;
    return SPK_OK;
}

/* an integer or a list of `n` integers (e.g. kernel: 5 or kernel: [5, 3]) */
static spk_status get_ints(ctx *c, yaml_node_t *v, const char *key, int n, long lo, long hi, int *out) {
    if (v->type == YAML_SCALAR_NODE) {
        int x;
        spk_status st = get_int(c, v, key, lo, hi, &x);
        for (int i = 0; i < n && !st; i++) out[i] = x;
        return st;
    }
    if (v->type != YAML_SEQUENCE_NODE) FAIL_AT(c, v, "'%s' must be an integer or a list of %d integers", key, n);
    int k = (int)(v->data.sequence.items.top - v->data.sequence.items.start);
    if (k != n) FAIL_AT(c, v, "'%s' must list %d integers, not %d", key, n, k);
    for (int i = 0; i < n; i++) {
        spk_status st = get_int(c, node_at(c, v->data.sequence.items.start[i]), key, lo, hi, &out[i]);
        if (st) return st;
    }
    return SPK_OK;
}

/* ---------------------------------------------------------------- mappings ------------- */

typedef spk_status (*key_fn)(ctx *c, void *target, const char *key, yaml_node_t *val);

/* Walk a mapping, dispatching each key to `fn`; unknown keys are refused naming `allowed`. */
static spk_status walk_map(ctx *c, yaml_node_t *map, const char *section, const char *const *allowed, key_fn fn, void *target) {
    if (!map || map->type != YAML_MAPPING_NODE) {
        if (map && map->type == YAML_SCALAR_NODE && scalar(map)[0] == '\0') return SPK_OK; /* empty */
        FAIL_AT(c, map, "'%s' must be a mapping of keys to values", section);
    }
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
        yaml_node_t *k = node_at(c, p->key), *v = node_at(c, p->value);
        const char *key = scalar(k);
        if (!key) FAIL_AT(c, k, "keys in '%s' must be plain names", section);
        int known = 0;
        for (int i = 0; allowed[i]; i++) known |= !strcmp(allowed[i], key);
        if (!known) {
            char list[300] = "";
            for (int i = 0; allowed[i]; i++) {
                strncat(list, i ? ", " : "", sizeof list - strlen(list) - 1);
                strncat(list, allowed[i], sizeof list - strlen(list) - 1);
            }
            FAIL_AT(c, k, "unknown key '%s' in '%s' (allowed: %s)", key, section, list);
        }
        for (yaml_node_pair_t *q = map->data.mapping.pairs.start; q < p; q++)
            if (!strcmp(scalar(node_at(c, q->key)) ? scalar(node_at(c, q->key)) : "", key)) FAIL_AT(c, k, "key '%s' appears twice in '%s'", key, section);
        spk_status st = fn(c, target, key, v);
        if (st) return st;
    }
    return SPK_OK;
}

#define IS(k) (!strcmp(key, k))

static int dataset_from_name(const char *s) {
    static const char *const n[] = {"fashion_mnist", "yinyang", "randman", "files"};
    for (int i = 0; i < 4; i++)
        if (!strcmp(n[i], s)) return i;
    return -1;
}
static const char *const dataset_names[] = {"fashion_mnist", "yinyang", "randman", "files"};

static spk_status randman_key(ctx *c, void *t, const char *key, yaml_node_t *v) {
    spk_randman_params *r = t;
    if (IS("classes")) return get_int(c, v, key, 2, 1000, &r->classes);
    if (IS("units")) return get_int(c, v, key, 1, 100000, &r->units);
    if (IS("steps")) return get_int(c, v, key, 1, 100000, &r->steps);
    if (IS("samples_per_class")) return get_int(c, v, key, 1, 10000000, &r->samples_per_class);
    if (IS("dim")) return get_int(c, v, key, 1, 64, &r->dim);
    if (IS("alpha")) return get_float(c, v, key, 0, 100, &r->alpha);
    if (IS("freqs")) return get_int(c, v, key, 1, 1000, &r->freqs);
    if (IS("test_fraction")) return get_float(c, v, key, 0.001, 0.999, &r->test_fraction);
    return get_u64(c, v, key, &r->seed); /* seed */
}

static spk_status augment_key(ctx *c, void *t, const char *key, yaml_node_t *v) {
    spk_experiment *e = t;
    if (IS("shift")) return get_int(c, v, key, 0, 64, &e->aug_shift);
    return get_bool(c, v, key, &e->aug_flip); /* flip */
}

static spk_status data_key(ctx *c, void *t, const char *key, yaml_node_t *v) {
    spk_experiment *e = t;
    if (IS("augment")) {
        static const char *const ak[] = {"shift", "flip", NULL};
        return walk_map(c, v, "data.augment", ak, augment_key, e);
    }
    if (IS("dataset")) {
        int k;
        spk_status st = get_choice(c, v, key, dataset_from_name, "fashion_mnist, yinyang, randman, files", &k);
        if (!st) snprintf(e->dataset, sizeof e->dataset, "%s", dataset_names[k]);
        return st;
    }
    if (IS("dir")) return get_str(c, v, key, e->data_dir, sizeof e->data_dir);
    if (IS("x_train")) return get_str(c, v, key, e->x_train, sizeof e->x_train);
    if (IS("y_train")) return get_str(c, v, key, e->y_train, sizeof e->y_train);
    if (IS("x_test")) return get_str(c, v, key, e->x_test, sizeof e->x_test);
    if (IS("y_test")) return get_str(c, v, key, e->y_test, sizeof e->y_test);
    if (IS("has_time")) return get_bool(c, v, key, &e->has_time);
    if (IS("train_samples")) return get_int(c, v, key, 0, 100000000, &e->train_samples);
    if (IS("test_samples")) return get_int(c, v, key, 0, 100000000, &e->test_samples);
    if (IS("seed")) return get_u64(c, v, key, &e->data_seed);
    static const char *const rk[] = {"classes", "units", "steps", "samples_per_class", "dim", "alpha", "freqs", "test_fraction", "seed", NULL};
    return walk_map(c, v, "data.randman", rk, randman_key, &e->randman); /* randman */
}

static spk_status enc_key(ctx *c, void *t, const char *key, yaml_node_t *v) {
    spk_experiment *e = t;
    spk_encoder_config *x = &e->encoder;
    if (IS("kind")) {
        int k;
        spk_status st = get_choice(c, v, key, spk_encoding_from_name,
                                   "direct, rate, poisson, latency, latency_log, delta, phase, burst, population", &k);
        if (st) return st;
        spk_rng keep = x->rng;
        *x = spk_encoder_default((spk_encoding)k); /* the kind's defaults; later keys override */
        x->rng = keep;
        return SPK_OK;
    }
    if (IS("steps")) return get_int(c, v, key, 1, 1000000, &e->steps);
    if (IS("gain")) return get_float(c, v, key, 0, 1e6, &x->gain);
    if (IS("threshold")) return get_float(c, v, key, 1e-9, 1e6, &x->threshold);
    if (IS("tau")) return get_float(c, v, key, 1e-6, 1e6, &x->tau);
    if (IS("bits")) return get_int(c, v, key, 1, 24, &x->bits);
    if (IS("burst_max")) return get_int(c, v, key, 1, 1000, &x->burst_max);
    if (IS("pop_size")) return get_int(c, v, key, 1, 1000, &x->pop_size);
    if (IS("pop_min")) return get_float(c, v, key, -1e6, 1e6, &x->pop_min);
    if (IS("pop_max")) return get_float(c, v, key, -1e6, 1e6, &x->pop_max);
    if (IS("pop_sigma")) return get_float(c, v, key, 0, 1e6, &x->pop_sigma);
    return get_u64(c, v, key, &x->rng.seed); /* seed */
}

/* ---------------------------------------------------------------- layers --------------- */

static int layer_from_name(const char *s) {
    static const char *const n[] = {"dense", "conv", "pool", "flatten", "dropout", "neuron", "scale", "delay", "attention", "batchnorm", "residual", "reversible"};
    for (int i = 0; i < SPK_LAYER_KIND_COUNT; i++)
        if (!strcmp(n[i], s)) return i;
    return -1;
}
static const char *const layer_names[SPK_LAYER_KIND_COUNT] = {"dense", "conv", "pool", "flatten", "dropout", "neuron", "scale", "delay", "attention", "batchnorm", "residual", "reversible"};
static int rev_op_from_name(const char *s) { return !strcmp(s, "dense") ? SPK_REV_DENSE : !strcmp(s, "conv") ? SPK_REV_CONV : -1; }
static const char *const rev_op_names[SPK_REV_OP_COUNT] = {"dense", "conv"};
static const char *const pool_names[3] = {"sumpool", "avgpool", "maxpool"};

static int learn_from_name(const char *s) {
    if (!strcmp(s, "false") || !strcmp(s, "no") || !strcmp(s, "off")) return SPK_LEARN_OFF;
    if (!strcmp(s, "true") || !strcmp(s, "yes") || !strcmp(s, "per_neuron")) return SPK_LEARN_PER_NEURON;
    if (!strcmp(s, "shared")) return SPK_LEARN_SHARED;
    return -1;
}
static const char *const learn_names[3] = {"false", "per_neuron", "shared"};

static spk_status layer_key(ctx *c, void *t, const char *key, yaml_node_t *v) {
    spk_layer_spec *L = t;
    spk_neuron_config *n = &L->neuron;
    int k;
    spk_status st;
    if (IS("name")) {
        if ((st = get_str(c, v, key, L->name, sizeof L->name))) return st;
        if (!L->name[0]) FAIL_AT(c, v, "'name' must not be empty");
        return SPK_OK;
    }
    switch (L->kind) {
    case SPK_LAYER_DENSE:
        if (IS("units")) return get_int(c, v, key, 1, 100000000, &L->units);
        return get_bool(c, v, key, &L->bias);
    case SPK_LAYER_CONV:
        if (IS("channels")) return get_int(c, v, key, 1, 100000, &L->channels);
        if (IS("dims")) return get_int(c, v, key, 1, 2, &L->dims);
        if (IS("groups")) return get_int(c, v, key, 1, 100000, &L->groups);
        if (IS("bias")) return get_bool(c, v, key, &L->bias);
        /* kernel, stride, padding, dilation: as for pooling */
        __attribute__((fallthrough));
    case SPK_LAYER_POOL:
        if (IS("kernel")) return get_ints(c, v, key, 2, 1, 10000, L->kernel);
        if (IS("stride")) return get_ints(c, v, key, 2, 1, 10000, L->stride);
        if (IS("padding")) return get_ints(c, v, key, 2, 0, 10000, L->padding);
        if (IS("dilation")) return get_ints(c, v, key, 2, 1, 10000, L->dilation);
        return get_int(c, v, key, 1, 2, &L->dims); /* pool: dims */
    case SPK_LAYER_DROPOUT: return get_float(c, v, key, 0, 0.999, &L->p);
    case SPK_LAYER_DELAY: return get_int(c, v, key, 0, 100000, &L->delay);
    case SPK_LAYER_NORM:
        if (IS("alpha")) return get_float(c, v, key, 1e-9, 1e9, &L->norm.alpha);
        if (IS("v_th")) return get_float(c, v, key, 1e-9, 1e9, &L->norm.v_th);
        if (IS("eps")) return get_float(c, v, key, 0, 1, &L->norm.eps);
        if (IS("gamma")) return get_float(c, v, key, -1e9, 1e9, &L->norm.gamma);
        return get_float(c, v, key, 0, 1, &L->norm.momentum); /* momentum */
    case SPK_LAYER_RESIDUAL:
        if (IS("connect")) {
            if ((st = get_choice(c, v, key, spk_merge_op_from_name, "add, and, iand", &k))) return st;
            L->connect = (spk_merge_op)k;
            return SPK_OK;
        }
        if (IS("shortcut")) c->shortcut = v;
        else c->branch = v; /* layers (and shortcut): parsed by the network section */
        return SPK_OK;
    case SPK_LAYER_ATTENTION: /* its own keys, then the neuron settings of its populations */
        if (IS("heads")) return get_int(c, v, key, 1, 100000, &L->heads);
        if (IS("scale")) return get_float(c, v, key, 1e-9, 1e9, &L->attn_scale);
        if (IS("attn_threshold")) return get_float(c, v, key, 1e-9, 1e9, &L->attn_threshold);
        if (IS("batchnorm")) return get_bool(c, v, key, &L->attn_norm);
        if (IS("kind")) return get_choice(c, v, key, spk_attention_kind_from_name, "spikformer, stochastic", &L->attn_kind);
        if (IS("neuron")) {
            if ((st = get_choice(c, v, key, spk_neuron_kind_from_name, "lif, cuba, alif", &k))) return st;
            if (k == SPK_NEURON_COMPLEX) FAIL_AT(c, v, "complex neurons cannot be used in a network yet");
            n->kind = (spk_neuron_kind)k;
            return SPK_OK;
        }
        __attribute__((fallthrough));
    case SPK_LAYER_REVERSIBLE: /* its own keys, then the neuron's */
        if (IS("blocks")) return get_int(c, v, key, 1, 100000, &L->blocks);
        if (IS("op")) return get_choice(c, v, key, rev_op_from_name, "dense, conv", &L->rev_op);
        if (IS("kernel")) {
            if ((st = get_int(c, v, key, 1, 1001, &L->kernel[0]))) return st;
            if (L->kernel[0] % 2 == 0) FAIL_AT(c, v, "'kernel' must be odd (the blocks' convolutions keep the size: 'same' padding)");
            L->kernel[1] = L->kernel[0];
            return SPK_OK;
        }
        if (IS("bias")) return get_bool(c, v, key, &L->bias);
        __attribute__((fallthrough));
    case SPK_LAYER_NEURON:
        if (IS("kind")) {
            if ((st = get_choice(c, v, key, spk_neuron_kind_from_name, "lif, cuba, alif", &k))) return st;
            if (k == SPK_NEURON_COMPLEX) FAIL_AT(c, v, "complex neurons cannot be used in a network yet");
            n->kind = (spk_neuron_kind)k;
            return SPK_OK;
        }
        if (IS("beta")) return get_float(c, v, key, -1, 1, &n->lam);
        if (IS("threshold")) return get_float(c, v, key, 1e-9, 1e9, &n->thr);
        if (IS("alpha")) return get_float(c, v, key, -1, 1, &n->alpha);
        if (IS("gain")) return get_float(c, v, key, -1e9, 1e9, &n->gain);
        if (IS("v_reset")) return get_float(c, v, key, -1e9, 1e9, &n->v_reset);
        if (IS("refractory")) return get_int(c, v, key, 0, 100000, &n->ref_steps);
        if (IS("sigma")) return get_float(c, v, key, 1e-9, 1e9, &n->sigma);
        if (IS("n_max")) return get_int(c, v, key, 0, 1000000, &n->n_max);
        if (IS("adapt_rho")) return get_float(c, v, key, -1, 1, &n->adapt_rho);
        if (IS("adapt_beta")) return get_float(c, v, key, 0, 1e9, &n->adapt_beta);
        if (IS("surrogate_scale")) return get_float(c, v, key, 0, 1e9, &n->surrogate_scale);
        if (IS("replicas")) return get_int(c, v, key, 1, 4096, &n->replicas);
        if (IS("detach_reset")) return get_bool(c, v, key, &n->detach_reset);
        if (IS("recurrent")) return get_bool(c, v, key, &L->recurrent);
        if (IS("recurrent_bias")) return get_bool(c, v, key, &L->recurrent_bias);
        if (IS("fire")) {
            if ((st = get_choice(c, v, key, spk_fire_kind_from_name, "heaviside, gauss, cauchy, graded, none", &k))) return st;
            n->fire = (spk_fire_kind)k;
            return SPK_OK;
        }
        if (IS("graded_noise")) {
            const char *s = scalar(v);
            if (s && !strcmp(s, "none")) n->graded_noise = 0;
            else if (s && !strcmp(s, "gauss")) n->graded_noise = SPK_FIRE_GAUSS;
            else if (s && !strcmp(s, "cauchy")) n->graded_noise = SPK_FIRE_CAUCHY;
            else FAIL_AT(c, v, "'graded_noise' must be one of none, gauss, cauchy");
            return SPK_OK;
        }
        if (IS("reset")) {
            if ((st = get_choice(c, v, key, spk_reset_kind_from_name, "soft, hard, hard_all, refractory, none", &k))) return st;
            n->reset = (spk_reset_kind)k;
            return SPK_OK;
        }
        if (IS("timing")) {
            if ((st = get_choice(c, v, key, spk_reset_timing_from_name, "delayed, same_step, snntorch_nodelay", &k))) return st;
            n->timing = (spk_reset_timing)k;
            return SPK_OK;
        }
        if (IS("surrogate")) {
            if ((st = get_choice(c, v, key, spk_surrogate_from_name,
                                 "auto, atan, erf, fast_sigmoid, sigmoid, triangle, exp, ste, softplus_ramp", &k)))
                return st;
            n->surrogate = (spk_surrogate_kind)k;
            return SPK_OK;
        }
        if (IS("learn_beta") || IS("learn_threshold")) {
            if ((st = get_choice(c, v, key, learn_from_name, "false, per_neuron (or true), shared", &k))) return st;
            *(IS("learn_beta") ? &L->learn_beta : &L->learn_threshold) = k;
            return SPK_OK;
        }
        return SPK_OK;
    default: return SPK_OK;
    }
}

static const char *const dense_keys[] = {"name", "units", "bias", NULL};
static const char *const conv_keys[] = {"name", "channels", "kernel", "stride", "padding", "dilation", "groups", "bias", "dims", NULL};
static const char *const pool_keys[] = {"name", "kernel", "stride", "padding", "dims", NULL};
static const char *const plain_keys[] = {"name", NULL};
static const char *const dropout_keys[] = {"name", "p", NULL};
static const char *const delay_keys[] = {"name", "steps", NULL};
static const char *const norm_keys[] = {"name", "alpha", "v_th", "eps", "momentum", "gamma", NULL};
static const char *const residual_keys[] = {"name", "connect", "layers", "shortcut", NULL};
static const char *const neuron_keys[] = {"name", "kind", "beta", "threshold", "alpha", "gain", "reset", "timing", "v_reset",
                                          "refractory", "fire", "sigma", "n_max", "graded_noise", "replicas", "adapt_rho",
                                          "adapt_beta", "surrogate", "surrogate_scale", "detach_reset", "recurrent", "recurrent_bias",
                                          "learn_beta", "learn_threshold", NULL};

static const char *const attention_keys[] = {"name", "kind", "heads", "scale", "attn_threshold", "batchnorm", "neuron", "beta", "threshold", "alpha",
                                             "gain", "reset", "timing", "v_reset", "refractory", "fire", "sigma", "n_max", "graded_noise",
                                             "replicas", "adapt_rho", "adapt_beta", "surrogate", "surrogate_scale", "detach_reset",
                                             "learn_beta", "learn_threshold", NULL};
static const char *const reversible_keys[] = {"name", "blocks", "op", "kernel", "bias", "kind", "beta", "threshold", "alpha", "gain", "reset",
                                              "timing", "v_reset", "refractory", "fire", "sigma", "n_max", "graded_noise", "replicas",
                                              "adapt_rho", "adapt_beta", "surrogate", "surrogate_scale", "detach_reset", "learn_beta",
                                              "learn_threshold", NULL};

static spk_status parse_layer(ctx *c, yaml_node_t *item, spk_layer_spec *L, int index) {
    const char *type;
    yaml_node_t *body = NULL, *tnode = item;
    if (item->type == YAML_SCALAR_NODE) {
        type = scalar(item);
    } else if (item->type == YAML_MAPPING_NODE && item->data.mapping.pairs.top - item->data.mapping.pairs.start == 1) {
        tnode = node_at(c, item->data.mapping.pairs.start->key);
        type = scalar(tnode);
        body = node_at(c, item->data.mapping.pairs.start->value);
    } else {
        FAIL_AT(c, item, "each layer is one type with its settings, e.g. '- dense: {units: 100}' or '- flatten'");
    }
    memset(L, 0, sizeof *L);
    L->line = (int)tnode->start_mark.line + 1;
    L->bias = 1;
    L->recurrent_bias = 1;
    L->dims = 2;
    L->groups = 1;
    L->kernel[0] = L->kernel[1] = 0;
    L->stride[0] = L->stride[1] = 0;
    L->dilation[0] = L->dilation[1] = 1;
    L->neuron = spk_neuron_config_default();
    L->heads = 1;
    L->attn_scale = 0.125f;
    L->attn_threshold = 0.5f;
    L->norm = spk_norm_config_default();
    const char *const *keys;
    int pool = -1;
    for (int i = 0; i < 3 && type; i++)
        if (!strcmp(type, pool_names[i])) pool = i;
    if (type && (!strcmp(type, "lif") || !strcmp(type, "cuba") || !strcmp(type, "alif"))) {
        L->kind = SPK_LAYER_NEURON;
        L->neuron.kind = !strcmp(type, "lif") ? SPK_NEURON_LIF : !strcmp(type, "cuba") ? SPK_NEURON_CUBA : SPK_NEURON_ALIF;
    } else if (pool >= 0) {
        L->kind = SPK_LAYER_POOL;
        L->pool = pool;
    } else if (!type || layer_from_name(type) < 0 || !strcmp(type, "pool") || !strcmp(type, "neuron")) {
        FAIL_AT(c, tnode, "unknown layer type '%s' (allowed: dense, conv, maxpool, avgpool, sumpool, flatten, dropout, "
                          "scale, delay, batchnorm, residual, lif, cuba, alif, attention, reversible)", type ? type : "");
    } else {
        L->kind = (spk_layer_kind)layer_from_name(type);
    }
    switch (L->kind) {
    case SPK_LAYER_DENSE: keys = dense_keys; break;
    case SPK_LAYER_CONV: keys = conv_keys; break;
    case SPK_LAYER_POOL: keys = pool_keys; break;
    case SPK_LAYER_DROPOUT: keys = dropout_keys; break;
    case SPK_LAYER_DELAY: keys = delay_keys; break;
    case SPK_LAYER_NEURON: keys = neuron_keys; break;
    case SPK_LAYER_ATTENTION: keys = attention_keys; break;
    case SPK_LAYER_NORM: keys = norm_keys; break;
    case SPK_LAYER_RESIDUAL: keys = residual_keys; break;
    case SPK_LAYER_REVERSIBLE:
        keys = reversible_keys;
        L->blocks = 0;
        L->rev_op = SPK_REV_DENSE;
        L->kernel[0] = L->kernel[1] = 3;
        break;
    default: keys = plain_keys; break;
    }
    char section[64];
    snprintf(section, sizeof section, "network[%d] (%s)", index, type);
    c->branch = c->shortcut = NULL;
    if (body) {
        spk_status st = walk_map(c, body, section, keys, layer_key, L);
        if (st) return st;
    }
    /* required values and defaults */
    if (L->kind == SPK_LAYER_DENSE && L->units < 1) FAIL_AT(c, tnode, "dense layer needs 'units'");
    if (L->kind == SPK_LAYER_CONV && (L->channels < 1 || L->kernel[0] < 1)) FAIL_AT(c, tnode, "conv layer needs 'channels' and 'kernel'");
    if (L->kind == SPK_LAYER_POOL && L->kernel[0] < 1) FAIL_AT(c, tnode, "%s layer needs 'kernel'", type);
    if ((L->kind == SPK_LAYER_CONV || L->kind == SPK_LAYER_POOL) && L->stride[0] == 0) {
        L->stride[0] = L->kind == SPK_LAYER_POOL ? L->kernel[0] : 1;
        L->stride[1] = L->kind == SPK_LAYER_POOL ? L->kernel[1] : 1;
    }
    if (L->kind == SPK_LAYER_REVERSIBLE && L->blocks < 1) FAIL_AT(c, tnode, "reversible layer needs 'blocks' (the number of blocks, >= 1)");
    if ((L->kind == SPK_LAYER_NEURON || L->kind == SPK_LAYER_ATTENTION || L->kind == SPK_LAYER_REVERSIBLE) && spk_neuron_config_check(&L->neuron) != SPK_OK) {
        char m[SPK__ERRMSG_LEN - 64];
        snprintf(m, sizeof m, "%s", spk_errmsg(NULL));
        FAIL_AT(c, tnode, "%s", m);
    }
    if (L->kind == SPK_LAYER_DELAY && body) { /* 'steps' was read into delay via layer_key */ }
    if (!L->name[0]) snprintf(L->name, sizeof L->name, "%s%d", type, index + 1);
    return SPK_OK;
}

/* ---------------------------------------------------------------- training ------------- */

static int optim_from_name(const char *s) { return !strcmp(s, "sgd") ? 0 : !strcmp(s, "adam") ? 1 : !strcmp(s, "adamw") ? 2 : -1; }
static const char *const optim_names[3] = {"sgd", "adam", "adamw"};
static int sched_from_name(const char *s) { return !strcmp(s, "constant") ? 0 : !strcmp(s, "step") ? 1 : !strcmp(s, "cosine") ? 2 : -1; }
static const char *const sched_names[3] = {"constant", "step", "cosine"};
static int reduce_from_name(const char *s) {
    return !strcmp(s, "sum") ? 0 : !strcmp(s, "max") ? 1 : !strcmp(s, "last") ? 2 : !strcmp(s, "per_step") ? 3 : -1;
}
static const char *const reduce_names[4] = {"sum", "max", "last", "per_step"};
static int feedback_from_name(const char *s) { return !strcmp(s, "symmetric") ? 0 : !strcmp(s, "random") ? 1 : -1; }
static const char *const feedback_names[2] = {"symmetric", "random"};

static spk_status train_key(ctx *c, void *t, const char *key, yaml_node_t *v) {
    spk_experiment *e = t;
    spk_train_config *tc = &e->train;
    int k;
    spk_status st;
    if (IS("epochs")) return get_int(c, v, key, 1, 1000000, &e->epochs);
    if (IS("batch_size")) return get_int(c, v, key, 1, 1000000, &e->batch_size);
    if (IS("seed")) return get_u64(c, v, key, &e->seed);
    if (IS("checkpoint_every")) return get_int(c, v, key, 0, 100000000, &e->checkpoint_every);
    if (IS("loss")) {
        if ((st = get_choice(c, v, key, spk_loss_kind_from_name, "ce_count, ce_mem, mse_count, ce_first_spike", &k))) return st;
        tc->loss = (spk_loss_kind)k;
        return SPK_OK;
    }
    if (IS("mem_reduce")) {
        if ((st = get_choice(c, v, key, reduce_from_name, "sum, max, last, per_step", &k))) return st;
        tc->mem_reduce = (spk_mem_reduce)k;
        return SPK_OK;
    }
    if (IS("correct_rate")) return get_float(c, v, key, 0, 1, &tc->correct_rate);
    if (IS("incorrect_rate")) return get_float(c, v, key, 0, 1, &tc->incorrect_rate);
    if (IS("rate_target")) return get_float(c, v, key, 0, 1, &tc->rate_target);
    if (IS("rate_lambda")) return get_float(c, v, key, 0, 1e9, &tc->rate_lambda);
    if (IS("rate_l2")) return get_bool(c, v, key, &tc->rate_l2);
    if (IS("tbptt")) return get_int(c, v, key, 0, 100000000, &tc->tbptt_k);
    if (IS("method")) {
        if ((st = get_choice(c, v, key, spk_train_method_from_name, "bptt, tbptt, fptt, eprop, stdp", &k))) return st;
        tc->method = (spk_train_method)k;
        return SPK_OK;
    }
    if (IS("fptt_alpha")) return get_float(c, v, key, 1e-30, 1e9, &tc->fptt_alpha);
    if (IS("eprop_feedback")) {
        if ((st = get_choice(c, v, key, feedback_from_name, "symmetric, random", &k))) return st;
        tc->eprop_feedback = (spk_eprop_feedback)k;
        return SPK_OK;
    }
    if (IS("optimizer")) {
        if ((st = get_choice(c, v, key, optim_from_name, "sgd, adam, adamw", &k))) return st;
        float lr = tc->optim.lr, clip = tc->optim.clip_norm;
        tc->optim = spk_optim_config_default((spk_optim_kind)k); /* its defaults; later keys override */
        tc->optim.lr = lr;
        tc->optim.clip_norm = clip;
        return SPK_OK;
    }
    if (IS("lr")) {
        if ((st = get_float(c, v, key, 0, 1e3, &tc->optim.lr))) return st;
        tc->sched.base_lr = tc->optim.lr;
        return SPK_OK;
    }
    if (IS("momentum")) return get_float(c, v, key, 0, 1, &tc->optim.momentum);
    if (IS("nesterov")) return get_bool(c, v, key, &tc->optim.nesterov);
    if (IS("weight_decay")) return get_float(c, v, key, 0, 1e3, &tc->optim.weight_decay);
    if (IS("beta1")) return get_float(c, v, key, 0, 0.999999, &tc->optim.beta1);
    if (IS("beta2")) return get_float(c, v, key, 0, 0.999999999, &tc->optim.beta2);
    if (IS("eps")) return get_float(c, v, key, 1e-30, 1, &tc->optim.eps);
    if (IS("clip_norm")) return get_float(c, v, key, 0, 1e9, &tc->optim.clip_norm);
    if (IS("schedule")) {
        if ((st = get_choice(c, v, key, sched_from_name, "constant, step, cosine", &k))) return st;
        tc->sched.kind = (spk_sched_kind)k;
        return SPK_OK;
    }
    if (IS("warmup_steps")) return get_int(c, v, key, 0, 100000000, &tc->sched.warmup_steps);
    if (IS("hardware_safe")) return get_bool(c, v, key, &e->hardware_safe);
    if (IS("step_size")) return get_int(c, v, key, 1, 100000000, &tc->sched.step_size);
    if (IS("gamma")) return get_float(c, v, key, 0, 10, &tc->sched.gamma);
    if (IS("total_steps")) return get_int(c, v, key, 0, 100000000, &tc->sched.total_steps);
    return get_float(c, v, key, 0, 1e3, &tc->sched.min_lr); /* min_lr */
}

/* graph: {format: nir, dt: S, method: euler|exp, data: BASE64} — an imported NIR file */
static spk_status graph_key(ctx *c, void *t, const char *key, yaml_node_t *v) {
    spk_experiment *e = t;
    if (IS("format")) {
        char f[16];
        spk_status st = get_str(c, v, key, f, sizeof f);
        if (!st && strcmp(f, "nir")) FAIL_AT(c, v, "graph format '%s' is not 'nir'", f);
        return st;
    }
    if (IS("dt")) {
        const char *s = scalar(v);
        char *end;
        double d = s ? strtod(s, &end) : 0;
        if (!s || end == s || *end || !(d > 0) || !isfinite(d)) FAIL_AT(c, v, "'dt' must be a positive number of seconds");
        e->nir_dt = d;
        return SPK_OK;
    }
    if (IS("method")) return get_choice(c, v, key, spk_nir_method_from_name, "euler, exp", &e->nir_method);
    const char *s = scalar(v); /* data */
    if (!s) FAIL_AT(c, v, "'data' must be the NIR file in base64");
    spk_free(e->nir_data);
    e->nir_data = NULL;
    if (spk__base64_decode(s, &e->nir_data, &e->nir_len)) FAIL_AT(c, v, "'data' is not valid base64");
    return SPK_OK;
}

/* the number of branch and shortcut layers of a `- residual: {layers: [...], shortcut:
 * [...]}` item (0 for other items) */
static int residual_branch_len(ctx *c, yaml_node_t *item) {
    if (item->type != YAML_MAPPING_NODE || item->data.mapping.pairs.top - item->data.mapping.pairs.start != 1) return 0;
    const char *type = scalar(node_at(c, item->data.mapping.pairs.start->key));
    yaml_node_t *body = node_at(c, item->data.mapping.pairs.start->value);
    if (!type || strcmp(type, "residual") || !body || body->type != YAML_MAPPING_NODE) return 0;
    int n = 0;
    for (yaml_node_pair_t *p = body->data.mapping.pairs.start; p < body->data.mapping.pairs.top; p++) {
        const char *k = scalar(node_at(c, p->key));
        yaml_node_t *val = node_at(c, p->value);
        if (k && (!strcmp(k, "layers") || !strcmp(k, "shortcut")) && val->type == YAML_SEQUENCE_NODE)
            n += (int)(val->data.sequence.items.top - val->data.sequence.items.start);
    }
    return n;
}

static spk_status top_key(ctx *c, void *t, const char *key, yaml_node_t *v) {
    spk_experiment *e = t;
    if (IS("graph")) {
        static const char *const k[] = {"format", "dt", "method", "data", NULL};
        e->nir_dt = 1e-4;
        spk_status st = walk_map(c, v, "graph", k, graph_key, e);
        if (!st && !e->nir_data) FAIL_AT(c, v, "'graph' has no 'data'");
        return st;
    }
    if (IS("data")) {
        static const char *const k[] = {"dataset", "dir", "x_train", "y_train", "x_test", "y_test", "has_time",
                                        "train_samples", "test_samples", "seed", "randman", "augment", NULL};
        return walk_map(c, v, "data", k, data_key, e);
    }
    if (IS("encoding")) {
        static const char *const k[] = {"kind", "steps", "gain", "threshold", "tau", "bits", "burst_max", "pop_size",
                                        "pop_min", "pop_max", "pop_sigma", "seed", NULL};
        return walk_map(c, v, "encoding", k, enc_key, e);
    }
    if (IS("network")) {
        if (v->type != YAML_SEQUENCE_NODE) FAIL_AT(c, v, "'network' must be a list of layers");
        int top = (int)(v->data.sequence.items.top - v->data.sequence.items.start);
        if (top < 1) FAIL_AT(c, v, "'network' lists no layers");
        int n = 0, last = 0;
        for (int i = 0; i < top; i++) n += 1 + residual_branch_len(c, node_at(c, v->data.sequence.items.start[i]));
        spk_free(e->layers);
        e->layers = spk_calloc((size_t)n, sizeof *e->layers);
        if (!e->layers) return spk__fail(NULL, SPK_ERR_NOMEM, "no memory for %d layers", n);
        e->n_layers = n;
        /* flat: a residual layer is followed by the `count` layers of its branch, then the
         * `shortcut` layers of its shortcut */
        for (int i = 0, pos = 0; i < top; i++) {
            yaml_node_t *item = node_at(c, v->data.sequence.items.start[i]);
            spk_status st = parse_layer(c, item, &e->layers[pos], pos);
            if (st) return st;
            last = pos;
            int len = 1;
            if (e->layers[pos].kind == SPK_LAYER_RESIDUAL) {
                yaml_node_t *br = c->branch, *sc = c->shortcut;
                int k = br && br->type == YAML_SEQUENCE_NODE ? (int)(br->data.sequence.items.top - br->data.sequence.items.start) : 0;
                int m = sc && sc->type == YAML_SEQUENCE_NODE ? (int)(sc->data.sequence.items.top - sc->data.sequence.items.start) : 0;
                if (k < 1) FAIL_AT(c, br ? br : item, "residual '%s' needs 'layers': a list of the layers of its branch", e->layers[pos].name);
                if (sc && m < 1) FAIL_AT(c, sc, "residual '%s': 'shortcut' must be a list of layers (leave it out for the identity)", e->layers[pos].name);
                e->layers[pos].count = k;
                e->layers[pos].shortcut = m;
                for (int j = 0; j < k + m; j++) {
                    yaml_node_t *bi = node_at(c, j < k ? br->data.sequence.items.start[j] : sc->data.sequence.items.start[j - k]);
                    if ((st = parse_layer(c, bi, &e->layers[pos + 1 + j], pos + 1 + j))) return st;
                    if (e->layers[pos + 1 + j].kind == SPK_LAYER_RESIDUAL) FAIL_AT(c, bi, "residual blocks cannot be nested");
                }
                len += k + m;
            }
            for (int q = pos; q < pos + len; q++)
                for (int j = 0; j < q; j++)
                    if (!strcmp(e->layers[j].name, e->layers[q].name)) FAIL_AT(c, item, "layer name '%s' is used twice", e->layers[q].name);
            pos += len;
        }
        if (e->layers[last].kind != SPK_LAYER_NEURON)
            FAIL_AT(c, node_at(c, v->data.sequence.items.start[top - 1]), "the last layer must be a neuron layer (lif, cuba or alif): it is the readout");
        return SPK_OK;
    }
    static const char *const k[] = {"epochs", "batch_size", "seed", "checkpoint_every", "loss", "mem_reduce", "correct_rate",
                                    "incorrect_rate", "rate_target", "rate_lambda", "rate_l2", "tbptt", "method", "fptt_alpha", "eprop_feedback", "optimizer", "lr",
                                    "momentum", "nesterov", "weight_decay", "beta1", "beta2", "eps", "clip_norm", "schedule",
                                    "warmup_steps", "step_size", "gamma", "total_steps", "min_lr", "hardware_safe", NULL};
    return walk_map(c, v, "training", k, train_key, e); /* training */
}

static void defaults(spk_experiment *e) {
    memset(e, 0, sizeof *e);
    snprintf(e->dataset, sizeof e->dataset, "fashion_mnist");
    e->data_seed = 1;
    e->randman = spk_randman_default();
    e->encoder = spk_encoder_default(SPK_ENC_DIRECT);
    e->steps = 25;
    e->epochs = 1;
    e->batch_size = 128;
    e->seed = 1;
    e->train = spk_train_config_default(-1);
}

spk_status spk_experiment_parse(spk_experiment **out, const char *text, size_t len, const char *name) {
    if (!out || !text) return spk__fail(NULL, SPK_ERR_INVALID_ARG, "spk_experiment_parse: out or text is NULL");
    *out = NULL;
    ctx c;
    memset(&c, 0, sizeof c);
    c.name = name ? name : "<text>";
    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser)) return spk__fail(NULL, SPK_ERR_NOMEM, "%s: cannot start the YAML parser", c.name);
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    if (!yaml_parser_load(&parser, &c.doc)) {
        spk_status st = spk__fail(NULL, SPK_ERR_FORMAT, "%s:%zu:%zu: %s%s%s", c.name, parser.problem_mark.line + 1,
                                  parser.problem_mark.column + 1, parser.problem ? parser.problem : "malformed YAML",
                                  parser.context ? " " : "", parser.context ? parser.context : "");
        yaml_parser_delete(&parser);
        return st;
    }
    yaml_parser_delete(&parser);
    spk_experiment *e = spk_calloc(1, sizeof *e);
    if (!e) {
        yaml_document_delete(&c.doc);
        return spk__fail(NULL, SPK_ERR_NOMEM, "no memory for the experiment");
    }
    defaults(e);
    snprintf(e->source, sizeof e->source, "%s", c.name);
    yaml_node_t *root = yaml_document_get_root_node(&c.doc);
    spk_status st = SPK_OK;
    if (!root) st = spk__fail(NULL, SPK_ERR_FORMAT, "%s:1:1: the file is empty", c.name);
    else {
        static const char *const k[] = {"data", "encoding", "network", "training", "graph", NULL};
        st = walk_map(&c, root, "the top level", k, top_key, e);
        if (!st && e->n_layers && e->nir_data)
            st = spk__fail(NULL, SPK_ERR_FORMAT, "%s: give either 'network' or 'graph', not both", c.name);
        if (!st && !e->n_layers && !e->nir_data) {
            st = spk__fail(NULL, SPK_ERR_FORMAT, "%s:%zu:%zu: no 'network' section: list the layers", c.name,
                           root->start_mark.line + 1, root->start_mark.column + 1);
        }
        if (!st && !strcmp(e->dataset, "files") && (!e->x_train[0] || !e->y_train[0]))
            st = spk__fail(NULL, SPK_ERR_FORMAT, "%s: dataset 'files' needs data.x_train and data.y_train", c.name);
    }
    yaml_document_delete(&c.doc);
    if (st) {
        spk_experiment_free(e);
        return st;
    }
    *out = e;
    return SPK_OK;
}

spk_status spk_experiment_load(spk_experiment **out, const char *path) {
    if (!out || !path) return spk__fail(NULL, SPK_ERR_INVALID_ARG, "spk_experiment_load: out or path is NULL");
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) return spk__fail(NULL, SPK_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    char *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len + 4096 > cap) {
            cap = cap ? 2 * cap : 8192;
            if (cap > ((size_t)64 << 20)) {
                fclose(f);
                spk_free(buf);
                return spk__fail(NULL, SPK_ERR_FORMAT, "%s: larger than 64 MiB: not an experiment file", path);
            }
            char *nb = spk_malloc(cap);
            if (!nb) {
                fclose(f);
                spk_free(buf);
                return spk__fail(NULL, SPK_ERR_NOMEM, "%s: no memory", path);
            }
            if (buf) memcpy(nb, buf, len);
            spk_free(buf);
            buf = nb;
        }
        size_t r = fread(buf + len, 1, cap - len, f);
        len += r;
        if (r == 0) break;
    }
    int err = ferror(f);
    fclose(f);
    if (err) {
        spk_free(buf);
        return spk__fail(NULL, SPK_ERR_IO, "%s: read error", path);
    }
    spk_status st = spk_experiment_parse(out, buf ? buf : "", len, path);
    spk_free(buf);
    return st;
}

void spk_experiment_free(spk_experiment *e) {
    if (!e) return;
    spk_free(e->layers);
    spk_free(e->nir_data);
    spk_free(e);
}

/* ---------------------------------------------------------------- writing -------------- */


/* a YAML double-quoted string */
static void sb_quoted(spk__sbuf *b, const char *s) {
    spk__sb_printf(b, "\"");
    for (; *s; s++) {
        if (*s == '"' || *s == '\\') spk__sb_printf(b, "\\%c", *s);
        else if ((unsigned char)*s < 0x20) spk__sb_printf(b, "\\x%02x", (unsigned char)*s);
        else spk__sb_printf(b, "%c", *s);
    }
    spk__sb_printf(b, "\"");
}

#define F9 "%.9g"

char *spk_experiment_to_yaml(const spk_experiment *e) {
    if (!e) return NULL;
    spk__sbuf b = {0};
    spk__sb_printf(&b, "# resolved experiment (every default written out)\ndata:\n  dataset: %s\n  dir: ", e->dataset);
    sb_quoted(&b, e->data_dir);
    spk__sb_printf(&b, "\n  x_train: ");
    sb_quoted(&b, e->x_train);
    spk__sb_printf(&b, "\n  y_train: ");
    sb_quoted(&b, e->y_train);
    spk__sb_printf(&b, "\n  x_test: ");
    sb_quoted(&b, e->x_test);
    spk__sb_printf(&b, "\n  y_test: ");
    sb_quoted(&b, e->y_test);
    const spk_randman_params *r = &e->randman;
    spk__sb_printf(&b, "\n  has_time: %s\n  train_samples: %d\n  test_samples: %d\n  seed: %llu\n", e->has_time ? "true" : "false",
              e->train_samples, e->test_samples, (unsigned long long)e->data_seed);
    spk__sb_printf(&b, "  augment: {shift: %d, flip: %s}\n", e->aug_shift, e->aug_flip ? "true" : "false");
    spk__sb_printf(&b, "  randman: {classes: %d, units: %d, steps: %d, samples_per_class: %d, dim: %d, alpha: " F9 ", freqs: %d, test_fraction: " F9 ", seed: %llu}\n",
              r->classes, r->units, r->steps, r->samples_per_class, r->dim, (double)r->alpha, r->freqs, (double)r->test_fraction,
              (unsigned long long)r->seed);
    const spk_encoder_config *x = &e->encoder;
    spk__sb_printf(&b, "encoding:\n  kind: %s\n  steps: %d\n  gain: " F9 "\n  threshold: " F9 "\n  tau: " F9 "\n  bits: %d\n  burst_max: %d\n"
                  "  pop_size: %d\n  pop_min: " F9 "\n  pop_max: " F9 "\n  pop_sigma: " F9 "\n  seed: %llu\n%s",
              spk_encoding_name(x->kind), e->steps, (double)x->gain, (double)x->threshold, (double)x->tau, x->bits, x->burst_max, x->pop_size,
              (double)x->pop_min, (double)x->pop_max, (double)x->pop_sigma, (unsigned long long)x->rng.seed, e->n_layers ? "network:\n" : "");
    for (int i = 0, branch_end = -1, sc_start = -1; i < e->n_layers; i++) {
        const spk_layer_spec *L = &e->layers[i];
        const spk_neuron_config *n = &L->neuron;
        if (L->kind == SPK_LAYER_RESIDUAL) {
            spk__sb_printf(&b, "  - residual:\n      name: %s\n      connect: %s\n      layers:\n", L->name, spk_merge_op_name(L->connect));
            branch_end = i + L->count + L->shortcut;
            sc_start = L->shortcut ? i + L->count + 1 : -1;
            continue;
        }
        if (i == sc_start) spk__sb_printf(&b, "      shortcut:\n");
        if (i <= branch_end) spk__sb_printf(&b, "%6s", ""); /* a branch or shortcut layer is indented under its residual */
        switch (L->kind) {
        case SPK_LAYER_DENSE: spk__sb_printf(&b, "  - dense: {name: %s, units: %d, bias: %s}\n", L->name, L->units, L->bias ? "true" : "false"); break;
        case SPK_LAYER_CONV:
            spk__sb_printf(&b, "  - conv: {name: %s, dims: %d, channels: %d, kernel: [%d, %d], stride: [%d, %d], padding: [%d, %d], dilation: [%d, %d], groups: %d, bias: %s}\n",
                      L->name, L->dims, L->channels, L->kernel[0], L->kernel[1], L->stride[0], L->stride[1], L->padding[0], L->padding[1],
                      L->dilation[0], L->dilation[1], L->groups, L->bias ? "true" : "false");
            break;
        case SPK_LAYER_POOL:
            spk__sb_printf(&b, "  - %s: {name: %s, dims: %d, kernel: [%d, %d], stride: [%d, %d], padding: [%d, %d]}\n", pool_names[L->pool], L->name,
                      L->dims, L->kernel[0], L->kernel[1], L->stride[0], L->stride[1], L->padding[0], L->padding[1]);
            break;
        case SPK_LAYER_DROPOUT: spk__sb_printf(&b, "  - dropout: {name: %s, p: " F9 "}\n", L->name, (double)L->p); break;
        case SPK_LAYER_DELAY: spk__sb_printf(&b, "  - delay: {name: %s, steps: %d}\n", L->name, L->delay); break;
        case SPK_LAYER_NEURON: {
            const char *gn = n->graded_noise == SPK_FIRE_GAUSS ? "gauss" : n->graded_noise == SPK_FIRE_CAUCHY ? "cauchy" : "none";
            spk__sb_printf(&b, "  - %s: {name: %s, beta: " F9 ", threshold: " F9 ", alpha: " F9 ", gain: " F9 ", reset: %s, timing: %s, v_reset: " F9
                          ", refractory: %d, fire: %s, sigma: " F9 ", n_max: %d, graded_noise: %s, replicas: %d, adapt_rho: " F9 ", adapt_beta: " F9
                          ", surrogate: %s, surrogate_scale: " F9 ", detach_reset: %s, recurrent: %s, recurrent_bias: %s, learn_beta: %s, learn_threshold: %s}\n",
                      spk_neuron_kind_name(n->kind), L->name, (double)n->lam, (double)n->thr, (double)n->alpha, (double)n->gain,
                      spk_reset_kind_name(n->reset), spk_reset_timing_name(n->timing), (double)n->v_reset, n->ref_steps,
                      spk_fire_kind_name(n->fire), (double)n->sigma, n->n_max, gn, n->replicas, (double)n->adapt_rho, (double)n->adapt_beta,
                      spk_surrogate_name(n->surrogate), (double)n->surrogate_scale, n->detach_reset ? "true" : "false",
                      L->recurrent ? "true" : "false", L->recurrent_bias ? "true" : "false", learn_names[L->learn_beta],
                      learn_names[L->learn_threshold]);
            break;
        }
        case SPK_LAYER_ATTENTION: {
            const char *gn = n->graded_noise == SPK_FIRE_GAUSS ? "gauss" : n->graded_noise == SPK_FIRE_CAUCHY ? "cauchy" : "none";
            spk__sb_printf(&b, "  - attention: {name: %s, kind: %s, heads: %d, scale: " F9 ", attn_threshold: " F9 ", batchnorm: %s, neuron: %s, beta: " F9
                          ", threshold: " F9 ", alpha: " F9 ", gain: " F9 ", reset: %s, timing: %s, v_reset: " F9 ", refractory: %d, fire: %s, sigma: " F9
                          ", n_max: %d, graded_noise: %s, replicas: %d, adapt_rho: " F9 ", adapt_beta: " F9 ", surrogate: %s, surrogate_scale: " F9
                          ", detach_reset: %s, learn_beta: %s, learn_threshold: %s}\n",
                      L->name, spk_attention_kind_name((spk_attention_kind)L->attn_kind), L->heads, (double)L->attn_scale,
                      (double)L->attn_threshold, L->attn_norm ? "true" : "false", spk_neuron_kind_name(n->kind), (double)n->lam, (double)n->thr, (double)n->alpha,
                      (double)n->gain, spk_reset_kind_name(n->reset), spk_reset_timing_name(n->timing), (double)n->v_reset, n->ref_steps,
                      spk_fire_kind_name(n->fire), (double)n->sigma, n->n_max, gn, n->replicas, (double)n->adapt_rho, (double)n->adapt_beta,
                      spk_surrogate_name(n->surrogate), (double)n->surrogate_scale, n->detach_reset ? "true" : "false",
                      learn_names[L->learn_beta], learn_names[L->learn_threshold]);
            break;
        }
        case SPK_LAYER_NORM:
            spk__sb_printf(&b, "  - batchnorm: {name: %s, alpha: " F9 ", v_th: " F9 ", eps: " F9 ", momentum: " F9 ", gamma: " F9 "}\n", L->name,
                           (double)L->norm.alpha, (double)L->norm.v_th, (double)L->norm.eps, (double)L->norm.momentum, (double)L->norm.gamma);
            break;
        case SPK_LAYER_REVERSIBLE: {
            const char *gn = n->graded_noise == SPK_FIRE_GAUSS ? "gauss" : n->graded_noise == SPK_FIRE_CAUCHY ? "cauchy" : "none";
            spk__sb_printf(&b, "  - reversible: {name: %s, blocks: %d, op: %s, kernel: %d, bias: %s, kind: %s, beta: " F9 ", threshold: " F9
                          ", alpha: " F9 ", gain: " F9 ", reset: %s, timing: %s, v_reset: " F9 ", refractory: %d, fire: %s, sigma: " F9
                          ", n_max: %d, graded_noise: %s, replicas: %d, adapt_rho: " F9 ", adapt_beta: " F9 ", surrogate: %s, surrogate_scale: " F9
                          ", detach_reset: %s, learn_beta: %s, learn_threshold: %s}\n",
                      L->name, L->blocks, rev_op_names[L->rev_op], L->kernel[0], L->bias ? "true" : "false", spk_neuron_kind_name(n->kind),
                      (double)n->lam, (double)n->thr, (double)n->alpha, (double)n->gain, spk_reset_kind_name(n->reset),
                      spk_reset_timing_name(n->timing), (double)n->v_reset, n->ref_steps, spk_fire_kind_name(n->fire), (double)n->sigma,
                      n->n_max, gn, n->replicas, (double)n->adapt_rho, (double)n->adapt_beta, spk_surrogate_name(n->surrogate),
                      (double)n->surrogate_scale, n->detach_reset ? "true" : "false", learn_names[L->learn_beta], learn_names[L->learn_threshold]);
            break;
        }
        default: spk__sb_printf(&b, "  - %s: {name: %s}\n", layer_names[L->kind], L->name); break;
        }
    }
    const spk_train_config *t = &e->train;
    spk__sb_printf(&b, "training:\n  epochs: %d\n  batch_size: %d\n  seed: %llu\n  checkpoint_every: %d\n  loss: %s\n  mem_reduce: %s\n"
                  "  correct_rate: " F9 "\n  incorrect_rate: " F9 "\n  rate_target: " F9 "\n  rate_lambda: " F9 "\n  rate_l2: %s\n  tbptt: %d\n"
                  "  optimizer: %s\n  lr: " F9 "\n  momentum: " F9 "\n  nesterov: %s\n  weight_decay: " F9 "\n  beta1: " F9 "\n  beta2: " F9
                  "\n  eps: " F9 "\n  clip_norm: " F9 "\n  schedule: %s\n  warmup_steps: %d\n  step_size: %d\n  gamma: " F9
                  "\n  total_steps: %d\n  min_lr: " F9 "\n",
              e->epochs, e->batch_size, (unsigned long long)e->seed, e->checkpoint_every, spk_loss_kind_name(t->loss),
              reduce_names[t->mem_reduce], (double)t->correct_rate, (double)t->incorrect_rate, (double)t->rate_target,
              (double)t->rate_lambda, t->rate_l2 ? "true" : "false", t->tbptt_k, optim_names[t->optim.kind], (double)t->optim.lr,
              (double)t->optim.momentum, t->optim.nesterov ? "true" : "false", (double)t->optim.weight_decay, (double)t->optim.beta1,
              (double)t->optim.beta2, (double)t->optim.eps, (double)t->optim.clip_norm, sched_names[t->sched.kind], t->sched.warmup_steps,
              t->sched.step_size, (double)t->sched.gamma, t->sched.total_steps, (double)t->sched.min_lr);
    spk__sb_printf(&b, "  method: %s\n  fptt_alpha: " F9 "\n  eprop_feedback: %s\n", spk_train_method_name(t->method), (double)t->fptt_alpha,
              feedback_names[t->eprop_feedback]);
    if (e->hardware_safe) spk__sb_printf(&b, "  hardware_safe: true\n"); /* written only when set: older files stay as they were */
    if (e->nir_data) { /* an imported NIR file, base64 in lines of 76 */
        char *b64 = spk__base64_encode(e->nir_data, e->nir_len);
        if (!b64) b.oom = 1;
        spk__sb_printf(&b, "graph:\n  format: nir\n  dt: %.17g\n  method: %s\n  data: |\n", e->nir_dt, spk_nir_method_name((spk_nir_method)e->nir_method));
        for (size_t i = 0, L = b64 ? strlen(b64) : 0; i < L; i += 76) spk__sb_printf(&b, "    %.76s\n", b64 + i);
        spk_free(b64);
    }
    if (b.oom) {
        spk_free(b.p);
        return NULL;
    }
    return b.p;
}

/* ---------------------------------------------------------------- building ------------- */

spk_status spk_experiment_build_net(const spk_experiment *e, int ndim, const int *dims, spk_net **out, int *readout) {
    if (!e || !out || !readout || !dims) return spk__fail(NULL, SPK_ERR_INVALID_ARG, "spk_experiment_build_net: NULL argument");
    *out = NULL;
    if (e->nir_data) return spk__nir_build(e, ndim, dims, out, readout);
    spk_net *net;
    spk_status st = spk_net_create(&net);
    if (st) return st;
    int prev;
    char msg[SPK__ERRMSG_LEN];
#define TRY(call, L)                                                                                  \
    do {                                                                                              \
        if ((st = (call))) {                                                                          \
            snprintf(msg, sizeof msg, "%s", spk_errmsg(net));                                         \
            spk_net_free(net);                                                                        \
            if (L) return spk__fail(NULL, st, "%s:%d: layer '%s': %s", e->source, (L)->line, (L)->name, msg); \
            return spk__fail(NULL, st, "%s: %s", e->source, msg);                                     \
        }                                                                                             \
    } while (0)
    TRY(spk_net_add_input(net, "input", ndim, dims, &prev), (const spk_layer_spec *)NULL);
    spk_net_set_hardware_safe(net, e->hardware_safe);
    const spk_layer_spec *res = NULL; /* the residual whose branch is being built */
    int block_in = -1, res_end = -1, branch_out = -1;
    for (int i = 0; i < e->n_layers; i++) {
        const spk_layer_spec *L = &e->layers[i];
        int id = -1, shape[SPK_MAX_DIMS], nd = spk_net_node_shape(net, prev, shape);
        if (L->kind == SPK_LAYER_RESIDUAL) {
            res = L;
            block_in = prev;
            res_end = i + L->count + L->shortcut;
            continue;
        }
        switch (L->kind) {
        case SPK_LAYER_DENSE:
            if (nd != 1) {
                spk_net_free(net);
                return spk__fail(NULL, SPK_ERR_SHAPE, "%s:%d: layer '%s': a dense layer takes a flat input, but its input has %d dimensions: add '- flatten' before it",
                                 e->source, L->line, L->name, nd);
            }
            TRY(spk_net_add_dense(net, L->name, shape[0], L->units, L->bias, &id), L);
            break;
        case SPK_LAYER_CONV: {
            int k1 = L->dims == 1;
            int cin = shape[0];
            TRY(spk_net_add_conv(net, L->name, L->dims, cin, L->channels, k1 ? &L->kernel[1] : L->kernel, k1 ? &L->stride[1] : L->stride,
                                 k1 ? &L->padding[1] : L->padding, k1 ? &L->dilation[1] : L->dilation, L->groups, L->bias, &id),
                L);
            break;
        }
        case SPK_LAYER_POOL: {
            int k1 = L->dims == 1;
            TRY(spk_net_add_pool(net, L->name, L->pool, L->dims, k1 ? &L->kernel[1] : L->kernel, k1 ? &L->stride[1] : L->stride,
                                 k1 ? &L->padding[1] : L->padding, &id),
                L);
            break;
        }
        case SPK_LAYER_FLATTEN: TRY(spk_net_add_flatten(net, L->name, &id), L); break;
        case SPK_LAYER_SCALE: TRY(spk_net_add_scale(net, L->name, &id), L); break;
        case SPK_LAYER_DROPOUT: TRY(spk_net_add_dropout(net, L->name, L->p, &id), L); break;
        case SPK_LAYER_DELAY: {
            int32_t d = L->delay;
            TRY(spk_net_add_delay(net, L->name, &d, 1, &id), L);
            break;
        }
        case SPK_LAYER_NORM: TRY(spk_net_add_norm(net, L->name, &L->norm, &id), L); break;
        case SPK_LAYER_REVERSIBLE: {
            spk_reversible_config rc = spk_reversible_config_default();
            rc.blocks = L->blocks;
            rc.op = (spk_rev_op)L->rev_op;
            rc.kernel = L->kernel[0];
            rc.bias = L->bias;
            rc.neuron = L->neuron;
            rc.learn_beta = L->learn_beta;
            rc.learn_threshold = L->learn_threshold;
            TRY(spk_net_add_reversible(net, L->name, &rc, &id), L);
            break;
        }
        case SPK_LAYER_NEURON:
            TRY(spk_net_add_neuron(net, L->name, &L->neuron, nd, shape, &id), L);
            if (L->learn_beta) TRY(spk_net_set_learnable(net, id, SPK_NP_LAM, L->learn_beta), L);
            if (L->learn_threshold) TRY(spk_net_set_learnable(net, id, SPK_NP_THR, L->learn_threshold), L);
            break;
        case SPK_LAYER_ATTENTION: /* a whole block, connected inside */
            TRY(spk__attention_block(net, L, prev, &id), L);
            prev = id;
            continue;
        default: break;
        }
        TRY(spk_net_connect(net, prev, id), L);
        if (L->kind == SPK_LAYER_NEURON && L->recurrent) {
            int n = 1, rec;
            for (int q = 0; q < nd; q++) n *= shape[q];
            if (nd != 1) {
                spk_net_free(net);
                return spk__fail(NULL, SPK_ERR_SHAPE, "%s:%d: layer '%s': recurrent populations must be flat (%d dimensions given)", e->source,
                                 L->line, L->name, nd);
            }
            char rn[80];
            snprintf(rn, sizeof rn, "%s.recurrent", L->name);
            TRY(spk_net_add_dense(net, rn, n, n, L->recurrent_bias, &rec), L);
            TRY(spk_net_connect(net, id, rec), L);
            TRY(spk_net_connect(net, rec, id), L);
        }
        prev = id;
        if (res && i == res_end - res->shortcut) { /* the branch is complete; a shortcut starts from the block input */
            branch_out = prev;
            if (res->shortcut) prev = block_in;
        }
        if (res && i == res_end) { /* merge(a = the branch output, s = the shortcut's: the block input or its layers') */
            int s_out = res->shortcut ? prev : block_in;
            TRY(spk_net_add_merge_op(net, res->name, res->connect, &id), res);
            TRY(spk_net_connect(net, branch_out, id), res);
            TRY(spk_net_connect(net, s_out, id), res);
            prev = id;
            res = NULL;
        }
    }
    TRY(spk_net_build(net, (spk_rng){e->seed, 0}), (const spk_layer_spec *)NULL);
#undef TRY
    *readout = prev;
    *out = net;
    return SPK_OK;
}
