"""TLS for the SMTP engine: the client context, certificate pinning, certificate details.

Trust is decided in exactly one of three ways, chosen by the settings and
never changed behind the user's back:

- ``fingerprint`` set: the leaf certificate's SHA-256 must match; that is the
  whole trust decision (for self-signed servers), so OpenSSL's chain and name
  checks are off and :func:`check_pin` runs right after the handshake, before
  a single byte is sent inside TLS;
- ``verify = false``: no verification at all (the user said so; reported);
- otherwise the system trust store plus ``ca_file``, with host name checking.

``cryptography`` is imported only when a certificate has to be parsed from
DER (pinned or unverified certificates, or a presented certificate whose subject
has an attribute it names by OID); a verified certificate and the chain the
server presented are described from what OpenSSL already decoded, which keeps
the common path fast (its import is about 45 ms, several times the send).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import ipaddress
import os
import ssl
import threading
from typing import Any

from tui_mailsetup.engine.events import TlsDetails
from tui_mailsetup.names import format_hex, normalize_fingerprint
from tui_mailsetup.sanitize import untrusted_text
from tui_mailsetup.settings import SmtpSettings


class PinMismatchError(Exception):
    """The server's certificate is not the pinned one."""

    def __init__(self, expected: str, actual: str) -> None:
        self.expected = expected
        self.actual = actual
        super().__init__(f"certificate fingerprint {actual} does not match the pinned {expected}")


def fingerprint_of(der: bytes) -> str:
    return format_hex(hashlib.sha256(der).hexdigest())


_built: dict[tuple[Any, ...], ssl.SSLContext] = {}
_KEEP = 4
"""Contexts kept (each holds a copy of the system trust store)."""
_building = threading.Lock()


def _context_key(smtp: SmtpSettings) -> tuple[Any, ...] | None:
    """What a context depends on, the CA file's identity included; None: do not keep it."""
    ca_file = smtp.ca_file.strip()
    stamp: tuple[int, int, int] | None = None
    if ca_file:
        from tui_mailsetup.settings import expand_path

        try:
            info = os.stat(expand_path(ca_file))
        except OSError:
            return None  # it fails to load: build (and fail) every time
        stamp = (info.st_mtime_ns, info.st_size, info.st_ino)
    return (ca_file, stamp, bool(smtp.fingerprint.strip()), smtp.verify, _system_store_stamp())


def _system_store_stamp() -> tuple[int, int] | None:
    """The system bundle's identity: a CA installed while the TUI runs is seen at the next test."""
    cafile = ssl.get_default_verify_paths().cafile
    try:
        info = os.stat(cafile) if cafile else None
    except OSError:
        return None
    return (info.st_mtime_ns, info.st_size) if info else None


def build_context(smtp: SmtpSettings) -> ssl.SSLContext:
    """The client context the settings ask for (see the module docstring).

    Loading the system trust store takes tens of milliseconds, so a context is
    kept for the process (keyed by what it depends on, the CA file's mtime and
    size included) and a build that is under way is waited for, not repeated:
    :func:`prewarm` can start it while other work happens.
    """
    key = _context_key(smtp)
    with _building:
        if key is not None and (context := _built.get(key)) is not None:
            return context
        context = _new_context(smtp)
        if key is not None:
            _built[key] = context
            while len(_built) > _KEEP:  # the oldest go: a TUI session uses one or two
                del _built[next(iter(_built))]
        return context


def prewarm(smtp: SmtpSettings) -> None:
    """Start building the context in a daemon thread (failures are left for the real build)."""

    def build() -> None:
        with contextlib.suppress(Exception):
            build_context(smtp)

    threading.Thread(target=build, name="tui-mailsetup-tls-prewarm", daemon=True).start()


def _new_context(smtp: SmtpSettings) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if smtp.ca_file.strip():
        # Adds to the system store rather than replacing it.
        from tui_mailsetup.settings import expand_path

        context.load_verify_locations(cafile=str(expand_path(smtp.ca_file.strip())))
    if smtp.fingerprint.strip() or not smtp.verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def probe_context() -> ssl.SSLContext:
    """A context that accepts any certificate, for probes that send nothing.

    Used only to ask "does this port speak TLS at all?" and to fetch the
    certificate a failed verification was about, so the diagnosis can show
    its fingerprint. No SMTP command and no credential ever travels over it.
    """
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def check_pin(ssl_object: Any, pinned: str) -> str:
    """Return the leaf's fingerprint; raise PinMismatchError unless it is ``pinned``."""
    der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
    actual = fingerprint_of(der) if der else ""
    expected = normalize_fingerprint(pinned)
    if actual != expected:
        raise PinMismatchError(expected, actual or "(no certificate)")
    return actual


def _name_to_text(name: Any) -> str:
    # getpeercert() gives ((("commonName", "x"),), (("organizationName", "y"),))
    parts = []
    for rdn in name or ():
        for key, value in rdn:
            short = _RFC4514_NAMES.get(key, key)
            parts.append(f"{short}={value}")
    return untrusted_text(", ".join(parts))


def _x509_name_to_text(name: Any) -> str:
    # The same order and separators as _name_to_text, so that a certificate reads
    # the same whether the ssl module parsed it (verified) or cryptography did.
    return untrusted_text(
        ", ".join(
            f"{attribute.rfc4514_attribute_name}={attribute.value}"
            for rdn in name.rdns
            for attribute in rdn
        )
    )


def _openssl_date(value: str) -> str:
    """``getpeercert()``'s "Jan  1 00:00:00 2000 GMT" as ISO 8601 (as it was, when it is not that)."""
    with contextlib.suppress(ValueError):
        return _strict_openssl_date(value)
    try:
        seconds = ssl.cert_time_to_seconds(value)
    except ValueError:
        return untrusted_text(value)
    return dt.datetime.fromtimestamp(seconds, dt.UTC).isoformat()


def _strict_openssl_date(value: str) -> str:
    """OpenSSL's fixed "Jan  1 00:00:00 2000 GMT" as ISO 8601; ValueError for anything else.

    Read here rather than by ``ssl.cert_time_to_seconds``, whose ``time.strptime``
    imports ``_strptime`` and its locale machinery on every send (a millisecond).
    """
    parts = value.split()
    if (
        len(parts) != 5
        or parts[4] != "GMT"
        or parts[0] not in _MONTHS
        or not (parts[1].isdigit() and parts[3].isdigit())
        or len(clock := parts[2].split(":")) != 3
        or not all(len(p) == 2 and p.isdigit() for p in clock)
    ):
        raise ValueError(f"not an OpenSSL certificate date: {value!r}")
    hour, minute, second = (int(p) for p in clock)
    when = dt.datetime(
        int(parts[3]), _MONTHS[parts[0]], int(parts[1]), hour, minute, second, tzinfo=dt.UTC
    )
    return when.isoformat()


_MONTHS = {
    name: number
    for number, name in enumerate(
        ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1
    )
}


def describe(
    ssl_object: Any,
    *,
    verified: bool,
    verify_message: str = "",
) -> TlsDetails:
    """What the handshake established, for the transcript and the TLS details pane."""
    version = str(ssl_object.version() or "") if ssl_object is not None else ""
    cipher_info = ssl_object.cipher() if ssl_object is not None else None
    cipher = str(cipher_info[0]) if cipher_info else ""
    der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
    chain = _chain_subjects(ssl_object)
    parsed = ssl_object.getpeercert() if (ssl_object is not None and verified) else None
    if parsed:
        sans = tuple(
            untrusted_text(f"{kind}:{value}") for kind, value in parsed.get("subjectAltName", ())
        )
        return TlsDetails(
            version=version,
            cipher=cipher,
            subject=_name_to_text(parsed.get("subject")),
            issuer=_name_to_text(parsed.get("issuer")),
            sans=sans,
            not_before=_openssl_date(parsed.get("notBefore", "")),
            not_after=_openssl_date(parsed.get("notAfter", "")),
            fingerprint_sha256=fingerprint_of(der) if der else "",
            verified=verified,
            verify_message=verify_message,
            chain=chain,
        )
    decoded = _decoded_leaf(ssl_object, der)
    if decoded is not None:
        return TlsDetails(
            version=version,
            cipher=cipher,
            **decoded,
            fingerprint_sha256=fingerprint_of(der) if der else "",
            verified=verified,
            verify_message=verify_message,
            chain=chain,
        )
    return describe_der(
        der,
        version=version,
        cipher=cipher,
        verified=verified,
        verify_message=verify_message,
        chain=chain,
    )


def _decoded_leaf(ssl_object: Any, der: bytes | None) -> dict[str, Any] | None:
    """A certificate ssl did not verify (pinned, ``verify = false``, a probe's), described
    from OpenSSL's own decoding of the presented leaf, in :func:`describe_der`'s words.

    ``getpeercert()`` is empty without verification, but the presented chain's
    ``_ssl.Certificate.get_info()`` decodes the same fields; this spares a pinned
    self-signed server the ~45 ms import of ``cryptography``. None (so
    :func:`describe_der` does it) when anything is not exactly what describe_der
    would write: an attribute cryptography names by OID, a date or an address it
    would read differently, a leaf that is not ``der``. Like describe_der, only
    DNS names then IP addresses of the subjectAltName are listed, the addresses
    as :mod:`ipaddress` writes them ("::1", not OpenSSL's "0:0:0:0:0:0:0:1").
    """
    getter = getattr(getattr(ssl_object, "_sslobj", None), "get_unverified_chain", None)
    if getter is None or not der:
        return None
    try:
        chain = getter()
        leaf = chain[0] if chain else None
        if leaf is None or leaf.public_bytes(_ENCODING_DER) != der:
            return None
        info = leaf.get_info()
        alt_names = info.get("subjectAltName", ())
        dns = [f"DNS:{value}" for kind, value in alt_names if kind == "DNS"]
        ips = [
            f"IP Address:{ipaddress.ip_address(value)}"
            for kind, value in alt_names
            if kind == "IP Address"
        ]
        return {
            "subject": _rfc4514_text(info.get("subject", ())),
            "issuer": _rfc4514_text(info.get("issuer", ())),
            "sans": tuple(untrusted_text(name) for name in dns + ips),
            "not_before": _strict_openssl_date(info["notBefore"]),
            "not_after": _strict_openssl_date(info["notAfter"]),
        }
    except (KeyError, AttributeError, TypeError, ValueError, IndexError, ssl.SSLError):
        return None


def describe_der(
    der: bytes | None,
    *,
    version: str = "",
    cipher: str = "",
    verified: bool = False,
    verify_message: str = "",
    chain: tuple[str, ...] = (),
) -> TlsDetails:
    """Certificate details parsed from DER (the ssl module only parses verified certificates)."""
    if not der:
        return TlsDetails(version, cipher, "", "", (), "", "", "", verified, verify_message, chain)
    subject = issuer = not_before = not_after = ""
    sans: tuple[str, ...] = ()
    try:
        from cryptography import x509

        cert = x509.load_der_x509_certificate(der)
        subject = _x509_name_to_text(cert.subject)
        issuer = _x509_name_to_text(cert.issuer)
        not_before = cert.not_valid_before_utc.isoformat()
        not_after = cert.not_valid_after_utc.isoformat()
        try:
            ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
            names = [f"DNS:{n}" for n in ext.get_values_for_type(x509.DNSName)]
            names += [f"IP Address:{ip}" for ip in ext.get_values_for_type(x509.IPAddress)]
            sans = tuple(untrusted_text(n) for n in names)
        except x509.ExtensionNotFound:
            sans = ()
    except Exception:  # a malformed certificate still gets its fingerprint shown
        subject = subject or "(certificate could not be parsed)"
    return TlsDetails(
        version=version,
        cipher=cipher,
        subject=subject,
        issuer=issuer,
        sans=sans,
        not_before=not_before,
        not_after=not_after,
        fingerprint_sha256=fingerprint_of(der),
        verified=verified,
        verify_message=verify_message,
        chain=chain,
    )


def _chain_subjects(ssl_object: Any) -> tuple[str, ...]:
    """The subjects of the certificates the server presented, leaf first.

    The chain as sent (not as verified) is what explains "unable to get local
    issuer certificate": a server that forgot its intermediate shows a chain of
    one. The private ``_ssl._SSLSocket.get_unverified_chain()`` (since 3.10)
    gives ``_ssl.Certificate`` objects, which OpenSSL decodes for us
    (``get_info()``) without ``cryptography``: importing that costs about 45 ms,
    most of a send-test's own run, so it is left for certificates whose subject
    has an attribute :data:`_RFC4514_NAMES` does not know. The public
    ``SSLObject.get_unverified_chain()`` (3.13, DER bytes) is the fallback.
    """
    getter = getattr(getattr(ssl_object, "_sslobj", None), "get_unverified_chain", None)
    if getter is None:
        getter = getattr(ssl_object, "get_unverified_chain", None)
    if getter is None:
        return ()
    try:
        certs = getter() or []
    except (ssl.SSLError, ValueError):
        return ()
    return tuple(_chain_subject(cert) for cert in certs)


def _chain_subject(cert: Any) -> str:
    """One presented certificate's subject, written as :func:`_x509_name_to_text` writes it."""
    if isinstance(cert, bytes):  # 3.13's public method returns DER bytes
        return describe_der(cert).subject
    try:
        return _rfc4514_text(cert.get_info().get("subject", ()))
    except (KeyError, AttributeError, TypeError, ValueError, ssl.SSLError):
        # An attribute cryptography names by its dotted OID (emailAddress, serialNumber…),
        # or something OpenSSL would not decode: the same text, the slow way.
        return describe_der(cert.public_bytes(_ENCODING_DER)).subject


def _rfc4514_text(name: Any) -> str:
    """An OpenSSL-decoded name as :func:`_x509_name_to_text` writes it; KeyError for an
    attribute cryptography would write as a dotted OID."""
    return untrusted_text(
        ", ".join(f"{_RFC4514_NAMES[key]}={value}" for rdn in name for key, value in rdn)
    )


_RFC4514_NAMES = {
    "commonName": "CN",
    "localityName": "L",
    "stateOrProvinceName": "ST",
    "organizationName": "O",
    "organizationalUnitName": "OU",
    "countryName": "C",
    "streetAddress": "STREET",
    "domainComponent": "DC",
    "userId": "UID",
}
"""OpenSSL's long names of the attributes cryptography's ``rfc4514_attribute_name``
abbreviates (its ``_NAMEOID_TO_NAME``); it writes every other one as a dotted OID."""

_ENCODING_DER: int = ssl._ssl.ENCODING_DER  # type: ignore[attr-defined]
