"""export: every format read back by the program it is for (msmtp, postconf, dotenv, Python).

Values are chosen to break naive writers: quotes, spaces, ``$``, ``#`` and
non-ASCII. Only 127.0.0.1 is contacted (the sandbox).
"""

from __future__ import annotations

import io
import json
import os
import shutil
import stat
import subprocess
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from dotenv import dotenv_values

from tests.support.cli_helpers import run_cli
from tui_mailsetup import export
from tui_mailsetup.config_file import write_values
from tui_mailsetup.export import ExportError, ExportOptions, render
from tui_mailsetup.sandbox import Sandbox
from tui_mailsetup.secrets import store_secret
from tui_mailsetup.settings import MailSettings

TRICKY_PASSWORD = "p a$s\"w'o#rd\\ $HOME ü"
TRICKY_USER = 'al ice"x #1 $USER'
TRICKY_NAME = 'Acme, "Licensing" $x # ü'

needs_msmtp = pytest.mark.skipif(shutil.which("msmtp") is None, reason="msmtp is not installed")
needs_postconf = pytest.mark.skipif(
    shutil.which("postconf") is None, reason="postconf (Postfix) is not installed"
)


def tricky_settings(**smtp: Any) -> MailSettings:
    values: dict[str, Any] = {
        "host": "smtp.exämple.com",
        "port": 587,
        "encryption": "starttls",
        "username": TRICKY_USER,
        "ca_file": "/etc/ssl/my $dir/ca #1.pem",
        "ehlo_name": "client.example.com",
    }
    values.update(smtp)
    return MailSettings.model_validate(
        {"smtp": values, "sender": {"name": TRICKY_NAME, "address": "licensing@acme.example"}}
    )


SECRETS = {"smtp.password": TRICKY_PASSWORD, "mailgun.api_key": None, "ses.secret_access_key": None}


def write_config(home: Path, values: dict[str, Any], password: str | None = None) -> Path:
    config = home / "conf" / "config.toml"
    write_values(config, {"sender.address": "licensing@acme.example", **values})
    if password is not None:
        store_secret(config, "smtp.password", password)
    return config


# --------------------------------------------------------------------------- no secrets by default


@pytest.mark.parametrize("fmt", ["msmtp", "postfix", "postfix-sasl", "env", "django", "json"])
def test_no_secret_without_include_secrets(fmt: str) -> None:
    settings = tricky_settings(password=TRICKY_PASSWORD)
    text = render(fmt, settings, ExportOptions(config_path=Path("/etc/x/config.toml")))
    assert TRICKY_PASSWORD not in text
    assert "p a$s" not in text


def test_unknown_format_is_a_usage_error() -> None:
    with pytest.raises(ExportError) as caught:
        render("sendgrid-yaml", tricky_settings())
    assert caught.value.exit_code == 64


def test_line_breaking_values_are_refused() -> None:
    # The settings model already rejects control characters; the exporters
    # must not rely on that alone (model_construct skips validation).
    settings = tricky_settings()
    settings.smtp.__dict__["username"] = "bob\nauth off"
    for fmt in ("msmtp", "postfix-sasl", "env"):
        with pytest.raises(ExportError, match="control character"):
            render(fmt, settings)
    secrets = dict(SECRETS, **{"smtp.password": "x\ny"})
    with pytest.raises(ExportError, match="control character"):
        render("msmtp", tricky_settings(), ExportOptions(secrets=secrets))


def test_fingerprint_is_normalised_to_colon_form() -> None:
    raw = "ab" * 32
    assert export.fingerprint_colons(raw) == ":".join(["AB"] * 32)
    assert export.fingerprint_colons("AB:" * 31 + "AB") == ":".join(["AB"] * 32)
    with pytest.raises(ExportError):
        export.fingerprint_colons("abcd")


def test_ipv6_and_idn_hosts() -> None:
    assert export.ascii_host("[2001:db8::1]") == "2001:db8::1"
    assert export.ascii_host("smtp.exämple.com") == "smtp.xn--exmple-cua.com"
    settings = tricky_settings(host="[2001:db8::1]")
    assert "relayhost = [2001:db8::1]:587" in render("postfix", settings)


# --------------------------------------------------------------------------- env and django


def test_env_reads_back_with_dotenv() -> None:
    text = render("env", tricky_settings(), ExportOptions(secrets=SECRETS))
    values = dotenv_values(stream=io.StringIO(text), interpolate=True)
    assert values["MAIL_MAILER"] == "smtp"
    assert values["MAIL_HOST"] == "smtp.xn--exmple-cua.com"
    assert values["MAIL_PORT"] == "587"
    assert values["MAIL_ENCRYPTION"] == "tls"
    assert values["MAIL_SCHEME"] == "smtp"
    assert values["MAIL_USERNAME"] == TRICKY_USER
    assert values["MAIL_PASSWORD"] == TRICKY_PASSWORD
    assert values["MAIL_FROM_ADDRESS"] == "licensing@acme.example"
    assert values["MAIL_FROM_NAME"] == TRICKY_NAME
    assert values["MAIL_EHLO_DOMAIN"] == "client.example.com"


@pytest.mark.parametrize(
    "value",
    ["plain", "with space", "it's", 'say "hi"', "back\\slash", "${HOME}", "$HOME", "# hash", "ü"],
)
def test_env_quoting_round_trips(value: str) -> None:
    quoted = export.env_quote("X", value)
    # python-dotenv expands ${VAR} even in single quotes; phpdotenv (Laravel)
    # keeps single-quoted text literal, which is what the exporter relies on.
    interpolate = "${" not in value
    if not interpolate:
        assert quoted.startswith("'")
    line = f"X={quoted}\n"
    assert dotenv_values(stream=io.StringIO(line), interpolate=interpolate)["X"] == value


def test_env_refuses_what_dotenv_would_expand() -> None:
    with pytest.raises(ExportError):
        export.env_quote("X", "it's ${HOME}")


def test_env_implicit_tls_and_other_drivers() -> None:
    text = render("env", tricky_settings(port=465, encryption="tls"))
    values = dotenv_values(stream=io.StringIO(text))
    assert (values["MAIL_SCHEME"], values["MAIL_ENCRYPTION"]) == ("smtps", "ssl")
    assert "MAIL_PASSWORD" not in values
    mailgun = MailSettings.model_validate(
        {"driver": "mailgun", "mailgun": {"domain": "mg.acme.example", "region": "eu"}}
    )
    values = dotenv_values(stream=io.StringIO(render("env", mailgun)))
    assert values["MAIL_MAILER"] == "mailgun"
    assert values["MAILGUN_DOMAIN"] == "mg.acme.example"
    assert values["MAILGUN_ENDPOINT"] == "api.eu.mailgun.net"
    ses = MailSettings.model_validate({"driver": "ses", "ses": {"region": "eu-west-1"}})
    values = dotenv_values(stream=io.StringIO(render("env", ses)))
    assert (values["MAIL_MAILER"], values["AWS_DEFAULT_REGION"]) == ("ses", "eu-west-1")


def _exec_django(text: str, environ: dict[str, str] | None = None) -> dict[str, Any]:
    namespace: dict[str, Any] = {}
    old = dict(os.environ)
    try:
        os.environ.update(environ or {})
        exec(compile(text, "settings.py", "exec"), namespace)
    finally:
        os.environ.clear()
        os.environ.update(old)
    return namespace


def test_django_is_valid_python_with_the_right_values() -> None:
    ns = _exec_django(render("django", tricky_settings(), ExportOptions(secrets=SECRETS)))
    assert ns["EMAIL_BACKEND"] == "django.core.mail.backends.smtp.EmailBackend"
    assert ns["EMAIL_HOST"] == "smtp.xn--exmple-cua.com"
    assert ns["EMAIL_PORT"] == 587
    assert (ns["EMAIL_USE_TLS"], ns["EMAIL_USE_SSL"]) == (True, False)
    assert ns["EMAIL_HOST_USER"] == TRICKY_USER
    assert ns["EMAIL_HOST_PASSWORD"] == TRICKY_PASSWORD
    assert ns["EMAIL_TIMEOUT"] == 30
    assert ns["SERVER_EMAIL"] == "licensing@acme.example"
    from email.utils import parseaddr

    assert parseaddr(ns["DEFAULT_FROM_EMAIL"]) == (TRICKY_NAME, "licensing@acme.example")


def test_django_without_secrets_reads_the_environment() -> None:
    text = render("django", tricky_settings(port=465, encryption="tls"))
    ns = _exec_django(text, {"EMAIL_HOST_PASSWORD": "from-env"})
    assert ns["EMAIL_HOST_PASSWORD"] == "from-env"
    assert (ns["EMAIL_USE_TLS"], ns["EMAIL_USE_SSL"]) == (False, True)


def test_django_sendmail_driver_is_refused() -> None:
    with pytest.raises(ExportError, match="sendmail"):
        render("django", MailSettings.model_validate({"driver": "sendmail"}))


def test_json_round_trips_into_the_settings_model() -> None:
    settings = tricky_settings()
    data = json.loads(render("json", settings, ExportOptions(secrets=SECRETS)))
    assert data["smtp"]["password"] == TRICKY_PASSWORD
    again = MailSettings.model_validate(data)
    assert again.smtp.username == TRICKY_USER
    assert again.smtp.password is not None
    assert again.smtp.password.get_secret_value() == TRICKY_PASSWORD
    assert json.loads(render("json", settings))["smtp"]["password"] is None


# --------------------------------------------------------------------------- postfix


def _age(*paths: Path) -> None:
    """Backdate files: Postfix waits until a file it reads is at least a second old
    (so it never reads one mid-write), which costs a second per fresh file."""
    for path in paths:
        path.touch()
        os.utime(path, (path.stat().st_atime - 60, path.stat().st_mtime - 60))


def _postconf(directory: Path, *params: str, expand: bool = False) -> list[str]:
    """Postfix's own reading of main.cf (expanding $names costs postconf about 2 s here)."""
    _age(directory / "main.cf", directory / "master.cf")
    done = subprocess.run(
        ["postconf", "-c", str(directory), *(["-x"] if expand else []), "-h", *params],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "warning" not in done.stderr, done.stderr
    return done.stdout.splitlines()


@needs_postconf
@pytest.mark.parametrize(
    ("smtp", "expected"),
    [
        ({}, {"smtp_tls_security_level": "verify", "smtp_tls_wrappermode": "no"}),
        (
            {"port": 465, "encryption": "tls"},
            {"smtp_tls_security_level": "verify", "smtp_tls_wrappermode": "yes"},
        ),
        ({"verify": False}, {"smtp_tls_security_level": "encrypt"}),
        (
            {"fingerprint": "ab" * 32},
            {
                "smtp_tls_security_level": "fingerprint",
                "smtp_tls_fingerprint_digest": "sha256",
                "smtp_tls_fingerprint_cert_match": ":".join(["AB"] * 32),
            },
        ),
        (
            {"port": 25, "encryption": "none", "username": ""},
            {"smtp_tls_security_level": "none", "smtp_sasl_auth_enable": "no"},
        ),
    ],
)
def test_postfix_main_cf_read_by_postconf(
    tmp_path: Path, smtp: dict[str, Any], expected: dict[str, str]
) -> None:
    settings = tricky_settings(**smtp)
    (tmp_path / "main.cf").write_text(render("postfix", settings))
    names = ["relayhost", *expected]
    values = dict(zip(names, _postconf(tmp_path, *names), strict=True))
    assert values["relayhost"] == f"[smtp.xn--exmple-cua.com]:{settings.smtp.port}"
    for name, value in expected.items():
        assert values[name] == value


@needs_postconf
def test_postfix_sasl_settings_and_dollar_escaping(tmp_path: Path) -> None:
    (tmp_path / "main.cf").write_text(render("postfix", tricky_settings()))
    ca_file, maps, enabled, options, helo = _postconf(
        tmp_path,
        "smtp_tls_CAfile",
        "smtp_sasl_password_maps",
        "smtp_sasl_auth_enable",
        "smtp_sasl_security_options",
        "smtp_helo_name",
        expand=True,
    )
    assert ca_file == "/etc/ssl/my $dir/ca #1.pem"
    assert maps.endswith(f"{tmp_path}/sasl_passwd")
    assert (enabled, options, helo) == ("yes", "noanonymous", "client.example.com")


@needs_postconf
def test_postfix_sasl_passwd_through_postmap(tmp_path: Path) -> None:
    settings = tricky_settings()
    sasl = tmp_path / "sasl_passwd"
    sasl.write_text(render("postfix-sasl", settings, ExportOptions(secrets=SECRETS)))
    (tmp_path / "main.cf").write_text(render("postfix", settings))
    _age(sasl, tmp_path / "main.cf", tmp_path / "master.cf")
    subprocess.run(["postmap", "-c", str(tmp_path), str(sasl)], check=True, capture_output=True)
    looked_up = subprocess.run(
        ["postmap", "-c", str(tmp_path), "-q", "[smtp.xn--exmple-cua.com]:587", f"hash:{sasl}"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert looked_up.stdout.rstrip("\n") == f"{TRICKY_USER}:{TRICKY_PASSWORD}"


def test_postfix_refuses_a_colon_in_the_username() -> None:
    with pytest.raises(ExportError, match="':'"):
        render("postfix-sasl", tricky_settings(username="a:b"), ExportOptions(secrets=SECRETS))


# --------------------------------------------------------------------------- msmtp


def _msmtp_pretend(rc: Path) -> dict[str, str]:
    done = subprocess.run(
        ["msmtp", "-C", str(rc), "--pretend"], capture_output=True, text=True, check=True
    )
    values = {}
    for line in done.stdout.splitlines():
        name, sep, value = line.partition(" = ")
        if sep:
            values[name] = value
    return values


@needs_msmtp
def test_msmtp_reads_back_tricky_values(tmp_path: Path) -> None:
    rc = tmp_path / "msmtprc"
    rc.write_text(render("msmtp", tricky_settings(), ExportOptions(secrets=SECRETS)))
    rc.chmod(0o600)
    values = _msmtp_pretend(rc)
    assert values["host"] == "smtp.xn--exmple-cua.com"
    assert values["port"] == "587"
    assert values["user"] == TRICKY_USER
    assert values["tls"] == "on"
    assert values["tls_starttls"] == "on"
    assert values["tls_trust_file"] == "/etc/ssl/my $dir/ca #1.pem"
    assert values["domain"] == "client.example.com"
    assert values["from"] == "licensing@acme.example"
    assert values["auth"] == "choose"


@needs_msmtp
def test_msmtp_fingerprint_and_passwordeval(tmp_path: Path) -> None:
    # msmtp --pretend runs passwordeval, so this also checks the callback end to end.
    config = write_config(tmp_path / "my conf", {"smtp.host": "127.0.0.1"}, TRICKY_PASSWORD)
    rc = tmp_path / "msmtprc"
    settings = tricky_settings(fingerprint="ab" * 32, port=465, encryption="tls")
    rc.write_text(render("msmtp", settings, ExportOptions(config_path=config)))
    values = _msmtp_pretend(rc)
    assert values["tls_fingerprint"] == ":".join(["AB"] * 32)
    assert values["tls_starttls"] == "off"
    assert values["password"] == "*"
    assert "get-secret smtp.password" in values["passwordeval"]
    assert f"'{config}'" in values["passwordeval"]


def _message(to: str) -> bytes:
    message = EmailMessage()
    message["From"] = "licensing@acme.example"
    message["To"] = to
    message["Subject"] = "sent by msmtp"
    message.set_content("hello from msmtp")
    return bytes(message)


def _send_with_msmtp(rc: Path, to: str) -> subprocess.CompletedProcess[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILSETUP_")}
    return subprocess.run(
        ["msmtp", "-C", str(rc), to],
        input=_message(to),
        capture_output=True,
        timeout=60,
        env=env,
    )


@needs_msmtp
@pytest.mark.parametrize("mode", ["starttls", "tls"])
def test_msmtp_sends_through_the_sandbox_with_passwordeval(
    tmp_path: Path, isolated_home: Path, mode: str
) -> None:
    with Sandbox(mode=mode, password=TRICKY_PASSWORD) as box:  # type: ignore[arg-type]
        config = write_config(
            tmp_path, {f"smtp.{k}": v for k, v in box.smtp_settings().items()}, TRICKY_PASSWORD
        )
        write_values(config, {"sender.address": "licensing@acme.example"})
        rc = tmp_path / "out" / "msmtprc"
        ran = run_cli(
            "--config",
            str(config),
            "export",
            "--format",
            "msmtp",
            "-o",
            str(rc),
            home=isolated_home,
        )
        assert ran.returncode == 0, ran.stderr
        text = rc.read_text()
        assert TRICKY_PASSWORD not in text
        assert "passwordeval" in text
        sent = _send_with_msmtp(rc, "you@example.com")
        assert sent.returncode == 0, sent.stderr.decode()
        [received] = box.wait_for_message()
        assert received.rcpt_tos == ("you@example.com",)
        assert received.authenticated_as == box.username
        assert b"hello from msmtp" in received.data


@needs_msmtp
def test_msmtp_with_included_secret_and_pinned_fingerprint(
    tmp_path: Path, isolated_home: Path
) -> None:
    with Sandbox(mode="starttls", cert="self-signed") as box:
        values = {f"smtp.{k}": v for k, v in box.smtp_settings().items()}
        values["smtp.ca_file"] = ""
        values["smtp.fingerprint"] = box.cert_fingerprint.replace(":", "").lower()
        config = write_config(tmp_path, values, box.password)
        rc = tmp_path / "msmtprc"
        ran = run_cli(
            "--config",
            str(config),
            "export",
            "-f",
            "msmtp",
            "--include-secrets",
            "-o",
            str(rc),
            home=isolated_home,
        )
        assert ran.returncode == 0, ran.stderr
        assert stat.S_IMODE(rc.stat().st_mode) == 0o600
        assert "passwordeval" not in rc.read_text()
        sent = _send_with_msmtp(rc, "pinned@example.com")
        assert sent.returncode == 0, sent.stderr.decode()
        assert box.wait_for_message()[0].rcpt_tos == ("pinned@example.com",)


@needs_msmtp
def test_msmtp_plain_relay_with_explicitly_allowed_plaintext_auth(
    tmp_path: Path, isolated_home: Path
) -> None:
    with Sandbox(mode="plain", auth_require_tls=False) as box:
        values = {f"smtp.{k}": v for k, v in box.smtp_settings().items()}
        assert values["smtp.allow_plaintext_auth"] is True
        config = write_config(tmp_path, values, box.password)
        rc = tmp_path / "msmtprc"
        ran = run_cli(
            "--config", str(config), "export", "-f", "msmtp", "-o", str(rc), home=isolated_home
        )
        assert ran.returncode == 0, ran.stderr
        assert "tls off" in rc.read_text()
        sent = _send_with_msmtp(rc, "you@example.com")
        assert sent.returncode == 0, sent.stderr.decode()
        assert box.wait_for_message()[0].authenticated_as == box.username


@needs_msmtp
def test_msmtp_wrong_password_fails(tmp_path: Path, isolated_home: Path) -> None:
    with Sandbox(mode="starttls") as box:
        config = write_config(
            tmp_path, {f"smtp.{k}": v for k, v in box.smtp_settings().items()}, "not-it"
        )
        rc = tmp_path / "msmtprc"
        assert (
            run_cli(
                "--config", str(config), "export", "-f", "msmtp", "-o", str(rc), home=isolated_home
            ).returncode
            == 0
        )
        sent = _send_with_msmtp(rc, "you@example.com")
        assert sent.returncode == 77  # EX_NOPERM: authentication failed
        assert box.messages == []


# --------------------------------------------------------------------------- the command line


def test_cli_export_modes_and_get_secret(tmp_path: Path, isolated_home: Path) -> None:
    config = write_config(
        tmp_path,
        {
            "smtp.host": "smtp.example.com",
            "smtp.username": "alice",
            "sender.address": "a@example.com",
        },
        TRICKY_PASSWORD,
    )
    out = tmp_path / "exports"
    plain = run_cli(
        "--config", str(config), "export", "-f", "env", "-o", str(out / "a.env"), home=isolated_home
    )
    assert plain.returncode == 0, plain.stderr
    assert stat.S_IMODE((out / "a.env").stat().st_mode) == 0o644
    assert TRICKY_PASSWORD not in (out / "a.env").read_text()

    secret = run_cli(
        "--config",
        str(config),
        "export",
        "-f",
        "env",
        "--include-secrets",
        "-o",
        str(out / "b.env"),
        home=isolated_home,
    )
    assert secret.returncode == 0, secret.stderr
    assert stat.S_IMODE((out / "b.env").stat().st_mode) == 0o600
    assert dotenv_values(out / "b.env")["MAIL_PASSWORD"] == TRICKY_PASSWORD

    sasl = run_cli(
        "--config",
        str(config),
        "export",
        "-f",
        "postfix-sasl",
        "-o",
        str(out / "sasl"),
        home=isolated_home,
    )
    assert sasl.returncode == 0
    assert stat.S_IMODE((out / "sasl").stat().st_mode) == 0o600
    assert "alice:<password>" in (out / "sasl").read_text()

    got = run_cli("--config", str(config), "get-secret", "smtp.password", home=isolated_home)
    assert (got.returncode, got.stdout) == (0, TRICKY_PASSWORD + "\n")

    to_stdout = run_cli("--config", str(config), "export", "--format", "json", home=isolated_home)
    assert json.loads(to_stdout.stdout)["smtp"]["host"] == "smtp.example.com"
    assert TRICKY_PASSWORD not in to_stdout.stdout + to_stdout.stderr


def test_cli_errors(tmp_path: Path, isolated_home: Path) -> None:
    config = write_config(tmp_path, {"sender.address": "a@example.com"})
    no_host = run_cli("--config", str(config), "export", "-f", "msmtp", home=isolated_home)
    assert no_host.returncode == 78
    assert "smtp.host" in no_host.stderr
    bad = run_cli("--config", str(config), "export", "-f", "nope", home=isolated_home)
    assert bad.returncode == 64
    missing = run_cli("--config", str(config), "get-secret", "smtp.password", home=isolated_home)
    assert (missing.returncode, missing.stdout) == (78, "")
    assert "set-secret" in missing.stderr
    usage = run_cli("get-secret", "smtp.host", home=isolated_home)
    assert usage.returncode == 64
    listed = run_cli("--help", home=isolated_home)
    assert "export" in listed.stdout
    # Listed, with its purpose: every msmtp export calls it (issue 22).
    assert "get-secret" in listed.stdout and "passwordeval" in listed.stdout


def test_cli_export_honours_overrides(tmp_path: Path, isolated_home: Path) -> None:
    config = write_config(tmp_path, {"smtp.host": "smtp.example.com"})
    ran = run_cli(
        "--config",
        str(config),
        "export",
        "-f",
        "env",
        "--override",
        "smtp.port=2525",
        home=isolated_home,
    )
    assert ran.returncode == 0, ran.stderr
    assert dotenv_values(stream=io.StringIO(ran.stdout))["MAIL_PORT"] == "2525"
    assert "port = 2525" not in config.read_text()
