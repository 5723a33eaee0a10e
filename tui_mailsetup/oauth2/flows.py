"""The flows, on authlib (RFC 6749 token requests, RFC 8628 device code) and google-auth
(service account with domain-wide delegation). This is the only module that imports the
``oauth2`` extra's libraries; nothing on the password path imports it.

TLS to the endpoints is verified against, first found: ``REQUESTS_CA_BUNDLE``,
``SSL_CERT_FILE``, ``CURL_CA_BUNDLE``, the system trust store (OpenSSL's default
bundle), so operators behind an inspecting proxy set what they already set.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tui_mailsetup import files
from tui_mailsetup.exitcodes import ExitCode
from tui_mailsetup.oauth2.errors import (
    LoginRequired,
    MissingLibraries,
    OAuth2Error,
    token_endpoint_error,
)
from tui_mailsetup.oauth2.providers import Endpoints
from tui_mailsetup.oauth2.store import TokenSet
from tui_mailsetup.sanitize import untrusted_text
from tui_mailsetup.settings import OAuth2Flow, OAuth2Settings

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
HTTP_TIMEOUT = 30.0
DEFAULT_INTERVAL = 5.0
SLOW_DOWN_STEP = 5.0
"""RFC 8628 §3.5: slow_down adds 5 seconds to the polling interval, for good."""


@dataclass(frozen=True)
class DevicePrompt:
    """What the person at the terminal needs: where to go and what to type there."""

    verification_uri: str
    user_code: str
    verification_uri_complete: str
    expires_at: float
    interval: float
    message: str = ""


class Cancelled(OAuth2Error):
    def __init__(self) -> None:
        super().__init__("the sign-in was cancelled", exit_code=ExitCode.NOPERM, error="cancelled")


def ca_bundle() -> str | bool:
    """The CA bundle requests should verify with (see the module docstring)."""
    for variable in ("REQUESTS_CA_BUNDLE", "SSL_CERT_FILE", "CURL_CA_BUNDLE"):
        if value := os.environ.get(variable, "").strip():
            return value
    defaults = ssl.get_default_verify_paths()
    for candidate in (defaults.cafile, defaults.openssl_cafile):
        if candidate and Path(candidate).is_file():
            return candidate
    return True


def _session(
    oauth2: OAuth2Settings, secret: str | None, scopes: list[str], *, auth_method: Any = None
) -> Any:
    try:
        from authlib.integrations.requests_client import OAuth2Session
    except ImportError as exc:
        raise MissingLibraries(exc.name or "authlib") from exc
    session = OAuth2Session(
        client_id=oauth2.client_id,
        client_secret=secret,
        scope=" ".join(scopes),
        token_endpoint_auth_method=auth_method or ("client_secret_post" if secret else "none"),
    )
    session.verify = ca_bundle()
    session.headers["User-Agent"] = "tui-mailsetup"
    return session


def _transport_error(exc: Exception, url: str) -> OAuth2Error:
    import requests

    where = untrusted_text(url, limit=200)
    if isinstance(exc, requests.exceptions.SSLError):
        return OAuth2Error(
            f"TLS to {where} failed: {untrusted_text(str(exc), limit=300)}",
            fix="behind an inspecting proxy, point REQUESTS_CA_BUNDLE or SSL_CERT_FILE at its CA",
            exit_code=ExitCode.PROTOCOL,
            error="tls",
        )
    if isinstance(exc, requests.exceptions.Timeout):
        return OAuth2Error(
            f"{where} did not answer in time", exit_code=ExitCode.TEMPFAIL, error="timeout"
        )
    if isinstance(exc, requests.exceptions.HTTPError):
        return OAuth2Error(
            f"{where} failed: {untrusted_text(str(exc), limit=300)}",
            exit_code=ExitCode.TEMPFAIL,
            error="http",
        )
    return OAuth2Error(
        f"{where} cannot be reached: {untrusted_text(str(exc), limit=300)}",
        exit_code=ExitCode.UNAVAILABLE,
        error="unavailable",
    )


def _call(url: str, request: Callable[[], Any], *, app_only: bool = False) -> Any:
    """Run one authlib request, turning every failure into an OAuth2Error."""
    import requests
    from authlib.common.errors import AuthlibBaseError

    try:
        return request()
    except AuthlibBaseError as exc:
        raise token_endpoint_error(
            str(exc.error or ""), str(exc.description or ""), app_only=app_only
        ) from exc
    except requests.exceptions.RequestException as exc:
        raise _transport_error(exc, url) from exc
    except ValueError as exc:  # a body that is not JSON
        raise OAuth2Error(
            f"{untrusted_text(url, limit=200)} did not answer with an OAuth2 JSON document",
            exit_code=ExitCode.PROTOCOL,
            error="malformed",
        ) from exc
    except Exception as exc:
        # A library failing in a way it does not document (a key it cannot sign with, …):
        # a message, never a traceback. Its text names types and values, not secrets.
        raise OAuth2Error(
            f"the request to {untrusted_text(url, limit=200)} could not be made: "
            f"{type(exc).__name__}: {untrusted_text(str(exc), limit=300)}",
            exit_code=ExitCode.CONFIG,
            error="client",
        ) from exc


def _token_set(
    token: Any, oauth2: OAuth2Settings, ends: Endpoints, account: str, previous: str = ""
) -> TokenSet:
    access = token.get("access_token")
    if not isinstance(access, str) or not access:
        raise OAuth2Error(
            "the token endpoint answered without an access token",
            exit_code=ExitCode.PROTOCOL,
            error="malformed",
        )
    expires_at = token.get("expires_at")
    if not isinstance(expires_at, int | float):
        expires_in = token.get("expires_in")
        expires_at = time.time() + float(
            expires_in if isinstance(expires_in, int | float) else 3600
        )
    granted = token.get("scope")
    scopes = granted.split() if isinstance(granted, str) and granted else list(ends.scopes)
    refresh = token.get("refresh_token")
    return TokenSet(
        flow=oauth2.flow.value,
        client_id=oauth2.client_id,
        token_url=ends.token_url,
        access_token=access,
        expires_at=float(expires_at),
        refresh_token=refresh if isinstance(refresh, str) and refresh else previous,
        scopes=scopes,
        account=account,
    )


# --------------------------------------------------------------------------- device code


def device_code_login(
    oauth2: OAuth2Settings,
    secret: str | None,
    ends: Endpoints,
    account: str,
    on_prompt: Callable[[DevicePrompt], None],
    *,
    cancel: threading.Event | None = None,
    on_wait: Callable[[float], None] | None = None,
) -> TokenSet:
    """RFC 8628: ask for a code, show it, poll the token endpoint until the person approves."""
    session = _session(oauth2, secret, ends.scopes)
    cancel = cancel or threading.Event()
    data: dict[str, str] = {"client_id": oauth2.client_id, "scope": " ".join(ends.scopes)}
    url = ends.device_authorization_url

    def authorize() -> Any:
        response = session.post(url, data=data, timeout=HTTP_TIMEOUT, withhold_token=True)
        if response.status_code >= 500:
            response.raise_for_status()
        body = response.json()
        if not isinstance(body, dict):
            raise ValueError("not a JSON object")
        if "error" in body:
            from authlib.integrations.base_client import OAuthError

            raise OAuthError(
                error=str(body.get("error")), description=str(body.get("error_description", ""))
            )
        return body

    body = _call(url, authorize)
    device_code = body.get("device_code")
    user_code = body.get("user_code")
    # Google says verification_url, the RFC verification_uri.
    uri = body.get("verification_uri") or body.get("verification_url")
    if not all(isinstance(v, str) and v for v in (device_code, user_code, uri)):
        raise OAuth2Error(
            "the device authorization endpoint answered without a code or a URL",
            exit_code=ExitCode.PROTOCOL,
            error="malformed",
        )
    interval = _number(body.get("interval"), DEFAULT_INTERVAL)
    expires_at = time.time() + _number(body.get("expires_in"), 900.0)
    prompt = DevicePrompt(
        verification_uri=untrusted_text(str(uri), limit=300),
        user_code=untrusted_text(str(user_code), limit=40),
        verification_uri_complete=untrusted_text(
            str(body.get("verification_uri_complete") or ""), limit=400
        ),
        expires_at=expires_at,
        interval=interval,
        message=untrusted_text(str(body.get("message") or ""), limit=400),
    )
    on_prompt(prompt)
    token_url = ends.token_url
    while True:
        if on_wait is not None:
            on_wait(interval)
        if cancel.wait(interval):
            raise Cancelled()
        if time.time() >= expires_at:
            raise token_endpoint_error("expired_token")
        try:
            token = _call(
                token_url,
                lambda: session.fetch_token(
                    token_url,
                    grant_type=DEVICE_GRANT,
                    device_code=device_code,
                    timeout=HTTP_TIMEOUT,
                ),
            )
        except OAuth2Error as exc:
            if exc.error == "authorization_pending":
                continue
            if exc.error == "slow_down":
                interval += SLOW_DOWN_STEP
                continue
            raise
        return _token_set(token, oauth2, ends, account)


def _number(value: object, default: float) -> float:
    return float(value) if isinstance(value, int | float) and value > 0 else default


# --------------------------------------------------------------------------- refresh, app-only


def refresh(
    oauth2: OAuth2Settings, secret: str | None, ends: Endpoints, tokens: TokenSet
) -> TokenSet:
    """A new access token from the refresh token; a rotated refresh token replaces the old."""
    if not tokens.refresh_token:
        raise LoginRequired("the stored sign-in has no refresh token")
    session = _session(oauth2, secret, ends.scopes)
    try:
        token = _call(
            ends.token_url,
            lambda: session.refresh_token(
                ends.token_url, refresh_token=tokens.refresh_token, timeout=HTTP_TIMEOUT
            ),
        )
    except OAuth2Error as exc:
        if exc.error in {"invalid_grant", "interaction_required"}:
            raise LoginRequired(exc.cause) from exc
        raise
    return _token_set(token, oauth2, ends, tokens.account, tokens.refresh_token)


def client_credentials(
    oauth2: OAuth2Settings, secret: str | None, ends: Endpoints, account: str
) -> TokenSet:
    """App-only token (Microsoft: the .default scope of Exchange Online), authenticated with
    the client secret or, with ``oauth2.certificate_file``, a signed client assertion."""
    if oauth2.certificate_file.strip():
        from authlib.oauth2.rfc7523 import PrivateKeyJWT

        key, thumbprint = _certificate(Path(oauth2.certificate_file).expanduser())
        # Microsoft finds the certificate by its SHA-1 thumbprint in the x5t header.
        method = PrivateKeyJWT(ends.token_url, headers={"x5t": thumbprint})
        session = _session(oauth2, key, ends.scopes, auth_method=method)
    elif secret:
        session = _session(oauth2, secret, ends.scopes)
    else:
        raise OAuth2Error(
            "the client-credentials flow needs the app's client secret or a certificate",
            fix="tui-mailsetup set-secret oauth2.client_secret (or set oauth2.certificate_file)",
            exit_code=ExitCode.CONFIG,
            error="no_secret",
        )
    token = _call(
        ends.token_url,
        lambda: session.fetch_token(
            ends.token_url, grant_type="client_credentials", timeout=HTTP_TIMEOUT
        ),
        app_only=True,
    )
    return _token_set(token, oauth2, ends, account)


def _certificate(path: Path) -> tuple[str, str]:
    """The private key (PEM) and the certificate's x5t thumbprint from one PEM file."""
    import base64
    import re

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization

    try:
        files.check_private(path)
        text = path.read_text(encoding="ascii")
        pems = {
            match.group(1): match.group(0)
            for match in re.finditer(r"-----BEGIN ([A-Z ]+)-----.*?-----END \1-----", text, re.S)
        }
        certificate = x509.load_pem_x509_certificate(pems["CERTIFICATE"].encode())
        key_pem = next(pem for kind, pem in pems.items() if kind.endswith("PRIVATE KEY"))
        key = serialization.load_pem_private_key(key_pem.encode(), password=None)
    except files.UnsafePermissionsError as exc:
        raise OAuth2Error(str(exc), exit_code=ExitCode.CONFIG, error="certificate") from exc
    except (OSError, UnicodeDecodeError, KeyError, StopIteration, ValueError, TypeError) as exc:
        raise OAuth2Error(
            f"oauth2.certificate_file {path} must hold the app's certificate and its unencrypted "
            "private key in PEM",
            exit_code=ExitCode.CONFIG,
            error="certificate",
        ) from exc
    from cryptography.hazmat.primitives.asymmetric import rsa

    if not isinstance(key, rsa.RSAPrivateKey):
        raise OAuth2Error(
            f"oauth2.certificate_file {path} holds a {type(key).__name__.removeprefix('_')} key; "
            "Microsoft Entra ID signs client assertions with RSA (RS256) only",
            fix="create an RSA certificate (e.g. openssl req -x509 -newkey rsa:2048 …) and upload it",
            exit_code=ExitCode.CONFIG,
            error="certificate",
        )
    digest = certificate.fingerprint(hashes.SHA1())  # the x5t header is SHA-1 by definition
    return key_pem, base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")


# --------------------------------------------------------------------------- Google service account


def service_account(oauth2: OAuth2Settings, ends: Endpoints, user: str) -> TokenSet:
    """A token for ``user`` from a service account with domain-wide delegation (google-auth)."""
    try:
        import google.auth.exceptions
        import requests
        from google.auth.transport.requests import Request
        from google.oauth2 import service_account as google_sa
    except ImportError as exc:
        raise MissingLibraries(exc.name or "google-auth") from exc
    path = Path(oauth2.service_account_file).expanduser()
    try:
        files.check_private(path)
        info = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(info, dict):
            raise ValueError("not a JSON object")
    except files.UnsafePermissionsError as exc:
        raise OAuth2Error(str(exc), exit_code=ExitCode.CONFIG, error="key_file") from exc
    except (OSError, ValueError) as exc:
        raise OAuth2Error(
            f"the service-account key {path} cannot be read as JSON",
            fix="download a JSON key for the service account (IAM → Service accounts → Keys)",
            exit_code=ExitCode.CONFIG,
            error="key_file",
        ) from exc
    if ends.token_url:
        info["token_uri"] = ends.token_url
    try:
        credentials = google_sa.Credentials.from_service_account_info(  # type: ignore[no-untyped-call]
            info, scopes=ends.scopes, subject=user
        )
    except (ValueError, KeyError) as exc:
        raise OAuth2Error(
            f"the service-account key {path} is not a valid key ({type(exc).__name__})",
            exit_code=ExitCode.CONFIG,
            error="key_file",
        ) from exc
    http = requests.Session()
    http.verify = ca_bundle()
    try:
        credentials.refresh(Request(session=http))
    except google.auth.exceptions.RefreshError as exc:
        details = exc.args[1] if len(exc.args) > 1 and isinstance(exc.args[1], dict) else {}
        failure = token_endpoint_error(
            str(details.get("error") or "invalid_grant"),
            str(details.get("error_description") or (exc.args[0] if exc.args else "")),
        )
        if isinstance(failure, LoginRequired):
            # No person can sign in for a service account: its key or its delegation is wrong.
            failure = OAuth2Error(
                failure.cause,
                fix="check the service-account key (deleted or disabled keys are refused, and the "
                "clock must be right) and that oauth2.user is a mailbox of the Workspace domain",
                exit_code=ExitCode.NOPERM,
                error="invalid_grant",
            )
        elif (
            failure.error == "unauthorized_client" or details.get("error") == "unauthorized_client"
        ):
            failure = OAuth2Error(
                failure.cause,
                fix="in the Admin console (Security → API controls → Domain-wide delegation) "
                f"authorise the service account's client ID for {' '.join(ends.scopes)}",
                exit_code=ExitCode.NOPERM,
                error="unauthorized_client",
            )
        raise failure from exc
    except google.auth.exceptions.TransportError as exc:
        cause = exc.__cause__ or exc.__context__
        if isinstance(cause, requests.exceptions.RequestException):
            raise _transport_error(cause, ends.token_url) from exc
        raise OAuth2Error(
            f"{untrusted_text(ends.token_url, limit=200)} cannot be reached",
            exit_code=ExitCode.UNAVAILABLE,
        ) from exc
    expiry = credentials.expiry
    expires_at = (
        expiry.replace(tzinfo=dt.UTC).timestamp() if expiry is not None else time.time() + 3600
    )
    token = {"access_token": credentials.token, "expires_at": expires_at}
    account = f"{user} (as service account {info.get('client_email', '?')})"
    return _token_set(token, oauth2, ends, untrusted_text(account, limit=200))


def obtain_unattended(
    oauth2: OAuth2Settings, secret: str | None, ends: Endpoints, account: str
) -> TokenSet:
    """A fresh token for the flows that need no person: client credentials, service account."""
    if oauth2.flow is OAuth2Flow.SERVICE_ACCOUNT:
        return service_account(oauth2, ends, account)
    return client_credentials(oauth2, secret, ends, account)
