"""A real (small) authoritative DNS server on 127.0.0.1 for the tests, built on dnspython.

It answers UDP queries from a zone given as {(name, type): [rdata text]}:
a name absent from the zone gets NXDOMAIN, a present name without the type
an empty NOERROR answer, and names in ``silent`` get no answer at all.
"""

from __future__ import annotations

import socketserver
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager

import dns.message
import dns.rcode
import dns.rdatatype
import dns.rrset

Zone = Mapping[tuple[str, str], Sequence[str]]


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
        if name.rstrip(".") in self.server.silent:
            return
        response = dns.message.make_response(query)
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

    def __init__(self, zone: Zone, silent: set[str]) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.zone = _normalise(zone)
        self.silent = {s.lower().rstrip(".") for s in silent}
        self.queries: list[tuple[str, str]] = []


@contextmanager
def dns_server(zone: Zone, *, silent: Sequence[str] = ()) -> Iterator[_Server]:
    """Serve ``zone``; ``server.server_address[1]`` is the port, ``server.queries`` what was asked."""
    server = _Server(zone, set(silent))
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
