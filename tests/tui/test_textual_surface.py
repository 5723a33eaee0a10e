"""The private corner of Textual the TUI relies on: each member pinned by a test of its own.

pyproject pins Textual to the exact version tested (``textual==…``; checked against the
installed one below). A release that renames, reshapes or changes the behaviour of one of
these members must fail here, loudly, rather than leave the first frame half drawn, keys
lost or the app crashing at start. :func:`test_every_private_member_the_tui_touches_is_pinned`
scans tui/ and fails when a private member is touched that is not listed here (or one
listed here is no longer touched).

tui/first_frame.py (the first frame, the first resume):
  ``App._display``, ``App._batch_count``, ``App._running``, ``Screen._update_auto_focus``,
  ``Screen._on_screen_resume``
tui/app.py (closing): ``App._shutdown``, ``App._on_key``
tui/keys.py (the key router, the paste parser):
  ``textual._xterm_parser.XTermParser`` (its ``feed``; ``linux_driver.XTermParser`` swapped),
  ``CommandPalette._GATHER_COMMANDS_GROUP``, ``App._context``, ``App._handle_exception``,
  ``App._exception_event``, ``App._check_bindings``, ``MessagePump._message_queue``,
  ``MessagePump._next_callbacks``, ``Screen._callbacks``, ``Screen._layout_required``,
  ``Screen._recompose_required``, ``Screen._clear_tooltip``, ``Widget._forward_event``,
  ``Input._restart_blink``, ``AwaitComplete._future`` (also tui/screens/form.py)
tui/screens/form.py (focus order): ``Widget._check_disabled``
tui/screens/settings.py (tabs that follow focus):
  ``textual.widgets._tabbed_content.ContentTab`` / ``ContentTabs``,
  ``TabbedContent._on_tab_pane_focused``, ``TabbedContent._on_tabs_tab_activated``,
  ``TabbedContent._is_associated_tabs``
tui/widgets/field.py (the tick box's mark): ``ToggleButton._button``
"""

from __future__ import annotations

import ast
import asyncio
import importlib
import inspect
import pkgutil
import re
import tomllib
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest
import textual
from textual import events
from textual._context import active_app
from textual.app import App, ComposeResult
from textual.await_complete import AwaitComplete
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Checkbox, Input, TabbedContent, TabPane

import tui_mailsetup.tui

ROOT = next(p for p in Path(__file__).resolve().parents if (p / "pyproject.toml").is_file())


def parameters(function: Any) -> list[str]:
    return list(inspect.signature(function).parameters)


# ---------------------------------------------------------------------- the pin


def test_the_installed_textual_is_the_version_pyproject_pins() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    pins = [d for d in project["project"]["dependencies"] if re.match(r"textual\b", d)]
    assert pins == [f"textual=={version('textual')}"]


# ---------------------------------------------------------------------- tui/first_frame.py, app.py


def test_display_takes_a_screen_and_a_renderable() -> None:
    assert parameters(App._display) == ["self", "screen", "renderable"]


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


async def test_running_is_true_while_the_app_runs() -> None:
    app: App[None] = App()
    assert app._running is False
    async with app.run_test():
        assert app._running is True


async def test_shutdown_is_awaited_once_when_the_app_closes() -> None:
    closed: list[bool] = []

    class Closing(App[None]):
        async def _shutdown(self) -> None:
            closed.append(True)
            await super()._shutdown()

    assert parameters(App._shutdown) == ["self"]
    assert inspect.iscoroutinefunction(App._shutdown)
    async with Closing().run_test():
        pass
    assert closed == [True]


async def test_on_key_is_the_apps_handler_for_the_keys_that_reach_it() -> None:
    seen: list[str] = []

    class Keyed(App[None]):
        async def _on_key(self, event: events.Key) -> None:
            seen.append(event.key)
            await super()._on_key(event)

    assert parameters(App._on_key) == ["self", "event"]
    assert inspect.iscoroutinefunction(App._on_key)
    async with Keyed().run_test() as pilot:
        await pilot.press("x")
    assert seen == ["x"]


# ---------------------------------------------------------------------- tui/keys.py


def test_the_input_thread_builds_its_parser_by_the_module_name() -> None:
    """``keep_pasted_escapes`` swaps ``linux_driver.XTermParser`` for a subclass."""
    from textual.drivers import linux_driver

    assert "XTermParser(self._debug)" in inspect.getsource(
        linux_driver.LinuxDriver.run_input_thread
    )
    parser: type = linux_driver.XTermParser  # type: ignore[attr-defined]
    assert parser.__module__ in {
        "textual._xterm_parser",
        "tui_mailsetup.tui.keys",
    }


def test_textual_still_splits_a_paste_at_an_escape() -> None:
    """What PasteKeepingParser works around; if Textual keeps the ESC in the paste itself,
    the subclass is no longer needed (and this test says so)."""
    from textual._xterm_parser import XTermParser

    assert parameters(XTermParser.__init__) == ["self", "debug"]
    assert parameters(XTermParser.feed) == ["self", "data"]
    parser = XTermParser()
    got = [*parser.feed("\x1b[200~Ops\x1bTeam\x1b[201~"), *parser.feed("")]
    assert [e.text for e in got if isinstance(e, events.Paste)] == ["Ops"]


def test_the_palette_searches_in_a_worker_group() -> None:
    from textual.command import CommandPalette

    source = inspect.getsource(CommandPalette._gather_commands)
    assert "_GATHER_COMMANDS_GROUP" in source
    assert isinstance(CommandPalette._GATHER_COMMANDS_GROUP, str)


def test_context_makes_the_app_the_active_one() -> None:
    app: App[None] = App()
    with app._context():
        assert active_app.get() is app


def test_handle_exception_takes_the_error() -> None:
    assert parameters(App._handle_exception) == ["self", "error"]


def test_exception_event_is_an_asyncio_event() -> None:
    assert isinstance(App()._exception_event, asyncio.Event)


def test_check_bindings_takes_a_key_and_priority() -> None:
    assert parameters(App._check_bindings) == ["self", "key", "priority"]
    assert inspect.iscoroutinefunction(App._check_bindings)


def test_a_message_pumps_queue_says_when_it_is_empty() -> None:
    queue: asyncio.Queue[Any] = App()._message_queue
    assert queue.empty() is True
    queue.put_nowait(events.Key("x", "x"))
    assert queue.empty() is False


def test_next_callbacks_is_a_list() -> None:
    assert App()._next_callbacks == []


def test_a_screens_after_refresh_callbacks_are_a_list() -> None:
    assert Screen()._callbacks == []


def test_a_new_screen_needs_no_layout() -> None:
    assert Screen()._layout_required is False


def test_a_new_screen_needs_no_recompose() -> None:
    assert Screen()._recompose_required is False


def test_clear_tooltip_takes_nothing() -> None:
    assert parameters(Screen._clear_tooltip) == ["self"]


def test_forward_event_takes_the_event() -> None:
    assert parameters(Widget._forward_event) == ["self", "event"]


def test_restart_blink_takes_nothing() -> None:
    assert parameters(Input._restart_blink) == ["self"]


async def test_await_complete_holds_its_future() -> None:
    async def nothing() -> None:
        return None

    waiting = AwaitComplete(nothing())
    assert isinstance(waiting._future, asyncio.Future)
    await waiting
    assert waiting._future.done()


# ---------------------------------------------------------------------- first_frame.py, form.py


def test_check_disabled_says_disabled_or_loading() -> None:
    widget = Widget()
    assert widget._check_disabled() is False
    widget.disabled = True
    assert widget._check_disabled() is True


def test_update_auto_focus_is_called_when_a_screen_resumes() -> None:
    assert parameters(Screen._update_auto_focus) == ["self"]
    assert "self._update_auto_focus()" in inspect.getsource(Screen._on_screen_resume)


def test_screen_resume_restyles_only_when_asked() -> None:
    assert parameters(Screen._on_screen_resume) == ["self", "event"]
    assert "if event.refresh_styles:" in inspect.getsource(Screen._on_screen_resume)
    assert events.ScreenResume().refresh_styles is True


# ---------------------------------------------------------------------- tui/screens/settings.py


def test_content_tab_ids_carry_a_prefix() -> None:
    from textual.widgets._tabbed_content import ContentTab, ContentTabs

    assert issubclass(ContentTabs, textual.widgets.Tabs)
    assert ContentTab.sans_prefix(ContentTab.add_prefix("tab-smtp")) == "tab-smtp"


async def test_tabbed_content_handles_focus_and_activation_by_private_handlers() -> None:
    assert parameters(TabbedContent._on_tab_pane_focused) == ["self", "event"]
    assert parameters(TabbedContent._on_tabs_tab_activated) == ["self", "event"]
    assert parameters(TabbedContent._is_associated_tabs) == ["self", "tabs"]
    from textual.widgets._tabbed_content import ContentTabs

    class Tabbed(App[None]):
        def compose(self) -> ComposeResult:
            with TabbedContent():
                yield TabPane("One", id="one")
                yield TabPane("Two", id="two")

    async with Tabbed().run_test() as pilot:
        tabbed = pilot.app.query_one(TabbedContent)
        assert tabbed._is_associated_tabs(tabbed.get_child_by_type(ContentTabs))


# ---------------------------------------------------------------------- tui/widgets/field.py


def test_a_checkbox_draws_its_mark_from_button_inner() -> None:
    assert isinstance(inspect.getattr_static(Checkbox, "_button"), property)
    assert "self.BUTTON_INNER" in inspect.getsource(
        inspect.getattr_static(Checkbox, "_button").fget
    )


# ---------------------------------------------------------------------- the list is complete

PINNED = {
    "_display",
    "_batch_count",
    "_running",
    "_shutdown",
    "_on_key",
    "textual._xterm_parser.XTermParser",
    "_GATHER_COMMANDS_GROUP",
    "_context",
    "_handle_exception",
    "_exception_event",
    "_check_bindings",
    "_message_queue",
    "_next_callbacks",
    "_callbacks",
    "_layout_required",
    "_recompose_required",
    "_clear_tooltip",
    "_forward_event",
    "_restart_blink",
    "_future",
    "_check_disabled",
    "_update_auto_focus",
    "_on_screen_resume",
    "textual.widgets._tabbed_content.ContentTab",
    "textual.widgets._tabbed_content.ContentTabs",
    "_on_tab_pane_focused",
    "_on_tabs_tab_activated",
    "_is_associated_tabs",
    "_button",
}
"""Every private Textual member tui/ touches, each pinned by a test above."""


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def _textual_private_names() -> set[str]:
    """Every private name Textual's own source defines (attributes, methods, class names)."""
    names: set[str] = set()
    for path in Path(textual.__file__).parent.rglob("*.py"):
        source = path.read_text(encoding="utf-8")
        names |= set(re.findall(r"self\.(_[A-Za-z]\w*)", source))
        names |= set(re.findall(r"def (_[A-Za-z]\w*)", source))
        names |= set(re.findall(r"^\s*(_[A-Za-z]\w*)\s*[:=]", source, re.MULTILINE))
    return {name for name in names if _private(name)}


def _textual_ancestors_names(cls: type) -> set[str]:
    names: set[str] = set()
    for base in cls.__mro__[1:]:
        if base.__module__.split(".")[0] != "textual":
            continue
        names |= {name for name in vars(base) if _private(name)}
        try:
            source = inspect.getsource(base)
        except (OSError, TypeError):
            continue
        names |= set(re.findall(r"self\.(_[A-Za-z]\w*)\s*(?::[^=\n]*)?=", source))
    return names


def _defined_in(node: ast.AST) -> set[str]:
    """Private names a piece of source defines: methods, ``self._x = …``, class attributes."""
    names: set[str] = set()
    for child in ast.walk(node):
        if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
            names.add(child.name)
        elif isinstance(child, ast.Attribute) and isinstance(child.ctx, ast.Store):
            names.add(child.attr)
        elif isinstance(child, ast.ClassDef):
            for statement in child.body:
                targets = (
                    statement.targets
                    if isinstance(statement, ast.Assign)
                    else [statement.target]
                    if isinstance(statement, ast.AnnAssign)
                    else []
                )
                names |= {t.id for t in targets if isinstance(t, ast.Name)}
    return {name for name in names if _private(name)}


def touched_private_members() -> set[str]:
    """What tui/ touches of Textual's private side: names it reads that Textual defines and
    tui/ does not; names its classes define that their Textual bases already define
    (overrides, shadows); and names imported from Textual's private modules."""
    textual_names = _textual_private_names()
    used: set[str] = set()
    own: set[str] = set()
    touched: set[str] = set()
    package = Path(tui_mailsetup.tui.__file__).parent
    for path in package.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        own |= _defined_in(tree)
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and _private(node.attr):
                used.add(node.attr)
            elif (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id in {"getattr", "hasattr", "setattr"}
                and len(node.args) > 1
                and isinstance(node.args[1], ast.Constant)
                and isinstance(node.args[1].value, str)
                and _private(node.args[1].value)
            ):
                used.add(node.args[1].value)
            elif (
                isinstance(node, ast.ImportFrom)
                and node.module
                and node.module.split(".")[0] == "textual"
                and any(_private(part) for part in node.module.split("."))
            ):
                touched |= {f"{node.module}.{alias.name}" for alias in node.names}
    touched |= (used - own) & textual_names
    for info in pkgutil.walk_packages(tui_mailsetup.tui.__path__, "tui_mailsetup.tui."):
        module = importlib.import_module(info.name)
        for cls in vars(module).values():
            if not inspect.isclass(cls) or cls.__module__ != info.name:
                continue
            if not any(b.__module__.split(".")[0] == "textual" for b in cls.__mro__[1:]):
                continue
            mine = _defined_in(ast.parse(inspect.getsource(cls)))
            touched |= mine & _textual_ancestors_names(cls)
    return touched


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_every_private_member_the_tui_touches_is_pinned() -> None:
    touched = touched_private_members()
    assert sorted(touched - PINNED) == [], "pin these with a test here, and list them above"
    assert sorted(PINNED - touched) == [], "no longer touched: remove their pins"
