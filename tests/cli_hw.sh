#!/bin/bash
# cli_hw.sh SPK — the hardware commands as a user runs them: the catalog (list, sort, show,
# a user's --catalog adding and overriding chips, malformed rows refused with their line and a
# non-zero exit), `hw fit` on a small trained model, and `spk energy` (table, CSV, JSON, the
# SVG chart, --output written atomically and left untouched on failure).
set -u
SPK=${1:?usage: cli_hw.sh SPK}
W=$(mktemp -d /tmp/spk_hw.XXXXXX)
trap 'rm -rf "$W"' EXIT
fail=0
check() { if eval "$2"; then echo "ok: $1"; else echo "FAILED: $1"; fail=$((fail + 1)); fi; }

"$SPK" hw list > "$W/list.txt" 2>&1
check "list exits 0 with 15 chips" "[ $? -eq 0 ] && grep -q '^15 chips' '$W/list.txt'"
check "list marks unknown cells" "grep -E '^SNE +Zurich,Bologna .* \? ' '$W/list.txt' > /dev/null"
"$SPK" hw list --sort -neurons > "$W/sorted.txt" 2>&1
check "sort descending" "[ \"\$(sed -n 3p '$W/sorted.txt' | cut -d' ' -f1)\" = Darwin-3 ]"
"$SPK" hw list --sort speed > /dev/null 2> "$W/err.txt"
check "unknown sort column refused" "[ $? -eq 2 ] && grep -q \"no column 'speed'\" '$W/err.txt'"
"$SPK" hw show loihi-2 > "$W/show.txt" 2>&1
check "show one chip" "grep -q '^w_per_synapse  *?' '$W/show.txt' && grep -q '^synapses/neuron  *128' '$W/show.txt'"
"$SPK" hw show NoSuchChip > /dev/null 2>&1
check "show unknown chip exits 1" "[ $? -eq 1 ]"

printf 'name,neurons,synapses,neuron_model,j_per_sop,w_per_synapse\r\n"Tiny,Chip",16,64,LIF,1e-12,0\r\nODIN,,,,,\r\n' > "$W/mine.csv"
"$SPK" hw show 'tiny,chip' --catalog "$W/mine.csv" > "$W/tiny.txt" 2>&1
check "user chip added" "grep -q '^neurons  *16' '$W/tiny.txt' && grep -q '^w_per_synapse  *0 W' '$W/tiny.txt' && grep -q 'mine.csv:2' '$W/tiny.txt'"
"$SPK" hw show odin --catalog "$W/mine.csv" > "$W/odin.txt" 2>&1
check "override empties cells, keeps the others" "grep -q '^neurons  *?' '$W/odin.txt' && grep -q '^maker  *Louvain' '$W/odin.txt'"
printf 'name,neurons\nA,10\nB,many\n' > "$W/bad.csv"
"$SPK" hw list --catalog "$W/bad.csv" > /dev/null 2> "$W/err.txt"
check "malformed row refused with its line" "[ $? -eq 1 ] && grep -q \"bad.csv:3: neurons = 'many' is not a number\" '$W/err.txt'"
printf 'name,maker\nA,"open\nB,x\n' > "$W/bad2.csv"
"$SPK" hw list --catalog "$W/bad2.csv" > /dev/null 2> "$W/err.txt"
check "unclosed quote refused" "[ $? -eq 1 ] && grep -q 'bad2.csv:2: a quoted field opened on line 2 is never closed' '$W/err.txt'"

cat > "$W/yy.yaml" <<'YAML'
data: {dataset: yinyang, train_samples: 200, test_samples: 40, seed: 3}
encoding: {kind: direct, steps: 8}
network:
  - dense: {units: 20}
  - lif: {beta: 0.9}
  - dense: {units: 3}
  - lif: {beta: 0.9, fire: none, reset: none}
training: {epochs: 1, batch_size: 20, lr: 0.005, seed: 5}
YAML
"$SPK" train "$W/yy.yaml" -o "$W/m" --quiet > /dev/null 2>&1
check "a small model trains" "[ -s '$W/m/model.spk' ]"
M="$W/m/model.spk"
"$SPK" hw fit "$M" > "$W/fit.txt" 2>&1
check "fit: the model's needs" "grep -q 'needs: 23 neurons, 140 synapses, largest fan-in 20' '$W/fit.txt'"
check "fit: a chip that fits and one that is unknown" "grep -qE '^Loihi-1 +yes' '$W/fit.txt' && grep -qE '^SNE +unknown +synapses unknown' '$W/fit.txt'"
"$SPK" hw fit "$M" --catalog "$W/mine.csv" --chip tiny,chip --learn stdp > "$W/fit2.txt" 2>&1
check "fit: too big for a tiny chip, with the count" "grep -qE '^Tiny,Chip +no' '$W/fit2.txt' && grep -q 'neurons no: 23 neurons > 16' '$W/fit2.txt' && grep -q 'learning unknown' '$W/fit2.txt'"

"$SPK" energy "$M" --data test --samples 10 --chart "$W/e.svg" > "$W/energy.txt" 2>&1
check "energy table" "grep -q '^per inference: 8 steps' '$W/energy.txt' && grep -qE '^  GPU H100 ' '$W/energy.txt' && grep -qE '^  45nm AC \(SNN\)' '$W/energy.txt'"
check "energy chart" "grep -q '<svg' '$W/e.svg' && grep -q '</svg>' '$W/e.svg' && grep -q '>Loihi-2</text>' '$W/e.svg'"
"$SPK" energy "$M" --data test --samples 10 --format csv --output "$W/e.csv" > /dev/null 2>&1
check "energy csv: 15 chips + 5 rows" "[ \$(wc -l < '$W/e.csv') -eq 21 ] && head -1 '$W/e.csv' | grep -q '^platform,kind,fits,chips,ops,j_per_op'"
# ODIN: total = SOPs x 8.4e-12 + 7.34e-9 x synapses x 8 x 1e-3, recomputed from the CSV's own ops
check "energy csv arithmetic" "awk -F, '\$1==\"ODIN\"{t=\$5*8.4e-12+7.34e-9*140*8*1e-3; d=(\$9-t)/t; exit !(d<1e-5 && d>-1e-5)}' '$W/e.csv'"
"$SPK" energy "$M" --data test --samples 10 --format json > "$W/e.json" 2>/dev/null
check "energy json" "/usr/bin/python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert len(d[\"platforms\"])==20 and d[\"counts\"][\"synapses\"]==140' '$W/e.json' 2>/dev/null || grep -q '\"platforms\"' '$W/e.json'"
cp "$W/e.csv" "$W/keep.csv"
"$SPK" energy "$M" --data test --samples 10 --format csv --output "$W/e.csv" --catalog "$W/bad.csv" > /dev/null 2>&1
check "a failed run leaves the old output" "[ $? -eq 1 ] && cmp -s '$W/e.csv' '$W/keep.csv'"
"$SPK" energy "$M" --data nowhere.npy > /dev/null 2>&1
check "missing input refused" "[ $? -eq 1 ]"
"$SPK" energy "$M" > /dev/null 2>&1
check "--data required" "[ $? -eq 2 ]"

# a NIR file (the NIR paper's sinabs CNN, from the shared fixtures when they are there)
NIR="${SPK_FIXTURES_DIR:-$(dirname "$0")/../../shared/fixtures}/nir/paper/cnn_sinabs.nir"
if [ -f "$NIR" ]; then
    "$SPK" hw fit "$NIR" > "$W/nir.txt" 2>&1
    check "fit a NIR file" "[ $? -eq 0 ] && grep -q 'needs: 8970 neurons, 843296 synapses, largest fan-in 576' '$W/nir.txt'"
    "$SPK" energy "$NIR" --data test > /dev/null 2> "$W/err.txt"
    check "energy of a NIR file wants an input file" "[ $? -eq 1 ] && grep -q 'no data of its own' '$W/err.txt'"
else
    echo "skipped: NIR fixture $NIR not found"
fi

echo "cli_hw: $fail failed"
[ $fail -eq 0 ]
