#!/bin/bash
# cli_event.sh SPK — `spk run --engine event --stats --check` as a user runs it: train a small
# model, run it on a spike input with both engines, require the same readout spikes byte for
# byte and (--check) the same spikes in every population,
# and a counts table whose SOPs of the first layer equal its input events times its outputs;
# refusals of bad options with non-zero exits.
set -u
SPK=${1:?usage: cli_event.sh SPK}
W=$(mktemp -d /tmp/spk_event.XXXXXX)
trap 'rm -rf "$W"' EXIT
fail=0
check() { if eval "$2"; then echo "ok: $1"; else echo "FAILED: $1"; fail=$((fail + 1)); fi; }

cat > "$W/yy.yaml" <<'YAML'
data: {dataset: yinyang, train_samples: 300, test_samples: 50, seed: 3}
encoding: {kind: rate, steps: 20}
network:
  - dense: {units: 24}
  - lif: {beta: 0.9}
  - dense: {units: 3}
  - lif: {beta: 0.9}
training: {epochs: 1, batch_size: 20, lr: 0.01, seed: 5}
YAML
"$SPK" train "$W/yy.yaml" -o "$W/a" --quiet > "$W/a.log" 2>&1
check "train exits 0" "[ $? -eq 0 ] && [ -s '$W/a/model.spk' ]"

# input [T=20, B=3, 4] of 0/1 spikes (float32), 128-byte .npy header
hdr="{'descr': '<f4', 'fortran_order': False, 'shape': (20, 3, 4), }"
{
    printf '\x93NUMPY\x01\x00\x76\x00%s%*s\n' "$hdr" $((128 - 10 - ${#hdr} - 1)) ''
    for k in $(seq 0 239); do
        if [ $(( (k * 7919 + 13) % 5 )) -lt 2 ]; then printf '\x00\x00\x80\x3f'; else printf '\x00\x00\x00\x00'; fi
    done
} > "$W/x.npy"
events=0
for k in $(seq 0 239); do [ $(( (k * 7919 + 13) % 5 )) -lt 2 ] && events=$((events + 1)); done

"$SPK" run "$W/a/model.spk" --input "$W/x.npy" --output "$W/clock.npy" > /dev/null 2>&1
check "clock run" "[ $? -eq 0 ] && [ -s '$W/clock.npy' ]"
"$SPK" run "$W/a/model.spk" --input "$W/x.npy" --output "$W/event.npy" --engine event --stats --check > "$W/ev.txt" 2>&1
check "event run exits 0" "[ $? -eq 0 ] && [ -s '$W/event.npy' ]"
check "same readout spikes as the clock engine" "cmp -s '$W/clock.npy' '$W/event.npy'"
check "--check: every population's spikes identical" "grep -qE '^check against the clock-driven engine: 2 populations, [1-9][0-9]* spikes, 0 differ' '$W/ev.txt'"
check "stats table has every node and a total" "grep -qE '^  dense1 +dense ' '$W/ev.txt' && grep -qE '^  lif2 +neuron +24 ' '$W/ev.txt' && grep -qE '^  total ' '$W/ev.txt'"
check "3 samples x 20 steps" "grep -q '^event-driven run: 3 samples, 60 steps' '$W/ev.txt'"
sops=$(awk '$1 == "dense1" {print $6}' "$W/ev.txt")
check "dense1 SOPs = input events x 24 outputs ($events events)" "[ '$sops' = '$((events * 24))' ]"
macs=$(awk '$1 == "dense1" {print $8}' "$W/ev.txt")
check "dense1 MACs = 60 steps x 4 x 24" "[ '$macs' = '$((60 * 4 * 24))' ]"

check "--check without the event engine refused" "! '$SPK' run '$W/a/model.spk' --input '$W/x.npy' --output '$W/z.npy' --check 2> /dev/null && [ ! -e '$W/z.npy' ]"
check "--stats without the event engine refused" "! '$SPK' run '$W/a/model.spk' --input '$W/x.npy' --output '$W/z.npy' --stats 2> '$W/err.txt' && grep -q 'engine event' '$W/err.txt' && [ ! -e '$W/z.npy' ]"
check "unknown engine refused" "! '$SPK' run '$W/a/model.spk' --input '$W/x.npy' --output '$W/z.npy' --engine warp 2> '$W/err.txt' && grep -q \"'clock' or 'event'\" '$W/err.txt'"

[ $fail -eq 0 ] && echo "cli_event: all checks passed" || echo "cli_event: $fail checks FAILED"
exit $fail
