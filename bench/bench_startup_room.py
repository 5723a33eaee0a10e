"""What each start-up trick of ``tui_mailsetup/startup/`` saves, measured: with it and without.

Every row runs the same command twice per pair, in fresh processes, order alternating:
once as the program runs (the trick on) and once with the trick undone from outside by a
prelude the child runs first (the trick off): ``import asyncio`` before anything (the
settings' asyncio stand-in then steps aside), every command module imported (as if the
parser registered them all), the settings model imported (as a help reading the model's
keys would), the diagnosis rules imported, or ``SystemExit(main())`` instead of ``run()``
(the interpreter's ordinary shutdown instead of ``os._exit``). The ratio is the median of
the per-pair ratios ``off / on``; "saves" is the difference of the medians. Nothing in the
product is switched: the prelude only does what the trick avoids.

With ``--against DIR`` it also pairs each command of this checkout with the same command
run from another checkout (``PYTHONPATH=DIR``; e.g. ``git worktree add /tmp/base main``):
before/after in one run.

    python bench/bench_startup_room.py [--runs 9] [--against DIR]

Children run with the PYTHONPATH of this process (prepended with DIR for the other side).
Only local files are read; nothing is contacted.
"""

from __future__ import annotations

import argparse
import functools
import os
import statistics
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_send import child_env, timed, write_config
from bench_startup import paired, ratio

CHILD = """
import sys
{prelude}
sys.argv[0] = "tui-mailsetup"
from tui_mailsetup.cli import main, run
{ending}
"""
RUN = "run()"
ORDINARY_EXIT = "raise SystemExit(main())"

ALL_COMMAND_MODULES = (
    "import importlib\n"
    "from tui_mailsetup.cli import COMMAND_MODULES\n"
    "for name in set(COMMAND_MODULES.values()):\n"
    "    importlib.import_module('tui_mailsetup.cli.' + name)"
)

Trick = tuple[str, list[str], str, str]
"""what, the command, the prelude that undoes the trick, how the child ends without it"""

TRICKS: list[Trick] = [
    ("asyncio stand-in (settings.py)", ["show"], "import asyncio", RUN),
    ("asyncio stand-in (settings.py)", ["check", "--offline"], "import asyncio", RUN),
    ("os._exit after the command", ["show"], "", ORDINARY_EXIT),
    ("os._exit after the command", ["check", "--offline"], "", ORDINARY_EXIT),
    ("os._exit after the command", ["set", "smtp.port", "587"], "", ORDINARY_EXIT),
    ("only the command's module", ["show"], ALL_COMMAND_MODULES, RUN),
    ("keys/docs read from the source", ["set", "--help"], "import tui_mailsetup.settings", RUN),
    (
        "check's stages asked late",
        ["show"],
        "import tui_mailsetup.engine.events",
        RUN,
    ),
    (
        "diagnosis rules at the first failure",
        ["check", "--offline"],
        "import tui_mailsetup.engine.smtp.conversation, tui_mailsetup.engine.diagnosis",
        RUN,
    ),
]
"""The last row's pair differs from the others: both sides import the SMTP ladder (what a
send-test runs), and "off" imports the rules too; check --offline itself imports neither."""

COMMANDS = [["--help"], ["set", "--help"], ["show"], ["check", "--offline"]]


def child(prelude: str, ending: str, argv: list[str], env: dict[str, str]) -> float:
    code = CHILD.format(prelude=prelude, ending=ending)
    return timed([sys.executable, "-c", code, *argv], env)[0]


def undo_diagnosis(trick: Trick) -> str:
    """What the "on" side imports for the diagnosis row (the ladder without its rules)."""
    return "import tui_mailsetup.engine.smtp.conversation" if "diagnosis" in trick[0] else ""


def bench_tricks(runs: int, config: Path, env: dict[str, str]) -> list[str]:
    lines = [
        f"| {'trick':<38} | {'command':<22} | on (s) | off (s) | off/on | saves  |",
        f"| {'-' * 38} | {'-' * 22} | ------ | ------- | ------ | ------ |",
    ]
    for trick in TRICKS:
        what, command, prelude, ending = trick
        argv = ["--config", str(config), *command]
        on_side = functools.partial(child, undo_diagnosis(trick), RUN, argv, env)
        off_side = functools.partial(child, prelude, ending, argv, env)
        on, off = paired(on_side, off_side, runs)
        saved = statistics.median(off) - statistics.median(on)
        lines.append(
            f"| {what:<38} | {' '.join(command):<22} | {statistics.median(on):6.3f} | "
            f"{statistics.median(off):7.3f} | {ratio(off, on):6.2f} | {saved * 1000:4.0f} ms |"
        )
    return lines


def bench_against(runs: int, config: Path, env: dict[str, str], other: Path) -> list[str]:
    theirs = dict(env, PYTHONPATH=os.pathsep.join([str(other), env.get("PYTHONPATH", "")]))
    bare: Callable[[], tuple[float, int]] = functools.partial(
        timed, [sys.executable, "-c", "pass"], env
    )
    lines = [
        f"| {'command':<22} | this (s) | {other.name[:12]:>12} (s) | this/that | this/python |",
        f"| {'-' * 22} | -------- | {'-' * 16} | --------- | ----------- |",
    ]
    for command in COMMANDS:
        argv = ["--config", str(config), *command]
        mine, before = paired(
            functools.partial(child, "", RUN, argv, env),
            functools.partial(child, "", RUN, argv, theirs),
            runs,
        )
        mine2, python = paired(
            functools.partial(child, "", RUN, argv, env), lambda: bare()[0], runs
        )
        lines.append(
            f"| {' '.join(command):<22} | {statistics.median(mine):8.3f} | "
            f"{statistics.median(before):16.3f} | {ratio(mine, before):9.2f} | "
            f"{ratio(mine2, python):11.2f} |"
        )
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--against", type=Path, help="another checkout to pair every command with")
    parser.add_argument("--skip-tricks", action="store_true", help="only the --against table")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-room-") as directory:
        workdir = Path(directory)
        os.chmod(workdir, 0o700)
        config = write_config(workdir, {"host": "smtp.example.com", "port": 587})
        env = child_env(workdir)
        print(f"medians of {args.runs} paired runs, order alternating; ratio = median of pairs")
        if not args.skip_tricks:
            print("\n".join(bench_tricks(args.runs, config, env)))
        if args.against is not None:
            print("\n".join(bench_against(args.runs, config, env, args.against.resolve())))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
