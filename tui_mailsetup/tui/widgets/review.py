"""The review-and-test section: findings, the recipient, the actions, DNS, the diagnostics pane."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Input, Label, Static

from tui_mailsetup.findings import Finding, Severity
from tui_mailsetup.tui.widgets.diagnostics import DiagnosticsPane
from tui_mailsetup.tui.widgets.dns_report import DnsPanel
from tui_mailsetup.tui.widgets.field import finding_text, mark_focus


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
