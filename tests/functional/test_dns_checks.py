"""The sender domain's checks, one zone per case, against a real DNS server on 127.0.0.1
(and a local HTTPS server with a trustme certificate for the MTA-STS policy)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.support.dns_server import (
    dead_nameserver,
    dkim_record,
    dkim_rsa_key,
    dns_server,
    nameserver_entry,
)
from tests.support.http_servers import Page, https_server
from tui_mailsetup.engine.checks import DomainReport, RecordCheck
from tui_mailsetup.engine.dns import check_domain
from tui_mailsetup.engine.dns_client import DnsClient
from tui_mailsetup.findings import Severity
from tui_mailsetup.presets import get_preset


def txt(text: str) -> str:
    """A TXT rdata in zone-file syntax (strings of at most 255 characters)."""
    return " ".join(f'"{text[i : i + 255]}"' for i in range(0, len(text), 255))


GOOD = {
    ("acme.example", "MX"): ["10 mx1.acme.example.", "20 mx2.acme.example."],
    ("mx1.acme.example", "A"): ["192.0.2.25"],
    ("acme.example", "TXT"): [txt("v=spf1 ip4:192.0.2.10 -all"), txt("other=1")],
    ("relay.acme.example", "A"): ["192.0.2.10"],
    ("selector1._domainkey.acme.example", "TXT"): [dkim_record()],
    ("_dmarc.acme.example", "TXT"): [txt("v=DMARC1; p=quarantine; rua=mailto:d@acme.example")],
    ("_mta-sts.acme.example", "TXT"): [txt("v=STSv1; id=20260101")],
    ("_smtp._tls.acme.example", "TXT"): [txt("v=TLSRPTv1; rua=mailto:tls@acme.example")],
}
POLICY = "version: STSv1\r\nmode: enforce\r\nmx: *.acme.example\r\nmax_age: 604800\r\n"
POLICY_PAGE = {("mta-sts.acme.example", "/.well-known/mta-sts.txt"): Page(POLICY)}


async def run_checks(
    zone: dict[tuple[str, str], list[str]],
    domain: str = "acme.example",
    **kwargs: Any,
) -> DomainReport:
    with dns_server(zone) as server:
        client = DnsClient([nameserver_entry(server)], timeout=3.0)
        return await check_domain(domain, client=client, **kwargs)


def by_name(report: DomainReport) -> dict[str, RecordCheck]:
    return {check.name: check for check in report.checks}


@pytest.fixture
def policy_server(https_sites: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    server = https_sites(POLICY_PAGE, ["mta-sts.acme.example"])
    monkeypatch.setenv("SSL_CERT_FILE", str(server.ca_path))
    return server


async def test_a_well_configured_domain_passes_every_check(policy_server: Any) -> None:
    report = await run_checks(
        GOOD, relay_host="relay.acme.example", https_base_url=policy_server.base_url
    )
    checks = by_name(report)
    assert list(checks) == ["MX", "SPF", "DKIM", "DMARC", "MTA-STS", "TLS-RPT"]
    assert report.ok and report.exit_code == 0, [c.message for c in report.checks]
    assert "SPF passes for the relay relay.acme.example (192.0.2.10)" in checks["SPF"].message
    assert checks["DMARC"].message == "DMARC policy quarantine"
    assert "mode enforce" in checks["MTA-STS"].message
    assert ("mta-sts.acme.example", "/.well-known/mta-sts.txt") in [
        (r.host, r.path) for r in policy_server.requests
    ]


# --------------------------------------------------------------------------- SPF


@pytest.mark.parametrize(
    ("record", "extra", "reason"),
    [
        (
            "v=spf1 " + " ".join(f"a:h{i}.acme.example" for i in range(16)) + " -all",
            {f"h{i}.acme.example": ("A", "192.0.2.99") for i in range(16)},
            "more than 10 DNS-querying terms",
        ),
        ("v=spf1 foo:bar.example -all", {}, "unknown mechanism 'foo:bar.example'"),
        ("v=spf1 ip4:192.0.2.0/33 -all", {}, "bad IPv4 CIDR length /33"),
        (
            "v=spf1 redirect=nospf.example",
            {"nospf.example": ("A", "192.0.2.7")},
            "redirect=nospf.example: nospf.example publishes no SPF record",
        ),
        (
            "v=spf1 a:v1.example a:v2.example a:v3.example -all",
            {},
            "more than 2 lookups returned nothing",
        ),
        ("v=spf1 include:nowhere.example -all", {}, "include:nowhere.example"),
    ],
    ids=["16-lookups", "unknown-mechanism", "cidr-33", "redirect-no-spf", "3-void", "include-nx"],
)
async def test_spf_permerrors_are_errors_with_the_reason(
    record: str, extra: dict[str, tuple[str, str]], reason: str
) -> None:
    zone = {("acme.example", "TXT"): [txt(record)], ("acme.example", "MX"): ["10 mx.x.example."]}
    for name, (rdtype, value) in extra.items():
        zone[(name, rdtype)] = [value]
    report = await run_checks(zone)
    spf = by_name(report)["SPF"]
    assert spf.severity is Severity.ERROR and not spf.unknown, spf
    assert "permerror" in spf.message and reason in spf.message, spf.message
    assert report.exit_code == 65


async def test_spf_ptr_and_terms_after_all_are_warnings() -> None:
    zone = {("acme.example", "TXT"): [txt("v=spf1 ptr -all ip4:192.0.2.1")]}
    spf = by_name(await run_checks(zone))["SPF"]
    assert spf.severity is Severity.WARNING
    assert "terms after -all are never evaluated: ip4:192.0.2.1" in spf.message
    assert "ptr" in spf.message


async def test_spf_relay_include_is_found_four_levels_down() -> None:
    zone = {
        ("acme.example", "TXT"): [txt("v=spf1 include:l1.acme.example -all")],
        ("l1.acme.example", "TXT"): [txt("v=spf1 include:l2.acme.example -all")],
        ("l2.acme.example", "TXT"): [txt("v=spf1 include:l3.acme.example -all")],
        ("l3.acme.example", "TXT"): [txt("v=spf1 include:_spf.google.com -all")],
        ("_spf.google.com", "TXT"): [txt("v=spf1 ip4:203.0.113.0/24 ~all")],
    }
    spf = by_name(await run_checks(zone, relay=get_preset("gmail")))["SPF"]
    assert spf.ok, spf.message
    assert "reaches include:_spf.google.com" in spf.message


async def test_spf_without_the_relays_include_gives_the_fixed_record() -> None:
    zone = {("acme.example", "TXT"): [txt("v=spf1 mx -all")]}
    spf = by_name(await run_checks(zone, relay=get_preset("sendgrid")))["SPF"]
    assert spf.severity is Severity.WARNING
    assert spf.advice.endswith('"v=spf1 mx include:sendgrid.net -all"')


async def test_spf_that_fails_the_relays_address_is_an_error_with_the_fix() -> None:
    zone = {
        ("acme.example", "TXT"): [txt("v=spf1 ip4:192.0.2.1 -all")],
        ("relay.acme.example", "A"): ["198.51.100.7"],
    }
    spf = by_name(await run_checks(zone, relay_host="relay.acme.example"))["SPF"]
    assert spf.severity is Severity.ERROR
    assert "198.51.100.7: fail" in spf.message
    assert spf.advice == 'Change the record to "v=spf1 ip4:192.0.2.1 ip4:198.51.100.7 -all"'


async def test_spf_include_that_times_out_is_unknown_not_dropped() -> None:
    zone = {("acme.example", "TXT"): [txt("v=spf1 include:slow.example ip4:192.0.2.1 -all")]}
    with dns_server(zone, silent=["slow.example"]) as server:
        client = DnsClient([nameserver_entry(server)], timeout=1.0)
        report = await check_domain("acme.example", client=client, relay=get_preset("sendgrid"))
    spf = by_name(report)["SPF"]
    assert spf.unknown and spf.status == "unknown", spf
    assert "slow.example" in spf.message and "timeout" in spf.message


# --------------------------------------------------------------------------- DMARC


async def test_dmarc_falls_back_to_the_organisational_domain_and_never_weakens_it() -> None:
    zone = {
        ("sub.acme.example", "MX"): ["10 mx.acme.example."],
        ("_dmarc.acme.example", "TXT"): [txt("v=DMARC1; p=reject; sp=quarantine")],
    }
    dmarc = by_name(await run_checks(zone, "sub.acme.example"))["DMARC"]
    assert dmarc.ok, dmarc.message
    assert "quarantine" in dmarc.message and "organisational domain acme.example" in dmarc.message
    assert "p=none" not in dmarc.advice and "p=quarantine or stronger" in dmarc.advice


@pytest.mark.parametrize(
    ("record", "problem", "policy"),
    [
        ("v=DMARC1; p=reject; adkim=x", "adkim=x is not r (relaxed) or s (strict)", "reject"),
        ("v=DMARC1; p=reject; pct=150", "pct=150 is not a whole number from 0 to 100", "reject"),
        (
            "v=DMARC1; p=quarantine; sp=x; fo=9",
            "sp=x is not none, quarantine or reject",
            "quarantine",
        ),
        ("v=DMARC1; p=none; rua=dmarc@acme.example", "is not a mailto: or https: address", "none"),
        # RFC 7489 §6.6.3: no (or an invalid) p= but a valid rua: receivers apply p=none.
        ("v=DMARC1; rua=mailto:d@acme.example", "p= (the policy) is missing", "none"),
        ("v=DMARC1; p=block; rua=mailto:d@acme.example", "p=block is invalid", "none"),
    ],
)
async def test_dmarc_what_receivers_ignore_or_default_is_a_warning(
    record: str, problem: str, policy: str
) -> None:
    dmarc = by_name(await run_checks({("_dmarc.acme.example", "TXT"): [txt(record)]}))["DMARC"]
    assert dmarc.severity is Severity.WARNING, dmarc.message
    assert problem in dmarc.message and f"DMARC policy {policy}" in dmarc.message
    assert "receivers" in dmarc.message  # the reason: what they do with it


@pytest.mark.parametrize(
    ("record", "problem"),
    [
        ("v=DMARC1; p=block", "p=block is not none, quarantine or reject"),
        ("v=DMARC1; adkim=s", "p= (the policy) is missing and there is no valid rua="),
        ("v=DMARC1; p=none; p=reject", "the tag p appears twice"),
    ],
)
async def test_dmarc_records_receivers_discard_are_errors(record: str, problem: str) -> None:
    dmarc = by_name(await run_checks({("_dmarc.acme.example", "TXT"): [txt(record)]}))["DMARC"]
    assert dmarc.severity is Severity.ERROR
    assert problem in dmarc.message


@pytest.mark.parametrize("version", ["v=dmarc1", "v=Dmarc1", "V=dmarc1"])
async def test_dmarc_version_in_the_wrong_case_is_not_a_dmarc_record(version: str) -> None:
    """RFC 7489 §6.3: the value must match DMARC1 exactly; such a record is ignored."""
    zone = {("_dmarc.acme.example", "TXT"): [txt(f"{version}; p=reject")]}
    dmarc = by_name(await run_checks(zone))["DMARC"]
    assert dmarc.severity is Severity.ERROR
    assert "is not a DMARC record" in dmarc.message and "exactly v=DMARC1" in dmarc.message
    assert "policy reject" not in dmarc.message


async def test_dmarc_tag_name_case_does_not_matter() -> None:
    zone = {("_dmarc.acme.example", "TXT"): [txt("V = DMARC1; P=reject")]}
    assert by_name(await run_checks(zone))["DMARC"].ok


@pytest.mark.parametrize(
    ("record", "severity", "expected"),
    [
        ("v=tlsrptv1; rua=mailto:tls@acme.example", Severity.WARNING, "is not a TLS-RPT record"),
        ("v=TLSRPTv1; rua=mailto:tls@acme.example", Severity.INFO, "TLS reports go to"),
        (
            "v=TLSRPTv1; rua=mailto:tls@acme.example,tls@acme.example",
            Severity.WARNING,
            "senders skip tls@acme.example",
        ),
        ("v=TLSRPTv1; rua=tls@acme.example", Severity.ERROR, "needs rua= with mailto:"),
    ],
)
async def test_tls_rpt_version_is_case_sensitive(
    record: str, severity: Severity, expected: str
) -> None:
    zone = {("_smtp._tls.acme.example", "TXT"): [txt(record)]}
    check = by_name(await run_checks(zone))["TLS-RPT"]
    assert check.severity is severity and expected in check.message, check.message


async def test_dmarc_several_records_are_an_error() -> None:
    zone = {("_dmarc.acme.example", "TXT"): [txt("v=DMARC1; p=none"), txt("v=DMARC1; p=reject")]}
    dmarc = by_name(await run_checks(zone))["DMARC"]
    assert dmarc.severity is Severity.ERROR and "Several DMARC records" in dmarc.message


async def test_dmarc_external_report_address_needs_its_authorisation() -> None:
    record = txt("v=DMARC1; p=none; rua=mailto:reports@dmarc.vendor.example")
    zone = {("_dmarc.acme.example", "TXT"): [record]}
    missing = by_name(await run_checks(zone))["DMARC"]
    assert missing.severity is Severity.WARNING
    assert "acme.example._report._dmarc.dmarc.vendor.example authorises nothing" in missing.message
    zone[("acme.example._report._dmarc.dmarc.vendor.example", "TXT")] = [txt("v=DMARC1")]
    assert by_name(await run_checks(zone))["DMARC"].ok


async def test_no_dmarc_anywhere_advises_a_monitoring_policy() -> None:
    dmarc = by_name(await run_checks({("acme.example", "MX"): ["10 mx.acme.example."]}))["DMARC"]
    assert dmarc.severity is Severity.WARNING and "No DMARC record" in dmarc.message
    assert "p=none" in dmarc.advice


# --------------------------------------------------------------------------- MTA-STS, TLS-RPT


async def test_mta_sts_record_without_id_is_an_error() -> None:
    zone = {("_mta-sts.acme.example", "TXT"): [txt("v=STSv1;")]}
    sts = by_name(await run_checks(zone))["MTA-STS"]
    assert sts.severity is Severity.ERROR and "no valid id=" in sts.message


async def test_mta_sts_mx_not_matched_by_the_policy_is_an_error(
    tmp_path: Path, monkeypatch: Any
) -> None:
    zone = {**GOOD, ("acme.example", "MX"): ["10 mx1.acme.example.", "20 backup.other.example."]}
    with https_server(POLICY_PAGE, ["mta-sts.acme.example"], tmp_path) as server:
        monkeypatch.setenv("SSL_CERT_FILE", str(server.ca_path))
        sts = by_name(await run_checks(zone, https_base_url=server.base_url))["MTA-STS"]
    assert sts.severity is Severity.ERROR
    assert "backup.other.example matches no mx pattern" in sts.message


async def test_mta_sts_certificate_for_another_name_is_an_error(
    tmp_path: Path, monkeypatch: Any
) -> None:
    with https_server(POLICY_PAGE, ["www.acme.example"], tmp_path) as server:
        monkeypatch.setenv("SSL_CERT_FILE", str(server.ca_path))
        sts = by_name(await run_checks(GOOD, https_base_url=server.base_url))["MTA-STS"]
    assert sts.severity is Severity.ERROR and not sts.unknown
    assert "certificate" in sts.message


async def test_mta_sts_untrusted_certificate_is_an_error(tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    with https_server(POLICY_PAGE, ["mta-sts.acme.example"], tmp_path) as server:
        sts = by_name(await run_checks(GOOD, https_base_url=server.base_url))["MTA-STS"]
    assert sts.severity is Severity.ERROR and "certificate" in sts.message


@pytest.mark.parametrize(
    ("page", "problem"),
    [
        (Page("nothing here", 404), "answered HTTP 404"),
        (Page("", 301, location="https://elsewhere.example/"), "redirects are not followed"),
        (Page(POLICY, content_type="text/html"), "not text/plain"),
        (Page("version: STSv1\nmode: enforce\nmax_age: 99999999999\n"), "max_age"),
    ],
)
async def test_mta_sts_policy_problems(
    page: Page, problem: str, tmp_path: Path, monkeypatch: Any
) -> None:
    pages = {("mta-sts.acme.example", "/.well-known/mta-sts.txt"): page}
    with https_server(pages, ["mta-sts.acme.example"], tmp_path) as server:
        monkeypatch.setenv("SSL_CERT_FILE", str(server.ca_path))
        sts = by_name(await run_checks(GOOD, https_base_url=server.base_url))["MTA-STS"]
    assert sts.severity is Severity.ERROR
    assert problem in sts.message


async def test_tls_rpt_without_a_report_address_is_an_error() -> None:
    zone = {("_smtp._tls.acme.example", "TXT"): [txt("v=TLSRPTv1; rua=tls@acme.example")]}
    rpt = by_name(await run_checks(zone))["TLS-RPT"]
    assert rpt.severity is Severity.ERROR and "tls@acme.example" in rpt.message


# --------------------------------------------------------------------------- MX


async def test_implicit_mx_is_a_note_not_an_error() -> None:
    mx = by_name(await run_checks({("acme.example", "A"): ["192.0.2.30"]}))["MX"]
    assert mx.severity is Severity.INFO
    assert "implicit MX of RFC 5321 §5.1" in mx.message


async def test_null_mx_is_recognised() -> None:
    mx = by_name(await run_checks({("acme.example", "MX"): ["0 ."]}))["MX"]
    assert mx.severity is Severity.WARNING and "Null MX (RFC 7505)" in mx.message


async def test_a_sender_domain_that_does_not_exist_is_an_error() -> None:
    report = await run_checks({("other.example", "A"): ["192.0.2.1"]}, "gone.example")
    mx = by_name(report)["MX"]
    assert mx.severity is Severity.ERROR and "does not exist (NXDOMAIN)" in mx.message
    assert report.exit_code == 65 and not report.ok


# --------------------------------------------------------------------------- unknown, not missing


@pytest.mark.parametrize("kind", ["nothing-listening", "packets-dropped", "servfail"])
async def test_a_dead_resolver_makes_every_check_unknown(kind: str) -> None:
    if kind == "nothing-listening":
        client = DnsClient([dead_nameserver()], timeout=1.0)
        report = await check_domain("acme.example", client=client)
    else:
        options = {"silent": ["*"]} if kind == "packets-dropped" else {"servfail": ["*"]}
        with dns_server(GOOD, **options) as server:  # type: ignore[arg-type]
            client = DnsClient([nameserver_entry(server)], timeout=1.0)
            report = await check_domain("acme.example", client=client)
    assert [c.status for c in report.checks] == ["unknown"] * 6, [c.message for c in report.checks]
    assert report.exit_code == 75 and report.ok is False
    dkim = by_name(report)["DKIM"]
    assert "No DKIM key" not in dkim.message and "cannot be told" in dkim.message
    expected = {"servfail": "SERVFAIL", "packets-dropped": "timeout"}.get(kind, "")
    assert all(expected in c.message for c in report.checks)


async def test_only_the_failed_lookup_is_unknown() -> None:
    zone = {key: value for key, value in GOOD.items() if key[0] != "_mta-sts.acme.example"}
    with dns_server(zone, servfail=["_dmarc.acme.example"]) as server:
        client = DnsClient([nameserver_entry(server)], timeout=2.0)
        report = await check_domain("acme.example", client=client)
    statuses = {c.name: c.status for c in report.checks}
    assert statuses["DMARC"] == "unknown" and statuses["DKIM"] == "ok" and statuses["MX"] == "ok"
    assert report.exit_code == 75


@pytest.mark.parametrize(
    ("record", "ok"),
    [("v=spf1 include:eu.mailgun.org -all", True), ("v=spf1 include:mailgun.org -all", False)],
)
async def test_api_driver_is_judged_by_its_providers_documented_include(
    record: str, ok: bool
) -> None:
    from tui_mailsetup.engine.dns import check_sender_domain
    from tui_mailsetup.settings import MailSettings

    zone = {
        ("acme.example", "TXT"): [txt(record)],
        ("eu.mailgun.org", "TXT"): [txt("v=spf1 ip4:192.0.2.0/24 ~all")],
        ("mailgun.org", "TXT"): [txt("v=spf1 ip4:198.51.100.0/24 ~all")],
    }
    with dns_server(zone) as server:
        settings = MailSettings.model_validate(
            {
                "driver": "mailgun",
                "mailgun": {"region": "eu", "domain": "acme.example"},
                "sender": {"address": "billing@acme.example"},
                "dns": {"nameservers": [nameserver_entry(server)], "timeout": 3},
            }
        )
        spf = by_name(await check_sender_domain(settings))["SPF"]
    assert spf.ok is ok, spf.message
    if not ok:
        assert "does not include eu.mailgun.org" in spf.message
        assert "include:mailgun.org include:eu.mailgun.org -all" in spf.advice


def _ed25519(length: int = 32) -> str:
    import base64

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    raw = (
        Ed25519PrivateKey.generate()
        .public_key()
        .public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    )
    return base64.b64encode((raw * 2)[:length]).decode()


@pytest.mark.parametrize(
    ("record", "severity", "expected"),
    [
        # The old test zones' key: the first bytes of one, cut off.
        ("v=DKIM1; k=rsa; p=MIGfMA0GCSqGSIb3", Severity.ERROR, "not a valid RSA public key"),
        ("v=DKIM1; k=rsa; p=MIGfMA0GCSqGSIb3DQEB", Severity.ERROR, "not a valid RSA public key"),
        ("v=DKIM1; k=rsa; p=@@notbase64@@", Severity.ERROR, "not valid base64"),
        (f"v=DKIM1; k=rsa; p={dkim_rsa_key(512)}", Severity.ERROR, "RSA 512-bit key"),
        (f"v=DKIM1; k=rsa; p={dkim_rsa_key(1024)}", Severity.WARNING, "RSA 1024-bit key: weak"),
        (f"v=DKIM1; k=rsa; p={dkim_rsa_key(2048)}", Severity.INFO, "RSA 2048-bit key"),
        ("v=DKIM1; k=rsa; p=", Severity.WARNING, "revoked (empty p=)"),
        (f"v=DKIM1; t=y; p={dkim_rsa_key(2048)}", Severity.WARNING, "testing mode (t=y)"),
        (f"v=DKIM1; k=ed25519; p={_ed25519()}", Severity.INFO, "Ed25519 key"),
        (f"v=DKIM1; k=ed25519; p={_ed25519(31)}", Severity.ERROR, "31 bytes, not the 32"),
        (f"v=DKIM1; k=ed25519; p={dkim_rsa_key(2048)}", Severity.ERROR, "not the 32"),
        (f"v=DKIM1; k=dsa; p={dkim_rsa_key(2048)}", Severity.ERROR, "k=dsa is not a key type"),
    ],
    # Keys are generated per process: name the cases, so every xdist worker collects the same.
    ids=lambda value: (
        ("record" if value.startswith("v=") else value) if isinstance(value, str) else None
    ),
)
async def test_dkim_keys_are_parsed(record: str, severity: Severity, expected: str) -> None:
    zone = {("selector1._domainkey.acme.example", "TXT"): [txt(record)]}
    dkim = by_name(await run_checks(zone))["DKIM"]
    assert dkim.severity is severity, dkim.message
    assert expected in dkim.message
    assert dkim.ok is (severity is Severity.INFO)


async def test_a_broken_dkim_key_beside_a_good_one_is_still_an_error() -> None:
    zone = {
        ("selector1._domainkey.acme.example", "TXT"): [dkim_record()],
        ("selector2._domainkey.acme.example", "TXT"): [txt("v=DKIM1; p=MIGfMA0GCSqGSIb3DQEB")],
    }
    dkim = by_name(await run_checks(zone))["DKIM"]
    assert dkim.severity is Severity.ERROR
    assert "selector1: RSA 2048-bit key" in dkim.message and "selector2: p= is not" in dkim.message


def test_dns_exits_65_on_a_broken_dkim_key(isolated_home: Path) -> None:
    from tests.support.cli_helpers import run_cli

    zone = {
        **{k: v for k, v in GOOD.items() if k[0] != "_mta-sts.acme.example"},
        ("selector1._domainkey.acme.example", "TXT"): [txt(f"v=DKIM1; p={dkim_rsa_key(512)}")],
    }
    with dns_server(zone) as server:
        assert (
            run_cli(
                "set", "dns.nameservers", nameserver_entry(server), home=isolated_home
            ).returncode
            == 0
        )
        result = run_cli("dns", "acme.example", "--json", home=isolated_home, timeout=60)
    assert result.returncode == 65, result.stdout + result.stderr
    dkim = next(c for c in result.json()["checks"] if c["name"] == "DKIM")
    assert dkim["status"] == "error" and "RSA 512-bit key" in dkim["message"]
