"""A burst is slow typing (issue 20): the same keys, typed as one burst or one at a time with
the app idle between them, leave the same screen and the same saved files.

Each script is played twice on a fresh app with the same files: once posted all at once, the
way a terminal delivers one read (a paste, a password manager, a fast typist over a slow
link), and once key by key, waiting after each key until the app has finished everything it
caused (Pilot's own idle wait, animations, and the command palette's search). The scripts are
the ones the TUI review found broken (Enter, buttons, drop-downs, the palette, inputs that
select their text on focus), the whole wizard, the settings sections and every dialog.
"""

from __future__ import annotations

import io
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from textual.pilot import Pilot

from tests.support.tui_support import PILOT_PRESS, SENDER, burst, settled, wait_for, write_config
from tui_mailsetup.tui.app import MailSetupApp

SERVER = {"smtp.host": "smtp.example.com", "smtp.port": 587, "smtp.username": "old@example.test"}


@dataclass(frozen=True)
class Script:
    """Keys typed at a fresh app (the wizard when ``config`` is None, else the settings)."""

    name: str
    keys: Sequence[str]
    config: dict[str, Any] | None = None
    password: str | None = "OldSecret"
    expect: Callable[[str, dict[str, str]], bool] = field(default=lambda screen, files: True)
    """What a person would check after the script (the screen's text, the files saved)."""


def words(text: str) -> list[str]:
    """Characters of ``text`` as keys (a space is the space key)."""
    return [{" ": "space"}.get(c, c) for c in text]


def saved(files: dict[str, str], *needles: str, where: str = "config.toml") -> bool:
    return all(needle in files.get(where, "") for needle in needles)


SCRIPTS = [
    Script(
        "settings: username Enter password, ctrl+s",
        ["c", "ctrl+u", *words("bob@example.test"), "enter", *words("NewSecret123"), "ctrl+s"],
        config={**SERVER, **SENDER},
        expect=lambda screen, files: (
            saved(files, 'username = "bob@example.test"')
            and saved(files, "NewSecret123", where="credentials.toml")
            and "NewSecret123" not in files["config.toml"]
        ),
    ),
    Script(
        "wizard: host Enter ctrl+u port",
        ["pagedown", *words("mx.example.com"), "enter", "ctrl+u", *words("5587")],
        expect=lambda screen, files: "mx.example.com" in screen and "5587" in screen,
    ),
    Script(
        "wizard: 465 Enter applies the fix",
        ["pagedown", *words("mx.example.com"), "tab", "ctrl+u", *words("465"), "enter"],
        expect=lambda screen, files: "465" in screen,
    ),
    Script(
        "wizard: Tab Enter on Next, then the host",
        ["tab", "enter", *words("mail.example.test")],
        expect=lambda screen, files: "mail.example.test" in screen,
    ),
    Script(
        "wizard: Enter Down Enter on the driver drop-down",
        ["enter", "down", "enter", "pagedown"],
        expect=lambda screen, files: "Sendmail" in screen or "sendmail" in screen,
    ),
    Script(
        "settings: the palette goes to credentials, then typing",
        ["ctrl+p", *words("go to credentials"), "enter", *words("x@example.test"), "ctrl+s"],
        config={**SERVER, **SENDER},
        expect=lambda screen, files: saved(files, "old@example.testx@example.test"),
    ),
    Script(
        "settings: Send to (selects on focus) typed after the tab",
        ["t", "tab", "shift+tab", *words("whole@example.test")],
        config={**SERVER, **SENDER},
        expect=lambda screen, files: "whole@example.test" in screen,
    ),
    Script(
        "wizard: Detect (selects on focus) typed right after pgdn Tab",
        ["pagedown", "shift+tab", "shift+tab", "shift+tab", *words("bob@example.test")],
        expect=lambda screen, files: "Detect from bob@example.test" in screen,
    ),
    Script(
        "wizard: the whole wizard and save",
        [
            "pagedown",
            *words("mx.example.com"),
            "pagedown",
            *words("bob@example.test"),
            "tab",
            *words("NewSecret123"),
            "pagedown",
            *words("Bob"),
            "tab",
            *words("bob@example.com"),
            "pagedown",
            "ctrl+s",
        ],
        expect=lambda screen, files: (
            saved(files, "mx.example.com", "bob@example.test", "Bob")
            and saved(files, "NewSecret123", where="credentials.toml")
        ),
    ),
    Script(
        "wizard: Enter between the fields instead of Tab, and save",
        [
            "pagedown",
            *words("mx.example.com"),
            "enter",
            "ctrl+u",
            *words("2525"),
            "pagedown",
            *words("bob@example.test"),
            "enter",
            *words("NewSecret123"),
            "pagedown",
            *words("Bob"),
            "enter",
            *words("bob@example.com"),
            "pagedown",
            "ctrl+s",
        ],
        expect=lambda screen, files: (
            saved(files, 'username = "bob@example.test"', "port = 2525")
            and saved(files, 'name = "Bob"', 'address = "bob@example.com"')
            and saved(files, "NewSecret123", where="credentials.toml")
        ),
    ),
    Script(
        "settings: every section by pgdn, a value in each",
        [
            "pagedown",
            "pagedown",
            "end",
            *words(".uk"),
            "pagedown",
            *words("alice"),
            "pagedown",
            "ctrl+u",
            *words("Ops Team"),
            "enter",
            "ctrl+u",
            *words("ops@acme.example"),
            "pageup",
            "pageup",
            "ctrl+s",
        ],
        config={**SERVER, **SENDER},
        expect=lambda screen, files: saved(files, "smtp.example.com.uk", "Ops Team"),
    ),
    Script(
        "dialogs: help, quit asking, cancel, save and quit",
        ["c", *words("z"), "f1", "escape", "ctrl+q", "c", *words("y"), "ctrl+q", "s"],
        config={**SERVER, **SENDER},
        expect=lambda screen, files: saved(files, "old@example.testzy"),
    ),
    Script(
        "dialogs: export opens with its path selected, escape",
        ["ctrl+p", *words("export"), "enter", "escape", "c", *words("q")],
        config={**SERVER, **SENDER},
    ),
]


def screen_text(app: MailSetupApp) -> str:
    """The whole screen as plain text, as a person reads it."""
    width, height = app.size
    console = Console(width=width, height=height, file=io.StringIO(), record=True)
    console.print(app.screen._compositor.render_update(full=True))
    return console.export_text()


def read_files(directory: Path) -> dict[str, str]:
    return {
        path.name: path.read_text(encoding="utf-8")
        for path in sorted(directory.iterdir())
        if path.suffix == ".toml"
    }


def router_idle(app: MailSetupApp) -> bool:
    """No key waiting anywhere: none in the App's queue, none held or being played."""
    router = app.keys
    return app._message_queue.empty() and not router.pending and not router.delivering


async def quiet(pilot: Pilot[Any]) -> None:
    """Everything the keys caused has finished (also what the router does not wait for:
    Pilot's idle wait, animations, every worker but the configuration's loader)."""
    app = pilot.app
    assert isinstance(app, MailSetupApp)
    for _ in range(2):
        await pilot.pause()
        await wait_for(pilot, lambda: router_idle(app), limit=120)
        await pilot.wait_for_scheduled_animations()
        await wait_for(
            pilot,
            lambda: all(w.is_finished for w in app.workers if w.name != "load-config"),
            limit=60,
        )


async def play(config: Path, script: Script, *, as_burst: bool) -> tuple[str, dict[str, str]]:
    app = MailSetupApp(config)
    async with app.run_test(size=(80, 24)) as pilot:
        await settled(pilot)
        await quiet(pilot)
        if as_burst:
            burst(app, list(script.keys))
        else:
            for key in script.keys:
                await PILOT_PRESS(pilot, key)
                await quiet(pilot)
        await quiet(pilot)
        text = screen_text(app) if app.is_running else "(closed)"
    return text, read_files(config.parent)


def prepare(directory: Path, script: Script) -> Path:
    if directory.exists():
        shutil.rmtree(directory)
    directory.mkdir(mode=0o700)
    config = directory / "config.toml"
    if script.config is not None:
        write_config(config, script.config, script.password)
    return config


@pytest.mark.parametrize("script", SCRIPTS, ids=[s.name for s in SCRIPTS])
async def test_a_burst_is_slow_typing(tmp_path: Path, script: Script) -> None:
    directory = tmp_path / "cfg"
    slow = await play(prepare(directory, script), script, as_burst=False)
    fast = await play(prepare(directory, script), script, as_burst=True)
    assert script.expect(*slow), f"the script itself did not do what it says:\n{slow[0]}"
    assert fast[1] == slow[1], fast[0]
    assert fast[0] == slow[0]
