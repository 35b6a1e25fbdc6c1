"""Starts the built mr-sts-emulator (and mr-token-sidecar) for the Python tests."""
import contextlib
import json
import os
import secrets
import signal
import subprocess
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def built_binary(name: str) -> Path:
    directory = Path(os.environ.get("MR_BIN_DIR", ROOT / ".build" / "debug"))
    binary = directory / name
    if not binary.exists():
        pytest.fail(f"{binary} is missing: run `swift build` first (scripts/test.sh does)")
    return binary


@contextlib.contextmanager
def running_emulator(directory: Path, sts_lifetime: int = 600):
    """A running emulator with one account, one app (secret + federated) and one managed identity."""
    identities = {
        "account_id": str(uuid.uuid4()),
        "account_key": secrets.token_urlsafe(32),
        "tenant_id": str(uuid.uuid4()),
        "client_id": str(uuid.uuid4()),
        "client_secret": secrets.token_urlsafe(32),
        "subject": "system:serviceaccount:default:python",
        "mi_client_id": str(uuid.uuid4()),
    }
    config = {
        "accounts": [{"accountId": identities["account_id"], "accountKeys": [identities["account_key"]]}],
        "applications": [{
            "tenantId": identities["tenant_id"],
            "clientId": identities["client_id"],
            "clientSecrets": [identities["client_secret"]],
            "federatedCredentials": [{"subject": identities["subject"]}],
        }],
        "managedIdentities": [{"clientId": identities["mi_client_id"], "systemAssigned": True}],
        "stsTokenLifetimeSeconds": sts_lifetime,
    }
    config_path = directory / "emulator.json"
    config_path.write_text(json.dumps(config))
    ca_path = directory / "ca.pem"
    process = subprocess.Popen(
        [str(built_binary("mr-sts-emulator")), "--config", str(config_path), "--ca-out", str(ca_path), "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        line = process.stdout.readline()
        if not line:
            pytest.fail(f"the emulator did not start: {process.stderr.read()}")
        ready = json.loads(line)
        yield {**identities, "url": ready["url"], "ca": str(ca_path), "process": process}
    finally:
        process.terminate()
        code = process.wait(timeout=30)
        stderr = process.stderr.read()
        assert code == 0, f"emulator exited with {code}: {stderr}"
        for secret in (identities["account_key"], identities["client_secret"]):
            assert secret not in stderr, "a secret reached the emulator's log"


@pytest.fixture()
def emulator(tmp_path):
    with running_emulator(tmp_path) as running:
        yield running


@pytest.fixture()
def rotating_sidecar(tmp_path):
    """mr-token-sidecar writing one account's token in the three formats, replacing 2-second tokens
    every second (refresh at half the lifetime), against the emulator."""
    with running_emulator(tmp_path, sts_lifetime=2) as emulator:
        key_file = tmp_path / "account.key"
        key_file.write_text(emulator["account_key"])
        out = tmp_path / "out"
        out.mkdir()
        paths = {"token": out / "anchors.token", "json": out / "anchors.json", "env": out / "anchors.env"}
        config = f"""
accounts:
  - name: anchors
    accountId: {emulator["account_id"]}
    accountDomain: westeurope.mixedreality.azure.com
    endpoint: {emulator["url"]}
    credential:
      type: accountKey
      keyFile: {key_file}
    outputs:
      - {{path: {paths["token"]}, format: token}}
      - {{path: {paths["json"]}, format: json}}
      - {{path: {paths["env"]}, format: env}}
refresh:
  at: 0.5
  jitter: 0
  minBackoff: 100ms
  maxBackoff: 1s
tls:
  caFile: {emulator["ca"]}
server:
  address: 127.0.0.1:0
  readyMinValidity: 1s
"""
        config_path = tmp_path / "sidecar.yaml"
        config_path.write_text(config)
        environment = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "MR_TOKEN_SIDECAR_ALLOWED_HOSTS": "127.0.0.1",
                       "MR_TOKEN_SIDECAR_MIN_BACKOFF_FLOOR": "100ms"}
        log_path = tmp_path / "sidecar.log"
        with open(log_path, "w") as log:
            process = subprocess.Popen(
                [str(built_binary("mr-token-sidecar")), "run", "--config", str(config_path)],
                stdout=subprocess.DEVNULL, stderr=log, env=environment,
            )
        try:
            yield {**emulator, "paths": {name: str(path) for name, path in paths.items()}, "sidecar": process}
        finally:
            process.send_signal(signal.SIGTERM)
            code = process.wait(timeout=30)
            stderr = log_path.read_text()
            assert code == 0, f"the sidecar exited with {code}: {stderr[-2000:]}"
            assert emulator["account_key"] not in stderr, "the account key reached the sidecar's log"
