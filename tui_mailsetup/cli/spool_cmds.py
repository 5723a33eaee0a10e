"""``mta queue --mta tui-mailsetup``: the spool of ``tui-mailsetup sendmail``, listed with
each message's diagnosed reason, retried (``--retry``: each message once, under a lock),
or one message deleted (``--delete ID``). Used without ``--mta`` too when the machine's
sendmail is this program. The work is in :mod:`tui_mailsetup.spool` and
:mod:`tui_mailsetup.submit`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import time
from pathlib import Path
from typing import Any

from tui_mailsetup.exitcodes import ExitCode

OWN = "tui-mailsetup"


def own_sendmail(mta: str | None, sendmail: Path = Path("/usr/sbin/sendmail")) -> bool:
    """Whether ``mta queue`` means this program's spool: asked for, or the machine's
    sendmail is a link to this program."""
    if mta is not None:
        return mta == OWN
    try:
        return sendmail.is_symlink() and sendmail.resolve().name == OWN
    except OSError:
        return False


def run_spool_queue(args: argparse.Namespace) -> int:
    from tui_mailsetup.cli.output import print_json
    from tui_mailsetup.spool import Spool, SpoolBusy

    spool = Spool()
    deleted = None
    results = []
    if args.delete:
        from tui_mailsetup.cli.mta_cmds import _confirm

        if not args.yes and not _confirm(f"Delete message {args.delete} from the spool?"):
            return _fail(
                args, "not deleted (confirm with --yes when not on a terminal)", ExitCode.USAGE
            )
        if not spool.remove(args.delete):
            return _fail(
                args, f"no message {args.delete} in the spool {spool.root}", ExitCode.DATAERR
            )
        deleted = args.delete
    if args.retry:
        from tui_mailsetup.cli.config_cmds import load_or_report
        from tui_mailsetup.submit import retry

        loaded = load_or_report(args)
        if isinstance(loaded, int):
            return loaded
        try:
            results = retry(loaded, spool)
        except SpoolBusy:
            return _fail(
                args,
                f"another `mta queue --retry` is sending from {spool.root}; nothing was done",
                ExitCode.TEMPFAIL,
            )
    now = time.time()
    queued = spool.entries()
    failed = spool.entries("failed")
    code = retry_exit_code(results)
    if args.json:
        print_json(
            {
                "ok": code == ExitCode.OK,
                "mta": OWN,
                "spool": str(spool.root),
                "messages": [e.to_json(now) for e in queued],
                "failed": [e.to_json(now) for e in failed],
                "retried": [r.to_json() for r in results] if args.retry else None,
                "deleted": deleted,
            }
        )
        return code
    if deleted:
        print(f"deleted {deleted}")
    for result in results:
        reason = f": {result.reason}" if result.reason else ""
        print(f"{result.id}: {result.status}{reason}")
    if not queued and not failed:
        print(f"the spool {spool.root} is empty")
    for entry in queued:
        print(_line(entry, now))
    for entry in failed:
        print(_line(entry, now) + " [refused for good; not retried: mta queue --delete ID]")
    _summary(results)
    return code


def retry_exit_code(results: list[Any]) -> int:
    """What a retry exits with, the worst first: a message refused for good on this retry
    (moved to failed/) exits with the relay's verdict (65 invalid, 67 recipient refused);
    an entry whose envelope cannot be read, its code (65 when damaged, 74 when unreadable);
    one still waiting (deferred, rate limited), 75; everything sent (or nothing queued), 0.
    A cron job (``logger``) or a monitor thus hears of a message it will never get."""
    for status in ("failed", "unreadable"):
        for result in results:
            if result.status == status:
                return int(result.exit_code) or int(ExitCode.DATAERR)
    if any(r.status in ("deferred", "waiting") for r in results):
        return ExitCode.TEMPFAIL
    return ExitCode.OK


def _summary(results: list[Any]) -> None:
    """On stderr, what needs a person: messages refused for good, envelopes unreadable."""
    import sys

    from tui_mailsetup.sanitize import untrusted_text

    for result in results:
        if result.status == "failed":
            line = f"{result.id} was refused for good and moved to failed/: {result.reason}"
        elif result.status == "unreadable":
            line = f"{result.id} was skipped: {result.reason} (fix it or mta queue --delete ID)"
        else:
            continue
        print(untrusted_text(f"mta queue --retry: {line}"), file=sys.stderr)


# --------------------------------------------------------------------------- apply / revert


def _root(args: argparse.Namespace) -> Path:
    return Path(args.config_dir).expanduser().absolute() if args.config_dir else Path("/")


def run_own_apply(args: argparse.Namespace) -> int:
    """``mta apply --mta tui-mailsetup``: this program becomes the machine's sendmail."""
    from tui_mailsetup.cli.output import print_json
    from tui_mailsetup.errors import file_error
    from tui_mailsetup.mta import MtaError, own, require_root

    root = _root(args)
    try:
        program = own.program_path()
        changes = own.plan(root, program)
        done: list[str] = []
        if not args.dry_run:
            require_root("mta apply")
            done = own.apply(root, program)
    except MtaError as exc:
        return _fail(args, str(exc), exc.exit_code)
    except OSError as exc:
        raise file_error(exc, exc.filename or str(root)) from exc
    if args.json:
        print_json(
            {"ok": True, "mta": OWN, "dry_run": bool(args.dry_run), "plan": changes, "done": done}
        )
        return ExitCode.OK
    if not changes:
        print("tui-mailsetup is already this machine's sendmail; nothing changed")
    for line in done if not args.dry_run else changes:
        print(line)
    if args.dry_run and changes:
        print("dry run: nothing was changed")
    return ExitCode.OK


def run_own_revert(args: argparse.Namespace) -> int:
    from tui_mailsetup.cli.output import print_json
    from tui_mailsetup.errors import file_error
    from tui_mailsetup.mta import MtaError, own, require_root

    root = _root(args)
    try:
        require_root("mta revert")
        done = own.revert(root)
    except MtaError as exc:
        return _fail(args, str(exc), exc.exit_code)
    except OSError as exc:
        raise file_error(exc, exc.filename or str(root), action="restore") from exc
    if args.json:
        print_json({"ok": True, "mta": OWN, "done": done})
    else:
        for line in done:
            print(line)
    return ExitCode.OK


def _line(entry: object, now: float) -> str:
    from tui_mailsetup.mta.status import age_text
    from tui_mailsetup.sanitize import untrusted_text
    from tui_mailsetup.spool import Entry

    assert isinstance(entry, Entry)
    envelope = entry.envelope
    line = (
        f"{entry.id}  {age_text(now - envelope.created)}  {envelope.attempts} attempt(s)  "
        f"to {', '.join(envelope.recipients)}: {envelope.reason}"
    )
    if envelope.retry_after and envelope.retry_after > now:
        until = dt.datetime.fromtimestamp(envelope.retry_after, dt.UTC)
        line += f" (rate limited until {until:%Y-%m-%d %H:%M:%S} UTC)"
    return untrusted_text(line)


def _fail(args: argparse.Namespace, message: str, code: ExitCode) -> int:
    from tui_mailsetup.cli.output import report_error
    from tui_mailsetup.errors import MailSetupError

    return report_error(MailSetupError(message, exit_code=code), as_json=bool(args.json))


__all__ = ["OWN", "own_sendmail", "run_own_apply", "run_own_revert", "run_spool_queue"]
