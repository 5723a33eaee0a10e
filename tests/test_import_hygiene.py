"""Headless commands never import Textual, and help and usage errors never import
pydantic or the settings model, whichever entry point runs them.

The import-linter contracts in pyproject.toml check the static import graph;
this runs the real entry points in fresh interpreters, which also catches an
import that happens only at run time (a lazy import in the wrong branch).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tui_mailsetup.cli import COMMAND_MODULES

HEADLESS_COMMANDS = list(COMMAND_MODULES)  # every command, those added later included

_PROBE = """
import json, sys
from tui_mailsetup.cli import main
try:
    main(sys.argv[1:])
except SystemExit:
    pass
heavy = sorted(m for m in sys.modules if m.split(".")[0] in {"textual", "rich"})
sys.__stdout__.write("\\n" + json.dumps(heavy) + "\\n")
"""


@pytest.mark.parametrize("argv", HEADLESS_COMMANDS, ids=" ".join)
def test_headless_entry_points_do_not_import_textual(argv: list[str], isolated_home: Path) -> None:
    heavy = json.loads(_run(_PROBE, argv, isolated_home)[0])
    assert heavy == [], f"{' '.join(argv)} imported {heavy[:5]}"


def _run(script: str, argv: list[str], home: Path) -> tuple[str, str, str]:
    """Runs ``script`` with ``argv`` in a fresh interpreter: (its last stdout line, the rest, stderr)."""
    env = {**os.environ, "HOME": str(home), "TERM": "dumb"}
    result = subprocess.run(
        [sys.executable, "-c", script, *argv],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        stdin=subprocess.DEVNULL,
    )
    assert "Traceback" not in result.stderr, result.stderr
    *printed, last = result.stdout.strip().splitlines()
    return last, "\n".join(printed), result.stderr


# --help, every COMMAND --help and every argument error: answered from the parser
# alone, so none of them may load pydantic, pydantic-settings or the settings model
# (a provisioning script that gets a usage wrong should not wait for a schema build).
_COMMANDS = [
    "send-test",
    "show",
    "set",
    "set-secret",
    "check",
    "detect",
    "dns",
    "export",
    "get-secret",
    "demo",
    "tui",
]
HELP_AND_USAGE = [
    (["--help"], 0),
    *(([command, "--help"], 0) for command in _COMMANDS),
    (["oauth2", "login", "--help"], 0),
    (["mta", "status", "--help"], 0),
    (["no-such-command"], 64),
    (["show", "--no-such-option"], 64),
    (["set", "smtp.port"], 64),
    (["get-secret", "smtp.nothing"], 64),
    (["check", "--quit-after", "data"], 64),
    (["--config"], 64),
]

_MODEL_PROBE = """
import json, sys
from tui_mailsetup.cli import main
try:
    code = main(sys.argv[1:])
except SystemExit as exc:
    code = exc.code
loaded = sorted(
    m for m in sys.modules
    if m.split(".")[0] in {"pydantic", "pydantic_settings", "pydantic_core", "textual"}
    or m == "tui_mailsetup.settings"
)
sys.__stdout__.write("\\n" + json.dumps({"code": code, "loaded": loaded}) + "\\n")
"""


def _probe(argv: list[str], home: Path) -> tuple[int, list[str], str, str]:
    last, printed, stderr = _run(_MODEL_PROBE, argv, home)
    report = json.loads(last)
    return report["code"], report["loaded"], printed, stderr


@pytest.mark.parametrize(
    ("argv", "expected_code"),
    HELP_AND_USAGE,
    ids=lambda v: " ".join(v) if isinstance(v, list) else str(v),
)
def test_help_and_usage_errors_do_not_import_pydantic(
    argv: list[str], expected_code: int, isolated_home: Path
) -> None:
    code, loaded, _, stderr = _probe(argv, isolated_home)
    assert code == expected_code, stderr
    assert loaded == [], f"{' '.join(argv)} imported {loaded[:5]}"


def test_help_texts_list_the_models_keys_without_loading_it(isolated_home: Path) -> None:
    """The key lists in the help come from settings.py's source; they are the model's keys."""
    from tui_mailsetup.export import FORMATS
    from tui_mailsetup.settings import MailSettings, field_keys, is_secret_key

    _, _, set_help, _ = _probe(["set", "--help"], isolated_home)
    listed = set_help.split("keys:", 1)[1].replace("\n", " ")
    assert [key.strip() for key in listed.split(",")] == [
        key for key in field_keys() if not is_secret_key(key)
    ]
    _, _, secret_help, _ = _probe(["set-secret", "--help"], isolated_home)
    listed = secret_help.split("keys:", 1)[1].replace("\n", " ")
    assert tuple(key.strip() for key in listed.split(",")) == MailSettings.SECRET_KEYS
    _, _, export_help, _ = _probe(["export", "--help"], isolated_home)
    assert [f for f in FORMATS if f not in export_help] == []


def test_declared_keys_and_docs_agree_with_the_model() -> None:
    from tui_mailsetup.settings import MailSettings, field_doc, field_keys
    from tui_mailsetup.settings_source import declared

    found = declared()
    assert list(found.keys) == field_keys()
    assert found.secret_keys == MailSettings.SECRET_KEYS
    assert field_doc("smtp.port").startswith("TCP port: 587 or 2525 for STARTTLS")
    assert "\n    " not in field_doc("ses.profile")  # indentation of a long docstring removed


def test_the_tui_app_does_not_import_the_settings_model(isolated_home: Path) -> None:
    """The TUI's first frame comes before pydantic and the settings stack (issue 15)."""
    script = (
        "import json, sys, tui_mailsetup.tui.app\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in "
        "{'pydantic', 'pydantic_settings', 'tomlkit'} or m in "
        "{'tui_mailsetup.settings', 'tui_mailsetup.config_file'})))"
    )
    assert json.loads(_run(script, [], isolated_home)[0]) == []
