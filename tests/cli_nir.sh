#!/bin/bash
# cli_nir.sh — the reference Python package reads what `spk export --to nir` writes: import
# the fixtures (an snnTorch export, every primitive, a nested recurrent graph), export them,
# and run nir.read() (type checking on) on each exported file. Needs /usr/bin/python3 with
# h5py and numpy and the package unpacked at NIR_PY (default /tmp/peers/nir, see
# docs/nir.md); skipped (77) when they are absent. The spk-only checks are in test_nir.c.
set -u
SPK=$1
F=${SPK_FIXTURES_DIR:-$(dirname "$0")/../../shared/fixtures}
NIR_PY=${NIR_PY:-/tmp/peers/nir}
PY=/usr/bin/python3
[ -d "$F/nir" ] || { echo "fixtures not found: skipped" >&2; exit 77; }
[ -x "$PY" ] && PYTHONPATH=$NIR_PY "$PY" -c 'import nir, h5py' 2>/dev/null ||
    { echo "the reference nir package (with h5py) is not available at $NIR_PY: skipped" >&2; exit 77; }
D=$(mktemp -d)
trap 'rm -rf "$D"' EXIT
for f in snntorch_export/rleaky_recurrent snntorch_export/cnn_avgpool direct/all_primitives_chain direct/nested_recurrent_subgraph; do
    b=$(basename $f)
    "$SPK" import "$F/nir/$f.nir" -o "$D/$b.spk" >/dev/null || { echo "FAIL: import $f" >&2; exit 1; }
    "$SPK" export "$D/$b.spk" --to nir -o "$D/$b.nir" >/dev/null || { echo "FAIL: export $f" >&2; exit 1; }
    PYTHONPATH=$NIR_PY "$PY" -c "
import nir, sys
g = nir.read('$D/$b.nir')
print('nir', nir.version, 'reads $b.nir:', len(g.nodes), 'nodes,', len(g.edges), 'edges')" || { echo "FAIL: nir.read of $b.nir" >&2; exit 1; }
done
echo "cli_nir: ok"
