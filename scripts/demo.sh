#!/usr/bin/env bash
# The demo: the sidecar against the STS emulator, two accounts with one-minute tokens written
# under ./demo-tokens and refreshed live. mr-token-sidecar-demo runs the emulator and the
# sidecar side by side (the production binary, mr-token-sidecar, links no emulator). Works on a
# fresh Debian machine with Swift: installs libyaml-dev (the config parser) when it is missing.
# Arguments go to mr-token-sidecar-demo (--help lists them). Ctrl-C stops it.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
ensure_swift
ensure_debian_packages libyaml-dev
log "building mr-token-sidecar-demo (the first build fetches and compiles dependencies: a few minutes)"
swift build --product mr-token-sidecar-demo
exec "$(swift build --show-bin-path)/mr-token-sidecar-demo" "$@"
