"""One resolver for every command: ``dns.nameservers`` (or the system's), one time budget.

:class:`DnsClient` is what the sender-domain checks use: every lookup of a run
shares one deadline (``dns.timeout``), so a dead resolver ends the whole run
within one timeout however many lookups there are, and identical lookups are
asked once. A failed lookup (timeout, SERVFAIL, refused) raises
:class:`LookupFailed` with the reason; it is never "no such record".
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import dns.asyncresolver
import dns.exception
import dns.nameserver
import dns.rdatatype
import dns.resolver

DEFAULT_TIMEOUT = 5.0


class LookupFailed(Exception):
    """The lookup itself failed (timeout, no answering server), as opposed to 'no such record'."""

    def __init__(self, message: str, reason: str = "") -> None:
        super().__init__(message)
        self.reason = reason or message
        """Short: "timeout", "SERVFAIL", "REFUSED", "no answer from the name servers"."""


def parse_nameserver(entry: str) -> tuple[str, int]:
    """``127.0.0.1:5353``, ``[::1]:53``, ``::1`` or ``192.0.2.53`` → (address, port)."""
    entry = entry.strip()
    if entry.startswith("["):
        address, _, rest = entry[1:].partition("]")
        return address, int(rest.removeprefix(":") or 53)
    if entry.count(":") == 1:
        address, _, port = entry.partition(":")
        return address, int(port)
    return entry, 53


def make_resolver(
    nameservers: Sequence[str] = (), *, lifetime: float = DEFAULT_TIMEOUT
) -> dns.asyncresolver.Resolver:
    """The system resolver, or the configured nameservers (``dns.nameservers``)."""
    if nameservers:
        resolver = dns.asyncresolver.Resolver(configure=False)
        resolver.nameservers = [
            dns.nameserver.Do53Nameserver(address, port)
            for address, port in (parse_nameserver(entry) for entry in nameservers)
        ]
    else:
        resolver = dns.asyncresolver.Resolver()
    resolver.lifetime = lifetime
    resolver.timeout = min(lifetime, 2.0)
    return resolver


def failure_reason(exc: BaseException) -> str:
    """What went wrong, in a few words."""
    if isinstance(exc, dns.exception.Timeout):
        return "timeout"
    text = str(exc)
    for rcode in ("SERVFAIL", "REFUSED", "NOTIMP", "FORMERR"):
        if rcode in text:
            return rcode
    if isinstance(exc, dns.resolver.NoNameservers):
        if "refused" in text.lower() or "Errno 111" in text:
            return "connection refused"
        return "no answer from the name servers"
    return text or type(exc).__name__


@dataclass(frozen=True)
class Records:
    """An answer: the records as text (TXT strings joined), and whether the name exists."""

    records: tuple[str, ...]
    nxdomain: bool = False


class DnsClient:
    """Lookups for one run, through one resolver, within one time budget."""

    def __init__(
        self,
        nameservers: Sequence[str] = (),
        *,
        timeout: float = DEFAULT_TIMEOUT,
        resolver: dns.asyncresolver.Resolver | None = None,
    ) -> None:
        self.timeout = timeout
        self.resolver = resolver or make_resolver(nameservers, lifetime=timeout)
        self.deadline = time.monotonic() + timeout
        self._cache: dict[tuple[str, str], asyncio.Future[Records]] = {}

    def remaining(self) -> float:
        return self.deadline - time.monotonic()

    async def query(self, name: str, rdtype: str) -> Records:
        key = (name.lower().rstrip("."), rdtype.upper())
        future = self._cache.get(key)
        if future is None:
            future = asyncio.ensure_future(self._query(*key))
            self._cache[key] = future
        return await asyncio.shield(future)

    async def records(self, name: str, rdtype: str) -> list[str]:
        """The records as text; [] when the name or the type does not exist."""
        return list((await self.query(name, rdtype)).records)

    async def _query(self, name: str, rdtype: str) -> Records:
        remaining = self.remaining()
        what = f"{name} {rdtype}"
        if remaining <= 0:
            raise LookupFailed(
                f"{what}: timeout (the {self.timeout:g} s DNS budget ran out)", "timeout"
            )
        try:
            answer = await self.resolver.resolve(
                name, rdtype, raise_on_no_answer=False, lifetime=remaining
            )
        except dns.resolver.NXDOMAIN:
            return Records((), nxdomain=True)
        except dns.exception.DNSException as exc:
            reason = failure_reason(exc)
            raise LookupFailed(f"{what}: {reason}", reason) from exc
        except OSError as exc:
            raise LookupFailed(f"{what}: {exc}", str(exc)) from exc
        texts: list[str] = []
        for rdata in answer:
            if rdata.rdtype == dns.rdatatype.TXT:
                # Latin-1 keeps every byte as one character; SPF rejects non-ASCII itself.
                texts.append(b"".join(rdata.strings).decode("latin-1"))
            elif rdata.rdtype == dns.rdatatype.from_text(rdtype):
                texts.append(rdata.to_text())
        return Records(tuple(texts))


AddrInfo = tuple[
    socket.AddressFamily,
    socket.SocketKind,
    int,
    str,
    tuple[str, int] | tuple[str, int, int, int] | tuple[int, bytes],
]


async def resolve_host(
    host: str, port: int, nameservers: Sequence[str], *, dns_timeout: float = DEFAULT_TIMEOUT
) -> list[Any]:
    """getaddrinfo() through ``dns.nameservers``: A and AAAA of ``host``.

    Raises socket.gaierror as getaddrinfo does, so callers handle both alike.
    """
    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        family = socket.AF_INET6 if literal.version == 6 else socket.AF_INET
        return [(family, socket.SOCK_STREAM, 6, "", (str(literal), port))]
    name = host.lower().rstrip(".")
    if name == "localhost" or name.endswith(".localhost"):
        # RFC 6761 §6.3: loopback, whatever the name servers say.
        return [
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port)),
            (socket.AF_INET6, socket.SOCK_STREAM, 6, "", ("::1", port, 0, 0)),
        ]
    client = DnsClient(nameservers, timeout=dns_timeout)
    results = await asyncio.gather(
        client.query(host, "A"), client.query(host, "AAAA"), return_exceptions=True
    )
    infos: list[AddrInfo] = []
    failures: list[str] = []
    for family, result in zip((socket.AF_INET, socket.AF_INET6), results, strict=True):
        if isinstance(result, LookupFailed):
            failures.append(str(result))
        elif isinstance(result, BaseException):
            raise result
        else:
            infos.extend((family, socket.SOCK_STREAM, 6, "", (a, port)) for a in result.records)
    if not infos:
        if failures:
            raise socket.gaierror(socket.EAI_AGAIN, "; ".join(failures))
        raise socket.gaierror(socket.EAI_NONAME, f"{host} does not resolve")
    return infos
