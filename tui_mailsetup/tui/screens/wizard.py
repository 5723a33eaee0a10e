"""First run: the same sections as the settings screen, one step at a time."""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widget import Widget
from textual.widgets import Button, ContentSwitcher, Static

from tui_mailsetup.findings import Finding
from tui_mailsetup.tui.form import SECTIONS
from tui_mailsetup.tui.screens.form import FormScreen


class WizardScreen(FormScreen):
    """Driver → Server → Credentials → Sender → Review & test. Going back never loses a value."""

    def compose_body(self) -> ComposeResult:
        yield Static("", id="steps")
        with ContentSwitcher(initial="step-driver", id="wizard"):
            for section in SECTIONS:
                with Vertical(id=f"step-{section.id}", classes="step"):
                    if section.id == "driver":
                        self.sections.mark_built(section.id)
                        yield self.build_section(section)
        with Horizontal(id="wizard-nav"):
            yield Button("‹ Back", id="back", compact=True)
            yield Button("Next ›", id="next", variant="primary", compact=True)

    def after_mount(self) -> None:
        self.sub_title = f"first-run setup · {self.services.config_path}"
        self._update_steps()
        self.focus_section("driver")

    def section_container(self, section_id: str) -> Widget:
        return self.query_one(f"#step-{section_id}")

    def current_section(self) -> str:
        current = self.query_one(ContentSwitcher).current or "step-driver"
        return current.removeprefix("step-")

    def show_section(self, section_id: str) -> None:
        self.target_section = section_id
        pending = self.ensure_section(section_id)
        self.query_one(ContentSwitcher).current = f"step-{section_id}"
        self._update_steps()
        if pending is None:
            self.focus_section(section_id)

    def on_findings_changed(self, findings: list[Finding]) -> None:
        self._update_steps()

    def _update_steps(self) -> None:
        current = self.current_section()
        errors = self.sections_with_errors()
        text = Text()
        for number, section in enumerate(SECTIONS, start=1):
            if number > 1:
                text.append("›", style="dim")
            label = f"{number} {section.title}"
            if section.id in errors:
                label += " ✘"
            style = "reverse bold" if section.id == current else ""
            text.append(f" {label} ", style=style)
        self.query_one("#steps", Static).update(text)
        ids = self.section_ids
        self.query_one("#back", Button).disabled = current == ids[0]
        last = current == ids[-1]
        next_button = self.query_one("#next", Button)
        next_button.label = "Save ✔" if last else "Next ›"

    @on(Button.Pressed, "#back")
    def _back(self) -> None:
        self.action_previous_section()

    @on(Button.Pressed, "#next")
    def _next(self) -> None:
        if self.current_section() == self.section_ids[-1]:
            self.save()
        else:
            self.action_next_section()
