"""The returning user's first screen: what sends the mail, how it last went, one key per section.

The settings layout gives it :class:`HomeRow` lines (it knows the settings). The
section keys are its bindings, active while it has focus, and run the form's ``edit``
action: a key opens its section at once, so the keys typed after it land in that
section (a message would arrive after them).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.widgets import Static


@dataclass(frozen=True)
class HomeRow:
    key: str
    """The letter that opens the section ("" for a row with no section)."""
    label: str
    value: Text
    section: str = ""


SECTION_KEYS = {"d": "driver", "s": "server", "c": "credentials", "n": "sender", "t": "review"}


class HomePanel(VerticalScroll, can_focus=True):
    """A summary that scrolls (arrows); one letter opens a section."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(key, f"screen.edit('{section}')", section.title(), show=False)
        for key, section in SECTION_KEYS.items()
    ]

    DEFAULT_CSS = """
    HomePanel {
        height: 1fr;
        padding: 1 1 0 0;
    }
    HomePanel #home-text {
        height: auto;
    }
    """

    def compose(self) -> ComposeResult:
        yield Static("", id="home-text")

    def show_rows(self, rows: Sequence[HomeRow], footer: Text | None = None) -> None:
        text = Text()
        for row in rows:
            if text:
                text.append("\n")
            text.append(f"{'[' + row.key + ']' if row.key else '':>4} ", style="bold")
            text.append(f"{row.label:<12}", style="bold")
            text.append_text(row.value)
        if footer is not None:
            text.append("\n\n")
            text.append_text(footer)
        self.query_one("#home-text", Static).update(text)
