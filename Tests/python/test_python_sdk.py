"""The Azure SDK for Python, pointed at the emulator, gets tokens from it.

This proves the emulator accepts what real Azure clients send: the Mixed Reality SDK's STS
request, and azure-identity's (MSAL's) client secret, workload identity and managed identity flows.
"""
import base64
import json
import time

import pytest
import requests


@pytest.fixture(autouse=True)
def trust_emulator(emulator, monkeypatch):
    # requests (under azure-core) honours REQUESTS_CA_BUNDLE; SSL_CERT_FILE alone is not enough.
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", emulator["ca"])
    for name in ("AZURE_CLIENT_ID", "AZURE_TENANT_ID", "AZURE_FEDERATED_TOKEN_FILE", "AZURE_AUTHORITY_HOST",
                 "IDENTITY_ENDPOINT", "IDENTITY_HEADER", "MSI_ENDPOINT", "AZURE_POD_IDENTITY_AUTHORITY_HOST"):
        monkeypatch.delenv(name, raising=False)


def jwt_claims(token):
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def admin_requests(emulator):
    return requests.get(f"{emulator['url']}/admin/requests", verify=emulator["ca"], timeout=10).json()


def test_mixed_reality_sdk_account_key(emulator):
    from azure.core.credentials import AzureKeyCredential
    from azure.mixedreality.authentication import MixedRealityStsClient

    client = MixedRealityStsClient(
        emulator["account_id"], "eastus2.mixedreality.azure.com", AzureKeyCredential(emulator["account_key"]),
        custom_endpoint_url=emulator["url"],
    )
    token = client.get_token()
    claims = jwt_claims(token.token)
    assert claims["aid"] == emulator["account_id"]
    assert abs(token.expires_on - (time.time() + 600)) < 60

    seen = [r for r in admin_requests(emulator) if r["endpoint"] == "sts"]
    assert len(seen) == 1 and seen[0]["status"] == 200
    headers = {h["name"].lower(): h["value"] for h in seen[0]["headers"]}
    assert headers["user-agent"].startswith("azsdk-python-mixedreality-authentication/")
    assert len(headers["x-mrc-cv"]) == 22
    assert headers["authorization"] == "Bearer <redacted account-key>"


def test_mixed_reality_sdk_wrong_key_is_refused(emulator):
    from azure.core.credentials import AzureKeyCredential
    from azure.core.exceptions import HttpResponseError
    from azure.mixedreality.authentication import MixedRealityStsClient

    client = MixedRealityStsClient(
        emulator["account_id"], "eastus2.mixedreality.azure.com", AzureKeyCredential("wrong"),
        custom_endpoint_url=emulator["url"],
    )
    with pytest.raises(HttpResponseError) as failure:
        client.get_token()
    assert failure.value.status_code == 401


STS_SCOPE = "https://sts.mixedreality.azure.com//.default"


def exchange_at_sts(emulator, entra_token):
    response = requests.get(
        f"{emulator['url']}/Accounts/{emulator['account_id']}/token",
        params={"api-version": "2019-02-28-preview"},
        headers={"Authorization": f"Bearer {entra_token}", "Accept": "application/json",
                 "X-MRC-CV": "AAAAAAAAAAAAAAAAAAAAAA"},
        verify=emulator["ca"], timeout=10,
    )
    assert response.status_code == 200, response.headers.get("WWW-Authenticate")
    return response.json()["AccessToken"]


def test_azure_identity_client_secret(emulator):
    from azure.identity import ClientSecretCredential

    credential = ClientSecretCredential(
        emulator["tenant_id"], emulator["client_id"], emulator["client_secret"],
        authority=emulator["url"], disable_instance_discovery=True,
    )
    token = credential.get_token(STS_SCOPE)
    assert jwt_claims(token.token)["appid"] == emulator["client_id"]
    assert jwt_claims(exchange_at_sts(emulator, token.token))["aid"] == emulator["account_id"]


def test_azure_identity_workload_identity(emulator, tmp_path):
    from azure.identity import WorkloadIdentityCredential

    minted = requests.post(f"{emulator['url']}/admin/service-account-token", json={"subject": emulator["subject"]},
                           verify=emulator["ca"], timeout=10).json()["token"]
    token_file = tmp_path / "azure-identity-token"
    token_file.write_text(minted)
    credential = WorkloadIdentityCredential(
        tenant_id=emulator["tenant_id"], client_id=emulator["client_id"], token_file_path=str(token_file),
        authority=emulator["url"], disable_instance_discovery=True,
    )
    token = credential.get_token(STS_SCOPE)
    exchange_at_sts(emulator, token.token)
    form = [r for r in admin_requests(emulator) if r["path"].endswith("/oauth2/v2.0/token")][-1]["form"]
    assert form["client_assertion_type"] == "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
    assert form["client_assertion"] == "<redacted>"


def test_azure_identity_managed_identity(emulator, monkeypatch):
    from azure.identity import ManagedIdentityCredential

    monkeypatch.setenv("AZURE_POD_IDENTITY_AUTHORITY_HOST", emulator["url"])
    credential = ManagedIdentityCredential()
    token = credential.get_token(STS_SCOPE)
    exchange_at_sts(emulator, token.token)
    imds = [r for r in admin_requests(emulator) if r["endpoint"] == "managedIdentity" and r["status"] == 200]
    assert imds and "api-version=2018-02-01" in imds[-1]["query"]
