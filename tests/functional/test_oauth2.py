"""OAuth2 end to end: a local authorisation server (tests/support/oauth2_server.py), the real
command line, and an SMTP server that accepts only that server's tokens."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from tests.support import REPO, oauth2_rig
from tests.support.cli_helpers import Result, config_path, run_cli
from tests.support.oauth2_rig import MAILBOX, cli, device_login, stored_tokens, write_config
from tests.support.oauth2_server import AuthServer, BearerSmtp
from tests.support.smtp_servers import LocalCA

# The rig (tests/support/oauth2_rig.py): the CA, the authorisation server, the SMTP server.
ca = oauth2_rig.ca
auth = oauth2_rig.auth
smtp = oauth2_rig.smtp


# --------------------------------------------------------------------------- device code


def test_device_code_login_then_send_test_passes_and_no_token_is_shown(
    isolated_home: Path, ca: LocalCA, auth: AuthServer, smtp: BearerSmtp
) -> None:
    write_config(isolated_home, smtp, auth)
    before = cli(isolated_home, ca, "oauth2", "token")
    assert before.returncode == 77
    assert "oauth2 login" in before.stderr

    login, _ = device_login(isolated_home, ca, auth)
    assert login.returncode == 0, login.stderr
    assert f"Signed in as {MAILBOX}" in login.stdout
    assert "authorization_pending" not in login.stdout + login.stderr
    credentials = config_path(isolated_home).parent / "credentials.toml"
    assert credentials.stat().st_mode & 0o777 == 0o600
    assert (
        "token" not in config_path(isolated_home).read_text().split("[oauth2]")[1].split("\n", 1)[0]
    )
    access = str(stored_tokens(isolated_home)["access_token"])
    assert access not in config_path(isolated_home).read_text()

    status = cli(isolated_home, ca, "oauth2", "status", "--json")
    assert status.returncode == 0, status.stderr
    document = status.json()
    assert document["signed_in"] is True
    assert document["account"] == MAILBOX
    assert document["scopes"] == ["https://outlook.office.com/SMTP.Send"]
    assert document["expires_in"] > 3000
    assert access not in status.stdout and "rt-" not in status.stdout

    sent = cli(isolated_home, ca, "send-test")
    assert sent.returncode == 0, sent.stdout + sent.stderr
    assert len(smtp.messages) == 1 and smtp.messages[0].login == MAILBOX
    assert access not in sent.stdout + sent.stderr
    assert "XOAUTH2" in sent.stdout
    # A test proves the sign-in, not the cache: the stored refresh token was used, and said so.
    assert auth.grants.count("refresh_token") == 1
    assert "refreshed" in sent.stdout and "stored sign-in" in sent.stdout
    refreshed = str(stored_tokens(isolated_home)["access_token"])
    assert refreshed != access and refreshed not in sent.stdout + sent.stderr

    # passwordeval's `oauth2 token` serves the stored token while it is valid.
    printed = cli(isolated_home, ca, "oauth2", "token")
    assert printed.returncode == 0 and printed.stdout.strip() == refreshed
    assert auth.grants.count("refresh_token") == 1


def test_expired_access_token_is_refreshed_without_a_new_login(
    isolated_home: Path, ca: LocalCA, auth: AuthServer, smtp: BearerSmtp
) -> None:
    auth.access_lifetime = 60  # inside the 5-minute margin: every use refreshes it
    write_config(isolated_home, smtp, auth)
    login, _ = device_login(isolated_home, ca, auth)
    assert login.returncode == 0, login.stderr
    first = stored_tokens(isolated_home)

    sent = cli(isolated_home, ca, "send-test")
    assert sent.returncode == 0, sent.stdout + sent.stderr
    assert auth.grants.count("refresh_token") == 1
    second = stored_tokens(isolated_home)
    # The server rotates refresh tokens; the new one was saved (the old one is dead).
    assert second["refresh_token"] != first["refresh_token"]
    assert second["access_token"] != first["access_token"]
    assert len(smtp.messages) == 1

    again = cli(isolated_home, ca, "oauth2", "token")
    assert again.returncode == 0, again.stderr
    assert auth.grants.count("refresh_token") == 2


def test_concurrent_refreshes_never_spend_one_rotating_refresh_token_twice(
    isolated_home: Path, ca: LocalCA, auth: AuthServer, smtp: BearerSmtp
) -> None:
    auth.access_lifetime = 60  # every `oauth2 token` refreshes, and the server rotates
    write_config(isolated_home, smtp, auth)
    assert device_login(isolated_home, ca, auth)[0].returncode == 0
    results: list[Result] = []
    threads = [
        threading.Thread(target=lambda: results.append(cli(isolated_home, ca, "oauth2", "token")))
        for _ in range(3)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [r.returncode for r in results] == [0, 0, 0], [r.stderr for r in results]
    assert auth.grants.count("refresh_token") == 3


def test_revoked_refresh_token_asks_for_a_new_login(
    isolated_home: Path, ca: LocalCA, auth: AuthServer, smtp: BearerSmtp
) -> None:
    auth.access_lifetime = 60
    write_config(isolated_home, smtp, auth)
    assert device_login(isolated_home, ca, auth)[0].returncode == 0
    auth.revoke_refresh_tokens()

    token = cli(isolated_home, ca, "oauth2", "token")
    assert token.returncode == 77
    assert token.stdout == ""
    assert "run `tui-mailsetup oauth2 login`" in token.stderr
    assert "invalid_grant" in token.stderr

    sent = cli(isolated_home, ca, "send-test", "--json")
    assert sent.returncode == 77
    document = sent.json()
    assert document["ok"] is False and document["stage"] == "auth"
    assert "oauth2 login" in json.dumps(document["diagnosis"])
    assert smtp.messages == []

    status = cli(isolated_home, ca, "oauth2", "status")
    assert status.returncode == 0  # the store is there; the refresh fails only when used

    logout = cli(isolated_home, ca, "oauth2", "logout")
    assert logout.returncode == 0 and "removed" in logout.stdout
    assert cli(isolated_home, ca, "oauth2", "status").returncode == 77


def test_token_refused_by_the_server_shows_the_decoded_334_continuation(
    isolated_home: Path, ca: LocalCA, auth: AuthServer, smtp: BearerSmtp
) -> None:
    write_config(isolated_home, smtp, auth)
    assert device_login(isolated_home, ca, auth)[0].returncode == 0
    smtp.refuse_first = 99  # the server refuses every token (a conditional-access policy)

    sent = cli(isolated_home, ca, "send-test")
    assert sent.returncode == 77, sent.stdout
    assert "status=401" in sent.stdout + sent.stderr
    assert "scope=https://outlook.office.com/SMTP.Send" in sent.stdout + sent.stderr
    assert "535 5.7.3" in sent.stdout + sent.stderr
    assert "oauth2 login" in sent.stdout + sent.stderr
    # Renewed once and retried once, in the same session; never a third attempt.
    assert "renewing it once and retrying AUTH" in sent.stdout + sent.stderr
    assert len(smtp.tokens) == 2 and smtp.tokens[0] != smtp.tokens[1]
    for token in smtp.tokens:
        assert token not in sent.stdout + sent.stderr
    # The client answered each error challenge with an empty line, as XOAUTH2 requires.
    assert smtp.continuation_answers == [b"", b""]


@pytest.mark.slow
def test_device_code_denied_and_wrong_account(
    isolated_home: Path, ca: LocalCA, auth: AuthServer, smtp: BearerSmtp
) -> None:
    write_config(isolated_home, smtp, auth)
    denied, _ = device_login(isolated_home, ca, auth, deny=True)
    assert denied.returncode == 77
    assert "access_denied" in denied.stderr

    # Signed in as somebody else: the SMTP server refuses the token for this mailbox.
    other, _ = device_login(isolated_home, ca, auth, account="bob@contoso.test")
    assert other.returncode == 0
    sent = cli(isolated_home, ca, "send-test")
    assert sent.returncode == 77
    assert (
        "issued for another account" in sent.stdout + sent.stderr
        or "mailbox" in sent.stdout + sent.stderr
    )


# --------------------------------------------------------------------------- flows in process


def _loaded(home: Path, auth: AuthServer, smtp: BearerSmtp, **oauth2: object) -> object:
    from tui_mailsetup.config_file import load_config

    return load_config(str(write_config(home, smtp, auth, **oauth2)))


def test_slow_down_and_expired_token(
    isolated_home: Path,
    ca: LocalCA,
    auth: AuthServer,
    smtp: BearerSmtp,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from tui_mailsetup.oauth2 import flows
    from tui_mailsetup.oauth2.access import login
    from tui_mailsetup.oauth2.errors import OAuth2Error

    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(ca.ca_path))
    monkeypatch.setattr(flows, "SLOW_DOWN_STEP", 0.5)
    monkeypatch.setattr(flows, "MIN_INTERVAL", 0.1)  # the RFC's 5 s floor, shortened to test
    loaded = _loaded(isolated_home, auth, smtp)
    waits: list[float] = []

    auth.slow_down_once = True

    def approve(prompt: flows.DevicePrompt) -> None:
        threading.Timer(1.0, auth.approve, (prompt.user_code, MAILBOX)).start()

    tokens = login(loaded, approve, on_wait=waits.append)  # type: ignore[arg-type]
    assert tokens.refresh_token
    # After slow_down the client waits longer, for good (RFC 8628 §3.5).
    assert waits[0] == pytest.approx(0.2)
    assert waits[-1] == pytest.approx(0.7)

    auth.device_lifetime = 1
    with pytest.raises(OAuth2Error) as failure:
        login(loaded, lambda prompt: None)  # type: ignore[arg-type]
    assert failure.value.error in {"expired_token"}
    assert "expires" in failure.value.fix

    cancel = threading.Event()
    auth.device_lifetime = 600
    threading.Timer(0.3, cancel.set).start()
    with pytest.raises(OAuth2Error, match="cancelled"):
        login(loaded, lambda prompt: None, cancel=cancel)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- app-only, service account


def test_client_credentials_send_test_passes(
    isolated_home: Path, ca: LocalCA, auth: AuthServer, smtp: BearerSmtp
) -> None:
    write_config(isolated_home, smtp, auth, flow="client-credentials", tenant="contoso.test")
    missing = cli(isolated_home, ca, "check", "--offline")
    assert missing.returncode == 78 and "oauth2.client_secret" in missing.stdout

    wrong = cli(
        isolated_home, ca, "send-test", env={"MAILSETUP_OAUTH2__CLIENT_SECRET": "not-the-secret"}
    )
    assert wrong.returncode == 77
    assert (
        "AADSTS7000215" in wrong.stdout + wrong.stderr
        and "set-secret oauth2.client_secret" in wrong.stdout + wrong.stderr
    )
    assert "not-the-secret" not in wrong.stdout + wrong.stderr

    stored = cli(
        isolated_home, ca, "set-secret", "oauth2.client_secret", stdin=auth.client_secret + "\n"
    )
    assert stored.returncode == 0, stored.stderr
    sent = cli(isolated_home, ca, "send-test")
    assert sent.returncode == 0, sent.stdout + sent.stderr
    assert smtp.messages[-1].login == MAILBOX
    assert auth.grants == ["client_credentials", "client_credentials"]
    assert auth.client_secret not in sent.stdout
    status = cli(isolated_home, ca, "oauth2", "status", "--json").json()
    assert status["scopes"] == ["https://outlook.office365.com/.default"]


def test_client_credentials_with_a_certificate(
    isolated_home: Path, ca: LocalCA, auth: AuthServer, smtp: BearerSmtp, tmp_path: Path
) -> None:
    certificate = auth.register_app_certificate(tmp_path)
    write_config(
        isolated_home,
        smtp,
        auth,
        flow="client-credentials",
        tenant="contoso.test",
        certificate_file=str(certificate),
    )
    # A certificate stands in for the client secret: validation asks for neither.
    assert "oauth2" not in cli(isolated_home, ca, "check", "--offline").stdout
    sent = cli(isolated_home, ca, "send-test")
    assert sent.returncode == 0, sent.stdout + sent.stderr
    assert smtp.messages[-1].login == MAILBOX

    certificate.chmod(0o644)
    cli(isolated_home, ca, "oauth2", "logout")
    refused = cli(isolated_home, ca, "oauth2", "token")
    assert refused.returncode == 78
    assert "chmod" in refused.stderr

    (tmp_path / "ec").mkdir()
    ec = auth.register_app_certificate(tmp_path / "ec", rsa_key=False)
    write_config(
        isolated_home, smtp, auth, flow="client-credentials", tenant="t", certificate_file=str(ec)
    )
    not_rsa = cli(isolated_home, ca, "oauth2", "token")
    assert not_rsa.returncode == 78
    assert "RSA (RS256) only" in not_rsa.stderr


def test_google_service_account_send_test_passes(
    isolated_home: Path, ca: LocalCA, auth: AuthServer, smtp: BearerSmtp, tmp_path: Path
) -> None:
    key = auth.service_account_key(tmp_path, "mailer@project.iam.test")
    auth.delegated_users.add(MAILBOX)
    write_config(
        isolated_home,
        smtp,
        auth,
        provider="google",
        flow="service-account",
        client_id="",
        service_account_file=str(key),
    )
    sent = cli(isolated_home, ca, "send-test")
    assert sent.returncode == 0, sent.stdout + sent.stderr
    assert auth.grants == ["urn:ietf:params:oauth:grant-type:jwt-bearer"]
    assert smtp.messages[-1].login == MAILBOX

    auth.delegated_users.clear()
    cli(isolated_home, ca, "oauth2", "logout")
    refused = cli(isolated_home, ca, "oauth2", "token")
    assert refused.returncode == 77
    assert "Domain-wide delegation" in refused.stderr


def test_google_device_flow_cannot_get_the_gmail_scope(isolated_home: Path, ca: LocalCA) -> None:
    path = config_path(isolated_home)
    path.parent.mkdir(parents=True, mode=0o700)
    path.write_text(
        '[smtp]\nhost = "smtp.gmail.com"\nusername = "a@gmail.com"\nauth = "xoauth2"\n'
        '[sender]\naddress = "a@gmail.com"\n[oauth2]\nprovider = "google"\nclient_id = "x"\n'
    )
    check = cli(isolated_home, ca, "check", "--offline")
    assert check.returncode == 78
    assert "does not grant https://mail.google.com/ to the device-code flow" in check.stdout
    login = cli(isolated_home, ca, "oauth2", "login")
    assert login.returncode == 78 and "service-account" in login.stderr


# --------------------------------------------------------------------------- OAUTHBEARER, presets


def test_oauthbearer_when_xoauth2_is_not_offered(
    isolated_home: Path, ca: LocalCA, auth: AuthServer
) -> None:
    server = BearerSmtp(auth, ca, mechanisms=("OAUTHBEARER",)).start()
    try:
        write_config(isolated_home, server, auth)
        assert device_login(isolated_home, ca, auth)[0].returncode == 0
        sent = cli(isolated_home, ca, "send-test")
        assert sent.returncode == 0, sent.stdout
        assert "OAUTHBEARER" in sent.stdout
        assert server.messages[-1].login == MAILBOX
        server.refuse_first = 99
        refused = cli(isolated_home, ca, "send-test")
        assert refused.returncode == 77 and "status=401" in refused.stdout + refused.stderr
        assert server.continuation_answers == [b"\x01", b"\x01"]
    finally:
        server.stop()


def test_microsoft_password_warns_of_the_december_2026_cutoff(
    isolated_home: Path, ca: LocalCA
) -> None:
    path = config_path(isolated_home)
    path.parent.mkdir(parents=True, mode=0o700)
    path.write_text(
        '[smtp]\nhost = "smtp.office365.com"\nusername = "a@contoso.test"\n'
        '[sender]\naddress = "a@contoso.test"\n'
    )
    check = cli(isolated_home, ca, "check", "--offline", env={"MAILSETUP_SMTP__PASSWORD": "pw"})
    assert "December 2026" in check.stdout
    assert "tui-mailsetup set smtp.auth xoauth2" in check.stdout


# --------------------------------------------------------------------------- msmtp, postfix


def test_msmtp_sends_with_the_exported_file_through_passwordeval(
    isolated_home: Path, ca: LocalCA, auth: AuthServer, smtp: BearerSmtp, tmp_path: Path
) -> None:
    msmtp = shutil.which("msmtp")
    if msmtp is None:
        pytest.skip("msmtp is not installed (.ci/run installs it)")
    auth.access_lifetime = 60  # passwordeval refreshes the token on every message
    write_config(isolated_home, smtp, auth)
    assert device_login(isolated_home, ca, auth)[0].returncode == 0
    exported = tmp_path / "msmtprc"
    result = cli(isolated_home, ca, "export", "--format", "msmtp", "--output", str(exported))
    assert result.returncode == 0, result.stderr
    text = exported.read_text()
    assert "auth xoauth2" in text and "oauth2 token" in text
    assert "at-" not in text and "rt-" not in text
    env = {
        **os.environ,
        "HOME": str(isolated_home),
        "REQUESTS_CA_BUNDLE": str(ca.ca_path),
        "PYTHONPATH": os.environ.get("PYTHONPATH", str(REPO)),
    }
    message = f"From: {MAILBOX}\nTo: {MAILBOX}\nSubject: via msmtp\n\nhello\n"
    completed = subprocess.run(
        [msmtp, "-C", str(exported), "-t"],
        input=message,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert completed.returncode == 0, completed.stderr
    assert smtp.messages[-1].login == MAILBOX
    assert b"via msmtp" in smtp.messages[-1].data
    assert auth.grants.count("refresh_token") == 1


def test_postfix_export_names_the_plugin_and_the_msmtp_route(
    isolated_home: Path, ca: LocalCA, auth: AuthServer, smtp: BearerSmtp
) -> None:
    write_config(isolated_home, smtp, auth)
    result = cli(isolated_home, ca, "export", "--format", "postfix")
    assert result.returncode == 0, result.stderr
    assert "SASL XOAUTH2 plug-in" in result.stdout
    assert "export --format msmtp" in result.stdout


# --------------------------------------------------------------------------- TLS trust


def test_token_endpoint_trust_follows_ssl_cert_file(
    isolated_home: Path, ca: LocalCA, auth: AuthServer, smtp: BearerSmtp
) -> None:
    write_config(isolated_home, smtp, auth, flow="client-credentials", tenant="contoso.test")
    # Nothing inherited from this machine's environment decides the trust.
    secret = {
        "MAILSETUP_OAUTH2__CLIENT_SECRET": auth.client_secret,
        "REQUESTS_CA_BUNDLE": "",
        "CURL_CA_BUNDLE": "",
        "SSL_CERT_FILE": "",
    }
    untrusted = run_cli("oauth2", "token", home=isolated_home, env=secret)
    assert untrusted.returncode == 76
    assert "REQUESTS_CA_BUNDLE or SSL_CERT_FILE" in untrusted.stderr
    trusted = run_cli(
        "oauth2", "token", home=isolated_home, env={**secret, "SSL_CERT_FILE": str(ca.ca_path)}
    )
    assert trusted.returncode == 0, trusted.stderr
    assert trusted.stdout.startswith("at-")


# --------------------------------------------------------------------------- import cost


def test_password_path_imports_no_oauth2_library() -> None:
    code = (
        "import sys\n"
        "import tui_mailsetup.cli.smtp_cmds, tui_mailsetup.drivers.smtp, tui_mailsetup.validation\n"
        "import tui_mailsetup.export, tui_mailsetup.oauth2.access\n"
        "heavy = [m for m in ('authlib', 'requests', 'google.auth') if m in sys.modules]\n"
        "print(heavy)\n"
    )
    completed = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert completed.stdout.strip() == "[]"
