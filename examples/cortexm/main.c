/* main.c — runs the generated network (net.c) on the samples of samples.h on the target and
 * prints every output, one line per step between BEGIN and END, so the host can compare
 * them with its own run. With NET_HAVE_EXPECTED the target also checks them itself.
 * It times the NET_STEPS calls of net_step of each sample with SysTick, and times a loop
 * of a known number of instructions (2 per iteration) so that ticks convert to
 * instructions when qemu runs with -icount (one virtual nanosecond per instruction). */
#include "board.h"
#include "net.h"
#include "samples.h"

#define CAL_ITER 1000000u

int main(void) {
    static int32_t out[NET_OUTPUTS];
    uint64_t total = 0;
    uint32_t cal, t0, n = CAL_ITER;
    long mismatches = 0;
    int b, t, o;
    board_ticks_start();
    t0 = board_ticks();
    __asm__ volatile("1: subs %0, %0, #1\n\tbne 1b" : "+r"(n) : : "cc");
    cal = board_ticks_since(t0);
    board_puts("BEGIN\n");
    for (b = 0; b < NET_SAMPLES; b++) {
        net_reset();
        for (t = 0; t < NET_STEPS; t++) {
            t0 = board_ticks();
            net_step(net_samples + ((long)b * NET_STEPS + t) * NET_INPUTS, out);
            total += board_ticks_since(t0);
            for (o = 0; o < NET_OUTPUTS; o++) {
#ifdef NET_HAVE_EXPECTED
                mismatches += out[o] != net_expected[((long)b * NET_STEPS + t) * NET_OUTPUTS + o];
#endif
                board_put_int(out[o]);
                board_puts(" ");
            }
            board_puts("\n");
        }
    }
    board_puts("END\nticks_per_sample ");
    board_put_int((long)(total / NET_SAMPLES));
    board_puts("\ncalibration_ticks ");
    board_put_int((long)cal);
    board_puts(" for_instructions ");
    board_put_int((long)(2u * CAL_ITER));
    board_puts("\nmismatches ");
    board_put_int(mismatches);
    board_puts("\n");
    return mismatches != 0;
}
