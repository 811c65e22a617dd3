/* fuzz_qmodel.c — libFuzzer harness for quantized model files (src/engine/fixed_io.c): the
 * input is a whole .spkq. The trailing CRC-32 is rewritten to match the bytes before it so
 * that mutations reach the parser behind the checksum (test_fixed checks the checksum). A
 * refusal must name the file and leave nothing allocated; a model that loads is run for a
 * few steps by the fixed-point engine on inputs taken from the file's bytes (under UBSan:
 * no signed overflow in its integer arithmetic, whatever the file says). */
#include "fuzz_common.h"
#include "engine/fixed_impl.h"


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_init();
    unsigned char *buf = fuzz_copy_with_crc(data, size);
    spk_qmodel *q = NULL;
    spk_experiment *e = NULL;
    spk_status st = spk__qmodel_load_mem(buf, size, "fuzz.spkq", &q, &e);
    if (st != SPK_OK) {
        if (q || e) abort();
        if (!strstr(spk_errmsg(NULL), "fuzz.spkq")) {
            fprintf(stderr, "fuzz_qmodel: refusal without the file name: %s\n", spk_errmsg(NULL));
            abort();
        }
    } else {
        spk_fixed *fx;
        if (spk_fixed_create(&fx, q) == SPK_OK) {
            int I = spk_qmodel_input_size(q), O = spk_qmodel_output_size(q);
            int16_t *x = malloc(sizeof(int16_t) * (size_t)I * 3);
            int32_t *out = malloc(sizeof(int32_t) * (size_t)O * 3);
            if (!x || !out) abort();
            for (int k = 0; k < I * 3; k++) {
                int v = (int)(int8_t)buf[(size_t)k % (size ? size : 1)] * 300;
                x[k] = (int16_t)(v < q->in_lo ? q->in_lo : v > q->in_hi ? q->in_hi : v);
            }
            spk_fixed_run(fx, 3, x, out);
            free(x);
            free(out);
            spk_fixed_free(fx);
        }
        spk_qmodel_free(q);
        spk_experiment_free(e);
    }
    free(buf);
    fuzz_check_balanced("spk_qmodel_load");
    return 0;
}
