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

# ensure_swift: the Swift toolchain must already be there (it is not a Debian package).
ensure_swift() {
    command -v swift >/dev/null || { echo "swift is not on PATH: install Swift 6.2 or newer (swift.org)" >&2; exit 1; }
}

# ensure_venv DIR PKG... : a virtualenv in DIR with the PyPI packages given (tools whose
# dependencies conflict, such as checkov and pytest, get separate ones).
ensure_venv() {
    local venv="$1"
    shift
    if [ ! -x "$venv/bin/python" ]; then
        command -v python3 >/dev/null || ensure_debian_packages python3
        if ! python3 -m venv "$venv" >/dev/null 2>&1; then
            ensure_debian_packages python3-venv
            python3 -m venv "$venv"
        fi
    fi
    local stamp="$venv/.installed-$(printf '%s\n' "$@" | sha256sum | cut -c1-16)"
    if [ ! -f "$stamp" ]; then
        log "installing Python packages into ${venv#"$ROOT"/}: $*"
        "$venv/bin/pip" install -q --disable-pip-version-check "$@"
        touch "$stamp"
    fi
}

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
