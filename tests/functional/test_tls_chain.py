"""The certificate chain in the TLS details is the one the server presented, leaf first."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest
import trustme

from tests.support.events import outcome_of
from tests.support.smtp_servers import Conn, ScriptedServer, run_ladder, settings_for
from tui_mailsetup.engine.events import Stage, TlsDetails
from tui_mailsetup.engine.tls import describe_der


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
    return await _details_after_starttls(context, ca_file=str(ca_file))


async def _details_after_starttls(context: ssl.SSLContext, **smtp: str) -> TlsDetails:
    """The TLS details a STARTTLS to a server presenting ``context``'s certificates reports."""

    async def script(conn: Conn) -> None:
        await conn.reply("220 chain.test ESMTP")
        await conn.expect("EHLO")
        await conn.reply("250-chain.test", "250 STARTTLS")
        await conn.expect("STARTTLS")
        await conn.reply("220 go ahead")
        await conn.start_tls(context)
        await conn.drain_rest()

    async with ScriptedServer(script) as server:
        settings = settings_for(server.port, encryption="starttls", **smtp)
        events = await run_ladder(settings, stop_after=Stage.STARTTLS)
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


def _self_signed(
    tmp_path: Path, attributes: list[tuple[str, str]]
) -> tuple[ssl.SSLContext, str, bytes]:
    """A server context presenting a self-signed certificate with this subject, its SHA-256
    and its DER. Its subjectAltName mixes what is listed (DNS names, IP addresses, the
    IPv6 ones as ipaddress writes them) with what is not (an email address, a URI)."""
    import datetime as dt
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [x509.NameAttribute(getattr(NameOID, oid), value) for oid, value in attributes]
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(dt.datetime(2000, 1, 1, tzinfo=dt.UTC))
        .not_valid_after(dt.datetime(3000, 1, 1, tzinfo=dt.UTC))
        .add_extension(
            x509.SubjectAlternativeName(
                [
                    x509.IPAddress(ipaddress.ip_address("::1")),
                    x509.DNSName("localhost"),
                    x509.RFC822Name("postmaster@acme.example"),
                    x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                    x509.UniformResourceIdentifier("https://acme.example/"),
                    x509.DNSName("*.acme.example"),
                ]
            ),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "self.pem", tmp_path / "self.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(cert_path), str(key_path))
    return (
        context,
        cert.fingerprint(hashes.SHA256()).hex(),
        cert.public_bytes(serialization.Encoding.DER),
    )


@pytest.mark.parametrize(
    "attributes",
    [
        # Every attribute read from OpenSSL's own decoding (no cryptography).
        [
            ("COUNTRY_NAME", "DE"),
            ("STATE_OR_PROVINCE_NAME", "Berlin"),
            ("LOCALITY_NAME", "Berlin"),
            ("STREET_ADDRESS", "Hauptstraße 1"),
            ("ORGANIZATION_NAME", "Acme, Inc."),
            ("ORGANIZATIONAL_UNIT_NAME", "Mail"),
            ("DOMAIN_COMPONENT", "example"),
            ("USER_ID", "postmaster"),
            ("COMMON_NAME", "smtp.acme.example"),
        ],
        # Attributes cryptography names by their dotted OID: read the slow way, the same text.
        [
            ("EMAIL_ADDRESS", "hostmaster@acme.example"),
            ("SERIAL_NUMBER", "42"),
            ("COMMON_NAME", "x"),
        ],
    ],
    ids=["named-attributes", "oid-attributes"],
)
async def test_a_pinned_certificate_reads_as_cryptography_reads_it(
    tmp_path: Path, attributes: list[tuple[str, str]]
) -> None:
    """A pinned (so unverified) certificate and the presented chain are described from
    OpenSSL's decoding where it can say the same as cryptography, which does the rest:
    the text is the same either way."""
    context, fingerprint, der = _self_signed(tmp_path, attributes)
    details = await _details_after_starttls(context, fingerprint=fingerprint)
    parsed = describe_der(der)
    fields = ("subject", "issuer", "sans", "not_before", "not_after", "fingerprint_sha256")
    assert {f: getattr(details, f) for f in fields} == {f: getattr(parsed, f) for f in fields}
    assert details.chain == (details.subject,)
    assert details.subject.endswith("CN=smtp.acme.example" if len(attributes) > 3 else "CN=x")
    assert details.sans == (
        "DNS:localhost",
        "DNS:*.acme.example",
        "IP Address:::1",
        "IP Address:127.0.0.1",
    )
