"""msmtp-mta: the system msmtprc that msmtp's ``/usr/sbin/sendmail`` reads.

The account text is export.py's (:func:`tui_mailsetup.export.render_msmtp`),
with the password written into the file: the sendmail that cron or PHP runs
cannot ask this program's per-user secret store. A file without a password
is 0644 (every user's mail goes through it); one with a password is owned by
root, group ``msmtp`` and mode 0640 when that group exists (msmtp installed
set-group-ID), otherwise root only (0600), and apply says what that means.
"""

from __future__ import annotations

import contextlib
import difflib
import grp
import os
from dataclasses import dataclass, field
from pathlib import Path

from tui_mailsetup import files
from tui_mailsetup.exitcodes import ExitCode
from tui_mailsetup.export import ExportError, ExportOptions, render_msmtp
from tui_mailsetup.mta import MtaError, backup, find_tool
from tui_mailsetup.sanitize import untrusted_text
from tui_mailsetup.settings import MailSettings

DEFAULT_CONFIG_DIR = Path("/etc")
PACKAGE = "msmtp-mta"
MARKER = "written by tui-mailsetup"
COMPARED = (
    "host",
    "port",
    "tls",
    "tls_starttls",
    "tls_fingerprint",
    "tls_trust_file",
    "tls_certcheck",
    "auth",
    "user",
    "from",
)
SECRET_KEYS = frozenset({"password", "passwordeval"})


def _unquote(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    return value


def parse(text: str) -> tuple[dict[str, dict[str, str]], str | None]:
    """The accounts of an msmtprc (``defaults`` merged in) and the default account's name."""
    defaults: dict[str, str] = {}
    accounts: dict[str, dict[str, str]] = {}
    current: dict[str, str] | None = None
    default_name: str | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        # msmtp separates a command from its argument by any white space (a tab too).
        key, value = [*line.split(None, 1), ""][:2]
        if key == "defaults":
            current = defaults
        elif key == "account":
            name, _, parent = value.partition(":")
            name = name.strip()
            current = dict(defaults)
            if parent.strip():
                current.update(accounts.get(parent.strip(), {}))
            accounts[name] = current
            if name == "default":
                default_name = "default"
        elif current is not None:
            current[key] = _unquote(value)
    if default_name is None and accounts:
        default_name = next(iter(accounts))
    return accounts, default_name


def redacted(account: dict[str, str]) -> dict[str, str]:
    return {
        key: ("********" if key in SECRET_KEYS else untrusted_text(value))
        for key, value in account.items()
    }


@dataclass
class Plan:
    path: Path
    text: str
    mode: int
    group: int
    diff: list[str] = field(default_factory=list)
    changes: bool = True
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, object]:
        return {
            "path": str(self.path),
            "diff": self.diff,
            "mode": f"{self.mode:04o}",
            "notes": self.notes,
            "changes": self.changes,
        }


def _masked(text: str) -> list[str]:
    lines = []
    for raw in text.splitlines(keepends=True):
        words = raw.split(None, 1)
        key = words[0] if words else ""
        if key in SECRET_KEYS:
            raw = f"{key} ********\n"
        lines.append(raw)
    return lines


class Msmtp:
    name = "msmtp"

    def __init__(self, config_dir: Path | None = None) -> None:
        self.config_dir = (config_dir or DEFAULT_CONFIG_DIR).absolute()
        self.binary = find_tool("msmtp", PACKAGE)

    @property
    def path(self) -> Path:
        return self.config_dir / "msmtprc"

    def sendmail_command(self) -> list[str]:
        """msmtp as msmtp-mta's sendmail runs it, on this msmtprc."""
        if self.config_dir == DEFAULT_CONFIG_DIR:
            return [self.binary]
        return [self.binary, "-C", str(self.path)]

    def current_text(self) -> str | None:
        try:
            return self.path.read_text(errors="replace")
        except FileNotFoundError:
            return None
        except PermissionError as exc:
            raise MtaError(
                f"{self.path} cannot be read: permission denied", ExitCode.NOPERM
            ) from exc

    def relay_settings(self) -> dict[str, str]:
        text = self.current_text()
        if text is None:
            return {}
        accounts, default = parse(text)
        return redacted(accounts.get(default, {})) if default else {}

    def wanted_text(self, settings: MailSettings, password: str | None) -> str:
        secrets = None
        if settings.smtp.username:
            if password is None:
                raise MtaError(
                    "no password is set for smtp.password; store it with: tui-mailsetup "
                    "set-secret smtp.password (the system msmtprc keeps its own copy)",
                    ExitCode.CONFIG,
                )
            secrets = {"smtp.password": password}
        try:
            return render_msmtp(settings, ExportOptions(secrets=secrets or {}))
        except ExportError as exc:
            raise MtaError(str(exc), exc.exit_code) from exc

    def differences(self, settings: MailSettings) -> list[dict[str, str | None]]:
        wanted_accounts, wanted_default = parse(self.wanted_text(settings, "x"))
        wanted = wanted_accounts.get(wanted_default or "", {})
        text = self.current_text() or ""
        accounts, default = parse(text)
        current = accounts.get(default or "", {})
        return [
            {"key": key, "current": current.get(key), "wanted": wanted.get(key)}
            for key in COMPARED
            if current.get(key) != wanted.get(key)
        ]

    @staticmethod
    def ownership(*, secret: bool) -> tuple[int, int]:
        """(group id, mode) for the system msmtprc: readable by every user that sends mail
        unless it holds a password; then group msmtp (msmtp installed set-group-ID), or
        root alone when that group does not exist."""
        if not secret:
            return 0, 0o644
        try:
            return grp.getgrnam("msmtp").gr_gid, 0o640
        except KeyError:
            return 0, 0o600

    def plan(self, settings: MailSettings, password: str | None) -> Plan:
        text = self.wanted_text(settings, password)
        current = self.current_text()
        if current is not None and MARKER not in current:
            foreign = [
                untrusted_text(line.strip())
                for line in current.splitlines()
                if line.strip().startswith("account")
            ]
            if foreign:
                raise MtaError(
                    f"{self.path} already defines accounts that mta apply did not write; "
                    "it does not merge them: move the file aside or remove those accounts first",
                    ExitCode.CONFIG,
                    [f"{self.path.name}: {line}" for line in foreign],
                )
        group, mode = self.ownership(secret=bool(settings.smtp.username))
        plan = Plan(self.path, text, mode, group)
        plan.diff = [
            untrusted_text(line.rstrip("\n"))
            for line in difflib.unified_diff(
                _masked(current or ""),
                _masked(text),
                fromfile=f"{self.path} (now)",
                tofile=f"{self.path} (after mta apply)",
            )
        ]
        plan.changes = current != text
        if mode == 0o600:
            plan.notes.append(
                "there is no msmtp group (msmtp not installed set-group-ID): the file is "
                "readable by root only, so only root's mail can be sent through it"
            )
        return plan

    def _root(self) -> Path:
        return backup.backup_root(self.config_dir, self.name)

    def _load(self) -> backup.Record | None:
        return backup.load(self._root(), self.name, frozenset({self.path.name}), frozenset())

    def apply(self, plan: Plan) -> list[str]:
        """Record, then one atomic write; a second apply replaces the first one's file, and
        revert still returns to the file as it was before the first."""
        root = self._root()
        with backup.exclusive(root, [self.path]):
            record = backup.apply_change(
                root,
                self._load(),
                self.name,
                self.config_dir,
                (self.path.name,),
                {self.path.name: plan.text.encode("utf-8")},
                lambda _name, data: self._put(data, plan.mode, plan.group),
                list,
            )
        return [
            f"backup of the file as it was before mta apply kept in {record.directory}",
            f"{self.path} written (mode {plan.mode:04o})",
        ]

    def _put(self, data: bytes | None, mode: int, group: int) -> None:
        if data is None:
            with contextlib.suppress(FileNotFoundError):
                backup.inside(self.config_dir, self.path.name).unlink()
            return
        files.atomic_write(self.path, data, mode=mode, secret=True)
        if os.geteuid() == 0:
            os.chown(self.path, 0, group)
        os.chmod(self.path, mode)

    def revert(self, *, force: bool = False) -> list[str]:
        """The msmtprc as it was before the first apply, while it is still what apply left;
        changed since, the difference is shown and nothing is done (unless ``force``)."""
        root = self._root()
        name = self.path.name
        with backup.exclusive(root, [self.path]):
            record = self._load()
            if record is None:
                raise backup.no_record(root)
            state = backup.states(record, self.config_dir)[name]
            if state == backup.CHANGED and not force:
                raise backup.refuse_changed(
                    self.path, backup.hand_edits(record, self.config_dir, name, _masked)
                )
            done = ["nothing mta apply wrote was left to take back"]
            if state != backup.SAME:
                data = backup.originals(record, [name])[name]
                if data is None:
                    self._put(None, 0, 0)
                    done = [f"removed {self.path} (mta apply created it)"]
                else:
                    group, max_mode = self.ownership(secret=_holds_secret(data))
                    mode, gid = backup.held_mode(record.files[name], max_mode, group)
                    self._put(data, mode, gid)
                    done = [f"restored {self.path} as it was before mta apply"]
            backup.drop(record)
        return done


def _holds_secret(data: bytes) -> bool:
    return any(
        line.strip().partition(" ")[0] in SECRET_KEYS
        for line in data.decode(errors="replace").splitlines()
    )
