"""Build the Ansible collection tui_mailsetup.mail from ``tui_mailsetup/ansible``.

The collection's source lives inside the package (so a wheel carries it too); Ansible wants
it under ``ansible_collections/<namespace>/<name>/``. This copies it there, writes the
package's version into ``galaxy.yml`` (one version for both), and runs
``ansible-galaxy collection build``.

    python scripts/build_collection.py --output DIR          # DIR/tui_mailsetup-mail-X.Y.Z.tar.gz
    python scripts/build_collection.py --output DIR --tree    # only the tree, for ansible-test
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "tui_mailsetup" / "ansible"


def package_version() -> str:
    text = (ROOT / "tui_mailsetup" / "__init__.py").read_text(encoding="utf-8")
    match = re.search(r'^__version__\s*=\s*"([^"]+)"', text, re.MULTILINE)
    if match is None:
        raise SystemExit("tui_mailsetup/__init__.py has no __version__")
    return match.group(1)


def make_tree(output: Path) -> Path:
    """``output/ansible_collections/tui_mailsetup/mail``, with the version written in."""
    tree = output / "ansible_collections" / "tui_mailsetup" / "mail"
    if tree.exists():
        shutil.rmtree(tree)
    shutil.copytree(SOURCE, tree, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    shutil.copy(ROOT / "LICENSE", tree / "LICENSE")
    galaxy = tree / "galaxy.yml"
    galaxy.write_text(
        re.sub(r"^version: .*$", f"version: {package_version()}", galaxy.read_text(), flags=re.M)
    )
    return tree


def ansible_galaxy() -> str:
    """ansible-galaxy beside this interpreter (a virtual environment not on PATH), else PATH's."""
    from tui_mailsetup.paths import installed_command

    return str(installed_command("ansible-galaxy") or "ansible-galaxy")


def build(output: Path) -> Path:
    tree = make_tree(output)
    subprocess.run(
        [ansible_galaxy(), "collection", "build", "--force", "--output-path", str(output)],
        cwd=tree,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return output / f"tui_mailsetup-mail-{package_version()}.tar.gz"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, required=True, help="where to put the result")
    parser.add_argument("--tree", action="store_true", help="make the tree only, do not build")
    args = parser.parse_args(argv)
    args.output.mkdir(parents=True, exist_ok=True)
    print(make_tree(args.output) if args.tree else build(args.output))
    return 0


if __name__ == "__main__":
    sys.exit(main())
