"""``detect`` (host, port and encryption from an address) and ``dns`` (the sender domain's records)."""

from __future__ import annotations

import argparse
import ipaddress
import sys
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from tui_mailsetup.cli.config_cmds import load_trusted_or_report
from tui_mailsetup.cli.output import paint, print_json, with_verdict
from tui_mailsetup.errors import DataError, UsageError
from tui_mailsetup.exitcodes import ExitCode
from tui_mailsetup.names import host_to_ascii
from tui_mailsetup.sanitize import untrusted_text

# dnspython, the engine, asyncio and the settings model are imported by the command that
# runs: `--help` and argument errors must not pay for them (tests/functional/test_import_hygiene.py).
if TYPE_CHECKING:
    from tui_mailsetup.engine.detect import Detection
    from tui_mailsetup.engine.dns import DomainReport
    from tui_mailsetup.settings import MailSettings

_NOT_LOOKED_UP = (
    "nothing was looked up with it: its dns.nameservers, which another user could have "
    "set, would decide the verdict"
)


def register(subparsers: Any, common: argparse.ArgumentParser) -> None:
    detect_parser = subparsers.add_parser(
        "detect",
        parents=[common],
        help="autodetect host, port and encryption from an email address or domain",
        description="Find the submission server for an address or domain, as Thunderbird does: "
        "known providers, the domain's autoconfig file, Thunderbird's ISPDB (the domain is sent "
        "to it unless detect.ispdb = false), SRV records (RFC 6186/8314), the provider its MX "
        "records reveal, then guesses; every candidate is probed (greeting, EHLO, TLS; never "
        "AUTH) and only verified ones are recommended or saved. Uses dns.nameservers when set. "
        "Exits 76 when a candidate answered and failed its probe and none worked, 69 when "
        "nothing is found or nothing answered, 75 when DNS did not answer.",
    )
    detect_parser.add_argument("address", metavar="ADDRESS_OR_DOMAIN")
    detect_parser.add_argument(
        "--save",
        action="store_true",
        help="write the best verified candidate into the configuration (with the username in "
        "the provider's form and the address as sender.address); nothing when none worked",
    )
    detect_parser.add_argument(
        "--no-ispdb",
        action="store_true",
        help="do not send the domain to Thunderbird's ISPDB (detect.ispdb = false)",
    )
    detect_parser.add_argument(
        "--no-probe",
        action="store_true",
        help="do not connect to the candidates to verify them (detect.probe = false)",
    )
    detect_parser.set_defaults(handler=run_detect)

    dns_parser = subparsers.add_parser(
        "dns",
        parents=[common],
        help="check the sender domain's MX, SPF, DKIM, DMARC, MTA-STS and TLS-RPT records",
        description="Check what receivers look up before they trust mail from the sender's domain. "
        "`dns spf DOMAIN --ip ADDRESS` evaluates SPF (RFC 7208 check_host) for one address. "
        "Exit 65 when a record is in error, else 75 when a check could not be completed "
        "(a failed lookup is never a missing record), else 0. `dns spf` exits 0 with any "
        "result but permerror (65) and temperror (75).",
        usage="%(prog)s [DOMAIN] [--dkim-selector S]...\n"
        "       %(prog)s spf DOMAIN --ip ADDRESS [--helo NAME] [--sender ADDRESS]",
    )
    dns_parser.add_argument(
        "target",
        nargs="*",
        metavar="DOMAIN",
        help="domain to check (default: the sender address's); or: spf DOMAIN",
    )
    dns_parser.add_argument(
        "--dkim-selector",
        action="append",
        default=[],
        metavar="SELECTOR",
        help="DKIM selector to look for (repeatable)",
    )
    dns_parser.add_argument("--ip", metavar="ADDRESS", help="dns spf: the client IP address")
    dns_parser.add_argument("--helo", metavar="NAME", default="", help="dns spf: the HELO name")
    dns_parser.add_argument(
        "--sender", metavar="ADDRESS", default="", help="dns spf: the MAIL FROM address"
    )
    dns_parser.set_defaults(handler=run_dns)


def run_detect(args: argparse.Namespace) -> int:

    from tui_mailsetup.config_file import write_values
    from tui_mailsetup.engine.detect import DetectOptions, detect
    from tui_mailsetup.engine.dns_client import make_resolver
    from tui_mailsetup.paths import resolve_config_path

    loaded = load_trusted_or_report(
        args,
        purpose="nothing was probed or looked up with it (its dns.nameservers could answer "
        "for anyone) and nothing was saved to it",
    )
    if isinstance(loaded, int):
        return loaded
    settings = loaded.settings
    options = DetectOptions.from_settings(settings)
    if args.no_ispdb:
        options = replace(options, ispdb=False)
    if args.no_probe:
        options = replace(options, probe=False)
    try:
        from tui_mailsetup.cli.progress import run_with_progress

        detection = run_with_progress(
            args,
            f"detect {args.address}",
            detect(
                args.address,
                resolver=make_resolver(settings.dns.nameservers, lifetime=settings.dns.timeout),
                options=options,
            ),
        )
    except ValueError as exc:
        raise DataError(f"{args.address!r} is not an address or a domain: {exc}") from None
    best = detection.best
    saved: dict[str, Any] = {}
    # Only what worked is saved: a detection without a usable candidate writes nothing.
    # Saved before anything is printed: --json stays one document, failure or not
    # (write_values' ConfigError, 78, goes to main's one error report).
    if best is not None and args.save:
        saved = _detected_values(detection)
        write_values(resolve_config_path(args.config, system=args.system), saved)
    code = detection.exit_code
    if args.json:
        document = detection.to_json()
        document["saved"] = saved or None
        print_json(with_verdict(document, code, stage="detect"))
    else:
        _print_detection(detection)
        if saved:
            print("saved: " + ", ".join(f"{key} = {value}" for key, value in saved.items()))
        elif args.save:
            print(
                paint("Nothing saved: no candidate worked.", "red", stream=sys.stderr),
                file=sys.stderr,
            )
    return code


def _detected_values(detection: Detection) -> dict[str, Any]:
    """What --save writes: the server, the login in the provider's form and the sender
    address, when the detection knows them."""
    from tui_mailsetup.presets import server_settings

    best = detection.best
    assert best is not None
    values = server_settings(best.host, best.port, best.encryption, best.username)
    address = detection.query.strip()
    if "@" in address:
        values["sender.address"] = address
    return values


_VERDICT = {  # keyed by the engine.probe.Verdict values (a StrEnum finds itself by its value)
    "verified": ("verified", "green"),
    "unverified": ("unverified", "yellow"),
    "failed": ("failed", "red"),
    "not-probed": ("not probed", "dim"),
}


def _print_detection(detection: Detection) -> None:
    from tui_mailsetup.engine.probe import Verdict

    best = detection.best
    if detection.candidates:
        print(f"Submission servers for {detection.domain}:")
    for candidate in detection.candidates:
        marker = paint("→", "green") if candidate is best else " "
        label, colour = _VERDICT[candidate.probe.verdict]
        print(
            f"{marker} {candidate.host}:{candidate.port} {candidate.encryption.value:<8} "
            f"{paint(f'{label:<10}', colour)} {paint(candidate.source, 'dim')}"
        )
        if candidate.probe.verdict is not Verdict.NOT_PROBED:
            print(f"      {paint(candidate.probe.detail, 'dim')}")
        if candidate is best:
            if candidate.username:
                print(f"      username: {candidate.username}")
            elif candidate.username_hint:
                print(f"      username: {candidate.username_hint}")
            if candidate.notes:
                print(f"      {candidate.notes}")
    if detection.failed:
        print(paint("Failed (never recommended):", "red"))
    for candidate in detection.failed:
        label, colour = _VERDICT[candidate.probe.verdict]
        print(
            f"  {candidate.host}:{candidate.port} {candidate.encryption.value:<8} "
            f"{paint(f'{label:<10}', colour)} {paint(candidate.source, 'dim')}"
        )
        print(f"      {paint(candidate.probe.detail, 'dim')}")
    if detection.rejected and best is None:
        tried = ", ".join(f"{c.host}:{c.port} ({c.probe.detail})" for c in detection.rejected)
        print(paint(f"Guesses tried and not verified: {tried}", "dim"))
    for problem in detection.problems:
        print(paint(f"problem: {problem}", "yellow"))
    if detection.ispdb_sent:
        print(
            paint(
                f"Asked Thunderbird's ISPDB ({detection.ispdb_url}) about "
                f"{', '.join(detection.ispdb_sent)}; set detect.ispdb = false (or --no-ispdb) "
                "to keep domains to yourself.",
                "dim",
            )
        )
    if best is None:
        # The verdict of a failure goes to stderr, as send-test's: `detect … >/dev/null` shows it.
        print(paint(detection.cause() + ".", "red", stream=sys.stderr), file=sys.stderr)
        print(f"fix: {detection.fix()}.", file=sys.stderr)
    elif not best.verified:
        print(paint("Not verified (probes off): confirm with check.", "yellow"))


_MARK = {
    "ok": ("ok", "green"),
    "warning": ("warn", "yellow"),
    "error": ("FAIL", "red"),
    "unknown": ("????", "yellow"),
}


def _domain_argument(value: str) -> str:
    try:
        return host_to_ascii(value.strip().rstrip("."))
    except ValueError as exc:
        raise DataError(f"{value!r} is not a domain: {exc}") from None


def run_dns(args: argparse.Namespace) -> int:

    from tui_mailsetup.engine.dns import check_sender_domain, sender_domain

    targets: list[str] = list(args.target)
    if targets and targets[0].lower() == "spf":
        return run_dns_spf(args, targets[1:])
    if len(targets) > 1:
        raise UsageError(f"one domain at a time (got {' '.join(targets)})")
    if args.ip or args.helo or args.sender:
        raise UsageError("--ip, --helo and --sender belong to `dns spf DOMAIN --ip ADDRESS`")
    loaded = load_trusted_or_report(args, purpose=_NOT_LOOKED_UP)
    if isinstance(loaded, int):
        return loaded
    domain: str | int = targets[0] if targets else sender_domain(loaded.settings)
    if not domain:
        raise UsageError("no domain given and no sender.address configured")
    domain = _domain_argument(str(domain))
    from tui_mailsetup.cli.progress import run_with_progress

    report = run_with_progress(
        args,
        f"dns {domain}",
        check_sender_domain(loaded.settings, tuple(args.dkim_selector), domain=domain),
    )
    if args.json:
        failing = next((c for c in report.checks if not c.ok), None)
        print_json(
            with_verdict(
                report.to_json(),
                int(report.exit_code),
                stage="dns",
                cause=(
                    "a DNS record is in error"
                    if report.has_errors
                    else "a check could not be completed (a lookup failed)"
                )
                + (f": {failing.name}: {failing.message}" if failing else ""),
                fix=failing.advice if failing else None,
            )
        )
    else:
        print_report(report)
    return int(report.exit_code)


def print_report(report: DomainReport) -> None:
    """The human report: one line per check, its records dimmed, the fix when not ok."""
    print(f"DNS for {report.domain}:")
    for check in report.checks:
        label, colour = _MARK[check.status]
        print(f"  {paint(f'{label:<4}', colour)} {check.name:<8} {check.message}")
        for record in check.records:
            print(f"           {paint(record, 'dim')}")
        if check.advice and not check.ok:
            print(f"           fix: {check.advice}")
    # The verdict of a failure goes to stderr, as send-test's: `dns … >/dev/null` shows it.
    if report.has_errors:
        verdict = "A record is in error: receivers are likely to reject or junk mail."
        print(paint(verdict, "red", stream=sys.stderr), file=sys.stderr)
    elif report.incomplete:
        verdict = "Some checks could not be completed (lookups failed): see unknown."
        print(paint(verdict, "yellow", stream=sys.stderr), file=sys.stderr)


def run_dns_spf(args: argparse.Namespace, rest: list[str]) -> int:
    """`dns spf DOMAIN --ip ADDRESS [--helo NAME] [--sender ADDRESS]`: RFC 7208 check_host()."""
    import asyncio

    from tui_mailsetup.engine.dns import spf_lookup
    from tui_mailsetup.engine.dns_client import DnsClient
    from tui_mailsetup.engine.spf import check_host

    if len(rest) != 1 or not args.ip:
        raise UsageError(
            "usage: tui-mailsetup dns spf DOMAIN --ip ADDRESS [--helo NAME] [--sender ADDRESS]"
        )
    domain = _domain_argument(rest[0])
    try:
        ipaddress.ip_address(args.ip)
    except ValueError:
        raise DataError(f"--ip {args.ip!r} is not an IPv4 or IPv6 address") from None
    sender = args.sender.strip()
    if sender and ("@" not in sender or any(c.isspace() for c in sender)):
        raise DataError(f"--sender {sender!r} is not an address")
    loaded = load_trusted_or_report(args, purpose=_NOT_LOOKED_UP)
    if isinstance(loaded, int):
        return loaded
    settings = loaded.settings
    client = DnsClient.from_settings(settings.dns)
    result = asyncio.run(
        check_host(
            args.ip, domain, lookup=spf_lookup(client), sender=sender, helo=args.helo.strip()
        )
    )
    document = result.to_json()
    document["ip"] = args.ip
    document = {k: untrusted_text(v) if isinstance(v, str) else v for k, v in document.items()}
    code = int(
        {"permerror": ExitCode.DATAERR, "temperror": ExitCode.TEMPFAIL}.get(
            result.result, ExitCode.OK
        )
    )
    if args.json:
        cause = f"SPF {result.result}: {document['explanation']}"
        print_json(with_verdict(document, code, stage="spf", cause=cause))
    else:
        colour = {"pass": "green", "fail": "red", "permerror": "red", "softfail": "yellow"}
        print(
            f"SPF {paint(result.result, colour.get(result.result, 'yellow'))} for {args.ip} at {domain}"
        )
        print(f"  why:     {document['explanation']}")
        if result.record:
            print(f"  record:  {document['record']}")
        print(f"  lookups: {result.lookups} DNS-querying terms, {result.void_lookups} void")
    return code


# --------------------------------------------------------------------------- check's DNS section


@dataclass
class DnsSection:
    """The sender-domain checks as `check` runs them (after the SMTP ladder)."""

    report: DomainReport | None
    """None when skipped (--no-dns, or no sender domain)."""
    skipped: str = ""
    strict: bool = False

    def to_json(self) -> dict[str, Any] | None:
        if self.report is None:
            return {"skipped": self.skipped} if self.skipped else None
        return self.report.to_json()

    def exit_code(self, ladder: int) -> int:
        """The ladder's code, unless --strict and a record is in error (then 65)."""
        if ladder == ExitCode.OK and self.strict and self.report and self.report.has_errors:
            return int(ExitCode.DATAERR)
        return ladder


def check_dns_section(args: argparse.Namespace, settings: MailSettings) -> DnsSection:
    """Run (or skip) the DNS checks for `check`; prints the human report unless --json."""
    import asyncio

    from tui_mailsetup.engine.dns import check_sender_domain, sender_domain

    strict = bool(getattr(args, "strict", False))
    if getattr(args, "no_dns", False):
        return DnsSection(None, "--no-dns", strict)
    domain = sender_domain(settings)
    try:
        domain = host_to_ascii(domain) if domain else ""
    except ValueError:
        domain = ""
    if not domain:
        if not args.json:
            print(paint("DNS: no sender domain to check (set sender.address)", "dim"))
        return DnsSection(None, "no sender domain", strict)
    report = asyncio.run(check_sender_domain(settings, domain=domain))
    if not args.json:
        print_report(report)
    return DnsSection(report, "", strict)


def add_check_options(parser: argparse.ArgumentParser) -> None:
    """`check`'s options for the DNS section."""
    parser.add_argument("--no-dns", action="store_true", help="skip the sender domain's DNS checks")
    parser.add_argument(
        "--strict",
        action="store_true",
        help="a DNS record in error fails the check (exit 65)",
    )
