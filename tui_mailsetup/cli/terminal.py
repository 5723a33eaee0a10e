"""The terminal leaves cooked mode as soon as the program knows the TUI will run.

Textual switches the terminal to raw mode only once it has been imported and has
started: 0.2-0.4 s after launch. Until then the line discipline owns the keys: an
Enter typed at once arrived as ctrl+j (ICRNL) and was lost, ctrl+u erased what had
been typed before it (ICANON), ctrl+c killed the program (ISIG). :func:`raw_early`
sets, before any heavy import, the same modes Textual sets later (Textual then
keeps them), and puts the terminal back as it found it on every way out. It does
nothing unless standard input and output are both a terminal.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator, Sequence

TUI_COMMANDS = frozenset({"tui", "demo"})


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


__all__ = ["TUI_COMMANDS", "raw_early"]
