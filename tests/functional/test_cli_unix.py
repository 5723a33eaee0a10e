"""The command line as a Unix tool: supported Pythons, installation, metadata (issue 22)."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest

import tui_mailsetup
from tests.support import REPO
from tui_mailsetup import unsupported_python_message

ROOT = REPO


def _older_pythons() -> list[str]:
    found = []
    for name in ("python3.10", "python3.9", "python3.8", "python3.6"):
        path = shutil.which(name)
        # A version manager's shim may be on PATH without the version behind it.
        if path is not None and subprocess.run([path, "-c", ""], check=False).returncode == 0:
            found.append(path)
    pyenv = Path(pwd.getpwuid(os.getuid()).pw_dir) / ".pyenv" / "versions"
    if not found and pyenv.is_dir():
        found = [str(p / "bin" / "python3") for p in pyenv.glob("3.[6-9]*")]
        found += [str(p / "bin" / "python3") for p in pyenv.glob("3.10*")]
    return found


def test_an_older_python_is_refused_with_a_message_and_69() -> None:
    pythons = _older_pythons()
    if not pythons:
        pytest.skip("no Python older than 3.11 on PATH to try")
    for python in pythons:
        completed = subprocess.run(
            [python, "-m", "tui_mailsetup", "--version"],
            capture_output=True,
            text=True,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            timeout=60,
            check=False,
        )
        assert completed.returncode == 69, (python, completed.stderr)
        assert "needs Python 3.11 or newer" in completed.stderr
        assert "Traceback" not in completed.stderr
        assert completed.stdout == ""


def test_the_supported_versions_agree() -> None:
    assert unsupported_python_message((3, 10)) is not None
    assert unsupported_python_message((3, 11)) is None
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["requires-python"] == ">=3.11"
    assert "Programming Language :: Python :: 3.11" in project["classifiers"]
    assert "version" in project["dynamic"]  # one home: tui_mailsetup.__version__


def test_the_changelog_names_the_current_version() -> None:
    assert f"## {tui_mailsetup.__version__}" in (ROOT / "CHANGELOG.md").read_text()


def test_ci_runs_exactly_the_readme_test_command() -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Run the tests", 1)[1]
    command = section.split("```sh\n", 1)[1].split("\n", 1)[0]
    assert command in (ROOT / ".ci" / "run").read_text().splitlines()
    # Nothing that PEP 668 refuses on Debian 12 / Ubuntu 24.04's own python3.
    first = readme.split("## Try it", 1)[1].split("```sh\n", 1)[1].split("\n", 1)[0]
    for text in (command, first):
        assert "--break-system-packages" not in text
        assert not text.startswith("pip ")
        assert "sudo" not in text


# --------------------------------------------------------------------------- man page, completion


def test_the_shipped_man_page_is_current_and_lists_every_command() -> None:
    from tui_mailsetup.cli import COMMAND_MODULES
    from tui_mailsetup.cli.manpage import PAGE, render

    text = render()
    assert PAGE.read_text(encoding="utf-8") == text, (
        "the man page is not current: run python -m tui_mailsetup.cli.manpage"
    )
    for command in COMMAND_MODULES:
        assert f".SS tui\\-mailsetup {command.replace('-', chr(92) + '-')}" in text, command
    for nested in ("mta apply", "oauth2 token"):
        assert ".SS tui\\-mailsetup " + nested in text
    assert "\\-\\-subject" in text and "\\fB73\\fR" in text
    man = shutil.which("man")
    if man is None:
        pytest.skip("man is not installed: the page was checked, not rendered")
    shown = subprocess.run(
        [man, "-l", str(PAGE)],
        capture_output=True,
        text=True,
        env={**os.environ, "MANPAGER": "cat", "PAGER": "cat", "MANWIDTH": "80"},
        timeout=60,
        check=False,
    )
    assert shown.returncode == 0, shown.stderr
    assert "tui-mailsetup send-test" in shown.stdout
    assert "warning" not in shown.stderr.lower()


def test_the_man_page_is_in_the_wheel() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    shared = project["tool"]["hatch"]["build"]["targets"]["wheel"]["shared-data"]
    assert shared["tui_mailsetup/data/tui-mailsetup.1"] == "share/man/man1/tui-mailsetup.1"


def _bash_complete(script: Path, *words: str) -> list[str]:
    line = " ".join(f"'{w}'" for w in words)
    program = (
        f"source {script}; COMP_WORDS=({line}); COMP_CWORD={len(words) - 1}; "
        'COMPREPLY=(); _tui_mailsetup; printf "%s\\n" "${COMPREPLY[@]}"'
    )
    done = subprocess.run(
        ["bash", "--norc", "--noprofile", "-c", program],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0 and done.stderr == "", done.stderr
    return done.stdout.split()


def test_bash_completion_loads_and_completes(tmp_path: Path, isolated_home: Path) -> None:
    from tests.support.cli_helpers import run_cli

    if shutil.which("bash") is None:
        pytest.skip("bash is not installed")
    made = run_cli("completion", "bash", home=isolated_home)
    assert made.returncode == 0, made.stderr
    script = tmp_path / "tui-mailsetup.bash"
    script.write_text(made.stdout)
    assert set(_bash_complete(script, "tui-mailsetup", "se")) == {
        "send-test",
        "sendmail",
        "set",
        "set-secret",
    }
    assert "get-secret" in _bash_complete(script, "tui-mailsetup", "")
    assert "completion" in _bash_complete(script, "tui-mailsetup", "")
    # Sub-commands after a global option with its value; a command's own options.
    assert _bash_complete(script, "tui-mailsetup", "--config", "x.toml", "mta", "re") == ["revert"]
    assert "--body-file" in _bash_complete(script, "tui-mailsetup", "send-test", "--bo")
    assert _bash_complete(script, "tui-mailsetup", "completion", "")[:3] == ["bash", "zsh", "fish"]
    assert _bash_complete(script, "tui-mailsetup", "set-secret", "smtp.pa") == []  # free text
    (tmp_path / "body.txt").write_text("x")
    assert _bash_complete(
        script, "tui-mailsetup", "send-test", "--body-file", str(tmp_path / "bo")
    ) == [str(tmp_path / "body.txt")]


@pytest.mark.parametrize("shell", ["zsh", "fish"])
def test_zsh_and_fish_completion_load(tmp_path: Path, isolated_home: Path, shell: str) -> None:
    from tests.support.cli_helpers import run_cli

    made = run_cli("completion", shell, home=isolated_home)
    assert made.returncode == 0, made.stderr
    assert "send-test" in made.stdout and "mta" in made.stdout
    binary = shutil.which(shell)
    if binary is None:
        pytest.skip(f"{shell} is not installed: the script was made, not loaded")
    script = tmp_path / f"completion.{shell}"
    script.write_text(made.stdout)
    if shell == "zsh":
        program = f"autoload -U compinit && compinit -u; source {script}"
        argv = [binary, "-f", "-c", program]
    else:
        argv = [binary, "--no-config", "-c", f"source {script}; complete -C 'tui-mailsetup se'"]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    if shell == "fish":
        assert "send-test" in done.stdout


# --------------------------------------------------------------------------- progress


@pytest.mark.slow
def test_dns_shows_progress_on_a_terminal_and_nothing_otherwise(
    tmp_path: Path, isolated_home: Path
) -> None:
    import pty
    import socket
    import sys
    import time

    from tests.support.cli_helpers import cli_environment

    # A name server that never answers: every check waits out its time budget.
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    silent.bind(("127.0.0.1", 0))
    port = silent.getsockname()[1]
    env = cli_environment(isolated_home, {"MAILSETUP_DNS__NAMESERVERS": f"127.0.0.1:{port}"})
    argv = [sys.executable, "-m", "tui_mailsetup", "dns", "acme.example"]
    try:
        plain = subprocess.run(
            argv, capture_output=True, text=True, env=env, timeout=120, check=False
        )
        assert plain.returncode == 75, plain.stdout + plain.stderr
        # Not a terminal: the verdict only, no progress line.
        assert plain.stderr.startswith("Some checks could not be completed")
        assert "dns acme.example:" not in plain.stderr and "\x1b" not in plain.stderr
        master, slave = pty.openpty()
        process = subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=slave, stdin=subprocess.DEVNULL, env=env
        )
        os.close(slave)
        seen = b""
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                chunk = os.read(master, 4096)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            seen += chunk
        os.close(master)
        out, _ = process.communicate(timeout=120)
    finally:
        silent.close()
    assert process.returncode == 75
    text = seen.decode("utf-8", "replace")
    assert "dns acme.example:" in text and "SPF" in text
    # The line is cleared before the verdict is printed.
    assert "\r\x1b[KSome checks could not be completed" in text
    assert b"dns acme.example:" not in out  # stdout (the report) has none of it


def test_quiet_keeps_a_commands_product_and_silences_the_rest(isolated_home: Path) -> None:
    from tests.support.cli_helpers import run_cli

    done = run_cli("-q", "set", "smtp.host", "smtp.example.com", home=isolated_home)
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")
    refused = run_cli("set", "smtp.port", "many", "--quiet", home=isolated_home)
    assert refused.returncode == 65 and refused.stdout == ""
    assert "smtp.port" in refused.stderr
    stored = run_cli("-q", "set-secret", "smtp.password", stdin="s3cret\n", home=isolated_home)
    assert (stored.returncode, stored.stdout, stored.stderr) == (0, "", "")
    got = run_cli("-q", "get-secret", "smtp.password", home=isolated_home)
    assert (got.returncode, got.stdout, got.stderr) == (0, "s3cret\n", "")
    exported = run_cli("-q", "export", "-f", "env", home=isolated_home)
    assert "MAIL_HOST=smtp.example.com" in exported.stdout and exported.stderr == ""
