/* cmd_model.c — commands on a saved model (model.spk):
 *   spk info MODEL                       nodes, shapes, neurons, synapses, parameters
 *   spk eval MODEL [--data test|train]   loss and accuracy on the experiment's data
 *   spk run MODEL --input X.npy --output Y.npy [--record FILE.h5]
 *                                        run an input [T, B, features] and write the readout's
 *                                        spikes [T, B, N]; --record writes every population's
 *                                        spikes and membranes to HDF5;
 *                                        --engine event [--stats] runs it event-driven and
 *                                        prints the operation counts (run_event.c) */
#include "cli.h"

#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct loaded {
    spk_experiment *e;
    spk_net *net;
    int readout, nd, dims[SPK_MAX_DIMS];
} loaded;

static int load_model(const char *path, loaded *m) {
    if (spk_model_load(path, &m->e, &m->net, &m->readout, &m->nd, m->dims, NULL, NULL, NULL)) {
        cli_error("%s", spk_errmsg(NULL));
        return -1;
    }
    return 0;
}

static void free_model(loaded *m) {
    spk_net_free(m->net);
    spk_experiment_free(m->e);
}

static const char *shape_text(char *buf, size_t n, int nd, const int *dims) {
    size_t k = (size_t)snprintf(buf, n, "[");
    for (int i = 0; i < nd && k < n; i++) k += (size_t)snprintf(buf + k, n - k, i ? ", %d" : "%d", dims[i]);
    if (k < n) snprintf(buf + k, n - k, "]");
    return buf;
}

int cmd_info(int argc, char **argv) {
    if (cli_nir_positional(argc, argv)) return cmd_nir_info(argc, argv);
    if (argc < 2 || !strcmp(argv[1], "--help")) {
        printf("usage: spk info MODEL\nPrints the model's nodes, shapes, neurons, synapses and parameters.\n");
        return argc < 2 ? 2 : 0;
    }
    loaded m;
    if (load_model(argv[1], &m)) return 1;
    spk_net *net = m.net;
    long neurons = 0, synapses = 0, nonlocal = 0;
    size_t params = 0;
    char s[96];
    printf("%s (from %s): input %s\n", argv[1], m.e->source, shape_text(s, sizeof s, m.nd, m.dims));
    printf("  %-20s %-8s %-16s %12s %12s %s\n", "node", "kind", "output", "parameters", "synapses", "");
    for (int v = 0; v < spk_net_node_count(net); v++) {
        int dims[SPK_MAX_DIMS], nd = spk_net_node_shape(net, v, dims);
        long out = 1;
        for (int k = 0; k < nd; k++) out *= dims[k];
        size_t pw = 0, pb = 0, ps = 0;
        spk_net_param(net, v, "weight", &pw);
        spk_net_param(net, v, "bias", &pb);
        spk_net_param(net, v, "scale", &ps);
        long syn = 0;
        spk_node_kind kind = spk_net_node_kind(net, v);
        if (kind == SPK_NODE_DENSE) syn = (long)pw;
        if (kind == SPK_NODE_CONV) { /* each weight is used once per output position */
            long pos = nd == 3 ? (long)dims[1] * dims[2] : dims[1];
            syn = (long)pw * pos;
        }
        const char *note = "";
        const spk_reversible_config *rc = spk_net_reversible_config(net, v);
        if (rc) { /* 2L ops of h x h (x taps) weights, each used once per output position */
            long pos = rc->op == SPK_REV_CONV ? out / dims[0] : 1;
            syn = (long)pw * pos;
            neurons += (long)rc->blocks * out;
            snprintf(s, sizeof s, "%d blocks, %s %s/%s", rc->blocks, spk_neuron_kind_name(rc->neuron.kind), spk_reset_kind_name(rc->neuron.reset),
                     spk_reset_timing_name(rc->neuron.timing));
            note = s;
        }
        if (kind == SPK_NODE_NEURON) {
            neurons += out;
            const spk_neuron_config *c = spk_neuron_get_config(spk_net_neuron(net, v));
            snprintf(s, sizeof s, "%s %s/%s", spk_neuron_kind_name(c->kind), spk_reset_kind_name(c->reset), spk_reset_timing_name(c->timing));
            note = s;
        }
        if (kind == SPK_NODE_ATTENTION) { /* no synapses: products of two signals */
            spk_attention_kind ak;
            int heads;
            float sc;
            spk_net_attention_info(net, v, &ak, &heads, &sc);
            snprintf(s, sizeof s, "%s, %d heads, scale %g (q k^T v: not synaptic)", spk_attention_kind_name(ak), heads, (double)sc);
            note = s;
        }
        if (kind == SPK_NODE_MERGE) {
            snprintf(s, sizeof s, "%s", spk_merge_op_name(spk_net_merge_op(net, v)));
            note = s;
        }
        if (spk_node_kind_nonlocal(kind, 1)) { /* SPEC.md §4: flag ops a chip cannot run */
            snprintf(s, sizeof s, "NON-LOCAL in training (batch statistics)%s", kind == SPK_NODE_NORM ? "; fold it: spk fold" : "");
            note = s;
            nonlocal++;
        }
        synapses += syn;
        params += pw + pb + ps;
        char sh[64];
        printf("  %-20s %-8s %-16s %12zu %12ld %s%s\n", spk_net_node_name(net, v), spk_node_kind_name(kind), shape_text(sh, sizeof sh, nd, dims),
               pw + pb + ps, syn, spk_net_node_is_recurrent(net, v) ? "(recurrent) " : "", note);
    }
    size_t learn;
    spk_net_params(net, &learn);
    printf("neurons %ld, synapses %ld, weights and biases %zu, learnable values %zu\n", neurons, synapses, params, learn);
    if (nonlocal || m.e->hardware_safe)
        printf("hardware-safe: %s; non-local nodes: %ld%s\n", m.e->hardware_safe ? "yes" : "no", nonlocal,
               nonlocal ? " (they need batch statistics: not for a chip as they are)" : "");
    free_model(&m);
    return 0;
}

int cli_evaluate(const spk_experiment *e, spk_trainer *tr, spk_net *net, const spk_dataset *d, int T, size_t in_size, double *loss,
                 double *acc, double *spikes_per_sample);

int cmd_eval(int argc, char **argv) {
    const char *file = NULL, *which = "test";
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help")) {
            printf("usage: spk eval MODEL [--data test|train]\nLoss, accuracy and spikes per sample on the model's own experiment data.\n");
            return 0;
        } else if (!strcmp(argv[i], "--data")) {
            which = i + 1 < argc ? argv[++i] : "";
            if (strcmp(which, "test") && strcmp(which, "train")) {
                cli_error("eval: --data must be 'test' or 'train'");
                return 2;
            }
        } else if (!file && argv[i][0] != '-') {
            file = argv[i];
        } else {
            cli_error("eval: unexpected argument '%s'", argv[i]);
            return 2;
        }
    }
    if (!file) {
        cli_error("eval: no model given (see 'spk eval --help')");
        return 2;
    }
    loaded m;
    if (load_model(file, &m)) return 1;
    spk_dataset train, test;
    if (spk_experiment_load_data(m.e, &train, &test)) {
        cli_error("%s", spk_errmsg(NULL));
        return 1;
    }
    const spk_dataset *d = !strcmp(which, "test") ? &test : &train;
    int dims[SPK_MAX_DIMS], T, nd = spk_experiment_input_shape(m.e, d, dims, &T);
    if (!nd || nd != m.nd || memcmp(dims, m.dims, sizeof(int) * (size_t)nd)) {
        cli_error("eval: the data's input shape does not match the model's");
        return 1;
    }
    size_t in_size = 1;
    for (int k = 0; k < nd; k++) in_size *= (size_t)dims[k];
    spk_train_config tc = m.e->train;
    tc.output = m.readout;
    tc.sched.kind = SPK_SCHED_CONST; /* evaluation takes no optimizer step */
    spk_trainer *tr;
    if (spk_trainer_create(&tr, m.net, &tc)) {
        cli_error("%s", spk_errmsg(NULL));
        return 1;
    }
    double loss, acc, sps, t0 = cli_now();
    if (cli_evaluate(m.e, tr, m.net, d, T, in_size, &loss, &acc, &sps)) return 1;
    printf("%s on %s (%d samples): loss %.4f  accuracy %.2f%%  spikes/sample %.1f  %.1f s\n", file, which, d->n, loss, 100 * acc, sps,
           cli_now() - t0);
    spk_trainer_free(tr);
    spk_dataset_free(&train);
    spk_dataset_free(&test);
    free_model(&m);
    return 0;
}

/* Write every neuron population's spikes and membranes of the last forward to HDF5. */
static int record_h5(const char *path, spk_net *net, int T, int B) {
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    char tmp[SPK_PATH_MAX + 32];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    hid_t f = H5Fcreate(tmp, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    if (f < 0) {
        cli_error("--record: cannot create %s", tmp);
        return -1;
    }
    int ok = 1;
    for (int v = 0; v < spk_net_node_count(net) && ok; v++) {
        if (spk_net_node_kind(net, v) != SPK_NODE_NEURON) continue;
        int dims[SPK_MAX_DIMS], nd = spk_net_node_shape(net, v, dims);
        hsize_t hd[2 + SPK_MAX_DIMS] = {(hsize_t)T, (hsize_t)B};
        for (int k = 0; k < nd; k++) hd[2 + k] = (hsize_t)dims[k];
        hid_t g = H5Gcreate2(f, spk_net_node_name(net, v), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        const char *names[2] = {"spk", "mem"};
        for (int sig = 0; sig < 2 && g >= 0; sig++) {
            hid_t sp = H5Screate_simple(2 + nd, hd, NULL);
            hid_t ds = H5Dcreate2(g, names[sig], H5T_IEEE_F32LE, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
            ok &= ds >= 0 && H5Dwrite(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, spk_net_signal(net, v, (spk_signal)sig)) >= 0;
            if (ds >= 0) H5Dclose(ds);
            H5Sclose(sp);
        }
        ok &= g >= 0;
        if (g >= 0) H5Gclose(g);
    }
    ok &= H5Fclose(f) >= 0;
    if (!ok || rename(tmp, path) != 0) {
        remove(tmp);
        cli_error("--record: writing %s failed", path);
        return -1;
    }
    return 0;
}

int cmd_run(int argc, char **argv) {
    if (cli_nir_positional(argc, argv)) return cmd_nir_run(argc, argv);
    const char *file = NULL, *in = NULL, *out = NULL, *rec = NULL, *engine = "clock";
    int stats = 0, check = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help")) {
            printf("usage: spk run MODEL --input X.npy --output Y.npy [--record all|FILE.h5] [--engine clock|event [--stats] [--check]]\n"
                   "X: float32 [T, B, features...] fed to the input as it is (no encoding); Y: the readout's spikes [T, B, N].\n"
                   "--record: every population's spikes and membranes, one group per population, to FILE.h5\n"
                   "or, with 'all', to Y.h5 beside the output.\n"
                   "--engine event: run sample by sample on the event-driven engine (docs/engine.md); --stats\n"
                   "prints its counts per node and in total: spikes, synaptic operations, neuron updates, dense MACs;\n"
                   "--check also runs the clock-driven engine and compares every population's spikes (exit 1 if any differ).\n");
            return 0;
        } else if (!strcmp(a, "--input") && v) {
            in = v;
            i++;
        } else if (!strcmp(a, "--output") && v) {
            out = v;
            i++;
        } else if (!strcmp(a, "--record") && v) {
            rec = v;
            i++;
        } else if (!strcmp(a, "--engine") && v) {
            engine = v;
            i++;
        } else if (!strcmp(a, "--stats")) {
            stats = 1;
        } else if (!strcmp(a, "--check")) {
            check = 1;
        } else if (!file && a[0] != '-') {
            file = a;
        } else {
            cli_error("run: unexpected argument '%s' (see 'spk run --help')", a);
            return 2;
        }
    }
    if (!file || !in || !out) {
        cli_error("run: need MODEL, --input and --output (see 'spk run --help')");
        return 2;
    }
    int event = !strcmp(engine, "event");
    if ((!event && strcmp(engine, "clock")) || ((stats || check) && !event) || (rec && event)) {
        cli_error("run: %s", (stats || check) && !event ? "--stats and --check need --engine event"
                             : rec && event  ? "--record needs the clock engine"
                                             : "--engine must be 'clock' or 'event'");
        return 2;
    }
    loaded m;
    if (load_model(file, &m)) return 1;
    int rc = 1;
    float *x = NULL, *ev_y = NULL;
    int xnd;
    size_t xd[8];
    if (spk_npy_read(in, &x, &xnd, xd)) {
        cli_error("%s", spk_errmsg(NULL));
        goto out;
    }
    size_t feat = 1, want = 1;
    for (int k = 2; k < xnd; k++) feat *= xd[k];
    for (int k = 0; k < m.nd; k++) want *= (size_t)m.dims[k];
    char s1[64];
    if (xnd < 3 || feat != want || xd[0] < 1 || xd[1] < 1 || xd[0] > 1000000000 || xd[1] > 1000000000) {
        cli_error("run: %s has shape with %d dimensions; the model takes [T, B, %s] (%zu values per step and sample)", in, xnd,
                  shape_text(s1, sizeof s1, m.nd, m.dims) + 1, want);
        goto out;
    }
    int T = (int)xd[0], B = (int)xd[1];
    if (event) {
        int od[SPK_MAX_DIMS], ond = spk_net_node_shape(m.net, m.readout, od);
        size_t N = 1;
        for (int k = 0; k < ond; k++) N *= (size_t)od[k];
        ev_y = malloc(sizeof(float) * (size_t)T * B * N);
        if (!ev_y || cli_run_event(m.net, m.readout, T, B, feat, x, ev_y, stats, check)) goto out;
    } else if (spk_net_forward(m.net, T, B, x)) {
        cli_error("run: %s", spk_errmsg(m.net));
        goto out;
    }
    int od[SPK_MAX_DIMS], ond = spk_net_node_shape(m.net, m.readout, od);
    size_t ydims[2 + SPK_MAX_DIMS] = {(size_t)T, (size_t)B};
    for (int k = 0; k < ond; k++) ydims[2 + k] = (size_t)od[k];
    if (spk_npy_write(out, event ? ev_y : spk_net_signal(m.net, m.readout, SPK_SIGNAL_OUT), 2 + ond, ydims)) {
        cli_error("%s", spk_errmsg(NULL));
        goto out;
    }
    char recpath[SPK_PATH_MAX + 8];
    if (rec && !strcmp(rec, "all")) { /* --record all: beside the output, as .h5 */
        size_t L = strlen(out);
        snprintf(recpath, sizeof recpath, "%.*s.h5", (int)(L > 4 && !strcmp(out + L - 4, ".npy") ? L - 4 : L), out);
        rec = recpath;
    }
    if (rec && record_h5(rec, m.net, T, B)) goto out;
    printf("%s: ran %d steps x %d samples%s; readout spikes [%d, %d, %d] -> %s%s%s\n", file, T, B, event ? " event-driven" : "", T, B, od[0], out, rec ? "; record -> " : "",
           rec ? rec : "");
    rc = 0;
out:
    free(ev_y);
    spk_free(x);
    free_model(&m);
    return rc;
}
