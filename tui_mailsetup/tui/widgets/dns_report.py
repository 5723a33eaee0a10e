"""The sender domain's DNS checks in the review step: a "Check DNS" row and the report.

The checks are the engine's (:func:`tui_mailsetup.engine.dns.check_domain`); this
only draws a :class:`~tui_mailsetup.engine.dns.DomainReport`. Everything in a
report may come from DNS (records, and messages that quote them), so it goes
on screen as ``rich.text.Text``, never parsed as markup.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from rich.table import Table
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.widgets import Button, Static

from tui_mailsetup.findings import Severity

if TYPE_CHECKING:
    from tui_mailsetup.engine.dns import DomainReport
    from tui_mailsetup.settings import MailSettings

MARK = {
    Severity.INFO: ("✔", "green"),
    Severity.WARNING: ("!", "bold yellow"),
    Severity.ERROR: ("✘", "bold red"),
}
UNKNOWN = ("?", "bold magenta")
"""A check that could not be completed (a lookup failed): not the same as a missing record."""
NAME_WIDTH = 7
"""len("MTA-STS"): the messages line up."""


def report_summary(report: DomainReport) -> Text:
    """One line: the domain and how many checks passed, warned and failed."""
    counts = {severity: 0 for severity in Severity}
    unknown = sum(1 for check in report.checks if check.unknown)
    for check in report.checks:
        if not check.unknown:
            counts[check.severity] += 1
    text = Text("DNS for ")
    text.append(report.domain, style="bold")
    text.append(": ")
    parts = [
        (f"{counts[Severity.INFO]} ✔", "green"),
        (f"{counts[Severity.WARNING]} !", "bold yellow" if counts[Severity.WARNING] else "dim"),
        (f"{counts[Severity.ERROR]} ✘", "bold red" if counts[Severity.ERROR] else "dim"),
    ]
    if unknown:
        parts.append((f"{unknown} ? unknown", UNKNOWN[1]))
    for index, (part, style) in enumerate(parts):
        if index:
            text.append("  ")
        text.append(part, style=style)
    return text


def report_table(report: DomainReport) -> Table:
    """One row per check (mark, name, message), its records dimmed, the advice when not ok.

    A grid, so that a long message or record wraps under itself, not under the mark.
    """
    table = Table.grid(padding=(0, 1), expand=True)
    table.add_column(no_wrap=True)
    table.add_column(no_wrap=True, min_width=NAME_WIDTH)
    table.add_column(ratio=1, overflow="fold")
    for check in report.checks:
        mark, style = UNKNOWN if check.unknown else MARK[check.severity]
        table.add_row(Text(mark, style=style), Text(check.name, style="bold"), Text(check.message))
        for record in check.records:
            table.add_row("", "", Text(record, style="dim"))
        if check.advice and not check.ok:
            advice = Text("fix: ", style="bold")
            advice.append(check.advice)
            table.add_row("", "", advice)
    return table


class DnsPanel(Vertical):
    """ "Check DNS" with a one-line status, and the last report beneath (scrolls).

    Its layout is in app.tcss (``#dns``): the report is hidden until a check ran.
    """

    class Finished(Message):
        """A check ended (reported, failed, or cancelled)."""

    class CheckRequested(Message):
        """ "Check DNS" was pressed (the screen decides what is checked)."""

    @on(Button.Pressed, "#btn-dns")
    def _pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.post_message(self.CheckRequested())

    @work(exclusive=True, exit_on_error=False, group="dns", name="dns-check")
    async def check(self, settings: MailSettings | None) -> None:
        """Check the sender domain's records; None: there is no sender address to check."""
        try:
            await self._check(settings)
        finally:
            self.post_message(self.Finished())

    def cancel(self) -> None:
        self.workers.cancel_group(self, "dns")

    async def _check(self, settings: MailSettings | None) -> None:
        if settings is None:
            self.no_sender()
            return
        from tui_mailsetup.engine.dns import check_sender_domain, sender_domain
        from tui_mailsetup.names import host_to_ascii

        domain = sender_domain(settings)
        try:
            if not domain:
                raise ValueError("is not an address with a domain")
            domain = host_to_ascii(domain)
        except ValueError as exc:
            self.invalid(domain or settings.sender.address, str(exc))
            return
        self.checking(domain)
        try:
            # As the command line's check: dns.nameservers, dns.timeout, the relay.
            report = await check_sender_domain(settings, domain=domain)
        except asyncio.CancelledError:
            self.cancelled(domain)
            raise
        except Exception as exc:
            self.crashed(domain, exc)
        else:
            self.show_report(report)

    def compose(self) -> ComposeResult:
        with Horizontal(id="dns-actions"):
            yield Button("Check DNS", compact=True, id="btn-dns", tooltip="f3")
            yield Static("", id="dns-status")
        with VerticalScroll(id="dns-report"):
            yield Static("", id="dns-report-text")

    def on_mount(self) -> None:
        self.idle()

    @property
    def report_shown(self) -> bool:
        return self.has_class("-shown")

    def _status(self, text: Text) -> None:
        self.query_one("#dns-status", Static).update(text)

    def idle(self) -> None:
        """Before any check: what would be checked."""
        self._status(Text("MX, SPF, DKIM, DMARC and MTA-STS of the sender's domain", style="dim"))

    def no_sender(self) -> None:
        self._status(
            Text("✘ No sender address: set it in Sender to check its domain.", style="yellow")
        )

    def invalid(self, domain: str, problem: str) -> None:
        text = Text("✘ ", style="bold red")
        text.append(domain)
        text.append(f": {problem}")
        self._status(text)

    def checking(self, domain: str) -> None:
        text = Text("Checking ", style="dim")
        text.append(domain)
        text.append(" … (escape cancels)", style="dim")
        self._status(text)

    def show_report(self, report: DomainReport) -> None:
        self._status(report_summary(report))
        self.query_one("#dns-report-text", Static).update(report_table(report))
        self.add_class("-shown")
        self.query_one("#dns-report", VerticalScroll).scroll_home(animate=False)

    def cancelled(self, domain: str) -> None:
        text = Text("✘ DNS check of ", style="yellow")
        text.append(domain)
        text.append(" cancelled", style="yellow")
        self._status(text)

    def crashed(self, domain: str, error: BaseException) -> None:
        text = Text("✘ DNS check of ", style="bold red")
        text.append(domain)
        text.append(" failed: ", style="bold red")
        text.append(str(error) or type(error).__name__)
        self._status(text)

    def hide_report(self) -> None:
        """Give the diagnostics pane its room back (a test send starts)."""
        self.remove_class("-shown")

    def status_plain(self) -> str:
        return str(self.query_one("#dns-status", Static).render())
