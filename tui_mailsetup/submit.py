"""What ``tui-mailsetup sendmail`` does with a message from a program: prepared as sendmail
would (caller's headers kept, Bcc removed, Date and Message-ID added when missing),
sent through the configured driver by the one runner (:func:`runner.run_test` with the
message given), and kept in the spool (:mod:`tui_mailsetup.spool`) when the failure is
not the message's own fault; and the spool's retry.

Which failures keep the message: every one except those that say the message itself
can never go (65 invalid address or message, 67 recipient refused, 64 usage). An
unreachable relay (69), a timeout or a 4xx (75), a TLS problem (76), refused credentials
(77) and a broken configuration (78) are all things an administrator fixes, after which
``mta queue --retry`` sends what waited, as Postfix defers on them rather than bouncing.
No bounce message is generated: a permanent failure is the exit code and the
diagnosis on standard error (PHP's ``mail()`` returns false, cron logs it), which is
what a program calling sendmail can act on; a bounce to a sender address that may be
the same unreachable relay's would be lost anyway.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import email.policy
import email.utils
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from email.message import EmailMessage
from email.parser import BytesParser
from typing import TYPE_CHECKING

from tui_mailsetup.engine.events import Event, Outcome
from tui_mailsetup.errors import UsageError
from tui_mailsetup.exitcodes import ExitCode
from tui_mailsetup.settings import Driver, MailSettings
from tui_mailsetup.spool import Entry, Envelope, Spool

if TYPE_CHECKING:
    from tui_mailsetup.config_file import LoadedConfig

PERMANENT = frozenset({ExitCode.USAGE, ExitCode.DATAERR, ExitCode.NOUSER})
"""Exit codes that say the message can never go as it is: not kept in the spool."""

KEEP_HEADERS = email.policy.SMTP.clone(refold_source="none")
"""Parse and write back the caller's headers exactly as they came (no refolding)."""

_LOCAL_USER = re.compile(r"^[a-z_][a-z0-9_.-]{0,31}\$?$", re.IGNORECASE)

EventSink = Callable[[Event], None]


@dataclass
class Submission:
    message: bytes
    recipients: list[str]
    sender: str = ""
    """-f: the envelope sender ("" for sender.address)."""
    sender_name: str = ""
    notes: tuple[str, ...] = ()


def _cut_at_dot(raw: bytes) -> bytes:
    """Without -i, a line holding only "." ends the message (sendmail's old rule)."""
    match = re.search(rb"(?m)^\.\r?$", raw)
    return raw[: match.start()] if match else raw


def parse(data: bytes) -> EmailMessage:
    message = BytesParser(policy=KEEP_HEADERS).parsebytes(data)
    assert isinstance(message, EmailMessage)
    return message


def prepare(
    raw: bytes,
    settings: MailSettings,
    *,
    recipients: list[str],
    extract: bool,
    sender: str = "",
    sender_name: str = "",
    ignore_dots: bool = True,
    now: dt.datetime | None = None,
) -> Submission:
    """The message and its envelope as sendmail would make them. UsageError (64) without
    a recipient; a recipient that is no address is left for the runner to refuse (65)."""
    from tui_mailsetup.message import new_message_id

    _check_sender(sender, sender_name)
    if not ignore_dots:
        raw = _cut_at_dot(raw)
    message = parse(raw)
    wanted = [r.strip() for r in recipients if r.strip()]
    if extract:
        for header in ("To", "Cc", "Bcc"):
            values = [str(v) for v in message.get_all(header, [])]
            wanted += [address for _, address in email.utils.getaddresses(values) if address]
    # Bcc recipients are told to nobody, as sendmail -t does.
    del message["Bcc"]
    del message["Resent-Bcc"]
    address = sender.strip() or settings.sender.address.strip()
    notes: list[str] = []
    resolved: list[str] = []
    for recipient in wanted:
        if "@" not in recipient and _LOCAL_USER.match(recipient) and settings.sender.address:
            # A local user (cron's "root"): this machine delivers nothing locally, so the
            # operator's own address gets it, as msmtp's and ssmtp's aliases are set up.
            notes.append(f"{recipient} is a local user: delivered to {settings.sender.address}")
            recipient = settings.sender.address.strip()
        if recipient not in resolved:
            resolved.append(recipient)
    if not resolved:
        raise UsageError(
            "no recipients: name them on the command line, or use -t to read To, Cc and Bcc"
        )
    if message["From"] is None and address:
        name = sender_name.strip() or settings.sender.name.strip()
        message["From"] = email.utils.formataddr((name, address)) if name else address
    if message["Date"] is None:
        message["Date"] = email.utils.format_datetime(
            (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
        )
    if message["Message-ID"] is None:
        message["Message-ID"] = new_message_id(address)
    return Submission(bytes(message), resolved, sender.strip(), sender_name.strip(), tuple(notes))


def _check_sender(sender: str, sender_name: str) -> None:
    """-f and -F go into MAIL FROM and a header: judged by the settings' own rules at the
    door (65), never repaired, and never a reason to keep a message that cannot go."""
    from pydantic import ValidationError

    from tui_mailsetup.errors import DataError
    from tui_mailsetup.names import AddressError, check_address
    from tui_mailsetup.settings import SenderSettings

    if sender.strip():
        try:
            check_address(sender.strip())
        except AddressError as exc:
            raise DataError(f"-f {sender!r}: {exc}") from None
    if sender_name.strip():
        try:
            SenderSettings(name=sender_name.strip())
        except ValidationError as exc:
            problem = "; ".join(str(e.get("msg", "")) for e in exc.errors())
            raise DataError(f"-F {sender_name!r}: {problem}") from None


def _settings_for(settings: MailSettings, submission: Submission) -> MailSettings:
    if not submission.sender:
        return settings
    updates: dict[str, object] = {
        "sender": settings.sender.model_copy(update={"address": submission.sender})
    }
    if settings.driver is Driver.GRAPH and not settings.graph.mailbox.strip():
        # -f changes the envelope sender, not the mailbox Graph sends as.
        updates["graph"] = settings.graph.model_copy(
            update={"mailbox": settings.sender.address.strip()}
        )
    return settings.model_copy(update=updates)


def deliver(
    loaded: LoadedConfig, submission: Submission, on_event: EventSink | None = None
) -> Outcome:
    """Send ``submission`` once through the configured driver (the one runner)."""
    from tui_mailsetup.runner import run_test

    message = parse(submission.message)
    return asyncio.run(
        run_test(
            loaded,
            submission.recipients,
            settings=_settings_for(loaded.settings, submission),
            on_event=on_event,
            message_builder=lambda _settings, _recipients: message,
            kind="sendmail",
            record=False,
        )
    )


def kept(outcome: Outcome) -> bool:
    """Whether a failed send keeps the message (see the module docstring)."""
    return not outcome.ok and outcome.exit_code not in PERMANENT


def envelope_for(submission: Submission, outcome: Outcome | None, reason: str = "") -> Envelope:
    envelope = Envelope(
        submission.sender, submission.recipients, sender_name=submission.sender_name
    )
    _record(envelope, outcome, reason)
    return envelope


def _record(envelope: Envelope, outcome: Outcome | None, reason: str = "") -> None:
    envelope.last_attempt = time.time()
    diagnosis = outcome.diagnosis if outcome is not None else None
    envelope.reason = reason or (diagnosis.cause if diagnosis else "not sent")
    envelope.stage = outcome.stage.value if outcome is not None else "config"
    envelope.exit_code = int(outcome.exit_code) if outcome is not None else int(ExitCode.CONFIG)
    envelope.retry_after = diagnosis.retry_after if diagnosis else None


# --------------------------------------------------------------------------- retry


@dataclass(frozen=True)
class RetryResult:
    id: str
    status: str
    """sent | deferred | failed | waiting | gone"""
    reason: str = ""
    exit_code: int = 0

    def to_json(self) -> dict[str, object]:
        return dataclasses.asdict(self)


def retry(loaded: LoadedConfig, spool: Spool, *, now: float | None = None) -> list[RetryResult]:
    """Send each queued message once (spool.SpoolBusy when another retry runs)."""
    results: list[RetryResult] = []
    with spool.retrying():
        for entry in spool.entries():
            if not entry.envelope.recipients:  # an envelope that cannot be read: left alone
                results.append(RetryResult(entry.id, "unreadable", entry.envelope.reason, 74))
                continue
            moment = time.time() if now is None else now
            waiting = entry.envelope.retry_after
            if waiting is not None and waiting > moment:
                stamp = dt.datetime.fromtimestamp(waiting, dt.UTC)
                results.append(
                    RetryResult(entry.id, "waiting", f"rate limited until {stamp:%H:%M:%S} UTC")
                )
                continue
            claimed = spool.claim(entry)
            if claimed is None:
                results.append(RetryResult(entry.id, "gone"))
                continue
            results.append(_retry_one(loaded, spool, claimed))
    return results


def _retry_one(loaded: LoadedConfig, spool: Spool, entry: Entry) -> RetryResult:
    envelope = entry.envelope
    submission = Submission(
        entry.message(), envelope.recipients, envelope.sender, envelope.sender_name
    )
    outcome = deliver(loaded, submission)
    if outcome.ok:
        spool.done(entry)
        return RetryResult(entry.id, "sent")
    envelope.attempts += 1
    _record(envelope, outcome)
    failed = not kept(outcome)
    spool.release(entry, envelope, failed=failed)
    return RetryResult(
        entry.id, "failed" if failed else "deferred", envelope.reason, int(outcome.exit_code)
    )
