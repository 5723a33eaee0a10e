"""Mailgun and SES drivers against a small HTTP server on 127.0.0.1, and SigV4 against AWS's vectors."""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tui_mailsetup.drivers.mailgun import MailgunDriver, api_base
from tui_mailsetup.drivers.ses import SesDriver, sign_v4
from tui_mailsetup.engine.events import Event, Outcome, Stage, TranscriptLine
from tui_mailsetup.message import build_test_message
from tui_mailsetup.settings import MailSettings

API_KEY = "key-3ax6xnjp29jd6fds4gc373sgvjxteol0"
AWS_SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class FakeApi:
    """Answers every request with ``reply`` and records it."""

    reply: tuple[int, dict[str, str], bytes] = (200, {}, b"{}")
    seen: list[Seen] = field(default_factory=list)
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@pytest.fixture
def api() -> Iterator[FakeApi]:
    fake = FakeApi()

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length) if length else b""
            fake.seen.append(Seen(self.command, self.path, dict(self.headers.items()), body))
            status, headers, payload = fake.reply
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = _answer

        def log_message(self, format: str, *args: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    fake.port = server.server_address[1]
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()


async def collect(events: AsyncIterator[Event]) -> list[Event]:
    return [event async for event in events]


def outcome_of(events: list[Event]) -> Outcome:
    last = events[-1]
    assert isinstance(last, Outcome)
    return last


def transcript(events: list[Event]) -> str:
    return "\n".join(e.text for e in events if isinstance(e, TranscriptLine))


SENDER = {"name": "Acme", "address": "licensing@acme.example"}


# --------------------------------------------------------------------------- Mailgun


def mailgun_settings(base_url: str, **extra: Any) -> MailSettings:
    return MailSettings.model_validate(
        {
            "driver": "mailgun",
            "mailgun": {"domain": "mg.acme.example", "base_url": base_url, **extra},
            "sender": SENDER,
        }
    )


def message_for(settings: MailSettings, to: str = "bob@example.com") -> EmailMessage:
    return build_test_message(settings, [to])


async def test_mailgun_posts_the_mime_message(api: FakeApi) -> None:
    api.reply = (
        200,
        {"Content-Type": "application/json"},
        b'{"id": "<1@mg>", "message": "Queued"}',
    )
    settings = mailgun_settings(api.url + "/v3/")
    message = message_for(settings)
    events = await collect(MailgunDriver(settings, API_KEY).send(message, ["bob@example.com"]))
    outcome = outcome_of(events)
    assert outcome.ok, outcome
    assert outcome.message_id == message["Message-ID"]
    [seen] = api.seen
    assert (seen.method, seen.path) == ("POST", "/v3/mg.acme.example/messages.mime")
    assert (
        seen.headers["Authorization"]
        == "Basic " + base64.b64encode(f"api:{API_KEY}".encode()).decode()
    )
    form = message_from_bytes(
        f"Content-Type: {seen.headers['Content-Type']}\r\n\r\n".encode() + seen.body,
        policy=policy.default,
    )
    parts = {
        part.get_param("name", header="content-disposition"): part for part in form.iter_parts()
    }
    assert parts["to"].get_content().strip() == "bob@example.com"
    assert parts["message"].get_content_type() == "message/rfc822"
    assert b"Subject: Test email from Acme" in seen.body
    text = transcript(events)
    assert API_KEY not in text
    assert base64.b64encode(f"api:{API_KEY}".encode()).decode() not in text
    assert "[Mailgun API key redacted]" in text


@pytest.mark.parametrize(
    ("status", "code"), [(401, 77), (404, 78), (429, 75), (400, 65), (502, 75)]
)
async def test_mailgun_errors(api: FakeApi, status: int, code: int) -> None:
    api.reply = (status, {"Content-Type": "application/json"}, b'{"message": "\\u001b[31mnope"}')
    settings = mailgun_settings(api.url)
    outcome = outcome_of(
        await collect(
            MailgunDriver(settings, API_KEY).send(message_for(settings), ["b@example.com"])
        )
    )
    assert not outcome.ok
    assert int(outcome.exit_code) == code
    assert outcome.diagnosis is not None and "\x1b" not in outcome.diagnosis.evidence


async def test_mailgun_check_sends_nothing(api: FakeApi) -> None:
    api.reply = (200, {}, b'{"domain": {"state": "active"}}')
    settings = mailgun_settings(api.url)
    driver = MailgunDriver(settings, API_KEY)
    outcome = outcome_of(
        await collect(driver.send(message_for(settings), ["b@example.com"], stop_after=Stage.AUTH))
    )
    assert outcome.ok
    assert [(s.method, s.path) for s in api.seen] == [("GET", "/v3/domains/mg.acme.example")]


async def test_mailgun_refuses_plain_http_to_another_machine_and_missing_key() -> None:
    settings = mailgun_settings("http://api.mailgun.example")
    outcome = outcome_of(
        await collect(
            MailgunDriver(settings, API_KEY).send(message_for(settings), ["b@example.com"])
        )
    )
    assert int(outcome.exit_code) == 78
    assert outcome.diagnosis is not None and "unencrypted" in outcome.diagnosis.cause
    no_key = outcome_of(
        await collect(MailgunDriver(settings, None).send(message_for(settings), ["b@example.com"]))
    )
    assert int(no_key.exit_code) == 78


def test_mailgun_regions() -> None:
    assert api_base(mailgun_settings("", region="eu")) == "https://api.eu.mailgun.net"
    assert api_base(mailgun_settings("", region="us")) == "https://api.mailgun.net"


async def test_connection_refused_is_unavailable() -> None:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings = mailgun_settings(f"http://127.0.0.1:{port}")
    outcome = outcome_of(
        await collect(
            MailgunDriver(settings, API_KEY).send(message_for(settings), ["b@example.com"])
        )
    )
    assert int(outcome.exit_code) == 69


# --------------------------------------------------------------------------- SES and SigV4


def test_sigv4_matches_the_aws_documentation_examples() -> None:
    # The S3 GET Object example of AWS's "Signature Calculations" documentation.
    signed = sign_v4(
        "GET",
        "https://examplebucket.s3.amazonaws.com/test.txt",
        {
            "Range": "bytes=0-9",
            "x-amz-content-sha256": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        },
        b"",
        access_key="AKIAIOSFODNN7EXAMPLE",
        secret_key="wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        region="us-east-1",
        service="s3",
        now=dt.datetime(2013, 5, 24, tzinfo=dt.UTC),
    )
    assert signed["authorization"].endswith(
        "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
    )
    # get-vanilla from the AWS Signature Version 4 test suite.
    vanilla = sign_v4(
        "GET",
        "https://example.amazonaws.com/",
        {},
        b"",
        access_key="AKIDEXAMPLE",
        secret_key=AWS_SECRET,
        region="us-east-1",
        service="service",
        now=dt.datetime(2015, 8, 30, 12, 36, tzinfo=dt.UTC),
    )
    assert vanilla["authorization"] == (
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
        "SignedHeaders=host;x-amz-date, "
        "Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
    )


def ses_settings(endpoint_url: str) -> MailSettings:
    return MailSettings.model_validate(
        {
            "driver": "ses",
            "ses": {
                "region": "eu-west-1",
                "endpoint_url": endpoint_url,
                "access_key_id": "AKIDEXAMPLE",
            },
            "sender": SENDER,
        }
    )


def _verify_signature(seen: Seen, url: str) -> None:
    """Recompute the signature from what the server received, as AWS does."""
    authorization = seen.headers["Authorization"]
    signed_names = authorization.split("SignedHeaders=")[1].split(",")[0].split(";")
    headers = {
        name: value
        for name, value in seen.headers.items()
        if name.lower() in signed_names and name.lower() not in ("host", "x-amz-date")
    }
    when = dt.datetime.strptime(seen.headers["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.UTC)
    expected = sign_v4(
        seen.method,
        url + seen.path,
        headers,
        seen.body,
        access_key="AKIDEXAMPLE",
        secret_key=AWS_SECRET,
        region="eu-west-1",
        now=when,
        session_token=seen.headers.get("X-Amz-Security-Token"),
    )
    assert expected["authorization"] == authorization


async def test_ses_sends_raw_mime_signed(api: FakeApi, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_SESSION_TOKEN", "session-token-value")
    api.reply = (200, {"Content-Type": "application/json"}, b'{"MessageId": "0102-abc"}')
    settings = ses_settings(api.url)
    message = message_for(settings)
    events = await collect(SesDriver(settings, AWS_SECRET).send(message, ["bob@example.com"]))
    outcome = outcome_of(events)
    assert outcome.ok, outcome
    [seen] = api.seen
    assert (seen.method, seen.path) == ("POST", "/v2/email/outbound-emails")
    document = json.loads(seen.body)
    assert document["Destination"] == {"ToAddresses": ["bob@example.com"]}
    assert document["FromEmailAddress"] == "licensing@acme.example"
    assert b"Subject: Test email from Acme" in base64.b64decode(document["Content"]["Raw"]["Data"])
    assert "/eu-west-1/ses/aws4_request" in seen.headers["Authorization"]
    _verify_signature(seen, api.url)
    text = transcript(events)
    for secret in (
        AWS_SECRET,
        "session-token-value",
        seen.headers["Authorization"].split("Signature=")[1],
    ):
        assert secret not in text


@pytest.mark.parametrize(
    ("status", "error_type", "message", "code"),
    [
        (
            403,
            "UnrecognizedClientException",
            "The security token included in the request is invalid",
            77,
        ),
        (400, "MessageRejected", "Email address is not verified.", 65),
        (429, "TooManyRequestsException", "Rate exceeded", 75),
        (400, "MailFromDomainNotVerifiedException", "not verified", 78),
        (500, "InternalFailure", "oops", 75),
    ],
)
async def test_ses_errors(
    api: FakeApi, status: int, error_type: str, message: str, code: int
) -> None:
    api.reply = (
        status,
        {"x-amzn-ErrorType": f"{error_type}:http://internal/"},
        json.dumps({"message": message}).encode(),
    )
    settings = ses_settings(api.url)
    outcome = outcome_of(
        await collect(
            SesDriver(settings, AWS_SECRET).send(message_for(settings), ["b@example.com"])
        )
    )
    assert not outcome.ok
    assert int(outcome.exit_code) == code
    assert outcome.diagnosis is not None and error_type in outcome.diagnosis.evidence


async def test_ses_check_reads_the_account(api: FakeApi) -> None:
    account = {
        "SendingEnabled": True,
        "ProductionAccessEnabled": False,
        "SendQuota": {"Max24HourSend": 200.0, "SentLast24Hours": 3.0},
    }
    api.reply = (200, {}, json.dumps(account).encode())
    settings = ses_settings(api.url)
    events = await collect(
        SesDriver(settings, AWS_SECRET).send(
            message_for(settings), ["b@example.com"], stop_after=Stage.AUTH
        )
    )
    assert outcome_of(events).ok
    assert [(s.method, s.path) for s in api.seen] == [("GET", "/v2/email/account")]
    _verify_signature(api.seen[0], api.url)
    finished = [e for e in events if type(e).__name__ == "StageFinished"]
    assert "sandbox" in finished[-1].detail  # type: ignore[attr-defined]


async def test_ses_needs_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY", raising=False)
    settings = ses_settings("https://email.eu-west-1.amazonaws.com")
    outcome = outcome_of(
        await collect(SesDriver(settings, None).send(message_for(settings), ["b@example.com"]))
    )
    assert int(outcome.exit_code) == 78


def test_send_test_command_with_mailgun(api: FakeApi, tmp_path: Path, isolated_home: Path) -> None:
    from tui_mailsetup.config_file import write_values
    from tui_mailsetup.secrets import store_secret

    api.reply = (200, {}, b'{"id": "<1@mg>"}')
    config = tmp_path / "conf" / "config.toml"
    write_values(
        config,
        {
            "driver": "mailgun",
            "mailgun.domain": "mg.acme.example",
            "mailgun.base_url": api.url,
            "sender.address": "a@example.com",
        },
    )
    store_secret(config, "mailgun.api_key", API_KEY)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILSETUP_")}
    env["HOME"] = str(isolated_home)
    ran = subprocess.run(
        [sys.executable, "-m", "tui_mailsetup", "--config", str(config), "send-test"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert API_KEY not in ran.stdout + ran.stderr
    assert api.seen[0].path == "/v3/mg.acme.example/messages.mime"
