"""Connecting: resolving the host, happy eyeballs (RFC 8305) and the sockets themselves.

Nothing here emits events or builds a diagnosis: the ladder's RESOLVE and
CONNECT stages (:mod:`.conversation`) do, around these functions.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import Callable, Sequence
from typing import Any

HAPPY_EYEBALLS_DELAY = 0.25
"""Seconds before the next address is tried while the previous attempt is still pending."""

Address = tuple[int, Any]
"""An address family and the socket address to connect to, as getaddrinfo gives them."""


async def resolve(
    host: str,
    port: int,
    *,
    given_addresses: Sequence[str] | None,
    nameservers: Sequence[str],
    dns_timeout: float,
) -> list[Address]:
    """``host``'s addresses, in getaddrinfo's order.

    ``given_addresses`` (detect's probes resolved the name with their own
    resolver) are used as they are; otherwise ``dns.nameservers`` when set
    (one resolver for every command), else the system's getaddrinfo. Raises
    socket.gaierror (or UnicodeError for a name IDNA refuses).
    """
    loop = asyncio.get_running_loop()
    if given_addresses:
        infos = [
            info
            for name in given_addresses
            for info in await loop.getaddrinfo(name, port, type=socket.SOCK_STREAM)
        ]
    elif nameservers:
        from tui_mailsetup.engine.dns_client import resolve_host

        infos = await resolve_host(host, port, nameservers, dns_timeout=dns_timeout)
    elif (literal := ip_literal_address(host, port)) is not None:
        return [literal]
    else:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [(info[0], info[4]) for info in infos]


def ip_literal_address(host: str, port: int) -> Address | None:
    """``host`` as getaddrinfo would give it back when it is an IP address, else None.

    ``socket.getaddrinfo`` encodes every host name with the ``idna`` codec,
    whose import (``encodings.idna``, ``stringprep``, ``unicodedata``) costs a
    few milliseconds of a loopback send; asyncio skips getaddrinfo for
    literals in the same way (``base_events._ipaddr_info``). Only strict
    literals are taken (``inet_pton``): "127.1" or a scoped "fe80::1%eth0"
    still go to getaddrinfo. The address is written as getaddrinfo writes it
    (``inet_ntop``: "0:0::1" becomes "::1").
    """
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            packed = socket.inet_pton(family, host)
        except (OSError, ValueError):
            continue
        text = socket.inet_ntop(family, packed)
        return (family, (text, port) if family == socket.AF_INET else (text, port, 0, 0))
    return None


async def happy_eyeballs(addresses: list[Address]) -> tuple[socket.socket, Address]:
    """The first of ``addresses`` to connect, and which one it was.

    The next address starts ``HAPPY_EYEBALLS_DELAY`` after the previous one (or
    at once when it fails), so a black-holed first address (broken IPv6) costs a
    quarter of a second, not the whole deadline. When none connects, raises the
    most telling error: a local policy, then refusal, then the first.
    """
    ordered = interleave_families(addresses)
    errors: list[OSError] = []
    attempts: dict[asyncio.Task[socket.socket], Address] = {}
    pending: set[asyncio.Task[socket.socket]] = set()
    winner: asyncio.Task[socket.socket] | None = None
    next_index = 0
    try:
        while winner is None:
            if next_index < len(ordered):
                family, sockaddr = ordered[next_index]
                next_index += 1
                task = asyncio.ensure_future(open_socket(family, sockaddr))
                attempts[task] = (family, sockaddr)
                pending.add(task)
            if not pending:
                break
            more = next_index < len(ordered)
            done, pending = await asyncio.wait(
                pending,
                timeout=HAPPY_EYEBALLS_DELAY if more else None,
                return_when=asyncio.FIRST_COMPLETED,
            )
            for task in done:
                error = task.exception()
                if error is None:
                    winner = winner or task
                elif isinstance(error, OSError):
                    errors.append(error)
                else:
                    raise error
    finally:
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending)
        for task in attempts:
            # Another attempt may have connected too: only the winner's socket stays open.
            if (
                task is not winner
                and task.done()
                and not task.cancelled()
                and task.exception() is None
            ):
                task.result().close()
    if winner is not None:
        return winner.result(), attempts[winner]
    chosen: OSError | None = next((e for e in errors if isinstance(e, PermissionError)), None)
    raise chosen or next((e for e in errors if isinstance(e, ConnectionRefusedError)), errors[0])


async def open_socket(family: int, sockaddr: Any) -> socket.socket:
    """A connected non-blocking TCP socket, or an exception (and no socket left open)."""
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setblocking(False)
    try:
        await asyncio.get_running_loop().sock_connect(sock, sockaddr)
    except BaseException:
        sock.close()
        raise
    return sock


def interleave_families(addresses: list[Address]) -> list[Address]:
    """getaddrinfo's order, but alternating address families (RFC 8305 section 4)."""
    by_family: dict[int, list[Address]] = {}
    for entry in addresses:
        by_family.setdefault(entry[0], []).append(entry)
    queues = list(by_family.values())
    result: list[Address] = []
    while any(queues):
        for queue in queues:
            if queue:
                result.append(queue.pop(0))
    return result


def in_daemon_thread(function: Callable[[], str]) -> asyncio.Future[str]:
    """``function()`` in a daemon thread, its result in a future of the running loop.

    Not ``asyncio.to_thread``: ``asyncio.run`` waits for the default executor
    on the way out, so a reverse lookup stuck for seconds would hold the
    process after the Outcome was printed. A daemon thread is abandoned.
    """
    loop = asyncio.get_running_loop()
    future: asyncio.Future[str] = loop.create_future()

    def deliver(value: str | None, error: BaseException | None) -> None:
        if future.done():
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(value or "")

    def work() -> None:
        value: str | None = None
        error: BaseException | None = None
        try:
            value = function()
        except Exception as exc:
            error = exc
        with contextlib.suppress(RuntimeError):  # the loop has closed meanwhile
            loop.call_soon_threadsafe(deliver, value, error)

    threading.Thread(target=work, name="tui-mailsetup-getfqdn", daemon=True).start()
    return future
