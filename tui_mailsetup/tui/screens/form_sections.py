"""When the form's sections are built: the first one with the first frame, the others right
after it (all at once), any of them at once when asked for; keys wait meanwhile.

:class:`SectionMounter` is composed into the form screen. Building late keeps the first
frame fast; building all right after it means a key typed after ``pgdn`` never meets a
section still being built (the keys wait: :meth:`KeyHold.hold`). Before the configuration
is loaded, a section waits for it, so that its fields show the loaded values, never the
defaults.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Protocol

from textual.await_complete import AwaitComplete
from textual.widget import Widget

from tui_mailsetup.tui.form import SECTION_BY_ID, Section
from tui_mailsetup.tui.services import ConfigAccess, KeyHold


class SectionHost(Protocol):
    """What the mounter asks of the screen it builds for."""

    def section_container(self, section_id: str) -> Widget:
        """The (possibly still empty) container a section's contents go in."""
        ...

    def build_section(self, section: Section) -> Widget: ...

    def section_mounted(self, section_id: str) -> None:
        """Bring the freshly mounted section up to date (and focus it when it was asked for)."""
        ...


class SectionMounter:
    def __init__(self, host: SectionHost, config: ConfigAccess, keys: KeyHold) -> None:
        self.host = host
        self.config = config
        self.keys = keys
        self.built: set[str] = set()
        self.mounting: dict[str, AwaitComplete] = {}
        self.prebuilding = False
        self.prebuilt: asyncio.Future[None] | None = None

    def mark_built(self, section_id: str) -> None:
        """A section composed with the screen itself (the wizard's first step)."""
        self.built.add(section_id)

    def hold_keys(self) -> None:
        """At the first frame: keys wait until every section is built (see :meth:`prebuild`)."""
        self.prebuilt = asyncio.get_running_loop().create_future()
        self.keys.hold(self.prebuilt)

    def ensure(self, section_id: str) -> AwaitComplete | None:
        """Mount a section's contents the first time it is needed (startup stays fast)."""
        if section_id in self.built or section_id not in SECTION_BY_ID:
            return None
        self.built.add(section_id)
        host, config = self.host, self.config
        container = host.section_container(section_id)
        section = SECTION_BY_ID[section_id]
        mounting = container.mount(host.build_section(section)) if config.config_ready else None

        async def mounted() -> None:
            if mounting is None:
                await config.wait_for_config()
                await container.mount(host.build_section(section))
            else:
                await mounting
            host.section_mounted(section_id)

        self.mounting[section_id] = AwaitComplete(mounted())
        # Keys typed meanwhile wait, then go to the section's first field, in order.
        self.keys.hold(self.mounting[section_id])
        return self.mounting[section_id]

    async def ready(self, section_id: str) -> None:
        self.ensure(section_id)
        if (pending := self.mounting.get(section_id)) is not None:
            await pending

    def prebuild(self, section_ids: Iterable[str]) -> None:
        """Build every section not built yet, all at once; keys wait for the last one."""
        self.prebuilding = True
        pending = [m for section_id in section_ids if (m := self.ensure(section_id)) is not None]
        if not pending:
            self.release()
            return
        AwaitComplete(*pending)._future.add_done_callback(lambda _: self.release())

    @property
    def done(self) -> bool:
        return self.prebuilt is not None and self.prebuilt.done()

    def release(self) -> None:
        """Keys no longer wait for the sections (all built, or the screen is replaced)."""
        if self.prebuilt is not None and not self.prebuilt.done():
            self.prebuilt.set_result(None)

    async def wait(self) -> None:
        """Return once the sections being built after the first frame are (closing waits)."""
        if self.prebuilding and self.prebuilt is not None and not self.prebuilt.done():
            await asyncio.shield(self.prebuilt)
