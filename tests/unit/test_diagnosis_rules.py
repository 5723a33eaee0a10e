"""The reply rules one by one: which named rule answers a reply, and that each keeps to its case."""

from __future__ import annotations

import copy

import pytest

from tui_mailsetup import presets
from tui_mailsetup.engine import diagnosis as diag
from tui_mailsetup.engine.diagnosis import replies
from tui_mailsetup.engine.events import Stage
from tui_mailsetup.exitcodes import ExitCode
from tui_mailsetup.settings import MailSettings
from tui_mailsetup.validation import validate

SETTINGS = MailSettings(
    smtp={"host": "smtp.example.com", "username": "alice@example.com", "auth": "plain"},
    sender={"address": "noreply@other.example"},
)
SES = MailSettings(
    smtp={"host": "email-smtp.eu-west-1.amazonaws.com", "username": "AKIAEXAMPLE"},
    sender={"address": "noreply@example.com"},
)


def answering_rule(reply: diag.Reply) -> str:
    """The name of the first rule that recognises ``reply`` (the one whose diagnosis is used)."""
    for rule in diag.REPLY_RULES:
        if rule(reply) is not None:
            return rule.__name__
    raise AssertionError("no rule answered")  # pragma: no cover - refused always answers


def reply(stage: Stage, code: int, message: str, settings: MailSettings = SETTINGS) -> diag.Reply:
    return diag.Reply(stage, code, message, settings, mechanism="PLAIN", now=1_000_000.0)


@pytest.mark.parametrize(
    ("rule", "stage", "code", "message", "settings"),
    [
        ("microsoft_auth_required", Stage.MAIL, 530, "5.7.57 Client not authenticated", SETTINGS),
        (
            "microsoft_smtp_auth_disabled",
            Stage.AUTH,
            535,
            "5.7.139 Authentication unsuccessful",
            SETTINGS,
        ),
        (
            "microsoft_basic_auth_refused",
            Stage.AUTH,
            550,
            "5.7.30 Basic authentication is not supported",
            SETTINGS,
        ),
        (
            "starttls_required",
            Stage.MAIL,
            530,
            "5.7.0 Must issue a STARTTLS command first",
            SETTINGS,
        ),
        ("authentication_required", Stage.MAIL, 530, "5.7.0 Authentication required", SETTINGS),
        ("starttls_refused", Stage.STARTTLS, 454, "4.7.0 TLS not available", SETTINGS),
        ("ses_smtp_credentials", Stage.AUTH, 535, "Authentication Credentials Invalid", SES),
        (
            "gmail_app_password",
            Stage.AUTH,
            534,
            "5.7.9 Application-specific password required",
            SETTINGS,
        ),
        (
            "auth_mechanism_refused",
            Stage.AUTH,
            504,
            "5.5.4 Unrecognized authentication type",
            SETTINGS,
        ),
        (
            "auth_temporary_failure",
            Stage.AUTH,
            454,
            "4.7.0 Temporary authentication failure",
            SETTINGS,
        ),
        (
            "credentials_rejected",
            Stage.AUTH,
            535,
            "5.7.8 Authentication credentials invalid",
            SETTINGS,
        ),
        ("rate_limited", Stage.MAIL, 421, "4.7.0 rate limit exceeded", SETTINGS),
        ("greeting_refused", Stage.GREETING, 554, "5.7.1 client host blocked", SETTINGS),
        ("ehlo_rejected", Stage.EHLO, 501, "5.5.2 Invalid EHLO name", SETTINGS),
        ("sender_denied", Stage.MAIL, 550, "5.7.1 Sender not permitted", SETTINGS),
        ("relay_denied", Stage.RCPT, 554, "5.7.1 Relay access denied", SETTINGS),
        ("message_too_large", Stage.DATA, 552, "5.3.4 Message too big", SETTINGS),
        ("recipient_refused", Stage.RCPT, 550, "5.1.1 User unknown", SETTINGS),
        ("content_rejected", Stage.DATA, 554, "5.7.1 Message rejected as spam", SETTINGS),
        ("refused", Stage.MAIL, 553, "5.1.8 Domain of sender address does not exist", SETTINGS),
    ],
)
def test_each_reply_finds_its_named_rule(
    rule: str, stage: Stage, code: int, message: str, settings: MailSettings
) -> None:
    which = reply(stage, code, message, settings)
    assert answering_rule(which) == rule
    # from_reply gives exactly that rule's diagnosis
    assert diag.from_reply(
        stage, code, message, settings, mechanism="PLAIN", now=1_000_000.0
    ) == getattr(replies, rule)(which)


def test_every_rule_is_named_documented_and_refused_comes_last() -> None:
    names = [rule.__name__ for rule in diag.REPLY_RULES]
    assert len(set(names)) == len(names)
    assert names[-1] == "refused"
    assert all(rule.__doc__ for rule in diag.REPLY_RULES)
    assert all(hasattr(replies, name) for name in names)


def test_a_plain_535_is_credentials_rejected_and_says_one_attempt_was_made() -> None:
    result = replies.credentials_rejected(reply(Stage.AUTH, 535, "5.7.8 Bad credentials"))
    assert result is not None
    assert result.exit_code == ExitCode.NOPERM
    assert "rejected the username or password (535)" in result.cause
    assert "One attempt was made (PLAIN as alice@example.com)" in result.explanation


@pytest.mark.parametrize(
    ("rule", "stage", "code", "message"),
    [
        # authentication rules keep to the AUTH stage
        ("credentials_rejected", Stage.MAIL, 535, "5.7.8 Bad credentials"),
        ("auth_temporary_failure", Stage.MAIL, 454, "4.7.0 Temporary failure"),
        ("auth_mechanism_refused", Stage.MAIL, 504, "5.5.4 Unrecognized command"),
        ("gmail_app_password", Stage.MAIL, 535, "5.7.8 gmail BadCredentials"),
        # SES's rule needs the SES SMTP host, not any 535
        ("ses_smtp_credentials", Stage.AUTH, 535, "Authentication Credentials Invalid"),
        # 421 at STARTTLS is the server going away, not a STARTTLS refusal
        ("starttls_refused", Stage.STARTTLS, 421, "4.3.2 Service shutting down"),
        # a 535 naming a mechanism is still a wrong password
        ("auth_mechanism_refused", Stage.AUTH, 535, "5.7.8 mechanism PLAIN: bad credentials"),
        # a sender refusal that talks of relaying is about relaying
        ("sender_denied", Stage.MAIL, 550, "5.7.1 relaying not permitted"),
        ("message_too_large", Stage.RCPT, 552, "5.2.2 Mailbox full"),
        ("recipient_refused", Stage.RCPT, 450, "4.2.1 Mailbox busy"),
        ("rate_limited", Stage.MAIL, 454, "4.3.0 could not generate a session id"),
    ],
)
def test_rules_leave_other_replies_alone(rule: str, stage: Stage, code: int, message: str) -> None:
    assert getattr(replies, rule)(reply(stage, code, message)) is None


def test_provider_codes_win_over_the_generic_meaning_of_535() -> None:
    # 535 5.7.139 at AUTH would be a wrong password by the generic rule; Microsoft's code says more
    which = reply(Stage.AUTH, 535, "5.7.139 Authentication unsuccessful, SMTP AUTH disabled")
    assert replies.credentials_rejected(which) is not None
    assert answering_rule(which) == "microsoft_smtp_auth_disabled"
    # and on the SES SMTP host a 535 names the SES credentials, not the password
    assert answering_rule(reply(Stage.AUTH, 535, "Bad credentials", SES)) == "ses_smtp_credentials"


def test_refused_is_temporary_for_4xx_with_the_time_the_reply_names() -> None:
    temporary = replies.refused(reply(Stage.MAIL, 471, "4.7.1 try in 10 minutes"))
    assert temporary.exit_code == ExitCode.TEMPFAIL
    assert temporary.retry_after == 1_000_000.0 + 600
    permanent = replies.refused(reply(Stage.MAIL, 553, "5.1.8 in 10 minutes"))
    assert permanent.exit_code == ExitCode.UNAVAILABLE
    assert permanent.retry_after is None


def test_ehlo_rejected_points_at_the_ehlo_name() -> None:
    result = replies.ehlo_rejected(reply(Stage.EHLO_AGAIN, 550, "5.7.1 bad HELO"))
    assert result is not None
    assert result.exit_code == ExitCode.PROTOCOL
    assert "smtp.ehlo_name" in result.explanation


def test_auth_mechanism_refused_offers_auto_only_when_a_mechanism_was_chosen() -> None:
    chosen = replies.auth_mechanism_refused(reply(Stage.AUTH, 504, "5.5.4 Unrecognized"))
    assert chosen is not None and chosen.fix is not None
    assert chosen.fix.changes == {"smtp.auth": "auto"}
    auto = MailSettings(smtp={"host": "smtp.example.com", "username": "a@example.com"})
    left_to_auto = replies.auth_mechanism_refused(
        reply(Stage.AUTH, 504, "5.5.4 Unrecognized", auto)
    )
    assert left_to_auto is not None
    assert left_to_auto.fix is None


# --------------------------------------------------------------------------- retry-after (SMTP and HTTP)

NOW = 1_000_000_000.0


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("120", NOW + 120),
        (" 120 ", NOW + 120),
        ("0", NOW),
        # an HTTP-date: IMF-fixdate, and the obsolete RFC 850 and asctime forms (RFC 9110 5.6.7)
        ("Sun, 09 Sep 2001 02:46:40 GMT", NOW + 3600),
        ("Sunday, 09-Sep-01 02:46:40 GMT", NOW + 3600),
        ("Sun Sep  9 02:46:40 2001", NOW + 3600),
        # longer than a day is cut to a day, as for SMTP replies
        ("999999", NOW + diag.MAX_BACKOFF),
        ("Mon, 10 Sep 2001 12:00:00 GMT", NOW + diag.MAX_BACKOFF),
        # a date in the past asks for no wait; nonsense names no time
        ("Sat, 08 Sep 2001 01:46:40 GMT", None),
        ("Sun, 09 Sep 2001 01:46:40 GMT", None),
        ("soon", None),
        ("", None),
        ("-5", None),
    ],
)
def test_retry_after_header_reads_both_http_forms(header: str, expected: float | None) -> None:
    assert diag.retry_after_header(header, now=NOW) == expected


# --------------------------------------------------------------------------- provider facts, one home


def test_provider_codes_come_from_the_presets_data() -> None:
    assert presets.reply_code("microsoft", "smtp_auth_disabled") == "5.7.139"
    assert presets.reply_code("microsoft", "basic_auth_refused") == "5.7.30"
    assert presets.reply_code("microsoft", "not_authenticated") == "5.7.57"
    assert presets.reply_code("microsoft", "token_refused") == "5.7.3"
    assert presets.reply_code("google", "bad_credentials") == "5.7.8"
    assert presets.reply_code("google", "stronger_sign_in") == "5.7.9"


def test_diagnosis_and_validation_read_the_same_provider_fact(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    data = copy.deepcopy(presets.presets_data())
    data["replies"]["google"]["bad_credentials"] = "5.7.99"
    monkeypatch.setattr(presets, "presets_data", lambda: data)
    gmail = MailSettings(smtp={"host": "smtp.gmail.com", "username": "alice@gmail.com"})
    advice = [f.message for f in validate(gmail, secret_sources={"smtp.password": "env"})]
    assert any("refused with 535-5.7.99" in message for message in advice), advice
    new = reply(Stage.AUTH, 535, "5.7.99 Username and Password not accepted. gmail", gmail)
    old = reply(Stage.AUTH, 535, "5.7.8 Username and Password not accepted. gmail", gmail)
    assert answering_rule(new) == "gmail_app_password"
    assert answering_rule(old) == "credentials_rejected"


def test_every_ses_preset_host_is_an_ses_smtp_host() -> None:
    ses_hosts = [p.host for p in presets.load_presets() if p.kind == "ses"]
    assert len(ses_hosts) > 20
    assert all(presets.is_ses_smtp_host(host) for host in ses_hosts)
    assert presets.is_ses_smtp_host("email-smtp-fips.us-east-1.amazonaws.com")
    assert not presets.is_ses_smtp_host("email-smtp.example.com")
    assert not presets.is_ses_smtp_host("smtp.gmail.com")
