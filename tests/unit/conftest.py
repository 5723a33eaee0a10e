"""Unit tests: the package's rules in-process, without a server, a program or a terminal.
A unit test that starts a program belongs in ``tests/functional``: it is refused here, so that
this folder stays the fast one (``pytest tests/unit`` runs in seconds)."""

from __future__ import annotations

import subprocess
from typing import Any

import pytest


@pytest.fixture(autouse=True)
def no_programs(monkeypatch: pytest.MonkeyPatch) -> None:
    """Starting a program fails the test with where it belongs."""

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("a unit test starts no program: move it to tests/functional")

    monkeypatch.setattr(subprocess.Popen, "__init__", refuse)
