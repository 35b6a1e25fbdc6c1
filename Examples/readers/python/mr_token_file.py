"""Reads the Mixed Reality access token that mr-token-sidecar keeps fresh in a file.

Copy this file into your application; it needs nothing but the standard library (Python 3.8+).

    from mr_token_file import TokenFile

    tokens = TokenFile("/var/run/mixedreality/token")
    access_token = tokens.get_token()   # waits for the first token, at most `wait` seconds
    access_token.token, access_token.expires_on

The rules (docs/consuming-tokens.md):
- At start the file may not exist yet: `get_token` waits for it, up to `wait` seconds, then raises
  `TokenFileError` naming the file.
- Call `get_token` each time you need the token: it re-reads the file when it changed (a cheap
  `stat` per call) and keeps nothing past the token's expiry. It never returns a token that
  expires within `min_validity` seconds, nor a partial one.
- The file holds a Mixed Reality token, not an Entra ID token: hand it to a Mixed Reality client as
  an access token (`azure.core.credentials.AccessToken(*tokens.get_token())`), never as a
  `TokenCredential`, which the Azure SDKs would exchange at the STS again.
"""

import base64
import json
import os
import time
from typing import NamedTuple, Optional, Tuple

__all__ = ["AccessToken", "TokenFile", "TokenFileError"]

_ENV_NAME = "MIXED_REALITY_ACCESS_TOKEN="


class AccessToken(NamedTuple):
    """The token and its expiry in seconds since the epoch: the shape of azure.core's AccessToken."""

    token: str
    expires_on: int


class TokenFileError(Exception):
    """No valid token appeared in the file within the wait."""


class TokenFile:
    """The sidecar's token file, in any of its formats (`token`, `json`, `env`; told apart by content).

    Thread-safe enough for its purpose: concurrent callers may read the file twice, never get a
    wrong token.
    """

    def __init__(self, path: str = "/var/run/mixedreality/token", wait: float = 60.0, min_validity: float = 60.0):
        self.path = path
        self.wait = wait
        self.min_validity = min_validity
        self._cached: Optional[Tuple[Tuple[int, int, int, int], AccessToken]] = None

    def get_token(self, *scopes: str, **kwargs) -> AccessToken:
        """The token, valid for at least `min_validity` seconds (scopes are ignored: the file
        holds one account's token). Raises TokenFileError after `wait` seconds without one."""
        deadline = time.monotonic() + self.wait
        delay = 0.05
        while True:
            token = self._current()
            if token is not None:
                return token
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TokenFileError(
                    f"no token valid for {self.min_validity:g} s in {self.path} after {self.wait:g} s: "
                    "is mr-token-sidecar running? Its /status and logs say why not"
                )
            time.sleep(min(delay, remaining))
            delay = min(delay * 2, 1.0)

    def _current(self) -> Optional[AccessToken]:
        try:
            stat = os.stat(self.path)
        except OSError:
            return None
        identity = (stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns)
        cached = self._cached
        if cached is None or cached[0] != identity:
            token = self._read()
            if token is None:
                return None
            cached = (identity, token)
            self._cached = cached
        if cached[1].expires_on - time.time() < self.min_validity:
            return None
        return cached[1]

    def _read(self) -> Optional[AccessToken]:
        try:
            with open(self.path, "rb") as file:
                data = file.read(1 << 20)
        except OSError:
            return None
        token = parse(data.decode("utf-8", "replace"))
        if token is None:
            return None
        expires_on = jwt_expiry(token)
        return None if expires_on is None else AccessToken(token, expires_on)


def parse(text: str) -> Optional[str]:
    """The token in a file's text, whatever its format; None when it holds none."""
    text = text.strip()
    if text.startswith("{"):
        try:
            token = json.loads(text).get("accessToken")
        except (ValueError, AttributeError):
            return None
    elif _ENV_NAME in text:
        token = None
        for line in text.splitlines():
            if line.startswith(_ENV_NAME):
                token = line[len(_ENV_NAME):]
                if len(token) >= 2 and token[0] == "'" and token[-1] == "'":
                    token = token[1:-1].replace("'\\''", "'")
                break
    else:
        token = text
    if not isinstance(token, str) or token.count(".") != 2 or any(c.isspace() for c in token):
        return None
    return token


def jwt_expiry(token: str) -> Optional[int]:
    """The `exp` claim of a JWT, or None when the token is not a whole JWT."""
    try:
        header, payload, signature = token.split(".")
        if not (header and signature):
            return None
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        expires_on = claims["exp"]
    except (ValueError, KeyError, TypeError):
        return None
    return int(expires_on) if isinstance(expires_on, (int, float)) and not isinstance(expires_on, bool) else None
