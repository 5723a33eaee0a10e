"""A real (small) authoritative DNS server on 127.0.0.1 for the tests, built on dnspython.

It answers UDP queries from a zone given as {(name, type): [rdata text]}:
a name absent from the zone gets NXDOMAIN, a present name without the type
an empty NOERROR answer, names in ``silent`` get no answer at all and names in
``servfail`` a SERVFAIL ("*" in either means every name). :func:`dead_nameserver`
is an address where nothing listens.
"""

from __future__ import annotations

import socket
import socketserver
import threading
from collections.abc import Iterator, Mapping, Sequence
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
        response = dns.message.make_response(query)
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

    def __init__(self, zone: Zone, silent: set[str], servfail: set[str] = frozenset()) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.zone = _normalise(zone)
        self.silent = {s.lower().rstrip(".") for s in silent}
        self.servfail = {s.lower().rstrip(".") for s in servfail}
        self.queries: list[tuple[str, str]] = []


@contextmanager
def dns_server(
    zone: Zone, *, silent: Sequence[str] = (), servfail: Sequence[str] = ()
) -> Iterator[_Server]:
    """Serve ``zone``; ``server.server_address[1]`` is the port, ``server.queries`` what was asked."""
    with serving(_Server(zone, set(silent), set(servfail))) as server:
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
        server.server_close()


def nameserver_entry(server: _Server) -> str:
    return f"127.0.0.1:{server.server_address[1]}"


def dead_nameserver() -> str:
    """A "127.0.0.1:PORT" entry where nothing listens (the port was bound, then freed)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"127.0.0.1:{port}"
