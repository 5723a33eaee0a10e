"""The local HTTP(S) servers of the tests, on 127.0.0.1 (one home for them all).

- :class:`ScriptedHttp`: answers each request with what the test scripts, and
  records what it received (the HTTP-API drivers, AWS endpoints, credential
  endpoints; over TLS with a server context).
- :func:`https_server`: several HTTPS sites on one :class:`ScriptedHttp`,
  pages keyed by path (any site) or by ``(host, path)``, with a throwaway
  trustme CA (autoconfig, ISPDB, MTA-STS policies).
- :class:`ForwardProxy`: an HTTP proxy (absolute-form requests and CONNECT
  tunnels) that records what it carried.

AWS-shaped answers and moto live in ``aws_servers.py``.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from tests.support.dns_server import serving as serving_thread


@contextmanager
def serving(
    handler: type[BaseHTTPRequestHandler], tls: ssl.SSLContext | None = None
) -> Iterator[int]:
    """``handler`` served on 127.0.0.1 in a thread (over TLS with ``tls``); yields the port."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    with serving_thread(server):
        yield server.server_address[1]


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


Reply = tuple[int, dict[str, str], bytes]


@dataclass
class ScriptedHttp:
    """Answers each request with ``answer(seen)`` (default: ``reply``) and records it."""

    reply: Reply = (200, {}, b"{}")
    answer: Callable[[Seen], Reply] | None = None
    seen: list[Seen] = field(default_factory=list)
    port: int = 0
    scheme: str = "http"

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"


@contextmanager
def scripted_http(tls: ssl.SSLContext | None = None) -> Iterator[ScriptedHttp]:
    fake = ScriptedHttp(scheme="https" if tls else "http")

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length) if length else b""
            seen = Seen(self.command, self.path, dict(self.headers.items()), body)
            fake.seen.append(seen)
            status, headers, payload = fake.answer(seen) if fake.answer else fake.reply
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = do_PUT = _answer

        def log_message(self, format: str, *args: Any) -> None:
            return None

    with serving(Handler, tls) as port:
        fake.port = port
        yield fake


# --------------------------------------------------------------------------- HTTPS sites


@dataclass(frozen=True)
class Page:
    body: str | bytes
    status: int = 200
    content_type: str = "text/plain"
    location: str = ""
    headers: Mapping[str, str] = field(default_factory=dict)

    def reply(self) -> Reply:
        headers: dict[str, str] = {}
        if self.content_type:
            headers["Content-Type"] = self.content_type
        if self.location:
            headers["Location"] = self.location
        headers.update(self.headers)
        return self.status, headers, self.body.encode() if isinstance(self.body, str) else self.body


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

    @classmethod
    def of(cls, seen: Seen) -> Request:
        host_header = next((v for k, v in seen.headers.items() if k.lower() == "host"), "")
        host = host_header.rpartition(":")[0] if host_header.count(":") == 1 else host_header
        return cls(host.lower(), seen.path, host_header)


@dataclass
class HttpsServer:
    """Several sites on one HTTPS server; the code under test connects to ``base_url`` (or a
    name resolved to 127.0.0.1) and verifies the certificate for the site's real name."""

    http: ScriptedHttp
    pages: dict[PageKey, Page]
    ca_path: Path

    @property
    def port(self) -> int:
        return self.http.port

    @property
    def base_url(self) -> str:
        return self.http.url

    @property
    def requests(self) -> list[Request]:
        """Every request, in order, so tests can assert what was asked and what was not."""
        return [Request.of(seen) for seen in self.http.seen]

    def page_for(self, host: str, path: str) -> Page:
        """A key's path may omit the query string."""
        bare = path.split("?", 1)[0]
        for key in ((host, path), (host, bare), path, bare):
            if key in self.pages:
                return self.pages[key]
        return Page("not found", 404)

    def answer(self, seen: Seen) -> Reply:
        request = Request.of(seen)
        return self.page_for(request.host, request.path).reply()


@contextmanager
def https_server(
    pages: Mapping[str, Page] | Mapping[tuple[str, str], Page] | Mapping[PageKey, Page],
    names: Sequence[str],
    directory: Path,
) -> Iterator[HttpsServer]:
    """Serve ``pages`` over TLS with a certificate for ``names`` (and 127.0.0.1, localhost),
    issued by a fresh CA whose PEM is written to ``server.ca_path`` (in ``directory``): point
    ``SSL_CERT_FILE`` (or the setting under test) at it."""
    import trustme

    ca = trustme.CA()
    ca_path = directory / "https-ca.pem"
    ca.cert_pem.write_to_path(str(ca_path))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(*names, "127.0.0.1", "localhost").configure_cert(context)
    with scripted_http(context) as http:
        server = HttpsServer(http, {key: page for key, page in pages.items()}, ca_path)
        http.answer = server.answer
        yield server


def bundle(path: Path, *pems: Path) -> Path:
    """One CA file trusting every CA given (the HTTPS server's and the SMTP sandboxes')."""
    path.write_bytes(b"".join(p.read_bytes() for p in pems))
    return path


# --------------------------------------------------------------------------- a forward proxy


@dataclass
class ForwardProxy:
    """What the proxy carried: ``("POST", "http://127.0.0.1:1234/v3/…")`` or ``("CONNECT", "host:port")``."""

    carried: list[tuple[str, str]] = field(default_factory=list)
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@contextmanager
def forward_proxy() -> Iterator[ForwardProxy]:
    """An HTTP proxy on 127.0.0.1: absolute-form requests are forwarded, CONNECT is tunnelled."""
    import http.client
    import select
    import socket
    from urllib.parse import urlsplit

    proxy = ForwardProxy()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _forward(self) -> None:
            proxy.carried.append((self.command, self.path))
            target = urlsplit(self.path)
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length) if length else None
            headers = {
                k: v
                for k, v in self.headers.items()
                if k.lower() not in ("proxy-connection", "connection", "keep-alive")
            }
            upstream = http.client.HTTPConnection(
                target.hostname or "", target.port or 80, timeout=10
            )
            try:
                path = target.path + (f"?{target.query}" if target.query else "")
                upstream.request(self.command, path, body=body, headers=headers)
                answer = upstream.getresponse()
                payload = answer.read()
            finally:
                upstream.close()
            self.send_response(answer.status, answer.reason)
            for name, value in answer.getheaders():
                if name.lower() not in ("transfer-encoding", "connection", "content-length"):
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(payload)
            self.close_connection = True

        do_GET = do_POST = _forward

        def do_CONNECT(self) -> None:
            proxy.carried.append(("CONNECT", self.path))
            host, _, port = self.path.rpartition(":")
            upstream = socket.create_connection((host.strip("[]"), int(port)), timeout=10)
            self.send_response(200, "Connection established")
            self.end_headers()
            sockets = [self.connection, upstream]
            try:
                while True:
                    readable, _, _ = select.select(sockets, [], [], 10)
                    if not readable:
                        break
                    for sock in readable:
                        data = sock.recv(65536)
                        if not data:
                            return
                        (upstream if sock is self.connection else self.connection).sendall(data)
            finally:
                upstream.close()
                self.close_connection = True

        def log_message(self, format: str, *args: Any) -> None:
            return None

    with serving(Handler) as port:
        proxy.port = port
        yield proxy
