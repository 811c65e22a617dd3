#define _DEFAULT_SOURCE /* mkdtemp */
/* test_experiment.c — experiment files and model files: every kind of refusal names the
 * file, line and column; the resolved YAML reads back to the same experiment; a model saved
 * and loaded gives bit-identical parameters and outputs; truncation and corruption are caught
 * by the CRC; a failed write leaves the previous file intact. */
#include "testutil.h"

#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *good =
    "data:\n"
    "  dataset: yinyang\n"
    "  train_samples: 200\n"
    "  test_samples: 100\n"
    "encoding:\n"
    "  kind: direct\n"
    "  steps: 8\n"
    "network:\n"
    "  - dense: {units: 16}\n"
    "  - lif: {beta: 0.9, threshold: 0.5, learn_beta: shared}\n"
    "  - dropout: {p: 0.1}\n"
    "  - dense: {units: 3, bias: false}\n"
    "  - lif: {beta: 0.8, fire: none, reset: none, learn_threshold: per_neuron}\n"
    "training:\n"
    "  epochs: 2\n"
    "  batch_size: 32\n"
    "  optimizer: adamw\n"
    "  lr: 0.01\n"
    "  schedule: cosine\n"
    "  total_steps: 100\n";

static void expect_error(const char *text, const char *want_pos, const char *want_text) {
    spk_experiment *e = (spk_experiment *)1;
    spk_status st = spk_experiment_parse(&e, text, strlen(text), "x.yaml");
    CHECK_MSG(st == SPK_ERR_FORMAT && e == NULL, "expected a refusal for: %s", text);
    const char *m = spk_errmsg(NULL);
    CHECK_MSG(strstr(m, want_pos) != NULL, "message '%s' should contain '%s'", m, want_pos);
    CHECK_MSG(strstr(m, want_text) != NULL, "message '%s' should contain '%s'", m, want_text);
}

static void test_errors(void) {
    expect_error("data:\n  dataset: yinyang\n  colour: blue\nnetwork:\n  - lif\n", "x.yaml:3:3:", "unknown key 'colour' in 'data'");
    expect_error("network:\n  - dense: {units: ten}\n  - lif\n", "x.yaml:2:20:", "'units' must be an integer, got 'ten'");
    expect_error("network:\n  - dense: {units: 10}\n  - lif: {beta: 1.5}\n", "x.yaml:3:17:", "'beta' = 1.5 is out of range");
    expect_error("network:\n  - dense: {units: 10}\n  - lif: {reset: sometimes}\n", "x.yaml:3:18:", "'reset' must be one of soft");
    expect_error("training:\n  epochs: -3\nnetwork:\n  - lif\n", "x.yaml:2:11:", "'epochs' = -3 is out of range");
    expect_error("network:\n  - dense: {units: 10}\n", "x.yaml:2:5:", "the last layer must be a neuron layer");
    expect_error("network:\n  - dense: {units: 10}\n  - lif: {fire: gauss, sigma: 0}\n", "x.yaml:3:", "sigma");
    expect_error("network:\n  - densely: {units: 10}\n  - lif\n", "x.yaml:2:5:", "unknown layer type 'densely'");
    expect_error("network:\n  - conv: {channels: 4, kernel: 1}\n  - attention: {heads: 2, scale: -1}\n  - lif\n", "x.yaml:3:34:",
                 "'scale' = -1 is out of range");
    expect_error("network: [\n", "x.yaml:", "");
    expect_error("data:\n  dataset: yinyang\n  dataset: randman\nnetwork:\n  - lif\n", "x.yaml:3:3:", "appears twice");
    expect_error("encoding:\n  kind: morse\nnetwork:\n  - lif\n", "x.yaml:2:9:", "'kind' must be one of direct");
    expect_error("data:\n  dataset: yinyang\n", "x.yaml:1:1:", "no 'network' section");
    expect_error("data:\n  augment: {shift: 99}\nnetwork:\n  - lif\n", "x.yaml:2:20:", "'shift' = 99 is out of range");
    expect_error("data:\n  augment: {turn: 1}\nnetwork:\n  - lif\n", "x.yaml:2:13:", "unknown key 'turn' in 'data.augment'");
    spk_experiment *e;
    CHECK(spk_experiment_load(&e, "/nonexistent/exp.yaml") == SPK_ERR_IO);
    CHECK(strstr(spk_errmsg(NULL), "/nonexistent/exp.yaml") != NULL);
}

static void test_roundtrip(void) {
    spk_experiment *e, *e2;
    CHECK_OK(spk_experiment_parse(&e, good, strlen(good), "good.yaml"));
    if (!e) return;
    CHECK(e->n_layers == 5 && e->layers[0].units == 16 && e->layers[3].bias == 0);
    CHECK(e->layers[1].learn_beta == SPK_LEARN_SHARED && e->layers[4].learn_threshold == SPK_LEARN_PER_NEURON);
    CHECK(e->train.optim.kind == SPK_OPT_ADAMW && e->train.optim.lr == 0.01f && e->train.sched.kind == SPK_SCHED_COSINE);
    CHECK(e->layers[4].neuron.fire == SPK_FIRE_NONE && e->layers[1].neuron.thr == 0.5f);
    char *y = spk_experiment_to_yaml(e);
    CHECK(y != NULL);
    CHECK_OK(spk_experiment_parse(&e2, y, strlen(y), "resolved.yaml"));
    if (e2) {
        char *y2 = spk_experiment_to_yaml(e2);
        CHECK_MSG(y2 && strcmp(y, y2) == 0, "the resolved YAML must read back to the same experiment");
        CHECK(e2->n_layers == e->n_layers && memcmp(&e2->layers[1].neuron, &e->layers[1].neuron, sizeof e->layers[1].neuron) == 0);
        CHECK(memcmp(&e2->train, &e->train, sizeof e->train) == 0);
        spk_free(y2);
        spk_experiment_free(e2);
    }
    spk_free(y);
    spk_experiment_free(e);
}

/* data.augment: every augmented sample is its image translated by (dy, dx) within the shift
 * and, with flip, possibly mirrored; every allowed shift and both orientations occur; the draw
 * is reproducible; the evaluation path and samples that are not images are left alone /
 * refused. */
static void test_augment(void) {
    const char *text = "data:\n  dataset: fashion_mnist\n  augment: {shift: 2, flip: true}\nencoding:\n  steps: 1\n"
                       "network:\n  - flatten\n  - dense: {units: 3}\n  - lif\n";
    spk_experiment *e;
    CHECK_OK(spk_experiment_parse(&e, text, strlen(text), "aug.yaml"));
    if (!e) return;
    CHECK(e->aug_shift == 2 && e->aug_flip == 1);
    char *y = spk_experiment_to_yaml(e);
    CHECK(y && strstr(y, "augment: {shift: 2, flip: true}") != NULL);
    spk_free(y);
    enum { H = 6, W = 7, C = 2, B = 64 };
    float img[C * H * W];
    for (int i = 0; i < C * H * W; i++) img[i] = (float)(i + 1); /* every pixel distinct and nonzero */
    int32_t label = 0, idx[B];
    spk_dataset d = {.n = 1, .ndim = 3, .dims = {C, H, W}, .n_classes = 1, .x = img, .y = &label};
    for (int b = 0; b < B; b++) idx[b] = 0;
    float x[B * C * H * W], x2[B * C * H * W];
    int seen[5][5][2] = {{{0}}};
    for (int draw = 0; draw < 8; draw++) {
        CHECK_OK(spk_experiment_encode_train_batch(e, &d, idx, B, x, (uint64_t)draw));
        CHECK_OK(spk_experiment_encode_train_batch(e, &d, idx, B, x2, (uint64_t)draw));
        CHECK(memcmp(x, x2, sizeof x) == 0);
        for (int b = 0; b < B; b++) {
            const float *o = x + (size_t)b * C * H * W;
            int found = 0;
            for (int dy = -2; dy <= 2 && !found; dy++)
                for (int dx = -2; dx <= 2 && !found; dx++)
                    for (int f = 0; f < 2 && !found; f++) {
                        int ok = 1;
                        for (int c = 0; c < C && ok; c++)
                            for (int i = 0; i < H && ok; i++)
                                for (int j = 0; j < W && ok; j++) {
                                    int si = i - dy, sj = f ? W - 1 - (j - dx) : j - dx;
                                    float want = si >= 0 && si < H && sj >= 0 && sj < W ? img[(c * H + si) * W + sj] : 0.0f;
                                    ok = o[(c * H + i) * W + j] == want;
                                }
                        if (ok) found = 1, seen[dy + 2][dx + 2][f]++;
                    }
            CHECK_MSG(found, "augmented sample %d of draw %d is not a shifted (flipped) image", b, draw);
        }
    }
    int all = 1;
    for (int i = 0; i < 5; i++)
        for (int j = 0; j < 5; j++) all &= seen[i][j][0] > 0 && seen[i][j][1] > 0;
    CHECK_MSG(all, "512 draws should reach every shift in [-2, 2]^2 in both orientations");
    CHECK_OK(spk_experiment_encode_batch(e, &d, idx, 1, x, 0));
    CHECK(memcmp(x, img, sizeof img) == 0); /* evaluation: no augmentation */
    spk_dataset seq = {.n = 1, .ndim = 1, .dims = {C * H * W}, .n_classes = 1, .x = img, .y = &label};
    CHECK(spk_experiment_encode_train_batch(e, &seq, idx, 1, x, 0) == SPK_ERR_INVALID_ARG);
    CHECK(strstr(spk_errmsg(NULL), "not images") != NULL);
    spk_experiment_free(e);
}

/* spk_experiment_encode_one_step: under 'direct' encoding of static samples, the one step
 * equals every step of spk_experiment_encode_batch (and of the training batch with its
 * augmentation); under 'rate' encoding, or for sequence data, it is refused with the reason */
static void test_one_step(void) {
    enum { F = 12, B = 3, T = 4 };
    float img[2 * F];
    for (int i = 0; i < 2 * F; i++) img[i] = (float)(i % 5) / 4.0f;
    int32_t lab[2] = {0, 1}, idx[B] = {1, 0, 1};
    spk_dataset d = {.n = 2, .ndim = 1, .dims = {F}, .n_classes = 2, .x = img, .y = lab};
    const char *direct = "data:\n  dataset: fashion_mnist\nencoding:\n  kind: direct\n  gain: 1.5\n  steps: 4\n"
                         "network:\n  - dense: {units: 3}\n  - lif\n";
    const char *rate = "data:\n  dataset: fashion_mnist\nencoding:\n  kind: rate\n  steps: 4\n"
                       "network:\n  - dense: {units: 3}\n  - lif\n";
    spk_experiment *e = NULL, *r = NULL;
    CHECK_OK(spk_experiment_parse(&e, direct, strlen(direct), "direct.yaml"));
    CHECK_OK(spk_experiment_parse(&r, rate, strlen(rate), "rate.yaml"));
    if (!e || !r) return;
    float full[T * B * F], one[B * F];
    CHECK(spk_experiment_static_input(e, &d) == 1);
    CHECK_OK(spk_experiment_encode_batch(e, &d, idx, B, full, 7));
    for (int train = 0; train < 2; train++) {
        CHECK_OK(spk_experiment_encode_one_step(e, &d, idx, B, one, 7, train));
        for (int t = 0; t < T; t++)
            CHECK_MSG(memcmp(one, full + (size_t)t * B * F, sizeof one) == 0, "one step (train %d) differs from step %d", train, t);
    }
    CHECK(one[0] == 1.5f * img[F]); /* sample 1 first, times the gain */
    CHECK(spk_experiment_static_input(r, &d) == 0);
    CHECK(spk_experiment_encode_one_step(r, &d, idx, B, one, 7, 0) == SPK_ERR_INVALID_ARG);
    CHECK(strstr(spk_errmsg(NULL), "not the same at every step") && strstr(spk_errmsg(NULL), "rate"));
    spk_dataset seq = {.n = 2, .ndim = 2, .dims = {T, F / 2}, .has_time = 1, .n_classes = 2, .x = img, .y = lab};
    CHECK(spk_experiment_static_input(e, &seq) == 0);
    CHECK(spk_experiment_encode_one_step(e, &seq, idx, B, one, 7, 0) == SPK_ERR_INVALID_ARG);
    CHECK(strstr(spk_errmsg(NULL), "sequence") != NULL);
    spk_experiment_free(e);
    spk_experiment_free(r);
}

/* batchnorm and residual layers (docs/architectures.md), and training.hardware_safe, read
 * back identically from the resolved YAML; the branch and shortcut land in the flat list */
static void test_roundtrip_sew(void) {
    static const char *t = "network:\n  - dense: {name: d, units: 8}\n  - batchnorm: {name: bn, alpha: 0.5, v_th: 2, eps: 0.001, momentum: 0.2, gamma: 0.25}\n"
                           "  - lif: {name: l}\n  - residual:\n      name: r\n      connect: iand\n      layers:\n        - dense: {name: b1, units: 8}\n"
                           "        - lif: {name: b2}\n      shortcut: [{dense: {name: s1, units: 8}}, {lif: {name: s2}}]\n"
                           "  - dense: {name: o, units: 3}\n  - lif: {name: out}\ntraining: {hardware_safe: true}\n";
    spk_experiment *e = NULL, *e2 = NULL;
    CHECK_OK(spk_experiment_parse(&e, t, strlen(t), "sew.yaml"));
    if (!e) return;
    CHECK(e->n_layers == 10 && e->hardware_safe == 1);
    CHECK(e->layers[1].kind == SPK_LAYER_NORM && e->layers[1].norm.alpha == 0.5f && e->layers[1].norm.v_th == 2.0f &&
          e->layers[1].norm.momentum == 0.2f && e->layers[1].norm.gamma == 0.25f);
    CHECK(e->layers[3].kind == SPK_LAYER_RESIDUAL && e->layers[3].count == 2 && e->layers[3].shortcut == 2 &&
          e->layers[3].connect == SPK_MERGE_IAND && !strcmp(e->layers[7].name, "s2"));
    char *y = spk_experiment_to_yaml(e);
    CHECK_OK(spk_experiment_parse(&e2, y, strlen(y), "resolved.yaml"));
    char *y2 = e2 ? spk_experiment_to_yaml(e2) : NULL;
    CHECK_MSG(y && y2 && !strcmp(y, y2), "the resolved YAML must read back to the same experiment");
    CHECK(e2 && e2->n_layers == 10 && e2->hardware_safe == 1);
    for (int i = 0; e2 && i < 10; i++) {
        spk_layer_spec a, b;
        memcpy(&a, &e->layers[i], sizeof a); /* bytes, padding included (both were zeroed) */
        memcpy(&b, &e2->layers[i], sizeof b);
        a.line = b.line = 0; /* where each was written differs */
        CHECK_MSG(!memcmp(&a, &b, sizeof a), "layer %d differs after the round trip", i);
    }
    spk_free(y);
    spk_free(y2);
    spk_experiment_free(e2);
    spk_experiment_free(e);
}

static void test_model_files(void) {
    spk_experiment *e;
    CHECK_OK(spk_experiment_parse(&e, good, strlen(good), "good.yaml"));
    if (!e) return;
    spk_net *net;
    int readout, in_dims[4] = {4, 0, 0, 0};
    CHECK_OK(spk_experiment_build_net(e, 1, in_dims, &net, &readout));
    size_t np;
    float *p = spk_net_params(net, &np);
    for (size_t i = 0; i < np; i++) p[i] += 0.001f * (float)i; /* not the initial values */
    spk_net_params_changed(net);
    float thr = 0.7f;
    CHECK_OK(spk_neuron_set_param(spk_net_neuron(net, spk_net_find(net, "lif2")), SPK_NP_THR, &thr, 1));
    char dir[] = "/tmp/spk_test_XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char path[256], bad[256];
    snprintf(path, sizeof path, "%s/model.spk", dir);
    spk_train_state ts = {3, 7, 99};
    CHECK_OK(spk_model_save(path, e, 1, in_dims, net, NULL, &ts));
    spk_experiment *e2;
    spk_net *net2;
    int r2, nd2, d2[4];
    spk_train_state ts2;
    CHECK_OK(spk_model_load(path, &e2, &net2, &r2, &nd2, d2, &ts2, NULL, NULL));
    if (net2) {
        size_t np2;
        float *p2 = spk_net_params(net2, &np2);
        CHECK(np2 == np && memcmp(p, p2, np * sizeof(float)) == 0);
        CHECK(ts2.epoch == 3 && ts2.batch == 7 && ts2.step == 99 && nd2 == 1 && d2[0] == 4 && r2 == readout);
        CHECK(spk_neuron_get_param(spk_net_neuron(net2, spk_net_find(net2, "lif2")), SPK_NP_THR)[0] == 0.7f);
        /* the same outputs */
        float x[8 * 2 * 4];
        for (int i = 0; i < 64; i++) x[i] = spk_rng_uniform((spk_rng){3, 3}, 0, (uint64_t)i, 0) * 2;
        CHECK_OK(spk_net_forward(net, 8, 2, x));
        CHECK_OK(spk_net_forward(net2, 8, 2, x));
        CHECK(memcmp(spk_net_signal(net, readout, SPK_SIGNAL_MEM), spk_net_signal(net2, r2, SPK_SIGNAL_MEM), 8 * 2 * 3 * sizeof(float)) == 0);
        spk_net_free(net2);
        spk_experiment_free(e2);
    }
    /* truncation and corruption are caught by the checksum */
    FILE *f = fopen(path, "rb");
    static unsigned char buf[1 << 20];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    snprintf(bad, sizeof bad, "%s/bad.spk", dir);
    for (int k = 0; k < 2; k++) {
        f = fopen(bad, "wb");
        if (k == 0) fwrite(buf, 1, n / 2, f);
        else {
            buf[n / 3] ^= 0x10;
            fwrite(buf, 1, n, f);
            buf[n / 3] ^= 0x10;
        }
        fclose(f);
        CHECK(spk_model_load(bad, &e2, &net2, &r2, &nd2, d2, NULL, NULL, NULL) == SPK_ERR_FORMAT);
        CHECK_MSG(strstr(spk_errmsg(NULL), "checksum") != NULL, "message: %s", spk_errmsg(NULL));
    }
    f = fopen(bad, "wb");
    fputs("not a model", f);
    fclose(f);
    CHECK(spk_model_load(bad, &e2, &net2, &r2, &nd2, d2, NULL, NULL, NULL) == SPK_ERR_FORMAT);
    /* a write that cannot happen leaves the previous file as it was */
    if (geteuid() != 0) { /* root ignores directory permissions */
        chmod(dir, 0500);
        CHECK(spk_model_save(path, e, 1, in_dims, net, NULL, NULL) == SPK_ERR_IO);
        chmod(dir, 0700);
    }
    char nodir[300];
    snprintf(nodir, sizeof nodir, "%s/missing/model.spk", dir);
    CHECK(spk_model_save(nodir, e, 1, in_dims, net, NULL, NULL) == SPK_ERR_IO);
    /* a directory (e.g. a run folder) is refused as such, not read */
    CHECK(spk_model_load(dir, &e2, &net2, &r2, &nd2, d2, NULL, NULL, NULL) == SPK_ERR_IO);
    CHECK(strstr(spk_errmsg(NULL), "a directory") != NULL);
    f = fopen(path, "rb");
    size_t n2 = fread(buf, 1, sizeof buf, f);
    fclose(f);
    CHECK(n2 == n);
    /* learned decays pushed past 1 (and thresholds below 0) are projected back, so the saved
     * model loads */
    for (size_t i = 0; i < np; i++) p[i] = (i % 2) ? 7.0f : -7.0f;
    spk_net_params_changed(net);
    const float *lam2 = spk_neuron_get_param(spk_net_neuron(net, spk_net_find(net, "lif2")), SPK_NP_LAM);
    CHECK(lam2[0] == 1.0f || lam2[0] == -1.0f);
    CHECK_OK(spk_model_save(path, e, 1, in_dims, net, NULL, NULL));
    CHECK_OK(spk_model_load(path, &e2, &net2, &r2, &nd2, d2, NULL, NULL, NULL));
    spk_net_free(net2);
    spk_experiment_free(e2);
    remove(path);
    remove(bad);
    rmdir(dir);
    spk_net_free(net);
    spk_experiment_free(e);
}

/* A reversible layer: its settings, the resolved YAML reading back the same, its refusals. */
static void test_reversible_layer(void) {
    const char *text = "network:\n"
                       "  - conv: {channels: 4, kernel: 3, padding: 1}\n"
                       "  - lif: {}\n"
                       "  - reversible: {blocks: 5, op: conv, kernel: 5, bias: false, kind: cuba, beta: 0.5, threshold: 0.25, reset: hard, learn_threshold: shared}\n"
                       "  - flatten\n"
                       "  - dense: {units: 3}\n"
                       "  - lif\n";
    spk_experiment *e, *e2;
    CHECK_OK(spk_experiment_parse(&e, text, strlen(text), "rev.yaml"));
    if (!e) return;
    const spk_layer_spec *L = &e->layers[2];
    CHECK(L->kind == SPK_LAYER_REVERSIBLE && L->blocks == 5 && L->rev_op == SPK_REV_CONV && L->kernel[0] == 5 && L->bias == 0);
    CHECK(L->neuron.kind == SPK_NEURON_CUBA && L->neuron.lam == 0.5f && L->neuron.thr == 0.25f && L->neuron.reset == SPK_RESET_HARD);
    CHECK(!strcmp(L->name, "reversible3") && L->learn_threshold == SPK_LEARN_SHARED && L->learn_beta == SPK_LEARN_OFF);
    char *y = spk_experiment_to_yaml(e);
    CHECK(y && strstr(y, "- reversible: {name: reversible3, blocks: 5, op: conv, kernel: 5, bias: false, kind: cuba"));
    CHECK_OK(spk_experiment_parse(&e2, y, strlen(y), "resolved.yaml"));
    if (e2) {
        char *y2 = spk_experiment_to_yaml(e2);
        CHECK_MSG(y2 && strcmp(y, y2) == 0, "the resolved YAML with a reversible layer must read back to the same experiment");
        spk_layer_spec a = e->layers[2], b = e2->layers[2];
        a.line = b.line = 0; /* where it was written differs */
        CHECK(memcmp(&a, &b, sizeof a) == 0);
        spk_free(y2);
        spk_experiment_free(e2);
    }
    spk_net *net;
    int readout, dims[3] = {1, 6, 6};
    CHECK_OK(spk_experiment_build_net(e, 3, dims, &net, &readout));
    if (net) {
        int v = spk_net_find(net, "reversible3");
        size_t nw = 0;
        CHECK(v >= 0 && spk_net_node_kind(net, v) == SPK_NODE_REVERSIBLE && spk_net_param(net, v, "weight", &nw) && nw == 5 * 2 * 2 * 2 * 25);
        CHECK(spk_net_param(net, v, "bias", NULL) == NULL);
        size_t np;
        CHECK(spk_net_params(net, &np) && np == 36 + 4 + 5 * 2 * 2 * 2 * 25 + 10 + 144 * 3 + 3); /* conv, blocks, one thr per population, readout */
        spk_net_free(net);
    }
    spk_free(y);
    spk_experiment_free(e);
    /* odd channels are refused when the network is built, naming the layer */
    const char *odd = "network:\n  - conv: {channels: 3, kernel: 1}\n  - reversible: {blocks: 2, op: conv}\n  - flatten\n  - lif\n";
    CHECK_OK(spk_experiment_parse(&e, odd, strlen(odd), "odd.yaml"));
    if (e) {
        CHECK(spk_experiment_build_net(e, 3, dims, &net, &readout) == SPK_ERR_SHAPE);
        CHECK(strstr(spk_errmsg(NULL), "odd.yaml:3") && strstr(spk_errmsg(NULL), "even"));
        spk_experiment_free(e);
    }
    expect_error("network:\n  - reversible: {op: dense}\n  - lif\n", "x.yaml:2:5:", "reversible layer needs 'blocks'");
    expect_error("network:\n  - reversible: {blocks: 2, op: conv, kernel: 4}\n  - lif\n", "x.yaml:2:", "'kernel' must be odd");
    expect_error("network:\n  - reversible: {blocks: 2, op: attention}\n  - lif\n", "x.yaml:2:", "'op' must be one of dense, conv");
    expect_error("network:\n  - reversible: {blocks: 2, recurrent: true}\n  - lif\n", "x.yaml:2:", "unknown key 'recurrent'");
}

int main(void) {
    test_errors();
    test_roundtrip();
    test_augment();
    test_one_step();
    test_roundtrip_sew();
    test_model_files();
    test_reversible_layer();
    return tu_finish("test_experiment");
}
