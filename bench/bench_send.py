"""Benchmark (not a test): the headless send-test path against a bare aiosmtplib script.

1. Whole-process ``tui-mailsetup send-test`` against a local sandbox (STARTTLS +
   AUTH) versus a bare aiosmtplib script doing the same send, in paired runs
   (order alternating); prints the median ratio. Goal: 1.5 or less.
   Then what the interpreter's exit costs that send-test (paired against the
   same run with ``gc.freeze()`` before exit: a proposal, see bench_exit).
2. Time to diagnose each port/encryption mismatch with a 30 s timeout
   (STARTTLS configured against an implicit-TLS port, and the reverse).
   Goal: 2 s or less.

Run: python bench/bench_send.py [--runs N]
Only 127.0.0.1 is contacted.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tui_mailsetup.sandbox import Sandbox  # noqa: E402

BARE_SCRIPT = textwrap.dedent(
    """
    import asyncio, ssl, sys
    from email.message import EmailMessage
    import aiosmtplib

    host, port, user, password, ca = sys.argv[1:6]
    message = EmailMessage()
    message["From"] = "bench@example.test"
    message["To"] = "bench@example.test"
    message["Subject"] = "Test email from bench"
    message.set_content("benchmark")
    context = ssl.create_default_context(cafile=ca)
    asyncio.run(aiosmtplib.send(
        message, hostname=host, port=int(port), username=user, password=password,
        start_tls=True, tls_context=context, timeout=30,
    ))
    """
)


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(value)


def child_env(workdir: Path, **extra: str) -> dict[str, str]:
    """The environment for measured processes.

    Installed packages run from compiled bytecode; a source checkout with
    PYTHONDONTWRITEBYTECODE would recompile every module on every run and
    measure the compiler instead. Bytecode goes to a private cache directory,
    so the working tree stays clean.
    """
    env = dict(os.environ, HOME=str(workdir), NO_COLOR="1", **extra)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(workdir / "pycache")
    return env


def write_config(directory: Path, smtp: dict[str, Any]) -> Path:
    config = directory / "config.toml"
    lines = ["[smtp]", *(f"{k} = {_toml(v)}" for k, v in smtp.items())]
    lines += ["[sender]", 'name = "bench"', 'address = "bench@example.com"']
    config.write_text("\n".join(lines) + "\n")
    return config


def timed(argv: list[str], env: dict[str, str]) -> tuple[float, int]:
    start = time.perf_counter()
    result = subprocess.run(
        argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=120
    )
    elapsed = time.perf_counter() - start
    if result.returncode not in (0, 76):
        sys.stderr.write(result.stderr.decode(errors="replace"))
    return elapsed, result.returncode


def paired_send(runs: int, workdir: Path) -> tuple[list[float], list[float], int]:
    """``send-test`` and the bare aiosmtplib script, whole processes, in alternating order.

    Returns the times of each (seconds) and how many messages the sandbox received.
    """
    with Sandbox(mode="starttls", password="bench-password") as box:
        assert box.ca_path is not None
        config = write_config(workdir, {**box.smtp_settings(), "timeout": 30})
        env = child_env(workdir, MAILSETUP_SMTP__PASSWORD=box.password)
        bare_path = workdir / "bare.py"
        bare_path.write_text(BARE_SCRIPT)
        ours = [sys.executable, "-m", "tui_mailsetup", "--config", str(config), "send-test"]
        bare = [
            sys.executable,
            str(bare_path),
            box.host,
            str(box.port),
            box.username,
            box.password,
            str(box.ca_path),
        ]
        # Warm the file system cache and the .pyc files first.
        timed(ours, env)
        timed(bare, env)
        our_times: list[float] = []
        bare_times: list[float] = []
        for index in range(runs):
            if index % 2:
                b, _ = timed(bare, env)
                o, code = timed(ours, env)
            else:
                o, code = timed(ours, env)
                b, _ = timed(bare, env)
            if code != 0:
                raise SystemExit(f"send-test failed with exit code {code}")
            our_times.append(o)
            bare_times.append(b)
        return our_times, bare_times, len(box.messages)


def bench_send(runs: int, workdir: Path) -> None:
    our_times, bare_times, received = paired_send(runs, workdir)
    ratios = [o / b for o, b in zip(our_times, bare_times, strict=True)]
    env = child_env(workdir)
    print(f"send-test, whole process ({runs} paired runs, STARTTLS + AUTH, local sandbox)")
    print(f"  tui-mailsetup send-test  median {statistics.median(our_times) * 1000:7.1f} ms")
    print(f"  bare aiosmtplib script   median {statistics.median(bare_times) * 1000:7.1f} ms")
    verdict = "ok" if statistics.median(ratios) <= 1.5 else "OVER GOAL"
    print(f"  median ratio {statistics.median(ratios):.2f} (goal <= 1.5: {verdict})")
    print(f"  messages received by the sandbox: {received}")
    # Where the time goes: what any process that loads the settings model pays.
    floor = {
        "python -c pass": [sys.executable, "-c", "pass"],
        "import aiosmtplib": [sys.executable, "-c", "import aiosmtplib"],
        "import pydantic, pydantic_settings (the stack's floor)": [
            sys.executable,
            "-c",
            "import pydantic, pydantic_settings",
        ],
        "import tui_mailsetup.settings (pydantic + the model)": [
            sys.executable,
            "-c",
            "import tui_mailsetup.settings",
        ],
        "build the send-test parser (what main() does)": [
            sys.executable,
            "-c",
            "import tui_mailsetup.cli as c; c.build_parser('send-test')",
        ],
    }
    print("  breakdown (median of 5 processes each):")
    for label, argv in floor.items():
        timed(argv, env)
        median = statistics.median(timed(argv, env)[0] for _ in range(5))
        print(f"    {label:<55} {median * 1000:7.1f} ms")


FREEZE_THEN_EXIT = (
    "import gc, sys\n"
    "from tui_mailsetup.cli import main\n"
    "code = main(sys.argv[1:])\n"
    "gc.freeze()\n"
    "sys.exit(code)\n"
)
"""``send-test`` as ``main()`` runs it, then ``gc.freeze()`` before the interpreter exits."""


def bench_exit(runs: int, workdir: Path) -> None:
    """What the interpreter's exit costs a send-test, measured against the same run frozen.

    At exit CPython clears every module and collects the cycles between them;
    with pydantic, pydantic-core's schemas and the engine loaded that is tens of
    milliseconds a short command spends after its output is written. Objects
    moved to the permanent generation by ``gc.freeze()`` are skipped. This
    prints what that would save (a proposal for ``cli.main()``, not applied).
    """
    with Sandbox(mode="starttls", password="bench-password") as box:
        config = write_config(workdir, {**box.smtp_settings(), "timeout": 30})
        env = child_env(workdir, MAILSETUP_SMTP__PASSWORD=box.password)
        args = ["--config", str(config), "send-test"]
        plain = [sys.executable, "-m", "tui_mailsetup", *args]
        frozen = [sys.executable, "-c", FREEZE_THEN_EXIT, *args]
        timed(plain, env)
        timed(frozen, env)
        plain_times: list[float] = []
        frozen_times: list[float] = []
        for index in range(runs):
            pair = [(plain, plain_times), (frozen, frozen_times)]
            for argv, times in pair if index % 2 else reversed(pair):
                elapsed, code = timed(argv, env)
                if code != 0:
                    raise SystemExit(f"send-test failed with exit code {code}")
                times.append(elapsed)
    saved = [p - f for p, f in zip(plain_times, frozen_times, strict=True)]
    print(f"interpreter exit ({runs} paired runs of send-test)")
    print(
        f"  send-test                            median {statistics.median(plain_times) * 1000:7.1f} ms"
    )
    print(
        f"  send-test, gc.freeze() before exit   median {statistics.median(frozen_times) * 1000:7.1f} ms"
    )
    print(f"  paired median saving {statistics.median(saved) * 1000:.1f} ms")


def bench_mismatch(workdir: Path) -> None:
    print("time to diagnose a port/encryption mismatch (timeout = 30 s)")
    cases = [
        ("tls", "starttls", "STARTTLS configured, port speaks implicit TLS"),
        ("starttls", "tls", "implicit TLS configured, port speaks plain SMTP"),
        ("tls", "none", "no encryption configured, port speaks implicit TLS"),
    ]
    for server_mode, configured, label in cases:
        with Sandbox(mode=server_mode, auth=False) as box:  # type: ignore[arg-type]
            smtp = {**box.smtp_settings(), "encryption": configured, "timeout": 30}
            config = write_config(workdir, smtp)
            argv = [
                sys.executable,
                "-m",
                "tui_mailsetup",
                "--config",
                str(config),
                "send-test",
                "--json",
            ]
            env = child_env(workdir)
            start = time.perf_counter()
            result = subprocess.run(argv, env=env, capture_output=True, timeout=120)
            elapsed = time.perf_counter() - start
            try:
                cause = json.loads(result.stdout)["diagnosis"]["cause"]
            except (ValueError, KeyError, TypeError):
                cause = result.stdout.decode(errors="replace")[:200]
            verdict = "ok" if elapsed <= 2.0 else "OVER GOAL"
            print(f"  {label}: {elapsed:5.2f} s, exit {result.returncode} ({verdict})")
            print(f"    diagnosis: {cause}")


def bench_in_process(runs: int) -> None:
    """The engine alone (no interpreter start, no imports): run_smtp vs aiosmtplib.send."""
    import asyncio
    import ssl
    from email.message import EmailMessage

    import aiosmtplib

    from tui_mailsetup.engine.events import Outcome
    from tui_mailsetup.engine.smtp import run_smtp
    from tui_mailsetup.message import build_test_message
    from tui_mailsetup.settings import MailSettings

    async def measure(box: Sandbox) -> tuple[list[float], list[float], list[float]]:
        assert box.ca_path is not None
        settings = MailSettings(
            smtp={**box.smtp_settings(), "timeout": 30, "ehlo_name": "bench.example"},
            sender={"name": "bench", "address": "bench@example.test"},
        )
        context = ssl.create_default_context(cafile=str(box.ca_path))
        ours: list[float] = []
        bare: list[float] = []
        same_trust: list[float] = []
        for _ in range(runs):
            start = time.perf_counter()
            message = build_test_message(settings, ["bench@example.test"])
            outcome = None
            async for event in run_smtp(settings, box.password, message, ["bench@example.test"]):
                outcome = event
            assert isinstance(outcome, Outcome) and outcome.ok, outcome
            ours.append(time.perf_counter() - start)
            start = time.perf_counter()
            plain = EmailMessage()
            plain["From"] = plain["To"] = "bench@example.test"
            plain["Subject"] = "bench"
            plain.set_content("bench")
            await aiosmtplib.send(
                plain,
                hostname=box.host,
                port=box.port,
                username=box.username,
                password=box.password,
                start_tls=True,
                tls_context=context,
                local_hostname="bench.example",
                timeout=30,
            )
            bare.append(time.perf_counter() - start)
            # The same trust decision as the engine: the system store plus the
            # CA file ("ca_file adds trust"), built for each send.
            start = time.perf_counter()
            fair = ssl.create_default_context()
            fair.load_verify_locations(cafile=str(box.ca_path))
            await aiosmtplib.send(
                plain,
                hostname=box.host,
                port=box.port,
                username=box.username,
                password=box.password,
                start_tls=True,
                tls_context=fair,
                local_hostname="bench.example",
                timeout=30,
            )
            same_trust.append(time.perf_counter() - start)
        return ours, bare, same_trust

    with Sandbox(mode="starttls", password="bench-password") as box:
        ours, bare, same_trust = asyncio.run(measure(box))
    ratios = [o / b for o, b in zip(ours, bare, strict=True)]
    fair_ratios = [o / b for o, b in zip(ours, same_trust, strict=True)]
    print(f"engine only, in one process ({runs} paired sends, STARTTLS + AUTH)")
    print(
        f"  run_smtp (events, transcript, TLS details)  median {statistics.median(ours) * 1000:6.1f} ms"
    )
    print(
        f"  aiosmtplib.send                             median {statistics.median(bare) * 1000:6.1f} ms"
    )
    print(
        f"  aiosmtplib.send, system store + CA file     median {statistics.median(same_trust) * 1000:6.1f} ms"
    )
    print(
        f"  median ratio {statistics.median(ratios):.2f} "
        f"({statistics.median(fair_ratios):.2f} against the same trust store)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-send-") as tmp:
        workdir = Path(tmp)
        os.chmod(workdir, 0o700)
        bench_send(args.runs, workdir)
        bench_exit(args.runs, workdir)
        bench_in_process(max(args.runs, 20))
        bench_mismatch(workdir)


if __name__ == "__main__":
    main()
