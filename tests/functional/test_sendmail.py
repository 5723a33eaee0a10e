"""`tui-mailsetup sendmail` as the machine's programs call it, and its spool (`mta queue
--mta tui-mailsetup`): delivered through the sandbox SMTP server (STARTTLS + AUTH) and the
Graph stand-in; the relay down keeps the message, a retry delivers it exactly once, and a
retry killed with SIGKILL loses nothing and sends nothing twice."""

from __future__ import annotations

import contextlib
import email
import fcntl
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.support.cli_helpers import Result, cli_environment, config_path, run_cli
from tests.support.smtp_servers import black_hole
from tui_mailsetup.config_file import write_values
from tui_mailsetup.sandbox import Sandbox
from tui_mailsetup.secrets import store_secret

if TYPE_CHECKING:
    from tests.support.oauth2_server import GraphApi

PASSWORD = "Sandbox-pass-0042"
SENDER = "ops@acme.com"
MAIL = b"To: dev@acme.com\nBcc: hidden@acme.com\nX-Ticket: 4711\nSubject: x\n\nbody\n"


@pytest.fixture
def spool(tmp_path: Path) -> Path:
    return tmp_path / "spool"


def relay_config(home: Path, box: Sandbox, **extra: object) -> Path:
    path = config_path(home)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    smtp = {f"smtp.{key}": value for key, value in box.smtp_settings().items()}
    # The sandbox deletes its CA when it stops: a copy keeps "the relay is down" about the relay.
    ca_copy = home / f"relay-ca-{box.port}.pem"
    shutil.copyfile(smtp["smtp.ca_file"], ca_copy)
    smtp["smtp.ca_file"] = str(ca_copy)
    write_values(
        path,
        {"driver": "smtp", **smtp, "smtp.timeout": 20, "sender.address": SENDER, **extra},
    )
    store_secret(path, "smtp.password", PASSWORD)
    return path


def sendmail(
    home: Path,
    spool: Path,
    *args: str,
    data: bytes = MAIL,
    env: Mapping[str, str] | None = None,
) -> Result:
    environment = {"MAILSETUP_SPOOL": str(spool), **(env or {})}
    return run_cli("sendmail", *args, home=home, env=environment, stdin=data, timeout=120)


def queue(home: Path, spool: Path, *args: str, **env: str) -> Result:
    return run_cli(
        "mta",
        "queue",
        "--mta",
        "tui-mailsetup",
        *args,
        home=home,
        env={"MAILSETUP_SPOOL": str(spool), **env},
        timeout=120,
    )


def entries(spool: Path, where: str = "queue") -> list[str]:
    directory = spool / where
    return sorted(os.listdir(directory)) if directory.is_dir() else []


@contextlib.contextmanager
def graph_relay(home: Path) -> Iterator[tuple[GraphApi, dict[str, str]]]:
    """The Graph stand-in and its token endpoint, configured as the driver (client
    credentials); yields it and the environment that trusts its CA."""
    from tests.support.oauth2_server import AuthServer, GraphApi
    from tests.support.smtp_servers import LocalCA

    ca = LocalCA(home)
    auth = AuthServer(ca, app_subject=SENDER).start()
    graph = GraphApi(auth, ca, {SENDER}).start()
    try:
        path = config_path(home)
        write_values(
            path,
            {
                "driver": "graph",
                "graph.endpoint": graph.url,
                "sender.address": SENDER,
                "oauth2.flow": "client-credentials",
                "oauth2.tenant": "acme.com",
                "oauth2.client_id": auth.client_id,
                "oauth2.token_url": auth.token_url,
            },
        )
        store_secret(path, "oauth2.client_secret", auth.client_secret)
        yield graph, {"SSL_CERT_FILE": str(ca.ca_path), "REQUESTS_CA_BUNDLE": str(ca.ca_path)}
    finally:
        graph.stop()
        auth.stop()


# --------------------------------------------------------------------------- delivered


def test_t_reads_the_recipients_strips_bcc_and_adds_date_and_message_id(
    isolated_home: Path, spool: Path
) -> None:
    with Sandbox(mode="starttls", password=PASSWORD) as box:
        relay_config(isolated_home, box)
        sent = sendmail(isolated_home, spool, "-t", "-i", "-f", SENDER)
        assert sent.returncode == 0, sent.stderr
        assert sent.stdout == "" and sent.stderr == ""
        assert len(box.messages) == 1
        received = box.messages[0]
    assert received.mail_from == SENDER
    assert set(received.rcpt_tos) == {"dev@acme.com", "hidden@acme.com"}
    assert received.authenticated_as == box.username
    message = email.message_from_bytes(received.data)
    assert message["Bcc"] is None and b"hidden@acme.com" not in received.data
    assert message["X-Ticket"] == "4711" and message["Subject"] == "x"
    assert message["Date"] and message["Message-ID"] and message["From"] == SENDER
    assert entries(spool) == []


def test_the_issue_s_printf_line_and_sendmail_s_other_options(
    isolated_home: Path, spool: Path
) -> None:
    """printf 'Subject: x\\n\\nbody\\n' | sendmail -t -f … with the recipient named; -oi, -F,
    cron's -B8BITMIME -oem, and the caller's own Date and Message-ID kept."""
    own = b"Date: Tue, 01 Dec 2026 10:00:00 +0000\nMessage-ID: <mine@acme.com>\n"
    with Sandbox(mode="starttls", password=PASSWORD) as box:
        relay_config(isolated_home, box)
        plain = sendmail(
            isolated_home, spool, "-t", "-f", SENDER, "dev@acme.com", data=b"Subject: x\n\nbody\n"
        )
        assert plain.returncode == 0, plain.stderr
        cron = sendmail(
            isolated_home,
            spool,
            "-oi",
            "-FCronDaemon",
            "-B8BITMIME",
            "-oem",
            "dev@acme.com",
            data=own + b"Subject: y\n\nline\n.\nafter the dot\n",
        )
        assert cron.returncode == 0, cron.stderr
        first, second = (email.message_from_bytes(m.data) for m in box.messages)
    assert first["Subject"] == "x" and first["Message-ID"]
    assert second["Message-ID"] == "<mine@acme.com>"
    assert second["Date"] == "Tue, 01 Dec 2026 10:00:00 +0000"
    assert second["From"] == f"CronDaemon <{SENDER}>"
    assert "after the dot" in second.get_payload()  # -oi: a lone dot does not end it


def test_sendmail_delivers_through_the_graph_driver(isolated_home: Path, spool: Path) -> None:
    with graph_relay(isolated_home) as (graph, trust):
        sent = sendmail(isolated_home, spool, "-t", "-f", SENDER, env=trust)
        assert sent.returncode == 0, sent.stderr
    assert len(graph.sent) == 1 and graph.sent[0].mailbox == SENDER
    message = email.message_from_bytes(graph.sent[0].mime)
    assert message["X-Ticket"] == "4711" and message["Bcc"] is None


def test_an_invalid_recipient_exits_65_and_is_not_kept(isolated_home: Path, spool: Path) -> None:
    with Sandbox(mode="starttls", password=PASSWORD) as box:
        relay_config(isolated_home, box)
        refused = sendmail(isolated_home, spool, "alice @acme.com", data=b"Subject: x\n\nb\n")
        assert refused.returncode == 65, refused.stderr
        assert "not a valid address" in refused.stderr
        assert box.messages == []
    assert entries(spool) == []
    assert sendmail(isolated_home, spool, data=b"Subject: x\n\nb\n").returncode == 64


# --------------------------------------------------------------------------- the spool


def test_relay_down_keeps_the_message_and_a_retry_delivers_it_once(
    isolated_home: Path, spool: Path
) -> None:
    with Sandbox(mode="starttls", password=PASSWORD) as gone:
        relay_config(isolated_home, gone)
    kept = sendmail(isolated_home, spool, "-t", "-f", SENDER)  # the relay is down
    assert kept.returncode == 0, kept.stderr
    assert "kept in the spool" in kept.stderr and "Connection refused" in kept.stderr
    [entry] = entries(spool)
    assert os.stat(spool).st_mode & 0o777 == 0o700
    assert os.stat(spool / "queue" / entry / "message").st_mode & 0o777 == 0o600
    envelope = json.loads((spool / "queue" / entry / "envelope.json").read_text())
    assert set(envelope["recipients"]) == {"dev@acme.com", "hidden@acme.com"}

    listed = queue(isolated_home, spool)
    assert listed.returncode == 0 and entry in listed.stdout
    assert "Connection refused" in listed.stdout
    as_json = queue(isolated_home, spool, "--json").json()
    assert as_json["messages"][0]["exit_code"] == 69

    still_down = queue(isolated_home, spool, "--retry")
    assert still_down.returncode == 75 and f"{entry}: deferred" in still_down.stdout
    assert json.loads((spool / "queue" / entry / "envelope.json").read_text())["attempts"] == 2

    with Sandbox(mode="starttls", password=PASSWORD) as back:
        relay_config(isolated_home, back)  # the relay is back (at its new address)
        retried = queue(isolated_home, spool, "--retry")
        assert retried.returncode == 0, retried.stdout + retried.stderr
        assert f"{entry}: sent" in retried.stdout
        again = queue(isolated_home, spool, "--retry")
        assert again.returncode == 0
        assert len(back.messages) == 1
        assert b"hidden@acme.com" not in back.messages[0].data
    assert entries(spool) == [] and entries(spool, "active") == []


def test_sigkill_during_a_retry_loses_nothing_and_sends_once(
    isolated_home: Path, spool: Path
) -> None:
    with Sandbox(mode="starttls", password=PASSWORD) as gone:
        relay_config(isolated_home, gone)
    assert sendmail(isolated_home, spool, "-t").returncode == 0
    [entry] = entries(spool)
    with black_hole() as port:
        relay_config_port(isolated_home, port)
        environment = cli_environment(isolated_home, {"MAILSETUP_SPOOL": str(spool)})
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tui_mailsetup",
                "mta",
                "queue",
                "--mta",
                "tui-mailsetup",
                "--retry",
            ],
            env=environment,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while entries(spool, "active") != [entry] and time.monotonic() < deadline:
            time.sleep(0.05)
        assert entries(spool, "active") == [entry], "the retry claimed the message"
        # A second retry meanwhile: the lock stops it from sending the same message.
        busy = queue(isolated_home, spool, "--retry")
        assert busy.returncode == 75 and "another" in busy.stderr
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    assert entries(spool, "active") == [entry]  # not lost
    with Sandbox(mode="starttls", password=PASSWORD) as back:
        relay_config(isolated_home, back)
        listed = queue(isolated_home, spool)
        assert listed.returncode == 0
        retried = queue(isolated_home, spool, "--retry")
        assert retried.returncode == 0, retried.stdout + retried.stderr
        assert queue(isolated_home, spool, "--retry").returncode == 0
        assert len(back.messages) == 1
    assert entries(spool) == [] and entries(spool, "active") == []


def relay_config_port(home: Path, port: int) -> None:
    write_values(config_path(home), {"smtp.port": port, "smtp.timeout": 60})


def test_unwritable_spool_exits_75(isolated_home: Path, tmp_path: Path) -> None:
    with Sandbox(mode="starttls", password=PASSWORD) as gone:
        relay_config(isolated_home, gone)
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    failed = sendmail(isolated_home, blocker / "spool", "-t")
    assert failed.returncode == 75, failed.stderr
    assert "could not be kept" in failed.stderr


def test_a_spool_of_another_user_is_refused(isolated_home: Path, spool: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root to give the spool to another user")
    with Sandbox(mode="starttls", password=PASSWORD) as gone:
        relay_config(isolated_home, gone)
    spool.mkdir(mode=0o700)
    os.chown(spool, 65534, 65534)  # planted by nobody
    failed = sendmail(isolated_home, spool, "-t")
    assert failed.returncode == 75 and "another user" in failed.stderr
    assert os.listdir(spool) == []


def test_a_broken_configuration_keeps_the_message(isolated_home: Path, spool: Path) -> None:
    path = config_path(isolated_home)
    path.parent.mkdir(parents=True, mode=0o700)
    path.write_text("driver = [\n")
    kept = sendmail(isolated_home, spool, "-t", "-f", SENDER)
    assert kept.returncode == 0, kept.stderr
    assert "configuration could not be loaded" in kept.stderr
    assert len(entries(spool)) == 1


def test_a_retry_lock_held_elsewhere_sends_nothing(isolated_home: Path, spool: Path) -> None:
    with Sandbox(mode="starttls", password=PASSWORD) as gone:
        relay_config(isolated_home, gone)
    assert sendmail(isolated_home, spool, "-t").returncode == 0
    with Sandbox(mode="starttls", password=PASSWORD) as back:
        relay_config(isolated_home, back)
        with open(spool / ".retry.lock", "w") as held:
            fcntl.flock(held, fcntl.LOCK_EX)
            busy = queue(isolated_home, spool, "--retry")
        assert busy.returncode == 75 and back.messages == []
        assert len(entries(spool)) == 1


# --------------------------------------------------------------------------- the machine's sendmail


def test_apply_makes_it_the_machine_s_sendmail_and_revert_takes_back_only_that(
    isolated_home: Path, spool: Path, tmp_path: Path
) -> None:
    if os.geteuid() != 0:
        pytest.skip("mta apply needs root")
    beside = Path(sys.executable).parent / "tui-mailsetup"
    if not beside.is_file() and shutil.which("tui-mailsetup") is None:
        pytest.skip("the tui-mailsetup console script is not installed")
    root = tmp_path / "root"
    sbin = root / "usr" / "sbin"
    sbin.mkdir(parents=True)
    (sbin / "sendmail").write_text("#!/bin/sh\nexit 0\n")
    args = ("--mta", "tui-mailsetup", "--config-dir", str(root))
    dry = run_cli("mta", "apply", *args, "--dry-run", home=isolated_home)
    assert dry.returncode == 0 and "dry run" in dry.stdout
    assert not (sbin / "sendmail").is_symlink()
    applied = run_cli("mta", "apply", *args, home=isolated_home)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    link = sbin / "sendmail"
    assert link.is_symlink() and Path(os.readlink(link)).name == "tui-mailsetup"
    assert (sbin / "sendmail.before-tui-mailsetup").read_text().startswith("#!/bin/sh")
    cron = (root / "etc" / "cron.d" / "tui-mailsetup").read_text()
    assert "mta queue --mta tui-mailsetup --retry" in cron and "logger" in cron
    assert "nothing changed" in run_cli("mta", "apply", *args, home=isolated_home).stdout

    # Called as sendmail (the symlink), it is the sendmail command.
    with Sandbox(mode="starttls", password=PASSWORD) as box:
        relay_config(isolated_home, box)
        completed = subprocess.run(
            [str(link), "-t", "-i"],
            input=MAIL,
            capture_output=True,
            env=cli_environment(isolated_home, {"MAILSETUP_SPOOL": str(spool)}),
            timeout=120,
        )
        assert completed.returncode == 0, completed.stderr
        assert len(box.messages) == 1

    reverted = run_cli("mta", "revert", *args, home=isolated_home)
    assert reverted.returncode == 0, reverted.stdout + reverted.stderr
    assert not link.is_symlink() and link.read_text().startswith("#!/bin/sh")
    assert not (root / "etc" / "cron.d" / "tui-mailsetup").exists()
    again = run_cli("mta", "revert", *args, home=isolated_home)
    assert again.returncode == 65 and "nothing to revert" in again.stderr


def test_mta_status_reads_the_spool(isolated_home: Path, spool: Path) -> None:
    with Sandbox(mode="starttls", password=PASSWORD) as gone:
        relay_config(isolated_home, gone)
    assert sendmail(isolated_home, spool, "-t").returncode == 0
    status = run_cli(
        "mta",
        "status",
        "--mta",
        "tui-mailsetup",
        home=isolated_home,
        env={"MAILSETUP_SPOOL": str(spool)},
    )
    assert status.returncode == 0, status.stderr
    assert "1 message(s), 1 deferred" in status.stdout
    assert "Connection refused" in status.stdout


def test_bad_sender_options_and_odd_input_exit_65_without_a_traceback(
    isolated_home: Path, spool: Path
) -> None:
    with Sandbox(mode="starttls", password=PASSWORD) as box:
        relay_config(isolated_home, box)
        name = sendmail(isolated_home, spool, "-F", "Eve\nBcc: victim@acme.com", "dev@acme.com")
        assert name.returncode == 65 and "Traceback" not in name.stderr, name.stderr
        address = sendmail(isolated_home, spool, "-f", "not an address", "dev@acme.com")
        assert address.returncode == 65 and "-f" in address.stderr, address.stderr
        odd = sendmail(
            isolated_home,
            spool,
            "-t",
            data=b"To: dev@acme.com\nSubject: \xff\xfe caf\xe9\n\n\x00b\n",
        )
        assert odd.returncode == 0, odd.stderr
        assert len(box.messages) == 1
    assert entries(spool) == []


def test_a_symlinked_spool_is_refused_and_delete_needs_yes(
    isolated_home: Path, spool: Path, tmp_path: Path
) -> None:
    with Sandbox(mode="starttls", password=PASSWORD) as gone:
        relay_config(isolated_home, gone)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir(mode=0o700)
    planted = tmp_path / "planted"
    planted.symlink_to(elsewhere)
    refused = sendmail(isolated_home, planted, "-t")
    assert refused.returncode == 75 and "symlink" in refused.stderr
    assert os.listdir(elsewhere) == []

    assert sendmail(isolated_home, spool, "-t").returncode == 0
    [entry] = entries(spool)
    unconfirmed = queue(isolated_home, spool, "--delete", entry)
    assert unconfirmed.returncode == 64 and entries(spool) == [entry]
    deleted = queue(isolated_home, spool, "--delete", entry, "--yes")
    assert deleted.returncode == 0 and entries(spool) == []
    assert queue(isolated_home, spool, "--delete", "../../etc", "--yes").returncode == 65


def test_sendmail_through_smtp_with_xoauth2_serves_the_cached_token(
    isolated_home: Path, spool: Path
) -> None:
    from tests.support.oauth2_rig import MAILBOX, write_config
    from tests.support.oauth2_server import AuthServer, BearerSmtp
    from tests.support.smtp_servers import LocalCA

    ca = LocalCA(isolated_home)
    auth = AuthServer(ca, app_subject=MAILBOX).start()
    smtp = BearerSmtp(auth, ca).start()
    try:
        write_config(isolated_home, smtp, auth, flow="client-credentials", tenant="contoso.test")
        for _ in range(3):
            sent = sendmail(
                isolated_home,
                spool,
                "-t",
                data=b"To: dev@contoso.test\nSubject: x\n\nbody\n",
                env={
                    "REQUESTS_CA_BUNDLE": str(ca.ca_path),
                    "MAILSETUP_OAUTH2__CLIENT_SECRET": auth.client_secret,
                },
            )
            assert sent.returncode == 0, sent.stderr
        assert len(smtp.messages) == 3 and smtp.messages[0].login == MAILBOX
        # Delivery serves the cached token: renewing it for each message would hammer
        # the token endpoint (only send-test and check prove it).
        assert auth.grants == ["client_credentials"]
    finally:
        smtp.stop()
        auth.stop()
    assert entries(spool) == []


def test_graph_rate_limit_keeps_the_message_until_retry_after(
    isolated_home: Path, spool: Path
) -> None:
    from tests.support.oauth2_server import graph_error

    with graph_relay(isolated_home) as (graph, trust):
        graph.fail = graph_error(429, "ApplicationThrottled", "Too many.", **{"Retry-After": "600"})
        kept = sendmail(isolated_home, spool, "-t", env=trust)
        assert kept.returncode == 0 and "throttling" in kept.stderr, kept.stderr
        listed = queue(isolated_home, spool, **trust)
        assert "rate limited until" in listed.stdout
        requests = len(graph.requests)
        waiting = queue(isolated_home, spool, "--retry", **trust)
        assert waiting.returncode == 75 and "waiting" in waiting.stdout
        assert len(graph.requests) == requests  # not asked again before Retry-After
    assert len(entries(spool)) == 1


# --------------------------------------------------------------------------- review findings

CRON = b"To: root\nSubject: Cron <root@web1> run-parts /etc/cron.hourly\n\nout\n"


def test_cron_s_f_root_is_the_configured_sender_not_a_refusal(
    isolated_home: Path, spool: Path
) -> None:
    """cronie always sends ``sendmail -FCronDaemon -i -odi -oem -oi -t -f root``."""
    with Sandbox(mode="starttls", password=PASSWORD) as box:
        relay_config(isolated_home, box)
        cron = ("-FCronDaemon", "-i", "-odi", "-oem", "-oi", "-t", "-f", "root")
        sent = sendmail(isolated_home, spool, *cron, "-v", data=CRON)
        assert sent.returncode == 0, sent.stderr
        assert "-f root is a local user" in sent.stderr
        [received] = box.messages
    assert received.mail_from == SENDER and received.rcpt_tos == (SENDER,)
    assert email.message_from_bytes(received.data)["From"] == f"CronDaemon <{SENDER}>"
    assert entries(spool) == []


def test_without_sender_address_root_s_mail_waits_and_a_retry_maps_it(
    isolated_home: Path, spool: Path
) -> None:
    """No configuration, or one without sender.address: a configuration problem (kept,
    exit 0, one line); the retry maps root with the settings it loads then."""
    nothing = sendmail(isolated_home, spool, "-t", "-f", "root", data=CRON)
    assert nothing.returncode == 0, nothing.stderr
    assert nothing.stderr.count("\n") == 1 and "sender.address" in nothing.stderr
    path = config_path(isolated_home)
    path.parent.mkdir(parents=True, mode=0o700)
    write_values(path, {"driver": "smtp", "smtp.host": "127.0.0.1"})
    partial = sendmail(isolated_home, spool, "root", data=b"Subject: y\n\nb\n")
    assert partial.returncode == 0 and "sender.address" in partial.stderr, partial.stderr
    kept = [json.loads((spool / "queue" / e / "envelope.json").read_text()) for e in entries(spool)]
    assert [k["recipients"] for k in kept] == [["root"], ["root"]]
    assert {k["exit_code"] for k in kept} == {78}

    with Sandbox(mode="starttls", password=PASSWORD) as box:
        relay_config(isolated_home, box)
        retried = queue(isolated_home, spool, "--retry")
        assert retried.returncode == 0, retried.stdout + retried.stderr
        assert len(box.messages) == 2
    assert {m.rcpt_tos for m in box.messages} == {(SENDER,)}
    assert {m.mail_from for m in box.messages} == {SENDER}
    assert {email.message_from_bytes(m.data)["From"] for m in box.messages} == {SENDER}
    assert entries(spool) == [] and entries(spool, "failed") == []


def test_a_retry_that_moves_a_message_to_failed_says_so(isolated_home: Path, spool: Path) -> None:
    with Sandbox(mode="starttls", password=PASSWORD) as gone:
        relay_config(isolated_home, gone)
    assert sendmail(isolated_home, spool, "-t").returncode == 0
    [entry] = entries(spool)
    envelope = spool / "queue" / entry / "envelope.json"
    data = json.loads(envelope.read_text())
    envelope.write_text(json.dumps({**data, "recipients": ["alice @acme.com"]}))
    retried = queue(isolated_home, spool, "--retry")
    assert retried.returncode == 65, retried.stdout + retried.stderr
    assert f"{entry} was refused for good and moved to failed/" in retried.stderr
    assert entries(spool, "failed") == [entry]
    assert "Traceback" not in retried.stderr
    listed = queue(isolated_home, spool, "--retry", "--json")
    assert listed.returncode == 0 and json.loads(listed.stdout)["ok"] is True


def test_a_damaged_envelope_is_named_and_skipped_never_a_crash(
    isolated_home: Path, spool: Path
) -> None:
    with Sandbox(mode="starttls", password=PASSWORD) as gone:
        relay_config(isolated_home, gone)
    assert sendmail(isolated_home, spool, "-t").returncode == 0
    assert sendmail(isolated_home, spool, "-t").returncode == 0
    damaged, whole = entries(spool)
    envelope = spool / "queue" / damaged / "envelope.json"
    data = json.loads(envelope.read_text())
    envelope.write_text(json.dumps({**data, "created": "x", "retry_after": "soon"}))
    # A killed retry's claim and a copy put back by hand under the same name.
    shutil.copytree(spool / "queue" / whole, spool / "active" / whole)

    listed = queue(isolated_home, spool)
    assert listed.returncode == 0, listed.stderr
    assert damaged in listed.stdout and "damaged envelope: created is 'x'" in listed.stdout
    as_json = queue(isolated_home, spool, "--json")
    assert as_json.returncode == 0, as_json.stderr
    assert json.loads(as_json.stdout)["ok"] is True
    retried = queue(isolated_home, spool, "--retry")
    assert retried.returncode == 65, retried.stdout + retried.stderr
    assert f"{damaged} was skipped: damaged envelope" in retried.stderr
    assert "Traceback" not in retried.stderr and "internal error" not in retried.stderr
    assert len(entries(spool)) == 3 and entries(spool, "active") == []  # nothing lost


def test_errors_before_sending_print_a_document_of_the_schema(
    isolated_home: Path, spool: Path
) -> None:
    from tests.support.schemas import valid

    with Sandbox(mode="starttls", password=PASSWORD) as box:
        relay_config(isolated_home, box)
        address = sendmail(isolated_home, spool, "--json", "-f", "not an address", "dev@acme.com")
        valid("sendmail.json", address, 65)
        usage = sendmail(isolated_home, spool, "--json", "-bp")
        valid("sendmail.json", usage, 64)
        sent = sendmail(isolated_home, spool, "--json", "-t")
        assert valid("sendmail.json", sent, 0)["spooled"] is None
