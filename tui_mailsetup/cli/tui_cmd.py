"""Running without a command opens the TUI.

Textual is imported here lazily, inside :func:`run_tui`, so that the headless
commands (send-test, check, show …) never pay for it.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from tui_mailsetup.exitcodes import ExitCode


def register(subparsers: Any, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "tui",
        parents=[common],
        help="open the TUI (the default when no command is given)",
        description="Open the TUI: the first-run wizard when no configuration exists, "
        "else the settings screens.",
    )
    parser.set_defaults(handler=run_tui)


def run_tui(args: argparse.Namespace) -> int:
    from tui_mailsetup.cli import load_from_args
    from tui_mailsetup.config_file import ConfigError

    try:
        # Overridden values show with the source "cli" and are saved only if edited.
        loaded = load_from_args(args)
    except ValueError as exc:
        print(f"tui-mailsetup: error: {exc}", file=sys.stderr)
        return ExitCode.USAGE
    except ConfigError as exc:
        # A file that does not load is reported and never overwritten by the TUI.
        print(str(exc), file=sys.stderr)
        return ExitCode.CONFIG

    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        print(
            "tui-mailsetup: the TUI needs a terminal; without one use a command "
            "(send-test, check, show, set …; see --help)",
            file=sys.stderr,
        )
        return ExitCode.USAGE

    from tui_mailsetup.tui.app import MailSetupApp

    app = MailSetupApp(loaded.path, loaded=loaded)
    result = app.run()
    return int(result or 0)
