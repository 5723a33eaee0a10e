"""The command line as data, read from the argparse parser itself: what the shell
completion scripts and the man page are generated from, so neither can drift from the
commands (one home: cli.build_parser)."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Option:
    flags: tuple[str, ...]
    help: str
    metavar: str | None
    """None: a flag that takes no value."""
    choices: tuple[str, ...] = ()

    @property
    def takes_value(self) -> bool:
        return self.metavar is not None


@dataclass(frozen=True)
class Command:
    name: str
    """The words after the program's name ("" for the program, "mta apply")."""
    help: str
    description: str
    options: tuple[Option, ...]
    positionals: tuple[Option, ...]
    subcommands: tuple[Command, ...] = field(default=())

    @property
    def words(self) -> tuple[str, ...]:
        return tuple(self.name.split())

    def walk(self) -> list[Command]:
        """This command and every one under it, in the parser's order."""
        found = [self]
        for sub in self.subcommands:
            found += sub.walk()
        return found


def _text(value: object) -> str:
    if value is None or value == argparse.SUPPRESS:
        return ""
    return " ".join(str(value).split())


def _choices(action: argparse.Action) -> tuple[str, ...]:
    choices = action.choices
    if choices is None or isinstance(choices, dict):
        return ()
    try:
        return tuple(str(choice) for choice in choices)
    except Exception:  # lazily computed choices that cannot be listed here
        return ()


def read_parser(parser: argparse.ArgumentParser, name: str = "", help: str = "") -> Command:
    options: list[Option] = []
    positionals: list[Option] = []
    subcommands: list[Command] = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: _text(a.help) for a in action._choices_actions}
            for sub_name, sub in action.choices.items():
                if sub_name not in helps:
                    continue  # an alias, or hidden
                words = f"{name} {sub_name}".strip()
                subcommands.append(read_parser(sub, words, helps[sub_name]))
        elif isinstance(action, argparse._HelpAction | argparse._VersionAction):
            options.append(Option(tuple(action.option_strings), _text(action.help), None))
        elif action.option_strings:
            takes_value = action.nargs != 0
            metavar = str(action.metavar or action.dest.upper()).strip() if takes_value else None
            options.append(
                Option(
                    tuple(action.option_strings),
                    _text(action.help),
                    metavar,
                    _choices(action),
                )
            )
        elif action.help != argparse.SUPPRESS:
            positionals.append(
                Option(
                    (),
                    _text(action.help),
                    str(action.metavar or action.dest).strip(),
                    _choices(action),
                )
            )
    return Command(
        name,
        help,
        _text(parser.description),
        tuple(options),
        tuple(positionals),
        tuple(subcommands),
    )


def program() -> Command:
    """The whole command line, every command's module loaded."""
    from tui_mailsetup.cli import build_parser

    parser = build_parser()
    return read_parser(parser, "", _text(parser.description))
