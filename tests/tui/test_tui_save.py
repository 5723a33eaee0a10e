"""ctrl+s writes only the keys changed in the TUI, and meets changes made on disk meanwhile
(issue 19 item 4): another writer's keys survive, a key changed on both sides is asked about."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Input

from tests.support.cli_helpers import run_cli
from tests.support.tui_support import (
    SENDER,
    file_text,
    form_screen,
    open_section,
    rendered_text,
    server_config,
    settled,
    wait_for,
)
from tui_mailsetup.config_file import file_values
from tui_mailsetup.tui.app import MailSetupApp
from tui_mailsetup.tui.screens.dialogs import ConflictScreen
from tui_mailsetup.tui.screens.form import FormScreen


@pytest.fixture
def config_path(tmp_path: Path) -> Path:
    return server_config(tmp_path)


def editor(app: MailSetupApp, key: str) -> Input:
    row = form_screen(app).row(key)
    assert row is not None and isinstance(row.editor, Input)
    return row.editor


def status(app: MailSetupApp) -> str:
    return rendered_text(form_screen(app).query_one("#status-line"))


def set_from_another_shell(path: Path, tmp_path: Path, key: str, value: str) -> None:
    result = run_cli("--config", str(path), "set", key, value, home=tmp_path)
    assert result.returncode == 0, result.stderr


async def rename_and_save(app: MailSetupApp, pilot: Pilot[Any]) -> None:
    """The person renames the sender in the TUI and presses ctrl+s."""
    await open_section(pilot, "sender")
    editor(app, "sender.name").value = "Ops Team"
    await pilot.press("ctrl+s")


def replace_in_file(path: Path, old: str, new: str) -> None:
    """A hand edit, or another program's write, made while the TUI is open."""
    path.write_text(file_text(path).replace(old, new), encoding="utf-8")


async def test_a_key_set_in_another_shell_survives_a_save(
    config_path: Path, tmp_path: Path
) -> None:
    app = MailSetupApp(config_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await settled(pilot)
        set_from_another_shell(config_path, tmp_path, "smtp.port", "3000")
        await rename_and_save(app, pilot)
        await wait_for(pilot, lambda: "Ops Team" in file_text(config_path))
        # The TUI says the file changed underneath, and shows the file's value now.
        await wait_for(pilot, lambda: "smtp.port 3000" in status(app))
        assert "Changed in the file since it was loaded" in status(app)
        assert editor(app, "smtp.port").value == "3000"
        assert not form_screen(app).dirty
    values = file_values(config_path)
    assert values["smtp.port"] == 3000
    assert values["sender.name"] == "Ops Team"
    assert values["smtp.host"] == "mail.example.test"


async def test_only_the_changed_keys_are_written(config_path: Path, tmp_path: Path) -> None:
    """A key the person did not touch is not written back, even at its loaded value."""
    app = MailSetupApp(config_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await settled(pilot)
        # Removed from the file by someone else: the TUI must not put it back.
        replace_in_file(config_path, 'name = "Acme Licensing"\n', "")
        await open_section(pilot, "server")
        editor(app, "smtp.host").value = "relay.example.test"
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: "relay.example.test" in file_text(config_path))
    values = file_values(config_path)
    assert "sender.name" not in values
    assert values["sender.address"] == SENDER["sender.address"]


@pytest.mark.parametrize(("choice", "kept"), [("f", "Other Team"), ("m", "Ops Team")])
async def test_a_key_changed_on_both_sides_is_asked_about(
    config_path: Path, tmp_path: Path, choice: str, kept: str
) -> None:
    app = MailSetupApp(config_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await settled(pilot)
        set_from_another_shell(config_path, tmp_path, "sender.name", "Other Team")
        set_from_another_shell(config_path, tmp_path, "smtp.port", "3000")
        await rename_and_save(app, pilot)
        await wait_for(pilot, lambda: isinstance(app.screen, ConflictScreen))
        dialog = app.screen
        assert isinstance(dialog, ConflictScreen)
        shown = rendered_text(dialog.query_one("#conflict-body"))
        # Both values in view, and the key changed only there named as kept.
        assert "sender.name" in shown
        assert '"Ops Team"' in shown and '"Other Team"' in shown
        assert "smtp.port" in shown
        assert file_values(config_path)["sender.name"] == "Other Team"  # nothing written yet
        await pilot.press(choice)
        await wait_for(pilot, lambda: isinstance(app.screen, FormScreen))
        await wait_for(pilot, lambda: "Saved" in status(app))
        assert editor(app, "sender.name").value == kept
        assert editor(app, "smtp.port").value == "3000"
        assert not form_screen(app).dirty
    values = file_values(config_path)
    assert values["sender.name"] == kept
    assert values["smtp.port"] == 3000


async def test_cancel_in_the_conflict_dialog_writes_nothing_and_says_so(
    config_path: Path, tmp_path: Path
) -> None:
    app = MailSetupApp(config_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await settled(pilot)
        set_from_another_shell(config_path, tmp_path, "sender.name", "Other Team")
        before = file_text(config_path)
        await rename_and_save(app, pilot)
        await wait_for(pilot, lambda: isinstance(app.screen, ConflictScreen))
        await pilot.press("escape")
        await wait_for(pilot, lambda: "Not saved" in status(app))
        assert form_screen(app).dirty
    assert file_text(config_path) == before


async def test_what_another_writer_put_in_the_file_reaches_the_screen_escaped(
    config_path: Path,
) -> None:
    app = MailSetupApp(config_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await settled(pilot)
        replace_in_file(config_path, '"Acme Licensing"', '"Evil\\u001b[2JTeam"')
        await rename_and_save(app, pilot)
        await wait_for(pilot, lambda: isinstance(app.screen, ConflictScreen))
        shown = rendered_text(app.screen.query_one("#conflict-body"))
        assert "\x1b" not in shown
        assert "Evil\\x1b[2JTeam" in shown
