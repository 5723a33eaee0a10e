"""What ``mta apply`` changed, kept so that ``mta revert`` takes back that and nothing else.

One record per MTA, in ``<config dir>/.tui-mailsetup-backups/<mta>/applied``:
a manifest naming each file apply may change (by its name inside the
configuration directory, never a path), the SHA-256 of the file before the
first apply and of what the last apply left, and the Postfix parameters apply
set with their previous values; beside it a private copy of every version
named by its hash (``objects/<sha256>``). A second apply updates the record
(what it wrote, and the parameters) and keeps the first apply's "before":
revert always returns to the state before the first apply.

Nothing in the record is trusted on its own word. The directories must be
owned by root (or the caller) and private (0700), the manifest and copies
owned likewise and writable by no one else, or revert (and apply) refuse,
naming the path, its owner and mode, and the fix. File names must be ones
the MTA's apply writes, parameters ones it sets, every copy must hash to its
name, and the mode and group of a restored file are held to what apply itself
would give it.

A change is journalled so that a kill cannot leave the record wrong: the
hashes a change is about to leave are written as "pending" first, and
whichever version a file is found in later decides what it was.
"""

from __future__ import annotations

import contextlib
import difflib
import fcntl
import hashlib
import json
import os
import re
import shutil
import stat
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tui_mailsetup import files
from tui_mailsetup.exitcodes import ExitCode
from tui_mailsetup.mta import MtaError
from tui_mailsetup.sanitize import untrusted_text

BACKUP_DIR_NAME = ".tui-mailsetup-backups"
RECORD = "applied"
MANIFEST = "manifest.json"
OBJECTS = "objects"
VERSION = 2
_BUILD_PREFIX = "build-"
_NEW_RECORD_PREFIX = "applied.new-"
_HASH = re.compile(r"[0-9a-f]{64}")
_PARAMETER = re.compile(r"[A-Za-z0-9_]{1,100}")


def backup_root(config_dir: Path, mta: str) -> Path:
    return config_dir / BACKUP_DIR_NAME / mta


def sha256(data: bytes | None) -> str | None:
    return None if data is None else hashlib.sha256(data).hexdigest()


def read_current(path: Path) -> bytes | None:
    """The file's bytes, None when it does not exist."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None
    except PermissionError as exc:
        raise MtaError(f"{path} cannot be read: run as root", ExitCode.NOPERM) from exc


# --------------------------------------------------------------------------- the record


@dataclass
class FileEntry:
    name: str
    """The file's name inside the configuration directory."""
    before: str | None
    """SHA-256 of the file before the first apply; None: it did not exist."""
    after: str | None
    """SHA-256 of what the last apply left (equal to ``before`` until it wrote)."""
    pending: str | None = None
    """SHA-256 a change in progress is about to leave (None: no change in progress)."""
    mode: int = 0o600
    """The original's mode and group (restored only within what apply would allow)."""
    gid: int = 0
    whole: bool = True
    """False once the file was edited by hand between two applies: then revert of main.cf
    takes back parameters only, even while it is what the last apply left."""

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "before": self.before,
            "after": self.after,
            "pending": self.pending,
            "mode": self.mode,
            "gid": self.gid,
            "whole": self.whole,
        }


@dataclass
class Parameter:
    before: str | None
    """The value before the first apply set it; None: it was not set in main.cf."""
    after: str | None
    """The value the last apply left; None: apply removed it."""

    def to_json(self) -> dict[str, str | None]:
        return {"before": self.before, "after": self.after}


@dataclass
class Record:
    directory: Path
    mta: str
    files: dict[str, FileEntry] = field(default_factory=dict)
    parameters: dict[str, Parameter] = field(default_factory=dict)
    pending_parameters: dict[str, Parameter] | None = None
    """The parameters a change in progress is about to leave; they count once main.cf
    is found in its pending version."""
    done: list[str] = field(default_factory=list)
    """What the last change did, for the reader (not stored)."""

    def to_json(self) -> dict[str, Any]:
        return {
            "version": VERSION,
            "mta": self.mta,
            "files": [entry.to_json() for entry in self.files.values()],
            "parameters": {name: p.to_json() for name, p in self.parameters.items()},
            "pending_parameters": None
            if self.pending_parameters is None
            else {name: p.to_json() for name, p in self.pending_parameters.items()},
        }

    def object_path(self, digest: str) -> Path:
        return self.directory / OBJECTS / digest

    def read_object(self, digest: str) -> bytes:
        """A stored version, checked: private, and hashing to its name."""
        path = self.object_path(digest)
        check_private(path, directory=False)
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
            with os.fdopen(fd, "rb") as handle:
                data = handle.read()
        except OSError as exc:
            raise damaged(self.directory, f"the copy {digest} cannot be read ({exc})") from exc
        if sha256(data) != digest:
            raise damaged(self.directory, f"the copy {path.name} does not match its hash")
        return data


def damaged(directory: Path, what: str) -> MtaError:
    return MtaError(
        f"the backup record {directory} is damaged or was changed by hand: {what}; nothing was "
        f"changed. Look at it, then move it aside (mv {directory} {directory}.damaged) to "
        "start afresh",
        ExitCode.DATAERR,
    )


def check_private(path: Path, *, directory: bool) -> None:
    """Refuse (78) a backup directory or file that is a symlink, belongs to someone other
    than root or the caller, or that others can change. A directory others may only
    read (as earlier versions made the top one) is made 0700: no one else could have
    changed what is in it."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise MtaError(f"{path} cannot be examined: {exc.strerror}", ExitCode.NOPERM) from exc
    mode = stat.S_IMODE(info.st_mode)
    kind_ok = stat.S_ISDIR(info.st_mode) if directory else stat.S_ISREG(info.st_mode)
    owner_ok = info.st_uid in {0, os.geteuid()}
    writable = mode & 0o022
    if kind_ok and owner_ok and not writable:
        if directory and mode & 0o077 and info.st_uid == os.geteuid():
            os.chmod(path, 0o700)
        return
    what = "directory" if directory else "file"
    owner = "root:root" if os.geteuid() == 0 else str(os.geteuid())
    if not kind_ok:
        problem = "is a symlink" if stat.S_ISLNK(info.st_mode) else f"is not a {what}"
        fix = f"rm -rf {path} (after looking at what it is)"
    elif not owner_ok:
        problem = f"belongs to uid {info.st_uid} (mode {mode:04o})"
        fix = f"chown -R {owner} {path} && chmod {'700' if directory else '600'} {path}"
    else:
        problem = f"can be changed by group or others (mode {mode:04o})"
        fix = f"chmod {'700' if directory else '600'} {path}"
    raise MtaError(
        f"the backup {what} {path} {problem}; only root (or the caller) may own and change "
        "mta apply's backups, so it is not used and nothing was changed. Another user could "
        f"have changed what it says: look at it, then fix it with: {fix}",
        ExitCode.CONFIG,
    )


def _check_tree(root: Path) -> None:
    for directory in (root.parent, root):
        check_private(directory, directory=True)


def _prepare_root(root: Path) -> None:
    """The backup directories, created private when missing, refused when not private."""
    _check_tree(root)
    for directory in (root.parent, root):
        if not directory.is_dir():
            try:
                directory.mkdir(mode=0o700)
                os.chmod(directory, 0o700)  # mkdir's mode is filtered by the umask
            except OSError as exc:
                raise MtaError(
                    f"{directory} cannot be created: {exc.strerror}", ExitCode.CANTCREAT
                ) from exc
    _check_tree(root)


@contextlib.contextmanager
def exclusive(root: Path, written: Iterable[Path] = ()) -> Iterator[None]:
    """One apply or revert at a time for this MTA: a second one waits for the first.

    Holding it, the scraps of a killed apply or revert (build directories, a record
    never put in place, the temporary files of an atomic write beside ``written``) are
    removed: no live writer has them open."""
    _prepare_root(root)
    lock = root / ".lock"
    check_private(lock, directory=False)
    try:
        fd = os.open(lock, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    except OSError as exc:
        raise MtaError(f"{lock} cannot be opened: {exc.strerror}", ExitCode.CANTCREAT) from exc
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        for stale in root.iterdir():
            if stale.name.startswith((_BUILD_PREFIX, _NEW_RECORD_PREFIX)):
                shutil.rmtree(stale, ignore_errors=True)
        for path in (*written, root / RECORD / MANIFEST):
            files.remove_stale_temporaries(path)
        yield
    finally:
        os.close(fd)


def scratch(root: Path) -> tempfile.TemporaryDirectory[str]:
    """A private directory on the configuration's file system, for building files."""
    return tempfile.TemporaryDirectory(prefix=_BUILD_PREFIX, dir=root)


def load(root: Path, mta: str, names: frozenset[str], parameters: frozenset[str]) -> Record | None:
    """The record under ``root``, checked and reconciled with the files; None when none.

    ``names`` are the files this MTA's apply writes, ``parameters`` the ones it sets:
    anything else in the manifest means it was not written by apply.
    """
    _check_tree(root)
    directory = root / RECORD
    if not directory.exists() and not directory.is_symlink():
        return None
    check_private(directory, directory=True)
    check_private(directory / OBJECTS, directory=True)
    manifest = directory / MANIFEST
    check_private(manifest, directory=False)
    try:
        fd = os.open(manifest, os.O_RDONLY | os.O_NOFOLLOW)
        with os.fdopen(fd, "rb") as handle:
            document = json.loads(handle.read(1_000_000))
    except (OSError, ValueError) as exc:
        raise damaged(directory, f"its manifest cannot be read ({exc})") from exc
    record = _parse(directory, mta, document, names, parameters)
    _reconcile(record, root.parent.parent)
    return record


def _parse(
    directory: Path,
    mta: str,
    document: Any,
    names: frozenset[str],
    allowed_parameters: frozenset[str],
) -> Record:
    def digest(value: Any, what: str) -> str | None:
        if value is None or (isinstance(value, str) and _HASH.fullmatch(value)):
            return value
        raise damaged(directory, f"{what} is not a SHA-256")

    if not isinstance(document, dict) or document.get("version") != VERSION:
        raise damaged(directory, "its manifest is not one this version writes")
    if document.get("mta") != mta:
        raise damaged(directory, f"its manifest is for {document.get('mta')!r}, not {mta}")
    record = Record(directory, mta)
    entries = document.get("files")
    if not isinstance(entries, list):
        raise damaged(directory, "its manifest has no list of files")
    for raw in entries:
        if (
            not isinstance(raw, dict)
            or not isinstance(raw.get("name"), str)
            or raw["name"] not in names
        ):
            name = raw.get("name") if isinstance(raw, dict) else raw
            raise damaged(directory, f"it names a file mta apply never writes: {name!r}")
        name = str(raw["name"])
        if name in record.files:
            raise damaged(directory, f"it names {name} twice")
        mode, gid = raw.get("mode", 0o600), raw.get("gid", 0)
        if not isinstance(mode, int) or not isinstance(gid, int) or isinstance(mode, bool):
            raise damaged(directory, f"the mode or group of {name} is not a number")
        record.files[name] = FileEntry(
            name,
            before=digest(raw.get("before"), f"the hash of {name}"),
            after=digest(raw.get("after"), f"the hash of {name}"),
            pending=digest(raw.get("pending"), f"the hash of {name}"),
            mode=mode & 0o7777,
            gid=gid,
            whole=raw.get("whole") is not False,
        )
    if set(record.files) != names:
        raise damaged(
            directory, f"it does not name every file mta apply records ({', '.join(sorted(names))})"
        )
    record.parameters = _parse_parameters(directory, document.get("parameters"), allowed_parameters)
    if document.get("pending_parameters") is not None:
        record.pending_parameters = _parse_parameters(
            directory, document["pending_parameters"], allowed_parameters
        )
    return record


def _parse_parameters(directory: Path, raw: Any, allowed: frozenset[str]) -> dict[str, Parameter]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise damaged(directory, "its parameters are not a table")
    out: dict[str, Parameter] = {}
    for name, values in raw.items():
        if not _PARAMETER.fullmatch(str(name)) or name not in allowed:
            raise damaged(directory, f"it names a parameter mta apply never sets: {name!r}")
        if not isinstance(values, dict):
            raise damaged(directory, f"the values of {name} are not a table")
        pair = []
        for key in ("before", "after"):
            value = values.get(key)
            if value is not None and (not isinstance(value, str) or "\n" in value):
                raise damaged(directory, f"the {key} value of {name} is not one line of text")
            pair.append(value)
        out[name] = Parameter(pair[0], pair[1])
    return out


def _reconcile(record: Record, config_dir: Path) -> None:
    """Settle what a killed change left: each file is in one version or the other."""
    main = record.files.get("main.cf")
    main_changed = (
        main is not None
        and main.pending is not None
        and sha256(read_current(config_dir / main.name)) == main.pending
    )
    for entry in record.files.values():
        if entry.pending is not None:
            if sha256(read_current(config_dir / entry.name)) == entry.pending:
                entry.after = entry.pending
            entry.pending = None
    if record.pending_parameters is not None:
        # The parameters went in with main.cf's one atomic rename, or not at all.
        if main_changed:
            record.parameters = record.pending_parameters
        record.pending_parameters = None


# --------------------------------------------------------------------------- writing


def _write_private(path: Path, data: bytes) -> None:
    files.atomic_write(path, data, mode=0o600, secret=True)  # copies of sasl_passwd


def store_object(record: Record, data: bytes) -> str:
    digest = sha256(data)
    assert digest is not None
    path = record.object_path(digest)
    if not path.exists():
        _write_private(path, data)
    return digest


def write_manifest(record: Record) -> None:
    data = (json.dumps(record.to_json(), indent=2) + "\n").encode()
    _write_private(record.directory / MANIFEST, data)


def create(root: Path, mta: str, originals: dict[str, tuple[bytes | None, int, int]]) -> Record:
    """A new record holding each file as it is now (data, mode, gid), put in place whole."""
    staging = Path(tempfile.mkdtemp(prefix=_NEW_RECORD_PREFIX, dir=root))
    try:
        os.chmod(staging, 0o700)
        (staging / OBJECTS).mkdir(mode=0o700)
        record = Record(staging, mta)
        for name, (data, mode, gid) in originals.items():
            digest = None if data is None else store_object(record, data)
            record.files[name] = FileEntry(name, digest, digest, mode=mode, gid=gid)
        write_manifest(record)
        os.rename(staging, root / RECORD)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    record.directory = root / RECORD
    return record


def prune(record: Record) -> None:
    """Drop the copies no longer named (an earlier apply's output)."""
    keep = {d for e in record.files.values() for d in (e.before, e.after, e.pending) if d}
    for path in (record.directory / OBJECTS).iterdir():
        if path.name not in keep:
            with contextlib.suppress(OSError):
                path.unlink()


def drop(record: Record) -> None:
    shutil.rmtree(record.directory)


def no_record(root: Path) -> MtaError:
    return MtaError(
        f"there is no backup to restore in {root}: mta apply keeps one when it writes, and "
        "mta revert uses it up",
        ExitCode.DATAERR,
    )


# --------------------------------------------------------------------------- apply and revert


Writer = Callable[[str, bytes | None], None]
"""Puts one file (by name) in place in the configuration directory; None removes it."""


def inside(config_dir: Path, name: str) -> Path:
    """``config_dir/name``, refused when a symlink there leads out of the directory."""
    path = config_dir / name
    if path.is_symlink():
        target = Path(os.path.realpath(path))
        if target.parent != Path(os.path.realpath(config_dir)):
            raise MtaError(
                f"{path} is a symlink to {target}, outside {config_dir}; mta apply and revert "
                "write only inside the configuration directory, so nothing was changed",
                ExitCode.CONFIG,
            )
    return path


def file_meta(path: Path) -> tuple[int, int]:
    """(mode, group) of an existing file; a missing one counts as private root's."""
    try:
        info = path.stat()
    except FileNotFoundError:
        return 0o600, 0
    return stat.S_IMODE(info.st_mode), info.st_gid


def apply_change(
    root: Path,
    record: Record | None,
    mta: str,
    config_dir: Path,
    names: tuple[str, ...],
    new: dict[str, bytes],
    write: Writer,
    finish: Callable[[], list[str]],
    *,
    parameters: dict[str, str | None] | None = None,
    parameters_now: dict[str, str] | None = None,
) -> Record:
    """Record, then write ``new`` (in order, each atomically), then ``finish()``.

    Call holding :func:`exclusive`. The record is made (or its pending part written)
    before any file changes, so a kill at any moment leaves files the record accounts
    for; a step that fails puts this apply's files back as they were.
    ``parameters`` are the main.cf parameters this apply sets (None: removes), with
    ``parameters_now`` their values before it.
    """
    previous = {name: read_current(inside(config_dir, name)) for name in new}
    created = record is None
    if record is None:
        record = create(
            root,
            mta,
            {
                name: (read_current(inside(config_dir, name)), *file_meta(config_dir / name))
                for name in names
            },
        )
    else:
        main = record.files.get("main.cf")
        if main is not None and "main.cf" in new and sha256(previous["main.cf"]) != main.after:
            # Edited by hand since the last apply: a byte-for-byte revert would lose that.
            main.whole = False
    for name, data in new.items():
        record.files[name].pending = store_object(record, data)
    if parameters is not None:
        merged = dict(record.parameters)
        for name, value in parameters.items():
            earlier = merged.get(name)
            before = earlier.before if earlier else (parameters_now or {}).get(name)
            merged[name] = Parameter(before, value)
        record.pending_parameters = merged
    write_manifest(record)
    try:
        for name, data in new.items():
            write(name, data)
        done = finish()
    except BaseException:
        for name, old in previous.items():
            with contextlib.suppress(Exception):
                write(name, old)
        if created:
            drop(record)
        else:
            for entry in record.files.values():
                entry.pending = None
            record.pending_parameters = None
            write_manifest(record)
        raise
    for entry in record.files.values():
        if entry.pending is not None:
            entry.after, entry.pending = entry.pending, None
    if record.pending_parameters is not None:
        record.parameters, record.pending_parameters = record.pending_parameters, None
    write_manifest(record)
    prune(record)
    record.done = done
    return record


SAME, RESTORE, CHANGED = "same", "restore", "changed"


def states(record: Record, config_dir: Path) -> dict[str, str]:
    """Per file: as before the first apply (same), as apply left it (restore), or
    changed since (changed)."""
    out = {}
    for entry in record.files.values():
        now = sha256(read_current(inside(config_dir, entry.name)))
        if now == entry.before:
            out[entry.name] = SAME
        elif now == entry.after:
            out[entry.name] = RESTORE
        else:
            out[entry.name] = CHANGED
    return out


def hand_edits(
    record: Record, config_dir: Path, name: str, mask: Callable[[str], list[str]]
) -> list[str]:
    """What changed in ``name`` since apply left it, as a diff with secrets masked."""
    entry = record.files[name]
    left = record.read_object(entry.after).decode(errors="replace") if entry.after else ""
    now_bytes = read_current(config_dir / name)
    now = "" if now_bytes is None else now_bytes.decode(errors="replace")
    return [
        untrusted_text(line.rstrip("\n"))
        for line in difflib.unified_diff(
            mask(left),
            mask(now),
            fromfile=f"{config_dir / name} (as mta apply left it)",
            tofile=f"{config_dir / name} (now)",
        )
    ]


def refuse_changed(path: Path, lines: list[str]) -> MtaError:
    return MtaError(
        f"{path} changed since mta apply wrote it (the difference is below); revert would "
        "throw that change away, so nothing was changed. Keep it and edit the file by hand, "
        "or run mta revert --force to put back the file as it was before mta apply",
        ExitCode.CONFIG,
        lines,
    )


def originals(record: Record, names: list[str]) -> dict[str, bytes | None]:
    """The files as they were before the first apply, every copy checked before use."""
    out: dict[str, bytes | None] = {}
    for name in names:
        digest = record.files[name].before
        out[name] = None if digest is None else record.read_object(digest)
    return out


def held_mode(entry: FileEntry, max_mode: int, group: int) -> tuple[int, int]:
    """The original's mode and group, within what apply itself would give the file: the
    manifest's word alone never makes a file more open or hands it to another group."""
    mode = entry.mode & max_mode
    gid = entry.gid if entry.gid in {0, group} else group
    return mode, gid
