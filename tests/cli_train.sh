#!/bin/bash
# cli_train.sh SPK — the command-line tool end to end, as a user runs it: train a small
# Yin-Yang experiment, check the run folder, info / eval / run on the model, refusals of bad
# input with non-zero exits, and resume after SIGKILL at random moments ending with the same
# weights (byte-identical model.spk) as an uninterrupted run.
set -u
SPK=${1:?usage: cli_train.sh SPK}
W=$(mktemp -d /tmp/spk_cli.XXXXXX)
trap 'rm -rf "$W"' EXIT
fail=0
check() { if eval "$2"; then echo "ok: $1"; else echo "FAILED: $1"; fail=$((fail + 1)); fi; }

cat > "$W/yy.yaml" <<'YAML'
data: {dataset: yinyang, train_samples: 600, test_samples: 200, seed: 3}
encoding: {kind: direct, steps: 10}
network:
  - dense: {units: 32}
  - lif: {beta: 0.9}
  - dropout: {p: 0.1}
  - dense: {units: 3}
  - lif: {beta: 0.9, fire: none, reset: none}
training: {epochs: 3, batch_size: 20, lr: 0.005, schedule: cosine, checkpoint_every: 7, seed: 5}
YAML

"$SPK" train "$W/yy.yaml" -o "$W/a" > "$W/a.log" 2>&1
check "train exits 0" "[ $? -eq 0 ]"
check "one summary line per epoch" "[ \$(grep -cE '^epoch +[0-9]+/3  loss' '$W/a.log') -eq 3 ]"
check "final accuracy line" "grep -q '^test accuracy [0-9.]*%' '$W/a.log'"
check "run folder files" "[ -s '$W/a/experiment.yaml' ] && [ -s '$W/a/checkpoints/last.spk' ] && [ -s '$W/a/model.spk' ]"
check "metrics.csv header and rows" "[ \"\$(head -1 '$W/a/metrics.csv')\" = 'epoch,loss,train_acc,test_acc,spikes_per_sample,seconds' ] && [ \$(wc -l < '$W/a/metrics.csv') -eq 4 ]"
check "resolved experiment trains again" "'$SPK' train '$W/a/experiment.yaml' -o '$W/r' --epochs 1 --quiet > /dev/null 2>&1"

"$SPK" info "$W/a/model.spk" > "$W/info.txt" 2>&1
check "info lists nodes and counts" "grep -q 'dense1' '$W/info.txt' && grep -q '^neurons 35, synapses 224' '$W/info.txt'"
"$SPK" eval "$W/a/model.spk" > "$W/eval.txt" 2>&1
check "eval reports the accuracy" "grep -q 'on test (200 samples): loss [0-9.]*  accuracy [0-9.]*%' '$W/eval.txt'"
check "eval matches the last epoch's test accuracy" "[ \"\$(sed -n 's/.*accuracy \([0-9.]*\)%.*/\1/p' '$W/eval.txt')\" = \"\$(sed -n 's/^test accuracy \([0-9.]*\)%.*/\1/p' '$W/a.log')\" ]"

# an input .npy [T=6, B=2, 4] of float32 zeros: version 1.0, header padded to 128 bytes
hdr="{'descr': '<f4', 'fortran_order': False, 'shape': (6, 2, 4), }"
pad=$((128 - 10 - ${#hdr} - 1))
{ printf '\x93NUMPY\x01\x00\x76\x00%s%*s\n' "$hdr" "$pad" ''; head -c 192 /dev/zero; } > "$W/x.npy"
"$SPK" run "$W/a/model.spk" --input "$W/x.npy" --output "$W/y.npy" --record all > "$W/run.txt" 2>&1
check "run writes the readout spikes [6, 2, 3]" "[ \$? -eq 0 ] && [ \$(stat -c %s '$W/y.npy') -eq \$((128 + 6 * 2 * 3 * 4)) ] && [ -s '$W/y.h5' ]"
check "run refuses a wrong input shape" "! '$SPK' run '$W/a/model.spk' --input '$W/y.npy' --output '$W/z.npy' 2> '$W/err.txt' && grep -q 'takes' '$W/err.txt' && [ ! -e '$W/z.npy' ]"

# bad input: clear message, non-zero exit, nothing overwritten
printf 'network:\n  - dense: {units: 4}\n  - lif: {beta: 2}\n' > "$W/bad.yaml"
check "bad value refused with file:line:col" "! '$SPK' train '$W/bad.yaml' -o '$W/a' 2> '$W/err.txt' && grep -q 'bad.yaml:3:17:' '$W/err.txt'"
check "refused run left the old model alone" "cmp -s '$W/a/model.spk' '$W/a/model.spk' && '$SPK' info '$W/a/model.spk' > /dev/null"
head -c 100 "$W/a/model.spk" > "$W/trunc.spk"
check "truncated model refused" "! '$SPK' info '$W/trunc.spk' 2> '$W/err.txt' && grep -q 'checksum' '$W/err.txt'"
check "unknown command refused" "! '$SPK' trian 2> /dev/null"

# a NaN in training stops it with the step and the layer; no checkpoint is written after it
npy() { # npy FILE SHAPE BYTES-PRINTF-FORMAT: float32 .npy with a 128-byte header
    local h="{'descr': '<f4', 'fortran_order': False, 'shape': $2, }"
    { printf '\x93NUMPY\x01\x00\x76\x00%s%*s\n' "$h" $((128 - 10 - ${#h} - 1)) ''; printf "$3"; } > "$1"
}
big='\xe6\xb1\x61\x7f' # 3e38 as float32: the readout overflows
npy "$W/bx.npy" '(4, 2)' "$big$big$big$big$big$big$big$big"
npy "$W/by.npy" '(4,)' '\x00\x00\x00\x00\x00\x00\x80\x3f\x00\x00\x00\x00\x00\x00\x80\x3f'
cat > "$W/nan.yaml" <<YAML
data: {dataset: files, x_train: $W/bx.npy, y_train: $W/by.npy, x_test: $W/bx.npy, y_test: $W/by.npy}
encoding: {kind: direct, steps: 4}
network:
  - dense: {units: 2}
  - lif: {fire: none, reset: none}
training: {epochs: 1, batch_size: 2}
YAML
check "a NaN stops training naming the step and the layer" "! '$SPK' train '$W/nan.yaml' -o '$W/n' --quiet 2> '$W/err.txt' && grep -q 'training stopped at epoch 1, batch 1' '$W/err.txt' && grep -qE 'layer (dense1|lif2)' '$W/err.txt' && [ ! -e '$W/n/checkpoints/last.spk' ]"

# resume: kill -9 at random moments, resume, same final weights as the uninterrupted run
for k in 1 2 3; do
    rm -rf "$W/b"
    "$SPK" train "$W/yy.yaml" -o "$W/b" --quiet > /dev/null 2>&1 &
    pid=$!
    sleep "0.$(( (RANDOM % 9) + 1 ))"
    kill -9 "$pid" 2> /dev/null
    wait "$pid" 2> /dev/null
    tries=0
    while [ $tries -lt 20 ]; do
        tries=$((tries + 1))
        if [ -e "$W/b/checkpoints/last.spk" ]; then args="--resume"; else args=""; fi
        "$SPK" train "$W/yy.yaml" -o "$W/b" $args --quiet > "$W/b.log" 2>&1 &
        pid=$!
        if [ $tries -lt 3 ]; then sleep "0.$(( (RANDOM % 5) + 1 ))"; kill -9 "$pid" 2> /dev/null; fi
        if wait "$pid"; then break; fi
    done
    check "kill -9 round $k: resumed run ends with identical weights" "cmp -s '$W/a/model.spk' '$W/b/model.spk'"
done

[ $fail -eq 0 ]
