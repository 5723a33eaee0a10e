"""The RFC 7208 test suite (openspf 2014.04, from pyspf's sdist) through check_host()'s
resolver seam, fed from each scenario's zone data. Every check_host test must pass."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.support import DATA
from tui_mailsetup.engine.spf import TempFail, check_host

yaml = pytest.importorskip("yaml", reason="PyYAML (the test extra) reads the suite")

SUITE = DATA / "rfc7208-tests.yml"

Zone = dict[str, list[tuple[str, Any]]]


def _zone(data: dict[str, Any]) -> Zone:
    """The suite's zonedata; SPF-type records stand in for TXT where a name has no TXT
    (as the suite's own driver does), "TIMEOUT" entries make lookups fail."""
    zone: Zone = {}
    for name, entries in data.items():
        records: list[tuple[str, Any]] = []
        generated: list[tuple[str, Any]] = []
        has_txt = False
        for entry in entries:
            if entry == "TIMEOUT":
                records.append(("TIMEOUT", None))
                continue
            for rdtype, value in entry.items():
                if rdtype in ("TXT", "SPF") and isinstance(value, str):
                    value = [value]
                if rdtype == "TXT":
                    has_txt = True
                elif rdtype == "SPF":
                    generated.append(("TXT", value))
                if value != ["NONE"]:
                    records.append((rdtype, value))
        if not has_txt:
            records.extend(generated)
        zone[name.lower()] = records
    return zone


def _lookup(zone: Zone) -> Any:
    async def lookup(name: str, rdtype: str) -> list[str]:
        return _answer(zone, name, rdtype, follow=True)

    return lookup


def _answer(zone: Zone, name: str, rdtype: str, *, follow: bool) -> list[str]:
    key = name.lower().rstrip(".")
    if any(len(label) > 63 for label in key.split(".")):
        raise TempFail("DNS label too long")
    if key not in zone:
        if key.startswith("error."):
            raise TempFail("timeout")
        return []
    found = False
    answers: list[str] = []
    for entry_type, value in zone[key]:
        if entry_type == "TIMEOUT":
            if not found:
                raise TempFail("timeout")
            return answers
        if entry_type == rdtype:
            found = True
            if value == "TIMEOUT":
                raise TempFail("timeout")
            if rdtype == "TXT":
                answers.append("".join(value))
            elif rdtype == "MX":
                answers.append(f"{value[0]} {value[1]}")
            else:
                answers.append(str(value))
        elif entry_type == "CNAME" and follow:
            answers.extend(_answer(zone, str(value), rdtype, follow=False))
    return answers


def _cases() -> Iterator[Any]:
    with SUITE.open(encoding="utf-8") as stream:
        for scenario in yaml.safe_load_all(stream):
            zone = _zone(scenario.get("zonedata") or {})
            for test_id, test in scenario["tests"].items():
                yield pytest.param(zone, test, id=test_id)


@pytest.mark.parametrize(("zone", "test"), list(_cases()) if SUITE.exists() else [])
async def test_rfc7208_suite(zone: Zone, test: dict[str, Any]) -> None:
    mailfrom = test["mailfrom"]
    domain = mailfrom.rpartition("@")[2] if mailfrom else test["helo"]
    result = await check_host(
        test["host"],
        domain,
        lookup=_lookup(zone),
        sender=mailfrom,
        helo=test["helo"],
        default_explanation="DEFAULT",  # what the suite expects when there is no exp=
    )
    expected = test["result"]
    allowed = expected if isinstance(expected, list) else [expected]
    assert result.result in allowed, (result, test.get("description"))
    if "explanation" in test:
        assert result.explanation == test["explanation"], result


def test_the_whole_suite_is_there() -> None:
    """Every check_host test of the 2014.04 suite runs: none lost to a parsing slip."""
    assert len(list(_cases())) == 203
