"""Snapshot tests (pytest-textual-snapshot) of every screen at 80x24 and 120x40.

The diagnostics pane is shown after a real send through the sandbox server,
recorded once and made deterministic (times, ports, dates and ids fixed), then
replayed into the app so the pictures never change from run to run.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from tests.support.tui_support import (
    SENDER,
    ScriptedDriver,
    no_blink,
    normalise,
    open_section,
    record_send,
    scripted_factory,
    settled,
    wait_for,
    write_config,
)
from tui_mailsetup.engine.events import Event
from tui_mailsetup.sandbox import ReceivedMessage, Sandbox
from tui_mailsetup.settings import MailSettings
from tui_mailsetup.tui.app import MailSetupApp
from tui_mailsetup.tui.screens.form import FormScreen
from tui_mailsetup.tui.widgets.diagnostics import DiagnosticsPane
from tui_mailsetup.tui.widgets.dns_report import DnsPanel

SIZES = [(80, 24), (120, 40)]
SMALL_TO_LARGE = [(80, 24), (60, 20), (120, 40)]
"""The issue's sizes for the screens a person must be able to read anywhere."""
USER = "alice@acme.example"
PASSWORD = "correct horse battery"
SERVER = {
    "smtp.host": "127.0.0.1",
    "smtp.port": 2525,
    "smtp.encryption": "starttls",
    "smtp.username": USER,
    "smtp.ehlo_name": "client.example",
}

Compare = Callable[..., bool]


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run in a private directory so the config path on screen is always ``cfg/config.toml``."""
    (tmp_path / "cfg").mkdir(mode=0o700)
    monkeypatch.chdir(tmp_path)
    return tmp_path


CONFIG = Path("cfg/config.toml")


def _record(password: str) -> list[Event]:
    with Sandbox(mode="starttls", mechanisms=("PLAIN",), username=USER, password=PASSWORD) as box:
        data: dict[str, Any] = {
            "smtp": {
                "host": box.host,
                "port": box.port,
                "encryption": "starttls",
                "username": USER,
                "ca_file": str(box.ca_path),
                "ehlo_name": "client.example",
            },
            "sender": {"name": "Acme Licensing", "address": "licensing@acme.example"},
        }
        settings = MailSettings.model_validate(data)
        events = asyncio.run(record_send(box, settings, password))
        return normalise(events, box.port)


@pytest.fixture(scope="module")
def recorded() -> Iterator[dict[str, list[Event]]]:
    yield {"success": _record(PASSWORD), "failure": _record("wrong password")}


def settle(*keys: str, section: str = "") -> Callable[[Pilot[Any]], Awaitable[None]]:
    async def run_before(pilot: Pilot[Any]) -> None:
        await settled(pilot)  # the configuration loaded, its values filled in
        if section:
            await open_section(pilot, section)
        if keys:
            await pilot.press(*keys)
        await pilot.pause()
        no_blink(pilot)
        await pilot.pause()

    return run_before


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize(
    "keys",
    [
        (),
        ("pagedown",),
        ("pagedown", *"465"),
        ("pagedown", "pagedown"),
        ("pagedown", "pagedown", "pagedown"),
        ("pagedown",) * 4,
    ],
    ids=["driver", "server", "server-finding", "credentials", "sender", "review"],
)
def test_wizard(
    snap_compare: Compare, workdir: Path, keys: tuple[str, ...], size: tuple[int, int]
) -> None:
    if "4" in keys:
        # Type a host so that only the port finding shows, then the conflicting port.
        keys = ("pagedown", *"smtp.acme.example", "tab", "ctrl+u", *"465")
    app = MailSetupApp(CONFIG)
    assert snap_compare(app, run_before=settle(*keys), terminal_size=size)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize(
    "keys",
    [("pagedown",), ("pagedown", "pagedown"), ("f1",), ("ctrl+q",)],
    ids=["server", "credentials", "help", "quit-confirm"],
)
def test_settings(
    snap_compare: Compare,
    workdir: Path,
    monkeypatch: pytest.MonkeyPatch,
    keys: tuple[str, ...],
    size: tuple[int, int],
) -> None:
    write_config(CONFIG, {**SERVER, **SENDER}, PASSWORD)
    monkeypatch.setenv("MAILSETUP_SMTP__TIMEOUT", "10")
    section = "server"
    if keys == ("ctrl+q",):
        # Unsaved changes make quit ask first.
        keys = ("tab", "ctrl+u", *"587", "ctrl+q")
    elif keys == ("f1",):
        keys = ("tab", "f1")
    elif keys == ("pagedown",):
        keys = ()
    else:
        section, keys = "credentials", ()
    app = MailSetupApp(CONFIG)
    assert snap_compare(app, run_before=settle(*keys, section=section), terminal_size=size)


def _send_and_wait() -> Callable[[Pilot[Any]], Awaitable[None]]:
    async def run_before(pilot: Pilot[Any]) -> None:
        await settled(pilot)  # the configuration loaded, its values filled in
        await open_section(pilot, "review")
        await pilot.press("ctrl+t")
        pane = pilot.app.screen.query_one(DiagnosticsPane)
        await wait_for(pilot, lambda: pane.outcome is not None)
        pane.flush()
        # The transcript and the ladder scroll to their ends after the next refresh: on a
        # loaded machine a plain pause could take the picture before they had.
        app = pilot.app
        assert isinstance(app, MailSetupApp)
        await app.keys.settle()
        log = pane.log_widget
        await wait_for(pilot, lambda: bool(log.lines) and log.scroll_y == log.max_scroll_y)
        no_blink(pilot)
        await pilot.pause()

    return run_before


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("case", ["success", "failure"])
def test_diagnostics_pane(
    snap_compare: Compare,
    workdir: Path,
    recorded: dict[str, list[Event]],
    case: str,
    size: tuple[int, int],
) -> None:
    write_config(CONFIG, {**SERVER, **SENDER}, PASSWORD)
    driver = ScriptedDriver(recorded[case])
    app = MailSetupApp(CONFIG, driver_factory=scripted_factory(driver))
    assert snap_compare(app, run_before=_send_and_wait(), terminal_size=size)


def test_dns_report_after_a_check(snap_compare: Compare, workdir: Path) -> None:
    """The review step after f3: one line per check, records dimmed, the advice (80x24)."""
    from tests.support.dns_server import dns_server, nameserver_entry

    zone = {
        ("acme.example", "MX"): ["10 mx.acme.example."],
        ("acme.example", "TXT"): ['"v=spf1 mx ~all"'],
        ("_dmarc.acme.example", "TXT"): ['"v=DMARC1; p=quarantine"'],
    }

    async def run_before(pilot: Pilot[Any]) -> None:
        await settled(pilot)  # the configuration loaded, its values filled in
        await pilot.press("f3")
        screen = pilot.app.screen
        assert isinstance(screen, FormScreen)
        panel = screen.query_one(DnsPanel)
        await wait_for(pilot, lambda: panel.report_shown and not screen.checking_dns)
        await pilot.pause()
        no_blink(pilot)
        await pilot.pause()

    with dns_server(zone) as server:
        # The server's port is only in the file: nothing on screen depends on it.
        values = {**SERVER, **SENDER, "dns.nameservers": [nameserver_entry(server)]}
        write_config(CONFIG, values, PASSWORD)
        app = MailSetupApp(CONFIG)
        assert snap_compare(app, run_before=run_before, terminal_size=(80, 24))


INBOX = [
    ReceivedMessage(
        mail_from="licensing@acme.example",
        rcpt_tos=("licensing@acme.example",),
        data=(
            b"From: Acme Licensing <licensing@acme.example>\r\n"
            b"To: licensing@acme.example\r\n"
            b"Subject: Test email from Acme Licensing\r\n"
            b"Date: Tue, 01 Jan 2030 00:00:00 +0000\r\n"
            b"Message-ID: <0123456789abcdef.tui-mailsetup@acme.example>\r\n"
            b"Content-Type: text/plain; charset=utf-8\r\n\r\n"
            b"This is a test email from tui-mailsetup.\r\n"
        ),
        peer="127.0.0.1",
        authenticated_as=USER,
        received_at=0.0,
    )
]


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_demo_banner_and_inbox(snap_compare: Compare, workdir: Path, size: tuple[int, int]) -> None:
    write_config(CONFIG, {**SERVER, **SENDER}, PASSWORD)
    app = MailSetupApp(
        CONFIG, banner="DEMO  sandbox SMTP server on 127.0.0.1:2525", inbox=lambda: INBOX
    )
    assert snap_compare(app, run_before=settle(section="inbox"), terminal_size=size)


def test_no_color_is_readable(snap_compare: Compare, workdir: Path) -> None:
    """conftest sets NO_COLOR for every test; this one states it and checks the marks show."""
    assert os.environ.get("NO_COLOR")
    app = MailSetupApp(CONFIG)
    assert snap_compare(
        app, run_before=settle("pagedown", "tab", "ctrl+u", *"abc"), terminal_size=(80, 24)
    )


FINGERPRINT = ":".join(f"{n:02X}" for n in range(32))


def long_failure() -> list[Event]:
    """A certificate failure with a long explanation: the verdict must scroll, the fix stay."""
    from tui_mailsetup.engine.events import (
        Diagnosis,
        Outcome,
        Stage,
        StageFinished,
        StageStarted,
        TlsDetails,
    )
    from tui_mailsetup.exitcodes import ExitCode
    from tui_mailsetup.fixes import Fix

    tls = TlsDetails(
        "TLSv1.3",
        "TLS_AES_256_GCM_SHA384",
        subject="CN=mail.acme.example",
        issuer="CN=Acme Internal CA,O=Acme",
        sans=("DNS:mail.acme.example",),
        not_before="2030-01-01T00:00:00Z",
        not_after="2031-01-01T00:00:00Z",
        fingerprint_sha256=FINGERPRINT,
        verified=False,
        verify_message="unable to get local issuer certificate",
        chain=("CN=mail.acme.example", "CN=Acme Internal CA,O=Acme"),
    )
    explanation = (
        "This machine does not trust who signed the certificate. For a private authority "
        "set smtp.ca_file to its CA certificate (PEM); for a self-signed server, pin the "
        f"certificate's fingerprint (SHA-256 {FINGERPRINT}) after checking it with the "
        "server's administrator. Switching verification off is never the answer: anyone "
        "between this machine and the server could then read the password."
    )
    fix = Fix(
        "pin the fingerprint of the certificate the server shows now",
        {"smtp.fingerprint": FINGERPRINT},
    )
    diagnosis = Diagnosis(
        Stage.STARTTLS,
        "The server's certificate is issued by an unknown authority",
        evidence="unable to get local issuer certificate (verify code 20)",
        explanation=explanation,
        fix=fix,
        exit_code=ExitCode.PROTOCOL,
    )
    events: list[Event] = []
    for stage in (Stage.RESOLVE, Stage.CONNECT, Stage.GREETING, Stage.EHLO):
        events += [StageStarted(stage), StageFinished(stage, True, 0.012)]
    events += [StageStarted(Stage.STARTTLS), tls, StageFinished(Stage.STARTTLS, False, 0.05)]
    events.append(Outcome(False, Stage.STARTTLS, 0.25, diagnosis))
    return events


def _failure_app() -> MailSetupApp:
    write_config(CONFIG, {**SERVER, **SENDER}, PASSWORD)
    return MailSetupApp(CONFIG, driver_factory=scripted_factory(ScriptedDriver(long_failure())))


@pytest.mark.parametrize("size", SMALL_TO_LARGE, ids=lambda s: f"{s[0]}x{s[1]}")
def test_home(
    snap_compare: Compare, workdir: Path, monkeypatch: pytest.MonkeyPatch, size: tuple[int, int]
) -> None:
    write_config(CONFIG, {**SERVER, **SENDER}, PASSWORD)
    app = MailSetupApp(CONFIG)
    assert snap_compare(app, run_before=settle(), terminal_size=size)


@pytest.mark.parametrize("size", SMALL_TO_LARGE, ids=lambda s: f"{s[0]}x{s[1]}")
def test_long_failure_verdict(snap_compare: Compare, workdir: Path, size: tuple[int, int]) -> None:
    assert snap_compare(_failure_app(), run_before=_send_and_wait(), terminal_size=size)


@pytest.mark.parametrize("size", SMALL_TO_LARGE, ids=lambda s: f"{s[0]}x{s[1]}")
def test_pin_confirmation(snap_compare: Compare, workdir: Path, size: tuple[int, int]) -> None:
    send = _send_and_wait()

    async def run_before(pilot: Pilot[Any]) -> None:
        from tui_mailsetup.tui.screens.dialogs import PinConfirmScreen

        await send(pilot)
        await pilot.press("f2")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, PinConfirmScreen))
        await pilot.pause()

    assert snap_compare(_failure_app(), run_before=run_before, terminal_size=size)


@pytest.mark.parametrize("size", SMALL_TO_LARGE, ids=lambda s: f"{s[0]}x{s[1]}")
def test_export_dialog(snap_compare: Compare, workdir: Path, size: tuple[int, int]) -> None:
    write_config(CONFIG, {**SERVER, **SENDER}, PASSWORD)

    async def run_before(pilot: Pilot[Any]) -> None:
        from tui_mailsetup.tui.screens.dialogs import ExportScreen

        await settled(pilot)  # the configuration loaded, its values filled in
        screen = pilot.app.screen
        assert isinstance(screen, FormScreen)
        screen.action_export()
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, ExportScreen))
        no_blink(pilot)
        await pilot.pause()

    assert snap_compare(MailSetupApp(CONFIG), run_before=run_before, terminal_size=size)
