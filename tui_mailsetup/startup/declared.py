"""What settings.py declares, read from its source without importing it.

``--help`` texts list the settable keys and the secret keys, and the TUI's
``f1`` shows the docstring under a field. Importing the settings model for
that would load pydantic and build the model's schema (most of a headless
command's start-up), so these read ``settings.py`` itself with :mod:`ast`, on
first use. tests/functional/test_import_hygiene.py checks that the keys agree with the
model's ``field_keys()`` and ``MailSettings.SECRET_KEYS``.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Declared:
    keys: tuple[str, ...]
    """Every settable dotted key (``smtp.port``), in declaration order."""
    secret_keys: tuple[str, ...]
    """``MailSettings.SECRET_KEYS``."""
    raw_docs: dict[str, str]
    """The docstring under each field that has one, as written."""

    def doc(self, key: str) -> str:
        """The docstring under a field, indentation removed; empty when it has none."""
        import inspect

        return inspect.cleandoc(self.raw_docs.get(key, ""))


@functools.cache
def declared() -> Declared:
    import ast
    import itertools

    try:
        source = Path(__file__).parent.parent.joinpath("settings.py").read_text(encoding="utf-8")
    except OSError:  # installed without sources (bytecode only): ask the model itself
        from tui_mailsetup.settings import MailSettings, field_keys

        return Declared(tuple(field_keys()), MailSettings.SECRET_KEYS, {})
    tree = ast.parse(source)
    classes = {node.name: node for node in tree.body if isinstance(node, ast.ClassDef)}
    keys: list[str] = []
    docs: dict[str, str] = {}
    secret_keys: tuple[str, ...] = ()

    def walk(name: str, prefix: str) -> None:
        nonlocal secret_keys
        body = classes[name].body
        for statement, following in itertools.pairwise([*body, None]):
            if not isinstance(statement, ast.AnnAssign) or not isinstance(
                statement.target, ast.Name
            ):
                continue
            field, annotation = statement.target.id, statement.annotation
            if (
                isinstance(annotation, ast.Subscript)
                and ast.unparse(annotation.value) == "ClassVar"
            ):
                if field == "SECRET_KEYS" and statement.value is not None:
                    secret_keys = tuple(ast.literal_eval(statement.value))
                continue
            if isinstance(annotation, ast.Name) and annotation.id in classes:
                walk(annotation.id, f"{prefix}{field}.")
                continue
            keys.append(prefix + field)
            if (
                isinstance(following, ast.Expr)
                and isinstance(following.value, ast.Constant)
                and isinstance(following.value.value, str)
            ):
                docs[prefix + field] = following.value.value

    walk("MailSettings", "")
    return Declared(tuple(keys), secret_keys, docs)


def settable_keys() -> list[str]:
    """The keys ``set`` accepts: every key but the secrets."""
    found = declared()
    return [key for key in found.keys if key not in found.secret_keys]
