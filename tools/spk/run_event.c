/* run_event.c — `spk run MODEL --engine event [--stats] [--check]`: the model run sample by
 * sample on the event-driven engine, the table of what it counted, and a comparison of every
 * population's spikes with the clock-driven engine. */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void cli_print_event_stats(const spk_event_stats *st, FILE *fp) {
    fprintf(fp, "event-driven run: %lld samples, %lld steps\n", (long long)st->samples, (long long)st->steps);
    fprintf(fp, "  %-20s %-8s %10s %12s %12s %14s %14s %14s\n", "node", "kind", "neurons", "synapses", "spikes", "SOPs", "updates",
            "dense MACs");
    for (int v = 0; v < st->n_nodes; v++) {
        const spk_event_node_stats *s = &st->nodes[v];
        fprintf(fp, "  %-20s %-8s %10lld %12lld %12lld %14lld %14lld %14lld\n", s->name, spk_node_kind_name(s->kind), (long long)s->neurons,
                (long long)s->synapses, (long long)s->spikes, (long long)s->sops, (long long)s->updates, (long long)s->macs);
    }
    fprintf(fp, "  %-20s %-8s %10lld %12lld %12lld %14lld %14lld %14lld\n", "total", "", (long long)st->neurons, (long long)st->synapses,
            (long long)st->spikes, (long long)st->sops, (long long)st->updates, (long long)st->macs);
    double ns = st->samples ? (double)st->samples : 1.0;
    fprintf(fp, "per sample: %.1f input events, %.1f spikes, %.4g SOPs, %.4g neuron updates; a dense run needs %.4g MACs (%.3g SOPs per MAC)\n",
            (double)st->input_events / ns, (double)st->spikes / ns, (double)st->sops / ns, (double)st->updates / ns, (double)st->macs / ns,
            st->macs ? (double)st->sops / (double)st->macs : 0.0);
}

int cli_run_event(spk_net *net, int readout, int T, int B, size_t feat, const float *x, float *y, int stats, int check) {
    if (check && spk_net_forward(net, T, B, x)) { /* the reference: the whole batch clock-driven */
        cli_error("run: %s", spk_errmsg(net));
        return -1;
    }
    long n_spk = 0, n_bad = 0;
    int n_pop = 0, first_b = -1, first_t = -1, first_v = -1, nn = spk_net_node_count(net);
    double mem_diff = 0;
    /* per population: spikes, spikes that differ, largest membrane difference */
    long *pop_spk = calloc((size_t)nn, sizeof(long)), *pop_bad = calloc((size_t)nn, sizeof(long));
    double *pop_mem = calloc((size_t)nn, sizeof(double));
    spk_event *ev = NULL;
    float *xs = NULL;
    if (!pop_spk || !pop_bad || !pop_mem) {
        cli_error("run: out of memory");
        goto fail;
    }
    if (spk_event_create(&ev, net)) {
        cli_error("run: %s", spk_errmsg(NULL));
        goto fail;
    }
    xs = malloc(sizeof(float) * (size_t)T * feat);
    if (!xs) {
        cli_error("run: out of memory");
        goto fail;
    }
    int od[SPK_MAX_DIMS], ond = spk_net_node_shape(net, readout, od);
    size_t N = 1;
    for (int k = 0; k < ond; k++) N *= (size_t)od[k];
    for (int b = 0; b < B; b++) {
        for (int t = 0; t < T; t++) memcpy(xs + (size_t)t * feat, x + ((size_t)t * B + b) * feat, feat * sizeof(float));
        if (spk_event_run(ev, T, xs)) {
            cli_error("run: sample %d: %s", b, spk_errmsg(ev));
            goto fail;
        }
        const float *s = spk_event_signal(ev, readout, SPK_SIGNAL_OUT);
        for (int t = 0; t < T; t++) memcpy(y + ((size_t)t * B + b) * N, s + (size_t)t * N, N * sizeof(float));
        for (int v = 0; check && v < spk_net_node_count(net); v++) {
            if (spk_net_node_kind(net, v) != SPK_NODE_NEURON) continue;
            n_pop += b == 0;
            int P = spk_neuron_size(spk_net_neuron(net, v));
            const float *cs = spk_net_signal(net, v, SPK_SIGNAL_OUT), *cm = spk_net_signal(net, v, SPK_SIGNAL_MEM);
            const float *es = spk_event_signal(ev, v, SPK_SIGNAL_OUT), *em = spk_event_signal(ev, v, SPK_SIGNAL_MEM);
            for (int t = 0; t < T; t++)
                for (int i = 0; i < P; i++) {
                    size_t kc = ((size_t)t * B + b) * P + i, ke = (size_t)t * P + i;
                    pop_spk[v] += cs[kc] != 0.0f;
                    if (cs[kc] != es[ke]) {
                        pop_bad[v]++;
                        if (n_bad++ == 0) first_b = b, first_t = t, first_v = v;
                    }
                    double d = cm[kc] > em[ke] ? cm[kc] - em[ke] : em[ke] - cm[kc];
                    pop_mem[v] = d > pop_mem[v] ? d : pop_mem[v];
                }
        }
    }
    for (int v = 0; check && v < nn; v++) {
        if (spk_net_node_kind(net, v) != SPK_NODE_NEURON) continue;
        printf("check %-16s %10ld spikes, %ld differ; membranes within %.3g\n", spk_net_node_name(net, v), pop_spk[v], pop_bad[v], pop_mem[v]);
        n_spk += pop_spk[v];
        mem_diff = pop_mem[v] > mem_diff ? pop_mem[v] : mem_diff;
    }
    free(pop_spk);
    free(pop_bad);
    free(pop_mem);
    if (check) {
        printf("check against the clock-driven engine: %d populations, %ld spikes, %ld differ; membranes within %.3g\n", n_pop, n_spk, n_bad,
               mem_diff);
        if (n_bad) {
            cli_error("run: the engines disagree: first at sample %d, step %d, population '%s'", first_b, first_t,
                      spk_net_node_name(net, first_v));
            free(xs);
            spk_event_free(ev);
            return -1;
        }
    }
    if (stats) cli_print_event_stats(spk_event_get_stats(ev), stdout);
    free(xs);
    spk_event_free(ev);
    return 0;
fail: /* an error before the counts were printed: everything made so far */
    free(pop_spk);
    free(pop_bad);
    free(pop_mem);
    free(xs);
    spk_event_free(ev);
    return -1;
}
