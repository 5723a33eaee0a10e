"""What is imported late, and the one way it is done: a module or a list asked on first use.

* :class:`ModuleOnFirstUse` stands for a module and imports the real one the first time
  an attribute is read from it. :func:`on_first_use` gives one for a module that is only
  needed when something goes wrong (the diagnosis rules of the SMTP ladder);
  :func:`asyncio_deferred` puts one in ``sys.modules`` while pydantic_settings is
  imported (see the package's docstring for why and what it saves).
* :class:`LazySequence` is a list computed on first use: argparse ``choices`` that would
  cost an import to spell out (check's stages, get-secret's keys).

Type checkers see the real module: importers write
``if TYPE_CHECKING: from x import y as name`` / ``else: name = on_first_use("x.y")``.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import sys
import types
from collections.abc import Callable, Iterator, Sequence
from typing import Any, overload


class ModuleOnFirstUse(types.ModuleType):
    """A stand-in for the module of the same name: the real module, on first use.

    Reading an attribute imports the real module (by the ordinary import machinery) and
    answers from it. When the stand-in itself is in ``sys.modules`` (asyncio, while
    pydantic_settings is imported), it leaves first, so that the import finds the real one.
    """

    def __getattr__(self, name: str) -> Any:
        if sys.modules.get(self.__name__) is self:
            del sys.modules[self.__name__]
        return getattr(importlib.import_module(self.__name__), name)


def on_first_use(module: str) -> Any:
    """``module``, imported when one of its attributes is first read (typed Any: the
    importer names the real module for type checkers under ``TYPE_CHECKING``)."""
    return ModuleOnFirstUse(module)


@contextlib.contextmanager
def asyncio_deferred() -> Iterator[None]:
    """While the block runs, ``import asyncio`` gets a :class:`ModuleOnFirstUse`, unless
    asyncio is imported already; the stand-in leaves ``sys.modules`` when the block ends."""
    if "asyncio" in sys.modules:  # already paid for: nothing to save, nothing to do
        yield
        return
    stand_in = ModuleOnFirstUse("asyncio")
    sys.modules["asyncio"] = stand_in
    try:
        yield
    finally:
        if sys.modules.get("asyncio") is stand_in:
            del sys.modules["asyncio"]


class LazySequence(Sequence[str]):
    """The strings ``make()`` returns, computed when first asked (``in``, iteration, len)."""

    def __init__(self, make: Callable[[], Sequence[str]]) -> None:
        self._make = make

    @functools.cached_property
    def _items(self) -> tuple[str, ...]:
        return tuple(self._make())

    @overload
    def __getitem__(self, index: int) -> str: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[str]: ...
    def __getitem__(self, index: int | slice) -> str | Sequence[str]:
        return self._items[index]

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, value: object) -> bool:
        return value in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)


__all__ = ["LazySequence", "ModuleOnFirstUse", "asyncio_deferred", "on_first_use"]
