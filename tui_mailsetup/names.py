"""Names and identifiers that end up on the wire: host names, EHLO names, fingerprints, addresses.

One implementation each, used by validation, the SMTP engine, the message
builder and the exports, so that what ``check --offline`` accepts is exactly
what ``send-test`` sends. Every function rejects; none repairs.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

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


# --------------------------------------------------------------------------- addresses

LOCAL_PART_MAX = 64
"""RFC 5321 4.5.3.1.1: octets in a local part."""
DOMAIN_MAX = 255
"""RFC 5321 4.5.3.1.2: octets in a domain."""
ADDRESS_MAX = 254
"""RFC 5321 4.5.3.1.3: a path is at most 256 octets, angle brackets included."""

INTERNAL_SUFFIXES = (
    "home.arpa",
    "local",
    "localdomain",
    "localhost",
    "test",
    "internal",
    "intranet",
    "lan",
    "home",
    "corp",
    "private",
)
"""Domains that exist only inside a network (RFC 6761, RFC 6762, RFC 8375, ICANN's
.internal, and names companies use in practice): mail there is a warning, not an error."""

_ATEXT = re.compile(r"[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~]")
_QTEXT = re.compile(r"[\x20\x21\x23-\x5b\x5d-\x7e]")


class AddressError(ValueError):
    """An address that cannot be used as it is; the message names it (neutralised) and says why."""


@dataclass(frozen=True)
class Mailbox:
    """An address that passed :func:`check_address`, exactly as given, and its parts."""

    address: str
    local: str
    """The local part as written (a quoted string keeps its quotes)."""
    domain: str
    """The domain as written, or the address literal with its brackets."""
    ascii_domain: str
    """The domain as it goes on the wire (A-labels, lower case), or the literal."""
    is_literal: bool
    smtputf8: bool
    """The local part is not ASCII: the server must offer SMTPUTF8."""

    @property
    def unquoted_local(self) -> str:
        if self.local.startswith('"'):
            return re.sub(r"\\(.)", r"\1", self.local[1:-1])
        return self.local


def _shown(text: str) -> str:
    from tui_mailsetup.sanitize import untrusted_text

    return "'" + untrusted_text(text, limit=80) + "'"


def _unusable_char(char: str) -> bool:
    import unicodedata

    return unicodedata.category(char)[0] in {"C", "Z"}


def _check_local_part(local: str) -> str | None:
    """Why ``local`` is not an RFC 5321 (RFC 6531) local part, or None."""
    if not local:
        return "nothing before the @"
    if len(local.encode("utf-8", "surrogatepass")) > LOCAL_PART_MAX:
        return f"the part before the @ is longer than {LOCAL_PART_MAX} octets"
    if local.startswith('"'):
        if len(local) < 2 or not local.endswith('"'):
            return "an unterminated quoted string before the @"
        inner = local[1:-1]
        position = 0
        while position < len(inner):
            char = inner[position]
            if char == "\\":
                if position + 1 >= len(inner) or not ("\x20" <= inner[position + 1] <= "\x7e"):
                    return (
                        "a backslash in the quoted string is not followed by a printable character"
                    )
                position += 2
                continue
            if not _QTEXT.fullmatch(char):
                return f"the quoted string contains {_describe_char(char)}"
            position += 1
        return None
    for atom in local.split("."):
        if not atom:
            return "the part before the @ has an empty dot-separated part (.. or a dot at an end)"
        for char in atom:
            if char.isascii():
                if not _ATEXT.fullmatch(char):
                    return f"the part before the @ contains {_describe_char(char)}" + (
                        " (comments, spaces and display names are not part of an address)"
                        if char in ' ()<>"'
                        else ""
                    )
            elif _unusable_char(char):
                return f"the part before the @ contains {_describe_char(char)}"
    return None


def _describe_char(char: str) -> str:
    code = ord(char)
    if char == " ":
        return "a space"
    if code < 0x20 or 0x7F <= code <= 0x9F or _unusable_char(char):
        return f"the character U+{code:04X}"
    return f"{char!r}"


def check_address(address: str) -> Mailbox:
    """The one address check (sender, every recipient): RFC 5321 syntax, strict, never repaired.

    ``alice @example.test``, ``Alice <alice@example.test>``, comments, a trailing dot,
    a local part over 64 octets or a domain over 255 are refused with AddressError.
    Internal and special-use domains pass (see :func:`internal_domain_reason`).
    """
    if not isinstance(address, str) or not address:
        raise AddressError("the address is empty")
    shown = _shown(address)

    def refuse(reason: str) -> AddressError:
        return AddressError(f"{shown} is not a valid email address: {reason}")

    if any(0xD800 <= ord(c) <= 0xDFFF for c in address):
        raise refuse("it contains bytes that are not UTF-8 text")
    if len(address.encode("utf-8")) > ADDRESS_MAX:
        raise refuse(f"it is longer than {ADDRESS_MAX} octets")
    local, at, domain = address.rpartition("@")
    if not at:
        raise refuse("it has no @")
    if reason := _check_local_part(local):
        raise refuse(reason)
    if not domain:
        raise refuse("nothing after the @")
    if domain.startswith("[") and domain.endswith("]"):
        try:
            literal = validate_ehlo_name(domain)
        except ValueError as exc:
            raise refuse(str(exc)) from None
        return Mailbox(address, local, domain, literal, True, not local.isascii())
    if any(_unusable_char(c) for c in domain):
        bad = next(c for c in domain if _unusable_char(c))
        raise refuse(f"the part after the @ contains {_describe_char(bad)}")
    if domain.endswith("."):
        raise refuse("the domain ends with a dot")
    if _strict_ip(domain) or re.fullmatch(r"[0-9.]+", domain):
        raise refuse(
            "an IP address after the @ is written as an address literal, e.g. user@[192.0.2.1]"
        )
    if len(domain.encode("utf-8")) > DOMAIN_MAX:
        raise refuse(f"the domain is longer than {DOMAIN_MAX} octets")
    try:
        ascii_domain, _ = parse_host(domain)
    except ValueError as exc:
        raise refuse(f"the domain {exc}") from None
    return Mailbox(address, local, domain, ascii_domain, False, not local.isascii())


def internal_domain_reason(mailbox: Mailbox) -> str | None:
    """Why mail for ``mailbox`` can only work inside a network (an address literal, a
    single-label or special-use domain), or None for a public domain."""
    if mailbox.is_literal:
        return "an address literal (an IP address instead of a domain)"
    domain = mailbox.ascii_domain
    if "." not in domain:
        return f"a single-label domain ({domain})"
    for suffix in INTERNAL_SUFFIXES:
        if domain == suffix or domain.endswith("." + suffix):
            return f"an internal or special-use domain (.{suffix})"
    return None


def check_host_value(host: str) -> None:
    """A value for smtp.host that is wrong on its own (a URL, spaces, a port, a bad name);
    ValueError with a message completing "smtp.host …". Empty is not checked here."""
    if "://" in host:
        raise ValueError("is a URL; the host is only the server's name")
    if host != host.strip() or " " in host:
        raise ValueError("contains spaces")
    if host.count(":") == 1 and not host.startswith("["):
        raise ValueError("includes a port; the port has its own key, smtp.port")
    parse_host(host)


def check_nameserver(entry: str) -> None:
    """A resolver address: an IP address with an optional port (``127.0.0.1:5353``,
    ``[::1]:53``); ValueError otherwise."""
    host, port = entry, ""
    if entry.startswith("["):
        host, _, rest = entry[1:].partition("]")
        port = rest.removeprefix(":")
    elif entry.count(":") == 1:
        host, _, port = entry.partition(":")
    if not is_ip_literal(host) or (port and not (port.isdigit() and 0 < int(port) < 65536)):
        raise ValueError(
            f"{entry!r} is not a resolver address: an IP address with an optional port, "
            "e.g. 127.0.0.1:5353 or [::1]:53"
        )
