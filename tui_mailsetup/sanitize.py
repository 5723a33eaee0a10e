"""Neutralise untrusted text (anything a server or a file said) before display.

Control characters and escape sequences become visible escapes (``\\x1b``),
invalid UTF-8 becomes U+FFFD, and nothing is ever interpreted as markup:
callers render the result as plain text (``rich.text.Text``), never as markup.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

# The one vocabulary of dangerous characters, as regular-expression class bodies.
# C0 controls, DEL and C1 controls: in an SMTP command or a header they could split a
# command or smuggle a header.
C0_C1 = r"\x00-\x1f\x7f-\x9f"
# Line and paragraph separators: Python's email package and other readers break lines there.
LINE_SEPARATORS = r"\u2028\u2029"
# Bidirectional overrides and isolates, and the byte-order mark: text that reads other than
# it is.
INVISIBLE = r"\u202a-\u202e\u2066-\u2069\ufeff"
# Lone surrogates: bytes that are not UTF-8, decoded with "surrogateescape" (aiosmtplib
# decodes replies that way; so does Python for command-line arguments and the environment).
SURROGATES = r"\ud800-\udfff"

CONTROL_CHARACTERS = re.compile(f"[{C0_C1}{LINE_SEPARATORS}{INVISIBLE}]")
"""Forbidden in any value the settings hold (secrets included)."""
NOT_UTF8 = re.compile(f"[{SURROGATES}]")
"""Bytes that were not UTF-8 text."""
LINE_BREAKERS = re.compile(f"[{C0_C1}{LINE_SEPARATORS}]")
"""Whatever could end a line in one reader or another (what an exported file refuses)."""
JSON_UNSAFE = re.compile(rf"[\x7f-\x9f{LINE_SEPARATORS}{INVISIBLE}{SURROGATES}]")
"""What JSON leaves raw that a terminal showing the document would interpret (JSON itself
escapes U+0000-U+001F)."""
# Everything but tab and line feed, which untrusted_text escapes by name.
_ESCAPED = re.compile(rf"[\x00-\x08\x0b-\x1f\x7f-\x9f{LINE_SEPARATORS}{INVISIBLE}{SURROGATES}]")
DEFAULT_LIMIT = 2000


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def untrusted_text(data: bytes | str, *, limit: int = DEFAULT_LIMIT) -> str:
    """One line of untrusted text, safe to print on a terminal.

    Tabs and line feeds are escaped too: one server line stays one line on screen.
    Text over ``limit`` characters is cut, and says how much was cut.
    """
    text = data.decode("utf-8", errors="replace") if isinstance(data, bytes) else data
    text = text.replace("\r\n", "\n").rstrip("\n")
    cut = len(text) - limit
    if cut > 0:
        text = text[:limit]
    text = _ESCAPED.sub(_escape, text).replace("\t", "\\t").replace("\n", "\\n")
    if cut > 0:
        text += f" …[{cut} more characters]"
    return text


def untrusted_lines(text: str, *, limit: int = DEFAULT_LIMIT) -> str:
    """Like :func:`untrusted_text`, but the line breaks of a multi-line message (our own
    formatting) are kept; every line is neutralised."""
    return "\n".join(untrusted_text(line, limit=limit) for line in text.split("\n"))


# Text nested too deep for a parser: a file's text is refused before tomllib sees it.
PARSE_LIMIT = 256
"""Nesting (counted roughly on the text) refused before a TOML parser sees it: tomllib takes
time quadratic in a dotted name's length (100,000 parts: a minute) and recurses on lists.
config_file refuses anything deeper than its MAX_DEPTH after parsing, with the line."""


def deep_line(text: str, limit: int) -> int | None:
    """The first line where brackets, braces and dotted names together go deeper than
    ``limit`` (strings and comments skipped roughly, line by line), or None."""
    depth = 0
    for number, line in enumerate(text.splitlines(), start=1):
        quote = ""
        dots = 0
        for char in line:
            if quote:
                quote = "" if char == quote else quote
            elif char in "\"'":
                quote = char
            elif char == "#":
                break
            elif char in "[{":
                depth += 1
            elif char in "]}":
                depth = max(0, depth - 1)
            elif char == ".":
                dots += 1
            if depth + dots > limit:
                return number
    return None


# --------------------------------------------------------------------------- secrets

MASK = "********"
"""What a secret becomes in anything shown."""
_WINDOW = 12
"""A run this long of a secret's characters is masked wherever it appears (a quoted prefix)."""


class Masker:
    """Masks every form of the secrets sent in a request: raw, URL-encoded (as a form
    carries it), JSON-escaped, base64, and any run of :data:`_WINDOW` characters of one
    (a server quoting a prefix, or a message cut in the middle of a secret). The one
    masker of the token endpoints, the HTTP drivers and SES: a server may quote back
    what it was sent."""

    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        self._forms: list[str] = []
        self._windows: set[str] = set()
        for secret in secrets:
            self.add(secret)

    def add(self, secret: str | None) -> None:
        # Imported here: sanitize is on every command's start-up path, a masker is not.
        import base64
        import json
        import urllib.parse

        if not secret or len(secret) < 4:
            return
        forms = {
            secret,
            urllib.parse.quote(secret, safe=""),
            urllib.parse.quote_plus(secret),
            json.dumps(secret)[1:-1],
            untrusted_text(secret, limit=len(secret) + 1),
            base64.b64encode(secret.encode()).decode("ascii"),
        }
        self._forms = sorted(set(self._forms) | forms, key=len, reverse=True)
        for form in forms:
            for start in range(0, len(form) - _WINDOW + 1):
                self._windows.add(form[start : start + _WINDOW])

    def __bool__(self) -> bool:
        return bool(self._forms)

    def __call__(self, text: str) -> str:
        for form in self._forms:
            text = text.replace(form, MASK)
        if not self._windows or len(text) < _WINDOW:
            return text
        hidden = [False] * len(text)
        for start in range(len(text) - _WINDOW + 1):
            if text[start : start + _WINDOW] in self._windows:
                hidden[start : start + _WINDOW] = [True] * _WINDOW
        if not any(hidden):
            return text
        out: list[str] = []
        for index, char in enumerate(text):
            if not hidden[index]:
                out.append(char)
            elif index == 0 or not hidden[index - 1]:
                out.append(MASK)
        return "".join(out)
