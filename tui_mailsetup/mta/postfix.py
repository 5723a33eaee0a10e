"""Postfix: its relay settings read with ``postconf``, applied with ``postconf -e``,
``postmap`` and ``postfix reload``; its queue through ``postqueue -j`` and ``postsuper``.

What the settings mean in Postfix's terms is export.py's knowledge
(:func:`tui_mailsetup.export.render_postfix` and ``render_postfix_sasl``):
this module runs that output through Postfix's own tools, never a second
copy of the rules. Every tool gets ``-c CONFIG_DIR``, so a scratch instance
(tests, a second instance) is handled exactly like ``/etc/postfix``.
"""

from __future__ import annotations

import difflib
import json
import os
import re
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from tui_mailsetup import files
from tui_mailsetup.exitcodes import ExitCode
from tui_mailsetup.export import (
    POSTFIX_SASL_MAP,
    ExportError,
    ExportOptions,
    postfix_nexthop,
    render_postfix,
    render_postfix_sasl,
)
from tui_mailsetup.mta import MtaError, ToolResult, backup, find_tool, run_tool
from tui_mailsetup.sanitize import untrusted_text
from tui_mailsetup.settings import MailSettings

DEFAULT_CONFIG_DIR = Path("/etc/postfix")
PACKAGE = "postfix"
SASL_FILE = "sasl_passwd"
MAP_SUFFIXES = (".db", ".lmdb", ".cdb")
RELAY_PARAMETERS = (
    "relayhost",
    "smtp_tls_security_level",
    "smtp_tls_wrappermode",
    "smtp_tls_CAfile",
    "smtp_tls_fingerprint_digest",
    "smtp_tls_fingerprint_cert_match",
    "smtp_helo_name",
    "smtp_sasl_auth_enable",
    "smtp_sasl_password_maps",
    "smtp_sasl_security_options",
    "smtp_sasl_tls_security_options",
    "smtp_sasl_mechanism_filter",
)
"""The parameters ``mta status`` shows and ``mta apply`` may set."""
REMOVABLE = frozenset(
    {
        "smtp_tls_wrappermode",
        "smtp_tls_fingerprint_digest",
        "smtp_tls_fingerprint_cert_match",
        "smtp_helo_name",
        "smtp_sasl_auth_enable",
        "smtp_sasl_security_options",
        "smtp_sasl_tls_security_options",
        "smtp_sasl_mechanism_filter",
    }
)
"""Relay parameters that a new apply removes when the settings no longer call for them
(``smtp_tls_CAfile`` stays: an administrator may rely on it for other destinations)."""
OVERRIDING = ("transport_maps", "sender_dependent_relayhost_maps", "smtp_tls_policy_maps")
"""Parameters that would silently override the relay settings when set."""
_QUEUE_ID = re.compile(r"[0-9A-Za-z]{6,20}")
_PARAMETER_LINE = re.compile(r"^(?P<name>[A-Za-z0-9_]+)\s*=\s?(?P<value>.*)$")


def wanted_parameters(settings: MailSettings) -> dict[str, str]:
    """main.cf parameters for the settings, as export.py's Postfix exporter writes them."""
    try:
        text = render_postfix(settings, ExportOptions())
    except ExportError as exc:
        raise MtaError(str(exc), exc.exit_code) from exc
    return _parse_parameters(text)


def _parse_parameters(text: str) -> dict[str, str]:
    parameters: dict[str, str] = {}
    for line in text.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        match = _PARAMETER_LINE.match(line)
        if match:
            parameters[match.group("name")] = match.group("value").strip()
    return parameters


def sasl_table(settings: MailSettings, password: str | None) -> str | None:
    """The sasl_passwd text (holding the password), None when the relay needs no login."""
    if not settings.smtp.username:
        return None
    if password is None:
        raise MtaError(
            "no password is set for smtp.password; store it with: tui-mailsetup set-secret "
            "smtp.password (Postfix keeps its own copy in sasl_passwd)",
            ExitCode.CONFIG,
        )
    try:
        return render_postfix_sasl(settings, ExportOptions(secrets={"smtp.password": password}))
    except ExportError as exc:
        raise MtaError(str(exc), exc.exit_code) from exc


def _masked_table_line(line: str) -> str:
    key, _, credentials = line.strip().partition(" ")
    user = credentials.strip().partition(":")[0]
    return untrusted_text(f"{key} {user}:********" if credentials else key)


@dataclass(frozen=True)
class QueueEntry:
    queue_id: str
    queue: str
    """deferred, hold, active, incoming or maildrop."""
    arrival: float
    size: int
    sender: str
    recipients: list[tuple[str, str]]
    """(address, the reason it is still queued) pairs, sanitised."""

    @property
    def reason(self) -> str:
        return next((reason for _, reason in self.recipients if reason), "")

    def age(self, now: float | None = None) -> float:
        return max(0.0, (time.time() if now is None else now) - self.arrival)


@dataclass
class Plan:
    """What ``mta apply`` will do, computed without changing anything."""

    config_dir: Path
    diff: list[str] = field(default_factory=list)
    """Unified diff of main.cf, sanitised."""
    set_parameters: dict[str, str] = field(default_factory=dict)
    remove_parameters: list[str] = field(default_factory=list)
    sasl_text: str | None = None
    sasl_changed: bool = False
    notes: list[str] = field(default_factory=list)

    @property
    def changes(self) -> bool:
        return bool(self.diff) or self.sasl_changed

    def to_json(self) -> dict[str, object]:
        return {
            "config_dir": str(self.config_dir),
            "diff": self.diff,
            "set": self.set_parameters,
            "remove": self.remove_parameters,
            "sasl_passwd": self.sasl_changed,
            "notes": self.notes,
            "changes": self.changes,
        }


class Postfix:
    name = "postfix"

    def __init__(self, config_dir: Path | None = None) -> None:
        self.config_dir = (config_dir or DEFAULT_CONFIG_DIR).absolute()
        self.postconf = find_tool("postconf", PACKAGE)

    # ------------------------------------------------------------------ tools

    def _tool(self, name: str, *args: str, timeout: float | None = None) -> ToolResult:
        argv = [find_tool(name, PACKAGE), "-c", str(self.config_dir), *args]
        return run_tool(argv) if timeout is None else run_tool(argv, timeout=timeout)

    @property
    def main_cf(self) -> Path:
        return self.config_dir / "main.cf"

    def require_configured(self) -> None:
        if not self.main_cf.is_file():
            raise MtaError(
                f"Postfix is installed but not configured: there is no {self.main_cf}. Run "
                "dpkg-reconfigure postfix and choose 'Satellite system' (or 'Internet with "
                "smarthost'), then run mta apply again",
                ExitCode.CONFIG,
            )

    def version(self) -> str:
        result = run_tool([self.postconf, "-d", "-h", "mail_version"])
        return result.stdout.strip() if result.ok else ""

    def explicit(self) -> dict[str, str]:
        """``postconf -n``: the parameters main.cf sets."""
        self.require_configured()
        result = self._tool("postconf", "-n")
        if not result.ok:
            raise MtaError(f"postconf -n failed: {result.complaint()}", ExitCode.CONFIG)
        values = _parse_parameters(result.stdout)
        values.pop("config_directory", None)  # postconf -c adds it
        return values

    def effective(self, names: tuple[str, ...]) -> dict[str, str]:
        """Each parameter's value in effect, defaults included."""
        result = self._tool("postconf", *names)
        if not result.ok:
            raise MtaError(f"postconf failed: {result.complaint()}", ExitCode.CONFIG)
        return _parse_parameters(result.stdout)

    def service_overrides(self) -> list[str]:
        """master.cf ``-o`` overrides of the relay parameters (``postconf -P``)."""
        result = self._tool("postconf", "-P")
        if not result.ok:
            return []
        found = []
        for line in result.stdout.splitlines():
            service, _, _ = line.partition(" = ")
            parameter = service.rsplit("/", 1)[-1]
            if parameter in RELAY_PARAMETERS or parameter in OVERRIDING:
                found.append(untrusted_text(line))
        return found

    def running(self) -> bool:
        return self._tool("postfix", "status").ok

    def reload(self) -> str:
        """Reload when running; say what happened."""
        if not self.running():
            return "Postfix is not running; the settings take effect when it starts"
        result = self._tool("postfix", "reload")
        if not result.ok:
            raise MtaError(f"postfix reload failed: {result.complaint()}", ExitCode.UNAVAILABLE)
        return "Postfix reloaded"

    def maillog_file(self) -> str:
        try:
            return self.effective(("maillog_file",)).get("maillog_file", "")
        except MtaError:
            return ""

    # ------------------------------------------------------------------ status

    def relay_settings(self) -> dict[str, str]:
        explicit = self.explicit()
        return {name: explicit[name] for name in RELAY_PARAMETERS if name in explicit}

    def differences(self, settings: MailSettings) -> list[dict[str, str | None]]:
        wanted = wanted_parameters(settings)
        current = self.explicit()
        out: list[dict[str, str | None]] = []
        for name, value in wanted.items():
            if _normalise(current.get(name)) != _normalise(value):
                out.append({"parameter": name, "current": current.get(name), "wanted": value})
        for name in sorted(REMOVABLE - wanted.keys()):
            if name in current:
                out.append({"parameter": name, "current": current[name], "wanted": None})
        if settings.smtp.username:
            # The login (never the password) that sasl_passwd holds for the relay.
            nexthop = postfix_nexthop(settings)
            login = self._sasl_login(nexthop)
            if login != settings.smtp.username:
                out.append(
                    {
                        "parameter": SASL_FILE,
                        "current": f"{nexthop} {login}" if login else None,
                        "wanted": f"{nexthop} {untrusted_text(settings.smtp.username)}",
                    }
                )
        return out

    def _sasl_login(self, nexthop: str) -> str | None:
        path = self.config_dir / SASL_FILE
        if not path.is_file():
            return None
        for raw in _read(path).splitlines():
            words = raw.split(None, 1)
            if len(words) == 2 and words[0] == nexthop:
                return untrusted_text(words[1].partition(":")[0])
        return None

    # ------------------------------------------------------------------ apply

    def conflicts(self, settings: MailSettings, wanted: dict[str, str]) -> list[str]:
        """Existing settings that apply cannot merge, as the lines that say them."""
        current = self.explicit()
        lines = [
            f"main.cf: {name} = {untrusted_text(current[name])}"
            for name in OVERRIDING
            if current.get(name)
        ]
        transport = current.get("default_transport", "smtp")
        if transport not in ("smtp", "relay"):
            lines.append(f"main.cf: default_transport = {untrusted_text(transport)}")
        maps = current.get("smtp_sasl_password_maps")
        if (
            maps
            and "smtp_sasl_password_maps" in wanted
            and _normalise(maps) != _normalise(POSTFIX_SASL_MAP)
        ):
            lines.append(f"main.cf: smtp_sasl_password_maps = {untrusted_text(maps)}")
        lines += [f"master.cf: {line}" for line in self.service_overrides()]
        sasl_path = self.config_dir / SASL_FILE
        if settings.smtp.username and sasl_path.is_file():
            ours = postfix_nexthop(settings)
            for raw in _read(sasl_path).splitlines():
                words = raw.split(None, 1)
                if words and not words[0].startswith("#") and words[0] != ours:
                    lines.append(f"{SASL_FILE}: {_masked_table_line(raw)}")
        return lines

    def plan(self, settings: MailSettings, password: str | None) -> Plan:
        self.require_configured()
        wanted = wanted_parameters(settings)
        sasl_text = sasl_table(settings, password)
        conflicts = self.conflicts(settings, wanted)
        if conflicts:
            raise MtaError(
                "the existing Postfix configuration has settings mta apply cannot merge "
                "(they would override or lose what it writes); change or remove them first",
                ExitCode.CONFIG,
                conflicts,
            )
        current = self.explicit()
        remove = sorted(name for name in REMOVABLE - wanted.keys() if name in current)
        changed = {
            name: value
            for name, value in wanted.items()
            if _normalise(current.get(name)) != _normalise(value)
        }
        plan = Plan(self.config_dir, set_parameters=changed, remove_parameters=remove)
        old_text = _read(self.main_cf)
        new_text = self._edited_copy(changed, remove)
        plan.diff = [
            untrusted_text(line.rstrip("\n"))
            for line in difflib.unified_diff(
                old_text.splitlines(keepends=True),
                new_text.splitlines(keepends=True),
                fromfile=f"{self.main_cf} (now)",
                tofile=f"{self.main_cf} (after mta apply)",
            )
        ]
        if wanted.get("smtp_tls_security_level") == "verify" and "smtp_tls_CAfile" not in wanted:
            trust = self.effective(("smtp_tls_CAfile", "smtp_tls_CApath"))
            if not any(trust.values()):
                plan.notes.append(
                    "Postfix has no certificate authorities to verify the relay with: set "
                    "smtp_tls_CApath = /etc/ssl/certs (postconf -e), or smtp.ca_file"
                )
        sasl_path = self.config_dir / SASL_FILE
        if sasl_text is not None:
            plan.sasl_text = sasl_text
            current_table = _read(sasl_path) if sasl_path.is_file() else None
            plan.sasl_changed = current_table != sasl_text or not self._map_files()
            if plan.sasl_changed:
                plan.notes.append(
                    f"{sasl_path}: the login for {postfix_nexthop(settings)} as "
                    f"{untrusted_text(settings.smtp.username)} (password not shown), mode 0600, "
                    "then postmap"
                )
        return plan

    def _edited_copy(self, changed: dict[str, str], remove: list[str]) -> str:
        """main.cf as ``postconf -e``/``-X`` would leave it, computed on a private copy."""
        with tempfile.TemporaryDirectory(prefix="tui-mailsetup-postconf-") as scratch:
            copy_dir = Path(scratch)
            shutil.copyfile(self.main_cf, copy_dir / "main.cf")
            master = self.config_dir / "master.cf"
            if master.is_file():
                shutil.copyfile(master, copy_dir / "master.cf")
            self._edit(copy_dir, changed, remove)
            return (copy_dir / "main.cf").read_text(errors="replace")

    def _edit(self, config_dir: Path, changed: dict[str, str], remove: list[str]) -> None:
        # One parameter per call: postconf appends new ones in the order it is given them
        # only then, so main.cf reads relayhost first, as the export prints it.
        for name, value in changed.items():
            result = run_tool([self.postconf, "-c", str(config_dir), "-e", f"{name} = {value}"])
            if not result.ok:
                raise MtaError(f"postconf -e failed: {result.complaint()}", ExitCode.CONFIG)
        if remove:
            result = run_tool([self.postconf, "-c", str(config_dir), "-X", *remove])
            if not result.ok:
                raise MtaError(f"postconf -X failed: {result.complaint()}", ExitCode.CONFIG)

    def _map_files(self) -> list[Path]:
        base = self.config_dir / SASL_FILE
        return [
            base.with_name(base.name + s)
            for s in MAP_SUFFIXES
            if base.with_name(base.name + s).exists()
        ]

    def backup_targets(self) -> list[Path]:
        base = self.config_dir / SASL_FILE
        return [self.main_cf, base, *(base.with_name(base.name + s) for s in MAP_SUFFIXES)]

    def apply(self, plan: Plan) -> list[str]:
        """Back up, write, postmap, reload (all put back if a step fails). What was done."""
        root = backup.backup_root(self.config_dir, self.name)
        return backup.changed_with_backup(root, self.backup_targets(), lambda: self._apply(plan))

    def _apply(self, plan: Plan) -> list[str]:
        done: list[str] = []
        self._edit(self.config_dir, plan.set_parameters, plan.remove_parameters)
        if plan.set_parameters or plan.remove_parameters:
            done.append(f"{self.main_cf} updated with postconf")
        if plan.sasl_changed and plan.sasl_text is not None:
            sasl_path = self.config_dir / SASL_FILE
            files.atomic_write(sasl_path, plan.sasl_text.encode("utf-8"), mode=0o600, secret=True)
            result = self._tool("postmap", str(sasl_path))
            if not result.ok:
                raise MtaError(f"postmap failed: {result.complaint()}", ExitCode.CONFIG)
            for built in self._map_files():
                os.chmod(built, 0o600)
            done.append(f"{sasl_path} written (mode 0600) and postmap run")
        done.append(self.reload())
        return done

    def revert(self) -> list[str]:
        done = backup.revert(backup.backup_root(self.config_dir, self.name))
        done.append(self.reload())
        return done

    # ------------------------------------------------------------------ queue

    def queue(self) -> list[QueueEntry]:
        result = self._tool("postqueue", "-j")
        if not result.ok:
            raise MtaError(
                f"the Postfix queue cannot be read: {result.complaint()}", ExitCode.UNAVAILABLE
            )
        entries = []
        for line in result.stdout.splitlines():
            try:
                data = json.loads(line)
                entries.append(
                    QueueEntry(
                        queue_id=untrusted_text(str(data["queue_id"])),
                        queue=untrusted_text(str(data.get("queue_name", ""))),
                        arrival=float(data.get("arrival_time", 0)),
                        size=int(data.get("message_size", 0)),
                        sender=untrusted_text(str(data.get("sender", ""))),
                        recipients=[
                            (
                                untrusted_text(str(r.get("address", ""))),
                                untrusted_text(str(r.get("delay_reason", ""))),
                            )
                            for r in data.get("recipients", [])
                        ],
                    )
                )
            except (ValueError, KeyError, TypeError, AttributeError):
                continue
        return entries

    def flush(self) -> None:
        result = self._tool("postqueue", "-f")
        if not result.ok:
            raise MtaError(f"postqueue -f failed: {result.complaint()}", ExitCode.UNAVAILABLE)

    def delete(self, queue_id: str) -> None:
        if not _QUEUE_ID.fullmatch(queue_id):
            raise MtaError(f"{queue_id!r} is not a Postfix queue ID", ExitCode.USAGE)
        result = self._tool("postsuper", "-d", queue_id)
        if not result.ok or "deleted" not in (result.stderr + result.stdout).lower():
            raise MtaError(
                f"postsuper could not delete {queue_id}: {result.complaint()}", ExitCode.DATAERR
            )

    def submit_options(self) -> list[str]:
        """Options for Postfix's sendmail so that it uses this instance."""
        return [] if self.config_dir == DEFAULT_CONFIG_DIR else ["-C", str(self.config_dir)]


def _normalise(value: str | None) -> str | None:
    return None if value is None else " ".join(value.replace(",", " ").split())


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except PermissionError as exc:
        raise MtaError(f"{path} cannot be read: run as root", ExitCode.NOPERM) from exc
