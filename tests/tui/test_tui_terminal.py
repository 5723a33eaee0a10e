"""Raw mode sooner (issue 20): the terminal leaves cooked mode as the program starts when the
TUI will run, is put back as it was on the way out, and is left alone otherwise."""

from __future__ import annotations

import os
import pty
import sys
import termios
from collections.abc import Callable, Iterator

import pytest

from tui_mailsetup.startup.program import raw_early


@pytest.fixture
def terminals(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[], int]]:
    """``put()`` puts stdin and stdout on two fresh pseudo-terminals (cooked, as a shell leaves
    them) and returns stdin's; called in the test itself (pytest's capture replaces
    ``sys.stdout`` again between a fixture and the test)."""
    opened: list[int] = []

    def put() -> int:
        slaves = []
        for name in ("stdin", "stdout"):
            master, slave = pty.openpty()
            opened.extend((master, slave))
            slaves.append(slave)
            stream = os.fdopen(os.dup(slave), "r" if name == "stdin" else "w")
            monkeypatch.setattr(sys, name, stream)
        return slaves[0]

    yield put
    for fd in opened:
        os.close(fd)


def cooked(fd: int) -> bool:
    attrs = termios.tcgetattr(fd)
    return bool(attrs[3] & termios.ICANON) and bool(attrs[0] & termios.ICRNL)


def test_the_tui_command_goes_raw_and_comes_back(terminals: Callable[[], int]) -> None:
    stdin = terminals()
    before = termios.tcgetattr(stdin)
    for command in ("tui", "demo"):
        with raw_early(command, []):
            assert not cooked(stdin)
            assert not termios.tcgetattr(stdin)[3] & termios.ECHO
        assert termios.tcgetattr(stdin) == before


def test_an_error_on_the_way_out_restores_the_terminal(terminals: Callable[[], int]) -> None:
    stdin = terminals()
    before = termios.tcgetattr(stdin)
    with pytest.raises(SystemExit), raw_early("tui", []):
        raise SystemExit(78)
    assert termios.tcgetattr(stdin) == before


@pytest.mark.parametrize(
    ("command", "argv"),
    [("show", []), (None, ["--help"]), ("tui", ["--version"]), ("demo", ["--headless"])],
)
def test_other_commands_leave_the_terminal_alone(
    terminals: Callable[[], int], command: str | None, argv: list[str]
) -> None:
    stdin = terminals()
    with raw_early(command, argv):
        assert cooked(stdin)


def test_without_a_terminal_on_both_sides_nothing_changes(
    terminals: Callable[[], int], monkeypatch: pytest.MonkeyPatch
) -> None:
    stdin = terminals()
    read, write = os.pipe()
    monkeypatch.setattr(sys, "stdout", os.fdopen(write, "w"))
    try:
        with raw_early("tui", []):
            assert cooked(stdin)
    finally:
        os.close(read)


def test_called_as_sendmail_at_a_terminal_it_stays_cooked(
    terminals: Callable[[], int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``sendmail -t`` typed at a terminal (the symlink, argv[0] sendmail) reads the message
    line by line: never raw mode, whatever word follows (a recipient called "tui")."""
    import tui_mailsetup.cli as cli

    stdin = terminals()
    seen: list[bool] = []

    def fake_main() -> int:
        seen.append(cooked(stdin))
        return 0

    monkeypatch.setattr(cli, "main", fake_main)
    for argv in (["-t"], ["tui"], ["-i", "demo"]):
        monkeypatch.setattr(sys, "argv", ["/usr/sbin/sendmail", *argv])
        with pytest.raises(SystemExit):
            cli.run()
    assert seen == [True, True, True]
