"""The TUI's "This machine" screen against a real Postfix instance and the sandbox relay:
status, apply with the diff and a confirmation, then a test followed to delivery."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from textual.widgets import Static

from tests.support.postfix_instance import PostfixInstance, postfix_instance
from tests.support.tui_support import wait_for, write_config
from tui_mailsetup.sandbox import Sandbox
from tui_mailsetup.tui.app import MailSetupApp
from tui_mailsetup.tui.screens.machine import ConfirmApplyScreen, MachineScreen

__all__ = ["postfix_instance"]


@pytest.mark.slow
async def test_status_apply_confirmed_then_test_delivered(
    postfix_instance: PostfixInstance, isolated_home: Path
) -> None:
    with Sandbox(mode="starttls", username="relay-user", password="tui secret") as box:
        assert box.ca_path is not None
        ca = postfix_instance.root / "relay-ca.pem"
        shutil.copyfile(box.ca_path, ca)
        config = write_config(
            isolated_home / ".config" / "tui-mailsetup" / "config.toml",
            {
                "smtp.host": "localhost",
                "smtp.port": box.port,
                "smtp.encryption": "starttls",
                "smtp.username": "relay-user",
                "smtp.ca_file": str(ca),
                "sender.address": "cron@example.test",
            },
            password="tui secret",
        )
        app = MailSetupApp(config, first_run=False)
        async with app.run_test(size=(100, 40)) as pilot:
            screen = MachineScreen(
                config=app.services.config, mta="postfix", config_dir=postfix_instance.config_dir
            )
            await app.push_screen(screen)

            def status() -> str:
                return str(screen.query_one("#machine-status", Static).render())

            def log() -> str:
                return "\n".join(screen.log_lines)

            await wait_for(pilot, lambda: "Postfix" in status() and "Queue" in status())
            assert "Matches this program's settings: no" in status()

            await pilot.press("a")
            await wait_for(pilot, lambda: isinstance(app.screen, ConfirmApplyScreen))
            assert f"+relayhost = [localhost]:{box.port}" in log()
            assert "tui secret" not in log()
            await pilot.press("escape")
            await wait_for(pilot, lambda: "not applied" in log())
            assert not (postfix_instance.config_dir / "sasl_passwd").exists()

            await pilot.press("a")
            await wait_for(pilot, lambda: isinstance(app.screen, ConfirmApplyScreen))
            await pilot.press("y")
            await wait_for(pilot, lambda: "Postfix reloaded" in log(), limit=30)
            await wait_for(pilot, lambda: "Matches this program's settings: yes" in status())

            await pilot.press("t")
            await wait_for(pilot, lambda: "OK: delivered" in log() or "FAILED" in log(), limit=60)
            assert "OK: delivered to the relay" in log(), log()
            assert "queued as" in log()
            assert box.wait_for_message(1)[0].rcpt_tos == ("cron@example.test",)


async def test_the_command_palette_offers_this_machine(
    isolated_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Opened from the palette the screen reads this machine's own mail system: not here.
    monkeypatch.setattr(MachineScreen, "action_refresh_status", lambda self: None)
    config = write_config(
        isolated_home / ".config" / "tui-mailsetup" / "config.toml",
        {"smtp.host": "127.0.0.1", "sender.address": "cron@example.test"},
    )
    app = MailSetupApp(config, first_run=False)
    async with app.run_test(size=(80, 24)) as pilot:
        commands = {command.title: command for command in app.get_system_commands(app.screen)}
        assert "This machine" in commands
        commands["This machine"].callback()
        await wait_for(pilot, lambda: isinstance(app.screen, MachineScreen))
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, MachineScreen))
