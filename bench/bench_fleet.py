"""The cost of a fleet (issue 24): ``check`` on four hosts with ``forks=4`` against one host.

Starts the test fleet (tests/support/fleet.py: a real sshd on 127.0.0.1, one system user per host),
installs and configures the program on four hosts through the collection's role, then times
a playbook of ``tui_mailsetup.mail.check`` (the ladder up to AUTH against the sandbox relay,
no message sent) on one host and on all four, alternating, and prints the medians and the
median of the per-pair ratios. The goal: the fleet costs the slowest host plus Ansible's own
start-up, not the sum (a ratio well under 4; on a 2-core machine the hosts share the CPU).
Needs root, like the tests it borrows from.

    python bench/bench_fleet.py [--runs 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.functional.test_ansible import Relay, configure_playbook
from tests.support.fleet import Fleet, skip_reason

CHECK = """
- name: Check every host
  hosts: fleet
  gather_facts: false
  tasks:
    - name: Check
      tui_mailsetup.mail.check:
        executable: "~/.local/share/tui-mailsetup/venv/bin/tui-mailsetup"
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    if (reason := skip_reason()) is not None:
        print(f"cannot run: {reason}")
        return 1
    fleet = Fleet(hosts=4).start()
    relay = Relay(fleet)
    try:
        ready = fleet.playbook(configure_playbook(fleet, relay))
        if ready.returncode != 0:
            print(ready.output)
            return 1
        one: list[float] = []
        four: list[float] = []
        ratios: list[float] = []
        for run in range(args.runs):
            pair: dict[str, float] = {}
            for name, limit in (("one", ["--limit", "host1"]), ("four", []))[
                :: 1 if run % 2 == 0 else -1
            ]:
                started = time.monotonic()
                done = fleet.playbook(CHECK, *limit)
                pair[name] = time.monotonic() - started
                if done.returncode != 0:
                    print(done.output)
                    return 1
            one.append(pair["one"])
            four.append(pair["four"])
            ratios.append(pair["four"] / pair["one"])
        print(f"check, 1 host:            {statistics.median(one):6.2f} s (median of {args.runs})")
        print(f"check, 4 hosts, forks=4:  {statistics.median(four):6.2f} s")
        print(f"ratio 4 hosts / 1 host:   {statistics.median(ratios):6.2f} (a sum would be 4.00)")
    finally:
        relay.close()
        fleet.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
