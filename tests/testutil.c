/* testutil.c — the assertion counters and small helpers of testutil.h. */
#include "testutil.h"
#include "h5read.h"

#include <string.h>
#include <sys/stat.h>

int tu_failures = 0;
int tu_checks = 0;

int tu_finish(const char *name) {
    if (tu_failures) {
        fprintf(stderr, "%s: %d of %d checks FAILED\n", name, tu_failures, tu_checks);
        return 1;
    }
    printf("%s: all %d checks passed\n", name, tu_checks);
    return 0;
}

const char *tu_fixture_path(const char *rel) {
    static char buf[4096];
    const char *dir = getenv("SPK_FIXTURES_DIR");
    if (!dir || !*dir) dir = SPK_TU_DEFAULT_FIXTURES;
    struct stat sb;
    if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
        fprintf(stderr, "fixtures directory %s not found (set SPK_FIXTURES_DIR)\n", dir);
        return NULL;
    }
    snprintf(buf, sizeof buf, "%s/%s", dir, rel);
    return buf;
}

double tu_max_abs_diff(const float *a, const float *b, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        if (d > m || d != d) m = d;
    }
    return m;
}

double tu_max_rel_diff(const float *a, const float *b, size_t n, double floor) {
    double scale = floor;
    for (size_t i = 0; i < n; i++)
        if (fabs(b[i]) > scale) scale = fabs(b[i]);
    return tu_max_abs_diff(a, b, n) / scale;
}

float *tu_read_floats(const char *file, const char *path, size_t want) {
    size_t n = 0;
    float *p = h5_read_floats(file, path, &n, NULL, NULL);
    CHECK_MSG(p != NULL, "%s: cannot read %s", file, path);
    if (p && want && n != want) {
        CHECK_MSG(n == want, "%s: %s has %zu elements, expected %zu", file, path, n, want);
        free(p);
        return NULL;
    }
    return p;
}

size_t tu_n_alloc, tu_n_free;
int tu_fail_after = -1;

void *tu_count_malloc(void *ud, size_t n) {
    (void)ud;
    if (tu_fail_after == 0) return NULL;
    if (tu_fail_after > 0) tu_fail_after--;
    tu_n_alloc++;
    return malloc(n);
}

void tu_count_free(void *ud, void *p) {
    (void)ud;
    if (p) tu_n_free++;
    free(p);
}

static spk_allocator tu_counting = {tu_count_malloc, NULL, tu_count_free, NULL};

int tu_oom_sweep(const char *what, spk_status (*fn)(void *), void *arg) {
    int k, failures = 0;
    for (k = 0; k < 100000; k++) {
        tu_n_alloc = tu_n_free = 0;
        tu_fail_after = k;
        spk_set_allocator(&tu_counting);
        spk_status st = fn(arg);
        spk_set_allocator(NULL);
        tu_fail_after = -1;
        if (tu_n_alloc != tu_n_free) {
            CHECK_MSG(0, "%s: failing allocation %d: %zu allocations, %zu frees (status %s)", what, k, tu_n_alloc, tu_n_free,
                      spk_status_str(st));
            failures++;
        }
        if (st == SPK_OK) break;
        if (st != SPK_ERR_NOMEM) {
            CHECK_MSG(0, "%s: failing allocation %d returned %s: %s", what, k, spk_status_str(st), spk_errmsg(NULL));
            failures++;
        }
        if (failures > 5) break;
    }
    CHECK_MSG(k > 0 && k < 100000, "%s: the sweep ended at k = %d", what, k);
    printf("out of memory: %s: each of %d allocations failed in turn: %s\n", what, k, failures ? "FAILED" : "SPK_ERR_NOMEM, no leak");
    return k;
}

spk_net *tu_build_hidden_net(int I, int H, int C, const spk_neuron_config *hc, const spk_neuron_config *oc, int rec, uint64_t seed,
                             int *ro) {
    spk_net *net;
    int in, d1, h, r, d2, o;
    if (spk_net_create(&net)) return NULL;
    int bad = spk_net_add_input(net, "in", 1, (int[]){I}, &in) || spk_net_add_dense(net, "fc1", I, H, 1, &d1) ||
              spk_net_add_neuron(net, "h", hc, 1, (int[]){H}, &h) || spk_net_add_dense(net, "fc2", H, C, 1, &d2) ||
              spk_net_add_neuron(net, "out", oc, 1, (int[]){C}, &o) || spk_net_connect(net, in, d1) || spk_net_connect(net, d1, h) ||
              spk_net_connect(net, h, d2) || spk_net_connect(net, d2, o);
    if (!bad && rec) bad = spk_net_add_dense(net, "h.rec", H, H, 1, &r) || spk_net_connect(net, h, r) || spk_net_connect(net, r, h);
    if (bad || spk_net_build(net, (spk_rng){seed, 0})) {
        fprintf(stderr, "build: %s\n", spk_errmsg(net));
        spk_net_free(net);
        return NULL;
    }
    size_t n;
    float *w = spk_net_param(net, d1, "weight", &n);
    for (size_t k = 0; k < n; k++) w[k] *= 4.0f;
    *ro = o;
    return net;
}
