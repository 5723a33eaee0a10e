"""The Ansible collection against a fleet of four hosts reached through a real OpenSSH server
on 127.0.0.1 (tests/fleet.py), relaying through the sandbox SMTP server (issue 24).

The hosts get the program the supported way (the install role, from a wheelhouse, no package
index), are configured from variables, and send a real test message each; a second run
changes nothing; ``--check --diff`` shows a change without making it and without a secret;
one host with a wrong password fails with the program's diagnosis while the others pass;
the mta module's check mode shows the Postfix diff on one host and changes nothing.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import REPO
from tests.support.dns_server import dns_server, nameserver_entry
from tests.support.fleet import HOST_PYTHON, Fleet, skip_reason
from tests.support.postfix_instance import MASTER_CF
from tui_mailsetup.sandbox import Sandbox

PASSWORD = "Fleet-pässword-42"
NEW_PASSWORD = "Rotated-secret-99"
WRONG_PASSWORD = "not-the-password-7"
USER = "relay-user@example.com"
VENV = "{{ ansible_facts.env.HOME }}/.local/share/tui-mailsetup/venv"

pytestmark = [
    pytest.mark.skipif(skip_reason() is not None, reason=skip_reason() or ""),
    # One fleet (its system users, its sshd) at a time: these tests share one xdist worker.
    pytest.mark.xdist_group("ansible-fleet"),
    # The fleet takes half a minute to set up; each playbook as long again.
    pytest.mark.slow,
]


class Relay:
    def __init__(self, fleet: Fleet) -> None:
        self.box = Sandbox(mode="starttls", username=USER, password=PASSWORD)
        self.box.__enter__()
        # The hosts' users read the CA from here (pytest's folders are root's, 0700).
        self.ca = fleet.base / "relay-ca.pem"
        assert self.box.ca_path is not None
        shutil.copy(self.box.ca_path, self.ca)
        os.chmod(self.ca, 0o644)

    def close(self) -> None:
        self.box.__exit__(None, None, None)


@pytest.fixture(scope="module")
def fleet() -> Iterator[tuple[Fleet, Relay]]:
    fleet = Fleet(hosts=4)
    relay: Relay | None = None
    try:
        fleet.start()
        relay = Relay(fleet)
        installed = fleet.playbook(
            f"""
- name: Install tui-mailsetup on every host
  hosts: fleet
  gather_subset: [min]
  tasks:
    - name: Install from the wheelhouse
      ansible.builtin.include_role:
        name: tui_mailsetup.mail.install
        tasks_from: install
      vars:
        tui_mailsetup_wheelhouse: {fleet.wheels}
"""
        )
        assert installed.returncode == 0, installed.output
        yield fleet, relay
    finally:
        if relay is not None:
            relay.close()
        fleet.stop()


def configure_playbook(fleet: Fleet, relay: Relay, *, sender_name: str = "alerts") -> str:
    return f"""
- name: Outbound mail on every host
  hosts: fleet
  gather_subset: [min]
  roles:
    - role: tui_mailsetup.mail.install
      vars:
        tui_mailsetup_wheelhouse: {fleet.wheels}
        tui_mailsetup_values:
          smtp.host: 127.0.0.1
          smtp.port: {relay.box.port}
          smtp.encryption: starttls
          smtp.username: {USER}
          smtp.ca_file: {relay.ca}
          smtp.timeout: 60
          sender.address: "{{{{ inventory_hostname }}}}@example.com"
          sender.name: "{{{{ inventory_hostname }}}} {sender_name}"
        tui_mailsetup_secrets:
          smtp.password: "{{{{ smtp_password | default('{PASSWORD}') }}}}"
        tui_mailsetup_test_to: ops@example.com
"""


def host_config(fleet: Fleet, index: int) -> str:
    path = fleet.home(fleet.users[index - 1]) / ".config" / "tui-mailsetup" / "config.toml"
    return path.read_text()


def test_configure_idempotent_and_check_diff(fleet: tuple[Fleet, Relay]) -> None:
    hosts, relay = fleet
    first = hosts.playbook(configure_playbook(hosts, relay))
    assert first.returncode == 0, first.output
    recap = first.recap()
    assert sorted(recap) == ["host1", "host2", "host3", "host4"]
    assert all(counts["changed"] >= 1 and counts["failed"] == 0 for counts in recap.values())
    # Each host sent a real test message through the relay, as its own sender.
    senders = sorted(message.mail_from for message in relay.box.messages)
    assert senders == [f"host{i}@example.com" for i in range(1, 5)]
    assert PASSWORD not in first.output

    second = hosts.playbook(configure_playbook(hosts, relay))
    assert second.returncode == 0, second.output
    assert all(counts["changed"] == 0 for counts in second.recap().values()), second.output

    before = host_config(hosts, 1)
    preview = hosts.playbook(
        configure_playbook(hosts, relay, sender_name="renamed"),
        "--check",
        "--diff",
        "-e",
        f"smtp_password={NEW_PASSWORD}",
    )
    assert preview.returncode == 0, preview.output
    assert all(counts["changed"] >= 1 for counts in preview.recap().values())
    assert '"sender.name": "host1 renamed"' in preview.output
    assert "(secret, changed)" in preview.output
    for secret in (PASSWORD, NEW_PASSWORD):
        assert secret not in preview.output
    assert host_config(hosts, 1) == before  # check mode changed nothing


def test_a_wrong_password_fails_that_host_with_the_diagnosis(
    fleet: tuple[Fleet, Relay], tmp_path: Path
) -> None:
    hosts, relay = fleet
    summary = tmp_path / "fleet.json"
    run = hosts.playbook(
        configure_playbook(hosts, relay),
        host_vars={"host3": {"smtp_password": WRONG_PASSWORD}},
        env={"TUI_MAILSETUP_FLEET_JSON": str(summary)},
    )
    assert run.returncode != 0
    recap = run.recap()
    assert recap["host3"]["failed"] == 1, run.output
    assert all(recap[host]["failed"] == 0 for host in ("host1", "host2", "host4"))
    assert "Authentication failed" in run.output
    assert WRONG_PASSWORD not in run.output and PASSWORD not in run.output
    # The fleet summary: one line per host, and the same as JSON.
    lines = [
        line for line in run.output.splitlines() if line.startswith("host") and "  smtp  " in line
    ]
    assert len(lines) == 4, run.output
    [failed] = [line for line in lines if line.startswith("host3")]
    assert "FAILED at auth" in failed and "Authentication failed" in failed
    rows = {row["host"]: row for row in json.loads(summary.read_text())["hosts"]}
    assert rows["host3"]["ok"] is False and rows["host3"]["exit_code"] == 77
    assert all(rows[h]["ok"] for h in ("host1", "host2", "host4"))
    assert rows["host1"]["relay"] == f"127.0.0.1:{relay.box.port}"


def test_mta_check_mode_shows_the_postfix_diff_and_changes_nothing(
    fleet: tuple[Fleet, Relay],
) -> None:
    hosts, relay = fleet
    if shutil.which("postconf", path="/usr/sbin:/usr/bin:/sbin") is None:
        pytest.skip("Postfix is not installed (apt-get install postfix)")
    user = hosts.users[0]
    config_dir = hosts.base / "postfix-host1"
    config_dir.mkdir()
    (config_dir / "main.cf").write_text("compatibility_level = 3.6\n")
    (config_dir / "master.cf").write_text(MASTER_CF)
    uid, gid = hosts.home(user).stat().st_uid, hosts.home(user).stat().st_gid
    for path in (config_dir, config_dir / "main.cf", config_dir / "master.cf"):
        os.chown(path, uid, gid)
    configured = hosts.playbook(configure_playbook(hosts, relay))
    assert configured.returncode == 0, configured.output
    before = (config_dir / "main.cf").read_text()
    run = hosts.playbook(
        f"""
- name: Preview Postfix on host1
  hosts: host1
  gather_subset: [min]
  tasks:
    - name: Relay the machine's mail through the configured server
      tui_mailsetup.mail.mta:
        executable: "{VENV}/bin/tui-mailsetup"
        scope: user
        mta: postfix
        config_dir: {config_dir}
        state: applied
""",
        "--check",
        "--diff",
    )
    assert run.returncode == 0, run.output
    assert run.recap()["host1"]["changed"] == 1, run.output
    assert f"+relayhost = [127.0.0.1]:{relay.box.port}" in run.output
    assert PASSWORD not in run.output
    assert (config_dir / "main.cf").read_text() == before


def test_dns_module_runs_once_on_the_controller(fleet: tuple[Fleet, Relay]) -> None:
    hosts, _ = fleet
    program = hosts.base / "tui-mailsetup"
    program.write_text(
        f'#!/bin/sh\nPYTHONPATH={REPO} exec {sys.executable} -m tui_mailsetup "$@"\n'
    )
    program.chmod(0o755)
    zone = {
        ("acme.example", "MX"): ["10 mx1.acme.example."],
        ("acme.example", "TXT"): ['"v=spf1 ip4:127.0.0.1 -all"'],
        ("bad.example", "MX"): ["10 mx1.acme.example."],
        ("bad.example", "TXT"): ['"v=spf1 ip4:192.0.2.0/33 -all"'],
    }
    with dns_server(zone) as server:
        playbook = f"""
- name: Sender domains
  hosts: localhost
  connection: local
  gather_facts: false
  vars:
    ansible_python_interpreter: {HOST_PYTHON}
  tasks:
    - name: Check the domains
      tui_mailsetup.mail.dns:
        executable: {program}
        domains: [acme.example, bad.example]
        nameservers: ["{nameserver_entry(server)}"]
        fail_on_error: "{{{{ fail }}}}"
      register: checked
    - name: Show them
      ansible.builtin.debug:
        msg: "{{{{ checked.domains | dict2items | map(attribute='value.exit_code') | list }}}}"
"""
        lenient = hosts.playbook(playbook, "-e", "fail=false")
        strict = hosts.playbook(playbook, "-e", "fail=true")
    assert lenient.returncode == 0, lenient.output
    assert "65" in lenient.output  # bad.example's SPF record is in error
    assert strict.returncode != 0 and "records in error for: bad.example" in strict.output
