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
    from tui_mailsetup.startup.peek import peek_config

    interactive = sys.stdin.isatty() and sys.stdout.isatty()
    loaded: Any = None
    # The TUI loads the configuration itself, right after its first frame (issue 15); it is
    # loaded here first when that frame cannot come from a plain read of the file (overrides,
    # no terminal, a file that cannot be read or is not TOML), so errors read as before.
    if args.override or not interactive or peek_config(args.config, system=args.system) is None:
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

    if not interactive:
        print(
            "tui-mailsetup: the TUI needs a terminal; without one use a command "
            "(send-test, check, show, set …; see --help)",
            file=sys.stderr,
        )
        return ExitCode.USAGE

    from tui_mailsetup.tui.app import MailSetupApp

    app = MailSetupApp(args.config, system=args.system, loaded=loaded)
    result = app.run()
    if app.load_error is not None:
        # A value that does not validate: the same message and exit code as above.
        print(str(app.load_error), file=sys.stderr)
        return ExitCode.CONFIG
    return int(result or 0)
