"""``tui-mailsetup send-test`` as a subprocess, against the sandbox and scripted servers."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.support.cli_helpers import Result, run_cli
from tests.support.smtp_servers import Conn, ScriptedServer
from tui_mailsetup.sandbox import Sandbox

PASSWORD = "pässwörd-CLI-secret"


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(value)


def _write_config(directory: Path, smtp: dict[str, Any], sender: str = "me@example.com") -> Path:
    config = directory / "config.toml"
    lines = ["[smtp]", *(f"{k} = {_toml_value(v)}" for k, v in smtp.items())]
    lines += ["[sender]", 'name = "CLI Test"', f"address = {json.dumps(sender)}"]
    config.write_text("\n".join(lines) + "\n")
    return config


def _env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(extra)
    return env


def _run(config: Path, *args: str, env: dict[str, str] | None = None) -> Result:
    home = Path(os.environ["HOME"])  # the test's own (isolated_home)
    return run_cli("--config", str(config), "send-test", *args, home=home, env=env)


def test_send_test_human_transcript(tmp_path: Path) -> None:
    with Sandbox(mode="starttls", password=PASSWORD) as box:
        config = _write_config(tmp_path, {**box.smtp_settings(), "timeout": 10})
        result = _run(config, env=_env(MAILSETUP_SMTP__PASSWORD=PASSWORD))
        assert result.returncode == 0, result.stdout + result.stderr
        out = result.stdout
        assert "-> STARTTLS" in out and "~> EHLO" in out and "<~ 235" in out
        assert "OK: the server accepted the test message for me@example.com" in out
        assert PASSWORD not in out + result.stderr
        assert "\x1b" not in out  # NO_COLOR (set by conftest), and not a TTY anyway
        [message] = box.messages
        assert message.rcpt_tos == ("me@example.com",)  # default recipient: the sender
        state = json.loads((tmp_path / "state.json").read_text())
        assert state["last_test"]["ok"] is True


def test_send_test_json_success_and_to(tmp_path: Path) -> None:
    with Sandbox(mode="tls", password=PASSWORD) as box:
        config = _write_config(tmp_path, {**box.smtp_settings(), "timeout": 10})
        result = _run(
            config,
            "--to",
            "ops@example.com",
            "--json",
            env=_env(MAILSETUP_SMTP__PASSWORD=PASSWORD),
        )
        assert result.returncode == 0, result.stderr
        document = json.loads(result.stdout)
        assert document["ok"] is True and document["stage"] == "quit"
        assert isinstance(document["elapsed"], float)
        assert document["diagnosis"] is None and document["exit_code"] == 0
        assert document["tls"]["verified"] is True
        assert PASSWORD not in result.stdout
        assert box.messages[0].rcpt_tos == ("ops@example.com",)


def test_send_test_json_failure_has_cause_and_fix(tmp_path: Path) -> None:
    with Sandbox(mode="tls", auth=False) as box:
        config = _write_config(
            tmp_path, {**box.smtp_settings(), "encryption": "starttls", "timeout": 10}
        )
        result = _run(config, "--json")
        assert result.returncode == 76, result.stdout + result.stderr
        document = json.loads(result.stdout)
        assert document["ok"] is False
        assert "implicit TLS" in document["diagnosis"]["cause"]
        assert document["diagnosis"]["fix"]["changes"] == {"smtp.encryption": "tls"}
        assert document["diagnosis"]["fix_commands"] == ["tui-mailsetup set smtp.encryption tls"]


def test_send_test_wrong_password_exit_77_and_no_secret(tmp_path: Path) -> None:
    with Sandbox(mode="starttls", password=PASSWORD) as box:
        config = _write_config(tmp_path, {**box.smtp_settings(), "timeout": 10})
        result = _run(config, env=_env(MAILSETUP_SMTP__PASSWORD="wrong-" + PASSWORD))
        assert result.returncode == 77
        assert "FAILED at AUTH" in result.stderr  # the verdict: visible with >/dev/null
        assert PASSWORD not in result.stdout + result.stderr
        assert len(box.auth_attempts) == 1


def test_send_test_bad_config_exit_78(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text("[smtp]\nport = 99999\n")
    result = _run(config)
    assert result.returncode == 78
    assert "port" in result.stderr


async def test_rate_limit_is_remembered(tmp_path: Path) -> None:
    async def script(conn: Conn) -> None:
        await conn.reply("220 busy.test ESMTP")
        await conn.expect("EHLO")
        await conn.reply("250-busy.test", "250 8BITMIME")
        await conn.expect("MAIL FROM")
        await conn.reply("451 4.7.1 Rate limit exceeded, retry in 120 seconds")

    async with ScriptedServer(script) as server:
        config = _write_config(
            tmp_path, {"host": "127.0.0.1", "port": server.port, "encryption": "none", "timeout": 5}
        )
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tui_mailsetup",
            "--config",
            str(config),
            "send-test",
            "--json",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        stdout, _ = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 75
    document = json.loads(stdout)
    assert document["stage"] == "mail" and document["diagnosis"]["retry_after"] is not None
    state = json.loads((tmp_path / "state.json").read_text())
    assert state["rate_limited_until"] == document["diagnosis"]["retry_after"]


async def test_transcript_streams_before_the_conversation_ends(tmp_path: Path) -> None:
    greet = asyncio.Event()

    async def script(conn: Conn) -> None:
        await greet.wait()  # no greeting until the test has seen "Connect: ok" on stdout
        await conn.reply("220 stream.test ESMTP")
        await conn.expect("EHLO")
        await conn.reply("250 stream.test")
        await conn.expect("QUIT")
        await conn.reply("221 bye")

    async with ScriptedServer(script) as server:
        smtp = {"host": "127.0.0.1", "port": server.port, "encryption": "none", "timeout": 20}
        config = _write_config(tmp_path, smtp, sender="ops@acme.com")
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "tui_mailsetup", "--config", str(config), "check", "--no-dns",
            stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip
        assert process.stdout is not None
        seen: list[str] = []
        async with asyncio.timeout(15):
            while not any("Connect: ok" in line for line in seen):
                line = await process.stdout.readline()
                assert line, "".join(seen)  # EOF before the line: not streamed
                seen.append(line.decode())
        assert process.returncode is None  # still waiting for the greeting
        greet.set()
        rest, _ = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 0, "".join(seen) + rest.decode()


def test_colour_only_on_a_terminal_without_no_color(monkeypatch: Any) -> None:
    import io

    from tui_mailsetup.cli.output import use_colour as use_color

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm-256color")
    assert use_color(Tty()) is True
    assert use_color(io.StringIO()) is False
    monkeypatch.setenv("NO_COLOR", "1")
    assert use_color(Tty()) is False


def test_failing_password_command_is_exit_78(tmp_path: Path) -> None:
    with Sandbox(mode="starttls") as box:
        smtp = {**box.smtp_settings(), "timeout": 10, "password_command": "false"}
        config = _write_config(tmp_path, smtp)
        result = _run(config, "--json")
        assert result.returncode == 78, result.stdout + result.stderr
        document = json.loads(result.stdout)
        assert document["stage"] == "auth" and document["ok"] is False
        assert "password" in document["diagnosis"]["cause"]
        assert box.auth_attempts == []


def test_send_test_unparseable_recipient_is_65_without_traceback(tmp_path: Path) -> None:
    # The message is built before any connection: port 9 is never contacted.
    config = _write_config(tmp_path, {"host": "127.0.0.1", "port": 9, "encryption": "none"})
    result = _run(config, "--to", "<a@b.test>")
    assert result.returncode == 65, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert "recipient" in result.stderr  # the verdict goes to stderr


def test_send_test_long_sender_name_in_the_file_is_78_with_path_and_line(tmp_path: Path) -> None:
    # Issue 8: a value invalid on its own is refused where it enters; from the file that
    # is a configuration error naming path:line (`set` refuses the same value with 65).
    config = _write_config(tmp_path, {"host": "127.0.0.1", "port": 9, "encryption": "none"})
    text = config.read_text().replace('name = "CLI Test"', f'name = "{"n" * 65}"')
    config.write_text(text)
    result = _run(config, "--json")
    assert result.returncode == 78, result.stdout + result.stderr
    assert f"{config}:" in result.stdout and "sender.name" in result.stdout
    assert _check(config, "--offline").returncode == 78


def test_send_test_empty_sender_is_78_with_or_without_to(tmp_path: Path) -> None:
    config = _write_config(
        tmp_path, {"host": "127.0.0.1", "port": 9, "encryption": "none"}, sender=""
    )
    for args in ((), ("--to", "ops@example.com")):
        result = _run(config, "--json", *args)
        assert result.returncode == 78, (args, result.stdout + result.stderr)
        document = json.loads(result.stdout)
        assert document["stage"] == "config"
        assert "sender.address" in document["diagnosis"]["cause"]


def _check(config: Path, *args: str, env: dict[str, str] | None = None) -> Any:
    return subprocess.run(
        # --no-dns: the sender domain's DNS checks would ask the system resolver.
        [
            sys.executable,
            "-m",
            "tui_mailsetup",
            "--config",
            str(config),
            "check",
            "--no-dns",
            *args,
        ],
        capture_output=True,
        text=True,
        env=env or _env(),
        timeout=60,
    )


def test_check_quit_after_message_stages_uses_the_sender_as_recipient(tmp_path: Path) -> None:
    with Sandbox(mode="starttls", password=PASSWORD) as box:
        # check validates first: the sender must be a deliverable-looking address.
        config = _write_config(tmp_path, {**box.smtp_settings(), "timeout": 10}, "ops@acme.com")
        env = _env(MAILSETUP_SMTP__PASSWORD=PASSWORD)
        for stage in ("mail", "rcpt"):
            result = _check(config, "--quit-after", stage, "--json", env=env)
            assert result.returncode == 0, result.stdout + result.stderr
            document = json.loads(result.stdout)
            assert document["ok"] is True and document["stage"] == stage
        assert box.messages == []  # DATA never ran


def test_check_quit_after_tls_on_starttls_reaches_starttls(tmp_path: Path) -> None:
    with Sandbox(mode="starttls", password=PASSWORD) as box:
        config = _write_config(tmp_path, {**box.smtp_settings(), "timeout": 10}, "ops@acme.com")
        env = _env(MAILSETUP_SMTP__PASSWORD=PASSWORD)
        result = _check(config, "--quit-after", "tls", "--json", env=env)
        assert result.returncode == 0, result.stdout + result.stderr
        assert json.loads(result.stdout)["stage"] == "starttls"


def test_early_failures_are_neutralised_too(tmp_path: Path) -> None:
    config = _write_config(tmp_path, {"host": "127.0.0.1", "port": 9, "encryption": "none"})
    result = _run(config, "--to", "\x1b]0;pwned\x07<a@b.test>")
    assert result.returncode == 65, result.stdout + result.stderr
    assert (
        "\x1b" not in result.stdout + result.stderr and "\x07" not in result.stdout + result.stderr
    )
    assert "\\x1b]0;pwned" in result.stdout + result.stderr


def test_send_test_honours_overrides_for_one_run(tmp_path: Path) -> None:
    with Sandbox(mode="starttls", password=PASSWORD) as box:
        # The file names a port nothing listens on; the override points at the sandbox.
        config = _write_config(tmp_path, {**box.smtp_settings(), "port": 9, "timeout": 10})
        result = _run(
            config,
            "--override",
            f"smtp.port={box.port}",
            "--json",
            env=_env(MAILSETUP_SMTP__PASSWORD=PASSWORD),
        )
        assert result.returncode == 0, result.stdout + result.stderr
        assert json.loads(result.stdout)["ok"] is True
        assert "port = 9" in config.read_text()
        bad = _run(
            config, "--override", "smtp.prot=25", env=_env(MAILSETUP_SMTP__PASSWORD=PASSWORD)
        )
        assert bad.returncode == 64 and "smtp.port" in bad.stderr


def test_send_test_refuses_the_sender_check_refuses(tmp_path: Path) -> None:
    """One verdict: a sender that `check` refuses is never sent (it was repaired before)."""

    async def script(conn: Conn) -> None:
        await conn.drain_rest(2)

    async def run() -> tuple[Any, Any, list[Any]]:
        async with ScriptedServer(script) as server:
            config = _write_config(
                tmp_path,
                {"host": "127.0.0.1", "port": server.port, "encryption": "none"},
                sender="me@example.com (the comment)",
            )
            checked = await asyncio.to_thread(_check, config, "--offline", "--json")
            sent = await asyncio.to_thread(_run, config, "--json")
        return checked, sent, server.connections

    checked, sent, connections = asyncio.run(run())
    assert checked.returncode == 78 and sent.returncode == 78, sent.stdout + sent.stderr
    document = json.loads(sent.stdout)
    assert document["stage"] == "config"
    cause = document["diagnosis"]["cause"]
    assert "sender.address:" in cause  # after path:line, as every file error
    assert json.loads(checked.stdout)["diagnosis"]["cause"] in cause
    assert connections == []  # not even a connection


@pytest.mark.parametrize(
    "recipient",
    [
        "alice @example.com",
        "alice@example.com (x)",
        "a\u0085b@example.com",
        "x" * 5000 + "@example.com",
    ],
    ids=["space", "comment", "nel", "5000-characters"],
)
def test_bad_recipient_is_65_and_never_repaired(tmp_path: Path, recipient: str) -> None:
    # Port 9: nothing listens, and nothing is ever tried (the check comes first).
    config = _write_config(tmp_path, {"host": "127.0.0.1", "port": 9, "encryption": "none"})
    result = _run(config, "--to", recipient, "--json")
    assert result.returncode == 65, result.stdout + result.stderr
    document = json.loads(result.stdout)
    assert document["ok"] is False and document["stage"] == "rcpt"
    assert "not a valid address" in document["diagnosis"]["cause"]
    human = _run(config, "--to", recipient)
    assert human.returncode == 65
    assert "\x85" not in human.stdout + human.stderr and "Traceback" not in human.stderr
    assert "never repaired" in human.stderr
    state = json.loads((tmp_path / "state.json").read_text())
    assert state["last_test"]["exit_code"] == 65
