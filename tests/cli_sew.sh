#!/bin/bash
# cli_sew.sh SPK — residual blocks and batch norm from the command line: train a tiny
# Yin-Yang model with batchnorm layers and a SEW block, `spk info` flags the non-local nodes,
# `spk fold` removes them with the same evaluation, folding refusals name the node and leave
# an existing output untouched, and hardware-safe training is refused naming the node.
set -u
SPK=${1:?usage: cli_sew.sh SPK}
W=$(mktemp -d /tmp/spk_sew.XXXXXX)
trap 'rm -rf "$W"' EXIT
fail=0
check() { if eval "$2"; then echo "ok: $1"; else echo "FAILED: $1"; fail=$((fail + 1)); fi; }

cat > "$W/yy.yaml" <<'YAML'
data: {dataset: yinyang, train_samples: 256, test_samples: 64, seed: 3}
encoding: {kind: direct, steps: 6}
network:
  - dense: {name: fc1, units: 16}
  - batchnorm: {name: bn1}
  - lif: {name: l1}
  - residual:
      name: sew
      connect: iand
      layers:
        - dense: {name: fc2, units: 16}
        - batchnorm: {name: bn2, alpha: 0.70710678}
        - lif: {name: l2}
  - dense: {name: out_fc, units: 3}
  - lif: {name: out, fire: none, reset: none}
training: {epochs: 1, batch_size: 32, lr: 0.01}
YAML
"$SPK" --threads 1 train "$W/yy.yaml" -o "$W/run" --quiet > "$W/train.txt" 2>&1
check "train with batchnorm and a SEW block" "[ $? -eq 0 ] && [ -f '$W/run/model.spk' ]"
grep -q "connect: iand" "$W/run/experiment.yaml" && grep -q "  - batchnorm: {name: bn2, alpha: 0.7071" "$W/run/experiment.yaml"
check "the resolved experiment keeps the block" "[ $? -eq 0 ]"
# the running statistics travel in checkpoints: 1 epoch then --resume to 2 equals 2 straight
"$SPK" --threads 1 train "$W/yy.yaml" -o "$W/two" --epochs 2 --quiet > /dev/null 2>&1
"$SPK" --threads 1 train "$W/yy.yaml" -o "$W/res" --epochs 1 --quiet > /dev/null 2>&1
"$SPK" --threads 1 train "$W/yy.yaml" -o "$W/res" --epochs 2 --resume --quiet > /dev/null 2>&1
check "resume with batch norm is byte-identical" "[ -s '$W/two/model.spk' ] && cmp -s '$W/two/model.spk' '$W/res/model.spk'"
"$SPK" info "$W/run/model.spk" > "$W/info.txt" 2>&1
check "info flags the norm nodes" "grep -q '^  bn1  *norm .*NON-LOCAL' '$W/info.txt' && grep -q 'non-local nodes: 2' '$W/info.txt' && grep -q '^  sew  *merge .*iand' '$W/info.txt'"
"$SPK" hw fit "$W/run/model.spk" > "$W/fit.txt" 2>&1
check "hw fit names the norm node" "grep -q \"op 'bn1' (norm)\" '$W/fit.txt'"
"$SPK" fold "$W/run/model.spk" -o "$W/folded.spk" > "$W/fold.txt" 2>&1
check "fold exits 0" "[ $? -eq 0 ] && grep -q '2 batchnorm node(s) folded' '$W/fold.txt'"
"$SPK" info "$W/folded.spk" > "$W/info2.txt" 2>&1
check "folded model has no norm node" "! grep -q ' norm ' '$W/info2.txt'"
"$SPK" --threads 1 eval "$W/run/model.spk" | grep -o 'accuracy [0-9.]*' > "$W/acc1.txt"
"$SPK" --threads 1 eval "$W/folded.spk" | grep -o 'accuracy [0-9.]*' > "$W/acc2.txt"
check "folded model evaluates the same" "[ -s '$W/acc1.txt' ] && cmp -s '$W/acc1.txt' '$W/acc2.txt'"

# the folded model (an iand block) event-driven: --check compares every population's spikes
hdr="{'descr': '<f4', 'fortran_order': False, 'shape': (6, 3, 4), }"
{
    printf '\x93NUMPY\x01\x00\x76\x00%s%*s\n' "$hdr" $((128 - 10 - ${#hdr} - 1)) ''
    for k in $(seq 0 71); do
        if [ $(( (k * 7919 + 13) % 5 )) -lt 2 ]; then printf '\x00\x00\x80\x3f'; else printf '\x00\x00\x00\x00'; fi
    done
} > "$W/x.npy"
"$SPK" run "$W/folded.spk" --input "$W/x.npy" --output "$W/ev.npy" --engine event --check > "$W/ev.txt" 2>&1
check "folded model runs event-driven with the clock engine's spikes" "[ $? -eq 0 ] && [ -s '$W/ev.npy' ]"
"$SPK" run "$W/run/model.spk" --input "$W/x.npy" --output "$W/ev2.npy" --engine event > /dev/null 2> "$W/err.txt"
check "the unfolded model is refused event-driven, naming the norm" "[ $? -ne 0 ] && grep -q \"'bn1' (norm)\" '$W/err.txt' && [ ! -e '$W/ev2.npy' ]"

cat > "$W/bad.yaml" <<'YAML'
data: {dataset: yinyang, train_samples: 64, test_samples: 32, seed: 3}
encoding: {kind: direct, steps: 4}
network:
  - dense: {name: fc1, units: 8}
  - lif: {name: l1}
  - residual: {name: r, layers: [{batchnorm: {name: bn_first}}, {lif: {name: l2}}]}
  - dense: {name: o, units: 3}
  - lif: {name: out}
training: {epochs: 1, batch_size: 32}
YAML
"$SPK" --threads 1 train "$W/bad.yaml" -o "$W/bad" --quiet > /dev/null 2>&1
echo keep > "$W/existing.spk"
"$SPK" fold "$W/bad/model.spk" -o "$W/existing.spk" > /dev/null 2> "$W/err.txt"
check "fold refuses a norm not after a dense/conv, naming it" "[ $? -eq 1 ] && grep -q \"norm 'bn_first'\" '$W/err.txt'"
check "the existing output is untouched" "[ \"\$(cat '$W/existing.spk')\" = keep ]"

sed 's/training: {epochs: 1, batch_size: 32, lr: 0.01}/training: {epochs: 1, batch_size: 32, lr: 0.01, hardware_safe: true}/' "$W/yy.yaml" > "$W/hw.yaml"
"$SPK" --threads 1 train "$W/hw.yaml" -o "$W/hw" --quiet > /dev/null 2> "$W/err.txt"
check "hardware-safe training refused naming the node" "[ $? -ne 0 ] && grep -q \"hardware-safe mode: node 'bn1' (norm)\" '$W/err.txt'"

[ $fail -eq 0 ] && echo "cli_sew: all passed" || echo "cli_sew: $fail FAILED"
exit $fail
