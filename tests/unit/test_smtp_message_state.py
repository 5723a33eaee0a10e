"""The test message and the remembered state (last result, rate limit)."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import os
from pathlib import Path

import pytest

from tui_mailsetup import __version__, files
from tui_mailsetup.engine.events import Diagnosis, Outcome, Stage
from tui_mailsetup.exitcodes import ExitCode
from tui_mailsetup.message import MessageError, build_test_message
from tui_mailsetup.settings import MailSettings
from tui_mailsetup.state import load_state, record_outcome


def _settings(**sender: str) -> MailSettings:
    return MailSettings(
        smtp={
            "host": "smtp.example.com",
            "port": 587,
            "username": "alice",
            "password": "s3cret-pw",
        },
        sender={"name": "Acme Licensing", "address": "licensing@acme.example", **sender},
    )


def test_test_message_headers_and_body() -> None:
    moment = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    message = build_test_message(_settings(), ["ops@acme.example"], now=moment)
    assert message["Subject"] == "Test email from Acme Licensing"
    assert message["From"] == "Acme Licensing <licensing@acme.example>"
    assert message["To"] == "ops@acme.example"
    assert message["Date"] == "Fri, 02 Jan 2026 03:04:05 +0000"
    assert message["Message-ID"].endswith("@acme.example>")
    body = message.get_content()
    for expected in (
        "smtp.example.com",
        "587",
        "starttls",
        "alice",
        "smtp",
        "2026-01-02 03:04:05",
        __version__,
    ):
        assert expected in body
    assert "s3cret-pw" not in message.as_string()


def test_non_ascii_sender_name_is_encoded_without_smtputf8() -> None:
    message = build_test_message(_settings(name="Jürgen's Lizenzen"), ["ops@acme.example"])
    flat = message.as_bytes(policy=email.policy.SMTP)
    assert flat.isascii()
    parsed = email.message_from_bytes(flat, policy=email.policy.default)
    assert parsed["From"].addresses[0].display_name == "Jürgen's Lizenzen"


def test_invalid_addresses_are_rejected_not_repaired() -> None:
    with pytest.raises(MessageError):
        build_test_message(_settings(), ["not an address"])
    with pytest.raises(MessageError):
        build_test_message(_settings(address=""), ["ops@acme.example"])


@pytest.mark.parametrize("recipient", ["<a@b.test>", "a@b.test>", "=?utf-8?q?x?= <a@b.test>"])
def test_header_parse_errors_become_message_errors(recipient: str) -> None:
    with pytest.raises(MessageError) as caught:
        build_test_message(_settings(), [recipient])
    assert caught.value.exit_code == ExitCode.DATAERR


def test_sender_name_over_64_characters_is_refused() -> None:
    from tui_mailsetup import validation
    from tui_mailsetup.message import SENDER_NAME_MAX

    assert SENDER_NAME_MAX == validation.SENDER_NAME_MAX
    build_test_message(_settings(name="x" * 64), ["ops@acme.example"])
    # The settings refuse such a name when it enters; the builder refuses it again.
    too_long = _settings()
    too_long.sender.__dict__["name"] = "x" * 65
    with pytest.raises(MessageError, match=r"sender\.name") as caught:
        build_test_message(too_long, ["ops@acme.example"])
    assert caught.value.exit_code == ExitCode.DATAERR


def test_empty_sender_is_a_configuration_error() -> None:
    with pytest.raises(MessageError, match=r"sender\.address") as caught:
        build_test_message(_settings(address=""), ["ops@acme.example"])
    assert caught.value.exit_code == ExitCode.CONFIG


def _outcome(ok: bool, retry_after: float | None = None) -> Outcome:
    diagnosis = None
    if not ok:
        diagnosis = Diagnosis(
            Stage.MAIL, "Rate limited", exit_code=ExitCode.TEMPFAIL, retry_after=retry_after
        )
    return Outcome(ok, Stage.QUIT if ok else Stage.MAIL, 0.5, diagnosis)


def test_state_round_trip_and_rate_limit(tmp_path: Path) -> None:
    config = tmp_path / "conf" / "config.toml"
    assert load_state(config).last_test is None
    state = record_outcome(
        config, _outcome(False, retry_after=2_000.0), host="h", port=25, now=1_000.0
    )
    assert state.rate_limited(now=1_500.0) and not state.rate_limited(now=2_500.0)
    loaded = load_state(config)
    assert loaded.rate_limited_until == 2_000.0
    assert loaded.last_test is not None and loaded.last_test.cause == "Rate limited"
    assert loaded.last_test.exit_code == 75 and loaded.last_test.port == 25
    assert (os.stat(config.parent / "state.json").st_mode & 0o777) == 0o600
    summary = loaded.summary(now=1_500.0)
    assert summary["rate_limited_until"] == "1970-01-01 00:33:20 UTC"
    assert summary["last_test"].startswith(
        "failed at mail (exit 75): Rate limited (send-test to h:25)"
    )
    assert "rate_limited_until" not in loaded.summary(now=3_000.0)
    # A later failure without a time keeps the limit; a success clears it.
    record_outcome(config, _outcome(False), now=1_100.0)
    assert load_state(config).rate_limited_until == 2_000.0
    record_outcome(config, _outcome(True), now=1_200.0)
    assert load_state(config).rate_limited_until is None
    assert load_state(config).last_test is not None


def test_successful_check_keeps_the_rate_limit(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    record_outcome(config, _outcome(False, retry_after=2_000.0), now=1_000.0)
    for stage in (Stage.CONNECT, Stage.EHLO, Stage.AUTH, Stage.MAIL, Stage.RCPT):
        # `check` (or --quit-after) ends ok before a message was accepted.
        record_outcome(config, Outcome(True, stage, 0.1), kind="check", now=1_100.0)
        assert load_state(config).rate_limited_until == 2_000.0, stage
    record_outcome(config, Outcome(True, Stage.QUIT, 0.1), now=1_200.0)
    assert load_state(config).rate_limited_until is None


def test_state_tolerates_damage_and_unwritable_directories(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "config.toml"
    (tmp_path / "state.json").write_text("{not json")
    assert load_state(config).last_test is None

    # chmod would not stop root: make the write itself fail.
    def refuse(*args: object, **kwargs: object) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(files, "atomic_write", refuse)
    state = record_outcome(tmp_path / "ro" / "config.toml", _outcome(True))
    assert state.last_test is not None  # returned, even though it could not be written
    assert not (tmp_path / "ro" / "state.json").exists()
