"""The demo's inbox: the messages the local sandbox server received, headers and body."""

from __future__ import annotations

from email import message_from_bytes, policy
from email.message import EmailMessage

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

from tui_mailsetup.sanitize import untrusted_text
from tui_mailsetup.tui.hooks import InboxSource

HEADERS = ("From", "To", "Subject", "Date", "Message-ID")
BODY_LINES = 30


def message_text(
    number: int, data: bytes, envelope_from: str, envelope_to: tuple[str, ...]
) -> Text:
    parsed = message_from_bytes(data, policy=policy.default)
    text = Text()
    text.append(f"#{number}  ", style="bold reverse")
    text.append(
        f" envelope {untrusted_text(envelope_from)} → {untrusted_text(', '.join(envelope_to))}\n",
        style="dim",
    )
    for header in HEADERS:
        value = parsed.get(header)
        if value is not None:
            text.append(f"{header}: ", style="bold")
            text.append(untrusted_text(str(value)) + "\n")
    body = ""
    if isinstance(parsed, EmailMessage):
        part = parsed.get_body(preferencelist=("plain",))
        if part is not None and isinstance(part, EmailMessage):
            body = str(part.get_content())
    lines = body.splitlines()
    for line in lines[:BODY_LINES]:
        text.append("  " + untrusted_text(line) + "\n")
    if len(lines) > BODY_LINES:
        text.append(f"  … {len(lines) - BODY_LINES} more lines\n", style="dim")
    return text


class InboxPane(VerticalScroll):
    """Lists what the sandbox received; refreshed after each test and once a second."""

    DEFAULT_CSS = """
    InboxPane {
        height: 1fr;
        padding: 0 1;
    }
    """

    def __init__(self, source: InboxSource, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._source = source
        self._count = -1

    def compose(self) -> ComposeResult:
        yield Static("", id="inbox-messages")

    def on_mount(self) -> None:
        self.refresh_messages()
        self.set_interval(1.0, self.refresh_messages)

    def refresh_messages(self) -> None:
        messages = list(self._source())
        if len(messages) == self._count:
            return
        self._count = len(messages)
        if not messages:
            self.query_one("#inbox-messages", Static).update(
                Text("No message received yet: ctrl+t sends a test to the sandbox.", style="dim")
            )
            return
        text = Text(f"{len(messages)} message(s) received by the sandbox\n\n", style="bold")
        for number, message in reversed(list(enumerate(messages, start=1))):
            text.append_text(
                message_text(number, message.data, message.mail_from, message.rcpt_tos)
            )
            text.append("\n")
        self.query_one("#inbox-messages", Static).update(text)
