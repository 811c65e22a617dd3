/* test_fixed.c — the fixed-point engine and the standalone C export.
 *  - the fixed-point engine tracks the float network (readout membranes within a tolerance
 *    set by the bits; the same predictions on most samples at 8 bits);
 *  - the generated C (compiled with cc -std=c99 -Wall -Wextra -Werror -pedantic) gives the
 *    engine's outputs bit for bit, for three neuron variants and four quantizations;
 *  - the float export matches the clock-driven engine;
 *  - the quantized file round-trips, refuses corruption and truncation, keeps an existing
 *    file when a save fails; unsupported graphs are refused naming the node. */
#define _POSIX_C_SOURCE 200809L
#include "engine/fixed_impl.h"
#include "fixed_common.h"

#include <unistd.h>

static char dir[256];

/* decode readout membranes [T, B, O] (float) by the mean over steps, argmax per sample */
static void argmax_mean(const float *mem, int T, int B, int O, int32_t *pred) {
    float *sc = calloc((size_t)B * O, sizeof(float));
    spk_decode(SPK_DEC_MEM_MEAN, T, B, O, NULL, mem, sc);
    spk_argmax_rows(sc, B, O, pred);
    free(sc);
}

static void test_tracks_float(void) {
    const int I = 40, H = 64, O = 6, T = 16, B = 32;
    int ro;
    spk_net *net = fx_make_net(0, I, H, O, 2.0f, &ro);
    CHECK(net != NULL);
    if (!net) return;
    float *x = malloc(sizeof(float) * (size_t)T * B * I), *mf = malloc(sizeof(float) * (size_t)T * B * O);
    fx_inputs(x, T, B, I, 1, 11);
    CHECK_OK(spk_net_forward(net, T, B, x));
    memcpy(mf, spk_net_signal(net, ro, SPK_SIGNAL_MEM), sizeof(float) * (size_t)T * B * O);
    double mmax = 0;
    for (int k = 0; k < T * B * O; k++) mmax = fabs(mf[k]) > mmax ? fabs(mf[k]) : mmax;
    int bits[2] = {16, 8};
    double tol[2] = {0.05, 0.25}; /* max |mem_q - mem_f| relative to max |mem_f| */
    for (int c = 0; c < 2; c++) {
        spk_quant_config qc = spk_quant_config_default();
        qc.weight_bits = bits[c];
        spk_qmodel *q;
        CHECK_OK(spk_quantize(&q, net, ro, &qc, T, B, x));
        if (!q) continue;
        int16_t *xq = malloc(sizeof(int16_t) * (size_t)T * B * I);
        int32_t *out = malloc(sizeof(int32_t) * (size_t)T * B * O);
        for (int b = 0; b < B; b++)
            for (int t = 0; t < T; t++) spk_qmodel_quantize_input(q, x + ((size_t)t * B + b) * I, (size_t)I, xq + ((size_t)b * T + t) * I);
        /* the input is Fashion-MNIST-like: k/255 in [0, 1], so the 8-bit input is exact */
        int exact = 1;
        for (int k = 0; k < I; k++) exact &= fabs(xq[k] / 255.0 - x[k]) < 1e-6;
        CHECK(exact);
        fx_expected(q, xq, T, B, out);
        float *mq = malloc(sizeof(float) * (size_t)T * B * O);
        double s = spk_qmodel_output_scale(q), dmax = 0;
        for (int b = 0; b < B; b++)
            for (int t = 0; t < T; t++)
                for (int o = 0; o < O; o++) {
                    float v = (float)(out[((size_t)b * T + t) * O + o] * s);
                    mq[((size_t)t * B + b) * O + o] = v;
                    double d = fabs(v - mf[((size_t)t * B + b) * O + o]);
                    dmax = d > dmax ? d : dmax;
                }
        CHECK_MSG(dmax <= tol[c] * mmax, "%d-bit weights: readout membrane off by %g (max |mem| %g)", bits[c], dmax, mmax);
        int32_t pf[32], pq[32];
        argmax_mean(mf, T, B, O, pf);
        argmax_mean(mq, T, B, O, pq);
        int same = 0;
        for (int b = 0; b < B; b++) same += pf[b] == pq[b];
        CHECK_MSG(same >= (c == 0 ? B : B * 3 / 4), "%d-bit weights: %d of %d predictions agree", bits[c], same, B);
        free(xq);
        free(out);
        free(mq);
        spk_qmodel_free(q);
    }
    free(x);
    free(mf);
    spk_net_free(net);
}

static const char *HARNESS = "#include <stdio.h>\n#include \"net.h\"\n#include \"samples.h\"\n"
                             "int main(void) {\n    int32_t out[NET_OUTPUTS];\n    int b, t, o;\n    printf(\"BEGIN\\n\");\n"
                             "    for (b = 0; b < NET_SAMPLES; b++) {\n        net_reset();\n        for (t = 0; t < NET_STEPS; t++) {\n"
                             "            net_step(net_samples + ((long)b * NET_STEPS + t) * NET_INPUTS, out);\n"
                             "            for (o = 0; o < NET_OUTPUTS; o++) printf(\"%ld \", (long)out[o]);\n            printf(\"\\n\");\n        }\n    }\n"
                             "    printf(\"END\\n\");\n    return 0;\n}\n";

static void test_c_bit_exact(void) {
    const int I = 30, H = 48, O = 5, T = 12, B = 10;
    struct { int variant, bits, per_channel, state_bits, static_in; } cases[] = {
        {0, 8, 0, 32, 1}, {0, 4, 1, 16, 0}, {1, 8, 1, 32, 0}, {2, 16, 0, 32, 0}, {1, 6, 0, 16, 1},
    };
    char p[512];
    snprintf(p, sizeof p, "%s/main.c", dir);
    FILE *f = fopen(p, "w");
    CHECK(f && fputs(HARNESS, f) >= 0 && fclose(f) == 0);
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        int ro;
        spk_net *net = fx_make_net(cases[c].variant, I, H, O, cases[c].variant == 2 ? 1.5f : 2.5f, &ro);
        CHECK(net != NULL);
        if (!net) continue;
        float *x = malloc(sizeof(float) * (size_t)T * B * I);
        fx_inputs(x, T, B, I, cases[c].static_in, 100 + c);
        spk_quant_config qc = {cases[c].bits, cases[c].per_channel, cases[c].state_bits, 8};
        spk_qmodel *q;
        CHECK_OK(spk_quantize(&q, net, ro, &qc, T, B, x));
        if (!q) {
            free(x);
            spk_net_free(net);
            continue;
        }
        int16_t *xq = malloc(sizeof(int16_t) * (size_t)T * B * I);
        int32_t *want = malloc(sizeof(int32_t) * (size_t)T * B * O), *got = malloc(sizeof(int32_t) * ((size_t)T * B * O + 1));
        snprintf(p, sizeof p, "%s/samples.h", dir);
        CHECK(fx_write_samples(p, q, x, T, B, xq) == 0);
        fx_expected(q, xq, T, B, want);
        /* a trivial output would make the comparison weak: require activity */
        long nz = 0, hid_spikes = 0;
        for (int k = 0; k < T * B * O; k++) nz += want[k] != 0;
        CHECK_MSG(nz >= 10, "case %zu: only %ld non-zero outputs", c, nz);
        CHECK_OK(spk_net_forward(net, T, B, x));
        const float *hs = spk_net_signal(net, spk_net_find(net, "hid"), SPK_SIGNAL_OUT);
        for (int k = 0; k < T * B * H; k++) hid_spikes += hs[k] > 0;
        CHECK_MSG(hid_spikes > T * B * H / 20 && hid_spikes < T * B * H * 9 / 10, "case %zu: hidden spike fraction %ld / %d", c, hid_spikes, T * B * H);
        char cp[512], hp[512];
        snprintf(cp, sizeof cp, "%s/net.c", dir);
        snprintf(hp, sizeof hp, "%s/net.h", dir);
        CHECK_OK(spk_export_c(q, cp, hp, "net.h", "test model"));
        int rc = fx_sh("cd %s && cc -std=c99 -Wall -Wextra -Werror -pedantic -O1 net.c main.c -o prog 2> cc.log && ./prog > out.txt", dir);
        CHECK_MSG(rc == 0, "case %zu: compiling or running the generated C failed (rc %d; see %s/cc.log)", c, rc, dir);
        if (rc) fx_sh("cat %s/cc.log >&2", dir);
        snprintf(p, sizeof p, "%s/out.txt", dir);
        long n = fx_read_ints(p, got, (long)T * B * O + 1);
        CHECK_MSG(n == (long)T * B * O, "case %zu: %ld outputs, expected %d", c, n, T * B * O);
        long diff = 0;
        for (long k = 0; k < n && k < (long)T * B * O; k++) diff += got[k] != want[k];
        CHECK_MSG(n == (long)T * B * O && diff == 0, "case %zu: %ld of %ld outputs differ from the fixed-point engine", c, diff, n);
        /* the generated file has no floating point and no allocation */
        CHECK(fx_sh("! grep -Ewq 'float|double|malloc|calloc|free' %s/net.c", dir) == 0);
        free(x);
        free(xq);
        free(want);
        free(got);
        spk_qmodel_free(q);
        spk_net_free(net);
    }
}

static const char *FHARNESS = "#include <stdio.h>\n#include \"net.h\"\n#include \"fsamples.h\"\n"
                              "int main(void) {\n    float out[NET_OUTPUTS];\n    int b, t, o;\n    printf(\"BEGIN\\n\");\n"
                              "    for (b = 0; b < NS; b++) {\n        net_reset();\n        for (t = 0; t < NT; t++) {\n"
                              "            net_step(xs + ((long)b * NT + t) * NET_INPUTS, out);\n"
                              "            for (o = 0; o < NET_OUTPUTS; o++) printf(\"%ld \", (long)(out[o] * 1e6f));\n            printf(\"\\n\");\n        }\n    }\n"
                              "    printf(\"END\\n\");\n    return 0;\n}\n";

static void test_float_export(void) {
    const int I = 20, H = 32, O = 4, T = 10, B = 6;
    for (int variant = 0; variant < 3; variant++) {
        int ro;
        spk_net *net = fx_make_net(variant, I, H, O, 2.0f, &ro);
        if (!net) { CHECK(0); continue; }
        float *x = malloc(sizeof(float) * (size_t)T * B * I);
        fx_inputs(x, T, B, I, 0, 300 + (uint64_t)variant);
        CHECK_OK(spk_net_forward(net, T, B, x));
        spk_net_set_reference(net, 1);
        CHECK_OK(spk_net_forward(net, T, B, x));
        const float *ref = spk_net_signal(net, ro, variant == 0 ? SPK_SIGNAL_MEM : SPK_SIGNAL_OUT);
        char p[512], cp[512], hp[512];
        snprintf(p, sizeof p, "%s/fsamples.h", dir);
        FILE *f = fopen(p, "w");
        fprintf(f, "#define NS %d\n#define NT %d\nstatic const float xs[] = {", B, T);
        for (int b = 0; b < B; b++)
            for (int t = 0; t < T; t++)
                for (int i = 0; i < I; i++) fprintf(f, "%.9g,", (double)x[((size_t)t * B + b) * I + i]);
        fprintf(f, "0};\n");
        fclose(f);
        snprintf(p, sizeof p, "%s/fmain.c", dir);
        f = fopen(p, "w");
        fputs(FHARNESS, f);
        fclose(f);
        snprintf(cp, sizeof cp, "%s/fnet.c", dir);
        snprintf(hp, sizeof hp, "%s/net.h", dir);
        CHECK_OK(spk_export_c_float(net, ro, cp, hp, "net.h", "float model"));
        int rc = fx_sh("cd %s && cc -std=c99 -Wall -Wextra -Werror -pedantic -O1 -ffp-contract=off fnet.c fmain.c -o fprog 2> cc.log && ./fprog > fout.txt", dir);
        CHECK_MSG(rc == 0, "float variant %d: compile/run failed", variant);
        int32_t *got = malloc(sizeof(int32_t) * ((size_t)T * B * O + 1));
        snprintf(p, sizeof p, "%s/fout.txt", dir);
        long n = fx_read_ints(p, got, (long)T * B * O + 1);
        CHECK(n == (long)T * B * O);
        long bad = 0;
        double worst = 0;
        for (int b = 0; b < B && n == (long)T * B * O; b++)
            for (int t = 0; t < T; t++)
                for (int o = 0; o < O; o++) {
                    double g = got[((size_t)b * T + t) * O + o] * 1e-6, r = ref[((size_t)t * B + b) * O + o];
                    double d = fabs(g - r);
                    worst = d > worst ? d : worst;
                    bad += d > 2e-5 + 1e-5 * fabs(r);
                }
        CHECK_MSG(bad == 0, "float variant %d: %ld outputs differ from the clock-driven engine (worst %g)", variant, bad, worst);
        free(got);
        free(x);
        spk_net_free(net);
    }
}

static void test_file_and_refusals(void) {
    const int I = 16, H = 24, O = 4, T = 8, B = 4;
    int ro;
    spk_net *net = fx_make_net(1, I, H, O, 2.0f, &ro);
    if (!net) { CHECK(0); return; }
    float *x = malloc(sizeof(float) * (size_t)T * B * I);
    fx_inputs(x, T, B, I, 0, 5);
    spk_quant_config qc = spk_quant_config_default();
    qc.per_channel = 1;
    spk_qmodel *q, *q2 = NULL;
    CHECK_OK(spk_quantize(&q, net, ro, &qc, T, B, x));
    char p[512];
    snprintf(p, sizeof p, "%s/m.spkq", dir);
    CHECK_OK(spk_qmodel_save(p, q, NULL));
    CHECK_OK(spk_qmodel_load(p, &q2, NULL));
    if (q && q2) {
        int16_t *xq = malloc(sizeof(int16_t) * (size_t)T * B * I);
        int32_t *a = malloc(sizeof(int32_t) * (size_t)T * B * O), *b = malloc(sizeof(int32_t) * (size_t)T * B * O);
        for (int k = 0; k < B; k++)
            for (int t = 0; t < T; t++) spk_qmodel_quantize_input(q, x + ((size_t)t * B + k) * I, (size_t)I, xq + ((size_t)k * T + t) * I);
        fx_expected(q, xq, T, B, a);
        fx_expected(q2, xq, T, B, b);
        CHECK(memcmp(a, b, sizeof(int32_t) * (size_t)T * B * O) == 0);
        free(xq);
        free(a);
        free(b);
    }
    spk_qmodel_free(q2);
    /* corruption and truncation are refused */
    FILE *f = fopen(p, "rb");
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *buf = malloc((size_t)sz);
    CHECK(fread(buf, 1, (size_t)sz, f) == (size_t)sz);
    fclose(f);
    char bad[512];
    snprintf(bad, sizeof bad, "%s/bad.spkq", dir);
    buf[sz / 2] ^= 0x10;
    f = fopen(bad, "wb");
    fwrite(buf, 1, (size_t)sz, f);
    fclose(f);
    CHECK(spk_qmodel_load(bad, &q2, NULL) == SPK_ERR_FORMAT && strstr(spk_errmsg(NULL), "checksum"));
    buf[sz / 2] ^= 0x10;
    f = fopen(bad, "wb");
    fwrite(buf, 1, (size_t)sz - 9, f);
    fclose(f);
    CHECK(spk_qmodel_load(bad, &q2, NULL) == SPK_ERR_FORMAT);
    /* cut at every length, one bit flipped at every byte: all refused, nothing returned */
    long cut_ok = 0, flip_ok = 0;
    for (long n = 0; n < sz; n++) {
        spk_qmodel *z = NULL;
        cut_ok += spk__qmodel_load_mem(buf, (size_t)n, "cut.spkq", &z, NULL) == SPK_ERR_FORMAT && !z && strstr(spk_errmsg(NULL), "cut.spkq");
        buf[n] ^= 0x04;
        flip_ok += spk__qmodel_load_mem(buf, (size_t)sz, "flip.spkq", &z, NULL) == SPK_ERR_FORMAT && !z;
        buf[n] ^= 0x04;
    }
    CHECK_MSG(cut_ok == sz && flip_ok == sz, "%ld of %ld cuts and %ld flips refused", cut_ok, sz, flip_ok);
    free(buf);
    /* a failing save keeps the existing file */
    char nodir[600];
    snprintf(nodir, sizeof nodir, "%s/no/such/dir/m.spkq", dir);
    CHECK(spk_qmodel_save(nodir, q, NULL) == SPK_ERR_IO);
    spk_qmodel_free(q);
    /* bits out of range */
    qc.weight_bits = 3;
    CHECK(spk_quantize(&q, net, ro, &qc, T, B, x) == SPK_ERR_INVALID_ARG);
    qc = spk_quant_config_default();
    qc.state_bits = 24;
    CHECK(spk_quantize(&q, net, ro, &qc, T, B, x) == SPK_ERR_INVALID_ARG);
    spk_net_free(net);
    free(x);
    /* an unsupported node is named */
    spk_net *n2;
    spk_net_create(&n2);
    int in, cv, fl, d, p2, dims[3] = {1, 6, 6}, k[2] = {3, 3};
    spk_neuron_config c = spk_neuron_config_default();
    c.kind = SPK_NEURON_ALIF;
    spk_net_add_input(n2, "img", 3, dims, &in);
    spk_net_add_conv(n2, "conv_a", 2, 1, 2, k, NULL, NULL, NULL, 1, 1, &cv);
    spk_net_add_flatten(n2, "fl", &fl);
    spk_net_add_dense(n2, "fc", 32, 3, 1, &d);
    spk_net_add_neuron(n2, "alif_out", &c, 1, (int[]){3}, &p2);
    spk_net_connect(n2, in, cv);
    spk_net_connect(n2, cv, fl);
    spk_net_connect(n2, fl, d);
    spk_net_connect(n2, d, p2);
    CHECK_OK(spk_net_build(n2, (spk_rng){1, 0}));
    float x2[36 * 2] = {0};
    qc = spk_quant_config_default();
    CHECK(spk_quantize(&q, n2, p2, &qc, 2, 1, x2) == SPK_ERR_UNSUPPORTED && strstr(spk_errmsg(NULL), "'conv_a'"));
    char cp[512], hp[512];
    snprintf(cp, sizeof cp, "%s/x.c", dir);
    snprintf(hp, sizeof hp, "%s/x.h", dir);
    CHECK(spk_export_c_float(n2, p2, cp, hp, "x.h", "m") == SPK_ERR_UNSUPPORTED && access(cp, F_OK) != 0);
    spk_net_free(n2);
    /* an ALIF population is named */
    spk_net_create(&n2);
    int d1[1] = {8};
    spk_net_add_input(n2, "in", 1, d1, &in);
    spk_net_add_dense(n2, "fc", 8, 3, 1, &d);
    spk_net_add_neuron(n2, "alif_out", &c, 1, (int[]){3}, &p2);
    spk_net_connect(n2, in, d);
    spk_net_connect(n2, d, p2);
    CHECK_OK(spk_net_build(n2, (spk_rng){1, 0}));
    CHECK(spk_quantize(&q, n2, p2, &qc, 2, 1, x2) == SPK_ERR_UNSUPPORTED && strstr(spk_errmsg(NULL), "'alif_out'"));
    spk_net_free(n2);
}

/* fake quantization puts the weights on the quantizer's own grid: quantizing them gives the
 * same integers as quantizing the original weights, and a second rounding changes nothing */
static void test_fake_quantize(void) {
    const int I = 20, H = 16, O = 4, T = 6, B = 4;
    for (int pc = 0; pc < 2; pc++) {
        int ro;
        spk_net *net = fx_make_net(0, I, H, O, 1.0f, &ro);
        if (!net) { CHECK(0); continue; }
        float *x = malloc(sizeof(float) * (size_t)T * B * I);
        fx_inputs(x, T, B, I, 1, 77);
        spk_quant_config qc = spk_quant_config_default();
        qc.weight_bits = 4;
        qc.per_channel = pc;
        spk_qmodel *qa = NULL, *qb = NULL;
        CHECK_OK(spk_quantize(&qa, net, ro, &qc, T, B, x));
        size_t n1, n2;
        float *w1 = spk_net_param(net, spk_net_find(net, "fc1"), "weight", &n1), *w2 = spk_net_param(net, spk_net_find(net, "fc2"), "weight", &n2);
        float before = w1[3];
        CHECK_OK(spk_fake_quantize(net, ro, &qc));
        CHECK(w1[3] != before || fabsf(before) < 1e-6f); /* moved onto the grid (almost surely) */
        /* at most 15 distinct values per output row at 4 bits */
        int distinct_ok = 1;
        for (int o = 0; o < H; o++) {
            float seen[32];
            int ns = 0;
            for (int i = 0; i < I; i++) {
                int k = 0;
                while (k < ns && seen[k] != w1[(size_t)o * I + i]) k++;
                if (k == ns && ns < 32) seen[ns++] = w1[(size_t)o * I + i];
            }
            distinct_ok &= ns <= 15;
        }
        CHECK(distinct_ok);
        float *copy = malloc(sizeof(float) * (n1 + n2));
        memcpy(copy, w1, sizeof(float) * n1);
        memcpy(copy + n1, w2, sizeof(float) * n2);
        CHECK_OK(spk_fake_quantize(net, ro, &qc));
        /* a second rounding moves nothing beyond float rounding of the scale */
        double dmax = 0, wmax = 0;
        for (size_t k = 0; k < n1 + n2; k++) {
            float now = k < n1 ? w1[k] : w2[k - n1];
            dmax = fabs(now - copy[k]) > dmax ? fabs(now - copy[k]) : dmax;
            wmax = fabs(copy[k]) > wmax ? fabs(copy[k]) : wmax;
        }
        CHECK_MSG(dmax <= 1e-6 * wmax, "second fake quantization moved a weight by %g", dmax);
        CHECK_OK(spk_quantize(&qb, net, ro, &qc, T, B, x));
        if (qa && qb)
            for (int l = 0; l < 2; l++)
                CHECK_MSG(memcmp(qa->layers[l].w, qb->layers[l].w, sizeof(int16_t) * (size_t)qa->layers[l].in * qa->layers[l].out) == 0,
                          "per_channel %d, layer %d: the integers moved", pc, l);
        spk_qmodel_free(qa);
        spk_qmodel_free(qb);
        free(copy);
        free(x);
        spk_net_free(net);
    }
}

int main(void) {
    snprintf(dir, sizeof dir, "/tmp/spk_fixed.XXXXXX");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    test_tracks_float();
    test_c_bit_exact();
    test_float_export();
    test_file_and_refusals();
    test_fake_quantize();
    int rc = tu_finish("test_fixed");
    if (rc == 0) fx_sh("rm -rf %s", dir);
    else fprintf(stderr, "test_fixed: files kept in %s\n", dir);
    return rc;
}
