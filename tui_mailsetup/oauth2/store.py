"""The token store: one secret, ``oauth2.token``, in the owner-only credentials file.

It holds the refresh token, the cached access token with its expiry, and what
the sign-in was for (flow, client, token endpoint, scopes, account), written
through :mod:`tui_mailsetup.secrets` (0600, atomic, locked) as one JSON value, so
a rotated refresh token and its access token are replaced together.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

from tui_mailsetup import files, paths
from tui_mailsetup.config_file import LoadedConfig
from tui_mailsetup.secrets import SecretError, delete_secret, resolve_secret, store_secret

TOKEN_KEY = "oauth2.token"
REFRESH_MARGIN = 300.0
"""Seconds before expiry at which a cached access token is refreshed."""
MAX_TIMESTAMP = 4102444800.0
"""2100-01-01: a stored expiry beyond it is nonsense, read as expired."""


@dataclass
class TokenSet:
    flow: str
    client_id: str
    token_url: str
    access_token: str = field(repr=False)
    expires_at: float = 0.0
    refresh_token: str = field(default="", repr=False)
    scopes: list[str] = field(default_factory=list)
    account: str = ""
    obtained_at: float = field(default_factory=time.time)
    # What the sign-in was made for, beyond flow, client and token endpoint (issue 21): it is
    # used only while the configuration is the same. An older store has no salt.
    tenant: str = ""
    device_authorization_url: str = ""
    requested_scopes: list[str] = field(default_factory=list)
    salt: str = ""
    """Random, per sign-in: the key of ``credential`` (so equal secrets never look equal)."""
    credential: str = ""
    """HMAC-SHA256 (keyed with ``salt``) of the client secret, certificate or key file."""

    def valid_for(self, seconds: float, *, now: float | None = None) -> bool:
        """The access token is good for at least ``seconds`` more."""
        now = time.time() if now is None else now
        return bool(self.access_token) and self.expires_at - now >= seconds

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> TokenSet:
        data: Any = json.loads(text)
        if not isinstance(data, dict):
            raise ValueError("not an object")
        known = {name: data[name] for name in cls.__dataclass_fields__ if name in data}
        token = cls(**known)
        if not isinstance(token.access_token, str) or not isinstance(token.refresh_token, str):
            raise ValueError("token values are not strings")
        for name in ("flow", "client_id", "token_url", "account", "tenant", "salt", "credential"):
            if not isinstance(getattr(token, name), str):
                raise ValueError(f"{name} is not a string")
        if not isinstance(token.device_authorization_url, str):
            raise ValueError("device_authorization_url is not a string")
        token.expires_at = _timestamp(token.expires_at)
        token.obtained_at = _timestamp(token.obtained_at)
        token.scopes = [str(s) for s in token.scopes or []]
        token.requested_scopes = [str(s) for s in token.requested_scopes or []]
        return token


def _timestamp(value: object) -> float:
    """A stored time, or 0 (long expired) when it is not one: a store written by an older
    version may hold ``1e300`` or worse, and must not break every later command."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return 0.0
    number = float(value)
    return number if math.isfinite(number) and 0 <= number <= MAX_TIMESTAMP else 0.0


def load_tokens(loaded: LoadedConfig) -> tuple[TokenSet | None, str | None]:
    """The stored token set and where it came from (None, None when there is none).

    A store that cannot be read as a token set is treated as no sign-in (a
    new login replaces it); SecretError for an unreadable credentials file.
    """
    resolved = resolve_secret(loaded, TOKEN_KEY)
    if resolved.value is None:
        return None, None
    try:
        return TokenSet.from_json(resolved.value), resolved.source
    except (ValueError, TypeError):
        return None, resolved.source


def save_tokens(loaded: LoadedConfig, tokens: TokenSet) -> None:
    try:
        store_secret(loaded.path, TOKEN_KEY, tokens.to_json())
    except OSError as exc:
        raise SecretError(
            f"the tokens could not be saved beside {loaded.path}: {exc.strerror or exc}"
        ) from exc


def forget_tokens(loaded: LoadedConfig) -> bool:
    return delete_secret(loaded.path, TOKEN_KEY)


@contextlib.contextmanager
def refresh_lock(loaded: LoadedConfig) -> Iterator[None]:
    """Held while a token is refreshed and saved, so that two processes (msmtp sending two
    messages at once) never both spend one rotating refresh token: the second waits, then
    finds the first one's fresh token in the store."""
    import fcntl

    directory = paths.credentials_path(loaded.path).parent
    try:
        files.ensure_dir(directory, private=True)
        fd = os.open(directory / ".oauth2-refresh.lock", os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        raise SecretError(
            f"cannot create the token lock in {directory}: {exc.strerror or exc}"
        ) from exc
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
