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
- It reads only a regular file of at most 1 MiB, opened without blocking: a FIFO or a device that
  another container put at the path, or a huge file, is no token (it cannot block or exhaust the
  application).
- The file holds a Mixed Reality token, not an Entra ID token: hand it to a Mixed Reality client as
  an access token (`azure.core.credentials.AccessToken(*tokens.get_token())`), never as a
  `TokenCredential`, which the Azure SDKs would exchange at the STS again.
"""

import base64
import json
import os
import stat as _stat
import time
from typing import NamedTuple, Optional, Tuple

__all__ = ["AccessToken", "TokenFile", "TokenFileError"]

_ENV_NAME = "MIXED_REALITY_ACCESS_TOKEN="
_MAX_BYTES = 1 << 20


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
        self._problem = "no such file"

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
                    f"no token valid for {self.min_validity:g} s in {self.path} after {self.wait:g} s "
                    f"({self._problem}): is mr-token-sidecar running? Its /status and logs say why not"
                )
            time.sleep(min(delay, remaining))
            delay = min(delay * 2, 1.0)

    def _current(self) -> Optional[AccessToken]:
        try:
            info = os.stat(self.path)
        except OSError:
            self._problem = "no such file"
            return None
        identity = (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns)
        cached = self._cached
        if cached is None or cached[0] != identity:
            token = self._read()
            if token is None:
                return None
            cached = (identity, token)
            self._cached = cached
        if cached[1].expires_on - time.time() < self.min_validity:
            self._problem = "the token in it expires too soon"
            return None
        return cached[1]

    def _read(self) -> Optional[AccessToken]:
        # Non-blocking: opening a FIFO would wait for a writer; fstat then refuses it.
        try:
            descriptor = os.open(self.path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
        except OSError:
            self._problem = "cannot be opened"
            return None
        try:
            info = os.fstat(descriptor)
            if not _stat.S_ISREG(info.st_mode):
                self._problem = "not a regular file"
                return None
            chunks, size = [], 0
            while size <= _MAX_BYTES:
                chunk = os.read(descriptor, _MAX_BYTES + 1 - size)
                if not chunk:
                    break
                chunks.append(chunk)
                size += len(chunk)
        except OSError:
            self._problem = "cannot be read"
            return None
        finally:
            os.close(descriptor)
        if size > _MAX_BYTES:
            self._problem = "larger than 1 MiB"
            return None
        token = parse(b"".join(chunks).decode("utf-8", "replace"))
        expires_on = None if token is None else jwt_expiry(token)
        if expires_on is None:
            self._problem = "no whole token in it"
            return None
        return AccessToken(token, expires_on)


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
