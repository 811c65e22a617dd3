/* hw_impl.h — inside the hardware module: the RFC 4180 CSV reader shared by the built-in
 * catalog and users' catalog files, and the catalog object. Not part of the public API. */
#ifndef SPK_HW_IMPL_H
#define SPK_HW_IMPL_H

#include "core/core.h"

/* A parsed CSV text: rows of NUL-terminated fields (the header is row 0). */
typedef struct spk__csv {
    int n_rows;
    int *row_line;   /* [n_rows] the line (1-based) where each row starts           */
    int *row_start;  /* [n_rows + 1] the row's first field in `fields`              */
    char **fields;   /* every field, pointing into `buf`                            */
    char *buf;
} spk__csv;

/* Parse RFC 4180 CSV: fields separated by commas, rows by LF or CRLF; a field in double
 * quotes may hold commas, line breaks and "" (one quote). Refused (SPK_ERR_FORMAT, thread
 * message "NAME:LINE: ..."): a quote inside an unquoted field, text after a closing quote,
 * a quoted field still open at the end, a NUL byte, a CR not followed by LF outside quotes.
 * Blank lines are skipped; a UTF-8 byte-order mark is ignored. Field counts are not checked
 * here (the caller compares them with the header). */
spk_status spk__csv_parse(spk__csv *out, const char *text, size_t len, const char *name);
void spk__csv_free(spk__csv *t);
static inline int spk__csv_nfields(const spk__csv *t, int row) { return t->row_start[row + 1] - t->row_start[row]; }
static inline char **spk__csv_row(const spk__csv *t, int row) { return t->fields + t->row_start[row]; }

struct spk_hw_catalog {
    spk__obj obj;
    spk_chip *chips;
    int n, cap;
};

/* The built-in catalog's bytes (generated at build time by src/hw/embed_csv.cmake). */
extern const unsigned char spk__hw_catalog_csv[];
extern const size_t spk__hw_catalog_csv_len;
extern const char spk__hw_catalog_csv_name[];

#endif
