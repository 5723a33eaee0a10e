"""`dns`, `dns spf` and the DNS section of `check`, as a user runs them: subprocesses
pointed at a real DNS server (and HTTPS server) on 127.0.0.1 by dns.nameservers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.support.cli_helpers import run_cli
from tests.support.dns_server import dead_nameserver, dkim_record, dns_server, nameserver_entry
from tests.support.http_servers import Page
from tui_mailsetup.sandbox import Sandbox


def txt(text: str) -> str:
    return f'"{text}"'


ZONE = {
    ("acme.example", "MX"): ["10 mx1.acme.example."],
    ("acme.example", "TXT"): [txt("v=spf1 ip4:127.0.0.1 -all")],
    ("relay.acme.example", "A"): ["127.0.0.1"],
    ("outside.acme.example", "A"): ["198.51.100.7"],
    ("selector1._domainkey.acme.example", "TXT"): [dkim_record()],
    ("_dmarc.acme.example", "TXT"): [txt("v=DMARC1; p=reject")],
    ("_mta-sts.acme.example", "TXT"): [txt("v=STSv1; id=1")],
    ("_smtp._tls.acme.example", "TXT"): [txt("v=TLSRPTv1; rua=mailto:tls@acme.example")],
    ("bad.example", "TXT"): [txt("v=spf1 ip4:192.0.2.0/33 -all")],
    ("bad.example", "MX"): ["10 mx1.acme.example."],
}
POLICY = "version: STSv1\nmode: enforce\nmx: mx1.acme.example\nmax_age: 86400\n"


def configure(home: Path, *pairs: tuple[str, str]) -> None:
    for key, value in pairs:
        result = run_cli("set", key, value, home=home)
        assert result.returncode == 0, result.stderr


@pytest.fixture
def sites(https_sites: Any) -> Any:
    pages = {("mta-sts.acme.example", "/.well-known/mta-sts.txt"): Page(POLICY)}
    return https_sites(pages, ["mta-sts.acme.example"])


def test_dns_on_a_healthy_domain_exits_0(isolated_home: Path, sites: Any) -> None:
    with dns_server(ZONE) as server:
        configure(
            isolated_home,
            ("dns.nameservers", nameserver_entry(server)),
            ("dns.https_base_url", sites.base_url),
            ("sender.address", "billing@acme.example"),
        )
        env = {"SSL_CERT_FILE": str(sites.ca_path)}
        human = run_cli("dns", home=isolated_home, env=env)
        document = run_cli("dns", "--json", home=isolated_home, env=env)
    assert human.returncode == 0, human.stdout + human.stderr
    assert "DNS for acme.example" in human.stdout and "DMARC policy reject" in human.stdout
    assert document.returncode == 0
    report = document.json()
    assert report["ok"] is True
    assert [c["status"] for c in report["checks"]] == ["ok"] * 6


@pytest.mark.parametrize("kind", ["nothing-listening", "packets-dropped", "servfail"])
def test_dns_on_a_dead_resolver_is_unknown_exit_75(isolated_home: Path, kind: str) -> None:
    options = {"silent": ["*"]} if kind == "packets-dropped" else {"servfail": ["*"]}
    with dns_server(ZONE, **options) as server:  # type: ignore[arg-type]
        entry = dead_nameserver() if kind == "nothing-listening" else nameserver_entry(server)
        configure(isolated_home, ("dns.nameservers", entry), ("dns.timeout", "2"))
        # A run that multiplied the timeout (24 lookups x 2 s) would hit the 20 s guard.
        result = run_cli("dns", "acme.example", "--json", home=isolated_home, timeout=20)
        human = run_cli("dns", "acme.example", home=isolated_home, timeout=20)
    assert result.returncode == 75, result.stdout + result.stderr
    report = result.json()
    assert report["ok"] is False
    assert {c["status"] for c in report["checks"]} == {"unknown"}
    assert human.returncode == 75
    assert "No DKIM key" not in human.stdout and "could not be completed" in human.stderr


def test_dns_exits_65_when_a_record_is_in_error(isolated_home: Path) -> None:
    with dns_server(ZONE) as server:
        configure(isolated_home, ("dns.nameservers", nameserver_entry(server)))
        bad = run_cli("dns", "bad.example", "--json", home=isolated_home)
        missing = run_cli("dns", "gone.example", home=isolated_home)
    assert bad.returncode == 65
    spf = next(c for c in bad.json()["checks"] if c["name"] == "SPF")
    assert spf["status"] == "error" and "/33" in spf["message"]
    assert missing.returncode == 65 and "does not exist (NXDOMAIN)" in missing.stdout


@pytest.mark.parametrize(
    ("record", "code", "status", "expected"),
    [
        # What receivers default (p=none, RFC 7489 §6.6.3) is a warning: the exit stays 0.
        ("v=DMARC1; rua=mailto:d@acme.example", 0, "warning", "receivers apply p=none"),
        ("v=DMARC1; p=reject; rua=d@acme.example; adkim=x", 0, "warning", "receivers ignore"),
        # A version in the wrong case is not a DMARC record: ignored by receivers, an error.
        ("v=dmarc1; p=reject", 65, "error", "is not a DMARC record"),
    ],
)
def test_dns_dmarc_warnings_keep_exit_0_and_a_wrong_case_version_is_65(
    isolated_home: Path, sites: Any, record: str, code: int, status: str, expected: str
) -> None:
    zone = {**ZONE, ("_dmarc.acme.example", "TXT"): [txt(record)]}
    with dns_server(zone) as server:
        configure(
            isolated_home,
            ("dns.nameservers", nameserver_entry(server)),
            ("dns.https_base_url", sites.base_url),
        )
        env = {"SSL_CERT_FILE": str(sites.ca_path)}
        result = run_cli("dns", "acme.example", "--json", home=isolated_home, env=env)
    assert result.returncode == code, result.stdout + result.stderr
    dmarc = next(c for c in result.json()["checks"] if c["name"] == "DMARC")
    assert dmarc["status"] == status and expected in dmarc["message"], dmarc


def test_dns_spf_evaluates_one_address(isolated_home: Path) -> None:
    with dns_server(ZONE) as server:
        configure(isolated_home, ("dns.nameservers", nameserver_entry(server)))
        passing = run_cli(
            "dns", "spf", "acme.example", "--ip", "127.0.0.1", "--json", home=isolated_home
        )
        failing = run_cli(
            "dns", "spf", "acme.example", "--ip", "192.0.2.9", "--sender", "a@acme.example",
            "--helo", "mx.other.example", home=isolated_home,
        )  # fmt: skip
        broken = run_cli(
            "dns", "spf", "bad.example", "--ip", "192.0.2.9", "--json", home=isolated_home
        )
    assert passing.returncode == 0, passing.stderr
    document = passing.json()
    assert {"result", "explanation", "lookups", "void_lookups", "record"} <= set(document)
    assert document["result"] == "pass"
    assert document["record"] == "v=spf1 ip4:127.0.0.1 -all"
    assert (document["lookups"], document["void_lookups"]) == (0, 0)
    assert failing.returncode == 0
    assert "SPF fail for 192.0.2.9 at acme.example" in failing.stdout
    assert "-all in the record of acme.example matched 192.0.2.9" in failing.stdout
    assert broken.returncode == 65 and broken.json()["result"] == "permerror"


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (("dns", "spf", "acme.example"), 64),
        (("dns", "spf", "--ip", "192.0.2.1"), 64),
        (("dns", "spf", "acme.example", "--ip", "not-an-ip"), 65),
        (("dns", "spf", "bad domain!", "--ip", "192.0.2.1"), 65),
        (("dns", "acme.example", "--ip", "192.0.2.1"), 64),
    ],
)
def test_dns_spf_bad_input(isolated_home: Path, args: tuple[str, ...], code: int) -> None:
    result = run_cli(*args, home=isolated_home)
    assert result.returncode == code, result.stdout + result.stderr
    assert "Traceback" not in result.stderr and "error" in result.stderr


def _check_setup(home: Path, box: Sandbox, server: Any, sender: str) -> None:
    configure(
        home,
        # The relay by name: resolved through dns.nameservers, as `detect --save` would find it.
        ("smtp.host", "relay.acme.example"),
        ("smtp.port", str(box.port)),
        ("smtp.encryption", "none"),
        ("dns.nameservers", nameserver_entry(server)),
        ("sender.address", sender),
    )


def test_check_runs_the_dns_checks_after_the_ladder(isolated_home: Path) -> None:
    zone = {k: v for k, v in ZONE.items() if k[0] != "_mta-sts.acme.example"}
    with Sandbox(mode="plain", auth=False) as box, dns_server(zone) as server:
        _check_setup(isolated_home, box, server, "billing@acme.example")
        human = run_cli("check", home=isolated_home)
        document = run_cli("check", "--json", home=isolated_home)
        skipped = run_cli("check", "--json", "--no-dns", home=isolated_home)
    assert human.returncode == 0, human.stdout + human.stderr
    assert human.stdout.index("DNS for acme.example") > human.stdout.index("Connect")
    # A relay on this machine hands mail on: SPF judges its smarthost, not 127.0.0.1.
    assert "ok   SPF      SPF record valid" in human.stdout
    assert document.returncode == 0
    report = document.json()
    assert report["ok"] is True
    assert report["dns"]["domain"] == "acme.example" and report["dns"]["ok"] is True
    assert skipped.json()["dns"] == {"skipped": "--no-dns"}


def test_dns_errors_fail_check_only_with_strict(isolated_home: Path) -> None:
    with Sandbox(mode="plain", auth=False) as box, dns_server(ZONE) as server:
        _check_setup(isolated_home, box, server, "billing@bad.example")
        lenient = run_cli("check", "--json", home=isolated_home)
        strict = run_cli("check", "--json", "--strict", home=isolated_home)
    assert lenient.returncode == 0, lenient.stdout + lenient.stderr
    assert lenient.json()["dns"]["ok"] is False
    assert strict.returncode == 65
    assert any(c["status"] == "error" for c in strict.json()["dns"]["checks"])


def test_send_test_resolves_the_relay_through_dns_nameservers(isolated_home: Path) -> None:
    with Sandbox(mode="plain", auth=False) as box, dns_server(ZONE) as server:
        _check_setup(isolated_home, box, server, "billing@acme.example")
        result = run_cli("send-test", "--to", "ops@acme.example", "--json", home=isolated_home)
        messages = list(box.messages)
    assert result.returncode == 0, result.stdout + result.stderr
    assert ("relay.acme.example.", "A") in server.queries
    assert len(messages) == 1


def test_a_relay_name_missing_from_dns_nameservers_does_not_resolve(isolated_home: Path) -> None:
    with Sandbox(mode="plain", auth=False) as box, dns_server(ZONE) as server:
        _check_setup(isolated_home, box, server, "billing@acme.example")
        configure(isolated_home, ("smtp.host", "unknown.acme.example"))
        result = run_cli("check", "--json", "--no-dns", home=isolated_home)
    assert result.returncode == 69, result.stdout + result.stderr
    assert result.json()["stage"] == "resolve"
