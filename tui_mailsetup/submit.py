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
    problem: str = ""
    """A configuration problem found while addressing it (78): kept, not sent."""


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
    addressing = address(wanted, sender, settings)
    if not addressing.recipients:
        raise UsageError(
            "no recipients: name them on the command line, or use -t to read To, Cc and Bcc"
        )
    _complete(message, settings, addressing.sender, sender_name)
    if message["Date"] is None:
        message["Date"] = email.utils.format_datetime(
            (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
        )
    return Submission(
        bytes(message),
        addressing.recipients,
        addressing.sender,
        sender_name.strip(),
        addressing.notes,
        addressing.problem,
    )


def _is_local(name: str) -> bool:
    """A bare local user (cron's "root"), not an address."""
    return "@" not in name and bool(_LOCAL_USER.match(name))


@dataclass(frozen=True)
class Addressing:
    recipients: list[str]
    sender: str
    """The envelope sender: -f, "" for sender.address, or a local user left unmapped."""
    notes: tuple[str, ...] = ()
    problem: str = ""
    """A configuration problem (78) that keeps the message: nobody to map local users to."""


def address(recipients: list[str], sender: str, settings: MailSettings) -> Addressing:
    """Local users mapped to sender.address, as recipients and as -f (cron always sends
    ``-f root``): this machine delivers nothing locally, so the operator's own address
    stands in, as msmtp's and ssmtp's aliases are set up. Done when the message is
    submitted and again on each retry (a message kept because the configuration did not
    load still names "root")."""
    own = settings.sender.address.strip()
    notes: list[str] = []
    unmapped: list[str] = []
    resolved: list[str] = []
    for recipient in recipients:
        if _is_local(recipient):
            if own:
                notes.append(f"{recipient} is a local user: delivered to {own}")
                recipient = own
            else:
                unmapped.append(recipient)
        if recipient not in resolved:
            resolved.append(recipient)
    envelope_sender = sender.strip()
    if envelope_sender and _is_local(envelope_sender):
        if own:
            notes.append(f"-f {envelope_sender} is a local user: the envelope sender is {own}")
            envelope_sender = ""
        else:
            unmapped.append(envelope_sender)
    problem = ""
    if not own and (unmapped or not envelope_sender):
        who = f" ({', '.join(unmapped)} cannot be mapped to an address)" if unmapped else ""
        problem = (
            f"sender.address is not configured{who}: set it (tui-mailsetup set "
            "sender.address=you@example.com), then `tui-mailsetup mta queue --retry`"
        )
    return Addressing(resolved, envelope_sender, tuple(notes), problem)


def _complete(message: EmailMessage, settings: MailSettings, sender: str, sender_name: str) -> None:
    """From and Message-ID when the caller left them out (sendmail adds them)."""
    from tui_mailsetup.message import new_message_id

    own = sender or settings.sender.address.strip()
    if _is_local(own):
        own = ""
    if message["From"] is None and own:
        name = sender_name.strip() or settings.sender.name.strip()
        message["From"] = email.utils.formataddr((name, own)) if name else own
    if message["Message-ID"] is None:
        message["Message-ID"] = new_message_id(own)


def _check_sender(sender: str, sender_name: str) -> None:
    """-f and -F go into MAIL FROM and a header: judged by the settings' own rules at the
    door (65), never repaired, and never a reason to keep a message that cannot go."""
    from pydantic import ValidationError

    from tui_mailsetup.errors import DataError
    from tui_mailsetup.names import AddressError, check_address
    from tui_mailsetup.settings import SenderSettings

    if sender.strip() and not _is_local(sender.strip()):
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
            # Delivery serves the cached token; only send-test and check prove it.
            prove_token=False,
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
                results.append(
                    RetryResult(
                        entry.id, "unreadable", entry.envelope.reason, entry.envelope.exit_code
                    )
                )
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
    # Local users are mapped with the settings loaded now: a message kept because the
    # configuration did not load still names "root".
    addressing = address(envelope.recipients, envelope.sender, loaded.settings)
    if addressing.problem:
        envelope.attempts += 1
        _record(envelope, None, addressing.problem)
        spool.release(entry, envelope)
        return RetryResult(entry.id, "deferred", envelope.reason, int(ExitCode.CONFIG))
    message = parse(entry.message())
    _complete(message, loaded.settings, addressing.sender, envelope.sender_name)
    submission = Submission(
        bytes(message), addressing.recipients, addressing.sender, envelope.sender_name
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
