"""ctrl+t and f3: a test send and the sender domain's DNS check, from the form to the panels.

:class:`ReviewFlow` is composed into the form screen. It asks the session whether a test
may start (:meth:`FormSession.test_request`), hands it to the review panel, whose worker
sends it and posts ``TestFinished`` (the app records it, then calls the screen's
``test_recorded``) and ``TestEnded``; the DNS panel checks the domain in its own worker and
posts ``Finished``. The flow keeps what runs (``sending``, ``checking_dns``) for the footer.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any, Protocol

from textual.css.query import NoMatches
from textual.notifications import SeverityLevel
from textual.widgets import Input

from tui_mailsetup.tui.form_session import FormSession, Refusal, TestRequest
from tui_mailsetup.tui.screens.form_dialogs import confirm_rate_limited
from tui_mailsetup.tui.services import TuiServices

if TYPE_CHECKING:
    from textual.screen import Screen

    from tui_mailsetup.settings import MailSettings
    from tui_mailsetup.tui.widgets.diagnostics import DiagnosticsPane
    from tui_mailsetup.tui.widgets.dns_report import DnsPanel
    from tui_mailsetup.tui.widgets.review import ReviewPanel


class ReviewHost(Protocol):
    """What the flow asks of the form screen."""

    @property
    def session(self) -> FormSession: ...

    def sync_rows(self) -> None: ...

    def revalidate(self) -> object: ...

    def show_section(self, section_id: str) -> None: ...

    def section_ready(self, section_id: str) -> Awaitable[None]: ...

    def on_dns_checked(self) -> None: ...


class ReviewFlow:
    def __init__(self, host: ReviewHost, screen: Screen[Any], services: TuiServices) -> None:
        self.host = host
        self.screen = screen
        """The same screen, as Textual knows it (queries, workers, notifications)."""
        self.services = services
        self.sending = False
        self.checking_dns = False

    def _notify(self, message: str, *, title: str = "", severity: SeverityLevel) -> None:
        self.screen.notify(message, title=title, severity=severity, timeout=8)

    def _refresh_footer(self) -> None:
        # The footer: esc while something runs, f3 when not.
        self.screen.refresh_bindings()

    # ------------------------------------------------------------------ the review panel

    def review_panel(self) -> ReviewPanel:
        """The review section's panel; NoMatches until the section is built."""
        from tui_mailsetup.tui.widgets.review import ReviewPanel

        return self.screen.query_one("#review", ReviewPanel)

    @property
    def pane(self) -> DiagnosticsPane | None:
        from tui_mailsetup.tui.widgets.diagnostics import DiagnosticsPane

        return self.screen.query_one_optional("#diagnostics", DiagnosticsPane)

    def typed_recipient(self) -> str:
        recipient = self.screen.query_one_optional("#recipient", Input)
        return recipient.value if recipient is not None else ""

    def show_last_result(self) -> None:
        """This session's result (the pane shows it; a rate limit still said), else the last."""
        try:
            panel = self.review_panel()
        except NoMatches:
            return
        history = self.services.history
        pane = self.pane
        if pane is not None and pane.outcome is not None:
            panel.show_last_result(history.rate_limit_text())
        else:
            panel.show_last_result(history.last_result_text())

    # ------------------------------------------------------------------ a test send

    def send_test(self, *, confirmed: bool = False) -> None:
        if self.sending:
            self._notify("A test is running; escape cancels it.", severity="warning")
            return
        host = self.host
        host.sync_rows()
        host.revalidate()
        request = host.session.test_request(self.typed_recipient(), self.services.config.loaded)
        if isinstance(request, Refusal):
            self._notify(request.message, title=request.title, severity="error")
            return
        if (limited := self.services.history.rate_limit_text()) is not None and not confirmed:
            confirm_rate_limited(self.screen, limited, lambda: self.send_test(confirmed=True))
            return
        host.show_section("review")
        if (dns := self.dns_panel) is not None:
            # The transcript needs the room more than the last DNS report (f3 runs it again).
            dns.hide_report()
        self.sending = True
        self._refresh_footer()
        self.screen.run_worker(
            self._send(request), exclusive=True, exit_on_error=False, group="send", name="test-send"
        )

    async def _send(self, request: TestRequest) -> None:
        """Wait for the review section, then its panel sends (its own worker)."""
        try:
            await self.host.section_ready("review")
        except asyncio.CancelledError:
            self.send_ended()
            raise
        self.review_panel().send_test(request, self.services.run_test)

    def send_ended(self) -> None:
        self.sending = False
        self._refresh_footer()

    def cancel(self) -> None:
        """Escape: stop a running test send, and a running DNS check."""
        if self.sending:
            self.screen.workers.cancel_group(self.screen, "send")
            with contextlib.suppress(NoMatches):
                self.review_panel().cancel_test()
        if self.checking_dns and (panel := self.dns_panel) is not None:
            panel.cancel()

    # ------------------------------------------------------------------ the DNS check

    @property
    def dns_panel(self) -> DnsPanel | None:
        from tui_mailsetup.tui.widgets.dns_report import DnsPanel

        return self.screen.query_one_optional("#dns", DnsPanel)

    def dns_settings(self) -> MailSettings:
        """The settings the DNS check uses: what is typed, even while another field has an error."""
        return self.host.session.dns_settings(self.services.config.loaded.settings)

    def check_dns(self) -> None:
        """Check the sender domain's MX, SPF, DKIM, DMARC and MTA-STS records (f3)."""
        self.host.sync_rows()
        self.host.show_section("review")
        if self.checking_dns:
            self._notify("A DNS check is running; escape cancels it.", severity="warning")
            return
        settings: MailSettings | None = self.dns_settings()
        if settings is not None and not settings.sender.address:
            settings = None
            self._notify(
                "Set the sender address first: its domain is the one checked.",
                title="No sender address",
                severity="warning",
            )
        if (panel := self.dns_panel) is not None:
            self.checking_dns = settings is not None
            self._refresh_footer()
            panel.check(settings)

    def dns_finished(self) -> None:
        self.checking_dns = False
        self._refresh_footer()
        self.host.on_dns_checked()
