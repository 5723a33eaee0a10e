"""Untrusted text is neutralised before it reaches a terminal."""

from __future__ import annotations

import unicodedata

from hypothesis import given
from hypothesis import strategies as st

from tui_mailsetup.sanitize import untrusted_text


@given(st.one_of(st.binary(max_size=300), st.text(max_size=300)))
def test_output_is_one_printable_line(data: bytes | str) -> None:
    text = untrusted_text(data)
    for char in text:
        category = unicodedata.category(char)
        assert category not in {"Cc", "Cs", "Zl", "Zp"}, repr(char)
        assert char not in "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\ufeff"


def test_escape_sequences_become_visible_text() -> None:
    assert untrusted_text("220 \x1b]0;pwned\x07\x1b[2J hi") == "220 \\x1b]0;pwned\\x07\\x1b[2J hi"


def test_invalid_utf8_and_surrogate_escaped_bytes_are_visible() -> None:
    assert untrusted_text(b"250 ok \xff") == "250 ok \ufffd"
    assert untrusted_text(b"250 ok \xff".decode("utf-8", "surrogateescape")) == "250 ok \\udcff"


def test_markup_is_left_as_text_for_plain_rendering() -> None:
    # Callers render with rich.text.Text, never as markup; the brackets stay visible.
    assert untrusted_text("[bold red]alert[/]") == "[bold red]alert[/]"


def test_long_text_is_cut_and_says_so() -> None:
    text = untrusted_text("x" * 5000, limit=100)
    assert text.startswith("x" * 100)
    assert text.endswith("…[4900 more characters]")


def test_line_breaks_inside_stay_on_one_line() -> None:
    assert untrusted_text("a\r\nb\nc\r\n") == "a\\nb\\nc"
