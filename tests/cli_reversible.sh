#!/bin/bash
# cli_reversible.sh SPK — a YAML `reversible` layer as a user runs it: a small Yin-Yang model
# with 6 reversible blocks trains well above chance, `spk info` lists the node, `spk eval`
# reloads it, the event-driven engine runs it with the clock engine's spikes (`spk run
# --engine event --check`) and `spk energy` counts its neurons, synapses, spikes and SOPs;
# NIR export and `spk quantize` refuse it by name with a non-zero exit, leaving no file; a
# bad layer is refused with its line; `spk bench reversible` prints its rows.
set -u
SPK=${1:?usage: cli_reversible.sh SPK}
W=$(mktemp -d /tmp/spk_rev.XXXXXX)
trap 'rm -rf "$W"' EXIT
fail=0
check() { if eval "$2"; then echo "ok: $1"; else echo "FAILED: $1"; fail=$((fail + 1)); fi; }

cat > "$W/rev.yaml" <<'YAML'
data: {dataset: yinyang, train_samples: 2000, test_samples: 300, seed: 1}
encoding: {kind: direct, steps: 12}
network:
  - dense: {units: 32}
  - lif: {beta: 0.9}
  - reversible: {name: rb, blocks: 6, op: dense, beta: 0.9}
  - dense: {units: 3}
  - lif: {beta: 0.9, fire: none, reset: none}
training: {epochs: 4, batch_size: 50, loss: ce_mem, mem_reduce: max, optimizer: adam, lr: 0.005, seed: 1}
YAML
"$SPK" train "$W/rev.yaml" -o "$W/m" --quiet > "$W/train.txt" 2>&1
check "a model with reversible blocks trains" "[ $? -eq 0 ] && [ -s '$W/m/model.spk' ]"
acc=$(sed -n 's/^test accuracy \([0-9.]*\)%.*/\1/p' "$W/train.txt")
check "it learns: test accuracy ${acc:-?}% > 55%" "[ -n '$acc' ] && awk 'BEGIN { exit !($acc > 55) }'"
M="$W/m/model.spk"
"$SPK" info "$M" > "$W/info.txt" 2>&1
check "info lists the node, its 2L populations and synapses" "grep -Eq '^  rb +reversible +\[32\] +3264 +3072 6 blocks, lif' '$W/info.txt' && grep -q '^neurons 227,' '$W/info.txt'"
"$SPK" eval "$M" > "$W/eval.txt" 2>&1
check "eval reloads it with the same accuracy" "grep -q \"accuracy ${acc}%\" '$W/eval.txt'"
"$SPK" export "$M" --to nir -o "$W/x.nir" > /dev/null 2> "$W/err.txt"
check "NIR export refuses it by name" "[ $? -ne 0 ] && grep -q \"node 'rb' (reversible)\" '$W/err.txt' && [ ! -e '$W/x.nir' ]"
"$SPK" energy "$M" --data test > "$W/energy.txt" 2>&1
check "energy counts the node's neurons, synapses, spikes and SOPs" "[ $? -eq 0 ] && grep -Eq '^  rb +192 +3072 +[1-9][0-9.]* +[1-9][0-9.]*$' '$W/energy.txt'"
# input [T=12, B=2, 4] of 0/1 values (float32), 128-byte .npy header
hdr="{'descr': '<f4', 'fortran_order': False, 'shape': (12, 2, 4), }"
{
    printf '\x93NUMPY\x01\x00\x76\x00%s%*s\n' "$hdr" $((128 - 10 - ${#hdr} - 1)) ''
    for k in $(seq 0 95); do
        if [ $(( (k * 7919 + 13) % 5 )) -lt 2 ]; then printf '\x00\x00\x80\x3f'; else printf '\x00\x00\x00\x00'; fi
    done
} > "$W/x.npy"
"$SPK" run "$M" --input "$W/x.npy" --output "$W/y.npy" --engine event --check --stats > "$W/run.txt" 2>&1
check "the event engine runs it as the clock engine does" "[ $? -eq 0 ] && grep -Eq '[1-9][0-9]* spikes, 0 differ' '$W/run.txt' && grep -Eq '^  rb +reversible +192 +3072 +[1-9]' '$W/run.txt'"
"$SPK" quantize "$M" -o "$W/q.spk" > /dev/null 2> "$W/err.txt"
check "quantize refuses it by name" "[ $? -ne 0 ] && grep -q \"node 'rb' (reversible)\" '$W/err.txt' && [ ! -e '$W/q.spk' ]"
sed 's/blocks: 6, op: dense/blocks: 6, op: conv, kernel: 2/' "$W/rev.yaml" > "$W/bad.yaml"
"$SPK" train "$W/bad.yaml" -o "$W/b" --quiet > /dev/null 2> "$W/err.txt"
check "an even kernel is refused with its line" "[ $? -ne 0 ] && grep -q \"bad.yaml:6:.*'kernel' must be odd\" '$W/err.txt'"
"$SPK" bench reversible --depth 2 3 --steps 4 --batch 4 --width 16 > "$W/bench.txt" 2>&1
check "bench reversible prints a JSON row per depth and kind" "[ $? -eq 0 ] && [ \$(grep -c '^{\"workload\": \"reversible\"' '$W/bench.txt') -eq 4 ]"
check "bench: both kinds compute the same function (equal first losses per depth)" \
    "[ \$(sed -n 's/.*\"depth\": \\([0-9]*\\),.*\"first_loss\": \\([-0-9.]*\\).*/\\1 \\2/p' '$W/bench.txt' | sort -u | wc -l) -eq 2 ]"
check "bench: the reversible node's activations do not grow with depth" \
    "[ \$(grep '\"reversible\": true' '$W/bench.txt' | sed 's/.*activation_mib\": \([0-9.]*\).*/\1/' | sort -u | wc -l) -eq 1 ]"

[ $fail -eq 0 ] && echo "cli_reversible: all checks passed" || echo "cli_reversible: $fail checks FAILED"
exit $((fail > 0))
