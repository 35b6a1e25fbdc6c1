#!/usr/bin/env bash
# Runs every test: the Swift suites (built with warnings as errors and explicit Sendable; they run
# the examples too) and the checks that are not Swift: the Azure SDK for Python against the
# emulator, the token-file readers (Python, Node.js, Go, C#) against a rotating sidecar, the Dockerfile and
# manifest checks, and the image built and run with podman.
# Works on a fresh Debian machine with Swift: installs what is missing first.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

ensure_swift strict
ensure_debian_packages git ca-certificates libyaml-dev
# The token-file readers in other languages (Examples/readers) are compiled and run: Node.js, Go,
# and C# with Mono's compiler.
ensure_debian_packages nodejs golang-go mono-mcs mono-runtime libmono-system-runtime-serialization4.0-cil
ensure_venv "$VENV" scripts/requirements/test.txt
WORK_DIR=$(mktemp -d)
trap 'rm -rf "$WORK_DIR"' EXIT

log "swift format lint (the .swift-format configuration; swift format -i -r Sources Tests Benchmarks Examples fixes most)"
swift format lint --strict -r Sources Tests Benchmarks Examples Package.swift

export MR_STRICT=1  # adds -require-explicit-sendable (Package.swift)
log "swift build --build-tests (warnings are errors)"
swift build --build-tests
# The dependencies are those of Package.resolved (an application locks them): a build that would
# resolve other versions fails here. Only the versions are compared: a machine whose package
# source (a mirror) has other commits for the same tags gets their revisions recorded, and a note.
log "Package.resolved is what swift package resolve leaves"
cp Package.resolved "$WORK_DIR/Package.resolved.before"
swift package resolve
"$VENV/bin/python" scripts/check-resolved.py "$WORK_DIR/Package.resolved.before" Package.resolved
BIN_DIR="$(swift build --show-bin-path)"
export MR_BIN_DIR="$BIN_DIR"

# The reliability suite loads both cores (reader processes in tight loops, SIGKILL loops, fuzzing,
# 50-account churn): its suites run only with MR_HEAVY_TESTS=1 (Reliability.heavySuite), after the
# others, whose timing assertions they would disturb. A plain `swift test` is the first step.
HEAVY='ReliabilityTests|FuzzTests|SoakTests|UpstreamFaultTests|SecretFileTests'
log "swift test (all suites but the reliability suite, as a plain swift test runs them)"
swift test --skip-build
log "swift test (the reliability suite, CI counts: docs/reliability.md)"
MR_HEAVY_TESTS=1 swift test --skip-build --filter "$HEAVY"

log "Azure SDK for Python against the emulator; the token-file readers against a rotating sidecar"
"$VENV/bin/python" -m pytest -q -p no:cacheprovider Tests/python

scripts/check-kubernetes.sh
scripts/build-image.sh
# What is inside: the SBOM next to the archive (and in the image) is valid CycloneDX 1.6 and names
# the Swift packages of Package.resolved, libyaml and the Debian packages whose files were copied.
log "the image's SBOM against the CycloneDX schema"
"$VENV/bin/python" scripts/check-sbom.py build/mr-token-sidecar.cdx.json libc6 zlib1g ca-certificates
# Reproducible: a second build of the same commit gives the same manifest digest.
log "a second image build of this commit gives the same digest"
scripts/build-image.sh build/second/mr-token-sidecar.oci.tar >/dev/null
if ! cmp -s build/mr-token-sidecar.digest build/second/mr-token-sidecar.digest; then
    echo "two image builds of one commit differ: $(cat build/mr-token-sidecar.digest) and $(cat build/second/mr-token-sidecar.digest) (docs/kubernetes.md, reproducible images)" >&2
    exit 1
fi
echo "both builds: $(cat build/mr-token-sidecar.digest)"
rm -rf build/second
scripts/image-smoke.sh
