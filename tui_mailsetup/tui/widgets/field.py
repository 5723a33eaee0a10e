"""One row of the settings form: label, editor, where the value came from, and what is wrong."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.css.query import NoMatches
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Checkbox, Input, Label, Select, Static

from tui_mailsetup.findings import Finding, Severity
from tui_mailsetup.tui.form import FieldSpec

SEVERITY_MARK = {Severity.ERROR: "✘", Severity.WARNING: "!", Severity.INFO: "i"}
SEVERITY_STYLE = {Severity.ERROR: "bold red", Severity.WARNING: "bold yellow", Severity.INFO: "dim"}

SOURCE_LABELS = {
    "file": "file",
    "env": "env",
    "secrets-dir": "secrets",
    "cli": "cli",
    "default": "",
    "credentials-file": "creds",
    "password_command": "command",
    "keyring": "keyring",
    "typed": "typed",
}


def finding_text(finding: Finding, *, with_fix_key: bool = True, keys: str = "F2") -> Text:
    """A finding as plain text (never markup), with its fix and the key that applies it."""
    text = Text()
    text.append(f"{SEVERITY_MARK[finding.severity]} ", style=SEVERITY_STYLE[finding.severity])
    text.append(finding.message)
    if finding.fix is not None and with_fix_key:
        text.append(f"  [{keys}: {finding.fix.label}]", style="bold")
    return text


def mark_focus(label: Widget, editor: Widget) -> None:
    """Reverse a helper's label while its editor (or a drop-down's list) has focus: a mark
    that shows with NO_COLOR and on TERM=linux, where a shade of the editor does not."""
    label.set_class(editor.has_focus_within, "-focused")


class Tick(Checkbox):
    """A checkbox whose state shows without colour: ``[X]`` on, ``[ ]`` off (NO_COLOR, 16 colours)."""

    _words: tuple[str, str] | None = None

    def __init__(self, *args: Any, words: tuple[str, str] | None = None, **kwargs: Any) -> None:
        self._words = words
        super().__init__(*args, **kwargs)

    @property
    def _button(self) -> Content:
        self.BUTTON_INNER = "X" if self.value else " "
        return super()._button

    def watch_value(self) -> None:
        super().watch_value()
        if self._words is not None:
            self.label = self._words[1] if self.value else self._words[0]


class FieldRow(Vertical):
    """A labelled editor for one dotted settings key."""

    DEFAULT_CSS = """
    FieldRow {
        height: auto;
    }
    FieldRow > Horizontal {
        height: 1;
    }
    FieldRow .field-label {
        width: 16;
        padding: 0 1 0 0;
        text-align: right;
    }
    FieldRow .field-editor {
        width: 1fr;
    }
    FieldRow.-focused .field-label {
        /* Reverse, not only a colour: the focused field shows with NO_COLOR and 16 colours. */
        text-style: bold reverse;
    }
    FieldRow Checkbox.field-editor {
        width: auto;
    }
    FieldRow .field-reveal {
        width: auto;
        margin: 0 0 0 1;
    }
    FieldRow .field-source {
        width: 9;
        padding: 0 0 0 1;
        color: $text-muted;
    }
    FieldRow .field-message {
        display: none;
        padding: 0 0 0 16;
        height: auto;
    }
    FieldRow.-has-message .field-message {
        display: block;
    }
    FieldRow.-error .field-label {
        color: $error;
        text-style: bold;
    }
    FieldRow.-error .field-message {
        color: $error;
    }
    FieldRow.-warning .field-message {
        color: $warning;
    }
    FieldRow.-info .field-message {
        color: $text-muted;
    }
    FieldRow:ansi.-error .field-label {
        color: ansi_bright_red;
    }
    FieldRow:ansi.-error .field-message {
        color: ansi_bright_red;
    }
    FieldRow:ansi.-warning .field-message {
        color: ansi_yellow;
    }
    /* Focus wins over an error's colour: a field in error still shows it has focus. */
    FieldRow.-focused.-error .field-label {
        text-style: bold reverse;
    }
    /* Without colour an error label is marked by an underline, never by a darker shade. */
    FieldRow.-nocolor.-error .field-label {
        color: $foreground;
        text-style: bold underline;
    }
    FieldRow.-nocolor.-error .field-message, FieldRow.-nocolor.-warning .field-message {
        color: $foreground;
    }
    FieldRow.-nocolor.-focused.-error .field-label {
        text-style: bold reverse underline;
    }
    /* A placeholder never looks like a value. */
    FieldRow Input > .input--placeholder {
        text-style: italic;
    }
    """

    class ValueChanged(Message):
        """The person changed the value (not posted for values the program sets)."""

        def __init__(self, row: FieldRow, value: Any) -> None:
            super().__init__()
            self.row = row
            self.value = value

        @property
        def key(self) -> str:
            return self.row.spec.key

    class FixRequested(Message):
        def __init__(self, row: FieldRow) -> None:
            super().__init__()
            self.row = row

    def __init__(self, spec: FieldSpec, value: Any, *, source: str = "") -> None:
        super().__init__(id=f"row-{spec.widget_id}", classes="field-row")
        self.spec = spec
        self._value = value
        self._placeholder = spec.placeholder
        """The placeholder to show: the spec's, or what the form set (a username hint)."""
        self._source = source
        self.finding: Finding | None = None
        self._programmatic: Any = object()
        self._finding_shown = False
        self._see: str | None = None

    def compose(self) -> ComposeResult:
        spec = self.spec
        with Horizontal():
            yield Label(spec.label, classes="field-label")
            yield self._make_editor()
            if spec.kind == "secret":
                yield Tick(
                    "show", compact=True, classes="field-reveal", id=f"{spec.widget_id}-reveal"
                )
            yield Static(SOURCE_LABELS.get(self._source, self._source), classes="field-source")
        yield Static("", classes="field-message")

    def _make_editor(self) -> Widget:
        spec = self.spec
        if spec.kind == "select":
            return Select(
                list(spec.choices),
                value=self._value,
                allow_blank=False,
                compact=True,
                id=spec.widget_id,
                classes="field-editor",
            )
        if spec.kind == "bool":
            return Tick(
                "yes" if self._value else "no",
                bool(self._value),
                words=("no", "yes"),
                compact=True,
                id=spec.widget_id,
                classes="field-editor",
            )
        # Numbers take digits only: a letter is refused as it is typed, not reported later.
        restrict = {"int": r"[0-9]*", "float": r"[0-9]*\.?[0-9]*"}.get(spec.kind)
        return Input(
            str(self._value),
            placeholder=self._placeholder,
            restrict=restrict,
            password=spec.kind == "secret",
            compact=True,
            id=spec.widget_id,
            classes="field-editor",
            select_on_focus=False,
        )

    @property
    def editor(self) -> Widget:
        return self.query_one(f"#{self.spec.widget_id}")

    @property
    def value(self) -> Any:
        editor = self.editor
        if isinstance(editor, Select):
            return editor.value
        if isinstance(editor, Checkbox):
            return editor.value
        assert isinstance(editor, Input)
        return editor.value

    def set_value(self, value: Any) -> None:
        """Set the editor's value from the program; no ValueChanged follows."""
        editor = self.editor
        if value == self.value:
            return
        self._programmatic = value
        if isinstance(editor, Select):
            editor.value = value
        elif isinstance(editor, Checkbox):
            editor.value = bool(value)
        elif isinstance(editor, Input):
            editor.value = "" if value is None else str(value)

    def set_source(self, source: str) -> None:
        self._source = source
        self.query_one(".field-source", Static).update(SOURCE_LABELS.get(source, source))

    def set_placeholder(self, text: str) -> None:
        # Kept for compose too: another section may set it while this row is still mounting.
        self._placeholder = text
        editor = next(iter(self.query(f"#{self.spec.widget_id}")), None)
        if isinstance(editor, Input):
            editor.placeholder = text

    def show_finding(self, finding: Finding | None, *, see: str | None = None) -> None:
        """Mark the row; ``see`` names the field whose row tells the finding (said once)."""
        if finding == self.finding and see == self._see and self._finding_shown:
            return
        self.finding = finding
        self._see = see
        try:
            message = self.query_one(".field-message", Static)
            editor = self.editor
        except NoMatches:
            # Still being built (keys typed while its section mounts): shown on mount.
            self._finding_shown = False
            return
        self._finding_shown = True
        for severity in Severity:
            self.set_class(
                finding is not None and finding.severity is severity, f"-{severity.value}"
            )
        self.set_class(finding is not None, "-has-message")
        keys = "Enter/F2" if isinstance(editor, Input) else "F2"
        if finding is not None and see is not None:
            mark = Text(
                f"{SEVERITY_MARK[finding.severity]} ", style=SEVERITY_STYLE[finding.severity]
            )
            message.update(mark + Text(f"together with {see}: see there"))
        else:
            message.update(finding_text(finding, keys=keys) if finding else "")

    def on_mount(self) -> None:
        # NO_COLOR turns colours into shades of grey: errors then need another mark.
        self.set_class(self.app.no_color, "-nocolor")
        if not self._finding_shown:
            self.show_finding(self.finding)

    def _changed(self, value: Any) -> None:
        if value == self._programmatic:
            self._programmatic = object()
            return
        self._programmatic = object()
        self.post_message(self.ValueChanged(self, value))

    def on_descendant_focus(self) -> None:
        self.set_class(self.has_focus_within, "-focused")

    def on_descendant_blur(self) -> None:
        # Where focus is now, not the event: a drop-down hands focus to its list and back,
        # and the blur of one can arrive after the focus of the other (the mark was lost).
        self.set_class(self.has_focus_within, "-focused")

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == self.spec.widget_id:
            event.stop()
            self._changed(event.value)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if self.finding is not None and self.finding.fix is not None:
            self.post_message(self.FixRequested(self))
        else:
            self.screen.focus_next()

    def on_select_changed(self, event: Select.Changed) -> None:
        event.stop()
        self._changed(event.value)

    def on_checkbox_changed(self, event: Checkbox.Changed) -> None:
        event.stop()
        if event.checkbox.id == f"{self.spec.widget_id}-reveal":
            editor = self.editor
            if isinstance(editor, Input):
                editor.password = not event.value
            return
        self._changed(event.value)
