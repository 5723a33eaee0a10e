"""The transcript protocol: aiosmtplib's protocol, every byte in and out an event.

:class:`TranscriptProtocol` overrides ``write`` (every byte the client sends
goes through it) and ``data_received`` (every byte the server sends arrives
through it); with ``start_tls``/``read_response``/``execute_command``/
``execute_data_command`` that is the aiosmtplib surface the engine relies on
(pinned by tests/unit/test_aiosmtplib_surface.py and by pyproject's version range).
"""

from __future__ import annotations

import asyncio
import enum
import ssl
from collections.abc import Callable
from typing import Any

from aiosmtplib.errors import SMTPServerDisconnected
from aiosmtplib.protocol import SMTPProtocol
from aiosmtplib.response import SMTPResponse

from tui_mailsetup.engine.events import Direction, Event, TranscriptLine
from tui_mailsetup.engine.smtp.errors import HandshakeDropped, RepliesOutOfStep, reason
from tui_mailsetup.sanitize import untrusted_text

MAX_LINES_PER_REPLY = 40
"""Transcript lines shown per reply; an endless continuation is summarised after this."""
MAX_BODY_LINES = 80
MAX_LINE_BYTES = 8192


class StartTlsState(enum.Enum):
    """Where a STARTTLS exchange is: its reply is the last thing the client may read in clear."""

    IDLE = enum.auto()
    """No STARTTLS under way."""
    AWAITING_REPLY = enum.auto()
    """STARTTLS sent, its reply (the 220) not yet complete."""
    REPLIED = enum.auto()
    """The reply came: any further plain-text line is injected (shown, flagged, ignored)."""


class TranscriptProtocol(SMTPProtocol):
    """aiosmtplib's protocol, with every byte in and out turned into transcript events."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        emit: Callable[[Event], None],
    ) -> None:
        super().__init__(loop=loop)
        self._emit = emit
        self.encrypted = False
        self.auth_label: str | None = None
        """While AUTH runs: "PLAIN as alice"; sent lines and 334 challenges become placeholders."""
        self.expect_body = False
        self._rx = bytearray()
        self._skipping_long_line = False
        self._reply_lines = 0
        self._suppressed = 0
        self._starttls_state = StartTlsState.IDLE
        self.received_text: list[str] = []
        """The last few received lines, for a diagnosis's evidence (timeouts, drops)."""

    # -- sent ---------------------------------------------------------------

    def write(self, data: bytes) -> None:
        if self._buffer:
            # A reply arrived with (or after) the previous one and nothing has read it:
            # the answer to this command would be misread. Nothing is sent.
            raise RepliesOutOfStep(bytes(self._buffer[:300]))
        super().write(data)
        self._flush_suppressed(reset=False)
        if self.expect_body and data != b"DATA\r\n":
            self.expect_body = False
            self._emit_body(data)
            return
        lines = data.split(b"\r\n")
        if lines and lines[-1] == b"":
            lines.pop()
        for index, line in enumerate(lines):
            if self.auth_label is not None:
                if line.upper().startswith(b"AUTH ") and index == 0:
                    mechanism = line.split(b" ")[1].decode("ascii", "replace").upper()
                    text = f"AUTH {mechanism} [credentials for {self.auth_label} redacted]"
                else:
                    text = f"[AUTH response for {self.auth_label} redacted]"
                self._line(Direction.SENT, text)
            else:
                self._line(Direction.SENT, untrusted_text(line))

    def _emit_body(self, data: bytes) -> None:
        lines = data.split(b"\r\n")
        if lines and lines[-1] == b"":
            lines.pop()
        shown = lines[:MAX_BODY_LINES]
        if len(lines) > MAX_BODY_LINES and lines[-1] == b".":
            shown = lines[: MAX_BODY_LINES - 1]
        for line in shown:
            self._line(Direction.SENT, untrusted_text(line))
        hidden = len(lines) - len(shown)
        if hidden > 1:
            self._line(
                Direction.NOTE, f"… {hidden - 1} more message lines ({len(data)} bytes in all)"
            )
            self._line(Direction.SENT, ".")
        elif hidden == 1:
            self._line(Direction.SENT, untrusted_text(lines[-1]))

    # -- received -------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        self._capture(data)
        super().data_received(data)

    def _capture(self, data: bytes) -> None:
        self._rx.extend(data)
        while True:
            end = self._rx.find(b"\n")
            if end == -1:
                if len(self._rx) > MAX_LINE_BYTES:
                    # A line with no end in sight: show its start once, drop the rest.
                    if not self._skipping_long_line:
                        self._received_line(bytes(self._rx[:200]) + b" [line over 8 KB, cut]")
                    self._skipping_long_line = True
                    del self._rx[:]
                return
            line = bytes(self._rx[:end]).rstrip(b"\r")
            del self._rx[: end + 1]
            if self._skipping_long_line:
                self._skipping_long_line = False
                continue
            if len(line) > MAX_LINE_BYTES:
                line = line[:200] + b" [line over 8 KB, cut]"
            self._received_line(line)

    def _received_line(self, line: bytes) -> None:
        final = line[3:4] != b"-"
        self._reply_lines += 1
        if self._reply_lines > MAX_LINES_PER_REPLY:
            self._suppressed += 1
        else:
            if self.auth_label is not None and line.startswith(b"334"):
                text = f"334 [AUTH challenge for {self.auth_label}]"
            else:
                text = untrusted_text(line)
            self._line(Direction.RECEIVED, text)
            self.received_text = [*self.received_text[-4:], text]
            if self._starttls_state is StartTlsState.REPLIED:
                self._line(
                    Direction.NOTE,
                    "ignored: sent in plain text after the STARTTLS reply (possible injection)",
                )
        if final:
            if self._starttls_state is StartTlsState.AWAITING_REPLY:
                self._starttls_state = StartTlsState.REPLIED
            self._flush_suppressed()

    def _flush_suppressed(self, *, reset: bool = True) -> None:
        if self._suppressed:
            self._line(Direction.NOTE, f"… {self._suppressed} more reply lines not shown")
        self._suppressed = 0
        if reset:
            # Only a reply's final line starts the count again: a server that
            # never ends its reply stays summarised, whatever the client sends.
            self._reply_lines = 0

    def pending_text(self) -> str:
        """Bytes received that do not yet form a line (a greeting trickling in)."""
        return untrusted_text(bytes(self._rx[:200])) if self._rx else ""

    def finish_capture(self) -> None:
        """Emit what is still buffered (a partial line, a count of hidden lines)."""
        if self._rx and not self._skipping_long_line:
            self._received_line(bytes(self._rx))
        del self._rx[:]
        self._flush_suppressed()

    def connection_lost(self, exc: Exception | None) -> None:
        self.finish_capture()
        super().connection_lost(exc)

    def _line(self, direction: Direction, text: str) -> None:
        self._emit(TranscriptLine(direction, text, self.encrypted))

    # -- TLS ------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self.encrypted = transport.get_extra_info("sslcontext") is not None

    async def start_tls(
        self,
        tls_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 (aiosmtplib's signature)
    ) -> SMTPResponse:
        self._starttls_state = StartTlsState.AWAITING_REPLY
        try:
            response = await super().start_tls(tls_context, server_hostname, timeout)
        except (SMTPServerDisconnected, ConnectionError, EOFError) as exc:
            if self._starttls_state is StartTlsState.REPLIED:
                # The 220 came, then the server hung up inside the handshake.
                raise HandshakeDropped(reason(exc)) from exc
            raise
        finally:
            self._starttls_state = StartTlsState.IDLE
        self.encrypted = True
        return response

    def ssl_object(self) -> Any:
        return self.transport.get_extra_info("ssl_object") if self.transport else None
