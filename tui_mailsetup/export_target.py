"""Where ``export -o`` may write: never over a file this program did not write.

An existing file is replaced only when it is one of this program's own exports
(its marker line, or for JSON its shape); any other file is refused (73) unless
the caller passes ``force``, and then the old file is kept as ``<name>.bak``.

msmtp's file is shared by nature (``~/.msmtprc`` holds every account), so an
msmtp export into an existing file adds or replaces only its own named account,
between two marker comments, and leaves every other byte as it was: other
accounts, ``defaults``, comments, and the default account unless there is none.
"""

from __future__ import annotations

import json
import re
import stat
from dataclasses import dataclass
from pathlib import Path

from tui_mailsetup.errors import CantCreateError, UsageError

MARKER = "written by tui-mailsetup"
"""In the first comment lines of every export that has comments (export._header)."""
_HEAD_LINES = 5
DEFAULT_ACCOUNT = "tui-mailsetup"
_ACCOUNT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@+-]{0,63}")
_JSON_SECTIONS = frozenset({"driver", "smtp", "sender"})


def check_account_name(name: str) -> str:
    """An msmtp account name that its parser reads back as one word (64 otherwise)."""
    if not _ACCOUNT_NAME.fullmatch(name) or name == "default":
        raise UsageError(
            f"--account {name!r} cannot name an msmtp account: use letters, digits and . _ @ + -"
            ' (at most 64, not "default")'
        )
    return name


def written_by_us(fmt: str, text: str) -> bool:
    """Whether ``text`` is one of this program's exports (so replacing it loses nothing of
    anyone else's). An empty file counts: there is nothing in it to lose."""
    if not text.strip():
        return True
    if fmt == "json":
        try:
            document = json.loads(text)
        except ValueError:
            return False
        return isinstance(document, dict) and document.keys() >= _JSON_SECTIONS
    return any(MARKER in line for line in text.splitlines()[:_HEAD_LINES])


@dataclass(frozen=True)
class WritePlan:
    text: str
    """What the file will hold."""
    mode: int
    backup: bool
    """Keep the old file as <name>.bak first."""
    merged: bool
    """msmtp: only this program's account was added or replaced in a larger file."""


def plan_write(
    path: Path, fmt: str, rendered: str, *, mode: int, force: bool, account: str
) -> WritePlan:
    """What writing ``rendered`` to ``path`` means, or CantCreateError (73) when it would
    replace someone else's file without ``force``."""
    try:
        info = path.stat()
        existing = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return WritePlan(rendered, mode, backup=False, merged=False)
    except (OSError, UnicodeDecodeError) as exc:
        if not force:
            raise CantCreateError(
                f"{path} exists and cannot be read as text ({exc}); it was left as it is "
                "(--force replaces it, keeping a copy as .bak)",
                path=path,
            ) from exc
        return WritePlan(rendered, mode, backup=True, merged=False)
    # A file that may hold a secret stays as private as it was.
    mode &= stat.S_IMODE(info.st_mode) | 0o600
    if fmt == "msmtp" and existing.strip() and not _only_our_account(existing, account):
        merged, replaced_unmarked = merge_msmtp(existing, rendered, account)
        # An unmarked account of that name is this program's own when the file is one of
        # its whole-file exports (accounts added below it by hand are kept, as any other).
        replaced_foreign = replaced_unmarked and not written_by_us("msmtp", existing)
        if replaced_foreign and not force:
            raise CantCreateError(
                f"{path} already has an msmtp account named {account!r} that tui-mailsetup did "
                f"not write; it was left as it is (--account NAME adds this one under another "
                "name; --force replaces that account, keeping a copy of the file as .bak)",
                path=path,
            )
        return WritePlan(merged, mode, backup=replaced_foreign, merged=True)
    if written_by_us(fmt, existing):
        return WritePlan(rendered, mode, backup=False, merged=False)
    if not force:
        raise CantCreateError(
            f"{path} exists and was not written by tui-mailsetup; it was left as it is "
            "(--force replaces it, keeping a copy as .bak)",
            path=path,
        )
    return WritePlan(rendered, mode, backup=True, merged=False)


# --------------------------------------------------------------------------- msmtp


def _begin(account: str) -> str:
    return f"# BEGIN tui-mailsetup account {account}"


def _end(account: str) -> str:
    return f"# END tui-mailsetup account {account}"


def _only_our_account(text: str, account: str) -> bool:
    """A whole file this program wrote for ``account`` alone (replacing it loses nothing)."""
    if not written_by_us("msmtp", text) or _begin(account) in text:
        return False
    names = {_account_name(line) for line in text.splitlines()} - {None}
    return names <= {account, "default"}


def _account_name(line: str) -> str | None:
    words = line.strip().split(None, 1)
    if len(words) == 2 and words[0] == "account":
        return words[1].split(":", 1)[0].strip()
    return None


def _block(rendered: str, account: str, *, with_default: bool) -> list[str]:
    """The rendered account between its markers, the header's provenance kept, without the
    "account default" line unless the file has no default account of its own."""
    lines = [_begin(account)]
    for line in rendered.splitlines():
        if line.startswith("# Use it with:"):
            continue
        if _account_name(line) == "default":
            if with_default:
                lines.append(line)
            continue
        if line.strip() or (lines and lines[-1].strip()):
            lines.append(line)
    while lines and not lines[-1].strip():
        lines.pop()
    lines.append(_end(account))
    return lines


def merge_msmtp(existing: str, rendered: str, account: str) -> tuple[str, bool]:
    """``existing`` with ``account`` added or replaced by ``rendered``'s account; every
    other line byte for byte. Also whether an account of that name that this program did
    not write (no markers) was replaced."""
    lines = existing.splitlines(keepends=True)
    begin = next((i for i, line in enumerate(lines) if line.rstrip("\r\n") == _begin(account)), -1)
    end = next(
        (i for i, line in enumerate(lines) if i > begin and line.rstrip("\r\n") == _end(account)),
        -1,
    )
    replaced_foreign = False
    if begin >= 0 and end > begin:
        before, after = lines[:begin], lines[end + 1 :]
    else:
        start = next((i for i, line in enumerate(lines) if _account_name(line) == account), -1)
        if start >= 0:
            replaced_foreign = True
            stop = next(
                (
                    i
                    for i in range(start + 1, len(lines))
                    if _account_name(lines[i]) is not None
                    or lines[i].split(None, 1)[:1] == ["defaults"]
                ),
                len(lines),
            )
            before, after = lines[:start], lines[stop:]
        else:
            before, after = lines, []
    rest = "".join(before + after)
    has_default = any(_account_name(line) == "default" for line in rest.splitlines())
    block = "\n".join(_block(rendered, account, with_default=not has_default)) + "\n"
    if before and not before[-1].endswith("\n"):
        before[-1] += "\n"
    if before and not after and before[-1].strip():
        block = "\n" + block  # a blank line between the last account and this one
    return "".join(before) + block + "".join(after), replaced_foreign
