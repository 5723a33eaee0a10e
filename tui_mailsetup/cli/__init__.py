"""The command line: ``tui-mailsetup [--config PATH] [--system] [--json] COMMAND``.

Each group of commands lives in its own module and exposes
``register(subparsers, common) -> None``; a registered sub-parser sets
``handler`` (a function taking the parsed namespace and returning an exit
code). Nothing here imports Textual: only the TUI command does, lazily.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, NoReturn

from tui_mailsetup import __version__
from tui_mailsetup.exitcodes import ExitCode
from tui_mailsetup.startup.program import requested_command

if TYPE_CHECKING:
    from tui_mailsetup.config_file import LoadedConfig


class UsageErrorParser(argparse.ArgumentParser):
    """argparse exits 2 on a usage error; sysexits says 64."""

    epilog_factory: Callable[[], str] | None = None
    """Makes the epilog when the help is printed: a text that costs imports (a list of keys)."""

    def format_help(self) -> str:
        if self.epilog_factory is not None:
            self.epilog = self.epilog_factory()
        return super().format_help()

    json_requested = False
    """--json is on the command line: a usage error is the one JSON document too."""

    def error(self, message: str) -> NoReturn:
        if UsageErrorParser.json_requested:
            from tui_mailsetup.cli.output import print_json
            from tui_mailsetup.errors import UsageError

            print_json(UsageError(f"{self.prog}: {message}").json_document())
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
        help="override one setting for this run only (repeatable), e.g. --override smtp.port=2525; "
        "secrets are refused (use set-secret or MAILSETUP_SMTP__PASSWORD)",
    )
    common.add_argument(
        "--json",
        action="store_true",
        default=argparse.SUPPRESS,
        help="print one JSON document on stdout instead of human text",
    )
    common.add_argument(
        "--quiet",
        "-q",
        action="store_true",
        default=argparse.SUPPRESS,
        help="print nothing on success; on failure only the verdict (stage, cause, fix), on "
        "stderr (for cron); the output a command exists for (get-secret, export to stdout, "
        "oauth2 token, completion) is still printed",
    )
    common.add_argument(
        "--verbose",
        "-v",
        action="store_true",
        default=argparse.SUPPRESS,
        help="also print what is normally left out: each stage as it starts, the server's "
        "capabilities, and a log on stderr (each HTTP request made)",
    )
    return common


# Which module registers each command. Only the module of the command being
# run is imported: provisioning tools call the headless commands in loops, and
# importing every command's dependencies (dnspython, email-validator, Textual
# for the TUI) would cost each call more than the work itself.
COMMAND_MODULES = {
    "send-test": "smtp_cmds",
    "show": "config_cmds",
    "set": "config_cmds",
    "set-secret": "config_cmds",
    "check": "config_cmds",
    "detect": "dns_cmds",
    "dns": "dns_cmds",
    "export": "export_cmd",
    "get-secret": "export_cmd",
    "demo": "demo_cmd",
    "oauth2": "oauth2_cmds",
    "mta": "mta_cmds",
    "sendmail": "sendmail_cmd",
    "tui": "tui_cmd",
    "completion": "completion",
}


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The parser for every command, or, with ``only``, for that command alone."""
    common = common_options()
    parser = UsageErrorParser(
        prog="tui-mailsetup",
        description="Get this server's outbound email configured, tested and explained.",
        parents=[common],
        epilog="Run without a command to open the TUI (the first-run wizard when no configuration "
        "exists). Exit codes (sysexits): 0 ok, 64 usage, 65 invalid value, 67 recipient refused, "
        "69 unavailable, 73 a file cannot be created, 74 a write failed (disk full), 75 temporary, "
        "76 protocol/TLS, 77 authentication, 78 configuration; errors never print a traceback, "
        "and with --json they are one JSON document.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    subparsers = parser.add_subparsers(
        dest="command", metavar="COMMAND", parser_class=UsageErrorParser
    )
    names = [COMMAND_MODULES[only]] if only else list(dict.fromkeys(COMMAND_MODULES.values()))
    for name in names:
        importlib.import_module(f"tui_mailsetup.cli.{name}").register(subparsers, common)
    parser.set_defaults(handler=_run_tui)
    return parser


def load_from_args(args: argparse.Namespace) -> LoadedConfig:
    """The configuration that ``--config``/``--system`` select, with the ``--override`` values.

    Raises ValueError for a malformed ``--override`` (a usage error) and
    config_file.ConfigError when the configuration does not load.
    """
    from tui_mailsetup.config_file import load_config, parse_overrides

    overrides = parse_overrides(args.override)
    return load_config(args.config, system=args.system, overrides=overrides)


def _run_tui(args: argparse.Namespace) -> int:
    from tui_mailsetup.cli import tui_cmd

    return tui_cmd.run_tui(args)


def run() -> NoReturn:
    """The program (the console script, ``python -m tui_mailsetup``): :func:`main`, then the
    ending :func:`tui_mailsetup.startup.program.finish` picks for the command."""
    from tui_mailsetup.startup.program import finish, raw_early

    arguments = program_arguments()
    command = requested_command(arguments, COMMAND_MODULES)
    # Raw mode before the heavy imports when the TUI will run: an Enter typed at once is
    # an Enter (issue 20); the terminal is restored on every way out of main.
    with raw_early(command, arguments):
        code = main()
    finish(command, code)


def program_arguments() -> list[str]:
    """The process's command line as the parser reads it. Installed as the machine's
    sendmail (a symlink), its options are the sendmail command's: seen by raw_early too,
    so that ``sendmail -t`` typed at a terminal is never put in raw mode."""
    arguments = sys.argv[1:]
    if os.path.basename(sys.argv[0]) == "sendmail":
        return ["sendmail", *arguments]
    return list(arguments)


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command. Every error is mapped to a message and an exit code here, once:
    a MailSetupError carries its own (errors.py); an OSError that escaped becomes 73 or
    74 naming the path; anything else is reported as an internal error (70), never as a
    traceback."""
    _tolerant_streams()
    arguments = program_arguments() if argv is None else list(argv)
    parser = build_parser(requested_command(arguments, COMMAND_MODULES))
    UsageErrorParser.json_requested = "--json" in arguments[: _end_of_options(arguments)]
    args = parser.parse_args(arguments)
    for name, default in (
        ("config", None),
        ("system", False),
        ("json", False),
        ("override", []),
        ("quiet", False),
        ("verbose", False),
    ):
        if not hasattr(args, name):
            setattr(args, name, default)
    if args.quiet and args.verbose:
        parser.error("--quiet and --verbose cannot be used together")
    if args.verbose:
        _verbose_logging()
    if args.json and _opens_screen(args):
        # One document for every command; a screen has none to print.
        from tui_mailsetup.errors import UsageError

        what = "the TUI" if args.command in {None, "tui"} else "demo without --headless"
        return _report(UsageError(f"--json: {what} opens a screen and prints no document"), args)
    if args.quiet and not args.json and not _opens_screen(args):
        from tui_mailsetup.cli.output import quietly

        with quietly(keep_stdout=args.command in DATA_COMMANDS) as captured:
            code = _dispatch(args)
            captured.failed = code != ExitCode.OK
        return code
    return _dispatch(args)


def _verbose_logging() -> None:
    """--verbose: log records on stderr, neutralised like everything printed. The libraries
    at INFO (httpx's one line per request), not DEBUG: their debug output can carry response
    headers and token endpoint details, and secrets never appear in a log."""
    import logging

    from tui_mailsetup.sanitize import untrusted_text

    class _Neutral(logging.Formatter):
        def format(self, record: logging.LogRecord) -> str:
            return untrusted_text(super().format(record))

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_Neutral("log: %(name)s: %(message)s"))
    logging.basicConfig(level=logging.INFO, handlers=[handler])
    logging.getLogger("tui_mailsetup").setLevel(logging.DEBUG)


# Commands whose standard output is the product (a secret, a token, a file's text, a
# script): --quiet keeps it and silences only the rest.
DATA_COMMANDS = frozenset({"get-secret", "export", "oauth2", "completion"})


def _end_of_options(arguments: list[str]) -> int:
    return arguments.index("--") if "--" in arguments else len(arguments)


def _opens_screen(args: argparse.Namespace) -> bool:
    """The TUI, and the demo that opens it: --quiet leaves them alone, --json is refused."""
    if args.command in {None, "tui"}:
        return True
    return args.command == "demo" and not getattr(args, "headless", False)


def _dispatch(args: argparse.Namespace) -> int:
    from tui_mailsetup.errors import MailSetupError, file_error

    try:
        return int(args.handler(args))
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return ExitCode.OK
    except MailSetupError as exc:
        return _report(exc, args)
    except OSError as exc:
        return _report(file_error(exc, exc.filename or "a file", "use"), args)
    except Exception as exc:  # the last resort: a bug, reported without a traceback
        return _report(
            MailSetupError(
                f"internal error ({type(exc).__name__}): {exc}. This is a bug in "
                "tui-mailsetup; nothing was changed unless the output above says so"
            ),
            args,
        )


def _report(exc: Exception, args: argparse.Namespace) -> int:
    from tui_mailsetup.cli.output import report_error
    from tui_mailsetup.errors import MailSetupError

    assert isinstance(exc, MailSetupError)
    try:
        return report_error(exc, as_json=bool(getattr(args, "json", False)))
    except Exception:  # even printing failed (a closed stream): the exit code still says it
        return int(exc.exit_code)


def _tolerant_streams() -> None:
    # A value that cannot be encoded (bytes that were not UTF-8, a C locale) is printed
    # escaped rather than failing the command.
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            with contextlib.suppress(ValueError, OSError, TypeError):
                reconfigure(errors="backslashreplace")
