"""The Microsoft Graph driver against a local Graph stand-in and token endpoint
(tests/oauth2_server.py: GraphApi, AuthServer), over HTTPS with a trustme CA, through the
real command line: each Graph answer people meet gives its diagnosis and exit code, and no
access token ever reaches the output."""

from __future__ import annotations

import email
import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import oauth2_rig
from tests.support.cli_helpers import Result, config_path, run_cli
from tests.support.oauth2_rig import MAILBOX, device_login
from tests.support.oauth2_server import AuthServer, GraphApi, graph_error
from tests.support.smtp_servers import LocalCA

# The fixtures of the OAuth2 tests: the local CA, the token endpoint (app-only tokens for MAILBOX).
ca = oauth2_rig.ca
auth = oauth2_rig.auth

RECIPIENT = "dev@contoso.test"


@pytest.fixture
def graph(auth: AuthServer, ca: LocalCA) -> Iterator[GraphApi]:
    server = GraphApi(auth, ca, {MAILBOX}).start()
    yield server
    server.stop()


def write_config(home: Path, graph: GraphApi, auth: AuthServer, **extra: object) -> Path:
    values: dict[str, object] = {
        "driver": "graph",
        "sender.address": MAILBOX,
        "sender.name": "Contoso alerts",
        "graph.endpoint": graph.url,
        "smtp.timeout": 20,
        "oauth2.provider": "microsoft",
        "oauth2.flow": "client-credentials",
        "oauth2.tenant": "contoso.test",
        "oauth2.client_id": auth.client_id,
        "oauth2.token_url": auth.token_url,
    }
    values.update(extra)
    sections: dict[str, list[str]] = {"": []}
    for key, value in values.items():
        section, _, name = key.rpartition(".")
        sections.setdefault(section, []).append(f"{name} = {json.dumps(value)}")
    lines = list(sections.pop(""))
    for section, entries in sections.items():
        lines += [f"[{section}]", *entries]
    path = config_path(home)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    path.write_text("\n".join(lines) + "\n")
    return path


def cli(home: Path, ca: LocalCA, auth: AuthServer, *args: str, **env: str) -> Result:
    environment = {
        "SSL_CERT_FILE": str(ca.ca_path),
        "REQUESTS_CA_BUNDLE": str(ca.ca_path),
        "MAILSETUP_OAUTH2__CLIENT_SECRET": auth.client_secret,
        **env,
    }
    return run_cli(*args, home=home, env=environment)


def assert_no_token(auth: AuthServer, result: Result) -> None:
    output = result.stdout + result.stderr
    assert auth.access_tokens, "a token was issued"
    for token in auth.access_tokens:
        assert token not in output
    assert auth.client_secret not in output


def test_send_test_posts_the_mime_message_and_shows_the_request_id(
    isolated_home: Path, ca: LocalCA, auth: AuthServer, graph: GraphApi
) -> None:
    write_config(isolated_home, graph, auth)
    sent = cli(isolated_home, ca, auth, "send-test", "--to", RECIPIENT)
    assert sent.returncode == 0, sent.stdout + sent.stderr
    assert len(graph.sent) == 1 and graph.sent[0].mailbox == MAILBOX
    message = email.message_from_bytes(graph.sent[0].mime)
    assert message["To"] == RECIPIENT and MAILBOX in message["From"]
    assert message["Message-ID"]
    assert f"POST {graph.url}/v1.0/users/{MAILBOX}/sendMail" in sent.stdout
    assert "Authorization: Bearer [access token redacted]" in sent.stdout
    assert "request-id: 5e6f-sent" in sent.stdout
    assert "Sent Items" in sent.stdout  # the MIME form keeps a copy: said, not hidden
    # Graph's scope for client credentials, on the endpoint's host (national clouds, tests).
    issued = next(iter(auth.access_tokens.values()))
    assert issued.scope == f"https://127.0.0.1:{graph.port}/.default"
    assert_no_token(auth, sent)


def test_check_verifies_the_token_and_the_mailbox_without_sending(
    isolated_home: Path, ca: LocalCA, auth: AuthServer, graph: GraphApi
) -> None:
    write_config(isolated_home, graph, auth)
    checked = cli(isolated_home, ca, auth, "check", "--no-dns", "--json")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    document = checked.json()
    assert document["ok"] is True
    assert document["driver_details"]["mailbox_verified"] is True
    assert [seen.method for seen in graph.requests] == ["GET"]
    assert graph.requests[0].path.startswith(f"/v1.0/users/{MAILBOX}?$select=id")
    assert graph.sent == []

    # Mail.Send alone cannot read users: the token is proven, the mailbox is a warning.
    graph.can_read_users = False
    warned = cli(isolated_home, ca, auth, "check", "--no-dns")
    assert warned.returncode == 0, warned.stdout + warned.stderr
    assert "mailbox was not verified" in warned.stdout and "User.ReadBasic.All" in warned.stdout
    assert graph.sent == []
    assert_no_token(auth, warned)


FAILURES = [
    pytest.param(
        graph_error(401, "InvalidAuthenticationToken", "Invalid audience."),
        77,
        "wrong audience",
        "https://graph.microsoft.com/.default",
        id="401-audience",
    ),
    pytest.param(
        graph_error(403, "ErrorAccessDenied", "Access is denied. Check credentials and try again."),
        77,
        "denied access",
        "Mail.Send",
        id="403-permission",
    ),
    pytest.param(
        graph_error(
            403,
            "ErrorAccessDenied",
            "Access to OData is disabled: [RAOP] : Blocked by tenant configured AppOnly "
            "AccessPolicy settings.",
        ),
        77,
        "denied access",
        "ApplicationAccessPolicy",
        id="403-access-policy",
    ),
    pytest.param(
        graph_error(404, "ErrorInvalidUser", "The requested user 'x' is invalid."),
        67,
        "knows no mailbox",
        "graph.mailbox",
        id="404-invalid-user",
    ),
    pytest.param(
        graph_error(
            404,
            "MailboxNotEnabledForRESTAPI",
            "The mailbox is either inactive, soft-deleted, or is hosted on-premise.",
        ),
        67,
        "no Exchange Online mailbox",
        "licence",
        id="404-not-enabled",
    ),
    pytest.param(
        graph_error(
            403,
            "ErrorSendAsDenied",
            "The user account which was used to submit this request does not have the right to "
            "send mail on behalf of the specified sending account.",
        ),
        77,
        "may not send as",
        "Send As",
        id="send-as-denied",
    ),
    pytest.param(
        graph_error(
            429,
            "ApplicationThrottled",
            "Application is over its MailboxConcurrency limit.",
            **{"Retry-After": "120"},
        ),
        75,
        "throttling",
        "retry after",
        id="429",
    ),
    pytest.param(
        graph_error(503, "ServiceUnavailable", "Service unavailable.", **{"Retry-After": "30"}),
        75,
        "unavailable",
        "retry after",
        id="503",
    ),
]


@pytest.mark.parametrize(("reply", "code", "cause", "fix"), FAILURES)
def test_graph_errors_are_diagnosed_with_their_exit_code(
    isolated_home: Path,
    ca: LocalCA,
    auth: AuthServer,
    graph: GraphApi,
    reply: tuple[int, dict[str, str], bytes],
    code: int,
    cause: str,
    fix: str,
) -> None:
    write_config(
        isolated_home,
        graph,
        auth,
        **{"sender.address": "other@contoso.test", "graph.mailbox": MAILBOX},
    )
    graph.fail = reply
    failed = cli(isolated_home, ca, auth, "send-test", "--to", RECIPIENT)
    assert failed.returncode == code, failed.stdout + failed.stderr
    assert cause in failed.stdout + failed.stderr and fix in failed.stdout + failed.stderr, (
        failed.stdout
    )
    assert "request-id: 5e6f-err" in failed.stdout + failed.stderr
    assert graph.sent == []
    assert_no_token(auth, failed)
    as_json = cli(isolated_home, ca, auth, "send-test", "--to", RECIPIENT, "--json")
    document = as_json.json()
    assert as_json.returncode == code and document["ok"] is False
    assert_no_token(auth, as_json)
    if code == 75:
        retry_after = document["diagnosis"]["retry_after"]
        assert retry_after is not None and retry_after > time.time()


def test_an_expired_token_is_diagnosed_as_expiry(
    isolated_home: Path, ca: LocalCA, auth: AuthServer, graph: GraphApi
) -> None:
    write_config(isolated_home, graph, auth)
    assert cli(isolated_home, ca, auth, "send-test", "--to", RECIPIENT).returncode == 0
    auth.expire_access_tokens()  # revoked or expired early: the cached copy still looks valid
    failed = cli(isolated_home, ca, auth, "send-test", "--to", RECIPIENT)
    assert failed.returncode == 77, failed.stdout
    assert (
        "expired" in failed.stdout + failed.stderr
        and "timedatectl" in failed.stdout + failed.stderr
    )
    assert_no_token(auth, failed)


def test_a_token_quoted_back_by_the_server_is_masked(
    isolated_home: Path, ca: LocalCA, auth: AuthServer, graph: GraphApi
) -> None:
    write_config(isolated_home, graph, auth)
    assert cli(isolated_home, ca, auth, "send-test", "--to", RECIPIENT).returncode == 0
    token = next(iter(auth.access_tokens))
    graph.fail = graph_error(
        400, "ErrorInvalidRequest", f"bad token {token} here", **{"request-id": f"id-{token}"}
    )
    failed = cli(isolated_home, ca, auth, "send-test", "--to", RECIPIENT)
    assert failed.returncode == 65, failed.stdout
    assert "bad token ******** here" in failed.stdout + failed.stderr
    assert_no_token(auth, failed)


def test_a_cached_smtp_token_is_not_used_for_graph(
    isolated_home: Path, ca: LocalCA, auth: AuthServer, graph: GraphApi
) -> None:
    """Switching driver = smtp → graph: the app-only token cached for SMTP's audience is
    fetched again with Graph's scope instead of being refused by Graph."""
    write_config(
        isolated_home,
        graph,
        auth,
        driver="smtp",
        **{"smtp.host": "127.0.0.1", "smtp.username": MAILBOX, "smtp.auth": "xoauth2"},
    )
    token = cli(isolated_home, ca, auth, "oauth2", "token")
    assert token.returncode == 0, token.stderr
    write_config(isolated_home, graph, auth)
    sent = cli(isolated_home, ca, auth, "send-test", "--to", RECIPIENT)
    assert sent.returncode == 0, sent.stdout + sent.stderr
    assert auth.grants == ["client_credentials", "client_credentials"]


def test_missing_client_secret_is_a_configuration_error_before_any_request(
    isolated_home: Path, ca: LocalCA, auth: AuthServer, graph: GraphApi
) -> None:
    write_config(isolated_home, graph, auth)
    failed = cli(isolated_home, ca, auth, "send-test", MAILSETUP_OAUTH2__CLIENT_SECRET="")
    assert failed.returncode == 78, failed.stdout + failed.stderr
    assert "oauth2.client_secret" in failed.stdout + failed.stderr
    assert auth.grants == [] and graph.requests == []


def test_graph_export_env_and_json_others_refuse(
    isolated_home: Path, ca: LocalCA, auth: AuthServer, graph: GraphApi
) -> None:
    write_config(isolated_home, graph, auth)
    env = cli(isolated_home, ca, auth, "export", "--format", "env")
    assert env.returncode == 0, env.stderr
    assert "MAIL_MAILER=microsoft-graph" in env.stdout
    assert f"AZURE_CLIENT_ID={auth.client_id}" in env.stdout
    assert "AZURE_TENANT_ID=contoso.test" in env.stdout
    assert f"GRAPH_MAILBOX={MAILBOX}" in env.stdout
    assert auth.client_secret not in env.stdout
    as_json = cli(isolated_home, ca, auth, "export", "--format", "json")
    assert as_json.returncode == 0 and json.loads(as_json.stdout)["graph"]["endpoint"] == graph.url
    refused = cli(isolated_home, ca, auth, "export", "--format", "msmtp")
    assert refused.returncode == 78
    assert "Microsoft Graph" in refused.stderr and "env or json" in refused.stderr


def test_device_code_sign_in_asks_for_graph_mail_send_and_sends(
    isolated_home: Path, ca: LocalCA, auth: AuthServer, graph: GraphApi
) -> None:
    """A person's mailbox: `oauth2 login` with driver = graph asks for Graph's delegated
    Mail.Send (and offline_access), and the send-test uses that sign-in."""
    write_config(
        isolated_home,
        graph,
        auth,
        **{"oauth2.flow": "device-code", "oauth2.device_authorization_url": auth.device_url},
    )
    not_yet = cli(isolated_home, ca, auth, "send-test", "--to", RECIPIENT)
    assert not_yet.returncode == 77 and "oauth2 login" in not_yet.stdout + not_yet.stderr
    login, _ = device_login(isolated_home, ca, auth, account=MAILBOX)
    assert login.returncode == 0, login.stdout + login.stderr
    sent = cli(isolated_home, ca, auth, "send-test", "--to", RECIPIENT)
    assert sent.returncode == 0, sent.stdout + sent.stderr
    issued = next(iter(auth.access_tokens.values()))
    assert issued.scope == f"https://127.0.0.1:{graph.port}/Mail.Send"
    assert len(graph.sent) == 1
    assert_no_token(auth, sent)


def test_a_person_s_smtp_sign_in_is_not_used_for_graph(tmp_path: Path) -> None:
    """A stored device-code sign-in made for SMTP's scope: Graph would refuse its tokens,
    so a new sign-in is asked for (77) rather than a 401 from Graph."""
    from tui_mailsetup.config_file import load_config, write_values
    from tui_mailsetup.drivers.graph_auth import graph_access_token
    from tui_mailsetup.oauth2.errors import LoginRequired
    from tui_mailsetup.oauth2.store import TokenSet, save_tokens

    config = tmp_path / "conf" / "config.toml"
    write_values(
        config,
        {
            "driver": "graph",
            "sender.address": MAILBOX,
            "oauth2.client_id": "app",
            "oauth2.token_url": "https://127.0.0.1:9/token",
            "oauth2.device_authorization_url": "https://127.0.0.1:9/devicecode",
        },
    )
    loaded = load_config(config)
    save_tokens(
        loaded,
        TokenSet(
            "device-code",
            "app",
            "https://127.0.0.1:9/token",
            "at-smtp",
            expires_at=time.time() + 3600,
            scopes=["https://outlook.office.com/SMTP.Send"],
        ),
    )
    with pytest.raises(LoginRequired, match="not Microsoft Graph"):
        graph_access_token(loaded)
