"""A real HTTPS server on 127.0.0.1 for the tests, with a throwaway trustme CA.

Pages are keyed by (Host header, path): one server plays several sites
(``mta-sts.acme.example``), and the code under test connects to it through a
base-URL setting while verifying the certificate for the real name. Point
``SSL_CERT_FILE`` at ``server.ca_path`` so that the CA is trusted.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import trustme
from dns_server import serving


@dataclass(frozen=True)
class Page:
    body: str
    status: int = 200
    content_type: str = "text/plain"
    location: str = ""


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        host = (self.headers.get("Host") or "").partition(":")[0].lower()
        self.server.requests.append((host, self.path))
        page = self.server.pages.get((host, self.path), Page("not found", 404))
        body = page.body.encode()
        self.send_response(page.status)
        self.send_header("Content-Type", page.content_type)
        self.send_header("Content-Length", str(len(body)))
        if page.location:
            self.send_header("Location", page.location)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, pages: Mapping[tuple[str, str], Page]) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.pages = dict(pages)
        self.requests: list[tuple[str, str]] = []
        self.ca_path = Path()

    @property
    def base_url(self) -> str:
        return f"https://127.0.0.1:{self.server_address[1]}"


@contextmanager
def https_server(
    pages: Mapping[tuple[str, str], Page], names: Sequence[str], directory: Path
) -> Iterator[_Server]:
    """Serve ``pages`` over TLS with a certificate for ``names``, issued by a fresh CA
    whose PEM is written to ``server.ca_path`` (in ``directory``)."""
    ca = trustme.CA()
    server = _Server(pages)
    server.ca_path = directory / "https-ca.pem"
    ca.cert_pem.write_to_path(str(server.ca_path))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(*names).configure_cert(context)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    with serving(server):
        yield server
