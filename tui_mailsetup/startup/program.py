"""The program's first and last moments: which command runs, raw mode before the heavy
imports when it is the TUI, and how a command ends.

* :func:`requested_command` reads the command word before argparse does, so that only
  that command's module is imported (``cli.build_parser(only=...)``), raw mode is set for
  the TUI, and the ending is chosen.
* :func:`raw_early`: Textual switches the terminal to raw mode only once it has been
  imported and has started, 0.2-0.4 s after launch. Until then the line discipline owns
  the keys: an Enter typed at once arrived as ctrl+j (ICRNL) and was lost, ctrl+u erased
  what had been typed before it (ICANON), ctrl+c killed the program (ISIG). It sets,
  before any heavy import, the same modes Textual sets later (Textual then keeps them),
  and puts the terminal back as it found it on every way out. It does nothing unless
  standard input and output are both a terminal.
* :func:`finish` ends the process: ``os._exit`` after the commands of
  :data:`QUICK_EXIT_COMMANDS`, the ordinary exit otherwise. It decides from the command
  word alone: nothing is left armed in the process between two calls of ``cli.main``.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Collection, Iterator, Sequence
from typing import NoReturn

TUI_COMMANDS = frozenset({"tui", "demo"})
"""The commands that open a screen (the demo unless ``--headless``)."""

OPTIONS_WITH_VALUES = frozenset({"--config", "--override"})
"""The common options that take the next word as their value."""


def requested_command(argv: Sequence[str], commands: Collection[str]) -> str | None:
    """The command the command line asks for: the first word that is not an option, "tui"
    when there is none, or None when the whole parser is needed (help, an unknown word)."""
    skip_next = False
    for token in argv:
        if skip_next:
            skip_next = False
        elif token in OPTIONS_WITH_VALUES:
            skip_next = True
        elif token in {"-h", "--help", "--"}:
            return None
        elif not token.startswith("-"):
            return token if token in commands else None
    # No command: the TUI, which must not wait for every other command's imports.
    return "tui"


# Commands that have nothing left to clean up once their handler has returned: their
# files are written, closed and unlocked; their event loop (send-test, check) has been
# closed by asyncio.run, which also waited for its worker threads; what threads remain
# are daemons (the trust-store prewarm, getfqdn) that an ordinary exit abandons too; and
# they register no atexit handler. The TUI (its terminal), the demo (its sandbox's files),
# export, dns, detect, oauth2 and mta keep the ordinary exit.
QUICK_EXIT_COMMANDS = frozenset({"show", "set", "set-secret", "check", "send-test"})


def finish(command: str | None, code: int) -> NoReturn:
    """End the program after ``command`` returned ``code``.

    After a command of :data:`QUICK_EXIT_COMMANDS` the output is flushed and the process
    ends with ``os._exit``: the interpreter's own shutdown frees every object of pydantic,
    the settings model, asyncio and the rest one by one, more than such a command's own
    work. Anything else, and an output that cannot be flushed (a closed pipe), exits the
    ordinary way.
    """
    if command in QUICK_EXIT_COMMANDS:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        except BaseException:  # the ordinary exit below reports it, as it always has
            pass
        else:
            os._exit(code)
    raise SystemExit(code)


@contextlib.contextmanager
def raw_early(command: str | None, argv: Sequence[str]) -> Iterator[None]:
    """Raw mode for the block when ``command`` runs the TUI; the terminal restored after it."""
    # The headless demo prints and exits: ctrl+c must stay a signal there.
    if command not in TUI_COMMANDS or {"--version", "--headless"} & set(argv):
        yield
        return
    try:
        fd = sys.stdin.fileno()
        if not (os.isatty(fd) and sys.stdout.isatty()):
            yield
            return
    except (AttributeError, OSError, ValueError):  # no usable stdin (closed, replaced)
        yield
        return
    import termios

    try:
        before = termios.tcgetattr(fd)
        raw = termios.tcgetattr(fd)
        # What Textual's Linux driver sets (start_application_mode), no more: it reads
        # these back as "the terminal before" and sets them again.
        isig = 0 if os.environ.get("TEXTUAL_ALLOW_SIGNALS") else termios.ISIG
        raw[3] &= ~(termios.ECHO | termios.ICANON | termios.IEXTEN | isig)
        raw[0] &= ~(termios.IXON | termios.IXOFF | termios.ICRNL | termios.INLCR | termios.IGNCR)
        raw[6][termios.VMIN] = 1
        # TCSANOW: what was typed already stays to be read (TCSAFLUSH would drop it).
        termios.tcsetattr(fd, termios.TCSANOW, raw)
    except termios.error:
        yield
        return
    try:
        yield
    finally:
        with contextlib.suppress(termios.error, OSError):
            termios.tcsetattr(fd, termios.TCSANOW, before)


__all__ = [
    "QUICK_EXIT_COMMANDS",
    "TUI_COMMANDS",
    "finish",
    "raw_early",
    "requested_command",
]
