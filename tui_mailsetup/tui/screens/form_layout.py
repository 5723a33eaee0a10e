"""How one form's sections are laid out: the seam between the form and its two layouts.

There is one form (:class:`~tui_mailsetup.tui.screens.form.FormScreen`: its keys,
actions, messages and decisions) and two ways to lay its sections out: one step at a
time with Back and Next (:class:`~tui_mailsetup.tui.screens.wizard.WizardLayout`, the
first run) or as tabs behind a summary
(:class:`~tui_mailsetup.tui.screens.settings.SettingsLayout`, a returning user). A
layout is a plain object the form is given, not a subclass of it: the form asks it the
questions of :class:`FormLayout`, and it asks the form only what :class:`FormHost`
names, all public. ``WizardScreen`` and ``SettingsScreen`` are the form with one layout
or the other (and, for the settings, the summary's letters).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Protocol

from textual.app import ComposeResult
from textual.await_complete import AwaitComplete
from textual.widget import Widget

from tui_mailsetup.findings import Finding
from tui_mailsetup.tui.form_session import FormSession
from tui_mailsetup.tui.services import TuiServices

if TYPE_CHECKING:
    from tui_mailsetup.tui.widgets.dns_report import DnsPanel


class FormHost(Protocol):
    """What a layout may ask of the form it lays out."""

    services: TuiServices
    target_section: str
    """The section last asked for (a focus change may briefly activate another tab)."""

    @property
    def session(self) -> FormSession: ...

    @property
    def dns_panel(self) -> DnsPanel | None: ...

    def compose_section(self, section_id: str) -> Widget:
        """A section's contents built now, with the layout (the wizard's first step)."""
        ...

    def ensure_section(self, section_id: str) -> AwaitComplete | None: ...

    def show_section(self, section_id: str) -> None: ...

    def sections_with_errors(self) -> set[str]: ...

    def recipients(self) -> list[str]: ...


class FormLayout(Protocol):
    """What the form asks of the layout of its sections."""

    @property
    def section_ids(self) -> tuple[str, ...]:
        """The sections in the order pgup/pgdn go through them."""
        ...

    def compose(self) -> ComposeResult:
        """The layout's widgets, between the header (and banner) and the status line."""
        ...

    def container(self, section_id: str) -> Widget:
        """The (possibly still empty) container a section's contents go in."""
        ...

    def current(self) -> str:
        """The section on screen."""
        ...

    def switch_to(self, section_id: str) -> None:
        """Put a section on screen (the form has asked for its contents; focus follows)."""
        ...

    def after_show(self, section_id: str) -> None:
        """The form has shown a section and focused it (if it was built)."""
        ...

    def reveal(self, section_id: str) -> None:
        """Show a section that is already built, without moving focus."""
        ...

    def focusables(self, section_id: str) -> Iterable[Widget] | None:
        """What focus may go to in a section of the layout's own; None for the form's."""
        ...

    def sub_title(self) -> str:
        """The header's second line."""
        ...

    def mounted(self) -> None:
        """The form is on screen, at its first frame (the first section gets focus next)."""
        ...

    def loaded(self) -> None:
        """The configuration has been loaded after the first frame."""
        ...

    def findings_changed(self, findings: list[Finding]) -> None:
        """Validation changed: mark the steps or tabs with errors."""
        ...

    def summary_changed(self) -> None:
        """A test result or a DNS report is newly shown."""
        ...

    def test_recorded(self) -> None:
        """A finished test has been recorded (the demo's inbox received it)."""
        ...


__all__ = ["FormHost", "FormLayout"]
