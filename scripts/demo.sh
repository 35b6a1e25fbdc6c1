#!/usr/bin/env bash
# The demo: starts the STS emulator in-process and fetches Mixed Reality tokens from it over
# HTTPS with the Swift client. Works on a fresh Debian machine with Swift.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
ensure_swift
log "building mr-sts-emulator (the first build fetches and compiles dependencies: a few minutes)"
swift build --product mr-sts-emulator
exec "$(swift build --show-bin-path)/mr-sts-emulator" demo "$@"
