"""DKIM key records (RFC 6376 §3.6.1, RFC 8301, RFC 8463): the key parsed, not just present.

A receiver verifies a signature with the key in ``p=``: a value that is not a
public key, an RSA key under 1024 bits (RFC 8301 §3.2: verifiers must not
accept them) or an Ed25519 key that is not 32 bytes fails every signature.
``cryptography`` (a core dependency) is imported only when a key is parsed.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass

from tui_mailsetup.findings import Severity

MIN_RSA_BITS = 1024
"""RFC 8301 §3.2: verifiers must not accept signatures made with smaller RSA keys."""
RECOMMENDED_RSA_BITS = 2048
"""RFC 8301 §3.2: signers should use at least this."""


@dataclass(frozen=True)
class DkimKey:
    """What one selector's key record says, as a receiver would judge it."""

    severity: Severity
    description: str
    """"RSA 2048-bit key", "revoked (empty p=)", "p= is not a valid RSA public key: …"."""
    revoked: bool = False


def dkim_tags(record: str) -> dict[str, str]:
    """tag=value pairs of a DKIM key record (names lower-cased, whitespace around kept out)."""
    tags: dict[str, str] = {}
    for part in record.split(";"):
        name, sep, value = part.partition("=")
        if sep and name.strip():
            tags.setdefault(name.strip().lower(), value.strip())
    return tags


def parse_dkim_key(record: str) -> DkimKey:
    """Judge one key record: version, key type, the key itself, the testing flag."""
    tags = dkim_tags(record)
    version = tags.get("v")
    if version is not None and version != "DKIM1":
        return DkimKey(
            Severity.ERROR, f"v={version} is not DKIM1: receivers ignore the record (RFC 6376)"
        )
    if "p" not in tags:
        return DkimKey(Severity.ERROR, "the record has no p= (public key)")
    data = re.sub(r"\s+", "", tags["p"])
    if not data:
        return DkimKey(Severity.WARNING, "revoked (empty p=)", revoked=True)
    key_type = tags.get("k", "rsa").lower()
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        return DkimKey(Severity.ERROR, "p= is not valid base64: receivers cannot load the key")
    if key_type == "rsa":
        judged = _rsa(raw)
    elif key_type == "ed25519":
        judged = _ed25519(raw)
    else:
        return DkimKey(
            Severity.ERROR, f"k={key_type} is not a key type receivers know (rsa, ed25519)"
        )
    flags = [f.strip().lower() for f in tags.get("t", "").split(":")]
    if "y" in flags and judged.severity is not Severity.ERROR:
        return DkimKey(
            Severity.WARNING,
            f"{judged.description}; testing mode (t=y): receivers treat signed mail as "
            "unsigned (RFC 6376 §3.6.1)",
        )
    return judged


def _rsa(raw: bytes) -> DkimKey:
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    try:
        key = serialization.load_der_public_key(raw)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        try:
            # Some signers publish the bare PKCS#1 RSAPublicKey; verifiers accept it.
            pem = b"-----BEGIN RSA PUBLIC KEY-----\n%s\n-----END RSA PUBLIC KEY-----\n" % (
                base64.encodebytes(raw)
            )
            key = serialization.load_pem_public_key(pem)
        except (ValueError, TypeError, UnsupportedAlgorithm):
            return DkimKey(
                Severity.ERROR,
                f"p= is not a valid RSA public key ({len(raw)} bytes that do not decode as "
                "one; cut short or mistyped?): receivers fail every signature",
            )
    if not isinstance(key, rsa.RSAPublicKey):
        return DkimKey(Severity.ERROR, "p= holds a key that is not RSA, but k= says rsa")
    bits = key.key_size
    if bits < MIN_RSA_BITS:
        return DkimKey(
            Severity.ERROR,
            f"RSA {bits}-bit key: receivers reject signatures from keys under "
            f"{MIN_RSA_BITS} bits (RFC 8301 §3.2)",
        )
    if bits < RECOMMENDED_RSA_BITS:
        return DkimKey(
            Severity.WARNING,
            f"RSA {bits}-bit key: weak; RFC 8301 §3.2 says to use {RECOMMENDED_RSA_BITS} bits",
        )
    return DkimKey(Severity.INFO, f"RSA {bits}-bit key")


def _ed25519(raw: bytes) -> DkimKey:
    if len(raw) != 32:
        return DkimKey(
            Severity.ERROR,
            f"k=ed25519 but p= is {len(raw)} bytes, not the 32 of an Ed25519 key (RFC 8463)",
        )
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    try:
        Ed25519PublicKey.from_public_bytes(raw)
    except ValueError as exc:
        return DkimKey(Severity.ERROR, f"p= is not a valid Ed25519 public key ({exc})")
    return DkimKey(Severity.INFO, "Ed25519 key")
