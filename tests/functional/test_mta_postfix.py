"""mta apply/test/queue/revert against a real Postfix instance relaying to a local aiosmtpd.

The instance (tests/postfix_instance.py) has its own configuration, queue
and log; the relay is the sandbox server with STARTTLS, AUTH and a CA of its
own. Nothing touches /etc/postfix or the system's sendmail queue: every
command gets --config-dir, and Postfix's sendmail gets -C from it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import random
import shutil
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.cli_helpers import Result, cli_environment
from tests.support.postfix_instance import (
    PostfixInstance,
    postfix_config,
    postfix_instance,
    run_mta,
)
from tui_mailsetup.sandbox import Sandbox

__all__ = ["postfix_config", "postfix_instance"]

USER = "relay-user"
PASSWORD = "correct horse battery"
RECIPIENT = "you@example.test"


@pytest.fixture
def relay() -> Iterator[Sandbox]:
    with Sandbox(mode="starttls", username=USER, password=PASSWORD) as box:
        yield box


def write_config(
    home: Path,
    box: Sandbox | None,
    ca_file: Path,
    *,
    port: int | None = None,
    name: str = "mailsetup",
) -> Path:
    config = home / f"{name}.toml"
    config.write_text(
        "\n".join(
            [
                'driver = "smtp"',
                "[smtp]",
                # Postfix matches the certificate by name, never by IP address.
                'host = "localhost"',
                f"port = {port or (box.port if box else 25)}",
                'encryption = "starttls"',
                f'username = "{USER}"',
                f'ca_file = "{ca_file}"',
                "[sender]",
                'name = "Cron"',
                'address = "cron@example.test"',
                "",
            ]
        )
    )
    return config


def mta(
    home: Path, config: Path, instance: PostfixInstance, *args: str, password: str = PASSWORD
) -> Result:
    return run_mta(home, config, instance, *args, password=password)


def snapshot(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in directory.iterdir() if p.is_file()}


def trusted_ca(box: Sandbox, instance: PostfixInstance) -> Path:
    assert box.ca_path is not None
    ca = instance.root / "relay-ca.pem"
    shutil.copyfile(box.ca_path, ca)
    ca.chmod(0o644)
    return ca


@pytest.mark.slow
def test_apply_then_test_is_delivered_and_revert_restores_every_byte(
    postfix_instance: PostfixInstance, relay: Sandbox, isolated_home: Path
) -> None:
    config = write_config(isolated_home, relay, trusted_ca(relay, postfix_instance))
    before = snapshot(postfix_instance.config_dir)

    applied = mta(isolated_home, config, postfix_instance, "apply")
    assert applied.returncode == 0, applied.stderr
    assert f"+relayhost = [localhost]:{relay.port}" in applied.stdout
    assert "+smtp_tls_security_level = verify" in applied.stdout
    assert PASSWORD not in applied.stdout + applied.stderr
    sasl = postfix_instance.config_dir / "sasl_passwd"
    assert stat.S_IMODE(sasl.stat().st_mode) == 0o600
    assert PASSWORD in sasl.read_text()
    maps = [p for p in postfix_instance.config_dir.iterdir() if p.name.startswith("sasl_passwd.")]
    assert maps and all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in maps)
    postconf = subprocess.run(
        ["postconf", "-c", str(postfix_instance.config_dir), "-h", "relayhost"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert postconf.stdout.strip() == f"[localhost]:{relay.port}"

    status = mta(isolated_home, config, postfix_instance, "status", "--json")
    assert status.returncode == 0, status.stderr
    document = status.json()
    assert document["mta"]["name"] == "postfix"
    assert document["relay"]["relayhost"] == f"[localhost]:{relay.port}"
    assert document["matches"] is True, document["differences"]
    assert document["queue"]["size"] == 0

    again = mta(isolated_home, config, postfix_instance, "apply")
    assert again.returncode == 0 and "nothing changed" in again.stdout

    tested = mta(isolated_home, config, postfix_instance, "test", "--to", RECIPIENT, "--json")
    assert tested.returncode == 0, tested.stdout + tested.stderr
    result = tested.json()
    assert result["ok"] is True and result["status"] == "delivered"
    assert result["queue_id"]
    assert "250" in result["reply"] and "accepted" in result["reply"].lower()
    received = relay.wait_for_message(1)
    assert received[0].rcpt_tos == (RECIPIENT,)
    assert received[0].authenticated_as == USER
    assert result["message_id"].encode() in received[0].data

    reverted = mta(isolated_home, config, postfix_instance, "revert")
    assert reverted.returncode == 0, reverted.stderr
    assert snapshot(postfix_instance.config_dir) == before
    nothing = mta(isolated_home, config, postfix_instance, "revert")
    assert nothing.returncode == 65 and "no backup" in nothing.stderr


def wait_until_queue(
    home: Path, config: Path, instance: PostfixInstance, count: int, timeout: float = 30
) -> list[dict[str, object]]:
    deadline = time.monotonic() + timeout
    while True:
        listed = mta(home, config, instance, "queue", "--json")
        assert listed.returncode == 0, listed.stderr
        messages: list[dict[str, object]] = listed.json()["messages"]
        if len(messages) == count or time.monotonic() > deadline:
            return messages
        time.sleep(0.5)


@pytest.mark.slow
def test_wrong_password_is_deferred_diagnosed_listed_and_retried_after_the_fix(
    postfix_instance: PostfixInstance, relay: Sandbox, isolated_home: Path
) -> None:
    config = write_config(isolated_home, relay, trusted_ca(relay, postfix_instance))
    before = snapshot(postfix_instance.config_dir)
    wrong = "not the password"
    assert mta(isolated_home, config, postfix_instance, "apply", password=wrong).returncode == 0

    tested = mta(isolated_home, config, postfix_instance, "test", "--json", password=wrong)
    assert tested.returncode == 77, tested.stdout + tested.stderr
    result = tested.json()
    assert result["status"] == "deferred"
    assert result["stage"] == "auth"
    assert "Authentication failed" in result["diagnosis"]["cause"]
    assert "535" in result["diagnosis"]["evidence"]
    assert not relay.messages

    messages = wait_until_queue(isolated_home, config, postfix_instance, 1)
    assert len(messages) == 1
    [entry] = messages
    assert entry["queue"] == "deferred" and entry["queue_id"] == result["queue_id"]
    assert entry["recipients"] == [{"address": "cron@example.test", "reason": entry["reason"]}]
    assert "Authentication failed" in entry["diagnosis"]["cause"]  # type: ignore[index]

    human = mta(isolated_home, config, postfix_instance, "queue")
    assert result["queue_id"] in human.stdout and "Authentication failed" in human.stdout
    status = mta(isolated_home, config, postfix_instance, "status", "--json").json()
    assert status["matches"] is True
    assert status["queue"]["deferred"] == 1
    assert status["queue"]["oldest_deferred"]["queue_id"] == result["queue_id"]
    assert "Authentication failed" in status["queue"]["oldest_deferred"]["diagnosis"]["cause"]

    fixed = mta(isolated_home, config, postfix_instance, "apply")
    assert fixed.returncode == 0, fixed.stderr
    assert "sasl_passwd" in fixed.stdout
    retried = mta(isolated_home, config, postfix_instance, "queue", "--retry")
    assert retried.returncode == 0, retried.stderr
    assert relay.wait_for_message(1, timeout=30), postfix_instance.log_text()
    assert wait_until_queue(isolated_home, config, postfix_instance, 0) == []

    # One revert after two applies: the files as they were before the first one.
    assert mta(isolated_home, config, postfix_instance, "revert").returncode == 0
    assert snapshot(postfix_instance.config_dir) == before
    assert mta(isolated_home, config, postfix_instance, "revert").returncode == 65


@pytest.mark.slow
def test_unreachable_relay_is_deferred_and_delete_removes_it(
    postfix_instance: PostfixInstance, relay: Sandbox, isolated_home: Path
) -> None:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    config = write_config(
        isolated_home, relay, trusted_ca(relay, postfix_instance), port=closed_port
    )
    assert mta(isolated_home, config, postfix_instance, "apply").returncode == 0
    tested = mta(isolated_home, config, postfix_instance, "test", "--to", RECIPIENT)
    assert tested.returncode == 69, tested.stdout + tested.stderr
    assert "Connection refused" in tested.stdout
    assert "FAILED at Connect" in tested.stdout

    [entry] = wait_until_queue(isolated_home, config, postfix_instance, 1)
    queue_id = str(entry["queue_id"])
    refused = mta(isolated_home, config, postfix_instance, "queue", "--delete", queue_id)
    assert refused.returncode == 64 and "--yes" in refused.stderr
    assert len(wait_until_queue(isolated_home, config, postfix_instance, 1)) == 1
    bad = mta(isolated_home, config, postfix_instance, "queue", "--delete", "../x", "--yes")
    assert bad.returncode == 64
    deleted = mta(isolated_home, config, postfix_instance, "queue", "--delete", queue_id, "--yes")
    assert deleted.returncode == 0, deleted.stderr
    assert wait_until_queue(isolated_home, config, postfix_instance, 0) == []


def test_dry_run_shows_the_diff_and_changes_nothing(
    postfix_config: PostfixInstance, isolated_home: Path
) -> None:
    with Sandbox(mode="starttls", username=USER, password=PASSWORD) as box:
        config = write_config(isolated_home, box, Path("/nonexistent/ca.pem"))
        before = snapshot(postfix_config.config_dir)
        result = mta(isolated_home, config, postfix_config, "apply", "--dry-run")
    assert result.returncode == 0, result.stderr
    assert "+smtp_sasl_auth_enable = yes" in result.stdout
    assert "dry run" in result.stdout
    assert PASSWORD not in result.stdout
    assert snapshot(postfix_config.config_dir) == before


def test_conflicting_settings_are_refused_with_the_lines(
    postfix_config: PostfixInstance, isolated_home: Path
) -> None:
    main_cf = postfix_config.config_dir / "main.cf"
    main_cf.write_text(main_cf.read_text() + "transport_maps = hash:/etc/postfix/transport\n")
    (postfix_config.config_dir / "sasl_passwd").write_text(
        "[other.example]:587 bob:secret-of-bob\n"
    )
    with Sandbox(mode="starttls", username=USER, password=PASSWORD) as box:
        config = write_config(isolated_home, box, Path("/nonexistent/ca.pem"))
        before = snapshot(postfix_config.config_dir)
        result = mta(isolated_home, config, postfix_config, "apply")
    assert result.returncode == 78, result.stdout + result.stderr
    assert "transport_maps = hash:/etc/postfix/transport" in result.stderr
    assert "[other.example]:587 bob:********" in result.stderr
    assert "secret-of-bob" not in result.stderr
    assert snapshot(postfix_config.config_dir) == before


def test_implicit_tls_with_a_pinned_fingerprint_is_delivered(
    postfix_instance: PostfixInstance, isolated_home: Path
) -> None:
    with Sandbox(mode="tls", username=USER, password=PASSWORD, cert="self-signed") as box:
        config = isolated_home / "mailsetup.toml"
        config.write_text(
            "\n".join(
                [
                    "[smtp]",
                    'host = "127.0.0.1"',
                    f"port = {box.port}",
                    'encryption = "tls"',
                    f'username = "{USER}"',
                    f'fingerprint = "{box.cert_fingerprint}"',
                    "[sender]",
                    'address = "cron@example.test"',
                    "",
                ]
            )
        )
        applied = mta(isolated_home, config, postfix_instance, "apply")
        assert applied.returncode == 0, applied.stderr
        assert "+smtp_tls_wrappermode = yes" in applied.stdout
        assert "+smtp_tls_security_level = fingerprint" in applied.stdout
        tested = mta(isolated_home, config, postfix_instance, "test", "--to", RECIPIENT)
        assert tested.returncode == 0, tested.stdout + tested.stderr
        assert "OK: delivered to the relay" in tested.stdout
        assert "queued as" in tested.stdout
        assert box.wait_for_message(1)[0].rcpt_tos == (RECIPIENT,)


def test_without_a_readable_log_the_queue_alone_reports_the_deferral(
    postfix_instance: PostfixInstance, isolated_home: Path
) -> None:
    import socket

    from tui_mailsetup.message import build_test_message
    from tui_mailsetup.mta.follow import LogSource, follow_postfix
    from tui_mailsetup.mta.postfix import Postfix
    from tui_mailsetup.settings import MailSettings

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    subprocess.run(
        [
            "postconf",
            "-c",
            str(postfix_instance.config_dir),
            "-e",
            f"relayhost = [127.0.0.1]:{closed_port}",
        ],
        check=True,
    )
    postfix_instance.postfix("reload")
    settings = MailSettings(
        smtp={"host": "127.0.0.1", "port": closed_port}, sender={"address": "cron@example.test"}
    )
    message = build_test_message(settings, [RECIPIENT])
    progress: list[str] = []
    result = follow_postfix(
        Postfix(postfix_instance.config_dir),
        settings,
        message,
        RECIPIENT,
        sendmail=Path("/usr/sbin/sendmail"),
        timeout=30,
        progress=progress.append,
        log=LogSource(None),
    )
    assert result.status == "deferred", (result, progress)
    assert result.queue_id and any(result.queue_id in line for line in progress)
    assert result.diagnosis is not None and result.diagnosis.stage.value == "connect"
    assert int(result.exit_code) == 69


def test_a_test_is_refused_when_postfix_is_not_running(
    postfix_config: PostfixInstance, isolated_home: Path
) -> None:
    with Sandbox(mode="starttls", username=USER, password=PASSWORD) as box:
        config = write_config(isolated_home, box, Path("/nonexistent/ca.pem"))
        result = mta(isolated_home, config, postfix_config, "test", "--to", RECIPIENT)
    assert result.returncode == 69, result.stdout + result.stderr
    assert "Postfix is not running" in result.stderr
    assert not (postfix_config.queue_dir / "maildrop").exists()


def test_a_failed_step_puts_every_file_back(
    postfix_config: PostfixInstance, isolated_home: Path
) -> None:
    main_cf = postfix_config.config_dir / "main.cf"
    # postconf accepts this, postmap cannot build such a table: apply fails half-way.
    main_cf.write_text(main_cf.read_text() + "default_database_type = nosuchtype\n")
    before = snapshot(postfix_config.config_dir)
    with Sandbox(mode="starttls", username=USER, password=PASSWORD) as box:
        config = write_config(isolated_home, box, Path("/nonexistent/ca.pem"))
        result = mta(isolated_home, config, postfix_config, "apply")
    assert result.returncode == 78, result.stdout + result.stderr
    assert "postmap failed" in result.stderr
    assert "nothing was changed" in result.stderr
    assert snapshot(postfix_config.config_dir) == before


# --------------------------------------------------------------------------- revert takes back
# only apply's own change (issue 19 item 3). A configured, never started instance: the
# reload is skipped ("not running"), everything else is the real postconf and postmap.

NOBODY = ["setpriv", "--reuid", "nobody", "--regid", "nogroup", "--clear-groups"]
PORT = 2525
"""The relay's port in these tests: the instance is never started, nothing connects."""
needs_root = pytest.mark.skipif(
    shutil.which("setpriv") is None or os.geteuid() != 0,
    reason="mta apply needs root, and the other user is played with setpriv",
)


def offline_config(home: Path, *, port: int = PORT, name: str = "mailsetup") -> Path:
    return write_config(home, None, Path("/nonexistent/ca.pem"), port=port, name=name)


def record_dir(instance: PostfixInstance) -> Path:
    return instance.config_dir / ".tui-mailsetup-backups" / "postfix" / "applied"


def postconf_value(instance: PostfixInstance, name: str) -> str:
    return subprocess.run(
        ["postconf", "-c", str(instance.config_dir), "-h", name],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


def hand_edit(path: Path, append: str = "", replace: tuple[str, str] | None = None) -> None:
    text = path.read_text()
    if replace:
        assert replace[0] in text
        text = text.replace(*replace)
    path.write_text(text + append)


def edit_manifest(instance: PostfixInstance, change: Any) -> None:
    manifest = record_dir(instance) / "manifest.json"
    document = json.loads(manifest.read_text())
    change(document)
    manifest.write_text(json.dumps(document))


@pytest.mark.slow
@needs_root
def test_a_hand_edit_of_main_cf_after_apply_survives_revert(
    postfix_config: PostfixInstance, isolated_home: Path
) -> None:
    main_cf = postfix_config.config_dir / "main.cf"
    config = offline_config(isolated_home)
    original = main_cf.read_text()
    assert mta(isolated_home, config, postfix_config, "apply").returncode == 0
    # The administrator adds a line of their own and overrides one of apply's.
    hand_edit(
        main_cf,
        append="myorigin = hand.example\n",
        replace=("smtp_tls_security_level = verify", "smtp_tls_security_level = encrypt"),
    )
    reverted = mta(isolated_home, config, postfix_config, "revert")
    assert reverted.returncode == 0, reverted.stderr
    assert "only its own parameters were taken back" in reverted.stdout
    assert "smtp_tls_security_level was changed by hand since (now encrypt): kept" in (
        reverted.stdout
    )
    text = main_cf.read_text()
    assert "myorigin = hand.example" in text
    assert "smtp_tls_security_level = encrypt" in text
    assert "relayhost" not in text and "smtp_sasl" not in text
    assert (
        text.replace("smtp_tls_security_level = encrypt\n", "").replace(
            "myorigin = hand.example\n", ""
        )
        == original
    )
    assert not (postfix_config.config_dir / "sasl_passwd").exists()
    assert not record_dir(postfix_config).exists()


@needs_root
def test_another_line_in_sasl_passwd_makes_revert_refuse_and_show_it(
    postfix_config: PostfixInstance, isolated_home: Path
) -> None:
    sasl = postfix_config.config_dir / "sasl_passwd"
    config = offline_config(isolated_home)
    before = snapshot(postfix_config.config_dir)
    assert mta(isolated_home, config, postfix_config, "apply").returncode == 0
    hand_edit(sasl, append="[other.example]:587 bob:secret-of-bob\n")
    edited = snapshot(postfix_config.config_dir)
    refused = mta(isolated_home, config, postfix_config, "revert")
    assert refused.returncode == 78, refused.stdout + refused.stderr
    assert "changed since mta apply wrote it" in refused.stderr
    assert "--force" in refused.stderr
    assert "+[other.example]:587 bob:********" in refused.stderr
    assert "secret-of-bob" not in refused.stderr and PASSWORD not in refused.stderr
    assert snapshot(postfix_config.config_dir) == edited
    as_json = mta(isolated_home, config, postfix_config, "revert", "--json")
    assert as_json.returncode == 78
    assert "+[other.example]:587 bob:********" in as_json.json()["error"]["lines"]

    forced = mta(isolated_home, config, postfix_config, "revert", "--force")
    assert forced.returncode == 0, forced.stderr
    assert f"removed {sasl} (mta apply created it)" in forced.stdout
    assert snapshot(postfix_config.config_dir) == before


@pytest.mark.slow
@needs_root
def test_a_second_apply_after_a_relay_change_replaces_the_first_and_revert_returns_to_the_start(
    postfix_config: PostfixInstance, isolated_home: Path
) -> None:
    main_cf = postfix_config.config_dir / "main.cf"
    main_cf.write_text(main_cf.read_text() + "relayhost = [old-relay.example]:25\n")
    sasl = postfix_config.config_dir / "sasl_passwd"
    config = offline_config(isolated_home)
    before = snapshot(postfix_config.config_dir)
    assert mta(isolated_home, config, postfix_config, "apply").returncode == 0
    assert postconf_value(postfix_config, "relayhost") == f"[localhost]:{PORT}"
    moved = offline_config(isolated_home, port=PORT + 1)
    again = mta(isolated_home, moved, postfix_config, "apply")
    assert again.returncode == 0, again.stderr
    assert postconf_value(postfix_config, "relayhost") == f"[localhost]:{PORT + 1}"
    entries = [line for line in sasl.read_text().splitlines() if not line.startswith("#")]
    assert entries == [f"[localhost]:{PORT + 1} {USER}:{PASSWORD}"]
    reverted = mta(isolated_home, moved, postfix_config, "revert")
    assert reverted.returncode == 0, reverted.stderr
    assert snapshot(postfix_config.config_dir) == before
    assert postconf_value(postfix_config, "relayhost") == "[old-relay.example]:25"


@pytest.mark.slow
@needs_root
def test_a_hand_edit_between_two_applies_survives_revert(
    postfix_config: PostfixInstance, isolated_home: Path
) -> None:
    main_cf = postfix_config.config_dir / "main.cf"
    first = offline_config(isolated_home, name="first")
    moved = offline_config(isolated_home, port=PORT + 1, name="moved")
    original = main_cf.read_text()
    assert mta(isolated_home, first, postfix_config, "apply").returncode == 0
    hand_edit(main_cf, append="myorigin = hand.example\n")
    assert mta(isolated_home, moved, postfix_config, "apply").returncode == 0
    reverted = mta(isolated_home, moved, postfix_config, "revert")
    assert reverted.returncode == 0, reverted.stderr
    # main.cf is what the second apply left, yet revert does not put back the bytes from
    # before the first: that would lose the line added in between.
    assert main_cf.read_text() == original + "myorigin = hand.example\n"


@pytest.mark.slow
@needs_root
def test_a_tampered_manifest_makes_revert_write_nothing_outside(
    postfix_config: PostfixInstance, isolated_home: Path
) -> None:
    outside = postfix_config.root / "outside.txt"
    outside.write_text("not mta apply's\n")
    passwd = Path("/etc/passwd").read_bytes()
    sasl = postfix_config.config_dir / "sasl_passwd"
    # A sasl_passwd of the administrator's (an old password for the same relay).
    sasl.write_text(f"[localhost]:{PORT} {USER}:old password\n")
    sasl.chmod(0o600)
    config = offline_config(isolated_home)
    before = snapshot(postfix_config.config_dir)
    assert mta(isolated_home, config, postfix_config, "apply").returncode == 0
    applied = snapshot(postfix_config.config_dir)
    good = json.loads((record_dir(postfix_config) / "manifest.json").read_text())
    main_entry = next(e for e in good["files"] if e["name"] == "main.cf")

    def add_file(name: str) -> Any:
        return lambda d: d["files"].append(dict(main_entry, name=name, before=None))

    def set_parameter(d: dict[str, Any]) -> None:
        d["parameters"]["mydestination"] = {"before": "attacker.example", "after": None}

    def swap_copy(d: dict[str, Any]) -> None:
        copy = record_dir(postfix_config) / "objects" / main_entry["before"]
        copy.write_text("relayhost = [relay.attacker.example]:25\n")

    tampered: list[Any] = [
        add_file("/etc/passwd"),
        add_file("../../outside.txt"),
        add_file("master.cf"),
        set_parameter,
        swap_copy,
    ]
    for change in tampered:
        manifest = record_dir(postfix_config) / "manifest.json"
        saved_manifest = manifest.read_bytes()
        copy = record_dir(postfix_config) / "objects" / main_entry["before"]
        saved_copy = copy.read_bytes()
        edit_manifest(postfix_config, change)
        refused = mta(isolated_home, config, postfix_config, "revert")
        assert refused.returncode == 65, (change, refused.stdout + refused.stderr)
        assert "damaged or was changed by hand" in refused.stderr
        assert snapshot(postfix_config.config_dir) == applied
        manifest.write_bytes(saved_manifest)
        copy.write_bytes(saved_copy)

    # Owners and modes in the manifest are held to what apply itself writes.
    def loosen(d: dict[str, Any]) -> None:
        for entry in d["files"]:
            entry.update(mode=0o4777, gid=65534)

    edit_manifest(postfix_config, loosen)
    reverted = mta(isolated_home, config, postfix_config, "revert")
    assert reverted.returncode == 0, reverted.stderr
    assert snapshot(postfix_config.config_dir) == before
    info = sasl.stat()
    assert (stat.S_IMODE(info.st_mode), info.st_uid, info.st_gid) == (0o600, 0, 0)
    assert outside.read_text() == "not mta apply's\n"
    assert Path("/etc/passwd").read_bytes() == passwd


@needs_root
def test_a_backup_directory_another_user_can_write_is_refused(
    postfix_config: PostfixInstance, isolated_home: Path
) -> None:
    main_cf = postfix_config.config_dir / "main.cf"
    backups = postfix_config.config_dir / ".tui-mailsetup-backups"
    config = offline_config(isolated_home)
    assert mta(isolated_home, config, postfix_config, "apply").returncode == 0
    applied = snapshot(postfix_config.config_dir)
    # A careless chmod: now another user can replace the manifest with one saying
    # main.cf did not exist before the apply (revert would delete it).
    for directory in (backups, backups / "postfix", record_dir(postfix_config)):
        directory.chmod(0o777)
    digest = hashlib.sha256(main_cf.read_bytes()).hexdigest()
    planted = json.dumps(
        {
            "version": 2,
            "mta": "postfix",
            "files": [{"name": "main.cf", "before": None, "after": digest}],
            "parameters": {},
        }
    )
    manifest = record_dir(postfix_config) / "manifest.json"
    subprocess.run(
        [
            *NOBODY,
            sys.executable,
            "-c",
            "import os, sys; p = sys.argv[1]; os.unlink(p); open(p, 'w').write(sys.argv[2])",
            str(manifest),
            planted,
        ],
        check=True,
        timeout=60,
    )
    assert manifest.stat().st_uid != 0
    refused = mta(isolated_home, config, postfix_config, "revert")
    assert refused.returncode == 78, refused.stdout + refused.stderr
    # Refused by the trust rule for every file an MTA change uses (files.check_trusted), or by
    # the record's own check: either way the directory is named with the chmod that fixes it.
    assert str(backups) in refused.stderr
    assert f"chmod go-w {backups}" in refused.stderr or f"chmod 700 {backups}" in refused.stderr
    assert snapshot(postfix_config.config_dir) == applied
    # Fixed modes, but the manifest still belongs to the other user: refused too.
    for directory in (backups, backups / "postfix", record_dir(postfix_config)):
        directory.chmod(0o700)
    still = mta(isolated_home, config, postfix_config, "revert")
    assert still.returncode == 78, still.stdout + still.stderr
    assert f"the backup file {manifest} belongs to uid" in still.stderr
    assert snapshot(postfix_config.config_dir) == applied
    # An apply does not write into such a record either.
    moved = offline_config(isolated_home, port=PORT + 1)
    assert mta(isolated_home, moved, postfix_config, "apply").returncode == 78
    assert main_cf.is_file() and snapshot(postfix_config.config_dir) == applied


def kill_when_pending(process: subprocess.Popen[bytes], manifest: Path) -> None:
    """Return as soon as apply's record announces a change (or apply has ended)."""
    deadline = time.monotonic() + 120
    while process.poll() is None and time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            if '"pending": "' in manifest.read_text():
                return


@pytest.mark.slow
@needs_root
def test_killing_apply_at_random_moments_leaves_the_old_or_the_new_main_cf(
    postfix_config: PostfixInstance, isolated_home: Path
) -> None:
    """30 kills while apply moves the relay from one port to the other and back."""
    main_cf = postfix_config.config_dir / "main.cf"
    sasl = postfix_config.config_dir / "sasl_passwd"
    rng = random.Random(19)
    relays = [
        offline_config(isolated_home, port=port, name=name)
        for name, port in (("first", PORT), ("second", PORT + 1))
    ]
    before = snapshot(postfix_config.config_dir)
    # Every complete state: the start, relay 0 (as a first apply and after relay 1)
    # and relay 1, with the password table that goes with each main.cf.
    complete: dict[bytes, bytes | None] = {before["main.cf"]: None}
    relay_of = {before["main.cf"]: 1}
    started = time.monotonic()
    for index in (0, 1, 0):
        assert mta(isolated_home, relays[index], postfix_config, "apply").returncode == 0
        complete[main_cf.read_bytes()] = sasl.read_bytes()
        relay_of[main_cf.read_bytes()] = index
    duration = (time.monotonic() - started) / 3
    environment = cli_environment(isolated_home, {"MAILSETUP_SMTP__PASSWORD": PASSWORD})
    for kill in range(30):
        # Always towards the other relay: every kill interrupts a real change.
        target = 1 - relay_of[main_cf.read_bytes()]
        config = relays[target]
        apply = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tui_mailsetup",
                "--config",
                str(config),
                "mta",
                "apply",
                "--mta",
                "postfix",
                "--config-dir",
                str(postfix_config.config_dir),
            ],
            env=environment,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        if kill % 2:
            time.sleep(rng.uniform(0.3, 1.1) * duration)
        else:
            # The narrow moment: the record says what is coming, the files not yet.
            kill_when_pending(apply, record_dir(postfix_config) / "manifest.json")
        apply.send_signal(signal.SIGKILL)
        apply.wait(timeout=60)
        now = main_cf.read_bytes()
        assert now in complete, f"kill {kill}: main.cf is a mix:\n{now.decode()}"
        # main.cf goes in last: the password table it points at is complete, or, killed
        # between the two renames, the record still says the change is pending and the next
        # apply completes it.
        if sasl.read_bytes() != complete[now]:
            finished = mta(isolated_home, config, postfix_config, "apply")
            assert finished.returncode == 0, finished.stdout + finished.stderr
            now = main_cf.read_bytes()
            assert now in complete and relay_of[now] == target
        assert sasl.read_bytes() == complete[now]
        if kill % 10 == 9:
            rerun = mta(isolated_home, config, postfix_config, "apply")
            assert rerun.returncode == 0, rerun.stderr
            assert complete[main_cf.read_bytes()] == sasl.read_bytes()
            assert relay_of[main_cf.read_bytes()] == target
    # Whatever the kills left, one revert returns to the start.
    reverted = mta(isolated_home, relays[0], postfix_config, "revert")
    assert reverted.returncode == 0, reverted.stderr
    assert snapshot(postfix_config.config_dir) == before
