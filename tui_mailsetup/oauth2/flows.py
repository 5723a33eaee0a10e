"""The flows: RFC 6749 token requests (refresh, client credentials), RFC 8628 device
code, RFC 7523 assertions (a Microsoft app's certificate, a Google service account with
domain-wide delegation). Every request goes through :mod:`.transport`, which holds
the token endpoint to the rules for an untrusted network (https, no redirects, one
deadline, a size limit, secrets masked); the numbers and tokens it answers are
checked here before anything is stored.

TLS to the endpoints is verified against, first found: ``REQUESTS_CA_BUNDLE``,
``SSL_CERT_FILE``, ``CURL_CA_BUNDLE``, the system trust store, so operators
behind an inspecting proxy set what they already set.
"""

from __future__ import annotations

import base64
import json
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tui_mailsetup import files
from tui_mailsetup.exitcodes import ExitCode
from tui_mailsetup.oauth2.errors import LoginRequired, OAuth2Error, token_endpoint_error
from tui_mailsetup.oauth2.providers import Endpoints
from tui_mailsetup.oauth2.store import TokenSet
from tui_mailsetup.oauth2.transport import (
    EXCHANGE_DEADLINE,
    Masker,
    bounded,
    deadline_in,
    error_answer,
    post_form,
    token_text,
)
from tui_mailsetup.oauth2.transport import ca_bundle as ca_bundle
from tui_mailsetup.sanitize import untrusted_text
from tui_mailsetup.settings import OAuth2Flow, OAuth2Settings

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
DEFAULT_INTERVAL = 5.0
MIN_INTERVAL = 5.0
"""RFC 8628 §3.2: the polling interval is never below 5 s unless the server asks for more."""
MAX_INTERVAL = 300.0
SLOW_DOWN_STEP = 5.0
"""RFC 8628 §3.5: slow_down adds 5 seconds to the polling interval, for good."""
MAX_TOKEN_LIFETIME = 366 * 86400.0
"""An access token said to live longer than this is nonsense (they live minutes to hours)."""
MAX_DEVICE_LIFETIME = 86400.0


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


# --------------------------------------------------------------------------- requests


def _token_request(
    oauth2: OAuth2Settings,
    url: str,
    form: dict[str, str],
    masker: Masker,
    deadline: float,
    *,
    app_only: bool = False,
) -> dict[str, Any]:
    """One request; the JSON object of a 2xx answer without an error, else its OAuth2Error."""
    answer = post_form(
        url,
        form,
        deadline=deadline,
        masker=masker,
        allow_plaintext_loopback=oauth2.allow_plaintext_loopback,
    )
    if 200 <= answer.status < 300 and "error" not in answer.body:
        return answer.body
    raise error_answer(answer, masker, app_only=app_only, provider=oauth2.provider.value)


def _client_form(oauth2: OAuth2Settings, secret: str | None, masker: Masker) -> dict[str, str]:
    """client_id, and the client secret in the body (client_secret_post) when there is one."""
    form = {"client_id": oauth2.client_id}
    if secret:
        masker.add(secret)
        form["client_secret"] = secret
    return form


def _token_set(
    body: dict[str, Any],
    oauth2: OAuth2Settings,
    ends: Endpoints,
    account: str,
    previous: str = "",
    *,
    lifetime: float | None = None,
) -> TokenSet:
    access = token_text(body.get("access_token"), "access token")
    expires_in = (
        lifetime
        if lifetime is not None
        else bounded(body.get("expires_in"), low=1, high=MAX_TOKEN_LIFETIME, default=3600.0)
    )
    granted = body.get("scope")
    scopes = (
        [untrusted_text(s, limit=200) for s in granted.split()][:50]
        if isinstance(granted, str) and granted
        else list(ends.scopes)
    )
    refresh = body.get("refresh_token")
    return TokenSet(
        flow=oauth2.flow.value,
        client_id=oauth2.client_id,
        token_url=ends.token_url,
        access_token=access,
        expires_at=time.time() + expires_in,
        refresh_token=token_text(refresh, "refresh token") if refresh else previous,
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
    timeout: float = EXCHANGE_DEADLINE,
) -> TokenSet:
    """RFC 8628: ask for a code, show it, poll the token endpoint until the person approves.
    Each request has ``timeout`` seconds; the wait is bounded by the code's lifetime."""
    cancel = cancel or threading.Event()
    masker = Masker([secret])
    body = _token_request(
        oauth2,
        ends.device_authorization_url,
        {"client_id": oauth2.client_id, "scope": " ".join(ends.scopes)},
        masker,
        deadline_in(timeout),
    )
    device_code = token_text(body.get("device_code"), "device code")
    masker.add(device_code)
    user_code = body.get("user_code")
    # Google says verification_url, the RFC verification_uri.
    uri = body.get("verification_uri") or body.get("verification_url")
    if not all(isinstance(v, str) and v for v in (user_code, uri)):
        raise OAuth2Error(
            "the device authorization endpoint answered without a code or a URL",
            exit_code=ExitCode.PROTOCOL,
            error="malformed",
        )
    interval = max(
        MIN_INTERVAL,
        bounded(body.get("interval"), low=0, high=MAX_INTERVAL, default=DEFAULT_INTERVAL),
    )
    lifetime = bounded(body.get("expires_in"), low=1, high=MAX_DEVICE_LIFETIME, default=900.0)
    expires_at = time.time() + lifetime

    def shown(value: object, limit: int) -> str:
        return untrusted_text(masker(str(value or "")), limit=limit)

    prompt = DevicePrompt(
        verification_uri=shown(uri, 300),
        user_code=shown(user_code, 40),
        verification_uri_complete=shown(body.get("verification_uri_complete"), 400),
        expires_at=expires_at,
        interval=interval,
        message=shown(body.get("message"), 400),
    )
    on_prompt(prompt)
    form = {"grant_type": DEVICE_GRANT, "device_code": device_code}
    form.update(_client_form(oauth2, secret, masker))
    while True:
        if on_wait is not None:
            on_wait(interval)
        if cancel.wait(interval):
            raise Cancelled()
        if time.time() >= expires_at:
            raise token_endpoint_error("expired_token")
        answer = post_form(
            ends.token_url,
            form,
            deadline=deadline_in(timeout),
            masker=masker,
            allow_plaintext_loopback=oauth2.allow_plaintext_loopback,
        )
        error = answer.body.get("error")
        if error == "authorization_pending":
            continue
        if error == "slow_down":
            interval = min(interval + SLOW_DOWN_STEP, MAX_INTERVAL)
            continue
        if 200 <= answer.status < 300 and error is None:
            return _token_set(answer.body, oauth2, ends, account)
        raise error_answer(answer, masker, provider=oauth2.provider.value)


# --------------------------------------------------------------------------- refresh, app-only


def refresh(
    oauth2: OAuth2Settings,
    secret: str | None,
    ends: Endpoints,
    tokens: TokenSet,
    *,
    deadline: float | None = None,
) -> TokenSet:
    """A new access token from the refresh token; a rotated refresh token replaces the old."""
    if not tokens.refresh_token:
        raise LoginRequired("the stored sign-in has no refresh token")
    masker = Masker([tokens.refresh_token, tokens.access_token])
    form = {"grant_type": "refresh_token", "refresh_token": tokens.refresh_token}
    form.update(_client_form(oauth2, secret, masker))
    try:
        body = _token_request(oauth2, ends.token_url, form, masker, deadline or deadline_in())
    except OAuth2Error as exc:
        if exc.error in {"invalid_grant", "interaction_required"} and not isinstance(
            exc, LoginRequired
        ):
            raise LoginRequired(exc.cause) from exc
        raise
    return _token_set(body, oauth2, ends, tokens.account, tokens.refresh_token)


def client_credentials(
    oauth2: OAuth2Settings,
    secret: str | None,
    ends: Endpoints,
    account: str,
    *,
    deadline: float | None = None,
) -> TokenSet:
    """App-only token (Microsoft: the .default scope of Exchange Online), authenticated with
    the client secret or, with ``oauth2.certificate_file``, a signed client assertion."""
    masker = Masker([secret])
    form = {"grant_type": "client_credentials", "scope": " ".join(ends.scopes)}
    if oauth2.certificate_file.strip():
        key, thumbprint = _certificate(Path(oauth2.certificate_file).expanduser())
        now = int(time.time())
        # Microsoft finds the certificate by its SHA-1 thumbprint in the x5t header.
        assertion = _rs256(
            {"alg": "RS256", "typ": "JWT", "x5t": thumbprint},
            {
                "aud": ends.token_url,
                "iss": oauth2.client_id,
                "sub": oauth2.client_id,
                "jti": str(uuid.uuid4()),
                "iat": now,
                "nbf": now,
                "exp": now + 600,
            },
            key,
        )
        masker.add(assertion)
        masker.add(assertion.rsplit(".", 1)[-1])
        form.update(
            client_id=oauth2.client_id,
            client_assertion_type=ASSERTION_TYPE,
            client_assertion=assertion,
        )
    elif secret:
        form.update(_client_form(oauth2, secret, masker))
    else:
        raise OAuth2Error(
            "the client-credentials flow needs the app's client secret or a certificate",
            fix="tui-mailsetup set-secret oauth2.client_secret (or set oauth2.certificate_file)",
            exit_code=ExitCode.CONFIG,
            error="no_secret",
        )
    body = _token_request(
        oauth2, ends.token_url, form, masker, deadline or deadline_in(), app_only=True
    )
    return _token_set(body, oauth2, ends, account)


def _rs256(header: dict[str, Any], claims: dict[str, Any], key: Any) -> str:
    """A JWT signed with RS256 (RFC 7515/7519), as RFC 7523 assertions are."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")

    signing_input = ".".join(
        b64(json.dumps(part, separators=(",", ":")).encode()) for part in (header, claims)
    )
    signature = key.sign(signing_input.encode("ascii"), padding.PKCS1v15(), hashes.SHA256())
    return f"{signing_input}.{b64(signature)}"


def _rsa_key(pem: bytes, what: str) -> Any:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise OAuth2Error(
            f"{what} holds a {type(key).__name__.removeprefix('_')} key; "
            "Microsoft Entra ID signs client assertions with RSA (RS256) only",
            fix="create an RSA certificate (e.g. openssl req -x509 -newkey rsa:2048 …) and upload it",
            exit_code=ExitCode.CONFIG,
            error="certificate",
        )
    return key


def _certificate(path: Path) -> tuple[Any, str]:
    """The private key and the certificate's x5t thumbprint from one PEM file."""
    import re

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes

    what = f"oauth2.certificate_file {path}"
    try:
        files.check_private(path)
        text = path.read_text(encoding="ascii")
        pems = {
            match.group(1): match.group(0)
            for match in re.finditer(r"-----BEGIN ([A-Z ]+)-----.*?-----END \1-----", text, re.S)
        }
        certificate = x509.load_pem_x509_certificate(pems["CERTIFICATE"].encode())
        key_pem = next(pem for kind, pem in pems.items() if kind.endswith("PRIVATE KEY"))
        key = _rsa_key(key_pem.encode(), what)
    except files.UnsafePermissionsError as exc:
        raise OAuth2Error(str(exc), exit_code=ExitCode.CONFIG, error="certificate") from exc
    except (OSError, UnicodeDecodeError, KeyError, StopIteration, ValueError, TypeError) as exc:
        raise OAuth2Error(
            f"{what} must hold the app's certificate and its unencrypted private key in PEM",
            exit_code=ExitCode.CONFIG,
            error="certificate",
        ) from exc
    digest = certificate.fingerprint(hashes.SHA1())  # the x5t header is SHA-1 by definition
    return key, base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")


# --------------------------------------------------------------------------- Google service account


def service_account(
    oauth2: OAuth2Settings, ends: Endpoints, user: str, *, deadline: float | None = None
) -> TokenSet:
    """A token for ``user`` from a service account with domain-wide delegation: an RS256
    assertion signed with the key file's private key, exchanged at the token endpoint."""
    path = Path(oauth2.service_account_file).expanduser()
    try:
        files.check_private(path)
        info = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(info, dict):
            raise ValueError("not a JSON object")
    except files.UnsafePermissionsError as exc:
        raise OAuth2Error(str(exc), exit_code=ExitCode.CONFIG, error="key_file") from exc
    except (OSError, ValueError, RecursionError) as exc:
        raise OAuth2Error(
            f"the service-account key {path} cannot be read as JSON",
            fix="download a JSON key for the service account (IAM → Service accounts → Keys)",
            exit_code=ExitCode.CONFIG,
            error="key_file",
        ) from exc
    email = info.get("client_email")
    try:
        if not isinstance(email, str) or not email:
            raise KeyError("client_email")
        key = _rsa_key(str(info["private_key"]).encode(), f"the service-account key {path}")
    except OAuth2Error:
        raise
    except (KeyError, ValueError, TypeError) as exc:
        raise OAuth2Error(
            f"the service-account key {path} is not a valid key ({type(exc).__name__})",
            exit_code=ExitCode.CONFIG,
            error="key_file",
        ) from exc
    now = int(time.time())
    header = {"alg": "RS256", "typ": "JWT"}
    if isinstance(info.get("private_key_id"), str):
        header["kid"] = info["private_key_id"]
    assertion = _rs256(
        header,
        {
            "iss": email,
            "sub": user,
            "scope": " ".join(ends.scopes),
            "aud": ends.token_url,
            "iat": now,
            "exp": now + 3600,
        },
        key,
    )
    masker = Masker([assertion, assertion.rsplit(".", 1)[-1]])
    form = {"grant_type": JWT_GRANT, "assertion": assertion}
    try:
        body = _token_request(oauth2, ends.token_url, form, masker, deadline or deadline_in())
    except OAuth2Error as failure:
        if isinstance(failure, LoginRequired) or failure.error == "invalid_grant":
            # No person can sign in for a service account: its key or its delegation is wrong.
            raise OAuth2Error(
                failure.cause,
                fix="check the service-account key (deleted or disabled keys are refused, and the "
                "clock must be right) and that oauth2.user is a mailbox of the Workspace domain",
                exit_code=ExitCode.NOPERM,
                error="invalid_grant",
            ) from failure
        if failure.error == "unauthorized_client":
            raise OAuth2Error(
                failure.cause,
                fix="in the Admin console (Security → API controls → Domain-wide delegation) "
                f"authorise the service account's client ID for {' '.join(ends.scopes)}",
                exit_code=ExitCode.NOPERM,
                error="unauthorized_client",
            ) from failure
        raise
    account = untrusted_text(f"{user} (as service account {email})", limit=200)
    return _token_set(body, oauth2, ends, account)


def obtain_unattended(
    oauth2: OAuth2Settings,
    secret: str | None,
    ends: Endpoints,
    account: str,
    *,
    deadline: float | None = None,
) -> TokenSet:
    """A fresh token for the flows that need no person: client credentials, service account."""
    if oauth2.flow is OAuth2Flow.SERVICE_ACCOUNT:
        return service_account(oauth2, ends, account, deadline=deadline)
    return client_credentials(oauth2, secret, ends, account, deadline=deadline)
