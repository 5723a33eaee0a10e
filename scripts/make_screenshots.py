"""Make screenshots/*.svg from the real app (README.md shows them).

Each picture is the running application driven by keys, headless; the test
sends go through the local sandbox SMTP server (STARTTLS, AUTH), so the
transcripts are real.

    python scripts/make_screenshots.py [--out screenshots]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from textual.pilot import Pilot
from textual.widgets import Input

from tui_mailsetup.config_file import write_values
from tui_mailsetup.sandbox import Sandbox
from tui_mailsetup.secrets import store_secret
from tui_mailsetup.tui.app import MailSetupApp
from tui_mailsetup.tui.screens.dialogs import PinConfirmScreen
from tui_mailsetup.tui.screens.form import FormScreen
from tui_mailsetup.tui.widgets.diagnostics import DiagnosticsPane

SIZE = (100, 32)
SENDER = {"sender.name": "Acme Licensing", "sender.address": "licensing@acme.example"}

Steps = Callable[[Pilot[Any]], Awaitable[None]]


def form(pilot: Pilot[Any]) -> FormScreen:
    screen = pilot.app.screen
    assert isinstance(screen, FormScreen)
    return screen


async def settle(pilot: Pilot[Any]) -> None:
    await pilot.pause()
    for widget in pilot.app.screen.query(Input).results(Input):
        widget.cursor_blink = False
    await pilot.pause()


async def section(pilot: Pilot[Any], name: str) -> None:
    form(pilot).show_section(name)
    await form(pilot).section_ready(name)
    await pilot.pause()


async def until(pilot: Pilot[Any], done: Callable[[], bool], what: str) -> None:
    """Wait for ``done``, at most 60 s: a screen that never comes fails the script, never
    hangs it."""
    for _ in range(1200):
        if done():
            return
        await pilot.pause(0.05)
    raise SystemExit(f"make_screenshots: gave up waiting for {what}")


async def send(pilot: Pilot[Any]) -> None:
    await section(pilot, "review")
    await pilot.press("ctrl+t")
    pane = pilot.app.screen.query_one(DiagnosticsPane)
    await until(pilot, lambda: pane.outcome is not None, "the test send's verdict")
    pane.flush()


async def shoot(app: MailSetupApp, steps: Steps, path: Path) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await app.wait_for_config()  # loaded right after the first frame: the values in
        await pilot.pause()
        await steps(pilot)
        await settle(pilot)
        app.save_screenshot(str(path))
    print(f"wrote {path}")


def private_dir() -> Path:
    directory = Path(tempfile.mkdtemp(prefix="tui-mailsetup-shots-"))
    os.chmod(directory, 0o700)
    return directory


async def main(out: Path) -> None:

    # 1. First run: the wizard's server step, with a port/encryption finding and its fix.
    async def wizard(pilot: Pilot[Any]) -> None:
        await section(pilot, "server")
        await pilot.press(*"smtp.gmail.com", "tab", "ctrl+u", *"465")

    await shoot(MailSetupApp(private_dir() / "config.toml"), wizard, out / "wizard-server.svg")

    async with Sandbox(mode="starttls") as box:
        config = private_dir() / "config.toml"
        values = {f"smtp.{k}": v for k, v in box.smtp_settings().items()}
        write_values(config, {**values, **SENDER})
        store_secret(config, "smtp.password", box.password)

        # 2. A returning user's first screen: what sends, who logs in, the last test.
        async def home(pilot: Pilot[Any]) -> None:
            await pilot.pause()

        await shoot(MailSetupApp(config), home, out / "home.svg")

        # 3. The credentials tab with where each value comes from.
        async def credentials(pilot: Pilot[Any]) -> None:
            await section(pilot, "credentials")

        await shoot(MailSetupApp(config), credentials, out / "settings-credentials.svg")

        # 4. A test send that passes: the ladder, the transcript, the verdict.
        await shoot(MailSetupApp(config), send, out / "test-passed.svg")

        # 5. A test send that fails: the diagnosis and its fix.
        store_secret(config, "smtp.password", "not the password")
        await shoot(MailSetupApp(config), send, out / "test-failed.svg")

    # 6. A self-signed certificate: F2 shows it before anything is pinned. (A private CA's
    # certificate gets the ca_file fix instead, with no dialog: nothing to pin.)
    async with Sandbox(mode="starttls", cert="self-signed") as box:
        config = private_dir() / "config.toml"
        values = {f"smtp.{k}": v for k, v in box.smtp_settings().items() if k != "ca_file"}
        write_values(config, {**values, **SENDER})
        store_secret(config, "smtp.password", box.password)

        async def pin(pilot: Pilot[Any]) -> None:
            await send(pilot)
            await pilot.press("f2")
            await until(
                pilot,
                lambda: isinstance(pilot.app.screen, PinConfirmScreen),
                "the pin confirmation after f2",
            )

        await shoot(MailSetupApp(config), pin, out / "pin-confirmation.svg")

    # 7. Implicit TLS server configured as STARTTLS: the fix is one key away.
    async with Sandbox(mode="tls") as box:
        config = private_dir() / "config.toml"
        values = {f"smtp.{k}": v for k, v in box.smtp_settings().items()}
        write_values(config, {**values, **SENDER, "smtp.encryption": "starttls"})
        store_secret(config, "smtp.password", box.password)
        await shoot(MailSetupApp(config), send, out / "test-mismatch.svg")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).resolve().parent.parent / "screenshots"
    )
    out = parser.parse_args().out
    out.mkdir(parents=True, exist_ok=True)
    asyncio.run(main(out))
