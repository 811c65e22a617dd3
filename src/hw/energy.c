/* energy.c — what one inference costs: on every chip of the catalog (SOPs x J/SOP, plus the
 * static share W/synapse x synapses x the time window where the catalog gives W/synapse), on
 * GPUs running the same network as a dense ANN (FLOPs x J/FLOP from published peak rate and
 * board power), and under the 45 nm convention (4.6 pJ per MAC, 0.9 pJ per AC). Formats the
 * result as an aligned table, CSV or JSON, and draws it as an SVG bar chart. It does not count
 * anything: the counts come from the caller (the event-driven engine's statistics). */
#include "hw/hw_impl.h"
#include "net/net_impl.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

typedef struct gpu_figure {
    const char *name, *figures;
    double flops, watts;
} gpu_figure;

/* Published datasheet figures: dense FP16 tensor-core peak (no sparsity) and board power. */
static const gpu_figure gpus[SPK_HW_GPU_COUNT] = {
    {"GPU V100", "V100 SXM2: 125 TFLOP/s dense FP16 tensor peak, 300 W board power", 125e12, 300},
    {"GPU A100", "A100 SXM4: 312 TFLOP/s dense FP16 tensor peak, 400 W board power", 312e12, 400},
    {"GPU H100", "H100 SXM5: 989.5 TFLOP/s dense FP16 tensor peak, 700 W board power", 989.5e12, 700},
};

static int bad(double v) { return !isfinite(v) || v < 0; }

spk_status spk_hw_energy(const spk_hw_catalog *cat, const spk_hw_counts *k, const spk_hw_fit *fits, spk_hw_energy_row *rows,
                         int max_rows, int *n_rows) {
    if (!cat || !k || !rows || !n_rows) return spk__fail(NULL, SPK_ERR_INVALID_ARG, "spk_hw_energy: NULL argument");
    *n_rows = 0;
    int need = cat->n + SPK_HW_GPU_COUNT + 2;
    if (max_rows < need) return spk__fail(NULL, SPK_ERR_INVALID_ARG, "spk_hw_energy: room for %d rows, %d needed", max_rows, need);
    if (bad(k->neurons) || bad(k->synapses) || bad(k->spikes) || bad(k->sops) || bad(k->macs) || bad(k->sop_macs))
        return spk__fail(NULL, SPK_ERR_INVALID_ARG, "spk_hw_energy: counts must be finite and >= 0");
    if (k->sop_macs > k->sops)
        return spk__fail(NULL, SPK_ERR_INVALID_ARG, "spk_hw_energy: sop_macs = %g exceeds sops = %g", k->sop_macs, k->sops);
    if (!isfinite(k->steps) || k->steps < 1) return spk__fail(NULL, SPK_ERR_INVALID_ARG, "spk_hw_energy: steps = %g must be >= 1", k->steps);
    if (!isfinite(k->step_s) || k->step_s <= 0)
        return spk__fail(NULL, SPK_ERR_INVALID_ARG, "spk_hw_energy: step_s = %g must be > 0 seconds", k->step_s);
    double window = k->steps * k->step_s;
    int n = 0;
    for (int i = 0; i < cat->n; i++) {
        const spk_chip *c = &cat->chips[i];
        spk_hw_energy_row *r = &rows[n++];
        memset(r, 0, sizeof *r);
        snprintf(r->name, sizeof r->name, "%s", c->name);
        r->platform = SPK_HW_CHIP;
        r->ops = k->sops;
        r->j_per_op = c->j_per_sop;
        r->dynamic_j = k->sops * c->j_per_sop; /* NaN when unknown */
        r->static_j = c->w_per_synapse * k->synapses * window;
        r->fits = fits ? fits[i].verdict : SPK_HW_UNKNOWN;
        r->chips = fits ? fits[i].chips : 0;
        r->capacity_only = fits ? fits[i].capacity_only : 0;
        if (isnan(r->dynamic_j)) {
            r->total_j = NAN;
            snprintf(r->note, sizeof r->note, "J/SOP unknown");
        } else if (isnan(r->static_j)) {
            r->total_j = r->dynamic_j;
            snprintf(r->note, sizeof r->note, "W/synapse unknown: dynamic energy only (a lower bound)");
        } else {
            r->total_j = r->dynamic_j + r->static_j;
            snprintf(r->note, sizeof r->note, "static %.3g W/synapse x %.6g synapses x %.6g s", c->w_per_synapse, k->synapses, window);
        }
    }
    for (int g = 0; g < SPK_HW_GPU_COUNT; g++) {
        spk_hw_energy_row *r = &rows[n++];
        memset(r, 0, sizeof *r);
        snprintf(r->name, sizeof r->name, "%s", gpus[g].name);
        r->platform = SPK_HW_GPU;
        r->ops = 2 * k->macs;
        r->j_per_op = gpus[g].watts / gpus[g].flops;
        r->dynamic_j = r->ops * r->j_per_op;
        r->total_j = r->dynamic_j;
        snprintf(r->note, sizeof r->note, "dense ANN, 2 FLOPs per MAC; %s", gpus[g].figures);
    }
    spk_hw_energy_row *r = &rows[n++];
    memset(r, 0, sizeof *r);
    snprintf(r->name, sizeof r->name, "45nm MAC (ANN)");
    r->platform = SPK_HW_45NM_MAC;
    r->ops = k->macs;
    r->j_per_op = SPK_HW_45NM_J_PER_MAC;
    r->dynamic_j = r->total_j = r->ops * r->j_per_op;
    snprintf(r->note, sizeof r->note, "dense ANN, one 32-bit float MAC per synapse at 4.6 pJ (45 nm)");
    r = &rows[n++];
    memset(r, 0, sizeof *r);
    snprintf(r->name, sizeof r->name, "45nm AC (SNN)");
    r->platform = SPK_HW_45NM_AC;
    r->ops = k->sops;
    if (k->sop_macs > 0) { /* real-valued events multiply: 4.6 pJ for those, 0.9 pJ for the rest */
        r->dynamic_j = r->total_j = (k->sops - k->sop_macs) * SPK_HW_45NM_J_PER_AC + k->sop_macs * SPK_HW_45NM_J_PER_MAC;
        r->j_per_op = r->dynamic_j / k->sops;
        snprintf(r->note, sizeof r->note, "0.9 pJ per accumulate, 4.6 pJ for the %.6g SOPs on real-valued input (MACs); J/op is the mean",
                 k->sop_macs);
    } else {
        r->j_per_op = SPK_HW_45NM_J_PER_AC;
        r->dynamic_j = r->total_j = r->ops * r->j_per_op;
        snprintf(r->note, sizeof r->note, "one 32-bit float accumulate per SOP at 0.9 pJ (45 nm)");
    }
    for (int i = cat->n; i < n; i++) {
        rows[i].fits = SPK_HW_YES;
        rows[i].chips = 1;
    }
    for (int i = 0; i < n; i++) rows[i].inferences_per_j = isnan(rows[i].total_j) ? NAN : 1.0 / rows[i].total_j;
    *n_rows = n;
    return SPK_OK;
}

/* ---------------------------------------------------------------- counts ---------------- */

/* Does node v pass on the real values of a real-valued input (the input itself, or ops that
 * only move, pool, scale or sum what reaches them)? */
static int real_valued(const spk_net *net, int v, int depth) {
    const spk__node *n = &net->nodes[v];
    if (v == net->input) return 1;
    if (depth > net->n_nodes) return 0;
    switch (n->kind) {
    case SPK_NODE_FLATTEN:
    case SPK_NODE_DROPOUT:
    case SPK_NODE_DELAY:
    case SPK_NODE_SCALE:
    case SPK_NODE_MERGE:
    case SPK_NODE_POOL:
        for (int e = 0; e < net->n_edges; e++)
            if (net->edges[e].to == v && real_valued(net, net->edges[e].from, depth + 1)) return 1;
        return 0;
    default: return 0;
    }
}

spk_status spk_hw_counts_from_events(spk_net *net, const spk_event_stats *st, int input_real, double step_s, spk_hw_counts *k,
                                     spk_hw_layer_counts *layers) {
    if (!net || !st || !k || !layers) return spk__fail(NULL, SPK_ERR_INVALID_ARG, "spk_hw_counts_from_events: NULL argument");
    if (st->samples < 1 || st->steps < 1)
        return spk__fail(NULL, SPK_ERR_INVALID_ARG, "spk_hw_counts_from_events: no sample was run through the engine");
    if (st->n_nodes != net->n_nodes)
        return spk__fail(NULL, SPK_ERR_INVALID_ARG, "spk_hw_counts_from_events: statistics of %d nodes for a network of %d", st->n_nodes,
                         net->n_nodes);
    memset(k, 0, sizeof *k);
    double ns = (double)st->samples;
    int nl = 0;
    for (int v = 0; v < st->n_nodes; v++) {
        const spk_event_node_stats *s = &st->nodes[v];
        /* (reversible blocks on a real input: their streams stay real, every SOP multiplies) */
        if (input_real && (s->kind == SPK_NODE_DENSE || s->kind == SPK_NODE_CONV || s->kind == SPK_NODE_REVERSIBLE))
            for (int e = 0; e < net->n_edges; e++)
                if (net->edges[e].to == v && real_valued(net, net->edges[e].from, 0)) {
                    k->sop_macs += (double)s->sops / ns;
                    break;
                }
        if (!s->neurons && !s->synapses && !s->sops) continue;
        spk_hw_layer_counts *l = &layers[nl++];
        snprintf(l->name, sizeof l->name, "%s", s->name ? s->name : net->nodes[v].name);
        l->neurons = (double)s->neurons;
        l->synapses = s->kind == SPK_NODE_NEURON ? 0 : (double)s->synapses;
        l->spikes = s->kind == SPK_NODE_NEURON || s->kind == SPK_NODE_REVERSIBLE ? (double)s->spikes / ns : 0;
        l->sops = (double)s->sops / ns;
    }
    k->neurons = (double)st->neurons;
    k->synapses = (double)st->synapses;
    k->steps = (double)st->steps / ns;
    k->step_s = step_s;
    k->spikes = (double)st->spikes / ns;
    k->sops = (double)st->sops / ns;
    k->macs = (double)st->macs / (double)st->steps; /* the engine's dense MACs per step: one ANN pass */
    if (k->sop_macs > k->sops) k->sop_macs = k->sops;
    k->layers = layers;
    k->n_layers = nl;
    return SPK_OK;
}

/* ---------------------------------------------------------------- text output ------------ */


static char *sb_done(spk__sbuf *b) {
    if (b->oom) {
        spk_free(b->p);
        spk__fail(NULL, SPK_ERR_NOMEM, "out of memory formatting the energy report");
        return NULL;
    }
    if (!b->p) spk__sb_printf(b, "%s", "");
    return b->oom ? NULL : b->p;
}

static const char *platform_name(spk_hw_platform p) {
    switch (p) {
    case SPK_HW_CHIP: return "chip";
    case SPK_HW_GPU: return "gpu";
    case SPK_HW_45NM_MAC: return "45nm_mac";
    case SPK_HW_45NM_AC: return "45nm_ac";
    }
    return "?";
}

/* a number, or `unk` when NaN */
static const char *num(char *buf, size_t n, const char *fmt, double v, const char *unk) {
    if (isnan(v)) snprintf(buf, n, "%s", unk);
    else if (isinf(v)) snprintf(buf, n, "inf");
    else snprintf(buf, n, fmt, v);
    return buf;
}

static void csv_text(spk__sbuf *b, const char *s) {
    if (!strpbrk(s, ",\"\n\r")) {
        spk__sb_printf(b, "%s", s);
        return;
    }
    spk__sb_printf(b, "\"");
    for (; *s; s++) spk__sb_printf(b, *s == '"' ? "\"\"" : "%c", *s);
    spk__sb_printf(b, "\"");
}

static void json_text(spk__sbuf *b, const char *s) {
    spk__sb_printf(b, "\"");
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\') spk__sb_printf(b, "\\%c", ch);
        else if (ch < 0x20) spk__sb_printf(b, "\\u%04x", ch);
        else spk__sb_printf(b, "%c", ch);
    }
    spk__sb_printf(b, "\"");
}

static void json_num(spk__sbuf *b, double v) {
    if (isfinite(v)) spk__sb_printf(b, "%.9g", v);
    else spk__sb_printf(b, "null");
}

static const char *fit_text(char *buf, size_t n, const spk_hw_energy_row *r) {
    if (r->platform != SPK_HW_CHIP) snprintf(buf, n, "-");
    else if (r->fits == SPK_HW_NO && r->capacity_only && r->chips > 1) snprintf(buf, n, "no: needs %lld", (long long)r->chips);
    else if (r->fits == SPK_HW_NO && r->chips > 1) snprintf(buf, n, "no (%lld by size)", (long long)r->chips);
    else snprintf(buf, n, "%s", spk_hw_verdict_name(r->fits));
    return buf;
}

char *spk_hw_energy_format(const spk_hw_energy_row *rows, int n_rows, const spk_hw_counts *k, const char *format) {
    if (!rows || !k || !format || n_rows < 0) {
        spk__fail(NULL, SPK_ERR_INVALID_ARG, "spk_hw_energy_format: NULL argument");
        return NULL;
    }
    spk__sbuf b = {0};
    char a1[32], a2[32], a3[32], a4[32], a5[32], a6[32];
    if (!strcmp(format, "table")) {
        spk__sb_printf(&b, "per inference: %.0f steps (%.3g s per step assumed for the static share); neurons %.0f, synapses %.0f, "
                      "spikes %.6g, SOPs %.6g; as a dense ANN %.6g MACs\n",
                  k->steps, k->step_s, k->neurons, k->synapses, k->spikes, k->sops, k->macs);
        if (k->sop_macs > 0)
            spk__sb_printf(&b, "of the SOPs, %.6g (%.1f %%) deliver real-valued input: they multiply, and a chip takes them only as spikes\n",
                      k->sop_macs, 100 * k->sop_macs / k->sops);
        if (k->layers && k->n_layers > 0) {
            spk__sb_printf(&b, "\n  %-20s %12s %14s %14s %14s\n", "op", "neurons", "synapses", "spikes", "SOPs");
            for (int i = 0; i < k->n_layers; i++) {
                const spk_hw_layer_counts *l = &k->layers[i];
                spk__sb_printf(&b, "  %-20s %12.0f %14.0f %14.6g %14.6g\n", l->name, l->neurons, l->synapses, l->spikes, l->sops);
            }
        }
        spk__sb_printf(&b, "\n  %-16s %-16s %12s %10s %11s %11s %11s %13s  %s\n", "platform", "fits one chip", "ops", "J/op", "dynamic J",
                  "static J", "total J", "inferences/J", "note");
        for (int i = 0; i < n_rows; i++) {
            const spk_hw_energy_row *r = &rows[i];
            char f[48];
            spk__sb_printf(&b, "  %-16s %-16s %12s %10s %11s %11s %11s %13s  %s\n", r->name, fit_text(f, sizeof f, r),
                      num(a1, sizeof a1, "%.4g", r->ops, "?"), num(a2, sizeof a2, "%.3g", r->j_per_op, "?"),
                      num(a3, sizeof a3, "%.4g", r->dynamic_j, "?"), num(a4, sizeof a4, "%.4g", r->static_j, "?"),
                      num(a5, sizeof a5, "%.4g", r->total_j, "?"), num(a6, sizeof a6, "%.4g", r->inferences_per_j, "?"), r->note);
        }
        spk__sb_printf(&b, "\n? = unknown (an empty catalog cell). GPU and 45 nm rows cost the same network as a dense ANN (one pass, "
                      "one MAC per synapse); chips and 45 nm AC cost the measured SOPs.\n");
    } else if (!strcmp(format, "csv")) {
        spk__sb_printf(&b, "platform,kind,fits,chips,ops,j_per_op,dynamic_j,static_j,total_j,inferences_per_j,note\n");
        for (int i = 0; i < n_rows; i++) {
            const spk_hw_energy_row *r = &rows[i];
            csv_text(&b, r->name);
            spk__sb_printf(&b, ",%s,%s,%lld,%s,%s,%s,%s,%s,%s,", platform_name(r->platform), spk_hw_verdict_name(r->fits), (long long)r->chips,
                      num(a1, sizeof a1, "%.6g", r->ops, ""), num(a2, sizeof a2, "%.6g", r->j_per_op, ""),
                      num(a3, sizeof a3, "%.6g", r->dynamic_j, ""), num(a4, sizeof a4, "%.6g", r->static_j, ""),
                      num(a5, sizeof a5, "%.6g", r->total_j, ""), num(a6, sizeof a6, "%.6g", r->inferences_per_j, ""));
            csv_text(&b, r->note);
            spk__sb_printf(&b, "\n");
        }
    } else if (!strcmp(format, "json")) {
        spk__sb_printf(&b, "{\n  \"counts\": {\"steps\": ");
        json_num(&b, k->steps);
        spk__sb_printf(&b, ", \"step_s\": ");
        json_num(&b, k->step_s);
        spk__sb_printf(&b, ", \"neurons\": ");
        json_num(&b, k->neurons);
        spk__sb_printf(&b, ", \"synapses\": ");
        json_num(&b, k->synapses);
        spk__sb_printf(&b, ", \"spikes\": ");
        json_num(&b, k->spikes);
        spk__sb_printf(&b, ", \"sops\": ");
        json_num(&b, k->sops);
        spk__sb_printf(&b, ", \"macs\": ");
        json_num(&b, k->macs);
        spk__sb_printf(&b, ", \"sop_macs\": ");
        json_num(&b, k->sop_macs);
        spk__sb_printf(&b, "},\n  \"layers\": [");
        for (int i = 0; k->layers && i < k->n_layers; i++) {
            const spk_hw_layer_counts *l = &k->layers[i];
            spk__sb_printf(&b, "%s\n    {\"name\": ", i ? "," : "");
            json_text(&b, l->name);
            spk__sb_printf(&b, ", \"neurons\": ");
            json_num(&b, l->neurons);
            spk__sb_printf(&b, ", \"synapses\": ");
            json_num(&b, l->synapses);
            spk__sb_printf(&b, ", \"spikes\": ");
            json_num(&b, l->spikes);
            spk__sb_printf(&b, ", \"sops\": ");
            json_num(&b, l->sops);
            spk__sb_printf(&b, "}");
        }
        spk__sb_printf(&b, "],\n  \"platforms\": [");
        for (int i = 0; i < n_rows; i++) {
            const spk_hw_energy_row *r = &rows[i];
            spk__sb_printf(&b, "%s\n    {\"name\": ", i ? "," : "");
            json_text(&b, r->name);
            spk__sb_printf(&b, ", \"kind\": \"%s\", \"fits\": \"%s\", \"chips\": %lld, \"ops\": ", platform_name(r->platform),
                      spk_hw_verdict_name(r->fits), (long long)r->chips);
            json_num(&b, r->ops);
            spk__sb_printf(&b, ", \"j_per_op\": ");
            json_num(&b, r->j_per_op);
            spk__sb_printf(&b, ", \"dynamic_j\": ");
            json_num(&b, r->dynamic_j);
            spk__sb_printf(&b, ", \"static_j\": ");
            json_num(&b, r->static_j);
            spk__sb_printf(&b, ", \"total_j\": ");
            json_num(&b, r->total_j);
            spk__sb_printf(&b, ", \"inferences_per_j\": ");
            json_num(&b, r->inferences_per_j);
            spk__sb_printf(&b, ", \"note\": ");
            json_text(&b, r->note);
            spk__sb_printf(&b, "}");
        }
        spk__sb_printf(&b, "\n  ]\n}\n");
    } else {
        spk__fail(NULL, SPK_ERR_INVALID_ARG, "unknown format '%s' (table, csv or json)", format);
        return NULL;
    }
    return sb_done(&b);
}

/* ---------------------------------------------------------------- the chart -------------- */

static void xml_text(spk__sbuf *b, const char *s) {
    for (; *s; s++) {
        if (*s == '<') spk__sb_printf(b, "&lt;");
        else if (*s == '>') spk__sb_printf(b, "&gt;");
        else if (*s == '&') spk__sb_printf(b, "&amp;");
        else if (*s == '"') spk__sb_printf(b, "&quot;");
        else spk__sb_printf(b, "%c", *s);
    }
}

/* Joules with an SI prefix: "157 µJ", "2.04 nJ". */
static void si_joules(char *buf, size_t n, double j) {
    static const char *const pre[] = {"f", "p", "n", "\xc2\xb5", "m", "", "k"};
    int e = (int)floor(log10(j) / 3) + 5; /* 0 = femto */
    if (e < 0) e = 0;
    if (e > 6) e = 6;
    snprintf(buf, n, "%.3g %sJ", j / pow(10, 3 * (e - 5)), pre[e]);
}

static const char *bar_color(const spk_hw_energy_row *r) {
    switch (r->platform) {
    case SPK_HW_GPU: return "#4c72b0";
    case SPK_HW_45NM_MAC:
    case SPK_HW_45NM_AC: return "#8172b2";
    case SPK_HW_CHIP: break;
    }
    return r->fits == SPK_HW_YES ? "#55a868" : r->fits == SPK_HW_NO ? "#c44e52" : "#dd8452";
}

char *spk_hw_energy_svg(const spk_hw_energy_row *rows, int n_rows, const char *title) {
    if (!rows || n_rows < 0) {
        spk__fail(NULL, SPK_ERR_INVALID_ARG, "spk_hw_energy_svg: NULL rows");
        return NULL;
    }
    /* order: known energies ascending, then the unknown ones */
    int *ord = spk_malloc(sizeof(int) * (size_t)(n_rows + 1));
    if (!ord) {
        spk__fail(NULL, SPK_ERR_NOMEM, "out of memory drawing the chart");
        return NULL;
    }
    int m = 0;
    for (int i = 0; i < n_rows; i++)
        if (isfinite(rows[i].total_j) && rows[i].total_j > 0) ord[m++] = i;
    int known = m;
    for (int i = 1; i < known; i++) {
        int key = ord[i], j = i - 1;
        for (; j >= 0 && rows[ord[j]].total_j > rows[key].total_j; j--) ord[j + 1] = ord[j];
        ord[j + 1] = key;
    }
    for (int i = 0; i < n_rows; i++)
        if (!(isfinite(rows[i].total_j) && rows[i].total_j > 0)) ord[m++] = i;
    double lo = 0, hi = 1;
    if (known) {
        lo = floor(log10(rows[ord[0]].total_j));
        hi = ceil(log10(rows[ord[known - 1]].total_j));
        if (hi <= lo) hi = lo + 1;
    }
    const int left = 190, plot_w = 560, right = 250, top = 70, row_h = 24, W = left + plot_w + right;
    int H = top + row_h * n_rows + 70;
    spk__sbuf b = {0};
    spk__sb_printf(&b,
              "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
              "font-family=\"Helvetica, Arial, sans-serif\" font-size=\"13\">\n",
              W, H, W, H);
    spk__sb_printf(&b, "<defs><pattern id=\"hatch\" width=\"6\" height=\"6\" patternUnits=\"userSpaceOnUse\" patternTransform=\"rotate(45)\">"
                  "<rect width=\"6\" height=\"6\" fill=\"#c44e52\"/><line x1=\"0\" y1=\"0\" x2=\"0\" y2=\"6\" stroke=\"#fff\" "
                  "stroke-width=\"2\"/></pattern></defs>\n");
    spk__sb_printf(&b, "<rect width=\"%d\" height=\"%d\" fill=\"#ffffff\"/>\n", W, H);
    spk__sb_printf(&b, "<text x=\"%d\" y=\"24\" font-size=\"16\" font-weight=\"bold\">", left);
    xml_text(&b, title ? title : "Energy per inference");
    spk__sb_printf(&b, "</text>\n<text x=\"%d\" y=\"44\" fill=\"#555\">energy per inference (joules, log scale; shorter is better)</text>\n", left);
    /* decade grid */
    for (double e = lo; e <= hi + 1e-9; e += 1) {
        double x = left + (e - lo) / (hi - lo) * plot_w;
        spk__sb_printf(&b, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#ddd\"/>\n", x, top - 6, x, top + row_h * n_rows);
        char tick[32];
        si_joules(tick, sizeof tick, pow(10, e));
        spk__sb_printf(&b, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\" fill=\"#555\">%s</text>\n", x, top + row_h * n_rows + 18, tick);
    }
    for (int k = 0; k < m; k++) {
        const spk_hw_energy_row *r = &rows[ord[k]];
        int y = top + k * row_h;
        spk__sb_printf(&b, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">", left - 8, y + 16);
        xml_text(&b, r->name);
        spk__sb_printf(&b, "</text>\n");
        char label[96];
        if (k < known) {
            double x = left + (log10(r->total_j) - lo) / (hi - lo) * plot_w;
            int hatched = r->platform == SPK_HW_CHIP && r->fits == SPK_HW_NO;
            spk__sb_printf(&b, "<rect x=\"%d\" y=\"%d\" width=\"%.1f\" height=\"%d\" fill=\"%s\"/>\n", left, y + 4, x - left < 1 ? 1 : x - left,
                      row_h - 8, hatched ? "url(#hatch)" : bar_color(r));
            si_joules(label, sizeof label, r->total_j);
            int o = (int)strlen(label);
            if (r->platform == SPK_HW_CHIP && r->fits == SPK_HW_NO)
                snprintf(label + o, sizeof label - (size_t)o,
                         r->chips > 1 ? (r->capacity_only ? "  needs %lld chips" : "  does not fit (%lld chips by size)") : "  does not fit",
                         (long long)r->chips);
            else if (r->platform == SPK_HW_CHIP && r->fits == SPK_HW_UNKNOWN)
                snprintf(label + o, sizeof label - (size_t)o, "  fit unknown");
            else if (r->platform == SPK_HW_CHIP && isnan(r->static_j))
                snprintf(label + o, sizeof label - (size_t)o, "  (dynamic only)");
            spk__sb_printf(&b, "<text x=\"%.1f\" y=\"%d\" fill=\"#333\">", x + 6, y + 16);
            xml_text(&b, label);
            spk__sb_printf(&b, "</text>\n");
        } else if (r->total_j == 0) { /* nothing moved (a silent network) and no static share */
            spk__sb_printf(&b, "<text x=\"%d\" y=\"%d\" fill=\"#888\">0 J (no operation counted)</text>\n", left + 6, y + 16);
        } else {
            spk__sb_printf(&b, "<text x=\"%d\" y=\"%d\" fill=\"#888\">energy unknown (", left + 6, y + 16);
            xml_text(&b, r->note[0] ? r->note : "no figure in the catalog");
            spk__sb_printf(&b, ")</text>\n");
        }
    }
    int ly = top + row_h * n_rows + 44;
    const char *leg[5][2] = {{"#55a868", "chip: fits"}, {"#dd8452", "chip: fit unknown"}, {"url(#hatch)", "chip: does not fit"},
                             {"#4c72b0", "GPU (dense ANN)"}, {"#8172b2", "45 nm convention"}};
    for (int i = 0; i < 5; i++) {
        int x = left + i * 150;
        spk__sb_printf(&b, "<rect x=\"%d\" y=\"%d\" width=\"14\" height=\"14\" fill=\"%s\"/><text x=\"%d\" y=\"%d\">%s</text>\n", x, ly, leg[i][0],
                  x + 20, ly + 12, leg[i][1]);
    }
    spk__sb_printf(&b, "</svg>\n");
    spk_free(ord);
    return sb_done(&b);
}
