"""The Sendmail driver: hand the message to a local sendmail-compatible binary.

Postfix, Exim, OpenSMTPD, msmtp and nullmailer all install one. The message
goes on standard input, recipients as arguments after ``--`` (so an address
can never be read as an option), ``-i`` so that a line holding a single dot
does not end the message, and ``-f`` for the envelope sender. The binary's
exit status is a sysexits code, which maps onto ours directly.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import time
from collections.abc import AsyncIterator
from email.message import EmailMessage
from pathlib import Path
from typing import TYPE_CHECKING

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
from tui_mailsetup.exitcodes import ExitCode
from tui_mailsetup.fixes import Fix
from tui_mailsetup.sanitize import untrusted_text
from tui_mailsetup.settings import MailSettings

if TYPE_CHECKING:
    pass

HEADERS_SHOWN = ("From", "To", "Subject", "Date", "Message-ID")
OUTPUT_LINES_SHOWN = 20
_EXIT_MEANINGS = {
    int(ExitCode.USAGE): "it did not understand its arguments",
    int(ExitCode.DATAERR): "it found the message or an address invalid",
    int(ExitCode.NOUSER): "a recipient was refused",
    int(ExitCode.UNAVAILABLE): "the mail system is unavailable",
    int(ExitCode.TEMPFAIL): "a temporary failure; the mail may be queued and retried",
    int(ExitCode.PROTOCOL): "a protocol error with its relay",
    int(ExitCode.NOPERM): "permission denied (authentication with its relay?)",
    int(ExitCode.CONFIG): "its configuration is broken",
}


def command(settings: MailSettings, recipients: list[str]) -> list[str]:
    argv = [str(Path(settings.sendmail.path).expanduser()), "-i"]
    if settings.sender.address.strip():
        argv += ["-f", settings.sender.address.strip()]
    return [*argv, "--", *recipients]


class SendmailDriver:
    name = "sendmail"

    def __init__(self, settings: MailSettings, secret: str | None = None) -> None:
        # No secret: the local mail system holds its own credentials.
        self.settings = settings

    def __repr__(self) -> str:
        return f"SendmailDriver(path={self.settings.sendmail.path!r})"

    def send(
        self,
        message: EmailMessage,
        recipients: list[str],
        *,
        stop_after: Stage | None = None,
    ) -> AsyncIterator[Event]:
        return self._run(message, recipients, stop_after)

    async def _run(
        self, message: EmailMessage, recipients: list[str], stop_after: Stage | None
    ) -> AsyncIterator[Event]:
        started = time.monotonic()
        yield StageStarted(Stage.SEND)
        argv = command(self.settings, recipients)
        problem = self._problem(Path(argv[0]))
        if problem is not None:
            yield StageFinished(Stage.SEND, False, time.monotonic() - started, problem.cause)
            yield Outcome(
                False, Stage.SEND, time.monotonic() - started, problem, "", tuple(recipients)
            )
            return
        if stop_after is not None:
            detail = f"{argv[0]} is executable; nothing sent"
            yield TranscriptLine(Direction.NOTE, untrusted_text(detail), False)
            yield StageFinished(Stage.SEND, True, time.monotonic() - started, detail)
            yield Outcome(True, Stage.SEND, time.monotonic() - started, None, "", tuple(recipients))
            return
        import shlex

        yield TranscriptLine(Direction.NOTE, untrusted_text("$ " + shlex.join(argv)), False)
        for header in HEADERS_SHOWN:
            if message[header] is not None:
                yield TranscriptLine(
                    Direction.SENT, untrusted_text(f"{header}: {message[header]}"), False
                )
        # Local line endings: sendmail converts them itself.
        data = message.as_bytes(policy=message.policy.clone(linesep="\n"))
        yield TranscriptLine(Direction.NOTE, f"message on standard input, {len(data)} bytes", False)
        try:
            process = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
            )
        except OSError as exc:
            diagnosis = Diagnosis(
                Stage.SEND,
                f"{argv[0]} could not be run",
                evidence=untrusted_text(str(exc)),
                exit_code=ExitCode.CONFIG,
            )
            yield StageFinished(Stage.SEND, False, time.monotonic() - started, diagnosis.cause)
            yield Outcome(
                False, Stage.SEND, time.monotonic() - started, diagnosis, "", tuple(recipients)
            )
            return
        try:
            output, _ = await asyncio.wait_for(
                process.communicate(data), timeout=self.settings.smtp.timeout
            )
        except TimeoutError:
            process.kill()
            await process.wait()
            diagnosis = Diagnosis(
                Stage.SEND,
                f"{argv[0]} did not finish within {self.settings.smtp.timeout:g} s",
                explanation="It was stopped. A sendmail that waits is often one that cannot "
                "reach its own relay.",
                exit_code=ExitCode.TEMPFAIL,
            )
            yield StageFinished(Stage.SEND, False, time.monotonic() - started, diagnosis.cause)
            yield Outcome(
                False, Stage.SEND, time.monotonic() - started, diagnosis, "", tuple(recipients)
            )
            return
        lines = untrusted_text(output.decode("utf-8", "replace")).splitlines()
        for line in lines[:OUTPUT_LINES_SHOWN]:
            yield TranscriptLine(Direction.RECEIVED, line, False)
        status = process.returncode if process.returncode is not None else -1
        elapsed = time.monotonic() - started
        if status == 0:
            detail = f"{Path(argv[0]).name} accepted the message (exit 0)"
            yield StageFinished(Stage.SEND, True, elapsed, detail)
            message_id = str(message.get("Message-ID", ""))
            yield Outcome(True, Stage.SEND, elapsed, None, message_id, tuple(recipients))
            return
        diagnosis = _exit_diagnosis(argv[0], status, lines)
        yield StageFinished(Stage.SEND, False, elapsed, diagnosis.cause)
        yield Outcome(False, Stage.SEND, elapsed, diagnosis, "", tuple(recipients))

    def _problem(self, path: Path) -> Diagnosis | None:
        if path.is_file() and os.access(path, os.X_OK):
            return None
        found = shutil.which("sendmail") or next(
            (p for p in ("/usr/sbin/sendmail", "/usr/lib/sendmail") if os.access(p, os.X_OK)),
            None,
        )
        fix = None
        if found and Path(found) != path:
            fix = Fix(f"use {found}", {"sendmail.path": found})
        if not path.exists():
            cause = f"There is no sendmail binary at {path}"
        else:
            cause = f"{path} is not an executable file"
        return Diagnosis(
            Stage.SEND,
            untrusted_text(cause),
            explanation="Install a mail transfer agent (Postfix, Exim, msmtp-mta, nullmailer) "
            "or point sendmail.path at the one installed.",
            fix=fix,
            exit_code=ExitCode.CONFIG,
        )


def _exit_diagnosis(program: str, status: int, lines: list[str]) -> Diagnosis:
    meaning = _EXIT_MEANINGS.get(status, "it failed")
    code = ExitCode(status) if status in set(_EXIT_MEANINGS) else ExitCode.UNAVAILABLE
    if status < 0:
        meaning = f"it was killed by signal {-status}"
    return Diagnosis(
        Stage.SEND,
        untrusted_text(f"{Path(program).name} exited with status {status}: {meaning}"),
        evidence=" ".join(lines[-3:])[:500],
        exit_code=code,
    )
