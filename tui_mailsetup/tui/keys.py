"""A burst is slow typing: each key is handled alone, after everything the one before caused.

Textual forwards a key to the focused widget's queue and runs a non-priority
binding (Tab's ``focus_next``, an Input's Backspace) only after the key has
bubbled, hop by hop, up to the App; what a key causes (Enter's ``Submitted``
moving to the next field, a button's ``Pressed`` opening the next step, a
drop-down opening, a dialog or the command palette pushed, the palette's
search, an Input selecting its text when focused) happens later still, in other
widgets' queues. Keys that follow in the same burst (one read from the
terminal, a paste, a password manager's auto-type) overtook all of it:
``user<Enter>password`` saved ``userpassword`` as the username.

:class:`KeyRouter` takes every key and paste where they enter the App and plays
them, in order, from a task of its own: one key is handled (priority bindings,
a printable character straight into the focused Input, the bindings of the
focus chain, what is left forwarded as Textual would), then the router waits
until the app is idle (:meth:`KeyRouter.settle`: every queue of the app, its
screens and their widgets empty and nothing being handled, the screen laid out
and its after-refresh callbacks run, the palette's search finished), and only
then takes the next key. While a section is still being built (``hold``), keys
and pastes wait in order and are delivered once its first field has focus.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any

from textual import events
from textual.command import CommandPalette
from textual.dom import NoScreen
from textual.message_pump import MessagePump
from textual.widgets import Input

if TYPE_CHECKING:
    from textual.app import App

KeyOrPaste = events.Key | events.Paste

SETTLE_ROUNDS = 25
"""At most this many rounds of waiting after one key: a widget that posts messages without end
(a transcript streaming in) must not hold the keys back for ever."""

ROUND_GUARD = 10.0
"""Seconds one round may take before the next key goes anyway: a hang guard, never reached by a
handler that ends (a handler that awaits a person, a dialog's answer, would else stop all keys)."""

QUICK_WORKER_GROUPS = frozenset({CommandPalette._GATHER_COMMANDS_GROUP})
"""Workers a key starts that are part of what it does and end by themselves at once: the command
palette's search. Network work (a test send, Detect, DNS) is not waited for, as a person typing
slowly does not wait for it either."""


class KeyRouter:
    """The App's serial key path (see the module's docstring)."""

    def __init__(self, app: App[Any]) -> None:
        self.app = app
        self.pending: deque[KeyOrPaste] = deque()
        self.holds = 0
        self.delivering = False
        self._task: asyncio.Task[None] | None = None

    def takes(self, event: events.Event) -> bool:
        return isinstance(event, (events.Key, events.Paste)) and not event.is_forwarded

    async def receive(self, event: KeyOrPaste) -> None:
        self.pending.append(event)
        self.kick()

    def kick(self) -> None:
        """Play the pending keys from the router's task (started when none runs).

        Not from the App's own message handler: waiting there for the App's queue to empty
        would wait for ever.
        """
        if self.delivering or (self._task is not None and not self._task.done()):
            return
        if self.pending and self.holds == 0:
            self._task = asyncio.create_task(self.drain(), name="tui-mailsetup keys")

    def close(self) -> None:
        """The app is closing: keys still pending are dropped with it."""
        self.pending.clear()
        if self._task is not None and not self._task.done():
            self._task.cancel()

    def hold(self, until: Awaitable[Any]) -> None:
        """Keep keys back until ``until`` (a future or an AwaitComplete) is done."""
        future: Any = getattr(until, "_future", until)
        if getattr(future, "done", lambda: True)():
            return
        self.holds += 1

        def release() -> None:
            self.holds -= 1
            if self.holds == 0:
                self.kick()

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
                if not self.app.is_running:
                    self.pending.clear()
                    break
                with self.app._context():
                    await self.deliver(self.pending.popleft())
                await self.settle()
        except asyncio.CancelledError:
            raise
        except Exception as error:
            self.app._handle_exception(error)
        finally:
            self.delivering = False

    # ------------------------------------------------------------------ idle

    def _pumps(self) -> list[MessagePump]:
        app = self.app
        pumps: list[MessagePump] = [app]
        for screen in app.screen_stack:
            pumps.extend(screen.walk_children(with_self=True))
        return pumps

    def _quiet(self, pumps: list[MessagePump]) -> bool:
        """Nothing queued anywhere, nothing to run after the next refresh, no search running."""
        if any(not pump._message_queue.empty() or pump._next_callbacks for pump in pumps):
            return False
        app = self.app
        if not app.screen_stack:
            return True
        screen = app.screen
        if screen._callbacks or screen._layout_required or screen._recompose_required:
            return False
        return not any(
            worker.group in QUICK_WORKER_GROUPS and not worker.is_finished
            for worker in app.workers
        )

    async def settle(self) -> None:
        """Wait until the app has finished what the last key caused (see the module's docstring).

        Quiet twice in a row: a handler that began after a widget's turn in one round (a
        message that reached it meanwhile) leaves its queue empty while it still runs; the
        next round's turn waits for it to end.
        """
        app = self.app
        quiet_rounds = 0
        for _ in range(SETTLE_ROUNDS):
            if not app.is_running or not app.screen_stack or app._exception_event.is_set():
                return
            if not await self._round(self._pumps()):
                return
            quiet_rounds = quiet_rounds + 1 if self._quiet(self._pumps()) else 0
            if quiet_rounds == 2:
                return

    async def _round(self, pumps: list[MessagePump]) -> bool:
        """Every pump handles what it had queued, then the screen refreshes once."""
        app = self.app
        left = 0
        done = asyncio.Event()

        def one_done() -> None:
            nonlocal left
            left -= 1
            if left == 0:
                done.set()

        for pump in pumps:
            if pump.call_later(one_done):
                left += 1
        if left == 0:
            done.set()
        if not await self._wait(done):
            return False
        refreshed = asyncio.Event()
        if not app.screen_stack or not app.screen.call_after_refresh(refreshed.set):
            return True
        return await self._wait(refreshed)

    async def _wait(self, done: asyncio.Event) -> bool:
        waits = [
            asyncio.ensure_future(done.wait()),
            asyncio.ensure_future(self.app._exception_event.wait()),
        ]
        try:
            await asyncio.wait(waits, timeout=ROUND_GUARD, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for wait in waits:
                wait.cancel()
        return done.is_set()

    # ------------------------------------------------------------------ one key

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
