"""SPF by evaluation: RFC 7208 ``check_host()``.

Every mechanism and modifier, macros, include/redirect semantics, the limits
of 10 DNS-querying terms and 2 void lookups, and the limits of 10 names inside
``mx`` and ``ptr``. DNS goes through a :class:`Lookup` seam, so that the same
code runs against a real resolver (:mod:`tui_mailsetup.engine.dns`) and against
the zone data of the RFC 7208 test suite.

Results: pass, fail, softfail, neutral, none, permerror, temperror, each with
the reason, the DNS-querying terms and void lookups counted, and the record.
"""

from __future__ import annotations

import ipaddress
import re
import time
import urllib.parse
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

MAX_LOOKUPS = 10
MAX_VOID_LOOKUPS = 2
MAX_NAMES = 10
DEFAULT_EXPLANATION = "{term} in the record of {domain} matched {ip}: not authorised"
"""For a fail without a usable exp=; ``{term}``, ``{domain}`` and ``{ip}`` are filled in."""


class TempFail(Exception):
    """A lookup that failed (timeout, SERVFAIL, refused): not the same as 'no such record'."""


Lookup = Callable[[str, str], Awaitable[list[str]]]
"""``await lookup(name, rdtype)``: the records as text (TXT strings joined, MX as
"pref host"), [] for NXDOMAIN or no data; raises :class:`TempFail` when the
lookup itself failed."""


class _PermError(Exception):
    pass


class _TempError(Exception):
    pass


@dataclass
class SpfResult:
    result: str
    """pass, fail, softfail, neutral, none, permerror or temperror."""
    explanation: str
    """Why: the mechanism that matched, the error, or the domain's exp= text for a fail."""
    lookups: int = 0
    void_lookups: int = 0
    record: str = ""
    """The SPF record of the domain asked about ("" when there is none)."""
    domain: str = ""
    mechanism: str = ""
    """The term that decided ("include:_spf.google.com", "-all"), or ""."""

    def to_json(self) -> dict[str, Any]:
        return {
            "result": self.result,
            "explanation": self.explanation,
            "lookups": self.lookups,
            "void_lookups": self.void_lookups,
            "record": self.record,
            "domain": self.domain,
            "mechanism": self.mechanism,
        }


_QUALIFIERS = {"+": "pass", "-": "fail", "~": "softfail", "?": "neutral"}
_MECHANISMS = ("all", "include", "a", "mx", "ptr", "ip4", "ip6", "exists")
_MACRO = re.compile(r"%(?:\{([a-zA-Z])(\d*)(r?)([.\-+,/_=]*)\}|(.)|$)")
_TOPLABEL = re.compile(
    r"^(?:[A-Za-z0-9]*[A-Za-z][A-Za-z0-9]*|[A-Za-z0-9]+-[A-Za-z0-9\-]*[A-Za-z0-9])$"
)
_IP4 = re.compile(
    r"^(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?:\.(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$"
)
_CIDR4 = re.compile(r"^(?:0|[1-9]\d?)$")


@dataclass
class _Term:
    qualifier: str
    name: str
    argument: str | None
    cidr4: int | None = None
    cidr6: int | None = None
    text: str = ""


@dataclass
class _Record:
    directives: list[_Term] = field(default_factory=list)
    redirect: str | None = None
    exp: str | None = None


def is_spf_record(text: str) -> bool:
    return text[:6].lower() == "v=spf1" and (len(text) == 6 or text[6] == " ")


def valid_domain(domain: str) -> bool:
    """A multi-label name with no empty or over-long label (RFC 7208 §4.3)."""
    name = domain[:-1] if domain.endswith(".") else domain
    labels = name.split(".")
    return len(labels) > 1 and all(0 < len(label) <= 63 for label in labels)


def _split_cidr(argument: str) -> tuple[str, int | None, int | None]:
    """'example.com/24//64' → ('example.com', 24, 64); a bad length is a permerror."""
    cidr4: int | None = None
    cidr6: int | None = None
    # A "/" followed by other than digits belongs to the domain-spec (RFC 7208 §7.1).
    if match := re.search(r"//(\d+)$", argument):
        if not re.fullmatch(r"0|[1-9]\d{0,2}", match.group(1)) or int(match.group(1)) > 128:
            raise _PermError(f"bad IPv6 CIDR length /{match.group(1)}")
        cidr6 = int(match.group(1))
        argument = argument[: match.start()]
    if match := re.search(r"/(\d+)$", argument):
        if not _CIDR4.fullmatch(match.group(1)) or int(match.group(1)) > 32:
            raise _PermError(f"bad IPv4 CIDR length /{match.group(1)}")
        cidr4 = int(match.group(1))
        argument = argument[: match.start()]
    return argument, cidr4, cidr6


def _check_domain_spec(spec: str) -> None:
    """domain-spec = macro-string domain-end (RFC 7208 §7.1); raises on bad syntax."""
    _check_macro_string(spec)
    if not spec:
        raise _PermError("empty domain-spec")
    body = spec[:-1] if spec.endswith(".") else spec
    if body.endswith("}") and re.search(r"%\{[a-zA-Z]\d*r?[.\-+,/_=]*\}$", body):
        return
    if "." not in body:
        raise _PermError(f"domain-spec {spec!r} does not end in a top-level label")
    toplabel = body.rpartition(".")[2]
    if not _TOPLABEL.fullmatch(toplabel):
        raise _PermError(f"domain-spec {spec!r} ends in the invalid top-level label {toplabel!r}")


def _check_macro_string(text: str, *, exp: bool = False) -> None:
    index = 0
    while True:
        index = text.find("%", index)
        if index < 0:
            return
        match = _MACRO.match(text, index)
        if match is None or match.group(0) == "%":
            raise _PermError(f"a lone % in {text!r}")
        letter, other = match.group(1), match.group(5)
        if letter is not None:
            if letter.lower() not in "sloidpvh" + ("crt" if exp else ""):
                raise _PermError(f"unknown macro letter %{{{letter}}}")
        elif other not in ("%", "_", "-"):
            raise _PermError(f"bad macro %{other} in {text!r}")
        index = match.end()


def parse_record(record: str) -> _Record:
    """Parse a whole record first: any syntax error is a permerror (RFC 7208 §4.6)."""
    if any(ord(c) > 127 for c in record):
        raise _PermError("the record contains non-ASCII characters")
    if any(ord(c) < 32 or ord(c) == 127 for c in record):
        raise _PermError(
            "the record contains a control character (terms are separated by spaces only)"
        )
    parsed = _Record()
    for text in record.split(" ")[1:]:
        if not text:
            continue
        modifier = re.match(r"^([A-Za-z][A-Za-z0-9\-_.]*)=(.*)$", text)
        if modifier and modifier.group(1).lower() not in _MECHANISMS:
            name, value = modifier.group(1).lower(), modifier.group(2)
            if name in ("redirect", "exp"):
                if getattr(parsed, name) is not None:
                    raise _PermError(f"{name}= appears twice")
                _check_domain_spec(value)
                setattr(parsed, name, value)
            else:
                _check_macro_string(value)  # unknown modifiers are ignored, but must parse
            continue
        qualifier = "+"
        if text[0] in _QUALIFIERS:
            qualifier, text_body = text[0], text[1:]
        else:
            text_body = text
        match = re.match(r"^([A-Za-z0-9]+)([:/].*)?$", text_body)
        if not match or match.group(1).lower() not in _MECHANISMS:
            raise _PermError(f"unknown mechanism {text!r}")
        name, rest = match.group(1).lower(), match.group(2) or ""
        term = _Term(qualifier, name, None, text=text)
        if name == "all":
            if rest:
                raise _PermError(f"'all' takes no argument: {text!r}")
        elif name in ("include", "exists"):
            if not rest.startswith(":") or len(rest) == 1:
                raise _PermError(f"{name} needs a domain: {text!r}")
            term.argument = rest[1:]
            _check_domain_spec(term.argument)
        elif name in ("a", "mx"):
            if rest.startswith(":"):
                spec, term.cidr4, term.cidr6 = _split_cidr(rest[1:])
                if not spec:
                    raise _PermError(f"empty domain in {text!r}")
                _check_domain_spec(spec)
                term.argument = spec
            elif rest:
                empty, term.cidr4, term.cidr6 = _split_cidr(rest)
                if empty:
                    raise _PermError(f"bad syntax: {text!r}")
        elif name == "ptr":
            if rest:
                if not rest.startswith(":") or len(rest) == 1:
                    raise _PermError(f"bad syntax: {text!r}")
                term.argument = rest[1:]
                _check_domain_spec(term.argument)
        elif name == "ip4":
            if not rest.startswith(":"):
                raise _PermError(f"ip4 needs an address: {text!r}")
            address, _, length = rest[1:].partition("/")
            if not _IP4.fullmatch(address):
                raise _PermError(f"{address!r} is not an IPv4 address")
            if "/" in rest:
                if not _CIDR4.fullmatch(length) or int(length) > 32:
                    raise _PermError(f"bad IPv4 CIDR length /{length} in {text!r}")
                term.cidr4 = int(length)
            term.argument = address
        elif name == "ip6":
            if not rest.startswith(":"):
                raise _PermError(f"ip6 needs an address: {text!r}")
            address, _, length = rest[1:].partition("/")
            try:
                ipaddress.IPv6Address(address)
            except ValueError:
                raise _PermError(f"{address!r} is not an IPv6 address") from None
            if "/" in rest:
                if not re.fullmatch(r"0|[1-9]\d{0,2}", length) or int(length) > 128:
                    raise _PermError(f"bad IPv6 CIDR length /{length} in {text!r}")
                term.cidr6 = int(length)
            term.argument = address
        parsed.directives.append(term)
    return parsed


def _reverse_name(ip: IPAddress) -> str:
    if ip.version == 4:
        return ".".join(reversed(str(ip).split("."))) + ".in-addr.arpa"
    return ".".join(reversed(ip.exploded.replace(":", ""))) + ".ip6.arpa"


def _in_network(ip: IPAddress, address: str, length: int | None) -> bool:
    try:
        other = ipaddress.ip_address(address)
    except ValueError:
        return False
    if other.version != ip.version:
        return False
    bits = 32 if ip.version == 4 else 128
    network = ipaddress.ip_network(f"{other}/{bits if length is None else length}", strict=False)
    return ip in network


class _Evaluation:
    """One check_host() run and the recursions below it (include, redirect)."""

    def __init__(
        self, lookup: Lookup, ip: IPAddress, sender: str, helo: str, default_explanation: str
    ) -> None:
        self.lookup = lookup
        self.default_explanation = default_explanation
        self.ip = ip
        self.sender = sender
        self.helo = helo
        self.lookups = 0
        self.void_lookups = 0
        self._validated_cache: dict[str, list[str]] = {}

    # -- DNS -----------------------------------------------------------------

    async def query(self, name: str, rdtype: str) -> list[str]:
        if not valid_domain(name):
            return []
        try:
            return await self.lookup(name.rstrip("."), rdtype)
        except TempFail as exc:
            raise _TempError(str(exc)) from exc

    def count(self, term: str) -> None:
        self.lookups += 1
        if self.lookups > MAX_LOOKUPS:
            raise _PermError(
                f"more than {MAX_LOOKUPS} DNS-querying terms (at {term}): receivers stop and fail SPF"
            )

    def void(self, records: list[str], name: str) -> list[str]:
        if not records:
            self.void_lookups += 1
            if self.void_lookups > MAX_VOID_LOOKUPS:
                raise _PermError(
                    f"more than {MAX_VOID_LOOKUPS} lookups returned nothing (at {name})"
                )
        return records

    async def addresses(self, name: str) -> list[str]:
        return await self.query(name, "A" if self.ip.version == 4 else "AAAA")

    # -- macros ----------------------------------------------------------------

    async def expand(self, text: str, domain: str, *, exp: bool = False) -> str:
        out: list[str] = []
        index = 0
        while True:
            found = text.find("%", index)
            if found < 0:
                out.append(text[index:])
                break
            out.append(text[index:found])
            match = _MACRO.match(text, found)
            if match is None or match.group(0) == "%":
                raise _PermError(f"a lone % in {text!r}")
            index = match.end()
            if match.group(1) is None:
                other = match.group(5)
                if other not in ("%", "_", "-"):
                    raise _PermError(f"bad macro %{other}")
                out.append({"%": "%", "_": " ", "-": "%20"}[other])
                continue
            letter, digits, reverse, delimiters = match.groups()[:4]
            value = await self._macro_value(letter.lower(), domain, exp=exp)
            parts = re.split("[" + re.escape(delimiters or ".") + "]", value)
            if reverse:
                parts.reverse()
            if digits:
                count = int(digits)
                if count == 0:
                    raise _PermError("a macro keeps zero labels")
                parts = parts[-count:]
            value = ".".join(parts)
            if letter.isupper():
                value = urllib.parse.quote(value, safe="-._~")
            out.append(value)
        return "".join(out)

    async def _macro_value(self, letter: str, domain: str, *, exp: bool) -> str:
        local, _, sender_domain = self.sender.rpartition("@")
        if letter == "s":
            return self.sender
        if letter == "l":
            return local
        if letter == "o":
            return sender_domain
        if letter == "d":
            return domain
        if letter == "i":
            if self.ip.version == 4:
                return str(self.ip)
            # Upper-case nibbles, as the RFC 7208 test suite expects (DNS ignores case).
            return ".".join(self.ip.exploded.replace(":", "").upper())
        if letter == "p":
            return await self._validated_name(domain)
        if letter == "v":
            return "in-addr" if self.ip.version == 4 else "ip6"
        if letter == "h":
            return self.helo
        if exp and letter == "c":
            return str(self.ip)
        if exp and letter == "r":
            return "unknown"
        if exp and letter == "t":
            return str(int(time.time()))
        raise _PermError(f"unknown macro letter %{{{letter}}}")

    async def _validated_name(self, domain: str) -> str:
        try:
            names = await self._validated_names()
        except _TempError:
            return "unknown"
        target = domain.lower().rstrip(".")
        for name in names:
            if name == target:
                return name
        for name in names:
            if name.endswith("." + target):
                return name
        return names[0] if names else "unknown"

    async def _validated_names(self) -> list[str]:
        key = "names"
        if key in self._validated_cache:
            return self._validated_cache[key]
        names = [n.lower().rstrip(".") for n in await self.query(_reverse_name(self.ip), "PTR")]
        validated: list[str] = []
        for name in names[:MAX_NAMES]:
            # A lookup that fails here is a temperror like any other (issue 21): skipping the
            # name (RFC 7208 §5.5) would turn one timeout into a fail for a permitted sender.
            addresses = await self.addresses(name)
            if any(_in_network(self.ip, a, None) for a in addresses):
                validated.append(name)
        self._validated_cache[key] = validated
        return validated

    async def target(self, spec: str, domain: str) -> str:
        name = (await self.expand(spec, domain)).rstrip(".")
        while len(name) > 253 and "." in name:
            name = name.partition(".")[2]
        return name

    # -- check_host ------------------------------------------------------------

    async def check_host(self, domain: str, depth: int = 0) -> tuple[str, str, str, str]:
        """(result, explanation, record, deciding term)."""
        if not valid_domain(domain):
            return "none", f"{domain!r} is not a valid domain name", "", ""
        try:
            records = [r for r in await self.query(domain, "TXT") if is_spf_record(r)]
        except _TempError as exc:
            return "temperror", f"the TXT lookup of {domain} failed: {exc}", "", ""
        if not records:
            return "none", f"{domain} publishes no SPF record", "", ""
        if len(records) > 1:
            return (
                "permerror",
                f"{domain} publishes {len(records)} SPF records (RFC 7208 §4.5 allows one)",
                records[0],
                "",
            )
        record = records[0]
        try:
            parsed = parse_record(record)
            result, explanation, term = await self._evaluate(parsed, domain, depth)
        except _PermError as exc:
            return "permerror", str(exc), record, ""
        except _TempError as exc:
            return "temperror", f"a lookup failed: {exc}", record, ""
        return result, explanation, record, term

    async def _evaluate(self, parsed: _Record, domain: str, depth: int) -> tuple[str, str, str]:
        for term in parsed.directives:
            if await self._matches(term, domain, depth):
                result = _QUALIFIERS[term.qualifier]
                if result == "fail":
                    explanation = await self._explain(parsed, domain)
                    if explanation is None:
                        explanation = self.default_explanation.format(
                            term=term.text, domain=domain, ip=self.ip
                        )
                    return result, explanation, term.text
                return result, f"{term.text} in the record of {domain} matched {self.ip}", term.text
        if parsed.redirect is not None:
            self.count(f"redirect={parsed.redirect}")
            target = await self.target(parsed.redirect, domain)
            result, explanation, _, decided = await self.check_host(target, depth + 1)
            if result == "none":
                raise _PermError(f"redirect={target}: {explanation}")
            return result, explanation, decided
        return "neutral", f"no term of {domain}'s record matched {self.ip} (default ?all)", ""

    async def _explain(self, parsed: _Record, domain: str) -> str | None:
        """The domain's exp= text, or None (then the default explanation)."""
        if parsed.exp is None:
            return None
        try:
            name = await self.target(parsed.exp, domain)
            texts = await self.query(name, "TXT")
            if len(texts) != 1 or any(ord(c) > 127 for c in texts[0]):
                return None
            _check_macro_string(texts[0], exp=True)
            return await self.expand(texts[0], domain, exp=True)
        except (_PermError, _TempError):
            return None

    async def _matches(self, term: _Term, domain: str, depth: int) -> bool:
        name = term.name
        if name == "all":
            return True
        if name == "ip4":
            return self.ip.version == 4 and _in_network(self.ip, term.argument or "", term.cidr4)
        if name == "ip6":
            return self.ip.version == 6 and _in_network(self.ip, term.argument or "", term.cidr6)
        self.count(term.text)
        target = domain if term.argument is None else await self.target(term.argument, domain)
        if name == "include":
            result, explanation, _, _ = await self.check_host(target, depth + 1)
            if result == "pass":
                return True
            if result in ("fail", "softfail", "neutral"):
                return False
            if result == "temperror":
                raise _TempError(f"include:{target}: {explanation}")
            raise _PermError(f"include:{target}: {explanation}")
        if name == "exists":
            return bool(self.void(await self.query(target, "A"), target))
        if name == "a":
            addresses = self.void(await self.addresses(target), target)
            return self._cidr_match(addresses, term)
        if name == "mx":
            hosts = [r.split()[-1] for r in self.void(await self.query(target, "MX"), target)]
            if len(hosts) > MAX_NAMES:
                raise _PermError(f"{target} has {len(hosts)} MX records (at most {MAX_NAMES})")
            for host in hosts:
                if host == ".":
                    continue
                if self._cidr_match(await self.addresses(host.rstrip(".")), term):
                    return True
            return False
        if name == "ptr":
            wanted = target.lower().rstrip(".")
            # A PTR or A/AAAA lookup that fails is a temperror, never "no match" (that would
            # let the final -all decide: a fail for a permitted sender).
            names = await self._validated_names()
            return any(n == wanted or n.endswith("." + wanted) for n in names)
        raise _PermError(f"unknown mechanism {term.text!r}")

    def _cidr_match(self, addresses: list[str], term: _Term) -> bool:
        length = term.cidr4 if self.ip.version == 4 else term.cidr6
        return any(_in_network(self.ip, address, length) for address in addresses)


async def check_host(
    ip: str,
    domain: str,
    *,
    lookup: Lookup,
    sender: str = "",
    helo: str = "",
    default_explanation: str = DEFAULT_EXPLANATION,
) -> SpfResult:
    """RFC 7208 check_host(): may ``ip`` send mail for ``domain`` (from ``sender``)?

    ``sender`` empty means the HELO identity (postmaster@``helo``, or @``domain``);
    a sender without a local part gets ``postmaster``.
    """
    try:
        address: IPAddress = ipaddress.ip_address(ip)
    except ValueError as exc:
        raise ValueError(f"{ip!r} is not an IP address") from exc
    if address.version == 6 and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    domain = domain.strip().rstrip(".")
    if not sender:
        sender = f"postmaster@{helo or domain}"
    elif "@" not in sender:
        sender = f"postmaster@{sender}"
    elif sender.startswith("@"):
        sender = "postmaster" + sender
    evaluation = _Evaluation(lookup, address, sender, helo or domain, default_explanation)
    result, explanation, record, term = await evaluation.check_host(domain)
    return SpfResult(
        result,
        explanation,
        min(evaluation.lookups, MAX_LOOKUPS + 1),
        evaluation.void_lookups,
        record,
        domain,
        term,
    )


def fix_for_fail(record: str, include: str = "", address: str = "") -> str:
    """The record changed so that ``include`` (or ``address``) is authorised, before the final all."""
    if include:
        new_term = f"include:{include}"
    elif address:
        new_term = f"ip{6 if ':' in address else 4}:{address}"
    else:
        return record
    if not record:
        return f"v=spf1 {new_term} ~all"
    terms = record.split()
    for index, term in enumerate(terms):
        body = term.lstrip("+-~?").lower()
        if body == "all" or body.startswith("redirect="):
            return " ".join([*terms[:index], new_term, *terms[index:]])
    return " ".join([*terms, new_term])
