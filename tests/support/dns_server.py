"""A real (small) authoritative DNS server on 127.0.0.1 for the tests, built on dnspython.

It answers UDP queries from a zone given as {(name, type): [rdata text]}:
a name absent from the zone gets NXDOMAIN, a present name without the type
an empty NOERROR answer, names in ``silent`` get no answer at all and names in
``servfail`` a SERVFAIL ("*" in either means every name). With ``delay`` every
answer is sent that many seconds late (a slow but working server; each query is
answered in its own thread, so concurrent queries are not queued behind one
another). With ``refuse_outside`` (zone apexes) a name under none of them gets
REFUSED, as an authoritative-only server or a locked-down resolver answers names
outside its zones. :func:`dead_nameserver` is an address where nothing listens.
"""

from __future__ import annotations

import base64
import functools
import secrets
import socket
import socketserver
import threading
import time
from collections.abc import Iterator, Mapping, Sequence, Set
from contextlib import contextmanager
from typing import TypeVar

import dns.message
import dns.rcode
import dns.rdatatype
import dns.rrset

Zone = Mapping[tuple[str, str], Sequence[str]]
S = TypeVar("S", bound=socketserver.BaseServer)


def _normalise(zone: Zone) -> dict[tuple[str, str], list[str]]:
    return {
        (name.lower().rstrip(".") + ".", rdtype.upper()): list(rdata)
        for (name, rdtype), rdata in zone.items()
    }


class _Handler(socketserver.BaseRequestHandler):
    server: _Server

    def handle(self) -> None:
        data, sock = self.request
        query = dns.message.from_wire(data)
        question = query.question[0]
        name = question.name.to_text().lower()
        rdtype = dns.rdatatype.to_text(question.rdtype)
        self.server.queries.append((name, rdtype))
        if name.rstrip(".") in self.server.silent or "*" in self.server.silent:
            return
        if self.server.delay:
            time.sleep(self.server.delay)
            if self.server.closed:
                return  # the test is over: the socket is gone
        response = dns.message.make_response(query)
        bare = name.rstrip(".")
        if self.server.refuse_outside and not any(
            bare == apex or bare.endswith("." + apex) for apex in self.server.refuse_outside
        ):
            response.set_rcode(dns.rcode.REFUSED)
            sock.sendto(response.to_wire(), self.client_address)
            return
        if name.rstrip(".") in self.server.servfail or "*" in self.server.servfail:
            response.set_rcode(dns.rcode.SERVFAIL)
            sock.sendto(response.to_wire(), self.client_address)
            return
        response.flags |= dns.flags.AA
        records = self.server.zone.get((name, rdtype))
        if records:
            response.answer.append(dns.rrset.from_text(question.name, 60, "IN", rdtype, *records))
        elif not any(known == name for known, _ in self.server.zone):
            response.set_rcode(dns.rcode.NXDOMAIN)
        sock.sendto(response.to_wire(), self.client_address)


class _Server(socketserver.ThreadingUDPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(
        self,
        zone: Zone,
        silent: set[str],
        servfail: Set[str] = frozenset(),
        delay: float = 0.0,
        refuse_outside: Sequence[str] = (),
    ) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.refuse_outside = tuple(a.lower().rstrip(".") for a in refuse_outside)
        self.delay = delay
        self.closed = False
        self.zone = _normalise(zone)
        self.silent = {s.lower().rstrip(".") for s in silent}
        self.servfail = {s.lower().rstrip(".") for s in servfail}
        self.queries: list[tuple[str, str]] = []


@contextmanager
def dns_server(
    zone: Zone,
    *,
    silent: Sequence[str] = (),
    servfail: Sequence[str] = (),
    delay: float = 0.0,
    refuse_outside: Sequence[str] = (),
) -> Iterator[_Server]:
    """Serve ``zone``; ``server.server_address[1]`` is the port, ``server.queries`` what was asked."""
    with serving(_Server(zone, set(silent), set(servfail), delay, refuse_outside)) as server:
        yield server


@contextmanager
def serving(server: S) -> Iterator[S]:
    """Run a socketserver in a daemon thread for the duration of the block."""
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        if isinstance(server, _Server):
            server.closed = True
        server.server_close()


def txt(text: str) -> str:
    """A TXT rdata in zone-file syntax (strings of at most 255 characters, joined on lookup)."""
    return " ".join(f'"{text[i : i + 255]}"' for i in range(0, len(text), 255)) or '""'


@functools.cache
def dkim_rsa_key(bits: int = 2048) -> str:
    """The base64 p= of a real RSA public key of ``bits`` (under 1024: built from numbers,
    as no library generates such keys any more; the modulus is odd but not a product of
    two primes, which a verifier never checks)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    if bits >= 1024:
        key = rsa.generate_private_key(public_exponent=65537, key_size=bits).public_key()
    else:
        modulus = secrets.randbits(bits) | (1 << (bits - 1)) | 1
        key = rsa.RSAPublicNumbers(65537, modulus).public_key()
    der = key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.b64encode(der).decode("ascii")


def dkim_record(bits: int = 2048) -> str:
    """A valid DKIM key record's TXT rdata (an RSA key of ``bits``)."""
    return txt(f"v=DKIM1; k=rsa; p={dkim_rsa_key(bits)}")


def nameserver_entry(server: _Server) -> str:
    return f"127.0.0.1:{server.server_address[1]}"


def dead_nameserver() -> str:
    """A "127.0.0.1:PORT" entry where nothing listens (the port was bound, then freed)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"127.0.0.1:{port}"
