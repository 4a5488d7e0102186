"""Name lookup and connect under a deadline, for the endpoint client (http_bounds.py).

getaddrinfo cannot be interrupted, so it runs in a thread of its own that the request stops
waiting for at the deadline. A host with several addresses is tried the Happy Eyeballs way
(RFC 8305): the next address starts when the previous one has not connected within
`ATTEMPT_DELAY_S`, so one black-holed address costs a quarter of a second, not the connect
timeout, and all of them together end by the deadline. Every wait is a slice of at most
`SLICE_S`, so Ctrl-C (`cancel_requests()`) ends it within a fraction of a second.
"""

from __future__ import annotations

import errno
import os
import selectors
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

import httpcore

from selector.smoke.cancel import requests_cancelled

SLICE_S = 0.25  # longest single wait between checks of the deadline and of cancellation
ATTEMPT_DELAY_S = 0.25  # RFC 8305 section 5: start the next address after this long
MAX_ADDRESSES = 16  # addresses of one host tried, whatever a resolver returns
MAX_LOOKUPS = 8  # name lookups left running after their request stopped waiting for them

_IN_PROGRESS = {0, errno.EINPROGRESS, errno.EWOULDBLOCK, errno.EAGAIN}
_IN_PROGRESS |= {getattr(errno, "WSAEWOULDBLOCK", 0)}


def wait_slice(end: float, timeout: type[Exception]) -> float:
    """The next wait: at most SLICE_S, never past `end`; raises when cancelled or overdue."""
    if requests_cancelled():
        raise httpcore.ReadError("request cancelled (interrupted)")
    left = end - time.monotonic()
    if left <= 0:
        raise timeout("timed out")
    return min(left, SLICE_S)


_lookups = threading.BoundedSemaphore(MAX_LOOKUPS)

AddrInfo = tuple[Any, Any, int, str, Any]


def resolve(host: str, port: int, end: float) -> list[AddrInfo]:
    """getaddrinfo, given up on at `end` or when requests are cancelled.

    An IP literal needs no resolver. A name is looked up in a daemon thread: the OS resolver
    cannot be interrupted, so a hung lookup is left to finish on its own; at most MAX_LOOKUPS
    are left so, after which a lookup is refused rather than another thread started.
    """
    try:
        return socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM, 0, socket.AI_NUMERICHOST)
    except (socket.gaierror, UnicodeError):
        pass  # a name, not an address
    slots = _lookups
    if not slots.acquire(blocking=False):
        raise httpcore.ConnectError(
            f"name lookup of {host} not started: earlier lookups that never answered are "
            "still waiting for the system resolver"
        )
    done = threading.Event()
    answer: list[list[AddrInfo]] = []
    failure: list[OSError] = []

    def lookup() -> None:
        try:
            answer.append(socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM))
        except OSError as exc:
            failure.append(exc)
        except Exception as exc:  # e.g. UnicodeError for a label too long: still an answer
            failure.append(OSError(str(exc)))
        finally:
            slots.release()
            done.set()

    started = time.monotonic()
    try:
        threading.Thread(target=lookup, name=f"getaddrinfo {host}", daemon=True).start()
    except RuntimeError as exc:  # no thread to be had
        slots.release()
        raise httpcore.ConnectError(f"name lookup of {host} not started: {exc}") from None
    try:
        while not done.wait(wait_slice(end, httpcore.ConnectTimeout)):
            pass
    except httpcore.ConnectTimeout:
        waited = time.monotonic() - started
        raise httpcore.ConnectError(
            f"name lookup of {host} did not answer within {waited:.1f} s"
        ) from None
    if failure:
        reason = failure[0].strerror if isinstance(failure[0], socket.gaierror) else failure[0]
        raise httpcore.ConnectError(f"name lookup of {host} failed: {reason}")
    if not answer[0]:
        raise httpcore.ConnectError(f"name lookup of {host} returned no address")
    return answer[0]


def _interleave(infos: list[AddrInfo]) -> list[AddrInfo]:
    """The resolver's order, families alternating from the first one's (RFC 8305 section 4),
    at most MAX_ADDRESSES: a dead IPv6 path then costs one attempt, not one per address."""
    if not infos:
        return []
    first = [i for i in infos if i[0] == infos[0][0]]
    other = [i for i in infos if i[0] != infos[0][0]]
    mixed = [i for pair in zip(first, other, strict=False) for i in pair]
    n = min(len(first), len(other))
    return (mixed + first[n:] + other[n:])[:MAX_ADDRESSES]


def connect_first(
    infos: list[AddrInfo], end: float, prepare: Callable[[socket.socket], None]
) -> socket.socket:
    """The first address to accept a connection, attempts started ATTEMPT_DELAY_S apart (at
    once when the previous one failed), every wait in slices until `end`; the losers are
    closed. Non-blocking connects, so the deadline and Ctrl-C are honoured throughout."""
    pending = _interleave(infos)
    flying: list[socket.socket] = []
    error: Exception = httpcore.ConnectError("no address to connect to")
    next_start = 0.0
    with selectors.DefaultSelector() as sel:
        try:
            while pending or flying:
                now = time.monotonic()
                if pending and (not flying or now >= next_start):
                    family, kind, proto, _, address = pending.pop(0)
                    sock = socket.socket(family, kind, proto)
                    try:
                        prepare(sock)
                        sock.setblocking(False)
                        code = sock.connect_ex(address)
                        if code not in _IN_PROGRESS:
                            raise OSError(code, os.strerror(code))
                    except OSError as exc:
                        sock.close()
                        error = _connect_error(exc)
                        continue
                    flying.append(sock)
                    sel.register(sock, selectors.EVENT_WRITE)
                    next_start = now + ATTEMPT_DELAY_S
                    continue
                wait = wait_slice(end, httpcore.ConnectTimeout)
                if pending:
                    wait = min(wait, max(next_start - now, 0.0))
                for key, _ in sel.select(wait):
                    sock = key.fileobj  # type: ignore[assignment]
                    sel.unregister(sock)
                    flying.remove(sock)
                    code = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                    if code == 0:
                        sock.setblocking(True)
                        return sock
                    sock.close()
                    error = _connect_error(OSError(code, os.strerror(code)))
                    next_start = 0.0  # a failed attempt starts the next one now
        finally:
            for loser in flying:
                loser.close()
    raise error


def _connect_error(exc: OSError) -> httpcore.ConnectError:
    return httpcore.ConnectError(f"[Errno {exc.errno}] {exc.strerror or exc}")
