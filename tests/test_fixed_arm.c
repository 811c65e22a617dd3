/* test_fixed_arm.c — the generated C on a Cortex-M: cross-compiled with arm-none-eabi-gcc
 * (-std=c99 -Wall -Wextra -Werror -pedantic, no C library) together with the startup code,
 * linker script and harness of examples/cortexm, run under qemu-system-arm on the MPS2
 * board (AN385, Cortex-M3; AN386, Cortex-M4) with semihosting, and every output of every
 * step of every sample compared with the fixed-point engine on the host, bit for bit.
 * Skipped (exit 77) with a message when the cross compiler or the emulator is missing. */
#define _POSIX_C_SOURCE 200809L
#include "fixed_common.h"

#include <unistd.h>

#ifndef SPK_SOURCE_DIR
#define SPK_SOURCE_DIR "."
#endif

static char dir[256];

static int run_case(int variant, int bits, int per_channel, int state_bits, const char *cpu, const char *board) {
    const int I = 64, H = 96, O = 8, T = 15, B = 6;
    int ro, fails0 = tu_failures;
    spk_net *net = fx_make_net(variant, I, H, O, variant == 2 ? 1.5f : 2.5f, &ro);
    CHECK(net != NULL);
    if (!net) return -1;
    float *x = malloc(sizeof(float) * (size_t)T * B * I);
    fx_inputs(x, T, B, I, variant == 0, 900 + (uint64_t)variant);
    spk_quant_config qc = {bits, per_channel, state_bits, 8};
    spk_qmodel *q;
    CHECK_OK(spk_quantize(&q, net, ro, &qc, T, B, x));
    if (!q) {
        free(x);
        spk_net_free(net);
        return -1;
    }
    int16_t *xq = malloc(sizeof(int16_t) * (size_t)T * B * I);
    int32_t *want = malloc(sizeof(int32_t) * (size_t)T * B * O), *got = malloc(sizeof(int32_t) * ((size_t)T * B * O + 1));
    char p[512], hp[512];
    snprintf(p, sizeof p, "%s/samples.h", dir);
    CHECK(fx_write_samples(p, q, x, T, B, xq) == 0);
    fx_expected(q, xq, T, B, want);
    long nz = 0;
    for (int k = 0; k < T * B * O; k++) nz += want[k] != 0;
    CHECK_MSG(nz >= 10, "only %ld non-zero outputs", nz);
    snprintf(p, sizeof p, "%s/net.c", dir);
    snprintf(hp, sizeof hp, "%s/net.h", dir);
    CHECK_OK(spk_export_c(q, p, hp, "net.h", "arm test"));
    const char *ex = SPK_SOURCE_DIR "/examples/cortexm";
    int rc = fx_sh("cd %s && arm-none-eabi-gcc -mcpu=%s -mthumb -O2 -std=c99 -Wall -Wextra -Werror -pedantic -ffreestanding -nostdlib "
                   "-I. -I%s -T %s/mps2_an385.ld %s/startup.c %s/main.c net.c -lgcc -o net.elf 2> cc.log",
                   dir, cpu, ex, ex, ex, ex);
    CHECK_MSG(rc == 0, "%s: cross-compiling failed (see %s/cc.log)", cpu, dir);
    if (rc) fx_sh("cat %s/cc.log >&2", dir);
    rc = fx_sh("cd %s && timeout 120 qemu-system-arm -M %s -nographic -monitor none -serial none "
               "-semihosting-config enable=on,target=native -icount shift=0 -kernel net.elf > qemu.out 2> qemu.txt",
               dir, board);
    CHECK_MSG(rc == 0, "%s: qemu exited with %d (see %s/qemu.txt)", board, rc, dir);
    snprintf(p, sizeof p, "%s/qemu.txt", dir);
    long n = fx_read_ints(p, got, (long)T * B * O + 1), diff = 0;
    CHECK_MSG(n == (long)T * B * O, "%s: %ld outputs, expected %d", board, n, T * B * O);
    for (long k = 0; k < n && k < (long)T * B * O; k++) diff += got[k] != want[k];
    CHECK_MSG(n == (long)T * B * O && diff == 0, "%s, variant %d, %d-bit weights: %ld of %ld outputs differ from the host's fixed-point engine", board,
              variant, bits, diff, n);
    /* the harness's tick counter: 2 instructions per calibration iteration under -icount */
    CHECK(fx_sh("grep -Eq '^calibration_ticks [1-9][0-9]* for_instructions 2000000' %s/qemu.txt", dir) == 0);
    free(x);
    free(xq);
    free(want);
    free(got);
    spk_qmodel_free(q);
    spk_net_free(net);
    return tu_failures == fails0 ? 0 : -1;
}

int main(void) {
    if (fx_sh("command -v arm-none-eabi-gcc > /dev/null && command -v qemu-system-arm > /dev/null") != 0) {
        fprintf(stderr, "test_fixed_arm: SKIPPED: arm-none-eabi-gcc or qemu-system-arm is missing "
                        "(Debian packages gcc-arm-none-eabi, qemu-system-arm; scripts/setup installs them)\n");
        return TU_SKIP;
    }
    snprintf(dir, sizeof dir, "/tmp/spk_fixed_arm.XXXXXX");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    run_case(0, 8, 1, 16, "cortex-m3", "mps2-an385");
    run_case(1, 8, 0, 32, "cortex-m3", "mps2-an385");
    run_case(2, 12, 0, 32, "cortex-m4", "mps2-an386");
    int rc = tu_finish("test_fixed_arm");
    if (rc == 0) fx_sh("rm -rf %s", dir);
    else fprintf(stderr, "test_fixed_arm: files kept in %s\n", dir);
    return rc;
}
