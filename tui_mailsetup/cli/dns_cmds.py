"""``detect`` (host, port and encryption from an address) and ``dns`` (the sender domain's records)."""

from __future__ import annotations

import argparse
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from tui_mailsetup.cli.config_cmds import load_or_report
from tui_mailsetup.cli.output import error, paint, print_json
from tui_mailsetup.exitcodes import ExitCode
from tui_mailsetup.findings import Severity
from tui_mailsetup.names import host_to_ascii

# dnspython, the engine and the settings model are imported by the command that
# runs: `--help` and argument errors must not pay for them (tests/test_import_hygiene.py).
if TYPE_CHECKING:
    from tui_mailsetup.engine.detect import Detection


def register(subparsers: Any, common: argparse.ArgumentParser) -> None:
    detect_parser = subparsers.add_parser(
        "detect",
        parents=[common],
        help="autodetect host, port and encryption from an email address or domain",
        description="Find the submission server for an address or domain, as Thunderbird does: "
        "known providers, the domain's autoconfig file, Thunderbird's ISPDB (the domain is sent "
        "to it unless detect.ispdb = false), SRV records (RFC 6186/8314), the provider its MX "
        "records reveal, then guesses; every candidate is probed (greeting, EHLO, TLS; never "
        "AUTH) and verified ones win. Uses dns.nameservers when set. Exits 69 when nothing is "
        "found, 75 when DNS did not answer.",
    )
    detect_parser.add_argument("address", metavar="ADDRESS_OR_DOMAIN")
    detect_parser.add_argument(
        "--save", action="store_true", help="write the best candidate into the configuration"
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
        help="check the sender domain's MX, SPF, DKIM, DMARC and MTA-STS records",
        description="Check what receivers look up before they trust mail from the sender's domain.",
    )
    dns_parser.add_argument(
        "domain", nargs="?", help="domain to check (default: the sender address's)"
    )
    dns_parser.add_argument(
        "--dkim-selector",
        action="append",
        default=[],
        metavar="SELECTOR",
        help="DKIM selector to look for (repeatable)",
    )
    dns_parser.set_defaults(handler=run_dns)


def run_detect(args: argparse.Namespace) -> int:
    import asyncio

    from tui_mailsetup.config_file import ConfigError, write_values
    from tui_mailsetup.engine.detect import DetectOptions, detect
    from tui_mailsetup.engine.dns import make_resolver
    from tui_mailsetup.paths import resolve_config_path

    loaded = load_or_report(args)
    if isinstance(loaded, int):
        return loaded
    settings = loaded.settings
    options = DetectOptions.from_settings(settings)
    if args.no_ispdb:
        options = replace(options, ispdb=False)
    if args.no_probe:
        options = replace(options, probe=False)
    try:
        detection = asyncio.run(
            detect(
                args.address,
                resolver=make_resolver(settings.dns.nameservers),
                options=options,
            )
        )
    except ValueError as exc:
        if args.json:
            print_json(
                {
                    "ok": False,
                    "stage": "detect",
                    "elapsed": 0.0,
                    "diagnosis": {"cause": f"{args.address!r}: {exc}", "fix": None},
                }
            )
        else:
            error(f"{args.address!r} is not an address or a domain: {exc}")
        return ExitCode.DATAERR
    best = detection.best
    if args.json:
        print_json(detection.to_json())
    else:
        _print_detection(detection)
    if best is None:
        return detection.exit_code
    if args.save:
        values: dict[str, Any] = {
            "smtp.host": best.host,
            "smtp.port": best.port,
            "smtp.encryption": best.encryption.value,
        }
        if best.username:
            values["smtp.username"] = best.username
        try:
            write_values(resolve_config_path(args.config, system=args.system), values)
        except ConfigError as exc:
            error(f"the configuration does not load; nothing was changed:\n{exc}")
            return exc.exit_code
        if not args.json:
            print("saved: " + ", ".join(f"{key} {value}" for key, value in values.items()))
    return ExitCode.OK


_VERDICT = {  # keyed by the engine.probe.Verdict values (a StrEnum finds itself by its value)
    "verified": ("verified", "green"),
    "unverified": ("unverified", "yellow"),
    "failed": ("failed", "red"),
    "not-probed": ("not probed", "dim"),
}


def _print_detection(detection: Detection) -> None:
    from tui_mailsetup.engine.probe import Verdict

    best = detection.best
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
        print(paint(detection.cause() + ".", "red"))
    elif not best.verified and detection.probed:
        print(
            paint(
                "The best candidate could not be verified from here: confirm with check.", "yellow"
            )
        )


_MARK = {
    Severity.INFO: ("ok", "green"),
    Severity.WARNING: ("warn", "yellow"),
    Severity.ERROR: ("FAIL", "red"),
}


def run_dns(args: argparse.Namespace) -> int:
    import asyncio

    from tui_mailsetup.engine.dns import check_domain, make_resolver, sender_domain
    from tui_mailsetup.presets import match_preset

    loaded = load_or_report(args)
    if isinstance(loaded, int):
        return loaded
    domain = args.domain or sender_domain(loaded.settings)
    if not domain:
        error("no domain given and no sender.address configured")
        return ExitCode.USAGE
    try:
        domain = host_to_ascii(domain)
    except ValueError as exc:
        error(f"{domain!r} {exc}")
        return ExitCode.DATAERR
    selectors = tuple(args.dkim_selector) or None
    resolver = make_resolver(loaded.settings.dns.nameservers)
    report = asyncio.run(
        check_domain(
            domain,
            resolver=resolver,
            relay=match_preset(loaded.settings.smtp.host),
            **({"dkim_selectors": selectors} if selectors else {}),
        )
    )
    if args.json:
        print_json(report.to_json())
    else:
        print(f"DNS for {domain}:")
        for check in report.checks:
            label, colour = _MARK[check.severity]
            print(f"  {paint(f'{label:<4}', colour)} {check.name:<8} {check.message}")
            for record in check.records:
                print(f"           {paint(record, 'dim')}")
            if check.advice and not check.ok:
                print(f"           fix: {check.advice}")
    return ExitCode.OK if report.ok else ExitCode.DATAERR
