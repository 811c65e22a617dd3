/* test_hw.c — the hardware module: the RFC 4180 reader (quoting, line numbers of malformed
 * rows), the catalog (built-in values, unknown vs zero, overrides, refusals that leave the
 * catalog unchanged, sorting), fit verdicts on hand-built networks on both sides of every
 * limit with hand-computed neurons / synapses / fan-in, and the energy arithmetic against
 * hand-computed values (and, end to end, SOPs counted by the event engine on known spikes). */
#include "testutil.h"
#include "hw/hw_impl.h"

#include <math.h>
#include <string.h>

static int has(const char *hay, const char *needle) { return hay && strstr(hay, needle) != NULL; }

/* ------------------------------------------------------------------ CSV reader --------- */
static void test_csv(void) {
    const char *t = "\xEF\xBB\xBF" "a,\"b,c\",\"d\"\"e\",\"multi\nline\"\r\n\r\nx,,z,\"\"\n\nlast,row,\"\",end,";
    spk__csv c;
    CHECK_OK(spk__csv_parse(&c, t, strlen(t), "t.csv"));
    CHECK(c.n_rows == 3);
    if (c.n_rows == 3) {
        CHECK(spk__csv_nfields(&c, 0) == 4);
        char **r = spk__csv_row(&c, 0);
        CHECK(!strcmp(r[0], "a") && !strcmp(r[1], "b,c") && !strcmp(r[2], "d\"e") && !strcmp(r[3], "multi\nline"));
        r = spk__csv_row(&c, 1);
        CHECK(spk__csv_nfields(&c, 1) == 4 && !strcmp(r[0], "x") && !r[1][0] && !strcmp(r[2], "z") && !r[3][0]);
        CHECK(spk__csv_nfields(&c, 2) == 5 && !spk__csv_row(&c, 2)[4][0]); /* trailing comma: an empty last field */
        CHECK(c.row_line[0] == 1 && c.row_line[1] == 4 && c.row_line[2] == 6); /* the quoted line break counts */
    }
    spk__csv_free(&c);
    struct {
        const char *text, *where, *what;
    } bad[] = {
        {"a,b\nc,d\"e\n", "t.csv:2:", "double quote inside unquoted field 2"},
        {"a,b\n\"open,\nstill\n", "t.csv:2:", "never closed"},
        {"a,\"b\"c\n", "t.csv:1:", "after the closing quote"},
        {"a,b\rc\n", "t.csv:1:", "carriage return"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        spk_status st = spk__csv_parse(&c, bad[i].text, strlen(bad[i].text), "t.csv");
        CHECK_MSG(st == SPK_ERR_FORMAT, "case %zu", i);
        CHECK_MSG(has(spk_errmsg(NULL), bad[i].where) && has(spk_errmsg(NULL), bad[i].what), "case %zu: %s", i, spk_errmsg(NULL));
    }
}

/* ------------------------------------------------------------------ catalog ------------ */
static void test_catalog(void) {
    spk_hw_catalog *c;
    CHECK_OK(spk_hw_catalog_create(&c));
    if (!c) return;
    CHECK(spk_hw_catalog_count(c) == 15);
    const spk_chip *odin = spk_hw_catalog_chip(c, spk_hw_catalog_find(c, "odin"));
    CHECK(odin && odin->neurons == 256 && odin->synapses == 65000 && odin->j_per_sop == 8.40e-12 && odin->w_per_synapse == 7.34e-9);
    CHECK(odin && !strcmp(odin->on_chip_learning, "STDP") && !odin->software[0] && odin->clock_mhz == 75 && !odin->clock_async);
    const spk_chip *tn = spk_hw_catalog_chip(c, spk_hw_catalog_find(c, "TrueNorth"));
    CHECK(tn && tn->clock_async && isnan(tn->clock_mhz) && !strcmp(tn->synapse_model, "CuBa,Delta"));
    const spk_chip *sne = spk_hw_catalog_chip(c, spk_hw_catalog_find(c, "SNE"));
    CHECK(sne && isnan(sne->synapses) && isnan(sne->w_per_synapse) && !strcmp(sne->maker, "Zurich,Bologna"));
    const spk_chip *bss = spk_hw_catalog_chip(c, spk_hw_catalog_find(c, "BrainScaleS-2"));
    CHECK(bss && isnan(bss->clock_mhz) && !bss->clock_async && !strcmp(bss->software, "PyNN,hxTorch"));
    CHECK(spk_hw_catalog_find(c, "no such chip") == -1);

    /* add and override: columns the file lacks keep their values; empty cells are unknown */
    const char *user = "name,j_per_sop,w_per_synapse,neurons\n"
                       "odin,1e-12,,\n"
                       "\"My,Chip\",2.5e-12,0,1000\n";
    CHECK_OK(spk_hw_catalog_merge_text(c, user, strlen(user), "user.csv"));
    CHECK(spk_hw_catalog_count(c) == 16);
    odin = spk_hw_catalog_chip(c, spk_hw_catalog_find(c, "ODIN"));
    CHECK(odin && odin->j_per_sop == 1e-12 && isnan(odin->w_per_synapse) && isnan(odin->neurons) && odin->synapses == 65000 &&
          !strcmp(odin->maker, "Louvain") && !strcmp(odin->origin, "user.csv:2"));
    const spk_chip *my = spk_hw_catalog_chip(c, spk_hw_catalog_find(c, "my,chip"));
    CHECK(my && my->w_per_synapse == 0.0 && !isnan(my->w_per_synapse) && my->neurons == 1000 && isnan(my->synapses) && !my->maker[0]);

    /* refusals name the line and leave the catalog as it was */
    struct {
        const char *text, *msg;
    } bad[] = {
        {"name,neurons\nA,10\nB,1,2\n", "bad.csv:3: 3 fields, the header has 2"},
        {"name,neurons\nA,0\n", "bad.csv:2: neurons = 0 must be > 0"},
        {"name,j_per_sop\nA,-1e-12\n", "bad.csv:2: j_per_sop = -1e-12 must be >= 0"},
        {"name,neurons\nA,many\n", "bad.csv:2: neurons = 'many' is not a number"},
        {"name,clock_mhz\nA,fast\n", "bad.csv:2: clock_mhz = 'fast' is not a number (nor 'async')"},
        {"name,announced\nA,2023-13-01\n", "bad.csv:2: announced = '2023-13-01'"},
        {"name,neuronz\nA,1\n", "bad.csv:1: unknown column 'neuronz'"},
        {"neurons\n5\n", "bad.csv:1: no 'name' column"},
        {"name,neurons,Neurons\nA,1,2\n", "bad.csv:1: column 'Neurons' appears twice"},
        {"name,maker\n\"A\",\"two\nlines\"\nB,x\nA,y\n", "bad.csv:5: chip 'A' is already defined on line 2"},
        {"name,maker\n,x\n", "bad.csv:2: the name is empty"},
        {"name,software\nA,\"unclosed\n", "bad.csv:2: a quoted field opened on line 2 is never closed"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        spk_status st = spk_hw_catalog_merge_text(c, bad[i].text, strlen(bad[i].text), "bad.csv");
        CHECK_MSG(st == SPK_ERR_FORMAT, "case %zu", i);
        CHECK_MSG(has(spk_errmsg(c), bad[i].msg) && has(spk_errmsg(NULL), bad[i].msg), "case %zu: '%s' lacks '%s'", i, spk_errmsg(c),
                  bad[i].msg);
        CHECK(spk_hw_catalog_count(c) == 16 && spk_hw_catalog_find(c, "A") == -1);
    }
    CHECK(spk_hw_catalog_merge_file(c, "/nonexistent/cat.csv") == SPK_ERR_IO && has(spk_errmsg(c), "/nonexistent/cat.csv"));
    spk_hw_catalog_free(c);

    /* sorting: numbers by value, unknown last either way, stable */
    CHECK_OK(spk_hw_catalog_create(&c));
    CHECK_OK(spk_hw_catalog_sort(c, "neurons"));
    CHECK(!strcmp(spk_hw_catalog_chip(c, 0)->name, "ODIN") && !strcmp(spk_hw_catalog_chip(c, 1)->name, "ReckOn") &&
          !strcmp(spk_hw_catalog_chip(c, 2)->name, "THOR") && !strcmp(spk_hw_catalog_chip(c, 14)->name, "Darwin-3"));
    CHECK_OK(spk_hw_catalog_sort(c, "-synapses"));
    CHECK(!strcmp(spk_hw_catalog_chip(c, 0)->name, "TrueNorth") && !strcmp(spk_hw_catalog_chip(c, 1)->name, "NorthPole"));
    CHECK(isnan(spk_hw_catalog_chip(c, 13)->synapses) && isnan(spk_hw_catalog_chip(c, 14)->synapses));
    CHECK_OK(spk_hw_catalog_sort(c, "clock_mhz"));
    CHECK(spk_hw_catalog_chip(c, 0)->clock_mhz == 1.4 && spk_hw_catalog_chip(c, 10)->clock_async &&
          !strcmp(spk_hw_catalog_chip(c, 14)->name, "BrainScaleS-2"));
    CHECK_OK(spk_hw_catalog_sort(c, "name"));
    CHECK(!strcmp(spk_hw_catalog_chip(c, 0)->name, "ANP-I") && !strcmp(spk_hw_catalog_chip(c, 14)->name, "uBrain"));
    CHECK(spk_hw_catalog_sort(c, "speed") == SPK_ERR_INVALID_ARG && has(spk_errmsg(c), "no column 'speed'"));
    spk_hw_catalog_free(c);
}

/* ------------------------------------------------------------------ fit ---------------- */

/* input [4] -> dense 4x3 -> lif(3) -> dense 3x2 -> lif(2): 5 neurons, 18 synapses, fan-in 4 */
static spk_net *mlp(spk_neuron_config c1) {
    spk_net *net;
    spk_net_create(&net);
    spk_neuron_config cfg = spk_neuron_config_default();
    int in, d1, l1, d2, l2;
    spk_net_add_input(net, "in", 1, (int[]){4}, &in);
    spk_net_add_dense(net, "fc1", 4, 3, 1, &d1);
    spk_net_add_neuron(net, "lif1", &c1, 1, (int[]){3}, &l1);
    spk_net_add_dense(net, "fc2", 3, 2, 1, &d2);
    spk_net_add_neuron(net, "lif2", &cfg, 1, (int[]){2}, &l2);
    spk_net_connect(net, in, d1);
    spk_net_connect(net, d1, l1);
    spk_net_connect(net, l1, d2);
    spk_net_connect(net, d2, l2);
    if (spk_net_build(net, (spk_rng){1, 0})) {
        fprintf(stderr, "build: %s\n", spk_errmsg(net));
        spk_net_free(net);
        return NULL;
    }
    return net;
}

static spk_chip chip(double neurons, double synapses, const char *model, const char *syn_model, const char *learn) {
    spk_chip c;
    memset(&c, 0, sizeof c);
    snprintf(c.name, sizeof c.name, "X");
    c.neurons = neurons;
    c.synapses = synapses;
    snprintf(c.neuron_model, sizeof c.neuron_model, "%s", model);
    snprintf(c.synapse_model, sizeof c.synapse_model, "%s", syn_model);
    snprintf(c.on_chip_learning, sizeof c.on_chip_learning, "%s", learn);
    c.process_nm = c.clock_mhz = c.j_per_sop = c.w_per_synapse = NAN;
    return c;
}

static void test_fit_mlp(void) {
    spk_net *net = mlp(spk_neuron_config_default());
    CHECK(net != NULL);
    if (!net) return;
    spk_hw_needs nd;
    CHECK_OK(spk_hw_model_needs(net, 0, &nd));
    CHECK(nd.neurons == 5 && nd.synapses == 18 && nd.max_fan_in == 4 && !strcmp(nd.fan_in_node, "lif1"));
    CHECK(nd.features == 0 && !nd.nonlocal[0] && !nd.input_note[0]);
    spk_hw_fit f;
    /* exactly at every limit: 5 neurons, 20 synapses (4 per neuron >= fan-in 4) */
    spk_chip c = chip(5, 20, "LIF", "", "no");
    CHECK_OK(spk_hw_fit_chip(&c, &nd, NULL, &f));
    CHECK(f.verdict == SPK_HW_YES && f.chips == 1 && !f.capacity_only);
    for (int k = 0; k < SPK_HW_CHECK_COUNT; k++) CHECK_MSG(f.check[k] == SPK_HW_YES, "check %d: %s", k, f.why[k]);
    /* one neuron short: needs 2 chips, nothing else wrong (fan-in: 20/4 = 5 >= 4) */
    c = chip(4, 20, "LIF", "", "no");
    CHECK_OK(spk_hw_fit_chip(&c, &nd, NULL, &f));
    CHECK(f.verdict == SPK_HW_NO && f.check[SPK_HW_CHECK_NEURONS] == SPK_HW_NO && f.chips == 2 && f.capacity_only);
    CHECK_MSG(has(f.why[SPK_HW_CHECK_NEURONS], "5 neurons > 4"), "%s", f.why[SPK_HW_CHECK_NEURONS]);
    /* synapses 18 on chips of 7: 3 chips; fan-in 7/5 = 1.4 < 4 fails too, so not capacity only */
    c = chip(5, 7, "LIF", "", "no");
    CHECK_OK(spk_hw_fit_chip(&c, &nd, NULL, &f));
    CHECK(f.check[SPK_HW_CHECK_SYNAPSES] == SPK_HW_NO && f.check[SPK_HW_CHECK_FAN_IN] == SPK_HW_NO && f.chips == 3 && !f.capacity_only);
    CHECK_MSG(has(f.why[SPK_HW_CHECK_FAN_IN], "largest fan-in 4 ('lif1') > 1.4 synapses per neuron"), "%s", f.why[SPK_HW_CHECK_FAN_IN]);
    /* fan-in just below: 19.99 / 5 < 4 */
    c = chip(5, 19.99, "LIF", "", "no");
    CHECK_OK(spk_hw_fit_chip(&c, &nd, NULL, &f));
    CHECK(f.check[SPK_HW_CHECK_FAN_IN] == SPK_HW_NO && f.check[SPK_HW_CHECK_SYNAPSES] == SPK_HW_YES);
    /* unknown capacity: unknown, and chips from the known figure */
    c = chip(2, NAN, "LIF", "", "no");
    CHECK_OK(spk_hw_fit_chip(&c, &nd, NULL, &f));
    CHECK(f.check[SPK_HW_CHECK_SYNAPSES] == SPK_HW_UNKNOWN && f.check[SPK_HW_CHECK_FAN_IN] == SPK_HW_UNKNOWN && f.verdict == SPK_HW_NO &&
          f.chips == 3);
    c = chip(NAN, NAN, "LIF", "", "no");
    CHECK_OK(spk_hw_fit_chip(&c, &nd, NULL, &f));
    CHECK(f.verdict == SPK_HW_UNKNOWN && f.chips == 0);
    /* neuron model unknown / not known to spk */
    c = chip(100, 1000, "", "", "no");
    CHECK_OK(spk_hw_fit_chip(&c, &nd, NULL, &f));
    CHECK(f.verdict == SPK_HW_UNKNOWN && f.check[SPK_HW_CHECK_NEURON_MODEL] == SPK_HW_UNKNOWN);
    /* on-chip learning, asked */
    struct {
        const char *chip_rule, *want;
        spk_hw_verdict v;
    } L[] = {{"STDP", "stdp", SPK_HW_YES}, {"STDP", "e-prop", SPK_HW_NO}, {"e-prop", "EPROP", SPK_HW_YES}, {"no", "stdp", SPK_HW_NO},
             {"yes", "bptt", SPK_HW_YES}, {"programmable", "e_prop", SPK_HW_YES}, {"", "stdp", SPK_HW_UNKNOWN}, {"S-TP", "stdp", SPK_HW_NO},
             {"STDP,e-prop", "e-prop", SPK_HW_YES}};
    for (size_t i = 0; i < sizeof L / sizeof L[0]; i++) {
        c = chip(100, 1000, "LIF", "", L[i].chip_rule);
        CHECK_OK(spk_hw_fit_chip(&c, &nd, L[i].want, &f));
        CHECK_MSG(f.check[SPK_HW_CHECK_LEARNING] == L[i].v && f.verdict == L[i].v, "chip '%s' asked '%s': %s", L[i].chip_rule, L[i].want,
                  f.why[SPK_HW_CHECK_LEARNING]);
    }
    spk_net_free(net);
}

static void test_fit_features(void) {
    struct {
        spk_neuron_kind kind;
        spk_fire_kind fire;
        unsigned bit;
        spk_hw_verdict lif, lif_cuba, adex_cuba, prog; /* LIF with synapse model "", LIF "CuBa,Delta", AdEx-IF, programmable */
    } F[] = {
        {SPK_NEURON_LIF, SPK_FIRE_HEAVISIDE, 0, SPK_HW_YES, SPK_HW_YES, SPK_HW_YES, SPK_HW_YES},
        {SPK_NEURON_CUBA, SPK_FIRE_HEAVISIDE, SPK_HW_NEED_CUBA, SPK_HW_UNKNOWN, SPK_HW_YES, SPK_HW_YES, SPK_HW_YES},
        {SPK_NEURON_ALIF, SPK_FIRE_HEAVISIDE, SPK_HW_NEED_ADAPTIVE, SPK_HW_NO, SPK_HW_NO, SPK_HW_NO, SPK_HW_YES},
        {SPK_NEURON_LIF, SPK_FIRE_GRADED, SPK_HW_NEED_GRADED, SPK_HW_NO, SPK_HW_NO, SPK_HW_NO, SPK_HW_YES},
        {SPK_NEURON_LIF, SPK_FIRE_GAUSS, SPK_HW_NEED_NOISE, SPK_HW_UNKNOWN, SPK_HW_UNKNOWN, SPK_HW_UNKNOWN, SPK_HW_YES},
    };
    for (size_t i = 0; i < sizeof F / sizeof F[0]; i++) {
        spk_neuron_config cfg = spk_neuron_config_default();
        cfg.kind = F[i].kind;
        cfg.fire = F[i].fire;
        spk_net *net = mlp(cfg);
        CHECK(net != NULL);
        if (!net) continue;
        spk_hw_needs nd;
        CHECK_OK(spk_hw_model_needs(net, 0, &nd));
        CHECK_MSG(nd.features == F[i].bit, "case %zu: features %u", i, nd.features);
        spk_chip cs[4] = {chip(100, 1000, "LIF", "", "no"), chip(100, 1000, "LIF", "CuBa,Delta", "no"),
                          chip(100, 1000, "AdEx-IF", "CuBa,Delta", "no"), chip(100, 1000, "programmable", "", "no")};
        spk_hw_verdict want[4] = {F[i].lif, F[i].lif_cuba, F[i].adex_cuba, F[i].prog};
        for (int k = 0; k < 4; k++) {
            spk_hw_fit f;
            CHECK_OK(spk_hw_fit_chip(&cs[k], &nd, NULL, &f));
            CHECK_MSG(f.check[SPK_HW_CHECK_NEURON_MODEL] == want[k], "case %zu chip %d: %s", i, k, f.why[SPK_HW_CHECK_NEURON_MODEL]);
            if (F[i].bit) CHECK_MSG(want[k] == SPK_HW_YES || has(f.why[SPK_HW_CHECK_NEURON_MODEL], "'lif1'"), "%s", f.why[SPK_HW_CHECK_NEURON_MODEL]);
        }
        spk_net_free(net);
    }
}

/* input [1,5,5] -> conv 1->2 k3 pad1 -> POOL k2 -> lif [2,2,2] (-> maxpool k2 -> flatten -> fc -> out)
 * conv synapses without padding taps: per axis the taps land 4 + 5 + 4 = 13 times, so
 * 2 * 13 * 13 = 338 (not 2 * 9 * 25 = 450). The pooled neuron (1,1,1) sees the conv outputs
 * rows/cols 2..3, which read input rows/cols 1..4: fan-in 16 (not 4 * 9 = 36). */
static void test_fit_conv(int pool_kind, int spike_maxpool) {
    spk_net *net;
    spk_net_create(&net);
    spk_neuron_config cfg = spk_neuron_config_default();
    int in, cv, pl, lf, last;
    spk_net_add_input(net, "in", 3, (int[]){1, 5, 5}, &in);
    spk_net_add_conv(net, "conv", 2, 1, 2, (int[]){3, 3}, NULL, (int[]){1, 1}, NULL, 1, 1, &cv);
    spk_net_add_pool(net, "pool", pool_kind, 2, (int[]){2, 2}, NULL, NULL, &pl);
    spk_net_add_neuron(net, "lif", &cfg, 3, (int[]){2, 2, 2}, &lf);
    spk_net_connect(net, in, cv);
    spk_net_connect(net, cv, pl);
    spk_net_connect(net, pl, lf);
    last = lf;
    if (spike_maxpool) {
        int mp, fl, d, l2;
        spk_net_add_pool(net, "spool", 2, 2, (int[]){2, 2}, NULL, NULL, &mp);
        spk_net_add_flatten(net, "flat", &fl);
        spk_net_add_dense(net, "fc", 2, 3, 0, &d);
        spk_net_add_neuron(net, "out", &cfg, 1, (int[]){3}, &l2);
        spk_net_connect(net, last, mp);
        spk_net_connect(net, mp, fl);
        spk_net_connect(net, fl, d);
        spk_net_connect(net, d, l2);
    }
    CHECK_OK(spk_net_build(net, (spk_rng){2, 0}));
    spk_hw_needs nd;
    CHECK_OK(spk_hw_model_needs(net, 0, &nd));
    /* + the pool's (input, window) pairs: 2 channels x 4 windows x 4 = 32; the spike max pool
     * [2,2,2] -> [2,1,1]: 2 x 4 = 8, and fc 2 x 3 = 6 */
    CHECK_MSG(nd.synapses == 338 + 32 + (spike_maxpool ? 8 + 6 : 0), "synapses %lld", (long long)nd.synapses);
    CHECK_MSG(nd.max_fan_in == 16 && !strcmp(nd.fan_in_node, "lif"), "fan-in %lld (%s)", (long long)nd.max_fan_in, nd.fan_in_node);
    CHECK(nd.neurons == 8 + (spike_maxpool ? 3 : 0));
    spk_event *ev;
    CHECK_OK(spk_event_create(&ev, net)); /* the engine counts the same synapses */
    if (ev) CHECK(spk_event_get_stats(ev)->synapses == nd.synapses && spk_event_get_stats(ev)->neurons == nd.neurons);
    spk_event_free(ev);
    if (pool_kind == 2) CHECK_MSG(has(nd.nonlocal, "max pooling 'pool'"), "nonlocal '%s'", nd.nonlocal);
    else CHECK_MSG(!nd.nonlocal[0], "nonlocal '%s'", nd.nonlocal); /* a max pool of spikes is event-driven */
    spk_chip c = chip(100, 1000, "programmable", "", "no");
    spk_hw_fit f;
    CHECK_OK(spk_hw_fit_chip(&c, &nd, NULL, &f));
    CHECK(f.check[SPK_HW_CHECK_OPS] == (pool_kind == 2 ? SPK_HW_NO : SPK_HW_YES));
    CHECK_OK(spk_hw_model_needs(net, 1, &nd));
    CHECK_MSG(has(nd.input_note, "'conv'"), "%s", nd.input_note);
    spk_net_free(net);
}

/* ------------------------------------------------------------------ energy ------------- */

static int rel_eq(double a, double b) { return a == b || fabs(a - b) <= 1e-14 * fabs(b); }

static void test_energy(void) {
    spk_hw_catalog *cat;
    CHECK_OK(spk_hw_catalog_create(&cat));
    const char *user = "name,j_per_sop,w_per_synapse\nZero,2e-12,0\nNone,,1e-9\n";
    CHECK_OK(spk_hw_catalog_merge_text(cat, user, strlen(user), "u.csv"));
    spk_hw_counts k = {0};
    k.neurons = 30;
    k.synapses = 200;
    k.steps = 10;
    k.step_s = 1e-3;
    k.spikes = 40;
    k.sops = 1000;
    k.macs = 200;
    int n = spk_hw_catalog_count(cat), nr = 0;
    spk_hw_energy_row rows[32];
    CHECK(spk_hw_energy(cat, &k, NULL, rows, n + 4, &nr) == SPK_ERR_INVALID_ARG);
    CHECK_OK(spk_hw_energy(cat, &k, NULL, rows, 32, &nr));
    CHECK(nr == n + 5);
    const spk_hw_energy_row *odin = &rows[spk_hw_catalog_find(cat, "ODIN")];
    /* 1000 SOPs x 8.4 pJ = 8.4 nJ; static 7.34e-9 W x 200 synapses x 10 x 1 ms = 14.68 nJ */
    CHECK(rel_eq(odin->dynamic_j, 8.4e-9) && rel_eq(odin->static_j, 1.468e-8) && rel_eq(odin->total_j, 2.308e-8));
    CHECK(rel_eq(odin->inferences_per_j, 1 / 2.308e-8));
    const spk_hw_energy_row *l2 = &rows[spk_hw_catalog_find(cat, "Loihi-2")]; /* W/synapse unknown: dynamic only */
    CHECK(rel_eq(l2->dynamic_j, 1.61e-8) && isnan(l2->static_j) && rel_eq(l2->total_j, 1.61e-8) && has(l2->note, "unknown"));
    const spk_hw_energy_row *z = &rows[spk_hw_catalog_find(cat, "Zero")]; /* W/synapse 0: a known zero */
    CHECK(z->static_j == 0.0 && rel_eq(z->total_j, 2e-9) && !has(z->note, "unknown"));
    const spk_hw_energy_row *none = &rows[spk_hw_catalog_find(cat, "None")]; /* J/SOP unknown */
    CHECK(isnan(none->dynamic_j) && isnan(none->total_j) && isnan(none->inferences_per_j));
    /* GPUs: 400 FLOPs x W / (FLOP/s); 45 nm: 200 MACs x 4.6 pJ, 1000 ACs x 0.9 pJ */
    CHECK(!strcmp(rows[n].name, "GPU V100") && rel_eq(rows[n].ops, 400) && rel_eq(rows[n].total_j, 400 * (300 / 125e12)));
    CHECK(!strcmp(rows[n + 1].name, "GPU A100") && rel_eq(rows[n + 1].total_j, 400 * (400 / 312e12)));
    CHECK(!strcmp(rows[n + 2].name, "GPU H100") && rel_eq(rows[n + 2].total_j, 400 * (700 / 989.5e12)));
    CHECK(rows[n + 3].platform == SPK_HW_45NM_MAC && rel_eq(rows[n + 3].total_j, 9.2e-10));
    CHECK(rows[n + 4].platform == SPK_HW_45NM_AC && rel_eq(rows[n + 4].total_j, 9e-10));
    /* the printed digits */
    char *csv = spk_hw_energy_format(rows, nr, &k, "csv");
    CHECK(has(csv, "\nODIN,chip,unknown,0,1000,8.4e-12,8.4e-09,1.468e-08,2.308e-08,4.33276e+07,"));
    CHECK(has(csv, "\nLoihi-2,chip,unknown,0,1000,1.61e-11,1.61e-08,,1.61e-08,6.21118e+07,"));
    CHECK(has(csv, "\nGPU V100,gpu,yes,1,400,2.4e-12,9.6e-10,0,9.6e-10,1.04167e+09,"));
    spk_free(csv);
    char *json = spk_hw_energy_format(rows, nr, &k, "json");
    CHECK(has(json, "\"name\": \"Loihi-2\", \"kind\": \"chip\", \"fits\": \"unknown\", \"chips\": 0, \"ops\": 1000, \"j_per_op\": 1.61e-11, "
                    "\"dynamic_j\": 1.61e-08, \"static_j\": null"));
    spk_free(json);
    char *tab = spk_hw_energy_format(rows, nr, &k, "table");
    CHECK(has(tab, "2.308e-08") && has(tab, "V100 SXM2: 125 TFLOP/s"));
    spk_free(tab);
    CHECK(spk_hw_energy_format(rows, nr, &k, "xml") == NULL && has(spk_errmsg(NULL), "unknown format 'xml'"));
    char *svg = spk_hw_energy_svg(rows, nr, "t <&>");
    CHECK(has(svg, "<svg") && has(svg, "t &lt;&amp;&gt;") && has(svg, ">ODIN</text>") && has(svg, "energy unknown") && has(svg, "</svg>"));
    spk_free(svg);
    /* 300 of the 1000 SOPs on real-valued input: 700 x 0.9 pJ + 300 x 4.6 pJ = 2.01 nJ on the
     * 45 nm SNN row; the other rows do not change */
    k.sop_macs = 300;
    CHECK_OK(spk_hw_energy(cat, &k, NULL, rows, 32, &nr));
    CHECK(rel_eq(rows[n + 4].total_j, 2.01e-9) && rel_eq(rows[n + 4].j_per_op, 2.01e-12) && has(rows[n + 4].note, "300 SOPs"));
    CHECK(rel_eq(rows[n + 3].total_j, 9.2e-10) && rel_eq(rows[spk_hw_catalog_find(cat, "ODIN")].total_j, 2.308e-8));
    k.sop_macs = 1001;
    CHECK(spk_hw_energy(cat, &k, NULL, rows, 32, &nr) == SPK_ERR_INVALID_ARG);
    k.sop_macs = 0;
    /* a fit that fails on size alone says how many chips */
    spk_hw_fit fits[40];
    memset(fits, 0, sizeof fits);
    int io = spk_hw_catalog_find(cat, "ODIN");
    fits[io].verdict = SPK_HW_NO;
    fits[io].chips = 3;
    fits[io].capacity_only = 1;
    CHECK_OK(spk_hw_energy(cat, &k, fits, rows, 32, &nr));
    tab = spk_hw_energy_format(rows, nr, &k, "table");
    CHECK(has(tab, "  ODIN             no: needs 3 "));
    spk_free(tab);
    svg = spk_hw_energy_svg(rows, nr, "t");
    CHECK(has(svg, "needs 3 chips"));
    spk_free(svg);
    /* a silent network: no SOP, so Loihi-2 (W/synapse unknown) costs 0 J, infinitely many per J */
    spk_hw_counts z0 = k;
    z0.sops = z0.spikes = 0;
    CHECK_OK(spk_hw_energy(cat, &z0, NULL, rows, 32, &nr));
    CHECK(rows[spk_hw_catalog_find(cat, "Loihi-2")].total_j == 0 && isinf(rows[spk_hw_catalog_find(cat, "Loihi-2")].inferences_per_j));
    CHECK(rel_eq(rows[spk_hw_catalog_find(cat, "ODIN")].total_j, 1.468e-8)); /* the static share alone */
    svg = spk_hw_energy_svg(rows, nr, "t");
    CHECK(has(svg, "0 J (no operation counted)"));
    spk_free(svg);
    k.step_s = 0;
    CHECK(spk_hw_energy(cat, &k, NULL, rows, 32, &nr) == SPK_ERR_INVALID_ARG);
    k.step_s = 1e-3;
    k.sops = NAN;
    CHECK(spk_hw_energy(cat, &k, NULL, rows, 32, &nr) == SPK_ERR_INVALID_ARG);
    spk_hw_catalog_free(cat);
}

/* SOPs of known spikes, counted by the event engine: input events x fan-out. */
static void test_sops_known_spikes(void) {
    spk_net *net;
    spk_net_create(&net);
    spk_neuron_config cfg = spk_neuron_config_default();
    int in, d1, l1, d2, l2;
    spk_net_add_input(net, "in", 1, (int[]){2}, &in);
    spk_net_add_dense(net, "fc1", 2, 3, 0, &d1);
    spk_net_add_neuron(net, "lif1", &cfg, 1, (int[]){3}, &l1);
    spk_net_add_dense(net, "fc2", 3, 4, 0, &d2);
    spk_net_add_neuron(net, "lif2", &cfg, 1, (int[]){4}, &l2);
    spk_net_connect(net, in, d1);
    spk_net_connect(net, d1, l1);
    spk_net_connect(net, l1, d2);
    spk_net_connect(net, d2, l2);
    CHECK_OK(spk_net_build(net, (spk_rng){3, 0}));
    size_t nw;
    float *w1 = spk_net_param(net, d1, "weight", &nw);
    for (size_t i = 0; i < nw; i++) w1[i] = 1.5f; /* every input spike makes every lif1 neuron fire the same step */
    float *w2 = spk_net_param(net, d2, "weight", &nw);
    for (size_t i = 0; i < nw; i++) w2[i] = 0.25f;
    /* T = 4: input spikes at (t0: in0), (t1: in0, in1), (t3: in1) -> 4 events -> 4 x 3 = 12 SOPs in fc1;
     * lif1 (beta 0.9, thr 1, soft reset delayed): u0 = 1.5 fire; u1 = 0.9*1.5 + 3 - 1 = 3.35 fire;
     * u2 = 0.9*3.35 - 1 = 2.015 fire; u3 = 0.9*2.015 + 1.5 - 1 = 2.3135 fire: 4 steps x 3 neurons =
     * 12 spikes -> 12 x 4 = 48 SOPs in fc2 */
    float x[8] = {1, 0, 1, 1, 0, 0, 0, 1};
    spk_event *ev;
    CHECK_OK(spk_event_create(&ev, net));
    if (ev) {
        CHECK_OK(spk_event_run(ev, 4, x));
        const spk_event_stats *st = spk_event_get_stats(ev);
        CHECK_MSG(st->nodes[d1].sops == 12 && st->nodes[d2].sops == 48 && st->spikes == 12 + st->nodes[l2].spikes,
                  "fc1 %lld fc2 %lld spikes %lld", (long long)st->nodes[d1].sops, (long long)st->nodes[d2].sops, (long long)st->spikes);
        spk_hw_needs nd;
        CHECK_OK(spk_hw_model_needs(net, 0, &nd));
        CHECK(st->synapses == nd.synapses && st->neurons == nd.neurons && nd.synapses == 18);
        /* per inference (one sample): the same counts; with a real-valued input fc1's 12 SOPs are MACs */
        spk_hw_layer_counts L[8];
        spk_hw_counts k;
        CHECK_OK(spk_hw_counts_from_events(net, st, 0, 1e-3, &k, L));
        CHECK(k.sops == 60 && k.sop_macs == 0 && k.steps == 4 && k.synapses == 18 && k.neurons == 7 && k.macs == 18);
        CHECK(k.n_layers == 4 && !strcmp(L[0].name, "fc1") && L[0].sops == 12 && L[0].synapses == 6 && !strcmp(L[1].name, "lif1") &&
              L[1].spikes == 12 && L[1].neurons == 3 && L[1].synapses == 0);
        CHECK_OK(spk_hw_counts_from_events(net, st, 1, 1e-3, &k, L));
        CHECK(k.sop_macs == 12);
        CHECK_OK(spk_event_run(ev, 4, x)); /* two samples: the same averages */
        CHECK_OK(spk_hw_counts_from_events(net, spk_event_get_stats(ev), 0, 1e-3, &k, L));
        CHECK(k.sops == 60 && k.steps == 4 && L[1].spikes == 12);
        spk_event_free(ev);
    }
    spk_net_free(net);
}


/* Out of memory anywhere is a returned code (or NULL text), never a crash or a leak. */
static void test_oom(void) {
    spk_net *net = mlp(spk_neuron_config_default());
    CHECK(net != NULL);
    if (!net) return;
    spk_allocator al = {tu_count_malloc, NULL, tu_count_free, NULL};
    int saw_nomem = 0, other = 0, leaks = 0, full = 0;
    const char *user = "name,neurons,maker\nA,10,\"x,y\"\n";
    for (int k = 0; k < 40; k++) {
        spk_set_allocator(&al);
        tu_n_alloc = tu_n_free = 0;
        tu_fail_after = k;
        spk_hw_catalog *c = NULL;
        spk_status st = spk_hw_catalog_create(&c);
        if (!st) st = spk_hw_catalog_merge_text(c, user, strlen(user), "u.csv");
        spk_hw_needs nd;
        if (!st) st = spk_hw_model_needs(net, 1, &nd);
        spk_hw_energy_row rows[32];
        int nr = 0;
        spk_hw_counts cnt = {5, 18, 4, 1e-3, 3, 20, 18, NULL, 0, 0};
        if (!st) st = spk_hw_energy(c, &cnt, NULL, rows, 32, &nr);
        char *t = NULL, *svg = NULL;
        if (!st) {
            t = spk_hw_energy_format(rows, nr, &cnt, "json");
            svg = t ? spk_hw_energy_svg(rows, nr, "oom") : NULL;
            if (!t || !svg) st = SPK_ERR_NOMEM;
        }
        spk_free(t);
        spk_free(svg);
        spk_hw_catalog_free(c);
        tu_fail_after = -1;
        spk_set_allocator(NULL);
        if (st == SPK_ERR_NOMEM) saw_nomem++;
        else if (st == SPK_OK) full++;
        else other++;
        if (tu_n_alloc != tu_n_free) leaks++;
    }
    CHECK_MSG(saw_nomem > 5 && full > 0 && other == 0 && leaks == 0, "nomem %d, ok %d, other %d, leaking rounds %d", saw_nomem, full, other,
              leaks);
    spk_net_free(net);
}

int main(void) {
    test_csv();
    test_catalog();
    test_fit_mlp();
    test_fit_features();
    test_fit_conv(0, 0);
    test_fit_conv(2, 0);
    test_fit_conv(0, 1);
    test_energy();
    test_sops_known_spikes();
    test_oom();
    return tu_finish("test_hw");
}
