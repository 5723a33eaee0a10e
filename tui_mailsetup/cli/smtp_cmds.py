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
import sys
from typing import TYPE_CHECKING, Any, TextIO

from tui_mailsetup.cli.output import sgr, use_colour
from tui_mailsetup.engine.events import (
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
from tui_mailsetup.sanitize import untrusted_text

if TYPE_CHECKING:  # imported lazily at run time, to keep the fast path's imports small
    from email.message import EmailMessage

    from tui_mailsetup.config_file import LoadedConfig
    from tui_mailsetup.message import MessageShape
    from tui_mailsetup.settings import MailSettings


def register(subparsers: Any, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "send-test",
        parents=[common],
        help="send the test message, streaming the redacted SMTP transcript",
        description=(
            "Send the test message with the current configuration and show the whole "
            "conversation, credentials redacted, with a diagnosis and fix if it fails. "
            "The configuration is validated first, as check does; a recipient is checked "
            "like the sender address and refused, never repaired. A message the server "
            "accepted is a success even when QUIT goes unanswered (with a warning). "
            "Exit codes follow sysexits (0 ok, 65 invalid recipient, 67 recipient refused, "
            "69 unavailable, 75 temporary, 76 protocol/TLS, 77 authentication, "
            "78 configuration)."
        ),
    )
    parser.add_argument(
        "--to",
        metavar="ADDR",
        action="append",
        help="recipient, checked as typed (repeatable; default: the sender address, a test "
        "to yourself)",
    )
    shaping = parser.add_argument_group(
        "the message (each refused with exit 65 when it could inject a header or is unreadable)"
    )
    shaping.add_argument("--subject", metavar="TEXT", help="the subject instead of the test's")
    body = shaping.add_mutually_exclusive_group()
    body.add_argument("--body", metavar="TEXT", help="the body text instead of the test's")
    body.add_argument("--body-file", metavar="FILE", help="the body from a UTF-8 text file")
    shaping.add_argument(
        "--header",
        metavar='"NAME: VALUE"',
        action="append",
        default=[],
        help="an extra header (repeatable), e.g. --header 'X-Test-Run: 42'; From, To, "
        "Subject and the MIME headers are the test's own",
    )
    shaping.add_argument(
        "--attach",
        metavar="FILE",
        action="append",
        default=[],
        help="attach a file (repeatable; at most 10 MiB each)",
    )
    parser.set_defaults(handler=send_test)


def message_shape(args: argparse.Namespace) -> MessageShape | None:
    """send-test's --subject, --body/--body-file, --header and --attach, checked (65), or
    None when none was given (the test message as it is)."""
    from pathlib import Path

    from tui_mailsetup.errors import DataError
    from tui_mailsetup.message import (
        MessageError,
        MessageShape,
        check_body,
        check_subject,
        parse_header,
        read_attachment,
        read_body_file,
    )

    asked = (args.subject, args.body, args.body_file, args.header, args.attach)
    if all(value is None or value == [] for value in asked):
        return None
    try:
        body = None
        if args.body_file is not None:
            body = read_body_file(Path(args.body_file))
        elif args.body is not None:
            body = check_body(args.body)
        return MessageShape(
            subject=None if args.subject is None else check_subject(args.subject),
            body=body,
            headers=tuple(parse_header(text) for text in args.header),
            attachments=tuple(read_attachment(Path(path)) for path in args.attach),
        )
    except MessageError as exc:
        raise DataError(str(exc)) from None


def send_test(args: argparse.Namespace) -> int:
    from tui_mailsetup.cli import load_from_args

    as_json = bool(getattr(args, "json", False))
    shape = message_shape(args)  # 65 before anything else happens
    # A configuration that does not load (78) or a malformed --override (64) is raised
    # to main(), which reports every command's errors in one shape.
    loaded = load_from_args(args)
    # Every --to goes to the runner as typed: it is checked, never trimmed or repaired.
    recipients = list(args.to or [])
    events: list[Event] = []
    outcome = run_ladder(
        loaded,
        recipients=recipients,
        stop_after=None,
        human=not as_json,
        collect=events,
        verbose=bool(args.verbose),
        shape=shape,
    )
    if as_json:
        document = outcome_document(outcome, events)
        document["message"] = None if shape is None else shape.to_json()
        print(json.dumps(document, ensure_ascii=False), flush=True)
    return int(outcome.exit_code)


# --------------------------------------------------------------------------- the runner, printed


def run_ladder(
    loaded: LoadedConfig,
    *,
    recipients: list[str],
    stop_after: Stage | None,
    human: bool,
    out: TextIO | None = None,
    collect: list[Event] | None = None,
    report_warnings: bool = True,
    verbose: bool = False,
    shape: MessageShape | None = None,
) -> Outcome:
    """The one runner (:func:`tui_mailsetup.runner.run_test`), printed as it happens.

    With ``human`` the transcript streams to ``out`` (stdout) as it happens, and a failure's
    verdict goes to stderr (``send-test >/dev/null`` still says why it failed); ``verbose``
    adds each stage as it starts and the server's capabilities.
    ``collect`` receives every event (for --json documents). The runner
    records the outcome beside the configuration (state.py). Never raises for
    a configuration, secret, message or delivery problem: those are Outcomes.
    """
    import asyncio

    from tui_mailsetup.runner import default_recipients, run_test
    from tui_mailsetup.state import load_state

    stream = out if out is not None else sys.stdout
    printer = (
        HumanPrinter(
            stream,
            color=use_colour(stream),
            verdict_stream=sys.stderr if out is None else stream,
            verbose=verbose,
        )
        if human
        else None
    )
    settings = loaded.settings
    if printer is not None:
        state = load_state(loaded.path)
        if state.rate_limited() and state.rate_limited_until is not None:
            until = dt.datetime.fromtimestamp(state.rate_limited_until, dt.UTC)
            printer.warn(
                f"the server rate-limited the last test until {until:%H:%M:%S} UTC; trying anyway"
            )
        shown = recipients or default_recipients(settings, stop_after)
        printer.header(settings, [untrusted_text(r) for r in shown], stop_after)
        for line in shape.describe() if shape is not None else []:
            printer.note(untrusted_text(line))

    def on_event(event: Event) -> None:
        if collect is not None:
            collect.append(event)
        if printer is not None:
            printer.event(event)

    builder = None
    if shape is not None:
        from tui_mailsetup.message import build_test_message, shape_message

        def builder(settings: MailSettings, recipients: list[str]) -> EmailMessage:
            return shape_message(build_test_message(settings, recipients), shape)

    return asyncio.run(
        run_test(
            loaded,
            recipients,
            stop_after=stop_after,
            on_event=on_event,
            kind="send-test" if stop_after is None else "check",
            report_warnings=report_warnings,
            message_builder=builder,
        )
    )


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


_STYLES = {
    "sent": "36",
    "received": "",
    "note": "33",
    "ok": "32",
    "fail": "1;31",
    "dim": "2",
    "bold": "1",
}


class HumanPrinter:
    """Readable transcript on a plain terminal; every line flushed as it happens."""

    def __init__(
        self,
        stream: TextIO,
        *,
        color: bool,
        verdict_stream: TextIO | None = None,
        verbose: bool = False,
    ) -> None:
        self.stream = stream
        self.color = color
        self.verdict_stream = verdict_stream or stream
        """Where a failure's verdict goes (stderr for send-test and check)."""
        self.verbose = verbose

    def _style(self, style: str, text: str) -> str:
        code = _STYLES.get(style, "")
        return sgr(text, code) if self.color and code else text

    def _print(self, text: str, stream: TextIO | None = None) -> None:
        stream = stream or self.stream
        try:
            print(text, file=stream, flush=True)
        except UnicodeEncodeError:
            encoding = getattr(stream, "encoding", None) or "ascii"
            print(text.encode(encoding, "replace").decode(encoding), file=stream, flush=True)

    def warn(self, text: str) -> None:
        self._print(self._style("note", f"warning: {text}"))

    def note(self, text: str) -> None:
        self._print(self._style("note", f"** {text}"))

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
        elif not self.verbose:
            return  # what follows is what --verbose adds
        elif isinstance(event, StageStarted):
            self._print(self._style("dim", f"--- {event.stage.label} …"))
        elif isinstance(event, ServerCapabilities):
            self._print(self._style("dim", f"--- capabilities: {_capabilities(event)}"))

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
            for warning in outcome.warnings:
                self.warn(warning)
            return
        diagnosis = outcome.diagnosis
        out = self.verdict_stream
        if diagnosis is None:
            self._print(self._style("fail", f"FAILED at {outcome.stage.label}"), out)
            return
        self._print(
            self._style("fail", f"FAILED at {diagnosis.stage.label}: {diagnosis.cause}"), out
        )
        if diagnosis.evidence:
            self._print(f"  evidence: {diagnosis.evidence}", out)
        if diagnosis.explanation:
            self._print(f"  why: {diagnosis.explanation}", out)
        if diagnosis.fix is not None:
            self._print(self._style("bold", f"  fix: {diagnosis.fix.label}"), out)
            for command in diagnosis.fix.as_commands():
                self._print(f"    {command}", out)
        if diagnosis.retry_after is not None:
            until = dt.datetime.fromtimestamp(diagnosis.retry_after, dt.UTC)
            self._print(f"  retry after: {until:%Y-%m-%d %H:%M:%S} UTC", out)
        self._print(
            self._style("dim", f"  exit code {int(outcome.exit_code)} ({outcome.exit_code.name})"),
            out,
        )


def _capabilities(event: ServerCapabilities) -> str:
    items = list(event.extensions)
    if event.auth_mechanisms:
        items.append("AUTH " + " ".join(event.auth_mechanisms))
    where = " (over TLS)" if event.encrypted else ""
    return untrusted_text(", ".join(items) or "(none)") + where
