#!/usr/bin/env bash
# Lints the Dockerfile (hadolint, checkov) and validates every manifest (kubernetes-validate
# --strict for Kubernetes 1.29 to 1.33, checkov): manifests/ (the overlays rendered by kubectl's
# kustomize), the Helm chart rendered with its
# value sets (scripts/check-chart.py: lint, schema, rendering, and `inject --values` against the
# flags the chart gives the webhook), the pods the webhook's admission fixtures expect, and the
# example manifests run through `mr-token-sidecar inject` (build-time injection). A suppressed
# checkov check must carry its reason in the file. Installs its tools into .build-venv-lint when
# missing; builds mr-token-sidecar when MR_BIN_DIR does not name a build.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
ensure_venv "$LINT_VENV" scripts/requirements/lint.txt

log "hadolint Dockerfile"
"$LINT_VENV/bin/hadolint" Dockerfile
# One Dockerfile for amd64 and arm64: no path or name of an architecture in it or in the image scripts.
if grep -nE 'x86_64|aarch64|linux-gnu|amd64|arm64' Dockerfile scripts/build-image.sh scripts/image-smoke.sh scripts/lib.sh \
    | grep -vE '^Dockerfile:[0-9]+:#'; then
    echo "an architecture is named above: derive it (dpkg -L, uname -m) so that the image builds for amd64 and arm64" >&2
    exit 1
fi
# The builder is the Swift release every test and benchmark runs with.
grep -Eq "^ARG BUILDER=swift:$(tr -d '[:space:]' < .swift-version)-" Dockerfile \
    || { echo "Dockerfile: ARG BUILDER must be swift:$(tr -d '[:space:]' < .swift-version)-... (.swift-version)" >&2; exit 1; }
# The runtime base ships in the image: it must be pinned by digest.
grep -Eq '^ARG RUNTIME=[^ ]+@sha256:[0-9a-f]{64}$' Dockerfile \
    || { echo "Dockerfile: the runtime base (ARG RUNTIME) must be pinned by digest (name:tag@sha256:...)" >&2; exit 1; }

# mr-token-sidecar for `inject`: the test command's build (MR_BIN_DIR), or a build of its own.
if [ -n "${MR_BIN_DIR:-}" ] && [ -x "$MR_BIN_DIR/mr-token-sidecar" ]; then
    BIN="$MR_BIN_DIR/mr-token-sidecar"
else
    swift build --product mr-token-sidecar >&2
    BIN="$(swift build --show-bin-path)/mr-token-sidecar"
fi
export MR_INJECT_BIN="$BIN"

log "Helm chart: lint, schema, rendering, inject --values against the webhook's flags (scripts/check-chart.py)"
"$LINT_VENV/bin/python" scripts/check-chart.py

# The pods of the admission fixtures; a pod made from a generateName (a Job's) has no name yet
# when the webhook sees it, which kubernetes-validate needs: give the copy one.
pods="$ROOT/build/admission-pods"
rm -rf "$pods" && mkdir -p "$pods"
"$LINT_VENV/bin/python" - "$pods" Tests/SidecarInjectorTests/Fixtures/admission/*.json <<'PY'
import json, os, sys
for path in sys.argv[2:]:
    pod = json.load(open(path))
    pod["metadata"].setdefault("name", pod["metadata"].get("generateName", "pod-") + "x")
    json.dump(pod, open(os.path.join(sys.argv[1], os.path.basename(path)), "w"))
PY

# The kustomize overlays, rendered as `kubectl apply -k` would (kubectl's own kustomize, v4 or later:
# the overlays use `patches`).
command -v kubectl >/dev/null || ensure_debian_packages kubectl
rendered="$ROOT/build/kustomize"
rm -rf "$rendered" && mkdir -p "$rendered"
for overlay in manifests/overlays/*/; do
    name=$(basename "$overlay")
    log "kubectl kustomize $overlay"
    kubectl kustomize "$overlay" > "$rendered/$name.yaml"
done

# Build-time injection: the manifests that declare the sidecar by hand come out of `inject` byte
# for byte (checked, subPath included); the build-time example, rendered by kustomize, gets the
# sidecar in every pod template that asks (native and legacy), and injecting the output again
# changes nothing.
injected="$ROOT/build/inject"
rm -rf "$injected" && mkdir -p "$injected"
values=charts/mr-token-sidecar/values.yaml
for manifest in manifests/base/*.yaml manifests/examples/*.yaml "$rendered"/*.yaml; do
    [ "$(basename "$manifest")" = kustomization.yaml ] && continue
    log "mr-token-sidecar inject -f $manifest (no pod template asks: unchanged)"
    "$BIN" inject --values "$values" -f "$manifest" > "$injected/unchanged.yaml"
    cmp "$manifest" "$injected/unchanged.yaml" || { echo "inject changed $manifest" >&2; exit 1; }
done
rm "$injected/unchanged.yaml"
for mode in native legacy; do
    flags=()
    [ "$mode" = legacy ] && flags=(--legacy-sidecar)
    log "kubectl kustomize manifests/build-time | mr-token-sidecar inject --values $values ${flags[*]} -f -"
    kubectl kustomize manifests/build-time | "$BIN" inject --values "$values" "${flags[@]}" -f - > "$injected/build-time-$mode.yaml"
    templates=$(grep -c 'mixedreality.azure.com/inject: "true"' manifests/build-time/workloads.yaml)
    found=$(grep -c 'mixedreality.azure.com/status: injected' "$injected/build-time-$mode.yaml")
    [ "$found" = "$templates" ] || { echo "inject: $found of $templates pod templates injected ($mode)" >&2; exit 1; }
    "$BIN" inject --values "$values" "${flags[@]}" -f "$injected/build-time-$mode.yaml" 2>/dev/null \
        | cmp - "$injected/build-time-$mode.yaml" || { echo "inject is not idempotent ($mode)" >&2; exit 1; }
done

mapfile -t manifests < <( { find manifests/base manifests/examples manifests/build-time -name '*.yaml' ! -name kustomization.yaml;
                            ls "$rendered"/*.yaml build/chart/*/core.yaml "$pods"/*.json "$injected"/*.yaml; } | sort)
for version in 1.29.0 1.30.0 1.31.0 1.32.0 1.33.0; do
    log "kubernetes-validate --strict -k $version (${#manifests[@]} files)"
    "$LINT_VENV/bin/kubernetes-validate" --strict --quiet -k "$version" "${manifests[@]}"
done

log "checkov (kubernetes, dockerfile)"
# The base has no namespace by design; checkov reads it as the overlays render it.
"$LINT_VENV/bin/checkov" -d manifests/examples --framework kubernetes --skip-download --quiet --compact
"$LINT_VENV/bin/checkov" -d "$rendered" --framework kubernetes --skip-download --quiet --compact
"$LINT_VENV/bin/checkov" -f Dockerfile --framework dockerfile --skip-download --quiet --compact
chart_skips=$(grep -vE '^(#|$)' charts/mr-token-sidecar/ci/checkov-skips.txt | cut -d= -f1 | paste -sd, -)
log "checkov (rendered chart; skipped with reasons in charts/mr-token-sidecar/ci/checkov-skips.txt: $chart_skips)"
"$LINT_VENV/bin/checkov" -d build/chart --framework kubernetes --skip-download --quiet --compact --skip-check "$chart_skips"
# Every skip must say why: "checkov.io/skipN: CHECK=reason" or "checkov:skip=CHECK: reason".
unexplained=$( { grep -rn 'checkov.io/skip' manifests | grep -vE 'checkov.io/skip[0-9]+: *[A-Z0-9_]+=.{10,}';
                 grep -n 'checkov:skip' Dockerfile | grep -vE 'checkov:skip=[A-Z0-9_]+: .{10,}';
                 grep -vE '^(#|$)' charts/mr-token-sidecar/ci/checkov-skips.txt | grep -vE '^[A-Z0-9_]+=.{10,}'; } || true)
if [ -n "$unexplained" ]; then
    printf '%s\n' "$unexplained" >&2
    echo "the checkov suppressions above have no written reason" >&2
    exit 1
fi
echo "manifests, chart, admission fixtures, injected manifests and Dockerfile: clean"
