/* status.c — status codes, their names, and the per-object / per-thread last-error
 * message. Nothing here prints: messages are kept for the caller to show. */
#include "core/core.h"

#include <stdio.h>
#include <string.h>

static const char *const status_names[SPK_STATUS_COUNT] = {
    [SPK_OK] = "ok",
    [SPK_ERR_INVALID_ARG] = "invalid argument",
    [SPK_ERR_NOMEM] = "out of memory",
    [SPK_ERR_SHAPE] = "shape mismatch",
    [SPK_ERR_IO] = "input/output error",
    [SPK_ERR_FORMAT] = "malformed input",
    [SPK_ERR_UNSUPPORTED] = "unsupported",
    [SPK_ERR_NUMERIC] = "numeric error (NaN or Inf)",
    [SPK_ERR_STATE] = "invalid state",
};

const char *spk_status_str(spk_status st) {
    if ((int)st < 0 || st >= SPK_STATUS_COUNT || !status_names[st]) return "unknown status";
    return status_names[st];
}

const char *spk_version(void) { return SPK_VERSION_STRING; }

static _Thread_local char thread_errmsg[SPK__ERRMSG_LEN];

void spk__obj_init(spk__obj *o) {
    o->magic = SPK__OBJ_MAGIC;
    o->errmsg[0] = '\0';
}

void spk__set_thread_error(const char *msg) {
    snprintf(thread_errmsg, sizeof thread_errmsg, "%s", msg ? msg : "");
}

spk_status spk__fail(spk__obj *o, spk_status st, const char *fmt, ...) {
    char *buf = o ? o->errmsg : thread_errmsg;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, SPK__ERRMSG_LEN, fmt, ap);
    va_end(ap);
    return st;
}

const char *spk_errmsg(const void *obj) {
    if (!obj) return thread_errmsg;
    const spk__obj *o = (const spk__obj *)obj;
    if (o->magic != SPK__OBJ_MAGIC) return "not an spk object";
    return o->errmsg;
}
