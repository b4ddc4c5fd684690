#!/usr/bin/env bash
# How time and peak memory grow with the corpus (BENCHMARKS.md, "Scaling"): instance mining
# at N = 7096, 50k and 100k, the CLCL gallery at 642, 2k and 5k videos, and the SAN table
# over 7096 and 4 × 7096 training captions, each in its own process under /usr/bin/time, on
# the build's CPU backend with 2 threads.
# Usage: scripts/scaling.sh [sizes as what:N ...]   (default: the eight above)
set -euo pipefail
cd "$(dirname "$0")/.."
export RAYON_NUM_THREADS=2
cargo build --release --example scaling
runs=("$@")
[ ${#runs[@]} -eq 0 ] && runs=(mining:7096 mining:50000 mining:100000 gallery:642 gallery:2000 gallery:5000 table:7096 table:28384)
printf '%-8s %8s %10s %14s\n' what N seconds "peak RSS MiB"
for run in "${runs[@]}"; do
    what="${run%%:*}" n="${run##*:}"
    out=$( { /usr/bin/time -f "rss %M" target/release/examples/scaling "$what" "$n"; } 2>&1 )
    seconds=$(echo "$out" | awk -v w="$what" '$1 == w {print $3}')
    rss=$(echo "$out" | awk '$1 == "rss" {print int($2 / 1024)}')
    printf '%-8s %8s %10s %14s\n' "$what" "$n" "$seconds" "$rss"
done
