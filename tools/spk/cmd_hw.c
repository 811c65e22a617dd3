/* cmd_hw.c — neuromorphic hardware commands (docs/hardware.md):
 *   spk hw list [--sort COLUMN] [--catalog FILE]...    the chip catalog as a table
 *   spk hw show NAME [--catalog FILE]...               one chip, every column
 *   spk hw fit MODEL [--learn RULE] [--chip NAME] [--verbose] [--catalog FILE]...
 *                                                      per chip: fits, or exactly why not
 *   spk energy MODEL --data test|train|X.npy [--samples N] [--format table|csv|json]
 *              [--output FILE] [--chart FILE.svg] [--step-time S] [--learn RULE] [--catalog FILE]...
 *                                                      counts from the event-driven engine,
 *                                                      energy per inference per platform */
#include "cli.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- shared -------------- */

static spk_hw_catalog *open_catalog(const char **files, int n_files) {
    spk_hw_catalog *c;
    if (spk_hw_catalog_create(&c)) {
        cli_error("%s", spk_errmsg(NULL));
        return NULL;
    }
    for (int i = 0; i < n_files; i++)
        if (spk_hw_catalog_merge_file(c, files[i])) {
            cli_error("%s", spk_errmsg(c));
            spk_hw_catalog_free(c);
            return NULL;
        }
    return c;
}

static const char *num_or(char *buf, size_t n, const char *fmt, double v) {
    if (isnan(v)) snprintf(buf, n, "?");
    else snprintf(buf, n, fmt, v);
    return buf;
}

static const char *text_or(const char *s) { return s[0] ? s : "?"; }

static const char *clock_text(char *buf, size_t n, const spk_chip *c) {
    if (c->clock_async) return "async";
    return num_or(buf, n, "%g", c->clock_mhz);
}

#define MAX_CATALOGS 16

/* ---------------------------------------------------------------- hw list / show ------- */

static int hw_list(spk_hw_catalog *c, const char *sort) {
    if (sort && spk_hw_catalog_sort(c, sort)) {
        cli_error("hw list: --sort: %s", spk_errmsg(c));
        return 2;
    }
    printf("%s\n", spk_hw_catalog_source());
    printf("%-14s %-18s %-10s %5s %9s %-13s %9s %-13s %-13s %6s %9s %9s %s\n", "name", "maker", "announced", "nm", "neurons",
           "neuron_model", "synapses", "synapse_model", "learning", "MHz", "J/SOP", "W/syn", "software");
    for (int i = 0; i < spk_hw_catalog_count(c); i++) {
        const spk_chip *ch = spk_hw_catalog_chip(c, i);
        char a[32], b[32], d[32], e[32], f[32], g[32];
        printf("%-14s %-18s %-10s %5s %9s %-13s %9s %-13s %-13s %6s %9s %9s %s%s%s\n", ch->name, text_or(ch->maker), text_or(ch->announced),
               num_or(a, sizeof a, "%g", ch->process_nm), num_or(b, sizeof b, "%.3g", ch->neurons), text_or(ch->neuron_model),
               num_or(d, sizeof d, "%.3g", ch->synapses), text_or(ch->synapse_model), text_or(ch->on_chip_learning),
               clock_text(e, sizeof e, ch), num_or(f, sizeof f, "%.3g", ch->j_per_sop), num_or(g, sizeof g, "%.3g", ch->w_per_synapse),
               text_or(ch->software), strcmp(ch->origin, "built-in") ? "  from " : "", strcmp(ch->origin, "built-in") ? ch->origin : "");
    }
    printf("%d chips; ? = unknown (an empty cell, not zero)\n", spk_hw_catalog_count(c));
    return 0;
}

static int hw_show(spk_hw_catalog *c, const char *name) {
    int i = spk_hw_catalog_find(c, name);
    if (i < 0) {
        fprintf(stderr, "spk: hw show: no chip named '%s'; the catalog has:", name);
        for (int k = 0; k < spk_hw_catalog_count(c); k++) fprintf(stderr, "%s %s", k ? "," : "", spk_hw_catalog_chip(c, k)->name);
        fputc('\n', stderr);
        return 1;
    }
    const spk_chip *ch = spk_hw_catalog_chip(c, i);
    char a[64];
    printf("%-18s %s\n", "name", ch->name);
    printf("%-18s %s\n", "maker", text_or(ch->maker));
    printf("%-18s %s\n", "announced", text_or(ch->announced));
    printf("%-18s %s\n", "process_nm", num_or(a, sizeof a, "%g nm", ch->process_nm));
    printf("%-18s %s\n", "neurons", num_or(a, sizeof a, "%.0f", ch->neurons));
    printf("%-18s %s\n", "neuron_model", text_or(ch->neuron_model));
    printf("%-18s %s\n", "synapses", num_or(a, sizeof a, "%.0f", ch->synapses));
    printf("%-18s %s\n", "synapse_model", text_or(ch->synapse_model));
    printf("%-18s %s\n", "on_chip_learning", text_or(ch->on_chip_learning));
    printf("%-18s %s\n", "clock_mhz", ch->clock_async ? "async (no global clock)" : num_or(a, sizeof a, "%g MHz", ch->clock_mhz));
    printf("%-18s %s\n", "j_per_sop", num_or(a, sizeof a, "%.3g J", ch->j_per_sop));
    printf("%-18s %s\n", "w_per_synapse", num_or(a, sizeof a, "%.3g W", ch->w_per_synapse));
    printf("%-18s %s\n", "software", text_or(ch->software));
    printf("%-18s %s\n", "synapses/neuron", num_or(a, sizeof a, "%.6g (the fan-in limit spk checks)", ch->synapses / ch->neurons));
    printf("%-18s %s\n", "source", strcmp(ch->origin, "built-in") ? ch->origin : spk_hw_catalog_source());
    printf("? = unknown (an empty cell in the catalog)\n");
    return 0;
}

/* ---------------------------------------------------------------- fit ---------------- */

/* A model.spk file, or a NIR file (read with spk's default dt and method; it has no
 * experiment, so no data of its own and an input assumed to be spikes). */
typedef struct model {
    spk_experiment *e;
    spk_net *net;
    int readout, nd, dims[SPK_MAX_DIMS];
    int nir;
    spk_nir_graph g;
} model;

static int load(const char *path, model *m) {
    memset(m, 0, sizeof *m);
    if (cli_is_nir(path)) {
        if (spk_nir_read(path, NULL, &m->g)) {
            cli_error("%s", spk_errmsg(NULL));
            return -1;
        }
        m->nir = 1;
        m->net = m->g.net;
        m->readout = m->g.output;
        m->nd = spk_net_node_shape(m->net, m->g.input, m->dims);
        return 0;
    }
    if (spk_model_load(path, &m->e, &m->net, &m->readout, &m->nd, m->dims, NULL, NULL, NULL)) {
        cli_error("%s", spk_errmsg(NULL));
        return -1;
    }
    return 0;
}

static void unload(model *m) {
    if (m->nir) {
        spk_nir_graph_free(&m->g);
        return;
    }
    spk_net_free(m->net);
    spk_experiment_free(m->e);
}

/* The input is real-valued when the experiment feeds static data as current (direct
 * encoding); sequence data (Randman, files with time) and NIR inputs arrive as spikes. */
static int input_is_real(const spk_experiment *e) {
    return e && e->encoder.kind == SPK_ENC_DIRECT && strcmp(e->dataset, "randman") && !e->has_time;
}

static void print_needs(const char *file, const spk_hw_needs *nd) {
    printf("%s needs: %lld neurons, %lld synapses, largest fan-in %lld ('%s')", file, (long long)nd->neurons, (long long)nd->synapses,
           (long long)nd->max_fan_in, nd->fan_in_node);
    static const char *feat[SPK_HW_NEED_BITS] = {"CuBa synapses", "adaptive threshold", "complex neurons", "graded spikes", "threshold noise"};
    int any = 0;
    for (int b = 0; b < SPK_HW_NEED_BITS; b++)
        if (nd->features & (1u << b)) printf("%s%s ('%s')", any++ ? ", " : "; uses ", feat[b], nd->feature_node[b]);
    printf("%s\n", any ? "" : "; plain LIF neurons only");
    if (nd->nonlocal[0]) printf("  not event-driven: %s\n", nd->nonlocal);
    if (nd->input_note[0]) printf("  note: %s\n", nd->input_note);
}

static void fit_summary(char *buf, size_t n, const spk_hw_fit *f) {
    if (f->verdict == SPK_HW_NO && f->capacity_only && f->chips > 1) snprintf(buf, n, "no: needs %lld chips", (long long)f->chips);
    else if (f->verdict == SPK_HW_NO && f->chips > 1) snprintf(buf, n, "no (%lld by size)", (long long)f->chips);
    else snprintf(buf, n, "%s", spk_hw_verdict_name(f->verdict));
}

static int hw_fit(spk_hw_catalog *c, int argc, char **argv) {
    const char *file = NULL, *learn = NULL, *chip = NULL;
    int verbose = 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--learn") && i + 1 < argc) learn = argv[++i];
        else if (!strcmp(a, "--chip") && i + 1 < argc) chip = argv[++i];
        else if (!strcmp(a, "--verbose") || !strcmp(a, "-v")) verbose = 1;
        else if (!file && a[0] != '-') file = a;
        else {
            cli_error("hw fit: unexpected argument '%s' (see 'spk hw --help')", a);
            return 2;
        }
    }
    if (!file) {
        cli_error("hw fit: no model given (see 'spk hw --help')");
        return 2;
    }
    if (chip && spk_hw_catalog_find(c, chip) < 0) {
        cli_error("hw fit: no chip named '%s' (see 'spk hw list')", chip);
        return 1;
    }
    model m;
    if (load(file, &m)) return 1;
    spk_hw_needs nd;
    if (spk_hw_model_needs(m.net, input_is_real(m.e), &nd)) {
        cli_error("hw fit: %s", spk_errmsg(NULL));
        unload(&m);
        return 1;
    }
    print_needs(file, &nd);
    if (learn) printf("on-chip learning asked for: %s\n", learn);
    printf("\n%-14s %-20s %s\n", "chip", "fits one chip", "why (every check that is not a plain yes)");
    int n_yes = 0;
    for (int i = 0; i < spk_hw_catalog_count(c); i++) {
        const spk_chip *ch = spk_hw_catalog_chip(c, i);
        if (chip && spk_hw_catalog_find(c, chip) != i) continue;
        spk_hw_fit f;
        if (spk_hw_fit_chip(ch, &nd, learn, &f)) {
            cli_error("hw fit: %s", spk_errmsg(NULL));
            unload(&m);
            return 1;
        }
        n_yes += f.verdict == SPK_HW_YES;
        char s[64];
        fit_summary(s, sizeof s, &f);
        printf("%-14s %-20s", ch->name, s);
        int first = 1;
        for (int k = 0; k < SPK_HW_CHECK_COUNT; k++) {
            if (!verbose && f.check[k] == SPK_HW_YES) continue;
            printf("%s%s %s: %s\n", first ? " " : "                                    ", spk_hw_check_name((spk_hw_check)k),
                   spk_hw_verdict_name(f.check[k]), f.why[k]);
            first = 0;
        }
        if (first) printf(" every check passes\n");
    }
    printf("\n%d of %d chips run it on one chip (unknown = the catalog lacks a figure the check needs)\n", n_yes,
           chip ? 1 : spk_hw_catalog_count(c));
    unload(&m);
    return 0;
}

/* ---------------------------------------------------------------- hw ----------------- */

static void hw_usage(FILE *fp) {
    fprintf(fp, "usage: spk hw list [--sort COLUMN] [--catalog FILE]...\n"
                "       spk hw show NAME [--catalog FILE]...\n"
                "       spk hw fit MODEL|X.nir [--learn RULE] [--chip NAME] [--verbose] [--catalog FILE]...\n"
                "The neuromorphic chip catalog (docs/hardware.md). --sort COLUMN sorts by a column (a leading '-' sorts\n"
                "descending; unknown cells last). --catalog FILE adds or overrides chips from a CSV file with the catalog's\n"
                "columns. fit: for each chip, whether the model fits one chip and exactly why not (neurons, synapses,\n"
                "fan-in, neuron model, non-local ops, on-chip learning with --learn RULE, e.g. stdp or e-prop), and how\n"
                "many chips it needs when it is too big. --verbose shows every check.\n");
}

/* Split off --catalog FILE options (valid anywhere after the subcommand). */
static int take_catalogs(int *argc, char **argv, const char **files, int *n_files) {
    int k = 0;
    for (int i = 0; i < *argc; i++) {
        if (!strcmp(argv[i], "--catalog")) {
            if (i + 1 >= *argc) {
                cli_error("--catalog needs a FILE");
                return -1;
            }
            if (*n_files >= MAX_CATALOGS) {
                cli_error("--catalog: at most %d files", MAX_CATALOGS);
                return -1;
            }
            files[(*n_files)++] = argv[++i];
        } else {
            argv[k++] = argv[i];
        }
    }
    *argc = k;
    return 0;
}

int cmd_hw(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        hw_usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const char *files[MAX_CATALOGS];
    int n_files = 0;
    const char *sub = argv[1];
    int n = argc - 2;
    char **rest = argv + 2;
    if (take_catalogs(&n, rest, files, &n_files)) return 2;
    for (int i = 0; i < n; i++)
        if (!strcmp(rest[i], "--help")) {
            hw_usage(stdout);
            return 0;
        }
    if (strcmp(sub, "list") && strcmp(sub, "show") && strcmp(sub, "fit")) {
        cli_error("hw: unknown subcommand '%s' (list, show or fit)", sub);
        return 2;
    }
    const char *sort = NULL, *name = NULL;
    if (!strcmp(sub, "list")) {
        for (int i = 0; i < n; i++) {
            if (!strcmp(rest[i], "--sort") && i + 1 < n) sort = rest[++i];
            else {
                cli_error("hw list: unexpected argument '%s'", rest[i]);
                return 2;
            }
        }
    } else if (!strcmp(sub, "show")) {
        if (n != 1 || rest[0][0] == '-') {
            cli_error("hw show: give exactly one chip NAME (see 'spk hw list')");
            return 2;
        }
        name = rest[0];
    }
    spk_hw_catalog *c = open_catalog(files, n_files);
    if (!c) return 1;
    int rc = !strcmp(sub, "list") ? hw_list(c, sort) : !strcmp(sub, "show") ? hw_show(c, name) : hw_fit(c, n, rest);
    spk_hw_catalog_free(c);
    return rc;
}

/* ---------------------------------------------------------------- energy ------------- */

static void energy_usage(FILE *fp) {
    fprintf(fp, "usage: spk energy MODEL|X.nir --data test|train|X.npy [--samples N] [--format table|csv|json] [--output FILE]\n"
                "                  [--chart FILE.svg] [--step-time SECONDS] [--learn RULE] [--catalog FILE]...\n"
                "Runs N samples (default 100) through the event-driven engine, counts neurons, synapses, spikes and\n"
                "synaptic operations (SOPs) per inference, and prints the energy per inference on every chip of the\n"
                "catalog (SOPs x J/SOP, plus W/synapse x synapses x steps x step time where W/synapse is known), on\n"
                "V100 / A100 / H100 GPUs running the same network as a dense ANN, and under the 45 nm convention\n"
                "(4.6 pJ/MAC, 0.9 pJ/AC). --data: the model's own test or train set, or an .npy input [T, B, features]\n"
                "fed as it is. --step-time: seconds one time step is assumed to last (default 0.001). --chart writes an\n"
                "SVG bar chart; --output writes the report to a file instead of the terminal (both atomically).\n");
}

int cmd_energy(int argc, char **argv) {
    const char *files[MAX_CATALOGS];
    int n_files = 0;
    int n = argc - 1;
    char **rest = argv + 1;
    if (take_catalogs(&n, rest, files, &n_files)) return 2;
    const char *file = NULL, *data = NULL, *format = "table", *output = NULL, *chart = NULL, *learn = NULL;
    long samples = 100;
    double step_s = 1e-3;
    for (int i = 0; i < n; i++) {
        const char *a = rest[i], *v = i + 1 < n ? rest[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            energy_usage(stdout);
            return 0;
        } else if (!strcmp(a, "--data") && v) {
            data = v;
            i++;
        } else if (!strcmp(a, "--samples")) {
            if (cli_int("--samples", v, 1, 100000000, &samples)) return 2;
            i++;
        } else if (!strcmp(a, "--format") && v) {
            format = v;
            i++;
            if (strcmp(format, "table") && strcmp(format, "csv") && strcmp(format, "json")) {
                cli_error("energy: --format must be table, csv or json");
                return 2;
            }
        } else if (!strcmp(a, "--output") && v) {
            output = v;
            i++;
        } else if (!strcmp(a, "--chart") && v) {
            chart = v;
            i++;
        } else if (!strcmp(a, "--learn") && v) {
            learn = v;
            i++;
        } else if (!strcmp(a, "--step-time")) {
            if (cli_float("--step-time", v, &step_s)) return 2;
            if (!(step_s > 0) || !isfinite(step_s)) {
                cli_error("--step-time: %g must be > 0 seconds", step_s);
                return 2;
            }
            i++;
        } else if (!file && a[0] != '-') {
            file = a;
        } else {
            cli_error("energy: unexpected argument '%s' (see 'spk energy --help')", a);
            return 2;
        }
    }
    if (!file || !data) {
        cli_error("energy: need MODEL and --data (see 'spk energy --help')");
        return 2;
    }
    spk_hw_catalog *cat = open_catalog(files, n_files);
    if (!cat) return 1;
    model m;
    if (load(file, &m)) {
        spk_hw_catalog_free(cat);
        return 1;
    }
    int rc = 1;
    float *x = NULL, *xs = NULL;
    spk_dataset train = {0}, test = {0};
    spk_event *ev = NULL;
    spk_hw_fit *fits = NULL;
    spk_hw_energy_row *rows = NULL;
    spk_hw_layer_counts *layers = NULL;
    char *text = NULL, *svg = NULL;
    size_t in_size = 1;
    for (int k = 0; k < m.nd; k++) in_size *= (size_t)m.dims[k];
    int T = 0, B = 0, real_input = input_is_real(m.e);
    const spk_dataset *d = NULL;
    if (!strcmp(data, "test") || !strcmp(data, "train")) {
        if (m.nir) {
            cli_error("energy: a NIR model has no data of its own: give --data X.npy [T, B, features]");
            goto out;
        }
        if (spk_experiment_load_data(m.e, &train, &test)) {
            cli_error("%s", spk_errmsg(NULL));
            goto out;
        }
        d = !strcmp(data, "test") ? &test : &train;
        int dims[SPK_MAX_DIMS], nd = spk_experiment_input_shape(m.e, d, dims, &T);
        if (!nd || nd != m.nd || memcmp(dims, m.dims, sizeof(int) * (size_t)nd)) {
            cli_error("energy: the data's input shape does not match the model's");
            goto out;
        }
        B = d->n;
    } else {
        int xnd;
        size_t xd[8];
        if (spk_npy_read(data, &x, &xnd, xd)) {
            cli_error("%s", spk_errmsg(NULL));
            goto out;
        }
        size_t feat = 1;
        for (int k = 2; k < xnd; k++) feat *= xd[k];
        if (xnd < 3 || feat != in_size || xd[0] < 1 || xd[1] < 1) {
            cli_error("energy: %s must be [T, B, %zu values per step and sample] for this model", data, in_size);
            goto out;
        }
        T = (int)xd[0];
        B = (int)xd[1];
        real_input = 0;
        for (size_t i = 0; i < (size_t)T * B * in_size && !real_input; i++) real_input = x[i] != 0.0f && x[i] != 1.0f;
    }
    if (samples > B) samples = B;
    xs = spk_malloc(sizeof(float) * (size_t)T * in_size);
    if (!xs || spk_event_create(&ev, m.net)) {
        cli_error("energy: %s", xs ? spk_errmsg(NULL) : "out of memory");
        goto out;
    }
    double t0 = cli_now();
    for (long s = 0; s < samples; s++) {
        if (d) {
            int32_t idx = (int32_t)s;
            if (spk_experiment_encode_batch(m.e, d, &idx, 1, xs, (uint64_t)s)) {
                cli_error("%s", spk_errmsg(NULL));
                goto out;
            }
        } else {
            for (int t = 0; t < T; t++) memcpy(xs + (size_t)t * in_size, x + ((size_t)t * B + (size_t)s) * in_size, sizeof(float) * in_size);
        }
        if (spk_event_run(ev, T, xs)) {
            cli_error("energy: %s", spk_errmsg(NULL));
            goto out;
        }
    }
    double run_s = cli_now() - t0;
    const spk_event_stats *st = spk_event_get_stats(ev);
    /* per-inference counts */
    layers = spk_calloc((size_t)st->n_nodes + 1, sizeof *layers);
    spk_hw_counts k;
    if (!layers || spk_hw_counts_from_events(m.net, st, real_input, step_s, &k, layers)) {
        cli_error("energy: %s", layers ? spk_errmsg(NULL) : "out of memory");
        goto out;
    }
    double ns = (double)st->samples;
    /* fit per chip */
    spk_hw_needs nd;
    if (spk_hw_model_needs(m.net, real_input, &nd)) {
        cli_error("energy: %s", spk_errmsg(NULL));
        goto out;
    }
    int nc = spk_hw_catalog_count(cat), max_rows = nc + SPK_HW_GPU_COUNT + 2, n_rows;
    fits = spk_calloc((size_t)nc + 1, sizeof *fits);
    rows = spk_calloc((size_t)max_rows, sizeof *rows);
    if (!fits || !rows) {
        cli_error("energy: out of memory");
        goto out;
    }
    for (int i = 0; i < nc; i++)
        if (spk_hw_fit_chip(spk_hw_catalog_chip(cat, i), &nd, learn, &fits[i])) {
            cli_error("energy: %s", spk_errmsg(NULL));
            goto out;
        }
    if (spk_hw_energy(cat, &k, fits, rows, max_rows, &n_rows)) {
        cli_error("energy: %s", spk_errmsg(NULL));
        goto out;
    }
    text = spk_hw_energy_format(rows, n_rows, &k, format);
    if (!text) {
        cli_error("energy: %s", spk_errmsg(NULL));
        goto out;
    }
    if (chart) {
        char title[256];
        snprintf(title, sizeof title, "Energy per inference: %s (%.0f samples, %.3g SOPs each)", file, ns, k.sops);
        svg = spk_hw_energy_svg(rows, n_rows, title);
        if (!svg || cli_write_text_atomic(chart, svg)) {
            cli_error("energy: --chart: %s", spk_errmsg(NULL));
            goto out;
        }
    }
    if (output) {
        if (cli_write_text_atomic(output, text)) {
            cli_error("energy: --output: %s", spk_errmsg(NULL));
            goto out;
        }
    } else {
        fputs(text, stdout);
    }
    if (!strcmp(format, "table") || output)
        fprintf(!strcmp(format, "table") && !output ? stdout : stderr,
                "%s: %.0f samples of %s through the event-driven engine in %.2f s%s%s%s%s\n", file, ns, data, run_s,
                output ? "; report -> " : "", output ? output : "", chart ? "; chart -> " : "", chart ? chart : "");
    rc = 0;
out:
    spk_free(text);
    spk_free(svg);
    spk_free(rows);
    spk_free(fits);
    spk_free(layers);
    spk_event_free(ev);
    spk_free(xs);
    spk_free(x);
    spk_dataset_free(&train);
    spk_dataset_free(&test);
    unload(&m);
    spk_hw_catalog_free(cat);
    return rc;
}
