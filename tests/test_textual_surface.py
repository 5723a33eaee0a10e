"""The private corner of Textual the TUI relies on (tui/app.py ``MailSetupApp._display``).

Textual drops a frame painted inside its start-up batch although the screen counts it
as painted; the app writes its first form screen's frame anyway by calling
``App._display`` with ``_batch_count`` held at zero. Both are private: pyproject allows
any Textual 8, so a release that renames or reshapes them must fail here, loudly, rather
than leave the first frame half drawn or crash at start.
"""

from __future__ import annotations

import inspect

from textual.app import App


def test_display_takes_a_screen_and_a_renderable() -> None:
    parameters = list(inspect.signature(App._display).parameters)
    assert parameters == ["self", "screen", "renderable"]


def test_a_new_app_counts_its_batches_from_zero() -> None:
    app: App[None] = App()
    assert app._batch_count == 0
    with app.batch_update():
        assert app._batch_count == 1
    assert app._batch_count == 0


def test_display_drops_what_is_painted_inside_a_batch() -> None:
    # The behaviour the override works around; if Textual stops dropping such frames,
    # the override is no longer needed (and this test says so).
    assert "if self._batch_count:" in inspect.getsource(App._display)
