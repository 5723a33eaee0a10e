"""The dialogs the form opens (pin, rate limit, save conflicts, export, transcript, help).

Each function opens one dialog over ``screen`` and calls back with the person's choice;
what the choice then does stays with the form screen (and its session).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual.screen import Screen
from textual.widget import Widget

if TYPE_CHECKING:
    from tui_mailsetup.engine.events import TlsDetails
    from tui_mailsetup.settings import MailSettings
    from tui_mailsetup.tui.form_session import SaveResult
    from tui_mailsetup.tui.hooks import Exporter


def confirm_pin(
    screen: Screen[Any],
    fingerprint: str,
    tls: TlsDetails | None,
    pin: Callable[[], None],
    ca_file: Callable[[], None],
) -> None:
    """Pinning is a decision: show the certificate, offer its CA file first when it has one."""
    from tui_mailsetup.tui.screens.dialogs import PinConfirmScreen

    def decided(choice: str | None) -> None:
        if choice == "pin":
            pin()
            screen.notify("Press ctrl+t to test again.", title="Certificate pinned")
        elif choice == "ca-file":
            # After the dialog has gone: the screen gets its focus back first.
            screen.call_after_refresh(ca_file)
            screen.notify(
                "Type the path of the authority's certificate (PEM), then ctrl+t.",
                title="CA file",
            )

    screen.app.push_screen(PinConfirmScreen(fingerprint, tls), decided)


def confirm_rate_limited(screen: Screen[Any], limited: Text, send: Callable[[], None]) -> None:
    """A recorded rate limit still lasts: a test now may be refused, and extend the wait."""
    from tui_mailsetup.tui.screens.dialogs import ConfirmScreen

    body = Text(limited.plain + ".", style="bold")
    body.append(
        "\nThe server refused the last test for sending too much. Another test now "
        "may be refused too, and may extend the wait."
    )

    def decided(yes: bool | None) -> None:
        if yes:
            send()

    screen.app.push_screen(ConfirmScreen("Rate limited", body, "Test anyway"), decided)


def ask_about_conflicts(
    screen: Screen[Any],
    result: SaveResult,
    save: Callable[[tuple[str, dict[str, Any]]], object],
) -> None:
    """The file and this TUI changed the same keys: show both, let the person choose."""
    from tui_mailsetup.tui.form_session import key_shown
    from tui_mailsetup.tui.screens.dialogs import ConflictScreen

    seen = dict(result.conflicts)

    def decided(choice: str | None) -> None:
        if choice in {"mine", "theirs"}:
            save((choice, seen))
        else:
            screen.notify(result.declined_message, severity="warning")

    others = [key_shown(k) for k in result.others]
    screen.app.push_screen(ConflictScreen(result.conflict_rows, others), decided)


def open_export(
    screen: Screen[Any], exporter: Exporter | None, settings: MailSettings | None, path: Path
) -> None:
    from tui_mailsetup.tui.form_session import without_secrets
    from tui_mailsetup.tui.screens.dialogs import ExportScreen

    if exporter is None:
        screen.notify("Export is not available in this version.", severity="warning")
        return
    if settings is None:
        screen.notify("Fix the errors first.", severity="error")
        return
    screen.app.push_screen(ExportScreen(exporter, without_secrets(settings), path))


def open_save_transcript(screen: Screen[Any], transcript: str, default: Path) -> None:
    from tui_mailsetup.tui.screens.dialogs import SaveTranscriptScreen

    if not transcript.strip():
        screen.notify("No transcript yet: ctrl+t sends a test.", severity="warning")
        return
    screen.app.push_screen(SaveTranscriptScreen(transcript, default))


def open_help(screen: Screen[Any], focused: Widget | None, source: Callable[[str], str]) -> None:
    """f1: what Detect tried (on its row), the focused field's help, else the keys."""
    from tui_mailsetup.settings import field_doc
    from tui_mailsetup.tui.screens.dialogs import HelpScreen
    from tui_mailsetup.tui.screens.form_view import ancestor
    from tui_mailsetup.tui.widgets.field import FieldRow
    from tui_mailsetup.tui.widgets.server_helpers import DetectRow

    detect = ancestor(focused, DetectRow)
    if detect is not None and detect.details:
        screen.app.push_screen(HelpScreen("What Detect tried", Text(detect.details)))
        return
    row = ancestor(focused, FieldRow)
    if row is None:
        screen.app.push_screen(HelpScreen.general())
        return
    key = row.spec.key
    help_screen = HelpScreen.for_field(
        key, row.spec.label, field_doc(key), row.finding, source(key)
    )
    screen.app.push_screen(help_screen)
