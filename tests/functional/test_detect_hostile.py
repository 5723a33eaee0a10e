"""`detect` recommends only what worked (issue 21): hostile probe targets, each behind a real
SRV record on a real DNS server, run through the command as a user runs it. A candidate whose
probe answered and failed is listed as failed with the probe's diagnosis, the command exits as
`check` would (76; 69 when nothing answered) and `--save` writes nothing."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import trustme

from tests.support.cli_helpers import Result, config_path, run_cli
from tests.support.dns_server import dns_server, nameserver_entry
from tests.support.smtp_servers import Conn, ScriptedServer, greet_and_ehlo, limit_to_tls10
from tui_mailsetup.engine.detect import DetectOptions, detect
from tui_mailsetup.engine.dns_client import make_resolver
from tui_mailsetup.sandbox import Sandbox

DOMAIN = "hostile.example"
TARGET = f"mx.{DOMAIN}"


def srv_zone(
    port: int, *, implicit: bool, target: str = TARGET
) -> dict[tuple[str, str], list[str]]:
    service = "_submissions" if implicit else "_submission"
    return {
        (f"{service}._tcp.{DOMAIN}", "SRV"): [f"0 0 {port} {target}."],
        (TARGET, "A"): ["127.0.0.1"],
    }


async def detect_and_save(home: Path, zone: dict[tuple[str, str], list[str]], ca: Path | None) -> tuple[Result, Result, str, str]:  # fmt: skip
    """`detect --json --save` and the human `detect --save`, and the configuration file
    before and after."""
    env = {"MAILSETUP_DETECT__ISPDB": "false", "MAILSETUP_DETECT__AUTOCONFIG_URLS": "[]"}
    if ca is not None:
        env["MAILSETUP_SMTP__CA_FILE"] = str(ca)
    with dns_server(zone) as server:
        done = await asyncio.to_thread(
            run_cli, "set", "dns.nameservers", nameserver_entry(server), home=home
        )
        assert done.returncode == 0, done.stderr
        before = config_path(home).read_text()
        # The servers run in this event loop: the command runs in a thread beside it.
        machine = await asyncio.to_thread(
            lambda: run_cli("detect", f"it@{DOMAIN}", "--json", "--save", home=home, env=env)
        )
        human = await asyncio.to_thread(
            lambda: run_cli("detect", f"it@{DOMAIN}", "--save", home=home, env=env)
        )
    return machine, human, before, config_path(home).read_text()


def assert_failed_and_nothing_saved(
    machine: Result, human: Result, before: str, after: str, code: int, stage: str
) -> dict[str, Any]:
    assert machine.returncode == code, machine.stdout + machine.stderr
    assert human.returncode == code, human.stdout + human.stderr
    document: dict[str, Any] = machine.json()
    assert document["ok"] is False and document["smtp"] is None
    assert document["candidates"] == [] and document.get("saved") is None
    assert document["diagnosis"]["exit_code"] == code
    [failed] = document["failed"]
    assert failed["host"] == TARGET and failed["probe"]["stage"] == stage, failed
    assert failed["probe"]["detail"] in document["diagnosis"]["cause"] or code == 69
    assert after == before  # --save wrote nothing
    assert "Failed (never recommended)" in human.stdout and "Nothing saved" in human.stderr
    assert "saved: smtp" not in human.stdout
    return document


@asynccontextmanager
async def scripted(script: Callable[[Conn], Awaitable[None]]) -> AsyncIterator[ScriptedServer]:
    async with ScriptedServer(script) as server:
        yield server


@pytest.fixture
def ca(tmp_path: Path) -> tuple[trustme.CA, Path]:
    authority = trustme.CA()
    path = tmp_path / "ca.pem"
    authority.cert_pem.write_to_path(str(path))
    return authority, path


def server_context(authority: trustme.CA, *names: str) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert(*names).configure_cert(context)
    return context


async def test_stripped_starttls_is_failed_exit_76(isolated_home: Path) -> None:
    """A stripping attacker removes STARTTLS from EHLO: the candidate is never usable."""

    async def script(conn: Conn) -> None:
        await greet_and_ehlo(conn, "AUTH PLAIN LOGIN", "SIZE 1000000")
        await conn.drain_rest()

    async with scripted(script) as server:
        results = await detect_and_save(isolated_home, srv_zone(server.port, implicit=False), None)
    document = assert_failed_and_nothing_saved(*results, code=76, stage="starttls")
    assert "STARTTLS" in document["failed"][0]["probe"]["detail"]
    assert not any(b"AUTH" in c.upper() for conn in server.connections for c in conn.commands)


async def test_certificate_for_another_name_is_failed_exit_76(isolated_home: Path) -> None:
    async with Sandbox(mode="tls", cert="wrong-name") as box:
        assert box.ca_path is not None
        results = await detect_and_save(
            isolated_home, srv_zone(box.port, implicit=True), box.ca_path
        )
    document = assert_failed_and_nothing_saved(*results, code=76, stage="tls")
    assert document["failed"][0]["probe"]["verdict"] == "unverified"
    assert "certificate" in document["failed"][0]["probe"]["detail"].lower()


async def test_tls_1_0_only_is_failed_exit_76(
    isolated_home: Path, ca: tuple[trustme.CA, Path]
) -> None:
    authority, ca_path = ca
    context = server_context(authority, TARGET)
    limit_to_tls10(context)

    async def script(conn: Conn) -> None:
        await conn.start_tls(context)  # implicit TLS; fails: the client wants TLS 1.2+

    async with scripted(script) as server:
        results = await detect_and_save(
            isolated_home, srv_zone(server.port, implicit=True), ca_path
        )
    assert_failed_and_nothing_saved(*results, code=76, stage="tls")


async def test_a_greeting_that_is_not_220_is_failed_exit_76(isolated_home: Path) -> None:
    async def script(conn: Conn) -> None:
        await conn.reply("250 hostile.test is not greeting properly")
        await conn.drain_rest()

    async with scripted(script) as server:
        results = await detect_and_save(isolated_home, srv_zone(server.port, implicit=False), None)
    document = assert_failed_and_nothing_saved(*results, code=76, stage="greeting")
    assert "250" in document["failed"][0]["probe"]["detail"]


async def test_an_srv_target_that_does_not_resolve_is_failed_exit_69(isolated_home: Path) -> None:
    zone = srv_zone(2525, implicit=False, target=f"gone.{DOMAIN}")
    results = await detect_and_save(isolated_home, zone, None)
    machine, human, before, after = results
    assert machine.returncode == 69 and human.returncode == 69, machine.stdout + machine.stderr
    document: dict[str, Any] = machine.json()
    assert document["ok"] is False and document["smtp"] is None and after == before
    [failed] = document["failed"]
    assert failed["host"] == f"gone.{DOMAIN}" and failed["probe"]["stage"] == "resolve"
    assert "does not resolve" in failed["probe"]["detail"]
    assert "Nothing saved" in human.stderr


async def test_the_verified_server_wins_over_a_failed_one_of_higher_priority(
    isolated_home: Path, ca: tuple[trustme.CA, Path]
) -> None:
    """The control: a good server beside a stripping one is recommended and saved, with
    the username in the provider's form and the sender address, and says what it wrote."""

    async def stripping(conn: Conn) -> None:
        await greet_and_ehlo(conn, "AUTH PLAIN")
        await conn.drain_rest()

    async with (
        scripted(stripping) as bad,
        Sandbox(mode="tls", server_hostname=f"good.{DOMAIN}") as good,
    ):
        assert good.ca_path is not None
        zone = {
            (f"_submission._tcp.{DOMAIN}", "SRV"): [f"0 0 {bad.port} {TARGET}."],
            (f"_submissions._tcp.{DOMAIN}", "SRV"): [f"10 0 {good.port} good.{DOMAIN}."],
            (TARGET, "A"): ["127.0.0.1"],
            (f"good.{DOMAIN}", "A"): ["127.0.0.1"],
        }
        machine, human, _, after = await detect_and_save(isolated_home, zone, good.ca_path)
    assert machine.returncode == 0, machine.stdout + machine.stderr
    document = machine.json()
    assert document["smtp"] == {"host": f"good.{DOMAIN}", "port": good.port, "encryption": "tls"}
    assert [c["host"] for c in document["failed"]] == [TARGET]
    assert document["saved"]["smtp.host"] == f"good.{DOMAIN}"
    assert document["saved"]["sender.address"] == f"it@{DOMAIN}"
    assert f'host = "good.{DOMAIN}"' in after and f'address = "it@{DOMAIN}"' in after
    assert human.returncode == 0 and "saved: smtp.host = good." in human.stdout


def test_a_resolver_refusing_outside_names_and_a_bare_domain_exits_69(isolated_home: Path) -> None:
    """The ISPDB and autoconfig hosts are outside the resolver's zones (REFUSED): failed
    sources, not failed DNS; the domain publishes nothing, so: nothing found, 69 (not 75)."""
    zone = {(DOMAIN, "SOA"): ["ns.hostile.example. admin.hostile.example. 1 60 60 60 60"]}
    with dns_server(zone, refuse_outside=[DOMAIN]) as server:
        run_cli("set", "dns.nameservers", nameserver_entry(server), home=isolated_home)
        before = config_path(isolated_home).read_text()
        machine = run_cli("detect", f"it@{DOMAIN}", "--json", "--save", home=isolated_home)
        refused = [name for name, _ in server.queries if not name.rstrip(".").endswith(DOMAIN)]
    assert refused, "the ISPDB host was never asked: the case did not happen"
    assert machine.returncode == 69, machine.stdout + machine.stderr
    document = machine.json()
    assert document["dns_failed"] is False and document.get("saved") is None
    assert "No mail submission server found" in document["diagnosis"]["cause"]
    assert any("ISPDB" in problem and "REFUSED" in problem for problem in document["problems"])
    assert config_path(isolated_home).read_text() == before


def test_save_for_a_gmail_address_writes_the_full_address_as_username(isolated_home: Path) -> None:
    result = run_cli("detect", "jo@gmail.com", "--save", home=isolated_home)
    assert result.returncode == 0, result.stdout + result.stderr
    saved = config_path(isolated_home).read_text()
    assert 'username = "jo@gmail.com"' in saved and 'address = "jo@gmail.com"' in saved
    assert "smtp.username = jo@gmail.com" in result.stdout
    assert "sender.address = jo@gmail.com" in result.stdout


# --------------------------------------------------------------------------- a sweep, engine level


async def _stripped(conn: Conn) -> None:
    await greet_and_ehlo(conn, "AUTH PLAIN LOGIN")
    await conn.drain_rest()


async def _starttls_454(conn: Conn) -> None:
    await greet_and_ehlo(conn, "STARTTLS")
    await conn.expect("STARTTLS")
    await conn.reply("454 4.7.0 TLS not available due to temporary reason")
    await conn.drain_rest()


async def _starttls_then_garbage(conn: Conn) -> None:
    await greet_and_ehlo(conn, "STARTTLS")
    await conn.expect("STARTTLS")
    await conn.reply("220 go ahead")
    await conn.send(b"this is not a TLS server hello\r\n" * 4)
    await conn.drain_rest()


async def _greeting_421(conn: Conn) -> None:
    await conn.reply("421 4.3.2 try again later")
    await conn.drain_rest()


async def _greeting_250(conn: Conn) -> None:
    await conn.reply("250 hostile.test is not greeting properly")
    await conn.drain_rest()


async def _ehlo_refused(conn: Conn) -> None:
    await conn.reply("220 hostile.test ESMTP")
    await conn.expect("EHLO")
    await conn.reply("502 5.5.2 EHLO not implemented")
    await conn.drain_rest()


async def _long_reply(conn: Conn) -> None:
    await conn.reply("220 hostile.test ESMTP")
    await conn.expect("EHLO")
    await conn.send(b"250 " + b"A" * 10000 + b"\r\n")
    await conn.drain_rest()


async def _hang_up(conn: Conn) -> None:
    await conn.reply("220 hostile.test ESMTP")
    conn.writer.close()


@pytest.mark.parametrize(
    "script",
    [
        _stripped,
        _starttls_454,
        _starttls_then_garbage,
        _greeting_421,
        _greeting_250,
        _ehlo_refused,
        _long_reply,
        _hang_up,
    ],
)
async def test_no_hostile_server_is_ever_recommended(
    script: Callable[[Conn], Awaitable[None]],
) -> None:
    """Each behind the domain's only SRV record (STARTTLS): failed, with check's exit code."""
    only_srv = DetectOptions(ispdb=False, autoconfig_urls=(), timeout=6.0, guess_ports=())
    async with scripted(script) as server:
        with dns_server(srv_zone(server.port, implicit=False)) as dns:
            result = await detect(
                f"it@{DOMAIN}", resolver=make_resolver([nameserver_entry(dns)]), options=only_srv
            )
    assert result.best is None and result.candidates == [], result.to_json()
    [failed] = result.failed
    assert failed.probe.answered and failed.probe.verdict.value != "verified"
    # The exit code is the one `check` gives for the same failure (76, or 75 for a 421).
    assert int(result.exit_code) == failed.probe.exit_code and result.exit_code != 0
    assert failed.probe.detail in result.cause()
