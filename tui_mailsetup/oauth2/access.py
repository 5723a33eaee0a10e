"""Getting a valid access token: from the store when it is fresh, refreshed when it is near
expiry (saving a rotated refresh token), fetched anew for the unattended flows; and login."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from tui_mailsetup import files, paths
from tui_mailsetup.config_file import LoadedConfig, ValueSource
from tui_mailsetup.exitcodes import ExitCode
from tui_mailsetup.oauth2.errors import LoginRequired, OAuth2Error
from tui_mailsetup.oauth2.providers import configuration_problems, endpoints
from tui_mailsetup.oauth2.store import (
    REFRESH_MARGIN,
    TokenSet,
    load_tokens,
    refresh_lock,
    save_tokens,
)
from tui_mailsetup.secrets import resolve_secret
from tui_mailsetup.settings import OAuth2Flow

if TYPE_CHECKING:
    from tui_mailsetup.oauth2.flows import DevicePrompt

CLIENT_SECRET_KEY = "oauth2.client_secret"


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


def stale_reason(loaded: LoadedConfig, tokens: TokenSet) -> str | None:
    """Why a stored sign-in does not belong to the current configuration, or None."""
    oauth2 = loaded.settings.oauth2
    ends = endpoints(oauth2)
    if tokens.flow != oauth2.flow.value:
        return f"the stored sign-in was made with the {tokens.flow} flow, now {oauth2.flow.value}"
    if tokens.client_id != oauth2.client_id:
        return "the stored sign-in was made for another oauth2.client_id"
    if tokens.token_url != ends.token_url:
        return "the stored sign-in was made with another token endpoint"
    return None


def _client_secret(loaded: LoadedConfig) -> str | None:
    return resolve_secret(loaded, CLIENT_SECRET_KEY).value


def access_token(loaded: LoadedConfig, *, margin: float = REFRESH_MARGIN) -> str:
    """A valid access token. Raises LoginRequired (a person must sign in) or OAuth2Error."""
    check_configuration(loaded)
    tokens, source = _usable_tokens(loaded)
    if tokens is not None and tokens.valid_for(margin):
        return tokens.access_token
    with refresh_lock(loaded):
        # Another process may have refreshed while this one waited for the lock.
        tokens, source = _usable_tokens(loaded)
        if tokens is not None and tokens.valid_for(margin):
            return tokens.access_token
        return _renew(loaded, tokens, source)


def _usable_tokens(loaded: LoadedConfig) -> tuple[TokenSet | None, str | None]:
    """The stored tokens when they belong to this configuration (an unattended flow just
    fetches new ones; a person's sign-in for another app must be made again)."""
    tokens, source = load_tokens(loaded)
    if tokens is not None and (reason := stale_reason(loaded, tokens)) is not None:
        if loaded.settings.oauth2.flow is OAuth2Flow.DEVICE_CODE:
            raise LoginRequired(reason)
        tokens = None
    return tokens, source


def _renew(loaded: LoadedConfig, tokens: TokenSet | None, source: str | None) -> str:
    from tui_mailsetup.oauth2 import flows  # the libraries, only now

    oauth2 = loaded.settings.oauth2
    ends = endpoints(oauth2)
    if oauth2.flow is OAuth2Flow.DEVICE_CODE:
        if tokens is None:
            raise LoginRequired("no OAuth2 sign-in is stored for this configuration")
        fresh = flows.refresh(oauth2, _client_secret(loaded), ends, tokens)
    else:
        fresh = flows.obtain_unattended(oauth2, _client_secret(loaded), ends, account_for(loaded))
    if source in (None, ValueSource.CREDENTIALS_FILE):
        save_tokens(loaded, fresh)
    return fresh.access_token


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
            oauth2, secret, ends, account_for(loaded), on_prompt, cancel=cancel, on_wait=on_wait
        )
    else:
        tokens = flows.obtain_unattended(oauth2, secret, ends, account_for(loaded))
    save_tokens(loaded, tokens)
    return tokens
