"""The configuration's raw values, read cheaply: no settings model, no validation.

The TUI draws its first frame from these (which screen, the driver on show) and
loads the configuration properly (:func:`tui_mailsetup.config_file.load_config`:
every layer, validation, where each value came from) right after that frame is
on the screen. Reading the file with the standard library's ``tomllib`` costs a
few milliseconds; importing the settings model costs a hundred.

Nothing here judges a value: when the file cannot be read or is not TOML,
:func:`peek_config` returns None and the caller loads it fully, which says why
in the usual words (and exits 78). When the full load disagrees with the peek,
the full load wins.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tui_mailsetup.paths import ENV_NESTED_DELIMITER, ENV_PREFIX


@dataclass(frozen=True)
class Peek:
    path: Path
    """The configuration file (``--config``, ``MAILSETUP_CONFIG`` or the platform's)."""
    exists: bool
    data: dict[str, Any] = field(default_factory=dict)
    """The file's tables overlaid with ``MAILSETUP_*`` environment values, unvalidated."""

    def get(self, key: str, default: Any = None) -> Any:
        """The raw value of a dotted key (``smtp.host``), or ``default``."""
        value: Any = self.data
        for part in key.split("."):
            if not isinstance(value, Mapping) or part not in value:
                return default
            value = value[part]
        return value

    def text(self, key: str) -> str:
        """A raw value as stripped text ("" when absent or not a scalar)."""
        value = self.get(key)
        return "" if value is None or isinstance(value, Mapping | list) else str(value).strip()


def peek_config(path: str | os.PathLike[str] | None = None, *, system: bool = False) -> Peek | None:
    """The raw configuration, or None when the file cannot be read or parsed cheaply."""
    from tui_mailsetup.paths import resolve_config_path

    config_path = resolve_config_path(path, system=system)
    data: dict[str, Any] = {}
    try:
        exists = config_path.is_file()
        if not exists and config_path.exists():
            return None  # a directory, a FIFO …: the full load says what is wrong
        if exists:
            import tomllib  # only when there is a file (a first run has none)

            from tui_mailsetup.sanitize import PARSE_LIMIT, deep_line

            text = config_path.read_bytes().decode("utf-8")
            if deep_line(text, PARSE_LIMIT) is not None:
                return None  # the full load refuses it, with the line
            try:
                data = tomllib.loads(text)
            except (tomllib.TOMLDecodeError, RecursionError):
                return None
    except (OSError, UnicodeDecodeError):
        return None
    for name, value in os.environ.items():
        if not name.upper().startswith(ENV_PREFIX):
            continue
        *parents, last = name[len(ENV_PREFIX) :].lower().split(ENV_NESTED_DELIMITER)
        section = data
        for part in parents:
            child = section.get(part)
            if not isinstance(child, dict):
                child = section[part] = {}
            section = child
        section[last] = value
    return Peek(config_path, exists, data)


__all__ = ["Peek", "peek_config"]
