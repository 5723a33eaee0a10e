"""Which encryption a submission port speaks: the one table of ports and encryption.

465 (and its alternate 2465) speak implicit TLS ("SSL") from the first byte; 587, 25,
2525 (and 2587) start in plain text and upgrade with STARTTLS. Validation, detection
and the TUI's port suggestions read this table; nothing else lists port numbers.
"""

from __future__ import annotations

from tui_mailsetup.settings import Encryption

IMPLICIT_TLS_PORTS = frozenset({465, 2465})
"""Ports that speak TLS from the first byte."""
STARTTLS_PORTS = frozenset({25, 587, 2525, 2587})
"""Ports that start in plain text and upgrade with STARTTLS."""
USUAL_PORT: dict[Encryption, int] = {
    Encryption.TLS: 465,
    Encryption.STARTTLS: 587,
    Encryption.NONE: 25,
}
"""The port to suggest for each encryption mode."""
