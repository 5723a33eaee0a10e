"""The certificate chain in the TLS details is the one the server presented, leaf first."""

from __future__ import annotations

import ssl
from pathlib import Path

import trustme

from tests.smtp_servers import Conn, ScriptedServer, collect, outcome_of, settings_for
from tui_mailsetup.engine.events import Stage, TlsDetails


def _server_context(leaf: trustme.LeafCert, *, with_intermediate: bool) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    if with_intermediate:
        leaf.configure_cert(context)  # trustme sends the leaf and its intermediates
    else:
        # Only the leaf, as a server that forgot its intermediate sends it.
        key = leaf.private_key_pem
        cert = leaf.cert_chain_pems[0]
        with key.tempfile() as key_path, cert.tempfile() as cert_path:
            context.load_cert_chain(cert_path, key_path)
    return context


async def _chain_seen(tmp_path: Path, *, with_intermediate: bool) -> TlsDetails:
    root = trustme.CA(organization_name="Chain Test Root")
    intermediate = root.create_child_ca()
    leaf = intermediate.issue_cert("127.0.0.1", "localhost")
    ca_file = tmp_path / "root.pem"
    root.cert_pem.write_to_path(str(ca_file))
    context = _server_context(leaf, with_intermediate=with_intermediate)

    async def script(conn: Conn) -> None:
        await conn.reply("220 chain.test ESMTP")
        await conn.expect("EHLO")
        await conn.reply("250-chain.test", "250 STARTTLS")
        await conn.expect("STARTTLS")
        await conn.reply("220 go ahead")
        await conn.start_tls(context)
        await conn.drain_rest()

    async with ScriptedServer(script) as server:
        settings = settings_for(server.port, encryption="starttls", ca_file=str(ca_file))
        events = await collect(settings, stop_after=Stage.STARTTLS)
    details = [event for event in events if isinstance(event, TlsDetails)]
    assert details, outcome_of(events)
    return details[0]


async def test_the_presented_chain_lists_leaf_then_intermediate(tmp_path: Path) -> None:
    details = await _chain_seen(tmp_path, with_intermediate=True)
    assert details.verified
    assert len(details.chain) == 2
    assert details.chain[0] == details.subject
    assert details.chain[1] == details.issuer


async def test_a_missing_intermediate_shows_as_a_chain_of_one(tmp_path: Path) -> None:
    details = await _chain_seen(tmp_path, with_intermediate=False)
    # Verification fails (the intermediate is unknown), and the chain says why.
    assert not details.verified
    assert len(details.chain) == 1
    assert details.chain[0] == details.subject
