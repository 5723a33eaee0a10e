"""One resolver for every command: ``dns.nameservers`` (or the system's), two time limits.

The one home of name resolution: the resolver (:func:`make_resolver`), the
nameserver syntax, :class:`LookupFailed`, and :class:`DnsClient`, which the
sender-domain checks, detection, probes, the MTA-STS fetch and the SMTP
engine's resolve step all use.

Two limits, kept apart (issue 21): each query gets at most ``dns.timeout``
(a server that does not answer it is given up on), and the whole run has
``dns.budget`` (at least the 20 s RFC 7208 §4.6.4 gives an SPF evaluation), so
a slow but working server that answers every one of many sequential lookups
is waited for. A resolver that has never answered and lets a query time out
is taken for dead: the lookups asked after that fail at once, so a dead
resolver ends the whole run within about one ``dns.timeout`` however many
lookups there are. Identical lookups are asked once. A failed lookup
(timeout, SERVFAIL, refused) raises :class:`LookupFailed` with the reason; it
is never "no such record".
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import dns.asyncresolver
import dns.exception
import dns.nameserver
import dns.rdatatype
import dns.resolver

from tui_mailsetup.names import is_ip_literal, parse_nameserver

if TYPE_CHECKING:
    from tui_mailsetup.settings import DnsSettings

DEFAULT_TIMEOUT = 5.0
"""Seconds one query may take (``dns.timeout``)."""
DEFAULT_BUDGET = 20.0
"""Seconds a whole run of lookups may take (``dns.budget``): RFC 7208 §4.6.4's at least 20 s."""


class LookupFailed(Exception):
    """The lookup itself failed (timeout, no answering server), as opposed to 'no such record'."""

    def __init__(self, message: str, reason: str = "") -> None:
        super().__init__(message)
        self.reason = reason or message
        """Short: "timeout", "SERVFAIL", "REFUSED", "no answer from the name servers"."""


def make_resolver(
    nameservers: Sequence[str] = (), *, lifetime: float = DEFAULT_TIMEOUT
) -> dns.asyncresolver.Resolver:
    """The system resolver, or the configured nameservers (``dns.nameservers``)."""
    if nameservers:
        resolver = dns.asyncresolver.Resolver(configure=False)
        resolver.nameservers = [
            dns.nameserver.Do53Nameserver(address, port)
            for address, port in (parse_nameserver(entry.strip()) for entry in nameservers)
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
    """Lookups for one run, through one resolver: ``timeout`` per query, ``budget`` for all.

    ``budget`` defaults to the larger of ``timeout`` and :data:`DEFAULT_BUDGET`.
    """

    def __init__(
        self,
        nameservers: Sequence[str] = (),
        *,
        timeout: float = DEFAULT_TIMEOUT,
        budget: float | None = None,
        resolver: dns.asyncresolver.Resolver | None = None,
    ) -> None:
        self.timeout = timeout
        self.budget = budget if budget is not None else max(timeout, DEFAULT_BUDGET)
        self.resolver = resolver or make_resolver(nameservers, lifetime=timeout)
        self.deadline = time.monotonic() + self.budget
        self._cache: dict[tuple[str, str], asyncio.Future[Records]] = {}
        self._answered = False
        """A server has answered a query of this run (whatever the answer)."""
        self._dead = ""
        """Why the resolver is taken for dead ("" while it is not)."""

    @classmethod
    def from_settings(cls, dns_settings: DnsSettings) -> DnsClient:
        """The client ``[dns]`` describes: nameservers, dns.timeout per query, dns.budget."""
        return cls(
            dns_settings.nameservers,
            timeout=dns_settings.timeout,
            budget=max(dns_settings.budget, dns_settings.timeout),
        )

    def remaining(self) -> float:
        return self.deadline - time.monotonic()

    async def query(self, name: str, rdtype: str) -> Records:
        key = (name.lower().rstrip("."), rdtype.upper())
        future = self._cache.get(key)
        if future is None:
            future = asyncio.ensure_future(self._query(*key))
            self._cache[key] = future
        return await asyncio.shield(future)

    def cancel(self) -> None:
        """Stop the lookups still under way (the run that asked for them is over)."""
        for future in self._cache.values():
            if not future.done():
                future.cancel()

    async def records(self, name: str, rdtype: str) -> list[str]:
        """The records as text; [] when the name or the type does not exist."""
        return list((await self.query(name, rdtype)).records)

    async def _query(self, name: str, rdtype: str) -> Records:
        remaining = self.remaining()
        what = f"{name} {rdtype}"
        if remaining <= 0:
            raise LookupFailed(
                f"{what}: timeout (the {self.budget:g} s DNS budget of the run ran out)",
                "timeout",
            )
        if self._dead:
            raise LookupFailed(f"{what}: not asked, {self._dead}", "timeout")
        # One query's timeout, within what is left of the run's budget and no more than
        # the resolver's own lifetime.
        per_query = min(self.timeout, self.resolver.lifetime)
        try:
            answer = await self.resolver.resolve(
                name, rdtype, raise_on_no_answer=False, lifetime=min(remaining, per_query)
            )
        except dns.resolver.NXDOMAIN:
            self._answered = True
            return Records((), nxdomain=True)
        except dns.exception.DNSException as exc:
            reason = failure_reason(exc)
            if isinstance(exc, dns.exception.Timeout) and remaining < per_query:
                raise LookupFailed(
                    f"{what}: timeout (the {self.budget:g} s DNS budget of the run ran out)",
                    "timeout",
                ) from exc
            if isinstance(exc, dns.exception.Timeout):
                if not self._answered:
                    self._dead = (
                        f"the name servers answered no query within dns.timeout ({per_query:g} s)"
                    )
            elif reason in ("SERVFAIL", "REFUSED", "NOTIMP", "FORMERR"):
                self._answered = True  # a server is there, only this name fails
            # The class name ("LifetimeTimeout") tells a silent server from a slow one.
            kind = f" ({type(exc).__name__})" if isinstance(exc, dns.exception.Timeout) else ""
            raise LookupFailed(f"{what}: {reason}{kind}", reason) from exc
        except OSError as exc:
            raise LookupFailed(f"{what}: {exc}", str(exc)) from exc
        self._answered = True
        texts: list[str] = []
        for rdata in answer:
            if rdata.rdtype == dns.rdatatype.TXT:
                # Latin-1 keeps every byte as one character; SPF rejects non-ASCII itself.
                texts.append(b"".join(rdata.strings).decode("latin-1"))
            elif rdata.rdtype == dns.rdatatype.from_text(rdtype):
                texts.append(rdata.to_text())
        return Records(tuple(texts))

    async def addresses(self, host: str) -> list[str]:
        """IPv4 and IPv6 addresses of ``host`` (A and AAAA asked together).

        [] when the name has no address (NXDOMAIN, no A/AAAA); LookupFailed when
        neither lookup got an answer (timeout, SERVFAIL, refused). An address
        literal is its own answer and ``localhost`` is this machine (RFC 6761
        §6.3): neither is sent to a name server.
        """
        name = host.strip().rstrip(".").lower()
        if is_ip_literal(name):
            return [name.strip("[]")]
        if name == "localhost" or name.endswith(".localhost"):
            return ["127.0.0.1", "::1"]
        results = await asyncio.gather(
            self.query(name, "A"), self.query(name, "AAAA"), return_exceptions=True
        )
        addresses: list[str] = []
        failures: list[LookupFailed] = []
        for result in results:
            if isinstance(result, LookupFailed):
                failures.append(result)
            elif isinstance(result, BaseException):
                raise result
            else:
                addresses.extend(result.records)
        if not addresses and failures:
            raise LookupFailed("; ".join(map(str, failures)), failures[0].reason)
        return addresses


async def resolve_addresses(resolver: dns.asyncresolver.Resolver, host: str) -> list[str]:
    """:meth:`DnsClient.addresses` of ``host`` through ``resolver``, within its lifetime."""
    return await DnsClient(resolver=resolver, timeout=resolver.lifetime).addresses(host)


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
        addresses = await DnsClient(nameservers, timeout=dns_timeout).addresses(host)
    except LookupFailed as exc:
        raise socket.gaierror(socket.EAI_AGAIN, str(exc)) from exc
    if not addresses:
        raise socket.gaierror(socket.EAI_NONAME, f"{host} does not resolve")
    infos: list[AddrInfo] = []
    for address in addresses:
        family = socket.AF_INET6 if ipaddress.ip_address(address).version == 6 else socket.AF_INET
        infos.append((family, socket.SOCK_STREAM, 6, "", (address, port)))
    return infos
