/* test_robust.c — robustness of what spk keeps and what it computes:
 *   - a model file / checkpoint cut at every length, with one bit flipped at every byte, or
 *     with bytes appended, is refused with SPK_ERR_FORMAT and a message naming the file and
 *     the checksum (every offset class: header, experiment text, parameters, per-neuron
 *     parameters, training position, optimizer state, the CRC itself); a NaN parameter
 *     behind a valid checksum is refused too;
 *   - out of memory: allocation failures injected one at a time (the k-th spk allocation
 *     fails, for every k until the call succeeds) while parsing an experiment and building
 *     its network, while loading a model file with its optimizer state, and while creating a
 *     trainer and taking a step, reading a NIR file, and building the hardware catalog and
 *     merging a CSV into it: every failure returns SPK_ERR_NOMEM, nothing leaks (the
 *     counting allocator of testutil balances), nothing crashes;
 *   - same seed, same answer: a few training steps of networks with stochastic neurons
 *     (Gaussian and Cauchy threshold noise, noisy graded spikes), dropout, a random encoder,
 *     recurrence and convolutions give bit-identical parameters across two runs and at 1
 *     and 2 threads. */
#define _DEFAULT_SOURCE /* mkdtemp */
#include "testutil.h"
#include "io/model_impl.h"

#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

/* an MLP with every kind of stored state: learnable shared and per-neuron parameters, a
 * recurrent population, dropout, stochastic firing */
static const char *mlp_yaml =
    "data: {dataset: yinyang, train_samples: 64, test_samples: 16, seed: 3}\n"
    "encoding: {kind: rate, steps: 6, seed: 4}\n"
    "network:\n"
    "  - dense: {units: 12}\n"
    "  - lif: {beta: 0.85, fire: gauss, sigma: 0.4, learn_beta: shared}\n"
    "  - dropout: {p: 0.25}\n"
    "  - dense: {units: 10}\n"
    "  - alif: {fire: cauchy, sigma: 0.3, recurrent: true, learn_threshold: per_neuron}\n"
    "  - dense: {units: 8}\n"
    "  - lif: {fire: graded, graded_noise: gauss, n_max: 3, sigma: 0.3}\n"
    "  - dense: {units: 3}\n"
    "  - cuba: {fire: none, reset: none, learn_beta: per_neuron}\n"
    "training: {batch_size: 16, optimizer: adam, lr: 0.01, seed: 7, clip_norm: 5}\n";

/* a small CNN: conv reductions (weight gradients summed over batch and positions) */
static const char *cnn_yaml =
    "encoding: {kind: direct, steps: 4}\n"
    "network:\n"
    "  - conv: {channels: 4, kernel: 3, padding: 1}\n"
    "  - maxpool: {kernel: 2}\n"
    "  - lif: {beta: 0.7, fire: gauss, sigma: 0.5}\n"
    "  - conv: {channels: 4, kernel: 3, groups: 2}\n"
    "  - avgpool: {kernel: 2, stride: 1}\n"
    "  - lif: {beta: 0.7}\n"
    "  - flatten\n"
    "  - dropout: {p: 0.3}\n"
    "  - dense: {units: 3}\n"
    "  - lif: {fire: none, reset: none}\n"
    "training: {batch_size: 8, optimizer: sgd, momentum: 0.9, lr: 0.05, seed: 11, loss: ce_mem, mem_reduce: max}\n";

/* reversible conv blocks between a conv layer and the readout */
static const char *rev_yaml =
    "encoding: {kind: direct, steps: 4}\n"
    "network:\n"
    "  - conv: {channels: 4, kernel: 3, padding: 1}\n"
    "  - lif: {beta: 0.7}\n"
    "  - reversible: {blocks: 3, op: conv, kernel: 3, beta: 0.5}\n"
    "  - flatten\n"
    "  - dense: {units: 3}\n"
    "  - lif: {fire: none, reset: none}\n"
    "training: {batch_size: 8, optimizer: sgd, lr: 0.05, seed: 11}\n";

/* a neuron population straight on the input (no synaptic layer before it) */
static const char *lif_first_yaml =
    "encoding: {kind: direct, steps: 5}\n"
    "network:\n"
    "  - lif: {beta: 0.95, fire: cauchy, sigma: 0.2, learn_beta: per_neuron}\n"
    "  - dense: {units: 3}\n"
    "  - lif: {beta: 0.95, fire: none, reset: none}\n"
    "training: {batch_size: 16, lr: 0.01, seed: 2}\n";

static spk_experiment *parse(const char *yaml) {
    spk_experiment *e = NULL;
    CHECK_OK(spk_experiment_parse(&e, yaml, strlen(yaml), "robust.yaml"));
    return e;
}

/* a synthetic dataset of n samples of the given shape, values in [0, 1), labels 0..2 */
static void synth(spk_dataset *d, int n, int ndim, const int *dims, uint64_t seed) {
    memset(d, 0, sizeof *d);
    d->n = n;
    d->ndim = ndim;
    for (int k = 0; k < ndim; k++) d->dims[k] = dims[k];
    d->n_classes = 3;
    size_t S = spk_dataset_sample_size(d);
    d->x = malloc(sizeof(float) * S * (size_t)n);
    d->y = malloc(sizeof(int32_t) * (size_t)n);
    for (size_t i = 0; i < S * (size_t)n; i++) d->x[i] = spk_rng_uniform((spk_rng){seed, 1}, 0, i, 0);
    for (int i = 0; i < n; i++) d->y[i] = i % 3;
}

static void synth_free(spk_dataset *d) {
    free(d->x);
    free(d->y);
    memset(d, 0, sizeof *d);
}

/* Train `steps` batches of the experiment on d (random encodings and dropout numbered by the
 * step, as spk train does) and copy the parameters out. */
static size_t train_steps(const char *yaml, const spk_dataset *d, int steps, float *out, size_t cap) {
    spk_experiment *e = parse(yaml);
    if (!e) return 0;
    int dims[SPK_MAX_DIMS], T, nd = spk_experiment_input_shape(e, d, dims, &T);
    CHECK(nd > 0);
    spk_net *net = NULL;
    int readout;
    CHECK_OK(spk_experiment_build_net(e, nd, dims, &net, &readout));
    if (!net) {
        spk_experiment_free(e);
        return 0;
    }
    spk_train_config tc = e->train;
    tc.output = readout;
    spk_trainer *tr = NULL;
    CHECK_OK(spk_trainer_create(&tr, net, &tc));
    size_t in = 1;
    for (int k = 0; k < nd; k++) in *= (size_t)dims[k];
    const int B = e->batch_size;
    float *x = malloc(sizeof(float) * (size_t)T * B * in);
    int32_t *idx = malloc(sizeof(int32_t) * (size_t)d->n), lab[64];
    spk_rng_permutation((spk_rng){e->seed, 0x5eed}, 0, idx, d->n);
    for (int s = 0; tr && s < steps; s++) {
        int b0 = (s * B) % (d->n - B + 1);
        for (int b = 0; b < B; b++) lab[b] = d->y[idx[b0 + b]];
        CHECK_OK(spk_experiment_encode_batch(e, d, idx + b0, B, x, (uint64_t)spk_trainer_steps(tr)));
        double loss;
        CHECK_OK(spk_trainer_step(tr, T, B, x, lab, &loss, NULL));
    }
    size_t np;
    const float *p = spk_net_params(net, &np);
    CHECK(np <= cap);
    if (np > cap) np = cap;
    memcpy(out, p, np * sizeof(float));
    free(x);
    free(idx);
    spk_trainer_free(tr);
    spk_net_free(net);
    spk_experiment_free(e);
    return np;
}

/* Same seed, same answer: two runs at 2 threads, one at 1 thread. */
static void check_reproducible(const char *what, const char *yaml, const spk_dataset *d, int steps) {
    enum { CAP = 1 << 16 };
    static float a[CAP], b[CAP], c[CAP], init[CAP];
    CHECK_OK(spk_set_threads(2));
    size_t n0 = train_steps(yaml, d, 0, init, CAP);
    size_t na = train_steps(yaml, d, steps, a, CAP);
    size_t nb = train_steps(yaml, d, steps, b, CAP);
    CHECK_OK(spk_set_threads(1));
    size_t nc = train_steps(yaml, d, steps, c, CAP);
    CHECK_OK(spk_set_threads(2));
    CHECK(na > 0 && na == nb && na == nc && na == n0);
    CHECK_MSG(memcmp(a, init, na * sizeof(float)) != 0, "%s: training must change the parameters", what);
    CHECK_MSG(memcmp(a, b, na * sizeof(float)) == 0, "%s: two runs with one seed must give bit-identical parameters", what);
    size_t diff = 0;
    for (size_t i = 0; i < na; i++) diff += memcmp(&a[i], &c[i], sizeof(float)) != 0;
    CHECK_MSG(diff == 0, "%s: 1 and 2 threads differ in %zu of %zu parameters (max |diff| %g)", what, diff, na,
              tu_max_abs_diff(a, c, na));
    printf("%s: %d steps, %zu parameters bit-identical across runs and at 1 / 2 threads\n", what, steps, na);
}

static void test_reproducible(void) {
    spk_dataset d;
    int d4[1] = {4};
    synth(&d, 64, 1, d4, 5);
    check_reproducible("MLP (gauss, cauchy, noisy graded, dropout, rate code, recurrent)", mlp_yaml, &d, 6);
    /* this one crashed in backward (the neuron wrote its input gradient through a NULL
     * buffer: the input's gradient exists only when asked for) */
    check_reproducible("neurons on the input (cauchy, learnable decays)", lif_first_yaml, &d, 4);
    synth_free(&d);
    int img[3] = {1, 8, 8};
    synth(&d, 32, 3, img, 6);
    check_reproducible("CNN (conv, max/avg pool, gauss, dropout)", cnn_yaml, &d, 4);
    check_reproducible("reversible conv blocks", rev_yaml, &d, 4);
    synth_free(&d);
}

/* ---------------------------------------------------------------- model files */

static unsigned char *slurp(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    *n = 0;
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *p = malloc((size_t)sz + 1);
    *n = fread(p, 1, (size_t)sz, f);
    fclose(f);
    return p;
}

/* Save a checkpoint of the MLP after a few steps (parameters, per-neuron parameters,
 * optimizer state, training position); returns its path. */
static const char *make_checkpoint(char *dir) {
    static char path[300];
    spk_experiment *e = parse(mlp_yaml);
    if (!e) return NULL;
    int dims[1] = {4};
    spk_net *net;
    int readout;
    CHECK_OK(spk_experiment_build_net(e, 1, dims, &net, &readout));
    spk_train_config tc = e->train;
    tc.output = readout;
    spk_trainer *tr;
    CHECK_OK(spk_trainer_create(&tr, net, &tc));
    float x[6 * 16 * 4];
    int32_t lab[16];
    for (int i = 0; i < 6 * 16 * 4; i++) x[i] = spk_rng_uniform((spk_rng){9, 9}, 0, (uint64_t)i, 0);
    for (int b = 0; b < 16; b++) lab[b] = b % 3;
    CHECK_OK(spk_trainer_step(tr, 6, 16, x, lab, NULL, NULL));
    CHECK_OK(spk_trainer_step(tr, 6, 16, x, lab, NULL, NULL));
    snprintf(path, sizeof path, "%s/ckpt.spk", dir);
    spk_train_state ts = {1, 2, 3};
    CHECK_OK(spk_model_save(path, e, 1, dims, net, spk_trainer_optim(tr), &ts));
    spk_trainer_free(tr);
    spk_net_free(net);
    spk_experiment_free(e);
    return path;
}

static void expect_refused(const unsigned char *p, size_t n, const char *name, const char *want, const char *what, size_t at) {
    spk_experiment *e = (spk_experiment *)1;
    spk_net *net = (spk_net *)1;
    int r, nd, dims[SPK_MAX_DIMS];
    float *opt = (float *)1;
    size_t on = 7;
    spk_status st = spk__model_load_mem(p, n, name, &e, &net, &r, &nd, dims, NULL, &opt, &on);
    const char *m = spk_errmsg(NULL);
    if (st != SPK_ERR_FORMAT || e || net || opt || on || !strstr(m, name) || !strstr(m, want)) {
        CHECK_MSG(0, "%s at byte %zu of %zu: status %s, message '%s' (want '%s')", what, at, n, spk_status_str(st), m, want);
    } else {
        tu_checks++;
    }
}

static void test_model_file_damage(void) {
    char dir[] = "/tmp/spk_robust_XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    const char *path = make_checkpoint(dir);
    if (!path) return;
    size_t n = 0;
    unsigned char *p = slurp(path, &n);
    CHECK(p && n > 1000);
    if (!p) return;
    /* intact: loads, with its optimizer state and position */
    spk_experiment *e;
    spk_net *net;
    int r, nd, dims[SPK_MAX_DIMS];
    spk_train_state ts;
    float *opt = NULL;
    size_t on = 0;
    CHECK_OK(spk_model_load(path, &e, &net, &r, &nd, dims, &ts, &opt, &on));
    CHECK(ts.epoch == 1 && ts.batch == 2 && ts.step == 3 && opt && on > 0);
    spk_free(opt);
    spk_net_free(net);
    spk_experiment_free(e);
    int before = tu_failures;
    /* cut at every length: the first 16 bytes are the header (magic, version), after it the
     * checksum no longer matches */
    for (size_t len = 0; len < n; len++)
        expect_refused(p, len, "ckpt.spk", len < 16 ? "not an spk model file" : "checksum mismatch", "truncated", len);
    /* one bit flipped at every byte (a different bit each time): the magic, or the CRC */
    unsigned char *q = malloc(n);
    for (size_t i = 0; i < n; i++) {
        memcpy(q, p, n);
        q[i] ^= (unsigned char)(1u << (i % 8));
        expect_refused(q, n, "ckpt.spk", i < 8 ? "not an spk model file" : "checksum mismatch", "flipped bit", i);
    }
    /* bytes appended */
    unsigned char *l = malloc(n + 8);
    memcpy(l, p, n);
    memset(l + n, 0, 8);
    for (size_t k = 1; k <= 8; k++) expect_refused(l, n + k, "ckpt.spk", "checksum mismatch", "appended", n + k);
    printf("model file: %zu truncations, %zu flipped bytes, 8 extensions: all refused with a message (%s)\n", n, n,
           tu_failures == before ? "ok" : "FAILED");
    /* damage behind a valid checksum: a NaN in the parameter arena (it would reach a
     * learnable decay, which the per-population checks never see) is refused */
    {
        uint64_t ylen;
        memcpy(&ylen, p + 32, 8); /* magic 8, version 4, ndim 4, dims 16 */
        size_t off = 40 + (size_t)ylen + 8 + 4 * 3;
        memcpy(q, p, n);
        float nan = NAN;
        memcpy(q + off, &nan, 4);
        uint32_t crc = (uint32_t)crc32_z(crc32_z(0L, Z_NULL, 0), q, n - 4);
        memcpy(q + n - 4, &crc, 4);
        expect_refused(q, n, "ckpt.spk", "is NaN: the model is damaged", "NaN parameter", off);
    }
    /* through the file API as a user meets it: the message names the file */
    FILE *f = fopen(path, "wb");
    fwrite(p, 1, n - n / 3, f);
    fclose(f);
    CHECK(spk_model_load(path, &e, &net, &r, &nd, dims, NULL, NULL, NULL) == SPK_ERR_FORMAT);
    CHECK_MSG(strstr(spk_errmsg(NULL), path) && strstr(spk_errmsg(NULL), "truncated or corrupted"), "%s", spk_errmsg(NULL));
    free(l);
    free(q);
    free(p);
    remove(path);
    rmdir(dir);
}

/* ---------------------------------------------------------------- out of memory */


/* each op runs whole under the counting allocator and frees what it made on success */
static spk_status op_build(void *arg) {
    const char *yaml = arg;
    spk_experiment *e;
    spk_status st = spk_experiment_parse(&e, yaml, strlen(yaml), "oom.yaml");
    if (st) return st;
    int dims3[3] = {1, 8, 8}, dims1[1] = {4};
    int cnn = strstr(yaml, "conv") != NULL;
    spk_net *net;
    int readout;
    st = spk_experiment_build_net(e, cnn ? 3 : 1, cnn ? dims3 : dims1, &net, &readout);
    if (!st) spk_net_free(net);
    spk_experiment_free(e);
    return st;
}

static spk_status op_load(void *arg) {
    spk_experiment *e;
    spk_net *net;
    int r, nd, dims[SPK_MAX_DIMS];
    spk_train_state ts;
    float *opt;
    size_t on;
    spk_status st = spk_model_load(arg, &e, &net, &r, &nd, dims, &ts, &opt, &on);
    if (st) return st;
    spk_free(opt);
    spk_net_free(net);
    spk_experiment_free(e);
    return SPK_OK;
}

static spk_status op_save(void *arg) {
    spk_experiment *e;
    spk_net *net;
    int r, nd, dims[SPK_MAX_DIMS];
    spk_status st = spk_model_load(arg, &e, &net, &r, &nd, dims, NULL, NULL, NULL);
    if (st) return st;
    char out[400];
    snprintf(out, sizeof out, "%s.copy", (const char *)arg);
    st = spk_model_save(out, e, nd, dims, net, NULL, NULL);
    spk_net_free(net);
    spk_experiment_free(e);
    return st;
}

static spk_status op_train(void *arg) {
    spk_experiment *e;
    spk_net *net;
    int r, nd, dims[SPK_MAX_DIMS];
    spk_status st = spk_model_load(arg, &e, &net, &r, &nd, dims, NULL, NULL, NULL);
    if (st) return st;
    spk_train_config tc = e->train;
    tc.output = r;
    spk_trainer *tr;
    st = spk_trainer_create(&tr, net, &tc);
    if (!st) {
        static float x[6 * 4 * 4];
        int32_t lab[4] = {0, 1, 2, 0};
        for (int i = 0; i < 6 * 4 * 4; i++) x[i] = (float)(i % 5) * 0.3f;
        st = spk_trainer_step(tr, 6, 4, x, lab, NULL, NULL);
        if (!st) st = spk_trainer_eval(tr, 6, 4, x, lab, NULL, NULL, NULL);
        spk_trainer_free(tr);
    }
    spk_net_free(net);
    spk_experiment_free(e);
    return st;
}

static spk_status op_nir(void *arg) {
    spk_nir_graph g;
    spk_status st = spk_nir_read(arg, NULL, &g);
    if (!st) spk_nir_graph_free(&g);
    return st;
}

static spk_status op_catalog(void *arg) {
    spk_hw_catalog *c;
    spk_status st = spk_hw_catalog_create(&c);
    if (st) return st;
    st = spk_hw_catalog_merge_text(c, arg, strlen(arg), "oom.csv");
    spk_hw_catalog_free(c);
    return st;
}

static void test_out_of_memory(void) {
    tu_oom_sweep("parse + build the MLP experiment", op_build, (void *)mlp_yaml);
    tu_oom_sweep("parse + build the CNN experiment", op_build, (void *)cnn_yaml);
    tu_oom_sweep("parse + build reversible blocks", op_build, (void *)rev_yaml);
    const char *nir = tu_fixture_path("nir/snntorch_export/rleaky_recurrent.nir");
    if (nir && access(nir, R_OK) == 0) tu_oom_sweep("read a NIR file (snnTorch's RLeaky export)", op_nir, (void *)nir);
    tu_oom_sweep("the hardware catalog + a merged CSV", op_catalog, (void *)"name,neurons,clock_mhz\nLoihi-1,2e5,async\nNewChip,1024,100\n");
    char dir[] = "/tmp/spk_robust_XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    const char *path = make_checkpoint(dir);
    if (!path) return;
    tu_oom_sweep("load a checkpoint (experiment, network, optimizer state)", op_load, (void *)path);
    tu_oom_sweep("load + save a model", op_save, (void *)path);
    tu_oom_sweep("load + create a trainer + one training step + evaluation", op_train, (void *)path);
    char copy[400];
    snprintf(copy, sizeof copy, "%s.copy", path);
    remove(copy);
    remove(path);
    rmdir(dir);
}

int main(void) {
    test_model_file_damage();
    test_out_of_memory();
    test_reproducible();
    return tu_finish("test_robust");
}
