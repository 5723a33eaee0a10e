"""This machine's own mail system (the MTA behind ``/usr/sbin/sendmail``).

Small modules by concern: :mod:`.detect` (which program provides sendmail),
:mod:`.postfix` and :mod:`.msmtp` (reading and applying relay settings with
each program's own tools), :mod:`.backup` (what ``mta revert`` restores),
:mod:`.reasons` (an MTA's delivery report, diagnosed by the SMTP engine's
rules) and :mod:`.follow` (a test message followed through the queue and log).

No Textual, no network: only the local programs are run.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from tui_mailsetup.errors import MailSetupError
from tui_mailsetup.exitcodes import ExitCode
from tui_mailsetup.sanitize import untrusted_text

TOOL_TIMEOUT = 30.0
"""Seconds any one MTA tool (postconf, postqueue, postmap, msmtp) may take."""


class MtaError(MailSetupError):
    """The MTA cannot do what was asked; nothing (more) was changed."""

    stage = "mta"

    def __init__(
        self, message: str, exit_code: ExitCode = ExitCode.CONFIG, lines: Sequence[str] = ()
    ) -> None:
        super().__init__(message, exit_code=exit_code)
        self.lines = list(lines)
        """The configuration lines the message is about (a conflict), sanitised."""

    def details(self) -> dict[str, Any]:
        return {"lines": self.lines} if self.lines else {}


@dataclass(frozen=True)
class ToolResult:
    argv: list[str]
    returncode: int
    stdout: str
    stderr: str = field(repr=False)

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    def complaint(self) -> str:
        """What the tool said when it failed, sanitised, one line."""
        text = self.stderr.strip() or self.stdout.strip() or f"exit status {self.returncode}"
        return untrusted_text(text.replace("\n", " / "), limit=500)


@contextlib.contextmanager
def _tool_errors(argv: Sequence[str], timeout: float) -> Iterator[None]:
    """A tool that is missing, not runnable or too slow, as an MtaError."""
    try:
        yield
    except FileNotFoundError as exc:
        raise MtaError(f"{argv[0]} is not installed", ExitCode.UNAVAILABLE) from exc
    except PermissionError as exc:
        raise MtaError(f"{argv[0]} cannot be run: permission denied", ExitCode.NOPERM) from exc
    except subprocess.TimeoutExpired as exc:
        raise MtaError(f"{argv[0]} did not finish within {timeout:g} s", ExitCode.TEMPFAIL) from exc


def run_tool(
    argv: Sequence[str],
    *,
    input_text: str | None = None,
    timeout: float = TOOL_TIMEOUT,
    env: dict[str, str] | None = None,
) -> ToolResult:
    """Run one local tool, never through a shell; a missing tool is an MtaError (69)."""
    with _tool_errors(argv, timeout):
        completed = subprocess.run(
            list(argv),
            input=input_text,
            capture_output=True,
            text=True,
            errors="replace",
            timeout=timeout,
            env=env,
            stdin=None if input_text is not None else subprocess.DEVNULL,
        )
    return ToolResult(list(argv), completed.returncode, completed.stdout, completed.stderr)


def run_with_input(
    argv: Sequence[str], data: bytes, *, timeout: float
) -> subprocess.CompletedProcess[bytes]:
    """Run a program with ``data`` on standard input (a message for sendmail)."""
    with _tool_errors(argv, timeout):
        return subprocess.run(list(argv), input=data, capture_output=True, timeout=timeout)
    raise AssertionError("unreachable")  # pragma: no cover


def find_tool(name: str, package: str) -> str:
    """The tool's path, or an MtaError naming the Debian package that installs it."""
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/bin:/sbin:/bin")
    if found is None:
        raise MtaError(
            f"{name} is not installed: install the Debian package {package} "
            f"(apt-get install {package})",
            ExitCode.UNAVAILABLE,
        )
    return found


def require_root(what: str) -> None:
    """Changing the system's mail configuration needs root: refuse clearly otherwise."""
    if os.geteuid() != 0:
        raise MtaError(
            f"{what} changes the system's mail configuration: run it as root (sudo "
            "tui-mailsetup ...), or use --dry-run to see the change",
            ExitCode.NOPERM,
        )
