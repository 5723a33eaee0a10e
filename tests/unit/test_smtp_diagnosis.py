"""Failure → diagnosis mapping, names, fingerprints and redaction: the pure parts of the engine."""

from __future__ import annotations

import base64
import errno
import ssl

import pytest

from tui_mailsetup.engine import diagnosis as diag
from tui_mailsetup.engine.events import Stage
from tui_mailsetup.engine.smtp import Redactor
from tui_mailsetup.exitcodes import ExitCode
from tui_mailsetup.names import FingerprintFormatError, normalize_fingerprint, validate_ehlo_name
from tui_mailsetup.names import parse_host as normalize_host
from tui_mailsetup.settings import MailSettings

SETTINGS = MailSettings(
    smtp={"host": "smtp.example.com", "username": "alice@example.com"},
    sender={"address": "noreply@other.example"},
)


@pytest.mark.parametrize(
    ("stage", "code", "message", "exit_code", "cause"),
    [
        (
            Stage.AUTH,
            535,
            "5.7.8 Username and Password not accepted.\nhttps://support.google.com/mail/?p=BadCredentials",
            ExitCode.NOPERM,
            "app password",
        ),
        (
            Stage.AUTH,
            534,
            "5.7.9 Application-specific password required",
            ExitCode.NOPERM,
            "app password",
        ),
        (
            Stage.AUTH,
            535,
            "5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled",
            ExitCode.NOPERM,
            "SMTP AUTH disabled",
        ),
        (
            Stage.AUTH,
            535,
            "5.7.3 Authentication unsuccessful",
            ExitCode.NOPERM,
            "rejected the username or password",
        ),
        (
            Stage.MAIL,
            550,
            "5.7.30 Basic authentication is not supported for Client Submission",
            ExitCode.NOPERM,
            "basic authentication",
        ),
        (
            Stage.MAIL,
            530,
            "5.7.0 Must issue a STARTTLS command first",
            ExitCode.PROTOCOL,
            "requires STARTTLS",
        ),
        (
            Stage.MAIL,
            530,
            "5.7.0 Authentication required",
            ExitCode.NOPERM,
            "requires authentication",
        ),
        (
            Stage.MAIL,
            550,
            "5.7.1 Sender address rejected: not owned by user",
            ExitCode.NOPERM,
            "send as",
        ),
        (
            Stage.RCPT,
            554,
            "5.7.1 <x@y.example>: Relay access denied",
            ExitCode.NOPERM,
            "Relaying denied",
        ),
        (Stage.DATA, 552, "5.3.4 Message size exceeds fixed limit", ExitCode.DATAERR, "too large"),
        (Stage.RCPT, 550, "5.1.1 User unknown", ExitCode.NOUSER, "recipient was refused"),
        (
            Stage.GREETING,
            554,
            "5.7.1 Service unavailable; client host blocked",
            ExitCode.UNAVAILABLE,
            "refused",
        ),
        (Stage.STARTTLS, 454, "4.7.0 TLS not available", ExitCode.PROTOCOL, "454"),
        (Stage.MAIL, 451, "4.7.1 Please try again later", ExitCode.TEMPFAIL, "try again"),
        (Stage.RCPT, 450, "4.2.0 Greylisted", ExitCode.TEMPFAIL, "Temporary"),
        (Stage.RCPT, 452, "4.5.3 Too many recipients", ExitCode.TEMPFAIL, "throttling"),
        (Stage.MAIL, 421, "4.7.0 rate limit exceeded", ExitCode.TEMPFAIL, "Rate limited"),
        (
            Stage.STARTTLS,
            454,
            "4.7.0 TLS not available due to temporary reason, try again later",
            ExitCode.PROTOCOL,
            "refused to start TLS",
        ),
        (Stage.AUTH, 454, "4.7.0 Temporary authentication failure", ExitCode.TEMPFAIL, "Temporary"),
        (
            Stage.DATA,
            554,
            "5.7.1 Message rejected as spam",
            ExitCode.DATAERR,
            "rejected the message content",
        ),
    ],
)
def test_reply_diagnoses(
    stage: Stage, code: int, message: str, exit_code: ExitCode, cause: str
) -> None:
    result = diag.from_reply(stage, code, message, SETTINGS, mechanism="PLAIN")
    assert result.exit_code == exit_code
    assert cause in result.cause
    assert result.stage == stage
    assert str(code) in result.evidence
    if code in diag.RATE_LIMIT_CODES:
        assert result.retry_after is not None


@pytest.mark.parametrize(
    ("stage", "code", "message", "exit_code", "limited"),
    [
        # "rate" inside "generate" is not a rate limit.
        (Stage.MAIL, 454, "4.3.0 could not generate a session id", ExitCode.TEMPFAIL, False),
        # A 4xx that is not a rate limit gets no back-off remembered.
        (Stage.MAIL, 454, "4.3.5 server configuration problem", ExitCode.TEMPFAIL, False),
        (Stage.RCPT, 471, "4.7.1 mail server temporarily unavailable", ExitCode.TEMPFAIL, False),
        # STARTTLS refused is a protocol failure, whatever its text says.
        (Stage.STARTTLS, 454, "4.7.0 TLS unavailable, try again later", ExitCode.PROTOCOL, False),
        # A 4xx that does say it is a limit is one.
        (Stage.MAIL, 454, "4.7.0 Too many connections from your IP", ExitCode.TEMPFAIL, True),
        (Stage.AUTH, 454, "4.7.0 Too many login attempts", ExitCode.TEMPFAIL, True),
    ],
)
def test_rate_limit_heuristics(
    stage: Stage, code: int, message: str, exit_code: ExitCode, limited: bool
) -> None:
    result = diag.from_reply(stage, code, message, SETTINGS, now=1_000_000.0)
    assert result.exit_code == exit_code
    assert (result.retry_after is not None) == limited, result
    assert ("Rate limited" in result.cause) == limited, result.cause


def test_4xx_with_an_explicit_time_remembers_it() -> None:
    result = diag.from_reply(
        Stage.MAIL, 454, "4.3.0 busy, retry in 90 seconds", SETTINGS, now=1_000_000.0
    )
    assert result.retry_after == 1_000_090.0


def test_retry_after_ignores_numbers_inside_tokens() -> None:
    now = 1_000_000.0
    assert (
        diag.retry_after_from("4.7.0 queued as id 9f3e2a4h-77", now=now)
        == now + diag.DEFAULT_BACKOFF
    )
    assert diag.retry_after_from("4.7.0 ref 12m-44 busy", now=now) == now + diag.DEFAULT_BACKOFF
    assert diag.retry_after_from("4.7.0 wait 2h then retry", now=now) == now + 7200
    assert diag.retry_after_from("4.7.0 back off (90s)", now=now) == now + 90


def test_sender_not_permitted_offers_the_account_address() -> None:
    result = diag.from_reply(Stage.MAIL, 550, "5.7.1 Sender not permitted", SETTINGS)
    assert result.fix is not None and result.fix.changes == {"sender.address": "alice@example.com"}


def test_530_starttls_fix() -> None:
    result = diag.from_reply(Stage.MAIL, 530, "5.7.0 Must issue a STARTTLS command first", SETTINGS)
    assert result.fix is not None and result.fix.changes == {"smtp.encryption": "starttls"}


def test_retry_after_parsing() -> None:
    now = 1_000_000.0
    assert diag.retry_after_from("try again in 90 seconds", now=now) == now + 90
    assert diag.retry_after_from("Rate limit: retry after 5 minutes", now=now) == now + 300
    assert diag.retry_after_from("blocked for 2 hours", now=now) == now + 7200
    assert diag.retry_after_from("busy", now=now) == now + diag.DEFAULT_BACKOFF
    import datetime as dt

    moment = dt.datetime.fromtimestamp(now + 1234, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert diag.retry_after_from(f"retry at {moment}", now=now) == now + 1234


@pytest.mark.parametrize(
    ("error", "exit_code", "cause"),
    [
        (
            ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused"),
            ExitCode.UNAVAILABLE,
            "refused",
        ),
        (
            PermissionError(errno.EACCES, "Permission denied"),
            ExitCode.UNAVAILABLE,
            "Permission denied",
        ),
        (OSError(errno.ENETUNREACH, "Network is unreachable"), ExitCode.UNAVAILABLE, "unreachable"),
        (TimeoutError(errno.ETIMEDOUT, "timed out"), ExitCode.TEMPFAIL, "timed out"),
    ],
)
def test_connect_failures(error: OSError, exit_code: ExitCode, cause: str) -> None:
    result = diag.connect_failed("smtp.example.com", 587, error)
    assert result.exit_code == exit_code and cause in result.cause and result.stage == Stage.CONNECT


def test_selinux_hint_and_port_25_hint() -> None:
    result = diag.connect_failed(
        "smtp.example.com", 587, PermissionError(errno.EACCES, "Permission denied")
    )
    assert "httpd_can_sendmail" in result.explanation
    timeout = diag.connect_timeout("smtp.example.com", 25)
    assert timeout.fix is not None and timeout.fix.changes == {
        "smtp.port": 587,
        "smtp.encryption": "starttls",
    }
    assert "2525" in timeout.explanation
    assert diag.connect_timeout("smtp.example.com", 587).fix is None


def test_certificate_diagnoses() -> None:
    error = ssl.SSLCertVerificationError(1, "certificate verify failed")
    error.verify_code = 20
    error.verify_message = "unable to get local issuer certificate"
    result = diag.certificate_rejected(Stage.TLS, error, None, "smtp.example.com")
    assert "unknown authority" in result.cause and result.exit_code == ExitCode.PROTOCOL
    assert "ca_file" in result.explanation
    error.verify_code = 10
    error.verify_message = "certificate has expired"
    assert "expired" in diag.certificate_rejected(Stage.TLS, error, None, "h").cause


def test_pin_fix_is_the_certificate_seen_now_and_compared() -> None:
    from tui_mailsetup.engine.events import TlsDetails

    error = ssl.SSLCertVerificationError(1, "certificate verify failed")
    error.verify_code = 18
    error.verify_message = "self-signed certificate"

    def seen(subject: str, issuer: str) -> TlsDetails:
        return TlsDetails("TLSv1.3", "X", subject, issuer, (), "", "", "AB:CD", False)

    same = diag.certificate_rejected(Stage.TLS, error, seen("CN=x", "CN=x"), "h")
    assert same.fix is not None and same.fix.changes == {"smtp.fingerprint": "AB:CD"}
    assert "now" in same.fix.label and "second connection" in same.explanation
    # The second connection saw a CA-issued certificate: not what failed. No pin offered.
    other = diag.certificate_rejected(Stage.TLS, error, seen("CN=x", "CN=Some CA"), "h")
    assert other.fix is None and "AB:CD" not in other.explanation
    assert "does not match" in other.explanation


def test_mismatch_diagnoses_offer_the_encryption_fix() -> None:
    tls = diag.port_speaks_tls(465, "handshake ok")
    assert tls.fix is not None and tls.fix.changes == {"smtp.encryption": "tls"}
    assert tls.cause == "Port 465 speaks implicit TLS: set encryption = tls"
    plain = diag.port_speaks_plain(587, "220 hello")
    assert plain.fix is not None and plain.fix.changes == {"smtp.encryption": "starttls"}
    assert tls.exit_code == plain.exit_code == ExitCode.PROTOCOL


def test_server_text_is_sanitised_in_evidence() -> None:
    result = diag.from_reply(Stage.RCPT, 550, "\x1b[31mno\x1b[0m such user", SETTINGS)
    assert "\x1b" not in result.evidence and "\\x1b" in result.evidence


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("smtp.example.com", ("smtp.example.com", False)),
        ("SMTP.Example.COM.", ("smtp.example.com", False)),
        ("bücher.example", ("xn--bcher-kva.example", False)),
        ("::1", ("::1", True)),
        ("[2001:db8::1]", ("2001:db8::1", True)),
        ("192.0.2.1", ("192.0.2.1", True)),
    ],
)
def test_normalize_host(host: str, expected: tuple[str, bool]) -> None:
    assert normalize_host(host) == expected


@pytest.mark.parametrize("host", ["", "bad host", "a..b", "-x.example", "x" * 64 + ".example"])
def test_normalize_host_rejects(host: str) -> None:
    with pytest.raises(ValueError):
        normalize_host(host)


def test_ehlo_name_validation() -> None:
    assert validate_ehlo_name("mail.example.com") == "mail.example.com"
    assert validate_ehlo_name("[192.0.2.1]") == "[192.0.2.1]"
    assert validate_ehlo_name("[IPv6:2001:db8::1]") == "[IPv6:2001:db8::1]"
    for bad in (
        "192.0.2.1",
        "has space",
        "under_score.example",
        "[2001:db8::1]",
        "bücher.example",
        "x\r\nRCPT",
    ):
        with pytest.raises(ValueError):
            validate_ehlo_name(bad)


def test_fingerprint_formats() -> None:
    digits = "ab" * 32
    expected = ":".join(["AB"] * 32)
    assert normalize_fingerprint(digits) == expected
    assert normalize_fingerprint(expected.lower()) == expected
    assert normalize_fingerprint("SHA256 Fingerprint=" + expected) == expected
    with pytest.raises(FingerprintFormatError):
        normalize_fingerprint("abc")


def test_redactor_removes_raw_and_base64_forms() -> None:
    redactor = Redactor()
    password = "pässwörd-€"
    redactor.add_password(password)
    raw = password.encode()
    blob = base64.b64encode(b"\0alice\0" + raw).decode()
    redactor.add(blob)
    for text in (password, base64.b64encode(raw).decode(), blob, f"x {password} y"):
        assert password not in redactor.scrub(text)
        assert base64.b64encode(raw).decode() not in redactor.scrub(text)
    # The password inside a longer base64 blob, at any alignment: what is left
    # must not decode to the password, nor to more than the two bytes at each
    # end that share a base64 group with the surrounding bytes.
    for prefix in (b"", b"a", b"ab", b"abc"):
        encoded = base64.b64encode(prefix + raw + b"tail").decode()
        scrubbed = redactor.scrub(encoded)
        assert Redactor.PLACEHOLDER in scrubbed
        assert _longest_password_run(scrubbed, raw) <= 2, (prefix, scrubbed)


def _longest_password_run(scrubbed: str, raw: bytes) -> int:
    """The longest run of the password's bytes that any piece of ``scrubbed`` decodes to."""
    longest = 0
    for piece in scrubbed.split(Redactor.PLACEHOLDER):
        piece = piece.rstrip("=")
        for shift in range(4):
            chunk = piece[shift:]
            chunk = chunk[: len(chunk) - len(chunk) % 4]
            try:
                decoded = base64.b64decode(chunk)
            except ValueError:
                continue
            for size in range(len(raw), longest, -1):
                if any(raw[i : i + size] in decoded for i in range(len(raw) - size + 1)):
                    longest = size
                    break
    return longest


def test_redactor_short_passwords_and_escaped_forms() -> None:
    redactor = Redactor()
    redactor.add_password("2")
    # A one-character password is not blanked out of every reply code ...
    assert redactor.scrub("250 2.0.0 ok") == "250 2.0.0 ok"
    assert (
        redactor.scrub("535 5.7.8 / 535 2 is wrong", auth=True)
        == "535 5.7.8 / 535 ******** is wrong"
    )
    # ... but its base64 form goes everywhere.
    assert "Mg==" not in redactor.scrub("AUTH PLAIN Mg==")
    redactor = Redactor()
    redactor.add_password("pa\tss-Secret9")
    assert redactor.scrub("535 bad pa\\tss-Secret9") == "535 bad ********"
    assert redactor.scrub("535 bad pa\tss-Secret9") == "535 bad ********"
