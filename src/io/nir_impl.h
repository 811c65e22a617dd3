/* nir_impl.h — what nir.c lends the rest of the library: building an experiment's network
 * from its embedded NIR file (model files made by `spk import`), and the base64 text that
 * embeds the file in the experiment's YAML. */
#ifndef SPK_NIR_IMPL_H
#define SPK_NIR_IMPL_H

#include "core/core.h"

/* The network of an experiment whose nir_data is set; the input shape must equal the NIR
 * file's. *readout is the node feeding the graph's Output. */
spk_status spk__nir_build(const spk_experiment *e, int ndim, const int *dims, spk_net **out, int *readout);
/* Standard base64 (RFC 4648, padded). encode: a NUL-terminated spk_malloc'd string (NULL
 * when out of memory); decode ignores whitespace, returns nonzero on malformed input. */
char *spk__base64_encode(const unsigned char *data, size_t n);
int spk__base64_decode(const char *text, unsigned char **out, size_t *n);

#endif
