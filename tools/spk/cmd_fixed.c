/* cmd_fixed.c — fixed point on the command line (docs/deploy.md):
 *   spk quantize MODEL -o QMODEL [--bits B] [--per-channel] [--state-bits 16|32]
 *                [--input-bits B] [--calib N] [--test N]
 *       post-training quantization; prints the test-set accuracy of the float model and of
 *       the fixed-point engine
 *   spk export QMODEL --to c -o net.c            standalone C (net.c + net.h)
 *   spk export MODEL --to c --float -o net.c     the float network as C
 */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cli_evaluate(const spk_experiment *e, spk_trainer *tr, spk_net *net, const spk_dataset *d, int T, size_t in_size, double *loss,
                 double *acc, double *spikes_per_sample);

#define FIX_DRAW_BASE ((uint64_t)1 << 62) /* the test-set encodings' draws, as spk eval */

static spk_decoding decoding_of(const spk_experiment *e) {
    switch (e->train.loss) {
    case SPK_LOSS_CE_COUNT:
    case SPK_LOSS_MSE_COUNT: return SPK_DEC_COUNT;
    case SPK_LOSS_CE_FIRST_SPIKE: return SPK_DEC_FIRST_SPIKE;
    default:
        return e->train.mem_reduce == SPK_MEM_MAX ? SPK_DEC_MEM_MAX : e->train.mem_reduce == SPK_MEM_LAST ? SPK_DEC_MEM_LAST : SPK_DEC_MEM_MEAN;
    }
}

/* Accuracy of the fixed-point engine on the first n samples of d (batches of the
 * experiment's size, encoded as spk eval encodes them). */
static int fixed_accuracy(const spk_experiment *e, const spk_qmodel *q, const spk_dataset *d, int n, int T, double *acc) {
    const int I = spk_qmodel_input_size(q), O = spk_qmodel_output_size(q), B = e->batch_size;
    const int fires = spk_qmodel_output_fires(q);
    const double so = spk_qmodel_output_scale(q);
    spk_fixed *fx;
    if (spk_fixed_create(&fx, q)) {
        cli_error("%s", spk_errmsg(NULL));
        return -1;
    }
    float *x = malloc(sizeof(float) * (size_t)T * B * I), *sig = malloc(sizeof(float) * (size_t)T * O), scores[4096];
    int16_t *xq = malloc(sizeof(int16_t) * (size_t)T * I);
    int32_t *out = malloc(sizeof(int32_t) * (size_t)T * O), *idx = malloc(sizeof(int32_t) * B), pred;
    long correct = 0;
    int rc = -1;
    if (!x || !sig || !xq || !out || !idx || O > 4096) {
        cli_error("quantize: out of memory for the evaluation");
        goto done;
    }
    for (int b0 = 0; b0 < n; b0 += B) {
        int Bc = n - b0 < B ? n - b0 : B;
        for (int b = 0; b < Bc; b++) idx[b] = b0 + b;
        if (spk_experiment_encode_batch(e, d, idx, Bc, x, FIX_DRAW_BASE + (uint64_t)(b0 / B))) {
            cli_error("%s", spk_errmsg(NULL));
            goto done;
        }
        for (int b = 0; b < Bc; b++) {
            for (int t = 0; t < T; t++)
                if (spk_qmodel_quantize_input(q, x + ((size_t)t * Bc + b) * I, (size_t)I, xq + (size_t)t * I)) {
                    cli_error("%s", spk_errmsg(NULL));
                    goto done;
                }
            spk_fixed_run(fx, T, xq, out);
            for (size_t k = 0; k < (size_t)T * O; k++) sig[k] = fires ? (float)out[k] : (float)(out[k] * so);
            spk_decode(decoding_of(e), T, 1, O, fires ? sig : NULL, fires ? NULL : sig, scores);
            spk_argmax_rows(scores, 1, O, &pred);
            correct += pred == d->y[b0 + b];
        }
    }
    *acc = (double)correct / n;
    rc = 0;
done:
    free(x);
    free(sig);
    free(xq);
    free(out);
    free(idx);
    spk_fixed_free(fx);
    return rc;
}

/* Quantization-aware fine-tuning with the straight-through estimator: before each step the
 * weights are rounded to their quantization grid (spk_fake_quantize); the trainer's step
 * (forward and backward at the rounded weights, optimizer update) moves them, and that move
 * is added to the float weights, which are put back. At the end the net holds the float
 * weights, which spk_quantize rounds. Batches, order and encoding draws as spk train. */
#define QAT_DRAW_BASE ((uint64_t)1 << 61)
static int finetune_qat(const spk_experiment *e, spk_trainer *tr, spk_net *net, int readout, const spk_quant_config *qc, const spk_dataset *train,
                        int T, size_t in_size, int epochs) {
    size_t n;
    float *p = spk_net_params(net, &n);
    const int B = e->batch_size, nb = (train->n + B - 1) / B;
    float *master = malloc(sizeof(float) * n), *wq = malloc(sizeof(float) * n), *x = malloc(sizeof(float) * (size_t)T * B * in_size);
    int32_t *perm = malloc(sizeof(int32_t) * (size_t)train->n), *lab = malloc(sizeof(int32_t) * (size_t)B);
    int rc = -1;
    if (!master || !wq || !x || !perm || !lab) {
        cli_error("quantize: out of memory for fine-tuning");
        goto done;
    }
    memcpy(master, p, sizeof(float) * n);
    for (int ep = 0; ep < epochs; ep++) {
        spk_rng_permutation((spk_rng){e->seed, 0x9a7}, (uint64_t)ep, perm, train->n);
        double t0 = cli_now(), lsum = 0;
        long correct = 0;
        for (int bi = 0; bi < nb; bi++) {
            int Bc = train->n - bi * B < B ? train->n - bi * B : B;
            for (int b = 0; b < Bc; b++) lab[b] = train->y[perm[bi * B + b]];
            if (spk_experiment_encode_train_batch(e, train, perm + (size_t)bi * B, Bc, x, QAT_DRAW_BASE + (uint64_t)ep * nb + bi)) {
                cli_error("%s", spk_errmsg(NULL));
                goto done;
            }
            if (spk_fake_quantize(net, readout, qc)) {
                cli_error("%s", spk_errmsg(NULL));
                goto done;
            }
            memcpy(wq, p, sizeof(float) * n);
            double l;
            int ok;
            if (spk_trainer_step(tr, T, Bc, x, lab, &l, &ok)) {
                cli_error("fine-tuning, epoch %d, batch %d: %s", ep + 1, bi + 1, spk_errmsg(tr));
                goto done;
            }
            for (size_t k = 0; k < n; k++) master[k] += p[k] - wq[k];
            memcpy(p, master, sizeof(float) * n);
            spk_net_params_changed(net);
            lsum += l * Bc;
            correct += ok;
        }
        printf("fine-tuning epoch %d/%d: loss %.4f  train %.2f%% (at the quantized weights)  %.1f s\n", ep + 1, epochs, lsum / train->n,
               100.0 * correct / train->n, cli_now() - t0);
        fflush(stdout);
    }
    rc = 0;
done:
    free(master);
    free(wq);
    free(x);
    free(perm);
    free(lab);
    return rc;
}

int cmd_quantize(int argc, char **argv) {
    const char *file = NULL, *outp = NULL;
    spk_quant_config qc = spk_quant_config_default();
    long calib = 256, ntest = 0, finetune = 0, v;
    double lr = 1e-4;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            printf("usage: spk quantize MODEL -o QMODEL [--bits B] [--per-channel] [--state-bits 16|32]\n"
                   "                    [--input-bits B] [--calib N] [--test N] [--finetune EPOCHS [--lr LR]]\n"
                   "Post-training quantization to integers (docs/deploy.md): weights of B bits (4..16, default 8),\n"
                   "one scale per layer or per output neuron (--per-channel), membranes of 16 or 32 bits (default),\n"
                   "the input of --input-bits bits (default 8). The first N training samples (--calib, default 256)\n"
                   "choose the scales. Prints the test-set accuracy of the float model and of the fixed-point\n"
                   "engine (--test N: only the first N test samples; 0 = all). --finetune first trains the\n"
                   "model EPOCHS epochs quantization-aware (steps taken at the quantized weights, applied to\n"
                   "the float weights: straight-through; the experiment's optimizer at --lr, default 1e-4).\n");
            return 0;
        } else if (!strcmp(a, "-o")) {
            if (!val) { cli_error("quantize: -o needs a file"); return 2; }
            outp = argv[++i];
        } else if (!strcmp(a, "--bits")) {
            if (cli_int("--bits", val, 4, 16, &v)) return 2;
            qc.weight_bits = (int)v, i++;
        } else if (!strcmp(a, "--state-bits")) {
            if (cli_int("--state-bits", val, 16, 32, &v)) return 2;
            if (v != 16 && v != 32) { cli_error("--state-bits: %ld: must be 16 or 32", v); return 2; }
            qc.state_bits = (int)v, i++;
        } else if (!strcmp(a, "--input-bits")) {
            if (cli_int("--input-bits", val, 2, 15, &v)) return 2;
            qc.input_bits = (int)v, i++;
        } else if (!strcmp(a, "--per-channel")) {
            qc.per_channel = 1;
        } else if (!strcmp(a, "--calib")) {
            if (cli_int("--calib", val, 1, 100000, &calib)) return 2;
            i++;
        } else if (!strcmp(a, "--finetune")) {
            if (cli_int("--finetune", val, 0, 1000, &finetune)) return 2;
            i++;
        } else if (!strcmp(a, "--lr")) {
            if (cli_float("--lr", val, &lr)) return 2;
            if (!(lr > 0)) { cli_error("--lr: %g: must be > 0", lr); return 2; }
            i++;
        } else if (!strcmp(a, "--test")) {
            if (cli_int("--test", val, 0, 100000000, &ntest)) return 2;
            i++;
        } else if (!file && a[0] != '-') {
            file = a;
        } else {
            cli_error("quantize: unexpected argument '%s' (see 'spk quantize --help')", a);
            return 2;
        }
    }
    if (!file || !outp) {
        cli_error("quantize: need MODEL and -o QMODEL (see 'spk quantize --help')");
        return 2;
    }
    spk_experiment *e;
    spk_net *net;
    int readout, nd, dims[SPK_MAX_DIMS];
    if (spk_model_load(file, &e, &net, &readout, &nd, dims, NULL, NULL, NULL)) {
        cli_error("%s", spk_errmsg(NULL));
        return 1;
    }
    int rc = 1;
    spk_dataset train = {0}, test = {0};
    spk_qmodel *q = NULL;
    spk_trainer *tr = NULL;
    float *x = NULL;
    int32_t *idx = NULL;
    if (spk_experiment_load_data(e, &train, &test)) {
        cli_error("%s", spk_errmsg(NULL));
        goto out;
    }
    int idims[SPK_MAX_DIMS], T, ind = spk_experiment_input_shape(e, &train, idims, &T);
    if (!ind) {
        cli_error("%s", spk_errmsg(NULL));
        goto out;
    }
    size_t in_size = 1;
    for (int k = 0; k < ind; k++) in_size *= (size_t)idims[k];
    int nc = calib < train.n ? (int)calib : train.n;
    if (ntest > 0 && ntest < test.n) test.n = (int)ntest;
    spk_train_config tc = e->train;
    tc.output = readout;
    tc.optim.lr = (float)lr;
    tc.sched.kind = SPK_SCHED_CONST;
    tc.sched.base_lr = (float)lr;
    tc.sched.warmup_steps = 0;
    if (spk_trainer_create(&tr, net, &tc)) {
        cli_error("%s", spk_errmsg(NULL));
        goto out;
    }
    double loss, acc_f = 0, acc_ft = 0, acc_q, sps, t_f = 0;
    if (test.n > 0) { /* the float model's accuracy before anything changes it */
        double t0 = cli_now();
        if (cli_evaluate(e, tr, net, &test, T, in_size, &loss, &acc_f, &sps)) goto out;
        t_f = cli_now() - t0;
    }
    if (finetune > 0 && finetune_qat(e, tr, net, readout, &qc, &train, T, in_size, (int)finetune)) goto out;
    if (finetune > 0 && test.n > 0 && cli_evaluate(e, tr, net, &test, T, in_size, &loss, &acc_ft, &sps)) goto out;
    x = malloc(sizeof(float) * (size_t)T * nc * in_size);
    idx = malloc(sizeof(int32_t) * (size_t)nc);
    if (!x || !idx) {
        cli_error("quantize: out of memory for %d calibration samples", nc);
        goto out;
    }
    for (int b = 0; b < nc; b++) idx[b] = b;
    if (spk_experiment_encode_batch(e, &train, idx, nc, x, 0)) {
        cli_error("%s", spk_errmsg(NULL));
        goto out;
    }
    if (spk_quantize(&q, net, readout, &qc, T, nc, x)) {
        cli_error("%s: %s", file, spk_errmsg(NULL));
        goto out;
    }
    if (spk_qmodel_save(outp, q, e)) {
        cli_error("%s", spk_errmsg(NULL));
        goto out;
    }
    printf("%s -> %s: weights %d bits (%s), state %d bits, input %d bits%s\n", file, outp, qc.weight_bits, qc.per_channel ? "per channel" : "per tensor",
           qc.state_bits, qc.input_bits, finetune > 0 ? ", quantization-aware fine-tuned" : "");
    /* accuracy before and after on the test set */
    if (test.n > 0) {
        double t1 = cli_now();
        if (fixed_accuracy(e, q, &test, test.n, T, &acc_q)) goto out;
        char ft[64] = "";
        if (finetune > 0) snprintf(ft, sizeof ft, "  fine-tuned float %.2f%%", 100 * acc_ft);
        printf("test accuracy (%d samples): float %.2f%%%s  fixed-point %.2f%%  (change %+.2f points; %.1f s, %.1f s)\n", test.n, 100 * acc_f, ft,
               100 * acc_q, 100 * (acc_q - acc_f), t_f, cli_now() - t1);
    }
    rc = 0;
out:
    free(x);
    free(idx);
    spk_trainer_free(tr);
    spk_qmodel_free(q);
    spk_dataset_free(&train);
    spk_dataset_free(&test);
    spk_net_free(net);
    spk_experiment_free(e);
    return rc;
}

/* samples.h for the target harness (examples/cortexm/main.c): the first n test samples of
 * the model's experiment, quantized, and the fixed-point engine's outputs for them. */
static int write_samples(const char *path, const spk_qmodel *q, const spk_experiment *e, int n) {
    spk_dataset train = {0}, test = {0};
    if (!e) {
        cli_error("export: --samples: the quantized model has no experiment to take samples from");
        return -1;
    }
    if (spk_experiment_load_data(e, &train, &test)) {
        cli_error("%s", spk_errmsg(NULL));
        return -1;
    }
    int dims[SPK_MAX_DIMS], T, rc = -1;
    const int I = spk_qmodel_input_size(q), O = spk_qmodel_output_size(q);
    if (!spk_experiment_input_shape(e, &test, dims, &T)) {
        cli_error("%s", spk_errmsg(NULL));
        goto out;
    }
    if (n > test.n) n = test.n;
    float *x = malloc(sizeof(float) * (size_t)T * n * I);
    int16_t *xq = malloc(sizeof(int16_t) * (size_t)T * n * I);
    int32_t *y = malloc(sizeof(int32_t) * (size_t)T * n * O), *idx = malloc(sizeof(int32_t) * (size_t)n);
    spk_fixed *fx = NULL;
    if (!x || !xq || !y || !idx || spk_fixed_create(&fx, q)) {
        cli_error("export: out of memory for the samples");
        goto free_all;
    }
    for (int b = 0; b < n; b++) idx[b] = b;
    if (spk_experiment_encode_batch(e, &test, idx, n, x, FIX_DRAW_BASE)) {
        cli_error("%s", spk_errmsg(NULL));
        goto free_all;
    }
    for (int b = 0; b < n; b++)
        for (int t = 0; t < T; t++) spk_qmodel_quantize_input(q, x + ((size_t)t * n + b) * I, (size_t)I, xq + ((size_t)b * T + t) * I);
    for (int b = 0; b < n; b++) spk_fixed_run(fx, T, xq + (size_t)b * T * I, y + (size_t)b * T * O);
    size_t cap = (size_t)T * n * (I * 7 + O * 12) + 4096, len = 0;
    char *txt = malloc(cap);
    if (!txt) {
        cli_error("export: out of memory for the samples");
        goto free_all;
    }
    len += (size_t)snprintf(txt + len, cap - len,
                            "/* %d test samples of the model's experiment (labels:", n);
    for (int b = 0; b < n && b < 64; b++) len += (size_t)snprintf(txt + len, cap - len, " %d", test.y[b]);
    len += (size_t)snprintf(txt + len, cap - len,
                            "%s), quantized as the\n * network's input, and the fixed-point engine's outputs for them. */\n"
                            "#define NET_SAMPLES %d\n#define NET_STEPS %d\n#define NET_HAVE_EXPECTED 1\n"
                            "static const int16_t net_samples[%zu] = {",
                            n > 64 ? " ..." : "", n, T, (size_t)T * n * I);
    for (size_t k = 0; k < (size_t)T * n * I; k++) len += (size_t)snprintf(txt + len, cap - len, "%s%d", k ? (k % 28 ? "," : ",\n    ") : "\n    ", xq[k]);
    len += (size_t)snprintf(txt + len, cap - len, "\n};\nstatic const int32_t net_expected[%zu] = {", (size_t)T * n * O);
    for (size_t k = 0; k < (size_t)T * n * O; k++) len += (size_t)snprintf(txt + len, cap - len, "%s%ld", k ? (k % 10 ? "," : ",\n    ") : "\n    ", (long)y[k]);
    len += (size_t)snprintf(txt + len, cap - len, "\n};\n");
    rc = len + 1 < cap && cli_write_text_atomic(path, txt) == 0 ? 0 : -1;
    if (rc) cli_error("export: cannot write %s", path);
    free(txt);
free_all:
    spk_fixed_free(fx);
    free(x);
    free(xq);
    free(y);
    free(idx);
out:
    spk_dataset_free(&train);
    spk_dataset_free(&test);
    return rc;
}

int cli_export_is_c(int argc, char **argv) {
    for (int i = 1; i + 1 < argc; i++)
        if (!strcmp(argv[i], "--to") && !strcmp(argv[i + 1], "c")) return 1;
    return 0;
}

int cmd_export_c(int argc, char **argv) {
    const char *file = NULL, *outp = NULL;
    int use_float = 0;
    long nsamples = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            printf("usage: spk export QMODEL --to c -o net.c [--samples N]   fixed-point C from a quantized model\n"
                   "       spk export MODEL --to c --float -o net.c   float C from a model.spk\n"
                   "Writes net.c and net.h (beside it): C99, const weights, one static state struct, no\n"
                   "dynamic allocation; net_reset() and net_step(input, output) for one time step (docs/deploy.md).\n"
                   "--samples N also writes samples.h beside them: N test samples of the model's experiment,\n"
                   "quantized, with the fixed-point engine's outputs (for examples/cortexm/main.c).\n");
            return 0;
        } else if (!strcmp(argv[i], "--to")) {
            i++;
        } else if (!strcmp(argv[i], "-o")) {
            if (i + 1 >= argc) { cli_error("export: -o needs a file"); return 2; }
            outp = argv[++i];
        } else if (!strcmp(argv[i], "--float")) {
            use_float = 1;
        } else if (!strcmp(argv[i], "--samples")) {
            if (cli_int("--samples", i + 1 < argc ? argv[i + 1] : NULL, 1, 100000, &nsamples)) return 2;
            i++;
        } else if (!file && argv[i][0] != '-') {
            file = argv[i];
        } else {
            cli_error("export: unexpected argument '%s' (see 'spk export --to c --help')", argv[i]);
            return 2;
        }
    }
    size_t ol = outp ? strlen(outp) : 0;
    if (!file || !outp || ol < 3 || strcmp(outp + ol - 2, ".c")) {
        cli_error("export: need MODEL and -o FILE.c (see 'spk export --to c --help')");
        return 2;
    }
    char *hpath = malloc(ol + 1);
    if (!hpath) return 1;
    memcpy(hpath, outp, ol + 1);
    hpath[ol - 1] = 'h';
    const char *slash = strrchr(hpath, '/'), *hname = slash ? slash + 1 : hpath;
    const char *base = strrchr(file, '/') ? strrchr(file, '/') + 1 : file;
    int rc = 1;
    if (use_float) {
        spk_experiment *e;
        spk_net *net;
        int readout, nd, dims[SPK_MAX_DIMS];
        if (spk_model_load(file, &e, &net, &readout, &nd, dims, NULL, NULL, NULL)) {
            cli_error("%s", spk_errmsg(NULL));
        } else {
            if (spk_export_c_float(net, readout, outp, hpath, hname, base)) cli_error("%s: %s", file, spk_errmsg(NULL));
            else rc = 0;
            spk_net_free(net);
            spk_experiment_free(e);
        }
    } else {
        spk_qmodel *q;
        spk_experiment *e = NULL;
        if (spk_qmodel_load(file, &q, nsamples ? &e : NULL)) {
            cli_error("%s%s", spk_errmsg(NULL), strstr(spk_errmsg(NULL), "SPKQUANT") ? " (run 'spk quantize' first, or add --float)" : "");
        } else {
            if (spk_export_c(q, outp, hpath, hname, base)) cli_error("%s", spk_errmsg(NULL));
            else rc = 0;
            if (!rc && nsamples) {
                /* samples.h beside net.c */
                size_t dl = (size_t)(slash ? slash - hpath + 1 : 0);
                char *sp = malloc(dl + 16);
                if (!sp) rc = 1;
                else {
                    memcpy(sp, hpath, dl);
                    memcpy(sp + dl, "samples.h", 10);
                    if (write_samples(sp, q, e, (int)nsamples)) rc = 1;
                    else printf("%s: %ld test samples and the fixed-point engine's outputs for them\n", sp, nsamples);
                    free(sp);
                }
            }
            spk_experiment_free(e);
            spk_qmodel_free(q);
        }
    }
    if (!rc) printf("%s -> %s, %s (%s)\n", file, outp, hpath, use_float ? "float" : "fixed point");
    free(hpath);
    return rc;
}
