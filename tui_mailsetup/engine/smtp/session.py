"""One run's state, its single exit for events, and how a run ends (an Outcome, always).

:class:`Session` holds what a run knows (declared in ``__init__``), emits every
event through the redactor, and turns whatever ended the ladder (success,
``stop_after``, a failure, a timeout, a drop, a bug) into one Outcome, with a
polite QUIT where one is safe. The stages themselves are
:class:`.conversation.Conversation`'s.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import time
from collections.abc import Awaitable, Callable
from email.message import EmailMessage
from typing import TYPE_CHECKING, Any, NoReturn

from aiosmtplib.errors import SMTPResponseException, SMTPServerDisconnected

from tui_mailsetup.engine.events import (
    Diagnosis,
    Direction,
    Event,
    Outcome,
    Stage,
    StageFinished,
    StageStarted,
    TranscriptLine,
)
from tui_mailsetup.engine.smtp.connection import Address
from tui_mailsetup.engine.smtp.errors import (
    Failed,
    HandshakeDropped,
    RepliesOutOfStep,
    Stop,
    reason,
)
from tui_mailsetup.engine.smtp.protocol import TranscriptProtocol
from tui_mailsetup.engine.smtp.redaction import Redactor, server_text
from tui_mailsetup.exitcodes import ExitCode
from tui_mailsetup.sanitize import untrusted_text
from tui_mailsetup.settings import Encryption, MailSettings
from tui_mailsetup.startup.lazy import on_first_use

if TYPE_CHECKING:
    from tui_mailsetup.engine import diagnosis as diag
else:
    diag = on_first_use("tui_mailsetup.engine.diagnosis")  # at the first failure: startup/

TokenRenewer = Callable[[float], Awaitable[tuple[str, str]]]
"""Given the seconds left, a new OAuth2 access token and a note saying how it was had.
Raises an exception with ``cause``/``fix``/``exit_code`` (secrets.SecretError) when it cannot."""

QUIT_GRACE = 3.0
"""Seconds QUIT may take once the message was accepted (outside the overall deadline)."""
GREETING_GRACE = 1.5
"""Seconds without a greeting before probing whether the port expects implicit TLS."""


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
    """Where ``stage`` stands on the ladder (the order lives on the Stage enum)."""
    return stage.order


class Session:
    """One run's state, its events and how it ends; the stages are :class:`.conversation.Conversation`'s.

    Use :func:`~tui_mailsetup.engine.smtp.run_smtp`. Every piece of state is declared in
    ``__init__``.
    """

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
        renew_token: TokenRenewer | None = None,
    ) -> None:
        self.settings = settings
        self.renew_token = renew_token
        """For XOAUTH2/OAUTHBEARER: a new access token when the server refuses the one given
        (tried once, in the same session)."""
        self.given_addresses = addresses
        """smtp.host's addresses, already resolved by the caller (detect's resolver)."""
        self._context_future: asyncio.Future[ssl.SSLContext] | None = None
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
        self._addresses: list[Address] = []
        self.peer: tuple[Any, ...] | None = None
        self.family: int = socket.AF_INET
        self.capabilities: dict[str, str] = {}
        self.auth_mechanisms: list[str] = []
        self.authenticated = False
        self._mechanism_used = ""
        """The AUTH mechanism tried (for the diagnosis of a refused command after it)."""
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
        """Every event leaves through the redactor (:meth:`Redactor.scrub_event`)."""
        self.queue.put_nowait(self.redactor.scrub_event(event, stage=self.stage))

    def note(self, text: str) -> None:
        encrypted = self.protocol.encrypted if self.protocol else False
        self.emit(TranscriptLine(Direction.NOTE, text, encrypted))

    def begin(self, stage: Stage) -> float:
        if self.stop_after is not None and stage_index(stage) > stage_index(self.stop_after):
            raise Stop
        self.stage = stage
        self.emit(StageStarted(stage))
        self._stage_started = time.monotonic()
        return self._stage_started

    def finish(self, stage: Stage, started: float, detail: str = "", *, ok: bool = True) -> None:
        self.emit(StageFinished(stage, ok, time.monotonic() - started, detail))
        if ok:
            self.last_finished = stage

    def fail(self, diagnosis: Diagnosis) -> NoReturn:
        raise Failed(diagnosis)

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
            except Stop:
                await self._quit_quietly()
                outcome = self._outcome(ok=True, stage=self.last_finished or Stage.RESOLVE)
            except Failed as failure:
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
                outcome = await self._failed(diag.dropped(self.stage, reason(exc)), polite=False)
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
                outcome = await self._failed(diag.dropped(self.stage, reason(exc)), polite=False)
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
            problem = server_text(reason(exc), limit=200)
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
            self.emit(StageFinished(Stage.QUIT, False, time.monotonic() - started, reason(exc)))

    async def _ladder(self) -> None:
        """The stages, in order (:meth:`.conversation.Conversation._ladder`)."""
        raise NotImplementedError


def _now() -> float:
    return asyncio.get_running_loop().time()
