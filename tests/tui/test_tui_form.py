"""The form model under the TUI (no Textual): raw widget values to what the validator sees."""

from __future__ import annotations

import pytest

from tui_mailsetup.settings import MailSettings
from tui_mailsetup.tui.form import FIELDS, SECTIONS, FormState, parse_raw, suggested_port
from tui_mailsetup.validation import evaluate


def test_every_settable_key_with_a_widget_is_a_real_key() -> None:
    from tui_mailsetup.settings import field_keys

    keys = set(field_keys())
    assert set(FIELDS) <= keys
    assert [section.id for section in SECTIONS] == [
        "driver",
        "server",
        "credentials",
        "sender",
        "review",
    ]


@pytest.mark.parametrize(
    ("key", "raw", "parsed"),
    [
        ("smtp.port", "465", 465),
        ("smtp.port", " 25 ", 25),
        ("smtp.port", "abc", "abc"),
        ("smtp.port", "", ""),
        ("smtp.timeout", "2.5", 2.5),
        ("smtp.verify", False, False),
        ("smtp.host", "mx.example", "mx.example"),
    ],
)
def test_parse_raw_keeps_what_does_not_parse_for_the_validator(
    key: str, raw: object, parsed: object
) -> None:
    assert parse_raw(FIELDS[key], raw) == parsed


def test_typed_values_and_secrets_reach_the_validator() -> None:
    state = FormState.from_settings(MailSettings(), {"smtp.password": None})
    state.set("smtp.host", "smtp.example.com")
    state.set("smtp.username", "alice")
    settings, findings = evaluate(state.data(), secret_sources=state.secret_sources())
    assert settings is not None
    assert any(f.field == "smtp.password" or "password" in f.message for f in findings)
    state.set("smtp.password", "pw")
    assert state.secret_sources()["smtp.password"] == "typed"
    settings, findings = evaluate(state.data(), secret_sources=state.secret_sources())
    assert settings is not None and settings.smtp.password is not None
    state.set("smtp.port", "x")
    settings, findings = evaluate(state.data(), secret_sources=state.secret_sources())
    assert settings is None and findings[0].field == "smtp.port"


@pytest.mark.parametrize(
    ("encryption", "port", "suggested"),
    [
        ("tls", "587", 465),
        ("starttls", "465", 587),
        ("starttls", "2525", None),
        ("tls", "465", None),
        ("none", "465", 25),
        ("tls", "10025", None),
        ("tls", "", 465),
    ],
)
def test_suggested_port_only_replaces_usual_ports(
    encryption: str, port: str, suggested: int | None
) -> None:
    assert suggested_port(encryption, port) == suggested


def test_a_passed_verdict_shows_the_outcomes_warnings() -> None:
    """The CLI prints them and puts them in JSON; the TUI's verdict must say them too."""
    from tui_mailsetup.engine.events import Outcome, Stage
    from tui_mailsetup.tui.widgets.diagnostics import verdict_text

    warning = "the server accepted the message but never answered QUIT: do not send it again"
    outcome = Outcome(True, Stage.DATA, 0.4, recipients=("a@example.com",), warnings=(warning,))
    shown = verdict_text(outcome).plain
    assert "PASSED" in shown and warning in shown


def test_label_tables_cover_the_settings_enums() -> None:
    """The form's tables are keyed by the enums' values (the first frame needs no model)."""
    from tui_mailsetup.settings import AuthMechanism, Driver, Encryption, MailgunRegion
    from tui_mailsetup.tui.form import DRIVER_LABELS, ENCRYPTION_LABELS, MAILGUN_REGION_LABELS

    assert set(DRIVER_LABELS) == {d.value for d in Driver}
    assert set(ENCRYPTION_LABELS) == {e.value for e in Encryption}
    assert set(MAILGUN_REGION_LABELS) == {r.value for r in MailgunRegion}
    assert [value for _, value in FIELDS["smtp.auth"].choices] == [m.value for m in AuthMechanism]
    # Every field's drivers are drivers, and a StrEnum member finds its label.
    assert all(
        spec.drivers is None or spec.drivers <= set(DRIVER_LABELS) for spec in FIELDS.values()
    )
    assert DRIVER_LABELS[Driver.SES] == "Amazon SES (API)"
    assert FIELDS["smtp.host"].applies_to(Driver.SMTP) and not FIELDS["smtp.host"].applies_to("ses")
