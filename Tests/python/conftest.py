"""Starts the built mr-sts-emulator for the Python SDK conformance tests."""
import json
import os
import secrets
import subprocess
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def emulator_binary() -> Path:
    directory = Path(os.environ.get("MR_BIN_DIR", ROOT / ".build" / "debug"))
    binary = directory / "mr-sts-emulator"
    if not binary.exists():
        pytest.fail(f"{binary} is missing: run `swift build` first (scripts/test.sh does)")
    return binary


@pytest.fixture()
def emulator(tmp_path):
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
        "stsTokenLifetimeSeconds": 600,
    }
    config_path = tmp_path / "emulator.json"
    config_path.write_text(json.dumps(config))
    ca_path = tmp_path / "ca.pem"
    process = subprocess.Popen(
        [str(emulator_binary()), "--config", str(config_path), "--ca-out", str(ca_path), "--port", "0"],
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
