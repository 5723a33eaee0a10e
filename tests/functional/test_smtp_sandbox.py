"""The sandbox server itself: modes, AUTH mechanisms, certificates, stored messages."""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage

import pytest

from tui_mailsetup.sandbox import Sandbox


def _message() -> EmailMessage:
    message = EmailMessage()
    message["From"] = "alice@example.test"
    message["To"] = "bob@example.test"
    message["Subject"] = "sandbox"
    message.set_content("hello")
    return message


@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN", "CRAM-MD5"])
def test_starttls_auth_mechanisms(mechanism: str) -> None:
    with Sandbox(mode="starttls", mechanisms=(mechanism,), password="s3cret-pass") as box:  # type: ignore[arg-type]
        assert box.ca_path is not None
        context = ssl.create_default_context(cafile=str(box.ca_path))
        with smtplib.SMTP(box.host, box.port, timeout=5) as client:
            client.starttls(context=context)
            client.ehlo()
            assert client.has_extn("auth")
            if mechanism == "CRAM-MD5":
                # smtplib's CRAM-MD5 encodes the password as ASCII; drive it by hand.
                import base64
                import hmac

                code, challenge = client.docmd("AUTH", "CRAM-MD5")
                assert code == 334
                key = box.password.encode()
                digest = hmac.new(key, base64.b64decode(challenge), "md5").hexdigest()
                answer = base64.b64encode(f"{box.username} {digest}".encode()).decode()
                code, _ = client.docmd(answer)
                assert code == 235
            else:
                client.user, client.password = box.username, box.password
                client.auth(mechanism, getattr(client, f"auth_{mechanism.lower()}"))
            client.send_message(_message())
        [received] = box.wait_for_message()
        assert received.mail_from == "alice@example.test"
        assert received.authenticated_as == box.username
        assert b"Subject: sandbox" in received.data
        assert [a.mechanism for a in box.auth_attempts] == [mechanism]


def test_implicit_tls_and_plain_modes() -> None:
    with Sandbox(mode="tls", auth=False) as box:
        assert box.ca_path is not None
        context = ssl.create_default_context(cafile=str(box.ca_path))
        with smtplib.SMTP_SSL(box.host, box.port, context=context, timeout=5) as client:
            client.ehlo()
            assert not client.has_extn("auth")
            client.send_message(_message())
        assert box.smtp_settings()["encryption"] == "tls"
        assert len(box.messages) == 1
    with Sandbox(mode="plain", auth=False) as box:
        with smtplib.SMTP(box.host, box.port, timeout=5) as client:
            client.ehlo()
            assert not client.has_extn("starttls")
            client.send_message(_message())
        assert box.smtp_settings()["encryption"] == "none"
        assert len(box.messages) == 1


async def test_async_context_manager() -> None:
    async with Sandbox(mode="starttls", auth=True) as box:
        assert box.port > 0
        settings = box.smtp_settings()
        assert settings["username"] == box.username
        assert settings["ca_file"] == str(box.ca_path)
        assert len(box.cert_fingerprint) == 95


def test_refuses_non_loopback() -> None:
    with pytest.raises(ValueError):
        Sandbox(host="0.0.0.0")


def test_self_signed_settings_offer_no_ca_file() -> None:
    with Sandbox(mode="starttls", cert="self-signed") as box:
        assert box.smtp_settings()["ca_file"] == ""
    with Sandbox(mode="starttls") as box:
        assert box.smtp_settings()["ca_file"] == str(box.ca_path)


_ABORT_SCRIPT = """
import socket, ssl
from tui_mailsetup.sandbox import Sandbox
with Sandbox(mode="tls") as box:
    try:  # a client that rejects the certificate and hangs up mid-handshake
        with socket.create_connection((box.host, box.port)) as raw:
            ssl.create_default_context().wrap_socket(raw, server_hostname="localhost")
    except ssl.SSLError:
        pass
    # a later session proves the server went on (and that the abort was handled)
    import smtplib
    context = ssl.create_default_context(cafile=str(box.ca_path))
    with smtplib.SMTP_SSL(box.host, box.port, context=context, timeout=5) as client:
        client.ehlo()
print("done")
"""


def test_client_handshake_aborts_leave_stderr_quiet() -> None:
    import os
    import subprocess
    import sys

    # asyncio reports these in debug mode (PYTHONASYNCIODEBUG, python -X dev).
    env = {**os.environ, "PYTHONASYNCIODEBUG": "1"}
    result = subprocess.run(
        [sys.executable, "-c", _ABORT_SCRIPT],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "done" in result.stdout
    assert "Error on transport creation" not in result.stderr
    assert "Traceback" not in result.stderr
