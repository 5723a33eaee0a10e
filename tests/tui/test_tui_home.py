"""The returning user's home screen, trust decisions, and the dialogs that ask first."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from textual.widgets import Input

from tests.support.tui_support import (
    SENDER,
    ScriptedDriver,
    burst,
    open_section,
    rendered_text,
    scripted_factory,
    settled,
    wait_for,
    write_config,
)
from tui_mailsetup.engine.events import Diagnosis, Outcome, Stage, StageStarted, TlsDetails
from tui_mailsetup.exitcodes import ExitCode
from tui_mailsetup.fixes import Fix
from tui_mailsetup.state import record_outcome
from tui_mailsetup.tui.app import MailSetupApp
from tui_mailsetup.tui.screens.dialogs import (
    ConfirmQuitScreen,
    ConfirmScreen,
    HelpScreen,
    PinConfirmScreen,
)
from tui_mailsetup.tui.screens.form import FormScreen
from tui_mailsetup.tui.screens.settings import SettingsScreen
from tui_mailsetup.tui.screens.wizard import WizardScreen

FINGERPRINT = ":".join(f"{n:02X}" for n in range(32))
SERVER = {"smtp.host": "smtp.example.com", "smtp.username": "alice@acme.example"}


@pytest.fixture
def config_path(tmp_path: Path) -> Path:
    directory = tmp_path / "cfg"
    directory.mkdir(mode=0o700)
    return directory / "config.toml"


def home_text(app: MailSetupApp) -> str:
    return rendered_text(app.screen.query_one("#home-text"))


def form(app: MailSetupApp) -> FormScreen:
    screen = app.screen
    assert isinstance(screen, FormScreen)
    return screen


async def test_home_screen_says_what_sends_and_how_the_last_test_went(config_path: Path) -> None:
    write_config(config_path, {**SERVER, **SENDER}, password="pw")
    diagnosis = Diagnosis(
        Stage.MAIL, "Rate limited (421)", exit_code=ExitCode.TEMPFAIL, retry_after=time.time() + 600
    )
    record_outcome(config_path, Outcome(False, Stage.MAIL, 0.2, diagnosis), host="smtp.example.com")
    app = MailSetupApp(config_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert isinstance(app.screen, SettingsScreen)
        assert form(app).current_section() == "home"
        text = home_text(app)
        assert "smtp.example.com:587  STARTTLS" in text
        assert "alice@acme.example; password from the credentials file" in text
        assert "Acme Licensing <licensing@acme.example>" in text
        assert "failed at mail" in text
        assert "Rate limited until" in text
        # One letter opens a section, and the keys after it land there.
        burst(app, ["c", "ctrl+u", *"bob"])
        await wait_for(pilot, lambda: form(app).current_section() == "credentials")
        await wait_for(pilot, lambda: isinstance(app.focused, Input) and app.focused.value == "bob")


async def test_home_screen_shows_the_chmod_for_an_ignored_credentials_file(
    config_path: Path,
) -> None:
    write_config(config_path, {**SERVER, **SENDER}, password="pw")
    credentials = config_path.with_name("credentials.toml")
    os.chmod(credentials, 0o644)
    app = MailSetupApp(config_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await settled(pilot)
        text = " ".join(home_text(app).split())
        assert "password not set" in text
        assert "it holds secrets, so it is ignored. Fix it with: chmod 600" in text
        await open_section(pilot, "credentials")
        note = rendered_text(app.screen.query_one("#secret-note"))
        assert "chmod 600" in note


async def test_a_file_without_a_server_section_gets_the_wizard(config_path: Path) -> None:
    write_config(config_path, {"dns.nameservers": ["127.0.0.1:5353"]})
    app = MailSetupApp(config_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert isinstance(app.screen, WizardScreen)


def _pin_failure(issuer: str) -> list[object]:
    tls = TlsDetails(
        "TLSv1.3",
        "TLS_AES_256_GCM_SHA384",
        subject="CN=mail.acme.example",
        issuer=issuer,
        sans=("DNS:mail.acme.example",),
        not_before="2030-01-01T00:00:00Z",
        not_after="2031-01-01T00:00:00Z",
        fingerprint_sha256=FINGERPRINT,
        verified=False,
        verify_message="self-signed certificate",
    )
    fix = Fix("pin the certificate's fingerprint", {"smtp.fingerprint": FINGERPRINT})
    diagnosis = Diagnosis(
        Stage.STARTTLS, "The certificate is not trusted", fix=fix, exit_code=ExitCode.PROTOCOL
    )
    return [StageStarted(Stage.STARTTLS), tls, Outcome(False, Stage.STARTTLS, 0.1, diagnosis)]


async def _fail_with_certificate(pilot: object, app: MailSetupApp) -> None:
    await open_section(pilot, "review")  # type: ignore[arg-type]
    burst(app, ["ctrl+t"])
    await wait_for(pilot, lambda: not form(app).sending and form(app).pane is not None)  # type: ignore[arg-type]
    pane = form(app).pane
    assert pane is not None
    await wait_for(pilot, lambda: pane.outcome is not None)  # type: ignore[arg-type]


async def test_pinning_shows_the_certificate_and_asks(config_path: Path) -> None:
    write_config(config_path, {**SERVER, **SENDER}, password="pw")
    driver = ScriptedDriver(_pin_failure("CN=mail.acme.example"))  # type: ignore[arg-type]
    app = MailSetupApp(config_path, driver_factory=scripted_factory(driver))
    async with app.run_test(size=(80, 24)) as pilot:
        await _fail_with_certificate(pilot, app)
        fix_line = app.screen.query_one("#fix-line")
        await wait_for(pilot, lambda: "F2 review the certificate" in rendered_text(fix_line))
        await pilot.press("f2")
        await wait_for(pilot, lambda: isinstance(app.screen, PinConfirmScreen))
        details = rendered_text(app.screen.query_one("#pin-details"))
        assert "CN=mail.acme.example" in details
        assert "2030-01-01T00:00:00Z to 2031-01-01T00:00:00Z" in details
        # The whole fingerprint, on two lines.
        assert FINGERPRINT.replace(":", "") in details.replace(":", "").replace(" ", "").replace(
            "\n", ""
        ).replace("SHA-256", "")
        # Escape decides nothing.
        await pilot.press("escape")
        await pilot.pause()
        assert form(app).state.get("smtp.fingerprint") == ""
        await pilot.press("f2")
        await wait_for(pilot, lambda: isinstance(app.screen, PinConfirmScreen))
        await pilot.press("p")
        await pilot.pause()
        assert form(app).state.get("smtp.fingerprint") == FINGERPRINT


async def test_a_private_ca_is_offered_the_ca_file_first(config_path: Path) -> None:
    write_config(config_path, {**SERVER, **SENDER}, password="pw")
    driver = ScriptedDriver(_pin_failure("CN=Acme Internal CA"))  # type: ignore[arg-type]
    app = MailSetupApp(config_path, driver_factory=scripted_factory(driver))
    async with app.run_test(size=(80, 24)) as pilot:
        await _fail_with_certificate(pilot, app)
        await pilot.press("f2")
        await wait_for(pilot, lambda: isinstance(app.screen, PinConfirmScreen))
        assert app.focused is not None and app.focused.id == "ca-file"
        await pilot.press("enter")
        await wait_for(pilot, lambda: form(app).current_section() == "server")
        await wait_for(
            pilot, lambda: app.focused is not None and app.focused.id == "f-smtp--ca-file"
        )
        assert form(app).state.get("smtp.fingerprint") == ""


async def test_quit_dialog_lists_the_changes_and_ctrl_c_asks_too(config_path: Path) -> None:
    write_config(config_path, {**SERVER, **SENDER}, password="pw")
    app = MailSetupApp(config_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_section(pilot, "server")
        burst(app, ["tab", "ctrl+u", *"465", "ctrl+c"])
        # The list is written once the dialog is up: wait for its text, not only the widget.
        await wait_for(
            pilot,
            lambda: (
                bool(app.screen.query("#quit-changes"))
                and "smtp.port" in rendered_text(app.screen.query_one("#quit-changes"))
            ),
        )
        assert isinstance(app.screen, ConfirmQuitScreen)
        changes = rendered_text(app.screen.query_one("#quit-changes"))
        assert 'smtp.port: "587" → "465"' in changes
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, SettingsScreen)


async def test_a_test_while_rate_limited_asks_first(config_path: Path) -> None:
    write_config(config_path, {**SERVER, **SENDER}, password="pw")
    diagnosis = Diagnosis(
        Stage.MAIL, "Rate limited", exit_code=ExitCode.TEMPFAIL, retry_after=time.time() + 600
    )
    record_outcome(config_path, Outcome(False, Stage.MAIL, 0.2, diagnosis))
    driver = ScriptedDriver([Outcome(True, Stage.DATA, 0.1)])
    app = MailSetupApp(config_path, driver_factory=scripted_factory(driver))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press("ctrl+t")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("escape")
        await pilot.pause()
        pane = form(app).pane
        assert (not form(app).sending and pane is None) or (
            pane is not None and pane.outcome is None
        )
        await pilot.press("ctrl+t")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await wait_for(
            pilot, lambda: (pane := form(app).pane) is not None and pane.outcome is not None
        )


async def test_numbers_take_digits_only(config_path: Path) -> None:
    write_config(config_path, {**SERVER, **SENDER}, password="pw")
    app = MailSetupApp(config_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_section(pilot, "server")
        burst(app, ["tab", "ctrl+u", *"4a6b5"])
        row = form(app).row("smtp.port")
        assert row is not None
        await wait_for(pilot, lambda: row.value == "465")


async def test_f1_on_the_password_names_set_secret(config_path: Path) -> None:
    write_config(config_path, {**SERVER, **SENDER}, password="pw")
    app = MailSetupApp(config_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_section(pilot, "credentials")
        burst(app, ["tab", "f1"])
        # Laid out, not only mounted: before its first layout the body has no size to draw in.
        await wait_for(
            pilot,
            lambda: (
                bool(app.screen.query("#help-body"))
                and bool(rendered_text(app.screen.query_one("#help-body")).strip())
            ),
        )
        assert isinstance(app.screen, HelpScreen)
        body = rendered_text(app.screen.query_one("#help-body"))
        assert "set-secret smtp.password" in body
        assert "set smtp.password" not in body


async def test_detect_types_the_username_and_says_a_failure_in_one_line(
    config_path: Path,
) -> None:
    from tests.support.dns_server import dns_server, nameserver_entry

    zone = {("_submissions._tcp.acme.example", "SRV"): ["0 1 465 submit.acme.example."]}
    with dns_server(zone) as server:
        # Probes off: nothing listens at submit.acme.example (detect recommends only what a
        # probe verified); the test is about the form and the status line.
        write_config(
            config_path, {"dns.nameservers": [nameserver_entry(server)], "detect.probe": False}
        )
        app = MailSetupApp(config_path)
        async with app.run_test(size=(80, 24)) as pilot:
            await open_section(pilot, "server")
            burst(app, ["shift+tab", "shift+tab", "shift+tab"])
            await wait_for(
                pilot, lambda: app.focused is not None and app.focused.id == "detect-query"
            )
            burst(app, [*"bob@acme.example", "enter"])
            await wait_for(pilot, lambda: form(app).state.get("smtp.host") == "submit.acme.example")
            assert form(app).state.get("smtp.username") == "bob@acme.example"
            assert form(app).state.get("sender.address") == "bob@acme.example"
            status = app.screen.query_one("#detect-status")
            # Nothing at all for this domain: one line says so.
            burst(app, ["ctrl+u", *"nothing.example", "enter"])
            await wait_for(pilot, lambda: "No mail submission server" in rendered_text(status))
            assert len(rendered_text(status).strip().splitlines()) == 1
