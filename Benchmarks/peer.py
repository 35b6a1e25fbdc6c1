#!/usr/bin/env python3
"""The peer of the benchmarks: the Azure SDK for Python doing the sidecar's job for one account.

It gets a Mixed Reality token with an account key (azure-mixedreality-authentication, over HTTPS
to the emulator), and writes it atomically as the sidecar does (temporary file in the same
folder, fsync, mode 0440, rename, fsync of the folder). With --daemon it then keeps the token
fresh: it sleeps until half the token's lifetime and fetches again, forever.

    peer.py --account-id ID --account-key-file FILE --endpoint URL --out FILE [--daemon]
The emulator's CA goes in REQUESTS_CA_BUNDLE, as azure-core (requests) expects.
"""
import argparse
import os
import tempfile
import time

from azure.core.credentials import AzureKeyCredential
from azure.mixedreality.authentication import MixedRealityStsClient


def write_atomically(path, data):
    folder = os.path.dirname(path) or "."
    fd, temporary = tempfile.mkstemp(dir=folder, prefix="." + os.path.basename(path) + ".tmp-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fchmod(f.fileno(), 0o440)
            os.fsync(f.fileno())
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise
    directory = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--account-id", required=True)
    parser.add_argument("--account-key-file", required=True)
    parser.add_argument("--account-domain", default="eastus2.mixedreality.azure.com")
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--daemon", action="store_true")
    args = parser.parse_args()
    with open(args.account_key_file) as f:
        key = f.read().strip()
    client = MixedRealityStsClient(
        args.account_id, args.account_domain, AzureKeyCredential(key), custom_endpoint_url=args.endpoint)
    while True:
        issued = time.time()
        token = client.get_token()
        write_atomically(args.out, token.token.encode())
        if not args.daemon:
            return
        print("token written", flush=True)
        time.sleep(max(1.0, (token.expires_on - issued) / 2))


if __name__ == "__main__":
    main()
