"""The token endpoint as the untrusted network it is (issue 19.5) and OAuth2 verdicts that
prove the configuration, not the cache (issue 21.1-2).

A hostile OAuth2 server on loopback (tests/oauth2_server.py: redirects to a plain listener
that records what it receives, error descriptions quoting the request, one byte every few
seconds, huge and endless bodies, absurd numbers) and the real bearer-only SMTP server:
each case ends within its deadline (the subprocess timeout), with the right exit code,
and no secret reaches the plain listener, stdout, stderr or the JSON.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import oauth2_rig
from tests.support.cli_helpers import Result, config_path
from tests.support.oauth2_rig import MAILBOX, cli, device_login, stored_tokens, write_config
from tests.support.oauth2_server import (
    AuthServer,
    BearerSmtp,
    PlainListener,
    Sent,
    answer_raw,
    drip,
    flood,
    quote_request,
    redirect_to,
)
from tests.support.smtp_servers import LocalCA

SECRET = "s3cret-value-0123456789-abcdefghij"
APP = {"flow": "client-credentials", "tenant": "contoso.test"}


ca = oauth2_rig.ca
smtp = oauth2_rig.smtp
"""The rig's fixtures (tests/support/oauth2_rig.py; ``smtp`` uses this module's ``auth``)."""


@pytest.fixture
def auth(ca: LocalCA) -> Iterator[AuthServer]:
    """The rig's authorisation server, with a client secret long enough to be found when quoted."""
    server = AuthServer(ca, app_subject=MAILBOX, client_secret=SECRET).start()
    yield server
    server.stop()


@pytest.fixture
def plain() -> Iterator[PlainListener]:
    listener = PlainListener()
    yield listener
    listener.stop()


def app_cli(
    home: Path, ca: LocalCA, *args: str, secret: str = SECRET, timeout: float = 60
) -> Result:
    env = {"MAILSETUP_OAUTH2__CLIENT_SECRET": secret}
    return cli(home, ca, *args, env=env, timeout=timeout)


def said(result: Result) -> str:
    return result.stdout + result.stderr


def assert_no_secret(result: Result, *secrets: str) -> None:
    for secret in secrets:
        assert secret not in said(result)
        assert secret[:12] not in said(result)


def credentials_size(home: Path) -> int:
    path = config_path(home).parent / "credentials.toml"
    return path.stat().st_size if path.exists() else 0


# --------------------------------------------------------------------------- http and redirects


def test_http_token_url_is_refused_off_loopback_and_needs_the_setting_on_it(
    isolated_home: Path, ca: LocalCA, auth: AuthServer, smtp: BearerSmtp
) -> None:
    write_config(isolated_home, smtp, auth, token_url="http://login.example.com/token", **APP)
    offline = app_cli(isolated_home, ca, "check", "--offline")
    assert offline.returncode == 78
    assert "oauth2.token_url" in offline.stdout and "https" in offline.stdout
    token = app_cli(isolated_home, ca, "oauth2", "token")
    assert token.returncode == 78 and "https" in token.stderr
    # Even the setting does not open plain http to another host.
    write_config(
        isolated_home,
        smtp,
        auth,
        token_url="http://login.example.com/token",
        allow_plaintext_loopback=True,
        **APP,
    )
    assert app_cli(isolated_home, ca, "check", "--offline").returncode == 78

    plain_auth = AuthServer(ca, app_subject=MAILBOX, client_secret=SECRET, tls=False).start()
    try:
        write_config(isolated_home, smtp, plain_auth, **APP)
        refused = app_cli(isolated_home, ca, "oauth2", "token")
        assert refused.returncode == 78
        assert "oauth2.allow_plaintext_loopback" in refused.stderr
        assert plain_auth.requests == []
        write_config(isolated_home, smtp, plain_auth, allow_plaintext_loopback=True, **APP)
        allowed = app_cli(isolated_home, ca, "oauth2", "token")
        assert allowed.returncode == 0, allowed.stderr
        assert allowed.stdout.startswith("at-")
    finally:
        plain_auth.stop()


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_redirect_is_a_protocol_fault_and_nothing_reaches_its_target(
    isolated_home: Path,
    ca: LocalCA,
    auth: AuthServer,
    smtp: BearerSmtp,
    plain: PlainListener,
    status: int,
) -> None:
    write_config(isolated_home, smtp, auth, **APP)
    auth.misbehave = redirect_to(f"http://localhost:{plain.port}/steal", status)
    token = app_cli(isolated_home, ca, "oauth2", "token", "--json")
    assert token.returncode == 76, said(token)
    assert token.json()["error"] == "redirect"
    assert "localhost" in token.stderr and "redirect" in token.stderr
    sent = app_cli(isolated_home, ca, "send-test", "--json")
    assert sent.returncode == 76
    assert "redirect" in json.dumps(sent.json()["diagnosis"])
    assert plain.connections == 0 and bytes(plain.received) == b""
    assert_no_secret(token, SECRET)
    assert_no_secret(sent, SECRET)
    assert smtp.attempts == [] and credentials_size(isolated_home) == 0


# --------------------------------------------------------------------------- secrets quoted back


def test_an_endpoint_quoting_the_request_never_gets_a_secret_printed(
    isolated_home: Path, ca: LocalCA, auth: AuthServer, smtp: BearerSmtp
) -> None:
    write_config(isolated_home, smtp, auth, **APP)
    auth.misbehave = quote_request()
    for args in (("oauth2", "token"), ("oauth2", "token", "--json"), ("send-test", "--json")):
        result = app_cli(isolated_home, ca, *args)
        assert result.returncode == 77, said(result)
        assert "bad request" in said(result)  # the description is shown…
        assert_no_secret(result, SECRET)  # …with the secret masked, whole or in part
        assert "********" in said(result)


def test_a_quoted_refresh_token_and_access_token_are_masked(
    isolated_home: Path, ca: LocalCA, auth: AuthServer, smtp: BearerSmtp
) -> None:
    write_config(isolated_home, smtp, auth)
    assert device_login(isolated_home, ca, auth)[0].returncode == 0
    stored = stored_tokens(isolated_home)
    auth.misbehave = quote_request("invalid_grant")
    for args in (("oauth2", "token", "--refresh"), ("send-test", "--json")):
        result = cli(isolated_home, ca, *args)
        assert result.returncode == 77, said(result)
        assert "oauth2 login" in said(result)
        assert_no_secret(result, str(stored["refresh_token"]), str(stored["access_token"]))


def test_masker_covers_encoded_and_partial_quotes() -> None:
    from urllib.parse import quote_plus

    from tui_mailsetup.oauth2.transport import Masker

    secret = "abc+/=DEF ghi&jkl0123456789xyz"
    mask = Masker([secret])
    for quoted in (secret, quote_plus(secret), json.dumps(secret), secret[:14], secret[-13:]):
        assert secret[:12] not in mask(f"you sent {quoted}!")
        assert quoted not in mask(f"you sent {quoted}!")
    assert mask("an innocent sentence") == "an innocent sentence"


# --------------------------------------------------------------------------- slow, huge, endless


@pytest.mark.parametrize("body", [False, True], ids=["headers", "body"])
def test_a_dripping_endpoint_ends_within_the_deadline_as_a_timeout(
    isolated_home: Path, ca: LocalCA, auth: AuthServer, smtp: BearerSmtp, body: bool
) -> None:
    write_config(isolated_home, smtp, auth, **APP)
    (config_path(isolated_home)).write_text(
        config_path(isolated_home).read_text().replace("timeout = 10", "timeout = 3")
    )
    sent_bytes = Sent()
    auth.misbehave = drip(1.0, sent_bytes, body=body)
    token = app_cli(isolated_home, ca, "oauth2", "token", timeout=60)
    assert token.returncode == 75, said(token)
    assert "did not answer within 3 s" in token.stderr
    sent = app_cli(isolated_home, ca, "send-test", "--json", timeout=60)
    assert sent.returncode == 75
    diagnosis = json.dumps(sent.json()["diagnosis"])
    assert "did not answer" in diagnosis and "password_command" not in diagnosis
    assert sent_bytes.bytes < 100  # it dripped, and was given up on
    assert smtp.attempts == []


@pytest.mark.parametrize("chunked", [False, True], ids=["huge", "endless"])
def test_a_huge_or_endless_answer_is_cut_at_the_limit_and_nothing_is_stored(
    isolated_home: Path, ca: LocalCA, auth: AuthServer, smtp: BearerSmtp, chunked: bool
) -> None:
    write_config(isolated_home, smtp, auth, **APP)
    sent_bytes = Sent()
    auth.misbehave = flood(sent_bytes, total=None if chunked else 100_000_000, chunked=chunked)
    token = app_cli(isolated_home, ca, "oauth2", "token", "--json", timeout=120)
    assert token.returncode == 76, said(token)
    assert token.json()["error"] == "too_large"
    assert "answered nonsense" in token.stderr
    # Read only up to the limit: what the server could push is what the sockets buffer.
    assert sent_bytes.bytes < 32_000_000
    assert credentials_size(isolated_home) == 0
    assert token.stdout.count("A") < 100


@pytest.mark.parametrize(
    "answer",
    [
        '{"access_token": "at-x", "expires_in": 1e400}',
        '{"access_token": "at-x", "expires_in": 1e300}',
        '{"access_token": "at-x", "expires_in": NaN}',
        '{"access_token": "at-x", "expires_in": -5}',
        '{"access_token": "at-x", "expires_in": "soon"}',
        '{"access_token": "at x\\r\\nQUIT", "expires_in": 3600}',
        '{"expires_in": 3600}',
        "[1, 2]",
        "[" * 50_000,
    ],
)
def test_absurd_answers_are_the_endpoints_fault(
    isolated_home: Path, ca: LocalCA, auth: AuthServer, smtp: BearerSmtp, answer: str
) -> None:
    write_config(isolated_home, smtp, auth, **APP)
    auth.misbehave = answer_raw(answer)
    token = app_cli(isolated_home, ca, "oauth2", "token")
    assert token.returncode == 76, said(token)
    assert "answered nonsense" in token.stderr and "Traceback" not in token.stderr
    commands = [("send-test",), ("check", "--no-dns")] if "1e400" in answer else [("send-test",)]
    for command in commands:
        tested = app_cli(isolated_home, ca, *command, "--json")
        assert tested.returncode == 76, said(tested)
        assert tested.json()["stage"] == "auth"
    assert credentials_size(isolated_home) == 0 and smtp.attempts == []


def test_an_unreachable_token_endpoint_is_69_everywhere(
    isolated_home: Path, ca: LocalCA, auth: AuthServer, smtp: BearerSmtp, plain: PlainListener
) -> None:
    port = plain.port
    plain.stop()  # nothing listens there any more: connection refused
    write_config(isolated_home, smtp, auth, token_url=f"https://127.0.0.1:{port}/token", **APP)
    token = app_cli(isolated_home, ca, "oauth2", "token")
    assert token.returncode == 69 and "cannot be reached" in token.stderr
    unreadable = cli(
        isolated_home,
        ca,
        "oauth2",
        "token",
        env={"MAILSETUP_OAUTH2__CLIENT_SECRET": SECRET, "REQUESTS_CA_BUNDLE": "/nonexistent"},
    )
    assert unreadable.returncode == 78 and "Traceback" not in unreadable.stderr
    assert "REQUESTS_CA_BUNDLE" in unreadable.stderr
    for command in (("send-test",), ("check", "--no-dns")):
        tested = app_cli(isolated_home, ca, *command, "--json")
        assert tested.returncode == 69, said(tested)
        assert "password_command" not in json.dumps(tested.json())


def test_device_code_numbers_are_bounded_and_polling_never_faster_than_5_s(
    isolated_home: Path, ca: LocalCA, auth: AuthServer, smtp: BearerSmtp
) -> None:
    write_config(isolated_home, smtp, auth)
    auth.misbehave = answer_raw(
        '{"device_code": "dc", "user_code": "U", "verification_uri": "https://x", "interval": 1e300}'
    )
    login = cli(isolated_home, ca, "oauth2", "login")
    assert login.returncode == 76 and "answered nonsense" in login.stderr

    from tui_mailsetup.config_file import load_config
    from tui_mailsetup.oauth2.access import login as run_login
    from tui_mailsetup.oauth2.flows import Cancelled

    auth.misbehave = None
    auth.interval = 0  # a server that would be polled in a tight loop
    loaded = load_config(str(config_path(isolated_home)))
    waits: list[float] = []
    cancel = threading.Event()

    def waited(seconds: float) -> None:
        waits.append(seconds)
        cancel.set()

    import os

    os.environ["REQUESTS_CA_BUNDLE"] = str(ca.ca_path)
    try:
        with pytest.raises(Cancelled):
            run_login(loaded, lambda prompt: None, cancel=cancel, on_wait=waited)
    finally:
        del os.environ["REQUESTS_CA_BUNDLE"]
    assert waits == [5.0]


def test_a_stored_absurd_expiry_does_not_break_status(
    isolated_home: Path, ca: LocalCA, auth: AuthServer, smtp: BearerSmtp
) -> None:
    write_config(isolated_home, smtp, auth)
    store = {
        "flow": "device-code",
        "client_id": auth.client_id,
        "token_url": auth.token_url,
        "access_token": "at-old",
        "refresh_token": "rt-old",
        "expires_at": 1e300,
    }
    put = cli(isolated_home, ca, "set-secret", "oauth2.token", stdin=json.dumps(store) + "\n")
    assert put.returncode == 0, put.stderr
    for args in (("oauth2", "status"), ("oauth2", "status", "--json")):
        status = cli(isolated_home, ca, *args)
        assert status.returncode in (0, 77), said(status)
        assert "Traceback" not in status.stderr
    # Read as expired: the refresh is tried (and refused: the server never issued it).
    token = cli(isolated_home, ca, "oauth2", "token")
    assert token.returncode == 77 and "oauth2 login" in token.stderr


# --------------------------------------------------------------------------- verdicts (issue 21)


def test_a_wrong_client_secret_after_a_good_one_fails_the_test(
    isolated_home: Path, ca: LocalCA, auth: AuthServer, smtp: BearerSmtp
) -> None:
    write_config(isolated_home, smtp, auth, **APP)
    good = app_cli(isolated_home, ca, "send-test")
    assert good.returncode == 0, said(good)
    assert "new access token was obtained" in good.stdout and "client secret" in good.stdout
    before = stored_tokens(isolated_home)
    assert SECRET not in json.dumps(before)  # a keyed fingerprint, never the value

    wrong = app_cli(isolated_home, ca, "send-test", "--json", secret="not-the-secret-at-all")
    assert wrong.returncode == 77
    assert "AADSTS7000215" in json.dumps(wrong.json()["diagnosis"])
    # passwordeval's `oauth2 token` does not serve the cache obtained with the other secret.
    token = app_cli(isolated_home, ca, "oauth2", "token", secret="not-the-secret-at-all")
    assert token.returncode == 77 and token.stdout == ""
    assert auth.grants == ["client_credentials"] * 3
    assert len(smtp.messages) == 1
    status = app_cli(isolated_home, ca, "oauth2", "status", "--json", secret="another")
    assert status.json()["credential_changed"] is True
    assert (
        app_cli(isolated_home, ca, "oauth2", "status", "--json").json()["credential_changed"]
        is False
    )


def test_a_change_of_scopes_or_tenant_invalidates_a_persons_sign_in(
    isolated_home: Path, ca: LocalCA, auth: AuthServer, smtp: BearerSmtp
) -> None:
    write_config(isolated_home, smtp, auth)
    assert device_login(isolated_home, ca, auth)[0].returncode == 0
    assert cli(isolated_home, ca, "oauth2", "token").returncode == 0
    write_config(
        isolated_home, smtp, auth, scopes=["https://outlook.office.com/IMAP.AccessAsUser.All"]
    )
    other = cli(isolated_home, ca, "oauth2", "token")
    assert other.returncode == 77 and "other oauth2.scopes" in other.stderr
    write_config(isolated_home, smtp, auth, tenant="fabrikam.test")
    assert "oauth2.tenant" in cli(isolated_home, ca, "oauth2", "token").stderr
    write_config(isolated_home, smtp, auth)
    assert cli(isolated_home, ca, "oauth2", "token").returncode == 0


def test_a_revoked_token_that_still_looks_valid(
    isolated_home: Path, ca: LocalCA, auth: AuthServer, smtp: BearerSmtp
) -> None:
    write_config(isolated_home, smtp, auth)
    assert device_login(isolated_home, ca, auth)[0].returncode == 0
    old = str(stored_tokens(isolated_home)["access_token"])
    auth.expire_access_tokens()  # revoked on the server; the client's copy has an hour left

    cached = cli(isolated_home, ca, "oauth2", "token")
    assert cached.stdout.strip() == old  # passwordeval cannot know…
    renewed = cli(isolated_home, ca, "oauth2", "token", "--refresh")  # …until it is told
    assert renewed.returncode == 0 and renewed.stdout.strip() not in {"", old}
    assert auth.valid(renewed.stdout.strip(), MAILBOX) is not None

    auth.expire_access_tokens()
    sent = cli(isolated_home, ca, "send-test")
    assert sent.returncode == 0, said(sent)
    assert "refreshed" in sent.stdout

    auth.expire_access_tokens()
    auth.revoke_refresh_tokens()
    refused = cli(isolated_home, ca, "send-test", "--json")
    assert refused.returncode == 77
    assert "run `tui-mailsetup oauth2 login`" in json.dumps(refused.json()["diagnosis"])
    assert smtp.attempts == [MAILBOX]


def test_a_token_refused_at_auth_is_renewed_once_and_retried_in_the_same_session(
    isolated_home: Path, ca: LocalCA, auth: AuthServer, smtp: BearerSmtp
) -> None:
    write_config(isolated_home, smtp, auth, **APP)
    smtp.refuse_first = 1  # a token not yet known to the server (propagation after consent)
    sent = app_cli(isolated_home, ca, "send-test")
    assert sent.returncode == 0, said(sent)
    assert "renewing it once and retrying AUTH" in sent.stdout
    assert auth.grants == ["client_credentials"] * 2
    assert len(smtp.tokens) == 2 and len(smtp.messages) == 1
    for token in smtp.tokens:
        assert token not in said(sent)

    # The renewal itself refused: 77, and no third AUTH.
    smtp.refuse_first = 1
    smtp.tokens.clear()
    auth.misbehave = None
    calls = {"n": 0}

    def refuse_second(handler: object, path: str, raw: bytes) -> bool:
        calls["n"] += 1
        return calls["n"] >= 2 and quote_request()(handler, path, raw)

    auth.misbehave = refuse_second
    again = app_cli(isolated_home, ca, "send-test", "--json")
    assert again.returncode == 77
    assert "could not be obtained" in json.dumps(again.json()["diagnosis"])
    assert len(smtp.tokens) == 1
    assert_no_secret(again, SECRET)


def test_a_custom_providers_535_gets_no_google_advice(
    isolated_home: Path, ca: LocalCA, auth: AuthServer, smtp: BearerSmtp
) -> None:
    write_config(
        isolated_home,
        smtp,
        auth,
        provider="custom",
        scopes=["smtp"],
        **APP,
    )
    smtp.refuse_first = 99
    smtp.refusal = (
        "535 5.7.8 Username and Password not accepted. https://support.google.com/mail/?p="
        "BadCredentials"
    )
    sent = app_cli(isolated_home, ca, "send-test")
    assert sent.returncode == 77, said(sent)
    # The verdict is on stderr (failures' verdicts go there), the transcript on stdout.
    for other in ("Google refused", "Admin console", "Microsoft", "Exchange"):
        assert other not in sent.stdout + sent.stderr
    assert "custom" in sent.stdout + sent.stderr


def test_a_loopback_token_endpoint_never_goes_through_the_proxy(
    isolated_home: Path, ca: LocalCA, auth: AuthServer, smtp: BearerSmtp
) -> None:
    from tests.support.http_servers import forward_proxy

    write_config(isolated_home, smtp, auth, **APP)
    with forward_proxy() as proxy:
        proxied = {"HTTPS_PROXY": proxy.url, "https_proxy": proxy.url, "NO_PROXY": ""}
        token = cli(
            isolated_home,
            ca,
            "oauth2",
            "token",
            env={"MAILSETUP_OAUTH2__CLIENT_SECRET": SECRET, **proxied},
        )
    assert token.returncode == 0, token.stderr
    # A proxy elsewhere could not reach this machine's loopback, and would see the secret.
    assert proxy.carried == []


def test_the_environments_proxy_carries_requests_to_other_hosts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from tui_mailsetup.oauth2.transport import _proxy_for

    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.corp.test:3128")
    monkeypatch.setenv("NO_PROXY", "internal.test")
    url = "https://login.microsoftonline.com/t/oauth2/v2.0/token"
    assert _proxy_for(url, "login.microsoftonline.com") == "http://proxy.corp.test:3128"
    assert _proxy_for("https://sts.internal.test/token", "sts.internal.test") is None
    assert _proxy_for("https://[::1]:8443/token", "::1") is None


def test_delivering_mail_may_use_the_cache_a_test_never_does(
    isolated_home: Path,
    ca: LocalCA,
    auth: AuthServer,
    smtp: BearerSmtp,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import asyncio

    from tui_mailsetup.config_file import load_config
    from tui_mailsetup.runner import run_test

    write_config(isolated_home, smtp, auth, **APP)
    assert app_cli(isolated_home, ca, "oauth2", "token").returncode == 0
    monkeypatch.setenv("MAILSETUP_OAUTH2__CLIENT_SECRET", SECRET)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(ca.ca_path))
    loaded = load_config(str(config_path(isolated_home)))
    delivered = asyncio.run(run_test(loaded, prove_token=False, record=False))
    assert delivered.ok and auth.grants == ["client_credentials"]
    tested = asyncio.run(run_test(loaded, record=False))
    assert tested.ok and auth.grants == ["client_credentials"] * 2


def test_a_quoted_device_code_is_masked_during_login(
    isolated_home: Path, ca: LocalCA, auth: AuthServer, smtp: BearerSmtp
) -> None:
    write_config(isolated_home, smtp, auth)
    quote = quote_request("invalid_client")

    def polls_quoted(handler: object, path: str, raw: bytes) -> bool:
        return path.endswith("/token") and quote(handler, path, raw)

    auth.misbehave = polls_quoted
    login = cli(isolated_home, ca, "oauth2", "login", "--json", timeout=90)
    assert login.returncode == 77, said(login)
    assert "bad request" in said(login)
    (device_code,) = auth.devices
    assert_no_secret(login, device_code)
