"""What every diagnosis rule shares: the evidence line and the fixes several rules offer."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

from tui_mailsetup.engine.events import Diagnosis, Stage
from tui_mailsetup.fixes import Fix
from tui_mailsetup.sanitize import untrusted_text
from tui_mailsetup.settings import MailSettings, SmtpSettings

FIX_TLS = Fix("use implicit TLS (encryption = tls)", {"smtp.encryption": "tls"})
FIX_STARTTLS = Fix("use STARTTLS (encryption = starttls)", {"smtp.encryption": "starttls"})
FIX_SUBMISSION = Fix(
    "use the submission port 587 with STARTTLS", {"smtp.port": 587, "smtp.encryption": "starttls"}
)
FIX_465 = Fix("use implicit TLS on port 465", {"smtp.port": 465, "smtp.encryption": "tls"})


def evidence_of(code: int, message: str) -> str:
    """A reply as the server sent it (multi-line replies joined), sanitised."""
    lines = message.split("\n") if message else [""]
    return untrusted_text(" / ".join(f"{code} {line}".rstrip() for line in lines))


@dataclass(frozen=True)
class Reply:
    """An unexpected SMTP reply and what a rule needs to judge it."""

    stage: Stage
    code: int
    message: str
    settings: MailSettings
    mechanism: str = ""
    """The AUTH mechanism in use, when the reply answers AUTH."""
    authenticated: bool = False
    """Whether AUTH succeeded earlier in the session."""
    now: float | None = None
    """The current Unix time for retry-after arithmetic (None: the clock)."""

    @cached_property
    def text(self) -> str:
        """The reply's text in lower case, for matching."""
        return self.message.lower()

    @cached_property
    def evidence(self) -> str:
        return evidence_of(self.code, self.message)

    @property
    def smtp(self) -> SmtpSettings:
        return self.settings.smtp


ReplyRule = Callable[[Reply], Diagnosis | None]
"""A named rule: the diagnosis when the reply is its case, else None (the next rule judges)."""
