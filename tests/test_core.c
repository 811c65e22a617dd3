/* test_core.c — status codes and messages, the replaceable allocator, arenas, the Philox
 * generator against the published known-answer vectors, and the thread setting. */
#include "testutil.h"

#include <string.h>


static void test_status(void) {
    CHECK(strcmp(spk_status_str(SPK_OK), "ok") == 0);
    CHECK(strcmp(spk_status_str(SPK_ERR_NOMEM), "out of memory") == 0);
    CHECK(strcmp(spk_status_str((spk_status)999), "unknown status") == 0);
    for (int s = 0; s < SPK_STATUS_COUNT; s++) CHECK(strcmp(spk_status_str((spk_status)s), "unknown status") != 0);
    CHECK(strcmp(spk_version(), SPK_VERSION_STRING) == 0);
    /* a failing constructor leaves its message on the thread */
    spk_arena *a = (spk_arena *)1;
    CHECK(spk_arena_create(NULL, 10) == SPK_ERR_INVALID_ARG);
    CHECK(strstr(spk_errmsg(NULL), "out is NULL") != NULL);
    CHECK(spk_arena_create(&a, 0) == SPK_OK);
    CHECK(strcmp(spk_errmsg(a), "") == 0);
    spk_arena_free(a);
}

static void test_allocator(void) {
    spk_allocator al = {tu_count_malloc, NULL, tu_count_free, NULL};
    spk_set_allocator(&al);
    spk_arena *a;
    CHECK_OK(spk_arena_create(&a, 1000));
    CHECK(tu_n_alloc == 2);
    /* alignment and capacity */
    char *p1 = spk_arena_alloc(a, 10), *p2 = spk_arena_alloc(a, 100);
    CHECK(p1 && p2);
    CHECK(((uintptr_t)p1 % 64) == 0 && ((uintptr_t)p2 % 64) == 0);
    CHECK(p2 - p1 == 64);
    CHECK(spk_arena_used(a) == 64 + 100);
    CHECK(spk_arena_alloc(a, 900) == NULL);
    CHECK(strstr(spk_errmsg(a), "arena full") != NULL);
    CHECK(p1[0] == 0 && p2[99] == 0);
    p1[0] = 7;
    spk_arena_reset(a);
    CHECK(spk_arena_used(a) == 0 && p1[0] == 0);
    spk_arena_free(a);
    CHECK(tu_n_free == tu_n_alloc);
    /* out of memory is a returned code, with nothing leaked */
    for (int k = 0; k < 2; k++) {
        tu_n_alloc = tu_n_free = 0;
        tu_fail_after = k;
        spk_arena *b = NULL;
        CHECK(spk_arena_create(&b, 100) == SPK_ERR_NOMEM);
        CHECK(b == NULL);
        CHECK(tu_n_alloc == tu_n_free);
        spk_neuron *nr = NULL;
        spk_neuron_config c = spk_neuron_config_default();
        tu_n_alloc = tu_n_free = 0;
        tu_fail_after = k;
        CHECK(spk_neuron_create(&nr, &c, 16) == SPK_ERR_NOMEM);
        CHECK(nr == NULL && tu_n_alloc == tu_n_free);
    }
    tu_fail_after = -1;
    CHECK(spk_calloc(SIZE_MAX / 2, 4) == NULL);
    spk_set_allocator(NULL);
}

static void test_philox(void) {
    /* known-answer vectors published with Random123 (kat_vectors) */
    const uint32_t kat[3][10] = {
        {0, 0, 0, 0, 0, 0, 0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8},
        {0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0x408f276d, 0x41c83b0e,
         0xa20bc7c6, 0x6d5451fd},
        {0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344, 0xa4093822, 0x299f31d0, 0xd16cfe09, 0x94fdcceb,
         0x5001e420, 0x24126ea1},
    };
    for (int k = 0; k < 3; k++) {
        uint32_t out[4];
        spk_philox4x32(kat[k], kat[k] + 4, out);
        for (int j = 0; j < 4; j++) CHECK_MSG(out[j] == kat[k][6 + j], "vector %d word %d: %08x", k, j, out[j]);
    }
    /* uniforms: inside (0,1), reproducible, different per index/step/stream/seed, mean 1/2 */
    spk_rng r = {42, 7};
    float a[4], b[4];
    spk_rng_uniform4(r, 3, 5, a);
    spk_rng_uniform4(r, 3, 5, b);
    CHECK(memcmp(a, b, sizeof a) == 0);
    CHECK(spk_rng_uniform(r, 3, 5, 2) == a[2]);
    CHECK(spk_rng_uniform(r, 3, 6, 0) != a[0]);
    CHECK(spk_rng_uniform(r, 4, 5, 0) != a[0]);
    CHECK(spk_rng_uniform((spk_rng){42, 8}, 3, 5, 0) != a[0]);
    CHECK(spk_rng_uniform((spk_rng){43, 7}, 3, 5, 0) != a[0]);
    /* a run: the same numbers as one call per index, every lane, lengths around the 16-wide
     * blocks, indices across 2^32 */
    for (unsigned lane = 0; lane < 4; lane++)
        for (size_t len = 1; len < 40; len += 7) {
            float run[40];
            const uint64_t base = lane == 3 ? 0xFFFFFFF8ull : 1000u * lane;
            spk_rng_uniform_run(r, 9, base, len, lane, run);
            for (size_t j = 0; j < len; j++)
                CHECK_MSG(run[j] == spk_rng_uniform(r, 9, base + j, lane), "run lane %u len %zu: element %zu differs", lane, len, j);
        }
    double sum = 0, sum2 = 0, nsum = 0, nsum2 = 0;
    float lo = 1, hi = 0;
    const int M = 200000;
    for (int i = 0; i < M; i++) {
        float u = spk_rng_uniform(r, 0, (uint64_t)i, 0);
        lo = u < lo ? u : lo;
        hi = u > hi ? u : hi;
        sum += u;
        sum2 += (double)u * u;
        float z[2];
        spk_rng_normal2(r, 1, (uint64_t)i, z);
        nsum += z[0] + z[1];
        nsum2 += (double)z[0] * z[0] + (double)z[1] * z[1];
    }
    CHECK(lo > 0.0f && hi < 1.0f);
    double mean = sum / M, var = sum2 / M - mean * mean;
    CHECK_NEAR(mean, 0.5, 4 * sqrt(1.0 / 12 / M));
    CHECK_NEAR(var, 1.0 / 12, 0.002);
    CHECK_NEAR(nsum / (2.0 * M), 0.0, 4 / sqrt(2.0 * M));
    CHECK_NEAR(nsum2 / (2.0 * M), 1.0, 0.01);
}

static void test_threads(void) {
    CHECK(spk_set_threads(0) == SPK_ERR_INVALID_ARG);
    CHECK(strstr(spk_errmsg(NULL), "threads = 0") != NULL);
    CHECK_OK(spk_set_threads(2));
    CHECK(spk_get_threads() == 2);
    /* sgemm through OpenBLAS: [2x3] x [3x2] */
    float A[6] = {1, 2, 3, 4, 5, 6}, Bm[6] = {1, 0, 0, 1, 1, 1}, C[4] = {0};
    spk_sgemm(0, 0, 2, 2, 3, 1.0f, A, 3, Bm, 2, 0.0f, C, 2);
    CHECK(C[0] == 4 && C[1] == 5 && C[2] == 10 && C[3] == 11);
    spk_sgemm(0, 1, 2, 2, 3, 1.0f, A, 3, A, 3, 0.0f, C, 2); /* A A^T */
    CHECK(C[0] == 14 && C[1] == 32 && C[2] == 32 && C[3] == 77);
}

static void test_progress(void) {
    FILE *fp = tmpfile();
    CHECK(fp != NULL);
    spk_progress *p;
    CHECK_OK(spk_progress_begin(&p, fp, "train", 10, 1e-9));
    CHECK(!spk_progress_is_tty(p));
    for (int i = 1; i <= 10; i++) spk_progress_update(p, (uint64_t)i, "loss 0.5");
    spk_progress_end(p);
    rewind(fp);
    char line[256];
    int lines = 0, saw_half = 0, saw_done = 0;
    while (fgets(line, sizeof line, fp)) {
        lines++;
        if (strstr(line, "train: 5/10 (50%)") && strstr(line, "loss 0.5")) saw_half = 1;
        if (strstr(line, "train: 10/10 (100%)") && strstr(line, "done")) saw_done = 1;
        CHECK_MSG(strchr(line, '\r') == NULL, "plain output must not redraw: %s", line);
    }
    CHECK(lines == 11 && saw_half && saw_done);
    fclose(fp);
    CHECK(spk_progress_begin(&p, NULL, "x", 1, 1) == SPK_ERR_INVALID_ARG);
}

int main(void) {
    test_status();
    test_allocator();
    test_philox();
    test_threads();
    test_progress();
    return tu_finish("test_core");
}
