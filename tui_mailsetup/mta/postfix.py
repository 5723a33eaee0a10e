"""Postfix: its relay settings read with ``postconf``, applied with ``postconf -e``,
``postmap`` and ``postfix reload``; its queue through ``postqueue -j`` and ``postsuper``.

Apply edits a private copy of main.cf (and builds sasl_passwd's table) in a
scratch directory, checks it with ``postconf -c SCRATCH -n``, and puts each
file in place with one atomic rename, main.cf last; :mod:`.backup` records
what it wrote so that revert takes back that and no hand edit.

What the settings mean in Postfix's terms is export.py's knowledge
(:func:`tui_mailsetup.export.render_postfix` and ``render_postfix_sasl``):
this module runs that output through Postfix's own tools, never a second
copy of the rules. Every tool gets ``-c CONFIG_DIR``, so a scratch instance
(tests, a second instance) is handled exactly like ``/etc/postfix``.
"""

from __future__ import annotations

import contextlib
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
RECORDED = ("main.cf", SASL_FILE, *(SASL_FILE + suffix for suffix in MAP_SUFFIXES))
"""The files mta apply may write, all in the configuration directory (what revert may touch)."""
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


def _masked_table(text: str) -> list[str]:
    return [_masked_table_line(line) + "\n" for line in text.splitlines()]


def _masked_table_line(line: str) -> str:
    # A lookup table separates key and value by any white space (a tab too).
    key, credentials = [*line.split(None, 1), ""][:2]
    user = credentials.strip().partition(":")[0]
    return untrusted_text(f"{key} {user}:********" if credentials else key)


def _masked_parameter(value: str) -> str:
    """A main.cf value as shown in a refusal: a ``static:user:password`` map's password masked."""
    return re.sub(r"(static:[^:\s,]*:)\S+", r"\1********", value)


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

    def conflicts(
        self, settings: MailSettings, wanted: dict[str, str], ours: frozenset[str] = frozenset()
    ) -> list[str]:
        """Existing settings that apply cannot merge, as the lines that say them
        (``ours``: sasl_passwd lines an earlier apply wrote, which a new one replaces)."""
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
            lines.append(
                f"main.cf: smtp_sasl_password_maps = {untrusted_text(_masked_parameter(maps))}"
            )
        lines += [f"master.cf: {line}" for line in self.service_overrides()]
        sasl_path = self.config_dir / SASL_FILE
        if settings.smtp.username and sasl_path.is_file():
            nexthop = postfix_nexthop(settings)
            for raw in _read(sasl_path).splitlines():
                words = raw.split(None, 1)
                if (
                    words
                    and not words[0].startswith("#")
                    and words[0] != nexthop
                    and raw not in ours
                ):
                    lines.append(f"{SASL_FILE}: {_masked_table_line(raw)}")
        return lines

    def plan(self, settings: MailSettings, password: str | None) -> Plan:
        self.require_configured()
        wanted = wanted_parameters(settings)
        sasl_text = sasl_table(settings, password)
        conflicts = self.conflicts(settings, wanted, self._our_sasl_lines())
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
            untrusted_text(_masked_parameter(line.rstrip("\n")))
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
            return self._checked_main_cf(Path(scratch), changed, remove).decode(errors="replace")

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

    # ------------------------------------------------------------------ the record

    def _root(self) -> Path:
        return backup.backup_root(self.config_dir, self.name)

    def _load(self) -> backup.Record | None:
        return backup.load(
            self._root(), self.name, frozenset(RECORDED), frozenset(RELAY_PARAMETERS)
        )

    def written_files(self) -> list[Path]:
        """The files mta apply may write (RECORDED), as paths."""
        return [self.config_dir / name for name in RECORDED]

    def _our_sasl_lines(self) -> frozenset[str]:
        """The sasl_passwd lines the last apply wrote (a dry run without root: none known)."""
        try:
            record = self._load()
        except MtaError:
            if os.geteuid() == 0:
                raise
            return frozenset()
        entry = record.files.get(SASL_FILE) if record else None
        if record is None or entry is None or entry.after in (None, entry.before):
            return frozenset()
        assert entry.after is not None
        return frozenset(record.read_object(entry.after).decode(errors="replace").splitlines())

    def _put(self, name: str, data: bytes | None, *, mode: int = 0o600, gid: int = -1) -> None:
        """One file in place, atomically; main.cf keeps its owner and mode, the SASL files
        are 0600 (they hold the password)."""
        path = backup.inside(self.config_dir, name)
        if data is None:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        elif name == "main.cf":
            files.atomic_write(path, data, keep_mode=True)
        else:
            # sasl_passwd and its table hold the password: never another user's file or link.
            files.atomic_write(path, data, mode=mode, secret=True)
            if gid >= 0 and os.geteuid() == 0:
                os.chown(path, 0, gid)  # root's, whoever owned the file it replaces
            os.chmod(path, mode)

    def _checked_main_cf(self, scratch: Path, changed: dict[str, str], remove: list[str]) -> bytes:
        """main.cf with the parameters changed, built in ``scratch`` and read back by
        ``postconf -n`` before it goes anywhere near the real one."""
        shutil.copyfile(self.main_cf, scratch / "main.cf")
        master = self.config_dir / "master.cf"
        if master.is_file():
            shutil.copyfile(master, scratch / "master.cf")
        self._edit(scratch, changed, remove)
        result = run_tool([self.postconf, "-c", str(scratch), "-n"])
        if not result.ok:
            raise MtaError(
                f"the new main.cf does not pass postconf -n: {result.complaint()}; nothing was "
                "changed",
                ExitCode.CONFIG,
            )
        return (scratch / "main.cf").read_bytes()

    def _build(self, plan: Plan, scratch: Path) -> dict[str, bytes]:
        """Every file apply writes, built and checked in ``scratch``: the maps first, then
        sasl_passwd, main.cf last (it is what points Postfix at them)."""
        new: dict[str, bytes] = {}
        main_cf = None
        if plan.set_parameters or plan.remove_parameters:
            main_cf = self._checked_main_cf(scratch, plan.set_parameters, plan.remove_parameters)
        if plan.sasl_changed and plan.sasl_text is not None:
            sasl = scratch / SASL_FILE
            files.atomic_write(sasl, plan.sasl_text.encode("utf-8"), mode=0o600)
            config = scratch if main_cf is not None else self.config_dir
            result = run_tool([find_tool("postmap", PACKAGE), "-c", str(config), str(sasl)])
            if not result.ok:
                raise MtaError(
                    f"postmap failed: {result.complaint()}; nothing was changed", ExitCode.CONFIG
                )
            for suffix in MAP_SUFFIXES:
                built = scratch / (SASL_FILE + suffix)
                if built.exists():
                    new[built.name] = built.read_bytes()
            new[SASL_FILE] = sasl.read_bytes()
        if main_cf is not None:
            new["main.cf"] = main_cf
        return new

    # ------------------------------------------------------------------ apply / revert

    def apply(self, plan: Plan) -> list[str]:
        """Record, write (each file atomically, main.cf last), reload; all put back if a
        step fails. A second apply replaces the first one's values; what revert returns
        to stays the state before the first. What was done, for the reader."""
        root = self._root()
        with backup.exclusive(root, self.written_files()):
            record = self._load()
            before = self.explicit()
            with backup.scratch(root) as scratch:
                new = self._build(plan, Path(scratch))
            changed: dict[str, str | None] = dict(plan.set_parameters)
            changed |= dict.fromkeys(plan.remove_parameters)
            record = backup.apply_change(
                root,
                record,
                self.name,
                self.config_dir,
                RECORDED,
                new,
                lambda name, data: self._put(name, data),
                lambda: [self.reload()],
                parameters=changed if "main.cf" in new else None,
                parameters_now=before,
            )
        done = [f"backup of the files as they were before mta apply kept in {record.directory}"]
        if "main.cf" in new:
            done.append(f"{self.main_cf} replaced in one step (checked with postconf -n)")
        if SASL_FILE in new:
            done.append(f"{self.config_dir / SASL_FILE} written (mode 0600) with its postmap table")
        return done + record.done

    def revert(self, *, force: bool = False) -> list[str]:
        """Take back what apply wrote and nothing else (README: what revert restores)."""
        root = self._root()
        with backup.exclusive(root, self.written_files()):
            record = self._load()
            if record is None:
                raise backup.no_record(root)
            with backup.scratch(root) as scratch:
                done = self._revert(record, Path(scratch), force=force)
            backup.drop(record)
        done.append(self.reload())
        return done

    def _revert(self, record: backup.Record, scratch: Path, *, force: bool) -> list[str]:
        state = backup.states(record, self.config_dir)
        sasl_state = state.get(SASL_FILE, backup.SAME)
        if sasl_state == backup.CHANGED and not force:
            raise backup.refuse_changed(
                self.config_dir / SASL_FILE,
                backup.hand_edits(record, self.config_dir, SASL_FILE, _masked_table),
            )
        names = [
            name
            for name in RECORDED[2:]
            if state.get(name) == backup.RESTORE
            or (state.get(name) == backup.CHANGED and sasl_state != backup.SAME)
        ]
        if sasl_state != backup.SAME:
            names.append(SASL_FILE)
        main = record.files["main.cf"]
        main_state = state["main.cf"]
        done: list[str] = []
        main_cf: bytes | None = None
        if main_state == backup.RESTORE and main.whole:
            names.append("main.cf")
        elif main_state != backup.SAME:
            if not self.main_cf.is_file():
                if not force:
                    raise backup.refuse_changed(self.main_cf, [f"{self.main_cf}: removed"])
                names.append("main.cf")
            else:
                main_cf, done = self._parameters_taken_back(record, scratch)
        data = backup.originals(record, names)  # every copy checked before anything is written
        for name in names:
            entry = record.files[name]
            if name == "main.cf":
                self._put(name, data[name])
            else:
                mode, gid = backup.held_mode(entry, 0o600, 0)
                self._put(name, data[name], mode=mode, gid=gid)
            path = self.config_dir / name
            done.insert(
                0,
                f"restored {path} as it was before mta apply"
                if data[name] is not None
                else f"removed {path} (mta apply created it)",
            )
        if main_cf is not None:
            self._put("main.cf", main_cf)
        return done or ["nothing mta apply wrote was left to take back"]

    def _parameters_taken_back(
        self, record: backup.Record, scratch: Path
    ) -> tuple[bytes, list[str]]:
        """main.cf changed since apply: apply's own parameters back to their earlier values
        (where they are still what apply set), every other line as it is now."""
        current = self.explicit()
        restore: dict[str, str] = {}
        remove: list[str] = []
        taken: list[str] = []
        kept: list[str] = []
        for name, parameter in record.parameters.items():
            now = current.get(name)
            if _normalise(now) == _normalise(parameter.after):
                if parameter.before is None:
                    if now is not None:
                        remove.append(name)
                        taken.append(f"{name} removed")
                elif _normalise(now) != _normalise(parameter.before):
                    restore[name] = parameter.before
                    taken.append(f"{name} = {untrusted_text(parameter.before)}")
            elif _normalise(now) != _normalise(parameter.before):
                shown = "unset" if now is None else f"now {untrusted_text(now)}"
                kept.append(f"{self.main_cf}: {name} was changed by hand since ({shown}): kept")
        data = self._checked_main_cf(scratch, restore, remove)
        done = [
            f"{self.main_cf} changed since mta apply: only its own parameters were taken back "
            f"({'; '.join(taken) or 'none left'}); the other edits are kept"
        ]
        return data, done + kept

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
