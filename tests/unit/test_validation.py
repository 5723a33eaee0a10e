"""Validation: one pure function from settings to findings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tui_mailsetup.findings import Finding, Severity
from tui_mailsetup.fixes import apply_fix
from tui_mailsetup.names import host_to_ascii
from tui_mailsetup.settings import MailSettings, field_keys
from tui_mailsetup.validation import evaluate, recipient_findings, validate

HAS_PASSWORD = {
    "smtp.password": "credentials-file",
    "mailgun.api_key": None,
    "ses.secret_access_key": None,
}
NO_PASSWORD = {"smtp.password": None, "mailgun.api_key": None, "ses.secret_access_key": None}


def make(**sections: Any) -> MailSettings:
    return MailSettings.model_validate(raw(**sections))


def check(**sections: Any) -> list[Finding]:
    """Every finding for values as typed, including those refused when they enter."""
    return evaluate(raw(**sections))[1]


def raw(**sections: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "smtp": {"host": "smtp.example.com", "port": 587, "encryption": "starttls"},
        "sender": {"name": "Acme", "address": "noreply@acme.example"},
    }
    for name, values in sections.items():
        if isinstance(values, dict):
            data.setdefault(name, {}).update(values)
        else:
            data[name] = values
    return data


def codes(findings: list[Finding], severity: Severity | None = None) -> set[str]:
    return {f.code for f in findings if severity is None or f.severity is severity}


def test_a_sound_configuration_has_no_errors_or_warnings() -> None:
    findings = validate(make(smtp={"username": "alice"}), secret_sources=HAS_PASSWORD)
    assert [f for f in findings if f.severity is not Severity.INFO] == []


@pytest.mark.parametrize("port", [465, 2465])
@pytest.mark.parametrize("encryption", ["starttls", "none"])
def test_implicit_tls_port_with_starttls_or_none_is_an_error_fixed_by_tls(
    port: int, encryption: str
) -> None:
    settings = make(smtp={"port": port, "encryption": encryption})
    finding = next(f for f in validate(settings) if f.code == "port-encryption-mismatch")
    assert finding.severity is Severity.ERROR
    assert set(finding.fields) == {"smtp.encryption", "smtp.port"}
    assert finding.fix is not None and dict(finding.fix.changes) == {"smtp.encryption": "tls"}
    fixed = apply_fix(settings, finding.fix)
    assert "port-encryption-mismatch" not in codes(validate(fixed))


@pytest.mark.parametrize("port", [587, 25, 2525])
def test_starttls_port_with_tls_is_an_error_fixed_by_starttls(port: int) -> None:
    finding = next(
        f
        for f in validate(make(smtp={"port": port, "encryption": "tls"}))
        if f.code == "port-encryption-mismatch"
    )
    assert finding.fix is not None and dict(finding.fix.changes) == {"smtp.encryption": "starttls"}


def test_no_encryption_with_credentials_is_an_error_unless_explicitly_allowed() -> None:
    plain = make(smtp={"encryption": "none", "port": 25, "username": "alice"})
    assert "plaintext-auth" in codes(validate(plain, secret_sources=HAS_PASSWORD), Severity.ERROR)
    allowed = make(
        smtp={"encryption": "none", "port": 25, "username": "alice", "allow_plaintext_auth": True}
    )
    assert "plaintext-auth" not in codes(validate(allowed, secret_sources=HAS_PASSWORD))


def test_no_encryption_alone_is_a_warning_and_only_info_for_a_local_relay() -> None:
    assert "no-encryption" in codes(
        validate(make(smtp={"encryption": "none", "port": 2525})), Severity.WARNING
    )
    local = validate(make(smtp={"host": "localhost", "encryption": "none", "port": 25}))
    assert not codes(local, Severity.WARNING) and not codes(local, Severity.ERROR)


def test_port_25_is_a_warning() -> None:
    finding = next(f for f in validate(make(smtp={"port": 25})) if f.code == "port-25")
    assert finding.severity is Severity.WARNING


@pytest.mark.parametrize("port", [0, -1, 65536, 100000])
def test_port_outside_range_is_an_error_naming_the_field(port: int) -> None:
    settings, findings = evaluate({"smtp": {"port": port}})
    assert settings is None
    about_port = [f for f in findings if "smtp.port" in f.fields]
    assert [(f.field, f.severity) for f in about_port] == [("smtp.port", Severity.ERROR)]


@pytest.mark.parametrize(
    ("host", "code"),
    [
        ("", "host-empty"),
        ("smtp example.com", "host-space"),
        (" smtp.example.com", "host-space"),
        ("smtp://smtp.example.com", "host-url"),
        ("smtp.example.com:587", "host-port"),
        ("-bad-.example.com", "host-invalid"),
    ],
)
def test_bad_hosts_are_errors(host: str, code: str) -> None:
    assert code in codes(check(smtp={"host": host}), Severity.ERROR)


def test_host_with_port_offers_to_split_it() -> None:
    finding = next(
        f for f in check(smtp={"host": "mail.example.com:2525"}) if f.code == "host-port"
    )
    assert finding.fix is not None
    assert dict(finding.fix.changes) == {"smtp.host": "mail.example.com", "smtp.port": 2525}


def test_idn_host_is_converted_to_a_labels() -> None:
    assert host_to_ascii("smtp.bücher.de") == "smtp.xn--bcher-kva.de"
    assert "host-idn" in codes(validate(make(smtp={"host": "smtp.bücher.de"})), Severity.INFO)


@pytest.mark.parametrize("host", ["::1", "[::1]", "2001:db8::25", "[2001:db8::25]"])
def test_ipv6_with_or_without_brackets_is_accepted(host: str) -> None:
    assert not codes(validate(make(smtp={"host": host})), Severity.ERROR)


def test_ip_address_host_notes_that_certificates_rarely_match() -> None:
    assert "host-ip-address" in codes(validate(make(smtp={"host": "192.0.2.10"})), Severity.INFO)


def test_username_without_any_password_source_is_an_error() -> None:
    settings = make(smtp={"username": "alice"})
    assert "password-missing" in codes(
        validate(settings, secret_sources=NO_PASSWORD), Severity.ERROR
    )
    assert "password-missing" not in codes(validate(settings, secret_sources=HAS_PASSWORD))


def test_sendgrid_requires_apikey_username() -> None:
    settings = make(smtp={"host": "smtp.sendgrid.net", "username": "me@acme.example"})
    finding = next(
        f for f in validate(settings, secret_sources=HAS_PASSWORD) if f.code == "provider-username"
    )
    assert finding.severity is Severity.ERROR
    assert finding.fix is not None and dict(finding.fix.changes) == {"smtp.username": "apikey"}


@pytest.mark.parametrize(
    ("host", "code"),
    [
        ("email-smtp.eu-west-1.amazonaws.com", "ses-smtp-credentials"),
        ("smtp.gmail.com", "google-app-password"),
        ("smtp.office365.com", "microsoft-basic-auth"),
    ],
)
def test_provider_conventions_are_recognised_from_the_host(host: str, code: str) -> None:
    settings = make(smtp={"host": host, "username": "alice@acme.example"})
    assert code in codes(validate(settings, secret_sources=HAS_PASSWORD))


def test_sender_name_over_64_characters_is_an_error() -> None:
    assert "sender-name-long" in codes(check(sender={"name": "x" * 65}), Severity.ERROR)
    assert "sender-name-long" not in codes(validate(make(sender={"name": "x" * 64})))


@pytest.mark.parametrize(
    "address",
    [
        "not-an-address",
        "a@b.",
        "two@@example.com",
        "a b@example.com",
        "alice @example.test",
        "Alice <alice@example.com>",
        "alice(comment)@example.com",
        "x" * 65 + "@example.com",
        "a@" + "b" * 250 + ".com",
        "a@192.0.2.1",
    ],
)
def test_bad_sender_addresses_are_errors(address: str) -> None:
    assert "sender-address-invalid" in codes(check(sender={"address": address}), Severity.ERROR)


@pytest.mark.parametrize(
    "address",
    [
        "alerts@corp.local",
        "ops@example.test",
        "a@b",
        "root@localhost",
        "ops@mail.internal",
        "ops@nas.lan",
        "ops@router.home.arpa",
        "ops@ad.corp",
        "ops@[192.0.2.1]",
        "ops@[IPv6:2001:db8::1]",
    ],
)
def test_internal_and_special_use_domains_are_warnings_not_errors(address: str) -> None:
    findings = check(sender={"address": address})
    assert not codes(findings, Severity.ERROR)
    warning = next(f for f in findings if f.code == "internal-domain")
    assert warning.severity is Severity.WARNING
    assert "only works inside" in warning.message
    assert recipient_findings(address) == [
        f for f in recipient_findings(address) if f.severity is not Severity.ERROR
    ]
    assert "internal-domain" in codes(recipient_findings(address), Severity.WARNING)


@pytest.mark.parametrize(
    "recipient", ["alice @example.test", "alice@example.test (Alice)", "a\x85b@example.com"]
)
def test_recipients_are_checked_the_same_way_and_never_repaired(recipient: str) -> None:
    findings = recipient_findings(recipient, "--to")
    assert codes(findings, Severity.ERROR) == {"recipient-address-invalid"}
    assert findings[0].field == "--to"
    assert "\x85" not in findings[0].message  # neutralised before it reaches a terminal


def test_idn_sender_address_is_accepted_offline() -> None:
    assert not codes(validate(make(sender={"address": "info@bücher.de"})), Severity.ERROR)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("sender.name", "Acme\r\nBcc: victim@example.com"),
        ("sender.address", "a@example.com\nRCPT TO:<x@y>"),
        ("smtp.ehlo_name", "host\r\nMAIL FROM:<x>"),
        ("smtp.host", "smtp.example.com\x1b[31m"),
        ("sender.name", "Acme\u2028Bcc: victim@example.com"),
        ("sender.name", "\u202eemoc.elpmaxe"),
    ],
)
def test_control_characters_are_rejected_never_repaired(key: str, value: str) -> None:
    section, name = key.split(".")
    settings, findings = evaluate({section: {name: value}})
    assert settings is None
    assert any(f.field == key and "control character" in f.message for f in findings)


def test_ehlo_name_must_be_a_host_name_or_address_literal() -> None:
    assert "ehlo-invalid" in codes(check(smtp={"ehlo_name": "not a name"}), Severity.ERROR)
    assert "ehlo-invalid" in codes(check(smtp={"ehlo_name": "192.0.2.1"}), Severity.ERROR)
    assert "ehlo-invalid" not in codes(validate(make(smtp={"ehlo_name": "[192.0.2.1]"})))
    assert "ehlo-invalid" not in codes(validate(make(smtp={"ehlo_name": "web1.acme.example"})))


def test_fingerprint_must_be_sha256_hex_with_or_without_colons() -> None:
    good = "AB:" * 31 + "AB"
    assert "fingerprint-invalid" not in codes(validate(make(smtp={"fingerprint": good})))
    assert "fingerprint-invalid" not in codes(
        validate(make(smtp={"fingerprint": good.replace(":", "").lower()}))
    )
    assert "fingerprint-invalid" in codes(check(smtp={"fingerprint": "AB:CD"}), Severity.ERROR)


def test_sendmail_path_must_exist_and_be_executable(tmp_path: Path) -> None:
    missing = make(driver="sendmail", sendmail={"path": str(tmp_path / "nope")})
    assert "sendmail-missing" in codes(validate(missing), Severity.ERROR)
    script = tmp_path / "sendmail"
    script.write_text("#!/bin/sh\n")
    script.chmod(0o644)
    assert "sendmail-not-executable" in codes(
        validate(make(driver="sendmail", sendmail={"path": str(script)}))
    )
    script.chmod(0o755)
    assert not codes(
        validate(make(driver="sendmail", sendmail={"path": str(script)})), Severity.ERROR
    )


def test_mailgun_and_ses_driver_checks() -> None:
    mailgun = make(driver="mailgun", mailgun={"domain": ""})
    assert {"mailgun-domain-empty", "mailgun-key-missing"} <= codes(
        validate(mailgun, secret_sources=NO_PASSWORD)
    )
    ses = make(driver="ses", ses={"region": "Frankfurt", "access_key_id": "AKIDEXAMPLE"})
    assert {"ses-region-invalid", "ses-credentials-explicit"} <= codes(
        validate(ses, secret_sources=NO_PASSWORD), Severity.ERROR
    )
    assert "ses-region-invalid" not in codes(
        validate(make(driver="ses", ses={"region": "eu-central-1"}))
    )


def test_smtp_checks_do_not_apply_to_other_drivers() -> None:
    settings = make(
        driver="sendmail",
        smtp={"host": "", "port": 465, "encryption": "starttls"},
        sendmail={"path": "/bin/sh"},
    )
    assert not [f for f in validate(settings) if f.field.startswith("smtp.")]


def test_nameserver_entries_are_addresses_with_optional_ports() -> None:
    ok = make(dns={"nameservers": ["127.0.0.1:5353", "[::1]:53", "192.0.2.53"]})
    assert "nameserver-invalid" not in codes(validate(ok))
    assert "nameserver-invalid" in codes(check(dns={"nameservers": ["dns.example.com"]}))


# --------------------------------------------------------------------------- properties

_text = st.text(max_size=80)
_values = st.one_of(
    _text,
    st.integers(),
    st.floats(allow_nan=True),
    st.booleans(),
    st.none(),
    st.lists(_text, max_size=3),
)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(key=st.sampled_from(field_keys()), value=_values)
def test_arbitrary_values_never_crash_the_validator(key: str, value: Any) -> None:
    section, _, name = key.rpartition(".")
    data: dict[str, Any] = {section: {name: value}} if section else {name: value}
    settings_or_none, findings = evaluate(data, secret_sources=NO_PASSWORD)
    if settings_or_none is None:
        assert any(f.severity is Severity.ERROR and f.field.startswith(key) for f in findings)
    for finding in findings:
        assert finding.message and finding.field


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(host=st.text(max_size=60), name=st.text(max_size=80), address=st.text(max_size=60))
def test_arbitrary_text_in_free_text_fields_yields_findings_not_exceptions(
    host: str, name: str, address: str
) -> None:
    evaluate(
        {"smtp": {"host": host, "ehlo_name": host}, "sender": {"name": name, "address": address}}
    )


def test_every_key_has_help_text() -> None:
    from tui_mailsetup.settings import field_doc

    assert [key for key in field_keys() if not field_doc(key)] == []


def test_encoded_words_in_the_sender_name_are_refused_not_decoded() -> None:
    finding = next(
        f
        for f in check(sender={"name": "=?utf-8?q?Bank?="})
        if f.code == "sender-name-encoded-word"
    )
    assert finding.severity is Severity.ERROR


def test_a_value_that_does_not_parse_does_not_hide_the_other_findings() -> None:
    settings, findings = evaluate(
        {"smtp": {"host": "", "port": "587Y", "encryption": "tls"}, "sender": {"address": ""}}
    )
    assert settings is None
    assert codes(findings) == {"invalid-value", "host-empty", "sender-address-empty"}
    # The port/encryption check is left out: the port it would judge is not the one typed.
    assert "port-encryption-mismatch" not in codes(findings)
