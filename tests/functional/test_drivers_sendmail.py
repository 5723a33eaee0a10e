"""The sendmail driver against a fake sendmail binary that records what it was given."""

from __future__ import annotations

import json
import sys
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from tests.support.cli_helpers import run_cli
from tests.support.events import collect, outcome_of
from tui_mailsetup.drivers.sendmail import SendmailDriver
from tui_mailsetup.engine.events import Stage, StageFinished, TranscriptLine
from tui_mailsetup.message import build_test_message
from tui_mailsetup.settings import MailSettings

FAKE = """#!{python}
import json, os, sys
data = sys.stdin.buffer.read()
with open({record!r}, "w") as out:
    json.dump({{"argv": sys.argv[1:], "data": data.decode("utf-8")}}, out)
print("fake sendmail: \\x1b[31mqueued\\x1b[0m")
sys.exit(int(os.environ.get("FAKE_SENDMAIL_EXIT", "0")))
"""


@pytest.fixture
def fake_sendmail(tmp_path: Path) -> tuple[Path, Path]:
    record = tmp_path / "record.json"
    script = tmp_path / "sendmail"
    script.write_text(FAKE.format(python=sys.executable, record=str(record)))
    script.chmod(0o755)
    return script, record


def settings_for(path: Path) -> MailSettings:
    return MailSettings.model_validate(
        {
            "driver": "sendmail",
            "sendmail": {"path": str(path)},
            "sender": {"name": "Acme", "address": "licensing@acme.example"},
        }
    )


async def test_sends_through_the_binary(fake_sendmail: tuple[Path, Path]) -> None:
    script, record = fake_sendmail
    settings = settings_for(script)
    message = build_test_message(settings, ["bob@example.com"])
    events = await collect(SendmailDriver(settings).send(message, ["bob@example.com"]))
    outcome = outcome_of(events)
    assert outcome.ok, outcome
    assert outcome.stage is Stage.SEND
    assert outcome.message_id == message["Message-ID"]
    recorded: dict[str, Any] = json.loads(record.read_text())
    assert recorded["argv"] == ["-i", "-f", "licensing@acme.example", "--", "bob@example.com"]
    assert "Subject: Test email from Acme" in recorded["data"]
    assert "\r\n" not in recorded["data"]
    lines = [e.text for e in events if isinstance(e, TranscriptLine)]
    assert any(line.startswith("$ ") and "--" in line for line in lines)
    assert all("\x1b" not in line for line in lines)
    assert any("fake sendmail" in line for line in lines)


async def test_recipients_cannot_become_options(fake_sendmail: tuple[Path, Path]) -> None:
    script, record = fake_sendmail
    settings = settings_for(script)
    message = EmailMessage()
    message["Subject"] = "x"
    message.set_content("x")
    await collect(SendmailDriver(settings).send(message, ["-X/tmp/log"]))
    argv = json.loads(record.read_text())["argv"]
    assert argv.index("--") < argv.index("-X/tmp/log")


@pytest.mark.parametrize(("status", "expected"), [(67, 67), (75, 75), (78, 78), (1, 69)])
async def test_exit_status_maps_to_sysexits(
    fake_sendmail: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch, status: int, expected: int
) -> None:
    script, _ = fake_sendmail
    monkeypatch.setenv("FAKE_SENDMAIL_EXIT", str(status))
    settings = settings_for(script)
    message = build_test_message(settings, ["bob@example.com"])
    outcome = outcome_of(await collect(SendmailDriver(settings).send(message, ["bob@example.com"])))
    assert not outcome.ok
    assert outcome.diagnosis is not None
    assert int(outcome.exit_code) == expected
    assert f"status {status}" in outcome.diagnosis.cause


async def test_missing_binary_is_a_configuration_error(tmp_path: Path) -> None:
    settings = settings_for(tmp_path / "nope" / "sendmail")
    message = build_test_message(settings, ["bob@example.com"])
    events = await collect(SendmailDriver(settings).send(message, ["bob@example.com"]))
    outcome = outcome_of(events)
    assert not outcome.ok
    assert int(outcome.exit_code) == 78
    assert outcome.diagnosis is not None and "no sendmail binary" in outcome.diagnosis.cause
    assert any(isinstance(e, StageFinished) and not e.ok for e in events)


async def test_check_does_not_run_the_binary(fake_sendmail: tuple[Path, Path]) -> None:
    script, record = fake_sendmail
    settings = settings_for(script)
    message = build_test_message(settings, ["bob@example.com"])
    outcome = outcome_of(
        await collect(
            SendmailDriver(settings).send(message, ["bob@example.com"], stop_after=Stage.AUTH)
        )
    )
    assert outcome.ok
    assert not record.exists()


def test_send_test_command_uses_the_driver(
    fake_sendmail: tuple[Path, Path], tmp_path: Path, isolated_home: Path
) -> None:

    from tui_mailsetup.config_file import write_values

    script, record = fake_sendmail
    config = tmp_path / "conf" / "config.toml"
    write_values(
        config,
        {"driver": "sendmail", "sendmail.path": str(script), "sender.address": "a@example.com"},
    )
    ran = run_cli("--config", str(config), "send-test", "--json", home=isolated_home)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert json.loads(ran.stdout)["ok"] is True
    assert json.loads(record.read_text())["argv"][-1] == "a@example.com"
