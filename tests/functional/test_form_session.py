"""The form's decisions without a terminal (issue 23 item 1): what ctrl+s writes, which fix
F2 offers, whether a test may start, what the credentials section says about the secret.

No Pilot and no Textual here: :class:`~tui_mailsetup.tui.form_session.FormSession` is
driven as the screens drive it, against a real configuration file in a temporary folder.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tui_mailsetup.config_file import file_values, load_config, write_values
from tui_mailsetup.engine.events import Diagnosis, Outcome, Stage
from tui_mailsetup.fixes import Fix
from tui_mailsetup.secrets import read_credentials, secret_sources
from tui_mailsetup.tui.form_session import FormSession, Refusal, TestRequest

LOGIN = {"smtp.username": "ops"}
SERVER = {
    "smtp.host": "mail.example.test",
    "smtp.port": 587,
    "sender.name": "Acme Licensing",
    "sender.address": "licensing@acme.example",
}


def config(tmp_path: Path, values: dict[str, Any] | None = None) -> Path:
    path = tmp_path / "cfg" / "config.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(path.parent, 0o700)
    write_values(path, SERVER if values is None else values)
    return path


def session_for(path: Path) -> FormSession:
    loaded = load_config(path)
    session = FormSession.loaded(loaded, secret_sources(loaded))
    session.validate()
    return session


def test_the_session_decides_without_textual() -> None:
    # In a fresh interpreter (the suite's conftest loads Textual for the Pilot tests).
    code = (
        "import sys, tui_mailsetup.tui.form_session\n"
        "sys.exit(any(n.partition('.')[0] in {'textual', 'rich'} for n in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], timeout=120, check=False)
    assert result.returncode == 0, "the form session imported Textual (or Rich)"


def test_save_writes_only_the_keys_changed_here(tmp_path: Path) -> None:
    path = config(tmp_path)
    # A comment and a key of another tool's liking, written by hand: they must survive.
    path.write_text("# kept by hand\n" + path.read_text(encoding="utf-8"), encoding="utf-8")
    session = session_for(path)
    session.state.set("sender.name", "Ops Team")
    session.validate()
    assert session.changed_keys() == ["sender.name"]
    assert session.describe_changes() == ['sender.name: "Acme Licensing" → "Ops Team"']
    result = session.save()
    assert result.kind == "saved", result.message
    assert result.message == f"Saved to {path}"
    text = path.read_text(encoding="utf-8")
    assert text.startswith("# kept by hand\n")
    assert file_values(path)["sender.name"] == "Ops Team"
    # Defaults the person never touched are not written out.
    assert "timeout" not in text and "verify" not in text
    session.saved(load_config(path), {}, result.taken)
    assert not session.dirty


def test_a_key_changed_in_the_file_meanwhile_is_kept_and_said(tmp_path: Path) -> None:
    path = config(tmp_path)
    session = session_for(path)
    write_values(path, {"smtp.port": 2525})  # another shell's `set` while the form is open
    session.state.set("sender.name", "Ops Team")
    session.validate()
    result = session.save()
    assert result.kind == "saved"
    assert result.severity == "warning"
    assert result.taken == ["smtp.port"]
    assert "Changed in the file since it was loaded, and kept: smtp.port 2525" in result.message
    values = file_values(path)
    assert values["smtp.port"] == 2525 and values["sender.name"] == "Ops Team"
    # After the save the form shows the file's port, and has nothing left to save.
    shown = session.saved(load_config(path), {}, result.taken)
    assert shown == {"smtp.port": "2525"}
    assert session.state.get("smtp.port") == "2525"
    assert not session.dirty


def test_a_key_changed_on_both_sides_is_asked_about_then_settled(tmp_path: Path) -> None:
    path = config(tmp_path)
    session = session_for(path)
    # Another program's write, with an escape sequence in it (the dialog must not play it).
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace('"Acme Licensing"', '"From\\u001b[31m the file"'))
    session.state.set("sender.name", "Ops Team")
    session.validate()
    asked = session.save()
    assert asked.kind == "conflict"
    assert file_values(path)["sender.name"] == "From\x1b[31m the file"  # nothing written yet
    # The dialog shows both values, the file's with its control character escaped.
    ((key, ours, theirs),) = asked.conflict_rows
    assert (key, ours) == ("sender.name", '"Ops Team"')
    assert "\x1b" not in theirs and "the file" in theirs
    # Chosen "theirs": the file's value stays, the person's other changes are written.
    path = config(tmp_path / "theirs")
    session = session_for(path)
    write_values(path, {"sender.name": "From the file"})
    session.state.set("sender.name", "Ops Team")
    session.state.set("smtp.port", "2525")
    session.validate()
    asked = session.save()
    taken = session.save(resolved=("theirs", asked.conflicts))
    assert taken.kind == "saved"
    assert file_values(path)["sender.name"] == "From the file"
    assert file_values(path)["smtp.port"] == 2525
    # Chosen "mine" with values the person saw: theirs is replaced, and the message says so.
    session = session_for(path)
    write_values(path, {"sender.name": "Again"})
    session.state.set("sender.name", "Mine")
    session.validate()
    asked = session.save()
    mine = session.save(resolved=("mine", asked.conflicts))
    assert mine.kind == "saved"
    assert "Yours replaced the file's: sender.name" in mine.message
    assert file_values(path)["sender.name"] == "Mine"


def test_a_conflict_that_changed_again_since_the_dialog_is_asked_again(tmp_path: Path) -> None:
    path = config(tmp_path)
    session = session_for(path)
    write_values(path, {"sender.name": "First"})
    session.state.set("sender.name", "Mine")
    session.validate()
    asked = session.save()
    write_values(path, {"sender.name": "Second"})
    again = session.save(resolved=("mine", asked.conflicts))
    assert again.kind == "conflict"
    assert again.conflicts == {"sender.name": "Second"}
    assert file_values(path)["sender.name"] == "Second"


def test_a_typed_secret_goes_to_the_credentials_file_not_the_config(tmp_path: Path) -> None:
    path = config(tmp_path, {**SERVER, **LOGIN})
    session = session_for(path)
    assert session.secret_note().text == (
        "Password: not set: type it below, or set password_command."
    )
    session.state.set("smtp.password", "hunter2-secret")
    session.validate()
    assert session.secret_note().text == (
        "Password: typed here: saved to the owner-only credentials file with ctrl+s."
    )
    assert session.describe_changes() == ["smtp.password: typed (saved to the credentials file)"]
    assert session.save().kind == "saved"
    assert "hunter2-secret" not in path.read_text(encoding="utf-8")
    assert read_credentials(path)["smtp.password"] == "hunter2-secret"


def test_the_secret_note_names_the_source_and_why_a_stored_one_is_unused(tmp_path: Path) -> None:
    path = config(tmp_path, {**SERVER, "smtp.password_command": "pass show mail"})
    assert session_for(path).secret_note().text == (
        "Password: from password_command (run at each test)."
    )
    path = config(tmp_path / "other")
    credentials = path.with_name("credentials.toml")
    credentials.write_text('[smtp]\npassword = "x"\n', encoding="utf-8")
    os.chmod(credentials, 0o644)  # readable by others: not used, and the note says why
    note = session_for(path).secret_note()
    assert note.text.startswith("Password: not set")
    assert "credentials" in note.problem and "chmod" in note.problem


def test_the_fix_on_offer_is_the_focused_fields_then_the_tests_then_the_first(
    tmp_path: Path,
) -> None:
    path = config(tmp_path)
    session = session_for(path)
    assert session.fix_on_offer() is None
    session.state.set("smtp.port", "465")  # implicit TLS's port, STARTTLS chosen
    session.validate()
    offer = session.fix_on_offer()
    assert offer is not None
    fix, from_test = offer
    assert (fix.label, dict(fix.changes), from_test) == (
        "set encryption to TLS",
        {"smtp.encryption": "tls"},
        False,
    )
    # A failed test's fix comes before the form's, until its values are in the form.
    pin = Fix("pin the certificate", {"smtp.fingerprint": "AB:CD"})
    failed = Outcome(False, Stage.TLS, 0.1, Diagnosis(Stage.TLS, "untrusted", fix=pin))
    assert session.fix_on_offer(outcome=failed) == (pin, True)
    assert session.pin_to_confirm(pin) == "AB:CD"
    session.set_field("smtp.fingerprint", "AB:CD")
    assert session.pin_to_confirm(pin) == ""
    assert session.fix_on_offer(outcome=failed) == (fix, False)


def test_a_test_is_refused_with_the_first_error_or_without_a_recipient(tmp_path: Path) -> None:
    path = config(tmp_path)
    loaded = load_config(path)
    session = session_for(path)
    session.state.set("smtp.port", "abc")
    session.validate()
    refused = session.test_request("", loaded)
    assert isinstance(refused, Refusal)
    assert refused.title == "Fix 1 error(s) before testing"
    assert refused.message.startswith("smtp.port:")
    session.state.set("smtp.port", "587")
    session.state.set("sender.address", "")
    session.validate()
    refused = session.test_request("", loaded)
    assert isinstance(refused, Refusal) and "sender address" in refused.message.lower()


def test_a_test_goes_to_the_typed_recipient_else_the_sender(tmp_path: Path) -> None:
    path = config(tmp_path, {**SERVER, **LOGIN})
    loaded = load_config(path)
    session = session_for(path)
    session.state.set("smtp.password", "typed-now")
    session.validate()
    request = session.test_request("  ", loaded)
    assert isinstance(request, TestRequest)
    assert request.recipients == ["licensing@acme.example"]
    assert request.secret == "typed-now"  # typed, not yet saved: the test uses it
    assert request.heading == (
        "test email to licensing@acme.example via mail.example.test:587 (starttls)"
    )
    request = session.test_request("ops@example.org", loaded)
    assert isinstance(request, TestRequest) and request.recipients == ["ops@example.org"]


@pytest.mark.parametrize(
    ("query", "username_hint", "expected"),
    [
        ("me@example.org", "", {"smtp.username": "me@example.org"}),
        ("me@example.org", "your user name", {}),
        ("example.org", "", {}),
    ],
)
def test_detect_from_an_address_fills_only_empty_fields(
    tmp_path: Path, query: str, username_hint: str, expected: dict[str, str]
) -> None:
    session = session_for(config(tmp_path))
    assert session.identity_changes(query, None, username_hint) == expected


def test_xoauth2_follows_the_hosts_provider_unless_the_file_names_one(tmp_path: Path) -> None:
    from tui_mailsetup.presets import match_preset

    gmail = match_preset("smtp.gmail.com")
    assert gmail is not None and gmail.oauth2
    session = session_for(config(tmp_path, {**SERVER, "smtp.host": "smtp.gmail.com"}))
    assert session.oauth2_provider_changes(gmail) == {}  # a password login: nothing follows
    session.state.set("smtp.auth", "xoauth2")
    assert session.oauth2_provider_changes(gmail) == {"oauth2.provider": gmail.oauth2}
    named = config(
        tmp_path, {**SERVER, "smtp.host": "smtp.gmail.com", "oauth2.provider": "microsoft"}
    )
    session = session_for(named)
    session.state.set("smtp.auth", "xoauth2")
    assert session.oauth2_provider_changes(gmail, loading=True) == {}
    assert session.secret_note("Google").text.startswith("OAuth2: no password. Sign in with Google")
    # The password rows give way to the sign-in.
    assert session.hidden_keys() == {"smtp.password", "smtp.password_command"}


def test_a_finished_test_is_recorded_once_and_shown_from_what_was_recorded(
    tmp_path: Path,
) -> None:
    import time

    from tui_mailsetup.paths import state_path
    from tui_mailsetup.settings import MailSettings
    from tui_mailsetup.state import load_state
    from tui_mailsetup.tui.services import TestHistory

    path = config(tmp_path)
    history = TestHistory(path)
    assert history.last_result_text().plain == "Last test: none yet (ctrl+t sends one)"
    limited = Diagnosis(Stage.MAIL, "rate limited", retry_after=time.time() + 3600)
    settings = MailSettings.model_validate({"smtp": {"host": "mail.example.test", "port": 587}})
    assert history.record(Outcome(False, Stage.MAIL, 0.1, limited), settings) is None
    # Written for `show` and the next start …
    assert load_state(path).summary()["last_test"].startswith("failed at mail")
    # … and shown from what was recorded: the state file is not read back.
    state_path(path).unlink()
    shown = history.last_result_text().plain
    assert shown.startswith("Last test: failed at mail (exit 75): rate limited (tui to ")
    assert "mail.example.test:587" in shown
    rate = history.rate_limit_text()
    assert rate is not None and rate.plain.startswith("Rate limited until ")
