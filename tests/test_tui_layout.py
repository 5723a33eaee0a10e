"""Where things are drawn, not only what they say (issue 20 items 3 and 5): the status line
has its own row above the footer at every size, and stays until the next action."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.geometry import Region
from textual.widgets import Footer, Input
from tui_support import SENDER, open_section, rendered_text, settled, wait_for, write_config

from tui_mailsetup.tui.app import MailSetupApp
from tui_mailsetup.tui.screens.form import FormScreen

SIZES = [(60, 20), (80, 24), (120, 40)]


@pytest.fixture
def config_path(tmp_path: Path) -> Path:
    path = tmp_path / "cfg" / "config.toml"
    return write_config(path, {"smtp.host": "mail.example.test", "smtp.port": 587, **SENDER})


def form(app: MailSetupApp) -> FormScreen:
    screen = app.screen
    assert isinstance(screen, FormScreen)
    return screen


def assert_status_in_view(app: MailSetupApp, words: str) -> None:
    screen = form(app)
    line = screen.query_one("#status-line")
    footer = screen.query_one(Footer)
    region, bottom = line.region, footer.region
    visible = Region(0, 0, *app.size)
    assert region.height >= 1, "the status line takes no room"
    assert visible.contains_region(region), f"{region} is off the {app.size} screen"
    assert not region.overlaps(bottom), f"status {region} is under the footer {bottom}"
    # Nothing else is drawn over it: the screen's topmost widget on each of its rows is it.
    for y in range(region.y, region.bottom):
        widget, _ = screen.get_widget_at(region.x + 1, y)
        assert widget is line, f"row {y} shows {widget!r}"
    assert words in rendered_text(line)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
async def test_the_saved_message_has_its_own_row_above_the_footer(
    config_path: Path, size: tuple[int, int]
) -> None:
    app = MailSetupApp(config_path)
    async with app.run_test(size=size) as pilot:
        await settled(pilot)
        await open_section(pilot, "sender")
        form(app).query_one("#f-sender--name", Input).value = "Ops Team"
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: form(app).query_one("#status-line").display)
        await pilot.pause()
        assert_status_in_view(app, "Saved to")
        # Read after the fact: moving on to another field leaves it in view.
        await pilot.press("tab")
        await pilot.pause()
        assert_status_in_view(app, "Saved to")
        # The next change is the next action: the message has been read.
        await pilot.press("x")
        await wait_for(pilot, lambda: not form(app).query_one("#status-line").display)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
async def test_the_reason_a_test_did_not_start_is_in_view_in_the_wizard(
    tmp_path: Path, size: tuple[int, int]
) -> None:
    app = MailSetupApp(tmp_path / "cfg" / "config.toml")
    async with app.run_test(size=size) as pilot:
        await settled(pilot)
        await pilot.press("ctrl+t")
        await wait_for(pilot, lambda: form(app).query_one("#status-line").display)
        await pilot.pause()
        assert_status_in_view(app, "before testing")


async def test_messages_of_one_action_are_shown_together(config_path: Path) -> None:
    app = MailSetupApp(config_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await settled(pilot)
        app.notify("first")
        app.notify("second", severity="warning")
        await pilot.pause()
        text = rendered_text(form(app).query_one("#status-line"))
        assert "first" in text and "second" in text
