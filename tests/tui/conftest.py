"""TUI tests: the Textual app driven through Pilot, in tmux, and compared with its snapshots
(``__snapshots__/`` beside the module that takes them). Any test that drives the app lives
here, because the patch below applies to this folder only."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def pilot_press_waits_for_held_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pilot.press waits for keys the TUI holds back until its sections and its configuration
    are loaded (right after the first frame; tui/keys.py), whatever the machine's load."""
    from textual.pilot import Pilot

    from tests.support.tui_support import press_delivered

    monkeypatch.setattr(Pilot, "press", press_delivered)
