#!/bin/bash
# cli_fixed.sh SPK — spk quantize and spk export --to c as a user runs them: train a small
# model, quantize it (the accuracy line), export C and compile it with -std=c99 -pedantic
# -Werror, the float export too; refusals exit non-zero with a message and leave an existing
# output file as it was.
set -u
SPK=${1:?usage: cli_fixed.sh SPK}
W=$(mktemp -d /tmp/spk_cli_fixed.XXXXXX)
trap 'rm -rf "$W"' EXIT
fail=0
check() { if eval "$2"; then echo "ok: $1"; else echo "FAILED: $1"; fail=$((fail + 1)); fi; }

cat > "$W/yy.yaml" <<'YAML'
data: {dataset: yinyang, train_samples: 300, test_samples: 60, seed: 3}
encoding: {kind: rate, steps: 20}
network:
  - dense: {units: 24}
  - lif: {beta: 0.9}
  - dense: {units: 3}
  - lif: {beta: 0.9, fire: none, reset: none}
training: {epochs: 1, batch_size: 20, lr: 0.01, seed: 5}
YAML
"$SPK" train "$W/yy.yaml" -o "$W/a" --quiet > "$W/train.log" 2>&1
check "train exits 0" "[ $? -eq 0 ] && [ -s '$W/a/model.spk' ]"

"$SPK" quantize "$W/a/model.spk" -o "$W/q.spkq" --per-channel > "$W/q.txt" 2>&1
check "quantize exits 0" "[ $? -eq 0 ] && [ -s '$W/q.spkq' ]"
check "quantize prints both accuracies" "grep -Eq 'test accuracy \(60 samples\): float [0-9.]+%  fixed-point [0-9.]+%' '$W/q.txt'"

"$SPK" export "$W/q.spkq" --to c -o "$W/net.c" > "$W/e.txt" 2>&1
check "export --to c exits 0" "[ $? -eq 0 ] && [ -s '$W/net.c' ] && [ -s '$W/net.h' ]"
check "the header states flash and RAM" "grep -Eq 'flash \(const data\): [0-9]+ bytes; RAM \(state struct\): [0-9]+ bytes' '$W/net.c'"
check "the C compiles with -std=c99 -pedantic -Werror" "cc -std=c99 -Wall -Wextra -Werror -pedantic -c '$W/net.c' -o '$W/net.o'"
"$SPK" export "$W/a/model.spk" --to c --float -o "$W/fnet.c" > /dev/null 2>&1
check "float export compiles" "[ $? -eq 0 ] && cc -std=c99 -Wall -Wextra -Werror -pedantic -c '$W/fnet.c' -o '$W/fnet.o'"

"$SPK" quantize "$W/a/model.spk" -o "$W/qat.spkq" --bits 4 --finetune 1 --lr 0.001 > "$W/qat.txt" 2>&1
check "quantization-aware fine-tuning runs" "[ \$? -eq 0 ] && grep -q 'fine-tuning epoch 1/1' '$W/qat.txt' && grep -q 'fine-tuned float' '$W/qat.txt'"
cp "$W/q.spkq" "$W/q.keep"
cp "$W/net.c" "$W/net.keep"
"$SPK" quantize "$W/a/model.spk" -o "$W/q.spkq" --bits 3 > "$W/r1.txt" 2>&1
check "--bits 3 refused with exit 2" "[ $? -eq 2 ] && grep -q 'out of range' '$W/r1.txt'"
"$SPK" quantize "$W/a/model.spk" -o "$W/q.spkq" --state-bits 24 > /dev/null 2>&1
check "--state-bits 24 refused with exit 2" "[ $? -eq 2 ]"
"$SPK" quantize "$W/nothing.spk" -o "$W/q.spkq" > "$W/r2.txt" 2>&1
check "a missing model exits 1, names it, keeps the output" "[ $? -eq 1 ] && grep -q 'nothing.spk' '$W/r2.txt' && cmp -s '$W/q.spkq' '$W/q.keep'"
"$SPK" export "$W/a/model.spk" --to c -o "$W/net.c" > "$W/r3.txt" 2>&1
check "a float model without --float is refused, net.c kept" "[ $? -eq 1 ] && grep -q 'spk quantize' '$W/r3.txt' && cmp -s '$W/net.c' '$W/net.keep'"
"$SPK" export "$W/q.spkq" --to c -o "$W/net.txt" > /dev/null 2>&1
check "-o without .c exits 2" "[ $? -eq 2 ]"
printf 'X' | dd of="$W/q.spkq" bs=1 seek=500 conv=notrunc 2> /dev/null
"$SPK" export "$W/q.spkq" --to c -o "$W/net.c" > "$W/r4.txt" 2>&1
check "a corrupted quantized model is refused, net.c kept" "[ $? -eq 1 ] && grep -q 'checksum' '$W/r4.txt' && cmp -s '$W/net.c' '$W/net.keep'"

[ $fail -eq 0 ] && echo "cli_fixed: all passed" || echo "cli_fixed: $fail FAILED"
exit $((fail > 0))
