"""The Ansible collection as a package: it builds with the program's version, ansible-doc reads
every plugin, and each module documents exactly the options it accepts (what ansible-test's
validate-modules checks, without the virtual environments it would download)."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from tests.support import REPO
from tests.support.fleet import tool
from tui_mailsetup import __version__

ROOT = REPO
SOURCE = ROOT / "tui_mailsetup" / "ansible"
MODULES = sorted(path.stem for path in (SOURCE / "plugins" / "modules").glob("*.py"))

pytestmark = pytest.mark.skipif(
    tool("ansible-doc") is None or tool("ansible-galaxy") is None,
    reason="ansible-core is not installed (it is in the test extra)",
)


def build(output: Path, *, tree: bool) -> Path:
    args = [sys.executable, str(ROOT / "scripts" / "build_collection.py"), "--output", str(output)]
    done = subprocess.run(
        [*args, *(["--tree"] if tree else [])], check=True, capture_output=True, text=True
    )
    return Path(done.stdout.strip())


def test_the_collection_builds_with_the_programs_version(tmp_path: Path) -> None:
    archive = build(tmp_path, tree=False)
    assert archive.name == f"tui_mailsetup-mail-{__version__}.tar.gz"
    with tarfile.open(archive) as packed:
        names = set(packed.getnames())
        manifest = json.load(packed.extractfile("MANIFEST.json"))  # type: ignore[arg-type]
    assert manifest["collection_info"]["version"] == __version__
    for module in ("settings", "check", "mta", "dns"):
        assert f"plugins/modules/{module}.py" in names
    assert "roles/install/tasks/main.yml" in names and "plugins/callback/fleet.py" in names


def module_options(path: Path) -> set[str]:
    """The keys of the module's argument_spec (COMMON_OPTIONS included), read from its source."""
    common = {"config", "scope", "executable"}
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.keyword) and node.arg == "argument_spec":
            assert isinstance(node.value, ast.Dict)
            keys = {
                k.value
                for k in node.value.keys
                if isinstance(k, ast.Constant) and isinstance(k.value, str)
            }
            return keys | (common if None in node.value.keys else set())
    raise AssertionError(f"{path} has no argument_spec")


@pytest.mark.parametrize("module", MODULES)
def test_each_module_documents_exactly_its_options(module: str, tmp_path: Path) -> None:
    build(tmp_path, tree=True)
    env = {**os.environ, "ANSIBLE_COLLECTIONS_PATH": str(tmp_path)}
    shown = subprocess.run(
        [str(tool("ansible-doc")), "-j", "-t", "module", f"tui_mailsetup.mail.{module}"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert shown.returncode == 0, shown.stderr
    doc = json.loads(shown.stdout)[f"tui_mailsetup.mail.{module}"]["doc"]
    assert set(doc["options"]) == module_options(SOURCE / "plugins" / "modules" / f"{module}.py")
    assert doc["short_description"]


def test_the_fleet_callback_is_documented(tmp_path: Path) -> None:
    build(tmp_path, tree=True)
    env = {**os.environ, "ANSIBLE_COLLECTIONS_PATH": str(tmp_path)}
    shown = subprocess.run(
        [str(tool("ansible-doc")), "-j", "-t", "callback", "tui_mailsetup.mail.fleet"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert shown.returncode == 0, shown.stderr
    assert "json_path" in json.loads(shown.stdout)["tui_mailsetup.mail.fleet"]["doc"]["options"]
