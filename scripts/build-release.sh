#!/usr/bin/env bash
# Builds the release binary of the image and stages the files that ship with it, one recipe for
# both images: the Dockerfile runs it in its builder, scripts/build-image.sh on this machine. Same
# flags, same checks (only FoundationEssentials, no emulator, the size budget), the same SBOM.
#   scripts/build-release.sh OUT [--with-runtime]
# OUT receives usr/local/bin/mr-token-sidecar, the LICENSE, zlib (which the distroless base lacks)
# and usr/share/doc/mr-token-sidecar/sbom.cdx.json. --with-runtime adds what the distroless base
# would provide: the C and C++ runtime libraries the binary needs (exactly those ldd lists), the CA
# bundle of Debian's ca-certificates package (not this machine's /etc, which may hold local CAs),
# and passwd and group entries for 65532.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
OUT="${1:?usage: scripts/build-release.sh OUT [--with-runtime]}"
WITH_RUNTIME=$([ "${2:-}" = --with-runtime ] && echo 1 || echo 0)
VERSION=$(tr -d "[:space:]" < VERSION)
# File times and the SBOM's timestamp: the last commit's (a build of the same commit gives the
# same bytes), or what the caller set; 0 where neither is known (a build without .git).
export SOURCE_DATE_EPOCH="${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || echo 0)}"

ensure_swift strict
# What the Dockerfile builds: no test-only settings (scripts/test.sh exports MR_STRICT=1 for its
# debug build; it adds a check, not code, but the image is built without it).
unset MR_STRICT
# The release flags of lib.sh (the benchmarks build with them too).
FLAGS=("${RELEASE_FLAGS[@]}")
use_static_libyaml
log "swift build ${FLAGS[*]} --product mr-token-sidecar"
swift build "${FLAGS[@]}" --product mr-token-sidecar
BINARY="$(swift build "${FLAGS[@]}" --show-bin-path)/mr-token-sidecar"

rm -rf "$OUT"
install -D -m 0755 "$BINARY" "$OUT/usr/local/bin/mr-token-sidecar"
# Stripped, and without .swift_modhash: the compiler's hash of each module's LLVM IR, which lets
# an incremental build skip code generation and which nothing reads at run time. It hashes more
# than the code (two builds in two folders gave the same bytes everywhere else), and the linker's
# build id hashes it in turn: the build id is computed again over the stripped binary, so that the
# same sources give the same bytes in another folder (of the same path length: docs/kubernetes.md).
strip --remove-section=.swift_modhash "$OUT/usr/local/bin/mr-token-sidecar"
python3 - "$OUT/usr/local/bin/mr-token-sidecar" <<'PYTHON'
import hashlib, struct, sys
path = sys.argv[1]
data = bytearray(open(path, "rb").read())
assert data[:6] == b"\x7fELF\x02\x01", "a 64-bit little-endian ELF file"
shoff, = struct.unpack_from("<Q", data, 0x28)
shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x3A)
section = lambda i: struct.unpack_from("<IIQQQQ", data, shoff + i * shentsize)
names = section(shstrndx)[4]
for i in range(shnum):
    name, _, _, _, offset, size = section(i)
    if data[names + name:data.index(b"\0", names + name)] == b".note.gnu.build-id":
        namesz, descsz, kind = struct.unpack_from("<III", data, offset)
        desc = offset + 12 + (namesz + 3) // 4 * 4
        assert kind == 3 and desc + descsz <= offset + size, "a GNU build-id note"
        data[desc:desc + descsz] = bytes(descsz)
        data[desc:desc + descsz] = hashlib.sha1(data).digest()[:descsz].ljust(descsz, b"\0")
        open(path, "wb").write(data)
        break
else:
    sys.exit(f"{path}: no .note.gnu.build-id section")
PYTHON
# The lean-binary contract (docs/benchmarks.md): only FoundationEssentials (no full Foundation,
# whose ICU data alone is 30 MB), and a stripped binary under 39 MB (38.2 MB today: it may not grow unnoticed).
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
# Nothing in it names the folder it was built in (the prefix maps above): another checkout of the
# same commit gives the same bytes.
if grep -qaF "$ROOT/" "$OUT/usr/local/bin/mr-token-sidecar"; then
    echo "the binary holds the build folder's path $ROOT: a source path escaped -file-prefix-map" >&2
    exit 1
fi
stripped_bytes=$(stat -c %s "$OUT/usr/local/bin/mr-token-sidecar")
if [ "$stripped_bytes" -ge 39000000 ]; then
    echo "the stripped binary is $stripped_bytes bytes, over the 39 MB budget: see docs/benchmarks.md (the binary)" >&2
    exit 1
fi
echo "binary: $stripped_bytes bytes stripped, no \$s10Foundation symbol, no icudt, no STSEmulator symbol, no build path"

install -D -m 0644 LICENSE "$OUT/usr/share/licenses/mr-token-sidecar/LICENSE"
if [ "$WITH_RUNTIME" = 1 ]; then
    # Exactly the shared libraries the binary needs, at the paths the loader looks for them.
    ldd "$BINARY" | awk '/=>/ {print $3} /^\t\/.*ld-linux/ {print $1}' | sort -u | while read -r library; do
        [ -n "$library" ] || continue
        install -D -m 0755 "$(readlink -f "$library")" "$OUT$library"
    done
    install -d -m 0755 "$OUT/etc/ssl/certs"
    dpkg -L ca-certificates | grep '^/usr/share/ca-certificates/.*\.crt$' | LC_ALL=C sort | while read -r certificate; do
        if [ -f "$certificate" ]; then cat "$certificate"; fi
    done > "$OUT/etc/ssl/certs/ca-certificates.crt"
    chmod 0644 "$OUT/etc/ssl/certs/ca-certificates.crt"
    printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' > "$OUT/etc/passwd"
    printf 'root:x:0:\nnonroot:x:65532:\n' > "$OUT/etc/group"
    install -d -m 0755 "$OUT/home/nonroot" "$OUT/etc/mr-token-sidecar" "$OUT/var/run/mixedreality" "$OUT/tmp"
    chmod 1777 "$OUT/tmp"
else
    # distroless cc has glibc, libgcc and libstdc++, not zlib.
    libz="$(dpkg -L zlib1g | grep '/libz\.so\.1$')"
    install -D -m 0644 "$(readlink -f "$libz")" "$OUT/usr/lib/$(basename "$(dirname "$libz")")/libz.so.1"
fi

# The software bill of materials: the Swift packages of Package.resolved, libyaml (linked in),
# and the Debian packages of every file copied here.
install -d -m 0755 "$OUT/usr/share/doc/mr-token-sidecar"
python3 scripts/sbom.py --version "$VERSION" --resolved Package.resolved --root "$OUT" \
    > "$OUT/usr/share/doc/mr-token-sidecar/sbom.cdx.json"
find "$OUT" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
echo "staged in $OUT (SBOM at usr/share/doc/mr-token-sidecar/sbom.cdx.json)"
