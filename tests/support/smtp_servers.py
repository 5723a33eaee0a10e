"""Scripted SMTP servers for tests: small asyncio servers on 127.0.0.1 that misbehave on purpose.

A script is an async function taking a :class:`Conn`; the server records
every byte each connection sent, so tests can assert what did (and did not)
leave the client.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import trustme

from tests.support.events import collect
from tui_mailsetup.engine.events import Event, Stage
from tui_mailsetup.engine.smtp import run_smtp
from tui_mailsetup.settings import MailSettings


class Conn:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.received = bytearray()
        self.commands: list[bytes] = []

    async def send(self, data: bytes | str) -> None:
        self.writer.write(data.encode() if isinstance(data, str) else data)
        await self.writer.drain()

    async def reply(self, *lines: str) -> None:
        await self.send("".join(line + "\r\n" for line in lines))

    async def readline(self) -> bytes:
        line = await self.reader.readline()
        self.received.extend(line)
        if line:
            self.commands.append(line.rstrip(b"\r\n"))
        return line

    async def expect(self, prefix: str) -> bytes:
        line = await self.readline()
        assert line.upper().startswith(prefix.upper().encode()), (prefix, line)
        return line

    async def start_tls(self, context: ssl.SSLContext) -> None:
        await self.writer.start_tls(context)

    async def drain_rest(self, limit: float = 5.0) -> None:
        """Record whatever else the client sends until it closes; answer QUIT like a server."""
        with contextlib.suppress(Exception):
            async with asyncio.timeout(limit):
                while line := await self.readline():
                    if line.upper().startswith(b"QUIT"):
                        await self.reply("221 bye")

    async def data_body(self) -> bytes:
        body = bytearray()
        while True:
            line = await self.readline()
            if not line or line == b".\r\n":
                return bytes(body)
            body.extend(line)


Script = Callable[[Conn], Awaitable[None]]


async def greet_and_ehlo(conn: Conn, *extensions: str) -> None:
    """A well-behaved start: the 220 greeting, then EHLO answered with ``extensions``."""
    await conn.reply("220 hostile.test ESMTP")
    await conn.expect("EHLO")
    lines = ["hostile.test", *extensions]
    await conn.reply(*[f"250-{line}" for line in lines[:-1]], f"250 {lines[-1]}")


class ScriptedServer:
    """Runs ``script`` for every connection.

    Leaving the ``async with`` block waits for every connection's script to
    finish (they end when the client closes: ``readline`` returns b""), so
    what the client sent can be asserted afterwards without sleeping. A
    script that fails (an ``expect`` that did not match) fails the test: the
    first failure is re-raised from ``__aexit__``.
    """

    HANDLER_GRACE = 5.0
    """Seconds ``__aexit__`` waits for scripts still running before it cancels them (and fails)."""

    def __init__(self, script: Script, host: str = "127.0.0.1") -> None:
        self.script = script
        self.host = host
        self.port = 0
        self.connections: list[Conn] = []
        self.failures: list[BaseException] = []
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[Any]] = set()

    async def __aenter__(self) -> ScriptedServer:
        self._server = await asyncio.start_server(self._handle, self.host, 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        pending: set[asyncio.Task[Any]] = set()
        if self._tasks and exc_type is None:
            _, pending = await asyncio.wait(set(self._tasks), timeout=self.HANDLER_GRACE)
        else:
            pending = set(self._tasks)
        for task in pending:
            task.cancel()
        for conn in self.connections:
            conn.writer.close()
        if pending:
            await asyncio.wait(pending)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._server.wait_closed(), 2)
        if exc_type is not None:
            return  # the test's own failure comes first
        if self.failures:
            raise self.failures[0]
        if pending:
            raise AssertionError(f"{len(pending)} script(s) still running after the client left")

    async def wait_handlers(self) -> None:
        """Wait until every connection so far has finished its script."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=self.HANDLER_GRACE)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = Conn(reader, writer)
        self.connections.append(conn)
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            await self.script(conn)
        except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError):
            pass  # the client hung up: that is what clients do
        except asyncio.CancelledError:
            raise
        except BaseException as exc:  # an expect() that did not match, a bug in the script
            self.failures.append(exc)
        finally:
            self._tasks.discard(task)
            with contextlib.suppress(Exception):
                writer.close()

    @property
    def first(self) -> Conn:
        return self.connections[0]

    def all_received(self) -> bytes:
        return b"".join(bytes(c.received) for c in self.connections)


@contextlib.contextmanager
def black_hole(host: str = "127.0.0.1") -> Iterator[int]:
    """A loopback port whose connection attempts hang (SYNs dropped), like a firewalled address.

    A listening socket that never accepts, with its accept queue filled:
    the kernel then drops further SYNs, so ``connect`` neither succeeds nor
    fails until its caller gives up.
    """
    import socket

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    fillers: list[socket.socket] = []
    try:
        listener.bind((host, 0))
        listener.listen(0)
        port = listener.getsockname()[1]
        for _ in range(3):
            filler = socket.socket(family, socket.SOCK_STREAM)
            filler.setblocking(False)
            fillers.append(filler)
            with contextlib.suppress(BlockingIOError):
                filler.connect((host, port))
        yield port
    finally:
        for filler in fillers:
            filler.close()
        listener.close()


class LocalCA:
    """A trustme CA with a server certificate for 127.0.0.1/::1/localhost."""

    def __init__(self, directory: Path) -> None:
        self.ca = trustme.CA()
        self.ca_path = directory / "ca.pem"
        self.ca.cert_pem.write_to_path(str(self.ca_path))
        self.leaf = self.ca.issue_cert("127.0.0.1", "::1", "localhost")

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.leaf.configure_cert(context)
        return context


def limit_to_tls10(context: ssl.SSLContext) -> None:
    """Make a server context speak TLS 1.0 only (an outdated server); skips the test when
    this OpenSSL cannot."""
    import warnings

    import pytest

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            context.minimum_version = ssl.TLSVersion.TLSv1
            context.maximum_version = ssl.TLSVersion.TLSv1
        context.set_ciphers("DEFAULT:@SECLEVEL=0")
    except (ValueError, ssl.SSLError) as exc:
        pytest.skip(f"this OpenSSL cannot be limited to TLS 1.0: {exc}")


def settings_for(port: int, **smtp: Any) -> MailSettings:
    values: dict[str, Any] = {"host": "127.0.0.1", "port": port, "timeout": 3, "encryption": "none"}
    values.update(smtp)
    return MailSettings(smtp=values, sender={"name": "Test", "address": "me@example.test"})


async def run_ladder(
    settings: MailSettings,
    password: str | None = None,
    *,
    message: Any = None,
    recipients: list[str] | None = None,
    stop_after: Stage | None = None,
    greeting_grace: float = 1.5,
) -> list[Event]:
    """The events of the SMTP ladder against ``settings`` (one recipient by default)."""
    return await collect(
        run_smtp(
            settings,
            password,
            message,
            recipients or ["you@example.test"],
            stop_after=stop_after,
            greeting_grace=greeting_grace,
        )
    )
