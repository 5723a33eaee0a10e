"""Advice that is right the first time (issue 21, item 7).

- a test that went to the sender address by default and was refused offers ``--to``;
- a certificate signed by an authority this machine does not trust offers ``smtp.ca_file``
  (with a path and how to get the CA); only a self-signed leaf offers a pin;
- the wrong-name fix never offers a name outside the configured relay's domain;
- where the secret came from is said in every authentication failure, and ``set-secret``
  warns when an earlier source shadows what it stored.
"""

from __future__ import annotations

import ssl
from pathlib import Path

from tests.support.cli_helpers import run_cli
from tests.support.smtp_servers import Conn, ScriptedServer, greet_and_ehlo
from tests.support.tui_support import SENDER, sandbox_config, write_config
from tui_mailsetup.config_file import load_config
from tui_mailsetup.engine import diagnosis as diag
from tui_mailsetup.engine.events import Stage, TlsDetails
from tui_mailsetup.exitcodes import ExitCode
from tui_mailsetup.runner import run_test
from tui_mailsetup.sandbox import Sandbox

PASSWORD = "right-Pässword-7"

# --------------------------------------------------------------------------- a refused recipient


async def _refuse_recipients(conn: Conn) -> None:
    await greet_and_ehlo(conn, "8BITMIME")
    await conn.expect("MAIL FROM")
    await conn.reply("250 2.1.0 ok")
    await conn.expect("RCPT TO")
    await conn.reply("550 5.1.1 no such user here")
    await conn.drain_rest()


async def test_a_refused_default_recipient_offers_to(tmp_path: Path) -> None:
    async with ScriptedServer(_refuse_recipients) as server:
        config = write_config(
            tmp_path / "cfg" / "config.toml",
            {
                **SENDER,
                "smtp.host": "127.0.0.1",
                "smtp.port": server.port,
                "smtp.encryption": "none",
                "smtp.timeout": 10,
            },
        )
        loaded = load_config(config)
        defaulted = await run_test(loaded, record=False)
        chosen = await run_test(loaded, ["ops@example.test"], record=False)
    assert defaulted.exit_code == chosen.exit_code == ExitCode.NOUSER
    assert defaulted.diagnosis is not None and chosen.diagnosis is not None
    assert "--to" in defaulted.diagnosis.explanation
    assert "licensing@acme.example" in defaulted.diagnosis.explanation
    # Someone who chose the recipient is not told to choose one.
    assert "--to" not in chosen.diagnosis.explanation


# --------------------------------------------------------------------------- certificates


def _details(subject: str, issuer: str, *sans: str) -> TlsDetails:
    return TlsDetails(
        "TLSv1.3", "X", subject, issuer, tuple(sans), "", "", "AB:CD", False, chain=(subject,)
    )


def _verify_error(code: int, message: str) -> ssl.SSLCertVerificationError:
    error = ssl.SSLCertVerificationError(1, "certificate verify failed")
    error.verify_code = code
    error.verify_message = message
    return error


def test_a_private_ca_offers_the_ca_file_not_a_pin() -> None:
    error = _verify_error(20, "unable to get local issuer certificate")
    found = diag.certificate_rejected(
        Stage.STARTTLS,
        error,
        _details("CN=mail.acme.example", "CN=Acme Internal CA"),
        "mail.acme.example",
        587,
    )
    assert found.fix is not None
    assert list(found.fix.changes) == ["smtp.ca_file"]
    path = str(found.fix.changes["smtp.ca_file"])
    assert path.endswith("mail.acme.example-ca.pem") and path in found.explanation
    assert "Acme Internal CA" in found.explanation
    assert "openssl s_client -connect mail.acme.example:587 -starttls smtp" in found.explanation
    assert "smtp.fingerprint" not in found.fix.changes


def test_only_a_self_signed_leaf_offers_a_pin() -> None:
    error = _verify_error(18, "self-signed certificate")
    found = diag.certificate_rejected(
        Stage.TLS, error, _details("CN=box", "CN=box"), "box.example", 465
    )
    assert found.fix is not None and found.fix.changes == {"smtp.fingerprint": "AB:CD"}
    # A chain whose root is self-signed is an authority, not a self-signed leaf.
    chained = diag.certificate_rejected(
        Stage.TLS,
        _verify_error(19, "self-signed certificate in certificate chain"),
        _details("CN=box", "CN=Root"),
        "box.example",
        465,
    )
    assert chained.fix is not None and "smtp.ca_file" in chained.fix.changes


async def test_real_private_ca_and_self_signed_servers(tmp_path: Path) -> None:
    """The sandbox's certificate is issued by its own CA: without that CA file, the fix is the
    CA file; a self-signed sandbox gets the pin."""
    from tests.support.events import outcome_of
    from tests.support.smtp_servers import run_ladder
    from tui_mailsetup.settings import MailSettings

    def settings(box: Sandbox, **smtp: object) -> MailSettings:
        values = {**box.smtp_settings(), "timeout": 10, **smtp}
        return MailSettings(smtp=values, sender={"name": "T", "address": "me@example.test"})

    async with Sandbox(mode="starttls", password=PASSWORD) as box:
        outcome = outcome_of(await run_ladder(settings(box, ca_file=""), PASSWORD))
    assert outcome.diagnosis is not None and outcome.diagnosis.fix is not None
    assert list(outcome.diagnosis.fix.changes) == ["smtp.ca_file"]
    assert f"127.0.0.1:{box.port} -starttls smtp" in outcome.diagnosis.explanation
    async with Sandbox(mode="starttls", password=PASSWORD, cert="self-signed") as box:
        outcome = outcome_of(await run_ladder(settings(box), PASSWORD))
    assert outcome.diagnosis is not None and outcome.diagnosis.fix is not None
    assert list(outcome.diagnosis.fix.changes) == ["smtp.fingerprint"]


def test_the_name_fix_stays_within_the_relays_domain() -> None:
    error = _verify_error(62, "Hostname mismatch, certificate is not valid for 'smtp.acme.co.uk'")
    same = diag.certificate_rejected(
        Stage.TLS,
        error,
        _details("CN=x", "CN=CA", "DNS:mail.acme.co.uk", "DNS:*.acme.co.uk"),
        "smtp.acme.co.uk",
    )
    assert same.fix is not None and same.fix.changes == {"smtp.host": "mail.acme.co.uk"}
    # Another organisation's certificate (interception, or a shared host): no name is offered.
    other = diag.certificate_rejected(
        Stage.TLS,
        error,
        _details("CN=x", "CN=CA", "DNS:mail.co.uk", "DNS:evil.example"),
        "smtp.acme.co.uk",
    )
    assert other.fix is None
    assert "evil.example" in other.evidence and "administrator confirms" in other.explanation
    # An address literal has no domain to compare with.
    literal = diag.certificate_rejected(
        Stage.TLS, error, _details("CN=x", "CN=CA", "DNS:mail.acme.example"), "192.0.2.7"
    )
    assert literal.fix is None


# --------------------------------------------------------------------------- where the secret came from


def test_an_authentication_failure_names_the_secrets_source(tmp_path: Path) -> None:
    with Sandbox(mode="starttls", password=PASSWORD) as box:
        config = sandbox_config(box, tmp_path / "cfg" / "config.toml", password=PASSWORD)
        from_env = run_cli(
            "--config",
            str(config),
            "send-test",
            "--json",
            home=tmp_path,
            env={"MAILSETUP_SMTP__PASSWORD": "an-old-password"},
        )
        from_file = run_cli("--config", str(config), "send-test", "--json", home=tmp_path)
    assert from_env.returncode == ExitCode.NOPERM, from_env.stdout + from_env.stderr
    explanation = from_env.json()["diagnosis"]["explanation"]
    assert "the environment variable MAILSETUP_SMTP__PASSWORD" in explanation
    assert "an-old-password" not in from_env.stdout + from_env.stderr
    # The right password from the credentials file logs in.
    assert from_file.returncode == 0, from_file.stdout + from_file.stderr


def test_set_secret_warns_when_the_environment_shadows_it(tmp_path: Path) -> None:
    config = write_config(tmp_path / "cfg" / "config.toml", dict(SENDER))
    shadowed = run_cli(
        "--config",
        str(config),
        "set-secret",
        "smtp.password",
        home=tmp_path,
        stdin="new-secret",
        env={"MAILSETUP_SMTP__PASSWORD": "old"},
    )
    assert shadowed.returncode == 0, shadowed.stderr
    assert "MAILSETUP_SMTP__PASSWORD" in shadowed.stderr and "not used" in shadowed.stderr
    plain = run_cli(
        "--config", str(config), "set-secret", "smtp.password", home=tmp_path, stdin="newer"
    )
    assert plain.returncode == 0 and "warning" not in plain.stderr
