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
from typing import Literal

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
    """The key lists in the help come from settings.py's source (startup/declared.py); they are
    the model's keys."""
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
    from tui_mailsetup.startup.declared import declared

    found = declared()
    assert list(found.keys) == field_keys()
    assert found.secret_keys == MailSettings.SECRET_KEYS
    assert field_doc("smtp.port").startswith("TCP port: 587 or 2525 for STARTTLS")
    assert "\n    " not in field_doc("ses.profile")  # indentation of a long docstring removed


# A password STARTTLS send-test against the sandbox, its certificate verified or pinned:
# what the bare aiosmtplib script in bench/bench_send.py does, and nothing it does not
# need (cryptography is for certificates OpenSSL's decoding cannot describe, the
# diagnosis rules for a failure, the OAuth2 token machinery for xoauth2).
_SEND_PROBE = """
import json, sys
from tui_mailsetup.cli import main
code = main(sys.argv[1:])
loaded = sorted(
    m for m in sys.modules
    if m.split(".")[0] in {"cryptography", "authlib", "requests", "google", "textual"}
    or m.startswith(("tui_mailsetup.engine.diagnosis", "tui_mailsetup.oauth2."))
    or m == "_strptime"
)
sys.__stdout__.write("\\n" + json.dumps({"code": code, "loaded": loaded}) + "\\n")
"""


@pytest.mark.parametrize(
    ("cert", "trust"),
    [
        ("valid", "verified (system trust store + smtp.ca_file)"),
        ("self-signed", "trusted by the pinned fingerprint"),
    ],
)
def test_a_password_send_test_imports_only_what_it_uses(
    cert: str, trust: str, isolated_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tui_mailsetup.sandbox import Sandbox

    pinned = cert == "self-signed"
    kind: Literal["self-signed", "valid"] = "self-signed" if pinned else "valid"
    with Sandbox(mode="starttls", password="hygiene-password", cert=kind) as box:
        smtp = box.smtp_settings()
        if pinned:
            smtp["fingerprint"] = box.cert_fingerprint
        config = isolated_home / "send-config.toml"
        config.write_text(
            "[smtp]\n"
            + "".join(f"{key} = {json.dumps(value)}\n" for key, value in smtp.items())
            + '[sender]\naddress = "me@example.com"\n'
        )
        monkeypatch.setenv("MAILSETUP_SMTP__PASSWORD", box.password)
        last, printed, stderr = _run(
            _SEND_PROBE, ["--config", str(config), "send-test"], isolated_home
        )
        assert len(box.messages) == 1
    report = json.loads(last)
    assert report["code"] == 0, printed + stderr
    assert f"** trust: {trust}" in printed
    assert report["loaded"] == [], f"a {cert} password send-test imported {report['loaded'][:5]}"


# --------------------------------------------------------------------------- issue 15
# What the headless commands a provisioning run repeats must not load: asyncio (and
# with it ssl, socket and subprocess machinery they do not use), the engine, tomlkit
# (the writer: reading goes through tomllib) and Textual. Each was once loaded by them.
_LEFT_OUT = """
import json, sys
from tui_mailsetup.cli import main
try:
    code = main(sys.argv[1:])
except SystemExit as exc:
    code = exc.code
sys.__stdout__.write("\\n" + json.dumps({"code": code, "modules": sorted(sys.modules)}) + "\\n")
"""
_ENGINE = "tui_mailsetup.engine"
_NEVER_IN_HEADLESS = ("asyncio", _ENGINE, "textual", "rich")


@pytest.mark.parametrize(
    ("argv", "code", "left_out"),
    [
        # With --config (or MAILSETUP_CONFIG) no platform directory is needed either.
        (["show"], 0, (*_NEVER_IN_HEADLESS, "tomlkit", "platformdirs")),
        (["show", "--json"], 0, (*_NEVER_IN_HEADLESS, "tomlkit", "platformdirs")),
        (["check", "--offline"], 0, (*_NEVER_IN_HEADLESS, "tomlkit", "platformdirs")),
        (["check", "--offline", "--json"], 0, (*_NEVER_IN_HEADLESS, "tomlkit", "platformdirs")),
        # set writes with tomlkit (comments and order kept); the rest stays out.
        (["set", "smtp.port", "465"], 0, _NEVER_IN_HEADLESS),
        (["--help"], 0, ("asyncio", "tomlkit", "textual", "rich")),
    ],
    ids=lambda v: " ".join(v) if isinstance(v, list) else None,
)
def test_headless_commands_leave_out_what_they_do_not_use(
    argv: list[str], code: int, left_out: tuple[str, ...], isolated_home: Path
) -> None:
    config = isolated_home / "config.toml"
    config.write_text(
        '# kept\n[smtp]\nhost = "smtp.example.com"\nport = 587\nencryption = "starttls"\n'
        '[sender]\naddress = "alerts@example.com"\n',
        encoding="utf-8",
    )
    last, printed, stderr = _run(_LEFT_OUT, ["--config", str(config), *argv], isolated_home)
    report = json.loads(last)
    assert report["code"] == code, printed + stderr
    loaded = [
        module
        for module in report["modules"]
        if any(module == name or module.startswith(name + ".") for name in left_out)
    ]
    assert loaded == [], f"{' '.join(argv)} imported {loaded[:5]}"
    if argv[0] == "set":
        assert config.read_text(encoding="utf-8").startswith("# kept\n")  # written by tomlkit
        assert "port = 465" in config.read_text(encoding="utf-8")


# settings.py imports pydantic_settings inside startup.lazy.asyncio_deferred (a stand-in for its
# unused `import asyncio`).
# Whatever imports asyncio afterwards must get the real module, exactly as usual.
_ASYNCIO_AFTERWARDS = """
import json, sys, types
import tui_mailsetup.settings
import pydantic_settings.main
report = {"after_settings": "asyncio" in sys.modules}
import asyncio
import asyncio.events
from asyncio import Queue
async def answer():
    queue = Queue()
    await queue.put(42)
    await asyncio.sleep(0)
    return await queue.get()
report["run"] = asyncio.run(answer())
report["real"] = (
    type(asyncio) is types.ModuleType
    and sys.modules["asyncio"] is asyncio
    and asyncio.__spec__.name == "asyncio"
    and asyncio.__file__.endswith("__init__.py")
    and asyncio.events is sys.modules["asyncio.events"]
)
# pydantic_settings' own use of it (CliApp with an async command) reaches the real module.
report["same_run"] = pydantic_settings.main.asyncio.run is asyncio.run
class Command(pydantic_settings.BaseSettings):
    async def cli_cmd(self) -> None:
        report["cli_cmd"] = asyncio.get_running_loop().is_running()
pydantic_settings.CliApp.run(Command, cli_args=[])
import aiosmtplib.smtp
report["aiosmtplib"] = aiosmtplib.smtp.asyncio is asyncio
sys.__stdout__.write("\\n" + json.dumps(report) + "\\n")
"""


def test_asyncio_imported_after_the_settings_is_the_real_module(isolated_home: Path) -> None:
    last, _, _ = _run(_ASYNCIO_AFTERWARDS, [], isolated_home)
    assert json.loads(last) == {
        "after_settings": False,
        "run": 42,
        "real": True,
        "same_run": True,
        "cli_cmd": True,
        "aiosmtplib": True,
    }


_ASYNCIO_THROUGH_PYDANTIC_SETTINGS_FIRST = """
import json, sys
import tui_mailsetup.settings
import pydantic_settings.main
# The first touch comes through pydantic_settings' copy: the real module is imported then.
policy = pydantic_settings.main.asyncio.get_event_loop_policy()
import asyncio
sys.__stdout__.write("\\n" + json.dumps({
    "same_policy": policy is asyncio.get_event_loop_policy(),
    "real": sys.modules["asyncio"] is asyncio and hasattr(asyncio, "__path__"),
}) + "\\n")
"""

_ASYNCIO_BEFORE = """
import asyncio, json, sys
import tui_mailsetup.settings
import pydantic_settings.main
sys.__stdout__.write("\\n" + json.dumps(pydantic_settings.main.asyncio is asyncio) + "\\n")
"""


def test_asyncio_first_used_through_pydantic_settings_is_the_real_module(
    isolated_home: Path,
) -> None:
    last, _, _ = _run(_ASYNCIO_THROUGH_PYDANTIC_SETTINGS_FIRST, [], isolated_home)
    assert json.loads(last) == {"same_policy": True, "real": True}


def test_asyncio_imported_before_the_settings_is_left_alone(isolated_home: Path) -> None:
    last, _, _ = _run(_ASYNCIO_BEFORE, [], isolated_home)
    assert json.loads(last) is True


def test_the_tui_app_does_not_import_the_settings_model(isolated_home: Path) -> None:
    """The TUI's first frame comes before pydantic and the settings stack (issue 15)."""
    script = (
        "import json, sys, tui_mailsetup.tui.app\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in "
        "{'pydantic', 'pydantic_settings', 'tomlkit'} or m in "
        "{'tui_mailsetup.settings', 'tui_mailsetup.config_file'})))"
    )
    assert json.loads(_run(script, [], isolated_home)[0]) == []
