"""The exceptions the ladder raises and catches, and how an exception becomes a reason.

``Failed`` and ``Stop`` never leave the package: :meth:`Conversation.run
<tui_mailsetup.engine.smtp.conversation.Conversation.run>` turns every one of
these into the run's :class:`~tui_mailsetup.engine.events.Outcome`.
"""

from __future__ import annotations

from tui_mailsetup.engine.events import Diagnosis


class Failed(Exception):
    """A stage failed; the diagnosis says why."""

    def __init__(self, diagnosis: Diagnosis) -> None:
        super().__init__(diagnosis.cause)
        self.diagnosis = diagnosis


class Stop(Exception):
    """The ladder reached ``stop_after``."""


class RepliesOutOfStep(Exception):
    """The server sent a reply nobody asked for: it sits unread when the next command goes."""

    def __init__(self, stray: bytes) -> None:
        super().__init__(stray.decode("utf-8", "replace"))
        self.stray = stray


class HandshakeDropped(Exception):
    """The connection ended during the STARTTLS handshake (after the server's 220)."""


def reason(exc: BaseException) -> str:
    """An exception as a short text: its message (or type) and its cause's message."""
    cause = exc.__cause__
    text = str(exc) or type(exc).__name__
    if cause is not None and str(cause):
        text += f" ({cause})"
    return text
