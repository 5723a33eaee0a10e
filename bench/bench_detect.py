"""Benchmark (not a test): ``detect`` probes its candidates in parallel.

1. N implicit-TLS SMTP servers on 127.0.0.1, each greeting after its own delay,
   published as ``_submissions._tcp`` SRV records by a local DNS server. Each
   candidate is probed alone (the slowest single probe is the yardstick), then
   ``detect`` runs with all N; prints detect / slowest single probe, per run
   and the median. Goal: 1.3 or less.
2. A dead resolver (queries arrive, nothing answers): a known mailbox domain
   (gmail.com) must answer at once, and an unknown one within about one DNS
   lifetime. Prints both.

Run: python bench/bench_detect.py [--candidates N] [--runs R]
Only 127.0.0.1 is contacted.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import ssl
import statistics
import sys
import tempfile
import time
from pathlib import Path

import trustme

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.support.dns_server import dns_server, nameserver_entry  # noqa: E402
from tui_mailsetup.engine.detect import DetectOptions, detect  # noqa: E402
from tui_mailsetup.engine.dns_client import make_resolver  # noqa: E402
from tui_mailsetup.engine.probe import Verdict, probe  # noqa: E402
from tui_mailsetup.settings import Encryption  # noqa: E402

DOMAIN = "bench.example"


async def smtp_server(context: ssl.SSLContext, delay: float) -> asyncio.Server:
    """Implicit TLS; greets after ``delay`` seconds; answers EHLO and QUIT."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await asyncio.sleep(delay)
            writer.write(b"220 bench ESMTP\r\n")
            while line := await reader.readline():
                verb = line[:4].upper()
                if verb == b"EHLO":
                    writer.write(b"250-bench\r\n250 PIPELINING\r\n")
                elif verb == b"QUIT":
                    writer.write(b"221 bye\r\n")
                    await writer.drain()
                    break
                else:
                    writer.write(b"502 no\r\n")
                await writer.drain()
        except (ConnectionError, ssl.SSLError):
            pass
        finally:
            writer.close()

    return await asyncio.start_server(handle, "127.0.0.1", 0, ssl=context)


async def serve(candidates: int, directory: Path) -> None:
    """The servers, in their own process (as remote servers would be): the TLS
    handshakes on their side do not share the client's CPU time and GIL."""
    ca = trustme.CA()
    ca.cert_pem.write_to_path(str(directory / "ca.pem"))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(*(f"c{i}.{DOMAIN}" for i in range(candidates))).configure_cert(context)
    servers = [await smtp_server(context, 0.2 + 0.05 * i) for i in range(candidates)]
    ports = [str(server.sockets[0].getsockname()[1]) for server in servers]
    print(" ".join(ports), flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)


async def parallel_probes(candidates: int, runs: int) -> float:
    directory = Path(tempfile.mkdtemp(prefix="bench-detect-"))
    ca_path = directory / "ca.pem"
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        __file__,
        "--serve",
        str(directory),
        "--candidates",
        str(candidates),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    assert child.stdout is not None and child.stdin is not None
    ports = [int(p) for p in (await child.stdout.readline()).split()]
    names = [f"c{i}.{DOMAIN}" for i in range(candidates)]
    zone: dict[tuple[str, str], list[str]] = {
        (f"_submissions._tcp.{DOMAIN}", "SRV"): [
            f"{i} 0 {port} {name}." for i, (name, port) in enumerate(zip(names, ports, strict=True))
        ],
        (DOMAIN, "MX"): [f"10 mx.{DOMAIN}."],
    }
    for name in names:
        zone[(name, "A")] = ["127.0.0.1"]
    options = DetectOptions(
        ispdb=False, autoconfig_urls=(), probe=True, guess_ports=(), ca_file=str(ca_path)
    )
    ratios: list[float] = []
    with dns_server(zone) as server:
        resolver = make_resolver([nameserver_entry(server)])
        for run in range(runs):
            singles = []
            for name, port in zip(names, ports, strict=True):
                started = time.perf_counter()
                result = await probe(
                    name, port, Encryption.TLS, resolver=resolver, limit=10, ca_file=str(ca_path)
                )
                singles.append(time.perf_counter() - started)
                assert result.verdict is Verdict.VERIFIED, result
            started = time.perf_counter()
            detection = await detect(DOMAIN, resolver=resolver, options=options)
            whole = time.perf_counter() - started
            assert len(detection.candidates) == candidates
            assert all(c.verified for c in detection.candidates)
            ratio = whole / max(singles)
            ratios.append(ratio)
            print(
                f"run {run + 1}: {candidates} candidates, slowest single probe "
                f"{max(singles) * 1000:.0f} ms, detect {whole * 1000:.0f} ms, ratio {ratio:.2f}"
            )
    child.stdin.close()
    await child.wait()
    median = statistics.median(ratios)
    print(f"detect / slowest single probe (median of {runs}): {median:.2f}  (goal <= 1.3)")
    return median


async def dead_resolver(lifetime: float) -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    entry = f"127.0.0.1:{sock.getsockname()[1]}"
    try:
        started = time.perf_counter()
        known = await detect(
            "someone@gmail.com", resolver=make_resolver([entry], lifetime=lifetime)
        )
        known_time = time.perf_counter() - started
        started = time.perf_counter()
        unknown = await detect(
            f"someone@{DOMAIN}",
            resolver=make_resolver([entry], lifetime=lifetime),
            options=DetectOptions(ispdb=True, probe=True),
        )
        unknown_time = time.perf_counter() - started
    finally:
        sock.close()
    assert known.best is not None and unknown.dns_failed
    print(f"dead resolver, gmail.com (bundled preset): {known_time * 1000:.1f} ms")
    print(
        f"dead resolver, unknown domain: {unknown_time:.2f} s with a DNS lifetime of "
        f"{lifetime:g} s (ratio {unknown_time / lifetime:.2f}; exit {int(unknown.exit_code)})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--candidates", type=int, default=6)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--lifetime", type=float, default=2.0)
    parser.add_argument("--serve", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        asyncio.run(serve(args.candidates, args.serve))
        return
    asyncio.run(parallel_probes(args.candidates, args.runs))
    asyncio.run(dead_resolver(args.lifetime))


if __name__ == "__main__":
    main()
