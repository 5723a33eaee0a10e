"""Shared output helpers for the command line: colour only on a TTY, never with NO_COLOR.

Everything printed here is neutralised first (sanitize.py): messages can quote
values from files, the environment and the command line.
"""

from __future__ import annotations

import json
import os
import re
import sys
from typing import TYPE_CHECKING, Any, TextIO

from tui_mailsetup.findings import Finding, Severity
from tui_mailsetup.sanitize import untrusted_lines

if TYPE_CHECKING:
    from tui_mailsetup.errors import MailSetupError

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


# JSON escapes only U+0000-U+001F; C1 controls, line separators, bidirectional
# overrides and lone surrogates would reach a terminal that shows the document raw.
_JSON_UNSAFE = re.compile(r"[\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufeff\ud800-\udfff]")


def json_text(document: Any, *, indent: int | None = 2) -> str:
    """``document`` as JSON text that is safe on a terminal and still valid JSON."""
    text = json.dumps(document, indent=indent, ensure_ascii=False, default=str)
    return _JSON_UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def print_json(document: Any) -> None:
    print(json_text(document))


_SEVERITY_COLOUR = {Severity.ERROR: "red", Severity.WARNING: "yellow", Severity.INFO: "cyan"}


def print_findings(findings: list[Finding], *, stream: TextIO | None = None) -> None:
    stream = stream or sys.stdout
    for finding in findings:
        label = paint(
            f"{finding.severity.value:<7}", _SEVERITY_COLOUR[finding.severity], stream=stream
        )
        print(f"{label} {untrusted_lines(f'{finding.field}: {finding.message}')}", file=stream)
        if finding.fix:
            for command in finding.fix.as_commands():
                line = untrusted_lines(f"fix ({finding.fix.label}): {command}")
                print(f"        {line}", file=stream)


def error(message: str) -> None:
    text = untrusted_lines(message)
    print(f"tui-mailsetup: {paint('error', 'red', stream=sys.stderr)}: {text}", file=sys.stderr)


def report_error(exc: MailSetupError, *, as_json: bool) -> int:
    """The one place an error becomes output: a message on stderr (or the one JSON error
    document on stdout with ``--json``) and the exit code it carries."""
    from tui_mailsetup.config_file import ConfigError

    if as_json:
        print_json(exc.json_document())
    elif isinstance(exc, ConfigError):
        error(f"the configuration does not load; it was left as it is:\n{exc}")
    else:
        error(str(exc))
    return int(exc.exit_code)
