"""The SMTP engine: one test conversation, streamed as typed events.

Built on aiosmtplib's protocol layer (``aiosmtplib.protocol.SMTPProtocol``:
reply parsing with size limits, dot-stuffing, command-injection checks, the
STARTTLS buffer flush against injection) rather than on its ``SMTP`` client
class, whose conveniences are exactly what a diagnostic client must not do:
upgrade or stay in plain text on its own, fall back from EHLO to HELO, or try
AUTH mechanism after mechanism. Every stage is driven here, one at a time.

The transcript comes from :class:`TranscriptProtocol`, a subclass that
overrides ``write`` (every byte the client sends goes through it) and
``data_received`` (every byte the server sends arrives through it). Those two
methods and ``start_tls``/``read_response``/``execute_command``/
``execute_data_command`` are the aiosmtplib surface this module relies on;
pyproject pins the range it was tested with (>=5.1.2,<5.2).

Security rules enforced here (PRODUCT.md): the configured encryption is the
encryption used; verification is never relaxed on a retry; credentials never
travel in plain text unless ``allow_plaintext_auth``; exactly one AUTH attempt;
no secret (raw or base64) in any event; server text always sanitised.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import re
import socket
import ssl
import threading
import time
from collections.abc import AsyncIterator, Callable
from email.message import EmailMessage
from typing import Any, NoReturn

from aiosmtplib.auth import (
    auth_crammd5_verify,
    auth_login_encode,
    auth_plain_encode,
    auth_xoauth2_encode,
)
from aiosmtplib.email import flatten_message, quote_address
from aiosmtplib.errors import (
    SMTPDataError,
    SMTPResponseException,
    SMTPServerDisconnected,
    SMTPTimeoutError,
)
from aiosmtplib.esmtp import parse_esmtp_extensions
from aiosmtplib.protocol import SMTPProtocol
from aiosmtplib.response import SMTPResponse

from tui_mailsetup.engine import diagnosis as diag
from tui_mailsetup.engine import tls
from tui_mailsetup.engine.events import (
    Diagnosis,
    Direction,
    Event,
    Outcome,
    ServerCapabilities,
    Stage,
    StageFinished,
    StageStarted,
    TlsDetails,
    TranscriptLine,
)
from tui_mailsetup.exitcodes import ExitCode
from tui_mailsetup.names import (
    FingerprintFormatError,
    address_literal,
    normalize_fingerprint,
    parse_host,
    validate_ehlo_name,
)
from tui_mailsetup.sanitize import untrusted_text
from tui_mailsetup.settings import AuthMechanism, Encryption, MailSettings

QUIT_GRACE = 3.0
"""Seconds QUIT may take once the message was accepted (outside the overall deadline)."""
GREETING_GRACE = 1.5
"""Seconds without a greeting before probing whether the port expects implicit TLS."""
PROBE_READ_LIMIT = 2.0
"""Seconds a probe waits for a greeting line (always within the overall deadline)."""
MAX_LINES_PER_REPLY = 40
"""Transcript lines shown per reply; an endless continuation is summarised after this."""
MAX_BODY_LINES = 80
MAX_LINE_BYTES = 8192
HAPPY_EYEBALLS_DELAY = 0.25
"""Seconds before the next address is tried while the previous attempt is still pending."""
AUTO_PREFERENCE = ("CRAM-MD5", "PLAIN", "LOGIN")
"""auto's order: CRAM-MD5 never reveals the password, even to the server."""
BEARER_MECHANISMS = frozenset({"XOAUTH2", "OAUTHBEARER"})
"""Mechanisms whose secret is an OAuth2 access token."""

_ORDER = [
    Stage.CONFIG,
    Stage.RESOLVE,
    Stage.CONNECT,
    Stage.TLS,
    Stage.GREETING,
    Stage.EHLO,
    Stage.STARTTLS,
    Stage.EHLO_AGAIN,
    Stage.AUTH,
    Stage.MAIL,
    Stage.RCPT,
    Stage.DATA,
    Stage.QUIT,
]


def server_text(text: str, *, limit: int = 2000) -> str:
    """:func:`untrusted_text` for a str that aiosmtplib decoded with ``surrogateescape``.

    Bytes that were not UTF-8 arrive as lone surrogates (``\\udc9b``): turn
    them into U+FFFD first, as undecodable bytes always are, so that neither a
    C1 control nor an unprintable surrogate survives.
    """
    return untrusted_text(text.encode("utf-8", "surrogatepass"), limit=limit)


def _encryption_stage(stop_after: Stage | None, encryption: Encryption) -> Stage | None:
    """``--quit-after tls`` or ``starttls`` means "once encryption is up", whichever way.

    For ``starttls`` that is the STARTTLS stage (TLS, the implicit handshake,
    comes before the greeting and never happens); for ``tls`` the handshake;
    for ``none`` the EHLO where STARTTLS would have been.
    """
    if stop_after not in (Stage.TLS, Stage.STARTTLS):
        return stop_after
    return {
        Encryption.STARTTLS: Stage.STARTTLS,
        Encryption.TLS: Stage.TLS,
        Encryption.NONE: Stage.EHLO,
    }[encryption]


def stage_index(stage: Stage) -> int:
    return _ORDER.index(stage) if stage in _ORDER else len(_ORDER)


# --------------------------------------------------------------------------- redaction


class Redactor:
    """Removes every known form of the secret from text before it becomes an event.

    The rule (the secret never appears; reply codes are never corrupted):

    - encoded forms (base64 of the password, of the whole PLAIN/XOAUTH2 blob,
      the LOGIN and CRAM-MD5 answers, and the base64 "cores" that appear
      inside any longer blob) are redacted everywhere, always;
    - the raw password, the escaped form :func:`untrusted_text` gives it (a tab
      shows as ``\\t``, a C1 or bidi control as ``\\x85``/``\\u202e``) and the
      forms it takes when a server echoes it in Latin-1 or Windows-1252 (as
      raw bytes, as U+FFFD or as escaped surrogates), are redacted everywhere
      when the password has at least ``SHORT`` characters;
    - a shorter raw password (1 to 3 characters, where blanking every match
      would wreck the transcript: "2" is in every reply code) is redacted only
      in server text during AUTH (``scrub(..., auth=True)``), where a server
      echoing the password would put it;
    - a raw form is never replaced inside a protocol token: a reply code with
      its enhanced status (``535 5.7.8``) or a command verb (``QUIT``) at the
      start of a line or of a `` / ``-joined segment, nor inside a placeholder
      left by an earlier pass. So a password equal to ``250``, ``2.0.0`` or
      ``QUIT`` is removed where a server echoes it, and the codes stay intact.

    The AUTH lines the client sends are placeholders anyway (TranscriptProtocol).
    """

    PLACEHOLDER = "********"
    SHORT = 4
    """Raw secrets shorter than this are only redacted in AUTH-stage server text."""
    _PROTECTED = re.compile(
        r"(?:^|(?<= / ))(?:\d{3}(?:[ -]\d\.\d{1,3}\.\d{1,3})?"
        r"|(?:EHLO|HELO|STARTTLS|AUTH|MAIL FROM|RCPT TO|DATA|QUIT|RSET|NOOP)\b)"
        r"|\*{8}",
        re.IGNORECASE,
    )
    _ECHO_ENCODINGS = ("latin-1", "cp1252")

    def __init__(self) -> None:
        self._encoded: list[str] = []
        self._raw: list[str] = []
        self._short: list[str] = []

    @staticmethod
    def _forms(text: str) -> list[str]:
        escaped = untrusted_text(text, limit=len(text) + 1)
        return [text] if escaped == text else [text, escaped]

    @staticmethod
    def _echo_forms(password: str) -> list[str]:
        """The password as text after a server echoed it in a legacy 8-bit encoding."""
        forms: list[str] = []
        for encoding in Redactor._ECHO_ENCODINGS:
            try:
                data = password.encode(encoding)
            except UnicodeEncodeError:
                continue
            if data == password.encode("utf-8"):
                continue  # ASCII: the same bytes, nothing new to look for
            decoded = data.decode("utf-8", "surrogateescape")  # as aiosmtplib decodes replies
            forms += [
                decoded,
                untrusted_text(data, limit=len(data) + 1),  # the transcript's path
                server_text(decoded, limit=4 * len(data) + 1),  # the diagnosis's path
                untrusted_text(decoded, limit=4 * len(data) + 1),
            ]
        return forms

    @staticmethod
    def _remember(target: list[str], forms: list[str]) -> None:
        for form in forms:
            if form and form not in target:
                target.append(form)
        # Longest first, so a secret that contains another is removed whole.
        target.sort(key=len, reverse=True)

    def add(self, value: str | bytes | None) -> None:
        """An encoded form (base64 blob, challenge answer): redacted everywhere."""
        if not value:
            return
        text = value.decode("utf-8", "replace") if isinstance(value, bytes) else value
        self._remember(self._encoded, self._forms(text))

    def add_password(self, password: str) -> None:
        raw = password.encode("utf-8")
        forms = self._forms(password) + self._echo_forms(password)
        self._remember(self._short if len(password) < self.SHORT else self._raw, forms)
        self._remember(self._encoded, [base64.b64encode(raw).decode("ascii")])
        # Inside a longer base64 blob the password's encoding depends on its
        # offset mod 3; the groups made only of password bytes are the same
        # whatever surrounds them, so redact those cores as well.
        for offset in (0, 1, 2):
            encoded = base64.b64encode(b"\0" * offset + raw).decode("ascii")
            start = 4 if offset else 0  # the first group mixes in preceding bytes
            end = ((offset + len(raw)) // 3) * 4  # a last partial group mixes in following ones
            core = encoded[start:end]
            if len(core) >= 4:
                self._remember(self._encoded, [core])

    def scrub(self, text: str, *, auth: bool = False) -> str:
        for secret in self._encoded:
            if secret in text:
                text = self._replace(text, secret, protect=False)
        for secret in self._raw + (self._short if auth else []):
            if secret in text:
                text = self._replace(text, secret, protect=True)
        return text

    def _replace(self, text: str, secret: str, *, protect: bool) -> str:
        """Every occurrence of ``secret`` becomes the placeholder, except one lying wholly
        inside a protected token (a reply code, a verb, an earlier placeholder)."""
        spans = [m.span() for m in self._PROTECTED.finditer(text)] if protect else []
        if not protect:
            spans = [m.span() for m in re.finditer(re.escape(self.PLACEHOLDER), text)]
        parts: list[str] = []
        position = search = 0
        while (found := text.find(secret, search)) != -1:
            end = found + len(secret)
            if any(a <= found and end <= b for a, b in spans):
                search = found + 1
                continue
            parts += [text[position:found], self.PLACEHOLDER]
            position = search = end
        parts.append(text[position:])
        return "".join(parts)


# --------------------------------------------------------------------------- the protocol


class RepliesOutOfStep(Exception):
    """The server sent a reply nobody asked for: it sits unread when the next command goes."""

    def __init__(self, stray: bytes) -> None:
        super().__init__(stray.decode("utf-8", "replace"))
        self.stray = stray


class HandshakeDropped(Exception):
    """The connection ended during the STARTTLS handshake (after the server's 220)."""


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
        self._starttls_state = (
            0  # 0 idle, 1 waiting for the 220, 2 got it (anything more is injected)
        )
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
            if self._starttls_state == 2:
                self._line(
                    Direction.NOTE,
                    "ignored: sent in plain text after the STARTTLS reply (possible injection)",
                )
        if final:
            if self._starttls_state == 1:
                self._starttls_state = 2
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
        self._starttls_state = 1
        try:
            response = await super().start_tls(tls_context, server_hostname, timeout)
        except (SMTPServerDisconnected, ConnectionError, EOFError) as exc:
            if self._starttls_state == 2:
                # The 220 came, then the server hung up inside the handshake.
                raise HandshakeDropped(_reason(exc)) from exc
            raise
        finally:
            self._starttls_state = 0
        self.encrypted = True
        return response

    def ssl_object(self) -> Any:
        return self.transport.get_extra_info("ssl_object") if self.transport else None


# --------------------------------------------------------------------------- the conversation


class _Failed(Exception):
    def __init__(self, diagnosis: Diagnosis) -> None:
        super().__init__(diagnosis.cause)
        self.diagnosis = diagnosis


class _Stop(Exception):
    """The ladder reached ``stop_after``."""


class Conversation:
    """One run of the ladder. Use :func:`run_smtp`; this class holds its state."""

    def __init__(
        self,
        settings: MailSettings,
        password: str | None,
        message: EmailMessage | None,
        recipients: list[str],
        *,
        stop_after: Stage | None = None,
        greeting_grace: float = GREETING_GRACE,
        addresses: list[str] | None = None,
        tls_context: ssl.SSLContext | None = None,
    ) -> None:
        self.settings = settings
        self.given_addresses = addresses
        """smtp.host's addresses, already resolved by the caller (detect's resolver)."""
        if tls_context is not None:
            # A context the caller built from these settings and shares between runs.
            self._context_future = asyncio.get_running_loop().create_future()
            self._context_future.set_result(tls_context)
        self.smtp = settings.smtp
        self.password = password
        self.message = message
        self.recipients = list(recipients)
        self.stop_after = _encryption_stage(stop_after, settings.smtp.encryption)
        self.greeting_grace = greeting_grace
        self.queue: asyncio.Queue[Event | None] = asyncio.Queue()
        self.redactor = Redactor()
        if password:
            self.redactor.add_password(password)
        self.stage = Stage.RESOLVE
        self.last_finished: Stage | None = None
        self.started = time.monotonic()
        self.protocol: TranscriptProtocol | None = None
        self.host = ""
        self.peer: tuple[Any, ...] | None = None
        self.family: int = socket.AF_INET
        self.capabilities: dict[str, str] = {}
        self.auth_mechanisms: list[str] = []
        self.authenticated = False
        self.trusted = False
        """TLS is up and passed its trust decision (verification or the pin): only then
        may anything, even a polite QUIT, travel inside it."""
        self.probes: list[asyncio.Task[Any]] = []
        self._fqdn: asyncio.Future[str] | None = None
        self._deadline = 0.0
        self._stage_started = time.monotonic()
        self._sock: socket.socket | None = None

    # -- events ---------------------------------------------------------------

    def emit(self, event: Event) -> None:
        self.queue.put_nowait(self._scrubbed(event))

    def _scrubbed(self, event: Event) -> Event:
        """The single exit for events: every text is redacted and sanitised here.

        Redaction runs before and after sanitising (the raw and the escaped
        forms of a secret are both known), and sanitising is the backstop for
        any text that reached an event without :func:`untrusted_text`.
        """

        def clean(text: str, *, auth: bool = False) -> str:
            scrub = self.redactor.scrub
            return scrub(server_text(scrub(text, auth=auth)), auth=auth)

        if isinstance(event, TranscriptLine):
            in_auth = self.stage == Stage.AUTH and event.direction == Direction.RECEIVED
            return TranscriptLine(
                event.direction, clean(event.text, auth=in_auth), event.encrypted, event.at
            )
        if isinstance(event, StageFinished):
            detail = clean(event.detail, auth=event.stage == Stage.AUTH)
            return StageFinished(event.stage, event.ok, event.elapsed, detail)
        if isinstance(event, Outcome) and event.diagnosis is not None:
            d = event.diagnosis
            in_auth = d.stage == Stage.AUTH
            diagnosis = Diagnosis(
                stage=d.stage,
                cause=clean(d.cause, auth=in_auth),
                evidence=clean(d.evidence, auth=in_auth),
                explanation=clean(d.explanation, auth=in_auth),
                fix=d.fix,
                exit_code=d.exit_code,
                retry_after=d.retry_after,
            )
            return Outcome(
                event.ok,
                event.stage,
                event.elapsed,
                diagnosis,
                event.message_id,
                event.recipients,
                tuple(clean(w) for w in event.warnings),
            )
        return event

    def note(self, text: str) -> None:
        encrypted = self.protocol.encrypted if self.protocol else False
        self.emit(TranscriptLine(Direction.NOTE, text, encrypted))

    def begin(self, stage: Stage) -> float:
        if self.stop_after is not None and stage_index(stage) > stage_index(self.stop_after):
            raise _Stop
        self.stage = stage
        self.emit(StageStarted(stage))
        self._stage_started = time.monotonic()
        return self._stage_started

    def finish(self, stage: Stage, started: float, detail: str = "", *, ok: bool = True) -> None:
        self.emit(StageFinished(stage, ok, time.monotonic() - started, detail))
        if ok:
            self.last_finished = stage

    def fail(self, diagnosis: Diagnosis) -> NoReturn:
        raise _Failed(diagnosis)

    def remaining(self) -> float:
        return max(0.05, self._deadline - asyncio.get_running_loop().time())

    # -- the whole run ---------------------------------------------------------

    async def run(self) -> None:
        outcome: Outcome
        loop = asyncio.get_running_loop()
        self._deadline = loop.time() + float(self.smtp.timeout)
        try:
            try:
                async with asyncio.timeout_at(self._deadline):
                    await self._ladder()
                outcome = await self._final_quit()
            except _Stop:
                await self._quit_quietly()
                outcome = self._outcome(ok=True, stage=self.last_finished or Stage.RESOLVE)
            except _Failed as failure:
                outcome = await self._failed(failure.diagnosis)
            except TimeoutError:
                outcome = await self._failed(self._timeout_diagnosis())
            except RepliesOutOfStep as exc:
                outcome = await self._failed(
                    diag.out_of_step(self.stage, server_text(str(exc))), polite=False
                )
            except HandshakeDropped as exc:
                outcome = await self._failed(
                    diag.tls_dropped(Stage.STARTTLS, str(exc)), polite=False
                )
            except (SMTPServerDisconnected, ConnectionError, EOFError) as exc:
                outcome = await self._failed(diag.dropped(self.stage, _reason(exc)), polite=False)
            except SMTPResponseException as exc:
                if exc.code < 0:
                    outcome = await self._failed(
                        diag.malformed_reply(self.stage, exc.message), polite=False
                    )
                else:
                    outcome = await self._failed(self._reply_diagnosis(exc.code, exc.message))
            except ssl.SSLError as exc:
                outcome = await self._failed(diag.tls_failed(self.stage, exc), polite=False)
            except OSError as exc:
                outcome = await self._failed(diag.dropped(self.stage, _reason(exc)), polite=False)
            except Exception as exc:  # a bug must still end the stream with an Outcome
                outcome = await self._failed(
                    Diagnosis(
                        self.stage,
                        f"Internal error during {self.stage.label}: {type(exc).__name__}",
                        evidence=untrusted_text(str(exc)),
                        exit_code=ExitCode.TEMPFAIL,
                    ),
                    polite=False,
                )
        finally:
            self._close()
        self.emit(outcome)
        self.queue.put_nowait(None)

    def _outcome(
        self,
        *,
        ok: bool,
        stage: Stage,
        diagnosis: Diagnosis | None = None,
        warnings: tuple[str, ...] = (),
    ) -> Outcome:
        message_id = ""
        if self.message is not None and ok and stage == Stage.QUIT:
            message_id = str(self.message.get("Message-ID", ""))
        return Outcome(
            ok=ok,
            stage=stage,
            elapsed=time.monotonic() - self.started,
            diagnosis=diagnosis,
            message_id=message_id,
            recipients=tuple(self.recipients),
            warnings=warnings,
        )

    async def _final_quit(self) -> Outcome:
        """QUIT after the server accepted the message (250 after DATA).

        Outside the conversation's deadline and with its own short one: the
        message is the server's now, so nothing that happens to QUIT (no
        answer, a drop, a garbled reply) turns the run into a failure that a
        retrying script would answer with a duplicate. It becomes a warning.
        """
        protocol = self.protocol
        assert protocol is not None
        self.stage = Stage.QUIT
        self.emit(StageStarted(Stage.QUIT))
        started = time.monotonic()
        grace = min(QUIT_GRACE, max(0.5, self._deadline - _now()))
        problem = ""
        try:
            async with asyncio.timeout(grace):
                response = await protocol.execute_command(b"QUIT")
        except TimeoutError:
            problem = f"no answer within {grace:g} s"
        except Exception as exc:
            problem = server_text(_reason(exc), limit=200)
        else:
            if response.code != 221:
                problem = (
                    f"answered {server_text(f'{response.code} {response.message}', limit=200)}"
                )
        if not problem:
            self.finish(Stage.QUIT, started, str(response.code))
            return self._outcome(ok=True, stage=Stage.QUIT)
        self.emit(StageFinished(Stage.QUIT, False, time.monotonic() - started, problem))
        warning = (
            f"the server accepted the message (250 after DATA) but QUIT went unanswered "
            f"({problem}); the message was sent, do not send it again"
        )
        self.note(warning)
        return self._outcome(ok=True, stage=Stage.QUIT, warnings=(warning,))

    async def _failed(self, diagnosis: Diagnosis, *, polite: bool = True) -> Outcome:
        self.emit(
            StageFinished(
                diagnosis.stage, False, time.monotonic() - self._stage_started, diagnosis.cause
            )
        )
        # A polite QUIT only where the session is in a known state and either
        # plain text is what was asked for or TLS is up and trusted: after a
        # refused STARTTLS nothing more may be sent in plain text, and after a
        # pin mismatch nothing may be sent to the certificate that failed it.
        protocol = self.protocol
        if (
            polite
            and protocol is not None
            and protocol.is_connected
            and stage_index(diagnosis.stage) >= stage_index(Stage.EHLO)
            and (self.trusted or self.smtp.encryption == Encryption.NONE)
            and diagnosis.exit_code != ExitCode.TEMPFAIL
        ):
            with contextlib.suppress(Exception):
                async with asyncio.timeout(min(1.0, max(0.05, self._deadline - _now()))):
                    await protocol.execute_command(b"QUIT")
        return self._outcome(ok=False, stage=diagnosis.stage, diagnosis=diagnosis)

    def _close(self) -> None:
        for probe in self.probes:
            probe.cancel()
        if self._fqdn is not None:
            self._fqdn.cancel()
        if self._context_future is not None:
            self._context_future.cancel()
        if self.protocol is not None:
            # connection_lost() runs on a later loop iteration, after the
            # Outcome: flush the transcript now so nothing lands after it.
            self.protocol.finish_capture()
            if self.protocol.transport is not None:
                self.protocol.transport.close()
        if self._sock is not None and (self.protocol is None or self.protocol.transport is None):
            self._sock.close()

    def _timeout_diagnosis(self) -> Diagnosis:
        timeout = float(self.smtp.timeout)
        received = ""
        if self.protocol is not None:
            received = " / ".join(self.protocol.received_text[-2:])
            if pending := self.protocol.pending_text():
                received = (received + " / " if received else "") + f"partial: {pending}"
        if self.stage == Stage.RESOLVE:
            return diag.resolve_timeout(self.host or self.smtp.host, timeout)
        if self.stage == Stage.CONNECT:
            return diag.connect_timeout(self.host, self.smtp.port)
        if self.stage == Stage.GREETING:
            return diag.no_greeting(self.smtp.port, received, timeout, probed=bool(self.probes))
        return diag.timed_out(self.stage, timeout, received)

    def _reply_diagnosis(self, code: int, message: str) -> Diagnosis:
        return diag.from_reply(
            self.stage,
            code,
            message,
            self.settings,
            mechanism=self._mechanism_used,
            authenticated=self.authenticated,
        )

    _mechanism_used = ""

    async def _quit_quietly(self) -> None:
        protocol = self.protocol
        if (
            protocol is None
            or not protocol.is_connected
            or self.last_finished in (None, Stage.CONNECT, Stage.TLS)
        ):
            return
        self.emit(StageStarted(Stage.QUIT))  # not begin(): stop_after is what brought us here
        started = time.monotonic()
        try:
            async with asyncio.timeout(min(2.0, max(0.05, self._deadline - _now()))):
                response = await protocol.execute_command(b"QUIT")
            self.emit(
                StageFinished(Stage.QUIT, True, time.monotonic() - started, str(response.code))
            )
        except Exception as exc:
            self.emit(StageFinished(Stage.QUIT, False, time.monotonic() - started, _reason(exc)))

    # -- the ladder -------------------------------------------------------------

    def _check_config(self) -> None:
        """Settings the ladder cannot use are refused before any network I/O."""
        pinned = self.smtp.fingerprint.strip()
        if pinned and self.smtp.encryption != Encryption.NONE:
            try:
                normalize_fingerprint(pinned)
            except FingerprintFormatError as exc:
                self.begin(Stage.CONFIG)
                self.fail(diag.bad_fingerprint(pinned, str(exc)))

    async def _ladder(self) -> None:
        self._check_config()
        if self.smtp.encryption != Encryption.NONE and self._context_future is None:
            # Loading the system trust store takes tens of milliseconds: do it
            # in a thread while DNS, TCP and the greeting happen.
            self._context_future = asyncio.ensure_future(
                asyncio.to_thread(tls.build_context, self.smtp)
            )
        await self._resolve()
        sock = await self._connect()
        await self._open(sock)
        await self._greeting()
        await self._ehlo(Stage.EHLO)
        if self.smtp.encryption == Encryption.STARTTLS:
            await self._starttls()
            await self._ehlo(Stage.EHLO_AGAIN)
        elif self.smtp.encryption == Encryption.NONE and "starttls" in self.capabilities:
            self.note(
                "the server offers STARTTLS, but encryption = none: "
                "continuing in plain text as configured"
            )
        if self.smtp.username:
            await self._auth()
        if self.message is None:
            # A ladder without a message ends after AUTH (what `check` does).
            raise _Stop
        await self._send()
        if self.stop_after is not None and stage_index(Stage.QUIT) > stage_index(self.stop_after):
            raise _Stop
        # QUIT is run()'s (_final_quit): after 250 the message is accepted whatever QUIT does.

    async def _resolve(self) -> None:
        started = self.begin(Stage.RESOLVE)
        try:
            self.host = parse_host(self.smtp.host)[0]
        except ValueError as exc:
            self.fail(diag.bad_host(self.smtp.host, str(exc)))
        if not self.smtp.ehlo_name.strip():
            # socket.getfqdn() may do a slow reverse lookup: start it now, in a thread.
            self._fqdn = _in_daemon_thread(socket.getfqdn)
        loop = asyncio.get_running_loop()
        try:
            if self.given_addresses:  # detect's probes: addresses from its own resolver
                infos = [
                    info
                    for name in self.given_addresses
                    for info in await loop.getaddrinfo(
                        name, self.smtp.port, type=socket.SOCK_STREAM
                    )
                ]
            elif self.settings.dns.nameservers:  # one resolver for every command
                from tui_mailsetup.engine.dns_client import resolve_host

                infos = await resolve_host(
                    self.host,
                    self.smtp.port,
                    self.settings.dns.nameservers,
                    dns_timeout=self.settings.dns.timeout,
                )
            else:
                infos = await loop.getaddrinfo(self.host, self.smtp.port, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError) as exc:
            self.fail(diag.resolve_failed(self.host, exc))
        self._addresses = [(info[0], info[4]) for info in infos]
        if not self._addresses:
            self.fail(diag.resolve_failed(self.host, OSError("no addresses")))
        shown = ", ".join(dict.fromkeys(str(addr[1][0]) for addr in self._addresses))
        self.finish(Stage.RESOLVE, started, shown)

    _addresses: list[tuple[int, Any]]

    async def _connect(self) -> socket.socket:
        """Happy eyeballs (RFC 8305): the next address starts ``HAPPY_EYEBALLS_DELAY`` after
        the previous one (or at once when it fails), so a black-holed first address (broken
        IPv6) costs a quarter of a second, not the whole deadline. The first to connect wins.
        """
        started = self.begin(Stage.CONNECT)
        addresses = _interleave_families(self._addresses)
        errors: list[OSError] = []
        attempts: dict[asyncio.Task[socket.socket], tuple[int, Any]] = {}
        pending: set[asyncio.Task[socket.socket]] = set()
        winner: asyncio.Task[socket.socket] | None = None
        next_index = 0
        try:
            while winner is None:
                if next_index < len(addresses):
                    family, sockaddr = addresses[next_index]
                    next_index += 1
                    task = asyncio.ensure_future(_open_socket(family, sockaddr))
                    attempts[task] = (family, sockaddr)
                    pending.add(task)
                if not pending:
                    break
                more = next_index < len(addresses)
                done, pending = await asyncio.wait(
                    pending,
                    timeout=HAPPY_EYEBALLS_DELAY if more else None,
                    return_when=asyncio.FIRST_COMPLETED,
                )
                for task in done:
                    error = task.exception()
                    if error is None:
                        winner = winner or task
                    elif isinstance(error, OSError):
                        errors.append(error)
                    else:
                        raise error
        finally:
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending)
            for task in attempts:
                # Another attempt may have connected too: only the winner's socket stays open.
                if (
                    task is not winner
                    and task.done()
                    and not task.cancelled()
                    and task.exception() is None
                ):
                    task.result().close()
        if winner is not None:
            sock = winner.result()
            self.family, self.peer = attempts[winner]
            self.finish(Stage.CONNECT, started, f"{self.peer[0]} port {self.peer[1]}")
            return sock
        # Prefer the most telling error: a local policy, then refusal, then the first.
        chosen: OSError | None = next((e for e in errors if isinstance(e, PermissionError)), None)
        chosen = chosen or next(
            (e for e in errors if isinstance(e, ConnectionRefusedError)), errors[0]
        )
        self.fail(diag.connect_failed(self.host, self.smtp.port, chosen))

    def _new_protocol(self) -> TranscriptProtocol:
        protocol = TranscriptProtocol(asyncio.get_running_loop(), self.emit)
        self.protocol = protocol
        return protocol

    async def _open(self, sock: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        self._sock = sock  # closed by _close() unless a transport took it over
        protocol = self._new_protocol()
        if self.smtp.encryption != Encryption.TLS:
            await loop.create_connection(lambda: protocol, sock=sock)
            return
        started = self.begin(Stage.TLS)
        context = await self._tls_context()
        try:
            await loop.create_connection(
                lambda: protocol,
                sock=sock,
                ssl=context,
                server_hostname=self.host,
                ssl_handshake_timeout=self.remaining(),
            )
        except ssl.SSLCertVerificationError as exc:
            sock.close()
            details = await self._inspect_certificate(exc)
            self.fail(diag.certificate_rejected(Stage.TLS, exc, details, self.host))
        except (ssl.SSLError, ConnectionError, EOFError) as exc:
            sock.close()
            greeting = await self._probe_plain()
            if greeting is not None:
                self.fail(diag.port_speaks_plain(self.smtp.port, greeting))
            self.fail(diag.tls_failed(Stage.TLS, exc))
        self._after_handshake(Stage.TLS, started)

    _context_future: asyncio.Future[ssl.SSLContext] | None = None

    async def _tls_context(self) -> ssl.SSLContext:
        future = self._context_future
        if future is None:
            future = self._context_future = asyncio.ensure_future(
                asyncio.to_thread(tls.build_context, self.smtp)
            )
        try:
            return await future
        except (OSError, ssl.SSLError) as exc:
            self.fail(
                Diagnosis(
                    self.stage,
                    "smtp.ca_file cannot be used as a CA bundle",
                    evidence=untrusted_text(f"{self.smtp.ca_file}: {_reason(exc)}"),
                    explanation="It must be a readable file of PEM certificates (BEGIN CERTIFICATE).",
                    exit_code=ExitCode.CONFIG,
                )
            )

    def _after_handshake(self, stage: Stage, started: float) -> None:
        assert self.protocol is not None
        ssl_object = self.protocol.ssl_object()
        pinned = self.smtp.fingerprint.strip()
        if pinned:
            try:
                tls.check_pin(ssl_object, pinned)
            except tls.PinMismatchError as exc:
                self.emit(
                    tls.describe(ssl_object, verified=False, verify_message="fingerprint mismatch")
                )
                self.fail(diag.pin_mismatch(stage, exc.expected, exc.actual))
            except FingerprintFormatError as exc:  # _check_config() refused it already
                self.fail(diag.bad_fingerprint(pinned, str(exc)))
            details = tls.describe(
                ssl_object, verified=True, verify_message="trusted by the pinned fingerprint"
            )
        elif self.smtp.verify:
            message = "verified (system trust store" + (
                " + smtp.ca_file)" if self.smtp.ca_file else ")"
            )
            details = tls.describe(ssl_object, verified=True, verify_message=message)
        else:
            details = tls.describe(
                ssl_object,
                verified=False,
                verify_message="not verified: verify = false in the configuration",
            )
        self.emit(details)
        self.note(f"TLS established: {details.version} {details.cipher}; {details.verify_message}")
        self.trusted = True
        self.finish(stage, started, f"{details.version}, {details.verify_message}")

    async def _greeting(self) -> None:
        started = self.begin(Stage.GREETING)
        protocol = self.protocol
        assert protocol is not None
        read: asyncio.Future[SMTPResponse] = asyncio.ensure_future(
            protocol.read_response(timeout=None)
        )
        try:
            if self.smtp.encryption != Encryption.TLS and self.remaining() > self.greeting_grace:
                done, _ = await asyncio.wait({read}, timeout=self.greeting_grace)
                if not done:
                    self.note(
                        f"no greeting after {self.greeting_grace:g} s: probing whether port "
                        f"{self.smtp.port} expects implicit TLS"
                    )
                    probe = asyncio.ensure_future(self._probe_tls())
                    self.probes.append(probe)
                    waiting: set[asyncio.Future[Any]] = {read, probe}
                    done, _ = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
                    if read not in done:
                        evidence = await probe
                        if evidence is not None:
                            self.fail(diag.port_speaks_tls(self.smtp.port, evidence))
                        self.note("the implicit-TLS probe failed: still waiting for a greeting")
            response = await read
        finally:
            if not read.done():
                read.cancel()
        if response.code != 220:
            if response.code < 400:
                # 250, 354, …: not an SMTP greeting at all, or replies out of step.
                self.fail(diag.unexpected_greeting(response.code, response.message))
            self.fail(self._reply_diagnosis(response.code, response.message))
        first = response.message.split("\n", 1)[0]
        self.finish(Stage.GREETING, started, untrusted_text(f"{response.code} {first}", limit=120))

    async def _probe_tls(self) -> str | None:
        """Does this port answer a TLS handshake? Returns evidence, or None. Sends no SMTP."""
        assert self.peer is not None
        writer: asyncio.StreamWriter | None = None
        try:
            async with asyncio.timeout(self.remaining()):
                sock = await _open_socket(self.family, self.peer)
                reader, writer = await asyncio.open_connection(
                    sock=sock,
                    ssl=tls.probe_context(),
                    server_hostname=self.host,
                    ssl_handshake_timeout=self.remaining(),
                )
                ssl_object = writer.get_extra_info("ssl_object")
                version = ssl_object.version() if ssl_object is not None else "TLS"
                evidence = f"a TLS handshake on port {self.smtp.port} succeeded ({version})"
                with contextlib.suppress(Exception):
                    async with asyncio.timeout(min(PROBE_READ_LIMIT, self.remaining())):
                        line = await reader.readline()
                    if line:
                        evidence += f" and the server then said: {untrusted_text(line[:200])}"
                self.note(f"probe: {evidence}")
                return evidence
        except (OSError, ssl.SSLError, TimeoutError, EOFError):
            return None
        finally:
            if writer is not None:
                writer.close()

    async def _probe_plain(self) -> str | None:
        """After a failed implicit-TLS handshake: does the port greet in plain text?"""
        assert self.peer is not None
        writer: asyncio.StreamWriter | None = None
        try:
            async with asyncio.timeout(min(PROBE_READ_LIMIT, self.remaining())):
                sock = await _open_socket(self.family, self.peer)
                reader, writer = await asyncio.open_connection(sock=sock)
                line = await reader.readline()
        except (OSError, TimeoutError, EOFError):
            return None
        finally:
            if writer is not None:
                writer.close()
        if line[:3] in (b"220", b"421", b"554"):
            text = untrusted_text(line[:200])
            self.note(f"probe: port {self.smtp.port} greets in plain text: {text}")
            return f"the server greeted in plain text: {text}"
        return None

    async def _ehlo(self, stage: Stage) -> None:
        started = self.begin(stage)
        protocol = self.protocol
        assert protocol is not None
        name = await self._ehlo_name()
        response = await protocol.execute_command(b"EHLO", name.encode("ascii"))
        if response.code != 250:
            self.fail(self._reply_diagnosis(response.code, response.message))
        extensions, mechanisms = parse_esmtp_extensions(response.message)
        self.capabilities = extensions
        self.auth_mechanisms = [m.upper() for m in mechanisms]
        size = extensions.get("size", "").strip()
        capabilities = ServerCapabilities(
            extensions=tuple(server_text(k.upper(), limit=80) for k in extensions),
            auth_mechanisms=tuple(
                server_text(m, limit=40) for m in dict.fromkeys(self.auth_mechanisms)
            ),
            size_limit=int(size) if size.isdigit() else None,
            starttls="starttls" in extensions,
            smtputf8="smtputf8" in extensions,
            eightbitmime="8bitmime" in extensions,
            pipelining="pipelining" in extensions,
            encrypted=protocol.encrypted,
        )
        self.emit(capabilities)
        detail = f"{len(extensions)} extensions"
        if capabilities.auth_mechanisms:
            detail += ", AUTH " + " ".join(capabilities.auth_mechanisms)
        if capabilities.starttls:
            detail += ", STARTTLS"
        self.finish(stage, started, detail)

    async def _ehlo_name(self) -> str:
        configured = self.smtp.ehlo_name.strip()
        if configured:
            try:
                return validate_ehlo_name(configured)
            except ValueError as exc:
                self.fail(
                    Diagnosis(
                        self.stage,
                        f"smtp.ehlo_name is not valid: {exc}",
                        evidence=untrusted_text(configured),
                        exit_code=ExitCode.CONFIG,
                    )
                )
        if self._fqdn is not None:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(min(1.0, self.remaining())):
                    fqdn = await asyncio.shield(self._fqdn)
                with contextlib.suppress(ValueError):
                    name = validate_ehlo_name(fqdn)
                    if "." in name or name == "localhost":
                        return name
        # No usable name: the address literal of this end of the connection (RFC 5321 4.1.3).
        assert self.protocol is not None and self.protocol.transport is not None
        local = self.protocol.transport.get_extra_info("sockname")
        return address_literal(str(local[0])) if local else "[127.0.0.1]"

    async def _starttls(self) -> None:
        protocol = self.protocol
        assert protocol is not None
        if "starttls" not in self.capabilities:
            self.begin(Stage.STARTTLS)
            offered = " ".join(k.upper() for k in self.capabilities) or "nothing"
            self.fail(
                diag.starttls_not_offered(
                    self.smtp.port, untrusted_text(f"EHLO offered: {offered}")
                )
            )
        started = self.begin(Stage.STARTTLS)
        context = await self._tls_context()
        try:
            await protocol.start_tls(context, server_hostname=self.host, timeout=self.remaining())
        except SMTPResponseException as exc:
            if exc.code < 0:
                raise
            self.fail(self._reply_diagnosis(exc.code, exc.message))
        except SMTPTimeoutError as exc:
            if isinstance(exc.__cause__, ssl.SSLCertVerificationError):
                raise exc.__cause__ from None
            raise
        except ssl.SSLCertVerificationError as exc:
            if protocol.transport is not None:
                protocol.transport.close()
            details = await self._inspect_certificate(exc)
            self.fail(diag.certificate_rejected(Stage.STARTTLS, exc, details, self.host))
        # The client must forget everything learnt before TLS (RFC 3207 4.2).
        self.capabilities = {}
        self.auth_mechanisms = []
        self._after_handshake(Stage.STARTTLS, started)

    async def _inspect_certificate(self, error: ssl.SSLCertVerificationError) -> TlsDetails | None:
        """Fetch the certificate that failed verification, to show it and offer pinning.

        A separate connection that only completes a handshake (after a plain
        EHLO and STARTTLS for encryption = starttls) and then closes: no
        credentials, no mail. The failed connection is never resumed.
        """
        if self.peer is None:
            return None
        writer: asyncio.StreamWriter | None = None
        try:
            async with asyncio.timeout(min(3.0, self.remaining())):
                sock = await _open_socket(self.family, self.peer)
                if self.smtp.encryption == Encryption.TLS:
                    _, writer = await asyncio.open_connection(
                        sock=sock, ssl=tls.probe_context(), server_hostname=self.host
                    )
                else:
                    reader, writer = await asyncio.open_connection(sock=sock)
                    await _read_reply(reader)
                    writer.write(b"EHLO " + (await self._ehlo_name()).encode("ascii") + b"\r\n")
                    await _read_reply(reader)
                    writer.write(b"STARTTLS\r\n")
                    if not (await _read_reply(reader)).startswith(b"220"):
                        return None
                    await writer.start_tls(tls.probe_context(), server_hostname=self.host)
                ssl_object = writer.get_extra_info("ssl_object")
                details = tls.describe(
                    ssl_object,
                    verified=False,
                    verify_message=untrusted_text(
                        str(getattr(error, "verify_message", "") or error)
                    ),
                )
        except (OSError, ssl.SSLError, TimeoutError, EOFError, _Failed):
            return None
        finally:
            if writer is not None:
                writer.close()
        self.emit(details)
        return details

    async def _auth(self) -> None:
        started = self.begin(Stage.AUTH)
        protocol = self.protocol
        assert protocol is not None
        username = self.smtp.username
        if not self.password:
            self.fail(diag.no_password(username))
        if not protocol.encrypted and not self.smtp.allow_plaintext_auth:
            self.fail(diag.plaintext_auth_refused())
        offered = tuple(dict.fromkeys(self.auth_mechanisms))
        if "auth" not in self.capabilities:
            self.fail(diag.auth_not_offered(protocol.encrypted, "EHLO offered no AUTH"))
        if self.smtp.auth == AuthMechanism.AUTO:
            mechanism = next((m for m in AUTO_PREFERENCE if m in offered), "")
            if not mechanism:
                self.fail(diag.mechanism_unavailable("CRAM-MD5, PLAIN or LOGIN", offered))
        else:
            mechanism = self.smtp.auth.value.upper()
            if mechanism == "XOAUTH2" and mechanism not in offered and "OAUTHBEARER" in offered:
                mechanism = "OAUTHBEARER"  # RFC 7628, the standard form of the same bearer token
            if mechanism not in offered:
                self.fail(diag.mechanism_unavailable(mechanism, offered))
        self._mechanism_used = mechanism
        password = self.password
        label = f"{mechanism} as {untrusted_text(username, limit=100)}"
        protocol.auth_label = label
        try:
            response = await self._authenticate(protocol, mechanism, username, password)
        finally:
            protocol.auth_label = None
        if response.code == 334:
            await self._cancel_auth(protocol, mechanism)
        if response.code != 235:
            if mechanism in BEARER_MECHANISMS:
                self.fail(
                    diag.bearer_refused(
                        response.code,
                        response.message,
                        self.settings,
                        mechanism=mechanism,
                        server_error=self._bearer_error,
                    )
                )
            self.fail(self._reply_diagnosis(response.code, response.message))
        self.authenticated = True
        self.finish(Stage.AUTH, started, label)

    async def _cancel_auth(self, protocol: TranscriptProtocol, mechanism: str) -> NoReturn:
        """Another 334 after the client's last response: cancel with ``*`` (RFC 4954 section 4).

        The exchange must end before anything else is sent (QUIT in the middle of
        it would be read as an AUTH response); the server answers ``*`` with 501.
        """
        evidence = "334 after the last AUTH response"
        try:
            async with asyncio.timeout(min(2.0, self.remaining())):
                cancelled = await protocol.execute_command(b"*")
            evidence += f"; * answered with {server_text(f'{cancelled.code} {cancelled.message}')}"
        except (TimeoutError, SMTPResponseException, SMTPServerDisconnected, ConnectionError):
            evidence += "; * got no answer"
        self.fail(diag.auth_exchange_endless(mechanism, evidence))

    async def _authenticate(
        self, protocol: TranscriptProtocol, mechanism: str, username: str, password: str
    ) -> SMTPResponse:
        """Exactly one attempt with one mechanism; the encoded forms join the redactor first."""
        if mechanism == "PLAIN":
            blob = auth_plain_encode(username, password)
            self.redactor.add(blob)
            return await protocol.execute_command(b"AUTH", b"PLAIN", blob)
        if mechanism == "LOGIN":
            user_b64, password_b64 = auth_login_encode(username, password)
            self.redactor.add(password_b64)
            response = await protocol.execute_command(b"AUTH", b"LOGIN", user_b64)
            if response.code != 334:
                return response
            return await protocol.execute_command(password_b64)
        if mechanism == "CRAM-MD5":
            response = await protocol.execute_command(b"AUTH", b"CRAM-MD5")
            if response.code != 334:
                return response
            try:
                answer = auth_crammd5_verify(username, password, response.message)
            except SMTPResponseException:
                return SMTPResponse(501, "malformed CRAM-MD5 challenge from the server")
            self.redactor.add(answer)
            return await protocol.execute_command(answer)
        return await self._authenticate_bearer(protocol, mechanism, username, password)

    _bearer_error: dict[str, str] | None = None

    async def _authenticate_bearer(
        self, protocol: TranscriptProtocol, mechanism: str, username: str, token: str
    ) -> SMTPResponse:
        """XOAUTH2 or OAUTHBEARER (RFC 7628) with an OAuth2 access token.

        A refused token comes back as a 334 challenge carrying base64 JSON
        (status, schemes, scope); the client answers it (an empty line for
        XOAUTH2, ^A for OAUTHBEARER) and the server then sends the final reply.
        The decoded status and scope go into the transcript; the token never does.
        """
        if mechanism == "OAUTHBEARER":
            blob = oauthbearer_encode(username, self.host or self.smtp.host, self.smtp.port, token)
            abort = base64.b64encode(b"\x01")
        else:
            blob = auth_xoauth2_encode(username, token)
            abort = b""
        self.redactor.add(blob)
        response = await protocol.execute_command(b"AUTH", mechanism.encode("ascii"), blob)
        if response.code == 334:
            self._bearer_error = decode_bearer_error(response.message)
            self.note(describe_bearer_error(mechanism, self._bearer_error))
            response = await protocol.execute_command(abort)
        return response

    async def _send(self) -> None:
        protocol = self.protocol
        assert protocol is not None and self.message is not None
        sender = self.settings.sender.address.strip()
        started = self.begin(Stage.MAIL)
        if not sender:
            self.fail(diag.no_sender())
        addresses = [sender, *self.recipients]
        needs_utf8 = not all(a.isascii() for a in addresses)
        if needs_utf8 and "smtputf8" not in self.capabilities:
            self.fail(
                diag.needs_smtputf8(
                    untrusted_text(", ".join(a for a in addresses if not a.isascii()))
                )
            )
        eight_bit = "8bitmime" in self.capabilities
        content = flatten_message(
            self.message, utf8=needs_utf8, cte_type="8bit" if eight_bit else "7bit"
        )
        options: list[bytes] = []
        if needs_utf8:
            options.append(b"SMTPUTF8")
        if eight_bit and not content.isascii():
            options.append(b"BODY=8BITMIME")
        if self.capabilities.get("size", "").strip().isdigit():
            options.append(f"SIZE={len(content)}".encode("ascii"))
        encoding = "utf-8" if needs_utf8 else "ascii"
        try:
            from_arg = b"FROM:" + quote_address(sender).encode(encoding)
        except (ValueError, UnicodeError) as exc:
            self.fail(diag.bad_address(Stage.MAIL, sender, str(exc)))
        response = await protocol.execute_command(b"MAIL", from_arg, *options)
        if response.code != 250:
            self.fail(self._reply_diagnosis(response.code, response.message))
        self.finish(Stage.MAIL, started, f"{response.code}")

        started = self.begin(Stage.RCPT)
        if not self.recipients:
            self.fail(diag.bad_address(Stage.RCPT, "", "no recipient given"))
        for recipient in self.recipients:
            try:
                to_arg = b"TO:" + quote_address(recipient).encode(encoding)
            except (ValueError, UnicodeError) as exc:
                self.fail(diag.bad_address(Stage.RCPT, recipient, str(exc)))
            response = await protocol.execute_command(b"RCPT", to_arg)
            if response.code not in (250, 251):
                self.fail(self._reply_diagnosis(response.code, response.message))
        self.finish(Stage.RCPT, started, f"{len(self.recipients)} accepted")

        started = self.begin(Stage.DATA)
        protocol.expect_body = True
        try:
            response = await protocol.execute_data_command(content)
        except SMTPDataError as exc:
            self.fail(self._reply_diagnosis(exc.code, exc.message))
        finally:
            protocol.expect_body = False
        self.finish(
            Stage.DATA, started, untrusted_text(f"{response.code} {response.message}", limit=120)
        )


async def _read_reply(reader: asyncio.StreamReader) -> bytes:
    """A whole (possibly multi-line) reply, for the certificate inspection only."""
    first = b""
    for _ in range(200):
        line = await reader.readline()
        if not line:
            raise EOFError("connection closed")
        first = first or line
        if line[3:4] != b"-":
            return first
    raise EOFError("reply too long")


async def _open_socket(family: int, sockaddr: Any) -> socket.socket:
    """A connected non-blocking TCP socket, or an exception (and no socket left open)."""
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setblocking(False)
    try:
        await asyncio.get_running_loop().sock_connect(sock, sockaddr)
    except BaseException:
        sock.close()
        raise
    return sock


def _interleave_families(addresses: list[tuple[int, Any]]) -> list[tuple[int, Any]]:
    """getaddrinfo's order, but alternating address families (RFC 8305 section 4)."""
    by_family: dict[int, list[tuple[int, Any]]] = {}
    for entry in addresses:
        by_family.setdefault(entry[0], []).append(entry)
    queues = list(by_family.values())
    result: list[tuple[int, Any]] = []
    while any(queues):
        for queue in queues:
            if queue:
                result.append(queue.pop(0))
    return result


def _in_daemon_thread(function: Callable[[], str]) -> asyncio.Future[str]:
    """``function()`` in a daemon thread, its result in a future of the running loop.

    Not ``asyncio.to_thread``: ``asyncio.run`` waits for the default executor
    on the way out, so a reverse lookup stuck for seconds would hold the
    process after the Outcome was printed. A daemon thread is abandoned.
    """
    loop = asyncio.get_running_loop()
    future: asyncio.Future[str] = loop.create_future()

    def deliver(value: str | None, error: BaseException | None) -> None:
        if future.done():
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(value or "")

    def work() -> None:
        value: str | None = None
        error: BaseException | None = None
        try:
            value = function()
        except Exception as exc:
            error = exc
        with contextlib.suppress(RuntimeError):  # the loop has closed meanwhile
            loop.call_soon_threadsafe(deliver, value, error)

    threading.Thread(target=work, name="tui-mailsetup-getfqdn", daemon=True).start()
    return future


def _now() -> float:
    return asyncio.get_running_loop().time()


def _reason(exc: BaseException) -> str:
    cause = exc.__cause__
    text = str(exc) or type(exc).__name__
    if cause is not None and str(cause):
        text += f" ({cause})"
    return text


async def run_smtp(
    settings: MailSettings,
    password: str | None,
    message: EmailMessage | None,
    recipients: list[str],
    *,
    stop_after: Stage | None = None,
    greeting_grace: float = GREETING_GRACE,
    addresses: list[str] | None = None,
    tls_context: ssl.SSLContext | None = None,
) -> AsyncIterator[Event]:
    """Run one SMTP test, yielding events as they happen; the last is always an Outcome.

    ``message`` None climbs the ladder up to AUTH and sends nothing (``check``);
    ``stop_after`` stops after that stage (QUIT is still sent politely). Never
    raises for a delivery failure. ``addresses``: smtp.host's IP addresses when the
    caller resolved it (TLS still verifies the certificate against smtp.host);
    ``tls_context``: a context built by ``tls.build_context(settings.smtp)``, shared.
    """
    conversation = Conversation(
        settings,
        password,
        message,
        recipients,
        stop_after=stop_after,
        greeting_grace=greeting_grace,
        addresses=addresses,
        tls_context=tls_context,
    )
    task = asyncio.ensure_future(conversation.run())
    try:
        while True:
            event = await conversation.queue.get()
            if event is None:
                break
            yield event
        await task
    finally:
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


# --------------------------------------------------------------------------- OAuth2 bearer SASL


def oauthbearer_encode(username: str, host: str, port: int, token: str) -> bytes:
    """The RFC 7628 initial client response: GS2 header, then host, port and the bearer token."""
    authzid = username.replace("=", "=3D").replace(",", "=2C")
    message = f"n,a={authzid},\x01host={host}\x01port={port}\x01auth=Bearer {token}\x01\x01"
    return base64.b64encode(message.encode("utf-8"))


def decode_bearer_error(challenge: str) -> dict[str, str]:
    """The JSON a server sends in the 334 error challenge (status, schemes, scope), as strings."""
    import json

    try:
        decoded = base64.b64decode(challenge.strip(), validate=True)
        data = json.loads(decoded.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        return {"raw": untrusted_text(challenge, limit=200)}
    if not isinstance(data, dict):
        return {"raw": untrusted_text(str(data), limit=200)}
    return {
        untrusted_text(str(key), limit=40): untrusted_text(str(value), limit=300)
        for key, value in data.items()
    }


def describe_bearer_error(mechanism: str, error: dict[str, str]) -> str:
    if "raw" in error:
        return f"{mechanism} refused; the server's error detail is not JSON: {error['raw']}"
    parts = [f"{key}={value}" for key, value in error.items()]
    return f"{mechanism} refused, the server's error detail (decoded): {', '.join(parts)}"
