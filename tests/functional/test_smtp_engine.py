"""The engine against real aiosmtpd servers (the sandbox) with trustme certificates."""

from __future__ import annotations

import base64
import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest

from tests.support.events import outcome_of, transcript
from tests.support.smtp_servers import run_ladder
from tui_mailsetup.engine.events import (
    Direction,
    Event,
    ServerCapabilities,
    Stage,
    StageFinished,
    StageStarted,
    TlsDetails,
)
from tui_mailsetup.exitcodes import ExitCode
from tui_mailsetup.message import build_test_message
from tui_mailsetup.sandbox import Sandbox
from tui_mailsetup.settings import MailSettings

PASSWORD = "pässwörd-€-secret"


def _settings(box: Sandbox, **smtp: Any) -> MailSettings:
    values = box.smtp_settings()
    values["timeout"] = 5
    values.update(smtp)
    return MailSettings(smtp=values, sender={"name": "Acme Lizenzen", "address": "me@example.test"})


def _assert_no_secret(events: list[Event], password: str, username: str = "") -> None:
    """No form of the password in the events, their JSON, or what send-test prints."""
    from tests.support.events import render_human
    from tui_mailsetup.sanitize import untrusted_text

    dumped = json.dumps([asdict(e) for e in events], default=str, ensure_ascii=False)
    dumped += repr(events) + render_human(events)
    raw = password.encode()
    user = username.encode()
    forms = {
        password,
        untrusted_text(password),
        base64.b64encode(raw).decode(),  # LOGIN's answer
        base64.b64encode(b"\0" + user + b"\0" + raw).decode(),  # PLAIN
        base64.b64encode(b"user=" + user + b"\x01auth=Bearer " + raw + b"\x01\x01").decode(),
    }
    for form in forms:
        assert form not in dumped, form


async def _send(
    box: Sandbox, settings: MailSettings, password: str | None, **kw: Any
) -> list[Event]:
    message = build_test_message(settings, ["you@example.test"])
    return await run_ladder(settings, password, message=message, **kw)


@pytest.mark.parametrize("mode", ["starttls", "tls", "plain"])
@pytest.mark.parametrize("mechanism", ["plain", "login", "cram-md5"])
async def test_send_with_each_mode_and_mechanism(mode: str, mechanism: str) -> None:
    async with Sandbox(mode=mode, password=PASSWORD) as box:  # type: ignore[arg-type]
        settings = _settings(box, auth=mechanism)
        events = await _send(box, settings, PASSWORD)
        outcome = outcome_of(events)
        assert outcome.ok, outcome.diagnosis
        assert outcome.stage == Stage.QUIT
        assert outcome.exit_code == ExitCode.OK
        [received] = box.messages
        assert received.authenticated_as == box.username
        assert received.rcpt_tos == ("you@example.test",)
        assert b"Subject: Test email from Acme Lizenzen" in received.data
        assert [a.mechanism for a in box.auth_attempts] == [mechanism.upper()]
        _assert_no_secret(events, PASSWORD, box.username)
        lines = transcript(events)
        auth_lines = [
            line.text for line in lines if "AUTH " in line.text and line.direction == Direction.SENT
        ]
        assert auth_lines and all(
            "redacted" in text and box.username in text for text in auth_lines
        )
        # Encryption flags: everything after the handshake is marked encrypted.
        if mode == "plain":
            assert not any(line.encrypted for line in lines)
        elif mode == "tls":
            assert all(line.encrypted for line in lines)
        else:
            ehlo_again = [line for line in lines if line.text.startswith("EHLO")]
            assert [line.encrypted for line in ehlo_again] == [False, True]
        stages = [e.stage for e in events if isinstance(e, StageStarted)]
        expected = {
            "starttls": [
                Stage.RESOLVE,
                Stage.CONNECT,
                Stage.GREETING,
                Stage.EHLO,
                Stage.STARTTLS,
                Stage.EHLO_AGAIN,
                Stage.AUTH,
                Stage.MAIL,
                Stage.RCPT,
                Stage.DATA,
                Stage.QUIT,
            ],
            "tls": [
                Stage.RESOLVE,
                Stage.CONNECT,
                Stage.TLS,
                Stage.GREETING,
                Stage.EHLO,
                Stage.AUTH,
                Stage.MAIL,
                Stage.RCPT,
                Stage.DATA,
                Stage.QUIT,
            ],
            "plain": [
                Stage.RESOLVE,
                Stage.CONNECT,
                Stage.GREETING,
                Stage.EHLO,
                Stage.AUTH,
                Stage.MAIL,
                Stage.RCPT,
                Stage.DATA,
                Stage.QUIT,
            ],
        }[mode]
        assert stages == expected


@pytest.mark.parametrize("mechanism", ["plain", "login", "cram-md5"])
async def test_password_with_tab_and_non_ascii(mechanism: str) -> None:
    password = "tab\there-ünd-€-Geheim"
    async with Sandbox(mode="starttls", password=password) as box:
        events = await _send(box, _settings(box, auth=mechanism), password)
        assert outcome_of(events).ok, outcome_of(events).diagnosis
        assert [a.success for a in box.auth_attempts] == [True]
        _assert_no_secret(events, password, box.username)
        # A wrong password with the same characters: refused, and still nowhere.
        wrong = "tab\there-ünd-€-Falsch"
        events = await _send(box, _settings(box, auth=mechanism), wrong)
        assert outcome_of(events).exit_code == ExitCode.NOPERM
        _assert_no_secret(events, wrong, box.username)


async def test_auto_prefers_cram_md5_and_reports_capabilities() -> None:
    async with Sandbox(mode="starttls", password=PASSWORD) as box:
        events = await _send(box, _settings(box), PASSWORD)
        assert outcome_of(events).ok
        assert [a.mechanism for a in box.auth_attempts] == ["CRAM-MD5"]
        caps = [e for e in events if isinstance(e, ServerCapabilities)]
        assert caps[0].starttls and not caps[0].encrypted and not caps[0].auth_mechanisms
        assert caps[1].encrypted and set(caps[1].auth_mechanisms) == {"PLAIN", "LOGIN", "CRAM-MD5"}
        assert caps[1].size_limit == 10 * 1024 * 1024
        [details] = [e for e in events if isinstance(e, TlsDetails)]
        assert details.verified and details.version.startswith("TLSv1.")
        assert details.fingerprint_sha256 == box.cert_fingerprint
        assert any(san == "DNS:localhost" for san in details.sans)


async def test_auto_falls_to_plain_then_login() -> None:
    async with Sandbox(mode="tls", password=PASSWORD, mechanisms=("LOGIN", "PLAIN")) as box:
        assert outcome_of(await _send(box, _settings(box), PASSWORD)).ok
        assert [a.mechanism for a in box.auth_attempts] == ["PLAIN"]
    async with Sandbox(mode="tls", password=PASSWORD, mechanisms=("LOGIN",)) as box:
        assert outcome_of(await _send(box, _settings(box), PASSWORD)).ok
        assert [a.mechanism for a in box.auth_attempts] == ["LOGIN"]


async def test_wrong_password_is_one_attempt_and_exit_77() -> None:
    async with Sandbox(mode="starttls", password=PASSWORD) as box:
        events = await _send(box, _settings(box), "wrong-Passwort")
        outcome = outcome_of(events)
        assert not outcome.ok and outcome.stage == Stage.AUTH
        assert outcome.exit_code == ExitCode.NOPERM
        assert len(box.auth_attempts) == 1 and not box.auth_attempts[0].success
        assert not box.messages
        _assert_no_secret(events, "wrong-Passwort", box.username)


async def test_explicit_mechanism_not_offered_sends_no_auth() -> None:
    async with Sandbox(mode="starttls", password=PASSWORD, mechanisms=("PLAIN",)) as box:
        events = await _send(box, _settings(box, auth="login"), PASSWORD)
        outcome = outcome_of(events)
        assert outcome.exit_code == ExitCode.NOPERM
        assert outcome.diagnosis is not None and outcome.diagnosis.fix is not None
        assert outcome.diagnosis.fix.changes == {"smtp.auth": "auto"}
        assert box.auth_attempts == []


async def test_plaintext_auth_refused_unless_allowed() -> None:
    async with Sandbox(mode="plain", password=PASSWORD) as box:
        events = await _send(box, _settings(box, allow_plaintext_auth=False), PASSWORD)
        outcome = outcome_of(events)
        # A configuration decision (allow_plaintext_auth), not a protocol failure.
        assert outcome.exit_code == ExitCode.CONFIG and outcome.stage == Stage.AUTH
        assert outcome.diagnosis is not None and "unencrypted" in outcome.diagnosis.cause
        assert box.auth_attempts == [] and not box.messages


async def test_check_ladder_stops_after_auth_and_sends_nothing() -> None:
    async with Sandbox(mode="starttls", password=PASSWORD) as box:
        events = await run_ladder(_settings(box), PASSWORD, message=None)
        outcome = outcome_of(events)
        assert outcome.ok and outcome.stage == Stage.AUTH
        assert not box.messages
        texts = [line.text for line in transcript(events)]
        assert not any(t.startswith("MAIL FROM") for t in texts)
        assert "QUIT" in texts


@pytest.mark.parametrize(
    ("stop_after", "last"),
    [
        (Stage.RESOLVE, Stage.RESOLVE),
        (Stage.CONNECT, Stage.CONNECT),
        (Stage.GREETING, Stage.GREETING),
        (Stage.EHLO, Stage.EHLO),
        (Stage.STARTTLS, Stage.STARTTLS),
        # "tls" on a STARTTLS configuration means "once encryption is up".
        (Stage.TLS, Stage.STARTTLS),
    ],
)
async def test_quit_after_each_stage(stop_after: Stage, last: Stage) -> None:
    async with Sandbox(mode="starttls", password=PASSWORD) as box:
        events = await _send(box, _settings(box), PASSWORD, stop_after=stop_after)
        outcome = outcome_of(events)
        assert outcome.ok and outcome.stage == last
        finished = [
            e.stage for e in events if isinstance(e, StageFinished) and e.stage != Stage.QUIT
        ]
        assert finished[-1] == last
        assert box.auth_attempts == [] and not box.messages


@pytest.mark.parametrize(
    ("mode", "stop_after", "last"),
    [
        ("tls", Stage.STARTTLS, Stage.TLS),
        ("tls", Stage.TLS, Stage.TLS),
        ("plain", Stage.TLS, Stage.EHLO),
    ],
)
async def test_quit_after_encryption_follows_the_encryption(
    mode: str, stop_after: Stage, last: Stage
) -> None:
    async with Sandbox(mode=mode, password=PASSWORD) as box:  # type: ignore[arg-type]
        events = await _send(box, _settings(box), PASSWORD, stop_after=stop_after)
        outcome = outcome_of(events)
        assert outcome.ok and outcome.stage == last, outcome


async def test_self_signed_offers_pin_and_pinning_works() -> None:
    async with Sandbox(mode="starttls", password=PASSWORD, cert="self-signed") as box:
        events = await _send(box, _settings(box), PASSWORD)
        outcome = outcome_of(events)
        assert outcome.exit_code == ExitCode.PROTOCOL and outcome.stage == Stage.STARTTLS
        assert outcome.diagnosis is not None
        assert "self-signed" in outcome.diagnosis.cause
        assert outcome.diagnosis.fix is not None
        assert outcome.diagnosis.fix.changes == {"smtp.fingerprint": box.cert_fingerprint}
        assert box.auth_attempts == []
        # Pin it: lower case, no colons.
        pin = box.cert_fingerprint.replace(":", "").lower()
        events = await _send(box, _settings(box, ca_file="", fingerprint=pin), PASSWORD)
        outcome = outcome_of(events)
        assert outcome.ok, outcome.diagnosis
        [details] = [e for e in events if isinstance(e, TlsDetails)]
        assert details.verified and "pinned" in details.verify_message


async def test_pin_mismatch_is_refused_before_auth() -> None:
    async with Sandbox(mode="tls", password=PASSWORD) as box:
        events = await _send(box, _settings(box, fingerprint="AB" * 32), PASSWORD)
        outcome = outcome_of(events)
        assert outcome.exit_code == ExitCode.PROTOCOL and outcome.stage == Stage.TLS
        assert outcome.diagnosis is not None and "pinned" in outcome.diagnosis.cause
        assert box.auth_attempts == []


async def test_unknown_issuer_expired_and_wrong_name() -> None:
    async with Sandbox(mode="tls", password=PASSWORD) as box:
        outcome = outcome_of(await _send(box, _settings(box, ca_file=""), PASSWORD))
        assert outcome.diagnosis is not None and "unknown authority" in outcome.diagnosis.cause
        # A chain from an authority this machine does not know: trust the authority (the CA
        # file), not this one certificate (a pin breaks at the next renewal).
        assert outcome.diagnosis.fix is not None
        assert list(outcome.diagnosis.fix.changes) == ["smtp.ca_file"]
    async with Sandbox(mode="starttls", password=PASSWORD, cert="expired") as box:
        outcome = outcome_of(await _send(box, _settings(box), PASSWORD))
        assert outcome.diagnosis is not None and "expired" in outcome.diagnosis.cause
        assert outcome.exit_code == ExitCode.PROTOCOL
    async with Sandbox(mode="tls", password=PASSWORD, cert="wrong-name") as box:
        outcome = outcome_of(await _send(box, _settings(box), PASSWORD))
        assert (
            outcome.diagnosis is not None and "not valid for 127.0.0.1" in outcome.diagnosis.cause
        )
        # 127.0.0.1 has no domain the certificate's name could be shown to belong to: the
        # name is shown, never offered as the fix.
        assert outcome.diagnosis.fix is None
        assert "mail.elsewhere.invalid" in outcome.diagnosis.evidence
        assert box.auth_attempts == []


async def test_verify_false_is_reported_not_hidden() -> None:
    async with Sandbox(mode="tls", password=PASSWORD, cert="self-signed") as box:
        events = await _send(box, _settings(box, ca_file="", verify=False), PASSWORD)
        assert outcome_of(events).ok
        [details] = [e for e in events if isinstance(e, TlsDetails)]
        assert not details.verified and "verify = false" in details.verify_message


def _ipv6_loopback_usable() -> bool:
    import socket

    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as sock:
            sock.bind(("::1", 0))
    except OSError:
        return False
    return True


@pytest.mark.skipif(not _ipv6_loopback_usable(), reason="no IPv6 loopback (::1) here")
@pytest.mark.parametrize("host", ["::1", "[::1]"])
async def test_ipv6_literals(host: str) -> None:
    async with Sandbox(mode="starttls", password=PASSWORD, host="::1") as box:
        events = await _send(box, _settings(box, host=host), PASSWORD)
        assert outcome_of(events).ok, outcome_of(events).diagnosis


async def test_smtputf8_only_when_needed() -> None:
    async with Sandbox(mode="starttls", password=PASSWORD) as box:
        settings = _settings(box)
        message = build_test_message(settings, ["jürgen@example.test"])
        events = await run_ladder(
            settings, PASSWORD, message=message, recipients=["jürgen@example.test"]
        )
        assert outcome_of(events).ok
        assert box.messages[-1].rcpt_tos == ("jürgen@example.test",)
        assert "SMTPUTF8" in box.messages[-1].mail_options
        message = build_test_message(settings, ["you@example.test"])
        assert outcome_of(await run_ladder(settings, PASSWORD, message=message)).ok
        assert "SMTPUTF8" not in box.messages[-1].mail_options


async def test_connection_refused_is_69() -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings = MailSettings(smtp={"host": "127.0.0.1", "port": port, "timeout": 3})
    outcome = outcome_of(await run_ladder(settings, None, message=None))
    assert outcome.stage == Stage.CONNECT and outcome.exit_code == ExitCode.UNAVAILABLE
    assert outcome.diagnosis is not None and "refused" in outcome.diagnosis.cause


async def test_unresolvable_name_is_69(monkeypatch: pytest.MonkeyPatch) -> None:
    import asyncio
    import socket

    # No DNS query leaves the machine: the resolver's answer is simulated.
    async def no_such_name(*args: object, **kwargs: object) -> list[object]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(asyncio.get_running_loop(), "getaddrinfo", no_such_name)
    # ehlo_name set: no reverse lookup (getfqdn) starts either.
    settings = MailSettings(
        smtp={
            "host": "no-such-host.invalid",
            "port": 587,
            "timeout": 3,
            "ehlo_name": "client.example.test",
        }
    )
    outcome = outcome_of(await run_ladder(settings, None, message=None))
    assert outcome.stage == Stage.RESOLVE and outcome.exit_code == ExitCode.UNAVAILABLE
    assert outcome.diagnosis is not None and "does not resolve" in outcome.diagnosis.cause


async def test_dns_timeout_says_dns(monkeypatch: pytest.MonkeyPatch) -> None:
    import asyncio

    # The resolver never answers (simulated: no query leaves the machine).
    async def silent(*args: object, **kwargs: object) -> list[object]:
        await asyncio.Event().wait()
        return []

    monkeypatch.setattr(asyncio.get_running_loop(), "getaddrinfo", silent)
    settings = MailSettings(
        smtp={"host": "slow-dns.invalid", "port": 587, "timeout": 0.3, "ehlo_name": "test.invalid"}
    )
    outcome = outcome_of(await run_ladder(settings, None, message=None))
    assert outcome.stage == Stage.RESOLVE and outcome.exit_code == ExitCode.TEMPFAIL
    assert outcome.diagnosis is not None and "DNS" in outcome.diagnosis.cause
    assert "stopped answering" not in outcome.diagnosis.cause


async def test_unreadable_ca_file_is_a_configuration_error(tmp_path: Path) -> None:
    bogus = tmp_path / "not-a-ca.pem"
    bogus.write_text("not a certificate\n")
    async with Sandbox(mode="tls", auth=False) as box:
        for ca_file in (str(bogus), str(tmp_path / "missing.pem")):
            outcome = outcome_of(await _send(box, _settings(box, ca_file=ca_file), None))
            assert outcome.exit_code == ExitCode.CONFIG and outcome.stage == Stage.TLS
            assert outcome.diagnosis is not None and "ca_file" in outcome.diagnosis.cause


async def test_530_must_starttls_offers_the_fix() -> None:
    async with Sandbox(mode="starttls", auth=False) as box:
        settings = _settings(box, encryption="none")
        outcome = outcome_of(await _send(box, settings, None))
        assert outcome.stage == Stage.MAIL and outcome.exit_code == ExitCode.PROTOCOL
        assert outcome.diagnosis is not None and outcome.diagnosis.fix is not None
        assert outcome.diagnosis.fix.changes == {"smtp.encryption": "starttls"}
        assert not box.messages


async def test_552_message_too_large() -> None:
    async with Sandbox(mode="tls", auth=False, data_size_limit=200) as box:
        outcome = outcome_of(await _send(box, _settings(box), None))
        assert outcome.exit_code == ExitCode.DATAERR
        assert outcome.diagnosis is not None and "too large" in outcome.diagnosis.cause


async def test_missing_password_is_a_configuration_error() -> None:
    async with Sandbox(mode="starttls") as box:
        outcome = outcome_of(await _send(box, _settings(box), None))
        assert outcome.stage == Stage.AUTH and outcome.exit_code == ExitCode.CONFIG
        assert box.auth_attempts == []


def test_slow_reverse_lookup_does_not_hold_the_process(monkeypatch: pytest.MonkeyPatch) -> None:
    # asyncio.run() waits for its default executor on the way out: a getfqdn()
    # stuck in asyncio.to_thread kept the process alive after the Outcome.
    import asyncio
    import socket
    import threading

    from tests.support.smtp_servers import Conn, ScriptedServer, settings_for

    release = threading.Event()
    finished = threading.Event()

    def stuck_getfqdn(name: str = "") -> str:
        release.wait(3)
        finished.set()
        return "late.example"

    monkeypatch.setattr(socket, "getfqdn", stuck_getfqdn)

    async def script(conn: Conn) -> None:
        await conn.reply("220 fqdn.test ESMTP")
        line = await conn.expect("EHLO")
        assert line.startswith(b"EHLO [127.0.0.1]")  # the fallback: this end's address
        await conn.reply("250 fqdn.test")
        await conn.expect("QUIT")
        await conn.reply("221 bye")

    async def main() -> Any:
        async with ScriptedServer(script) as server:
            return outcome_of(await run_ladder(settings_for(server.port), None, message=None))

    try:
        outcome = asyncio.run(main())
        assert outcome.ok, outcome.diagnosis
        assert not finished.is_set()  # asyncio.run() returned while the lookup was still stuck
    finally:
        release.set()
