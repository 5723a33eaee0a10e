"""DNS time limits (issue 21): a query's timeout (dns.timeout) apart from the run's budget
(dns.budget), and a timeout anywhere in an SPF evaluation a temperror, against a real DNS
server on 127.0.0.1 that is slow, silent for some names, or both."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.cli_helpers import run_cli
from tests.support.dns_server import dns_server, nameserver_entry
from tui_mailsetup.engine.dns import spf_lookup
from tui_mailsetup.engine.dns_client import DnsClient
from tui_mailsetup.engine.spf import check_host


def txt(text: str) -> str:
    return f'"{text}"'


def nested_includes(levels: int) -> dict[tuple[str, str], list[str]]:
    """acme.example includes l1, which includes l2, … l<levels> authorises 192.0.2.10."""
    zone = {("acme.example", "TXT"): [txt("v=spf1 include:l1.acme.example -all")]}
    for level in range(1, levels):
        zone[(f"l{level}.acme.example", "TXT")] = [
            txt(f"v=spf1 include:l{level + 1}.acme.example -all")
        ]
    zone[(f"l{levels}.acme.example", "TXT")] = [txt("v=spf1 ip4:192.0.2.10 -all")]
    return zone


def test_a_slow_server_with_ten_nested_includes_passes(isolated_home: Path) -> None:
    """Ten includes, every answer 0.5 s late: more than one dns.timeout in all, but each
    query well within it; the evaluation gets its RFC 7208 budget and passes."""
    with dns_server(nested_includes(9), delay=0.5) as server:
        result = run_cli("set", "dns.nameservers", nameserver_entry(server), home=isolated_home)
        assert result.returncode == 0, result.stderr
        result = run_cli("set", "dns.timeout", "2", home=isolated_home)
        assert result.returncode == 0, result.stderr
        spf = run_cli(
            "dns", "spf", "acme.example", "--ip", "192.0.2.10", "--json",
            home=isolated_home, timeout=60,
        )  # fmt: skip
    assert spf.returncode == 0, spf.stdout + spf.stderr
    document = spf.json()
    assert document["result"] == "pass", document
    assert document["lookups"] == 9


async def test_ten_levels_through_the_engine_pass_on_a_slow_server() -> None:
    with dns_server(nested_includes(10), delay=0.5) as server:
        client = DnsClient([nameserver_entry(server)], timeout=2.0)
        result = await check_host("192.0.2.10", "acme.example", lookup=spf_lookup(client))
    assert result.result == "pass", result
    assert result.lookups == 10


async def test_the_budget_still_ends_an_evaluation() -> None:
    """dns.budget is a limit: a run that outlives it ends in temperror, never a fail."""
    with dns_server(nested_includes(10), delay=0.3) as server:
        client = DnsClient([nameserver_entry(server)], timeout=2.0, budget=1.0)
        result = await check_host("192.0.2.10", "acme.example", lookup=spf_lookup(client))
    assert result.result == "temperror", result
    assert "budget" in result.explanation


PTR_ZONE = {
    ("acme.example", "TXT"): [txt("v=spf1 ptr -all")],
    ("10.2.0.192.in-addr.arpa", "PTR"): ["mail.acme.example."],
    ("mail.acme.example", "A"): ["192.0.2.10"],
    ("exists.acme.example", "TXT"): [txt("v=spf1 exists:gone.acme.example -all")],
    ("mx.acme.example", "TXT"): [txt("v=spf1 mx -all")],
    ("mx.acme.example", "MX"): ["10 slow-mx.acme.example."],
    ("a.acme.example", "TXT"): [txt("v=spf1 a:slow-a.acme.example -all")],
}


@pytest.mark.parametrize("run", range(5))
async def test_a_ptr_lookup_that_times_out_is_temperror_every_time(run: int) -> None:
    with dns_server(PTR_ZONE, silent=["10.2.0.192.in-addr.arpa"]) as server:
        client = DnsClient([nameserver_entry(server)], timeout=0.5)
        result = await check_host("192.0.2.10", "acme.example", lookup=spf_lookup(client))
    assert result.result == "temperror", result


@pytest.mark.parametrize(
    ("domain", "silent"),
    [
        ("acme.example", "mail.acme.example"),  # the ptr name's validating A lookup
        ("exists.acme.example", "gone.acme.example"),
        ("mx.acme.example", "slow-mx.acme.example"),
        ("a.acme.example", "slow-a.acme.example"),
    ],
)
async def test_a_sub_lookup_that_times_out_is_temperror(domain: str, silent: str) -> None:
    with dns_server(PTR_ZONE, silent=[silent]) as server:
        client = DnsClient([nameserver_entry(server)], timeout=0.5)
        result = await check_host("192.0.2.10", domain, lookup=spf_lookup(client))
    assert result.result == "temperror", result


async def test_the_ptr_passes_when_the_server_answers() -> None:
    """The same zone, nothing silent: the ptr mechanism matches (the test above can fail)."""
    with dns_server(PTR_ZONE) as server:
        client = DnsClient([nameserver_entry(server)], timeout=2.0)
        result = await check_host("192.0.2.10", "acme.example", lookup=spf_lookup(client))
    assert result.result == "pass", result


async def test_a_resolver_that_never_answers_is_not_asked_again() -> None:
    """Once a query has timed out with nothing ever answered, later lookups fail at once
    (the run ends within about one dns.timeout, not one per sequential lookup)."""
    with dns_server(PTR_ZONE, silent=["*"]) as server:
        client = DnsClient([nameserver_entry(server)], timeout=0.5)
        first = await check_host("192.0.2.10", "acme.example", lookup=spf_lookup(client))
        asked = len(server.queries)
        second = await check_host("192.0.2.10", "mx.acme.example", lookup=spf_lookup(client))
    assert first.result == second.result == "temperror"
    assert "not asked" in second.explanation
    assert len(server.queries) == asked
