"""The SMTP driver: the engine behind the MailDriver interface."""

from __future__ import annotations

from collections.abc import AsyncIterator
from email.message import EmailMessage

from tui_mailsetup.engine.events import Event, Stage
from tui_mailsetup.engine.smtp import GREETING_GRACE, run_smtp
from tui_mailsetup.engine.smtp.session import TokenRenewer
from tui_mailsetup.settings import MailSettings


class SmtpDriver:
    """Sends through ``settings.smtp``; ``password`` is the resolved secret (or OAuth2 token).

    The password is held only in memory and handed to the engine, whose
    redactor removes it (and its base64 forms) from every event.
    """

    name = "smtp"

    def __init__(
        self,
        settings: MailSettings,
        password: str | None,
        *,
        greeting_grace: float = GREETING_GRACE,
    ) -> None:
        self.settings = settings
        self._password = password
        self._greeting_grace = greeting_grace
        self.renew_token: TokenRenewer | None = None
        """Set by the runner for OAuth2 tokens from the store: renews a token the server
        refused, once, in the same session."""

    def __repr__(self) -> str:
        # Never show the password, not even in a debugger or a traceback.
        return f"SmtpDriver(host={self.settings.smtp.host!r}, port={self.settings.smtp.port})"

    def send(
        self,
        message: EmailMessage,
        recipients: list[str],
        *,
        stop_after: Stage | None = None,
    ) -> AsyncIterator[Event]:
        return run_smtp(
            self.settings,
            self._password,
            message,
            recipients,
            stop_after=stop_after,
            greeting_grace=self._greeting_grace,
            renew_token=self.renew_token,
        )
