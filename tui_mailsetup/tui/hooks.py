"""The seams between the TUI and the rest of the program, kept free of Textual.

* :data:`DriverFactory` builds the driver a test send uses (tests and benchmarks
  pass their own; the default picks the engine's driver for the settings).
* :class:`Exporter` renders the settings for another program (issue 5's
  ``tui_mailsetup.export``); the review step offers it when one is available.
* :data:`InboxSource` lists the messages a local sandbox received (the demo).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from email.message import EmailMessage

    from tui_mailsetup.drivers.base import MailDriver
    from tui_mailsetup.sandbox import ReceivedMessage
    from tui_mailsetup.settings import MailSettings

# The settings model is named, not imported: the TUI's first frame does without it.
DriverFactory = Callable[["MailSettings", "str | None"], "MailDriver"]
"""``factory(settings, secret)``: the secret is the password, API key or AWS secret key."""

InboxSource = Callable[[], "Sequence[ReceivedMessage]"]
"""Returns every message received so far (``lambda: list(sandbox.messages)``)."""

MessageBuilder = Callable[["MailSettings", list[str]], "EmailMessage"]


class Exporter(Protocol):
    """What the review step needs to offer "export for another program"."""

    @property
    def formats(self) -> Sequence[str]: ...

    def render(self, settings: MailSettings, fmt: str, config_path: Path) -> str:
        """The file's text for ``fmt``, never with secrets."""
        ...

    def write(self, path: Path, text: str, fmt: str) -> None:
        """Write it with the mode the format needs."""
        ...


def default_driver_factory(settings: MailSettings, secret: str | None) -> MailDriver:
    """The engine's driver for ``settings.driver``."""
    from tui_mailsetup.drivers import create_driver

    return create_driver(settings, secret)


def default_message_builder(settings: MailSettings, recipients: list[str]) -> EmailMessage:
    from tui_mailsetup.message import build_test_message

    return build_test_message(settings, recipients)


class _ModuleExporter:
    """Adapts :mod:`tui_mailsetup.export` to :class:`Exporter` (secrets never included)."""

    @property
    def formats(self) -> Sequence[str]:
        from tui_mailsetup import export

        return export.FORMATS

    def render(self, settings: MailSettings, fmt: str, config_path: Path) -> str:
        from tui_mailsetup import export

        return export.render(fmt, settings, export.ExportOptions(config_path=config_path))

    def write(self, path: Path, text: str, fmt: str) -> None:
        from tui_mailsetup import export

        export.write_export(path, text, mode=export.output_mode(fmt, include_secrets=False))


def default_exporter() -> Exporter | None:
    """``tui_mailsetup.export`` when this version has it, else None."""
    import importlib.util

    if importlib.util.find_spec("tui_mailsetup.export") is None:
        return None
    return _ModuleExporter()
