#!/usr/bin/env bash
# Runs the image built by scripts/build-image.sh with podman (runc) the way a hardened pod runs
# it: read-only root filesystem, user 65532, every capability dropped, no new privileges, host
# network to reach the emulator on loopback, config and secret mounted read-only, the output folder
# read-write. Checks that `run --once` writes the token and that `run` serves /readyz, then stops
# it with SIGTERM (exit 0); then runs the same image as the webhook (the chart's way: TLS Secret
# mounted read-only) and sends it an AdmissionReview. Prints the sidecar's and the webhook's RSS.
#   scripts/image-smoke.sh [IMAGE_ARCHIVE]
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
ARCHIVE="${1:-$ROOT/build/mr-token-sidecar.oci.tar}"
[ -f "$ARCHIVE" ] || { echo "$ARCHIVE is missing: run scripts/build-image.sh first" >&2; exit 1; }
ensure_debian_packages podman runc curl python3 openssl

# podman here: runc, cgroupfs, vfs storage, and modest rlimits (this sandbox refuses podman's
# rootful defaults, which are higher than its own limits).
PODMAN_DIR="$ROOT/.build-podman"
mkdir -p "$PODMAN_DIR"
cat > "$PODMAN_DIR/containers.conf" <<CONF
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=4096:4096"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
CONF
export CONTAINERS_CONF="$PODMAN_DIR/containers.conf"
podman() { command podman --storage-driver vfs --root "$PODMAN_DIR/storage" --runroot "$PODMAN_DIR/run" "$@"; }

BIN_DIR="${MR_BIN_DIR:-$(swift build --show-bin-path)}"
[ -x "$BIN_DIR/mr-sts-emulator" ] || swift build --product mr-sts-emulator
WORK=$(mktemp -d)
EMULATOR_PID=""
SIDECAR=""
WEBHOOK=""
cleanup() {
    [ -n "$SIDECAR" ] && podman rm -f "$SIDECAR" >/dev/null 2>&1 || true
    [ -n "$WEBHOOK" ] && podman rm -f "$WEBHOOK" >/dev/null 2>&1 || true
    [ -n "$EMULATOR_PID" ] && kill "$EMULATOR_PID" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

# wait_ready PORT CONTAINER: polls /readyz on loopback for up to 10 s; prints the logs if it never passes.
wait_ready() {
    for _ in $(seq 1 100); do
        curl -fsS "http://127.0.0.1:$1/readyz" >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    podman logs "$2" >&2
    echo "/readyz on port $1 never answered 200" >&2
    exit 1
}

ACCOUNT_ID=$(python3 -c 'import uuid; print(uuid.uuid4())')
ACCOUNT_KEY=$(python3 -c 'import secrets; print(secrets.token_urlsafe(32))')
mkdir -p "$WORK/secret" "$WORK/out"
printf '%s' "$ACCOUNT_KEY" > "$WORK/secret/key"
chmod 0444 "$WORK/secret/key"
# The output folder as an emptyDir with fsGroup 65532: root's, writable through its group.
chgrp 65532 "$WORK/out"
chmod 2775 "$WORK/out"
"$BIN_DIR/mr-sts-emulator" --port 0 --ca-out "$WORK/secret/ca.pem" --account "$ACCOUNT_ID:$ACCOUNT_KEY" \
    > "$WORK/emulator.json" 2> "$WORK/emulator.log" &
EMULATOR_PID=$!
for _ in $(seq 1 100); do [ -s "$WORK/emulator.json" ] && break; sleep 0.1; done
URL=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["url"])' "$WORK/emulator.json")
PROBE_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat > "$WORK/config.yaml" <<YAML
accounts:
  - name: anchors
    accountId: $ACCOUNT_ID
    accountDomain: eastus2.mixedreality.azure.com
    endpoint: $URL
    credential: {type: accountKey, keyFile: /etc/mr/key}
    output: {path: /var/run/mixedreality/anchors.token, format: token, mode: "0440"}
tls: {caFile: /etc/mr/ca.pem}
server: {address: "127.0.0.1:$PROBE_PORT", readyMinValidity: 1m}
YAML
chmod 0444 "$WORK/config.yaml" "$WORK/secret/ca.pem"

IMAGE="mr-token-sidecar:smoke"
podman load --quiet -i "$ARCHIVE" >/dev/null
podman tag "$(podman images --quiet | head -1)" "$IMAGE"
# The emulator listens on 127.0.0.1, outside Azure's hosts: the pod spec (here, the environment)
# allows it, as a deployment would a private STS endpoint.
RUN_FLAGS=(--network host --read-only --user 65532:65532 --cap-drop ALL --security-opt no-new-privileges
    -e MR_TOKEN_SIDECAR_ALLOWED_HOSTS=127.0.0.1
    -v "$WORK/config.yaml:/etc/mr-token-sidecar/config.yaml:ro" -v "$WORK/secret:/etc/mr:ro"
    -v "$WORK/out:/var/run/mixedreality:rw")

log "podman run $IMAGE run --once"
podman run --rm "${RUN_FLAGS[@]}" "$IMAGE" run --once --config /etc/mr-token-sidecar/config.yaml
python3 - "$WORK/out/anchors.token" "$ACCOUNT_ID" <<'PY'
import base64, json, os, stat, sys, time
token = open(sys.argv[1]).read()
payload = token.split(".")[1]
claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
assert claims["aid"] == sys.argv[2], "token of another account"
assert claims["exp"] > time.time(), "expired token"
mode = stat.S_IMODE(os.stat(sys.argv[1]).st_mode)
assert mode == 0o440, oct(mode)
print("run --once: token written, mode 0440, valid for", int(claims["exp"] - time.time()), "s")
PY

log "podman run $IMAGE run --once, failing, with its termination message bind-mounted"
# As the kubelet does: a file it made, mounted over /dev/termination-log, writable by the
# container's user, in a folder the user cannot write. The summary must be written in place.
mkdir -p "$WORK/termination"
: > "$WORK/termination/log"
chmod 0666 "$WORK/termination/log"
printf 'not-the-key' > "$WORK/secret/wrong"
sed -e "s|keyFile: /etc/mr/key|keyFile: /etc/mr/wrong|" -e "s|anchors.token|failing.token|" "$WORK/config.yaml" > "$WORK/failing.yaml"
chmod 0444 "$WORK/secret/wrong" "$WORK/failing.yaml"
status=0
podman run --rm "${RUN_FLAGS[@]}" -v "$WORK/failing.yaml:/etc/mr-token-sidecar/failing.yaml:ro" \
    -v "$WORK/termination/log:/dev/termination-log" "$IMAGE" run --once --config /etc/mr-token-sidecar/failing.yaml \
    2>/dev/null || status=$?
[ "$status" = "1" ] || { echo "run --once with a wrong key: exit $status, expected 1" >&2; exit 1; }
grep -q "1 account(s) without a token" "$WORK/termination/log" \
    || { echo "the termination message was not written to the bind-mounted /dev/termination-log" >&2; exit 1; }
echo "run --once, failing: exit 1, its summary in the bind-mounted termination message"

log "podman run -d $IMAGE (the default command: run)"
SIDECAR=$(podman run -d "${RUN_FLAGS[@]}" "$IMAGE")
wait_ready "$PROBE_PORT" "$SIDECAR"
echo "run: /readyz answered 200"
PID=$(podman inspect --format '{{.State.Pid}}' "$SIDECAR")
rss_kib=$(awk '/VmRSS/ {print $2}' "/proc/$PID/status")
anon_kib=$(awk '/RssAnon/ {print $2}' "/proc/$PID/status")
echo "sidecar RSS after start, one account: $((rss_kib / 1024)) MiB ($((anon_kib / 1024)) MiB anonymous)"
# The manifests request 32Mi and limit 64Mi, and README.md quotes these figures: anonymous memory
# over the request or RSS over the limit means they are no longer true.
if [ "$anon_kib" -gt $((32 * 1024)) ] || [ "$rss_kib" -gt $((64 * 1024)) ]; then
    echo "RSS $((rss_kib / 1024)) MiB ($((anon_kib / 1024)) MiB anonymous) no longer fits the 32Mi request / 64Mi limit of manifests/: update them and README.md" >&2
    exit 1
fi
podman stop --time 20 "$SIDECAR" >/dev/null
status=$(podman inspect --format '{{.State.ExitCode}}' "$SIDECAR")
[ "$status" = "0" ] || { podman logs "$SIDECAR" >&2; echo "exit $status on SIGTERM" >&2; exit 1; }
if podman logs "$SIDECAR" 2>&1 | grep -qF "$ACCOUNT_KEY"; then echo "the account key is in the logs" >&2; exit 1; fi
echo "run: SIGTERM, exit 0; token file intact: $(test -s "$WORK/out/anchors.token" && echo yes)"

log "podman run -d $IMAGE webhook"
mkdir -p "$WORK/tls"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj "/CN=smoke CA" \
    -keyout "$WORK/tls/ca.key" -out "$WORK/tls/ca.crt" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=localhost" \
    -keyout "$WORK/tls/tls.key" -out "$WORK/tls/tls.csr" 2>/dev/null
openssl x509 -req -in "$WORK/tls/tls.csr" -CA "$WORK/tls/ca.crt" -CAkey "$WORK/tls/ca.key" -CAcreateserial -days 1 \
    -extfile <(printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth') -out "$WORK/tls/tls.crt" 2>/dev/null
chmod 0444 "$WORK/tls/tls.crt" "$WORK/tls/tls.key"
HOOK_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
HOOK_PROBES=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
WEBHOOK=$(podman run -d --network host --read-only --user 65532:65532 --cap-drop ALL --security-opt no-new-privileges \
    -v "$WORK/tls:/etc/mr-token-sidecar-webhook/tls:ro" "$IMAGE" webhook \
    --address "127.0.0.1:$HOOK_PORT" --probe-address "127.0.0.1:$HOOK_PROBES" --sidecar-image "$IMAGE" \
    --allowed-credentials accountKey,workloadIdentity,clientSecret,clientCertificate,managedIdentity,default)
wait_ready "$HOOK_PROBES" "$WEBHOOK"
python3 - "$ROOT/Tests/SidecarInjectorTests/Fixtures/admission/plain.pod.json" > "$WORK/review.json" <<'PY'
import json, sys
pod = json.load(open(sys.argv[1]))
print(json.dumps({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {
    "uid": "smoke", "kind": {"group": "", "version": "v1", "kind": "Pod"}, "operation": "CREATE",
    "namespace": "shop", "object": pod}}))
PY
curl -fsS --cacert "$WORK/tls/ca.crt" -H 'Content-Type: application/json' --data-binary "@$WORK/review.json" \
    "https://127.0.0.1:$HOOK_PORT/mutate" > "$WORK/answer.json"
python3 - "$WORK/answer.json" <<'PY'
import base64, json, sys
response = json.load(open(sys.argv[1]))["response"]
assert response["uid"] == "smoke" and response["allowed"] is True, response
patch = json.loads(base64.b64decode(response["patch"]))
assert any(op["path"] == "/spec/initContainers" for op in patch), patch
print("webhook: the AdmissionReview was answered with a", len(patch), "operation patch over TLS")
PY
# The chart's helm test, from the image: webhook-check against the webhook, trusting its CA.
podman run --rm --network host --read-only --user 65532:65532 --cap-drop ALL --security-opt no-new-privileges \
    -v "$WORK/tls:/etc/mr-token-sidecar-webhook/tls:ro" "$IMAGE" webhook-check \
    --url "https://127.0.0.1:$HOOK_PORT/mutate" --ca-file /etc/mr-token-sidecar-webhook/tls/ca.crt
PID=$(podman inspect --format '{{.State.Pid}}' "$WEBHOOK")
rss_kib=$(awk '/VmRSS/ {print $2}' "/proc/$PID/status")
anon_kib=$(awk '/RssAnon/ {print $2}' "/proc/$PID/status")
echo "webhook RSS: $((rss_kib / 1024)) MiB ($((anon_kib / 1024)) MiB anonymous)"
if [ "$rss_kib" -gt $((40 * 1024)) ]; then
    echo "the webhook no longer fits the chart's 40Mi request (webhook.resources)" >&2
    exit 1
fi
# README.md and the chart's values quote the webhook's RSS: one figure, and still true (within 25%).
# (Sentences wrap: the files are read as one line, values.yaml without its comment markers.)
readme_mib=$(tr '\n' ' ' < README.md | sed -n 's/.*as the webhook it runs in about \([0-9]*\) MiB.*/\1/p' | head -1)
chart_mib=$(sed 's/^ *# *//' charts/mr-token-sidecar/values.yaml | tr '\n' ' ' | sed -n 's/.*image-smoke.sh measures about \([0-9]*\) MiB of RSS.*/\1/p' | head -1)
measured_mib=$((rss_kib / 1024))
if [ -z "$readme_mib" ] || [ "$readme_mib" != "$chart_mib" ] \
    || ! awk -v s="$readme_mib" -v m="$measured_mib" 'BEGIN {exit !(m >= s * 0.75 && m <= s * 1.25)}'; then
    echo "the webhook's RSS is $measured_mib MiB; README.md says ${readme_mib:-?} MiB and the chart's values ${chart_mib:-?} MiB: make them one true figure" >&2
    exit 1
fi
podman stop --time 20 "$WEBHOOK" >/dev/null
status=$(podman inspect --format '{{.State.ExitCode}}' "$WEBHOOK")
[ "$status" = "0" ] || { podman logs "$WEBHOOK" >&2; echo "webhook: exit $status on SIGTERM" >&2; exit 1; }
echo "webhook: SIGTERM, exit 0"
echo "image smoke test: passed"
