"""``mta test``: a message handed to the system's sendmail and followed to its fate.

Postfix: the queue ID comes from the log line where cleanup records the
message's unique Message-ID; the delivery attempt from the line that ends
in ``status=sent|deferred|bounced (…)``. The log is Postfix's own
``maillog_file`` when set, else ``/var/log/mail.log``, else the journal;
with no log at all, ``postqueue -j`` alone says queued, deferred (with the
reason) or gone. msmtp delivers synchronously: its exit status and its
complaint are the whole story.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path

from tui_mailsetup.engine.events import Diagnosis, Stage
from tui_mailsetup.exitcodes import ExitCode
from tui_mailsetup.mta import MtaError, reasons, run_with_input
from tui_mailsetup.mta.detect import SYSTEM_SENDMAIL
from tui_mailsetup.mta.msmtp import Msmtp
from tui_mailsetup.mta.postfix import Postfix
from tui_mailsetup.sanitize import untrusted_text
from tui_mailsetup.settings import MailSettings

SYSTEM_MAIL_LOG = Path("/var/log/mail.log")
POLL = 0.2
LOG_GRACE = 5.0
"""Seconds to wait for the log to name the message before watching the queue alone."""
_LOG_LINE = re.compile(r"\]: (?P<qid>[0-9A-Za-z]{6,20}): (?P<rest>.*)$")
_DELIVERY = re.compile(
    r"to=<(?P<to>[^>]*)>,.*?relay=(?P<relay>[^,]*),.*?status=(?P<status>\w+) \((?P<text>.*)\)\s*$"
)

Progress = Callable[[str], None]


@dataclass
class FollowResult:
    status: str
    """delivered, deferred, bounced, queued (still there at the time limit), left-queue (gone,
    with no log to say how) or not-submitted."""
    elapsed: float
    queue_id: str = ""
    relay: str = ""
    reply: str = ""
    """The relay's reply (delivered) or the MTA's reason (deferred, bounced), sanitised."""
    diagnosis: Diagnosis | None = None
    log: list[str] = field(default_factory=list)
    message_id: str = ""

    @property
    def ok(self) -> bool:
        return self.status in ("delivered", "left-queue")

    @property
    def exit_code(self) -> ExitCode:
        if self.ok:
            return ExitCode.OK
        return self.diagnosis.exit_code if self.diagnosis else ExitCode.TEMPFAIL

    @property
    def stage(self) -> Stage:
        return self.diagnosis.stage if self.diagnosis else Stage.SEND

    def to_json(self) -> dict[str, object]:
        return {
            "ok": self.ok,
            "stage": self.stage.value,
            "elapsed": round(self.elapsed, 3),
            "status": self.status,
            "queue_id": self.queue_id,
            "message_id": self.message_id,
            "relay": self.relay,
            "reply": self.reply,
            "diagnosis": self.diagnosis.to_json() if self.diagnosis else None,
            "log": self.log,
            "exit_code": int(self.exit_code),
        }


class LogSource:
    """New lines of the mail log since this object was made."""

    def __init__(self, path: Path | None, *, journal: bool = False) -> None:
        self.path = path
        self.journal = journal and shutil.which("journalctl") is not None
        self._offset = path.stat().st_size if path is not None and path.exists() else 0
        self._since = time.time() - 1
        self._seen: set[str] = set()
        self._partial = ""

    @property
    def description(self) -> str:
        if self.path is not None:
            return str(self.path)
        return "the journal" if self.journal else "no mail log"

    @property
    def poll_interval(self) -> float:
        """Seconds between reads: a file is cheap to read, running journalctl is not."""
        return 1.0 if self.path is None and self.journal else POLL

    @property
    def available(self) -> bool:
        return self.path is not None or self.journal

    def new_lines(self) -> list[str]:
        if self.path is not None:
            try:
                with self.path.open("rb") as handle:
                    handle.seek(self._offset)
                    data = handle.read()
            except OSError:
                return []
            self._offset += len(data)
            text = self._partial + data.decode("utf-8", "replace")
            lines = text.split("\n")
            self._partial = lines.pop()
            return lines
        if self.journal:
            try:
                completed = subprocess.run(
                    [
                        "journalctl",
                        "--no-pager",
                        "-q",
                        "-o",
                        "short-iso",
                        "--since",
                        f"@{self._since:.0f}",
                    ],
                    capture_output=True,
                    text=True,
                    errors="replace",
                    timeout=10,
                    stdin=subprocess.DEVNULL,
                )
            except (OSError, subprocess.TimeoutExpired):
                return []
            fresh = [line for line in completed.stdout.splitlines() if line not in self._seen]
            self._seen.update(fresh)
            return fresh
        return []


def postfix_log(postfix: Postfix) -> LogSource:
    configured = postfix.maillog_file()
    if configured and configured.startswith("/"):
        path = Path(configured)
    elif SYSTEM_MAIL_LOG.is_file():
        path = SYSTEM_MAIL_LOG
    else:
        return LogSource(None, journal=True)
    if path.exists() and not os.access(path, os.R_OK):
        # Not readable by this user (mail.log is root:adm 0640): the queue alone then.
        return LogSource(None)
    return LogSource(path)


def _submit(
    argv: list[str], message: EmailMessage, timeout: float
) -> subprocess.CompletedProcess[bytes]:
    data = message.as_bytes(policy=message.policy.clone(linesep="\n"))
    return run_with_input(argv, data, timeout=timeout)


def sendmail_argv(command: list[str], sender: str, recipient: str) -> list[str]:
    return [*command, "-i", "-f", sender, "--", recipient]


def _submit_failed(completed: subprocess.CompletedProcess[bytes], started: float) -> FollowResult:
    said = untrusted_text(completed.stderr or completed.stdout or b"")
    known = {int(code) for code in ExitCode}
    code = ExitCode(completed.returncode) if completed.returncode in known else ExitCode.UNAVAILABLE
    return FollowResult(
        "not-submitted",
        time.monotonic() - started,
        diagnosis=Diagnosis(
            stage=Stage.SEND,
            cause=f"sendmail refused the message (exit status {completed.returncode})",
            evidence=said or "no output",
            exit_code=code,
        ),
    )


def follow_postfix(
    postfix: Postfix,
    settings: MailSettings,
    message: EmailMessage,
    recipient: str,
    *,
    sendmail: Path,
    timeout: float,
    progress: Progress | None = None,
    log: LogSource | None = None,
) -> FollowResult:
    """Submit, then follow; ``log`` overrides where the mail log is read (None: Postfix's)."""
    say = progress or (lambda _text: None)
    started = time.monotonic()
    deadline = started + timeout
    message_id = str(message["Message-ID"]).strip().strip("<>")
    log = log or postfix_log(postfix)
    postfix.require_configured()
    try:
        before = {entry.queue_id for entry in postfix.queue()}
    except MtaError as exc:
        raise MtaError(
            f"Postfix is not running, so the message would only wait in its queue ({exc}); "
            "start it (systemctl start postfix) and test again",
            ExitCode.UNAVAILABLE,
        ) from exc
    argv = sendmail_argv(
        [str(sendmail), *postfix.submit_options()], settings.sender.address.strip(), recipient
    )
    say(f"submitting through {sendmail}; following {log.description}")
    completed = _submit(argv, message, timeout)
    if completed.returncode != 0:
        return _submit_failed(completed, started)
    result = FollowResult("queued", 0.0, message_id=untrusted_text(message_id))
    say("accepted by sendmail")
    watch_queue = not log.available
    while time.monotonic() < deadline:
        for line in log.new_lines():
            match = _LOG_LINE.search(line)
            if match is None:
                continue
            qid, rest = match.group("qid"), match.group("rest")
            if not result.queue_id:
                if rest.strip() == f"message-id=<{message_id}>":
                    result.queue_id = qid
                    say(f"queued as {qid}")
                continue
            if qid != result.queue_id:
                continue
            result.log.append(untrusted_text(line))
            delivery = _DELIVERY.search(rest)
            if delivery is None:
                continue
            status = delivery.group("status")
            result.relay = untrusted_text(delivery.group("relay"))
            result.reply = untrusted_text(delivery.group("text"))
            say(f"{status}: relay={result.relay} ({result.reply})")
            if status == "sent":
                result.status = "delivered"
            elif status in ("deferred", "bounced", "expired"):
                result.status = "deferred" if status == "deferred" else "bounced"
                result.diagnosis = reasons.postfix_reason(
                    delivery.group("text"), settings, bounced=result.status == "bounced"
                )
            else:
                continue
            result.elapsed = time.monotonic() - started
            return result
        if not result.queue_id and time.monotonic() - started > LOG_GRACE:
            # A log that does not show this message: the queue tells what it can.
            watch_queue = True
        if watch_queue:
            _follow_queue(postfix, settings, result, before, say)
            if result.status != "queued":
                result.elapsed = time.monotonic() - started
                return result
        time.sleep(log.poll_interval)
    result.elapsed = time.monotonic() - started
    where = f" as {result.queue_id}" if result.queue_id else ""
    result.diagnosis = Diagnosis(
        stage=Stage.SEND,
        cause=f"The message is still in the queue{where} after {timeout:g} s",
        evidence=f"no delivery attempt recorded in {log.description}",
        explanation=(
            "Postfix accepted it but has not finished a delivery attempt: the relay is slow "
            "to answer, Postfix is not running (postfix status), or its queue is backed up "
            "(mta queue)."
        ),
        exit_code=ExitCode.TEMPFAIL,
    )
    return result


def _follow_queue(
    postfix: Postfix, settings: MailSettings, result: FollowResult, before: set[str], say: Progress
) -> None:
    """Without a log: find the message in ``postqueue -j`` and watch it."""
    entries = postfix.queue()
    sender = settings.sender.address.strip()
    if not result.queue_id:
        # Not from maildrop: pickup gives the message a new queue ID when it takes it in.
        fresh = [
            e
            for e in entries
            if e.queue_id not in before and e.sender == sender and e.queue != "maildrop"
        ]
        if fresh:
            result.queue_id = fresh[0].queue_id
            say(f"queued as {result.queue_id}")
        return
    entry = next((e for e in entries if e.queue_id == result.queue_id), None)
    if entry is None:
        result.status = "left-queue"
        result.reply = (
            "it left the queue: delivered, or bounced back to the sender (no readable mail "
            "log says which)"
        )
        return
    if entry.queue == "deferred" and entry.reason:
        result.status = "deferred"
        result.reply = entry.reason
        result.diagnosis = reasons.postfix_reason(entry.reason, settings)


def follow_msmtp(
    settings: MailSettings,
    message: EmailMessage,
    recipient: str,
    *,
    command: list[str],
    timeout: float,
    progress: Progress | None = None,
) -> FollowResult:
    """``command`` is msmtp's sendmail (``/usr/sbin/sendmail`` or ``msmtp -C FILE``)."""
    say = progress or (lambda _text: None)
    started = time.monotonic()
    argv = sendmail_argv(command, settings.sender.address.strip(), recipient)
    say(f"submitting through {' '.join(command)} (msmtp delivers at once, no queue)")
    completed = _submit(argv, message, timeout)
    output = (completed.stderr + completed.stdout).decode("utf-8", "replace")
    result = FollowResult(
        "delivered",
        time.monotonic() - started,
        message_id=untrusted_text(str(message["Message-ID"]).strip().strip("<>")),
        relay=untrusted_text(f"{settings.smtp.host}:{settings.smtp.port}"),
        log=[untrusted_text(line) for line in output.splitlines() if line.strip()],
    )
    if completed.returncode == 0:
        result.reply = "accepted by the relay"
        return result
    result.diagnosis = reasons.msmtp_output(output, completed.returncode, settings)
    result.status = (
        "bounced"
        if result.diagnosis.exit_code in (ExitCode.NOUSER, ExitCode.DATAERR)
        else "deferred"
    )
    result.reply = untrusted_text(" / ".join(output.splitlines()[:4]))
    return result


def send_and_follow(
    backend: Postfix | Msmtp,
    settings: MailSettings,
    recipient: str,
    *,
    sendmail: Path | None,
    timeout: float,
    progress: Progress | None = None,
) -> FollowResult:
    """``mta test``: the test message through ``sendmail``, followed as the MTA allows.

    ``sendmail`` None: the MTA's own (Postfix's /usr/sbin/sendmail with ``-C`` for another
    instance; msmtp, with ``-C`` for an msmtprc elsewhere than /etc).
    """
    from tui_mailsetup.message import MessageError, build_test_message

    try:
        message = build_test_message(settings, [recipient] if recipient else [])
    except MessageError as exc:
        raise MtaError(str(exc), exc.exit_code) from exc
    if isinstance(backend, Postfix):
        return follow_postfix(
            backend,
            settings,
            message,
            recipient,
            sendmail=sendmail or SYSTEM_SENDMAIL,
            timeout=timeout,
            progress=progress,
        )
    command = [str(sendmail)] if sendmail else backend.sendmail_command()
    return follow_msmtp(
        settings, message, recipient, command=command, timeout=timeout, progress=progress
    )
