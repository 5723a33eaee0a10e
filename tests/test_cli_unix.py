"""The command line as a Unix tool: supported Pythons, installation, metadata (issue 22)."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest

import tui_mailsetup
from tui_mailsetup import unsupported_python_message

ROOT = Path(__file__).resolve().parent.parent


def _older_pythons() -> list[str]:
    found = []
    for name in ("python3.10", "python3.9", "python3.8", "python3.6"):
        path = shutil.which(name)
        # A version manager's shim may be on PATH without the version behind it.
        if path is not None and subprocess.run([path, "-c", ""], check=False).returncode == 0:
            found.append(path)
    pyenv = Path(pwd.getpwuid(os.getuid()).pw_dir) / ".pyenv" / "versions"
    if not found and pyenv.is_dir():
        found = [str(p / "bin" / "python3") for p in pyenv.glob("3.[6-9]*")]
        found += [str(p / "bin" / "python3") for p in pyenv.glob("3.10*")]
    return found


def test_an_older_python_is_refused_with_a_message_and_69() -> None:
    pythons = _older_pythons()
    if not pythons:
        pytest.skip("no Python older than 3.11 on PATH to try")
    for python in pythons:
        completed = subprocess.run(
            [python, "-m", "tui_mailsetup", "--version"],
            capture_output=True,
            text=True,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            timeout=60,
            check=False,
        )
        assert completed.returncode == 69, (python, completed.stderr)
        assert "needs Python 3.11 or newer" in completed.stderr
        assert "Traceback" not in completed.stderr
        assert completed.stdout == ""


def test_the_supported_versions_agree() -> None:
    assert unsupported_python_message((3, 10)) is not None
    assert unsupported_python_message((3, 11)) is None
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["requires-python"] == ">=3.11"
    assert "Programming Language :: Python :: 3.11" in project["classifiers"]
    assert "version" in project["dynamic"]  # one home: tui_mailsetup.__version__


def test_the_changelog_names_the_current_version() -> None:
    assert f"## {tui_mailsetup.__version__}" in (ROOT / "CHANGELOG.md").read_text()


def test_ci_runs_exactly_the_readme_test_command() -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Run the tests", 1)[1]
    command = section.split("```sh\n", 1)[1].split("\n", 1)[0]
    assert command in (ROOT / ".ci" / "run").read_text().splitlines()
    # Nothing that PEP 668 refuses on Debian 12 / Ubuntu 24.04's own python3.
    first = readme.split("## Try it", 1)[1].split("```sh\n", 1)[1].split("\n", 1)[0]
    for text in (command, first):
        assert "--break-system-packages" not in text
        assert not text.startswith("pip ")
        assert "sudo" not in text
