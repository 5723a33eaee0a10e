"""The OAuth2 tests' rig: a local CA, the authorisation server (``auth``, app-only tokens for
``MAILBOX``), an SMTP server that accepts only its tokens (``smtp``), a configuration that uses
them, the CLI with the CA trusted, and ``oauth2 login`` as a person runs it.

The fixtures are taken into a test module by assignment (``ca = oauth2_rig.ca``)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from tests.support.cli_helpers import Result, cli_environment, config_path, run_cli
from tests.support.oauth2_server import AuthServer, BearerSmtp
from tests.support.smtp_servers import LocalCA

MAILBOX = "alice@contoso.test"


@pytest.fixture
def ca(tmp_path: Path) -> LocalCA:
    return LocalCA(tmp_path)


@pytest.fixture
def auth(ca: LocalCA) -> Iterator[AuthServer]:
    server = AuthServer(ca, app_subject=MAILBOX).start()
    yield server
    server.stop()


@pytest.fixture
def smtp(auth: AuthServer, ca: LocalCA) -> Iterator[BearerSmtp]:
    server = BearerSmtp(auth, ca).start()
    yield server
    server.stop()


def write_config(home: Path, smtp: BearerSmtp, auth: AuthServer, **oauth2: object) -> Path:
    values: dict[str, object] = {
        "provider": "microsoft",
        "flow": "device-code",
        "client_id": auth.client_id,
        "token_url": auth.token_url,
        "device_authorization_url": auth.device_url,
    }
    values.update(oauth2)
    lines = [
        "[smtp]",
        'host = "127.0.0.1"',
        f"port = {smtp.port}",
        'encryption = "starttls"',
        f'username = "{MAILBOX}"',
        'auth = "xoauth2"',
        f'ca_file = "{smtp.ca.ca_path}"',
        "timeout = 10",
        "[sender]",
        f'address = "{MAILBOX}"',
        "[oauth2]",
        *(f"{key} = {json.dumps(value)}" for key, value in values.items()),
    ]
    path = config_path(home)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    path.parent.chmod(0o700)
    path.write_text("\n".join(lines) + "\n")
    return path


def cli(
    home: Path,
    ca: LocalCA,
    *args: str,
    env: Mapping[str, str] | None = None,
    stdin: str | None = None,
    timeout: float = 60,
) -> Result:
    environment = {"REQUESTS_CA_BUNDLE": str(ca.ca_path), **(env or {})}
    return run_cli(*args, home=home, env=environment, stdin=stdin, timeout=timeout)


def stored_tokens(home: Path) -> dict[str, object]:
    text = (config_path(home).parent / "credentials.toml").read_text()
    match = re.search(r"token = (\".*\"|'.*')", text)
    assert match, text
    value = json.loads(match.group(1)) if match.group(1).startswith('"') else match.group(1)[1:-1]
    data: dict[str, object] = json.loads(value)
    return data


def device_login(
    home: Path, ca: LocalCA, auth: AuthServer, *, deny: bool = False, account: str = MAILBOX
) -> tuple[subprocess.CompletedProcess[str], str]:
    """`oauth2 login` as a person runs it: read the code it shows, enter it on the 'website'."""
    env = cli_environment(home, {"REQUESTS_CA_BUNDLE": str(ca.ca_path)})
    process = subprocess.Popen(
        [sys.executable, "-m", "tui_mailsetup", "oauth2", "login"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    assert process.stdout is not None
    shown = ""
    code = None
    deadline = time.monotonic() + 30
    while code is None and time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        shown += line
        if match := re.search(r"enter the code:\s+(\S+)", line):
            code = match.group(1)
    assert code is not None, shown + (process.stderr.read() if process.stderr else "")
    assert f"{auth.url}/activate" in shown
    time.sleep(0.5)  # the person takes a moment: the client polls and hears authorization_pending
    assert auth.approve(code, account, deny=deny) == 200
    out, err = process.communicate(timeout=30)
    return subprocess.CompletedProcess(process.args, process.returncode, shown + out, err), code
