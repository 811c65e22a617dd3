/* catalog.c — the neuromorphic chip catalog: the built-in chips (SPEC.md §6's
 * neuromorphic-hardware.csv, compiled in as bytes and parsed by csv.c at run time), users'
 * CSV files that add or override chips, look-up and sorting. Every cell is checked; an empty
 * cell is unknown (NaN or ""), never zero. It does not judge models (fit.c) or energy
 * (energy.c). */
#include "hw/hw_impl.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const col_names[SPK_HW_COL_COUNT] = {
    "name", "maker", "announced", "process_nm", "neurons", "neuron_model", "synapses",
    "synapse_model", "on_chip_learning", "clock_mhz", "j_per_sop", "w_per_synapse", "software",
};

const char *spk_hw_column_name(spk_hw_column c) { return (int)c >= 0 && c < SPK_HW_COL_COUNT ? col_names[c] : NULL; }

const char *spk_hw_catalog_source(void) {
    return "built-in: neuromorphic-hardware.csv (SPEC.md §6; fifteen chips published 2013-2023), compiled in from "
           "src/hw/neuromorphic-hardware.csv";
}

static int ieq(const char *a, const char *b) {
    for (; *a && *b; a++, b++)
        if (tolower((unsigned char)*a) != tolower((unsigned char)*b)) return 0;
    return *a == *b;
}

static int icmp(const char *a, const char *b) {
    for (; *a && *b; a++, b++) {
        int d = tolower((unsigned char)*a) - tolower((unsigned char)*b);
        if (d) return d;
    }
    return (unsigned char)*a - (unsigned char)*b;
}

/* Trim ASCII spaces and tabs in place; returns the start. */
static char *trim(char *s) {
    while (*s == ' ' || *s == '\t') s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t')) s[--n] = '\0';
    return s;
}

static int is_numeric(spk_hw_column c) {
    return c == SPK_HW_COL_PROCESS_NM || c == SPK_HW_COL_NEURONS || c == SPK_HW_COL_SYNAPSES || c == SPK_HW_COL_CLOCK_MHZ ||
           c == SPK_HW_COL_J_PER_SOP || c == SPK_HW_COL_W_PER_SYNAPSE;
}

static double *num_field(spk_chip *ch, spk_hw_column c) {
    switch (c) {
    case SPK_HW_COL_PROCESS_NM: return &ch->process_nm;
    case SPK_HW_COL_NEURONS: return &ch->neurons;
    case SPK_HW_COL_SYNAPSES: return &ch->synapses;
    case SPK_HW_COL_CLOCK_MHZ: return &ch->clock_mhz;
    case SPK_HW_COL_J_PER_SOP: return &ch->j_per_sop;
    case SPK_HW_COL_W_PER_SYNAPSE: return &ch->w_per_synapse;
    default: return NULL;
    }
}

static char *text_field(spk_chip *ch, spk_hw_column c) {
    switch (c) {
    case SPK_HW_COL_NAME: return ch->name;
    case SPK_HW_COL_MAKER: return ch->maker;
    case SPK_HW_COL_ANNOUNCED: return ch->announced;
    case SPK_HW_COL_NEURON_MODEL: return ch->neuron_model;
    case SPK_HW_COL_SYNAPSE_MODEL: return ch->synapse_model;
    case SPK_HW_COL_ON_CHIP_LEARNING: return ch->on_chip_learning;
    case SPK_HW_COL_SOFTWARE: return ch->software;
    default: return NULL;
    }
}

static void chip_unknown(spk_chip *ch) {
    memset(ch, 0, sizeof *ch);
    ch->process_nm = ch->neurons = ch->synapses = ch->clock_mhz = ch->j_per_sop = ch->w_per_synapse = NAN;
}

/* YYYY, YYYY-MM or YYYY-MM-DD with a plausible month and day. */
static int valid_date(const char *s) {
    size_t n = strlen(s);
    if (n != 4 && n != 7 && n != 10) return 0;
    for (size_t i = 0; i < n; i++) {
        if (i == 4 || i == 7) {
            if (s[i] != '-') return 0;
        } else if (!isdigit((unsigned char)s[i])) {
            return 0;
        }
    }
    if (n >= 7) {
        int m = (s[5] - '0') * 10 + (s[6] - '0');
        if (m < 1 || m > 12) return 0;
    }
    if (n == 10) {
        int d = (s[8] - '0') * 10 + (s[9] - '0');
        if (d < 1 || d > 31) return 0;
    }
    return 1;
}

/* Set column c of ch from cell text s (already trimmed). Returns 0, or -1 with msg. */
static int set_cell(spk_chip *ch, spk_hw_column c, const char *s, char *msg, size_t msz) {
    if (is_numeric(c)) {
        double *d = num_field(ch, c);
        if (c == SPK_HW_COL_CLOCK_MHZ) ch->clock_async = 0;
        if (!*s) {
            *d = NAN; /* unknown */
            return 0;
        }
        if (c == SPK_HW_COL_CLOCK_MHZ && (ieq(s, "async") || ieq(s, "asynchronous"))) {
            *d = NAN;
            ch->clock_async = 1;
            return 0;
        }
        char *end;
        errno = 0;
        double v = strtod(s, &end);
        if (end == s || *end || errno == ERANGE || !isfinite(v)) {
            snprintf(msg, msz, "%s = '%s' is not a number%s", col_names[c], s, c == SPK_HW_COL_CLOCK_MHZ ? " (nor 'async')" : "");
            return -1;
        }
        int zero_ok = c == SPK_HW_COL_J_PER_SOP || c == SPK_HW_COL_W_PER_SYNAPSE;
        if (v < 0 || (v == 0 && !zero_ok)) {
            snprintf(msg, msz, "%s = %s must be %s (leave the cell empty when it is unknown)", col_names[c], s,
                     zero_ok ? ">= 0" : "> 0");
            return -1;
        }
        *d = v;
        return 0;
    }
    char *t = text_field(ch, c);
    size_t n = strlen(s);
    if (n >= SPK_HW_TEXT) {
        snprintf(msg, msz, "%s is %zu characters long (at most %d)", col_names[c], n, SPK_HW_TEXT - 1);
        return -1;
    }
    if (c == SPK_HW_COL_ANNOUNCED && n && !valid_date(s)) {
        snprintf(msg, msz, "announced = '%s' is not a date YYYY-MM-DD (or YYYY-MM, YYYY)", s);
        return -1;
    }
    memcpy(t, s, n + 1);
    return 0;
}

static spk_status fail_both(spk_hw_catalog *c, spk_status st, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static spk_status fail_both(spk_hw_catalog *c, spk_status st, const char *fmt, ...) {
    char buf[SPK__ERRMSG_LEN];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    spk__set_thread_error(buf);
    if (c) spk__fail(&c->obj, st, "%s", buf);
    return st;
}

spk_status spk_hw_catalog_merge_text(spk_hw_catalog *c, const char *text, size_t len, const char *name) {
    if (!c) return spk__fail(NULL, SPK_ERR_INVALID_ARG, "spk_hw_catalog_merge_text: NULL catalog");
    if (!name) name = "catalog";
    spk__csv t;
    spk_status st = spk__csv_parse(&t, text, len, name);
    if (st) return fail_both(c, st, "%s", spk_errmsg(NULL));
    if (t.n_rows < 1) {
        st = fail_both(c, SPK_ERR_FORMAT, "%s: empty (a header row of column names is needed)", name);
        spk__csv_free(&t);
        return st;
    }
    /* header */
    int ncol = spk__csv_nfields(&t, 0), col_of[64], seen[SPK_HW_COL_COUNT] = {0}, hline = t.row_line[0];
    char **hdr = spk__csv_row(&t, 0);
    if (ncol > 64) {
        st = fail_both(c, SPK_ERR_FORMAT, "%s:%d: %d columns (the catalog has %d)", name, hline, ncol, SPK_HW_COL_COUNT);
        spk__csv_free(&t);
        return st;
    }
    for (int k = 0; k < ncol; k++) {
        char *h = trim(hdr[k]);
        col_of[k] = -1;
        for (int j = 0; j < SPK_HW_COL_COUNT; j++)
            if (ieq(h, col_names[j])) col_of[k] = j;
        if (col_of[k] < 0) {
            char known[512];
            size_t o = 0;
            for (int j = 0; j < SPK_HW_COL_COUNT && o < sizeof known; j++) o += (size_t)snprintf(known + o, sizeof known - o, j ? ", %s" : "%s", col_names[j]);
            st = fail_both(c, SPK_ERR_FORMAT, "%s:%d: unknown column '%s' (the columns are %s)", name, hline, h, known);
            spk__csv_free(&t);
            return st;
        }
        if (seen[col_of[k]]++) {
            st = fail_both(c, SPK_ERR_FORMAT, "%s:%d: column '%s' appears twice", name, hline, h);
            spk__csv_free(&t);
            return st;
        }
    }
    if (!seen[SPK_HW_COL_NAME]) {
        st = fail_both(c, SPK_ERR_FORMAT, "%s:%d: no 'name' column in the header", name, hline);
        spk__csv_free(&t);
        return st;
    }
    /* rows, into a copy: the catalog changes only when every row is good */
    int nrows = t.n_rows - 1;
    int alloc = c->n + nrows + 1;
    spk_chip *staged = spk_malloc(sizeof(spk_chip) * (size_t)alloc);
    if (!staged) {
        st = fail_both(c, SPK_ERR_NOMEM, "%s: out of memory", name);
        spk__csv_free(&t);
        return st;
    }
    if (c->n) memcpy(staged, c->chips, sizeof(spk_chip) * (size_t)c->n);
    int n = c->n;
    int *row_of = spk_malloc(sizeof(int) * (size_t)alloc); /* chip -> the line of this file that set it, or 0 */
    if (!row_of) {
        spk_free(staged);
        st = fail_both(c, SPK_ERR_NOMEM, "%s: out of memory", name);
        spk__csv_free(&t);
        return st;
    }
    for (int k = 0; k < alloc; k++) row_of[k] = 0;
    st = SPK_OK;
    for (int r = 1; r <= nrows && !st; r++) {
        int line = t.row_line[r];
        if (spk__csv_nfields(&t, r) != ncol) {
            st = fail_both(c, SPK_ERR_FORMAT, "%s:%d: %d fields, the header has %d", name, line, spk__csv_nfields(&t, r), ncol);
            break;
        }
        char **f = spk__csv_row(&t, r);
        const char *nm = NULL;
        for (int k = 0; k < ncol; k++)
            if (col_of[k] == SPK_HW_COL_NAME) nm = trim(f[k]);
        if (!*nm) {
            st = fail_both(c, SPK_ERR_FORMAT, "%s:%d: the name is empty", name, line);
            break;
        }
        int idx = -1;
        for (int k = 0; k < n; k++)
            if (ieq(staged[k].name, nm)) idx = k;
        if (idx >= 0 && row_of[idx]) {
            st = fail_both(c, SPK_ERR_FORMAT, "%s:%d: chip '%s' is already defined on line %d of this file", name, line, nm, row_of[idx]);
            break;
        }
        spk_chip ch;
        if (idx >= 0) {
            ch = staged[idx];
        } else {
            chip_unknown(&ch);
        }
        char msg[300];
        for (int k = 0; k < ncol; k++) {
            if (set_cell(&ch, (spk_hw_column)col_of[k], trim(f[k]), msg, sizeof msg)) {
                st = fail_both(c, SPK_ERR_FORMAT, "%s:%d: %s", name, line, msg);
                break;
            }
        }
        if (st) break;
        snprintf(ch.origin, sizeof ch.origin, "%s:%d", name, line);
        if (idx < 0) idx = n++;
        staged[idx] = ch;
        row_of[idx] = line;
    }
    spk_free(row_of);
    spk__csv_free(&t);
    if (st) {
        spk_free(staged);
        return st;
    }
    spk_free(c->chips);
    c->chips = staged;
    c->n = n;
    c->cap = alloc;
    return SPK_OK;
}

spk_status spk_hw_catalog_merge_file(spk_hw_catalog *c, const char *path) {
    if (!c || !path) return spk__fail(NULL, SPK_ERR_INVALID_ARG, "spk_hw_catalog_merge_file: NULL argument");
    FILE *f = fopen(path, "rb");
    if (!f) return fail_both(c, SPK_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    size_t cap = 1 << 16, n = 0;
    char *buf = spk_malloc(cap);
    while (buf) {
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (n < cap) break;
        if (cap > ((size_t)1 << 30)) {
            spk_free(buf);
            fclose(f);
            return fail_both(c, SPK_ERR_FORMAT, "%s: larger than 1 GiB: not a catalog", path);
        }
        char *nb = spk_malloc(cap * 2);
        if (nb) memcpy(nb, buf, n);
        spk_free(buf);
        buf = nb;
        cap *= 2;
    }
    int err = ferror(f);
    fclose(f);
    if (!buf) return fail_both(c, SPK_ERR_NOMEM, "%s: out of memory reading the file", path);
    if (err) {
        spk_free(buf);
        return fail_both(c, SPK_ERR_IO, "%s: read error", path);
    }
    spk_status st = spk_hw_catalog_merge_text(c, buf, n, path);
    spk_free(buf);
    return st;
}

spk_status spk_hw_catalog_create(spk_hw_catalog **out) {
    if (!out) return spk__fail(NULL, SPK_ERR_INVALID_ARG, "spk_hw_catalog_create: NULL out");
    *out = NULL;
    spk_hw_catalog *c = spk_malloc(sizeof *c);
    if (!c) return spk__fail(NULL, SPK_ERR_NOMEM, "hardware catalog: out of memory");
    memset(c, 0, sizeof *c);
    spk__obj_init(&c->obj);
    spk_status st = spk_hw_catalog_merge_text(c, (const char *)spk__hw_catalog_csv, spk__hw_catalog_csv_len, spk__hw_catalog_csv_name);
    if (st) {
        spk_hw_catalog_free(c);
        return st;
    }
    for (int i = 0; i < c->n; i++) snprintf(c->chips[i].origin, sizeof c->chips[i].origin, "built-in");
    *out = c;
    return SPK_OK;
}

void spk_hw_catalog_free(spk_hw_catalog *c) {
    if (!c) return;
    spk_free(c->chips);
    spk_free(c);
}

int spk_hw_catalog_count(const spk_hw_catalog *c) { return c ? c->n : 0; }

const spk_chip *spk_hw_catalog_chip(const spk_hw_catalog *c, int i) { return c && i >= 0 && i < c->n ? &c->chips[i] : NULL; }

int spk_hw_catalog_find(const spk_hw_catalog *c, const char *name) {
    if (!c || !name) return -1;
    for (int i = 0; i < c->n; i++)
        if (ieq(c->chips[i].name, name)) return i;
    return -1;
}

/* <0, 0, >0 for a before / tied / after b in ascending order; unknowns last either way is
 * handled by the caller. rank: 0 known number, 1 async clock, 2 unknown. */
static int rank_of(spk_chip *ch, spk_hw_column col) {
    if (is_numeric(col)) {
        if (!isnan(*num_field(ch, col))) return 0;
        return col == SPK_HW_COL_CLOCK_MHZ && ch->clock_async ? 1 : 2;
    }
    return text_field(ch, col)[0] ? 0 : 2;
}

static int cmp_known(spk_chip *a, spk_chip *b, spk_hw_column col) {
    if (is_numeric(col)) {
        double x = *num_field(a, col), y = *num_field(b, col);
        return x < y ? -1 : x > y ? 1 : 0;
    }
    return icmp(text_field(a, col), text_field(b, col));
}

spk_status spk_hw_catalog_sort(spk_hw_catalog *c, const char *column) {
    if (!c || !column) return spk__fail(NULL, SPK_ERR_INVALID_ARG, "spk_hw_catalog_sort: NULL argument");
    int desc = column[0] == '-';
    const char *cn = column + desc;
    int col = -1;
    for (int j = 0; j < SPK_HW_COL_COUNT; j++)
        if (ieq(cn, col_names[j])) col = j;
    if (col < 0) {
        char known[512];
        size_t o = 0;
        for (int j = 0; j < SPK_HW_COL_COUNT && o < sizeof known; j++) o += (size_t)snprintf(known + o, sizeof known - o, j ? ", %s" : "%s", col_names[j]);
        return fail_both(c, SPK_ERR_INVALID_ARG, "no column '%s' to sort by (the columns are %s)", cn, known);
    }
    /* insertion sort: stable, and catalogs are small */
    for (int i = 1; i < c->n; i++) {
        spk_chip key = c->chips[i];
        int j = i - 1;
        for (; j >= 0; j--) {
            spk_chip *p = &c->chips[j];
            int ra = rank_of(p, (spk_hw_column)col), rb = rank_of(&key, (spk_hw_column)col);
            int after; /* p must come after key */
            if (ra != rb) {
                after = ra > rb;
            } else if (ra == 0) {
                int d = cmp_known(p, &key, (spk_hw_column)col);
                after = desc ? d < 0 : d > 0;
            } else {
                after = 0;
            }
            if (!after) break;
            c->chips[j + 1] = c->chips[j];
        }
        c->chips[j + 1] = key;
    }
    return SPK_OK;
}
