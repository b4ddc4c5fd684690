#!/usr/bin/env bash
# Side-by-side timing of SAN against PyTorch on identical inputs:
#   - CLCL similarity over the 642 × 642 gallery (M=64, L=32, D=512);
#   - coarse + 0.4·fine loss, forward and backward, at B=128, M=64, L=32, D=512, K=5;
#   - sign-aware instance mining, N=7096, D=512, K=32;
#   - one full training step of san-train (clip-feature model, stage-2 loss, AdamW) at
#     B=32, T=64, F=1024, L=32, K=5, with the same initial weights on both sides.
# Outputs are checked for agreement first, then ours/PyTorch time ratios are printed. On the
# CPU, ours runs on both CPU backends (burn-ndarray and burn-flex), side by side, and both
# sides get 2 threads.
#
# Needs python3 with torch and safetensors (pip install torch safetensors).
# Usage: scripts/compare-pytorch.sh [--device cpu|cuda] [work folder, default target/compare]
#   --device cuda: ours on burn-cuda (built with --features cuda), PyTorch on its CUDA device.
#   SAN_COMPARE_BIN: a prebuilt compare_core to use instead of building one.
set -euo pipefail
cd "$(dirname "$0")/.."
device=cpu
if [ "${1:-}" = --device ]; then
    device="${2:?--device needs cpu or cuda}"
    shift 2
fi
dir="${1:-target/compare}"
mkdir -p "$dir"

python3 -c "import torch, safetensors" 2>/dev/null || {
    echo "error: python3 with torch and safetensors is needed (pip install torch safetensors)" >&2
    exit 1
}
# Both sides get the same two cores.
export OMP_NUM_THREADS=2 MKL_NUM_THREADS=2 RAYON_NUM_THREADS=2
export SAN_TORCH_DEVICE="$device"

ours="${SAN_COMPARE_BIN:-}"
if [ -z "$ours" ]; then
    features=(--features flex)
    [ "$device" = cuda ] && features=(--features cuda)
    cargo build --release --example compare_core "${features[@]}"
    ours=target/release/examples/compare_core
fi
[ -f "$dir/inputs.safetensors" ] || python3 benches/reference/core.py inputs "$dir"
[ -f "$dir/train_inputs.safetensors" ] || python3 benches/reference/train.py inputs "$dir"

backends=(ndarray flex)
[ "$device" = cuda ] && backends=(cuda)
# Our run of each part, its peak resident memory recorded where /usr/bin/time exists.
run_ours() {
    local name="$1" backend="$2"
    shift 2
    if [ -x /usr/bin/time ]; then
        /usr/bin/time -f "%M" -o "$dir/$name.maxrss" "$ours" "$dir" "$@" --device "$backend"
    else
        "$ours" "$dir" "$@" --device "$backend"
    fi
}
for backend in "${backends[@]}"; do
    echo "san on $backend (similarity, loss, mining)…"
    run_ours "ours_$backend" "$backend"
    # The first train step writes the initial weights (train_params.safetensors) that the
    # other backends and PyTorch start from.
    echo "san on $backend (train step)…"
    run_ours "ours_train_$backend" "$backend" train
done
echo "PyTorch ($device)…"
run_torch() {
    local name="$1"
    shift
    if [ -x /usr/bin/time ]; then
        /usr/bin/time -f "%M" -o "$dir/$name.maxrss" python3 "$@"
    else
        python3 "$@"
    fi
}
run_torch torch benches/reference/core.py torch "$dir"
run_torch torch_train benches/reference/train.py torch "$dir"
echo
status=0
python3 benches/reference/core.py report "$dir" "${backends[@]}" || status=1
echo
python3 benches/reference/train.py report "$dir" "${backends[@]}" || status=1
for backend in "${backends[@]}" torch; do
    for name in "ours_$backend" "ours_train_$backend" "$backend" "${backend}_train"; do
        [ -f "$dir/$name.maxrss" ] && echo "peak resident memory of $name: $(($(cat "$dir/$name.maxrss") / 1024)) MiB"
    done
done
exit $status
