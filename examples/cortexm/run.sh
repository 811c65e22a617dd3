#!/bin/sh
# run.sh QMODEL [SAMPLES] [m3|m4] — run a quantized model on an emulated Cortex-M:
# spk export --to c --samples, arm-none-eabi-gcc for the MPS2 board (AN385: Cortex-M3, AN386:
# Cortex-M4), qemu-system-arm with semihosting and -icount shift=0 (one instruction per
# virtual nanosecond), then the network's flash and RAM (arm-none-eabi-size of net.o), the
# target's own check of its outputs against the host engine's, and instructions per inference
# (SysTick ticks converted with a calibration loop of known length). Files go to $OUT
# (default: a new folder under /tmp). SPK is the spk binary (default: build/spk).
set -eu
Q=${1:?usage: run.sh QMODEL [SAMPLES] [m3|m4]}
N=${2:-20}
CPU=${3:-m3}
HERE=$(cd "$(dirname "$0")" && pwd)
SPK=${SPK:-$HERE/../../build/spk}
OUT=${OUT:-$(mktemp -d /tmp/spk_cortexm.XXXXXX)}
case $CPU in
m3) MCPU=cortex-m3 BOARD=mps2-an385 ;;
m4) MCPU=cortex-m4 BOARD=mps2-an386 ;;
*) echo "run.sh: CPU must be m3 or m4" >&2; exit 2 ;;
esac
"$SPK" export "$Q" --to c -o "$OUT/net.c" --samples "$N" > /dev/null
FLAGS="-mcpu=$MCPU -mthumb -O2 -std=c99 -Wall -Wextra -Werror -pedantic -ffreestanding"
arm-none-eabi-gcc $FLAGS -c "$OUT/net.c" -o "$OUT/net.o"
arm-none-eabi-gcc $FLAGS -nostdlib -I"$OUT" -I"$HERE" -T "$HERE/mps2_an385.ld" \
    "$HERE/startup.c" "$HERE/main.c" "$OUT/net.o" -lgcc -o "$OUT/net.elf"
qemu-system-arm -M "$BOARD" -nographic -monitor none -serial none \
    -semihosting-config enable=on,target=native -icount shift=0 -kernel "$OUT/net.elf" \
    > /dev/null 2> "$OUT/qemu.txt"
T=$(sed -n 's/^#define NET_STEPS //p' "$OUT/samples.h")
arm-none-eabi-size "$OUT/net.o" | awk 'NR == 2 { printf "network (net.o): flash %d bytes (code and const data), RAM %d bytes (state)\n", $1 + $2, $2 + $3 }'
awk -v n="$N" -v t="$T" -v board="$BOARD" '
/^ticks_per_sample/ { ticks = $2 }
/^calibration_ticks/ { ratio = $4 / $2 }
/^mismatches/ { bad = $2 }
END {
    printf "%s: %d samples of %d steps, %d outputs differ from the host fixed-point engine\n", board, n, t, bad
    printf "instructions per inference: %.0f (%.0f per step; %d SysTick ticks, %.1f instructions per tick)\n", ticks * ratio, ticks * ratio / t, ticks, ratio
    exit bad != 0
}' "$OUT/qemu.txt"
echo "files in $OUT"
