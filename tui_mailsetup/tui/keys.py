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
until the app is idle (:meth:`KeyRouter.settle`: what every queue of the app,
its screens and their widgets held has been handled, twice in a row nothing
new, the screen laid out and its after-refresh callbacks run, the palette's
search finished), and only then takes the next key. Network work a key starts
(a test send, Detect, DNS) is not waited for: a slow typist does not wait for it
either. While a section is still being built (``hold``), keys
and pastes wait in order and are delivered once its first field has focus.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Awaitable, Iterable
from typing import TYPE_CHECKING, Any

from textual import events
from textual._xterm_parser import XTermParser
from textual.command import CommandPalette
from textual.dom import NoScreen
from textual.message import Message
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
        if isinstance(event, events.Key) and event.key == "ctrl+j":
            # An Enter typed before the terminal left cooked mode (right at launch) was
            # turned into a line feed by the line discipline (ICRNL): it is still an Enter.
            # Nothing here binds ctrl+j, and a terminal sends it for Enter only this way.
            event = events.Key("enter", "\r")
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
            worker.group in QUICK_WORKER_GROUPS and not worker.is_finished for worker in app.workers
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
            # Only those with something to do: a turn for each of the hundreds of idle
            # widgets made every key of a burst cost a second on a loaded machine.
            busy: bool = not pump._message_queue.empty() or bool(pump._next_callbacks)
            if (busy or pump is app or pump is app.screen) and pump.call_later(one_done):
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
            text = event.text.replace(PASTED_ESC, "\x1b")
            if refuse_paste(app, text):
                return
            if text != event.text:
                event = events.Paste(text)
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


# ---------------------------------------------------------------------- pasted control characters

PASTED_ESC = "\ue01b"
"""What :class:`PasteKeepingParser` puts for an ESC inside a bracketed paste (a private-use
character: no terminal sends it); the router turns it back into ESC."""

_PASTE_START = "\x1b[200~"
_PASTE_END = "\x1b[201~"


def pasted_control(text: str) -> str | None:
    """The first control character of a paste that cannot go into a field, named, or None.

    Tabs and line breaks are left to the field (validation flags them where they are wrong);
    anything else (ESC, a bell, a backspace, C1 controls) would be rewritten, reordered or
    sent to the terminal: the paste is refused.
    """
    for index, char in enumerate(text):
        code = ord(char)
        if char in "\t\r\n":
            continue
        if code < 0x20 or code == 0x7F or 0x80 <= code < 0xA0:
            name = {0x1B: "ESC", 0x7F: "DEL", 0x08: "backspace", 0x07: "bell"}.get(code)
            return f"{name or f'U+{code:04X}'} at character {index + 1}"
    return None


def refuse_paste(app: App[Any], text: str) -> bool:
    """Refuse (and say so) a paste holding a control character; True when refused."""
    found = pasted_control(text)
    if found is None:
        return False
    app.notify(
        f"The pasted text holds a control character ({found}); nothing was pasted.",
        title="Not pasted",
        severity="warning",
    )
    return True


def keep_pasted_escapes() -> None:
    """Textual's input thread reads the terminal with :class:`PasteKeepingParser`."""
    from textual.drivers import linux_driver

    linux_driver.XTermParser = PasteKeepingParser  # type: ignore[attr-defined]


class PasteKeepingParser(XTermParser):
    """Textual's parser, except that an ESC inside a bracketed paste stays in the paste.

    Textual takes an ESC inside a paste for the start of a key sequence: ``Ops<ESC>Team``
    arrived as the keys ``^Team`` followed by the paste ``Ops``, and was saved as
    ``^TeamOps``. Here every ESC between the paste's brackets that does not begin the
    closing one is passed as :data:`PASTED_ESC`, inside the paste.
    """

    def __init__(self, debug: bool = False) -> None:
        super().__init__(debug)
        self._in_paste = False
        self._tail = ""
        """Outside a paste: the last characters read, where an opening marker cut by the
        read may begin (they have been passed on already: an ESC alone is the Escape key)."""
        self._held = ""
        """Inside a paste: an ESC (and what follows) that may begin the closing marker."""

    def feed(self, data: str) -> Iterable[Message]:
        if not data:  # the end of input: what was held back, then the end
            held, self._held = self._held, ""
            return [*(super().feed(held) if held else ()), *super().feed("")]
        marked = self._mark_escapes(data)
        return super().feed(marked) if marked else ()

    def _mark_escapes(self, data: str) -> str:
        out: list[str] = []
        if self._held:
            data, self._held = self._held + data, ""
        index = 0
        while index < len(data):
            if not self._in_paste:
                seen = len(self._tail)
                combined = self._tail + data[index:]
                start = combined.find(_PASTE_START)
                if start < 0:
                    out.append(data[index:])
                    self._tail = combined[-(len(_PASTE_START) - 1) :]
                    break
                opened = index + start + len(_PASTE_START) - seen
                out.append(data[index:opened])
                index, self._tail, self._in_paste = opened, "", True
                continue
            escape = data.find("\x1b", index)
            if escape < 0:
                out.append(data[index:])
                break
            out.append(data[index:escape])
            rest = data[escape:]
            if rest.startswith(_PASTE_END):
                out.append(_PASTE_END)
                index, self._in_paste = escape + len(_PASTE_END), False
            elif _PASTE_END.startswith(rest):
                self._held = rest  # perhaps the closing marker, cut by the read
                break
            else:
                out.append(PASTED_ESC)
                index = escape + 1
        return "".join(out)


__all__ = [
    "PASTED_ESC",
    "KeyRouter",
    "PasteKeepingParser",
    "keep_pasted_escapes",
    "paste_into",
    "pasted_control",
    "refuse_paste",
    "type_into",
]
