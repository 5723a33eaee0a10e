"""The one way this program talks to a token or device-authorization endpoint.

A token endpoint is the network like any other, and it is handed secrets (the
client secret, a refresh token, a device code, a signed assertion), so every
exchange is held to these rules:

- ``https`` only; plain ``http`` only to the loopback interface and only when
  ``oauth2.allow_plaintext_loopback`` says so (:func:`.providers.url_problem`, which
  validation uses too);
- a redirect is never followed: it is a protocol fault naming where it pointed,
  and nothing is sent there;
- one deadline for the whole exchange (name, connection, TLS, headers, body),
  however slowly the server drips its answer;
- at most :data:`MAX_RESPONSE` bytes are read, as they arrive (no compressed
  bodies: a small gzip can expand to gigabytes);
- every secret sent is masked (:class:`Masker`) in whatever the server's answer
  makes us print, including when it quotes the request back.

httpx (a runtime dependency) is imported only when a request is made.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import ssl
import time
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tui_mailsetup.exitcodes import ExitCode
from tui_mailsetup.names import is_loopback
from tui_mailsetup.oauth2.errors import OAuth2Error, token_endpoint_error
from tui_mailsetup.oauth2.providers import url_problem
from tui_mailsetup.sanitize import MASK as MASK
from tui_mailsetup.sanitize import Masker as Masker
from tui_mailsetup.sanitize import untrusted_text

MAX_RESPONSE = 64 * 1024
"""Bytes read from a token endpoint at most: a token response is a few kilobytes."""
EXCHANGE_DEADLINE = 30.0
"""Seconds for one exchange when no caller's deadline is tighter (``oauth2 token``, login)."""

NONSENSE = "the token endpoint answered nonsense"


def deadline_in(seconds: float = EXCHANGE_DEADLINE) -> float:
    """A deadline (``time.monotonic()`` based) ``seconds`` from now."""
    return time.monotonic() + seconds


# --------------------------------------------------------------------------- masking


def masked_error(masker: Masker, failure: OAuth2Error) -> OAuth2Error:
    """The same failure with every secret masked in what it says."""
    failure.cause = masker(failure.cause)
    failure.fix = masker(failure.fix)
    failure.args = (masker(str(failure.args[0])) if failure.args else "",)
    return failure


# --------------------------------------------------------------------------- numbers


def bounded(value: object, *, low: float, high: float, default: float | None = None) -> float:
    """A number from an endpoint, within [low, high]; absent → ``default``; else 76."""
    if value is None and default is not None:
        return default
    number: float | None = None
    if isinstance(value, int | float) and not isinstance(value, bool):
        number = float(value)
    elif isinstance(value, str) and value.strip().isdigit() and len(value) < 12:
        number = float(value)  # some endpoints send "3600"
    if number is None or not math.isfinite(number) or not low <= number <= high:
        shown = untrusted_text(repr(value), limit=40)
        raise OAuth2Error(
            f"{NONSENSE} (a number out of range: {shown})",
            fix="report it to whoever runs the token endpoint; check oauth2.token_url",
            exit_code=ExitCode.PROTOCOL,
            error="nonsense",
        )
    return number


def token_text(value: object, what: str) -> str:
    """A token from an endpoint: visible ASCII only (RFC 6750 b64token and the like)."""
    if (
        not isinstance(value, str)
        or not value
        or not all("\x21" <= char <= "\x7e" for char in value)
    ):
        raise OAuth2Error(
            f"{NONSENSE} (the {what} is missing or not a token)",
            fix="check oauth2.token_url: it must be the provider's OAuth2 token endpoint",
            exit_code=ExitCode.PROTOCOL,
            error="nonsense",
        )
    return value


# --------------------------------------------------------------------------- TLS, proxies


def ca_bundle() -> str | None:
    """The CA bundle to verify with, first found: ``REQUESTS_CA_BUNDLE``, ``SSL_CERT_FILE``,
    ``CURL_CA_BUNDLE`` (what operators behind an inspecting proxy already set), else None
    (the system trust store)."""
    for variable in ("REQUESTS_CA_BUNDLE", "SSL_CERT_FILE", "CURL_CA_BUNDLE"):
        if value := os.environ.get(variable, "").strip():
            return value
    return None


def tls_context() -> ssl.SSLContext:
    bundle = ca_bundle()
    if bundle is None:
        return ssl.create_default_context()
    if Path(bundle).is_dir():
        return ssl.create_default_context(capath=bundle)
    return ssl.create_default_context(cafile=bundle)


def _proxy_for(url: str, host: str) -> str | None:
    """The environment's proxy for ``url`` (HTTPS_PROXY, NO_PROXY…); never for loopback,
    which a proxy elsewhere could not reach (and would see the secrets of)."""
    import urllib.request

    if is_loopback(host) or urllib.request.proxy_bypass(host):
        return None
    proxies = urllib.request.getproxies()
    scheme = urllib.parse.urlsplit(url).scheme
    return proxies.get(scheme) or proxies.get("all") or None


# --------------------------------------------------------------------------- the exchange


@dataclass(frozen=True)
class Answer:
    status: int
    body: dict[str, Any]


def post_form(
    url: str,
    form: Mapping[str, str],
    *,
    deadline: float,
    masker: Masker,
    allow_plaintext_loopback: bool = False,
    headers: Mapping[str, str] | None = None,
) -> Answer:
    """POST ``form`` to ``url`` under the rules of the module docstring.

    Returns the status and the JSON object answered (2xx and 4xx); raises
    OAuth2Error: 78 for a refused URL, 69 unreachable, 75 timeout or a 5xx
    without an OAuth2 error, 76 for TLS, a redirect, a body too large or not an
    object. Secrets in the error texts are masked.
    """
    if (problem := url_problem(url, allow_plaintext_loopback=allow_plaintext_loopback)) is not None:
        raise OAuth2Error(
            f"{untrusted_text(url, limit=200)} {problem}",
            fix="set oauth2.token_url / oauth2.device_authorization_url to the provider's https URL",
            exit_code=ExitCode.CONFIG,
            error="url",
        )
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise _timeout(url, 0)
    try:
        context = tls_context() if url.lower().startswith("https:") else None
    except (OSError, ssl.SSLError) as exc:
        raise OAuth2Error(
            f"the CA bundle {untrusted_text(ca_bundle() or 'of the system', limit=200)} "
            f"cannot be loaded: {untrusted_text(str(exc), limit=200)}",
            fix="point REQUESTS_CA_BUNDLE or SSL_CERT_FILE at a readable PEM file, or unset them",
            exit_code=ExitCode.CONFIG,
            error="ca_bundle",
        ) from None
    try:
        return _run(_post(url, dict(form), dict(headers or {}), context, remaining, masker))
    except OAuth2Error as exc:
        raise masked_error(masker, exc) from None


def _run(coroutine: Any) -> Answer:
    """Run the exchange on its own event loop (the flows are called from threads)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        result: Answer = asyncio.run(coroutine)
        return result
    import concurrent.futures

    # Called on a thread that runs a loop: the exchange gets a thread of its own.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        answer: Answer = pool.submit(asyncio.run, coroutine).result()
        return answer


def _where(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    return untrusted_text(f"{parts.scheme}://{parts.netloc}{parts.path}", limit=200)


def _timeout(url: str, seconds: float) -> OAuth2Error:
    return OAuth2Error(
        f"the token endpoint {_where(url)} did not answer within {seconds:.0f} s",
        fix="try again; if it keeps happening, check the network path (firewall, "
        "HTTPS_PROXY) to the token endpoint and oauth2.token_url",
        exit_code=ExitCode.TEMPFAIL,
        error="timeout",
    )


async def _post(
    url: str,
    form: dict[str, str],
    headers: dict[str, str],
    context: ssl.SSLContext | None,
    seconds: float,
    masker: Masker,
) -> Answer:
    import httpx

    host = urllib.parse.urlsplit(url).hostname or ""
    sent_headers = {
        "Accept": "application/json",
        # Compressed answers are refused: their size could not be limited as they arrive.
        "Accept-Encoding": "identity",
        "User-Agent": "tui-mailsetup",
        **headers,
    }
    try:
        async with asyncio.timeout(seconds):
            async with (
                httpx.AsyncClient(
                    verify=context if context is not None else True,
                    trust_env=False,
                    proxy=_proxy_for(url, host),
                    follow_redirects=False,
                    timeout=seconds,
                ) as client,
                client.stream("POST", url, data=form, headers=sent_headers) as response,
            ):
                return await _read(url, response, masker)
    except TimeoutError:
        raise _timeout(url, seconds) from None
    except httpx.TimeoutException:
        raise _timeout(url, seconds) from None
    except httpx.HTTPError as exc:
        raise _transport_error(url, exc, masker) from None
    except OAuth2Error:
        raise
    except (httpx.InvalidURL, ValueError, UnicodeError) as exc:
        # A URL httpx cannot use (a host name it cannot encode), a malformed proxy variable.
        raise OAuth2Error(
            f"{_where(url)} cannot be used: {untrusted_text(masker(str(exc)), limit=200)}",
            fix="check oauth2.token_url and the HTTPS_PROXY/NO_PROXY variables",
            exit_code=ExitCode.CONFIG,
            error="url",
        ) from None


async def _read(url: str, response: Any, masker: Masker) -> Answer:
    status = int(response.status_code)
    if 300 <= status < 400:
        location = response.headers.get("location", "")
        target = urllib.parse.urlsplit(urllib.parse.urljoin(url, location))
        raise OAuth2Error(
            f"the token endpoint {_where(url)} answered with a redirect ({status}) to "
            f"{untrusted_text(target.hostname or location or '(no Location)', limit=120)}: "
            "a request carrying credentials is never sent on to another address",
            fix="set oauth2.token_url (and oauth2.device_authorization_url) to the endpoint's "
            "real https URL, as the provider documents it",
            exit_code=ExitCode.PROTOCOL,
            error="redirect",
        )
    encoding = response.headers.get("content-encoding", "identity").strip().lower()
    if encoding not in {"", "identity"}:
        raise _nonsense(url, f"a {untrusted_text(encoding, limit=40)}-compressed body")
    declared = response.headers.get("content-length", "")
    if declared.strip().isdigit() and int(declared) > MAX_RESPONSE:
        raise _too_large(url)
    body = bytearray()
    async for chunk in response.aiter_raw():
        body.extend(chunk)
        if len(body) > MAX_RESPONSE:
            raise _too_large(url)
    try:
        document = json.loads(bytes(body))
    except (ValueError, RecursionError):
        document = None
    if not isinstance(document, dict):
        if status >= 500:
            raise OAuth2Error(
                f"the token endpoint {_where(url)} failed (HTTP {status})",
                fix="try again later",
                exit_code=ExitCode.TEMPFAIL,
                error="http",
            )
        raise _nonsense(url, f"HTTP {status} without an OAuth2 JSON object")
    return Answer(status, document)


def _nonsense(url: str, what: str) -> OAuth2Error:
    return OAuth2Error(
        f"{NONSENSE}: {_where(url)} sent {what}",
        fix="check oauth2.token_url: it must be the provider's OAuth2 token endpoint",
        exit_code=ExitCode.PROTOCOL,
        error="nonsense",
    )


def _too_large(url: str) -> OAuth2Error:
    return OAuth2Error(
        f"{NONSENSE}: {_where(url)} sent more than {MAX_RESPONSE // 1024} KiB "
        "(a token response is a few kilobytes); the rest was not read",
        fix="check oauth2.token_url: it must be the provider's OAuth2 token endpoint",
        exit_code=ExitCode.PROTOCOL,
        error="too_large",
    )


def _transport_error(url: str, exc: Exception, masker: Masker) -> OAuth2Error:
    import httpx

    detail = untrusted_text(masker(str(exc) or type(exc).__name__), limit=300)
    cause: BaseException | None = exc
    while cause is not None and not isinstance(cause, ssl.SSLError):
        cause = cause.__cause__ or cause.__context__
    if cause is not None or "CERTIFICATE_VERIFY_FAILED" in str(exc):
        return OAuth2Error(
            f"TLS to {_where(url)} failed: {detail}",
            fix="behind an inspecting proxy, point REQUESTS_CA_BUNDLE or SSL_CERT_FILE at its CA",
            exit_code=ExitCode.PROTOCOL,
            error="tls",
        )
    if isinstance(exc, httpx.RemoteProtocolError | httpx.DecodingError):
        return _nonsense(url, f"something that is not HTTP ({detail})")
    return OAuth2Error(
        f"the token endpoint {_where(url)} cannot be reached: {detail}",
        fix="check the network path (DNS, firewall, HTTPS_PROXY) and oauth2.token_url",
        exit_code=ExitCode.UNAVAILABLE,
        error="unavailable",
    )


def error_answer(
    answer: Answer, masker: Masker, *, app_only: bool = False, provider: str = ""
) -> OAuth2Error:
    """The OAuth2Error for an answer that is not a token: its RFC 6749 §5.2 error, masked."""
    error = answer.body.get("error")
    description = answer.body.get("error_description")
    if not isinstance(error, str) or not error:
        return OAuth2Error(
            f"{NONSENSE} (HTTP {answer.status} without an access token or an error code)",
            fix="check oauth2.token_url: it must be the provider's OAuth2 token endpoint",
            exit_code=ExitCode.TEMPFAIL if answer.status >= 500 else ExitCode.PROTOCOL,
            error="nonsense",
        )
    return masked_error(
        masker,
        token_endpoint_error(
            masker(error),
            masker(description) if isinstance(description, str) else "",
            app_only=app_only,
            provider=provider,
        ),
    )
