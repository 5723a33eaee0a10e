"""The TUI in a real terminal (tmux), typed at as a person or a password manager types.

tmux writes one ``send-keys`` to the terminal as one burst: the keys reach the app
together, as from a paste, an auto-type or a fast typist over a slow link.
"""

from __future__ import annotations

import contextlib
import shutil
import tomllib
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.tui_support import Tmux, file_exists, file_text
from tui_mailsetup.secrets import read_credentials

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")

WIZARD_BURST = (
    "PageDown",
    "mx.example.com",
    "PageDown",
    "bob@example.test",
    "Tab",
    "NewSecret123",
    "PageDown",
    "Bob",
    "Tab",
    "bob@example.com",
)
"""The whole wizard as a password manager types it: server, login, sender."""


def test_user_tab_password_in_one_burst_saves_each_where_it_was_typed(tmp_path: Path) -> None:
    config = tmp_path / "cfg" / "config.toml"
    term = Tmux("burst", tmp_path)
    term.start("--config", str(config))
    try:
        term.wait_for(lambda: "Driver" in term.screen() and "Next" in term.screen())
        # The whole wizard in ONE send-keys, steps built while the keys arrive.
        term.keys(*WIZARD_BURST, "C-s")
        # The configuration is written first, then the credentials file: wait for both.
        term.wait_for(lambda: file_exists(config) and bool(read_credentials(config)))
        saved = tomllib.loads(file_text(config))
        assert saved["smtp"]["host"] == "mx.example.com"
        assert saved["smtp"]["username"] == "bob@example.test"
        assert saved["sender"] == {"name": "Bob", "address": "bob@example.com"}
        assert "NewSecret123" not in file_text(config)
        assert read_credentials(config) == {"smtp.password": "NewSecret123"}
        term.keys("C-q")
        term.wait_for(term.exit_file.exists)
        assert term.exit_file.read_text().strip() == "0"
    finally:
        term.close()


def test_backspace_in_a_burst(tmp_path: Path) -> None:
    config = tmp_path / "cfg" / "config.toml"
    term = Tmux("bspace", tmp_path)
    term.start("--config", str(config))
    try:
        term.wait_for(lambda: "Next" in term.screen())
        term.keys("PageDown", "abc", "BSpace", "xyz", "PageDown", "PageUp")
        term.wait_for(lambda: "abxyz" in term.screen())
        assert "abcxy" not in term.screen()
    finally:
        term.close()


def test_keys_sent_as_the_program_starts_land_in_their_fields(tmp_path: Path) -> None:
    """Typed before the first frame and before the configuration is loaded: none lost."""
    config = tmp_path / "cfg" / "config.toml"
    term = Tmux("early", tmp_path)
    term.start("--config", str(config))
    try:
        # No wait at all: the keys are in the terminal before the program reads it.
        term.keys(*WIZARD_BURST)
        term.wait_for(lambda: "bob@example.com" in term.screen())
        term.keys("C-s")
        term.wait_for(lambda: file_exists(config) and bool(read_credentials(config)))
        saved = tomllib.loads(file_text(config))
        assert saved["smtp"] == {"host": "mx.example.com", "username": "bob@example.test"}
        assert saved["sender"] == {"name": "Bob", "address": "bob@example.com"}
        assert read_credentials(config) == {"smtp.password": "NewSecret123"}
    finally:
        term.close()


def test_returning_user_keys_at_the_first_frame_follow_the_loaded_values(tmp_path: Path) -> None:
    config = tmp_path / "cfg" / "config.toml"
    config.parent.mkdir(mode=0o700)
    config.write_text('[smtp]\nhost = "smtp.example.com"\n', encoding="utf-8")
    term = Tmux("home", tmp_path)
    term.start("--config", str(config), env={"MAILSETUP_SMTP__PORT": "2525"})
    try:
        # The first frame: the home screen's lines, before their values.
        term.wait_for(lambda: "Send with" in term.screen())
        term.keys("s", ".uk", "Tab", "BSpace")
        term.wait_for(lambda: "smtp.example.com.uk" in term.screen())
        # The keys are played one at a time: the screen may show the host before the port.
        term.wait_for(lambda: "Port 252 " in term.screen())
        assert "env" in term.screen()
    finally:
        term.close()


def test_a_configuration_that_does_not_load_is_reported_as_before(tmp_path: Path) -> None:
    from tui_mailsetup.config_file import ConfigError, load_config

    config = tmp_path / "cfg" / "config.toml"
    config.parent.mkdir(mode=0o700)
    for number, text in enumerate(
        ('[smtp]\nhost = "smtp.example.com"\nport = 70000\n', '[smtp]\nhost = "unterminated\n')
    ):
        config.write_text(text, encoding="utf-8")
        with pytest.raises(ConfigError) as expected:
            load_config(config)
        errors = tmp_path / f"stderr-{number}"
        term = Tmux(f"bad{number}", tmp_path)
        term.start("--config", str(config), stderr=errors)
        try:
            term.wait_for(term.exit_file.exists)
            assert term.exit_file.read_text().strip() == "78"
            # Last, on the normal screen (the TUI writes its frames to stderr too).
            printed = errors.read_text(encoding="utf-8")
            assert printed.endswith(f"{expected.value}\n")
        finally:
            term.close()


def test_an_enter_sent_at_launch_is_an_enter(tmp_path: Path) -> None:
    """Raw mode before the heavy imports, and an Enter the line discipline already turned into
    a line feed is still an Enter: the first step's drop-down opens."""
    config = tmp_path / "cfg" / "config.toml"
    term = Tmux("enter", tmp_path)
    term.start("--config", str(config))
    try:
        term.keys("Enter")  # no wait at all
        term.wait_for(lambda: "Mailgun (HTTP API)" in term.screen())
        term.keys("Escape", "C-q")
        term.wait_for(term.exit_file.exists)
        assert term.exit_file.read_text().strip() == "0"
    finally:
        term.close()


def test_the_terminal_is_restored_after_the_tui(tmp_path: Path) -> None:
    """The terminal is back in cooked mode (echo, line editing) once the program has ended,
    also when it ends before the TUI runs (a configuration that does not load)."""
    config = tmp_path / "cfg" / "config.toml"
    config.parent.mkdir(mode=0o700)
    for number, text in enumerate(("", '[smtp]\nhost = "x"\nport = 70000\n')):
        config.write_text(text, encoding="utf-8")
        settings = tmp_path / f"stty-{number}"
        term = Tmux(f"stty{number}", tmp_path)
        errors = tmp_path / f"err-{number}" if number else None  # the TUI draws on stderr
        term.start("--config", str(config), stderr=errors, after=f"stty -a > {settings}")
        try:
            if number == 0:
                term.wait_for(shows("Send with", term.screen))
                term.keys("C-q")
            term.wait_for(settings.exists)
            term.wait_for(shows("icanon", settings.read_text))
            modes = settings.read_text().split()
            assert "icanon" in modes and "echo" in modes and "icrnl" in modes and "isig" in modes
        finally:
            term.close()


def shows(text: str, read: Callable[[], str]) -> Callable[[], bool]:
    """A condition: ``text`` is in what ``read`` returns (bound now, not at the loop's end)."""
    return lambda: text in read()


BURST_SCRIPTS: dict[str, tuple[dict[str, object] | None, tuple[str, ...]]] = {
    "username Enter password": (
        {"smtp.host": "smtp.example.com", "smtp.username": "old@example.test"},
        ("c", "C-u", "bob@example.test", "Enter", "NewSecret123", "C-s"),
    ),
    "Tab Enter on Next, then the host": (None, ("Tab", "Enter", "mail.example.test")),
    "the whole wizard": (None, (*WIZARD_BURST, "PageDown", "C-s")),
}


def keystrokes(keys: tuple[str, ...]) -> list[str]:
    """One tmux key per keystroke: a word is its characters, a key name is one key."""
    named = {"Enter", "Tab", "BTab", "Escape", "BSpace", "PageDown", "PageUp", "Up", "Down"}
    return [
        single for key in keys for single in ([key] if key in named or "-" in key else list(key))
    ]


def play_in_tmux(
    tmp_path: Path,
    name: str,
    values: dict[str, object] | None,
    keys: tuple[str, ...],
    *,
    as_burst: bool,
    expected: str = "",
) -> tuple[str, dict[str, str]]:
    """Run the script; with ``expected`` (the key-by-key screen), wait for that screen
    first: the burst's keys may still be waiting for the configuration to load."""
    import shutil as _shutil

    from tests.support.tui_support import write_config

    directory = tmp_path / "cfg"
    if directory.exists():
        _shutil.rmtree(directory)
    directory.mkdir(mode=0o700)
    config = directory / "config.toml"
    if values is not None:
        write_config(config, {**values, "sender.address": "ops@example.com"}, "OldSecret")
    term = Tmux(f"{name}-{'burst' if as_burst else 'slow'}", tmp_path)
    term.start("--config", str(config))
    try:
        term.wait_for(lambda: "Quit" in term.screen() and ("Send with" in term.screen()))
        term.wait_settled()
        if as_burst:
            term.keys(*keys)
        else:
            for key in keystrokes(keys):
                term.keys(key)
                term.wait_settled()
        term.wait_settled()
        if expected:
            with contextlib.suppress(AssertionError):  # the comparison below shows the difference
                term.wait_for(lambda: term.screen() == expected)
        if "C-s" in keys:
            term.wait_for(lambda: "Saved" in term.screen())
        screen = term.screen()
        files = {
            path.name: path.read_text(encoding="utf-8")
            for path in sorted(directory.iterdir())
            if path.suffix == ".toml"
        }
        return screen, files
    finally:
        term.close()


@pytest.mark.parametrize("name", list(BURST_SCRIPTS))
def test_a_burst_in_a_real_terminal_is_slow_typing(tmp_path: Path, name: str) -> None:
    values, keys = BURST_SCRIPTS[name]
    if name == "the whole wizard":
        print(f"keystrokes of the first run (the whole wizard, saved): {len(keystrokes(keys))}")
    slow = play_in_tmux(tmp_path, name.split()[0], values, keys, as_burst=False)
    fast = play_in_tmux(tmp_path, name.split()[0], values, keys, as_burst=True, expected=slow[0])
    assert fast[1] == slow[1], fast[0]
    assert fast[0] == slow[0], f"burst:\n{fast[0]}\nkey by key:\n{slow[0]}"


def test_a_pasted_escape_is_neither_rewritten_nor_reordered(tmp_path: Path) -> None:
    config = tmp_path / "cfg" / "config.toml"
    config.parent.mkdir(mode=0o700)
    config.write_text(
        '[smtp]\nhost = "smtp.example.com"\n[sender]\naddress = "ops@example.com"\n',
        encoding="utf-8",
    )
    term = Tmux("paste", tmp_path)
    term.start("--config", str(config))
    try:
        term.wait_for(lambda: "Send with" in term.screen())
        term.keys("n")
        term.wait_for(lambda: "Address" in term.screen())
        term.run("set-buffer", "Ops\x1bTeam")
        term.run("paste-buffer", "-p")  # a bracketed paste, as terminals send one
        term.keys("X", "C-s")
        term.wait_for(lambda: "name" in file_text(config))
        saved = tomllib.loads(file_text(config))
        assert saved["sender"]["name"] == "X"
    finally:
        term.close()
