/* bench_stdp.c — `spk bench stdp`: unsupervised learning of Fashion-MNIST by STDP with a
 * label-assignment readout, in the manner of Diehl & Cook (2015), simplified to discrete
 * time. It prints one human line and one JSON line with the test accuracy, the number of
 * neurons and the time taken.
 *
 * The network: 784 rate-coded inputs (Bernoulli, probability rate * pixel per step) feed N
 * excitatory LIF neurons through W [N, 784] (all >= 0). Lateral inhibition is a
 * winner-take-all: in a step at most one neuron fires (the one furthest above its
 * threshold) and every membrane is then reset to 0. Thresholds adapt: thr + theta_i, theta_i
 * grows by theta_plus at each spike of neuron i and decays with tau_theta. W learns by the
 * library's pair STDP (spk_stdp_step, additive, bounds [0, 1]); after every sample each
 * neuron's incoming weights are rescaled to sum to w_sum. A sample that draws fewer than
 * 5 spikes is shown again with the rate raised (up to 4 times), as in the original.
 * Readout: after training, with learning and thresholds frozen, every neuron is assigned
 * the class it answers most (mean spike count per class over the assignment samples);
 * a test sample is classified as the class whose neurons spike most on average.
 * It does not use the network graph: the layer is small and written out here. */
#include "cli.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct wta {
    int N, P, T;
    float lam, thr, theta_plus, theta_decay, rate, w_sum;
    float *w, *v, *theta, *x, *post;
    int *active; /* [P] indices of this step's input spikes */
    spk_stdp *stdp;
    spk_encoder_config enc;
} wta;

/* Present one image (784 values in [0, 1]); counts[N] gets each neuron's spikes. learn: STDP,
 * thresholds and normalization on. Returns the number of spikes, or -1 on error. */
static int present(wta *m, const float *img, int learn, uint64_t draw, int *counts) {
    int total = 0;
    for (int attempt = 0; attempt < 5; attempt++) {
        m->enc.gain = m->rate * (float)(1 << attempt);
        if (spk_encode(&m->enc, m->T, 1, m->P, img, 1, m->x, draw * 8 + (uint64_t)attempt)) return -1;
        memset(m->v, 0, (size_t)m->N * sizeof(float));
        memset(counts, 0, (size_t)m->N * sizeof(int));
        if (learn) spk_stdp_reset(m->stdp);
        total = 0;
        for (int t = 0; t < m->T; t++) {
            const float *in = m->x + (size_t)t * m->P;
            int na = 0;
            for (int j = 0; j < m->P; j++)
                if (in[j] != 0) m->active[na++] = j;
            for (int i = 0; i < m->N; i++) { /* row by row over the active inputs (spikes are 1) */
                const float *wr = m->w + (size_t)i * m->P;
                float acc = 0;
                for (int k = 0; k < na; k++) acc += wr[m->active[k]];
                m->v[i] = m->v[i] * m->lam + acc;
            }
            int win = -1;
            float best = 0;
            for (int i = 0; i < m->N; i++) {
                float over = m->v[i] - (m->thr + m->theta[i]);
                if (over > best) best = over, win = i;
            }
            memset(m->post, 0, (size_t)m->N * sizeof(float));
            if (win >= 0) {
                m->post[win] = 1;
                counts[win]++;
                total++;
                memset(m->v, 0, (size_t)m->N * sizeof(float));
                if (learn) m->theta[win] += m->theta_plus;
            }
            if (learn) {
                if (spk_stdp_step(m->stdp, m->w, in, m->post, 0)) return -1;
                for (int i = 0; i < m->N; i++) m->theta[i] *= m->theta_decay;
            }
        }
        if (total >= 5) break;
    }
    if (learn) /* each neuron's incoming weights sum to w_sum */
        for (int i = 0; i < m->N; i++) {
            float *wr = m->w + (size_t)i * m->P;
            double s = 0;
            for (int j = 0; j < m->P; j++) s += wr[j];
            if (s > 0)
                for (int j = 0; j < m->P; j++) {
                    float v = wr[j] * (float)(m->w_sum / s);
                    wr[j] = v > 1 ? 1 : v;
                }
        }
    return total;
}

int bench_stdp(int argc, char **argv) {
    long N = 100, n_train = 10000, n_test = 10000, T = 100, epochs = 1, seed = 1, n_assign = 0;
    double rate = 0.15, a_plus = 0.01, a_minus = 0.002, theta_plus = 0.05, thr = 5, w_sum = 39.2, tau = 20;
    const char *dir = NULL;
    for (int i = 2; i < argc; i++) {
        const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int bad = 0;
        if (!strcmp(o, "--help")) {
            printf("usage: spk bench stdp [--neurons N] [--train N] [--test N] [--assign N] [--steps T] [--epochs E]\n"
                   "                      [--rate R] [--a-plus A] [--a-minus A] [--theta-plus X] [--thr X] [--w-sum X]\n"
                   "                      [--tau STEPS] [--seed S] [--data DIR]\n"
                   "Unsupervised STDP layer with winner-take-all and adaptive thresholds on Fashion-MNIST, then a\n"
                   "label-assignment readout (docs/training.md). --assign: training samples used to assign labels\n"
                   "(0 = all of --train).\n");
            return 0;
        } else if (!strcmp(o, "--neurons")) bad = cli_int(o, v, 1, 100000, &N);
        else if (!strcmp(o, "--train")) bad = cli_int(o, v, 1, 60000, &n_train);
        else if (!strcmp(o, "--test")) bad = cli_int(o, v, 1, 10000, &n_test);
        else if (!strcmp(o, "--assign")) bad = cli_int(o, v, 0, 60000, &n_assign);
        else if (!strcmp(o, "--steps")) bad = cli_int(o, v, 1, 100000, &T);
        else if (!strcmp(o, "--epochs")) bad = cli_int(o, v, 1, 1000, &epochs);
        else if (!strcmp(o, "--seed")) bad = cli_int(o, v, 0, 1L << 62, &seed);
        else if (!strcmp(o, "--rate")) bad = cli_float(o, v, &rate);
        else if (!strcmp(o, "--a-plus")) bad = cli_float(o, v, &a_plus);
        else if (!strcmp(o, "--a-minus")) bad = cli_float(o, v, &a_minus);
        else if (!strcmp(o, "--theta-plus")) bad = cli_float(o, v, &theta_plus);
        else if (!strcmp(o, "--thr")) bad = cli_float(o, v, &thr);
        else if (!strcmp(o, "--w-sum")) bad = cli_float(o, v, &w_sum);
        else if (!strcmp(o, "--tau")) bad = cli_float(o, v, &tau);
        else if (!strcmp(o, "--data")) {
            if (!v) { cli_error("--data needs a directory"); return 2; }
            dir = v;
        } else {
            cli_error("bench stdp: unknown option '%s'", o);
            return 2;
        }
        if (bad) return 2;
        if (strcmp(o, "--help")) i++;
    }
    if (!(rate > 0 && rate <= 1) || !(thr > 0) || !(w_sum > 0) || !(tau > 0) || !(theta_plus >= 0)) {
        cli_error("bench stdp: --rate must be in (0, 1], --thr, --w-sum, --tau > 0, --theta-plus >= 0");
        return 2;
    }
    if (n_assign == 0 || n_assign > n_train) n_assign = n_train;
    spk_dataset tr, te;
    if (spk_dataset_fashion_mnist(&tr, &te, dir, (int)n_train, (int)n_test)) { cli_error("%s", spk_errmsg(NULL)); return 1; }
    wta m;
    memset(&m, 0, sizeof m);
    m.N = (int)N, m.P = 784, m.T = (int)T;
    m.lam = expf(-1.0f / (float)tau), m.thr = (float)thr, m.theta_plus = (float)theta_plus, m.rate = (float)rate;
    m.theta_decay = expf(-1.0f / 1e6f), m.w_sum = (float)w_sum;
    m.enc = spk_encoder_default(SPK_ENC_RATE);
    m.enc.rng = (spk_rng){(uint64_t)seed, 7};
    m.w = malloc((size_t)N * 784 * sizeof(float));
    m.v = calloc((size_t)N, sizeof(float));
    m.theta = calloc((size_t)N, sizeof(float));
    m.post = calloc((size_t)N, sizeof(float));
    m.x = malloc((size_t)T * 784 * sizeof(float));
    m.active = malloc(784 * sizeof(int));
    int *counts = calloc((size_t)N, sizeof(int));
    double *resp = calloc((size_t)N * 10, sizeof(double));
    int *assign = calloc((size_t)N, sizeof(int)), *per_class = calloc(10, sizeof(int));
    if (!m.w || !m.v || !m.theta || !m.post || !m.x || !m.active || !counts || !resp || !assign || !per_class) { cli_error("out of memory"); return 1; }
    spk_init_uniform(m.w, (size_t)N * 784, 0.5f, (spk_rng){(uint64_t)seed, 1}, 0);
    for (size_t k = 0; k < (size_t)N * 784; k++) m.w[k] = (m.w[k] + 0.5f) * 0.3f; /* U(0, 0.3) */
    spk_stdp_config sc = spk_stdp_config_default();
    sc.a_plus = (float)a_plus, sc.a_minus = (float)a_minus, sc.tau_plus = 20, sc.tau_minus = 20, sc.w_min = 0, sc.w_max = 1;
    if (spk_stdp_create(&m.stdp, &sc, 784, (int)N)) { cli_error("%s", spk_errmsg(NULL)); return 1; }
    spk_set_threads(1); /* one sample at a time: the encoder's parallel loop only costs here */
    double t0 = cli_now();
    long shown = 0, spikes = 0;
    for (long e = 0; e < epochs; e++)
        for (int k = 0; k < tr.n; k++) {
            int s = present(&m, tr.x + (size_t)k * 784, 1, (uint64_t)shown++, counts);
            if (s < 0) { cli_error("%s", spk_errmsg(m.stdp)); return 1; }
            spikes += s;
        }
    double t_train = cli_now() - t0;
    /* label assignment on the first n_assign training samples */
    for (int k = 0; k < n_assign; k++) {
        if (present(&m, tr.x + (size_t)k * 784, 0, (uint64_t)(1000000 + k), counts) < 0) { cli_error("encode failed"); return 1; }
        int y = tr.y[k];
        per_class[y]++;
        for (int i = 0; i < N; i++) resp[(size_t)i * 10 + y] += counts[i];
    }
    int n_assigned[10] = {0};
    for (int i = 0; i < N; i++) {
        int best = 0;
        double bv = -1;
        for (int c = 0; c < 10; c++) {
            double r = per_class[c] ? resp[(size_t)i * 10 + c] / per_class[c] : 0;
            if (r > bv) bv = r, best = c;
        }
        assign[i] = best;
        n_assigned[best]++;
    }
    int correct = 0;
    for (int k = 0; k < te.n; k++) {
        if (present(&m, te.x + (size_t)k * 784, 0, (uint64_t)(2000000 + k), counts) < 0) { cli_error("encode failed"); return 1; }
        double score[10] = {0};
        for (int i = 0; i < N; i++) score[assign[i]] += counts[i];
        int best = 0;
        for (int c = 0; c < 10; c++) {
            if (n_assigned[c]) score[c] /= n_assigned[c];
            if (score[c] > score[best]) best = c;
        }
        correct += best == te.y[k];
    }
    double t_all = cli_now() - t0, acc = 100.0 * correct / te.n;
    int classes_used = 0;
    for (int c = 0; c < 10; c++) classes_used += n_assigned[c] > 0;
    printf("stdp Fashion-MNIST: %ld excitatory neurons (784 inputs), %ld training samples x %ld epochs, %ld steps each: "
           "test accuracy %.2f%% on %d samples (%d classes have neurons); %.1f spikes per training sample; train %.1f s, total %.1f s\n",
           N, n_train, epochs, T, acc, te.n, classes_used, (double)spikes / (double)(shown ? shown : 1), t_train, t_all);
    printf("{\"workload\": \"stdp\", \"dataset\": \"fashion_mnist\", \"neurons\": %ld, \"train_samples\": %ld, \"epochs\": %ld, "
           "\"steps\": %ld, \"assign_samples\": %ld, \"test_samples\": %d, \"test_accuracy\": %.4f, \"train_s\": %.3f, \"total_s\": %.3f, "
           "\"threads\": 1}\n",
           N, n_train, epochs, T, n_assign, te.n, acc / 100, t_train, t_all);
    spk_stdp_free(m.stdp);
    free(m.w), free(m.v), free(m.theta), free(m.post), free(m.x), free(m.active), free(counts), free(resp), free(assign), free(per_class);
    spk_dataset_free(&tr);
    spk_dataset_free(&te);
    return 0;
}
