"""Names and identifiers that end up on the wire: host names, EHLO names, fingerprints.

One implementation each, used by validation, the SMTP engine, the message
builder and the exports, so that what ``check --offline`` accepts is exactly
what ``send-test`` sends. Every function rejects; none repairs.
"""

from __future__ import annotations

import ipaddress
import re

_LDH_LABEL = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)")
_HEX64 = re.compile(r"[0-9a-f]{64}")
LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain"})


def _strict_ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    # ipaddress accepts neither zone IDs (fe80::1%eth0) nor legacy forms
    # (1.2.3 for 1.2.0.3) that getaddrinfo would: both are refused upstream.
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def check_hostname_syntax(name: str) -> None:
    """LDH labels, 1-63 characters each, 253 in all; ValueError otherwise."""
    if len(name) > 253:
        raise ValueError("is longer than 253 characters")
    for label in name.split("."):
        if not _LDH_LABEL.fullmatch(label):
            raise ValueError(
                f"has an invalid label {label!r}: letters, digits and inner hyphens only, 1 to 63 long"
            )


def parse_host(host: str) -> tuple[str, bool]:
    """The name to resolve and verify (A-labels for IDN, lower case, no trailing dot; an IP
    address in its canonical form, brackets removed) and whether it is an IP address.

    Raises ValueError with a message that completes "smtp.host …".
    """
    name = host.strip()
    if name.startswith("[") and name.endswith("]"):
        name = name[1:-1]
    if not name:
        raise ValueError("is empty")
    if address := _strict_ip(name):
        return str(address), True
    if "%" in name:
        raise ValueError("has a zone ID (%…); use a routable address or a name")
    name = name.rstrip(".")
    if not name:
        raise ValueError("is empty")
    if not name.isascii():
        import idna  # only for internationalised names

        try:
            name = idna.encode(name, uts46=True).decode("ascii")
        except (idna.IDNAError, UnicodeError) as exc:
            raise ValueError(f"is not a valid internationalised domain name ({exc})") from None
    if re.fullmatch(r"[0-9.]+", name):
        raise ValueError("is not a valid IPv4 address (four numbers from 0 to 255)")
    check_hostname_syntax(name)
    return name.lower(), False


def host_to_ascii(host: str) -> str:
    """The host as it goes on the wire; ValueError when it is not a valid name or address."""
    return parse_host(host)[0]


def is_ip_literal(host: str) -> bool:
    text = host.strip()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    return _strict_ip(text) is not None


def is_loopback(host: str) -> bool:
    text = host.strip().strip("[]").lower().rstrip(".")
    if text in LOOPBACK_NAMES:
        return True
    address = _strict_ip(text)
    return address is not None and address.is_loopback


def address_literal(ip: str) -> str:
    """An IP address as an SMTP address literal: ``[192.0.2.1]``, ``[IPv6:2001:db8::1]``."""
    parsed = ipaddress.ip_address(ip.split("%", 1)[0])
    return f"[{parsed}]" if parsed.version == 4 else f"[IPv6:{parsed}]"


def validate_ehlo_name(name: str) -> str:
    """A domain name or an address literal (``[192.0.2.1]``, ``[IPv6:2001:db8::1]``, RFC 5321).

    Never repaired: a bare IP address is rejected with the literal to use instead.
    """
    value = name.strip()
    if value.startswith("[") and value.endswith("]"):
        inner = value[1:-1]
        is_v6_tagged = inner.lower().startswith("ipv6:")
        address = _strict_ip(inner[5:] if is_v6_tagged else inner)
        if address is None:
            raise ValueError(f"{name!r} is not a valid address literal")
        if address.version == 6 and not is_v6_tagged:
            raise ValueError(f"an IPv6 address literal is written [IPv6:{address}]")
        if address.version == 4 and is_v6_tagged:
            raise ValueError(f"an IPv4 address literal is written [{address}]")
        return value
    if address := _strict_ip(value):
        raise ValueError(
            f"an IP address is written as an address literal in EHLO: {address_literal(str(address))}"
        )
    if not value.isascii():
        raise ValueError("the EHLO name must be ASCII (use the A-label form of an IDN)")
    try:
        check_hostname_syntax(value.rstrip("."))
    except ValueError as exc:
        raise ValueError(f"{name!r} is not a valid EHLO name: it {exc}") from None
    return value.rstrip(".")


class FingerprintFormatError(ValueError):
    pass


def normalize_fingerprint(value: str) -> str:
    """``AB:CD:…`` (upper case, colon-separated) from any case, with or without colons.

    Also accepts a leading ``sha256:`` or ``SHA256 Fingerprint=`` as openssl prints it.
    """
    text = value.strip().lower()
    for prefix in ("sha256 fingerprint=", "sha256:", "sha256="):
        if text.startswith(prefix):
            text = text[len(prefix) :]
    text = re.sub(r"[\s:]", "", text)
    if not _HEX64.fullmatch(text):
        raise FingerprintFormatError(
            "a SHA-256 fingerprint is 64 hexadecimal digits (colons optional), as "
            "`openssl x509 -noout -fingerprint -sha256` prints it"
        )
    return format_hex(text)


def format_hex(hex_digits: str) -> str:
    upper = hex_digits.upper()
    return ":".join(upper[i : i + 2] for i in range(0, len(upper), 2))
