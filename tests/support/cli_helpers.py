"""Run the console script as a user would: a subprocess with its own HOME."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)


def run_cli(
    *args: str,
    home: Path,
    env: dict[str, str] | None = None,
    stdin: str | None = None,
    timeout: float = 60,
) -> Result:
    environment = cli_environment(home, env)
    completed = subprocess.run(
        [sys.executable, "-m", "tui_mailsetup", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=environment,
        timeout=timeout,
        stdin=None if stdin is not None else subprocess.DEVNULL,
    )
    return Result(completed.returncode, completed.stdout, completed.stderr)


def cli_environment(home: Path, env: dict[str, str] | None = None) -> dict[str, str]:
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
