"""The demo: a sandbox SMTP server on 127.0.0.1 and a throwaway configuration pointed at it.

The whole flow (settings, live validation, a test send with its transcript,
the message arriving) works on a machine with no mail server, as Mailpit and
MailHog do for developers. :class:`DemoSession` owns the pieces:

* the sandbox (:mod:`tui_mailsetup.sandbox`): STARTTLS (or implicit TLS) on a
  certificate from a certificate authority made for this run, AUTH with a
  generated user and password, messages kept in memory;
* a temporary directory (0700) holding ``config.toml`` and the owner-only
  ``credentials.toml`` with the generated password, exactly as a real setup
  stores them. The user's own configuration is never read or written.

:func:`run_headless` performs the test send through the engine and prints
the transcript and the received message; the interactive demo (in
``cli/demo_cmd.py``) opens the TUI on the same session. Nothing here imports
Textual.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, TextIO

from tui_mailsetup import paths
from tui_mailsetup.config_file import LoadedConfig, load_config, write_values
from tui_mailsetup.sandbox import ReceivedMessage, Sandbox
from tui_mailsetup.sanitize import untrusted_text
from tui_mailsetup.secrets import store_secret

DemoEncryption = Literal["starttls", "tls"]
DEMO_SENDER_NAME = "tui-mailsetup demo"
DEMO_SENDER_ADDRESS = "demo@example.com"
DEMO_RECIPIENT = "you@example.com"
HEADERS = ("From", "To", "Subject", "Date", "Message-ID")

# The variables that could point the demo somewhere else or feed it another
# secret. The demo is self-contained, so it ignores them (see isolated_environment).
_FOREIGN_PREFIXES = ("MAILSETUP_",)
_FOREIGN_NAMES = ("CREDENTIALS_DIRECTORY", "MAILSETUP_CONFIG")


@contextmanager
def isolated_environment() -> Iterator[None]:
    """Hide ``MAILSETUP_*`` variables and the secrets directories for the duration.

    Without this a ``MAILSETUP_SMTP__HOST`` exported for the real setup would
    silently send the demo's test elsewhere, and a real password from the
    environment or ``/run/secrets`` would be offered to the sandbox.
    """
    saved = {
        name: value
        for name, value in os.environ.items()
        if name.startswith(_FOREIGN_PREFIXES) or name in _FOREIGN_NAMES
    }
    for name in saved:
        del os.environ[name]
    try:
        with paths.override(secrets_dirs=()):
            yield
    finally:
        os.environ.update(saved)


@dataclass
class DemoSession:
    """A running sandbox and the temporary configuration that points at it."""

    encryption: DemoEncryption = "starttls"
    sandbox: Sandbox = field(init=False)
    directory: Path = field(init=False)
    config_path: Path = field(init=False)

    def start(self) -> DemoSession:
        self.directory = Path(tempfile.mkdtemp(prefix="tui-mailsetup-demo-"))
        os.chmod(self.directory, 0o700)
        self.config_path = self.directory / paths.CONFIG_FILENAME
        self.sandbox = Sandbox(mode=self.encryption)
        try:
            self.sandbox.start()
            values: dict[str, Any] = {
                f"smtp.{key}": value for key, value in self.sandbox.smtp_settings().items()
            }
            values.update(
                {
                    "driver": "smtp",
                    "smtp.timeout": 15,
                    "sender.name": DEMO_SENDER_NAME,
                    "sender.address": DEMO_SENDER_ADDRESS,
                }
            )
            write_values(self.config_path, values)
            # The password goes where a real one would: the owner-only
            # credentials file beside this (temporary) configuration.
            store_secret(self.config_path, "smtp.password", self.sandbox.password)
        except BaseException:
            self.close()
            raise
        return self

    def load(self) -> LoadedConfig:
        return load_config(self.config_path)

    @property
    def server(self) -> str:
        return f"{self.sandbox.host}:{self.sandbox.port}"

    def messages(self) -> list[ReceivedMessage]:
        return list(self.sandbox.messages)

    def banner(self) -> str:
        # One line that fits 80 columns: the TUI shows it above every screen.
        mode = "STARTTLS" if self.encryption == "starttls" else "implicit TLS"
        return f"DEMO · sandbox server {self.server} ({mode}) · nothing leaves this machine"

    def describe(self) -> str:
        """The longer account, for headless output."""
        mode = "STARTTLS" if self.encryption == "starttls" else "implicit TLS"
        return (
            f"DEMO: sandbox SMTP server on {self.server} ({mode}, certificate from a CA made "
            f"for this run, AUTH user {self.sandbox.username}). Nothing leaves this machine; "
            "your own configuration is not touched."
        )

    def close(self) -> None:
        sandbox = getattr(self, "sandbox", None)
        if sandbox is not None:
            sandbox.stop()
        directory = getattr(self, "directory", None)
        if directory is not None:
            shutil.rmtree(directory, ignore_errors=True)

    def __enter__(self) -> DemoSession:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


# --------------------------------------------------------------------------- received messages


def describe_message(message: ReceivedMessage) -> dict[str, Any]:
    """A received message as JSON-friendly data; every string sanitised (it came off the wire)."""
    parsed = message_from_bytes(message.data, policy=policy.default)
    headers = {
        name: untrusted_text(str(parsed[name])) for name in HEADERS if parsed[name] is not None
    }
    body = ""
    if isinstance(parsed, EmailMessage):
        part = parsed.get_body(preferencelist=("plain",))
        if isinstance(part, EmailMessage):
            body = str(part.get_content())
    return {
        "mail_from": untrusted_text(message.mail_from),
        "rcpt_tos": [untrusted_text(r) for r in message.rcpt_tos],
        "authenticated_as": (
            untrusted_text(message.authenticated_as) if message.authenticated_as else None
        ),
        "headers": headers,
        "body": "\n".join(untrusted_text(line) for line in body.splitlines()),
        "size": len(message.data),
    }


def print_messages(messages: Sequence[ReceivedMessage], out: TextIO) -> None:
    print(f"\nThe sandbox received {len(messages)} message(s):", file=out)
    for number, message in enumerate(messages, start=1):
        described = describe_message(message)
        print(f"\n--- message {number} ---", file=out)
        print(f"envelope: {described['mail_from']} -> {', '.join(described['rcpt_tos'])}", file=out)
        if described["authenticated_as"]:
            print(f"authenticated as: {described['authenticated_as']}", file=out)
        for name, value in described["headers"].items():
            print(f"{name}: {value}", file=out)
        print("", file=out)
        for line in described["body"].splitlines():
            print(f"  {line}", file=out)
    out.flush()
