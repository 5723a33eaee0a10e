"""Modal dialogs: help for a field, quit with unsaved changes, a save that met changes on
disk, export, save the transcript."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Footer, Input, Label, Select, Static

from tui_mailsetup.engine.events import TlsDetails
from tui_mailsetup.findings import Finding
from tui_mailsetup.settings import MailSettings
from tui_mailsetup.tui.hooks import Exporter
from tui_mailsetup.tui.widgets.field import SOURCE_LABELS, finding_text

KEYS_HELP = (
    ("ctrl+s", "save the configuration (secrets go to the owner-only credentials file)"),
    ("ctrl+t", "send a test email (to the sender address unless you type another)"),
    ("escape", "cancel a running test or DNS check"),
    ("f1", "help for the focused field"),
    ("f2 / enter", "apply the fix a finding or a failed test offers"),
    ("f3", "check the sender domain's DNS (MX, SPF, DKIM, DMARC, MTA-STS)"),
    ("pgup / pgdn", "previous / next section"),
    ("tab / shift+tab", "next / previous field"),
    ("ctrl+p", "command palette: every action by name"),
    ("ctrl+q", "quit (asks first when there are unsaved changes)"),
)


class HelpScreen(ModalScreen[None]):
    """F1: what the focused field means, and what is wrong with it now."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,f1,q", "dismiss", "Close"),
    ]

    def __init__(self, title: str, body: Text) -> None:
        super().__init__(id="help-screen")
        self._title = title
        self._body = body

    @classmethod
    def for_field(
        cls, key: str, label: str, doc: str, finding: Finding | None, source: str
    ) -> HelpScreen:
        body = Text()
        body.append(f"{key}\n", style="bold")
        body.append(doc or "No description.")
        where = SOURCE_LABELS.get(source, source)
        if where:
            body.append(f"\n\nCurrent value comes from: {where}")
        if finding is not None:
            body.append("\n\n")
            body.append_text(finding_text(finding))
        if key in MailSettings.SECRET_KEYS:
            # Secrets never go on a command line (or into config.toml).
            body.append(
                f"\n\nCommand line: tui-mailsetup set-secret {key}  (reads it from standard input)",
                style="dim",
            )
        else:
            body.append(f"\n\nCommand line: tui-mailsetup set {key} VALUE", style="dim")
        return cls(f"Help: {label}", body)

    @classmethod
    def general(cls) -> HelpScreen:
        body = Text()
        for key, what in KEYS_HELP:
            body.append(f"{key:<16}", style="bold")
            body.append(f"{what}\n")
        body.append("\nFocus a field and press f1 for help about it.", style="dim")
        return cls("Keys", body)

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(self._title, classes="dialog-title")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Close (esc)", id="close", compact=True)
            with VerticalScroll(classes="dialog-body"):
                yield Static(self._body, id="help-body")
        yield Footer()

    @on(Button.Pressed, "#close")
    def _close(self) -> None:
        self.dismiss(None)


class ChoiceScreen(ModalScreen[str]):
    """A dialog whose buttons are its answers: each button's id is what it dismisses with
    (escape, or a button without an id, is "cancel")."""

    def first_focus(self) -> str:
        """The button focused when the dialog opens: by default the one that changes nothing."""
        return "#cancel"

    def on_mount(self) -> None:
        self.query_one(self.first_focus(), Button).focus()

    def action_choose(self, choice: str) -> None:
        self.dismiss(choice)

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id or "cancel")


class ConfirmQuitScreen(ChoiceScreen):
    """Asked by ctrl+q when there are unsaved changes: "save", "discard" or "cancel".

    It lists what changed (secrets by name only), so "discard" is a decision."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("s", "choose('save')", "Save and quit"),
        Binding("d", "choose('discard')", "Quit without saving"),
        Binding("escape,c", "choose('cancel')", "Cancel"),
    ]

    def __init__(self, changes: Sequence[str] = ()) -> None:
        super().__init__()
        self._changes = tuple(changes)

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label("Unsaved changes", classes="dialog-title")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Save and quit (s)", id="save", variant="primary", compact=True)
                yield Button("Discard (d)", id="discard", variant="error", compact=True)
                yield Button("Cancel (esc)", id="cancel", compact=True)
            with VerticalScroll(classes="dialog-body"):
                yield Static(self._changes_text(), id="quit-changes")
        yield Footer()

    def _changes_text(self) -> Text:
        if not self._changes:
            return Text("The settings have changed since they were last saved.")
        text = Text("Changed since the last save:", style="bold")
        for change in self._changes:
            text.append("\n  ")
            text.append(change)
        return text


class ConflictScreen(ChoiceScreen):
    """ctrl+s found keys changed both here and in the file since it was loaded.

    Both values side by side, and the choice: "mine" (write mine over the file's),
    "theirs" (take the file's into the form, save the rest) or "cancel" (nothing saved).
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("m", "choose('mine')", "Keep mine"),
        Binding("f", "choose('theirs')", "Take the file's"),
        Binding("escape,c", "choose('cancel')", "Cancel"),
    ]

    def __init__(self, conflicts: Sequence[tuple[str, str, str]], others: Sequence[str]) -> None:
        super().__init__(id="conflict-screen")
        self.conflicts = tuple(conflicts)
        """(key, yours, the file's), values already shown as text."""
        self.others = tuple(others)

    def body(self) -> Text:
        text = Text(
            "The configuration file was changed by something else (another shell, a second "
            "TUI, Ansible) since it was loaded here. Changed on both sides:\n"
        )
        for key, yours, theirs in self.conflicts:
            text.append(f"\n{key}\n", style="bold")
            text.append(f"  yours       {yours}\n")
            text.append(f"  the file's  {theirs}\n")
        if self.others:
            text.append("\nChanged only in the file (kept either way): ")
            text.append(", ".join(self.others))
        return text

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label("The file changed since it was loaded", classes="dialog-title")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Keep mine (m)", id="mine", variant="primary", compact=True)
                yield Button("Take the file's (f)", id="theirs", compact=True)
                yield Button("Cancel (esc)", id="cancel", compact=True)
            with VerticalScroll(classes="dialog-body"):
                yield Static(self.body(), id="conflict-body")
        yield Footer()


class _WriteFileScreen(ModalScreen[Path | None]):
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def action_cancel(self) -> None:
        self.dismiss(None)

    def write(self, path_text: str, text: str) -> None:
        path = Path(path_text.strip()).expanduser()
        if not path_text.strip():
            self.notify("Type a file name.", severity="error")
            return
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        except OSError as exc:
            self.notify(str(exc), title="Not written", severity="error")
            return
        self.notify(f"Wrote {path}", title="Saved")
        self.dismiss(path)


class SaveTranscriptScreen(_WriteFileScreen):
    """Save the (already redacted) transcript for a support ticket."""

    def __init__(self, transcript: str, default: Path) -> None:
        super().__init__()
        self._transcript = transcript
        self._default = default

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label("Save the transcript", classes="dialog-title")
            yield Static(
                "Credentials are already redacted; the file is safe to attach to a ticket."
            )
            with Horizontal(classes="dialog-buttons"):
                yield Button("Write", id="write", variant="primary", compact=True)
                yield Button("Cancel (esc)", id="cancel", compact=True)
            with Horizontal(classes="dialog-row"):
                yield Label("File ", classes="dialog-label")
                yield Input(str(self._default), compact=True, id="path")
        yield Footer()

    @on(Input.Submitted, "#path")
    @on(Button.Pressed, "#write")
    def _write(self) -> None:
        self.write(self.query_one("#path", Input).value, self._transcript)

    @on(Button.Pressed, "#cancel")
    def _cancel(self) -> None:
        self.dismiss(None)


class ExportScreen(_WriteFileScreen):
    """Write the settings for another program (msmtp, postfix, env …), without secrets."""

    def __init__(self, exporter: Exporter, settings: MailSettings, config_path: Path) -> None:
        super().__init__()
        self._exporter = exporter
        self._settings = settings
        self._config_path = config_path
        self._formats: Sequence[str] = tuple(exporter.formats)

    def compose(self) -> ComposeResult:
        first = self._formats[0]
        with Vertical(classes="dialog"):
            yield Label("Export for another program", classes="dialog-title")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Write", id="write", variant="primary", compact=True)
                yield Button("Cancel (esc)", id="cancel", compact=True)
            with VerticalScroll(classes="dialog-body"):
                with Horizontal(classes="dialog-row"):
                    yield Label("Format ", classes="dialog-label")
                    yield Select(
                        [(f, f) for f in self._formats],
                        value=first,
                        allow_blank=False,
                        compact=True,
                        id="format",
                    )
                with Horizontal(classes="dialog-row"):
                    yield Label("File   ", classes="dialog-label")
                    yield Input(str(self._path_for(first)), compact=True, id="path")
                yield Static("", id="export-preview")
        yield Footer()

    def on_mount(self) -> None:
        self._preview(self._formats[0])

    def _path_for(self, fmt: str) -> Path:
        return self._config_path.with_name(f"export.{fmt}")

    def _preview(self, fmt: str) -> None:
        try:
            text = self._exporter.render(self._settings, fmt, self._config_path)
        except Exception as exc:
            text = f"cannot export: {exc}"
        lines = text.splitlines()
        preview = "\n".join(lines[:6]) + ("\n…" if len(lines) > 6 else "")
        self.query_one("#export-preview", Static).update(Text(preview, style="dim"))

    @on(Select.Changed, "#format")
    def _format_changed(self, event: Select.Changed) -> None:
        fmt = str(event.value)
        self.query_one("#path", Input).value = str(self._path_for(fmt))
        self._preview(fmt)

    @on(Input.Submitted, "#path")
    @on(Button.Pressed, "#write")
    def _write(self) -> None:
        fmt = str(self.query_one("#format", Select).value)
        try:
            text = self._exporter.render(self._settings, fmt, self._config_path)
        except Exception as exc:
            self.notify(str(exc), title="Not exported", severity="error")
            return
        path_text = self.query_one("#path", Input).value.strip()
        if not path_text:
            self.notify("Type a file name.", severity="error")
            return
        path = Path(path_text).expanduser()
        try:
            self._exporter.write(path, text, fmt)
        except Exception as exc:
            self.notify(str(exc), title="Not exported", severity="error")
            return
        self.notify(f"Wrote {path}", title="Exported")
        self.dismiss(path)

    @on(Button.Pressed, "#cancel")
    def _cancel(self) -> None:
        self.dismiss(None)


class PinConfirmScreen(ChoiceScreen):
    """F2 on a certificate failure: trust is a decision, made with the certificate in view.

    Dismisses with "pin", "ca-file" (set the CA file instead) or "cancel". When the
    chain ends in an authority this machine does not know, the CA file is offered
    first: pinning would trust this one certificate and break at its renewal.
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "choose('cancel')", "Cancel"),
        Binding("p", "choose('pin')", "Pin"),
        Binding("a", "choose('ca-file')", "CA file"),
    ]

    def __init__(self, fingerprint: str, tls: TlsDetails | None) -> None:
        super().__init__()
        self.fingerprint = fingerprint
        self.tls = tls

    @property
    def private_ca(self) -> bool:
        """The certificate was issued by someone else (an authority), not by itself."""
        tls = self.tls
        return tls is not None and bool(tls.issuer) and tls.issuer != tls.subject

    def body(self) -> Text:
        tls = self.tls
        # The fingerprint first: it is what is being trusted, and it stays whole above the
        # fold of the smallest terminal (60x20), where the details below it scroll.
        text = Text()
        text.append("SHA-256  ", style="bold")
        text.append(_grouped(self.fingerprint))
        text.append("\n")
        rows: list[tuple[str, str]] = []
        if tls is not None:
            rows += [
                ("Subject", tls.subject),
                ("Issuer", tls.issuer),
                ("Names", ", ".join(tls.sans) or "(none)"),
                ("Valid", f"{tls.not_before} to {tls.not_after}"),
            ]
            if tls.verify_message:
                rows.append(("Problem", tls.verify_message))
        for label, value in rows:
            text.append(f"{label:<9}", style="bold")
            text.append(f"{value}\n")
        text.append("\n")
        if self.private_ca:
            text.append(
                "This certificate is signed by an authority this machine does not trust "
                "(a private CA). Setting the CA file trusts that authority, and keeps working "
                "when the certificate is renewed. Pinning trusts only this one certificate.",
            )
        else:
            text.append(
                "The certificate signs itself. Pin it only if its SHA-256 fingerprint matches "
                "the one the server's administrator gives you (for instance from "
                "openssl x509 -noout -fingerprint -sha256 on the server)."
            )
        return text

    def compose(self) -> ComposeResult:
        title = "Trust this server's certificate?"
        with Vertical(classes="dialog", id="pin-dialog"):
            yield Label(title, classes="dialog-title")
            with Horizontal(classes="dialog-buttons"):
                if self.private_ca:
                    yield Button(
                        "Use its CA file (a)", id="ca-file", variant="primary", compact=True
                    )
                yield Button("Pin it (p)", id="pin", compact=True)
                yield Button("Cancel (esc)", id="cancel", compact=True)
            with VerticalScroll(classes="dialog-body"):
                yield Static(self.body(), id="pin-details")
        yield Footer()

    def first_focus(self) -> str:
        return "#ca-file" if self.private_ca else "#cancel"


def _grouped(fingerprint: str) -> str:
    """The full fingerprint in four lines of 8 bytes: none of it is ever cut or wrapped."""
    parts = fingerprint.split(":")
    if len(parts) != 32:
        return fingerprint
    lines = [":".join(parts[start : start + 8]) for start in range(0, 32, 8)]
    return ":\n         ".join(lines)


class ConfirmScreen(ModalScreen[bool]):
    """A yes/no question (a test while the server rate-limits us, say); escape is no."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,n", "answer(False)", "No"),
        Binding("y", "answer(True)", "Yes"),
    ]

    def __init__(self, title: str, body: Text | str, yes: str) -> None:
        super().__init__()
        self._title = title
        self._body = body
        self._yes = yes

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(self._title, classes="dialog-title")
            with Horizontal(classes="dialog-buttons"):
                yield Button(f"{self._yes} (y)", id="yes", variant="warning", compact=True)
                yield Button("Not now (esc)", id="no", compact=True)
            with VerticalScroll(classes="dialog-body"):
                yield Static(self._body, id="confirm-body")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")
