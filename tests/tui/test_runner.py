"""The one runner: failures before any connection are Outcomes, the same in the CLI and the TUI."""

from __future__ import annotations

import json
from pathlib import Path

from textual.widgets import Input

from tests.support.cli_helpers import run_cli
from tests.support.tui_support import SENDER, wait_for, write_config
from tui_mailsetup.config_file import load_config
from tui_mailsetup.engine.events import Event, Outcome, Stage, StageFinished
from tui_mailsetup.exitcodes import ExitCode
from tui_mailsetup.runner import run_test
from tui_mailsetup.sandbox import Sandbox
from tui_mailsetup.tui.app import MailSetupApp
from tui_mailsetup.tui.widgets.diagnostics import DiagnosticsPane


def _config(tmp_path: Path, **values: object) -> Path:
    directory = tmp_path / "cfg"
    directory.mkdir(mode=0o700, exist_ok=True)
    return write_config(directory / "config.toml", {**SENDER, **values})


def _cli_json(config: Path, *args: str) -> tuple[int, dict[str, object]]:
    ran = run_cli("--config", str(config), "send-test", "--json", *args, home=config.parent)
    assert "Traceback" not in ran.stderr, ran.stderr
    document = ran.json()
    assert isinstance(document, dict)
    return ran.returncode, document


def _pane_text(app: MailSetupApp) -> str:
    return app.screen.query_one(DiagnosticsPane).transcript_text()


async def _tui_outcome(config: Path, recipient: str = "") -> tuple[Outcome, str]:
    app = MailSetupApp(config)
    async with app.run_test(size=(100, 40)) as pilot:
        if recipient:
            await pilot.press("ctrl+t")  # opens the review step, where the recipient field is
            pane = app.screen.query_one(DiagnosticsPane)
            await wait_for(pilot, lambda: pane.outcome is not None)
            field = app.screen.query_one("#recipient", Input)
            field.value = recipient
            await pilot.pause()
        await pilot.press("ctrl+t")
        pane = app.screen.query_one(DiagnosticsPane)
        await wait_for(
            pilot,
            lambda: (
                pane.outcome is not None
                and (not recipient or recipient in ", ".join(pane.outcome.recipients))
                and not getattr(app.screen, "sending", False)
            ),
        )
        assert pane.outcome is not None
        return pane.outcome, _pane_text(app)


async def test_failing_password_command_same_diagnosis_in_cli_and_tui(tmp_path: Path) -> None:
    with Sandbox(mode="starttls") as box:
        values = {f"smtp.{k}": v for k, v in box.smtp_settings().items()}
        config = _config(tmp_path, **values, **{"smtp.password_command": "false"})
        code, document = _cli_json(config)
        outcome, shown = await _tui_outcome(config)
        assert box.auth_attempts == []
    assert code == ExitCode.CONFIG
    diagnosis = document["diagnosis"]
    assert isinstance(diagnosis, dict)
    assert outcome.exit_code == ExitCode.CONFIG and outcome.stage == Stage.AUTH
    assert outcome.diagnosis is not None
    # One diagnosis: the TUI shows what the CLI prints, cause, evidence and advice.
    assert outcome.diagnosis.cause == diagnosis["cause"]
    assert outcome.diagnosis.evidence == diagnosis["evidence"]
    assert "password_command: false exited with status 1" in outcome.diagnosis.evidence
    assert outcome.diagnosis.cause in shown and outcome.diagnosis.explanation in shown
    assert "ERROR" not in shown


async def test_bad_recipient_typed_in_the_tui_is_refused_like_the_cli(tmp_path: Path) -> None:
    with Sandbox(mode="starttls") as box:
        values = {f"smtp.{k}": v for k, v in box.smtp_settings().items()}
        config = _config(tmp_path, **values)
        from tui_mailsetup.secrets import store_secret

        store_secret(config, "smtp.password", box.password)
        code, document = _cli_json(config, "--to", "alice @acme.com")
        outcome, shown = await _tui_outcome(config, recipient="alice @acme.com")
        delivered = [m.rcpt_tos for m in box.messages]
    assert code == ExitCode.DATAERR == outcome.exit_code
    assert outcome.diagnosis is not None
    diagnosis = document["diagnosis"]
    assert isinstance(diagnosis, dict) and outcome.diagnosis.cause == diagnosis["cause"]
    assert "never repaired" in shown and "ERROR" not in shown
    # The first ctrl+t (to the sender) went out; the repaired address never did.
    assert ("alice@acme.com",) not in delivered


async def test_every_early_failure_is_streamed_as_an_outcome(tmp_path: Path) -> None:
    config = _config(
        tmp_path,
        **{"smtp.host": "127.0.0.1", "smtp.port": 9, "smtp.encryption": "none"},
        # A sender address that is not an address is refused where it enters (the file,
        # 78); a missing one is validation's error, found by the runner before any I/O.
        **{"sender.address": ""},
    )
    events: list[Event] = []
    outcome = await run_test(load_config(config), None, on_event=events.append)
    assert events[-1] is outcome and not outcome.ok
    assert outcome.exit_code == ExitCode.CONFIG and outcome.stage == Stage.CONFIG
    assert outcome.diagnosis is not None and outcome.diagnosis.cause.startswith("sender.address:")
    assert [type(e) for e in events] == [StageFinished, Outcome]
    state = json.loads((config.parent / "state.json").read_text())
    assert state["last_test"]["exit_code"] == 78


async def test_unusable_sender_in_the_tui_shows_the_diagnosis_not_error(tmp_path: Path) -> None:
    from tui_mailsetup.message import MessageError
    from tui_mailsetup.settings import MailSettings

    config = _config(tmp_path, **{"smtp.host": "127.0.0.1", "smtp.port": 9})

    def refuse(settings: MailSettings, recipients: list[str]) -> object:
        raise MessageError("sender.address cannot be put in a From header")

    def no_driver(settings: MailSettings, secret: str | None) -> object:
        raise AssertionError("the driver must not be made for a message that cannot be built")

    app = MailSetupApp(config, message_builder=refuse, driver_factory=no_driver)  # type: ignore[arg-type]
    async with app.run_test(size=(100, 40)) as pilot:
        await pilot.press("ctrl+t")
        pane = app.screen.query_one(DiagnosticsPane)
        await wait_for(pilot, lambda: pane.outcome is not None)
        await pilot.pause()
        shown = _pane_text(app)
    assert pane.outcome is not None and pane.outcome.exit_code == ExitCode.DATAERR
    assert pane.outcome.stage == Stage.MAIL
    assert "FAILED at MAIL FROM" in shown and "cannot be put in a From header" in shown
    assert "ERROR" not in shown
