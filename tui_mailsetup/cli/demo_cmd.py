"""``demo``: a sandbox SMTP server and the TUI pointed at it; ``demo --headless`` for scripts.

Textual is imported only for the interactive demo, after the sandbox is up.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TextIO

from tui_mailsetup.exitcodes import ExitCode

if TYPE_CHECKING:
    from tui_mailsetup.demo import DemoSession


def register(subparsers: Any, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "demo",
        parents=[common],
        help="start a local sandbox SMTP server and the TUI pointed at it",
        description=(
            "Start a sandbox SMTP server on 127.0.0.1 (STARTTLS with a certificate authority "
            "made for this run, AUTH with a generated user and password), write a temporary "
            "configuration pointed at it, and open the TUI with an inbox of what the sandbox "
            "receives. Your own configuration is never read or written, and MAILSETUP_* "
            "variables are ignored. Everything is removed on exit."
        ),
        epilog=(
            "--headless sends the test message without a screen, prints the transcript and "
            "the message the sandbox received, and exits 0 when it arrived (with --json: one "
            "JSON document)."
        ),
    )
    parser.add_argument(
        "--headless",
        action="store_true",
        help="no TUI: send the test message, print the transcript and the received message",
    )
    parser.add_argument(
        "--encryption",
        choices=("starttls", "tls"),
        default="starttls",
        help="how the sandbox speaks: STARTTLS (default, like port 587) or implicit TLS (465)",
    )
    parser.add_argument(
        "--to",
        action="append",
        metavar="ADDR",
        help="recipient of the headless test send (repeatable; default: you@example.com)",
    )
    parser.set_defaults(handler=run_demo)


def run_demo(args: argparse.Namespace) -> int:
    from tui_mailsetup.demo import DEMO_RECIPIENT, DemoSession, isolated_environment

    if (
        getattr(args, "config", None)
        or getattr(args, "system", False)
        or getattr(args, "override", None)
    ):
        # Said loudly rather than ignored silently: the demo never uses a real file.
        print(
            "tui-mailsetup demo: --config, --system and --override are ignored; the demo "
            "uses a temporary configuration",
            file=sys.stderr,
        )
    as_json = bool(getattr(args, "json", False))
    recipients = [r.strip() for r in (args.to or []) if r.strip()] or [DEMO_RECIPIENT]
    with isolated_environment(), DemoSession(encryption=args.encryption) as session:
        if args.headless:
            return _headless(session, recipients, as_json)
        return _interactive(session)


def _headless(session: Any, recipients: list[str], as_json: bool) -> int:

    if as_json:
        # The transcript would be noise in a JSON stream; it is in the document.
        result = run_headless(session, recipients=recipients, human=False, out=sys.stderr)
        print(json.dumps(result.document, ensure_ascii=False), flush=True)
    else:
        result = run_headless(session, recipients=recipients, human=True, out=sys.stdout)
    return result.exit_code


def _interactive(session: Any) -> int:
    if not sys.stdin.isatty() or not sys.stdout.isatty():
        print(
            "tui-mailsetup demo: no terminal; use `tui-mailsetup demo --headless` in scripts",
            file=sys.stderr,
        )
        return ExitCode.USAGE
    from tui_mailsetup.tui.app import MailSetupApp

    loaded = session.load()
    app = MailSetupApp(
        loaded.path,
        loaded=loaded,
        banner=session.banner(),
        inbox=session.messages,
        first_run=False,
    )
    result = app.run()
    return int(result or 0)


# --------------------------------------------------------------------------- headless


@dataclass
class HeadlessResult:
    exit_code: int
    document: dict[str, Any]


def run_headless(
    session: DemoSession,
    *,
    recipients: Sequence[str] | None = None,
    human: bool = True,
    out: TextIO,
) -> HeadlessResult:
    """Send the test message through the engine, as ``send-test`` does, then show what arrived."""
    from tui_mailsetup.cli.smtp_cmds import outcome_document, run_ladder
    from tui_mailsetup.demo import DEMO_RECIPIENT, describe_message, print_messages
    from tui_mailsetup.engine.events import Event
    from tui_mailsetup.exitcodes import ExitCode

    if human:
        print(session.describe(), file=out)
        print(f"Temporary configuration: {session.config_path}\n", file=out, flush=True)
    loaded = session.load()
    events: list[Event] = []
    outcome = run_ladder(
        loaded,
        recipients=list(recipients or (DEMO_RECIPIENT,)),
        stop_after=None,
        human=human,
        out=out,
        collect=events,
    )
    # The server thread may still be finishing the DATA reply's bookkeeping.
    received = session.sandbox.wait_for_message(1, timeout=5) if outcome.ok else session.messages()
    exit_code = int(outcome.exit_code)
    if outcome.ok and not received:
        exit_code = int(ExitCode.TEMPFAIL)
    if human:
        print_messages(received, out)
    document = outcome_document(outcome, events)
    document["demo"] = {
        "server": session.server,
        "encryption": session.encryption,
        "username": session.sandbox.username,
        "config": str(session.config_path),
    }
    document["received"] = [describe_message(m) for m in received]
    if exit_code != int(outcome.exit_code):
        document["ok"] = False
        document["exit_code"] = exit_code
    return HeadlessResult(exit_code, document)
