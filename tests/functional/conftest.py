"""Functional tests: the program against real counterparts on loopback (scripted SMTP, DNS,
HTTP(S) and OAuth2 servers, moto, a scratch Postfix, sshd and system users), often the CLI in
a subprocess (tests/support/cli_helpers.py). Tests sharing a machine-wide resource carry one
``xdist_group`` so that ``--dist loadgroup`` runs them on one worker."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from tests.support.http_servers import HttpsServer, ScriptedHttp


@pytest.fixture
def http_api() -> Iterator[ScriptedHttp]:
    """A scripted HTTP server on 127.0.0.1 playing the API under test (tests/support/http_servers.py)."""
    from tests.support.http_servers import scripted_http

    with scripted_http() as server:
        yield server


@pytest.fixture
def https_sites(tmp_path: Path) -> Iterator[Callable[..., HttpsServer]]:
    """``https_sites(pages, names)``: HTTPS sites with a trustme CA (``server.ca_path``),
    served until the test ends (tests/support/http_servers.py's :func:`https_server`)."""
    from tests.support.http_servers import https_server

    with contextlib.ExitStack() as stack:
        yield lambda pages, names: stack.enter_context(https_server(pages, names, tmp_path))
