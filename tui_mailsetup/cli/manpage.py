"""The man page, generated from the argparse parser (parser_model) so that it lists every
command and option the program has.

The generated page is shipped in the package (``tui_mailsetup/data/tui-mailsetup.1``,
installed as ``share/man/man1/tui-mailsetup.1``); ``python -m tui_mailsetup.cli.manpage``
writes it, and a test fails when it is not current.
"""

from __future__ import annotations

import sys
from pathlib import Path

from tui_mailsetup import __version__
from tui_mailsetup.cli.parser_model import Command, Option, program

PAGE = Path(__file__).resolve().parent.parent / "data" / "tui-mailsetup.1"
# The date of the page is the version's, not the day it was built: the same parser
# makes the same page, byte for byte (the test compares them).
_EXIT_CODES = (
    ("0", "success"),
    ("64", "command-line usage error"),
    ("65", "invalid input (an address, a value, a header)"),
    ("67", "recipient refused"),
    (
        "69",
        "server unavailable: the name does not resolve, connection refused; "
        "also: a Python older than 3.11",
    ),
    (
        "73",
        "a file cannot be created (read-only or unwritable directory; export over a "
        "file tui-mailsetup did not write, without --force)",
    ),
    ("74", "input/output error (disk full, a write that failed)"),
    ("75", "temporary failure: timeout, 4xx reply, rate limited, a DNS lookup that failed"),
    ("76", "protocol error: TLS negotiation failed, certificate rejected, STARTTLS missing"),
    ("77", "authentication failed"),
    ("78", "configuration error: invalid or unreadable configuration, environment variable"),
)


def _roff(text: str) -> str:
    """Text safe in a roff line: backslashes and hyphens escaped, no line starting with a
    control character."""
    text = text.replace("\\", "\\e").replace("-", "\\-")
    if text[:1] in {".", "'"}:
        text = "\\&" + text
    return text


def _option_line(option: Option) -> str:
    flags = ", ".join(f"\\fB{_roff(flag)}\\fR" for flag in option.flags)
    if option.takes_value:
        flags += f" \\fI{_roff(option.metavar or '')}\\fR"
    return flags


def _options(options: tuple[Option, ...], skip: frozenset[str] = frozenset()) -> list[str]:
    lines: list[str] = []
    for option in options:
        if set(option.flags) & skip:
            continue
        lines += [".TP", _option_line(option), _roff(option.help or "")]
        if option.choices:
            lines.append(_roff(f"One of: {', '.join(option.choices)}."))
    return lines


def render(root: Command | None = None) -> str:
    root = root or program()
    global_flags = frozenset(flag for option in root.options for flag in option.flags)
    lines = [
        f'.TH TUI\\-MAILSETUP 1 "" "tui-mailsetup {_roff(__version__)}" "User Commands"',
        ".SH NAME",
        "tui\\-mailsetup \\- " + _roff(root.help.rstrip(".").lower()),
        ".SH SYNOPSIS",
        ".B tui\\-mailsetup",
        "[\\fIGLOBAL OPTIONS\\fR] [\\fICOMMAND\\fR [\\fIOPTIONS\\fR] [\\fIARGUMENTS\\fR]]",
        ".SH DESCRIPTION",
        _roff(
            "Configures, tests and explains a server's outbound mail: a keyboard-only "
            "terminal program (run without a command), and the same engine as commands "
            "for scripts, with --json output and sysexits exit codes."
        ),
        ".SH GLOBAL OPTIONS",
        _roff("Accepted before or after the command."),
        *_options(root.options),
        ".SH COMMANDS",
    ]
    for command in root.walk()[1:]:
        positionals = " ".join(f"\\fI{_roff(p.metavar or '')}\\fR" for p in command.positionals)
        lines += [
            ".SS "
            + _roff(f"tui-mailsetup {command.name}")
            + (f" {positionals}" if positionals else "")
        ]
        lines.append(_roff(command.description or command.help or ""))
        for positional in command.positionals:
            if positional.help or positional.choices:
                lines += [".TP", f"\\fI{_roff(positional.metavar or '')}\\fR"]
                text = positional.help or ""
                if positional.choices:
                    text += f" One of: {', '.join(positional.choices)}."
                lines.append(_roff(text.strip()))
        lines += _options(command.options, global_flags | {"-h", "--help"})
    lines += [".SH EXIT STATUS", _roff("As sysexits(3), as sendmail and msmtp use them:")]
    for code, meaning in _EXIT_CODES:
        lines += [".TP", f"\\fB{code}\\fR", _roff(meaning)]
    lines += [
        ".SH ENVIRONMENT",
        ".TP",
        "\\fBMAILSETUP_CONFIG\\fR",
        _roff("The configuration file, as --config."),
        ".TP",
        "\\fBMAILSETUP_\\fISECTION\\fB__\\fIKEY\\fR",
        _roff(
            "Any setting, e.g. MAILSETUP_SMTP__HOST, MAILSETUP_SMTP__PASSWORD; a list "
            'comma-separated (a,b) or as JSON (["a", "b"]).'
        ),
        ".TP",
        "\\fBNO_COLOR\\fR",
        _roff("No colour in the output."),
        ".SH FILES",
        ".TP",
        "\\fI~/.config/tui\\-mailsetup/config.toml\\fR",
        _roff("The configuration (the system-wide one with --system)."),
        ".TP",
        "\\fI~/.config/tui\\-mailsetup/credentials.toml\\fR",
        _roff("Secrets, mode 0600, beside the configuration."),
        ".SH SEE ALSO",
        "\\fBmsmtp\\fR(1), \\fBpostconf\\fR(5), \\fBsysexits\\fR(3)",
        "",
    ]
    return "\n".join(lines)


def main() -> int:
    """Write the page shipped in the package (``--check``: exit 1 when it is not current)."""
    text = render()
    if "--check" in sys.argv[1:]:
        current = PAGE.read_text(encoding="utf-8") if PAGE.exists() else ""
        if current != text:
            print(
                f"{PAGE} is not current: run python -m tui_mailsetup.cli.manpage", file=sys.stderr
            )
            return 1
        return 0
    PAGE.write_text(text, encoding="utf-8")
    print(f"wrote {PAGE}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
