"""The review-and-test section: findings, the recipient, the actions, DNS, the diagnostics pane.

The panel owns its buttons and the test send's worker and says what happened in its own
messages ("attributes down, messages up"): ``TestRequested``, ``SaveRequested``,
``ExportRequested``, ``SaveLogRequested`` when a button is pressed, :class:`TestFinished`
with a test's outcome (the app records it), ``TestEnded`` when the worker is done.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import Button, Input, Label, Static

from tui_mailsetup.engine.events import Event, Outcome
from tui_mailsetup.findings import Finding, Severity
from tui_mailsetup.tui.widgets.diagnostics import DiagnosticsPane
from tui_mailsetup.tui.widgets.dns_report import DnsPanel
from tui_mailsetup.tui.widgets.field import finding_text, mark_focus

if TYPE_CHECKING:
    from tui_mailsetup.settings import MailSettings
    from tui_mailsetup.tui.form_session import TestRequest

TestRunner = Callable[["TestRequest", Callable[[Event], None]], Awaitable[None]]
"""Runs a test, passing each event on (``TuiServices.run_test``: the one runner)."""


class TestFinished(Message):
    """A test send ended with an outcome (posted by the panel's worker; the app records it)."""

    __test__ = False

    def __init__(self, outcome: Outcome, settings: MailSettings | None) -> None:
        super().__init__()
        self.outcome = outcome
        self.settings = settings
        """The settings the test was sent with."""


def findings_summary(findings: list[Finding], *, limit: int = 3) -> Text:
    if not findings:
        return Text("✔ No problems found in the settings.", style="green")
    errors = sum(f.severity is Severity.ERROR for f in findings)
    warnings = sum(f.severity is Severity.WARNING for f in findings)
    text = Text(f"{errors} error(s), {warnings} warning(s):", style="bold")
    for finding in findings[:limit]:
        text.append("\n")
        text.append(f"{finding.field}: ", style="bold")
        text.append_text(finding_text(finding))
    if len(findings) > limit:
        text.append(
            f"\n… and {len(findings) - limit} more (each is shown under its field)", style="dim"
        )
    return text


class ReviewPanel(Vertical):
    """Everything the last step of the wizard (and the Test tab) shows."""

    DEFAULT_CSS = """
    ReviewPanel {
        height: 1fr;
    }
    ReviewPanel #findings-summary {
        height: auto;
        max-height: 5;
        padding: 0 1;
    }
    ReviewPanel #last-result {
        height: auto;
        padding: 0 1;
        color: $text-muted;
    }
    ReviewPanel #review-actions {
        height: 1;
    }
    ReviewPanel #review-actions Label {
        padding: 0 1;
    }
    ReviewPanel #recipient {
        width: 1fr;
        max-width: 40;
    }
    ReviewPanel #review-actions Button {
        margin: 0 0 0 1;
        min-width: 0;
        width: auto;
    }
    ReviewPanel #last-result.-hidden {
        display: none;
    }
    """

    class TestRequested(Message):
        """Test was pressed, or enter typed in "Send to"."""

    class SaveRequested(Message):
        """Save was pressed."""

    class ExportRequested(Message):
        """Export… was pressed."""

    class SaveLogRequested(Message):
        """Save log… was pressed."""

    class TestEnded(Message):
        """The send worker is done (finished, cancelled, or crashed)."""

    def __init__(self, *, export_available: bool, id: str | None = None) -> None:
        super().__init__(id=id)
        self.export_available = export_available

    def compose(self) -> ComposeResult:
        yield Static("", id="findings-summary")
        yield Static("", id="last-result")
        with Horizontal(id="review-actions"):
            yield Label("Send to", id="recipient-label")
            yield Input(placeholder="the sender address", compact=True, id="recipient")
            yield Button("Test", compact=True, id="btn-test", tooltip="ctrl+t")
            yield Button("Save", compact=True, id="btn-save", tooltip="ctrl+s")
            if self.export_available:
                yield Button("Export…", compact=True, id="btn-export")
            yield Button("Save log…", compact=True, id="btn-save-log")
        yield DnsPanel(id="dns")
        yield DiagnosticsPane(id="diagnostics")

    def on_descendant_focus(self) -> None:
        mark_focus(self.query_one("#recipient-label"), self.query_one("#recipient"))

    def on_descendant_blur(self) -> None:
        mark_focus(self.query_one("#recipient-label"), self.query_one("#recipient"))

    def show_findings(self, findings: list[Finding]) -> None:
        self.query_one("#findings-summary", Static).update(findings_summary(findings))

    def show_last_result(self, text: Text | None) -> None:
        """The last recorded result; None hides the line (the pane shows this session's)."""
        last = self.query_one("#last-result", Static)
        last.update(text or "")
        last.set_class(text is None, "-hidden")

    @on(Button.Pressed, "#btn-test, #btn-save, #btn-export, #btn-save-log")
    def _pressed(self, event: Button.Pressed) -> None:
        event.stop()
        request = {
            "btn-test": self.TestRequested,
            "btn-save": self.SaveRequested,
            "btn-export": self.ExportRequested,
            "btn-save-log": self.SaveLogRequested,
        }[event.button.id or ""]
        self.post_message(request())

    @on(Input.Submitted, "#recipient")
    def _recipient_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.post_message(self.TestRequested())

    @work(exclusive=True, exit_on_error=False, group="send", name="test-send")
    async def send_test(self, request: TestRequest, run: TestRunner) -> None:
        """Send a test, its events to the diagnostics pane; TestFinished says how it went."""
        pane = self.query_one(DiagnosticsPane)
        pane.start(request.heading)

        def on_event(event: Event) -> None:
            pane.add_event(event)
            if isinstance(event, Outcome):
                self.post_message(TestFinished(event, request.settings))

        try:
            # The one runner: every failure, before a connection too, ends as an Outcome
            # in the pane, with the diagnosis the command line prints.
            await run(request, on_event)
        except asyncio.CancelledError:
            pane.cancelled()
            self.post_message(self.TestEnded())
            raise
        except Exception as exc:
            pane.crashed(exc)  # a bug: the runner turns every expected failure into an Outcome
        self.post_message(self.TestEnded())

    def cancel_test(self) -> None:
        self.workers.cancel_group(self, "send")
