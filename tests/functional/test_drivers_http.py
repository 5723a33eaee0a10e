"""The Mailgun driver (httpx) against a small HTTP server and a proxy on 127.0.0.1."""

from __future__ import annotations

import base64
import time
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.utils import formatdate
from pathlib import Path
from typing import Any

import pytest

from tests.support.cli_helpers import run_cli
from tests.support.events import collect, outcome_of, transcript
from tests.support.http_servers import ScriptedHttp, forward_proxy, scripted_http
from tests.support.smtp_servers import LocalCA
from tui_mailsetup.drivers.mailgun import MailgunDriver
from tui_mailsetup.endpoints import mailgun_api_root as api_base
from tui_mailsetup.engine.events import Event, Stage
from tui_mailsetup.message import build_test_message
from tui_mailsetup.settings import MailSettings

API_KEY = "key-3ax6xnjp29jd6fds4gc373sgvjxteol0"


def text_of(events: list[Event]) -> str:
    return "\n".join(line.text for line in transcript(events))


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


async def mailgun_send(settings: MailSettings, to: str = "bob@example.com") -> list[Event]:
    """The events of one test send to ``to`` with the API key."""
    return await collect(MailgunDriver(settings, API_KEY).send(message_for(settings, to), [to]))


async def test_mailgun_posts_the_mime_message(http_api: ScriptedHttp) -> None:
    http_api.reply = (
        200,
        {"Content-Type": "application/json"},
        b'{"id": "<1@mg>", "message": "Queued"}',
    )
    settings = mailgun_settings(http_api.url + "/v3/")
    message = message_for(settings)
    events = await collect(MailgunDriver(settings, API_KEY).send(message, ["bob@example.com"]))
    outcome = outcome_of(events)
    assert outcome.ok, outcome
    assert outcome.message_id == message["Message-ID"]
    [seen] = http_api.seen
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
    text = text_of(events)
    assert API_KEY not in text
    assert base64.b64encode(f"api:{API_KEY}".encode()).decode() not in text
    assert "[Mailgun API key redacted]" in text


@pytest.mark.parametrize(
    ("status", "code"), [(401, 77), (404, 78), (429, 75), (400, 65), (502, 75)]
)
async def test_mailgun_errors(http_api: ScriptedHttp, status: int, code: int) -> None:
    http_api.reply = (
        status,
        {"Content-Type": "application/json"},
        b'{"message": "\\u001b[31mnope"}',
    )
    settings = mailgun_settings(http_api.url)
    outcome = outcome_of(await mailgun_send(settings, "b@example.com"))
    assert not outcome.ok
    assert int(outcome.exit_code) == code
    assert outcome.diagnosis is not None and "\x1b" not in outcome.diagnosis.evidence


async def test_mailgun_key_quoted_back_is_masked_everywhere(http_api: ScriptedHttp) -> None:
    """An error page (or a proxy) that echoes the request: the key, URL-encoded, inside the
    Basic header, or cut after a prefix, appears in neither the transcript nor the verdict."""
    basic = base64.b64encode(f"api:{API_KEY}".encode()).decode()
    echo = (
        f'{{"message": "Forbidden: key {API_KEY} (Authorization: Basic {basic}); '
        f'as sent: key%3D{API_KEY}; truncated: {API_KEY[:14]}"}}'
    )
    http_api.reply = (401, {"Content-Type": "application/json", "X-Echo": API_KEY}, echo.encode())
    events = await mailgun_send(mailgun_settings(http_api.url))
    outcome = outcome_of(events)
    assert int(outcome.exit_code) == 77
    assert outcome.diagnosis is not None
    shown = "\n".join([text_of(events), outcome.diagnosis.cause, outcome.diagnosis.evidence])
    assert "Forbidden: key ********" in shown  # the answer is still shown, the key is not
    for secret in (API_KEY, basic, API_KEY[:14], API_KEY[-14:]):
        assert secret not in shown


@pytest.mark.parametrize("form", ["delay-seconds", "HTTP-date"])
async def test_mailgun_429_remembers_the_retry_after_header(
    http_api: ScriptedHttp, form: str
) -> None:
    wait = 7200
    until = int(time.time()) + wait
    header = str(wait) if form == "delay-seconds" else formatdate(until, usegmt=True)
    http_api.reply = (429, {"Content-Type": "application/json", "Retry-After": header}, b"{}")
    before = time.time()
    outcome = outcome_of(await mailgun_send(mailgun_settings(http_api.url)))
    assert int(outcome.exit_code) == 75
    assert outcome.diagnosis is not None and outcome.diagnosis.retry_after is not None
    # the time the server named (an HTTP-date has whole seconds), not "no time given"
    assert before + wait - 2 <= outcome.diagnosis.retry_after <= time.time() + wait + 1


async def test_mailgun_redirect_shows_where_it_pointed(http_api: ScriptedHttp) -> None:
    http_api.reply = (301, {"Location": "https://elsewhere.example/v3"}, b"")
    outcome = outcome_of(await mailgun_send(mailgun_settings(http_api.url)))
    assert int(outcome.exit_code) == 78
    assert outcome.diagnosis is not None
    assert outcome.diagnosis.evidence == "Location: https://elsewhere.example/v3"


async def test_mailgun_check_sends_nothing(http_api: ScriptedHttp) -> None:
    http_api.reply = (200, {}, b'{"domain": {"state": "active"}}')
    settings = mailgun_settings(http_api.url)
    driver = MailgunDriver(settings, API_KEY)
    outcome = outcome_of(
        await collect(driver.send(message_for(settings), ["b@example.com"], stop_after=Stage.AUTH))
    )
    assert outcome.ok
    assert [(s.method, s.path) for s in http_api.seen] == [("GET", "/v3/domains/mg.acme.example")]


async def test_mailgun_refuses_plain_http_to_another_machine_and_missing_key() -> None:
    settings = mailgun_settings("http://api.mailgun.example")
    outcome = outcome_of(await mailgun_send(settings, "b@example.com"))
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
    outcome = outcome_of(await mailgun_send(settings, "b@example.com"))
    assert int(outcome.exit_code) == 69


def test_send_test_command_with_mailgun(
    http_api: ScriptedHttp, tmp_path: Path, isolated_home: Path
) -> None:
    from tui_mailsetup.config_file import write_values
    from tui_mailsetup.secrets import store_secret

    http_api.reply = (200, {}, b'{"id": "<1@mg>"}')
    config = tmp_path / "conf" / "config.toml"
    write_values(
        config,
        {
            "driver": "mailgun",
            "mailgun.domain": "mg.acme.example",
            "mailgun.base_url": http_api.url,
            "sender.address": "a@example.com",
        },
    )
    store_secret(config, "mailgun.api_key", API_KEY)
    ran = run_cli("--config", str(config), "send-test", home=isolated_home)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert API_KEY not in ran.stdout + ran.stderr
    assert http_api.seen[0].path == "/v3/mg.acme.example/messages.mime"


# --------------------------------------------------------------------------- proxies


async def test_mailgun_goes_through_the_proxy_in_the_environment(
    http_api: ScriptedHttp, monkeypatch: pytest.MonkeyPatch
) -> None:
    http_api.reply = (200, {}, b'{"id": "<1@mg>"}')
    # A proxy for a loopback target is used only when the proxy is on this machine
    # too, and only when NO_PROXY does not exclude the target: it is cleared here.
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    with forward_proxy() as proxy:
        monkeypatch.setenv("HTTP_PROXY", f"http://user:proxy-pass@127.0.0.1:{proxy.port}")
        settings = mailgun_settings(http_api.url)
        events = await mailgun_send(settings)
    outcome = outcome_of(events)
    assert outcome.ok, outcome
    assert proxy.carried == [("POST", f"{http_api.url}/v3/mg.acme.example/messages.mime")]
    assert http_api.seen[0].path == "/v3/mg.acme.example/messages.mime"
    text = text_of(events)
    assert f"via the proxy http://127.0.0.1:{proxy.port} (HTTP_PROXY)" in text
    assert "proxy-pass" not in text and API_KEY not in text


async def test_https_goes_through_a_connect_tunnel(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    ca = LocalCA(tmp_path)
    monkeypatch.setenv("SSL_CERT_FILE", str(ca.ca_path))
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    with scripted_http(ca.server_context()) as api, forward_proxy() as proxy:
        api.reply = (200, {}, b'{"id": "<1@mg>"}')
        monkeypatch.setenv("HTTPS_PROXY", proxy.url)
        settings = mailgun_settings(api.url)
        events = await mailgun_send(settings)
    outcome = outcome_of(events)
    assert outcome.ok, outcome
    # The proxy saw only where to connect; the request and the key went through TLS.
    assert proxy.carried == [("CONNECT", f"127.0.0.1:{api.port}")]
    assert api.seen[0].headers["Authorization"].startswith("Basic ")
    assert f"via the proxy {proxy.url} (HTTPS_PROXY)" in text_of(events)


async def test_no_proxy_and_remote_proxies_are_respected(
    http_api: ScriptedHttp, monkeypatch: pytest.MonkeyPatch
) -> None:
    http_api.reply = (200, {}, b'{"id": "<1@mg>"}')
    settings = mailgun_settings(http_api.url)
    with forward_proxy() as proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        monkeypatch.setenv("NO_PROXY", "localhost,127.0.0.0/8")
        events = await mailgun_send(settings)
        assert outcome_of(events).ok
        assert proxy.carried == []
        assert "no proxy for 127.0.0.1 (NO_PROXY)" in text_of(events)
    # A proxy on another machine is never used for this machine's loopback (it
    # could not reach it, and would see the API key): nothing is contacted there.
    monkeypatch.delenv("NO_PROXY")
    monkeypatch.setenv("HTTP_PROXY", "http://proxy.invalid:3128")
    events = await mailgun_send(settings)
    assert outcome_of(events).ok
    assert "HTTP_PROXY ignored: 127.0.0.1 is this machine" in text_of(events)


async def test_an_unreachable_proxy_is_diagnosed(monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{port}")
    settings = mailgun_settings("https://127.0.0.1:1")
    outcome = outcome_of(await mailgun_send(settings, "b@example.com"))
    assert int(outcome.exit_code) == 69
    assert outcome.diagnosis is not None and "proxy" in outcome.diagnosis.cause.lower()


async def test_a_server_that_does_not_answer_times_out(monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        settings = MailSettings.model_validate(
            {
                "driver": "mailgun",
                "mailgun": {
                    "domain": "mg.acme.example",
                    "base_url": f"http://127.0.0.1:{silent.getsockname()[1]}",
                },
                "sender": SENDER,
                "smtp": {"timeout": 0.5},
            }
        )
        outcome = outcome_of(await mailgun_send(settings, "b@example.com"))
    assert int(outcome.exit_code) == 75
    assert outcome.diagnosis is not None and "did not answer in time" in outcome.diagnosis.cause


async def test_an_untrusted_certificate_is_a_protocol_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    with scripted_http(LocalCA(tmp_path).server_context()) as api:
        settings = mailgun_settings(api.url)
        outcome = outcome_of(await mailgun_send(settings, "b@example.com"))
        assert api.seen == []  # nothing was sent to a server that could not be trusted
    assert int(outcome.exit_code) == 76
    assert outcome.diagnosis is not None
    assert outcome.diagnosis.cause == "The certificate of 127.0.0.1 was rejected"
