#!/usr/bin/env bash
# The benchmarks of docs/benchmarks.md in one command: builds release (static Swift standard
# library, stripped: the binary the image ships), makes a virtualenv with the Azure SDK for Python
# (the peer) and matplotlib, starts the emulator on loopback and measures both side by side.
# Rewrites the results section of docs/benchmarks.md and docs/benchmarks-accounts.png.
#   Benchmarks/run.sh   (MR_BENCH_RUNS=20, MR_BENCH_IDLE_SECONDS=600, MR_BENCH_WEBHOOK_SECONDS=60 by default)
set -euo pipefail
source "$(dirname "$0")/../scripts/lib.sh"
cd "$ROOT"
ensure_debian_packages libyaml-dev python3 binutils curl openssl
# perf task-clock for the idle CPU, where the distribution has it (else /proc ticks are used).
command -v perf >/dev/null || ensure_debian_packages linux-perf || true
ensure_swift strict
BENCH_VENV="$ROOT/.build-venv-bench"
ensure_venv "$BENCH_VENV" Benchmarks/requirements.txt

FLAGS=("${RELEASE_FLAGS[@]}")  # the image's release flags (scripts/lib.sh)
use_static_libyaml
for product in mr-token-sidecar mr-sts-emulator mr-micro-benchmarks mr-webhook-load; do
    log "swift build ${FLAGS[*]} --product $product"
    swift build "${FLAGS[@]}" --product "$product"
done
RELEASE="$(swift build "${FLAGS[@]}" --show-bin-path)"
BIN="$ROOT/build/benchmarks/bin"
mkdir -p "$BIN"
for product in mr-token-sidecar mr-sts-emulator mr-micro-benchmarks mr-webhook-load; do
    cp "$RELEASE/$product" "$BIN/$product"
    strip "$BIN/$product"
done
log "benchmarks (build/benchmarks/results.json, docs/benchmarks.md, docs/benchmarks-accounts.png)"
"$BENCH_VENV/bin/python" Benchmarks/bench.py "$BIN" "$BENCH_VENV/bin/python"
