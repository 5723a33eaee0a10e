"""A real HTTPS server on 127.0.0.1 for the tests, with a throwaway trustme CA.

Pages are keyed by path (any site) or by ``(host, path)``: one server plays
several sites (``mta-sts.acme.example``, ``autoconfig.acme.example``), and the
code under test connects to it through a base-URL setting while verifying the
certificate for the real name. A key's path may omit the query string. Every
request is recorded, so tests can assert what was asked and what was not. Point
``SSL_CERT_FILE`` (or the setting under test) at ``server.ca_path``.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import trustme
from dns_server import serving


@dataclass(frozen=True)
class Page:
    body: str | bytes
    status: int = 200
    content_type: str = "text/plain"
    location: str = ""
    headers: Mapping[str, str] = field(default_factory=dict)


def document(body: str | bytes, status: int = 200, **headers: str) -> Page:
    """A page with exactly the headers given (no Content-Type unless given)."""
    return Page(body, status, content_type="", headers=headers)


PageKey = str | tuple[str, str]


@dataclass(frozen=True)
class Request:
    host: str
    """The Host header's name, lower-cased, without the port."""
    path: str
    """With the query string."""
    host_header: str
    """The Host header as sent (with the port when there was one)."""


class _Handler(BaseHTTPRequestHandler):
    server: HttpsServer

    def do_GET(self) -> None:
        host_header = self.headers.get("Host") or ""
        host = host_header.rpartition(":")[0] if host_header.count(":") == 1 else host_header
        host = host.lower()
        self.server.requests.append(Request(host, self.path, host_header))
        page = self.server.page_for(host, self.path)
        body = page.body.encode() if isinstance(page.body, str) else page.body
        self.send_response(page.status)
        if page.content_type:
            self.send_header("Content-Type", page.content_type)
        if page.location:
            self.send_header("Location", page.location)
        for name, value in page.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


class HttpsServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, pages: Mapping[PageKey, Page]) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.pages = dict(pages)
        self.requests: list[Request] = []
        self.ca_path = Path()

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    @property
    def base_url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def page_for(self, host: str, path: str) -> Page:
        bare = path.split("?", 1)[0]
        for key in ((host, path), (host, bare), path, bare):
            if key in self.pages:
                return self.pages[key]
        return Page("not found", 404)


@contextmanager
def https_server(
    pages: Mapping[PageKey, Page], names: Sequence[str], directory: Path
) -> Iterator[HttpsServer]:
    """Serve ``pages`` over TLS with a certificate for ``names`` (and 127.0.0.1, localhost),
    issued by a fresh CA whose PEM is written to ``server.ca_path`` (in ``directory``)."""
    ca = trustme.CA()
    server = HttpsServer(pages)
    server.ca_path = directory / "https-ca.pem"
    ca.cert_pem.write_to_path(str(server.ca_path))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(*names, "127.0.0.1", "localhost").configure_cert(context)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    with serving(server):
        yield server


def bundle(path: Path, *pems: Path) -> Path:
    """One CA file trusting every CA given (the HTTPS server's and the SMTP sandboxes')."""
    path.write_bytes(b"".join(p.read_bytes() for p in pems))
    return path
