"""Redaction: no form of the secret leaves the engine, and server text is always sanitised.

:meth:`Redactor.scrub_event` is the single exit for events (the conversation
calls it for each one it emits).
"""

from __future__ import annotations

import base64
import re

from tui_mailsetup.engine.events import (
    Diagnosis,
    Direction,
    Event,
    Outcome,
    Stage,
    StageFinished,
    TranscriptLine,
)
from tui_mailsetup.sanitize import untrusted_text


def server_text(text: str, *, limit: int = 2000) -> str:
    """:func:`untrusted_text` for a str that aiosmtplib decoded with ``surrogateescape``.

    Bytes that were not UTF-8 arrive as lone surrogates (``\\udc9b``): turn
    them into U+FFFD first, as undecodable bytes always are, so that neither a
    C1 control nor an unprintable surrogate survives.
    """
    return untrusted_text(text.encode("utf-8", "surrogatepass"), limit=limit)


class Redactor:
    """Removes every known form of the secret from text before it becomes an event.

    The rule (the secret never appears; reply codes are never corrupted):

    - encoded forms (base64 of the password, of the whole PLAIN/XOAUTH2 blob,
      the LOGIN and CRAM-MD5 answers, and the base64 "cores" that appear
      inside any longer blob) are redacted everywhere, always;
    - the raw password, the escaped form :func:`untrusted_text` gives it (a tab
      shows as ``\\t``, a C1 or bidi control as ``\\x85``/``\\u202e``) and the
      forms it takes when a server echoes it in Latin-1 or Windows-1252 (as
      raw bytes, as U+FFFD or as escaped surrogates), are redacted everywhere
      when the password has at least ``SHORT`` characters;
    - a shorter raw password (1 to 3 characters, where blanking every match
      would wreck the transcript: "2" is in every reply code) is redacted only
      in server text during AUTH (``scrub(..., auth=True)``), where a server
      echoing the password would put it;
    - a raw form is never replaced inside a protocol token: a reply code with
      its enhanced status (``535 5.7.8``) or a command verb (``QUIT``) at the
      start of a line or of a `` / ``-joined segment, nor inside a placeholder
      left by an earlier pass. So a password equal to ``250``, ``2.0.0`` or
      ``QUIT`` is removed where a server echoes it, and the codes stay intact.

    The AUTH lines the client sends are placeholders anyway (TranscriptProtocol).
    """

    PLACEHOLDER = "********"
    SHORT = 4
    """Raw secrets shorter than this are only redacted in AUTH-stage server text."""
    _PROTECTED = re.compile(
        r"(?:^|(?<= / ))(?:\d{3}(?:[ -]\d\.\d{1,3}\.\d{1,3})?"
        r"|(?:EHLO|HELO|STARTTLS|AUTH|MAIL FROM|RCPT TO|DATA|QUIT|RSET|NOOP)\b)"
        r"|\*{8}",
        re.IGNORECASE,
    )
    _ECHO_ENCODINGS = ("latin-1", "cp1252")

    def __init__(self) -> None:
        self._encoded: list[str] = []
        self._raw: list[str] = []
        self._short: list[str] = []

    @staticmethod
    def _forms(text: str) -> list[str]:
        escaped = untrusted_text(text, limit=len(text) + 1)
        return [text] if escaped == text else [text, escaped]

    @staticmethod
    def _echo_forms(password: str) -> list[str]:
        """The password as text after a server echoed it in a legacy 8-bit encoding."""
        forms: list[str] = []
        for encoding in Redactor._ECHO_ENCODINGS:
            try:
                data = password.encode(encoding)
            except UnicodeEncodeError:
                continue
            if data == password.encode("utf-8"):
                continue  # ASCII: the same bytes, nothing new to look for
            decoded = data.decode("utf-8", "surrogateescape")  # as aiosmtplib decodes replies
            forms += [
                decoded,
                untrusted_text(data, limit=len(data) + 1),  # the transcript's path
                server_text(decoded, limit=4 * len(data) + 1),  # the diagnosis's path
                untrusted_text(decoded, limit=4 * len(data) + 1),
            ]
        return forms

    @staticmethod
    def _remember(target: list[str], forms: list[str]) -> None:
        for form in forms:
            if form and form not in target:
                target.append(form)
        # Longest first, so a secret that contains another is removed whole.
        target.sort(key=len, reverse=True)

    def add(self, value: str | bytes | None) -> None:
        """An encoded form (base64 blob, challenge answer): redacted everywhere."""
        if not value:
            return
        text = value.decode("utf-8", "replace") if isinstance(value, bytes) else value
        self._remember(self._encoded, self._forms(text))

    def add_password(self, password: str) -> None:
        raw = password.encode("utf-8")
        forms = self._forms(password) + self._echo_forms(password)
        self._remember(self._short if len(password) < self.SHORT else self._raw, forms)
        self._remember(self._encoded, [base64.b64encode(raw).decode("ascii")])
        # Inside a longer base64 blob the password's encoding depends on its
        # offset mod 3; the groups made only of password bytes are the same
        # whatever surrounds them, so redact those cores as well.
        for offset in (0, 1, 2):
            encoded = base64.b64encode(b"\0" * offset + raw).decode("ascii")
            start = 4 if offset else 0  # the first group mixes in preceding bytes
            end = ((offset + len(raw)) // 3) * 4  # a last partial group mixes in following ones
            core = encoded[start:end]
            if len(core) >= 4:
                self._remember(self._encoded, [core])

    def scrub(self, text: str, *, auth: bool = False) -> str:
        for secret in self._encoded:
            if secret in text:
                text = self._replace(text, secret, protect=False)
        for secret in self._raw + (self._short if auth else []):
            if secret in text:
                text = self._replace(text, secret, protect=True)
        return text

    def _replace(self, text: str, secret: str, *, protect: bool) -> str:
        """Every occurrence of ``secret`` becomes the placeholder, except one lying wholly
        inside a protected token (a reply code, a verb, an earlier placeholder)."""
        spans = [m.span() for m in self._PROTECTED.finditer(text)] if protect else []
        if not protect:
            spans = [m.span() for m in re.finditer(re.escape(self.PLACEHOLDER), text)]
        parts: list[str] = []
        position = search = 0
        while (found := text.find(secret, search)) != -1:
            end = found + len(secret)
            if any(a <= found and end <= b for a, b in spans):
                search = found + 1
                continue
            parts += [text[position:found], self.PLACEHOLDER]
            position = search = end
        parts.append(text[position:])
        return "".join(parts)

    def scrub_event(self, event: Event, *, stage: Stage) -> Event:
        """The single exit for events: every text is redacted and sanitised here.

        ``stage`` is the conversation's current stage (a received line during
        AUTH is where a short password may be echoed). Redaction runs before
        and after sanitising (the raw and the escaped forms of a secret are
        both known), and sanitising is the backstop for any text that reached
        an event without :func:`untrusted_text`.
        """

        def clean(text: str, *, auth: bool = False) -> str:
            return self.scrub(server_text(self.scrub(text, auth=auth)), auth=auth)

        if isinstance(event, TranscriptLine):
            in_auth = stage == Stage.AUTH and event.direction == Direction.RECEIVED
            return TranscriptLine(
                event.direction, clean(event.text, auth=in_auth), event.encrypted, event.at
            )
        if isinstance(event, StageFinished):
            detail = clean(event.detail, auth=event.stage == Stage.AUTH)
            return StageFinished(event.stage, event.ok, event.elapsed, detail)
        if isinstance(event, Outcome) and event.diagnosis is not None:
            d = event.diagnosis
            in_auth = d.stage == Stage.AUTH
            diagnosis = Diagnosis(
                stage=d.stage,
                cause=clean(d.cause, auth=in_auth),
                evidence=clean(d.evidence, auth=in_auth),
                explanation=clean(d.explanation, auth=in_auth),
                fix=d.fix,
                exit_code=d.exit_code,
                retry_after=d.retry_after,
            )
            return Outcome(
                event.ok,
                event.stage,
                event.elapsed,
                diagnosis,
                event.message_id,
                event.recipients,
                tuple(clean(w) for w in event.warnings),
            )
        return event
