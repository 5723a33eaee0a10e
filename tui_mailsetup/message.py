"""The test message: what "send a test email" sends.

Its body tells the reader which configuration sent it (host, port,
encryption, user, driver, time, version) and never contains a secret.
"""

from __future__ import annotations

import datetime as dt
import email.errors
import email.utils
import uuid
from email.headerregistry import Address
from email.message import EmailMessage

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
