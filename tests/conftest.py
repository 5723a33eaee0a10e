"""What every test gets: HOME and the XDG directories in a temporary folder.

The folders' own conftests add the rest: ``functional/`` the scripted HTTP(S) servers,
``tui/`` Pilot's patient ``press``; ``unit/`` refuses to start programs.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def isolated_home(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Path]:
    """No test reads or writes the real user's configuration or secrets."""
    home = tmp_path_factory.mktemp("home")
    os.chmod(home, 0o700)
    monkeypatch.setenv("HOME", str(home))
    for var in ("XDG_CONFIG_HOME", "XDG_STATE_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME"):
        monkeypatch.delenv(var, raising=False)
    for var in list(os.environ):
        if var.startswith(("MAILSETUP_", "AWS_")) or var == "CREDENTIALS_DIRECTORY":
            monkeypatch.delenv(var, raising=False)
    # An SES driver left without credentials would ask the EC2 metadata service, a
    # link-local address: tests contact loopback only (tests that want an instance
    # role point AWS_EC2_METADATA_SERVICE_ENDPOINT at their own server).
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("NO_COLOR", "1")
    yield home


@pytest.hookimpl(trylast=True)  # after the folders' conftests have marked theirs
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests marked ``slow`` run first (the order is otherwise kept): a parallel run hands
    them out while the quick ones can still fill the other workers, rather than ending on
    one worker with a long test while the rest idle."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """``-n auto`` (pyproject's addopts): two workers per core, at most eight.

    Most tests wait rather than compute (a server's timeout, a subprocess, Postfix, tmux):
    with one worker per core the two cores here were busy about half the time. Measured on
    2 cores (bench/bench_tests.py): 4 workers 559 s, 2 workers 815 s, for the same suite.
    Every test takes port 0, its own folders and its own Postfix, so more workers share
    nothing; the Ansible fleet stays on one worker (its xdist_group).
    """
    return min(8, 2 * (os.cpu_count() or 1))
