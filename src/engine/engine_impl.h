/* engine_impl.h — limits shared by the runners of src/engine (event.c, cuba.c). */
#ifndef SPK_ENGINE_IMPL_H
#define SPK_ENGINE_IMPL_H

#include "core/core.h"

/* The most entries (slots x features) a delay ring buffer may hold: 64 Mi entries, 512 MiB.
 * A longer delay is refused with a message rather than allocated. */
#define SPK_EVENT_MAX_RING ((int64_t)1 << 26)

#endif
