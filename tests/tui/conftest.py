"""TUI tests: the Textual app driven through Pilot, in tmux, and compared with its snapshots
(``__snapshots__/`` beside the module that takes them). Any test that drives the app lives
here, because the patch below applies to this folder only."""

from __future__ import annotations

import pytest

# Whole modules of long keyboard bursts: each test types a wizard's worth of keys, slowly, in
# Pilot or in a real terminal (tmux), 10 to 50 s apiece in a serial run on two cores.
SLOW_MODULES = frozenset({"test_tui_bursts.py", "test_tui_tmux.py"})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.name in SLOW_MODULES and item.path.parent.name == "tui":
            item.add_marker(pytest.mark.slow)


@pytest.fixture(autouse=True)
def pilot_press_waits_for_held_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pilot.press waits for keys the TUI holds back until its sections and its configuration
    are loaded (right after the first frame; tui/keys.py), whatever the machine's load."""
    from textual.pilot import Pilot

    from tests.support.tui_support import press_delivered

    monkeypatch.setattr(Pilot, "press", press_delivered)
