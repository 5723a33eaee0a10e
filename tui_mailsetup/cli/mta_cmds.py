"""``mta status|apply|revert|test|queue``: this machine's own mail system.

Cron, PHP's ``mail()`` and monitoring agents hand their mail to the local
``sendmail``; these commands show which program that is and how it relays,
apply this program's settings to it (Postfix or msmtp-mta; diff, backup,
reload), follow a test message through it to the relay's answer, and read
its queue. The work is in :mod:`tui_mailsetup.mta`; this module parses,
prints and maps errors to exit codes.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tui_mailsetup.exitcodes import ExitCode

if TYPE_CHECKING:
    from tui_mailsetup.config_file import LoadedConfig
    from tui_mailsetup.errors import MailSetupError
    from tui_mailsetup.mta.detect import Provider
    from tui_mailsetup.mta.status import Backend

DEFAULT_TEST_TIMEOUT = 60.0


def register(subparsers: Any, common: argparse.ArgumentParser) -> None:
    mta = subparsers.add_parser(
        "mta",
        parents=[common],
        help="this machine's mail system: status, apply, revert, test, queue",
        description=(
            "This machine's own mail system (what provides /usr/sbin/sendmail): what relays "
            "its mail, applying this program's settings to it (Postfix or msmtp-mta), a test "
            "through sendmail followed to delivery, and its queue."
        ),
    )
    actions = mta.add_subparsers(dest="mta_command", metavar="ACTION", required=True)

    def add(name: str, help_text: str, description: str) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = actions.add_parser(
            name, parents=[common], help=help_text, description=description
        )
        parser.add_argument(
            "--mta",
            choices=("postfix", "msmtp", "tui-mailsetup"),
            help="the mail system to use (default: the one that provides sendmail); "
            "tui-mailsetup: this program's own sendmail command and its spool",
        )
        parser.add_argument(
            "--config-dir",
            metavar="DIR",
            help="its configuration directory (default: /etc/postfix for Postfix, /etc for msmtp)",
        )
        return parser

    status = add(
        "status",
        "which MTA provides sendmail, its relay settings, whether they match, its queue",
        "Show which program provides sendmail, its relay settings read with its own tools, "
        "whether they match this program's configuration, the queue size and the oldest "
        "deferred message with its diagnosed reason.",
    )
    status.add_argument("--sendmail", metavar="PATH", help="the sendmail to inspect")
    status.set_defaults(handler=run_status)

    apply = add(
        "apply",
        "write this program's SMTP settings into the MTA (diff, backup, reload)",
        "Apply the [smtp] settings to Postfix (postconf -e, sasl_passwd + postmap, reload) or "
        "to the system msmtprc. The change is shown as a diff and the old files are backed up "
        "(mta revert restores them). Needs root, except with --dry-run.",
    )
    apply.add_argument("--dry-run", action="store_true", help="show the diff; change nothing")
    apply.set_defaults(handler=run_apply)

    revert = add(
        "revert",
        "take back what mta apply changed, keeping changes made since",
        "Take back what mta apply changed: each file it wrote is restored as it was before "
        "the first apply while it is still what apply left; a main.cf edited since gets only "
        "apply's own parameters back (the other edits kept); a sasl_passwd or msmtprc changed "
        "since is shown and left alone (exit 78) unless --force. Reloads Postfix. Needs root.",
    )
    revert.add_argument(
        "--force",
        action="store_true",
        help="restore a sasl_passwd or msmtprc changed since mta apply anyway (losing the change)",
    )
    revert.set_defaults(handler=run_revert)

    test = add(
        "test",
        "send a test through the system sendmail and follow it to delivery",
        "Submit the test message through sendmail and follow it by queue ID (the mail log, "
        "the journal or postqueue) until the relay accepts it, it is deferred (the reason "
        "diagnosed like send-test's) or it bounces. Exit codes as send-test.",
    )
    test.add_argument("--to", metavar="ADDRESS", help="recipient (default: the sender address)")
    test.add_argument(
        "--timeout",
        metavar="S",
        type=float,
        default=DEFAULT_TEST_TIMEOUT,
        help=f"seconds to follow the message (default {DEFAULT_TEST_TIMEOUT:g})",
    )
    test.add_argument("--sendmail", metavar="PATH", help="the sendmail to submit through")
    test.set_defaults(handler=run_test)

    queue = add(
        "queue",
        "deferred and held messages, with age, recipient and diagnosed reason",
        "List the queue: deferred and held messages with their age, recipients and the "
        "diagnosed reason. --retry asks for immediate delivery attempts; --delete removes one.",
    )
    queue.add_argument(
        "--retry",
        action="store_true",
        help="retry every queued message now (tui-mailsetup's spool: exits 65/67 when one was "
        "refused for good and moved to failed/, 65 for a damaged entry, 75 when one still waits)",
    )
    queue.add_argument("--delete", metavar="ID", help="delete the message with this queue ID")
    queue.add_argument("--yes", action="store_true", help="do not ask before deleting")
    queue.set_defaults(handler=run_queue)


# --------------------------------------------------------------------------- helpers


def _error(args: argparse.Namespace, message: str, code: ExitCode) -> int:
    from tui_mailsetup.mta import MtaError

    return _mta_error(args, MtaError(message, code))


def _mta_error(args: argparse.Namespace, exc: MailSetupError) -> int:
    """Through the one error report (cli.output.report_error), with the configuration
    lines a conflict is about under the message."""
    from tui_mailsetup.cli.output import report_error

    code = report_error(exc, as_json=bool(args.json))
    if not args.json:
        for line in getattr(exc, "lines", ()):
            print(f"    {line}", file=sys.stderr)
    return code


def _config_dir(args: argparse.Namespace) -> Path | None:
    return Path(args.config_dir).expanduser().absolute() if args.config_dir else None


def _provider(args: argparse.Namespace) -> Provider:
    from tui_mailsetup.mta.status import provider_for

    sendmail = getattr(args, "sendmail", None)
    return provider_for(args.mta, Path(sendmail) if sendmail else None)


def _backend(args: argparse.Namespace, name: str | None) -> Backend:
    from tui_mailsetup.mta.status import backend_for

    return backend_for(name, _config_dir(args), action=f"mta {args.mta_command}")


def _load(args: argparse.Namespace) -> LoadedConfig | int:
    from tui_mailsetup.cli.config_cmds import load_or_report

    return load_or_report(args)


def _check_trusted(backend: Backend | None, loaded: LoadedConfig | None, action: str) -> None:
    """Trust before action: ``mta apply`` and ``revert`` change the whole machine, so every
    configuration they use (this program's, secret or not, and the MTA's own files and
    backups) must be owned by the caller or root and writable by no one else
    (files.check_trusted). Raises files.UnsafePermissionsError (78)."""
    from tui_mailsetup import files
    from tui_mailsetup.mta import backup
    from tui_mailsetup.mta.postfix import Postfix

    if loaded is not None:
        files.check_trusted(loaded.path, purpose=f"{action} does not use it; nothing was done")
    if backend is None:
        return
    purpose = f"{action} changes nothing"
    targets = backend.written_files() if isinstance(backend, Postfix) else [backend.path]
    for target in [*targets, backup.backup_root(backend.config_dir, backend.name)]:
        files.check_trusted(target, purpose=purpose)


def _quiet_load(args: argparse.Namespace) -> LoadedConfig | None:
    from tui_mailsetup.cli import load_from_args
    from tui_mailsetup.config_file import ConfigError

    try:
        return load_from_args(args)
    except (ValueError, ConfigError):
        return None


# --------------------------------------------------------------------------- status


def run_status(args: argparse.Namespace) -> int:
    from tui_mailsetup.cli.output import print_json
    from tui_mailsetup.mta.status import machine_status, status_lines

    loaded = _quiet_load(args)
    document = machine_status(
        _provider(args), _config_dir(args), loaded.settings if loaded is not None else None
    )
    if args.json:
        print_json(document)
    else:
        for line in status_lines(document):
            print(line)
    return ExitCode.OK


# --------------------------------------------------------------------------- apply / revert


def run_apply(args: argparse.Namespace) -> int:
    if args.mta == "tui-mailsetup":
        from tui_mailsetup.cli.spool_cmds import run_own_apply

        return run_own_apply(args)
    from tui_mailsetup.cli.output import print_json
    from tui_mailsetup.errors import file_error
    from tui_mailsetup.files import UnsafePermissionsError
    from tui_mailsetup.mta import MtaError, require_root
    from tui_mailsetup.mta.status import password_for

    loaded = _load(args)
    if isinstance(loaded, int):
        return loaded
    try:
        provider = _provider(args)
        backend = _backend(args, provider.name)
        _check_trusted(backend, loaded, "mta apply")
        if not args.dry_run:
            require_root("mta apply")
        plan = backend.plan(loaded.settings, password_for(loaded))
        notes = list(plan.notes)
        if loaded.settings.driver.value != "smtp":
            notes.append(
                f"the driver is {loaded.settings.driver.value}: the MTA gets the [smtp] section, "
                "which that driver does not use"
            )
        done: list[str] = []
        if not args.dry_run and plan.changes:
            done = backend.apply(plan)  # type: ignore[arg-type]
    except (MtaError, UnsafePermissionsError) as exc:
        return _mta_error(args, exc)
    except OSError as exc:
        return _mta_error(args, file_error(exc, exc.filename or "the configuration"))
    if args.json:
        print_json(
            {
                "ok": True,
                "mta": backend.name,
                "dry_run": bool(args.dry_run),
                "plan": plan.to_json() | {"notes": notes},
                "done": done,
            }
        )
        return ExitCode.OK
    if not plan.changes:
        print(f"{backend.name}: already configured with these settings; nothing changed")
        return ExitCode.OK
    for line in plan.diff:
        print(line)
    for note in notes:
        print(f"note: {note}")
    if args.dry_run:
        print("dry run: nothing was changed")
    for line in done:
        print(line)
    return ExitCode.OK


def run_revert(args: argparse.Namespace) -> int:
    if args.mta == "tui-mailsetup":
        from tui_mailsetup.cli.spool_cmds import run_own_revert

        return run_own_revert(args)
    from tui_mailsetup.cli.output import print_json
    from tui_mailsetup.errors import file_error
    from tui_mailsetup.files import UnsafePermissionsError
    from tui_mailsetup.mta import MtaError, require_root

    try:
        backend = _backend(args, _provider(args).name)
        _check_trusted(backend, None, "mta revert")
        require_root("mta revert")
        done = backend.revert(force=bool(args.force))
    except (MtaError, UnsafePermissionsError) as exc:
        return _mta_error(args, exc)
    except OSError as exc:
        return _mta_error(
            args, file_error(exc, exc.filename or "the configuration", action="restore")
        )
    if args.json:
        print_json({"ok": True, "mta": backend.name, "done": done})
    else:
        for line in done:
            print(line)
    return ExitCode.OK


# --------------------------------------------------------------------------- test


def run_test(args: argparse.Namespace) -> int:
    from tui_mailsetup.cli.output import print_json
    from tui_mailsetup.engine.events import Outcome
    from tui_mailsetup.files import UnsafePermissionsError
    from tui_mailsetup.mta import MtaError
    from tui_mailsetup.mta.follow import send_and_follow

    if not args.timeout or args.timeout <= 0:
        return _error(args, "--timeout must be a positive number of seconds", ExitCode.USAGE)
    loaded = _load(args)
    if isinstance(loaded, int):
        return loaded
    settings = loaded.settings
    recipient = (args.to or settings.sender.address).strip()

    def progress(text: str) -> None:
        if not args.json:
            print(f"** {text}", flush=True)

    try:
        provider = _provider(args)
        backend = _backend(args, provider.name)
        _check_trusted(None, loaded, "mta test")
        result = send_and_follow(
            backend,
            settings,
            recipient,
            sendmail=Path(args.sendmail) if args.sendmail else None,
            timeout=args.timeout,
            progress=progress,
        )
    except (MtaError, UnsafePermissionsError) as exc:
        return _mta_error(args, exc)
    if args.json:
        print_json(result.to_json())
        return int(result.exit_code)
    if result.ok:
        where = f" (queue ID {result.queue_id})" if result.queue_id else ""
        if result.status == "left-queue":
            print(f"OK{where}: {result.reply}")
        else:
            print(f"OK: delivered to the relay {result.relay}{where}: {result.reply}")
        print(f"    in {result.elapsed:.2f} s")
        return ExitCode.OK
    from tui_mailsetup.cli.output import use_colour
    from tui_mailsetup.cli.smtp_cmds import HumanPrinter

    print(f"** {result.status}" + (f" (queue ID {result.queue_id})" if result.queue_id else ""))
    printer = HumanPrinter(sys.stdout, color=use_colour(sys.stdout))
    printer.event(Outcome(False, result.stage, result.elapsed, result.diagnosis))
    return int(result.exit_code)


# --------------------------------------------------------------------------- queue


def run_queue(args: argparse.Namespace) -> int:
    from tui_mailsetup.cli.spool_cmds import own_sendmail, run_spool_queue

    if own_sendmail(args.mta):
        return run_spool_queue(args)
    from tui_mailsetup.cli.output import print_json
    from tui_mailsetup.mta import MtaError, require_root
    from tui_mailsetup.mta.postfix import Postfix
    from tui_mailsetup.mta.status import entry_json, queue_lines

    loaded = _quiet_load(args)
    try:
        backend = _backend(args, _provider(args).name)
        if not isinstance(backend, Postfix):
            if args.json:
                print_json(
                    {
                        "ok": True,
                        "mta": backend.name,
                        "messages": [],
                        "note": "msmtp keeps no queue",
                    }
                )
            else:
                print("msmtp delivers at once and keeps no queue: nothing to list")
            return ExitCode.OK
        deleted = None
        if args.delete:
            require_root("mta queue --delete")
            if not args.yes and not _confirm(f"Delete message {args.delete} from the queue?"):
                return _error(
                    args, "not deleted (confirm with --yes when not on a terminal)", ExitCode.USAGE
                )
            backend.delete(args.delete)
            deleted = args.delete
        if args.retry:
            backend.flush()
        entries = backend.queue()
    except MtaError as exc:
        return _mta_error(args, exc)
    settings = loaded.settings if loaded is not None else None
    if args.json:
        now = time.time()
        messages = [entry_json(e, settings, now) for e in sorted(entries, key=lambda e: e.arrival)]
        print_json(
            {
                "ok": True,
                "mta": backend.name,
                "messages": messages,
                "retried": bool(args.retry),
                "deleted": deleted,
            }
        )
        return ExitCode.OK
    if deleted:
        print(f"deleted {deleted}")
    if args.retry:
        print("asked Postfix to retry every queued message now (postqueue -f)")
    for line in queue_lines(entries, settings):
        print(line)
    return ExitCode.OK


def _confirm(question: str) -> bool:
    if not sys.stdin.isatty():
        return False
    try:
        answer = input(f"{question} [y/N] ")
    except EOFError:
        return False
    return answer.strip().lower() in ("y", "yes")
