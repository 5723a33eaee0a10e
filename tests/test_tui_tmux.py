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


def test_user_tab_password_in_one_burst_saves_each_where_it_was_typed(tmp_path: Path) -> None:
    config = tmp_path / "cfg" / "config.toml"
    term = Tmux("burst", tmp_path)
    term.start("--config", str(config))
    try:
        term.wait_for(lambda: "Driver" in term.screen() and "Next" in term.screen())
        # The whole wizard in ONE send-keys, steps built while the keys arrive.
        term.keys(
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
            "C-s",
        )
        term.wait_for(lambda: file_exists(config) and "bob@example.test" in file_text(config))
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
