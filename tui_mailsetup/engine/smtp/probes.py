"""Side connections: the port-mismatch probes and the certificate re-inspection.

Each opens its own connection to the address the ladder connected to, sends
no credentials and no mail, and closes it; none resumes the ladder's
connection. They explain a failure (a port that speaks TLS, or plain text, or
a certificate that failed verification); they never decide the run.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from tui_mailsetup.engine import tls
from tui_mailsetup.engine.events import TlsDetails
from tui_mailsetup.engine.smtp.connection import open_socket
from tui_mailsetup.engine.smtp.errors import Failed
from tui_mailsetup.sanitize import untrusted_text

PROBE_READ_LIMIT = 2.0
"""Seconds a probe waits for a greeting line (always within the overall deadline)."""


@dataclass(frozen=True)
class Peer:
    """Where the ladder connected, and what a probe needs to talk to it again."""

    family: int
    address: Any
    """The socket address (as getaddrinfo gives it)."""
    host: str
    """The server's name: SNI, and what a certificate is checked against."""
    port: int
    """The configured port (for the evidence's wording)."""
    remaining: Callable[[], float]
    """Seconds left before the run's deadline."""
    note: Callable[[str], None]
    """Adds a note to the transcript."""


async def probe_tls(peer: Peer) -> str | None:
    """Does this port answer a TLS handshake? Returns evidence, or None. Sends no SMTP."""
    writer: asyncio.StreamWriter | None = None
    try:
        async with asyncio.timeout(peer.remaining()):
            sock = await open_socket(peer.family, peer.address)
            reader, writer = await asyncio.open_connection(
                sock=sock,
                ssl=tls.probe_context(),
                server_hostname=peer.host,
                ssl_handshake_timeout=peer.remaining(),
            )
            ssl_object = writer.get_extra_info("ssl_object")
            version = ssl_object.version() if ssl_object is not None else "TLS"
            evidence = f"a TLS handshake on port {peer.port} succeeded ({version})"
            with contextlib.suppress(Exception):
                async with asyncio.timeout(min(PROBE_READ_LIMIT, peer.remaining())):
                    line = await reader.readline()
                if line:
                    evidence += f" and the server then said: {untrusted_text(line[:200])}"
            peer.note(f"probe: {evidence}")
            return evidence
    except (OSError, ssl.SSLError, TimeoutError, EOFError):
        return None
    finally:
        if writer is not None:
            writer.close()


async def probe_plain(peer: Peer) -> str | None:
    """After a failed implicit-TLS handshake: does the port greet in plain text?"""
    writer: asyncio.StreamWriter | None = None
    try:
        async with asyncio.timeout(min(PROBE_READ_LIMIT, peer.remaining())):
            sock = await open_socket(peer.family, peer.address)
            reader, writer = await asyncio.open_connection(sock=sock)
            line = await reader.readline()
    except (OSError, TimeoutError, EOFError):
        return None
    finally:
        if writer is not None:
            writer.close()
    if line[:3] in (b"220", b"421", b"554"):
        text = untrusted_text(line[:200])
        peer.note(f"probe: port {peer.port} greets in plain text: {text}")
        return f"the server greeted in plain text: {text}"
    return None


async def inspect_certificate(
    peer: Peer,
    error: ssl.SSLCertVerificationError,
    *,
    starttls: bool,
    ehlo_name: Callable[[], Awaitable[str]],
) -> TlsDetails | None:
    """Fetch the certificate that failed verification, to show it and offer pinning.

    A separate connection that only completes a handshake (after a plain
    EHLO and STARTTLS when ``starttls``) and then closes: no credentials, no
    mail. The failed connection is never resumed.
    """
    writer: asyncio.StreamWriter | None = None
    try:
        async with asyncio.timeout(min(3.0, peer.remaining())):
            sock = await open_socket(peer.family, peer.address)
            if not starttls:
                _, writer = await asyncio.open_connection(
                    sock=sock, ssl=tls.probe_context(), server_hostname=peer.host
                )
            else:
                reader, writer = await asyncio.open_connection(sock=sock)
                await read_reply(reader)
                writer.write(b"EHLO " + (await ehlo_name()).encode("ascii") + b"\r\n")
                await read_reply(reader)
                writer.write(b"STARTTLS\r\n")
                if not (await read_reply(reader)).startswith(b"220"):
                    return None
                await writer.start_tls(tls.probe_context(), server_hostname=peer.host)
            ssl_object = writer.get_extra_info("ssl_object")
            return tls.describe(
                ssl_object,
                verified=False,
                verify_message=untrusted_text(str(getattr(error, "verify_message", "") or error)),
            )
    except (OSError, ssl.SSLError, TimeoutError, EOFError, Failed):
        return None
    finally:
        if writer is not None:
            writer.close()


async def read_reply(reader: asyncio.StreamReader) -> bytes:
    """A whole (possibly multi-line) reply's first line, for the certificate inspection only."""
    first = b""
    for _ in range(200):
        line = await reader.readline()
        if not line:
            raise EOFError("connection closed")
        first = first or line
        if line[3:4] != b"-":
            return first
    raise EOFError("reply too long")
