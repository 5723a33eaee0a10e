"""Outcomes that match what happened, and redaction that keeps replies readable (issue 8).

Each case is a scripted server on 127.0.0.1 that misbehaves in one way.
"""

from __future__ import annotations

import base64
import json
import ssl
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
    limit_to_tls10,
    run_ladder,
    settings_for,
)
from tui_mailsetup.engine.events import Direction, Outcome, Stage, event_to_json
from tui_mailsetup.exitcodes import ExitCode
from tui_mailsetup.message import build_test_message

# --------------------------------------------------------------------------- accepted, then QUIT


async def test_250_after_data_then_silent_quit_is_accepted_with_a_warning() -> None:
    async def script(conn: Conn) -> None:
        await greet_and_ehlo(conn, "8BITMIME")
        await conn.expect("MAIL FROM")
        await conn.reply("250 ok")
        await conn.expect("RCPT TO")
        await conn.reply("250 ok")
        await conn.expect("DATA")
        await conn.reply("354 go ahead")
        await conn.data_body()
        await conn.reply("250 2.0.0 queued as ABC123")
        await conn.expect("QUIT")
        # ... and never a word: the server keeps the connection open.
        await conn.drain_rest(30)

    async with ScriptedServer(script) as server:
        settings = settings_for(server.port, timeout=20)
        message = build_test_message(settings, ["you@example.com"])
        started = time.monotonic()
        events = await run_ladder(settings, message=message, recipients=["you@example.com"])
        took = time.monotonic() - started
    outcome = outcome_of(events)
    assert outcome.ok and outcome.exit_code == ExitCode.OK and outcome.stage == Stage.QUIT
    assert outcome.message_id  # the message is the server's
    assert outcome.warnings and "QUIT went unanswered" in outcome.warnings[0]
    assert "do not send it again" in outcome.warnings[0]
    # Not the whole 20 s timeout: a short grace for QUIT.
    assert took < 10
    assert "QUIT went unanswered" in render_human(events)
    assert event_to_json(outcome)["warnings"] == list(outcome.warnings)


async def test_250_after_data_then_dropped_connection_is_accepted() -> None:
    async def script(conn: Conn) -> None:
        await greet_and_ehlo(conn, "8BITMIME")
        for command, reply in (("MAIL", "250 ok"), ("RCPT", "250 ok"), ("DATA", "354 go")):
            await conn.expect(command)
            await conn.reply(reply)
        await conn.data_body()
        await conn.reply("250 2.0.0 queued")
        await conn.expect("QUIT")
        conn.writer.close()

    async with ScriptedServer(script) as server:
        settings = settings_for(server.port, timeout=5)
        message = build_test_message(settings, ["you@example.com"])
        events = await run_ladder(settings, message=message, recipients=["you@example.com"])
    outcome = outcome_of(events)
    assert outcome.ok and outcome.exit_code == ExitCode.OK
    assert outcome.warnings


# --------------------------------------------------------------------------- TLS failures


async def _read_client_hello_and_drop(conn: Conn) -> None:
    """What a TLS 1.0-only server does with a TLS 1.2+ ClientHello: read it, hang up."""
    await conn.reader.read(4096)
    conn.writer.transport.abort()  # a reset, as such servers do


@pytest.mark.parametrize("encryption", ["starttls", "tls"])
async def test_server_dropping_the_tls_handshake_is_a_protocol_error(encryption: str) -> None:
    async def script(conn: Conn) -> None:
        if encryption == "starttls":
            await greet_and_ehlo(conn, "STARTTLS")
            await conn.expect("STARTTLS")
            await conn.reply("220 go ahead")
        await _read_client_hello_and_drop(conn)

    async with ScriptedServer(script) as server:
        settings = settings_for(server.port, encryption=encryption, timeout=5)
        events = await run_ladder(settings, message=None)
    outcome = outcome_of(events)
    expected = Stage.STARTTLS if encryption == "starttls" else Stage.TLS
    assert outcome.stage == expected, outcome.diagnosis
    assert outcome.exit_code == ExitCode.PROTOCOL
    assert outcome.diagnosis is not None and "TLS handshake failed" in outcome.diagnosis.cause


async def test_real_tls10_only_server_is_a_protocol_error(tmp_path: Path) -> None:
    ca = LocalCA(tmp_path)
    context = ca.server_context()
    limit_to_tls10(context)

    async def script(conn: Conn) -> None:
        await greet_and_ehlo(conn, "STARTTLS")
        await conn.expect("STARTTLS")
        await conn.reply("220 go ahead")
        await conn.start_tls(context)  # fails: the client wants TLS 1.2 or later

    async with ScriptedServer(script) as server:
        settings = settings_for(
            server.port, encryption="starttls", ca_file=str(ca.ca_path), timeout=5
        )
        events = await run_ladder(settings, message=None)
    outcome = outcome_of(events)
    assert outcome.stage == Stage.STARTTLS and outcome.exit_code == ExitCode.PROTOCOL


# --------------------------------------------------------------------------- protocol errors


async def test_250_greeting_is_a_protocol_error() -> None:
    async def script(conn: Conn) -> None:
        await conn.reply("250 hostile.test is not greeting properly")
        await conn.drain_rest()

    async with ScriptedServer(script) as server:
        events = await run_ladder(settings_for(server.port), message=None)
    outcome = outcome_of(events)
    assert outcome.stage == Stage.GREETING and outcome.exit_code == ExitCode.PROTOCOL
    assert outcome.diagnosis is not None
    assert "greeting is 250, not 220" in outcome.diagnosis.cause


async def test_unsolicited_reply_with_the_greeting_is_out_of_step() -> None:
    async def script(conn: Conn) -> None:
        # The extra reply rides with the greeting; the real EHLO answer offers STARTTLS.
        await conn.send(b"220 hostile.test ESMTP\r\n250 surprise\r\n")
        line = await conn.readline()
        if line.upper().startswith(b"EHLO"):
            await conn.reply("250-hostile.test", "250 STARTTLS")
        await conn.drain_rest()

    async with ScriptedServer(script) as server:
        settings = settings_for(server.port, encryption="starttls")
        events = await run_ladder(settings, message=None)
    outcome = outcome_of(events)
    assert outcome.exit_code == ExitCode.PROTOCOL
    assert outcome.diagnosis is not None
    assert "out of step" in outcome.diagnosis.cause
    assert "STARTTLS" not in outcome.diagnosis.cause
    assert "250 surprise" in outcome.diagnosis.evidence
    # Nothing was sent on a session whose replies cannot be paired with commands.
    assert server.first.commands == []


@pytest.mark.parametrize("mechanism", ["plain", "login"])
async def test_endless_334_is_cancelled_with_a_star_before_quit(mechanism: str) -> None:
    async def script(conn: Conn) -> None:
        await greet_and_ehlo(conn, "AUTH PLAIN LOGIN")
        await conn.expect("AUTH")
        for _ in range(10):
            await conn.reply("334 " + base64.b64encode(b"More?").decode())
            line = await conn.readline()
            if line.strip() == b"*":
                await conn.reply("501 5.0.0 AUTH aborted")
                break
        await conn.drain_rest()

    async with ScriptedServer(script) as server:
        settings = settings_for(
            server.port, username="alice", auth=mechanism, allow_plaintext_auth=True
        )
        events = await run_ladder(settings, "hunter2-Geheimnis", message=None)
    outcome = outcome_of(events)
    assert outcome.stage == Stage.AUTH and outcome.exit_code == ExitCode.PROTOCOL
    assert outcome.diagnosis is not None and "cancelled with *" in outcome.diagnosis.cause
    commands = server.first.commands
    star = commands.index(b"*")
    # The cancel comes before QUIT, and QUIT never in the middle of the exchange.
    assert commands[star + 1 :] == [b"QUIT"]
    sent = [line.text for line in transcript(events) if line.direction == Direction.SENT]
    assert "*" in sent


# --------------------------------------------------------------------------- redaction


def _all_text(events: list[Any]) -> str:
    return (
        repr(events)
        + render_human(events)
        + json.dumps([event_to_json(e) for e in events], ensure_ascii=False)
    )


@pytest.mark.parametrize("password", ["pässwört-Geheim", "Grüße€x"])
async def test_password_echoed_in_latin1_is_redacted(password: str) -> None:
    encoding = (
        "latin-1"
        if password.encode("latin-1", "ignore").decode("latin-1") == password
        else "cp1252"
    )
    echoed = password.encode(encoding)

    async def script(conn: Conn) -> None:
        await greet_and_ehlo(conn, "AUTH PLAIN")
        await conn.expect("AUTH PLAIN")
        await conn.send(b"535 5.7.8 bad password " + echoed + b" for alice\r\n")
        await conn.drain_rest()

    async with ScriptedServer(script) as server:
        settings = settings_for(server.port, username="alice", allow_plaintext_auth=True)
        events = await run_ladder(settings, password, message=None)
    outcome = outcome_of(events)
    assert outcome.exit_code == ExitCode.NOPERM
    text = _all_text(events)
    # Neither the password nor any rendering of its Latin-1 bytes is left.
    for form in (
        password,
        echoed.decode("utf-8", "replace"),
        echoed.decode("utf-8", "surrogateescape"),
        echoed.decode(encoding),
    ):
        assert form not in text, form
    assert "\\udc" not in outcome.diagnosis.evidence if outcome.diagnosis else True
    assert any(
        line.text == "535 5.7.8 bad password ******** for alice" for line in transcript(events)
    )
    assert_terminal_safe(events)


@pytest.mark.parametrize("password", ["5", "25", "535", "*", "**", "7.8"])
async def test_short_passwords_inside_the_auth_exchange(password: str) -> None:
    async def script(conn: Conn) -> None:
        await greet_and_ehlo(conn, "AUTH LOGIN", "SIZE 1024")
        await conn.expect("AUTH LOGIN")
        await conn.reply("334 UGFzc3dvcmQ6")
        await conn.readline()
        await conn.reply(f"535 5.7.8 password {password} is wrong")
        await conn.drain_rest()

    async with ScriptedServer(script) as server:
        settings = settings_for(
            server.port, username="alice", auth="login", allow_plaintext_auth=True
        )
        events = await run_ladder(settings, password, message=None)
    outcome = outcome_of(events)
    assert outcome.stage == Stage.AUTH and outcome.exit_code == ExitCode.NOPERM
    received = [line.text for line in transcript(events) if line.direction == Direction.RECEIVED]
    # Reply codes intact, before and inside AUTH ...
    assert "220 hostile.test ESMTP" in received and "250 SIZE 1024" in received
    assert "535 5.7.8 password ******** is wrong" in received
    assert outcome.diagnosis is not None
    assert outcome.diagnosis.evidence == "535 5.7.8 password ******** is wrong"
    # ... and the LOGIN answer (the password's base64) nowhere.
    assert base64.b64encode(password.encode()).decode() not in _all_text(events)
    # The failed AUTH stage's detail went through the same AUTH-stage redaction.
    details = [
        e.detail for e in events if getattr(e, "stage", None) == Stage.AUTH and hasattr(e, "detail")
    ]
    assert all(f" {password} " not in d for d in details)


@pytest.mark.parametrize("password", ["250", "2.0.0", "QUIT", "EHLO", "PLAIN"])
async def test_password_equal_to_a_protocol_word(password: str) -> None:
    async def script(conn: Conn) -> None:
        await greet_and_ehlo(conn, "AUTH PLAIN")
        await conn.expect("AUTH PLAIN")
        await conn.reply(f"535 5.7.8 credentials alice/{password} rejected")
        await conn.drain_rest()

    async with ScriptedServer(script) as server:
        settings = settings_for(server.port, username="alice", allow_plaintext_auth=True)
        events = await run_ladder(settings, password, message=None)
    outcome = outcome_of(events)
    assert outcome.exit_code == ExitCode.NOPERM
    lines = transcript(events)
    received = [line.text for line in lines if line.direction == Direction.RECEIVED]
    sent = [line.text for line in lines if line.direction == Direction.SENT]
    # The codes (and our own verbs) are intact ...
    assert received[0] == "220 hostile.test ESMTP"
    assert "535 5.7.8 credentials alice/******** rejected" in received
    assert sent[-1] == "QUIT" and sent[0].startswith("EHLO ")
    # ... and the echo is gone from the verdict too.
    assert outcome.diagnosis is not None
    assert outcome.diagnosis.evidence == "535 5.7.8 credentials alice/******** rejected"
    assert isinstance(events[-1], Outcome)


# --------------------------------------------------------------------------- the TLS context


def test_tls_context_is_kept_until_the_ca_file_changes(tmp_path: Path) -> None:
    from tui_mailsetup.engine import tls

    (tmp_path / "one").mkdir()
    (tmp_path / "two").mkdir()
    first_ca = LocalCA(tmp_path / "one")
    settings = settings_for(25, encryption="starttls", ca_file=str(first_ca.ca_path)).smtp
    context = tls.build_context(settings)
    assert tls.build_context(settings) is context  # the trust store is loaded once
    unverified = settings.model_copy(update={"verify": False})
    assert tls.build_context(unverified) is not context
    assert tls.build_context(unverified).verify_mode == ssl.CERT_NONE
    # Another CA written over the same path: a new context that trusts it.
    second_ca = LocalCA(tmp_path / "two")
    first_ca.ca_path.write_bytes(second_ca.ca_path.read_bytes() + b"\n")
    renewed = tls.build_context(settings)
    assert renewed is not context and renewed.verify_mode == ssl.CERT_REQUIRED
