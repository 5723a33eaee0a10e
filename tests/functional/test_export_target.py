"""export -o never clobbers a file this program did not write; msmtp merges its own
account into an existing msmtprc (issue 22 item 2)."""

from __future__ import annotations

import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from tests.support.cli_helpers import Result, cli_environment, run_cli
from tui_mailsetup.config_file import write_values

OTHER_ACCOUNTS = """\
# my own msmtprc, hand written
defaults
auth           on
tls            on
logfile        ~/.msmtp.log

account        gmail
host           smtp.gmail.com
port           587
from           me@gmail.com
user           me@gmail.com
passwordeval   "echo not-a-real-password"

account        work : gmail
host           mail.work.example
from           me@work.example

account default : gmail
"""


def _config(tmp_path: Path, host: str = "smtp.example.com") -> Path:
    config = tmp_path / "conf" / "config.toml"
    write_values(
        config,
        {"smtp.host": host, "smtp.username": "alice", "sender.address": "a@acme.example"},
    )
    return config


def _export(config: Path, home: Path, fmt: str, target: Path, *extra: str) -> Result:
    """``export -f FMT -o TARGET`` with ``config``, as a user runs it."""
    return run_cli(
        "--config", str(config), "export", "-f", fmt, "-o", str(target), *extra, home=home
    )


def test_msmtp_export_keeps_the_other_accounts_byte_for_byte(
    tmp_path: Path, isolated_home: Path
) -> None:
    rc = isolated_home / ".msmtprc"
    rc.write_text(OTHER_ACCOUNTS)
    rc.chmod(0o600)
    config = _config(tmp_path)
    first = _export(config, isolated_home, "msmtp", rc)
    assert first.returncode == 0, first.stderr
    text = rc.read_text()
    assert text.startswith(OTHER_ACCOUNTS)  # every byte of the hand-written part, in place
    assert "account tui-mailsetup\n" in text
    assert 'host "smtp.example.com"' in text
    # The file already had a default account: it stays the default.
    assert text.count("account default") == 1
    assert stat.S_IMODE(rc.stat().st_mode) == 0o600  # as private as it was
    assert not (isolated_home / ".msmtprc.bak").exists()

    # Exported again after a change: only its own account is replaced, nothing doubles.
    write_values(config, {"smtp.host": "relay.example.net"})
    again = run_cli(
        "--config", str(config), "--json", "export", "-f", "msmtp", "-o", str(rc),
        home=isolated_home,
    )  # fmt: skip
    assert again.returncode == 0, again.stderr
    assert again.json()["merged"] is True
    text = rc.read_text()
    assert text.startswith(OTHER_ACCOUNTS)
    assert text.splitlines().count("account tui-mailsetup") == 1
    assert "relay.example.net" in text and "smtp.example.com" not in text

    if shutil.which("msmtp"):
        # msmtp itself reads the merged file: every account, the default unchanged.
        for account, host in (("gmail", "smtp.gmail.com"), ("tui-mailsetup", "relay.example.net")):
            shown = subprocess.run(
                ["msmtp", "-C", str(rc), "-a", account, "--pretend"],
                capture_output=True,
                text=True,
                stdin=subprocess.DEVNULL,
                # passwordeval runs get-secret, which finds this one in the environment.
                env=cli_environment(isolated_home, {"MAILSETUP_SMTP__PASSWORD": "x"}),
                timeout=60,
                check=False,
            )
            assert f"host = {host}" in shown.stdout, shown.stdout + shown.stderr


def test_a_second_account_name_and_the_default_when_there_is_none(
    tmp_path: Path, isolated_home: Path
) -> None:
    rc = isolated_home / "msmtprc"
    mine = "account other\nhost smtp.other.example\n"  # no newline games, no default
    rc.write_text(mine)
    config = _config(tmp_path)
    ran = run_cli(
        "--config", str(config), "export", "-f", "msmtp", "--account", "relay", "-o", str(rc),
        home=isolated_home,
    )  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    text = rc.read_text()
    assert text.startswith(mine)
    assert "account relay\n" in text and "account default : relay" in text
    bad = run_cli(
        "--config", str(config), "export", "-f", "msmtp", "--account", "a b", "-o", str(rc),
        home=isolated_home,
    )  # fmt: skip
    assert bad.returncode == 64 and "--account" in bad.stderr
    assert rc.read_text() == text


def test_a_hand_written_account_of_the_same_name_is_replaced_only_with_force(
    tmp_path: Path, isolated_home: Path
) -> None:
    rc = isolated_home / "msmtprc"
    original = "account first\nhost a.example\n\naccount tui-mailsetup\nhost mine.example\n"
    rc.write_text(original)
    config = _config(tmp_path)
    refused = _export(config, isolated_home, "msmtp", rc)
    assert refused.returncode == 73, refused.stderr
    assert "--force" in refused.stderr and "--account" in refused.stderr
    assert rc.read_text() == original
    forced = _export(config, isolated_home, "msmtp", rc, "--force")
    assert forced.returncode == 0, forced.stderr
    assert (isolated_home / "msmtprc.bak").read_text() == original
    text = rc.read_text()
    assert text.startswith("account first\nhost a.example\n\n")
    assert "mine.example" not in text and "smtp.example.com" in text


@pytest.mark.parametrize("fmt", ["env", "postfix", "json", "django"])
def test_another_programs_file_is_refused_without_force(
    tmp_path: Path, isolated_home: Path, fmt: str
) -> None:
    target = isolated_home / "target"
    theirs = "APP_KEY=base64:secret-of-the-app\nDB_PASSWORD=hunter2\n"
    target.write_text(theirs)
    config = _config(tmp_path)
    refused = _export(config, isolated_home, fmt, target)
    assert refused.returncode == 73
    assert "not written by tui-mailsetup" in refused.stderr and "--force" in refused.stderr
    assert target.read_text() == theirs
    as_json = run_cli(
        "--config", str(config), "--json", "export", "-f", fmt, "-o", str(target),
        home=isolated_home,
    )  # fmt: skip
    assert as_json.returncode == 73
    assert as_json.json()["ok"] is False and as_json.json()["exit_code"] == 73

    forced = _export(config, isolated_home, fmt, target, "--force")
    assert forced.returncode == 0, forced.stderr
    assert (isolated_home / "target.bak").read_text() == theirs
    # Its own export is replaced without --force next time, and no backup is needed.
    (isolated_home / "target.bak").unlink()
    again = _export(config, isolated_home, fmt, target)
    assert again.returncode == 0, again.stderr
    assert not (isolated_home / "target.bak").exists()


def test_accounts_added_by_hand_to_a_whole_file_export_are_kept(
    tmp_path: Path, isolated_home: Path
) -> None:
    rc = isolated_home / "msmtprc"
    config = _config(tmp_path)
    assert _export(config, isolated_home, "msmtp", rc).returncode == 0
    added = "\naccount mine\nhost mine.example\n"
    rc.write_text(rc.read_text() + added)  # the user appends an account of their own
    write_values(config, {"smtp.host": "relay.example.net"})
    again = _export(config, isolated_home, "msmtp", rc)
    assert again.returncode == 0, again.stderr
    text = rc.read_text()
    assert text.endswith(added) and "relay.example.net" in text
    assert "smtp.example.com" not in text
    assert [line for line in text.splitlines() if line.startswith("account default")] == [
        "account default : tui-mailsetup"
    ]
    assert not (isolated_home / "msmtprc.bak").exists()


def test_a_file_planted_by_another_user_is_never_replaced(
    tmp_path: Path, isolated_home: Path
) -> None:
    import os
    import tempfile

    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("needs root and setpriv to act as another user")
    # Under /tmp itself (the test's own folder is private to root), sticky and open to all.
    shared = Path(tempfile.mkdtemp(prefix="b22-shared-", dir="/tmp"))
    try:
        shared.chmod(0o1777)
        target = shared / "mail.env"
        planted = subprocess.run(
            ["setpriv", "--reuid", "nobody", "--regid", "nogroup", "--clear-groups",
             "sh", "-c", f"printf 'PLANTED=1\\n' > {target}"],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert planted.returncode == 0, planted.stderr
        refused = _export(_config(tmp_path), isolated_home, "env", target)
        assert refused.returncode == 73
        assert target.read_text() == "PLANTED=1\n" and target.stat().st_uid != 0
    finally:
        shutil.rmtree(shared, ignore_errors=True)
