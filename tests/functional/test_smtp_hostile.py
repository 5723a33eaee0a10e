"""The engine against scripted hostile servers: each misbehaves in one way on purpose."""

from __future__ import annotations

import asyncio
import base64
import socket
import time
from pathlib import Path
from typing import Any

import pytest

from tests.support.events import assert_terminal_safe, outcome_of, render_human, transcript
from tests.support.smtp_servers import (
    Conn,
    LocalCA,
    ScriptedServer,
    greet_and_ehlo,
    run_ladder,
    settings_for,
)
from tui_mailsetup.engine.events import Direction, ServerCapabilities, Stage, StageFinished
from tui_mailsetup.exitcodes import ExitCode
from tui_mailsetup.message import build_test_message
from tui_mailsetup.sandbox import Sandbox

PASSWORD = "hunter2-Geheimnis"
B64_FORMS = [
    PASSWORD.encode(),
    base64.b64encode(PASSWORD.encode()),
    base64.b64encode(b"\0alice\0" + PASSWORD.encode()),
]


async def test_starttls_stripping_sends_no_auth_bytes() -> None:
    async def script(conn: Conn) -> None:
        # AUTH offered, STARTTLS stripped (what a downgrading middlebox does).
        await greet_and_ehlo(conn, "AUTH PLAIN LOGIN", "PIPELINING")
        await conn.drain_rest()

    async with ScriptedServer(script) as server:
        settings = settings_for(server.port, encryption="starttls", username="alice")
        events = await run_ladder(settings, PASSWORD, message=None)
    # Leaving the block waited for the server's script to see the client's EOF:
    # every byte the client sent has been recorded.
    outcome = outcome_of(events)
    assert outcome.stage == Stage.STARTTLS and outcome.exit_code == ExitCode.PROTOCOL
    assert outcome.diagnosis is not None and "does not offer STARTTLS" in outcome.diagnosis.cause
    if not _listening(465):
        # Port 465 was tried (a handshake, no SMTP) and did not answer: no fix that
        # was not seen to work is offered.
        assert outcome.diagnosis.fix is None
        assert "did not answer a TLS handshake" in outcome.diagnosis.explanation
    # Nothing at all was sent after EHLO: no AUTH, no credentials, not even QUIT.
    assert server.first.commands == [b"EHLO " + server.first.commands[0][5:]]
    received = server.all_received()
    assert b"AUTH" not in received
    for form in B64_FORMS:
        assert form not in received


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex(("127.0.0.1", port)) == 0


async def test_starttls_missing_offers_465_only_when_465_answers_tls(tmp_path: Path) -> None:
    ca = LocalCA(tmp_path)
    try:
        tls_465 = await asyncio.start_server(
            lambda reader, writer: writer.close(), "127.0.0.1", 465, ssl=ca.server_context()
        )
    except OSError as exc:  # not root, or something else has the port
        pytest.skip(f"cannot listen on 127.0.0.1:465 ({exc.strerror})")

    async def script(conn: Conn) -> None:
        await greet_and_ehlo(conn, "AUTH PLAIN LOGIN")
        await conn.drain_rest()

    try:
        async with ScriptedServer(script) as server:
            settings = settings_for(server.port, encryption="starttls", username="alice")
            events = await run_ladder(settings, PASSWORD, message=None)
    finally:
        tls_465.close()
        await tls_465.wait_closed()
    diagnosis = outcome_of(events).diagnosis
    assert diagnosis is not None and diagnosis.fix is not None
    assert diagnosis.fix.changes == {"smtp.port": 465, "smtp.encryption": "tls"}
    assert "a TLS handshake on port 465 succeeded" in diagnosis.explanation
    assert b"AUTH" not in server.all_received()


async def test_plaintext_injected_after_starttls_reply_is_ignored(tmp_path: Path) -> None:
    ca = LocalCA(tmp_path)

    async def script(conn: Conn) -> None:
        await greet_and_ehlo(conn, "STARTTLS")
        await conn.expect("STARTTLS")
        # The injection rides in the same packet as the 220.
        await conn.send(b"220 Ready to start TLS\r\n250-INJECTED\r\n250 AUTH PLAIN\r\n")
        await conn.start_tls(ca.server_context())
        await conn.expect("EHLO")
        await conn.reply("250-hostile.test", "250 AUTH LOGIN")
        await conn.expect("QUIT")
        await conn.reply("221 bye")

    async with ScriptedServer(script) as server:
        settings = settings_for(server.port, encryption="starttls", ca_file=str(ca.ca_path))
        events = await run_ladder(settings, None, message=None)
    outcome = outcome_of(events)
    assert outcome.ok, outcome.diagnosis
    caps = [e for e in events if isinstance(e, ServerCapabilities)]
    assert caps[-1].encrypted and caps[-1].auth_mechanisms == ("LOGIN",)
    assert "INJECTED" not in caps[-1].extensions
    notes = [line.text for line in transcript(events) if line.direction == Direction.NOTE]
    assert any("injection" in note for note in notes)


async def test_starttls_454_stops_without_plaintext() -> None:
    async def script(conn: Conn) -> None:
        await greet_and_ehlo(conn, "STARTTLS", "AUTH PLAIN")
        await conn.expect("STARTTLS")
        await conn.reply("454 4.7.0 TLS not available due to temporary reason")
        await conn.drain_rest()

    async with ScriptedServer(script) as server:
        settings = settings_for(server.port, encryption="starttls", username="alice")
        events = await run_ladder(settings, PASSWORD, message=None)
    # Leaving the block waited for the server's script to see the client's EOF:
    # every byte the client sent has been recorded.
    outcome = outcome_of(events)
    assert outcome.stage == Stage.STARTTLS and outcome.exit_code == ExitCode.PROTOCOL
    assert outcome.diagnosis is not None and "454" in outcome.diagnosis.cause
    assert server.first.commands[-1] == b"STARTTLS"
    assert b"AUTH" not in server.all_received()


async def test_silent_greeting_times_out_with_diagnosis() -> None:
    async def script(conn: Conn) -> None:
        await conn.drain_rest(10)

    async with ScriptedServer(script) as server:
        settings = settings_for(server.port, encryption="starttls", timeout=2)
        events = await run_ladder(settings, None, message=None, greeting_grace=0.5)
    outcome = outcome_of(events)
    assert outcome.stage == Stage.GREETING and outcome.exit_code == ExitCode.TEMPFAIL
    assert outcome.diagnosis is not None and "no greeting" in outcome.diagnosis.cause
    # The implicit-TLS probe ran on a second connection.
    assert len(server.connections) == 2


async def test_one_byte_per_second_greeting_hits_the_single_deadline() -> None:
    async def script(conn: Conn) -> None:
        for byte in b"220 slow.test ESMTP\r\n":
            await conn.send(bytes([byte]))
            await asyncio.sleep(1)

    async with ScriptedServer(script) as server:
        settings = settings_for(server.port, timeout=2.5)
        events = await run_ladder(settings, None, message=None, greeting_grace=0.5)
    outcome = outcome_of(events)
    assert outcome.stage == Stage.GREETING and outcome.exit_code == ExitCode.TEMPFAIL
    assert outcome.diagnosis is not None and "partial: 22" in outcome.diagnosis.evidence
    assert_terminal_safe(events)


async def test_implicit_tls_port_diagnosed_fast_path() -> None:
    timeout = 60.0
    async with Sandbox(mode="tls", auth=False) as box:
        settings = settings_for(box.port, encryption="starttls", timeout=timeout)
        events = await run_ladder(settings, None, message=None, greeting_grace=0.3)
    outcome = outcome_of(events)
    # The diagnosis came from the probe, not from the deadline running out: a
    # structural bound, far from any benchmark (bench/bench_send.py measures it).
    assert outcome.stage == Stage.GREETING
    assert outcome.elapsed < timeout / 4
    assert outcome.exit_code == ExitCode.PROTOCOL
    assert outcome.diagnosis is not None
    assert "speaks implicit TLS" in outcome.diagnosis.cause
    assert outcome.diagnosis.fix is not None and outcome.diagnosis.fix.changes == {
        "smtp.encryption": "tls"
    }
    assert "220" in outcome.diagnosis.evidence


async def test_plain_port_answering_tls_diagnosed() -> None:
    async with Sandbox(mode="starttls", auth=False) as box:
        settings = settings_for(box.port, encryption="tls", timeout=20)
        events = await run_ladder(settings, None, message=None)
    outcome = outcome_of(events)
    assert outcome.exit_code == ExitCode.PROTOCOL and outcome.stage == Stage.TLS
    assert outcome.diagnosis is not None and "plain SMTP" in outcome.diagnosis.cause
    assert outcome.diagnosis.fix is not None
    assert outcome.diagnosis.fix.changes == {"smtp.encryption": "starttls"}


async def test_reply_line_over_8k_is_a_protocol_error() -> None:
    async def script(conn: Conn) -> None:
        await conn.reply("220 hostile.test ESMTP")
        await conn.expect("EHLO")
        await conn.send(b"250 " + b"A" * 10000 + b"\r\n")
        await conn.drain_rest()

    async with ScriptedServer(script) as server:
        events = await run_ladder(settings_for(server.port), None, message=None)
    outcome = outcome_of(events)
    assert outcome.exit_code == ExitCode.PROTOCOL and outcome.stage == Stage.EHLO
    assert all(len(line.text) < 2200 for line in transcript(events))
    assert_terminal_safe(events)


async def test_endless_continuation_lines_are_bounded() -> None:
    async def script(conn: Conn) -> None:
        await conn.reply("220 hostile.test ESMTP")
        await conn.expect("EHLO")
        for _ in range(20000):
            await conn.send(b"250-MORE\r\n")

    async with ScriptedServer(script) as server:
        events = await run_ladder(settings_for(server.port), None, message=None)
    outcome = outcome_of(events)
    assert outcome.exit_code == ExitCode.PROTOCOL and outcome.stage == Stage.EHLO
    received = [line for line in transcript(events) if line.direction == Direction.RECEIVED]
    assert len(received) < 60
    assert any("more reply lines not shown" in line.text for line in transcript(events))
    assert_terminal_safe(events)


async def test_421_mid_session_is_a_rate_limit() -> None:
    async def script(conn: Conn) -> None:
        await greet_and_ehlo(conn, "8BITMIME")
        await conn.expect("MAIL FROM")
        await conn.reply("421 4.7.0 Too many messages, try again in 10 minutes")

    async with ScriptedServer(script) as server:
        settings = settings_for(server.port)
        message = build_test_message(settings, ["you@example.test"])
        before = time.time()
        events = await run_ladder(settings, None, message=message)
    outcome = outcome_of(events)
    assert outcome.stage == Stage.MAIL and outcome.exit_code == ExitCode.TEMPFAIL
    assert outcome.diagnosis is not None and outcome.diagnosis.retry_after is not None
    assert before + 590 <= outcome.diagnosis.retry_after <= time.time() + 610


async def test_connection_dropped_during_data() -> None:
    async def script(conn: Conn) -> None:
        await greet_and_ehlo(conn, "8BITMIME")
        await conn.expect("MAIL FROM")
        await conn.reply("250 ok")
        await conn.expect("RCPT TO")
        await conn.reply("250 ok")
        await conn.expect("DATA")
        await conn.reply("354 go ahead")
        await conn.readline()
        conn.writer.transport.abort()

    async with ScriptedServer(script) as server:
        settings = settings_for(server.port)
        message = build_test_message(settings, ["you@example.test"])
        events = await run_ladder(settings, None, message=message)
    outcome = outcome_of(events)
    assert outcome.stage == Stage.DATA and outcome.exit_code == ExitCode.TEMPFAIL
    assert outcome.diagnosis is not None and "closed the connection" in outcome.diagnosis.cause


async def test_recipient_refused_is_67() -> None:
    async def script(conn: Conn) -> None:
        await greet_and_ehlo(conn, "8BITMIME")
        await conn.expect("MAIL FROM")
        await conn.reply("250 ok")
        await conn.expect("RCPT TO")
        await conn.reply("550 5.1.1 <you@example.test>: Recipient address rejected: User unknown")
        await conn.drain_rest()

    async with ScriptedServer(script) as server:
        settings = settings_for(server.port)
        message = build_test_message(settings, ["you@example.test"])
        events = await run_ladder(settings, None, message=message)
    outcome = outcome_of(events)
    assert outcome.stage == Stage.RCPT and outcome.exit_code == ExitCode.NOUSER


async def test_escapes_and_markup_in_replies_are_neutralised() -> None:
    evil = "\x1b[2J\x1b[31mowned\x1b[0m [bold red]boom[/bold red] [link=file:///etc]x[/link]\x07"

    async def script(conn: Conn) -> None:
        await conn.send(f"220 {evil}\r\n".encode())
        await conn.expect("EHLO")
        await conn.send(f"250-hostile.test {evil}\r\n250 X-\x1b]0;title\x07EVIL\r\n".encode())
        await conn.expect("QUIT")
        await conn.reply("221 bye")

    async with ScriptedServer(script) as server:
        events = await run_ladder(settings_for(server.port), None, message=None)
    assert outcome_of(events).ok
    texts = [line.text for line in transcript(events)]
    texts += [e.detail for e in events if hasattr(e, "detail")]
    texts += [ext for e in events if isinstance(e, ServerCapabilities) for ext in e.extensions]
    for text in texts:
        assert "\x1b" not in text and "\x07" not in text
    assert any("\\x1b[31mowned" in t and "[bold red]boom[/bold red]" in t for t in texts)
    assert_terminal_safe(events)


async def test_wrong_password_exactly_one_auth_attempt() -> None:
    async def script(conn: Conn) -> None:
        await greet_and_ehlo(conn, "AUTH CRAM-MD5 PLAIN LOGIN XOAUTH2")
        while line := await conn.readline():
            if line.upper().startswith(b"AUTH"):
                await conn.reply("535 5.7.8 Authentication credentials invalid")
            elif line.upper().startswith(b"QUIT"):
                await conn.reply("221 bye")
                return
            else:
                await conn.reply("500 what")

    async with ScriptedServer(script) as server:
        settings = settings_for(server.port, username="alice", allow_plaintext_auth=True)
        events = await run_ladder(settings, PASSWORD, message=None)
    outcome = outcome_of(events)
    assert outcome.stage == Stage.AUTH and outcome.exit_code == ExitCode.NOPERM
    auth_commands = [c for c in server.first.commands if c.upper().startswith(b"AUTH")]
    assert len(auth_commands) == 1


@pytest.mark.parametrize(
    ("reply", "cause"),
    [
        (
            "535-5.7.8 Username and Password not accepted. For more information, go to\r\n"
            "535 5.7.8  https://support.google.com/mail/?p=BadCredentials x1-20020",
            "app password",
        ),
        (
            "535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant.",
            "SMTP AUTH disabled",
        ),
    ],
)
async def test_provider_auth_failures(reply: str, cause: str) -> None:
    async def script(conn: Conn) -> None:
        await greet_and_ehlo(conn, "AUTH LOGIN PLAIN")
        await conn.expect("AUTH")
        await conn.send(reply + "\r\n")
        await conn.drain_rest()

    async with ScriptedServer(script) as server:
        settings = settings_for(server.port, username="alice", allow_plaintext_auth=True)
        events = await run_ladder(settings, PASSWORD, message=None)
    outcome = outcome_of(events)
    assert outcome.exit_code == ExitCode.NOPERM
    assert outcome.diagnosis is not None and cause in outcome.diagnosis.cause


async def test_xoauth2_token_sent_once_and_redacted() -> None:
    token = "ya29.token-from-password-command"

    async def script(conn: Conn) -> None:
        await greet_and_ehlo(conn, "AUTH XOAUTH2 PLAIN")
        line = await conn.expect("AUTH XOAUTH2 ")
        blob = base64.b64decode(line.split()[2])
        assert blob == f"user=alice\x01auth=Bearer {token}\x01\x01".encode()
        await conn.reply("235 2.7.0 Accepted")
        await conn.expect("QUIT")
        await conn.reply("221 bye")

    async with ScriptedServer(script) as server:
        settings = settings_for(
            server.port, username="alice", auth="xoauth2", allow_plaintext_auth=True
        )
        events = await run_ladder(settings, token, message=None)
    outcome = outcome_of(events)
    assert outcome.ok and outcome.stage == Stage.AUTH, outcome.diagnosis
    dumped = repr(events)
    assert token not in dumped
    assert (
        base64.b64encode(f"user=alice\x01auth=Bearer {token}\x01\x01".encode()).decode()
        not in dumped
    )


async def test_slow_greeting_survives_the_tls_probe() -> None:
    connections = 0

    async def script(conn: Conn) -> None:
        nonlocal connections
        connections += 1
        if connections > 1:  # the implicit-TLS probe: a ClientHello nobody answers
            await conn.drain_rest()
            return
        await asyncio.sleep(0.8)  # a deliberate greeting pause, as postscreen or greet_pause do
        await greet_and_ehlo(conn, "8BITMIME")
        await conn.drain_rest()

    async with ScriptedServer(script) as server:
        events = await run_ladder(
            settings_for(server.port, timeout=5), None, message=None, greeting_grace=0.2
        )
    outcome = outcome_of(events)
    assert outcome.ok, outcome.diagnosis
    assert any("probing" in line.text for line in transcript(events))


async def test_invalid_ehlo_name_is_a_configuration_error() -> None:
    async def script(conn: Conn) -> None:
        await conn.reply("220 hostile.test ESMTP")
        await conn.drain_rest()

    async with ScriptedServer(script) as server:
        settings = settings_for(server.port)
        # The settings refuse such a name when it enters (issue 8); the engine refuses it
        # again, before saying anything, should one get through.
        settings.smtp.__dict__["ehlo_name"] = "bad name"
        events = await run_ladder(settings, None, message=None)
    outcome = outcome_of(events)
    assert outcome.exit_code == ExitCode.CONFIG and outcome.stage == Stage.EHLO
    assert not any(c.startswith(b"EHLO") for c in server.first.commands)


async def test_scripted_server_reraises_script_failures() -> None:
    # The harness itself: an expect() that does not match must fail the test,
    # not vanish into a log line.
    async def script(conn: Conn) -> None:
        await conn.reply("220 hostile.test ESMTP")
        await conn.expect("HELO")  # the client says EHLO
        await conn.drain_rest()

    with pytest.raises(AssertionError, match="HELO"):
        async with ScriptedServer(script) as server:
            await run_ladder(settings_for(server.port), None, message=None)


@pytest.mark.parametrize("explicit", [True, False])
async def test_hostile_auth_mechanism_names_are_neutralised(explicit: bool) -> None:
    async def script(conn: Conn) -> None:
        await conn.reply("220 hostile.test ESMTP")
        await conn.expect("EHLO")
        await conn.send(b"250-hostile.test\r\n250 AUTH \x1b]0;pwned\x07\x1b[2J \x9b31m\r\n")
        await conn.drain_rest()

    async with ScriptedServer(script) as server:
        settings = settings_for(
            server.port,
            username="alice",
            allow_plaintext_auth=True,
            auth="plain" if explicit else "auto",
        )
        events = await run_ladder(settings, PASSWORD, message=None)
    outcome = outcome_of(events)
    assert outcome.stage == Stage.AUTH and outcome.exit_code == ExitCode.NOPERM
    assert outcome.diagnosis is not None and "\\x1b]0;pwned" in outcome.diagnosis.evidence.lower()
    assert_terminal_safe(events)
    assert b"AUTH" not in server.all_received()


@pytest.mark.parametrize(
    "password",
    ["pa\tss-Secret9", "pä\u202ess-Gehéim\x859", "Zw\u2028ei-Geheim\x00"],
)
async def test_password_with_controls_echoed_by_the_server_is_redacted(password: str) -> None:
    async def script(conn: Conn) -> None:
        await greet_and_ehlo(conn, "AUTH PLAIN")
        await conn.expect("AUTH PLAIN")
        # A broken server that echoes the password it was given, raw.
        await conn.send(b"535 5.7.8 bad password " + password.encode() + b" for alice\r\n")
        await conn.drain_rest()

    async with ScriptedServer(script) as server:
        settings = settings_for(server.port, username="alice", allow_plaintext_auth=True)
        events = await run_ladder(settings, password, message=None)
    outcome = outcome_of(events)
    assert outcome.stage == Stage.AUTH and outcome.exit_code == ExitCode.NOPERM
    _assert_password_absent(events, password)
    assert_terminal_safe(events)
    assert any(
        line.text.startswith("535 5.7.8 bad password ********") for line in transcript(events)
    )


def _assert_password_absent(events: list[Any], password: str) -> None:
    from tui_mailsetup.sanitize import untrusted_text

    raw = password.encode()
    forms = {
        password,
        untrusted_text(password),
        base64.b64encode(raw).decode(),
        base64.b64encode(b"\0alice\0" + raw).decode(),
    }
    dumped = repr(events) + render_human(events)
    for form in forms:
        assert form not in dumped, form


async def test_one_character_password_does_not_wreck_reply_codes() -> None:
    password = "2"

    async def script(conn: Conn) -> None:
        await greet_and_ehlo(conn, "AUTH PLAIN", "SIZE 1024")
        await conn.expect("AUTH PLAIN")
        await conn.reply("535 5.7.8 password 2 rejected")
        await conn.drain_rest()

    async with ScriptedServer(script) as server:
        settings = settings_for(server.port, username="alice", allow_plaintext_auth=True)
        events = await run_ladder(settings, password, message=None)
    texts = [line.text for line in transcript(events) if line.direction == Direction.RECEIVED]
    # Reply codes and the rest of the transcript intact ...
    assert "220 hostile.test ESMTP" in texts and "250 SIZE 1024" in texts
    # ... and the password still gone where a server would echo it.
    assert "535 5.7.8 password ******** rejected" in texts
    outcome = outcome_of(events)
    assert outcome.diagnosis is not None
    assert outcome.diagnosis.evidence == "535 5.7.8 password ******** rejected"
    assert base64.b64encode(b"\0alice\0" + password.encode()).decode() not in repr(events)


async def test_pin_mismatch_on_starttls_sends_nothing_inside_the_untrusted_tls(
    tmp_path: Path,
) -> None:
    ca = LocalCA(tmp_path)

    async def script(conn: Conn) -> None:
        await greet_and_ehlo(conn, "STARTTLS", "AUTH PLAIN")
        await conn.expect("STARTTLS")
        await conn.reply("220 Ready to start TLS")
        await conn.start_tls(ca.server_context())
        await conn.drain_rest()

    async with ScriptedServer(script) as server:
        settings = settings_for(
            server.port, encryption="starttls", username="alice", fingerprint="AB" * 32
        )
        events = await run_ladder(settings, PASSWORD, message=None)
    outcome = outcome_of(events)
    assert outcome.stage == Stage.STARTTLS and outcome.exit_code == ExitCode.PROTOCOL
    assert outcome.diagnosis is not None and "pinned" in outcome.diagnosis.cause
    # Not even a polite QUIT over the session that failed its trust decision.
    assert server.first.commands[-1] == b"STARTTLS"


@pytest.mark.parametrize("encryption", ["starttls", "tls"])
async def test_malformed_fingerprint_refused_before_connecting(encryption: str) -> None:
    async def script(conn: Conn) -> None:
        await conn.drain_rest()

    async with ScriptedServer(script) as server:
        settings = settings_for(server.port, encryption=encryption)
        # Refused by the settings when it enters (issue 8), and again by the engine.
        settings.smtp.__dict__["fingerprint"] = "AB:CD:not-hex"
        events = await run_ladder(settings, None, message=None)
    outcome = outcome_of(events)
    assert outcome.stage == Stage.CONFIG and outcome.exit_code == ExitCode.CONFIG
    assert outcome.diagnosis is not None and "smtp.fingerprint" in outcome.diagnosis.cause
    assert server.connections == []


async def test_black_holed_first_address_does_not_eat_the_deadline(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import socket

    from tests.support.smtp_servers import black_hole

    async def script(conn: Conn) -> None:
        await greet_and_ehlo(conn, "8BITMIME")
        await conn.drain_rest()

    with black_hole() as dead_port:
        async with ScriptedServer(script) as server:
            # The name resolves to a dead address first (broken IPv6 is the usual
            # case), then to a working one; simulated, both on 127.0.0.1.
            async def two_addresses(*args: object, **kwargs: object) -> list[Any]:
                stream = socket.SOCK_STREAM
                return [
                    (socket.AF_INET, stream, 6, "", ("127.0.0.1", dead_port)),
                    (socket.AF_INET, stream, 6, "", ("127.0.0.1", server.port)),
                ]

            monkeypatch.setattr(asyncio.get_running_loop(), "getaddrinfo", two_addresses)
            settings = settings_for(
                server.port, host="mail.example.test", timeout=5, ehlo_name="client.test"
            )
            events = await run_ladder(settings, None, message=None)
    outcome = outcome_of(events)
    assert outcome.ok and outcome.stage == Stage.EHLO, outcome.diagnosis
    [connected] = [e for e in events if isinstance(e, StageFinished) and e.stage == Stage.CONNECT]
    assert connected.ok and connected.detail == f"127.0.0.1 port {server.port}"
