"""Autodetection and the sender domain's DNS checks, against a real DNS server on 127.0.0.1."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.cli_helpers import config_path, run_cli
from tests.support.dns_server import dkim_record, dns_server, nameserver_entry
from tui_mailsetup.engine.detect import DetectOptions, detect
from tui_mailsetup.engine.dns import check_domain
from tui_mailsetup.engine.dns_client import make_resolver
from tui_mailsetup.findings import Severity
from tui_mailsetup.settings import Encryption

ACME = {
    ("acme.example", "MX"): ["10 acme-example.mail.protection.outlook.com."],
    ("acme.example", "TXT"): [
        '"v=spf1 include:spf.protection.outlook.com -all"',
        '"google-site-verification=x"',
    ],
    ("selector1._domainkey.acme.example", "TXT"): [dkim_record()],
    ("_dmarc.acme.example", "TXT"): ['"v=DMARC1; p=quarantine; rua=mailto:d@acme.example"'],
    ("_mta-sts.acme.example", "TXT"): ['"v=STSv1; id=20260101"'],
}


async def test_detect_prefers_srv_records_and_reports_each_source() -> None:
    zone = {
        ("srv.example", "MX"): ["10 aspmx.l.google.com."],
        ("_submissions._tcp.srv.example", "SRV"): ["0 1 465 submit.srv.example."],
        ("_submission._tcp.srv.example", "SRV"): ["0 1 587 submit.srv.example."],
    }
    with dns_server(zone) as server:
        # Probes off: what the sources propose, ranked (nothing listens at these names).
        result = await detect(
            "ops@srv.example",
            resolver=make_resolver([nameserver_entry(server)]),
            options=DetectOptions(probe=False),
        )
    hosts = [(c.host, c.port, c.encryption) for c in result.candidates]
    assert hosts[0] == ("submit.srv.example", 465, Encryption.TLS)
    assert ("submit.srv.example", 587, Encryption.STARTTLS) in hosts
    assert ("smtp.gmail.com", 587, Encryption.STARTTLS) in hosts  # MX reveals Google Workspace
    assert result.candidates[-1].confidence < result.candidates[0].confidence


async def test_detect_known_mailbox_domain_needs_no_lookup_to_win() -> None:
    with dns_server({}) as server:
        result = await detect(
            "someone@gmail.com", resolver=make_resolver([nameserver_entry(server)])
        )
    assert result.best is not None
    assert (result.best.host, result.best.port, result.best.preset_id) == (
        "smtp.gmail.com",
        587,
        "gmail",
    )


async def test_detect_from_mx_of_microsoft_365() -> None:
    with dns_server(ACME) as server:
        result = await detect(
            "acme.example",
            resolver=make_resolver([nameserver_entry(server)]),
            options=DetectOptions(probe=False),
        )
    assert result.best is not None
    assert result.best.preset_id == "microsoft-365"
    assert "acme-example.mail.protection.outlook.com" in result.best.source


async def test_srv_target_dot_means_not_offered() -> None:
    zone = {("_submissions._tcp.none.example", "SRV"): ["0 0 0 ."], ("none.example", "MX"): []}
    with dns_server(zone) as server:
        result = await detect("none.example", resolver=make_resolver([nameserver_entry(server)]))
    assert result.candidates == []


async def test_a_silent_nameserver_is_a_reported_problem_not_a_hang() -> None:
    with dns_server({}, silent=["_submissions._tcp.quiet.example"]) as server:
        result = await detect(
            "quiet.example", resolver=make_resolver([nameserver_entry(server)], lifetime=0.5)
        )
    assert any("_submissions._tcp.quiet.example" in p for p in result.problems)


@pytest.mark.parametrize(
    ("records", "severity", "text"),
    [
        (['"v=spf1 +all"'], Severity.ERROR, "+all"),
        (['"v=spf1 mx ~all"', '"v=spf1 a ~all"'], Severity.ERROR, "publishes 2 SPF records"),
        ([], Severity.WARNING, "No SPF record"),
    ],
)
async def test_spf_problems(records: list[str], severity: Severity, text: str) -> None:
    zone = {("bad.example", "TXT"): records, ("bad.example", "MX"): ["10 mx.bad.example."]}
    with dns_server(zone) as server:
        report = await check_domain(
            "bad.example", resolver=make_resolver([nameserver_entry(server)])
        )
    spf = next(c for c in report.checks if c.name == "SPF")
    assert spf.severity is severity
    assert text in spf.message


async def test_missing_records_and_hostile_txt_text_is_neutralised() -> None:
    zone = {("bare.example", "TXT"): ['"v=spf1 mx ~all \\027[31m[bold]x[/bold]"']}
    with dns_server(zone) as server:
        report = await check_domain(
            "bare.example", resolver=make_resolver([nameserver_entry(server)])
        )
    by_name = {c.name: c for c in report.checks}
    assert by_name["MX"].severity is Severity.WARNING
    assert by_name["DMARC"].severity is Severity.WARNING
    assert by_name["DKIM"].severity is Severity.WARNING
    assert "\x1b" not in by_name["SPF"].records[0]
    assert "\\x1b[31m" in by_name["SPF"].records[0]


def test_detect_command_json_and_save(isolated_home: Path) -> None:
    zone = {("_submission._tcp.corp.example", "SRV"): ["0 1 2525 relay.corp.example."]}
    with dns_server(zone) as server:
        run_cli("set", "dns.nameservers", nameserver_entry(server), home=isolated_home)
        result = run_cli(
            "detect", "it@corp.example", "--json", "--save", "--no-probe", home=isolated_home
        )
    assert result.returncode == 0, result.stderr
    document = result.json()
    assert document["ok"] is True
    assert document["stage"] == "detect"
    assert isinstance(document["elapsed"], float)
    assert document["smtp"] == {
        "host": "relay.corp.example",
        "port": 2525,
        "encryption": "starttls",
    }
    saved = config_path(isolated_home).read_text()
    assert 'host = "relay.corp.example"' in saved and "port = 2525" in saved
    assert 'address = "it@corp.example"' in saved
    assert document["saved"]["sender.address"] == "it@corp.example"


def test_detect_command_nothing_found_exits_69_and_bad_input_65(isolated_home: Path) -> None:
    with dns_server({}) as server:
        run_cli("set", "dns.nameservers", nameserver_entry(server), home=isolated_home)
        nothing = run_cli("detect", "nobody.example", "--json", home=isolated_home)
        bad = run_cli("detect", "not a domain!", home=isolated_home)
    assert nothing.returncode == 69
    assert nothing.json()["ok"] is False and nothing.json()["diagnosis"]["cause"]
    assert bad.returncode == 65
