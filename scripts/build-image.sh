#!/usr/bin/env bash
# Builds the mr-token-sidecar image with buildah from scratch, as an OCI archive, where no
# registry is reachable (the Dockerfile needs the official Swift and distroless images). The
# runtime layout is the Dockerfile's: the release binary (static Swift stdlib, stripped) at
# /usr/local/bin/mr-token-sidecar, exactly the shared libraries ldd lists for it, the CA bundle,
# passwd/group entries for 65532, user 65532, the same entrypoint, arguments and labels.
#   scripts/build-image.sh [OUTPUT]   (default build/mr-token-sidecar.oci.tar)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
OUTPUT="${1:-$ROOT/build/mr-token-sidecar.oci.tar}"
VERSION=$(tr -d "[:space:]" < VERSION)

ensure_swift
ensure_debian_packages libyaml-dev buildah ca-certificates binutils

# The release flags of the Dockerfile: static Swift standard library, no debug info, and no
# dynamic symbol table (an executable exports nothing; that is 4 MB of .dynsym and .dynstr).
FLAGS=(-c release --static-swift-stdlib -Xswiftc -gnone -Xlinker --no-export-dynamic)
use_static_libyaml
log "swift build ${FLAGS[*]} --product mr-token-sidecar"
swift build "${FLAGS[@]}" --product mr-token-sidecar
BINARY="$(swift build "${FLAGS[@]}" --show-bin-path)/mr-token-sidecar"

STAGE=$(mktemp -d)
trap 'rm -rf "$STAGE"' EXIT
install -D -m 0755 "$BINARY" "$STAGE/usr/local/bin/mr-token-sidecar"
strip "$STAGE/usr/local/bin/mr-token-sidecar"
# The lean-binary contract (docs/benchmarks.md): only FoundationEssentials (no full Foundation,
# whose ICU data alone is 30 MB), and a stripped binary under 39 MB (37.9 MB today: it may not grow unnoticed).
if ldd "$BINARY" | grep -q libyaml; then
    echo "libyaml is linked as a shared library; the release binary carries libyaml.a" >&2
    exit 1
fi
if nm "$BINARY" | grep -q '\$s10Foundation' || grep -qa 'icudt' "$BINARY"; then
    echo "the binary links full Foundation or ICU (a dependency imports Foundation): keep to FoundationEssentials" >&2
    exit 1
fi
# The production binary links no emulator (the demo is its own executable).
if nm "$BINARY" | grep -q 'STSEmulator'; then
    echo "the binary links the STS emulator: only mr-token-sidecar-demo and the tests may" >&2
    exit 1
fi
stripped_bytes=$(stat -c %s "$STAGE/usr/local/bin/mr-token-sidecar")
if [ "$stripped_bytes" -ge 39000000 ]; then
    echo "the stripped binary is $stripped_bytes bytes, over the 39 MB budget: see docs/benchmarks.md (the binary)" >&2
    exit 1
fi
echo "binary: $stripped_bytes bytes stripped, no \$s10Foundation symbol, no icudt, no STSEmulator symbol"
# Exactly the shared libraries the binary needs, at the paths the loader looks for them.
ldd "$BINARY" | awk '/=>/ {print $3} /^\t\/.*ld-linux/ {print $1}' | sort -u | while read -r library; do
    [ -n "$library" ] || continue
    install -D -m 0755 "$(readlink -f "$library")" "$STAGE$library"
done
install -D -m 0644 /etc/ssl/certs/ca-certificates.crt "$STAGE/etc/ssl/certs/ca-certificates.crt"
install -D -m 0644 LICENSE "$STAGE/usr/share/licenses/mr-token-sidecar/LICENSE"
install -d -m 0755 "$STAGE/etc"
printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' > "$STAGE/etc/passwd"
printf 'root:x:0:\nnonroot:x:65532:\n' > "$STAGE/etc/group"
install -d -m 0755 "$STAGE/home/nonroot" "$STAGE/etc/mr-token-sidecar" "$STAGE/var/run/mixedreality" "$STAGE/tmp"
chmod 1777 "$STAGE/tmp"

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
buildah commit --quiet --format oci --rm "$container" "oci-archive:$OUTPUT:mr-token-sidecar:$VERSION" >/dev/null

binary_bytes=$(stat -c %s "$STAGE/usr/local/bin/mr-token-sidecar")
library_bytes=$( { find "$STAGE/lib" "$STAGE/lib64" "$STAGE/usr/lib" -type f -printf '%s\n' 2>/dev/null || true; } | awk '{s+=$1} END {print s+0}')
total_bytes=$(du -sb "$STAGE" | cut -f1)
archive_bytes=$(stat -c %s "$OUTPUT")
mib() { awk -v b="$1" 'BEGIN {printf "%.1f", b / 1048576}'; }
echo "image: $OUTPUT"
echo "image size: $(mib "$total_bytes") MiB uncompressed ($(mib "$archive_bytes") MiB archive): binary $(mib "$binary_bytes") MiB, shared libraries $(mib "$library_bytes") MiB, CA bundle and /etc the rest"
ldd "$BINARY" | sed 's/^/  needs: /'

# The README quotes the size: keep it true (within 5%).
stated=$(sed -n 's/.*The image weighs \([0-9.]*\) MiB uncompressed.*/\1/p' README.md | head -1)
measured=$(mib "$total_bytes")
if [ -z "$stated" ] || ! awk -v s="$stated" -v m="$measured" 'BEGIN {exit !(m >= s * 0.95 && m <= s * 1.05)}'; then
    echo "README.md says the image weighs ${stated:-?} MiB, measured $measured MiB: update README.md" >&2
    exit 1
fi
echo "README.md's image size ($stated MiB) matches the measurement"
