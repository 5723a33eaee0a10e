"""`tui-mailsetup dns` versus checkdmarc 6.0.4 on the same healthy zone, side by side in one run.

Both ask the same DNS server (tests/support/dns_server.py on 127.0.0.1, an ephemeral
port) about one healthy domain (MX, SPF with two includes, DKIM, DMARC,
TLS-RPT; no MTA-STS record, so that neither fetches anything over HTTPS and
nothing but 127.0.0.1 is contacted). checkdmarc runs in the benchmark's own
virtual environment (created on first use in ~/.cache; it is not a dependency
of tui-mailsetup); without it that half is skipped, saying why.

Printed: the median wall time of a whole process (start, checks, exit) and of
the checks alone, for each tool, and the ratio (goal: 1.0 or less). Then the
dead-resolver case: `dns` against a server that never answers, whose whole run
must end within about one DNS timeout (dns.timeout), not a multiple of it.

    python bench/bench_dns.py [--runs 7] [--no-checkdmarc]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support.dns_server import dns_server  # noqa: E402

DOMAIN = "bench.example"
ZONE = {
    (DOMAIN, "MX"): ["10 mx1.bench.example.", "20 mx2.bench.example."],
    ("mx1.bench.example", "A"): ["192.0.2.25"],
    ("mx2.bench.example", "A"): ["192.0.2.26"],
    (DOMAIN, "TXT"): ['"v=spf1 mx include:_spf.bench.example include:relay.example -all"'],
    ("_spf.bench.example", "TXT"): ['"v=spf1 ip4:192.0.2.0/24 ip6:2001:db8::/32 ~all"'],
    ("relay.example", "TXT"): ['"v=spf1 ip4:198.51.100.0/24 -all"'],
    (DOMAIN, "NS"): ["ns1.bench.example."],
    ("ns1.bench.example", "A"): ["127.0.0.1"],
    # A real 2048-bit RSA key (the checks parse it), in two TXT strings.
    ("selector1._domainkey.bench.example", "TXT"): [
        '"v=DKIM1; k=rsa; p=MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAjgu/5T14gmr+exDDoiiQS8+TH0DwGWUAXIKX8wRoRCpYfY9SC43GRDQkb+N1h6TbRzJi+Bwi+hbyGci4vZvFMjWlB6F8o5XZOpq+zYVDhNg4kXboBxcxh/Y/H+lH43D8GZIUG4Fi4ALxJlPj'
        'ZI34tgSMs2dtjuluM5h0ejJIrhHv7o7v+xftKAGNGd+KqezHT" "KhLNor5C0f2/U2+NZ8yolBxQnbe6N70DE317Cakqxzr2v3Y8SRbN6ZcwKkP0Kbmz8ypKDtdSD0/rCIApA27dHPzHCLhnIfMix97DOeYkuV0sYKTyhLHT6PPfA2cy6N5Rdg3v+w5kfdDT4/NHeHIRQIDAQAB"'
    ],
    ("_dmarc.bench.example", "TXT"): ['"v=DMARC1; p=reject; rua=mailto:dmarc@bench.example"'],
    ("_smtp._tls.bench.example", "TXT"): ['"v=TLSRPTv1; rua=mailto:tls@bench.example"'],
}

CHECKDMARC = """
import json, sys, time
import checkdmarc
from dns.nameserver import Do53Nameserver
started = time.perf_counter()
checkdmarc.check_domains(
    [sys.argv[1]], nameservers=[Do53Nameserver("127.0.0.1", int(sys.argv[2]))],
    skip_tls=True, timeout=2.0,
)
print(json.dumps({"elapsed": time.perf_counter() - started}))
"""


def checkdmarc_python(install: bool) -> Path | None:
    home = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    environment = home / "tui-mailsetup-bench" / "checkdmarc-6.0.4"
    python = environment / "bin" / "python"
    if python.exists():
        return python
    if not install:
        return None
    print(f"creating {environment} with checkdmarc 6.0.4 (once) …", flush=True)
    venv.EnvBuilder(with_pip=True, clear=True).create(environment)
    done = subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "checkdmarc==6.0.4"],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        print(f"skipped checkdmarc: pip install failed: {done.stderr.strip()[-300:]}")
        return None
    return python


def run(argv: list[str], env: dict[str, str]) -> tuple[float, dict[str, object]]:
    started = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=120)
    wall = time.perf_counter() - started
    try:
        document = json.loads(done.stdout)
    except json.JSONDecodeError:
        raise SystemExit(f"{argv[:3]} failed ({done.returncode}): {done.stderr[-500:]}") from None
    return wall, document


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--no-checkdmarc", action="store_true", help="only tui-mailsetup")
    options = parser.parse_args()

    other = None if options.no_checkdmarc else checkdmarc_python(install=True)
    with tempfile.TemporaryDirectory() as home, dns_server(ZONE) as server:
        port = server.server_address[1]
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("MAILSETUP_")},
            "HOME": home,
            "PYTHONPATH": str(ROOT),
            "MAILSETUP_DNS__NAMESERVERS": json.dumps([f"127.0.0.1:{port}"]),
        }
        ours = [sys.executable, "-m", "tui_mailsetup", "dns", DOMAIN, "--json"]
        # checkdmarc does not scan DKIM selectors; the same without the 17-selector scan:
        one_selector = [*ours, "--dkim-selector", "selector1"]
        names = ("tui-mailsetup", "tui-mailsetup (1 DKIM selector)", "checkdmarc")
        walls: dict[str, list[float]] = {name: [] for name in names}
        inner: dict[str, list[float]] = {name: [] for name in names}
        for _ in range(options.runs):  # paired, alternating: the same load for both
            wall, document = run(ours, env)
            walls["tui-mailsetup"].append(wall)
            inner["tui-mailsetup"].append(float(document["elapsed"]))  # type: ignore[arg-type]
            if not document.get("ok"):
                raise SystemExit(f"the bench zone is not healthy: {json.dumps(document)[:800]}")
            wall, document = run(one_selector, env)
            walls[names[1]].append(wall)
            inner[names[1]].append(float(document["elapsed"]))  # type: ignore[arg-type]
            if other is not None:
                wall, document = run([str(other), "-c", CHECKDMARC, DOMAIN, str(port)], env)
                walls["checkdmarc"].append(wall)
                inner["checkdmarc"].append(float(document["elapsed"]))  # type: ignore[arg-type]

        print(f"healthy domain, median of {options.runs} paired runs:")
        for name in names:
            if walls[name]:
                print(
                    f"  {name:<32} process {statistics.median(walls[name]):6.3f} s"
                    f"   checks {statistics.median(inner[name]):6.3f} s"
                )
        if walls["checkdmarc"]:
            for name in names[:2]:
                ratio = statistics.median(walls[name]) / statistics.median(walls["checkdmarc"])
                checks = statistics.median(inner[name]) / statistics.median(inner["checkdmarc"])
                print(
                    f"  ratio {name}/checkdmarc: process {ratio:.2f}, checks {checks:.2f} (goal <= 1.0)"
                )
        else:
            print("  checkdmarc: skipped (no benchmark environment)")

    timeout = 2.0
    with tempfile.TemporaryDirectory() as home, dns_server({}, silent=["*"]) as server:
        env.update(
            {
                "HOME": home,
                "MAILSETUP_DNS__NAMESERVERS": json.dumps([f"127.0.0.1:{server.server_address[1]}"]),
                "MAILSETUP_DNS__TIMEOUT": str(timeout),
            }
        )
        wall, document = run(ours, env)
        print(
            f"dead resolver (dns.timeout = {timeout:g} s): checks {float(document['elapsed']):.2f} s, "  # type: ignore[arg-type]
            f"process {wall:.2f} s, ratio checks/timeout {float(document['elapsed']) / timeout:.2f} (goal <= 1.1)"  # type: ignore[arg-type]
        )


if __name__ == "__main__":
    main()
