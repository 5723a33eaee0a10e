"""The part of aiosmtplib the engine stands on, pinned by behaviour and signature.

``engine/smtp/`` drives aiosmtplib's protocol class directly instead of its
``SMTP`` client (see that package's docstring), so a release that renames a
parameter, turns a coroutine into a function or changes what an encoder
returns would break the engine without any type error. pyproject pins the
version range; this test says *what* in that range is relied on, so that
widening the range is a test run rather than an archaeology session.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import inspect
from email.message import EmailMessage

import pytest
from aiosmtplib.auth import (
    auth_crammd5_verify,
    auth_login_encode,
    auth_plain_encode,
    auth_xoauth2_encode,
)
from aiosmtplib.email import flatten_message, quote_address
from aiosmtplib.errors import (
    SMTPDataError,
    SMTPResponseException,
    SMTPServerDisconnected,
    SMTPTimeoutError,
)
from aiosmtplib.esmtp import parse_esmtp_extensions
from aiosmtplib.protocol import SMTPProtocol
from aiosmtplib.response import SMTPResponse

# Method name -> (parameter names after self, is it a coroutine function).
PROTOCOL_SURFACE: dict[str, tuple[tuple[str, ...], bool]] = {
    "__init__": (("loop", "connection_lost_callback"), False),
    "write": (("data",), False),
    "data_received": (("data",), False),
    "connection_lost": (("exc",), False),
    "connection_made": (("transport",), False),
    "start_tls": (("tls_context", "server_hostname", "timeout"), True),
    "read_response": (("timeout",), True),
    "execute_command": (("args", "timeout"), True),
    "execute_data_command": (("message", "timeout"), True),
}


@pytest.mark.parametrize("name", sorted(PROTOCOL_SURFACE))
def test_protocol_methods_the_engine_overrides_or_calls(name: str) -> None:
    expected_parameters, is_coroutine = PROTOCOL_SURFACE[name]
    method = getattr(SMTPProtocol, name)
    parameters = tuple(inspect.signature(method).parameters)[1:]
    assert parameters == expected_parameters
    assert inspect.iscoroutinefunction(method) is is_coroutine


def test_timeout_is_keyword_only_for_execute_command() -> None:
    # The engine calls execute_command(b"EHLO", name, timeout=...): *args then timeout.
    parameter = inspect.signature(SMTPProtocol.execute_command).parameters["timeout"]
    assert parameter.kind is inspect.Parameter.KEYWORD_ONLY


class _Transport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.written = bytearray()

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.written.extend(data)

    def is_closing(self) -> bool:
        return False


async def _until_written(transport: _Transport, ending: bytes) -> None:
    for _ in range(1000):
        if transport.written.endswith(ending):
            return
        await asyncio.sleep(0)
    raise AssertionError(f"the protocol never wrote {ending!r}: {bytes(transport.written)!r}")


async def test_protocol_writes_through_write_and_parses_replies_from_data_received() -> None:
    """The transcript hooks ``write`` and ``data_received``: every byte must pass there."""
    seen_out: list[bytes] = []

    class Recording(SMTPProtocol):
        def write(self, data: bytes) -> None:
            seen_out.append(bytes(data))
            super().write(data)

    protocol = Recording(loop=asyncio.get_running_loop())
    transport = _Transport()
    protocol.connection_made(transport)
    pending = asyncio.ensure_future(protocol.execute_command(b"EHLO", b"client.test", timeout=5))
    await asyncio.sleep(0)
    protocol.data_received(b"250-server.test hello\r\n250-PIPELINING\r\n250 AUTH PLAIN LOGIN\r\n")
    response = await pending
    assert b"".join(seen_out) == b"EHLO client.test\r\n" == bytes(transport.written)
    assert isinstance(response, SMTPResponse)
    assert response.code == 250
    assert response.message == "server.test hello\nPIPELINING\nAUTH PLAIN LOGIN"


async def test_data_command_dot_stuffs_and_terminates() -> None:
    protocol = SMTPProtocol(loop=asyncio.get_running_loop())
    transport = _Transport()
    protocol.connection_made(transport)
    pending = asyncio.ensure_future(protocol.execute_data_command(b"line\r\n.dot\r\n", timeout=5))
    await _until_written(transport, b"DATA\r\n")
    protocol.data_received(b"354 go ahead\r\n")
    await _until_written(transport, b".\r\n")
    protocol.data_received(b"250 queued\r\n")
    response = await pending
    assert response.code == 250
    assert bytes(transport.written) == b"DATA\r\nline\r\n..dot\r\n.\r\n"


async def test_a_refused_data_raises_smtp_data_error() -> None:
    protocol = SMTPProtocol(loop=asyncio.get_running_loop())
    protocol.connection_made(_Transport())
    pending = asyncio.ensure_future(protocol.execute_data_command(b"x\r\n", timeout=5))
    await asyncio.sleep(0)
    protocol.data_received(b"554 no\r\n")
    with pytest.raises(SMTPDataError) as caught:
        await pending
    assert caught.value.code == 554
    assert isinstance(caught.value, SMTPResponseException)


def test_error_classes_the_engine_catches() -> None:
    assert issubclass(SMTPServerDisconnected, Exception)
    assert issubclass(SMTPTimeoutError, Exception)
    error = SMTPResponseException(451, "later")
    assert (error.code, error.message) == (451, "later")


def test_auth_encoders_return_what_the_engine_sends() -> None:
    assert auth_plain_encode("user", "pass") == base64.b64encode(b"\0user\0pass")
    assert auth_login_encode("user", "pass") == (
        base64.b64encode(b"user"),
        base64.b64encode(b"pass"),
    )
    assert auth_xoauth2_encode("user", "tok") == base64.b64encode(
        b"user=user\x01auth=Bearer tok\x01\x01"
    )
    challenge = base64.b64encode(b"<1.2@server.test>")
    digest = hmac.new(b"pass", b"<1.2@server.test>", hashlib.md5).hexdigest()
    assert auth_crammd5_verify("user", "pass", challenge) == base64.b64encode(
        f"user {digest}".encode()
    )


def test_message_helpers() -> None:
    message = EmailMessage()
    message["From"] = "a@example.test"
    message["Subject"] = "hi"
    message.set_content("body")
    flat = flatten_message(message)
    assert isinstance(flat, bytes)
    assert b"Subject: hi" in flat
    assert quote_address("a@example.test") == "<a@example.test>"


def test_esmtp_extension_parsing() -> None:
    extensions, auth = parse_esmtp_extensions(
        "server.test\nSTARTTLS\nSIZE 1000\nAUTH PLAIN LOGIN\nAUTH=CRAM-MD5"
    )
    assert "starttls" in extensions
    assert extensions["size"] == "1000"
    # Mechanism names come back lower-cased; the engine compares them that way.
    assert {"plain", "login", "cram-md5"} <= set(auth)


def test_everything_the_engine_imports_from_aiosmtplib_is_pinned_here() -> None:
    """A new import from aiosmtplib in the engine must come with a pin in this file."""
    import re
    from pathlib import Path

    import tui_mailsetup.engine

    pinned = set(re.findall(r"\b(\w+)\b", Path(__file__).read_text()))
    engine_dir = Path(tui_mailsetup.engine.__file__).parent
    imported: set[str] = set()
    for source in engine_dir.rglob("*.py"):
        text = source.read_text()
        for block in re.findall(r"from aiosmtplib[\w.]* import \(?([^)]*?)\)?\n(?!\s)", text, re.S):
            imported |= {
                name.strip() for name in block.replace("\n", ",").split(",") if name.strip()
            }
    assert imported, "the engine imports nothing from aiosmtplib? the regular expression broke"
    assert imported <= pinned, f"not pinned: {sorted(imported - pinned)}"
