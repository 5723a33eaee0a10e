"""Run the console script as a user would: a subprocess with its own HOME."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, overload


@dataclass
class Result:
    """What the program did: its exit code and its output, decoded (``errors="replace"``,
    universal newlines, as a terminal would show it)."""

    returncode: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)


@dataclass
class RawResult:
    """The same, with the output as the bytes the program wrote."""

    returncode: int
    stdout: bytes
    stderr: bytes


@overload
def run_cli(
    *args: str | bytes,
    home: Path,
    env: Mapping[str, str] | None = ...,
    env_bytes: Mapping[bytes, bytes] | None = ...,
    stdin: str | bytes | None = ...,
    timeout: float = ...,
    prefix: Sequence[str] = ...,
    preexec: Callable[[], Any] | None = ...,
    raw: Literal[False] = ...,
) -> Result: ...


@overload
def run_cli(
    *args: str | bytes,
    home: Path,
    env: Mapping[str, str] | None = ...,
    env_bytes: Mapping[bytes, bytes] | None = ...,
    stdin: str | bytes | None = ...,
    timeout: float = ...,
    prefix: Sequence[str] = ...,
    preexec: Callable[[], Any] | None = ...,
    raw: Literal[True],
) -> RawResult: ...


def run_cli(
    *args: str | bytes,
    home: Path,
    env: Mapping[str, str] | None = None,
    env_bytes: Mapping[bytes, bytes] | None = None,
    stdin: str | bytes | None = None,
    timeout: float = 60,
    prefix: Sequence[str] = (),
    preexec: Callable[[], Any] | None = None,
    raw: bool = False,
) -> Result | RawResult:
    """``python -m tui_mailsetup ARGS`` as a user runs it: its own HOME, no MAILSETUP_*
    settings but ``env``'s, standard input ``stdin`` (else none at all).

    The one way the tests run the program in a subprocess. Arguments, environment
    (``env_bytes``) and input may be bytes that are not UTF-8; ``prefix`` runs it under
    another program (``setpriv``, ``unshare``), ``preexec`` in the child before it starts
    (resource limits), and ``raw=True`` returns the output as bytes."""
    environment = {os.fsencode(k): os.fsencode(v) for k, v in cli_environment(home, env).items()}
    environment.update(env_bytes or {})
    argv = [*prefix, sys.executable, "-m", "tui_mailsetup", *args]
    completed = subprocess.run(
        [os.fsencode(a) if isinstance(a, str) else a for a in argv],
        input=stdin.encode() if isinstance(stdin, str) else stdin,
        capture_output=True,
        env=environment,
        timeout=timeout,
        stdin=None if stdin is not None else subprocess.DEVNULL,
        preexec_fn=preexec,
    )
    if raw:
        return RawResult(completed.returncode, completed.stdout, completed.stderr)
    return Result(completed.returncode, _text(completed.stdout), _text(completed.stderr))


def _text(output: bytes) -> str:
    return output.decode(errors="replace").replace("\r\n", "\n").replace("\r", "\n")


def cli_environment(home: Path, env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment the CLI runs with: this one without MAILSETUP_* settings, its own HOME."""
    environment = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("MAILSETUP_")
        and key not in {"CREDENTIALS_DIRECTORY", "XDG_CONFIG_HOME"}
    }
    environment.update({"HOME": str(home), "NO_COLOR": "1", "PYTHONUTF8": "1"})
    environment.update(env or {})
    return environment


def config_path(home: Path) -> Path:
    return home / ".config" / "tui-mailsetup" / "config.toml"
