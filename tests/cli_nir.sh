#!/bin/bash
# cli_nir.sh — NIR on the command line: info, run (matches snnTorch's import of its own
# export), import -> model -> run and export -> run (identical outputs), refusals that keep an
# existing output, and (when the reference Python package is in /tmp/peers/nir) nir.read()
# of the exported file.
set -u
SPK=$1
F=${SPK_FIXTURES_DIR:-$(dirname "$0")/../../shared/fixtures}
D=$(mktemp -d)
trap 'rm -rf "$D"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
NIR=$F/nir/snntorch_export/rleaky_recurrent.nir
[ -f "$NIR" ] || { echo "fixtures not found: skipped" >&2; exit 77; }
PY=/usr/bin/python3
$PY -c 'import h5py, numpy' 2>/dev/null || { echo "python3-h5py not installed: skipped" >&2; exit 77; }
$PY -c "import h5py, numpy as np; np.save('$D/x.npy', h5py.File('$F/net/rleaky_recurrent.h5')['input'][()].astype(np.float32))" || fail "input"
"$SPK" info "$NIR" | grep -q "NIR 1.0.7, 7 NIR nodes" || fail "info"
"$SPK" run "$NIR" --input "$D/x.npy" --output "$D/y.npy" >/dev/null || fail "run"
$PY -c "
import numpy as np, h5py, sys
y = np.load('$D/y.npy'); r = h5py.File('$F/net/rleaky_recurrent.h5')['nir_import_snntorch/output_spikes'][()]
sys.exit(0 if y.shape == r.shape and (y == r).all() and r.sum() > 0 else 1)" || fail "run output differs from snnTorch's import"
"$SPK" import "$NIR" -o "$D/m.spk" >/dev/null || fail "import"
"$SPK" run "$D/m.spk" --input "$D/x.npy" --output "$D/y2.npy" >/dev/null || fail "run imported model"
cmp -s "$D/y.npy" "$D/y2.npy" || fail "imported model differs"
"$SPK" export "$D/m.spk" --to nir -o "$D/back.nir" >/dev/null || fail "export"
"$SPK" run "$D/back.nir" --input "$D/x.npy" --output "$D/y3.npy" >/dev/null || fail "run exported"
cmp -s "$D/y.npy" "$D/y3.npy" || fail "exported file differs"
# refusals: a wrong input shape and a broken file, with the existing output kept
echo keep > "$D/keep.npy"
$PY -c "import numpy as np; np.save('$D/bad.npy', np.zeros((3, 2, 5), np.float32))"
"$SPK" run "$NIR" --input "$D/bad.npy" --output "$D/keep.npy" 2>/dev/null && fail "wrong shape accepted"
head -c 3000 "$NIR" > "$D/trunc.nir"
"$SPK" run "$D/trunc.nir" --input "$D/x.npy" --output "$D/keep.npy" 2>"$D/err" && fail "truncated file accepted"
grep -q "trunc.nir" "$D/err" || fail "no message naming the file"
[ "$(cat "$D/keep.npy")" = keep ] || fail "existing output overwritten"
"$SPK" run "$NIR" --input "$D/x.npy" --output "$D/y4.npy" --method bogus 2>/dev/null && fail "bad method accepted"
# the reference reader, when present
if [ -d /tmp/peers/nir/nir ]; then
    PYTHONPATH=/tmp/peers/nir $PY -c "import nir; g = nir.read('$D/back.nir'); assert len(g.nodes) == 7" || fail "nir.read of the exported file"
    echo "nir.read() of the exported file: ok"
else
    echo "reference nir package not in /tmp/peers/nir: that check skipped"
fi
echo "cli_nir: ok"
