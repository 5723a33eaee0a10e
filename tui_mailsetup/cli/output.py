"""Shared output helpers for the command line: colour only on a TTY, never with NO_COLOR."""

from __future__ import annotations

import json
import os
import sys
from typing import Any, TextIO

from tui_mailsetup.findings import Finding, Severity

_CODES = {
    "red": "31",
    "green": "32",
    "yellow": "33",
    "blue": "34",
    "magenta": "35",
    "cyan": "36",
    "dim": "2",
    "bold": "1",
}


def use_colour(stream: TextIO | None = None) -> bool:
    stream = stream or sys.stdout
    if "NO_COLOR" in os.environ or os.environ.get("TERM") == "dumb":
        return False
    return hasattr(stream, "isatty") and stream.isatty()


def paint(text: str, colour: str, *, stream: TextIO | None = None) -> str:
    """``text`` in ``colour`` when the stream is a colour terminal; unchanged otherwise."""
    if not use_colour(stream):
        return text
    return f"\x1b[{_CODES[colour]}m{text}\x1b[0m"


def print_json(document: Any) -> None:
    print(json.dumps(document, indent=2, ensure_ascii=False, default=str))


_SEVERITY_COLOUR = {Severity.ERROR: "red", Severity.WARNING: "yellow", Severity.INFO: "cyan"}


def print_findings(findings: list[Finding], *, stream: TextIO | None = None) -> None:
    stream = stream or sys.stdout
    for finding in findings:
        label = paint(
            f"{finding.severity.value:<7}", _SEVERITY_COLOUR[finding.severity], stream=stream
        )
        print(f"{label} {finding.field}: {finding.message}", file=stream)
        if finding.fix:
            for command in finding.fix.as_commands():
                print(f"        fix ({finding.fix.label}): {command}", file=stream)


def error(message: str) -> None:
    print(f"tui-mailsetup: {paint('error', 'red', stream=sys.stderr)}: {message}", file=sys.stderr)
