#!/usr/bin/env bash
# Side-by-side timing of san-core against PyTorch CPU on identical inputs:
#   - CLCL similarity over the 642 × 642 gallery (M=64, L=32, D=512);
#   - coarse + 0.4·fine loss, forward and backward, at B=128, M=64, L=32, D=512, K=5.
# Outputs are checked for agreement first, then ours/PyTorch time ratios are printed.
#
# Needs python3 with torch and safetensors (pip install torch safetensors).
# Usage: scripts/compare-pytorch.sh [work folder, default target/compare]
set -euo pipefail
cd "$(dirname "$0")/.."
dir="${1:-target/compare}"
mkdir -p "$dir"

python3 -c "import torch, safetensors" 2>/dev/null || {
    echo "error: python3 with torch and safetensors is needed (pip install torch safetensors)" >&2
    exit 1
}
# Both sides get the same two cores.
export OMP_NUM_THREADS=2 MKL_NUM_THREADS=2 RAYON_NUM_THREADS=2

cargo build --release --example compare_core
[ -f "$dir/inputs.safetensors" ] || python3 benches/reference/core.py inputs "$dir"
echo "PyTorch…"
python3 benches/reference/core.py torch "$dir"
echo "san…"
peak=""
if [ -x /usr/bin/time ]; then
    /usr/bin/time -f "%M" -o "$dir/ours.maxrss" target/release/examples/compare_core "$dir"
    peak="$(cat "$dir/ours.maxrss")"
else
    target/release/examples/compare_core "$dir"
fi
echo
python3 benches/reference/core.py report "$dir"
[ -n "$peak" ] && echo "peak resident memory of our run: $((peak / 1024)) MiB (inputs and outputs included)"
exit 0
