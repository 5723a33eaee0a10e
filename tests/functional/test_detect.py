"""Detection as Thunderbird does it, verified by probes: against a real DNS server, real HTTPS
servers (autoconfig, ISPDB) and real SMTP servers, all on 127.0.0.1."""

from __future__ import annotations

import contextlib
import json
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support.cli_helpers import config_path, run_cli
from tests.support.dns_server import dns_server, nameserver_entry
from tests.support.http_servers import bundle, document, https_server
from tests.support.smtp_servers import Conn, ScriptedServer
from tui_mailsetup.engine.autoconfig import AutoconfigError, parse_config
from tui_mailsetup.engine.detect import DetectOptions, detect
from tui_mailsetup.engine.dns_client import make_resolver
from tui_mailsetup.engine.probe import Verdict, probe
from tui_mailsetup.exitcodes import ExitCode
from tui_mailsetup.presets import get_preset, preset_for_mail_domain, preset_for_mx
from tui_mailsetup.sandbox import Sandbox
from tui_mailsetup.settings import DetectSettings, Encryption

STARTTLS, TLS = Encryption.STARTTLS, Encryption.TLS


def quiet(**changes: Any) -> DetectOptions:
    """Only what a test asks for: no ISPDB, no autoconfig, no probes, no guesses."""
    values: dict[str, Any] = {
        "ispdb": False,
        "autoconfig_urls": (),
        "probe": False,
        "timeout": 8.0,
        "guess_ports": (),
    }
    values.update(changes)
    return DetectOptions(**values)


def config_xml(
    host: str,
    port: int,
    socket_type: str = "SSL",
    username: str = "%EMAILADDRESS%",
    *,
    name: str = "Acme Mail",
    extra: str = "",
) -> str:
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<clientConfig version="1.1">
  <emailProvider id="provider.example">
    <domain>acme.example</domain>
    <displayName>{name}</displayName>
    <incomingServer type="imap">
      <hostname>imap.acme.example</hostname><port>993</port><socketType>SSL</socketType>
    </incomingServer>
    {extra}
    <outgoingServer type="smtp">
      <hostname>{host}</hostname>
      <port>{port}</port>
      <socketType>{socket_type}</socketType>
      <username>{username}</username>
      <authentication>password-cleartext</authentication>
    </outgoingServer>
  </emailProvider>
</clientConfig>
"""


@contextmanager
def dead_resolver() -> Iterator[tuple[str, socket.socket]]:
    """A name server address where queries arrive and are never answered."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.setblocking(False)
    try:
        yield f"127.0.0.1:{sock.getsockname()[1]}", sock
    finally:
        sock.close()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def received_anything(sock: socket.socket) -> bool:
    try:
        sock.recv(4096)
    except BlockingIOError:
        return False
    return True


# --------------------------------------------------------------------------- SRV (RFC 2782)


@pytest.mark.parametrize(("low", "high"), [(5, 20), (10, 20), (0, 1), (9, 10)])
async def test_srv_lowest_priority_wins_whatever_the_values(low: int, high: int) -> None:
    zone = {
        ("_submission._tcp.prio.example", "SRV"): [
            f"{high} 100 2602 high.prio.example.",
            f"{low} 0 2601 low.prio.example.",
        ]
    }
    with dns_server(zone) as server:
        result = await detect(
            "prio.example", resolver=make_resolver([nameserver_entry(server)]), options=quiet()
        )
    assert [c.host for c in result.candidates] == ["low.prio.example", "high.prio.example"]
    assert f"priority {low}" in result.candidates[0].source


async def test_srv_same_priority_prefers_implicit_tls_then_the_heavier_weight() -> None:
    zone = {
        ("_submission._tcp.w.example", "SRV"): [
            "10 10 587 light.w.example.",
            "10 60 587 heavy.w.example.",
        ],
        ("_submissions._tcp.w.example", "SRV"): ["10 1 465 tls.w.example."],
    }
    with dns_server(zone) as server:
        result = await detect(
            "w.example", resolver=make_resolver([nameserver_entry(server)]), options=quiet()
        )
    assert [(c.host, c.encryption) for c in result.candidates] == [
        ("tls.w.example", TLS),
        ("heavy.w.example", STARTTLS),
        ("light.w.example", STARTTLS),
    ]


# --------------------------------------------------------------------------- dead DNS vs nothing


@pytest.mark.parametrize("kind", ["silent", "servfail"])
async def test_dead_resolver_is_unknown_not_nothing_found(kind: str) -> None:
    with contextlib.ExitStack() as stack:
        if kind == "silent":
            entry, _ = stack.enter_context(dead_resolver())
        else:
            entry = nameserver_entry(stack.enter_context(dns_server({}, servfail=["*"])))
        result = await detect(
            "ops@dead.example",
            resolver=make_resolver([entry], lifetime=0.5),
            options=quiet(
                probe=True,
                ispdb=True,
                guess_ports=((465, TLS),),
                autoconfig_urls=tuple(DetectSettings().autoconfig_urls),
            ),
        )
    assert result.best is None
    assert result.dns_failed
    assert result.exit_code == ExitCode.TEMPFAIL
    document = result.to_json()
    assert document["ok"] is False
    assert "DNS lookups for dead.example failed" in document["diagnosis"]["cause"]
    assert any(("Timeout" if kind == "silent" else "SERVFAIL") in p for p in result.problems), (
        result.problems
    )
    # The ISPDB's name never resolved: nothing was sent to it, and nothing claims it was.
    assert result.ispdb_sent == [] and document["ispdb"] is None


async def test_nothing_found_when_every_lookup_answered() -> None:
    with dns_server({("empty.example", "TXT"): ['"v=spf1 -all"']}) as server:
        result = await detect(
            "empty.example",
            resolver=make_resolver([nameserver_entry(server)]),
            options=quiet(probe=True, guess_ports=((465, TLS),)),
        )
    assert result.best is None and not result.dns_failed
    assert result.exit_code == ExitCode.UNAVAILABLE
    # The guesses were tried (and are listed), but never proposed.
    assert {c.host for c in result.rejected} == {"smtp.empty.example", "mail.empty.example"}
    assert all(c.probe.verdict is Verdict.FAILED for c in result.rejected)


async def test_known_mailbox_domain_answers_without_asking_a_dead_resolver() -> None:
    with dead_resolver() as (entry, sock):
        result = await detect("someone@gmail.com", resolver=make_resolver([entry], lifetime=3))
        assert not received_anything(sock)  # not a single query: the preset decided
    assert result.best is not None and result.best.preset_id == "gmail"
    assert result.ispdb_sent == []


@pytest.mark.parametrize("probing", [True, False])
async def test_mx_only_domain_whose_provider_is_unreachable(probing: bool) -> None:
    """Probes on: the provider the MX reveals does not answer, so it is failed, not proposed.
    Probes off: it is proposed, unverified."""
    zone = {("mxonly.example", "MX"): ["10 mxonly-example.mail.protection.outlook.com."]}
    with dns_server(zone) as server:
        result = await detect(
            "it@mxonly.example",
            resolver=make_resolver([nameserver_entry(server)]),
            options=quiet(probe=probing),
        )
    if not probing:
        best = result.best
        assert best is not None and best.preset_id == "microsoft-365" and not best.verified
        assert best.username == "it@mxonly.example"
        assert result.to_json()["verified"] is False and result.exit_code == ExitCode.OK
        return
    assert result.best is None and result.candidates == []
    [failed] = result.failed
    assert failed.preset_id == "microsoft-365" and failed.kind == "mx"
    assert failed.probe.verdict is Verdict.FAILED
    assert failed.probe.detail == "smtp.office365.com does not resolve"  # our DNS server only
    assert result.to_json()["ok"] is False and result.exit_code == ExitCode.UNAVAILABLE
    assert "No candidate for mxonly.example answered" in result.cause()


# --------------------------------------------------------------------------- autoconfig + ISPDB


async def test_domain_autoconfig_is_fetched_over_verified_https_and_probed(tmp_path: Path) -> None:
    async with Sandbox(mode="tls", server_hostname="smtp.acme.example") as box:
        assert box.ca_path is not None
        xml = config_xml("smtp.%EMAILDOMAIN%", box.port, "SSL", "%EMAILLOCALPART%")
        routes = {"/mail/config-v1.1.xml": document(xml)}
        with https_server(routes, ("autoconfig.acme.example",), tmp_path) as web:
            zone = {
                ("autoconfig.acme.example", "A"): ["127.0.0.1"],
                ("smtp.acme.example", "A"): ["127.0.0.1"],
                ("acme.example", "MX"): ["10 mx.acme.example."],
            }
            options = quiet(
                probe=True,
                autoconfig_urls=(f"https://autoconfig.{{domain}}:{web.port}/mail/config-v1.1.xml",),
                ca_file=str(bundle(tmp_path / "cas.pem", web.ca_path, box.ca_path)),
            )
            with dns_server(zone) as server:
                result = await detect(
                    "jo@acme.example",
                    resolver=make_resolver([nameserver_entry(server)]),
                    options=options,
                )
        assert box.auth_attempts == [] and box.messages == []  # a probe never authenticates
    best = result.best
    assert best is not None
    assert (best.host, best.port, best.encryption) == ("smtp.acme.example", box.port, TLS)
    assert best.kind == "autoconfig" and "Acme Mail" in best.source
    assert best.verified and best.probe.verdict is Verdict.VERIFIED
    assert best.username == "jo"
    assert [(r.path, r.host_header) for r in web.requests] == [
        (
            "/mail/config-v1.1.xml?emailaddress=jo@acme.example",
            f"autoconfig.acme.example:{web.port}",
        )
    ]


async def test_autoconfig_with_an_untrusted_certificate_is_not_used(tmp_path: Path) -> None:
    routes = {"/mail/config-v1.1.xml": document(config_xml("smtp.acme.example", 465))}
    with https_server(routes, ("autoconfig.acme.example",), tmp_path) as web:
        zone = {("autoconfig.acme.example", "A"): ["127.0.0.1"]}
        options = quiet(
            autoconfig_urls=(f"https://autoconfig.{{domain}}:{web.port}/mail/config-v1.1.xml",)
        )
        with dns_server(zone) as server:
            result = await detect(
                "acme.example", resolver=make_resolver([nameserver_entry(server)]), options=options
            )
    assert result.candidates == []
    assert any("certificate" in p.lower() for p in result.problems), result.problems


async def test_autoconfig_redirects_are_followed_to_https_only(tmp_path: Path) -> None:
    routes = {
        "/.well-known/autoconfig/mail/config-v1.1.xml": document("", 301, Location="/moved.xml"),
        "/moved.xml": document(config_xml("smtp.redir.example", 465)),
        "/mail/config-v1.1.xml": document("", 302, Location="http://redir.example/plain.xml"),
    }
    with https_server(routes, ("redir.example", "autoconfig.redir.example"), tmp_path) as web:
        zone = {
            ("redir.example", "A"): ["127.0.0.1"],
            ("autoconfig.redir.example", "A"): ["127.0.0.1"],
        }
        options = quiet(
            autoconfig_urls=(
                f"https://{{domain}}:{web.port}/.well-known/autoconfig/mail/config-v1.1.xml",
                f"https://autoconfig.{{domain}}:{web.port}/mail/config-v1.1.xml",
            ),
            ca_file=str(web.ca_path),
        )
        with dns_server(zone) as server:
            result = await detect(
                "redir.example", resolver=make_resolver([nameserver_entry(server)]), options=options
            )
    assert [(c.host, c.kind) for c in result.candidates] == [("smtp.redir.example", "autoconfig")]
    assert any("only https://" in p for p in result.problems), result.problems
    assert not any(r.path == "/plain.xml" for r in web.requests)


async def test_ispdb_is_asked_says_so_and_can_be_switched_off(tmp_path: Path) -> None:
    async with Sandbox(mode="starttls", server_hostname="smtp.isp.example") as box:
        assert box.ca_path is not None
        routes = {
            "/v1.1/isp.example": document(config_xml("smtp.isp.example", box.port, "STARTTLS"))
        }
        with https_server(routes, ("ispdb.test",), tmp_path) as web:
            zone = {("smtp.isp.example", "A"): ["127.0.0.1"]}
            options = quiet(
                probe=True,
                ispdb=True,
                ispdb_url=f"https://localhost:{web.port}/v1.1/",
                ca_file=str(bundle(tmp_path / "cas.pem", web.ca_path, box.ca_path)),
            )
            with dns_server(zone) as server:
                resolver = make_resolver([nameserver_entry(server)])
                asked = await detect("isp.example", resolver=resolver, options=options)
                private = await detect(
                    "isp.example", resolver=resolver, options=quiet(ispdb_url=options.ispdb_url)
                )
    assert asked.best is not None
    assert (asked.best.host, asked.best.port, asked.best.kind) == (
        "smtp.isp.example",
        box.port,
        "ispdb",
    )
    assert asked.best.verified
    assert asked.ispdb_sent == ["isp.example"]
    assert asked.to_json()["ispdb"] == {"url": options.ispdb_url, "sent": ["isp.example"]}
    assert [r.path for r in web.requests] == ["/v1.1/isp.example"]  # once: the first run only
    assert private.ispdb_sent == [] and private.best is None


async def test_the_mx_domain_is_looked_up_in_the_ispdb(tmp_path: Path) -> None:
    routes = {"/v1.1/hoster.example": document(config_xml("smtp.hoster.example", 465))}
    with https_server(routes, ("ispdb.test",), tmp_path) as web:
        zone = {("cust.example", "MX"): ["10 mx1.hoster.example."]}
        options = quiet(
            ispdb=True, ispdb_url=f"https://localhost:{web.port}/v1.1/", ca_file=str(web.ca_path)
        )
        with dns_server(zone) as server:
            result = await detect(
                "cust.example", resolver=make_resolver([nameserver_entry(server)]), options=options
            )
    assert sorted(result.ispdb_sent) == ["cust.example", "hoster.example"]
    assert result.best is not None
    assert (result.best.host, result.best.kind) == ("smtp.hoster.example", "ispdb-mx")
    assert "MX mx1.hoster.example" in result.best.source


async def test_hostile_autoconfig_is_refused_without_expanding_anything(tmp_path: Path) -> None:
    bomb = (
        '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        '<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>'
        "<clientConfig><emailProvider><outgoingServer type='smtp'><hostname>&lol2;</hostname>"
        "</outgoingServer></emailProvider></clientConfig>"
    )
    routes = {"/mail/config-v1.1.xml": document(bomb)}
    with https_server(routes, ("autoconfig.bomb.example",), tmp_path) as web:
        zone = {("autoconfig.bomb.example", "A"): ["127.0.0.1"]}
        options = quiet(
            autoconfig_urls=(f"https://autoconfig.{{domain}}:{web.port}/mail/config-v1.1.xml",),
            ca_file=str(web.ca_path),
        )
        with dns_server(zone) as server:
            result = await detect(
                "bomb.example", resolver=make_resolver([nameserver_entry(server)]), options=options
            )
    assert result.candidates == []
    assert any("DTD" in p for p in result.problems), result.problems


def test_autoconfig_parsing_keeps_smtp_servers_only_and_sanitises() -> None:
    extra = """
    <outgoingServer type="smtp"><hostname>not a host!</hostname><port>25</port>
      <socketType>plain</socketType></outgoingServer>
    <outgoingServer type="smtp"><hostname>plain.acme.example</hostname><port>99999</port>
      <socketType>plain</socketType></outgoingServer>
    <outgoingServer type="ews"><hostname>ews.acme.example</hostname><port>443</port>
      <socketType>SSL</socketType></outgoingServer>
    <outgoingServer type="smtp"><hostname>smtp2.%EMAILDOMAIN%</hostname><port>587</port>
      <socketType>STARTTLS</socketType><username>%EMAILLOCALPART%</username>
      <authentication>OAuth2</authentication></outgoingServer>"""
    xml = config_xml("smtp.acme.example", 465, name="Acme \u202e\x9b31mMail", extra=extra)
    servers = parse_config(xml.encode(), domain="acme.example")
    assert [(s.host, s.port, s.encryption) for s in servers] == [
        ("smtp2.acme.example", 587, STARTTLS),
        ("smtp.acme.example", 465, TLS),
    ]
    assert servers[0].oauth2 and servers[0].username_format == "%EMAILLOCALPART%"
    assert "\u202e" not in servers[1].provider and "\x9b" not in servers[1].provider
    assert servers[1].provider.startswith("Acme ")


@pytest.mark.parametrize(
    "data",
    [
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><clientConfig>&e;</clientConfig>',
        b"<clientConfig><emailProvider>",
        b"<html><body>not found</body></html>",
        b'<?xml version="1.0" encoding="x-no-such-encoding"?><clientConfig/>',
        b"",
    ],
)
def test_autoconfig_parsing_refuses_dtds_and_junk(data: bytes) -> None:
    with pytest.raises(AutoconfigError):
        parse_config(data, domain="acme.example")


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.binary(max_size=600),
        st.text(max_size=300).map(lambda s: ("<clientConfig>" + s + "</clientConfig>").encode()),
    )
)
def test_autoconfig_parsing_never_fails_other_than_cleanly(data: bytes) -> None:
    try:
        servers = parse_config(data, domain="acme.example")
    except AutoconfigError:
        return
    assert all(0 < s.port < 65536 for s in servers)


# --------------------------------------------------------------------------- probes and ranking


async def test_probes_rank_verified_tls_then_verified_starttls_then_unverified(
    tmp_path: Path,
) -> None:
    async with (
        Sandbox(mode="starttls", server_hostname="a.rank.example") as starttls,
        Sandbox(mode="tls", server_hostname="b.rank.example") as tls,
        Sandbox(mode="tls", cert="wrong-name") as wrong,
    ):
        assert starttls.ca_path and tls.ca_path and wrong.ca_path
        zone = {
            # The domain prefers the server with the wrong certificate (priority 0).
            ("_submissions._tcp.rank.example", "SRV"): [
                f"0 0 {wrong.port} c.rank.example.",
                f"20 0 {tls.port} b.rank.example.",
            ],
            ("_submission._tcp.rank.example", "SRV"): [f"10 0 {starttls.port} a.rank.example."],
            ("a.rank.example", "A"): ["127.0.0.1"],
            ("b.rank.example", "A"): ["127.0.0.1"],
            ("c.rank.example", "A"): ["127.0.0.1"],
        }
        cas = bundle(tmp_path / "cas.pem", starttls.ca_path, tls.ca_path, wrong.ca_path)
        with dns_server(zone) as server:
            result = await detect(
                "rank.example",
                resolver=make_resolver([nameserver_entry(server)]),
                options=quiet(probe=True, ca_file=str(cas)),
            )
    ranked = [(c.host, c.encryption, c.probe.verdict) for c in result.candidates]
    assert ranked == [
        ("b.rank.example", TLS, Verdict.VERIFIED),
        ("a.rank.example", STARTTLS, Verdict.VERIFIED),
    ]
    # The server with the wrong certificate is never ranked, whatever its priority.
    assert [(c.host, c.probe.verdict) for c in result.failed] == [
        ("c.rank.example", Verdict.UNVERIFIED)
    ]
    assert "certificate" in result.failed[0].probe.detail.lower()


async def test_a_guess_is_proposed_only_once_a_probe_verified_it(tmp_path: Path) -> None:
    async with Sandbox(mode="tls", server_hostname="smtp.guess.example") as box:
        assert box.ca_path is not None
        refused = closed_port()
        zone = {("smtp.guess.example", "A"): ["127.0.0.1"]}
        with dns_server(zone) as server:
            result = await detect(
                "guess.example",
                resolver=make_resolver([nameserver_entry(server)]),
                options=quiet(
                    probe=True,
                    ca_file=str(box.ca_path),
                    guess_ports=((box.port, TLS), (refused, STARTTLS)),
                ),
            )
    assert [(c.host, c.port, c.kind) for c in result.candidates] == [
        ("smtp.guess.example", box.port, "guess")
    ]
    assert result.candidates[0].verified
    rejected = {(c.host, c.port): c.probe for c in result.rejected}
    assert rejected[("smtp.guess.example", refused)].stage == "connect"
    assert (
        rejected[("mail.guess.example", box.port)].detail == "mail.guess.example does not resolve"
    )


async def test_a_probe_sends_no_auth_and_no_message() -> None:
    async def server(conn: Conn) -> None:
        await conn.reply("220 probe.example ESMTP")
        await conn.expect("EHLO")
        await conn.reply("250-probe.example", "250-AUTH PLAIN LOGIN", "250 SIZE 1000")
        await conn.drain_rest()

    async with ScriptedServer(server) as scripted:
        with dns_server({}) as dnsd:
            result = await probe(
                "127.0.0.1",
                scripted.port,
                STARTTLS,
                resolver=make_resolver([nameserver_entry(dnsd)]),
                limit=3,
            )
    assert result.verdict is Verdict.FAILED and result.stage == "starttls"
    sent = [line.split()[0].upper() for line in scripted.first.commands if line]
    assert sent[0] == b"EHLO"
    assert not {b"AUTH", b"MAIL", b"RCPT", b"DATA"} & set(sent)


# --------------------------------------------------------------------------- presets


@pytest.mark.parametrize(
    ("domain", "host", "port", "encryption", "login"),
    [
        ("gmail.com", "smtp.gmail.com", 587, STARTTLS, "jo@gmail.com"),
        ("googlemail.com", "smtp.gmail.com", 587, STARTTLS, "jo@googlemail.com"),
        ("gmx.de", "mail.gmx.net", 465, TLS, "jo@gmx.de"),
        ("gmx.co.uk", "mail.gmx.com", 465, TLS, "jo@gmx.co.uk"),
        ("web.de", "smtp.web.de", 465, TLS, "jo"),
        ("aol.com", "smtp.aol.com", 465, TLS, "jo@aol.com"),
        ("email.com", "smtp.mail.com", 465, TLS, "jo@email.com"),
        ("t-online.de", "securesmtp.t-online.de", 465, TLS, "jo@t-online.de"),
        ("ya.ru", "smtp.yandex.com", 465, TLS, "jo@ya.ru"),
        ("bk.ru", "smtp.mail.ru", 465, TLS, "jo@bk.ru"),
        ("wanadoo.fr", "smtp.orange.fr", 465, TLS, "jo@wanadoo.fr"),
        ("free.fr", "smtp.free.fr", 465, TLS, "jo"),
        ("libero.it", "smtp.libero.it", 465, TLS, "jo@libero.it"),
        ("comcast.net", "smtp.comcast.net", 587, STARTTLS, "jo@comcast.net"),
        ("posteo.net", "posteo.de", 465, TLS, "jo@posteo.net"),
        ("email.cz", "smtp.seznam.cz", 465, TLS, "jo@email.cz"),
        ("qq.com", "smtp.qq.com", 465, TLS, "jo@qq.com"),
        ("163.com", "smtp.163.com", 465, TLS, "jo@163.com"),
        ("126.com", "smtp.126.com", 465, TLS, "jo@126.com"),
        ("naver.com", "smtp.naver.com", 465, TLS, "jo@naver.com"),
        ("yahoo.co.jp", "smtp.mail.yahoo.co.jp", 465, TLS, "jo"),
        ("hotmail.de", "smtp-mail.outlook.com", 587, STARTTLS, "jo@hotmail.de"),
        ("outlook.com.au", "smtp-mail.outlook.com", 587, STARTTLS, "jo@outlook.com.au"),
        ("rocketmail.com", "smtp.mail.yahoo.com", 465, TLS, "jo@rocketmail.com"),
        ("yahoo.com.br", "smtp.mail.yahoo.com", 465, TLS, "jo@yahoo.com.br"),
    ],
)
def test_mailbox_presets_match_the_ispdb_facts(
    domain: str, host: str, port: int, encryption: Encryption, login: str
) -> None:
    preset = preset_for_mail_domain(domain)
    assert preset is not None
    assert (preset.host, preset.port, preset.encryption) == (host, port, encryption)
    assert preset.username_for(f"jo@{domain}") == login


def test_oauth2_providers_and_mx_suffixes() -> None:
    assert get_preset("microsoft-365").oauth2 == "microsoft"  # type: ignore[union-attr]
    assert get_preset("outlook-com").oauth2 == "microsoft"  # type: ignore[union-attr]
    assert preset_for_mx("mx-aol.mail.gm0.yahoodns.net").id == "aol"  # type: ignore[union-attr]
    assert preset_for_mx("mta6.am0.yahoodns.net").id == "yahoo"  # type: ignore[union-attr]
    assert preset_for_mx("hotmail-com.olc.protection.outlook.com").id == "outlook-com"  # type: ignore[union-attr]
    assert preset_for_mx("acme-example.mail.protection.outlook.com").id == "microsoft-365"  # type: ignore[union-attr]
    assert preset_for_mx("mx00.emig.gmx.net").id == "gmx"  # type: ignore[union-attr]


def test_default_autoconfig_urls_are_thunderbirds() -> None:
    assert DetectSettings().autoconfig_urls == [
        "https://autoconfig.{domain}/mail/config-v1.1.xml",
        "https://{domain}/.well-known/autoconfig/mail/config-v1.1.xml",
    ]


# --------------------------------------------------------------------------- the command


def test_detect_command_dead_dns_exits_75_and_says_so(isolated_home: Path) -> None:
    with dead_resolver() as (entry, _):
        run_cli("set", "dns.nameservers", entry, home=isolated_home)
        human = run_cli("detect", "dead.example", "--no-probe", home=isolated_home)
    assert human.returncode == 75, human.stdout + human.stderr
    assert "DNS lookups for dead.example failed" in human.stderr  # the verdict
    assert "No mail submission server found" not in human.stdout


def test_detect_command_json_lists_every_candidate_and_saves_the_login(
    isolated_home: Path, tmp_path: Path
) -> None:
    with Sandbox(mode="tls", server_hostname="submit.corp.example") as box:
        assert box.ca_path is not None
        routes = {"/v1.1/corp.example": document(config_xml("submit.corp.example", box.port))}
        with https_server(routes, ("ispdb.test",), tmp_path) as web:
            zone = {
                ("_submission._tcp.corp.example", "SRV"): ["0 1 2525 relay.corp.example."],
                ("submit.corp.example", "A"): ["127.0.0.1"],
            }
            cas = bundle(tmp_path / "cas.pem", web.ca_path, box.ca_path)
            env = {
                "MAILSETUP_DETECT__ISPDB_URL": f"https://localhost:{web.port}/v1.1/",
                "MAILSETUP_DETECT__AUTOCONFIG_URLS": "[]",
                "MAILSETUP_SMTP__CA_FILE": str(cas),
            }
            with dns_server(zone) as server:
                run_cli("set", "dns.nameservers", nameserver_entry(server), home=isolated_home)
                result = run_cli(
                    "detect", "it@corp.example", "--json", "--save", home=isolated_home, env=env
                )
                human = run_cli("detect", "it@corp.example", home=isolated_home, env=env)
                asked = len(web.requests)
                private = run_cli(
                    "detect", "it@corp.example", "--json", "--no-ispdb", home=isolated_home, env=env
                )
                assert len(web.requests) == asked  # --no-ispdb: nothing sent
    assert result.returncode == 0, result.stdout + result.stderr
    doc = result.json()
    assert doc["ok"] is True and doc["stage"] == "detect" and doc["verified"] is True
    assert doc["smtp"] == {"host": "submit.corp.example", "port": box.port, "encryption": "tls"}
    by_host = {c["host"]: c for c in doc["candidates"]}
    assert by_host["submit.corp.example"]["kind"] == "ispdb"
    assert by_host["submit.corp.example"]["probe"]["verdict"] == "verified"
    failed = {c["host"]: c for c in doc["failed"]}
    assert failed["relay.corp.example"]["kind"] == "srv"
    assert failed["relay.corp.example"]["probe"]["verdict"] == "failed"
    assert {c["kind"] for c in doc["rejected"]} == {"guess"}
    assert doc["ispdb"]["sent"] == ["corp.example"]
    saved = config_path(isolated_home).read_text()
    assert 'host = "submit.corp.example"' in saved and 'username = "it@corp.example"' in saved
    assert 'address = "it@corp.example"' in saved  # the sender
    assert doc["saved"] == {
        "smtp.host": "submit.corp.example",
        "smtp.port": box.port,
        "smtp.encryption": "tls",
        "smtp.username": "it@corp.example",
        "sender.address": "it@corp.example",
    }
    assert human.returncode == 0
    assert "Asked Thunderbird's ISPDB" in human.stdout and "corp.example" in human.stdout
    assert "verified" in human.stdout
    json.dumps(doc)  # the document is plain JSON all the way down
    assert private.json()["ispdb"] is None
    # Without the ISPDB only the SRV record is left, and it does not resolve: nothing worked.
    assert private.returncode == 69 and private.json()["smtp"] is None
