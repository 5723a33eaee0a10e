"""The form's message row, above the footer (toasts covered the verdict and the actions)."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

_SEVERITY_RANK = ("information", "warning", "error")


class StatusLine(Static):
    """One message (or a few of one action), kept until the person does something else.

    "saved", "fixed", "pinned" and the reason a key did nothing are read after the fact, so
    a message stays until the next value typed, section shown or message. Messages from
    one action (saved, then "still overridden") are shown together, the worst one setting
    the mark. Its layout is in app.tcss (``#status-line``).
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("", id=id)
        self._batch: Text | None = None
        self._severity = "information"

    def show(self, message: str, *, title: str, severity: str) -> None:
        mark = {"error": "✘ ", "warning": "! "}.get(severity, "✔ ")
        style = {"error": "bold red", "warning": "bold yellow"}.get(severity, "green")
        text = Text(mark, style=style)
        if title:
            text.append(f"{title}: ", style="bold")
        text.append(message)
        if self._batch is not None:
            # Another message of the same action: both stay in view, the worst one sets the mark.
            text = Text("\n").join([self._batch, text])
            severity = max(severity, self._severity, key=_SEVERITY_RANK.index)
        else:
            self.call_after_refresh(self._close_batch)
        self._batch = text
        self._severity = severity
        self.update(text)
        self.set_class(True, "-shown")
        self.set_class(severity == "error", "-error")

    def _close_batch(self) -> None:
        self._batch = None

    def clear(self) -> None:
        """The person did something else: the last message has been read."""
        self._batch = None
        self.set_class(False, "-shown")
