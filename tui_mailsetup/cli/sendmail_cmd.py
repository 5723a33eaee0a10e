"""``tui-mailsetup sendmail [-t] [-i|-oi] [-f ADDRESS] [-F NAME] [RECIPIENT…]``.

A sendmail-compatible entry for the machine's programs (PHP's ``mail()``, cron,
monitoring agents): the message on standard input, sent through the configured driver
(SMTP with any authentication including XOAUTH2, SES, Mailgun, Graph) by the one
runner. The work is in :mod:`tui_mailsetup.submit`; this module parses sendmail's
options and maps the outcome to sendmail's exit codes:

* sent: 0, nothing printed;
* kept in the spool after a failure that is not the message's fault (including no
  configuration, or no sender.address to stand in for cron's local ``root``): 0, one line on
  standard error naming the entry and the reason (``mta queue`` lists it, ``mta queue
  --retry`` sends it);
* refused for good (an invalid address 65, a refused recipient 67, usage 64): that
  code, the diagnosis on standard error; nothing is kept, no bounce is sent;
* not sent and not spooled (the spool cannot be written): 75.

Installed as the machine's sendmail by a symlink (``ln -s $(command -v tui-mailsetup)
/usr/sbin/sendmail``, or ``update-alternatives``): called as ``sendmail`` the program
runs this command. Options that only steer a real MTA's delivery (``-odi``, ``-oem``,
``-B``, ``-N``, ``-R``, ``-V``, ``-bm``, ``-v``) are accepted and ignored.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from tui_mailsetup.exitcodes import ExitCode

MAX_MESSAGE = 64 * 1024 * 1024
"""Bytes read from standard input at most (Exchange Online's own limit is 35-150 MB)."""


def register(subparsers: Any, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "sendmail",
        parents=[common],
        help="sendmail-compatible: send the message on standard input through the configured "
        "driver, spooling it on a temporary failure",
        description=(
            "Read a message on standard input and send it through the configured driver, as "
            "/usr/sbin/sendmail would. A failure that is not the message's own fault (relay "
            "unreachable, timeout, rate limit, credentials, configuration) keeps it in the "
            "spool and exits 0; `mta queue` lists it, `mta queue --retry` sends it. Invalid "
            "addresses (65) and refused recipients (67) exit with their code, and no bounce "
            "is sent. A local user without a domain (cron's root), as recipient or as -f, "
            "is sender.address; without sender.address the message is kept (78)."
        ),
    )
    parser.add_argument("-t", dest="extract", action="store_true", help="read To, Cc, Bcc")
    parser.add_argument(
        "-i", dest="ignore_dots", action="store_true", help="a lone '.' line does not end input"
    )
    parser.add_argument(
        "-o",
        dest="options",
        metavar="OPTION",
        action="append",
        default=[],
        help="-oi is -i; other -o options are accepted and ignored",
    )
    parser.add_argument("-f", "-r", dest="sender", metavar="ADDRESS", help="envelope sender")
    parser.add_argument("-F", dest="full_name", metavar="NAME", help="sender's full name")
    parser.add_argument("-b", dest="mode", metavar="MODE", help="only -bm (the default)")
    for flag in ("-B", "-N", "-R", "-V", "-L"):
        parser.add_argument(
            flag, dest="ignored", metavar="VALUE", action="append", help=argparse.SUPPRESS
        )
    # -v (print the transcript, on stderr) is the global --verbose/-v.
    parser.add_argument("recipients", nargs="*", metavar="RECIPIENT")
    parser.set_defaults(handler=run_sendmail)


def _read_stdin() -> bytes:
    data = sys.stdin.buffer.read(MAX_MESSAGE + 1)
    if len(data) > MAX_MESSAGE:
        from tui_mailsetup.errors import DataError

        raise DataError(f"the message is larger than {MAX_MESSAGE // (1024 * 1024)} MB")
    return data


def run_sendmail(args: argparse.Namespace) -> int:
    from tui_mailsetup.errors import MailSetupError, UsageError
    from tui_mailsetup.spool import Spool
    from tui_mailsetup.submit import deliver, envelope_for, kept, prepare

    if args.mode not in (None, "m"):
        raise UsageError(
            f"-b{args.mode} is not supported: this sendmail only submits messages (-bm); "
            "the queue is `tui-mailsetup mta queue`"
        )
    ignore_dots = args.ignore_dots or "i" in args.options
    raw = _read_stdin()
    loaded, problem = _load(args)
    from tui_mailsetup.settings import MailSettings

    settings = loaded.settings if loaded is not None else MailSettings()
    submission = prepare(
        raw,
        settings,
        recipients=list(args.recipients),
        extract=args.extract,
        sender=args.sender or "",
        sender_name=args.full_name or "",
        ignore_dots=ignore_dots,
    )
    outcome = None
    verbose = bool(getattr(args, "verbose", False))
    printer = _printer() if verbose else None
    for note in submission.notes:
        if verbose:
            print(f"note: {note}", file=sys.stderr)
    if loaded is not None and not submission.problem:
        outcome = deliver(loaded, submission, printer.event if printer else None)
        if outcome.ok:
            return _done(args, outcome, ExitCode.OK)
        if not kept(outcome):
            _report(outcome)
            return _done(args, outcome, outcome.exit_code)
    # Nothing sent: the configuration (78) is what an administrator fixes; the message waits.
    reason = (problem or submission.problem) if outcome is None else ""
    try:
        entry_id = Spool().add(submission.message, envelope_for(submission, outcome, reason))
    except MailSetupError as exc:
        if outcome is not None:
            _report(outcome)
        message = f"the message could not be kept in the spool either: {exc}"
        print(f"sendmail: {message}", file=sys.stderr)
        return _done(args, outcome, ExitCode.TEMPFAIL, cause=message)
    cause = reason or (outcome.diagnosis.cause if outcome and outcome.diagnosis else "not sent")
    print(
        f"sendmail: not sent yet ({cause}); kept in the spool as {entry_id}: "
        "`tui-mailsetup mta queue` lists it, `tui-mailsetup mta queue --retry` sends it",
        file=sys.stderr,
    )
    return _done(args, outcome, ExitCode.OK, spooled=entry_id, cause=cause)


def _done(
    args: argparse.Namespace,
    outcome: Any,
    code: int,
    *,
    spooled: str | None = None,
    cause: str = "",
) -> int:
    """With --json, the one document (schemas/sendmail.json): the send's verdict, and the
    spool entry when the message was kept instead."""
    if getattr(args, "json", False):
        from tui_mailsetup.cli.output import print_json, with_verdict

        document: dict[str, Any] = outcome.to_json() if outcome is not None else {}
        document["spooled"] = spooled
        if spooled is not None:
            document["reason"] = cause
        print_json(with_verdict(document, code, stage="sendmail", cause=cause))
    return int(code)


def _load(args: argparse.Namespace) -> tuple[Any, str]:
    """The configuration, or None and why not (the message is then kept, not lost)."""
    from tui_mailsetup.cli import load_from_args
    from tui_mailsetup.errors import MailSetupError

    try:
        return load_from_args(args), ""
    except (MailSetupError, ValueError) as exc:
        from tui_mailsetup.sanitize import untrusted_text

        return None, f"the configuration could not be loaded: {untrusted_text(str(exc))}"


def _printer() -> Any:
    from tui_mailsetup.cli.output import use_colour
    from tui_mailsetup.cli.smtp_cmds import HumanPrinter

    return HumanPrinter(sys.stderr, color=use_colour(sys.stderr))


def _report(outcome: Any) -> None:
    """The verdict on standard error (standard output may be a program's pipe)."""
    _printer().event(outcome)
