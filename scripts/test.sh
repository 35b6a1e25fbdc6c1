#!/usr/bin/env bash
# Runs every test: the Swift suites (built with warnings as errors and explicit Sendable; they run
# the examples too) and the checks that are not Swift: the Azure SDK for Python against the
# emulator, the token-file readers (Python, Node.js, Go, C#) against a rotating sidecar, the Dockerfile and
# manifest checks, and the image built and run with podman.
# Works on a fresh Debian machine with Swift: installs what is missing first.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

ensure_swift
ensure_debian_packages git ca-certificates libyaml-dev
# The token-file readers in other languages (Examples/readers) are compiled and run: Node.js, Go,
# and C# with Mono's compiler.
ensure_debian_packages nodejs golang-go mono-mcs mono-runtime libmono-system-runtime-serialization4.0-cil
ensure_venv "$VENV" pytest requests azure-mixedreality-authentication azure-identity

log "swift format lint (the .swift-format configuration; swift format -i -r Sources Tests Benchmarks Examples fixes most)"
swift format lint --strict -r Sources Tests Benchmarks Examples Package.swift

export MR_STRICT=1  # adds -require-explicit-sendable (Package.swift)
log "swift build --build-tests (warnings are errors)"
swift build --build-tests
BIN_DIR="$(swift build --show-bin-path)"
export MR_BIN_DIR="$BIN_DIR"

# The reliability suite loads both cores (reader processes in tight loops, SIGKILL loops, fuzzing,
# 50-account churn): it runs after the other suites, whose timing assertions it would disturb.
HEAVY='ReliabilityTests|FuzzTests|SoakTests|UpstreamFaultTests|SecretFileTests'
log "swift test (all suites but the reliability suite)"
swift test --skip-build --skip "$HEAVY"
log "swift test (the reliability suite, CI counts: docs/reliability.md)"
swift test --skip-build --filter "$HEAVY"

log "Azure SDK for Python against the emulator; the token-file readers against a rotating sidecar"
"$VENV/bin/python" -m pytest -q -p no:cacheprovider Tests/python

scripts/check-kubernetes.sh
scripts/build-image.sh
scripts/image-smoke.sh
