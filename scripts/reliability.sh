#!/usr/bin/env bash
# The reliability suite at full strength (docs/reliability.md): 10,000 rotations under readers in
# other processes, 300 SIGKILLs, 1,000,000 fuzzed inputs, 120 s of churn, 30 simulated days, plus
# the upstream faults, the full disk (root: a 64 KiB tmpfs) and the TLS refusals. The normal test
# command runs the same tests with reduced counts. Prints the figures and writes them to
# build/reliability.txt.
#   scripts/reliability.sh
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
ensure_debian_packages libyaml-dev python3
ensure_swift strict
mkdir -p build
log "swift build --build-tests"
MR_STRICT=1 swift build --build-tests
log "MR_RELIABILITY=full swift test (reliability, fuzzing, soak, faults, TLS)"
MR_RELIABILITY=full swift test --skip-build \
    --filter 'ReliabilityTests|FuzzTests|SoakTests|UpstreamFaultTests|SecretFileTests|brokenCertificate|untrustedCertificate|plainHTTP' \
    2>&1 | tee build/reliability.log | grep -E '^RELIABILITY|✘|Test run with'
grep '^RELIABILITY' build/reliability.log > build/reliability.txt
grep -q 'Test run with .* passed' build/reliability.log || { echo "the reliability suite failed: build/reliability.log" >&2; exit 1; }
echo "figures: build/reliability.txt (copy them into docs/reliability.md)"
