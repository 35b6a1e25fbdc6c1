#!/usr/bin/env bash
# Builds the mr-token-sidecar image with buildah from scratch, as an OCI archive, where no
# registry is reachable (the Dockerfile needs the official Swift and distroless images). The
# binary comes from the Dockerfile's own recipe, scripts/build-release.sh (same flags, checks and
# SBOM); the runtime layout is the Dockerfile's: the release binary at
# /usr/local/bin/mr-token-sidecar, exactly the shared libraries ldd lists for it, the CA bundle,
# passwd/group entries for 65532, user 65532, the same entrypoint, arguments and labels. Writes
# the archive, its SBOM (.cdx.json) and its manifest digest (.digest) side by side; two builds of
# one commit give one digest.
#   scripts/build-image.sh [OUTPUT]   (default build/mr-token-sidecar.oci.tar)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
OUTPUT="${1:-$ROOT/build/mr-token-sidecar.oci.tar}"
VERSION=$(tr -d "[:space:]" < VERSION)

ensure_swift strict
ensure_debian_packages libyaml-dev buildah ca-certificates binutils python3

# The Dockerfile's recipe (scripts/build-release.sh), with the files the distroless base would
# bring: the binary, its libraries, the CA bundle, passwd and group, and the SBOM.
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
STAGE="$WORK/root"
export SOURCE_DATE_EPOCH="${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || echo 0)}"
scripts/build-release.sh "$STAGE" --with-runtime

export BUILDAH_ISOLATION=chroot STORAGE_DRIVER=vfs
container=$(buildah from scratch)
buildah copy --quiet "$container" "$STAGE" / >/dev/null
buildah config \
    --user 65532:65532 \
    --workingdir / \
    --entrypoint '["/usr/local/bin/mr-token-sidecar"]' \
    --cmd 'run --config /etc/mr-token-sidecar/config.yaml' \
    --label org.opencontainers.image.title=mr-token-sidecar \
    --label "org.opencontainers.image.description=Keeps Azure Mixed Reality access tokens fresh in files for the application next to it" \
    --label "org.opencontainers.image.version=$VERSION" \
    --label "org.opencontainers.image.documentation=docs/kubernetes.md in the source tree" \
    --label org.opencontainers.image.licenses=MIT \
    "$container"
mkdir -p "$(dirname "$OUTPUT")"
rm -f "$OUTPUT"
# --timestamp: the image's creation time and its files' times are the commit's, so that two builds
# of one commit give one digest; no builder label (it names buildah's version).
buildah commit --quiet --format oci --rm --timestamp "$SOURCE_DATE_EPOCH" --identity-label=false \
    "$container" "oci-archive:$OUTPUT:mr-token-sidecar:$VERSION" >/dev/null
# The SBOM next to the archive, as in the image.
cp "$STAGE/usr/share/doc/mr-token-sidecar/sbom.cdx.json" "${OUTPUT%.oci.tar}.cdx.json"
# The manifest's digest: what a registry would name the image by.
digest=$(tar -xOf "$OUTPUT" index.json | python3 -c 'import json, sys; print(json.load(sys.stdin)["manifests"][0]["digest"])')
echo "$digest" > "${OUTPUT%.oci.tar}.digest"

binary_bytes=$(stat -c %s "$STAGE/usr/local/bin/mr-token-sidecar")
library_bytes=$( { find "$STAGE/lib" "$STAGE/lib64" "$STAGE/usr/lib" -type f -printf '%s\n' 2>/dev/null || true; } | awk '{s+=$1} END {print s+0}')
total_bytes=$(du -sb "$STAGE" | cut -f1)
archive_bytes=$(stat -c %s "$OUTPUT")
mib() { awk -v b="$1" 'BEGIN {printf "%.1f", b / 1048576}'; }
echo "image: $OUTPUT ($digest), SBOM ${OUTPUT%.oci.tar}.cdx.json"
echo "image size: $(mib "$total_bytes") MiB uncompressed ($(mib "$archive_bytes") MiB archive): binary $(mib "$binary_bytes") MiB, shared libraries $(mib "$library_bytes") MiB, CA bundle and /etc the rest"

# The README quotes the size: keep it true (within 5%).
stated=$(sed -n 's/.*The image weighs \([0-9.]*\) MiB uncompressed.*/\1/p' README.md | head -1)
measured=$(mib "$total_bytes")
if [ -z "$stated" ] || ! awk -v s="$stated" -v m="$measured" 'BEGIN {exit !(m >= s * 0.95 && m <= s * 1.05)}'; then
    echo "README.md says the image weighs ${stated:-?} MiB, measured $measured MiB: update README.md" >&2
    exit 1
fi
echo "README.md's image size ($stated MiB) matches the measurement"
