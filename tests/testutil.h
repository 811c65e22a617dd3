/* testutil.h — a tiny assertion kit for spk's tests. Every check prints what failed and
 * where, counts, and the test exits non-zero at the end if anything failed. */
#ifndef SPK_TESTUTIL_H
#define SPK_TESTUTIL_H

#include "spk.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

extern int tu_failures;
extern int tu_checks;

#define TU_SKIP 77

#define CHECK(cond)                                                                     \
    do {                                                                                \
        tu_checks++;                                                                    \
        if (!(cond)) {                                                                  \
            tu_failures++;                                                              \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);     \
        }                                                                               \
    } while (0)

#define CHECK_MSG(cond, ...)                                                            \
    do {                                                                                \
        tu_checks++;                                                                    \
        if (!(cond)) {                                                                  \
            tu_failures++;                                                              \
            fprintf(stderr, "%s:%d: CHECK failed: %s: ", __FILE__, __LINE__, #cond);     \
            fprintf(stderr, __VA_ARGS__);                                               \
            fputc('\n', stderr);                                                        \
        }                                                                               \
    } while (0)

#define CHECK_OK(expr)                                                                  \
    do {                                                                                \
        spk_status st_ = (expr);                                                        \
        tu_checks++;                                                                    \
        if (st_ != SPK_OK) {                                                            \
            tu_failures++;                                                              \
            fprintf(stderr, "%s:%d: %s returned %s: %s\n", __FILE__, __LINE__, #expr,    \
                    spk_status_str(st_), spk_errmsg(NULL));                             \
        }                                                                               \
    } while (0)

#define CHECK_NEAR(a, b, tol)                                                           \
    do {                                                                                \
        double a_ = (a), b_ = (b), t_ = (tol);                                          \
        tu_checks++;                                                                    \
        if (!(fabs(a_ - b_) <= t_)) {                                                   \
            tu_failures++;                                                              \
            fprintf(stderr, "%s:%d: %s = %.9g, expected %s = %.9g (tol %.3g)\n",         \
                    __FILE__, __LINE__, #a, a_, #b, b_, t_);                            \
        }                                                                               \
    } while (0)

/* Print a summary line and return the process exit code (0 pass, 1 fail). */
int tu_finish(const char *name);

/* Fixture directory (SPK_FIXTURES_DIR, else ../shared/fixtures from the source tree) joined
 * with `rel`; NULL (and a message) when the directory does not exist. */
const char *tu_fixture_path(const char *rel);

/* Max |a-b| over n, and max relative error |a-b| / max(|b|_inf, floor) over n. */
double tu_max_abs_diff(const float *a, const float *b, size_t n);
double tu_max_rel_diff(const float *a, const float *b, size_t n, double floor);

/* An allocator for spk_set_allocator that counts allocations and frees and fails on
 * purpose: tu_fail_after = k > 0 lets k allocations succeed and fails the next ones;
 * 0 fails at once; -1 never fails. */
extern size_t tu_n_alloc, tu_n_free;
extern int tu_fail_after;
void *tu_count_malloc(void *ud, size_t n);
void tu_count_free(void *ud, void *p);
/* Run fn(arg) with the k-th allocation failing, k = 0, 1, ... until it succeeds; every failure
 * must be SPK_ERR_NOMEM with every allocation freed (failed checks name `what` and k). Prints
 * one summary line; returns the number of failure points swept. */
int tu_oom_sweep(const char *what, spk_status (*fn)(void *), void *arg);

/* The small network of the training-method tests: in [I] -> fc1 (dense) -> h (population hc,
 * [H]) -> fc2 (dense) -> out (population oc, [C]), with rec an all-to-all recurrent dense
 * "h.rec" on h; built from `seed` and fc1's weights multiplied by 4 (enough drive for h to
 * spike). *ro is out; NULL (and a message) on failure. */
spk_net *tu_build_hidden_net(int I, int H, int C, const spk_neuron_config *hc, const spk_neuron_config *oc, int rec, uint64_t seed,
                             int *ro);

/* Read an HDF5 dataset as float32 and check its element count (want == 0: any). NULL on
 * failure, counted as a failed check with the file and dataset named. */
float *tu_read_floats(const char *file, const char *path, size_t want);

#endif
