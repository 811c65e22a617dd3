/* fuzz_hw_csv.c — libFuzzer harness for hardware catalog files (src/hw/csv.c and the
 * catalog's cell checks): the input is CSV text merged into the built-in catalog with
 * spk_hw_catalog_merge_text. A refusal must carry a "fuzz.csv:LINE:" message and leave the
 * catalog exactly as it was; an accepted file leaves unique, non-empty chip names, and
 * sorting by every column works. */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_init();
    spk_hw_catalog *c = NULL;
    if (spk_hw_catalog_create(&c) != SPK_OK) abort();
    int n0 = spk_hw_catalog_count(c);
    spk_chip *before = malloc(sizeof(spk_chip) * (size_t)n0);
    if (!before) abort();
    for (int i = 0; i < n0; i++) before[i] = *spk_hw_catalog_chip(c, i);
    spk_status st = spk_hw_catalog_merge_text(c, (const char *)data, size, "fuzz.csv");
    if (st != SPK_OK) {
        if (strncmp(spk_errmsg(NULL), "fuzz.csv", 8) != 0) {
            fprintf(stderr, "fuzz_hw_csv: refusal without the file name: %s\n", spk_errmsg(NULL));
            abort();
        }
        if (spk_hw_catalog_count(c) != n0) abort();
        for (int i = 0; i < n0; i++)
            if (memcmp(&before[i], spk_hw_catalog_chip(c, i), sizeof(spk_chip)) != 0) {
                fprintf(stderr, "fuzz_hw_csv: a refused file changed chip %d\n", i);
                abort();
            }
    } else {
        int n = spk_hw_catalog_count(c);
        if (n < n0) abort();
        for (int i = 0; i < n; i++) {
            const spk_chip *ch = spk_hw_catalog_chip(c, i);
            if (!ch->name[0] || spk_hw_catalog_find(c, ch->name) != i) {
                fprintf(stderr, "fuzz_hw_csv: chip %d has an empty or repeated name '%s'\n", i, ch->name);
                abort();
            }
        }
        for (int k = 0; k < SPK_HW_COL_COUNT; k++) {
            char col[80];
            snprintf(col, sizeof col, "%s%s", k % 2 ? "-" : "", spk_hw_column_name((spk_hw_column)k));
            if (spk_hw_catalog_sort(c, col) != SPK_OK || spk_hw_catalog_count(c) != n) abort();
        }
    }
    free(before);
    spk_hw_catalog_free(c);
    fuzz_check_balanced("spk_hw_catalog_merge_text");
    return 0;
}
