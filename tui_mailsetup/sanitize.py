"""Neutralise untrusted text (anything a server or a file said) before display.

Control characters and escape sequences become visible escapes (``\\x1b``),
invalid UTF-8 becomes U+FFFD, and nothing is ever interpreted as markup:
callers render the result as plain text (``rich.text.Text``), never as markup.
"""

from __future__ import annotations

import re

# Lone surrogates are what undecodable bytes become under "surrogateescape"
# (aiosmtplib decodes replies that way); they are escaped like controls.
_CONTROL = re.compile(
    r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufeff\ud800-\udfff]"
)
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
    text = _CONTROL.sub(_escape, text).replace("\t", "\\t").replace("\n", "\\n")
    if cut > 0:
        text += f" …[{cut} more characters]"
    return text


def untrusted_lines(text: str, *, limit: int = DEFAULT_LIMIT) -> str:
    """Like :func:`untrusted_text`, but the line breaks of a multi-line message (our own
    formatting) are kept; every line is neutralised."""
    return "\n".join(untrusted_text(line, limit=limit) for line in text.split("\n"))
