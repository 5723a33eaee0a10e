"""Shared output helpers for the command line: colour only on a TTY, never with NO_COLOR.

Everything printed here is neutralised first (sanitize.py): messages can quote
values from files, the environment and the command line.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TextIO

from tui_mailsetup.findings import Finding, Severity
from tui_mailsetup.sanitize import JSON_UNSAFE, untrusted_lines

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
    """Colour only on a terminal, never with NO_COLOR set (to anything but the empty string,
    as no-color.org says) nor with TERM=dumb: the one rule for every command."""
    stream = stream or sys.stdout
    if os.environ.get("NO_COLOR", "") != "" or os.environ.get("TERM") == "dumb":
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def sgr(text: str, codes: str) -> str:
    """``text`` wrapped in the SGR escape ``codes`` ("31", "1;31") and a reset."""
    return f"\x1b[{codes}m{text}\x1b[0m"


def paint(text: str, colour: str, *, stream: TextIO | None = None) -> str:
    """``text`` in ``colour`` when the stream is a colour terminal; unchanged otherwise."""
    if not use_colour(stream):
        return text
    return sgr(text, _CODES[colour])


def json_text(document: Any, *, indent: int | None = 2) -> str:
    """``document`` as JSON text that is safe on a terminal and still valid JSON."""
    text = json.dumps(document, indent=indent, ensure_ascii=False, default=str)
    return JSON_UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


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


@dataclass
class Captured:
    """What a command printed under --quiet; ``failed`` is set by the caller once it knows."""

    stdout: io.StringIO
    stderr: io.StringIO
    failed: bool = False


@contextlib.contextmanager
def quietly(*, keep_stdout: bool) -> Iterator[Captured]:
    """--quiet: everything a command prints is held back; on success it is dropped, on a
    failure what went to stderr (the verdict: stage, cause, fix) is written there. A
    command that printed its verdict only on stdout has that written to stderr instead,
    so that ``cmd --quiet >/dev/null`` never hides why it failed."""
    real_out, real_err = sys.stdout, sys.stderr
    captured = Captured(io.StringIO(), io.StringIO())
    if not keep_stdout:
        sys.stdout = captured.stdout
    sys.stderr = captured.stderr
    try:
        yield captured
    except BaseException:
        captured.failed = True
        raise
    finally:
        sys.stdout, sys.stderr = real_out, real_err
        if captured.failed:
            verdict = captured.stderr.getvalue() or captured.stdout.getvalue()
            real_err.write(verdict)
            real_err.flush()


def with_verdict(
    document: dict[str, Any],
    exit_code: int,
    *,
    stage: str,
    cause: str = "",
    fix: Any = None,
) -> dict[str, Any]:
    """``document`` with the keys every command's --json answer has (schemas/): ``ok``
    (exactly when the exit code is 0), ``stage``, ``elapsed``, ``exit_code``, and on a
    failure the ``diagnosis`` (cause, fix), so a script reads every failure one way."""
    document["ok"] = exit_code == 0
    document.setdefault("stage", stage)
    document.setdefault("elapsed", 0.0)
    document["exit_code"] = int(exit_code)
    if exit_code != 0 and not document.get("diagnosis"):
        document["diagnosis"] = {"stage": stage, "cause": cause, "fix": fix, "exit_code": exit_code}
    return document
