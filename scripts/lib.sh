# Shared by the scripts: install what a fresh Debian + Swift machine lacks, quietly and only once.
# shellcheck shell=bash

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.build-venv"            # pytest and the Azure SDK for Python
LINT_VENV="$ROOT/.build-venv-lint"  # checkov, kubernetes-validate, hadolint

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

# ensure_debian_packages PKG... : apt-get install the packages that dpkg does not list as installed.
ensure_debian_packages() {
    local missing=()
    for package in "$@"; do
        dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    log "installing Debian packages: ${missing[*]}"
    local sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# The one Swift release the project is built, tested and benchmarked with (the image's builder too).
SWIFT_VERSION=$(tr -d '[:space:]' < "$ROOT/.swift-version")

# ensure_swift [strict]: the Swift toolchain must already be there (it is not a Debian package),
# of the release in .swift-version: with `strict` (the tests) another release is an error, else a
# warning.
ensure_swift() {
    command -v swift >/dev/null || { echo "swift is not on PATH: install Swift $SWIFT_VERSION (swift.org)" >&2; exit 1; }
    local have
    have=$(swift --version 2>/dev/null | sed -n 's/.*Swift version \([0-9][0-9.]*\).*/\1/p' | head -1)
    if [ "$have" != "$SWIFT_VERSION" ]; then
        local message="swift is $have, and this project is built and tested with Swift $SWIFT_VERSION (.swift-version): the image's builder, the benchmarks and every test use that release"
        if [ "${1:-}" = strict ]; then
            echo "$message; install Swift $SWIFT_VERSION (swift.org)" >&2
            exit 1
        fi
        echo "warning: $message" >&2
    fi
}

# ensure_venv DIR REQUIREMENTS : a virtualenv in DIR with exactly the pinned PyPI packages of the
# requirements file (tools whose dependencies conflict, such as checkov and pytest, get separate
# ones). Installed again when the file changes.
ensure_venv() {
    local venv="$1" requirements="$2"
    if [ ! -x "$venv/bin/python" ]; then
        command -v python3 >/dev/null || ensure_debian_packages python3
        if ! python3 -m venv "$venv" >/dev/null 2>&1; then
            ensure_debian_packages python3-venv
            python3 -m venv "$venv"
        fi
    fi
    local stamp="$venv/.installed-$(sha256sum < "$requirements" | cut -c1-16)"
    if [ ! -f "$stamp" ]; then
        log "installing Python packages into ${venv#"$ROOT"/} from ${requirements#"$ROOT"/}"
        "$venv/bin/pip" install -q --disable-pip-version-check -r "$requirements"
        rm -f "$venv"/.installed-*
        touch "$stamp"
    fi
}

# The release flags, one list for the image (scripts/build-release.sh) and the benchmarks: static
# Swift standard library, no debug info, no dynamic symbol table (an executable exports nothing;
# that is 4 MB of .dynsym and .dynstr), and source paths written relative to the package (C's
# __FILE__, C++ lambda names, Swift's #filePath), so that the binary hardly depends on the folder
# it was built in (docs/kubernetes.md, "Reproducible", names what is left).
RELEASE_FLAGS=(-c release --static-swift-stdlib -Xswiftc -gnone -Xlinker --no-export-dynamic
    -Xswiftc -file-prefix-map -Xswiftc "$ROOT=." -Xcc "-ffile-prefix-map=$ROOT=.")

# use_static_libyaml: release builds link Debian's libyaml.a instead of libyaml-0.so.2, through a
# pkg-config file whose -L names a folder holding only the archive (SwiftPM takes the flags of
# yaml-0.1 from pkg-config, and the linker prefers a .so found in the same folder).
use_static_libyaml() {
    local archive
    archive=$(dpkg -L libyaml-dev | grep '/libyaml\.a$' | head -1)
    [ -n "$archive" ] || { echo "libyaml-dev has no libyaml.a" >&2; exit 1; }
    local dir="$ROOT/.build-static-yaml"
    mkdir -p "$dir/lib" "$dir/pkgconfig"
    ln -sf "$archive" "$dir/lib/libyaml.a"
    printf 'Name: LibYAML\nDescription: libyaml, linked statically\nVersion: 0.2\nLibs: -L%s -lyaml\nCflags:\n' \
        "$dir/lib" > "$dir/pkgconfig/yaml-0.1.pc"
    export PKG_CONFIG_PATH="$dir/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
}
