"""The TUI in a real terminal (tmux), typed at as a person or a password manager types.

tmux writes one ``send-keys`` to the terminal as one burst: the keys reach the app
together, as from a paste, an auto-type or a fast typist over a slow link.
"""

from __future__ import annotations

import shutil
import tomllib
from pathlib import Path

import pytest
from tui_support import Tmux, file_exists, file_text

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
        screen = term.screen()
        assert "Port 252 " in screen and "env" in screen
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
