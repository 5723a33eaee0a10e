"""The interface every driver shares: send a message, streaming events."""

from __future__ import annotations

from collections.abc import AsyncIterator
from email.message import EmailMessage
from typing import Any, Protocol, runtime_checkable

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


@runtime_checkable
class ChecksAccount(Protocol):
    """Optional: a driver whose check path (``send(..., stop_after=...)``) learns facts
    worth a structured report, such as the SES account (sandbox, sending enabled, quota)
    and the sender identity (verified, DKIM, other regions).

    After the Outcome, ``check_details`` holds them as JSON-ready values, for ``check
    --json`` to report (as ``"driver_details"``: ``isinstance(driver, ChecksAccount)``).
    The transcript carries the same facts as notes, for people.
    """

    check_details: dict[str, Any]
