/* main.c — the spk command-line tool: global options and subcommand dispatch. */
#define _POSIX_C_SOURCE 200809L /* setenv, execv */
#include "cli.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void usage(FILE *fp) {
    fprintf(fp,
            "spk %s — spiking neural networks: simulate, train, run event-driven, deploy\n"
            "\n"
            "usage: spk [--threads N] COMMAND [options]\n"
            "\n"
            "commands:\n"
            "  train FILE.yaml train an experiment (docs/experiment.md); --resume continues a run\n"
            "  eval MODEL      loss and accuracy of a trained model on its data\n"
            "  info MODEL      nodes, shapes, neurons, synapses and parameters of a model\n"
            "  run MODEL       run a model on an input .npy, write its spikes (and --record HDF5)\n"
            "  run X.nir       run a NIR graph on an input .npy (--dt, --method; docs/nir.md)\n"
            "  import X.nir    make a model file from a NIR graph (-o MODEL)\n"
            "  export MODEL    write a model as NIR (--to nir -o X.nir)\n"
            "  fold MODEL      fold trained batch-norm nodes into the weights before them (-o OUT)\n"
            "  quantize MODEL  fixed-point model: integer weights and states (-o QMODEL; docs/deploy.md)\n"
            "  export QMODEL   standalone C for microcontrollers (--to c -o net.c; --float from a MODEL)\n"
            "  hw SUBCOMMAND   neuromorphic chips: list, show NAME, fit MODEL (fits each chip, or why not)\n"
            "  energy MODEL    spikes and SOPs per inference (event-driven) and energy per chip, GPU, 45 nm\n"
            "  demo            simulate the generalized neuron in its main modes and print rasters\n"
            "  bench WORKLOAD  benchmarks: neuron, memory (see 'spk bench --help')\n"
            "  version         print the version\n"
            "  help            this text\n"
            "\n"
            "global options:\n"
            "  --threads N     threads for spk and OpenBLAS (default: SPK_THREADS, else all cores)\n"
            "\n"
            "Run 'spk COMMAND --help' for a command's options.\n",
            spk_version());
}

void cli_error(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("spk: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

int cli_int(const char *name, const char *val, long lo, long hi, long *out) {
    if (!val) { cli_error("%s needs a value", name); return -1; }
    char *end;
    errno = 0;
    long v = strtol(val, &end, 10);
    if (errno || *end || end == val) { cli_error("%s: '%s' is not an integer", name, val); return -1; }
    if (v < lo || v > hi) { cli_error("%s: %ld is out of range [%ld, %ld]", name, v, lo, hi); return -1; }
    *out = v;
    return 0;
}

int cli_float(const char *name, const char *val, double *out) {
    if (!val) { cli_error("%s needs a value", name); return -1; }
    char *end;
    errno = 0;
    double v = strtod(val, &end);
    if (errno || *end || end == val || v != v) { cli_error("%s: '%s' is not a number", name, val); return -1; }
    *out = v;
    return 0;
}

double cli_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* OpenMP threads waiting at a barrier spin for a long time by default (libgomp: about 300,000
 * iterations). On a machine whose cores are busy with other work, the spinning threads take
 * the cores from the threads doing the work: `spk bench mlp` beside one busy process took
 * 110-140 ms per batch with the default, 46-50 ms with GOMP_SPINCOUNT=10000 or passive
 * waiting (and 14-15 ms alone). libgomp
 * reads its settings when it loads, before main runs, so unless the user chose a policy
 * (OMP_WAIT_POLICY or GOMP_SPINCOUNT), the tool runs itself again once with a short spin. */
static void bound_omp_spinning(char **argv) {
    if (getenv("OMP_WAIT_POLICY") || getenv("GOMP_SPINCOUNT")) return;
    if (setenv("GOMP_SPINCOUNT", "10000", 1)) return;
    execv("/proc/self/exe", argv);
    unsetenv("GOMP_SPINCOUNT"); /* no /proc (or exec refused): carry on with the defaults */
}

int main(int argc, char **argv) {
    bound_omp_spinning(argv);
    int i = 1;
    while (i < argc && argv[i][0] == '-') {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(argv[i], "--version")) {
            printf("spk %s\n", spk_version());
            return 0;
        } else if (!strcmp(argv[i], "--threads")) {
            long n;
            if (cli_int("--threads", i + 1 < argc ? argv[i + 1] : NULL, 1, 1024, &n)) return 2;
            spk_set_threads((int)n);
            i += 2;
        } else {
            cli_error("unknown option '%s' (see 'spk --help')", argv[i]);
            return 2;
        }
    }
    if (i >= argc) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[i];
    int sub_argc = argc - i;
    char **sub_argv = argv + i;
    spk_get_threads(); /* apply SPK_THREADS when --threads was not given */
    if (!strcmp(cmd, "demo")) return cmd_demo(sub_argc, sub_argv);
    if (!strcmp(cmd, "train")) return cmd_train(sub_argc, sub_argv);
    if (!strcmp(cmd, "eval")) return cmd_eval(sub_argc, sub_argv);
    if (!strcmp(cmd, "info")) return cmd_info(sub_argc, sub_argv);
    if (!strcmp(cmd, "fold")) return cmd_fold(sub_argc, sub_argv);
    if (!strcmp(cmd, "run")) return cmd_run(sub_argc, sub_argv);
    if (!strcmp(cmd, "import")) return cmd_import(sub_argc, sub_argv);
    if (!strcmp(cmd, "export") && cli_export_is_c(sub_argc, sub_argv)) return cmd_export_c(sub_argc, sub_argv);
    if (!strcmp(cmd, "export")) return cmd_export(sub_argc, sub_argv);
    if (!strcmp(cmd, "quantize")) return cmd_quantize(sub_argc, sub_argv);
    if (!strcmp(cmd, "hw")) return cmd_hw(sub_argc, sub_argv);
    if (!strcmp(cmd, "energy")) return cmd_energy(sub_argc, sub_argv);
    if (!strcmp(cmd, "bench")) return cmd_bench(sub_argc, sub_argv);
    if (!strcmp(cmd, "version")) { printf("spk %s\n", spk_version()); return 0; }
    if (!strcmp(cmd, "help")) { usage(stdout); return 0; }
    cli_error("unknown command '%s' (see 'spk --help')", cmd);
    return 2;
}
