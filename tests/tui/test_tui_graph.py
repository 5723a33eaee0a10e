"""The TUI offers the Graph driver with its fields (issue 25), and a returning user's home
screen reads a graph configuration without tripping over its [oauth2] token."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import Select

from tests.support.tui_support import SENDER, open_section, rendered_text, write_config
from tui_mailsetup.tui.app import MailSetupApp
from tui_mailsetup.tui.screens.form import FormScreen
from tui_mailsetup.tui.screens.settings import SettingsScreen


def _row_shown(app: MailSetupApp, key: str) -> bool:
    screen = app.screen
    assert isinstance(screen, FormScreen)
    row = screen.row(key)
    return row is not None and bool(row.display)


async def test_choosing_graph_shows_its_fields_and_the_app_sign_in(tmp_path: Path) -> None:
    config = tmp_path / "cfg" / "config.toml"
    app = MailSetupApp(config)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_section(pilot, "server")
        await open_section(pilot, "credentials")
        await open_section(pilot, "driver")
        screen = app.screen
        assert isinstance(screen, FormScreen)
        driver = screen.row("driver")
        assert driver is not None and isinstance(driver.editor, Select)
        assert not _row_shown(app, "graph.mailbox")
        driver.editor.value = "graph"
        await pilot.pause()
        for key in ("graph.mailbox", "graph.endpoint", "oauth2.client_id", "oauth2.client_secret"):
            assert _row_shown(app, key), key
        assert not _row_shown(app, "smtp.host")


async def test_home_screen_of_a_graph_configuration(tmp_path: Path) -> None:
    config = tmp_path / "cfg" / "config.toml"
    write_config(
        config,
        {
            "driver": "graph",
            "graph.mailbox": "notify@acme.com",
            "oauth2.flow": "client-credentials",
            "oauth2.tenant": "acme.com",
            "oauth2.client_id": "app-id",
            **SENDER,
        },
    )
    app = MailSetupApp(config)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert isinstance(app.screen, SettingsScreen)
        text = rendered_text(app.screen.query_one("#home-text"))
        assert "Mailbox" in text and "notify@acme.com" in text and "Microsoft Graph" in text
        assert "client secret not set" in text
