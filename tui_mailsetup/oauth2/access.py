"""Getting a valid access token: from the store when it is fresh and belongs to this
configuration, refreshed when it is near expiry (saving a rotated refresh token), fetched
anew for the unattended flows; a renewal on demand (a test, a token the server refused,
``oauth2 token --refresh``); and login.

A stored sign-in is used only for the configuration that obtained it: the flow, the
client ID, the tenant, the token and device endpoints, the scopes asked for, and a
keyed fingerprint (never the value) of the client secret, the certificate or the
service-account key (:func:`stale_reason`).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from tui_mailsetup import files, paths
from tui_mailsetup.config_file import LoadedConfig, ValueSource
from tui_mailsetup.exitcodes import ExitCode
from tui_mailsetup.oauth2.errors import LoginRequired, OAuth2Error
from tui_mailsetup.oauth2.providers import configuration_problems, endpoints, provider_facts
from tui_mailsetup.oauth2.store import (
    REFRESH_MARGIN,
    TokenSet,
    load_tokens,
    refresh_lock,
    save_tokens,
)
from tui_mailsetup.sanitize import untrusted_text
from tui_mailsetup.secrets import resolve_secret
from tui_mailsetup.settings import OAuth2Flow

if TYPE_CHECKING:
    from tui_mailsetup.oauth2.flows import DevicePrompt

CLIENT_SECRET_KEY = "oauth2.client_secret"


@dataclass(frozen=True)
class Obtained:
    """An access token and how it was had, for the transcript."""

    token: str
    how: str
    """"cached", "refreshed" (the stored refresh token) or "obtained" (the unattended flow)."""
    note: str


def account_for(loaded: LoadedConfig) -> str:
    """Who the token is for: the mailbox (the service account's user, else smtp.username)."""
    oauth2 = loaded.settings.oauth2
    if oauth2.flow is OAuth2Flow.SERVICE_ACCOUNT:
        return oauth2.user.strip() or loaded.settings.smtp.username.strip()
    if oauth2.flow is OAuth2Flow.CLIENT_CREDENTIALS:
        mailbox = loaded.settings.smtp.username.strip()
        return f"{mailbox} (app {oauth2.client_id})" if mailbox else f"app {oauth2.client_id}"
    return loaded.settings.smtp.username.strip()


def check_configuration(loaded: LoadedConfig) -> None:
    """OAuth2Error (78) for an incomplete configuration, or one another user could have
    written: no token endpoint is contacted with it (files.check_trusted)."""
    try:
        files.check_trusted(loaded.path, purpose="no token endpoint is contacted with it")
    except files.UnsafePermissionsError as exc:
        raise OAuth2Error(str(exc), exit_code=ExitCode.CONFIG, error="permissions") from exc
    problems = configuration_problems(
        loaded.settings.oauth2, username=loaded.settings.smtp.username
    )
    if problems:
        key, message = problems[0]
        raise OAuth2Error(f"{key}: {message}", exit_code=ExitCode.CONFIG, error="configuration")


# --------------------------------------------------------------------------- what a sign-in is for


def _credential_material(loaded: LoadedConfig) -> bytes:
    """What authenticates the client in this configuration (hashed, never stored)."""
    oauth2 = loaded.settings.oauth2
    if oauth2.flow is OAuth2Flow.SERVICE_ACCOUNT:
        return b"service-account\0" + _file_bytes(oauth2.service_account_file)
    if oauth2.flow is OAuth2Flow.CLIENT_CREDENTIALS and oauth2.certificate_file.strip():
        return b"certificate\0" + _file_bytes(oauth2.certificate_file)
    secret = _client_secret(loaded)
    return b"secret\0" + (secret or "").encode("utf-8")


def _file_bytes(name: str) -> bytes:
    try:
        # A key file is a few kilobytes; one that is not is refused by the flow anyway.
        with Path(name).expanduser().open("rb") as handle:
            return handle.read(1 << 20)
    except OSError:
        return b"\0unreadable"


def _fingerprint(salt: str, material: bytes) -> str:
    return hmac.new(bytes.fromhex(salt), material, hashlib.sha256).hexdigest()


def bind(loaded: LoadedConfig, tokens: TokenSet) -> TokenSet:
    """Record in ``tokens`` the configuration they were obtained for."""
    oauth2 = loaded.settings.oauth2
    ends = endpoints(oauth2)
    tokens.tenant = ends.tenant
    tokens.device_authorization_url = (
        ends.device_authorization_url if oauth2.flow is OAuth2Flow.DEVICE_CODE else ""
    )
    tokens.requested_scopes = list(ends.scopes)
    tokens.salt = secrets.token_hex(16)
    tokens.credential = _fingerprint(tokens.salt, _credential_material(loaded))
    return tokens


def stale_reason(loaded: LoadedConfig, tokens: TokenSet) -> str | None:
    """Why a stored sign-in does not belong to the current configuration, or None.

    The credential (client secret, certificate, key) is not judged here: see
    :func:`credential_changed`.
    """
    oauth2 = loaded.settings.oauth2
    ends = endpoints(oauth2)
    if tokens.flow != oauth2.flow.value:
        return f"the stored sign-in was made with the {tokens.flow} flow, now {oauth2.flow.value}"
    if tokens.client_id != oauth2.client_id:
        return "the stored sign-in was made for another oauth2.client_id"
    if tokens.token_url != ends.token_url:
        return "the stored sign-in was made with another token endpoint"
    if not tokens.salt:
        return None  # an older store: judged by the renewal it gets (see _must_renew)
    if tokens.tenant != ends.tenant:
        return "the stored sign-in was made for another oauth2.tenant"
    if oauth2.flow is OAuth2Flow.DEVICE_CODE and (
        tokens.device_authorization_url != ends.device_authorization_url
    ):
        return "the stored sign-in was made with another device authorization endpoint"
    if tokens.requested_scopes != list(ends.scopes):
        return "the stored sign-in was made for other oauth2.scopes"
    return None


def credential_changed(loaded: LoadedConfig, tokens: TokenSet) -> bool:
    """The client secret, certificate or key file is not the one the tokens were had with
    (or the store is too old to say)."""
    if not tokens.salt:
        return True
    expected = _fingerprint(tokens.salt, _credential_material(loaded))
    return not hmac.compare_digest(expected, tokens.credential)


def _client_secret(loaded: LoadedConfig) -> str | None:
    return resolve_secret(loaded, CLIENT_SECRET_KEY).value


# --------------------------------------------------------------------------- access tokens


def access_token(
    loaded: LoadedConfig,
    *,
    margin: float = REFRESH_MARGIN,
    renew: bool = False,
    deadline: float | None = None,
) -> str:
    """A valid access token. Raises LoginRequired (a person must sign in) or OAuth2Error.

    ``renew``: never the cached one (a test of the configuration, a token the server
    refused, ``oauth2 token --refresh``). ``deadline`` (``time.monotonic()``) bounds the
    whole renewal; by default it is ``smtp.timeout`` from now.
    """
    return obtain(loaded, margin=margin, renew=renew, deadline=deadline).token


def obtain(
    loaded: LoadedConfig,
    *,
    margin: float = REFRESH_MARGIN,
    renew: bool = False,
    deadline: float | None = None,
) -> Obtained:
    """:func:`access_token`, saying how the token was had."""
    check_configuration(loaded)
    if deadline is None:
        # The configured network timeout bounds a renewal made outside a send too.
        deadline = time.monotonic() + loaded.settings.smtp.timeout
    tokens, source = _usable_tokens(loaded)
    if not renew and tokens is not None and not _must_renew(loaded, tokens, margin):
        return Obtained(tokens.access_token, "cached", "OAuth2: the stored access token is used")
    with refresh_lock(loaded):
        # Another process may have refreshed while this one waited for the lock.
        fresh, source = _usable_tokens(loaded)
        if (
            not renew
            and fresh is not None
            and not _must_renew(loaded, fresh, margin)
            and (tokens is None or fresh.access_token != tokens.access_token)
        ):
            return Obtained(fresh.access_token, "cached", "OAuth2: the stored access token is used")
        return _renew(loaded, fresh, source, deadline)


def _must_renew(loaded: LoadedConfig, tokens: TokenSet, margin: float) -> bool:
    return not tokens.valid_for(margin) or credential_changed(loaded, tokens)


def _usable_tokens(loaded: LoadedConfig) -> tuple[TokenSet | None, str | None]:
    """The stored tokens when they belong to this configuration (an unattended flow just
    fetches new ones; a person's sign-in for another app must be made again)."""
    tokens, source = load_tokens(loaded)
    if tokens is not None and (reason := stale_reason(loaded, tokens)) is not None:
        if loaded.settings.oauth2.flow is OAuth2Flow.DEVICE_CODE:
            raise LoginRequired(reason)
        tokens = None
    return tokens, source


def _renew(
    loaded: LoadedConfig, tokens: TokenSet | None, source: str | None, deadline: float
) -> Obtained:
    from tui_mailsetup.oauth2 import flows

    oauth2 = loaded.settings.oauth2
    ends = endpoints(oauth2)
    host = untrusted_text(ends.token_url, limit=200)
    if oauth2.flow is OAuth2Flow.DEVICE_CODE:
        if tokens is None:
            raise LoginRequired("no OAuth2 sign-in is stored for this configuration")
        fresh = flows.refresh(oauth2, _client_secret(loaded), ends, tokens, deadline=deadline)
        fresh.account = tokens.account
        how = "refreshed"
        note = (
            f"OAuth2: the access token was refreshed at {host} with the stored sign-in "
            f"of {untrusted_text(tokens.account or '?', limit=100)} (its refresh token is what "
            "this test proves)"
        )
    else:
        fresh = flows.obtain_unattended(
            oauth2, _client_secret(loaded), ends, account_for(loaded), deadline=deadline
        )
        how = "obtained"
        what = (
            "the service-account key"
            if oauth2.flow is OAuth2Flow.SERVICE_ACCOUNT
            else "the certificate"
            if oauth2.certificate_file.strip()
            else "the client secret"
        )
        note = (
            f"OAuth2: a new access token was obtained from {host} with the configured "
            f"{what} ({oauth2.flow.value}, {provider_facts(oauth2.provider.value).name})"
        )
    bind(loaded, fresh)
    if source in (None, ValueSource.CREDENTIALS_FILE):
        save_tokens(loaded, fresh)
    return Obtained(fresh.access_token, how, note)


def login(
    loaded: LoadedConfig,
    on_prompt: Callable[[DevicePrompt], None],
    *,
    cancel: threading.Event | None = None,
    on_wait: Callable[[float], None] | None = None,
) -> TokenSet:
    """Run the configured flow and store what it gives."""
    check_configuration(loaded)
    # Refuse before the person signs in, not after, when the tokens could not be stored.
    directory = paths.credentials_path(loaded.path).parent
    if directory.is_dir():
        try:
            files.check_private_dir(directory)
        except files.UnsafePermissionsError as exc:
            raise OAuth2Error(str(exc), exit_code=ExitCode.CONFIG, error="permissions") from exc
    from tui_mailsetup.oauth2 import flows

    oauth2 = loaded.settings.oauth2
    ends = endpoints(oauth2)
    secret = _client_secret(loaded)
    if oauth2.flow is OAuth2Flow.DEVICE_CODE:
        tokens = flows.device_code_login(
            oauth2,
            secret,
            ends,
            account_for(loaded),
            on_prompt,
            cancel=cancel,
            on_wait=on_wait,
            timeout=loaded.settings.smtp.timeout,
        )
    else:
        tokens = flows.obtain_unattended(
            oauth2,
            secret,
            ends,
            account_for(loaded),
            deadline=time.monotonic() + loaded.settings.smtp.timeout,
        )
    save_tokens(loaded, bind(loaded, tokens))
    return tokens
