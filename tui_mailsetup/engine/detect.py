"""Autodetection of host, port and encryption from an email address or a domain.

As Thunderbird does it, all at once under one deadline (``detect.timeout``):

- the bundled presets: a known mailbox domain (gmail.com) answers at once,
  with no lookup and nothing sent anywhere;
- the domain's own autoconfig file (``https://autoconfig.<domain>/mail/config-v1.1.xml``,
  ``https://<domain>/.well-known/autoconfig/mail/config-v1.1.xml``);
- Thunderbird's ISPDB (``detect.ispdb``; the domain name is sent to it, and
  the result says so);
- RFC 6186 / RFC 8314 SRV records (``_submissions._tcp``, ``_submission._tcp``)
  in RFC 2782 order: lowest priority first, then implicit TLS, then highest weight;
- the provider the MX records reveal (bundled presets, then the ISPDB for the
  MX's domain);
- guesses (smtp.<domain>, mail.<domain> on 465 and 587), which are only ever
  proposed once a probe has verified them.

Every candidate is probed as soon as it is known (:mod:`tui_mailsetup.engine.probe`),
in parallel. Only what worked is recommended (issue 21): with probes on, a
candidate is usable once its probe verified it (implicit TLS first, then
STARTTLS, then by how much its source is worth); one whose probe answered and
failed (no STARTTLS, as a stripping attacker makes it; a certificate for
another name; an old TLS version; a greeting that is not 220) or got no answer
is listed as failed with the probe's diagnosis, never ranked and never saved.
When every candidate failed, the exit code is ``check``'s: 76 when a server
answered and failed, 75 when DNS did not answer, 69 when nothing answered.
With probes off (``--no-probe``) the sources' candidates are proposed unverified.
A failed autoconfig or ISPDB fetch is a failed source, not failed DNS. Every
name is resolved by the configured resolver (``dns.nameservers``).
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlsplit

import dns.asyncresolver

from tui_mailsetup.engine.autoconfig import AutoconfigError, OutgoingServer, parse_config
from tui_mailsetup.engine.dns_client import DnsClient, LookupFailed
from tui_mailsetup.engine.fetch import FetchFailed, https_get, load_httpx, verified_context
from tui_mailsetup.engine.probe import NOT_PROBED, ProbeResult, Verdict, probe
from tui_mailsetup.exitcodes import ExitCode
from tui_mailsetup.names import host_to_ascii
from tui_mailsetup.ports import USUAL_PORT
from tui_mailsetup.presets import (
    Preset,
    preset_for_mail_domain,
    preset_for_mx,
    username_from_format,
)
from tui_mailsetup.sanitize import untrusted_text
from tui_mailsetup.settings import DetectSettings, Encryption, MailSettings

# How much each source is worth when probes do not decide (0-100).
CONFIDENCE = {
    "preset": 100,
    "autoconfig": 95,
    "ispdb": 90,
    "srv": 88,
    "mx": 80,
    "ispdb-mx": 75,
    "guess": 30,
}
GUESS_PORTS: tuple[tuple[int, Encryption], ...] = tuple(
    (USUAL_PORT[encryption], encryption) for encryption in (Encryption.TLS, Encryption.STARTTLS)
)
FETCH_LIMIT = 5.0
"""Seconds an autoconfig or ISPDB fetch may take (a black-holed web server costs no more)."""
PROBE_MARGIN = 0.2
"""Seconds before detect.timeout at which a probe gives up on its own."""
USERNAME_HINTS = {
    "%EMAILADDRESS%": "your full email address",
    "%EMAILLOCALPART%": "the part of your address before the @",
}


@dataclass(frozen=True)
class DetectOptions:
    ispdb: bool = True
    ispdb_url: str = DetectSettings.model_fields["ispdb_url"].default
    autoconfig_urls: tuple[str, ...] = tuple(DetectSettings().autoconfig_urls)
    probe: bool = True
    timeout: float = 10.0
    ca_file: str = ""
    """Extra CA bundle trusted for probes and HTTPS (``smtp.ca_file``)."""
    guess_ports: tuple[tuple[int, Encryption], ...] = GUESS_PORTS
    max_probes: int = 12

    @classmethod
    def from_settings(cls, settings: MailSettings) -> DetectOptions:
        d = settings.detect
        return cls(
            ispdb=d.ispdb,
            ispdb_url=d.ispdb_url,
            autoconfig_urls=tuple(d.autoconfig_urls),
            probe=d.probe,
            timeout=d.timeout,
            ca_file=settings.smtp.ca_file,
        )


@dataclass
class Candidate:
    host: str
    port: int
    encryption: Encryption
    source: str
    """Why it is a candidate: "SRV _submissions._tcp.acme.example", "MX … is Google Workspace"."""
    confidence: int
    """0-100: what the source is worth; probes rank before it."""
    preset_id: str = ""
    username_hint: str = ""
    notes: str = ""
    kind: str = ""
    """preset, autoconfig, ispdb, srv, mx, ispdb-mx or guess."""
    username: str = ""
    """The login for the address asked about, when the source gives the convention."""
    order: tuple[int, ...] = ()
    """Tie-breaker within one source (SRV: priority, implicit TLS first, -weight)."""
    sources: list[str] = field(default_factory=list)
    """Every source that proposed this host, port and encryption."""
    probe: ProbeResult = NOT_PROBED

    @property
    def key(self) -> tuple[str, int, Encryption]:
        return (self.host.lower(), self.port, self.encryption)

    @property
    def verified(self) -> bool:
        return self.probe.verdict is Verdict.VERIFIED

    def usable(self, probing: bool) -> bool:
        """Recommended only when it worked: verified by its probe; with probes off, what a
        source proposed (never a guess, which only a probe can make a candidate)."""
        if self.verified:
            return True
        return not probing and self.kind != "guess" and self.probe.verdict is Verdict.NOT_PROBED

    def rank(self) -> tuple[Any, ...]:
        verdict = self.probe.verdict
        if verdict is Verdict.VERIFIED:
            tier = 0 if self.encryption is Encryption.TLS else 1
        else:
            tier = {Verdict.NOT_PROBED: 2, Verdict.UNVERIFIED: 3, Verdict.FAILED: 4}[verdict]
        return (tier, -self.confidence, self.order, self.host, self.port)

    def to_json(self) -> dict[str, Any]:
        return {
            "host": self.host,
            "port": self.port,
            "encryption": self.encryption.value,
            "source": self.source,
            "kind": self.kind,
            "sources": self.sources or [self.source],
            "confidence": self.confidence,
            "preset": self.preset_id or None,
            "username": self.username or None,
            "username_hint": self.username_hint,
            "notes": self.notes,
            "probe": self.probe.to_json(),
        }


@dataclass
class Detection:
    query: str
    domain: str
    candidates: list[Candidate] = field(default_factory=list)
    """What can be proposed (what worked), best first."""
    failed: list[Candidate] = field(default_factory=list)
    """What a source proposed and its probe did not verify: never proposed, each with the
    probe's diagnosis."""
    rejected: list[Candidate] = field(default_factory=list)
    """Guesses that were tried and not verified: never proposed, listed for the record."""
    elapsed: float = 0.0
    problems: list[str] = field(default_factory=list)
    """Lookups and fetches that failed (as opposed to records that do not exist)."""
    dns_failed: bool = False
    """A DNS lookup got no answer (timeout, SERVFAIL, refused): what exists is unknown."""
    ispdb_sent: list[str] = field(default_factory=list)
    """Domains sent to the ISPDB (privacy: said in the output)."""
    ispdb_url: str = ""
    probed: bool = False

    @property
    def best(self) -> Candidate | None:
        return self.candidates[0] if self.candidates else None

    def answered(self) -> list[Candidate]:
        """The candidates tried whose server answered and failed its probe."""
        return [c for c in (*self.failed, *self.rejected) if c.probe.answered]

    @property
    def exit_code(self) -> ExitCode:
        """As ``check`` exits: 76 when a server answered and failed (else its own code, such
        as 75 for a greeting that never came), 75 when DNS did not answer, 69 when nothing
        answered."""
        if self.best is not None:
            return ExitCode.OK
        if answered := self.answered():
            codes = [c.probe.exit_code for c in answered]
            if ExitCode.PROTOCOL in codes:
                return ExitCode.PROTOCOL
            return ExitCode(codes[0] or ExitCode.PROTOCOL)
        return ExitCode.TEMPFAIL if self.dns_failed else ExitCode.UNAVAILABLE

    def cause(self) -> str:
        if answered := self.answered():
            shown = "; ".join(
                f"{c.host}:{c.port} ({c.encryption.value}): {c.probe.detail}" for c in answered[:3]
            )
            more = f" (and {len(answered) - 3} more)" if len(answered) > 3 else ""
            return f"Every candidate for {self.domain} failed its probe: {shown}{more}"
        if self.dns_failed:
            return (
                f"DNS lookups for {self.domain} failed (no answer from the name server): "
                "whether it publishes a submission server is unknown"
            )
        if self.failed:
            shown = "; ".join(f"{c.host}:{c.port}: {c.probe.detail}" for c in self.failed[:3])
            return f"No candidate for {self.domain} answered: {shown}"
        return f"No mail submission server found for {self.domain}"

    def fix(self) -> str:
        if self.answered() and self.exit_code != ExitCode.PROTOCOL:
            return (
                "The servers answered but refused or did not finish the session: ask the mail "
                "provider for its submission server (and whether it accepts this machine), and "
                "verify it with `tui-mailsetup check`"
            )
        if self.answered():
            return (
                "Do not use these servers as found: one that answers without STARTTLS, with a "
                "certificate for another name or with an outdated TLS may be an interception on "
                "this network (try from another one) or misconfigured; ask the mail provider for "
                "its submission server and verify it with `tui-mailsetup check`"
            )
        if self.dns_failed:
            return "Check dns.nameservers (or the system resolver) and try again"
        if self.failed:
            return (
                "Check that this machine may connect out to those ports (a firewall often "
                "blocks 25, 465 and 587), or ask the mail provider for its submission server"
            )
        return (
            "Ask the mail provider for its SMTP submission server, or publish "
            "_submissions._tcp SRV records or an autoconfig file"
        )

    def to_json(self) -> dict[str, Any]:
        best = self.best
        diagnosis = None
        if best is None:
            diagnosis = {
                "stage": "detect",
                "cause": self.cause(),
                "fix": self.fix(),
                "exit_code": int(self.exit_code),
            }
        return {
            "ok": best is not None,
            "stage": "detect",
            "elapsed": round(self.elapsed, 3),
            "query": self.query,
            "domain": self.domain,
            "smtp": (
                {"host": best.host, "port": best.port, "encryption": best.encryption.value}
                if best
                else None
            ),
            "verified": best.verified if best else False,
            "username": best.username or None if best else None,
            "candidates": [c.to_json() for c in self.candidates],
            "failed": [c.to_json() for c in self.failed],
            "rejected": [c.to_json() for c in self.rejected],
            "problems": self.problems,
            "dns_failed": self.dns_failed,
            "ispdb": {"url": self.ispdb_url, "sent": self.ispdb_sent} if self.ispdb_sent else None,
            "diagnosis": diagnosis,
        }


def domain_of(address_or_domain: str) -> str:
    """The A-label domain of an address or a domain; ValueError when it is neither."""
    text = address_or_domain.strip()
    domain = text.rpartition("@")[2] if "@" in text else text
    if not domain:
        raise ValueError(f"{address_or_domain!r} has no domain")
    return host_to_ascii(domain)


def base_domain(host: str) -> str:
    """The registrable-looking domain of a host (mx1.mail.example.co.uk → example.co.uk)."""
    labels = host.lower().rstrip(".").split(".")
    if len(labels) >= 3 and len(labels[-1]) == 2 and labels[-2] in _SECOND_LEVEL:
        return ".".join(labels[-3:])
    return ".".join(labels[-2:])


_SECOND_LEVEL = frozenset({"co", "com", "net", "org", "ac", "gov", "edu", "ne", "or", "go"})


def _preset_candidate(preset: Preset, source: str, kind: str, address: str) -> Candidate:
    return Candidate(
        preset.host,
        preset.port,
        preset.encryption,
        source,
        CONFIDENCE[kind],
        preset.id,
        preset.username_hint,
        preset.notes,
        kind=kind,
        username=preset.username_for(address),
    )


class _Run:
    """One detection: the sources, the probes, and what they found."""

    def __init__(
        self,
        result: Detection,
        address: str,
        resolver: dns.asyncresolver.Resolver,
        options: DetectOptions,
        deadline: float,
    ) -> None:
        self.result = result
        self.domain = result.domain
        self.address = address
        self.resolver = resolver
        # Every lookup of the run shares its deadline; identical lookups are asked once.
        # (each query within the resolver's lifetime, dns.timeout).
        left = max(0.0, deadline - time.monotonic())
        self.dns = DnsClient(resolver=resolver, timeout=left, budget=left)
        self.options = options
        self.deadline = deadline
        self.found: dict[tuple[str, int, Encryption], Candidate] = {}
        self.probes: dict[tuple[str, int, Encryption], asyncio.Task[ProbeResult]] = {}
        self._context: asyncio.Future[ssl.SSLContext] | None = None
        self._httpx: asyncio.Future[None] | None = None

    async def context(self) -> ssl.SSLContext:
        """The verifying TLS context (trust store + ca_file), built once in a thread, shared."""
        if self._context is None:
            self._context = asyncio.ensure_future(
                asyncio.to_thread(verified_context, self.options.ca_file)
            )
        return await asyncio.shield(self._context)

    def remaining(self) -> float:
        return max(0.05, self.deadline - time.monotonic())

    def problem(self, text: str) -> None:
        self.result.problems.append(untrusted_text(text, limit=300))

    # -- candidates and probes ---------------------------------------------

    def add(self, candidate: Candidate) -> None:
        existing = self.found.get(candidate.key)
        if existing is not None:
            existing.sources.append(candidate.source)
            if (candidate.confidence, candidate.kind != "guess") > (
                existing.confidence,
                existing.kind != "guess",
            ):
                sources = existing.sources
                candidate.sources = sources
                self.found[candidate.key] = candidate
            return
        candidate.sources = [candidate.source]
        self.found[candidate.key] = candidate
        if self.options.probe and len(self.probes) < self.options.max_probes:
            self.probes[candidate.key] = asyncio.ensure_future(self._probe(candidate))

    async def _probe(self, candidate: Candidate) -> ProbeResult:
        started = time.monotonic()
        try:
            addresses = await self.dns.addresses(candidate.host)
        except LookupFailed as exc:
            return ProbeResult(
                Verdict.FAILED,
                "resolve",
                time.monotonic() - started,
                f"lookup failed: {exc}",
                dns_failed=True,
                exit_code=ExitCode.TEMPFAIL,
            )
        try:
            context = await self.context()
        except (OSError, ssl.SSLError):
            context = None  # the probe reports the unusable ca_file itself
        return await probe(
            candidate.host,
            candidate.port,
            candidate.encryption,
            resolver=self.resolver,
            # A little under the deadline, so the probe's own verdict arrives in time.
            limit=max(0.1, self.remaining() - PROBE_MARGIN),
            ca_file=self.options.ca_file,
            addresses=addresses,
            context=context,
        )

    # -- the sources -----------------------------------------------------------

    async def lookup(self, name: str, rdtype: str) -> list[str]:
        try:
            return [untrusted_text(r) for r in await self.dns.records(name, rdtype)]
        except LookupFailed as exc:
            self.result.dns_failed = True
            self.problem(f"DNS lookup failed: {exc}")
            return []

    async def srv(self) -> None:
        tls, starttls = await asyncio.gather(
            self.lookup(f"_submissions._tcp.{self.domain}", "SRV"),
            self.lookup(f"_submission._tcp.{self.domain}", "SRV"),
        )
        for records, encryption, service in (
            (tls, Encryption.TLS, "_submissions"),
            (starttls, Encryption.STARTTLS, "_submission"),
        ):
            for priority, weight, port, target in _parse_srv(records):
                # RFC 6186: a target of "." says the service is deliberately not offered.
                if target == "." or port == 0:
                    continue
                try:
                    host = host_to_ascii(target.rstrip("."))
                except ValueError:
                    continue
                self.add(
                    Candidate(
                        host,
                        port,
                        encryption,
                        f"SRV {service}._tcp.{self.domain} (priority {priority}, weight {weight})",
                        CONFIDENCE["srv"],
                        kind="srv",
                        order=(priority, 0 if encryption is Encryption.TLS else 1, -weight),
                    )
                )

    async def mx(self) -> None:
        exchanges = _parse_mx(await self.lookup(self.domain, "MX"))
        for exchange in exchanges:
            if preset := preset_for_mx(exchange):
                self.add(
                    _preset_candidate(preset, f"MX {exchange} is {preset.name}", "mx", self.address)
                )
                return
        if exchanges and self.options.ispdb:
            mx_domain = base_domain(exchanges[0])
            if mx_domain != self.domain:
                await self.ispdb(mx_domain, kind="ispdb-mx", why=f"MX {exchanges[0]}")

    async def autoconfig(self, template: str) -> None:
        url = template.replace("{domain}", self.domain)
        if self.address:
            url += ("&" if "?" in url else "?") + "emailaddress=" + quote(self.address, safe="@")
        servers = await self._fetch_config(url, "autoconfig")
        for index, server in enumerate(servers):
            self.add(self._config_candidate(server, f"autoconfig {url}", "autoconfig", index))

    async def ispdb(self, domain: str, *, kind: str = "ispdb", why: str = "") -> None:
        base = self.options.ispdb_url
        url = base + ("" if base.endswith("/") else "/") + domain
        servers = await self._fetch_config(
            url, "ISPDB", before_sending=lambda: self.result.ispdb_sent.append(domain)
        )
        label = f"ISPDB {domain}" + (f" (from {why})" if why else "")
        for index, server in enumerate(servers):
            self.add(self._config_candidate(server, label, kind, index))

    async def _fetch_config(
        self, url: str, what: str, *, before_sending: Callable[[], None] | None = None
    ) -> list[OutgoingServer]:
        host = urlsplit(url).hostname or ""
        if not host or urlsplit(url).scheme != "https":
            self.problem(f"{what} {url}: not an https:// URL")
            return []
        try:
            # The name first: on a dead resolver or for a domain without the
            # name, neither httpx nor the trust store is ever loaded.
            if not await self.dns.addresses(host):
                return []
        except LookupFailed as exc:
            # A source that could not be reached, not the domain's DNS: a resolver that
            # refuses names outside its zones says nothing about the domain asked about.
            self.problem(f"{what} {url}: skipped, its host name could not be looked up: {exc}")
            return []
        if self._httpx is None:
            self._httpx = asyncio.ensure_future(asyncio.to_thread(load_httpx))
        try:
            await asyncio.shield(self._httpx)
            context = await self.context()
        except ImportError as exc:
            self.problem(f"{what} {url}: skipped, httpx is not installed ({exc})")
            return []
        except (OSError, ssl.SSLError) as exc:
            self.problem(f"{what} {url}: smtp.ca_file cannot be used as a CA bundle: {exc}")
            return []
        if before_sending is not None:
            before_sending()
        try:
            fetched = await https_get(
                url,
                resolve=self.dns.addresses,
                context=context,
                limit=min(FETCH_LIMIT, self.remaining()),
            )
        except FetchFailed as exc:
            if exc.dns_failed:
                self.problem(f"{what} {url}: skipped, {exc}")  # a failed source, not DNS
            elif "does not resolve" not in str(exc):
                self.problem(f"{what} {url}: {exc}")
            return []
        except TimeoutError:
            self.problem(f"{what} {url}: no answer within the deadline")
            return []
        if fetched.status == 404 or fetched.status == 410:
            return []
        if fetched.status != 200:
            self.problem(f"{what} {url}: HTTP {fetched.status}")
            return []
        try:
            return parse_config(fetched.body, domain=self.domain)
        except AutoconfigError as exc:
            self.problem(f"{what} {url}: {exc}")
            return []

    def _config_candidate(
        self, server: OutgoingServer, source: str, kind: str, index: int
    ) -> Candidate:
        fmt = server.username_format
        notes = "The provider asks for OAuth2 (auth = xoauth2)." if server.oauth2 else ""
        return Candidate(
            server.host,
            server.port,
            server.encryption,
            source + (f": {server.provider}" if server.provider else ""),
            CONFIDENCE[kind],
            username_hint=USERNAME_HINTS.get(fmt, "") or (f"{fmt}" if "%" not in fmt else ""),
            notes=notes,
            kind=kind,
            username=username_from_format(fmt, self.address),
            order=(index,),
        )

    async def guesses(self) -> None:
        for rank, name in enumerate((f"smtp.{self.domain}", f"mail.{self.domain}")):
            for port, encryption in self.options.guess_ports:
                self.add(
                    Candidate(
                        name,
                        port,
                        encryption,
                        f"guess: {name} port {port}",
                        CONFIDENCE["guess"],
                        kind="guess",
                        order=(rank, port),
                    )
                )


async def detect(
    address_or_domain: str,
    *,
    resolver: dns.asyncresolver.Resolver,
    options: DetectOptions | None = None,
) -> Detection:
    """Every candidate for the address or domain, best first (see the module docstring).

    ValueError when the text is neither an address nor a domain.
    """
    options = options or DetectOptions()
    started = time.monotonic()
    domain = domain_of(address_or_domain)
    text = address_or_domain.strip()
    address = text if "@" in text else ""
    result = Detection(address_or_domain, domain, ispdb_url=options.ispdb_url)

    if preset := preset_for_mail_domain(domain):
        # A known mailbox domain decides at once: no lookup, no probe, nothing sent.
        result.candidates = [
            _preset_candidate(
                preset, f"bundled preset: {domain} is {preset.name}", "preset", address
            )
        ]
        result.elapsed = time.monotonic() - started
        return result

    run = _Run(result, address, resolver, options, started + options.timeout)
    result.probed = options.probe
    sources: list[asyncio.Task[None]] = [
        asyncio.ensure_future(run.srv()),
        asyncio.ensure_future(run.mx()),
        *(asyncio.ensure_future(run.autoconfig(url)) for url in options.autoconfig_urls),
    ]
    if options.ispdb:
        sources.append(asyncio.ensure_future(run.ispdb(domain)))
    if options.probe:
        sources.append(asyncio.ensure_future(run.guesses()))
    try:
        await _wait_all(sources, run.remaining(), "a source", run)
        # Probes started as candidates arrived; wait for those still running.
        probes = dict(run.probes)
        await _wait_all(list(probes.values()), run.remaining(), "a probe", run)
        for key, task in probes.items():
            if task.done() and not task.cancelled():
                outcome = task.result()
                run.found[key].probe = outcome
            else:
                run.found[key].probe = ProbeResult(
                    Verdict.FAILED, "", options.timeout, "no answer within detect.timeout"
                )
    finally:
        leftovers: list[asyncio.Future[Any]] = [*sources, *run.probes.values()]
        for leftover in leftovers:
            if not leftover.done():
                leftover.cancel()
        run.dns.cancel()
    ranked = sorted(run.found.values(), key=Candidate.rank)
    result.candidates = [c for c in ranked if c.usable(options.probe)]
    result.failed = [c for c in ranked if not c.usable(options.probe) and c.kind != "guess"]
    result.rejected = [c for c in ranked if not c.usable(options.probe) and c.kind == "guess"]
    if not result.dns_failed and result.best is None:
        # Candidates whose names could not be looked up: that is unknown, not absent.
        result.dns_failed = any(c.probe.dns_failed for c in (*result.failed, *result.rejected))
    result.elapsed = time.monotonic() - started
    return result


async def _wait_all(tasks: list[asyncio.Task[Any]], limit: float, what: str, run: _Run) -> None:
    if not tasks:
        return
    done, pending = await asyncio.wait(tasks, timeout=limit)
    for task in pending:
        task.cancel()
    if pending:
        await asyncio.wait(pending)
        run.problem(f"{len(pending)} × {what} did not finish within detect.timeout")
    for task in done:
        if not task.cancelled() and (error := task.exception()) is not None:
            run.problem(f"{what} failed: {type(error).__name__}: {error}")


def _parse_srv(records: list[str]) -> list[tuple[int, int, int, str]]:
    """(priority, weight, port, target) in RFC 2782 order: priority, then weight (highest first)."""
    parsed = []
    for record in records:
        parts = record.split()
        if len(parts) == 4 and all(p.isdigit() for p in parts[:3]):
            parsed.append((int(parts[0]), int(parts[1]), int(parts[2]), parts[3].lower()))
    return sorted(parsed, key=lambda r: (r[0], -r[1]))


def _parse_mx(records: list[str]) -> list[str]:
    parsed = []
    for record in records:
        parts = record.split()
        if len(parts) == 2 and parts[0].isdigit():
            parsed.append((int(parts[0]), parts[1].lower().rstrip(".")))
    return [host for _, host in sorted(parsed) if host]
