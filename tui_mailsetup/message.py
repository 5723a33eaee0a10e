"""The test message: what "send a test email" sends.

Its body tells the reader which configuration sent it (host, port,
encryption, user, driver, time, version) and never contains a secret.
"""

from __future__ import annotations

import datetime as dt
import email.errors
import email.utils
import re
import uuid
from dataclasses import dataclass
from email.headerregistry import Address
from email.message import EmailMessage
from pathlib import Path

from tui_mailsetup import __version__
from tui_mailsetup.exitcodes import ExitCode
from tui_mailsetup.names import AddressError, check_address, host_to_ascii
from tui_mailsetup.settings import SENDER_NAME_MAX as SENDER_NAME_MAX  # the limit, re-exported
from tui_mailsetup.settings import MailSettings, sender_name_problem


class MessageError(ValueError):
    """The sender or a recipient cannot be put in a header (never repaired silently).

    ``exit_code`` is 65 for a value that cannot be used (an address, a name too
    long) and 78 for a missing setting (no sender address).
    """

    def __init__(self, message: str, *, exit_code: ExitCode = ExitCode.DATAERR) -> None:
        super().__init__(message)
        self.exit_code = exit_code


# Everything the email package raises for a value it cannot put in a header.
_HEADER_ERRORS = (ValueError, IndexError, TypeError, email.errors.MessageError)


def _address(display_name: str, addr_spec: str, what: str) -> Address:
    # The one address check (names.check_address): strict, never repaired. The header
    # parser alone would turn "alice @example.test" or a comment into another address.
    try:
        mailbox = check_address(addr_spec)
    except AddressError as exc:
        raise MessageError(f"{what}: {exc}") from None
    try:
        return Address(
            display_name=display_name, username=mailbox.unquoted_local, domain=mailbox.domain
        )
    except _HEADER_ERRORS as exc:
        raise MessageError(f"{what} cannot be put in a header: {exc}") from None


def _msgid_domain(address: str) -> str:
    domain = address.rpartition("@")[2].strip().rstrip(".")
    if not domain:
        return "tui-mailsetup.invalid"
    try:
        return host_to_ascii(domain)
    except ValueError:
        return "tui-mailsetup.invalid"


def new_message_id(sender_address: str) -> str:
    """A new Message-ID in the sender's domain."""
    # make_msgid() would call socket.getfqdn(), which can stall on reverse DNS.
    return f"<{uuid.uuid4().hex}.tui-mailsetup@{_msgid_domain(sender_address)}>"


def build_test_message(
    settings: MailSettings,
    recipients: list[str],
    *,
    now: dt.datetime | None = None,
) -> EmailMessage:
    """The test email from ``sender`` to ``recipients`` (SMTPUTF8 is decided when sending)."""
    sender = settings.sender
    if not sender.address.strip():
        raise MessageError(
            "sender.address is empty: set it with tui-mailsetup set sender.address ADDRESS",
            exit_code=ExitCode.CONFIG,
        )
    if not recipients:
        raise MessageError(
            "no recipient: give --to ADDRESS or set sender.address", exit_code=ExitCode.CONFIG
        )
    if problem := sender_name_problem(sender.name):
        raise MessageError(f"sender.name {problem}")
    sent = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    name = sender.name.strip()
    message = EmailMessage()
    try:
        message["From"] = _address(name, sender.address, "sender.address")
        message["To"] = [_address("", r, "recipient") for r in recipients]
    except MessageError:
        raise
    except _HEADER_ERRORS as exc:
        raise MessageError(f"the sender or a recipient cannot be put in a header: {exc}") from None
    message["Subject"] = f"Test email from {name or sender.address.strip()}"
    message["Date"] = email.utils.format_datetime(sent)
    message["Message-ID"] = new_message_id(sender.address)
    message["User-Agent"] = f"tui-mailsetup/{__version__}"
    smtp = settings.smtp
    driver = settings.driver.value
    lines = [
        "This is a test email from tui-mailsetup, checking this server's mail settings.",
        "If you can read it, they work.",
        "",
        f"Driver:         {driver}",
    ]
    if driver == "smtp":
        lines += [
            f"Host:           {smtp.host}",
            f"Port:           {smtp.port}",
            f"Encryption:     {smtp.encryption.value}",
            f"Authentication: {smtp.username + ' (' + smtp.auth.value + ')' if smtp.username else 'none'}",
        ]
    elif driver == "mailgun":
        lines += [
            f"Domain:         {settings.mailgun.domain}",
            f"Region:         {settings.mailgun.region.value}",
        ]
    elif driver == "graph":
        lines += [f"Mailbox:        {settings.graph.mailbox or settings.sender.address}"]
    elif driver == "ses":
        lines += [f"Region:         {settings.ses.region}"]
    elif driver == "sendmail":
        lines += [f"Binary:         {settings.sendmail.path}"]
    lines += [
        f"Sent at (UTC):  {sent.strftime('%Y-%m-%d %H:%M:%S')}",
        f"Program:        tui-mailsetup {__version__}",
    ]
    message.set_content("\n".join(lines) + "\n")
    return message


# --------------------------------------------------------------------------- shaping (send-test)

# A header name, as RFC 5322 defines it: printable ASCII but the colon.
_HEADER_NAME = re.compile(r"[!-9;-~]{1,76}")
# Headers the test message sets itself (the envelope, the identity, the MIME structure):
# another value would contradict what the transcript shows, or hide a second recipient.
RESERVED_HEADERS = frozenset(
    {
        "from",
        "sender",
        "to",
        "cc",
        "bcc",
        "reply-to",
        "subject",
        "date",
        "message-id",
        "mime-version",
        "content-type",
        "content-transfer-encoding",
        "content-disposition",
        "return-path",
        "received",
    }
)
SUBJECT_MAX = 900
"""Characters: a header line may be 998 octets, its name and folding included."""
ATTACHMENT_MAX = 10 * 1024 * 1024
"""Bytes: a test message, not a file transfer (and most relays refuse 25 MB and more)."""
_UNSAFE_IN_HEADER = re.compile(r"[\x00-\x08\x0a-\x1f\x7f\u0085\u2028\u2029]")
_UNSAFE_IN_BODY = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


@dataclass(frozen=True)
class Attachment:
    filename: str
    data: bytes
    content_type: str


@dataclass(frozen=True)
class MessageShape:
    """What ``send-test`` was asked to put in the test message instead of its own text."""

    subject: str | None = None
    body: str | None = None
    headers: tuple[tuple[str, str], ...] = ()
    attachments: tuple[Attachment, ...] = ()

    def describe(self) -> list[str]:
        """One line each, for the transcript (the values already checked: no control text)."""
        lines = []
        if self.subject is not None:
            lines.append(f"Subject: {self.subject}")
        if self.body is not None:
            lines.append(f"body: {len(self.body.encode('utf-8'))} bytes of your text")
        lines += [f"{name}: {value}" for name, value in self.headers]
        lines += [
            f"attachment: {a.filename} ({len(a.data)} bytes, {a.content_type})"
            for a in self.attachments
        ]
        return lines

    def to_json(self) -> dict[str, object]:
        return {
            "subject": self.subject,
            "body_bytes": None if self.body is None else len(self.body.encode("utf-8")),
            "headers": [{"name": n, "value": v} for n, v in self.headers],
            "attachments": [
                {"filename": a.filename, "bytes": len(a.data), "content_type": a.content_type}
                for a in self.attachments
            ],
        }


def check_subject(subject: str) -> str:
    """A subject as typed; a line break (header injection) or control character is refused."""
    if _UNSAFE_IN_HEADER.search(subject):
        raise MessageError(
            "--subject contains a line break or control character: refused (it could add "
            "headers of its own)"
        )
    if len(subject) > SUBJECT_MAX:
        raise MessageError(f"--subject is longer than {SUBJECT_MAX} characters")
    return subject


def parse_header(text: str) -> tuple[str, str]:
    """``"Name: value"`` as typed for ``--header``; anything that could smuggle in another
    header (a line break) or replace one the test sets itself is refused (65)."""
    name, sep, value = text.partition(":")
    name, value = name.strip(), value.strip()
    shown = _UNSAFE_IN_HEADER.sub("?", text)[:80]
    if not sep or not _HEADER_NAME.fullmatch(name):
        raise MessageError(
            f'--header {shown!r}: expected "Name: value", the name printable ASCII '
            'without spaces or a colon (e.g. "X-Test-Run: 42")'
        )
    if _UNSAFE_IN_HEADER.search(value):
        raise MessageError(
            f"--header {name}: the value contains a line break or control character: "
            "refused (header injection)"
        )
    if name.lower() in RESERVED_HEADERS:
        hint = " (use --subject)" if name.lower() == "subject" else ""
        raise MessageError(f"--header {name}: the test message sets this header itself{hint}")
    if len(name) + len(value) > SUBJECT_MAX:
        raise MessageError(f"--header {name}: longer than {SUBJECT_MAX} characters")
    return name, value


def check_body(body: str, what: str = "--body") -> str:
    if _UNSAFE_IN_BODY.search(body):
        raise MessageError(f"{what} contains control characters (NUL, escape, …): refused")
    return body


def _read_regular(path: Path, what: str) -> bytes:
    """A regular file's bytes, at most ATTACHMENT_MAX: a FIFO, a device (/dev/zero) or a
    file that grows while read is refused, never read without end."""
    import os
    import stat

    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        raise MessageError(f"{what} {path}: cannot read it: {exc.strerror or exc}") from None
    # Judged before fdopen, which refuses a directory with the descriptor's number as its
    # name ("cannot use 3").
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise MessageError(f"{what} {path}: not a regular file")
    with os.fdopen(fd, "rb") as handle:
        try:
            data = handle.read(ATTACHMENT_MAX + 1)
        except OSError as exc:
            raise MessageError(f"{what} {path}: cannot read it: {exc.strerror or exc}") from None
    if len(data) > ATTACHMENT_MAX:
        raise MessageError(
            f"{what} {path}: larger than a test message carries "
            f"({ATTACHMENT_MAX // 1024 // 1024} MiB)"
        )
    return data


def read_body_file(path: Path) -> str:
    data = _read_regular(path, "--body-file")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise MessageError(
            f"--body-file {path}: not UTF-8 text (send a binary file with --attach)"
        ) from None
    return check_body(text, f"--body-file {path}")


def read_attachment(path: Path) -> Attachment:
    import mimetypes

    data = _read_regular(path, "--attach")
    filename = _UNSAFE_IN_HEADER.sub("_", path.name) or "attachment"
    content_type = mimetypes.guess_type(filename)[0] or "application/octet-stream"
    return Attachment(filename, data, content_type)


def shape_message(message: EmailMessage, shape: MessageShape) -> EmailMessage:
    """The test message with the subject, body, headers and attachments asked for."""
    if shape.subject is not None:
        del message["Subject"]
        message["Subject"] = shape.subject
    for name, value in shape.headers:
        message[name] = value
    if shape.body is not None:
        message.set_content(shape.body)
    for attachment in shape.attachments:
        maintype, _, subtype = attachment.content_type.partition("/")
        message.add_attachment(
            attachment.data, maintype=maintype, subtype=subtype, filename=attachment.filename
        )
    return message
