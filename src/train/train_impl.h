/* train_impl.h — internal pieces shared by the training methods of src/train/: the one-layer
 * online machinery of eprop.c, which fptt.c runs with every trace cut to one step. */
#ifndef SPK_TRAIN_IMPL_H
#define SPK_TRAIN_IMPL_H

#include "core/core.h"

/* spk_eprop_create, and one_step = 1 for gradients through the current step only (no
 * per-synapse eligibility is kept then). */
spk_status spk__eprop_create(spk_eprop **out, spk_net *net, int readout, spk_eprop_feedback fb, spk_rng rng, int one_step);
/* Check a batch, size the buffers, zero the state and traces. */
spk_status spk__eprop_begin(spk_eprop *ep, int T, int B, const float *x, const int32_t *labels, spk_mem_reduce reduce);
/* One step t (x_t [B, features]) with the network's current weights: *Lt the step's loss
 * term; its gradient is ADDED to the network's gradients. */
spk_status spk__eprop_step(spk_eprop *ep, int t, int T, int B, const float *xt, const int32_t *labels, spk_mem_reduce reduce, double *Lt);
/* Input features per sample. */
int spk__eprop_inputs(const spk_eprop *ep);
/* Decoded classes of the batch run so far. */
void spk__eprop_predict(const spk_eprop *ep, int B, spk_mem_reduce reduce, int32_t *pred);

#endif
