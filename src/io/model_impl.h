/* model_impl.h — the model-file reader working on bytes already in memory, behind
 * spk_model_load (which reads the file and calls it). Internal: for the fuzz harness and for
 * callers that hold a model in memory; `name` is used in messages where the path would be. */
#ifndef SPK_MODEL_IMPL_H
#define SPK_MODEL_IMPL_H

#include "core/core.h"

/* The same contract as spk_model_load, on the n bytes of `data` (a whole model file). */
spk_status spk__model_load_mem(const unsigned char *data, size_t n, const char *name, spk_experiment **e,
                               spk_net **net, int *readout, int *in_ndim, int in_dims[SPK_MAX_DIMS],
                               spk_train_state *ts, float **opt_state, size_t *opt_n);

#endif
