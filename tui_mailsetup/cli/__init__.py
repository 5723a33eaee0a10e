"""The command line: ``tui-mailsetup [--config PATH] [--system] [--json] COMMAND``.

Each group of commands lives in its own module and exposes
``register(subparsers, common) -> None``; a registered sub-parser sets
``handler`` (a function taking the parsed namespace and returning an exit
code). Nothing here imports Textual: only the TUI command does, lazily.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import NoReturn

from tui_mailsetup import __version__
from tui_mailsetup.exitcodes import ExitCode


class UsageErrorParser(argparse.ArgumentParser):
    """argparse exits 2 on a usage error; sysexits says 64."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(ExitCode.USAGE, f"{self.prog}: error: {message}\n")


def common_options() -> argparse.ArgumentParser:
    """Options accepted both before and after the command name."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--config",
        metavar="PATH",
        default=argparse.SUPPRESS,
        help="configuration file (default: $MAILSETUP_CONFIG, else the user configuration directory)",
    )
    common.add_argument(
        "--system",
        action="store_true",
        default=argparse.SUPPRESS,
        help="use the system-wide configuration file",
    )
    common.add_argument(
        "--override",
        metavar="KEY=VALUE",
        action="append",
        default=argparse.SUPPRESS,
        help="override one setting for this run only (repeatable), e.g. --override smtp.port=2525",
    )
    common.add_argument(
        "--json",
        action="store_true",
        default=argparse.SUPPRESS,
        help="print one JSON document on stdout instead of human text",
    )
    return common


def build_parser() -> argparse.ArgumentParser:
    from tui_mailsetup.cli import config_cmds, demo_cmd, dns_cmds, export_cmd, smtp_cmds, tui_cmd

    common = common_options()
    parser = UsageErrorParser(
        prog="tui-mailsetup",
        description="Get this server's outbound email configured, tested and explained.",
        parents=[common],
        epilog="Run without a command to open the TUI (the first-run wizard when no configuration exists).",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    subparsers = parser.add_subparsers(
        dest="command", metavar="COMMAND", parser_class=UsageErrorParser
    )
    for module in (smtp_cmds, config_cmds, dns_cmds, export_cmd, demo_cmd, tui_cmd):
        module.register(subparsers, common)
    parser.set_defaults(handler=tui_cmd.run_tui)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    for name, default in (("config", None), ("system", False), ("json", False), ("override", [])):
        if not hasattr(args, name):
            setattr(args, name, default)
    try:
        return int(args.handler(args))
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return ExitCode.OK
