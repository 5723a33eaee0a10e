"""mta apply/test/revert for msmtp-mta, with the real msmtp relaying to the local sandbox.

The "system" msmtprc goes into a scratch --config-dir, and the sendmail the
test submits through is a two-line wrapper running msmtp on that file
(``msmtp -C``), exactly what msmtp-mta's /usr/sbin/sendmail does with
/etc/msmtprc.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.cli_helpers import Result, run_cli
from tui_mailsetup.sandbox import Sandbox

pytestmark = pytest.mark.skipif(shutil.which("msmtp") is None, reason="msmtp is not installed")

USER = "relay-user"
PASSWORD = "msmtp secret 42"


@pytest.fixture
def relay() -> Iterator[Sandbox]:
    with Sandbox(mode="starttls", username=USER, password=PASSWORD) as box:
        yield box


@pytest.fixture
def etc(tmp_path: Path) -> Path:
    directory = tmp_path / "etc"
    directory.mkdir()
    return directory


def write_config(home: Path, box: Sandbox) -> Path:
    config = home / "mailsetup.toml"
    config.write_text(
        "\n".join(
            [
                "[smtp]",
                'host = "127.0.0.1"',
                f"port = {box.port}",
                'encryption = "starttls"',
                f'username = "{USER}"',
                f'ca_file = "{box.ca_path}"',
                "[sender]",
                'address = "cron@example.test"',
                "",
            ]
        )
    )
    return config


def sendmail_wrapper(tmp_path: Path, etc: Path) -> Path:
    wrapper = tmp_path / "sendmail"
    wrapper.write_text(f'#!/bin/sh\nexec msmtp -C "{etc / "msmtprc"}" "$@"\n')
    wrapper.chmod(0o755)
    return wrapper


def mta(home: Path, config: Path, etc: Path, *args: str, password: str = PASSWORD) -> Result:
    return run_cli(
        "--config",
        str(config),
        "mta",
        *args,
        "--mta",
        "msmtp",
        "--config-dir",
        str(etc),
        home=home,
        env={"MAILSETUP_SMTP__PASSWORD": password},
    )


@pytest.mark.skipif(os.geteuid() != 0, reason="mta apply writes the system msmtprc as root")
def test_apply_test_delivered_wrong_password_diagnosed_and_revert(
    relay: Sandbox, etc: Path, tmp_path: Path, isolated_home: Path
) -> None:
    config = write_config(isolated_home, relay)
    original = b"# an msmtprc with no account yet\ndefaults\ntimeout 10\n"
    rc = etc / "msmtprc"
    rc.write_bytes(original)
    rc.chmod(0o644)

    applied = mta(isolated_home, config, etc, "apply")
    assert applied.returncode == 0, applied.stderr
    assert '+host "127.0.0.1"' in applied.stdout
    assert "+password ********" in applied.stdout
    assert PASSWORD not in applied.stdout + applied.stderr
    mode = stat.S_IMODE(rc.stat().st_mode)
    assert mode in (0o600, 0o640)
    assert rc.stat().st_uid == 0
    assert PASSWORD in rc.read_text()
    if mode != 0o600:
        pytest.skip("the msmtp group exists (0640): msmtp -C refuses a group-readable file")

    status = mta(isolated_home, config, etc, "status", "--json").json()
    assert status["matches"] is True, status["differences"]
    assert status["relay"]["host"] == "127.0.0.1"
    assert "********" in status["relay"].values()
    assert PASSWORD not in str(status)

    wrapper = sendmail_wrapper(tmp_path, etc)
    tested = mta(isolated_home, config, etc, "test", "--sendmail", str(wrapper), "--json")
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert tested.json()["status"] == "delivered"
    [message] = relay.wait_for_message(1)
    assert message.authenticated_as == USER

    wrong = "wrong password"
    assert mta(isolated_home, config, etc, "apply", password=wrong).returncode == 0
    # Without --sendmail: msmtp itself, on the msmtprc in --config-dir.
    failed = mta(isolated_home, config, etc, "test", password=wrong)
    assert failed.returncode == 77, failed.stdout + failed.stderr
    assert "FAILED at AUTH: Authentication failed" in failed.stdout
    assert wrong not in failed.stdout

    # One revert after two applies: the file as it was before the first one.
    assert mta(isolated_home, config, etc, "revert").returncode == 0
    assert mta(isolated_home, config, etc, "revert").returncode == 65
    assert rc.read_bytes() == original
    assert stat.S_IMODE(rc.stat().st_mode) == 0o644

    queue = mta(isolated_home, config, etc, "queue", "--json")
    assert queue.returncode == 0 and queue.json()["messages"] == []


def test_foreign_accounts_are_refused_with_the_lines(
    relay: Sandbox, etc: Path, isolated_home: Path
) -> None:
    config = write_config(isolated_home, relay)
    rc = etc / "msmtprc"
    rc.write_text(
        "account work\nhost mail.work.example\npassword hunter2\naccount default : work\n"
    )
    before = rc.read_bytes()
    result = mta(isolated_home, config, etc, "apply", "--dry-run")
    assert result.returncode == 78, result.stdout + result.stderr
    assert "msmtprc: account work" in result.stderr
    assert "msmtprc: account default : work" in result.stderr
    assert "hunter2" not in result.stderr
    assert rc.read_bytes() == before


def test_dry_run_masks_the_password_and_writes_nothing(
    relay: Sandbox, etc: Path, isolated_home: Path
) -> None:
    config = write_config(isolated_home, relay)
    result = mta(isolated_home, config, etc, "apply", "--dry-run", "--json")
    assert result.returncode == 0, result.stderr
    plan = result.json()["plan"]
    assert plan["changes"] is True
    assert "+password ********" in plan["diff"]
    assert PASSWORD not in result.stdout
    assert not (etc / "msmtprc").exists()


@pytest.mark.skipif(os.geteuid() != 0, reason="mta apply writes the system msmtprc as root")
def test_a_relay_without_login_gets_a_world_readable_msmtprc(
    relay: Sandbox, etc: Path, isolated_home: Path
) -> None:
    config = isolated_home / "mailsetup.toml"
    config.write_text(
        f'[smtp]\nhost = "127.0.0.1"\nport = {relay.port}\nencryption = "starttls"\n'
        f'ca_file = "{relay.ca_path}"\n[sender]\naddress = "cron@example.test"\n'
    )
    assert mta(isolated_home, config, etc, "apply").returncode == 0
    rc = etc / "msmtprc"
    assert stat.S_IMODE(rc.stat().st_mode) == 0o644
    assert "auth off" in rc.read_text()


@pytest.mark.skipif(os.geteuid() != 0, reason="mta apply writes the system msmtprc as root")
def test_a_hand_edit_of_the_msmtprc_makes_revert_refuse_and_show_it(
    relay: Sandbox, etc: Path, isolated_home: Path
) -> None:
    config = write_config(isolated_home, relay)
    rc = etc / "msmtprc"
    original = b"defaults\ntimeout 10\n"
    rc.write_bytes(original)
    rc.chmod(0o600)
    assert mta(isolated_home, config, etc, "apply").returncode == 0
    rc.write_text(rc.read_text() + "account work\nhost mail.work.example\npassword hunter2\n")
    edited = rc.read_bytes()

    refused = mta(isolated_home, config, etc, "revert")
    assert refused.returncode == 78, refused.stdout + refused.stderr
    assert f"{rc} changed since mta apply wrote it" in refused.stderr
    assert "+account work" in refused.stderr and "+password ********" in refused.stderr
    assert "hunter2" not in refused.stderr and PASSWORD not in refused.stderr
    assert rc.read_bytes() == edited

    forced = mta(isolated_home, config, etc, "revert", "--force")
    assert forced.returncode == 0, forced.stderr
    assert rc.read_bytes() == original
    assert stat.S_IMODE(rc.stat().st_mode) == 0o600


@pytest.mark.skipif(os.geteuid() != 0, reason="mta apply writes the system msmtprc as root")
def test_a_tampered_manifest_names_no_file_but_the_msmtprc(
    relay: Sandbox, etc: Path, isolated_home: Path
) -> None:
    # In /etc, "passwd" is a name inside the configuration directory too.
    canary = etc / "passwd"
    canary.write_text("root:x:0:0:root:/root:/bin/bash\n")
    config = write_config(isolated_home, relay)
    assert mta(isolated_home, config, etc, "apply").returncode == 0
    rc = etc / "msmtprc"
    applied = rc.read_bytes()
    manifest = etc / ".tui-mailsetup-backups" / "msmtp" / "applied" / "manifest.json"
    document = json.loads(manifest.read_text())
    document["files"].append(dict(document["files"][0], name="passwd", before=None))
    manifest.write_text(json.dumps(document))
    refused = mta(isolated_home, config, etc, "revert")
    assert refused.returncode == 65, refused.stdout + refused.stderr
    assert "a file mta apply never writes: 'passwd'" in refused.stderr
    assert canary.read_text() == "root:x:0:0:root:/root:/bin/bash\n"
    assert rc.read_bytes() == applied
