/* cli.h — shared pieces of the spk command-line tool: subcommand entry points and small
 * argument helpers. Only the CLI prints and exits; the library never does. */
#ifndef SPK_CLI_H
#define SPK_CLI_H

#include "spk.h"

int cmd_demo(int argc, char **argv);
int cmd_bench(int argc, char **argv);
/* `spk bench mlp|rec|conv|obench|train` (bench_train.c); argv[1] is the workload. */
int bench_train(int argc, char **argv);
/* Run shared/peers/snntorch_bench.py for `workload` as a child process (SPK_PEERS,
 * SNNTORCH_DIR, SPK_PYTHON) with `batches` timed batches; T > 0 other than 100 runs the
 * script with its rec T changed. Fills *ms (median ms per batch) and, when not NULL, *loss
 * (its last loss). Returns 0 when the peer ran. */
int cli_run_snntorch(const char *workload, int batches, int T, double *ms, double *loss);
/* This process's peak resident set in MB (VmHWM, else getrusage's maximum). After
 * cli_peak_rss_reset returned 1 the peak counts from that call on (Linux's clear_refs); 0:
 * it could not be reset, and the peak is the process's so far. */
double cli_peak_rss_mb(void);
int cli_peak_rss_reset(void);
/* `spk bench infer MODEL` (bench_train.c). */
int bench_infer(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_info(int argc, char **argv);
/* `spk fold MODEL -o OUT` (cmd_fold.c): norm nodes folded into the op before them. */
int cmd_fold(int argc, char **argv);
int cmd_run(int argc, char **argv);
/* NIR files (cmd_nir.c): `spk run` / `spk info` hand a NIR file to these; import, export. */
int cli_is_nir(const char *path);
int cli_nir_positional(int argc, char **argv); /* 1 when the command's file is a NIR file */
int cmd_nir_run(int argc, char **argv);
int cmd_nir_info(int argc, char **argv);
int cmd_import(int argc, char **argv);
int cmd_export(int argc, char **argv);
/* `spk hw list|show|fit` and `spk energy` (cmd_hw.c). */
int cmd_hw(int argc, char **argv);
int cmd_energy(int argc, char **argv);
/* Write a text file atomically (temporary file, flush, fsync, rename); 0 on success. */
int cli_write_text_atomic(const char *path, const char *text);

/* Parse an integer / float option value; on error print "spk: --name: ..." and return -1. */
int cli_int(const char *name, const char *val, long lo, long hi, long *out);
int cli_float(const char *name, const char *val, double *out);
/* Seconds from a monotonic clock. */
double cli_now(void);
/* Encode samples idx[0..B) of d into x as the network reads them: with one (the input is the
 * same at every step: spk_experiment_static_input, and the network told so with
 * spk_net_set_static_input) the one step, else every step; train: with the experiment's
 * augmentation. Nonzero on error (spk_errmsg(NULL) says why). */
int cli_encode(const spk_experiment *e, const spk_dataset *d, const int32_t *idx, int B, float *x, uint64_t draw, int train,
               int one);
/* Print "spk: <msg>" to stderr. */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The event-driven engine in the CLI (run_event.c): run the B samples of x [T, B, feat] one
 * at a time and write the readout's spikes into y [T, B, N]; stats != 0 prints the counts;
 * check != 0 also runs the clock engine and compares every population's spikes (a
 * difference is an error). Returns 0, or -1 after printing the error. */
#include <stdio.h>
int cli_run_event(spk_net *net, int readout, int T, int B, size_t feat, const float *x, float *y, int stats, int check);
/* The event engine's counts per node and in total, as a table on fp. */
void cli_print_event_stats(const spk_event_stats *st, FILE *fp);
/* `spk bench cuba` (bench_cuba.c). */
int bench_cuba(int argc, char **argv);
/* `spk bench stdp` (bench_stdp.c): unsupervised STDP on Fashion-MNIST. */
int bench_stdp(int argc, char **argv);
/* `spk bench attention` (bench_attention.c): the attention op beside PyTorch. */
int bench_attention(int argc, char **argv);
/* `spk bench reversible` (bench_reversible.c): reversible blocks vs ordinary nodes by depth. */
int bench_reversible(int argc, char **argv);
/* Fixed point (cmd_fixed.c): `spk quantize`, and `spk export ... --to c`. */
int cmd_quantize(int argc, char **argv);
int cli_export_is_c(int argc, char **argv);
int cmd_export_c(int argc, char **argv);

#endif
