"""The spool of ``tui-mailsetup sendmail``: messages a temporary failure held back.

Layout (``paths.spool_dir()``, a 0700 directory owned by the caller, refused otherwise)::

    tmp/ID/        an entry being written (message, envelope.json), never read
    queue/ID/      entries waiting for a retry
    active/ID/     the entry one retry has claimed and is sending
    failed/ID/     entries the relay refused for good on a retry (kept, never retried)
    .retry.lock    held (flock) by the one retry that runs

An entry is a directory holding ``message`` (the bytes sent, 0600) and
``envelope.json`` (sender, recipients, attempts, the last diagnosed reason, 0600). It is
written whole in ``tmp/`` (each file written atomically, fsynced) and enters ``queue/``
by one rename: a crash leaves it complete or invisible (a ``tmp/`` leftover is removed
after a day; its writer never reported success).

A retry holds the lock (so two retries never send one message twice), first moves back
to ``queue/`` whatever a killed retry left in ``active/``, then claims each entry by
renaming it to ``active/``, sends it once and removes it only after the relay accepted
it; a temporary failure records the new reason and puts it back. A SIGKILL at any point
leaves the entry in ``queue/`` or ``active/``, so nothing is lost. Delivery is
at least once, not exactly once: a kill in the moment between the relay's acceptance
and the removal (a few milliseconds) sends it again on the next retry, with the same
Message-ID (receivers commonly drop such duplicates). No protocol offers more: the relay's
acceptance and our removal cannot be one atomic step.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import secrets
import shutil
import stat
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tui_mailsetup import files, paths
from tui_mailsetup.errors import ConfigurationError, file_error

MESSAGE = "message"
ENVELOPE = "envelope.json"
STALE_TMP = 86400.0
"""Seconds after which an unfinished entry in tmp/ is removed (its writer is long gone)."""


class SpoolBusy(Exception):
    """Another retry holds the lock."""


@dataclass
class Envelope:
    sender: str
    """The envelope sender (-f), "" for the configured sender.address."""
    recipients: list[str]
    created: float = field(default_factory=time.time)
    attempts: int = 1
    last_attempt: float = field(default_factory=time.time)
    reason: str = ""
    """The last diagnosed cause."""
    stage: str = ""
    exit_code: int = 75
    retry_after: float | None = None
    sender_name: str = ""
    """-F, for the record (the message already carries its From)."""

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1)

    @classmethod
    def from_json(cls, text: str) -> Envelope:
        data: Any = json.loads(text)
        if not isinstance(data, dict) or not isinstance(data.get("recipients"), list):
            raise ValueError("not an envelope")
        known = {name: data[name] for name in cls.__dataclass_fields__ if name in data}
        # A hand-edited envelope is checked here, once: a wrong type is "unreadable",
        # never a crash in whatever reads the field later (a listing, a retry).
        for name, value in known.items():
            kinds = _FIELD_TYPES[name]
            if isinstance(value, bool) or not isinstance(value, kinds):
                raise ValueError(f"{name} is {value!r}, not {_KIND_NAMES[kinds]}")
        if not all(isinstance(r, str) for r in known["recipients"]):
            raise ValueError("recipients must be addresses (strings)")
        return cls(**known)


_NUMBER = (int, float)
_FIELD_TYPES: dict[str, tuple[type, ...]] = {
    "sender": (str,),
    "recipients": (list,),
    "created": _NUMBER,
    "attempts": (int,),
    "last_attempt": _NUMBER,
    "reason": (str,),
    "stage": (str,),
    "exit_code": (int,),
    "retry_after": (int, float, type(None)),
    "sender_name": (str,),
}
_KIND_NAMES = {
    (str,): "a string",
    (list,): "a list",
    _NUMBER: "a number",
    (int,): "an integer",
    (int, float, type(None)): "a number or null",
}


@dataclass(frozen=True)
class Entry:
    id: str
    directory: Path
    envelope: Envelope

    def message(self) -> bytes:
        return (self.directory / MESSAGE).read_bytes()

    def to_json(self, now: float) -> dict[str, Any]:
        return {
            "id": self.id,
            "sender": self.envelope.sender,
            "recipients": self.envelope.recipients,
            "age": round(now - self.envelope.created, 1),
            "attempts": self.envelope.attempts,
            "reason": self.envelope.reason,
            "stage": self.envelope.stage,
            "exit_code": self.envelope.exit_code,
            "retry_after": self.envelope.retry_after,
            "size": _size(self.directory / MESSAGE),
        }


def _size(path: Path) -> int | None:
    try:
        return path.stat().st_size
    except OSError:
        return None


class Spool:
    def __init__(self, root: Path | None = None) -> None:
        self.root = root if root is not None else paths.spool_dir()

    # -------------------------------------------------------------- safety

    def _checked(self, *, create: bool) -> bool:
        """Whether the spool exists (created when asked), refused when another user could
        read or plant messages in it."""
        if create:
            files.ensure_dir(self.root, private=True)
        try:
            info = self.root.lstat()
        except FileNotFoundError:
            return False
        except OSError as exc:
            raise file_error(exc, self.root, "read") from exc
        if stat.S_ISLNK(info.st_mode) or not stat.S_ISDIR(info.st_mode):
            raise ConfigurationError(f"the spool {self.root} is not a directory (a symlink?)")
        if info.st_uid != os.geteuid():
            raise ConfigurationError(
                f"the spool {self.root} belongs to another user (uid {info.st_uid}); "
                "messages are never kept where someone else can read or plant them"
            )
        files.check_private_dir(self.root)
        if create:
            for name in ("tmp", "queue", "active", "failed"):
                files.ensure_dir(self.root / name, private=True)
        return True

    # -------------------------------------------------------------- writing

    def add(self, message: bytes, envelope: Envelope) -> str:
        """Keep ``message`` with ``envelope``; its ID. Raises MailSetupError (73, 74, 78)."""
        self._checked(create=True)
        entry_id = f"{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}-{secrets.token_hex(6)}"
        building = self.root / "tmp" / entry_id
        try:
            building.mkdir(mode=0o700)
        except OSError as exc:
            raise file_error(exc, building, "create the directory") from exc
        try:
            files.atomic_write(building / MESSAGE, message, mode=0o600)
            files.atomic_write(building / ENVELOPE, envelope.to_json().encode(), mode=0o600)
            os.rename(building, self.root / "queue" / entry_id)
            files.fsync_dir(self.root / "queue")
        except BaseException as exc:
            shutil.rmtree(building, ignore_errors=True)
            if isinstance(exc, OSError):
                raise file_error(exc, self.root / "queue" / entry_id) from exc
            raise
        return entry_id

    # -------------------------------------------------------------- reading

    def entries(self, where: str = "queue") -> list[Entry]:
        """The entries (oldest first); an unreadable one is listed with that as its reason."""
        if not self._checked(create=False):
            return []
        directory = self.root / where
        found: list[Entry] = []
        try:
            names = sorted(os.listdir(directory))
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise file_error(exc, directory, "read") from exc
        for name in names:
            path = directory / name
            try:
                envelope = Envelope.from_json((path / ENVELOPE).read_text())
            except OSError as exc:
                envelope = Envelope("", [], reason=f"unreadable envelope: {exc}", exit_code=74)
            except (ValueError, TypeError) as exc:  # damaged (edited by hand): 65
                envelope = Envelope("", [], reason=f"damaged envelope: {exc}", exit_code=65)
            found.append(Entry(name, path, envelope))
        found.sort(key=lambda entry: (entry.envelope.created, entry.id))
        return found

    def remove(self, entry_id: str) -> bool:
        """Delete a queued or failed entry (``mta queue --delete``); False when there is none."""
        if "/" in entry_id or entry_id in ("", ".", "..") or not self._checked(create=False):
            return False
        for where in ("queue", "failed"):
            path = self.root / where / entry_id
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
                return True
        return False

    # -------------------------------------------------------------- retrying

    @contextlib.contextmanager
    def retrying(self) -> Iterator[None]:
        """Held while a retry runs; SpoolBusy when another one holds it. Entries a killed
        retry left claimed go back to the queue first."""
        self._checked(create=True)
        try:
            fd = os.open(self.root / ".retry.lock", os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
        except OSError as exc:
            raise file_error(exc, self.root / ".retry.lock", "create") from exc
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise SpoolBusy(str(self.root)) from None
            self._recover()
            yield
        finally:
            os.close(fd)

    def _recover(self) -> None:
        try:
            claimed = os.listdir(self.root / "active")
        except OSError as exc:
            raise file_error(exc, self.root / "active", "read") from exc
        for name in claimed:
            self._move(self.root / "active" / name, "queue", name)
        now = time.time()
        for name in os.listdir(self.root / "tmp"):
            path = self.root / "tmp" / name
            with contextlib.suppress(OSError):
                if now - path.lstat().st_mtime > STALE_TMP:
                    shutil.rmtree(path, ignore_errors=True)

    def claim(self, entry: Entry) -> Entry | None:
        """Move ``entry`` to active/ (None when it is gone: deleted meanwhile)."""
        target = self.root / "active" / entry.id
        try:
            os.rename(entry.directory, target)
        except FileNotFoundError:
            return None
        files.fsync_dir(self.root / "active")
        return Entry(entry.id, target, entry.envelope)

    def done(self, entry: Entry) -> None:
        """The relay accepted it: gone for good."""
        shutil.rmtree(entry.directory, ignore_errors=True)
        files.fsync_dir(self.root / "active")

    def release(self, entry: Entry, envelope: Envelope, *, failed: bool = False) -> None:
        """Not sent: the new reason recorded, back in the queue (in failed/ when the relay
        refused it for good: kept for a person to read, never retried)."""
        where = "failed" if failed else "queue"
        try:
            files.atomic_write(entry.directory / ENVELOPE, envelope.to_json().encode(), mode=0o600)
        except OSError as exc:
            raise file_error(exc, entry.directory / ENVELOPE) from exc
        self._move(entry.directory, where, entry.id)

    def _move(self, path: Path, where: str, name: str) -> None:
        """``path`` into ``where``/``name``; when that name is taken (a copy put back by
        hand), beside it under a new name, so that neither is lost."""
        target = self.root / where / name
        try:
            try:
                os.rename(path, target)
            except OSError as exc:
                if exc.errno not in (errno.EEXIST, errno.ENOTEMPTY, errno.EISDIR):
                    raise
                target = self.root / where / f"{name}-{secrets.token_hex(3)}"
                os.rename(path, target)
            files.fsync_dir(self.root / where)
        except OSError as exc:
            raise file_error(exc, target, "move the spool entry into") from exc
