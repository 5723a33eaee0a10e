"""A throwaway Postfix instance for tests: its own configuration, queue, data directory and log.

``postfix -c DIR start`` with a main.cf and master.cf written here: no smtpd
at all (nothing listens), loopback only, the log in a file (postlogd,
``maillog_file``), short retry times, and ``syslog_name`` of its own. It
never reads or writes ``/etc/postfix``, the system queue or the system log.
Stopping it (``postfix stop``, then the master's PID killed if it lingers)
happens in the fixture's teardown, whatever the test did.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.cli_helpers import Result, run_cli

MASTER_CF = """\
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
lmtp      unix  -       -       n       -       -       lmtp
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
"""


def skip_reason() -> str | None:
    if shutil.which("postfix", path="/usr/sbin:/usr/bin:/sbin") is None:
        return "Postfix is not installed (apt-get install postfix)"
    if os.geteuid() != 0:
        return "a Postfix instance needs root (its master process starts as root)"
    try:
        pwd.getpwnam("postfix")
    except KeyError:
        return "there is no postfix user (the postfix package creates it)"
    return None


class PostfixInstance:
    def __init__(self) -> None:
        # Not under pytest's tmp_path: that is 0700, and Postfix's daemons run as
        # the postfix user, which must reach the data directory.
        self.root = Path(tempfile.mkdtemp(prefix="tui-mailsetup-postfix-"))
        os.chmod(self.root, 0o755)
        self.config_dir = self.root / "etc"
        self.queue_dir = self.root / "queue"
        self.data_dir = self.root / "data"
        self.log = self.root / "maillog"
        for directory in (self.config_dir, self.queue_dir, self.data_dir):
            directory.mkdir()
            os.chmod(directory, 0o755)
        user = pwd.getpwnam("postfix")
        os.chown(self.data_dir, user.pw_uid, user.pw_gid)
        (self.config_dir / "master.cf").write_text(MASTER_CF)
        (self.config_dir / "main.cf").write_text(
            "\n".join(
                [
                    "# A scratch instance for tui-mailsetup's tests.",
                    "compatibility_level = 3.6",
                    f"queue_directory = {self.queue_dir}",
                    f"data_directory = {self.data_dir}",
                    "mail_owner = postfix",
                    "setgid_group = postdrop",
                    "myhostname = mta-test.localdomain",
                    "mydestination =",
                    "inet_interfaces = loopback-only",
                    "inet_protocols = ipv4",
                    "smtp_host_lookup = native",
                    f"maillog_file = {self.log}",
                    f"maillog_file_prefixes = {self.root}",
                    "syslog_name = postfix-tui-mailsetup-test",
                    "minimal_backoff_time = 300s",
                    "maximal_backoff_time = 600s",
                    "queue_run_delay = 300s",
                    "smtp_connect_timeout = 5s",
                    "smtp_helo_timeout = 10s",
                    "",
                ]
            )
        )
        self.started = False

    def postfix(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["postfix", "-c", str(self.config_dir), *args],
            capture_output=True,
            text=True,
            timeout=60,
            check=check,
        )

    def start(self) -> None:
        result = self.postfix("start", check=False)
        self.started = True
        if result.returncode != 0:
            log = self.log.read_text(errors="replace") if self.log.exists() else ""
            raise RuntimeError(f"postfix start failed: {result.stderr}\n{log}")

    def master_pid(self) -> int | None:
        try:
            return int((self.queue_dir / "pid" / "master.pid").read_text().strip())
        except (OSError, ValueError):
            return None

    def stop(self) -> None:
        if self.started:
            pid = self.master_pid()
            with contextlib.suppress(Exception):
                self.postfix("stop", check=False)
            if pid is not None:
                deadline = time.monotonic() + 10
                while time.monotonic() < deadline and _alive(pid):
                    time.sleep(0.1)
                if _alive(pid):
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
        shutil.rmtree(self.root, ignore_errors=True)

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def wait_for_log(self, needle: str, timeout: float = 20.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.log_text()
            if needle in text:
                return text
            time.sleep(0.1)
        raise AssertionError(f"{needle!r} not in the log:\n{self.log_text()}")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@pytest.fixture
def postfix_instance() -> Iterator[PostfixInstance]:
    reason = skip_reason()
    if reason:
        pytest.skip(reason)
    instance = PostfixInstance()
    try:
        instance.start()
        yield instance
    finally:
        instance.stop()


@pytest.fixture
def postfix_config() -> Iterator[PostfixInstance]:
    """The instance's files only, never started (for apply's refusals and dry runs)."""
    if shutil.which("postconf", path="/usr/sbin:/usr/bin:/sbin") is None:
        pytest.skip("Postfix is not installed (apt-get install postfix)")
    instance = PostfixInstance() if os.geteuid() == 0 else _unprivileged_instance()
    try:
        yield instance
    finally:
        instance.stop()


def _unprivileged_instance() -> PostfixInstance:
    instance = PostfixInstance.__new__(PostfixInstance)
    instance.root = Path(tempfile.mkdtemp(prefix="tui-mailsetup-postfix-"))
    instance.config_dir = instance.root / "etc"
    instance.queue_dir = instance.root / "queue"
    instance.data_dir = instance.root / "data"
    instance.log = instance.root / "maillog"
    instance.config_dir.mkdir()
    (instance.config_dir / "master.cf").write_text(MASTER_CF)
    (instance.config_dir / "main.cf").write_text("compatibility_level = 3.6\n")
    instance.started = False
    return instance


def run_mta(
    home: Path, config: Path, instance: PostfixInstance, *args: str, password: str
) -> Result:
    """``tui-mailsetup mta ARGS`` against a throwaway instance, the password from the
    environment (as root's unit file would give it)."""
    return run_cli(
        "--config",
        str(config),
        "mta",
        *args,
        "--mta",
        "postfix",
        "--config-dir",
        str(instance.config_dir),
        home=home,
        env={"MAILSETUP_SMTP__PASSWORD": password},
        timeout=120,
    )
