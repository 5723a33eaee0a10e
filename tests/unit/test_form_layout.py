"""The wizard and the settings screen are one form around a layout (issue 23 item 1).

Read from the source: a layout asks the form only what ``FormHost`` names, the form asks
a layout only what ``FormLayout`` names, nothing on either side of the seam is private,
and the two screens add nothing to the form but the choice of layout. The flows
themselves (steps, tabs, the home letters, Back/Next) are driven in ``tests/tui/``.
"""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest

from tui_mailsetup.tui.screens import form, settings, wizard
from tui_mailsetup.tui.screens.form import FormScreen
from tui_mailsetup.tui.screens.form_layout import FormHost, FormLayout
from tui_mailsetup.tui.screens.settings import SettingsLayout, SettingsScreen
from tui_mailsetup.tui.screens.wizard import WizardLayout, WizardScreen


def protocol_names(protocol: type) -> set[str]:
    body = ast.parse(inspect.getsource(protocol)).body[0]
    assert isinstance(body, ast.ClassDef)
    names = set()
    for node in body.body:
        if isinstance(node, ast.FunctionDef):
            names.add(node.name)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    return names


def uses_of(source: Path, owner: str) -> dict[str, int]:
    """Each ``<...>.<owner>.<name>`` in a module, with the line it is first on."""
    found: dict[str, int] = {}
    for node in ast.walk(ast.parse(source.read_text())):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Attribute)
            and node.value.attr == owner
        ):
            found.setdefault(node.attr, node.lineno)
    return found


def module_path(module: object) -> Path:
    path = inspect.getsourcefile(module)  # type: ignore[arg-type]
    assert path is not None
    return Path(path)


@pytest.mark.parametrize("module", [wizard, settings], ids=["wizard", "settings"])
def test_a_layout_asks_the_form_only_what_the_host_protocol_names(module: object) -> None:
    allowed = protocol_names(FormHost)
    used = uses_of(module_path(module), "form")
    assert used, "the layout never asks the form anything: the scan is not looking"
    outside = {name: line for name, line in used.items() if name not in allowed}
    assert not outside, f"asked of the form beyond FormHost: {outside}"


def test_the_form_asks_its_layout_only_what_the_layout_protocol_names() -> None:
    allowed = protocol_names(FormLayout)
    used = uses_of(module_path(form), "form_layout")
    assert used.keys() >= {"compose", "container", "switch_to", "findings_changed"}
    outside = {name: line for name, line in used.items() if name not in allowed}
    assert not outside, f"asked of the layout beyond FormLayout: {outside}"


def test_nothing_across_the_seam_is_private() -> None:
    for protocol in (FormHost, FormLayout):
        private = {name for name in protocol_names(protocol) if name.startswith("_")}
        assert not private, f"{protocol.__name__} names private members: {private}"


@pytest.mark.parametrize(
    ("screen", "layout"),
    [(WizardScreen, WizardLayout), (SettingsScreen, SettingsLayout)],
    ids=["wizard", "settings"],
)
def test_each_screen_is_the_form_given_a_layout_and_nothing_more(
    screen: type[FormScreen], layout: type[object]
) -> None:
    body = ast.parse(inspect.getsource(screen)).body[0]
    assert isinstance(body, ast.ClassDef)
    assert [ast.unparse(base) for base in body.bases] == ["FormScreen"]
    own = [
        getattr(node, "name", ast.unparse(node))
        for node in body.body
        if not (isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant))
    ]
    assert own == ["__init__"], f"{screen.__name__} adds to the form: {own}"
    # The layout answers every question the form may ask.
    missing = {name for name in protocol_names(FormLayout) if not hasattr(layout, name)}
    assert not missing, f"{layout.__name__} does not answer {missing}"
    # And the form answers every question a layout may ask.
    host_missing = {
        name
        for name in protocol_names(FormHost)
        if not hasattr(FormScreen, name) and name not in {"services", "target_section"}
    }
    assert not host_missing, f"FormScreen does not answer {host_missing}"
