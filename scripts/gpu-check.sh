#!/usr/bin/env bash
# CUDA check, for a machine with an NVIDIA GPU:
#   1. san-core's and san-models' test suites on the CUDA backend (features test-cuda);
#   2. the criterion suite (benches/core.rs, benches/models.rs) on CUDA only;
#   3. a table of the bench medians (target/gpu-check/benches.md);
#   4. when python3 has a CUDA-enabled torch: the PyTorch comparison on the GPU
#      (scripts/compare-pytorch.sh with --device cuda), ours on burn-cuda.
#
# Building needs no CUDA toolkit: burn-cuda 0.21 loads the driver (libcuda) and NVRTC
# (libnvrtc) at run time, so those must be installed where it runs.
#
# Usage:
#   scripts/gpu-check.sh                 build here and run here (needs cargo)
#   scripts/gpu-check.sh --build DIR     only build, and copy the binaries into DIR
#   scripts/gpu-check.sh --prebuilt DIR  run binaries built by --build (no cargo needed; the
#                                        PyTorch reference vectors are looked up at the build
#                                        machine's path, and those tests skip, saying so, where
#                                        that path is absent)
# Results go to target/gpu-check/ (the log, the table, criterion's JSON).
set -euo pipefail
cd "$(dirname "$0")/.."
mode=run
bin=""
case "${1:-}" in
    --build) mode=build; bin="${2:?--build needs a folder}" ;;
    --prebuilt) mode=prebuilt; bin="${2:?--prebuilt needs a folder}" ;;
    "") ;;
    *) echo "usage: $0 [--build DIR | --prebuilt DIR]" >&2; exit 2 ;;
esac
out=target/gpu-check
mkdir -p "$out"

test_features=(-p san-core -p san-models --features san-core/test-cuda,san-models/test-cuda)
bench_features=(--no-default-features --features cuda --bench core --bench models)

# The executables cargo builds for the given arguments, from its JSON messages.
executables() {
    cargo "$@" --message-format=json 2>/dev/null \
        | python3 -c 'import json,sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable"):
        print(m["executable"])'
}

if [ "$mode" != prebuilt ]; then
    cargo test --release --no-run "${test_features[@]}"
    cargo bench --no-run "${bench_features[@]}"
    cargo build --release --no-default-features --features cuda,ndarray --example compare_core
fi
if [ "$mode" = build ]; then
    mkdir -p "$bin/tests" "$bin/benches"
    for exe in $(executables test --release --no-run "${test_features[@]}"); do cp "$exe" "$bin/tests/"; done
    for exe in $(executables bench --no-run "${bench_features[@]}"); do cp "$exe" "$bin/benches/"; done
    cp target/release/examples/compare_core "$bin/"
    echo "built into $bin; on the GPU machine: scripts/gpu-check.sh --prebuilt $bin"
    exit 0
fi

echo "== device"
if command -v nvidia-smi >/dev/null; then
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$out/device.txt"
else
    echo "nvidia-smi not found; CUDA runs will fail without an NVIDIA driver" | tee "$out/device.txt"
fi

echo "== tests on CUDA"
status=0
if [ "$mode" = prebuilt ]; then
    for exe in "$bin"/tests/*; do
        # Test binaries run from their crate's folder, as cargo runs them.
        case "$(basename "$exe")" in
            san_models*|wgpu_agreement*) dir=crates/san-models ;;
            *) dir=crates/san-core ;;
        esac
        (cd "$dir" && "$OLDPWD/$exe") || status=1
    done
else
    cargo test --release "${test_features[@]}" || status=1
fi

echo "== benches on CUDA"
if [ "$mode" = prebuilt ]; then
    for exe in "$bin"/benches/*; do "$exe" --bench || status=1; done
else
    cargo bench "${bench_features[@]}" || status=1
fi

python3 - "$out/benches.md" <<'EOF'
import glob, json, os, sys
rows = []
for path in sorted(glob.glob("target/criterion/**/new/estimates.json", recursive=True)):
    name = os.path.relpath(os.path.dirname(os.path.dirname(path)), "target/criterion")
    if "/cuda" not in name and "cuda/" not in name and not name.startswith("instance_mining"):
        continue
    median = json.load(open(path))["median"]["point_estimate"] / 1e9
    rows.append(f"| `{name}` | {median * 1e3:.2f} ms |")
table = "| bench | median |\n|---|---:|\n" + "\n".join(rows) + "\n"
open(sys.argv[1], "w").write(table)
print(table)
EOF

if python3 -c "import torch, safetensors, sys; sys.exit(0 if torch.cuda.is_available() else 1)" 2>/dev/null; then
    echo "== PyTorch comparison on the GPU"
    if [ "$mode" = prebuilt ]; then
        SAN_COMPARE_BIN="$bin/compare_core" scripts/compare-pytorch.sh --device cuda "$out/compare" || status=1
    else
        scripts/compare-pytorch.sh --device cuda "$out/compare" || status=1
    fi
else
    echo "== no CUDA-enabled torch in python3: PyTorch comparison on the GPU skipped"
fi
exit $status
