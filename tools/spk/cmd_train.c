/* cmd_train.c — `spk train FILE.yaml`: train the experiment a YAML file describes, with a
 * progress bar per epoch and one summary line per epoch, into a run folder holding the
 * resolved experiment.yaml, metrics.csv, checkpoints/ (atomic) and the final model.spk.
 * `--resume` continues a killed run from its last checkpoint; from the same seed it ends with
 * the same weights as an uninterrupted run (data order, encoding and dropout draws are
 * numbered by epoch and step). */
#include "cli.h"
#include "core/core.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define EVAL_DRAW_BASE ((uint64_t)1 << 62) /* draws of the test-set encodings */

static int mkdir_p(const char *path) {
    char buf[SPK_PATH_MAX];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; *p; p++)
        if (*p == '/') {
            *p = '\0';
            if (mkdir(buf, 0777) != 0 && errno != EEXIST) return -1;
            *p = '/';
        }
    return mkdir(buf, 0777) != 0 && errno != EEXIST ? -1 : 0;
}

/* Write a text file atomically. */
int cli_write_text_atomic(const char *path, const char *text) { return spk__write_atomic(path, text, strlen(text)) ? -1 : 0; }

/* The name of the first node whose signals hold a NaN or Inf (schedule order is node order
 * for sequential experiments), or NULL. */
static const char *find_nonfinite(spk_net *net, int T, int B) {
    for (int v = 0; v < spk_net_node_count(net); v++) {
        int dims[SPK_MAX_DIMS], nd = spk_net_node_shape(net, v, dims);
        size_t n = (size_t)T * B;
        for (int k = 0; k < nd; k++) n *= (size_t)dims[k];
        for (int sig = 0; sig < SPK_SIGNAL_COUNT; sig++) {
            const float *a = spk_net_signal(net, v, (spk_signal)sig);
            for (size_t i = 0; a && i < n; i++)
                if (!isfinite(a[i])) return spk_net_node_name(net, v);
        }
    }
    return NULL;
}

/* total spikes of every neuron population in the last forward */
static double count_spikes(spk_net *net, int T, int B) {
    double s = 0;
    for (int v = 0; v < spk_net_node_count(net); v++) {
        if (spk_net_node_kind(net, v) != SPK_NODE_NEURON) continue;
        size_t n = (size_t)T * B * (size_t)spk_neuron_size(spk_net_neuron(net, v));
        const float *a = spk_net_signal(net, v, SPK_SIGNAL_OUT);
        for (size_t i = 0; i < n; i++) s += a[i];
    }
    return s;
}

int cli_encode(const spk_experiment *e, const spk_dataset *d, const int32_t *idx, int B, float *x, uint64_t draw, int train,
               int one) {
    if (one) return spk_experiment_encode_one_step(e, d, idx, B, x, draw, train) != SPK_OK;
    return (train ? spk_experiment_encode_train_batch(e, d, idx, B, x, draw) : spk_experiment_encode_batch(e, d, idx, B, x, draw)) != SPK_OK;
}

int cli_evaluate(const spk_experiment *e, spk_trainer *tr, spk_net *net, const spk_dataset *d, int T, size_t in_size, double *loss,
                 double *acc, double *spikes_per_sample) {
    int B = e->batch_size;
    float *x = malloc(sizeof(float) * (size_t)T * B * in_size);
    int32_t *idx = malloc(sizeof(int32_t) * B), *lab = malloc(sizeof(int32_t) * B);
    int rc = -1;
    if (!x || !idx || !lab) {
        cli_error("out of memory for an evaluation batch");
        goto out;
    }
    double lsum = 0, spikes = 0;
    long correct = 0;
    int nb = (d->n + B - 1) / B;
    /* an input the same at every step is encoded and given once */
    const int one = spk_experiment_static_input(e, d);
    spk_net_set_static_input(net, one);
    for (int bi = 0; bi < nb; bi++) {
        int Bc = d->n - bi * B < B ? d->n - bi * B : B;
        for (int b = 0; b < Bc; b++) {
            idx[b] = bi * B + b;
            lab[b] = d->y[idx[b]];
        }
        if (cli_encode(e, d, idx, Bc, x, EVAL_DRAW_BASE + (uint64_t)bi, 0, one)) {
            cli_error("%s", spk_errmsg(NULL));
            goto out;
        }
        double l;
        int ok;
        if (spk_trainer_eval(tr, T, Bc, x, lab, &l, &ok, NULL)) {
            cli_error("evaluation: %s", spk_errmsg(tr));
            goto out;
        }
        lsum += l * Bc;
        correct += ok;
        spikes += count_spikes(net, T, Bc);
    }
    *loss = lsum / d->n;
    *acc = (double)correct / d->n;
    *spikes_per_sample = spikes / d->n;
    rc = 0;
out:
    spk_net_set_static_input(net, 0);
    free(x);
    free(idx);
    free(lab);
    return rc;
}

/* Keep the rows of metrics.csv up to `epochs` (after a resume), or start it. */
static int reset_metrics(const char *path, long epochs) {
    char *keep = malloc(1 << 20);
    if (!keep) return -1;
    size_t len = (size_t)snprintf(keep, 1 << 20, "epoch,loss,train_acc,test_acc,spikes_per_sample,seconds\n");
    FILE *f = epochs > 0 ? fopen(path, "r") : NULL;
    if (f) {
        char line[512];
        int first = 1;
        while (fgets(line, sizeof line, f)) {
            if (first) { first = 0; continue; }
            long ep = atol(line);
            if (ep >= 1 && ep <= epochs && len + strlen(line) < (1 << 20) - 1) {
                memcpy(keep + len, line, strlen(line) + 1);
                len += strlen(line);
            }
        }
        fclose(f);
    }
    int rc = cli_write_text_atomic(path, keep);
    free(keep);
    return rc;
}

int cmd_train(int argc, char **argv) {
    const char *file = NULL, *out_dir = NULL;
    long epochs = -1, train_limit = -1, seed = -1;
    int resume = 0, quiet = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help")) {
            printf("usage: spk train FILE.yaml [-o RUN_DIR] [--epochs N] [--seed S] [--threads N] [--train-samples N] [--resume] [--quiet]\n"
                   "Trains the experiment FILE.yaml describes (docs/experiment.md). The run folder (default runs/NAME)\n"
                   "gets experiment.yaml (resolved), metrics.csv, checkpoints/last.spk and model.spk.\n"
                   "--resume continues from checkpoints/last.spk of the run folder.\n");
            return 0;
        } else if (!strcmp(a, "-o")) {
            if (!v) { cli_error("-o needs a folder"); return 2; }
            out_dir = v;
            i++;
        } else if (!strcmp(a, "--epochs")) {
            if (cli_int("--epochs", v, 1, 1000000, &epochs)) return 2;
            i++;
        } else if (!strcmp(a, "--seed")) {
            if (cli_int("--seed", v, 0, 0x7fffffffL, &seed)) return 2;
            i++;
        } else if (!strcmp(a, "--train-samples")) {
            if (cli_int("--train-samples", v, 1, 100000000, &train_limit)) return 2;
            i++;
        } else if (!strcmp(a, "--threads")) {
            long nt;
            if (cli_int("--threads", v, 1, 1024, &nt)) return 2;
            spk_set_threads((int)nt);
            i++;
        } else if (!strcmp(a, "--resume")) {
            resume = 1;
        } else if (!strcmp(a, "--quiet")) {
            quiet = 1;
        } else if (a[0] == '-') {
            cli_error("train: unknown option '%s' (see 'spk train --help')", a);
            return 2;
        } else if (!file) {
            file = a;
        } else {
            cli_error("train: more than one experiment file given ('%s' and '%s')", file, a);
            return 2;
        }
    }
    if (!file) {
        cli_error("train: no experiment file given (see 'spk train --help')");
        return 2;
    }
    /* everything the run holds, freed at `out` on every path (errors included) */
    int rc = 1;
    spk_experiment *e = NULL;
    spk_dataset train = {0}, test = {0};
    spk_net *net = NULL;
    float *opt_state = NULL;
    spk_trainer *tr = NULL;
    char *yaml = NULL;
    float *x = NULL;
    int32_t *perm = NULL, *lab = NULL;
    spk_progress *pg = NULL;
    if (spk_experiment_load(&e, file)) {
        cli_error("%s", spk_errmsg(NULL));
        goto out;
    }
    if (epochs > 0) e->epochs = (int)epochs;
    if (seed >= 0) e->seed = (uint64_t)seed;
    if (train_limit > 0) e->train_samples = (int)train_limit;
    char run[SPK_PATH_MAX], path[SPK_PATH_MAX + 64];
    if (out_dir) snprintf(run, sizeof run, "%s", out_dir);
    else {
        const char *base = strrchr(file, '/') ? strrchr(file, '/') + 1 : file;
        snprintf(run, sizeof run, "runs/%.*s", (int)(strcspn(base, ".")), base);
    }

    if (spk_experiment_load_data(e, &train, &test)) {
        cli_error("%s", spk_errmsg(NULL));
        goto out;
    }
    int dims[SPK_MAX_DIMS], T, nd = spk_experiment_input_shape(e, &train, dims, &T);
    if (!nd) {
        cli_error("%s", spk_errmsg(NULL));
        goto out;
    }
    size_t in_size = 1;
    for (int k = 0; k < nd; k++) in_size *= (size_t)dims[k];

    int readout;
    spk_train_state ts = {0, 0, 0};
    size_t opt_n = 0;
    snprintf(path, sizeof path, "%s/checkpoints/last.spk", run);
    if (resume) {
        spk_experiment *ce;
        int cnd, cdims[SPK_MAX_DIMS];
        if (access(path, R_OK) != 0) {
            cli_error("--resume: no checkpoint at %s", path);
            goto out;
        }
        if (spk_model_load(path, &ce, &net, &readout, &cnd, cdims, &ts, &opt_state, &opt_n)) {
            cli_error("--resume: %s", spk_errmsg(NULL));
            goto out;
        }
        if (cnd != nd || memcmp(cdims, dims, sizeof(int) * (size_t)nd)) {
            cli_error("--resume: the checkpoint's input shape differs from the data's");
            spk_experiment_free(ce);
            goto out;
        }
        ce->epochs = e->epochs; /* the run may be extended */
        spk_experiment_free(e);
        e = ce;
    } else if (spk_experiment_build_net(e, nd, dims, &net, &readout)) {
        cli_error("%s", spk_errmsg(NULL));
        goto out;
    }
    int C = 0;
    {
        int od[SPK_MAX_DIMS];
        spk_net_node_shape(net, readout, od);
        C = od[0];
        if (C < train.n_classes) {
            cli_error("%s: the readout '%s' has %d neurons but the data has %d classes", file, spk_net_node_name(net, readout), C,
                      train.n_classes);
            goto out;
        }
    }
    int B = e->batch_size;
    int nb = (train.n + B - 1) / B;
    if (ts.batch > nb) {
        cli_error("--resume: the checkpoint is at batch %lld of an epoch of %d batches: it is not from this experiment's data",
                  (long long)ts.batch, nb);
        goto out;
    }
    spk_train_config tc = e->train;
    tc.output = readout;
    if (tc.sched.total_steps <= 0) tc.sched.total_steps = e->epochs * nb - tc.sched.warmup_steps > 0 ? e->epochs * nb - tc.sched.warmup_steps : 1;
    if (spk_trainer_create(&tr, net, &tc)) {
        cli_error("%s", spk_errmsg(NULL));
        goto out;
    }
    if (opt_state) {
        size_t n;
        float *st = spk_optim_state(spk_trainer_optim(tr), &n);
        if (n != opt_n) {
            cli_error("--resume: the checkpoint's optimizer state has %zu values, expected %zu", opt_n, n);
            goto out;
        }
        memcpy(st, opt_state, n * sizeof(float));
        spk_free(opt_state);
        opt_state = NULL;
        spk_trainer_set_steps(tr, (long)ts.step);
    }
    if (mkdir_p(run) || (snprintf(path, sizeof path, "%s/checkpoints", run), mkdir_p(path))) {
        cli_error("cannot create the run folder %s: %s", run, strerror(errno));
        goto out;
    }
    yaml = spk_experiment_to_yaml(e);
    snprintf(path, sizeof path, "%s/experiment.yaml", run);
    if (!yaml || cli_write_text_atomic(path, yaml)) {
        cli_error("cannot write %s", path);
        goto out;
    }
    spk_free(yaml);
    yaml = NULL;
    char metrics[SPK_PATH_MAX + 64], last[SPK_PATH_MAX + 64], model[SPK_PATH_MAX + 64];
    snprintf(metrics, sizeof metrics, "%s/metrics.csv", run);
    snprintf(last, sizeof last, "%s/checkpoints/last.spk", run);
    snprintf(model, sizeof model, "%s/model.spk", run);
    if (reset_metrics(metrics, (long)ts.epoch)) {
        cli_error("cannot write %s", metrics);
        goto out;
    }
    size_t np;
    spk_net_params(net, &np);
    if (!quiet)
        printf("spk train %s: %s, %d train / %d test samples, T=%d, input %zu values, %zu parameters, %d epochs of %d batches of %d -> %s\n",
               file, e->dataset, train.n, test.n, T, in_size, np, e->epochs, nb, B, run);
    if (resume && !quiet) printf("resuming after epoch %lld, batch %lld (step %lld)\n", (long long)ts.epoch, (long long)ts.batch, (long long)ts.step);
    fflush(stdout); /* seen in a log even if the run is killed */

    x = malloc(sizeof(float) * (size_t)T * B * in_size);
    perm = malloc(sizeof(int32_t) * (size_t)train.n);
    lab = malloc(sizeof(int32_t) * B);
    if (!x || !perm || !lab) {
        cli_error("out of memory for a batch (%zu MB)", sizeof(float) * (size_t)T * B * in_size >> 20);
        goto out;
    }
    double test_acc = 0;
    /* an input the same at every step is encoded and given once (to BPTT, whose step runs
     * spk_net_forward; e-prop and FPTT read every step of x) */
    const int one = spk_experiment_static_input(e, &train) && (e->train.method == SPK_TRAIN_BPTT || e->train.method == SPK_TRAIN_TBPTT);
    for (int ep = (int)ts.epoch; ep < e->epochs; ep++) {
        spk_rng_permutation((spk_rng){e->seed, 0x5eed}, (uint64_t)ep, perm, train.n);
        pg = NULL;
        char title[64];
        snprintf(title, sizeof title, "epoch %d/%d", ep + 1, e->epochs);
        if (!quiet) spk_progress_begin(&pg, stderr, title, (uint64_t)nb, 10.0);
        double t0 = cli_now(), lsum = 0;
        long correct = 0, seen = 0;
        int b0 = ep == ts.epoch ? (int)ts.batch : 0;
        for (int bi = b0; bi < nb; bi++) {
            int Bc = train.n - bi * B < B ? train.n - bi * B : B;
            for (int b = 0; b < Bc; b++) lab[b] = train.y[perm[bi * B + b]];
            long step = spk_trainer_steps(tr);
            if (cli_encode(e, &train, perm + (size_t)bi * B, Bc, x, (uint64_t)step, 1, one)) {
                cli_error("%s", spk_errmsg(NULL));
                goto out;
            }
            double l;
            int ok;
            spk_net_set_static_input(net, one);
            spk_status st = spk_trainer_step(tr, T, Bc, x, lab, &l, &ok);
            spk_net_set_static_input(net, 0);
            if (st == SPK_ERR_NUMERIC) {
                const char *where = find_nonfinite(net, T, Bc);
                if (pg) spk_progress_end(pg);
                pg = NULL;
                cli_error("training stopped at epoch %d, batch %d (step %ld): %s%s%s; the last good checkpoint %s is kept", ep + 1,
                          bi + 1, step, spk_errmsg(tr), where ? "; first non-finite values in layer " : " (the activations are finite: the gradients are not)",
                          where ? where : "", last);
                goto out;
            } else if (st) {
                cli_error("%s", spk_errmsg(tr));
                goto out;
            }
            lsum += l * Bc;
            correct += ok;
            seen += Bc;
            if (pg) {
                char note[64];
                snprintf(note, sizeof note, "loss %.4f acc %.2f%%", lsum / seen, 100.0 * correct / seen);
                spk_progress_update(pg, (uint64_t)(bi + 1), note);
            }
            if (e->checkpoint_every > 0 && (bi + 1) % e->checkpoint_every == 0 && bi + 1 < nb) {
                spk_train_state s = {ep, bi + 1, spk_trainer_steps(tr)};
                if (spk_model_save(last, e, nd, dims, net, spk_trainer_optim(tr), &s)) {
                    cli_error("%s", spk_errmsg(NULL));
                    goto out;
                }
            }
        }
        if (pg) spk_progress_end(pg);
        pg = NULL;
        double tl, ts_acc, sps;
        if (cli_evaluate(e, tr, net, &test, T, in_size, &tl, &ts_acc, &sps)) goto out;
        double secs = cli_now() - t0;
        test_acc = ts_acc;
        double tr_loss = seen ? lsum / seen : 0, tr_acc = seen ? (double)correct / seen : 0;
        if (!quiet)
            printf("epoch %3d/%d  loss %.4f  train %6.2f%%  test %6.2f%%  spikes/sample %.1f  %.1f s\n", ep + 1, e->epochs, tr_loss,
                   100 * tr_acc, 100 * ts_acc, sps, secs);
        fflush(stdout);
        FILE *mf = fopen(metrics, "a");
        if (!mf || fprintf(mf, "%d,%.6f,%.6f,%.6f,%.3f,%.3f\n", ep + 1, tr_loss, tr_acc, ts_acc, sps, secs) < 0 || fclose(mf)) {
            cli_error("cannot append to %s", metrics);
            goto out;
        }
        spk_train_state s = {ep + 1, 0, spk_trainer_steps(tr)};
        if (spk_model_save(last, e, nd, dims, net, spk_trainer_optim(tr), &s) || spk_model_save(model, e, nd, dims, net, NULL, NULL)) {
            cli_error("%s", spk_errmsg(NULL));
            goto out;
        }
    }
    if (ts.epoch >= e->epochs) { /* resumed a finished run: report what it has */
        double tl, sps;
        if (cli_evaluate(e, tr, net, &test, T, in_size, &tl, &test_acc, &sps)) goto out;
        /* always rewritten: a kill between the last checkpoint and model.spk leaves the
         * previous epoch's model.spk behind */
        if (spk_model_save(model, e, nd, dims, net, NULL, NULL)) {
            cli_error("%s", spk_errmsg(NULL));
            goto out;
        }
    }
    printf("test accuracy %.2f%% (%s, %d epochs); model: %s\n", 100 * test_acc, file, e->epochs, model);
    rc = 0;
out:
    if (pg) spk_progress_end(pg);
    free(x);
    free(perm);
    free(lab);
    spk_free(yaml);
    spk_free(opt_state);
    spk_trainer_free(tr);
    spk_net_free(net);
    spk_dataset_free(&train);
    spk_dataset_free(&test);
    spk_experiment_free(e);
    return rc;
}
