/* cmd_nir.c — NIR files on the command line (docs/nir.md):
 *   spk run X.nir --input X.npy --output Y.npy [--dt S] [--method euler|exp]
 *                                   run the graph on [T, B, features] float32, write the
 *                                   Output's values [T, B, outputs] (spikes for a spiking output)
 *   spk info X.nir [--dt S] [--method M]   version, nodes, shapes
 *   spk import X.nir -o MODEL [--dt S] [--method M]   a model file that embeds the graph
 *   spk export MODEL --to nir -o X.nir [--dt S] [--method M]
 * `spk run` and `spk info` come here when their file is a NIR file (.nir or HDF5 magic). */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cli_is_nir(const char *path) {
    size_t L = path ? strlen(path) : 0;
    if (L > 4 && !strcmp(path + L - 4, ".nir")) return 1;
    FILE *f = path ? fopen(path, "rb") : NULL;
    if (!f) return 0;
    unsigned char sig[8] = {0};
    size_t got = fread(sig, 1, 8, f);
    fclose(f);
    static const unsigned char magic[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};
    return got == 8 && !memcmp(sig, magic, 8);
}

int cli_nir_positional(int argc, char **argv) {
    static const char *const valued[] = {"--input", "--output", "-o", "--record", "--engine", "--dt", "--method", "--to", "--data", NULL};
    for (int i = 1; i < argc; i++) {
        int takes = 0;
        for (int k = 0; valued[k]; k++) takes |= !strcmp(argv[i], valued[k]);
        if (takes) {
            i++;
            continue;
        }
        if (argv[i][0] != '-') return cli_is_nir(argv[i]);
    }
    return 0;
}

typedef struct nir_args {
    const char *file, *in, *out, *to;
    spk_nir_options opt;
} nir_args;

/* Parse the options the NIR commands share; returns 0, or 2 after printing the error. */
static int parse(const char *cmd, int argc, char **argv, nir_args *a) {
    memset(a, 0, sizeof *a);
    a->opt = spk_nir_options_default();
    for (int i = 1; i < argc; i++) {
        const char *s = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(s, "--dt")) {
            double dt;
            if (cli_float("--dt", v, &dt)) return 2;
            if (!(dt > 0)) {
                cli_error("--dt: %g must be a positive number of seconds", dt);
                return 2;
            }
            a->opt.dt = dt;
            i++;
        } else if (!strcmp(s, "--method")) {
            int m = v ? spk_nir_method_from_name(v) : -1;
            if (m < 0) {
                cli_error("--method: '%s' is not euler or exp", v ? v : "");
                return 2;
            }
            a->opt.method = (spk_nir_method)m;
            i++;
        } else if (!strcmp(s, "--input") && v) {
            a->in = argv[++i];
        } else if ((!strcmp(s, "--output") || !strcmp(s, "-o")) && v) {
            a->out = argv[++i];
        } else if (!strcmp(s, "--to") && v) {
            a->to = argv[++i];
        } else if (!a->file && s[0] != '-') {
            a->file = s;
        } else {
            cli_error("%s: unexpected argument '%s' (see 'spk %s --help')", cmd, s, cmd);
            return 2;
        }
    }
    return 0;
}

static int wants_help(int argc, char **argv) {
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--help")) return 1;
    return 0;
}

static const char *shape_str(char *buf, size_t n, int nd, const int *d) {
    size_t k = (size_t)snprintf(buf, n, "[");
    for (int i = 0; i < nd && k < n; i++) k += (size_t)snprintf(buf + k, n - k, i ? ", %d" : "%d", d[i]);
    if (k < n) snprintf(buf + k, n - k, "]");
    return buf;
}

#define DT_HELP "  --dt S          the time step in seconds (default 1e-4, snnTorch's export step)\n" \
                "  --method M      euler (default) or exp: how NIR's continuous-time neurons are discretized\n"

int cmd_nir_run(int argc, char **argv) {
    if (wants_help(argc, argv)) {
        printf("usage: spk run X.nir --input X.npy --output Y.npy [--dt S] [--method euler|exp]\n"
               "Runs a NIR graph: X float32 [T, B, features...], Y float32 [T, B, outputs...] (the values\n"
               "reaching the graph's Output: spikes when a spiking population feeds it).\n" DT_HELP);
        return 0;
    }
    nir_args a;
    if (parse("run", argc, argv, &a)) return 2;
    if (!a.file || !a.in || !a.out) {
        cli_error("run: need X.nir, --input and --output (see 'spk run X.nir --help')");
        return 2;
    }
    spk_nir_graph g;
    if (spk_nir_read(a.file, &a.opt, &g)) {
        cli_error("%s", spk_errmsg(NULL));
        return 1;
    }
    float *x = NULL;
    int xnd, rc = 1;
    size_t xd[8];
    if (spk_npy_read(a.in, &x, &xnd, xd)) {
        cli_error("%s", spk_errmsg(NULL));
        goto out;
    }
    int d[SPK_MAX_DIMS], nd = spk_net_node_shape(g.net, g.input, d);
    size_t feat = 1, want = 1;
    for (int k = 2; k < xnd; k++) feat *= xd[k];
    for (int k = 0; k < nd; k++) want *= (size_t)d[k];
    char s1[64];
    if (xnd < 3 || feat != want || xd[0] < 1 || xd[1] < 1 || xd[0] > 0x7fffffff || xd[1] > 0x7fffffff) {
        cli_error("run: %s has %d dimensions and %zu values per step and sample; the graph takes [T, B, %s] (%zu values)", a.in, xnd, feat,
                  shape_str(s1, sizeof s1, nd, d) + 1, want);
        goto out;
    }
    int T = (int)xd[0], B = (int)xd[1];
    if (spk_net_forward(g.net, T, B, x)) {
        cli_error("run: %s", spk_errmsg(g.net));
        goto out;
    }
    int od[SPK_MAX_DIMS], ond = spk_net_node_shape(g.net, g.output, od);
    size_t yd[2 + SPK_MAX_DIMS] = {(size_t)T, (size_t)B};
    for (int k = 0; k < ond; k++) yd[2 + k] = (size_t)od[k];
    /* a non-spiking population (an LI readout written by spk) delivers its membrane, as NIR's LI */
    spk_neuron *onr = spk_net_neuron(g.net, g.output);
    int mem = onr && spk_neuron_get_config(onr)->fire == SPK_FIRE_NONE;
    if (spk_npy_write(a.out, spk_net_signal(g.net, g.output, mem ? SPK_SIGNAL_MEM : SPK_SIGNAL_OUT), 2 + ond, yd)) {
        cli_error("%s", spk_errmsg(NULL));
        goto out;
    }
    printf("%s: ran %d steps x %d samples (dt %g s, %s); output %s -> %s\n", a.file, T, B, a.opt.dt, spk_nir_method_name(a.opt.method),
           shape_str(s1, sizeof s1, ond, od), a.out);
    rc = 0;
out:
    spk_free(x);
    spk_nir_graph_free(&g);
    return rc;
}

int cmd_nir_info(int argc, char **argv) {
    if (wants_help(argc, argv)) {
        printf("usage: spk info X.nir [--dt S] [--method euler|exp]\nThe file's NIR version and the network spk runs for it.\n" DT_HELP);
        return 0;
    }
    nir_args a;
    if (parse("info", argc, argv, &a)) return 2;
    if (!a.file) {
        cli_error("info: no file given");
        return 2;
    }
    spk_nir_graph g;
    if (spk_nir_read(a.file, &a.opt, &g)) {
        cli_error("%s", spk_errmsg(NULL));
        return 1;
    }
    char s[96], sh[64];
    int d[SPK_MAX_DIMS], nd = spk_net_node_shape(g.net, g.input, d);
    printf("%s: NIR %s, %d NIR nodes -> %d spk nodes; dt %g s, %s; input %s, output '%s'\n", a.file, g.version[0] ? g.version : "(no version)",
           g.n_nir_nodes, spk_net_node_count(g.net), a.opt.dt, spk_nir_method_name(a.opt.method), shape_str(sh, sizeof sh, nd, d),
           spk_net_node_name(g.net, g.output));
    printf("  %-24s %-8s %-16s %s\n", "node", "kind", "output", "");
    for (int v = 0; v < spk_net_node_count(g.net); v++) {
        nd = spk_net_node_shape(g.net, v, d);
        const char *note = "";
        if (spk_net_neuron(g.net, v)) {
            const spk_neuron_config *c = spk_neuron_get_config(spk_net_neuron(g.net, v));
            snprintf(s, sizeof s, "%s %s %s/%s, decay %.6g", spk_neuron_kind_name(c->kind), spk_fire_kind_name(c->fire), spk_reset_kind_name(c->reset),
                     spk_reset_timing_name(c->timing), (double)spk_neuron_get_param(spk_net_neuron(g.net, v), SPK_NP_LAM)[0]);
            note = s;
        }
        printf("  %-24s %-8s %-16s %s%s\n", spk_net_node_name(g.net, v), spk_node_kind_name(spk_net_node_kind(g.net, v)),
               shape_str(sh, sizeof sh, nd, d), spk_net_node_is_recurrent(g.net, v) ? "(recurrent) " : "", note);
    }
    spk_nir_graph_free(&g);
    return 0;
}

int cmd_import(int argc, char **argv) {
    if (argc < 2 || wants_help(argc, argv)) {
        printf("usage: spk import X.nir -o MODEL [--dt S] [--method euler|exp]\n"
               "Writes a model file that embeds the NIR graph (and the discretization), for spk run/info/export.\n" DT_HELP);
        return argc < 2 ? 2 : 0;
    }
    nir_args a;
    if (parse("import", argc, argv, &a)) return 2;
    if (!a.file || !a.out) {
        cli_error("import: need X.nir and -o MODEL");
        return 2;
    }
    spk_nir_graph g;
    if (spk_nir_read(a.file, &a.opt, &g)) { /* checks the file before embedding it */
        cli_error("%s", spk_errmsg(NULL));
        return 1;
    }
    FILE *f = fopen(a.file, "rb");
    long sz = -1;
    if (f && !fseek(f, 0, SEEK_END)) sz = ftell(f);
    unsigned char *data = sz > 0 ? spk_malloc((size_t)sz) : NULL;
    int ok = f && data && !fseek(f, 0, SEEK_SET) && fread(data, 1, (size_t)sz, f) == (size_t)sz;
    if (f) fclose(f);
    spk_experiment *e = NULL;
    int rc = 1;
    if (!ok) {
        cli_error("import: cannot read %s", a.file);
        goto out;
    }
    /* the experiment: defaults, with the graph instead of layers */
    static const char stub[] = "graph: {format: nir, data: iVBO}\n";
    if (spk_experiment_parse(&e, stub, sizeof stub - 1, a.file)) {
        cli_error("%s", spk_errmsg(NULL));
        goto out;
    }
    spk_free(e->nir_data);
    e->nir_data = data;
    e->nir_len = (size_t)sz;
    e->nir_dt = a.opt.dt;
    e->nir_method = (int)a.opt.method;
    data = NULL;
    int d[SPK_MAX_DIMS], nd = spk_net_node_shape(g.net, g.input, d);
    if (spk_model_save(a.out, e, nd, d, g.net, NULL, NULL)) {
        cli_error("%s", spk_errmsg(NULL));
        goto out;
    }
    printf("%s -> %s: %d spk nodes (dt %g s, %s)\n", a.file, a.out, spk_net_node_count(g.net), a.opt.dt, spk_nir_method_name(a.opt.method));
    rc = 0;
out:
    spk_free(data);
    spk_experiment_free(e);
    spk_nir_graph_free(&g);
    return rc;
}

int cmd_export(int argc, char **argv) {
    if (argc < 2 || wants_help(argc, argv)) {
        printf("usage: spk export MODEL --to nir -o X.nir [--dt S] [--method euler|exp]\n"
               "Writes the model's network as a NIR file (docs/nir.md); --dt and --method give the\n"
               "time constants the decays are written as (an imported model keeps its own by default).\n" DT_HELP);
        return argc < 2 ? 2 : 0;
    }
    nir_args a;
    if (parse("export", argc, argv, &a)) return 2;
    int dt_given = 0, m_given = 0;
    for (int i = 1; i < argc; i++) dt_given |= !strcmp(argv[i], "--dt"), m_given |= !strcmp(argv[i], "--method");
    if (!a.file || !a.out || !a.to) {
        cli_error("export: need MODEL, --to nir and -o FILE");
        return 2;
    }
    if (strcmp(a.to, "nir")) {
        cli_error("export: --to '%s': the only format is nir", a.to);
        return 2;
    }
    spk_experiment *e;
    spk_net *net;
    int readout, nd, d[SPK_MAX_DIMS];
    if (spk_model_load(a.file, &e, &net, &readout, &nd, d, NULL, NULL, NULL)) {
        cli_error("%s", spk_errmsg(NULL));
        return 1;
    }
    if (e->nir_data) { /* an imported graph keeps its discretization unless told otherwise */
        if (!dt_given) a.opt.dt = e->nir_dt;
        if (!m_given) a.opt.method = (spk_nir_method)e->nir_method;
    }
    int rc = 0;
    if (spk_nir_write(a.out, net, readout, &a.opt)) {
        cli_error("%s", spk_errmsg(NULL));
        rc = 1;
    } else {
        printf("%s -> %s: %d nodes and the Output (NIR %s, dt %g s, %s)\n", a.file, a.out, spk_net_node_count(net), SPK_NIR_VERSION, a.opt.dt,
               spk_nir_method_name(a.opt.method));
    }
    spk_net_free(net);
    spk_experiment_free(e);
    return rc;
}
