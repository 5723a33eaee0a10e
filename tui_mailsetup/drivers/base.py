"""The interface every driver shares: send a message, streaming events."""

from __future__ import annotations

from collections.abc import AsyncIterator
from email.message import EmailMessage
from typing import Protocol

from tui_mailsetup.engine.events import Event, Stage


class MailDriver(Protocol):
    name: str

    def send(
        self,
        message: EmailMessage,
        recipients: list[str],
        *,
        stop_after: Stage | None = None,
    ) -> AsyncIterator[Event]:
        """Send ``message`` (or, with ``stop_after``, only climb the ladder that far).

        Yields events as they happen; the last one is always an
        :class:`~tui_mailsetup.engine.events.Outcome`. Never raises for a
        delivery failure: that is an Outcome with a Diagnosis.
        """
        ...
