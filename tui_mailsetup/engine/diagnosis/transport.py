"""Transport: resolving the name, connecting, the greeting, timeouts, hang-ups and replies
that are not SMTP as expected (before or between replies, not about their content)."""

from __future__ import annotations

import errno

from tui_mailsetup.engine.diagnosis.common import FIX_STARTTLS, FIX_SUBMISSION, FIX_TLS, evidence_of
from tui_mailsetup.engine.events import Diagnosis, Stage
from tui_mailsetup.exitcodes import ExitCode
from tui_mailsetup.sanitize import untrusted_text


def resolve_failed(host: str, error: BaseException) -> Diagnosis:
    detail = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
    return Diagnosis(
        stage=Stage.RESOLVE,
        cause=f"The name {untrusted_text(host)} does not resolve",
        evidence=untrusted_text(detail),
        explanation=(
            "The DNS lookup for the server's name failed: a typo in smtp.host, a name that "
            "only exists on another network, or no working DNS resolver on this machine."
        ),
        exit_code=ExitCode.UNAVAILABLE,
    )


def bad_host(host: str, reason: str) -> Diagnosis:
    return Diagnosis(
        stage=Stage.RESOLVE,
        cause=f"smtp.host {untrusted_text(host)!r} is not a valid host name or address",
        evidence=untrusted_text(reason),
        exit_code=ExitCode.CONFIG,
    )


def connect_failed(host: str, port: int, error: OSError) -> Diagnosis:
    code = error.errno
    evidence = untrusted_text(f"{error.strerror or error} (errno {code})" if code else str(error))
    if isinstance(error, ConnectionRefusedError) or code == errno.ECONNREFUSED:
        return Diagnosis(
            stage=Stage.CONNECT,
            cause=f"Connection refused by {host} on port {port}",
            evidence=evidence,
            explanation=(
                "The machine answered, but nothing listens on that port (or a firewall rejects it). "
                "Check the port: 587 (STARTTLS) and 465 (implicit TLS) are the usual submission ports."
            ),
            exit_code=ExitCode.UNAVAILABLE,
        )
    if isinstance(error, PermissionError) or code in (errno.EACCES, errno.EPERM):
        return Diagnosis(
            stage=Stage.CONNECT,
            cause="Permission denied when connecting: a local security policy blocks outbound mail",
            evidence=evidence,
            explanation=(
                "The kernel refused the connection before any packet left. On SELinux systems a web "
                "server may not open mail connections until allowed: setsebool -P "
                "httpd_can_sendmail 1 (or httpd_can_network_connect 1). A local firewall "
                "(nftables/iptables owner rules) or AppArmor profile can do the same."
            ),
            exit_code=ExitCode.UNAVAILABLE,
        )
    if code in (errno.ENETUNREACH, errno.EHOSTUNREACH, errno.EADDRNOTAVAIL):
        return Diagnosis(
            stage=Stage.CONNECT,
            cause=f"{host} is unreachable from this machine",
            evidence=evidence,
            explanation="No route to the server: check the network, or whether the address is IPv6-only.",
            exit_code=ExitCode.UNAVAILABLE,
        )
    if isinstance(error, TimeoutError) or code == errno.ETIMEDOUT:
        return connect_timeout(host, port, evidence)
    return Diagnosis(
        stage=Stage.CONNECT,
        cause=f"Could not connect to {host} on port {port}",
        evidence=evidence,
        exit_code=ExitCode.UNAVAILABLE,
    )


def connect_timeout(host: str, port: int, evidence: str = "") -> Diagnosis:
    fix = None
    explanation = (
        "Nothing answered: a firewall is dropping the packets, or the host is down. "
        "Check outbound firewall rules for this port."
    )
    if port == 25:
        fix = FIX_SUBMISSION
        explanation = (
            "Port 25 is blocked for outbound traffic by most cloud and residential providers "
            "(AWS, GCP, Azure, DigitalOcean, …). Relays accept authenticated submissions on "
            "587 (STARTTLS) or 2525."
        )
    return Diagnosis(
        stage=Stage.CONNECT,
        cause=f"Connection to {host} on port {port} timed out",
        evidence=evidence or "no answer to the connection attempt",
        explanation=explanation,
        fix=fix,
        exit_code=ExitCode.TEMPFAIL,
    )


def port_speaks_tls(port: int, evidence: str) -> Diagnosis:
    return Diagnosis(
        stage=Stage.GREETING,
        cause=f"Port {port} speaks implicit TLS: set encryption = tls",
        evidence=evidence,
        explanation=(
            "The server waits for a TLS handshake before it says anything, so a plain-text "
            "client hears nothing. Implicit TLS (often called SSL) is the norm on port 465."
        ),
        fix=FIX_TLS,
        exit_code=ExitCode.PROTOCOL,
    )


def port_speaks_plain(port: int, evidence: str) -> Diagnosis:
    return Diagnosis(
        stage=Stage.TLS,
        cause=f"Port {port} speaks plain SMTP (STARTTLS), not implicit TLS: set encryption = starttls",
        evidence=evidence,
        explanation=(
            "The server greeted in plain text instead of answering the TLS handshake. Ports 587, "
            "25 and 2525 start in plain text and upgrade with STARTTLS."
        ),
        fix=FIX_STARTTLS,
        exit_code=ExitCode.PROTOCOL,
    )


def no_greeting(port: int, received: str, timeout: float, *, probed: bool = True) -> Diagnosis:
    if probed:
        explanation = (
            "An SMTP server greets immediately. Silence usually means the port expects a TLS "
            "handshake first (implicit TLS), a proxy or firewall holds the connection, or the "
            "server is overloaded. The implicit-TLS probe on this port did not succeed either."
        )
    else:
        explanation = (
            "An SMTP server greets immediately. After the TLS handshake this one said nothing: "
            "a TLS-terminating proxy with nothing behind it, or an overloaded server."
        )
    return Diagnosis(
        stage=Stage.GREETING,
        cause=f"The server accepted the connection but sent no greeting within {timeout:g} s",
        evidence=received or "nothing received",
        explanation=explanation,
        exit_code=ExitCode.TEMPFAIL,
    )


def resolve_timeout(host: str, timeout: float) -> Diagnosis:
    return Diagnosis(
        stage=Stage.RESOLVE,
        cause=f"The DNS lookup for {untrusted_text(host)} did not answer within {timeout:g} s",
        evidence="no answer from the resolver",
        explanation=(
            "No connection was attempted: the name server this machine uses is unreachable or "
            "very slow (check /etc/resolv.conf, or resolvectl status), or a firewall drops DNS."
        ),
        exit_code=ExitCode.TEMPFAIL,
    )


def timed_out(stage: Stage, timeout: float, received: str = "") -> Diagnosis:
    return Diagnosis(
        stage=stage,
        cause=f"The server stopped answering during {stage.label} (timeout {timeout:g} s)",
        evidence=received or "no complete reply",
        explanation=(
            "The whole conversation has one deadline (smtp.timeout). A server that answers this "
            "slowly is overloaded, rate limiting, or something between here and there holds the "
            "connection."
        ),
        exit_code=ExitCode.TEMPFAIL,
    )


def dropped(stage: Stage, detail: str = "") -> Diagnosis:
    return Diagnosis(
        stage=stage,
        cause=f"The server closed the connection during {stage.label}",
        evidence=untrusted_text(detail) if detail else "connection closed without a reply",
        explanation=(
            "The server hung up without an SMTP reply: it may be rate limiting or blocking this "
            "client, or it crashed. Try again later; if it persists, ask the provider."
        ),
        exit_code=ExitCode.TEMPFAIL,
    )


def malformed_reply(stage: Stage, detail: str) -> Diagnosis:
    return Diagnosis(
        stage=stage,
        cause="The server's reply is not valid SMTP (malformed, or over the size limits)",
        evidence=untrusted_text(detail),
        explanation=(
            "Replies are limited to 8 KB a line and 32 KB in all. Something that is not an SMTP "
            "server (an HTTP server, a proxy) may be listening on this port."
        ),
        exit_code=ExitCode.PROTOCOL,
    )


def unexpected_greeting(code: int, message: str) -> Diagnosis:
    """A greeting that is neither 220 nor a refusal (4xx/5xx): not SMTP as expected."""
    return Diagnosis(
        stage=Stage.GREETING,
        cause=f"The server's greeting is {code}, not 220: a protocol error",
        evidence=evidence_of(code, message),
        explanation=(
            "An SMTP server opens with 220 (or 421/554 when it refuses the session). Another "
            "code means something other than a mail server answers on this port, or its "
            "replies are out of step with the conversation."
        ),
        exit_code=ExitCode.PROTOCOL,
    )


def out_of_step(stage: Stage, stray: str) -> Diagnosis:
    """The server sent a reply nothing asked for: every later reply would be misread."""
    return Diagnosis(
        stage=stage,
        cause=(
            "The server's replies are out of step with the commands: it sent a reply "
            f"before {stage.label} was sent"
        ),
        evidence=f"unsolicited: {untrusted_text(stray, limit=300)}",
        explanation=(
            "Each SMTP command gets exactly one reply. An extra reply (here one that arrived "
            "with or before the previous one) would be read as the answer to the next command, "
            "so the test stopped instead of misreading the server. A broken server, or "
            "something between this machine and the server injecting text, does this."
        ),
        exit_code=ExitCode.PROTOCOL,
    )
