"""demo: the sandbox, a throwaway configuration, the headless flow end to end, and the TUI hook.

Only 127.0.0.1 is contacted. Waits are bounded hang guards, never timing assertions.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.support.cli_helpers import Result, run_cli
from tui_mailsetup import paths
from tui_mailsetup.demo import (
    DEMO_SENDER_ADDRESS,
    DemoSession,
    describe_message,
    isolated_environment,
)
from tui_mailsetup.sandbox import ReceivedMessage


def run_demo(*args: str, home: Path, env: dict[str, str] | None = None) -> Result:
    return run_cli("demo", *args, home=home, env=env, timeout=120)


def test_headless_demo_end_to_end(isolated_home: Path) -> None:
    ran = run_demo("--headless", home=isolated_home)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    out = ran.stdout
    assert out.startswith("DEMO: sandbox SMTP server on 127.0.0.1:")
    # The transcript: STARTTLS, authentication redacted, the message accepted.
    assert "-> STARTTLS" in out
    assert "redacted" in out
    assert "250 2.0.0 Message accepted for delivery" in out
    # Then what the sandbox received, headers and body.
    assert "The sandbox received 1 message(s):" in out
    assert f"envelope: {DEMO_SENDER_ADDRESS} -> you@example.com" in out
    assert "Subject: Test email from tui-mailsetup demo" in out
    assert "This is a test email from tui-mailsetup" in out
    # The temporary configuration is gone afterwards.
    config = Path(out.split("Temporary configuration: ", 1)[1].split("\n", 1)[0])
    assert config.name == "config.toml"
    assert not config.parent.exists()


def test_headless_demo_json_and_implicit_tls(isolated_home: Path) -> None:
    ran = run_demo(
        "--headless", "--json", "--encryption", "tls", "--to", "ops@example.org", home=isolated_home
    )
    assert ran.returncode == 0, ran.stderr
    document = json.loads(ran.stdout)
    assert document["ok"] is True
    assert document["exit_code"] == 0
    assert document["demo"]["server"].startswith("127.0.0.1:")
    assert document["demo"]["encryption"] == "tls"
    assert [stage["stage"] for stage in document["stages"]][:3] == ["resolve", "connect", "tls"]
    [received] = document["received"]
    assert received["rcpt_tos"] == ["ops@example.org"]
    assert received["authenticated_as"] == document["demo"]["username"]
    assert received["headers"]["Subject"] == "Test email from tui-mailsetup demo"
    assert "This is a test email" in received["body"]


def test_demo_ignores_the_real_configuration_and_environment(isolated_home: Path) -> None:
    real = paths.default_config_path()
    real.parent.mkdir(parents=True)
    real.write_text('[smtp]\nhost = "smtp.real.example"\nport = 465\nencryption = "tls"\n')
    before = (real.read_bytes(), real.stat().st_mtime_ns)
    # Were these honoured, the demo would fail: port 1 on loopback refuses, and
    # the password is wrong. (Nothing but 127.0.0.1 is ever contacted.)
    hostile = {
        "MAILSETUP_SMTP__PORT": "1",
        "MAILSETUP_SMTP__PASSWORD": "not-the-sandbox-password",
        "MAILSETUP_CONFIG": str(real),
    }
    ran = run_demo("--headless", "--json", home=isolated_home, env=hostile)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert json.loads(ran.stdout)["ok"] is True
    assert (real.read_bytes(), real.stat().st_mtime_ns) == before
    assert sorted(p.name for p in real.parent.iterdir()) == ["config.toml"]


def test_interactive_demo_needs_a_terminal(isolated_home: Path) -> None:
    ran = run_demo(home=isolated_home)
    assert ran.returncode == 64
    assert "--headless" in ran.stderr


def test_session_files_are_private_and_removed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAILSETUP_SMTP__HOST", "smtp.elsewhere.example")
    with isolated_environment():
        assert "MAILSETUP_SMTP__HOST" not in os.environ
        with DemoSession() as session:
            directory = session.directory
            assert (directory.stat().st_mode & 0o777) == 0o700
            credentials = paths.credentials_path(session.config_path)
            assert (credentials.stat().st_mode & 0o777) == 0o600
            # The password is in the credentials file, never in the main file.
            assert session.sandbox.password not in session.config_path.read_text()
            loaded = session.load()
            assert loaded.settings.smtp.host == "127.0.0.1"
            assert loaded.settings.smtp.port == session.sandbox.port
            assert loaded.settings.smtp.ca_file
            assert len(session.banner()) <= 80
    assert os.environ["MAILSETUP_SMTP__HOST"] == "smtp.elsewhere.example"
    assert not directory.exists()


def test_received_messages_are_sanitised() -> None:
    data = (
        b"From: x@example.com\r\nSubject: \x1b[31mred\x1b[0m [bold]hi[/bold]\r\n\r\n"
        b"body \x1b]0;title\x07 line\r\n"
    )
    described = describe_message(
        ReceivedMessage(
            "x@example.com", ("y@example.com",), data, "127.0.0.1", None, (), time.time()
        )
    )
    assert "\x1b" not in json.dumps(described["headers"]) + described["body"]
    assert "\x07" not in described["body"]


async def test_tui_shows_banner_and_inbox(isolated_home: Path) -> None:
    from textual.widgets import Static

    from tui_mailsetup.tui.app import MailSetupApp

    with isolated_environment(), DemoSession() as session:
        app = MailSetupApp(
            session.config_path,
            loaded=session.load(),
            banner=session.banner(),
            inbox=session.messages,
            first_run=False,
        )
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause()
            banner = app.screen.query_one("#banner", Static)
            assert "DEMO" in str(banner.render())
            assert app.screen.query("#inbox")
            await pilot.press("ctrl+t")
            arrived = await asyncio.to_thread(session.sandbox.wait_for_message, 1, 30.0)
            assert len(arrived) == 1
            await _until(pilot, lambda: app.last_outcome is not None)
            assert app.last_outcome is not None and app.last_outcome.ok
            # The inbox shows what the sandbox received, without a refresh asked for.
            inbox = app.screen.query_one("#inbox-messages", Static)
            await _until(pilot, lambda: "Test email from tui-mailsetup demo" in str(inbox.render()))


async def _until(pilot: Any, condition: Any, limit: float = 30.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    while not condition():
        assert loop.time() < deadline, "condition not reached"
        await pilot.pause(0.02)


@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")
def test_interactive_demo_in_a_real_terminal(tmp_path: Path, isolated_home: Path) -> None:
    """The whole interactive flow as a person sees it: banner, ctrl+t, the inbox, ctrl+q."""
    socket_name = f"tui-mailsetup-demo-test-{os.getpid()}"
    done = tmp_path / "exit-status"
    tmux = ["tmux", "-L", socket_name]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MAILSETUP_", "TMUX"))}
    env.update({"HOME": str(isolated_home), "TERM": "xterm-256color"})
    script = (
        f"{shlex.quote(sys.executable)} -m tui_mailsetup demo; echo $? > {shlex.quote(str(done))}"
    )
    subprocess.run(
        [*tmux, "new-session", "-d", "-x", "100", "-y", "30", "sh", "-c", script],
        check=True,
        env=env,
    )

    def screen() -> str:
        return subprocess.run(
            [*tmux, "capture-pane", "-p"], capture_output=True, text=True, env=env
        ).stdout

    def wait_for(condition: Any) -> None:
        deadline = time.monotonic() + 60
        while not condition():
            exited = done.read_text() if done.exists() else "still running"
            assert time.monotonic() < deadline, f"exit status: {exited}\n{screen()}"
            time.sleep(0.1)

    try:
        wait_for(lambda: "DEMO · sandbox server 127.0.0.1:" in screen())
        subprocess.run([*tmux, "send-keys", "C-t"], check=True, env=env)
        wait_for(lambda: "PASSED" in screen())
        subprocess.run([*tmux, "send-keys", "PageDown"], check=True, env=env)
        wait_for(lambda: "1 message(s) received by the sandbox" in screen())
        assert "Subject: Test email from tui-mailsetup demo" in screen()
        subprocess.run([*tmux, "send-keys", "C-q"], check=True, env=env)
        wait_for(done.exists)
        assert done.read_text().strip() == "0"
    finally:
        subprocess.run([*tmux, "kill-server"], capture_output=True, env=env)
    assert not paths.default_config_path().exists()


def test_headless_output_never_shows_the_sandbox_password() -> None:
    import io

    from tui_mailsetup.cli.demo_cmd import run_headless

    with isolated_environment(), DemoSession() as session:
        out = io.StringIO()
        result = run_headless(session, human=True, out=out)
        assert result.exit_code == 0, out.getvalue()
        everything = out.getvalue() + json.dumps(result.document)
        password = session.sandbox.password
        assert password not in everything
        assert base64.b64encode(password.encode()).decode() not in everything
