"""The TUI's DNS report tells a check that could not be completed from a missing record."""

from __future__ import annotations

from pathlib import Path

from tests.support.dns_server import dns_server, nameserver_entry
from tests.support.tui_support import rendered_text, wait_for, write_config
from tui_mailsetup.tui.app import MailSetupApp
from tui_mailsetup.tui.screens.form import FormScreen
from tui_mailsetup.tui.widgets.dns_report import DnsPanel

SENDER = {"sender.address": "licensing@acme.example", "sender.name": "Acme"}


async def test_a_resolver_answering_servfail_shows_unknown_not_missing(tmp_path: Path) -> None:
    config_path = tmp_path / "config.toml"
    with dns_server({}, servfail=["*"]) as server:
        write_config(
            config_path,
            {"smtp.host": "smtp.example.com", "dns.nameservers": [nameserver_entry(server)]}
            | SENDER,
        )
        app = MailSetupApp(config_path)
        async with app.run_test(size=(80, 24)) as pilot:
            screen = app.screen
            assert isinstance(screen, FormScreen)
            await pilot.press("f3")
            panel = app.screen.query_one(DnsPanel)
            await wait_for(pilot, lambda: panel.report_shown and not screen.checking_dns)
            assert panel.status_plain() == "DNS for acme.example: 0 ✔  0 !  0 ✘  6 ? unknown"
            report = rendered_text(app.screen.query_one("#dns-report-text"))
            marks = {
                line.split()[1]: line.split()[0]
                for line in report.splitlines()
                if line[:1] in "✔!✘?"
            }
            assert marks == dict.fromkeys(["MX", "SPF", "DKIM", "DMARC", "MTA-STS", "TLS-RPT"], "?")
            assert "No DKIM key" not in report and "SERVFAIL" in report
