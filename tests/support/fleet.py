"""A fleet on this machine for the Ansible tests: a real OpenSSH server on 127.0.0.1, one
system user per "host" (each with its own home and configuration), and ansible-playbook.

- ``sshd`` runs on its own port with host and user keys made here, and admits only the
  fleet's users (``tmsfleet1`` … ``tmsfleetN``), by key; it is stopped when the fleet is.
- The users are created once (``useradd``) and their homes emptied at each start, so every
  run begins with hosts that have nothing installed or configured.
- The collection is built from the repository (scripts/build_collection.py) and installed
  in the fleet's own collections folder; the program reaches the hosts the supported way,
  as a wheel in a wheelhouse the controller copies (no package index on the hosts). The
  dependencies' wheels come from the wheelhouse ``.ci/run`` fills
  (``$TUI_MAILSETUP_WHEELHOUSE``, default /var/cache/tui-mailsetup/wheelhouse); the program's
  own wheel is built from this checkout each time.

Everything here needs root (users, sshd); :func:`skip_reason` says what is missing.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from tests.support import REPO
from tui_mailsetup.paths import installed_command

ROOT = REPO
SSHD = "/usr/sbin/sshd"
HOST_PYTHON = "/usr/bin/python3"
USER_PREFIX = "tmsfleet"


def tool(name: str) -> str | None:
    """An Ansible command: beside this interpreter first (the README's test command runs in
    a virtual environment that is not on PATH), then on PATH."""
    found = installed_command(name)
    return str(found) if found is not None else None


def wheelhouse() -> Path:
    return Path(os.environ.get("TUI_MAILSETUP_WHEELHOUSE", "/var/cache/tui-mailsetup/wheelhouse"))


def skip_reason() -> str | None:
    if os.geteuid() != 0:
        return "the fleet needs root (it creates system users and runs sshd)"
    if not Path(SSHD).is_file():
        return "no OpenSSH server (apt-get install openssh-server)"
    for name in ("ansible-playbook", "ansible-galaxy", "useradd", "ssh-keygen"):
        if tool(name) is None:
            return f"{name} is not installed (ansible-core is in the test extra)"
    venv_ok = subprocess.run(
        [HOST_PYTHON, "-c", "import ensurepip, venv"], capture_output=True, check=False
    )
    if venv_ok.returncode != 0:
        return f"{HOST_PYTHON} cannot make virtual environments (apt-get install python3-venv)"
    if not any(wheelhouse().glob("*.whl")):
        return f"no wheelhouse at {wheelhouse()} (.ci/run fills it: pip wheel -w DIR .)"
    try:
        import hatchling  # noqa: F401  (the program's wheel is built from this checkout)
    except ImportError:
        return "hatchling is not installed (it is in the test extra)"
    return None


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class PlaybookRun:
    returncode: int
    output: str

    def recap(self) -> dict[str, dict[str, int]]:
        """PLAY RECAP, per host: ok, changed, failed, …"""
        found: dict[str, dict[str, int]] = {}
        in_recap = False
        for line in self.output.splitlines():
            if line.startswith("PLAY RECAP"):
                in_recap = True
                continue
            if in_recap and ":" in line and "=" in line:
                host, _, counts = line.partition(":")
                found[host.strip()] = {
                    key: int(value) for key, value in (item.split("=") for item in counts.split())
                }
        return found


class Fleet:
    def __init__(self, hosts: int = 4) -> None:
        self.users = [f"{USER_PREFIX}{index}" for index in range(1, hosts + 1)]
        # Not under pytest's tmp_path (0700, root's): the hosts' users read keys from here.
        self.base = Path(tempfile.mkdtemp(prefix="tui-mailsetup-fleet-"))
        os.chmod(self.base, 0o755)
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.collections = self.base / "collections"
        self.wheels = self.base / "wheelhouse"

    # ------------------------------------------------------------------ set-up

    def start(self) -> Fleet:
        self._make_users()
        self._make_keys()
        self._start_sshd()
        self._install_collection()
        self._make_wheelhouse()
        self._write_ansible_cfg()
        return self

    def home(self, user: str) -> Path:
        return Path(pwd.getpwnam(user).pw_dir)

    def _make_users(self) -> None:
        for user in self.users:
            try:
                pwd.getpwnam(user)
            except KeyError:
                subprocess.run(
                    ["useradd", "--create-home", "--shell", "/bin/sh", user],
                    check=True,
                    capture_output=True,
                )
            # "*": no password, yet not locked (sshd refuses a locked account's keys).
            subprocess.run(["usermod", "-p", "*", user], check=True, capture_output=True)
            home = self.home(user)
            for entry in home.iterdir():
                if entry.is_dir() and not entry.is_symlink():
                    shutil.rmtree(entry)
                else:
                    entry.unlink()

    def _make_keys(self) -> None:
        for name in ("host_key", "client_key"):
            subprocess.run(
                ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(self.base / name)],
                check=True,
            )
        keys = self.base / "authorized"
        keys.mkdir(mode=0o755)
        public = (self.base / "client_key.pub").read_text()
        for user in self.users:
            (keys / user).write_text(public)
            os.chmod(keys / user, 0o644)

    def _start_sshd(self) -> None:
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
        config = self.base / "sshd_config"
        config.write_text(
            "\n".join(
                [
                    f"Port {self.port}",
                    "ListenAddress 127.0.0.1",
                    f"HostKey {self.base / 'host_key'}",
                    f"PidFile {self.base / 'sshd.pid'}",
                    f"AuthorizedKeysFile {self.base / 'authorized'}/%u",
                    "StrictModes no",
                    "UsePAM no",
                    "PasswordAuthentication no",
                    "KbdInteractiveAuthentication no",
                    "PubkeyAuthentication yes",
                    f"AllowUsers {' '.join(self.users)}",
                    "MaxStartups 100",
                    "MaxSessions 100",
                    "Subsystem sftp internal-sftp",
                    "",
                ]
            )
        )
        log = open(self.base / "sshd.log", "wb")  # noqa: SIM115 (closed with the process)
        self.process = subprocess.Popen(
            [SSHD, "-D", "-e", "-f", str(config)], stdout=log, stderr=log
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), timeout=1),
            ):
                return
            if self.process.poll() is not None:
                break
            time.sleep(0.1)
        raise RuntimeError(f"sshd did not start: {(self.base / 'sshd.log').read_text()}")

    def _install_collection(self) -> None:
        built = subprocess.run(
            [
                sys.executable,
                str(ROOT / "scripts" / "build_collection.py"),
                "--output",
                str(self.base / "dist"),
            ],
            check=True,
            capture_output=True,
            text=True,
        )
        subprocess.run(
            [
                str(tool("ansible-galaxy")),
                "collection",
                "install",
                "--force",
                "-p",
                str(self.collections),
                built.stdout.strip(),
            ],
            check=True,
            capture_output=True,
        )

    def _make_wheelhouse(self) -> None:
        self.wheels.mkdir()
        for wheel in wheelhouse().glob("*.whl"):
            if not wheel.name.startswith("tui_mailsetup-"):
                shutil.copy(wheel, self.wheels)
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "wheel",
                "-q",
                "--no-deps",
                "--no-build-isolation",
                "-w",
                str(self.wheels),
                str(ROOT),
            ],
            check=True,
            capture_output=True,
        )
        os.chmod(self.wheels, 0o755)

    def _write_ansible_cfg(self) -> None:
        (self.base / "cp").mkdir()
        (self.base / "ansible.cfg").write_text(
            "\n".join(
                [
                    "[defaults]",
                    f"collections_path = {self.collections}",
                    "host_key_checking = False",
                    "retry_files_enabled = False",
                    "forks = 4",
                    f"interpreter_python = {HOST_PYTHON}",
                    "callbacks_enabled = tui_mailsetup.mail.fleet",
                    "[ssh_connection]",
                    "pipelining = True",
                    f"control_path_dir = {self.base / 'cp'}",
                    "ssh_args = -o ControlMaster=auto -o ControlPersist=60s "
                    "-o UserKnownHostsFile=/dev/null -o StrictHostKeyChecking=no -o LogLevel=ERROR",
                    "",
                ]
            )
        )

    # ------------------------------------------------------------------ use

    def inventory(self, host_vars: dict[str, dict[str, str]] | None = None) -> Path:
        lines = ["[fleet]"]
        for index, user in enumerate(self.users, start=1):
            extra = " ".join(
                f"{k}={v}" for k, v in (host_vars or {}).get(f"host{index}", {}).items()
            )
            lines.append(
                f"host{index} ansible_host=127.0.0.1 ansible_port={self.port} ansible_user={user} "
                f"ansible_ssh_private_key_file={self.base / 'client_key'} {extra}".rstrip()
            )
        path = self.base / "inventory.ini"
        path.write_text("\n".join(lines) + "\n")
        return path

    def playbook(
        self,
        text: str,
        *args: str,
        host_vars: dict[str, dict[str, str]] | None = None,
        env: dict[str, str] | None = None,
        timeout: float = 900,
    ) -> PlaybookRun:
        path = self.base / "playbook.yml"
        path.write_text(text)
        environment = {
            **os.environ,
            "ANSIBLE_CONFIG": str(self.base / "ansible.cfg"),
            "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_LOCAL_TEMP": str(self.base / "ansible-local"),
            **(env or {}),
        }
        completed = subprocess.run(
            [str(tool("ansible-playbook")), "-i", str(self.inventory(host_vars)), str(path), *args],
            capture_output=True,
            text=True,
            env=environment,
            timeout=timeout,
            check=False,
        )
        return PlaybookRun(completed.returncode, completed.stdout + completed.stderr)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(10)
            if self.process.poll() is None:
                self.process.kill()
        for user in self.users:
            # Control masters and anything a host left running end with the fleet.
            subprocess.run(["pkill", "-u", user], check=False, capture_output=True)
        shutil.rmtree(self.base, ignore_errors=True)
