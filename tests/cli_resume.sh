#!/bin/bash
# cli_resume.sh SPK — nothing is lost when `spk train` is killed. A small Yin-Yang experiment
# with everything that draws random numbers (rate encoding, Gaussian-noise neurons, dropout)
# and everything that keeps state (a recurrent adaptive layer, Adam's moments, a cosine
# schedule) is trained once without interruption (2 threads). Then the same run is started
# and killed with SIGKILL at random moments (8 times: each time 0-30 ms after the run has
# written a new checkpoint), each restart resuming with --resume from
# checkpoints/last.spk (written every 2 batches; restarts alternate between 1 and 2
# threads), then let finish. Checked: after every kill the checkpoint loads (the
# atomic writer never leaves a half-written last.spk), the resumes happened at several
# different positions including mid-epoch ones, and the final model.spk is byte-identical to
# the uninterrupted run's, so every weight is equal bit for bit. SPK_RESUME_SEED fixes the
# kill times (default: random, printed).
set -u
SPK=${1:?usage: cli_resume.sh SPK}
export OMP_WAIT_POLICY=PASSIVE
W=$(mktemp -d /tmp/spk_resume.XXXXXX)
trap 'rm -rf "$W"' EXIT
RANDOM=${SPK_RESUME_SEED:-$$}
echo "kill times from seed $RANDOM (set SPK_RESUME_SEED to repeat)"
fail=0
check() { if eval "$2"; then echo "ok: $1"; else echo "FAILED: $1"; fail=$((fail + 1)); fi; }

cat > "$W/yy.yaml" <<'YAML'
data: {dataset: yinyang, train_samples: 240, test_samples: 60, seed: 3}
encoding: {kind: rate, steps: 30, gain: 0.9, seed: 2}
network:
  - dense: {units: 128}
  - lif: {beta: 0.9, fire: gauss, sigma: 0.3}
  - dropout: {p: 0.2}
  - dense: {units: 64}
  - alif: {recurrent: true}
  - dense: {units: 3}
  - lif: {beta: 0.9, fire: none, reset: none}
training: {epochs: 4, batch_size: 16, optimizer: adam, lr: 0.005, schedule: cosine, checkpoint_every: 2, seed: 5}
YAML

"$SPK" train "$W/yy.yaml" -o "$W/ref" --threads 2 --quiet > "$W/ref.log" 2>&1
check "uninterrupted run" "[ $? -eq 0 ] && [ -s '$W/ref/model.spk' ]"

kills=0 runs=0 bad_ckpt=0 done=0
ckpt_sig() { stat -c %y "$W/b/checkpoints/last.spk" 2> /dev/null || echo none; }
: > "$W/positions"
while [ $runs -lt 20 ]; do
    runs=$((runs + 1))
    args=""
    [ -e "$W/b/checkpoints/last.spk" ] && args="--resume"
    "$SPK" train "$W/yy.yaml" -o "$W/b" --threads $((runs % 2 + 1)) $args > "$W/run$runs.log" 2> /dev/null &
    pid=$!
    if [ $runs -le 8 ]; then
        # wait until this run has written a new checkpoint, then SIGKILL it at a random
        # moment 0-30 ms later (between batches, inside one, or while a checkpoint is written)
        want=1 seen=0 before=$(ckpt_sig)
        while [ $seen -lt $want ] && kill -0 $pid 2> /dev/null; do
            now=$(ckpt_sig)
            [ "$now" != "$before" ] && before=$now && seen=$((seen + 1))
            sleep 0.005
        done
        sleep "$(awk -v r=$RANDOM 'BEGIN { printf "%.3f", (r % 30) / 1000 }')"
        if kill -9 $pid 2> /dev/null; then
            wait $pid 2> /dev/null
            kills=$((kills + 1))
            if [ -e "$W/b/checkpoints/last.spk" ] && ! "$SPK" info "$W/b/checkpoints/last.spk" > /dev/null 2>&1; then
                bad_ckpt=$((bad_ckpt + 1))
            fi
        elif wait $pid; then
            done=1
        fi
    elif wait $pid; then
        done=1
    fi
    sed -n 's/^resuming after epoch \([0-9]*\), batch \([0-9]*\) (step \([0-9]*\)).*/\1 \2 \3/p' "$W/run$runs.log" >> "$W/positions"
    [ $done -eq 1 ] && break
done
resumes=$(wc -l < "$W/positions")
distinct=$(cut -d' ' -f3 "$W/positions" | sort -u | wc -l)
mid=$(awk '$2 > 0' "$W/positions" | wc -l)
echo "$runs runs, $kills killed with SIGKILL, $resumes resumed, at steps: $(cut -d' ' -f3 "$W/positions" | tr '\n' ' ')"
check "the interrupted run finished" "[ $done -eq 1 ]"
check "at least 6 kills" "[ $kills -ge 6 ]"
check "every checkpoint left by a kill loads" "[ $bad_ckpt -eq 0 ]"
check "resumed from at least 4 different positions, two of them mid-epoch" "[ $distinct -ge 4 ] && [ $mid -ge 2 ]"
check "final model.spk byte-identical to the uninterrupted run (every weight bit for bit)" "cmp -s '$W/ref/model.spk' '$W/b/model.spk'"
check "metrics.csv: one row per epoch, test accuracy and spikes per sample as uninterrupted" "[ \"\$(cut -d, -f1,4,5 '$W/b/metrics.csv')\" = \"\$(cut -d, -f1,4,5 '$W/ref/metrics.csv')\" ] && [ \$(wc -l < '$W/b/metrics.csv') -eq 5 ]"
[ $fail -eq 0 ]
