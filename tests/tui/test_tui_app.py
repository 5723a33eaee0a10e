"""Functional tests of the Textual app, driven with App.run_test() and Pilot."""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

import pytest
from textual.widgets import Button, Input, RichLog, Select

from tests.support.tui_support import (
    SENDER,
    ScriptedDriver,
    file_exists,
    file_text,
    flood,
    open_section,
    rendered_text,
    sandbox_config,
    scripted_factory,
    settled,
    wait_for,
    write_config,
)
from tui_mailsetup.engine.events import Direction, Outcome, Stage, StageStarted, TranscriptLine
from tui_mailsetup.sandbox import Sandbox
from tui_mailsetup.secrets import read_credentials
from tui_mailsetup.tui.app import MailSetupApp
from tui_mailsetup.tui.screens.dialogs import ConfirmQuitScreen, HelpScreen
from tui_mailsetup.tui.screens.form import FormScreen
from tui_mailsetup.tui.screens.settings import SettingsScreen
from tui_mailsetup.tui.screens.wizard import WizardScreen
from tui_mailsetup.tui.widgets.diagnostics import DiagnosticsPane
from tui_mailsetup.tui.widgets.dns_report import DnsPanel
from tui_mailsetup.tui.widgets.field import FieldRow


def form(app: MailSetupApp) -> FormScreen:
    screen = app.screen
    assert isinstance(screen, FormScreen)
    return screen


def row(app: MailSetupApp, key: str) -> FieldRow:
    found = form(app).row(key)
    assert found is not None
    return found


def editor(app: MailSetupApp, key: str) -> Input:
    widget = row(app, key).editor
    assert isinstance(widget, Input)
    return widget


@pytest.fixture
def config_path(tmp_path: Path) -> Path:
    directory = tmp_path / "cfg"
    directory.mkdir(mode=0o700)
    return directory / "config.toml"


async def test_first_run_wizard_walks_keeps_values_and_saves(config_path: Path) -> None:
    app = MailSetupApp(config_path)
    async with app.run_test(size=(80, 24)) as pilot:
        assert isinstance(app.screen, WizardScreen)
        await settled(pilot)
        screen = form(app)
        assert screen.current_section() == "driver"
        await pilot.press("pagedown")
        assert screen.current_section() == "server"
        assert app.focused is editor(app, "smtp.host")
        await pilot.press(*"mx.ex.com")
        await pilot.press("pagedown")
        assert screen.current_section() == "credentials"
        await pilot.press(*"alice", "tab", *"s3 pw")
        await pilot.press("pagedown")
        await pilot.press(*"Acme", "tab", *"a@acme.org")
        # Going back and forth never loses what was typed.
        await pilot.press("pageup", "pageup")
        assert screen.current_section() == "server"
        assert editor(app, "smtp.host").value == "mx.ex.com"
        await pilot.press("pagedown", "pagedown", "pagedown")
        assert screen.current_section() == "review"
        assert editor(app, "smtp.password").value == "s3 pw"
        assert editor(app, "sender.address").value == "a@acme.org"
        assert screen.dirty
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert not screen.dirty

    text = file_text(config_path)
    assert 'host = "mx.ex.com"' in text
    assert 'username = "alice"' in text
    assert "s3 pw" not in text
    assert read_credentials(config_path) == {"smtp.password": "s3 pw"}
    credentials = config_path.with_name("credentials.toml")
    assert stat.S_IMODE(credentials.stat().st_mode) == 0o600


async def test_the_wizards_back_and_next_buttons_walk_the_steps_and_save_at_the_last(
    config_path: Path,
) -> None:
    """Back and Next, by mouse and by Enter, go step by step; at the last step Next reads
    "Save ✔" and saves (or says why not and shows the field at fault)."""
    app = MailSetupApp(config_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await settled(pilot)
        screen = form(app)
        back, next_button = screen.query_one("#back", Button), screen.query_one("#next", Button)
        assert back.disabled and str(next_button.label) == "Next ›"
        await pilot.click("#next")
        await settled(pilot)
        assert screen.current_section() == "server"
        assert app.focused is editor(app, "smtp.host")
        assert not back.disabled
        await pilot.press(*"mx.ex.com")
        await pilot.click("#back")
        await settled(pilot)
        assert screen.current_section() == "driver"
        assert back.disabled
        # By keyboard: focus Next, Enter, and what is typed next lands in the new step.
        next_button.focus()
        await pilot.press("enter", "end", *".org")
        assert screen.current_section() == "server"
        assert editor(app, "smtp.host").value == "mx.ex.com.org"
        await pilot.press("pagedown", "pagedown", "pagedown")
        assert screen.current_section() == "review"
        assert str(next_button.label) == "Save ✔"
        # Nothing saved while the sender is missing: the form says so and shows the field.
        await pilot.click("#next")
        await settled(pilot)
        assert not file_exists(config_path)
        assert screen.current_section() == "sender"
        assert app.focused is editor(app, "sender.address")
        await pilot.press(*"a@acme.org", "pagedown")
        await pilot.click("#next")
        await settled(pilot)
        assert not screen.dirty

    assert 'host = "mx.ex.com.org"' in file_text(config_path)
    assert 'address = "a@acme.org"' in file_text(config_path)


async def test_settings_screen_for_returning_user_shows_sources(
    config_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_config(config_path, {"smtp.host": "smtp.example.com", **SENDER})
    monkeypatch.setenv("MAILSETUP_SMTP__PORT", "2525")
    app = MailSetupApp(config_path)
    async with app.run_test(size=(80, 24)) as pilot:
        assert isinstance(app.screen, SettingsScreen)
        await open_section(pilot, "server")
        assert editor(app, "smtp.host").value == "smtp.example.com"
        assert editor(app, "smtp.port").value == "2525"
        source = row(app, "smtp.port").query_one(".field-source")
        assert "env" in str(source.render())


async def test_live_validation_marks_field_and_enter_applies_fix(config_path: Path) -> None:
    write_config(config_path, {"smtp.host": "smtp.example.com", **SENDER})
    app = MailSetupApp(config_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_section(pilot, "server")
        port = editor(app, "smtp.port")
        port.focus()
        await pilot.press("ctrl+u", *"465")
        await pilot.pause()
        finding = row(app, "smtp.port").finding
        assert finding is not None and finding.fix is not None
        assert row(app, "smtp.port").has_class("-error")
        assert row(app, "smtp.encryption").finding == finding
        await pilot.press("enter")
        await pilot.pause()
        encryption = row(app, "smtp.encryption").editor
        assert isinstance(encryption, Select)
        assert encryption.value == "tls"
        assert row(app, "smtp.port").finding is None
        # A value that does not even parse is reported by the engine's validator.
        await pilot.press("ctrl+u", *"abc")
        await pilot.pause()
        bad = row(app, "smtp.port").finding
        # In the product's words, not pydantic's.
        assert bad is not None and "must be a whole number" in bad.message


async def test_f2_applies_fix_and_encryption_suggests_port(config_path: Path) -> None:
    write_config(config_path, {"smtp.host": "smtp.example.com", "smtp.port": 465, **SENDER})
    app = MailSetupApp(config_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await settled(pilot)
        screen = form(app)
        assert any(f.fix is not None for f in screen.findings)
        await open_section(pilot, "server")
        await pilot.press("f2")
        await pilot.pause()
        assert screen.state.get("smtp.encryption") == "tls"
        assert not any(f.severity == "error" for f in screen.findings)
        # Choosing STARTTLS moves a usual port to 587; a custom port is left alone.
        encryption = row(app, "smtp.encryption").editor
        assert isinstance(encryption, Select)
        encryption.value = "starttls"
        await pilot.pause()
        assert editor(app, "smtp.port").value == "587"
        editor(app, "smtp.port").value = "10025"
        await pilot.pause()
        encryption.value = "tls"
        await pilot.pause()
        assert editor(app, "smtp.port").value == "10025"


async def test_driver_choice_shows_only_its_fields(config_path: Path) -> None:
    app = MailSetupApp(config_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_section(pilot, "server")
        await open_section(pilot, "credentials")
        await open_section(pilot, "driver")
        driver = row(app, "driver").editor
        assert isinstance(driver, Select)
        assert row(app, "smtp.host").display
        assert not row(app, "mailgun.domain").display
        driver.value = "mailgun"
        await pilot.pause()
        assert not row(app, "smtp.host").display
        assert row(app, "mailgun.domain").display
        assert row(app, "mailgun.api_key").display
        driver.value = "sendmail"
        await pilot.pause()
        assert row(app, "sendmail.path").display
        assert not row(app, "mailgun.domain").display


async def test_preset_fills_server_fields(config_path: Path) -> None:
    app = MailSetupApp(config_path)
    async with app.run_test(size=(80, 24)) as pilot:
        presets = app.presets()
        gmail = next(p for p in presets if p.id == "gmail")
        await open_section(pilot, "server")
        picker = app.screen.query_one("#preset", Select)
        picker.value = gmail.id
        await pilot.pause()
        assert editor(app, "smtp.host").value == gmail.host
        assert editor(app, "smtp.port").value == str(gmail.port)


async def test_test_send_through_sandbox_streams_transcript_and_verdict(config_path: Path) -> None:
    async with Sandbox(mode="starttls", mechanisms=("PLAIN",)) as box:
        sandbox_config(box, config_path)
        app = MailSetupApp(config_path, inbox=lambda: list(box.messages))
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.press("ctrl+t")
            screen = form(app)
            pane = app.screen.query_one(DiagnosticsPane)
            await wait_for(pilot, lambda: pane.outcome is not None and not screen.sending)
            assert pane.outcome is not None and pane.outcome.ok
            assert screen.current_section() == "review"
            transcript = pane.transcript_text()
            assert "STARTTLS" in transcript
            assert "250" in transcript
            assert "TLS established" in transcript
            assert box.password not in transcript
            assert "PASSED" in transcript
            ladder = pane.ladder.stages
            assert ladder[Stage.AUTH][0] == "✔" and ladder[Stage.DATA][0] == "✔"
            assert len(box.messages) == 1
            app.screen.query_one("#tab-inbox")


async def test_failing_server_shows_diagnosis(config_path: Path) -> None:
    async with Sandbox(mode="starttls", mechanisms=("PLAIN",)) as box:
        sandbox_config(box, config_path, password="wrong password")
        app = MailSetupApp(config_path)
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.press("ctrl+t")
            pane = app.screen.query_one(DiagnosticsPane)
            await wait_for(pilot, lambda: pane.outcome is not None)
            outcome = pane.outcome
            assert outcome is not None and not outcome.ok
            assert outcome.stage is Stage.AUTH
            assert outcome.diagnosis is not None
            verdict = str(app.screen.query_one("#verdict").render())
            assert "FAILED" in verdict
            assert outcome.diagnosis.cause[:30] in verdict
            assert "wrong password" not in pane.transcript_text()
            assert box.messages == []


async def test_diagnosis_fix_on_one_key_then_test_again(config_path: Path) -> None:
    """Implicit TLS server, configured as STARTTLS: the diagnosis offers the fix; F2, ctrl+t, pass."""
    async with Sandbox(mode="tls", mechanisms=("PLAIN",)) as box:
        sandbox_config(box, config_path, **{"smtp.encryption": "starttls"})
        app = MailSetupApp(config_path)
        async with app.run_test(size=(80, 24)) as pilot:
            screen = form(app)
            await open_section(pilot, "review")
            pane = app.screen.query_one(DiagnosticsPane)
            await pilot.press("ctrl+t")
            await wait_for(pilot, lambda: pane.outcome is not None and not screen.sending)
            outcome = pane.outcome
            assert outcome is not None and not outcome.ok
            assert outcome.diagnosis is not None and outcome.diagnosis.fix is not None
            assert outcome.diagnosis.fix.changes.get("smtp.encryption") == "tls"
            await pilot.press("f2")
            await pilot.pause()
            assert screen.state.get("smtp.encryption") == "tls"
            await pilot.press("ctrl+t")
            await wait_for(pilot, lambda: pane.outcome is not None and not screen.sending)
            assert pane.outcome is not None and pane.outcome.ok
            assert len(box.messages) == 1


async def test_escape_cancels_a_running_send(config_path: Path) -> None:
    write_config(config_path, {"smtp.host": "smtp.example.com", **SENDER})
    driver = ScriptedDriver(
        [StageStarted(Stage.CONNECT), TranscriptLine(Direction.NOTE, "connecting", False)],
        hang=True,
    )
    app = MailSetupApp(config_path, driver_factory=scripted_factory(driver))
    async with app.run_test(size=(80, 24)) as pilot:
        screen = form(app)
        await pilot.press("ctrl+t")
        await wait_for(
            pilot, lambda: screen.sending and "connecting" in screen_pane(app).transcript_text()
        )
        await pilot.press("escape")
        await wait_for(pilot, lambda: not screen.sending)
        assert driver.cancelled
        assert "CANCELLED" in screen_pane(app).transcript_text()
        # The app still answers the keyboard.
        await open_section(pilot, "server")
        editor(app, "smtp.host").focus()
        await pilot.press("x")
        assert editor(app, "smtp.host").value.endswith("x")


def screen_pane(app: MailSetupApp) -> DiagnosticsPane:
    return app.screen.query_one(DiagnosticsPane)


async def test_flood_keeps_memory_bounded_and_typing_works(config_path: Path) -> None:
    write_config(config_path, {"smtp.host": "smtp.example.com", **SENDER})
    driver = ScriptedDriver(flood(30_000))
    app = MailSetupApp(config_path, driver_factory=scripted_factory(driver))
    async with app.run_test(size=(80, 24)) as pilot:
        await open_section(pilot, "review")
        pane = screen_pane(app)
        await pilot.press("ctrl+t")
        await wait_for(pilot, lambda: pane.outcome is not None, limit=60)
        pane.flush()
        log = pane.query_one(RichLog)
        assert len(log.lines) <= pane.max_lines
        assert pane.lines_received == 30_000
        saved = pane.transcript_text().splitlines()
        assert len(saved) <= 20_002
        assert "line 29999 of the flood" in saved[-3]


async def test_server_text_is_never_markup(config_path: Path) -> None:
    write_config(config_path, {"smtp.host": "smtp.example.com", **SENDER})
    hostile = "220 [bold red]owned[/] [link=http://x]click[/link] [@click=app.quit]q[/]"
    driver = ScriptedDriver(
        [TranscriptLine(Direction.RECEIVED, hostile, False), Outcome(True, Stage.QUIT, 0.1)]
    )
    app = MailSetupApp(config_path, driver_factory=scripted_factory(driver))
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("ctrl+t")
        pane = screen_pane(app)
        await wait_for(pilot, lambda: pane.outcome is not None)
        pane.flush()
        await pilot.pause()
        log = pane.query_one(RichLog)
        rendered = "\n".join(line.text for line in log.lines)
        assert hostile in rendered
        assert app.is_running


async def test_quit_asks_when_there_are_unsaved_changes(config_path: Path) -> None:
    write_config(config_path, {"smtp.host": "smtp.example.com", **SENDER})
    app = MailSetupApp(config_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_section(pilot, "server")
        editor(app, "smtp.host").value = "smtp2.example.com"
        await pilot.pause()
        await pilot.press("ctrl+q")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmQuitScreen)
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, SettingsScreen)
        await pilot.press("ctrl+q")
        await pilot.pause()
        await pilot.press("s")
        await pilot.pause()
    assert app.return_value == 0
    assert "smtp2.example.com" in file_text(config_path)


async def test_quit_without_changes_does_not_ask(config_path: Path) -> None:
    write_config(config_path, {"smtp.host": "smtp.example.com", **SENDER})
    app = MailSetupApp(config_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("ctrl+q")
        await pilot.pause()
    assert app.return_value == 0


async def test_f1_shows_help_for_the_focused_field(config_path: Path) -> None:
    app = MailSetupApp(config_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("pagedown")
        await pilot.press("tab")
        assert app.focused is editor(app, "smtp.port")
        await pilot.press("f1")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        assert "smtp.port" in str(app.screen.query_one("#help-body").render())
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, WizardScreen)


async def test_save_refuses_errors_and_focuses_the_field(config_path: Path) -> None:
    app = MailSetupApp(config_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert not file_exists(config_path)
        assert form(app).current_section() == "server"
        assert app.focused is editor(app, "smtp.host")


async def test_save_transcript_and_export(config_path: Path, tmp_path: Path) -> None:
    write_config(config_path, {"smtp.host": "smtp.example.com", **SENDER})
    driver = ScriptedDriver(
        [TranscriptLine(Direction.RECEIVED, "220 hello", False), Outcome(True, Stage.QUIT, 0.1)]
    )
    app = MailSetupApp(config_path, driver_factory=scripted_factory(driver))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("ctrl+t")
        pane = screen_pane(app)
        await wait_for(pilot, lambda: pane.outcome is not None)
        form(app).action_save_transcript()
        await pilot.pause()
        target = tmp_path / "ticket" / "transcript.txt"
        app.screen.query_one("#path", Input).value = str(target)
        await pilot.press("enter")
        await pilot.pause()
        assert "220 hello" in file_text(target)

        form(app).action_export()
        await pilot.pause()
        exported = tmp_path / "msmtprc"
        app.screen.query_one("#format", Select).value = "msmtp"
        await pilot.pause()
        path_input = app.screen.query_one("#path", Input)
        path_input.value = str(exported)
        path_input.focus()
        await pilot.press("enter")
        await pilot.pause()
        assert "smtp.example.com" in file_text(exported)


async def test_command_palette_offers_the_main_actions(config_path: Path) -> None:
    write_config(config_path, {"smtp.host": "smtp.example.com", **SENDER})
    app = MailSetupApp(config_path)
    async with app.run_test(size=(80, 24)):
        titles = [command.title for command in app.get_system_commands(app.screen)]
        for title in ("Save", "Send a test email", "Apply fix", "Check DNS", "Export", "Quit"):
            assert title in titles


def test_broken_config_exits_78_without_starting_the_tui(tmp_path: Path) -> None:
    import subprocess

    path = tmp_path / "config.toml"
    path.write_text("[smtp\nport = 'x'\n")
    result = subprocess.run(
        [sys.executable, "-m", "tui_mailsetup", "--config", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "TERM": "dumb"},
    )
    assert result.returncode == 78
    assert str(path) in result.stderr
    assert path.read_text() == "[smtp\nport = 'x'\n"


def test_headless_commands_do_not_import_textual() -> None:
    import subprocess

    code = (
        "import sys; from tui_mailsetup.cli import build_parser; build_parser();"
        "import tui_mailsetup.cli.tui_cmd; assert 'textual' not in sys.modules, 'textual imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


async def test_settings_show_last_result_and_rate_limit(config_path: Path) -> None:
    import time

    from tui_mailsetup.engine.events import Diagnosis
    from tui_mailsetup.exitcodes import ExitCode
    from tui_mailsetup.state import record_outcome

    write_config(config_path, {"smtp.host": "smtp.example.com", **SENDER})
    diagnosis = Diagnosis(
        Stage.MAIL,
        "Rate limited (421)",
        exit_code=ExitCode.TEMPFAIL,
        retry_after=time.time() + 3600,
    )
    record_outcome(config_path, Outcome(False, Stage.MAIL, 0.2, diagnosis), host="smtp.example.com")
    app = MailSetupApp(config_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_section(pilot, "review")
        text = str(app.screen.query_one("#last-result").render())
        assert "failed at mail" in text
        assert "Rate limited until" in text


async def test_detect_from_my_address_fills_the_server(config_path: Path) -> None:
    from tests.support.dns_server import dns_server, nameserver_entry

    zone = {
        ("acme.example", "MX"): ["10 mx.acme.example."],
        ("_submissions._tcp.acme.example", "SRV"): ["0 1 465 submit.acme.example."],
    }
    with dns_server(zone) as server:
        # Probes off: nothing listens at submit.acme.example (with probes on, detect would
        # rightly recommend nothing); this is about the form taking what detection found.
        write_config(
            config_path,
            {"dns.nameservers": [nameserver_entry(server)], "detect.probe": False, **SENDER},
        )
        app = MailSetupApp(config_path)
        async with app.run_test(size=(80, 24)) as pilot:
            await open_section(pilot, "server")
            query = app.screen.query_one("#detect-query", Input)
            assert query.value == SENDER["sender.address"]
            query.focus()
            await pilot.press("enter")
            await wait_for(pilot, lambda: editor(app, "smtp.host").value == "submit.acme.example")
            assert editor(app, "smtp.port").value == "465"
            assert form(app).state.get("smtp.encryption") == "tls"
            assert "SRV" in str(app.screen.query_one("#detect-status").render())


GOOD_ZONE = {
    ("acme.example", "MX"): ["10 mx.acme.example."],
    ("acme.example", "TXT"): ['"v=spf1 mx ~all"'],
    ("_dmarc.acme.example", "TXT"): ['"v=DMARC1; p=quarantine; rua=mailto:dmarc@acme.example"'],
}


def dns_panel(app: MailSetupApp) -> DnsPanel:
    return app.screen.query_one(DnsPanel)


def dns_report(app: MailSetupApp) -> str:
    return rendered_text(app.screen.query_one("#dns-report-text"))


async def test_check_dns_marks_each_record_and_advises(config_path: Path) -> None:
    """f3 runs the engine's checks against a real DNS server: SPF and DMARC good, no DKIM."""
    from tests.support.dns_server import dns_server, nameserver_entry

    with dns_server(GOOD_ZONE) as server:
        write_config(
            config_path,
            {"smtp.host": "smtp.example.com", "dns.nameservers": [nameserver_entry(server)]}
            | SENDER,
        )
        app = MailSetupApp(config_path)
        async with app.run_test(size=(80, 24)) as pilot:
            screen = form(app)
            await pilot.press("f3")
            await wait_for(pilot, lambda: "DNS for" in dns_panel(app).status_plain())
            await wait_for(pilot, lambda: not screen.checking_dns)
            assert screen.current_section() == "review"
            assert dns_panel(app).status_plain() == "DNS for acme.example: 5 ✔  1 !  0 ✘"
            lines = dns_report(app).splitlines()
            marks = {line.split()[1]: line.split()[0] for line in lines if line[:1] in "✔!✘"}
            assert marks == {
                "MX": "✔",
                "SPF": "✔",
                "DKIM": "!",
                "DMARC": "✔",
                "MTA-STS": "✔",
                "TLS-RPT": "✔",
            }
            report = dns_report(app)
            assert "v=spf1 mx ~all" in report
            assert "v=DMARC1; p=quarantine; rua=mailto:dmarc@acme.example" in report
            assert "10 mx.acme.example." in report
            # Advice only for what is not ok: the missing DKIM key.
            assert report.count("fix:") == 1
            words = " ".join(report.split())
            assert "! DKIM No DKIM key found" in words
            assert "fix: Enable DKIM signing at your provider and publish the key" in words
            assert words.index("fix: Enable DKIM") > words.index("! DKIM")
            assert ("_dmarc.acme.example.", "TXT") in server.queries
            assert ("default._domainkey.acme.example.", "TXT") in server.queries
            # The same check from the button, and the command palette offers it.
            assert "Check DNS" in [c.title for c in app.get_system_commands(app.screen)]
            asked = len(server.queries)
            await pilot.click("#btn-dns")
            await wait_for(pilot, lambda: len(server.queries) > asked and not screen.checking_dns)


async def test_dns_records_are_shown_literally(config_path: Path) -> None:
    """TXT text from DNS is never markup and never reaches the terminal as an escape."""
    from tests.support.dns_server import dns_server, nameserver_entry

    zone = {
        **GOOD_ZONE,
        ("acme.example", "TXT"): ['"v=spf1 [bold]owned[/bold] \\027[31mred ~all"'],
        ("_dmarc.acme.example", "TXT"): ['"v=DMARC1; p=none; x=[@click=app.quit]q[/]"'],
    }
    with dns_server(zone) as server:
        write_config(config_path, {"dns.nameservers": [nameserver_entry(server)]} | SENDER)
        app = MailSetupApp(config_path)
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.press("f3")
            await wait_for(pilot, lambda: "DNS for" in dns_panel(app).status_plain())
            report = dns_report(app)
            assert "v=spf1 [bold]owned[/bold] \\x1b[31mred ~all" in report
            assert "v=DMARC1; p=none; x=[@click=app.quit]q[/]" in report
            assert "\x1b" not in report
            assert app.is_running


async def test_check_dns_without_a_sender_says_so(config_path: Path) -> None:
    from tests.support.dns_server import dns_server, nameserver_entry

    with dns_server(GOOD_ZONE) as server:
        write_config(
            config_path,
            {"smtp.host": "smtp.example.com", "dns.nameservers": [nameserver_entry(server)]},
        )
        app = MailSetupApp(config_path)
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.press("f3")
            await wait_for(pilot, lambda: "No sender address" in dns_panel(app).status_plain())
            assert not form(app).checking_dns
            assert not dns_panel(app).report_shown
            assert server.queries == []


async def test_escape_cancels_a_running_dns_check(config_path: Path) -> None:
    from tests.support.dns_server import dns_server, nameserver_entry

    # The server never answers for the domain itself: the check waits until cancelled.
    with dns_server(GOOD_ZONE, silent=["acme.example", "_dmarc.acme.example"]) as server:
        write_config(config_path, {"dns.nameservers": [nameserver_entry(server)]} | SENDER)
        app = MailSetupApp(config_path)
        async with app.run_test(size=(80, 24)) as pilot:
            screen = form(app)
            await pilot.press("f3")
            await wait_for(pilot, lambda: ("acme.example.", "MX") in server.queries)
            assert screen.checking_dns
            assert "Checking acme.example" in dns_panel(app).status_plain()
            await pilot.press("escape")
            await wait_for(pilot, lambda: not screen.checking_dns)
            assert "cancelled" in dns_panel(app).status_plain()
            assert not dns_panel(app).report_shown


async def test_a_test_send_with_the_sendmail_driver(config_path: Path, tmp_path: Path) -> None:
    received = tmp_path / "received.eml"
    fake = tmp_path / "sendmail"
    fake.write_text(f"#!/bin/sh\ncat > {received}\n")
    fake.chmod(0o755)
    write_config(config_path, {"driver": "sendmail", "sendmail.path": str(fake), **SENDER})
    app = MailSetupApp(config_path)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = form(app)
        await pilot.press("ctrl+t")
        await open_section(pilot, "review")
        pane = app.screen.query_one(DiagnosticsPane)
        await wait_for(pilot, lambda: pane.outcome is not None and not screen.sending)
        assert pane.outcome is not None and pane.outcome.ok, pane.transcript_text()
        assert "PASSED" in str(app.screen.query_one("#verdict").render())
    assert "Subject: Test email from Acme Licensing" in received.read_text()


def test_without_a_terminal_the_tui_explains_and_exits_64(tmp_path: Path) -> None:
    import subprocess

    result = subprocess.run(
        [sys.executable, "-m", "tui_mailsetup", "--config", str(tmp_path / "config.toml")],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 64
    assert "terminal" in result.stderr


async def test_password_is_masked_until_revealed(config_path: Path) -> None:
    from textual.widgets import Checkbox

    app = MailSetupApp(config_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_section(pilot, "credentials")
        password = editor(app, "smtp.password")
        assert password.password
        reveal = row(app, "smtp.password").query_one(Checkbox)
        reveal.focus()
        await pilot.press("space")
        await pilot.pause()
        assert not password.password
        await pilot.press("space")
        await pilot.pause()
        assert password.password


async def test_overridden_values_show_their_source_and_are_not_saved_unless_edited(
    config_path: Path,
) -> None:
    from tui_mailsetup.config_file import load_config

    write_config(config_path, {"smtp.host": "file.example", **SENDER})
    loaded = load_config(config_path, overrides={"smtp.host": "over.example"})
    app = MailSetupApp(config_path, loaded=loaded)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_section(pilot, "server")
        assert editor(app, "smtp.host").value == "over.example"
        assert "cli" in str(row(app, "smtp.host").query_one(".field-source").render())
        editor(app, "smtp.port").value = "2525"
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: "port = 2525" in file_text(config_path))
    assert 'host = "file.example"' in file_text(config_path)
