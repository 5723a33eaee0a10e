"""mta apply/test/queue/revert against a real Postfix instance relaying to a local aiosmtpd.

The instance (tests/postfix_instance.py) has its own configuration, queue
and log; the relay is the sandbox server with STARTTLS, AUTH and a CA of its
own. Nothing touches /etc/postfix or the system's sendmail queue: every
command gets --config-dir, and Postfix's sendmail gets -C from it.
"""

from __future__ import annotations

import shutil
import stat
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli_helpers import Result, run_cli
from tests.postfix_instance import PostfixInstance, postfix_config, postfix_instance
from tui_mailsetup.sandbox import Sandbox

__all__ = ["postfix_config", "postfix_instance"]

USER = "relay-user"
PASSWORD = "correct horse battery"
RECIPIENT = "you@example.test"


@pytest.fixture
def relay() -> Iterator[Sandbox]:
    with Sandbox(mode="starttls", username=USER, password=PASSWORD) as box:
        yield box


def write_config(home: Path, box: Sandbox, ca_file: Path, *, port: int | None = None) -> Path:
    config = home / "mailsetup.toml"
    config.write_text(
        "\n".join(
            [
                'driver = "smtp"',
                "[smtp]",
                # Postfix matches the certificate by name, never by IP address.
                'host = "localhost"',
                f"port = {port or box.port}",
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
    return run_cli(
        "--config",
        str(config),
        "mta",
        *args,
        "--mta",
        "postfix",
        "--config-dir",
        str(instance.config_dir),
        home=home,
        env={"MAILSETUP_SMTP__PASSWORD": password},
        timeout=120,
    )


def snapshot(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in directory.iterdir() if p.is_file()}


def trusted_ca(box: Sandbox, instance: PostfixInstance) -> Path:
    assert box.ca_path is not None
    ca = instance.root / "relay-ca.pem"
    shutil.copyfile(box.ca_path, ca)
    ca.chmod(0o644)
    return ca


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
