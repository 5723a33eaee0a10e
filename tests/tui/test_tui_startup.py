"""The first frame comes before the configuration is loaded (issue 15), and nothing is lost.

The app draws its first screen from a plain read of the file, then loads the
configuration (the settings model, every layer, validation) in a thread and
fills the values in. These tests hold that load back until they have looked at
the first frame and typed into it, so "before the load" is certain, not a race.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import Button, Footer, Select, Tabs

from tests.support.tui_support import (
    PILOT_PRESS,
    SENDER,
    file_text,
    rendered_text,
    settled,
    wait_for,
    write_config,
)
from tui_mailsetup.config_file import ConfigError, load_config
from tui_mailsetup.secrets import read_credentials
from tui_mailsetup.tui.app import MailSetupApp
from tui_mailsetup.tui.screens.settings import SettingsScreen
from tui_mailsetup.tui.screens.wizard import WizardScreen
from tui_mailsetup.tui.widgets.home import HomePanel


@pytest.fixture
def config_path(tmp_path: Path) -> Path:
    directory = tmp_path / "cfg"
    directory.mkdir(mode=0o700)
    return directory / "config.toml"


@pytest.fixture
def held_load(monkeypatch: pytest.MonkeyPatch) -> Iterator[threading.Event]:
    """The configuration's load waits until the test sets the event."""
    gate = threading.Event()
    original = MailSetupApp._load
    # Textual's own press: it returns while the keys wait for the load.
    monkeypatch.setattr(Pilot, "press", PILOT_PRESS)

    def held(app: MailSetupApp) -> None:
        gate.wait(30)
        original(app)

    monkeypatch.setattr(MailSetupApp, "_load", held)
    yield gate
    gate.set()


async def test_wizard_first_frame_and_keys_typed_before_the_load(
    config_path: Path, held_load: threading.Event
) -> None:
    app = MailSetupApp(config_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert not app.config_ready
        screen = app.screen
        assert isinstance(screen, WizardScreen)
        # The first frame is the real step 1: the steps, the driver, Back/Next, the keys.
        assert "1 Driver" in rendered_text(screen.query_one("#steps"))
        driver = screen.query_one("#f-driver", Select)
        assert driver.value == "smtp"
        assert app.focused is driver
        assert {b.id for b in screen.query(Button)} >= {"back", "next"}
        assert "Quit" in app.export_screenshot()  # the footer's keys are drawn
        # A password manager's auto-type, all of it before the configuration is loaded.
        await pilot.press(
            "pagedown",
            *"mx.example.com",
            "pagedown",
            *"bob@example.test",
            "tab",
            *"s3cret pw",
            "pagedown",
            *"Bob",
            "tab",
            *"bob@example.com",
            "ctrl+s",
        )
        assert not app.config_ready
        held_load.set()
        await settled(pilot)
        await wait_for(pilot, lambda: config_path.exists() and not screen.dirty)
        assert screen.current_section() == "sender"
        assert screen.state.get("smtp.host") == "mx.example.com"
        assert screen.state.get("smtp.username") == "bob@example.test"
        assert screen.state.get("sender.name") == "Bob"
    text = file_text(config_path)
    assert 'host = "mx.example.com"' in text and 'address = "bob@example.com"' in text
    assert read_credentials(config_path) == {"smtp.password": "s3cret pw"}


async def test_home_first_frame_fills_in_without_moving_and_keys_follow_the_values(
    config_path: Path, held_load: threading.Event, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_config(config_path, {"smtp.host": "smtp.example.com", **SENDER})
    monkeypatch.setenv("MAILSETUP_SMTP__PORT", "2525")  # only the full load knows
    app = MailSetupApp(config_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert not app.config_ready
        screen = app.screen
        assert isinstance(screen, SettingsScreen)
        home = screen.query_one(HomePanel).query_one("#home-text")
        before = rendered_text(home).splitlines()
        labels = [line[:17].strip() for line in before if line.strip()]
        assert labels == [
            "[d] Send with",
            "[s] Server",
            "[c] Login",
            "[n] Sender",
            "[t] Last test",
            "DNS",
        ]
        assert "smtp.example.com" not in "\n".join(before)
        panel, tabs, footer = (
            screen.query_one(HomePanel),
            screen.query_one(Tabs),
            screen.query_one(Footer),
        )
        regions = {w: w.region for w in (panel, tabs, footer)}
        # "s" opens the server section; the keys after it go to its fields, after the values.
        await pilot.press("s", *".uk", "tab", "backspace")
        assert not app.config_ready
        held_load.set()
        await settled(pilot)
        screen.show_section("home")
        await pilot.pause()
        after = rendered_text(home).splitlines()
        # Filled in, and nothing moved: every line keeps its label where it was.
        # (what was typed: the environment's 2525 with its last digit deleted)
        assert "smtp.example.com.uk:252  STARTTLS" in "\n".join(after)
        for number, line in enumerate(before):
            if line.strip():
                assert after[number][:17] == line[:17]
        assert {w: w.region for w in regions} == regions
        assert screen.state.get("smtp.host") == "smtp.example.com.uk"
        assert screen.state.get("smtp.port") == "252"


async def test_a_value_that_does_not_validate_ends_the_app_with_the_usual_message(
    config_path: Path,
) -> None:
    _write(config_path, '[smtp]\nhost = "smtp.example.com"\nport = 70000\n')
    with pytest.raises(ConfigError) as expected:
        load_config(config_path)
    app = MailSetupApp(config_path)  # the plain read is fine: the first frame shows
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: app.load_error is not None)
    assert str(app.load_error) == str(expected.value)
    assert f"{config_path}:3: smtp.port: must be at most 65535" in str(app.load_error)
    assert app.return_code == 78


def test_a_file_that_is_not_toml_is_refused_before_any_frame(config_path: Path) -> None:
    _write(config_path, '[smtp]\nhost = "unterminated\n')
    with pytest.raises(ConfigError) as expected:
        load_config(config_path)
    with pytest.raises(ConfigError) as raised:
        MailSetupApp(config_path)
    assert str(raised.value) == str(expected.value)


def _write(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8")


_FIRST_FRAME = """
import json, sys
from tui_mailsetup.tui.app import MailSetupApp

class FirstFrame(MailSetupApp):
    def _load_in_background(self) -> None:  # the first frame is drawn: what did it need?
        heavy = sorted(m for m in sys.modules if m.split(".")[0] in {"pydantic", "tomlkit"}
                       or m in {"tui_mailsetup.settings", "tui_mailsetup.config_file"})
        sys.__stdout__.write("\\n" + json.dumps([type(self.screen).__name__, heavy]) + "\\n")
        self.exit()

FirstFrame(sys.argv[1]).run(headless=True, size=(80, 24))
"""


@pytest.mark.parametrize("returning", [False, True], ids=["wizard", "home"])
def test_the_first_frame_needs_no_settings_model(config_path: Path, returning: bool) -> None:
    import json
    import subprocess
    import sys

    if returning:
        write_config(config_path, {"smtp.host": "smtp.example.com", **SENDER})
    result = subprocess.run(
        [sys.executable, "-c", _FIRST_FRAME, str(config_path)],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert "Traceback" not in result.stderr, result.stderr
    screen, heavy = json.loads(result.stdout.strip().splitlines()[-1])
    assert screen == ("SettingsScreen" if returning else "WizardScreen")
    assert heavy == []
