"""The start-up room (tui_mailsetup/startup/): its helpers do what its docstring says, the
program's ending leaves nothing armed, and every test the docstring names exists."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

import tui_mailsetup.startup
from tui_mailsetup.startup.lazy import LazySequence

ROOT = next(p for p in Path(__file__).resolve().parents if (p / "pyproject.toml").is_file())
TESTS = ROOT / "tests"  # wherever in it this file is


def test_a_lazy_sequence_is_computed_once_when_first_asked() -> None:
    calls: list[int] = []

    def make() -> tuple[str, ...]:
        calls.append(1)
        return ("resolve", "connect")

    stages = LazySequence(make)
    assert calls == []
    assert "connect" in stages and "data" not in stages
    assert (list(stages), len(stages), stages[1], list(stages[:1])) == (
        ["resolve", "connect"],
        2,
        "connect",
        ["resolve"],
    )
    assert calls == [1]


_FIRST_USE = """
import json, sys
from tui_mailsetup.engine.smtp import session
before = "tui_mailsetup.engine.diagnosis" in sys.modules
rule = session.diag.connect_failed
import tui_mailsetup.engine.diagnosis as real
print(json.dumps([before, rule is real.connect_failed]))
"""


def test_the_diagnosis_rules_are_imported_when_first_read() -> None:
    result = subprocess.run(
        [sys.executable, "-c", _FIRST_USE], capture_output=True, text=True, timeout=120
    )
    assert result.stdout.strip() == "[false, true]", result.stderr


def test_an_in_process_command_leaves_no_quick_exit_armed(
    isolated_home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``show`` run in this process (as tests and embedders do), then the program for another
    command: it exits the ordinary way (once, an os._exit left armed ended the process)."""
    import tui_mailsetup.cli as cli

    cli.main(["show"])
    monkeypatch.setattr(cli, "main", lambda: 0)
    monkeypatch.setattr(sys, "argv", ["tui-mailsetup", "export", "--format", "json"])
    with pytest.raises(SystemExit) as ended:
        cli.run()
    assert ended.value.code == 0
    capsys.readouterr()


def test_every_test_the_rooms_docstring_names_exists() -> None:
    doc = tui_mailsetup.startup.__doc__ or ""
    named = re.findall(r"(test_\w+\.py)::(test_\w+)", doc)
    assert len(named) >= 8
    missing = []
    for file_name, test in named:
        files = list(TESTS.rglob(file_name))
        defined = {
            node.name
            for path in files
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        }
        if test not in defined:
            missing.append(f"{file_name}::{test}")
    assert missing == []
