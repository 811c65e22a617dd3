/* fixed_impl.h — the inside of a quantized model (spk_qmodel): shared by the fixed-point
 * engine and quantizer (fixed.c), its file format (fixed_io.c) and the C generator
 * (src/export/export_c.c), which must all do the same integer arithmetic. */
#ifndef SPK_FIXED_IMPL_H
#define SPK_FIXED_IMPL_H

#include "core/core.h"

#define SPK__QNAME 64
/* decay is v <- (v * (4096 - d) + 2048) >> 12 */
#define SPK__QDECAY_BITS 12

/* One layer: a dense op (weights, bias) and the LIF population it feeds. */
typedef struct spk__qlayer {
    char dense_name[SPK__QNAME], pop_name[SPK__QNAME];
    int in, out;
    int acc64;          /* 1: the accumulator needs 64 bits (sum |w| * max |x| >= 2^31)    */
    int16_t *w;         /* [in][out] (transposed: one row per input, walked per event)     */
    int32_t *mult;      /* [out] current = ((acc * mult + round) >> shift) + bias           */
    int32_t *bias;      /* [out] in state units                                             */
    int shift;          /* 0..62                                                            */
    int fire;           /* 0 never fires (readout), 1 Heaviside u > thr                     */
    int reset;          /* spk_reset_kind: SOFT, HARD, HARD_ALL or NONE                      */
    int timing;         /* spk_reset_timing: DELAYED or SAME_STEP                            */
    int32_t d;          /* decay: 4096 - round(lam * 4096)                                  */
    int32_t thr, vreset;/* in state units                                                   */
    double s_state;     /* one state unit in the float model's units                        */
    double s_w_max;     /* largest weight scale (reports)                                   */
    double calib_max;   /* largest |membrane| seen in calibration (float units)             */
} spk__qlayer;

struct spk_qmodel {
    spk__obj obj;
    int weight_bits, per_channel, state_bits, input_bits;
    int in_ndim, in_dims[SPK_MAX_DIMS];
    double s_in;        /* one input unit in the float input's units                        */
    int32_t in_lo, in_hi;
    int n_layers;
    spk__qlayer *layers;
};

/* Load a quantized model from a file image (name is used in messages): spk_qmodel_load
 * without the file (for fuzzing). */
spk_status spk__qmodel_load_mem(const unsigned char *data, size_t sz, const char *name, spk_qmodel **out, spk_experiment **e);

/* The state limits for state_bits. */
static inline int64_t spk__qstate_max(int bits) { return bits == 16 ? 32767 : 2147483647; }
static inline int64_t spk__qstate_min(int bits) { return bits == 16 ? -32768 : -2147483647 - 1; }

#endif
