"""The TUI's side of the start-up room (:mod:`tui_mailsetup.startup`): what must be Textual.

* :class:`FirstFrameApp` writes the first form screen's first frame, which Textual lays
  out while it is still starting (in its batch around the app's compose and mount) and
  drops, though the screen counts it as painted: only the parts that changed afterwards
  reached the terminal, and the whole screen only with the next full layout (the footer's
  first recompose, 60-90 ms later).
* :class:`FirstResumeScreen` skips what the first resume after the mount would redo: a
  restyle of the whole screen (every widget was just styled) and Textual's own pick of a
  focus (styled focused, then blurred, for nothing: the screen focuses its field itself).

Both override private members of Textual (``App._display``, ``App._batch_count``,
``App._running``, ``Screen._on_screen_resume``, ``Screen._update_auto_focus``), each pinned
by a test in test_textual_surface.py; Textual is pinned to the exact version tested.
The keys typed before the values are in wait in :mod:`tui_mailsetup.tui.keys`.
"""

from __future__ import annotations

from typing import Any

from rich.console import RenderableType
from textual import events
from textual.app import App
from textual.screen import Screen


class FirstFrameApp(App[int]):
    """An App that writes its first form screen's first frame although Textual drops it."""

    _first_frame_out = False

    def _display(self, screen: Screen[Any], renderable: RenderableType | None) -> None:
        # The first frame of the first form screen (a FirstResumeScreen), not the blank
        # default screen's: complete (composed, styled, focused), it is written now.
        if (
            renderable is not None
            and not self._first_frame_out
            and self._running
            and isinstance(screen, FirstResumeScreen)
        ):
            self._first_frame_out = True
            held, self._batch_count = self._batch_count, 0
            try:
                super()._display(screen, renderable)
            finally:
                self._batch_count = held
            return
        super()._display(screen, renderable)


class FirstResumeScreen(Screen[None]):
    """A screen that focuses its own first field once mounted (it sets
    :attr:`_first_mount_done` then), and whose first resume restyles nothing."""

    _first_mount_done = False
    _resumed = False

    def _update_auto_focus(self) -> None:
        # Later (a dialog closed with nothing focused) Textual picks as before.
        if self._first_mount_done:
            super()._update_auto_focus()

    def _on_screen_resume(self, event: events.ScreenResume) -> None:
        # Later resumes (a dialog closed, the theme changed meanwhile) restyle as Textual does.
        if not self._resumed:
            self._resumed = True
            event.refresh_styles = False


__all__ = ["FirstFrameApp", "FirstResumeScreen"]
