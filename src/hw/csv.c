/* csv.c — a strict RFC 4180 CSV reader (quoted fields with commas, "" and line breaks;
 * LF or CRLF rows), used for the built-in hardware catalog and users' catalog files. It
 * reports the line of every malformed row and never guesses: a stray quote is an error,
 * not text. It does not interpret cells (catalog.c does). */
#include "hw/hw_impl.h"

#include <string.h>

void spk__csv_free(spk__csv *t) {
    if (!t) return;
    spk_free(t->row_line);
    spk_free(t->row_start);
    spk_free(t->fields);
    spk_free(t->buf);
    memset(t, 0, sizeof *t);
}

spk_status spk__csv_parse(spk__csv *out, const char *text, size_t len, const char *name) {
    memset(out, 0, sizeof *out);
    if (!text && len) return spk__fail(NULL, SPK_ERR_INVALID_ARG, "%s: no text", name);
    if (len >= 3 && (unsigned char)text[0] == 0xEF && (unsigned char)text[1] == 0xBB && (unsigned char)text[2] == 0xBF) {
        text += 3;
        len -= 3;
    }
    /* upper bounds: every byte could end a field or a row */
    out->buf = spk_malloc(len + 1 + len + 1);
    out->fields = spk_malloc(sizeof(char *) * (len + 2));
    out->row_start = spk_malloc(sizeof(int) * (len + 3));
    out->row_line = spk_malloc(sizeof(int) * (len + 2));
    if (!out->buf || !out->fields || !out->row_start || !out->row_line) {
        spk__csv_free(out);
        return spk__fail(NULL, SPK_ERR_NOMEM, "%s: out of memory reading %zu bytes of CSV", name, len);
    }
    size_t i = 0, b = 0;
    int nf = 0, nr = 0, line = 1;
    while (i < len) {
        /* a blank line (LF or CRLF alone) is skipped */
        if (text[i] == '\n' || (text[i] == '\r' && i + 1 < len && text[i + 1] == '\n')) {
            i += text[i] == '\r' ? 2 : 1;
            line++;
            continue;
        }
        out->row_start[nr] = nf;
        out->row_line[nr] = line;
        int row_line = line;
        for (;;) { /* one field */
            char *field = out->buf + b;
            int fno = nf - out->row_start[nr] + 1; /* the field's number in its row */
            if (i < len && text[i] == '"') {
                int open_line = line;
                i++;
                for (;;) {
                    if (i >= len) {
                        spk__csv_free(out);
                        return spk__fail(NULL, SPK_ERR_FORMAT, "%s:%d: a quoted field opened on line %d is never closed", name, row_line,
                                         open_line);
                    }
                    char ch = text[i];
                    if (ch == '"') {
                        if (i + 1 < len && text[i + 1] == '"') {
                            out->buf[b++] = '"';
                            i += 2;
                            continue;
                        }
                        i++;
                        break;
                    }
                    if (ch == '\0') {
                        spk__csv_free(out);
                        return spk__fail(NULL, SPK_ERR_FORMAT, "%s:%d: a NUL byte inside a field", name, line);
                    }
                    if (ch == '\n') line++;
                    out->buf[b++] = ch;
                    i++;
                }
                if (i < len && text[i] != ',' && text[i] != '\n' && !(text[i] == '\r' && i + 1 < len && text[i + 1] == '\n')) {
                    spk__csv_free(out);
                    return spk__fail(NULL, SPK_ERR_FORMAT, "%s:%d: text after the closing quote of a field (field %d)", name, line,
                                     fno);
                }
            } else {
                while (i < len && text[i] != ',' && text[i] != '\n') {
                    char ch = text[i];
                    if (ch == '\r') {
                        if (i + 1 < len && text[i + 1] == '\n') break;
                        spk__csv_free(out);
                        return spk__fail(NULL, SPK_ERR_FORMAT, "%s:%d: a carriage return outside quotes that does not end the line", name,
                                         line);
                    }
                    if (ch == '"') {
                        spk__csv_free(out);
                        return spk__fail(NULL, SPK_ERR_FORMAT,
                                         "%s:%d: a double quote inside unquoted field %d (quote the whole field and double the quote)",
                                         name, line, fno);
                    }
                    if (ch == '\0') {
                        spk__csv_free(out);
                        return spk__fail(NULL, SPK_ERR_FORMAT, "%s:%d: a NUL byte inside a field", name, line);
                    }
                    out->buf[b++] = ch;
                    i++;
                }
            }
            out->buf[b++] = '\0';
            out->fields[nf++] = field;
            if (i < len && text[i] == ',') {
                i++;
                continue; /* another field follows (possibly empty, at the end of the line) */
            }
            /* end of the row: LF, CRLF or the end of the text */
            if (i < len) {
                i += text[i] == '\r' ? 2 : 1;
                line++;
            }
            break;
        }
        nr++;
    }
    out->row_start[nr] = nf;
    out->n_rows = nr;
    return SPK_OK;
}
