"""Small HTTP servers on 127.0.0.1 for the HTTP-API driver tests.

- :class:`ScriptedHttp`: answers each request with what the test scripts, and
  records what it received.
- :class:`ForwardProxy`: an HTTP proxy (absolute-form requests and CONNECT
  tunnels) that records what it carried.
"""

from __future__ import annotations

import ssl
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@contextmanager
def serving(
    handler: type[BaseHTTPRequestHandler], tls: ssl.SSLContext | None = None
) -> Iterator[int]:
    """``handler`` served on 127.0.0.1 in a thread (over TLS with ``tls``); yields the port."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


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
