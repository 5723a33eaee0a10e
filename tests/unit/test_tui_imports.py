"""The TUI's modules import one way (issue 23 item 1): no circle, and the screens never the app.

The graph is grimp's (import-linter's own), read from the source: imports inside functions
and under ``TYPE_CHECKING`` count too, since a circle there is still one a reader follows.
"""

from __future__ import annotations

import grimp
import pytest

TUI = "tui_mailsetup.tui"


@pytest.fixture(scope="module")
def edges() -> dict[str, set[str]]:
    graph = grimp.build_graph("tui_mailsetup", cache_dir=None)
    modules = {m for m in graph.modules if m == TUI or m.startswith(TUI + ".")}
    return {m: graph.find_modules_directly_imported_by(m) & modules for m in modules}


def circles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan), each a circle."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        for imported in sorted(edges[module]):
            if imported not in index:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in stack:
                low[module] = min(low[module], index[imported])
        if low[module] == index[module]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == module:
                    break
            if len(group) > 1 or module in edges[module]:
                found.append(sorted(group))

    for module in sorted(edges):
        if module not in index:
            visit(module)
    return found


def test_the_tui_has_no_import_circle(edges: dict[str, set[str]]) -> None:
    assert circles(edges) == []


def test_the_circle_finder_finds_one() -> None:
    # The shape the TUI had: the app imports the screens, a screen imported the app.
    shape = {"app": {"screens.form"}, "screens.form": {"app", "form"}, "form": set()}
    assert circles(shape) == [["app", "screens.form"]]


def test_screens_and_widgets_never_import_the_app(edges: dict[str, set[str]]) -> None:
    # They get a TuiServices (tui/services.py) instead of reaching into the app.
    reaching = sorted(
        module
        for module, imported in edges.items()
        if f"{TUI}.app" in imported
        and module.startswith((f"{TUI}.screens", f"{TUI}.widgets", f"{TUI}.services"))
    )
    assert reaching == []


def test_the_services_import_no_screen(edges: dict[str, set[str]]) -> None:
    assert not any(m.startswith(f"{TUI}.screens") for m in edges[f"{TUI}.services"])
    assert not any(m.startswith(f"{TUI}.screens") for m in edges[f"{TUI}.form_session"])
