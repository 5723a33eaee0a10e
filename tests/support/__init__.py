"""What the tests share, one module each, imported by one name (``tests.support.<module>``):
the scripted servers, the CLI run as a user would, the TUI's helpers, the Ansible fleet.

``REPO`` is the checkout's root and ``DATA`` the tests' data files (tests/data): the one place
a test computes a path from where it lives.
"""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "tests" / "data"
