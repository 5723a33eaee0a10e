"""Every key reaches the widget that had focus when it was typed, in the order it was typed.

Textual forwards a key to the focused widget's queue and runs a non-priority
binding (Tab's ``focus_next``, an Input's Backspace) only after the key has
bubbled, hop by hop, up to the App. Keys that follow in the same burst overtake
it: ``user<Tab>password`` put the password into the username field, and ``abc``
Backspace ``xyz`` gave ``abcxy`` (Textual issue #6605). ``Widget.focus()`` is
deferred too, so keys typed right after ``pgdn`` reached the previous step.

:class:`KeyRouter` handles each key completely, in the App's own task, before
the next one: priority bindings, then a printable character straight into the
focused Input, then the bindings of the focus chain, and only what is left is
forwarded as Textual would. While a section is still being built (``hold``),
keys and pastes wait in order and are delivered once its first field has focus.
"""

from __future__ import annotations

import contextlib
from collections import deque
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any

from textual import events
from textual.dom import NoScreen
from textual.widgets import Input

if TYPE_CHECKING:
    from textual.app import App

KeyOrPaste = events.Key | events.Paste


class KeyRouter:
    """The App's serial key path (see the module's docstring)."""

    def __init__(self, app: App[Any]) -> None:
        self.app = app
        self.pending: deque[KeyOrPaste] = deque()
        self.holds = 0
        self.delivering = False

    def takes(self, event: events.Event) -> bool:
        return isinstance(event, (events.Key, events.Paste)) and not event.is_forwarded

    async def receive(self, event: KeyOrPaste) -> None:
        self.pending.append(event)
        await self.drain()

    def hold(self, until: Awaitable[Any]) -> None:
        """Keep keys back until ``until`` (a future or an AwaitComplete) is done."""
        future: Any = getattr(until, "_future", until)
        if getattr(future, "done", lambda: True)():
            return
        self.holds += 1

        def release() -> None:
            self.holds -= 1
            if self.holds == 0:
                self.app.call_later(self.drain)

        def built(_: object) -> None:
            # After the next layout: Tab's order comes from where the new widgets are drawn.
            self.app.call_after_refresh(release)

        future.add_done_callback(built)

    async def drain(self) -> None:
        if self.delivering:
            return
        self.delivering = True
        try:
            while self.pending and self.holds == 0:
                await self.deliver(self.pending.popleft())
        finally:
            self.delivering = False

    async def deliver(self, event: KeyOrPaste) -> None:
        app = self.app
        if not app.screen_stack:
            return  # closing: no screen to type into
        app.app_focus = True
        focused = app.focused
        if isinstance(event, events.Paste):
            if isinstance(focused, Input):
                paste_into(focused, event.text)
            else:
                (focused or app.screen)._forward_event(event)
            return
        screen = app.screen
        if screen.maximized is not None and event.key == "escape" and app.escape_to_minimize:
            screen.minimize()
            return
        if focused is not None:
            with contextlib.suppress(NoScreen):
                screen._clear_tooltip()
        if await app._check_bindings(event.key, priority=True):
            return
        focused = app.focused
        if isinstance(focused, Input) and event.is_printable and event.character:
            type_into(focused, event.character)
            return
        consumed = (
            focused is not None
            and event.is_printable
            and focused.check_consume_key(event.key, event.character)
        )
        if not consumed and await app._check_bindings(event.key):
            return
        (app.focused or app.screen)._forward_event(event)


def type_into(editor: Input, text: str) -> None:
    """What Input does with a printable key, done now instead of from its queue."""
    editor._restart_blink()
    selection = editor.selection
    if selection.is_empty:
        editor.insert_text_at_cursor(text)
    else:
        editor.replace(text, *selection)


def paste_into(editor: Input, text: str) -> None:
    """A bracketed paste keeps its text, control characters included (validation flags them).

    Only line breaks at the end (what copying a line usually adds) are left out.
    """
    type_into(editor, text.rstrip("\r\n"))


__all__ = ["KeyRouter", "paste_into", "type_into"]
