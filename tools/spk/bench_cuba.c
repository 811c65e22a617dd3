/* bench_cuba.c — `spk bench cuba`: the Vogels-Abbott CUBA network (4000 neurons, 10 s of
 * biological time) on the event-driven engine, beside Brian2's C++ standalone binary of the
 * same network (shared/peers/brian_cuba.py) measured in the same run: wall times, mean
 * rates and the CV of the inter-spike intervals. One human line and one JSON line.
 *
 * The peer is generated and compiled once (not timed), then its binary is timed on its own,
 * as spk is: network construction plus simulation. Its spikes are read back from the
 * binary's result files for the CV. Without Brian2 (Debian's python3-brian) the peer fields
 * are left out. */
#define _POSIX_C_SOURCE 200809L /* mkdtemp, popen */
#include "cli.h"

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median3(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_d);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* Read all of a result file of the peer whose name starts with `prefix` in dir. */
static void *read_result(const char *dir, const char *prefix, size_t *bytes) {
    DIR *d = opendir(dir);
    if (!d) return NULL;
    struct dirent *e;
    char path[2048] = "";
    while ((e = readdir(d)))
        if (!strncmp(e->d_name, prefix, strlen(prefix))) snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
    closedir(d);
    if (!*path) return NULL;
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    void *buf = malloc(n > 0 ? (size_t)n : 1);
    if (buf && n > 0 && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    *bytes = n > 0 ? (size_t)n : 0;
    return buf;
}

typedef struct peer_result {
    double wall_s, rate_hz, cv;
    long spikes;
} peer_result;

/* Generate and build the peer (untimed), then time its binary `reps` times. 0 when it ran. */
static int run_peer(double seconds, int n, int reps, peer_result *r) {
    const char *peers = getenv("SPK_PEERS"), *py = getenv("SPK_PYTHON");
    char dir[] = "/tmp/spk_brian_cuba.XXXXXX";
    if (!mkdtemp(dir)) return -1;
    char cmd[4096], line[4096];
    snprintf(cmd, sizeof cmd, "cd '%s' && BRIAN_BUILD_DIR='%s/build' '%s' '%s/brian_cuba.py' standalone %g %d 2>/dev/null", dir, dir,
             py ? py : "/usr/bin/python3", peers ? peers : "../shared/peers", seconds, n);
    /* the script path is relative to where spk was started */
    char cwd[2048];
    if (!getcwd(cwd, sizeof cwd)) return -1;
    if (!(peers && peers[0] == '/'))
        snprintf(cmd, sizeof cmd, "cd '%s' && BRIAN_BUILD_DIR='%s/build' '%s' '%s/%s/brian_cuba.py' standalone %g %d 2>/dev/null", dir, dir,
                 py ? py : "/usr/bin/python3", cwd, peers ? peers : "../shared/peers", seconds, n);
    FILE *p = popen(cmd, "r");
    int got = 0;
    while (p && fgets(line, sizeof line, p)) {
        char *k = strstr(line, "\"rate_hz\":");
        if (k && sscanf(k + 10, "%lf", &r->rate_hz) == 1) got = 1;
        k = strstr(line, "\"spikes\":");
        if (k) sscanf(k + 9, "%ld", &r->spikes);
    }
    int rc = p ? pclose(p) : -1;
    int ok = got && rc == 0;
    double t[9];
    reps = reps > 9 ? 9 : reps;
    for (int k = 0; k < reps && ok; k++) {
        snprintf(cmd, sizeof cmd, "cd '%s/build' && ./main > /dev/null 2>&1", dir);
        double t0 = cli_now();
        ok = system(cmd) == 0;
        t[k] = cli_now() - t0;
    }
    if (ok) r->wall_s = median3(t, reps);
    /* the CV from the binary's spike monitor (int32 indices, float64 times) */
    r->cv = NAN;
    char res[2200];
    snprintf(res, sizeof res, "%s/build/results", dir);
    size_t bi = 0, bt = 0;
    int32_t *ii = read_result(res, "_dynamic_array_spikemonitor_i_", &bi);
    double *tt = read_result(res, "_dynamic_array_spikemonitor_t_", &bt);
    if (ok && ii && tt && bi / 4 == bt / 8) spk_isi_stats(ii, tt, (int64_t)(bi / 4), n, &r->cv, NULL);
    free(ii);
    free(tt);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) cli_error("bench cuba: could not remove %s", dir);
    return ok ? 0 : -1;
}

int bench_cuba(int argc, char **argv) {
    double seconds = 10;
    long reps = 3;
    int no_peer = 0;
    const char *config = NULL;
    for (int i = 2; i < argc; i++) {
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(argv[i], "--help")) {
            printf("usage: spk bench cuba [--seconds S] [--config FILE.yaml] [--reps R] [--no-peer]\n"
                   "The CUBA network (4000 current-based LIF neurons, exponential synapses, p = 0.02; docs/engine.md)\n"
                   "for S seconds of biological time (default 10) on the event-driven engine, beside Brian2's C++\n"
                   "standalone binary of the same network when Brian2 is installed (python3-brian; SPK_PEERS, SPK_PYTHON).\n"
                   "Wall times are medians of R runs (default 3) of construction plus simulation.\n");
            return 0;
        } else if (!strcmp(argv[i], "--seconds")) {
            if (cli_float("--seconds", v, &seconds)) return 2;
            if (!(seconds > 0 && seconds <= 1e4)) {
                cli_error("--seconds: %g is out of range (0, 10000]", seconds);
                return 2;
            }
            i++;
        } else if (!strcmp(argv[i], "--reps")) {
            if (cli_int("--reps", v, 1, 9, &reps)) return 2;
            i++;
        } else if (!strcmp(argv[i], "--config") && v) {
            config = v;
            i++;
        } else if (!strcmp(argv[i], "--no-peer")) {
            no_peer = 1;
        } else {
            cli_error("bench cuba: unknown option '%s' (see 'spk bench cuba --help')", argv[i]);
            return 2;
        }
    }
    spk_cuba_config c = spk_cuba_config_default();
    if (config && spk_cuba_config_load(&c, config)) {
        cli_error("%s", spk_errmsg(NULL));
        return 1;
    }
    double t_build[9], t_sim[9], t_all[9];
    spk_cuba_stats st;
    for (int r = 0; r < reps; r++) {
        spk_cuba *net;
        double t0 = cli_now();
        if (spk_cuba_create(&net, &c)) {
            cli_error("%s", spk_errmsg(NULL));
            return 1;
        }
        double t1 = cli_now();
        if (spk_cuba_run(net, seconds * 1e3)) {
            cli_error("%s", spk_errmsg(net));
            spk_cuba_free(net);
            return 1;
        }
        double t2 = cli_now();
        if (spk_cuba_get_stats(net, &st)) {
            cli_error("%s", spk_errmsg(net));
            spk_cuba_free(net);
            return 1;
        }
        spk_cuba_free(net);
        t_build[r] = t1 - t0;
        t_sim[r] = t2 - t1;
        t_all[r] = t2 - t0;
    }
    double wall = median3(t_all, (int)reps), build = median3(t_build, (int)reps), sim = median3(t_sim, (int)reps);
    peer_result pr = {0, 0, NAN, 0};
    int have_peer = !no_peer && !config && run_peer(seconds, c.n, (int)reps, &pr) == 0;
    printf("cuba: %d neurons, %lld synapses, %g s biological time (%lld steps): %.3f s wall (build %.3f s, simulate %.3f s); "
           "%lld spikes, rate %.3f Hz, ISI CV %.3f over %lld neurons; %.3g SOPs, %.3g neuron updates",
           c.n, (long long)st.synapses, seconds, (long long)st.steps, wall, build, sim, (long long)st.spikes, st.rate_hz, st.cv_isi,
           (long long)st.cv_neurons, (double)st.sops, (double)st.updates);
    if (have_peer)
        printf("; Brian2 standalone binary %.3f s (%.2fx spk's time), rate %.3f Hz (spk %+.1f%%), ISI CV %.3f", pr.wall_s, pr.wall_s / wall,
               pr.rate_hz, 100.0 * (st.rate_hz - pr.rate_hz) / pr.rate_hz, pr.cv);
    else if (!no_peer && !config)
        printf("; Brian2 not available (apt-get install python3-brian; see shared/peers/README.md)");
    printf("\n{\"workload\": \"cuba\", \"neurons\": %d, \"synapses\": %lld, \"seconds\": %g, \"reps\": %ld, \"wall_s\": %.4f, "
           "\"build_s\": %.4f, \"sim_s\": %.4f, \"spikes\": %lld, \"rate_hz\": %.4f, \"cv_isi\": %.4f, \"sops\": %lld",
           c.n, (long long)st.synapses, seconds, reps, wall, build, sim, (long long)st.spikes, st.rate_hz, st.cv_isi, (long long)st.sops);
    if (have_peer)
        printf(", \"peer_wall_s\": %.4f, \"ratio\": %.3f, \"peer_rate_hz\": %.4f, \"peer_cv_isi\": %.4f, \"peer_spikes\": %ld", pr.wall_s,
               pr.wall_s / wall, pr.rate_hz, pr.cv, pr.spikes);
    printf("}\n");
    return 0;
}
