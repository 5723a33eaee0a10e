"""First run: the same sections as the settings screen, one step at a time."""

from __future__ import annotations

from collections.abc import Iterable

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widget import Widget
from textual.widgets import Button, ContentSwitcher, Static

from tui_mailsetup.findings import Finding
from tui_mailsetup.tui.form import SECTIONS
from tui_mailsetup.tui.screens.form import FormScreen
from tui_mailsetup.tui.screens.form_layout import FormHost
from tui_mailsetup.tui.services import TuiServices


class WizardLayout:
    """Driver → Server → Credentials → Sender → Review & test, one step at a time, with a
    line of steps above (a ✘ on a step with an error) and Back/Next below."""

    section_ids: tuple[str, ...] = tuple(section.id for section in SECTIONS)

    def __init__(self, form: FormHost) -> None:
        self.form = form
        self.steps = Static("", id="steps")
        self.switcher = ContentSwitcher(initial="step-driver", id="wizard")
        # The buttons run the form's actions, as pgup/pgdn do (Next saves at the last step).
        self.back = Button("‹ Back", id="back", compact=True, action="screen.previous_section")
        self.next = Button(
            "Next ›", id="next", variant="primary", compact=True, action="screen.advance"
        )

    def compose(self) -> ComposeResult:
        yield self.steps
        with self.switcher:
            for section in SECTIONS:
                with Vertical(id=f"step-{section.id}", classes="step"):
                    if section.id == self.section_ids[0]:
                        # The first step comes with the first frame; the others just after.
                        yield self.form.compose_section(section.id)
        with Horizontal(id="wizard-nav"):
            yield self.back
            yield self.next

    def sub_title(self) -> str:
        return f"first-run setup · {self.form.services.config_path}"

    def mounted(self) -> None:
        self.update_steps()

    def loaded(self) -> None:
        pass

    def container(self, section_id: str) -> Widget:
        return self.switcher.get_child_by_id(f"step-{section_id}")

    def current(self) -> str:
        current = self.switcher.current or f"step-{self.section_ids[0]}"
        return current.removeprefix("step-")

    def switch_to(self, section_id: str) -> None:
        self.switcher.current = f"step-{section_id}"
        self.update_steps()

    def after_show(self, section_id: str) -> None:
        pass

    def reveal(self, section_id: str) -> None:
        pass  # a step is only ever shown by switch_to

    def focusables(self, section_id: str) -> Iterable[Widget] | None:
        return None

    def findings_changed(self, findings: list[Finding]) -> None:
        self.update_steps()

    def summary_changed(self) -> None:
        pass

    def test_recorded(self) -> None:
        pass

    def update_steps(self) -> None:
        current = self.current()
        errors = self.form.sections_with_errors()
        text = Text()
        for number, section in enumerate(SECTIONS, start=1):
            if number > 1:
                text.append("›", style="dim")
            label = f"{number} {section.title}"
            if section.id in errors:
                label += " ✘"
            style = "reverse bold" if section.id == current else ""
            text.append(f" {label} ", style=style)
        self.steps.update(text)
        self.back.disabled = current == self.section_ids[0]
        self.next.label = "Save ✔" if current == self.section_ids[-1] else "Next ›"


class WizardScreen(FormScreen):
    """The form, laid out as the first-run wizard."""

    def __init__(self, services: TuiServices) -> None:
        super().__init__(services, WizardLayout)


__all__ = ["WizardLayout", "WizardScreen"]
