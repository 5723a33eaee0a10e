"""The private corner of Textual the TUI relies on (tui/app.py ``MailSetupApp._display``, and
tui/keys.py: the key router's idle checks, the paste parser).

Textual drops a frame painted inside its start-up batch although the screen counts it
as painted; the app writes its first form screen's frame anyway by calling
``App._display`` with ``_batch_count`` held at zero. Both are private: pyproject allows
any Textual 8, so a release that renames or reshapes them must fail here, loudly, rather
than leave the first frame half drawn or crash at start.
"""

from __future__ import annotations

import asyncio
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


# ---------------------------------------------------------------------- tui/keys.py


def test_the_idle_checks_the_key_router_reads_exist() -> None:
    """``KeyRouter.settle`` waits until every queue is empty, nothing is left to run after the
    current message or the next refresh, and the screen needs no layout."""
    from textual.screen import Screen

    app: App[None] = App()
    assert app._message_queue.empty()
    assert app._next_callbacks == []
    assert isinstance(app._exception_event, asyncio.Event)
    screen: Screen[None] = Screen()
    assert screen._callbacks == []
    assert screen._layout_required is False
    assert screen._recompose_required is False
    assert callable(app._context) and callable(app._handle_exception)
    assert list(inspect.signature(App._check_bindings).parameters) == ["self", "key", "priority"]


def test_the_palette_searches_in_a_worker_group() -> None:
    from textual.command import CommandPalette

    source = inspect.getsource(CommandPalette._gather_commands)
    assert "_GATHER_COMMANDS_GROUP" in source
    assert isinstance(CommandPalette._GATHER_COMMANDS_GROUP, str)


def test_the_input_thread_builds_its_parser_by_the_module_name() -> None:
    """``keep_pasted_escapes`` swaps ``linux_driver.XTermParser`` for a subclass."""
    from textual.drivers import linux_driver

    assert "XTermParser(self._debug)" in inspect.getsource(
        linux_driver.LinuxDriver.run_input_thread
    )


def test_textual_still_splits_a_paste_at_an_escape() -> None:
    """What PasteKeepingParser works around; if Textual keeps the ESC in the paste itself,
    the subclass is no longer needed (and this test says so)."""
    from textual._xterm_parser import XTermParser
    from textual.events import Paste

    parser = XTermParser()
    got = [*parser.feed("\x1b[200~Ops\x1bTeam\x1b[201~"), *parser.feed("")]
    assert [e.text for e in got if isinstance(e, Paste)] == ["Ops"]
