"""send-test as a cron job and a gateway test would use it: --quiet, the verdict on stderr,
the message shaped with --subject/--body/--header/--attach (issue 22 items 4 and 7)."""

from __future__ import annotations

import email
import email.policy
from pathlib import Path

import pytest

from tests.support.cli_helpers import run_cli
from tui_mailsetup.config_file import write_values
from tui_mailsetup.sandbox import Sandbox

PASSWORD = "shaping-secret-Ä"


def _config(tmp_path: Path, box: Sandbox | None = None) -> Path:
    config = tmp_path / "conf" / "config.toml"
    smtp = box.smtp_settings() if box else {"host": "127.0.0.1", "port": 9, "encryption": "none"}
    write_values(
        config,
        {
            **{f"smtp.{k}": v for k, v in smtp.items()},
            "smtp.timeout": 20,
            "sender.address": "me@example.com",
        },
    )
    return config


def test_the_message_is_shaped_and_shown_in_the_transcript(
    tmp_path: Path, isolated_home: Path
) -> None:
    body = tmp_path / "body.txt"
    body.write_text("Hello gateway,\nthis is the body.\n")
    attachment = tmp_path / "report.csv"
    attachment.write_bytes(b"a,b\n1,2\n")
    with Sandbox(mode="starttls", password=PASSWORD) as box:
        config = _config(tmp_path, box)
        result = run_cli(
            "--config", str(config), "send-test",
            "--subject", "Gateway test ✓",
            "--body-file", str(body),
            "--header", "X-Test-Run: 42",
            "--header", "X-Priority: 1",
            "--attach", str(attachment),
            home=isolated_home, env={"MAILSETUP_SMTP__PASSWORD": PASSWORD},
        )  # fmt: skip
        assert result.returncode == 0, result.stdout + result.stderr
        [received] = box.wait_for_message()
    message = email.message_from_bytes(received.data, policy=email.policy.default)
    assert message["Subject"] == "Gateway test ✓"
    assert message["X-Test-Run"] == "42" and message["X-Priority"] == "1"
    text = message.get_body(("plain",))
    assert text is not None and "this is the body." in text.get_content()
    [attached] = list(message.iter_attachments())
    assert attached.get_filename() == "report.csv"
    assert attached.get_content().replace("\r\n", "\n").encode() == b"a,b\n1,2\n"
    for shown in ("Subject: Gateway test ✓", "X-Test-Run: 42", "attachment: report.csv (8 bytes"):
        assert shown in result.stdout


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (("--header", "X-Evil: a\r\nBcc: victim@example.com"), "header injection"),
        (("--header", "X-Evil: a\nBcc: victim@example.com"), "header injection"),
        (("--header", "Bcc: victim@example.com"), "sets this header itself"),
        (("--header", "No colon here"), "Name: value"),
        (("--header", "Bad Name: x"), "Name: value"),
        (("--subject", "hi\r\nBcc: victim@example.com"), "line break"),
        (("--body", "a\x1b]0;title\x07b"), "control characters"),
        (("--attach", "/nonexistent/file"), "cannot read"),
        (("--body-file", "/nonexistent/file"), "cannot read"),
        (("--attach", "/dev/zero"), "not a regular file"),
        (("--body-file", "/dev/zero"), "not a regular file"),
    ],
)
def test_unsafe_shaping_is_refused_with_65_before_any_connection(
    tmp_path: Path, isolated_home: Path, args: tuple[str, ...], said: str
) -> None:
    # Port 9: nothing listens; the refusal comes first, so nothing is ever tried.
    config = _config(tmp_path)
    result = run_cli("--config", str(config), "send-test", *args, home=isolated_home)
    assert result.returncode == 65, result.stdout + result.stderr
    assert said in result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""
    as_json = run_cli("--config", str(config), "--json", "send-test", *args, home=isolated_home)
    assert as_json.returncode == 65
    assert as_json.json()["ok"] is False and said in as_json.json()["diagnosis"]["cause"]


def test_quiet_prints_nothing_on_success_and_only_the_verdict_on_failure(
    tmp_path: Path, isolated_home: Path
) -> None:
    with Sandbox(mode="starttls", password=PASSWORD) as box:
        config = _config(tmp_path, box)
        ok = run_cli(
            "--config", str(config), "send-test", "--quiet",
            home=isolated_home, env={"MAILSETUP_SMTP__PASSWORD": PASSWORD},
        )  # fmt: skip
        assert ok.returncode == 0, ok.stderr
        assert (ok.stdout, ok.stderr) == ("", "")
        failed = run_cli(
            "--config", str(config), "-q", "send-test",
            home=isolated_home, env={"MAILSETUP_SMTP__PASSWORD": "wrong"},
        )  # fmt: skip
        assert failed.returncode == 77
        assert failed.stdout == ""
        assert failed.stderr.startswith("FAILED at AUTH")
        assert "why:" in failed.stderr and "->" not in failed.stderr  # no transcript
        # Without --quiet the verdict goes to stderr too: `send-test >/dev/null` shows it.
        human = run_cli(
            "--config", str(config), "send-test",
            home=isolated_home, env={"MAILSETUP_SMTP__PASSWORD": "wrong"},
        )  # fmt: skip
        assert "FAILED at AUTH" in human.stderr and "FAILED at AUTH" not in human.stdout
        assert "<-" in human.stdout  # the transcript stays on stdout


def test_verbose_adds_the_stages_and_capabilities(tmp_path: Path, isolated_home: Path) -> None:
    with Sandbox(mode="starttls", password=PASSWORD) as box:
        config = _config(tmp_path, box)
        result = run_cli(
            "--config", str(config), "check", "--no-dns", "--verbose",
            home=isolated_home, env={"MAILSETUP_SMTP__PASSWORD": PASSWORD},
        )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "--- capabilities:" in result.stdout and "STARTTLS" in result.stdout
    assert "--quiet and --verbose" in run_cli("-q", "-v", "show", home=isolated_home).stderr
