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
