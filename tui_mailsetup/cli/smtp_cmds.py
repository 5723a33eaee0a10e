"""``send-test``, and the ladder runner that ``check`` shares.

Human output streams the redacted transcript line by line as it happens
(flushed, in swaks' notation: ``->``/``<-`` in plain text, ``~>``/``<~``
inside TLS), then the verdict; colour only on a terminal and never with
NO_COLOR. ``--json`` prints one document at the end instead.

Nothing here imports Textual: this is the headless path provisioning tools use.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import time
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any, TextIO

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
    event_to_json,
)
from tui_mailsetup.exitcodes import ExitCode

if TYPE_CHECKING:  # imported lazily at run time, to keep the fast path's imports small
    from tui_mailsetup.config_file import LoadedConfig


_MESSAGE_STAGES = frozenset({Stage.MAIL, Stage.RCPT, Stage.DATA, Stage.QUIT, Stage.SEND})


def register(subparsers: Any, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "send-test",
        parents=[common],
        help="send the test message, streaming the redacted SMTP transcript",
        description=(
            "Send the test message with the current configuration and show the whole "
            "conversation, credentials redacted, with a diagnosis and fix if it fails. "
            "Exit codes follow sysexits (0 ok, 67 recipient refused, 69 unavailable, "
            "75 temporary, 76 protocol/TLS, 77 authentication, 78 configuration)."
        ),
    )
    parser.add_argument(
        "--to",
        metavar="ADDR",
        action="append",
        help="recipient (repeatable; default: the sender address, a test to yourself)",
    )
    parser.set_defaults(handler=send_test)


def send_test(args: argparse.Namespace) -> int:
    from tui_mailsetup.cli import load_from_args
    from tui_mailsetup.config_file import ConfigError

    as_json = bool(getattr(args, "json", False))
    try:
        loaded = load_from_args(args)
    except ValueError as exc:
        print(f"tui-mailsetup: error: {exc}", file=sys.stderr)
        return ExitCode.USAGE
    except ConfigError as exc:
        return _config_failure(str(exc), as_json, extra={"config": exc.to_json()})
    recipients = [r.strip() for r in (args.to or []) if r.strip()]
    if not recipients:
        sender = loaded.settings.sender.address.strip()
        if not sender:
            # Without a sender nothing can be sent (MAIL FROM): configuration, as in the engine.
            return _config_failure(
                "sender.address is empty: set it with tui-mailsetup set sender.address ADDRESS "
                "(it is also the default recipient)",
                as_json,
            )
        recipients = [sender]
    events: list[Event] = []
    outcome = run_ladder(
        loaded, recipients=recipients, stop_after=None, human=not as_json, collect=events
    )
    if as_json:
        print(json.dumps(outcome_document(outcome, events), ensure_ascii=False), flush=True)
    return int(outcome.exit_code)


def _config_failure(
    message: str,
    as_json: bool,
    *,
    code: ExitCode = ExitCode.CONFIG,
    extra: dict[str, Any] | None = None,
) -> int:
    if as_json:
        document = {
            "ok": False,
            "stage": Stage.CONFIG.value,
            "elapsed": 0.0,
            "diagnosis": {"cause": message, "fix": None, "exit_code": int(code)},
            "exit_code": int(code),
            **(extra or {}),
        }
        print(json.dumps(document, ensure_ascii=False), flush=True)
    else:
        print(f"tui-mailsetup: {message}", file=sys.stderr, flush=True)
    return int(code)


# --------------------------------------------------------------------------- the runner


def run_ladder(
    loaded: LoadedConfig,
    *,
    recipients: list[str],
    stop_after: Stage | None,
    human: bool,
    out: TextIO | None = None,
    collect: list[Event] | None = None,
) -> Outcome:
    """Climb the diagnostics ladder (all of it, or up to ``stop_after``) and return the Outcome.

    With ``human`` the transcript streams to ``out`` (stdout) as it happens.
    ``collect`` receives every event (for --json documents). The outcome is
    remembered beside the configuration (state.py). Never raises for a
    delivery, secret or message problem: those are Outcomes with a Diagnosis.
    """
    import asyncio
    from email.message import EmailMessage

    from tui_mailsetup.drivers import driver_from_config
    from tui_mailsetup.message import MessageError, build_test_message
    from tui_mailsetup.secrets import SecretError
    from tui_mailsetup.state import load_state, record_outcome

    if not recipients and stop_after in _MESSAGE_STAGES:
        # `check --quit-after mail|rcpt|data|quit` needs a recipient: a test to yourself.
        sender = loaded.settings.sender.address.strip()
        recipients = [sender] if sender else []
    stream = out if out is not None else sys.stdout
    printer = HumanPrinter(stream, color=use_color(stream)) if human else None
    settings = loaded.settings
    kind = "send-test" if stop_after is None else "check"
    started = time.monotonic()

    def early(diagnosis: Diagnosis) -> Outcome:
        # These texts come from files, commands and --to, not from the engine:
        # neutralised here as the engine neutralises its own.
        from dataclasses import replace

        from tui_mailsetup.sanitize import untrusted_text

        clean = replace(
            diagnosis,
            cause=untrusted_text(diagnosis.cause),
            evidence=untrusted_text(diagnosis.evidence),
            explanation=untrusted_text(diagnosis.explanation),
        )
        return Outcome(False, clean.stage, time.monotonic() - started, clean, "", tuple(recipients))

    outcome: Outcome | None = None
    try:
        driver = driver_from_config(loaded)
    except SecretError as exc:
        outcome = early(
            Diagnosis(
                Stage.AUTH,
                "The password could not be obtained",
                evidence=str(exc),
                explanation="Check smtp.password_command, the credentials file or the keyring.",
                exit_code=ExitCode.CONFIG,
            )
        )
    if outcome is None:
        try:
            message = build_test_message(settings, recipients)
        except MessageError as exc:
            if stop_after is not None and stop_after not in _MESSAGE_STAGES:
                # `check` stops before MAIL: the message is never used, so a
                # missing sender address is validation's finding, not a failure here.
                message = EmailMessage()
            else:
                stage = Stage.CONFIG if exc.exit_code == ExitCode.CONFIG else Stage.MAIL
                outcome = early(Diagnosis(stage, str(exc), exit_code=exc.exit_code))
    if outcome is None:
        if printer is not None:
            state = load_state(loaded.path)
            if state.rate_limited() and state.rate_limited_until is not None:
                until = dt.datetime.fromtimestamp(state.rate_limited_until, dt.UTC)
                printer.warn(
                    f"the server rate-limited the last test until {until:%H:%M:%S} UTC; "
                    "trying anyway"
                )
            printer.header(settings, recipients, stop_after)

        def on_event(event: Event) -> None:
            if collect is not None:
                collect.append(event)
            if printer is not None:
                printer.event(event)

        outcome = asyncio.run(
            _consume(driver.send(message, recipients, stop_after=stop_after), on_event)
        )
    else:
        # Failed before the driver ran: the outcome was not streamed yet.
        if collect is not None:
            collect.append(outcome)
        if printer is not None:
            printer.event(outcome)
    record_outcome(
        loaded.path,
        outcome,
        kind=kind,
        host=settings.smtp.host if settings.driver.value == "smtp" else "",
        port=settings.smtp.port if settings.driver.value == "smtp" else None,
    )
    return outcome


async def _consume(events: AsyncIterator[Event], on_event: Callable[[Event], None]) -> Outcome:
    outcome: Outcome | None = None
    async for event in events:
        on_event(event)
        if isinstance(event, Outcome):
            outcome = event
    if outcome is None:  # a driver broke its contract; say so rather than crash
        outcome = Outcome(
            False,
            Stage.SEND,
            0.0,
            Diagnosis(Stage.SEND, "The driver ended without a result", exit_code=ExitCode.TEMPFAIL),
        )
    return outcome


def outcome_document(outcome: Outcome, events: list[Event] | None = None) -> dict[str, Any]:
    """The --json document: ok, stage, elapsed, exit_code, diagnosis (cause, fix, …), transcript."""
    document = outcome.to_json()
    diagnosis = outcome.diagnosis
    if diagnosis is not None and document.get("diagnosis") is not None:
        document["diagnosis"]["fix_commands"] = diagnosis.fix.as_commands() if diagnosis.fix else []
        if diagnosis.retry_after is not None:
            document["diagnosis"]["retry_after_iso"] = dt.datetime.fromtimestamp(
                diagnosis.retry_after, dt.UTC
            ).isoformat()
    if events is not None:
        document["stages"] = [
            {"stage": e.stage.value, "ok": e.ok, "elapsed": round(e.elapsed, 4), "detail": e.detail}
            for e in events
            if isinstance(e, StageFinished)
        ]
        document["transcript"] = [
            {"direction": e.direction.value, "text": e.text, "encrypted": e.encrypted}
            for e in events
            if isinstance(e, TranscriptLine)
        ]
        tls = [event_to_json(e) for e in events if isinstance(e, TlsDetails)]
        document["tls"] = tls[-1] if tls else None
    return document


# --------------------------------------------------------------------------- human output


def use_color(stream: TextIO) -> bool:
    if os.environ.get("NO_COLOR", "") != "":
        return False
    if os.environ.get("TERM") == "dumb":
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


_RESET = "\x1b[0m"
_STYLES = {
    "sent": "\x1b[36m",
    "received": "",
    "note": "\x1b[33m",
    "ok": "\x1b[32m",
    "fail": "\x1b[1;31m",
    "dim": "\x1b[2m",
    "bold": "\x1b[1m",
}


class HumanPrinter:
    """Readable transcript on a plain terminal; every line flushed as it happens."""

    def __init__(self, stream: TextIO, *, color: bool) -> None:
        self.stream = stream
        self.color = color

    def _style(self, style: str, text: str) -> str:
        code = _STYLES.get(style, "")
        return f"{code}{text}{_RESET}" if self.color and code else text

    def _print(self, text: str) -> None:
        try:
            print(text, file=self.stream, flush=True)
        except UnicodeEncodeError:
            encoding = getattr(self.stream, "encoding", None) or "ascii"
            print(text.encode(encoding, "replace").decode(encoding), file=self.stream, flush=True)

    def warn(self, text: str) -> None:
        self._print(self._style("note", f"warning: {text}"))

    def header(self, settings: Any, recipients: list[str], stop_after: Stage | None) -> None:
        if settings.driver.value == "smtp":
            smtp = settings.smtp
            target = f"{smtp.host} port {smtp.port}, encryption {smtp.encryption.value}"
            if smtp.username:
                target += f", user {smtp.username} ({smtp.auth.value})"
        else:
            target = f"driver {settings.driver.value}"
        what = (
            f"test message to {', '.join(recipients)}"
            if stop_after is None
            else f"diagnostics up to {stop_after.label}"
        )
        self._print(self._style("bold", f"=== {what} via {target}"))

    def event(self, event: Event) -> None:
        if isinstance(event, TranscriptLine):
            if event.direction == Direction.SENT:
                self._print(self._style("sent", ("~> " if event.encrypted else "-> ") + event.text))
            elif event.direction == Direction.RECEIVED:
                self._print(
                    self._style("received", ("<~ " if event.encrypted else "<- ") + event.text)
                )
            else:
                self._print(self._style("note", "** " + event.text))
        elif isinstance(event, StageFinished):
            status = self._style("ok", "ok") if event.ok else self._style("fail", "FAILED")
            detail = f" {event.detail}" if event.detail and event.ok else ""
            self._print(
                self._style("dim", f"=== {event.stage.label}: ")
                + status
                + self._style("dim", f" ({event.elapsed * 1000:.1f} ms){detail}")
            )
        elif isinstance(event, TlsDetails):
            self._tls(event)
        elif isinstance(event, Outcome):
            self._verdict(event)
        elif isinstance(event, ServerCapabilities | StageStarted):
            return

    def _tls(self, details: TlsDetails) -> None:
        lines = [
            f"certificate subject: {details.subject}",
            f"issuer: {details.issuer}",
            f"names: {', '.join(details.sans) or '(none)'}",
            f"valid: {details.not_before} to {details.not_after}",
            f"SHA-256: {details.fingerprint_sha256}",
            f"trust: {details.verify_message or ('verified' if details.verified else 'not verified')}",
        ]
        for line in lines:
            self._print(self._style("note", "** " + line))

    def _verdict(self, outcome: Outcome) -> None:
        if outcome.ok:
            if outcome.stage == Stage.QUIT or outcome.message_id:
                text = (
                    f"OK: the server accepted the test message for {', '.join(outcome.recipients)}"
                )
                if outcome.message_id:
                    text += f" (Message-ID {outcome.message_id})"
            else:
                text = f"OK: every stage up to {outcome.stage.label} passed; no message was sent"
            self._print(self._style("ok", text) + f" in {outcome.elapsed:.2f} s")
            return
        diagnosis = outcome.diagnosis
        if diagnosis is None:
            self._print(self._style("fail", f"FAILED at {outcome.stage.label}"))
            return
        self._print(self._style("fail", f"FAILED at {diagnosis.stage.label}: {diagnosis.cause}"))
        if diagnosis.evidence:
            self._print(f"  evidence: {diagnosis.evidence}")
        if diagnosis.explanation:
            self._print(f"  why: {diagnosis.explanation}")
        if diagnosis.fix is not None:
            self._print(self._style("bold", f"  fix: {diagnosis.fix.label}"))
            for command in diagnosis.fix.as_commands():
                self._print(f"    {command}")
        if diagnosis.retry_after is not None:
            until = dt.datetime.fromtimestamp(diagnosis.retry_after, dt.UTC)
            self._print(f"  retry after: {until:%Y-%m-%d %H:%M:%S} UTC")
        self._print(
            self._style("dim", f"  exit code {int(outcome.exit_code)} ({outcome.exit_code.name})")
        )
