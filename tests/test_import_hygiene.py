"""Headless commands never import Textual, whichever entry point runs them.

The import-linter contracts in pyproject.toml check the static import graph;
this runs the real entry points in fresh interpreters, which also catches an
import that happens only at run time (a lazy import in the wrong branch).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

HEADLESS_COMMANDS = [
    ["--help"],
    ["show"],
    ["show", "--json"],
    ["set", "smtp.port", "2525"],
    ["check", "--offline"],
    ["send-test", "--help"],
    ["detect", "--help"],
    ["dns", "--help"],
    ["export", "--format", "json"],
    ["export", "--format", "msmtp"],
    ["demo", "--help"],
]

_PROBE = """
import json, sys
from tui_mailsetup.cli import main
try:
    main(sys.argv[1:])
except SystemExit:
    pass
heavy = sorted(m for m in sys.modules if m.split(".")[0] in {"textual", "rich"})
sys.__stdout__.write("\\n" + json.dumps(heavy) + "\\n")
"""


@pytest.mark.parametrize("argv", HEADLESS_COMMANDS, ids=" ".join)
def test_headless_entry_points_do_not_import_textual(argv: list[str], isolated_home: Path) -> None:
    env = {**os.environ, "HOME": str(isolated_home), "TERM": "dumb"}
    result = subprocess.run(
        [sys.executable, "-c", _PROBE, *argv],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        stdin=subprocess.DEVNULL,
    )
    assert "Traceback" not in result.stderr, result.stderr
    heavy = json.loads(result.stdout.strip().splitlines()[-1])
    assert heavy == [], f"{' '.join(argv)} imported {heavy[:5]}"
