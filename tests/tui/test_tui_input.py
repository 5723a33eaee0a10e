"""Input integrity: every key reaches the widget that had focus when it was typed, in order.

Keys are posted the way a terminal delivers a burst (a paste, a password manager's
auto-type, a fast typist over a slow link): all at once, without waiting for the
app between them. Textual on its own lets a Tab or a Backspace overtake the
characters after it (Textual issue #6605); the app serialises keys itself.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from textual import events
from textual.widgets import Input

from tests.support.tui_support import SENDER, burst, file_text, open_section, wait_for, write_config
from tui_mailsetup.tui.app import MailSetupApp
from tui_mailsetup.tui.screens.form import FormScreen


@pytest.fixture
def config_path(tmp_path: Path) -> Path:
    directory = tmp_path / "cfg"
    directory.mkdir(mode=0o700)
    return directory / "config.toml"


def value(app: MailSetupApp, key: str) -> str:
    screen = app.screen
    assert isinstance(screen, FormScreen)
    row = screen.row(key)
    if row is None or not row.query(Input):
        return "(not built)"
    editor = row.editor
    assert isinstance(editor, Input)
    return editor.value


def focused_id(app: MailSetupApp) -> str | None:
    return app.focused.id if app.focused is not None else None


async def test_user_tab_password_in_one_burst(config_path: Path) -> None:
    write_config(config_path, {"smtp.host": "smtp.example.com", **SENDER})
    app = MailSetupApp(config_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_section(pilot, "credentials")
        assert focused_id(app) == "f-smtp--username"
        burst(app, [*"bob@example.test", "tab", *"NewSecret123"])
        await wait_for(pilot, lambda: len(value(app, "smtp.password")) == 12)
        assert value(app, "smtp.username") == "bob@example.test"
        assert value(app, "smtp.password") == "NewSecret123"


async def test_backspace_in_a_burst_keeps_its_place(config_path: Path) -> None:
    write_config(config_path, {"smtp.host": "smtp.example.com", **SENDER})
    app = MailSetupApp(config_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_section(pilot, "credentials")
        burst(app, [*"abc", "backspace", *"xyz", "left", "left", "backspace", "home", "Q"])
        await wait_for(pilot, lambda: value(app, "smtp.username").startswith("Q"))
        assert value(app, "smtp.username") == "Qabyz"


async def test_shift_tab_and_tabs_in_a_burst(config_path: Path) -> None:
    write_config(config_path, {"smtp.host": "smtp.example.com", **SENDER})
    app = MailSetupApp(config_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_section(pilot, "sender")
        assert focused_id(app) == "f-sender--name"
        keys: list[str] = ["ctrl+u", *"Ops", "tab", "ctrl+u", *"ops@acme.example"]
        keys += ["shift+tab", "end", *" Team"]
        burst(app, keys)
        await wait_for(pilot, lambda: value(app, "sender.name").endswith("Team"))
        assert value(app, "sender.name") == "Ops Team"
        assert value(app, "sender.address") == "ops@acme.example"


async def test_keys_typed_while_a_wizard_step_is_built_are_kept(config_path: Path) -> None:
    app = MailSetupApp(config_path)
    async with app.run_test(size=(80, 24)) as pilot:
        # pgdn builds the Server step; the host and the tab after it arrive before it exists.
        burst(app, ["pagedown", *"mx.example.com", "tab", "ctrl+u", *"465"])
        await wait_for(pilot, lambda: value(app, "smtp.port") == "465")
        assert value(app, "smtp.host") == "mx.example.com"
        # And again into the next step, twice in a row.
        burst(app, ["pagedown", *"alice", "tab", *"pw", "pagedown", *"Acme"])
        await wait_for(pilot, lambda: value(app, "sender.name") == "Acme")
        assert value(app, "smtp.username") == "alice"
        assert value(app, "smtp.password") == "pw"


async def test_burst_then_save_writes_each_value_to_its_field(config_path: Path) -> None:
    write_config(config_path, {"smtp.host": "smtp.example.com", **SENDER})
    app = MailSetupApp(config_path)
    async with app.run_test(size=(80, 24)) as pilot:
        burst(app, ["c", *"bob@example.test", "tab", *"NewSecret123"])
        burst(app, ["ctrl+s"])
        await wait_for(pilot, lambda: "bob@example.test" in file_text(config_path))
    text = file_text(config_path)
    assert 'username = "bob@example.test"' in text
    assert "NewSecret123" not in text


async def test_paste_keeps_the_text_and_control_characters_get_a_finding(
    config_path: Path,
) -> None:
    write_config(config_path, {"smtp.host": "smtp.example.com", **SENDER})
    app = MailSetupApp(config_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_section(pilot, "credentials")
        burst(app, [*"ab"])
        app.post_message(events.Paste("cd\tef"))
        burst(app, [*"gh"])
        await wait_for(pilot, lambda: value(app, "smtp.username").endswith("gh"))
        assert value(app, "smtp.username") == "abcd\tefgh"
        screen = app.screen
        assert isinstance(screen, FormScreen)
        row = screen.row("smtp.username")
        assert row is not None and row.finding is not None
        assert "control character" in row.finding.message


async def test_section_keys_in_a_burst_are_each_counted(config_path: Path) -> None:
    write_config(config_path, {"smtp.host": "smtp.example.com", **SENDER})
    app = MailSetupApp(config_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_section(pilot, "review")
        screen = app.screen
        assert isinstance(screen, FormScreen)
        burst(app, ["pageup"] * 5)
        await wait_for(pilot, lambda: focused_id(app) == "home")
        await pilot.pause(0.2)
        assert screen.current_section() == "home"
        burst(app, ["pagedown"] * 3)
        await wait_for(pilot, lambda: focused_id(app) == "f-smtp--username")
        await pilot.pause(0.2)
        assert screen.current_section() == "credentials"


async def test_a_pasted_escape_is_refused_and_said(config_path: Path) -> None:
    """``Ops<ESC>Team`` was saved as ``^TeamOps`` (issue 20): now nothing is pasted, and the
    status line says why."""
    write_config(config_path, {"smtp.host": "smtp.example.com", **SENDER})
    app = MailSetupApp(config_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_section(pilot, "sender")
        burst(app, ["ctrl+u", *"Ops"])
        app.post_message(events.Paste("Team\x1b[31m"))
        burst(app, ["end", "!"])
        await wait_for(pilot, lambda: value(app, "sender.name").endswith("!"))
        assert value(app, "sender.name") == "Ops!"
        status = app.screen.query_one("#status-line")
        assert "Not pasted" in str(status.render()) and "ESC at character 5" in str(status.render())


def feed_all(chunks: list[str]) -> list[events.Event]:
    from tui_mailsetup.tui.keys import PasteKeepingParser

    parser = PasteKeepingParser()
    got: list[events.Event] = []
    for chunk in [*(chunk for chunk in chunks if chunk), ""]:  # "" is the end of input
        got.extend(parser.feed(chunk))  # type: ignore[arg-type]
    return got


def test_an_escape_inside_a_bracketed_paste_stays_in_the_paste() -> None:
    from tui_mailsetup.tui.keys import PASTED_ESC

    data = "a\x1b[200~Ops\x1bTeam\x1b[201~b"
    # However the terminal's reads cut it: one paste, in its place, the ESC kept.
    for cut in range(len(data) + 1):
        for second in range(cut, len(data) + 1):
            got = feed_all([data[:cut], data[cut:second], data[second:]])
            kinds = [
                e.text if isinstance(e, events.Paste) else getattr(e, "key", None) for e in got
            ]
            assert kinds == ["a", f"Ops{PASTED_ESC}Team", "b"], (cut, second, kinds)


def test_keys_outside_a_paste_are_parsed_as_before() -> None:
    from tui_mailsetup.tui.keys import PASTED_ESC

    got = feed_all(["x\x1b[A\t"])
    assert [getattr(e, "key", None) for e in got] == ["x", "up", "tab"]
    # An Escape alone is not held back for the next read (it might begin a paste).
    from tui_mailsetup.tui.keys import PasteKeepingParser

    parser = PasteKeepingParser()
    assert parser._mark_escapes("\x1b") == "\x1b"
    assert parser._mark_escapes("[200") == "[200"  # passed on, and a paste begins after all
    assert parser._mark_escapes("~a\x1bb") == f"~a{PASTED_ESC}b"
