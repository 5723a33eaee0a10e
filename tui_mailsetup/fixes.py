"""A fix is a concrete settings change that a finding or a diagnosis offers.

The TUI applies one on a key press; the command line prints it as the
``tui-mailsetup set`` commands that would apply it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # findings import this module; --help must not load the settings model
    from tui_mailsetup.settings import MailSettings


@dataclass(frozen=True)
class Fix:
    label: str
    """What applying it does, for a person: "set encryption to TLS"."""
    changes: Mapping[str, Any] = field(default_factory=dict)
    """Dotted keys and their new values: ``{"smtp.encryption": "tls"}``."""

    def as_commands(self) -> list[str]:
        return [
            f"tui-mailsetup set {key} {_shell_value(value)}" for key, value in self.changes.items()
        ]

    def to_json(self) -> dict[str, Any]:
        return {"label": self.label, "changes": dict(self.changes)}


def _shell_value(value: Any) -> str:
    import shlex

    if isinstance(value, bool):
        return "true" if value else "false"
    return shlex.quote(str(value))


def apply_fix(settings: MailSettings, fix: Fix) -> MailSettings:
    """A new settings object with the fix's changes; raises ValidationError if they do not validate."""
    from tui_mailsetup.settings import MailSettings

    data = settings.model_dump()
    for key, value in fix.changes.items():
        section: dict[str, Any] = data
        *parents, name = key.split(".")
        for part in parents:
            section = section[part]
        section[name] = value
    return MailSettings.model_validate(data)
