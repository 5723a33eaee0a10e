"""Shared fixtures. Every test runs with HOME and the XDG directories in a temporary folder."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from http_servers import HttpsServer, ScriptedHttp


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


@pytest.fixture
def http_api() -> Iterator[ScriptedHttp]:
    """A scripted HTTP server on 127.0.0.1 playing the API under test (tests/http_servers.py)."""
    from http_servers import scripted_http

    with scripted_http() as server:
        yield server


@pytest.fixture
def https_sites(tmp_path: Path) -> Iterator[Callable[..., HttpsServer]]:
    """``https_sites(pages, names)``: HTTPS sites with a trustme CA (``server.ca_path``),
    served until the test ends (tests/http_servers.py's :func:`https_server`)."""
    from http_servers import https_server

    with contextlib.ExitStack() as stack:
        yield lambda pages, names: stack.enter_context(https_server(pages, names, tmp_path))


@pytest.fixture(autouse=True)
def pilot_press_waits_for_held_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pilot.press waits for keys the TUI holds back until its sections and its configuration
    are loaded (right after the first frame; tui/keys.py), whatever the machine's load."""
    from textual.pilot import Pilot
    from tui_support import press_delivered

    monkeypatch.setattr(Pilot, "press", press_delivered)
