/* cuba_config.c — the CUBA network described in YAML: one flat mapping of numbers, keys as
 * listed in docs/engine.md (examples/cuba.yaml). Parsed with libyaml; an unknown key, a
 * repeated key or a value that is not a number is refused with FILE:LINE:COLUMN. Value
 * ranges are checked by spk_cuba_create.
 *
 * Deliberately not here: explicit synapse lists (the C API takes them). */
#include "core/core.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

typedef struct key_def {
    const char *name;
    int is_int;
    size_t off;
} key_def;

#define D(f) offsetof(spk_cuba_config, f)
static const key_def keys[] = {
    {"neurons", 1, D(n)},
    {"excitatory_fraction", 0, D(exc_fraction)},
    {"connection_probability", 0, D(p)},
    {"dt_ms", 0, D(dt_ms)},
    {"tau_m_ms", 0, D(tau_m_ms)},
    {"tau_e_ms", 0, D(tau_e_ms)},
    {"tau_i_ms", 0, D(tau_i_ms)},
    {"v_threshold_mv", 0, D(v_thr_mv)},
    {"v_reset_mv", 0, D(v_reset_mv)},
    {"v_rest_mv", 0, D(v_rest_mv)},
    {"refractory_ms", 0, D(refractory_ms)},
    {"w_exc_mv", 0, D(w_exc_mv)},
    {"w_inh_mv", 0, D(w_inh_mv)},
    {"delay_steps", 1, D(delay_steps)},
    {"seed", 2, D(seed)},
};
#undef D
#define NKEYS (int)(sizeof keys / sizeof keys[0])

spk_status spk_cuba_config_load(spk_cuba_config *c, const char *path) {
    if (!c || !path) return spk__fail(NULL, SPK_ERR_INVALID_ARG, "spk_cuba_config_load: NULL argument");
    FILE *f = fopen(path, "rb");
    if (!f) return spk__fail(NULL, SPK_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    yaml_parser_t p;
    yaml_document_t doc;
    if (!yaml_parser_initialize(&p)) {
        fclose(f);
        return spk__fail(NULL, SPK_ERR_NOMEM, "%s: no memory for the YAML parser", path);
    }
    yaml_parser_set_input_file(&p, f);
    if (!yaml_parser_load(&p, &doc)) {
        spk_status st = spk__fail(NULL, SPK_ERR_FORMAT, "%s:%zu:%zu: %s", path, p.problem_mark.line + 1, p.problem_mark.column + 1,
                                  p.problem ? p.problem : "malformed YAML");
        yaml_parser_delete(&p);
        fclose(f);
        return st;
    }
    spk_cuba_config out = *c;
    spk_status st = SPK_OK;
    int seen[NKEYS] = {0};
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (!root || root->type != YAML_MAPPING_NODE) {
        st = spk__fail(NULL, SPK_ERR_FORMAT, "%s:%zu:%zu: expected a mapping of keys to numbers", path, root ? root->start_mark.line + 1 : 1,
                       root ? root->start_mark.column + 1 : (size_t)1);
    }
    for (yaml_node_pair_t *pr = root && !st ? root->data.mapping.pairs.start : NULL; pr && pr < root->data.mapping.pairs.top && !st; pr++) {
        yaml_node_t *k = yaml_document_get_node(&doc, pr->key), *v = yaml_document_get_node(&doc, pr->value);
        if (k->type != YAML_SCALAR_NODE) {
            st = spk__fail(NULL, SPK_ERR_FORMAT, "%s:%zu:%zu: a key must be a name", path, k->start_mark.line + 1, k->start_mark.column + 1);
            break;
        }
        const char *name = (const char *)k->data.scalar.value;
        int which = -1;
        for (int q = 0; q < NKEYS; q++)
            if (!strcmp(name, keys[q].name)) which = q;
        if (which < 0) {
            st = spk__fail(NULL, SPK_ERR_FORMAT, "%s:%zu:%zu: unknown key '%s'", path, k->start_mark.line + 1, k->start_mark.column + 1, name);
            break;
        }
        if (seen[which]++) {
            st = spk__fail(NULL, SPK_ERR_FORMAT, "%s:%zu:%zu: '%s' given twice", path, k->start_mark.line + 1, k->start_mark.column + 1, name);
            break;
        }
        const char *val = v->type == YAML_SCALAR_NODE ? (const char *)v->data.scalar.value : "";
        char *end;
        errno = 0;
        double d = strtod(val, &end);
        int ok = v->type == YAML_SCALAR_NODE && *val && !*end && !errno && isfinite(d);
        if (ok && keys[which].is_int) ok = d == floor(d) && fabs(d) <= (keys[which].is_int == 2 ? 9007199254740992.0 : 2147483647.0);
        if (ok && keys[which].is_int == 2) ok = d >= 0;
        if (!ok) {
            st = spk__fail(NULL, SPK_ERR_FORMAT, "%s:%zu:%zu: %s = '%s' is not %s", path, v->start_mark.line + 1, v->start_mark.column + 1, name, val,
                           keys[which].is_int == 2 ? "a non-negative integer" : keys[which].is_int ? "an integer" : "a number");
            break;
        }
        char *dst = (char *)&out + keys[which].off;
        if (keys[which].is_int == 2) *(uint64_t *)(void *)dst = (uint64_t)d;
        else if (keys[which].is_int) *(int *)(void *)dst = (int)d;
        else *(double *)(void *)dst = d;
    }
    yaml_document_delete(&doc);
    yaml_parser_delete(&p);
    fclose(f);
    if (!st) *c = out;
    return st;
}
