"""Names and HTTPS through the configured resolver (``dns.nameservers``), not the system's.

Detection resolves every name it touches (candidate hosts, autoconfig and
ISPDB servers) with the one dnspython resolver the settings describe, then
connects to the address it found while TLS still verifies the certificate
against the name (SNI and host name checking use the name, not the address).

``httpx`` is imported only when something is fetched.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING
from urllib.parse import urljoin, urlsplit

import dns.asyncresolver
import dns.exception
import dns.resolver

from tui_mailsetup.engine.dns import LookupFailed
from tui_mailsetup.names import is_ip_literal
from tui_mailsetup.sanitize import untrusted_text

if TYPE_CHECKING:
    import httpx

MAX_BODY = 1_000_000
"""Bytes read from an HTTP response at most (an autoconfig file is a few kilobytes)."""
MAX_REDIRECTS = 3


async def resolve_addresses(resolver: dns.asyncresolver.Resolver, host: str) -> list[str]:
    """IPv4 and IPv6 addresses of ``host`` (A and AAAA asked together).

    [] when the name has no address (NXDOMAIN, no A/AAAA); LookupFailed when
    neither lookup got an answer (timeout, SERVFAIL, refused). An address
    literal is its own answer and ``localhost`` is this machine: neither is
    sent to a name server.
    """
    name = host.strip().rstrip(".").lower()
    if is_ip_literal(name):
        return [name.strip("[]")]
    if name == "localhost":
        return ["127.0.0.1", "::1"]

    async def ask(rdtype: str) -> list[str]:
        try:
            answer = await resolver.resolve(name, rdtype, raise_on_no_answer=False)
        except dns.resolver.NXDOMAIN:
            return []
        except dns.exception.DNSException as exc:
            raise LookupFailed(f"{name} {rdtype}: {exc.__class__.__name__}: {exc}") from exc
        return [rdata.to_text() for rdata in answer]

    results = await asyncio.gather(ask("A"), ask("AAAA"), return_exceptions=True)
    addresses = [a for r in results if isinstance(r, list) for a in r]
    failures = [r for r in results if isinstance(r, BaseException)]
    if not addresses and failures:
        first = failures[0]
        if isinstance(first, LookupFailed):
            raise first
        raise LookupFailed(f"{name}: {first}")
    return addresses


@dataclass(frozen=True)
class Fetched:
    url: str
    """The URL finally answered (after redirects)."""
    status: int
    body: bytes


class FetchFailed(Exception):
    """The document could not be fetched: no address, no connection, TLS refused, a timeout."""

    def __init__(self, message: str, *, dns_failed: bool = False) -> None:
        super().__init__(message)
        self.dns_failed = dns_failed
        """The name server did not answer (as opposed to the name not existing)."""


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
    resolver: dns.asyncresolver.Resolver,
    context: ssl.SSLContext,
    limit: float,
    headers: dict[str, str] | None = None,
    resolve: Callable[[str], Awaitable[list[str]]] | None = None,
) -> Fetched:
    """GET an https:// URL (redirects followed to https only), its name resolved by ``resolver``
    (or by ``resolve``, a caller's cache of :func:`resolve_addresses`)."""
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
                try:
                    addresses = await (resolve or partial(resolve_addresses, resolver))(host)
                except LookupFailed as exc:
                    raise FetchFailed(str(exc), dns_failed=True) from exc
                if not addresses:
                    raise FetchFailed(f"{host} does not resolve")
                response = await _get_first(client, url, host, addresses, headers or {})
                if response.is_redirect and "location" in response.headers:
                    await response.aclose()
                    url = urljoin(url, response.headers["location"])
                    continue
                body = bytearray()
                async for chunk in response.aiter_bytes():
                    body.extend(chunk)
                    if len(body) > MAX_BODY:
                        raise FetchFailed(f"{untrusted_text(url)}: larger than {MAX_BODY} bytes")
                await response.aclose()
                return Fetched(url, response.status_code, bytes(body))
    raise FetchFailed(f"{untrusted_text(url)}: more than {MAX_REDIRECTS} redirects")


async def _get_first(
    client: httpx.AsyncClient,
    url: str,
    host: str,
    addresses: list[str],
    headers: dict[str, str],
) -> httpx.Response:
    """The response from the first address that answers (the name kept for Host and TLS)."""
    import httpx as _httpx

    errors: list[str] = []
    target = _httpx.URL(url)
    for address in addresses:
        request = client.build_request(
            "GET",
            target.copy_with(host=address),
            headers={"Host": target.netloc.decode("ascii"), **headers},
            extensions={"sni_hostname": host},
        )
        try:
            return await client.send(request, stream=True)
        except _httpx.HTTPError as exc:
            errors.append(f"{address}: {_reason(exc)}")
    raise FetchFailed(f"{host}: " + "; ".join(errors))


def _reason(exc: BaseException) -> str:
    cause = exc.__cause__ or exc.__context__
    text = str(exc) or type(exc).__name__
    if isinstance(cause, ssl.SSLCertVerificationError):
        text = f"certificate not trusted: {cause.verify_message}"
    return untrusted_text(text, limit=300)
