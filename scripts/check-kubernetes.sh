#!/usr/bin/env bash
# Lints the Dockerfile (hadolint, checkov) and validates every manifest (kubernetes-validate
# --strict for Kubernetes 1.29 to 1.33, checkov): manifests/ (the overlays rendered by kubectl's
# kustomize), the Helm chart rendered with its
# value sets (scripts/check-chart.py: lint, schema, rendering), and the pods the webhook's
# admission fixtures expect. A suppressed checkov check must carry its reason in the file.
# Installs its tools into .build-venv-lint when missing.
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

log "Helm chart: lint, schema, rendering (scripts/check-chart.py)"
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

mapfile -t manifests < <( { find manifests/base manifests/examples -name '*.yaml' ! -name kustomization.yaml;
                            ls "$rendered"/*.yaml build/chart/*/core.yaml "$pods"/*.json; } | sort)
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
echo "manifests, chart, admission fixtures and Dockerfile: clean"
