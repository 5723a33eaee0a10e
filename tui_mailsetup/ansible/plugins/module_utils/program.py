# Copyright: tui-mailsetup maintainers. MIT License.
"""What the collection's modules share: finding tui-mailsetup on the host and running it.

The modules never reimplement the program: they run its own commands with ``--json`` on the
host and return the documents it prints, so a fleet gets exactly the verdict a person gets
in the terminal. Secrets go to the program on standard input (``set-secret``), never on a
command line that ``ps`` would show.
"""

from __future__ import annotations

import json
import os
import shutil
from typing import Any

# Where the install role (and the README's ways) put the program, tried after $PATH.
CANDIDATES = (
    "~/.local/share/tui-mailsetup/venv/bin/tui-mailsetup",
    "~/.local/bin/tui-mailsetup",
    "/opt/tui-mailsetup/venv/bin/tui-mailsetup",
)

COMMON_OPTIONS: dict[str, Any] = {
    "config": {"type": "path"},
    "scope": {"type": "str", "choices": ["user", "system"], "default": "user"},
    "executable": {"type": "path"},
}


def program(module: Any) -> list[str]:
    """The command that runs tui-mailsetup on this host, or fail the module saying where it looked."""
    explicit = module.params.get("executable")
    if explicit:
        return [os.path.expanduser(explicit)]
    found = shutil.which("tui-mailsetup")
    if found:
        return [found]
    for candidate in CANDIDATES:
        path = os.path.expanduser(candidate)
        if os.path.isfile(path) and os.access(path, os.X_OK):
            return [path]
    module.fail_json(
        msg="tui-mailsetup was not found on this host (looked in $PATH and "
        + ", ".join(CANDIDATES)
        + "); install it (role tui_mailsetup.mail.install) or set executable"
    )
    raise AssertionError("unreachable")


def config_args(module: Any) -> list[str]:
    """--config / --system from the module's options."""
    args: list[str] = []
    if module.params.get("config"):
        args.append("--config=" + os.path.expanduser(module.params["config"]))
    elif module.params.get("scope") == "system":
        args.append("--system")
    return args


def run_json(
    module: Any,
    command: list[str],
    *,
    data: str | None = None,
    environ: dict[str, str] | None = None,
    check_rc: bool = False,
) -> tuple[int, Any, str]:
    """Run ``tui-mailsetup --json COMMAND…``: (exit code, the JSON document or None, stderr)."""
    argv = [*program(module), "--json", *command]
    rc, out, err = module.run_command(
        argv,
        data=data,
        binary_data=data is not None,
        environ_update=environ or {},
        check_rc=False,
    )
    try:
        document = json.loads(out) if out.strip() else None
    except ValueError:
        document = None
    if check_rc and rc != 0:
        module.fail_json(
            msg=failure_message(document, err, rc), rc=rc, stderr=err, document=document
        )
    return rc, document, err


def failure_message(document: Any, stderr: str, rc: int) -> str:
    """One line: the program's verdict (stage, cause, fix) or its error message."""
    if isinstance(document, dict):
        diagnosis = document.get("diagnosis") or {}
        error = document.get("error") or {}
        cause = diagnosis.get("cause") or error.get("message") or ""
        if cause:
            stage = document.get("stage")
            text = f"{stage}: {cause}" if stage else cause
            fix = diagnosis.get("fix") or {}
            commands = diagnosis.get("fix_commands") or []
            if fix.get("label"):
                text += f" (fix: {fix['label']}"
                text += f": {'; '.join(commands)})" if commands else ")"
            elif diagnosis.get("explanation"):
                text += f" ({diagnosis['explanation']})"
            return text
    lines = [line for line in stderr.strip().splitlines() if line.strip()]
    return lines[-1] if lines else f"tui-mailsetup exited with status {rc}"
