/* cli.h — shared pieces of the spk command-line tool: subcommand entry points and small
 * argument helpers. Only the CLI prints and exits; the library never does. */
#ifndef SPK_CLI_H
#define SPK_CLI_H

#include "spk.h"

int cmd_demo(int argc, char **argv);
int cmd_bench(int argc, char **argv);

/* Parse an integer / float option value; on error print "spk: --name: ..." and return -1. */
int cli_int(const char *name, const char *val, long lo, long hi, long *out);
int cli_float(const char *name, const char *val, double *out);
/* Seconds from a monotonic clock. */
double cli_now(void);
/* Print "spk: <msg>" to stderr. */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
