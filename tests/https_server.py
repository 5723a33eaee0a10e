"""A real HTTPS server on 127.0.0.1 for the tests, with a trustme certificate for the names given.

Serves a fixed set of documents: ``routes`` maps a path (without the query
string) to ``(status, body, headers)`` (:func:`document` makes one); anything else
is 404. Every request is recorded (path with query, Host header) so tests can
assert what was asked, and what was not.
"""

from __future__ import annotations

import http.server
import ssl
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import trustme

Route = tuple[int, bytes, Mapping[str, str]]


@dataclass
class HttpsServer:
    port: int
    ca_path: Path
    """PEM of the CA that signed the server's certificate."""
    requests: list[tuple[str, str]] = field(default_factory=list)
    """(path with query, Host header) of every request, in order."""


@contextmanager
def https_server(
    routes: Mapping[str, Route], names: tuple[str, ...], directory: Path
) -> Iterator[HttpsServer]:
    ca = trustme.CA()
    ca_path = directory / "https-ca.pem"
    ca.cert_pem.write_to_path(str(ca_path))
    leaf = ca.issue_cert(*names, "127.0.0.1", "localhost")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    leaf.configure_cert(context)
    record: list[tuple[str, str]] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            record.append((self.path, self.headers.get("Host", "")))
            route = routes.get(self.path.split("?", 1)[0])
            status, body, headers = route if route is not None else (404, b"not found", {})
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    try:
        yield HttpsServer(server.server_address[1], ca_path, record)
    finally:
        server.shutdown()
        server.server_close()


def document(body: str | bytes, status: int = 200, **headers: str) -> Route:
    return (status, body.encode() if isinstance(body, str) else body, headers)


def bundle(path: Path, *pems: Path) -> Path:
    """One CA file trusting every CA given (the HTTPS server's and the SMTP sandboxes')."""
    path.write_bytes(b"".join(p.read_bytes() for p in pems))
    return path
