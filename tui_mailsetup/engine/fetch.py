"""HTTPS GETs with the name resolved by the configured resolver (``dns.nameservers``).

The one home of fetching a document over HTTPS: detection's autoconfig and
ISPDB files and the MTA-STS policy. The name is resolved through
:class:`~tui_mailsetup.engine.dns_client.DnsClient` (or a caller's cache of
it), then the address found is connected to while TLS still verifies the
certificate against the name (SNI and host name checking use the name, not
the address). Verification is never off.

``httpx`` is imported only when something is fetched.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urljoin, urlsplit

from tui_mailsetup.engine.dns_client import LookupFailed
from tui_mailsetup.sanitize import untrusted_text

if TYPE_CHECKING:
    import httpx

MAX_BODY = 1_000_000
"""Bytes read from an HTTP response at most (an autoconfig file is a few kilobytes)."""
MAX_REDIRECTS = 3


@dataclass(frozen=True)
class Fetched:
    url: str
    """The URL finally answered (after redirects)."""
    status: int
    body: bytes
    content_type: str = ""
    """The media type, lower case, without parameters ("text/plain")."""
    is_redirect: bool = False
    """A redirect that was not followed (``follow_redirects=False``)."""


class FetchFailed(Exception):
    """The document could not be fetched: no address, no connection, TLS refused, a timeout."""

    def __init__(
        self,
        message: str,
        *,
        dns_failed: bool = False,
        unresolved: bool = False,
        certificate: bool = False,
        timed_out: bool = False,
    ) -> None:
        super().__init__(message)
        self.dns_failed = dns_failed
        """The name server did not answer (as opposed to the name not existing)."""
        self.unresolved = unresolved
        """The name has no address."""
        self.certificate = certificate
        """The server's certificate was refused (untrusted, or not for the name)."""
        self.timed_out = timed_out
        """No address answered in time."""


def verified_context(ca_file: str = "") -> ssl.SSLContext:
    """System trust store (plus ``ca_file``), host names checked: verification is never off.

    Loading the trust store takes tens of milliseconds: build it once, in a
    thread (``asyncio.to_thread``), and share it.
    """
    from tui_mailsetup.engine import tls
    from tui_mailsetup.settings import SmtpSettings

    return tls.build_context(SmtpSettings(ca_file=ca_file))


def load_httpx() -> None:
    """Import httpx (a few hundred milliseconds): call it in a thread, off the event loop."""
    import httpx  # noqa: F401


async def https_get(
    url: str,
    *,
    resolve: Callable[[str], Awaitable[list[str]]],
    context: ssl.SSLContext,
    limit: float,
    headers: dict[str, str] | None = None,
    follow_redirects: bool = True,
    max_body: int = MAX_BODY,
    truncate: bool = False,
    connect_to: str = "",
) -> Fetched:
    """GET an https:// URL (redirects followed to https only, unless ``follow_redirects``
    is off), its name resolved by ``resolve`` (:meth:`DnsClient.addresses` or a cache of it).

    A body over ``max_body`` bytes fails, or is cut there with ``truncate``.
    ``connect_to`` (``https://127.0.0.1:8443``, for tests) replaces the address
    connected to; Host, SNI and the certificate check still use the URL's name.
    Raises FetchFailed, or TimeoutError after ``limit`` seconds.
    """
    try:
        import httpx
    except ImportError as exc:  # pragma: no cover - httpx is a runtime dependency
        raise FetchFailed("httpx is not installed (pip install tui-mailsetup)") from exc

    async with asyncio.timeout(limit):
        async with httpx.AsyncClient(
            verify=context, trust_env=False, follow_redirects=False, timeout=limit
        ) as client:
            for _ in range(MAX_REDIRECTS + 1):
                parts = urlsplit(url)
                if parts.scheme != "https" or not parts.hostname:
                    raise FetchFailed(f"{untrusted_text(url)}: only https:// URLs are fetched")
                host = parts.hostname
                target = httpx.URL(url)
                if connect_to:
                    base = httpx.URL(connect_to)
                    targets = [target.copy_with(host=base.host, port=base.port)]
                else:
                    try:
                        addresses = await resolve(host)
                    except LookupFailed as exc:
                        raise FetchFailed(str(exc), dns_failed=True) from exc
                    if not addresses:
                        raise FetchFailed(f"{host} does not resolve", unresolved=True)
                    targets = [target.copy_with(host=address) for address in addresses]
                response = await _get_first(client, target, host, targets, headers or {})
                redirect = response.is_redirect and "location" in response.headers
                if redirect and follow_redirects:
                    await response.aclose()
                    url = urljoin(url, response.headers["location"])
                    continue
                body = bytearray()
                async for chunk in response.aiter_bytes():
                    body.extend(chunk)
                    if len(body) > max_body:
                        if truncate:
                            del body[max_body:]
                            break
                        raise FetchFailed(f"{untrusted_text(url)}: larger than {max_body} bytes")
                await response.aclose()
                media_type = response.headers.get("content-type", "").partition(";")[0]
                return Fetched(
                    url,
                    response.status_code,
                    bytes(body),
                    content_type=media_type.strip().lower(),
                    is_redirect=redirect,
                )
    raise FetchFailed(f"{untrusted_text(url)}: more than {MAX_REDIRECTS} redirects")


async def _get_first(
    client: httpx.AsyncClient,
    target: httpx.URL,
    host: str,
    connect: list[httpx.URL],
    headers: dict[str, str],
) -> httpx.Response:
    """The response from the first address that answers (the name kept for Host and TLS)."""
    import httpx as _httpx

    errors: list[str] = []
    certificate = False
    timeouts = 0
    for url in connect:
        request = client.build_request(
            "GET",
            url,
            headers={"Host": target.netloc.decode("ascii"), **headers},
            extensions={"sni_hostname": host},
        )
        try:
            return await client.send(request, stream=True)
        except _httpx.HTTPError as exc:
            reason, refused = _reason(exc)
            certificate = certificate or refused
            timeouts += isinstance(exc, _httpx.TimeoutException)
            errors.append(f"{url.host}: {reason}")
    raise FetchFailed(
        f"{host}: " + "; ".join(errors),
        certificate=certificate,
        timed_out=timeouts == len(errors),
    )


def _reason(exc: BaseException) -> tuple[str, bool]:
    """What went wrong, and whether it was the certificate."""
    cause = exc.__cause__ or exc.__context__
    text = str(exc) or type(exc).__name__
    certificate = isinstance(cause, ssl.SSLCertVerificationError)
    if isinstance(cause, ssl.SSLCertVerificationError):
        text = f"certificate not trusted: {cause.verify_message}"
    elif "CERTIFICATE_VERIFY_FAILED" in text or "certificate" in text.lower():
        certificate = True
    return untrusted_text(text, limit=300), certificate
