#!/usr/bin/env bash
# Sets the release version everywhere it appears, from one place: scripts/set-version.sh 0.2.0
# writes VERSION (read by Package.swift for the binaries, by scripts/build-image.sh for the image),
# the chart's version, appVersion and Artifact Hub image, and the image tag of the plain manifests;
# then add a CHANGELOG.md section. scripts/check-chart.py fails when any of them differs from VERSION.
set -euo pipefail
cd "$(dirname "$0")/.."
version="${1:?usage: scripts/set-version.sh MAJOR.MINOR.PATCH}"
[[ "$version" =~ ^[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?$ ]] || { echo "$version is not a semantic version" >&2; exit 2; }
old=$(tr -d '[:space:]' < VERSION)
printf '%s\n' "$version" > VERSION
sed -i -E "s/^version: .*/version: $version/; s/^appVersion: .*/appVersion: \"$version\"/; s/image: mr-token-sidecar:$old\$/image: mr-token-sidecar:$version/" \
    charts/mr-token-sidecar/Chart.yaml
find manifests -name '*.yaml' -exec sed -i "s/image: mr-token-sidecar:$old/image: mr-token-sidecar:$version/" {} +
touch Package.swift  # SwiftPM reads VERSION when it reads the manifest again
grep -q "^## $version" CHANGELOG.md || echo "CHANGELOG.md has no section for $version yet: add one" >&2
echo "version $old -> $version"
